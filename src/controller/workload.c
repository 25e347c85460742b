/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The admin API about workloads: images, containers, and (migrate.c)
 * migrations.  The controller records intent and placement; the nodes run
 * the containers and are asked for their live state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "controller"
#include "controller.h"
#include "ferry/bundle.h"
#include "ferry/fs.h"
#include "ferry/hex.h"
#include "ferry/layer.h"
#include "ferry/log.h"
#include "ferry/parse.h"

#define NODE_CALL_MS    15000
#define NODE_RUN_MS     90000 /* start, then the readiness probe (30 s) */
#define IMAGE_MAX_BYTES (4ULL << 30)
#define CTL_CONNECT_MS  5000

int workload_init(struct controller *c, const char *state_dir, struct ferry_err *err)
{
	int r;

	snprintf(c->layer_dir, sizeof(c->layer_dir), "%s/layers", state_dir);
	/* Staging on the same file system as the layers: a verified archive is renamed into place. */
	snprintf(c->incoming, sizeof(c->incoming), "%s/layers.incoming", state_dir);
	snprintf(c->received, sizeof(c->received), "%s/layers.received", state_dir);
	if ((r = ferry_mkdir_p(c->layer_dir, 0700, err)) < 0)
		return r;
	ferry_rm_tree(c->incoming, NULL);
	ferry_rm_tree(c->received, NULL);
	if ((r = ferry_mkdir_p(c->incoming, 0700, err)) < 0 || (r = ferry_mkdir_p(c->received, 0700, err)) < 0)
		return r;
	r = ferry_store_migrations_interrupt(&c->st.reg, (uint64_t)time(NULL), err);
	if (r > 0)
		log_warn("%d migrations were cut short by the controller's last stop; marked interrupted", r);
	return r < 0 ? r : 0;
}

int node_lookup(struct controller *c, const char *name, struct ferry_registry_node *ret, struct ferry_err *err)
{
	struct ferry_registry_node *nodes = calloc(MAX_NODES, sizeof(*nodes));
	uint64_t version;
	int n, r = -ENOENT;

	if (!nodes)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	n = ferry_registry_nodes(&c->st.reg, nodes, MAX_NODES, &version, err);
	for (int i = 0; i < n; i++)
		if (strcmp(nodes[i].name, name) == 0) {
			*ret = nodes[i];
			r = 0;
		}
	free(nodes);
	if (n < 0)
		return n;
	if (r < 0)
		return ferry_err_set(err, -ENOENT, "no active node named '%s' (ferry nodes lists them)", name);
	return 0;
}

int refuse_quarantined(struct controller *c, const char *node, struct ferry_err *err)
{
	struct ferry_err e2 = { 0 };

	if (!ferry_store_is_quarantined(&c->st.reg, node, &e2))
		return e2.msg[0]
		           ? ferry_err_set(err, -EIO, "cannot tell whether '%s' is in quarantine: %s", node, e2.msg)
		           : 0;
	return ferry_err_set(err, -EPERM,
	                     "node '%s' is in quarantine after an intrusion alert; nothing is placed there until "
	                     "'ferry node release %s'",
	                     node, node);
}

int node_open(struct controller *c, const char *node, int timeout_ms, struct ferry_conn **conn, struct ferry_err *err)
{
	struct ferry_registry_node n;
	int r;

	if ((r = node_lookup(c, node, &n, err)) < 0 ||
	    (r = ferry_conn_connect(c->client_ctx, n.address, FERRY_ALPN_CTL, NULL, CTL_CONNECT_MS, conn, err)) < 0)
		return r;
	(*conn)->io_timeout_ms = timeout_ms;
	if (CRYPTO_memcmp((*conn)->peer_id, n.id, FERRY_ID_LEN) != 0) {
		ferry_conn_close(*conn);
		*conn = NULL;
		return ferry_err_set(err, -EPERM, "%s answers with another node's key than '%s'", n.address, node);
	}
	return 0;
}

int node_call(struct controller *c, const char *node, const struct ferry_buf *req, struct ferry_buf *resp,
              struct ferry_tlv_list *l, int timeout_ms, struct ferry_err *err)
{
	struct ferry_conn *conn = NULL;
	int r;

	if ((r = node_open(c, node, timeout_ms, &conn, err)) == 0 &&
	    (r = ferry_conn_send_frame(conn, FERRY_FRAME_REQUEST, req->data, req->len, err)) == 0 &&
	    (r = ferry_expect_response(conn, resp, err)) == 0)
		r = ferry_tlv_parse((const uint8_t *)resp->data, resp->len, l, err);
	if (r < 0 && strncmp(err->msg, "peer refused: ", 14) == 0)
		memmove(err->msg, err->msg + 14, strlen(err->msg + 14) + 1); /* the node's reason, as is */
	ferry_conn_close(conn);
	return r;
}

/* A request of one op with a container name. */
static int simple_req(struct ferry_buf *req, unsigned op, const char *name)
{
	int r = ferry_tlv_add_u16(req, FERRY_TAG_OP, (uint16_t)op);

	return r ? r : ferry_tlv_add_str(req, FERRY_TAG_CONTAINER, name);
}

int ct_request(struct controller *c, const char *node, unsigned op, const char *name, const struct ferry_buf *extra,
               int timeout_ms, struct ferry_err *err)
{
	struct ferry_buf req = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	int r = l ? ferry_tlv_add_u16(&req, FERRY_TAG_OP, (uint16_t)op) : -ENOMEM;

	if (r == 0 && name)
		r = ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, name);
	if (r == 0 && extra)
		r = ferry_buf_append(&req, extra->data, extra->len);
	r = r < 0 ? ferry_err_set(err, r, "request too large") : node_call(c, node, &req, &resp, l, timeout_ms, err);
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

/* ---- layers ---- */

static void layer_tar(struct controller *c, const uint8_t digest[32], char *buf, size_t len)
{
	char hex[65];

	ferry_hex_encode(digest, 32, hex);
	snprintf(buf, len, "%s/%s.tar", c->layer_dir, hex);
}

static int push_layer(struct controller *c, const char *node, const uint8_t digest[32], struct ferry_err *err)
{
	struct ferry_buf req = FERRY_BUF_INIT(64), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_manifest m = { 0 };
	struct ferry_conn *conn = NULL;
	char hex[65];
	int r;

	ferry_hex_encode(digest, 32, hex);
	m.n = 1;
	m.objects = calloc(1, sizeof(*m.objects));
	if (!m.objects)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	snprintf(m.objects[0].name, sizeof(m.objects[0].name), "%s.tar", hex);
	memcpy(m.objects[0].sha256, digest, 32);
	{
		char path[600];
		uint8_t check[32];

		layer_tar(c, digest, path, sizeof(path));
		if ((r = ferry_file_sha256(path, check, &m.objects[0].size, err)) < 0)
			goto out;
		if (memcmp(check, digest, 32) != 0) {
			r = ferry_err_set(err, -EBADMSG, "stored layer %.12s is damaged", hex);
			goto out;
		}
		m.total = m.objects[0].size;
	}
	if ((r = node_open(c, node, 300000, &conn, err)) < 0 ||
	    (r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_LAYER_PUT)) < 0 ||
	    (r = ferry_conn_send_frame(conn, FERRY_FRAME_REQUEST, req.data, req.len, err)) < 0 ||
	    (r = ferry_bundle_send(conn, NULL, 0, &m, c->layer_dir, FERRY_BUNDLE_ZSTD, NULL, NULL, err)) < 0 ||
	    (r = ferry_expect_response(conn, &resp, err)) < 0)
		goto out;
	log_info("layer %.12s pushed to '%s' (%llu bytes)", hex, node, (unsigned long long)m.total);
out:
	ferry_conn_close(conn);
	ferry_manifest_free(&m);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

/* NODE_INFO of a node: fields into l. */
static int node_info(struct controller *c, const char *node, struct ferry_buf *resp, struct ferry_tlv_list *l,
                     struct ferry_err *err)
{
	struct ferry_buf req = FERRY_BUF_INIT(64);
	int r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_NODE_INFO);

	r = r ? r : node_call(c, node, &req, resp, l, NODE_CALL_MS, err);
	ferry_buf_free(&req);
	return r;
}

/* ---- images ---- */

static int image_import(struct controller *c, struct ferry_conn *conn, const struct ferry_tlv_list *l,
                        struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_image_rec img = { 0 };
	struct ferry_bundle_result res;
	struct ferry_manifest m = { 0 };
	char obj[600], dest[600];
	int r;

	if ((r = ferry_tlv_get_str(l, FERRY_TAG_IMAGE, img.name, sizeof(img.name), err)) < 0 ||
	    (r = ferry_check_name(img.name, FERRY_CONTAINER_NAME_MAX, "image", err)) < 0)
		return r;
	/* Tell the client to go on, then take the archive. */
	{
		struct ferry_buf go = FERRY_BUF_INIT(16);

		r = ferry_tlv_add_u32(&go, FERRY_TAG_STATUS, 0);
		r = r ? r : ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, go.data, go.len, err);
		ferry_buf_free(&go);
		if (r < 0)
			return r;
	}
	conn->io_timeout_ms = 300000;
	if ((r = ferry_bundle_receive_plain(conn, c->incoming, c->received, IMAGE_MAX_BYTES, &res, err)) < 0)
		return r;
	if ((r = ferry_manifest_from_dir(res.path, &m, err)) < 0)
		goto out;
	if (m.n != 1 || strcmp(m.objects[0].name, "layer.tar") != 0) {
		r = ferry_err_set(err, -EPROTO, "an image import carries exactly one object, layer.tar");
		goto out;
	}
	snprintf(obj, sizeof(obj), "%s/layer.tar", res.path);
	if ((r = ferry_layer_check(obj, err)) < 0)
		goto out;
	memcpy(img.digest, m.objects[0].sha256, 32);
	img.size = m.objects[0].size;
	img.created_at = (uint64_t)time(NULL);
	layer_tar(c, img.digest, dest, sizeof(dest));
	if (rename(obj, dest) < 0) {
		r = ferry_err_sys(err, -errno, "cannot store layer %s", dest);
		goto out;
	}
	if ((r = ferry_store_image_put(&c->st.reg, &img, err)) < 0)
		goto out;
	log_info("image '%s' imported: one layer, %llu bytes", img.name, (unsigned long long)img.size);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add(out, FERRY_TAG_LAYER, img.digest, 32);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_SIZE, img.size);
out:
	ferry_rm_tree(res.path, NULL);
	ferry_manifest_free(&m);
	return r;
}

static int image_list(struct controller *c, struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_image_rec *imgs = calloc(256, sizeof(*imgs));
	int n = imgs ? ferry_store_images(&c->st.reg, imgs, 256, err) : ferry_err_set(err, -ENOMEM, "out of memory");
	int r = n < 0 ? n : ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);

	for (int i = 0; r == 0 && i < n; i++) {
		struct ferry_buf rec = FERRY_BUF_INIT(512);

		r = ferry_tlv_add_str(&rec, FERRY_TAG_IMAGE, imgs[i].name);
		r = r ? r : ferry_tlv_add(&rec, FERRY_TAG_LAYER, imgs[i].digest, 32);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_SIZE, imgs[i].size);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_TIME, imgs[i].created_at);
		r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
		ferry_buf_free(&rec);
	}
	free(imgs);
	return r;
}

/* ---- containers ---- */

/* The active node with the fewest containers recorded on it. */
static int pick_node(struct controller *c, char *ret, struct ferry_err *err)
{
	struct ferry_registry_node *nodes = calloc(MAX_NODES, sizeof(*nodes));
	struct ferry_container_rec *cts = calloc(CT_LIST_MAX, sizeof(*cts));
	unsigned best = ~0U;
	uint64_t version;
	int n, m, r = 0;

	if (!nodes || !cts) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	n = ferry_registry_nodes(&c->st.reg, nodes, MAX_NODES, &version, err);
	m = ferry_store_containers(&c->st.reg, cts, CT_LIST_MAX, err);
	if (n <= 0 || m < 0) {
		r = n < 0 ? n : m < 0 ? m : ferry_err_set(err, -ENOENT, "no active node to run on");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		unsigned load = 0;

		if (ferry_store_is_quarantined(&c->st.reg, nodes[i].name, NULL))
			continue;
		for (int j = 0; j < m; j++)
			load += strcmp(cts[j].node, nodes[i].name) == 0;
		if (load < best) {
			best = load;
			snprintf(ret, FERRY_NODE_NAME_MAX + 1, "%s", nodes[i].name);
		}
	}
	if (best == ~0U)
		r = ferry_err_set(err, -ENOENT,
		                  "every active node is in quarantine ('ferry node release NODE' ends it)");
out:
	free(nodes);
	free(cts);
	return r;
}

int node_prepare(struct controller *c, const char *node, const struct ferry_spec *spec, struct ferry_err *err)
{
	struct ferry_buf resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	uint64_t avail = 0;
	int r;

	if (!l)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	/* One NODE_INFO answers both: its free memory and the layers it holds. */
	r = node_info(c, node, &resp, l, err);
	if (r == 0 && (r = ferry_tlv_get_u64(l, FERRY_TAG_MEMORY, &avail, err)) == 0 && avail < spec->memory)
		r = ferry_err_set(err, -ENOSPC,
		                  "node '%s' has no room: %llu MiB of memory available, the container needs %llu MiB",
		                  node, (unsigned long long)(avail >> 20), (unsigned long long)(spec->memory >> 20));
	for (unsigned i = 0; r == 0 && i < spec->n_layers; i++) {
		bool have = false;

		for (unsigned j = 0; j < l->n; j++)
			have |= l->items[j].tag == FERRY_TAG_LAYER && l->items[j].len == 32 &&
			        memcmp(l->items[j].value, spec->layers[i], 32) == 0;
		if (!have)
			r = push_layer(c, node, spec->layers[i], err);
	}
	free(l);
	ferry_buf_free(&resp);
	return r;
}

/*
 * Address management: the lowest free address of fabric_pool, skipping the
 * containers' addresses and the nodes' own.  The caller holds ipam_lock
 * until the container's record (which holds the address) is written.
 */
static int assign_address(struct controller *c, struct ferry_spec *spec, struct ferry_err *err)
{
	struct ferry_registry_node *nodes = calloc(MAX_NODES, sizeof(*nodes));
	struct ferry_container_rec *cts = calloc(CT_LIST_MAX, sizeof(*cts));
	struct ferry_spec *other = malloc(sizeof(*other));
	uint32_t *used = calloc(CT_LIST_MAX + MAX_NODES, sizeof(*used));
	size_t n_used = 0;
	uint64_t version;
	int n, m, r = 0;

	if (!nodes || !cts || !other || !used) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((n = ferry_registry_nodes(&c->st.reg, nodes, MAX_NODES, &version, err)) < 0 ||
	    (m = ferry_store_containers(&c->st.reg, cts, CT_LIST_MAX, err)) < 0) {
		r = -EIO;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		char host[32], *colon;

		snprintf(host, sizeof(host), "%s", nodes[i].address);
		if ((colon = strchr(host, ':')))
			*colon = '\0';
		if (ferry_parse_ipv4(host, &used[n_used], NULL) == 0)
			n_used++;
	}
	for (int j = 0; j < m; j++)
		if (ferry_spec_parse(cts[j].spec, cts[j].spec_len, other, NULL) == 0 && other->net.addr)
			used[n_used++] = other->net.addr;
	r = ferry_fabric_pick(&c->fabric, used, n_used, &spec->net, err);
out:
	free(nodes);
	free(cts);
	free(other);
	free(used);
	return r;
}

static int run(struct controller *c, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_container_rec *rec = calloc(1, sizeof(*rec));
	struct ferry_buf req = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX),
	                 enc = FERRY_BUF_INIT(FERRY_SPEC_ENC_MAX);
	struct ferry_tlv_list *rl = malloc(sizeof(*rl));
	struct ferry_spec *spec = calloc(1, sizeof(*spec));
	struct ferry_image_rec img;
	struct ferry_registry_node n;
	uint64_t pid = 0;
	bool recorded = false;
	int r;

	if (!rec || !rl || !spec) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* The image decides the layers; the client's own layer list (if any) is ignored. */
	if ((r = ferry_tlv_get_str(l, FERRY_TAG_IMAGE, spec->image, sizeof(spec->image), err)) < 0 ||
	    (r = ferry_store_image_get(&c->st.reg, spec->image, &img, err)) < 0)
		goto out;
	{
		struct ferry_buf tmp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
		struct ferry_tlv_list *tl = malloc(sizeof(*tl));

		/* Rebuild the request as a spec: client fields plus the image's layer (the generation comes next). */
		r = tl ? 0 : ferry_err_set(err, -ENOMEM, "out of memory");
		for (unsigned i = 0; r == 0 && i < l->n; i++)
			if (l->items[i].tag != FERRY_TAG_LAYER && l->items[i].tag != FERRY_TAG_GENERATION &&
			    l->items[i].tag != FERRY_TAG_NET_ADDR && l->items[i].tag != FERRY_TAG_MAC)
				r = ferry_tlv_add(&tmp, l->items[i].tag, l->items[i].value, l->items[i].len);
		r = r ? r : ferry_tlv_add(&tmp, FERRY_TAG_LAYER, img.digest, 32);
		r = r ? r : ferry_tlv_add_u64(&tmp, FERRY_TAG_GENERATION, 1);
		if (r == 0 && (r = ferry_tlv_parse((const uint8_t *)tmp.data, tmp.len, tl, err)) == 0)
			r = ferry_spec_from_tlv(tl, spec, err);
		free(tl);
		ferry_buf_free(&tmp);
		if (r < 0)
			goto out;
	}
	/* A name used before goes on above its old generations: nodes refuse ones they saw. */
	if ((r = ferry_store_first_generation(&c->st.reg, spec->name, &spec->generation, err)) < 0)
		goto out;
	if (ferry_tlv_find(l, FERRY_TAG_NODE)) {
		if ((r = ferry_tlv_get_str(l, FERRY_TAG_NODE, rec->node, sizeof(rec->node), err)) < 0 ||
		    (r = node_lookup(c, rec->node, &n, err)) < 0 || (r = refuse_quarantined(c, rec->node, err)) < 0)
			goto out;
	} else if ((r = pick_node(c, rec->node, err)) < 0) {
		goto out;
	}
	/* The address is the controller's to give (the client's fields were dropped above). */
	pthread_mutex_lock(&c->ipam_lock);
	if (c->fabric.has_pool && (r = assign_address(c, spec, err)) < 0) {
		pthread_mutex_unlock(&c->ipam_lock);
		goto out;
	}
	if ((r = ferry_spec_encode(spec, &enc)) < 0) {
		pthread_mutex_unlock(&c->ipam_lock);
		r = ferry_err_set(err, -E2BIG, "container spec too large");
		goto out;
	}
	snprintf(rec->name, sizeof(rec->name), "%s", spec->name);
	snprintf(rec->image, sizeof(rec->image), "%s", spec->image);
	snprintf(rec->state, sizeof(rec->state), "starting");
	rec->generation = spec->generation;
	rec->created_at = (uint64_t)time(NULL);
	memcpy(rec->spec, enc.data, enc.len);
	rec->spec_len = enc.len;
	r = ferry_store_container_add(&c->st.reg, rec, err);
	pthread_mutex_unlock(&c->ipam_lock);
	if (r < 0)
		goto out;
	recorded = true;
	if ((r = node_prepare(c, rec->node, spec, err)) < 0 ||
	    (r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_CT_RUN)) < 0 ||
	    (r = ferry_buf_append(&req, enc.data, enc.len)) < 0 ||
	    (r = node_call(c, rec->node, &req, &resp, rl, NODE_RUN_MS, err)) < 0)
		goto out;
	ferry_tlv_get_u64(rl, FERRY_TAG_PID, &pid, NULL);
	snprintf(rec->state, sizeof(rec->state), "running");
	if ((r = ferry_store_container_update(&c->st.reg, rec, err)) < 0)
		goto out;
	log_info("container %s runs on %s (image %s)", rec->name, rec->node, rec->image);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_NODE, rec->node);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_PID, pid);
	if (r == 0 && spec->net.addr) {
		char a[16], address[24];

		snprintf(address, sizeof(address), "%s/%u", ferry_format_ipv4(spec->net.addr, a), spec->net.prefix_len);
		r = ferry_tlv_add_str(out, FERRY_TAG_ADDRESS, address);
	}
out:
	if (r < 0 && recorded)
		ferry_store_container_del(&c->st.reg, rec->name, NULL);
	free(rec);
	free(rl);
	free(spec);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	ferry_buf_free(&enc);
	return r;
}

int survey(struct controller *c, struct seen *out, unsigned max, char (*down)[FERRY_NODE_NAME_MAX + 1],
           unsigned *n_down)
{
	struct ferry_registry_node *ns = calloc(MAX_NODES, sizeof(*ns));
	struct ferry_buf req = FERRY_BUF_INIT(64), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l)), *rl = malloc(sizeof(*rl));
	uint64_t version;
	unsigned n = 0;
	int nn;

	*n_down = 0;
	if (!ns || !l || !rl || ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_CT_LIST) < 0)
		goto out;
	nn = ferry_registry_nodes(&c->st.reg, ns, MAX_NODES, &version, NULL);
	for (int i = 0; i < nn; i++) {
		if (node_call(c, ns[i].name, &req, &resp, l, NODE_CALL_MS, &(struct ferry_err){ 0 }) < 0) {
			snprintf(down[(*n_down)++], FERRY_NODE_NAME_MAX + 1, "%s", ns[i].name);
			continue;
		}
		for (unsigned j = 0; j < l->n && n < max; j++) {
			struct seen *s = &out[n];

			if (l->items[j].tag != FERRY_TAG_RECORD ||
			    ferry_tlv_parse(l->items[j].value, l->items[j].len, rl, NULL) < 0 ||
			    ferry_tlv_get_str(rl, FERRY_TAG_CONTAINER, s->name, sizeof(s->name), NULL) < 0)
				continue;
			snprintf(s->node, sizeof(s->node), "%s", ns[i].name);
			ferry_tlv_get_str(rl, FERRY_TAG_STATE, s->state, sizeof(s->state), NULL);
			ferry_tlv_get_u64(rl, FERRY_TAG_PID, &s->pid, NULL);
			ferry_tlv_get_u64(rl, FERRY_TAG_GENERATION, &s->generation, NULL);
			n++;
		}
	}
out:
	free(ns);
	free(l);
	free(rl);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return (int)n;
}

/*
 * A container left paused by a migration that nobody finished (its source
 * daemon restarted mid-way): if a newer generation runs elsewhere, that one
 * won and the paused copy goes; otherwise the paused copy is the only one and
 * is resumed.  Never while the controller itself is migrating it.
 */
static void reconcile(struct controller *c, struct ferry_container_rec *ct, const struct seen *all, int n,
                      unsigned n_down)
{
	const struct seen *paused = NULL, *winner = NULL;
	struct ferry_err e = { 0 };
	bool restoring = false;

	if (strcmp(ct->state, "running") != 0)
		return;
	for (int i = 0; i < n; i++) {
		if (strcmp(all[i].name, ct->name) != 0)
			continue;
		if (strcmp(all[i].state, "migrating") == 0)
			paused = &all[i];
		else if (strcmp(all[i].state, "restoring") == 0)
			restoring = true;
		else if (strcmp(all[i].state, "running") == 0 && (!winner || all[i].generation > winner->generation))
			winner = &all[i];
	}
	/* A copy still waiting for its commit, or a node that does not answer: too early to choose. */
	if (paused && !winner && (restoring || n_down))
		return;
	if (paused && winner && winner->generation > paused->generation) {
		log_warn("reconcile: %s runs on %s (generation %llu); removing the paused copy on %s", ct->name,
		         winner->node, (unsigned long long)winner->generation, paused->node);
		ct_request(c, paused->node, FERRY_OP_CT_RM, ct->name, NULL, NODE_CALL_MS, &e);
	} else if (paused && !winner) {
		log_warn("reconcile: %s was left paused on %s by an unfinished migration; resuming it", ct->name,
		         paused->node);
		if (ct_request(c, paused->node, FERRY_OP_CT_RESUME, ct->name, NULL, NODE_CALL_MS, &e) < 0)
			log_warn("reconcile: cannot resume %s on %s: %s", ct->name, paused->node, e.msg);
	}
	if (winner && strcmp(winner->node, ct->node) != 0) {
		log_warn("reconcile: %s runs on %s, not on %s as recorded; record updated", ct->name, winner->node,
		         ct->node);
		snprintf(ct->node, sizeof(ct->node), "%s", winner->node);
		ferry_store_container_update(&c->st.reg, ct, NULL);
	}
}

/* Live state of every container: the record, refreshed from the nodes (and reconciled with them). */
/* "a.b.c.d/len" of a container's fabric address, "" without one. */
static const char *address_of(const struct ferry_container_rec *ct, char buf[24])
{
	struct ferry_spec *spec = malloc(sizeof(*spec));
	char a[16];

	buf[0] = '\0';
	if (spec && ferry_spec_parse(ct->spec, ct->spec_len, spec, NULL) == 0 && spec->net.addr)
		snprintf(buf, 24, "%s/%u", ferry_format_ipv4(spec->net.addr, a), spec->net.prefix_len);
	free(spec);
	return buf;
}

static int ps(struct controller *c, struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_container_rec *cts = calloc(CT_LIST_MAX, sizeof(*cts));
	struct seen *seen = calloc(CT_LIST_MAX * 4, sizeof(*seen));
	char(*down)[FERRY_NODE_NAME_MAX + 1] = calloc(MAX_NODES, FERRY_NODE_NAME_MAX + 1);
	unsigned n_down = 0;
	int n, m = 0, r;

	if (!cts || !seen || !down) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	m = survey(c, seen, CT_LIST_MAX * 4, down, &n_down);
	n = ferry_store_containers(&c->st.reg, cts, CT_LIST_MAX, err);
	r = n < 0 ? n : ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	for (int i = 0; r == 0 && i < n; i++) {
		struct ferry_buf rec = FERRY_BUF_INIT(1024);
		char state[32] = "missing", address[24];
		uint64_t pid = 0;

		reconcile(c, &cts[i], seen, m, n_down);
		for (unsigned k = 0; k < n_down; k++)
			if (strcmp(down[k], cts[i].node) == 0)
				snprintf(state, sizeof(state), "unreachable");
		for (int j = 0; j < m; j++)
			if (strcmp(seen[j].name, cts[i].name) == 0 && strcmp(seen[j].node, cts[i].node) == 0) {
				snprintf(state, sizeof(state), "%s", seen[j].state);
				pid = seen[j].pid;
			}
		if (strcmp(cts[i].state, "migrating") == 0 || strcmp(cts[i].state, "starting") == 0)
			snprintf(state, sizeof(state), "%s", cts[i].state);
		/* A restored snapshot runs, cut off: that is what it is. */
		if (strcmp(cts[i].state, "isolated") == 0 && strcmp(state, "running") == 0)
			snprintf(state, sizeof(state), "isolated");
		r = ferry_tlv_add_str(&rec, FERRY_TAG_CONTAINER, cts[i].name);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_NODE, cts[i].node);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_IMAGE, cts[i].image);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_STATE, state);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_PID, pid);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_GENERATION, cts[i].generation);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_TIME, cts[i].created_at);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_ADDRESS, address_of(&cts[i], address));
		r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
		ferry_buf_free(&rec);
	}
out:
	free(cts);
	free(seen);
	free(down);
	return r;
}

/* logs, stop, rm, exec: forwarded to the container's node. */
static int forward(struct controller *c, unsigned op, const struct ferry_tlv_list *l, struct ferry_buf *out,
                   struct ferry_err *err)
{
	static const unsigned node_op[] = { [FERRY_OP_LOGS] = FERRY_OP_CT_LOGS,
		                            [FERRY_OP_STOP] = FERRY_OP_CT_STOP,
		                            [FERRY_OP_RM] = FERRY_OP_CT_RM,
		                            [FERRY_OP_EXEC] = FERRY_OP_CT_EXEC };
	struct ferry_container_rec *rec = malloc(sizeof(*rec));
	struct ferry_buf req = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *rl = malloc(sizeof(*rl));
	char name[FERRY_CONTAINER_NAME_MAX + 1];
	int r;

	if (!rec || !rl) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, name, sizeof(name), err)) < 0 ||
	    (r = ferry_store_container_get(&c->st.reg, name, rec, err)) < 0)
		goto out;
	if (strcmp(rec->state, "migrating") == 0 && op != FERRY_OP_LOGS && op != FERRY_OP_EXEC) {
		r = ferry_err_set(err, -EBUSY, "container '%s' is migrating; try again when it is done", name);
		goto out;
	}
	r = simple_req(&req, node_op[op], name);
	for (unsigned i = 0; r == 0 && i < l->n; i++)
		if (l->items[i].tag == FERRY_TAG_ARG)
			r = ferry_tlv_add(&req, FERRY_TAG_ARG, l->items[i].value, l->items[i].len);
	if (r < 0)
		goto out;
	r = node_call(c, rec->node, &req, &resp, rl, op == FERRY_OP_EXEC ? 60000 : NODE_CALL_MS, err);
	/* rm of a container its node no longer has still forgets it. */
	if (op == FERRY_OP_RM && (r == 0 || r == -ENOENT)) {
		r = ferry_store_container_del(&c->st.reg, name, err);
		if (r == 0)
			log_info("container %s removed from %s", name, rec->node);
		r = r ? r : ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
		goto out;
	}
	if (r < 0)
		goto out;
	if (op == FERRY_OP_STOP) {
		snprintf(rec->state, sizeof(rec->state), "stopped");
		ferry_store_container_update(&c->st.reg, rec, NULL);
	}
	r = ferry_buf_append(out, resp.data, resp.len); /* the node's answer as is */
out:
	free(rec);
	free(rl);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

static int nodes(struct controller *c, struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_registry_node *ns = calloc(MAX_NODES, sizeof(*ns));
	struct ferry_buf resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	uint64_t version;
	int n, r;

	if (!ns || !l) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	n = ferry_registry_nodes(&c->st.reg, ns, MAX_NODES, &version, err);
	r = n < 0 ? n : ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	for (int i = 0; r == 0 && i < n; i++) {
		struct ferry_buf rec = FERRY_BUF_INIT(1024);
		uint64_t mem = 0, reserved = 0, count = 0;
		bool up = node_info(c, ns[i].name, &resp, l, NULL) == 0;

		if (up) {
			ferry_tlv_get_u64(l, FERRY_TAG_MEMORY, &mem, NULL);
			ferry_tlv_get_u64(l, FERRY_TAG_SIZE, &reserved, NULL);
			for (unsigned j = 0; j < l->n; j++)
				count += l->items[j].tag == FERRY_TAG_RECORD;
		}
		r = ferry_tlv_add_str(&rec, FERRY_TAG_NODE, ns[i].name);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_ADDRESS, ns[i].address);
		r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_STATE, up ? "ready" : "unreachable");
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_MEMORY, mem);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_SIZE, reserved);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_PARALLEL, count);
		r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
		ferry_buf_free(&rec);
	}
out:
	free(ns);
	free(l);
	ferry_buf_free(&resp);
	return r;
}

int api_workload(struct controller *c, struct ferry_conn *conn, unsigned op, const struct ferry_tlv_list *l,
                 struct ferry_buf *out, struct ferry_err *err)
{
	switch (op) {
	case FERRY_OP_IMAGE_IMPORT:
		return image_import(c, conn, l, out, err);
	case FERRY_OP_IMAGE_LIST:
		return image_list(c, out, err);
	case FERRY_OP_RUN:
		return run(c, l, out, err);
	case FERRY_OP_PS:
		return ps(c, out, err);
	case FERRY_OP_LOGS:
	case FERRY_OP_STOP:
	case FERRY_OP_RM:
	case FERRY_OP_EXEC:
		return forward(c, op, l, out, err);
	case FERRY_OP_NODES:
		return nodes(c, out, err);
	case FERRY_OP_MIGRATE:
	case FERRY_OP_EVACUATE:
	case FERRY_OP_HISTORY:
		return api_migration(c, conn, op, l, out, err);
	default:
		return ferry_err_set(err, -EOPNOTSUPP, "unknown operation %u", op);
	}
}
