/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_DAEMON_H
#define FERRY_DAEMON_H

#include <sys/types.h>

#include "ferry/err.h"

/*
 * Create and lock a pid file.  The lock (flock) is held through the returned
 * fd for the daemon's life, so a second daemon on the same state directory is
 * refused with -EBUSY naming the running pid.  Returns the fd (>= 0).  The
 * file stays empty until ferry_pidfile_publish(): readers take a pid in it
 * to mean "ready".
 */
int ferry_pidfile_acquire(const char *path, struct ferry_err *err);
int ferry_pidfile_publish(int fd, const char *path, struct ferry_err *err);

/* Read a pid file; -ENOENT when absent, -EINVAL when it does not hold a pid. */
int ferry_pidfile_read(const char *path, pid_t *ret_pid, struct ferry_err *err);

/*
 * Block SIGTERM, SIGINT and SIGHUP and return a signalfd for them, so the
 * daemon's loop can poll for shutdown instead of running signal handlers.
 */
int ferry_daemon_signalfd(struct ferry_err *err);

/* Read one signal number from a signalfd made by ferry_daemon_signalfd. */
int ferry_daemon_read_signal(int sfd);

#endif
