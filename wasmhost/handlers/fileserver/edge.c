/* fileserver edge: the fileserver handler (fileserver.h) as an http-wasm guest, run by
 * Traefik in its own process as a wasm middleware plugin (.traefik.yml beside this
 * file). The files come from the plugin's mounts (experimental.localPlugins.<name>
 * .settings.mounts: ["/srv/site:/site:ro"]); the options are the WAGI module's env in
 * camelCase (fileserver.c documents them and the behaviour): root, index, fallbackPath,
 * custom404Path, cacheControl, cacheControl<Ext> (cacheControlHtml), precompressed, and
 * fallthrough (default true): a path that names no file, or a method other than GET and
 * HEAD, goes on to the next handler (the service behind the router) instead of a 404 or
 * 405. The SPA fallback, when set, is served before falling through; the custom 404 page
 * needs fallthrough: false. X-Forwarded-Prefix (set by Traefik's stripPrefix) prefixes
 * the path of a directory's redirect.
 *
 * Build (from wasmhost/handlers, as `make` does; the output is byte-for-byte reproducible):
 *   clang --target=wasm32-wasi -O2 -mbulk-memory -Wall -Wextra -ffile-prefix-map=$(CURDIR)=. \
 *     -fdebug-prefix-map=$(CURDIR)=. -fno-ident -mexec-model=reactor -Wl,--strip-all \
 *     -Wl,-z,stack-size=16384 -Wl,--max-memory=4194304 -o fileserver/edge.wasm fileserver/edge.c
 */
#include "../httpwasm.h"

#include "fileserver.h"

/* prefix is p when it can prefix the path of a directory's redirect: a path
 * starting with one '/', without control characters or backslashes; else NULL. A
 * client cannot set it through Traefik (which drops X-Forwarded-* from untrusted
 * clients) unless Traefik trusts it; this keeps even then the redirect on this host. */
static const char *prefix(const char *p) {
	if (!p || p[0] != '/' || p[1] == '/') return NULL;
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\') return NULL;
	return p;
}

/* options are vars as the options set them. */
static __typeof__(vars) options;

__attribute__((export_name("handle_request"))) uint64_t handle_request(void) {
	static int loaded;
	req_start();
	if (!loaded) {
		envp = cfg_env;
		for (char **e = envp; *e; e++) load_var(*e);
		options = vars;
		loaded = 1;
	}
	if (cfg_err) {
		answer_plain("500", "fileserver: the middleware's options are not a JSON object of strings, numbers and booleans\n");
		return 0;
	}
	vars = options;
	vars.method = req_method();
	req_uri(&vars.raw_path, &vars.query);
	vars.path_info = req_decode(vars.raw_path);
	vars.script_name = prefix(req_header("X-Forwarded-Prefix"));
	vars.accept_encoding = req_header("Accept-Encoding");
	vars.if_none_match = req_header("If-None-Match");
	vars.if_modified_since = req_header("If-Modified-Since");
	vars.range = req_header("Range");
	vars.if_range = req_header("If-Range");
	if (too_big) {
		if (too_big[1] == '1') answer_plain("414", "414 URI Too Long\n");
		else answer_plain("431", "431 Request Header Fields Too Large\n");
		return 0;
	}
	return (uint64_t)fileserver_respond();
}
