/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"

static int normalize(int code)
{
	if (code > 0)
		return -code;
	return code == 0 ? -EIO : code;
}

/* Append src to the NUL-terminated dst of capacity cap, truncating. */
static void append(char *dst, size_t cap, const char *src)
{
	size_t len = strnlen(dst, cap - 1), n = strlen(src);

	if (n > cap - 1 - len)
		n = cap - 1 - len;
	memcpy(dst + len, src, n);
	dst[len + n] = '\0';
}

int ferry_err_set(struct ferry_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	code = normalize(code);
	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int ferry_err_sys(struct ferry_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	code = normalize(code);
	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	append(err->msg, sizeof(err->msg), ": ");
	append(err->msg, sizeof(err->msg), strerror(-code));
	return code;
}

int ferry_err_wrap(struct ferry_err *err, const char *fmt, ...)
{
	char old[FERRY_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return -EIO;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	append(err->msg, sizeof(err->msg), ": ");
	append(err->msg, sizeof(err->msg), old);
	return err->code ? err->code : -EIO;
}

void ferry_err_clear(struct ferry_err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}
