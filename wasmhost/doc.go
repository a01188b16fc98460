// Package wasmhost runs WAGI handlers (CGI over WASI preview 1) with
// wazero: every HTTP request gets a fresh, anonymous instance of its
// handler's precompiled module, which is closed when the response is done.
//
// Data enters as an HTTP request and a YAML Config (LoadConfig). The Host
// routes the request to a handler (X-Whiskers-Handler header, else the
// longest route prefix), passes the request as WAGI environment
// variables, argv and stdin, runs the guest under per-handler limits
// (timeout, memory pages, request body, response size, concurrent
// instances) and turns its stdout (CGI headers, blank line, body) into
// the HTTP response. Server adds config reloading, /healthz and
// /metrics; Listen opens a Unix socket or TCP listener.
//
// The environment a guest sees, for a handler with route /old and the
// request GET /old/a%20b?x=1:
//
//	SCRIPT_NAME=/old           the route ("" for the route "/")
//	PATH_INFO=/a b             the rest of the path, decoded
//	X_RAW_PATH_INFO=/a%20b     the rest of the path, as sent
//	X_MATCHED_ROUTE=/old
//	QUERY_STRING=x=1
//	REQUEST_METHOD, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL,
//	GATEWAY_INTERFACE=CGI/1.1, REMOTE_ADDR, CONTENT_LENGTH, CONTENT_TYPE,
//	X_FULL_URL, HTTP_<HEADER> (never Authorization), plus the handler's env.
//
// and argv is ["/old", "x=1"] with the default template.
package wasmhost
