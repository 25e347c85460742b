/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The traffic view over a topology, the heavy-host detector, and the policies' network model. */
#include <errno.h>
#include <string.h>

#include "ferry/manager.h"

/* Mark the switches reachable from start without crossing link `cut`. */
static void side_of(const struct ferry_topology *t, unsigned start, unsigned cut, bool *side)
{
	unsigned stack[FERRY_TOPO_MAX_SWITCHES], n = 0;

	memset(side, 0, sizeof(bool) * FERRY_TOPO_MAX_SWITCHES);
	side[start] = true;
	stack[n++] = start;
	while (n) {
		unsigned s = stack[--n];

		for (unsigned i = 0; i < t->n_links; i++) {
			unsigned other;

			if (i == cut || (t->links[i].a != s && t->links[i].b != s))
				continue;
			other = t->links[i].a == s ? t->links[i].b : t->links[i].a;
			if (!side[other]) {
				side[other] = true;
				stack[n++] = other;
			}
		}
	}
}

/* The smaller of the bounds that are known (a side wholly measured), 0 with none. */
static double bound(bool known_sent, double sent, bool known_received, double received)
{
	if (known_sent && known_received)
		return sent < received ? sent : received;
	return known_sent ? sent : known_received ? received : 0;
}

void ferry_traffic_compute(const struct ferry_topology *t, struct ferry_traffic *tr)
{
	bool side_b[FERRY_TOPO_MAX_SWITCHES];

	memset(tr->link_ab, 0, sizeof(tr->link_ab));
	memset(tr->link_ba, 0, sizeof(tr->link_ba));
	memset(tr->aggregate, 0, sizeof(tr->aggregate));
	for (unsigned i = 0; i < t->n_links; i++) {
		double tx_a = 0, rx_a = 0, tx_b = 0, rx_b = 0;
		bool whole_a = true, whole_b = true;

		side_of(t, t->links[i].b, i, side_b);
		for (unsigned k = 0; k < t->n_nodes; k++) {
			bool b = side_b[t->nodes[k].sw];

			if (t->nodes[k].role == FERRY_NODE_CONTROLLER)
				continue;
			if (!tr->seen[k]) {
				*(b ? &whole_b : &whole_a) = false;
				continue;
			}
			*(b ? &tx_b : &tx_a) += tr->host_tx[k];
			*(b ? &rx_b : &rx_a) += tr->host_rx[k];
		}
		tr->link_ab[i] = bound(whole_a, tx_a, whole_b, rx_b);
		tr->link_ba[i] = bound(whole_b, tx_b, whole_a, rx_a);
	}
	/* Every bit enters a switch through exactly one of its ports. */
	for (unsigned k = 0; k < t->n_nodes; k++)
		if (tr->seen[k])
			tr->aggregate[t->nodes[k].sw] += tr->host_tx[k];
	for (unsigned i = 0; i < t->n_links; i++) {
		tr->aggregate[t->links[i].b] += tr->link_ab[i];
		tr->aggregate[t->links[i].a] += tr->link_ba[i];
	}
}

void ferry_detector_init(struct ferry_detector *d)
{
	memset(d, 0, sizeof(*d));
	d->candidate = d->heaviest_switch = d->busiest_host = -1;
}

/* The busiest movable host port on switch sw (bits/s into *ret_bps), or -1. */
static int busiest_on(const struct ferry_topology *t, const struct ferry_traffic *tr, unsigned sw, double *ret_bps)
{
	int best = -1;

	*ret_bps = 0;
	for (unsigned k = 0; k < t->n_nodes; k++) {
		double bps = tr->host_rx[k] + tr->host_tx[k];

		if (!tr->seen[k] || !tr->movable[k] || t->nodes[k].role != FERRY_NODE_HOST || t->nodes[k].sw != sw)
			continue;
		if (best < 0 || bps > *ret_bps) {
			*ret_bps = bps;
			best = (int)k;
		}
	}
	return best;
}

int ferry_detector_check(struct ferry_detector *d, const struct ferry_manager_config *m, const struct ferry_topology *t,
                         const struct ferry_traffic *tr)
{
	double cool = (double)m->aggregate_threshold * (100 - m->hysteresis_percent) / 100.0;
	int heaviest = -1, busiest = -1;
	double busiest_bps = 0;

	for (unsigned s = 0; s < t->n_switches; s++) {
		double agg = tr->aggregate[s], port_bps;
		bool grew = d->primed && agg - d->last_aggregate[s] > (double)m->aggregate_difference_threshold;
		int host;

		/* Hot above the threshold or on a sudden rise; cool only well below it (hysteresis). */
		if (agg > (double)m->aggregate_threshold || grew)
			d->hot[s] = true;
		else if (agg < cool)
			d->hot[s] = false;
		d->last_aggregate[s] = agg;
		if (!d->hot[s] || (heaviest >= 0 && agg <= tr->aggregate[heaviest]))
			continue;
		host = busiest_on(t, tr, s, &port_bps);
		if (host < 0 || port_bps < (double)m->port_threshold)
			continue;
		heaviest = (int)s;
		busiest = host;
		busiest_bps = port_bps;
	}
	d->primed = true;
	d->heaviest_switch = heaviest;
	d->busiest_host = busiest;
	d->busiest_bps = busiest_bps;
	if (busiest < 0) {
		d->candidate = -1;
		d->streak = 0;
		return -1;
	}
	d->streak = busiest == d->candidate ? d->streak + 1 : 1;
	d->candidate = busiest;
	if (d->streak < m->confirm_checks)
		return -1;
	d->streak = 0;
	return busiest;
}

static uint64_t bps(double v)
{
	return v > 0 ? (uint64_t)v : 0;
}

int ferry_manager_net(const struct ferry_topology *t, const struct ferry_traffic *tr,
                      const struct ferry_host_view *hosts, struct ferry_net *net, int *vertex_of, struct ferry_err *err)
{
	int r;

	if ((r = ferry_net_init(net, t->n_switches + t->n_nodes, t->n_links + t->n_nodes, err)) < 0)
		return r;
	for (unsigned s = 0; s < t->n_switches; s++)
		if ((r = ferry_net_add_switch(net, t->switches[s].name, err)) < 0)
			goto fail;
	for (unsigned k = 0; k < t->n_nodes; k++) {
		const struct ferry_topo_node *n = &t->nodes[k];
		const struct ferry_host_view *h = &hosts[k];
		int v;

		vertex_of[k] = -1;
		if (n->role != FERRY_NODE_HOST)
			continue; /* the controller and clients receive no containers and carry no paths */
		/* A host that does not answer stays in the model (paths cross switches, not hosts) but may not receive.
		 */
		v = ferry_net_add_host(net, n->name, h->known ? h->load : 1.0, h->known ? h->mem_free : 0,
		                       h->known && h->eligible, err);
		if (v < 0) {
			r = v;
			goto fail;
		}
		vertex_of[k] = v;
		/* host -> switch is what the host sends. */
		r = ferry_net_add_link_directed(
		    net, (unsigned)v, n->sw, n->rate_bps ? n->rate_bps : FERRY_MANAGER_UNSHAPED_BPS,
		    tr->seen[k] ? bps(tr->host_tx[k]) : 0, tr->seen[k] ? bps(tr->host_rx[k]) : 0,
		    n->latency_us ? n->latency_us : h->rtt_us / 2, !n->latency_us && (h->rtt_us || h->is_source), err);
		if (r < 0)
			goto fail;
	}
	for (unsigned i = 0; i < t->n_links; i++) {
		const struct ferry_topo_link *l = &t->links[i];

		r = ferry_net_add_link_directed(net, l->a, l->b, l->rate_bps ? l->rate_bps : FERRY_MANAGER_UNSHAPED_BPS,
		                                bps(tr->link_ab[i]), bps(tr->link_ba[i]), l->latency_us, false, err);
		if (r < 0)
			goto fail;
	}
	if ((r = ferry_net_finish(net, err)) < 0)
		goto fail;
	return 0;
fail:
	ferry_net_free(net);
	return r;
}
