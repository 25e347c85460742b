/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/buf.h"
#include "ferry/cgroup.h"
#include "ferry/channel.h"
#include "ferry/cluster.h"
#include "ferry/runtime.h"
#include "ferry/daemon.h"
#include "ferry/exec.h"
#include "ferry/fs.h"
#include "ferry/link.h"
#include "ferry/mount.h"
#include "ferry/parse.h"
#include "ferry/route.h"

#define PID_FILE          "daemon.pid"
#define LOG_FILE          "daemon.log"
#define CONF_FILE         "daemon.conf"
#define DAEMON_START_MS   5000
#define DAEMON_STOP_MS    3000
#define CGROUP_DESTROY_MS 5000
#define TBF_LATENCY       "50ms"

static const struct ferry_exec_opts ip_opts = { .timeout_ms = FERRY_CLUSTER_CMD_TIMEOUT_MS };

/* Run a helper in the root namespace (netns NULL) or in a node's. */
static int run(const char *const argv[], const char *netns, struct ferry_err *err)
{
	struct ferry_exec_opts o = ip_opts;

	o.netns = netns;
	return ferry_exec_ok(argv, &o, err);
}

#define RUN(err, netns, ...) run((const char *const[]){ __VA_ARGS__, NULL }, (netns), (err))

int ferry_cluster_check_name(const char *name, struct ferry_err *err)
{
	int r = ferry_check_name(name, FERRY_CLUSTER_NAME_MAX, "cluster", err);

	if (r < 0)
		return r;
	/* '-' separates the cluster from the rest in interface names: keep it out. */
	if (strchr(name, '-'))
		return ferry_err_set(err, -EINVAL,
		                     "cluster name '%s' may not contain '-'; expected 1 to %d of a-z, 0-9", name,
		                     FERRY_CLUSTER_NAME_MAX);
	return 0;
}

int ferry_cluster_init(struct ferry_cluster *c, const char *name, const char *root, struct ferry_err *err)
{
	int r = ferry_cluster_check_name(name, err);

	if (r < 0)
		return r;
	if (!root)
		root = getenv("FERRY_CLUSTER_ROOT");
	if (!root || !*root)
		root = FERRY_CLUSTER_ROOT_DEFAULT;
	if (root[0] != '/' || strlen(root) >= sizeof(c->root))
		return ferry_err_set(err, -EINVAL, "cluster state root '%s' must be an absolute path under 256 bytes",
		                     root);
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->root, sizeof(c->root), "%s", root);
	snprintf(c->dir, sizeof(c->dir), "%s/%s", root, name);
	return 0;
}

void ferry_cluster_netns_name(const struct ferry_cluster *c, const char *node, char *buf, size_t len)
{
	snprintf(buf, len, "ferry-%s-%s", c->name, node);
}

void ferry_cluster_node_dir(const struct ferry_cluster *c, const char *node, char *buf, size_t len)
{
	snprintf(buf, len, "%s/nodes/%s", c->dir, node);
}

static void bridge_name(const struct ferry_cluster *c, unsigned i, char buf[16])
{
	snprintf(buf, 16, "fy%s-s%u", c->name, i);
}

static void node_veth_name(const struct ferry_cluster *c, unsigned i, char buf[16])
{
	snprintf(buf, 16, "fy%s-n%u", c->name, i);
}

static void link_veth_name(const struct ferry_cluster *c, unsigned i, char end, char buf[16])
{
	snprintf(buf, 16, "fy%s-l%u%c", c->name, i, end);
}

static void cgroup_rel(const struct ferry_cluster *c, const char *node, char *buf, size_t len)
{
	if (node)
		snprintf(buf, len, "ferry/%s/%s", c->name, node);
	else
		snprintf(buf, len, "ferry/%s", c->name);
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Names in dir starting with prefix; calls fn for each (stops on its error). */
static int for_each_named(const char *dir, const char *prefix, int (*fn)(const char *, void *), void *arg)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!has_prefix(de->d_name, prefix))
			continue;
		r = fn(de->d_name, arg);
		if (r != 0)
			break;
	}
	closedir(d);
	return r;
}

static int found(const char *name, void *arg)
{
	(void)name;
	(void)arg;
	return 1;
}

bool ferry_cluster_exists(const struct ferry_cluster *c)
{
	char ns_prefix[32], if_prefix[16];
	struct stat st;

	snprintf(ns_prefix, sizeof(ns_prefix), "ferry-%s-", c->name);
	snprintf(if_prefix, sizeof(if_prefix), "fy%s-", c->name);
	return stat(c->dir, &st) == 0 || for_each_named("/run/netns", ns_prefix, found, NULL) > 0 ||
	       for_each_named("/sys/class/net", if_prefix, found, NULL) > 0;
}

static int check_subnet_free(const struct ferry_topology *t, struct ferry_err *err)
{
	struct ferry_buf routes = FERRY_BUF_INIT(1024 * 1024);
	char iface[32], a[16], b[16];
	uint32_t dest;
	unsigned len;
	int r;

	r = ferry_read_file("/proc/net/route", 1024 * 1024, &routes, err);
	if (r == 0 && ferry_route_find_overlap(routes.data ? routes.data : "", t->subnet, t->prefix_len, iface,
	                                       sizeof(iface), &dest, &len) > 0)
		r = ferry_err_set(err, -EADDRINUSE,
		                  "subnet %s/%u overlaps the route %s/%u on %s; choose another subnet (--subnet or the "
		                  "topology's 'subnet' line)",
		                  ferry_format_ipv4(t->subnet, a), t->prefix_len, ferry_format_ipv4(dest, b), len,
		                  iface);
	ferry_buf_free(&routes);
	return r;
}

static uint64_t tbf_burst(uint64_t bps)
{
	/* 10 ms worth of bytes, at least 16 KiB (above any MTU; tbf needs burst >= rate/HZ). */
	uint64_t burst = bps / 8 / 100;

	return burst < 16384 ? 16384 : burst;
}

static int set_tbf(const char *dev, const char *netns, uint64_t bps, struct ferry_err *err)
{
	char rate[32], burst[32];
	struct ferry_exec_result res;
	struct ferry_exec_opts o = ip_opts;
	int r;

	if (bps == 0) {
		/* Deleting an absent root qdisc fails harmlessly; the device itself was checked by the caller. */
		o.netns = netns;
		r = ferry_exec((const char *const[]){ "tc", "qdisc", "del", "dev", dev, "root", NULL }, &o, &res, err);
		ferry_exec_result_free(&res);
		return r;
	}
	snprintf(rate, sizeof(rate), "%llubit", (unsigned long long)bps);
	snprintf(burst, sizeof(burst), "%llu", (unsigned long long)tbf_burst(bps));
	return RUN(err, netns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", burst,
	           "latency", TBF_LATENCY);
}

/* The tbf rate on dev as the kernel reports it (0 when none). */
static uint64_t read_tbf(const char *dev, const char *netns)
{
	struct ferry_exec_opts o = ip_opts;
	struct ferry_exec_result res;
	uint64_t bps = 0;
	char *p;

	o.netns = netns;
	if (ferry_exec((const char *const[]){ "tc", "qdisc", "show", "dev", dev, "root", NULL }, &o, &res, NULL) == 0 &&
	    res.status == 0 && res.out.data && strstr(res.out.data, "qdisc tbf") &&
	    (p = strstr(res.out.data, " rate "))) {
		char word[32];

		if (sscanf(p + 6, "%31s", word) == 1 && ferry_parse_rate(word, &bps, NULL) < 0)
			bps = 0;
	}
	ferry_exec_result_free(&res);
	return bps;
}

/* Whether pid is the daemon we started for node (in its cgroup, or with its state dir on the command line). */
static bool owned_pid(const struct ferry_cluster *c, const char *node, pid_t pid)
{
	char rel[128], root[PATH_MAX], path[64], dir[PATH_MAX];
	struct ferry_buf cmd = FERRY_BUF_INIT(64 * 1024);
	bool ok = false;

	if (pid <= 1 || kill(pid, 0) < 0)
		return false;
	if (ferry_cgroup2_root(root, sizeof(root)) == 0) {
		cgroup_rel(c, node, rel, sizeof(rel));
		return ferry_cgroup_contains(rel, pid);
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	ferry_cluster_node_dir(c, node, dir, sizeof(dir));
	if (ferry_read_file(path, 64 * 1024, &cmd, NULL) == 0)
		for (size_t i = 0; i < cmd.len; i += strlen(cmd.data + i) + 1)
			if (strcmp(cmd.data + i, dir) == 0)
				ok = true;
	ferry_buf_free(&cmd);
	return ok;
}

/* SIGTERM the node's daemon and wait for it; it may already be gone. */
static void stop_daemon(const struct ferry_cluster *c, const char *node)
{
	char dir[PATH_MAX], pidfile[PATH_MAX + 16];
	long long deadline;
	pid_t pid;
	int pfd;

	ferry_cluster_node_dir(c, node, dir, sizeof(dir));
	snprintf(pidfile, sizeof(pidfile), "%s/%s", dir, PID_FILE);
	if (ferry_pidfile_read(pidfile, &pid, NULL) < 0 || !owned_pid(c, node, pid))
		return;
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return;
	/* pidfd pins the process: the signal cannot hit a recycled pid. */
	syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0);
	deadline = ferry_now_ms() + DAEMON_STOP_MS;
	while (ferry_now_ms() < deadline) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			break;
	}
	if (ferry_now_ms() >= deadline)
		syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
	close(pfd);
}

struct down_ctx {
	const struct ferry_cluster *c;
	struct ferry_err *err;
	int first;
};

static void note(struct down_ctx *d, int r, struct ferry_err *e)
{
	if (r < 0 && d->first == 0) {
		d->first = r;
		if (d->err)
			*d->err = *e;
	}
}

static int stop_node_dir(const char *node, void *arg)
{
	struct down_ctx *d = arg;

	if (node[0] != '.')
		stop_daemon(d->c, node);
	return 0;
}

static int del_netns(const char *ns, void *arg)
{
	struct down_ctx *d = arg;
	struct ferry_err e = { 0 };

	note(d, RUN(&e, NULL, "ip", "netns", "delete", ns), &e);
	return 0;
}

static int del_link(const char *dev, void *arg)
{
	struct down_ctx *d = arg;
	struct ferry_err e = { 0 };
	char path[PATH_MAX];
	int r;

	r = RUN(&e, NULL, "ip", "link", "delete", dev);
	/* Deleting one end of a veth pair removes the other: it may be gone already. */
	snprintf(path, sizeof(path), "/sys/class/net/%s", dev);
	if (r < 0 && access(path, F_OK) == 0)
		note(d, r, &e);
	return 0;
}

int ferry_cluster_down(const struct ferry_cluster *c, struct ferry_err *err)
{
	struct down_ctx d = { .c = c, .err = err };
	char prefix[32], path[PATH_MAX], rel[64], root[PATH_MAX];
	struct ferry_err e = { 0 };

	/* Processes first: a namespace lives on while a process holds it. */
	snprintf(path, sizeof(path), "%s/nodes", c->dir);
	for_each_named(path, "", stop_node_dir, &d);
	if (ferry_cgroup2_root(root, sizeof(root)) == 0) {
		cgroup_rel(c, NULL, rel, sizeof(rel));
		snprintf(path, sizeof(path), "%s/%s", root, rel);
		/* Containers of the nodes also have groups in every v1 hierarchy of a hybrid host. */
		note(&d, ferry_cgroup_destroy_everywhere(rel, CGROUP_DESTROY_MS, &e), &e);
		snprintf(path, sizeof(path), "%s/ferry", root);
		rmdir(path); /* shared by all clusters: only when empty */
	}
	snprintf(prefix, sizeof(prefix), "ferry-%s-", c->name);
	for_each_named("/run/netns", prefix, del_netns, &d);
	snprintf(prefix, sizeof(prefix), "fy%s-", c->name);
	for_each_named("/sys/class/net", prefix, del_link, &d);
	/* A node killed before it could unlink CRIU's cache link leaves it behind (runtime/kdat.c). */
	snprintf(path, sizeof(path), "%s/", c->dir);
	ferry_criu_kdat_unlink(path);
	note(&d, ferry_umount_tree(c->dir, &e), &e);
	note(&d, ferry_rm_tree(c->dir, &e), &e);
	/* Parents we created, only when no other cluster is left. */
	if (rmdir(c->root) == 0 && strcmp(c->root, FERRY_CLUSTER_ROOT_DEFAULT) == 0)
		rmdir("/run/ferry");
	return d.first;
}

static int write_topology(const struct ferry_cluster *c, const struct ferry_topology *t, struct ferry_err *err)
{
	struct ferry_buf text = FERRY_BUF_INIT(FERRY_TOPO_FILE_MAX);
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/topology", c->dir);
	r = ferry_topology_format(t, &text);
	if (r < 0)
		r = ferry_err_set(err, r, "cannot format the topology");
	else
		r = ferry_write_file_atomic(path, text.data, text.len, 0600, err);
	ferry_buf_free(&text);
	return r;
}

int ferry_cluster_load(const struct ferry_cluster *c, struct ferry_topology *ret, struct ferry_err *err)
{
	struct ferry_buf text = FERRY_BUF_INIT(FERRY_TOPO_FILE_MAX);
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/topology", c->dir);
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return ferry_err_set(err, -ENOENT, "cluster '%s' is not up (no %s)", c->name, path);
	r = ferry_read_file(path, FERRY_TOPO_FILE_MAX, &text, err);
	if (r == 0)
		r = ferry_topology_parse(text.data ? text.data : "", text.len, ret, err);
	ferry_buf_free(&text);
	return r;
}

static int make_switches(const struct ferry_cluster *c, const struct ferry_topology *t, struct ferry_err *err)
{
	char br[16], a[16], b[16], gw[32];
	int r;

	for (unsigned i = 0; i < t->n_switches; i++) {
		bridge_name(c, i, br);
		/*
		 * Its MAC pinned: a bridge follows the lowest of its ports' MACs, so
		 * each host joining would change the gateway's MAC under the nodes'
		 * neighbour caches, and their traffic to it (a store on the operator's
		 * side) would go nowhere until those entries expire.
		 */
		if ((r = RUN(err, NULL, "ip", "link", "add", br, "type", "bridge")) < 0 ||
		    (r = ferry_link_pin_mac(br, err)) < 0 || (r = RUN(err, NULL, "ip", "link", "set", br, "up")) < 0)
			return r;
	}
	/* The operator's own address on the first switch: reach the nodes, no routing beyond. */
	bridge_name(c, 0, br);
	snprintf(gw, sizeof(gw), "%s/%u", ferry_format_ipv4(t->gateway, a), t->prefix_len);
	if ((r = RUN(err, NULL, "ip", "addr", "add", gw, "dev", br)) < 0)
		return r;
	for (unsigned i = 0; i < t->n_links; i++) {
		char sa[16], sb[16];

		link_veth_name(c, i, 'a', a);
		link_veth_name(c, i, 'b', b);
		bridge_name(c, t->links[i].a, sa);
		bridge_name(c, t->links[i].b, sb);
		if ((r = RUN(err, NULL, "ip", "link", "add", a, "type", "veth", "peer", "name", b)) < 0 ||
		    (r = RUN(err, NULL, "ip", "link", "set", a, "master", sa, "up")) < 0 ||
		    (r = RUN(err, NULL, "ip", "link", "set", b, "master", sb, "up")) < 0)
			return r;
		if (t->links[i].rate_bps && ((r = set_tbf(a, NULL, t->links[i].rate_bps, err)) < 0 ||
		                             (r = set_tbf(b, NULL, t->links[i].rate_bps, err)) < 0))
			return r;
	}
	return 0;
}

static int make_node_net(const struct ferry_cluster *c, const struct ferry_topology *t, unsigned i,
                         struct ferry_err *err)
{
	const struct ferry_topo_node *n = &t->nodes[i];
	char ns[96], veth[16], peer[16], br[16], addr[32], a[16];
	int r;

	ferry_cluster_netns_name(c, n->name, ns, sizeof(ns));
	node_veth_name(c, i, veth);
	snprintf(peer, sizeof(peer), "fy%s-p%u", c->name, i);
	bridge_name(c, n->sw, br);
	snprintf(addr, sizeof(addr), "%s/%u", ferry_format_ipv4(n->addr, a), t->prefix_len);
	/*
	 * With the bridge fabric, a host's uplink is a port of its bridge
	 * "ferry0", which holds the host's address: the operator's network
	 * configuration on a real host, done here for the test bed.
	 */
	bool bridged = t->fabric == FERRY_FABRIC_BRIDGE && n->role == FERRY_NODE_HOST;
	const char *home = bridged ? FERRY_FABRIC_BRIDGE_DEFAULT : "eth0";

	if ((r = RUN(err, NULL, "ip", "netns", "add", ns)) < 0 ||
	    (r = RUN(err, NULL, "ip", "link", "add", veth, "type", "veth", "peer", "name", peer)) < 0 ||
	    (r = RUN(err, NULL, "ip", "link", "set", peer, "netns", ns)) < 0 ||
	    (r = RUN(err, ns, "ip", "link", "set", peer, "name", "eth0")) < 0)
		return r;
	if (bridged && ((r = RUN(err, ns, "ip", "link", "add", home, "type", "bridge")) < 0 ||
	                (r = RUN(err, ns, "ip", "link", "set", "eth0", "master", home)) < 0 ||
	                (r = RUN(err, ns, "ip", "link", "set", home, "up")) < 0))
		return r;
	if ((r = RUN(err, ns, "ip", "addr", "add", addr, "dev", home)) < 0 ||
	    (r = RUN(err, ns, "ip", "link", "set", "eth0", "up")) < 0 ||
	    (r = RUN(err, ns, "ip", "link", "set", "lo", "up")) < 0 ||
	    (r = RUN(err, NULL, "ip", "link", "set", veth, "master", br, "up")) < 0)
		return r;
	if (n->rate_bps &&
	    ((r = set_tbf(veth, NULL, n->rate_bps, err)) < 0 || (r = set_tbf("eth0", ns, n->rate_bps, err)) < 0))
		return r;
	return 0;
}

static const char *controller_address(const struct ferry_topology *t, char buf[16])
{
	for (unsigned i = 0; i < t->n_nodes; i++)
		if (t->nodes[i].role == FERRY_NODE_CONTROLLER)
			return ferry_format_ipv4(t->nodes[i].addr, buf);
	return NULL;
}

/* Child side of start_daemon: never returns. */
static void exec_daemon(const char *cgroup, const char *ns, const char *log, const char *const argv[])
{
	int fd, devnull;
	sigset_t none;

	setsid();
	if (cgroup && ferry_cgroup_enter(cgroup, 0, NULL) < 0)
		_exit(120);
	if (ferry_netns_enter(ns, NULL) < 0)
		_exit(121);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || devnull < 0)
		_exit(122);
	dup2(devnull, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Fork again so the daemon is not our child: it outlives the CLI. */
	if (fork() != 0)
		_exit(0);
	execv(argv[0], (char *const *)argv);
	dprintf(STDERR_FILENO, "cannot exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * The daemons' --config: the fabric keys (ferry/fabric.h).  Containers take
 * the upper half of the cluster's subnet (bridge) or of the overlay (vxlan);
 * hosts keep the lower half.
 */
static int write_daemon_config(const struct ferry_cluster *c, const struct ferry_topology *t, unsigned i,
                               const char *path, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(16 * 1024);
	uint32_t overlay, subnet = t->subnet;
	unsigned overlay_len, len = t->prefix_len;
	char a[16];
	int r = 0;

	ferry_parse_ipv4_prefix(FERRY_CLUSTER_OVERLAY, 16, 16, &overlay, &overlay_len, NULL);
	if (t->fabric == FERRY_FABRIC_VXLAN) {
		subnet = overlay;
		len = overlay_len;
	}
	r = ferry_buf_printf(&b, "# written by ferry cluster up\n");
	if (t->fabric == FERRY_FABRIC_NONE) {
		r = r ? r : ferry_buf_printf(&b, "fabric = none\n");
	} else if (t->nodes[i].role == FERRY_NODE_CONTROLLER) {
		r = r ? r : ferry_buf_printf(&b, "fabric_subnet = %s/%u\n", ferry_format_ipv4(subnet, a), len);
		r = r ? r
		      : ferry_buf_printf(&b, "fabric_pool = %s/%u\n", ferry_format_ipv4(subnet | 1U << (31 - len), a),
		                         len + 1);
	} else {
		r = r ? r : ferry_buf_printf(&b, "fabric = %s\n", ferry_fabric_kind_name(t->fabric));
		if (t->fabric == FERRY_FABRIC_VXLAN) {
			r = r ? r
			      : ferry_buf_printf(&b, "fabric_address = %s/%u\n", ferry_format_ipv4(overlay + 10 + i, a),
			                         overlay_len);
			for (unsigned k = 0; r == 0 && k < t->n_nodes; k++)
				if (k != i && t->nodes[k].role == FERRY_NODE_HOST)
					r = ferry_buf_printf(&b, "vxlan_peer = %s\n",
					                     ferry_format_ipv4(t->nodes[k].addr, a));
		}
	}
	if (t->allow_postcopy && t->nodes[i].role == FERRY_NODE_CONTROLLER)
		r = r ? r : ferry_buf_printf(&b, "allow_postcopy = yes\n");
	/* The migration manager decides on the layout the cluster was built from. */
	if (t->nodes[i].role == FERRY_NODE_CONTROLLER && c->dir[0] == '/')
		r = r ? r : ferry_buf_printf(&b, "topology = %s/topology\n", c->dir);
	if (t->nodes[i].role == FERRY_NODE_CONTROLLER && t->controller_config[0])
		r = r ? r : ferry_buf_printf(&b, "include = %s\n", t->controller_config);
	if (t->nodes[i].role == FERRY_NODE_HOST && t->node_config[0])
		r = r ? r : ferry_buf_printf(&b, "include = %s\n", t->node_config);
	r = r < 0 ? ferry_err_set(err, r, "cannot format %s", path)
	          : ferry_write_file_atomic(path, b.data, b.len, 0600, err);
	ferry_buf_free(&b);
	return r;
}

static int start_daemon(const struct ferry_cluster *c, const struct ferry_topology *t, unsigned i, const char *bin,
                        struct ferry_err *err)
{
	const struct ferry_topo_node *n = &t->nodes[i];
	char dir[PATH_MAX], pidfile[PATH_MAX + 16], log[PATH_MAX + 16], ns[96], rel[128], cg[PATH_MAX];
	char conf[PATH_MAX + 16], addr[16], ctl[16];
	const char *cgroup = NULL, *ctl_addr = controller_address(t, ctl);
	long long deadline;
	int status, r;
	pid_t pid, child;

	ferry_cluster_node_dir(c, n->name, dir, sizeof(dir));
	snprintf(pidfile, sizeof(pidfile), "%s/%s", dir, PID_FILE);
	snprintf(log, sizeof(log), "%s/%s", dir, LOG_FILE);
	snprintf(conf, sizeof(conf), "%s/%s", dir, CONF_FILE);
	if ((r = write_daemon_config(c, t, i, conf, err)) < 0)
		return r;
	ferry_cluster_netns_name(c, n->name, ns, sizeof(ns));
	ferry_format_ipv4(n->addr, addr);
	cgroup_rel(c, n->name, rel, sizeof(rel));
	if (ferry_cgroup_create(rel, cg, sizeof(cg), NULL) == 0)
		cgroup = cg;

	const char *argv[] = {
		bin,      "--name",    n->name, "--state-dir",
		dir,      "--address", addr,    "--pid-file",
		pidfile,  "--config",  conf,    ctl_addr && n->role == FERRY_NODE_HOST ? "--controller" : NULL,
		ctl_addr, NULL
	};

	child = fork();
	if (child < 0)
		return ferry_err_sys(err, -errno, "cannot fork to start %s on %s", bin, n->name);
	if (child == 0)
		exec_daemon(cgroup, ns, log, argv);
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return ferry_err_set(err, -EIO, "cannot start %s on %s (cgroup, netns or log file; status %d)", bin,
		                     n->name, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	/* Ready when the daemon has written and locked its pid file. */
	deadline = ferry_now_ms() + DAEMON_START_MS;
	bool exited = false;

	while (ferry_now_ms() < deadline) {
		pid_t any;

		if (ferry_pidfile_read(pidfile, &pid, NULL) == 0 && owned_pid(c, n->name, pid))
			return 0;
		/* Its cgroup emptied: the daemon gave up (a bad --config, say); no use waiting out the deadline. */
		if (cgroup && ferry_cgroup_pids(rel, &any, 1) == 0) {
			exited = true;
			break;
		}
		usleep(20 * 1000);
	}
	/* The log goes with the rollback: quote its last line. */
	{
		struct ferry_buf text = FERRY_BUF_INIT(64 * 1024);
		const char *last = "";

		if (ferry_read_file(log, 64 * 1024, &text, NULL) == 0 && text.len) {
			text.data[text.len - 1] = '\0';
			last = strrchr(text.data, '\n') ? strrchr(text.data, '\n') + 1 : text.data;
		}
		if (exited)
			r = ferry_err_set(err, -EIO, "%s on %s exited at start: %.400s", bin, n->name,
			                  last[0] ? last : "(its log is empty)");
		else
			r = ferry_err_set(err, -ETIMEDOUT, "%s on %s did not start within %d ms: %.300s", bin, n->name,
			                  DAEMON_START_MS, last[0] ? last : "(its log is empty)");
		ferry_buf_free(&text);
	}
	return r;
}

static int controller_index(const struct ferry_topology *t)
{
	for (unsigned i = 0; i < t->n_nodes; i++)
		if (t->nodes[i].role == FERRY_NODE_CONTROLLER)
			return (int)i;
	return -1;
}

/* The controller's CA, keys and registry, and the operator's admin credentials in <cluster>/admin. */
static int provision_controller(const struct ferry_cluster *c, const struct ferry_topology *t, unsigned i,
                                const char *bin, struct ferry_err *err)
{
	char dir[PATH_MAX], admin[PATH_MAX + 8], listen[32], a[16];
	int r;

	ferry_cluster_node_dir(c, t->nodes[i].name, dir, sizeof(dir));
	snprintf(admin, sizeof(admin), "%s/admin", c->dir);
	snprintf(listen, sizeof(listen), "%s:%d", ferry_format_ipv4(t->nodes[i].addr, a), FERRY_PORT_CONTROLLER);
	/* The store's URL holds a password: it goes by a 0600 file in the state directory, never by argv. */
	if (t->store_file[0]) {
		struct ferry_buf text = FERRY_BUF_INIT(4096);
		char store[PATH_MAX + 8];

		snprintf(store, sizeof(store), "%s/store", dir);
		r = ferry_read_file(t->store_file, 4096, &text, err);
		r = r ? r : ferry_write_file_atomic(store, text.data ? text.data : "", text.len, 0600, err);
		if (text.data)
			memset(text.data, 0, text.len);
		ferry_buf_free(&text);
		if (r < 0)
			return r;
	}
	if ((r = RUN(err, NULL, bin, "init", "--state-dir", dir, "--listen", listen)) < 0 ||
	    (r = RUN(err, NULL, bin, "admin-cert", "--state-dir", dir, "--out", admin)) < 0)
		return ferry_err_wrap(err, "provisioning the controller");
	return 0;
}

/* A join token from the controller's state, then `ferryd join` inside the host's namespace. */
static int enroll_host(const struct ferry_cluster *c, const struct ferry_topology *t, unsigned i,
                       const struct ferry_cluster_daemons *daemons, struct ferry_err *err)
{
	struct ferry_exec_opts o = ip_opts;
	struct ferry_exec_result res;
	char dir[PATH_MAX], ctl_dir[PATH_MAX], ns[96], listen[32], a[16];
	int ci = controller_index(t), r;

	ferry_cluster_node_dir(c, t->nodes[ci].name, ctl_dir, sizeof(ctl_dir));
	ferry_cluster_node_dir(c, t->nodes[i].name, dir, sizeof(dir));
	ferry_cluster_netns_name(c, t->nodes[i].name, ns, sizeof(ns));
	snprintf(listen, sizeof(listen), "%s:%d", ferry_format_ipv4(t->nodes[i].addr, a), FERRY_PORT_NODE);
	r = ferry_exec((const char *const[]){ daemons->controller, "token", "create", "--state-dir", ctl_dir, "--node",
	                                      t->nodes[i].name, "--ttl", "60s", NULL },
	               &o, &res, err);
	if (r == 0 && res.status != 0)
		r = ferry_err_set(err, -EIO, "cannot create a join token for %s: %s", t->nodes[i].name,
		                  res.errout.data ? res.errout.data : "");
	if (r == 0) {
		o.netns = ns;
		o.input = res.out.data; /* the token, through stdin */
		r = ferry_exec_ok(
		    (const char *const[]){ daemons->ferryd, "join", "-", "--state-dir", dir, "--listen", listen, NULL },
		    &o, err);
	}
	if (res.out.data)
		memset(res.out.data, 0, res.out.len);
	ferry_exec_result_free(&res);
	return r < 0 ? ferry_err_wrap(err, "enrolling %s", t->nodes[i].name) : 0;
}

static int make_node(const struct ferry_cluster *c, const struct ferry_topology *t, unsigned i,
                     const struct ferry_cluster_daemons *daemons, struct ferry_err *err)
{
	const struct ferry_topo_node *n = &t->nodes[i];
	const char *bin = n->role == FERRY_NODE_HOST         ? daemons->ferryd
	                  : n->role == FERRY_NODE_CONTROLLER ? daemons->controller
	                                                     : NULL; /* a client runs no daemon */
	char dir[PATH_MAX], tmp[PATH_MAX + 8];
	int r;

	if ((r = make_node_net(c, t, i, err)) < 0)
		return r;
	ferry_cluster_node_dir(c, n->name, dir, sizeof(dir));
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	if ((r = ferry_mkdir_p(tmp, 0700, err)) < 0 ||
	    (r = ferry_mount_private_tmpfs(tmp, FERRY_CLUSTER_TMPFS_MB, err)) < 0)
		return r;
	if (!bin)
		return 0;
	if (n->role == FERRY_NODE_CONTROLLER && (r = provision_controller(c, t, i, bin, err)) < 0)
		return r;
	if (n->role == FERRY_NODE_HOST && (r = enroll_host(c, t, i, daemons, err)) < 0)
		return r;
	return start_daemon(c, t, i, bin, err);
}

int ferry_cluster_up(const struct ferry_cluster *c, const struct ferry_topology *t,
                     const struct ferry_cluster_daemons *daemons, struct ferry_err *err)
{
	struct ferry_err cleanup_err = { 0 };
	int r;

	if (geteuid() != 0)
		return ferry_err_set(err, -EPERM, "building a local cluster needs root (namespaces, bridges, mounts)");
	if (ferry_cluster_exists(c))
		return ferry_err_set(err, -EEXIST,
		                     "cluster '%s' already exists; run 'ferry cluster down --name %s' first", c->name,
		                     c->name);
	if ((r = check_subnet_free(t, err)) < 0)
		return r;
	if ((daemons->ferryd || daemons->controller) && controller_index(t) < 0)
		return ferry_err_set(err, -EINVAL,
		                     "the topology has no controller, which the daemons need (add 'controller switch "
		                     "SWITCH', or use --no-daemons)");
	if ((r = ferry_mkdir_p(c->dir, 0700, err)) < 0)
		goto fail;
	if (chmod(c->dir, 0700) < 0) {
		r = ferry_err_sys(err, -errno, "cannot chmod %s", c->dir);
		goto fail;
	}
	if ((r = write_topology(c, t, err)) < 0 || (r = make_switches(c, t, err)) < 0)
		goto fail;
	/* The controller first, so hosts find it when they start. */
	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < t->n_nodes; i++)
			if ((t->nodes[i].role == FERRY_NODE_CONTROLLER) == (pass == 0) &&
			    (r = make_node(c, t, i, daemons, err)) < 0)
				goto fail;
	return 0;
fail:
	/* Nothing half-done: remove all of it, keep the first error. */
	ferry_cluster_down(c, &cleanup_err);
	return r;
}

int ferry_cluster_restart(const struct ferry_cluster *c, const struct ferry_topology *t, const char *node,
                          const struct ferry_cluster_daemons *daemons, struct ferry_err *err)
{
	int i = ferry_topology_find_node(t, node);
	const char *bin;

	if (i < 0)
		return ferry_err_set(err, -ENOENT, "cluster '%s' has no node '%s'", c->name, node);
	if (t->nodes[i].role == FERRY_NODE_CLIENT)
		return ferry_err_set(err, -EINVAL, "'%s' is a client: it runs no daemon", node);
	bin = t->nodes[i].role == FERRY_NODE_HOST ? daemons->ferryd : daemons->controller;
	if (!bin)
		return ferry_err_set(err, -EINVAL, "no daemon binary for %s", node);
	stop_daemon(c, node);
	return start_daemon(c, t, (unsigned)i, bin, err);
}

void ferry_cluster_node_state(const struct ferry_cluster *c, const struct ferry_topology *t, unsigned i,
                              struct ferry_cluster_node_state *ret)
{
	const struct ferry_topo_node *n = &t->nodes[i];
	char ns[96], path[PATH_MAX], veth[16], dir[PATH_MAX];

	memset(ret, 0, sizeof(*ret));
	ferry_cluster_netns_name(c, n->name, ns, sizeof(ns));
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	ret->netns = access(path, F_OK) == 0;
	node_veth_name(c, i, veth);
	snprintf(path, sizeof(path), "/sys/class/net/%s", veth);
	ret->link_up = access(path, F_OK) == 0;
	ferry_cluster_node_dir(c, n->name, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, PID_FILE);
	if (ferry_pidfile_read(path, &ret->pid, NULL) < 0)
		ret->pid = 0;
	ret->running = ret->pid && owned_pid(c, n->name, ret->pid);
	if (ret->link_up)
		ret->rate_bps = read_tbf(veth, NULL);
}

uint64_t ferry_cluster_link_rate(const struct ferry_cluster *c, unsigned i)
{
	char dev[16];

	link_veth_name(c, i, 'a', dev);
	return read_tbf(dev, NULL);
}

static int shape_switch_link(const struct ferry_cluster *c, const struct ferry_topology *t, const char *target,
                             uint64_t bps, struct ferry_err *err)
{
	char left[FERRY_TOPO_NAME_MAX + 1], a[16], b[16];
	const char *colon = strchr(target, ':');
	int sa, sb, r;

	if ((size_t)(colon - target) > FERRY_TOPO_NAME_MAX)
		return ferry_err_set(err, -EINVAL, "'%s' names no switch", target);
	snprintf(left, sizeof(left), "%.*s", (int)(colon - target), target);
	sa = ferry_topology_find_switch(t, left);
	sb = ferry_topology_find_switch(t, colon + 1);
	for (unsigned i = 0; sa >= 0 && sb >= 0 && i < t->n_links; i++) {
		const struct ferry_topo_link *l = &t->links[i];

		if (!((l->a == (unsigned)sa && l->b == (unsigned)sb) || (l->a == (unsigned)sb && l->b == (unsigned)sa)))
			continue;
		link_veth_name(c, i, 'a', a);
		link_veth_name(c, i, 'b', b);
		if ((r = set_tbf(a, NULL, bps, err)) < 0 || (r = set_tbf(b, NULL, bps, err)) < 0)
			return r;
		return 0;
	}
	return ferry_err_set(err, -ENOENT,
	                     "cluster '%s' has no switch link '%s'; expected SWITCH:SWITCH of a 'link' line", c->name,
	                     target);
}

int ferry_cluster_shape(const struct ferry_cluster *c, const struct ferry_topology *t, const char *target, uint64_t bps,
                        struct ferry_err *err)
{
	char veth[16], ns[96], path[PATH_MAX];
	int i, r;

	if (strchr(target, ':'))
		return shape_switch_link(c, t, target, bps, err);
	i = ferry_topology_find_node(t, target);
	if (i < 0)
		return ferry_err_set(err, -ENOENT,
		                     "cluster '%s' has no node '%s'; expected a node name (see 'ferry cluster status') "
		                     "or SWITCH:SWITCH",
		                     c->name, target);
	node_veth_name(c, (unsigned)i, veth);
	ferry_cluster_netns_name(c, target, ns, sizeof(ns));
	snprintf(path, sizeof(path), "/sys/class/net/%s", veth);
	if (access(path, F_OK) < 0)
		return ferry_err_set(err, -ENOENT, "node '%s' has no link (%s is missing); is the cluster up?", target,
		                     veth);
	if ((r = set_tbf(veth, NULL, bps, err)) < 0 || (r = set_tbf("eth0", ns, bps, err)) < 0)
		return r;
	return 0;
}

int ferry_cluster_list(const char *root, char names[][FERRY_CLUSTER_NAME_MAX + 1], int max)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	if (!root)
		root = getenv("FERRY_CLUSTER_ROOT");
	if (!root || !*root)
		root = FERRY_CLUSTER_ROOT_DEFAULT;
	d = opendir(root);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		if (de->d_name[0] == '.' || ferry_cluster_check_name(de->d_name, NULL) < 0)
			continue;
		snprintf(names[n++], FERRY_CLUSTER_NAME_MAX + 1, "%s", de->d_name);
	}
	closedir(d);
	return n;
}
