/* SPDX-License-Identifier: GPL-2.0-or-later */
/* IDS alert lines (Snort fast, Suricata EVE, generic) and a follower of an alert file. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ferry/alert.h"
#include "ferry/parse.h"

static const char *const format_names[] = {
	[FERRY_ALERT_SNORT_FAST] = "snort-fast",
	[FERRY_ALERT_SURICATA_EVE] = "suricata-eve",
	[FERRY_ALERT_GENERIC] = "generic",
};

int ferry_alert_format_parse(const char *name, enum ferry_alert_format *ret, struct ferry_err *err)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
		if (strcmp(name, format_names[i]) == 0) {
			*ret = (enum ferry_alert_format)i;
			return 0;
		}
	return ferry_err_set(err, -EINVAL,
	                     "alert format '%.32s' is not known; expected snort-fast, suricata-eve or generic", name);
}

const char *ferry_alert_format_name(enum ferry_alert_format f)
{
	return (size_t)f < sizeof(format_names) / sizeof(format_names[0]) ? format_names[f] : "?";
}

/* Printable ASCII only, cut to len - 1. */
static void clean_copy(char *out, size_t len, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < len; i++)
		out[i] = s[i] >= ' ' && s[i] <= '~' ? s[i] : '?';
	out[i] = '\0';
}

/* An IPv4 address (host order) or, for IPv6 and "-", 0; -EINVAL for anything else. */
static int address(const char *s, size_t n, uint32_t *ret)
{
	char buf[48];
	struct in6_addr a6;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*ret = 0;
	if (strcmp(buf, "-") == 0 || inet_pton(AF_INET6, buf, &a6) == 1)
		return 0;
	return ferry_parse_ipv4(buf, ret, NULL) < 0 ? -EINVAL : 0;
}

static int port(const char *s, size_t n, uint16_t *ret)
{
	char buf[8];
	uint64_t v;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (ferry_parse_u64(buf, 0, 65535, "port", &v, NULL) < 0)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* "ADDR" or "ADDR:PORT" (IPv6 with a port is "ADDR:PORT" too in Snort's output: the last colon). */
static int endpoint(const char *s, size_t n, uint32_t *addr, uint16_t *p)
{
	const char *colon = memrchr(s, ':', n), *first = memchr(s, ':', n);

	*p = 0;
	if (colon && colon == first)
		return address(s, (size_t)(colon - s), addr) < 0 || port(colon + 1, n - (size_t)(colon - s) - 1, p) < 0
		           ? -EINVAL
		           : 0;
	if (colon) { /* IPv6: a port after the last colon when what precedes parses as an address */
		*addr = 0;
		return 0;
	}
	return address(s, n, addr);
}

static const char *find(const char *s, size_t n, const char *needle)
{
	return memmem(s, n, needle, strlen(needle));
}

/*
 * 11/24-14:31:09.631000  [**] [1:1000001:1] MESSAGE [**] [Classification: ...] [Priority: 2] {TCP}
 * 10.0.0.1:5000 -> 10.0.0.2:80   (with snort -y the date is 11/24/26)
 */
static int parse_snort(const char *s, size_t n, struct ferry_alert *a, struct ferry_err *err)
{
	const char *stars = find(s, n, "[**] ["), *end, *msg_end, *prio, *brace, *arrow, *close;
	unsigned mon, day, year = 0, hh, mm, ss;
	uint64_t v;
	char num[8];
	int used = 0;

	if (!stars)
		return ferry_err_set(err, -EINVAL, "no '[**] [' in a Snort fast line");
	if (sscanf(s, "%2u/%2u/%2u-%2u:%2u:%2u%n", &mon, &day, &year, &hh, &mm, &ss, &used) == 6 ||
	    (year = 0, sscanf(s, "%2u/%2u-%2u:%2u:%2u%n", &mon, &day, &hh, &mm, &ss, &used) == 5)) {
		if (year && mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hh < 24 && mm < 60 && ss < 61) {
			struct tm tm = { .tm_year = (int)year + 100,
				         .tm_mon = (int)mon - 1,
				         .tm_mday = (int)day,
				         .tm_hour = (int)hh,
				         .tm_min = (int)mm,
				         .tm_sec = (int)ss };
			time_t t = timegm(&tm);

			a->time_s = t > 0 ? (uint64_t)t : 0;
		}
	} else {
		return ferry_err_set(err, -EINVAL, "a Snort fast line starts with MM/DD-HH:MM:SS");
	}
	stars += 6;
	if (!(end = memchr(stars, ']', n - (size_t)(stars - s))))
		return ferry_err_set(err, -EINVAL, "no ']' after the rule's id");
	clean_copy(a->sid, sizeof(a->sid), stars, (size_t)(end - stars));
	if (!(msg_end = find(end, n - (size_t)(end - s), " [**]")))
		return ferry_err_set(err, -EINVAL, "no ' [**]' after the message");
	while (end + 1 < msg_end && end[1] == ' ')
		end++;
	clean_copy(a->signature, sizeof(a->signature), end + 1, (size_t)(msg_end - end - 1));
	if (!(prio = find(msg_end, n - (size_t)(msg_end - s), "[Priority: ")))
		return ferry_err_set(err, -EINVAL, "no '[Priority: N]'");
	prio += 11;
	if (!(close = memchr(prio, ']', n - (size_t)(prio - s))) || (size_t)(close - prio) >= sizeof(num))
		return ferry_err_set(err, -EINVAL, "a bad priority");
	memcpy(num, prio, (size_t)(close - prio));
	num[close - prio] = '\0';
	if (ferry_parse_u64(num, 1, 255, "priority", &v, NULL) < 0)
		return ferry_err_set(err, -EINVAL, "priority '%s' is not 1 to 255", num);
	a->severity = (unsigned)v;
	if (!(brace = memchr(close, '{', n - (size_t)(close - s))) ||
	    !(end = memchr(brace, '}', n - (size_t)(brace - s))))
		return ferry_err_set(err, -EINVAL, "no '{PROTO}'");
	clean_copy(a->proto, sizeof(a->proto), brace + 1, (size_t)(end - brace - 1));
	if (!(arrow = find(end, n - (size_t)(end - s), " -> ")))
		return ferry_err_set(err, -EINVAL, "no 'SRC -> DST'");
	{
		const char *src = end + 1, *dst = arrow + 4;

		while (src < arrow && *src == ' ')
			src++;
		if (endpoint(src, (size_t)(arrow - src), &a->src, &a->sport) < 0 ||
		    endpoint(dst, n - (size_t)(dst - s), &a->dst, &a->dport) < 0)
			return ferry_err_set(err, -EINVAL, "a bad source or destination address");
	}
	return 1;
}

/* ISO 8601 as Suricata writes it: 2026-11-24T14:31:09.631234+0000 (or Z, or +00:00). */
static uint64_t iso_time(const char *s)
{
	int y, mo, d, h, mi, sec, used = 0, sign, oh = 0, om = 0;
	const char *tz;
	struct tm tm = { 0 };
	time_t t;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 || y < 1970 ||
	    mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return 0;
	tz = s + used;
	if (*tz == '.')
		while (isdigit((unsigned char)*++tz))
			;
	tm = (struct tm){
		.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec
	};
	t = timegm(&tm);
	if (*tz == '+' || *tz == '-') {
		sign = *tz == '-' ? -1 : 1;
		if (sscanf(tz + 1, "%2d:%2d", &oh, &om) != 2 && sscanf(tz + 1, "%2d%2d", &oh, &om) != 2)
			return 0;
		t -= sign * (oh * 3600 + om * 60);
	}
	return t > 0 ? (uint64_t)t : 0;
}

static const char *json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : NULL;
}

static bool json_int(struct json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	x = json_object_get_int64(v);
	if (x < min || x > max)
		return false;
	*ret = x;
	return true;
}

static int parse_eve(const char *s, size_t n, struct ferry_alert *a, struct ferry_err *err)
{
	struct json_tokener *tok = json_tokener_new_ex(16);
	struct json_object *root, *alert;
	const char *type, *sig, *ip;
	int64_t v, sid = 0, gid = 1, rev = 0;
	int r = 1;

	if (!tok)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	root = json_tokener_parse_ex(tok, s, (int)n);
	if (!root || json_tokener_get_error(tok) != json_tokener_success || tok->char_offset != (int)n ||
	    !json_object_is_type(root, json_type_object)) {
		r = ferry_err_set(err, -EINVAL, "not one JSON object");
		goto out;
	}
	if (!(type = json_str(root, "event_type"))) {
		r = ferry_err_set(err, -EINVAL, "no event_type");
		goto out;
	}
	if (strcmp(type, "alert") != 0) {
		r = 0; /* flow, dns, stats ... : not ours */
		goto out;
	}
	if (!json_object_object_get_ex(root, "alert", &alert) || !json_object_is_type(alert, json_type_object) ||
	    !json_int(alert, "severity", 1, 255, &v)) {
		r = ferry_err_set(err, -EINVAL, "an alert record without alert.severity 1 to 255");
		goto out;
	}
	a->severity = (unsigned)v;
	sig = json_str(alert, "signature");
	clean_copy(a->signature, sizeof(a->signature), sig ? sig : "", sig ? strlen(sig) : 0);
	json_int(alert, "signature_id", 0, UINT32_MAX, &sid);
	json_int(alert, "gid", 0, UINT32_MAX, &gid);
	json_int(alert, "rev", 0, UINT32_MAX, &rev);
	snprintf(a->sid, sizeof(a->sid), "%lld:%lld:%lld", (long long)gid, (long long)sid, (long long)rev);
	a->time_s = iso_time(json_str(root, "timestamp"));
	if ((ip = json_str(root, "src_ip")) && address(ip, strlen(ip), &a->src) < 0)
		r = ferry_err_set(err, -EINVAL, "src_ip is not an address");
	if (r > 0 && (ip = json_str(root, "dest_ip")) && address(ip, strlen(ip), &a->dst) < 0)
		r = ferry_err_set(err, -EINVAL, "dest_ip is not an address");
	if (json_int(root, "src_port", 0, 65535, &v))
		a->sport = (uint16_t)v;
	if (json_int(root, "dest_port", 0, 65535, &v))
		a->dport = (uint16_t)v;
	if ((sig = json_str(root, "proto")))
		clean_copy(a->proto, sizeof(a->proto), sig, strlen(sig));
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

/* TIME SEVERITY SRC DST MESSAGE: unix seconds or '-', 1 to 255, an address or '-', an address, text. */
static int parse_generic(const char *s, size_t n, struct ferry_alert *a, struct ferry_err *err)
{
	const char *w[4], *p = s, *end = s + n;
	size_t len[4];
	char num[24];
	uint64_t v;

	for (int i = 0; i < 4; i++) {
		while (p < end && *p == ' ')
			p++;
		w[i] = p;
		while (p < end && *p != ' ')
			p++;
		len[i] = (size_t)(p - w[i]);
		if (!len[i] || len[i] >= sizeof(num))
			return ferry_err_set(err, -EINVAL, "expected 'TIME SEVERITY SRC DST MESSAGE'");
	}
	while (p < end && *p == ' ')
		p++;
	if (p == end)
		return ferry_err_set(err, -EINVAL, "expected 'TIME SEVERITY SRC DST MESSAGE': no message");
	memcpy(num, w[0], len[0]);
	num[len[0]] = '\0';
	if (strcmp(num, "-") != 0) {
		if (ferry_parse_u64(num, 0, UINT32_MAX * 8ULL, "time", &v, NULL) < 0)
			return ferry_err_set(err, -EINVAL, "time '%s' is not unix seconds or '-'", num);
		a->time_s = v;
	}
	memcpy(num, w[1], len[1]);
	num[len[1]] = '\0';
	if (ferry_parse_u64(num, 1, 255, "severity", &v, NULL) < 0)
		return ferry_err_set(err, -EINVAL, "severity '%s' is not 1 to 255", num);
	a->severity = (unsigned)v;
	if (address(w[2], len[2], &a->src) < 0 || address(w[3], len[3], &a->dst) < 0 || (len[3] == 1 && w[3][0] == '-'))
		return ferry_err_set(err, -EINVAL, "SRC and DST are IPv4 addresses (SRC may be '-')");
	clean_copy(a->signature, sizeof(a->signature), p, (size_t)(end - p));
	return 1;
}

int ferry_alert_parse(enum ferry_alert_format f, const char *line, size_t len, struct ferry_alert *ret,
                      struct ferry_err *err)
{
	struct ferry_alert a = { 0 };
	int r;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	if (len > FERRY_ALERT_LINE_MAX)
		return ferry_err_set(err, -E2BIG, "an alert line of %zu bytes (at most %d)", len, FERRY_ALERT_LINE_MAX);
	if (memchr(line, '\0', len))
		return ferry_err_set(err, -EINVAL, "a NUL byte in an alert line");
	switch (f) {
	case FERRY_ALERT_SNORT_FAST:
		r = parse_snort(line, len, &a, err);
		break;
	case FERRY_ALERT_SURICATA_EVE:
		r = parse_eve(line, len, &a, err);
		break;
	case FERRY_ALERT_GENERIC:
		r = parse_generic(line, len, &a, err);
		break;
	default:
		return ferry_err_set(err, -EINVAL, "unknown alert format");
	}
	if (r == 1)
		*ret = a;
	return r;
}

/* ---- the follower ---- */

static int reopen(struct ferry_alert_follower *f, bool at_end)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->offset = at_end ? st.st_size : 0;
	if (lseek(fd, f->offset, SEEK_SET) < 0)
		f->offset = 0;
	f->len = 0;
	f->skipping = false;
	return 0;
}

int ferry_alert_follow_open(struct ferry_alert_follower *f, const char *path, enum ferry_alert_format format,
                            bool start_at_end, struct ferry_err *err)
{
	int r;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->format = format;
	if (strlen(path) >= sizeof(f->path))
		return ferry_err_set(err, -ENAMETOOLONG, "alert file path is too long");
	snprintf(f->path, sizeof(f->path), "%s", path);
	if (!(f->line = malloc(FERRY_ALERT_LINE_MAX + 1)))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	r = reopen(f, start_at_end);
	if (r < 0 && r != -ENOENT) {
		ferry_alert_follow_close(f);
		return ferry_err_set(err, r, "cannot follow %s: %s", path, strerror(-r));
	}
	return 0;
}

/* One complete line. */
static int line_done(struct ferry_alert_follower *f, ferry_alert_fn fn, void *arg)
{
	struct ferry_alert a;
	int r;

	f->counts.lines++;
	r = ferry_alert_parse(f->format, f->line, f->len, &a, NULL);
	f->len = 0;
	if (r < 0) {
		f->counts.malformed++;
		return 0;
	}
	if (r == 0) {
		f->counts.other++;
		return 0;
	}
	f->counts.alerts++;
	fn(&a, arg);
	return 1;
}

/* Everything readable from the open file. */
static int drain(struct ferry_alert_follower *f, ferry_alert_fn fn, void *arg)
{
	char buf[65536];
	int seen = 0;

	for (;;) {
		ssize_t n = read(f->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return seen;
		f->offset += n;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				if (f->skipping)
					f->skipping = false;
				else
					seen += line_done(f, fn, arg);
				continue;
			}
			if (f->skipping)
				continue;
			if (f->len == FERRY_ALERT_LINE_MAX) {
				/* Too long to be an alert: dropped whole, counted once. */
				f->counts.oversize++;
				f->counts.lines++;
				f->len = 0;
				f->skipping = true;
				continue;
			}
			f->line[f->len++] = buf[i];
		}
	}
}

int ferry_alert_follow_poll(struct ferry_alert_follower *f, ferry_alert_fn fn, void *arg, struct ferry_err *err)
{
	int seen = 0, r;

	if (f->fd < 0) {
		if ((r = reopen(f, false)) == -ENOENT)
			return 0;
		if (r < 0)
			return ferry_err_set(err, r, "cannot follow %s: %s", f->path, strerror(-r));
	}
	for (int round = 0; round < 4; round++) {
		struct stat now, here;

		if ((r = drain(f, fn, arg)) < 0)
			return ferry_err_set(err, r, "cannot read %s: %s", f->path, strerror(-r));
		seen += r;
		if (stat(f->path, &now) < 0)
			return seen; /* moved away and not yet replaced: keep the old one */
		if (now.st_dev != f->dev || now.st_ino != f->ino) {
			/* Rotated: the old file is read to its end above; its last line may lack a newline. */
			if (f->len && !f->skipping)
				seen += line_done(f, fn, arg);
			f->counts.rotations++;
			if (reopen(f, false) < 0)
				return seen;
			continue;
		}
		if (fstat(f->fd, &here) == 0 && here.st_size < f->offset) {
			/* Truncated in place (copytruncate): what is there now is new. */
			f->counts.truncations++;
			f->offset = 0;
			f->len = 0;
			f->skipping = false;
			if (lseek(f->fd, 0, SEEK_SET) < 0)
				return seen;
			continue;
		}
		break;
	}
	return seen;
}

void ferry_alert_follow_close(struct ferry_alert_follower *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->line);
	f->line = NULL;
}
