package plugin

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCreateConfigIsValid(t *testing.T) {
	cfg := CreateConfig()
	cfg.Handler = "redirect"
	s, err := parse(cfg)
	if err != nil {
		t.Fatalf("defaults with a handler rejected: %v", err)
	}
	if s.network != "unix" || s.address != "/run/whiskers/wasm.sock" {
		t.Errorf("default socket = %s %s, want unix /run/whiskers/wasm.sock", s.network, s.address)
	}
	if s.timeout != 2*time.Second {
		t.Errorf("default timeout = %v, want 2s", s.timeout)
	}
	if s.downNext || s.downStatus != http.StatusBadGateway {
		t.Errorf("default onHostDown = next:%v status:%d, want status 502", s.downNext, s.downStatus)
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *Config)
		check func(t *testing.T, s *settings)
	}{
		{"tcp socket", func(c *Config) { c.Socket = "http://127.0.0.1:8089" }, func(t *testing.T, s *settings) {
			if s.network != "tcp" || s.address != "127.0.0.1:8089" {
				t.Errorf("got %s %s", s.network, s.address)
			}
		}},
		{"onHostDown next, any case", func(c *Config) { c.OnHostDown = " Next " }, func(t *testing.T, s *settings) {
			if !s.downNext {
				t.Error("downNext = false")
			}
		}},
		{"onHostDown status", func(c *Config) { c.OnHostDown = "503" }, func(t *testing.T, s *settings) {
			if s.downStatus != 503 {
				t.Errorf("downStatus = %d", s.downStatus)
			}
		}},
		{"forward headers canonicalised, blanks skipped", func(c *Config) { c.ForwardHeaders = []string{"x-a", " ", "accept", "X-Up_9"} }, func(t *testing.T, s *settings) {
			if strings.Join(s.forwardHeaders, ",") != "X-A,Accept,X-Up_9" {
				t.Errorf("forwardHeaders = %v", s.forwardHeaders)
			}
		}},
		{"cooldown may be zero", func(c *Config) { c.HostDownCooldown = "0s" }, func(t *testing.T, s *settings) {
			if s.cooldown != 0 {
				t.Errorf("cooldown = %v", s.cooldown)
			}
		}},
		{"fallthrough statuses", func(c *Config) { c.FallthroughStatus = []int{404, 410} }, func(t *testing.T, s *settings) {
			if len(s.fallthroughs) != 2 || s.fallthroughs[0] != 404 || s.fallthroughs[1] != 410 {
				t.Errorf("fallthroughs = %v", s.fallthroughs)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := CreateConfig()
			cfg.Handler = "h"
			tc.edit(cfg)
			s, err := parse(cfg)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			tc.check(t, s)
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string
	}{
		{"no handler", func(c *Config) { c.Handler = " " }, "handler: required"},
		{"handler with newline", func(c *Config) { c.Handler = "a\nb" }, "handler \"a\\nb\": must not contain control characters"},
		{"no socket", func(c *Config) { c.Socket = "" }, "socket: required"},
		{"socket scheme", func(c *Config) { c.Socket = "tcp://127.0.0.1:1" }, "socket \"tcp://127.0.0.1:1\": scheme must be unix or http"},
		{"relative unix socket", func(c *Config) { c.Socket = "unix://run/wasm.sock" }, "socket \"unix://run/wasm.sock\": want an absolute path"},
		{"http socket without port", func(c *Config) { c.Socket = "http://127.0.0.1" }, "socket \"http://127.0.0.1\": want http://host:port"},
		{"http socket with path", func(c *Config) { c.Socket = "http://127.0.0.1:80/x" }, "want http://host:port"},
		{"bad timeout", func(c *Config) { c.Timeout = "2" }, "timeout \"2\": not a Go duration"},
		{"zero timeout", func(c *Config) { c.Timeout = "0s" }, "timeout \"0s\": must be positive"},
		{"negative dial timeout", func(c *Config) { c.DialTimeout = "-1s" }, "dialTimeout \"-1s\": must be positive"},
		{"missing dial timeout", func(c *Config) { c.DialTimeout = "" }, "dialTimeout: required"},
		{"bad cooldown", func(c *Config) { c.HostDownCooldown = "soon" }, "hostDownCooldown \"soon\": not a Go duration"},
		{"fallthrough not a status", func(c *Config) { c.FallthroughStatus = []int{404, 42} }, "fallthroughStatus: 42 is not an HTTP status"},
		{"onHostDown word", func(c *Config) { c.OnHostDown = "maybe" }, "onHostDown \"maybe\": must be \"next\" or an HTTP status"},
		{"onHostDown 1xx", func(c *Config) { c.OnHostDown = "100" }, "onHostDown \"100\""},
		{"onHostDown empty", func(c *Config) { c.OnHostDown = "" }, "onHostDown: required"},
		{"bad header name", func(c *Config) { c.ForwardHeaders = []string{"X-Ok", "Bad Header"} }, "forwardHeaders: \"Bad Header\" is not a valid header name"},
		{"negative body bound", func(c *Config) { c.MaxBufferedBody = -1 }, "maxBufferedBody -1: must not be negative"},
		{"negative pool", func(c *Config) { c.MaxIdleConns = -2 }, "maxIdleConns -2: must not be negative"},
	}
	next := http.NotFoundHandler()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := CreateConfig()
			cfg.Handler = "redirect"
			tc.edit(cfg)
			h, err := New(context.Background(), next, cfg, "mw")
			if err == nil {
				t.Fatalf("New accepted the config: %v", h)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "whiskers plugin \"mw\": ") {
				t.Errorf("error = %q, want it to name the middleware", err)
			}
		})
	}
}

func TestNewRejectsNilNextAndConfig(t *testing.T) {
	if _, err := New(context.Background(), nil, CreateConfig(), "mw"); err == nil {
		t.Error("New accepted a nil next handler")
	}
	if _, err := New(context.Background(), http.NotFoundHandler(), nil, "mw"); err == nil {
		t.Error("New accepted a nil config")
	}
}
