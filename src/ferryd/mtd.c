/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * This node's part in moving-target defense (docs/ARCHITECTURE.md,
 * "Moving-target defense"):
 *   MTD_EPOCH  (controller) the epoch's shares this node holds, its sealed
 *              lookup table, and the peers it may ask;
 *   MTD_DRAW   (controller) with a random number and a signed draw token:
 *              ask k peers for shares over ferry-mtd, rebuild the master
 *              secret, open the table, answer where the number points;
 *   MTD_SHARE  (a peer, ferry-mtd) one share for a draw the controller
 *              signed for that peer, in this epoch, with a nonce never seen.
 * Shares and secrets live in memory only and are wiped when replaced.
 * Knowing the destination moves nothing: the controller checks the answer
 * against its own tables and still signs the migration's ticket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define LOG_PREFIX "mtd"
#include "ferry/bundle.h"
#include "ferry/clock.h"
#include "ferry/identity.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "ferry/token.h"
#include "node.h"

#define MTD_CONNECT_MS 2000
#define MTD_IO_MS      2000

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* ---- MTD_EPOCH ---- */

static int peer_record(const struct ferry_tlv *t, struct mtd_peer *p, struct ferry_err *err)
{
	struct ferry_tlv_list rl;
	uint64_t lat = 0;
	uint32_t a;
	uint16_t port;
	int r;

	memset(p, 0, sizeof(*p));
	if ((r = ferry_tlv_parse(t->value, t->len, &rl, err)) < 0 ||
	    (r = ferry_tlv_get_str(&rl, FERRY_TAG_NODE, p->name, sizeof(p->name), err)) < 0 ||
	    (r = ferry_check_name(p->name, FERRY_NODE_NAME_MAX, "node", err)) < 0 ||
	    (r = ferry_tlv_get_str(&rl, FERRY_TAG_ADDRESS, p->address, sizeof(p->address), err)) < 0 ||
	    (r = ferry_parse_hostport(p->address, &a, &port, err)) < 0)
		return r;
	if (ferry_tlv_find(&rl, FERRY_TAG_LATENCY_US) && ferry_tlv_get_u64(&rl, FERRY_TAG_LATENCY_US, &lat, err) < 0)
		return -EPROTO;
	p->latency_us = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
	return 0;
}

int mtd_epoch_set(struct node *node, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err)
{
	struct node_mtd *m = &node->mtd;
	struct node_mtd *next = calloc(1, sizeof(*next));
	const struct ferry_tlv *table = ferry_tlv_find(l, FERRY_TAG_DATA);
	uint64_t epoch, mode, k;
	int r = 0;

	if (!next)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_tlv_get_u64(l, FERRY_TAG_EPOCH, &epoch, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_MODE, &mode, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_COUNT, &k, err)) < 0)
		goto out;
	if ((mode != FERRY_MTD_SHAMIR && mode != FERRY_MTD_FOUNTAIN) || k < 2 || k > FERRY_MTD_K_MAX || !table ||
	    table->len > MTD_SEALED_MAX) {
		r = ferry_err_set(err, -EPROTO, "bad epoch: mode %llu, k %llu, or its table missing or too large",
		                  (unsigned long long)mode, (unsigned long long)k);
		goto out;
	}
	for (unsigned i = 0; i < l->n; i++) {
		const struct ferry_tlv *t = &l->items[i];

		if (t->tag == FERRY_TAG_SHARE) {
			if (next->n_shares == MTD_HELD_MAX || t->len != 1 + FERRY_MTD_SECRET_LEN || t->value[0] == 0) {
				r = ferry_err_set(err, -EPROTO, "bad share in the epoch");
				goto out;
			}
			next->shares[next->n_shares].x = t->value[0];
			memcpy(next->shares[next->n_shares].y, t->value + 1, FERRY_MTD_SECRET_LEN);
			next->n_shares++;
		} else if (t->tag == FERRY_TAG_RECORD) {
			if (next->cur.n_peers == MTD_PEERS_MAX) {
				r = ferry_err_set(err, -E2BIG, "more than %d peers in the epoch", MTD_PEERS_MAX);
				goto out;
			}
			if ((r = peer_record(t, &next->cur.peers[next->cur.n_peers], err)) < 0)
				goto out;
			next->cur.n_peers++;
		}
	}
	if (next->n_shares == 0 || next->cur.n_peers == 0) {
		r = ferry_err_set(err, -EPROTO, "the epoch gives this node no share or no peer");
		goto out;
	}
	pthread_mutex_lock(&m->lock);
	if (epoch <= m->cur.epoch) {
		pthread_mutex_unlock(&m->lock);
		r = ferry_err_set(err, -ESTALE, "epoch %llu is not newer than this node's %llu",
		                  (unsigned long long)epoch, (unsigned long long)m->cur.epoch);
		goto out;
	}
	OPENSSL_cleanse(m->shares, sizeof(m->shares));
	m->cur.epoch = epoch;
	m->cur.mode = (uint8_t)mode;
	m->cur.k = (uint8_t)k;
	memcpy(m->shares, next->shares, sizeof(m->shares));
	m->n_shares = next->n_shares;
	memcpy(m->cur.peers, next->cur.peers, sizeof(m->cur.peers));
	m->cur.n_peers = next->cur.n_peers;
	memcpy(m->cur.sealed, table->value, table->len);
	m->cur.sealed_len = table->len;
	m->n_seen = 0;
	memset(m->draws, 0, sizeof(m->draws));
	pthread_mutex_unlock(&m->lock);
	log_info("epoch %llu: %s, k = %llu, %u shares held, %u peers", (unsigned long long)epoch,
	         ferry_mtd_mode_name((uint8_t)mode), (unsigned long long)k, next->n_shares, next->cur.n_peers);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
out:
	OPENSSL_cleanse(next, sizeof(*next));
	free(next);
	return r;
}

/* ---- MTD_SHARE: answering a peer ---- */

/* Whether nonce is new in this epoch (then remembered); under m->lock. */
static bool nonce_fresh(struct node_mtd *m, const uint8_t *nonce)
{
	for (unsigned i = 0; i < m->n_seen; i++)
		if (CRYPTO_memcmp(m->seen[i], nonce, FERRY_MTD_NONCE_LEN) == 0)
			return false;
	if (m->n_seen == MTD_SEEN_MAX)
		return false; /* a flood of requests: refused until the next epoch */
	memcpy(m->seen[m->n_seen++], nonce, FERRY_MTD_NONCE_LEN);
	return true;
}

/* How many shares this node already gave for draw id (and counts this one); under m->lock. */
static unsigned draw_given(struct node_mtd *m, const uint8_t *id)
{
	unsigned oldest = 0;

	for (unsigned i = 0; i < MTD_DRAWS_MAX; i++) {
		if (m->draws[i].given && memcmp(m->draws[i].id, id, FERRY_MTD_DRAW_ID_LEN) == 0)
			return m->draws[i].given++;
		if (m->draws[i].given == 0 || m->draws[i].at < m->draws[oldest].at)
			oldest = i;
	}
	memcpy(m->draws[oldest].id, id, FERRY_MTD_DRAW_ID_LEN);
	m->draws[oldest].given = 1;
	m->draws[oldest].at = now_s();
	return 0;
}

static int answer_share(struct node *node, const char *peer, const struct ferry_tlv_list *l, struct ferry_buf *out,
                        struct ferry_err *err)
{
	struct node_mtd *m = &node->mtd;
	const struct ferry_tlv *tok = ferry_tlv_find(l, FERRY_TAG_TICKET);
	uint8_t nonce[FERRY_MTD_NONCE_LEN], share[1 + FERRY_MTD_SECRET_LEN];
	struct ferry_mtd_draw d;
	unsigned given;
	uint64_t epoch;
	int r;

	if (!tok)
		return ferry_err_set(err, -EPROTO, "share request without a draw token");
	if ((r = ferry_tlv_get_fixed(l, FERRY_TAG_NONCE, nonce, sizeof(nonce), err)) < 0 ||
	    (r = ferry_mtd_draw_parse(tok->value, tok->len, &d, err)) < 0 ||
	    (r = ferry_mtd_draw_verify(&d, node->id.ticket_pub, err)) < 0)
		return r;
	if (strcmp(d.requester, peer) != 0)
		return ferry_err_set(err, -EPERM, "the draw token is for '%s', not '%s'", d.requester, peer);
	if (d.expires_at < now_s())
		return ferry_err_set(err, -ETIMEDOUT, "the draw token expired");
	pthread_mutex_lock(&m->lock);
	epoch = m->cur.epoch;
	if (d.epoch != epoch) {
		pthread_mutex_unlock(&m->lock);
		return ferry_err_set(err, -ESTALE, "epoch %llu is not the current epoch %llu: stale or replayed",
		                     (unsigned long long)d.epoch, (unsigned long long)epoch);
	}
	if (!nonce_fresh(m, nonce)) {
		pthread_mutex_unlock(&m->lock);
		return ferry_err_set(err, -EALREADY, "a replayed share request (its nonce was seen in this epoch)");
	}
	/* Shamir: one share per host and draw.  Fountain: each request of a draw gets the next share held. */
	given = draw_given(m, d.id);
	if (given >= (m->cur.mode == FERRY_MTD_SHAMIR ? 1 : m->n_shares)) {
		pthread_mutex_unlock(&m->lock);
		return ferry_err_set(err, -EPERM, "this draw had every share this node may give");
	}
	share[0] = m->shares[given].x;
	memcpy(share + 1, m->shares[given].y, FERRY_MTD_SECRET_LEN);
	pthread_mutex_unlock(&m->lock);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_EPOCH, epoch);
	r = r ? r : ferry_tlv_add(out, FERRY_TAG_SHARE, share, sizeof(share));
	r = r ? r : ferry_tlv_add(out, FERRY_TAG_NONCE, nonce, sizeof(nonce));
	OPENSSL_cleanse(share, sizeof(share));
	log_debug("share %u given to %s for epoch %llu", given + 1, peer, (unsigned long long)epoch);
	return r;
}

/*
 * A decoy stream from peer: its token (the controller's, for this peer,
 * unexpired, never seen) admits SIZE bytes of DATA frames, read and
 * dropped.  It exists so that an observer of traffic volume sees a move
 * go to several hosts at once.
 */
static int take_decoy(struct node *node, struct ferry_conn *conn, const char *peer, const struct ferry_tlv_list *l,
                      struct ferry_buf *frame, struct ferry_err *err)
{
	struct node_mtd *m = &node->mtd;
	const struct ferry_tlv *tok = ferry_tlv_find(l, FERRY_TAG_TICKET);
	struct ferry_buf out = FERRY_BUF_INIT(64);
	struct ferry_frame_header h;
	struct ferry_mtd_draw d;
	uint64_t size, got = 0;
	bool fresh;
	int r;

	if (!tok)
		return ferry_err_set(err, -EPROTO, "decoy stream without a token");
	if ((r = ferry_tlv_get_u64(l, FERRY_TAG_SIZE, &size, err)) < 0 ||
	    (r = ferry_mtd_draw_parse(tok->value, tok->len, &d, err)) < 0 ||
	    (r = ferry_mtd_draw_verify(&d, node->id.ticket_pub, err)) < 0)
		return r;
	if (d.mode != FERRY_MTD_DECOY || strcmp(d.requester, peer) != 0)
		return ferry_err_set(err, -EPERM, "the token is not a decoy token for '%s'", peer);
	if (d.expires_at < now_s())
		return ferry_err_set(err, -ETIMEDOUT, "the decoy token expired");
	if (size > FERRY_MTD_DECOY_MAX_BYTES)
		return ferry_err_set(err, -EFBIG, "a decoy of %llu bytes; at most %llu", (unsigned long long)size,
		                     (unsigned long long)FERRY_MTD_DECOY_MAX_BYTES);
	pthread_mutex_lock(&m->lock);
	fresh = nonce_fresh(m, d.id);
	pthread_mutex_unlock(&m->lock);
	if (!fresh)
		return ferry_err_set(err, -EALREADY, "a replayed decoy token");
	conn->io_timeout_ms = 20000;
	if ((r = ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0)) < 0 ||
	    (r = ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, out.data, out.len, err)) < 0)
		goto out;
	while (got < size) {
		if ((r = ferry_conn_recv_frame(conn, &h, frame, err)) < 0)
			goto out;
		if (h.type != FERRY_FRAME_DATA || frame->len > size - got) {
			r = ferry_err_set(err, -EPROTO, "a decoy stream sends DATA frames of its size only");
			goto out;
		}
		got += frame->len;
	}
	r = ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, out.data, out.len, err);
	log_debug("decoy stream of %llu bytes from %s taken and dropped", (unsigned long long)size, peer);
out:
	ferry_buf_free(&out);
	return r;
}

void mtd_serve(struct node *node, struct ferry_conn *conn)
{
	struct ferry_buf payload = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), out = FERRY_BUF_INIT(256);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	char peer[FERRY_NODE_NAME_MAX + 1], hex[FERRY_ID_HEX_LEN];
	struct ferry_frame_header h;
	struct ferry_err err = { 0 };

	if (!l)
		goto out;
	if (!conn->has_peer_cert || !ferry_allowlist_lookup(&node->allow, conn->peer_id, peer)) {
		ferry_id_hex(conn->peer_id, hex);
		log_warn("refused a share request from %s (id %s, '%s'): not in the allowlist", conn->peer_addr, hex,
		         conn->peer_cn);
		ferry_conn_send_error(conn, EACCES, "not in the allowlist", NULL);
		goto out;
	}
	conn->io_timeout_ms = MTD_IO_MS;
	/* A fountain draw may ask this node several times: at most k requests on one connection. */
	for (unsigned n = 0; n < FERRY_MTD_K_MAX; n++) {
		uint8_t op[2];
		int r;

		if (ferry_conn_recv_frame(conn, &h, &payload, &err) < 0)
			break;
		ferry_buf_reset(&out);
		err.msg[0] = '\0';
		if (h.type != FERRY_FRAME_REQUEST ||
		    ferry_tlv_parse((const uint8_t *)payload.data, payload.len, l, &err) < 0 ||
		    ferry_tlv_get_fixed(l, FERRY_TAG_OP, op, 2, &err) < 0 ||
		    ((op[0] << 8 | op[1]) != FERRY_OP_MTD_SHARE && (op[0] << 8 | op[1]) != FERRY_OP_MTD_DECOY_DATA)) {
			ferry_conn_send_error(conn, EPROTO, "malformed share request", NULL);
			break;
		}
		if ((op[0] << 8 | op[1]) == FERRY_OP_MTD_DECOY_DATA) {
			/* A decoy stream is the connection's one request. */
			if ((r = take_decoy(node, conn, peer, l, &payload, &err)) < 0) {
				log_warn("refused a decoy stream from %s: %s", peer, err.msg);
				ferry_conn_send_error(conn, r, err.msg, NULL);
			}
			break;
		}
		if ((r = answer_share(node, peer, l, &out, &err)) < 0) {
			log_warn("refused a share request from %s: %s", peer, err.msg);
			if (ferry_conn_send_error(conn, r, err.msg, NULL) < 0)
				break;
			continue;
		}
		if (ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, out.data, out.len, &err) < 0)
			break;
	}
out:
	free(l);
	ferry_buf_free(&payload);
	ferry_buf_free(&out);
}

/* ---- MTD_DRAW: collecting ---- */

/* Ask one peer for count shares of draw d on one connection; new ones go to got. */
static int ask_peer(struct node *node, const struct mtd_peer *p, const struct ferry_buf *token, uint64_t epoch,
                    unsigned count, struct ferry_share *got, unsigned *n_got, struct ferry_err *err)
{
	struct ferry_buf req = FERRY_BUF_INIT(512), resp = FERRY_BUF_INIT(512);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_conn *conn = NULL;
	uint8_t peer_id[FERRY_ID_LEN];
	int r;

	if (!l)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if (!ferry_allowlist_find_name(&node->allow, p->name, peer_id)) {
		r = ferry_err_set(err, -ENOENT, "peer '%s' is not in this node's allowlist", p->name);
		goto out;
	}
	if ((r = ferry_conn_connect(node->mtd.ctx, p->address, FERRY_ALPN_MTD, NULL, MTD_CONNECT_MS, &conn, err)) < 0)
		goto out;
	conn->io_timeout_ms = MTD_IO_MS;
	if (CRYPTO_memcmp(conn->peer_id, peer_id, FERRY_ID_LEN) != 0) {
		r = ferry_err_set(err, -EPERM, "%s is not node '%s'", p->address, p->name);
		goto out;
	}
	for (unsigned i = 0; i < count; i++) {
		uint8_t nonce[FERRY_MTD_NONCE_LEN], echo[FERRY_MTD_NONCE_LEN], share[1 + FERRY_MTD_SECRET_LEN];
		uint64_t their_epoch;
		bool dup = false;

		ferry_buf_reset(&req);
		if (ferry_random(nonce, sizeof(nonce)) < 0) {
			r = ferry_err_set(err, -EIO, "no random numbers from the kernel");
			goto out;
		}
		r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_MTD_SHARE);
		r = r ? r : ferry_tlv_add(&req, FERRY_TAG_TICKET, token->data, token->len);
		r = r ? r : ferry_tlv_add(&req, FERRY_TAG_NONCE, nonce, sizeof(nonce));
		if (r == 0)
			r = ferry_conn_send_frame(conn, FERRY_FRAME_REQUEST, req.data, req.len, err);
		if (r == 0)
			r = ferry_expect_response(conn, &resp, err);
		if (r == 0 && ((r = ferry_tlv_parse((const uint8_t *)resp.data, resp.len, l, err)) < 0 ||
		               (r = ferry_tlv_get_u64(l, FERRY_TAG_EPOCH, &their_epoch, err)) < 0 ||
		               (r = ferry_tlv_get_fixed(l, FERRY_TAG_NONCE, echo, sizeof(echo), err)) < 0 ||
		               (r = ferry_tlv_get_fixed(l, FERRY_TAG_SHARE, share, sizeof(share), err)) < 0))
			r = ferry_err_set(err, -EPROTO, "%s's answer lacks a field", p->name);
		if (r < 0)
			goto out;
		/* An answer for another request or epoch (replayed to us) is not used. */
		if (their_epoch != epoch || CRYPTO_memcmp(echo, nonce, sizeof(nonce)) != 0 || share[0] == 0) {
			r = ferry_err_set(err, -EPROTO, "%s answered another request or epoch", p->name);
			goto out;
		}
		for (unsigned j = 0; j < *n_got; j++)
			dup |= got[j].x == share[0];
		if (!dup && *n_got < FERRY_MTD_K_MAX) {
			got[*n_got].x = share[0];
			memcpy(got[*n_got].y, share + 1, FERRY_MTD_SECRET_LEN);
			(*n_got)++;
		}
		OPENSSL_cleanse(share, sizeof(share));
	}
out:
	ferry_conn_close(conn);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	free(l);
	return r;
}

int mtd_draw(struct node *node, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err)
{
	struct node_mtd *m = &node->mtd;
	struct mtd_view *snap = malloc(sizeof(*snap));
	const struct ferry_tlv *tok = ferry_tlv_find(l, FERRY_TAG_TICKET);
	uint8_t rnd[FERRY_MTD_R_LEN], secret[FERRY_MTD_SECRET_LEN];
	struct ferry_buf token = FERRY_BUF_INIT(FERRY_MTD_DRAW_MAX_LEN);
	struct ferry_share got[FERRY_MTD_K_MAX];
	unsigned pick[FERRY_MTD_K_MAX], asks[MTD_PEERS_MAX] = { 0 }, n_got = 0, idx;
	uint32_t lat[MTD_PEERS_MAX];
	struct ferry_mtd_table *table = malloc(sizeof(*table));
	struct ferry_mtd_draw d;
	long long t0 = ferry_now_ms();
	int r;

	if (!snap || !table) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!tok || (r = ferry_tlv_get_fixed(l, FERRY_TAG_SECRET, rnd, sizeof(rnd), err)) < 0 ||
	    (r = ferry_mtd_draw_parse(tok->value, tok->len, &d, err)) < 0 ||
	    (r = ferry_mtd_draw_verify(&d, node->id.ticket_pub, err)) < 0) {
		r = tok ? r : ferry_err_set(err, -EPROTO, "draw without a token");
		goto out;
	}
	pthread_mutex_lock(&m->lock);
	*snap = m->cur;
	pthread_mutex_unlock(&m->lock);
	if (strcmp(d.requester, node->id.name) != 0 || d.epoch != snap->epoch || d.mode != snap->mode ||
	    d.k != snap->k) {
		r = ferry_err_set(err, -ESTALE, "the draw is for %s in epoch %llu; this node is %s in epoch %llu",
		                  d.requester, (unsigned long long)d.epoch, node->id.name,
		                  (unsigned long long)snap->epoch);
		goto out;
	}
	if (ferry_mtd_draw_encode(&d, &token) < 0) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Whom to ask: k distinct peers uniformly (shamir), or k requests by 1/latency (fountain). */
	for (unsigned j = 0; j < snap->n_peers; j++)
		lat[j] = snap->peers[j].latency_us;
	r = d.mode == FERRY_MTD_SHAMIR ? ferry_mtd_pick_disjoint(snap->n_peers, d.k, pick, err)
	                               : ferry_mtd_pick_by_latency(lat, snap->n_peers, d.k, pick, err);
	if (r < 0)
		goto out;
	for (unsigned i = 0; i < d.k; i++)
		asks[pick[i]]++;
	for (unsigned j = 0; j < snap->n_peers && r == 0; j++)
		if (asks[j])
			r = ask_peer(node, &snap->peers[j], &token, snap->epoch, asks[j], got, &n_got, err);
	if (r < 0)
		goto out;
	if (n_got < d.k) {
		r = ferry_err_set(err, -EAGAIN, "%u distinct shares of the %u needed came back", n_got, d.k);
		goto out;
	}
	if ((r = ferry_shamir_combine(got, d.k, secret, err)) < 0 ||
	    (r = ferry_mtd_table_open(secret, snap->epoch, node->id.name, snap->sealed, snap->sealed_len, table, err)) <
	        0)
		goto out;
	if (table->n == 0) {
		r = ferry_err_set(err, -ENOENT, "this node's lookup table is empty");
		goto out;
	}
	idx = ferry_mtd_index(rnd, snap->epoch, table->n);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_DEST, table->entries[idx]);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_TIME_MS, (uint64_t)(ferry_now_ms() - t0));
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_COUNT, d.k);
	for (unsigned j = 0; j < snap->n_peers && r == 0; j++)
		for (unsigned a = 0; a < asks[j] && r == 0; a++)
			r = ferry_tlv_add_str(out, FERRY_TAG_PEER, snap->peers[j].name);
	log_info("draw in epoch %llu: %u shares from %u requests in %lld ms", (unsigned long long)snap->epoch, n_got,
	         d.k, ferry_now_ms() - t0);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(got, sizeof(got));
	if (snap)
		OPENSSL_cleanse(snap, sizeof(*snap));
	if (table)
		OPENSSL_cleanse(table, sizeof(*table));
	free(snap);
	free(table);
	ferry_buf_free(&token);
	return r;
}

#define DECOY_CHUNK (256 * 1024)

int mtd_decoy(struct node *node, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err)
{
	const struct ferry_tlv *tok = ferry_tlv_find(l, FERRY_TAG_TICKET);
	struct ferry_buf req = FERRY_BUF_INIT(512), resp = FERRY_BUF_INIT(256);
	uint8_t *chunk = malloc(DECOY_CHUNK), peer_id[FERRY_ID_LEN];
	struct mtd_peer p = { 0 };
	struct ferry_conn *conn = NULL;
	long long t0 = ferry_now_ms();
	uint64_t size, sent = 0;
	uint32_t a;
	uint16_t port;
	int r;

	if (!chunk)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if (!tok || (r = ferry_tlv_get_str(l, FERRY_TAG_PEER, p.name, sizeof(p.name), err)) < 0 ||
	    (r = ferry_tlv_get_str(l, FERRY_TAG_ADDRESS, p.address, sizeof(p.address), err)) < 0 ||
	    (r = ferry_parse_hostport(p.address, &a, &port, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_SIZE, &size, err)) < 0) {
		r = tok ? r : ferry_err_set(err, -EPROTO, "decoy without a token");
		goto out;
	}
	if (size > FERRY_MTD_DECOY_MAX_BYTES || !ferry_allowlist_find_name(&node->allow, p.name, peer_id)) {
		r = ferry_err_set(err, -EINVAL, "a decoy to '%s' of %llu bytes cannot be", p.name,
		                  (unsigned long long)size);
		goto out;
	}
	/* Under TLS any bytes look alike: one random chunk, sent again and again. */
	if (ferry_random(chunk, DECOY_CHUNK) < 0) {
		r = ferry_err_set(err, -EIO, "no random numbers from the kernel");
		goto out;
	}
	if ((r = ferry_conn_connect(node->mtd.ctx, p.address, FERRY_ALPN_MTD, NULL, MTD_CONNECT_MS, &conn, err)) < 0)
		goto out;
	conn->io_timeout_ms = 20000;
	if (CRYPTO_memcmp(conn->peer_id, peer_id, FERRY_ID_LEN) != 0) {
		r = ferry_err_set(err, -EPERM, "%s is not node '%s'", p.address, p.name);
		goto out;
	}
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_MTD_DECOY_DATA);
	r = r ? r : ferry_tlv_add(&req, FERRY_TAG_TICKET, tok->value, tok->len);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_SIZE, size);
	if (r == 0 && (r = ferry_conn_send_frame(conn, FERRY_FRAME_REQUEST, req.data, req.len, err)) == 0)
		r = ferry_expect_response(conn, &resp, err);
	while (r == 0 && sent < size) {
		size_t n = size - sent < DECOY_CHUNK ? (size_t)(size - sent) : DECOY_CHUNK;

		if ((r = ferry_conn_send_frame(conn, FERRY_FRAME_DATA, chunk, n, err)) == 0)
			sent += n;
	}
	if (r == 0)
		r = ferry_expect_response(conn, &resp, err);
	if (r < 0)
		goto out;
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_SIZE, sent);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_TIME_MS, (uint64_t)(ferry_now_ms() - t0));
out:
	ferry_conn_close(conn);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	free(chunk);
	return r;
}

int mtd_init(struct node *node, struct ferry_err *err)
{
	static const char *const alpns[] = { FERRY_ALPN_MTD, NULL };

	pthread_mutex_init(&node->mtd.lock, NULL);
	node->mtd.ctx = ferry_tls_ctx(
	    &(struct ferry_tls_config){ .cert = node->id.cert, .key = node->id.key, .ca = node->id.ca, .alpns = alpns },
	    false, err);
	return node->mtd.ctx ? 0 : -EIO;
}

void mtd_free(struct node *node)
{
	OPENSSL_cleanse(node->mtd.shares, sizeof(node->mtd.shares));
	SSL_CTX_free(node->mtd.ctx);
	node->mtd.ctx = NULL;
}
