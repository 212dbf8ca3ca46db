/* Exact nearest-token search for decoding: a k-d tree over one kind's
 * word2vec vectors, searched depth first. A node is skipped when an
 * upper bound on q.v over its box falls below the best score so far; the
 * bound is the smaller of the box bound and a norm bound (below). It
 * returns the same token as the brute-force ns_w2v_nearest (its naive
 * twin; the tests compare them), ties included. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encode_int.h"
#include "netshare/encode.h"

#define LEAF 32
#define MAX_DEPTH 48
#define COLS 16 /* a leaf is scored COLS tokens at a time */

struct node {
	uint32_t begin, end;  /* rows of token[] */
	uint32_t left, right; /* children; 0 for a leaf (0 is the root) */
	uint32_t voff;        /* leaf: its first block in vec */
	float max_norm2;      /* largest |v|^2 inside */
};

/* Leaf vectors are stored transposed in blocks of COLS tokens, zero
 * padded: a block is (dim, COLS), so scoring it is dim fixed-width vector
 * steps, and each token's score is still summed over d in order (bit for
 * bit ns_w2v_dot). */
struct ns_w2v_index {
	uint32_t dim, n, n_nodes;
	const uint32_t *value; /* the vocabulary's values (not owned) */
	uint32_t *token;       /* (n) vocabulary index of row i */
	struct node *node;     /* (2n + 1) */
	float *box;            /* (2n + 1, 2, dim) per node: min then max */
	float *vec;            /* leaf blocks, (blocks, dim, COLS) */
	const float *rows;     /* the vocabulary's (V, dim) (not owned) */
};

/* Sort context for qsort_r: rows by one coordinate, then token. */
struct by_coord {
	const float *vec; /* the vocabulary's (V, dim) */
	uint32_t dim, d;
};

static int
coord_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct by_coord *c = ctx;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	float x = c->vec[(size_t)a * c->dim + c->d];
	float y = c->vec[(size_t)b * c->dim + c->d];
	if (x != y)
		return x < y ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* Node over rows [begin, end), split at the median of its widest
 * coordinate until LEAF rows remain. */
static uint32_t
build(struct ns_w2v_index *ix, const float *vv /* (V, dim) */, uint32_t begin,
      uint32_t end, int depth)
{
	const uint32_t dim = ix->dim, id = ix->n_nodes++;
	struct node *nd = &ix->node[id];
	float *lo = ix->box + (size_t)id * 2 * dim, *hi = lo + dim;
	nd->begin = begin;
	nd->end = end;
	nd->left = nd->right = 0;
	nd->max_norm2 = 0;
	for (uint32_t d = 0; d < dim; d++) {
		lo[d] = INFINITY;
		hi[d] = -INFINITY;
	}
	for (uint32_t i = begin; i < end; i++) {
		const float *v = vv + (size_t)ix->token[i] * dim;
		double n2 = 0;
		for (uint32_t d = 0; d < dim; d++) {
			lo[d] = v[d] < lo[d] ? v[d] : lo[d];
			hi[d] = v[d] > hi[d] ? v[d] : hi[d];
			n2 += (double)v[d] * v[d];
		}
		if (n2 > nd->max_norm2)
			nd->max_norm2 = (float)n2;
	}
	uint32_t split = 0;
	for (uint32_t d = 1; d < dim; d++)
		if (hi[d] - lo[d] > hi[split] - lo[split])
			split = d;
	if (end - begin <= LEAF || depth >= MAX_DEPTH - 1 ||
	    !(hi[split] > lo[split]))
		return id;
	struct by_coord c = {vv, dim, split};
	qsort_r(ix->token + begin, end - begin, sizeof(*ix->token), coord_cmp,
	        &c);
	uint32_t mid = begin + (end - begin) / 2;
	uint32_t l = build(ix, vv, begin, mid, depth + 1);
	uint32_t r = build(ix, vv, mid, end, depth + 1);
	nd->left = l;
	nd->right = r;
	return id;
}

/* Lay out each leaf's vectors as transposed, zero-padded blocks.
 * Returns 0 or -1 on allocation failure. */
static int
layout_leaves(struct ns_w2v_index *ix, const float *vv /* (V, dim) */)
{
	const uint32_t dim = ix->dim;
	size_t blocks_all = 0;
	for (uint32_t id = 0; id < ix->n_nodes; id++) {
		const struct node *nd = &ix->node[id];
		if (nd->left == 0)
			blocks_all += (nd->end - nd->begin + COLS - 1) / COLS;
	}
	ix->vec = calloc(blocks_all * dim * COLS, sizeof(*ix->vec));
	if (!ix->vec)
		return -1;
	size_t off = 0;
	for (uint32_t id = 0; id < ix->n_nodes; id++) {
		struct node *nd = &ix->node[id];
		if (nd->left != 0)
			continue;
		nd->voff = (uint32_t)off;
		uint32_t m = nd->end - nd->begin;
		float *blk = ix->vec + off;
		for (uint32_t j = 0; j < m; j++) {
			const float *v =
			    vv + (size_t)ix->token[nd->begin + j] * dim;
			float *b = blk + (size_t)(j / COLS) * dim * COLS;
			for (uint32_t d = 0; d < dim; d++)
				b[d * COLS + j % COLS] = v[d];
		}
		off += (size_t)((m + COLS - 1) / COLS) * dim * COLS;
	}
	return 0;
}

struct ns_w2v_index *
ns_w2v_index_new(const struct ns_w2v *w, int kind)
{
	uint32_t lo = 0, hi = 0;
	for (uint32_t t = 0; t < w->n_tokens; t++) { /* sorted by kind */
		if (w->kind[t] < kind)
			lo = t + 1;
		if (w->kind[t] <= kind)
			hi = t + 1;
	}
	uint32_t n = hi > lo ? hi - lo : 0;
	uint32_t *tokens = malloc((n + 1) * sizeof(*tokens));
	if (!tokens)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		tokens[i] = lo + i;
	struct ns_w2v_index *ix = ns_w2v_index_new_tokens(w, tokens, n);
	free(tokens);
	return ix;
}

struct ns_w2v_index *
ns_w2v_index_new_tokens(const struct ns_w2v *w, const uint32_t *tokens,
			uint32_t n)
{
	struct ns_w2v_index *ix = calloc(1, sizeof(*ix));
	if (!ix)
		return NULL;
	uint32_t dim = w->dim;
	size_t nodes = 2 * (size_t)n + 1;
	ix->dim = dim;
	ix->n = n;
	ix->value = w->value;
	ix->rows = w->vec;
	ix->token = malloc((n + 1) * sizeof(*ix->token));
	ix->node = malloc(nodes * sizeof(*ix->node));
	ix->box = malloc(nodes * 2 * dim * sizeof(*ix->box) + 1);
	if (!ix->token || !ix->node || !ix->box)
		goto fail;
	if (n > 0) {
		memcpy(ix->token, tokens, n * sizeof(*ix->token));
		build(ix, w->vec, 0, n, 0);
		if (layout_leaves(ix, w->vec))
			goto fail;
	}
	return ix;
fail:
	ns_w2v_index_free(ix);
	return NULL;
}

/* Four lanes of floats (a GCC/clang vector extension); each lane sums
 * its token's products in d order, like ns_w2v_dot. */
typedef float v4f __attribute__((vector_size(16)));

static void
scan_leaf(const struct ns_w2v_index *ix, const struct node *nd, const float *q,
          float *best_s, uint32_t *best_t)
{
	const uint32_t dim = ix->dim, m = nd->end - nd->begin;
	const float *blk = ix->vec + nd->voff;
	for (uint32_t j0 = 0; j0 < m; j0 += COLS, blk += dim * COLS) {
		v4f acc[COLS / 4] = {{0}};
		for (uint32_t d = 0; d < dim; d++) {
			const v4f qd = {q[d], q[d], q[d], q[d]};
			for (uint32_t k = 0; k < COLS / 4; k++) {
				v4f row;
				memcpy(&row, blk + d * COLS + 4 * k,
				       sizeof(row));
				acc[k] += qd * row;
			}
		}
		float s[COLS];
		memcpy(s, acc, sizeof(s));
		uint32_t w = m - j0 < COLS ? m - j0 : COLS;
		for (uint32_t j = 0; j < w; j++) {
			uint32_t t = ix->token[nd->begin + j0 + j];
			if (s[j] > *best_s ||
			    (s[j] == *best_s && t < *best_t)) {
				*best_s = s[j];
				*best_t = t;
			}
		}
	}
}

/* An upper bound on q.v over the node's points: the smaller of the box
 * bound sum_d max(q_d lo_d, q_d hi_d) and, with q = |q| u, the norm
 * bound |q| (1 + max|v|^2 - dist(u, box)^2) / 2, which follows from
 * u.v = (|u|^2 + |v|^2 - |u - v|^2) / 2. */
static float
node_bound(const struct ns_w2v_index *ix, uint32_t id, const float *q,
           const float *u, float qn)
{
	const uint32_t dim = ix->dim;
	const float *lo = ix->box + (size_t)id * 2 * dim, *hi = lo + dim;
	float box = 0, d2 = 0;
	for (uint32_t d = 0; d < dim; d++) {
		float a = q[d] * lo[d], b = q[d] * hi[d];
		box += a > b ? a : b;
		float gap = u[d] < lo[d]   ? lo[d] - u[d]
		            : u[d] > hi[d] ? u[d] - hi[d]
		                           : 0.0f;
		d2 += gap * gap;
	}
	float norm = qn * (1.0f + ix->node[id].max_norm2 - d2) * 0.5f;
	return box < norm ? box : norm;
}

/* Push both children of nd with their bounds, the more promising one
 * last so that it is popped first. */
static void
push_children(const struct ns_w2v_index *ix, const struct node *nd,
	      const float *q, const float *u, float qn, uint32_t *stack,
	      float *bound, int *top)
{
	float bl = node_bound(ix, nd->left, q, u, qn);
	float br = node_bound(ix, nd->right, q, u, qn);
	int lf = bl >= br;
	stack[*top] = lf ? nd->right : nd->left;
	bound[(*top)++] = lf ? br : bl;
	stack[*top] = lf ? nd->left : nd->right;
	bound[(*top)++] = lf ? bl : br;
}

/* The cleaned query q, its direction u and its L1 norm; returns |q|. */
static double
prepare_query(const struct ns_w2v_index *ix, const float *v, float *q,
	      float *u, double *l1)
{
	const uint32_t dim = ix->dim;
	ns_w2v_query(q, v, dim);
	double n2 = 0;
	*l1 = 0;
	for (uint32_t d = 0; d < dim; d++) {
		n2 += (double)q[d] * q[d];
		*l1 += fabsf(q[d]);
	}
	double qn = sqrt(n2);
	for (uint32_t d = 0; d < dim; d++)
		u[d] = qn > 0 ? (float)(q[d] / qn) : 0.0f;
	return qn;
}

/* The best token for query v: its vocabulary index, its score in *score;
 * q and u (NS_MAX_W2V_DIM) get the cleaned query and its direction, qn
 * its norm. The index must not be empty. */
static uint32_t
search(const struct ns_w2v_index *ix, const float *v, float *q, float *u,
       double *qn_out, float *score)
{
	double l1;
	double qn = prepare_query(ix, v, q, u, &l1);
	/* float rounding in the bounds and the scores, at most a few
	 * dim 2^-24 |q| |v|: never prune a node whose bound comes within
	 * slack of the best score */
	const float slack =
	    (float)(1e-4 * (1.0 + l1) * (1.0 + ix->node[0].max_norm2));

	uint32_t best_t = UINT32_MAX;
	float best_s = -INFINITY;
	uint32_t stack[MAX_DEPTH + 2];
	float bound[MAX_DEPTH + 2];
	int top = 0;
	stack[top] = 0;
	bound[top++] = INFINITY;
	while (top > 0) {
		top--;
		if (bound[top] + slack < best_s)
			continue;
		const struct node *nd = &ix->node[stack[top]];
		if (nd->left == 0) {
			scan_leaf(ix, nd, q, &best_s, &best_t);
			continue;
		}
		push_children(ix, nd, q, u, (float)qn, stack, bound, &top);
	}
	*qn_out = qn;
	*score = best_s;
	return best_t;
}

uint32_t
ns_w2v_index_nearest(const struct ns_w2v_index *ix, const float *v)
{
	if (ix->n == 0)
		return 0;
	float q[NS_MAX_W2V_DIM], u[NS_MAX_W2V_DIM], score;
	double qn;
	return ix->value[search(ix, v, q, u, &qn, &score)];
}

/* The k best tokens so far, best first: scores and vocabulary indexes. */
struct topk {
	uint32_t k, n;
	float *score;
	uint32_t *tok;
};

static void
topk_add(struct topk *t, float sc, uint32_t tok)
{
	if (t->n == t->k && sc <= t->score[t->n - 1])
		return;
	uint32_t i = t->n < t->k ? t->n++ : t->k - 1;
	while (i > 0 && t->score[i - 1] < sc) {
		t->score[i] = t->score[i - 1];
		t->tok[i] = t->tok[i - 1];
		i--;
	}
	t->score[i] = sc;
	t->tok[i] = tok;
}

uint32_t
ns_w2v_index_near(const struct ns_w2v_index *ix, const float *v, float eps,
		  uint32_t *out, uint32_t max)
{
	if (ix->n == 0 || max == 0)
		return 0;
	const uint32_t dim = ix->dim;
	float q[NS_MAX_W2V_DIM], u[NS_MAX_W2V_DIM];
	double l1;
	double qn = prepare_query(ix, v, q, u, &l1);
	float score[NS_NEAR_MAX];
	if (max > NS_NEAR_MAX)
		max = NS_NEAR_MAX;
	struct topk t = {max, 0, score, out};
	/* depth first, best child first; a node can hold nothing better
	 * than the k-th best when its bound falls below it */
	uint32_t stack[MAX_DEPTH + 2];
	float bound[MAX_DEPTH + 2];
	int top = 0;
	stack[top] = 0;
	bound[top++] = INFINITY;
	while (top > 0) {
		top--;
		if (t.n == t.k && bound[top] + 1e-4f < t.score[t.n - 1])
			continue;
		const struct node *nd = &ix->node[stack[top]];
		if (nd->left == 0) {
			for (uint32_t j = nd->begin; j < nd->end; j++) {
				uint32_t tok = ix->token[j];
				const float *r = ix->rows + (size_t)tok * dim;
				float sc = 0;
				for (uint32_t d = 0; d < dim; d++)
					sc += q[d] * r[d];
				topk_add(&t, sc, tok);
			}
			continue;
		}
		push_children(ix, nd, q, u, (float)qn, stack, bound, &top);
	}
	/* scores are q.v for unit v: eps is a cosine, so scale it by |q| */
	float thresh = t.score[0] - eps * (float)qn;
	uint32_t n = 0;
	while (n < t.n && t.score[n] >= thresh)
		n++;
	return n;
}

void
ns_w2v_index_free(struct ns_w2v_index *ix)
{
	if (!ix)
		return;
	free(ix->token);
	free(ix->node);
	free(ix->box);
	free(ix->vec);
	free(ix);
}
