/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

/*
 * A growable byte buffer with a hard cap.  Appends past the cap fail with
 * -E2BIG and leave the buffer unchanged, so a peer or a file cannot make us
 * allocate without bound.  The data is always NUL-terminated (not counted in
 * len) so text can be used in place.
 */

#include <stdarg.h>
#include <stddef.h>

struct ferry_buf {
	char *data;
	size_t len;
	size_t cap; /* allocated */
	size_t max; /* hard limit on len */
};

#define FERRY_BUF_INIT(maxlen)                                                                                         \
	{                                                                                                              \
		.data = NULL, .len = 0, .cap = 0, .max = (maxlen)                                                      \
	}

int ferry_buf_append(struct ferry_buf *b, const void *p, size_t n);
int ferry_buf_printf(struct ferry_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ferry_buf_reset(struct ferry_buf *b);
/* Frees the storage; accepts a zeroed buffer. */
void ferry_buf_free(struct ferry_buf *b);

#endif
