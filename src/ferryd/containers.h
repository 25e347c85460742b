/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRYD_CONTAINERS_H
#define FERRYD_CONTAINERS_H

/*
 * A node's containers: each has a directory containers/<name>/ holding its
 * spec, runtime bundle, overlayfs (layers + upper) and logs; the OCI runtime
 * keeps its state under runc/.  Operations on one container are exclusive
 * (ct_claim); markers in the directory say a migration is under way, so a
 * restart knows what was half done.
 */

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include "ferry/buf.h"
#include "ferry/err.h"
#include "ferry/runtime.h"
#include "ferry/spec.h"

#define CT_MAX            256
#define CT_LOG_MAX        (1024 * 1024) /* a log file rotates to log.1 past this */
#define CT_READY_MS       30000
#define CT_STOP_GRACE_MS  5000
#define CT_MARK_MIGRATING "migrating" /* source: paused for a migration */
#define CT_MARK_RESTORING "restoring" /* destination: restored, not yet reported */

struct ct_hold {
	char name[FERRY_CONTAINER_NAME_MAX + 1]; /* "" = free */
	uint64_t generation;
	int cmd_fd, status_fd; /* the net-hold helper's stdin and stdout */
};

struct ct_store {
	char dir[PATH_MAX];       /* <state>/containers */
	char layers[PATH_MAX];    /* <state>/layers: one extracted directory per digest */
	char runc_root[PATH_MAX]; /* <state>/runc */
	char netns_dir[PATH_MAX]; /* <state>/netns: one bind-mounted network namespace per container */
	struct ferry_fabric fabric;
	char cgroup_parent[PATH_MAX];
	char runtime[64];
	pthread_mutex_t lock;
	char busy[CT_MAX][FERRY_CONTAINER_NAME_MAX + 1];
	struct ct_hold holds[CT_MAX]; /* packets held for an arriving container (ctnet.c) */
};

struct ct_info {
	char name[FERRY_CONTAINER_NAME_MAX + 1];
	char image[FERRY_CONTAINER_NAME_MAX + 1];
	char state[32];
	pid_t pid;
	uint64_t generation, memory;
};

int ct_store_init(struct ct_store *s, const char *state_dir, struct ferry_err *err);
/* Exclusive use of a container name for one operation; -EBUSY with a reason when taken. */
int ct_claim(struct ct_store *s, const char *name, struct ferry_err *err);
void ct_release(struct ct_store *s, const char *name);

void ct_path(const struct ct_store *s, const char *name, const char *file, char *buf, size_t len);
/* The container's cgroup path relative to each hierarchy's root (its config.json's cgroupsPath, minus the '/'). */
void ct_cgroup_rel(const struct ct_store *s, const char *name, char *buf, size_t len);
void ct_runtime(const struct ct_store *s, const char *name, struct ferry_runtime *rt);
bool ct_exists(const struct ct_store *s, const char *name);
int ct_mark(const struct ct_store *s, const char *name, const char *marker, bool on, struct ferry_err *err);
bool ct_marked(const struct ct_store *s, const char *name, const char *marker);

/* Every layer of spec present here; -ENOENT naming the first missing one. */
int ct_layers_check(const struct ct_store *s, const struct ferry_spec *spec, struct ferry_err *err);
/*
 * Make the directory, spec file, overlay and runtime bundle; upper_tar (or
 * NULL) fills the upper dir; marker (or NULL) is set as soon as the
 * directory exists.  On failure nothing is left.
 */
int ct_prepare(struct ct_store *s, const struct ferry_spec *spec, const char *upper_tar, const char *marker,
               struct ferry_err *err);
/* The container's log pipe: a pump process appends what it reads to log; returns the write end. */
int ct_log_pipe(const struct ct_store *s, const char *name, struct ferry_err *err);
/* Wait until the spec's readiness probe passes (or the process runs, without one). */
int ct_wait_ready(const struct ct_store *s, const struct ferry_spec *spec, int timeout_ms, struct ferry_err *err);
/*
 * The runtime restores a container into a fresh network namespace whose
 * loopback is down (CRIU restores sockets, not this namespace's links).
 */
int ct_loopback_up(pid_t pid, struct ferry_err *err);
/* prepare + run + ready; on failure nothing is left. */
int ct_start(struct ct_store *s, const struct ferry_spec *spec, struct ferry_err *err);
/* SIGTERM, then SIGKILL after the grace period; the directory stays (logs). */
int ct_stop(struct ct_store *s, const char *name, struct ferry_err *err);
/* Put a container back on the fabric (link up, gratuitous ARP) after a migration's network lock. */
int ct_net_reopen(struct ct_store *s, const char *name, struct ferry_err *err);
/* Resume a container a migration left paused (its marker says so), reopen its network, clear the marker. */
int ct_resume_paused(struct ct_store *s, const char *name, struct ferry_err *err);
/* Kill, unmount and remove everything of the container. */
int ct_remove(struct ct_store *s, const char *name, struct ferry_err *err);
int ct_load_spec(const struct ct_store *s, const char *name, struct ferry_spec *spec, struct ferry_err *err);
int ct_list(struct ct_store *s, struct ct_info *out, unsigned max, struct ferry_err *err);
int ct_info_get(struct ct_store *s, const char *name, struct ct_info *out, struct ferry_err *err);
/* The last `max` bytes of the container's output. */
int ct_logs(const struct ct_store *s, const char *name, size_t max, struct ferry_buf *out, struct ferry_err *err);

/* Layers */
bool layer_present(const struct ct_store *s, const uint8_t digest[32]);
/* Verify a received archive is the layer it claims and extract it into the store. */
int layer_install(struct ct_store *s, const char *tar_path, const uint8_t digest[32], struct ferry_err *err);
/* Digests present (into out, at most max); returns the count. */
int layer_list(const struct ct_store *s, uint8_t (*out)[32], unsigned max);

/* Start a detached helper (ferryd log-pump / guard / net-hold) with in_fd as its stdin, out_fd (or -1) as stdout. */
int spawn_helper(const char *const argv[], int in_fd, int out_fd, struct ferry_err *err);

#endif
