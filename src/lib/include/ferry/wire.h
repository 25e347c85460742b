/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_WIRE_H
#define FERRY_WIRE_H

/*
 * Big-endian encoding helpers for Ferry's wire formats (docs/PROTOCOL.md).
 * A reader is a cursor over untrusted bytes: every get checks the remaining
 * length first and, once anything fails, the reader stays failed so a parser
 * can check `ok` once at the end.  Writers append to a capped ferry_buf.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ferry/buf.h"

struct ferry_reader {
	const uint8_t *p;
	size_t left;
	bool ok;
};

static inline void ferry_reader_init(struct ferry_reader *r, const void *data, size_t len)
{
	r->p = data;
	r->left = len;
	r->ok = true;
}

static inline bool ferry_get_bytes(struct ferry_reader *r, void *out, size_t n)
{
	if (!r->ok || r->left < n)
		return r->ok = false;
	if (n)
		memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return true;
}

/* Borrow n bytes in place (no copy); NULL on short input. */
static inline const uint8_t *ferry_get_view(struct ferry_reader *r, size_t n)
{
	const uint8_t *v = r->p;

	if (!r->ok || r->left < n) {
		r->ok = false;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return v;
}

static inline uint8_t ferry_get_u8(struct ferry_reader *r)
{
	uint8_t v = 0;
	ferry_get_bytes(r, &v, 1);
	return v;
}

static inline uint16_t ferry_get_u16(struct ferry_reader *r)
{
	uint8_t b[2] = { 0 };
	ferry_get_bytes(r, b, 2);
	return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t ferry_get_u32(struct ferry_reader *r)
{
	uint8_t b[4] = { 0 };
	ferry_get_bytes(r, b, 4);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t ferry_get_u64(struct ferry_reader *r)
{
	uint64_t hi = ferry_get_u32(r);
	return hi << 32 | ferry_get_u32(r);
}

static inline void ferry_put_u8(uint8_t *p, uint8_t v)
{
	p[0] = v;
}
static inline void ferry_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void ferry_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void ferry_put_u64(uint8_t *p, uint64_t v)
{
	ferry_put_u32(p, (uint32_t)(v >> 32));
	ferry_put_u32(p + 4, (uint32_t)v);
}

/* Append helpers; they return 0 or -E2BIG (the buffer's cap). */
static inline int ferry_buf_u8(struct ferry_buf *b, uint8_t v)
{
	return ferry_buf_append(b, &v, 1);
}
static inline int ferry_buf_u16(struct ferry_buf *b, uint16_t v)
{
	uint8_t t[2];
	ferry_put_u16(t, v);
	return ferry_buf_append(b, t, 2);
}
static inline int ferry_buf_u32(struct ferry_buf *b, uint32_t v)
{
	uint8_t t[4];
	ferry_put_u32(t, v);
	return ferry_buf_append(b, t, 4);
}
static inline int ferry_buf_u64(struct ferry_buf *b, uint64_t v)
{
	uint8_t t[8];
	ferry_put_u64(t, v);
	return ferry_buf_append(b, t, 8);
}

#endif
