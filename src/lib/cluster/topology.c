/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/parse.h"
#include "ferry/topology.h"

#define MAX_TOKENS 12

/* Parsing state that the finished topology does not need. */
struct parser {
	struct ferry_topology *t;
	bool addr_given[FERRY_TOPO_MAX_NODES];
	bool have_subnet, have_fabric;
	unsigned line_no;
	struct ferry_err *err;
};

int ferry_topology_find_node(const struct ferry_topology *t, const char *name)
{
	for (unsigned i = 0; i < t->n_nodes; i++)
		if (strcmp(t->nodes[i].name, name) == 0)
			return (int)i;
	return -1;
}

int ferry_topology_find_switch(const struct ferry_topology *t, const char *name)
{
	for (unsigned i = 0; i < t->n_switches; i++)
		if (strcmp(t->switches[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int fail(struct parser *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct parser *p, int code, const char *fmt, ...)
{
	char msg[FERRY_ERR_MSG_MAX - 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ferry_err_set(p->err, code, "topology line %u: %s", p->line_no, msg);
}

static int wrap(struct parser *p, int r)
{
	ferry_err_wrap(p->err, "topology line %u", p->line_no);
	return r;
}

static int name_arg(struct parser *p, const char *s, const char *what)
{
	int r = ferry_check_name(s, FERRY_TOPO_NAME_MAX, what, p->err);

	return r < 0 ? wrap(p, r) : 0;
}

static int switch_arg(struct parser *p, const char *s)
{
	int i = ferry_topology_find_switch(p->t, s);

	if (i < 0) {
		int r = name_arg(p, s, "switch");
		if (r < 0)
			return r;
		return fail(p, -EINVAL, "switch '%s' is not declared; declare it with 'switch %s' first", s, s);
	}
	return i;
}

/* "fabric bridge|vxlan|none": how containers' addresses reach across hosts (ferry/fabric.h). */
static int parse_fabric(struct parser *p, char **tok, int n)
{
	char q[24];

	if (n != 2)
		return fail(p, -EINVAL, "expected 'fabric bridge', 'fabric vxlan' or 'fabric none'");
	if (p->have_fabric)
		return fail(p, -EINVAL, "fabric is given twice");
	snprintf(q, sizeof(q), "%s", tok[1]);
	if (strcmp(tok[1], "bridge") == 0)
		p->t->fabric = FERRY_FABRIC_BRIDGE;
	else if (strcmp(tok[1], "vxlan") == 0)
		p->t->fabric = FERRY_FABRIC_VXLAN;
	else if (strcmp(tok[1], "none") == 0)
		p->t->fabric = FERRY_FABRIC_NONE;
	else
		return fail(p, -EINVAL, "fabric '%s' is unknown; expected bridge, vxlan or none", q);
	p->have_fabric = true;
	return 0;
}

static int parse_subnet(struct parser *p, char **tok, int n)
{
	int r;

	if (n != 2)
		return fail(p, -EINVAL, "expected 'subnet A.B.C.D/LEN'");
	if (p->have_subnet)
		return fail(p, -EINVAL, "subnet is given twice");
	if (p->t->n_nodes > 0)
		return fail(p, -EINVAL, "subnet must come before the first host, client or controller");
	/* /16 .. /29: big enough for a lab, small enough to keep address math simple. */
	r = ferry_parse_ipv4_prefix(tok[1], 16, 29, &p->t->subnet, &p->t->prefix_len, p->err);
	if (r < 0)
		return wrap(p, r);
	p->have_subnet = true;
	return 0;
}

static int parse_switch(struct parser *p, char **tok, int n)
{
	struct ferry_topology *t = p->t;
	int r;

	if (n != 2)
		return fail(p, -EINVAL, "expected 'switch NAME'");
	r = name_arg(p, tok[1], "switch");
	if (r < 0)
		return r;
	if (ferry_topology_find_switch(t, tok[1]) >= 0)
		return fail(p, -EEXIST, "switch '%s' is declared twice", tok[1]);
	if (t->n_switches >= FERRY_TOPO_MAX_SWITCHES)
		return fail(p, -E2BIG, "too many switches (at most 16)");
	snprintf(t->switches[t->n_switches++].name, FERRY_TOPO_NAME_MAX + 1, "%s", tok[1]);
	return 0;
}

static int parse_rate_opt(struct parser *p, const char *v, uint64_t *ret)
{
	int r = ferry_parse_rate(v, ret, p->err);

	return r < 0 ? wrap(p, r) : 0;
}

static int parse_latency_opt(struct parser *p, const char *v, uint32_t *ret)
{
	int r = ferry_parse_latency(v, ret, p->err);

	return r < 0 ? wrap(p, r) : 0;
}

/* link SW SW [rate R] [latency L] */
static int parse_link(struct parser *p, char **tok, int n)
{
	struct ferry_topology *t = p->t;
	struct ferry_topo_link l = { 0 };
	bool have_rate = false, have_latency = false;
	int a, b, r;

	if (n < 3 || n % 2 == 0)
		return fail(p, -EINVAL, "expected 'link SWITCH SWITCH [rate RATE] [latency LATENCY]'");
	if ((a = switch_arg(p, tok[1])) < 0)
		return a;
	if ((b = switch_arg(p, tok[2])) < 0)
		return b;
	if (a == b)
		return fail(p, -EINVAL, "link joins switch '%s' to itself", tok[1]);
	for (unsigned i = 0; i < t->n_links; i++)
		if ((t->links[i].a == (unsigned)a && t->links[i].b == (unsigned)b) ||
		    (t->links[i].a == (unsigned)b && t->links[i].b == (unsigned)a))
			return fail(p, -EEXIST, "link %s-%s is declared twice", tok[1], tok[2]);
	if (t->n_links >= FERRY_TOPO_MAX_SWITCHES - 1)
		return fail(p, -E2BIG, "too many links (the switches must form a tree)");
	for (int i = 3; i + 1 < n; i += 2) {
		if (strcmp(tok[i], "rate") == 0 && !have_rate) {
			if ((r = parse_rate_opt(p, tok[i + 1], &l.rate_bps)) < 0)
				return r;
			have_rate = true;
		} else if (strcmp(tok[i], "latency") == 0 && !have_latency) {
			if ((r = parse_latency_opt(p, tok[i + 1], &l.latency_us)) < 0)
				return r;
			have_latency = true;
		} else {
			return fail(p, -EINVAL, "unexpected or repeated '%s'; expected rate or latency", tok[i]);
		}
	}
	l.a = (unsigned)a;
	l.b = (unsigned)b;
	t->links[t->n_links++] = l;
	return 0;
}

static int parse_address(struct parser *p, const char *s, uint32_t *ret)
{
	int r = ferry_parse_ipv4(s, ret, p->err);

	return r < 0 ? wrap(p, r) : 0;
}

/*
 * host NAME switch SW [address A] [rate R] [latency L]; client NAME ... the same;
 * controller [NAME] switch SW [address A] ...
 */
static int parse_node(struct parser *p, char **tok, int n, enum ferry_node_role role)
{
	struct ferry_topology *t = p->t;
	struct ferry_topo_node node = { .role = role };
	bool have_switch = false, have_addr = false, have_rate = false, have_latency = false;
	int i = 1, r;

	/* "controller switch S ..." (odd word count) takes the default name. */
	if (role == FERRY_NODE_CONTROLLER && n >= 2 && strcmp(tok[1], "switch") == 0 && n % 2 == 1) {
		snprintf(node.name, sizeof(node.name), "%s", "controller");
	} else {
		if (n < 2)
			return fail(p, -EINVAL, "expected a name after '%s'", tok[0]);
		if ((r = name_arg(p, tok[1], ferry_topology_role_name(role))) < 0)
			return r;
		snprintf(node.name, sizeof(node.name), "%s", tok[1]);
		i = 2;
	}
	if ((n - i) % 2 != 0)
		return fail(p, -EINVAL, "'%s' lacks a value", tok[n - 1]);
	for (; i + 1 < n; i += 2) {
		const char *key = tok[i], *val = tok[i + 1];

		if (strcmp(key, "switch") == 0 && !have_switch) {
			if ((r = switch_arg(p, val)) < 0)
				return r;
			node.sw = (unsigned)r;
			have_switch = true;
		} else if (strcmp(key, "address") == 0 && !have_addr) {
			if ((r = parse_address(p, val, &node.addr)) < 0)
				return r;
			have_addr = true;
		} else if (strcmp(key, "rate") == 0 && !have_rate) {
			if ((r = parse_rate_opt(p, val, &node.rate_bps)) < 0)
				return r;
			have_rate = true;
		} else if (strcmp(key, "latency") == 0 && !have_latency) {
			if ((r = parse_latency_opt(p, val, &node.latency_us)) < 0)
				return r;
			have_latency = true;
		} else {
			return fail(p, -EINVAL,
			            "unexpected or repeated '%s'; expected switch, address, rate or latency", key);
		}
	}
	if (!have_switch)
		return fail(p, -EINVAL, "'%s' needs 'switch NAME'", node.name);
	if (ferry_topology_find_node(t, node.name) >= 0)
		return fail(p, -EEXIST, "node '%s' is declared twice", node.name);
	if (role == FERRY_NODE_CONTROLLER)
		for (unsigned k = 0; k < t->n_nodes; k++)
			if (t->nodes[k].role == FERRY_NODE_CONTROLLER)
				return fail(p, -EEXIST, "only one controller is allowed");
	if (t->n_nodes >= FERRY_TOPO_MAX_NODES)
		return fail(p, -E2BIG, "too many nodes (at most 64)");
	p->addr_given[t->n_nodes] = have_addr;
	t->nodes[t->n_nodes++] = node;
	return 0;
}

static int parse_line(struct parser *p, char *line)
{
	char *tok[MAX_TOKENS + 1];
	int n = 0;

	for (char *s = line; *s;) {
		while (*s == ' ' || *s == '\t')
			*s++ = '\0';
		if (!*s || *s == '#')
			break;
		if (n == MAX_TOKENS)
			return fail(p, -E2BIG, "too many words (at most 12)");
		tok[n++] = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
	for (char *s = line; n > 0 && *s; s++)
		if (*s == '#')
			*s = '\0'; /* trailing comment glued to the last word */
	if (n == 0)
		return 0;
	if (strcmp(tok[0], "subnet") == 0)
		return parse_subnet(p, tok, n);
	if (strcmp(tok[0], "switch") == 0)
		return parse_switch(p, tok, n);
	if (strcmp(tok[0], "fabric") == 0)
		return parse_fabric(p, tok, n);
	if (strcmp(tok[0], "link") == 0)
		return parse_link(p, tok, n);
	if (strcmp(tok[0], "host") == 0)
		return parse_node(p, tok, n, FERRY_NODE_HOST);
	if (strcmp(tok[0], "controller") == 0)
		return parse_node(p, tok, n, FERRY_NODE_CONTROLLER);
	if (strcmp(tok[0], "client") == 0)
		return parse_node(p, tok, n, FERRY_NODE_CLIENT);
	char q[24];
	snprintf(q, sizeof(q), "%s", tok[0]);
	return fail(p, -EINVAL,
	            "unknown keyword '%s'; expected subnet, fabric, switch, link, host, client or controller", q);
}

/* Switch links must join all switches into one tree: one L2 domain, no loops (no STP here). */
static int check_tree(struct parser *p)
{
	struct ferry_topology *t = p->t;
	unsigned parent[FERRY_TOPO_MAX_SWITCHES];

	for (unsigned i = 0; i < t->n_switches; i++)
		parent[i] = i;
	for (unsigned i = 0; i < t->n_links; i++) {
		unsigned a = t->links[i].a, b = t->links[i].b;

		while (parent[a] != a)
			a = parent[a];
		while (parent[b] != b)
			b = parent[b];
		if (a == b)
			return ferry_err_set(p->err, -EINVAL,
			                     "topology: link %s-%s closes a loop; switch links must form a tree",
			                     t->switches[t->links[i].a].name, t->switches[t->links[i].b].name);
		parent[a] = b;
	}
	for (unsigned i = 1; i < t->n_switches; i++) {
		unsigned a = 0, b = i;

		while (parent[a] != a)
			a = parent[a];
		while (parent[b] != b)
			b = parent[b];
		if (a != b)
			return ferry_err_set(p->err, -EINVAL,
			                     "topology: switch '%s' is not linked to switch '%s'; all switches must be "
			                     "joined by links",
			                     t->switches[i].name, t->switches[0].name);
	}
	return 0;
}

static bool addr_used(const struct ferry_topology *t, uint32_t a, unsigned upto, const bool *given)
{
	if (a == t->gateway)
		return true;
	for (unsigned i = 0; i < t->n_nodes; i++)
		if ((i < upto || given[i]) && t->nodes[i].addr == a)
			return true;
	return false;
}

static int assign_addresses(struct parser *p)
{
	struct ferry_topology *t = p->t;
	uint32_t size = 1U << (32 - t->prefix_len), mask = ~(size - 1);
	uint32_t broadcast = t->subnet | ~mask;
	char a[16], b[16];

	t->gateway = t->subnet + 1;
	for (unsigned i = 0; i < t->n_nodes; i++) {
		if (!p->addr_given[i])
			continue;
		uint32_t addr = t->nodes[i].addr;
		if ((addr & mask) != t->subnet || addr == t->subnet || addr == broadcast)
			return ferry_err_set(p->err, -EINVAL,
			                     "topology: address %s of '%s' is not a host address in subnet %s/%u",
			                     ferry_format_ipv4(addr, a), t->nodes[i].name,
			                     ferry_format_ipv4(t->subnet, b), t->prefix_len);
		if (addr == t->gateway)
			return ferry_err_set(p->err, -EINVAL,
			                     "topology: address %s of '%s' is the gateway's (the first address)",
			                     ferry_format_ipv4(addr, a), t->nodes[i].name);
		for (unsigned k = 0; k < i; k++)
			if (p->addr_given[k] && t->nodes[k].addr == addr)
				return ferry_err_set(p->err, -EEXIST, "topology: '%s' and '%s' share address %s",
				                     t->nodes[k].name, t->nodes[i].name, ferry_format_ipv4(addr, a));
	}
	/* Controller first at .2, hosts from .11 when room allows, else right after. */
	for (unsigned i = 0; i < t->n_nodes; i++) {
		uint32_t next;

		if (p->addr_given[i])
			continue;
		next = t->subnet + (t->nodes[i].role == FERRY_NODE_CONTROLLER ? 2 : (size > 64 ? 11 : 2));
		while (next < broadcast && addr_used(t, next, i, p->addr_given))
			next++;
		if (next >= broadcast)
			return ferry_err_set(p->err, -ENOSPC, "topology: subnet %s/%u has no free address for '%s'",
			                     ferry_format_ipv4(t->subnet, a), t->prefix_len, t->nodes[i].name);
		t->nodes[i].addr = next;
	}
	return 0;
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
	struct ferry_topology *t = p->t;
	char line[FERRY_TOPO_LINE_MAX + 1];
	size_t pos = 0;
	uint32_t net;
	unsigned plen;
	int r;

	if (len > FERRY_TOPO_FILE_MAX)
		return ferry_err_set(p->err, -EFBIG, "topology is larger than %d bytes", FERRY_TOPO_FILE_MAX);
	while (pos < len) {
		size_t end = pos;

		while (end < len && text[end] != '\n')
			end++;
		p->line_no++;
		if (end - pos > FERRY_TOPO_LINE_MAX)
			return fail(p, -E2BIG, "line is longer than 512 bytes");
		if (memchr(text + pos, '\0', end - pos))
			return fail(p, -EINVAL, "line contains a NUL byte");
		memcpy(line, text + pos, end - pos);
		line[end - pos] = '\0';
		if (end > pos && line[end - pos - 1] == '\r')
			line[end - pos - 1] = '\0';
		r = parse_line(p, line);
		if (r < 0)
			return r;
		pos = end + 1;
	}
	if (!p->have_subnet) {
		r = ferry_parse_ipv4_prefix(FERRY_TOPO_DEFAULT_SUBNET, 16, 29, &net, &plen, NULL);
		if (r < 0)
			return ferry_err_set(p->err, r, "internal: bad default subnet");
		t->subnet = net;
		t->prefix_len = plen;
	}
	if (!p->have_fabric)
		t->fabric = FERRY_FABRIC_BRIDGE;
	if (t->n_switches == 0)
		return ferry_err_set(p->err, -EINVAL, "topology declares no switch; add 'switch NAME'");
	unsigned hosts = 0;

	for (unsigned i = 0; i < t->n_nodes; i++)
		hosts += t->nodes[i].role == FERRY_NODE_HOST;
	if (hosts == 0)
		return ferry_err_set(p->err, -EINVAL, "topology declares no host; add 'host NAME switch SWITCH'");
	if ((r = check_tree(p)) < 0)
		return r;
	return assign_addresses(p);
}

int ferry_topology_parse(const char *text, size_t len, struct ferry_topology *ret, struct ferry_err *err)
{
	struct ferry_topology *t = calloc(1, sizeof(*t)); /* ~10 KiB: off the stack */
	struct parser p = { .t = t, .err = err };
	int r;

	if (!t)
		return ferry_err_set(err, -ENOMEM, "out of memory parsing the topology");
	r = parse_text(&p, text, len);
	if (r == 0)
		*ret = *t;
	free(t);
	return r;
}

const char *ferry_topology_role_name(enum ferry_node_role role)
{
	return role == FERRY_NODE_HOST ? "host" : role == FERRY_NODE_CONTROLLER ? "controller" : "client";
}

int ferry_topology_format(const struct ferry_topology *t, struct ferry_buf *out)
{
	char a[16], rate[32], lat[24];
	int r;

	r = ferry_buf_printf(out, "# ferry topology (canonical form)\nsubnet %s/%u\nfabric %s\n",
	                     ferry_format_ipv4(t->subnet, a), t->prefix_len, ferry_fabric_kind_name(t->fabric));
	for (unsigned i = 0; r == 0 && i < t->n_switches; i++)
		r = ferry_buf_printf(out, "switch %s\n", t->switches[i].name);
	for (unsigned i = 0; r == 0 && i < t->n_links; i++) {
		const struct ferry_topo_link *l = &t->links[i];
		r = ferry_buf_printf(out, "link %s %s", t->switches[l->a].name, t->switches[l->b].name);
		if (r == 0 && l->rate_bps)
			r = ferry_buf_printf(out, " rate %s", ferry_format_rate(l->rate_bps, rate, sizeof(rate)));
		if (r == 0 && l->latency_us)
			r = ferry_buf_printf(out, " latency %s", ferry_format_latency(l->latency_us, lat, sizeof(lat)));
		if (r == 0)
			r = ferry_buf_append(out, "\n", 1);
	}
	for (unsigned i = 0; r == 0 && i < t->n_nodes; i++) {
		const struct ferry_topo_node *n = &t->nodes[i];
		r = ferry_buf_printf(out, "%s %s switch %s address %s", ferry_topology_role_name(n->role), n->name,
		                     t->switches[n->sw].name, ferry_format_ipv4(n->addr, a));
		if (r == 0 && n->rate_bps)
			r = ferry_buf_printf(out, " rate %s", ferry_format_rate(n->rate_bps, rate, sizeof(rate)));
		if (r == 0 && n->latency_us)
			r = ferry_buf_printf(out, " latency %s", ferry_format_latency(n->latency_us, lat, sizeof(lat)));
		if (r == 0)
			r = ferry_buf_append(out, "\n", 1);
	}
	return r;
}

int ferry_topology_default(unsigned n_hosts, const char *subnet, struct ferry_topology *ret, struct ferry_err *err)
{
	struct ferry_buf text = FERRY_BUF_INIT(FERRY_TOPO_FILE_MAX);
	int r;

	if (n_hosts < 1 || n_hosts > FERRY_TOPO_MAX_NODES - 1) {
		return ferry_err_set(err, -EINVAL, "--nodes %u is out of range; expected 1 to %d", n_hosts,
		                     FERRY_TOPO_MAX_NODES - 1);
	}
	r = ferry_buf_printf(&text, "subnet %s\nswitch s1\ncontroller switch s1\n",
	                     subnet ? subnet : FERRY_TOPO_DEFAULT_SUBNET);
	for (unsigned i = 1; r == 0 && i <= n_hosts; i++)
		r = ferry_buf_printf(&text, "host n%u switch s1\n", i);
	if (r < 0)
		r = ferry_err_set(err, r, "cannot build the default topology");
	else
		r = ferry_topology_parse(text.data, text.len, ret, err);
	ferry_buf_free(&text);
	return r;
}
