/* Training one block: its window's records encoded with the seed's
 * encoder, a model fine-tuned from the seed (or trained from scratch for
 * the seed itself), DP-SGD with its privacy plan, generation, the
 * fidelity report on held-back flows, and the published files. */
#ifndef LRN_BLOCK_H
#define LRN_BLOCK_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "lrn_state.h"
#include "netshare/privacy.h"

/* What every block shares: read-only while workers run, except the
 * fields named under the lock. */
struct lrn_ctx {
	const char *dir;		/* state directory */
	struct ns_learner_config cfg;	/* the run's config */
	int claim_dp;			/* DP on and every choice fixed */
	int encoder_only;		/* --public-init encoder: the seed's
					   encoder, fresh weights (naive DP) */
	double block_time_budget;	/* seconds per block, 0: none */
	int quiet;
	volatile sig_atomic_t *stop;
	/* under lock */
	struct lrn_state *st;
	struct ns_privacy_acct committed; /* published + being trained */
	long iteration[64];		  /* per worker, for progress */
	int64_t training[64];		  /* block per worker, -1 idle */
};

/* The epsilon (Balle conversion) of an accountant at delta; 0 when
 * nothing was released. */
double lrn_epsilon(const struct ns_privacy_acct *a, double delta);

/* The privacy a block of n_flows samples trained for `iterations`
 * spends: one sampled Gaussian (q = batch / n_flows) per update of D
 * and of D_a, d_rounds per iteration, and one noisy flow count. */
void lrn_block_privacy(const struct ns_learner_config *cfg, uint64_t n_flows,
		       long iterations, struct ns_privacy_acct *a);

/* Train block `index` (the seed when is_seed: from scratch, encoder
 * fitted on its window, unless a public seed model is set) and publish
 * it; worker is the progress slot. The caller holds no lock. Returns 0
 * (trained or skipped with a note), or -1 with a message. */
int lrn_train_block(struct lrn_ctx *c, pthread_mutex_t *lock, int64_t index,
		    int is_seed, int worker, char *err, size_t errlen);

#endif
