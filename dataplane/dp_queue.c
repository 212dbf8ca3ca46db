/* The per-queue fast path. A burst is parsed into records in place,
 * enqueued to the packet ring in one call and metered in one prefetching
 * pass; closed flows collect in a small batch for the flow ring. A ring
 * without room is a counted drop, never a wait. */
#include "dp_queue.h"

#include <rte_cycles.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>
#include <time.h>

#include "netshare/parse.h"

#define SWEEP_SLOTS 64		/* flow table slots looked at per poll */
#define HEADER_COPY 512		/* bytes gathered from a segmented frame */
#define PREFETCH_AHEAD 4
#define NS_PER_SEC 1000000000ull

void
dp_clock_init(struct dp_clock *c)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->tsc0 = rte_rdtsc();
	c->wall0_ns = (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
	c->ns_per_tick = 1e9 / (double)rte_get_tsc_hz();
}

uint64_t
dp_clock_now(const struct dp_clock *c)
{
	return c->wall0_ns +
	       (uint64_t)((double)(rte_rdtsc() - c->tsc0) * c->ns_per_tick);
}

static void
push_flows(struct dp_queue *q)
{
	if (!q->n_flows)
		return;
	unsigned done = rte_ring_sp_enqueue_burst_elem(
		q->flow_ring, q->flows, sizeof(q->flows[0]), q->n_flows, NULL);
	q->st->flow_ring_drops += q->n_flows - done;
	q->n_flows = 0;
}

/* Push the batch, waiting for room until deadline_ns. */
static void
push_flows_patiently(struct dp_queue *q, uint64_t deadline_ns)
{
	unsigned off = 0;
	while (off < q->n_flows) {
		off += rte_ring_sp_enqueue_burst_elem(
			q->flow_ring, q->flows + off, sizeof(q->flows[0]),
			q->n_flows - off, NULL);
		if (off < q->n_flows) {
			if (dp_clock_now(q->clock) >= deadline_ns)
				break;
			rte_delay_us_sleep(100);
		}
	}
	q->st->flow_ring_drops += q->n_flows - off;
	q->n_flows = 0;
}

static void
flow_closed(void *ctx, const struct ns_flow_record *f)
{
	struct dp_queue *q = ctx;
	q->flows[q->n_flows++] = *f;
	if (f->end_reason == NS_FLOW_END_EVICTED)
		q->st->flows_evicted++;
	else if (f->end_reason == NS_FLOW_END_FORCED)
		q->st->flows_flushed++;
	else
		q->st->flows_expired++;
	if (q->n_flows == DP_FLOW_BATCH) {
		if (q->deadline_ns)
			push_flows_patiently(q, q->deadline_ns);
		else
			push_flows(q);
	}
}

int
dp_queue_init(struct dp_queue *q, void *meter_mem,
	      const struct ns_meter_config *mc, uint32_t sample_one_in,
	      int ts_offset, uint64_t ts_flag, const struct dp_clock *clock)
{
	q->meter = NULL;
	if (meter_mem && !(q->meter = ns_meter_init(meter_mem, mc,
						    flow_closed, q)))
		return -1;
	q->sample_one_in = sample_one_in ? sample_one_in : 1;
	q->sample_left = 1; /* keep the first frame */
	q->ts_offset = ts_offset;
	q->ts_flag = ts_flag;
	q->ts_unit_ns = 1;
	q->full_mark = mc->max_flows / 4 * 3;
	q->clock = clock;
	q->n_flows = 0;
	q->deadline_ns = 0;
	q->latest_ns = 0;
	q->last_full_sweep = 0;
	return 0;
}

static inline uint64_t
frame_time(const struct dp_queue *q, const struct rte_mbuf *m,
	   uint64_t now_ns)
{
	if (q->ts_offset >= 0 && (m->ol_flags & q->ts_flag))
		return *RTE_MBUF_DYNFIELD(m, q->ts_offset, uint64_t *) *
		       q->ts_unit_ns;
	return now_ns;
}

/* One frame into q->rec[k]; returns 1 when it gave a record. */
static inline int
frame_record(struct dp_queue *q, struct rte_mbuf *m, unsigned k,
	     uint64_t now_ns)
{
	struct ns_dp_queue_stats *st = q->st;
	const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t caplen = m->data_len;
	uint8_t copy[HEADER_COPY];
	if (m->nb_segs > 1 && caplen < HEADER_COPY) {
		/* headers may run into the next segment: gather them */
		caplen = m->pkt_len < HEADER_COPY ? m->pkt_len : HEADER_COPY;
		data = rte_pktmbuf_read(m, 0, caplen, copy);
	}
	struct ns_pkt_record *r = &q->rec[k];
	switch (ns_parse_packet(data, caplen, m->pkt_len, q->linktype, r)) {
	case NS_PARSE_OK:
		break;
	case NS_PARSE_NOT_IP:
		st->not_ip++;
		return 0;
	case NS_PARSE_TRUNCATED:
		st->truncated++;
		return 0;
	default:
		st->malformed++;
		return 0;
	}
	r->ts_ns = frame_time(q, m, now_ns);
	r->port_id = (uint8_t)q->port_id;
	r->queue_id = (uint8_t)q->queue_id;
	return 1;
}

void
dp_queue_process(struct dp_queue *q, struct rte_mbuf **m, uint16_t n,
		 uint64_t now_ns)
{
	struct ns_dp_queue_stats *st = q->st;
	unsigned k = 0;
	for (uint16_t i = 0; i < PREFETCH_AHEAD && i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(m[i], void *));
	for (uint16_t i = 0; i < n; i++) {
		if (i + PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(m[i + PREFETCH_AHEAD],
						       void *));
		st->rx++;
		st->rx_bytes += m[i]->pkt_len;
		if (--q->sample_left) {
			st->sampled_out++;
			continue;
		}
		q->sample_left = q->sample_one_in;
		k += (unsigned)frame_record(q, m[i], k, now_ns);
	}
	if (!k)
		return;
	st->parsed += k;
	unsigned done = rte_ring_sp_enqueue_burst_elem(
		q->pkt_ring, q->rec, sizeof(q->rec[0]), k, NULL);
	st->pkt_ring_drops += k - done;
	if (!q->meter)
		return;

	const struct ns_meter_stats *ms = ns_meter_stats(q->meter);
	ns_meter_update_burst(q->meter, q->rec, k);
	for (unsigned j = 0; j < k; j++)
		if (q->rec[j].ts_ns > q->latest_ns)
			q->latest_ns = q->rec[j].ts_ns;
	st->flows_created = ms->created;
	st->flows_active = ms->active;
	push_flows(q);
}

void
dp_queue_sweep(struct dp_queue *q, uint64_t now_ns)
{
	/* port time stands still between frames: sweep by the newest */
	uint64_t t = q->ts_offset >= 0 ? q->latest_ns : now_ns;
	if (!t || !q->meter)
		return;
	ns_meter_expire(q->meter, t, SWEEP_SLOTS);
	const struct ns_meter_stats *ms = ns_meter_stats(q->meter);
	if (ms->active > q->full_mark && t > q->last_full_sweep + NS_PER_SEC) {
		ns_meter_expire(q->meter, t, 0);
		q->last_full_sweep = t;
	}
	q->st->flows_active = ms->active;
	push_flows(q);
}

void
dp_queue_finish(struct dp_queue *q, uint64_t now_ns, uint64_t deadline_ns)
{
	if (!q->meter)
		return;
	/* the lcore has stopped; from here a full batch waits for room */
	q->deadline_ns = deadline_ns;
	push_flows_patiently(q, deadline_ns);
	ns_meter_expire(q->meter, now_ns, 0);
	ns_meter_flush(q->meter);
	push_flows_patiently(q, deadline_ns);
	q->st->flows_active = ns_meter_stats(q->meter)->active;
}
