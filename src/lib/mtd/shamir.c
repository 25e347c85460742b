/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shamir shares of the MTD master secret (libgfshare) and the hosts' sealed lookup tables. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include <libgfshare.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "ferry/aead.h"
#include "ferry/identity.h"
#include "ferry/parse.h"
#include "ferry/shamir.h"
#include "ferry/wire.h"

#define TABLE_MAGIC "FMT1"
#define NONCE_LEN   12
#define TAG_LEN     16

/* libgfshare draws its polynomial coefficients through this: the CSPRNG, not random(). */
static void fill_rand(unsigned char *buf, unsigned int len)
{
	if (ferry_random(buf, len) < 0)
		abort(); /* no randomness: a predictable share would give the secret away */
}

static pthread_once_t rand_once = PTHREAD_ONCE_INIT;

static void use_csprng(void)
{
	gfshare_fill_rand = fill_rand;
}

int ferry_mtd_secret(uint8_t secret[FERRY_MTD_SECRET_LEN], struct ferry_err *err)
{
	return ferry_random(secret, FERRY_MTD_SECRET_LEN) < 0 ? ferry_err_set(err, -EIO, "no randomness") : 0;
}

int ferry_shamir_split(const uint8_t secret[FERRY_MTD_SECRET_LEN], unsigned k, unsigned n, struct ferry_share *out,
                       struct ferry_err *err)
{
	uint8_t xs[FERRY_MTD_SHARES_MAX], copy[FERRY_MTD_SECRET_LEN];
	gfshare_ctx *ctx;

	if (k < 2 || k > n || n > FERRY_MTD_SHARES_MAX)
		return ferry_err_set(err, -EINVAL, "shares: %u of %u; expected 2 <= k <= n <= %d", k, n,
		                     FERRY_MTD_SHARES_MAX);
	pthread_once(&rand_once, use_csprng);
	for (unsigned i = 0; i < n; i++)
		xs[i] = (uint8_t)(i + 1);
	if (!(ctx = gfshare_ctx_init_enc(xs, n, (unsigned char)k, FERRY_MTD_SECRET_LEN)))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	memcpy(copy, secret, sizeof(copy));
	gfshare_ctx_enc_setsecret(ctx, copy);
	for (unsigned i = 0; i < n; i++) {
		out[i].x = xs[i];
		gfshare_ctx_enc_getshare(ctx, (unsigned char)i, out[i].y);
	}
	gfshare_ctx_free(ctx); /* it wipes its coefficients */
	OPENSSL_cleanse(copy, sizeof(copy));
	return 0;
}

int ferry_shamir_combine(const struct ferry_share *shares, unsigned count, uint8_t secret[FERRY_MTD_SECRET_LEN],
                         struct ferry_err *err)
{
	uint8_t xs[FERRY_MTD_SHARES_MAX], y[FERRY_MTD_SECRET_LEN];
	gfshare_ctx *ctx;

	if (count == 0 || count > FERRY_MTD_SHARES_MAX)
		return ferry_err_set(err, -EINVAL, "shares: %u; expected 1 to %d", count, FERRY_MTD_SHARES_MAX);
	for (unsigned i = 0; i < count; i++) {
		if (shares[i].x == 0)
			return ferry_err_set(err, -EINVAL, "a share numbered 0");
		for (unsigned j = 0; j < i; j++)
			if (shares[j].x == shares[i].x)
				return ferry_err_set(err, -EINVAL, "share %u given twice", shares[i].x);
		xs[i] = shares[i].x;
	}
	/* gfshare_ctx_free scrubs with the fill function too: a process that never split needs it set. */
	pthread_once(&rand_once, use_csprng);
	if (!(ctx = gfshare_ctx_init_dec(xs, count, FERRY_MTD_SECRET_LEN)))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < count; i++) {
		memcpy(y, shares[i].y, sizeof(y));
		gfshare_ctx_dec_giveshare(ctx, (unsigned char)i, y);
	}
	gfshare_ctx_dec_extract(ctx, secret);
	gfshare_ctx_free(ctx);
	OPENSSL_cleanse(y, sizeof(y));
	return 0;
}

/* The table's key: HKDF-SHA256(secret, info = "ferry mtd table" || epoch || host). */
static int table_key(const uint8_t secret[FERRY_MTD_SECRET_LEN], uint64_t epoch, const char *host, uint8_t key[32])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint8_t info[15 + 8 + FERRY_NODE_NAME_MAX];
	size_t hl = strlen(host), il = 0;
	OSSL_PARAM params[4];
	int r;

	memcpy(info, "ferry mtd table", 15);
	il = 15;
	for (int i = 7; i >= 0; i--)
		info[il++] = (uint8_t)(epoch >> (8 * i));
	memcpy(info + il, host, hl);
	il += hl;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, FERRY_MTD_SECRET_LEN);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, il);
	params[3] = OSSL_PARAM_construct_end();
	r = ctx && EVP_KDF_derive(ctx, key, 32, params) == 1 ? 0 : -EIO;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r;
}

/* The associated data: what the ciphertext is for (never encrypted, always checked). */
static size_t table_ad(uint64_t epoch, const char *host, uint8_t *ad)
{
	size_t n = 0, hl = strlen(host);

	memcpy(ad, TABLE_MAGIC, 4);
	n = 4;
	for (int i = 7; i >= 0; i--)
		ad[n++] = (uint8_t)(epoch >> (8 * i));
	memcpy(ad + n, host, hl);
	return n + hl;
}

/* Plain form: n, then each entry as a length byte and its name. */
static int table_encode(const struct ferry_mtd_table *t, struct ferry_buf *out)
{
	int r = ferry_buf_u8(out, (uint8_t)t->n);

	for (unsigned i = 0; r == 0 && i < t->n; i++) {
		size_t len = strlen(t->entries[i]);

		r = ferry_buf_u8(out, (uint8_t)len);
		r = r ? r : ferry_buf_append(out, t->entries[i], len);
	}
	return r;
}

int ferry_mtd_table_seal(const uint8_t secret[FERRY_MTD_SECRET_LEN], const struct ferry_mtd_table *t,
                         struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_buf plain = FERRY_BUF_INIT(FERRY_MTD_TABLE_MAX * (FERRY_NODE_NAME_MAX + 1) + 1);
	uint8_t key[32], nonce[NONCE_LEN], tag[TAG_LEN], ad[4 + 8 + FERRY_NODE_NAME_MAX], *ct = NULL;
	size_t ad_len;
	int r;

	if (t->n == 0 || t->n > FERRY_MTD_TABLE_MAX)
		return ferry_err_set(err, -EINVAL, "a lookup table holds 1 to %d hosts", FERRY_MTD_TABLE_MAX);
	if ((r = ferry_check_name(t->host, FERRY_NODE_NAME_MAX, "host", err)) < 0)
		return r;
	for (unsigned i = 0; i < t->n; i++)
		if ((r = ferry_check_name(t->entries[i], FERRY_NODE_NAME_MAX, "host", err)) < 0)
			return r;
	if ((r = table_encode(t, &plain)) < 0 || !(ct = malloc(plain.len))) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ad_len = table_ad(t->epoch, t->host, ad);
	if (table_key(secret, t->epoch, t->host, key) < 0 || ferry_random(nonce, sizeof(nonce)) < 0 ||
	    ferry_aead(true, key, nonce, ad, ad_len, (const uint8_t *)plain.data, plain.len, ct, tag) < 0) {
		r = ferry_err_set(err, -EIO, "cannot seal the lookup table");
		goto out;
	}
	r = ferry_buf_append(out, nonce, sizeof(nonce));
	r = r ? r : ferry_buf_append(out, ct, plain.len);
	r = r ? r : ferry_buf_append(out, tag, sizeof(tag));
	if (r < 0)
		r = ferry_err_set(err, r, "the sealed table does not fit");
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (plain.data)
		OPENSSL_cleanse(plain.data, plain.len);
	ferry_buf_free(&plain);
	free(ct);
	return r;
}

int ferry_mtd_table_open(const uint8_t secret[FERRY_MTD_SECRET_LEN], uint64_t epoch, const char *host,
                         const void *sealed, size_t len, struct ferry_mtd_table *ret, struct ferry_err *err)
{
	const uint8_t *p = sealed;
	uint8_t key[32], tag[TAG_LEN], ad[4 + 8 + FERRY_NODE_NAME_MAX], *plain = NULL;
	size_t n, ad_len, off = 1;
	int r;

	if (ferry_check_name(host, FERRY_NODE_NAME_MAX, "host", err) < 0)
		return -EINVAL;
	if (len < NONCE_LEN + 1 + TAG_LEN ||
	    len > NONCE_LEN + TAG_LEN + 1 + FERRY_MTD_TABLE_MAX * (FERRY_NODE_NAME_MAX + 1))
		return ferry_err_set(err, -EBADMSG, "a sealed table of %zu bytes", len);
	n = len - NONCE_LEN - TAG_LEN;
	if (!(plain = malloc(n)))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	memcpy(tag, p + len - TAG_LEN, TAG_LEN);
	ad_len = table_ad(epoch, host, ad);
	if (table_key(secret, epoch, host, key) < 0 ||
	    ferry_aead(false, key, p, ad, ad_len, p + NONCE_LEN, n, plain, tag) < 0) {
		r = ferry_err_set(
		    err, -EBADMSG,
		    "the lookup table does not open: not %s's of epoch %llu, sealed under another secret, "
		    "or changed",
		    host, (unsigned long long)epoch);
		goto out;
	}
	/* Authenticated, so ours; parsed as strictly as anything else. */
	memset(ret, 0, sizeof(*ret));
	ret->epoch = epoch;
	snprintf(ret->host, sizeof(ret->host), "%s", host);
	ret->n = plain[0];
	r = ret->n >= 1 && ret->n <= FERRY_MTD_TABLE_MAX ? 0 : -EBADMSG;
	for (unsigned i = 0; r == 0 && i < ret->n; i++) {
		size_t l = off < n ? plain[off] : 0;

		if (l == 0 || l > FERRY_NODE_NAME_MAX || off + 1 + l > n) {
			r = -EBADMSG;
			break;
		}
		memcpy(ret->entries[i], plain + off + 1, l);
		ret->entries[i][l] = '\0';
		off += 1 + l;
	}
	if (r == 0 && off != n)
		r = -EBADMSG;
	if (r < 0)
		ferry_err_set(err, r, "the lookup table is malformed");
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(plain, n);
	free(plain);
	return r;
}
