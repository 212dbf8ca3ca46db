/* The DoppelGANger model: a whole-model gradient check of the generator
 * through both discriminators, seeded determinism, checkpoints (round
 * trip, truncation, corruption, versions) and the JSON config. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "checkpoint.h"
#include "config.h"
#include "dg.h"

/* A small flow trace: a few hosts, ports and sizes, some multi-record
 * 5-tuples. */
static void
make_flows(struct ns_flow_trace *t, int n)
{
	memset(t, 0, sizeof(*t));
	uint16_t lab[2] = {ns_label_intern(&t->labels, "background", 10),
			   ns_label_intern(&t->labels, "blacklist", 9)};
	for (int i = 0; i < n; i++) {
		struct ns_flow_record f;
		memset(&f, 0, sizeof(f));
		ns_addr_from_v4(f.src_addr, 0x0A000001u + (uint32_t)(i % 7));
		ns_addr_from_v4(f.dst_addr, 0xC0A80001u + (uint32_t)(i % 3));
		f.ip_version = 4;
		f.src_port = (uint16_t)(40000 + i % 11);
		f.dst_port = i % 3 ? 443 : 53;
		f.proto = i % 3 ? 6 : 17;
		f.first_ns = 1000000000ull * (uint64_t)(i / 2);
		f.last_ns = f.first_ns + 1000000ull * (uint64_t)(i % 5);
		f.packets = 1 + (uint64_t)(i % 9);
		f.bytes = f.packets * (60 + (uint64_t)(i % 4) * 100);
		f.label = lab[i % 5 == 0];
		ns_flow_trace_push(t, &f);
	}
}

struct fixture {
	struct ns_flow_trace flows;
	struct ns_learner_config cfg;
	struct ns_encoder enc;
	struct ns_dataset ds;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	make_flows(&fx->flows, 120);
	ns_learner_config_default(&fx->cfg);
	fx->cfg.enc.n_chunks = 2;
	fx->cfg.model.batch = 8;
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
teardown(void **state)
{
	struct fixture *fx = *state;
	ns_dataset_free(&fx->ds);
	ns_encoder_free(&fx->enc);
	ns_flow_trace_free(&fx->flows);
	free(fx);
	return 0;
}

static struct ns_dg *
model(struct fixture *fx)
{
	struct ns_dg *m = calloc(1, sizeof(*m));
	char err[256];
	assert_int_equal(ns_dg_init(m, &fx->cfg.model, &fx->enc,
				    fx->ds.max_len, err, sizeof(err)),
			 0);
	return m;
}

static void
drop(struct ns_dg *m)
{
	ns_dg_free(m);
	free(m);
}

/* Which piece of the piecewise-smooth loss we are on: argmax choices. */
static uint64_t
piece(const struct ns_dg *m)
{
	uint64_t h = 1469598103934665603ull;
	size_t na = (size_t)m->cfg.batch * m->A;
	for (size_t k = 0; k < na; k++)
		h = (h ^ (m->attr_hard[k] > 0.5f)) * 1099511628211ull;
	for (size_t k = 0; k < (size_t)m->cfg.batch * m->T; k++)
		h = (h ^ (m->block_on[k] > 0.5f)) * 1099511628211ull;
	for (size_t l = 0; l < (size_t)m->disc.layers * m->disc.max_rows *
					m->disc.hid; l++)
		h = (h ^ (m->disc.a[l] > 0)) * 1099511628211ull;
	return h;
}

/* The generator's gradient (attribute MLP with BatchNorm, heads, LSTM
 * through time, feature heads, both discriminators' input gradients)
 * matches central differences of the generator loss. */
static void
test_generator_gradient(void **state)
{
	struct fixture *fx = *state;
	struct ns_dg *m = model(fx);
	/* make the discriminators non-trivial */
	struct ns_rng r;
	ns_rng_seed(&r, 5);
	ns_disc_init_params(&m->disc, m->D.p, &r, 0.3f);
	ns_disc_init_params(&m->disc_a, m->Da.p, &r, 0.3f);
	for (size_t k = 0; k < m->G.n; k++)
		m->G.p[k] += 0.05f * ns_rng_normal(&r);
	ns_dg_gen_loss(m, 0); /* draw the noise once */
	m->reuse_noise = 1;
	ns_dg_gen_loss(m, 1);
	float *ga = malloc(m->G.n * sizeof(float));
	memcpy(ga, m->G.g, m->G.n * sizeof(float));
	uint64_t base = piece(m);
	double scale = 0;
	for (size_t k = 0; k < m->G.n; k++)
		scale = fmax(scale, fabs(ga[k]));
	const float h = 1e-2f;
	size_t step = m->G.n / 300 + 1, checked = 0, skipped = 0;
	double worst = 0;
	for (size_t k = 0; k < m->G.n; k += step) {
		float keep = m->G.p[k];
		m->G.p[k] = keep + h;
		double up = ns_dg_gen_loss(m, 0);
		uint64_t pu = piece(m);
		m->G.p[k] = keep - h;
		double down = ns_dg_gen_loss(m, 0);
		uint64_t pd = piece(m);
		m->G.p[k] = keep;
		if (pu != base || pd != base) {
			skipped++;
			continue;
		}
		checked++;
		double num = (up - down) / (2.0 * h);
		double err = fabs(num - ga[k]) /
			     (fabs(num) + fabs(ga[k]) + 1e-2 * scale + 1e-7);
		worst = fmax(worst, err);
		if (err > 3e-2)
			fail_msg("generator gradient mismatch at param %zu: "
				 "analytic %.6g numeric %.6g (rel %.3g)",
				 k, ga[k], num, err);
	}
	print_message("generator: max rel err %.2e over %zu params (%zu at "
		      "a kink skipped)\n", worst, checked, skipped);
	assert_true(checked > 100);
	free(ga);
	drop(m);
}

/* Same seed, config and data: the same weights after training, bit for
 * bit; another seed differs. */
static void
test_deterministic(void **state)
{
	struct fixture *fx = *state;
	struct ns_dg *a = model(fx), *b = model(fx);
	struct ns_dg_losses la, lb;
	for (int i = 0; i < 5; i++) {
		ns_dg_train_step(a, &fx->ds, &la);
		ns_dg_train_step(b, &fx->ds, &lb);
	}
	assert_memory_equal(a->G.p, b->G.p, a->G.n * sizeof(float));
	assert_memory_equal(a->D.p, b->D.p, a->D.n * sizeof(float));
	assert_true(isfinite(la.g_loss) && isfinite(la.d_wdist));
	fx->cfg.model.seed = 99;
	struct ns_dg *c = model(fx);
	fx->cfg.model.seed = 1;
	ns_dg_train_step(c, &fx->ds, &la);
	assert_memory_not_equal(a->G.p, c->G.p, a->G.n * sizeof(float));
	drop(a);
	drop(b);
	drop(c);
}

/* Training moves the discriminator towards separating real from fake
 * (its Wasserstein estimate rises from ~0). */
static void
test_training_moves(void **state)
{
	struct fixture *fx = *state;
	struct ns_dg *m = model(fx);
	struct ns_dg_losses l;
	float first = 0;
	for (int i = 0; i < 30; i++) {
		ns_dg_train_step(m, &fx->ds, &l);
		if (i == 0)
			first = l.d_wdist;
	}
	assert_true(isfinite(l.d_wdist) && isfinite(l.g_loss));
	assert_true(l.d_wdist != first);
	assert_int_equal(m->step, 30);
	drop(m);
}

/* Generation gives lengths within [1, L] and decodes to records. */
static void
test_generate_decodes(void **state)
{
	struct fixture *fx = *state;
	struct ns_dg *m = model(fx);
	size_t n = 20;
	float *attr = malloc(n * (size_t)m->A * sizeof(float));
	float *feat = malloc(n * (size_t)m->L * m->F * sizeof(float));
	uint32_t *len = malloc(n * sizeof(uint32_t));
	ns_dg_generate(m, n, attr, feat, len);
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(len[i] >= 1 && len[i] <= (uint32_t)m->L);
		total += len[i];
	}
	struct ns_flow_trace out;
	memset(&out, 0, sizeof(out));
	assert_int_equal(ns_decode(&fx->enc, n, attr, feat, (uint32_t)m->L,
				   len, NULL, &out),
			 0);
	assert_int_equal(out.n, total);
	ns_flow_trace_free(&out);
	free(attr), free(feat), free(len);
	drop(m);
}

/* Generation drops each flow from the LSTM at its end: the lengths,
 * attributes and records up to each end are what running every step on
 * every row gives, and the records after an end are zeros. */
static void
test_generate_drops_ended_rows(void **state)
{
	struct fixture *fx = *state;
	struct ns_dg *m = model(fx);
	struct ns_dg_losses l;
	for (int i = 0; i < 5; i++)
		ns_dg_train_step(m, &fx->ds, &l);
	size_t n = 3 * (size_t)m->cfg.batch + 5, A = (size_t)m->A;
	size_t LF = (size_t)m->L * m->F;
	float *attr[2], *feat[2];
	uint32_t *len[2];
	struct ns_rng start = m->rng;
	for (int k = 0; k < 2; k++) {
		attr[k] = malloc(n * A * sizeof(float));
		feat[k] = malloc(n * LF * sizeof(float));
		len[k] = malloc(n * sizeof(uint32_t));
		m->rng = start;
		m->gen_whole = k;
		ns_dg_generate(m, n, attr[k], feat[k], len[k]);
	}
	uint32_t lo = UINT32_MAX, hi = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(len[0][i], len[1][i]);
		lo = len[0][i] < lo ? len[0][i] : lo;
		hi = len[0][i] > hi ? len[0][i] : hi;
		assert_memory_equal(attr[0] + i * A, attr[1] + i * A,
				    A * sizeof(float));
		/* records to the end of the step holding the last one */
		size_t S = (size_t)m->S, F = (size_t)m->F;
		size_t kept = (len[0][i] + S - 1) / S * S;
		for (size_t j = 0; j < (size_t)m->L * F; j++) {
			float a = feat[0][i * LF + j], b = feat[1][i * LF + j];
			if (j < kept * F)
				assert_true(fabsf(a - b) <= 1e-5f);
			else
				assert_true(a == 0.0f);
		}
	}
	assert_true(lo < hi); /* some rows left early, others went on */
	for (int k = 0; k < 2; k++)
		free(attr[k]), free(feat[k]), free(len[k]);
	drop(m);
}

/* A checkpoint reloads to the same weights, state and encoder; any
 * truncation, a flipped byte or another version fails with a
 * message. */
static void
test_checkpoint(void **state)
{
	struct fixture *fx = *state;
	struct ns_dg *m = model(fx);
	struct ns_dg_losses l;
	ns_dg_train_step(m, &fx->ds, &l);
	char path[] = "/tmp/ns_ckpt_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char err[256];
	assert_int_equal(ns_ckpt_save(path, &fx->cfg, m, &fx->enc, err,
				      sizeof(err)),
			 0);
	struct ns_learner_config cfg2;
	struct ns_dg m2;
	struct ns_encoder enc2;
	assert_int_equal(ns_ckpt_load(path, &cfg2, &m2, &enc2, err,
				      sizeof(err)),
			 0);
	assert_memory_equal(m->G.p, m2.G.p, m->G.n * sizeof(float));
	assert_memory_equal(m->Da.v, m2.Da.v, m->Da.n * sizeof(float));
	assert_int_equal(m2.step, 1);
	assert_int_equal(m2.rng.s, m->rng.s);
	assert_int_equal(enc2.attr.dim, fx->enc.attr.dim);
	assert_int_equal(cfg2.model.batch, 8);
	/* the reloaded model continues exactly like the original */
	struct ns_dg_losses l2;
	ns_dg_train_step(m, &fx->ds, &l);
	ns_dg_train_step(&m2, &fx->ds, &l2);
	assert_memory_equal(m->G.p, m2.G.p, m->G.n * sizeof(float));
	ns_dg_free(&m2);
	ns_encoder_free(&enc2);

	size_t len;
	char *buf = ns_slurp(path, &len);
	assert_non_null(buf);
	size_t step = len / 97 + 1;
	for (size_t cut = 0; cut < len; cut += step) {
		assert_int_equal(ns_ckpt_load_mem(buf, cut, "cut", &cfg2, &m2,
						  &enc2, err, sizeof(err)),
				 -1);
		assert_true(strlen(err) > 0);
	}
	buf[len / 2] ^= 0x20;
	assert_int_equal(ns_ckpt_load_mem(buf, len, "flip", &cfg2, &m2, &enc2,
					  err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "checksum"));
	buf[len / 2] ^= 0x20;
	buf[8] = 9; /* version 9 */
	assert_int_equal(ns_ckpt_load_mem(buf, len, "v9", &cfg2, &m2, &enc2,
					  err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "version 9"));
	free(buf);
	unlink(path);
	drop(m);
}

/* The config loader checks names, types and ranges, and applies all or
 * nothing. */
static void
test_config(void **state)
{
	(void)state;
	struct ns_learner_config c;
	ns_learner_config_default(&c);
	char err[256];
	const char *ok = "{\"version\":1,\"model\":{\"batch\":64,"
			 "\"lr_g\":0.0005},\"encoding\":{\"n_chunks\":10}}";
	assert_int_equal(ns_learner_config_parse(&c, ok, strlen(ok), "t",
						 err, sizeof(err)),
			 0);
	assert_int_equal(c.model.batch, 64);
	assert_int_equal(c.enc.n_chunks, 10);
	const char *bad[] = {
		"{\"model\":{\"batch\":1}}",
		"{\"model\":{\"batch\":\"64\"}}",
		"{\"model\":{\"batchsize\":64}}",
		"{\"modle\":{}}",
		"{\"model\":{\"batch\":2.5}}",
		"{\"model\":{\"batch\":32,\"gen_layers\":99}}",
		"[1,2]",
		"{\"model\":",
		"{\"version\":2}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = 0;
		assert_int_equal(ns_learner_config_parse(&c, bad[i],
							 strlen(bad[i]), "t",
							 err, sizeof(err)),
				 -1);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(c.model.batch, 64); /* unchanged by failures */
	assert_int_equal(c.enc.split_long, 1);
	/* DP cuts long flows; asking it to split them is an error */
	const char *dp = "{\"privacy\":{\"enabled\":1}}";
	struct ns_learner_config e;
	ns_learner_config_default(&e);
	assert_int_equal(ns_learner_config_parse(&e, dp, strlen(dp), "t", err,
						 sizeof(err)),
			 0);
	assert_int_equal(e.enc.split_long, 0);
	const char *both = "{\"privacy\":{\"enabled\":1},"
			   "\"encoding\":{\"split_long\":1}}";
	assert_int_equal(ns_learner_config_parse(&e, both, strlen(both), "t",
						 err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "split_long"));
	/* printing and parsing gives the same config */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ns_learner_config_print(&c, f);
	fclose(f);
	struct ns_learner_config d;
	ns_learner_config_default(&d);
	assert_int_equal(ns_learner_config_parse(&d, text, len, "p", err,
						 sizeof(err)),
			 0);
	char *again = NULL;
	size_t len2 = 0;
	f = open_memstream(&again, &len2);
	ns_learner_config_print(&d, f);
	fclose(f);
	assert_string_equal(text, again);
	assert_int_equal(d.model.seed, c.model.seed);
	free(text);
	free(again);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generator_gradient),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_training_moves),
		cmocka_unit_test(test_generate_decodes),
		cmocka_unit_test(test_generate_drops_ended_rows),
		cmocka_unit_test(test_checkpoint),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests_name("learner", tests, setup, teardown);
}
