/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The value parsers used on CLI arguments and files: rates, numbers, addresses, names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/manager.h"
#include "ferry/parse.h"
#include "ferry/registry.h"
#include "ferry/server.h"
#include "ferry/trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool manager_is_key(const char *key)
{
	return ferry_manager_is_key(key);
}

static int manager_set(void *arg, const char *key, const char *value, struct ferry_err *err)
{
	return ferry_manager_set(arg, key, value, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[256], back[32];
	struct ferry_err err = { 0 };
	uint64_t v, again;
	uint32_t a;
	unsigned len;

	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ferry_parse_rate(s, &v, &err) == 0) {
		if (v < FERRY_RATE_MIN || v > FERRY_RATE_MAX)
			abort();
		/* What we print, we must read back to the same value. */
		if (ferry_parse_rate(ferry_format_rate(v, back, sizeof(back)), &again, &err) < 0 || again != v)
			abort();
	}
	if (ferry_parse_u64(s, 3, 1000, "n", &v, &err) == 0 && (v < 3 || v > 1000))
		abort();
	if (ferry_parse_ipv4(s, &a, &err) == 0) {
		char text[16];
		if (strcmp(ferry_format_ipv4(a, text), s) != 0)
			abort();
	}
	ferry_parse_ipv4_prefix(s, 16, 29, &a, &len, &err);
	if (ferry_check_name(s, 31, "x", &err) == 0 && (strlen(s) > 31 || s[0] < 'a' || s[0] > 'z'))
		abort();
	/* The node's allowlist file and the daemons' limits file. */
	{
		static struct ferry_peer peers[FERRY_ALLOWLIST_MAX];
		struct ferry_server_limits l;
		unsigned n;

		if (ferry_allowlist_parse(s, &v, peers, &n, &err) == 0 && n > FERRY_ALLOWLIST_MAX)
			abort();
		ferry_server_limits_default(&l);
		ferry_server_limits_parse(&l, s, &err);
		/* The same file with the fabric keys: whatever it accepts is consistent. */
		{
			struct ferry_fabric f;
			struct ferry_netaddr na;

			ferry_fabric_default(&f);
			if (ferry_config_parse(s, &l, &f, &err) == 0 && f.has_pool) {
				if (ferry_fabric_pick(&f, NULL, 0, &na, &err) == 0 &&
				    ((na.addr & (~0U << (32 - f.pool_len))) != f.pool || na.prefix_len != f.subnet_len))
					abort();
			}
		}
		ferry_parse_duration(s, 10, 3600, "ttl", &v, &err);
		/* The controller's configuration with the migration manager's keys: what it accepts holds together. */
		{
			struct ferry_manager_config m;
			struct ferry_config_keys keys = {
				.is_key = manager_is_key, .set = manager_set, .arg = &m, .names = "manager keys"
			};
			struct ferry_fabric f;
			uint32_t us;

			ferry_fabric_default(&f);
			ferry_manager_config_default(&m);
			if (ferry_config_parse_with(s, &l, &f, &keys, &err) == 0 &&
			    ferry_manager_check(&m, &err) == 0 &&
			    (m.fast_sample_ms > m.sample_ms || m.check_ms < m.fast_sample_ms ||
			     m.hysteresis_percent > 90 || (m.policy[0] && !ferry_policy_find(m.policy, NULL))))
				abort();
			if (ferry_parse_latency(s, &us, &err) == 0 && us > FERRY_LATENCY_MAX_US)
				abort();
			/* The controller's store file: an accepted URL is bounded, printable and asks for verified TLS.
			 */
			if (ferry_registry_check_url(s, &err) == 0 &&
			    (strlen(s) > FERRY_REGISTRY_URL_MAX || !strstr(s, "sslmode=verify-full")))
				abort();
		}
	}
	return 0;
}
