/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration engine on the nodes (stop-copy).
 *
 * Source, in one ferry-ctl conversation with the controller:
 *   MIG_OUT ─► pause, checkpoint (--leave-running keeps it paused), pack the
 *              upper dir, write spec and log into tmp/outgoing/<id> (tmpfs)
 *           ◄─ RESPONSE phase=dumped, manifest hash, size
 *   MIG_TICKET (signed for exactly that manifest)
 *           ─► stream to the destination (ferry-mig, bundle protocol), wait
 *              for "restored", then remove the paused source
 *           ◄─ RESPONSE with the metrics | ERROR (the source was resumed)
 * Destination, after the bundle verified: restore under a guard process
 * that removes the container if this daemon dies before reporting it.
 *
 * Invariant: the source is paused, never killed, until the destination has
 * reported the restored container running; any failure resumes it.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "ferryd"
#include "ferry/cgroup.h"
#include "ferry/clock.h"
#include "ferry/fs.h"
#include "ferry/layer.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "ferry/wire.h"
#include "ctnet.h"
#include "node.h"
#include "postcopy.h"
#include "precopy.h"

#define MIG_CONNECT_MS 10000
#define MIG_FRAME_MS   20000  /* one frame on a live link; a cut link fails the migration after this */
#define MIG_RESTORE_MS 120000 /* the source waits this long for "restored" after the stream ended */
/*
 * The destination gives up a restore that takes longer than this (counted
 * from the end of the stream), and drops a restored copy whose "commit" does
 * not arrive within MIG_ACK_MS: so by the time a source stops waiting
 * (MIG_RESTORE_MS) and resumes, no restored copy can still run.
 */
#define MIG_RESTORE_BUDGET_MS 90000
#define MIG_ACK_MS            10000
#define MIG_FREEZE_MS         10000  /* a container's freezer takes this long at most to stop it */
#define MIG_FILL_MS           120000 /* a lazily restored container's memory is all in within this */
#define MIG_LOG_TAIL          (256 * 1024)
#define OBJ_SPEC              "spec"
#define OBJ_UPPER             "upper.tar"
#define OBJ_LOG               "log"
#define OBJ_CHECKPOINT        "checkpoint"
#define FAULT_DELAY_S         5

bool node_fault(const struct node *node, const char *f)
{
	return node->fault[0] && strcmp(node->fault, f) == 0;
}

static uint64_t wire_bytes(const struct ferry_conn *conn)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(conn->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return ti.tcpi_bytes_acked;
}

/* Write the container's migrating state into out/: spec, upper.tar, log. */
int mig_pack_rest(struct node *node, const struct ferry_spec *spec, const char *out, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(MIG_LOG_TAIL + 64 * 1024);
	char path[PATH_MAX], upper[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/%s", out, OBJ_SPEC);
	if ((r = ferry_spec_encode(spec, &b)) < 0 || (r = ferry_write_file_atomic(path, b.data, b.len, 0600, err)) < 0)
		goto out;
	ct_path(&node->cts, spec->name, "upper", upper, sizeof(upper));
	snprintf(path, sizeof(path), "%s/%s", out, OBJ_UPPER);
	if ((r = ferry_layer_pack(upper, path, err)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", out, OBJ_LOG);
	if ((r = ct_logs(&node->cts, spec->name, MIG_LOG_TAIL, &b, err)) == 0)
		r = ferry_write_file_atomic(path, b.data ? b.data : "", b.len, 0600, err);
out:
	ferry_buf_free(&b);
	return r;
}

/* FERRY_FAULT=corrupt-chunk: flip a byte of the largest object after it was hashed. */
static void corrupt_one(const char *dir, const struct ferry_manifest *m)
{
	const struct ferry_manifest_object *big = NULL;
	char path[PATH_MAX];
	uint8_t byte;
	int fd;

	for (uint32_t i = 0; i < m->n; i++)
		if (!big || m->objects[i].size > big->size)
			big = &m->objects[i];
	if (!big || !big->size)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, big->name);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	if (pread(fd, &byte, 1, (off_t)(big->size / 2)) == 1) {
		byte ^= 0x40;
		if (pwrite(fd, &byte, 1, (off_t)(big->size / 2)) == 1)
			log_warn("FERRY_FAULT corrupt-chunk: flipped a byte of %s", big->name);
	}
	close(fd);
}

struct mig_out {
	char name[FERRY_CONTAINER_NAME_MAX + 1], dest[FERRY_NODE_NAME_MAX + 1], addr[32];
	uint64_t generation, id, mode;
	struct precopy_opts pre;
	struct precopy_report rep;
	const struct ferry_page_set *sent; /* pre-copy and hybrid: the pages the destination holds */
	bool postcopy_ok;                  /* auto: the controller allows post-copy */
	long long t_start, t_paused, t_dumped, t_sent, t_restored, t_committed;
	uint64_t bytes_image, bytes_wire, restore_ms;
};

/* Wait for the controller's ticket and check it binds exactly this migration and manifest. */
static int receive_ticket(struct node *node, struct ferry_conn *ctl, const struct mig_out *mo, const uint8_t hash[32],
                          struct ferry_buf *raw, struct ferry_err *err)
{
	struct ferry_buf payload = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	const struct ferry_tlv *tt;
	struct ferry_frame_header h;
	struct ferry_ticket t;
	uint8_t op[2];
	int r;

	if (!l)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_conn_recv_frame(ctl, &h, &payload, err)) < 0)
		goto out;
	if (h.type != FERRY_FRAME_REQUEST || ferry_tlv_parse((const uint8_t *)payload.data, payload.len, l, err) < 0 ||
	    ferry_tlv_get_fixed(l, FERRY_TAG_OP, op, 2, err) < 0 || (op[0] << 8 | op[1]) != FERRY_OP_MIG_TICKET ||
	    !(tt = ferry_tlv_find(l, FERRY_TAG_TICKET))) {
		r = ferry_err_set(err, -EPROTO, "the controller did not send the migration ticket");
		goto out;
	}
	ferry_buf_reset(raw);
	if ((r = ferry_buf_append(raw, tt->value, tt->len)) < 0 ||
	    (r = ferry_ticket_parse(tt->value, tt->len, &t, err)) < 0 ||
	    (r = ferry_ticket_verify_signature(&t, node->id.ticket_pub, err)) < 0 ||
	    (r = ferry_ticket_check_claims(&t, node->id.name, false, NULL, (uint64_t)time(NULL), err)) < 0)
		goto out;
	if (CRYPTO_memcmp(t.manifest_hash, hash, 32) != 0 || strcmp(t.container, mo->name) != 0 ||
	    strcmp(t.dest, mo->dest) != 0 || t.generation != mo->generation || t.mode != mo->mode)
		r = ferry_err_set(err, -EPERM, "the ticket does not match this migration");
out:
	free(l);
	ferry_buf_free(&payload);
	return r;
}

static void on_progress(void *arg, uint64_t sent, uint64_t total)
{
	/* The controller may relay it to an operator's progress bar. */
	ferry_send_progress(arg, "transfer", sent, total);
}

/* The migration channel to the destination, which must be the allowlisted node of that name. */
static int dest_connect(struct node *node, const struct mig_out *mo, struct ferry_conn **ret, struct ferry_err *err)
{
	uint8_t dest_id[FERRY_ID_LEN];
	int r;

	*ret = NULL;
	if (!ferry_allowlist_find_name(&node->allow, mo->dest, dest_id))
		return ferry_err_set(err, -ENOENT, "destination '%s' is not in this node's allowlist", mo->dest);
	if ((r = ferry_conn_connect(node->client_ctx, mo->addr, FERRY_ALPN_MIG, NULL, MIG_CONNECT_MS, ret, err)) < 0)
		return r;
	(*ret)->io_timeout_ms = MIG_FRAME_MS;
	if (CRYPTO_memcmp((*ret)->peer_id, dest_id, FERRY_ID_LEN) != 0) {
		ferry_conn_close(*ret);
		*ret = NULL;
		return ferry_err_set(err, -EPERM, "%s is not node '%s' (its key differs from the allowlist's)",
		                     mo->addr, mo->dest);
	}
	return 0;
}

/* conn: the channel a page session already opened, or NULL to connect now; closed here either way. */
static int stream_to_dest(struct node *node, struct ferry_conn *ctl, struct ferry_conn *conn, struct mig_out *mo,
                          const struct ferry_buf *ticket, const struct ferry_manifest *m, const char *dir,
                          struct ferry_err *err)
{
	struct ferry_bundle_progress progress = { on_progress, ctl };
	struct ferry_buf resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct postcopy_source ps = { 0 };
	bool postcopy = mo->mode == FERRY_MODE_POSTCOPY || mo->mode == FERRY_MODE_HYBRID;
	int r;

	if (!l) {
		ferry_conn_close(conn);
		return ferry_err_set(err, -ENOMEM, "out of memory");
	}
	if ((!conn && (r = dest_connect(node, mo, &conn, err)) < 0) ||
	    (postcopy &&
	     (r = postcopy_source_init(&ps, node, mo->name, mo->mode == FERRY_MODE_HYBRID ? mo->sent : NULL, err)) < 0))
		goto out;
	conn->io_timeout_ms = MIG_FRAME_MS;
	if ((r = ferry_bundle_send(conn, (const uint8_t *)ticket->data, ticket->len, m, dir, FERRY_BUNDLE_ZSTD,
	                           &progress, &mo->bytes_image, err)) < 0)
		goto out;
	mo->t_sent = ferry_now_ms();
	ferry_send_progress(ctl, "restore", m->total, m->total);
	conn->io_timeout_ms = MIG_RESTORE_MS;
	/*
	 * The destination answers a second time once the container runs there
	 * (post-copy: its restore asks for pages meanwhile, served from here).
	 */
	if ((r = postcopy ? postcopy_expect_response(&ps, conn, &resp, err) : ferry_expect_response(conn, &resp, err)) <
	    0)
		goto out;
	mo->t_restored = ferry_now_ms();
	if (ferry_tlv_parse((const uint8_t *)resp.data, resp.len, l, NULL) == 0)
		ferry_tlv_get_u64(l, FERRY_TAG_RESTORE_MS, &mo->restore_ms, NULL);
	/*
	 * Commit: the destination keeps its copy only if this arrives.  If it
	 * cannot be sent, the destination drops its copy and resuming is safe.
	 * If it was sent but not confirmed, either may be true: the source then
	 * stays paused and the controller settles it (-EINPROGRESS).
	 */
	ferry_buf_reset(&resp);
	if ((r = ferry_tlv_add_u32(&resp, FERRY_TAG_STATUS, 0)) < 0 ||
	    (r = ferry_tlv_add_str(&resp, FERRY_TAG_PHASE, "commit")) < 0 ||
	    (r = ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, resp.data, resp.len, err)) < 0)
		goto out;
	conn->io_timeout_ms = MIG_ACK_MS + 5000;
	if ((postcopy ? postcopy_expect_response(&ps, conn, &resp, err) : ferry_expect_response(conn, &resp, err)) <
	    0) {
		r = ferry_err_set(err, -EINPROGRESS,
		                  "the destination did not confirm the commit (%s); the source stays paused until the "
		                  "controller settles which copy runs",
		                  err->msg);
		goto out;
	}
	mo->t_committed = ferry_now_ms();
	/*
	 * Post-copy: the destination runs it now and fetches its memory from
	 * the frozen copy here.  Should that fail, the destination drops its
	 * copy and this one resumes from the freeze.
	 */
	if (postcopy) {
		if ((r = postcopy_serve(&ps, ctl, conn, err)) < 0) {
			ferry_err_wrap(err, "post-copy failed after the commit; the destination drops its copy and the "
			                    "source resumes from the freeze (what the copy there changed is lost)");
			goto out;
		}
		/* Hybrid: after why the rounds ended. */
		size_t at = strlen(mo->rep.stop);

		snprintf(mo->rep.stop + at, sizeof(mo->rep.stop) - at,
		         "%sall %llu pages landed (%llu from the rounds) %lld ms after the freeze", at ? "; " : "",
		         (unsigned long long)ps.pages, (unsigned long long)ps.held, ferry_now_ms() - mo->t_paused);
	}
	mo->bytes_wire = wire_bytes(conn);
out:
	postcopy_source_free(&ps);
	ferry_conn_close(conn);
	ferry_buf_free(&resp);
	free(l);
	return r;
}

static int send_dumped(struct ferry_conn *ctl, const uint8_t hash[32], const struct ferry_manifest *m, uint64_t ms,
                       uint64_t mode, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(256);
	int r = ferry_tlv_add_u32(&b, FERRY_TAG_STATUS, 0);

	r = r ? r : ferry_tlv_add_str(&b, FERRY_TAG_PHASE, "dumped");
	r = r ? r : ferry_tlv_add(&b, FERRY_TAG_HASH, hash, 32);
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_DISK, m->total);
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_CHECKPOINT_MS, ms);
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_MODE, mode); /* what an auto migration became */
	r = r ? r : ferry_conn_send_frame(ctl, FERRY_FRAME_RESPONSE, b.data, b.len, err);
	ferry_buf_free(&b);
	return r;
}

static int send_done(struct ferry_conn *ctl, const struct mig_out *mo, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(512);
	int r = ferry_tlv_add_u32(&b, FERRY_TAG_STATUS, 0);

	r = r ? r : ferry_tlv_add_str(&b, FERRY_TAG_PHASE, "committed");
	/* Frozen until the destination's copy was committed and back on the network. */
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_DOWNTIME_MS, (uint64_t)(mo->t_committed - mo->t_paused));
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_CHECKPOINT_MS, (uint64_t)(mo->t_dumped - mo->t_paused));
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_TRANSFER_MS, (uint64_t)(mo->t_sent - mo->t_dumped));
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_RESTORE_MS, mo->restore_ms);
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_BYTES_IMAGE, mo->bytes_image);
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_BYTES_WIRE, mo->bytes_wire);
	/* Rounds: the pre-copy ones, then the final one (the bundle sent while frozen). */
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_ROUNDS, mo->rep.rounds + 1);
	for (unsigned i = 0; i < mo->rep.rounds && r == 0; i++)
		r = ferry_tlv_add_u64(&b, FERRY_TAG_ROUND_BYTES, mo->rep.round_bytes[i]);
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_ROUND_BYTES, mo->bytes_image);
	if (r == 0 && mo->rep.stop[0])
		r = ferry_tlv_add_str(&b, FERRY_TAG_MESSAGE, mo->rep.stop);
	r = r ? r : ferry_conn_send_frame(ctl, FERRY_FRAME_RESPONSE, b.data, b.len, err);
	ferry_buf_free(&b);
	return r;
}

static bool uffd_available(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/*
 * Auto, after the rounds: pre-copy when they converged (the freeze then
 * carries little), hybrid when they did not and the controller allows
 * post-copy (the rest comes on demand instead of while frozen), else
 * pre-copy anyway.  The reason goes into the report.
 */
static void pick_mode(struct mig_out *mo)
{
	char why[96];
	bool converged = strncmp(mo->rep.stop, "converged", 9) == 0;

	if (!converged && mo->postcopy_ok && uffd_available()) {
		mo->mode = FERRY_MODE_HYBRID;
		snprintf(why, sizeof(why), "the rounds did not converge and post-copy is allowed");
	} else {
		mo->mode = FERRY_MODE_PRECOPY;
		snprintf(why, sizeof(why), "%s",
		         converged          ? "the rounds converged"
		         : !mo->postcopy_ok ? "the rounds did not converge; post-copy is not allowed"
		                            : "the rounds did not converge; no userfaultfd here");
	}
	log_info("migration %llu: auto picked %s: %s", (unsigned long long)mo->id, ferry_mode_name((uint8_t)mo->mode),
	         why);
	{
		char stop[sizeof(mo->rep.stop)];

		snprintf(stop, sizeof(stop), "%s", mo->rep.stop);
		snprintf(mo->rep.stop, sizeof(mo->rep.stop), "auto: %s (%s; page hashes, no soft-dirty needed); %s",
		         ferry_mode_name((uint8_t)mo->mode), why, stop);
	}
}

/*
 * The mode and, for pre-copy, its options and the controller's session
 * ticket, checked here too: the source opens the page session only for a
 * ticket that names this very migration.
 */
static int mig_options(struct node *node, const struct ferry_tlv_list *l, struct mig_out *mo, struct ferry_buf *session,
                       struct ferry_err *err)
{
	static const uint8_t zero[32];
	const struct ferry_tlv *tt;
	struct ferry_ticket t;
	uint64_t flags = 0;
	int r;

	if (ferry_tlv_find(l, FERRY_TAG_MODE) && (r = ferry_tlv_get_u64(l, FERRY_TAG_MODE, &mo->mode, err)) < 0)
		return r;
	if (mo->mode != FERRY_MODE_STOP_COPY && mo->mode != FERRY_MODE_PRECOPY && mo->mode != FERRY_MODE_POSTCOPY &&
	    mo->mode != FERRY_MODE_HYBRID && mo->mode != FERRY_MODE_AUTO)
		return ferry_err_set(
		    err, -EOPNOTSUPP,
		    "mode %llu is not one ferryd migrates by (stop-copy, precopy, postcopy, hybrid, auto)",
		    (unsigned long long)mo->mode);
	if (mo->mode == FERRY_MODE_POSTCOPY && !uffd_available())
		return ferry_err_set(err, -EOPNOTSUPP, "post-copy needs userfaultfd, which this host does not allow");
	if (mo->mode != FERRY_MODE_PRECOPY && mo->mode != FERRY_MODE_HYBRID && mo->mode != FERRY_MODE_AUTO)
		return 0;
	mo->pre.max_downtime_ms = PRECOPY_DOWNTIME_DEFAULT;
	mo->pre.max_rounds = PRECOPY_ROUNDS_DEFAULT;
	if ((ferry_tlv_find(l, FERRY_TAG_MAX_DOWNTIME_MS) &&
	     (r = ferry_tlv_get_u64(l, FERRY_TAG_MAX_DOWNTIME_MS, &mo->pre.max_downtime_ms, err)) < 0) ||
	    (ferry_tlv_find(l, FERRY_TAG_BANDWIDTH) &&
	     (r = ferry_tlv_get_u64(l, FERRY_TAG_BANDWIDTH, &mo->pre.bandwidth, err)) < 0) ||
	    (ferry_tlv_find(l, FERRY_TAG_MAX_ROUNDS) &&
	     (r = ferry_tlv_get_u64(l, FERRY_TAG_MAX_ROUNDS, &mo->pre.max_rounds, err)) < 0) ||
	    (ferry_tlv_find(l, FERRY_TAG_FLAGS) && (r = ferry_tlv_get_u64(l, FERRY_TAG_FLAGS, &flags, err)) < 0))
		return r;
	if (mo->pre.max_rounds < 1 || mo->pre.max_rounds > PRECOPY_ROUNDS_MAX - 1)
		return ferry_err_set(err, -ERANGE, "%llu pre-copy rounds is out of range; expected 1 to %d",
		                     (unsigned long long)mo->pre.max_rounds, PRECOPY_ROUNDS_MAX - 1);
	if (mo->pre.max_downtime_ms > 60000)
		return ferry_err_set(err, -ERANGE, "a downtime budget of %llu ms is out of range; expected 0 to 60000",
		                     (unsigned long long)mo->pre.max_downtime_ms);
	mo->pre.auto_converge = flags & FERRY_MIG_AUTO_CONVERGE;
	mo->postcopy_ok = flags & FERRY_MIG_POSTCOPY_OK;
	if (!(tt = ferry_tlv_find(l, FERRY_TAG_TICKET)))
		return ferry_err_set(err, -EPROTO, "pre-copy without the controller's session ticket");
	if ((r = ferry_buf_append(session, tt->value, tt->len)) < 0 ||
	    (r = ferry_ticket_parse(tt->value, tt->len, &t, err)) < 0 ||
	    (r = ferry_ticket_verify_signature(&t, node->id.ticket_pub, err)) < 0 ||
	    (r = ferry_ticket_check_claims(&t, node->id.name, false, NULL, (uint64_t)time(NULL), err)) < 0)
		return r;
	if (t.mode != FERRY_MODE_PRECOPY || CRYPTO_memcmp(t.manifest_hash, zero, 32) != 0 ||
	    strcmp(t.container, mo->name) != 0 || strcmp(t.dest, mo->dest) != 0 || t.generation != mo->generation)
		return ferry_err_set(err, -EPERM, "the session ticket does not match this migration");
	return 0;
}

int mig_source(struct node *node, struct ferry_conn *ctl, const struct ferry_tlv_list *l, struct ferry_err *err)
{
	struct ferry_spec *spec = malloc(sizeof(*spec));
	struct ferry_buf enc = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), ticket = FERRY_BUF_INIT(FERRY_TICKET_MAX_LEN),
	                 session = FERRY_BUF_INIT(FERRY_TICKET_MAX_LEN);
	struct ferry_manifest m = { 0 };
	struct mig_out mo = { .t_start = ferry_now_ms(), .mode = FERRY_MODE_STOP_COPY };
	struct ferry_page_set sent = { 0 };
	struct ferry_conn *dest = NULL;

	mo.sent = &sent;
	struct ferry_runtime rt;
	struct ct_info info;
	char out[PATH_MAX], work[PATH_MAX + 8], images[PATH_MAX + 16], cgroup_rel[PATH_MAX];
	bool claimed = false, paused = false, locked = false, done = false;
	uint8_t hash[32];
	int r;

	out[0] = '\0';
	if (!spec)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, mo.name, sizeof(mo.name), err)) < 0 ||
	    (r = ferry_check_name(mo.name, FERRY_CONTAINER_NAME_MAX, "container", err)) < 0 ||
	    (r = ferry_tlv_get_str(l, FERRY_TAG_DEST, mo.dest, sizeof(mo.dest), err)) < 0 ||
	    (r = ferry_tlv_get_str(l, FERRY_TAG_ADDRESS, mo.addr, sizeof(mo.addr), err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_GENERATION, &mo.generation, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_MIGRATION, &mo.id, err)) < 0 ||
	    (r = mig_options(node, l, &mo, &session, err)) < 0)
		goto fail;
	if ((r = ct_claim(&node->cts, mo.name, err)) < 0)
		goto fail;
	claimed = true;
	if ((r = ct_info_get(&node->cts, mo.name, &info, err)) < 0 ||
	    (r = ct_load_spec(&node->cts, mo.name, spec, err)) < 0)
		goto fail;
	if (strcmp(info.state, "running") != 0) {
		r = ferry_err_set(err, -ESRCH, "container '%s' is %s, not running", mo.name, info.state);
		goto fail;
	}
	if (mo.generation <= spec->generation) {
		r = ferry_err_set(err, -ESTALE, "generation %llu is not above the container's %llu",
		                  (unsigned long long)mo.generation, (unsigned long long)spec->generation);
		goto fail;
	}
	snprintf(out, sizeof(out), "%s/%llu", node->outgoing, (unsigned long long)mo.id);
	snprintf(work, sizeof(work), "%s.work", out);
	snprintf(images, sizeof(images), "%s/%s", out, OBJ_CHECKPOINT);
	ferry_rm_tree(out, NULL);
	ferry_rm_tree(work, NULL);
	if ((r = ferry_mkdir_p(images, 0700, err)) < 0 || (r = ferry_mkdir_p(work, 0700, err)) < 0)
		goto fail;
	ct_runtime(&node->cts, mo.name, &rt);
	if (mo.mode == FERRY_MODE_PRECOPY || mo.mode == FERRY_MODE_HYBRID || mo.mode == FERRY_MODE_AUTO) {
		struct ferry_ticket st;

		/* The running container's pages go first; nothing is frozen yet, a failure just ends it. */
		ferry_ticket_parse((const uint8_t *)session.data, session.len, &st, NULL);
		if ((r = dest_connect(node, &mo, &dest, err)) < 0 || (r = precopy_open(dest, &session, err)) < 0 ||
		    (r = ferry_page_set_init(&sent, st.reserve_disk / FERRY_PAGE_SIZE, err)) < 0 ||
		    (r = precopy_rounds(node, ctl, dest, mo.name, &mo.pre, &sent, &mo.rep, err)) < 0)
			goto fail;
		if (mo.mode == FERRY_MODE_AUTO)
			pick_mode(&mo);
	}
	/*
	 * Post-copy's dump is metadata only, well within the destination's
	 * frame deadline: its channel is opened before the freeze, and the
	 * handshake leaves the downtime.  (A stop-copy dump can outlast it.)
	 */
	if (!dest && mo.mode == FERRY_MODE_POSTCOPY && (r = dest_connect(node, &mo, &dest, err)) < 0)
		goto fail;
	/* FREEZE: from here on every failure resumes the container. */
	if ((r = ct_mark(&node->cts, mo.name, CT_MARK_MIGRATING, true, err)) < 0)
		goto fail;
	mo.t_paused = ferry_now_ms();
	/* The freezer directly, as the runtime's pause would: its start-up alone is some 10 ms of downtime. */
	ct_cgroup_rel(&node->cts, mo.name, cgroup_rel, sizeof(cgroup_rel));
	r = ferry_cgroup_freeze(cgroup_rel, MIG_FREEZE_MS, err);
	if (r == -ENOENT)
		r = ferry_runtime_pause(&rt, mo.name, err);
	if (r < 0)
		goto fail;
	paused = true;
	/* Frozen: auto-converge's CPU cap has done its work (and must not travel with the container). */
	precopy_uncap(node, mo.name, &mo.rep);
	/*
	 * Network lock: with its link down, nothing reaches the frozen
	 * namespace, so no packet is acknowledged by a socket the dump has
	 * already captured; the destination answers from the restored copy.
	 */
	if (spec->net.addr) {
		if ((r = ctnet_set_link(&node->cts, mo.name, false, err)) < 0)
			goto fail;
		locked = true;
		/* The controller lets the destination claim the address now, while the dump runs. */
		ferry_send_progress(ctl, "frozen", 0, 0);
	}
	/*
	 * Pre-copy: CRIU writes everything but the memory it may leave in the
	 * paused container; Ferry reads that itself, pages the destination
	 * holds already become references (no copy of all memory in tmpfs).
	 */
	if (mo.mode != FERRY_MODE_STOP_COPY)
		r = ferry_runtime_checkpoint_metadata(&rt, mo.name, images, work, err);
	else
		r = ferry_runtime_checkpoint(&rt, mo.name, images, work, err);
	if (r < 0)
		goto fail;
	/*
	 * Whatever ran after the dump would be lost: it must still be frozen.
	 * Its freezer says so at once; asking the runtime costs some 10 ms of
	 * the downtime, so that is only where no freezer answers.
	 */
	{
		enum ferry_ct_status st = FERRY_CT_PAUSED;
		int frozen = ferry_cgroup_frozen(cgroup_rel);
		pid_t pid;

		if (frozen == 0)
			st = FERRY_CT_RUNNING;
		else if (frozen < 0 && (r = ferry_runtime_state(&rt, mo.name, &st, &pid, err)) < 0)
			goto fail;
		if (st != FERRY_CT_PAUSED) {
			r = ferry_err_set(err, -EAGAIN, "%s was %s after its checkpoint, not paused", mo.name,
			                  ferry_ct_status_name(st));
			goto fail;
		}
	}
	if (mo.mode == FERRY_MODE_PRECOPY) {
		struct ferry_refs_stats rs;

		long long t_refs = ferry_now_ms();

		struct ferry_refs_stats more;

		/* Only what changed since the last round travels as pages; the rest is named by store index. */
		if ((r = precopy_freeze_refs(node, mo.name, images, &sent, &rs, err)) < 0 ||
		    (r = precopy_refs(images, &sent, &more, err)) < 0)
			goto fail;
		rs.pages += more.pages;
		rs.held += more.held;
		log_info("migration %llu: %llu of %llu dumped pages are at the destination already (dump %lld ms, "
		         "refs %lld ms)",
		         (unsigned long long)mo.id, (unsigned long long)rs.held, (unsigned long long)rs.pages,
		         t_refs - mo.t_paused, ferry_now_ms() - t_refs);
	}
	spec->generation = mo.generation;
	if ((r = mig_pack_rest(node, spec, out, err)) < 0)
		goto fail;
	mo.t_dumped = ferry_now_ms();
	if ((r = ferry_manifest_from_dir(out, &m, err)) < 0)
		goto fail;
	if (ferry_manifest_encode(&m, &enc) < 0) {
		r = ferry_err_set(err, -E2BIG, "the checkpoint has too many objects for one manifest");
		goto fail;
	}
	ferry_sha256(enc.data, enc.len, hash);
	log_info("migration %llu: %s paused and dumped (%u objects, %llu bytes) in %lld ms", (unsigned long long)mo.id,
	         mo.name, m.n, (unsigned long long)m.total, mo.t_dumped - mo.t_paused);
	if ((r = send_dumped(ctl, hash, &m, (uint64_t)(mo.t_dumped - mo.t_paused), mo.mode, err)) < 0 ||
	    (r = receive_ticket(node, ctl, &mo, hash, &ticket, err)) < 0)
		goto fail;
	if (node_fault(node, "corrupt-chunk"))
		corrupt_one(out, &m);
	r = stream_to_dest(node, ctl, dest, &mo, &ticket, &m, out, err);
	dest = NULL; /* closed by stream_to_dest */
	if (r < 0)
		goto fail;
	/* COMMIT: the destination runs it; the paused source goes. */
	done = true;
	if (ct_remove(&node->cts, mo.name, err) < 0)
		log_error("migration %llu: %s runs on %s but the paused source could not be removed: %s",
		          (unsigned long long)mo.id, mo.name, mo.dest, err->msg);
	log_info("migration %llu: %s moved to %s; downtime %lld ms", (unsigned long long)mo.id, mo.name, mo.dest,
	         mo.t_committed - mo.t_paused);
	r = send_done(ctl, &mo, err);
	goto out;
fail:
	if (r == -EINPROGRESS) {
		log_warn("migration %llu of %s: %s", (unsigned long long)mo.id, mo.name, err->msg);
		paused = false; /* and the marker stays: the controller decides */
		done = true;
	}
	if (paused) {
		struct ferry_err e2 = { 0 };

		/* ABORT: thaw the source; it never stopped being the one instance. */
		if (ferry_runtime_resume(&rt, mo.name, &e2) < 0)
			log_error("migration %llu: cannot resume %s: %s", (unsigned long long)mo.id, mo.name, e2.msg);
		else
			log_warn("migration %llu of %s failed; the source was resumed: %s", (unsigned long long)mo.id,
			         mo.name, err->msg);
		if (locked && ct_net_reopen(&node->cts, mo.name, &e2) < 0)
			log_error("migration %llu: %s resumed but its network could not be reopened: %s",
			          (unsigned long long)mo.id, mo.name, e2.msg);
	}
	if (claimed && !done)
		ct_mark(&node->cts, mo.name, CT_MARK_MIGRATING, false, NULL);
	if (claimed)
		precopy_uncap(node, mo.name, &mo.rep);
	ferry_conn_send_error(ctl, r, err->msg[0] ? err->msg : "migration failed", NULL);
out:
	ferry_conn_close(dest);
	ferry_page_set_free(&sent);
	ferry_buf_free(&session);
	if (out[0]) {
		ferry_rm_tree(out, NULL);
		ferry_rm_tree(work, NULL);
	}
	if (claimed)
		ct_release(&node->cts, mo.name);
	ferry_manifest_free(&m);
	ferry_buf_free(&enc);
	ferry_buf_free(&ticket);
	free(spec);
	return 0; /* answered */
}

/* ---- destination ---- */

static int start_guard(struct node *node, const char *name, int *ret_fd, struct ferry_err *err)
{
	char dir[PATH_MAX], cg[PATH_MAX];
	const char *argv[] = { "ferryd", "guard", node->cts.runtime, node->cts.runc_root, name, dir, cg, NULL };
	int p[2], r;

	ct_path(&node->cts, name, NULL, dir, sizeof(dir));
	ct_cgroup_rel(&node->cts, name, cg, sizeof(cg));
	if (pipe2(p, O_CLOEXEC) < 0)
		return ferry_err_sys(err, -errno, "cannot make the guard's pipe");
	r = spawn_helper(argv, p[0], -1, err);
	close(p[0]);
	if (r < 0) {
		close(p[1]);
		return r;
	}
	*ret_fd = p[1];
	return 0;
}

static void release_guard(int fd)
{
	if (fd >= 0) {
		(void)!write(fd, "c", 1);
		close(fd);
	}
}

/* The source's "commit", within MIG_ACK_MS. */
static int await_commit(struct ferry_conn *conn, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	char phase[16] = "";
	int saved = conn->io_timeout_ms, r;

	if (!l)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	conn->io_timeout_ms = MIG_ACK_MS;
	r = ferry_expect_response(conn, &b, err);
	conn->io_timeout_ms = saved;
	if (r == 0 &&
	    (ferry_tlv_parse((const uint8_t *)b.data, b.len, l, err) < 0 ||
	     ferry_tlv_get_str(l, FERRY_TAG_PHASE, phase, sizeof(phase), NULL) < 0 || strcmp(phase, "commit") != 0))
		r = ferry_err_set(err, -EPROTO, "expected the source's commit");
	free(l);
	ferry_buf_free(&b);
	return r;
}

/*
 * The log that came with the container becomes its log here.  Copied, not
 * renamed: the staging tmpfs is another file system.  A log is never a
 * reason to fail a migration; one larger than the source ever sends is
 * dropped with a warning.
 */
static void move_log(const char *from, const char *to, const char *name)
{
	struct ferry_buf b = FERRY_BUF_INIT(MIG_LOG_TAIL);
	struct ferry_err e = { 0 };

	if (ferry_read_file(from, MIG_LOG_TAIL, &b, &e) < 0 ||
	    ferry_write_file_atomic(to, b.data ? b.data : "", b.len, 0600, &e) < 0)
		log_warn("the log of %s did not come along: %s", name, e.msg);
	ferry_buf_free(&b);
}

int mig_restore(struct node *node, struct ferry_conn *conn, const struct ferry_bundle_result *res,
                struct precopy_store *store, struct ferry_err *err)
{
	struct ferry_spec *spec = malloc(sizeof(*spec));
	struct ferry_buf b = FERRY_BUF_INIT(64 * 1024);
	struct ferry_runtime rt;
	char path[PATH_MAX], dest[PATH_MAX], bundle[PATH_MAX];
	long long t0 = ferry_now_ms();
	struct postcopy_relay pr = { .listen_fd = -1, .daemon_fd = -1 };
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* post-copy: the channel, shared with the page relay */
	struct lazy_fill lf = { 0 };
	bool claimed = false, made = false, claimed_net, lazy, hybrid = res->ticket.mode == FERRY_MODE_HYBRID,
	     postcopy = res->ticket.mode == FERRY_MODE_POSTCOPY || hybrid;
	int guard = -1, fd, r;
	pid_t pid;

	if (!spec)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/%s", res->path, OBJ_SPEC);
	if ((r = ferry_read_file(path, 64 * 1024, &b, err)) < 0 ||
	    (r = ferry_spec_parse((const uint8_t *)b.data, b.len, spec, err)) < 0)
		goto fail;
	/* The spec is the source's word; the ticket is the controller's, and binds it. */
	if (strcmp(spec->name, res->ticket.container) != 0 || spec->generation != res->ticket.generation ||
	    spec->memory > res->ticket.reserve_memory) {
		r = ferry_err_set(err, -EPERM,
		                  "the stream's container is not the one (or larger than) the ticket allows");
		goto fail;
	}
	/*
	 * Pre-copy: the page images arrived as references into the session's
	 * store; rebuild them (no image is larger than twice the memory the
	 * ticket reserves), then the store's memory is not needed any more.
	 */
	snprintf(path, sizeof(path), "%s/%s", res->path, OBJ_CHECKPOINT);
	/* Without userfaultfd here, a pre-copy restores the plain way (post-copy was refused earlier). */
	lazy = (store && store->open && uffd_available()) || postcopy;
	r = precopy_expand(store, path, res->ticket.reserve_memory / FERRY_PAGE_SIZE * 2 + 1024, err);
	if (store && store->open)
		log_info("%s: page images rebuilt from the page store in %lld ms", spec->name, ferry_now_ms() - t0);
	if (store && !hybrid) /* hybrid: the page relay answers from it */
		precopy_store_close(store);
	if (r < 0)
		goto fail;
	/*
	 * Pre-copy: the container runs as soon as its state is back, and a
	 * local lazy-pages daemon fills its memory in from the images here;
	 * the time a restore spends copying memory leaves the downtime.  The
	 * daemon starts first: it gets ready while the container is prepared.
	 */
	if (lazy) {
		char work[PATH_MAX];

		/* Post-copy: the pages are still at the source; the daemon asks this ferryd for them. */
		snprintf(work, sizeof(work), "%s/lazy", res->path);
		if ((postcopy && (r = postcopy_listen(&pr, err)) < 0) ||
		    (r = lazy_fill_start(&lf, path, work, postcopy ? pr.port : 0, err)) < 0 ||
		    (postcopy && (r = postcopy_relay_start(&pr, conn, &lock,
		                                           hybrid && store && store->open ? store : NULL, err)) < 0))
			goto fail;
	}
	if ((r = ct_claim(&node->cts, spec->name, err)) < 0)
		goto fail;
	claimed = true;
	if (ct_exists(&node->cts, spec->name)) {
		r = ferry_err_set(err, -EEXIST, "container '%s' already exists on node '%s'", spec->name,
		                  node->id.name);
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/%s", res->path, OBJ_UPPER);
	if ((r = ct_prepare(&node->cts, spec, path, CT_MARK_RESTORING, err)) < 0)
		goto fail;
	made = true;
	/*
	 * Same address and MAC.  Prepared and claimed before the freeze (the
	 * controller's NET_PREPARE/NET_CLAIM): packets wait in the hold.
	 * Otherwise built now, link down: off the fabric until the commit.
	 */
	if (!ctnet_held(&node->cts, spec->name, spec->generation) &&
	    (r = ctnet_create(&node->cts, spec, false, err)) < 0)
		goto fail;
	if ((r = start_guard(node, spec->name, &guard, err)) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s", res->path, OBJ_LOG);
	ct_path(&node->cts, spec->name, "log", dest, sizeof(dest));
	move_log(path, dest, spec->name);
	if (node_fault(node, "restore-fail")) {
		r = ferry_err_set(err, -EIO, "FERRY_FAULT restore-fail: restore refused on purpose");
		goto fail;
	}
	ct_runtime(&node->cts, spec->name, &rt);
	ct_path(&node->cts, spec->name, "bundle", bundle, sizeof(bundle));
	snprintf(path, sizeof(path), "%s/%s", res->path, OBJ_CHECKPOINT);
	if ((fd = ct_log_pipe(&node->cts, spec->name, err)) < 0) {
		r = fd;
		goto fail;
	}
	if (lazy && (r = lazy_fill_ready(&lf, err)) < 0) {
		close(fd);
		goto fail;
	}
	r = ferry_runtime_restore(&rt, spec->name, bundle, path, lazy ? lf.work : NULL, fd, &pid, err);
	close(fd);
	if (r < 0)
		goto fail;
	/* A namespace of Ferry's own has its loopback up already; the runtime's came back down. */
	if (!spec->net.addr && (r = ct_loopback_up(pid, err)) < 0)
		goto fail;
	if (node_fault(node, "restore-delay")) {
		log_warn("FERRY_FAULT restore-delay: holding %s for %d s before reporting it", spec->name,
		         FAULT_DELAY_S);
		sleep(FAULT_DELAY_S);
	}
	if (ferry_now_ms() - t0 > MIG_RESTORE_BUDGET_MS) {
		r = ferry_err_set(err, -ETIMEDOUT, "restore took longer than %d s; the source resumes",
		                  MIG_RESTORE_BUDGET_MS / 1000);
		goto fail;
	}
	ferry_buf_reset(&b);
	r = ferry_tlv_add_u32(&b, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_str(&b, FERRY_TAG_PHASE, "restored");
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_RESTORE_MS, (uint64_t)(ferry_now_ms() - t0));
	/* "restored" and the commit that answers it are one exchange: no page request in between. */
	pthread_mutex_lock(&lock);
	r = r ? r : ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, b.data, b.len, err);
	r = r ? r : await_commit(conn, err);
	pthread_mutex_unlock(&lock);
	if (r < 0) {
		/* The source never committed and will resume (or settle): this copy must go. */
		log_warn("%s was restored but the source did not commit (%s); removing it", spec->name, err->msg);
		postcopy_relay_stop(&pr);
		lazy_fill_abort(&lf);
		ct_remove(&node->cts, spec->name, NULL);
		goto out;
	}
	/* Committed: from now on this copy is the container; it takes over the address. */
	ct_mark(&node->cts, spec->name, CT_MARK_RESTORING, false, NULL);
	release_guard(guard);
	guard = -1;
	/*
	 * Claimed before the freeze, its link is up and its address announced
	 * already: the held packets go in, the source hears at once, and the
	 * announcement is repeated after.  Otherwise the link comes up first.
	 */
	claimed_net = ctnet_held(&node->cts, spec->name, spec->generation);
	if (ctnet_release(&node->cts, spec->name, err) < 0 ||
	    (!claimed_net && ct_net_reopen(&node->cts, spec->name, err) < 0))
		log_error("%s runs here but its network could not be opened: %s", spec->name, err->msg);
	ferry_buf_reset(&b);
	if (node_fault(node, "commit-silent"))
		log_warn("FERRY_FAULT commit-silent: %s committed without telling the source", spec->name);
	else if (ferry_tlv_add_u32(&b, FERRY_TAG_STATUS, 0) == 0 &&
	         ferry_tlv_add_str(&b, FERRY_TAG_PHASE, "committed") == 0) {
		pthread_mutex_lock(&lock);
		ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, b.data, b.len, NULL);
		pthread_mutex_unlock(&lock);
	}
	if (claimed_net && ct_net_reopen(&node->cts, spec->name, err) < 0)
		log_error("%s runs here but its address could not be announced again: %s", spec->name, err->msg);
	log_info("restored %s (generation %llu, pid %d) in %lld ms; committed", spec->name,
	         (unsigned long long)spec->generation, (int)pid, ferry_now_ms() - t0);
	if (lazy) {
		uint64_t pages = 0;
		long long ms;

		/*
		 * The images stay until every page landed; from local files this
		 * takes about a dump's time, from the source as long as the link.
		 */
		if ((r = postcopy ? postcopy_relay_join(&pr, &pages, err) : 0) < 0 ||
		    (r = lazy_fill_wait(&lf, MIG_FILL_MS, &ms, err)) < 0) {
			/* It cannot run without its memory: off the fabric first, then tell the source, then gone. */
			log_error("%s cannot run: its memory was not filled in (%s); removing it", spec->name,
			          err->msg);
			lazy_fill_abort(&lf);
			ctnet_destroy(&node->cts, spec->name, NULL);
			if (postcopy)
				ferry_conn_send_error(conn, r, err->msg, NULL);
			ct_remove(&node->cts, spec->name, NULL);
		} else {
			log_info("%s: all pages landed %lld ms after the restore started%s", spec->name, ms,
			         postcopy ? " (fetched from the source)" : "");
		}
	}
	goto out;
fail:
	log_warn("restore of %s failed: %s", spec->name[0] ? spec->name : res->ticket.container, err->msg);
	postcopy_relay_stop(&pr); /* before this thread uses the channel again */
	lazy_fill_abort(&lf);
	/* The address first: by the time the source resumes and announces itself, nothing here answers. */
	if (made)
		ctnet_destroy(&node->cts, spec->name, NULL);
	ferry_conn_send_error(conn, r, err->msg, NULL);
	if (made)
		ct_remove(&node->cts, spec->name, NULL);
out:
	postcopy_relay_close(&pr);
	release_guard(guard);
	if (claimed)
		ct_release(&node->cts, spec->name);
	ferry_buf_free(&b);
	free(spec);
	return r;
}

static void drop_received_containers(struct node *node)
{
	DIR *d = opendir(node->received);
	struct dirent *de;
	char path[PATH_MAX];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", node->received, de->d_name, OBJ_SPEC);
		if (access(path, F_OK) == 0) {
			snprintf(path, sizeof(path), "%s/%s", node->received, de->d_name);
			ferry_rm_tree(path, NULL);
		}
	}
	if (d)
		closedir(d);
}

void node_recover(struct node *node)
{
	DIR *d = opendir(node->cts.dir);
	struct dirent *de;

	/* Outgoing dumps are never resumed, and no received container is restored after a restart. */
	ferry_rm_tree(node->outgoing, NULL);
	ferry_mkdir_p(node->outgoing, 0700, NULL);
	drop_received_containers(node);
	/* By directory, not by spec: a restore may have died before the spec was written. */
	while (d && (de = readdir(d))) {
		const char *name = de->d_name;

		if (name[0] == '.' || ferry_check_name(name, FERRY_CONTAINER_NAME_MAX, "container", NULL) < 0)
			continue;
		if (ct_marked(&node->cts, name, CT_MARK_RESTORING)) {
			/* Restored (or half) but never reported: the source has resumed by now. */
			log_warn("removing %s: its restore was never reported to the source", name);
			ct_remove(&node->cts, name, NULL);
		} else if (ct_marked(&node->cts, name, CT_MARK_MIGRATING)) {
			/*
			 * Paused mid-migration when this daemon stopped.  Whether the
			 * destination took over is the controller's to know; until it
			 * says, the container stays paused (never two running).
			 */
			log_warn("%s was paused for a migration when ferryd stopped; it stays paused until the "
			         "controller reconciles it (resumed, or removed if it runs elsewhere)",
			         name);
		}
	}
	if (d)
		closedir(d);
	ctnet_sweep(&node->cts);
}
