/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Forensic snapshots on the node (docs/ARCHITECTURE.md, "Forensic
 * snapshots"): the container is frozen for its checkpoint only and runs on
 * (no network lock, unlike a migration: its peers may see it answer while
 * the dump runs, so the snapshot's TCP state is a moment's, for reading,
 * not for resuming those connections).  The checkpoint, upper directory,
 * spec and log become one archive, encrypted to the operator's key and
 * signed with this node's, sent to the controller as a bundle; nothing of
 * it stays here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "snapshot"
#include "ferry/bundle.h"
#include "ferry/cgroup.h"
#include "ferry/clock.h"
#include "ferry/fs.h"
#include "ferry/layer.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "ferry/snapshot.h"
#include "ctnet.h"
#include "node.h"

#define SNAP_FREEZE_MS 10000
#define SNAP_FILE      "snapshot.fsnp"

/* Freeze, dump leaving it paused, pack, thaw: the container runs again whatever happened. */
static int dump(struct node *node, const char *name, struct ferry_spec *spec, const char *dir, long long *frozen_ms,
                struct ferry_err *err)
{
	char images[PATH_MAX + 16], work[PATH_MAX + 8], cgroup_rel[PATH_MAX];
	struct ferry_runtime rt;
	struct ferry_err e2 = { 0 };
	long long t0;
	int r;

	snprintf(images, sizeof(images), "%s/checkpoint", dir);
	snprintf(work, sizeof(work), "%s.work", dir);
	if ((r = ferry_mkdir_p(images, 0700, err)) < 0 || (r = ferry_mkdir_p(work, 0700, err)) < 0)
		return r;
	ct_runtime(&node->cts, name, &rt);
	ct_cgroup_rel(&node->cts, name, cgroup_rel, sizeof(cgroup_rel));
	t0 = ferry_now_ms();
	r = ferry_cgroup_freeze(cgroup_rel, SNAP_FREEZE_MS, err);
	if (r == -ENOENT)
		r = ferry_runtime_pause(&rt, name, err);
	if (r < 0)
		goto out;
	r = ferry_runtime_checkpoint(&rt, name, images, work, err);
	if (r == 0)
		r = mig_pack_rest(node, spec, dir, err);
	if (ferry_runtime_resume(&rt, name, &e2) < 0) {
		log_error("snapshot of %s: cannot resume it: %s", name, e2.msg);
		if (r == 0)
			r = ferry_err_set(err, -EIO, "the snapshot is taken but %s could not be resumed: %s", name,
			                  e2.msg);
	}
	*frozen_ms = ferry_now_ms() - t0;
out:
	ferry_rm_tree(work, NULL);
	return r;
}

int ct_snapshot(struct node *node, struct ferry_conn *conn, const struct ferry_tlv_list *l, struct ferry_err *err)
{
	struct ferry_snapshot_meta meta = { 0 };
	struct ferry_spec *spec = malloc(sizeof(*spec));
	struct ferry_buf out = FERRY_BUF_INIT(512);
	struct ferry_manifest m = { 0 };
	char dir[PATH_MAX], tar[PATH_MAX + 8], send_dir[PATH_MAX + 8], file[PATH_MAX + 32];
	uint8_t recipient[FERRY_SNAPSHOT_KEY_LEN];
	struct ct_info info;
	long long t0 = ferry_now_ms(), frozen_ms = 0;
	bool claimed = false;
	uint64_t id;
	int r;

	dir[0] = '\0';
	if (!spec)
		return ferry_conn_send_error(conn, ENOMEM, "out of memory", NULL), 0;
	if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, meta.container, sizeof(meta.container), err)) < 0 ||
	    (r = ferry_check_name(meta.container, FERRY_CONTAINER_NAME_MAX, "container", err)) < 0 ||
	    (r = ferry_tlv_get_fixed(l, FERRY_TAG_DATA, recipient, sizeof(recipient), err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_SEQ, &id, err)) < 0)
		goto fail;
	if ((r = ct_claim(&node->cts, meta.container, err)) < 0)
		goto fail;
	claimed = true;
	if ((r = ct_info_get(&node->cts, meta.container, &info, err)) < 0 ||
	    (r = ct_load_spec(&node->cts, meta.container, spec, err)) < 0)
		goto fail;
	if (strcmp(info.state, "running") != 0) {
		r = ferry_err_set(err, -ESRCH, "container '%s' is %s; a snapshot is of a running one", meta.container,
		                  info.state);
		goto fail;
	}
	snprintf(dir, sizeof(dir), "%s/snapshot-%llu", node->outgoing, (unsigned long long)id);
	snprintf(tar, sizeof(tar), "%s.tar", dir);
	snprintf(send_dir, sizeof(send_dir), "%s.send", dir);
	snprintf(file, sizeof(file), "%s/%s", send_dir, SNAP_FILE);
	ferry_rm_tree(dir, NULL);
	ferry_rm_tree(send_dir, NULL);
	unlink(tar);
	if ((r = dump(node, meta.container, spec, dir, &frozen_ms, err)) < 0)
		goto fail;
	ct_release(&node->cts, meta.container);
	claimed = false;
	snprintf(meta.node, sizeof(meta.node), "%s", node->id.name);
	snprintf(meta.image, sizeof(meta.image), "%s", spec->image);
	meta.created_at = (uint64_t)time(NULL);
	meta.generation = spec->generation;
	if ((r = ferry_layer_pack(dir, tar, err)) < 0 || (r = ferry_mkdir_p(send_dir, 0700, err)) < 0 ||
	    (r = ferry_snapshot_write(tar, recipient, &meta, node->id.key, node->id.cert, file, err)) < 0)
		goto fail;
	ferry_rm_tree(dir, NULL);
	unlink(tar);
	if ((r = ferry_manifest_from_dir(send_dir, &m, err)) < 0)
		goto fail;
	log_info("snapshot %llu of %s: frozen %lld ms, %llu bytes encrypted, in %lld ms", (unsigned long long)id,
	         meta.container, frozen_ms, (unsigned long long)m.total, ferry_now_ms() - t0);
	r = ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_u64(&out, FERRY_TAG_SIZE, m.total);
	r = r ? r : ferry_tlv_add_u64(&out, FERRY_TAG_DOWNTIME_MS, (uint64_t)frozen_ms);
	r = r ? r : ferry_tlv_add_u64(&out, FERRY_TAG_TIME, meta.created_at);
	if (r == 0)
		r = ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, out.data, out.len, err);
	if (r == 0)
		r = ferry_bundle_send(conn, NULL, 0, &m, send_dir, 0, NULL, NULL, err);
	if (r < 0)
		log_warn("snapshot %llu of %s could not be sent: %s", (unsigned long long)id, meta.container, err->msg);
	goto out;
fail:
	log_warn("snapshot of %s failed: %s", meta.container[0] ? meta.container : "?", err->msg);
	ferry_conn_send_error(conn, r, err->msg[0] ? err->msg : "snapshot failed", NULL);
out:
	if (claimed)
		ct_release(&node->cts, meta.container);
	if (dir[0]) {
		ferry_rm_tree(dir, NULL);
		ferry_rm_tree(send_dir, NULL);
		unlink(tar);
	}
	ferry_manifest_free(&m);
	ferry_buf_free(&out);
	free(spec);
	return 0; /* answered */
}

/* ---- restoring one, isolated ---- */

#define RESTORE_MAX_BYTES (64ULL << 30)

static void copy_log(const char *from, const char *to)
{
	struct ferry_buf b = FERRY_BUF_INIT(256 * 1024);

	if (ferry_read_file(from, 256 * 1024, &b, NULL) == 0)
		ferry_write_file_atomic(to, b.data ? b.data : "", b.len, 0600, NULL);
	ferry_buf_free(&b);
}

/*
 * A snapshot's contents (opened by the operator, sent on by the controller)
 * restored as a new container that runs with its memory, files and sockets
 * as they were, but isolated: its network is built with the original's
 * address and the link left down, as a migration's destination builds it
 * before the commit, and it is never brought up.  The TCP state in the
 * checkpoint restores as it would mid-migration, and nothing reaches it.
 */
int ct_restore_snapshot(struct node *node, struct ferry_conn *conn, const struct ferry_tlv_list *l,
                        struct ferry_err *err)
{
	struct ferry_spec *spec = malloc(sizeof(*spec));
	struct ferry_buf b = FERRY_BUF_INIT(64 * 1024), out = FERRY_BUF_INIT(128);
	struct ferry_bundle_result res = { 0 };
	char name[FERRY_CONTAINER_NAME_MAX + 1], path[PATH_MAX + 32], dest[PATH_MAX], bundle[PATH_MAX];
	struct ferry_runtime rt;
	bool claimed = false, made = false;
	long long t0 = ferry_now_ms();
	uint64_t generation;
	pid_t pid;
	int fd, r;

	if (!spec)
		return ferry_conn_send_error(conn, ENOMEM, "out of memory", NULL), 0;
	if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, name, sizeof(name), err)) < 0 ||
	    (r = ferry_check_name(name, FERRY_CONTAINER_NAME_MAX, "container", err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_GENERATION, &generation, err)) < 0 ||
	    (r = ferry_bundle_receive_plain(conn, node->incoming, node->received, RESTORE_MAX_BYTES, &res, err)) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/spec", res.path);
	if ((r = ferry_read_file(path, 64 * 1024, &b, err)) < 0 ||
	    (r = ferry_spec_parse((const uint8_t *)b.data, b.len, spec, err)) < 0)
		goto fail;
	/* The controller rewrote the spec for the copy: it must say what the request says. */
	if (strcmp(spec->name, name) != 0 || spec->generation != generation) {
		r = ferry_err_set(err, -EPERM, "the snapshot's spec is not for '%s' generation %llu", name,
		                  (unsigned long long)generation);
		goto fail;
	}
	if ((r = ct_layers_check(&node->cts, spec, err)) < 0 || (r = ct_claim(&node->cts, name, err)) < 0)
		goto fail;
	claimed = true;
	if (ct_exists(&node->cts, name)) {
		r = ferry_err_set(err, -EEXIST, "container '%s' already exists on node '%s'", name, node->id.name);
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/upper.tar", res.path);
	if ((r = ct_prepare(&node->cts, spec, path, CT_MARK_RESTORING, err)) < 0)
		goto fail;
	made = true;
	if (spec->net.addr && (r = ctnet_create(&node->cts, spec, false, err)) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/log", res.path);
	ct_path(&node->cts, name, "log", dest, sizeof(dest));
	copy_log(path, dest);
	ct_runtime(&node->cts, name, &rt);
	ct_path(&node->cts, name, "bundle", bundle, sizeof(bundle));
	snprintf(path, sizeof(path), "%s/checkpoint", res.path);
	if ((fd = ct_log_pipe(&node->cts, name, err)) < 0) {
		r = fd;
		goto fail;
	}
	r = ferry_runtime_restore(&rt, name, bundle, path, NULL, fd, &pid, err);
	close(fd);
	if (r < 0 || (!spec->net.addr && (r = ct_loopback_up(pid, err)) < 0))
		goto fail;
	ct_mark(&node->cts, name, CT_MARK_RESTORING, false, NULL);
	log_info("snapshot restored as %s (pid %d), isolated: its link stays down, in %lld ms", name, (int)pid,
	         ferry_now_ms() - t0);
	r = ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_u64(&out, FERRY_TAG_PID, (uint64_t)pid);
	r = r ? r : ferry_tlv_add_u64(&out, FERRY_TAG_RESTORE_MS, (uint64_t)(ferry_now_ms() - t0));
	if (r == 0)
		r = ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, out.data, out.len, err);
	goto out;
fail:
	log_warn("restore of a snapshot as %s failed: %s", name, err->msg);
	if (made) {
		ctnet_destroy(&node->cts, name, NULL);
		ct_remove(&node->cts, name, NULL);
	}
	ferry_conn_send_error(conn, r, err->msg[0] ? err->msg : "restore failed", NULL);
out:
	if (claimed)
		ct_release(&node->cts, name);
	if (res.path[0])
		ferry_rm_tree(res.path, NULL);
	ferry_buf_free(&b);
	ferry_buf_free(&out);
	free(spec);
	return 0; /* answered */
}
