/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager's decisions: which host is heavy (the detector over the
 * traffic view), which container on it to move (the one with the most
 * traffic), where (the policy's best candidate), and an explanation of
 * each, kept with the decision.  Ping-pong is stopped twice: the detector's
 * hysteresis and confirmation, and a cooldown per container after any
 * decision about it.  Migrations run on their own thread so that the
 * measurement goes on (and records the move).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "manager"
#include "controller.h"
#include "ferry/audit.h"
#include "ferry/clock.h"
#include "ferry/json.h"
#include "ferry/log.h"
#include "manager.h"

#define ON_DEMAND_GAP_MS 500 /* explain without the loop: two samples this far apart give rates */

struct explain_row {
	char node[FERRY_NODE_NAME_MAX + 1];
	bool candidate, measured;
	char why[96]; /* why it is not a candidate */
	double score, load;
	uint64_t bottleneck, latency_us, mem_free;
	bool latency_measured;
	unsigned hops;
};

struct explanation {
	char policy[32];
	char container[FERRY_CONTAINER_NAME_MAX + 1], source[FERRY_NODE_NAME_MAX + 1];
	uint64_t need_memory;
	bool from_file;
	struct explain_row rows[MGR_HOSTS];
	unsigned n_rows, n_candidates;
};

static uint64_t unix_now(void)
{
	return (uint64_t)time(NULL);
}

/*
 * Sample every host of the layout twice, ON_DEMAND_GAP_MS apart, and probe
 * round trips on the first pass: explain while no loop measures.
 */
static void sample_on_demand(struct controller *c, const struct ferry_topology *t, const struct ferry_registry_node *ns,
                             int n_ns)
{
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			usleep(ON_DEMAND_GAP_MS * 1000);
		for (unsigned k = 0; k < t->n_nodes; k++)
			if (t->nodes[k].role == FERRY_NODE_HOST)
				manager_sample(c, t->nodes[k].name, pass == 0 && c->mgr.cfg.probe_ms ? ns : NULL, n_ns,
				               &(struct ferry_err){ 0 });
	}
}

static bool is_active(const struct ferry_registry_node *ns, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(ns[i].name, name) == 0)
			return true;
	return false;
}

/*
 * The traffic view and host views of layout t from the measurements; fresh
 * ones only.  With a source, the round trips measured from it too.
 */
static void views(struct controller *c, const struct ferry_topology *t, const struct ferry_registry_node *ns, int n_ns,
                  const char *source, struct ferry_traffic *tr, struct ferry_host_view *hv)
{
	long long now = ferry_now_ms();

	memset(tr, 0, sizeof(*tr));
	memset(hv, 0, sizeof(*hv) * FERRY_TOPO_MAX_NODES);
	for (unsigned k = 0; k < t->n_nodes; k++) {
		struct host_meas h;

		if (t->nodes[k].role != FERRY_NODE_HOST || !manager_host(c, t->nodes[k].name, &h) ||
		    !manager_fresh(&c->mgr, &h, now))
			continue;
		hv[k] = (struct ferry_host_view){ .known = true,
			                          .eligible =
			                              is_active(ns, n_ns, t->nodes[k].name) &&
			                              !ferry_store_is_quarantined(&c->st.reg, t->nodes[k].name, NULL),
			                          .load = h.cpu,
			                          .mem_free = h.mem_free };
		if (source) {
			hv[k].is_source = strcmp(source, t->nodes[k].name) == 0;
			hv[k].rtt_us = hv[k].is_source ? 0 : manager_rtt(c, source, t->nodes[k].name);
		}
		if (h.have_rate) {
			tr->seen[k] = true;
			tr->host_rx[k] = h.rx_bps;
			tr->host_tx[k] = h.tx_bps;
		}
	}
	ferry_traffic_compute(t, tr);
}

int manager_latencies(struct controller *c, const char *source, const char (*names)[FERRY_NODE_NAME_MAX + 1],
                      unsigned n, uint32_t *lat_us)
{
	struct ferry_topology *t = malloc(sizeof(*t));
	struct ferry_registry_node *ns = calloc(MAX_NODES, sizeof(*ns));
	struct ferry_traffic *tr = malloc(sizeof(*tr));
	struct ferry_host_view *hv = calloc(FERRY_TOPO_MAX_NODES, sizeof(*hv));
	struct ferry_path *paths = NULL;
	int vertex_of[FERRY_TOPO_MAX_NODES], src, n_ns, r = -ENOMEM;
	struct ferry_net net = { 0 };
	uint64_t version;

	memset(lat_us, 0, n * sizeof(*lat_us));
	if (!t || !ns || !tr || !hv || (r = manager_layout(c, t, NULL)) < 0 ||
	    (n_ns = r = ferry_registry_nodes(&c->st.reg, ns, MAX_NODES, &version, NULL)) < 0)
		goto out;
	views(c, t, ns, n_ns, source, tr, hv);
	/* Unmeasured hosts still have their links' declared latencies: the layout is what matters here. */
	for (unsigned k = 0; k < t->n_nodes; k++)
		hv[k].known = hv[k].known || t->nodes[k].role == FERRY_NODE_HOST;
	if ((src = ferry_topology_find_node(t, source)) < 0 ||
	    (r = ferry_manager_net(t, tr, hv, &net, vertex_of, NULL)) < 0 || vertex_of[src] < 0 ||
	    !(paths = calloc(net.n_v, sizeof(*paths))) ||
	    (r = ferry_net_shortest_paths(&net, (unsigned)vertex_of[src], paths, NULL)) < 0) {
		r = r < 0 ? r : -ENOENT;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		int k = ferry_topology_find_node(t, names[i]);

		if (k >= 0 && vertex_of[k] >= 0 && paths[vertex_of[k]].reachable)
			lat_us[i] = (uint32_t)(paths[vertex_of[k]].latency_us ? paths[vertex_of[k]].latency_us : 1);
		if (manager_rtt(c, source, names[i]))
			lat_us[i] = manager_rtt(c, source, names[i]) / 2; /* measured beats declared */
	}
	r = 0;
out:
	ferry_net_free(&net);
	free(paths);
	free(t);
	free(ns);
	free(tr);
	free(hv);
	return r;
}

static int explain(struct controller *c, const struct ferry_policy_ops *p, const char *container, struct explanation *x,
                   struct ferry_err *err)
{
	struct ferry_topology *t = malloc(sizeof(*t));
	struct ferry_container_rec *ct = malloc(sizeof(*ct));
	struct ferry_spec *spec = malloc(sizeof(*spec));
	struct ferry_registry_node *ns = calloc(MAX_NODES, sizeof(*ns));
	struct ferry_traffic *tr = malloc(sizeof(*tr));
	struct ferry_host_view hv[FERRY_TOPO_MAX_NODES];
	struct ferry_candidate cand[MGR_HOSTS];
	int vertex_of[FERRY_TOPO_MAX_NODES], src, n_ns, n;
	struct ferry_net net = { 0 };
	uint64_t version;
	int r;

	memset(x, 0, sizeof(*x));
	if (!t || !ct || !spec || !ns || !tr) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	snprintf(x->policy, sizeof(x->policy), "%s", p->name);
	snprintf(x->container, sizeof(x->container), "%s", container);
	if ((r = ferry_store_container_get(&c->st.reg, container, ct, err)) < 0 ||
	    (r = ferry_spec_parse(ct->spec, ct->spec_len, spec, err)) < 0)
		goto out;
	if (strcmp(ct->state, "running") != 0) {
		r = ferry_err_set(err, -ESRCH, "container '%s' is %s; only a running container is placed", container,
		                  ct->state);
		goto out;
	}
	snprintf(x->source, sizeof(x->source), "%s", ct->node);
	x->need_memory = spec->memory;
	x->from_file = c->mgr.file_topo != NULL;
	if ((r = manager_layout(c, t, err)) < 0 ||
	    (n_ns = r = ferry_registry_nodes(&c->st.reg, ns, MAX_NODES, &version, err)) < 0)
		goto out;
	if ((src = ferry_topology_find_node(t, ct->node)) < 0) {
		r = ferry_err_set(err, -ENOENT, "node '%s' is not in the topology %s", ct->node, c->mgr.cfg.topology);
		goto out;
	}
	if (!c->mgr.running)
		sample_on_demand(c, t, ns, n_ns);
	views(c, t, ns, n_ns, ct->node, tr, hv);
	if ((r = ferry_manager_net(t, tr, hv, &net, vertex_of, err)) < 0)
		goto out;
	if ((n = r = ferry_policy_rank(p, &net, (unsigned)vertex_of[src], spec->memory, cand, MGR_HOSTS, err)) < 0)
		goto out;
	for (int i = 0; i < n; i++) {
		struct explain_row *row = &x->rows[x->n_rows++];
		const struct ferry_net_vertex *v = &net.v[cand[i].host];

		snprintf(row->node, sizeof(row->node), "%s", v->name);
		row->candidate = row->measured = true;
		row->score = cand[i].score;
		row->bottleneck = cand[i].path.bottleneck;
		row->latency_us = cand[i].path.latency_us;
		row->latency_measured = cand[i].path.latency_measured;
		row->hops = cand[i].path.hops;
		row->load = v->load;
		row->mem_free = v->mem_free;
	}
	x->n_candidates = (unsigned)n;
	/* The others, each with why it is not a candidate. */
	for (unsigned k = 0; k < t->n_nodes && x->n_rows < MGR_HOSTS; k++) {
		struct explain_row *row = &x->rows[x->n_rows];
		bool listed = false;

		if (t->nodes[k].role != FERRY_NODE_HOST)
			continue;
		for (unsigned i = 0; i < x->n_candidates && !listed; i++)
			listed = strcmp(x->rows[i].node, t->nodes[k].name) == 0;
		if (listed)
			continue;
		memset(row, 0, sizeof(*row));
		snprintf(row->node, sizeof(row->node), "%s", t->nodes[k].name);
		row->measured = hv[k].known;
		row->load = hv[k].load;
		row->mem_free = hv[k].mem_free;
		if ((int)k == src)
			snprintf(row->why, sizeof(row->why), "the container runs here");
		else if (!is_active(ns, n_ns, t->nodes[k].name))
			snprintf(row->why, sizeof(row->why), "not an enrolled node");
		else if (ferry_store_is_quarantined(&c->st.reg, t->nodes[k].name, NULL))
			snprintf(row->why, sizeof(row->why), "in quarantine after an intrusion alert");
		else if (!hv[k].known)
			snprintf(row->why, sizeof(row->why), "no recent measurement (not answering)");
		else if (hv[k].mem_free < spec->memory)
			snprintf(row->why, sizeof(row->why), "%llu MiB free, the container needs %llu MiB",
			         (unsigned long long)(hv[k].mem_free >> 20), (unsigned long long)(spec->memory >> 20));
		else
			snprintf(row->why, sizeof(row->why), "no path from %s", ct->node);
		x->n_rows++;
	}
	r = 0;
out:
	ferry_net_free(&net);
	free(t);
	free(ct);
	free(spec);
	free(ns);
	free(tr);
	return r;
}

static void json_rows(struct ferry_json *j, const struct explanation *x)
{
	ferry_json_key(j, "candidates");
	ferry_json_array_begin(j);
	for (unsigned i = 0; i < x->n_rows; i++) {
		const struct explain_row *row = &x->rows[i];

		ferry_json_object_begin(j);
		ferry_json_key(j, "node");
		ferry_json_string(j, row->node);
		if (row->candidate) {
			ferry_json_key(j, "rank");
			ferry_json_uint(j, i + 1);
			ferry_json_key(j, "score_milli");
			ferry_json_int(j, (int64_t)(row->score * 1000));
			ferry_json_key(j, "bottleneck_bps");
			ferry_json_uint(j, row->bottleneck);
			ferry_json_key(j, "latency_us");
			ferry_json_uint(j, row->latency_us);
			ferry_json_key(j, "latency_from");
			ferry_json_string(j, row->latency_measured ? "measured round trip" : "topology file");
			ferry_json_key(j, "hops");
			ferry_json_uint(j, row->hops);
		} else {
			ferry_json_key(j, "excluded");
			ferry_json_string(j, row->why);
		}
		ferry_json_key(j, "load_permille");
		ferry_json_uint(j, (uint64_t)(row->load * 1000));
		ferry_json_key(j, "mem_free");
		ferry_json_uint(j, row->mem_free);
		ferry_json_object_end(j);
	}
	ferry_json_array_end(j);
}

/* The inputs a decision was taken on, as JSON (cut to the best candidates if it would not fit). */
static void decision_inputs(const struct controller *c, const struct explanation *x, const struct ferry_traffic *tr,
                            const struct ferry_topology *t, char *out, size_t len)
{
	const struct ferry_detector *d = &c->mgr.det;
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_DECISION_INPUTS_MAX * 4);
	struct ferry_json j;

	ferry_json_init(&j, &b, false);
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "decided_at_ms");
	ferry_json_uint(&j, ferry_wall_ms());
	ferry_json_key(&j, "trigger");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "switch");
	ferry_json_string(&j, d->heaviest_switch >= 0 ? t->switches[d->heaviest_switch].name : NULL);
	ferry_json_key(&j, "aggregate_bps");
	ferry_json_uint(&j, d->heaviest_switch >= 0 ? (uint64_t)tr->aggregate[d->heaviest_switch] : 0);
	ferry_json_key(&j, "host");
	ferry_json_string(&j, x->source);
	ferry_json_key(&j, "port_bps");
	ferry_json_uint(&j, (uint64_t)d->busiest_bps);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "thresholds");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "aggregate_bps");
	ferry_json_uint(&j, c->mgr.cfg.aggregate_threshold);
	ferry_json_key(&j, "aggregate_difference_bps");
	ferry_json_uint(&j, c->mgr.cfg.aggregate_difference_threshold);
	ferry_json_key(&j, "port_bps");
	ferry_json_uint(&j, c->mgr.cfg.port_threshold);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "layout");
	ferry_json_string(&j, x->from_file ? "topology file" : "enrolled nodes on one switch");
	ferry_json_key(&j, "need_memory");
	ferry_json_uint(&j, x->need_memory);
	json_rows(&j, x);
	ferry_json_object_end(&j);
	if (ferry_json_finish(&j) == 0 && b.len < len)
		snprintf(out, len, "%.*s", (int)b.len, b.data);
	else
		snprintf(out, len, "{\"cut\": \"the inputs (%zu bytes) did not fit the record\"}", b.len);
	ferry_buf_free(&b);
}

/* ---- the loop's check ---- */

static bool cooling(struct manager *m, const char *container, long long now)
{
	for (unsigned i = 0; i < MGR_COOLDOWNS; i++)
		if (m->cool[i].until_ms > now && strcmp(m->cool[i].container, container) == 0)
			return true;
	return false;
}

static void cool_down(struct manager *m, const char *container, long long now)
{
	unsigned slot = 0;

	for (unsigned i = 0; i < MGR_COOLDOWNS; i++) {
		if (strcmp(m->cool[i].container, container) == 0 || m->cool[i].until_ms <= now) {
			slot = i;
			break;
		}
		if (m->cool[i].until_ms < m->cool[slot].until_ms)
			slot = i;
	}
	snprintf(m->cool[slot].container, sizeof(m->cool[slot].container), "%s", container);
	m->cool[slot].until_ms = now + (long long)m->cfg.cooldown_s * 1000;
}

struct move {
	struct controller *c;
	struct migrate_request rq;
	uint64_t decision;
	char source[FERRY_NODE_NAME_MAX + 1];
};

static void *move_thread(void *arg)
{
	struct move *mv = arg;
	struct controller *c = mv->c;
	struct ferry_migration_rec *rec = calloc(1, sizeof(*rec));
	struct ferry_err err = { 0 };
	char detail[FERRY_AUDIT_DETAIL_MAX + 1];
	int r = rec ? migrate_one(c, &mv->rq, rec, NULL, &err) : ferry_err_set(&err, -ENOMEM, "out of memory");

	if (r == 0)
		snprintf(detail, sizeof(detail), "moved in %llu ms (downtime %llu ms)",
		         (unsigned long long)rec->total_ms, (unsigned long long)rec->downtime_ms);
	else
		snprintf(detail, sizeof(detail), "the migration failed: %s", err.msg);
	log_info("decision %llu: %s %s -> %s: %s", (unsigned long long)mv->decision, mv->rq.container, mv->source,
	         mv->rq.dest, detail);
	if (ferry_store_decision_end(&c->st.reg, mv->decision, r == 0 ? "migrated" : "failed", detail,
	                             rec ? rec->id : 0, &err) < 0)
		log_warn("cannot record the end of decision %llu: %s", (unsigned long long)mv->decision, err.msg);
	snprintf(detail, sizeof(detail), "decision %llu by policy %s: %s -> %s; %s", (unsigned long long)mv->decision,
	         c->mgr.policy->name, mv->source, mv->rq.dest, r == 0 ? "ok" : "failed");
	if (ferry_audit_append(&c->st.reg, c->st.audit_head, "controller", "migrate", mv->rq.container, detail, &err) <
	    0)
		log_error("cannot append to the audit log: %s", err.msg);
	pthread_mutex_lock(&c->mgr.lock);
	c->mgr.moving = false;
	pthread_mutex_unlock(&c->mgr.lock);
	free(rec);
	free(mv);
	return NULL;
}

/* The running container on node with the most traffic that is not cooling down, or false. */
static bool pick_container(struct controller *c, const char *node, long long now, char *out, size_t len)
{
	struct ferry_container_rec *cts = calloc(CT_LIST_MAX, sizeof(*cts));
	struct host_meas h;
	double best = -1;
	int n;

	out[0] = '\0';
	if (!cts || !manager_host(c, node, &h)) {
		free(cts);
		return false;
	}
	n = ferry_store_containers(&c->st.reg, cts, CT_LIST_MAX, NULL);
	for (int i = 0; i < n; i++) {
		double bps = 0;

		if (strcmp(cts[i].node, node) != 0 || strcmp(cts[i].state, "running") != 0 ||
		    cooling(&c->mgr, cts[i].name, now))
			continue;
		for (unsigned k = 0; k < h.n_cts; k++)
			if (strcmp(h.cts[k].name, cts[i].name) == 0)
				bps = h.cts[k].rx_bps + h.cts[k].tx_bps;
		if (bps > best) {
			best = bps;
			snprintf(out, len, "%s", cts[i].name);
		}
	}
	free(cts);
	return out[0] != '\0';
}

/* Which hosts run a container that may move now. */
static void mark_movable(struct controller *c, const struct ferry_topology *t, struct ferry_traffic *tr, long long now)
{
	struct ferry_container_rec *cts = calloc(CT_LIST_MAX, sizeof(*cts));
	int n = cts ? ferry_store_containers(&c->st.reg, cts, CT_LIST_MAX, NULL) : 0;

	for (int i = 0; i < n; i++) {
		int k = ferry_topology_find_node(t, cts[i].node);

		if (k >= 0 && strcmp(cts[i].state, "running") == 0 && !cooling(&c->mgr, cts[i].name, now))
			tr->movable[k] = true;
	}
	free(cts);
}

static void record_series(struct controller *c, const struct ferry_topology *t, const struct ferry_traffic *tr,
                          const double *before)
{
	uint64_t at = ferry_wall_ms();
	struct ferry_err err = { 0 };

	for (unsigned s = 0; s < t->n_switches; s++) {
		struct ferry_switch_sample row = { .at_ms = at,
			                           .aggregate_bps = tr->aggregate[s],
			                           .difference_bps = tr->aggregate[s] - before[s],
			                           .hot = c->mgr.det.hot[s] };

		snprintf(row.name, sizeof(row.name), "%s", t->switches[s].name);
		if (ferry_store_switch_sample_add(&c->st.reg, &row, &err) < 0)
			log_warn("cannot store a switch sample: %s", err.msg);
	}
	for (unsigned i = 0; i < t->n_links; i++) {
		struct ferry_link_sample row = { .at_ms = at, .ab_bps = tr->link_ab[i], .ba_bps = tr->link_ba[i] };

		snprintf(row.a, sizeof(row.a), "%s", t->switches[t->links[i].a].name);
		snprintf(row.b, sizeof(row.b), "%s", t->switches[t->links[i].b].name);
		if (ferry_store_link_sample_add(&c->st.reg, &row, &err) < 0)
			log_warn("cannot store a link sample: %s", err.msg);
	}
	if (ferry_now_ms() - c->mgr.last_prune_ms > 60000) {
		c->mgr.last_prune_ms = ferry_now_ms();
		if (ferry_store_prune(&c->st.reg, at - (uint64_t)c->mgr.cfg.retention_s * 1000, &err) < 0)
			log_warn("cannot prune the measurement: %s", err.msg);
	}
}

static void decide(struct controller *c, const struct ferry_topology *t, const struct ferry_traffic *tr,
                   const char *source, long long now)
{
	struct manager *m = &c->mgr;
	struct explanation *x = malloc(sizeof(*x));
	struct ferry_decision_rec *d = calloc(1, sizeof(*d));
	struct ferry_err err = { 0 };
	char container[FERRY_CONTAINER_NAME_MAX + 1];

	if (!x || !d || !pick_container(c, source, now, container, sizeof(container)))
		goto out;
	d->at = unix_now();
	snprintf(d->policy, sizeof(d->policy), "%s", m->policy->name);
	snprintf(d->container, sizeof(d->container), "%s", container);
	snprintf(d->source, sizeof(d->source), "%s", source);
	if (explain(c, m->policy, container, x, &err) < 0) {
		snprintf(d->action, sizeof(d->action), "stayed");
		snprintf(d->detail, sizeof(d->detail), "cannot explain a move: %s", err.msg);
		snprintf(d->inputs, sizeof(d->inputs), "{}");
	} else {
		decision_inputs(c, x, tr, t, d->inputs, sizeof(d->inputs));
		if (x->n_candidates == 0) {
			snprintf(d->action, sizeof(d->action), "stayed");
			snprintf(d->detail, sizeof(d->detail), "no host can take it");
		} else {
			snprintf(d->dest, sizeof(d->dest), "%s", x->rows[0].node);
			snprintf(d->action, sizeof(d->action), "%s", m->cfg.dry_run ? "dry-run" : "migrating");
			snprintf(d->detail, sizeof(d->detail), "%s is %s's best of %u candidates", x->rows[0].node,
			         m->policy->name, x->n_candidates);
		}
	}
	pthread_mutex_lock(&m->lock);
	cool_down(m, container, now);
	pthread_mutex_unlock(&m->lock);
	if (ferry_store_decision_add(&c->st.reg, d, &err) < 0) {
		log_error("cannot store a decision about %s: %s", container, err.msg);
		goto out;
	}
	log_info("decision %llu: %s on %s (policy %s): %s, %s", (unsigned long long)d->id, container, source,
	         m->policy->name, d->action, d->detail);
	if (strcmp(d->action, "migrating") == 0) {
		struct move *mv = calloc(1, sizeof(*mv));
		pthread_attr_t attr;
		pthread_t th;

		if (!mv) {
			ferry_store_decision_end(&c->st.reg, d->id, "failed", "out of memory", 0, NULL);
			goto out;
		}
		mv->c = c;
		mv->decision = d->id;
		mv->rq.mode = m->cfg.mode;
		snprintf(mv->rq.container, sizeof(mv->rq.container), "%s", container);
		snprintf(mv->rq.dest, sizeof(mv->rq.dest), "%s", d->dest);
		snprintf(mv->source, sizeof(mv->source), "%s", source);
		/* The previous move has ended (decisions wait while one runs): reap its thread. */
		if (m->have_mover) {
			pthread_join(m->mover, NULL);
			m->have_mover = false;
		}
		pthread_mutex_lock(&m->lock);
		m->moving = true;
		pthread_mutex_unlock(&m->lock);
		pthread_attr_init(&attr);
		if (pthread_create(&th, &attr, move_thread, mv) != 0) {
			pthread_mutex_lock(&m->lock);
			m->moving = false;
			pthread_mutex_unlock(&m->lock);
			ferry_store_decision_end(&c->st.reg, d->id, "failed", "cannot start the migration thread", 0,
			                         NULL);
			free(mv);
		} else {
			m->mover = th;
			m->have_mover = true;
		}
		pthread_attr_destroy(&attr);
	}
out:
	free(x);
	free(d);
}

void manager_check(struct controller *c)
{
	struct manager *m = &c->mgr;
	struct ferry_topology *t = malloc(sizeof(*t));
	struct ferry_registry_node *ns = calloc(MAX_NODES, sizeof(*ns));
	struct ferry_traffic *tr = malloc(sizeof(*tr));
	struct ferry_host_view *hv = calloc(FERRY_TOPO_MAX_NODES, sizeof(*hv));
	double before[FERRY_TOPO_MAX_SWITCHES];
	long long now = ferry_now_ms();
	char source[FERRY_NODE_NAME_MAX + 1] = "";
	uint64_t version;
	int n_ns, src;
	bool moving;

	if (!t || !ns || !tr || !hv || manager_layout(c, t, NULL) < 0)
		goto out;
	n_ns = ferry_registry_nodes(&c->st.reg, ns, MAX_NODES, &version, NULL);
	views(c, t, ns, n_ns < 0 ? 0 : n_ns, NULL, tr, hv);
	mark_movable(c, t, tr, now);
	pthread_mutex_lock(&m->lock);
	memcpy(before, m->det.last_aggregate, sizeof(before));
	/* A new layout (nodes enrolled or gone) starts the detector afresh. */
	if (m->topo->n_nodes != t->n_nodes || m->topo->n_switches != t->n_switches)
		ferry_detector_init(&m->det);
	*m->topo = *t;
	src = ferry_detector_check(&m->det, &m->cfg, t, tr);
	if (src >= 0)
		snprintf(source, sizeof(source), "%s", t->nodes[src].name);
	moving = m->moving;
	pthread_mutex_unlock(&m->lock);
	record_series(c, t, tr, before);
	if (src >= 0 && !moving)
		decide(c, t, tr, source, now);
out:
	free(t);
	free(ns);
	free(tr);
	free(hv);
}

/* ---- the API: explain and the decisions ---- */

static int add_row(struct ferry_buf *out, const struct explain_row *row, unsigned rank)
{
	struct ferry_buf rec = FERRY_BUF_INIT(512);
	char score[32];
	int r = ferry_tlv_add_str(&rec, FERRY_TAG_NODE, row->node);

	if (row->candidate) {
		snprintf(score, sizeof(score), "%.3f", row->score);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_SEQ, rank);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_SCORE, score);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_BOTTLENECK_BPS, row->bottleneck);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_LATENCY_US, row->latency_us);
		r = r ? r
		      : ferry_tlv_add_str(&rec, FERRY_TAG_LATENCY_FROM, row->latency_measured ? "measured" : "file");
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_HOPS, row->hops);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_RESULT, "candidate");
	} else {
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_RESULT, "excluded");
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_MESSAGE, row->why);
	}
	if (row->measured) {
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_LOAD_PERMILLE, (uint64_t)(row->load * 1000));
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_MEMORY, row->mem_free);
	}
	r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
	ferry_buf_free(&rec);
	return r;
}

static int api_explain(struct controller *c, const struct ferry_tlv_list *l, struct ferry_buf *out,
                       struct ferry_err *err)
{
	char container[FERRY_CONTAINER_NAME_MAX + 1], name[32] = "";
	const struct ferry_policy_ops *p = c->mgr.policy;
	struct explanation *x;
	int r;

	if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, container, sizeof(container), err)) < 0)
		return r;
	if (ferry_tlv_find(l, FERRY_TAG_POLICY)) {
		if ((r = ferry_tlv_get_str(l, FERRY_TAG_POLICY, name, sizeof(name), err)) < 0)
			return r;
		if (!(p = ferry_policy_find(name, err)))
			return -EINVAL;
	}
	if (!p)
		return ferry_err_set(err, -EINVAL, "this controller has no policy configured; name one with --policy");
	if (!(x = malloc(sizeof(*x))))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	r = explain(c, p, container, x, err);
	r = r ? r : ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_POLICY, x->policy);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_CONTAINER, x->container);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_SOURCE, x->source);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_MEMORY, x->need_memory);
	r = r ? r
	      : ferry_tlv_add_str(out, FERRY_TAG_NOTE,
	                          x->from_file ? "layout and latencies from the topology file"
	                                       : "no topology file: every enrolled node on one switch");
	for (unsigned i = 0; r == 0 && i < x->n_rows; i++)
		r = add_row(out, &x->rows[i], i + 1);
	free(x);
	return r;
}

static int add_decision(struct ferry_buf *out, const struct ferry_decision_rec *d)
{
	struct ferry_buf rec = FERRY_BUF_INIT(FERRY_DECISION_INPUTS_MAX + 1024);
	int r = ferry_tlv_add_u64(&rec, FERRY_TAG_SEQ, d->id);

	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_TIME, d->at);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_POLICY, d->policy);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_CONTAINER, d->container);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_SOURCE, d->source);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_DEST, d->dest);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_ACTION, d->action);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_DETAIL, d->detail);
	if (r == 0 && d->migration)
		r = ferry_tlv_add_u64(&rec, FERRY_TAG_MIGRATION, d->migration);
	if (r == 0 && d->inputs[0])
		r = ferry_tlv_add(&rec, FERRY_TAG_DATA, d->inputs, strlen(d->inputs));
	r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
	ferry_buf_free(&rec);
	return r;
}

#define DECISIONS_LIST_MAX 100

int api_policy(struct controller *c, unsigned op, const struct ferry_tlv_list *l, struct ferry_buf *out,
               struct ferry_err *err)
{
	struct ferry_decision_rec *ds;
	uint64_t id = 0;
	int n, r;

	if (op == FERRY_OP_POLICY_EXPLAIN)
		return api_explain(c, l, out, err);
	if (ferry_tlv_find(l, FERRY_TAG_SEQ) && (r = ferry_tlv_get_u64(l, FERRY_TAG_SEQ, &id, err)) < 0)
		return r;
	if (!(ds = calloc(id ? 1 : DECISIONS_LIST_MAX, sizeof(*ds))))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if (id)
		n = r = ferry_store_decision_get(&c->st.reg, id, ds, err) < 0 ? -ENOENT : 1;
	else
		n = r = ferry_store_decisions(&c->st.reg, ds, DECISIONS_LIST_MAX, false, err);
	if (r >= 0)
		r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	for (int i = 0; r == 0 && i < n; i++)
		r = add_decision(out, &ds[i]);
	if (r > 0 || r == -E2BIG)
		r = ferry_err_set(err, -E2BIG, "the decisions do not fit one frame");
	free(ds);
	return r == -ENOENT && !err->msg[0] ? ferry_err_set(err, -ENOENT, "no decision %llu", (unsigned long long)id)
	                                    : r;
}
