/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * random: any eligible host, each as likely as the others, drawn from
 * OpenSSL's CSPRNG (seeded by the kernel): the moving-target baseline,
 * where the next place must not be predictable from outside.
 */
#include <errno.h>
#include <stdlib.h>

#include "ferry/identity.h"
#include "ferry/policy.h"

static int score(const struct ferry_net *net, unsigned source, struct ferry_candidate *c, unsigned n,
                 struct ferry_err *err)
{
	uint64_t *draw = malloc(n * sizeof(*draw));

	if (!draw)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	/* One call for all of them: a thousand candidates, one system call. */
	if (ferry_random(draw, n * sizeof(*draw)) < 0) {
		free(draw);
		return ferry_err_set(err, -EIO, "no random numbers from the kernel");
	}
	/* 53 bits: every double in [0, 1) equally likely; the highest draw wins. */
	for (unsigned i = 0; i < n; i++)
		c[i].score = (double)(draw[i] >> 11) / (double)(1ULL << 53);
	free(draw);
	return 0;
}

const struct ferry_policy_ops ferry_policy_random = {
	.name = "random",
	.summary = "an eligible host drawn uniformly by CSPRNG",
	.score = score,
};
