// bigout answers with a 100 MB body, ignoring write errors: the host's
// response limit must stop it.
// Built by the Makefile in this directory (make -C wasmhost/testdata).
#include <string.h>
#include <unistd.h>

int main(void) {
	static char chunk[65536];
	const char *hdr = "content-type: application/octet-stream\n\n";
	memset(chunk, 'x', sizeof chunk);
	write(1, hdr, strlen(hdr));
	for (long sent = 0; sent < 100L * 1000 * 1000; sent += sizeof chunk) {
		write(1, chunk, sizeof chunk);
	}
	return 0;
}
