package handlers_test

import (
	"strings"
	"testing"

	"github.com/whiskers-dev/whiskers/wasmhost"
)

// fileservers returns the handler set the fileserver tests run against, all over s.
// The edge builds among them answer every request (FALLTHROUGH off), as the WAGI
// builds do.
func fileservers(s site) []wasmhost.HandlerConfig {
	fs := func(name, route string, env map[string]string) wasmhost.HandlerConfig {
		env["FALLTHROUGH"] = "false"
		return wasmhost.HandlerConfig{Name: name, Module: fileserverWasm, Route: route,
			Volumes: []string{s.dir + ":/"}, Env: env}
	}
	return []wasmhost.HandlerConfig{
		fs("static", "/", map[string]string{
			"CUSTOM_404_PATH":    "404.html",
			"CACHE_CONTROL":      "public, max-age=60",
			"CACHE_CONTROL_HTML": "no-cache",
		}),
		fs("spa", "/spa", map[string]string{"FALLBACK_PATH": "/index.html", "CUSTOM_404_PATH": "404.html"}),
		fs("plain", "/plain", map[string]string{"PRECOMPRESSED": "off"}),
		fs("rooted", "/rooted", map[string]string{"ROOT": "/docs/"}),
		fs("idx", "/idx", map[string]string{"INDEX": "a.txt"}),
		fs("bad404", "/bad404", map[string]string{"CUSTOM_404_PATH": "leak.txt", "FALLBACK_PATH": "../secret.txt"}),
	}
}

// fsCase is a request to the handlers of fileservers and the response it must get.
type fsCase struct {
	name   string
	method string
	path   string
	req    map[string]string
	status int
	want   map[string]string
	body   *string
}

// fileserverCases are the requests TestFileserver sends to the handlers of
// fileservers(s).
func fileserverCases(t testing.TB, s site) []fsCase {

	bin := make([]byte, 100)
	for i := range bin {
		bin[i] = byte(i)
	}
	big := make([]byte, 200_000)
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	const (
		html = "text/html; charset=utf-8"
		text = "text/plain; charset=utf-8"
		js   = "text/javascript; charset=utf-8"
	)
	home := "<h1>home</h1>\n"
	custom404 := "<h1>custom not found</h1>\n"
	badRequest := "400 Bad Request\n"
	homeTag := s.etag(t, "index.html", "")
	cssTag := s.etag(t, "style.css", "")
	binTag := s.etag(t, "data.bin", "")

	type hdr = map[string]string
	return []fsCase{
		// Index files and directories.
		{name: "root serves index.html", path: "/", status: 200, body: &home, want: hdr{
			"Content-Type": html, "Content-Length": "14", "Etag": homeTag, "Last-Modified": lastModified,
			"Cache-Control": "no-cache", "Vary": "Accept-Encoding", "Accept-Ranges": "bytes", "Content-Encoding": ""}},
		{name: "index.html by name", path: "/index.html", status: 200, body: &home, want: hdr{"Etag": homeTag}},
		{name: "directory index", path: "/docs/", status: 200, body: str("<h1>docs</h1>\n"), want: hdr{"Content-Type": html}},
		{name: "directory without slash redirects", path: "/docs", status: 301, want: hdr{"Location": "/docs/"}},
		{name: "directory redirect keeps query", path: "/docs?x=1&y", status: 301, want: hdr{"Location": "/docs/?x=1&y"}},
		{name: "directory redirect under a route", path: "/spa/docs", status: 301, want: hdr{"Location": "/spa/docs/"}},
		{name: "directory redirect re-encodes", path: "/docs/deep/../../noindex", status: 400},
		{name: "deep file", path: "/docs/deep/page.html", status: 200, body: str("<p>deep</p>\n")},
		{name: "directory without index is not found", path: "/noindex/", status: 404, body: &custom404},
		{name: "configured INDEX", path: "/idx/noindex/", status: 200, body: str("a\n")},
		{name: "configured ROOT", path: "/rooted/", status: 200, body: str("<h1>docs</h1>\n")},
		{name: "configured ROOT file", path: "/rooted/deep/page.html", status: 200, body: str("<p>deep</p>\n")},
		{name: "ROOT confines", path: "/rooted/index.html", status: 200, body: str("<h1>docs</h1>\n")},
		{name: "encoded space", path: "/with%20space.txt", status: 200, body: str("spaced\n")},
		{name: "duplicate slashes collapse", path: "//docs//deep///page.html", status: 200, body: str("<p>deep</p>\n")},
		{name: "dot segments dropped", path: "/./docs/./index.html", status: 200, body: str("<h1>docs</h1>\n")},

		// Not found, custom 404, SPA fallback.
		{name: "custom 404 with status 404", path: "/missing.txt", status: 404, body: &custom404, want: hdr{
			"Content-Type": html, "Content-Length": "26", "Etag": "", "Cache-Control": ""}},
		{name: "plain 404", path: "/plain/missing", status: 404, body: str("404 Not Found\n"), want: hdr{"Content-Type": text}},
		{name: "SPA fallback with 200", path: "/spa/app/route/7", status: 200, body: &home, want: hdr{"Content-Type": html, "Etag": homeTag}},
		{name: "SPA fallback for missing asset", path: "/spa/missing.js", status: 200, body: &home},
		{name: "SPA serves existing files", path: "/spa/style.css", status: 200, body: str("body { color: teal }\n")},
		{name: "file below a file", path: "/index.html/x", status: 404, body: &custom404},
		{name: "fallback and 404 paths are confined too", path: "/bad404/nothing", status: 404, body: str("404 Not Found\n")},

		// Content-Type table.
		{name: "type css", path: "/style.css", status: 200, want: hdr{"Content-Type": "text/css; charset=utf-8"}},
		{name: "type js", path: "/app.js", status: 200, want: hdr{"Content-Type": js}},
		{name: "type mjs", path: "/a.mjs", status: 200, want: hdr{"Content-Type": js}},
		{name: "type json", path: "/a.json", status: 200, want: hdr{"Content-Type": "application/json"}},
		{name: "type map", path: "/a.js.map", status: 200, want: hdr{"Content-Type": "application/json"}},
		{name: "type svg", path: "/a.svg", status: 200, want: hdr{"Content-Type": "image/svg+xml"}},
		{name: "type png", path: "/a.png", status: 200, want: hdr{"Content-Type": "image/png"}},
		{name: "type jpg", path: "/a.jpg", status: 200, want: hdr{"Content-Type": "image/jpeg"}},
		{name: "type gif", path: "/a.gif", status: 200, want: hdr{"Content-Type": "image/gif"}},
		{name: "type webp", path: "/a.webp", status: 200, want: hdr{"Content-Type": "image/webp"}},
		{name: "type ico", path: "/a.ico", status: 200, want: hdr{"Content-Type": "image/x-icon"}},
		{name: "type wasm", path: "/a.wasm", status: 200, want: hdr{"Content-Type": "application/wasm"}},
		{name: "type txt", path: "/a.txt", status: 200, want: hdr{"Content-Type": text}},
		{name: "type xml", path: "/a.xml", status: 200, want: hdr{"Content-Type": "application/xml"}},
		{name: "type pdf", path: "/a.pdf", status: 200, want: hdr{"Content-Type": "application/pdf"}},
		{name: "type woff", path: "/a.woff", status: 200, want: hdr{"Content-Type": "font/woff"}},
		{name: "type woff2", path: "/a.woff2", status: 200, want: hdr{"Content-Type": "font/woff2"}},
		{name: "type upper-case extension", path: "/UPPER.HTML", status: 200, want: hdr{"Content-Type": html}},
		{name: "type unknown", path: "/a.unknownext", status: 200, want: hdr{"Content-Type": "application/octet-stream"}},
		{name: "type none", path: "/noext", status: 200, want: hdr{"Content-Type": "application/octet-stream"}},

		// Cache-Control.
		{name: "cache-control default", path: "/style.css", status: 200, want: hdr{"Cache-Control": "public, max-age=60"}},
		{name: "cache-control per type", path: "/index.html", status: 200, want: hdr{"Cache-Control": "no-cache"}},
		{name: "cache-control per type, any case", path: "/UPPER.HTML", status: 200, want: hdr{"Cache-Control": "no-cache"}},
		{name: "cache-control unset", path: "/plain/style.css", status: 200, want: hdr{"Cache-Control": ""}},

		// ETag and If-None-Match.
		{name: "etag", path: "/style.css", status: 200, want: hdr{"Etag": cssTag}},
		{name: "if-none-match hit", path: "/style.css", req: hdr{"If-None-Match": cssTag}, status: 304, body: str(""),
			want: hdr{"Etag": cssTag, "Last-Modified": lastModified, "Cache-Control": "public, max-age=60", "Vary": "Accept-Encoding"}},
		{name: "if-none-match weak hit", path: "/style.css", req: hdr{"If-None-Match": "W/" + cssTag}, status: 304},
		{name: "if-none-match list hit", path: "/style.css", req: hdr{"If-None-Match": `"nope", ` + cssTag}, status: 304},
		{name: "if-none-match star", path: "/style.css", req: hdr{"If-None-Match": "*"}, status: 304},
		{name: "if-none-match miss", path: "/style.css", req: hdr{"If-None-Match": `"nope"`}, status: 200, want: hdr{"Etag": cssTag}},
		{name: "if-none-match on index", path: "/", req: hdr{"If-None-Match": homeTag}, status: 304, body: str("")},
		{name: "if-none-match HEAD", method: "HEAD", path: "/style.css", req: hdr{"If-None-Match": cssTag}, status: 304},

		// Last-Modified and If-Modified-Since.
		{name: "if-modified-since equal", path: "/style.css", req: hdr{"If-Modified-Since": lastModified}, status: 304, body: str("")},
		{name: "if-modified-since later", path: "/style.css", req: hdr{"If-Modified-Since": "Wed, 01 Jan 2025 00:00:00 GMT"}, status: 304},
		{name: "if-modified-since earlier", path: "/style.css", req: hdr{"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}, status: 200},
		{name: "if-modified-since garbage", path: "/style.css", req: hdr{"If-Modified-Since": "yesterday"}, status: 200},
		{name: "if-none-match wins over if-modified-since", path: "/style.css",
			req: hdr{"If-None-Match": `"nope"`, "If-Modified-Since": lastModified}, status: 200},

		// Precompressed siblings.
		{name: "br preferred", path: "/app.js", req: hdr{"Accept-Encoding": "gzip, deflate, br"}, status: 200,
			body: str("BROTLI-BYTES-LONGER"), want: hdr{"Content-Encoding": "br", "Content-Type": js, "Vary": "Accept-Encoding",
				"Etag": s.etag(t, "app.js.br", "br"), "Content-Length": "19"}},
		{name: "gzip", path: "/app.js", req: hdr{"Accept-Encoding": "gzip"}, status: 200, body: str("GZIP-BYTES"),
			want: hdr{"Content-Encoding": "gzip", "Content-Type": js, "Etag": s.etag(t, "app.js.gz", "gz")}},
		{name: "br refused with q=0", path: "/app.js", req: hdr{"Accept-Encoding": "gzip, br;q=0"}, status: 200, body: str("GZIP-BYTES")},
		{name: "higher q wins", path: "/app.js", req: hdr{"Accept-Encoding": "gzip;q=0.8, br;q=0.5"}, status: 200, body: str("GZIP-BYTES")},
		{name: "q=0.000 refuses", path: "/app.js", req: hdr{"Accept-Encoding": "br;q=0.000, gzip;q=0"}, status: 200,
			body: str("console.log('identity')\n"), want: hdr{"Content-Encoding": "", "Vary": "Accept-Encoding"}},
		{name: "star", path: "/app.js", req: hdr{"Accept-Encoding": "*"}, status: 200, body: str("BROTLI-BYTES-LONGER")},
		{name: "identity only", path: "/app.js", req: hdr{"Accept-Encoding": "identity"}, status: 200,
			body: str("console.log('identity')\n"), want: hdr{"Content-Encoding": "", "Etag": s.etag(t, "app.js", "")}},
		{name: "no accept-encoding", path: "/app.js", status: 200, body: str("console.log('identity')\n"),
			want: hdr{"Content-Encoding": "", "Vary": "Accept-Encoding"}},
		{name: "gz sibling only", path: "/only-gz.txt", req: hdr{"Accept-Encoding": "br, gzip"}, status: 200, body: str("GZ-ONLY"),
			want: hdr{"Content-Encoding": "gzip", "Content-Type": text}},
		{name: "br accepted but missing", path: "/only-gz.txt", req: hdr{"Accept-Encoding": "br"}, status: 200, body: str("plain text\n"),
			want: hdr{"Content-Encoding": ""}},
		{name: "precompressed disabled", path: "/plain/app.js", req: hdr{"Accept-Encoding": "br, gzip"}, status: 200,
			body: str("console.log('identity')\n"), want: hdr{"Content-Encoding": "", "Vary": ""}},
		{name: "etag of the variant", path: "/app.js", req: hdr{"Accept-Encoding": "br", "If-None-Match": s.etag(t, "app.js.br", "br")}, status: 304},
		{name: "identity etag does not match variant", path: "/app.js",
			req: hdr{"Accept-Encoding": "br", "If-None-Match": s.etag(t, "app.js", "")}, status: 200, body: str("BROTLI-BYTES-LONGER")},

		// Ranges.
		{name: "range a-b", path: "/data.bin", req: hdr{"Range": "bytes=0-9"}, status: 206, body: str(string(bin[:10])),
			want: hdr{"Content-Range": "bytes 0-9/100", "Content-Length": "10", "Etag": binTag}},
		{name: "range a-", path: "/data.bin", req: hdr{"Range": "bytes=90-"}, status: 206, body: str(string(bin[90:])),
			want: hdr{"Content-Range": "bytes 90-99/100", "Content-Length": "10"}},
		{name: "range suffix", path: "/data.bin", req: hdr{"Range": "bytes=-5"}, status: 206, body: str(string(bin[95:])),
			want: hdr{"Content-Range": "bytes 95-99/100"}},
		{name: "range suffix longer than file", path: "/data.bin", req: hdr{"Range": "bytes=-500"}, status: 206, body: str(string(bin)),
			want: hdr{"Content-Range": "bytes 0-99/100"}},
		{name: "range end clamped", path: "/data.bin", req: hdr{"Range": "bytes=95-200"}, status: 206, body: str(string(bin[95:])),
			want: hdr{"Content-Range": "bytes 95-99/100"}},
		{name: "range single byte", path: "/data.bin", req: hdr{"Range": "bytes=50-50"}, status: 206, body: str(string(bin[50:51]))},
		{name: "file larger than a read chunk", path: "/big.bin", status: 200, body: str(string(big)),
			want: hdr{"Content-Length": "200000"}},
		{name: "range across read chunks", path: "/big.bin", req: hdr{"Range": "bytes=65530-131080"}, status: 206,
			body: str(string(big[65530:131081])), want: hdr{"Content-Range": "bytes 65530-131080/200000"}},
		{name: "range unsatisfiable", path: "/data.bin", req: hdr{"Range": "bytes=100-"}, status: 416,
			want: hdr{"Content-Range": "bytes */100"}},
		{name: "range suffix zero", path: "/data.bin", req: hdr{"Range": "bytes=-0"}, status: 416},
		{name: "range on empty file", path: "/empty.txt", req: hdr{"Range": "bytes=0-"}, status: 416, want: hdr{"Content-Range": "bytes */0"}},
		{name: "multi-range gives full", path: "/data.bin", req: hdr{"Range": "bytes=0-1,5-6"}, status: 200, body: str(string(bin)),
			want: hdr{"Content-Range": "", "Content-Length": "100"}},
		{name: "malformed range ignored", path: "/data.bin", req: hdr{"Range": "bytes=abc"}, status: 200, body: str(string(bin))},
		{name: "reversed range ignored", path: "/data.bin", req: hdr{"Range": "bytes=9-3"}, status: 200},
		{name: "other unit ignored", path: "/data.bin", req: hdr{"Range": "items=0-3"}, status: 200},
		{name: "if-range etag match", path: "/data.bin", req: hdr{"Range": "bytes=0-0", "If-Range": binTag}, status: 206, body: str("\x00")},
		{name: "if-range etag mismatch", path: "/data.bin", req: hdr{"Range": "bytes=0-0", "If-Range": `"old"`}, status: 200, body: str(string(bin))},
		{name: "if-range date match", path: "/data.bin", req: hdr{"Range": "bytes=1-1", "If-Range": lastModified}, status: 206, body: str("\x01")},
		{name: "if-range date mismatch", path: "/data.bin", req: hdr{"Range": "bytes=1-1", "If-Range": "Mon, 01 Jan 2024 00:00:00 GMT"}, status: 200},
		{name: "range of a variant", path: "/app.js", req: hdr{"Range": "bytes=0-3", "Accept-Encoding": "gzip"}, status: 206,
			body: str("GZIP"), want: hdr{"Content-Encoding": "gzip", "Content-Range": "bytes 0-3/10"}},
		{name: "range ignored on 304", path: "/data.bin", req: hdr{"Range": "bytes=0-3", "If-None-Match": binTag}, status: 304},

		// Methods.
		{name: "HEAD", method: "HEAD", path: "/style.css", status: 200, body: str(""),
			want: hdr{"Content-Length": "21", "Content-Type": "text/css; charset=utf-8", "Etag": cssTag, "Last-Modified": lastModified}},
		{name: "HEAD range", method: "HEAD", path: "/data.bin", req: hdr{"Range": "bytes=0-9"}, status: 206, body: str(""),
			want: hdr{"Content-Range": "bytes 0-9/100", "Content-Length": "10"}},
		{name: "HEAD 404", method: "HEAD", path: "/missing", status: 404, body: str(""), want: hdr{"Content-Length": "26"}},
		{name: "HEAD precompressed", method: "HEAD", path: "/app.js", req: hdr{"Accept-Encoding": "br"}, status: 200, body: str(""),
			want: hdr{"Content-Length": "19", "Content-Encoding": "br"}},
		{name: "POST", method: "POST", path: "/style.css", status: 405, want: hdr{"Allow": "GET, HEAD", "Content-Length": "23"}, body: str("405 Method Not Allowed\n")},
		{name: "PUT", method: "PUT", path: "/", status: 405, want: hdr{"Allow": "GET, HEAD"}},
		{name: "DELETE", method: "DELETE", path: "/", status: 405, want: hdr{"Allow": "GET, HEAD"}},
		{name: "OPTIONS", method: "OPTIONS", path: "/", status: 405, want: hdr{"Allow": "GET, HEAD"}},

		// Traversal and symlinks: 400 for refused paths, 404 for symlinks.
		{name: "dot-dot", path: "/../secret.txt", status: 400, body: &badRequest},
		{name: "dot-dot deep", path: "/docs/../../secret.txt", status: 400, body: &badRequest},
		{name: "dot-dot inside", path: "/docs/../index.html", status: 400},
		{name: "encoded dot-dot", path: "/%2e%2e/secret.txt", status: 400, body: &badRequest},
		{name: "encoded dot-dot upper", path: "/%2E%2E/%2E%2E/secret.txt", status: 400},
		{name: "half-encoded dot-dot", path: "/.%2e/secret.txt", status: 400},
		{name: "encoded slash", path: "/..%2fsecret.txt", status: 400},
		{name: "encoded slash alone", path: "/docs%2Findex.html", status: 400},
		{name: "backslash", path: `/..\secret.txt`, status: 400},
		{name: "encoded backslash", path: "/..%5csecret.txt", status: 400},
		{name: "encoded NUL", path: "/index.html%00.png", status: 400},
		{name: "encoded control character", path: "/index%0a.html", status: 400},
		{name: "double-encoded dot-dot is a name", path: "/%252e%252e/secret.txt", status: 404, body: &custom404},
		{name: "absolute path stays inside", path: "//etc/passwd", status: 404, body: &custom404},
		{name: "symlink to a file outside", path: "/leak.txt", status: 404, body: &custom404},
		{name: "absolute symlink outside", path: "/abs-leak.txt", status: 404, body: &custom404},
		{name: "symlink to /etc/passwd", path: "/passwd", status: 404, body: &custom404},
		{name: "symlink dir to /etc", path: "/etc/passwd", status: 404, body: &custom404},
		{name: "symlink dir to parent", path: "/up/secret.txt", status: 404, body: &custom404},
		{name: "symlink dir outside", path: "/secretdir/inner.txt", status: 404, body: &custom404},
		{name: "nested symlink dir outside", path: "/docs/back/inner.txt", status: 404, body: &custom404},
		{name: "symlink as directory", path: "/up/", status: 404, body: &custom404},
		{name: "symlink inside is not followed either", path: "/inside.html", status: 404, body: &custom404},
		{name: "sibling symlink is not followed", path: "/docs/index.lnk", status: 404, body: &custom404},
	}
}

func TestFileserver(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	cases := fileserverCases(t, s)
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url, client := serveBuild(t, b, fileservers(s)...)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					got := do(t, client, tc.method, url+tc.path, tc.req)
					check(t, got, tc.status, tc.want, tc.body)
					if strings.Contains(got.body, s.secret) || strings.Contains(got.body, "root:x:0:0") {
						t.Errorf("response leaks a file outside the mount: %q", truncate(got.body))
					}
				})
			}
		})
	}
}
