/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The IDS trigger (docs/ARCHITECTURE.md, "Moving-target defense and IDS
 * alerts"), after the OpenStack paper's controller: an intrusion alert
 * about a host makes the controller move every container off it and keep
 * new ones away.  Alerts come from the nodes (ferryd follows the IDS's
 * files and reports over TLS with its node certificate) or from an admin.
 * The rules (ferry/defense.h) say which alerts act and how many make an
 * evacuation; the tracker makes a flood of alerts one evacuation per host.
 * A node speaks for its own host only: an alert it reports implicates that
 * host or nothing, so that a compromised node cannot empty the others.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LOG_PREFIX "ids"
#include "controller.h"
#include "ferry/audit.h"
#include "ferry/clock.h"
#include "ferry/json.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "ferry/snapshot.h"

#define IDS_PARALLEL       4 /* migrations at once in an evacuation */
#define ALERTS_LIST_MAX    200
#define STORED_PER_SEC_MAX 50 /* alerts kept per reporter and second; the rest are counted, not stored */
#define REPORTERS_MAX      64

struct reporter_rate {
	char name[FERRY_NODE_NAME_MAX + 6];
	uint64_t second, stored, dropped;
};

static struct reporter_rate rates[REPORTERS_MAX]; /* under defense.lock */

int defense_init(struct controller *c, const struct ferry_defense_config *cfg, struct ferry_err *err)
{
	struct defense *d = &c->defense;

	d->cfg = *cfg;
	if (cfg->snapshot_dir[0]) {
		struct stat st;
		int r;

		if (!cfg->snapshot_recipient[0])
			return ferry_err_set(err, -EINVAL,
			                     "ids_snapshot_dir needs ids_snapshot_recipient, the operator's public key "
			                     "(ferry snapshot keygen makes one)");
		if (stat(cfg->snapshot_dir, &st) < 0 || !S_ISDIR(st.st_mode))
			return ferry_err_set(err, -ENOTDIR, "ids_snapshot_dir %s is not a directory",
			                     cfg->snapshot_dir);
		if ((r = ferry_snapshot_pubkey_load(cfg->snapshot_recipient, d->snapshot_recipient, err)) < 0)
			return ferry_err_wrap(err, "ids_snapshot_recipient");
	}
	if (!(d->tracker = calloc(1, sizeof(*d->tracker))))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	ferry_ids_tracker_init(d->tracker);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->idle, NULL);
	if (cfg->action == FERRY_IDS_EVACUATE)
		log_info(
		    "intrusion alerts of severity %u or worse, %u within %u s, evacuate a host (destinations %s%s)",
		    cfg->min_severity, cfg->alerts, cfg->window_s,
		    cfg->security_mode != FERRY_SECURITY_NONE ? "drawn at random" : "least loaded first",
		    cfg->quarantine ? ", then quarantine it" : "");
	return 0;
}

void defense_stop(struct controller *c)
{
	struct defense *d = &c->defense;

	if (!d->tracker)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	/* An evacuation's migrations have their own deadlines: it ends. */
	while (d->threads > 0)
		pthread_cond_wait(&d->idle, &d->lock);
	pthread_mutex_unlock(&d->lock);
	free(d->tracker);
	d->tracker = NULL;
}

/* The host addr belongs to: a node's own address, or a recorded container's fabric address; false if none. */
static bool host_of_address(struct controller *c, uint32_t addr, char *host, size_t len)
{
	struct ferry_registry_node *ns = calloc(MAX_NODES, sizeof(*ns));
	struct ferry_container_rec *cts = calloc(CT_LIST_MAX, sizeof(*cts));
	struct ferry_spec *spec = malloc(sizeof(*spec));
	uint64_t version;
	bool found = false;
	int n;

	host[0] = '\0';
	if (!ns || !cts || !spec)
		goto out;
	n = ferry_registry_nodes(&c->st.reg, ns, MAX_NODES, &version, NULL);
	for (int i = 0; i < n && !found; i++) {
		char ip[32];
		uint32_t a;

		snprintf(ip, sizeof(ip), "%s", ns[i].address);
		if (strchr(ip, ':'))
			*strchr(ip, ':') = '\0';
		if (ferry_parse_ipv4(ip, &a, NULL) == 0 && a == addr) {
			snprintf(host, len, "%s", ns[i].name);
			found = true;
		}
	}
	n = found ? 0 : ferry_store_containers(&c->st.reg, cts, CT_LIST_MAX, NULL);
	for (int i = 0; i < n && !found; i++)
		if (ferry_spec_parse(cts[i].spec, cts[i].spec_len, spec, NULL) == 0 && spec->net.addr == addr) {
			snprintf(host, len, "%s", cts[i].node);
			found = true;
		}
out:
	free(ns);
	free(cts);
	free(spec);
	return found;
}

/*
 * Which host the alert implicates, into a->host ("" for none), by the
 * rule: an admin may name it; else the destination address when it is
 * Ferry's; else (auto, reporter) the node that reported it.
 */
static void implicate(struct controller *c, bool from_node, const char *named, struct ferry_alert_rec *a)
{
	const struct ferry_defense_config *cfg = &c->defense.cfg;
	uint32_t dst;

	a->host[0] = '\0';
	if (named[0]) {
		snprintf(a->host, sizeof(a->host), "%s", named);
		return;
	}
	if (cfg->implicate != FERRY_IMPLICATE_REPORTER && a->dst[0] && ferry_parse_ipv4(a->dst, &dst, NULL) == 0)
		host_of_address(c, dst, a->host, sizeof(a->host));
	if (from_node) {
		if (a->host[0] && strcmp(a->host, a->reporter) != 0) {
			log_warn("node '%s' reported an alert about %s, which is on '%s': a node speaks for its own "
			         "host only, so it implicates nothing",
			         a->reporter, a->dst, a->host);
			a->host[0] = '\0';
			return;
		}
		if (!a->host[0] && cfg->implicate != FERRY_IMPLICATE_DESTINATION)
			snprintf(a->host, sizeof(a->host), "%s", a->reporter);
	}
}

/* Whether this reporter's alert may be stored (STORED_PER_SEC_MAX a second); under defense.lock. */
static bool rate_allows(const char *reporter)
{
	uint64_t now = (uint64_t)time(NULL);
	struct reporter_rate *slot = NULL;

	for (unsigned i = 0; i < REPORTERS_MAX && !slot; i++)
		if (strcmp(rates[i].name, reporter) == 0)
			slot = &rates[i];
	for (unsigned i = 0; i < REPORTERS_MAX && !slot; i++)
		if (!rates[i].name[0] || rates[i].second + 60 < now) {
			slot = &rates[i];
			memset(slot, 0, sizeof(*slot));
			snprintf(slot->name, sizeof(slot->name), "%s", reporter);
		}
	if (!slot)
		return true;
	if (slot->second != now) {
		if (slot->dropped)
			log_warn("%llu alerts from %s in one second were counted but not stored (at most %d a second)",
			         (unsigned long long)slot->dropped, reporter, STORED_PER_SEC_MAX);
		slot->second = now;
		slot->stored = slot->dropped = 0;
	}
	if (slot->stored >= STORED_PER_SEC_MAX) {
		slot->dropped++;
		return false;
	}
	slot->stored++;
	return true;
}

/* ---- evacuation ---- */

struct evac_job {
	struct controller *c;
	struct ferry_alert_rec alert;
};

static void record_moves(struct controller *c, const struct evac_job *job, const struct evacuation *e,
                         uint64_t started_ms, uint64_t ended_ms)
{
	struct ferry_decision_rec *d = calloc(1, sizeof(*d));
	const char *mode = ferry_security_mode_name(c->defense.cfg.security_mode);
	struct ferry_err err = { 0 };

	for (int i = 0; d && i < e->n; i++) {
		const struct ferry_migration_rec *m = &e->res[i];
		struct ferry_buf b = FERRY_BUF_INIT(1024);
		struct ferry_json j;
		bool ok = strcmp(m->result, "ok") == 0;

		memset(d, 0, sizeof(*d));
		d->at = started_ms / 1000;
		snprintf(d->policy, sizeof(d->policy), "ids:%s",
		         c->defense.cfg.security_mode != FERRY_SECURITY_NONE ? "random" : "least-loaded");
		snprintf(d->container, sizeof(d->container), "%s", e->rq[i].container);
		snprintf(d->source, sizeof(d->source), "%s", e->victim);
		snprintf(d->dest, sizeof(d->dest), "%s", e->rq[i].dest);
		snprintf(d->action, sizeof(d->action), "%s", ok ? "migrated" : "failed");
		if (ok)
			snprintf(d->detail, sizeof(d->detail),
			         "evacuated after alert %llu in %llu ms (downtime %llu ms)",
			         (unsigned long long)job->alert.id, (unsigned long long)m->total_ms,
			         (unsigned long long)m->downtime_ms);
		else
			snprintf(d->detail, sizeof(d->detail), "evacuation after alert %llu failed; it stays: %s",
			         (unsigned long long)job->alert.id, m->message);
		d->migration = m->id;
		ferry_json_init(&j, &b, false);
		ferry_json_object_begin(&j);
		ferry_json_key(&j, "trigger");
		ferry_json_string(&j, "intrusion alert");
		ferry_json_key(&j, "alert");
		ferry_json_uint(&j, job->alert.id);
		ferry_json_key(&j, "signature");
		ferry_json_string(&j, job->alert.signature);
		ferry_json_key(&j, "severity");
		ferry_json_uint(&j, job->alert.severity);
		ferry_json_key(&j, "reporter");
		ferry_json_string(&j, job->alert.reporter);
		ferry_json_key(&j, "security_mode");
		ferry_json_string(&j, mode);
		ferry_json_key(&j, "alert_at_ms");
		ferry_json_uint(&j, job->alert.at_ms);
		ferry_json_key(&j, "evacuation_started_ms");
		ferry_json_uint(&j, started_ms);
		ferry_json_key(&j, "evacuation_ended_ms");
		ferry_json_uint(&j, ended_ms);
		ferry_json_key(&j, "total_ms");
		ferry_json_uint(&j, m->total_ms);
		ferry_json_key(&j, "downtime_ms");
		ferry_json_uint(&j, m->downtime_ms);
		ferry_json_object_end(&j);
		if (ferry_json_finish(&j) == 0 && b.len < sizeof(d->inputs))
			snprintf(d->inputs, sizeof(d->inputs), "%.*s", (int)b.len, b.data);
		else
			snprintf(d->inputs, sizeof(d->inputs), "{}");
		ferry_buf_free(&b);
		if (ferry_store_decision_add(&c->st.reg, d, &err) < 0)
			log_warn("cannot record the evacuation of %s: %s", d->container, err.msg);
	}
	free(d);
}

/*
 * Forensic snapshots of the victim's running containers before they move:
 * what the intrusion left in memory is evidence.  A snapshot that fails is
 * said and audited; the evacuation goes on regardless.
 */
static void take_snapshots(struct controller *c, const struct evac_job *job)
{
	struct ferry_container_rec *cts = calloc(CT_LIST_MAX, sizeof(*cts));
	int n = cts ? ferry_store_containers(&c->st.reg, cts, CT_LIST_MAX, NULL) : 0;

	for (int i = 0; i < n; i++) {
		char path[512], detail[FERRY_AUDIT_DETAIL_MAX + 1];
		struct ferry_err err = { 0 };
		uint64_t size = 0, frozen = 0;
		long long t0 = ferry_now_ms();

		if (strcmp(cts[i].node, job->alert.host) != 0 || strcmp(cts[i].state, "running") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s-alert%llu-%llu.fsnp", c->defense.cfg.snapshot_dir, cts[i].name,
		         (unsigned long long)job->alert.id, (unsigned long long)(job->alert.at_ms / 1000));
		if (snapshot_to_file(c, cts[i].name, c->defense.snapshot_recipient, path, &size, &frozen, &err) < 0) {
			log_error("forensic snapshot of %s failed (the evacuation goes on): %s", cts[i].name, err.msg);
			snprintf(detail, sizeof(detail), "after alert %llu: failed: %s",
			         (unsigned long long)job->alert.id, err.msg);
		} else {
			log_info("forensic snapshot of %s: %s, %llu bytes, frozen %llu ms, %lld ms in all", cts[i].name,
			         path, (unsigned long long)size, (unsigned long long)frozen, ferry_now_ms() - t0);
			snprintf(detail, sizeof(detail), "after alert %llu: %s (%llu bytes)",
			         (unsigned long long)job->alert.id, path, (unsigned long long)size);
		}
		if (ferry_audit_append(&c->st.reg, c->st.audit_head, "controller", "snapshot", cts[i].name, detail,
		                       &err) < 0)
			log_error("cannot append to the audit log: %s", err.msg);
	}
	free(cts);
}

static void *evac_thread(void *arg)
{
	struct evac_job *job = arg;
	struct controller *c = job->c;
	struct defense *d = &c->defense;
	struct evacuation *e = calloc(1, sizeof(*e));
	struct ferry_err err = { 0 };
	char detail[FERRY_AUDIT_DETAIL_MAX + 1], reason[256];
	uint64_t started = ferry_wall_ms(), ended;
	int r;

	snprintf(reason, sizeof(reason), "alert %llu from %s: %s", (unsigned long long)job->alert.id,
	         job->alert.reporter, job->alert.signature);
	/* Quarantine first: from now on nothing is placed there, not even by this evacuation's retries. */
	if (d->cfg.quarantine) {
		if (ferry_store_quarantine_add(&c->st.reg, job->alert.host, started / 1000, reason, &err) < 0)
			log_error("cannot put %s in quarantine: %s", job->alert.host, err.msg);
		else if (ferry_audit_append(&c->st.reg, c->st.audit_head, "controller", "quarantine", job->alert.host,
		                            reason, &err) < 0)
			log_error("cannot append to the audit log: %s", err.msg);
	}
	/*
	 * Destinations by the controller's CSPRNG in every security mode: with
	 * shamir or fountain the source would draw them, and the source is the
	 * host the alert says is under attack.
	 */
	if (d->cfg.snapshot_dir[0])
		take_snapshots(c, job);
	r = e ? evacuate_node(c, job->alert.host, NULL, 0, IDS_PARALLEL, FERRY_MODE_STOP_COPY,
	                      d->cfg.security_mode != FERRY_SECURITY_NONE, e, &err)
	      : ferry_err_set(&err, -ENOMEM, "out of memory");
	ended = ferry_wall_ms();
	if (r == 0) {
		record_moves(c, job, e, started, ended);
		snprintf(detail, sizeof(detail), "after alert %llu: %d of %d containers moved in %llu ms",
		         (unsigned long long)job->alert.id, e->n - e->failed, e->n,
		         (unsigned long long)(ended - started));
	} else {
		snprintf(detail, sizeof(detail), "after alert %llu: nothing moved: %s",
		         (unsigned long long)job->alert.id, err.msg);
	}
	log_info("evacuation of %s %s", job->alert.host, detail);
	if (ferry_audit_append(&c->st.reg, c->st.audit_head, "controller", "evacuate", job->alert.host, detail, &err) <
	    0)
		log_error("cannot append to the audit log: %s", err.msg);
	pthread_mutex_lock(&d->lock);
	/* In quarantine the host stays "evacuating" until released: more alerts about it start nothing. */
	if (!d->cfg.quarantine)
		ferry_ids_done(d->tracker, job->alert.host);
	d->threads--;
	pthread_cond_broadcast(&d->idle);
	pthread_mutex_unlock(&d->lock);
	free(e);
	free(job);
	return NULL;
}

/* Start the evacuation of a->host on its own thread (under defense.lock). */
static int start_evacuation(struct controller *c, const struct ferry_alert_rec *a, struct ferry_err *err)
{
	struct evac_job *job = calloc(1, sizeof(*job));
	pthread_attr_t attr;
	pthread_t th;
	int r = 0;

	if (!job)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	job->c = c;
	job->alert = *a;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (c->defense.stop || pthread_create(&th, &attr, evac_thread, job) != 0) {
		free(job);
		r = ferry_err_set(err, -EAGAIN, "cannot start the evacuation of %s", a->host);
	} else {
		c->defense.threads++;
	}
	pthread_attr_destroy(&attr);
	return r;
}

/* ---- the API ---- */

/* Text of tag into out when present, printable ASCII only (the rest becomes '?'); "" when absent. */
static int get_printable(const struct ferry_tlv_list *l, uint16_t tag, char *out, size_t len, struct ferry_err *err)
{
	int r;

	out[0] = '\0';
	if (!ferry_tlv_find(l, tag))
		return 0;
	if ((r = ferry_tlv_get_str(l, tag, out, len, err)) < 0)
		return r;
	for (char *p = out; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	return 0;
}

/* An optional dotted IPv4 field: as get_printable, and then it must parse. */
static int get_address(const struct ferry_tlv_list *l, uint16_t tag, const char *what, char *out, size_t len,
                       struct ferry_err *err)
{
	uint32_t a;
	int r;

	if ((r = get_printable(l, tag, out, len, err)) < 0)
		return r;
	if (out[0] && ferry_parse_ipv4(out, &a, err) < 0)
		return ferry_err_wrap(err, "alert's %s address", what);
	return 0;
}

static int api_alert(struct controller *c, const char *reporter, bool from_node, const struct ferry_tlv_list *l,
                     struct ferry_buf *out, struct ferry_err *err)
{
	struct defense *d = &c->defense;
	struct ferry_alert_rec a = { 0 };
	char named[FERRY_NODE_NAME_MAX + 1] = "";
	enum ferry_ids_verdict v = FERRY_IDS_IGNORED;
	bool store, trigger = false;
	uint64_t severity;
	int r;

	if ((r = ferry_tlv_get_u64(l, FERRY_TAG_SEVERITY, &severity, err)) < 0)
		return r;
	if (severity < 1 || severity > 255)
		return ferry_err_set(err, -ERANGE,
		                     "alert severity %llu is out of range; expected 1 (the most severe) to 255",
		                     (unsigned long long)severity);
	if ((r = get_printable(l, FERRY_TAG_SIGNATURE, a.signature, sizeof(a.signature), err)) < 0 ||
	    (r = get_printable(l, FERRY_TAG_SID, a.sid, sizeof(a.sid), err)) < 0 ||
	    (r = get_address(l, FERRY_TAG_SRC_ADDR, "source", a.src, sizeof(a.src), err)) < 0 ||
	    (r = get_address(l, FERRY_TAG_DST_ADDR, "destination", a.dst, sizeof(a.dst), err)) < 0)
		return r;
	if (ferry_tlv_find(l, FERRY_TAG_NODE)) {
		struct ferry_registry_node n;

		if (from_node)
			return ferry_err_set(err, -EPERM, "a node reports alerts about its own host only");
		if ((r = ferry_tlv_get_str(l, FERRY_TAG_NODE, named, sizeof(named), err)) < 0 ||
		    (r = node_lookup(c, named, &n, err)) < 0)
			return r;
	}
	a.severity = (unsigned)severity;
	a.at_ms = ferry_wall_ms();
	snprintf(a.reporter, sizeof(a.reporter), "%s", reporter);
	implicate(c, from_node, named, &a);
	pthread_mutex_lock(&d->lock);
	if (a.host[0]) {
		v = ferry_ids_observe(d->tracker, &d->cfg, a.host, a.severity, ferry_now_ms());
		if (v == FERRY_IDS_TRIGGER && d->cfg.action != FERRY_IDS_EVACUATE)
			ferry_ids_done(d->tracker, a.host); /* ids_action = log: the rule fired, nothing moves */
		trigger = v == FERRY_IDS_TRIGGER && d->cfg.action == FERRY_IDS_EVACUATE;
	}
	snprintf(a.verdict, sizeof(a.verdict), "%s",
	         !a.host[0]                           ? "unplaced"
	         : v == FERRY_IDS_TRIGGER && !trigger ? "logged"
	                                              : ferry_ids_verdict_name(v));
	/* The one that triggers is always kept; a flood's others up to the rate. */
	store = trigger || rate_allows(reporter);
	pthread_mutex_unlock(&d->lock);
	if (store && ferry_store_alert_add(&c->st.reg, &a, err) < 0)
		log_warn("cannot store an alert from %s: %s", reporter, err->msg);
	if (trigger) {
		log_warn("alert %llu from %s (severity %u, %s) implicates %s: evacuating it", (unsigned long long)a.id,
		         reporter, a.severity, a.signature, a.host);
		pthread_mutex_lock(&d->lock);
		r = start_evacuation(c, &a, err);
		if (r < 0)
			ferry_ids_done(d->tracker, a.host);
		pthread_mutex_unlock(&d->lock);
		if (r < 0)
			return r;
	} else if (store) {
		log_debug("alert from %s (severity %u) about %s: %s", reporter, a.severity, a.host[0] ? a.host : "-",
		          a.verdict);
	}
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_SEQ, a.id);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_VERDICT, a.verdict);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_NODE, a.host);
	return r;
}

static int add_alert(struct ferry_buf *out, const struct ferry_alert_rec *a)
{
	struct ferry_buf rec = FERRY_BUF_INIT(512);
	int r = ferry_tlv_add_u64(&rec, FERRY_TAG_SEQ, a->id);

	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_TIME_MS, a->at_ms);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_REPORTER, a->reporter);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_NODE, a->host);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_SEVERITY, a->severity);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_SRC_ADDR, a->src);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_DST_ADDR, a->dst);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_SID, a->sid);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_SIGNATURE, a->signature);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_VERDICT, a->verdict);
	r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
	ferry_buf_free(&rec);
	return r;
}

static int api_alerts(struct controller *c, struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_alert_rec *as = calloc(ALERTS_LIST_MAX, sizeof(*as));
	int n = as ? ferry_store_alerts(&c->st.reg, as, ALERTS_LIST_MAX, err)
	           : ferry_err_set(err, -ENOMEM, "out of memory");
	int r = n < 0 ? n : ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);

	for (int i = 0; r == 0 && i < n; i++)
		r = add_alert(out, &as[i]);
	free(as);
	if (r == -E2BIG)
		r = ferry_err_set(err, -E2BIG, "the alerts do not fit one answer");
	return r;
}

static int api_quarantine(struct controller *c, struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_quarantine_rec *qs = calloc(MAX_NODES, sizeof(*qs));
	int n =
	    qs ? ferry_store_quarantined(&c->st.reg, qs, MAX_NODES, err) : ferry_err_set(err, -ENOMEM, "out of memory");
	int r = n < 0 ? n : ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);

	for (int i = 0; r == 0 && i < n; i++) {
		struct ferry_buf rec = FERRY_BUF_INIT(512);

		r = ferry_tlv_add_str(&rec, FERRY_TAG_NODE, qs[i].node);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_TIME, qs[i].since);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_DETAIL, qs[i].reason);
		r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
		ferry_buf_free(&rec);
	}
	free(qs);
	return r;
}

static int api_release(struct controller *c, const struct ferry_tlv_list *l, struct ferry_buf *out,
                       struct ferry_err *err)
{
	char node[FERRY_NODE_NAME_MAX + 1];
	int r;

	if ((r = ferry_tlv_get_str(l, FERRY_TAG_NODE, node, sizeof(node), err)) < 0 ||
	    (r = ferry_check_name(node, FERRY_NODE_NAME_MAX, "node", err)) < 0 ||
	    (r = ferry_store_quarantine_release(&c->st.reg, node, err)) < 0)
		return r;
	pthread_mutex_lock(&c->defense.lock);
	ferry_ids_done(c->defense.tracker, node);
	pthread_mutex_unlock(&c->defense.lock);
	log_info("node '%s' released from quarantine: containers may be placed there again", node);
	return ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
}

int api_defense(struct controller *c, unsigned op, const char *reporter, bool from_node, const struct ferry_tlv_list *l,
                struct ferry_buf *out, struct ferry_err *err)
{
	if (op == FERRY_OP_ALERT)
		return api_alert(c, reporter, from_node, l, out, err);
	if (from_node)
		return ferry_err_set(err, -EPERM, "a node may only report alerts on this connection");
	switch (op) {
	case FERRY_OP_ALERTS:
		return api_alerts(c, out, err);
	case FERRY_OP_QUARANTINE:
		return api_quarantine(c, out, err);
	case FERRY_OP_NODE_RELEASE:
		return api_release(c, l, out, err);
	}
	return ferry_err_set(err, -EOPNOTSUPP, "unknown operation %u", op);
}
