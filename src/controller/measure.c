/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager's measurement: every enrolled node answers NODE_STATS with
 * raw counters; rates are the differences between two samples over the
 * node's own clock, so a delayed answer does not inflate them.  Hosts on a
 * hot switch are sampled at the customized frequency (the thesis' second
 * mode) until their switch cools.  Every sample goes to the time series.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_PREFIX "manager"
#include "controller.h"
#include "ferry/clock.h"
#include "ferry/fs.h"
#include "ferry/log.h"
#include "manager.h"

#define STATS_CALL_MS 3000

int manager_init(struct controller *c, const struct ferry_manager_config *cfg, struct ferry_err *err)
{
	struct manager *m = &c->mgr;
	struct ferry_buf text = FERRY_BUF_INIT(FERRY_TOPO_FILE_MAX);
	int r = 0;

	m->cfg = *cfg;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	ferry_detector_init(&m->det);
	if (!(m->topo = calloc(1, sizeof(*m->topo))))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if (cfg->policy[0] && !(m->policy = ferry_policy_find(cfg->policy, err)))
		return -ENOENT;
	if (!cfg->topology[0])
		return 0;
	if (!(m->file_topo = calloc(1, sizeof(*m->file_topo))))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_read_file(cfg->topology, FERRY_TOPO_FILE_MAX, &text, err)) == 0)
		r = ferry_topology_parse(text.data ? text.data : "", text.len, m->file_topo, err);
	if (r < 0)
		ferry_err_wrap(err, "topology %s", cfg->topology);
	ferry_buf_free(&text);
	return r;
}

void manager_free(struct controller *c)
{
	free(c->mgr.file_topo);
	free(c->mgr.topo);
	c->mgr.file_topo = c->mgr.topo = NULL;
}

int manager_layout(struct controller *c, struct ferry_topology *t, struct ferry_err *err)
{
	struct ferry_registry_node *ns;
	uint64_t version;
	int n;

	if (c->mgr.file_topo) {
		*t = *c->mgr.file_topo;
		return 0;
	}
	if (!(ns = calloc(MAX_NODES, sizeof(*ns))))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	memset(t, 0, sizeof(*t));
	snprintf(t->switches[0].name, sizeof(t->switches[0].name), "default");
	t->n_switches = 1;
	n = ferry_registry_nodes(&c->st.reg, ns, MAX_NODES, &version, err);
	for (int i = 0; i < n && t->n_nodes < FERRY_TOPO_MAX_NODES; i++) {
		struct ferry_topo_node *node = &t->nodes[t->n_nodes++];

		snprintf(node->name, sizeof(node->name), "%s", ns[i].name);
		node->role = FERRY_NODE_HOST;
	}
	free(ns);
	return n < 0 ? n : 0;
}

/* The entry of this node, made if new (NULL when the table is full).  Lock held. */
static struct host_meas *host_slot(struct manager *m, const char *node)
{
	for (unsigned i = 0; i < m->n_hosts; i++)
		if (strcmp(m->hosts[i].name, node) == 0)
			return &m->hosts[i];
	if (m->n_hosts == MGR_HOSTS)
		return NULL;
	memset(&m->hosts[m->n_hosts], 0, sizeof(m->hosts[0]));
	snprintf(m->hosts[m->n_hosts].name, sizeof(m->hosts[0].name), "%s", node);
	return &m->hosts[m->n_hosts++];
}

/* bits/s between two counter readings dt_ms apart; a counter that went back (reset) gives no rate. */
static bool rate(uint64_t now, uint64_t before, uint64_t dt_ms, double *ret)
{
	if (now < before || dt_ms == 0)
		return false;
	*ret = (double)(now - before) * 8.0 * 1000.0 / (double)dt_ms;
	return true;
}

struct stats {
	uint64_t node_ms, busy, total, mem, running, rx, tx;
	bool have_port, probed;
	char iface[IFNAMSIZ];
	struct ct_meas cts[MGR_CTS];
	unsigned n_cts;
	struct peer_rtt rtt[MGR_HOSTS];
	unsigned n_rtt;
};

static int read_stats(const struct ferry_tlv_list *l, struct stats *s, struct ferry_err *err)
{
	struct ferry_tlv_list *rl = malloc(sizeof(*rl));
	int r;

	memset(s, 0, sizeof(*s));
	if (!rl)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_tlv_get_u64(l, FERRY_TAG_TIME_MS, &s->node_ms, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_CPU_BUSY, &s->busy, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_CPU_TOTAL, &s->total, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_MEMORY, &s->mem, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_COUNT, &s->running, err)) < 0)
		goto out;
	if (ferry_tlv_find(l, FERRY_TAG_IFACE)) {
		if ((r = ferry_tlv_get_str(l, FERRY_TAG_IFACE, s->iface, sizeof(s->iface), err)) < 0 ||
		    (r = ferry_tlv_get_u64(l, FERRY_TAG_RX_BYTES, &s->rx, err)) < 0 ||
		    (r = ferry_tlv_get_u64(l, FERRY_TAG_TX_BYTES, &s->tx, err)) < 0)
			goto out;
		s->have_port = true;
	}
	for (unsigned i = 0; i < l->n; i++) {
		struct ct_meas *ct = &s->cts[s->n_cts];
		struct peer_rtt *p = &s->rtt[s->n_rtt];
		uint64_t us;

		if (l->items[i].tag != FERRY_TAG_RECORD ||
		    ferry_tlv_parse(l->items[i].value, l->items[i].len, rl, NULL) < 0)
			continue;
		/* A container's counters, or a round trip to a peer. */
		if (s->n_cts < MGR_CTS && ferry_tlv_find(rl, FERRY_TAG_CONTAINER)) {
			if (ferry_tlv_get_str(rl, FERRY_TAG_CONTAINER, ct->name, sizeof(ct->name), NULL) == 0 &&
			    ferry_tlv_get_u64(rl, FERRY_TAG_RX_BYTES, &ct->rx, NULL) == 0 &&
			    ferry_tlv_get_u64(rl, FERRY_TAG_TX_BYTES, &ct->tx, NULL) == 0)
				s->n_cts++;
		} else if (s->n_rtt < MGR_HOSTS && ferry_tlv_find(rl, FERRY_TAG_NODE)) {
			if (ferry_tlv_get_str(rl, FERRY_TAG_NODE, p->name, sizeof(p->name), NULL) == 0 &&
			    ferry_tlv_get_u64(rl, FERRY_TAG_LATENCY_US, &us, NULL) == 0 && us > 0 && us < 10000000) {
				p->rtt_us = (uint32_t)us;
				s->n_rtt++;
			}
		}
	}
	r = 0;
out:
	free(rl);
	return r;
}

/* Fold a sample into the host's measurement.  Lock held. */
static void fold(struct host_meas *h, const struct stats *s, long long now)
{
	uint64_t dt = h->have_prev && s->node_ms > h->node_ms ? s->node_ms - h->node_ms : 0;
	struct ct_meas cts[MGR_CTS];

	h->have_rate = false;
	if (dt && s->have_port && rate(s->rx, h->rx, dt, &h->rx_bps) && rate(s->tx, h->tx, dt, &h->tx_bps))
		h->have_rate = true;
	h->cpu = dt && s->total > h->total && s->busy >= h->busy
	             ? (double)(s->busy - h->busy) / (double)(s->total - h->total)
	             : h->cpu;
	/* Containers keep their rates by name; one that arrived since has none yet. */
	for (unsigned i = 0; i < s->n_cts; i++) {
		cts[i] = s->cts[i];
		for (unsigned k = 0; dt && k < h->n_cts; k++)
			if (strcmp(h->cts[k].name, cts[i].name) == 0 &&
			    rate(cts[i].rx, h->cts[k].rx, dt, &cts[i].rx_bps))
				rate(cts[i].tx, h->cts[k].tx, dt, &cts[i].tx_bps);
	}
	memcpy(h->cts, cts, s->n_cts * sizeof(cts[0]));
	h->n_cts = s->n_cts;
	/* Round trips are kept between probes, each with its own time. */
	for (unsigned i = 0; i < s->n_rtt; i++) {
		unsigned k = 0;

		while (k < h->n_rtt && strcmp(h->rtt[k].name, s->rtt[i].name) != 0)
			k++;
		if (k == h->n_rtt) {
			if (h->n_rtt == MGR_HOSTS)
				continue;
			h->n_rtt++;
		}
		h->rtt[k] = s->rtt[i];
		h->rtt[k].at_ms = now;
	}
	if (s->probed)
		h->probed_ms = now;
	h->have_prev = true;
	h->node_ms = s->node_ms;
	h->rx = s->rx;
	h->tx = s->tx;
	h->busy = s->busy;
	h->total = s->total;
	h->mem_free = s->mem;
	h->running = s->running;
	snprintf(h->iface, sizeof(h->iface), "%s", s->iface);
	h->sampled_ms = now;
}

/* Probe targets: every other node, by the address it enrolled with ("a.b.c.d:port"). */
static int add_targets(struct ferry_buf *req, const char *node, const struct ferry_registry_node *peers, int n)
{
	int r = 0;

	for (int i = 0; r == 0 && i < n; i++) {
		struct ferry_buf rec = FERRY_BUF_INIT(128);
		char host[20];
		size_t len = strcspn(peers[i].address, ":");

		if (strcmp(peers[i].name, node) == 0 || len == 0 || len >= sizeof(host))
			continue;
		snprintf(host, sizeof(host), "%.*s", (int)len, peers[i].address);
		r = ferry_tlv_add_str(&rec, FERRY_TAG_NODE, peers[i].name);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_ADDRESS, host);
		r = r ? r : ferry_tlv_add(req, FERRY_TAG_RECORD, rec.data, rec.len);
		ferry_buf_free(&rec);
	}
	return r;
}

int manager_sample(struct controller *c, const char *node, const struct ferry_registry_node *peers, int n,
                   struct ferry_err *err)
{
	struct manager *m = &c->mgr;
	struct ferry_buf req = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct stats *s = malloc(sizeof(*s));
	struct ferry_host_sample row = { 0 };
	struct host_meas *h;
	bool store = false;
	int r;

	if (!l || !s) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_NODE_STATS);
	if (r == 0 && peers)
		r = add_targets(&req, node, peers, n);
	if (r < 0)
		ferry_err_set(err, r, "the request does not fit one frame");
	r = r ? r : node_call(c, node, &req, &resp, l, STATS_CALL_MS, err);
	if (r == 0)
		r = read_stats(l, s, err);
	if (r == 0)
		s->probed = peers != NULL;
	pthread_mutex_lock(&m->lock);
	if ((h = host_slot(m, node)) && (r < 0) != h->failing) {
		h->failing = r < 0;
		if (r < 0)
			log_warn("node '%s' gives no measurement: %s", node, err->msg);
		else
			log_info("node '%s' gives measurements again", node);
	}
	if (r < 0) {
		pthread_mutex_unlock(&m->lock);
		goto out;
	}
	if (h) {
		fold(h, s, ferry_now_ms());
		if (h->have_rate) {
			row = (struct ferry_host_sample){ .at_ms = ferry_wall_ms(),
				                          .rx_bps = h->rx_bps,
				                          .tx_bps = h->tx_bps,
				                          .cpu = h->cpu,
				                          .mem_free = h->mem_free,
				                          .containers = h->running };
			snprintf(row.node, sizeof(row.node), "%s", node);
			store = true;
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (store && ferry_store_host_sample_add(&c->st.reg, &row, err) < 0)
		log_warn("cannot store a sample of '%s': %s", node, err->msg);
	for (unsigned i = 0; i < s->n_rtt; i++)
		if (ferry_store_rtt_sample_add(&c->st.reg, ferry_wall_ms(), node, s->rtt[i].name, s->rtt[i].rtt_us,
		                               err) < 0)
			log_warn("cannot store a round trip of '%s': %s", node, err->msg);
out:
	free(l);
	free(s);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

bool manager_host(struct controller *c, const char *node, struct host_meas *ret)
{
	bool found = false;

	pthread_mutex_lock(&c->mgr.lock);
	for (unsigned i = 0; i < c->mgr.n_hosts && !found; i++)
		if (strcmp(c->mgr.hosts[i].name, node) == 0) {
			*ret = c->mgr.hosts[i];
			found = true;
		}
	pthread_mutex_unlock(&c->mgr.lock);
	return found;
}

uint32_t manager_rtt(struct controller *c, const char *a, const char *b)
{
	struct manager *m = &c->mgr;
	long long now = ferry_now_ms(), stale = (long long)m->cfg.probe_ms * MGR_STALE_RUNS;
	uint32_t rtt = 0;

	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < m->n_hosts; i++) {
		const struct host_meas *h = &m->hosts[i];
		const char *other = strcmp(h->name, a) == 0 ? b : strcmp(h->name, b) == 0 ? a : NULL;

		for (unsigned k = 0; other && k < h->n_rtt; k++)
			if (strcmp(h->rtt[k].name, other) == 0 && (!m->running || now - h->rtt[k].at_ms <= stale) &&
			    (rtt == 0 || h->rtt[k].rtt_us < rtt))
				rtt = h->rtt[k].rtt_us;
	}
	pthread_mutex_unlock(&m->lock);
	return rtt;
}

bool manager_fresh(const struct manager *m, const struct host_meas *h, long long now)
{
	return h->have_prev && now - h->sampled_ms <= (long long)m->cfg.sample_ms * MGR_STALE_RUNS;
}

/* Whether node sits on a switch the detector found hot (sampled at the customized frequency).  Lock held. */
static bool on_hot_switch(const struct manager *m, const char *node)
{
	int k = ferry_topology_find_node(m->topo, node);

	return k >= 0 && m->det.hot[m->topo->nodes[k].sw];
}

void *manager_loop(void *arg)
{
	struct controller *c = arg;
	struct manager *m = &c->mgr;
	struct ferry_registry_node *ns = calloc(MAX_NODES, sizeof(*ns));
	long long next_check = ferry_now_ms() + m->cfg.check_ms;
	uint64_t version;

	if (!ns)
		return NULL;
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		long long now = ferry_now_ms(), wake = next_check;
		struct timespec until;
		int n;

		pthread_mutex_unlock(&m->lock);
		n = ferry_registry_nodes(&c->st.reg, ns, MAX_NODES, &version, NULL);
		for (int i = 0; i < n; i++) {
			struct host_meas h = { 0 };
			struct ferry_err err = { 0 };
			bool known = manager_host(c, ns[i].name, &h);
			bool fast;

			if (known && h.next_ms > now) {
				wake = h.next_ms < wake ? h.next_ms : wake;
				continue;
			}
			/* Round trips every probe_interval_ms: ICMP to every other node, all at once. */
			bool probe = m->cfg.probe_ms && (!known || now - h.probed_ms >= (long long)m->cfg.probe_ms);

			if (manager_sample(c, ns[i].name, probe ? ns : NULL, n, &err) < 0)
				log_debug("no sample of '%s': %s", ns[i].name, err.msg);
			pthread_mutex_lock(&m->lock);
			fast = on_hot_switch(m, ns[i].name);
			for (unsigned k = 0; k < m->n_hosts; k++)
				if (strcmp(m->hosts[k].name, ns[i].name) == 0)
					m->hosts[k].next_ms = now + (fast ? m->cfg.fast_sample_ms : m->cfg.sample_ms);
			pthread_mutex_unlock(&m->lock);
			/* A node that never answered has no slot: it is asked again at the default frequency. */
			wake = now + (long long)m->cfg.fast_sample_ms < wake ? now + (long long)m->cfg.fast_sample_ms
			                                                     : wake;
		}
		if (ferry_now_ms() >= next_check) {
			manager_check(c);
			next_check = ferry_now_ms() + m->cfg.check_ms;
			wake = wake < next_check ? wake : next_check;
		}
		pthread_mutex_lock(&m->lock);
		if (m->stop)
			break;
		now = ferry_now_ms();
		if (wake > now) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += (wake - now) / 1000;
			until.tv_nsec += ((wake - now) % 1000) * 1000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&m->wake, &m->lock, &until);
		}
	}
	pthread_mutex_unlock(&m->lock);
	free(ns);
	return NULL;
}

int manager_start(struct controller *c, struct ferry_err *err)
{
	struct manager *m = &c->mgr;

	if (!m->policy)
		return 0;
	if (pthread_create(&m->thread, NULL, manager_loop, c) != 0)
		return ferry_err_set(err, -EAGAIN, "cannot start the migration manager");
	m->running = true;
	log_info("migration manager: policy %s%s, sampling every %u ms (%u ms on hot switches), checking every %u ms, "
	         "layout from %s",
	         m->policy->name, m->cfg.dry_run ? " (dry run: decides, moves nothing)" : "", m->cfg.sample_ms,
	         m->cfg.fast_sample_ms, m->cfg.check_ms, m->file_topo ? m->cfg.topology : "the enrolled nodes");
	return 0;
}

void manager_stop(struct controller *c)
{
	struct manager *m = &c->mgr;

	if (!m->running)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	/* A migration the loop started finishes (or fails and resumes its source) before the controller goes. */
	if (m->have_mover) {
		pthread_join(m->mover, NULL);
		m->have_mover = false;
	}
	m->running = false;
}
