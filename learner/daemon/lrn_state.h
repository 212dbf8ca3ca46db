/* The continuous learner's state directory: which blocks were captured,
 * which are trained, the seed, the privacy spent. state.json is the one
 * source of truth and is replaced atomically after every change, so a
 * learner killed at any point restarts from it without losing a block:
 *
 *   DIR/state.json             this file
 *   DIR/blocks/block-N.csv     a captured block's records, until trained
 *   DIR/models/block-N.ckpt    a trained block's checkpoint
 *   DIR/models/block-N.privacy.json   its privacy accounting
 *   DIR/reports/block-N.json   its fidelity report
 *   DIR/synthetic/block-N.csv  the records it generated for the report
 *   DIR/latest.json            the newest published block
 *
 * N is the block index, floor(start / block length) in ns since the
 * epoch, zero-padded to 10 digits. */
#ifndef LRN_STATE_H
#define LRN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "netshare/privacy.h"

enum lrn_block_status {
	LRN_CAPTURED = 0, /* records spooled, not trained */
	LRN_TRAINED,	  /* checkpoint and report published */
	LRN_SKIPPED,	  /* no budget left, or too few flows */
};

struct lrn_block {
	int64_t index;
	int status;		/* enum lrn_block_status */
	uint64_t records;	/* captured */
	uint64_t flows;		/* training samples (5-tuples per chunk) */
	int64_t iterations;	/* trained */
	double seconds;		/* training time */
	double epsilon;		/* this block's own epsilon; NAN: no DP */
	int64_t version;	/* publication number, from 1 */
	char note[128];		/* why skipped */
};

struct lrn_state {
	int is_packets;
	uint64_t block_ns;
	uint32_t window;	/* blocks per encoded trace (n_chunks) */
	int64_t seed_block;	/* -1: none yet; with a public model too */
	char seed_model[512];	/* checkpoint every block fine-tunes from */
	int dp;			/* privacy.enabled when the state began */
	int64_t published;	/* last version handed out */
	struct ns_privacy_acct acct; /* every trained block's RDP summed */
	struct lrn_block *blocks;    /* sorted by index */
	size_t n_blocks, cap;
};

void lrn_state_init(struct lrn_state *s);
void lrn_state_free(struct lrn_state *s);

/* The block with this index, or NULL. */
struct lrn_block *lrn_state_find(struct lrn_state *s, int64_t index);
/* Add a captured block (kept sorted); NULL when out of memory. */
struct lrn_block *lrn_state_add(struct lrn_state *s, int64_t index);

/* DIR/state.json: 0 and *s filled, 1 when there is no state yet, or -1
 * with a message naming the file and field. */
int lrn_state_load(struct lrn_state *s, const char *dir, char *err,
		   size_t errlen);
/* The same from a buffer (fuzzing, tests). */
int lrn_state_parse(struct lrn_state *s, const char *text, size_t len,
		    const char *name, char *err, size_t errlen);
/* Replace DIR/state.json atomically. 0, or -1 with a message. */
int lrn_state_save(const struct lrn_state *s, const char *dir, char *err,
		   size_t errlen);

/* DIR/<sub>/block-N<suffix> into buf. */
void lrn_block_path(char *buf, size_t n, const char *dir, const char *sub,
		    int64_t index, const char *suffix);

#endif
