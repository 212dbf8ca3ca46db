/* What `run` (files, MPI) and `live` (the dataplane's rings) share: the
 * options, the state directory, the worker pool and the status file. */
#ifndef LRN_RUN_H
#define LRN_RUN_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "lrn_block.h"

/* SIGINT/SIGTERM: stop after the blocks in training (not published). */
extern volatile sig_atomic_t lrn_stop;
void lrn_on_signal(int sig);

struct run_opts {
	const char *state, *input, *from, *kind, *config, *public_model;
	const char *status;
	int mpi;
	long iterations, workers;
	long long seed;
	double block_time_budget;
	double grace;	/* live: seconds of trace time a block stays open */
	int dp_unclaimed, quiet;
	int encoder_only;	/* --public-init encoder */
};

/* argv from the subcommand's name on; live allows --grace and refuses
 * --input, --from and --mpi. 0, 1 after --help, or -1 after a message. */
int lrn_parse_opts(int argc, char **argv, struct run_opts *o, int live);
/* The config (--config over the defaults, option overrides) and
 * whether DP can claim its epsilon: -1 to go on, else the exit status
 * after a message (cmd names the subcommand). */
int lrn_load_config(const struct run_opts *o, const char *cmd,
		    struct ns_learner_config *cfg, int *claim);
/* The blocks' shared context for a run over st in dir. */
void lrn_ctx_init(struct lrn_ctx *ctx, const struct run_opts *o,
		  const struct ns_learner_config *cfg, int claim,
		  struct lrn_state *st, const char *dir);
/* DIR and its subdirectories. */
int lrn_make_dirs(const char *dir);
/* Why a DP config cannot claim an epsilon, or NULL. */
const char *lrn_dp_void_reason(const struct ns_learner_config *cfg,
			       const char *public_model);

struct pool;
struct worker_arg {
	struct pool *pool;
	int id;
};

/* Blocks waiting to be trained, taken in order by nw workers; the
 * first taken while no seed exists is trained as the seed, alone. */
struct pool {
	struct lrn_ctx *ctx;
	pthread_mutex_t lock;	/* also guards ctx->st */
	pthread_cond_t more;
	int64_t *queue;
	size_t n, next, cap;
	int closed;		/* no more blocks will come */
	int seed_running;
	int failed;
	char err[512];
	int nw;
	pthread_t th[64];
	struct worker_arg wa[64];
	int live;		/* status carries the capture counters */
	uint64_t records_in, late_records;
};

void lrn_pool_init(struct pool *pl, struct lrn_ctx *ctx);
void lrn_pool_destroy(struct pool *pl);
/* Queue a block (pl->lock held). 0, or -1 out of memory. */
int lrn_pool_push_locked(struct pool *pl, int64_t index);
void lrn_pool_close(struct pool *pl);
void lrn_pool_start(struct pool *pl, int nw);
int lrn_pool_wait(struct pool *pl, const struct run_opts *o,
		  int (*tick)(struct pool *, void *), void *arg);

/* The state in o->state: new for this config, or checked against it.
 * 0, or -1 after a message. */
struct lrn_state;
int lrn_open_state(const struct run_opts *o,
		   const struct ns_learner_config *cfg, struct lrn_state *st);

/* Rewrite the --status file (atomically). */
void lrn_write_status(const char *path, struct pool *pl, const char *state,
		      int workers);

/* The end of a run: the --status file's last state, then (unless quiet)
 * one line, after `lead`: blocks trained, skipped and waiting, and the
 * epsilon spent when one is claimed. */
void lrn_report_end(const struct run_opts *o, struct pool *pl,
		    const struct lrn_state *st,
		    const struct ns_learner_config *cfg, int claim, int rc,
		    int workers, const char *lead);

#endif
