/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_CGROUP_H
#define FERRY_CGROUP_H

/*
 * Process grouping on the cgroup2 hierarchy (pure v2 at /sys/fs/cgroup, or
 * the "unified" mount of a hybrid host).  Ferry puts every process it starts
 * in a cgroup of its own so it can stop exactly those, children included,
 * without ever matching processes by name.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ferry/err.h"

/*
 * Find the cgroup2 mount point in mountinfo text (pure, for tests); returns
 * 0 and writes ret_path, or -ENOENT.
 */
int ferry_cgroup2_mount_from_mountinfo(const char *mountinfo, char *ret_path, size_t len);
/* The cgroup2 mount point of this host, or -ENOENT when there is none. */
int ferry_cgroup2_root(char *ret_path, size_t len);

/* mkdir -p of root/rel; ret_path receives the full path. */
int ferry_cgroup_create(const char *rel, char *ret_path, size_t len, struct ferry_err *err);
/* Move pid (0 = caller) into the cgroup at full path. */
int ferry_cgroup_enter(const char *path, pid_t pid, struct ferry_err *err);
/* Whether pid's cgroup2 path (from /proc/PID/cgroup) equals rel or lies below it. */
bool ferry_cgroup_contains(const char *rel, pid_t pid);
/* Up to max pids of the processes in the cgroup2 group rel (none when it does not exist). */
int ferry_cgroup_pids(const char *rel, pid_t *pids, int max);
/*
 * Whether the group rel is frozen: 1 or 0, by the v1 freezer hierarchy's
 * freezer.state where the host has one, else cgroup2's cgroup.events;
 * -ENOENT when neither says.
 */
int ferry_cgroup_frozen(const char *rel);
/*
 * Freeze the group rel through that same freezer, as a runtime's pause
 * does, and wait until it is frozen (at most timeout_ms; else it is thawed
 * again).  -ENOENT when there is no such group: ask the runtime instead.
 */
int ferry_cgroup_freeze(const char *rel, int timeout_ms, struct ferry_err *err);
/*
 * Kill every process in the cgroup tree at full path (cgroup.kill where the
 * kernel has it, else SIGKILL per pid), wait up to timeout_ms for it to
 * empty, then remove the directories.  A missing cgroup is success.
 */
int ferry_cgroup_destroy(const char *path, int timeout_ms, struct ferry_err *err);

/*
 * The same for rel below every cgroup mount (v1 controllers and cgroup2):
 * an OCI runtime on a hybrid host creates a container's group in each.
 */
int ferry_cgroup_destroy_everywhere(const char *rel, int timeout_ms, struct ferry_err *err);

#endif
