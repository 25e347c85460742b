/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ferryd net-hold NETNS DEADLINE_S: hold every IPv4 packet that arrives in
 * a container's network namespace until the container is there to take it.
 *
 * A migration's destination claims the container's address while the copy
 * is still on its way, so that clients' packets (retransmissions included)
 * wait here instead of being lost at the frozen source; on release they
 * reach the restored sockets at once, and a client does not sit out its
 * exponentially backed-off retransmission timer (docs/ARCHITECTURE.md,
 * "Network continuity").  The packets wait in the kernel (NFQUEUE, copy
 * mode "meta": this process sees ids, never payloads).
 *
 * stdin:  'r' release: accept everything held, remove the rule, exit 0.
 *         End of file or the deadline: take eth0 down (the copy will not
 *         come; stop answering for the address) and exit 1; the held
 *         packets are dropped with the queue.
 * stdout: 'k' once the rule and the queue are in place; 'd' once a release
 *         delivered what waited (the rule goes right after).
 * No queue listener means no delivery: the rule fails closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/exec.h"
#include "ferry/link.h"
#include "ferry/nfqueue.h"
#include "node.h"

#define QUEUE_NUM    0
#define QUEUE_MAXLEN 8192

/* What arrives on eth0 only: the container's own loopback (readiness probes) stays free. */
static const char *const rule_add[] = { "iptables", "-w",   "5",  "-t",      "raw",         "-I", "PREROUTING",
	                                "-i",       "eth0", "-j", "NFQUEUE", "--queue-num", "0",  NULL };
static const char *const rule_del[] = { "iptables", "-w",   "5",  "-t",      "raw",         "-D", "PREROUTING",
	                                "-i",       "eth0", "-j", "NFQUEUE", "--queue-num", "0",  NULL };

static int run_quiet(const char *const argv[])
{
	struct ferry_exec_opts o = { .timeout_ms = 10000, .merge_stderr = true };

	return ferry_exec_ok(argv, &o, NULL);
}

int cmd_net_hold(int argc, char **argv)
{
	int sock = -1, nsfd;
	long long deadline;
	uint32_t max_id = 0;
	bool any = false, released = false;
	char c;

	if (argc != 3 || atoi(argv[2]) <= 0) {
		fprintf(stderr, "Usage: ferryd net-hold NETNS DEADLINE_S (started by ferryd)\n");
		return 2;
	}
	deadline = ferry_now_ms() + atoi(argv[2]) * 1000LL;
	if ((nsfd = open(argv[1], O_RDONLY | O_CLOEXEC)) < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "ferryd net-hold: cannot enter %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	close(nsfd);
	if ((sock = ferry_nfqueue_open(QUEUE_NUM, QUEUE_MAXLEN)) < 0 || run_quiet(rule_add) < 0) {
		fprintf(stderr, "ferryd net-hold: cannot queue the packets of %s (NFQUEUE, iptables)\n", argv[1]);
		return 1;
	}
	(void)!write(STDOUT_FILENO, "k", 1);
	while (!released) {
		struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = sock, .events = POLLIN } };
		long long left = deadline - ferry_now_ms();
		ssize_t n;

		if (left <= 0 || poll(p, 2, (int)(left > 1000 ? 1000 : left)) < 0) {
			if (left <= 0 || errno != EINTR)
				break;
			continue;
		}
		if (p[1].revents)
			ferry_nfqueue_drain(sock, &max_id, &any);
		if (!p[0].revents)
			continue;
		n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1 || c != 'r')
			break;
		/*
		 * Release: what waited goes first (and the daemon hears so at
		 * once: the restored copy is serving), then the rule; what slipped
		 * in between, last.
		 */
		ferry_nfqueue_drain(sock, &max_id, &any);
		if (any)
			ferry_nfqueue_accept_upto(sock, QUEUE_NUM, max_id);
		(void)!write(STDOUT_FILENO, "d", 1);
		run_quiet(rule_del);
		ferry_nfqueue_drain(sock, &max_id, &any);
		if (any)
			ferry_nfqueue_accept_upto(sock, QUEUE_NUM, max_id);
		released = true;
	}
	if (!released) {
		run_quiet(rule_del);
		ferry_link_set_up("eth0", false, NULL);
		fprintf(stderr, "ferryd net-hold: %s was not released; its address is given up here\n", argv[1]);
		return 1;
	}
	close(sock);
	return 0;
}
