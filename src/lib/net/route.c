/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "ferry/route.h"

static unsigned mask_len(uint32_t mask)
{
	unsigned n = 0;

	while (n < 32 && (mask & (0x80000000U >> n)))
		n++;
	return n;
}

/* /proc/net/route prints the network-order 32-bit value as a host integer. */
static uint32_t from_proc(unsigned v)
{
	return ntohl((uint32_t)v);
}

int ferry_route_find_overlap(const char *text, uint32_t net, unsigned len, char *ret_iface, size_t iface_len,
                             uint32_t *ret_dest, unsigned *ret_len)
{
	const char *line = text;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		char buf[512], iface[32];
		unsigned dest, mask;

		if (n < sizeof(buf)) {
			memcpy(buf, line, n);
			buf[n] = '\0';
			/* Iface Destination Gateway Flags RefCnt Use Metric Mask ... (the header fails %x) */
			if (sscanf(buf, "%31s %x %*x %*x %*d %*d %*d %x", iface, &dest, &mask) == 3 && mask != 0) {
				uint32_t d = from_proc(dest), m = from_proc(mask);
				unsigned l = mask_len(m), shorter = l < len ? l : len;
				uint32_t common = shorter ? ~0U << (32 - shorter) : 0;

				if ((d & common) == (net & common)) {
					snprintf(ret_iface, iface_len, "%s", iface);
					*ret_dest = d;
					*ret_len = l;
					return 1;
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return 0;
}
