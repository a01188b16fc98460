package handlers_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/whiskers-dev/whiskers/wasmhost"
)

// FuzzNoEscape sends arbitrary request targets to the fileserver (plain, and with a SPA
// fallback) and to a path-appending redirect, both builds of each (WAGI and edge), and checks that no response carries the
// secret stored next to the mount or /etc/passwd, that none is a 5xx, and that no
// redirect points to another host. The seeds in testdata/fuzz/FuzzNoEscape are nasty
// paths (encoded dots and slashes, overlong UTF-8, symlinks out of the mount); without
// -fuzz they run as a normal test. Run the fuzzer with
//
//	go test -fuzz=FuzzNoEscape ./wasmhost/handlers/
func FuzzNoEscape(f *testing.F) {
	s := newSite(f)
	handlers := append(fileservers(s), wasmhost.HandlerConfig{
		Name: "redirect", Module: redirectWasm, Route: "/r",
		Env: map[string]string{"DESTINATION": "/", "INCLUDE_PATH": "1", "KEEP_QUERY": "1"},
	})
	hs := buildHandlers(f, handlers)
	f.Add("/../secret.txt")
	f.Add("/leak.txt")

	f.Fuzz(func(t *testing.T, target string) {
		// Parse the target as the HTTP server would; what it refuses never reaches the host.
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
			"GET " + target + " HTTP/1.1\r\nHost: example.test\r\nAccept-Encoding: br, gzip\r\n\r\n")))
		if err != nil {
			return
		}
		for name, h := range hs {
			noEscape(t, name, h, req.Clone(t.Context()), target, s)
		}
	})
}

// noEscape sends req (GET target) to h and checks the response as FuzzNoEscape says.
func noEscape(t *testing.T, build string, h http.Handler, req *http.Request, target string, s site) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Errorf("%s: GET %q: status %d, body %q", build, target, rec.Code, truncate(rec.Body.String()))
	}
	leaks := func(v string) bool {
		return strings.Contains(v, s.secret) || strings.Contains(v, "root:x:0:0") || strings.Contains(v, "root:*:0:0")
	}
	if leaks(rec.Body.String()) {
		t.Errorf("%s: GET %q: body leaks a file outside the mount: %q", build, target, truncate(rec.Body.String()))
	}
	for k, vs := range rec.Header() {
		for _, v := range vs {
			if leaks(v) || strings.ContainsAny(v, "\r\n") {
				t.Errorf("%s: GET %q: header %s: %q", build, target, k, v)
			}
		}
	}
	if loc := rec.Header().Get("Location"); strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
		t.Errorf("%s: GET %q: redirect to another host: %q", build, target, loc)
	}
}

// buildHandlers runs handlers in each build, by the build's name.
func buildHandlers(tb testing.TB, handlers []wasmhost.HandlerConfig) map[string]http.Handler {
	hs := map[string]http.Handler{}
	for _, b := range builds {
		hs[b.name] = b.handler(tb, handlers...)
	}
	return hs
}

// FuzzHeaders feeds arbitrary Range, If-Range, Accept-Encoding, If-None-Match and
// If-Modified-Since values to the fileserver: its parsers must never trap (a 5xx), and a
// 206 must describe bytes that are really in the file.
//
//	go test -fuzz=FuzzHeaders ./wasmhost/handlers/
func FuzzHeaders(f *testing.F) {
	s := newSite(f)
	hs := buildHandlers(f, fileservers(s))
	tag := s.etag(f, "data.bin", "")
	f.Add("bytes=0-9", "", "br, gzip", tag, lastModified)
	f.Add("bytes=-0", tag, "gzip;q=0.5, br;q=0.50001", `W/"x", *`, "Sun, 06 Nov 1994 08:49:37 GMT")
	f.Add("bytes=18446744073709551615-", lastModified, "br;q=1.0;x=y, *;q=0", `"`, "Mon, 99 Foo 2024 99:99:99 GMT")
	f.Add("bytes=99999999999999999999999-1", `"`, ";;;,,,q=", "W/", "")
	f.Add("bytes= 5 - 7 ", "W/"+tag, "gzip;q=", `"a","b"`, lastModified+" ")

	f.Fuzz(func(t *testing.T, rng, ifRange, ae, inm, ims string) {
		for _, v := range []string{rng, ifRange, ae, inm, ims} {
			if !validFieldValue(v) {
				return // net/http refuses such a request before any handler sees it
			}
		}
		for build, h := range hs {
			for _, path := range []string{"/data.bin", "/app.js", "/empty.txt"} {
				rangeChecks(t, build, h, path, map[string]string{"Range": rng, "If-Range": ifRange, "Accept-Encoding": ae,
					"If-None-Match": inm, "If-Modified-Since": ims})
			}
		}
	})
}

// rangeChecks sends GET path with the headers (those not empty) to h and checks the
// response as FuzzHeaders says.
func rangeChecks(t *testing.T, build string, h http.Handler, path string, headers map[string]string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s: GET %s %v: status %d, body %q", build, path, req.Header, rec.Code, truncate(rec.Body.String()))
	}
	if rec.Code == 206 {
		var start, end, size int
		if _, err := fmt.Sscanf(rec.Header().Get("Content-Range"), "bytes %d-%d/%d", &start, &end, &size); err != nil {
			t.Fatalf("%s: GET %s %v: Content-Range %q: %v", build, path, req.Header, rec.Header().Get("Content-Range"), err)
		}
		if start < 0 || start > end || end >= size || rec.Body.Len() != end-start+1 {
			t.Fatalf("%s: GET %s %v: Content-Range %q with %d bytes", build, path, req.Header, rec.Header().Get("Content-Range"), rec.Body.Len())
		}
	}
}

// validFieldValue reports whether net/http's server accepts v as a header value (no
// control characters but tab).
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// quiet drops the host's log: the fuzzers make it fail requests on purpose.
var quiet = wasmhost.Options{Logger: slog.New(slog.DiscardHandler)}
