package handlers_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whiskers-dev/whiskers/wasmhost"
)

// siteDir is the demo site kept in the repository for reuse by the demo.
const siteDir = "testdata/site"

// TestDemoSite checks that testdata/site is served as the demo expects: index, directory
// redirect, gzip sibling that really is the gzip of the file, image type, custom 404.
func TestDemoSite(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs(siteDir)
	if err != nil {
		t.Fatal(err)
	}
	url, client := serve(t, wasmhost.HandlerConfig{
		Name: "site", Module: fileserverWasm, Route: "/", Volumes: []string{abs + ":/"},
		Env: map[string]string{"CUSTOM_404_PATH": "/404.html"},
	})
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(siteDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	got := do(t, client, "GET", url+"/", nil)
	check(t, got, 200, map[string]string{"Content-Type": "text/html; charset=utf-8"}, str(read("index.html")))
	got = do(t, client, "GET", url+"/about", nil)
	check(t, got, 301, map[string]string{"Location": "/about/"}, nil)
	got = do(t, client, "GET", url+"/about/", nil)
	check(t, got, 200, nil, str(read("about/index.html")))
	got = do(t, client, "GET", url+"/logo.png", nil)
	check(t, got, 200, map[string]string{"Content-Type": "image/png"}, str(read("logo.png")))
	got = do(t, client, "GET", url+"/nope", nil)
	check(t, got, 404, nil, str(read("404.html")))

	got = do(t, client, "GET", url+"/style.css", map[string]string{"Accept-Encoding": "gzip"})
	check(t, got, 200, map[string]string{"Content-Encoding": "gzip", "Content-Type": "text/css; charset=utf-8"}, nil)
	zr, err := gzip.NewReader(strings.NewReader(got.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != read("style.css") {
		t.Errorf("style.css.gz is not the gzip of style.css: regenerate it with gzip -9 -n -k")
	}
}

// benchHost serves the benchmark handlers in process.
func benchHost(b *testing.B, dir string) *wasmhost.Host {
	b.Helper()
	h, err := wasmhost.New(b.Context(), &wasmhost.Config{Handlers: []wasmhost.HandlerConfig{
		{Name: "redirect", Module: redirectWasm, Route: "/old", Env: map[string]string{"DESTINATION": "/new", "STATUS": "301"}},
		{Name: "static", Module: fileserverWasm, Route: "/", Volumes: []string{dir + ":/"}},
	}}, wasmhost.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close(b.Context()) })
	return h
}

func benchDir(b *testing.B) string {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "4k.bin"), make([]byte, 4096), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

func runBench(b *testing.B, h http.Handler, target string, want int) {
	req := httptest.NewRequest("GET", target, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != want {
				b.Errorf("status %d, want %d", rec.Code, want)
				return
			}
		}
	})
}

// BenchmarkHandlers measures one request through the host in process (a fresh instance
// each), against Go's http.FileServer on the same 4 KiB file:
//
//	go test -run '^$' -bench BenchmarkHandlers -cpu 1,2 ./wasmhost/handlers/
func BenchmarkHandlers(b *testing.B) {
	dir := benchDir(b)
	h := benchHost(b, dir)
	b.Run("redirect", func(b *testing.B) { runBench(b, h, "/old/x", 301) })
	b.Run("fileserver-4KiB", func(b *testing.B) { runBench(b, h, "/4k.bin", 200) })
	b.Run("go-http.FileServer-4KiB", func(b *testing.B) {
		runBench(b, http.FileServer(http.Dir(dir)), "/4k.bin", 200)
	})
}
