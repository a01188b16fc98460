// Package dynamic holds Traefik's dynamic configuration as Go types: the
// routers, services, middlewares and servers transports of the http, tcp and
// udp sections, and the tls section.
//
// Field names, nesting and casing follow Traefik's file provider reference
// (dynamic-file.yaml); every field has yaml, json and toml tags with
// omitempty, so a Configuration marshals to exactly what Traefik's file or
// HTTP provider reads. The builder (syncer/builder) fills a Configuration from
// catalog tags; the renderer (syncer/render) turns it into bytes.
//
// A few fields exist only in tags and are never marshalled: the label:"…"
// struct tag names them for the tag decoder (Server.Port, Server.Scheme,
// TCPServer.Port, UDPServer.Port), and label:"server" on a Servers field lets a
// tag address the first server as "…loadbalancer.server.…".
package dynamic

import (
	"fmt"
	"strconv"
	"time"
)

// Duration is a time.Duration that marshals as Traefik writes durations
// ("42s", "1m30s") and parses as Traefik's tags do: a Go duration string, or a
// bare integer meaning seconds.
type Duration time.Duration

// String returns the duration in Go syntax, e.g. "42s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration in Go syntax; yaml, json and toml use it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what Set accepts.
func (d *Duration) UnmarshalText(b []byte) error { return d.Set(string(b)) }

// Set parses s as a Go duration ("42s") or as a number of seconds ("42").
func (d *Duration) Set(s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(time.Duration(1<<63-1)/time.Second) || n < -int64(time.Duration(1<<63-1)/time.Second) {
			return fmt.Errorf("duration %q: out of range", s)
		}
		*d = Duration(time.Duration(n) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// PluginConf is the free-form configuration of one plugin middleware: keys
// are option names, values are strings or nested PluginConf-like maps.
type PluginConf map[string]any
