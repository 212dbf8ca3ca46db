/* Replay benchmark: frame build + transmit, per core, on net_null.
 * Prints figures, asserts nothing about speed.
 *
 * Records are 64 K synthetic IPv4/UDP packets, every one with its own
 * addresses and ports (T6b: no single buffer replayed), 60-byte frames
 * (64 on the wire with the FCS). One worker lcore runs netshare-replay's
 * own TX loop (rp_worker_run: mbufs from a pool whose data holds the fill,
 * headers written per frame, checksums from the fill's closed form,
 * bursts of 32) at top speed on a net_null port; figures are per
 * CPU-second of that lcore's thread (the VM is shared) with TSC cycles
 * per frame.
 *
 * Measured in the same run, as baselines:
 *  - TX only: the same pool, mbufs bulk-allocated and sent with their
 *    length set and nothing written (what the port and the mbufs cost);
 *  - full build: every frame written whole by ns_frame_build (fill and
 *    headers) into a plain mbuf, as a builder without the prefilled
 *    pool would;
 *  - the loop with two TX queues on the one lcore, round robin;
 *  - IMIX (7:4:1 of 64/570/1518-byte frames).
 * Target: 14.88 Mpps per core (10 GbE line rate at 64 bytes).
 *
 * Needs ~100 MB of hugepages (--in-memory). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "netshare/frame.h"
#include "rp_core.h"
#include "rp_tx.h"

#define NREC (1u << 16)
#define MIN_SECONDS 2.0
#define TARGET_MPPS 14.88
#define BURST 32

static volatile sig_atomic_t quit;

static double
cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

struct result {
	double cpu, mpps_cpu, best_cycles, median_cycles;
	uint64_t frames;
};

enum kind { K_REPLAY, K_TX_ONLY, K_FULL_BUILD };

#define MAX_REPS 4096

struct run {
	enum kind kind;
	struct rp_worker *w;
	struct rp_job *job;
	unsigned reps;
	uint64_t slice[MAX_REPS]; /* TSC cycles of each pass */
	struct result res;
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* One pass over the records without the replay loop: bulk alloc,
 * (build), send, retry the rest. */
static void
baseline_pass(struct run *r)
{
	const struct rp_job *j = r->job;
	struct rte_mbuf *m[BURST];
	for (uint32_t k = 0; k < NREC;) {
		if (rte_pktmbuf_alloc_bulk(j->pool, m, BURST))
			continue;
		for (unsigned i = 0; i < BURST; i++, k++) {
			uint32_t len = j->frame_len[k];
			if (r->kind == K_FULL_BUILD)
				ns_frame_build(
				    &j->rec[k], &j->fo,
				    rte_pktmbuf_mtod(m[i], uint8_t *), j->room,
				    NULL);
			m[i]->data_len = (uint16_t)len;
			m[i]->pkt_len = len;
		}
		uint16_t n = 0;
		while (n < BURST)
			n += rte_eth_tx_burst(r->w->lanes[0]->port_id, 0,
			                      m + n, (uint16_t)(BURST - n));
	}
}

/* reps passes of NREC frames, each timed on the TSC; the figures are
 * per CPU-second of this thread and from the least disturbed passes */
static int
bench_lcore(void *arg)
{
	struct run *r = arg;
	r->job->loops = 1;
	double c0 = cpu_s();
	for (unsigned i = 0; i < r->reps; i++) {
		uint64_t t = rte_rdtsc();
		if (r->kind == K_REPLAY)
			rp_worker_run(r->w);
		else
			baseline_pass(r);
		r->slice[i] = rte_rdtsc() - t;
	}
	double cpu = cpu_s() - c0;
	uint64_t frames = (uint64_t)r->reps * NREC;
	if (r->kind == K_REPLAY) {
		frames = 0;
		for (unsigned k = 0; k < r->w->n_lanes; k++)
			frames += r->w->lanes[k]->st.sent;
	}
	qsort(r->slice, r->reps, sizeof(*r->slice), cmp_u64);
	r->res.cpu = cpu;
	r->res.frames = frames;
	r->res.mpps_cpu = (double)frames / cpu / 1e6;
	r->res.best_cycles = (double)r->slice[0] / NREC;
	r->res.median_cycles = (double)r->slice[r->reps / 2] / NREC;
	return 0;
}

/* 64 K UDP records, each its own 5-tuple; sizes from sizes[] in turn. */
static void
make_records(struct ns_pkt_record *rec, const uint32_t *sizes, unsigned ns)
{
	for (uint32_t i = 0; i < NREC; i++) {
		struct ns_pkt_record *r = &rec[i];
		memset(r, 0, sizeof(*r));
		r->ts_ns = 1000000000ull * 1700000000u + i * 67ull;
		r->ip_version = 4;
		r->proto = 17;
		r->ttl = 64;
		r->ip_len = sizes[i % ns] - 14;
		r->ip_id = i & 0xFFFF;
		ns_addr_from_v4(r->src_addr,
		                0x0A000000u + (i * 2654435761u >> 8));
		ns_addr_from_v4(r->dst_addr, 0xC0000000u + i);
		r->src_port = (uint16_t)(1024 + i % 60000);
		r->dst_port = (uint16_t)(i * 7919u);
	}
}

static int
setup_port(uint16_t port, unsigned nq)
{
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(port, 0, (uint16_t)nq, &conf))
		return -1;
	for (unsigned q = 0; q < nq; q++)
		if (rte_eth_tx_queue_setup(port, (uint16_t)q, 1024,
		                           rte_eth_dev_socket_id(port), NULL))
			return -1;
	return rte_eth_dev_start(port);
}

static struct rp_lane lanes[2] __rte_cache_aligned;

/* One measurement on lcore `lc`: the replay loop over `nq` queues, or a
 * baseline, reps passes. */
static struct result
measure(enum kind kind, struct rp_job *job, unsigned nq, unsigned lc,
        unsigned reps)
{
	static uint32_t idx[NREC];
	static uint8_t lane_of[NREC];
	static struct run r;
	struct rp_lane *lp[2] = {&lanes[0], &lanes[1]};
	memset(lanes, 0, sizeof(lanes));
	for (unsigned q = 0; q < 2; q++) {
		lanes[q].port_id = 0;
		lanes[q].queue_id = (uint16_t)q;
		lanes[q].lcore = lc;
	}
	for (uint32_t i = 0; i < NREC; i++) {
		idx[i] = i;
		lane_of[i] = (uint8_t)(nq > 1 ? i % nq : 0);
	}
	struct rp_worker w = {
	    .job = job,
	    .lanes = lp,
	    .n_lanes = nq,
	    .idx = idx,
	    .lane_of = lane_of,
	    .n_idx = NREC,
	};
	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.w = &w;
	r.job = job;
	r.reps = reps < MAX_REPS ? reps : MAX_REPS;
	rte_eal_remote_launch(bench_lcore, &r, lc);
	rte_eal_wait_lcore(lc);
	return r.res;
}

static void
print(const char *what, const struct result *r)
{
	double hz = (double)rte_get_tsc_hz();
	printf("  %-42s %6.2f Mpps per CPU-s; least disturbed pass %5.1f "
	       "cycles/frame = %6.2f Mpps (median %5.1f)\n",
	       what, r->mpps_cpu, r->best_cycles, hz / r->best_cycles / 1e6,
	       r->median_cycles);
}

int
main(int argc, char **argv)
{
	(void)argc;
	char *eal[] = {argv[0],    "-l",           "0-1",
	               "--no-pci", "--in-memory",  "--log-level=lib.eal:error",
	               "--vdev",   "net_null_rpb", NULL};
	if (rte_eal_init(8, eal) < 0) {
		printf("bench_replay: EAL init failed (%s): reserve hugepages "
		       "(echo 512 > /proc/sys/vm/nr_hugepages)\n",
		       rte_strerror(rte_errno));
		return 77;
	}
	unsigned lc = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
	if (lc >= RTE_MAX_LCORE || setup_port(0, 2)) {
		printf("bench_replay: needs lcore 1 and the net_null port\n");
		return 1;
	}
	static struct ns_pkt_record rec[NREC];
	static uint32_t flen[NREC];
	static uint64_t due[NREC];
	struct rp_job job;
	memset(&job, 0, sizeof(job));
	job.pool = rp_pool_create("ns_rpb", 16383, RP_SMALL_ROOM,
	                          (int)rte_socket_id());
	if (!job.pool) {
		printf("bench_replay: no mempool: %s\n",
		       rte_strerror(rte_errno));
		return 77;
	}
	ns_frame_opts_default(&job.fo);
	job.rec = rec;
	job.frame_len = flen;
	job.due = due;
	job.n = NREC;
	job.burst = BURST;
	job.retries = 1000;
	job.room = RP_SMALL_ROOM;
	job.quit = &quit;

	static const uint32_t s64[] = {60};
	static const uint32_t imix[] = {60,  570, 60, 570,  60,  60,
	                                570, 60,  60, 1514, 570, 60};
	make_records(rec, s64, 1);
	for (uint32_t i = 0; i < NREC; i++) {
		struct ns_frame_info fi;
		ns_frame_layout(&rec[i], &job.fo, &fi);
		flen[i] = fi.len;
	}
	/* passes enough for MIN_SECONDS at ~15 Mpps */
	unsigned loops = (unsigned)(MIN_SECONDS * 15e6 / NREC);
	printf("bench_replay: %u records, each its own 5-tuple, on "
	       "net_null, lcore %u, TSC %.3f GHz\n",
	       NREC, lc, (double)rte_get_tsc_hz() / 1e9);
	printf("64-byte frames (60 + FCS):\n");
	struct result tx = measure(K_TX_ONLY, &job, 1, lc, loops);
	struct result rp = measure(K_REPLAY, &job, 1, lc, loops);
	struct result full = measure(K_FULL_BUILD, &job, 1, lc, loops);
	struct result two = measure(K_REPLAY, &job, 2, lc, loops);
	print("baseline: TX only, nothing written", &tx);
	print("replay: build (headers over the fill) + TX", &rp);
	print("baseline: full build (ns_frame_build) + TX", &full);
	print("replay, 2 TX queues on the lcore", &two);
	printf("  replay / target %.2f Mpps: %.2fx per CPU-s, %.2fx in the "
	       "least disturbed pass; replay / TX only: %.2fx; replay / full "
	       "build: %.2fx\n",
	       TARGET_MPPS, rp.mpps_cpu / TARGET_MPPS,
	       (double)rte_get_tsc_hz() / rp.best_cycles / 1e6 / TARGET_MPPS,
	       rp.mpps_cpu / tx.mpps_cpu, rp.mpps_cpu / full.mpps_cpu);

	make_records(rec, imix, sizeof(imix) / sizeof(*imix));
	double bytes = 0;
	for (uint32_t i = 0; i < NREC; i++) {
		struct ns_frame_info fi;
		ns_frame_layout(&rec[i], &job.fo, &fi);
		flen[i] = fi.len;
		bytes += fi.len;
	}
	printf("IMIX 7:4:1 (64/574/1518 on the wire, mean %.1f bytes):\n",
	       bytes / NREC);
	struct result im = measure(K_REPLAY, &job, 1, lc, loops);
	struct result imf = measure(K_FULL_BUILD, &job, 1, lc, loops / 4);
	print("replay: build + TX", &im);
	print("baseline: full build + TX", &imf);
	printf("  replay: %.2f Gbit/s of frames per CPU-s; replay / full "
	       "build: %.2fx\n",
	       im.mpps_cpu * bytes / NREC * 8 / 1e3,
	       im.mpps_cpu / imf.mpps_cpu);

	rte_eth_dev_stop(0);
	rte_eth_dev_close(0);
	rte_mempool_free(job.pool);
	rte_eal_cleanup();
	return 0;
}
