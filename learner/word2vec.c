/* IP2Vec-style word2vec for ports and protocols (netshare.md §3.2): CBOW
 * with the mean of the context, negative sampling from the unigram^0.75
 * distribution, sub-sampling of frequent tokens, a linearly decaying
 * learning rate, then L2-normalised input vectors. Single-threaded and
 * deterministic for a given seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encode_int.h"
#include "netshare/encode.h"

#define N_PORTS 65536u
#define N_PROTOS 256u
#define ALPHA_START 0.025f
#define ALPHA_END 0.0001f
#define SUBSAMPLE 1e-3

static uint64_t
rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double
rng_uniform(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static uint32_t
rng_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

/* Walker/Vose alias table for drawing token t with probability
 * weight[t] / sum(weight) in O(1). */
struct alias {
	uint32_t n;
	double *prob;    /* (n) */
	uint32_t *alias; /* (n) */
};

static int
alias_build(struct alias *a, const double *weight, uint32_t n)
{
	a->n = n;
	a->prob = malloc(n * sizeof(*a->prob));
	a->alias = malloc(n * sizeof(*a->alias));
	uint32_t *stack = malloc(2 * (size_t)n * sizeof(*stack));
	if (!a->prob || !a->alias || !stack) {
		free(stack);
		return -1;
	}
	double sum = 0;
	for (uint32_t i = 0; i < n; i++)
		sum += weight[i];
	/* small indices grow up from the bottom, large down from the top */
	uint32_t *small = stack, *large = stack + n;
	uint32_t ns = 0, nl = 0;
	for (uint32_t i = 0; i < n; i++) {
		a->prob[i] = weight[i] * n / sum;
		a->alias[i] = i;
		if (a->prob[i] < 1.0)
			small[ns++] = i;
		else
			large[nl++] = i;
	}
	while (ns > 0 && nl > 0) {
		uint32_t s = small[--ns], l = large[nl - 1];
		a->alias[s] = l;
		a->prob[l] -= 1.0 - a->prob[s];
		if (a->prob[l] < 1.0) {
			nl--;
			small[ns++] = l;
		}
	}
	/* what is left is 1 up to rounding */
	while (nl > 0)
		a->prob[large[--nl]] = 1.0;
	while (ns > 0)
		a->prob[small[--ns]] = 1.0;
	free(stack);
	return 0;
}

static uint32_t
alias_draw(const struct alias *a, uint64_t *rng)
{
	uint32_t i = rng_below(rng, a->n);
	return rng_uniform(rng) < a->prob[i] ? i : a->alias[i];
}

static void
alias_free(struct alias *a)
{
	free(a->prob);
	free(a->alias);
}

float
ns_w2v_dot(const float *a, const float *b, uint32_t d)
{
	float s = 0;
	for (uint32_t i = 0; i < d; i++)
		s += a[i] * b[i];
	return s;
}

static float
sigmoidf(float x)
{
	if (x > 30.0f)
		return 1.0f;
	if (x < -30.0f)
		return 0.0f;
	return 1.0f / (1.0f + expf(-x));
}

/* One CBOW update for the token at pos of sentence s (len tokens):
 * h = mean of the context vectors, logistic loss on the target and
 * `negative` sampled tokens, the error spread back over the context. */
static void
cbow_step(const uint32_t *s, uint32_t len, uint32_t pos, uint32_t win,
          float alpha, uint32_t negative, const struct alias *neg,
          float *syn0 /* (V,D) */, float *syn1 /* (V,D) */, uint32_t dim,
          float *h /* (D) */, float *e /* (D) */, uint64_t *rng)
{
	uint32_t lo = pos >= win ? pos - win : 0;
	uint32_t hi = pos + win < len - 1 ? pos + win : len - 1;
	uint32_t cnt = 0;
	memset(h, 0, dim * sizeof(*h));
	for (uint32_t j = lo; j <= hi; j++) {
		if (j == pos)
			continue;
		const float *v = syn0 + (size_t)s[j] * dim;
		for (uint32_t d = 0; d < dim; d++)
			h[d] += v[d];
		cnt++;
	}
	if (cnt == 0)
		return;
	for (uint32_t d = 0; d < dim; d++)
		h[d] /= (float)cnt;
	memset(e, 0, dim * sizeof(*e));
	uint32_t word = s[pos];
	for (uint32_t k = 0; k <= negative; k++) {
		uint32_t target = word;
		float label = 1.0f;
		if (k > 0) {
			target = alias_draw(neg, rng);
			if (target == word)
				continue;
			label = 0.0f;
		}
		float *o = syn1 + (size_t)target * dim;
		float g = (label - sigmoidf(ns_w2v_dot(h, o, dim))) * alpha;
		for (uint32_t d = 0; d < dim; d++) {
			e[d] += g * o[d];
			o[d] += g * h[d];
		}
	}
	for (uint32_t d = 0; d < dim; d++)
		e[d] /= (float)cnt;
	for (uint32_t j = lo; j <= hi; j++) {
		if (j == pos)
			continue;
		float *v = syn0 + (size_t)s[j] * dim;
		for (uint32_t d = 0; d < dim; d++)
			v[d] += e[d];
	}
}

/* The vocabulary: every (kind, value) seen, sorted by kind then value;
 * id (N_PORTS + N_PROTOS) maps a slot to its token, count to its uses. */
static int
build_vocab(struct ns_w2v *w, const uint32_t *sent, size_t n, uint32_t *id,
            uint64_t *count)
{
	memset(count, 0, (N_PORTS + N_PROTOS) * sizeof(*count));
	for (size_t i = 0; i < n; i++) {
		count[sent[3 * i]]++;
		count[sent[3 * i + 1]]++;
		count[N_PORTS + sent[3 * i + 2]]++;
	}
	uint32_t v = 0;
	for (uint32_t slot = 0; slot < N_PORTS + N_PROTOS; slot++)
		v += count[slot] > 0;
	w->n_tokens = v;
	w->kind = malloc(v * sizeof(*w->kind));
	w->value = malloc(v * sizeof(*w->value));
	if (!w->kind || !w->value)
		return -1;
	v = 0;
	for (uint32_t slot = 0; slot < N_PORTS + N_PROTOS; slot++) {
		id[slot] = UINT32_MAX;
		if (count[slot] == 0)
			continue;
		int is_proto = slot >= N_PORTS;
		w->kind[v] = is_proto ? NS_TOK_PROTO : NS_TOK_PORT;
		w->value[v] = is_proto ? slot - N_PORTS : slot;
		id[slot] = v++;
	}
	return 0;
}

int
ns_w2v_train(struct ns_w2v *w, const uint32_t *sent, size_t n,
             const struct ns_encode_config *cfg)
{
	memset(w, 0, sizeof(*w));
	if (n == 0 || cfg->w2v_dim == 0 || cfg->w2v_dim > NS_MAX_W2V_DIM ||
	    cfg->w2v_window == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (sent[3 * i] >= N_PORTS || sent[3 * i + 1] >= N_PORTS ||
		    sent[3 * i + 2] >= N_PROTOS)
			return -1;

	const uint32_t dim = cfg->w2v_dim;
	int rc = -1;
	uint32_t *id = malloc((N_PORTS + N_PROTOS) * sizeof(*id));
	uint64_t *count = malloc((N_PORTS + N_PROTOS) * sizeof(*count));
	uint32_t *tok = malloc(3 * n * sizeof(*tok)); /* (n,3) token ids */
	float *syn = NULL;
	double *weight = NULL, *keep = NULL;
	struct alias neg = {0};
	if (!id || !count || !tok || build_vocab(w, sent, n, id, count))
		goto out;
	const uint32_t V = w->n_tokens;
	for (size_t i = 0; i < n; i++) {
		tok[3 * i] = id[sent[3 * i]];
		tok[3 * i + 1] = id[sent[3 * i + 1]];
		tok[3 * i + 2] = id[N_PORTS + sent[3 * i + 2]];
	}

	/* unigram^0.75 for negatives; word2vec.c's sub-sampling keep rate
	 * (sqrt(f / (s T)) + 1) s T / f */
	weight = malloc(V * sizeof(*weight));
	keep = malloc(V * sizeof(*keep));
	if (!weight || !keep)
		goto out;
	const double total = 3.0 * (double)n;
	const double st = SUBSAMPLE * total;
	for (uint32_t t = 0; t < V; t++) {
		uint32_t slot = w->kind[t] == NS_TOK_PROTO
		                    ? N_PORTS + w->value[t]
		                    : w->value[t];
		double f = (double)count[slot];
		weight[t] = pow(f, 0.75);
		keep[t] = (sqrt(f / st) + 1.0) * st / f;
	}
	if (alias_build(&neg, weight, V))
		goto out;

	/* syn0 (V,D) input vectors, syn1 (V,D) output vectors, h and e
	 * (D) scratch: one block */
	syn = malloc((2 * (size_t)V * dim + 2 * dim) * sizeof(*syn));
	w->vec = malloc((size_t)V * dim * sizeof(*w->vec));
	if (!syn || !w->vec)
		goto out;
	float *syn0 = syn, *syn1 = syn + (size_t)V * dim;
	float *h = syn1 + (size_t)V * dim, *e = h + dim;
	uint64_t rng = cfg->seed;
	for (size_t i = 0; i < (size_t)V * dim; i++) {
		syn0[i] = ((float)rng_uniform(&rng) - 0.5f) / (float)dim;
		syn1[i] = 0.0f;
	}

	const uint32_t epochs = cfg->w2v_epochs;
	const double steps = (double)epochs * (double)n;
	for (uint32_t ep = 0; ep < epochs; ep++) {
		for (size_t i = 0; i < n; i++) {
			double done = (double)ep * (double)n + (double)i;
			float alpha = ALPHA_START - (ALPHA_START - ALPHA_END) *
			                                (float)(done / steps);
			uint32_t s[3], len = 0;
			for (int j = 0; j < 3; j++) {
				uint32_t t = tok[3 * i + j];
				if (keep[t] >= 1.0 ||
				    rng_uniform(&rng) < keep[t])
					s[len++] = t;
			}
			for (uint32_t pos = 0; len > 1 && pos < len; pos++) {
				uint32_t b =
				    rng_below(&rng, cfg->w2v_window);
				cbow_step(s, len, pos, cfg->w2v_window - b,
				          alpha, cfg->w2v_negative, &neg, syn0,
				          syn1, dim, h, e, &rng);
			}
		}
	}

	w->dim = dim;
	for (uint32_t t = 0; t < V; t++) {
		const float *v = syn0 + (size_t)t * dim;
		double nn = 0;
		for (uint32_t d = 0; d < dim; d++)
			nn += (double)v[d] * v[d];
		double inv = nn > 0 ? 1.0 / sqrt(nn) : 0.0;
		for (uint32_t d = 0; d < dim; d++)
			w->vec[(size_t)t * dim + d] = (float)(v[d] * inv);
	}
	rc = 0;
out:
	alias_free(&neg);
	free(syn);
	free(keep);
	free(weight);
	free(tok);
	free(count);
	free(id);
	if (rc)
		ns_w2v_free(w);
	return rc;
}

void
ns_w2v_query(float *q, const float *v, uint32_t dim)
{
	for (uint32_t d = 0; d < dim; d++)
		q[d] = isnan(v[d]) ? 0.0f : fmaxf(-1.0f, fminf(1.0f, v[d]));
}

/* Tokens are sorted by kind: ports first, then protocols. */
static void
kind_range(const struct ns_w2v *w, int kind, uint32_t *lo, uint32_t *hi)
{
	uint32_t a = 0, b = w->n_tokens;
	while (a < b) { /* first token with kind >= NS_TOK_PROTO */
		uint32_t m = a + (b - a) / 2;
		if (w->kind[m] < NS_TOK_PROTO)
			a = m + 1;
		else
			b = m;
	}
	*lo = kind == NS_TOK_PORT ? 0 : a;
	*hi = kind == NS_TOK_PORT ? a : w->n_tokens;
}

int32_t
ns_w2v_lookup(const struct ns_w2v *w, int kind, uint32_t value)
{
	uint32_t a, b;
	kind_range(w, kind, &a, &b);
	while (a < b) {
		uint32_t m = a + (b - a) / 2;
		if (w->value[m] < value)
			a = m + 1;
		else
			b = m;
	}
	if (a < w->n_tokens && w->kind[a] == kind && w->value[a] == value)
		return (int32_t)a;
	return -1;
}

int32_t
ns_w2v_lookup_closest(const struct ns_w2v *w, int kind, uint32_t value)
{
	uint32_t lo, hi;
	kind_range(w, kind, &lo, &hi);
	if (lo >= hi)
		return -1;
	uint32_t a = lo, b = hi;
	while (a < b) { /* first token of the kind with value >= value */
		uint32_t m = a + (b - a) / 2;
		if (w->value[m] < value)
			a = m + 1;
		else
			b = m;
	}
	if (a == hi)
		return (int32_t)(hi - 1);
	if (w->value[a] == value || a == lo)
		return (int32_t)a;
	return value - w->value[a - 1] <= w->value[a] - value ? (int32_t)(a - 1)
							      : (int32_t)a;
}

uint32_t
ns_w2v_nearest(const struct ns_w2v *w, int kind, const float *v)
{
	uint32_t lo, hi;
	kind_range(w, kind, &lo, &hi);
	if (lo >= hi)
		return 0;
	const uint32_t dim = w->dim;
	float q[NS_MAX_W2V_DIM];
	ns_w2v_query(q, v, dim);
	/* the stored vectors have unit norm: the largest dot product is
	 * the largest cosine */
	uint32_t best = lo;
	float best_s = -INFINITY;
	for (uint32_t t = lo; t < hi; t++) {
		float s = ns_w2v_dot(q, w->vec + (size_t)t * dim, dim);
		if (s > best_s) {
			best_s = s;
			best = t;
		}
	}
	return w->value[best];
}

void
ns_w2v_free(struct ns_w2v *w)
{
	free(w->kind);
	free(w->value);
	free(w->vec);
	memset(w, 0, sizeof(*w));
}
