/* redirect: a WAGI handler that answers every request with an HTTP redirect (the core is
 * redirect.h; edge.c is the same handler as an http-wasm guest for Traefik).
 *
 * Build (from wasmhost/handlers, as `make` does; the output is byte-for-byte reproducible):
 *   clang --target=wasm32-wasi -O2 -mbulk-memory -Wall -Wextra -ffile-prefix-map=$(CURDIR)=. \
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

#define OPT_DESTINATION "DESTINATION"
#define OPT_PLACE "the handler's env"
#include "redirect.h"

int main(void) {
	const char *status = env("STATUS");
	struct redirect r = {
	    .dest = env("DESTINATION"),
	    .status = status ? status : env("STATUSCODE"),
	    .include_path = truthy(getenv("INCLUDE_PATH")),
	    .trim_prefix = env("TRIM_PREFIX"),
	    .keep_query = truthy(getenv("KEEP_QUERY")),
	};
	const char *path = getenv("X_RAW_PATH_INFO");
	int decoded = !path;
	if (!path) path = getenv("PATH_INFO");
	redirect_respond(&r, path, decoded, env("QUERY_STRING"));
	return 0;
}
