/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ferryd: the node daemon, one per host.  This layer gives it its identity on
 * the fabric, its state directory and a clean life cycle; running containers,
 * the trust layer and migrations arrive with the next layers (see
 * docs/ARCHITECTURE.md).
 */
#include "ferry/daemon_main.h"

int main(int argc, char **argv)
{
	struct ferry_daemon_config cfg = { .prog = "ferryd", .wants_controller = true };
	int r = ferry_daemon_parse_args(argc, argv, &cfg, "Ferry's node daemon: one per host.");

	if (r != 0)
		return r < 0 ? 0 : r;
	return ferry_daemon_run(&cfg);
}
