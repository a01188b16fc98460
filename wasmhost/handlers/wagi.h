/* wagi.h: tiny helpers shared by the whiskers WAGI handlers (redirect, fileserver).
 *
 * A WAGI guest reads the request from its environment (REQUEST_METHOD, PATH_INFO,
 * HTTP_<HEADER>, ...) and stdin, and writes CGI headers, a blank line and the body to
 * stdout. These helpers build the header block in one growable buffer and write it with
 * as few fd_write calls as possible; they avoid stdio/printf to keep the modules small.
 * Everything here is static: each handler is a single translation unit.
 */
#ifndef WHISKERS_WAGI_H
#define WHISKERS_WAGI_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

/* REP8 repeats a loop step eight times. Under the host's time limit every iteration of a
 * guest loop costs a check through the host, so a loop whose body is REP8(step), each
 * step leaving the loop when done, pays one check per eight steps. */
#define REP4(s) s s s s
#define REP8(s) REP4(s) REP4(s)

/* out is the response header block under construction. It starts in static storage and
 * moves to the heap only if it outgrows it: a first malloc sets up the allocator, loops
 * and all. */
static char out_static[2048];
static struct {
	char *p;
	size_t n, cap;
} out = {out_static, 0, sizeof out_static};

static __attribute__((unused)) void out_grow(size_t need) {
	if (out.n + need <= out.cap) return;
	size_t c = out.cap * 2;
	while (c < out.n + need) c *= 2;
	char *np = out.p == out_static ? malloc(c) : realloc(out.p, c);
	if (!np) _Exit(70);
	if (out.p == out_static) memcpy(np, out.p, out.n);
	out.p = np;
	out.cap = c;
}

static __attribute__((unused)) void putn(const char *s, size_t n) {
	out_grow(n);
	memcpy(out.p + out.n, s, n);
	out.n += n;
}

/* puts_ is inlined for the same reason as header, below. */
static inline __attribute__((unused, always_inline)) void puts_(const char *s) { putn(s, strlen(s)); }

static __attribute__((unused)) void putc_(char c) { putn(&c, 1); }

/* putu and putx write a number in decimal and hex. Their digit loops have a constant trip
 * count and are unrolled, for the same reason as header's inlining. */
static __attribute__((unused)) void putu(uint64_t v) {
	char b[20]; /* 2^64 has 20 decimal digits */
	int i = sizeof b;
#pragma clang loop unroll(full)
	for (int k = 0; k < 20; k++) {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
		if (!v) break;
	}
	putn(b + i, sizeof b - i);
}

static __attribute__((unused)) void putx(uint64_t v) {
	char b[16];
	int i = sizeof b;
#pragma clang loop unroll(full)
	for (int k = 0; k < 16; k++) {
		b[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
		if (!v) break;
	}
	putn(b + i, sizeof b - i);
}

/* header appends "name: value\n". It is inlined so that the lengths of literal names and
 * values are known at compile time: a strlen is a loop, and under the host's time limit
 * every guest loop iteration costs a check through the host. */
static inline __attribute__((unused, always_inline)) void header(const char *name, const char *value) {
	puts_(name);
	putn(": ", 2);
	puts_(value);
	putc_('\n');
}

/* header_n is header with a value of known length n. */
static inline __attribute__((unused, always_inline)) void header_n(const char *name, const char *value,
                                                                   size_t n) {
	puts_(name);
	putn(": ", 2);
	putn(value, n);
	putc_('\n');
}

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

static __attribute__((unused)) int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* truthy reports whether an environment value means "on": 1, true, yes, on (any case).
 * It reads at most five bytes, without a loop. */
static __attribute__((unused)) int truthy(const char *v) {
	if (!v) return 0;
	char b[4];
	size_t n = 0;
#pragma clang loop unroll(full)
	for (int k = 0; k < 4; k++) {
		if (!v[k]) break;
		b[k] = (char)lower((unsigned char)v[k]);
		n++;
	}
	if (v[n]) return 0; /* longer than "true" */
	switch (n) {
	case 1: return b[0] == '1';
	case 2: return b[0] == 'o' && b[1] == 'n';
	case 3: return b[0] == 'y' && b[1] == 'e' && b[2] == 's';
	case 4: return b[0] == 't' && b[1] == 'r' && b[2] == 'u' && b[3] == 'e';
	}
	return 0;
}

/* env returns the variable's value, or NULL when unset or empty. */
static __attribute__((unused)) const char *env(const char *name) {
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

#endif
