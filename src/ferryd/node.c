/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The running node daemon: a TLS server with two roles.
 *   ferry-ctl  commands, accepted only from the controller's identity
 *   ferry-mig  migration data, accepted only from allowlisted nodes, each
 *              stream opened by a controller-signed ticket for this node
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "ferryd"
#include "ferry/bundle.h"
#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "ctnet.h"
#include "node.h"
#include "precopy.h"

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* ---- ferry-ctl: the controller's commands ---- */

static int ctl_check(struct ferry_conn *conn, void *arg)
{
	struct node *node = arg;

	(void)conn;
	return ferry_server_stopping(&node->srv) ? -1 : 0;
}

static int reply_ok(struct ferry_conn *conn, struct ferry_buf *b, struct ferry_err *err)
{
	return ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, b->data, b->len, err);
}

static int ctl_allowlist(struct node *node, struct ferry_conn *conn, const struct ferry_tlv_list *l,
                         struct ferry_err *err)
{
	struct ferry_peer *peers = calloc(FERRY_ALLOWLIST_MAX, sizeof(*peers));
	struct ferry_buf out = FERRY_BUF_INIT(256);
	uint64_t version;
	unsigned n = 0;
	int r;

	if (!peers)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_tlv_get_u64(l, FERRY_TAG_VERSION, &version, err)) < 0)
		goto out;
	for (unsigned i = 0; i < l->n; i++) {
		const struct ferry_tlv *t = &l->items[i];

		if (t->tag != FERRY_TAG_PEER)
			continue;
		if (n == FERRY_ALLOWLIST_MAX || t->len <= FERRY_ID_LEN || t->len > FERRY_ID_LEN + FERRY_NODE_NAME_MAX) {
			r = ferry_err_set(err, -EPROTO, "bad allowlist entry");
			goto out;
		}
		memcpy(peers[n].id, t->value, FERRY_ID_LEN);
		memcpy(peers[n].name, t->value + FERRY_ID_LEN, t->len - FERRY_ID_LEN);
		peers[n].name[t->len - FERRY_ID_LEN] = '\0';
		if (strlen(peers[n].name) != (size_t)(t->len - FERRY_ID_LEN) ||
		    (r = ferry_check_name(peers[n].name, FERRY_NODE_NAME_MAX, "node", err)) < 0) {
			r = ferry_err_set(err, -EPROTO, "bad allowlist entry name");
			goto out;
		}
		n++;
	}
	r = ferry_allowlist_replace(&node->allow, version, peers, n, err);
	if (r == 1)
		log_info("allowlist version %llu applied: %u peers", (unsigned long long)version, n);
	if (r >= 0 && (r = ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0)) == 0 &&
	    (r = ferry_tlv_add_u64(&out, FERRY_TAG_VERSION, ferry_allowlist_version(&node->allow))) == 0)
		r = reply_ok(conn, &out, err);
out:
	free(peers);
	ferry_buf_free(&out);
	return r;
}

static void handle_ctl(struct node *node, struct ferry_conn *conn)
{
	struct ferry_buf payload = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), out = FERRY_BUF_INIT(256);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_frame_header h;
	struct ferry_err err = { 0 };
	char hex[FERRY_ID_HEX_LEN];

	if (!l)
		return;
	if (!conn->has_peer_cert || CRYPTO_memcmp(conn->peer_id, node->id.controller_id, FERRY_ID_LEN) != 0) {
		ferry_id_hex(conn->peer_id, hex);
		log_warn("refused a command from %s (id %s, '%s'): only the controller may send commands",
		         conn->peer_addr, hex, conn->peer_cn);
		ferry_conn_send_error(conn, EACCES, "only the controller may send commands", NULL);
		free(l);
		return;
	}
	conn->check = ctl_check;
	conn->check_arg = node;
	for (;;) {
		uint8_t op[2];
		int r;

		if (ferry_conn_recv_frame(conn, &h, &payload, &err) < 0)
			break; /* closed, idle or stopping */
		if (h.type != FERRY_FRAME_REQUEST ||
		    ferry_tlv_parse((const uint8_t *)payload.data, payload.len, l, &err) < 0 ||
		    ferry_tlv_get_fixed(l, FERRY_TAG_OP, op, 2, &err) < 0) {
			ferry_conn_send_error(conn, EPROTO, "malformed request", NULL);
			break;
		}
		err.msg[0] = '\0';
		switch (op[0] << 8 | op[1]) {
		case FERRY_OP_ALLOWLIST_SET:
			r = ctl_allowlist(node, conn, l, &err);
			break;
		case FERRY_OP_MTD_EPOCH:
		case FERRY_OP_MTD_DRAW:
		case FERRY_OP_MTD_DECOY:
			ferry_buf_reset(&out);
			r = (op[0] << 8 | op[1]) == FERRY_OP_MTD_EPOCH  ? mtd_epoch_set(node, l, &out, &err)
			    : (op[0] << 8 | op[1]) == FERRY_OP_MTD_DRAW ? mtd_draw(node, l, &out, &err)
			                                                : mtd_decoy(node, l, &out, &err);
			r = r ? r : reply_ok(conn, &out, &err);
			break;
		case FERRY_OP_PING:
			ferry_buf_reset(&out);
			r = ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
			r = r ? r : ferry_tlv_add_str(&out, FERRY_TAG_NODE, node->id.name);
			r = r ? r : reply_ok(conn, &out, &err);
			break;
		default:
			r = ctl_containers(node, conn, op[0] << 8 | op[1], l, &err);
		}
		if (r < 0 && ferry_conn_send_error(conn, r, err.msg[0] ? err.msg : strerror(-r), NULL) < 0)
			break;
	}
	free(l);
	ferry_buf_free(&payload);
	ferry_buf_free(&out);
}

/* ---- ferry-mig: incoming migration data ---- */

static int mig_check(struct ferry_conn *conn, void *arg)
{
	struct node *node = arg;

	/* A peer removed from the allowlist loses its live connections within a second or so. */
	if (ferry_server_stopping(&node->srv) || !ferry_allowlist_lookup(&node->allow, conn->peer_id, NULL))
		return -1;
	return 0;
}

#define MIG_IO_TIMEOUT_MS 20000 /* one frame of a stream: a cut link ends it after this */

/* session: the page session this ticket continues (same migration), or NULL. */
static int admit(struct node *node, struct ferry_conn *conn, const uint8_t *raw, size_t len, struct ferry_ticket *ret,
                 const struct ferry_ticket *session, struct ferry_err *err)
{
	char peer[FERRY_NODE_NAME_MAX + 1];
	struct statvfs vfs;
	uint64_t avail, now = now_s();
	int r;

	if ((r = ferry_ticket_parse(raw, len, ret, err)) < 0 ||
	    (r = ferry_ticket_verify_signature(ret, node->id.ticket_pub, err)) < 0)
		return r;
	if (!ferry_allowlist_lookup(&node->allow, conn->peer_id, peer))
		return ferry_err_set(err, -EACCES, "peer is no longer allowed");
	if ((r = ferry_ticket_check_claims(ret, node->id.name, true, peer, now, err)) < 0)
		return r;
	if (session) {
		if (strcmp(ret->container, session->container) != 0 || ret->generation != session->generation ||
		    strcmp(ret->source, session->source) != 0 ||
		    (ret->mode != FERRY_MODE_PRECOPY && ret->mode != FERRY_MODE_HYBRID))
			return ferry_err_set(err, -EPERM, "the bundle's ticket is not for the page session before it");
		/* Admitted with the session: its memory is in the store already. */
		return ferry_replay_admit_continued(&node->replay, ret, now, err);
	}
	/* Admission before the seen-set: a refused ticket may be retried elsewhere, not replayed here. */
	avail = ferry_mem_available();
	if (ret->reserve_memory > avail)
		return ferry_err_set(err, -ENOMEM, "admission refused: %llu bytes of memory reserved, %llu available",
		                     (unsigned long long)ret->reserve_memory, (unsigned long long)avail);
	if (statvfs(node->incoming, &vfs) == 0 && ret->reserve_disk > (uint64_t)vfs.f_bavail * vfs.f_frsize)
		return ferry_err_set(err, -ENOSPC, "admission refused: %llu bytes of disk reserved, %llu free",
		                     (unsigned long long)ret->reserve_disk,
		                     (unsigned long long)vfs.f_bavail * vfs.f_frsize);
	return ferry_replay_admit(&node->replay, ret, now, err);
}

int node_admit_ticket(struct ferry_conn *conn, const uint8_t *raw, size_t len, struct ferry_ticket *ret, void *arg,
                      struct ferry_err *err)
{
	return admit(arg, conn, raw, len, ret, NULL, err);
}

struct admit_arg {
	struct node *node;
	const struct precopy_store *store;
};

/* The bundle's ticket; after a page session, it must continue that very migration. */
static int admit_bundle(struct ferry_conn *conn, const uint8_t *raw, size_t len, struct ferry_ticket *ret, void *arg,
                        struct ferry_err *err)
{
	const struct admit_arg *a = arg;

	return admit(a->node, conn, raw, len, ret, a->store->open ? &a->store->ticket : NULL, err);
}

static struct peer_count *peer_slot(struct node *node, const uint8_t id[FERRY_ID_LEN])
{
	struct peer_count *free_slot = NULL;

	for (unsigned i = 0; i < FERRY_MAX_STREAMS; i++) {
		if (node->peers[i].n && memcmp(node->peers[i].id, id, FERRY_ID_LEN) == 0)
			return &node->peers[i];
		if (!node->peers[i].n && !free_slot)
			free_slot = &node->peers[i];
	}
	if (free_slot)
		memcpy(free_slot->id, id, FERRY_ID_LEN);
	return free_slot;
}

static void handle_mig(struct node *node, struct ferry_conn *conn)
{
	struct ferry_bundle_result res;
	struct ferry_err err = { 0 };
	char peer[FERRY_NODE_NAME_MAX + 1], hex[FERRY_ID_HEX_LEN];
	struct peer_count *slot = NULL;
	struct precopy_store store = { .fd = -1 };
	bool admitted = false;
	uint8_t first = 0;
	int r;

	if (!conn->has_peer_cert || !ferry_allowlist_lookup(&node->allow, conn->peer_id, peer)) {
		ferry_id_hex(conn->peer_id, hex);
		log_warn("refused migration data from %s (id %s, '%s'): not in the allowlist", conn->peer_addr, hex,
		         conn->peer_cn);
		ferry_conn_send_error(conn, EACCES, "not in the allowlist", NULL);
		return;
	}
	pthread_mutex_lock(&node->lock);
	if (node->migrations < node->limits.max_streams && (slot = peer_slot(node, conn->peer_id)) &&
	    slot->n < node->limits.max_streams_per_peer) {
		node->migrations++;
		slot->n++;
		admitted = true;
	}
	pthread_mutex_unlock(&node->lock);
	if (!admitted) {
		log_warn("refused migration data from %s: too many concurrent migrations", peer);
		ferry_conn_send_error(conn, EBUSY, "too many concurrent migrations", NULL);
		return;
	}
	conn->check = mig_check;
	conn->check_arg = node;
	conn->io_timeout_ms = MIG_IO_TIMEOUT_MS;
	/* Pre-copy: a page session first, then the bundle on the same channel. */
	if ((r = ferry_conn_peek_type(conn, &first, &err)) == 0 && first == FERRY_FRAME_PAGES_OPEN)
		r = precopy_receive(node, conn, &store, &err);
	if (r == 0)
		r = ferry_bundle_receive(conn, node->incoming, node->received, admit_bundle,
		                         &(struct admit_arg){ node, &store }, &res, &err);
	if (r < 0) {
		log_warn("migration stream from %s refused or failed: %s", peer, err.msg);
	} else {
		char spec[PATH_MAX];

		log_info("received %u objects (%llu bytes) from %s for container %s, generation %llu, in %s",
		         res.objects, (unsigned long long)res.bytes, peer, res.ticket.container,
		         (unsigned long long)res.ticket.generation, res.path);
		/* A stream that carries a container spec is a migration: restore it, then drop the images. */
		snprintf(spec, sizeof(spec), "%s/spec", res.path);
		if (access(spec, F_OK) == 0) {
			mig_restore(node, conn, &res, &store, &err);
			ferry_rm_tree(res.path, NULL);
		}
	}
	precopy_store_close(&store);
	pthread_mutex_lock(&node->lock);
	node->migrations--;
	slot->n--;
	pthread_mutex_unlock(&node->lock);
}

static void handle(struct ferry_server *srv, struct ferry_conn *conn, void *arg)
{
	(void)srv;
	if (strcmp(conn->alpn, FERRY_ALPN_CTL) == 0)
		handle_ctl(arg, conn);
	else if (strcmp(conn->alpn, FERRY_ALPN_MIG) == 0)
		handle_mig(arg, conn);
	else if (strcmp(conn->alpn, FERRY_ALPN_MTD) == 0)
		mtd_serve(arg, conn);
}

/* ---- life cycle ---- */

/* Every CRIU run on the freeze path would probe the kernel again: see runtime/kdat.c. */
static void cache_criu_probe(struct node *node, const char *state_dir)
{
	char dir[PATH_MAX], target[PATH_MAX];
	struct ferry_err err = { 0 };
	int r;

	snprintf(dir, sizeof(dir), "%s/tmp", state_dir);
	r = ferry_criu_kdat_link(dir, target, sizeof(target), &err);
	if (r == 0) {
		snprintf(node->criu_kdat, sizeof(node->criu_kdat), "%s", target);
		log_info("/run is not a tmpfs, so CRIU cannot cache its kernel probe: made the cache in %s and "
		         "linked /run/criu.kdat to it",
		         target);
	} else if (r > 0)
		log_debug("CRIU's kernel probe cache: %s", err.msg);
	else
		log_warn("CRIU's kernel probe cache: %s (every CRIU run probes the kernel again)", err.msg);
}

static bool node_is_key(const char *key)
{
	return strcmp(key, "alert_source") == 0;
}

static int node_set(void *arg, const char *key, const char *value, struct ferry_err *err)
{
	(void)key;
	return alerts_source_add(arg, value, err);
}

static int node_start(const struct ferry_daemon_config *cfg, void *arg, struct ferry_err *err)
{
	static const char *const alpns[] = { FERRY_ALPN_CTL, FERRY_ALPN_MIG, FERRY_ALPN_MTD, NULL };
	static const char *const client_alpns[] = { FERRY_ALPN_MIG, NULL };
	struct node *node = arg;
	struct ferry_server_limits limits;
	struct ferry_config_keys keys = {
		.is_key = node_is_key, .set = node_set, .arg = &node->alerts, .names = "a node key (alert_source)"
	};
	char path[PATH_MAX], listen[64];
	int r;

	pthread_mutex_init(&node->lock, NULL);
	ferry_server_limits_default(&limits);
	ferry_fabric_default(&node->cts.fabric);
	if ((r = ferry_config_load_with(cfg->config, &limits, &node->cts.fabric, &keys, err)) < 0 ||
	    (r = node_identity_load(cfg->state_dir, &node->id, err)) < 0)
		return r;
	if (strcmp(node->id.name, cfg->name) != 0)
		return ferry_err_set(err, -EINVAL, "this state directory belongs to node '%s', not '%s'", node->id.name,
		                     cfg->name);
	snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, NODE_ALLOWLIST);
	if ((r = ferry_allowlist_open(&node->allow, path, err)) < 0 ||
	    (r = ferry_replay_open(&node->replay, cfg->state_dir, now_s(), err)) < 0)
		return r;
	snprintf(node->incoming, sizeof(node->incoming), "%s/tmp/incoming", cfg->state_dir);
	snprintf(node->received, sizeof(node->received), "%s/tmp/received", cfg->state_dir);
	snprintf(node->outgoing, sizeof(node->outgoing), "%s/tmp/outgoing", cfg->state_dir);
	if ((r = ct_store_init(&node->cts, cfg->state_dir, err)) < 0 ||
	    (r = ctnet_fabric_init(&node->cts, cfg->address, err)) < 0)
		return r;
	if (cfg->address && (r = ferry_parse_ipv4(cfg->address, &node->address, err)) < 0)
		return r;
	if (getenv("FERRY_FAULT")) {
		snprintf(node->fault, sizeof(node->fault), "%s", getenv("FERRY_FAULT"));
		log_warn("FERRY_FAULT=%s is set: this node injects that failure (testing only)", node->fault);
	}
	node_recover(node);
	if ((r = ferry_mkdir_p(node->incoming, 0700, err)) < 0 || (r = ferry_mkdir_p(node->received, 0700, err)) < 0)
		return r;
	/* Leftovers of a crash mid-stream were never verified: drop them. */
	ferry_rm_tree(node->incoming, NULL);
	ferry_mkdir_p(node->incoming, 0700, NULL);
	cache_criu_probe(node, cfg->state_dir);
	node->ctx = ferry_tls_ctx(&(struct ferry_tls_config){ .cert = node->id.cert,
	                                                      .key = node->id.key,
	                                                      .ca = node->id.ca,
	                                                      .alpns = alpns,
	                                                      .require_peer_cert = true },
	                          true, err);
	node->client_ctx = ferry_tls_ctx(
	    &(struct ferry_tls_config){
	        .cert = node->id.cert, .key = node->id.key, .ca = node->id.ca, .alpns = client_alpns },
	    false, err);
	if (!node->ctx || !node->client_ctx)
		return -EIO;
	if (cfg->listen)
		snprintf(listen, sizeof(listen), "%s", cfg->listen);
	else
		snprintf(listen, sizeof(listen), "%s:%d", cfg->address ? cfg->address : "0.0.0.0", FERRY_PORT_NODE);
	node->limits = limits;
	if ((r = ferry_server_start(&node->srv, listen, node->ctx, &limits, handle, node, err)) < 0)
		return r;
	if ((r = mtd_init(node, err)) < 0 || (r = alerts_start(node, err)) < 0)
		return r;
	log_info("serving %s and %s on %s as node '%s' (allowlist version %llu)", FERRY_ALPN_CTL, FERRY_ALPN_MIG,
	         listen, node->id.name, (unsigned long long)ferry_allowlist_version(&node->allow));
	return 0;
}

static void node_stop(void *arg)
{
	struct node *node = arg;

	alerts_stop(node);
	ferry_server_shutdown(&node->srv);
	mtd_free(node);
	if (node->criu_kdat[0])
		ferry_criu_kdat_unlink(node->criu_kdat);
	SSL_CTX_free(node->ctx);
	SSL_CTX_free(node->client_ctx);
	if (node->replay.seen)
		ferry_replay_close(&node->replay);
	node_identity_free(&node->id);
}

int node_run(int argc, char **argv)
{
	struct ferry_daemon_config cfg = { .prog = "ferryd", .wants_controller = true };
	static struct node node;
	struct ferry_daemon_service svc = { .start = node_start, .stop = node_stop, .arg = &node };
	int r = ferry_daemon_parse_args(argc, argv, &cfg,
	                                "Ferry's node daemon: one per host.  Also: 'ferryd join TOKEN' and "
	                                "'ferryd send' (see their --help); 'log-pump' and 'guard' are "
	                                "helpers the daemon starts itself.");

	if (r != 0)
		return r < 0 ? 0 : r;
	return ferry_daemon_run(&cfg, &svc);
}
