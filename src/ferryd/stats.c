/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NODE_STATS: what this host measures of itself for the controller's
 * measurement (docs/ARCHITECTURE.md, "Measurement"): CPU time, memory,
 * containers, the uplink's counters (the host's port on its switch), each
 * container's traffic, and round trips to the peers the controller names.  Counters are raw and cumulative; the
 * controller takes the differences, so a lost sample costs resolution, never accuracy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctnet.h"
#include "ferry/clock.h"
#include "ferry/fs.h"
#include "ferry/hoststats.h"
#include "ferry/parse.h"
#include "ferry/probe.h"
#include "node.h"

static int add_counters(struct ferry_buf *b, uint64_t rx_bytes, uint64_t tx_bytes, uint64_t rx_packets,
                        uint64_t tx_packets)
{
	int r = ferry_tlv_add_u64(b, FERRY_TAG_RX_BYTES, rx_bytes);

	r = r ? r : ferry_tlv_add_u64(b, FERRY_TAG_TX_BYTES, tx_bytes);
	r = r ? r : ferry_tlv_add_u64(b, FERRY_TAG_RX_PACKETS, rx_packets);
	return r ? r : ferry_tlv_add_u64(b, FERRY_TAG_TX_PACKETS, tx_packets);
}

/* A container's traffic as the container sees it: its veth's host end counts the other way round. */
static int add_container(struct ferry_buf *out, const struct ct_info *c, const struct ferry_link_stats *links,
                         unsigned n)
{
	struct ferry_buf rec = FERRY_BUF_INIT(256);
	char veth[IFNAMSIZ];
	int r;

	ctnet_veth_name(c->name, veth);
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(links[i].name, veth) != 0)
			continue;
		r = ferry_tlv_add_str(&rec, FERRY_TAG_CONTAINER, c->name);
		r = r ? r
		      : add_counters(&rec, links[i].tx_bytes, links[i].rx_bytes, links[i].tx_packets,
		                     links[i].rx_packets);
		r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
		ferry_buf_free(&rec);
		return r;
	}
	return 0; /* no network of its own, or stopped */
}

#define PROBE_ROUNDS     2
#define PROBE_TIMEOUT_MS 100

/*
 * The controller's probe targets (RECORD: NODE, ADDRESS "a.b.c.d"), echoed
 * all at once: RECORD (NODE, LATENCY_US = the round trip) for each that
 * answered.  At most FERRY_PROBE_TARGETS_MAX; a malformed target is an error.
 */
static int probe_peers(const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err)
{
	char names[FERRY_PROBE_TARGETS_MAX][FERRY_NODE_NAME_MAX + 1];
	uint32_t addr[FERRY_PROBE_TARGETS_MAX], rtt[FERRY_PROBE_TARGETS_MAX];
	struct ferry_tlv_list *rl = malloc(sizeof(*rl));
	unsigned n = 0;
	int r = 0;

	if (!rl)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	for (unsigned i = 0; r == 0 && i < l->n; i++) {
		char text[20];

		if (l->items[i].tag != FERRY_TAG_RECORD)
			continue;
		if (n == FERRY_PROBE_TARGETS_MAX) {
			r = ferry_err_set(err, -E2BIG, "more than %d probe targets", FERRY_PROBE_TARGETS_MAX);
			break;
		}
		if ((r = ferry_tlv_parse(l->items[i].value, l->items[i].len, rl, err)) < 0 ||
		    (r = ferry_tlv_get_str(rl, FERRY_TAG_NODE, names[n], sizeof(names[n]), err)) < 0 ||
		    (r = ferry_tlv_get_str(rl, FERRY_TAG_ADDRESS, text, sizeof(text), err)) < 0 ||
		    (r = ferry_parse_ipv4(text, &addr[n], err)) < 0)
			break;
		n++;
	}
	free(rl);
	if (r < 0 || n == 0)
		return r;
	/* A probe that cannot run (no raw socket) leaves the targets unmeasured; the rest still answers. */
	if (ferry_icmp_rtt_many(addr, n, PROBE_ROUNDS, PROBE_TIMEOUT_MS, rtt, NULL) <= 0)
		return 0;
	for (unsigned i = 0; r == 0 && i < n; i++) {
		struct ferry_buf rec = FERRY_BUF_INIT(128);

		if (!rtt[i])
			continue;
		r = ferry_tlv_add_str(&rec, FERRY_TAG_NODE, names[i]);
		r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_LATENCY_US, rtt[i]);
		r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
		ferry_buf_free(&rec);
	}
	return r;
}

int node_stats(struct node *node, const struct ferry_tlv_list *l, struct ferry_buf *out, struct ferry_err *err)
{
	struct ferry_link_stats *links = calloc(FERRY_LINKS_MAX, sizeof(*links));
	struct ct_info *cts = calloc(CT_MAX, sizeof(*cts));
	uint64_t busy, total, running = 0;
	int n_links, n_cts, up, r;

	if (!links || !cts) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = ferry_cpu_times_read(&busy, &total, err)) < 0)
		goto out;
	if ((n_links = r = ferry_link_stats_read(links, FERRY_LINKS_MAX, err)) < 0)
		goto out;
	if ((n_cts = r = ct_list(&node->cts, cts, CT_MAX, err)) < 0)
		goto out;
	for (int i = 0; i < n_cts; i++)
		running += strcmp(cts[i].state, "running") == 0;
	r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_NODE, node->id.name);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_TIME_MS, (uint64_t)ferry_now_ms());
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_CPU_BUSY, busy);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_CPU_TOTAL, total);
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_MEMORY, ferry_mem_available());
	r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_COUNT, running);
	/* Without a known uplink the controller still gets load and containers: it sees no port. */
	up = node->address ? ferry_link_uplink(links, (unsigned)n_links, node->address, CTNET_VETH_PREFIX, NULL)
	                   : -ENOENT;
	if (r == 0 && up >= 0) {
		r = ferry_tlv_add_str(out, FERRY_TAG_IFACE, links[up].name);
		r = r ? r
		      : add_counters(out, links[up].rx_bytes, links[up].tx_bytes, links[up].rx_packets,
		                     links[up].tx_packets);
	}
	for (int i = 0; r == 0 && i < n_cts; i++)
		r = add_container(out, &cts[i], links, (unsigned)n_links);
	if (r == 0)
		r = probe_peers(l, out, err);
	if (r > 0 || r == -E2BIG)
		r = ferry_err_set(err, -E2BIG, "node statistics do not fit one frame");
out:
	free(links);
	free(cts);
	return r;
}
