/* Learner layers: sgemm against its naive twin, and central-difference
 * gradient checks for every layer, the LSTM through time and the WGAN-GP
 * penalty. A mismatch fails the test loudly with the coordinate. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "disc.h"
#include "netshare/encode.h"
#include "nn.h"

static struct ns_rng rng;

static float *
randn(size_t n, float sd)
{
	float *x = malloc(n * sizeof(float));
	assert_non_null(x);
	ns_rng_fill_normal(&rng, x, n, sd);
	return x;
}

static float *
zeros(size_t n)
{
	float *x = calloc(n, sizeof(float));
	assert_non_null(x);
	return x;
}

/* The scalar the checks differentiate: Σ y ⊙ R for a fixed R. */
typedef double (*loss_fn)(void *ctx);

/* Piecewise-linear losses (ReLU) record which linear piece the last
 * evaluation was on; a difference across a kink is skipped. */
static uint64_t last_piece;

/* Compare analytic gradient ga of loss w.r.t. x (n values) with central
 * differences on up to `samples` coordinates. */
static void
check_grad(const char *what, loss_fn f, void *ctx, float *x, const float *ga,
	   size_t n, size_t samples, double tol)
{
	const float h = 1e-2f;
	size_t step = n > samples ? n / samples : 1;
	double worst = 0;
	size_t skipped = 0, checked = 0;
	double scale = 0; /* gradients far below the largest are noise-level */
	for (size_t i = 0; i < n; i++)
		scale = fmax(scale, fabs(ga[i]));
	f(ctx);
	uint64_t piece = last_piece;
	for (size_t i = 0; i < n; i += step) {
		float keep = x[i];
		x[i] = keep + h;
		double up = f(ctx);
		uint64_t piece_up = last_piece;
		x[i] = keep - h;
		double down = f(ctx);
		uint64_t piece_down = last_piece;
		x[i] = keep;
		if (piece_up != piece || piece_down != piece) {
			skipped++;
			continue;
		}
		checked++;
		double num = (up - down) / (2.0 * h);
		double err = fabs(num - ga[i]) /
			     (fabs(num) + fabs(ga[i]) + 1e-2 * scale + 1e-6);
		if (err > worst)
			worst = err;
		if (err > tol)
			fail_msg("%s: gradient mismatch at %zu: analytic %.6g, "
				 "numeric %.6g (rel %.3g > %.3g)",
				 what, i, ga[i], num, err, tol);
	}
	print_message("%-28s max rel err %.2e over %zu coords (%zu at a "
		      "ReLU kink skipped)\n",
		      what, worst, checked, skipped);
	if (skipped * 5 > checked + skipped)
		fail_msg("%s: too many coordinates at kinks", what);
}

/* ns_gemm (OpenBLAS) equals the naive loops for every transpose. */
static void
test_gemm_matches_naive(void **state)
{
	(void)state;
	int M = 17, N = 23, K = 31;
	float *A = randn((size_t)M * K, 1), *B = randn((size_t)K * N, 1);
	float *C1 = randn((size_t)M * N, 1);
	float *C2 = malloc((size_t)M * N * sizeof(float));
	for (int ta = 0; ta < 2; ta++) {
		for (int tb = 0; tb < 2; tb++) {
			memcpy(C2, C1, (size_t)M * N * sizeof(float));
			float *C3 = malloc((size_t)M * N * sizeof(float));
			memcpy(C3, C1, (size_t)M * N * sizeof(float));
			int lda = ta ? M : K, ldb = tb ? K : N;
			ns_gemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.3f, C2,
				N);
			ns_gemm_naive(ta, tb, M, N, K, 0.7f, A, lda, B, ldb,
				      0.3f, C3, N);
			for (int i = 0; i < M * N; i++)
				assert_true(fabsf(C2[i] - C3[i]) <=
					    1e-5f + 1e-5f * fabsf(C3[i]));
			free(C3);
		}
	}
	free(A);
	free(B);
	free(C1);
	free(C2);
}

struct lin_ctx {
	int B, In, O;
	float *in, *w, *b, *R, *out;
};

static double
lin_loss(void *p)
{
	struct lin_ctx *c = p;
	ns_linear_forward(c->out, c->in, c->w, c->b, c->B, c->In, c->O);
	double s = 0;
	for (int i = 0; i < c->B * c->O; i++)
		s += (double)c->out[i] * c->R[i];
	return s;
}

/* Linear layer gradients w.r.t. input, weights and bias. */
static void
test_linear_grad(void **state)
{
	(void)state;
	struct lin_ctx c = {4, 6, 5};
	c.in = randn(24, 1);
	c.w = randn(30, 1);
	c.b = randn(5, 1);
	c.R = randn(20, 1);
	c.out = zeros(20);
	float *din = zeros(24), *dw = zeros(30), *db = zeros(5);
	ns_linear_backward(din, dw, db, c.R, c.in, c.w, c.B, c.In, c.O);
	check_grad("linear dx", lin_loss, &c, c.in, din, 24, 24, 1e-3);
	check_grad("linear dW", lin_loss, &c, c.w, dw, 30, 30, 1e-3);
	check_grad("linear db", lin_loss, &c, c.b, db, 5, 5, 1e-3);
	free(c.in), free(c.w), free(c.b), free(c.R), free(c.out);
	free(din), free(dw), free(db);
}

struct bn_ctx {
	int B, C;
	float *in, *gamma, *beta, *R, *out, *xhat, *rstd;
};

static double
bn_loss(void *p)
{
	struct bn_ctx *c = p;
	struct ns_bn_cache cache = {c->xhat, c->rstd};
	ns_bn_forward_train(c->out, &cache, c->in, c->gamma, c->beta, NULL,
			    NULL, 0.9f, c->B, c->C);
	double s = 0;
	for (int i = 0; i < c->B * c->C; i++)
		s += (double)c->out[i] * c->R[i];
	return s;
}

/* BatchNorm (training statistics) gradients; eval mode uses the running
 * statistics the training pass updated. */
static void
test_batchnorm_grad(void **state)
{
	(void)state;
	struct bn_ctx c = {8, 3};
	c.in = randn(24, 2);
	c.gamma = randn(3, 1);
	c.beta = randn(3, 1);
	c.R = randn(24, 1);
	c.out = zeros(24);
	c.xhat = zeros(24);
	c.rstd = zeros(3);
	bn_loss(&c);
	float *din = zeros(24), *dg = zeros(3), *dbeta = zeros(3);
	struct ns_bn_cache cache = {c.xhat, c.rstd};
	ns_bn_backward(din, dg, dbeta, c.R, &cache, c.gamma, c.B, c.C);
	check_grad("batchnorm dx", bn_loss, &c, c.in, din, 24, 24, 5e-3);
	check_grad("batchnorm dgamma", bn_loss, &c, c.gamma, dg, 3, 3, 1e-3);
	check_grad("batchnorm dbeta", bn_loss, &c, c.beta, dbeta, 3, 3, 1e-3);

	float rm[3] = {0}, rv[3] = {1, 1, 1};
	for (int k = 0; k < 200; k++)
		ns_bn_forward_train(c.out, &cache, c.in, c.gamma, c.beta, rm,
				    rv, 0.9f, c.B, c.C);
	float *ev = zeros(24);
	ns_bn_forward_eval(ev, c.in, c.gamma, c.beta, rm, rv, c.B, c.C);
	for (int i = 0; i < 24; i++)
		assert_true(fabsf(ev[i] - c.out[i]) < 1e-3f);
	free(ev);
	free(c.in), free(c.gamma), free(c.beta), free(c.R), free(c.out);
	free(c.xhat), free(c.rstd), free(din), free(dg), free(dbeta);
}

struct head_ctx {
	struct ns_heads h;
	int B;
	float *in, *R, *out;
};

static double
head_loss(void *p)
{
	struct head_ctx *c = p;
	ns_heads_forward(c->out, c->in, &c->h, c->B);
	double s = 0;
	for (int i = 0; i < c->B * c->h.dim_total; i++)
		s += (double)c->out[i] * c->R[i];
	return s;
}

/* Softmax, sigmoid and tanh heads: gradients, and hardening to
 * one-hot argmax. */
static void
test_heads_grad_and_harden(void **state)
{
	(void)state;
	static const uint8_t act[] = {NS_HEAD_SOFTMAX, NS_HEAD_SIGMOID,
				      NS_HEAD_TANH, NS_HEAD_SOFTMAX};
	static const uint16_t dim[] = {3, 1, 4, 2};
	struct head_ctx c = {{4, 10, act, dim}, 3};
	c.in = randn(30, 1.5f);
	c.R = randn(30, 1);
	c.out = zeros(30);
	head_loss(&c);
	float *din = zeros(30);
	ns_heads_backward(din, c.R, c.out, &c.h, c.B);
	check_grad("heads dx", head_loss, &c, c.in, din, 30, 30, 2e-3);
	for (int r = 0; r < 3; r++) {
		float s = c.out[r * 10] + c.out[r * 10 + 1] + c.out[r * 10 + 2];
		assert_true(fabsf(s - 1) < 1e-5f);
	}
	float *hard = zeros(30);
	ns_heads_harden(hard, c.out, &c.h, c.B);
	for (int r = 0; r < 3; r++) {
		const float *y = c.out + r * 10, *hy = hard + r * 10;
		int best = y[0] >= y[1] && y[0] >= y[2] ? 0 : y[1] >= y[2] ? 1 : 2;
		for (int i = 0; i < 3; i++)
			assert_true(hy[i] == (i == best ? 1.0f : 0.0f));
		assert_true(hy[3] == y[3]); /* sigmoid kept */
		assert_true(hy[8] + hy[9] == 1.0f);
	}
	free(c.in), free(c.R), free(c.out), free(din), free(hard);
}

struct lstm_ctx {
	int T, B, In, H;
	float *x, *h0, *c0, *w, *b, *R, *mem;
	struct ns_lstm_cache cache;
};

static double
lstm_loss(void *p)
{
	struct lstm_ctx *c = p;
	ns_lstm_forward(&c->cache, c->x, c->h0, c->c0, c->w, c->b);
	double s = 0;
	size_t bh = (size_t)c->B * c->H;
	for (size_t i = 0; i < (size_t)c->T * bh; i++)
		s += (double)c->cache.h[bh + i] * c->R[i];
	return s;
}

/* LSTM through time: gradients w.r.t. inputs at every step, weights,
 * biases and the initial state. */
static void
test_lstm_grad(void **state)
{
	(void)state;
	struct lstm_ctx c = {5, 3, 4, 6};
	size_t IH = (size_t)(c.In + c.H);
	c.x = randn((size_t)c.T * c.B * c.In, 1);
	c.h0 = randn((size_t)c.B * c.H, 1);
	c.c0 = randn((size_t)c.B * c.H, 1);
	c.w = randn(IH * 4 * c.H, 0.5f);
	c.b = randn(4 * (size_t)c.H, 0.5f);
	c.R = randn((size_t)c.T * c.B * c.H, 1);
	c.mem = zeros(ns_lstm_cache_floats(c.T, c.B, c.In, c.H));
	ns_lstm_cache_init(&c.cache, c.mem, c.T, c.B, c.In, c.H);
	lstm_loss(&c);
	float *dx = zeros((size_t)c.T * c.B * c.In);
	float *dw = zeros(IH * 4 * c.H), *db = zeros(4 * (size_t)c.H);
	float *dh0 = zeros((size_t)c.B * c.H), *dc0 = zeros((size_t)c.B * c.H);
	float *scratch = zeros(ns_lstm_scratch_floats(c.B, c.In, c.H));
	ns_lstm_backward(dx, dw, db, dh0, dc0, c.R, &c.cache, c.w, scratch);
	check_grad("lstm dx (all steps)", lstm_loss, &c, c.x, dx,
		   (size_t)c.T * c.B * c.In, 60, 5e-3);
	check_grad("lstm dW", lstm_loss, &c, c.w, dw, IH * 4 * c.H, 80, 5e-3);
	check_grad("lstm db", lstm_loss, &c, c.b, db, 4 * (size_t)c.H, 24,
		   5e-3);
	check_grad("lstm dh0", lstm_loss, &c, c.h0, dh0, (size_t)c.B * c.H,
		   18, 5e-3);
	check_grad("lstm dc0", lstm_loss, &c, c.c0, dc0, (size_t)c.B * c.H,
		   18, 5e-3);
	/* inputs equal at every step: their product taken once gives the
	 * same states (to rounding) */
	int S = 3;
	for (int t = 1; t < c.T; t++)
		for (int r = 0; r < c.B; r++)
			memcpy(c.x + ((size_t)t * c.B + r) * c.In,
			       c.x + (size_t)r * c.In, (size_t)S * sizeof(float));
	lstm_loss(&c);
	size_t nh = (size_t)(c.T + 1) * c.B * c.H;
	float *ref = malloc(nh * sizeof(float));
	assert_non_null(ref);
	memcpy(ref, c.cache.h, nh * sizeof(float));
	c.cache.In_static = S;
	lstm_loss(&c);
	for (size_t i = 0; i < nh; i++)
		if (fabsf(c.cache.h[i] - ref[i]) > 1e-5f)
			fail_msg("lstm static inputs: h[%zu] %.9g, %.9g without",
				 i, c.cache.h[i], ref[i]);
	/* and they are read at step 0 only: a change at a later step is
	 * not seen */
	memcpy(ref, c.cache.h, nh * sizeof(float));
	c.x[((size_t)1 * c.B) * c.In] += 1.0f;
	lstm_loss(&c);
	assert_memory_equal(ref, c.cache.h, nh * sizeof(float));
	free(ref);
	free(c.x), free(c.h0), free(c.c0), free(c.w), free(c.b), free(c.R);
	free(c.mem), free(dx), free(dw), free(db), free(dh0), free(dc0);
	free(scratch);
}

struct disc_ctx {
	struct ns_disc d;
	int rows;
	float *p, *x, *R;
	float lambda;
	int penalty; /* the loss is the penalty instead of Σ R·D */
};

static double
disc_loss(void *ctx)
{
	struct disc_ctx *c = ctx;
	ns_disc_forward(&c->d, c->p, c->x, c->rows);
	last_piece = 1469598103934665603ull;
	for (size_t k = 0; k < (size_t)c->d.layers * c->d.max_rows * c->d.hid;
	     k++)
		last_piece = (last_piece ^ (c->d.a[k] > 0)) * 1099511628211ull;
	if (!c->penalty) {
		double s = 0;
		for (int r = 0; r < c->rows; r++)
			s += (double)c->d.out[r] * c->R[r];
		return s;
	}
	float *ones = malloc((size_t)c->rows * sizeof(float));
	for (int r = 0; r < c->rows; r++)
		ones[r] = 1;
	float *scratch_g = zeros(c->d.n_params);
	ns_disc_backward(&c->d, c->p, scratch_g, ones, c->x, c->rows, 0, NULL);
	float pen = ns_disc_penalty(&c->d, c->p, scratch_g, 0, c->rows,
				    c->lambda);
	free(ones);
	free(scratch_g);
	return pen;
}

/* Discriminator MLP: parameter and input gradients by backprop. */
static void
test_disc_grad(void **state)
{
	(void)state;
	struct disc_ctx c = {.rows = 5, .lambda = 10};
	assert_int_equal(ns_disc_init(&c.d, 7, 6, 3, 16), 0);
	c.p = zeros(c.d.n_params);
	ns_disc_init_params(&c.d, c.p, &rng, 0.7f);
	c.x = randn(35, 1);
	c.R = randn(5, 1);
	disc_loss(&c);
	float *g = zeros(c.d.n_params), *dx = zeros(35);
	ns_disc_backward(&c.d, c.p, g, c.R, c.x, c.rows, c.rows, dx);
	check_grad("disc dparams", disc_loss, &c, c.p, g, c.d.n_params, 120,
		   5e-3);
	check_grad("disc dx", disc_loss, &c, c.x, dx, 35, 35, 5e-3);
	free(g), free(dx), free(c.p), free(c.x), free(c.R);
	ns_disc_free(&c.d);
}

/* The WGAN-GP penalty's analytic parameter gradient (double backprop
 * through the ReLU masks) matches central differences. */
static void
test_penalty_grad(void **state)
{
	(void)state;
	struct disc_ctx c = {.rows = 6, .lambda = 10, .penalty = 1};
	assert_int_equal(ns_disc_init(&c.d, 9, 8, 3, 16), 0);
	c.p = zeros(c.d.n_params);
	ns_disc_init_params(&c.d, c.p, &rng, 0.6f);
	c.x = randn(54, 1);
	float *g = zeros(c.d.n_params);
	float *ones = malloc(6 * sizeof(float));
	for (int r = 0; r < 6; r++)
		ones[r] = 1;
	ns_disc_forward(&c.d, c.p, c.x, c.rows);
	ns_disc_backward(&c.d, c.p, g, ones, c.x, c.rows, 0, NULL);
	memset(g, 0, c.d.n_params * sizeof(float));
	float pen = ns_disc_penalty(&c.d, c.p, g, 0, c.rows, c.lambda);
	assert_true(pen > 0);
	/* finite differences over weights only: the penalty is piecewise
	 * smooth, use a small step */
	check_grad("gradient penalty dparams", disc_loss, &c, c.p, g,
		   c.d.n_params, 150, 2e-2);
	free(ones), free(g), free(c.p), free(c.x);
	ns_disc_free(&c.d);
}

/* Adam's first step moves each parameter by lr against its gradient. */
static void
test_adam_first_step(void **state)
{
	(void)state;
	float p[3] = {1, 2, 3}, g[3] = {0.5f, -2, 0}, m[3] = {0}, v[3] = {0};
	ns_adam_update(p, g, m, v, 3, 0.1f, 0.5f, 0.999f, 1e-8f, 1);
	assert_true(fabsf(p[0] - 0.9f) < 1e-5f);
	assert_true(fabsf(p[1] - 2.1f) < 1e-5f);
	assert_true(fabsf(p[2] - 3.0f) < 1e-6f);
}

/* The same seed gives the same random stream. */
static void
test_rng_deterministic(void **state)
{
	(void)state;
	struct ns_rng a, b;
	ns_rng_seed(&a, 42);
	ns_rng_seed(&b, 42);
	for (int i = 0; i < 100; i++)
		assert_true(ns_rng_normal(&a) == ns_rng_normal(&b));
	double s = 0, s2 = 0;
	for (int i = 0; i < 20000; i++) {
		float z = ns_rng_normal(&a);
		s += z;
		s2 += (double)z * z;
	}
	assert_true(fabs(s / 20000) < 0.05);
	assert_true(fabs(s2 / 20000 - 1) < 0.05);
}

/* The vectorised activations against libm over [-20, 20] in steps that
 * hit every branch (the series below 1/4, the clamps), signed zeros and
 * odd lengths (the tail path). Errors are absolute near 0, relative
 * elsewhere, and a failure names the input. */
static void
test_vector_activations(void **state)
{
	(void)state;
	enum { N = 40001 };
	float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
	assert_non_null(x);
	assert_non_null(y);
	for (int i = 0; i < N; i++)
		x[i] = -20.0f + 40.0f * (float)i / (N - 1);
	x[N / 2] = 0.0f;
	x[N / 2 + 1] = -0.0f;
	x[N / 2 + 2] = 1e-30f;
	x[N / 2 + 3] = -3e-8f;
	x[N / 2 + 4] = 100.0f; /* clamped inputs */
	x[N / 2 + 5] = -100.0f;
	double worst_t = 0, worst_s = 0;
	ns_vtanh(y, x, N); /* N is odd: the tail too */
	for (int i = 0; i < N; i++) {
		double ref = tanh((double)x[i]);
		double err = fabs(y[i] - ref) / fmax(fabs(ref), 1e-6);
		if (err > worst_t)
			worst_t = err;
		if (err > 4e-7)
			fail_msg("tanh(%.9g) = %.9g, libm %.9g", x[i], y[i],
				 ref);
		if (signbit(y[i]) != signbit(x[i]))
			fail_msg("tanh(%.9g) has the wrong sign", x[i]);
	}
	ns_vsigmoid(y, x, N);
	for (int i = 0; i < N; i++) {
		double ref = 1.0 / (1.0 + exp(-(double)x[i]));
		double err = fabs(y[i] - ref) / fmax(ref, 1e-30);
		if (err > worst_s)
			worst_s = err;
		if (err > 4e-7 && fabs(y[i] - ref) > 1e-37)
			fail_msg("sigmoid(%.9g) = %.9g, exact %.9g", x[i], y[i],
				 ref);
	}
	/* in place, short lengths */
	for (size_t n = 1; n <= 9; n++) {
		float a[9], b[9];
		for (size_t k = 0; k < n; k++)
			a[k] = b[k] = 0.3f * (float)k - 1.1f;
		ns_vtanh(a, a, n);
		for (size_t k = 0; k < n; k++)
			assert_true(fabs(a[k] - tanh((double)b[k])) < 4e-7);
	}
	printf("vector activations: worst relative error tanh %.2g, "
	       "sigmoid %.2g\n",
	       worst_t, worst_s);
	free(x);
	free(y);
}

int
main(void)
{
	ns_rng_seed(&rng, 1234);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gemm_matches_naive),
		cmocka_unit_test(test_linear_grad),
		cmocka_unit_test(test_batchnorm_grad),
		cmocka_unit_test(test_heads_grad_and_harden),
		cmocka_unit_test(test_lstm_grad),
		cmocka_unit_test(test_disc_grad),
		cmocka_unit_test(test_penalty_grad),
		cmocka_unit_test(test_adam_first_step),
		cmocka_unit_test(test_rng_deterministic),
		cmocka_unit_test(test_vector_activations),
	};
	return cmocka_run_group_tests_name("nn", tests, NULL, NULL);
}
