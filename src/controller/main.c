/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ferry-controller: the migration manager; init, admin-cert and token are its one-shot verbs. */
#include <signal.h>
#include <string.h>

#include "controller.h"

int main(int argc, char **argv)
{
	/* A peer closing mid-write is an error to report, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "admin-cert") == 0)
		return cmd_admin_cert(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "token") == 0)
		return cmd_token(argc - 1, argv + 1);
	return controller_run(argc, argv);
}
