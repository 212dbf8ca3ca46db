/* Offline metering: packet records to flow records, from a trace held in
 * memory or streamed from a pcap file. Both go through one feed, so the
 * sweeps (and thus any evictions) happen at the same records and the two
 * give identical flows. Streaming reads and parses on one thread while
 * another meters, handing over fixed blocks of records through a
 * single-producer/single-consumer ring, as a NIC queue's lcore hands them
 * to the rest of the appliance.
 *
 * On this class of VM a first touch of a 4 KiB page costs ~12 us, so the
 * ring is one prefaulted 2 MiB huge page, and records go into it with
 * streaming stores: the reader then never waits for cache lines the
 * metering core still holds. */
#include "netshare/ingest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

/* The hand-over ring: blocks of records, filled whole except the last;
 * 128 blocks of 16 KiB fill one 2 MiB page. */
#define BLOCK_RECORDS (8 * FEED_CHUNK)
#define RING_BLOCKS 128
#define RING_BYTES ((size_t)RING_BLOCKS * BLOCK_RECORDS * \
		    sizeof(struct ns_pkt_record))
#define HUGE_PAGE (2u << 20)

struct block {
	struct ns_pkt_record r[BLOCK_RECORDS];
};

struct handover {
	struct block *ring;
	size_t n[RING_BLOCKS]; /* records in each block */
	/* each index on its own cache line: no false sharing */
	_Alignas(64) _Atomic uint64_t head; /* blocks produced */
	_Atomic int done;		     /* no more blocks after head */
	_Alignas(64) _Atomic uint64_t tail; /* blocks consumed */
	_Alignas(64) struct meter_feed fd;
};

/* Spin briefly, then sleep: the other side needs a few microseconds per
 * block, and a sleeping thread costs its core nothing. */
static void
backoff(unsigned *spins)
{
	if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
		return;
	}
	struct timespec ts = {0, 20000};
	nanosleep(&ts, NULL);
}

/* Copy n records to dst past the caches (both 64-byte aligned). */
static void
stream_records(struct ns_pkt_record *dst, const struct ns_pkt_record *src,
	       size_t n)
{
#if defined(__x86_64__)
	const __m128i *s = (const __m128i *)src;
	__m128i *d = (__m128i *)dst;
	for (size_t i = 0; i < n * sizeof(*src) / 16; i++)
		_mm_stream_si128(d + i, _mm_load_si128(s + i));
#else
	memcpy(dst, src, n * sizeof(*src));
#endif
}

static void
stream_fence(void)
{
#if defined(__x86_64__)
	_mm_sfence(); /* the block's stores before the head's release */
#endif
}

/* Fill a block whole (*n records), short only at the end of the input:
 * each burst is parsed into a buffer in L1, then streamed out. Returns
 * the last burst's result: 0 or more to go on, 0 at the end, -1 to
 * stop. */
static long
fill_block(struct ns_pcap_reader *rd, struct block *b, size_t *n)
{
	_Alignas(64) struct ns_pkt_record burst[FEED_CHUNK];
	long got = 1;
	*n = 0;
	while (*n < BLOCK_RECORDS) {
		size_t want = BLOCK_RECORDS - *n;
		got = ns_pcap_read_burst(rd, burst,
					 want < FEED_CHUNK ? want : FEED_CHUNK);
		if (got <= 0)
			break;
		stream_records(b->r + *n, burst, (size_t)got);
		*n += (size_t)got;
	}
	stream_fence();
	return got;
}

/* One prefaulted 2 MiB page for the ring (see the top). */
static struct block *
ring_alloc(void)
{
	size_t size = (RING_BYTES + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
	/* map a page more and trim it to a 2 MiB boundary (kernels before
	 * 6.7 do not align large anonymous maps themselves) */
	char *raw = mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	uintptr_t at = ((uintptr_t)raw + HUGE_PAGE - 1) &
		       ~(uintptr_t)(HUGE_PAGE - 1);
	char *p = (char *)at;
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (raw + HUGE_PAGE > p)
		munmap(p + size, (size_t)(raw + HUGE_PAGE - p));
	madvise(p, size, MADV_HUGEPAGE); /* advice only */
	for (size_t off = 0; off < size; off += 4096)
		((volatile char *)p)[off] = 0;
	return (struct block *)p;
}

static void
ring_free(struct block *ring)
{
	if (ring)
		munmap(ring, (RING_BYTES + HUGE_PAGE - 1) &
				     ~(size_t)(HUGE_PAGE - 1));
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
			size_t k = tail % RING_BLOCKS;
			feed(&h->fd, h->ring[k].r, h->n[k]);
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
		size_t k = head % RING_BLOCKS;
		rc = fill_block(rd, &h->ring[k], &h->n[k]);
		if (h->n[k])
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
	long rc;
	do {
		rc = fill_block(rd, &h->ring[0], &h->n[0]);
		feed(&h->fd, h->ring[0].r, h->n[0]);
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
	h.ring = ring_alloc();
	if (!m || !h.ring) {
		ns_diag_error(diag, "out_of_memory", 1,
			      "no memory for a table of %u flows",
			      cfg->max_flows);
		ns_meter_destroy(m);
		ring_free(h.ring);
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
	ring_free(h.ring);
	ns_pcap_close(rd);
	return rc < 0 || diag->failed ? -1 : 0;
}
