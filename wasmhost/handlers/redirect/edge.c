/* redirect edge: the redirect handler (redirect.h) as an http-wasm guest, run by Traefik
 * in its own process as a wasm middleware plugin (.traefik.yml beside this file). It
 * answers every request with a redirect; the options are the WAGI module's env in
 * camelCase (redirect.c documents them): destination, status, includePath, trimPrefix,
 * keepQuery. The path it includes is the request's, as sent (escapes kept).
 *
 * Build (from wasmhost/handlers, as `make` does; the output is byte-for-byte reproducible):
 *   clang --target=wasm32-wasi -O2 -mbulk-memory -Wall -Wextra -ffile-prefix-map=$(CURDIR)=. \
 *     -fdebug-prefix-map=$(CURDIR)=. -fno-ident -mexec-model=reactor -Wl,--strip-all \
 *     -Wl,-z,stack-size=16384 -Wl,--max-memory=4194304 -o redirect/edge.wasm redirect/edge.c
 */
#include "../httpwasm.h"

#define OPT_DESTINATION "destination"
#define OPT_PLACE "the middleware's options"
#include "redirect.h"

static struct redirect opts;

__attribute__((export_name("handle_request"))) uint64_t handle_request(void) {
	static int loaded;
	req_start();
	if (!loaded) {
		const char *status = cfg_get("STATUS");
		opts = (struct redirect){
		    .dest = cfg_get("DESTINATION"),
		    .status = status ? status : cfg_get("STATUSCODE"),
		    .include_path = truthy(cfg_get("INCLUDE_PATH")),
		    .trim_prefix = cfg_get("TRIM_PREFIX"),
		    .keep_query = truthy(cfg_get("KEEP_QUERY")),
		};
		loaded = 1;
	}
	if (cfg_err) {
		answer_plain("500", "redirect: the middleware's options are not a JSON object of strings, numbers and booleans\n");
		return 0;
	}
	const char *path = NULL, *query = NULL;
	if (opts.include_path || opts.keep_query) req_uri(&path, &query);
	if (too_big) {
		answer_plain("414", "414 URI Too Long\n");
		return 0;
	}
	redirect_respond(&opts, path, 0, query);
	return 0;
}
