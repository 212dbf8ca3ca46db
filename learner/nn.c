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

void
ns_bn_forward_train(float *out, struct ns_bn_cache *cache, const float *in,
		    const float *gamma, const float *beta, float *run_mean,
		    float *run_var, float decay, int B, int C)
{
	for (int c = 0; c < C; c++) {
		double mean = 0, var = 0;
		for (int r = 0; r < B; r++)
			mean += in[(size_t)r * C + c];
		mean /= B;
		for (int r = 0; r < B; r++) {
			double d = in[(size_t)r * C + c] - mean;
			var += d * d;
		}
		var /= B;
		float rstd = (float)(1.0 / sqrt(var + NS_BN_EPS));
		cache->rstd[c] = rstd;
		for (int r = 0; r < B; r++) {
			size_t k = (size_t)r * C + c;
			float xh = (float)(in[k] - mean) * rstd;
			cache->xhat[k] = xh;
			out[k] = gamma[c] * xh + beta[c];
		}
		if (run_mean) {
			run_mean[c] = decay * run_mean[c] +
				      (1 - decay) * (float)mean;
			run_var[c] = decay * run_var[c] +
				     (1 - decay) * (float)var;
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
	for (int c = 0; c < C; c++) {
		double sum_dy = 0, sum_dy_xh = 0;
		for (int r = 0; r < B; r++) {
			size_t k = (size_t)r * C + c;
			sum_dy += dout[k];
			sum_dy_xh += (double)dout[k] * cache->xhat[k];
		}
		dgamma[c] += (float)sum_dy_xh;
		dbeta[c] += (float)sum_dy;
		float g = gamma[c] * cache->rstd[c] / (float)B;
		for (int r = 0; r < B; r++) {
			size_t k = (size_t)r * C + c;
			din[k] += g * (float)(B * dout[k] - sum_dy -
					      cache->xhat[k] * sum_dy_xh);
		}
	}
}

static float
sigmoidf(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

void
ns_heads_forward(float *out, const float *in, const struct ns_heads *h,
		 int B)
{
	int D = h->dim_total;
	for (int r = 0; r < B; r++) {
		const float *x = in + (size_t)r * D;
		float *y = out + (size_t)r * D;
		int off = 0;
		for (int k = 0; k < h->n; k++) {
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
			} else if (h->act[k] == NS_HEAD_SIGMOID) {
				for (int i = 0; i < d; i++)
					y[off + i] = sigmoidf(x[off + i]);
			} else {
				for (int i = 0; i < d; i++)
					y[off + i] = tanhf(x[off + i]);
			}
			off += d;
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

void
ns_lstm_forward(struct ns_lstm_cache *c, const float *x, const float *h0,
		const float *c0, const float *w, const float *b)
{
	int T = c->T, B = c->B, In = c->In, H = c->H, InH = In + H;
	size_t bh = (size_t)B * H;
	memcpy(c->h, h0, bh * sizeof(float));
	memcpy(c->c, c0, bh * sizeof(float));
	for (int t = 0; t < T; t++) {
		float *xh = c->xh + (size_t)t * B * InH;
		const float *hp = c->h + (size_t)t * bh;
		for (int r = 0; r < B; r++) {
			memcpy(xh + (size_t)r * InH, x + ((size_t)t * B + r) * In,
			       (size_t)In * sizeof(float));
			memcpy(xh + (size_t)r * InH + In, hp + (size_t)r * H,
			       (size_t)H * sizeof(float));
		}
		float *g = c->gates + (size_t)t * B * 4 * H;
		ns_linear_forward(g, xh, w, b, B, InH, 4 * H);
		const float *cp = c->c + (size_t)t * bh;
		float *cn = c->c + (size_t)(t + 1) * bh;
		float *hn = c->h + (size_t)(t + 1) * bh;
		float *tc = c->tanh_c + (size_t)t * bh;
		for (int r = 0; r < B; r++) {
			float *gr = g + (size_t)r * 4 * H;
			for (int j = 0; j < H; j++) {
				float ig = sigmoidf(gr[j]);
				float fg = sigmoidf(gr[H + j]);
				float gg = tanhf(gr[2 * H + j]);
				float og = sigmoidf(gr[3 * H + j]);
				gr[j] = ig;
				gr[H + j] = fg;
				gr[2 * H + j] = gg;
				gr[3 * H + j] = og;
				size_t k = (size_t)r * H + j;
				cn[k] = fg * cp[k] + ig * gg;
				tc[k] = tanhf(cn[k]);
				hn[k] = og * tc[k];
			}
		}
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
