/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Choosing a policy by name, and one ranking of the candidates with it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/policy.h"

static const struct ferry_policy_ops *const policies[] = {
	&ferry_policy_random,
	&ferry_policy_bandwidth,
	&ferry_policy_shortest_path,
	&ferry_policy_least_loaded,
};

#define N_POLICIES (sizeof(policies) / sizeof(policies[0]))

const struct ferry_policy_ops *ferry_policy_find(const char *name, struct ferry_err *err)
{
	char names[128];
	size_t n = 0;

	for (size_t i = 0; i < N_POLICIES; i++)
		if (strcmp(policies[i]->name, name) == 0)
			return policies[i];
	names[0] = '\0';
	for (size_t i = 0; i < N_POLICIES; i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "", policies[i]->name);
	ferry_err_set(err, -ENOENT, "unknown policy '%s'; expected one of %s", name, names);
	return NULL;
}

static int by_score(const void *a, const void *b)
{
	const struct ferry_candidate *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->host < y->host ? -1 : x->host > y->host; /* stable: the same inputs, the same answer */
}

int ferry_policy_rank(const struct ferry_policy_ops *p, const struct ferry_net *net, unsigned source,
                      uint64_t need_memory, struct ferry_candidate *out, unsigned max, struct ferry_err *err)
{
	struct ferry_path *paths = calloc(net->n_v ? net->n_v : 1, sizeof(*paths));
	struct ferry_candidate *all = calloc(net->n_v ? net->n_v : 1, sizeof(*all));
	unsigned n = 0;
	int r;

	if (!paths || !all) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Bandwidth and latency are part of every explanation, whichever the policy weighs. */
	if ((r = ferry_net_widest_paths(net, source, paths, err)) < 0)
		goto out;
	for (unsigned i = 0; i < net->n_v; i++) {
		const struct ferry_net_vertex *v = &net->v[i];

		if (i == source || v->kind != FERRY_VERTEX_HOST || !v->eligible || v->mem_free < need_memory ||
		    !paths[i].reachable)
			continue;
		all[n++] = (struct ferry_candidate){ .host = i, .path = paths[i] };
	}
	/* All of them are scored and sorted: the best may be anywhere, max only bounds the answer. */
	if (n && (r = p->score(net, source, all, n, err)) < 0)
		goto out;
	qsort(all, n, sizeof(*all), by_score);
	if (n > max)
		n = max;
	memcpy(out, all, n * sizeof(*out));
	r = (int)n;
out:
	free(paths);
	free(all);
	return r;
}
