/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Forensic snapshots through the controller (docs/ARCHITECTURE.md,
 * "Forensic snapshots"): the admin names a container and the operator's
 * public key; the container's node makes the encrypted, signed file
 * (CT_SNAPSHOT) and sends it here as a bundle, and it goes on to the admin
 * the same way.  The controller cannot read it: it holds no key to it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "snapshot"
#include "controller.h"
#include "ferry/bundle.h"
#include "ferry/exec.h"
#include "ferry/fs.h"
#include "ferry/identity.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "ferry/snapshot.h"

#define SNAPSHOT_MS        300000
#define SNAPSHOT_MAX_BYTES (64ULL << 30)

/*
 * Have container's node take the snapshot and bring the file here: res
 * names the staging directory that holds snapshot.fsnp (the caller
 * removes it); the node, size and frozen time into the rest.
 */
static int fetch(struct controller *c, const char *container, const uint8_t recipient[FERRY_SNAPSHOT_KEY_LEN],
                 struct ferry_bundle_result *res, char *node, uint64_t *size, uint64_t *frozen, uint64_t *at,
                 struct ferry_err *err)
{
	struct ferry_container_rec *ct = malloc(sizeof(*ct));
	struct ferry_buf req = FERRY_BUF_INIT(256), resp = FERRY_BUF_INIT(512);
	struct ferry_tlv_list *rl = malloc(sizeof(*rl));
	struct ferry_conn *nconn = NULL;
	uint64_t id;
	int r;

	memset(res, 0, sizeof(*res));
	if (!ct || !rl) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = ferry_store_container_get(&c->st.reg, container, ct, err)) < 0)
		goto out;
	if (strcmp(ct->state, "running") != 0) {
		r = ferry_err_set(err, -ESRCH, "container '%s' is %s; a snapshot is of a running one", container,
		                  ct->state);
		goto out;
	}
	snprintf(node, FERRY_NODE_NAME_MAX + 1, "%s", ct->node);
	if (ferry_random(&id, sizeof(id)) < 0) {
		r = ferry_err_set(err, -EIO, "no random numbers from the kernel");
		goto out;
	}
	id >>= 1; /* the registry's integers are signed */
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_CT_SNAPSHOT);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, container);
	r = r ? r : ferry_tlv_add(&req, FERRY_TAG_DATA, recipient, FERRY_SNAPSHOT_KEY_LEN);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_SEQ, id);
	if (r < 0 || (r = node_open(c, ct->node, SNAPSHOT_MS, &nconn, err)) < 0 ||
	    (r = ferry_conn_send_frame(nconn, FERRY_FRAME_REQUEST, req.data, req.len, err)) < 0 ||
	    (r = ferry_expect_response(nconn, &resp, err)) < 0 ||
	    (r = ferry_tlv_parse((const uint8_t *)resp.data, resp.len, rl, err)) < 0)
		goto out;
	ferry_tlv_get_u64(rl, FERRY_TAG_SIZE, size, NULL);
	ferry_tlv_get_u64(rl, FERRY_TAG_DOWNTIME_MS, frozen, NULL);
	ferry_tlv_get_u64(rl, FERRY_TAG_TIME, at, NULL);
	r = ferry_bundle_receive_plain(nconn, c->incoming, c->received, SNAPSHOT_MAX_BYTES, res, err);
out:
	if (r < 0 && strncmp(err->msg, "peer refused: ", 14) == 0)
		memmove(err->msg, err->msg + 14, strlen(err->msg + 14) + 1);
	ferry_conn_close(nconn);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	free(rl);
	free(ct);
	return r;
}

int snapshot_to_file(struct controller *c, const char *container, const uint8_t recipient[FERRY_SNAPSHOT_KEY_LEN],
                     const char *path, uint64_t *size, uint64_t *frozen, struct ferry_err *err)
{
	struct ferry_bundle_result res;
	char node[FERRY_NODE_NAME_MAX + 1], file[sizeof(res.path) + 32];
	const char *cp[] = { "cp", "--no-clobber", "--", file, path, NULL };
	struct ferry_exec_opts eo = { .timeout_ms = SNAPSHOT_MS };
	uint64_t at = 0;
	int r = fetch(c, container, recipient, &res, node, size, frozen, &at, err);

	if (r < 0)
		goto out;
	snprintf(file, sizeof(file), "%s/snapshot.fsnp", res.path);
	/* Renamed where it can be; elsewhere (another file system) copied, never over a file. */
	if (access(path, F_OK) == 0)
		r = ferry_err_set(err, -EEXIST, "%s exists", path);
	else if (link(file, path) < 0 && (r = ferry_exec_ok(cp, &eo, err)) < 0)
		unlink(path);
out:
	if (res.path[0])
		ferry_rm_tree(res.path, NULL);
	return r;
}

int api_snapshot(struct controller *c, struct ferry_conn *conn, const struct ferry_tlv_list *l, struct ferry_buf *out,
                 struct ferry_err *err)
{
	struct ferry_buf meta = FERRY_BUF_INIT(256);
	struct ferry_bundle_result res = { 0 };
	struct ferry_manifest m = { 0 };
	uint8_t recipient[FERRY_SNAPSHOT_KEY_LEN];
	char container[FERRY_CONTAINER_NAME_MAX + 1], node[FERRY_NODE_NAME_MAX + 1] = "";
	uint64_t size = 0, frozen = 0, at = 0;
	int r;

	if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, container, sizeof(container), err)) < 0 ||
	    (r = ferry_tlv_get_fixed(l, FERRY_TAG_DATA, recipient, sizeof(recipient), err)) < 0 ||
	    (r = fetch(c, container, recipient, &res, node, &size, &frozen, &at, err)) < 0)
		goto out;
	/* To the admin: what it is, then the file. */
	r = ferry_tlv_add_u32(&meta, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_str(&meta, FERRY_TAG_NODE, node);
	r = r ? r : ferry_tlv_add_u64(&meta, FERRY_TAG_SIZE, size);
	r = r ? r : ferry_tlv_add_u64(&meta, FERRY_TAG_DOWNTIME_MS, frozen);
	r = r ? r : ferry_tlv_add_u64(&meta, FERRY_TAG_TIME, at);
	if (r < 0 || (r = ferry_manifest_from_dir(res.path, &m, err)) < 0 ||
	    (r = ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, meta.data, meta.len, err)) < 0 ||
	    (r = ferry_bundle_send(conn, NULL, 0, &m, res.path, 0, NULL, NULL, err)) < 0)
		goto out;
	log_info("snapshot of %s on %s: %llu bytes, frozen %llu ms, handed to the admin", container, node,
	         (unsigned long long)size, (unsigned long long)frozen);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
out:
	if (res.path[0])
		ferry_rm_tree(res.path, NULL);
	ferry_manifest_free(&m);
	ferry_buf_free(&meta);
	return r;
}

/* ---- restoring one on a spare host ---- */

#define RESTORE_MS 300000

/*
 * The admin opened a snapshot (the controller never holds the key) and
 * sends its contents: they become a new container on node, named anew,
 * that runs isolated (its link never comes up) and is recorded as
 * "isolated", so that nothing migrates, evacuates or rotates it onto the
 * fabric where the original may still run.
 */
int api_snapshot_restore(struct controller *c, struct ferry_conn *conn, const struct ferry_tlv_list *l,
                         struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_container_rec *rec = calloc(1, sizeof(*rec)), *old = malloc(sizeof(*old));
	struct ferry_spec *spec = malloc(sizeof(*spec));
	struct ferry_buf b = FERRY_BUF_INIT(64 * 1024), go = FERRY_BUF_INIT(16), req = FERRY_BUF_INIT(256),
	                 resp = FERRY_BUF_INIT(256), enc = FERRY_BUF_INIT(FERRY_SPEC_ENC_MAX);
	struct ferry_tlv_list *rl = malloc(sizeof(*rl));
	struct ferry_bundle_result res = { 0 };
	struct ferry_manifest m = { 0 };
	struct ferry_registry_node n;
	struct ferry_conn *nconn = NULL;
	char name[FERRY_CONTAINER_NAME_MAX + 1], node[FERRY_NODE_NAME_MAX + 1], path[sizeof(res.path) + 8];
	uint64_t pid = 0;
	int r;

	if (!rec || !old || !spec || !rl) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, name, sizeof(name), err)) < 0 ||
	    (r = ferry_check_name(name, FERRY_CONTAINER_NAME_MAX, "container", err)) < 0 ||
	    (r = ferry_tlv_get_str(l, FERRY_TAG_NODE, node, sizeof(node), err)) < 0 ||
	    (r = node_lookup(c, node, &n, err)) < 0 || (r = refuse_quarantined(c, node, err)) < 0)
		goto out;
	if (ferry_store_container_get(&c->st.reg, name, old, NULL) == 0) {
		r = ferry_err_set(err, -EEXIST, "a container named '%s' exists; the copy needs a name of its own",
		                  name);
		goto out;
	}
	/* Go on, then the contents. */
	r = ferry_tlv_add_u32(&go, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, go.data, go.len, err);
	if (r < 0)
		goto out;
	conn->io_timeout_ms = RESTORE_MS;
	if ((r = ferry_bundle_receive_plain(conn, c->incoming, c->received, SNAPSHOT_MAX_BYTES, &res, err)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/spec", res.path);
	if ((r = ferry_read_file(path, 64 * 1024, &b, err)) < 0 ||
	    (r = ferry_spec_parse((const uint8_t *)b.data, b.len, spec, err)) < 0)
		goto out;
	/* The copy's own name and first generation; the original's address, which it never shows. */
	snprintf(spec->name, sizeof(spec->name), "%s", name);
	if ((r = ferry_store_first_generation(&c->st.reg, name, &spec->generation, err)) < 0 ||
	    (r = ferry_spec_encode(spec, &enc)) < 0 ||
	    (r = ferry_write_file_atomic(path, enc.data, enc.len, 0600, err)) < 0 ||
	    (r = node_prepare(c, node, spec, err)) < 0)
		goto out;
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_CT_RESTORE);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, name);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_GENERATION, spec->generation);
	if (r < 0 || (r = ferry_manifest_from_dir(res.path, &m, err)) < 0 ||
	    (r = node_open(c, node, RESTORE_MS, &nconn, err)) < 0 ||
	    (r = ferry_conn_send_frame(nconn, FERRY_FRAME_REQUEST, req.data, req.len, err)) < 0 ||
	    (r = ferry_bundle_send(nconn, NULL, 0, &m, res.path, FERRY_BUNDLE_ZSTD, NULL, NULL, err)) < 0 ||
	    (r = ferry_expect_response(nconn, &resp, err)) < 0 ||
	    (r = ferry_tlv_parse((const uint8_t *)resp.data, resp.len, rl, err)) < 0)
		goto out;
	ferry_tlv_get_u64(rl, FERRY_TAG_PID, &pid, NULL);
	snprintf(rec->name, sizeof(rec->name), "%s", name);
	snprintf(rec->node, sizeof(rec->node), "%s", node);
	snprintf(rec->image, sizeof(rec->image), "%s", spec->image);
	snprintf(rec->state, sizeof(rec->state), "isolated");
	rec->generation = spec->generation;
	rec->created_at = (uint64_t)time(NULL);
	memcpy(rec->spec, enc.data, enc.len);
	rec->spec_len = enc.len;
	if ((r = ferry_store_container_add(&c->st.reg, rec, err)) < 0)
		goto out;
	log_info("snapshot restored as %s on %s (pid %llu), isolated", name, node, (unsigned long long)pid);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_NODE, node);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_PID, pid);
out:
	if (r < 0 && strncmp(err->msg, "peer refused: ", 14) == 0)
		memmove(err->msg, err->msg + 14, strlen(err->msg + 14) + 1);
	if (res.path[0])
		ferry_rm_tree(res.path, NULL);
	ferry_conn_close(nconn);
	ferry_manifest_free(&m);
	ferry_buf_free(&b);
	ferry_buf_free(&go);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	ferry_buf_free(&enc);
	free(rec);
	free(old);
	free(spec);
	free(rl);
	return r;
}
