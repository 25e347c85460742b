/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ferry cluster: the local multi-host cluster (network namespaces on bridges). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ferry/cluster.h"
#include "ferry/exec.h"
#include "ferry/fs.h"
#include "ferry/json.h"
#include "ferry/parse.h"

static int cluster_up(int argc, char **argv);
static int cluster_down(int argc, char **argv);
static int cluster_status(int argc, char **argv);
static int cluster_link(int argc, char **argv);
static int cluster_exec(int argc, char **argv);
static int cluster_restart(int argc, char **argv);

static const struct cli_command subcommands[] = {
	{ "up", cluster_up, "build a cluster: a network namespace per host on bridge switches, daemons started" },
	{ "down", cluster_down, "remove everything a cluster created (idempotent)" },
	{ "status", cluster_status, "show a cluster's nodes, addresses, daemons and link shaping" },
	{ "link", cluster_link, "shape a node's or a switch link's bandwidth (tc tbf)" },
	{ "exec", cluster_exec, "run a command inside a node's network namespace" },
	{ "restart", cluster_restart, "restart a node's daemon (same namespace, cgroup and arguments)" },
	{ 0 },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: ferry cluster SUBCOMMAND [OPTIONS]\n\nSubcommands:\n");
	for (const struct cli_command *c = subcommands; c->name; c++)
		fprintf(out, "  %-7s %s\n", c->name, c->summary);
	fprintf(out,
	        "\nEvery subcommand takes --name CLUSTER (default %s; 1 to %d of a-z, 0-9).\n"
	        "State lives under $FERRY_CLUSTER_ROOT (default %s).\n"
	        "Run 'ferry cluster SUBCOMMAND --help' for its options.\n",
	        FERRY_CLUSTER_DEFAULT_NAME, FERRY_CLUSTER_NAME_MAX, FERRY_CLUSTER_ROOT_DEFAULT);
}

int cmd_cluster(int argc, char **argv)
{
	const struct cli_command *c;

	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	c = cli_find(subcommands, argv[1]);
	if (!c)
		return cli_usage_error(
		    "cluster", "unknown subcommand '%.64s'; expected up, down, status, link, exec or restart", argv[1]);
	return c->run(argc - 1, argv + 1);
}

static int load_cluster(const char *name, struct ferry_cluster *cl, struct ferry_err *err)
{
	return ferry_cluster_init(cl, name, NULL, err);
}

static int find_daemons(struct ferry_cluster_daemons *d, char *ferryd, char *controller, size_t len,
                        struct ferry_err *err)
{
	if (cli_find_program("ferryd", "FERRY_FERRYD", ferryd, len) < 0 ||
	    cli_find_program("ferry-controller", "FERRY_CONTROLLER", controller, len) < 0)
		return ferry_err_set(err, -ENOENT,
		                     "cannot find ferryd and ferry-controller next to ferry (set FERRY_FERRYD and "
		                     "FERRY_CONTROLLER, or use --no-daemons)");
	d->ferryd = ferryd;
	d->controller = controller;
	return 0;
}

/* ---- up ---- */

static void up_usage(FILE *out)
{
	fprintf(out,
	        "Usage: ferry cluster up [--name CLUSTER] [--nodes N | --topology FILE] [--subnet CIDR]\n"
	        "                        [--fabric bridge|vxlan|none] [--allow-postcopy]\n"
	        "                        [--controller-config FILE] [--node-config FILE] [--store-file FILE]\n"
	        "                        [--no-daemons]\n\n"
	        "Build a local cluster on this machine: one network namespace per host on a shared L2\n"
	        "fabric (Linux bridges), each with its own address, state directory (a private 0700\n"
	        "tmpfs under tmp/), cgroup and daemon (ferryd on hosts, ferry-controller on the\n"
	        "controller node).  Nothing is left behind if any step fails.\n\n"
	        "  --name CLUSTER    cluster name (default %s)\n"
	        "  --nodes N         N hosts n1..nN and a controller on one switch (default 3; 1 to %d)\n"
	        "  --topology FILE   build the layout in FILE instead (see docs/TOPOLOGY.md)\n"
	        "  --subnet CIDR     fabric subnet for --nodes (default %s; /16 to /29)\n"
	        "  --fabric KIND     how containers' addresses reach across hosts: bridge (each host's\n"
	        "                    uplink in a bridge; containers take the upper half of the subnet),\n"
	        "                    vxlan (ferryd builds a VXLAN overlay %s), or none (containers get\n"
	        "                    loopback only); default: the topology's 'fabric' line, else bridge\n"
	        "  --allow-postcopy  the controller may migrate by post-copy (allow_postcopy = yes)\n"
	        "  --controller-config FILE\n"
	        "                    more keys for the controller (its migration manager: policy = ...;\n"
	        "                    see docs/ARCHITECTURE.md), included into the configuration up writes;\n"
	        "                    a bad key stops up with the file, line and key named\n"
	        "  --node-config FILE more keys for every host's ferryd (alert_source = FORMAT:PATH, with\n"
	        "                    %%n for the node's name), included the same way\n"
	        "  --store-file FILE the controller's registry in PostgreSQL, not a file in its state\n"
	        "                    directory: FILE has the line 'store = postgresql://USER:PASSWORD@HOST:\n"
	        "                    PORT/DB?sslmode=verify-full&sslrootcert=CA_FILE' (TLS with a verified\n"
	        "                    server only; a file, so that the password is in no command line)\n"
	        "  --no-daemons      build the network and state only, start no daemons\n"
	        "  -h, --help        show this help\n",
	        FERRY_CLUSTER_DEFAULT_NAME, FERRY_TOPO_MAX_NODES - 1, FERRY_TOPO_DEFAULT_SUBNET, FERRY_CLUSTER_OVERLAY);
}

static int cluster_up(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'c' },
		{ "nodes", required_argument, NULL, 'n' },
		{ "topology", required_argument, NULL, 't' },
		{ "subnet", required_argument, NULL, 's' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "no-daemons", no_argument, NULL, 'D' },
		{ "allow-postcopy", no_argument, NULL, 'P' },
		{ "controller-config", required_argument, NULL, 'x' },
		{ "node-config", required_argument, NULL, 'y' },
		{ "store-file", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *name = FERRY_CLUSTER_DEFAULT_NAME, *topo_file = NULL, *subnet = NULL, *nodes_arg = NULL;
	const char *fabric = NULL, *controller_config = NULL, *node_config = NULL, *store = NULL;
	char ferryd[PATH_MAX], controller[PATH_MAX], config_path[PATH_MAX];
	struct ferry_cluster_daemons daemons = { 0 };
	struct ferry_err err = { 0 };
	struct ferry_topology topo;
	struct ferry_cluster cl;
	bool start_daemons = true, allow_postcopy = false;
	uint64_t nodes = 3;
	unsigned hosts = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			name = optarg;
			break;
		case 'n':
			nodes_arg = optarg;
			break;
		case 't':
			topo_file = optarg;
			break;
		case 's':
			subnet = optarg;
			break;
		case 'f':
			fabric = optarg;
			break;
		case 'D':
			start_daemons = false;
			break;
		case 'P':
			allow_postcopy = true;
			break;
		case 'x':
			controller_config = optarg;
			break;
		case 'y':
			node_config = optarg;
			break;
		case 'S':
			store = optarg;
			break;
		case 'h':
			up_usage(stdout);
			return 0;
		default:
			return cli_usage_error("cluster up", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("cluster up", "unexpected argument '%.64s'", argv[optind]);
	if (topo_file && (nodes_arg || subnet))
		return cli_usage_error("cluster up", "--topology excludes --nodes and --subnet (the file says both)");
	if (load_cluster(name, &cl, &err) < 0)
		return cli_fail(&err);
	if (topo_file) {
		struct ferry_buf text = FERRY_BUF_INIT(FERRY_TOPO_FILE_MAX);
		int r = ferry_read_file(topo_file, FERRY_TOPO_FILE_MAX, &text, &err);

		if (r == 0)
			r = ferry_topology_parse(text.data ? text.data : "", text.len, &topo, &err);
		ferry_buf_free(&text);
		if (r < 0)
			return cli_fail(&err);
	} else {
		if (nodes_arg && ferry_parse_u64(nodes_arg, 1, FERRY_TOPO_MAX_NODES - 1, "--nodes", &nodes, &err) < 0)
			return cli_usage_error("cluster up", "%s", err.msg);
		if (ferry_topology_default((unsigned)nodes, subnet, &topo, &err) < 0)
			return cli_usage_error("cluster up", "%s", err.msg);
	}
	if (fabric) {
		struct ferry_fabric f;

		ferry_fabric_default(&f);
		if (ferry_fabric_set(&f, "fabric", fabric, &err) < 0)
			return cli_usage_error("cluster up", "--%s", err.msg);
		topo.fabric = f.kind;
	}
	topo.allow_postcopy = allow_postcopy;
	if (store) {
		if (!realpath(store, config_path))
			return cli_usage_error("cluster up", "--store-file %.200s: %s", store, strerror(errno));
		if (strlen(config_path) >= sizeof(topo.store_file))
			return cli_usage_error("cluster up", "--store-file %.200s: the path is too long", config_path);
		snprintf(topo.store_file, sizeof(topo.store_file), "%s", config_path);
	}
	if (controller_config) {
		/* Absolute, because the controller reads it from its own directory. */
		if (!realpath(controller_config, config_path))
			return cli_usage_error("cluster up", "--controller-config %.200s: %s", controller_config,
			                       strerror(errno));
		if (strlen(config_path) >= sizeof(topo.controller_config))
			return cli_usage_error("cluster up", "--controller-config %.200s: the path is too long",
			                       config_path);
		snprintf(topo.controller_config, sizeof(topo.controller_config), "%s", config_path);
	}
	if (node_config) {
		if (!realpath(node_config, config_path))
			return cli_usage_error("cluster up", "--node-config %.200s: %s", node_config, strerror(errno));
		if (strlen(config_path) >= sizeof(topo.node_config))
			return cli_usage_error("cluster up", "--node-config %.200s: the path is too long", config_path);
		snprintf(topo.node_config, sizeof(topo.node_config), "%s", config_path);
	}
	if (start_daemons) {
		if (cli_find_program("ferryd", "FERRY_FERRYD", ferryd, sizeof(ferryd)) < 0 ||
		    cli_find_program("ferry-controller", "FERRY_CONTROLLER", controller, sizeof(controller)) < 0) {
			ferry_err_set(&err, -ENOENT,
			              "cannot find ferryd and ferry-controller next to ferry (set FERRY_FERRYD and "
			              "FERRY_CONTROLLER, or use --no-daemons)");
			return cli_fail(&err);
		}
		daemons.ferryd = ferryd;
		daemons.controller = controller;
	}
	if (ferry_cluster_up(&cl, &topo, &daemons, &err) < 0)
		return cli_fail(&err);
	for (unsigned i = 0; i < topo.n_nodes; i++)
		hosts += topo.nodes[i].role == FERRY_NODE_HOST;
	printf("cluster %s is up: %u host%s%s, %u switch%s; see 'ferry cluster status --name %s'\n", cl.name, hosts,
	       hosts == 1 ? "" : "s", hosts < topo.n_nodes ? " and a controller" : "", topo.n_switches,
	       topo.n_switches == 1 ? "" : "es", cl.name);
	return 0;
}

/* ---- down ---- */

static int cluster_down(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'c' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char names[64][FERRY_CLUSTER_NAME_MAX + 1];
	const char *name = FERRY_CLUSTER_DEFAULT_NAME;
	struct ferry_err err = { 0 };
	struct ferry_cluster cl;
	int c, n = 1, failed = 0;
	bool all = false;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			name = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'h':
			printf("Usage: ferry cluster down [--name CLUSTER | --all]\n\n"
			       "Stop the cluster's daemons and remove its namespaces, interfaces, mounts,\n"
			       "cgroups and state.  Safe to repeat; a cluster that is not up is no error.\n\n"
			       "  --name CLUSTER  cluster name (default %s)\n"
			       "  --all           every cluster that has state under the state root\n",
			       FERRY_CLUSTER_DEFAULT_NAME);
			return 0;
		default:
			return cli_usage_error("cluster down", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("cluster down", "unexpected argument '%.64s'", argv[optind]);
	if (geteuid() != 0) {
		ferry_err_set(&err, -EPERM, "removing a local cluster needs root");
		return cli_fail(&err);
	}
	if (all)
		n = ferry_cluster_list(NULL, names, 64);
	else
		snprintf(names[0], sizeof(names[0]), "%.6s", name);
	if (!all && load_cluster(name, &cl, &err) < 0)
		return cli_fail(&err);
	for (int i = 0; i < n; i++) {
		if (load_cluster(names[i], &cl, &err) < 0 || ferry_cluster_down(&cl, &err) < 0) {
			fprintf(stderr, "ferry: cluster %s: %s\n", names[i], err.msg);
			failed++;
			continue;
		}
		printf("cluster %s is down\n", names[i]);
	}
	return failed ? CLI_EXIT_FAILURE : 0;
}

/* ---- status ---- */

static const char *rate_text(uint64_t bps, char *buf, size_t len)
{
	return bps ? ferry_format_rate(bps, buf, len) : "unshaped";
}

static int status_json(const struct ferry_cluster *cl, const struct ferry_topology *t,
                       const struct ferry_cluster_node_state *st, bool healthy)
{
	struct ferry_buf out = FERRY_BUF_INIT(1024 * 1024);
	char a[16], subnet[32];
	struct ferry_json j;
	int r;

	ferry_json_init(&j, &out, true);
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "name");
	ferry_json_string(&j, cl->name);
	ferry_json_key(&j, "state_dir");
	ferry_json_string(&j, cl->dir);
	ferry_json_key(&j, "subnet");
	snprintf(subnet, sizeof(subnet), "%s/%u", ferry_format_ipv4(t->subnet, a), t->prefix_len);
	ferry_json_string(&j, subnet);
	ferry_json_key(&j, "gateway");
	ferry_json_string(&j, ferry_format_ipv4(t->gateway, a));
	ferry_json_key(&j, "healthy");
	ferry_json_bool(&j, healthy);
	ferry_json_key(&j, "switches");
	ferry_json_array_begin(&j);
	for (unsigned i = 0; i < t->n_switches; i++)
		ferry_json_string(&j, t->switches[i].name);
	ferry_json_array_end(&j);
	ferry_json_key(&j, "links");
	ferry_json_array_begin(&j);
	for (unsigned i = 0; i < t->n_links; i++) {
		ferry_json_object_begin(&j);
		ferry_json_key(&j, "a");
		ferry_json_string(&j, t->switches[t->links[i].a].name);
		ferry_json_key(&j, "b");
		ferry_json_string(&j, t->switches[t->links[i].b].name);
		ferry_json_key(&j, "rate_bps");
		ferry_json_uint(&j, ferry_cluster_link_rate(cl, i));
		ferry_json_object_end(&j);
	}
	ferry_json_array_end(&j);
	ferry_json_key(&j, "nodes");
	ferry_json_array_begin(&j);
	for (unsigned i = 0; i < t->n_nodes; i++) {
		char ns[128], dir[PATH_MAX];

		ferry_cluster_netns_name(cl, t->nodes[i].name, ns, sizeof(ns));
		ferry_cluster_node_dir(cl, t->nodes[i].name, dir, sizeof(dir));
		ferry_json_object_begin(&j);
		ferry_json_key(&j, "name");
		ferry_json_string(&j, t->nodes[i].name);
		ferry_json_key(&j, "role");
		ferry_json_string(&j, ferry_topology_role_name(t->nodes[i].role));
		ferry_json_key(&j, "switch");
		ferry_json_string(&j, t->switches[t->nodes[i].sw].name);
		ferry_json_key(&j, "address");
		ferry_json_string(&j, ferry_format_ipv4(t->nodes[i].addr, a));
		ferry_json_key(&j, "netns");
		ferry_json_string(&j, ns);
		ferry_json_key(&j, "netns_present");
		ferry_json_bool(&j, st[i].netns);
		ferry_json_key(&j, "link_present");
		ferry_json_bool(&j, st[i].link_up);
		ferry_json_key(&j, "state_dir");
		ferry_json_string(&j, dir);
		ferry_json_key(&j, "pid");
		if (st[i].pid)
			ferry_json_int(&j, st[i].pid);
		else
			ferry_json_null(&j);
		ferry_json_key(&j, "running");
		ferry_json_bool(&j, st[i].running);
		ferry_json_key(&j, "rate_bps");
		ferry_json_uint(&j, st[i].rate_bps);
		ferry_json_object_end(&j);
	}
	ferry_json_array_end(&j);
	ferry_json_object_end(&j);
	r = ferry_json_finish(&j);
	if (r == 0)
		fwrite(out.data, 1, out.len, stdout);
	ferry_buf_free(&out);
	return r;
}

static void status_table(const struct ferry_cluster *cl, const struct ferry_topology *t,
                         const struct ferry_cluster_node_state *st, bool healthy)
{
	char a[16], rate[32], daemon[48];

	printf("cluster %s: subnet %s/%u, gateway %s, %s\n", cl->name, ferry_format_ipv4(t->subnet, a), t->prefix_len,
	       ferry_format_ipv4(t->gateway, rate), healthy ? "healthy" : "DEGRADED");
	printf("state: %s\n\n", cl->dir);
	printf("%-16s %-10s %-8s %-15s %-6s %-16s %s\n", "NODE", "ROLE", "SWITCH", "ADDRESS", "NETNS", "DAEMON",
	       "LINK");
	for (unsigned i = 0; i < t->n_nodes; i++) {
		if (st[i].running)
			snprintf(daemon, sizeof(daemon), "running %d", (int)st[i].pid);
		else
			snprintf(daemon, sizeof(daemon), "%s", st[i].pid ? "dead" : "none");
		printf("%-16s %-10s %-8s %-15s %-6s %-16s %s\n", t->nodes[i].name,
		       ferry_topology_role_name(t->nodes[i].role), t->switches[t->nodes[i].sw].name,
		       ferry_format_ipv4(t->nodes[i].addr, a), st[i].netns ? "yes" : "MISSING", daemon,
		       st[i].link_up ? rate_text(st[i].rate_bps, rate, sizeof(rate)) : "MISSING");
	}
	for (unsigned i = 0; i < t->n_links; i++)
		printf("%s link %s-%s: %s\n", i == 0 ? "\n" : "", t->switches[t->links[i].a].name,
		       t->switches[t->links[i].b].name, rate_text(ferry_cluster_link_rate(cl, i), rate, sizeof(rate)));
}

static int cluster_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ferry_cluster_node_state st[FERRY_TOPO_MAX_NODES];
	const char *name = FERRY_CLUSTER_DEFAULT_NAME;
	struct ferry_err err = { 0 };
	struct ferry_topology topo;
	struct ferry_cluster cl;
	bool json = false, healthy = true;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			name = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			printf("Usage: ferry cluster status [--name CLUSTER] [--json]\n\n"
			       "Show the cluster's nodes as the kernel sees them now: namespace, link, daemon\n"
			       "and tc shaping.  Exit status 0 when every piece is in place, 1 otherwise.\n");
			return 0;
		default:
			return cli_usage_error("cluster status", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("cluster status", "unexpected argument '%.64s'", argv[optind]);
	if (load_cluster(name, &cl, &err) < 0 || ferry_cluster_load(&cl, &topo, &err) < 0)
		return cli_fail(&err);
	for (unsigned i = 0; i < topo.n_nodes; i++) {
		ferry_cluster_node_state(&cl, &topo, i, &st[i]);
		healthy &= st[i].netns && st[i].link_up && (st[i].running || !st[i].pid);
	}
	if (json) {
		if (status_json(&cl, &topo, st, healthy) < 0) {
			ferry_err_set(&err, -EIO, "cannot render the status as JSON");
			return cli_fail(&err);
		}
	} else {
		status_table(&cl, &topo, st, healthy);
	}
	return healthy ? 0 : CLI_EXIT_FAILURE;
}

/* ---- link ---- */

static int cluster_link(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *name = FERRY_CLUSTER_DEFAULT_NAME, *rate_arg = NULL;
	struct ferry_err err = { 0 };
	struct ferry_topology topo;
	struct ferry_cluster cl;
	char rate[32];
	uint64_t bps = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			name = optarg;
			break;
		case 'r':
			rate_arg = optarg;
			break;
		case 'h':
			printf("Usage: ferry cluster link TARGET --rate RATE|off [--name CLUSTER]\n\n"
			       "Shape a link in both directions with tc tbf.  TARGET is a node (its link to its\n"
			       "switch) or SWITCH:SWITCH (a link between switches).  RATE is a number and a unit:\n"
			       "bit, kbit, mbit, gbit (bits/s) or bps, kbps, mbps, gbps (bytes/s), e.g. 100mbit,\n"
			       "from 8kbit to 400gbit; 'off' removes the shaping.\n");
			return 0;
		default:
			return cli_usage_error("cluster link", "bad option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("cluster link", "expected exactly one TARGET (a node or SWITCH:SWITCH)");
	if (!rate_arg)
		return cli_usage_error("cluster link", "--rate is required (a rate such as 100mbit, or off)");
	if (strcmp(rate_arg, "off") != 0 && ferry_parse_rate(rate_arg, &bps, &err) < 0)
		return cli_usage_error("cluster link", "%s", err.msg);
	if (load_cluster(name, &cl, &err) < 0 || ferry_cluster_load(&cl, &topo, &err) < 0 ||
	    ferry_cluster_shape(&cl, &topo, argv[optind], bps, &err) < 0)
		return cli_fail(&err);
	printf("%s: %s\n", argv[optind], bps ? ferry_format_rate(bps, rate, sizeof(rate)) : "unshaped");
	return 0;
}

/* ---- exec ---- */

static int cluster_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *name = FERRY_CLUSTER_DEFAULT_NAME;
	struct ferry_err err = { 0 };
	struct ferry_topology topo;
	struct ferry_cluster cl;
	char ns[128];
	int c;

	optind = 1;
	/* '+': stop at the first non-option so the command's own options stay its own. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			name = optarg;
			break;
		case 'h':
			printf("Usage: ferry cluster exec [--name CLUSTER] NODE [--] COMMAND [ARGS...]\n\n"
			       "Run COMMAND inside NODE's network namespace (as 'ip netns exec' does).\n");
			return 0;
		default:
			return cli_usage_error("cluster exec", "bad option");
		}
	}
	if (argc - optind < 2)
		return cli_usage_error("cluster exec", "expected NODE and a COMMAND");
	if (load_cluster(name, &cl, &err) < 0 || ferry_cluster_load(&cl, &topo, &err) < 0)
		return cli_fail(&err);
	if (ferry_topology_find_node(&topo, argv[optind]) < 0) {
		ferry_err_set(&err, -ENOENT, "cluster '%s' has no node '%.64s'", cl.name, argv[optind]);
		return cli_fail(&err);
	}
	ferry_cluster_netns_name(&cl, argv[optind], ns, sizeof(ns));
	optind++;
	if (strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc)
		return cli_usage_error("cluster exec", "expected a COMMAND after --");
	/* ip netns exec also remounts /sys for the namespace: tools see its own interfaces. */
	char **args = calloc((size_t)(argc - optind) + 5, sizeof(char *));
	if (!args) {
		ferry_err_set(&err, -ENOMEM, "out of memory");
		return cli_fail(&err);
	}
	args[0] = "ip";
	args[1] = "netns";
	args[2] = "exec";
	args[3] = ns;
	memcpy(args + 4, argv + optind, (size_t)(argc - optind) * sizeof(char *));
	execvp("ip", args);
	ferry_err_sys(&err, -errno, "cannot run ip netns exec");
	free(args);
	return cli_fail(&err);
}

/* ---- restart ---- */

static int cluster_restart(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *name = FERRY_CLUSTER_DEFAULT_NAME;
	char ferryd[PATH_MAX], controller[PATH_MAX];
	struct ferry_cluster_daemons daemons = { 0 };
	struct ferry_err err = { 0 };
	struct ferry_topology topo;
	struct ferry_cluster cl;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			name = optarg;
			break;
		case 'h':
			printf("Usage: ferry cluster restart NODE [--name CLUSTER]\n\n"
			       "Stop NODE's daemon (SIGTERM) and start it again in the same namespace and\n"
			       "cgroup with the same arguments; returns once it is ready.\n");
			return 0;
		default:
			return cli_usage_error("cluster restart", "bad option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("cluster restart", "expected exactly one NODE");
	if (load_cluster(name, &cl, &err) < 0 || ferry_cluster_load(&cl, &topo, &err) < 0 ||
	    find_daemons(&daemons, ferryd, controller, sizeof(ferryd), &err) < 0 ||
	    ferry_cluster_restart(&cl, &topo, argv[optind], &daemons, &err) < 0)
		return cli_fail(&err);
	printf("%s restarted\n", argv[optind]);
	return 0;
}
