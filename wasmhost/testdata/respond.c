// respond writes the value of the RESPONSE environment variable to stdout
// verbatim and exits with the code in EXIT (default 0), so tests can feed
// the host any CGI output: status/location rules, missing headers,
// repeated headers, non-zero exits. STDERR is written to stderr.
// Built by the Makefile in this directory (make -C wasmhost/testdata).
#include <stdio.h>
#include <stdlib.h>

int main(void) {
	const char *resp = getenv("RESPONSE");
	const char *msg = getenv("STDERR");
	const char *code = getenv("EXIT");
	if (msg) {
		fputs(msg, stderr);
	}
	if (resp) {
		fputs(resp, stdout);
	}
	return code ? atoi(code) : 0;
}
