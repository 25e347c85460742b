/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ferry/fabric.h"
#include "ferry/parse.h"

static const char *const keys[] = { "fabric",     "fabric_bridge", "fabric_address", "vxlan_id",
	                            "vxlan_port", "vxlan_peer",    "fabric_subnet",  "fabric_pool" };

void ferry_fabric_default(struct ferry_fabric *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->bridge, sizeof(f->bridge), "%s", FERRY_FABRIC_BRIDGE_DEFAULT);
	f->vni = FERRY_FABRIC_VNI_DEFAULT;
	f->port = FERRY_FABRIC_PORT_DEFAULT;
}

const char *ferry_fabric_kind_name(enum ferry_fabric_kind k)
{
	switch (k) {
	case FERRY_FABRIC_BRIDGE:
		return "bridge";
	case FERRY_FABRIC_VXLAN:
		return "vxlan";
	default:
		return "none";
	}
}

bool ferry_fabric_is_key(const char *key)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

/* Interface names: 1..15 of [a-zA-Z0-9_-], the kernel's limit and nothing a shell or ip(8) reads twice. */
static int check_ifname(const char *s, struct ferry_err *err)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n ||
	    s[0] == '-')
		return ferry_err_set(err, -EINVAL,
		                     "fabric_bridge '%.32s' is not an interface name; expected 1 to 15 of "
		                     "letters, digits, '_' and '-'",
		                     s);
	return 0;
}

static int parse_address(const char *value, uint32_t *addr, unsigned *len, struct ferry_err *err)
{
	char host[32];
	const char *slash = strchr(value, '/');
	uint64_t l;
	size_t n = slash ? (size_t)(slash - value) : 0;

	if (!slash || n >= sizeof(host))
		return ferry_err_set(err, -EINVAL,
		                     "fabric_address '%.40s' is not an address with its prefix; expected like "
		                     "10.250.0.2/16",
		                     value);
	memcpy(host, value, n);
	host[n] = '\0';
	if (ferry_parse_ipv4(host, addr, err) < 0 || ferry_parse_u64(slash + 1, 8, 30, "prefix length", &l, err) < 0)
		return ferry_err_wrap(err, "fabric_address");
	*len = (unsigned)l;
	return 0;
}

int ferry_fabric_set(struct ferry_fabric *f, const char *key, const char *value, struct ferry_err *err)
{
	uint64_t v;
	uint32_t a;
	int r;

	if (strcmp(key, "fabric") == 0) {
		if (strcmp(value, "none") == 0)
			f->kind = FERRY_FABRIC_NONE;
		else if (strcmp(value, "bridge") == 0)
			f->kind = FERRY_FABRIC_BRIDGE;
		else if (strcmp(value, "vxlan") == 0)
			f->kind = FERRY_FABRIC_VXLAN;
		else
			return ferry_err_set(err, -EINVAL, "fabric '%.32s' is unknown; expected none, bridge or vxlan",
			                     value);
		return 0;
	}
	if (strcmp(key, "fabric_bridge") == 0) {
		if ((r = check_ifname(value, err)) < 0)
			return r;
		snprintf(f->bridge, sizeof(f->bridge), "%s", value);
		return 0;
	}
	if (strcmp(key, "fabric_address") == 0) {
		if ((r = parse_address(value, &f->address, &f->address_len, err)) < 0)
			return r;
		f->has_address = true;
		return 0;
	}
	if (strcmp(key, "vxlan_id") == 0) {
		if ((r = ferry_parse_u64(value, 1, (1U << 24) - 1, "vxlan_id", &v, err)) < 0)
			return r;
		f->vni = (uint32_t)v;
		return 0;
	}
	if (strcmp(key, "vxlan_port") == 0) {
		if ((r = ferry_parse_u64(value, 1, 65535, "vxlan_port", &v, err)) < 0)
			return r;
		f->port = (uint16_t)v;
		return 0;
	}
	if (strcmp(key, "vxlan_peer") == 0) {
		if ((r = ferry_parse_ipv4(value, &a, err)) < 0)
			return ferry_err_wrap(err, "vxlan_peer");
		for (unsigned i = 0; i < f->n_peers; i++)
			if (f->peers[i] == a)
				return ferry_err_set(err, -EINVAL, "vxlan_peer %.20s is listed twice", value);
		if (f->n_peers >= FERRY_FABRIC_PEERS_MAX)
			return ferry_err_set(err, -E2BIG, "more than %d vxlan_peer lines", FERRY_FABRIC_PEERS_MAX);
		f->peers[f->n_peers++] = a;
		return 0;
	}
	if (strcmp(key, "fabric_subnet") == 0) {
		if ((r = ferry_parse_ipv4_prefix(value, 8, 30, &f->subnet, &f->subnet_len, err)) < 0)
			return ferry_err_wrap(err, "fabric_subnet");
		return 0;
	}
	if (strcmp(key, "fabric_pool") == 0) {
		if ((r = ferry_parse_ipv4_prefix(value, 8, 30, &f->pool, &f->pool_len, err)) < 0)
			return ferry_err_wrap(err, "fabric_pool");
		f->has_pool = true;
		return 0;
	}
	return ferry_err_set(err, -ENOENT,
	                     "unknown key '%.64s'; the fabric keys are fabric, fabric_bridge, fabric_address, "
	                     "vxlan_id, vxlan_port, vxlan_peer, fabric_subnet and fabric_pool",
	                     key);
}

static uint32_t mask_of(unsigned len)
{
	return len == 0 ? 0 : ~0U << (32 - len);
}

int ferry_fabric_check(const struct ferry_fabric *f, struct ferry_err *err)
{
	char a[16], b[16];

	if (f->kind == FERRY_FABRIC_VXLAN && !f->has_address)
		return ferry_err_set(err, -EINVAL,
		                     "fabric = vxlan needs fabric_address (this host's address on the overlay, "
		                     "like 10.250.0.2/16)");
	if (f->has_pool && !f->subnet_len)
		return ferry_err_set(err, -EINVAL, "fabric_pool needs fabric_subnet (the containers' on-link prefix)");
	if (f->has_pool && (f->pool_len < f->subnet_len || (f->pool & mask_of(f->subnet_len)) != f->subnet))
		return ferry_err_set(err, -EINVAL, "fabric_pool %s/%u is not inside fabric_subnet %s/%u",
		                     ferry_format_ipv4(f->pool, a), f->pool_len, ferry_format_ipv4(f->subnet, b),
		                     f->subnet_len);
	return 0;
}

void ferry_fabric_mac(uint32_t addr, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0xfe;
	mac[2] = (uint8_t)(addr >> 24);
	mac[3] = (uint8_t)(addr >> 16);
	mac[4] = (uint8_t)(addr >> 8);
	mac[5] = (uint8_t)addr;
}

int ferry_fabric_pick(const struct ferry_fabric *f, const uint32_t *used, size_t n_used, struct ferry_netaddr *ret,
                      struct ferry_err *err)
{
	uint32_t first = f->pool, last = f->pool | ~mask_of(f->pool_len);
	uint32_t net = f->subnet, bcast = f->subnet | ~mask_of(f->subnet_len);
	char a[16];

	if (!f->has_pool)
		return ferry_err_set(err, -ENOENT, "no fabric_pool is configured");
	for (uint64_t c = first; c <= last; c++) {
		bool taken = (uint32_t)c == net || (uint32_t)c == bcast;

		for (size_t i = 0; i < n_used && !taken; i++)
			taken = used[i] == (uint32_t)c;
		if (taken)
			continue;
		ret->addr = (uint32_t)c;
		ret->prefix_len = f->subnet_len;
		ferry_fabric_mac(ret->addr, ret->mac);
		return 0;
	}
	return ferry_err_set(err, -ENOSPC, "every address of fabric_pool %s/%u is in use",
	                     ferry_format_ipv4(f->pool, a), f->pool_len);
}

const char *ferry_format_mac(const uint8_t mac[6], char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}
