/* common.h: the response buffer and small helpers the handlers' cores (redirect.h,
 * fileserver.h) share with both of their front ends, wagi.h (a WAGI module: CGI over
 * WASI) and httpwasm.h (an http-wasm middleware guest, run inside Traefik).
 *
 * A core writes its response as a CGI header block ("status: 302\nlocation: /x\n")
 * in one growable buffer, then calls flush_with(body, n) and, for more of the body,
 * write_all(p, n); the front end defines those two and turns the block into what its
 * host wants. It avoids stdio/printf to keep the modules small. Everything here is
 * static: each module is a single translation unit.
 */
#ifndef WHISKERS_COMMON_H
#define WHISKERS_COMMON_H

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

/* die, defined by the front end, ends a request that cannot go on: out of memory
 * (code 70, EX_SOFTWARE, as libc says it) or WASI failing (71, EX_OSERR). The WAGI module
 * exits with the code; the http-wasm guest bounds its inputs so that it never gets
 * there (it traps). */
static void die(int code);

/* flush_with, defined by the front end, sends the header block and then n bytes
 * of body, and empties the block. */
static void flush_with(const char *body, size_t n);

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
	if (!np) die(70);
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

/* put_length appends the content-length header. */
static __attribute__((unused)) void put_length(uint64_t n) {
	puts_("content-length: ");
	putu(n);
	putc_('\n');
}

/* text_response answers status with a plain-text body of n bytes, sent unless
 * head (a HEAD request: the headers only). */
static __attribute__((unused)) void text_response(const char *status, const char *body, size_t n, int head) {
	header("status", status);
	header("content-type", "text/plain; charset=utf-8");
	put_length(n);
	flush_with(body, head ? 0 : n);
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

#endif
