/* The learner's configuration: encoding choices and model sizes, loaded
 * from JSON (configs/learner-*.json) through one table of fields. */
#ifndef NETSHARE_LEARNER_CONFIG_H
#define NETSHARE_LEARNER_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "dg.h"
#include "netshare/encode.h"

/* Privacy budgets; the mechanism's knobs (enabled, noise_multiplier,
 * clip) live in the model config (ns_dg_config.dp*). */
struct ns_privacy_config {
	double delta;		    /* of the (epsilon, delta) guarantee */
	float epsilon_budget;	    /* over all blocks; 0: none */
	float block_epsilon_budget; /* per block; 0: none */
	float count_noise;	    /* sigma of each block's noisy flow count */
};

/* The continuous learner: rolling blocks, a window of encoding.n_chunks
 * blocks per encoded trace (a block is one chunk of it). */
struct ns_continuous_config {
	float block_seconds;	  /* block duration */
	float fine_tune_fraction; /* of model.iterations for later blocks */
	int workers;		  /* blocks trained at once */
	int blas_threads;	  /* per worker */
	float holdout;		  /* share of a block's flows held back for
				     its fidelity report */
};

struct ns_learner_config {
	struct ns_encode_config enc;
	struct ns_dg_config model;
	struct ns_privacy_config privacy;
	struct ns_continuous_config cont;
};

/* Defaults sized for a 2-core machine (configs/learner-default.json). */
void ns_learner_config_default(struct ns_learner_config *c);

/* Apply a JSON document over *c: every field is checked (type, range,
 * unknown names) and nothing changes unless all of it is valid. Returns
 * 0, or -1 with a message naming the file and field. */
int ns_learner_config_parse(struct ns_learner_config *c, const char *text,
			    size_t len, const char *path, char *err,
			    size_t errlen);
int ns_learner_config_load(struct ns_learner_config *c, const char *path,
			   char *err, size_t errlen);

/* The whole config as JSON. */
void ns_learner_config_print(const struct ns_learner_config *c, FILE *f);

#endif
