/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Container specs, the OCI configuration made from them, and the runtime's state answers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/runtime.h"
#include "ferry/spec.h"

static void make_spec(struct ferry_spec *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "kv");
	snprintf(s->image, sizeof(s->image), "redis");
	memset(s->layers[0], 0xab, 32);
	s->n_layers = 1;
	snprintf(s->args[0], sizeof(s->args[0]), "/usr/bin/redis-server");
	snprintf(s->args[1], sizeof(s->args[1]), "/etc/redis.conf");
	s->argc = 2;
	s->memory = 512ULL << 20;
	s->generation = 7;
	snprintf(s->probe, sizeof(s->probe), "tcp:6379");
}

static int parse_encoded(struct ferry_spec *in, struct ferry_spec *out, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(64 * 1024);
	int r = ferry_spec_encode(in, &b);

	if (r == 0)
		r = ferry_spec_parse((const uint8_t *)b.data, b.len, out, err);
	ferry_buf_free(&b);
	return r;
}

static void test_spec_round_trip(void **state)
{
	struct ferry_spec *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct ferry_err err = { 0 };

	make_spec(a);
	assert_int_equal(parse_encoded(a, b, &err), 0);
	assert_memory_equal(a, b, sizeof(*a));
	free(a);
	free(b);
}

static void test_spec_refusals(void **state)
{
	struct ferry_spec *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct ferry_err err = { 0 };

	make_spec(a);
	snprintf(a->args[0], sizeof(a->args[0]), "redis-server");
	assert_int_equal(parse_encoded(a, b, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "absolute path"));
	make_spec(a);
	a->n_layers = 0;
	assert_int_equal(parse_encoded(a, b, &err), -EINVAL);
	make_spec(a);
	a->memory = 1024;
	assert_int_equal(parse_encoded(a, b, &err), -ERANGE);
	assert_non_null(strstr(err.msg, "1024 bytes is out of range"));
	make_spec(a);
	snprintf(a->name, sizeof(a->name), "Bad_Name");
	assert_true(parse_encoded(a, b, &err) < 0);
	make_spec(a);
	a->flags = 0x8;
	assert_int_equal(parse_encoded(a, b, &err), -EINVAL);
	make_spec(a);
	snprintf(a->probe, sizeof(a->probe), "http:80");
	assert_int_equal(parse_encoded(a, b, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "expected tcp:PORT or exec:/PATH ARGS"));
	free(a);
	free(b);
}

static void test_probe_parse(void **state)
{
	enum ferry_probe_kind k;
	uint16_t port = 0;

	assert_int_equal(ferry_probe_parse("", &k, &port, NULL), 0);
	assert_int_equal(k, FERRY_PROBE_NONE);
	assert_int_equal(ferry_probe_parse("tcp:8080", &k, &port, NULL), 0);
	assert_int_equal(k, FERRY_PROBE_TCP);
	assert_int_equal(port, 8080);
	assert_int_equal(ferry_probe_parse("exec:/bin/true", &k, &port, NULL), 0);
	assert_int_equal(k, FERRY_PROBE_EXEC);
	assert_true(ferry_probe_parse("tcp:0", &k, &port, NULL) < 0);
	assert_true(ferry_probe_parse("tcp:70000", &k, &port, NULL) < 0);
	assert_true(ferry_probe_parse("exec:true", &k, &port, NULL) < 0);
}

static void test_oci_config(void **state)
{
	struct ferry_spec *s = malloc(sizeof(*s));
	struct ferry_buf b = FERRY_BUF_INIT(256 * 1024);

	make_spec(s);
	assert_int_equal(
	    ferry_oci_config(s, "/state/containers/kv/rootfs", "/ferry/lab/n1-containers/kv", NULL, NULL, &b, NULL), 0);
	assert_non_null(strstr(b.data, "\"cgroupsPath\": \"/ferry/lab/n1-containers/kv\""));
	assert_non_null(strstr(b.data, "\"limit\": 536870912"));
	assert_non_null(strstr(b.data, "\"path\": \"/state/containers/kv/rootfs\""));
	assert_non_null(strstr(b.data, "\"/usr/bin/redis-server\""));
	assert_non_null(strstr(b.data, "\"terminal\": false"));
	for (const char *const *ns = (const char *const[]){ "pid", "network", "ipc", "uts", "mount", NULL }; *ns;
	     ns++) {
		char want[32];

		snprintf(want, sizeof(want), "\"type\": \"%s\"", *ns);
		assert_non_null(strstr(b.data, want));
	}
	assert_null(strstr(b.data, "annotations"));
	/* A CRIU configuration file is named to runc by its annotation. */
	assert_int_equal(ferry_oci_config(s, "/r", "/c", NULL, "/state/containers/kv/criu.conf", &b, NULL), 0);
	assert_non_null(strstr(b.data, "\"org.criu.config\": \"/state/containers/kv/criu.conf\""));
	ferry_buf_free(&b);
	free(s);
}

static void test_runtime_state(void **state)
{
	enum ferry_ct_status st;
	pid_t pid;

	assert_int_equal(
	    ferry_runtime_parse_state("{\n  \"ociVersion\": \"1.0.2-dev\",\n  \"id\": \"ct1\",\n  \"pid\": "
	                              "17329,\n  \"status\": \"running\"\n}",
	                              &st, &pid),
	    0);
	assert_int_equal(st, FERRY_CT_RUNNING);
	assert_int_equal(pid, 17329);
	assert_int_equal(ferry_runtime_parse_state("{\"status\": \"paused\", \"pid\": 5}", &st, &pid), 0);
	assert_int_equal(st, FERRY_CT_PAUSED);
	assert_int_equal(ferry_runtime_parse_state("{\"status\": \"stopped\", \"pid\": 0}", &st, &pid), 0);
	assert_int_equal(st, FERRY_CT_STOPPED);
	assert_int_equal(pid, 0);
	assert_int_equal(ferry_runtime_parse_state("{\"status\": \"dancing\"}", &st, &pid), -EPROTO);
	assert_int_equal(ferry_runtime_parse_state("{}", &st, &pid), -EPROTO);
}

static void test_spec_carries_the_address_and_refuses_bad_ones(void **state)
{
	struct ferry_spec s, back;
	struct ferry_err err = { 0 };

	(void)state;
	make_spec(&s);
	assert_int_equal(parse_encoded(&s, &back, &err), 0);
	assert_int_equal(back.net.addr, 0); /* no fabric: loopback only */
	s.net.addr = 0x0a4d0080;
	s.net.prefix_len = 24;
	ferry_fabric_mac(s.net.addr, s.net.mac);
	assert_int_equal(parse_encoded(&s, &back, &err), 0);
	assert_int_equal(back.net.addr, 0x0a4d0080);
	assert_int_equal(back.net.prefix_len, 24);
	assert_memory_equal(back.net.mac, s.net.mac, 6);
	s.net.addr = 0x0a4d00ff; /* the /24's broadcast address */
	assert_int_equal(parse_encoded(&s, &back, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "10.77.0.255/24 is not a unicast host address"));
	s.net.addr = 0x7f000001;
	assert_int_equal(parse_encoded(&s, &back, &err), -EINVAL);
	s.net.addr = 0x0a4d0080;
	s.net.prefix_len = 31;
	assert_int_equal(parse_encoded(&s, &back, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "expected 8 to 30"));
	s.net.prefix_len = 24;
	s.net.mac[0] = 0x03; /* multicast */
	assert_int_equal(parse_encoded(&s, &back, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a unicast address"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_carries_the_address_and_refuses_bad_ones),
		cmocka_unit_test(test_spec_round_trip),
		cmocka_unit_test(test_spec_refusals),
		cmocka_unit_test(test_probe_parse),
		cmocka_unit_test(test_oci_config),
		cmocka_unit_test(test_runtime_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
