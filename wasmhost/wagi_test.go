package wasmhost

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCGIResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		out        string
		wantStatus int
		wantHeader http.Header
		wantBody   string
		wantErr    string
	}{
		{
			name:       "content type and body",
			out:        "Content-Type: text/plain\n\nhello\n",
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"text/plain"}},
			wantBody:   "hello\n",
		},
		{
			name:       "CRLF lines, body keeps its CRLF",
			out:        "content-type: text/html\r\nX-A: 1\r\n\r\n<p>\r\n",
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"text/html"}, "X-A": {"1"}},
			wantBody:   "<p>\r\n",
		},
		{
			name:       "location alone implies 302",
			out:        "location: /new\n\n",
			wantStatus: 302,
			wantHeader: http.Header{"Location": {"/new"}},
		},
		{
			name:       "status after location wins",
			out:        "location: /new\nstatus: 301\n\n",
			wantStatus: 301,
			wantHeader: http.Header{"Location": {"/new"}},
		},
		{
			name:       "status before location wins",
			out:        "Status: 308 Permanent Redirect\nLocation: /new\n\n",
			wantStatus: 308,
			wantHeader: http.Header{"Location": {"/new"}},
		},
		{
			name:       "status alone is enough",
			out:        "status: 204\n\n",
			wantStatus: 204,
			wantHeader: http.Header{},
		},
		{
			name:       "status with reason phrase",
			out:        "status: 404 Not Found\ncontent-type: text/plain\n\nnope",
			wantStatus: 404,
			wantHeader: http.Header{"Content-Type": {"text/plain"}},
			wantBody:   "nope",
		},
		{
			name:       "repeated headers kept in order",
			out:        "content-type: text/plain\nset-cookie: a=1\nSet-Cookie: b=2\nvary: Accept\nvary: Accept-Encoding\n\n",
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"text/plain"}, "Set-Cookie": {"a=1", "b=2"}, "Vary": {"Accept", "Accept-Encoding"}},
		},
		{
			name:       "headers without blank line",
			out:        "location: /x\n",
			wantStatus: 302,
			wantHeader: http.Header{"Location": {"/x"}},
		},
		{
			name:       "framing headers dropped",
			out:        "content-type: text/plain\ncontent-length: 999\ntransfer-encoding: chunked\nconnection: close\n\nab",
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"text/plain"}},
			wantBody:   "ab",
		},
		{
			name:       "value may contain colons",
			out:        "content-type: text/plain\nlink: <http://x/>; rel=a\n\n",
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"text/plain"}, "Link": {"<http://x/>; rel=a"}},
		},
		{name: "empty output", out: "", wantErr: "no content-type, location or status"},
		{name: "body only", out: "\nhello", wantErr: "no content-type, location or status"},
		{name: "no sufficient header", out: "x-a: 1\n\nhello", wantErr: "no content-type, location or status"},
		{name: "control character in a value", out: "content-type: text/plain\nx-a: a\x00b\n\n", wantErr: "control character in header X-A"},
		{name: "empty location and content type", out: "location:\ncontent-type: \n\n", wantErr: "no content-type, location or status"},
		{name: "line without colon", out: "content-type: text/plain\nhello world\n\n", wantErr: "malformed header line"},
		{name: "bad header name", out: "content type: text/plain\n\n", wantErr: "malformed header name"},
		{name: "bad status", out: "status: ok\ncontent-type: text/plain\n\n", wantErr: "invalid status"},
		{name: "status out of range", out: "status: 600\n\n", wantErr: "invalid status"},
		{name: "informational status", out: "status: 101\n\n", wantErr: "invalid status"},
		{name: "repeated status", out: "status: 200\nstatus: 404\n\n", wantErr: "repeated status"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := parseCGIResponse([]byte(tc.out))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantStatus, resp.status)
			assert.Equal(t, tc.wantHeader, resp.header)
			assert.Equal(t, tc.wantBody, string(resp.body))
		})
	}
}

func TestArgv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, template, script, query string
		want                          []string
	}{
		{"default", DefaultArgv, "/env", "greet=matt&foo=bar", []string{"/env", "greet=matt", "foo=bar"}},
		{"no query", DefaultArgv, "/env", "", []string{"/env"}},
		{"decoded, empty params dropped", DefaultArgv, "", "a=b%20c&&x+y", []string{"", "a=b c", "x y"}},
		{"custom words", "${SCRIPT_NAME} -v /lib/hello.rb ${SCRIPT_NAME} ${ARGS}", "/r", "q", []string{"/r", "-v", "/lib/hello.rb", "/r", "q"}},
		{"embedded script name", "prog --base=${SCRIPT_NAME}", "/x", "ignored", []string{"prog", "--base=/x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, argv(tc.template, tc.script, tc.query))
		})
	}
}

func TestMatchRoute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		route, path string
		want        bool
	}{
		{"/", "/", true},
		{"/", "/anything/at/all", true},
		{"/old", "/old", true},
		{"/old", "/old/", true},
		{"/old", "/old/x", true},
		{"/old", "/older", false},
		{"/old", "/ol", false},
		{"/old", "/old%2Fx", false},
		{"/a/b", "/a/b/c", true},
		{"/a/b", "/a/bc", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, matchRoute(tc.route, tc.path), "%s vs %s", tc.route, tc.path)
	}
}

// FuzzParseCGIResponse checks that no guest output can crash the host or
// produce a response Go's server would reject.
func FuzzParseCGIResponse(f *testing.F) {
	for _, seed := range []string{
		"content-type: text/plain\n\nhi",
		"location: /x\nstatus: 301\r\n\r\n",
		"status: 404 Not Found\n",
		"x: y\n\n",
		"\n\n\n",
		"content-type text/plain\n\n",
		"Set-Cookie: a=1\nset-cookie: b=2\ncontent-type: a\n\nbody\n\nmore",
		"status: 99\n\n",
		"content-type: \x00\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		resp, err := parseCGIResponse(out)
		if err != nil {
			return
		}
		if resp.status < 200 || resp.status > 599 {
			t.Fatalf("status %d", resp.status)
		}
		for k, vs := range resp.header {
			if !validHeaderName(k) {
				t.Fatalf("invalid header name %q", k)
			}
			for _, v := range vs {
				if !validHeaderValue(v) {
					t.Fatalf("invalid value %q for %s", v, k)
				}
			}
		}
		if resp.header.Get("Content-Type") == "" && resp.header.Get("Location") == "" && !bytes.Contains(bytes.ToLower(out), []byte("status")) {
			t.Fatalf("accepted output without content-type, location or status: %q", out)
		}
	})
}
