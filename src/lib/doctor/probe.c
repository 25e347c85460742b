/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The doctor's look at the real host: every check runs the real thing with a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/cgroup.h"
#include "ferry/doctor.h"
#include "ferry/exec.h"
#include "ferry/fs.h"
#include "ferry/nfqueue.h"

#define PROC_TEXT_MAX (4 * 1024 * 1024)

/* CRIU's feature names that matter to Ferry's modes and network handling. */
static const char *const criu_features[] = {
	"mem_dirty_track", "uffd",   "uffd-noncoop", "tcp_half_closed", "network_lock_nftables", "pidfd_store",
	"ns_pid",          "timens", "cgroupns",     "clone3_set_tid",  "pagemap_scan",          "link_nsid",
};

/* Kernels from 6.16 broke TCP dumping for CRIU before 4.2 (see docs/DOCTOR.md). */
#define TCP_FIXED_CRIU   "4.2"
#define TCP_BREAK_KERNEL "6.16"

static bool find_in_path(const char *name, char *ret, size_t len)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		if (n > 0 && (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name) < sizeof(buf) &&
		    access(buf, X_OK) == 0) {
			snprintf(ret, len, "%s", buf);
			return true;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/* Run argv; returns its exit status (or -1), with stdout+stderr in out if given. */
static int run_capture(const char *const argv[], struct ferry_buf *out)
{
	struct ferry_exec_opts o = { .timeout_ms = FERRY_DOCTOR_CHECK_MS, .merge_stderr = true };
	struct ferry_exec_result res;
	int status = -1;

	if (ferry_exec(argv, &o, &res, NULL) == 0) {
		status = res.status;
		if (out)
			ferry_buf_append(out, res.out.data ? res.out.data : "", res.out.len);
	}
	ferry_exec_result_free(&res);
	return status;
}

static void first_line(const char *s, char *ret, size_t len)
{
	size_t n = strcspn(s ? s : "", "\n");

	snprintf(ret, len, "%.*s", (int)n, s ? s : "");
}

static void probe_kernel(struct ferry_doctor_report *r)
{
	struct utsname u;

	if (uname(&u) == 0) {
		snprintf(r->kernel, sizeof(r->kernel), "%s", u.release);
		snprintf(r->arch, sizeof(r->arch), "%s", u.machine);
	}
	r->root = geteuid() == 0;
}

/* The first line of criu's output that says what went wrong. */
static void criu_error_line(const char *text, char *ret, size_t len)
{
	const char *p = text ? strstr(text, "Error") : NULL;

	first_line(p ? p : text, ret, len);
}

static void probe_criu(struct ferry_doctor_report *r)
{
	struct ferry_buf out = FERRY_BUF_INIT(64 * 1024);

	r->criu_found = find_in_path("criu", r->criu_path, sizeof(r->criu_path));
	if (!r->criu_found) {
		snprintf(r->criu_check_msg, sizeof(r->criu_check_msg), "criu not found in PATH");
		return;
	}
	if (run_capture((const char *const[]){ r->criu_path, "--version", NULL }, &out) == 0)
		ferry_doctor_parse_criu_version(out.data ? out.data : "", r->criu_version, sizeof(r->criu_version));
	ferry_buf_reset(&out);
	r->criu_check_ok = run_capture((const char *const[]){ r->criu_path, "check", NULL }, &out) == 0;
	if (r->criu_check_ok)
		snprintf(r->criu_check_msg, sizeof(r->criu_check_msg), "looks good");
	else
		criu_error_line(out.data, r->criu_check_msg, sizeof(r->criu_check_msg));
	for (size_t i = 0; i < sizeof(criu_features) / sizeof(criu_features[0]); i++) {
		struct ferry_doctor_feature *f = &r->features[r->n_features++];

		snprintf(f->name, sizeof(f->name), "%s", criu_features[i]);
		for (char *p = f->name; *p; p++)
			if (*p == '-')
				*p = '_';
		/* Exit 0 means the kernel has it; an unknown name (older CRIU) counts as absent. */
		f->ok = r->criu_check_ok &&
		        run_capture((const char *const[]){ r->criu_path, "check", "--feature", criu_features[i], NULL },
		                    NULL) == 0;
	}
	ferry_buf_free(&out);
}

static void probe_tcp(struct ferry_doctor_report *r)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;

	if (fd >= 0) {
		r->tcp_repair = setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) == 0;
		close(fd);
	}
	if (!r->criu_check_ok)
		snprintf(r->tcp_established_why, sizeof(r->tcp_established_why), "'criu check' fails");
	else if (!r->tcp_repair)
		snprintf(r->tcp_established_why, sizeof(r->tcp_established_why),
		         "TCP_REPAIR is refused (needs CAP_NET_ADMIN and CONFIG_TCP_REPAIR)");
	else if (ferry_version_cmp(r->kernel, TCP_BREAK_KERNEL) >= 0 &&
	         ferry_version_cmp(r->criu_version, TCP_FIXED_CRIU) < 0)
		snprintf(r->tcp_established_why, sizeof(r->tcp_established_why),
		         "CRIU %s cannot dump TCP sockets on kernel %s (>= %s needs CRIU >= %s)", r->criu_version,
		         r->kernel, TCP_BREAK_KERNEL, TCP_FIXED_CRIU);
	else {
		r->tcp_established = true;
		snprintf(r->tcp_established_why, sizeof(r->tcp_established_why),
		         "TCP_REPAIR works and CRIU %s handles kernel %s", r->criu_version, r->kernel);
	}
}

static void probe_firewall(struct ferry_doctor_report *r)
{
	struct ferry_buf out = FERRY_BUF_INIT(4096);
	char path[PATH_MAX];

	r->iptables = find_in_path("iptables", path, sizeof(path));
	if (r->iptables && run_capture((const char *const[]){ path, "--version", NULL }, &out) == 0)
		first_line(out.data, r->iptables_version, sizeof(r->iptables_version));
	r->ip6tables = find_in_path("ip6tables", path, sizeof(path));
	r->nft = find_in_path("nft", path, sizeof(path));
	/* CRIU locks the network during dump with nftables where it can, else iptables. */
	if (ferry_doctor_has(r, "network_lock_nftables") && r->nft)
		snprintf(r->network_lock, sizeof(r->network_lock), "nftables");
	else if (r->iptables && r->ip6tables)
		snprintf(r->network_lock, sizeof(r->network_lock), "iptables");
	else
		snprintf(r->network_lock, sizeof(r->network_lock), "none");
	ferry_buf_free(&out);
}

static void probe_runtimes(struct ferry_doctor_report *r)
{
	static const char *const names[] = { "runc", "crun" };
	struct ferry_buf out = FERRY_BUF_INIT(64 * 1024);

	r->runtime = -1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct ferry_doctor_runtime *rt = &r->runtimes[r->n_runtimes];

		if (!find_in_path(names[i], rt->path, sizeof(rt->path)))
			continue;
		snprintf(rt->name, sizeof(rt->name), "%s", names[i]);
		ferry_buf_reset(&out);
		if (run_capture((const char *const[]){ rt->path, "--version", NULL }, &out) == 0) {
			const char *v = out.data ? strstr(out.data, "version ") : NULL;
			first_line(v ? v + 8 : out.data, rt->version, sizeof(rt->version));
		}
		if (strcmp(names[i], "crun") == 0) {
			/* crun lists its build options: "+CRIU" when built with libcriu. */
			rt->criu_support = out.data && strstr(out.data, "+CRIU");
			snprintf(rt->why, sizeof(rt->why), "%s",
			         rt->criu_support ? "built with +CRIU" : "built without CRIU (no +CRIU)");
		} else {
			/* runc drives the criu binary: it needs its checkpoint verb and a criu to run. */
			bool verb =
			    run_capture((const char *const[]){ rt->path, "checkpoint", "--help", NULL }, NULL) == 0;
			rt->criu_support = verb && r->criu_found;
			snprintf(rt->why, sizeof(rt->why), "%s",
			         !verb           ? "no checkpoint command"
			         : r->criu_found ? "runs criu from PATH"
			                         : "criu missing");
		}
		if (r->runtime < 0 || (!r->runtimes[r->runtime].criu_support && rt->criu_support))
			r->runtime = (int)r->n_runtimes;
		r->n_runtimes++;
	}
	ferry_buf_free(&out);
}

/* Mount an overlay in a private mount namespace of a child: proves it works, leaves nothing mounted. */
static bool overlay_mountable(void)
{
	char base[] = "/tmp/ferry-doctor.XXXXXX", dirs[4][PATH_MAX], opts[3 * PATH_MAX + 64];
	static const char *const names[] = { "lower", "upper", "work", "merged" };
	bool ok = false;
	int status;
	pid_t pid;

	if (!mkdtemp(base))
		return false;
	for (int i = 0; i < 4; i++) {
		snprintf(dirs[i], sizeof(dirs[i]), "%s/%s", base, names[i]);
		mkdir(dirs[i], 0700);
	}
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", dirs[0], dirs[1], dirs[2]);
	pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(1);
		_exit(mount("overlay", dirs[3], "overlay", 0, opts) == 0 ? 0 : 1);
	}
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	ferry_rm_tree(base, NULL);
	return ok;
}

static void probe_filesystems(struct ferry_doctor_report *r)
{
	struct ferry_buf b = FERRY_BUF_INIT(PROC_TEXT_MAX);
	char root[PATH_MAX], path[PATH_MAX + 32];

	if (ferry_read_file("/proc/filesystems", PROC_TEXT_MAX, &b, NULL) == 0 && b.data)
		r->overlayfs = strstr(b.data, "\toverlay\n") != NULL;
	r->overlayfs_mountable = r->root && overlay_mountable();
	if (ferry_read_file("/proc/self/mountinfo", PROC_TEXT_MAX, &b, NULL) == 0)
		r->cgroup = ferry_doctor_cgroup_layout(b.data ? b.data : "");
	if (r->cgroup == FERRY_CGROUP_V2 && ferry_cgroup2_root(root, sizeof(root)) == 0) {
		snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
		if (ferry_read_file(path, 4096, &b, NULL) == 0 && b.data) {
			b.data[strcspn(b.data, "\n")] = '\0';
			snprintf(r->cgroup_controllers, sizeof(r->cgroup_controllers), "%s", b.data);
		}
	} else if (ferry_read_file("/proc/cgroups", PROC_TEXT_MAX, &b, NULL) == 0) {
		ferry_doctor_v1_controllers(b.data ? b.data : "", r->cgroup_controllers, sizeof(r->cgroup_controllers));
	}
	ferry_buf_free(&b);
}

static void probe_uffd(struct ferry_doctor_report *r)
{
	struct ferry_buf b = FERRY_BUF_INIT(64);
	int fd;

	r->uffd_unprivileged = -1;
	if (ferry_read_file("/proc/sys/vm/unprivileged_userfaultfd", 64, &b, NULL) == 0 && b.data)
		r->uffd_unprivileged = atoi(b.data) ? 1 : 0;
	ferry_buf_free(&b);
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	r->uffd_syscall = fd >= 0;
	if (fd >= 0)
		close(fd);
}

static void probe_cpu(struct ferry_doctor_report *r)
{
	struct ferry_buf b = FERRY_BUF_INIT(PROC_TEXT_MAX);

	if (ferry_read_file("/proc/cpuinfo", PROC_TEXT_MAX, &b, NULL) == 0 && b.data) {
		const char *m = strstr(b.data, "model name");

		r->cpu_flags = ferry_doctor_parse_cpu_flags(b.data);
		if (m && (m = strchr(m, ':')))
			first_line(m + 2, r->cpu_model, sizeof(r->cpu_model));
	}
	ferry_buf_free(&b);
}

#define FABRIC_VETH  0x1
#define FABRIC_VXLAN 0x2
#define FABRIC_HOLD  0x4

static bool ip_ok(const char *const argv[])
{
	struct ferry_exec_opts o = { .timeout_ms = 10000, .merge_stderr = true };

	return ferry_exec_ok(argv, &o, NULL) == 0;
}

/* Child side, in a network namespace of its own: try what the fabric needs; a bit per success. */
static int fabric_child(void)
{
	int bits = 0, q;

	if (ip_ok((const char *const[]){ "ip", "link", "add", "fdv0", "type", "veth", "peer", "name", "fdv1", NULL }))
		bits |= FABRIC_VETH;
	if (ip_ok((const char *const[]){ "ip", "link", "add", "fdvx0", "type", "vxlan", "id", "42", "dstport", "4789",
	                                 NULL }))
		bits |= FABRIC_VXLAN;
	/* The destination's packet hold: a bound queue and iptables' NFQUEUE target. */
	if ((q = ferry_nfqueue_open(0, 16)) >= 0 &&
	    ip_ok((const char *const[]){ "iptables", "-w", "5", "-t", "raw", "-A", "PREROUTING", "-i", "lo", "-j",
	                                 "NFQUEUE", "--queue-num", "0", NULL }))
		bits |= FABRIC_HOLD;
	return bits;
}

/* Veth, VXLAN and the packet hold, really tried in a throwaway network namespace (gone with the child). */
static void probe_fabric(struct ferry_doctor_report *r)
{
	int status = 0;
	pid_t child;

	if (!r->root)
		return;
	child = fork();
	if (child == 0) {
		alarm(30);
		_exit(unshare(CLONE_NEWNET) < 0 ? 0 : fabric_child());
	}
	if (child < 0)
		return;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status))
		return;
	r->fabric_veth = WEXITSTATUS(status) & FABRIC_VETH;
	r->fabric_vxlan = WEXITSTATUS(status) & FABRIC_VXLAN;
	r->packet_hold = WEXITSTATUS(status) & FABRIC_HOLD;
}

void ferry_doctor_probe(struct ferry_doctor_report *r)
{
	memset(r, 0, sizeof(*r));
	probe_kernel(r);
	probe_criu(r);
	probe_tcp(r);
	probe_firewall(r);
	probe_runtimes(r);
	probe_filesystems(r);
	probe_uffd(r);
	probe_cpu(r);
	probe_fabric(r);
	ferry_doctor_derive_modes(r);
}

void ferry_doctor_report_free(struct ferry_doctor_report *r)
{
	if (!r)
		return;
	free(r->cpu_flags);
	r->cpu_flags = NULL;
}
