/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_FS_H
#define FERRY_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry/buf.h"
#include "ferry/err.h"

/* Read a whole file of at most max bytes into out (reset first); -EFBIG if larger. */
int ferry_read_file(const char *path, size_t max, struct ferry_buf *out, struct ferry_err *err);

/* Write data to path atomically (temp file + fsync + rename) with the given mode. */
int ferry_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct ferry_err *err);

/* All n bytes to fd, across short writes and EINTR: 0, or -errno (-ENOSPC when nothing more goes). */
int ferry_write_full(int fd, const void *p, size_t n);
/* Up to n bytes from fd, short only at end of file: the count, or -errno. */
ssize_t ferry_read_full(int fd, void *p, size_t n);
/*
 * Exactly n bytes from a socket or pipe, waiting at most timeout_ms for each
 * read: 0, -ETIMEDOUT, -ECONNRESET at end of file, or -errno.
 */
int ferry_read_exact(int fd, void *p, size_t n, int timeout_ms);

/* mkdir -p; created directories get mode; existing ones are left as they are. */
int ferry_mkdir_p(const char *path, mode_t mode, struct ferry_err *err);

/*
 * Remove a directory tree without following symlinks and without crossing
 * into other file systems: a mount point below path is an error (-EBUSY)
 * and nothing on it is touched.  A missing path is success.
 */
int ferry_rm_tree(const char *path, struct ferry_err *err);

/* MemAvailable of /proc/meminfo in bytes (0 when unreadable): what admission compares against. */
uint64_t ferry_mem_available(void);

#endif
