/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/parse.h"
#include "ferry/spec.h"

int ferry_spec_encode(const struct ferry_spec *s, struct ferry_buf *out)
{
	int r = ferry_tlv_add_str(out, FERRY_TAG_CONTAINER, s->name);

	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_IMAGE, s->image);
	for (unsigned i = 0; r == 0 && i < s->n_layers; i++)
		r = ferry_tlv_add(out, FERRY_TAG_LAYER, s->layers[i], 32);
	for (unsigned i = 0; r == 0 && i < s->argc; i++)
		r = ferry_tlv_add_str(out, FERRY_TAG_ARG, s->args[i]);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_MEMORY, s->memory);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_FLAGS, s->flags);
	if (r == 0 && s->probe[0])
		r = ferry_tlv_add_str(out, FERRY_TAG_PROBE, s->probe);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_GENERATION, s->generation);
	if (r == 0 && s->net.addr) {
		uint8_t a[5] = { (uint8_t)(s->net.addr >> 24), (uint8_t)(s->net.addr >> 16),
			         (uint8_t)(s->net.addr >> 8), (uint8_t)s->net.addr, (uint8_t)s->net.prefix_len };

		r = ferry_tlv_add(out, FERRY_TAG_NET_ADDR, a, sizeof(a));
		r = r ? r : ferry_tlv_add(out, FERRY_TAG_MAC, s->net.mac, 6);
	}
	return r;
}

/* A fabric address: unicast, a prefix of 8..30 that leaves it a host address, a unicast MAC. */
static int net_from_tlv(const struct ferry_tlv_list *l, struct ferry_netaddr *n, struct ferry_err *err)
{
	uint8_t a[5];
	uint32_t mask, top;
	char q[16];
	int r;

	memset(n, 0, sizeof(*n));
	if (!ferry_tlv_find(l, FERRY_TAG_NET_ADDR) && !ferry_tlv_find(l, FERRY_TAG_MAC))
		return 0;
	if ((r = ferry_tlv_get_fixed(l, FERRY_TAG_NET_ADDR, a, sizeof(a), err)) < 0 ||
	    (r = ferry_tlv_get_fixed(l, FERRY_TAG_MAC, n->mac, 6, err)) < 0)
		return r;
	n->addr = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	n->prefix_len = a[4];
	top = n->addr >> 24;
	if (n->prefix_len < 8 || n->prefix_len > 30)
		return ferry_err_set(err, -EINVAL, "fabric prefix length %u is out of range; expected 8 to 30",
		                     n->prefix_len);
	mask = ~0U << (32 - n->prefix_len);
	if (top == 0 || top == 127 || top >= 224 || (n->addr & ~mask) == 0 || (n->addr & ~mask) == ~mask)
		return ferry_err_set(err, -EINVAL, "%s/%u is not a unicast host address", ferry_format_ipv4(n->addr, q),
		                     n->prefix_len);
	if (n->mac[0] & 1 || !(n->mac[0] | n->mac[1] | n->mac[2] | n->mac[3] | n->mac[4] | n->mac[5]))
		return ferry_err_set(err, -EINVAL, "the container's MAC is not a unicast address");
	return 0;
}

int ferry_probe_parse(const char *s, enum ferry_probe_kind *kind, uint16_t *port, struct ferry_err *err)
{
	uint64_t p;
	int r;

	if (!s[0]) {
		*kind = FERRY_PROBE_NONE;
		return 0;
	}
	if (strncmp(s, "tcp:", 4) == 0) {
		if ((r = ferry_parse_u64(s + 4, 1, 65535, "probe port", &p, err)) < 0)
			return r;
		*kind = FERRY_PROBE_TCP;
		*port = (uint16_t)p;
		return 0;
	}
	if (strncmp(s, "exec:", 5) == 0 && s[5] == '/') {
		*kind = FERRY_PROBE_EXEC;
		return 0;
	}
	return ferry_err_set(err, -EINVAL,
	                     "readiness probe '%.64s' is not understood; expected tcp:PORT or exec:/PATH ARGS", s);
}

int ferry_spec_from_tlv(const struct ferry_tlv_list *l, struct ferry_spec *ret, struct ferry_err *err)
{
	struct ferry_spec *s = calloc(1, sizeof(*s));
	enum ferry_probe_kind kind;
	uint16_t port;
	int r;

	if (!s)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = ferry_tlv_get_str(l, FERRY_TAG_CONTAINER, s->name, sizeof(s->name), err)) < 0 ||
	    (r = ferry_check_name(s->name, FERRY_CONTAINER_NAME_MAX, "container", err)) < 0 ||
	    (r = ferry_tlv_get_str(l, FERRY_TAG_IMAGE, s->image, sizeof(s->image), err)) < 0 ||
	    (r = ferry_check_name(s->image, FERRY_CONTAINER_NAME_MAX, "image", err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_MEMORY, &s->memory, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_FLAGS, &s->flags, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_GENERATION, &s->generation, err)) < 0)
		goto out;
	if (ferry_tlv_find(l, FERRY_TAG_PROBE) &&
	    (r = ferry_tlv_get_str(l, FERRY_TAG_PROBE, s->probe, sizeof(s->probe), err)) < 0)
		goto out;
	if ((r = ferry_probe_parse(s->probe, &kind, &port, err)) < 0 || (r = net_from_tlv(l, &s->net, err)) < 0)
		goto out;
	if (s->memory < FERRY_SPEC_MEMORY_MIN || s->memory > FERRY_SPEC_MEMORY_MAX) {
		r = ferry_err_set(err, -ERANGE, "memory limit %llu bytes is out of range; expected 4 MiB to 1 TiB",
		                  (unsigned long long)s->memory);
		goto out;
	}
	if (s->flags & ~FERRY_SPEC_STATELESS) {
		r = ferry_err_set(err, -EINVAL, "unknown container flags 0x%llx", (unsigned long long)s->flags);
		goto out;
	}
	for (unsigned i = 0; i < l->n; i++) {
		const struct ferry_tlv *t = &l->items[i];

		if (t->tag == FERRY_TAG_LAYER) {
			if (s->n_layers == FERRY_SPEC_LAYERS_MAX || t->len != 32) {
				r = ferry_err_set(err, -EPROTO, "bad layer list (at most %d digests of 32 bytes)",
				                  FERRY_SPEC_LAYERS_MAX);
				goto out;
			}
			memcpy(s->layers[s->n_layers++], t->value, 32);
		} else if (t->tag == FERRY_TAG_ARG) {
			if (s->argc == FERRY_SPEC_ARGS_MAX) {
				r = ferry_err_set(err, -E2BIG, "more than %d command arguments", FERRY_SPEC_ARGS_MAX);
				goto out;
			}
			if ((r = ferry_tlv_item_str(t, s->args[s->argc], sizeof(s->args[0]), err)) < 0)
				goto out;
			s->argc++;
		}
	}
	if (s->n_layers == 0 || s->argc == 0 || s->args[0][0] != '/') {
		r = ferry_err_set(err, -EINVAL,
		                  "a container needs at least one layer and a command given by absolute path");
		goto out;
	}
	*ret = *s;
out:
	free(s);
	return r;
}

int ferry_spec_parse(const uint8_t *p, size_t len, struct ferry_spec *ret, struct ferry_err *err)
{
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	int r;

	if (!l)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	r = ferry_tlv_parse(p, len, l, err);
	if (r == 0)
		r = ferry_spec_from_tlv(l, ret, err);
	free(l);
	return r;
}
