/* NetShare encodings: IP bits, word2vec, scaling, flow tags, generation
 * flags, truncation, encode/decode round trips and the encoder's binary
 * form. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netshare/encode.h"

#define MS 1000000ull /* ns */
#define T0 1700000000000000000ull
#define NS_FLOW_N_CONT_TEST 4 /* iat, td, pkt, byt */

/* --- synthetic traces --------------------------------------------------- */

static struct ns_flow_record
flow_rec(uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t proto,
         uint64_t t, uint64_t td, uint64_t pkt, uint64_t byt, uint16_t label)
{
	struct ns_flow_record r;
	memset(&r, 0, sizeof(r));
	ns_addr_from_v4(r.src_addr, src);
	ns_addr_from_v4(r.dst_addr, dst);
	r.src_port = sp;
	r.dst_port = dp;
	r.proto = proto;
	r.ip_version = 4;
	r.first_ns = t;
	r.last_ns = t + td;
	r.packets = pkt;
	r.bytes = byt;
	r.label = label;
	return r;
}

/* 40 5-tuples over 10 s: some with one record, some spanning chunks,
 * labels "background" / "attack", and a few unlabelled records. */
static void
make_flows(struct ns_flow_trace *t)
{
	memset(t, 0, sizeof(*t));
	uint16_t bg = ns_label_intern(&t->labels, "background", 10);
	uint16_t at = ns_label_intern(&t->labels, "attack", 6);
	uint64_t rng = 12345;
	for (uint32_t f = 0; f < 40; f++) {
		uint32_t n = 1 + f % 7;
		uint64_t start = T0 + (uint64_t)f * 97 * MS;
		for (uint32_t k = 0; k < n; k++) {
			rng = rng * 6364136223846793005ull +
			      1442695040888963407ull;
			uint64_t pkt = 1 + (rng >> 40) % 900;
			uint64_t byt = pkt * (40 + (rng >> 20) % 1400);
			uint16_t label = f % 5 == 0 ? at : bg;
			if (f == 7)
				label = NS_LABEL_NONE;
			struct ns_flow_record r = flow_rec(
			    0x0A000000u + f, 0xC0A80001u + f % 3,
			    (uint16_t)(1024 + f * 13), f % 2 ? 443 : 53,
			    f % 2 ? 6 : 17, start + k * 1234 * MS,
			    (rng >> 30) % (5000 * MS), pkt, byt, label);
			assert_int_equal(ns_flow_trace_push(t, &r), 0);
		}
	}
}

static struct ns_pkt_record
pkt_rec(const uint8_t *src, const uint8_t *dst, int ver, uint16_t sp,
        uint16_t dp, uint8_t proto, uint64_t ts)
{
	struct ns_pkt_record r;
	memset(&r, 0, sizeof(r));
	memcpy(r.src_addr, src, 16);
	memcpy(r.dst_addr, dst, 16);
	r.ip_version = (uint8_t)ver;
	r.src_port = sp;
	r.dst_port = dp;
	r.proto = proto;
	r.ts_ns = ts;
	return r;
}

/* 30 flows of 1..12 packets over 2 s; with_v6 makes every third flow
 * IPv6. Flags are valid IPv4 values (none, DF, MF). */
static void
make_pkts(struct ns_pkt_trace *t, int with_v6)
{
	memset(t, 0, sizeof(*t));
	uint64_t rng = 777;
	for (uint32_t f = 0; f < 30; f++) {
		uint8_t src[16] = {0}, dst[16] = {0};
		int ver = with_v6 && f % 3 == 0 ? 6 : 4;
		if (ver == 6) {
			src[0] = 0x20, src[1] = 0x01, src[2] = 0x0d;
			src[3] = 0xb8, src[15] = (uint8_t)f;
			dst[0] = 0xfe, dst[1] = 0x80, dst[15] = 1;
		} else {
			ns_addr_from_v4(src, 0x0A010000u + f * 7);
			ns_addr_from_v4(dst, 0x08080808u);
		}
		uint32_t n = 1 + (f * 5) % 12;
		for (uint32_t k = 0; k < n; k++) {
			rng = rng * 6364136223846793005ull +
			      1442695040888963407ull;
			struct ns_pkt_record r =
			    pkt_rec(src, dst, ver, (uint16_t)(40000 + f),
			            f % 4 ? 80 : 123, f % 4 ? 6 : 17,
			            T0 + f * 61 * MS + k * 3 * MS);
			r.ip_len = 40 + (uint32_t)((rng >> 33) % 1461);
			r.tos = (uint8_t)(rng >> 13);
			r.ip_id = (uint32_t)((rng >> 21) & 0xFFFF);
			r.ttl = (uint8_t)(32 + (rng >> 50) % 200);
			static const uint16_t flag[3] = {0, NS_FRAG_DF,
			                                 NS_FRAG_MF};
			r.ip_frag = flag[(rng >> 40) % 3];
			if (r.ip_frag == NS_FRAG_MF)
				r.ip_frag |= (uint16_t)((rng >> 44) % 8192);
			assert_int_equal(ns_pkt_trace_push(t, &r), 0);
		}
	}
}

/* The dataset's real flows padded to (n, L, F) with their lengths, as a
 * generator would hand them to ns_decode. */
static void
pad_dataset(const struct ns_dataset *ds, uint32_t L, float **feat,
            uint32_t **len)
{
	*feat = calloc(ds->n_flows * L * ds->feat_dim, sizeof(**feat));
	*len = calloc(ds->n_flows, sizeof(**len));
	assert_non_null(*feat);
	assert_non_null(*len);
	for (size_t i = 0; i < ds->n_flows; i++) {
		uint32_t n = ds->offset[i + 1] - ds->offset[i];
		assert_true(n >= 1 && n <= L);
		(*len)[i] = n;
		memcpy(*feat + i * L * ds->feat_dim,
		       ds->feat + (size_t)ds->offset[i] * ds->feat_dim,
		       (size_t)n * ds->feat_dim * sizeof(float));
	}
}

static int
tuple_cmp(const uint8_t *sa, const uint8_t *da, uint16_t spa, uint16_t dpa,
          uint8_t pa, const uint8_t *sb, const uint8_t *db, uint16_t spb,
          uint16_t dpb, uint8_t pb)
{
	int c = memcmp(sa, sb, 16);
	if (!c)
		c = memcmp(da, db, 16);
	if (!c)
		c = (int)spa - (int)spb;
	if (!c)
		c = (int)dpa - (int)dpb;
	if (!c)
		c = (int)pa - (int)pb;
	return c;
}

/* Tuple, then time, then position: originals in flow order. */
static int
flow_cmp(const void *pa, const void *pb)
{
	const struct ns_flow_record *a = pa, *b = pb;
	int c = tuple_cmp(a->src_addr, a->dst_addr, a->src_port, a->dst_port,
	                  a->proto, b->src_addr, b->dst_addr, b->src_port,
	                  b->dst_port, b->proto);
	if (c)
		return c;
	if (a->first_ns != b->first_ns)
		return a->first_ns < b->first_ns ? -1 : 1;
	return 0;
}

static int
pkt_cmp(const void *pa, const void *pb)
{
	const struct ns_pkt_record *a = pa, *b = pb;
	int c = tuple_cmp(a->src_addr, a->dst_addr, a->src_port, a->dst_port,
	                  a->proto, b->src_addr, b->dst_addr, b->src_port,
	                  b->dst_port, b->proto);
	if (c)
		return c;
	if (a->ts_ns != b->ts_ns)
		return a->ts_ns < b->ts_ns ? -1 : 1;
	return 0;
}

static void
assert_near_u64(uint64_t a, uint64_t b, double tol)
{
	double d = a > b ? (double)(a - b) : (double)(b - a);
	if (d > tol)
		fail_msg("%llu and %llu differ by %.0f > %.0f",
		         (unsigned long long)a, (unsigned long long)b, d, tol);
}

/* --- building blocks ---------------------------------------------------- */

/* An IPv4 address becomes 32 MSB-first one-hot pairs and comes back. */
static void
test_ip_bits_v4(void **state)
{
	(void)state;
	uint8_t a[16], b[16];
	ns_addr_from_v4(a, 0x0A01FF80u); /* 10.1.255.128 */
	float bits[64];
	ns_ip_encode(a, 4, 32, bits);
	/* 10 = 00001010: bit 4 set, bit 0 clear */
	assert_true(bits[0] == 1.0f && bits[1] == 0.0f);
	assert_true(bits[2 * 4] == 0.0f && bits[2 * 4 + 1] == 1.0f);
	assert_true(bits[2 * 31] == 1.0f); /* low bit of .128 is 0 */
	assert_int_equal(ns_ip_decode(bits, 32, b), 4);
	assert_memory_equal(a, b, 16);
	/* soft values decode by argmax */
	for (int k = 0; k < 64; k++)
		bits[k] = bits[k] * 0.6f + 0.2f;
	assert_int_equal(ns_ip_decode(bits, 32, b), 4);
	assert_memory_equal(a, b, 16);
}

/* IPv6 uses 128 bits; IPv4 in a 128-bit trace is v4-mapped and decodes
 * back to version 4. */
static void
test_ip_bits_v6(void **state)
{
	(void)state;
	uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,    0,
	                 0,    0,    0,    0,    0, 0, 0xab, 0x01};
	uint8_t b[16];
	float bits[256];
	ns_ip_encode(a, 6, 128, bits);
	assert_int_equal(ns_ip_decode(bits, 128, b), 6);
	assert_memory_equal(a, b, 16);

	uint8_t v4[16];
	ns_addr_from_v4(v4, 0xC0000201u);
	ns_ip_encode(v4, 4, 128, bits);
	for (int k = 80; k < 96; k++) /* the ffff of ::ffff:0:0/96 */
		assert_true(bits[2 * k + 1] == 1.0f);
	assert_int_equal(ns_ip_decode(bits, 128, b), 4);
	assert_memory_equal(v4, b, 16);
}

/* Two clusters of ports, each with its own protocol. */
static uint32_t *
cluster_corpus(size_t n)
{
	uint32_t *s = malloc(3 * n * sizeof(*s));
	uint64_t r = 99;
	for (size_t i = 0; i < n; i++) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t c = (uint32_t)(r >> 63);
		uint32_t base = c ? 5000 : 100;
		s[3 * i] = base + (uint32_t)(r >> 20) % 5;
		s[3 * i + 1] = base + (uint32_t)(r >> 40) % 5;
		s[3 * i + 2] = c ? 17 : 6;
	}
	return s;
}

/* Same seed, same vectors; another seed, other vectors. */
static void
test_w2v_deterministic(void **state)
{
	(void)state;
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	uint32_t *s = cluster_corpus(3000);
	struct ns_w2v a, b, c;
	assert_int_equal(ns_w2v_train(&a, s, 3000, &cfg), 0);
	assert_int_equal(ns_w2v_train(&b, s, 3000, &cfg), 0);
	cfg.seed = 2;
	assert_int_equal(ns_w2v_train(&c, s, 3000, &cfg), 0);
	assert_int_equal(a.n_tokens, 12);
	assert_int_equal(a.dim, 10);
	assert_memory_equal(a.vec, b.vec, a.n_tokens * a.dim * sizeof(float));
	assert_memory_equal(a.value, c.value, a.n_tokens * sizeof(uint32_t));
	assert_true(memcmp(a.vec, c.vec, a.n_tokens * a.dim * sizeof(float)));
	for (uint32_t t = 0; t < a.n_tokens; t++) {
		double nn = 0;
		for (uint32_t d = 0; d < a.dim; d++)
			nn += a.vec[t * a.dim + d] * a.vec[t * a.dim + d];
		assert_true(fabs(nn - 1.0) < 1e-5); /* unit norm */
	}
	ns_w2v_free(&a);
	ns_w2v_free(&b);
	ns_w2v_free(&c);
	free(s);
}

static double
cosine(const struct ns_w2v *w, int32_t a, int32_t b)
{
	double s = 0;
	for (uint32_t d = 0; d < w->dim; d++)
		s += w->vec[a * w->dim + d] * w->vec[b * w->dim + d];
	return s;
}

/* Ports that co-occur are nearer (cosine) than ports that never do. */
static void
test_w2v_cooccurrence(void **state)
{
	(void)state;
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	uint32_t *s = cluster_corpus(20000);
	struct ns_w2v w;
	assert_int_equal(ns_w2v_train(&w, s, 20000, &cfg), 0);
	double in = 0, out = 0;
	int n_in = 0, n_out = 0;
	for (uint32_t i = 0; i < 10; i++) {
		for (uint32_t j = 0; j < 10; j++) {
			if (i == j)
				continue;
			uint32_t pi = i < 5 ? 100 + i : 5000 + i - 5;
			uint32_t pj = j < 5 ? 100 + j : 5000 + j - 5;
			double c =
			    cosine(&w, ns_w2v_lookup(&w, NS_TOK_PORT, pi),
			           ns_w2v_lookup(&w, NS_TOK_PORT, pj));
			if ((i < 5) == (j < 5))
				in += c, n_in++;
			else
				out += c, n_out++;
		}
	}
	in /= n_in;
	out /= n_out;
	assert_true(in > out + 0.3);
	ns_w2v_free(&w);
	free(s);
}

/* Every token's own vector decodes to that token, within its kind. */
static void
test_w2v_nearest_self(void **state)
{
	(void)state;
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	size_t n = 2000;
	uint32_t *s = malloc(3 * n * sizeof(*s));
	for (size_t i = 0; i < n; i++) {
		s[3 * i] = (uint32_t)(i * 7919 % 65536);
		s[3 * i + 1] = (uint32_t)(i % 3 ? 443 : 6); /* port 6 too */
		s[3 * i + 2] = (uint32_t)(i % 4 ? 6 : 17);
	}
	struct ns_w2v w;
	assert_int_equal(ns_w2v_train(&w, s, n, &cfg), 0);
	assert_int_equal(ns_w2v_lookup(&w, NS_TOK_PROTO, 443), -1);
	assert_true(ns_w2v_lookup(&w, NS_TOK_PORT, 6) >= 0);
	for (uint32_t t = 0; t < w.n_tokens; t++)
		assert_int_equal(
		    ns_w2v_nearest(&w, w.kind[t], w.vec + t * w.dim),
		    w.value[t]);
	float nan_v[10];
	for (int d = 0; d < 10; d++)
		nan_v[d] = NAN;
	uint32_t p = ns_w2v_nearest(&w, NS_TOK_PROTO, nan_v);
	assert_true(p == 6 || p == 17); /* NaN reads as 0: any token */
	ns_w2v_free(&w);
	free(s);
}

/* The k-d tree search agrees with the brute-force search on every
 * query: random, exact token vectors, duplicates (ties go to the
 * smaller value), a zero vector and NaN. */
static void
test_w2v_index_matches_brute_force(void **state)
{
	(void)state;
	struct ns_w2v w = {0};
	uint32_t n_port = 3000, n_proto = 5, dim = 10;
	w.dim = dim;
	w.n_tokens = n_port + n_proto;
	w.kind = malloc(w.n_tokens);
	w.value = malloc(w.n_tokens * sizeof(*w.value));
	w.vec = malloc(w.n_tokens * dim * sizeof(*w.vec));
	uint64_t r = 4242;
	for (uint32_t t = 0; t < w.n_tokens; t++) {
		w.kind[t] = t < n_port ? NS_TOK_PORT : NS_TOK_PROTO;
		w.value[t] = t < n_port ? t * 20 : t - n_port;
		double nn = 0;
		float *v = w.vec + t * dim;
		for (uint32_t d = 0; d < dim; d++) {
			r = r * 6364136223846793005ull +
			    1442695040888963407ull;
			/* clustered: a few directions plus noise */
			v[d] = (float)((r >> 11) * 0x1.0p-53 - 0.5) * 0.3f +
			       (d == t % 4 ? 1.0f : 0.0f);
			nn += v[d] * v[d];
		}
		for (uint32_t d = 0; d < dim; d++)
			v[d] = (float)(v[d] / sqrt(nn));
		if (t % 97 == 5) /* an exact duplicate of the previous */
			memcpy(v, v - dim, dim * sizeof(*v));
	}
	memset(w.vec + 17 * dim, 0, dim * sizeof(float));
	struct ns_w2v_index *ix[2] = {ns_w2v_index_new(&w, NS_TOK_PORT),
	                              ns_w2v_index_new(&w, NS_TOK_PROTO)};
	assert_non_null(ix[0]);
	assert_non_null(ix[1]);
	float q[10];
	for (uint32_t k = 0; k < 20000; k++) {
		int kind = k % 7 == 0 ? NS_TOK_PROTO : NS_TOK_PORT;
		for (uint32_t d = 0; d < dim; d++) {
			r = r * 6364136223846793005ull +
			    1442695040888963407ull;
			q[d] = (float)((r >> 11) * 0x1.0p-53 * 2.4 - 1.2);
		}
		if (k % 3 == 0) /* a token's own vector */
			memcpy(q, w.vec + (k % w.n_tokens) * dim, sizeof(q));
		if (k % 11 == 0)
			q[k % dim] = NAN;
		if (k % 13 == 0)
			memset(q, 0, sizeof(q));
		assert_int_equal(ns_w2v_index_nearest(ix[kind], q),
		                 ns_w2v_nearest(&w, kind, q));
	}
	/* a duplicate decodes to the first of its pair */
	uint32_t dup = 97 + 5;
	assert_int_equal(ns_w2v_index_nearest(ix[0], w.vec + dup * dim),
	                 w.value[dup - 1]);

	/* the neighbourhood equals brute force: the 32 best port tokens,
	 * best first, cut where they fall more than eps·|q| below the best */
	uint32_t got[NS_NEAR_MAX];
	static float sc[3000];
	for (uint32_t k = 0; k < 500; k++) {
		double qn = 0;
		for (uint32_t d = 0; d < dim; d++) {
			r = r * 6364136223846793005ull +
			    1442695040888963407ull;
			q[d] = (float)((r >> 11) * 0x1.0p-53 * 2 - 1);
			qn += (double)q[d] * q[d];
		}
		float eps = k % 2 ? 0.05f : 0.3f;
		uint32_t n = ns_w2v_index_near(ix[0], q, eps, got, 32);
		assert_true(n >= 1 && n <= 32);
		float best = -INFINITY;
		for (uint32_t t = 0; t < n_port; t++) {
			sc[t] = 0;
			for (uint32_t d = 0; d < dim; d++)
				sc[t] += q[d] * w.vec[t * dim + d];
			best = fmaxf(best, sc[t]);
		}
		float th = best - eps * (float)sqrt(qn);
		/* how many tokens beat each returned one: the i-th returned
		 * has at most i better ones (ties aside) */
		for (uint32_t j = 0; j < n; j++) {
			assert_true(sc[got[j]] >= th - 1e-5f);
			uint32_t better = 0;
			for (uint32_t t = 0; t < n_port; t++)
				better += sc[t] > sc[got[j]] + 1e-5f;
			assert_true(better <= j);
		}
		uint32_t inside = 0;
		for (uint32_t t = 0; t < n_port; t++)
			inside += sc[t] >= th + 1e-5f;
		assert_true(n >= (inside < 32 ? inside : 32));
	}
	ns_w2v_index_free(ix[0]);
	ns_w2v_index_free(ix[1]);
	ns_w2v_free(&w);
}

/* --- bounded search -------------------------------------------------- */

static uint64_t
lcg(uint64_t *r)
{
	*r = *r * 6364136223846793005ull + 1442695040888963407ull;
	return *r >> 11;
}

static double
uniform(uint64_t *r)
{
	return (double)lcg(r) * 0x1.0p-53;
}

/* n port tokens (value = index) with random unit vectors in 10-D, then
 * one protocol token. */
static void
random_vocab(struct ns_w2v *w, uint32_t n, uint64_t seed)
{
	const uint32_t dim = 10;
	memset(w, 0, sizeof(*w));
	w->dim = dim;
	w->n_tokens = n + 1;
	w->kind = malloc(w->n_tokens);
	w->value = malloc(w->n_tokens * sizeof(*w->value));
	w->vec = malloc((size_t)w->n_tokens * dim * sizeof(*w->vec));
	uint64_t r = seed;
	for (uint32_t t = 0; t <= n; t++) {
		w->kind[t] = t < n ? NS_TOK_PORT : NS_TOK_PROTO;
		w->value[t] = t < n ? t : 6;
		float *v = w->vec + (size_t)t * dim;
		double nn = 0;
		for (uint32_t d = 0; d < dim; d++) { /* normal: Box-Muller */
			double a = uniform(&r) + 0x1.0p-60, b = uniform(&r);
			v[d] = (float)(sqrt(-2 * log(a)) * cos(6.283185307 * b));
			nn += (double)v[d] * v[d];
		}
		for (uint32_t d = 0; d < dim; d++)
			v[d] = (float)(v[d] / sqrt(nn));
	}
}

/* A query as generation gives them: uniform in [-1,1]^10 or, every
 * other one, a token's vector plus noise, clipped. */
static void
random_query(const struct ns_w2v *w, uint32_t n, uint64_t *r, uint32_t k,
	     float *q)
{
	uint32_t t = (uint32_t)(lcg(r) % n);
	for (uint32_t d = 0; d < w->dim; d++) {
		double x = k % 2 ? w->vec[(size_t)t * w->dim + d] +
				       0.2 * (uniform(r) - 0.5)
				 : 2 * uniform(r) - 1;
		q[d] = (float)(x < -1 ? -1 : x > 1 ? 1 : x);
	}
}

/* Brute force over ports 0..n-1 of w: every score into sc (summed in d
 * order, as the searches do), the k best tokens into top (best first,
 * ties: the smaller token); returns the best score. */
static float
brute_scores(const struct ns_w2v *w, uint32_t n, const float *q, float *sc,
	     uint32_t *top, uint32_t k)
{
	uint32_t m = 0;
	for (uint32_t t = 0; t < n; t++) {
		float s = 0;
		for (uint32_t d = 0; d < w->dim; d++)
			s += q[d] * w->vec[(size_t)t * w->dim + d];
		sc[t] = s;
		if (m == k && !(s > sc[top[k - 1]]))
			continue; /* t is larger than the tokens there */
		uint32_t i = m < k ? m++ : k - 1;
		for (; i > 0 && sc[top[i - 1]] < s; i--)
			top[i] = top[i - 1];
		top[i] = t;
	}
	return sc[top[0]];
}

static float
query_norm(const float *q, uint32_t dim)
{
	double n2 = 0;
	for (uint32_t d = 0; d < dim; d++)
		n2 += (double)q[d] * q[d];
	return (float)sqrt(n2);
}

/* An index of a few thousand tokens is never cut short, even spread
 * out: every search says so, and nearest and near equal brute force,
 * order and ties included. */
static void
test_w2v_index_small_exact(void **state)
{
	(void)state;
	const uint32_t n = 4000;
	struct ns_w2v w;
	random_vocab(&w, n, 77);
	struct ns_w2v_index *ix = ns_w2v_index_new(&w, NS_TOK_PORT);
	assert_non_null(ix);
	static float sc[4000];
	uint32_t top[32], got[32];
	uint64_t r = 5;
	for (uint32_t k = 0; k < 1000; k++) {
		float q[10];
		random_query(&w, n, &r, k, q);
		int exact = 0;
		uint32_t v = ns_w2v_index_nearest_ex(ix, q, &exact);
		assert_int_equal(exact, 1);
		assert_int_equal(v, ns_w2v_nearest(&w, NS_TOK_PORT, q));
		float eps = k % 3 ? 0.3f : 0.02f;
		uint32_t m = ns_w2v_index_near_ex(ix, q, eps, got, 32, &exact);
		assert_int_equal(exact, 1);
		float best = brute_scores(&w, n, q, sc, top, 32);
		float th = best - eps * query_norm(q, 10);
		uint32_t want = 0;
		while (want < 32 && sc[top[want]] >= th)
			want++;
		assert_int_equal(m, want);
		for (uint32_t j = 0; j < m; j++)
			assert_int_equal(got[j], top[j]);
	}
	ns_w2v_index_free(ix);
	ns_w2v_free(&w);
}

/* 60 000 random unit vectors leave the bounds little to prune: most
 * searches stop at the leaf budget. The answer is then the best token
 * seen, mostly the best there is and never far below it; a search that
 * says it ran to the end is brute force's answer. */
static void
test_w2v_index_bounded(void **state)
{
	(void)state;
	const uint32_t n = 60000, nq = 1000;
	struct ns_w2v w;
	random_vocab(&w, n, 4243);
	struct ns_w2v_index *ix = ns_w2v_index_new(&w, NS_TOK_PORT);
	assert_non_null(ix);
	static float sc[60000];
	uint32_t top[32], got[32];
	uint32_t same = 0, cut = 0, near_best = 0, near_n = 0;
	uint32_t near_top = 0, near_eps = 0;
	double loss_sum = 0, loss_max = 0;
	uint64_t r = 11;
	for (uint32_t k = 0; k < nq; k++) {
		float q[10];
		random_query(&w, n, &r, k, q);
		float best = brute_scores(&w, n, q, sc, top, 32);
		float qn = query_norm(q, 10);
		int exact = 0;
		uint32_t v = ns_w2v_index_nearest_ex(ix, q, &exact);
		/* the cosine lost to the best (scores are q.v, |v| = 1) */
		double loss = (best - sc[v]) / qn;
		assert_true(loss >= 0);
		loss_sum += loss;
		loss_max = loss > loss_max ? loss : loss_max;
		same += v == top[0];
		cut += !exact;
		if (exact)
			assert_int_equal(v, top[0]);
		uint32_t m = ns_w2v_index_near_ex(ix, q, 0.3f, got, 32, &exact);
		assert_true(m >= 1 && m <= 32);
		near_best += got[0] == top[0];
		for (uint32_t j = 0; j < m; j++) {
			assert_true(j == 0 || sc[got[j]] <= sc[got[j - 1]]);
			near_top += sc[got[j]] >= sc[top[31]];
			near_eps += sc[got[j]] >= best - 0.3f * qn;
		}
		near_n += m;
		if (exact)
			for (uint32_t j = 0; j < m; j++)
				assert_int_equal(got[j], top[j]);
	}
	print_message("bounded search: %u/%u ran to the end, %u/%u the "
		      "best, mean cosine loss %.5f, max %.4f; near: first "
		      "the best %u/%u, of its tokens %.3f in the true top 32, "
		      "%.3f within eps of the best\n",
		      nq - cut, nq, same, nq, loss_sum / nq, loss_max,
		      near_best, nq, (double)near_top / near_n,
		      (double)near_eps / near_n);
	/* measured with 16 leaves of 32: 37 % ran to the end, 97 % the
	 * best, loss 0.0006 on average and 0.08 at most; near: 69 % of
	 * its tokens in the true top 32, all within eps of the best */
	assert_true(cut >= nq / 2); /* the budget is what is tested */
	assert_true(same >= nq * 90 / 100);
	assert_true(loss_sum / nq < 0.005 && loss_max < 0.25);
	assert_true(near_best >= nq * 90 / 100);
	assert_true(near_top >= near_n / 2);
	assert_true(near_eps >= near_n * 95 / 100);
	ns_w2v_index_free(ix);
	ns_w2v_free(&w);
}

/* Same vocabulary, same queries, same answers: two indexes built apart,
 * and the same index asked twice, cut short or not. */
static void
test_w2v_index_deterministic(void **state)
{
	(void)state;
	const uint32_t n = 60000;
	struct ns_w2v w;
	random_vocab(&w, n, 4243);
	struct ns_w2v_index *a = ns_w2v_index_new(&w, NS_TOK_PORT);
	struct ns_w2v_index *b = ns_w2v_index_new(&w, NS_TOK_PORT);
	assert_non_null(a);
	assert_non_null(b);
	uint64_t r = 12;
	for (uint32_t k = 0; k < 500; k++) {
		float q[10];
		random_query(&w, n, &r, k, q);
		int ea, eb, ec;
		uint32_t va = ns_w2v_index_nearest_ex(a, q, &ea);
		uint32_t vb = ns_w2v_index_nearest_ex(b, q, &eb);
		uint32_t vc = ns_w2v_index_nearest_ex(a, q, &ec);
		assert_int_equal(va, vb);
		assert_int_equal(va, vc);
		assert_int_equal(ea, eb);
		assert_int_equal(ea, ec);
		uint32_t ga[32], gb[32];
		uint32_t ma = ns_w2v_index_near_ex(a, q, 0.3f, ga, 32, &ea);
		uint32_t mb = ns_w2v_index_near_ex(b, q, 0.3f, gb, 32, &eb);
		assert_int_equal(ma, mb);
		assert_int_equal(ea, eb);
		assert_memory_equal(ga, gb, ma * sizeof(*ga));
	}
	ns_w2v_index_free(a);
	ns_w2v_index_free(b);
	ns_w2v_free(&w);
}

/* log1p, min-max and back give the value; outside values clamp; NaN
 * reads as 0; a zero-width range never divides by zero. */
static void
test_scale_round_trip(void **state)
{
	(void)state;
	const double v[] = {0, 1, 2, 40, 1500, 123456, 1e9};
	double lo = log1p(0), hi = log1p(1e9);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		float y = ns_scale(log1p(v[i]), lo, hi);
		assert_true(y >= 0.0f && y <= 1.0f);
		double back = expm1(ns_unscale(y, lo, hi));
		assert_true(fabs(back - v[i]) <= 1e-5 * v[i] + 1e-5);
	}
	assert_true(ns_scale(-5, 0, 10) == 0.0f);
	assert_true(ns_scale(50, 0, 10) == 1.0f);
	assert_true(ns_scale(3, 7, 7) == 0.0f);
	assert_true(ns_unscale(0.5f, 7, 7) == 7.0);
	assert_true(ns_unscale(NAN, 2, 4) == 2.0);
	assert_true(ns_unscale(INFINITY, 2, 4) == 4.0);
	assert_true(ns_unscale(-3.0f, 2, 4) == 2.0);
}

/* §2.3's example: a flow present in chunks {2,3,5} of 10 starts in 2
 * only, and carries the same presence bits in every chunk: 0011010000
 * (the reference prints 0010110000, which is {2,4,5}: a typo). */
static void
test_flow_tags_example(void **state)
{
	(void)state;
	uint64_t mask = 1u << 2 | 1u << 3 | 1u << 5;
	const char *bits = "0011010000";
	for (uint32_t c = 0; c < 10; c++) {
		if (!(mask >> c & 1))
			continue;
		float t[22];
		ns_flow_tags(mask, c, 10, t);
		int start = c == 2;
		assert_true(t[0] == (float)!start && t[1] == (float)start);
		for (int i = 0; i < 10; i++) {
			int b = bits[i] == '1';
			assert_true(t[2 + 2 * i] == (float)!b);
			assert_true(t[3 + 2 * i] == (float)b);
		}
	}
}

/* len 3, L 10, S 5: continue, continue, end, end-padding to the end of
 * the block, then an empty block of [0,0]. */
static void
test_gen_flags_partial_block(void **state)
{
	(void)state;
	float f[20];
	ns_gen_flags(3, 10, 5, f);
	const float want[20] = {1, 0, 1, 0, 0, 1, 0, 1, 0, 1,
	                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_memory_equal(f, want, sizeof(want));
}

/* len 5 with S 5 fills its block exactly: the next block is empty. */
static void
test_gen_flags_full_block(void **state)
{
	(void)state;
	float f[20];
	ns_gen_flags(5, 10, 5, f);
	const float want[20] = {1, 0, 1, 0, 1, 0, 1, 0, 0, 1,
	                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_memory_equal(f, want, sizeof(want));
	ns_gen_flags(12, 10, 5, f); /* longer than L: ends at L-1 */
	assert_true(f[18] == 0.0f && f[19] == 1.0f);
}

/* The cumulative-AND length: up to and including the first "end", L when
 * none; it inverts ns_gen_flags. */
static void
test_gen_length(void **state)
{
	(void)state;
	float f[40];
	for (uint32_t len = 1; len <= 20; len++) {
		ns_gen_flags(len, 20, 5, f);
		assert_int_equal(ns_gen_length(f, 20), len);
	}
	for (int k = 0; k < 20; k++) {
		f[2 * k] = 0.9f;
		f[2 * k + 1] = 0.1f;
	}
	assert_int_equal(ns_gen_length(f, 20), 20);
	f[2 * 6 + 1] = 0.95f; /* ends at record 6; later ends ignored */
	f[2 * 9 + 1] = 0.95f;
	assert_int_equal(ns_gen_length(f, 20), 7);
	f[0] = NAN; /* NaN counts as end */
	assert_int_equal(ns_gen_length(f, 20), 1);
}

/* --- encoding ----------------------------------------------------------- */

/* Paper widths (§2.5): IPv4 attributes are 181 wide; flow features are
 * 4 + classes; packet features 9. */
static void
test_layouts(void **state)
{
	(void)state;
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	struct ns_flow_trace ft;
	make_flows(&ft);
	struct ns_encoder enc;
	struct ns_dataset ds;
	char err[256];
	assert_int_equal(
	    ns_encode_fit(&cfg, NULL, &ft, &enc, &ds, err, sizeof(err)), 0);
	assert_int_equal(enc.attr.dim, 181);
	assert_int_equal(enc.attr.n_heads, 32 + 32 + 3 + 11 + 1);
	assert_int_equal(enc.n_classes, 3); /* two labels + unlabelled */
	assert_int_equal(enc.feat.dim, 4 + 3);
	assert_int_equal(enc.attr_tag_off, 64 + 64 + 30);
	assert_int_equal(enc.attr_start_off, 180);
	assert_int_equal(ds.attr_dim, 181);
	assert_int_equal(ds.n_records, ft.n);
	assert_int_equal(ds.chunk_offset[0], 0);
	assert_int_equal(ds.chunk_offset[10], ds.n_flows);
	for (uint32_t c = 0; c < 10; c++) {
		assert_true(ds.chunk_offset[c] <= ds.chunk_offset[c + 1]);
		for (uint32_t i = ds.chunk_offset[c];
		     i < ds.chunk_offset[c + 1]; i++) {
			const float *a = ds.attr + (size_t)i * 181;
			/* present in its own chunk; flow_start in its slice */
			assert_true(a[enc.attr_tag_off + 3 + 2 * c] == 1.0f);
			float fs = a[180];
			assert_true(fs >= c / 10.0f - 1e-6f &&
			            fs <= (c + 1) / 10.0f + 1e-6f);
		}
	}
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);
	ns_flow_trace_free(&ft);

	struct ns_pkt_trace pt;
	make_pkts(&pt, 1);
	cfg.n_chunks = 1;
	assert_int_equal(
	    ns_encode_fit(&cfg, &pt, NULL, &enc, &ds, err, sizeof(err)), 0);
	/* 128-bit IPs, one chunk: tags are [start] + one presence bit */
	assert_int_equal(enc.ip_bits, 128);
	assert_int_equal(enc.attr.dim, 256 + 256 + 30 + 4 + 1);
	assert_int_equal(enc.feat.dim, 9);
	for (size_t i = 0; i < ds.n_flows; i++) {
		const float *a = ds.attr + i * enc.attr.dim;
		const float want[4] = {0, 1, 0, 1};
		assert_memory_equal(a + enc.attr_tag_off, want, sizeof(want));
	}
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);
	ns_pkt_trace_free(&pt);
}

/* Flows longer than max_flow_len are split into samples of that many
 * records (the default) or keep their first records (split_long 0);
 * either is counted. */
static void
test_truncation(void **state)
{
	(void)state;
	struct ns_flow_trace ft = {0};
	for (uint32_t k = 0; k < 10; k++) {
		struct ns_flow_record r = flow_rec(1, 2, 3, 4, 6, T0 + k * MS,
		                                   0, 1, 40, NS_LABEL_NONE);
		r.packets = 1 + k;
		assert_int_equal(ns_flow_trace_push(&ft, &r), 0);
	}
	for (uint32_t k = 0; k < 3; k++) {
		struct ns_flow_record r = flow_rec(5, 6, 7, 8, 17, T0 + k * MS,
		                                   0, 1, 40, NS_LABEL_NONE);
		assert_int_equal(ns_flow_trace_push(&ft, &r), 0);
	}
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	cfg.n_chunks = 1;
	cfg.max_flow_len = 4;
	struct ns_encoder enc;
	struct ns_dataset ds;
	char err[256];
	/* split: the 10-record flow is three samples of 4, 4 and 2, their
	 * records in order, each starting its own inter-arrivals */
	assert_int_equal(
	    ns_encode_fit(&cfg, NULL, &ft, &enc, &ds, err, sizeof(err)), 0);
	assert_int_equal(ds.n_flows, 4);
	assert_int_equal(ds.n_split, 1);
	assert_int_equal(ds.n_truncated, 0);
	assert_int_equal(ds.n_records, 10 + 3);
	assert_int_equal(ds.max_len, 4);
	{
		float *sfeat;
		uint32_t *slen;
		pad_dataset(&ds, 4, &sfeat, &slen);
		struct ns_flow_trace sout = {0};
		assert_int_equal(ns_decode(&enc, ds.n_flows, ds.attr, sfeat, 4,
					   slen, NULL, &sout),
				 0);
		assert_int_equal(sout.n, 13);
		uint64_t all = 0;
		for (size_t i = 0; i < sout.n; i++)
			if (sout.v[i].proto == 6)
				all |= 1u << sout.v[i].packets;
		assert_int_equal(all, 0x7FE); /* packets 1..10 */
		free(sfeat);
		free(slen);
		ns_flow_trace_free(&sout);
	}
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);

	cfg.split_long = 0; /* cut */
	assert_int_equal(
	    ns_encode_fit(&cfg, NULL, &ft, &enc, &ds, err, sizeof(err)), 0);
	assert_int_equal(ds.n_flows, 2);
	assert_int_equal(ds.n_split, 0);
	assert_int_equal(ds.n_truncated, 1);
	assert_int_equal(ds.n_dropped, 6);
	assert_int_equal(ds.n_records, 4 + 3);
	assert_int_equal(ds.max_len, 4);
	assert_int_equal(enc.max_flow_len, 4);
	assert_int_equal(enc.n_classes, 0); /* no labels: no head */
	assert_int_equal(enc.feat.dim, 4);

	float *feat;
	uint32_t *len;
	pad_dataset(&ds, 4, &feat, &len);
	struct ns_flow_trace out = {0};
	assert_int_equal(
	    ns_decode(&enc, ds.n_flows, ds.attr, feat, 4, len, NULL, &out), 0);
	assert_int_equal(out.n, 7);
	uint64_t seen = 0; /* the first four records: packets 1..4 */
	for (size_t i = 0; i < out.n; i++)
		if (out.v[i].proto == 6)
			seen |= 1u << out.v[i].packets;
	assert_int_equal(seen, 0x1E);
	free(feat);
	free(len);
	ns_flow_trace_free(&out);
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);

	cfg.max_flow_len = 0; /* the data's longest */
	assert_int_equal(
	    ns_encode_fit(&cfg, NULL, &ft, &enc, &ds, err, sizeof(err)), 0);
	assert_int_equal(ds.n_truncated, 0);
	assert_int_equal(enc.max_flow_len, 10);
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);
	ns_flow_trace_free(&ft);
}

/* Decoding the encoded real flows gives back every record: the same
 * 5-tuples and labels, packet counts, and times, durations and bytes
 * within float rounding. One decoder over them in two batches gives the
 * same records as ns_decode over all at once. */
static void
test_flow_round_trip(void **state)
{
	(void)state;
	struct ns_flow_trace ft;
	make_flows(&ft);
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	struct ns_encoder enc;
	struct ns_dataset ds;
	char err[256];
	assert_int_equal(
	    ns_encode_fit(&cfg, NULL, &ft, &enc, &ds, err, sizeof(err)), 0);
	assert_int_equal(ds.n_truncated, 0);
	float *feat;
	uint32_t *len;
	pad_dataset(&ds, enc.max_flow_len, &feat, &len);
	struct ns_flow_trace out = {0};
	assert_int_equal(ns_decode(&enc, ds.n_flows, ds.attr, feat,
	                           enc.max_flow_len, len, NULL, &out),
	                 0);
	assert_int_equal(out.n, ft.n);
	size_t half = ds.n_flows / 2, L = enc.max_flow_len;
	size_t A = enc.attr.dim, F = enc.feat.dim;
	struct ns_flow_trace two = {0};
	struct ns_decoder *d = ns_decoder_new(&enc);
	assert_non_null(d);
	assert_int_equal(ns_decoder_run(d, half, ds.attr, feat, (uint32_t)L,
	                                len, NULL, &two),
	                 0);
	assert_int_equal(ns_decoder_run(d, ds.n_flows - half,
	                                ds.attr + half * A, feat + half * L * F,
	                                (uint32_t)L, len + half, NULL, &two),
	                 0);
	ns_decoder_free(d);
	assert_int_equal(two.n, out.n);
	for (size_t i = 0; i < out.n; i++)
		assert_memory_equal(&two.v[i], &out.v[i], sizeof(out.v[i]));
	ns_flow_trace_free(&two);
	qsort(ft.v, ft.n, sizeof(*ft.v), flow_cmp);
	qsort(out.v, out.n, sizeof(*out.v), flow_cmp);
	double span = (double)(enc.t1_ns - enc.t0_ns);
	for (size_t i = 0; i < ft.n; i++) {
		const struct ns_flow_record *a = &ft.v[i], *b = &out.v[i];
		assert_memory_equal(a->src_addr, b->src_addr, 16);
		assert_memory_equal(a->dst_addr, b->dst_addr, 16);
		assert_int_equal(a->src_port, b->src_port);
		assert_int_equal(a->dst_port, b->dst_port);
		assert_int_equal(a->proto, b->proto);
		assert_int_equal(b->ip_version, 4);
		assert_near_u64(a->first_ns, b->first_ns, 1e-6 * span);
		uint64_t tda = a->last_ns - a->first_ns;
		uint64_t tdb = b->last_ns - b->first_ns;
		assert_near_u64(tda, tdb, 1e-5 * (double)tda + 2000);
		assert_int_equal(a->packets, b->packets);
		assert_near_u64(a->bytes, b->bytes,
		                1e-6 * (double)a->bytes + 1);
		if (a->label == NS_LABEL_NONE)
			assert_int_equal(b->label, NS_LABEL_NONE);
		else
			assert_string_equal(ft.labels.name[a->label],
			                    out.labels.name[b->label]);
	}
	free(feat);
	free(len);
	ns_flow_trace_free(&out);
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);
	ns_flow_trace_free(&ft);
}

/* The length profile counts each sample once per role at its length's
 * bucket, and ports and protocols decode by it: with every token a
 * candidate, a 40-record flow gets the protocol and ports of the one
 * long training flow (TCP) and a one-record flow those of the short ones
 * (UDP). */
static void
test_port_length_profile(void **state)
{
	(void)state;
	struct ns_pkt_trace pt;
	memset(&pt, 0, sizeof(pt));
	uint8_t src[16], dst[16];
	ns_addr_from_v4(dst, 0x08080808u);
	uint64_t ts = T0;
	for (uint32_t k = 0; k < 40; k++) { /* the long flow */
		ns_addr_from_v4(src, 0x0A000001u);
		struct ns_pkt_record r =
		    pkt_rec(src, dst, 4, 41000, 5000, 6, ts += MS);
		assert_int_equal(ns_pkt_trace_push(&pt, &r), 0);
	}
	for (uint32_t f = 0; f < 18; f++) { /* one-packet flows */
		ns_addr_from_v4(src, 0x0A000100u + f);
		struct ns_pkt_record r = pkt_rec(src, dst, 4,
						 (uint16_t)(42000 + f),
						 (uint16_t)(5001 + f % 3), 17,
						 ts += MS);
		assert_int_equal(ns_pkt_trace_push(&pt, &r), 0);
	}
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	cfg.n_chunks = 1;
	struct ns_encoder enc;
	struct ns_dataset ds;
	char err[256];
	assert_int_equal(
	    ns_encode_fit(&cfg, &pt, NULL, &enc, &ds, err, sizeof(err)), 0);
	assert_int_equal(ns_len_bucket(1), 0);
	assert_int_equal(ns_len_bucket(40), 5);
	assert_int_equal(ns_len_bucket(UINT32_MAX), NS_LEN_BUCKETS - 1);
	for (uint32_t k = 0; k < enc.n_proto_ports; k++) {
		uint32_t port = enc.proto_ports[k] & 0xFFFF;
		const uint32_t *c =
		    enc.port_len_count + (size_t)k * 2 * NS_LEN_BUCKETS;
		for (int role = 0; role < 2; role++)
			for (int b = 0; b < NS_LEN_BUCKETS; b++) {
				uint32_t want = 0;
				if (role == 0 && port == 41000)
					want = b == 5;
				else if (role == 0 && port >= 42000)
					want = b == 0;
				else if (role == 1 && port == 5000)
					want = b == 5;
				else if (role == 1 && port > 5000 &&
					 port < 5004)
					want = b == 0 ? 6 : 0;
				assert_int_equal(c[role * NS_LEN_BUCKETS + b],
						 want);
			}
	}
	enc.port_spread = 2; /* every token a candidate */
	enc.proto_spread = 2;
	size_t n = ds.n_flows, L = 40, F = enc.feat.dim;
	float *feat = calloc(n * L * F, sizeof(float));
	uint32_t *len = malloc(n * sizeof(uint32_t));
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++)
			len[i] = pass ? 1 : 40;
		struct ns_pkt_trace out = {0};
		assert_int_equal(ns_decode(&enc, n, ds.attr, feat,
					   (uint32_t)L, len, &out, NULL),
				 0);
		for (size_t i = 0; i < out.n; i++) {
			int long_ports = out.v[i].src_port == 41000 &&
					 out.v[i].dst_port == 5000 &&
					 out.v[i].proto == 6;
			int short_ports = out.v[i].src_port >= 42000 &&
					  out.v[i].dst_port > 5000 &&
					  out.v[i].dst_port < 5004 &&
					  out.v[i].proto == 17;
			assert_true(pass ? short_ports : long_ports);
		}
		ns_pkt_trace_free(&out);
	}
	free(feat);
	free(len);
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);
	ns_pkt_trace_free(&pt);
}

static void
pkt_round_trip(int with_v6)
{
	struct ns_pkt_trace pt;
	make_pkts(&pt, with_v6);
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	cfg.n_chunks = 4;
	struct ns_encoder enc;
	struct ns_dataset ds;
	char err[256];
	assert_int_equal(
	    ns_encode_fit(&cfg, &pt, NULL, &enc, &ds, err, sizeof(err)), 0);
	assert_int_equal(enc.ip_bits, with_v6 ? 128 : 32);
	float *feat;
	uint32_t *len;
	pad_dataset(&ds, enc.max_flow_len, &feat, &len);
	struct ns_pkt_trace out = {0};
	assert_int_equal(ns_decode(&enc, ds.n_flows, ds.attr, feat,
	                           enc.max_flow_len, len, &out, NULL),
	                 0);
	assert_int_equal(out.n, pt.n);
	qsort(pt.v, pt.n, sizeof(*pt.v), pkt_cmp);
	qsort(out.v, out.n, sizeof(*out.v), pkt_cmp);
	double span = (double)(enc.t1_ns - enc.t0_ns);
	for (size_t i = 0; i < pt.n; i++) {
		const struct ns_pkt_record *a = &pt.v[i], *b = &out.v[i];
		assert_memory_equal(a->src_addr, b->src_addr, 16);
		assert_memory_equal(a->dst_addr, b->dst_addr, 16);
		assert_int_equal(a->ip_version, b->ip_version);
		assert_int_equal(a->src_port, b->src_port);
		assert_int_equal(a->dst_port, b->dst_port);
		assert_int_equal(a->proto, b->proto);
		assert_near_u64(a->ts_ns, b->ts_ns, 1e-6 * span);
		assert_int_equal(a->ip_len, b->ip_len);
		assert_int_equal(a->tos, b->tos);
		assert_int_equal(a->ip_id, b->ip_id);
		assert_int_equal(a->ip_frag, b->ip_frag);
		assert_int_equal(a->ttl, b->ttl);
		int l4 = !(b->ip_frag & NS_FRAG_OFFSET_MASK);
		assert_int_equal(!!(b->flags & NS_PKT_HAS_L4), l4);
	}
	free(feat);
	free(len);
	ns_pkt_trace_free(&out);
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);
	ns_pkt_trace_free(&pt);
}

/* Packet round trip, IPv4 only (32-bit addresses). */
static void
test_pkt_round_trip_v4(void **state)
{
	(void)state;
	pkt_round_trip(0);
}

/* Packet round trip with IPv6 flows beside IPv4 (128-bit addresses). */
static void
test_pkt_round_trip_v6(void **state)
{
	(void)state;
	pkt_round_trip(1);
}

/* Generated garbage (NaN, infinities, huge values) decodes into records
 * with every field inside its range, without a crash. */
static void
test_decode_garbage(void **state)
{
	(void)state;
	struct ns_pkt_trace pt;
	make_pkts(&pt, 0);
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	struct ns_encoder enc;
	struct ns_dataset ds;
	char err[256];
	assert_int_equal(
	    ns_encode_fit(&cfg, &pt, NULL, &enc, &ds, err, sizeof(err)), 0);
	const float junk[4] = {NAN, INFINITY, -INFINITY, 1e30f};
	uint32_t A = enc.attr.dim, F = enc.feat.dim, L = 3;
	float *attr = malloc(4 * A * sizeof(*attr));
	float *feat = malloc(4 * L * F * sizeof(*feat));
	for (uint32_t i = 0; i < 4 * A; i++)
		attr[i] = junk[(i / A + i) % 4];
	for (uint32_t i = 0; i < 4 * L * F; i++)
		feat[i] = junk[i % 4];
	uint32_t len[4] = {3, 99, 0, 1}; /* 99 clamps to L, 0 is skipped */
	struct ns_pkt_trace out = {0};
	assert_int_equal(ns_decode(&enc, 4, attr, feat, L, len, &out, NULL),
	                 0);
	assert_int_equal(out.n, 3 + 3 + 1);
	for (size_t i = 0; i < out.n; i++) {
		const struct ns_pkt_record *r = &out.v[i];
		assert_true(r->ip_len >= enc.cont_min[1] &&
		            r->ip_len <= enc.cont_max[1]);
		assert_true(r->ip_id <= 65535);
		assert_true(r->ts_ns >= enc.t0_ns);
		assert_true((r->ip_frag >> 13) <= 2);
		assert_true(ns_w2v_lookup(&enc.w2v, NS_TOK_PROTO, r->proto) >=
		            0);
	}
	/* the wrong kind of output trace is refused */
	struct ns_flow_trace ft = {0};
	assert_int_equal(ns_decode(&enc, 4, attr, feat, L, len, NULL, &ft),
	                 -1);
	free(attr);
	free(feat);
	ns_pkt_trace_free(&out);
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);
	ns_pkt_trace_free(&pt);
}

/* Bad configurations and inputs fail with a message. */
static void
test_encode_errors(void **state)
{
	(void)state;
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	struct ns_flow_trace ft;
	make_flows(&ft);
	struct ns_pkt_trace empty = {0};
	struct ns_encoder enc;
	struct ns_dataset ds;
	char err[256];
	err[0] = 0;
	assert_int_equal(
	    ns_encode_fit(&cfg, &empty, &ft, &enc, &ds, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exactly one"));
	assert_int_equal(
	    ns_encode_fit(&cfg, &empty, NULL, &enc, &ds, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "empty"));
	cfg.n_chunks = 65;
	assert_int_equal(
	    ns_encode_fit(&cfg, NULL, &ft, &enc, &ds, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "n_chunks"));
	cfg.n_chunks = 64; /* the most a mask holds */
	assert_int_equal(
	    ns_encode_fit(&cfg, NULL, &ft, &enc, &ds, err, sizeof(err)), 0);
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);
	cfg.w2v_dim = 0;
	assert_int_equal(
	    ns_encode_fit(&cfg, NULL, &ft, &enc, &ds, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "w2v_dim"));
	ns_flow_trace_free(&ft);
}

/* --- serialisation ------------------------------------------------------ */

static uint8_t *
serialise(const struct ns_encoder *enc, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	assert_non_null(f);
	assert_int_equal(ns_encoder_write(f, enc), 0);
	assert_int_equal(fclose(f), 0);
	return (uint8_t *)buf;
}

static int
deserialise(const uint8_t *buf, size_t len, struct ns_encoder *enc, char *err,
            size_t errlen)
{
	FILE *f =
	    fmemopen(len ? (void *)buf : (void *)"", len ? len : 1, "rb");
	assert_non_null(f);
	if (!len)
		fgetc(f); /* an empty stream */
	int rc = ns_encoder_read(f, enc, err, errlen);
	fclose(f);
	return rc;
}

static void
fit_flows(struct ns_encoder *enc)
{
	struct ns_flow_trace ft;
	make_flows(&ft);
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	struct ns_dataset ds;
	char err[256];
	assert_int_equal(
	    ns_encode_fit(&cfg, NULL, &ft, enc, &ds, err, sizeof(err)), 0);
	ns_dataset_free(&ds);
	ns_flow_trace_free(&ft);
}

static void
assert_same_encoder(const struct ns_encoder *a, const struct ns_encoder *b)
{
	assert_int_equal(a->is_packets, b->is_packets);
	assert_int_equal(a->ip_bits, b->ip_bits);
	assert_int_equal(a->n_chunks, b->n_chunks);
	assert_int_equal(a->t0_ns, b->t0_ns);
	assert_int_equal(a->t1_ns, b->t1_ns);
	assert_int_equal(a->max_flow_len, b->max_flow_len);
	assert_int_equal(a->n_cont, b->n_cont);
	assert_memory_equal(a->cont_min, b->cont_min,
	                    a->n_cont * sizeof(double));
	assert_memory_equal(a->cont_max, b->cont_max,
	                    a->n_cont * sizeof(double));
	assert_int_equal(a->n_classes, b->n_classes);
	assert_int_equal(a->labels.n, b->labels.n);
	for (unsigned k = 0; k < a->labels.n; k++)
		assert_string_equal(a->labels.name[k], b->labels.name[k]);
	assert_int_equal(a->w2v.dim, b->w2v.dim);
	assert_int_equal(a->w2v.n_tokens, b->w2v.n_tokens);
	assert_memory_equal(a->w2v.kind, b->w2v.kind, a->w2v.n_tokens);
	assert_memory_equal(a->w2v.value, b->w2v.value,
	                    a->w2v.n_tokens * sizeof(uint32_t));
	assert_memory_equal(a->w2v.vec, b->w2v.vec,
	                    a->w2v.n_tokens * a->w2v.dim * sizeof(float));
	assert_int_equal(a->n_proto_ports, b->n_proto_ports);
	assert_memory_equal(a->proto_ports, b->proto_ports,
	                    a->n_proto_ports * sizeof(uint32_t));
	assert_memory_equal(a->proto_port_count, b->proto_port_count,
	                    a->n_proto_ports * sizeof(uint32_t));
	assert_memory_equal(a->port_len_count, b->port_len_count,
	                    a->n_proto_ports * 2 * NS_LEN_BUCKETS *
	                        sizeof(uint32_t));
	assert_memory_equal(&a->attr, &b->attr, sizeof(a->attr));
	assert_memory_equal(&a->feat, &b->feat, sizeof(a->feat));
	assert_int_equal(a->attr_tag_off, b->attr_tag_off);
	assert_int_equal(a->attr_start_off, b->attr_start_off);
}

/* write then read gives the same encoder and consumes exactly what was
 * written, so a checkpoint can carry more after it. */
static void
test_io_round_trip(void **state)
{
	(void)state;
	struct ns_encoder enc, back;
	fit_flows(&enc);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(ns_encoder_write(f, &enc), 0);
	fputs("after", f);
	fclose(f);
	assert_memory_equal(buf, "NSENC", 5);
	f = fmemopen(buf, len, "rb");
	char err[256] = "";
	assert_int_equal(ns_encoder_read(f, &back, err, sizeof(err)), 0);
	char tail[8] = {0};
	assert_int_equal(fread(tail, 1, sizeof(tail), f), 5);
	assert_string_equal(tail, "after");
	fclose(f);
	assert_same_encoder(&enc, &back);
	size_t n2;
	uint8_t *again = serialise(&back, &n2);
	assert_int_equal(n2, len - 5);
	assert_memory_equal(again, buf, n2);
	free(again);
	free(buf);
	ns_encoder_free(&back);
	ns_encoder_free(&enc);
}

/* Every truncation fails cleanly with a message and leaves enc empty. */
static void
test_io_truncated(void **state)
{
	(void)state;
	struct ns_encoder enc, back;
	fit_flows(&enc);
	size_t len;
	uint8_t *buf = serialise(&enc, &len);
	for (size_t n = 0; n < len; n++) {
		char err[256] = "";
		if (deserialise(buf, n, &back, err, sizeof(err)) != -1)
			fail_msg("a %zu-byte prefix of %zu was accepted", n,
			         len);
		assert_true(strncmp(err, "encoder: ", 9) == 0 && err[9]);
		assert_null(back.w2v.vec);
	}
	free(buf);
	ns_encoder_free(&enc);
}

/* Wrong magic, version, reserved bytes, an oversized payload length or a
 * flipped payload byte fail with a message naming the problem. */
static void
test_io_corrupt(void **state)
{
	(void)state;
	struct ns_encoder enc, back;
	fit_flows(&enc);
	size_t len;
	uint8_t *buf = serialise(&enc, &len);
	char err[256];

	buf[0] = 'X';
	assert_int_equal(deserialise(buf, len, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "magic"));
	buf[0] = 'N';
	buf[5] = NS_ENCODER_VERSION + 1;
	assert_int_equal(deserialise(buf, len, &back, err, sizeof(err)), -1);
	char want[32];
	snprintf(want, sizeof(want), "version %d", NS_ENCODER_VERSION + 1);
	assert_non_null(strstr(err, want));
	buf[5] = NS_ENCODER_VERSION;
	buf[7] = 1;
	assert_int_equal(deserialise(buf, len, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "reserved"));
	buf[7] = 0;
	uint8_t save = buf[11];
	buf[11] = 0x7f; /* a 2 GiB payload: refused before reading */
	assert_int_equal(deserialise(buf, len, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "limit"));
	buf[11] = save;
	buf[12 + 4] = 33; /* ip_bits */
	assert_int_equal(deserialise(buf, len, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ip_bits 33"));
	buf[12 + 4] = 32;
	buf[len - 100] ^= 0x01; /* inside the feature layout or vectors */
	assert_int_equal(deserialise(buf, len, &back, err, sizeof(err)), -1);
	buf[len - 100] ^= 0x01;
	assert_int_equal(deserialise(buf, len, &back, err, sizeof(err)), 0);
	ns_encoder_free(&back);
	/* every single-byte change is caught */
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x10;
		if (deserialise(buf, len, &back, err, sizeof(err)) != -1)
			fail_msg("flipping byte %zu went unnoticed", i);
		buf[i] ^= 0x10;
	}
	free(buf);
	ns_encoder_free(&enc);
}

/* --- applying a fitted encoder -------------------------------------------- */

/* The same trace through ns_encode_apply gives the fit's dataset (up to
 * flow_start, whose window ends one ns later); unseen ports take the
 * closest known one, labels map by name, and records the encoder cannot
 * take are counted. */
static void
test_apply_matches_fit(void **state)
{
	(void)state;
	struct ns_flow_trace t;
	make_flows(&t);
	struct ns_encode_config cfg;
	ns_encode_config_default(&cfg);
	cfg.n_chunks = 1;
	struct ns_encoder enc;
	struct ns_dataset fit, app;
	char err[256];
	assert_int_equal(ns_encode_fit(&cfg, NULL, &t, &enc, &fit, err,
	                               sizeof(err)),
	                 0);
	struct ns_apply_stats st;
	assert_int_equal(ns_encode_apply(&enc, enc.t0_ns, enc.t1_ns + 1, NULL,
	                                 &t, &app, &st, err, sizeof(err)),
	                 0);
	assert_int_equal(st.records, t.n);
	assert_int_equal(st.out_of_window + st.skipped_v6 + st.unknown_ports +
	                     st.unknown_protos + st.unknown_labels,
	                 0);
	assert_int_equal(app.n_flows, fit.n_flows);
	assert_int_equal(app.n_records, fit.n_records);
	assert_memory_equal(app.offset, fit.offset,
	                    (fit.n_flows + 1) * sizeof(uint32_t));
	assert_memory_equal(app.feat, fit.feat,
	                    fit.n_records * fit.feat_dim * sizeof(float));
	for (size_t i = 0; i < fit.n_flows; i++) {
		const float *a = app.attr + i * fit.attr_dim;
		const float *b = fit.attr + i * fit.attr_dim;
		assert_memory_equal(a, b, enc.attr_start_off * sizeof(float));
		assert_true(fabsf(a[enc.attr_start_off] -
		                  b[enc.attr_start_off]) < 1e-6f);
	}
	ns_dataset_free(&app);

	/* a second trace: an unseen port (between 1024 + 13k values), an
	 * IPv6 record, one outside the window, labels in another order */
	struct ns_flow_trace u;
	memset(&u, 0, sizeof(u));
	uint16_t at = ns_label_intern(&u.labels, "attack", 6);
	ns_label_intern(&u.labels, "background", 10);
	uint16_t odd = ns_label_intern(&u.labels, "never-seen", 10);
	struct ns_flow_record r =
	    flow_rec(0x0A000001u, 0xC0A80001u, 1031, 443, 6, T0 + 5 * MS, MS,
	             3, 300, at);
	assert_int_equal(ns_flow_trace_push(&u, &r), 0);
	r.label = odd;
	r.first_ns = r.last_ns = T0 + 6 * MS;
	assert_int_equal(ns_flow_trace_push(&u, &r), 0);
	struct ns_flow_record v6 = r;
	v6.ip_version = 6;
	v6.src_addr[0] = 0x20;
	assert_int_equal(ns_flow_trace_push(&u, &v6), 0);
	struct ns_flow_record late = r;
	late.first_ns = late.last_ns = enc.t1_ns + 10;
	assert_int_equal(ns_flow_trace_push(&u, &late), 0);
	assert_int_equal(ns_encode_apply(&enc, enc.t0_ns, enc.t1_ns + 1, NULL,
	                                 &u, &app, &st, err, sizeof(err)),
	                 0);
	assert_int_equal(st.records, 2);
	assert_int_equal(st.skipped_v6, 1);
	assert_int_equal(st.out_of_window, 1);
	assert_int_equal(st.unknown_ports, 2); /* both records' 1031 */
	/* "never-seen" goes to the fitted "no label" class */
	assert_int_equal(st.unknown_labels, 0);
	assert_true(enc.n_classes > enc.labels.n);
	assert_int_equal(app.n_records, 2);
	/* 1031 sits between the fitted 1024 and 1037: 1037 is closer */
	int32_t tok = ns_w2v_lookup(&enc.w2v, NS_TOK_PORT, 1037);
	assert_true(tok >= 0);
	assert_int_equal(ns_w2v_lookup_closest(&enc.w2v, NS_TOK_PORT, 1031),
	                 tok);
	uint32_t sp_off = 2 * enc.ip_bits * 2;
	assert_memory_equal(app.attr + sp_off,
	                    enc.w2v.vec + (size_t)tok * enc.w2v.dim,
	                    enc.w2v.dim * sizeof(float));
	/* the attack label maps by name; class one-hots sit after the
	 * continuous features */
	uint32_t k_attack = 0;
	while (strcmp(enc.labels.name[k_attack], "attack"))
		k_attack++;
	assert_true(app.feat[NS_FLOW_N_CONT_TEST + k_attack] == 1.0f);
	ns_dataset_free(&app);
	assert_int_equal(ns_encode_apply(&enc, 5, 5, NULL, &u, &app, &st, err,
	                                 sizeof(err)),
	                 -1);
	struct ns_pkt_trace none = {0};
	assert_int_equal(ns_encode_apply(&enc, 0, 5, &none, NULL, &app, &st,
	                                 err, sizeof(err)),
	                 -1);
	ns_flow_trace_free(&u);
	ns_dataset_free(&fit);
	ns_encoder_free(&enc);
	ns_flow_trace_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ip_bits_v4),
	    cmocka_unit_test(test_ip_bits_v6),
	    cmocka_unit_test(test_w2v_deterministic),
	    cmocka_unit_test(test_w2v_cooccurrence),
	    cmocka_unit_test(test_w2v_nearest_self),
	    cmocka_unit_test(test_w2v_index_matches_brute_force),
	    cmocka_unit_test(test_w2v_index_small_exact),
	    cmocka_unit_test(test_w2v_index_bounded),
	    cmocka_unit_test(test_w2v_index_deterministic),
	    cmocka_unit_test(test_scale_round_trip),
	    cmocka_unit_test(test_flow_tags_example),
	    cmocka_unit_test(test_gen_flags_partial_block),
	    cmocka_unit_test(test_gen_flags_full_block),
	    cmocka_unit_test(test_gen_length),
	    cmocka_unit_test(test_layouts),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_flow_round_trip),
	    cmocka_unit_test(test_pkt_round_trip_v4),
	    cmocka_unit_test(test_pkt_round_trip_v6),
	    cmocka_unit_test(test_decode_garbage),
	    cmocka_unit_test(test_encode_errors),
	    cmocka_unit_test(test_apply_matches_fit),
	    cmocka_unit_test(test_io_round_trip),
	    cmocka_unit_test(test_io_truncated),
	    cmocka_unit_test(test_io_corrupt),
	    cmocka_unit_test(test_port_length_profile),
	};
	return cmocka_run_group_tests_name("encode", tests, NULL, NULL);
}
