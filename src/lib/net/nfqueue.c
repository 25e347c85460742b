/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ferry/nfqueue.h"

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

static void begin(struct nlreq *m, uint16_t queue, uint16_t msg, uint16_t flags)
{
	memset(m, 0, sizeof(*m));
	m->nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
	m->nh.nlmsg_type = (uint16_t)(NFNL_SUBSYS_QUEUE << 8 | msg);
	m->nh.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	m->g.nfgen_family = AF_UNSPEC;
	m->g.version = NFNETLINK_V0;
	m->g.res_id = htons(queue);
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

static int bind_queue(int sock, uint16_t queue, uint32_t maxlen)
{
	struct nfqnl_msg_config_cmd cmd = { .command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_INET) };
	struct nfqnl_msg_config_params params = { .copy_range = htonl(0), .copy_mode = NFQNL_COPY_META };
	uint32_t maxlen_be = htonl(maxlen);
	struct nlreq m;
	int r;

	begin(&m, queue, NFQNL_MSG_CONFIG, 0);
	put_attr(&m, NFQA_CFG_CMD, &cmd, sizeof(cmd));
	if ((r = talk(sock, &m)) < 0)
		return r;
	begin(&m, queue, NFQNL_MSG_CONFIG, 0);
	put_attr(&m, NFQA_CFG_PARAMS, &params, sizeof(params));
	put_attr(&m, NFQA_CFG_QUEUE_MAXLEN, &maxlen_be, sizeof(maxlen_be));
	return talk(sock, &m);
}

void ferry_nfqueue_drain(int sock, uint32_t *max_id, bool *any)
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

int ferry_nfqueue_accept_upto(int sock, uint16_t queue, uint32_t max_id)
{
	struct nfqnl_msg_verdict_hdr v = { .verdict = htonl(NF_ACCEPT), .id = htonl(max_id) };
	struct nlreq m;

	begin(&m, queue, NFQNL_MSG_VERDICT_BATCH, 0);
	put_attr(&m, NFQA_VERDICT_HDR, &v, sizeof(v));
	return send(sock, &m, m.nh.nlmsg_len, 0) < 0 ? -errno : 0;
}

int ferry_nfqueue_open(uint16_t queue, uint32_t maxlen)
{
	int rcvbuf = 4 << 20, one = 1, r;
	int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);

	if (sock < 0)
		return -errno;
	if (bind(sock, (struct sockaddr *)&(struct sockaddr_nl){ .nl_family = AF_NETLINK },
	         sizeof(struct sockaddr_nl)) < 0) {
		r = -errno;
		close(sock);
		return r;
	}
	/* Many packets may wait: a large buffer, and no ENOBUFS when it fills anyway. */
	setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	setsockopt(sock, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	if ((r = bind_queue(sock, queue, maxlen)) < 0) {
		close(sock);
		return r;
	}
	return sock;
}
