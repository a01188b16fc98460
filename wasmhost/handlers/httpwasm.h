/* httpwasm.h: the http-wasm front end of the handlers, for Traefik's wasm middleware
 * plugins (http-wasm-host-go). The guest is a reactor: the host calls handle_request
 * for each request, on an instance it pools and reuses, so nothing may carry over from
 * one request to the next: a front end resets what its core keeps (out.n here, vars
 * there) at the start of every request. It never exits (an exit poisons the pooled
 * instance) and never traps on any input: the request's URI and headers are read into
 * one bounded static arena, and what does not fit is answered 414 or 431 before the
 * core sees it.
 *
 * The options arrive as JSON (get_config): one object of strings, numbers, booleans
 * or null. Each name is turned into its env spelling (cacheControl -> CACHE_CONTROL,
 * custom404Path -> CUSTOM_404_PATH; names already spelt so stay) and kept as a
 * "NAME=value" entry in cfg_env, the list the cores read their options from.
 */
#ifndef WHISKERS_HTTPWASM_H
#define WHISKERS_HTTPWASM_H

#include "common.h"

#define HOST_FN(name) __attribute__((import_module("http_handler"), import_name(name)))

HOST_FN("get_config") uint32_t hw_get_config(char *buf, uint32_t limit);
HOST_FN("log") void hw_log(int32_t level, const char *msg, uint32_t n);
HOST_FN("get_method") uint32_t hw_get_method(char *buf, uint32_t limit);
HOST_FN("get_uri") uint32_t hw_get_uri(char *buf, uint32_t limit);
HOST_FN("get_header_values")
uint64_t hw_get_header_values(uint32_t kind, const char *name, uint32_t name_len, char *buf, uint32_t limit);
HOST_FN("set_header_value")
void hw_set_header_value(uint32_t kind, const char *name, uint32_t name_len, const char *value, uint32_t value_len);
HOST_FN("set_status_code") void hw_set_status_code(uint32_t code);
HOST_FN("write_body") void hw_write_body(uint32_t kind, const char *body, uint32_t n);

enum { HW_REQUEST = 0, HW_RESPONSE = 1, HW_LOG_ERROR = 2 };

/* die is never reached: the inputs are bounded to fit the memory. Should it be, the
 * trap answers 500 with the host's error text. */
static __attribute__((unused)) void die(int code) {
	(void)code;
	__builtin_trap();
}

static __attribute__((unused)) void log_error(const char *msg, size_t n) {
	hw_log(HW_LOG_ERROR, msg, (uint32_t)n);
}

/* write_all sends n more bytes of the body. */
static __attribute__((unused)) void write_all(const char *p, size_t n) {
	if (n) hw_write_body(HW_RESPONSE, p, (uint32_t)n);
}

/* abort_body ends a response whose headers are gone already: the body stays short,
 * and the server, seeing less than Content-Length, closes the connection. */
static __attribute__((unused)) void abort_body(void) {}

/* flush_with hands the header block to the host (each "name: value" line a response
 * header, "status: N" the status code, set last: the host sends the headers then),
 * then body, and empties the block. */
static __attribute__((unused)) void flush_with(const char *body, size_t n) {
	uint32_t status = 200;
	const char *p = out.p, *end = out.p + out.n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) nl = end;
		const char *colon = memchr(p, ':', (size_t)(nl - p));
		if (colon && colon > p) {
			const char *v = colon + 1;
			if (v < nl && *v == ' ') v++;
			size_t nlen = (size_t)(colon - p), vlen = (size_t)(nl - v);
			if (nlen == 6 && memcmp(p, "status", 6) == 0) {
				status = 0;
				for (size_t i = 0; i < vlen && i < 3; i++) status = status * 10 + (uint32_t)(v[i] - '0');
			} else {
				hw_set_header_value(HW_RESPONSE, p, (uint32_t)nlen, v, (uint32_t)vlen);
			}
		}
		p = nl + 1;
	}
	hw_set_status_code(status);
	write_all(body, n);
	out.n = 0;
}

/* ---- the options ---- */

static char **cfg_env;   /* NULL-terminated "NAME=value" entries */
static const char *cfg_err; /* why the options are unusable; NULL when they are fine */

/* cfg_get is the value of the option NAME (env spelling), NULL when unset or empty. */
static __attribute__((unused)) const char *cfg_get(const char *name) {
	size_t n = strlen(name);
	for (char **e = cfg_env; *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return (*e)[n + 1] ? *e + n + 1 : NULL;
	return NULL;
}

static int is_lower(char c) { return c >= 'a' && c <= 'z'; }
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static const char *json_ws(const char *p, const char *end) {
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
	return p;
}

static void put_utf8(char **w, unsigned cp) {
	char *o = *w;
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 63));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 63));
		*o++ = (char)(0x80 | (cp & 63));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 63));
		*o++ = (char)(0x80 | (cp >> 6 & 63));
		*o++ = (char)(0x80 | (cp & 63));
	}
	*w = o;
}

static int hex4(const char *p, const char *end, unsigned *v) {
	if (end - p < 4) return -1;
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		unsigned d = is_digit(c) ? (unsigned)(c - '0') : (c | 32) >= 'a' && (c | 32) <= 'f' ? (unsigned)((c | 32) - 'a' + 10) : 16;
		if (d > 15) return -1;
		*v = *v << 4 | d;
	}
	return 0;
}

/* json_string decodes the string at p (after its opening quote) into *w (no longer than
 * the input) and returns the byte after its closing quote, or NULL. A NUL in it, which
 * no option may hold, is refused. */
static const char *json_string(const char *p, const char *end, char **w) {
	while (p < end && *p != '"') {
		unsigned char c = (unsigned char)*p++;
		if (c < 0x20) return NULL;
		if (c != '\\') {
			*(*w)++ = (char)c;
			continue;
		}
		if (p == end) return NULL;
		char e = *p++;
		unsigned cp;
		switch (e) {
		case '"': case '\\': case '/': *(*w)++ = e; break;
		case 'b': *(*w)++ = '\b'; break;
		case 'f': *(*w)++ = '\f'; break;
		case 'n': *(*w)++ = '\n'; break;
		case 'r': *(*w)++ = '\r'; break;
		case 't': *(*w)++ = '\t'; break;
		case 'u':
			if (hex4(p, end, &cp) != 0) return NULL;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
				unsigned lo;
				if (hex4(p + 2, end, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			if (cp == 0) return NULL;
			put_utf8(w, cp); /* \uXXXX is 6 input bytes, at most 4 output */
			break;
		default: return NULL;
		}
	}
	return p < end ? p + 1 : NULL;
}

/* put_env_name writes the option name key (n bytes) in its env spelling. */
static void put_env_name(char **w, const char *key, size_t n) {
	for (size_t i = 0; i < n; i++) {
		char c = key[i], prev = i ? key[i - 1] : 0;
		if ((is_upper(c) && (is_lower(prev) || is_digit(prev))) || (is_digit(c) && is_lower(prev)) ||
		    (is_lower(c) && is_digit(prev)))
			*(*w)++ = '_';
		*(*w)++ = is_lower(c) ? (char)(c - 32) : c;
	}
}

/* load_config reads the options into cfg_env, or sets cfg_err. */
static void load_config(void) {
	static char *no_entries[1];
	cfg_env = no_entries;
	uint32_t n = hw_get_config(NULL, 0);
	if (n == 0) return;
	char *json = malloc(n);
	/* Each entry is at most its JSON bytes, one '_' per name byte, and the NUL. */
	char *buf = malloc(2 * (size_t)n + 2);
	char **entries = malloc(((size_t)n / 4 + 2) * sizeof *entries); /* "":1 is 4 bytes */
	char *key = malloc(n);
	if (!json || !buf || !entries || !key) {
		cfg_err = "the options do not fit in memory";
		return;
	}
	hw_get_config(json, n);
	const char *p = json_ws(json, json + n), *end = json + n;
	char *w = buf;
	size_t count = 0;
	static char bad[] = "the options are not a JSON object of strings, numbers and booleans";
	if (p == end || *p++ != '{') goto fail;
	p = json_ws(p, end);
	if (p < end && *p == '}') goto done;
	for (;;) {
		if (p == end || *p++ != '"') goto fail;
		char *name = w;
		char *kw = key;
		if (!(p = json_string(p, end, &kw))) goto fail;
		put_env_name(&w, key, (size_t)(kw - key));
		*w++ = '=';
		p = json_ws(p, end);
		if (p == end || *p++ != ':') goto fail;
		p = json_ws(p, end);
		if (p == end) goto fail;
		int unset = 0;
		if (*p == '"') {
			if (!(p = json_string(p + 1, end, &w))) goto fail;
		} else if (*p == '{' || *p == '[') {
			goto fail;
		} else { /* true, false, null or a number: taken as written */
			const char *s = p;
			while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') p++;
			unset = p - s == 4 && memcmp(s, "null", 4) == 0;
			memcpy(w, s, (size_t)(p - s));
			w += p - s;
		}
		*w++ = 0;
		if (unset) w = name;
		else entries[count++] = name;
		p = json_ws(p, end);
		if (p < end && *p == ',') {
			p = json_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}') break;
		goto fail;
	}
done:
	entries[count] = NULL;
	cfg_env = entries;
	free(json);
	free(key);
	return;
fail:
	cfg_err = bad;
	free(json);
	free(key);
}

/* ---- the request ----
 *
 * Everything read from the request goes into one static arena, emptied at the start of
 * each request. */

enum { ARENA = 16 * 1024 };
static char arena[ARENA];
static size_t arena_used;

/* too_big is set when a part of the request did not fit: the request is answered 414
 * (the URI) or 431 (a header) instead. */
static const char *too_big;

/* req_method is the request's method. */
static __attribute__((unused)) const char *req_method(void) {
	char *b = arena + arena_used;
	uint32_t room = (uint32_t)(ARENA - arena_used - 1);
	uint32_t n = hw_get_method(b, room);
	if (n > room) {
		too_big = "431";
		return "GET";
	}
	b[n] = 0;
	arena_used += n + 1;
	return b;
}

/* req_uri reads the request target ("/escaped/path?query") and sets *path (raw, as
 * sent) and *query (NULL when there is none). */
static __attribute__((unused)) void req_uri(const char **path, const char **query) {
	char *b = arena + arena_used;
	uint32_t room = (uint32_t)(ARENA - arena_used - 1);
	uint32_t n = hw_get_uri(b, room);
	if (n > room) {
		too_big = "414";
		*path = "/";
		*query = NULL;
		return;
	}
	b[n] = 0;
	arena_used += n + 1;
	char *q = memchr(b, '?', n);
	if (q) *q++ = 0;
	*path = b;
	*query = q;
}

static int unhex(char c) {
	return is_digit(c) ? c - '0' : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
}

/* req_decode is the percent-decoded copy of the raw path (a '%' not followed by two hex
 * digits stays as it is). */
static __attribute__((unused)) const char *req_decode(const char *raw) {
	size_t n = strlen(raw);
	if (n + 1 > ARENA - arena_used) { /* cannot be: raw came from the arena */
		too_big = "414";
		return "/";
	}
	char *b = arena + arena_used, *w = b;
	for (const char *p = raw; *p; p++) {
		int hi, lo;
		if (*p == '%' && (hi = unhex(p[1])) >= 0 && (lo = unhex(p[2])) >= 0) {
			*w++ = (char)(hi << 4 | lo);
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w++ = 0;
	arena_used += (size_t)(w - b);
	return b;
}

/* req_header is the request header name's values joined with ", ", NULL when absent.
 * name is a string literal. */
#define req_header(name) req_header_((name), sizeof(name) - 1)

static __attribute__((unused)) const char *req_header_(const char *name, size_t n) {
	char *b = arena + arena_used;
	uint32_t room = (uint32_t)(ARENA - arena_used - 1);
	uint64_t r = hw_get_header_values(HW_REQUEST, name, (uint32_t)n, b, room);
	uint32_t count = (uint32_t)(r >> 32), len = (uint32_t)r;
	if (count == 0) return NULL;
	if (len > room) {
		too_big = "431";
		return NULL;
	}
	arena_used += len; /* the values, each NUL-terminated, one after the other */
	if (count == 1) return b;
	/* Joined after them: ", " for each NUL but the last. */
	size_t joined = (size_t)len + count - 1;
	if (joined > ARENA - arena_used) {
		too_big = "431";
		return NULL;
	}
	char *j = arena + arena_used, *w = j;
	for (uint32_t i = 0, at = 0; i < count; i++) {
		if (i) {
			*w++ = ',';
			*w++ = ' ';
		}
		size_t vl = strlen(b + at);
		memcpy(w, b + at, vl);
		w += vl;
		at += (uint32_t)vl + 1;
	}
	*w++ = 0;
	arena_used += (size_t)(w - j);
	return j;
}

/* req_start empties what the previous request left. */
static __attribute__((unused)) void req_start(void) {
	arena_used = 0;
	too_big = NULL;
	out.n = 0;
	if (!cfg_env) load_config();
}

/* answer_plain answers status with a short text body (body a string literal). */
#define answer_plain(status, body) text_response((status), (body), sizeof(body) - 1, 0)

/* handle_response is called after the next handler answered; there is nothing to do. */
__attribute__((export_name("handle_response"))) void handle_response(uint32_t ctx, uint32_t is_error) {
	(void)ctx;
	(void)is_error;
}

#endif
