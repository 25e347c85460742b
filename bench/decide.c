/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench/decide: how long one placement decision takes over a generated
 * network, and how that grows with its size.  Run through bench/decide.
 *
 * Each network: switches in a tree (each switch below a random earlier
 * one) plus one cross link per ten switches, hosts on random switches;
 * capacities of 100 Mbit/s to 10 Gbit/s, latencies of 50 to 2000 us.
 * Before every decision the "live measurements" change: every link's
 * measured use and every host's load get new values, so nothing can be
 * kept from one decision to the next.  A decision is one ferry_policy_rank()
 * from a random source host with each policy.  The baseline, measured in
 * the same run: the same ranking with one path search per candidate
 * instead of one search for all of them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/policy.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL; /* fixed: every run measures the same networks */

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int build(struct ferry_net *net, unsigned hosts, unsigned switches)
{
	static const uint64_t caps[] = { 100000000ULL, 1000000000ULL, 10000000000ULL };
	char name[32];

	if (ferry_net_init(net, hosts + switches, hosts + switches + switches / 10 + 1, NULL) < 0)
		return -1;
	for (unsigned i = 0; i < switches; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		if (ferry_net_add_switch(net, name, NULL) < 0 ||
		    (i && ferry_net_add_link(net, i, (unsigned)(next() % i), caps[next() % 3], 0,
		                             (uint32_t)(50 + next() % 1950), next() % 2, NULL) < 0))
			return -1;
	}
	for (unsigned i = 0; i < switches / 10; i++) {
		unsigned a = (unsigned)(next() % switches), b = (unsigned)(next() % switches);

		if (a != b &&
		    ferry_net_add_link(net, a, b, caps[next() % 3], 0, (uint32_t)(50 + next() % 1950), true, NULL) < 0)
			return -1;
	}
	for (unsigned i = 0; i < hosts; i++) {
		int h;

		snprintf(name, sizeof(name), "h%u", i);
		if ((h = ferry_net_add_host(net, name, 0, 8ULL << 30, true, NULL)) < 0 ||
		    ferry_net_add_link(net, (unsigned)h, (unsigned)(next() % switches), 10000000000ULL, 0, 20, true,
		                       NULL) < 0)
			return -1;
	}
	return ferry_net_finish(net, NULL);
}

/* New live measurements: every link's use, every host's load. */
static void measure(struct ferry_net *net)
{
	for (unsigned i = 0; i < net->n_e; i++)
		net->e[i].used = next() % net->e[i].capacity;
	for (unsigned i = 0; i < net->n_v; i++)
		if (net->v[i].kind == FERRY_VERTEX_HOST)
			net->v[i].load = (double)(next() % 1000) / 1000.0;
}

static unsigned random_host(const struct ferry_net *net)
{
	for (;;) {
		unsigned i = (unsigned)(next() % net->n_v);

		if (net->v[i].kind == FERRY_VERTEX_HOST)
			return i;
	}
}

/* The baseline: what a decision costs with one search per candidate. */
static double baseline_once(const struct ferry_net *net, unsigned src, struct ferry_path *paths)
{
	double t0 = now_ms(), best = -1;

	for (unsigned i = 0; i < net->n_v; i++) {
		if (i == src || net->v[i].kind != FERRY_VERTEX_HOST)
			continue;
		ferry_net_widest_paths(net, src, paths, NULL);
		if ((double)paths[i].bottleneck > best)
			best = (double)paths[i].bottleneck;
	}
	return now_ms() - t0;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const unsigned sizes[][2] = { { 100, 20 }, { 250, 50 }, { 500, 100 }, { 1000, 200 }, { 2000, 400 } };
	static const struct ferry_policy_ops *const policies[] = { &ferry_policy_bandwidth, &ferry_policy_shortest_path,
		                                                   &ferry_policy_least_loaded, &ferry_policy_random };
	const unsigned decisions = 200, baseline_runs = 3;
	bool first = true;

	(void)argc;
	(void)argv;
	printf("[");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		unsigned hosts = sizes[s][0], switches = sizes[s][1];
		struct ferry_net net;
		struct ferry_candidate *c = malloc((hosts + switches) * sizeof(*c));
		struct ferry_path *paths = malloc((hosts + switches) * sizeof(*paths));
		double *ms = malloc(decisions * sizeof(*ms)), base = 0;

		if (!c || !paths || !ms || build(&net, hosts, switches) < 0) {
			fprintf(stderr, "bench/decide: cannot build a network of %u hosts and %u switches\n", hosts,
			        switches);
			return 1;
		}
		for (unsigned k = 0; k < baseline_runs; k++) {
			measure(&net);
			base += baseline_once(&net, random_host(&net), paths) / baseline_runs;
		}
		for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
			for (unsigned k = 0; k < decisions; k++) {
				unsigned src = random_host(&net);
				double t0;

				measure(&net);
				t0 = now_ms();
				if (ferry_policy_rank(policies[p], &net, src, 1ULL << 30, c, hosts + switches, NULL) <=
				    0) {
					fprintf(stderr, "bench/decide: no decision from %s\n", net.v[src].name);
					return 1;
				}
				ms[k] = now_ms() - t0;
			}
			qsort(ms, decisions, sizeof(*ms), by_value);
			fprintf(
			    stderr,
			    "bench/decide: %u hosts, %u switches, %s: median %.3f ms, p99 %.3f ms (baseline %.1f ms)\n",
			    hosts, switches, policies[p]->name, ms[decisions / 2], ms[decisions * 99 / 100], base);
			printf("%s\n {\"hosts\": %u, \"switches\": %u, \"links\": %u, \"policy\": \"%s\", "
			       "\"decision_ms\": %.3f, "
			       "\"p99_ms\": %.3f, \"baseline_ms\": %.3f, \"ratio_to_baseline\": %.5f}",
			       first ? "" : ",", hosts, switches, net.n_e, policies[p]->name, ms[decisions / 2],
			       ms[decisions * 99 / 100], base, ms[decisions / 2] / base);
			first = false;
			if (hosts == 1000 && switches == 200)
				fprintf(stderr,
				        "bench/decide: target <= 10 ms per decision at 1000 hosts and 200 switches "
				        "(%s): %s\n",
				        policies[p]->name, ms[decisions / 2] <= 10 ? "met" : "NOT met");
		}
		ferry_net_free(&net);
		free(c);
		free(paths);
		free(ms);
	}
	printf("\n]\n");
	return 0;
}
