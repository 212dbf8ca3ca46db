/* netshare-learner run: cut a trace into blocks, train the seed, then
 * fine-tune every later block from it on a pool of workers, publishing
 * each block's checkpoint and fidelity report as it finishes. */
#include <cblas.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "checkpoint.h"
#include "lrn_block.h"
#include "lrn_cmd.h"
#include "lrn_mpi.h"
#include "lrn_run.h"
#include "lrn_state.h"
#include "netshare/ingest.h"

#define STATUS_EVERY_S 2.0

volatile sig_atomic_t lrn_stop;

void
lrn_on_signal(int sig)
{
	(void)sig;
	lrn_stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: netshare-learner run --state DIR [--input FILE] "
		"[options]\n\n"
		"Cut FILE's records into blocks of continuous.block_seconds "
		"(aligned to\nthe epoch), spool them under DIR, train the "
		"first block (the seed) from\nscratch, or start every block "
		"from --public, and fine-tune later blocks\nfrom it for "
		"continuous.fine_tune_fraction of the iterations, "
		"continuous.workers\nat a time. Each block publishes "
		"DIR/models/block-N.ckpt, its fidelity\nreport "
		"DIR/reports/block-N.json and DIR/latest.json. A killed "
		"learner rerun\nwith the same --state trains what was "
		"captured and not yet trained.\n\n"
		"Options:\n"
		"  --state DIR           the state directory (created)\n"
		"  --input FILE          a trace to capture from (flow CSV, "
		"packet CSV, pcap)\n"
		"  --from FMT            FILE's format (see netshare-convert)\n"
		"  --kind flows|packets  what to learn (default: flows; a "
		"pcap is metered)\n"
		"  --config FILE         learner JSON config (sections "
		"encoding, model,\n"
		"                        privacy, continuous)\n"
		"  --public MODEL        start every block from this "
		"checkpoint, trained on\n"
		"                        public data (netshare-train); its "
		"encoder is used\n"
		"  --public-init WHAT    model (default: its weights too) or "
		"encoder (its\n"
		"                        encoder only, fresh weights: naive "
		"DP)\n"
		"  --iterations N        model.iterations\n"
		"  --workers N           continuous.workers\n"
		"  --seed S              model.seed\n"
		"  --block-time-budget S stop each block's training after S "
		"seconds\n"
		"  --dp-unclaimed        with privacy.enabled but a "
		"data-dependent choice,\n"
		"                        train with DP-SGD anyway and claim "
		"no epsilon\n"
		"  --status FILE         rewrite FILE (atomically) every 2 s "
		"with progress\n"
		"  --mpi                 under mpirun: rank 0 captures and "
		"trains the seed,\n"
		"                        blocks go round-robin to the ranks "
		"(rank 0 too),\n"
		"                        results come back to rank 0's "
		"--state; --config and\n"
		"                        --public must be readable on every "
		"host\n"
		"  -q, --quiet           no progress output\n"
		"  -h, --help            this help\n\n"
		"Exit status: 0 every block handled, 1 a failure, 2 usage.\n");
}


int
lrn_parse_opts(int argc, char **argv, struct run_opts *o, int live)
{
	static const struct option lo[] = {
		{"state", required_argument, NULL, 'd'},
		{"input", required_argument, NULL, 'i'},
		{"from", required_argument, NULL, 'f'},
		{"kind", required_argument, NULL, 'k'},
		{"config", required_argument, NULL, 'c'},
		{"public", required_argument, NULL, 'p'},
		{"iterations", required_argument, NULL, 'n'},
		{"workers", required_argument, NULL, 'w'},
		{"seed", required_argument, NULL, 's'},
		{"block-time-budget", required_argument, NULL, 'b'},
		{"dp-unclaimed", no_argument, NULL, 'u'},
		{"status", required_argument, NULL, 'S'},
		{"mpi", no_argument, NULL, 'M'},
		{"grace", required_argument, NULL, 'g'},
		{"public-init", required_argument, NULL, 'P'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->seed = -1;
	o->grace = live ? 60 : -1;
	optind = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		char *end = NULL;
		switch (ch) {
		case 'd': o->state = optarg; break;
		case 'i': o->input = optarg; break;
		case 'f': o->from = optarg; break;
		case 'k': o->kind = optarg; break;
		case 'c': o->config = optarg; break;
		case 'p': o->public_model = optarg; break;
		case 'S': o->status = optarg; break;
		case 'u': o->dp_unclaimed = 1; break;
		case 'M': o->mpi = 1; break;
		case 'P':
			if (strcmp(optarg, "model") && strcmp(optarg, "encoder")) {
				fprintf(stderr, "netshare-learner: --public-init "
						"'%s': model or encoder\n", optarg);
				return -1;
			}
			o->encoder_only = !strcmp(optarg, "encoder");
			break;
		case 'q': o->quiet = 1; break;
		case 'n':
		case 'w':
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || *end || v < 1) {
				fprintf(stderr, "netshare-learner run: --%s "
						"'%s': a whole number >= 1\n",
					ch == 'n' ? "iterations" : "workers",
					optarg);
				return -1;
			}
			*(ch == 'n' ? &o->iterations : &o->workers) = v;
			break;
		case 's':
			errno = 0;
			o->seed = strtoll(optarg, &end, 10);
			if (errno || *end || o->seed < 0) {
				fprintf(stderr, "netshare-learner run: --seed "
						"'%s': a whole number >= 0\n",
					optarg);
				return -1;
			}
			break;
		case 'b':
			o->block_time_budget = strtod(optarg, &end);
			if (*end || !(o->block_time_budget > 0)) {
				fprintf(stderr, "netshare-learner run: "
						"--block-time-budget '%s': "
						"seconds > 0\n", optarg);
				return -1;
			}
			break;
		case 'g':
			o->grace = strtod(optarg, &end);
			if (*end || !(o->grace >= 0)) {
				fprintf(stderr, "netshare-learner: --grace '%s': "
						"seconds >= 0\n", optarg);
				return -1;
			}
			break;
		case 'h':
			if (live)
				return 1; /* the caller prints its help */
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	const char *bad = !live ? (o->grace >= 0 ? "--grace" : NULL)
			  : o->input ? "--input" : o->from ? "--from"
			  : o->mpi   ? "--mpi"
				     : NULL;
	if (bad) {
		fprintf(stderr, "netshare-learner %s: %s belongs to `%s`\n",
			live ? "live" : "run", bad, live ? "run" : "live");
		return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "netshare-learner run: unexpected argument "
				"'%s'\n", argv[optind]);
		return -1;
	}
	if (!o->state) {
		fprintf(stderr, "netshare-learner run: --state DIR is "
				"required\n");
		return -1;
	}
	if (o->kind && strcmp(o->kind, "flows") && strcmp(o->kind, "packets")) {
		fprintf(stderr, "netshare-learner run: --kind '%s': flows or "
				"packets\n", o->kind);
		return -1;
	}
	return 0;
}

int
lrn_make_dirs(const char *dir)
{
	const char *subs[] = {"", "/blocks", "/models", "/reports",
			      "/synthetic"};
	for (size_t i = 0; i < sizeof(subs) / sizeof(*subs); i++) {
		char p[4096];
		snprintf(p, sizeof(p), "%s%s", dir, subs[i]);
		if (mkdir(p, 0755) && errno != EEXIST) {
			fprintf(stderr, "netshare-learner run: %s: %s\n", p,
				strerror(errno));
			return -1;
		}
	}
	return 0;
}

struct pos {
	int64_t block;
	size_t i;
};

static int
pos_cmp(const void *pa, const void *pb)
{
	const struct pos *a = pa, *b = pb;
	if (a->block != b->block)
		return a->block < b->block ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

/* Split the input's records by block and spool every block the state
 * does not know yet. */
static int
capture(const struct run_opts *o, struct lrn_state *st, const char *dir)
{
	struct ns_input in;
	ns_input_init(&in);
	enum ns_format fmt = NS_FMT_UNKNOWN;
	if (o->from && (fmt = ns_format_from_name(o->from)) == NS_FMT_UNKNOWN) {
		fprintf(stderr, "netshare-learner run: --from '%s': unknown "
				"format\n", o->from);
		return -1;
	}
	if (ns_input_load(&in, o->input, fmt, 0, o->quiet)) {
		ns_diag_summary(&in.diag, stderr);
		ns_input_free(&in);
		return -1;
	}
	if (!o->quiet)
		ns_diag_summary(&in.diag, stderr);
	int rc = -1;
	struct ns_flow_trace metered = {0};
	const struct ns_flow_trace *flows = &in.flows;
	if (!st->is_packets && in.is_packets) {
		struct ns_meter_config mc;
		struct ns_meter_stats ms;
		ns_meter_config_default(&mc);
		if (ns_meter_trace(&in.pkts, &mc, &metered, &ms)) {
			fprintf(stderr, "netshare-learner run: %s: metering "
					"failed\n", o->input);
			goto out;
		}
		flows = &metered;
	} else if (st->is_packets && !in.is_packets) {
		fprintf(stderr, "netshare-learner run: %s holds flow records; "
				"a packet state needs packets\n", o->input);
		goto out;
	}
	size_t n = st->is_packets ? in.pkts.n : flows->n;
	/* blocks in index order: record positions sorted by block */
	struct pos *ps = malloc((n + 1) * sizeof(*ps));
	if (!ps)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint64_t t = st->is_packets ? in.pkts.v[i].ts_ns
					    : flows->v[i].first_ns;
		ps[i] = (struct pos){(int64_t)(t / st->block_ns), i};
	}
	qsort(ps, n, sizeof(*ps), pos_cmp);
	size_t added = 0, known = 0, total = 0;
	for (size_t a = 0; a < n;) {
		int64_t b = ps[a].block;
		size_t e = a;
		while (e < n && ps[e].block == b)
			e++;
		struct ns_pkt_trace bp = {0};
		struct ns_flow_trace bf = {0};
		if (!st->is_packets)
			bf.labels = flows->labels;
		int ok = 1;
		for (size_t k = a; k < e && ok; k++)
			ok = (st->is_packets
				      ? ns_pkt_trace_push(&bp, &in.pkts.v[ps[k].i])
				      : ns_flow_trace_push(&bf,
							   &flows->v[ps[k].i])) ==
			     0;
		size_t cnt = e - a;
		if (ok && lrn_state_find(st, b)) {
			known++;
		} else if (ok) {
			char path[4096];
			lrn_block_path(path, sizeof(path), dir, "blocks", b,
				       ".csv");
			struct lrn_block *nb = NULL;
			ok = (st->is_packets ? ns_write_pkt_csv(path, &bp)
					     : ns_write_flow_csv(path, &bf)) ==
				     0 &&
			     (nb = lrn_state_add(st, b)) != NULL;
			if (nb)
				nb->records = cnt;
			if (!ok)
				fprintf(stderr, "netshare-learner run: %s: "
						"%s\n", path, strerror(errno));
			added++;
			total += cnt;
		}
		bf.labels.n = 0;
		ns_pkt_trace_free(&bp);
		ns_flow_trace_free(&bf);
		if (!ok) {
			free(ps);
			goto out;
		}
		a = e;
	}
	free(ps);
	char err[512];
	if (lrn_state_save(st, dir, err, sizeof(err))) {
		fprintf(stderr, "netshare-learner run: %s\n", err);
		goto out;
	}
	if (!o->quiet)
		fprintf(stderr, "captured %zu new blocks (%zu records) from %s; "
				"%zu already in %s\n",
			added, total, o->input, known, dir);
	rc = 0;
out:
	ns_flow_trace_free(&metered);
	ns_input_free(&in);
	return rc;
}


static void *
worker_main(void *p)
{
	struct worker_arg *wa = p;
	struct pool *pl = wa->pool;
	struct lrn_ctx *ctx = pl->ctx;
	pthread_mutex_lock(&pl->lock);
	while (!pl->failed && !lrn_stop) {
		if (pl->next == pl->n) {
			if (pl->closed)
				break;
			pthread_cond_wait(&pl->more, &pl->lock);
			continue;
		}
		/* no seed yet: one worker trains it, the rest wait for it */
		int is_seed = !ctx->st->seed_model[0];
		if (is_seed && pl->seed_running) {
			pthread_cond_wait(&pl->more, &pl->lock);
			continue;
		}
		int64_t b = pl->queue[pl->next++];
		pl->seed_running |= is_seed;
		pthread_mutex_unlock(&pl->lock);
		char err[512] = "";
		int rc = lrn_train_block(ctx, &pl->lock, b, is_seed, wa->id,
					 err, sizeof(err));
		pthread_mutex_lock(&pl->lock);
		if (is_seed)
			pl->seed_running = 0;
		if (rc && !lrn_stop && !pl->failed) {
			snprintf(pl->err, sizeof(pl->err), "%s", err);
			pl->failed = 1;
		}
		pthread_cond_broadcast(&pl->more);
	}
	pthread_mutex_unlock(&pl->lock);
	return NULL;
}

void
lrn_pool_init(struct pool *pl, struct lrn_ctx *ctx)
{
	memset(pl, 0, sizeof(*pl));
	pl->ctx = ctx;
	pthread_mutex_init(&pl->lock, NULL);
	pthread_cond_init(&pl->more, NULL);
}

void
lrn_pool_destroy(struct pool *pl)
{
	pthread_mutex_destroy(&pl->lock);
	pthread_cond_destroy(&pl->more);
	free(pl->queue);
	pl->queue = NULL;
}

int
lrn_pool_push_locked(struct pool *pl, int64_t index)
{
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? 2 * pl->cap : 64;
		int64_t *q = realloc(pl->queue, cap * sizeof(*q));
		if (!q)
			return -1;
		pl->queue = q;
		pl->cap = cap;
	}
	pl->queue[pl->n++] = index;
	pthread_cond_broadcast(&pl->more);
	return 0;
}

void
lrn_pool_close(struct pool *pl)
{
	pthread_mutex_lock(&pl->lock);
	pl->closed = 1;
	pthread_cond_broadcast(&pl->more);
	pthread_mutex_unlock(&pl->lock);
}


void
lrn_report_end(const struct run_opts *o, struct pool *pl,
	       const struct lrn_state *st, const struct ns_learner_config *cfg,
	       int claim, int rc, int workers, const char *lead)
{
	size_t cap = 0, tr = 0, sk = 0;
	for (size_t i = 0; i < st->n_blocks; i++) {
		cap += st->blocks[i].status == LRN_CAPTURED;
		tr += st->blocks[i].status == LRN_TRAINED;
		sk += st->blocks[i].status == LRN_SKIPPED;
	}
	lrn_write_status(o->status, pl,
			 rc ? "failed" : lrn_stop ? "stopped" : "done",
			 workers);
	if (o->quiet)
		return;
	fprintf(stderr, "%s%zu blocks trained, %zu skipped, %zu waiting",
		lead, tr, sk, cap);
	if (claim)
		fprintf(stderr, "; privacy spent: epsilon %.3f at delta %g",
			lrn_epsilon(&st->acct, cfg->privacy.delta),
			cfg->privacy.delta);
	fprintf(stderr, "%s\n", lrn_stop ? " (stopped)" : "");
}

void
lrn_write_status(const char *path, struct pool *pl, const char *state,
		 int workers)
{
	if (!path)
		return;
	struct lrn_ctx *c = pl->ctx;
	pthread_mutex_lock(&pl->lock);
	size_t cap = 0, tr = 0, sk = 0;
	for (size_t i = 0; i < c->st->n_blocks; i++) {
		int s = c->st->blocks[i].status;
		cap += s == LRN_CAPTURED;
		tr += s == LRN_TRAINED;
		sk += s == LRN_SKIPPED;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddStringToObject(o, "program", "netshare-learner");
	cJSON_AddNumberToObject(o, "blocks_captured", (double)cap);
	cJSON_AddNumberToObject(o, "blocks_trained", (double)tr);
	cJSON_AddNumberToObject(o, "blocks_skipped", (double)sk);
	cJSON_AddNumberToObject(o, "published", (double)c->st->published);
	if (pl->live) {
		cJSON_AddNumberToObject(o, "records_in", (double)pl->records_in);
		cJSON_AddNumberToObject(o, "late_records",
					(double)pl->late_records);
	}
	cJSON *w = cJSON_AddArrayToObject(o, "workers");
	for (int k = 0; k < workers; k++) {
		cJSON *e = cJSON_CreateObject();
		if (c->training[k] >= 0) {
			cJSON_AddNumberToObject(e, "block",
						(double)c->training[k]);
			cJSON_AddNumberToObject(e, "iteration",
						(double)c->iteration[k]);
		} else {
			cJSON_AddNullToObject(e, "block");
		}
		cJSON_AddItemToArray(w, e);
	}
	if (c->claim_dp) {
		cJSON_AddNumberToObject(
			o, "epsilon",
			lrn_epsilon(&c->st->acct, c->cfg.privacy.delta));
		cJSON_AddNumberToObject(o, "delta", c->cfg.privacy.delta);
	} else {
		cJSON_AddNullToObject(o, "epsilon");
	}
	pthread_mutex_unlock(&pl->lock);
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	if (text)
		ns_write_file_atomic(path, text, strlen(text));
	free(text);
}

/* Why a DP run cannot claim its epsilon, or NULL when it can. */
const char *
lrn_dp_void_reason(const struct ns_learner_config *cfg, const char *public_model)
{
	if (!public_model)
		return "the encoder (port vocabulary, scaling bounds) would be "
		       "fitted on the private data: give --public MODEL";
	if (cfg->enc.max_flow_len == 0)
		return "encoding.max_flow_len is 0 (taken from the data): fix "
		       "it in the config";
	if (!(cfg->model.dp_noise > 0) || !(cfg->model.dp_clip > 0))
		return "privacy.noise_multiplier and privacy.clip must be > 0";
	if (!(cfg->privacy.count_noise > 0))
		return "privacy.count_noise must be > 0 (the flow count is "
		       "released)";
	return NULL;
}

/* Train the pool's queue on nw workers, with progress until it drains.
 * Returns 0, or -1 after a block failed (pl->err). */
void
lrn_pool_start(struct pool *pl, int nw)
{
	pl->nw = nw;
	for (int k = 0; k < nw; k++) {
		pl->wa[k] = (struct worker_arg){pl, k};
		pthread_create(&pl->th[k], NULL, worker_main, &pl->wa[k]);
	}
}

/* Progress and status until the pool is closed and idle (tick, when
 * set, runs between looks: the live capture), then join. Returns 0, or
 * -1 after a block failed (pl->err). */
int
lrn_pool_wait(struct pool *pl, const struct run_opts *o,
	      int (*tick)(struct pool *, void *), void *arg)
{
	struct lrn_ctx *ctx = pl->ctx;
	int nw = pl->nw;
	int tty = isatty(STDERR_FILENO);
	double last = 0, last_status = -STATUS_EVERY_S;
	for (;;) {
		pthread_mutex_lock(&pl->lock);
		int busy = (pl->next < pl->n || !pl->closed) && !pl->failed &&
			   !lrn_stop;
		for (int k = 0; k < nw; k++)
			busy |= ctx->training[k] >= 0;
		pthread_mutex_unlock(&pl->lock);
		if (!busy)
			break;
		if (tick) {
			if (tick(pl, arg))
				lrn_pool_close(pl);
		} else {
			struct timespec ts = {0, 200000000};
			nanosleep(&ts, NULL);
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double t = (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
		if (t - last >= (tty ? 1.0 : 10.0) && !o->quiet) {
			pthread_mutex_lock(&pl->lock);
			fprintf(stderr, "%s%zu/%zu blocks started", tty ? "\r" : "",
				pl->next, pl->n);
			if (pl->live)
				fprintf(stderr, ", %llu records in",
					(unsigned long long)pl->records_in);
			for (int k = 0; k < nw; k++)
				if (ctx->training[k] >= 0)
					fprintf(stderr, "  [w%d block %lld it %ld]",
						k, (long long)ctx->training[k],
						ctx->iteration[k]);
			fputs(tty ? "   " : "\n", stderr);
			pthread_mutex_unlock(&pl->lock);
			last = t;
		}
		if (o->status && t - last_status >= STATUS_EVERY_S) {
			lrn_write_status(o->status, pl, "training", nw);
			last_status = t;
		}
	}
	lrn_pool_close(pl); /* wake idle workers: stopping or failed */
	for (int k = 0; k < nw; k++)
		pthread_join(pl->th[k], NULL);
	if (tty && !o->quiet)
		fputc('\n', stderr);
	if (pl->failed) {
		fprintf(stderr, "netshare-learner run: %s\n", pl->err);
		return -1;
	}
	return 0;
}

/* The state in o->state: made for this config if new, else checked
 * against it (kind, block length, window, privacy). 0, or -1 after a
 * message. */
int
lrn_open_state(const struct run_opts *op, const struct ns_learner_config *cfgp,
	       struct lrn_state *stp)
{
	const struct run_opts o = *op;
	const struct ns_learner_config cfg = *cfgp;
	char err[8192];
	struct lrn_state st;
	int lrc = lrn_state_load(&st, o.state, err, sizeof(err));
	if (lrc < 0) {
		fprintf(stderr, "netshare-learner run: %s\n", err);
		return -1;
	}
	uint64_t block_ns = (uint64_t)llround(cfg.cont.block_seconds * 1e9);
	int packets = o.kind && !strcmp(o.kind, "packets");
	if (lrc == 1) {
		st.is_packets = packets;
		st.block_ns = block_ns;
		st.window = cfg.enc.n_chunks;
		st.dp = cfg.model.dp;
	} else if (st.block_ns != block_ns || st.window != cfg.enc.n_chunks ||
		   st.dp != cfg.model.dp ||
		   (o.kind && st.is_packets != packets)) {
		fprintf(stderr, "netshare-learner run: %s/state.json was made "
				"with other settings (kind %s, block %.3f s, "
				"window %u, privacy.enabled %d): use the same "
				"config or another --state\n", o.state,
			st.is_packets ? "packets" : "flows",
			(double)st.block_ns / 1e9, st.window, st.dp);
		lrn_state_free(&st);
		return -1;
	}
	if (o.public_model) {
		if (st.seed_model[0] && strcmp(st.seed_model, o.public_model)) {
			fprintf(stderr, "netshare-learner run: the state's "
					"blocks start from %s, not %s\n",
				st.seed_model, o.public_model);
			lrn_state_free(&st);
			return -1;
		}
		snprintf(st.seed_model, sizeof(st.seed_model), "%s",
			 o.public_model);
	}
	*stp = st;
	return 0;
}

/* --- MPI: rank 0 captures, trains the seed and hands out blocks ------- */

enum { FILE_CKPT, FILE_PRIVACY, FILE_REPORT, FILE_SYNTH, N_FILES };
static const char *const file_sub[N_FILES] = {"models", "models", "reports",
					      "synthetic"};
static const char *const file_suffix[N_FILES] = {".ckpt", ".privacy.json",
						 ".json", ".csv"};

static int
owner_of(size_t position, int size)
{
	return (int)(position % (size_t)size);
}

static int
tag_of(size_t position, int k)
{
	return (int)(position * 8 + (size_t)k + 1);
}

/* Rank 0: the records of block b's window to its owner, as JSON
 * {"records": n, "spools": [[index, "csv"], ...]}. */
static int
send_spools(const struct lrn_state *st, const char *dir, int64_t b, int to,
	    int tag)
{
	int64_t w0 = b / st->window * st->window;
	cJSON *o = cJSON_CreateObject();
	const struct lrn_block *blk = NULL;
	for (size_t i = 0; i < st->n_blocks; i++)
		if (st->blocks[i].index == b)
			blk = &st->blocks[i];
	cJSON_AddNumberToObject(o, "records", blk ? (double)blk->records : 0);
	cJSON *a = cJSON_AddArrayToObject(o, "spools");
	for (int64_t k = w0; k < w0 + (int64_t)st->window; k++) {
		char path[4096];
		lrn_block_path(path, sizeof(path), dir, "blocks", k, ".csv");
		size_t len;
		char *text = ns_slurp(path, &len);
		if (!text)
			continue;
		cJSON *e = cJSON_CreateArray();
		cJSON_AddItemToArray(e, cJSON_CreateNumber((double)k));
		cJSON_AddItemToArray(e, cJSON_CreateString(text));
		cJSON_AddItemToArray(a, e);
		free(text);
	}
	char *buf = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	int rc = buf ? lrn_mpi_send_buf(to, tag, buf, strlen(buf)) : -1;
	free(buf);
	return rc;
}

/* A trained block's files and fields to rank 0. */
static int
send_result(const struct lrn_state *st, const char *dir, int64_t b, int tag0)
{
	const struct lrn_block *blk = NULL;
	for (size_t i = 0; i < st->n_blocks; i++)
		if (st->blocks[i].index == b)
			blk = &st->blocks[i];
	if (!blk)
		return -1;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "status", blk->status);
	cJSON_AddNumberToObject(o, "flows", (double)blk->flows);
	cJSON_AddNumberToObject(o, "iterations", (double)blk->iterations);
	cJSON_AddNumberToObject(o, "seconds", blk->seconds);
	cJSON_AddNumberToObject(o, "epsilon",
				isfinite(blk->epsilon) ? blk->epsilon : -1);
	cJSON_AddStringToObject(o, "note", blk->note);
	char *meta = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	int rc = meta ? lrn_mpi_send_buf(0, tag0, meta, strlen(meta)) : -1;
	free(meta);
	for (int k = 0; rc == 0 && k < N_FILES; k++) {
		char path[4096];
		lrn_block_path(path, sizeof(path), dir, file_sub[k], b,
			       file_suffix[k]);
		size_t len = 0;
		char *data = ns_slurp(path, &len);
		rc = lrn_mpi_send_buf(0, tag0 + 1 + k, data ? data : "",
				      data ? len : 0);
		free(data);
	}
	return rc;
}

/* A JSON file's numbers replaced (rank 0 numbers versions and sums
 * epsilon); NULL when it does not parse. */
static char *
patch_json(const char *text, double version, double eps_total, int dp)
{
	cJSON *r = cJSON_Parse(text);
	if (!r)
		return NULL;
	if (cJSON_GetObjectItem(r, "version"))
		cJSON_ReplaceItemInObject(r, "version",
					  cJSON_CreateNumber(version));
	const char *keys[2] = {"epsilon_total", "epsilon"};
	for (int k = 0; k < 2; k++)
		if (dp && cJSON_IsNumber(cJSON_GetObjectItem(r, keys[k])))
			cJSON_ReplaceItemInObject(r, keys[k],
						  cJSON_CreateNumber(eps_total));
	char *out = cJSON_Print(r);
	cJSON_Delete(r);
	return out;
}

/* Rank 0: a remote block's result into DIR and the state. */
static int
take_result(struct lrn_ctx *ctx, int64_t b, int from, int tag0, char *err,
	    size_t errlen)
{
	struct lrn_state *st = ctx->st;
	char *meta, *data[N_FILES] = {0};
	size_t len[N_FILES] = {0}, mlen;
	int rc = lrn_mpi_recv_buf(from, tag0, &meta, &mlen);
	for (int k = 0; rc == 0 && k < N_FILES; k++)
		rc = lrn_mpi_recv_buf(from, tag0 + 1 + k, &data[k], &len[k]);
	cJSON *o = rc == 0 ? cJSON_Parse(meta) : NULL;
	if (rc == 0)
		free(meta);
	struct lrn_block *blk = lrn_state_find(st, b);
	if (!o || !blk) {
		snprintf(err, errlen, "block %lld: no result from rank %d",
			 (long long)b, from);
		rc = -1;
		goto out;
	}
	int status = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "status"));
	const char *note = cJSON_GetStringValue(cJSON_GetObjectItem(o, "note"));
	blk->status = status;
	blk->flows = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "flows"));
	blk->iterations = (int64_t)cJSON_GetNumberValue(
		cJSON_GetObjectItem(o, "iterations"));
	blk->seconds = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "seconds"));
	double e = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "epsilon"));
	blk->epsilon = e >= 0 ? e : NAN;
	snprintf(blk->note, sizeof(blk->note), "%s", note ? note : "");
	if (status == LRN_TRAINED) {
		blk->version = ++st->published;
		if (ctx->claim_dp) {
			struct ns_privacy_acct a;
			ns_privacy_acct_init(&a);
			lrn_block_privacy(&ctx->cfg, blk->flows, blk->iterations,
					  &a);
			ns_privacy_acct_merge(&st->acct, &a);
		}
	}
	double eps_total = lrn_epsilon(&st->acct, ctx->cfg.privacy.delta);
	for (int k = 0; k < N_FILES; k++) {
		if (!len[k])
			continue;
		char path[4096];
		lrn_block_path(path, sizeof(path), ctx->dir, file_sub[k], b,
			       file_suffix[k]);
		char *patched = NULL;
		if (k == FILE_REPORT || k == FILE_PRIVACY) {
			patched = patch_json(data[k], (double)blk->version,
					     eps_total, ctx->claim_dp);
			if (!patched) {
				snprintf(err, errlen, "%s: rank %d sent bad JSON",
					 path, from);
				rc = -1;
				goto out;
			}
		}
		if (ns_write_file_atomic(path, patched ? patched : data[k],
					 patched ? strlen(patched) : len[k])) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(patched);
			rc = -1;
			goto out;
		}
		free(patched);
	}
	rc = lrn_state_save(st, ctx->dir, err, errlen);
	if (rc == 0 && status == LRN_TRAINED) {
		cJSON *lj = cJSON_CreateObject();
		char mp[4096], rp[4096], lp[4096];
		lrn_block_path(mp, sizeof(mp), ctx->dir, "models", b, ".ckpt");
		lrn_block_path(rp, sizeof(rp), ctx->dir, "reports", b, ".json");
		snprintf(lp, sizeof(lp), "%s/latest.json", ctx->dir);
		cJSON_AddNumberToObject(lj, "block", (double)b);
		cJSON_AddNumberToObject(lj, "version", (double)blk->version);
		cJSON_AddStringToObject(lj, "model", mp);
		cJSON_AddStringToObject(lj, "report", rp);
		char *t = cJSON_Print(lj);
		cJSON_Delete(lj);
		rc = t ? ns_write_file_atomic(lp, t, strlen(t)) : -1;
		free(t);
	}
	if (rc == 0 && st->window == 1) {
		char sp[4096];
		lrn_block_path(sp, sizeof(sp), ctx->dir, "blocks", b, ".csv");
		unlink(sp);
	}
	if (rc == 0 && !ctx->quiet)
		fprintf(stderr, "block %lld from rank %d: %s\n", (long long)b,
			from, status == LRN_TRAINED ? "published" : "skipped");
out:
	cJSON_Delete(o);
	for (int k = 0; k < N_FILES; k++)
		free(data[k]);
	return rc;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Ranks 1..: receive the seed and this rank's blocks, train them in a
 * private directory, send the results to rank 0. */
static int
mpi_remote(const struct run_opts *o, const struct ns_learner_config *cfg,
	   int claim, int rank, int size)
{
	long long go = 0;
	lrn_mpi_bcast_int(&go);
	if (!go)
		return LRN_EXIT_FAIL;
	char *hdr = NULL, *seed = NULL;
	size_t hlen = 0, slen = 0;
	if (lrn_mpi_bcast_buf(&hdr, &hlen) || lrn_mpi_bcast_buf(&seed, &slen))
		lrn_mpi_abort(1);
	cJSON *h = cJSON_Parse(hdr);
	free(hdr);
	char dir[] = "/tmp/netshare-learner-rank-XXXXXX";
	if (!h || !mkdtemp(dir) || lrn_make_dirs(dir))
		lrn_mpi_abort(1);
	struct lrn_state st;
	lrn_state_init(&st);
	st.is_packets = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(h, "packets"));
	st.block_ns = (uint64_t)cJSON_GetNumberValue(
		cJSON_GetObjectItem(h, "block_ns"));
	st.window = (uint32_t)cJSON_GetNumberValue(
		cJSON_GetObjectItem(h, "window"));
	st.dp = cfg->model.dp;
	lrn_block_path(st.seed_model, sizeof(st.seed_model), dir, "models", -1,
		       ".seed");
	if (ns_write_file_atomic(st.seed_model, seed, slen))
		lrn_mpi_abort(1);
	free(seed);
	const cJSON *q = cJSON_GetObjectItem(h, "queue");
	size_t n = (size_t)cJSON_GetArraySize(q);
	int64_t *mine = malloc((n + 1) * sizeof(*mine));
	size_t n_mine = 0;
	for (size_t i = 0; i < n; i++) {
		if (owner_of(i, size) != rank)
			continue;
		int64_t b = (int64_t)cJSON_GetNumberValue(
			cJSON_GetArrayItem(q, (int)i));
		char *js;
		size_t jl;
		if (lrn_mpi_recv_buf(0, tag_of(i, 0), &js, &jl))
			lrn_mpi_abort(1);
		cJSON *sp = cJSON_Parse(js);
		free(js);
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(sp, "spools"))
		{
			char path[4096];
			lrn_block_path(path, sizeof(path), dir, "blocks",
				       (int64_t)cJSON_GetNumberValue(
					       cJSON_GetArrayItem(e, 0)),
				       ".csv");
			const char *text =
				cJSON_GetStringValue(cJSON_GetArrayItem(e, 1));
			if (!text || ns_write_file_atomic(path, text,
							  strlen(text)))
				lrn_mpi_abort(1);
		}
		struct lrn_block *blk = lrn_state_add(&st, b);
		if (!blk)
			lrn_mpi_abort(1);
		blk->records = (uint64_t)cJSON_GetNumberValue(
			cJSON_GetObjectItem(sp, "records"));
		cJSON_Delete(sp);
		mine[n_mine++] = b;
	}
	struct lrn_ctx ctx; /* st.acct is empty: per-block budgets only */
	lrn_ctx_init(&ctx, o, cfg, claim, &st, dir);
	struct pool pl;
	lrn_pool_init(&pl, &ctx);
	pl.queue = mine;
	pl.n = pl.cap = n_mine;
	pl.closed = 1;
	int nw = cfg->cont.workers < (int)n_mine ? cfg->cont.workers
						 : (int)n_mine;
	int rc = n_mine ? (lrn_pool_start(&pl, nw), lrn_pool_wait(&pl, o, NULL, NULL)) : 0;
	if (rc)
		lrn_mpi_abort(1); /* rank 0 would wait for the results */
	for (size_t i = 0, k = 0; i < n; i++)
		if (owner_of(i, size) == rank &&
		    send_result(&st, dir, mine[k++], tag_of(i, 1)))
			lrn_mpi_abort(1);
	lrn_pool_destroy(&pl); /* frees mine */
	cJSON_Delete(h);
	lrn_state_free(&st);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return LRN_EXIT_OK;
}

/* Rank 0: after the seed, the header, the seed model and each remote
 * block's records; pl's queue keeps rank 0's own share (the full queue
 * stays in all). Returns that share's length. */
static size_t
mpi_hand_out(struct pool *pl, const int64_t *all, size_t n,
	     const struct lrn_state *st, const char *dir, int size)
{
	cJSON *h = cJSON_CreateObject();
	cJSON_AddNumberToObject(h, "packets", st->is_packets);
	cJSON_AddNumberToObject(h, "block_ns", (double)st->block_ns);
	cJSON_AddNumberToObject(h, "window", st->window);
	cJSON *q = cJSON_AddArrayToObject(h, "queue");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(q, cJSON_CreateNumber((double)all[i]));
	char *hdr = cJSON_PrintUnformatted(h);
	cJSON_Delete(h);
	size_t hlen = hdr ? strlen(hdr) : 0, slen = 0;
	char *seed = ns_slurp(st->seed_model, &slen);
	if (!hdr || !seed || lrn_mpi_bcast_buf(&hdr, &hlen) ||
	    lrn_mpi_bcast_buf(&seed, &slen))
		lrn_mpi_abort(1);
	free(hdr);
	free(seed);
	size_t keep = 0;
	for (size_t i = 0; i < n; i++) {
		int to = owner_of(i, size);
		if (to == 0)
			pl->queue[keep++] = all[i];
		else if (send_spools(st, dir, all[i], to, tag_of(i, 0)))
			lrn_mpi_abort(1);
	}
	pl->n = keep;
	return keep;
}

void
lrn_ctx_init(struct lrn_ctx *ctx, const struct run_opts *o,
	     const struct ns_learner_config *cfg, int claim,
	     struct lrn_state *st, const char *dir)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->dir = dir;
	ctx->cfg = *cfg;
	ctx->claim_dp = claim;
	ctx->encoder_only = o->encoder_only;
	ctx->block_time_budget = o->block_time_budget;
	ctx->quiet = o->quiet;
	ctx->stop = &lrn_stop;
	ctx->st = st;
	ctx->committed = st->acct;
	for (int k = 0; k < 64; k++)
		ctx->training[k] = -1;
}

int
lrn_load_config(const struct run_opts *o, const char *cmd,
		struct ns_learner_config *cfg, int *claim)
{
	char err[8192];
	ns_learner_config_default(cfg);
	if (o->config &&
	    ns_learner_config_load(cfg, o->config, err, sizeof(err))) {
		fprintf(stderr, "netshare-learner %s: %s\n", cmd, err);
		return LRN_EXIT_FAIL;
	}
	if (o->iterations)
		cfg->model.iterations = o->iterations;
	if (o->workers)
		cfg->cont.workers = (int)o->workers;
	if (o->seed >= 0)
		cfg->model.seed = (uint64_t)o->seed;
	cfg->enc.seed = cfg->model.seed;
	if (cfg->cont.workers > 64)
		cfg->cont.workers = 64;
	*claim = 0;
	if (cfg->model.dp) {
		const char *why = lrn_dp_void_reason(cfg, o->public_model);
		if (why && !o->dp_unclaimed) {
			fprintf(stderr, "netshare-learner %s: privacy.enabled, "
					"but no epsilon could be claimed: %s "
					"(or --dp-unclaimed to train with "
					"DP-SGD and claim nothing)\n", cmd, why);
			return LRN_EXIT_USAGE;
		}
		*claim = why == NULL;
		if (!*claim && !o->quiet)
			fprintf(stderr, "netshare-learner %s: DP-SGD without a "
					"claim: %s\n", cmd, why);
	}
	return -1;
}

static int run_rank0(const struct run_opts *op,
		     const struct ns_learner_config *cfgp, int claim, int size);

int
lrn_run_cmd(int argc, char **argv)
{
	struct run_opts o;
	int prc = lrn_parse_opts(argc, argv, &o, 0);
	if (prc)
		return prc > 0 ? LRN_EXIT_OK : LRN_EXIT_USAGE;
	struct ns_learner_config cfg;
	int claim;
	int lrc = lrn_load_config(&o, "run", &cfg, &claim);
	if (lrc >= 0)
		return lrc;

	int rank = 0, size = 1;
	if (o.mpi) {
		if (!lrn_mpi_available()) {
			fprintf(stderr, "netshare-learner run: --mpi: built "
					"without MPI (install libopenmpi-dev "
					"and rebuild)\n");
			return LRN_EXIT_USAGE;
		}
		if (claim && cfg.privacy.epsilon_budget > 0) {
			fprintf(stderr, "netshare-learner run: --mpi with "
					"privacy.epsilon_budget: a total budget "
					"is planned by one process; use "
					"block_epsilon_budget, or threads\n");
			return LRN_EXIT_USAGE;
		}
		if (lrn_mpi_init(NULL, NULL, &rank, &size)) {
			fprintf(stderr, "netshare-learner run: MPI_Init "
					"failed\n");
			return LRN_EXIT_FAIL;
		}
		if (rank > 0) {
			int rrc = mpi_remote(&o, &cfg, claim, rank, size);
			lrn_mpi_finalize();
			return rrc;
		}
	}
	int rrc = run_rank0(&o, &cfg, claim, size);
	if (o.mpi) {
		if (rrc < 0) /* the others wait for a word from us */
			lrn_mpi_abort(LRN_EXIT_FAIL);
		lrn_mpi_finalize();
	}
	return rrc < 0 ? LRN_EXIT_FAIL : rrc;
}

/* Everything but the remote ranks' part. Returns the exit status, or -1
 * when it failed before the other ranks heard from it. */
static int
run_rank0(const struct run_opts *op, const struct ns_learner_config *cfgp,
	  int claim, int size)
{
	struct run_opts o = *op;
	struct ns_learner_config cfg = *cfgp;
	char err[8192] = "";
	if (lrn_make_dirs(o.state))
		return -1;
	struct lrn_state st;
	if (lrn_open_state(&o, &cfg, &st))
		return o.mpi ? -1 : LRN_EXIT_FAIL;
	if (o.input && capture(&o, &st, o.state)) {
		lrn_state_free(&st);
		return o.mpi ? -1 : LRN_EXIT_FAIL;
	}

	openblas_set_num_threads(cfg.cont.blas_threads);
	signal(SIGINT, lrn_on_signal);
	signal(SIGTERM, lrn_on_signal);
	struct lrn_ctx ctx;
	lrn_ctx_init(&ctx, &o, &cfg, claim, &st, o.state);
	struct pool pl;
	lrn_pool_init(&pl, &ctx);

	int rc = LRN_EXIT_OK;
	/* the seed first, alone: every other block starts from it (a
	 * block too small to seed is skipped, and the next one tries) */
	while (!st.seed_model[0] && rc == 0 && !lrn_stop) {
		int64_t seed = -1;
		for (size_t i = 0; i < st.n_blocks && seed < 0; i++)
			if (st.blocks[i].status == LRN_CAPTURED)
				seed = st.blocks[i].index;
		if (seed < 0)
			break;
		{
			if (!o.quiet)
				fprintf(stderr, "training the seed, block "
						"%lld, for %ld iterations\n",
					(long long)seed, cfg.model.iterations);
			lrn_write_status(o.status, &pl, "training", 1);
			if (lrn_train_block(&ctx, &pl.lock, seed, 1, 0, err,
					    sizeof(err))) {
				fprintf(stderr, "netshare-learner run: %s\n",
					err);
				rc = LRN_EXIT_FAIL;
			}
		}
	}
	pl.queue = malloc((st.n_blocks + 1) * sizeof(*pl.queue));
	pl.cap = st.n_blocks + 1;
	pl.closed = 1;
	int64_t *all = malloc((st.n_blocks + 1) * sizeof(*all));
	if (!pl.queue || !all) {
		fprintf(stderr, "netshare-learner run: out of memory\n");
		rc = LRN_EXIT_FAIL;
	}
	size_t n_all = 0;
	for (size_t i = 0; rc == 0 && i < st.n_blocks; i++)
		if (st.blocks[i].status == LRN_CAPTURED)
			pl.queue[pl.n++] = all[n_all++] = st.blocks[i].index;
	if (o.mpi) { /* the others wait for this word */
		long long go = rc == 0 && !lrn_stop;
		lrn_mpi_bcast_int(&go);
		if (go) {
			mpi_hand_out(&pl, all, n_all, &st, o.state, size);
			if (!o.quiet)
				fprintf(stderr, "%zu blocks over %d ranks, %zu "
						"here\n", n_all, size, pl.n);
		}
	}
	if (rc == 0 && pl.n && !lrn_stop) {
		int nw = cfg.cont.workers < (int)pl.n ? cfg.cont.workers
						      : (int)pl.n;
		if (!o.quiet)
			fprintf(stderr, "fine-tuning %zu blocks from %s on %d "
					"workers (%ld iterations each)\n",
				pl.n, st.seed_model, nw,
				(long)ceil(cfg.cont.fine_tune_fraction *
					   (double)cfg.model.iterations));
		if ((lrn_pool_start(&pl, nw), lrn_pool_wait(&pl, &o, NULL, NULL)))
			rc = LRN_EXIT_FAIL;
	}
	/* the other ranks' blocks, in queue order */
	for (size_t i = 0; o.mpi && rc == 0 && i < n_all; i++) {
		int from = owner_of(i, size);
		if (from && take_result(&ctx, all[i], from, tag_of(i, 1), err,
					sizeof(err))) {
			fprintf(stderr, "netshare-learner run: %s\n", err);
			rc = LRN_EXIT_FAIL;
		}
	}
	if (o.mpi && rc) /* a rank may still be sending */
		lrn_mpi_abort(rc);
	free(all);
	lrn_report_end(&o, &pl, &st, &cfg, claim, rc,
		       cfg.cont.workers < 64 ? cfg.cont.workers : 64, "");
	lrn_pool_destroy(&pl);
	lrn_state_free(&st);
	return rc ? rc : lrn_stop ? LRN_EXIT_FAIL : LRN_EXIT_OK;
}
