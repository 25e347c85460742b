/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Draw tokens (the controller's leave to collect shares) and the choice of the hosts asked. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ferry/defense.h"
#include "ferry/identity.h"
#include "ferry/mtd.h"
#include "ferry/parse.h"
#include "ferry/wire.h"

#define DRAW_MAGIC "FMTD1"

static int encode_body(const struct ferry_mtd_draw *d, struct ferry_buf *out)
{
	size_t name = strlen(d->requester);
	int r = ferry_buf_append(out, DRAW_MAGIC, 5);

	r = r ? r : ferry_buf_u64(out, d->epoch);
	r = r ? r : ferry_buf_append(out, d->id, sizeof(d->id));
	r = r ? r : ferry_buf_u8(out, d->mode);
	r = r ? r : ferry_buf_u8(out, d->k);
	r = r ? r : ferry_buf_u8(out, (uint8_t)name);
	r = r ? r : ferry_buf_append(out, d->requester, name);
	r = r ? r : ferry_buf_u64(out, d->expires_at);
	return r;
}

int ferry_mtd_draw_encode(const struct ferry_mtd_draw *d, struct ferry_buf *out)
{
	int r = encode_body(d, out);

	return r ? r : ferry_buf_append(out, d->signature, sizeof(d->signature));
}

int ferry_mtd_draw_parse(const void *data, size_t len, struct ferry_mtd_draw *ret, struct ferry_err *err)
{
	struct ferry_reader rd;
	const uint8_t *magic, *name;
	uint8_t name_len;

	memset(ret, 0, sizeof(*ret));
	if (len > FERRY_MTD_DRAW_MAX_LEN)
		return ferry_err_set(err, -EPROTO, "draw token is %zu bytes; at most %d", len, FERRY_MTD_DRAW_MAX_LEN);
	ferry_reader_init(&rd, data, len);
	magic = ferry_get_view(&rd, 5);
	ret->epoch = ferry_get_u64(&rd);
	ferry_get_bytes(&rd, ret->id, sizeof(ret->id));
	ret->mode = ferry_get_u8(&rd);
	ret->k = ferry_get_u8(&rd);
	name_len = ferry_get_u8(&rd);
	name = ferry_get_view(&rd, name_len);
	ret->expires_at = ferry_get_u64(&rd);
	ferry_get_bytes(&rd, ret->signature, sizeof(ret->signature));
	if (!rd.ok || rd.left != 0 || memcmp(magic, DRAW_MAGIC, 5) != 0)
		return ferry_err_set(err, -EPROTO, "not a draw token (bad length or magic)");
	if (ret->mode != FERRY_MTD_SHAMIR && ret->mode != FERRY_MTD_FOUNTAIN && ret->mode != FERRY_MTD_DECOY)
		return ferry_err_set(err, -EPROTO, "draw token: mode %u is not shamir (1), fountain (2) or decoy (3)",
		                     ret->mode);
	if (ret->k < 2 || ret->k > FERRY_MTD_K_MAX)
		return ferry_err_set(err, -EPROTO, "draw token: k %u is not 2 to %d", ret->k, FERRY_MTD_K_MAX);
	if (name_len == 0 || name_len > FERRY_NODE_NAME_MAX)
		return ferry_err_set(err, -EPROTO, "draw token: bad requester name");
	memcpy(ret->requester, name, name_len);
	ret->requester[name_len] = '\0';
	if (strlen(ret->requester) != name_len ||
	    ferry_check_name(ret->requester, FERRY_NODE_NAME_MAX, "node", NULL) < 0)
		return ferry_err_set(err, -EPROTO, "draw token: bad requester name");
	return 0;
}

int ferry_mtd_draw_sign(struct ferry_mtd_draw *d, EVP_PKEY *key, struct ferry_err *err)
{
	struct ferry_buf body = FERRY_BUF_INIT(FERRY_MTD_DRAW_MAX_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = sizeof(d->signature);
	int r = 0;

	if (!ctx || encode_body(d, &body) < 0)
		r = ferry_err_set(err, -ENOMEM, "cannot encode the draw token");
	else if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
	         EVP_DigestSign(ctx, d->signature, &siglen, (const uint8_t *)body.data, body.len) != 1 ||
	         siglen != sizeof(d->signature))
		r = ferry_err_set(err, -EINVAL, "cannot sign the draw token (is the key Ed25519?)");
	EVP_MD_CTX_free(ctx);
	ferry_buf_free(&body);
	return r;
}

int ferry_mtd_draw_verify(const struct ferry_mtd_draw *d, EVP_PKEY *pub, struct ferry_err *err)
{
	struct ferry_buf body = FERRY_BUF_INIT(FERRY_MTD_DRAW_MAX_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = 0;

	if (!ctx || encode_body(d, &body) < 0)
		r = ferry_err_set(err, -ENOMEM, "cannot encode the draw token");
	else if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) != 1 ||
	         EVP_DigestVerify(ctx, d->signature, sizeof(d->signature), (const uint8_t *)body.data, body.len) != 1)
		r = ferry_err_set(err, -EPERM, "draw token signature is not the controller's");
	EVP_MD_CTX_free(ctx);
	ferry_buf_free(&body);
	return r;
}

unsigned ferry_mtd_index(const uint8_t r[FERRY_MTD_R_LEN], uint64_t epoch, unsigned n)
{
	uint8_t in[FERRY_MTD_R_LEN + 8], h[SHA256_DIGEST_LENGTH];
	uint64_t v = 0;

	if (n == 0)
		return 0;
	memcpy(in, r, FERRY_MTD_R_LEN);
	ferry_put_u64(in + FERRY_MTD_R_LEN, epoch);
	SHA256(in, sizeof(in), h);
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	/* 64 bits into at most 64 entries: the bias is below 2^-58. */
	return (unsigned)(v % n);
}

int ferry_mtd_pick_disjoint(unsigned n, unsigned k, unsigned *out, struct ferry_err *err)
{
	unsigned pool[256];

	if (k > n || n > 256)
		return ferry_err_set(err, -EINVAL, "cannot pick %u distinct hosts of %u", k, n);
	for (unsigned i = 0; i < n; i++)
		pool[i] = i;
	/* A partial Fisher-Yates shuffle: the first k of a uniform permutation. */
	for (unsigned i = 0; i < k; i++) {
		unsigned j;

		if (ferry_defense_draw(n - i, &j) < 0)
			return ferry_err_set(err, -EIO, "no random numbers from the kernel");
		out[i] = pool[i + j];
		pool[i + j] = pool[i];
	}
	return 0;
}

int ferry_mtd_pick_by_latency(const uint32_t *latency_us, unsigned n, unsigned k, unsigned *out, struct ferry_err *err)
{
	double weight[256], total = 0;
	uint32_t worst = 1;

	if (n == 0 || n > 256)
		return ferry_err_set(err, -EINVAL, "cannot pick among %u hosts", n);
	for (unsigned j = 0; j < n; j++)
		worst = latency_us[j] > worst ? latency_us[j] : worst;
	for (unsigned j = 0; j < n; j++) {
		weight[j] = 1.0 / (double)(latency_us[j] ? latency_us[j] : worst);
		total += weight[j];
	}
	for (unsigned i = 0; i < k; i++) {
		uint64_t x;
		double u, acc = 0;
		unsigned j = 0;

		if (ferry_random(&x, sizeof(x)) < 0)
			return ferry_err_set(err, -EIO, "no random numbers from the kernel");
		u = (double)(x >> 11) / (double)(1ULL << 53) * total;
		for (j = 0; j < n - 1; j++) {
			acc += weight[j];
			if (u < acc)
				break;
		}
		out[i] = j;
	}
	return 0;
}

const char *ferry_mtd_mode_name(uint8_t mode)
{
	return mode == FERRY_MTD_SHAMIR     ? "shamir"
	       : mode == FERRY_MTD_FOUNTAIN ? "fountain"
	       : mode == FERRY_MTD_DECOY    ? "decoy"
	                                    : "?";
}
