package handlers_test

import (
	"net/http"
	"testing"

	"github.com/whiskers-dev/whiskers/wasmhost"
)

func TestRedirect(t *testing.T) {
	t.Parallel()
	rd := func(name, route string, env map[string]string) wasmhost.HandlerConfig {
		return wasmhost.HandlerConfig{Name: name, Module: redirectWasm, Route: route, Env: env}
	}
	handlers := []wasmhost.HandlerConfig{
		rd("plain", "/plain", map[string]string{"DESTINATION": "/index.html"}),
		rd("s301", "/s301", map[string]string{"DESTINATION": "https://example.com/", "STATUS": "301"}),
		rd("s303", "/s303", map[string]string{"DESTINATION": "/x", "STATUS": "303"}),
		rd("s307", "/s307", map[string]string{"DESTINATION": "/x", "STATUS": "307"}),
		rd("s308", "/s308", map[string]string{"DESTINATION": "/x", "STATUS": "308"}),
		rd("s200", "/s200", map[string]string{"DESTINATION": "/x", "STATUS": "200"}),
		rd("sjunk", "/sjunk", map[string]string{"DESTINATION": "/x", "STATUS": "banana"}),
		rd("spin", "/spin", map[string]string{"DESTINATION": "/x", "STATUSCODE": "301"}),
		rd("both", "/both", map[string]string{"DESTINATION": "/x", "STATUS": "308", "STATUSCODE": "301"}),
		rd("path", "/path", map[string]string{"DESTINATION": "https://new.example/base", "INCLUDE_PATH": "true"}),
		rd("pathslash", "/pathslash", map[string]string{"DESTINATION": "https://new.example/base/", "INCLUDE_PATH": "1"}),
		rd("root", "/root", map[string]string{"DESTINATION": "/", "INCLUDE_PATH": "yes"}),
		rd("trim", "/trim", map[string]string{"DESTINATION": "https://new.example", "INCLUDE_PATH": "on", "TRIM_PREFIX": "/v1"}),
		rd("nopath", "/nopath", map[string]string{"DESTINATION": "/dest", "INCLUDE_PATH": "false", "KEEP_QUERY": "0"}),
		rd("query", "/query", map[string]string{"DESTINATION": "/dest", "KEEP_QUERY": "TRUE"}),
		rd("querymerge", "/querymerge", map[string]string{"DESTINATION": "/dest?a=1#frag", "KEEP_QUERY": "1", "INCLUDE_PATH": "1"}),
		rd("missing", "/missing", map[string]string{"STATUS": "301"}),
		rd("empty", "/empty", map[string]string{"DESTINATION": ""}),
		rd("ctl", "/ctl", map[string]string{"DESTINATION": "/a\r\nx-evil: 1"}),
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url, client := serveBuild(t, b, handlers...)
			testRedirect(t, b, url, client)
		})
	}
}

// testRedirect runs the redirect cases against the handlers TestRedirect serves at url.
func testRedirect(t *testing.T, b build, url string, client *http.Client) {
	// The edge guest sees the path Traefik's stripPrefix leaves, "/" at least.
	emptyPath := "https://new.example/base"
	if b.name == "edge" {
		emptyPath += "/"
	}
	unset := "redirect: " + b.option("DESTINATION") + " is not set in " + b.place + "\n"
	cases := []struct {
		name     string
		method   string
		path     string
		status   int
		location string
		body     *string
	}{
		{name: "default status 302", path: "/plain", status: 302, location: "/index.html", body: str("")},
		{name: "path ignored without INCLUDE_PATH", path: "/plain/some/where?q=1", status: 302, location: "/index.html"},
		{name: "POST redirects too", method: "POST", path: "/plain", status: 302, location: "/index.html"},
		{name: "HEAD", method: "HEAD", path: "/plain", status: 302, location: "/index.html", body: str("")},
		{name: "301", path: "/s301", status: 301, location: "https://example.com/", body: str("")},
		{name: "303", path: "/s303", status: 303, location: "/x"},
		{name: "307", path: "/s307", status: 307, location: "/x"},
		{name: "308", path: "/s308", status: 308, location: "/x"},
		{name: "non-redirect status becomes 302", path: "/s200", status: 302, location: "/x"},
		{name: "junk status becomes 302", path: "/sjunk", status: 302, location: "/x"},
		{name: "spin-redirect STATUSCODE", path: "/spin", status: 301, location: "/x"},
		{name: "STATUS wins over STATUSCODE", path: "/both", status: 308, location: "/x"},
		{name: "include path", path: "/path/a/b.html", status: 302, location: "https://new.example/base/a/b.html"},
		{name: "include empty path", path: "/path", status: 302, location: emptyPath},
		{name: "include path keeps escapes", path: "/path/a%20b/c%2Fd", status: 302, location: "https://new.example/base/a%20b/c%2Fd"},
		{name: "include path no double slash", path: "/pathslash/a", status: 302, location: "https://new.example/base/a"},
		{name: "include path never protocol-relative", path: "/root//evil.example/x", status: 302, location: "/evil.example/x"},
		{name: "include path backslash encoded", path: "/root/%5C%5Cevil.example", status: 302, location: "/%5C%5Cevil.example"},
		{name: "include path CRLF stays encoded", path: "/path/a%0d%0ax-evil:%201", status: 302, location: "https://new.example/base/a%0d%0ax-evil:%201"},
		{name: "trim prefix", path: "/trim/v1/users/7", status: 302, location: "https://new.example/users/7"},
		{name: "trim prefix absent", path: "/trim/v2/users/7", status: 302, location: "https://new.example/v2/users/7"},
		{name: "falsy flags", path: "/nopath/a?x=1", status: 302, location: "/dest"},
		{name: "keep query", path: "/query/a?x=1&y=2", status: 302, location: "/dest?x=1&y=2"},
		{name: "keep empty query", path: "/query", status: 302, location: "/dest"},
		{name: "merge query before fragment", path: "/querymerge/p?x=1", status: 302, location: "/dest/p?a=1&x=1#frag"},
		{name: "destination query without request query", path: "/querymerge/p", status: 302, location: "/dest/p?a=1#frag"},
		{name: "missing DESTINATION", path: "/missing", status: 500, location: "", body: &unset},
		{name: "empty DESTINATION", path: "/empty", status: 500, location: "", body: &unset},
		{name: "control characters in DESTINATION", path: "/ctl", status: 500, location: "",
			body: str("redirect: " + b.option("DESTINATION") + " contains control characters\n")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := do(t, client, tc.method, url+tc.path, nil)
			check(t, got, tc.status, map[string]string{"Location": tc.location, "X-Evil": ""}, tc.body)
		})
	}
}
