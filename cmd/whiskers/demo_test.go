package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
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
		{"unknown flag", []string{"demo", "--nope"}, 2, "flag provided but not defined"},
		{"missing handlers", []string{"demo", "--handlers", "/nonexistent"}, 1, "redirect.wasm"},
		{"help names the traefik flag", []string{"demo", "-h"}, 0, "-traefik PATH"},
		{"missing traefik named", []string{"demo", "--traefik", "/nonexistent/traefik"}, 1, "demo: traefik binary: stat /nonexistent/traefik"},
		{"traefik not a binary", []string{"demo", "--traefik", "."}, 1, "is not an executable file"},
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

// TestDemoCommand runs `whiskers demo` until it serves, then stops it as
// Ctrl-C would: without --traefik (the default path is relative to the
// working directory, this package's, which has no .cache, so the Go front
// stands in and the demo says how to get Traefik), with Traefik disabled,
// and with a Traefik binary when there is one.
func TestDemoCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		traefik bool     // needs a Traefik binary, passed as --traefik
		args    []string // after demo --dir … --drain-every 0
		ready   string   // printed once the demo serves
		want    []string
		notWant []string
	}{
		{
			name:    "default traefik missing",
			ready:   "config: dynamic.yaml written: finicky: 3 servers",
			want:    []string{"no Traefik at .cache/bin/traefik", "`make traefik`", "front", "try:"},
			notWant: []string{"try Traefik:"},
		},
		{
			name:    "traefik disabled",
			args:    []string{"--traefik", ""},
			ready:   "config: dynamic.yaml written: finicky: 3 servers",
			want:    []string{"front", "try:"},
			notWant: []string{"no Traefik", "try Traefik:"},
		},
		{
			name:    "traefik",
			traefik: true,
			ready:   "try Traefik:",
			want:    []string{"traefik: starting", "curl -H 'Host: finicky.localhost' http://127.0.0.1:", "wasm host    unix://"},
			notWant: []string{"no Traefik"},
		},
	} {
		// One after the other: the first wazero runtimes made at the same
		// time race on wazero's cached version string (v1.12.0,
		// internal/version), which the race detector reports.
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"demo", "--dir", filepath.Join(t.TempDir(), "demo"), "--drain-every", "0"}
			if tc.traefik {
				args = append(args, "--traefik", realbintest.Bin(t, realbin.Traefik))
			}
			args = append(args, tc.args...)
			var stdout, stderr syncbuf.Buffer
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan int, 1)
			go func() { done <- run(ctx, args, &stdout, &stderr) }()

			deadline := time.Now().Add(2 * time.Minute)
			for !strings.Contains(stdout.String(), tc.ready) {
				if time.Now().After(deadline) {
					t.Fatalf("no %q after 2m; stdout:\n%s\nstderr:\n%s", tc.ready, stdout.String(), stderr.String())
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
			for _, want := range append([]string{"fake Nomad", "fake Consul", "wasm host", "stopped after"}, tc.want...) {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			for _, not := range append([]string{"drain:"}, tc.notWant...) {
				if strings.Contains(out, not) {
					t.Errorf("stdout has %q:\n%s", not, out)
				}
			}
		})
	}
}
