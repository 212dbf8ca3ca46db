/* netshare-replay's transmit side: mbuf pools whose data already holds
 * the frame fill, and the per-lcore loop that builds frames from
 * records, paces them from the TSC and sends them in bursts. */
#ifndef NETSHARE_RP_TX_H
#define NETSHARE_RP_TX_H

#include <signal.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "netshare/frame.h"
#include "rp_core.h"

#define RP_MAX_LANES 128
#define RP_BURST_MAX 128
#define RP_SMALL_ROOM 2048 /* data room of the ordinary mbufs */

/* Counters of one TX lane (a port's queue). */
struct rp_lane_stats {
	uint64_t sent;                /* accepted by the port */
	uint64_t dropped;             /* refused after every retry */
	uint64_t bytes;               /* frame bytes sent */
	uint64_t late;                /* sent more than late_tsc after due */
	uint64_t retries;             /* TX calls after a partial burst */
	uint64_t nombuf;              /* mbuf allocation waits */
	uint64_t first_tsc, last_tsc; /* first and last send */
	uint32_t last_len;            /* the last frame's bytes */
	struct rp_hist err;           /* |send - due|, TSC cycles */
};

struct rp_lane {
	uint16_t port_id, queue_id;
	unsigned lcore;
	unsigned n; /* pending frames */
	struct rte_mbuf *pend[RP_BURST_MAX];
	uint64_t due[RP_BURST_MAX];
	uint32_t len[RP_BURST_MAX];
	struct rp_lane_stats st;
} __rte_cache_aligned;

/* What every lcore shares. */
struct rp_job {
	const struct ns_pkt_record *rec;
	const uint32_t *frame_len;
	const uint64_t *due; /* per record, TSC cycles from a pass's start */
	size_t n;
	double period;  /* one pass, TSC cycles */
	uint64_t loops; /* passes; 0 until stopped */
	int paced;      /* 0: top speed */
	uint64_t t0;    /* TSC of the first pass's start */
	uint64_t late_tsc;
	unsigned burst, retries;
	uint64_t retry_wait_tsc; /* between two TX calls of a burst */
	struct ns_frame_opts fo;
	struct rte_mempool *pool;     /* frames up to its room */
	struct rte_mempool *big_pool; /* longer frames, data_off 0 */
	uint32_t room, big_room;
	volatile sig_atomic_t *quit;
};

/* One lcore's share: its records in trace order and the lane of each. */
struct rp_worker {
	struct rp_job *job;
	struct rp_lane **lanes; /* lanes[k] */
	unsigned n_lanes;
	const uint32_t *idx;    /* record indices */
	const uint8_t *lane_of; /* k of each */
	size_t n_idx;
	uint64_t built; /* frames built (sent + dropped) */
};

/* A pool of count mbufs with room data bytes each (at most 65535, then
 * without headroom), every data area holding the fill. NULL with
 * rte_errno set on failure. */
struct rte_mempool *rp_pool_create(const char *name, unsigned count,
                                   uint32_t room, int socket);

/* The lcore loop: returns when the job is done or *quit is set. */
int rp_worker_run(struct rp_worker *w);

/* TSC cycles per second measured against CLOCK_MONOTONIC over ms
 * milliseconds (DPDK's own figure is rounded to 10 MHz). */
double rp_tsc_calibrate(unsigned ms);

#endif
