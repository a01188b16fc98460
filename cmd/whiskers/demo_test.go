package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/internal/syncbuf"
)

func TestDemoFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"help lists every flag", []string{"demo", "-h"}, 0, "-drain-every"},
		{"unexpected argument", []string{"demo", "extra"}, 2, `unexpected arguments ["extra"]`},
		{"negative duration", []string{"demo", "--duration", "-1s"}, 2, "must not be negative"},
		{"unknown flag", []string{"demo", "--nope"}, 1, "flag provided but not defined"},
		{"missing handlers", []string{"demo", "--handlers", "/nonexistent"}, 1, "redirect.wasm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), tc.args, &stdout, &stderr); code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, stderr.String())
			}
		})
	}
}

// TestDemoCommand runs `whiskers demo` until it reports its first
// configuration, then stops it as Ctrl-C would.
func TestDemoCommand(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncbuf.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	dir := filepath.Join(t.TempDir(), "demo")
	go func() { done <- run(ctx, []string{"demo", "--dir", dir, "--drain-every", "0"}, &stdout, &stderr) }()

	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stdout.String(), "config: dynamic.yaml written: finicky: 3 servers") {
		if time.Now().After(deadline) {
			t.Fatalf("no configuration reported after 60s; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for a result
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop 30s after cancel")
	}
	out := stdout.String()
	for _, want := range []string{"fake Nomad", "fake Consul", "wasm host", "try:", "stopped after"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "drain:") {
		t.Errorf("--drain-every 0 still drained:\n%s", out)
	}
}
