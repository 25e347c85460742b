/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The doctor's report as JSON: the contract later layers and scripts read (docs/DOCTOR.md). */
#include <string.h>

#include "ferry/doctor.h"
#include "ferry/json.h"

static void string_list(struct ferry_json *j, const char *key, const char *space_separated)
{
	const char *s = space_separated ? space_separated : "";

	ferry_json_key(j, key);
	ferry_json_array_begin(j);
	while (*s) {
		size_t n = strcspn(s, " ");
		char word[64];

		if (n > 0 && n < sizeof(word)) {
			memcpy(word, s, n);
			word[n] = '\0';
			ferry_json_string(j, word);
		}
		s += n;
		while (*s == ' ')
			s++;
	}
	ferry_json_array_end(j);
}

static void runtimes(struct ferry_json *j, const struct ferry_doctor_report *r)
{
	const struct ferry_doctor_runtime *rt = r->runtime >= 0 ? &r->runtimes[r->runtime] : NULL;

	ferry_json_key(j, "runtime");
	if (!rt) {
		ferry_json_null(j);
	} else {
		ferry_json_object_begin(j);
		ferry_json_key(j, "name");
		ferry_json_string(j, rt->name);
		ferry_json_key(j, "path");
		ferry_json_string(j, rt->path);
		ferry_json_key(j, "version");
		ferry_json_string(j, rt->version);
		ferry_json_key(j, "criu_support");
		ferry_json_bool(j, rt->criu_support);
		ferry_json_key(j, "why");
		ferry_json_string(j, rt->why);
		ferry_json_object_end(j);
	}
	ferry_json_key(j, "runtimes");
	ferry_json_array_begin(j);
	for (unsigned i = 0; i < r->n_runtimes; i++) {
		ferry_json_object_begin(j);
		ferry_json_key(j, "name");
		ferry_json_string(j, r->runtimes[i].name);
		ferry_json_key(j, "version");
		ferry_json_string(j, r->runtimes[i].version);
		ferry_json_key(j, "criu_support");
		ferry_json_bool(j, r->runtimes[i].criu_support);
		ferry_json_object_end(j);
	}
	ferry_json_array_end(j);
}

static void modes(struct ferry_json *j, const struct ferry_doctor_report *r)
{
	ferry_json_key(j, "modes");
	ferry_json_array_begin(j);
	for (unsigned i = 0; i < r->n_modes; i++)
		if (r->modes[i].available)
			ferry_json_string(j, r->modes[i].name);
	ferry_json_array_end(j);
	ferry_json_key(j, "mode_details");
	ferry_json_array_begin(j);
	for (unsigned i = 0; i < r->n_modes; i++) {
		ferry_json_object_begin(j);
		ferry_json_key(j, "name");
		ferry_json_string(j, r->modes[i].name);
		ferry_json_key(j, "available");
		ferry_json_bool(j, r->modes[i].available);
		ferry_json_key(j, "method");
		ferry_json_string(j, r->modes[i].available ? r->modes[i].method : NULL);
		ferry_json_key(j, "why");
		ferry_json_string(j, r->modes[i].why);
		ferry_json_object_end(j);
	}
	ferry_json_array_end(j);
}

int ferry_doctor_to_json(const struct ferry_doctor_report *r, const char *host, struct ferry_buf *out)
{
	struct ferry_json j;

	ferry_json_init(&j, out, true);
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "host");
	ferry_json_string(&j, host);
	ferry_json_key(&j, "kernel");
	ferry_json_string(&j, r->kernel);
	ferry_json_key(&j, "arch");
	ferry_json_string(&j, r->arch);
	ferry_json_key(&j, "root");
	ferry_json_bool(&j, r->root);
	ferry_json_key(&j, "criu_version");
	ferry_json_string(&j, r->criu_version[0] ? r->criu_version : NULL);
	ferry_json_key(&j, "criu_path");
	ferry_json_string(&j, r->criu_found ? r->criu_path : NULL);
	ferry_json_key(&j, "criu_check");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "ok");
	ferry_json_bool(&j, r->criu_check_ok);
	ferry_json_key(&j, "message");
	ferry_json_string(&j, r->criu_check_msg);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "features");
	ferry_json_object_begin(&j);
	for (unsigned i = 0; i < r->n_features; i++) {
		ferry_json_key(&j, r->features[i].name);
		ferry_json_bool(&j, r->features[i].ok);
	}
	ferry_json_key(&j, "tcp_established");
	ferry_json_bool(&j, r->tcp_established);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "tcp_established_why");
	ferry_json_string(&j, r->tcp_established_why);
	ferry_json_key(&j, "network_lock");
	ferry_json_string(&j, r->network_lock);
	runtimes(&j, r);
	ferry_json_key(&j, "overlayfs");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "listed");
	ferry_json_bool(&j, r->overlayfs);
	ferry_json_key(&j, "mountable");
	ferry_json_bool(&j, r->overlayfs_mountable);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "cgroup");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "version");
	ferry_json_string(&j, ferry_cgroup_layout_name(r->cgroup));
	string_list(&j, "controllers", r->cgroup_controllers);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "userfaultfd");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "unprivileged_userfaultfd");
	if (r->uffd_unprivileged < 0)
		ferry_json_null(&j);
	else
		ferry_json_int(&j, r->uffd_unprivileged);
	ferry_json_key(&j, "syscall");
	ferry_json_bool(&j, r->uffd_syscall);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "firewall");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "iptables");
	ferry_json_bool(&j, r->iptables);
	ferry_json_key(&j, "ip6tables");
	ferry_json_bool(&j, r->ip6tables);
	ferry_json_key(&j, "nftables");
	ferry_json_bool(&j, r->nft);
	ferry_json_key(&j, "iptables_version");
	ferry_json_string(&j, r->iptables_version[0] ? r->iptables_version : NULL);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "fabric");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "veth");
	ferry_json_bool(&j, r->fabric_veth);
	ferry_json_key(&j, "vxlan");
	ferry_json_bool(&j, r->fabric_vxlan);
	ferry_json_key(&j, "packet_hold");
	ferry_json_bool(&j, r->packet_hold);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "cpu");
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "model");
	ferry_json_string(&j, r->cpu_model);
	string_list(&j, "flags", r->cpu_flags);
	ferry_json_object_end(&j);
	modes(&j, r);
	ferry_json_object_end(&j);
	return ferry_json_finish(&j);
}
