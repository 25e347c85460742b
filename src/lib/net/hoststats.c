/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Interface counters (rtnetlink) and CPU time (/proc/stat) of this host. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/hoststats.h"

/* IFLA_LINKINFO: is IFLA_INFO_KIND "bridge"? */
static bool linkinfo_is_bridge(const struct rtattr *info)
{
	int len = (int)RTA_PAYLOAD(info);

	for (const struct rtattr *a = RTA_DATA(info); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFLA_INFO_KIND && RTA_PAYLOAD(a) >= 6 && memcmp(RTA_DATA(a), "bridge", 6) == 0 &&
		    (RTA_PAYLOAD(a) == 6 || ((const char *)RTA_DATA(a))[6] == '\0'))
			return true;
	return false;
}

static int parse_newlink(const struct nlmsghdr *h, struct ferry_link_stats *s, struct ferry_err *err)
{
	const struct ifinfomsg *ifi;
	int len;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return ferry_err_set(err, -EPROTO, "short RTM_NEWLINK message");
	ifi = NLMSG_DATA(h);
	memset(s, 0, sizeof(*s));
	s->index = ifi->ifi_index > 0 ? (unsigned)ifi->ifi_index : 0;
	len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		size_t plen = RTA_PAYLOAD(a);

		switch (a->rta_type) {
		case IFLA_IFNAME:
			if (plen == 0 || plen > IFNAMSIZ || memchr(RTA_DATA(a), '\0', plen) == NULL)
				return ferry_err_set(err, -EPROTO, "bad interface name in RTM_NEWLINK");
			memcpy(s->name, RTA_DATA(a), plen);
			break;
		case IFLA_MASTER:
			if (plen == sizeof(uint32_t))
				memcpy(&s->master, RTA_DATA(a), sizeof(uint32_t));
			break;
		case IFLA_LINKINFO:
			s->is_bridge = linkinfo_is_bridge(a);
			break;
		case IFLA_STATS64:
			if (plen >= sizeof(struct rtnl_link_stats64)) {
				struct rtnl_link_stats64 st;

				memcpy(&st, RTA_DATA(a), sizeof(st));
				s->rx_bytes = st.rx_bytes;
				s->tx_bytes = st.tx_bytes;
				s->rx_packets = st.rx_packets;
				s->tx_packets = st.tx_packets;
			}
			break;
		default:
			break;
		}
	}
	if (!s->name[0] || !s->index)
		return ferry_err_set(err, -EPROTO, "RTM_NEWLINK without a name or an index");
	return 0;
}

int ferry_link_stats_parse(const void *buf, size_t len, struct ferry_link_stats *out, unsigned max, unsigned *n,
                           bool *done, struct ferry_err *err)
{
	const uint8_t *p = buf;
	size_t off = 0;

	/* Each message's length is checked against what is left before anything in it is read. */
	while (len - off >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)(p + off);
		size_t step;
		int r;

		if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > len - off)
			return ferry_err_set(err, -EPROTO, "truncated netlink message");
		if (h->nlmsg_type == NLMSG_DONE) {
			*done = true;
			return 0;
		}
		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr e;

			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(e)))
				return ferry_err_set(err, -EPROTO, "short netlink error");
			memcpy(&e, NLMSG_DATA(h), sizeof(e));
			return ferry_err_set(err, e.error < 0 ? e.error : -EPROTO, "RTM_GETLINK: %s",
			                     strerror(e.error < 0 && e.error > -4096 ? -e.error : EPROTO));
		}
		if (h->nlmsg_type == RTM_NEWLINK) {
			if (*n >= max)
				return ferry_err_set(err, -E2BIG, "more than %u interfaces", max);
			if ((r = parse_newlink(h, &out[*n], err)) < 0)
				return r;
			(*n)++;
		}
		step = NLMSG_ALIGN(h->nlmsg_len);
		off += step < len - off ? step : len - off;
	}
	if (off != len)
		return ferry_err_set(err, -EPROTO, "truncated netlink message");
	return 0;
}

int ferry_link_stats_read(struct ferry_link_stats *out, unsigned max, struct ferry_err *err)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
		        .nlmsg_type = RTM_GETLINK,
		        .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		        .nlmsg_seq = 1 },
		.ifi = { .ifi_family = AF_UNSPEC },
	};
	/* Aligned for nlmsghdr; 32 KiB holds a dozen links per read. */
	static _Thread_local uint32_t buf[8192];
	unsigned n = 0;
	bool done = false;
	int fd, r = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "netlink socket");
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		r = ferry_err_sys(err, -errno, "RTM_GETLINK");
		goto out;
	}
	while (!done) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = got < 0 ? ferry_err_sys(err, -errno, "RTM_GETLINK")
			            : ferry_err_set(err, -EPROTO, "netlink EOF");
			goto out;
		}
		if ((r = ferry_link_stats_parse(buf, (size_t)got, out, max, &n, &done, err)) < 0)
			goto out;
	}
	r = (int)n;
out:
	close(fd);
	return r;
}

static int address_index(uint32_t addr, struct ferry_err *err)
{
	struct ifaddrs *ifa = NULL;
	int index = -ENOENT;

	if (getifaddrs(&ifa) < 0)
		return ferry_err_sys(err, -errno, "getifaddrs");
	for (const struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;

		if (sin && sin->sin_family == AF_INET && ntohl(sin->sin_addr.s_addr) == addr) {
			index = (int)if_nametoindex(i->ifa_name);
			break;
		}
	}
	freeifaddrs(ifa);
	return index > 0 ? index : -ENOENT;
}

int ferry_link_uplink(const struct ferry_link_stats *l, unsigned n, uint32_t addr, const char *skip_prefix,
                      struct ferry_err *err)
{
	int index = address_index(addr, err), home = -1, port = -1;
	size_t skip = skip_prefix ? strlen(skip_prefix) : 0;

	for (unsigned i = 0; i < n; i++)
		if ((int)l[i].index == index)
			home = (int)i;
	if (home < 0)
		return ferry_err_set(err, -ENOENT, "no interface holds this node's address");
	if (!l[home].is_bridge)
		return home;
	for (unsigned i = 0; i < n; i++) {
		if (l[i].master != l[home].index || (skip && strncmp(l[i].name, skip_prefix, skip) == 0))
			continue;
		if (port >= 0)
			return home; /* two uplinks: only the bridge sees them both */
		port = (int)i;
	}
	return port >= 0 ? port : home;
}

int ferry_cpu_times_parse(const char *stat, uint64_t *ret_busy, uint64_t *ret_total)
{
	uint64_t v[8] = { 0 }, total = 0;
	int got = 0;

	if (strncmp(stat, "cpu ", 4) != 0)
		return -EINVAL;
	/* user nice system idle iowait irq softirq steal; guest time is already in user. */
	got = sscanf(stat + 4,
	             "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
	             &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	if (got < 4)
		return -EINVAL;
	for (int i = 0; i < got; i++) {
		if (total + v[i] < total)
			return -ERANGE;
		total += v[i];
	}
	*ret_busy = total - v[3] - v[4];
	*ret_total = total;
	return 0;
}

int ferry_cpu_times_read(uint64_t *ret_busy, uint64_t *ret_total, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(64 * 1024);
	int r = ferry_read_file("/proc/stat", 64 * 1024, &b, err);

	if (r == 0 && ferry_cpu_times_parse(b.data ? b.data : "", ret_busy, ret_total) < 0)
		r = ferry_err_set(err, -EPROTO, "/proc/stat has no aggregate cpu line");
	ferry_buf_free(&b);
	return r;
}
