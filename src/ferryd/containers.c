/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include "containers.h"
#include "ctnet.h"
#include "ferry/identity.h"
#include "ferry/cgroup.h"
#include "ferry/clock.h"
#include "ferry/exec.h"
#include "ferry/fs.h"
#include "ferry/hex.h"
#include "ferry/layer.h"
#include "ferry/link.h"
#include "ferry/mount.h"
#include "ferry/parse.h"

/* ---- the store ---- */

/* Containers live in a sibling of this daemon's cgroup: <own>-containers/<name>. */
static void cgroup_parent(char *buf, size_t len)
{
	struct ferry_buf b = FERRY_BUF_INIT(64 * 1024);
	const char *p;
	char own[PATH_MAX] = "";

	if (ferry_read_file("/proc/self/cgroup", 64 * 1024, &b, NULL) == 0 && b.data) {
		for (p = b.data; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
			if (strncmp(p, "0::", 3) == 0) {
				snprintf(own, sizeof(own), "%.*s", (int)strcspn(p + 3, "\n"), p + 3);
				break;
			}
	}
	ferry_buf_free(&b);
	if (!own[0] || strcmp(own, "/") == 0)
		snprintf(buf, len, "/ferry-containers");
	else
		snprintf(buf, len, "%s-containers", own);
}

int ct_store_init(struct ct_store *s, const char *state_dir, struct ferry_err *err)
{
	const char *rt = getenv("FERRY_RUNTIME");
	int r;

	memset(s->busy, 0, sizeof(s->busy));
	memset(s->holds, 0, sizeof(s->holds));
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->dir, sizeof(s->dir), "%s/containers", state_dir);
	snprintf(s->layers, sizeof(s->layers), "%s/layers", state_dir);
	snprintf(s->runc_root, sizeof(s->runc_root), "%s/runc", state_dir);
	snprintf(s->netns_dir, sizeof(s->netns_dir), "%s/netns", state_dir);
	snprintf(s->runtime, sizeof(s->runtime), "%s", rt && (strcmp(rt, "crun") == 0) ? "crun" : "runc");
	cgroup_parent(s->cgroup_parent, sizeof(s->cgroup_parent));
	if ((r = ferry_mkdir_p(s->dir, 0700, err)) < 0 || (r = ferry_mkdir_p(s->layers, 0700, err)) < 0 ||
	    (r = ferry_mkdir_p(s->runc_root, 0700, err)) < 0)
		return r;
	return 0;
}

int ct_claim(struct ct_store *s, const char *name, struct ferry_err *err)
{
	int free_slot = -1, r = 0;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < CT_MAX; i++) {
		if (s->busy[i][0] && strcmp(s->busy[i], name) == 0) {
			r = ferry_err_set(err, -EBUSY, "container '%s' is busy with another operation (a migration?)",
			                  name);
			break;
		}
		if (!s->busy[i][0] && free_slot < 0)
			free_slot = i;
	}
	if (r == 0 && free_slot < 0)
		r = ferry_err_set(err, -EBUSY, "too many container operations at once");
	if (r == 0)
		snprintf(s->busy[free_slot], sizeof(s->busy[0]), "%s", name);
	pthread_mutex_unlock(&s->lock);
	return r;
}

void ct_release(struct ct_store *s, const char *name)
{
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < CT_MAX; i++)
		if (strcmp(s->busy[i], name) == 0)
			s->busy[i][0] = '\0';
	pthread_mutex_unlock(&s->lock);
}

void ct_cgroup_rel(const struct ct_store *s, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", s->cgroup_parent + 1, name);
}

void ct_path(const struct ct_store *s, const char *name, const char *file, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s%s", s->dir, name, file ? "/" : "", file ? file : "");
}

void ct_runtime(const struct ct_store *s, const char *name, struct ferry_runtime *rt)
{
	snprintf(rt->binary, sizeof(rt->binary), "%s", s->runtime);
	snprintf(rt->root, sizeof(rt->root), "%s", s->runc_root);
	ct_path(s, name, "runtime.log", rt->log, sizeof(rt->log));
}

bool ct_exists(const struct ct_store *s, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	ct_path(s, name, NULL, p, sizeof(p));
	return lstat(p, &st) == 0;
}

int ct_mark(const struct ct_store *s, const char *name, const char *marker, bool on, struct ferry_err *err)
{
	char p[PATH_MAX];

	ct_path(s, name, marker, p, sizeof(p));
	if (on)
		return ferry_write_file_atomic(p, "1\n", 2, 0600, err);
	if (unlink(p) < 0 && errno != ENOENT)
		return ferry_err_sys(err, -errno, "cannot remove %s", p);
	return 0;
}

bool ct_marked(const struct ct_store *s, const char *name, const char *marker)
{
	char p[PATH_MAX];

	ct_path(s, name, marker, p, sizeof(p));
	return access(p, F_OK) == 0;
}

/* ---- layers ---- */

static void layer_dir(const struct ct_store *s, const uint8_t digest[32], char *buf, size_t len)
{
	char hex[65];

	ferry_hex_encode(digest, 32, hex);
	snprintf(buf, len, "%s/%s", s->layers, hex);
}

bool layer_present(const struct ct_store *s, const uint8_t digest[32])
{
	char p[PATH_MAX];
	struct stat st;

	layer_dir(s, digest, p, sizeof(p));
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int layer_install(struct ct_store *s, const char *tar_path, const uint8_t digest[32], struct ferry_err *err)
{
	char final[PATH_MAX], tmp[PATH_MAX + 16], hex[65];
	uint8_t got[32];
	uint32_t tag;
	int r;

	if ((r = ferry_file_sha256(tar_path, got, NULL, err)) < 0)
		return r;
	ferry_hex_encode(digest, 32, hex);
	if (memcmp(got, digest, 32) != 0)
		return ferry_err_set(err, -EBADMSG, "layer archive does not hash to its name %.16s...", hex);
	if (layer_present(s, digest))
		return 0;
	layer_dir(s, digest, final, sizeof(final));
	/*
	 * Its own staging name: two migrations to this node at once may both
	 * bring the layer, and one must not unpack into (or remove) the other's.
	 * The first rename wins; the second finds the layer in place.
	 */
	if (ferry_random(&tag, sizeof(tag)) < 0)
		return ferry_err_set(err, -EIO, "no random numbers from the kernel");
	snprintf(tmp, sizeof(tmp), "%s.part-%08x", final, tag);
	if ((r = ferry_layer_unpack(tar_path, tmp, err)) < 0) {
		ferry_rm_tree(tmp, NULL);
		return r;
	}
	if (rename(tmp, final) < 0) {
		r = errno == ENOTEMPTY || errno == EEXIST ? 0
		                                          : ferry_err_sys(err, -errno, "cannot install layer %s", hex);
		ferry_rm_tree(tmp, NULL);
	}
	return r;
}

int layer_list(const struct ct_store *s, uint8_t (*out)[32], unsigned max)
{
	DIR *d = opendir(s->layers);
	struct dirent *de;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max)
		if (strlen(de->d_name) == 64 && ferry_hex_decode(de->d_name, out[n], 32) == 0)
			n++;
	closedir(d);
	return (int)n;
}

int ct_layers_check(const struct ct_store *s, const struct ferry_spec *spec, struct ferry_err *err)
{
	char hex[65];

	for (unsigned i = 0; i < spec->n_layers; i++)
		if (!layer_present(s, spec->layers[i])) {
			ferry_hex_encode(spec->layers[i], 32, hex);
			return ferry_err_set(err, -ENOENT, "layer %.12s of image '%s' is not on this node", hex,
			                     spec->image);
		}
	return 0;
}

/* ---- helpers the node starts ---- */

int spawn_helper(const char *const argv[], int in_fd, int out_fd, struct ferry_err *err)
{
	int status = 0;
	pid_t pid = fork();

	if (pid < 0)
		return ferry_err_sys(err, -errno, "cannot start %s: fork", argv[1]);
	if (pid == 0) {
		/* Twice, so the helper is nobody's child here and outlives this daemon. */
		if (fork() == 0) {
			int devnull = open("/dev/null", O_RDWR);
			sigset_t all;

			setsid();
			dup2(in_fd, STDIN_FILENO);
			if (out_fd >= 0)
				dup2(out_fd, STDOUT_FILENO);
			else if (devnull >= 0)
				dup2(devnull, STDOUT_FILENO);
			close_range(3, ~0U, 0); /* no socket or file of the daemon's survives */
			sigemptyset(&all);
			sigprocmask(SIG_SETMASK, &all, NULL);
			execv("/proc/self/exe", (char *const *)argv);
			_exit(127);
		}
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

int ct_log_pipe(const struct ct_store *s, const char *name, struct ferry_err *err)
{
	char log[PATH_MAX];
	const char *argv[] = { "ferryd", "log-pump", log, NULL };
	int p[2], r;

	ct_path(s, name, "log", log, sizeof(log));
	if (pipe2(p, O_CLOEXEC) < 0)
		return ferry_err_sys(err, -errno, "cannot make the log pipe of '%s'", name);
	r = spawn_helper(argv, p[0], -1, err);
	close(p[0]);
	if (r < 0) {
		close(p[1]);
		return r;
	}
	return p[1];
}

/* ---- life cycle ---- */

/*
 * CRIU's own network lock is left out: it runs iptables-restore in the
 * container's namespace around every checkpoint and restore (about 100 ms
 * of each freeze here), and Ferry already keeps the container's traffic
 * still itself: the container is paused and its link is down on the
 * source, and the destination holds every arriving packet until the
 * commit (docs/ARCHITECTURE.md, "Network continuity").  Loopback traffic
 * stays inside the paused container.
 */
static const char criu_conf[] = "# Written by ferryd for every checkpoint and restore of this container.\n"
                                "network-lock skip\n";

static int write_config(struct ct_store *s, const struct ferry_spec *spec, struct ferry_err *err)
{
	struct ferry_buf cfg = FERRY_BUF_INIT(256 * 1024);
	char rootfs[PATH_MAX], path[PATH_MAX], cgroup[PATH_MAX], netns[PATH_MAX], conf[PATH_MAX];
	int r;

	ct_path(s, spec->name, "rootfs", rootfs, sizeof(rootfs));
	snprintf(cgroup, sizeof(cgroup), "%s/%s", s->cgroup_parent, spec->name);
	ct_path(s, spec->name, "bundle/config.json", path, sizeof(path));
	ct_path(s, spec->name, "criu.conf", conf, sizeof(conf));
	/* With a fabric address the namespace is ours (ctnet.c), joined by path. */
	ctnet_netns_path(s, spec->name, netns, sizeof(netns));
	r = ferry_write_file_atomic(conf, criu_conf, sizeof(criu_conf) - 1, 0600, err);
	if (r == 0)
		r = ferry_oci_config(spec, rootfs, cgroup, spec->net.addr ? netns : NULL, conf, &cfg, err);
	if (r == 0)
		r = ferry_write_file_atomic(path, cfg.data, cfg.len, 0600, err);
	ferry_buf_free(&cfg);
	return r;
}

static int mount_overlay(struct ct_store *s, const struct ferry_spec *spec, struct ferry_err *err)
{
	char opts[4096], rootfs[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], layer[PATH_MAX];
	size_t n;

	ct_path(s, spec->name, "rootfs", rootfs, sizeof(rootfs));
	ct_path(s, spec->name, "upper", upper, sizeof(upper));
	ct_path(s, spec->name, "work", work, sizeof(work));
	n = (size_t)snprintf(opts, sizeof(opts), "lowerdir=");
	/* overlayfs lists the top layer first; the spec lists the bottom first. */
	for (unsigned i = spec->n_layers; i-- > 0;) {
		layer_dir(s, spec->layers[i], layer, sizeof(layer));
		n += (size_t)snprintf(opts + n, sizeof(opts) - n, "%s%s", layer, i ? ":" : "");
	}
	n += (size_t)snprintf(opts + n, sizeof(opts) - n, ",upperdir=%s,workdir=%s", upper, work);
	if (n >= sizeof(opts))
		return ferry_err_set(err, -E2BIG, "overlay options of '%s' are too long", spec->name);
	if (mount("overlay", rootfs, "overlay", MS_NODEV, opts) < 0)
		return ferry_err_sys(err, -errno, "cannot mount the overlay of '%s'", spec->name);
	return 0;
}

int ct_prepare(struct ct_store *s, const struct ferry_spec *spec, const char *upper_tar, const char *marker,
               struct ferry_err *err)
{
	static const char *const dirs[] = { "rootfs", "work", "bundle" };
	struct ferry_buf enc = FERRY_BUF_INIT(64 * 1024);
	char path[PATH_MAX];
	int r;

	if ((r = ct_layers_check(s, spec, err)) < 0)
		return r;
	ct_path(s, spec->name, NULL, path, sizeof(path));
	if (mkdir(path, 0700) < 0)
		return errno == EEXIST
		           ? ferry_err_set(err, -EEXIST, "container '%s' already exists on this node", spec->name)
		           : ferry_err_sys(err, -errno, "cannot create %s", path);
	for (size_t i = 0; i < 3; i++) {
		ct_path(s, spec->name, dirs[i], path, sizeof(path));
		if (mkdir(path, 0700) < 0) {
			r = ferry_err_sys(err, -errno, "cannot create %s", path);
			goto fail;
		}
	}
	ct_path(s, spec->name, "upper", path, sizeof(path));
	if (upper_tar)
		r = ferry_layer_unpack(upper_tar, path, err);
	else
		r = mkdir(path, 0755) < 0 ? ferry_err_sys(err, -errno, "cannot create %s", path) : 0;
	if (r < 0)
		goto fail;
	ct_path(s, spec->name, "spec", path, sizeof(path));
	if ((r = ferry_spec_encode(spec, &enc)) < 0 ||
	    (r = ferry_write_file_atomic(path, enc.data, enc.len, 0600, err)) < 0 ||
	    (r = write_config(s, spec, err)) < 0 || (r = mount_overlay(s, spec, err)) < 0)
		goto fail;
	ferry_buf_free(&enc);
	return 0;
fail:
	ferry_buf_free(&enc);
	ct_path(s, spec->name, NULL, path, sizeof(path));
	ferry_umount_tree(path, NULL);
	ferry_rm_tree(path, NULL);
	return r;
}

/* Run fn in a child inside the network namespace of pid (ferry_in_netns). */
static int in_netns(pid_t pid, int (*fn)(void *arg), void *arg)
{
	char ns[64];

	snprintf(ns, sizeof(ns), "/proc/%d/ns/net", (int)pid);
	return ferry_in_netns(ns, fn, arg, 5);
}

static int connect_loopback(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		                 .sin_port = htons(*(const uint16_t *)arg),
		                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int sock = socket(AF_INET, SOCK_STREAM, 0);

	return sock >= 0 && connect(sock, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : 1;
}

static int loopback_up(void *arg)
{
	(void)arg;
	return ferry_link_set_up("lo", true, NULL) < 0 ? 1 : 0;
}

/* Connect to 127.0.0.1:port inside the network namespace of pid. */
static bool probe_tcp(pid_t pid, uint16_t port)
{
	return in_netns(pid, connect_loopback, &port) == 0;
}

int ct_loopback_up(pid_t pid, struct ferry_err *err)
{
	if (in_netns(pid, loopback_up, NULL) != 0)
		return ferry_err_set(err, -EIO, "cannot bring up the loopback of pid %d", (int)pid);
	return 0;
}

static bool probe_exec(const struct ct_store *s, const struct ferry_spec *spec)
{
	char cmd[FERRY_SPEC_PROBE_MAX + 1], *argv[FERRY_SPEC_ARGS_MAX + 1], *save = NULL;
	struct ferry_runtime rt;
	struct ferry_exec_result res;
	unsigned n = 0;
	bool ok;

	snprintf(cmd, sizeof(cmd), "%s", spec->probe + 5);
	for (char *tok = strtok_r(cmd, " ", &save); tok && n < FERRY_SPEC_ARGS_MAX; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	ct_runtime(s, spec->name, &rt);
	ok = ferry_runtime_exec(&rt, spec->name, (const char *const *)argv, 5000, &res, NULL) == 0 && res.status == 0;
	ferry_exec_result_free(&res);
	return ok;
}

int ct_wait_ready(const struct ct_store *s, const struct ferry_spec *spec, int timeout_ms, struct ferry_err *err)
{
	long long deadline = ferry_now_ms() + timeout_ms;
	enum ferry_probe_kind kind;
	enum ferry_ct_status st;
	struct ferry_runtime rt;
	uint16_t port = 0;
	pid_t pid;
	int r;

	if ((r = ferry_probe_parse(spec->probe, &kind, &port, err)) < 0)
		return r;
	ct_runtime(s, spec->name, &rt);
	for (;;) {
		if ((r = ferry_runtime_state(&rt, spec->name, &st, &pid, err)) < 0)
			return r;
		if (st != FERRY_CT_RUNNING)
			return ferry_err_set(err, -ESRCH, "container '%s' is %s, not running", spec->name,
			                     ferry_ct_status_name(st));
		if (kind == FERRY_PROBE_NONE || (kind == FERRY_PROBE_TCP && probe_tcp(pid, port)) ||
		    (kind == FERRY_PROBE_EXEC && probe_exec(s, spec)))
			return 0;
		if (ferry_now_ms() > deadline)
			return ferry_err_set(err, -ETIMEDOUT,
			                     "container '%s' did not pass its readiness probe '%s' in %d s", spec->name,
			                     spec->probe, timeout_ms / 1000);
		usleep(100 * 1000);
	}
}

int ct_start(struct ct_store *s, const struct ferry_spec *spec, struct ferry_err *err)
{
	struct ferry_runtime rt;
	char bundle[PATH_MAX];
	int r, fd;

	if ((r = ct_prepare(s, spec, NULL, NULL, err)) < 0)
		return r;
	/*
	 * A stateless migration's new copy was prepared with its packets held:
	 * it starts off the fabric and takes the address once the old copy is
	 * gone (NET_CLAIM).  Otherwise it is on the fabric from the start.
	 */
	if (!ctnet_held(s, spec->name, spec->generation) && (r = ctnet_create(s, spec, true, err)) < 0)
		goto fail;
	ct_runtime(s, spec->name, &rt);
	ct_path(s, spec->name, "bundle", bundle, sizeof(bundle));
	if ((fd = ct_log_pipe(s, spec->name, err)) < 0) {
		r = fd;
		goto fail;
	}
	r = ferry_runtime_run(&rt, spec->name, bundle, fd, err);
	close(fd);
	if (r == 0)
		r = ct_wait_ready(s, spec, CT_READY_MS, err);
	/*
	 * An address is reused once its container is gone, and the switches and
	 * neighbours may still place it where the last holder ran: say where it
	 * is now (a lost announcement only costs the first packets a resolution).
	 */
	if (r == 0 && !ctnet_held(s, spec->name, spec->generation))
		ctnet_announce(s, spec, NULL);
	if (r == 0)
		return 0;
fail:
	ct_remove(s, spec->name, NULL);
	return r;
}

int ct_stop(struct ct_store *s, const char *name, struct ferry_err *err)
{
	struct ferry_runtime rt;
	enum ferry_ct_status st;
	long long deadline;
	pid_t pid;
	int r;

	if (!ct_exists(s, name))
		return ferry_err_set(err, -ENOENT, "no container '%s' on this node", name);
	ct_runtime(s, name, &rt);
	if ((r = ferry_runtime_state(&rt, name, &st, &pid, err)) < 0)
		return r;
	if (st == FERRY_CT_MISSING)
		return 0;
	if (st == FERRY_CT_PAUSED && (r = ferry_runtime_resume(&rt, name, err)) < 0)
		return r;
	if (st == FERRY_CT_RUNNING || st == FERRY_CT_PAUSED) {
		ferry_runtime_kill(&rt, name, "TERM", NULL);
		deadline = ferry_now_ms() + CT_STOP_GRACE_MS;
		while (ferry_now_ms() < deadline && ferry_runtime_state(&rt, name, &st, &pid, NULL) == 0 &&
		       st == FERRY_CT_RUNNING)
			usleep(50 * 1000);
	}
	return ferry_runtime_delete(&rt, name, err);
}

int ct_remove(struct ct_store *s, const char *name, struct ferry_err *err)
{
	struct ferry_runtime rt;
	char path[PATH_MAX], cg[PATH_MAX];
	int r;

	ct_runtime(s, name, &rt);
	if ((r = ferry_runtime_delete(&rt, name, err)) < 0)
		return r;
	/* The runtime leaves its (empty) group behind in every hierarchy. */
	ct_cgroup_rel(s, name, cg, sizeof(cg));
	ferry_cgroup_destroy_everywhere(cg, 3000, NULL);
	ctnet_destroy(s, name, NULL);
	ct_path(s, name, NULL, path, sizeof(path));
	if ((r = ferry_umount_tree(path, err)) < 0)
		return r;
	return ferry_rm_tree(path, err);
}

int ct_load_spec(const struct ct_store *s, const char *name, struct ferry_spec *spec, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(64 * 1024);
	char path[PATH_MAX];
	int r;

	ct_path(s, name, "spec", path, sizeof(path));
	r = ferry_read_file(path, 64 * 1024, &b, err);
	if (r == 0)
		r = ferry_spec_parse((const uint8_t *)b.data, b.len, spec, err);
	ferry_buf_free(&b);
	return r;
}

int ct_info_get(struct ct_store *s, const char *name, struct ct_info *out, struct ferry_err *err)
{
	struct ferry_spec *spec = malloc(sizeof(*spec));
	struct ferry_runtime rt;
	enum ferry_ct_status st;
	int r;

	if (!spec)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	if ((r = ct_load_spec(s, name, spec, err)) < 0)
		goto out;
	snprintf(out->image, sizeof(out->image), "%s", spec->image);
	out->generation = spec->generation;
	out->memory = spec->memory;
	ct_runtime(s, name, &rt);
	if ((r = ferry_runtime_state(&rt, name, &st, &out->pid, err)) < 0)
		goto out;
	snprintf(out->state, sizeof(out->state), "%s", st == FERRY_CT_MISSING ? "stopped" : ferry_ct_status_name(st));
	if (ct_marked(s, name, CT_MARK_MIGRATING))
		snprintf(out->state, sizeof(out->state), "migrating");
	if (ct_marked(s, name, CT_MARK_RESTORING))
		snprintf(out->state, sizeof(out->state), "restoring");
out:
	free(spec);
	return r;
}

int ct_list(struct ct_store *s, struct ct_info *out, unsigned max, struct ferry_err *err)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;
	unsigned n = 0;

	if (!d)
		return ferry_err_sys(err, -errno, "cannot list %s", s->dir);
	while ((de = readdir(d)) && n < max) {
		if (de->d_name[0] == '.' ||
		    ferry_check_name(de->d_name, FERRY_CONTAINER_NAME_MAX, "container", NULL) < 0)
			continue;
		if (ct_info_get(s, de->d_name, &out[n], NULL) == 0)
			n++;
	}
	closedir(d);
	return (int)n;
}

static int read_tail(const char *path, size_t max, struct ferry_buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char chunk[4096];
	ssize_t n;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && (size_t)st.st_size > max)
		lseek(fd, st.st_size - (off_t)max, SEEK_SET);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		ferry_buf_append(out, chunk, (size_t)n);
	close(fd);
	return 0;
}

int ct_logs(const struct ct_store *s, const char *name, size_t max, struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_buf both = FERRY_BUF_INIT(2 * CT_LOG_MAX + 8192);
	char p[PATH_MAX];

	if (!ct_exists(s, name))
		return ferry_err_set(err, -ENOENT, "no container '%s' on this node", name);
	ct_path(s, name, "log.1", p, sizeof(p));
	read_tail(p, max, &both);
	ct_path(s, name, "log", p, sizeof(p));
	read_tail(p, max, &both);
	ferry_buf_reset(out);
	if (both.len > max)
		ferry_buf_append(out, both.data + both.len - max, max);
	else if (both.len)
		ferry_buf_append(out, both.data, both.len);
	ferry_buf_free(&both);
	return 0;
}

int ct_resume_paused(struct ct_store *s, const char *name, struct ferry_err *err)
{
	struct ferry_runtime rt;
	enum ferry_ct_status st;
	pid_t pid;
	int r;

	if (!ct_marked(s, name, CT_MARK_MIGRATING))
		return ferry_err_set(err, -EINVAL, "container '%s' is not paused by a migration", name);
	ct_runtime(s, name, &rt);
	if ((r = ferry_runtime_state(&rt, name, &st, &pid, err)) < 0)
		return r;
	if (st == FERRY_CT_PAUSED && (r = ferry_runtime_resume(&rt, name, err)) < 0)
		return r;
	if ((r = ct_net_reopen(s, name, err)) < 0)
		return r;
	return ct_mark(s, name, CT_MARK_MIGRATING, false, err);
}

int ct_net_reopen(struct ct_store *s, const char *name, struct ferry_err *err)
{
	struct ferry_spec *spec = malloc(sizeof(*spec));
	int r;

	if (!spec)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	r = ct_load_spec(s, name, spec, err);
	if (r == 0 && spec->net.addr && (r = ctnet_set_link(s, name, true, err)) == 0)
		r = ctnet_announce(s, spec, err);
	free(spec);
	return r;
}
