// trap writes a line to stderr and hits an unreachable instruction.
// Built by the Makefile in this directory (make -C wasmhost/testdata).
#include <stdio.h>

int main(void) {
	printf("content-type: text/plain\n\npartial");
	fflush(stdout);
	fputs("trap: about to crash\n", stderr);
	__builtin_trap();
}
