/* One RX queue's work: frames in, header records to the packet ring,
 * flow records to the flow ring. Owned by exactly one lcore. */
#ifndef NETSHARE_DP_QUEUE_H
#define NETSHARE_DP_QUEUE_H

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "netshare/dataplane.h"
#include "netshare/meter.h"

#define DP_MAX_BURST 64
#define DP_FLOW_BATCH 32

struct dp_clock {
	uint64_t tsc0, wall0_ns;
	double ns_per_tick;
};

struct dp_queue {
	uint16_t port_id, queue_id;
	int linktype;
	struct rte_ring *pkt_ring;
	struct rte_ring *flow_ring;
	struct ns_meter *meter;
	struct ns_dp_queue_stats *st; /* in the shared memzone */
	uint32_t sample_one_in, sample_left;
	int ts_offset;		/* rx timestamp dynfield, -1: none */
	uint64_t ts_flag;
	uint32_t ts_unit_ns;	/* the port's timestamp unit */
	uint64_t latest_ns;	/* newest record time */
	uint64_t last_full_sweep;
	uint32_t full_mark;
	const struct dp_clock *clock;
	uint64_t deadline_ns;	/* at stop: wait for ring room until then */
	unsigned n_flows;	/* closed flows waiting for the flow ring */
	struct ns_flow_record flows[DP_FLOW_BATCH];
	struct ns_pkt_record rec[DP_MAX_BURST];
};

void dp_clock_init(struct dp_clock *c);
uint64_t dp_clock_now(const struct dp_clock *c);

/* Set q up around a meter built in meter_mem (ns_meter_mem_size bytes;
 * NULL: no metering). ts_offset < 0: stamp records with the wall clock. */
int dp_queue_init(struct dp_queue *q, void *meter_mem,
		  const struct ns_meter_config *mc, uint32_t sample_one_in,
		  int ts_offset, uint64_t ts_flag,
		  const struct dp_clock *clock);

/* Parse, encode, enqueue and meter n frames (the caller frees them). */
void dp_queue_process(struct dp_queue *q, struct rte_mbuf **m, uint16_t n,
		      uint64_t now_ns);

/* A slice of the idle-flow sweep at now_ns (per poll). */
void dp_queue_sweep(struct dp_queue *q, uint64_t now_ns);

/* At stop: close flows idle (or too old) at now_ns, then every other
 * open flow, and push them to the flow ring, waiting for room until
 * deadline_ns (wall clock) before counting the rest as drops. */
void dp_queue_finish(struct dp_queue *q, uint64_t now_ns,
		     uint64_t deadline_ns);

#endif
