/* Offline metering: packet records to flow records, from a trace held in
 * memory or streamed from a pcap file. Both go through one feed, so the
 * sweeps (and thus any evictions) happen at the same records and the two
 * give identical flows. Streaming reads and parses on one thread while
 * another meters, handing over fixed blocks of records through a
 * single-producer/single-consumer ring, as a NIC queue's lcore hands them
 * to the rest of the appliance. */
#include "netshare/ingest.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define FEED_CHUNK 32	   /* records per meter burst and sweep step */
#define SWEEP_PER_CHUNK 16 /* table slots looked at per chunk */
#define NS_PER_SEC 1000000000ull

struct meter_feed {
	struct ns_meter *m;
	uint32_t full_mark;	/* a full sweep when this many are open */
	uint64_t latest;	/* newest timestamp seen */
	uint64_t last_full_sweep;
};

static void
feed_init(struct meter_feed *fd, struct ns_meter *m,
	  const struct ns_meter_config *cfg)
{
	memset(fd, 0, sizeof(*fd));
	fd->m = m;
	fd->full_mark = cfg->max_flows / 4 * 3;
}

/* n records in chunks of FEED_CHUNK, counted from the first record the
 * feed saw (callers pass multiples of FEED_CHUNK except at the end). A
 * little sweeping per chunk keeps the table to the flows really open, so
 * it stays in cache; a full sweep, at most once per trace second, when
 * the table fills. Records do not depend on when sweeps run. */
static void
feed(struct meter_feed *fd, const struct ns_pkt_record *r, size_t n)
{
	while (n) {
		size_t k = n < FEED_CHUNK ? n : FEED_CHUNK;
		ns_meter_update_burst(fd->m, r, k);
		for (size_t j = 0; j < k; j++)
			if (r[j].ts_ns > fd->latest)
				fd->latest = r[j].ts_ns;
		uint64_t now = r[k - 1].ts_ns;
		ns_meter_expire(fd->m, now, SWEEP_PER_CHUNK);
		if (ns_meter_stats(fd->m)->active > fd->full_mark &&
		    now > fd->last_full_sweep + NS_PER_SEC) {
			ns_meter_expire(fd->m, now, 0);
			fd->last_full_sweep = now;
		}
		r += k;
		n -= k;
	}
}

/* Flows idle (or too old) by the end of the input close as such; the rest
 * close as "end of input". */
static void
feed_end(struct meter_feed *fd)
{
	ns_meter_expire(fd->m, fd->latest, 0);
	ns_meter_flush(fd->m);
}

static void
collect_flow(void *ctx, const struct ns_flow_record *f)
{
	struct ns_flow_trace *out = ctx;
	if (ns_flow_trace_push(out, f) != 0)
		abort(); /* out of memory in an offline tool */
}

int
ns_meter_trace(const struct ns_pkt_trace *pkts,
	       const struct ns_meter_config *cfg, struct ns_flow_trace *out,
	       struct ns_meter_stats *stats)
{
	struct ns_meter *m = ns_meter_create(cfg, collect_flow, out);
	if (!m)
		return -1;
	struct meter_feed fd;
	feed_init(&fd, m, cfg);
	feed(&fd, pkts->v, pkts->n);
	feed_end(&fd);
	if (stats)
		*stats = *ns_meter_stats(m);
	ns_meter_destroy(m);
	ns_flow_trace_sort(out);
	return 0;
}

/* The hand-over ring: blocks of records, filled whole except the last. */
#define BLOCK_RECORDS (8 * FEED_CHUNK)
#define RING_BLOCKS 16

struct block {
	struct ns_pkt_record r[BLOCK_RECORDS];
	size_t n;
};

struct handover {
	struct block *ring;
	/* each index on its own cache line: no false sharing */
	_Alignas(64) _Atomic uint64_t head; /* blocks produced */
	_Atomic int done;		     /* no more blocks after head */
	_Alignas(64) _Atomic uint64_t tail; /* blocks consumed */
	_Alignas(64) struct meter_feed fd;
};

/* Spin briefly, then let the other thread have the core. */
static void
backoff(unsigned *spins)
{
#if defined(__x86_64__) || defined(__i386__)
	if (++*spins < 64) {
		__builtin_ia32_pause();
		return;
	}
#endif
	sched_yield();
}

/* Fill b whole, short only at the end of the input. Returns the last
 * burst's result: 0 or more to go on, 0 at the end, -1 to stop. */
static long
fill_block(struct ns_pcap_reader *rd, struct block *b)
{
	b->n = 0;
	while (b->n < BLOCK_RECORDS) {
		long n = ns_pcap_read_burst(rd, b->r + b->n,
					    BLOCK_RECORDS - b->n);
		if (n <= 0)
			return n;
		b->n += (size_t)n;
	}
	return 1;
}

static void *
meter_thread(void *arg)
{
	struct handover *h = arg;
	uint64_t tail = 0;
	for (;;) {
		unsigned spins = 0;
		uint64_t head;
		while ((head = atomic_load_explicit(
				&h->head, memory_order_acquire)) == tail) {
			if (atomic_load_explicit(&h->done,
						 memory_order_acquire) &&
			    atomic_load_explicit(&h->head,
						 memory_order_acquire) == tail)
				return NULL;
			backoff(&spins);
		}
		for (; tail < head; tail++) {
			struct block *b = &h->ring[tail % RING_BLOCKS];
			feed(&h->fd, b->r, b->n);
			atomic_store_explicit(&h->tail, tail + 1,
					      memory_order_release);
		}
	}
}

/* Read on this thread, meter on a second one. */
static long
stream_threaded(struct ns_pcap_reader *rd, struct handover *h)
{
	pthread_t t;
	if (pthread_create(&t, NULL, meter_thread, h) != 0)
		return -2;
	long rc;
	uint64_t head = 0;
	for (;;) {
		unsigned spins = 0;
		while (head - atomic_load_explicit(&h->tail,
						   memory_order_acquire) ==
		       RING_BLOCKS)
			backoff(&spins);
		struct block *b = &h->ring[head % RING_BLOCKS];
		rc = fill_block(rd, b);
		if (b->n)
			atomic_store_explicit(&h->head, ++head,
					      memory_order_release);
		if (rc <= 0)
			break;
	}
	atomic_store_explicit(&h->done, 1, memory_order_release);
	pthread_join(t, NULL);
	return rc;
}

static long
stream_inline(struct ns_pcap_reader *rd, struct handover *h)
{
	struct block *b = &h->ring[0];
	long rc;
	do {
		rc = fill_block(rd, b);
		feed(&h->fd, b->r, b->n);
	} while (rc > 0);
	return rc;
}

int
ns_pcap_meter(const char *path, const struct ns_meter_config *cfg,
	      int threads, ns_flow_sink sink, void *ctx,
	      struct ns_pcap_stats *st, struct ns_meter_stats *ms,
	      struct ns_diag *diag)
{
	struct ns_pcap_reader *rd = ns_pcap_open(path, 0, st, diag);
	if (!rd)
		return -1;
	struct handover h = {0};
	struct ns_meter *m = ns_meter_create(cfg, sink, ctx);
	h.ring = aligned_alloc(64, sizeof(struct block) * RING_BLOCKS);
	if (!m || !h.ring) {
		ns_diag_error(diag, "out_of_memory", 1,
			      "no memory for a table of %u flows",
			      cfg->max_flows);
		ns_meter_destroy(m);
		free(h.ring);
		ns_pcap_close(rd);
		return -1;
	}
	feed_init(&h.fd, m, cfg);
	long rc = threads > 1 ? stream_threaded(rd, &h) : -2;
	if (rc == -2) /* one thread asked for, or no second thread */
		rc = stream_inline(rd, &h);
	feed_end(&h.fd);
	if (ms)
		*ms = *ns_meter_stats(m);
	ns_meter_destroy(m);
	free(h.ring);
	ns_pcap_close(rd);
	return rc < 0 || diag->failed ? -1 : 0;
}
