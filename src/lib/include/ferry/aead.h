/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_AEAD_H
#define FERRY_AEAD_H

/*
 * ChaCha20-Poly1305 in one call, for what Ferry seals at rest (moving-target
 * lookup tables, forensic snapshot segments): 32-byte key, 12-byte nonce,
 * 16-byte tag.  Opening checks the tag before it says yes.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FERRY_AEAD_KEY_LEN   32
#define FERRY_AEAD_NONCE_LEN 12
#define FERRY_AEAD_TAG_LEN   16

/*
 * seal: in (len bytes) to out and tag; open: in to out when tag matches.
 * ad is authenticated, not encrypted.  -EBADMSG on a wrong tag or any failure.
 */
int ferry_aead(bool seal, const uint8_t key[FERRY_AEAD_KEY_LEN], const uint8_t nonce[FERRY_AEAD_NONCE_LEN],
               const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t len, uint8_t *out,
               uint8_t tag[FERRY_AEAD_TAG_LEN]);

#endif
