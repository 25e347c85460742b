/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_JSON_H
#define FERRY_JSON_H

/*
 * A small streaming JSON writer.  It tracks nesting and commas so callers
 * write values in order; strings are escaped per RFC 8259 (control bytes as
 * \u00XX; invalid UTF-8 bytes replaced by U+FFFD so output is always valid).
 * The first failure (buffer cap, nesting beyond FERRY_JSON_MAX_DEPTH,
 * mismatched end) sticks in `error` and later calls do nothing.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ferry/buf.h"

#define FERRY_JSON_MAX_DEPTH 32

struct ferry_json {
	struct ferry_buf *out;
	int depth;
	bool need_comma[FERRY_JSON_MAX_DEPTH];
	bool after_key;
	bool pretty;
	int error;
};

void ferry_json_init(struct ferry_json *j, struct ferry_buf *out, bool pretty);
void ferry_json_object_begin(struct ferry_json *j);
void ferry_json_object_end(struct ferry_json *j);
void ferry_json_array_begin(struct ferry_json *j);
void ferry_json_array_end(struct ferry_json *j);
void ferry_json_key(struct ferry_json *j, const char *key);
void ferry_json_string(struct ferry_json *j, const char *s); /* NULL writes null */
void ferry_json_bool(struct ferry_json *j, bool v);
void ferry_json_int(struct ferry_json *j, int64_t v);
void ferry_json_uint(struct ferry_json *j, uint64_t v);
void ferry_json_null(struct ferry_json *j);
/* 0 when the document is complete and nothing failed, else negative errno. */
int ferry_json_finish(struct ferry_json *j);

#endif
