package wasmhost

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// This file is the pure half of the WAGI contract: a request becomes an
// environment and argv, and a guest's stdout becomes a response. No I/O.

// cgiRequest is what the environment is built from: the request, where the
// route split its path, and the body length actually given to the guest.
type cgiRequest struct {
	r            *http.Request
	route        string // X_MATCHED_ROUTE
	scriptName   string // SCRIPT_NAME: the route prefix, "" for "/"
	rawPathInfo  string // the rest of the escaped path
	contentLen   int
	trustForward bool // the peer is a local proxy: believe X-Real-Ip and X-Forwarded-Proto
}

// skippedHeaders are request headers never passed to the guest as HTTP_*:
// credentials (RFC 3875 4.1.18), hop-by-hop headers, the length the host
// recomputes, and Proxy (httpoxy).
var skippedHeaders = map[string]bool{
	"Authorization":       true,
	"Proxy-Authorization": true,
	"Proxy":               true,
	"Connection":          true,
	"Content-Length":      true,
}

// env returns the WAGI environment as name/value pairs in a deterministic
// order. Header names containing '_' are dropped so that "X_Foo" can never
// impersonate "X-Foo".
func (c *cgiRequest) env() [][2]string {
	r := c.r
	pathInfo, err := url.PathUnescape(c.rawPathInfo)
	if err != nil {
		pathInfo = c.rawPathInfo
	}
	remote := remoteAddr(r, c.trustForward)
	scheme := "http"
	if r.TLS != nil || (c.trustForward && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")) {
		scheme = "https"
	}
	host, port := splitHost(r.Host, scheme)
	fullURL := scheme + "://" + net.JoinHostPort(host, port) + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		fullURL += "?" + r.URL.RawQuery
	}
	env := make([][2]string, 0, 24+len(r.Header))
	env = append(env,
		[2]string{"AUTH_TYPE", ""},
		[2]string{"CONTENT_LENGTH", strconv.Itoa(c.contentLen)},
		[2]string{"CONTENT_TYPE", r.Header.Get("Content-Type")},
		[2]string{"GATEWAY_INTERFACE", "CGI/1.1"},
		[2]string{"PATH_INFO", pathInfo},
		[2]string{"PATH_TRANSLATED", pathInfo},
		[2]string{"QUERY_STRING", r.URL.RawQuery},
		[2]string{"REMOTE_ADDR", remote},
		[2]string{"REMOTE_HOST", remote},
		[2]string{"REMOTE_USER", ""},
		[2]string{"REQUEST_METHOD", r.Method},
		[2]string{"SCRIPT_NAME", c.scriptName},
		[2]string{"SERVER_NAME", host},
		[2]string{"SERVER_PORT", port},
		[2]string{"SERVER_PROTOCOL", r.Proto},
		[2]string{"SERVER_SOFTWARE", "whiskers-wasmhost"},
		[2]string{"X_FULL_URL", fullURL},
		[2]string{"X_MATCHED_ROUTE", c.route},
		[2]string{"X_RAW_PATH_INFO", c.rawPathInfo},
		[2]string{"HTTP_HOST", r.Host},
	)
	start := len(env)
	for name, values := range r.Header {
		if skippedHeaders[name] || strings.IndexByte(name, '_') >= 0 || name == "Host" {
			continue
		}
		value := ""
		switch len(values) {
		case 0:
		case 1:
			value = values[0]
		default:
			value = strings.Join(values, ", ")
		}
		env = append(env, [2]string{httpVarName(name), value})
	}
	slices.SortFunc(env[start:], func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return env
}

// httpVarName is the CGI variable of a request header: "HTTP_" and the
// name upper-cased, '-' as '_'.
func httpVarName(header string) string {
	b := make([]byte, 0, len("HTTP_")+len(header))
	b = append(b, "HTTP_"...)
	for i := 0; i < len(header); i++ {
		c := header[i]
		switch {
		case c == '-':
			c = '_'
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// remoteAddr is the client's IP. Behind a trusted local proxy (a Unix
// socket or loopback peer) it is the proxy's X-Real-Ip, or the last
// X-Forwarded-For entry.
func remoteAddr(r *http.Request, trustForward bool) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = ""
	}
	if !trustForward {
		return ip
	}
	if v := strings.TrimSpace(r.Header.Get("X-Real-Ip")); net.ParseIP(v) != nil {
		return v
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		parts := strings.Split(xff[len(xff)-1], ",")
		if v := strings.TrimSpace(parts[len(parts)-1]); net.ParseIP(v) != nil {
			return v
		}
	}
	return ip
}

// trustedPeer reports whether the connection comes from this machine: a
// Unix socket peer (no IP) or a loopback address.
func trustedPeer(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return true // Unix socket peers have no host:port
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// splitHost splits a Host header into name and port, defaulting the port
// from the scheme.
func splitHost(hostport, scheme string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
	if scheme == "https" {
		return host, "443"
	}
	return host, "80"
}

// argv expands WAGI's argv template: words separated by spaces, where
// ${SCRIPT_NAME} is replaced by scriptName and a ${ARGS} word expands to
// one argument per '&'-separated query parameter, URL-decoded.
func argv(template, scriptName, rawQuery string) []string {
	words := strings.Fields(template)
	out := make([]string, 0, len(words)+4)
	for _, w := range words {
		if w == "${ARGS}" {
			for _, p := range strings.Split(rawQuery, "&") {
				if p == "" {
					continue
				}
				if d, err := url.QueryUnescape(p); err == nil {
					p = d
				}
				out = append(out, p)
			}
			continue
		}
		out = append(out, strings.ReplaceAll(w, "${SCRIPT_NAME}", scriptName))
	}
	return out
}

// cgiResponse is a guest's parsed answer.
type cgiResponse struct {
	status int
	header http.Header
	body   []byte
	// contentLength is the guest's own Content-Length header, kept apart:
	// only a HEAD response without body may use it.
	contentLength string
}

// errNoResponseHeaders is returned for output that names no content-type,
// location or status.
var errNoResponseHeaders = errors.New("guest output has no content-type, location or status header")

// parseCGIResponse parses a guest's stdout: header lines ("name: value",
// LF or CRLF), a blank line, then the body. A status header sets the
// status ("404" or "404 Not Found"); a location header without a status
// implies 302, whatever the order; other headers are kept, repeated ones
// too. Hop-by-hop headers from the guest are dropped and Content-Length is
// set aside (the host frames the body itself).
// Output that ends before a blank line is all headers.
func parseCGIResponse(out []byte) (*cgiResponse, error) {
	headEnd, bodyStart, lines := splitCGIOutput(out)
	resp := &cgiResponse{header: make(http.Header, lines)}
	if bodyStart < len(out) {
		resp.body = out[bodyStart:]
	}
	// The header block becomes one string, and names and values are its
	// substrings: one allocation instead of two per header.
	if err := resp.parseHeaders(string(out[:headEnd]), lines); err != nil {
		return nil, err
	}
	return resp, nil
}

// splitCGIOutput finds the end of the header block of a guest's stdout,
// where its body starts (after the blank line; len(out) for none), and
// counts the header lines.
func splitCGIOutput(out []byte) (headEnd, bodyStart, lines int) {
	headEnd, bodyStart = len(out), len(out)
	for i := 0; i < len(out); {
		j := bytes.IndexByte(out[i:], '\n')
		if j < 0 {
			lines++
			break
		}
		line := out[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i, i + j + 1, lines
		}
		lines++
		i += j + 1
	}
	return headEnd, bodyStart, lines
}

// parseHeaders reads block, the header block of a guest's output holding
// lines lines, into resp's status, header and contentLength, as
// parseCGIResponse describes.
func (resp *cgiResponse) parseHeaders(block string, lines int) error {
	values := make([]string, 0, lines) // backs the header's value slices
	hasStatus, sufficient := false, false
	for block != "" {
		line, rest, _ := strings.Cut(block, "\n")
		block = rest
		key, val, err := parseHeaderLine(strings.TrimSuffix(line, "\r"))
		if err != nil {
			return err
		}
		switch key {
		case "Status":
			if hasStatus {
				return errors.New("repeated status header")
			}
			code, err := parseStatus(val)
			if err != nil {
				return err
			}
			resp.status, hasStatus, sufficient = code, true, true
			continue
		case "Location", "Content-Type":
			if val == "" {
				continue // an empty redirect target or type says nothing
			}
			sufficient = true
		case "Content-Length":
			resp.contentLength = val
			continue
		case "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer":
			continue // the host frames the response itself
		}
		if vs, seen := resp.header[key]; seen {
			resp.header[key] = append(vs, val)
		} else {
			values = append(values, val)
			resp.header[key] = values[len(values)-1 : len(values) : len(values)]
		}
	}
	if !sufficient {
		return errNoResponseHeaders
	}
	if !hasStatus {
		resp.status = http.StatusOK
		if resp.header.Get("Location") != "" {
			resp.status = http.StatusFound
		}
	}
	return nil
}

// parseHeaderLine splits a header line "name: value" into the canonical
// name and the trimmed value, refusing malformed names and control
// characters in values.
func parseHeaderLine(line string) (key, val string, err error) {
	name, value, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", fmt.Errorf("malformed header line %q", truncate([]byte(line), 80))
	}
	name = strings.TrimSpace(name)
	key, ok = commonResponseHeaders[name]
	if !ok {
		key = http.CanonicalHeaderKey(name)
	}
	if !validHeaderName(key) {
		return "", "", fmt.Errorf("malformed header name %q", truncate([]byte(name), 80))
	}
	val = strings.TrimSpace(value)
	if !validHeaderValue(val) {
		return "", "", fmt.Errorf("control character in header %s", key)
	}
	return key, val, nil
}

// commonResponseHeaders maps header names as guests usually write them
// to their canonical form, saving CanonicalHeaderKey's allocation.
var commonResponseHeaders = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Status", "Content-Type", "Content-Length", "Location", "Etag", "Last-Modified",
		"Cache-Control", "Vary", "Accept-Ranges", "Content-Encoding", "Content-Range",
		"Allow", "Expires", "Set-Cookie", "Content-Disposition", "Content-Language",
		"Access-Control-Allow-Origin", "X-Content-Type-Options", "Link", "Retry-After",
		"Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer",
	} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	return m
}()

// parseStatus reads "404" or "404 Not Found". Informational (1xx) codes
// are refused: a CGI response is always final.
func parseStatus(v string) (int, error) {
	word, _, _ := strings.Cut(v, " ")
	code, err := strconv.Atoi(word)
	if err != nil || len(word) != 3 || code < 200 || code > 599 {
		return 0, fmt.Errorf("invalid status header %q", truncate([]byte(v), 40))
	}
	return code, nil
}

// validHeaderName reports whether s is a non-empty HTTP token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue rejects control characters other than tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// truncate returns b as a string, cut to n bytes and marked when longer.
func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
