/* One table of queue counters drives both the text and the JSON view. */
#include "dp_stats.h"

#include <inttypes.h>
#include <stddef.h>

struct counter {
	const char *name;
	size_t offset; /* into struct ns_dp_queue_stats */
};

#define Q(f) {#f, offsetof(struct ns_dp_queue_stats, f)}
static const struct counter queue_counters[] = {
	Q(rx),		   Q(rx_bytes),	       Q(sampled_out),
	Q(parsed),	   Q(not_ip),	       Q(malformed),
	Q(truncated),	   Q(pkt_ring_drops),  Q(flow_ring_drops),
	Q(flows_created),  Q(flows_expired),   Q(flows_evicted),
	Q(flows_flushed),  Q(flows_active),    Q(pkt_ring_used),
	Q(flow_ring_used),
};
#define N_QUEUE_COUNTERS (sizeof(queue_counters) / sizeof(queue_counters[0]))

#define P(f) {#f, offsetof(struct ns_dp_port_stats, f)}
static const struct counter port_counters[] = {
	P(ipackets),	     P(ibytes),		    P(imissed),
	P(ierrors),	     P(rx_nombuf),	    P(xdp_seen),
	P(xdp_drop_non_ip),  P(xdp_drop_malformed), P(xdp_drop_sampled),
	P(xdp_redirected),
};
#define N_PORT_COUNTERS (sizeof(port_counters) / sizeof(port_counters[0]))

static uint64_t
get(const void *base, size_t offset)
{
	return *(const volatile uint64_t *)((const char *)base + offset);
}

const char *
dp_state_name(uint32_t state)
{
	switch (state) {
	case NS_DP_STARTING:
		return "starting";
	case NS_DP_RUNNING:
		return "running";
	case NS_DP_DRAINING:
		return "draining";
	case NS_DP_STOPPED:
		return "stopped";
	}
	return "unknown";
}

void
dp_stats_print_text(const struct ns_dp_shared *sh, FILE *f)
{
	fprintf(f, "netshare-dataplane: %s, %u port(s), %u RX queue(s), "
		   "sampling 1 in %u\n",
		dp_state_name(sh->state), sh->n_ports, sh->n_queues,
		sh->sample_one_in);
	for (uint32_t p = 0; p < sh->n_ports && p < NS_DP_MAX_PORTS; p++) {
		const struct ns_dp_port_stats *ps = &sh->port[p];
		fprintf(f, "port %u (%s, %u queues):", ps->port_id, ps->name,
			ps->queues);
		for (size_t i = 0; i < N_PORT_COUNTERS; i++)
			fprintf(f, " %s %" PRIu64, port_counters[i].name,
				get(ps, port_counters[i].offset));
		fputc('\n', f);
	}
	for (uint32_t q = 0; q < sh->n_queues && q < NS_DP_MAX_QUEUES; q++) {
		const struct ns_dp_queue_stats *qs = &sh->queue[q];
		fprintf(f, "queue %u (port %u queue %u, lcore %u):", q,
			qs->port_id, qs->queue_id, qs->lcore_id);
		for (size_t i = 0; i < N_QUEUE_COUNTERS; i++)
			fprintf(f, " %s %" PRIu64, queue_counters[i].name,
				get(qs, queue_counters[i].offset));
		fputc('\n', f);
	}
}

void
dp_stats_print_json(const struct ns_dp_shared *sh, FILE *f)
{
	fprintf(f, "{\"state\":\"%s\",\"ports\":[", dp_state_name(sh->state));
	for (uint32_t p = 0; p < sh->n_ports && p < NS_DP_MAX_PORTS; p++) {
		const struct ns_dp_port_stats *ps = &sh->port[p];
		fprintf(f, "%s{\"port_id\":%u,\"name\":\"%s\",\"queues\":%u",
			p ? "," : "", ps->port_id, ps->name, ps->queues);
		for (size_t i = 0; i < N_PORT_COUNTERS; i++)
			fprintf(f, ",\"%s\":%" PRIu64, port_counters[i].name,
				get(ps, port_counters[i].offset));
		fputc('}', f);
	}
	fprintf(f, "],\"sample_one_in\":%u,\"queues\":[", sh->sample_one_in);
	uint64_t total[N_QUEUE_COUNTERS] = {0};
	for (uint32_t q = 0; q < sh->n_queues && q < NS_DP_MAX_QUEUES; q++) {
		const struct ns_dp_queue_stats *qs = &sh->queue[q];
		fprintf(f, "%s{\"queue\":%u,\"port_id\":%u,\"queue_id\":%u,"
			   "\"lcore\":%u",
			q ? "," : "", q, qs->port_id, qs->queue_id,
			qs->lcore_id);
		for (size_t i = 0; i < N_QUEUE_COUNTERS; i++) {
			uint64_t v = get(qs, queue_counters[i].offset);
			total[i] += v;
			fprintf(f, ",\"%s\":%" PRIu64, queue_counters[i].name,
				v);
		}
		fputc('}', f);
	}
	fprintf(f, "],\"total\":{");
	for (size_t i = 0; i < N_QUEUE_COUNTERS; i++)
		fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "",
			queue_counters[i].name, total[i]);
	fprintf(f, "}}\n");
}
