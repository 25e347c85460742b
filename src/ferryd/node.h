/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRYD_NODE_H
#define FERRYD_NODE_H

#include <pthread.h>

#include "ferry/alert.h"
#include "ferry/mtd.h"
#include "ferry/shamir.h"
#include "ferry/channel.h"
#include "ferry/daemon_main.h"
#include "ferry/server.h"
#include "ferry/bundle.h"
#include "ferry/trust.h"
#include "containers.h"

/* Files in a node's state directory (docs/ARCHITECTURE.md, Node state). */
#define NODE_KEY        "node.key"
#define NODE_CERT       "node.crt"
#define NODE_CA         "ca.crt"
#define NODE_TICKET_PUB "ticket.pub"
#define NODE_CONTROLLER "controller"
#define NODE_ALLOWLIST  "allowlist"

/* Post-authentication caps on concurrent incoming migrations. */
#define NODE_MAX_MIGRATIONS          4
#define NODE_MAX_MIGRATIONS_PER_PEER 2

struct node_identity {
	X509 *cert, *ca;
	EVP_PKEY *key, *ticket_pub;
	uint8_t controller_id[FERRY_ID_LEN];
	char controller_addr[32];
	char name[FERRY_NODE_NAME_MAX + 1];
};

/* Load what `ferryd join` wrote; a clear error when the node never joined. */
int node_identity_load(const char *state_dir, struct node_identity *id, struct ferry_err *err);
void node_identity_free(struct node_identity *id);
/* Write the controller file (pure data: id, address, name). */
int node_controller_write(const char *state_dir, const uint8_t id[FERRY_ID_LEN], const char *addr, const char *name,
                          struct ferry_err *err);

struct peer_count {
	uint8_t id[FERRY_ID_LEN];
	unsigned n;
};

#define ALERT_SOURCES_MAX 4
#define ALERT_QUEUE_MAX   256

struct alert_source {
	enum ferry_alert_format format;
	char path[PATH_MAX]; /* as configured: %n is the node's name */
	struct ferry_alert_follower follower;
	bool open;
};

/* The IDS files this host's daemon follows, and the alerts waiting for the controller (alerts.c). */
struct alert_watch {
	struct alert_source sources[ALERT_SOURCES_MAX];
	unsigned n;
	pthread_t thread;
	pthread_mutex_t lock; /* guards stop */
	bool running, stop;
	SSL_CTX *ctx; /* client, ALPN ferry-api, this node's certificate */
	struct ferry_conn *conn;
	struct ferry_alert *queue;
	unsigned queued;
	uint64_t reported, dropped;
	bool failing;
	long long retry_at;
};

#define MTD_HELD_MAX   FERRY_MTD_K_MAX /* shares one node holds (fountain: up to k) */
#define MTD_PEERS_MAX  64
#define MTD_SEEN_MAX   4096 /* share request nonces remembered per epoch */
#define MTD_DRAWS_MAX  64
#define MTD_SEALED_MAX 4096

struct mtd_peer {
	char name[FERRY_NODE_NAME_MAX + 1];
	char address[32];
	uint32_t latency_us; /* from the controller's measurement or topology; 0 unknown */
};

/* What a draw needs of an epoch: no share in it, so a draw can work on a copy. */
struct mtd_view {
	uint64_t epoch;
	uint8_t mode, k;
	uint8_t sealed[MTD_SEALED_MAX]; /* this node's lookup table */
	size_t sealed_len;
	struct mtd_peer peers[MTD_PEERS_MAX];
	unsigned n_peers;
};

/* This node's moving-target defense epoch (mtd.c); in memory only. */
struct node_mtd {
	pthread_mutex_t lock;
	struct mtd_view cur;
	struct ferry_share shares[MTD_HELD_MAX];
	unsigned n_shares;
	uint8_t seen[MTD_SEEN_MAX][FERRY_MTD_NONCE_LEN];
	unsigned n_seen;
	struct {
		uint8_t id[FERRY_MTD_DRAW_ID_LEN];
		unsigned given;
		uint64_t at;
	} draws[MTD_DRAWS_MAX];
	SSL_CTX *ctx; /* client, ALPN ferry-mtd */
};

struct node;

/* MTD_EPOCH and MTD_DRAW from the controller (fills out, STATUS first); MTD_SHARE from peers on conn. */
int mtd_epoch_set(struct node *node, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err);
int mtd_draw(struct node *node, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err);
/* MTD_DECOY from the controller: a cover stream of SIZE bytes to PEER over ferry-mtd. */
int mtd_decoy(struct node *node, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err);
void mtd_serve(struct node *node, struct ferry_conn *conn);
int mtd_init(struct node *node, struct ferry_err *err);
void mtd_free(struct node *node);

/* alert_source = FORMAT:PATH (a configuration line). */
int alerts_source_add(struct alert_watch *w, const char *value, struct ferry_err *err);
/* Start following (nothing when no source is configured). */
int alerts_start(struct node *node, struct ferry_err *err);
void alerts_stop(struct node *node);

struct node {
	struct node_identity id;
	struct ferry_allowlist allow;
	struct ferry_replay_guard replay;
	struct ferry_server srv;
	SSL_CTX *ctx, *client_ctx; /* server; client for outgoing migrations */
	pthread_mutex_t lock;
	unsigned migrations;
	struct ferry_server_limits limits;
	struct peer_count peers[FERRY_MAX_STREAMS];
	char incoming[PATH_MAX], received[PATH_MAX], outgoing[PATH_MAX];
	struct ct_store cts;
	char fault[32];           /* FERRY_FAULT: failure injection for tests, logged at start */
	char criu_kdat[PATH_MAX]; /* CRIU's kernel probe cache this daemon made, or "" */
	uint32_t address;         /* --address, host byte order; 0 when not given */
	struct alert_watch alerts;
	struct node_mtd mtd;
};

/* Whether the FERRY_FAULT named f is in force. */
bool node_fault(const struct node *node, const char *f);

/* Commands about containers and layers (ferry-ctl), answered on conn. */
int ctl_containers(struct node *node, struct ferry_conn *conn, unsigned op, const struct ferry_tlv_list *l,
                   struct ferry_err *err);
/* NODE_STATS: load, memory, containers, traffic counters and probes of l's targets into out (STATUS first). */
int node_stats(struct node *node, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err);
/* Into out: the spec, the upper directory's archive and the log tail of a dumped container. */
int mig_pack_rest(struct node *node, const struct ferry_spec *spec, const char *out, struct ferry_err *err);
/* CT_SNAPSHOT: a forensic snapshot of a running container, answered on conn (a response, then the file). */
int ct_snapshot(struct node *node, struct ferry_conn *conn, const struct ferry_tlv_list *l, struct ferry_err *err);
/* CT_RESTORE: a snapshot's contents (a bundle after the request) restored as an isolated container. */
int ct_restore_snapshot(struct node *node, struct ferry_conn *conn, const struct ferry_tlv_list *l,
                        struct ferry_err *err);
/* The source side of a migration: the whole MIG_OUT conversation with the controller. */
int mig_source(struct node *node, struct ferry_conn *ctl, const struct ferry_tlv_list *l, struct ferry_err *err);
struct precopy_store;
/*
 * After a verified bundle that carries a container: restore it and answer
 * the source.  store: the pages of a pre-copy session before it (or closed).
 */
int mig_restore(struct node *node, struct ferry_conn *conn, const struct ferry_bundle_result *res,
                struct precopy_store *store, struct ferry_err *err);
/* A migration ticket from the peer on conn: signature, claims, admission, replay (ferry_bundle_admit_fn). */
int node_admit_ticket(struct ferry_conn *conn, const uint8_t *raw, size_t len, struct ferry_ticket *ret, void *arg,
                      struct ferry_err *err);
/* What a restart finds half done: migrations cut by a crash. */
void node_recover(struct node *node);

int cmd_join(int argc, char **argv);
int cmd_send(int argc, char **argv);
int node_run(int argc, char **argv);
int cmd_log_pump(int argc, char **argv);
int cmd_guard(int argc, char **argv);
int cmd_net_hold(int argc, char **argv);

#endif
