/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "ferry/frame.h"
#include "ferry/wire.h"

size_t ferry_frame_max_len(uint8_t type)
{
	switch (type) {
	case FERRY_FRAME_REQUEST:
	case FERRY_FRAME_RESPONSE:
	case FERRY_FRAME_TICKET:
	case FERRY_FRAME_MANIFEST:
	case FERRY_FRAME_END:
	case FERRY_FRAME_ERROR:
	case FERRY_FRAME_PAGES_OPEN:
	case FERRY_FRAME_PAGES_END:
	case FERRY_FRAME_PAGE_GET:
		return FERRY_FRAME_CONTROL_MAX;
	case FERRY_FRAME_PAGE_DATA:
		return 20 + FERRY_PAGES_PER_FRAME * (1 + 4096);
	case FERRY_FRAME_PAGES:
		return FERRY_PAGES_PER_FRAME * 4096;
	case FERRY_FRAME_DATA:
		return FERRY_FRAME_DATA_MAX;
	case FERRY_FRAME_DATA_ZSTD:
		return FERRY_FRAME_ZSTD_MAX;
	default:
		return 0;
	}
}

const char *ferry_frame_type_name(uint8_t type)
{
	switch (type) {
	case FERRY_FRAME_REQUEST:
		return "REQUEST";
	case FERRY_FRAME_RESPONSE:
		return "RESPONSE";
	case FERRY_FRAME_TICKET:
		return "TICKET";
	case FERRY_FRAME_MANIFEST:
		return "MANIFEST";
	case FERRY_FRAME_DATA:
		return "DATA";
	case FERRY_FRAME_DATA_ZSTD:
		return "DATA_ZSTD";
	case FERRY_FRAME_END:
		return "END";
	case FERRY_FRAME_ERROR:
		return "ERROR";
	case FERRY_FRAME_PAGES_OPEN:
		return "PAGES_OPEN";
	case FERRY_FRAME_PAGES:
		return "PAGES";
	case FERRY_FRAME_PAGES_END:
		return "PAGES_END";
	case FERRY_FRAME_PAGE_GET:
		return "PAGE_GET";
	case FERRY_FRAME_PAGE_DATA:
		return "PAGE_DATA";
	default:
		return "unknown";
	}
}

int ferry_frame_parse_header(const uint8_t hdr[FERRY_FRAME_HEADER_LEN], struct ferry_frame_header *ret,
                             struct ferry_err *err)
{
	struct ferry_reader r;
	uint8_t type, flags;
	uint16_t reserved;
	uint32_t len;
	size_t max;

	ferry_reader_init(&r, hdr, FERRY_FRAME_HEADER_LEN);
	type = ferry_get_u8(&r);
	flags = ferry_get_u8(&r);
	reserved = ferry_get_u16(&r);
	len = ferry_get_u32(&r);
	max = ferry_frame_max_len(type);
	if (max == 0)
		return ferry_err_set(err, -EPROTO, "frame of unknown type 0x%02x", type);
	if (flags != 0 || reserved != 0)
		return ferry_err_set(err, -EPROTO, "%s frame has non-zero flags or reserved bits",
		                     ferry_frame_type_name(type));
	if (len > max)
		return ferry_err_set(err, -EMSGSIZE, "%s frame of %u bytes exceeds the %zu-byte cap",
		                     ferry_frame_type_name(type), len, max);
	ret->type = type;
	ret->len = len;
	return 0;
}

void ferry_frame_encode_header(uint8_t hdr[FERRY_FRAME_HEADER_LEN], uint8_t type, uint32_t len)
{
	ferry_put_u8(hdr, type);
	ferry_put_u8(hdr + 1, 0);
	ferry_put_u16(hdr + 2, 0);
	ferry_put_u32(hdr + 4, len);
}

int ferry_tlv_parse(const uint8_t *p, size_t len, struct ferry_tlv_list *ret, struct ferry_err *err)
{
	struct ferry_reader r;

	ret->n = 0;
	ferry_reader_init(&r, p, len);
	while (r.left > 0) {
		struct ferry_tlv t;

		if (ret->n == FERRY_TLV_MAX)
			return ferry_err_set(err, -E2BIG, "more than %d fields in one message", FERRY_TLV_MAX);
		t.tag = ferry_get_u16(&r);
		t.len = ferry_get_u16(&r);
		t.value = ferry_get_view(&r, t.len);
		if (!r.ok)
			return ferry_err_set(err, -EPROTO, "message field is cut short");
		ret->items[ret->n++] = t;
	}
	return 0;
}

const struct ferry_tlv *ferry_tlv_find(const struct ferry_tlv_list *l, uint16_t tag)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->items[i].tag == tag)
			return &l->items[i];
	return NULL;
}

int ferry_tlv_item_str(const struct ferry_tlv *t, char *ret, size_t len, struct ferry_err *err)
{
	if (t->len >= len)
		return ferry_err_set(err, -EMSGSIZE, "field %u is longer than %zu bytes", t->tag, len - 1);
	for (uint16_t i = 0; i < t->len; i++)
		if (t->value[i] < 0x20 || t->value[i] > 0x7e)
			return ferry_err_set(err, -EPROTO, "field %u holds a non-printable byte", t->tag);
	memcpy(ret, t->value, t->len);
	ret[t->len] = '\0';
	return 0;
}

int ferry_tlv_get_str(const struct ferry_tlv_list *l, uint16_t tag, char *ret, size_t len, struct ferry_err *err)
{
	const struct ferry_tlv *t = ferry_tlv_find(l, tag);

	if (!t)
		return ferry_err_set(err, -ENOENT, "message lacks field %u", tag);
	return ferry_tlv_item_str(t, ret, len, err);
}

int ferry_tlv_get_fixed(const struct ferry_tlv_list *l, uint16_t tag, void *ret, size_t n, struct ferry_err *err)
{
	const struct ferry_tlv *t = ferry_tlv_find(l, tag);

	if (!t)
		return ferry_err_set(err, -ENOENT, "message lacks field %u", tag);
	if (t->len != n)
		return ferry_err_set(err, -EPROTO, "field %u has %u bytes, expected %zu", tag, t->len, n);
	memcpy(ret, t->value, n);
	return 0;
}

int ferry_tlv_get_u64(const struct ferry_tlv_list *l, uint16_t tag, uint64_t *ret, struct ferry_err *err)
{
	uint8_t b[8];
	struct ferry_reader r;
	int rc = ferry_tlv_get_fixed(l, tag, b, 8, err);

	if (rc < 0)
		return rc;
	ferry_reader_init(&r, b, 8);
	*ret = ferry_get_u64(&r);
	return 0;
}

int ferry_tlv_add(struct ferry_buf *b, uint16_t tag, const void *v, size_t len)
{
	int r;

	if (len > UINT16_MAX)
		return -E2BIG;
	if ((r = ferry_buf_u16(b, tag)) < 0 || (r = ferry_buf_u16(b, (uint16_t)len)) < 0)
		return r;
	return ferry_buf_append(b, v, len);
}

int ferry_tlv_add_str(struct ferry_buf *b, uint16_t tag, const char *s)
{
	return ferry_tlv_add(b, tag, s, strlen(s));
}

int ferry_tlv_add_u64(struct ferry_buf *b, uint16_t tag, uint64_t v)
{
	uint8_t t[8];

	ferry_put_u64(t, v);
	return ferry_tlv_add(b, tag, t, 8);
}

int ferry_tlv_add_u32(struct ferry_buf *b, uint16_t tag, uint32_t v)
{
	uint8_t t[4];

	ferry_put_u32(t, v);
	return ferry_tlv_add(b, tag, t, 4);
}

int ferry_tlv_add_u16(struct ferry_buf *b, uint16_t tag, uint16_t v)
{
	uint8_t t[2];

	ferry_put_u16(t, v);
	return ferry_tlv_add(b, tag, t, 2);
}
