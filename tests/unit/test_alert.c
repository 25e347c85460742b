/* SPDX-License-Identifier: GPL-2.0-or-later */
/* IDS alert lines and the follower of an alert file: real files, rotated and truncated. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/alert.h"
#include "ferry/parse.h"

static int parse(enum ferry_alert_format f, const char *line, struct ferry_alert *a)
{
	struct ferry_err err = { 0 };

	memset(a, 0, sizeof(*a));
	return ferry_alert_parse(f, line, strlen(line), a, &err);
}

static const char *ip(uint32_t a)
{
	static char buf[16];

	return ferry_format_ipv4(a, buf);
}

static void test_snort_fast(void **state)
{
	struct ferry_alert a;

	assert_int_equal(parse(FERRY_ALERT_SNORT_FAST,
	                       "11/24/26-14:31:09.631000  [**] [1:1000001:3] ET SCAN Suspicious inbound [**] "
	                       "[Classification: Attempted Information Leak] [Priority: 2] {TCP} 10.77.0.11:56814 -> "
	                       "10.77.0.128:6379",
	                       &a),
	                 1);
	assert_string_equal(a.sid, "1:1000001:3");
	assert_string_equal(a.signature, "ET SCAN Suspicious inbound");
	assert_int_equal(a.severity, 2);
	assert_string_equal(a.proto, "TCP");
	assert_string_equal(ip(a.src), "10.77.0.11");
	assert_string_equal(ip(a.dst), "10.77.0.128");
	assert_int_equal(a.sport, 56814);
	assert_int_equal(a.dport, 6379);
	assert_true(a.time_s == 1795530669ULL); /* 2026-11-24 14:31:09 UTC */
	/* Without a year, ICMP without ports, IPv6. */
	assert_int_equal(parse(FERRY_ALERT_SNORT_FAST,
	                       "11/24-14:31:09.6  [**] [1:2:1] ping [**] [Priority: 3] {ICMP} 10.0.0.1 -> 10.0.0.2",
	                       &a),
	                 1);
	assert_true(a.time_s == 0 && a.dport == 0 && a.severity == 3);
	assert_int_equal(parse(FERRY_ALERT_SNORT_FAST,
	                       "11/24-14:31:09.6  [**] [1:2:1] v6 [**] [Priority: 1] {TCP} fe80::1:443 -> fe80::2:80",
	                       &a),
	                 1);
	assert_true(a.src == 0 && a.dst == 0);
	/* Broken ones. */
	assert_true(parse(FERRY_ALERT_SNORT_FAST, "11/24-14:31:09  [**] [1:2:1] x [**] {TCP} 1.2.3.4 -> 1.2.3.5", &a) <
	            0);
	assert_true(parse(FERRY_ALERT_SNORT_FAST,
	                  "11/24-14:31:09  [**] [1:2:1] x [**] [Priority: 0] {TCP} 1.2.3.4 -> 1.2.3.5", &a) < 0);
	assert_true(parse(FERRY_ALERT_SNORT_FAST, "garbage", &a) < 0);
	assert_true(parse(FERRY_ALERT_SNORT_FAST,
	                  "11/24-14:31:09  [**] [1:2:1] x [**] [Priority: 1] {TCP} 1.2.3 -> 1.2.3.5", &a) < 0);
}

static void test_suricata_eve(void **state)
{
	struct ferry_alert a;

	assert_int_equal(
	    parse(
	        FERRY_ALERT_SURICATA_EVE,
	        "{\"timestamp\":\"2026-11-24T15:31:09.631234+0100\",\"event_type\":\"alert\",\"src_ip\":\"10.77.0.11\","
	        "\"src_port\":56814,\"dest_ip\":\"10.77.0.128\",\"dest_port\":6379,\"proto\":\"TCP\",\"alert\":{"
	        "\"gid\":1,\"signature_id\":2100498,\"rev\":7,\"signature\":\"GPL ATTACK_RESPONSE id check "
	        "returned root\",\"severity\":1}}",
	        &a),
	    1);
	assert_true(a.time_s == 1795530669ULL);
	assert_int_equal(a.severity, 1);
	assert_string_equal(a.sid, "1:2100498:7");
	assert_string_equal(a.signature, "GPL ATTACK_RESPONSE id check returned root");
	assert_string_equal(ip(a.dst), "10.77.0.128");
	assert_int_equal(a.dport, 6379);
	/* Other events are not alerts; broken records are errors. */
	assert_int_equal(parse(FERRY_ALERT_SURICATA_EVE, "{\"event_type\":\"flow\",\"src_ip\":\"1.2.3.4\"}", &a), 0);
	assert_true(parse(FERRY_ALERT_SURICATA_EVE, "{\"event_type\":\"alert\"}", &a) < 0);
	assert_true(parse(FERRY_ALERT_SURICATA_EVE, "{\"event_type\":\"alert\",\"alert\":{\"severity\":0}}", &a) < 0);
	assert_true(parse(FERRY_ALERT_SURICATA_EVE, "{\"event_type\":\"alert\",\"alert\":{\"severity\":1}} x", &a) < 0);
	assert_true(parse(FERRY_ALERT_SURICATA_EVE, "{\"event_type\":\"alert\",\"alert\":{\"severity\":1", &a) < 0);
	assert_true(parse(FERRY_ALERT_SURICATA_EVE, "[1,2]", &a) < 0);
	assert_true(parse(FERRY_ALERT_SURICATA_EVE,
	                  "{\"event_type\":\"alert\",\"dest_ip\":\"999.1.1.1\",\"alert\":{\"severity\":1}}", &a) < 0);
	/* Nesting deeper than the parser allows. */
	char deep[256];
	size_t n = 0;

	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	assert_true(parse(FERRY_ALERT_SURICATA_EVE, deep, &a) < 0);
	/* Non-printable bytes in the signature are not passed on. */
	assert_int_equal(parse(FERRY_ALERT_SURICATA_EVE,
	                       "{\"event_type\":\"alert\",\"alert\":{\"severity\":2,\"signature\":\"a\\u001bb\\nc\"}}",
	                       &a),
	                 1);
	assert_string_equal(a.signature, "a?b?c");
}

static void test_generic_and_limits(void **state)
{
	struct ferry_alert a;
	struct ferry_err err = { 0 };
	char *huge;

	assert_int_equal(parse(FERRY_ALERT_GENERIC, "1795530669 2 10.0.0.1 10.0.0.2 port scan from the outside", &a),
	                 1);
	assert_true(a.time_s == 1795530669ULL && a.severity == 2);
	assert_string_equal(a.signature, "port scan from the outside");
	assert_int_equal(parse(FERRY_ALERT_GENERIC, "- 1 - 10.0.0.2 x", &a), 1);
	assert_true(a.src == 0 && a.time_s == 0);
	assert_true(parse(FERRY_ALERT_GENERIC, "- 0 - 10.0.0.2 x", &a) < 0);
	assert_true(parse(FERRY_ALERT_GENERIC, "- 1 - - x", &a) < 0); /* the victim is required */
	assert_true(parse(FERRY_ALERT_GENERIC, "- 1 - 10.0.0.2", &a) < 0);
	assert_int_equal(parse(FERRY_ALERT_GENERIC, "   \r", &a), 0);
	assert_true(ferry_alert_parse(FERRY_ALERT_GENERIC, "- 1 - 10.0.0.2 x\0y", 18, &a, &err) < 0);
	huge = malloc(FERRY_ALERT_LINE_MAX + 10);
	memset(huge, 'a', FERRY_ALERT_LINE_MAX + 9);
	huge[FERRY_ALERT_LINE_MAX + 9] = '\0';
	assert_int_equal(ferry_alert_parse(FERRY_ALERT_GENERIC, huge, strlen(huge), &a, &err), -E2BIG);
	free(huge);
	enum ferry_alert_format f;

	assert_int_equal(ferry_alert_format_parse("suricata-eve", &f, &err), 0);
	assert_int_equal(f, FERRY_ALERT_SURICATA_EVE);
	assert_int_equal(ferry_alert_format_parse("zeek", &f, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "snort-fast, suricata-eve or generic"));
}

struct seen {
	unsigned n;
	char last[256];
};

static void on_alert(const struct ferry_alert *a, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s", a->signature);
}

static void append(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_follower(void **state)
{
	char dir[] = "/tmp/ferry-alert-XXXXXX", path[128], old[160];
	struct ferry_alert_follower f;
	struct ferry_err err = { 0 };
	struct seen s = { 0 };
	char *huge;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/alerts", dir);
	snprintf(old, sizeof(old), "%s/alerts.1", dir);
	/* Not there yet: followed when it appears, from its start. */
	assert_int_equal(ferry_alert_follow_open(&f, path, FERRY_ALERT_GENERIC, true, &err), 0);
	assert_int_equal(ferry_alert_follow_poll(&f, on_alert, &s, &err), 0);
	append(path, "- 1 - 10.0.0.2 one\n- 9 - bad\n");
	assert_int_equal(ferry_alert_follow_poll(&f, on_alert, &s, &err), 1);
	assert_string_equal(s.last, "one");
	assert_true(f.counts.malformed == 1 && f.counts.lines == 2);
	/* A line arrives in pieces. */
	append(path, "- 2 - 10.0.0.2 tw");
	assert_int_equal(ferry_alert_follow_poll(&f, on_alert, &s, &err), 0);
	append(path, "o\n");
	assert_int_equal(ferry_alert_follow_poll(&f, on_alert, &s, &err), 1);
	assert_string_equal(s.last, "two");
	/* A huge line is dropped whole, and the next one is read. */
	huge = malloc(3 * FERRY_ALERT_LINE_MAX);
	memset(huge, 'x', 3 * FERRY_ALERT_LINE_MAX - 1);
	huge[3 * FERRY_ALERT_LINE_MAX - 1] = '\0';
	append(path, huge);
	append(path, "\n- 1 - 10.0.0.2 three\n");
	free(huge);
	assert_int_equal(ferry_alert_follow_poll(&f, on_alert, &s, &err), 1);
	assert_string_equal(s.last, "three");
	assert_true(f.counts.oversize == 1);
	/* Rotated: the old file's last line (no newline) is read, then the new file from its start. */
	append(path, "- 1 - 10.0.0.2 four");
	assert_int_equal(rename(path, old), 0);
	append(path, "- 1 - 10.0.0.2 five\n");
	assert_int_equal(ferry_alert_follow_poll(&f, on_alert, &s, &err), 2);
	assert_string_equal(s.last, "five");
	assert_true(f.counts.rotations == 1);
	/* Truncated in place (copytruncate), then written again: the new lines are read. */
	assert_int_equal(truncate(path, 0), 0);
	append(path, "- 1 - 10.0.0.2 six\n");
	assert_int_equal(ferry_alert_follow_poll(&f, on_alert, &s, &err), 1);
	assert_string_equal(s.last, "six");
	assert_true(f.counts.truncations == 1);
	assert_int_equal(s.n, 6);
	ferry_alert_follow_close(&f);
	unlink(path);
	unlink(old);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snort_fast),
		cmocka_unit_test(test_suricata_eve),
		cmocka_unit_test(test_generic_and_limits),
		cmocka_unit_test(test_follower),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
