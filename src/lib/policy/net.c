/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The network model and its two path searches.  Both are Dijkstra's
 * algorithm from the source host over a binary heap, one run for all
 * destinations: O((V + E) log V), about a millisecond for a thousand hosts.
 * The widest path maximises the smallest available bandwidth along the
 * way (the "bandwidth" policy's measure); the shortest minimises latency.
 * Hosts end paths, they never carry them: a host is not a router.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/parse.h"
#include "ferry/policy.h"

int ferry_net_init(struct ferry_net *net, unsigned max_vertices, unsigned max_links, struct ferry_err *err)
{
	memset(net, 0, sizeof(*net));
	if (max_vertices == 0 || max_vertices > FERRY_NET_VERTICES_MAX || max_links > FERRY_NET_LINKS_MAX)
		return ferry_err_set(err, -ERANGE,
		                     "a network of %u vertices and %u links is out of range; expected at "
		                     "most %u and %u",
		                     max_vertices, max_links, FERRY_NET_VERTICES_MAX, FERRY_NET_LINKS_MAX);
	net->v = calloc(max_vertices, sizeof(*net->v));
	net->e = calloc(max_links ? max_links : 1, sizeof(*net->e));
	if (!net->v || !net->e) {
		ferry_net_free(net);
		return ferry_err_set(err, -ENOMEM, "out of memory");
	}
	net->max_v = max_vertices;
	net->max_e = max_links;
	return 0;
}

void ferry_net_free(struct ferry_net *net)
{
	if (!net)
		return;
	free(net->v);
	free(net->e);
	free(net->adj_start);
	free(net->adj);
	memset(net, 0, sizeof(*net));
}

int ferry_net_find(const struct ferry_net *net, const char *name)
{
	for (unsigned i = 0; i < net->n_v; i++)
		if (strcmp(net->v[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

static int add_vertex(struct ferry_net *net, const char *name, enum ferry_vertex_kind kind, struct ferry_err *err)
{
	struct ferry_net_vertex *v;
	int r;

	if (net->adj)
		return ferry_err_set(err, -EBUSY, "the network is finished: no vertex can be added");
	if ((r = ferry_check_name(name, FERRY_NODE_NAME_MAX, kind == FERRY_VERTEX_HOST ? "host" : "switch", err)) < 0)
		return r;
	if (net->n_v == net->max_v)
		return ferry_err_set(err, -ENOSPC, "the network has room for %u vertices", net->max_v);
	if (ferry_net_find(net, name) >= 0)
		return ferry_err_set(err, -EEXIST, "'%s' is in the network twice", name);
	v = &net->v[net->n_v];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->kind = kind;
	return (int)net->n_v++;
}

int ferry_net_add_switch(struct ferry_net *net, const char *name, struct ferry_err *err)
{
	return add_vertex(net, name, FERRY_VERTEX_SWITCH, err);
}

int ferry_net_add_host(struct ferry_net *net, const char *name, double load, uint64_t mem_free, bool eligible,
                       struct ferry_err *err)
{
	int i;

	if (!(load >= 0 && load <= 1))
		return ferry_err_set(err, -ERANGE, "the load of host '%s' is out of range; expected 0 to 1", name);
	if ((i = add_vertex(net, name, FERRY_VERTEX_HOST, err)) < 0)
		return i;
	net->v[i].load = load;
	net->v[i].mem_free = mem_free;
	net->v[i].eligible = eligible;
	return i;
}

int ferry_net_add_link(struct ferry_net *net, unsigned a, unsigned b, uint64_t capacity, uint64_t used,
                       uint32_t latency_us, bool latency_measured, struct ferry_err *err)
{
	return ferry_net_add_link_directed(net, a, b, capacity, used, used, latency_us, latency_measured, err);
}

int ferry_net_add_link_directed(struct ferry_net *net, unsigned a, unsigned b, uint64_t capacity, uint64_t used_ab,
                                uint64_t used_ba, uint32_t latency_us, bool latency_measured, struct ferry_err *err)
{
	if (net->adj)
		return ferry_err_set(err, -EBUSY, "the network is finished: no link can be added");
	if (a >= net->n_v || b >= net->n_v || a == b)
		return ferry_err_set(err, -EINVAL, "a link needs two different known vertices");
	if (capacity == 0)
		return ferry_err_set(err, -EINVAL, "the link %s-%s has no capacity", net->v[a].name, net->v[b].name);
	if (net->n_e == net->max_e)
		return ferry_err_set(err, -ENOSPC, "the network has room for %u links", net->max_e);
	net->e[net->n_e++] = (struct ferry_net_link){ .a = a,
		                                      .b = b,
		                                      .capacity = capacity,
		                                      .used = used_ab,
		                                      .used_rev = used_ba,
		                                      .latency_us = latency_us,
		                                      .latency_measured = latency_measured };
	return 0;
}

int ferry_net_finish(struct ferry_net *net, struct ferry_err *err)
{
	unsigned *fill;

	if (net->adj)
		return 0;
	net->adj_start = calloc(net->n_v + 1, sizeof(*net->adj_start));
	net->adj = calloc(2 * (size_t)net->n_e + 1, sizeof(*net->adj));
	fill = calloc(net->n_v + 1, sizeof(*fill));
	if (!net->adj_start || !net->adj || !fill) {
		free(fill);
		free(net->adj_start);
		free(net->adj);
		net->adj_start = net->adj = NULL;
		return ferry_err_set(err, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < net->n_e; i++) {
		net->adj_start[net->e[i].a + 1]++;
		net->adj_start[net->e[i].b + 1]++;
	}
	for (unsigned i = 0; i < net->n_v; i++)
		net->adj_start[i + 1] += net->adj_start[i];
	for (unsigned i = 0; i < net->n_e; i++) {
		net->adj[net->adj_start[net->e[i].a] + fill[net->e[i].a]++] = i;
		net->adj[net->adj_start[net->e[i].b] + fill[net->e[i].b]++] = i;
	}
	free(fill);
	return 0;
}

/* ---- a binary heap of (key, vertex), smallest key first ---- */

struct heap {
	struct item {
		uint64_t key, tie;
		unsigned v;
	} * items;
	unsigned n;
};

static bool before(const struct item *x, const struct item *y)
{
	return x->key < y->key || (x->key == y->key && x->tie < y->tie);
}

static void heap_push(struct heap *h, uint64_t key, uint64_t tie, unsigned v)
{
	unsigned i = h->n++;

	h->items[i] = (struct item){ key, tie, v };
	while (i > 0 && before(&h->items[i], &h->items[(i - 1) / 2])) {
		struct item t = h->items[i];

		h->items[i] = h->items[(i - 1) / 2];
		h->items[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct item heap_pop(struct heap *h)
{
	struct item top = h->items[0];
	unsigned i = 0;

	h->items[0] = h->items[--h->n];
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && before(&h->items[l], &h->items[m]))
			m = l;
		if (r < h->n && before(&h->items[r], &h->items[m]))
			m = r;
		if (m == i)
			break;
		struct item t = h->items[i];

		h->items[i] = h->items[m];
		h->items[m] = t;
		i = m;
	}
	return top;
}

/* What is left of the link for traffic leaving from vertex `from`. */
static uint64_t available(const struct ferry_net_link *l, unsigned from)
{
	uint64_t used = l->a == from ? l->used : l->used_rev;

	return l->capacity > used ? l->capacity - used : 0;
}

/*
 * One search.  widest: the key is the bandwidth (negated so that the heap's
 * smallest is the widest), ties broken by latency; else the key is latency,
 * ties broken by bandwidth (negated).
 */
static int search(const struct ferry_net *net, unsigned src, bool widest, struct ferry_path *out, struct ferry_err *err)
{
	struct heap h = { 0 };
	bool *done;

	if (!net->adj)
		return ferry_err_set(err, -EINVAL, "the network is not finished");
	if (src >= net->n_v || net->v[src].kind != FERRY_VERTEX_HOST)
		return ferry_err_set(err, -EINVAL, "a path starts at a host");
	/* Each link can improve one end once per pop: at most 2E + 1 entries. */
	h.items = malloc((2 * (size_t)net->n_e + 1) * sizeof(*h.items));
	done = calloc(net->n_v, sizeof(*done));
	if (!h.items || !done) {
		free(h.items);
		free(done);
		return ferry_err_set(err, -ENOMEM, "out of memory");
	}
	memset(out, 0, net->n_v * sizeof(*out));
	out[src] = (struct ferry_path){ .reachable = true, .bottleneck = UINT64_MAX, .latency_measured = true };
	heap_push(&h, 0, 0, src);
	while (h.n) {
		struct item it = heap_pop(&h);
		unsigned u = it.v;

		if (done[u])
			continue;
		done[u] = true;
		if (u != src && net->v[u].kind == FERRY_VERTEX_HOST)
			continue; /* a host ends a path */
		for (unsigned k = net->adj_start[u]; k < net->adj_start[u + 1]; k++) {
			const struct ferry_net_link *l = &net->e[net->adj[k]];
			unsigned w = l->a == u ? l->b : l->a;
			uint64_t left = available(l, u), bw = left < out[u].bottleneck ? left : out[u].bottleneck,
			         lat = out[u].latency_us + l->latency_us;
			bool better;

			if (done[w])
				continue;
			if (!out[w].reachable)
				better = true;
			else if (widest)
				better = bw > out[w].bottleneck || (bw == out[w].bottleneck && lat < out[w].latency_us);
			else
				better =
				    lat < out[w].latency_us || (lat == out[w].latency_us && bw > out[w].bottleneck);
			if (!better)
				continue;
			out[w] =
			    (struct ferry_path){ .reachable = true,
				                 .bottleneck = bw,
				                 .latency_us = lat,
				                 .latency_measured = out[u].latency_measured && l->latency_measured,
				                 .hops = out[u].hops + 1 };
			if (widest)
				heap_push(&h, UINT64_MAX - bw, lat, w);
			else
				heap_push(&h, lat, UINT64_MAX - bw, w);
		}
	}
	free(h.items);
	free(done);
	return 0;
}

int ferry_net_widest_paths(const struct ferry_net *net, unsigned src, struct ferry_path *out, struct ferry_err *err)
{
	return search(net, src, true, out, err);
}

int ferry_net_shortest_paths(const struct ferry_net *net, unsigned src, struct ferry_path *out, struct ferry_err *err)
{
	return search(net, src, false, out, err);
}
