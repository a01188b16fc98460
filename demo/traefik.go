package demo

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/traefikproc"
)

// traefikStartup bounds Traefik's start: the process answering /ping and
// the demo's routers loaded (about 1.5 s on an idle machine).
const traefikStartup = 2 * time.Minute

// checkTraefik returns bin as an absolute path (Traefik runs in its own
// working directory) after checking that it is an executable file.
func checkTraefik(bin string) (string, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", fmt.Errorf("demo: traefik binary: %w", err)
	}
	if err := realbin.Traefik.Check(abs); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return abs, nil
}

// maxSocketPath is the longest Unix socket path every platform takes
// (sun_path holds 104 bytes on macOS and the BSDs, 108 on Linux, with the
// terminating NUL).
const maxSocketPath = 103

// socketPath is where the wasm host listens with Traefik: dir/wasm.sock,
// or a socket in a new temporary directory when that path is too long.
// cleanup removes the temporary directory, if any.
func socketPath(dir string) (path string, cleanup func(), err error) {
	path = filepath.Join(dir, "wasm.sock")
	if len(path) <= maxSocketPath {
		return path, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "whiskers-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("demo: directory for the wasm host's socket: %w", err)
	}
	return filepath.Join(tmp, "wasm.sock"), func() { _ = os.RemoveAll(tmp) }, nil
}

// startTraefik starts Traefik in dir/traefik, its file provider on the
// syncer's dynamic.yaml, and waits until it has loaded the demo's routers.
// The caller closes the Proxy.
func (d *Demo) startTraefik(ctx context.Context, dir string) (*traefikproc.Proxy, error) {
	d.printf("traefik: starting %s with the whiskers plugin (a few seconds)\n", d.opts.Traefik)
	ctx, cancel := context.WithTimeout(ctx, traefikStartup)
	defer cancel()
	proxy, err := traefikproc.Start(ctx, traefikproc.Options{
		Bin:         d.opts.Traefik,
		Dir:         filepath.Join(dir, "traefik"),
		DynamicFile: filepath.Join(dir, ConfigFile),
		Output:      &logWriter{log: d.opts.Logger.With("component", "traefik")},
		// The site, for the fileserver inside Traefik.
		FileserverMounts: []string{filepath.Join(dir, "site") + ":/site:ro"},
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	err = proxy.WaitRouters(ctx, AppRouter+"@file", EdgeRouter+"@file", FilesRouter+"@file", MovedRouter+"@file",
		ScoreboardService+"@file")
	if err != nil {
		_ = proxy.Close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	return proxy, nil
}

// traefikBanner prints where Traefik is and what to send it.
func (d *Demo) traefikBanner() {
	a := d.Addrs()
	curl := func(flags, host, path string) string {
		return "curl " + flags + "-H 'Host: " + host + "' " + a.Traefik + path
	}
	tries := [][2]string{
		{curl("", AppHost, "/hello"), "falls through the fileserver to a " + AppService + " worker; repeat it: round robin, drains"},
		{curl("", AppHost, "/cat.txt"), "a static file: the plugin asks fileserver.wasm"},
		{curl("-i ", AppHost, "/old"), "router " + EdgeRouter + ": an edge redirect by redirect.wasm"},
		{curl("-i ", AppHost, "/files/cat.txt"), "router " + FilesRouter + ": the same fileserver inside Traefik (http-wasm)"},
		{curl("-i ", AppHost, "/moved"), "router " + MovedRouter + ": a redirect inside Traefik (http-wasm)"},
		{curl("", ScoreboardHost, "/"), "router scoreboard, from Consul"},
	}
	width := 0
	for _, t := range tries {
		width = max(width, len(t[0]))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  traefik      %s   the real Traefik %s: file provider on %s, the whiskers plugin, round-robin over %s\n", a.Traefik, realbin.Traefik.Version, ConfigFile, AppService)
	fmt.Fprintf(&b, "  traefik API  %s/api/http/routers   (read-only)\n", a.TraefikAPI)
	fmt.Fprintf(&b, "try Traefik:\n")
	for _, t := range tries {
		fmt.Fprintf(&b, "  %-*s   # %s\n", width, t[0], t[1])
	}
	fmt.Fprintf(&b, "  while sleep 0.5; do %s; done   # watch the drains\n", curl("", AppHost, "/hello"))
	d.printf("%s", b.String())
}

// logWriter logs Traefik's output through the demo's logger, one warning
// per line (Traefik runs at log level ERROR). Safe for concurrent use.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte // an unfinished line
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		line, rest, ok := bytes.Cut(w.buf, []byte("\n"))
		if !ok {
			break
		}
		if s := strings.TrimSpace(string(line)); s != "" {
			w.log.Warn(s)
		}
		w.buf = rest
	}
	// Keep the unfinished line's bytes in a fresh slice, so that buf does
	// not grow for as long as Traefik runs.
	w.buf = append([]byte(nil), w.buf...)
	return len(p), nil
}
