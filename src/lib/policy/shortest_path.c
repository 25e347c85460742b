/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shortest-path: the host at the lowest path latency from the source
 * (thesis 001, §6.1: the fewest hops, weighted by what each link costs).
 * Latencies are measured where probes ran, else the topology file's.
 */
#include <errno.h>
#include <stdlib.h>

#include "ferry/policy.h"

static int score(const struct ferry_net *net, unsigned source, struct ferry_candidate *c, unsigned n,
                 struct ferry_err *err)
{
	struct ferry_path *paths = calloc(net->n_v, sizeof(*paths));
	int r;

	if (!paths)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_net_shortest_paths(net, source, paths, err)) == 0)
		for (unsigned i = 0; i < n; i++) {
			/* The path this policy would take, with its own bottleneck, explains the choice. */
			c[i].path = paths[c[i].host];
			c[i].score = -(double)paths[c[i].host].latency_us;
		}
	free(paths);
	return r;
}

const struct ferry_policy_ops ferry_policy_shortest_path = {
	.name = "shortest-path",
	.summary = "the lowest path latency",
	.score = score,
};
