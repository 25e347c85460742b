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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/exec.h"
#include "ferry/link.h"
#include "node.h"

#define QUEUE_NUM    0
#define QUEUE_MAXLEN 8192

/* What arrives on eth0 only: the container's own loopback (readiness probes) stays free. */
static const char *const rule_add[] = { "iptables", "-w",   "5",  "-t",      "raw",         "-I", "PREROUTING",
	                                "-i",       "eth0", "-j", "NFQUEUE", "--queue-num", "0",  NULL };
static const char *const rule_del[] = { "iptables", "-w",   "5",  "-t",      "raw",         "-D", "PREROUTING",
	                                "-i",       "eth0", "-j", "NFQUEUE", "--queue-num", "0",  NULL };

struct nlreq {
	struct nlmsghdr nh;
	struct nfgenmsg g;
	char attrs[64];
};

static void put_attr(struct nlreq *m, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)((char *)m + NLMSG_ALIGN(m->nh.nlmsg_len));

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, data, len);
	m->nh.nlmsg_len = NLMSG_ALIGN(m->nh.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static void begin(struct nlreq *m, uint16_t msg, uint16_t flags)
{
	memset(m, 0, sizeof(*m));
	m->nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
	m->nh.nlmsg_type = (uint16_t)(NFNL_SUBSYS_QUEUE << 8 | msg);
	m->nh.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	m->g.nfgen_family = AF_UNSPEC;
	m->g.version = NFNETLINK_V0;
	m->g.res_id = htons(QUEUE_NUM);
}

/* Send a request and wait for its acknowledgement. */
static int talk(int sock, struct nlreq *m)
{
	char buf[4096];
	ssize_t n;

	m->nh.nlmsg_flags |= NLM_F_ACK;
	if (send(sock, m, m->nh.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		n = recv(sock, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n))
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
	}
}

static int bind_queue(int sock)
{
	struct nfqnl_msg_config_cmd cmd = { .command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_INET) };
	struct nfqnl_msg_config_params params = { .copy_range = htonl(0), .copy_mode = NFQNL_COPY_META };
	uint32_t maxlen = htonl(QUEUE_MAXLEN);
	struct nlreq m;
	int r;

	begin(&m, NFQNL_MSG_CONFIG, 0);
	put_attr(&m, NFQA_CFG_CMD, &cmd, sizeof(cmd));
	if ((r = talk(sock, &m)) < 0)
		return r;
	begin(&m, NFQNL_MSG_CONFIG, 0);
	put_attr(&m, NFQA_CFG_PARAMS, &params, sizeof(params));
	put_attr(&m, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof(maxlen));
	return talk(sock, &m);
}

/* Read what is queued; remember the highest packet id. */
static void drain(int sock, uint32_t *max_id, bool *any)
{
	char buf[16384];
	ssize_t n;

	while ((n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct nlattr *a;
			int len;

			if ((h->nlmsg_type & 0xff) != NFQNL_MSG_PACKET)
				continue;
			a = (struct nlattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
			len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct nfgenmsg)));
			for (; len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len;
			     len -= NLA_ALIGN(a->nla_len), a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len))) {
				struct nfqnl_msg_packet_hdr ph;

				if ((a->nla_type & NLA_TYPE_MASK) != NFQA_PACKET_HDR ||
				    a->nla_len < NLA_HDRLEN + sizeof(ph))
					continue;
				memcpy(&ph, (char *)a + NLA_HDRLEN, sizeof(ph));
				if (!*any || ntohl(ph.packet_id) > *max_id)
					*max_id = ntohl(ph.packet_id);
				*any = true;
			}
		}
	}
}

/* Accept every packet up to max_id in one message. */
static int accept_all(int sock, uint32_t max_id)
{
	struct nfqnl_msg_verdict_hdr v = { .verdict = htonl(NF_ACCEPT), .id = htonl(max_id) };
	struct nlreq m;

	begin(&m, NFQNL_MSG_VERDICT_BATCH, 0);
	put_attr(&m, NFQA_VERDICT_HDR, &v, sizeof(v));
	return send(sock, &m, m.nh.nlmsg_len, 0) < 0 ? -errno : 0;
}

static int run_quiet(const char *const argv[])
{
	struct ferry_exec_opts o = { .timeout_ms = 10000, .merge_stderr = true };

	return ferry_exec_ok(argv, &o, NULL);
}

int cmd_net_hold(int argc, char **argv)
{
	int rcvbuf = 4 << 20, one = 1, sock = -1, nsfd;
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
	sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (sock < 0 || bind(sock, (struct sockaddr *)&(struct sockaddr_nl){ .nl_family = AF_NETLINK },
	                     sizeof(struct sockaddr_nl)) < 0) {
		fprintf(stderr, "ferryd net-hold: no netfilter netlink socket: %s\n", strerror(errno));
		return 1;
	}
	setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	setsockopt(sock, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	if (bind_queue(sock) < 0 || run_quiet(rule_add) < 0) {
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
			drain(sock, &max_id, &any);
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
		drain(sock, &max_id, &any);
		if (any)
			accept_all(sock, max_id);
		(void)!write(STDOUT_FILENO, "d", 1);
		run_quiet(rule_del);
		drain(sock, &max_id, &any);
		if (any)
			accept_all(sock, max_id);
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
