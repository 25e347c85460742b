/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memdirty MIB [PAUSE_MS]: keep rewriting every page of MIB mebibytes,
 * sweep after sweep, PAUSE_MS between sweeps (default 0: as fast as it
 * can, a workload whose memory never converges).  Before writing a page it
 * checks the page still holds what the previous sweep wrote: memory that
 * came back wrong from a migration prints CORRUPT and exits 3.  Prints
 * "sweep N" about once a second.  Static, for the busybox image.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 0, pause_ms = argc > 2 ? atol(argv[2]) : 0;
	size_t pages;
	uint64_t *mem;
	time_t last = 0;

	if (mib <= 0 || mib > 65536 || pause_ms < 0 || pause_ms > 60000) {
		fprintf(stderr, "Usage: memdirty MIB [PAUSE_MS]\n");
		return 2;
	}
	pages = (size_t)mib * 1024 * 1024 / PAGE;
	mem = calloc(pages, PAGE);
	if (!mem) {
		perror("memdirty");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (uint64_t sweep = 1;; sweep++) {
		for (size_t i = 0; i < pages; i++) {
			uint64_t *p = mem + i * (PAGE / sizeof(uint64_t));

			/* Word 0: the sweep that last wrote it; word 1: which page it is. */
			if (p[0] != sweep - 1 || (sweep > 1 && p[1] != i)) {
				printf("CORRUPT page %zu: sweep %llu, index %llu; expected %llu, %zu\n", i,
				       (unsigned long long)p[0], (unsigned long long)p[1],
				       (unsigned long long)(sweep - 1), i);
				return 3;
			}
			p[0] = sweep;
			p[1] = i;
		}
		if (time(NULL) != last) {
			last = time(NULL);
			printf("sweep %llu\n", (unsigned long long)sweep);
		}
		if (pause_ms)
			usleep((useconds_t)pause_ms * 1000);
	}
}
