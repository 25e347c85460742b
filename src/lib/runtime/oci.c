/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The OCI runtime configuration Ferry gives every container. */
#include <errno.h>
#include <string.h>

#include "ferry/json.h"
#include "ferry/runtime.h"

static const char *const caps[] = {
	"CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER",           "CAP_FSETID",      "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID",       "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE",
};

static void string_array(struct ferry_json *j, const char *key, const char *const *v, size_t n)
{
	ferry_json_key(j, key);
	ferry_json_array_begin(j);
	for (size_t i = 0; i < n; i++)
		ferry_json_string(j, v[i]);
	ferry_json_array_end(j);
}

static void mount_entry(struct ferry_json *j, const char *dest, const char *type, const char *source,
                        const char *const *opts, size_t n)
{
	ferry_json_object_begin(j);
	ferry_json_key(j, "destination");
	ferry_json_string(j, dest);
	ferry_json_key(j, "type");
	ferry_json_string(j, type);
	ferry_json_key(j, "source");
	ferry_json_string(j, source);
	string_array(j, "options", opts, n);
	ferry_json_object_end(j);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

int ferry_oci_config(const struct ferry_spec *s, const char *rootfs, const char *cgroups_path, const char *netns,
                     const char *criu_conf, struct ferry_buf *out, struct ferry_err *err)
{
	static const char *const env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		                           "HOME=/root" };
	static const char *const dev_opts[] = { "nosuid", "strictatime", "mode=755", "size=65536k" };
	static const char *const pts_opts[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620" };
	static const char *const shm_opts[] = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" };
	static const char *const mq_opts[] = { "nosuid", "noexec", "nodev" };
	static const char *const sys_opts[] = { "nosuid", "noexec", "nodev", "ro" };
	static const char *const masked[] = { "/proc/acpi",          "/proc/kcore",      "/proc/keys",
		                              "/proc/latency_stats", "/proc/timer_list", "/proc/sched_debug",
		                              "/sys/firmware",       "/proc/scsi" };
	static const char *const ro[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" };
	static const char *const ns[] = { "pid", "network", "ipc", "uts", "mount" };
	const char *args[FERRY_SPEC_ARGS_MAX];
	struct ferry_json j;
	int r;

	for (unsigned i = 0; i < s->argc; i++)
		args[i] = s->args[i];
	ferry_buf_reset(out);
	ferry_json_init(&j, out, true);
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "ociVersion");
	ferry_json_string(&j, "1.0.2");
	ferry_json_key(&j, "process");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "terminal");
	ferry_json_bool(&j, false);
	ferry_json_key(&j, "user");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "uid");
	ferry_json_uint(&j, 0);
	ferry_json_key(&j, "gid");
	ferry_json_uint(&j, 0);
	ferry_json_object_end(&j);
	string_array(&j, "args", args, s->argc);
	string_array(&j, "env", env, N(env));
	ferry_json_key(&j, "cwd");
	ferry_json_string(&j, "/");
	ferry_json_key(&j, "capabilities");
	ferry_json_object_begin(&j);
	string_array(&j, "bounding", caps, N(caps));
	string_array(&j, "effective", caps, N(caps));
	string_array(&j, "permitted", caps, N(caps));
	ferry_json_object_end(&j);
	ferry_json_key(&j, "rlimits");
	ferry_json_array_begin(&j);
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "type");
	ferry_json_string(&j, "RLIMIT_NOFILE");
	ferry_json_key(&j, "hard");
	ferry_json_uint(&j, 4096);
	ferry_json_key(&j, "soft");
	ferry_json_uint(&j, 4096);
	ferry_json_object_end(&j);
	ferry_json_array_end(&j);
	ferry_json_key(&j, "noNewPrivileges");
	ferry_json_bool(&j, true);
	ferry_json_object_end(&j);

	ferry_json_key(&j, "root");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "path");
	ferry_json_string(&j, rootfs);
	ferry_json_key(&j, "readonly");
	ferry_json_bool(&j, false);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "hostname");
	ferry_json_string(&j, s->name);
	if (criu_conf) {
		/* runc hands this file to CRIU for every checkpoint and restore of the container. */
		ferry_json_key(&j, "annotations");
		ferry_json_object_begin(&j);
		ferry_json_key(&j, "org.criu.config");
		ferry_json_string(&j, criu_conf);
		ferry_json_object_end(&j);
	}

	ferry_json_key(&j, "mounts");
	ferry_json_array_begin(&j);
	mount_entry(&j, "/proc", "proc", "proc", NULL, 0);
	mount_entry(&j, "/dev", "tmpfs", "tmpfs", dev_opts, N(dev_opts));
	mount_entry(&j, "/dev/pts", "devpts", "devpts", pts_opts, N(pts_opts));
	mount_entry(&j, "/dev/shm", "tmpfs", "shm", shm_opts, N(shm_opts));
	mount_entry(&j, "/dev/mqueue", "mqueue", "mqueue", mq_opts, N(mq_opts));
	mount_entry(&j, "/sys", "sysfs", "sysfs", sys_opts, N(sys_opts));
	ferry_json_array_end(&j);

	ferry_json_key(&j, "linux");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "cgroupsPath");
	ferry_json_string(&j, cgroups_path);
	ferry_json_key(&j, "resources");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "devices");
	ferry_json_array_begin(&j);
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "allow");
	ferry_json_bool(&j, false);
	ferry_json_key(&j, "access");
	ferry_json_string(&j, "rwm");
	ferry_json_object_end(&j);
	ferry_json_array_end(&j);
	ferry_json_key(&j, "memory");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "limit");
	ferry_json_uint(&j, s->memory);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "pids");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "limit");
	ferry_json_uint(&j, 1024);
	ferry_json_object_end(&j);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "namespaces");
	ferry_json_array_begin(&j);
	for (size_t i = 0; i < N(ns); i++) {
		ferry_json_object_begin(&j);
		ferry_json_key(&j, "type");
		ferry_json_string(&j, ns[i]);
		if (netns && strcmp(ns[i], "network") == 0) {
			ferry_json_key(&j, "path");
			ferry_json_string(&j, netns);
		}
		ferry_json_object_end(&j);
	}
	ferry_json_array_end(&j);
	string_array(&j, "maskedPaths", masked, N(masked));
	string_array(&j, "readonlyPaths", ro, N(ro));
	ferry_json_object_end(&j);
	ferry_json_object_end(&j);
	if ((r = ferry_json_finish(&j)) < 0)
		return ferry_err_set(err, r, "runtime configuration of '%s' does not fit", s->name);
	return 0;
}
