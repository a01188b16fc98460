// env is a third-party-style WAGI module: it answers with its environment,
// its argv, the request body, the wall clock and 8 random bytes, so tests
// can check the WAGI contract.
// Built by the Makefile in this directory (make -C wasmhost/testdata).
#include <stdio.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
	printf("Content-Type: text/plain\n");
	printf("X-Guest: env\n\n");
	for (char **e = environ; *e; e++) {
		printf("env %s\n", *e);
	}
	for (int i = 0; i < argc; i++) {
		printf("arg %d %s\n", i, argv[i]);
	}
	unsigned char rnd[8] = {0};
	getentropy(rnd, sizeof rnd);
	printf("time %lld\n", (long long)time(NULL));
	printf("random ");
	for (size_t i = 0; i < sizeof rnd; i++) {
		printf("%02x", rnd[i]);
	}
	printf("\n");
	printf("body ");
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
		fwrite(buf, 1, n, stdout);
	}
	printf("\n");
	return 0;
}
