/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_RUNTIME_H
#define FERRY_RUNTIME_H

/*
 * Containers through an OCI runtime's command line (runc by default; crun
 * takes the same verbs and flags).  Every call has a deadline: a CRIU
 * restore can hang forever.  The runtime's own messages go to a log file
 * (--log), so a failure names the runtime's reason, while the container's
 * stdout and stderr go to the pipe the caller passes (a log pump) — CRIU
 * can checkpoint pipes, not host files outside the container.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry/buf.h"
#include "ferry/err.h"
#include "ferry/exec.h"
#include "ferry/spec.h"

#define FERRY_RUNTIME_TIMEOUT_MS  60000
#define FERRY_RUNTIME_EXEC_MAX_MS 120000

struct ferry_runtime {
	char binary[64]; /* "runc" or "crun", found in PATH */
	char root[512];  /* --root: this node's private state of the runtime */
	char log[512];   /* --log */
};

enum ferry_ct_status {
	FERRY_CT_MISSING = 0,
	FERRY_CT_CREATED,
	FERRY_CT_RUNNING,
	FERRY_CT_PAUSED,
	FERRY_CT_STOPPED,
};

const char *ferry_ct_status_name(enum ferry_ct_status s);

/*
 * The runtime's config.json for a spec: rootfs and cgroup path are the
 * node's; netns, when not NULL, is a network namespace to join by path
 * (the runtime then neither creates nor checkpoints it); criu_conf, when
 * not NULL, is a CRIU configuration file the runtime passes to CRIU.  Pure.
 */
int ferry_oci_config(const struct ferry_spec *s, const char *rootfs, const char *cgroups_path, const char *netns,
                     const char *criu_conf, struct ferry_buf *out, struct ferry_err *err);

/*
 * Where /run is not a tmpfs CRIU never caches its kernel probe: make the
 * cache it would have made in DIR (which must be a tmpfs) and link
 * /run/criu.kdat to it; TARGET gets the cache's path.  0: linked; 1:
 * nothing to do, err's message says why; < 0: error.
 */
int ferry_criu_kdat_link(const char *dir, char *target, size_t target_len, struct ferry_err *err);
/* Remove /run/criu.kdat if it still links to TARGET (or below it, when TARGET ends in '/'). */
void ferry_criu_kdat_unlink(const char *target);

int ferry_runtime_run(const struct ferry_runtime *rt, const char *id, const char *bundle, int stdio_fd,
                      struct ferry_err *err);
/*
 * Restore from images.  lazy_work (or NULL): the work directory of a local
 * `criu lazy-pages` serving the images' pages; the container then runs
 * before its memory is filled in.
 */
int ferry_runtime_restore(const struct ferry_runtime *rt, const char *id, const char *bundle, const char *images,
                          const char *lazy_work, int stdio_fd, pid_t *ret_pid, struct ferry_err *err);
/*
 * Checkpoint a paused container without the pages CRIU can leave in it:
 * CRIU's lazy dump, whose page server is told to close before it serves
 * anything.  The images hold everything else, the pagemaps mark the pages
 * left out as lazy, and the container stays paused with them.
 */
int ferry_runtime_checkpoint_metadata(const struct ferry_runtime *rt, const char *id, const char *images,
                                      const char *work, struct ferry_err *err);
/* Checkpoint into images; a paused container stays paused (--leave-running keeps it). */
int ferry_runtime_checkpoint(const struct ferry_runtime *rt, const char *id, const char *images, const char *work,
                             struct ferry_err *err);
/* Send a signal ("TERM", "KILL") to the container's init. */
int ferry_runtime_kill(const struct ferry_runtime *rt, const char *id, const char *signal, struct ferry_err *err);
/*
 * Cap the container's CPU time at percent of one CPU (cgroup CPU quota, by
 * the runtime's "update"); 100 lifts the cap.  Pre-copy's auto-converge.
 */
int ferry_runtime_limit_cpu(const struct ferry_runtime *rt, const char *id, unsigned percent, struct ferry_err *err);
int ferry_runtime_pause(const struct ferry_runtime *rt, const char *id, struct ferry_err *err);
int ferry_runtime_resume(const struct ferry_runtime *rt, const char *id, struct ferry_err *err);
/* SIGKILL and delete; a container the runtime does not know is success. */
int ferry_runtime_delete(const struct ferry_runtime *rt, const char *id, struct ferry_err *err);
/* Status and init pid (0 when none). */
int ferry_runtime_state(const struct ferry_runtime *rt, const char *id, enum ferry_ct_status *status, pid_t *pid,
                        struct ferry_err *err);
/* Run argv inside the container; output (stdout+stderr) captured. */
int ferry_runtime_exec(const struct ferry_runtime *rt, const char *id, const char *const argv[], int timeout_ms,
                       struct ferry_exec_result *ret, struct ferry_err *err);
/* Parse `runc state` JSON output (pure, for tests). */
int ferry_runtime_parse_state(const char *json, enum ferry_ct_status *status, pid_t *pid);

#endif
