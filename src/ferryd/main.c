/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ferryd: the node daemon, one per host; 'join' and 'send' are its one-shot verbs. */
#include <signal.h>
#include <string.h>

#include "node.h"

int main(int argc, char **argv)
{
	/* A peer closing mid-write is an error to report, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], "join") == 0)
		return cmd_join(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "log-pump") == 0)
		return cmd_log_pump(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "guard") == 0)
		return cmd_guard(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "net-hold") == 0)
		return cmd_net_hold(argc - 1, argv + 1);
	return node_run(argc, argv);
}
