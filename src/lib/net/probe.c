/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ICMP echo round trips from a raw socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ferry/identity.h"
#include "ferry/probe.h"

static uint16_t checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

int ferry_icmp_is_reply(const void *buf, size_t len, uint32_t addr, uint16_t id, uint16_t seq)
{
	const uint8_t *p = buf;
	struct icmphdr icmp;
	size_t ihl;
	uint32_t src;

	if (len < 20 || (p[0] >> 4) != 4)
		return -EPROTO;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	if (ihl < 20 || len < ihl + sizeof(icmp))
		return -EPROTO;
	if (p[9] != IPPROTO_ICMP)
		return 0;
	memcpy(&src, p + 12, 4);
	memcpy(&icmp, p + ihl, sizeof(icmp));
	return ntohl(src) == addr && icmp.type == ICMP_ECHOREPLY && icmp.code == 0 && ntohs(icmp.un.echo.id) == id &&
	       ntohs(icmp.un.echo.sequence) == seq;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int ferry_icmp_rtt_many(const uint32_t *addr, unsigned n, unsigned count, int timeout_ms, uint32_t *ret_us,
                        struct ferry_err *err)
{
	long long sent[FERRY_PROBE_TARGETS_MAX];
	unsigned answered = 0;
	uint16_t id;
	int fd;

	if (n == 0 || n > FERRY_PROBE_TARGETS_MAX || count == 0 || count > FERRY_PROBE_COUNT_MAX || timeout_ms <= 0 ||
	    timeout_ms > FERRY_PROBE_TIMEOUT_MAX)
		return ferry_err_set(err, -EINVAL, "probe: 1 to %d targets, 1 to %d echoes of at most %d ms each",
		                     FERRY_PROBE_TARGETS_MAX, FERRY_PROBE_COUNT_MAX, FERRY_PROBE_TIMEOUT_MAX);
	memset(ret_us, 0, n * sizeof(*ret_us));
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "raw ICMP socket");
	if (ferry_random(&id, sizeof(id)) < 0)
		id = (uint16_t)getpid();
	for (unsigned round = 0; round < count; round++) {
		long long deadline;
		unsigned waiting = 0;

		/* Sequence numbers name the target and the round: a late reply of an earlier round is not counted. */
		for (unsigned i = 0; i < n; i++) {
			struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(addr[i]) };
			struct {
				struct icmphdr h;
				uint8_t pad[24];
			} req = { .h = { .type = ICMP_ECHO } };

			req.h.un.echo.id = htons(id);
			req.h.un.echo.sequence = htons((uint16_t)(round * FERRY_PROBE_TARGETS_MAX + i + 1));
			req.h.checksum = checksum(&req, sizeof(req));
			sent[i] = now_us();
			if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
				sent[i] = -1;
			else
				waiting++;
		}
		deadline = now_us() + (long long)timeout_ms * 1000;
		while (waiting) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			uint8_t buf[512];
			long long left = deadline - now_us();
			ssize_t got;

			if (left <= 0 || poll(&pfd, 1, (int)((left + 999) / 1000)) <= 0)
				break;
			got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			for (unsigned i = 0; got > 0 && i < n; i++) {
				uint16_t seq = (uint16_t)(round * FERRY_PROBE_TARGETS_MAX + i + 1);
				long long rtt;

				if (sent[i] < 0 || ferry_icmp_is_reply(buf, (size_t)got, addr[i], id, seq) != 1)
					continue;
				rtt = now_us() - sent[i];
				rtt = rtt < 1 ? 1 : rtt > UINT32_MAX ? UINT32_MAX : rtt;
				answered += ret_us[i] == 0;
				if (ret_us[i] == 0 || (uint32_t)rtt < ret_us[i])
					ret_us[i] = (uint32_t)rtt;
				sent[i] = -1;
				waiting--;
				break;
			}
		}
	}
	close(fd);
	return (int)answered;
}

int ferry_icmp_rtt(uint32_t addr, unsigned count, int timeout_ms, uint32_t *ret_us, struct ferry_err *err)
{
	uint32_t us;
	int r = ferry_icmp_rtt_many(&addr, 1, count, timeout_ms, &us, err);

	if (r < 0)
		return r;
	if (r == 0)
		return ferry_err_set(err, -ETIMEDOUT, "no echo reply within %d ms", timeout_ms);
	*ret_us = us;
	return 0;
}
