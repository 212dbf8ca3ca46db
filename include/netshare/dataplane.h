/* What the dataplane shares with its secondary processes (ringdump, the
 * learner, the control daemon): object names, ring element formats and
 * the counters memzone. Everything a secondary needs to attach is here. */
#ifndef NETSHARE_DATAPLANE_H
#define NETSHARE_DATAPLANE_H

#include <stdint.h>

#include "netshare/records.h"

/* Names (DPDK limits them to 32 bytes). Rings are single-producer,
 * single-consumer, one pair per RX queue, numbered in (port, queue)
 * order: NS_DP_PKT_RING "0", "1", ... */
#define NS_DP_MEMZONE "ns_dp_shared"
#define NS_DP_MEMPOOL "ns_dp_mbufs"
#define NS_DP_PKT_RING "ns_dp_pkt_"   /* + index: ns_pkt_record elements */
#define NS_DP_FLOW_RING "ns_dp_flow_" /* + index: ns_flow_record elements */

#define NS_DP_MAGIC 0x4e534450u /* "NSDP" */
#define NS_DP_VERSION 1u
#define NS_DP_MAX_QUEUES 64
#define NS_DP_MAX_PORTS 16

enum ns_dp_state {
	NS_DP_STARTING = 0,
	NS_DP_RUNNING = 1,
	NS_DP_DRAINING = 2, /* stopped receiving, flushing open flows */
	NS_DP_STOPPED = 3,  /* every record is in the rings */
};

/* Counters of one RX queue, written only by its lcore. */
struct ns_dp_queue_stats {
	uint64_t rx;		/* frames received */
	uint64_t rx_bytes;	/* their lengths */
	uint64_t sampled_out;	/* skipped by 1-in-N sampling */
	uint64_t parsed;	/* IP records made */
	uint64_t not_ip;
	uint64_t malformed;
	uint64_t truncated;
	uint64_t pkt_ring_drops;  /* records the packet ring had no room for */
	uint64_t flow_ring_drops; /* flow records the flow ring refused */
	uint64_t flows_created;
	uint64_t flows_expired;	  /* idle, active or TCP end */
	uint64_t flows_evicted;	  /* closed early: table full */
	uint64_t flows_flushed;	  /* closed at shutdown */
	uint64_t flows_active;
	uint64_t pkt_ring_used;	  /* records waiting (main lcore refreshes) */
	uint64_t flow_ring_used;
	uint16_t port_id, queue_id;
	uint32_t lcore_id;
} __attribute__((aligned(64)));

/* Counters of one port, copied from rte_eth_stats by the main lcore. */
struct ns_dp_port_stats {
	uint64_t ipackets, ibytes, imissed, ierrors, rx_nombuf;
	/* AF_XDP ports with the XDP front filter (dataplane/xdp): frames it
	 * saw, dropped as non-IP, as malformed, by sampling; redirected */
	uint64_t xdp_seen, xdp_drop_non_ip, xdp_drop_malformed;
	uint64_t xdp_drop_sampled, xdp_redirected;
	uint16_t port_id;
	uint16_t queues;
	char name[64];
} __attribute__((aligned(64)));

struct ns_dp_shared {
	uint32_t magic;
	uint32_t version;
	volatile uint32_t state;	/* enum ns_dp_state */
	uint32_t n_queues;
	uint32_t n_ports;
	uint32_t sample_one_in;
	uint64_t started_ns;	/* wall clock */
	uint64_t updated_ns;	/* last port counter refresh */
	struct ns_dp_port_stats port[NS_DP_MAX_PORTS];
	struct ns_dp_queue_stats queue[NS_DP_MAX_QUEUES];
};

#endif
