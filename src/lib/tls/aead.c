/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ChaCha20-Poly1305 through OpenSSL's EVP interface (ferry/aead.h). */
#include <errno.h>
#include <limits.h>

#include <openssl/evp.h>

#include "ferry/aead.h"

int ferry_aead(bool seal, const uint8_t key[FERRY_AEAD_KEY_LEN], const uint8_t nonce[FERRY_AEAD_NONCE_LEN],
               const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t len, uint8_t *out,
               uint8_t tag[FERRY_AEAD_TAG_LEN])
{
	EVP_CIPHER_CTX *c;
	int n = 0, ok;

	if (len > INT_MAX || ad_len > INT_MAX)
		return -EBADMSG;
	c = EVP_CIPHER_CTX_new();
	ok = c && EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL, seal) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, FERRY_AEAD_NONCE_LEN, NULL) == 1 &&
	     EVP_CipherInit_ex(c, NULL, NULL, key, nonce, seal) == 1 &&
	     EVP_CipherUpdate(c, NULL, &n, ad, (int)ad_len) == 1 &&
	     (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1) &&
	     (seal || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, FERRY_AEAD_TAG_LEN, tag) == 1) &&
	     EVP_CipherFinal_ex(c, out + (len ? n : 0), &n) == 1 &&
	     (!seal || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, FERRY_AEAD_TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -EBADMSG;
}
