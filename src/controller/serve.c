/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The running controller: enrollment (ferry-enroll, no client certificate,
 * a single-use token instead), the admin API (ferry-api, admin certificates
 * only) and the pusher that keeps every node's allowlist current.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_PREFIX "controller"
#include "controller.h"
#include "ferry/bundle.h"
#include "ferry/daemon_main.h"
#include "ferry/log.h"
#include "ferry/manifest.h"
#include "ferry/parse.h"
#include "ferry/ticket.h"
#include "ferry/token.h"

#define PUSH_RETRY_MS   2000
#define PUSH_CONNECT_MS 3000

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

static void wake_pusher(struct controller *c)
{
	pthread_mutex_lock(&c->push_lock);
	pthread_cond_signal(&c->push_wake);
	pthread_mutex_unlock(&c->push_lock);
}

/* ---- allowlist message ---- */

static int add_allowlist(struct ferry_buf *b, const struct ferry_registry_node *nodes, int n, uint64_t version)
{
	int r = ferry_tlv_add_u64(b, FERRY_TAG_VERSION, version);

	for (int i = 0; r == 0 && i < n; i++) {
		uint8_t entry[FERRY_ID_LEN + FERRY_NODE_NAME_MAX];
		size_t len = strlen(nodes[i].name);

		memcpy(entry, nodes[i].id, FERRY_ID_LEN);
		memcpy(entry + FERRY_ID_LEN, nodes[i].name, len);
		r = ferry_tlv_add(b, FERRY_TAG_PEER, entry, FERRY_ID_LEN + len);
	}
	return r;
}

/* ---- enrollment ---- */

static int enroll(struct controller *c, struct ferry_conn *conn, const struct ferry_tlv_list *l, struct ferry_buf *out,
                  struct ferry_err *err)
{
	struct ferry_registry_node *nodes = NULL;
	const struct ferry_tlv *csr_t = ferry_tlv_find(l, FERRY_TAG_CSR);
	char node[FERRY_NODE_NAME_MAX + 1], address[32];
	uint8_t secret[32], hash[32], id[FERRY_ID_LEN];
	uint8_t *cert_der = NULL, *ca_der = NULL, *tk_der = NULL;
	size_t cert_len = 0, ca_len = 0;
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	uint64_t version;
	uint32_t a;
	uint16_t p;
	int r, n, tk_len;

	if ((r = ferry_tlv_get_str(l, FERRY_TAG_NODE, node, sizeof(node), err)) < 0 ||
	    (r = ferry_check_name(node, FERRY_NODE_NAME_MAX, "node", err)) < 0 ||
	    (r = ferry_tlv_get_fixed(l, FERRY_TAG_SECRET, secret, sizeof(secret), err)) < 0 ||
	    (r = ferry_tlv_get_str(l, FERRY_TAG_ADDRESS, address, sizeof(address), err)) < 0 ||
	    (r = ferry_parse_hostport(address, &a, &p, err)) < 0 || !csr_t) {
		if (r == 0)
			r = ferry_err_set(err, -EPROTO, "enrollment request lacks a CSR");
		return r;
	}
	ferry_sha256(secret, sizeof(secret), hash);
	OPENSSL_cleanse(secret, sizeof(secret));
	/* The token is spent before the certificate exists: a failure after this needs a new token. */
	if ((r = ferry_registry_token_consume(&c->st.reg, node, hash, now_s(), err)) < 0) {
		log_warn("enrollment of '%s' from %s refused: %s", node, conn->peer_addr, err->msg);
		return r;
	}
	if (!(csr = ferry_csr_from_der(csr_t->value, csr_t->len, err)) ||
	    !(cert = ferry_cert_issue(csr, node, c->st.ca, c->st.ca_key, CTL_CERT_DAYS, err))) {
		r = -EPROTO;
		goto out;
	}
	ferry_cert_id(cert, id);
	if ((r = ferry_registry_node_enroll(&c->st.reg, node, id, address, now_s(), err)) < 0)
		goto out;
	nodes = calloc(MAX_NODES, sizeof(*nodes));
	if (!nodes || (n = ferry_registry_nodes(&c->st.reg, nodes, MAX_NODES, &version, err)) < 0) {
		r = nodes ? n : ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	tk_len = i2d_PUBKEY(c->st.ticket_key, &tk_der);
	if (ferry_cert_to_der(cert, &cert_der, &cert_len) < 0 || ferry_cert_to_der(c->st.ca, &ca_der, &ca_len) < 0 ||
	    tk_len <= 0 || ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0) < 0 ||
	    ferry_tlv_add(out, FERRY_TAG_CERT, cert_der, cert_len) < 0 ||
	    ferry_tlv_add(out, FERRY_TAG_CA_CERT, ca_der, ca_len) < 0 ||
	    ferry_tlv_add(out, FERRY_TAG_TICKET, tk_der, (size_t)tk_len) < 0 ||
	    ferry_tlv_add(out, FERRY_TAG_CONTROLLER_ID, c->st.id, FERRY_ID_LEN) < 0 ||
	    add_allowlist(out, nodes, n, version) < 0) {
		r = ferry_err_set(err, -E2BIG, "enrollment answer too large");
		goto out;
	}
	log_info("node '%s' enrolled from %s, listening on %s (allowlist version %llu)", node, conn->peer_addr, address,
	         (unsigned long long)version);
	wake_pusher(c);
out:
	free(nodes);
	OPENSSL_free(cert_der);
	OPENSSL_free(ca_der);
	OPENSSL_free(tk_der);
	X509_REQ_free(csr);
	X509_free(cert);
	return r;
}

/* ---- admin API ---- */

static int api_token(struct controller *c, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err)
{
	char node[FERRY_NODE_NAME_MAX + 1], token[FERRY_TOKEN_MAX_LEN + 1];
	uint64_t ttl = TOKEN_TTL_DEFAULT;
	int r;

	if ((r = ferry_tlv_get_str(l, FERRY_TAG_NODE, node, sizeof(node), err)) < 0)
		return r;
	if (ferry_tlv_find(l, FERRY_TAG_TTL) && (r = ferry_tlv_get_u64(l, FERRY_TAG_TTL, &ttl, err)) < 0)
		return r;
	if (ttl < 10 || ttl > TOKEN_TTL_MAX)
		return ferry_err_set(err, -ERANGE, "token TTL %llu s is out of range; expected 10 s to 7 days",
		                     (unsigned long long)ttl);
	if ((r = controller_token_create(&c->st, node, ttl, token, sizeof(token), err)) < 0)
		return r;
	log_info("join token created for node '%s', valid %llu s", node, (unsigned long long)ttl);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_TOKEN, token);
	OPENSSL_cleanse(token, sizeof(token));
	return r;
}

static int api_nodes(struct controller *c, struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_registry_node *nodes = calloc(MAX_NODES, sizeof(*nodes));
	uint64_t version;
	int n, r;

	if (!nodes)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	n = ferry_registry_nodes(&c->st.reg, nodes, MAX_NODES, &version, err);
	r = n < 0 ? n : ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : add_allowlist(out, nodes, n, version);
	for (int i = 0; r == 0 && i < n; i++)
		r = ferry_tlv_add_str(out, FERRY_TAG_ADDRESS, nodes[i].address);
	free(nodes);
	return r;
}

static int api_ticket(struct controller *c, const struct ferry_tlv_list *l, struct ferry_buf *out,
                      struct ferry_err *err)
{
	struct ferry_registry_node *nodes = calloc(MAX_NODES, sizeof(*nodes));
	struct ferry_buf enc = FERRY_BUF_INIT(FERRY_TICKET_MAX_LEN);
	struct ferry_ticket t = { 0 };
	uint64_t mode, ttl = 60, version;
	bool have_src = false, have_dst = false;
	int n, r;

	if (!nodes)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, t.container, sizeof(t.container), err)) < 0 ||
	    (r = ferry_tlv_get_str(l, FERRY_TAG_SOURCE, t.source, sizeof(t.source), err)) < 0 ||
	    (r = ferry_tlv_get_str(l, FERRY_TAG_DEST, t.dest, sizeof(t.dest), err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_MODE, &mode, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_GENERATION, &t.generation, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_MEMORY, &t.reserve_memory, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_DISK, &t.reserve_disk, err)) < 0 ||
	    (r = ferry_tlv_get_fixed(l, FERRY_TAG_HASH, t.manifest_hash, 32, err)) < 0)
		goto out;
	if (ferry_tlv_find(l, FERRY_TAG_TTL) && (r = ferry_tlv_get_u64(l, FERRY_TAG_TTL, &ttl, err)) < 0)
		goto out;
	if (ttl < 1 || ttl > FERRY_TICKET_MAX_TTL || mode < FERRY_MODE_STOP_COPY || mode > FERRY_MODE_STATELESS) {
		r = ferry_err_set(err, -ERANGE, "ticket TTL must be 1 to %d s and the mode known",
		                  FERRY_TICKET_MAX_TTL);
		goto out;
	}
	if ((r = ferry_check_name(t.container, FERRY_CONTAINER_NAME_MAX, "container", err)) < 0)
		goto out;
	n = ferry_registry_nodes(&c->st.reg, nodes, MAX_NODES, &version, err);
	for (int i = 0; i < n; i++) {
		have_src |= strcmp(nodes[i].name, t.source) == 0;
		have_dst |= strcmp(nodes[i].name, t.dest) == 0;
	}
	if (!have_src || !have_dst || strcmp(t.source, t.dest) == 0) {
		r = ferry_err_set(err, -ENOENT, "source and destination must be two different active nodes");
		goto out;
	}
	t.mode = (uint8_t)mode;
	t.issued_at = now_s();
	t.expires_at = t.issued_at + ttl;
	if (ferry_random(t.id, sizeof(t.id)) < 0 || (r = ferry_ticket_sign(&t, c->st.ticket_key, err)) < 0 ||
	    (r = ferry_ticket_encode(&t, &enc)) < 0)
		goto out;
	log_info("ticket issued: container %s %s -> %s, %s, generation %llu, %llu s", t.container, t.source, t.dest,
	         ferry_mode_name(t.mode), (unsigned long long)t.generation, (unsigned long long)ttl);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add(out, FERRY_TAG_TICKET, enc.data, enc.len);
out:
	free(nodes);
	ferry_buf_free(&enc);
	return r;
}

/* Whether id is an active node's certificate; its name into name. */
static bool active_node(struct controller *c, const uint8_t *id, char *name)
{
	struct ferry_registry_node *nodes = calloc(MAX_NODES, sizeof(*nodes));
	uint64_t version;
	int n = nodes ? ferry_registry_nodes(&c->st.reg, nodes, MAX_NODES, &version, NULL) : 0;

	name[0] = '\0';
	for (int i = 0; i < n; i++)
		if (CRYPTO_memcmp(nodes[i].id, id, FERRY_ID_LEN) == 0)
			snprintf(name, FERRY_NODE_NAME_MAX + 1, "%s", nodes[i].name);
	free(nodes);
	return name[0] != '\0';
}

static int serve_check(struct ferry_conn *conn, void *arg)
{
	struct controller *c = arg;

	(void)conn;
	return ferry_server_stopping(&c->srv) ? -1 : 0;
}

static void handle(struct ferry_server *srv, struct ferry_conn *conn, void *arg)
{
	struct controller *c = arg;
	struct ferry_buf payload = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX),
	                 out = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	bool is_enroll = strcmp(conn->alpn, FERRY_ALPN_ENROLL) == 0;
	struct ferry_frame_header h;
	struct ferry_err err = { 0 };
	char hex[FERRY_ID_HEX_LEN], node_name[FERRY_NODE_NAME_MAX + 1] = "", reporter[FERRY_NODE_NAME_MAX + 6];

	(void)srv;
	if (!l)
		return;
	conn->check = serve_check;
	conn->check_arg = c;
	if (!is_enroll && (!conn->has_peer_cert || !ferry_registry_is_admin(&c->st.reg, conn->peer_id)) &&
	    !active_node(c, conn->peer_id, node_name)) {
		ferry_id_hex(conn->peer_id, hex);
		log_warn("refused API access from %s (id %s, '%s'): not an admin certificate", conn->peer_addr, hex,
		         conn->peer_cn);
		ferry_conn_send_error(conn, EACCES, "not an admin certificate", NULL);
		goto out;
	}
	if (node_name[0])
		snprintf(reporter, sizeof(reporter), "%s", node_name);
	else
		snprintf(reporter, sizeof(reporter), "admin:%s", conn->peer_cn);
	/* An enrolling client gets one request; an admin session may make several. */
	for (int requests = 0; !is_enroll || requests < 1; requests++) {
		uint8_t op[2];
		int r;

		if (ferry_conn_recv_frame(conn, &h, &payload, &err) < 0)
			break;
		ferry_buf_reset(&out);
		err.msg[0] = '\0';
		if (h.type != FERRY_FRAME_REQUEST ||
		    ferry_tlv_parse((const uint8_t *)payload.data, payload.len, l, &err) < 0 ||
		    ferry_tlv_get_fixed(l, FERRY_TAG_OP, op, 2, &err) < 0) {
			ferry_conn_send_error(conn, EPROTO, "malformed request", NULL);
			break;
		}
		/* A node (not an admin) may report intrusion alerts about its own host, and nothing else. */
		if (node_name[0] && (op[0] << 8 | op[1]) != FERRY_OP_ALERT) {
			log_warn("refused operation %u from node '%s': a node may only report alerts here",
			         op[0] << 8 | op[1], node_name);
			ferry_conn_send_error(conn, EACCES, "a node may only report alerts here", NULL);
			break;
		}
		switch (op[0] << 8 | op[1]) {
		case FERRY_OP_ENROLL:
			r = is_enroll ? enroll(c, conn, l, &out, &err)
			              : ferry_err_set(&err, -EPERM, "enrollment belongs on %s", FERRY_ALPN_ENROLL);
			break;
		case FERRY_OP_TOKEN_CREATE:
			r = is_enroll ? -EPERM : api_token(c, l, &out, &err);
			break;
		case FERRY_OP_NODE_LIST:
			r = is_enroll ? -EPERM : api_nodes(c, &out, &err);
			break;
		case FERRY_OP_NODE_REMOVE: {
			char node[FERRY_NODE_NAME_MAX + 1];

			r = is_enroll ? -EPERM : ferry_tlv_get_str(l, FERRY_TAG_NODE, node, sizeof(node), &err);
			if (r == 0 && (r = ferry_registry_node_remove(&c->st.reg, node, now_s(), &err)) == 0) {
				log_info("node '%s' removed: its identity is revoked", node);
				wake_pusher(c);
				r = ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
			}
			break;
		}
		case FERRY_OP_TICKET_ISSUE:
			r = is_enroll ? -EPERM : api_ticket(c, l, &out, &err);
			break;
		case FERRY_OP_AUDIT:
		case FERRY_OP_AUDIT_VERIFY:
			r = is_enroll ? -EPERM : api_audit(c, op[0] << 8 | op[1], l, &out, &err);
			break;
		case FERRY_OP_POLICY_EXPLAIN:
		case FERRY_OP_DECISIONS:
			r = is_enroll ? -EPERM : api_policy(c, op[0] << 8 | op[1], l, &out, &err);
			break;
		case FERRY_OP_SNAPSHOT:
			r = is_enroll ? -EPERM : api_snapshot(c, conn, l, &out, &err);
			break;
		case FERRY_OP_SNAPSHOT_RESTORE:
			r = is_enroll ? -EPERM : api_snapshot_restore(c, conn, l, &out, &err);
			break;
		case FERRY_OP_MTD_MOVE:
		case FERRY_OP_MTD_STATUS:
			r = is_enroll ? -EPERM : api_mtd(c, op[0] << 8 | op[1], l, &out, &err);
			break;
		case FERRY_OP_ALERT:
		case FERRY_OP_ALERTS:
		case FERRY_OP_QUARANTINE:
		case FERRY_OP_NODE_RELEASE:
			r = is_enroll
			        ? -EPERM
			        : api_defense(c, op[0] << 8 | op[1], reporter, node_name[0] != '\0', l, &out, &err);
			break;
		default:
			r = is_enroll ? -EPERM : api_workload(c, conn, op[0] << 8 | op[1], l, &out, &err);
		}
		/* A node's alerts are in the alerts table; the evacuation they start is audited. */
		if (!node_name[0])
			audit_request(c, conn, op[0] << 8 | op[1], l, r, err.msg);
		if (r == -EPERM && !err.msg[0])
			ferry_err_set(&err, -EPERM, "operation not allowed on this connection");
		if (r < 0) {
			if (ferry_conn_send_error(conn, r, err.msg[0] ? err.msg : strerror(-r), NULL) < 0)
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

/* ---- pushing allowlists ---- */

static struct pushed *pushed_for(struct controller *c, const struct ferry_registry_node *n)
{
	for (unsigned i = 0; i < c->n_pushed; i++)
		if (strcmp(c->pushed[i].name, n->name) == 0) {
			if (memcmp(c->pushed[i].id, n->id, FERRY_ID_LEN) != 0) {
				memcpy(c->pushed[i].id, n->id, FERRY_ID_LEN); /* re-enrolled */
				c->pushed[i].version = 0;
			}
			return &c->pushed[i];
		}
	if (c->n_pushed == MAX_NODES)
		return NULL;
	memset(&c->pushed[c->n_pushed], 0, sizeof(c->pushed[0]));
	snprintf(c->pushed[c->n_pushed].name, sizeof(c->pushed[0].name), "%s", n->name);
	memcpy(c->pushed[c->n_pushed].id, n->id, FERRY_ID_LEN);
	return &c->pushed[c->n_pushed++];
}

static int push_one(struct controller *c, const struct ferry_registry_node *to, const struct ferry_registry_node *all,
                    int n, uint64_t version, struct ferry_err *err)
{
	struct ferry_buf req = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_conn *conn = NULL;
	int r;

	r = ferry_conn_connect(c->client_ctx, to->address, FERRY_ALPN_CTL, NULL, PUSH_CONNECT_MS, &conn, err);
	if (r == 0 && CRYPTO_memcmp(conn->peer_id, to->id, FERRY_ID_LEN) != 0)
		r = ferry_err_set(err, -EPERM, "%s answers with another node's key", to->address);
	if (r == 0 && ((r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_ALLOWLIST_SET)) < 0 ||
	               (r = add_allowlist(&req, all, n, version)) < 0))
		r = ferry_err_set(err, r, "allowlist too large");
	if (r == 0 && (r = ferry_conn_send_frame(conn, FERRY_FRAME_REQUEST, req.data, req.len, err)) == 0)
		r = ferry_expect_response(conn, &resp, err);
	ferry_conn_close(conn);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

static void *push_loop(void *arg)
{
	struct controller *c = arg;
	struct ferry_registry_node *nodes = calloc(MAX_NODES, sizeof(*nodes));

	pthread_mutex_lock(&c->push_lock);
	while (nodes && !c->push_stop) {
		struct ferry_err err = { 0 };
		struct timespec until;
		uint64_t version;
		int n;

		pthread_mutex_unlock(&c->push_lock);
		n = ferry_registry_nodes(&c->st.reg, nodes, MAX_NODES, &version, &err);
		for (int i = 0; i < n && !ferry_server_stopping(&c->srv); i++) {
			struct pushed *p = pushed_for(c, &nodes[i]);

			if (!p || p->version >= version)
				continue;
			if (push_one(c, &nodes[i], nodes, n, version, &err) == 0) {
				p->version = version;
				log_info("allowlist version %llu pushed to '%s'", (unsigned long long)version,
				         nodes[i].name);
			} else {
				log_debug("allowlist push to '%s' failed (will retry): %s", nodes[i].name, err.msg);
			}
		}
		pthread_mutex_lock(&c->push_lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += PUSH_RETRY_MS / 1000;
		if (!c->push_stop)
			pthread_cond_timedwait(&c->push_wake, &c->push_lock, &until);
	}
	pthread_mutex_unlock(&c->push_lock);
	free(nodes);
	return NULL;
}

/* ---- life cycle ---- */

struct controller_keys {
	struct ferry_manager_config *manager;
	struct ferry_defense_config *defense;
};

static bool manager_is_key(const char *key)
{
	return ferry_manager_is_key(key) || ferry_defense_is_key(key);
}

static int manager_set(void *arg, const char *key, const char *value, struct ferry_err *err)
{
	struct controller_keys *k = arg;

	if (ferry_defense_is_key(key))
		return ferry_defense_set(k->defense, key, value, err);
	return ferry_manager_set(k->manager, key, value, err);
}

static int controller_start(const struct ferry_daemon_config *cfg, void *arg, struct ferry_err *err)
{
	static const char *const server_alpns[] = { FERRY_ALPN_API, FERRY_ALPN_ENROLL, NULL };
	static const char *const client_alpns[] = { FERRY_ALPN_CTL, NULL };
	struct controller *c = arg;
	struct ferry_server_limits limits;
	struct ferry_manager_config mcfg;
	struct ferry_defense_config dcfg;
	struct controller_keys keys = { .manager = &mcfg, .defense = &dcfg };
	struct ferry_config_keys manager_keys = { .is_key = manager_is_key,
		                                  .set = manager_set,
		                                  .arg = &keys,
		                                  .names = "a manager key (policy, topology, migration_mode, dry_run, "
		                                           "sample_interval_ms, fast_sample_interval_ms, "
		                                           "check_interval_ms, aggregate_threshold, "
		                                           "aggregate_difference_threshold, port_threshold, "
		                                           "hysteresis_percent, confirm_checks, cooldown_s, "
		                                           "retention_s, probe_interval_ms) or a defense key "
		                                           "(security_mode, ids_action, ids_min_severity, "
		                                           "ids_alerts, ids_window_s, ids_implicate, "
		                                           "ids_quarantine, ids_snapshot_dir, "
		                                           "ids_snapshot_recipient, key_number, mtd_interval_s, "
		                                           "mtd_jitter_percent, mtd_containers)" };
	int r;

	pthread_mutex_init(&c->push_lock, NULL);
	pthread_mutex_init(&c->ipam_lock, NULL);
	ferry_fabric_default(&c->fabric);
	if (getenv("FERRY_FAULT") && strcmp(getenv("FERRY_FAULT"), "no-net-hold") == 0) {
		c->no_net_hold = true;
		log_warn("FERRY_FAULT=no-net-hold is set: destinations take a moving container's address only at "
		         "the commit and packets sent during the freeze are lost (a measurement baseline only)");
	}
	pthread_cond_init(&c->push_wake, NULL);
	/* The whole configuration is checked before anything starts: no half-started controller. */
	ferry_server_limits_default(&limits);
	ferry_manager_config_default(&mcfg);
	ferry_defense_config_default(&dcfg);
	if ((r = ferry_config_load_with(cfg->config, &limits, &c->fabric, &manager_keys, err)) < 0 ||
	    (r = ferry_manager_check(&mcfg, err)) < 0)
		return r < 0 && cfg->config && !strstr(err->msg, cfg->config) ? ferry_err_wrap(err, "%s", cfg->config)
		                                                              : r;
	if (cfg->dry_run)
		mcfg.dry_run = true;
	if ((r = manager_init(c, &mcfg, err)) < 0 || (r = defense_init(c, &dcfg, err)) < 0)
		return r;
	if ((r = controller_state_load(cfg->state_dir, &c->st, err)) < 0 ||
	    (r = workload_init(c, cfg->state_dir, err)) < 0)
		return r;
	c->allow_postcopy = limits.allow_postcopy;
	if (c->allow_postcopy)
		log_info("post-copy is allowed: a source lost before the last page landed loses its container");
	/* Client certificates are optional at the TLS layer only for enrollment; handle() enforces the rest. */
	c->server_ctx = ferry_tls_ctx(&(struct ferry_tls_config){ .cert = c->st.cert,
	                                                          .key = c->st.key,
	                                                          .ca = c->st.ca,
	                                                          .alpns = server_alpns,
	                                                          .require_peer_cert = false },
	                              true, err);
	c->client_ctx = ferry_tls_ctx(
	    &(struct ferry_tls_config){ .cert = c->st.cert, .key = c->st.key, .ca = c->st.ca, .alpns = client_alpns },
	    false, err);
	if (!c->server_ctx || !c->client_ctx)
		return -EIO;
	if ((r = ferry_server_start(&c->srv, cfg->listen ? cfg->listen : c->st.listen, c->server_ctx, &limits, handle,
	                            c, err)) < 0)
		return r;
	if (pthread_create(&c->push_thread, NULL, push_loop, c) != 0)
		return ferry_err_set(err, -EAGAIN, "cannot start the allowlist pusher");
	c->running = true;
	if ((r = manager_start(c, err)) < 0 || (r = mtd_start(c, err)) < 0)
		return r;
	log_info("serving %s and %s on %s", FERRY_ALPN_API, FERRY_ALPN_ENROLL,
	         cfg->listen ? cfg->listen : c->st.listen);
	return 0;
}

static void controller_stop(void *arg)
{
	struct controller *c = arg;

	/* The manager and evacuations first: their migrations in flight need the server's clients and the registry. */
	manager_stop(c);
	mtd_stop(c);
	defense_stop(c);
	if (c->running) {
		/* Stop the pusher first: it checks the server's stopping flag between nodes. */
		ferry_server_stop(&c->srv);
		pthread_mutex_lock(&c->push_lock);
		c->push_stop = true;
		pthread_cond_signal(&c->push_wake);
		pthread_mutex_unlock(&c->push_lock);
		pthread_join(c->push_thread, NULL);
	}
	ferry_server_shutdown(&c->srv);
	SSL_CTX_free(c->server_ctx);
	SSL_CTX_free(c->client_ctx);
	controller_state_free(&c->st);
	manager_free(c);
}

int controller_run(int argc, char **argv)
{
	struct ferry_daemon_config cfg = { .prog = "ferry-controller", .wants_dry_run = true };
	static struct controller c;
	struct ferry_daemon_service svc = { .start = controller_start, .stop = controller_stop, .arg = &c };
	int r = ferry_daemon_parse_args(argc, argv, &cfg,
	                                "Ferry's controller: the cluster's CA, registry and migration manager.  Also: "
	                                "init, admin-cert, token create (see their --help).");

	if (r != 0)
		return r < 0 ? 0 : r;
	return ferry_daemon_run(&cfg, &svc);
}
