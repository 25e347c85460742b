/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ferry/json.h"

void ferry_json_init(struct ferry_json *j, struct ferry_buf *out, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->pretty = pretty;
}

static void put(struct ferry_json *j, const char *s, size_t n)
{
	int r;

	if (j->error)
		return;
	r = ferry_buf_append(j->out, s, n);
	if (r < 0)
		j->error = r;
}

static void newline(struct ferry_json *j)
{
	static const char tabs[] = "\n                                                                ";
	size_t n = 1 + 2 * (size_t)j->depth;

	if (j->pretty)
		put(j, tabs, n < sizeof(tabs) - 1 ? n : sizeof(tabs) - 1);
}

/* Separator before a value or key at the current level. */
static void begin_item(struct ferry_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth > 0) {
		if (j->need_comma[j->depth - 1])
			put(j, ",", 1);
		j->need_comma[j->depth - 1] = true;
		newline(j);
	}
}

static void open(struct ferry_json *j, char c)
{
	begin_item(j);
	if (j->depth >= FERRY_JSON_MAX_DEPTH) {
		if (!j->error)
			j->error = -E2BIG;
		return;
	}
	put(j, &c, 1);
	j->need_comma[j->depth++] = false;
}

static void close_(struct ferry_json *j, char c)
{
	bool had_items;

	if (j->depth == 0 || j->after_key) {
		if (!j->error)
			j->error = -EINVAL;
		return;
	}
	had_items = j->need_comma[--j->depth];
	if (had_items)
		newline(j);
	put(j, &c, 1);
}

void ferry_json_object_begin(struct ferry_json *j)
{
	open(j, '{');
}
void ferry_json_object_end(struct ferry_json *j)
{
	close_(j, '}');
}
void ferry_json_array_begin(struct ferry_json *j)
{
	open(j, '[');
}
void ferry_json_array_end(struct ferry_json *j)
{
	close_(j, ']');
}

/* Length of a valid UTF-8 sequence starting at s, or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
			return 0; /* overlong or surrogate */
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

static void put_escaped(struct ferry_json *j, const char *str)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;

	put(j, "\"", 1);
	while (*s) {
		if (*s == '"' || *s == '\\') {
			char e[2] = { '\\', (char)*s };
			put(j, e, 2);
			s++;
		} else if (*s < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[*s >> 4], hex[*s & 0xf] };
			put(j, e, 6);
			s++;
		} else if (*s < 0x80) {
			put(j, (const char *)s, 1);
			s++;
		} else {
			size_t n = utf8_len(s);

			if (n) {
				put(j, (const char *)s, n);
				s += n;
			} else {
				put(j, "\xef\xbf\xbd", 3);
				s++;
			}
		}
	}
	put(j, "\"", 1);
}

void ferry_json_key(struct ferry_json *j, const char *key)
{
	begin_item(j);
	put_escaped(j, key);
	put(j, j->pretty ? ": " : ":", j->pretty ? 2 : 1);
	j->after_key = true;
}

void ferry_json_string(struct ferry_json *j, const char *s)
{
	if (!s) {
		ferry_json_null(j);
		return;
	}
	begin_item(j);
	put_escaped(j, s);
}

void ferry_json_bool(struct ferry_json *j, bool v)
{
	begin_item(j);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void ferry_json_null(struct ferry_json *j)
{
	begin_item(j);
	put(j, "null", 4);
}

void ferry_json_int(struct ferry_json *j, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

	begin_item(j);
	put(j, tmp, (size_t)n);
}

void ferry_json_uint(struct ferry_json *j, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

	begin_item(j);
	put(j, tmp, (size_t)n);
}

int ferry_json_finish(struct ferry_json *j)
{
	if (j->error)
		return j->error;
	if (j->depth != 0 || j->after_key)
		return -EINVAL;
	if (j->pretty)
		put(j, "\n", 1);
	return j->error;
}
