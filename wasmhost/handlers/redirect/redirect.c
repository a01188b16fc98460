/* redirect: a WAGI handler that answers every request with an HTTP redirect.
 *
 * Build (from wasmhost/handlers, as `make` does; the output is byte-for-byte reproducible):
 *   clang --target=wasm32-wasi -O2 -Wall -Wextra -ffile-prefix-map=$(CURDIR)=. \
 *     -fdebug-prefix-map=$(CURDIR)=. -fno-ident -Wl,--strip-all -Wl,-z,stack-size=16384 \
 *     -o redirect/redirect.wasm redirect/redirect.c
 *
 * Configuration (handler env):
 *   DESTINATION   required: absolute URL or path to redirect to. Unset/empty: 500.
 *   STATUS        301, 302, 303, 307 or 308; anything else (or unset) gives 302.
 *                 STATUSCODE (spin-redirect's name) is read when STATUS is unset.
 *   INCLUDE_PATH  truthy (1/true/yes/on): append the request path (PATH_INFO, taken raw
 *                 from X_RAW_PATH_INFO when the host sets it) to DESTINATION's path.
 *   TRIM_PREFIX   with INCLUDE_PATH: strip this prefix from the request path first.
 *   KEEP_QUERY    truthy: append the request's QUERY_STRING (joined with & when
 *                 DESTINATION already has a query). A #fragment in DESTINATION stays last.
 * The response has `status:`, `location:` and an empty body. Control characters, spaces
 * and non-ASCII bytes copied from the request are percent-encoded, so a request can never
 * inject a header, and a request path never turns the location into `//host`.
 */
#include "../wagi.h"

static void fail(const char *msg) {
	header("status", "500");
	header("content-type", "text/plain; charset=utf-8");
	size_t n = strlen(msg);
	puts_("content-length: ");
	putu(n);
	putc_('\n');
	flush_with(msg, n);
	write(2, msg, n);
}

static int status_code(void) {
	const char *s = env("STATUS");
	if (!s) s = env("STATUSCODE");
	if (!s) return 302;
	static const char *const ok[] = {"301", "302", "303", "307", "308"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strcmp(s, ok[i]) == 0) return atoi(s);
	return 302;
}

/* put_escaped appends s, percent-encoding bytes that may not appear raw in a Location
 * header. When decoded is set, s is a decoded path and %, ? and # are encoded too. */
static void put_escaped(const char *s, size_t n, int decoded) {
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '"' ||
		    (decoded && (c == '%' || c == '?' || c == '#'))) {
			putc_('%');
			putc_("0123456789ABCDEF"[c >> 4]);
			putc_("0123456789ABCDEF"[c & 15]);
		} else {
			putc_((char)c);
		}
	}
}

int main(void) {
	const char *dest = env("DESTINATION");
	if (!dest) {
		fail("redirect: DESTINATION is not set in the handler's env\n");
		return 0;
	}
	for (const char *p = dest; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			fail("redirect: DESTINATION contains control characters\n");
			return 0;
		}

	/* Split DESTINATION into path part, query (without '?') and fragment (with '#'). */
	size_t dlen = strlen(dest);
	const char *frag = strchr(dest, '#');
	size_t fraglen = frag ? dlen - (size_t)(frag - dest) : 0;
	size_t nofrag = dlen - fraglen;
	const char *q = memchr(dest, '?', nofrag);
	size_t baselen = q ? (size_t)(q - dest) : nofrag;
	const char *dq = q ? q + 1 : "";
	size_t dqlen = q ? nofrag - baselen - 1 : 0;

	int code = status_code();
	header("status", code == 301 ? "301" : code == 303 ? "303" : code == 307 ? "307" : code == 308 ? "308" : "302");
	puts_("location: ");
	size_t start = out.n;
	putn(dest, baselen);

	if (truthy(getenv("INCLUDE_PATH"))) {
		const char *path = getenv("X_RAW_PATH_INFO");
		int decoded = 0;
		if (!path) {
			path = getenv("PATH_INFO");
			decoded = 1;
		}
		if (!path) path = "";
		const char *trim = env("TRIM_PREFIX");
		if (trim && strncmp(path, trim, strlen(trim)) == 0) path += strlen(trim);
		size_t plen = strlen(path);
		if (plen > 0) {
			int base_slash = baselen > 0 && dest[baselen - 1] == '/';
			if (base_slash)
				while (plen > 0 && *path == '/') path++, plen--;
			else if (*path != '/' && baselen > 0)
				putc_('/');
			put_escaped(path, plen, decoded);
		}
	}

	const char *rq = truthy(getenv("KEEP_QUERY")) ? env("QUERY_STRING") : NULL;
	if (dqlen || rq) putc_('?');
	putn(dq, dqlen);
	if (dqlen && rq) putc_('&');
	if (rq) put_escaped(rq, strlen(rq), 0);
	putn(frag ? frag : "", fraglen);

	/* Never let the request turn a local path into a protocol-relative "//host" URL. */
	if (!(dest[0] == '/' && dest[1] == '/')) {
		size_t extra = 0;
		while (start + extra + 1 < out.n && out.p[start] == '/' && out.p[start + extra + 1] == '/') extra++;
		if (extra) {
			memmove(out.p + start, out.p + start + extra, out.n - start - extra);
			out.n -= extra;
		}
	}
	putc_('\n');
	header("content-length", "0");
	flush_with(NULL, 0);
	return 0;
}
