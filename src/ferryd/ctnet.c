/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "ferryd"
#include "ctnet.h"
#include "ferry/exec.h"
#include "ferry/fs.h"
#include "ferry/link.h"
#include "ferry/log.h"
#include "ferry/manifest.h"
#include "ferry/parse.h"

#define IP_TIMEOUT_MS 15000
#define VXLAN_DEV     "ferryvx0"
#define NS_CHILD_S    5

static const struct ferry_exec_opts ip_opts = { .timeout_ms = IP_TIMEOUT_MS, .merge_stderr = true };

static int run_ip(const char *const argv[], const char *netns, const char *input, struct ferry_err *err)
{
	struct ferry_exec_opts o = ip_opts;

	o.netns = netns;
	o.input = input;
	return ferry_exec_ok(argv, &o, err);
}

void ctnet_veth_name(const char *name, char buf[IFNAMSIZ])
{
	uint8_t h[32];

	ferry_sha256(name, strlen(name), h);
	snprintf(buf, IFNAMSIZ, CTNET_VETH_PREFIX "%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
}

void ctnet_netns_path(const struct ct_store *s, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", s->netns_dir, name);
}

/* ---- the fabric ---- */

static int build_vxlan(const struct ferry_fabric *f, const char *underlay, struct ferry_err *err)
{
	char vni[16], port[8], addr[24], a[16], peer[16];
	int r;

	snprintf(vni, sizeof(vni), "%u", f->vni);
	snprintf(port, sizeof(port), "%u", f->port);
	snprintf(addr, sizeof(addr), "%s/%u", ferry_format_ipv4(f->address, a), f->address_len);
	if (!ferry_link_exists(f->bridge) &&
	    ((r = run_ip((const char *const[]){ "ip", "link", "add", f->bridge, "type", "bridge", NULL }, NULL, NULL,
	                 err)) < 0 ||
	     (r = run_ip((const char *const[]){ "ip", "addr", "add", addr, "dev", f->bridge, NULL }, NULL, NULL, err)) <
	         0))
		return r;
	/* Rebuilt at every start, so that the peer list is the configuration's. */
	if (ferry_link_exists(VXLAN_DEV))
		run_ip((const char *const[]){ "ip", "link", "del", VXLAN_DEV, NULL }, NULL, NULL, NULL);
	if ((r = run_ip((const char *const[]){ "ip", "link", "add", VXLAN_DEV, "type", "vxlan", "id", vni, "dstport",
	                                       port, "local", underlay, NULL },
	                NULL, NULL, err)) < 0 ||
	    (r = run_ip((const char *const[]){ "ip", "link", "set", VXLAN_DEV, "master", f->bridge, "up", NULL }, NULL,
	                NULL, err)) < 0 ||
	    (r = ferry_link_set_up(f->bridge, true, err)) < 0)
		return r;
	/* Head-end replication: broadcasts (ARP, the announcements) go to every peer. */
	for (unsigned i = 0; i < f->n_peers; i++) {
		ferry_format_ipv4(f->peers[i], peer);
		if (strcmp(peer, underlay) == 0)
			continue;
		if ((r = run_ip((const char *const[]){ "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", VXLAN_DEV,
		                                       "dst", peer, NULL },
		                NULL, NULL, err)) < 0)
			return r;
	}
	return 0;
}

int ctnet_fabric_init(struct ct_store *s, const char *underlay, struct ferry_err *err)
{
	const struct ferry_fabric *f = &s->fabric;
	int r;

	if ((r = ferry_mkdir_p(s->netns_dir, 0700, err)) < 0)
		return r;
	switch (f->kind) {
	case FERRY_FABRIC_NONE:
		return 0;
	case FERRY_FABRIC_BRIDGE:
		if (!ferry_link_exists(f->bridge))
			return ferry_err_set(err, -ENODEV,
			                     "fabric = bridge, but there is no bridge '%s' on this host; create it "
			                     "with the uplink enslaved (docs/DEPLOY.md) or set fabric_bridge",
			                     f->bridge);
		/*
		 * A bridge without an address of its own takes the lowest of its
		 * ports' MACs: a container's veth coming or going would change the
		 * host's MAC under its neighbours' ARP caches (seen here: the host
		 * unreachable for tens of seconds after a migration).
		 */
		return ferry_link_pin_mac(f->bridge, err);
	case FERRY_FABRIC_VXLAN:
		if (!underlay)
			return ferry_err_set(err, -EINVAL, "fabric = vxlan needs this node's --address");
		if ((r = build_vxlan(f, underlay, err)) < 0 || (r = ferry_link_pin_mac(f->bridge, err)) < 0)
			return ferry_err_wrap(err, "building the VXLAN fabric");
		return 0;
	}
	return 0;
}

/* ---- a container's plumbing ---- */

/* A new network namespace, bind-mounted on path by a child (unshare would move this daemon). */
static int make_netns(const char *path, struct ferry_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600), status = 0;
	pid_t child;

	if (fd < 0)
		return ferry_err_sys(err, -errno, "cannot create %s", path);
	close(fd);
	child = fork();
	if (child == 0) {
		alarm(NS_CHILD_S);
		if (unshare(CLONE_NEWNET) < 0 || mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
			_exit(1);
		_exit(0);
	}
	if (child < 0) {
		unlink(path);
		return ferry_err_sys(err, -errno, "cannot fork to make a network namespace");
	}
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		unlink(path);
		return ferry_err_set(err, -EIO, "cannot make the network namespace %s", path);
	}
	return 0;
}

int ctnet_create(struct ct_store *s, const struct ferry_spec *spec, bool up, struct ferry_err *err)
{
	char ns[PATH_MAX], veth[IFNAMSIZ], mac[18], addr[24], a[16], mtu[8], batch[512];
	int r;

	if (!spec->net.addr)
		return 0;
	if (s->fabric.kind == FERRY_FABRIC_NONE)
		return ferry_err_set(err, -ENODEV,
		                     "container '%s' has the fabric address %s, but this node has no fabric (fabric = "
		                     "none in its --config)",
		                     spec->name, ferry_format_ipv4(spec->net.addr, a));
	ctnet_netns_path(s, spec->name, ns, sizeof(ns));
	ctnet_veth_name(spec->name, veth);
	/* Leftovers of an earlier attempt that died mid-way. */
	ctnet_destroy(s, spec->name, NULL);
	if ((r = make_netns(ns, err)) < 0)
		return r;
	ferry_format_mac(spec->net.mac, mac);
	snprintf(addr, sizeof(addr), "%s/%u", ferry_format_ipv4(spec->net.addr, a), spec->net.prefix_len);
	snprintf(mtu, sizeof(mtu), "%u", ferry_link_mtu(s->fabric.bridge));
	/*
	 * Inside the namespace, in one helper: the veth (its peer straight into
	 * this daemon's namespace), no IPv6 link-local address (it would be the
	 * same on both hosts of a migration), the address, loopback.
	 */
	snprintf(batch, sizeof(batch),
	         "link add eth0 mtu %s address %s type veth peer name %s mtu %s netns %d\n"
	         "link set eth0 addrgenmode none\n"
	         "addr add %s dev eth0\n"
	         "link set eth0 up\n"
	         "link set lo up\n",
	         mtu, mac, veth, mtu, (int)getpid(), addr);
	if ((r = run_ip((const char *const[]){ "ip", "-batch", "-", NULL }, ns, batch, err)) < 0 ||
	    (r = run_ip((const char *const[]){ "ip", "link", "set", veth, "master", s->fabric.bridge, NULL }, NULL,
	                NULL, err)) < 0 ||
	    (up && (r = ferry_link_set_up(veth, true, err)) < 0)) {
		ctnet_destroy(s, spec->name, NULL);
		return ferry_err_wrap(err, "network of '%s'", spec->name);
	}
	return 0;
}

int ctnet_set_link(const struct ct_store *s, const char *name, bool up, struct ferry_err *err)
{
	char veth[IFNAMSIZ];

	(void)s;
	ctnet_veth_name(name, veth);
	return ferry_link_set_up(veth, up, err);
}

struct garp {
	uint8_t dst[6], src[6];
	uint16_t type;
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t op;
	uint8_t sha[6], spa[4], tha[6], tpa[4];
} __attribute__((packed));

/* Child side: in the container's namespace, two ARP requests for its own address from its own MAC. */
static int send_garp(void *arg)
{
	const struct ferry_spec *spec = arg;
	struct garp g = { .type = htons(ETH_P_ARP),
		          .htype = htons(1),
		          .ptype = htons(ETH_P_IP),
		          .hlen = 6,
		          .plen = 4,
		          .op = htons(1) };
	uint32_t ip = htonl(spec->net.addr);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP), .sll_halen = 6 };
	int sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP)), ok = 0;

	if (sock < 0 || !(sll.sll_ifindex = (int)if_nametoindex("eth0")))
		return 1;
	memset(g.dst, 0xff, 6);
	memset(sll.sll_addr, 0xff, 6);
	memcpy(g.src, spec->net.mac, 6);
	memcpy(g.sha, spec->net.mac, 6);
	memcpy(g.spa, &ip, 4);
	memcpy(g.tpa, &ip, 4);
	for (int i = 0; i < 2; i++)
		ok += sendto(sock, &g, sizeof(g), 0, (struct sockaddr *)&sll, sizeof(sll)) == (ssize_t)sizeof(g);
	close(sock);
	return ok ? 0 : 1;
}

int ctnet_announce(const struct ct_store *s, const struct ferry_spec *spec, struct ferry_err *err)
{
	char ns[PATH_MAX];
	int r;

	if (!spec->net.addr)
		return 0;
	ctnet_netns_path(s, spec->name, ns, sizeof(ns));
	if ((r = ferry_in_netns(ns, send_garp, (void *)spec, NS_CHILD_S)) != 0)
		return ferry_err_set(err, r < 0 ? r : -EIO, "cannot announce the address of '%s' (gratuitous ARP)",
		                     spec->name);
	return 0;
}

int ctnet_destroy(struct ct_store *s, const char *name, struct ferry_err *err)
{
	char ns[PATH_MAX], veth[IFNAMSIZ];
	int r = 0;

	ctnet_unhold(s, name);
	ctnet_veth_name(name, veth);
	/* Deleting the host end deletes eth0 inside too. */
	if (ferry_link_exists(veth))
		r = run_ip((const char *const[]){ "ip", "link", "del", veth, NULL }, NULL, NULL, err);
	ctnet_netns_path(s, name, ns, sizeof(ns));
	if (umount2(ns, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT && r == 0)
		r = ferry_err_sys(err, -errno, "cannot unmount %s", ns);
	if (unlink(ns) < 0 && errno != ENOENT && r == 0)
		r = ferry_err_sys(err, -errno, "cannot remove %s", ns);
	return r;
}

void ctnet_sweep(struct ct_store *s)
{
	DIR *d = opendir(s->netns_dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || ct_exists(s, de->d_name))
			continue;
		log_warn("removing the network of '%s': no container of that name is here", de->d_name);
		ctnet_destroy(s, de->d_name, NULL);
	}
	if (d)
		closedir(d);
}

/* ---- holding packets for an arriving container ---- */

#define HOLD_READY_MS   5000
#define HOLD_RELEASE_MS 1000
#define HOLD_DEADLINE_S "900" /* a hold nobody releases ends; the helper gives the address up */

static struct ct_hold *find_hold(struct ct_store *s, const char *name)
{
	for (int i = 0; i < CT_MAX; i++)
		if (strcmp(s->holds[i].name, name) == 0)
			return &s->holds[i];
	return NULL;
}

static bool wait_byte(int fd, char want, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c = 0;

	return poll(&p, 1, timeout_ms) == 1 && read(fd, &c, 1) == 1 && c == want;
}

int ctnet_hold(struct ct_store *s, const char *name, uint64_t generation, struct ferry_err *err)
{
	char ns[PATH_MAX];
	const char *argv[] = { "ferryd", "net-hold", ns, HOLD_DEADLINE_S, NULL };
	struct ct_hold *h;
	int in[2], out[2], r;

	ctnet_netns_path(s, name, ns, sizeof(ns));
	ctnet_unhold(s, name);
	if (pipe2(in, O_CLOEXEC) < 0)
		return ferry_err_sys(err, -errno, "cannot make the net-hold pipe");
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return ferry_err_sys(err, -errno, "cannot make the net-hold pipe");
	}
	r = spawn_helper(argv, in[0], out[1], err);
	close(in[0]);
	close(out[1]);
	if (r == 0 && !wait_byte(out[0], 'k', HOLD_READY_MS))
		r = ferry_err_set(err, -EIO,
		                  "cannot hold the packets of '%s' (ferryd net-hold did not start; see the log)", name);
	pthread_mutex_lock(&s->lock);
	h = r == 0 ? find_hold(s, "") : NULL;
	if (h) {
		snprintf(h->name, sizeof(h->name), "%s", name);
		h->generation = generation;
		h->cmd_fd = in[1];
		h->status_fd = out[0];
	} else if (r == 0) {
		r = ferry_err_set(err, -EBUSY, "too many containers arriving at once");
	}
	pthread_mutex_unlock(&s->lock);
	if (r < 0) {
		close(in[1]); /* the helper, if it runs, gives up */
		close(out[0]);
	}
	return r;
}

bool ctnet_held(struct ct_store *s, const char *name, uint64_t generation)
{
	struct ct_hold *h;
	bool held;

	pthread_mutex_lock(&s->lock);
	h = find_hold(s, name);
	held = h && h->generation == generation;
	pthread_mutex_unlock(&s->lock);
	return held;
}

/* Take the hold out of the table; its fds are the caller's. */
static bool take_hold(struct ct_store *s, const char *name, struct ct_hold *ret)
{
	struct ct_hold *h;

	if (!name[0])
		return false;
	pthread_mutex_lock(&s->lock);
	h = find_hold(s, name);
	if (h) {
		*ret = *h;
		memset(h, 0, sizeof(*h));
	}
	pthread_mutex_unlock(&s->lock);
	return h != NULL;
}

int ctnet_release(struct ct_store *s, const char *name, struct ferry_err *err)
{
	struct ct_hold h;
	int r = 0;

	if (!take_hold(s, name, &h))
		return 0;
	if (write(h.cmd_fd, "r", 1) != 1 || !wait_byte(h.status_fd, 'd', HOLD_RELEASE_MS))
		r = ferry_err_set(err, -EIO, "the packets held for '%s' were not released in time", name);
	close(h.cmd_fd);
	close(h.status_fd);
	return r;
}

void ctnet_unhold(struct ct_store *s, const char *name)
{
	struct ct_hold h;

	if (take_hold(s, name, &h)) {
		close(h.cmd_fd); /* end of file: the helper drops the packets and gives the address up */
		close(h.status_fd);
	}
}
