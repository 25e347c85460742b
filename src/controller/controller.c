/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ferry-controller: the migration manager.  This layer gives it its place on
 * the fabric, a state directory and a clean life cycle; the CA, node
 * registry, API, measurement and policies arrive with the next layers (see
 * docs/ARCHITECTURE.md).
 */
#include "ferry/daemon_main.h"

int main(int argc, char **argv)
{
	struct ferry_daemon_config cfg = { .prog = "ferry-controller" };
	int r = ferry_daemon_parse_args(argc, argv, &cfg, "Ferry's controller: the cluster's migration manager.");

	if (r != 0)
		return r < 0 ? 0 : r;
	return ferry_daemon_run(&cfg);
}
