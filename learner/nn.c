/* Layers of the learner: GEMM, linear, ReLU, BatchNorm, output heads,
 * LSTM, Adam. See nn.h for conventions. */
#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "netshare/encode.h"

static int gemm_naive;
static uint64_t gemm_flops;

int
ns_gemm_set_naive(int naive)
{
	int old = gemm_naive;
	gemm_naive = naive;
	return old;
}

uint64_t
ns_gemm_flops(void)
{
	return gemm_flops;
}

void
ns_gemm_reset_flops(void)
{
	gemm_flops = 0;
}

void
ns_gemm_naive(int ta, int tb, int M, int N, int K, float alpha,
	      const float *A, int lda, const float *B, int ldb, float beta,
	      float *C, int ldc)
{
	for (int i = 0; i < M; i++) {
		for (int j = 0; j < N; j++) {
			double s = 0;
			for (int k = 0; k < K; k++) {
				float a = ta ? A[(size_t)k * lda + i]
					     : A[(size_t)i * lda + k];
				float b = tb ? B[(size_t)j * ldb + k]
					     : B[(size_t)k * ldb + j];
				s += (double)a * b;
			}
			float *c = &C[(size_t)i * ldc + j];
			*c = (float)(alpha * s + (beta == 0 ? 0 : beta * *c));
		}
	}
}

void
ns_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
	int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return;
	gemm_flops += 2ull * (uint64_t)M * (uint64_t)N * (uint64_t)K;
	if (gemm_naive) {
		ns_gemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C,
			      ldc);
		return;
	}
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
		    tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
		    ldb, beta, C, ldc);
}

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void
ns_rng_seed(struct ns_rng *r, uint64_t seed)
{
	r->s = seed ^ 0x5DEECE66Dull;
	r->has_spare = 0;
	r->spare = 0;
}

uint64_t
ns_rng_u64(struct ns_rng *r)
{
	return splitmix64(&r->s);
}

float
ns_rng_float(struct ns_rng *r)
{
	return (float)(ns_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

float
ns_rng_normal(struct ns_rng *r)
{
	if (r->has_spare) {
		r->has_spare = 0;
		return r->spare;
	}
	/* Marsaglia's polar method: two normals per accepted pair */
	double u, v, s;
	do {
		u = (double)(ns_rng_u64(r) >> 11) * 0x1.0p-52 - 1.0;
		v = (double)(ns_rng_u64(r) >> 11) * 0x1.0p-52 - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	double k = sqrt(-2.0 * log(s) / s);
	r->spare = (float)(v * k);
	r->has_spare = 1;
	return (float)(u * k);
}

void
ns_rng_fill_normal(struct ns_rng *r, float *x, size_t n, float sd)
{
	for (size_t i = 0; i < n; i++)
		x[i] = sd * ns_rng_normal(r);
}

void
ns_rng_add_normal(struct ns_rng *r, float *x, size_t n, float sd)
{
	for (size_t i = 0; i < n; i++)
		x[i] += sd * ns_rng_normal(r);
}

void
ns_linear_forward(float *out, const float *in, const float *w,
		  const float *b, int B, int In, int O)
{
	for (int r = 0; r < B; r++) {
		if (b)
			memcpy(out + (size_t)r * O, b, (size_t)O * sizeof(float));
		else
			memset(out + (size_t)r * O, 0, (size_t)O * sizeof(float));
	}
	ns_gemm(0, 0, B, O, In, 1.0f, in, In, w, O, 1.0f, out, O);
}

void
ns_linear_backward(float *din, float *dw, float *db, const float *dout,
		   const float *in, const float *w, int B, int In, int O)
{
	if (din)
		ns_gemm(0, 1, B, In, O, 1.0f, dout, O, w, O, 1.0f, din, In);
	if (dw)
		ns_gemm(1, 0, In, O, B, 1.0f, in, In, dout, O, 1.0f, dw, O);
	if (db)
		for (int r = 0; r < B; r++)
			for (int o = 0; o < O; o++)
				db[o] += dout[(size_t)r * O + o];
}

void
ns_relu_forward(float *out, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = in[i] > 0 ? in[i] : 0;
}

void
ns_relu_backward(float *din, const float *dout, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		din[i] = in[i] > 0 ? dout[i] : 0;
}

/* BatchNorm over blocks of channels: the rows are walked in memory
 * order, each channel still summed over the rows in order. */
enum { BN_BLOCK = 64 };

void
ns_bn_forward_train(float *out, struct ns_bn_cache *cache, const float *in,
		    const float *gamma, const float *beta, float *run_mean,
		    float *run_var, float decay, int B, int C)
{
	double mean[BN_BLOCK], var[BN_BLOCK];
	for (int c0 = 0; c0 < C; c0 += BN_BLOCK) {
		int n = C - c0 < BN_BLOCK ? C - c0 : BN_BLOCK;
		memset(mean, 0, sizeof(mean));
		memset(var, 0, sizeof(var));
		for (int r = 0; r < B; r++) {
			const float *x = in + (size_t)r * C + c0;
			for (int c = 0; c < n; c++)
				mean[c] += x[c];
		}
		for (int c = 0; c < n; c++)
			mean[c] /= B;
		for (int r = 0; r < B; r++) {
			const float *x = in + (size_t)r * C + c0;
			for (int c = 0; c < n; c++) {
				double d = x[c] - mean[c];
				var[c] += d * d;
			}
		}
		float *rstd = cache->rstd + c0;
		for (int c = 0; c < n; c++) {
			var[c] /= B;
			rstd[c] = (float)(1.0 / sqrt(var[c] + NS_BN_EPS));
			if (run_mean) {
				run_mean[c0 + c] = decay * run_mean[c0 + c] +
						   (1 - decay) * (float)mean[c];
				run_var[c0 + c] = decay * run_var[c0 + c] +
						  (1 - decay) * (float)var[c];
			}
		}
		for (int r = 0; r < B; r++) {
			size_t k = (size_t)r * C + c0;
			for (int c = 0; c < n; c++) {
				float xh = (float)(in[k + c] - mean[c]) *
					   rstd[c];
				cache->xhat[k + c] = xh;
				out[k + c] = gamma[c0 + c] * xh + beta[c0 + c];
			}
		}
	}
}

void
ns_bn_forward_eval(float *out, const float *in, const float *gamma,
		   const float *beta, const float *run_mean,
		   const float *run_var, int B, int C)
{
	/* fold the statistics into a scale and shift per channel, then walk
	 * the rows in memory order, a block of channels at a time */
	enum { BLOCK = 256 };
	float scale[BLOCK], shift[BLOCK];
	for (int c0 = 0; c0 < C; c0 += BLOCK) {
		int n = C - c0 < BLOCK ? C - c0 : BLOCK;
		for (int c = 0; c < n; c++) {
			scale[c] = gamma[c0 + c] /
				   sqrtf(run_var[c0 + c] + NS_BN_EPS);
			shift[c] = beta[c0 + c] - run_mean[c0 + c] * scale[c];
		}
		for (int r = 0; r < B; r++) {
			float *o = out + (size_t)r * C + c0;
			const float *x = in + (size_t)r * C + c0;
			for (int c = 0; c < n; c++)
				o[c] = x[c] * scale[c] + shift[c];
		}
	}
}

void
ns_bn_backward(float *din, float *dgamma, float *dbeta, const float *dout,
	       const struct ns_bn_cache *cache, const float *gamma, int B,
	       int C)
{
	double sum_dy[BN_BLOCK], sum_dy_xh[BN_BLOCK];
	float g[BN_BLOCK];
	for (int c0 = 0; c0 < C; c0 += BN_BLOCK) {
		int n = C - c0 < BN_BLOCK ? C - c0 : BN_BLOCK;
		memset(sum_dy, 0, sizeof(sum_dy));
		memset(sum_dy_xh, 0, sizeof(sum_dy_xh));
		for (int r = 0; r < B; r++) {
			size_t k = (size_t)r * C + c0;
			for (int c = 0; c < n; c++) {
				sum_dy[c] += dout[k + c];
				sum_dy_xh[c] +=
					(double)dout[k + c] * cache->xhat[k + c];
			}
		}
		for (int c = 0; c < n; c++) {
			dgamma[c0 + c] += (float)sum_dy_xh[c];
			dbeta[c0 + c] += (float)sum_dy[c];
			g[c] = gamma[c0 + c] * cache->rstd[c0 + c] / (float)B;
		}
		for (int r = 0; r < B; r++) {
			size_t k = (size_t)r * C + c0;
			for (int c = 0; c < n; c++)
				din[k + c] += g[c] *
					      (float)(B * dout[k + c] - sum_dy[c] -
						      cache->xhat[k + c] *
							      sum_dy_xh[c]);
		}
	}
}

/* The activations, four floats at a time with GCC/clang vector
 * extensions (SSE2 on any x86-64, NEON on arm64): libm's tanhf, one call
 * per value, was a third of a generation's time. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f
v4_splat(float x)
{
	return (v4f){x, x, x, x};
}

/* m ? a : b, lane by lane (m from a comparison: all ones or zero) */
static inline v4f
v4_select(v4i m, v4f a, v4f b)
{
	return (v4f)((m & (v4i)a) | (~m & (v4i)b));
}

/* e^x, x clamped to [-87, 88]: x = n ln2 + r with |r| <= ln2/2 (ln2 in
 * two parts, so r is exact), e^r by its Taylor series to r^7 (error
 * below 1e-8), and 2^n put straight into the exponent bits. */
static inline v4f
v4_exp(v4f x)
{
	x = v4_select(x < v4_splat(-87.0f), v4_splat(-87.0f), x);
	x = v4_select(x > v4_splat(88.0f), v4_splat(88.0f), x);
	const v4f round = v4_splat(0x1.8p23f); /* adding it rounds to int */
	v4f n = (x * v4_splat(1.44269504f) + round) - round;
	v4f r = x - n * v4_splat(0.693145751953125f) -
		n * v4_splat(1.42860677e-6f);
	v4f p = v4_splat(1.0f / 5040);
	p = p * r + v4_splat(1.0f / 720);
	p = p * r + v4_splat(1.0f / 120);
	p = p * r + v4_splat(1.0f / 24);
	p = p * r + v4_splat(1.0f / 6);
	p = p * r + v4_splat(0.5f);
	p = p * r + v4_splat(1.0f);
	p = p * r + v4_splat(1.0f);
	v4i e = (__builtin_convertvector(n, v4i) + 127) << 23;
	return p * (v4f)e;
}

static inline v4f
v4_sigmoid(v4f x)
{
	return v4_splat(1.0f) / (v4_splat(1.0f) + v4_exp(-x));
}

/* tanh: the odd Taylor series to x^13 below |x| = 1/4 (error < 1e-9),
 * (1 - e) / (1 + e) with e = e^-2|x| above; the sign put back. */
static inline v4f
v4_tanh(v4f x)
{
	const v4i sign = (v4i)v4_splat(-0.0f);
	v4f ax = (v4f)((v4i)x & ~sign);
	v4f e = v4_exp(v4_splat(-2.0f) * ax);
	v4f big = (v4_splat(1.0f) - e) / (v4_splat(1.0f) + e);
	v4f x2 = ax * ax;
	v4f p = v4_splat(21844.0f / 6081075);
	p = p * x2 - v4_splat(1382.0f / 155925);
	p = p * x2 + v4_splat(62.0f / 2835);
	p = p * x2 - v4_splat(17.0f / 315);
	p = p * x2 + v4_splat(2.0f / 15);
	p = p * x2 - v4_splat(1.0f / 3);
	v4f small = ax + ax * x2 * p;
	v4f t = v4_select(ax < v4_splat(0.25f), small, big);
	return (v4f)((v4i)t | ((v4i)x & sign));
}

/* y[i] = f(x[i]) for n floats (y may be x); the tail through a padded
 * vector. */
#define V4_MAP(name, f)                                                    \
	void name(float *y, const float *x, size_t n)                      \
	{                                                                  \
		size_t i = 0;                                              \
		for (; i + 4 <= n; i += 4) {                               \
			v4f v;                                             \
			memcpy(&v, x + i, sizeof(v));                      \
			v = f(v);                                          \
			memcpy(y + i, &v, sizeof(v));                      \
		}                                                          \
		if (i < n) {                                               \
			float t[4] = {0};                                  \
			memcpy(t, x + i, (n - i) * sizeof(float));         \
			v4f v;                                             \
			memcpy(&v, t, sizeof(v));                          \
			v = f(v);                                          \
			memcpy(t, &v, sizeof(v));                          \
			memcpy(y + i, t, (n - i) * sizeof(float));         \
		}                                                          \
	}

V4_MAP(ns_vsigmoid, v4_sigmoid)
V4_MAP(ns_vtanh, v4_tanh)

/* Consecutive sigmoid or tanh heads are activated as one run: a row of
 * step outputs is mostly short heads, and one call per head cost more
 * than the activation. */
void
ns_heads_forward(float *out, const float *in, const struct ns_heads *h,
		 int B)
{
	int D = h->dim_total;
	for (int r = 0; r < B; r++) {
		const float *x = in + (size_t)r * D;
		float *y = out + (size_t)r * D;
		int off = 0;
		for (int k = 0; k < h->n;) {
			int d = h->dim[k];
			if (h->act[k] == NS_HEAD_SOFTMAX) {
				float mx = x[off];
				for (int i = 1; i < d; i++)
					mx = fmaxf(mx, x[off + i]);
				float s = 0;
				for (int i = 0; i < d; i++)
					s += y[off + i] = expf(x[off + i] - mx);
				for (int i = 0; i < d; i++)
					y[off + i] /= s;
				off += d;
				k++;
				continue;
			}
			int act = h->act[k], run = off;
			for (; k < h->n && h->act[k] == act; k++)
				off += h->dim[k];
			if (act == NS_HEAD_SIGMOID)
				ns_vsigmoid(y + run, x + run, (size_t)(off - run));
			else
				ns_vtanh(y + run, x + run, (size_t)(off - run));
		}
	}
}

void
ns_heads_backward(float *din, const float *dout, const float *out,
		  const struct ns_heads *h, int B)
{
	int D = h->dim_total;
	for (int r = 0; r < B; r++) {
		const float *dy = dout + (size_t)r * D;
		const float *y = out + (size_t)r * D;
		float *dx = din + (size_t)r * D;
		int off = 0;
		for (int k = 0; k < h->n; k++) {
			int d = h->dim[k];
			if (h->act[k] == NS_HEAD_SOFTMAX) {
				float dot = 0;
				for (int i = 0; i < d; i++)
					dot += dy[off + i] * y[off + i];
				for (int i = 0; i < d; i++)
					dx[off + i] =
						y[off + i] * (dy[off + i] - dot);
			} else if (h->act[k] == NS_HEAD_SIGMOID) {
				for (int i = 0; i < d; i++)
					dx[off + i] = dy[off + i] * y[off + i] *
						      (1 - y[off + i]);
			} else {
				for (int i = 0; i < d; i++)
					dx[off + i] =
						dy[off + i] *
						(1 - y[off + i] * y[off + i]);
			}
			off += d;
		}
	}
}

void
ns_heads_harden(float *hard, const float *out, const struct ns_heads *h,
		int B)
{
	int D = h->dim_total;
	memcpy(hard, out, (size_t)B * D * sizeof(float));
	for (int r = 0; r < B; r++) {
		float *y = hard + (size_t)r * D;
		int off = 0;
		for (int k = 0; k < h->n; k++) {
			int d = h->dim[k];
			if (h->act[k] == NS_HEAD_SOFTMAX) {
				int best = 0;
				for (int i = 1; i < d; i++)
					if (y[off + i] > y[off + best])
						best = i;
				for (int i = 0; i < d; i++)
					y[off + i] = i == best;
			}
			off += d;
		}
	}
}

size_t
ns_lstm_cache_floats(int T, int B, int In, int H)
{
	size_t t = (size_t)T, b = (size_t)B;
	return t * b * (size_t)(In + H) + t * b * 4 * (size_t)H +
	       2 * (t + 1) * b * (size_t)H + t * b * (size_t)H;
}

void
ns_lstm_cache_init(struct ns_lstm_cache *c, float *mem, int T, int B, int In,
		   int H)
{
	size_t t = (size_t)T, b = (size_t)B;
	c->T = T;
	c->B = B;
	c->In = In;
	c->H = H;
	c->In_static = 0;
	c->xh = mem;
	mem += t * b * (size_t)(In + H);
	c->gates = mem;
	mem += t * b * 4 * (size_t)H;
	c->c = mem;
	mem += (t + 1) * b * (size_t)H;
	c->h = mem;
	mem += (t + 1) * b * (size_t)H;
	c->tanh_c = mem;
}

/* One row's cell: gates g (4H, pre-activation, i f g o) activated in
 * place, cn = f cp + i g, tc = tanh(cn), hn = o tc. cn may be cp. */
static void
lstm_cell(float *g, const float *cp, float *cn, float *hn, float *tc, int H)
{
	ns_vsigmoid(g, g, 2 * (size_t)H);
	ns_vtanh(g + 2 * H, g + 2 * H, (size_t)H);
	ns_vsigmoid(g + 3 * H, g + 3 * H, (size_t)H);
	for (int j = 0; j < H; j++)
		cn[j] = g[H + j] * cp[j] + g[j] * g[2 * H + j];
	ns_vtanh(tc, cn, (size_t)H);
	for (int j = 0; j < H; j++)
		hn[j] = g[3 * H + j] * tc[j];
}

void
ns_lstm_forward(struct ns_lstm_cache *c, const float *x, const float *h0,
		const float *c0, const float *w, const float *b)
{
	int T = c->T, B = c->B, In = c->In, H = c->H, InH = In + H;
	int S = c->In_static;
	size_t bh = (size_t)B * H, bg = (size_t)B * 4 * H;
	memcpy(c->h, h0, bh * sizeof(float));
	memcpy(c->c, c0, bh * sizeof(float));
	/* the static inputs' share of the gates, b + x_s W_s, once: kept in
	 * the last step's gates until that step uses it in place */
	float *pre = T > 0 ? c->gates + (size_t)(T - 1) * bg : NULL;
	if (S > 0 && pre) {
		for (int r = 0; r < B; r++)
			memcpy(pre + (size_t)r * 4 * H, b,
			       4 * (size_t)H * sizeof(float));
		ns_gemm(0, 0, B, 4 * H, S, 1.0f, x, In, w, 4 * H, 1.0f, pre,
			4 * H);
	}
	for (int t = 0; t < T; t++) {
		float *xh = c->xh + (size_t)t * B * InH;
		const float *hp = c->h + (size_t)t * bh;
		for (int r = 0; r < B; r++) {
			memcpy(xh + (size_t)r * InH, x + ((size_t)t * B + r) * In,
			       (size_t)In * sizeof(float));
			memcpy(xh + (size_t)r * InH + In, hp + (size_t)r * H,
			       (size_t)H * sizeof(float));
		}
		float *g = c->gates + (size_t)t * bg;
		if (S > 0) {
			if (g != pre)
				memcpy(g, pre, bg * sizeof(float));
			ns_gemm(0, 0, B, 4 * H, InH - S, 1.0f, xh + S, InH,
				w + (size_t)S * 4 * H, 4 * H, 1.0f, g, 4 * H);
		} else {
			ns_linear_forward(g, xh, w, b, B, InH, 4 * H);
		}
		const float *cp = c->c + (size_t)t * bh;
		float *cn = c->c + (size_t)(t + 1) * bh;
		float *hn = c->h + (size_t)(t + 1) * bh;
		float *tc = c->tanh_c + (size_t)t * bh;
		for (int r = 0; r < B; r++) {
			size_t k0 = (size_t)r * H;
			lstm_cell(g + (size_t)r * 4 * H, cp + k0, cn + k0,
				  hn + k0, tc + k0, H);
		}
	}
}

void
ns_lstm_step(float *g, float *c, float *h, float *tc, int B, int H)
{
	for (int r = 0; r < B; r++) {
		size_t k0 = (size_t)r * H;
		lstm_cell(g + (size_t)r * 4 * H, c + k0, c + k0, h + k0, tc,
			  H);
	}
}

size_t
ns_lstm_scratch_floats(int B, int In, int H)
{
	return (size_t)B * (4 * (size_t)H + (size_t)(In + H) + 2 * (size_t)H);
}

void
ns_lstm_backward(float *dx, float *dw, float *db, float *dh0, float *dc0,
		 const float *dh, const struct ns_lstm_cache *c,
		 const float *w, float *scratch)
{
	int T = c->T, B = c->B, In = c->In, H = c->H, InH = In + H;
	size_t bh = (size_t)B * H;
	float *dg = scratch;			  /* (B,4H) */
	float *dxh = dg + (size_t)B * 4 * H;	  /* (B,In+H) */
	float *dhn = dxh + (size_t)B * InH;	  /* (B,H) carried dh */
	float *dcn = dhn + bh;			  /* (B,H) carried dc */
	memset(dhn, 0, 2 * bh * sizeof(float));
	for (int t = T - 1; t >= 0; t--) {
		const float *g = c->gates + (size_t)t * B * 4 * H;
		const float *cp = c->c + (size_t)t * bh;
		const float *tc = c->tanh_c + (size_t)t * bh;
		const float *dht = dh + (size_t)t * bh;
		for (int r = 0; r < B; r++) {
			const float *gr = g + (size_t)r * 4 * H;
			float *dgr = dg + (size_t)r * 4 * H;
			for (int j = 0; j < H; j++) {
				size_t k = (size_t)r * H + j;
				float ig = gr[j], fg = gr[H + j];
				float gg = gr[2 * H + j], og = gr[3 * H + j];
				float dht_k = dht[k] + dhn[k];
				float dc = dcn[k] +
					   dht_k * og * (1 - tc[k] * tc[k]);
				dgr[j] = dc * gg * ig * (1 - ig);
				dgr[H + j] = dc * cp[k] * fg * (1 - fg);
				dgr[2 * H + j] = dc * ig * (1 - gg * gg);
				dgr[3 * H + j] = dht_k * tc[k] * og * (1 - og);
				dcn[k] = dc * fg;
			}
		}
		const float *xh = c->xh + (size_t)t * B * InH;
		memset(dxh, 0, (size_t)B * InH * sizeof(float));
		ns_linear_backward(dxh, dw, db, dg, xh, w, B, InH, 4 * H);
		for (int r = 0; r < B; r++) {
			if (dx) {
				float *dxr = dx + ((size_t)t * B + r) * In;
				for (int i = 0; i < In; i++)
					dxr[i] += dxh[(size_t)r * InH + i];
			}
			memcpy(dhn + (size_t)r * H, dxh + (size_t)r * InH + In,
			       (size_t)H * sizeof(float));
		}
	}
	if (dh0)
		memcpy(dh0, dhn, bh * sizeof(float));
	if (dc0)
		memcpy(dc0, dcn, bh * sizeof(float));
}

void
ns_adam_update(float *p, const float *g, float *m, float *v, size_t n,
	       float lr, float beta1, float beta2, float eps, long t)
{
	float c1 = 1.0f - powf(beta1, (float)t);
	float c2 = 1.0f - powf(beta2, (float)t);
	float step = lr * sqrtf(c2) / c1;
	for (size_t i = 0; i < n; i++) {
		m[i] = beta1 * m[i] + (1 - beta1) * g[i];
		v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
		p[i] -= step * m[i] / (sqrtf(v[i]) + eps * sqrtf(c2));
	}
}
