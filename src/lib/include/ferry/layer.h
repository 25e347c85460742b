/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_LAYER_H
#define FERRY_LAYER_H

/*
 * Image layers and container upper directories travel as tar archives (GNU
 * tar, numeric owners, extended attributes: overlayfs keeps whiteouts and
 * opaque directories in them).  A layer is named by the SHA-256 of its
 * archive.  Extraction relies on GNU tar's refusal of ".." members and its
 * deferred creation of symlinks that point outside the tree, and always
 * happens into a new, empty directory.
 */

#include <stdint.h>

#include "ferry/err.h"

#define FERRY_LAYER_TIMEOUT_MS 120000

int ferry_layer_pack(const char *dir, const char *tar_path, struct ferry_err *err);
/* Extract into dir, which must not exist yet; on failure nothing is left. */
int ferry_layer_unpack(const char *tar_path, const char *dir, struct ferry_err *err);
/* Whether a file is a tar archive GNU tar can list (and holds no absolute or ".." member). */
int ferry_layer_check(const char *tar_path, struct ferry_err *err);
/* SHA-256 and size of a file. */
int ferry_file_sha256(const char *path, uint8_t out[32], uint64_t *size, struct ferry_err *err);

#endif
