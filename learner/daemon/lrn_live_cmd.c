/* netshare-learner live: a DPDK secondary on netshare-dataplane's rings.
 * Records are cut into blocks of trace time; a block closes once records
 * `grace` seconds past its end have arrived (or the dataplane stopped),
 * is spooled and queued, and the pool trains it (the first as the seed)
 * while capture goes on. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <rte_eal.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "dp_args.h"
#include "lrn_cmd.h"
#include "lrn_run.h"
#include "lrn_state.h"
#include "netshare/dataplane.h"
#include "netshare/trace.h"

#define BURST 256
#define BURSTS_PER_TICK 64

static void
usage(FILE *f)
{
	fputs("usage: netshare-learner live [EAL options] -- --state DIR "
	      "[options]\n\n"
	      "Attach to a running netshare-dataplane (same --file-prefix) as "
	      "a DPDK\nsecondary, take the flow records (or, with --kind "
	      "packets, the packet\nrecords) from its rings, and cut them into "
	      "blocks of\ncontinuous.block_seconds of trace time. A block "
	      "closes once records\n--grace seconds past its end arrive, or "
	      "when the dataplane stops; it is\nspooled under DIR and "
	      "trained at once (the first as the seed, the rest\nfine-tuned "
	      "from it, continuous.workers at a time). Records of a block\n"
	      "already closed are counted as late. It is the rings' only "
	      "consumer.\nExits once the dataplane has stopped, its rings "
	      "are drained and every\nblock is trained; SIGINT/SIGTERM spools "
	      "what it holds and stops (a\nrerun with the same --state "
	      "trains it).\n\n"
	      "Options (after --):\n"
	      "  --state DIR           the state directory (created)\n"
	      "  --kind flows|packets  what to learn (default: flows)\n"
	      "  --grace S             seconds of trace time a block waits "
	      "for late\n"
	      "                        records (default 60: flows close "
	      "after their\n"
	      "                        timeouts)\n"
	      "  --config FILE, --public MODEL, --iterations N, --workers N,\n"
	      "  --seed S, --block-time-budget S, --dp-unclaimed, --status "
	      "FILE, -q\n"
	      "                        as for `netshare-learner run`\n"
	      "  -h, --help            this help\n\n"
	      "Exit status: 0 every block trained, 1 a failure or stopped, 2 "
	      "usage.\n",
	      f);
}

struct open_block {
	int64_t index;
	struct ns_flow_trace f;
	struct ns_pkt_trace p;
};

struct live {
	const char *dir;
	struct lrn_state *st;
	const struct ns_dp_shared *sh;
	unsigned n_rings;
	struct rte_ring *ring[NS_DP_MAX_QUEUES];
	/* the other kind's rings: emptied and counted, so the dataplane
	 * never waits on records nobody takes */
	struct rte_ring *other[NS_DP_MAX_QUEUES];
	uint64_t other_records;
	int done; /* the dataplane stopped and everything was taken: its
		     memory may be gone, the rings are not touched again */
	struct open_block *ob;
	size_t n_open, cap_open;
	uint64_t watermark; /* latest record end seen, ns */
	uint64_t grace_ns;
	int quiet;
};

static double
now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int
attach(struct live *lv)
{
	const struct rte_memzone *mz = rte_memzone_lookup(NS_DP_MEMZONE);
	if (!mz) {
		fprintf(stderr, "netshare-learner live: no '%s' memzone: the "
				"primary is not netshare-dataplane\n",
			NS_DP_MEMZONE);
		return -1;
	}
	lv->sh = mz->addr;
	if (lv->sh->magic != NS_DP_MAGIC || lv->sh->version != NS_DP_VERSION) {
		fprintf(stderr, "netshare-learner live: memzone version %u, "
				"this program reads %u\n",
			lv->sh->version, NS_DP_VERSION);
		return -1;
	}
	double t0 = now_s();
	while (lv->sh->state == NS_DP_STARTING && now_s() - t0 < 30 &&
	       !lrn_stop)
		rte_delay_us_sleep(10000);
	lv->n_rings = lv->sh->n_queues;
	for (unsigned k = 0; k < lv->n_rings && k < NS_DP_MAX_QUEUES; k++) {
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "%s%u",
			 lv->st->is_packets ? NS_DP_PKT_RING : NS_DP_FLOW_RING,
			 k);
		lv->ring[k] = rte_ring_lookup(name);
		snprintf(name, sizeof(name), "%s%u",
			 lv->st->is_packets ? NS_DP_FLOW_RING : NS_DP_PKT_RING,
			 k);
		lv->other[k] = rte_ring_lookup(name);
		if (!lv->ring[k] || !lv->other[k]) {
			fprintf(stderr, "netshare-learner live: ring %s "
					"missing\n", name);
			return -1;
		}
	}
	return 0;
}

static struct open_block *
open_block(struct live *lv, int64_t index)
{
	for (size_t i = 0; i < lv->n_open; i++)
		if (lv->ob[i].index == index)
			return &lv->ob[i];
	if (lv->n_open == lv->cap_open) {
		size_t cap = lv->cap_open ? 2 * lv->cap_open : 8;
		struct open_block *ob = realloc(lv->ob, cap * sizeof(*ob));
		if (!ob)
			return NULL;
		lv->ob = ob;
		lv->cap_open = cap;
	}
	struct open_block *b = &lv->ob[lv->n_open++];
	memset(b, 0, sizeof(*b));
	b->index = index;
	return b;
}

/* Spool block i, add it to the state and queue it (queue: 0 when
 * stopping: it stays captured for the next run). Removes it from the
 * open list. */
static int
close_block(struct live *lv, struct pool *pl, size_t i, int queue)
{
	struct open_block b = lv->ob[i];
	lv->ob[i] = lv->ob[--lv->n_open];
	size_t n = lv->st->is_packets ? b.p.n : b.f.n;
	char path[4096];
	lrn_block_path(path, sizeof(path), lv->dir, "blocks", b.index, ".csv");
	int rc = lv->st->is_packets ? ns_write_pkt_csv(path, &b.p)
				    : ns_write_flow_csv(path, &b.f);
	if (rc)
		fprintf(stderr, "netshare-learner live: %s: %s\n", path,
			strerror(errno));
	ns_flow_trace_free(&b.f);
	ns_pkt_trace_free(&b.p);
	if (rc)
		return -1;
	char err[8192];
	pthread_mutex_lock(&pl->lock);
	struct lrn_block *sb = lrn_state_add(lv->st, b.index);
	if (sb)
		sb->records = n;
	rc = !sb || lrn_state_save(lv->st, lv->dir, err, sizeof(err)) ||
	     (queue && lrn_pool_push_locked(pl, b.index));
	pthread_mutex_unlock(&pl->lock);
	if (rc) {
		fprintf(stderr, "netshare-learner live: block %lld: %s\n",
			(long long)b.index, sb ? err : "out of memory");
		return -1;
	}
	if (!lv->quiet)
		fprintf(stderr, "block %lld closed: %zu records\n",
			(long long)b.index, n);
	return 0;
}

/* One record into its block, or counted as late. */
static int
take(struct live *lv, struct pool *pl, uint64_t start, uint64_t end,
     const void *rec)
{
	uint64_t bns = lv->st->block_ns;
	int64_t index = (int64_t)(start / bns);
	pl->records_in++;
	if (end > lv->watermark)
		lv->watermark = end;
	uint64_t closes = (uint64_t)(index + 1) * bns + lv->grace_ns;
	pthread_mutex_lock(&pl->lock);
	int known = lrn_state_find(lv->st, index) != NULL;
	pthread_mutex_unlock(&pl->lock);
	if (known || closes <= lv->watermark) {
		struct open_block *ob = NULL;
		for (size_t i = 0; i < lv->n_open && !known; i++)
			if (lv->ob[i].index == index)
				ob = &lv->ob[i];
		if (!ob) { /* its block is closed (or never will open) */
			pl->late_records++;
			return 0;
		}
	}
	struct open_block *b = open_block(lv, index);
	if (!b)
		return -1;
	return lv->st->is_packets ? ns_pkt_trace_push(&b->p, rec)
				  : ns_flow_trace_push(&b->f, rec);
}

/* The pool's tick: drain the rings, close what is due. Returns 1 when
 * no block will come any more. */
static int
tick(struct pool *pl, void *arg)
{
	struct live *lv = arg;
	if (lv->done) { /* training goes on; capture is over */
		rte_delay_us_sleep(100000);
		return 1;
	}
	uint32_t state = lv->sh->state; /* read before draining */
	unsigned got = 0;
	static struct ns_flow_record fr[BURST];
	static struct ns_pkt_record pr[BURST];
	for (int pass = 0; pass < BURSTS_PER_TICK; pass++) {
		unsigned pass_got = 0;
		for (unsigned k = 0; k < lv->n_rings; k++) {
			unsigned n;
			if (lv->st->is_packets) {
				n = rte_ring_sc_dequeue_burst_elem(
					lv->ring[k], pr, sizeof(*pr), BURST,
					NULL);
				for (unsigned i = 0; i < n; i++)
					if (take(lv, pl, pr[i].ts_ns,
						 pr[i].ts_ns, &pr[i]))
						return -1;
			} else {
				n = rte_ring_sc_dequeue_burst_elem(
					lv->ring[k], fr, sizeof(*fr), BURST,
					NULL);
				for (unsigned i = 0; i < n; i++)
					if (take(lv, pl, fr[i].first_ns,
						 fr[i].last_ns, &fr[i]))
						return -1;
			}
			pass_got += n;
			/* the other kind: taken and dropped (counted) */
			n = lv->st->is_packets
				    ? rte_ring_sc_dequeue_burst_elem(
					      lv->other[k], fr, sizeof(*fr),
					      BURST, NULL)
				    : rte_ring_sc_dequeue_burst_elem(
					      lv->other[k], pr, sizeof(*pr),
					      BURST, NULL);
			lv->other_records += n;
			pass_got += n;
		}
		got += pass_got;
		if (!pass_got)
			break;
	}
	/* due blocks close oldest first (the first closed is the seed);
	 * once the dataplane stopped and nothing is left, all of them */
	int all = !got && state == NS_DP_STOPPED;
	for (;;) {
		size_t first = lv->n_open;
		for (size_t i = 0; i < lv->n_open; i++)
			if (first == lv->n_open ||
			    lv->ob[i].index < lv->ob[first].index)
				first = i;
		if (first == lv->n_open)
			break;
		uint64_t closes = (uint64_t)(lv->ob[first].index + 1) *
					  lv->st->block_ns +
				  lv->grace_ns;
		if (!all && closes > lv->watermark)
			break;
		if (close_block(lv, pl, first, 1))
			return 1;
	}
	if (all) {
		lv->done = 1;
		return 1;
	}
	if (!got)
		rte_delay_us_sleep(10000);
	return 0;
}

int
lrn_live_cmd(int argc, char **argv)
{
	struct dp_args args;
	if (dp_args_split(argc, argv, &args)) {
		fprintf(stderr, "netshare-learner live: out of memory\n");
		return LRN_EXIT_FAIL;
	}
	struct run_opts o;
	int prc = lrn_parse_opts(args.app_argc, args.app_argv, &o, 1);
	if (prc > 0 || args.help) {
		usage(stdout);
		dp_args_free(&args);
		return LRN_EXIT_OK;
	}
	if (prc < 0) {
		usage(stderr);
		dp_args_free(&args);
		return LRN_EXIT_USAGE;
	}
	struct ns_learner_config cfg;
	int claim;
	int lrc = lrn_load_config(&o, "live", &cfg, &claim);
	if (lrc >= 0) {
		dp_args_free(&args);
		return lrc;
	}
	struct lrn_state st;
	if (lrn_make_dirs(o.state) || lrn_open_state(&o, &cfg, &st)) {
		dp_args_free(&args);
		return LRN_EXIT_FAIL;
	}

	dp_args_secondary(&args);
	/* EAL pins this thread to its lcore; training threads made later
	 * would inherit that: give them back every CPU we had */
	cpu_set_t cpus;
	int have_cpus = sched_getaffinity(0, sizeof(cpus), &cpus) == 0;
	if (rte_eal_init(args.eal_argc, args.eal_argv) < 0) {
		fprintf(stderr, "netshare-learner live: cannot attach to the "
				"dataplane (EAL init failed: is "
				"netshare-dataplane running with the same "
				"--file-prefix?)\n");
		lrn_state_free(&st);
		dp_args_free(&args);
		return LRN_EXIT_FAIL;
	}
	if (have_cpus)
		pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	signal(SIGINT, lrn_on_signal);
	signal(SIGTERM, lrn_on_signal);
	openblas_set_num_threads(cfg.cont.blas_threads);

	struct live lv;
	memset(&lv, 0, sizeof(lv));
	lv.dir = o.state;
	lv.st = &st;
	lv.grace_ns = (uint64_t)llround(o.grace * 1e9);
	lv.quiet = o.quiet;
	int rc = LRN_EXIT_OK;
	if (attach(&lv))
		rc = LRN_EXIT_FAIL;

	struct lrn_ctx ctx;
	lrn_ctx_init(&ctx, &o, &cfg, claim, &st, o.state);
	struct pool pl;
	lrn_pool_init(&pl, &ctx);
	pl.live = 1;
	/* what an earlier run captured and did not train comes first */
	for (size_t i = 0; i < st.n_blocks; i++)
		if (st.blocks[i].status == LRN_CAPTURED)
			lrn_pool_push_locked(&pl, st.blocks[i].index);
	if (rc == 0) {
		if (!o.quiet)
			fprintf(stderr, "attached to the dataplane: %u %s "
					"rings, blocks of %.0f s, grace %.0f "
					"s, %d workers\n",
				lv.n_rings,
				st.is_packets ? "packet" : "flow",
				(double)st.block_ns / 1e9, o.grace,
				cfg.cont.workers);
		lrn_pool_start(&pl, cfg.cont.workers);
		if (lrn_pool_wait(&pl, &o, tick, &lv))
			rc = LRN_EXIT_FAIL;
	}
	/* stopping: what is still open is spooled for the next run */
	while (lv.n_open)
		if (close_block(&lv, &pl, 0, 0))
			rc = LRN_EXIT_FAIL;
	free(lv.ob);
	char lead[256];
	snprintf(lead, sizeof(lead),
		 "%llu records in (%llu late; %llu %s records not learned), ",
		 (unsigned long long)pl.records_in,
		 (unsigned long long)pl.late_records,
		 (unsigned long long)lv.other_records,
		 st.is_packets ? "flow" : "packet");
	lrn_report_end(&o, &pl, &st, &cfg, claim, rc, cfg.cont.workers, lead);
	lrn_pool_destroy(&pl);
	lrn_state_free(&st);
	rte_eal_cleanup();
	dp_args_free(&args);
	return rc ? rc : lrn_stop ? LRN_EXIT_FAIL : LRN_EXIT_OK;
}
