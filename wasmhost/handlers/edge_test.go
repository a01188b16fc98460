package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/http-wasm/http-wasm-host-go/handler"
	wasm "github.com/http-wasm/http-wasm-host-go/handler/nethttp"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/whiskers-dev/whiskers/wasmhost"
)

// build is one way the handlers run: as WAGI modules in the wasm host, or as
// http-wasm guests (edge.wasm) the way Traefik runs its wasm middleware.
type build struct {
	name    string
	handler func(tb testing.TB, handlers ...wasmhost.HandlerConfig) http.Handler
	// option is how an option named by its env variable is spelt in this
	// build, and place where the options are set, as error messages say.
	option func(env string) string
	place  string
}

var builds = []build{
	{"wagi", wagiHandler, func(env string) string { return env }, "the handler's env"},
	{"edge", edgeHandler, camel, "the middleware's options"},
}

// wagiHandler runs the handlers in a wasmhost.Host.
func wagiHandler(tb testing.TB, handlers ...wasmhost.HandlerConfig) http.Handler {
	tb.Helper()
	h, err := wasmhost.New(tb.Context(), &wasmhost.Config{Handlers: generous(handlers)}, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return h
}

// nextBody is what the handler after an edge guest answers, with 418.
const nextBody = "the next handler\n"

var next = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusTeapot)
	_, _ = w.Write([]byte(nextBody))
})

// edgeHandler runs each handler's edge.wasm as Traefik does, in front of next:
// its env as the middleware's options in camelCase (CUSTOM_404_PATH becomes
// custom404Path), its volumes as the plugin's mounts, read-only, and its
// route as a path prefix that Traefik's stripPrefix middleware strips first
// (setting X-Forwarded-Prefix).
func edgeHandler(tb testing.TB, handlers ...wasmhost.HandlerConfig) http.Handler {
	tb.Helper()
	type route struct {
		prefix string
		h      http.Handler
	}
	var routes []route
	for _, hc := range handlers {
		options := map[string]any{}
		for k, v := range hc.Env {
			options[camel(k)] = v
		}
		wasmFile := filepath.Join(filepath.Dir(hc.Module), "edge.wasm")
		routes = append(routes, route{strings.TrimSuffix(hc.Route, "/"), edgeMiddleware(tb, wasmFile, options, hc.Volumes, next)})
	}
	slices.SortFunc(routes, func(a, b route) int { return len(b.prefix) - len(a.prefix) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.URL.EscapedPath()
		for _, rt := range routes {
			rest, ok := strings.CutPrefix(raw, rt.prefix)
			if !ok || (rest != "" && rest[0] != '/') {
				continue
			}
			if rt.prefix != "" {
				if rest == "" {
					rest = "/"
				}
				p, err := url.PathUnescape(rest)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				r2 := r.Clone(r.Context())
				r2.URL.Path, r2.URL.RawPath = p, rest
				r2.Header.Set("X-Forwarded-Prefix", rt.prefix)
				r = r2
			}
			rt.h.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

// camel is an env name in camelCase: CACHE_CONTROL_HTML -> cacheControlHtml.
func camel(env string) string {
	var b strings.Builder
	for i, part := range strings.Split(strings.ToLower(env), "_") {
		if i > 0 && part != "" {
			r := []rune(part)
			r[0] = unicode.ToUpper(r[0])
			part = string(r)
		}
		b.WriteString(part)
	}
	return b.String()
}

// edgeMiddleware is Traefik v3.6's wasm middleware (pkg/plugins/middlewarewasm.go)
// for the guest at wasmFile: the same runtime, WASI, module configuration
// (wall clock, _start and _initialize, mounts "host:guest[:ro]") and options
// passed as JSON.
func edgeMiddleware(tb testing.TB, wasmFile string, options map[string]any, mounts []string, next http.Handler) http.Handler {
	tb.Helper()
	ctx := context.Background()
	code, err := os.ReadFile(wasmFile)
	if err != nil {
		tb.Fatal(err)
	}
	rt := wazero.NewRuntime(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		tb.Fatal(err)
	}
	config := wazero.NewModuleConfig().WithSysWalltime().WithStartFunctions("_start", "_initialize")
	if len(mounts) > 0 {
		fsConfig := wazero.NewFSConfig()
		for _, m := range mounts {
			host, guest, _ := strings.Cut(strings.TrimSuffix(m, ":ro"), ":")
			fsConfig = fsConfig.WithReadOnlyDirMount(host, guest)
		}
		config = config.WithFSConfig(fsConfig)
	}
	opts := []handler.Option{
		handler.ModuleConfig(config),
		handler.Runtime(func(context.Context) (wazero.Runtime, error) { return rt, nil }),
	}
	if options != nil {
		data, err := json.Marshal(options)
		if err != nil {
			tb.Fatal(err)
		}
		opts = append(opts, handler.GuestConfig(data))
	}
	mw, err := wasm.NewMiddleware(ctx, code, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = mw.Close(ctx) })
	return mw.NewHandler(ctx, next)
}

// TestEdgeFallthrough checks what the fileserver's edge guest hands to the next
// handler: with fallthrough on (the default) a path that names no file and a
// method other than GET and HEAD; never a refused path, a file, or what the
// SPA fallback serves; with it off, nothing.
func TestEdgeFallthrough(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	fs := func(route string, env map[string]string) wasmhost.HandlerConfig {
		return wasmhost.HandlerConfig{Module: fileserverWasm, Route: route, Volumes: []string{s.dir + ":/"}, Env: env}
	}
	url, client := serveBuild(t, builds[1],
		fs("/", map[string]string{"CUSTOM_404_PATH": "404.html"}),
		fs("/spa", map[string]string{"FALLBACK_PATH": "index.html"}),
		fs("/off", map[string]string{"FALLTHROUGH": "false", "CUSTOM_404_PATH": "404.html"}),
		fs("/on", map[string]string{"FALLTHROUGH": "true"}),
	)
	cases := []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"missing file", "GET", "/missing.txt", 418, nextBody},
		{"directory without index", "GET", "/noindex/", 418, nextBody},
		{"symlink counts as missing", "GET", "/leak.txt", 418, nextBody},
		{"POST", "POST", "/style.css", 418, nextBody},
		{"DELETE", "DELETE", "/missing", 418, nextBody},
		{"file", "GET", "/style.css", 200, "body { color: teal }\n"},
		{"HEAD file", "HEAD", "/style.css", 200, ""},
		{"refused path answered", "GET", "/..%2fsecret.txt", 400, "400 Bad Request\n"},
		{"directory redirect answered", "GET", "/docs", 301, "301 Moved Permanently\n"},
		{"SPA fallback before next", "GET", "/spa/app/route", 200, "<h1>home</h1>\n"},
		{"SPA POST goes on", "POST", "/spa/app/route", 418, nextBody},
		{"off: custom 404", "GET", "/off/missing", 404, "<h1>custom not found</h1>\n"},
		{"off: 405", "POST", "/off/style.css", 405, "405 Method Not Allowed\n"},
		{"on, spelt out", "GET", "/on/missing", 418, nextBody},
	}
	// A prefix that would send the directory's redirect to another host is
	// not used.
	for prefix, want := range map[string]string{"/app": "/app/docs/", "//evil.example": "/docs/", `/\evil`: "/docs/", "evil": "/docs/"} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", url+"/docs", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-Prefix", prefix)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != want {
			t.Errorf("X-Forwarded-Prefix %q: %d Location %q, want 301 to %q", prefix, resp.StatusCode, loc, want)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			check(t, do(t, client, tc.method, url+tc.path, nil), tc.status, nil, &tc.body)
		})
	}
}

// TestEdgePooled sends the fileserver table's requests one after the other
// through one edge middleware, which keeps reusing its pooled guest instances,
// in three orders: no request may see what an earlier one left behind.
func TestEdgePooled(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	cases := fileserverCases(t, s)
	url, client := serveBuild(t, builds[1], fileservers(s)...)
	stride := 7 // coprime with len(cases): every case once
	for gcd(stride, len(cases)) != 1 {
		stride += 2
	}
	orders := map[string]func(i int) int{
		"forward":  func(i int) int { return i },
		"backward": func(i int) int { return len(cases) - 1 - i },
		"strided":  func(i int) int { return i * stride % len(cases) },
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			for i := range cases {
				tc := cases[order(i)]
				got := do(t, client, tc.method, url+tc.path, tc.req)
				t.Run(tc.name, func(t *testing.T) { check(t, got, tc.status, tc.want, tc.body) })
			}
		})
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// TestEdgeOptions checks how the edge guests read their options: camelCase
// or env spelling, JSON booleans and numbers as written, null as unset, and
// a clear 500 for options that are no flat JSON object.
func TestEdgeOptions(t *testing.T) {
	t.Parallel()
	redirect := func(options map[string]any) http.Handler {
		return edgeMiddleware(t, "redirect/edge.wasm", options, nil, next)
	}
	cases := []struct {
		name     string
		options  map[string]any
		path     string
		status   int
		location string
		body     *string
	}{
		{"booleans and numbers", map[string]any{"destination": "/d", "status": 301, "includePath": true, "keepQuery": true},
			"/a?b=1", 301, "/d/a?b=1", nil},
		{"env spelling", map[string]any{"DESTINATION": "/d", "STATUS": "308", "INCLUDE_PATH": "1"}, "/a", 308, "/d/a", nil},
		{"false is off", map[string]any{"destination": "/d", "includePath": false}, "/a", 302, "/d", nil},
		{"null is unset", map[string]any{"destination": "/d", "status": nil}, "/a", 302, "/d", nil},
		{"escaped strings", map[string]any{"destination": "/d\u00e9/\U0001F600<"}, "/", 302, "/d\u00e9/\U0001F600<", nil},
		{"no options", nil, "/", 500, "", str("redirect: destination is not set in the middleware's options\n")},
		{"nested option", map[string]any{"destination": "/d", "extra": map[string]any{"a": 1}}, "/", 500, "",
			str("redirect: the middleware's options are not a JSON object of strings, numbers and booleans\n")},
		{"list option", map[string]any{"destination": []string{"/a", "/b"}}, "/", 500, "",
			str("redirect: the middleware's options are not a JSON object of strings, numbers and booleans\n")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(redirect(tc.options))
			t.Cleanup(srv.Close)
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			check(t, do(t, client, "GET", srv.URL+tc.path, nil), tc.status, map[string]string{"Location": tc.location}, tc.body)
		})
	}
}

// TestEdgeLimits checks that a request larger than the guest's arena gets a
// clear 414 or 431, and that the next request on the same instance is
// served as usual.
func TestEdgeLimits(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	url, client := serveBuild(t, builds[1], fileservers(s)...)
	long := strings.Repeat("a", 20_000)
	check(t, do(t, client, "GET", url+"/"+long, nil), 414, nil, str("414 URI Too Long\n"))
	check(t, do(t, client, "GET", url+"/style.css", map[string]string{"If-None-Match": long}), 431, nil,
		str("431 Request Header Fields Too Large\n"))
	check(t, do(t, client, "GET", url+"/style.css", nil), 200, nil, str("body { color: teal }\n"))
	rd, rclient := serveBuild(t, builds[1], wasmhost.HandlerConfig{Module: redirectWasm, Route: "/",
		Env: map[string]string{"DESTINATION": "/d", "INCLUDE_PATH": "1"}})
	check(t, do(t, rclient, "GET", rd+"/"+long, nil), 414, nil, str("414 URI Too Long\n"))
	check(t, do(t, rclient, "GET", rd+"/x", nil), 302, map[string]string{"Location": "/d/x"}, nil)
}

// TestEdgeModules checks what makes the edge guests safe in Traefik's pool:
// nothing that could exit (proc_exit poisons a pooled instance), a memory
// capped at link time (Traefik sets none), and the http-wasm exports.
func TestEdgeModules(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"redirect/edge.wasm", "fileserver/edge.wasm"} {
		t.Run(file, func(t *testing.T) {
			code, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rt := wazero.NewRuntime(t.Context())
			defer rt.Close(context.Background())
			m, err := rt.CompileModule(t.Context(), code)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range m.ImportedFunctions() {
				mod, name, _ := f.Import()
				if mod != "http_handler" && mod != "wasi_snapshot_preview1" || name == "proc_exit" {
					t.Errorf("imports %s.%s", mod, name)
				}
			}
			mem, ok := m.ExportedMemories()["memory"]
			if !ok {
				t.Fatal("no exported memory")
			}
			if max, capped := mem.Max(); !capped || max > 64 {
				t.Errorf("memory max %d pages (capped %v), want at most 64 (4 MiB)", max, capped)
			}
			for _, name := range []string{"handle_request", "handle_response", "_initialize"} {
				if _, ok := m.ExportedFunctions()[name]; !ok {
					t.Errorf("does not export %s", name)
				}
			}
		})
	}
}
