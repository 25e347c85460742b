/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parsers of kernel text (mountinfo, routes, cgroups, cpuinfo, criu --version): never trust a format. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/cgroup.h"
#include "ferry/doctor.h"
#include "ferry/hoststats.h"
#include "ferry/memscan.h"
#include "ferry/mount.h"
#include "ferry/probe.h"
#include "ferry/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), path[PATH_MAX], iface[32], ctl[256], v[32];
	char *paths[FERRY_MOUNTS_MAX];
	uint32_t dest;
	unsigned len;
	int n;

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	n = ferry_mounts_under(s, "/run/ferry", paths, FERRY_MOUNTS_MAX);
	if (n > 0)
		ferry_mounts_free(paths, (size_t)n);
	ferry_cgroup2_mount_from_mountinfo(s, path, sizeof(path));
	ferry_doctor_cgroup_layout(s);
	ferry_route_find_overlap(s, 0x0a4d0000U, 24, iface, sizeof(iface), &dest, &len);
	ferry_doctor_v1_controllers(s, ctl, sizeof(ctl));
	free(ferry_doctor_parse_cpu_flags(s));
	ferry_doctor_parse_criu_version(s, v, sizeof(v));
	{
		struct ferry_mapping m;

		/* A line of /proc/PID/maps: an accepted one is page-aligned and not empty. */
		if (ferry_maps_parse_line(s, &m) == 0 && (m.end <= m.start || m.start % 4096 || m.end % 4096))
			abort();
	}
	{
		uint64_t busy, total;

		if (ferry_cpu_times_parse(s, &busy, &total) == 0 && busy > total)
			abort();
	}
	{
		/* An rtnetlink dump: names stay terminated, the count stays bounded. */
		static struct ferry_link_stats links[4];
		uint32_t *aligned = malloc(size + 4);
		unsigned nl = 0;
		bool done = false;

		if (!aligned)
			abort();
		memcpy(aligned, data, size);
		ferry_link_stats_parse(aligned, size, links, 4, &nl, &done, NULL);
		if (nl > 4)
			abort();
		for (unsigned i = 0; i < nl; i++)
			if (strnlen(links[i].name, sizeof(links[i].name)) == sizeof(links[i].name))
				abort();
		free(aligned);
	}
	/* An ICMP packet from a raw socket: never read past it. */
	ferry_icmp_is_reply(data, size, 0x0a000001U, 7, 1);
	free(s);
	return 0;
}
