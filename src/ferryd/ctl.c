/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The controller's commands about containers and layers (ferry-ctl).  The
 * controller decides; the node checks everything again (names, specs, that
 * the layers are here) because a command is input like any other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#define LOG_PREFIX "ferryd"
#include "ferry/fs.h"
#include "ferry/hex.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "ctnet.h"
#include "node.h"

#define CT_OUTPUT_MAX (60 * 1024) /* logs and command output fit one control frame */
#define CT_EXEC_MS    30000
#define LAYER_MAX     (4ULL << 30)

static int send_response(struct ferry_conn *conn, struct ferry_buf *b, struct ferry_err *err)
{
	return ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, b->data, b->len, err);
}

static int get_name(const struct ferry_tlv_list *l, char *name, struct ferry_err *err)
{
	int r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, name, FERRY_CONTAINER_NAME_MAX + 1, err);

	return r < 0 ? r : ferry_check_name(name, FERRY_CONTAINER_NAME_MAX, "container", err);
}

static int add_info(struct ferry_buf *out, const struct ct_info *c)
{
	struct ferry_buf rec = FERRY_BUF_INIT(4096);
	int r = ferry_tlv_add_str(&rec, FERRY_TAG_CONTAINER, c->name);

	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_IMAGE, c->image);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_STATE, c->state);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_PID, (uint64_t)c->pid);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_GENERATION, c->generation);
	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_MEMORY, c->memory);
	r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
	ferry_buf_free(&rec);
	return r;
}

static int node_info(struct node *node, struct ferry_buf *out, struct ferry_err *err)
{
	uint8_t(*layers)[32] = calloc(256, 32);
	struct ct_info *cts = calloc(CT_MAX, sizeof(*cts));
	struct statvfs vfs;
	uint64_t reserved = 0;
	int n, nl, r;

	if (!layers || !cts) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	n = ct_list(&node->cts, cts, CT_MAX, err);
	if (n < 0) {
		r = n;
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (strcmp(cts[i].state, "stopped") != 0)
			reserved += cts[i].memory;
	nl = layer_list(&node->cts, layers, 256);
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_NODE, node->id.name);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_MEMORY, ferry_mem_available());
	/* Memory promised to containers here, whether or not they use it yet. */
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_SIZE, reserved);
	if (r == 0 && statvfs(node->incoming, &vfs) == 0)
		r = ferry_tlv_add_u64(out, FERRY_TAG_DISK, (uint64_t)vfs.f_bavail * vfs.f_frsize);
	for (int i = 0; r == 0 && i < nl; i++)
		r = ferry_tlv_add(out, FERRY_TAG_LAYER, layers[i], 32);
	for (int i = 0; r == 0 && i < n; i++)
		r = add_info(out, &cts[i]);
	if (r > 0 || r == -E2BIG)
		r = ferry_err_set(err, -E2BIG, "node information does not fit one frame");
out:
	free(layers);
	free(cts);
	return r;
}

/* LAYER_PUT: one object named <digest hex>.tar follows as an unticketed bundle. */
static int layer_put(struct node *node, struct ferry_conn *conn, struct ferry_err *err)
{
	struct ferry_bundle_result res;
	struct ferry_manifest m = { 0 };
	uint8_t digest[32];
	char obj[PATH_MAX], name[80];
	int r;

	if ((r = ferry_bundle_receive_plain(conn, node->incoming, node->received, LAYER_MAX, &res, err)) < 0)
		return r;
	/* The receiver already verified the object's hash against the manifest; its name must be that hash. */
	r = ferry_manifest_from_dir(res.path, &m, err);
	if (r == 0 && (m.n != 1 || strlen(m.objects[0].name) != 68 || strcmp(m.objects[0].name + 64, ".tar") != 0)) {
		r = ferry_err_set(err, -EPROTO, "a layer push carries exactly one object named DIGEST.tar");
	}
	if (r == 0) {
		snprintf(name, sizeof(name), "%.64s", m.objects[0].name);
		if (ferry_hex_decode(name, digest, 32) < 0)
			r = ferry_err_set(err, -EPROTO, "layer name is not a SHA-256 digest");
	}
	if (r == 0) {
		snprintf(obj, sizeof(obj), "%s/%s", res.path, m.objects[0].name);
		r = layer_install(&node->cts, obj, digest, err);
	}
	ferry_rm_tree(res.path, NULL);
	ferry_manifest_free(&m);
	if (r == 0)
		log_info("layer %.12s installed", name);
	return r;
}

static int ct_run(struct node *node, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_spec *spec = malloc(sizeof(*spec));
	struct ct_info info;
	int r;

	if (!spec)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_spec_from_tlv(l, spec, err)) < 0)
		goto out;
	if ((r = ct_claim(&node->cts, spec->name, err)) < 0)
		goto out;
	if (ct_exists(&node->cts, spec->name))
		r = ferry_err_set(err, -EEXIST, "container '%s' already exists on node '%s'", spec->name,
		                  node->id.name);
	else
		r = ct_start(&node->cts, spec, err);
	if (r == 0 && (r = ct_info_get(&node->cts, spec->name, &info, err)) == 0) {
		log_info("container %s started (image %s, generation %llu, pid %d)", spec->name, spec->image,
		         (unsigned long long)spec->generation, (int)info.pid);
		r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
		r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_PID, (uint64_t)info.pid);
	}
	ct_release(&node->cts, spec->name);
out:
	free(spec);
	return r;
}

/*
 * A migration's destination, before the freeze: the container's namespace,
 * veth, address and MAC (link down), and a hold for its packets.
 */
static int net_prepare(struct node *node, const struct ferry_tlv_list *l, struct ferry_err *err)
{
	struct ferry_spec *spec = malloc(sizeof(*spec));
	int r;

	if (!spec)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_spec_from_tlv(l, spec, err)) < 0 || (r = ct_claim(&node->cts, spec->name, err)) < 0)
		goto out;
	if (ct_exists(&node->cts, spec->name))
		r = ferry_err_set(err, -EEXIST, "container '%s' already exists on node '%s'", spec->name,
		                  node->id.name);
	else if (!spec->net.addr)
		r = 0; /* nothing to prepare */
	else if ((r = ctnet_create(&node->cts, spec, false, err)) == 0 &&
	         (r = ctnet_hold(&node->cts, spec->name, spec->generation, err)) < 0)
		ctnet_destroy(&node->cts, spec->name, NULL);
	ct_release(&node->cts, spec->name);
out:
	free(spec);
	return r;
}

/*
 * At the freeze, the prepared copy takes the address (its packets wait in
 * the hold); a stateless copy that already runs takes its packets at once.
 */
static int net_claim(struct node *node, const struct ferry_spec *spec, struct ferry_err *err)
{
	int r;

	if (!ctnet_held(&node->cts, spec->name, spec->generation))
		return ferry_err_set(err, -ENOENT, "no prepared network for '%s' generation %llu here", spec->name,
		                     (unsigned long long)spec->generation);
	if ((r = ctnet_set_link(&node->cts, spec->name, true, err)) < 0 ||
	    (r = ctnet_announce(&node->cts, spec, err)) < 0)
		return r;
	return ct_exists(&node->cts, spec->name) ? ctnet_release(&node->cts, spec->name, err) : 0;
}

/* The migration failed: give the address back (the source announces itself again). */
static int net_drop(struct node *node, const struct ferry_spec *spec, struct ferry_err *err)
{
	int r;

	if (!ctnet_held(&node->cts, spec->name, spec->generation))
		return 0;
	if ((r = ct_claim(&node->cts, spec->name, err)) < 0)
		return r;
	if (!ct_exists(&node->cts, spec->name))
		ctnet_destroy(&node->cts, spec->name, NULL);
	ct_release(&node->cts, spec->name);
	return 0;
}

/* NET_CLAIM or NET_DROP: the request is the spec (name, generation, address). */
static int net_switch(struct node *node, const struct ferry_tlv_list *l, unsigned op, struct ferry_err *err)
{
	struct ferry_spec *spec = malloc(sizeof(*spec));
	int r;

	if (!spec)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	r = ferry_spec_from_tlv(l, spec, err);
	if (r == 0 && spec->net.addr)
		r = op == FERRY_OP_NET_DROP ? net_drop(node, spec, err) : net_claim(node, spec, err);
	free(spec);
	return r;
}

static int ct_exec(struct node *node, const struct ferry_tlv_list *l, struct ferry_buf *out, const char *name,
                   struct ferry_err *err)
{
	char args[FERRY_SPEC_ARGS_MAX][FERRY_SPEC_ARG_MAX + 1];
	const char *argv[FERRY_SPEC_ARGS_MAX + 1];
	struct ferry_runtime rt;
	struct ferry_exec_result res;
	struct ct_info info;
	unsigned n = 0;
	int r;

	for (unsigned i = 0; i < l->n; i++) {
		if (l->items[i].tag != FERRY_TAG_ARG)
			continue;
		if (n == FERRY_SPEC_ARGS_MAX)
			return ferry_err_set(err, -E2BIG, "more than %d arguments", FERRY_SPEC_ARGS_MAX);
		if ((r = ferry_tlv_item_str(&l->items[i], args[n], sizeof(args[0]), err)) < 0)
			return r;
		argv[n] = args[n];
		n++;
	}
	argv[n] = NULL;
	if (n == 0)
		return ferry_err_set(err, -EINVAL, "no command to run");
	if ((r = ct_info_get(&node->cts, name, &info, err)) < 0)
		return r;
	if (strcmp(info.state, "running") != 0)
		return ferry_err_set(err, -ESRCH, "container '%s' is %s, not running", name, info.state);
	ct_runtime(&node->cts, name, &rt);
	if ((r = ferry_runtime_exec(&rt, name, argv, CT_EXEC_MS, &res, err)) < 0)
		return r;
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_EXIT, (uint64_t)res.status);
	if (r == 0 && res.out.len)
		r = ferry_tlv_add(out, FERRY_TAG_DATA,
		                  res.out.data + (res.out.len > CT_OUTPUT_MAX ? res.out.len - CT_OUTPUT_MAX : 0),
		                  res.out.len > CT_OUTPUT_MAX ? CT_OUTPUT_MAX : res.out.len);
	ferry_exec_result_free(&res);
	return r;
}

int ctl_containers(struct node *node, struct ferry_conn *conn, unsigned op, const struct ferry_tlv_list *l,
                   struct ferry_err *err)
{
	struct ferry_buf out = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), data = FERRY_BUF_INIT(CT_OUTPUT_MAX);
	char name[FERRY_CONTAINER_NAME_MAX + 1];
	int r = 0;

	switch (op) {
	case FERRY_OP_NODE_INFO:
		r = node_info(node, &out, err);
		break;
	case FERRY_OP_NODE_STATS:
		r = node_stats(node, l, &out, err);
		break;
	case FERRY_OP_LAYER_PUT:
		r = layer_put(node, conn, err);
		r = r ? r : ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
		break;
	case FERRY_OP_CT_RUN:
		r = ct_run(node, l, &out, err);
		break;
	case FERRY_OP_CT_LIST: {
		struct ct_info *cts = calloc(CT_MAX, sizeof(*cts));
		int n = cts ? ct_list(&node->cts, cts, CT_MAX, err) : ferry_err_set(err, -ENOMEM, "out of memory");

		r = n < 0 ? n : ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
		for (int i = 0; r == 0 && i < n; i++)
			r = add_info(&out, &cts[i]);
		free(cts);
		break;
	}
	case FERRY_OP_CT_LOGS:
		if ((r = get_name(l, name, err)) == 0 &&
		    (r = ct_logs(&node->cts, name, CT_OUTPUT_MAX, &data, err)) == 0) {
			r = ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
			r = r ? r : ferry_tlv_add(&out, FERRY_TAG_DATA, data.data, data.len);
		}
		break;
	case FERRY_OP_CT_STOP:
	case FERRY_OP_CT_RM:
		if ((r = get_name(l, name, err)) < 0 || (r = ct_claim(&node->cts, name, err)) < 0)
			break;
		if (!ct_exists(&node->cts, name))
			r = ferry_err_set(err, -ENOENT, "no container '%s' on node '%s'", name, node->id.name);
		else if (op == FERRY_OP_CT_STOP)
			r = ct_stop(&node->cts, name, err);
		else
			r = ct_remove(&node->cts, name, err);
		ct_release(&node->cts, name);
		if (r == 0) {
			log_info("container %s %s", name, op == FERRY_OP_CT_STOP ? "stopped" : "removed");
			r = ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
		}
		break;
	case FERRY_OP_CT_EXEC:
		if ((r = get_name(l, name, err)) == 0)
			r = ct_exec(node, l, &out, name, err);
		break;
	case FERRY_OP_CT_RESUME:
		if ((r = get_name(l, name, err)) < 0 || (r = ct_claim(&node->cts, name, err)) < 0)
			break;
		r = ct_resume_paused(&node->cts, name, err);
		ct_release(&node->cts, name);
		if (r == 0) {
			log_info("container %s resumed (a migration left it paused)", name);
			r = ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
		}
		break;
	case FERRY_OP_NET_PREPARE:
		r = net_prepare(node, l, err);
		r = r ? r : ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
		break;
	case FERRY_OP_NET_CLAIM:
	case FERRY_OP_NET_DROP:
		r = net_switch(node, l, op, err);
		r = r ? r : ferry_tlv_add_u32(&out, FERRY_TAG_STATUS, 0);
		break;
	case FERRY_OP_CT_RESTORE:
		r = ct_restore_snapshot(node, conn, l, err);
		goto done;
	case FERRY_OP_CT_SNAPSHOT:
		/* A response, then the file as a bundle: it answers for itself. */
		r = ct_snapshot(node, conn, l, err);
		goto done;
	case FERRY_OP_MIG_OUT:
		/* The conversation answers for itself. */
		r = mig_source(node, conn, l, err);
		goto done;
	default:
		r = ferry_err_set(err, -EOPNOTSUPP, "unknown operation %u", op);
	}
	if (r > 0)
		r = ferry_err_set(err, -E2BIG, "answer does not fit one frame");
	if (r == 0)
		r = send_response(conn, &out, err);
done:
	ferry_buf_free(&out);
	ferry_buf_free(&data);
	return r;
}
