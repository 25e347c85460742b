/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_MEMSCAN_H
#define FERRY_MEMSCAN_H

/*
 * Reading the memory of a running process, page by page, for pre-copy
 * rounds: the pages CRIU would dump (present anonymous pages, copied-on-write
 * pages of private file mappings, shared anonymous memory), found with
 * /proc/PID/maps and /proc/PID/pagemap and read with process_vm_readv, so
 * the process keeps running and no page is faulted in by looking at it.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry/err.h"

#define FERRY_MAPS_MAX (8 * 1024 * 1024) /* bytes of /proc/PID/maps read */

struct ferry_mapping {
	uint64_t start, end;
	bool read, write, shared;
	bool anon_shared; /* shared anonymous memory (/dev/zero, SysV, memfd): its pages are dumped */
	bool skip;        /* [vdso], [vvar], [vsyscall]: the kernel's, never dumped */
	bool file;        /* backed by a file: only its copied-on-write pages are the process's own */
};

/* Parse one line of /proc/PID/maps (pure; untrusted text).  -EINVAL when it is not one. */
int ferry_maps_parse_line(const char *line, struct ferry_mapping *ret);

/* Called for each page, with its address and 4 KiB of content; < 0 stops the scan with that result. */
typedef int (*ferry_memscan_fn)(void *arg, uint64_t addr, const uint8_t *page);

struct ferry_memscan_stats {
	uint64_t mappings, pages, bytes_mapped;
};

/* Every page of pid worth sending; a process that exits during the scan ends it without error. */
int ferry_memscan(pid_t pid, ferry_memscan_fn fn, void *arg, struct ferry_memscan_stats *st, struct ferry_err *err);

#endif
