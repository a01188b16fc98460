// gate holds its instance until the file named by GATE (default
// /gate/open) exists in a mounted volume, then answers "released". Tests
// use it to keep a request in flight for as long as they need.
// Built by the Makefile in this directory (make -C wasmhost/testdata).
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
	const char *gate = getenv("GATE");
	if (gate == NULL) {
		gate = "/gate/open";
	}
	while (access(gate, F_OK) != 0) {
	}
	printf("content-type: text/plain\n\nreleased\n");
	return 0;
}
