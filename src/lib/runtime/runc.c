/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The OCI runtime's command line.  runc and crun share these verbs and
 * flags; both keep their state below --root, which Ferry makes private to
 * each node so two nodes on one machine (the local cluster) never see each
 * other's containers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/clock.h"

#include "ferry/fs.h"
#include "ferry/parse.h"
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

/* The restored container's init, from the runtime's --pid-file, and alive (not a zombie). */
static int restored_pid(const char *pidfile, const char *id, pid_t *ret_pid, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(64);
	char stat[64], *close_paren;
	uint64_t pid = 0;
	int r;

	if ((r = ferry_read_file(pidfile, 32, &b, err)) < 0)
		return ferry_err_set(err, r, "the runtime restored '%s' but wrote no pid file", id);
	r = ferry_parse_u64(b.data, 1, 4194304, "restored pid", &pid, err);
	ferry_buf_free(&b);
	if (r < 0)
		return r;
	snprintf(stat, sizeof(stat), "/proc/%llu/stat", (unsigned long long)pid);
	b = (struct ferry_buf)FERRY_BUF_INIT(4096);
	r = ferry_read_file(stat, 4096, &b, NULL);
	close_paren = r == 0 ? strrchr(b.data, ')') : NULL;
	if (!close_paren || close_paren[1] != ' ' || close_paren[2] == 'Z' || close_paren[2] == 'X') {
		ferry_buf_free(&b);
		return ferry_err_set(err, -ESRCH, "restored container '%s' is not running (pid %llu)", id,
		                     (unsigned long long)pid);
	}
	ferry_buf_free(&b);
	*ret_pid = (pid_t)pid;
	return 0;
}

int ferry_runtime_restore(const struct ferry_runtime *rt, const char *id, const char *bundle, const char *images,
                          const char *lazy_work, int stdio_fd, pid_t *ret_pid, struct ferry_err *err)
{
	char pidfile[PATH_MAX];
	/* Established TCP connections come back as they were (docs/ARCHITECTURE.md, "Network continuity"). */
	const char *args[] = { "restore",    "--detach", "--tcp-established",
		               "--pid-file", pidfile,    "--image-path",
		               images,       "--bundle", bundle,
		               id,           NULL };
	const char *lazy[] = { "restore",
		               "--detach",
		               "--tcp-established",
		               "--pid-file",
		               pidfile,
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
	int r;

	/* The pid from the restore itself: asking the runtime for its state again costs some 10 ms of downtime. */
	snprintf(pidfile, sizeof(pidfile), "%s/restored.pid", images);
	unlink(pidfile);
	r = runtime_call(rt, lazy_work ? lazy : args, &o, NULL, err);
	return r < 0 ? r : restored_pid(pidfile, id, ret_pid, err);
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

/* A free TCP port on 127.0.0.1 for CRIU's page server (bound and released: CRIU binds it next). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Tell CRIU's lazy page server that no page will be asked for: PS_IOV_CLOSE, answered by a 4-byte status. */
static int close_page_server(int port, long long deadline, struct ferry_err *err)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		                 .sin_port = htons((uint16_t)port),
		                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	/* CRIU's struct page_server_iov on this machine: u32 cmd, padding, u64 nr_pages, vaddr, dst_id. */
	uint8_t req[32] = { 0x23, 0x10 }, status[4];
	struct timeval tv = { 10, 0 };
	size_t got = 0;
	int fd = -1;

	while (ferry_now_ms() < deadline) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
		usleep(10 * 1000);
	}
	if (fd < 0)
		return ferry_err_set(err, -ECONNREFUSED, "CRIU's page server on port %d never answered", port);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/*
	 * Shut our side right after the request: CRIU corks its socket and then
	 * waits for our close, so its answer leaves at once instead of after the
	 * kernel's 200 ms cork timeout.
	 */
	if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req) || shutdown(fd, SHUT_WR) < 0) {
		close(fd);
		return ferry_err_sys(err, -errno, "cannot talk to CRIU's page server");
	}
	while (got < sizeof(status)) {
		ssize_t k = read(fd, status + got, sizeof(status) - got);

		if (k <= 0) {
			close(fd);
			return ferry_err_set(err, -EPROTO, "CRIU's page server did not confirm the close");
		}
		got += (size_t)k;
	}
	close(fd);
	return 0;
}

int ferry_runtime_checkpoint_metadata(const struct ferry_runtime *rt, const char *id, const char *images,
                                      const char *work, struct ferry_err *err)
{
	long long deadline = ferry_now_ms() + FERRY_RUNTIME_TIMEOUT_MS;
	char server[32], reason[512];
	int port = free_port(), p[2], status = 0, r = 0;
	struct pollfd pfd;
	pid_t pid;
	uint8_t c;

	if (port < 0)
		return ferry_err_set(err, -EADDRNOTAVAIL, "no free port on 127.0.0.1 for CRIU's page server");
	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	if (pipe2(p, O_CLOEXEC) < 0)
		return ferry_err_sys(err, -errno, "cannot make a pipe");
	int fd = open(rt->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		close(fd);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return ferry_err_sys(err, -errno, "cannot start %s: fork", rt->binary);
	}
	if (pid == 0) {
		const char *argv[] = { rt->binary,
			               "--root",
			               rt->root,
			               "--log",
			               rt->log,
			               "checkpoint",
			               "--lazy-pages",
			               "--leave-running",
			               "--page-server",
			               server,
			               "--status-fd",
			               "3",
			               "--tcp-established",
			               "--image-path",
			               images,
			               "--work-path",
			               work,
			               id,
			               NULL };
		int devnull = open("/dev/null", O_RDWR);

		setpgid(0, 0); /* so a deadline stops CRIU with it */
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		dup2(p[1], 3);
		close_range(4, ~0U, 0);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	/* 1. CRIU wrote every image but the lazy pages' and waits for a page client. */
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	while ((r = poll(&pfd, 1, (int)(deadline - ferry_now_ms() > 0 ? deadline - ferry_now_ms() : 0))) < 0 &&
	       errno == EINTR)
		;
	if (r <= 0 || read(p[0], &c, 1) != 1) {
		r = r == 0 ? ferry_err_set(err, -ETIMEDOUT, "%s checkpoint timed out", rt->binary) : -EIO;
		goto fail;
	}
	/* 2. It never serves a page (the frozen container keeps them): close its server, it finishes. */
	if ((r = close_page_server(port, deadline, err)) < 0)
		goto fail;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (ferry_now_ms() > deadline) {
			r = ferry_err_set(err, -ETIMEDOUT, "%s checkpoint did not finish", rt->binary);
			goto fail;
		}
		usleep(2000);
	}
	close(p[0]);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		runtime_reason(rt, reason, sizeof(reason));
		return ferry_err_set(err, -EIO, "%s checkpoint failed (status %d): %s", rt->binary, status,
		                     reason[0] ? reason : "no reason given");
	}
	return 0;
fail:
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (r == -EIO && !err->msg[0]) {
		runtime_reason(rt, reason, sizeof(reason));
		ferry_err_set(err, -EIO, "%s checkpoint failed: %s", rt->binary,
		              reason[0] ? reason : "no reason given");
	}
	return r < 0 ? r : -EIO;
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
