/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_MOUNT_H
#define FERRY_MOUNT_H

#include <stddef.h>

#include "ferry/err.h"

#define FERRY_MOUNTS_MAX 256

/* Undo mountinfo's octal escapes (\\040 for a space) in place. */
void ferry_mountinfo_unescape(char *s);

/*
 * Mount points equal to prefix or below it, from mountinfo text (pure, for
 * tests and fuzzing), deepest first (the order to unmount them).  Writes up
 * to max malloc'ed paths into ret; returns their count or -E2BIG.
 */
int ferry_mounts_under(const char *mountinfo, const char *prefix, char **ret, size_t max);
void ferry_mounts_free(char **paths, size_t n);

/* Unmount (lazily, MNT_DETACH) every mount at or below prefix; 0 when none remain. */
int ferry_umount_tree(const char *prefix, struct ferry_err *err);

/* Mount a tmpfs of size_mb at path with mode 0700, nosuid,nodev,noexec. */
int ferry_mount_private_tmpfs(const char *path, unsigned size_mb, struct ferry_err *err);

#endif
