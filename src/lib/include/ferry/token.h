/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_TOKEN_H
#define FERRY_TOKEN_H

/*
 * Join tokens (docs/PROTOCOL.md §7): "ferry1." then base64url (no padding) of
 *   version u8 (1) | node name (u8 length + bytes) | controller "a.b.c.d:port"
 *   (u8 length + bytes) | CA SPKI-SHA256 pin (32) | secret (32) | expires u64
 * The controller keeps only SHA-256(secret); a token works once, until it expires.
 */

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

#define FERRY_TOKEN_PREFIX        "ferry1."
#define FERRY_TOKEN_MAX_LEN       256
#define FERRY_ADDR_MAX            31
#define FERRY_NODE_NAME_MAX_TOKEN 31

struct ferry_token {
	char node[32];
	char controller[FERRY_ADDR_MAX + 1];
	uint8_t ca_pin[32];
	uint8_t secret[32];
	uint64_t expires_at;
};

int ferry_token_encode(const struct ferry_token *t, char *out, size_t len, struct ferry_err *err);
/* Pure parse of the text form (surrounding whitespace not allowed). */
int ferry_token_parse(const char *s, struct ferry_token *ret, struct ferry_err *err);

/* "a.b.c.d:port" with port 1..65535 (pure). */
int ferry_parse_hostport(const char *s, uint32_t *ret_addr, uint16_t *ret_port, struct ferry_err *err);

/* base64url without padding; return the output length, or -1 when out is too small / input invalid. */
long ferry_base64url_encode(const uint8_t *in, size_t len, char *out, size_t outlen);
long ferry_base64url_decode(const char *in, size_t len, uint8_t *out, size_t outlen);

#endif
