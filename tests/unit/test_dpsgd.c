/* DP-SGD on the discriminators: per-example gradient norms from Gram
 * matrices against per-example gradients formed one by one (and against
 * the independent plain backward + penalty), every example clipped to C,
 * a DP update with sigma = 0 and no clip equal to a plain one bit for
 * bit, Poisson sampling, and whole DP training steps. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "dg.h"
#include "disc.h"
#include "nn.h"

enum { IN = 9, HID = 7, LAYERS = 3, N = 6 };

struct disc_fixture {
	struct ns_disc d;
	float *p, *x; /* x: (3N, IN) fake, real, interpolates */
};

static void
disc_setup(struct disc_fixture *f)
{
	assert_int_equal(ns_disc_init(&f->d, IN, HID, LAYERS, 3 * N), 0);
	f->p = calloc(f->d.n_params, sizeof(float));
	f->x = calloc(3 * N * IN, sizeof(float));
	struct ns_rng rng;
	ns_rng_seed(&rng, 7);
	ns_disc_init_params(&f->d, f->p, &rng, 0.6f);
	for (size_t k = 0; k < f->d.n_params; k++) /* non-zero biases too */
		f->p[k] += 0.05f * ns_rng_normal(&rng);
	ns_rng_fill_normal(&rng, f->x, 2 * N * IN, 1);
	for (int i = 0; i < N; i++) {
		float a = ns_rng_float(&rng);
		for (int k = 0; k < IN; k++)
			f->x[(2 * N + i) * IN + k] =
				a * f->x[(N + i) * IN + k] +
				(1 - a) * f->x[i * IN + k];
	}
}

static void
disc_teardown(struct disc_fixture *f)
{
	ns_disc_free(&f->d);
	free(f->p);
	free(f->x);
}

/* Example i's gradient alone: rows (fake_i, real_i, interp_i). */
static void
example_grad(struct disc_fixture *f, int i, float *g)
{
	float x1[3 * IN];
	for (int r = 0; r < 3; r++)
		memcpy(x1 + r * IN, f->x + ((size_t)r * N + i) * IN,
		       IN * sizeof(float));
	memset(g, 0, f->d.n_params * sizeof(float));
	ns_disc_example_grads(&f->d, f->p, g, x1, 1, 10.0f, 0, NULL);
}

static double
norm(const float *g, size_t n)
{
	double s = 0;
	for (size_t k = 0; k < n; k++)
		s += (double)g[k] * g[k];
	return sqrt(s);
}

/* The per-example path with one row agrees with the plain backward and
 * the penalty's own (independently tested) gradient. */
static void
test_example_grad_matches_plain(void **state)
{
	(void)state;
	struct disc_fixture f;
	disc_setup(&f);
	size_t P = f.d.n_params;
	float *g = calloc(P, sizeof(float)), *h = calloc(P, sizeof(float));
	for (int i = 0; i < N; i++) {
		example_grad(&f, i, g);
		float x1[3 * IN], dout[3] = {1, -1, 1};
		for (int r = 0; r < 3; r++)
			memcpy(x1 + r * IN, f.x + ((size_t)r * N + i) * IN,
			       IN * sizeof(float));
		memset(h, 0, P * sizeof(float));
		ns_disc_forward(&f.d, f.p, x1, 3);
		ns_disc_backward(&f.d, f.p, h, dout, x1, 3, 2, NULL);
		ns_disc_penalty(&f.d, f.p, h, 2, 1, 10.0f);
		double scale = norm(h, P);
		assert_true(scale > 1e-3);
		for (size_t k = 0; k < P; k++)
			assert_true(fabs(g[k] - h[k]) <= 1e-5 * scale);
	}
	free(g);
	free(h);
	disc_teardown(&f);
}

/* Norms from Gram matrices equal the norms of the gradients formed one
 * by one; the clipped sum is sum_i min(1, C/|g_i|) g_i, each term within
 * C; with no clip the sum is the plain sum. */
static void
test_every_example_clipped(void **state)
{
	(void)state;
	struct disc_fixture f;
	disc_setup(&f);
	size_t P = f.d.n_params;
	float *gi = calloc((size_t)N * P, sizeof(float));
	double n_i[N], lo = INFINITY, hi = 0;
	for (int i = 0; i < N; i++) {
		example_grad(&f, i, gi + (size_t)i * P);
		n_i[i] = norm(gi + (size_t)i * P, P);
		lo = fmin(lo, n_i[i]);
		hi = fmax(hi, n_i[i]);
	}
	float norms[N];
	float *sum = calloc(P, sizeof(float));
	ns_disc_example_grads(&f.d, f.p, sum, f.x, N, 10.0f, 0, norms);
	for (int i = 0; i < N; i++)
		assert_true(fabs(norms[i] - n_i[i]) <= 1e-4 * n_i[i]);
	for (size_t k = 0; k < P; k++) {
		double want = 0;
		for (int i = 0; i < N; i++)
			want += gi[(size_t)i * P + k];
		assert_true(fabs(sum[k] - want) <= 1e-4 * hi);
	}

	/* a clip between the smallest and the largest norm, and one below
	 * all of them */
	float clips[2] = {(float)(0.5 * (lo + hi)), (float)(0.25 * lo)};
	for (int c = 0; c < 2; c++) {
		float C = clips[c];
		memset(sum, 0, P * sizeof(float));
		ns_disc_example_grads(&f.d, f.p, sum, f.x, N, 10.0f, C, norms);
		double want_norm2 = 0;
		int clipped = 0;
		for (size_t k = 0; k < P; k++) {
			double want = 0;
			for (int i = 0; i < N; i++) {
				double ci = fmin(1.0, C / n_i[i]);
				want += ci * gi[(size_t)i * P + k];
			}
			assert_true(fabs(sum[k] - want) <= 1e-4 * C * N);
			want_norm2 += want * want;
		}
		for (int i = 0; i < N; i++) {
			double ci = fmin(1.0, C / n_i[i]);
			/* the clipped example's own norm is within C */
			assert_true(ci * n_i[i] <= C * (1 + 1e-6));
			clipped += n_i[i] > C;
		}
		assert_true(clipped >= (c == 0 ? 1 : N));
		/* the sum of N clipped terms is within N C */
		assert_true(sqrt(want_norm2) <= N * C * (1 + 1e-5));
		assert_true(norm(sum, P) <= N * C * (1 + 1e-4));
	}
	free(sum);
	free(gi);
	disc_teardown(&f);
}

/* --- the model ----------------------------------------------------------- */

static void
make_flows(struct ns_flow_trace *t, int n)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < n; i++) {
		struct ns_flow_record r;
		memset(&r, 0, sizeof(r));
		ns_addr_from_v4(r.src_addr, 0x0A000001u + (uint32_t)(i % 13));
		ns_addr_from_v4(r.dst_addr, 0xC0A80001u + (uint32_t)(i % 4));
		r.ip_version = 4;
		r.src_port = (uint16_t)(40000 + i % 17);
		r.dst_port = i % 3 ? 443 : 53;
		r.proto = i % 3 ? 6 : 17;
		r.first_ns = 100000000ull * (uint64_t)(i / 3);
		r.last_ns = r.first_ns + 1000000ull * (uint64_t)(i % 7);
		r.packets = 1 + (uint64_t)(i % 9);
		r.bytes = r.packets * (60 + (uint64_t)(i % 4) * 100);
		assert_int_equal(ns_flow_trace_push(t, &r), 0);
	}
}

struct model_fixture {
	struct ns_flow_trace flows;
	struct ns_learner_config cfg;
	struct ns_encoder enc;
	struct ns_dataset ds;
};

static int
model_setup(void **state)
{
	struct model_fixture *fx = calloc(1, sizeof(*fx));
	make_flows(&fx->flows, 300);
	ns_learner_config_default(&fx->cfg);
	fx->cfg.enc.max_flow_len = 6;
	fx->cfg.model.batch = 10;
	fx->cfg.model.gen_hidden = 16;
	fx->cfg.model.disc_hidden = 16;
	fx->cfg.model.lstm_units = 8;
	fx->cfg.model.sample_len = 2;
	char err[256];
	if (ns_encode_fit(&fx->cfg.enc, NULL, &fx->flows, &fx->enc, &fx->ds,
			  err, sizeof(err))) {
		fprintf(stderr, "encode: %s\n", err);
		return -1;
	}
	*state = fx;
	return 0;
}

static int
model_teardown(void **state)
{
	struct model_fixture *fx = *state;
	ns_dataset_free(&fx->ds);
	ns_encoder_free(&fx->enc);
	ns_flow_trace_free(&fx->flows);
	free(fx);
	return 0;
}

static struct ns_dg *
model(struct model_fixture *fx, const struct ns_dg_config *c)
{
	struct ns_dg *m = calloc(1, sizeof(*m));
	char err[256];
	assert_int_equal(ns_dg_init(m, c, &fx->enc, fx->ds.max_len, err,
				    sizeof(err)),
			 0);
	return m;
}

static void
drop(struct ns_dg *m)
{
	ns_dg_free(m);
	free(m);
}

static int
same_params(const struct ns_params *a, const struct ns_params *b)
{
	return a->n == b->n &&
	       !memcmp(a->p, b->p, a->n * sizeof(float)) &&
	       !memcmp(a->m, b->m, a->n * sizeof(float)) &&
	       !memcmp(a->v, b->v, a->n * sizeof(float));
}

/* sigma = 0 and no clip: a DP update is a plain update, bit for bit; a
 * finite clip or noise changes it (so the comparison can fail). */
static void
test_dp_zero_noise_equals_plain(void **state)
{
	struct model_fixture *fx = *state;
	struct ns_dg_config plain = fx->cfg.model, dp = plain;
	dp.dp = 1;
	dp.dp_noise = 0;
	dp.dp_clip = 0;
	uint32_t picks[10];
	for (int b = 0; b < 10; b++)
		picks[b] = (uint32_t)(b * 29 % fx->ds.n_flows);
	struct ns_dg *a = model(fx, &plain), *b = model(fx, &dp);
	assert_true(b->cap > a->cap); /* room for Poisson samples */
	float gp_a, gp_b;
	for (int r = 0; r < 3; r++)
		for (int which = 0; which < 2; which++) {
			float wa = ns_dg_disc_update(a, &fx->ds, which, picks,
						     10, &gp_a);
			float wb = ns_dg_disc_update(b, &fx->ds, which, picks,
						     10, &gp_b);
			assert_memory_equal(&wa, &wb, sizeof(float));
			assert_memory_equal(&gp_a, &gp_b, sizeof(float));
		}
	assert_true(same_params(&a->D, &b->D));
	assert_true(same_params(&a->Da, &b->Da));
	assert_int_equal(b->dp_updates, 6);

	struct ns_dg_config clipped = dp;
	clipped.dp_clip = 1e-3f;
	struct ns_dg *c = model(fx, &clipped);
	struct ns_dg_config noisy = dp;
	noisy.dp_clip = 1e3f;
	noisy.dp_noise = 1e-3f;
	struct ns_dg *d = model(fx, &noisy);
	ns_dg_disc_update(c, &fx->ds, 0, picks, 10, &gp_a);
	ns_dg_disc_update(d, &fx->ds, 0, picks, 10, &gp_a);
	struct ns_dg *e = model(fx, &plain);
	ns_dg_disc_update(e, &fx->ds, 0, picks, 10, &gp_b);
	assert_false(same_params(&c->D, &e->D));
	assert_false(same_params(&d->D, &e->D));
	drop(a);
	drop(b);
	drop(c);
	drop(d);
	drop(e);
}

/* Whole DP steps: two private updates per round, Poisson samples whose
 * mean is the batch, finite losses; the generator moves. */
static void
test_dp_training_steps(void **state)
{
	struct model_fixture *fx = *state;
	struct ns_dg_config c = fx->cfg.model;
	c.dp = 1;
	c.dp_noise = 1.0f;
	c.dp_clip = 1.0f;
	struct ns_dg *m = model(fx, &c);
	float *g0 = malloc(m->G.n * sizeof(float));
	memcpy(g0, m->G.p, m->G.n * sizeof(float));
	struct ns_dg_losses loss;
	for (int it = 0; it < 20; it++) {
		ns_dg_train_step(m, &fx->ds, &loss);
		assert_true(isfinite(loss.d_wdist) && isfinite(loss.g_loss) &&
			    isfinite(loss.d_gp) && isfinite(loss.da_gp));
	}
	assert_int_equal(m->dp_updates, 20 * c.d_rounds * 2);
	assert_int_equal(m->dp_overflows, 0);
	assert_memory_not_equal(g0, m->G.p, m->G.n * sizeof(float));
	free(g0);
	drop(m);
}

/* Poisson samples: increasing flow indexes, sizes with mean B and
 * variance about B (1 - q). */
static void
test_poisson_sample_sizes(void **state)
{
	struct model_fixture *fx = *state;
	struct ns_dg_config c = fx->cfg.model;
	c.dp = 1;
	c.d_rounds = 1;
	struct ns_dg *m = model(fx, &c);
	/* D's last sample stays in pick[]; a sentinel marks its end */
	double sum = 0, sum2 = 0;
	int draws = 400;
	for (int k = 0; k < draws; k++) {
		for (int b = 0; b < m->cap; b++)
			m->pick[b] = UINT32_MAX;
		struct ns_dg_losses loss;
		ns_dg_train_step(m, &fx->ds, &loss);
		int n = 0;
		while (n < m->cap && m->pick[n] != UINT32_MAX) {
			assert_true(m->pick[n] < fx->ds.n_flows);
			if (n)
				assert_true(m->pick[n] > m->pick[n - 1]);
			n++;
		}
		sum += n;
		sum2 += (double)n * n;
	}
	double mean = sum / draws, var = sum2 / draws - mean * mean;
	double q = (double)c.batch / (double)fx->ds.n_flows;
	double want_var = c.batch * (1 - q);
	/* 400 draws: the mean's standard error is about 0.15 */
	assert_true(fabs(mean - c.batch) < 0.6);
	assert_true(var > 0.6 * want_var && var < 1.5 * want_var);
	drop(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_grad_matches_plain),
		cmocka_unit_test(test_every_example_clipped),
		cmocka_unit_test_setup_teardown(test_dp_zero_noise_equals_plain,
						model_setup, model_teardown),
		cmocka_unit_test_setup_teardown(test_dp_training_steps,
						model_setup, model_teardown),
		cmocka_unit_test_setup_teardown(test_poisson_sample_sizes,
						model_setup, model_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
