package handlers_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/wasmhost"
)

// The modules under test are the committed builds (make -C wasmhost/handlers, see the
// build command at the top of each .c file); `make wasm-check` keeps them equal to
// their sources.
const (
	redirectWasm   = "redirect/redirect.wasm"
	fileserverWasm = "fileserver/fileserver.wasm"
)

// mtime is the modification time every file of the test site gets.
var mtime = time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)

const lastModified = "Tue, 02 Jan 2024 03:04:05 GMT"

// site is a temporary directory tree: dir is the mount, and secret (the content of
// ../secret.txt, outside the mount) must never be served.
type site struct {
	dir    string
	secret string
}

// newSite creates the test site, with symlinks pointing inside and outside of it.
func newSite(t testing.TB) site {
	t.Helper()
	root := t.TempDir()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	s := site{dir: filepath.Join(root, "site"), secret: "TOPSECRET-" + hex.EncodeToString(b[:])}
	bin := make([]byte, 100)
	for i := range bin {
		bin[i] = byte(i)
	}
	big := make([]byte, 200_000) // more than the fileserver's 64 KiB read chunk
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	files := map[string]string{
		"big.bin":             string(big),
		"../secret.txt":       s.secret,
		"../secret/inner.txt": s.secret,
		"index.html":          "<h1>home</h1>\n",
		"404.html":            "<h1>custom not found</h1>\n",
		"style.css":           "body { color: teal }\n",
		"app.js":              "console.log('identity')\n",
		"app.js.gz":           "GZIP-BYTES",
		"app.js.br":           "BROTLI-BYTES-LONGER",
		"only-gz.txt":         "plain text\n",
		"only-gz.txt.gz":      "GZ-ONLY",
		"data.bin":            string(bin),
		"empty.txt":           "",
		"docs/index.html":     "<h1>docs</h1>\n",
		"docs/deep/page.html": "<p>deep</p>\n",
		"noindex/a.txt":       "a\n",
		"with space.txt":      "spaced\n",
		"a.json":              "{}",
		"a.svg":               "<svg/>",
		"a.png":               "\x89PNG",
		"a.jpg":               "jpg",
		"a.gif":               "gif",
		"a.webp":              "webp",
		"a.ico":               "ico",
		"a.wasm":              "\x00asm",
		"a.txt":               "txt",
		"a.xml":               "<x/>",
		"a.pdf":               "%PDF",
		"a.woff":              "woff",
		"a.woff2":             "woff2",
		"a.mjs":               "export {}",
		"a.js.map":            "{}",
		"a.unknownext":        "??",
		"noext":               "no extension",
		"UPPER.HTML":          "<p>upper</p>",
	}
	for name, content := range files {
		p := filepath.Join(s.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"leak.txt":       "../secret.txt",
		"abs-leak.txt":   filepath.Join(root, "secret.txt"),
		"passwd":         "/etc/passwd",
		"etc":            "/etc",
		"up":             "..",
		"secretdir":      "../secret",
		"docs/back":      "../../secret",
		"inside.html":    "index.html",
		"docs/index.lnk": "../index.html",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(s.dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.Walk(s.dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// etag is the ETag the fileserver gives the file rel of s (suffix "br"/"gz" or "").
func (s site) etag(t testing.TB, rel, suffix string) string {
	t.Helper()
	fi, err := os.Stat(filepath.Join(s.dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("%x-%x", fi.Size(), fi.ModTime().UnixNano())
	if suffix != "" {
		tag += "-" + suffix
	}
	return `"` + tag + `"`
}

// serve runs the handlers as WAGI modules in a wasmhost.Host behind a real HTTP server
// and returns its URL and a client that neither follows redirects nor asks for
// compression.
func serve(t testing.TB, handlers ...wasmhost.HandlerConfig) (string, *http.Client) {
	t.Helper()
	return serveBuild(t, builds[0], handlers...)
}

// serveBuild is serve for the given build of the handlers.
func serveBuild(t testing.TB, b build, handlers ...wasmhost.HandlerConfig) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(b.handler(t, handlers...))
	t.Cleanup(srv.Close)
	client := &http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	t.Cleanup(client.CloseIdleConnections)
	return srv.URL, client
}

// response is what a case checks.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends method ("" is GET) url with header through client.
func do(t testing.TB, client *http.Client, method, url string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// check compares got with the wanted status, headers ("" means absent) and body (when
// body is not nil).
func check(t *testing.T, got response, status int, header map[string]string, body *string) {
	t.Helper()
	if got.status != status {
		t.Errorf("status = %d, want %d (body %q)", got.status, status, truncate(got.body))
	}
	for k, want := range header {
		vs, ok := got.header[http.CanonicalHeaderKey(k)]
		switch {
		case want == "" && ok:
			t.Errorf("header %s = %q, want it absent", k, vs)
		case want != "" && (len(vs) != 1 || vs[0] != want):
			t.Errorf("header %s = %q, want %q", k, vs, want)
		}
	}
	if body != nil && got.body != *body {
		t.Errorf("body = %q, want %q", truncate(got.body), truncate(*body))
	}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func str(s string) *string { return &s }

// generous gives every handler a long timeout, so that a loaded CI machine never turns
// a slow instance into a 504.
func generous(handlers []wasmhost.HandlerConfig) []wasmhost.HandlerConfig {
	out := make([]wasmhost.HandlerConfig, len(handlers))
	for i, h := range handlers {
		h.Timeout = wasmhost.Duration(time.Minute)
		h.QueueTimeout = wasmhost.Duration(time.Minute)
		out[i] = h
	}
	return out
}
