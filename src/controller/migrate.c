/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migrations, driven by the controller (docs/ARCHITECTURE.md, "Migration
 * engine"): check the request, reserve the container (state "migrating"),
 * make sure the destination has the layers, then
 *   stop-copy  hold the MIG_OUT conversation with the source: it pauses and
 *              dumps, sends the manifest hash, gets a ticket signed for
 *              exactly that manifest, streams to the destination and waits
 *              until the container runs there;
 *   stateless  start a fresh copy on the destination, wait until it passes
 *              its readiness probe, then remove the source.
 * Every migration is recorded with its metrics (ferry history).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "controller"
#include "controller.h"
#include "ferry/bundle.h"
#include "ferry/clock.h"
#include "ferry/identity.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "ferry/wire.h"

#define MIG_CALL_MS     180000
#define TICKET_TTL_S    60
#define HISTORY_MAX     200
#define SETTLE_SEEN_MAX 1024

int add_migration_record(struct ferry_buf *out, uint16_t tag, const struct ferry_migration_rec *m)
{
	struct ferry_buf rec = FERRY_BUF_INIT(2048);
	int r = ferry_tlv_add_u64(&rec, FERRY_TAG_MIGRATION, m->id);

	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_CONTAINER, m->container);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_PHASE, m->mode);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_SOURCE, m->source);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_DEST, m->dest);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_RESULT, m->result[0] ? m->result : "running");
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_MESSAGE, m->message);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_TIME, m->started_at);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_TOTAL_MS, m->total_ms);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_DOWNTIME_MS, m->downtime_ms);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_CHECKPOINT_MS, m->checkpoint_ms);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_TRANSFER_MS, m->transfer_ms);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_RESTORE_MS, m->restore_ms);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_BYTES_IMAGE, m->bytes_image);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_BYTES_WIRE, m->bytes_wire);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_ROUNDS, m->rounds);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_ROUND_BYTES_TEXT, m->round_bytes);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_NOTE, m->note);
	r = r ? r : ferry_tlv_add(out, tag, rec.data, rec.len);
	ferry_buf_free(&rec);
	return r;
}

static void metric(const struct ferry_tlv_list *l, uint16_t tag, uint64_t *v)
{
	ferry_tlv_get_u64(l, tag, v, NULL);
}

/* NET_PREPARE, NET_CLAIM or NET_DROP on the destination for this spec at this generation. */
static int net_call(struct controller *c, const char *node, unsigned op, const struct ferry_spec *spec,
                    uint64_t generation, struct ferry_err *err)
{
	struct ferry_spec s = *spec;
	struct ferry_buf enc = FERRY_BUF_INIT(FERRY_SPEC_ENC_MAX);
	int r;

	if (!spec->net.addr)
		return 0;
	s.generation = generation;
	r = ferry_spec_encode(&s, &enc);
	r = r ? r : ct_request(c, node, op, NULL, &enc, 30000, err);
	ferry_buf_free(&enc);
	return r;
}

/* A ticket for this migration; manifest_hash NULL: a pre-copy page session (no manifest yet). */
static int sign_ticket(struct controller *c, const struct ferry_container_rec *ct, const struct ferry_spec *spec,
                       const char *dest, uint8_t mode, const uint8_t *manifest_hash, uint64_t reserve_disk,
                       struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_ticket t = { 0 };
	int r;

	if (manifest_hash)
		memcpy(t.manifest_hash, manifest_hash, 32);
	snprintf(t.container, sizeof(t.container), "%s", ct->name);
	snprintf(t.source, sizeof(t.source), "%s", ct->node);
	snprintf(t.dest, sizeof(t.dest), "%s", dest);
	t.mode = mode;
	t.generation = ct->generation;
	t.reserve_memory = spec->memory;
	t.reserve_disk = reserve_disk;
	t.issued_at = (uint64_t)time(NULL);
	t.expires_at = t.issued_at + TICKET_TTL_S;
	if ((r = ferry_random(t.id, sizeof(t.id))) < 0)
		return ferry_err_set(err, r, "no randomness for a ticket id");
	if ((r = ferry_ticket_sign(&t, c->st.ticket_key, err)) < 0)
		return r;
	ferry_buf_reset(out);
	return ferry_ticket_encode(&t, out);
}

/* Pre-copy's part of MIG_OUT: its options and the session ticket (the destination's page store bound). */
static int add_precopy(struct controller *c, const struct migrate_request *rq, const struct ferry_container_rec *ct,
                       const struct ferry_spec *spec, const char *dest, struct ferry_buf *req, struct ferry_err *err)
{
	struct ferry_buf t = FERRY_BUF_INIT(FERRY_TICKET_MAX_LEN);
	/* Room for every page once and the pages that change during the rounds. */
	int r = sign_ticket(c, ct, spec, dest, FERRY_MODE_PRECOPY, NULL, spec->memory * 2, &t, err);

	r = r ? r : ferry_tlv_add(req, FERRY_TAG_TICKET, t.data, t.len);
	if (r == 0 && rq->max_downtime_ms)
		r = ferry_tlv_add_u64(req, FERRY_TAG_MAX_DOWNTIME_MS, rq->max_downtime_ms);
	if (r == 0 && rq->bandwidth)
		r = ferry_tlv_add_u64(req, FERRY_TAG_BANDWIDTH, rq->bandwidth);
	if (r == 0 && rq->max_rounds)
		r = ferry_tlv_add_u64(req, FERRY_TAG_MAX_ROUNDS, rq->max_rounds);
	if (r == 0 && (rq->auto_converge || (rq->mode == FERRY_MODE_AUTO && c->allow_postcopy)))
		r = ferry_tlv_add_u64(
		    req, FERRY_TAG_FLAGS,
		    (rq->auto_converge ? FERRY_MIG_AUTO_CONVERGE : 0) |
		        (rq->mode == FERRY_MODE_AUTO && c->allow_postcopy ? FERRY_MIG_POSTCOPY_OK : 0));
	ferry_buf_free(&t);
	return r;
}

/* ROUND_BYTES items as "a,b,c" for the record. */
static void round_bytes(const struct ferry_tlv_list *l, char *out, size_t len)
{
	size_t at = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < l->n; i++) {
		const struct ferry_tlv *t = &l->items[i];
		struct ferry_reader rd;
		uint64_t v;
		int k;

		if (t->tag != FERRY_TAG_ROUND_BYTES || t->len != 8)
			continue;
		ferry_reader_init(&rd, t->value, 8);
		v = ferry_get_u64(&rd);
		k = snprintf(out + at, len - at, "%s%llu", at ? "," : "", (unsigned long long)v);
		if (k < 0 || (size_t)k >= len - at)
			break;
		at += (size_t)k;
	}
}

/* The source's side, as a conversation on one ferry-ctl connection. */
static int stop_copy(struct controller *c, const struct migrate_request *rq, const struct ferry_container_rec *ct,
                     const struct ferry_spec *spec, const struct ferry_registry_node *dest,
                     struct ferry_migration_rec *m, struct ferry_conn *progress, struct ferry_err *err)
{
	struct ferry_buf req = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX),
	                 enc = FERRY_BUF_INIT(FERRY_TICKET_MAX_LEN);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_registry_node src;
	struct ferry_conn *conn = NULL;
	uint8_t hash[32], mode = rq->mode;
	uint64_t disk = 0;
	char phase[32] = "";
	int r;

	if (!l)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = node_lookup(c, ct->node, &src, err)) < 0 ||
	    (r = ferry_conn_connect(c->client_ctx, src.address, FERRY_ALPN_CTL, NULL, 5000, &conn, err)) < 0)
		goto out;
	conn->io_timeout_ms = MIG_CALL_MS;
	if (CRYPTO_memcmp(conn->peer_id, src.id, FERRY_ID_LEN) != 0) {
		r = ferry_err_set(err, -EPERM, "%s answers with another node's key than '%s'", src.address, src.name);
		goto out;
	}
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_MIG_OUT);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, ct->name);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_DEST, dest->name);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_ADDRESS, dest->address);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_GENERATION, ct->generation);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_MIGRATION, m->id);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_MODE, rq->mode);
	if (r == 0 && (rq->mode == FERRY_MODE_PRECOPY || rq->mode == FERRY_MODE_HYBRID || rq->mode == FERRY_MODE_AUTO))
		r = add_precopy(c, rq, ct, spec, dest->name, &req, err);
	if (r < 0 || (r = ferry_conn_send_frame(conn, FERRY_FRAME_REQUEST, req.data, req.len, err)) < 0)
		goto out;
	if (progress && rq->mode == FERRY_MODE_STOP_COPY) /* the operator asked for progress (FLAGS 1) */
		ferry_send_progress(progress, "checkpoint", 0, 0);
	/* 0. Pre-copy rounds while the container runs, relayed to the operator. */
	for (;;) {
		if ((r = ferry_expect_response(conn, &resp, err)) < 0 ||
		    (r = ferry_tlv_parse((const uint8_t *)resp.data, resp.len, l, err)) < 0)
			goto out;
		phase[0] = '\0';
		ferry_tlv_get_str(l, FERRY_TAG_PHASE, phase, sizeof(phase), NULL);
		if (strcmp(phase, "precopy") != 0)
			break;
		if (progress)
			ferry_conn_send_frame(progress, FERRY_FRAME_RESPONSE, resp.data, resp.len, NULL);
	}
	/* 1. Frozen (with a fabric address): the destination's copy claims the address; its packets wait there. */
	if (ferry_tlv_find(l, FERRY_TAG_PHASE) &&
	    ferry_tlv_get_str(l, FERRY_TAG_PHASE, phase, sizeof(phase), NULL) == 0 && strcmp(phase, "frozen") == 0) {
		struct ferry_err e2 = { 0 };

		if (!c->no_net_hold && net_call(c, dest->name, FERRY_OP_NET_CLAIM, spec, ct->generation, &e2) < 0)
			log_warn("migration %llu: %s could not claim the address of %s early (%s); it does at the "
			         "commit",
			         (unsigned long long)m->id, dest->name, ct->name, e2.msg);
		if ((r = ferry_expect_response(conn, &resp, err)) < 0 ||
		    (r = ferry_tlv_parse((const uint8_t *)resp.data, resp.len, l, err)) < 0)
			goto out;
	}
	/* 2. Dumped: the source is paused; sign a ticket for exactly what it will send. */
	if ((r = ferry_tlv_get_fixed(l, FERRY_TAG_HASH, hash, 32, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_DISK, &disk, err)) < 0)
		goto out;
	/* Auto: the source picked after its rounds; only what was asked for, post-copy only if allowed. */
	if (rq->mode == FERRY_MODE_AUTO) {
		uint64_t picked = 0;

		ferry_tlv_get_u64(l, FERRY_TAG_MODE, &picked, NULL);
		if (picked != FERRY_MODE_PRECOPY && !(picked == FERRY_MODE_HYBRID && c->allow_postcopy)) {
			r = ferry_err_set(err, -EPROTO, "the source picked mode %llu for an auto migration",
			                  (unsigned long long)picked);
			goto out;
		}
		mode = (uint8_t)picked;
	}
	if ((r = sign_ticket(c, ct, spec, dest->name, mode, hash, disk, &enc, err)) < 0)
		goto out;
	if (rq->on_dumped)
		rq->on_dumped(rq->hook_arg, disk);
	ferry_buf_reset(&req);
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_MIG_TICKET);
	r = r ? r : ferry_tlv_add(&req, FERRY_TAG_TICKET, enc.data, enc.len);
	if (r < 0 || (r = ferry_conn_send_frame(conn, FERRY_FRAME_REQUEST, req.data, req.len, err)) < 0)
		goto out;
	/* 3. Progress, then committed (or the source's reason why not, after it resumed). */
	for (;;) {
		phase[0] = '\0';
		if ((r = ferry_expect_response(conn, &resp, err)) < 0 ||
		    (r = ferry_tlv_parse((const uint8_t *)resp.data, resp.len, l, err)) < 0)
			goto out;
		ferry_tlv_get_str(l, FERRY_TAG_PHASE, phase, sizeof(phase), NULL);
		if (strcmp(phase, "transfer") != 0 && strcmp(phase, "restore") != 0 && strcmp(phase, "pages") != 0)
			break;
		if (progress)
			ferry_conn_send_frame(progress, FERRY_FRAME_RESPONSE, resp.data, resp.len, NULL);
	}
	metric(l, FERRY_TAG_DOWNTIME_MS, &m->downtime_ms);
	metric(l, FERRY_TAG_CHECKPOINT_MS, &m->checkpoint_ms);
	metric(l, FERRY_TAG_TRANSFER_MS, &m->transfer_ms);
	metric(l, FERRY_TAG_RESTORE_MS, &m->restore_ms);
	metric(l, FERRY_TAG_BYTES_IMAGE, &m->bytes_image);
	metric(l, FERRY_TAG_BYTES_WIRE, &m->bytes_wire);
	m->rounds = 1;
	metric(l, FERRY_TAG_ROUNDS, &m->rounds);
	round_bytes(l, m->round_bytes, sizeof(m->round_bytes));
	ferry_tlv_get_str(l, FERRY_TAG_MESSAGE, m->note, sizeof(m->note), NULL);
out:
	if (r < 0 && strncmp(err->msg, "peer refused: ", 14) == 0)
		memmove(err->msg, err->msg + 14, strlen(err->msg + 14) + 1);
	ferry_conn_close(conn);
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	ferry_buf_free(&enc);
	return r;
}

#define SETTLE_MS 30000

/*
 * The source sent its commit but heard no confirmation, and stays paused.
 * The destination keeps its copy only if the commit arrived; once it has
 * decided (no copy "restoring" there any more), act on what it did.
 */
static int settle(struct controller *c, const struct ferry_container_rec *ct, const char *dest, struct ferry_err *err)
{
	struct seen *seen = calloc(SETTLE_SEEN_MAX, sizeof(*seen));
	char(*down)[FERRY_NODE_NAME_MAX + 1] = calloc(MAX_NODES, FERRY_NODE_NAME_MAX + 1);
	long long deadline = ferry_now_ms() + SETTLE_MS;
	struct ferry_err e = { 0 };
	int r = -EINPROGRESS;

	if (!seen || !down) {
		free(seen);
		free(down);
		return ferry_err_set(err, -ENOMEM, "out of memory");
	}
	while (r == -EINPROGRESS && ferry_now_ms() < deadline) {
		unsigned n_down = 0;
		int n = survey(c, seen, SETTLE_SEEN_MAX, down, &n_down);
		const char *there = NULL;
		bool dest_down = false;

		for (unsigned k = 0; k < n_down; k++)
			dest_down |= strcmp(down[k], dest) == 0;
		for (int i = 0; i < n; i++)
			if (strcmp(seen[i].name, ct->name) == 0 && strcmp(seen[i].node, dest) == 0)
				there = seen[i].state;
		if (!dest_down && there && strcmp(there, "running") == 0) {
			log_warn("settled %s: the destination %s committed; removing the paused source", ct->name,
			         dest);
			ct_request(c, ct->node, FERRY_OP_CT_RM, ct->name, NULL, 30000, &e);
			r = 0;
		} else if (!dest_down && !there) {
			log_warn("settled %s: the destination %s did not keep it; resuming the source", ct->name, dest);
			r = ct_request(c, ct->node, FERRY_OP_CT_RESUME, ct->name, NULL, 30000, &e) < 0
			        ? ferry_err_set(err, -EIO,
			                        "the destination did not commit and the source could not be "
			                        "resumed: %s",
			                        e.msg)
			        : ferry_err_set(err, -ECONNABORTED,
			                        "the destination did not commit; the source resumed");
		} else {
			usleep(500 * 1000);
		}
	}
	if (r == -EINPROGRESS)
		ferry_err_set(err, -EINPROGRESS,
		              "the outcome is not known yet: %s stays paused on %s until 'ferry ps' "
		              "finds which copy the destination kept",
		              ct->name, ct->node);
	free(seen);
	free(down);
	return r;
}

/* Fresh copy on the destination, ready, then the source goes. */
static int stateless(struct controller *c, const struct ferry_container_rec *ct, struct ferry_spec *spec,
                     const struct ferry_registry_node *dest, struct ferry_migration_rec *m, struct ferry_err *err)
{
	struct ferry_buf enc = FERRY_BUF_INIT(FERRY_SPEC_ENC_MAX);
	long long t0 = ferry_now_ms();
	int r;

	spec->generation = ct->generation;
	if ((r = ferry_spec_encode(spec, &enc)) < 0)
		goto out;
	/* With a fabric address the new copy starts off the fabric: one address, one copy answering. */
	if ((r = net_call(c, dest->name, FERRY_OP_NET_PREPARE, spec, ct->generation, err)) < 0 ||
	    (r = ct_request(c, dest->name, FERRY_OP_CT_RUN, NULL, &enc, 90000, err)) < 0) {
		struct ferry_err e2 = { 0 };

		ct_request(c, dest->name, FERRY_OP_CT_RM, ct->name, NULL, 30000, &e2);
		net_call(c, dest->name, FERRY_OP_NET_DROP, spec, ct->generation, &e2);
		goto out;
	}
	m->restore_ms = (uint64_t)(ferry_now_ms() - t0);
	/* The new copy serves: only now does the old one go, and the new one takes the address. */
	t0 = ferry_now_ms();
	if ((r = ct_request(c, ct->node, FERRY_OP_CT_RM, ct->name, NULL, 30000, err)) < 0 && r != -ENOENT)
		log_warn("stateless migration of %s: the new copy runs on %s but the old one on %s could not be "
		         "removed: %s",
		         ct->name, dest->name, ct->node, err->msg);
	if ((r = net_call(c, dest->name, FERRY_OP_NET_CLAIM, spec, ct->generation, err)) < 0)
		log_error("stateless migration of %s: the new copy on %s could not take the address: %s", ct->name,
		          dest->name, err->msg);
	m->downtime_ms = spec->net.addr ? (uint64_t)(ferry_now_ms() - t0) : 0;
	r = 0;
	m->rounds = 0;
out:
	ferry_buf_free(&enc);
	return r;
}

int migrate_one(struct controller *c, const struct migrate_request *rq, struct ferry_migration_rec *m,
                struct ferry_conn *progress, struct ferry_err *err)
{
	struct ferry_container_rec *ct = malloc(sizeof(*ct));
	struct ferry_spec *spec = malloc(sizeof(*spec));
	struct ferry_buf enc = FERRY_BUF_INIT(FERRY_SPEC_ENC_MAX);
	struct ferry_registry_node dest;
	long long t0 = ferry_now_ms();
	bool reserved = false, begun = false;
	int r;

	memset(m, 0, sizeof(*m));
	snprintf(m->container, sizeof(m->container), "%s", rq->container);
	snprintf(m->dest, sizeof(m->dest), "%s", rq->dest);
	snprintf(m->mode, sizeof(m->mode), "%s", ferry_mode_name(rq->mode));
	if (!ct || !spec) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (rq->mode < FERRY_MODE_STOP_COPY || rq->mode > FERRY_MODE_AUTO) {
		r = ferry_err_set(
		    err, -EOPNOTSUPP,
		    "mode %u is not known; expected stop-copy, precopy, postcopy, hybrid, stateless or auto", rq->mode);
		goto out;
	}
	if ((rq->mode == FERRY_MODE_POSTCOPY || rq->mode == FERRY_MODE_HYBRID) && !c->allow_postcopy) {
		r = ferry_err_set(err, -EPERM,
		                  "%s is not allowed by this controller's policy: a source lost before the last page "
		                  "lands loses the container; set allow_postcopy = yes in its --config to allow it",
		                  ferry_mode_name(rq->mode));
		goto out;
	}
	if ((r = ferry_store_container_get(&c->st.reg, rq->container, ct, err)) < 0 ||
	    (r = node_lookup(c, rq->dest, &dest, err)) < 0 || (r = refuse_quarantined(c, rq->dest, err)) < 0 ||
	    (r = ferry_spec_parse(ct->spec, ct->spec_len, spec, err)) < 0)
		goto out;
	snprintf(m->source, sizeof(m->source), "%s", ct->node);
	if (strcmp(ct->node, rq->dest) == 0) {
		r = ferry_err_set(err, -EINVAL, "container '%s' already runs on node '%s'", ct->name, ct->node);
		goto out;
	}
	if (strcmp(ct->state, "running") != 0) {
		r = ferry_err_set(err, strcmp(ct->state, "migrating") == 0 ? -EBUSY : -ESRCH,
		                  "container '%s' is %s; only a running container can migrate", ct->name, ct->state);
		goto out;
	}
	/* Room and layers on the destination, before anything is reserved (pushing a layer twice is harmless). */
	if ((r = node_prepare(c, dest.name, spec, err)) < 0)
		goto out;
	/* Reserve: a second migration of the same container is refused from here on. */
	if ((r = ferry_store_container_transition(&c->st.reg, ct->name, "running", "migrating", err)) < 0)
		goto out;
	reserved = true;
	/*
	 * Every attempt gets a new fencing generation, kept even if it fails:
	 * a destination that saw a generation refuses it ever after.
	 */
	ct->generation++;
	snprintf(ct->state, sizeof(ct->state), "migrating");
	if ((r = ferry_store_container_update(&c->st.reg, ct, err)) < 0)
		goto out;
	m->started_at = (uint64_t)time(NULL);
	if ((r = ferry_store_migration_begin(&c->st.reg, m, err)) < 0)
		goto out;
	begun = true;
	log_info("migration %llu: %s %s -> %s (%s)", (unsigned long long)m->id, ct->name, ct->node, dest.name, m->mode);
	if (rq->mode == FERRY_MODE_STATELESS) {
		r = stateless(c, ct, spec, &dest, m, err);
	} else if (!c->no_net_hold &&
	           (r = net_call(c, dest.name, FERRY_OP_NET_PREPARE, spec, ct->generation, err)) < 0) {
		ferry_err_wrap(err, "preparing the network on %s", dest.name);
	} else {
		r = stop_copy(c, rq, ct, spec, &dest, m, progress, err);
		if (r < 0 && r != -EINPROGRESS) {
			struct ferry_err e2 = { 0 };

			/* The address goes back to the source (which resumed and announced itself). */
			net_call(c, dest.name, FERRY_OP_NET_DROP, spec, ct->generation, &e2);
		}
	}
	if (r == -EINPROGRESS)
		r = settle(c, ct, dest.name, err);
	if (r < 0)
		goto out;
	/* COMMIT in the record: it runs on the destination with the next generation. */
	spec->generation = ct->generation;
	if ((r = ferry_spec_encode(spec, &enc)) < 0)
		goto out;
	snprintf(ct->node, sizeof(ct->node), "%s", dest.name);
	snprintf(ct->state, sizeof(ct->state), "running");
	memcpy(ct->spec, enc.data, enc.len);
	ct->spec_len = enc.len;
	if ((r = ferry_store_container_update(&c->st.reg, ct, err)) < 0)
		goto out;
	reserved = false;
out:
	m->total_ms = (uint64_t)(ferry_now_ms() - t0);
	m->finished_at = (uint64_t)time(NULL);
	snprintf(m->result, sizeof(m->result), "%s", r == 0 ? "ok" : "failed");
	snprintf(m->message, sizeof(m->message), "%s", r == 0 ? "" : err->msg);
	if (reserved)
		ferry_store_container_transition(&c->st.reg, ct->name, "migrating", "running", NULL);
	if (begun) {
		ferry_store_migration_end(&c->st.reg, m, NULL);
		if (r == 0)
			log_info("migration %llu: %s now on %s; total %llu ms, downtime %llu ms",
			         (unsigned long long)m->id, m->container, m->dest, (unsigned long long)m->total_ms,
			         (unsigned long long)m->downtime_ms);
		else
			log_warn("migration %llu of %s failed: %s", (unsigned long long)m->id, m->container, err->msg);
	}
	free(ct);
	free(spec);
	ferry_buf_free(&enc);
	return r;
}

/* ---- evacuation ---- */

#define EVAC_BUSY_TRIES   5
#define EVAC_BUSY_WAIT_MS 150

struct evac_run {
	struct controller *c;
	struct evacuation *e;
	pthread_mutex_t lock;
	int next;
};

static void *evac_worker(void *arg)
{
	struct evac_run *run = arg;
	struct evacuation *e = run->e;

	for (;;) {
		struct ferry_err err = { 0 };
		int i;

		pthread_mutex_lock(&run->lock);
		i = run->next < e->n ? run->next++ : -1;
		pthread_mutex_unlock(&run->lock);
		if (i < 0)
			return NULL;
		/*
		 * A destination frees a stream's slot only after its restore, a moment
		 * after the controller saw the migration end: the next one to it may
		 * be refused as one too many.  That is worth a few more tries.
		 */
		for (int attempt = 0;; attempt++) {
			int r;

			err.msg[0] = '\0';
			r = migrate_one(run->c, &e->rq[i], &e->res[i], NULL, &err);
			if (r == 0 || attempt == EVAC_BUSY_TRIES ||
			    (r != -EBUSY && !strstr(err.msg, "too many concurrent migrations")))
				break;
			usleep(EVAC_BUSY_WAIT_MS * 1000);
		}
		if (strcmp(e->res[i].result, "ok") != 0 && !e->res[i].result[0]) {
			snprintf(e->res[i].result, sizeof(e->res[i].result), "failed");
			snprintf(e->res[i].message, sizeof(e->res[i].message), "%s", err.msg);
		}
	}
}

int evacuate_node(struct controller *c, const char *victim, char (*targets)[FERRY_NODE_NAME_MAX + 1], int n_targets,
                  unsigned parallel, uint8_t mode, bool draw_random, struct evacuation *e, struct ferry_err *err)
{
	struct ferry_container_rec *cts = calloc(CT_LIST_MAX, sizeof(*cts));
	struct ferry_registry_node *ns = calloc(MAX_NODES, sizeof(*ns));
	char(*own)[FERRY_NODE_NAME_MAX + 1] = calloc(MAX_NODES, sizeof(*own));
	unsigned load[MAX_NODES] = { 0 }, sent[MAX_NODES] = { 0 };
	pthread_t threads[PARALLEL_MAX];
	struct evac_run run = { .c = c, .e = e };
	unsigned started = 0;
	uint64_t version;
	int n, nn, failed = 0, r = 0;

	memset(e, 0, sizeof(*e));
	snprintf(e->victim, sizeof(e->victim), "%s", victim);
	if (!cts || !ns || !own) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (parallel < 1 || parallel > PARALLEL_MAX)
		parallel = parallel < 1 ? 1 : PARALLEL_MAX;
	/* Destinations: those named, else every other active node that is not in quarantine. */
	if (n_targets == 0) {
		targets = own;
		nn = ferry_registry_nodes(&c->st.reg, ns, MAX_NODES, &version, err);
		for (int i = 0; i < nn; i++)
			if (strcmp(ns[i].name, victim) != 0 &&
			    !ferry_store_is_quarantined(&c->st.reg, ns[i].name, NULL))
				snprintf(targets[n_targets++], sizeof(targets[0]), "%s", ns[i].name);
	}
	if (n_targets == 0) {
		r = ferry_err_set(err, -ENOENT, "no other active node out of quarantine to evacuate '%s' to", victim);
		goto out;
	}
	if ((n = ferry_store_containers(&c->st.reg, cts, CT_LIST_MAX, err)) < 0) {
		r = n;
		goto out;
	}
	for (int i = 0; i < n; i++)
		for (int t = 0; t < n_targets; t++)
			load[t] += strcmp(cts[i].node, targets[t]) == 0;
	for (int i = 0; i < n && e->n < EVACUATE_MAX; i++) {
		unsigned best = 0;

		if (strcmp(cts[i].node, victim) != 0 || strcmp(cts[i].state, "running") != 0)
			continue;
		if (draw_random) {
			/*
			 * Moving-target defense: the next place must not be predictable
			 * from outside.  Drawn among the targets this evacuation sent the
			 * fewest to, so that the draws spread (a destination takes two
			 * streams at a time from one source).
			 */
			unsigned fewest = ~0U, tied[MAX_NODES], n_tied = 0, k;

			for (int t = 0; t < n_targets; t++)
				fewest = sent[t] < fewest ? sent[t] : fewest;
			for (int t = 0; t < n_targets; t++)
				if (sent[t] == fewest)
					tied[n_tied++] = (unsigned)t;
			if (ferry_defense_draw(n_tied, &k) < 0) {
				r = ferry_err_set(err, -EIO, "no random numbers from the kernel");
				goto out;
			}
			best = tied[k];
		} else {
			/* The least loaded destination, counting what this evacuation already sent there. */
			for (int t = 1; t < n_targets; t++)
				if (load[t] < load[best])
					best = (unsigned)t;
		}
		load[best]++;
		sent[best]++;
		snprintf(e->rq[e->n].container, sizeof(e->rq[0].container), "%s", cts[i].name);
		snprintf(e->rq[e->n].dest, sizeof(e->rq[0].dest), "%s", targets[best]);
		e->rq[e->n].mode = mode;
		e->n++;
	}
	log_info("evacuating %d containers from %s over %d nodes (%s), %u at a time", e->n, victim, n_targets,
	         draw_random ? "drawn at random" : "least loaded first", parallel);
	pthread_mutex_init(&run.lock, NULL);
	for (unsigned t = 0; t < parallel && t < (unsigned)e->n; t++)
		if (pthread_create(&threads[t], NULL, evac_worker, &run) == 0)
			started++;
	if (started == 0 && e->n > 0)
		evac_worker(&run); /* no thread to be had: one at a time, here */
	for (unsigned t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	pthread_mutex_destroy(&run.lock);
	for (int i = 0; i < e->n; i++)
		failed += strcmp(e->res[i].result, "ok") != 0;
	e->failed = failed;
	if (failed)
		log_warn("evacuation of %s: %d of %d migrations failed; those containers stay where they were", victim,
		         failed, e->n);
out:
	free(cts);
	free(ns);
	free(own);
	return r;
}

static int evacuate(struct controller *c, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err)
{
	struct evacuation *e = calloc(1, sizeof(*e));
	char victim[FERRY_NODE_NAME_MAX + 1], targets[MAX_NODES][FERRY_NODE_NAME_MAX + 1];
	uint64_t parallel = 2, mode = FERRY_MODE_STOP_COPY;
	int n_targets = 0, r;
	struct ferry_registry_node vn;

	if (!e)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_tlv_get_str(l, FERRY_TAG_NODE, victim, sizeof(victim), err)) < 0 ||
	    (r = node_lookup(c, victim, &vn, err)) < 0)
		goto out;
	if (ferry_tlv_find(l, FERRY_TAG_PARALLEL) &&
	    (ferry_tlv_get_u64(l, FERRY_TAG_PARALLEL, &parallel, err) < 0 || parallel < 1 || parallel > PARALLEL_MAX)) {
		r = ferry_err_set(err, -ERANGE, "parallelism must be 1 to %d", PARALLEL_MAX);
		goto out;
	}
	if (ferry_tlv_find(l, FERRY_TAG_MODE) && (ferry_tlv_get_u64(l, FERRY_TAG_MODE, &mode, err) < 0 ||
	                                          (mode != FERRY_MODE_STOP_COPY && mode != FERRY_MODE_STATELESS))) {
		r = ferry_err_set(err, -EINVAL, "evacuation mode must be stop-copy or stateless");
		goto out;
	}
	for (unsigned i = 0; i < l->n && r == 0; i++) {
		struct ferry_registry_node tn;

		if (l->items[i].tag != FERRY_TAG_DEST || n_targets == MAX_NODES)
			continue;
		if ((r = ferry_tlv_item_str(&l->items[i], targets[n_targets], sizeof(targets[0]), err)) < 0 ||
		    (r = node_lookup(c, targets[n_targets], &tn, err)) < 0 ||
		    (r = refuse_quarantined(c, targets[n_targets], err)) < 0)
			goto out;
		if (strcmp(targets[n_targets], victim) == 0) {
			r = ferry_err_set(err, -EINVAL, "cannot evacuate node '%s' onto itself", victim);
			goto out;
		}
		n_targets++;
	}
	if ((r = evacuate_node(c, victim, targets, n_targets, (unsigned)parallel, (uint8_t)mode,
	                       c->defense.cfg.security_mode != FERRY_SECURITY_NONE, e, err)) < 0)
		goto out;
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	for (int i = 0; r == 0 && i < e->n; i++)
		r = add_migration_record(out, FERRY_TAG_RECORD, &e->res[i]);
out:
	free(e);
	return r;
}

/* Pre-copy options of a MIGRATE request, each within what ferryd accepts. */
static int precopy_request(const struct ferry_tlv_list *l, struct migrate_request *rq, struct ferry_err *err)
{
	static const struct {
		uint16_t tag;
		const char *what;
		uint64_t min, max;
	} opts[] = {
		{ FERRY_TAG_MAX_DOWNTIME_MS, "max-downtime (ms)", 1, 60000 },
		{ FERRY_TAG_BANDWIDTH, "bandwidth (bytes/s)", 125000, 1ULL << 40 },
		{ FERRY_TAG_MAX_ROUNDS, "max-rounds", 1, 29 },
	};
	uint64_t *dst[] = { &rq->max_downtime_ms, &rq->bandwidth, &rq->max_rounds };

	for (unsigned i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		int r;

		if (!ferry_tlv_find(l, opts[i].tag))
			continue;
		if ((r = ferry_tlv_get_u64(l, opts[i].tag, dst[i], err)) < 0)
			return r;
		if (*dst[i] < opts[i].min || *dst[i] > opts[i].max)
			return ferry_err_set(err, -ERANGE, "%s %llu is out of range; expected %llu to %llu",
			                     opts[i].what, (unsigned long long)*dst[i], (unsigned long long)opts[i].min,
			                     (unsigned long long)opts[i].max);
		if (rq->mode != FERRY_MODE_PRECOPY && rq->mode != FERRY_MODE_HYBRID && rq->mode != FERRY_MODE_AUTO)
			return ferry_err_set(err, -EINVAL, "%s applies to --mode precopy, hybrid or auto only",
			                     opts[i].what);
	}
	return 0;
}

int api_migration(struct controller *c, struct ferry_conn *conn, unsigned op, const struct ferry_tlv_list *l,
                  struct ferry_buf *out, struct ferry_err *err)
{
	if (op == FERRY_OP_MIGRATE) {
		struct migrate_request rq = { .mode = FERRY_MODE_STOP_COPY };
		struct ferry_migration_rec m;
		uint64_t mode = FERRY_MODE_STOP_COPY, flags = 0;
		int r;

		if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, rq.container, sizeof(rq.container), err)) < 0 ||
		    (r = ferry_tlv_get_str(l, FERRY_TAG_DEST, rq.dest, sizeof(rq.dest), err)) < 0)
			return r;
		if (ferry_tlv_find(l, FERRY_TAG_MODE) && (r = ferry_tlv_get_u64(l, FERRY_TAG_MODE, &mode, err)) < 0)
			return r;
		rq.mode = mode <= 255 ? (uint8_t)mode : 0;
		if (ferry_tlv_find(l, FERRY_TAG_FLAGS))
			ferry_tlv_get_u64(l, FERRY_TAG_FLAGS, &flags, NULL);
		if ((r = precopy_request(l, &rq, err)) < 0)
			return r;
		rq.auto_converge = flags & FERRY_MIG_AUTO_CONVERGE;
		if ((r = migrate_one(c, &rq, &m, (flags & 1) ? conn : NULL, err)) < 0)
			return r;
		r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
		return r ? r : add_migration_record(out, FERRY_TAG_RECORD, &m);
	}
	if (op == FERRY_OP_EVACUATE)
		return evacuate(c, l, out, err);
	{
		struct ferry_migration_rec *ms = calloc(HISTORY_MAX, sizeof(*ms));
		int n = ms ? ferry_store_migrations(&c->st.reg, ms, HISTORY_MAX, err)
		           : ferry_err_set(err, -ENOMEM, "out of memory");
		int r = n < 0 ? n : ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);

		for (int i = 0; r == 0 && i < n; i++)
			r = add_migration_record(out, FERRY_TAG_RECORD, &ms[i]);
		free(ms);
		if (r == -E2BIG)
			r = ferry_err_set(err, -E2BIG, "history does not fit one answer");
		return r;
	}
}
