/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pure pieces of the doctor: parsing recorded text and deriving modes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/doctor.h"
#include "ferry/mount.h"

int ferry_version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		unsigned long x = strtoul(a, (char **)&a, 10), y = strtoul(b, (char **)&b, 10);

		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		else if (*a)
			break;
		if (*b == '.')
			b++;
		else if (*b)
			break;
	}
	return 0;
}

int ferry_doctor_parse_criu_version(const char *text, char *ret, size_t len)
{
	const char *p = strstr(text, "Version: ");
	size_t n = 0;

	if (!p)
		return -EINVAL;
	p += strlen("Version: ");
	while ((p[n] >= '0' && p[n] <= '9') || p[n] == '.')
		n++;
	if (n == 0 || n >= len)
		return -EINVAL;
	memcpy(ret, p, n);
	ret[n] = '\0';
	return 0;
}

char *ferry_doctor_parse_cpu_flags(const char *cpuinfo)
{
	const char *line = cpuinfo;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);

		/* x86 says "flags", arm64 says "Features". */
		if ((strncmp(line, "flags", 5) == 0 || strncmp(line, "Features", 8) == 0)) {
			const char *colon = memchr(line, ':', n);

			if (colon) {
				const char *s = colon + 1;
				size_t m = n - (size_t)(s - line);
				char *out;

				while (m > 0 && *s == ' ') {
					s++;
					m--;
				}
				out = malloc(m + 1);
				if (!out)
					return NULL;
				memcpy(out, s, m);
				out[m] = '\0';
				return out;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return NULL;
}

enum ferry_cgroup_layout ferry_doctor_cgroup_layout(const char *mountinfo)
{
	bool v1 = false, v2 = false, v2_at_root = false;
	const char *line = mountinfo;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		char buf[4096], mp[PATH_MAX], fstype[64];
		const char *sep;

		if (n < sizeof(buf)) {
			memcpy(buf, line, n);
			buf[n] = '\0';
			sep = strstr(buf, " - ");
			if (sep && sscanf(buf, "%*s %*s %*s %*s %4095s", mp) == 1 &&
			    sscanf(sep + 3, "%63s", fstype) == 1) {
				ferry_mountinfo_unescape(mp);
				if (strcmp(fstype, "cgroup2") == 0) {
					v2 = true;
					v2_at_root |= strcmp(mp, "/sys/fs/cgroup") == 0;
				} else if (strcmp(fstype, "cgroup") == 0) {
					v1 = true;
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	if (v2_at_root && !v1)
		return FERRY_CGROUP_V2;
	if (v1 && v2)
		return FERRY_CGROUP_HYBRID;
	if (v1)
		return FERRY_CGROUP_V1;
	return v2 ? FERRY_CGROUP_V2 : FERRY_CGROUP_NONE;
}

void ferry_doctor_v1_controllers(const char *text, char *ret, size_t len)
{
	const char *line = text;
	size_t used = 0;

	ret[0] = '\0';
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		char name[32];
		int hier, ncg, enabled;

		/* #subsys_name hierarchy num_cgroups enabled */
		if (line[0] != '#' && sscanf(line, "%31s %d %d %d", name, &hier, &ncg, &enabled) == 4 && enabled &&
		    used + strlen(name) + 2 < len) {
			used += (size_t)snprintf(ret + used, len - used, "%s%s", used ? " " : "", name);
		}
		line = eol ? eol + 1 : NULL;
	}
}

const char *ferry_cgroup_layout_name(enum ferry_cgroup_layout l)
{
	switch (l) {
	case FERRY_CGROUP_V1:
		return "v1";
	case FERRY_CGROUP_HYBRID:
		return "hybrid";
	case FERRY_CGROUP_V2:
		return "v2";
	case FERRY_CGROUP_NONE:
		break;
	}
	return "none";
}

bool ferry_doctor_has(const struct ferry_doctor_report *r, const char *feature)
{
	for (unsigned i = 0; i < r->n_features; i++)
		if (strcmp(r->features[i].name, feature) == 0)
			return r->features[i].ok;
	return false;
}

static void add_mode(struct ferry_doctor_report *r, const char *name, bool available, const char *method,
                     const char *why)
{
	struct ferry_doctor_mode *m;

	if (r->n_modes >= FERRY_DOCTOR_MAX_MODES)
		return;
	m = &r->modes[r->n_modes++];
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->available = available;
	snprintf(m->method, sizeof(m->method), "%s", available && method ? method : "");
	snprintf(m->why, sizeof(m->why), "%s", why);
}

void ferry_doctor_derive_modes(struct ferry_doctor_report *r)
{
	const struct ferry_doctor_runtime *rt = r->runtime >= 0 ? &r->runtimes[r->runtime] : NULL;
	bool checkpoint = r->criu_check_ok && rt && rt->criu_support;
	bool dirty = ferry_doctor_has(r, "mem_dirty_track");
	bool lazy = ferry_doctor_has(r, "uffd") && ferry_doctor_has(r, "uffd_noncoop");
	char why[160];

	r->n_modes = 0;
	if (!rt)
		snprintf(why, sizeof(why), "no OCI runtime (runc or crun) found");
	else if (!r->criu_found)
		snprintf(why, sizeof(why), "CRIU is not installed");
	else if (!r->criu_check_ok)
		snprintf(why, sizeof(why), "'criu check' fails: %s", r->criu_check_msg);
	else if (!rt->criu_support)
		snprintf(why, sizeof(why), "%s lacks checkpoint support: %s", rt->name, rt->why);
	else
		snprintf(why, sizeof(why), "CRIU %s and %s can checkpoint and restore", r->criu_version, rt->name);
	add_mode(r, "stop-copy", checkpoint, "criu-dump", why);
	/* The engine always compares page hashes; CRIU's soft-dirty pre-dump is reported, not used. */
	add_mode(r, "precopy", checkpoint, "page-hash",
	         !checkpoint ? "needs stop-copy"
	         : dirty     ? "Ferry compares page hashes between rounds (soft-dirty tracking is present, not needed)"
	                     : "Ferry compares page hashes between rounds (no soft-dirty tracking needed)");
	add_mode(r, "postcopy", checkpoint && lazy, "criu-lazy-pages",
	         !checkpoint ? "needs stop-copy"
	         : lazy      ? "userfaultfd (uffd, uffd-noncoop) lets CRIU restore with lazy pages"
	                     : "CRIU reports no uffd/uffd-noncoop: lazy pages are impossible");
	add_mode(r, "hybrid", checkpoint && lazy, "page-hash+lazy-pages",
	         checkpoint && lazy ? "precopy rounds, then lazy pages" : "needs precopy and postcopy");
	add_mode(r, "stateless", rt != NULL, "replica",
	         rt ? "start a fresh replica, then stop the source" : "no OCI runtime (runc or crun) found");
}
