package yaegitest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/plugin"
	"github.com/whiskers-dev/whiskers/wasmhost"
)

// The modules are the committed builds of wasmhost/handlers (built by
// `make -C wasmhost/handlers`, command at the top of each .c file).
const (
	redirectWasm   = "../../wasmhost/handlers/redirect/redirect.wasm"
	fileserverWasm = "../../wasmhost/handlers/fileserver/fileserver.wasm"
)

// startWasmHost runs a real wasmhost with the redirect and fileserver
// handlers (routed by the X-Whiskers-Handler header only) on a Unix socket
// and returns the socket URL.
func startWasmHost(t testing.TB) string {
	t.Helper()
	site := t.TempDir()
	files := map[string]string{
		"index.html": "<h1>home</h1>\n",
		"style.css":  "body { color: teal }\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(site, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &wasmhost.Config{Handlers: []wasmhost.HandlerConfig{
		{
			Name:   "redirect",
			Module: redirectWasm,
			Env:    map[string]string{"DESTINATION": "https://new.example/", "STATUS": "301", "INCLUDE_PATH": "1"},
		},
		{
			Name:    "static",
			Module:  fileserverWasm,
			Volumes: []string{site + ":/"},
		},
	}}
	quiet := slog.New(slog.DiscardHandler)
	host, err := wasmhost.New(context.Background(), cfg, wasmhost.Options{Logger: quiet})
	if err != nil {
		t.Fatalf("starting wasm host: %v", err)
	}
	dir, err := os.MkdirTemp("", "wski")
	if err != nil {
		t.Fatal(err)
	}
	socket := "unix://" + filepath.Join(dir, "wasm.sock")
	ln, err := wasmhost.Listen(socket, 0o600)
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	srv := &http.Server{Handler: host, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
		_ = host.Close(ctx)
		_ = os.RemoveAll(dir)
	})
	return socket
}

// appHandler stands for the Spin app behind the static files.
var appHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-App", "spin")
	_, _ = io.WriteString(w, "app "+r.URL.Path)
})

// TestWasmHostIntegration runs redirect and fileserver through the plugin
// (compiled and under Yaegi) to a real wasmhost on a Unix socket, with
// fallthrough to the app on 404 and the app behind the static handler.
func TestWasmHostIntegration(t *testing.T) {
	socket := startWasmHost(t)
	tests := []struct {
		name       string
		options    map[string]any
		method     string
		path       string
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{
			name:       "redirect",
			options:    map[string]any{"handler": "redirect"},
			method:     "GET",
			path:       "/old/page",
			wantStatus: 301,
			wantHeader: map[string]string{"Location": "https://new.example/old/page"},
		},
		{
			name:       "fileserver serves a file",
			options:    map[string]any{"handler": "static", "fallthroughStatus": "404"},
			method:     "GET",
			path:       "/style.css",
			wantStatus: 200,
			wantBody:   "body { color: teal }",
			wantHeader: map[string]string{"Content-Type": "text/css; charset=utf-8", "X-App": ""},
		},
		{
			name:       "fileserver index",
			options:    map[string]any{"handler": "static", "fallthroughStatus": "404"},
			method:     "GET",
			path:       "/",
			wantStatus: 200,
			wantBody:   "<h1>home</h1>",
		},
		{
			name:       "fileserver HEAD",
			options:    map[string]any{"handler": "static", "fallthroughStatus": "404"},
			method:     "HEAD",
			path:       "/style.css",
			wantStatus: 200,
			wantHeader: map[string]string{"Content-Length": "21"},
		},
		{
			name:       "missing file falls through to the app",
			options:    map[string]any{"handler": "static", "fallthroughStatus": "404"},
			method:     "GET",
			path:       "/api/hello",
			wantStatus: 200,
			wantBody:   "app /api/hello",
			wantHeader: map[string]string{"X-App": "spin"},
		},
		{
			name:       "without fallthrough the host's 404 is the answer",
			options:    map[string]any{"handler": "static"},
			method:     "GET",
			path:       "/api/hello",
			wantStatus: 404,
			wantHeader: map[string]string{"X-App": ""},
		},
		{
			name:       "POST to the static handler: 405 passes through",
			options:    map[string]any{"handler": "static", "fallthroughStatus": "404"},
			method:     "POST",
			path:       "/style.css",
			wantStatus: 405,
			wantHeader: map[string]string{"Allow": "GET, HEAD"},
		},
	}
	for _, rt := range runtimes(t) {
		t.Run(rt.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					options := map[string]any{"socket": socket}
					for k, v := range tc.options {
						options[k] = v
					}
					h, err := rt.new(t.Context(), appHandler, options, "whiskers")
					if err != nil {
						t.Fatalf("New: %v", err)
					}
					front := httptest.NewServer(h)
					defer front.Close()
					client := front.Client()
					client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
					req, err := http.NewRequestWithContext(t.Context(), tc.method, front.URL+tc.path, strings.NewReader(""))
					if err != nil {
						t.Fatal(err)
					}
					resp, err := client.Do(req)
					if err != nil {
						t.Fatalf("request: %v", err)
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						t.Fatalf("reading body: %v", err)
					}
					if resp.StatusCode != tc.wantStatus {
						t.Errorf("status = %d, want %d (body %q)", resp.StatusCode, tc.wantStatus, body)
					}
					if !strings.Contains(string(body), tc.wantBody) {
						t.Errorf("body = %q, want it to contain %q", body, tc.wantBody)
					}
					for k, v := range tc.wantHeader {
						if got := resp.Header.Get(k); got != v {
							t.Errorf("header %s = %q, want %q", k, got, v)
						}
					}
				})
			}
		})
	}
}

// TestHandlerHeaderContract checks that plugin and host agree on the header
// naming the handler (the plugin cannot import wasmhost).
func TestHandlerHeaderContract(t *testing.T) {
	if plugin.HandlerHeader != wasmhost.HandlerHeader {
		t.Errorf("plugin sends %q, host reads %q", plugin.HandlerHeader, wasmhost.HandlerHeader)
	}
}
