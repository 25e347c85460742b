/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "ferry/parse.h"
#include "ferry/ticket.h"
#include "ferry/wire.h"

static const char *const mode_names[] = {
	[FERRY_MODE_STOP_COPY] = "stop-copy", [FERRY_MODE_PRECOPY] = "precopy",     [FERRY_MODE_POSTCOPY] = "postcopy",
	[FERRY_MODE_HYBRID] = "hybrid",       [FERRY_MODE_STATELESS] = "stateless", [FERRY_MODE_AUTO] = "auto",
};

const char *ferry_mode_name(uint8_t mode)
{
	if (mode >= FERRY_MODE_STOP_COPY && mode <= FERRY_MODE_AUTO)
		return mode_names[mode];
	return "unknown";
}

int ferry_mode_parse(const char *s, uint8_t *ret, struct ferry_err *err)
{
	for (uint8_t m = FERRY_MODE_STOP_COPY; m <= FERRY_MODE_AUTO; m++) {
		if (strcmp(s, mode_names[m]) == 0) {
			*ret = m;
			return 0;
		}
	}
	return ferry_err_set(
	    err, -EINVAL, "mode '%.32s' is not known; expected stop-copy, precopy, postcopy, hybrid, stateless or auto",
	    s);
}

static int put_name(struct ferry_buf *b, const char *s)
{
	size_t n = strlen(s);
	int r = ferry_buf_u8(b, (uint8_t)n);

	return r < 0 ? r : ferry_buf_append(b, s, n);
}

int ferry_ticket_encode_body(const struct ferry_ticket *t, struct ferry_buf *out)
{
	int r = 0;

	r = r ? r : ferry_buf_append(out, FERRY_TICKET_MAGIC, 4);
	r = r ? r : ferry_buf_append(out, t->id, FERRY_TICKET_ID_LEN);
	r = r ? r : ferry_buf_u64(out, t->issued_at);
	r = r ? r : ferry_buf_u64(out, t->expires_at);
	r = r ? r : ferry_buf_u64(out, t->generation);
	r = r ? r : ferry_buf_u8(out, t->mode);
	r = r ? r : put_name(out, t->container);
	r = r ? r : put_name(out, t->source);
	r = r ? r : put_name(out, t->dest);
	r = r ? r : ferry_buf_u64(out, t->reserve_memory);
	r = r ? r : ferry_buf_u64(out, t->reserve_disk);
	r = r ? r : ferry_buf_append(out, t->manifest_hash, 32);
	return r;
}

int ferry_ticket_encode(const struct ferry_ticket *t, struct ferry_buf *out)
{
	int r = ferry_ticket_encode_body(t, out);

	return r < 0 ? r : ferry_buf_append(out, t->signature, FERRY_TICKET_SIG_LEN);
}

static bool get_name(struct ferry_reader *r, char *out, size_t max, const char *what, struct ferry_err *err)
{
	uint8_t n = ferry_get_u8(r);

	if (!r->ok || n == 0 || n > max || !ferry_get_bytes(r, out, n))
		return false;
	out[n] = '\0';
	/* An embedded NUL would make two encodings of one name: not canonical, refused. */
	if (strlen(out) != n)
		return ferry_err_set(err, -EPROTO, "%s name holds a NUL byte", what), false;
	return ferry_check_name(out, max, what, err) == 0;
}

int ferry_ticket_parse(const uint8_t *p, size_t len, struct ferry_ticket *ret, struct ferry_err *err)
{
	struct ferry_ticket t;
	struct ferry_reader r;
	char magic[4];

	memset(&t, 0, sizeof(t));
	if (len > FERRY_TICKET_MAX_LEN)
		return ferry_err_set(err, -EMSGSIZE, "ticket of %zu bytes exceeds %d", len, FERRY_TICKET_MAX_LEN);
	ferry_reader_init(&r, p, len);
	if (!ferry_get_bytes(&r, magic, 4) || memcmp(magic, FERRY_TICKET_MAGIC, 4) != 0)
		return ferry_err_set(err, -EPROTO, "not a ticket (bad magic)");
	ferry_get_bytes(&r, t.id, FERRY_TICKET_ID_LEN);
	t.issued_at = ferry_get_u64(&r);
	t.expires_at = ferry_get_u64(&r);
	t.generation = ferry_get_u64(&r);
	t.mode = ferry_get_u8(&r);
	if (!r.ok)
		return ferry_err_set(err, -EPROTO, "ticket is cut short");
	if (!get_name(&r, t.container, FERRY_CONTAINER_NAME_MAX, "container", err) ||
	    !get_name(&r, t.source, FERRY_NODE_NAME_MAX, "source node", err) ||
	    !get_name(&r, t.dest, FERRY_NODE_NAME_MAX, "destination node", err)) {
		if (!r.ok)
			ferry_err_set(err, -EPROTO, "ticket has a cut or empty name");
		return ferry_err_wrap(err, "ticket");
	}
	t.reserve_memory = ferry_get_u64(&r);
	t.reserve_disk = ferry_get_u64(&r);
	ferry_get_bytes(&r, t.manifest_hash, 32);
	ferry_get_bytes(&r, t.signature, FERRY_TICKET_SIG_LEN);
	if (!r.ok)
		return ferry_err_set(err, -EPROTO, "ticket is cut short");
	if (r.left != 0)
		return ferry_err_set(err, -EPROTO, "ticket has %zu trailing bytes", r.left);
	if (t.mode < FERRY_MODE_STOP_COPY || t.mode > FERRY_MODE_STATELESS)
		return ferry_err_set(err, -EPROTO, "ticket has unknown mode %u", t.mode);
	if (t.expires_at <= t.issued_at || t.expires_at - t.issued_at > FERRY_TICKET_MAX_TTL)
		return ferry_err_set(err, -EPROTO, "ticket validity window is not within (0, %d] seconds",
		                     FERRY_TICKET_MAX_TTL);
	if (strcmp(t.source, t.dest) == 0)
		return ferry_err_set(err, -EPROTO, "ticket's source and destination are the same node");
	*ret = t;
	return 0;
}

int ferry_ticket_sign(struct ferry_ticket *t, EVP_PKEY *key, struct ferry_err *err)
{
	struct ferry_buf body = FERRY_BUF_INIT(FERRY_TICKET_MAX_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = FERRY_TICKET_SIG_LEN;
	int r = 0;

	if (!ctx || ferry_ticket_encode_body(t, &body) < 0)
		r = ferry_err_set(err, -ENOMEM, "cannot encode the ticket");
	else if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
	         EVP_DigestSign(ctx, t->signature, &siglen, (const uint8_t *)body.data, body.len) != 1 ||
	         siglen != FERRY_TICKET_SIG_LEN)
		r = ferry_err_set(err, -EINVAL, "cannot sign the ticket (is the key Ed25519?)");
	EVP_MD_CTX_free(ctx);
	ferry_buf_free(&body);
	return r;
}

int ferry_ticket_verify_signature(const struct ferry_ticket *t, EVP_PKEY *pub, struct ferry_err *err)
{
	struct ferry_buf body = FERRY_BUF_INIT(FERRY_TICKET_MAX_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = 0;

	if (!ctx || ferry_ticket_encode_body(t, &body) < 0)
		r = ferry_err_set(err, -ENOMEM, "cannot encode the ticket");
	else if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) != 1 ||
	         EVP_DigestVerify(ctx, t->signature, FERRY_TICKET_SIG_LEN, (const uint8_t *)body.data, body.len) != 1)
		r = ferry_err_set(err, -EPERM, "ticket signature is not the controller's");
	EVP_MD_CTX_free(ctx);
	ferry_buf_free(&body);
	return r;
}

int ferry_ticket_check_claims(const struct ferry_ticket *t, const char *self, bool self_is_dest, const char *peer,
                              uint64_t now, struct ferry_err *err)
{
	if (now >= t->expires_at)
		return ferry_err_set(err, -ETIMEDOUT, "ticket expired %llu s ago",
		                     (unsigned long long)(now - t->expires_at));
	if (t->issued_at > now + FERRY_TICKET_CLOCK_SKEW)
		return ferry_err_set(err, -EPERM, "ticket is issued %llu s in the future",
		                     (unsigned long long)(t->issued_at - now));
	if (self_is_dest && strcmp(t->dest, self) != 0)
		return ferry_err_set(err, -EPERM, "ticket is for destination '%s', not this node '%s'", t->dest, self);
	if (!self_is_dest && strcmp(t->source, self) != 0)
		return ferry_err_set(err, -EPERM, "ticket is for source '%s', not this node '%s'", t->source, self);
	if (peer && strcmp(t->source, peer) != 0)
		return ferry_err_set(err, -EPERM, "TLS peer '%s' is not the ticket's source '%s'", peer, t->source);
	return 0;
}
