/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bandwidth: the host at the end of the widest path, i.e. the largest
 * smallest-available-bandwidth along the way (thesis 001, §6.1): the one
 * the container's memory reaches fastest.  Ties go to the lower latency.
 */
#include "ferry/policy.h"

static int score(const struct ferry_net *net, unsigned source, struct ferry_candidate *c, unsigned n,
                 struct ferry_err *err)
{
	/* Bandwidth in whole bits per second; a fraction below one bit orders equal ones by latency. */
	for (unsigned i = 0; i < n; i++)
		c[i].score = (double)c[i].path.bottleneck + 0.5 / (1.0 + (double)c[i].path.latency_us);
	return 0;
}

const struct ferry_policy_ops ferry_policy_bandwidth = {
	.name = "bandwidth",
	.summary = "the widest path: the largest of the smallest available bandwidths along it",
	.score = score,
};
