/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_HEX_H
#define FERRY_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void ferry_hex_encode(const uint8_t *in, size_t n, char *out);
/* Exactly 2n lowercase hex digits into n bytes; -EINVAL otherwise (out untouched). */
int ferry_hex_decode(const char *s, uint8_t *out, size_t n);

#endif
