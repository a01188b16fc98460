package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/internal/syncbuf"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

func TestWasmUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no subcommand", []string{"wasm"}, 2, "usage: whiskers wasm serve"},
		{"unknown subcommand", []string{"wasm", "run"}, 2, "usage: whiskers wasm serve"},
		{"help lists every flag with its default", []string{"wasm", "serve", "-h"}, 0, `-listen string`},
		{"bad flag", []string{"wasm", "serve", "--nope"}, 2, "flag provided but not defined"},
		{"stray argument", []string{"wasm", "serve", "extra"}, 2, "unexpected arguments"},
		{"bad log level", []string{"wasm", "serve", "--log-level", "loud"}, 2, "--log-level"},
		{"bad socket mode", []string{"wasm", "serve", "--socket-mode", "rw"}, 2, "not an octal mode"},
		{"missing config", []string{"wasm", "serve", "--config", "/nonexistent/handlers.yaml"}, 1, "/nonexistent/handlers.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stdout, &stderr)
			assert.Equal(t, tc.wantCode, code, stderr.String())
			assert.Contains(t, stderr.String(), tc.wantErr)
		})
	}
}

func TestWasmServe(t *testing.T) {
	t.Parallel()
	// env.wasm is built from wasmhost/testdata/env.c by wasmhost/testdata/Makefile.
	module, err := filepath.Abs("../../wasmhost/testdata/env.wasm")
	require.NoError(t, err)
	dir := t.TempDir()
	config := filepath.Join(dir, "handlers.yaml")
	require.NoError(t, os.WriteFile(config, []byte("handlers:\n- {name: env, module: "+module+", route: /}\n"), 0o644))
	sock := filepath.Join(dir, "wasm.sock")

	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncbuf.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"wasm", "serve", "--config", config, "--listen", "unix://" + sock,
			"--cache-dir", filepath.Join(dir, "cache"), "--log-level", "debug"}, io.Discard, &stderr)
	}()

	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	testkit.WaitFor(t, "the server up", func() bool {
		resp, err := client.Get("http://wasm/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return true
	})
	resp, err := client.Get("http://wasm/hello?x=1")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "env PATH_INFO=/hello")

	cancel() // what SIGTERM does through main's context
	assert.Equal(t, 0, <-exited, stderr.String())
	assert.True(t, strings.Contains(stderr.String(), "serving wasm handlers"), stderr.String())
}
