/* fileserver.h: the fileserver handler's core, shared by its WAGI module (fileserver.c)
 * and its http-wasm guest (edge.c); fileserver.c documents what it does. The front end
 * includes wagi.h or httpwasm.h first, fills vars (load_var takes "NAME=value"
 * entries), sets envp, and calls fileserver_respond.
 */
#ifndef WHISKERS_FILESERVER_H
#define WHISKERS_FILESERVER_H

#include <errno.h>
#include <sys/stat.h>
#include <wasi/api.h>

enum { CHUNK = 64 * 1024 };

static int is_head;

/* ---- the request and the options ---- */

/* envp is the NULL-terminated list of "NAME=value" entries getvar looks in: the
 * environment (WAGI) or the options (http-wasm). */
static char **envp;

static struct {
	const char *method, *raw_path, *path_info, *script_name, *query;
	const char *root, *index, *fallback, *custom404, *precompressed, *fallthrough;
	const char *cache_control;
	int cache_control_ext; /* some CACHE_CONTROL_<EXT> is set */
	const char *accept_encoding, *if_none_match, *if_modified_since, *range, *if_range;
} vars;

/* starts_with reports whether s starts with the n bytes of want (which hold no NUL). */
static inline __attribute__((always_inline)) int starts_with(const char *s, const char *want, size_t n) {
#pragma clang loop unroll(full)
	for (size_t i = 0; i < n; i++)
		if (s[i] != want[i]) return 0;
	return 1;
}

/* var_is reports whether the entry e ("NAME=value") is the variable lit, a string
 * literal, and then sets *v to its value unless an earlier entry set it (getenv's rule). */
#define var_is(e, lit, v) var_is_((e), lit "=", sizeof(lit), (v))

static inline __attribute__((always_inline)) int var_is_(const char *e, const char *want, size_t n,
                                                         const char **v) {
	if (!starts_with(e, want, n)) return 0;
	if (!*v) *v = e + n;
	return 1;
}

static inline __attribute__((always_inline)) void load_var(const char *e) {
	switch (e[0]) {
	case 'C':
		if (var_is(e, "CACHE_CONTROL", &vars.cache_control)) break;
		if (var_is(e, "CUSTOM_404_PATH", &vars.custom404)) break;
		if (starts_with(e, "CACHE_CONTROL_", 14)) vars.cache_control_ext = 1;
		break;
	case 'F':
		if (var_is(e, "FALLBACK_PATH", &vars.fallback)) break;
		var_is(e, "FALLTHROUGH", &vars.fallthrough);
		break;
	case 'H':
		if (!starts_with(e, "HTTP_", 5)) break;
		e += 5;
		if (var_is(e, "ACCEPT_ENCODING", &vars.accept_encoding)) break;
		if (var_is(e, "IF_NONE_MATCH", &vars.if_none_match)) break;
		if (var_is(e, "IF_MODIFIED_SINCE", &vars.if_modified_since)) break;
		if (var_is(e, "IF_RANGE", &vars.if_range)) break;
		var_is(e, "RANGE", &vars.range);
		break;
	case 'I': var_is(e, "INDEX", &vars.index); break;
	case 'P':
		if (var_is(e, "PATH_INFO", &vars.path_info)) break;
		var_is(e, "PRECOMPRESSED", &vars.precompressed);
		break;
	case 'Q': var_is(e, "QUERY_STRING", &vars.query); break;
	case 'R':
		if (var_is(e, "REQUEST_METHOD", &vars.method)) break;
		var_is(e, "ROOT", &vars.root);
		break;
	case 'S': var_is(e, "SCRIPT_NAME", &vars.script_name); break;
	case 'X': var_is(e, "X_RAW_PATH_INFO", &vars.raw_path); break;
	}
}

/* getvar is getenv over envp, for a name of n bytes. */
static const char *getvar(const char *name, size_t n) {
	for (char **ep = envp; *ep; ep++) {
		const char *e = *ep;
		size_t i = 0;
		while (i < n && e[i] == name[i]) i++;
		if (i == n && e[n] == '=') return e + n + 1;
	}
	return NULL;
}

/* nonempty is v, or NULL when v is unset or empty (as env() in wagi.h). */
static const char *nonempty(const char *v) { return v && *v ? v : NULL; }

/* ---- small string helpers ---- */

static inline __attribute__((always_inline)) int ieq(const char *a, const char *b, size_t n) {
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
	return 1;
}

/* slen is strlen with eight bytes per loop iteration. */
static size_t slen(const char *s) {
	const char *p = s;
	for (;;) {
		REP8({
			if (!*p) return (size_t)(p - s);
			p++;
		})
	}
}

static const char *skip_ows(const char *p) {
	while (*p == ' ' || *p == '\t') p++;
	return p;
}

/* path is ROOT + "/" + the cleaned relative path, built in a growable buffer that starts
 * in static storage. */
static char path_static[1024];
static char *path = path_static;
static size_t pathlen, pathcap = sizeof path_static;

/* ---- content types ---- */

/* T is a table entry with the lengths of its strings (no strlen loops). */
#define T(e, t) {e, sizeof(e) - 1, t, sizeof(t) - 1}

static const struct {
	const char *ext;
	size_t len;
	const char *type;
	size_t type_len;
} types[] = {
    T("html", "text/html; charset=utf-8"),
    T("htm", "text/html; charset=utf-8"),
    T("css", "text/css; charset=utf-8"),
    T("js", "text/javascript; charset=utf-8"),
    T("mjs", "text/javascript; charset=utf-8"),
    T("json", "application/json"),
    T("map", "application/json"),
    T("webmanifest", "application/manifest+json"),
    T("txt", "text/plain; charset=utf-8"),
    T("md", "text/markdown; charset=utf-8"),
    T("csv", "text/csv; charset=utf-8"),
    T("xml", "application/xml"),
    T("svg", "image/svg+xml"),
    T("png", "image/png"),
    T("jpg", "image/jpeg"),
    T("jpeg", "image/jpeg"),
    T("gif", "image/gif"),
    T("webp", "image/webp"),
    T("avif", "image/avif"),
    T("ico", "image/x-icon"),
    T("wasm", "application/wasm"),
    T("pdf", "application/pdf"),
    T("woff", "font/woff"),
    T("woff2", "font/woff2"),
    T("ttf", "font/ttf"),
    T("otf", "font/otf"),
    T("mp4", "video/mp4"),
    T("webm", "video/webm"),
    T("mp3", "audio/mpeg"),
    T("ogg", "audio/ogg"),
    T("wav", "audio/wav"),
    T("zip", "application/zip"),
    T("gz", "application/gzip"),
};

/* path_ext returns the extension of the last segment of path ("" when none) and sets *n
 * to its length. It scans back from the end: only the extension's bytes. */
static const char *path_ext(size_t *n) {
	for (size_t i = pathlen;;) {
		REP8({
			if (i == 0) goto none;
			char c = path[i - 1];
			if (c == '/') goto none;
			if (c == '.') {
				if (i - 1 == 0 || path[i - 2] == '/') goto none; /* ".name": no extension */
				*n = pathlen - i;
				return path + i;
			}
			i--;
		})
	}
none:
	*n = 0;
	return "";
}

/* content_type returns the type for the extension e (n bytes) and sets *tn to its length. */
static const char *content_type(const char *e, size_t n, size_t *tn) {
	/* Unrolled: the lengths are constants, so is each comparison's loop. */
#pragma clang loop unroll(full)
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		if (types[i].len == n && ieq(types[i].ext, e, n)) {
			*tn = types[i].type_len;
			return types[i].type;
		}
	}
	static const char other[] = "application/octet-stream";
	*tn = sizeof other - 1;
	return other;
}

static const char *cache_control(const char *e, size_t n) {
	char name[48] = "CACHE_CONTROL_";
	size_t off = sizeof "CACHE_CONTROL_" - 1;
	if (vars.cache_control_ext && n > 0 && n < sizeof name - off) {
		int eq = 0; /* getenv finds no name with a '=' */
		for (size_t i = 0; i < n; i++) {
			char c = e[i];
			name[off + i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
			eq |= c == '=';
		}
		const char *v = eq ? NULL : nonempty(getvar(name, off + n));
		if (v) return v;
	}
	return nonempty(vars.cache_control);
}

/* ---- HTTP dates (IMF-fixdate, always GMT) ---- */

static const char days[] = "ThuFriSatSunMonTueWed"; /* 1970-01-01 was a Thursday */
static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* civil converts days since 1970-01-01 to y/m/d (Howard Hinnant's algorithm). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void put2(unsigned v) {
	putc_((char)('0' + v / 10 % 10));
	putc_((char)('0' + v % 10));
}

static void put_date(int64_t t) {
	int64_t dayn = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t secs = t - dayn * 86400;
	int64_t y;
	unsigned m, d;
	civil(dayn, &y, &m, &d);
	int wd = (int)(((dayn % 7) + 7) % 7);
	putn(days + wd * 3, 3);
	putn(", ", 2);
	put2(d);
	putc_(' ');
	putn(months + (m - 1) * 3, 3);
	putc_(' ');
	putu((uint64_t)(y < 0 ? 0 : y));
	putc_(' ');
	put2((unsigned)(secs / 3600));
	putc_(':');
	put2((unsigned)(secs / 60 % 60));
	putc_(':');
	put2((unsigned)(secs % 60));
	puts_(" GMT");
}

static int num(const char *p, int n) {
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9') return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* parse_date parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); -1 when invalid. */
static int parse_date(const char *s, int64_t *t) {
	if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
	    s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
		return -1;
	int d = num(s + 5, 2), y = num(s + 12, 4), hh = num(s + 17, 2), mm = num(s + 20, 2),
	    ss = num(s + 23, 2);
	int m = 0;
	for (int i = 0; i < 12; i++)
		if (memcmp(months + i * 3, s + 8, 3) == 0) m = i + 1;
	if (d < 1 || d > 31 || y < 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 ||
	    m == 0)
		return -1;
	*t = days_from_civil(y, (unsigned)m, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss;
	return 0;
}

/* ---- simple responses ---- */

static void simple(const char *status, const char *body) { text_response(status, body, slen(body), is_head); }

/* ---- paths ---- */


static void path_add(const char *s, size_t n) {
	if (pathlen + n + 1 > pathcap) {
		size_t c = pathcap * 2;
		while (c < pathlen + n + 1) c *= 2;
		char *np = path == path_static ? malloc(c) : realloc(path, c);
		if (!np) die(70);
		if (path == path_static) memcpy(np, path, pathlen);
		path = np;
		pathcap = c;
	}
	memcpy(path + pathlen, s, n);
	pathlen += n;
	path[pathlen] = 0;
}

/* rootlen is the length of ROOT in path (the part that is trusted configuration);
 * last_slash is the index of the last '/' clean appended (rootlen when none). */
static size_t rootlen, last_slash;

static void path_reset(void) {
	pathlen = 0;
	const char *root = nonempty(vars.root);
	if (!root) root = "/";
	size_t n = slen(root);
	if (n > 0 && root[n - 1] == '/') { /* usually one: no loop iteration for it */
		n--;
		while (n > 0 && root[n - 1] == '/') n--;
	}
	path_add(root, n);
	rootlen = last_slash = pathlen;
}

/* clean appends the segments of the untrusted relative path p to path. It returns -1
 * for a path that must be refused (.., backslash, control characters), else 0, and sets
 * *trailing when p names a directory ("" or ends in "/"). */
static int clean(const char *p, int *trailing) {
	*trailing = 0;
	const char *s = p;
	while (*s) {
		if (*s == '/') { /* usually one: no loop iteration for it */
			s++;
			while (*s == '/') s++;
		}
		const char *e = s;
		for (;;) {
			REP8({
				unsigned char c = (unsigned char)*e;
				if (!c || c == '/') goto end;
				if (c < 0x20 || c == 0x7f || c == '\\') return -1;
				e++;
			})
		}
	end:;
		size_t len = (size_t)(e - s);
		if (len == 2 && s[0] == '.' && s[1] == '.') return -1;
		if (len > 0 && !(len == 1 && s[0] == '.')) {
			last_slash = pathlen;
			path_add("/", 1);
			path_add(s, len);
		}
		s = e;
	}
	*trailing = s == p || s[-1] == '/'; /* s is at the end of p */
	return 0;
}

/* raw_ok reports whether the raw (undecoded) path is free of encoded slashes,
 * backslashes and NULs. */
static int raw_ok(const char *raw) {
	for (const char *p = raw;;) {
		REP8({
			if (!*p) return 1;
			if (p[0] == '%' && p[1] && p[2]) {
				char a = p[1];
				char b = (char)lower((unsigned char)p[2]);
				if ((a == '2' && b == 'f') || (a == '5' && b == 'c') || (a == '0' && b == '0')) return 0;
			}
			p++;
		})
	}
}

/* ---- preopened directories ----
 *
 * The handler resolves a path against the host's preopened directories itself, as
 * wasi-libc's __wasilibc_find_abspath does (the longest matching prefix on a component
 * boundary, a later preopen winning a tie), and calls WASI's path_open and
 * path_filestat_get directly: libc's open asks the host for the directory's rights
 * (fd_fdstat_get) on every call, and libc scans the preopens at startup with mallocs and
 * string loops. */

struct preopen {
	__wasi_fd_t fd;
	const char *prefix; /* without leading "/" and "./" (libc's strip_prefixes) */
	size_t len;
};
static struct preopen pre_static[8], *pre = pre_static;
static size_t npre, precap = sizeof pre_static / sizeof pre_static[0];
static char pre_names[512];
static size_t pre_names_used;
static int pre_loaded;

/* load_preopens lists the preopened directories, fd 3 up to the first EBADF, and exits
 * as libc's startup does when WASI fails (EX_OSERR) or memory runs out (EX_SOFTWARE). */
static void load_preopens(void) {
	pre_loaded = 1;
	for (__wasi_fd_t fd = 3; fd != 0; ++fd) {
		__wasi_prestat_t ps;
		__wasi_errno_t r = __wasi_fd_prestat_get(fd, &ps);
		if (r == __WASI_ERRNO_BADF) break;
		if (r != __WASI_ERRNO_SUCCESS) die(71);
		if (ps.tag != __WASI_PREOPENTYPE_DIR) continue;
		size_t n = ps.u.dir.pr_name_len;
		char *name;
		if (n + 1 <= sizeof pre_names - pre_names_used) {
			name = pre_names + pre_names_used;
			pre_names_used += n + 1;
		} else if (!(name = malloc(n + 1))) {
			die(70);
		}
		if (__wasi_fd_prestat_dir_name(fd, (uint8_t *)name, n) != __WASI_ERRNO_SUCCESS) die(71);
		name[n] = 0;
		if (name[0] == '/' && name[1] == 0) name++; /* the usual "/": no loop iteration */
		for (;;) {
			if (name[0] == '/') name++;
			else if (name[0] == '.' && name[1] == '/') name += 2;
			else if (name[0] == '.' && name[1] == 0) name++;
			else break;
		}
		if (npre == precap) {
			struct preopen *np = malloc(2 * precap * sizeof *np);
			if (!np) die(70);
			memcpy(np, pre, npre * sizeof *np);
			if (pre != pre_static) free(pre);
			pre = np;
			precap *= 2;
		}
		pre[npre++] = (struct preopen){fd, name, slen(name)};
	}
}

/* prefix_matches reports whether the preopen's prefix names p or a directory above it. */
static int prefix_matches(const struct preopen *o, const char *p) {
	if (o->len == 0) return 1; /* p has no leading '/' */
	for (size_t i = 0; i < o->len; i++)
		if (p[i] != o->prefix[i]) return 0;
	size_t i = o->len;
	while (i > 0 && o->prefix[i - 1] == '/') i--;
	return p[i] == '/' || p[i] == 0;
}

/* resolve returns the preopened directory holding the absolute path p and sets *rel to
 * the path relative to it ("." for the directory itself); -1 when none holds it. */
static int resolve(const char *p, const char **rel) {
	if (!pre_loaded) load_preopens();
	if (*p == '/') { /* usually one: no loop iteration for it */
		p++;
		while (*p == '/') p++;
	}
	size_t match = 0;
	int fd = -1;
	for (size_t i = npre; i > 0;) {
		REP4({
			const struct preopen *o = &pre[--i];
			if ((fd == -1 || o->len > match) && prefix_matches(o, p)) {
				fd = (int)o->fd;
				match = o->len;
			}
			if (i == 0) break;
		})
	}
	if (fd < 0) return -1;
	const char *c = p + match;
	if (*c == '/') {
		c++;
		while (*c == '/') c++;
	}
	*rel = *c ? c : ".";
	return fd;
}

/* open_ro opens p read-only without following a symlink in its last component, as
 * open(p, O_RDONLY | O_NOFOLLOW) does. */
static int open_ro(const char *p) {
	const char *rel;
	int dir = resolve(p, &rel);
	if (dir < 0) return -1;
	const __wasi_rights_t rights = __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK |
	                               __WASI_RIGHTS_FD_TELL | __WASI_RIGHTS_FD_FILESTAT_GET |
	                               __WASI_RIGHTS_FD_READDIR;
	__wasi_fd_t fd;
	if (__wasi_path_open((__wasi_fd_t)dir, 0, rel, 0, rights, rights, 0, &fd) != 0) return -1;
	return (int)fd;
}

/* is_dir reports whether p is a directory, not following a symlink in its last
 * component (fstatat with AT_SYMLINK_NOFOLLOW). */
static int is_dir(const char *p) {
	const char *rel;
	int dir = resolve(p, &rel);
	__wasi_filestat_t fs;
	return dir >= 0 && __wasi_path_filestat_get((__wasi_fd_t)dir, 0, rel, &fs) == 0 &&
	       fs.filetype == __WASI_FILETYPE_DIRECTORY;
}

enum { FOUND, IS_DIR, MISSING };

/* open_safe opens path read-only without following a symlink in any component below
 * ROOT. It returns FOUND with *fd and *st set for a regular file, IS_DIR for a directory,
 * MISSING otherwise. */
static int open_safe(int *fd, struct stat *st) {
	/* Intermediate components: each must be a real directory. Only path[..last_slash]
	 * holds their slashes. */
	for (size_t i = rootlen + 1; i <= last_slash;) {
		REP8({
			if (i > last_slash) break;
			if (path[i] == '/') {
				path[i] = 0;
				int d = is_dir(path);
				path[i] = '/';
				if (!d) return MISSING;
			}
			i++;
		})
	}
	int f = open_ro(pathlen ? path : "/");
	if (f < 0) return MISSING;
	if (fstat(f, st) != 0) {
		close(f);
		return MISSING;
	}
	if (S_ISDIR(st->st_mode)) {
		close(f);
		return IS_DIR;
	}
	if (!S_ISREG(st->st_mode)) {
		close(f);
		return MISSING;
	}
	*fd = f;
	return FOUND;
}

/* open_sibling opens path+suffix (a literal) as a regular file, or returns -1. */
#define open_sibling(suffix, st) open_sibling_((suffix), sizeof(suffix) - 1, (st))

static int open_sibling_(const char *suffix, size_t n, struct stat *st) {
	size_t keep = pathlen;
	path_add(suffix, n);
	int f = open_ro(path);
	pathlen = keep;
	path[pathlen] = 0;
	if (f < 0) return -1;
	if (fstat(f, st) != 0 || !S_ISREG(st->st_mode)) {
		close(f);
		return -1;
	}
	return f;
}

/* ---- content negotiation ---- */

/* qvalue parses the q parameter in params (";q=0.5;..."), 1000 when absent. */
static int qvalue(const char *p, const char *end) {
	while (p < end) {
		p = skip_ows(p);
		if (p + 2 <= end && lower((unsigned char)p[0]) == 'q' && p[1] == '=') {
			p += 2;
			int v = 0, scale = 1000;
			if (p < end && *p == '1') return 1000;
			if (p < end && *p == '0') {
				p++;
				if (p < end && *p == '.') {
					p++;
					for (int i = 0; i < 3 && p < end && *p >= '0' && *p <= '9'; i++, p++) {
						scale /= 10;
						v += (*p - '0') * scale;
					}
				}
				return v;
			}
			return 0;
		}
		while (p < end && *p != ';') p++;
		if (p < end) p++;
	}
	return 1000;
}

/* choose_encoding returns ".br", ".gz" or NULL for the Accept-Encoding header ae. */
static void accepted(const char *ae, int *qbr, int *qgz) {
	int br = -1, gz = -1, star = -1;
	const char *p = ae;
	while (*p) {
		p = skip_ows(p);
		const char *tok = p;
		for (;;) {
			REP8({
				char c = *p;
				if (!c || c == ',' || c == ';' || c == ' ' || c == '\t') goto tok_end;
				p++;
			})
		}
	tok_end:;
		size_t tl = (size_t)(p - tok);
		const char *end = p;
		for (;;) {
			REP8({
				if (!*end || *end == ',') goto params_end;
				end++;
			})
		}
	params_end:;
		int q = p < end ? qvalue(p, end) : 1000;
		if (tl == 2 && ieq(tok, "br", 2)) br = q;
		else if ((tl == 4 && ieq(tok, "gzip", 4)) || (tl == 6 && ieq(tok, "x-gzip", 6))) gz = q;
		else if (tl == 1 && *tok == '*') star = q;
		p = *end ? end + 1 : end;
	}
	*qbr = br >= 0 ? br : star >= 0 ? star : 0;
	*qgz = gz >= 0 ? gz : star >= 0 ? star : 0;
}

/* ---- conditionals ---- */

static void put_etag(const struct stat *st, const char *enc) {
	putc_('"');
	putx((uint64_t)st->st_size);
	putc_('-');
	putx((uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec);
	if (enc) {
		putc_('-');
		puts_(enc);
	}
	putc_('"');
}

/* etag_in reports whether the If-None-Match list inm contains tag (weak comparison). */
static int etag_in(const char *inm, const char *tag, size_t taglen) {
	const char *p = inm;
	while (*p) {
		p = skip_ows(p);
		if (*p == '*') return 1;
		if (p[0] == 'W' && p[1] == '/') p += 2;
		if (*p == '"') {
			const char *e = strchr(p + 1, '"');
			if (!e) return 0;
			if ((size_t)(e - p + 1) == taglen && memcmp(p, tag, taglen) == 0) return 1;
			p = e + 1;
		}
		while (*p && *p != ',') p++;
		if (*p) p++;
	}
	return 0;
}

/* ---- ranges ---- */

enum { RANGE_NONE, RANGE_ONE, RANGE_BAD };

static int parse_u64(const char **pp, uint64_t *v) {
	const char *p = *pp;
	if (*p < '0' || *p > '9') return -1;
	uint64_t x = 0;
	while (*p >= '0' && *p <= '9') {
		if (x > (UINT64_MAX - 9) / 10) return -1;
		x = x * 10 + (uint64_t)(*p - '0');
		p++;
	}
	*pp = p;
	*v = x;
	return 0;
}

/* parse_range interprets one Range header against size. */
static int parse_range(const char *r, uint64_t size, uint64_t *start, uint64_t *len) {
	if (strncmp(r, "bytes=", 6) != 0) return RANGE_NONE;
	const char *p = skip_ows(r + 6);
	if (strchr(p, ',')) return RANGE_NONE; /* several ranges: send it all */
	uint64_t a, b;
	if (*p == '-') {
		p++;
		if (parse_u64(&p, &b) != 0 || *skip_ows(p)) return RANGE_NONE;
		if (b == 0 || size == 0) return RANGE_BAD;
		if (b > size) b = size;
		*start = size - b;
		*len = b;
		return RANGE_ONE;
	}
	if (parse_u64(&p, &a) != 0 || *p != '-') return RANGE_NONE;
	p++;
	p = skip_ows(p);
	if (*p == 0) {
		b = UINT64_MAX;
	} else if (parse_u64(&p, &b) != 0 || *skip_ows(p) || b < a) {
		return RANGE_NONE;
	}
	if (a >= size) return RANGE_BAD;
	if (b >= size) b = size - 1;
	*start = a;
	*len = b - a + 1;
	return RANGE_ONE;
}

/* ---- serving ---- */

/* send_body writes len bytes of fd from offset start after the header block. */
static void send_body(int fd, uint64_t start, uint64_t len) {
	if (is_head || len == 0) {
		flush_with(NULL, 0);
		return;
	}
	static char small[16 * 1024]; /* no malloc for a small file */
	size_t cap = len <= sizeof small ? sizeof small : CHUNK;
	char *buf = cap == sizeof small ? small : malloc(cap);
	if (!buf) die(70);
	int first = 1;
	while (len > 0) {
		size_t want = len < cap ? (size_t)len : cap;
		ssize_t n = pread(fd, buf, want, (off_t)start);
		if (n <= 0) { /* the file shrank under us; the headers are gone already */
			abort_body();
			break;
		}
		if (first) {
			flush_with(buf, (size_t)n);
			first = 0;
		} else {
			write_all(buf, (size_t)n);
		}
		start += (uint64_t)n;
		len -= (uint64_t)n;
	}
	if (buf != small) free(buf);
}

/* serve sends the open file fd (stat st) found at path with the given status (200 for a
 * file or the SPA fallback, 404 for the custom 404 page, which gets no validators). */
static void serve(int fd, struct stat *st, int status) {
	size_t elen, tlen;
	const char *e = path_ext(&elen);
	const char *type = content_type(e, elen, &tlen);
	const char *enc = NULL;

	int precompressed = !(vars.precompressed && !truthy(vars.precompressed));
	if (status == 200 && precompressed) {
		const char *ae = vars.accept_encoding;
		if (ae) {
			int qbr, qgz;
			accepted(ae, &qbr, &qgz);
			struct stat cst;
			int cfd = -1;
			if (qbr > 0 && qbr >= qgz && (cfd = open_sibling(".br", &cst)) >= 0) enc = "br";
			if (!enc && qgz > 0 && (cfd = open_sibling(".gz", &cst)) >= 0) enc = "gzip";
			if (!enc && qbr > 0 && qbr < qgz && (cfd = open_sibling(".br", &cst)) >= 0) enc = "br";
			if (enc) {
				close(fd);
				fd = cfd;
				*st = cst;
			}
		}
	}
	uint64_t size = (uint64_t)st->st_size;

	if (status == 404) {
		header("status", "404");
		header_n("content-type", type, tlen);
		put_length(size);
		send_body(fd, 0, size);
		close(fd);
		return;
	}

	/* Validators for the representation chosen above. */
	size_t mark = out.n;
	put_etag(st, enc && enc[0] == 'b' ? "br" : enc ? "gz" : NULL);
	size_t taglen = out.n - mark;
	char tag[64];
	memcpy(tag, out.p + mark, taglen);
	out.n = mark;
	int64_t mtime = (int64_t)st->st_mtim.tv_sec;
	const char *cc = cache_control(e, elen);

	const char *inm = vars.if_none_match;
	const char *ims = vars.if_modified_since;
	int64_t t;
	int not_modified = inm ? etag_in(inm, tag, taglen)
	                       : ims && parse_date(ims, &t) == 0 && mtime <= t;

	uint64_t start = 0, len = size;
	int range = RANGE_NONE;
	const char *rh = vars.range;
	if (!not_modified && rh) {
		const char *ir = vars.if_range;
		int use = 1;
		if (ir) {
			if (ir[0] == '"')
				use = strlen(ir) == taglen && memcmp(ir, tag, taglen) == 0;
			else
				use = parse_date(ir, &t) == 0 && t == mtime;
		}
		if (use) range = parse_range(rh, size, &start, &len);
	}

	header("status", not_modified ? "304" : range == RANGE_ONE ? "206" : range == RANGE_BAD ? "416" : "200");
	if (range == RANGE_BAD) {
		header("content-type", "text/plain; charset=utf-8");
		puts_("content-range: bytes */");
		putu(size);
		putc_('\n');
		static const char msg[] = "416 Range Not Satisfiable\n";
		put_length(sizeof msg - 1);
		close(fd);
		flush_with(msg, is_head ? 0 : sizeof msg - 1);
		return;
	}
	puts_("etag: ");
	putn(tag, taglen);
	putc_('\n');
	puts_("last-modified: ");
	put_date(mtime);
	putc_('\n');
	if (cc) header("cache-control", cc);
	if (precompressed) header("vary", "Accept-Encoding");
	if (not_modified) {
		close(fd);
		flush_with(NULL, 0);
		return;
	}
	header_n("content-type", type, tlen);
	if (enc) header("content-encoding", enc);
	header("accept-ranges", "bytes");
	if (range == RANGE_ONE) {
		puts_("content-range: bytes ");
		putu(start);
		putc_('-');
		putu(start + len - 1);
		putc_('/');
		putu(size);
		putc_('\n');
	}
	put_length(len);
	send_body(fd, start, len);
	close(fd);
}

/* try_file opens the configured file name (FALLBACK_PATH, CUSTOM_404_PATH) and serves it
 * with status; it reports whether it did. */
static int try_file(const char *name, int status) {
	if (!name) return 0;
	path_reset();
	int trailing;
	if (clean(name, &trailing) != 0) return 0;
	int fd;
	struct stat st;
	if (open_safe(&fd, &st) != FOUND) return 0;
	serve(fd, &st, status);
	return 1;
}

/* passing reports whether the request may go on to the next handler (an http-wasm
 * guest with FALLTHROUGH on) instead of being answered with a 404 or 405. */
static int passing;

/* not_found answers for a path that names no file: the SPA fallback, or the next
 * handler when passing, or the custom 404 page, or a plain 404. It returns what
 * fileserver_respond does. */
static int not_found(void) {
	if (try_file(nonempty(vars.fallback), 200)) return 0;
	if (passing) return 1;
	if (try_file(nonempty(vars.custom404), 404)) return 0;
	simple("404", "404 Not Found\n");
	return 0;
}

/* redirect_dir answers 301 to the request path with a slash appended. */
static void redirect_dir(void) {
	const char *script = vars.script_name;
	if (!script) script = "";
	size_t sl = strlen(script);
	while (sl > 0 && script[sl - 1] == '/') sl--;
	header("status", "301");
	puts_("location: ");
	putn(script, sl);
	/* The cleaned path (below ROOT), re-encoded: it starts with exactly one '/'. */
	for (size_t i = rootlen; i < pathlen; i++) {
		unsigned char c = (unsigned char)path[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("/-._~!$&'()*+,;=:@", c)) {
			putc_((char)c);
		} else {
			putc_('%');
			putc_("0123456789ABCDEF"[c >> 4]);
			putc_("0123456789ABCDEF"[c & 15]);
		}
	}
	putc_('/');
	const char *q = nonempty(vars.query);
	if (q) {
		putc_('?');
		for (; *q; q++) {
			unsigned char c = (unsigned char)*q;
			if (c <= 0x20 || c >= 0x7f) {
				putc_('%');
				putc_("0123456789ABCDEF"[c >> 4]);
				putc_("0123456789ABCDEF"[c & 15]);
			} else {
				putc_((char)c);
			}
		}
	}
	putc_('\n');
	header("content-type", "text/plain; charset=utf-8");
	static const char msg[] = "301 Moved Permanently\n";
	put_length(sizeof msg - 1);
	flush_with(msg, is_head ? 0 : sizeof msg - 1);
}

/* fileserver_respond answers the request in vars. It returns 0 when it answered, 1 when
 * the request goes on to the next handler (passing set: a method other than GET and
 * HEAD, or a path that names no file). */
static int fileserver_respond(void) {
	passing = vars.fallthrough == NULL || truthy(vars.fallthrough);
	const char *method = vars.method;
	if (!method) method = "GET";
	is_head = starts_with(method, "HEAD", 5); /* with the NUL: equal */
	if (!is_head && !starts_with(method, "GET", 4)) {
		if (passing) return 1;
		header("allow", "GET, HEAD");
		simple("405", "405 Method Not Allowed\n");
		return 0;
	}

	const char *raw = vars.raw_path;
	const char *p = vars.path_info;
	if (!p) p = "";
	path_reset();
	int trailing;
	if ((raw && !raw_ok(raw)) || clean(p, &trailing) != 0) {
		simple("400", "400 Bad Request\n");
		return 0;
	}
	int fd;
	struct stat st;
	if (trailing) {
		const char *index = nonempty(vars.index);
		if (!index) index = "index.html";
		int dir;
		if (clean(index, &dir) != 0 || open_safe(&fd, &st) != FOUND) return not_found();
		serve(fd, &st, 200);
		return 0;
	}
	switch (open_safe(&fd, &st)) {
	case FOUND:
		serve(fd, &st, 200);
		break;
	case IS_DIR:
		redirect_dir();
		break;
	default:
		return not_found();
	}
	return 0;
}

#endif
