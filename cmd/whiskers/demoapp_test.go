package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/internal/syncbuf"
	"github.com/whiskers-dev/whiskers/internal/testkit"
)

// TestDemoApp: every path answers --name, and the app stops with its context.
func TestDemoApp(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncbuf.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- runDemoApp(ctx, []string{"--listen", "127.0.0.1:0", "--name", "finicky on worker-1"}, &stdout, &stderr)
	}()
	var addr string
	testkit.WaitFor(t, "listening", func() bool {
		out := strings.TrimSpace(stdout.String()) // demo-app "<name>" on <addr>
		i := strings.LastIndex(out, " on ")
		if i < 0 {
			return false
		}
		addr = out[i+len(" on "):]
		return addr != ""
	})
	for _, path := range []string{"/", "/healthz", "/hello"} {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "finicky on worker-1\n", string(body), path)
	}
	cancel()
	assert.NoError(t, <-done)
}
