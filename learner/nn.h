/* Neural-network layers for the learner, llm.c style: forward/backward
 * pairs with a fixed argument order, row-major (B rows = samples),
 * backward accumulates into parameter gradients with +=. Every matrix
 * product goes through ns_gemm (cblas_sgemm) with a naive twin. */
#ifndef NETSHARE_NN_H
#define NETSHARE_NN_H

#include <stddef.h>
#include <stdint.h>

/* C (M,N) = alpha * op(A) op(B) + beta * C, row-major; op(X) = X or Xᵀ
 * (ta/tb non-zero). */
void ns_gemm(int ta, int tb, int M, int N, int K, float alpha,
	     const float *A, int lda, const float *B, int ldb, float beta,
	     float *C, int ldc);
void ns_gemm_naive(int ta, int tb, int M, int N, int K, float alpha,
		   const float *A, int lda, const float *B, int ldb,
		   float beta, float *C, int ldc);
/* Route ns_gemm to the naive loops (tests); returns the old setting. */
int ns_gemm_set_naive(int naive);
/* Multiply-adds done by ns_gemm since the last reset (benchmarks). */
uint64_t ns_gemm_flops(void);
void ns_gemm_reset_flops(void);

/* Deterministic PRNG (splitmix64 seeded xoshiro-like). */
struct ns_rng {
	uint64_t s;
	float spare;	/* second value of the last normal pair */
	int has_spare;
};
void ns_rng_seed(struct ns_rng *r, uint64_t seed);
uint64_t ns_rng_u64(struct ns_rng *r);
float ns_rng_float(struct ns_rng *r); /* uniform in [0,1) */
float ns_rng_normal(struct ns_rng *r);	/* N(0,1) */
void ns_rng_fill_normal(struct ns_rng *r, float *x, size_t n, float sd);
/* x[i] += sd · N(0,1) */
void ns_rng_add_normal(struct ns_rng *r, float *x, size_t n, float sd);

/* Linear: out (B,O) = in (B,In) · W (In,O) + b (O). */
void ns_linear_forward(float *out, const float *in, const float *w,
		       const float *b, int B, int In, int O);
/* din (B,In) += dout·Wᵀ (skipped if din NULL); dw (In,O) += inᵀ·dout;
 * db (O) += Σ_rows dout (skipped if NULL). */
void ns_linear_backward(float *din, float *dw, float *db, const float *dout,
			const float *in, const float *w, int B, int In, int O);

/* ReLU in place is not used: out and in are separate so backward can
 * read the pre-activation. */
void ns_relu_forward(float *out, const float *in, size_t n);
void ns_relu_backward(float *din, const float *dout, const float *in,
		      size_t n);

/* BatchNorm over the batch, per channel (C). Training uses batch
 * statistics and updates the running ones (decay as TF: running =
 * decay·running + (1 − decay)·batch); eval uses the running ones. */
struct ns_bn_cache {
	float *xhat;	/* (B,C) */
	float *rstd;	/* (C) */
};
void ns_bn_forward_train(float *out, struct ns_bn_cache *cache,
			 const float *in, const float *gamma,
			 const float *beta, float *run_mean, float *run_var,
			 float decay, int B, int C);
void ns_bn_forward_eval(float *out, const float *in, const float *gamma,
			const float *beta, const float *run_mean,
			const float *run_var, int B, int C);
void ns_bn_backward(float *din, float *dgamma, float *dbeta,
		    const float *dout, const struct ns_bn_cache *cache,
		    const float *gamma, int B, int C);
#define NS_BN_EPS 1e-5f

/* y = sigmoid(x), y = tanh(x) over n floats (y may be x); vectorised,
 * within a few float ulps of libm's. */
void ns_vsigmoid(float *y, const float *x, size_t n);
void ns_vtanh(float *y, const float *x, size_t n);

/* Output heads over a row of consecutive slices: act[k], dim[k]. */
struct ns_heads {
	int n;
	int dim_total;
	const uint8_t *act;   /* enum ns_head_act per head */
	const uint16_t *dim;  /* width per head */
};
/* out (B,D) = activation(in) per slice. */
void ns_heads_forward(float *out, const float *in,
		      const struct ns_heads *h, int B);
/* din (B,D) = dout through each activation (overwrites). */
void ns_heads_backward(float *din, const float *dout, const float *out,
		       const struct ns_heads *h, int B);
/* Hardened copy: softmax slices become one-hot of their argmax. */
void ns_heads_harden(float *hard, const float *out, const struct ns_heads *h,
		     int B);

/* One-layer LSTM over T steps. Gates in order i, f, g, o.
 * W (In+H, 4H), b (4H). */
struct ns_lstm_cache {
	int T, B, In, H;
	int In_static;	/* the first In_static inputs are the same at every
			 * step: their product with W is taken once (0 after
			 * ns_lstm_cache_init) */
	float *xh;	/* (T,B,In+H) concatenated input and previous h */
	float *gates;	/* (T,B,4H) after activation */
	float *c;	/* (T+1,B,H) cell states, c[0] initial */
	float *h;	/* (T+1,B,H) hidden states, h[0] initial */
	float *tanh_c;	/* (T,B,H) */
};
size_t ns_lstm_cache_floats(int T, int B, int In, int H);
/* Carve the cache out of mem (ns_lstm_cache_floats floats). */
void ns_lstm_cache_init(struct ns_lstm_cache *c, float *mem, int T, int B,
			int In, int H);
/* x (T,B,In); h0,c0 (B,H) copied into the cache; outputs h[1..T]. */
void ns_lstm_forward(struct ns_lstm_cache *c, const float *x,
		     const float *h0, const float *c0, const float *w,
		     const float *b);
/* One step with no cache (generation): g (B,4H) holds the gates before
 * activation (x W + b, added by the caller) and is overwritten; c, h
 * (B,H) are updated in place; tc is H floats of scratch. */
void ns_lstm_step(float *g, float *c, float *h, float *tc, int B, int H);
/* dh (T,B,H): gradient w.r.t. h[1..T]. dx (T,B,In) += (skipped if NULL);
 * dw, db +=. dh0/dc0 (B,H) written if non-NULL. Uses scratch of
 * 4·B·H + B·(In+H) + 2·B·H floats. */
void ns_lstm_backward(float *dx, float *dw, float *db, float *dh0,
		      float *dc0, const float *dh,
		      const struct ns_lstm_cache *c, const float *w,
		      float *scratch);
size_t ns_lstm_scratch_floats(int B, int In, int H);

/* Adam with bias correction; m, v zero-initialised by the caller. */
void ns_adam_update(float *p, const float *g, float *m, float *v, size_t n,
		    float lr, float beta1, float beta2, float eps, long t);

#endif
