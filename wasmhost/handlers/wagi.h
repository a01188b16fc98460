/* wagi.h: the WAGI front end of the handlers. A WAGI guest reads the request from its
 * environment (REQUEST_METHOD, PATH_INFO, HTTP_<HEADER>, ...) and stdin, and writes CGI
 * headers, a blank line and the body to stdout, with as few fd_write calls as possible.
 */
#ifndef WHISKERS_WAGI_H
#define WHISKERS_WAGI_H

#include "common.h"

static __attribute__((unused)) void die(int code) { _Exit(code); }

/* write_all writes n bytes to stdout, or exits: a broken stdout cannot be reported. */
static __attribute__((unused)) void write_all(const char *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w <= 0) _Exit(74);
		p += w;
		n -= (size_t)w;
	}
}

/* flush_with writes the header block (ended by the blank line) and then body in one
 * writev when possible, and empties the block. */
static __attribute__((unused)) void flush_with(const char *body, size_t n) {
	putc_('\n');
	struct iovec iov[2] = {{out.p, out.n}, {(void *)body, n}};
	int cnt = n ? 2 : 1;
	ssize_t w = writev(1, iov, cnt);
	if (w < 0) _Exit(74);
	size_t done = (size_t)w;
	if (done < out.n) {
		write_all(out.p + done, out.n - done);
		done = out.n;
	}
	if (done - out.n < n) write_all(body + (done - out.n), n - (done - out.n));
	out.n = 0;
}

/* abort_body ends a response whose headers are gone already: the file shrank under the
 * handler, which cannot say so any more; the host sees the guest fail. */
static __attribute__((unused)) void abort_body(void) { _Exit(74); }

/* log_error writes a message for the operator to stderr, which the host logs. */
static __attribute__((unused)) void log_error(const char *msg, size_t n) { write(2, msg, n); }

/* env returns the variable's value, or NULL when unset or empty. */
static __attribute__((unused)) const char *env(const char *name) {
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

#endif
