/* SPDX-License-Identifier: GPL-2.0-or-later */
/* least-loaded: the host with the most idle CPU; ties go to the most free memory. */
#include "ferry/policy.h"

static int score(const struct ferry_net *net, unsigned source, struct ferry_candidate *c, unsigned n,
                 struct ferry_err *err)
{
	for (unsigned i = 0; i < n; i++) {
		const struct ferry_net_vertex *v = &net->v[c[i].host];

		c[i].score = (1.0 - v->load) + (double)(v->mem_free >> 20) * 1e-12;
	}
	return 0;
}

const struct ferry_policy_ops ferry_policy_least_loaded = {
	.name = "least-loaded",
	.summary = "the lowest CPU load, then the most free memory",
	.score = score,
};
