/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Moving-target defense (docs/ARCHITECTURE.md, "Moving-target defense"),
 * the policy-based thesis' §6.2 made real:
 *   epoch   a fresh master secret, split into Shamir shares (one per host;
 *           fountain: up to k per host), and for every host its own lookup
 *           table (a random order of the other hosts) sealed under the
 *           secret, the epoch and the host; pushed to each node (MTD_EPOCH),
 *           the secret forgotten;
 *   draw    a random number R and a signed draw token to the source host
 *           (MTD_DRAW): it collects k shares from its peers over ferry-mtd,
 *           opens its table and says where R points; the controller checks
 *           that against the table it made and only then signs the ticket;
 *   random  no shares: the controller draws by CSPRNG (the baseline);
 *   rotation  every mtd_interval_s, give or take mtd_jitter_percent, a new
 *           epoch and the mtd_containers move.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define LOG_PREFIX "mtd"
#include "controller.h"
#include "ferry/audit.h"
#include "ferry/clock.h"
#include "ferry/identity.h"
#include "ferry/json.h"
#include "ferry/log.h"
#include "ferry/mtd.h"
#include "ferry/shamir.h"

#define MTD_PUSH_MS 10000
#define MTD_DRAW_MS 15000

static uint8_t mtd_mode_of(enum ferry_security_mode m)
{
	return m == FERRY_SECURITY_FOUNTAIN ? FERRY_MTD_FOUNTAIN : FERRY_MTD_SHAMIR;
}

/* The hosts that may take part: active and out of quarantine, but for those in skip. */
static int eligible_hosts(struct controller *c, char (*out)[FERRY_NODE_NAME_MAX + 1], struct ferry_registry_node *addr,
                          char (*skip)[FERRY_NODE_NAME_MAX + 1], unsigned n_skip)
{
	struct ferry_registry_node *ns = calloc(MAX_NODES, sizeof(*ns));
	uint64_t version;
	int n, k = 0;

	if (!ns)
		return -ENOMEM;
	n = ferry_registry_nodes(&c->st.reg, ns, MAX_NODES, &version, NULL);
	for (int i = 0; i < n; i++) {
		bool skipped = ferry_store_is_quarantined(&c->st.reg, ns[i].name, NULL);

		for (unsigned j = 0; j < n_skip && !skipped; j++)
			skipped = strcmp(skip[j], ns[i].name) == 0;
		if (skipped)
			continue;
		snprintf(out[k], sizeof(out[0]), "%s", ns[i].name);
		if (addr)
			addr[k] = ns[i];
		k++;
	}
	free(ns);
	return n < 0 ? n : k;
}

/* Shares host i holds: shamir one (x = i + 1), fountain m of them. */
static void shares_of(const struct mtd_epoch *e, const struct ferry_share *all, unsigned i,
                      const struct ferry_share **first, unsigned *count)
{
	*first = &all[i * e->per_host];
	*count = e->per_host;
}

static int push_epoch(struct controller *c, const struct mtd_epoch *e, unsigned i, const struct ferry_share *all,
                      const struct ferry_registry_node *addr, const uint8_t *secret, struct ferry_err *err)
{
	struct ferry_buf req = FERRY_BUF_INIT(8192), resp = FERRY_BUF_INIT(256), sealed = FERRY_BUF_INIT(4096);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	const struct ferry_share *mine;
	uint32_t lat[MAX_NODES];
	char(*others)[FERRY_NODE_NAME_MAX + 1] = calloc(MAX_NODES, sizeof(*others));
	unsigned count, n_others = 0, idx[MAX_NODES];
	int r;

	if (!l || !others) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned j = 0; j < e->n_hosts; j++)
		if (j != i) {
			idx[n_others] = j;
			snprintf(others[n_others++], sizeof(others[0]), "%s", e->hosts[j]);
		}
	manager_latencies(c, e->hosts[i], (const char(*)[FERRY_NODE_NAME_MAX + 1]) others, n_others, lat);
	shares_of(e, all, i, &mine, &count);
	if ((r = ferry_mtd_table_seal(secret, &e->tables[i], &sealed, err)) < 0)
		goto out;
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_MTD_EPOCH);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_EPOCH, e->epoch);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_MODE, e->mode);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_COUNT, e->k);
	for (unsigned s = 0; r == 0 && s < count; s++) {
		uint8_t v[1 + FERRY_MTD_SECRET_LEN];

		v[0] = mine[s].x;
		memcpy(v + 1, mine[s].y, FERRY_MTD_SECRET_LEN);
		r = ferry_tlv_add(&req, FERRY_TAG_SHARE, v, sizeof(v));
		OPENSSL_cleanse(v, sizeof(v));
	}
	r = r ? r : ferry_tlv_add(&req, FERRY_TAG_DATA, sealed.data, sealed.len);
	for (unsigned j = 0; r == 0 && j < n_others; j++) {
		struct ferry_buf rec = FERRY_BUF_INIT(128);

		r = ferry_tlv_add_str(&rec, FERRY_TAG_NODE, others[j]);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_ADDRESS, addr[idx[j]].address);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_LATENCY_US, lat[j]);
		r = r ? r : ferry_tlv_add(&req, FERRY_TAG_RECORD, rec.data, rec.len);
		ferry_buf_free(&rec);
	}
	if (r < 0)
		r = ferry_err_set(err, r, "the epoch does not fit a request");
	else
		r = node_call(c, e->hosts[i], &req, &resp, l, MTD_PUSH_MS, err);
out:
	/* The request held shares: wiped before it is freed. */
	if (req.data)
		OPENSSL_cleanse(req.data, req.len);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	ferry_buf_free(&sealed);
	free(l);
	free(others);
	return r;
}

/* Make and distribute a new epoch of mode (under mtd.lock); hosts that cannot take it are left out. */
static int new_epoch(struct controller *c, uint8_t mode, struct ferry_err *err)
{
	struct mtd *m = &c->mtd;
	struct mtd_epoch *e = calloc(1, sizeof(*e));
	struct ferry_registry_node *addr = calloc(MAX_NODES, sizeof(*addr));
	char(*failed)[FERRY_NODE_NAME_MAX + 1] = calloc(MAX_NODES, sizeof(*failed));
	struct ferry_share *all = calloc(FERRY_MTD_SHARES_MAX, sizeof(*all));
	uint8_t secret[FERRY_MTD_SECRET_LEN];
	unsigned n_failed = 0, k = c->defense.cfg.key_number;
	int n, r = 0;

	if (!e || !addr || !failed || !all) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Two rounds at most: a host that cannot take the epoch is left out of the second. */
	for (int round = 0; round < 2; round++) {
		unsigned before = n_failed;

		memset(e, 0, sizeof(*e));
		if ((n = eligible_hosts(c, e->hosts, addr, failed, n_failed)) < 0) {
			r = ferry_err_set(err, n, "cannot list the hosts");
			goto out;
		}
		e->n_hosts = (unsigned)n;
		e->mode = mode;
		e->k = (uint8_t)k;
		e->per_host = mode == FERRY_MTD_SHAMIR ? 1 : k;
		/* The source asks its peers: k of them must hold k distinct shares. */
		if (e->n_hosts < 2 || (mode == FERRY_MTD_SHAMIR && e->n_hosts - 1 < k) ||
		    e->n_hosts * e->per_host > FERRY_MTD_SHARES_MAX) {
			r = ferry_err_set(
			    err, -ENOSPC, "%s with key_number %u needs %s; there are %u hosts out of quarantine",
			    ferry_mtd_mode_name(mode), k,
			    mode == FERRY_MTD_SHAMIR ? "k + 1 hosts at least" : "2 to 255 / k hosts", e->n_hosts);
			goto out;
		}
		e->epoch = (uint64_t)ferry_wall_ms();
		if (e->epoch <= m->cur.epoch)
			e->epoch = m->cur.epoch + 1;
		if ((r = ferry_mtd_secret(secret, err)) < 0 ||
		    (r = ferry_shamir_split(secret, k, e->n_hosts * e->per_host, all, err)) < 0)
			goto out;
		/* Every host's table: the others in an order of its own, so that one table says nothing of another. */
		for (unsigned i = 0; i < e->n_hosts; i++) {
			struct ferry_mtd_table *t = &e->tables[i];
			unsigned pick[MAX_NODES], others[MAX_NODES], n_others = 0;

			t->epoch = e->epoch;
			memcpy(t->host, e->hosts[i], sizeof(t->host));
			for (unsigned j = 0; j < e->n_hosts; j++)
				if (j != i)
					others[n_others++] = j;
			if ((r = ferry_mtd_pick_disjoint(n_others, n_others, pick, err)) < 0)
				goto out;
			for (unsigned j = 0; j < n_others; j++)
				memcpy(t->entries[j], e->hosts[others[pick[j]]], sizeof(t->entries[j]));
			t->n = n_others;
		}
		for (unsigned i = 0; i < e->n_hosts; i++) {
			struct ferry_err e2 = { 0 };

			if (push_epoch(c, e, i, all, addr, secret, &e2) < 0) {
				log_warn("epoch %llu: %s cannot take it (%s); leaving it out",
				         (unsigned long long)e->epoch, e->hosts[i], e2.msg);
				snprintf(failed[n_failed++], sizeof(failed[0]), "%s", e->hosts[i]);
			}
		}
		if (n_failed == before)
			break;
		if (round == 1) {
			r = ferry_err_set(err, -EAGAIN, "epoch: hosts kept failing to take it");
			goto out;
		}
	}
	m->cur = *e;
	log_info("epoch %llu: %s, k = %u, %u hosts, %u shares each", (unsigned long long)e->epoch,
	         ferry_mtd_mode_name(mode), k, e->n_hosts, e->per_host);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (all)
		OPENSSL_cleanse(all, FERRY_MTD_SHARES_MAX * sizeof(*all));
	free(all);
	free(e);
	free(addr);
	free(failed);
	return r;
}

/* Whether the current epoch is of mode and still has exactly the eligible hosts (under mtd.lock). */
static bool epoch_current(struct controller *c, uint8_t mode)
{
	struct mtd *m = &c->mtd;
	char(*now)[FERRY_NODE_NAME_MAX + 1] = calloc(MAX_NODES, sizeof(*now));
	int n = now ? eligible_hosts(c, now, NULL, NULL, 0) : -1;
	bool same = n >= 0 && m->cur.epoch && m->cur.mode == mode && m->cur.k == c->defense.cfg.key_number &&
	            (unsigned)n == m->cur.n_hosts;

	for (int i = 0; same && i < n; i++) {
		bool found = false;

		for (unsigned j = 0; j < m->cur.n_hosts && !found; j++)
			found = strcmp(now[i], m->cur.hosts[j]) == 0;
		same = found;
	}
	free(now);
	return same;
}

static int host_index(const struct mtd_epoch *e, const char *name)
{
	for (unsigned i = 0; i < e->n_hosts; i++)
		if (strcmp(e->hosts[i], name) == 0)
			return (int)i;
	return -1;
}

/* Ask source to draw in the current epoch (under mtd.lock): its answer, checked against its table. */
static int draw_on(struct controller *c, const char *source, struct mtd_result *res, struct ferry_err *err)
{
	struct mtd *m = &c->mtd;
	struct ferry_buf req = FERRY_BUF_INIT(1024), resp = FERRY_BUF_INIT(1024), tok = FERRY_BUF_INIT(256);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_mtd_draw d = { 0 };
	uint8_t rnd[FERRY_MTD_R_LEN];
	const struct ferry_mtd_table *t;
	int src = host_index(&m->cur, source), r;
	const char *expected;

	if (!l)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if (src < 0) {
		r = ferry_err_set(err, -ENOENT, "'%s' is not in epoch %llu", source, (unsigned long long)m->cur.epoch);
		goto out;
	}
	t = &m->cur.tables[src];
	d.epoch = m->cur.epoch;
	d.mode = m->cur.mode;
	d.k = m->cur.k;
	d.expires_at = (uint64_t)time(NULL) + FERRY_MTD_DRAW_TTL_S;
	snprintf(d.requester, sizeof(d.requester), "%s", source);
	if (ferry_random(d.id, sizeof(d.id)) < 0 || ferry_random(rnd, sizeof(rnd)) < 0) {
		r = ferry_err_set(err, -EIO, "no random numbers from the kernel");
		goto out;
	}
	if ((r = ferry_mtd_draw_sign(&d, c->st.ticket_key, err)) < 0 || (r = ferry_mtd_draw_encode(&d, &tok)) < 0)
		goto out;
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_MTD_DRAW);
	r = r ? r : ferry_tlv_add(&req, FERRY_TAG_SECRET, rnd, sizeof(rnd));
	r = r ? r : ferry_tlv_add(&req, FERRY_TAG_TICKET, tok.data, tok.len);
	if (r < 0 || (r = node_call(c, source, &req, &resp, l, MTD_DRAW_MS, err)) < 0 ||
	    (r = ferry_tlv_get_str(l, FERRY_TAG_DEST, res->dest, sizeof(res->dest), err)) < 0)
		goto out;
	ferry_tlv_get_u64(l, FERRY_TAG_TIME_MS, &res->share_ms, NULL);
	res->n_asked = 0;
	for (unsigned i = 0; i < l->n && res->n_asked < FERRY_MTD_K_MAX; i++)
		if (l->items[i].tag == FERRY_TAG_PEER)
			ferry_tlv_item_str(&l->items[i], res->asked[res->n_asked++], sizeof(res->asked[0]), NULL);
	/* The host knows the destination now; it is used only if it is what the table says. */
	expected = t->entries[ferry_mtd_index(rnd, d.epoch, t->n)];
	if (strcmp(res->dest, expected) != 0) {
		r = ferry_err_set(err, -EPROTO, "%s drew '%s' but its table says '%s': refused", source, res->dest,
		                  expected);
		goto out;
	}
	res->epoch = d.epoch;
out:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	ferry_buf_free(&tok);
	free(l);
	return r;
}

int mtd_choose(struct controller *c, const char *source, enum ferry_security_mode mode, struct mtd_result *res,
               struct ferry_err *err)
{
	struct mtd *m = &c->mtd;
	long long t0 = ferry_now_ms();
	int r;

	memset(res, 0, sizeof(*res));
	if (mode == FERRY_SECURITY_NONE || mode == FERRY_SECURITY_RANDOM) {
		char(*hosts)[FERRY_NODE_NAME_MAX + 1] = calloc(MAX_NODES, sizeof(*hosts));
		char skip[1][FERRY_NODE_NAME_MAX + 1];
		unsigned k;
		int n;

		snprintf(skip[0], sizeof(skip[0]), "%s", source);
		n = hosts ? eligible_hosts(c, hosts, NULL, skip, 1) : -ENOMEM;
		if (n <= 0 || ferry_defense_draw((unsigned)n, &k) < 0) {
			free(hosts);
			return ferry_err_set(err, n < 0 ? n : -ENOENT, "no host out of quarantine to move to");
		}
		snprintf(res->dest, sizeof(res->dest), "%s", hosts[k]);
		free(hosts);
		res->draw_ms = (uint64_t)(ferry_now_ms() - t0);
		return 0;
	}
	pthread_mutex_lock(&m->lock);
	r = epoch_current(c, mtd_mode_of(mode)) ? 0 : new_epoch(c, mtd_mode_of(mode), err);
	if (r == 0)
		r = draw_on(c, source, res, err);
	pthread_mutex_unlock(&m->lock);
	res->draw_ms = (uint64_t)(ferry_now_ms() - t0);
	return r;
}

/* ---- decoys ---- */

#define DECOY_MS         120000
#define DECOY_DEFAULT_SZ (1ULL << 20)

struct decoy_job {
	struct controller *c;
	char source[FERRY_NODE_NAME_MAX + 1];
	struct ferry_buf req;
	uint64_t sent, ms;
	int r;
	struct ferry_err err;
	pthread_t th;
	bool started;
};

static void *decoy_thread(void *arg)
{
	struct decoy_job *j = arg;
	struct ferry_buf resp = FERRY_BUF_INIT(256);
	struct ferry_tlv_list *l = malloc(sizeof(*l));

	j->r = l ? node_call(j->c, j->source, &j->req, &resp, l, DECOY_MS, &j->err)
	         : ferry_err_set(&j->err, -ENOMEM, "out of memory");
	if (j->r == 0) {
		ferry_tlv_get_u64(l, FERRY_TAG_SIZE, &j->sent, NULL);
		ferry_tlv_get_u64(l, FERRY_TAG_TIME_MS, &j->ms, NULL);
	}
	ferry_buf_free(&resp);
	free(l);
	return NULL;
}

/*
 * What the real stream will weigh, from the dumped size and the wire/image
 * ratio of the container's last migration that went through (compression
 * is much the same from one move to the next); the dumped size itself when
 * there was none.
 */
static uint64_t decoy_size(struct controller *c, const char *container, uint64_t dumped)
{
	struct ferry_migration_rec *ms = calloc(200, sizeof(*ms));
	int n = ms ? ferry_store_migrations(&c->st.reg, ms, 200, NULL) : 0;
	double ratio = 1.0;
	uint64_t size;

	for (int i = 0; i < n; i++)
		if (strcmp(ms[i].container, container) == 0 && strcmp(ms[i].result, "ok") == 0 && ms[i].bytes_image &&
		    ms[i].bytes_wire)
			ratio =
			    (double)ms[i].bytes_wire / (double)ms[i].bytes_image; /* oldest first: the last one wins */
	free(ms);
	size = (uint64_t)((double)(dumped ? dumped : DECOY_DEFAULT_SZ) * ratio);
	return size < FERRY_MTD_DECOY_MAX_BYTES ? size : FERRY_MTD_DECOY_MAX_BYTES;
}

/*
 * Start n cover streams from source to n other hosts (never dest), each
 * the size the real stream is expected to have, at the same time as it:
 * an observer of volume sees n + 1 candidate destinations.
 */
static unsigned start_decoys(struct controller *c, const char *container, const char *source, const char *dest,
                             unsigned n, uint64_t dumped, struct decoy_job *jobs, struct mtd_result *res)
{
	char(*hosts)[FERRY_NODE_NAME_MAX + 1] = calloc(MAX_NODES, sizeof(*hosts));
	struct ferry_registry_node *addr = calloc(MAX_NODES, sizeof(*addr));
	char skip[2][FERRY_NODE_NAME_MAX + 1];
	unsigned pick[MAX_NODES], started = 0;
	uint64_t size = decoy_size(c, container, dumped);
	int avail;

	snprintf(skip[0], sizeof(skip[0]), "%s", source);
	snprintf(skip[1], sizeof(skip[1]), "%s", dest);
	avail = hosts && addr ? eligible_hosts(c, hosts, addr, skip, 2) : -ENOMEM;
	if (avail <= 0)
		goto out;
	if (n > (unsigned)avail)
		n = (unsigned)avail;
	if (ferry_mtd_pick_disjoint((unsigned)avail, n, pick, NULL) < 0)
		goto out;
	for (unsigned i = 0; i < n; i++) {
		struct decoy_job *j = &jobs[i];
		struct ferry_mtd_draw d = { .mode = FERRY_MTD_DECOY, .k = 2 };
		struct ferry_buf tok = FERRY_BUF_INIT(256);
		int r;

		memset(j, 0, sizeof(*j));
		j->c = c;
		snprintf(j->source, sizeof(j->source), "%s", source);
		j->req = (struct ferry_buf)FERRY_BUF_INIT(1024);
		d.expires_at = (uint64_t)time(NULL) + FERRY_MTD_DRAW_TTL_S;
		snprintf(d.requester, sizeof(d.requester), "%s", source);
		r = ferry_random(d.id, sizeof(d.id)) < 0 ? -EIO : 0;
		r = r ? r : ferry_mtd_draw_sign(&d, c->st.ticket_key, NULL);
		r = r ? r : ferry_mtd_draw_encode(&d, &tok);
		r = r ? r : ferry_tlv_add_u16(&j->req, FERRY_TAG_OP, FERRY_OP_MTD_DECOY);
		r = r ? r : ferry_tlv_add_str(&j->req, FERRY_TAG_PEER, hosts[pick[i]]);
		r = r ? r : ferry_tlv_add_str(&j->req, FERRY_TAG_ADDRESS, addr[pick[i]].address);
		r = r ? r : ferry_tlv_add_u64(&j->req, FERRY_TAG_SIZE, size);
		r = r ? r : ferry_tlv_add(&j->req, FERRY_TAG_TICKET, tok.data, tok.len);
		ferry_buf_free(&tok);
		if (r < 0 || pthread_create(&j->th, NULL, decoy_thread, j) != 0) {
			ferry_buf_free(&j->req);
			continue;
		}
		j->started = true;
		snprintf(res->decoy_hosts[started], sizeof(res->decoy_hosts[0]), "%s", hosts[pick[i]]);
		started++;
	}
out:
	free(hosts);
	free(addr);
	return started;
}

/* Decoys wait for the source's dump: they start with the real stream, so that timing does not tell. */
struct decoy_plan {
	struct controller *c;
	const char *container, *source, *dest;
	unsigned n, started;
	struct decoy_job *jobs;
	struct mtd_result *res;
};

static void decoys_on_dumped(void *arg, uint64_t bytes)
{
	struct decoy_plan *p = arg;

	if (!p->started)
		p->started = start_decoys(p->c, p->container, p->source, p->dest, p->n, bytes, p->jobs, p->res);
}

static void join_decoys(struct decoy_job *jobs, unsigned n, struct mtd_result *res)
{
	for (unsigned i = 0; i < 8 && n; i++) {
		if (!jobs[i].started)
			continue;
		n--;
		pthread_join(jobs[i].th, NULL);
		if (jobs[i].r < 0)
			log_warn("a decoy stream from %s failed: %s", jobs[i].source, jobs[i].err.msg);
		else
			res->decoys++;
		res->decoy_bytes += jobs[i].sent;
		res->decoy_ms = jobs[i].ms > res->decoy_ms ? jobs[i].ms : res->decoy_ms;
		ferry_buf_free(&jobs[i].req);
	}
}

/* ---- moving ---- */

static void record(struct controller *c, const char *container, const char *source, enum ferry_security_mode mode,
                   const struct mtd_result *res, const struct ferry_migration_rec *rec, int r, const char *why,
                   const char *actor)
{
	struct ferry_decision_rec *d = calloc(1, sizeof(*d));
	struct ferry_buf b = FERRY_BUF_INIT(1024);
	struct ferry_json j;
	struct ferry_err err = { 0 };
	char detail[FERRY_AUDIT_DETAIL_MAX + 1];

	if (!d)
		return;
	d->at = (uint64_t)time(NULL);
	snprintf(d->policy, sizeof(d->policy), "mtd:%s", ferry_security_mode_name(mode));
	snprintf(d->container, sizeof(d->container), "%s", container);
	snprintf(d->source, sizeof(d->source), "%s", source);
	snprintf(d->dest, sizeof(d->dest), "%s", res->dest);
	snprintf(d->action, sizeof(d->action), "%s", r == 0 ? "migrated" : "failed");
	if (r == 0)
		snprintf(d->detail, sizeof(d->detail), "%s in %llu ms (draw %llu ms, shares %llu ms)", why,
		         (unsigned long long)rec->total_ms, (unsigned long long)res->draw_ms,
		         (unsigned long long)res->share_ms);
	else
		snprintf(d->detail, sizeof(d->detail), "%s failed: %s", why, rec->message[0] ? rec->message : "-");
	d->migration = rec->id;
	ferry_json_init(&j, &b, false);
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "trigger");
	ferry_json_string(&j, why);
	ferry_json_key(&j, "security_mode");
	ferry_json_string(&j, ferry_security_mode_name(mode));
	ferry_json_key(&j, "epoch");
	ferry_json_uint(&j, res->epoch);
	ferry_json_key(&j, "draw_ms");
	ferry_json_uint(&j, res->draw_ms);
	ferry_json_key(&j, "share_ms");
	ferry_json_uint(&j, res->share_ms);
	ferry_json_key(&j, "asked");
	ferry_json_array_begin(&j);
	for (unsigned i = 0; i < res->n_asked; i++)
		ferry_json_string(&j, res->asked[i]);
	ferry_json_array_end(&j);
	ferry_json_key(&j, "decoys");
	ferry_json_array_begin(&j);
	for (unsigned i = 0; i < res->decoys && i < 8; i++)
		ferry_json_string(&j, res->decoy_hosts[i]);
	ferry_json_array_end(&j);
	ferry_json_key(&j, "decoy_bytes");
	ferry_json_uint(&j, res->decoy_bytes);
	ferry_json_object_end(&j);
	if (ferry_json_finish(&j) == 0 && b.len < sizeof(d->inputs))
		snprintf(d->inputs, sizeof(d->inputs), "%.*s", (int)b.len, b.data);
	ferry_buf_free(&b);
	if (ferry_store_decision_add(&c->st.reg, d, &err) < 0)
		log_warn("cannot record the move of %s: %s", container, err.msg);
	if (actor) {
		snprintf(detail, sizeof(detail), "%s by %s: %s -> %s; %s", why, ferry_security_mode_name(mode), source,
		         res->dest, r == 0 ? "ok" : "failed");
		if (ferry_audit_append(&c->st.reg, c->st.audit_head, actor, "mtd-move", container, detail, &err) < 0)
			log_error("cannot append to the audit log: %s", err.msg);
	}
	free(d);
}

int mtd_move(struct controller *c, const char *container, enum ferry_security_mode mode, unsigned decoys,
             const char *why, const char *actor, struct mtd_result *res, struct ferry_migration_rec *rec,
             struct ferry_err *err)
{
	struct decoy_job jobs[8];
	struct decoy_plan plan = { 0 };
	struct ferry_container_rec *ct = malloc(sizeof(*ct));
	struct migrate_request rq = { .mode = FERRY_MODE_STOP_COPY };
	char source[FERRY_NODE_NAME_MAX + 1];
	int r;

	memset(rec, 0, sizeof(*rec));
	memset(res, 0, sizeof(*res));
	if (!ct)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	r = ferry_store_container_get(&c->st.reg, container, ct, err);
	if (r == 0 && strcmp(ct->state, "running") != 0)
		r = ferry_err_set(err, -ESRCH, "container '%s' is %s; only a running container moves", container,
		                  ct->state);
	if (r < 0) {
		free(ct);
		return r;
	}
	snprintf(source, sizeof(source), "%s", ct->node);
	free(ct);
	if ((r = mtd_choose(c, source, mode, res, err)) < 0)
		return r;
	snprintf(rq.container, sizeof(rq.container), "%s", container);
	snprintf(rq.dest, sizeof(rq.dest), "%s", res->dest);
	if (decoys) {
		plan = (struct decoy_plan){ .c = c,
			                    .container = container,
			                    .source = source,
			                    .dest = res->dest,
			                    .n = decoys > 8 ? 8 : decoys,
			                    .jobs = jobs,
			                    .res = res };
		rq.on_dumped = decoys_on_dumped;
		rq.hook_arg = &plan;
	}
	r = migrate_one(c, &rq, rec, NULL, err);
	join_decoys(jobs, plan.started, res);
	if (r < 0 && !rec->message[0])
		snprintf(rec->message, sizeof(rec->message), "%s", err->msg);
	record(c, container, source, mode, res, rec, r, why, actor);
	return r;
}

/* ---- rotation ---- */

static void *rotate_loop(void *arg)
{
	struct controller *c = arg;
	struct mtd *m = &c->mtd;
	const struct ferry_defense_config *cfg = &c->defense.cfg;
	enum ferry_security_mode mode =
	    cfg->security_mode == FERRY_SECURITY_NONE ? FERRY_SECURITY_RANDOM : cfg->security_mode;

	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		struct timespec until;
		unsigned spread = cfg->mtd_interval_s * 1000 * cfg->mtd_jitter_percent / 100, draw = 0;
		long long wait_ms;

		/* interval +- jitter, drawn each time: the schedule is not predictable from outside. */
		if (spread && ferry_defense_draw(2 * spread + 1, &draw) < 0)
			draw = spread;
		wait_ms = (long long)cfg->mtd_interval_s * 1000 - spread + draw;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_ms / 1000;
		until.tv_nsec += (wait_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!m->stop && pthread_cond_timedwait(&m->wake, &m->lock, &until) == 0)
			;
		if (m->stop)
			break;
		pthread_mutex_unlock(&m->lock);
		{
			struct ferry_err err = { 0 };

			/* A new epoch for every round: fresh secret, shares and tables. */
			if (mode == FERRY_SECURITY_SHAMIR || mode == FERRY_SECURITY_FOUNTAIN) {
				pthread_mutex_lock(&m->lock);
				if (new_epoch(c, mtd_mode_of(mode), &err) < 0)
					log_warn("rotation: no new epoch: %s", err.msg);
				pthread_mutex_unlock(&m->lock);
			}
			for (unsigned i = 0; i < cfg->n_mtd_containers; i++) {
				struct ferry_migration_rec rec;
				struct mtd_result res;

				err.msg[0] = '\0';
				if (mtd_move(c, cfg->mtd_containers[i], mode, cfg->mtd_decoys, "rotation", "controller",
				             &res, &rec, &err) < 0)
					log_warn("rotation: %s stays: %s", cfg->mtd_containers[i], err.msg);
				else
					log_info("rotation: %s -> %s in %llu ms", cfg->mtd_containers[i], res.dest,
					         (unsigned long long)rec.total_ms);
			}
		}
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int mtd_start(struct controller *c, struct ferry_err *err)
{
	struct mtd *m = &c->mtd;
	const struct ferry_defense_config *cfg = &c->defense.cfg;

	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	m->ready = true;
	if (cfg->mtd_interval_s == 0 || cfg->n_mtd_containers == 0)
		return 0;
	if (pthread_create(&m->rotator, NULL, rotate_loop, c) != 0)
		return ferry_err_set(err, -EAGAIN, "cannot start the rotation");
	m->rotating = true;
	log_info("rotation: %u containers every %u s +- %u%%, by %s", cfg->n_mtd_containers, cfg->mtd_interval_s,
	         cfg->mtd_jitter_percent, ferry_security_mode_name(cfg->security_mode));
	return 0;
}

void mtd_stop(struct controller *c)
{
	struct mtd *m = &c->mtd;

	if (!m->ready)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	if (m->rotating)
		pthread_join(m->rotator, NULL);
	m->rotating = false;
}

/* ---- the API ---- */

static int api_move(struct controller *c, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err)
{
	char container[FERRY_CONTAINER_NAME_MAX + 1], name[16] = "";
	enum ferry_security_mode mode = c->defense.cfg.security_mode;
	struct ferry_migration_rec *rec = malloc(sizeof(*rec));
	uint64_t decoys = c->defense.cfg.mtd_decoys;
	struct mtd_result res;
	int r;

	if (!rec)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, container, sizeof(container), err)) < 0)
		goto out;
	if (ferry_tlv_find(l, FERRY_TAG_POLICY)) {
		struct ferry_defense_config tmp;

		if ((r = ferry_tlv_get_str(l, FERRY_TAG_POLICY, name, sizeof(name), err)) < 0 ||
		    (r = ferry_defense_set(&tmp, "security_mode", name, err)) < 0)
			goto out;
		mode = tmp.security_mode;
	}
	if (mode == FERRY_SECURITY_NONE)
		mode = FERRY_SECURITY_RANDOM;
	if (ferry_tlv_find(l, FERRY_TAG_COUNT) &&
	    ((r = ferry_tlv_get_u64(l, FERRY_TAG_COUNT, &decoys, err)) < 0 || decoys > 8)) {
		r = r < 0 ? r
		          : ferry_err_set(err, -ERANGE, "decoys %llu is out of range; expected 0 to 8",
		                          (unsigned long long)decoys);
		goto out;
	}
	r = mtd_move(c, container, mode, (unsigned)decoys, "by request", NULL, &res, rec, err);
	if (r == 0) {
		r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
		r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_POLICY, ferry_security_mode_name(mode));
		r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_DEST, res.dest);
		r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_EPOCH, res.epoch);
		r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_TIME_MS, res.share_ms);
		r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_TOTAL_MS, res.draw_ms);
		for (unsigned i = 0; r == 0 && i < res.n_asked; i++)
			r = ferry_tlv_add_str(out, FERRY_TAG_PEER, res.asked[i]);
		r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_COUNT, res.decoys);
		r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_SIZE, res.decoy_bytes);
		r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_DURATION_MS, res.decoy_ms);
		for (unsigned i = 0; r == 0 && i < res.decoys && i < 8; i++)
			r = ferry_tlv_add_str(out, FERRY_TAG_DEST_DECOY, res.decoy_hosts[i]);
		r = r ? r : add_migration_record(out, FERRY_TAG_RECORD, rec);
	}
out:
	free(rec);
	return r;
}

static int api_status(struct controller *c, struct ferry_buf *out, struct ferry_err *err)
{
	struct mtd *m = &c->mtd;
	int r;

	(void)err;
	pthread_mutex_lock(&m->lock);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_POLICY, ferry_security_mode_name(c->defense.cfg.security_mode));
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_EPOCH, m->cur.epoch);
	r = r ? r
	      : ferry_tlv_add_str(out, FERRY_TAG_NOTE, m->cur.epoch ? ferry_mtd_mode_name(m->cur.mode) : "none yet");
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_COUNT, m->cur.epoch ? m->cur.k : c->defense.cfg.key_number);
	for (unsigned i = 0; r == 0 && i < m->cur.n_hosts; i++)
		r = ferry_tlv_add_str(out, FERRY_TAG_PEER, m->cur.hosts[i]);
	pthread_mutex_unlock(&m->lock);
	return r;
}

int api_mtd(struct controller *c, unsigned op, const struct ferry_tlv_list *l, struct ferry_buf *out,
            struct ferry_err *err)
{
	return op == FERRY_OP_MTD_MOVE ? api_move(c, l, out, err) : api_status(c, out, err);
}
