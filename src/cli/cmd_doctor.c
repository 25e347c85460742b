/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ferry doctor: what this host, or a node of a local cluster, can do for migration. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ferry/cluster.h"
#include "ferry/doctor.h"
#include "ferry/exec.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: ferry doctor [--json] [--node NODE [--name CLUSTER]]\n\n"
	        "Report what Ferry can do on this host and why: CRIU version and kernel features,\n"
	        "OCI runtime, overlayfs, cgroups, userfaultfd, iptables/nftables, the cluster fabric\n"
	        "(veth, VXLAN, NFQUEUE packet hold), kernel and CPU,\n"
	        "ending with the migration modes this host supports.\n\n"
	        "  --json          print JSON instead of a table\n"
	        "  --node NODE     run the checks inside NODE's network namespace of a local cluster\n"
	        "  --name CLUSTER  the local cluster of --node (default: %s)\n"
	        "  -h, --help      show this help\n\n"
	        "Exit status: 0 when this host can checkpoint and restore (stop-copy), 1 otherwise.\n",
	        FERRY_CLUSTER_DEFAULT_NAME);
}

static const char *yes(bool b)
{
	return b ? "yes" : "no";
}

static void print_table(const struct ferry_doctor_report *r, const char *host)
{
	const struct ferry_doctor_runtime *rt = r->runtime >= 0 ? &r->runtimes[r->runtime] : NULL;
	size_t nflags = 0;

	for (const char *s = r->cpu_flags; s && *s; s++)
		nflags += (s == r->cpu_flags || s[-1] == ' ') && *s != ' ';
	printf("Ferry doctor — host %s\n\n", host);
	printf("  %-22s %s (%s)\n", "kernel", r->kernel, r->arch);
	printf("  %-22s %s\n", "running as root", yes(r->root));
	printf("  %-22s %s%s%s\n", "CRIU", r->criu_found ? r->criu_version : "not found", r->criu_found ? " at " : "",
	       r->criu_found ? r->criu_path : "");
	printf("  %-22s %s (%s)\n", "criu check", r->criu_check_ok ? "ok" : "FAILED", r->criu_check_msg);
	for (unsigned i = 0; i < r->n_features; i++)
		printf("    %-22s %s\n", r->features[i].name, yes(r->features[i].ok));
	printf("  %-22s %s (%s)\n", "tcp_established", yes(r->tcp_established), r->tcp_established_why);
	printf("  %-22s %s\n", "network lock", r->network_lock);
	if (rt)
		printf("  %-22s %s %s, checkpoint support: %s (%s)\n", "OCI runtime", rt->name, rt->version,
		       yes(rt->criu_support), rt->why);
	else
		printf("  %-22s none found (runc or crun)\n", "OCI runtime");
	printf("  %-22s listed: %s, mountable: %s\n", "overlayfs", yes(r->overlayfs), yes(r->overlayfs_mountable));
	printf("  %-22s %s (%s)\n", "cgroups", ferry_cgroup_layout_name(r->cgroup),
	       r->cgroup_controllers[0] ? r->cgroup_controllers : "no controllers");
	printf("  %-22s syscall: %s, vm.unprivileged_userfaultfd: %d\n", "userfaultfd", yes(r->uffd_syscall),
	       r->uffd_unprivileged);
	printf("  %-22s iptables: %s, ip6tables: %s, nft: %s\n", "firewall tools", yes(r->iptables), yes(r->ip6tables),
	       yes(r->nft));
	printf("  %-22s veth: %s, vxlan: %s, packet hold (NFQUEUE): %s\n", "cluster fabric", yes(r->fabric_veth),
	       yes(r->fabric_vxlan), yes(r->packet_hold));
	printf("  %-22s %s, %zu flags\n", "CPU", r->cpu_model[0] ? r->cpu_model : "unknown", nflags);
	printf("\nMigration modes on this host:\n");
	for (unsigned i = 0; i < r->n_modes; i++)
		printf("  %-10s %-4s %-28s %s\n", r->modes[i].name, r->modes[i].available ? "yes" : "no",
		       r->modes[i].available ? r->modes[i].method : "-", r->modes[i].why);
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "node", required_argument, NULL, 'n' },
		{ "name", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *node = NULL, *cluster_name = FERRY_CLUSTER_DEFAULT_NAME;
	struct ferry_buf out = FERRY_BUF_INIT(1024 * 1024);
	struct ferry_doctor_report report;
	struct ferry_err err = { 0 };
	char host[256] = "localhost";
	bool json = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'n':
			node = optarg;
			break;
		case 'c':
			cluster_name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("doctor", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("doctor", "unexpected argument '%.64s'", argv[optind]);
	if (node) {
		struct ferry_cluster cl;
		struct ferry_topology topo;
		char ns[128];

		if (ferry_cluster_init(&cl, cluster_name, NULL, &err) < 0 || ferry_cluster_load(&cl, &topo, &err) < 0)
			return cli_fail(&err);
		if (ferry_topology_find_node(&topo, node) < 0) {
			ferry_err_set(&err, -ENOENT, "cluster '%s' has no node '%.64s'", cluster_name, node);
			return cli_fail(&err);
		}
		ferry_cluster_netns_name(&cl, node, ns, sizeof(ns));
		if (ferry_netns_enter(ns, &err) < 0)
			return cli_fail(&err);
		snprintf(host, sizeof(host), "%s/%s", cluster_name, node);
	} else {
		gethostname(host, sizeof(host) - 1);
	}
	ferry_doctor_probe(&report);
	if (json) {
		r = ferry_doctor_to_json(&report, host, &out);
		if (r == 0)
			fwrite(out.data, 1, out.len, stdout);
	} else {
		print_table(&report, host);
		r = 0;
	}
	ferry_buf_free(&out);
	c = CLI_EXIT_FAILURE;
	for (unsigned i = 0; i < report.n_modes; i++)
		if (strcmp(report.modes[i].name, "stop-copy") == 0 && report.modes[i].available)
			c = 0;
	ferry_doctor_report_free(&report);
	if (r < 0) {
		ferry_err_set(&err, r, "cannot render the report as JSON");
		return cli_fail(&err);
	}
	return c;
}
