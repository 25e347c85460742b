/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Snapshot files as a reader meets them: whatever the bytes, the reader
 * answers (a checked snapshot or an error) without reading past anything.
 * The input goes through a file, as snapshots do.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ferry/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/ferry-fuzz-snapshot-XXXXXX";
	struct ferry_snapshot_info info;
	int fd = mkstemp(path);

	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	/* Without a CA or key: the structure and the signature are what is left to check. */
	if (ferry_snapshot_read(path, NULL, NULL, NULL, &info, NULL) == 0 && (!info.segments || !info.meta.node[0]))
		abort();
	unlink(path);
	return 0;
}
