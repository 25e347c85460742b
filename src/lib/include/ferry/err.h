/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_ERR_H
#define FERRY_ERR_H

/*
 * One error convention for all of libferry: a function that can fail returns
 * int (< 0 is a negative errno) and takes a last `struct ferry_err *err` that
 * receives a human sentence naming what failed and, for bad input, what is
 * accepted.  Callers print err->msg once, where they handle the error.
 * `err` may be NULL when the caller only wants the code.
 */

#include <stdarg.h>

#define FERRY_ERR_MSG_MAX 512

struct ferry_err {
	int code; /* negative errno, 0 when unset */
	char msg[FERRY_ERR_MSG_MAX];
};

/* Record code (negative errno; a positive one is negated) and a message; returns the negative code. */
int ferry_err_set(struct ferry_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like ferry_err_set, appending ": strerror(code)". */
int ferry_err_sys(struct ferry_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with more context ("context: old message"); returns err->code. */
int ferry_err_wrap(struct ferry_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ferry_err_clear(struct ferry_err *err);

#endif
