/* Schedule, lanes and timing histogram of netshare-replay. */
#include "rp_core.h"

#include <math.h>

static uint64_t
to_units(double v)
{
	return v <= 0 ? 0 : (uint64_t)llround(v);
}

void
rp_schedule(const struct ns_pkt_record *rec, const uint32_t *frame_len,
            size_t n, const struct rp_pace_cfg *pc, double units_per_s,
            uint64_t *due, double *period)
{
	*period = 0;
	if (!n)
		return;
	switch (pc->mode) {
	case RP_PACE_TRACE: {
		/* ns -> units, then the speed: one scale */
		double k = units_per_s / 1e9 / pc->speed;
		uint64_t t0 = rec[0].ts_ns;
		for (size_t i = 0; i < n; i++)
			due[i] = to_units((double)(rec[i].ts_ns - t0) * k);
		double span = (double)(rec[n - 1].ts_ns - t0) * k;
		*period = n > 1 ? span + span / (double)(n - 1) : 0;
		return;
	}
	case RP_PACE_PPS: {
		double gap = units_per_s / pc->pps;
		for (size_t i = 0; i < n; i++)
			due[i] = to_units((double)i * gap);
		*period = (double)n * gap;
		return;
	}
	case RP_PACE_MBPS: {
		double per_bit = units_per_s / (pc->mbps * 1e6);
		uint64_t bits = 0;
		for (size_t i = 0; i < n; i++) {
			due[i] = to_units((double)bits * per_bit);
			bits += (uint64_t)frame_len[i] * 8;
		}
		*period = (double)bits * per_bit;
		return;
	}
	case RP_PACE_TOP:
	default:
		for (size_t i = 0; i < n; i++)
			due[i] = 0;
		return;
	}
}

uint32_t
rp_flow_hash(const struct ns_pkt_record *r)
{
	/* FNV-1a over the 5-tuple and the version */
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ r->src_addr[i]) * 16777619u;
	for (int i = 0; i < 16; i++)
		h = (h ^ r->dst_addr[i]) * 16777619u;
	const uint8_t rest[6] = {
	    (uint8_t)(r->src_port >> 8),
	    (uint8_t)r->src_port,
	    (uint8_t)(r->dst_port >> 8),
	    (uint8_t)r->dst_port,
	    r->proto,
	    r->ip_version,
	};
	for (int i = 0; i < 6; i++)
		h = (h ^ rest[i]) * 16777619u;
	return h ^ (h >> 16);
}

void
rp_hist_merge(struct rp_hist *into, const struct rp_hist *from)
{
	into->count += from->count;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
	for (unsigned i = 0; i < RP_HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
}

/* [lo, hi) of bucket i. */
static void
bucket_range(unsigned i, double *lo, double *hi)
{
	if (i < (1u << RP_HIST_SUB)) {
		*lo = i;
		*hi = i + 1;
		return;
	}
	unsigned e = (i >> RP_HIST_SUB) + RP_HIST_SUB - 1;
	unsigned m = i & ((1u << RP_HIST_SUB) - 1);
	double w = ldexp(1.0, (int)(e - RP_HIST_SUB));
	*lo = ldexp((double)((1u << RP_HIST_SUB) + m), (int)(e - RP_HIST_SUB));
	*hi = *lo + w;
}

double
rp_hist_quantile(const struct rp_hist *h, double q)
{
	if (!h->count)
		return 0;
	if (q >= 1)
		return (double)h->max;
	uint64_t want = (uint64_t)ceil(q * (double)h->count);
	if (want < 1)
		want = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < RP_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			double lo, hi;
			bucket_range(i, &lo, &hi);
			double mid =
			    i < (1u << RP_HIST_SUB) ? lo : (lo + hi) / 2;
			return mid > (double)h->max ? (double)h->max : mid;
		}
	}
	return (double)h->max;
}
