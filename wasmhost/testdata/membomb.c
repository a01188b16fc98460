// membomb allocates and touches memory until malloc fails, then aborts
// (a trap): the host's memory cap must stop it long before the machine's.
// Built by the Makefile in this directory (make -C wasmhost/testdata).
#include <stdio.h>
#include <stdlib.h>

// keep makes every allocation observable so the compiler cannot drop it.
char *volatile keep;

int main(void) {
	size_t total = 0;
	for (;;) {
		char *p = malloc(1 << 20);
		if (p == NULL) {
			fprintf(stderr, "membomb: malloc failed after %zu MiB\n", total >> 20);
			abort();
		}
		for (size_t i = 0; i < (1 << 20); i += 4096) {
			((volatile char *)p)[i] = 1;
		}
		keep = p;
		total += 1 << 20;
	}
}
