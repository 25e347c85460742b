/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The OCI runtime's command line.  runc and crun share these verbs and
 * flags; both keep their state below --root, which Ferry makes private to
 * each node so two nodes on one machine (the local cluster) never see each
 * other's containers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/runtime.h"

const char *ferry_ct_status_name(enum ferry_ct_status s)
{
	switch (s) {
	case FERRY_CT_CREATED:
		return "created";
	case FERRY_CT_RUNNING:
		return "running";
	case FERRY_CT_PAUSED:
		return "paused";
	case FERRY_CT_STOPPED:
		return "stopped";
	default:
		return "missing";
	}
}

/* The runtime's own reason, from the last error line of its --log file. */
static void runtime_reason(const struct ferry_runtime *rt, char *buf, size_t len)
{
	struct ferry_buf b = FERRY_BUF_INIT(1024 * 1024);
	const char *p, *msg;
	char *end;

	buf[0] = '\0';
	if (ferry_read_file(rt->log, 1024 * 1024, &b, NULL) < 0 || !b.data)
		goto out;
	for (p = b.data; (p = strstr(p, "level=error")); p++) {
		if (!(msg = strstr(p, "msg=\"")))
			break;
		snprintf(buf, len, "%s", msg + 5);
	}
	if ((end = strstr(buf, "\"\n")) || (end = strchr(buf, '\n')))
		*end = '\0';
	if (buf[0] && buf[strlen(buf) - 1] == '"')
		buf[strlen(buf) - 1] = '\0';
out:
	ferry_buf_free(&b);
}

/* Run the runtime with argv after "BINARY --root R --log L"; 0 on exit 0. */
static int runtime_call(const struct ferry_runtime *rt, const char *const *args, const struct ferry_exec_opts *opts,
                        struct ferry_exec_result *res, struct ferry_err *err)
{
	const char *argv[24] = { rt->binary, "--root", rt->root, "--log", rt->log };
	struct ferry_exec_result local;
	char reason[512];
	unsigned n = 5;
	int r;

	for (unsigned i = 0; args[i] && n < 23; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	/* Only this call's messages: the log is truncated first. */
	int fd = open(rt->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		close(fd);
	if (!res)
		res = &local;
	r = ferry_exec(argv, opts, res, err);
	if (r == 0 && res->status != 0) {
		runtime_reason(rt, reason, sizeof(reason));
		if (!reason[0] && res->errout.data)
			snprintf(reason, sizeof(reason), "%.400s", res->errout.data);
		r = ferry_err_set(err, -EIO, "%s %s failed (status %d): %s", rt->binary, args[0], res->status,
		                  reason[0] ? reason : "no reason given");
	}
	if (res == &local)
		ferry_exec_result_free(&local);
	return r;
}

static struct ferry_exec_opts opts_with(int timeout_ms, int stdio_fd)
{
	struct ferry_exec_opts o = { .timeout_ms = timeout_ms, .merge_stderr = false };

	if (stdio_fd >= 0) {
		o.use_stdio_fd = true;
		o.stdio_fd = stdio_fd;
	}
	return o;
}

int ferry_runtime_run(const struct ferry_runtime *rt, const char *id, const char *bundle, int stdio_fd,
                      struct ferry_err *err)
{
	const char *args[] = { "run", "--detach", "--bundle", bundle, id, NULL };
	struct ferry_exec_opts o = opts_with(FERRY_RUNTIME_TIMEOUT_MS, stdio_fd);

	return runtime_call(rt, args, &o, NULL, err);
}

int ferry_runtime_restore(const struct ferry_runtime *rt, const char *id, const char *bundle, const char *images,
                          const char *lazy_work, int stdio_fd, struct ferry_err *err)
{
	/* Established TCP connections come back as they were (docs/ARCHITECTURE.md, "Network continuity"). */
	const char *args[] = { "restore", "--detach", "--tcp-established", "--image-path", images, "--bundle", bundle,
		               id,        NULL };
	const char *lazy[] = { "restore",
		               "--detach",
		               "--tcp-established",
		               "--lazy-pages",
		               "--work-path",
		               lazy_work,
		               "--image-path",
		               images,
		               "--bundle",
		               bundle,
		               id,
		               NULL };
	struct ferry_exec_opts o = opts_with(FERRY_RUNTIME_TIMEOUT_MS, stdio_fd);

	return runtime_call(rt, lazy_work ? lazy : args, &o, NULL, err);
}

int ferry_runtime_checkpoint(const struct ferry_runtime *rt, const char *id, const char *images, const char *work,
                             struct ferry_err *err)
{
	const char *args[] = {
		"checkpoint", "--leave-running", "--tcp-established", "--image-path", images, "--work-path", work, id,
		NULL
	};
	struct ferry_exec_opts o = opts_with(FERRY_RUNTIME_TIMEOUT_MS, -1);

	return runtime_call(rt, args, &o, NULL, err);
}

static int simple(const struct ferry_runtime *rt, const char *verb, const char *id, struct ferry_err *err)
{
	const char *args[] = { verb, id, NULL };
	struct ferry_exec_opts o = opts_with(FERRY_RUNTIME_TIMEOUT_MS, -1);

	return runtime_call(rt, args, &o, NULL, err);
}

int ferry_runtime_limit_cpu(const struct ferry_runtime *rt, const char *id, unsigned percent, struct ferry_err *err)
{
	char quota[24];
	const char *args[] = { "update", "--cpu-period", "100000", "--cpu-quota", quota, id, NULL };
	struct ferry_exec_opts o = opts_with(FERRY_RUNTIME_TIMEOUT_MS, -1);

	if (percent == 0 || percent > 100)
		return ferry_err_set(err, -EINVAL, "a CPU share of %u%% is out of range; expected 1 to 100", percent);
	/* 100 %: no quota at all (-1), the state the container started in. */
	snprintf(quota, sizeof(quota), "%d", percent == 100 ? -1 : (int)percent * 1000);
	return runtime_call(rt, args, &o, NULL, err);
}

int ferry_runtime_kill(const struct ferry_runtime *rt, const char *id, const char *signal, struct ferry_err *err)
{
	const char *args[] = { "kill", id, signal, NULL };
	struct ferry_exec_opts o = opts_with(FERRY_RUNTIME_TIMEOUT_MS, -1);

	return runtime_call(rt, args, &o, NULL, err);
}

int ferry_runtime_pause(const struct ferry_runtime *rt, const char *id, struct ferry_err *err)
{
	return simple(rt, "pause", id, err);
}

int ferry_runtime_resume(const struct ferry_runtime *rt, const char *id, struct ferry_err *err)
{
	return simple(rt, "resume", id, err);
}

int ferry_runtime_delete(const struct ferry_runtime *rt, const char *id, struct ferry_err *err)
{
	const char *args[] = { "delete", "--force", id, NULL };
	struct ferry_exec_opts o = opts_with(FERRY_RUNTIME_TIMEOUT_MS, -1);
	enum ferry_ct_status st;
	pid_t pid;
	int r;

	if ((r = ferry_runtime_state(rt, id, &st, &pid, err)) < 0)
		return r;
	if (st == FERRY_CT_MISSING)
		return 0;
	return runtime_call(rt, args, &o, NULL, err);
}

int ferry_runtime_parse_state(const char *json, enum ferry_ct_status *status, pid_t *pid)
{
	static const struct {
		const char *text;
		enum ferry_ct_status st;
	} map[] = {
		{ "\"created\"", FERRY_CT_CREATED },
		{ "\"running\"", FERRY_CT_RUNNING },
		{ "\"paused\"", FERRY_CT_PAUSED },
		{ "\"stopped\"", FERRY_CT_STOPPED },
	};
	const char *p = strstr(json, "\"status\"");
	const char *q = strstr(json, "\"pid\"");
	long v;

	if (!p || !(p = strchr(p + 8, ':')))
		return -EPROTO;
	while (*++p == ' ')
		;
	*status = FERRY_CT_MISSING;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(p, map[i].text, strlen(map[i].text)) == 0)
			*status = map[i].st;
	if (*status == FERRY_CT_MISSING)
		return -EPROTO;
	*pid = 0;
	if (q && (q = strchr(q + 5, ':'))) {
		v = strtol(q + 1, NULL, 10);
		if (v > 0 && v < (1L << 22))
			*pid = (pid_t)v;
	}
	return 0;
}

int ferry_runtime_state(const struct ferry_runtime *rt, const char *id, enum ferry_ct_status *status, pid_t *pid,
                        struct ferry_err *err)
{
	const char *argv[] = { rt->binary, "--root", rt->root, "state", id, NULL };
	struct ferry_exec_opts o = { .timeout_ms = 15000 };
	struct ferry_exec_result res;
	int r = ferry_exec(argv, &o, &res, err);

	*status = FERRY_CT_MISSING;
	*pid = 0;
	if (r == 0 && res.status == 0) {
		if (!res.out.data || ferry_runtime_parse_state(res.out.data, status, pid) < 0)
			r = ferry_err_set(err, -EPROTO, "%s state %s: unreadable answer", rt->binary, id);
	} else if (r == 0 && res.errout.data && !strstr(res.errout.data, "does not exist") &&
	           !strstr(res.errout.data, "not exist")) {
		r = ferry_err_set(err, -EIO, "%s state %s failed: %.300s", rt->binary, id, res.errout.data);
	}
	ferry_exec_result_free(&res);
	return r;
}

int ferry_runtime_exec(const struct ferry_runtime *rt, const char *id, const char *const argv[], int timeout_ms,
                       struct ferry_exec_result *ret, struct ferry_err *err)
{
	struct ferry_exec_opts o = { .timeout_ms = timeout_ms, .merge_stderr = true };
	const char *full[FERRY_SPEC_ARGS_MAX + 10] = { rt->binary, "--root", rt->root, "--log", rt->log };
	unsigned n = 5;

	full[n++] = "exec";
	full[n++] = id;
	for (unsigned i = 0; argv[i] && i < FERRY_SPEC_ARGS_MAX; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	/* The command's own exit status is the caller's business: only failing to run is an error. */
	return ferry_exec(full, &o, ret, err);
}
