/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ferry/parse.h"

/* Longest value we quote back in an error: keeps hostile input out of logs' way. */
#define QUOTE_MAX 64

static const char *quoted(const char *s, char buf[QUOTE_MAX + 4])
{
	size_t n = strnlen(s, QUOTE_MAX + 1), i;

	for (i = 0; i < n && i < QUOTE_MAX; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (n > QUOTE_MAX) {
		memcpy(buf + QUOTE_MAX, "...", 4);
		return buf;
	}
	buf[i] = '\0';
	return buf;
}

int ferry_parse_u64(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *ret_value,
                    struct ferry_err *err)
{
	char q[QUOTE_MAX + 4];
	uint64_t v = 0;
	const char *p;

	if (!s || !*s)
		return ferry_err_set(err, -EINVAL, "%s is empty; expected a whole number from %" PRIu64 " to %" PRIu64,
		                     what, min, max);
	for (p = s; *p; p++) {
		unsigned d;

		if (*p < '0' || *p > '9')
			return ferry_err_set(err, -EINVAL,
			                     "%s '%s' is not a whole number; expected %" PRIu64 " to %" PRIu64, what,
			                     quoted(s, q), min, max);
		d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			goto range;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		goto range;
	*ret_value = v;
	return 0;
range:
	return ferry_err_set(err, -ERANGE, "%s '%s' is out of range; expected %" PRIu64 " to %" PRIu64, what,
	                     quoted(s, q), min, max);
}

static const struct {
	const char *unit;
	uint64_t bits; /* bits per second for one unit */
} rate_units[] = {
	{ "bit", 1ULL },           { "kbit", 1000ULL },          { "mbit", 1000000ULL },
	{ "gbit", 1000000000ULL }, { "tbit", 1000000000000ULL }, { "bps", 8ULL },
	{ "kbps", 8000ULL },       { "mbps", 8000000ULL },       { "gbps", 8000000000ULL },
};

/* A decimal with a fraction, e.g. 1.25; the rest of the text (the unit) is left at *end. */
struct decimal {
	uint64_t whole, frac, frac_div; /* value = whole + frac / frac_div */
	const char *end;
};

/* 0, or -ERANGE (whole part past whole_max), -EINVAL (no digits, or more than max_decimals decimals). */
static int parse_decimal(const char *s, uint64_t whole_max, unsigned max_decimals, struct decimal *d)
{
	const char *p = s;
	size_t digits = 0;

	*d = (struct decimal){ .frac_div = 1 };
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (d->whole > whole_max)
			return -ERANGE;
		d->whole = d->whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		for (unsigned n = 0; *p >= '0' && *p <= '9'; p++, digits++, n++) {
			if (n == max_decimals)
				return -EINVAL;
			d->frac = d->frac * 10 + (uint64_t)(*p - '0');
			d->frac_div *= 10;
		}
	}
	d->end = p;
	return digits ? 0 : -EINVAL;
}

int ferry_parse_rate(const char *s, uint64_t *ret_bits_per_sec, struct ferry_err *err)
{
	static const char accepted[] = "a number with a unit: bit, kbit, mbit, gbit, tbit (bits/s) or bps, kbps, "
	                               "mbps, gbps (bytes/s), e.g. 100mbit";
	char q[QUOTE_MAX + 4];
	struct decimal d;
	int r;

	if (!s || !*s)
		return ferry_err_set(err, -EINVAL, "rate is empty; expected %s", accepted);
	if ((r = parse_decimal(s, (UINT64_MAX / 10) - 10, 9, &d)) == -ERANGE)
		goto range;
	if (r < 0)
		return ferry_err_set(err, -EINVAL,
		                     "rate '%s' is not a number (up to 9 decimals) with a unit; expected %s",
		                     quoted(s, q), accepted);
	for (size_t i = 0; i < sizeof(rate_units) / sizeof(rate_units[0]); i++) {
		uint64_t mult = rate_units[i].bits, bits;

		if (strcasecmp(d.end, rate_units[i].unit) != 0)
			continue;
		if (d.whole > FERRY_RATE_MAX / mult + 1)
			goto range;
		bits = d.whole * mult + (d.frac * mult) / d.frac_div;
		if (bits < FERRY_RATE_MIN || bits > FERRY_RATE_MAX)
			goto range;
		*ret_bits_per_sec = bits;
		return 0;
	}
	return ferry_err_set(err, -EINVAL, "rate '%s' has no known unit; expected %s", quoted(s, q), accepted);
range:
	return ferry_err_set(err, -ERANGE, "rate '%s' is out of range; expected 8kbit to 400gbit", quoted(s, q));
}

int ferry_parse_latency(const char *s, uint32_t *ret_us, struct ferry_err *err)
{
	static const char accepted[] = "a number with a unit: us, ms or s, e.g. 2ms, from 0 to 10s";
	static const struct {
		const char *unit;
		uint64_t us;
	} units[] = { { "us", 1 }, { "ms", 1000 }, { "s", 1000000 } };
	char q[QUOTE_MAX + 4];
	struct decimal d;
	int r;

	if (!s || !*s)
		return ferry_err_set(err, -EINVAL, "latency is empty; expected %s", accepted);
	if ((r = parse_decimal(s, FERRY_LATENCY_MAX_US, 3, &d)) == -ERANGE)
		goto range;
	if (r < 0)
		return ferry_err_set(err, -EINVAL,
		                     "latency '%s' is not a number (up to 3 decimals) with a unit; expected %s",
		                     quoted(s, q), accepted);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t us;

		if (strcasecmp(d.end, units[i].unit) != 0)
			continue;
		if (d.whole > FERRY_LATENCY_MAX_US / units[i].us)
			goto range;
		us = d.whole * units[i].us + d.frac * units[i].us / d.frac_div;
		if (us > FERRY_LATENCY_MAX_US)
			goto range;
		*ret_us = (uint32_t)us;
		return 0;
	}
	return ferry_err_set(err, -EINVAL, "latency '%s' has no known unit; expected %s", quoted(s, q), accepted);
range:
	return ferry_err_set(err, -ERANGE, "latency '%s' is out of range; expected 0 to 10s", quoted(s, q));
}

const char *ferry_format_latency(uint32_t us, char *buf, size_t len)
{
	if (us % 1000000 == 0 && us)
		snprintf(buf, len, "%us", us / 1000000);
	else if (us % 1000 == 0)
		snprintf(buf, len, "%ums", us / 1000);
	else
		snprintf(buf, len, "%uus", us);
	return buf;
}

const char *ferry_format_rate(uint64_t bps, char *buf, size_t len)
{
	static const struct {
		uint64_t div;
		const char *unit;
	} units[] = { { UINT64_C(1000000000), "gbit" }, { UINT64_C(1000000), "mbit" }, { UINT64_C(1000), "kbit" } };

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (bps % units[i].div == 0) {
			snprintf(buf, len, "%" PRIu64 "%s", bps / units[i].div, units[i].unit);
			return buf;
		}
	}
	if (0)
		;
	else
		snprintf(buf, len, "%" PRIu64 "bit", bps);
	return buf;
}

int ferry_check_name(const char *s, size_t max_len, const char *what, struct ferry_err *err)
{
	char q[QUOTE_MAX + 4];
	size_t n;

	if (!s || !*s)
		return ferry_err_set(err, -EINVAL, "%s name is empty; expected 1 to %zu characters of a-z, 0-9 and '-'",
		                     what, max_len);
	n = strnlen(s, max_len + 1);
	if (n > max_len)
		return ferry_err_set(err, -EINVAL, "%s name '%s' is longer than %zu characters", what, quoted(s, q),
		                     max_len);
	if (s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			goto bad;
	return 0;
bad:
	return ferry_err_set(err, -EINVAL,
	                     "%s name '%s' is not accepted; expected a-z, 0-9 and '-', starting with a letter and not "
	                     "ending with '-'",
	                     what, quoted(s, q));
}

int ferry_parse_ipv4(const char *s, uint32_t *ret_addr, struct ferry_err *err)
{
	char q[QUOTE_MAX + 4];
	uint32_t addr = 0;
	const char *p = s;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part > 0) {
			if (*p != '.')
				goto bad;
			p++;
		}
		for (; *p >= '0' && *p <= '9'; p++) {
			if (++digits > 3 || (digits > 1 && v == 0))
				goto bad; /* no leading zeros: "010" is ambiguous (octal to inet_aton) */
			v = v * 10 + (unsigned)(*p - '0');
		}
		if (digits == 0 || v > 255)
			goto bad;
		addr = (addr << 8) | v;
	}
	if (*p)
		goto bad;
	*ret_addr = addr;
	return 0;
bad:
	return ferry_err_set(err, -EINVAL, "'%s' is not an IPv4 address; expected dotted decimal like 10.77.0.11",
	                     s ? quoted(s, q) : "");
}

int ferry_parse_ipv4_prefix(const char *s, unsigned min_len, unsigned max_len, uint32_t *ret_net, unsigned *ret_len,
                            struct ferry_err *err)
{
	char q[QUOTE_MAX + 4], addr_part[16];
	const char *slash = s ? strchr(s, '/') : NULL;
	uint64_t len;
	uint32_t addr, mask;
	size_t n;
	int r;

	if (!slash || (n = (size_t)(slash - s)) >= sizeof(addr_part))
		return ferry_err_set(err, -EINVAL,
		                     "'%s' is not an IPv4 prefix; expected address/length like 10.77.0.0/24",
		                     s ? quoted(s, q) : "");
	memcpy(addr_part, s, n);
	addr_part[n] = '\0';
	r = ferry_parse_ipv4(addr_part, &addr, err);
	if (r < 0)
		return r;
	r = ferry_parse_u64(slash + 1, min_len, max_len, "prefix length", &len, err);
	if (r < 0)
		return r;
	mask = len == 0 ? 0 : ~0U << (32 - len);
	if (addr & ~mask)
		return ferry_err_set(err, -EINVAL, "prefix '%s' has host bits set; expected the network address",
		                     quoted(s, q));
	*ret_net = addr;
	*ret_len = (unsigned)len;
	return 0;
}

const char *ferry_format_ipv4(uint32_t a, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
	return buf;
}

int ferry_parse_duration(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *ret_seconds,
                         struct ferry_err *err)
{
	char q[QUOTE_MAX + 4], digits[24];
	size_t n = s ? strspn(s, "0123456789") : 0;
	uint64_t v, mult = 1;

	if (!s || n == 0 || n >= sizeof(digits) || (s[n] && s[n + 1]) || !strchr("smh", s[n]))
		return ferry_err_set(err, -EINVAL,
		                     "%s '%s' is not a duration; expected a number with s, m or h, e.g. 10m", what,
		                     s ? quoted(s, q) : "");
	memcpy(digits, s, n);
	digits[n] = '\0';
	mult = s[n] == 'h' ? 3600 : s[n] == 'm' ? 60 : 1;
	if (ferry_parse_u64(digits, 0, UINT64_MAX / 3600, what, &v, NULL) < 0 || v * mult < min || v * mult > max)
		return ferry_err_set(err, -ERANGE, "%s '%s' is out of range; expected %llu s to %llu s", what,
		                     quoted(s, q), (unsigned long long)min, (unsigned long long)max);
	*ret_seconds = v * mult;
	return 0;
}
