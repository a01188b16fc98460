// loop never returns: the host's timeout must stop it.
// Built by the Makefile in this directory (make -C wasmhost/testdata).
#include <stdio.h>

int main(void) {
	volatile unsigned long n = 0;
	fputs("loop: spinning forever\n", stderr);
	for (;;) {
		n++;
	}
}
