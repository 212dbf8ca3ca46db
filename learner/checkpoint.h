/* Model checkpoints: a versioned binary file holding the config, the
 * dimensions, every tensor (weights, BatchNorm statistics, Adam state),
 * the RNG and the encoder, with a checksum. Written atomically. */
#ifndef NETSHARE_CHECKPOINT_H
#define NETSHARE_CHECKPOINT_H

#include <stddef.h>

#include "config.h"
#include "dg.h"
#include "netshare/encode.h"

#define NS_CKPT_VERSION 1

/* Write model and encoder to path (temp file, fsync, rename). Returns 0
 * or -1 with a message. */
int ns_ckpt_save(const char *path, const struct ns_learner_config *cfg,
		 const struct ns_dg *m, const struct ns_encoder *enc,
		 char *err, size_t errlen);

/* Load path: fills cfg, builds m and enc. A short, corrupt or
 * wrong-version file fails with a message naming the cause. */
int ns_ckpt_load(const char *path, struct ns_learner_config *cfg,
		 struct ns_dg *m, struct ns_encoder *enc, char *err,
		 size_t errlen);

/* The same on a buffer (fuzzing, tests). */
int ns_ckpt_load_mem(const void *buf, size_t len, const char *name,
		     struct ns_learner_config *cfg, struct ns_dg *m,
		     struct ns_encoder *enc, char *err, size_t errlen);

#endif
