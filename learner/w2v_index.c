/* Nearest-token search for decoding: a k-d tree over one kind's word2vec
 * vectors, searched best bound first. A node's bound is an upper bound
 * on q.v over its box (the smaller of a box bound and a norm bound,
 * below); a node whose bound falls below the best score so far holds
 * nothing better. The search is bounded, like the Annoy search NetShare
 * decodes with (search_k): past EXACT_TOKENS tokens it scans at most
 * LEAF_BUDGET leaves. One that ends on the bounds (always, below
 * EXACT_TOKENS) returns what the brute-force ns_w2v_nearest (its naive
 * twin; the tests compare them) does, ties included; one cut short by
 * the budget returns the best it saw. 60 000 spread-out ports would
 * otherwise cost a scan of most of the tree per port, as 10 dimensions
 * leave the bounds little to prune. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "encode_int.h"
#include "netshare/encode.h"

#define LEAF 32
#define MAX_DEPTH 48
#define COLS 16           /* a leaf is scored COLS tokens at a time */
#define SAMPLE 64         /* rows a node's split coordinate is chosen on */
#define LEAF_BUDGET 16    /* leaves one search may scan, */
#define EXACT_TOKENS 4096 /* unless the index has no more tokens */
/* Nodes a search may hold pending: more than the 2 EXACT_TOKENS /
 * (LEAF / 2) + 1 nodes of an index of EXACT_TOKENS, so that its searches
 * always run to the end. */
#define HEAP_MAX 1024

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
	uint32_t bdim;         /* dim rounded up to 4: a box side's stride */
	const uint32_t *value; /* the vocabulary's values (not owned) */
	uint32_t *token;       /* (n) vocabulary index of row i */
	struct node *node;     /* (n_nodes), the root first */
	float *box;            /* (n_nodes, 2, bdim) per node: min then max,
				* zero padded */
	float *vec;            /* leaf blocks, (blocks, dim, COLS) */
};

/* Four lanes of floats (a GCC/clang vector extension); in a leaf each
 * lane sums its token's products in d order, like ns_w2v_dot. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
#define MAX_LANES (NS_MAX_W2V_DIM / 4)

/* Does (ka, ta) come before (kb, tb), by key, then by token? Without
 * branches: partitions mispredict half their comparisons. */
static int
row_less(float ka, uint32_t ta, float kb, uint32_t tb)
{
	return (ka < kb) | ((ka == kb) & (ta < tb));
}

static void
swap_rows(float *key, uint32_t *tok, ptrdiff_t i, ptrdiff_t j)
{
	float k = key[i];
	uint32_t t = tok[i];
	key[i] = key[j];
	tok[i] = tok[j];
	key[j] = k;
	tok[j] = t;
}

/* Reorder rows lo..hi of (key, tok) so that the k-th smallest by key,
 * then token, sits at k with the smaller ones before it (quickselect
 * with a branch-free partition): the same split as a full sort, in
 * linear expected time. */
static void
select_kth(float *key, uint32_t *tok, ptrdiff_t lo, ptrdiff_t hi,
	   ptrdiff_t k)
{
	while (lo < hi) {
		/* pivot: the median of the first, middle and last rows,
		 * moved to hi */
		ptrdiff_t mid = lo + (hi - lo) / 2;
		if (row_less(key[mid], tok[mid], key[lo], tok[lo]))
			swap_rows(key, tok, mid, lo);
		if (row_less(key[hi], tok[hi], key[lo], tok[lo]))
			swap_rows(key, tok, hi, lo);
		if (row_less(key[mid], tok[mid], key[hi], tok[hi]))
			swap_rows(key, tok, hi, mid);
		float pk = key[hi];
		uint32_t pt = tok[hi];
		ptrdiff_t store = lo;
		for (ptrdiff_t i = lo; i < hi; i++) {
			swap_rows(key, tok, i, store);
			store += row_less(key[store], tok[store], pk, pt);
		}
		swap_rows(key, tok, store, hi);
		/* now rows lo..store-1 < pivot, at store, < rows store+1.. */
		if (k < store)
			hi = store - 1;
		else if (k > store)
			lo = store + 1;
		else
			return;
	}
}

/* The bounding box of rows [begin, end) taking every step-th (local
 * arrays: the compiler need not fear that they alias vv). */
static void
rows_box(const struct ns_w2v_index *ix, const float *vv, uint32_t begin,
	 uint32_t end, uint32_t step, float *lo, float *hi)
{
	const uint32_t dim = ix->dim;
	for (uint32_t d = 0; d < ix->bdim; d++) {
		lo[d] = d < dim ? INFINITY : 0.0f;
		hi[d] = d < dim ? -INFINITY : 0.0f;
	}
	for (uint32_t i = begin; i < end; i += step) {
		const float *v = vv + (size_t)ix->token[i] * dim;
		for (uint32_t d = 0; d < dim; d++) {
			lo[d] = v[d] < lo[d] ? v[d] : lo[d];
			hi[d] = v[d] > hi[d] ? v[d] : hi[d];
		}
	}
}

/* The widest coordinate of rows [begin, end), judged on a sample;
 * -1 when all the rows are the same point. */
static int
widest(const struct ns_w2v_index *ix, const float *vv, uint32_t begin,
       uint32_t end)
{
	float lo[NS_MAX_W2V_DIM], hi[NS_MAX_W2V_DIM];
	uint32_t step = (end - begin) / SAMPLE;
	for (;;) {
		rows_box(ix, vv, begin, end, step ? step : 1, lo, hi);
		int split = 0;
		for (uint32_t d = 1; d < ix->dim; d++)
			if (hi[d] - lo[d] > hi[split] - lo[split])
				split = (int)d;
		if (hi[split] > lo[split])
			return split;
		if (step <= 1)
			return -1;
		step = 1; /* the sample coincides: look at every row */
	}
}

/* Node id over rows [begin, end), split at the median of its widest
 * coordinate until LEAF rows remain. Children are numbered in pairs, so
 * a node's two child boxes lie side by side; a node's box is the union
 * of its children's, so each row is read for a box once. */
static void
build(struct ns_w2v_index *ix, const float *vv /* (V, dim) */,
      float *key /* (n) scratch */, uint32_t id, uint32_t begin,
      uint32_t end, int depth)
{
	const uint32_t dim = ix->dim, bdim = ix->bdim;
	struct node *nd = &ix->node[id];
	float *lo = ix->box + (size_t)id * 2 * bdim, *hi = lo + bdim;
	nd->begin = begin;
	nd->end = end;
	nd->left = nd->right = 0;
	nd->max_norm2 = 0;
	int split = -1;
	if (end - begin > LEAF && depth < MAX_DEPTH - 1)
		split = widest(ix, vv, begin, end);
	if (split < 0) {
		float l[NS_MAX_W2V_DIM], h[NS_MAX_W2V_DIM];
		rows_box(ix, vv, begin, end, 1, l, h);
		memcpy(lo, l, bdim * sizeof(*lo));
		memcpy(hi, h, bdim * sizeof(*hi));
		for (uint32_t i = begin; i < end; i++) {
			const float *v = vv + (size_t)ix->token[i] * dim;
			double n2 = 0;
			for (uint32_t d = 0; d < dim; d++)
				n2 += (double)v[d] * v[d];
			if (n2 > nd->max_norm2)
				nd->max_norm2 = (float)n2;
		}
		return;
	}
	for (uint32_t i = begin; i < end; i++)
		key[i] = vv[(size_t)ix->token[i] * dim + (uint32_t)split];
	uint32_t mid = begin + (end - begin) / 2;
	select_kth(key, ix->token, begin, end - 1, mid);
	uint32_t l = ix->n_nodes, r = l + 1;
	ix->n_nodes += 2;
	build(ix, vv, key, l, begin, mid, depth + 1);
	build(ix, vv, key, r, mid, end, depth + 1);
	nd->left = l;
	nd->right = r;
	nd->max_norm2 = fmaxf(ix->node[l].max_norm2, ix->node[r].max_norm2);
	const float *bl = ix->box + (size_t)l * 2 * bdim;
	const float *br = ix->box + (size_t)r * 2 * bdim;
	for (uint32_t d = 0; d < bdim; d++) {
		lo[d] = fminf(bl[d], br[d]);
		hi[d] = fmaxf(bl[bdim + d], br[bdim + d]);
	}
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
	/* a split node holds more than LEAF rows, so every leaf but a lone
	 * root holds LEAF / 2 or more */
	size_t nodes = 2 * ((size_t)n / (LEAF / 2)) + 1;
	ix->dim = dim;
	ix->bdim = (dim + 3) & ~3u;
	ix->n = n;
	ix->value = w->value;
	ix->token = malloc((n + 1) * sizeof(*ix->token));
	ix->node = malloc(nodes * sizeof(*ix->node));
	ix->box = malloc(nodes * 2 * ix->bdim * sizeof(*ix->box) + 1);
	float *key = malloc((n + 1) * sizeof(*key));
	if (!ix->token || !ix->node || !ix->box || !key)
		goto fail;
	if (n > 0) {
		memcpy(ix->token, tokens, n * sizeof(*ix->token));
		ix->n_nodes = 1;
		build(ix, w->vec, key, 0, 0, n, 0);
		if (layout_leaves(ix, w->vec))
			goto fail;
	}
	free(key);
	return ix;
fail:
	free(key);
	ns_w2v_index_free(ix);
	return NULL;
}

/* The scores q.v of one block's COLS tokens into s. */
static void
score_block(const float *blk, const float *q, uint32_t dim, float *s)
{
	v4f acc[COLS / 4] = {{0}};
	for (uint32_t d = 0; d < dim; d++) {
		const v4f qd = {q[d], q[d], q[d], q[d]};
		for (uint32_t k = 0; k < COLS / 4; k++) {
			v4f row;
			memcpy(&row, blk + d * COLS + 4 * k, sizeof(row));
			acc[k] += qd * row;
		}
	}
	memcpy(s, acc, COLS * sizeof(*s));
}

static void
scan_leaf(const struct ns_w2v_index *ix, const struct node *nd, const float *q,
          float *best_s, uint32_t *best_t)
{
	const uint32_t dim = ix->dim, m = nd->end - nd->begin;
	const float *blk = ix->vec + nd->voff;
	for (uint32_t j0 = 0; j0 < m; j0 += COLS, blk += dim * COLS) {
		float s[COLS];
		score_block(blk, q, dim, s);
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

/* Best-bound-first walk over the tree, bounded like Annoy's search_k:
 * pending nodes wait on a max-heap of their bounds, and the walk hands
 * out at most `budget` leaves. It ends exact when the best bound left
 * falls below the caller's floor (nothing unvisited can reach it: the
 * answer is brute force's), or early when the budget or the heap runs
 * out. Same query, same walk: the answers are deterministic. */
struct walk {
	const struct ns_w2v_index *ix;
	/* the query q = |q| u split by sign, and u, by lanes of 4 */
	v4f qpos[MAX_LANES], qneg[MAX_LANES], u[MAX_LANES];
	float qn, slack;
	uint32_t n, leaves, budget;
	int exact; /* the walk ended on the floor, not on its budget */
	float bound[HEAP_MAX];
	uint32_t id[HEAP_MAX];
};

static v4f
max0(v4f x)
{
	return (v4f)((v4i)x & (x > (v4f){0}));
}

/* An upper bound on q.v over the node's points: the smaller of the box
 * bound sum_d max(q_d lo_d, q_d hi_d) and the norm bound
 * |q| (1 + max|v|^2 - dist(u, box)^2) / 2, which follows from
 * u.v = (|u|^2 + |v|^2 - |u - v|^2) / 2. */
static float
node_bound(const struct walk *w, uint32_t id)
{
	const struct ns_w2v_index *ix = w->ix;
	const float *lo = ix->box + (size_t)id * 2 * ix->bdim;
	const float *hi = lo + ix->bdim;
	v4f box = {0}, d2 = {0};
	for (uint32_t k = 0; k < ix->bdim / 4; k++) {
		v4f l, h;
		memcpy(&l, lo + 4 * k, sizeof(l));
		memcpy(&h, hi + 4 * k, sizeof(h));
		box += w->qpos[k] * h + w->qneg[k] * l;
		v4f gap = max0(l - w->u[k]) + max0(w->u[k] - h);
		d2 += gap * gap;
	}
	float b = (box[0] + box[1]) + (box[2] + box[3]);
	float g = (d2[0] + d2[1]) + (d2[2] + d2[3]);
	float norm = w->qn * (1.0f + ix->node[id].max_norm2 - g) * 0.5f;
	return b < norm ? b : norm;
}

static void
walk_push(struct walk *w, uint32_t id, float bound)
{
	uint32_t i = w->n++;
	while (i > 0 && w->bound[(i - 1) / 2] < bound) {
		w->bound[i] = w->bound[(i - 1) / 2];
		w->id[i] = w->id[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->bound[i] = bound;
	w->id[i] = id;
}

static void
walk_pop(struct walk *w)
{
	float bound = w->bound[--w->n];
	uint32_t id = w->id[w->n], i = 0;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= w->n)
			break;
		if (c + 1 < w->n && w->bound[c + 1] > w->bound[c])
			c++;
		if (!(w->bound[c] > bound))
			break;
		w->bound[i] = w->bound[c];
		w->id[i] = w->id[c];
		i = c;
	}
	w->bound[i] = bound;
	w->id[i] = id;
}

/* The query q (cleaned), its direction u, its norm qn and its L1 norm
 * l1 start a walk from the root. */
static void
walk_init(struct walk *w, const struct ns_w2v_index *ix, const float *q,
	  const float *u, double qn, double l1)
{
	w->ix = ix;
	for (uint32_t d = 0; d < ix->bdim; d++) {
		float x = d < ix->dim ? q[d] : 0.0f;
		w->qpos[d / 4][d % 4] = x > 0 ? x : 0.0f;
		w->qneg[d / 4][d % 4] = x < 0 ? x : 0.0f;
		w->u[d / 4][d % 4] = d < ix->dim ? u[d] : 0.0f;
	}
	w->qn = (float)qn;
	/* float rounding in the bounds and the scores, at most a few
	 * dim 2^-24 |q| |v|: never prune a node whose bound comes within
	 * slack of the floor */
	w->slack = (float)(1e-4 * (1.0 + l1) * (1.0 + ix->node[0].max_norm2));
	w->n = w->leaves = 0;
	w->budget = ix->n <= EXACT_TOKENS ? UINT32_MAX : LEAF_BUDGET;
	w->exact = 0;
	walk_push(w, 0, INFINITY);
}

/* The next leaf that may hold a score >= floor, or -1 when the walk is
 * over (w->exact says how it ended). From the best pending node it goes
 * down the better child each time and leaves the other one pending, as
 * in best-bin-first: one heap operation per level, not three. */
static int32_t
walk_next(struct walk *w, float floor)
{
	const struct ns_w2v_index *ix = w->ix;
	floor -= w->slack;
	while (w->n > 0 && !(w->bound[0] < floor)) {
		if (w->leaves == w->budget)
			return -1;
		uint32_t id = w->id[0];
		walk_pop(w);
		for (;;) {
			const struct node *nd = &ix->node[id];
			if (nd->left == 0) {
				w->leaves++;
				return (int32_t)id;
			}
			float bl = node_bound(w, nd->left);
			float br = node_bound(w, nd->right);
			uint32_t other = bl >= br ? nd->right : nd->left;
			float bo = bl >= br ? br : bl;
			if (!(bo < floor)) {
				if (w->n == HEAP_MAX)
					return -1;
				walk_push(w, other, bo);
			}
			if ((bl >= br ? bl : br) < floor)
				break;
			id = bl >= br ? nd->left : nd->right;
		}
	}
	w->exact = 1;
	return -1;
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

uint32_t
ns_w2v_index_nearest_ex(const struct ns_w2v_index *ix, const float *v,
			int *exact)
{
	if (exact)
		*exact = 1;
	if (ix->n == 0)
		return 0;
	float q[NS_MAX_W2V_DIM], u[NS_MAX_W2V_DIM];
	double l1, qn = prepare_query(ix, v, q, u, &l1);
	struct walk w;
	walk_init(&w, ix, q, u, qn, l1);
	uint32_t best_t = UINT32_MAX;
	float best_s = -INFINITY;
	int32_t id;
	while ((id = walk_next(&w, best_s)) >= 0)
		scan_leaf(ix, &ix->node[id], q, &best_s, &best_t);
	if (exact)
		*exact = w.exact;
	return ix->value[best_t];
}

uint32_t
ns_w2v_index_nearest(const struct ns_w2v_index *ix, const float *v)
{
	return ns_w2v_index_nearest_ex(ix, v, NULL);
}

/* The k best tokens so far, best first: scores and vocabulary indexes. */
struct topk {
	uint32_t k, n;
	float *score;
	uint32_t *tok;
};

/* Does (sa, ta) rank before (sb, tb)? Ties go to the smaller token, so
 * the list does not depend on the order the leaves come in. */
static int
ranks_before(float sa, uint32_t ta, float sb, uint32_t tb)
{
	return sa > sb || (sa == sb && ta < tb);
}

static void
topk_add(struct topk *t, float sc, uint32_t tok)
{
	if (t->n == t->k &&
	    !ranks_before(sc, tok, t->score[t->n - 1], t->tok[t->n - 1]))
		return;
	uint32_t i = t->n < t->k ? t->n++ : t->k - 1;
	while (i > 0 && t->score[i - 1] < sc) {
		t->score[i] = t->score[i - 1];
		t->tok[i] = t->tok[i - 1];
		i--;
	}
	while (i > 0 && t->score[i - 1] == sc && t->tok[i - 1] > tok) {
		t->score[i] = t->score[i - 1];
		t->tok[i] = t->tok[i - 1];
		i--;
	}
	t->score[i] = sc;
	t->tok[i] = tok;
}

uint32_t
ns_w2v_index_near_ex(const struct ns_w2v_index *ix, const float *v,
		     float eps, uint32_t *out, uint32_t max, int *exact)
{
	if (exact)
		*exact = 1;
	if (ix->n == 0 || max == 0)
		return 0;
	const uint32_t dim = ix->dim;
	float q[NS_MAX_W2V_DIM], u[NS_MAX_W2V_DIM];
	double l1, qn = prepare_query(ix, v, q, u, &l1);
	float score[NS_NEAR_MAX];
	if (max > NS_NEAR_MAX)
		max = NS_NEAR_MAX;
	struct topk t = {max, 0, score, out};
	/* scores are q.v for unit v: eps is a cosine, so scale it by |q| */
	const float spread = eps * (float)qn;
	struct walk w;
	walk_init(&w, ix, q, u, qn, l1);
	/* a node can add nothing once its bound falls below the k-th best,
	 * or more than eps below the best */
	float floor = -INFINITY;
	int32_t id;
	while ((id = walk_next(&w, floor)) >= 0) {
		const struct node *nd = &ix->node[id];
		const uint32_t m = nd->end - nd->begin;
		const float *blk = ix->vec + nd->voff;
		for (uint32_t j0 = 0; j0 < m; j0 += COLS, blk += dim * COLS) {
			float s[COLS];
			score_block(blk, q, dim, s);
			uint32_t wd = m - j0 < COLS ? m - j0 : COLS;
			for (uint32_t j = 0; j < wd; j++)
				if (t.n < t.k || s[j] >= t.score[t.k - 1])
					topk_add(&t, s[j],
						 ix->token[nd->begin + j0 + j]);
		}
		floor = t.score[0] - spread;
		if (t.n == t.k && t.score[t.n - 1] > floor)
			floor = t.score[t.n - 1];
	}
	if (exact)
		*exact = w.exact;
	float thresh = t.score[0] - spread;
	uint32_t n = 0;
	while (n < t.n && t.score[n] >= thresh)
		n++;
	return n;
}

uint32_t
ns_w2v_index_near(const struct ns_w2v_index *ix, const float *v, float eps,
		  uint32_t *out, uint32_t max)
{
	return ns_w2v_index_near_ex(ix, v, eps, out, max, NULL);
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
