/* redirect.h: the redirect handler's core, shared by its WAGI module (redirect.c) and its
 * http-wasm guest (edge.c). It answers every request with an HTTP redirect.
 *
 * The front end includes wagi.h or httpwasm.h first, and defines OPT_DESTINATION and
 * OPT_PLACE, the option's name and where it is set, for the error messages.
 */
#ifndef WHISKERS_REDIRECT_H
#define WHISKERS_REDIRECT_H

/* redirect is the handler's configuration. */
struct redirect {
	const char *dest;        /* DESTINATION; NULL when unset or empty */
	const char *status;      /* STATUS (or spin-redirect's STATUSCODE); NULL when unset */
	int include_path;        /* INCLUDE_PATH is truthy */
	const char *trim_prefix; /* TRIM_PREFIX; NULL when unset or empty */
	int keep_query;          /* KEEP_QUERY is truthy */
};

static void redirect_fail(const char *msg, size_t n) {
	text_response("500", msg, n, 0);
	log_error(msg, n);
}

/* redirect_code is the status to answer with: 301, 302, 303, 307 or 308 as configured,
 * anything else 302. */
static const char *redirect_code(const char *s) {
	if (!s) return "302";
	static const char *const ok[] = {"301", "302", "303", "307", "308"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strcmp(s, ok[i]) == 0) return ok[i];
	return "302";
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

/* redirect_respond answers with the redirect for the request path (raw, or decoded when
 * decoded is set; NULL when unknown) and query (NULL when none), or with a 500 when the
 * configuration is unusable. */
static void redirect_respond(const struct redirect *r, const char *path, int decoded, const char *query) {
	const char *dest = r->dest;
	if (!dest) {
		static const char msg[] = "redirect: " OPT_DESTINATION " is not set in " OPT_PLACE "\n";
		redirect_fail(msg, sizeof msg - 1);
		return;
	}
	for (const char *p = dest; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			static const char msg[] = "redirect: " OPT_DESTINATION " contains control characters\n";
			redirect_fail(msg, sizeof msg - 1);
			return;
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

	header("status", redirect_code(r->status));
	puts_("location: ");
	size_t start = out.n;
	putn(dest, baselen);

	if (r->include_path) {
		if (!path) path = "";
		const char *trim = r->trim_prefix;
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

	const char *rq = r->keep_query && query && *query ? query : NULL;
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
}

#endif
