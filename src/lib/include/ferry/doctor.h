/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_DOCTOR_H
#define FERRY_DOCTOR_H

/*
 * What Ferry can do on this host and why: CRIU and its kernel features, the
 * OCI runtime, overlayfs, cgroups, userfaultfd, firewall tools, kernel and
 * CPU.  ferry_doctor_probe() looks at the real system; the parse and derive
 * helpers are pure so they can be tested on recorded text.  Later layers use
 * the report to pick migration strategies.
 */

#include <stdbool.h>
#include <stddef.h>

#include "ferry/buf.h"
#include "ferry/err.h"

#define FERRY_DOCTOR_MAX_FEATURES 16
#define FERRY_DOCTOR_MAX_RUNTIMES 2
#define FERRY_DOCTOR_MAX_MODES    6
#define FERRY_DOCTOR_CHECK_MS     30000

struct ferry_doctor_feature {
	char name[32]; /* as CRIU names it, '-' turned into '_' */
	bool ok;
};

struct ferry_doctor_runtime {
	char name[16];
	char path[256];
	char version[64];
	bool criu_support;
	char why[128];
};

enum ferry_cgroup_layout {
	FERRY_CGROUP_NONE,
	FERRY_CGROUP_V1,
	FERRY_CGROUP_HYBRID, /* v1 controllers plus an empty cgroup2 "unified" tree */
	FERRY_CGROUP_V2,
};

struct ferry_doctor_mode {
	char name[16];
	bool available;
	char method[32]; /* how it would be done here, "" if not available */
	char why[160];
};

struct ferry_doctor_report {
	char kernel[128];
	char arch[32];
	bool root;

	bool criu_found;
	char criu_path[256];
	char criu_version[32];
	bool criu_check_ok;
	char criu_check_msg[192];
	struct ferry_doctor_feature features[FERRY_DOCTOR_MAX_FEATURES];
	unsigned n_features;
	bool tcp_repair;      /* the kernel grants TCP_REPAIR to us */
	bool tcp_established; /* CRIU can checkpoint established TCP here */
	char tcp_established_why[160];
	char network_lock[16]; /* "nftables", "iptables" or "none" */

	struct ferry_doctor_runtime runtimes[FERRY_DOCTOR_MAX_RUNTIMES];
	unsigned n_runtimes;
	int runtime; /* index of the one Ferry would use, -1 if none */

	bool overlayfs;           /* listed in /proc/filesystems */
	bool overlayfs_mountable; /* a test mount succeeded */
	enum ferry_cgroup_layout cgroup;
	char cgroup_controllers[256];

	int uffd_unprivileged; /* vm.unprivileged_userfaultfd, -1 if absent */
	bool uffd_syscall;     /* userfaultfd(2) works for us */

	bool iptables, ip6tables, nft;
	char iptables_version[64];

	/* What the cluster fabric needs, tried in a throwaway network namespace (root only). */
	bool fabric_veth, fabric_vxlan;
	bool packet_hold; /* NFQUEUE bind and iptables' NFQUEUE target: a destination holds clients' packets */

	char cpu_model[96];
	char *cpu_flags; /* malloc'ed, space separated; NULL if unknown */

	struct ferry_doctor_mode modes[FERRY_DOCTOR_MAX_MODES];
	unsigned n_modes;
};

/* Look at this host (network-dependent parts in the caller's netns). */
void ferry_doctor_probe(struct ferry_doctor_report *ret);
void ferry_doctor_report_free(struct ferry_doctor_report *r);

/* Whether the report lists the named CRIU feature as present. */
bool ferry_doctor_has(const struct ferry_doctor_report *r, const char *feature);

/* Fill r->modes from the rest of the report (pure). */
void ferry_doctor_derive_modes(struct ferry_doctor_report *r);

/* Pure parsers, exposed for tests. */
int ferry_doctor_parse_criu_version(const char *text, char *ret, size_t len);
/* Flags of the first CPU in /proc/cpuinfo text: malloc'ed string or NULL. */
char *ferry_doctor_parse_cpu_flags(const char *cpuinfo);
enum ferry_cgroup_layout ferry_doctor_cgroup_layout(const char *mountinfo);
/* Enabled v1 controllers from /proc/cgroups text, space separated. */
void ferry_doctor_v1_controllers(const char *proc_cgroups, char *ret, size_t len);
/* -1, 0 or 1 comparing dotted versions a and b. */
int ferry_version_cmp(const char *a, const char *b);

const char *ferry_cgroup_layout_name(enum ferry_cgroup_layout l);

/* JSON document of the report (see docs/DOCTOR.md for the fields). */
int ferry_doctor_to_json(const struct ferry_doctor_report *r, const char *host, struct ferry_buf *out);

#endif
