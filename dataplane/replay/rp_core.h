/* The DPDK-free parts of netshare-replay: the schedule (when each
 * record is due), the spread of records over TX lanes, and the timing
 * error histogram. Times are in "units" chosen by the caller: TSC cycles
 * for the DPDK path, nanoseconds for --write-pcap. */
#ifndef NETSHARE_RP_CORE_H
#define NETSHARE_RP_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "netshare/records.h"

enum rp_pace {
	RP_PACE_TRACE, /* the records' timestamps, divided by speed */
	RP_PACE_PPS,   /* a fixed packet rate */
	RP_PACE_MBPS,  /* a fixed bit rate over the frames' bytes */
	RP_PACE_TOP,   /* as fast as the port takes them */
};

struct rp_pace_cfg {
	enum rp_pace mode;
	double speed; /* RP_PACE_TRACE: 2 = twice as fast */
	double pps;   /* RP_PACE_PPS */
	double mbps;  /* RP_PACE_MBPS: 10^6 bit/s of frame bytes */
};

/* Due time of record i within one pass over the trace, in units of
 * units_per_s, into due[0..n): the first is 0. *period is one pass
 * (the next pass starts that much later): the trace's span plus its mean
 * gap, n packets' worth at a fixed rate. frame_len[] gives the frames'
 * bytes (RP_PACE_MBPS). Records must be in time order. */
void rp_schedule(const struct ns_pkt_record *rec, const uint32_t *frame_len,
                 size_t n, const struct rp_pace_cfg *pc, double units_per_s,
                 uint64_t *due, double *period);

/* A flow's lane: every packet of a 5-tuple goes out on one TX queue, in
 * order. */
uint32_t rp_flow_hash(const struct ns_pkt_record *r);

/* Absolute timing errors, log-linear: exact below 2^RP_HIST_SUB, then
 * 2^RP_HIST_SUB buckets per power of two (1.6 % wide). */
#define RP_HIST_SUB 6
#define RP_HIST_BUCKETS (60u << RP_HIST_SUB)
struct rp_hist {
	uint64_t count, sum, max;
	uint64_t b[RP_HIST_BUCKETS];
};

static inline unsigned
rp_hist_index(uint64_t v)
{
	if (v < (1u << RP_HIST_SUB))
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB */
	unsigned m =
	    (unsigned)(v >> (e - RP_HIST_SUB)) & ((1u << RP_HIST_SUB) - 1);
	return ((e - RP_HIST_SUB + 1) << RP_HIST_SUB) + m;
}

static inline void
rp_hist_add(struct rp_hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	h->b[rp_hist_index(v)]++;
}

void rp_hist_merge(struct rp_hist *into, const struct rp_hist *from);
/* The value below which a fraction q of the samples lie (a bucket's
 * middle; q = 1 gives the exact maximum). 0 when empty. */
double rp_hist_quantile(const struct rp_hist *h, double q);

#endif
