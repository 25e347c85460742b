/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_CONTROLLER_H
#define FERRY_CONTROLLER_H

#include <limits.h>
#include <pthread.h>

#include "ferry/channel.h"
#include "ferry/decision.h"
#include "ferry/defense.h"
#include "ferry/mtd.h"
#include "ferry/shamir.h"
#include "ferry/registry.h"
#include "ferry/server.h"
#include "ferry/spec.h"
#include "ferry/workload.h"
#include "manager.h"

/* Files in the controller's state directory. */
#define CTL_CA_KEY     "ca.key"
#define CTL_CA_CERT    "ca.crt"
#define CTL_TICKET_KEY "ticket.key"
#define CTL_TICKET_PUB "ticket.pub"
#define CTL_KEY        "controller.key"
#define CTL_CERT       "controller.crt"
#define CTL_REGISTRY   "registry.db"
#define CTL_LISTEN     "listen"
#define CTL_AUDIT_HEAD "audit.head"
#define CTL_STORE      "store" /* "store = postgresql://..." when the registry is not registry.db */

#define CTL_CERT_DAYS     365
#define CTL_CA_DAYS       3650
#define TOKEN_TTL_DEFAULT 600
#define TOKEN_TTL_MAX     (7 * 24 * 3600)

struct controller_state {
	X509 *ca, *cert;
	EVP_PKEY *ca_key, *key, *ticket_key;
	uint8_t ca_id[FERRY_ID_LEN], id[FERRY_ID_LEN];
	char listen[32];
	struct ferry_registry reg;
	char audit_head[PATH_MAX]; /* the audit log's last entry, beside the registry (ferry/audit.h) */
};

#define MAX_NODES FERRY_ALLOWLIST_MAX

struct pushed {
	char name[FERRY_NODE_NAME_MAX + 1];
	uint8_t id[FERRY_ID_LEN];
	uint64_t version;
};

/* The IDS trigger (ids.c): the rules, the tracker, and the evacuations under way. */
struct defense {
	struct ferry_defense_config cfg;
	struct ferry_ids_tracker *tracker;
	pthread_mutex_t lock;           /* guards tracker, threads, stop */
	unsigned threads;               /* evacuation threads running (detached; stop waits for 0) */
	uint8_t snapshot_recipient[32]; /* the operator's key, when ids_snapshot_dir is set */
	pthread_cond_t idle;
	bool stop;
};

/* Moving-target defense (mtd.c): the current epoch, as the controller made it (the secret is not kept). */
struct mtd_epoch {
	uint64_t epoch;
	uint8_t mode, k;
	unsigned per_host; /* shares each host holds */
	unsigned n_hosts;
	char hosts[MAX_NODES][FERRY_NODE_NAME_MAX + 1];
	struct ferry_mtd_table tables[MAX_NODES]; /* hosts[i]'s table, in the clear: to check a draw's answer */
};

struct mtd {
	pthread_mutex_t lock; /* guards cur, stop; held across an epoch's distribution and a draw */
	pthread_cond_t wake;
	struct mtd_epoch cur;
	pthread_t rotator;
	bool ready, rotating, stop;
};

struct mtd_result {
	char dest[FERRY_NODE_NAME_MAX + 1];
	uint64_t epoch, draw_ms, share_ms; /* the whole choice; the source's share collection */
	char asked[FERRY_MTD_K_MAX][FERRY_NODE_NAME_MAX + 1];
	unsigned n_asked;
	unsigned decoys;                /* cover streams sent */
	uint64_t decoy_bytes, decoy_ms; /* their bytes in all; the longest one's time */
	char decoy_hosts[8][FERRY_NODE_NAME_MAX + 1];
};

struct controller {
	struct controller_state st;
	SSL_CTX *server_ctx, *client_ctx;
	struct ferry_server srv;
	pthread_t push_thread;
	bool running;
	pthread_mutex_t push_lock;
	pthread_cond_t push_wake;
	bool push_stop;
	struct pushed pushed[MAX_NODES];
	unsigned n_pushed;
	char layer_dir[512], incoming[512], received[512]; /* image layers and their staging */
	struct ferry_fabric fabric;                        /* fabric_subnet, fabric_pool: address management */
	pthread_mutex_t ipam_lock;
	bool no_net_hold;    /* FERRY_FAULT=no-net-hold: no early claim (bench/continuity's baseline) */
	bool allow_postcopy; /* allow_postcopy = yes in --config */
	struct manager mgr;  /* measurement and decision loop (manager.h) */
	struct defense defense;
	struct mtd mtd;
};

/* ---- audit trail (audit.c) ---- */

/* Append the outcome of one admin request to the audit log, if its operation is one that acts. */
void audit_request(struct controller *c, const struct ferry_conn *conn, unsigned op, const struct ferry_tlv_list *l,
                   int result, const char *message);
/* FERRY_OP_AUDIT (the newest entries) and FERRY_OP_AUDIT_VERIFY. */
int api_audit(struct controller *c, unsigned op, const struct ferry_tlv_list *l, struct ferry_buf *out,
              struct ferry_err *err);

/* ---- workloads (workload.c, migrate.c) ---- */

/* Answer one admin request about images, containers or migrations; fills out (STATUS first). */
int api_workload(struct controller *c, struct ferry_conn *conn, unsigned op, const struct ferry_tlv_list *l,
                 struct ferry_buf *out, struct ferry_err *err);
int workload_init(struct controller *c, const char *state_dir, struct ferry_err *err);
/* Send one request on ferry-ctl to a node and read the answer (fields into l, views into resp). */
int node_call(struct controller *c, const char *node, const struct ferry_buf *req, struct ferry_buf *resp,
              struct ferry_tlv_list *l, int timeout_ms, struct ferry_err *err);
int node_lookup(struct controller *c, const char *name, struct ferry_registry_node *ret, struct ferry_err *err);
/* A ferry-ctl connection to node (checked to be that node's key), frames waiting at most timeout_ms. */
int node_open(struct controller *c, const char *node, int timeout_ms, struct ferry_conn **conn, struct ferry_err *err);
/* A snapshot of container, encrypted to recipient, into a new file at path (snapshot.c). */
int snapshot_to_file(struct controller *c, const char *container, const uint8_t recipient[32], const char *path,
                     uint64_t *size, uint64_t *frozen, struct ferry_err *err);
/* FERRY_OP_SNAPSHOT_RESTORE (snapshot.c): "go on", the opened contents, then out is the final answer. */
int api_snapshot_restore(struct controller *c, struct ferry_conn *conn, const struct ferry_tlv_list *l,
                         struct ferry_buf *out, struct ferry_err *err);
/* FERRY_OP_SNAPSHOT (snapshot.c): answers with the metadata, streams the file, then out is the final answer. */
int api_snapshot(struct controller *c, struct ferry_conn *conn, const struct ferry_tlv_list *l, struct ferry_buf *out,
                 struct ferry_err *err);
/*
 * Admission and PREPARE on a node: refuse (-ENOSPC, naming the numbers) when
 * it lacks the spec's memory, then push the layers it does not hold.
 */
int node_prepare(struct controller *c, const char *node, const struct ferry_spec *spec, struct ferry_err *err);

struct migrate_request {
	char container[FERRY_CONTAINER_NAME_MAX + 1];
	char dest[FERRY_NODE_NAME_MAX + 1];
	uint8_t mode;
	/* pre-copy; 0 = ferryd's default (300 ms, 8 rounds), bandwidth 0 = unlimited */
	uint64_t max_downtime_ms, bandwidth, max_rounds;
	bool auto_converge;
	/* Stop-copy: called when the source has dumped (bytes: the checkpoint's size), just before its stream. */
	void (*on_dumped)(void *arg, uint64_t bytes);
	void *hook_arg;
};
/*
 * Run one migration to its end; the record holds the metrics and the result.
 * With progress, phases and bytes are sent there as intermediate RESPONSEs.
 */
int migrate_one(struct controller *c, const struct migrate_request *rq, struct ferry_migration_rec *rec,
                struct ferry_conn *progress, struct ferry_err *err);
#define EVACUATE_MAX 64
#define PARALLEL_MAX 8

struct evacuation {
	char victim[FERRY_NODE_NAME_MAX + 1];
	struct migrate_request rq[EVACUATE_MAX];
	struct ferry_migration_rec res[EVACUATE_MAX];
	int n, failed;
};
/*
 * Move every running container off victim, parallel at a time, to the
 * targets (n_targets 0: every other active node out of quarantine), each
 * drawn by CSPRNG (draw_random) or the least loaded.  < 0 only when nothing
 * could start; each migration's outcome is in e->res.
 */
int evacuate_node(struct controller *c, const char *victim, char (*targets)[FERRY_NODE_NAME_MAX + 1], int n_targets,
                  unsigned parallel, uint8_t mode, bool draw_random, struct evacuation *e, struct ferry_err *err);
/* -EPERM naming the quarantine when node is in it (nothing is placed there until ferry node release). */
int refuse_quarantined(struct controller *c, const char *node, struct ferry_err *err);

/* ---- the IDS trigger (ids.c) ---- */

int defense_init(struct controller *c, const struct ferry_defense_config *cfg, struct ferry_err *err);
/* Wait for the evacuations under way, then free. */
void defense_stop(struct controller *c);
/*
 * FERRY_OP_ALERT from an admin (reporter "admin:CN") or from a node about
 * its own host (reporter the node's name), FERRY_OP_ALERTS,
 * FERRY_OP_NODE_RELEASE, FERRY_OP_QUARANTINE.
 */
int api_defense(struct controller *c, unsigned op, const char *reporter, bool from_node, const struct ferry_tlv_list *l,
                struct ferry_buf *out, struct ferry_err *err);

/* ---- moving-target defense (mtd.c) ---- */

/* Where a container on source goes by mode (random: the controller's draw; shamir, fountain: the source's). */
int mtd_choose(struct controller *c, const char *source, enum ferry_security_mode mode, struct mtd_result *res,
               struct ferry_err *err);
/* Choose and migrate, recorded as a decision (and audited as actor, unless NULL). */
int mtd_move(struct controller *c, const char *container, enum ferry_security_mode mode, unsigned decoys,
             const char *why, const char *actor, struct mtd_result *res, struct ferry_migration_rec *rec,
             struct ferry_err *err);
int mtd_start(struct controller *c, struct ferry_err *err);
void mtd_stop(struct controller *c);
/* FERRY_OP_MTD_MOVE, FERRY_OP_MTD_STATUS. */
int api_mtd(struct controller *c, unsigned op, const struct ferry_tlv_list *l, struct ferry_buf *out,
            struct ferry_err *err);

int api_migration(struct controller *c, struct ferry_conn *conn, unsigned op, const struct ferry_tlv_list *l,
                  struct ferry_buf *out, struct ferry_err *err);
#define CT_LIST_MAX 256
/* What one node said about one container. */
struct seen {
	char node[FERRY_NODE_NAME_MAX + 1];
	char name[FERRY_CONTAINER_NAME_MAX + 1];
	char state[32];
	uint64_t pid, generation;
};

/*
 * CT_LIST of every active node: the containers seen (at most max), and the
 * nodes that did not answer (into down, MAX_NODES entries).
 */
int survey(struct controller *c, struct seen *out, unsigned max, char (*down)[FERRY_NODE_NAME_MAX + 1],
           unsigned *n_down);
/* One op on a node about container name (or NULL), with extra TLV fields (or NULL); answer discarded. */
int ct_request(struct controller *c, const char *node, unsigned op, const char *name, const struct ferry_buf *extra,
               int timeout_ms, struct ferry_err *err);
int add_migration_record(struct ferry_buf *out, uint16_t tag, const struct ferry_migration_rec *m);

int controller_state_load(const char *dir, struct controller_state *st, struct ferry_err *err);
void controller_state_free(struct controller_state *st);
/* Make a token for node; text into out. */
int controller_token_create(struct controller_state *st, const char *node, uint64_t ttl, char *out, size_t len,
                            struct ferry_err *err);

int cmd_init(int argc, char **argv);
int cmd_admin_cert(int argc, char **argv);
int cmd_token(int argc, char **argv);
int controller_run(int argc, char **argv);

#endif
