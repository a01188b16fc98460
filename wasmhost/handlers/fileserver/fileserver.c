/* fileserver: a WAGI handler serving static files from a read-only WASI mount.
 *
 * Build (from wasmhost/handlers, as `make` does; the output is byte-for-byte reproducible):
 *   clang --target=wasm32-wasi -O2 -Wall -Wextra -ffile-prefix-map=$(CURDIR)=. \
 *     -fdebug-prefix-map=$(CURDIR)=. -fno-ident -Wl,--strip-all -Wl,-z,stack-size=16384 \
 *     -o fileserver/fileserver.wasm fileserver/fileserver.c
 *
 * Configuration (handler env; see docs/wasm-host.md, "Built-in handlers"):
 *   ROOT              guest directory to serve (default "/"; the host mounts a volume there).
 *   INDEX             file served for "/" and for "dir/" (default index.html).
 *   FALLBACK_PATH     file (relative to ROOT) served with 200 when the path is not found (SPA).
 *   CUSTOM_404_PATH   file (relative to ROOT) served with status 404 when not found.
 *   CACHE_CONTROL     Cache-Control for files; CACHE_CONTROL_<EXT> (upper-case extension
 *                     of the requested file, e.g. CACHE_CONTROL_HTML) overrides it.
 *   PRECOMPRESSED     "0"/"false"/"no"/"off" disables .br/.gz siblings (default on).
 *
 * Behaviour:
 *   - GET and HEAD only; others get 405 with `Allow: GET, HEAD`.
 *   - The path is PATH_INFO (decoded by the host). A `..` segment, a backslash, a control
 *     character, or an encoded slash/backslash/NUL (%2f %5c %00 in X_RAW_PATH_INFO) gives
 *     400. Empty and "." segments are dropped, so "//etc/passwd" means ROOT/etc/passwd.
 *   - Symlinks are never followed, wherever they point (wazero's preopens follow host
 *     symlinks, so the guest enforces it): every path component is lstat'ed and the file
 *     is opened without following it (O_NOFOLLOW). A symlink counts as not found.
 *   - "/" and "dir/" serve INDEX; "dir" (a directory without the slash) redirects 301 to
 *     "dir/" (query kept). No directory listings.
 *   - Content-Type from the extension (table below), default application/octet-stream.
 *   - ETag is strong: "<size hex>-<mtime ns hex>" of the file sent, with "-br"/"-gz" for a
 *     precompressed sibling. If-None-Match (weak comparison, "*" too) gives 304; when it is
 *     absent, If-Modified-Since (IMF-fixdate) no older than Last-Modified gives 304.
 *   - Accept-Encoding picks FILE.br or FILE.gz when it exists (highest q wins, br on a tie,
 *     q=0 refused) with Content-Encoding; unless PRECOMPRESSED is off, file responses
 *     carry Vary: Accept-Encoding.
 *   - Range: one `bytes=a-b`, `a-` or `-n` range gives 206 with Content-Range; an
 *     unsatisfiable one 416 with a Content-Range giving the size; several ranges, or a
 *     malformed header, give the full 200. If-Range (ETag or date) is honoured.
 *   - Content-Length on every response except 304; HEAD sends the headers only.
 */
#include "../wagi.h"

#include "fileserver.h"

/* ---- the environment ----
 *
 * Every variable the handler reads is found in one pass over the environment (vars).
 * Under the host's time limit each iteration of a guest loop costs a round trip into the
 * host (wazero's close-on-timeout check), so the handler reads the environment with
 * WASI's environ_get itself, into static storage (libc's environ would be a malloc, and
 * the allocator's setup, loops and all), and looks at eight entries per loop iteration;
 * the name comparisons are unrolled. */

static char env_buf[4096], *env_ptrs[64];

/* load_env reads the environment into envp, and exits as libc's initialisation of
 * environ does when WASI fails (EX_OSERR) or memory runs out (EX_SOFTWARE). */
static void load_env(void) {
	__wasi_size_t count, size;
	if (__wasi_environ_sizes_get(&count, &size) != __WASI_ERRNO_SUCCESS) _Exit(71);
	char **ptrs = count < sizeof env_ptrs / sizeof env_ptrs[0] ? env_ptrs
	                                                           : calloc((size_t)count + 1, sizeof *ptrs);
	char *buf = size <= sizeof env_buf ? env_buf : malloc(size);
	if (!ptrs || !buf) _Exit(70);
	if (count && __wasi_environ_get((uint8_t **)ptrs, (uint8_t *)buf) != __WASI_ERRNO_SUCCESS) _Exit(71);
	ptrs[count] = NULL;
	envp = ptrs;
}

static void load_vars(void) {
	load_env();
	for (char **ep = envp;;) {
		REP8(if (!*ep) return; load_var(*ep++);)
	}
}

int main(void) {
	load_vars();
	vars.fallthrough = "0"; /* a WAGI handler answers every request */
	fileserver_respond();
	return 0;
}
