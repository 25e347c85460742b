/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/parse.h"
#include "ferry/token.h"
#include "ferry/wire.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

long ferry_base64url_encode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
		             (i + 2 < len ? in[i + 2] : 0);
		size_t chars = len - i >= 3 ? 4 : len - i + 1;

		if (o + chars >= outlen)
			return -1;
		for (size_t k = 0; k < chars; k++)
			out[o++] = alphabet[(v >> (18 - 6 * k)) & 0x3f];
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return (long)o;
}

static int value(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;

	return p ? (int)(p - alphabet) : -1;
}

long ferry_base64url_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
	size_t o = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		size_t chars = len - i >= 4 ? 4 : len - i, bytes = chars - 1;
		uint32_t v = 0;

		for (size_t k = 0; k < 4; k++) {
			int d = k < chars ? value(in[i + k]) : 0;

			if (d < 0)
				return -1;
			v = v << 6 | (uint32_t)d;
		}
		/* Unused low bits of a short group must be zero: one text per byte string. */
		if ((chars == 2 && (v & 0xffff)) || (chars == 3 && (v & 0xff)))
			return -1;
		if (o + bytes > outlen)
			return -1;
		for (size_t k = 0; k < bytes; k++)
			out[o++] = (uint8_t)(v >> (16 - 8 * k));
	}
	return (long)o;
}

int ferry_parse_hostport(const char *s, uint32_t *ret_addr, uint16_t *ret_port, struct ferry_err *err)
{
	const char *colon = strrchr(s, ':');
	char host[16];
	uint64_t port;
	int r;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return ferry_err_set(err, -EINVAL, "'%.64s' is not an address; expected a.b.c.d:port", s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if ((r = ferry_parse_ipv4(host, ret_addr, err)) < 0)
		return r;
	if ((r = ferry_parse_u64(colon + 1, 1, 65535, "port", &port, err)) < 0)
		return r;
	*ret_port = (uint16_t)port;
	return 0;
}

static int put_str(struct ferry_buf *b, const char *s)
{
	size_t n = strlen(s);
	int r = ferry_buf_u8(b, (uint8_t)n);

	return r < 0 ? r : ferry_buf_append(b, s, n);
}

int ferry_token_encode(const struct ferry_token *t, char *out, size_t len, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(256);
	size_t plen = strlen(FERRY_TOKEN_PREFIX);
	int r = 0;

	r = r ? r : ferry_buf_u8(&b, 1);
	r = r ? r : put_str(&b, t->node);
	r = r ? r : put_str(&b, t->controller);
	r = r ? r : ferry_buf_append(&b, t->ca_pin, 32);
	r = r ? r : ferry_buf_append(&b, t->secret, 32);
	r = r ? r : ferry_buf_u64(&b, t->expires_at);
	if (r == 0 &&
	    (len <= plen || ferry_base64url_encode((const uint8_t *)b.data, b.len, out + plen, len - plen) < 0))
		r = -ENOSPC;
	if (r == 0)
		memcpy(out, FERRY_TOKEN_PREFIX, plen);
	ferry_buf_free(&b);
	return r < 0 ? ferry_err_set(err, r, "cannot encode the join token") : 0;
}

static int get_str(struct ferry_reader *r, char *out, size_t max)
{
	uint8_t n = ferry_get_u8(r);

	if (!r->ok || n == 0 || n > max || !ferry_get_bytes(r, out, n))
		return -1;
	out[n] = '\0';
	return strlen(out) == n ? 0 : -1; /* no embedded NUL: one text per token */
}

int ferry_token_parse(const char *s, struct ferry_token *ret, struct ferry_err *err)
{
	static const char bad[] = "join token is malformed (expected the text 'ferry token create' printed)";
	size_t plen = strlen(FERRY_TOKEN_PREFIX), n = strnlen(s, FERRY_TOKEN_MAX_LEN + 1);
	uint8_t raw[192];
	struct ferry_token t;
	struct ferry_reader r;
	uint32_t addr;
	uint16_t port;
	long len;

	memset(&t, 0, sizeof(t));
	if (n > FERRY_TOKEN_MAX_LEN || n <= plen || strncmp(s, FERRY_TOKEN_PREFIX, plen) != 0)
		return ferry_err_set(err, -EINVAL, "%s", bad);
	len = ferry_base64url_decode(s + plen, n - plen, raw, sizeof(raw));
	if (len < 0)
		return ferry_err_set(err, -EINVAL, "%s", bad);
	ferry_reader_init(&r, raw, (size_t)len);
	if (ferry_get_u8(&r) != 1)
		return ferry_err_set(err, -EINVAL, "join token has an unknown version");
	if (get_str(&r, t.node, FERRY_NODE_NAME_MAX_TOKEN) < 0 || get_str(&r, t.controller, FERRY_ADDR_MAX) < 0)
		return ferry_err_set(err, -EINVAL, "%s", bad);
	ferry_get_bytes(&r, t.ca_pin, 32);
	ferry_get_bytes(&r, t.secret, 32);
	t.expires_at = ferry_get_u64(&r);
	if (!r.ok || r.left != 0)
		return ferry_err_set(err, -EINVAL, "%s", bad);
	if (ferry_check_name(t.node, FERRY_NODE_NAME_MAX_TOKEN, "node", err) < 0 ||
	    ferry_parse_hostport(t.controller, &addr, &port, err) < 0)
		return ferry_err_wrap(err, "join token");
	*ret = t;
	return 0;
}
