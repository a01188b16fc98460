package handlers_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/whiskers-dev/whiskers/wasmhost"
)

// FuzzNoEscape sends arbitrary request targets to the fileserver (plain, and with a SPA
// fallback) and to a path-appending redirect, and checks that no response carries the
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
	h, err := wasmhost.New(f.Context(), &wasmhost.Config{Handlers: handlers}, wasmhost.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			f.Error(err)
		}
	})
	f.Add("/../secret.txt")
	f.Add("/leak.txt")

	f.Fuzz(func(t *testing.T, target string) {
		// Parse the target as the HTTP server would; what it refuses never reaches the host.
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
			"GET " + target + " HTTP/1.1\r\nHost: example.test\r\nAccept-Encoding: br, gzip\r\n\r\n")))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if rec.Code >= 500 && !strings.Contains(req.URL.Path, "\x00") {
			t.Errorf("GET %q: status %d, body %q", target, rec.Code, truncate(rec.Body.String()))
		}
		leaks := func(v string) bool {
			return strings.Contains(v, s.secret) || strings.Contains(v, "root:x:0:0") || strings.Contains(v, "root:*:0:0")
		}
		if leaks(rec.Body.String()) {
			t.Errorf("GET %q: body leaks a file outside the mount: %q", target, truncate(rec.Body.String()))
		}
		for k, vs := range rec.Header() {
			for _, v := range vs {
				if leaks(v) || strings.ContainsAny(v, "\r\n") {
					t.Errorf("GET %q: header %s: %q", target, k, v)
				}
			}
		}
		if loc := rec.Header().Get("Location"); strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
			t.Errorf("GET %q: redirect to another host: %q", target, loc)
		}
	})
}
