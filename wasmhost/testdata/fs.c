// fs exercises a read-only volume mounted at MOUNT: it stats the mount,
// lists it twice (the second pass rewinds the directory), reads
// hello.txt, and tries to create a file and to open one above the mount.
// Built by the Makefile in this directory (make -C wasmhost/testdata).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
	const char *mount = getenv("MOUNT");
	char path[512];
	printf("content-type: text/plain\n\n");

	struct stat st;
	printf("stat %s\n", stat(mount, &st) == 0 && S_ISDIR(st.st_mode) ? "dir" : "fail");

	DIR *d = opendir(mount);
	if (d == NULL) {
		printf("opendir fail %s\n", strerror(errno));
		return 0;
	}
	for (int pass = 0; pass < 2; pass++) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] != '.') {
				printf("list%d %s\n", pass, e->d_name);
			}
		}
		rewinddir(d);
	}
	closedir(d);

	snprintf(path, sizeof path, "%s/hello.txt", mount);
	FILE *f = fopen(path, "r");
	if (f != NULL) {
		char buf[64] = {0};
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		printf("read %.*s\n", (int)n, buf);
		fclose(f);
	} else {
		printf("read fail %s\n", strerror(errno));
	}

	snprintf(path, sizeof path, "%s/new.txt", mount);
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	printf("create %s\n", fd < 0 ? "denied" : "allowed");

	snprintf(path, sizeof path, "%s/../outside.txt", mount);
	fd = open(path, O_RDONLY);
	printf("escape %s\n", fd < 0 ? "denied" : "allowed");
	return 0;
}
