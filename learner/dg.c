/* DoppelGANger training and generation. Shapes use B = batch rows,
 * T steps of S records, F2 = feature width with the 2 gen-flag dims. */
#include "dg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_FLAG_CONTINUE 0 /* [1,0]: the flow goes on */

void
ns_dg_config_paper(struct ns_dg_config *c)
{
	c->attr_noise = 5;
	c->feat_noise = 5;
	c->gen_hidden = 512;
	c->gen_layers = 4;
	c->lstm_units = 100;
	c->disc_hidden = 512;
	c->disc_layers = 4;
	c->sample_len = 1;
	c->batch = 100;
	c->d_rounds = 5;
	c->lr_g = 1e-4f;
	c->lr_d = 1e-4f;
	c->beta1 = 0.5f;
	c->beta2 = 0.999f;
	c->adam_eps = 1e-8f;
	c->gp_lambda = 10;
	c->g_attr_d_coe = 1;
	c->init_sd = 0.02f;
	c->bn_decay = 0.9f;
	c->iterations = 400000;
	c->seed = 1;
	c->dp = 0;
	c->dp_noise = 1.0f;
	c->dp_clip = 1.0f;
}

static int
params_alloc(struct ns_params *p, size_t n)
{
	p->n = n;
	p->p = calloc(4 * n, sizeof(float));
	if (!p->p)
		return -1;
	p->g = p->p + n;
	p->m = p->g + n;
	p->v = p->m + n;
	return 0;
}

/* Lay out G's tensors; returns the parameter count. */
static size_t
gen_layout(struct ns_gen_layout *gl, const struct ns_dg_config *c, int A,
	   int I, int S, int F2)
{
	size_t off = 0, in = (size_t)c->attr_noise, gh = (size_t)c->gen_hidden;
	size_t H = (size_t)c->lstm_units;
	for (int l = 0; l < c->gen_layers; l++) {
		gl->mlp_w[l] = off;
		off += in * gh;
		gl->mlp_b[l] = off;
		off += gh;
		gl->bn_g[l] = off;
		off += gh;
		gl->bn_b[l] = off;
		off += gh;
		in = gh;
	}
	gl->out_w = off;
	off += in * (size_t)A;
	gl->out_b = off;
	off += (size_t)A;
	gl->lstm_w = off;
	off += ((size_t)I + H) * 4 * H;
	gl->lstm_b = off;
	off += 4 * H;
	gl->feat_w = off;
	off += H * (size_t)S * F2;
	gl->feat_b = off;
	off += (size_t)S * F2;
	gl->n = off;
	return off;
}

/* Carve the workspace; with mem NULL only count. */
static size_t
carve(struct ns_dg *m, float *mem)
{
	const struct ns_dg_config *c = &m->cfg;
	size_t B = (size_t)m->cap, gh = (size_t)c->gen_hidden;
	size_t GL = (size_t)c->gen_layers, A = (size_t)m->A;
	size_t T = (size_t)m->T, S = (size_t)m->S, F2 = (size_t)m->F2;
	size_t H = (size_t)c->lstm_units, I = A + (size_t)c->feat_noise;
	size_t Din = (size_t)m->Din, wide = gh > A ? gh : A;
	size_t off = 0;
#define TAKE(field, count)                                                    \
	do {                                                                  \
		if (mem)                                                      \
			m->field = mem + off;                                 \
		off += (count);                                               \
	} while (0)
	TAKE(z_a, B * (size_t)c->attr_noise);
	TAKE(mlp_a, GL * B * gh);
	TAKE(mlp_r, GL * B * gh);
	TAKE(mlp_h, GL * B * gh);
	TAKE(bn_xhat, GL * B * gh);
	TAKE(bn_rstd, GL * gh);
	TAKE(attr_logit, B * A);
	TAKE(attr_soft, B * A);
	TAKE(attr_hard, B * A);
	TAKE(lstm_x, T * B * I);
	TAKE(h0, B * H);
	TAKE(c0, B * H);
	TAKE(lstm_mem, ns_lstm_cache_floats((int)T, (int)B, (int)I, (int)H));
	TAKE(lstm_scratch, ns_lstm_scratch_floats((int)B, (int)I, (int)H));
	TAKE(feat_logit, T * B * S * F2);
	TAKE(feat_out, T * B * S * F2);
	TAKE(block_on, B * T);
	TAKE(xd, 3 * B * Din);
	TAKE(xda, 3 * B * A);
	TAKE(dout, 3 * B);
	TAKE(dxd, B * Din);
	TAKE(dxda, B * A);
	TAKE(dtmp, B * wide);
	TAKE(dtmp2, B * wide);
	TAKE(dfeat, T * B * S * F2);
	TAKE(dh, T * B * H);
	TAKE(flags, (size_t)m->L * 2);
#undef TAKE
	return off;
}

/* ns_heads tables: attributes, and S copies of (features, gen flag). */
static int
build_heads(struct ns_dg *m)
{
	int na = (int)m->attr_layout.n_heads;
	int nr = (int)m->rec_layout.n_heads;
	int total = na + m->S * nr;
	m->head_act = malloc((size_t)total);
	m->head_dim = malloc((size_t)total * sizeof(uint16_t));
	if (!m->head_act || !m->head_dim)
		return -1;
	for (int k = 0; k < na; k++) {
		m->head_act[k] = m->attr_layout.head[k].act;
		m->head_dim[k] = m->attr_layout.head[k].dim;
	}
	for (int s = 0; s < m->S; s++) {
		for (int k = 0; k < nr; k++) {
			m->head_act[na + s * nr + k] = m->rec_layout.head[k].act;
			m->head_dim[na + s * nr + k] = m->rec_layout.head[k].dim;
		}
	}
	m->attr_heads = (struct ns_heads){na, m->A, m->head_act, m->head_dim};
	m->step_heads = (struct ns_heads){m->S * nr, m->S * m->F2,
					  m->head_act + na, m->head_dim + na};
	return 0;
}

int
ns_dg_init(struct ns_dg *m, const struct ns_dg_config *cfg,
	   const struct ns_encoder *enc, uint32_t max_len, char *err,
	   size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	const struct ns_dg_config *c = &m->cfg;
	if (c->batch < 2 || c->sample_len < 1 || c->gen_layers < 1 ||
	    c->gen_layers > 8 || c->disc_layers < 1 || c->lstm_units < 1 ||
	    c->gen_hidden < 1 || c->disc_hidden < 1 || c->d_rounds < 1 ||
	    c->attr_noise < 1 || c->feat_noise < 1 || max_len < 1) {
		snprintf(err, errlen, "model config out of range (batch >= 2, "
				      "1 <= gen_layers <= 8, sizes >= 1)");
		return -1;
	}
	if (c->dp && (!(c->dp_noise >= 0) || !(c->dp_clip >= 0) ||
		      (c->dp_noise > 0 && c->dp_clip == 0))) {
		snprintf(err, errlen, "privacy: noise_multiplier and clip must "
				      "be >= 0, and noise needs a finite clip");
		return -1;
	}
	m->cap = c->dp ? ns_dg_dp_capacity(c->batch) : c->batch;
	m->attr_layout = enc->attr;
	m->rec_layout = enc->feat;
	if (m->rec_layout.n_heads + 1 > NS_MAX_HEADS) {
		snprintf(err, errlen, "too many feature heads");
		return -1;
	}
	m->rec_layout.head[m->rec_layout.n_heads++] =
		(struct ns_head){NS_HEAD_SOFTMAX, 0, 2};
	m->rec_layout.dim += 2;
	m->A = (int)enc->attr.dim;
	m->F = (int)enc->feat.dim;
	m->F2 = m->F + 2;
	m->S = c->sample_len;
	m->T = (int)((max_len + (uint32_t)m->S - 1) / (uint32_t)m->S);
	m->L = m->T * m->S;
	m->Din = m->L * m->F2 + m->A;
	int I = m->A + c->feat_noise;
	size_t ng = gen_layout(&m->gl, c, m->A, I, m->S, m->F2);
	if (build_heads(m) || params_alloc(&m->G, ng) ||
	    params_alloc(&m->D, ns_disc_param_count(m->Din, c->disc_hidden,
						    c->disc_layers)) ||
	    params_alloc(&m->Da, ns_disc_param_count(m->A, c->disc_hidden,
						     c->disc_layers)) ||
	    ns_disc_init(&m->disc, m->Din, c->disc_hidden, c->disc_layers,
			 3 * m->cap) ||
	    ns_disc_init(&m->disc_a, m->A, c->disc_hidden, c->disc_layers,
			 3 * m->cap)) {
		snprintf(err, errlen, "out of memory for the model");
		ns_dg_free(m);
		return -1;
	}
	m->bn_running = calloc(2 * (size_t)c->gen_layers * c->gen_hidden,
			       sizeof(float));
	m->ws_floats = carve(m, NULL);
	m->ws = calloc(m->ws_floats, sizeof(float));
	m->pick = calloc((size_t)m->cap, sizeof(uint32_t));
	m->pick_a = calloc((size_t)m->cap, sizeof(uint32_t));
	if (!m->bn_running || !m->ws || !m->pick || !m->pick_a) {
		snprintf(err, errlen, "out of memory for the workspace");
		ns_dg_free(m);
		return -1;
	}
	carve(m, m->ws);
	ns_lstm_cache_init(&m->lstm, m->lstm_mem, m->T, m->cap, I,
			   c->lstm_units);
	m->lstm.In_static = m->A; /* the attributes, at every step */
	ns_dg_init_weights(m);
	return 0;
}

void
ns_dg_free(struct ns_dg *m)
{
	free(m->G.p);
	free(m->D.p);
	free(m->Da.p);
	free(m->bn_running);
	free(m->ws);
	free(m->pick);
	free(m->pick_a);
	free(m->head_act);
	free(m->head_dim);
	ns_disc_free(&m->disc);
	ns_disc_free(&m->disc_a);
	memset(m, 0, sizeof(*m));
}

void
ns_dg_init_weights(struct ns_dg *m)
{
	const struct ns_dg_config *c = &m->cfg;
	ns_rng_seed(&m->rng, c->seed);
	float *p = m->G.p;
	memset(p, 0, m->G.n * sizeof(float));
	size_t in = (size_t)c->attr_noise, gh = (size_t)c->gen_hidden;
	for (int l = 0; l < c->gen_layers; l++) {
		ns_rng_fill_normal(&m->rng, p + m->gl.mlp_w[l], in * gh,
				   c->init_sd);
		for (size_t j = 0; j < gh; j++)
			p[m->gl.bn_g[l] + j] = 1;
		in = gh;
	}
	ns_rng_fill_normal(&m->rng, p + m->gl.out_w, in * (size_t)m->A,
			   c->init_sd);
	/* LSTM: Glorot-uniform kernel, forget-gate bias 1 (TF defaults) */
	size_t H = (size_t)c->lstm_units;
	size_t I = (size_t)m->A + (size_t)c->feat_noise;
	float lim = sqrtf(6.0f / (float)(I + H + 4 * H));
	for (size_t k = 0; k < (I + H) * 4 * H; k++)
		p[m->gl.lstm_w + k] = lim * (2 * ns_rng_float(&m->rng) - 1);
	for (size_t j = 0; j < H; j++)
		p[m->gl.lstm_b + H + j] = 1;
	ns_rng_fill_normal(&m->rng, p + m->gl.feat_w,
			   H * (size_t)m->S * m->F2, c->init_sd);
	ns_disc_init_params(&m->disc, m->D.p, &m->rng, c->init_sd);
	ns_disc_init_params(&m->disc_a, m->Da.p, &m->rng, c->init_sd);
	memset(m->G.g, 0, 3 * m->G.n * sizeof(float)); /* grads, moments */
	memset(m->D.g, 0, 3 * m->D.n * sizeof(float));
	memset(m->Da.g, 0, 3 * m->Da.n * sizeof(float));
	size_t nb = (size_t)c->gen_layers * c->gen_hidden;
	for (size_t k = 0; k < nb; k++) {
		m->bn_running[k] = 0;	   /* means */
		m->bn_running[nb + k] = 1; /* variances */
	}
	m->step = 0;
	m->dp_updates = 0;
	m->dp_overflows = 0;
}

int
ns_dg_dp_capacity(int batch)
{
	double b = batch;
	double cap = fmax(2.5 * b, b + 10 * sqrt(b) + 20);
	return (int)ceil(cap);
}

/* Generation's scratch for gen_features_sample: rows still going. */
struct gen_scratch {
	int *row;	  /* (B) their rows in the batch */
	float *pre;	  /* (B,4H) b + attributes' share of the gates */
	float *g;	  /* (B,4H) gates */
	float *h, *c;	  /* (B,H) */
	float *xh;	  /* (B, noise + H) */
	float *tc;	  /* (H) */
	float *logit, *out; /* (B, S·F2) */
};

static void gen_features_sample(struct ns_dg *m, int B,
				struct gen_scratch *w);

/* The generator's forward pass for B rows (B <= batch). train: batch
 * statistics in BatchNorm; update: also move the running ones; sample:
 * generation, where the LSTM drops each row at its end (feat_out only
 * holds records up to there, zeros after). */
static void
gen_forward(struct ns_dg *m, int B, int train, int update,
	    struct gen_scratch *sample)
{
	const struct ns_dg_config *c = &m->cfg;
	int gh = c->gen_hidden, A = m->A, H = c->lstm_units;
	int T = m->T, S = m->S, F2 = m->F2, F = m->F;
	int I = A + c->feat_noise;
	const float *p = m->G.p;
	size_t nb = (size_t)c->gen_layers * gh;

	int fresh = !m->reuse_noise;
	if (fresh)
		ns_rng_fill_normal(&m->rng, m->z_a, (size_t)B * c->attr_noise,
				   1);
	const float *x = m->z_a;
	int in = c->attr_noise;
	for (int l = 0; l < c->gen_layers; l++) {
		size_t o = (size_t)l * m->cap * gh;
		float *a = m->mlp_a + o, *r = m->mlp_r + o, *h = m->mlp_h + o;
		ns_linear_forward(a, x, p + m->gl.mlp_w[l], p + m->gl.mlp_b[l],
				  B, in, gh);
		ns_relu_forward(r, a, (size_t)B * gh);
		float *rm = m->bn_running + (size_t)l * gh;
		float *rv = m->bn_running + nb + (size_t)l * gh;
		if (train) {
			struct ns_bn_cache bc = {m->bn_xhat + o,
						 m->bn_rstd + (size_t)l * gh};
			ns_bn_forward_train(h, &bc, r, p + m->gl.bn_g[l],
					    p + m->gl.bn_b[l], update ? rm : NULL,
					    update ? rv : NULL, c->bn_decay, B,
					    gh);
		} else {
			ns_bn_forward_eval(h, r, p + m->gl.bn_g[l],
					   p + m->gl.bn_b[l], rm, rv, B, gh);
		}
		x = h;
		in = gh;
	}
	ns_linear_forward(m->attr_logit, x, p + m->gl.out_w, p + m->gl.out_b,
			  B, in, A);
	ns_heads_forward(m->attr_soft, m->attr_logit, &m->attr_heads, B);
	ns_heads_harden(m->attr_hard, m->attr_soft, &m->attr_heads, B);

	/* LSTM input per step: hardened attributes and fresh noise */
	m->lstm.B = B;
	for (int t = 0; t < T; t++) {
		for (int b = 0; b < B; b++) {
			float *xi = m->lstm_x + ((size_t)t * B + b) * I;
			memcpy(xi, m->attr_hard + (size_t)b * A,
			       (size_t)A * sizeof(float));
			if (fresh)
				ns_rng_fill_normal(&m->rng, xi + A,
						   (size_t)c->feat_noise, 1);
		}
	}
	if (fresh) {
		ns_rng_fill_normal(&m->rng, m->h0, (size_t)B * H, 1);
		ns_rng_fill_normal(&m->rng, m->c0, (size_t)B * H, 1);
	}
	if (sample) {
		gen_features_sample(m, B, sample);
		return;
	}
	ns_lstm_forward(&m->lstm, m->lstm_x, m->h0, m->c0, p + m->gl.lstm_w,
			p + m->gl.lstm_b);
	ns_linear_forward(m->feat_logit, m->lstm.h + (size_t)B * H,
			  p + m->gl.feat_w, p + m->gl.feat_b, T * B, H, S * F2);
	ns_heads_forward(m->feat_out, m->feat_logit, &m->step_heads, T * B);

	/* blocks after every record said "end" are switched off */
	for (int b = 0; b < B; b++) {
		int on = 1;
		for (int t = 0; t < T; t++) {
			m->block_on[(size_t)b * T + t] = (float)on;
			for (int s = 0; s < S && on; s++) {
				const float *rec =
					m->feat_out +
					(((size_t)t * B + b) * S + s) * F2;
				if (!(rec[F + GEN_FLAG_CONTINUE] >=
				      rec[F + 1 - GEN_FLAG_CONTINUE]))
					on = 0;
			}
		}
	}
}

/* Fake rows for D (rows, Din) and D_a (rows, A), either may be NULL,
 * from the first rows of the last forward over gen_rows rows. */
static void
assemble_fake(struct ns_dg *m, int gen_rows, int rows, float *xd, float *xda)
{
	int T = m->T, S = m->S, F2 = m->F2, A = m->A, Din = m->Din;
	for (int b = 0; b < rows; b++) {
		if (xda)
			memcpy(xda + (size_t)b * A, m->attr_soft + (size_t)b * A,
			       (size_t)A * sizeof(float));
		if (!xd)
			continue;
		float *row = xd + (size_t)b * Din;
		for (int t = 0; t < T; t++) {
			float on = m->block_on[(size_t)b * T + t];
			const float *src =
				m->feat_out +
				((size_t)t * gen_rows + b) * S * F2;
			float *dst = row + (size_t)t * S * F2;
			for (int k = 0; k < S * F2; k++)
				dst[k] = on * src[k];
		}
		memcpy(row + (size_t)m->L * F2, m->attr_soft + (size_t)b * A,
		       (size_t)A * sizeof(float));
	}
}

/* Real rows for flows picks[0..B) into xd (B, Din) and xda (B, A),
 * either may be NULL. */
static void
assemble_real(struct ns_dg *m, const struct ns_dataset *ds,
	      const uint32_t *picks, int B, float *xd, float *xda)
{
	int F = m->F, F2 = m->F2, A = m->A, L = m->L, Din = m->Din;
	for (int b = 0; b < B; b++) {
		uint32_t i = picks[b];
		if (xda)
			memcpy(xda + (size_t)b * A, ds->attr + (size_t)i * A,
			       (size_t)A * sizeof(float));
		if (!xd)
			continue;
		uint32_t len = ds->offset[i + 1] - ds->offset[i];
		if (len > (uint32_t)L)
			len = (uint32_t)L;
		ns_gen_flags(len, (uint32_t)L, (uint32_t)m->S, m->flags);
		float *row = xd + (size_t)b * Din;
		memset(row, 0, (size_t)L * F2 * sizeof(float));
		for (uint32_t k = 0; k < len; k++)
			memcpy(row + (size_t)k * F2,
			       ds->feat + ((size_t)ds->offset[i] + k) * F,
			       (size_t)F * sizeof(float));
		for (int k = 0; k < L; k++) {
			row[(size_t)k * F2 + F] = m->flags[2 * k];
			row[(size_t)k * F2 + F + 1] = m->flags[2 * k + 1];
		}
		memcpy(row + (size_t)L * F2, ds->attr + (size_t)i * A,
		       (size_t)A * sizeof(float));
	}
}

/* One WGAN-GP update of a discriminator on rows [fake; real] of x (n
 * each, wide floats), the interpolates written after them. The gradient
 * is a sum over examples (clipped, plus Gaussian noise, under DP) over
 * the expected batch, then Adam; a plain update is the same arithmetic
 * with every clip factor 1 and no noise. Returns the Wasserstein
 * estimate; *gp gets the mean penalty. */
static float
disc_update(struct ns_dg *m, struct ns_disc *d, struct ns_params *q,
	    float *x, int wide, int n, long t, float *gp)
{
	const struct ns_dg_config *c = &m->cfg;
	for (int b = 0; b < n; b++) {
		float a = ns_rng_float(&m->rng);
		const float *f = x + (size_t)b * wide;
		const float *r = x + ((size_t)n + b) * wide;
		float *h = x + ((size_t)2 * n + b) * wide;
		for (int k = 0; k < wide; k++)
			h[k] = a * r[k] + (1 - a) * f[k];
	}
	memset(q->g, 0, q->n * sizeof(float));
	float pen = 0;
	double fake = 0, real = 0;
	if (n > 0) {
		pen = ns_disc_example_grads(d, q->p, q->g, x, n, c->gp_lambda,
					    c->dp ? c->dp_clip : 0, NULL);
		for (int b = 0; b < n; b++) {
			fake += d->out[b];
			real += d->out[n + b];
		}
	}
	if (c->dp) {
		if (c->dp_noise > 0)
			ns_rng_add_normal(&m->rng, q->g, q->n,
					  c->dp_noise * c->dp_clip);
		m->dp_updates++;
	}
	float inv = 1.0f / (float)c->batch;
	for (size_t k = 0; k < q->n; k++)
		q->g[k] *= inv;
	ns_adam_update(q->p, q->g, q->m, q->v, q->n, c->lr_d, c->beta1,
		       c->beta2, c->adam_eps, t);
	*gp = n > 0 ? pen / (float)n : 0;
	return n > 0 ? (float)((real - fake) / n) : 0;
}

/* A Poisson sample: every flow independently with probability
 * batch / n_flows, drawn by geometric skips. A sample larger than cap
 * is cut to cap and counted (the chance of that, below e^-60 per draw,
 * belongs in delta). */
static int
poisson_sample(struct ns_dg *m, const struct ns_dataset *ds, uint32_t *out)
{
	double q = (double)m->cfg.batch / (double)ds->n_flows;
	int n = 0;
	if (q >= 1) {
		for (size_t i = 0; i < ds->n_flows && n < m->cap; i++)
			out[n++] = (uint32_t)i;
		if (ds->n_flows > (size_t)m->cap)
			m->dp_overflows++;
		return n;
	}
	double lq = log1p(-q);
	double i = -1;
	for (;;) {
		double u = 1.0 - (double)ns_rng_float(&m->rng); /* (0,1] */
		i += 1 + floor(log(u) / lq);
		if (i >= (double)ds->n_flows)
			break;
		if (n == m->cap) {
			m->dp_overflows++;
			break;
		}
		out[n++] = (uint32_t)i;
	}
	return n;
}

float
ns_dg_disc_update(struct ns_dg *m, const struct ns_dataset *ds, int which,
		  const uint32_t *picks, int n, float *gp)
{
	int wide = which ? m->A : m->Din;
	float *x = which ? m->xda : m->xd;
	int rows = n < 2 ? 2 : n; /* BatchNorm wants two rows */
	long t = m->step * m->cfg.d_rounds + 1;
	gen_forward(m, rows, 1, 0, NULL);
	assemble_fake(m, rows, n, which ? NULL : x, which ? x : NULL);
	assemble_real(m, ds, picks, n, which ? NULL : x + (size_t)n * wide,
		      which ? x + (size_t)n * wide : NULL);
	return disc_update(m, which ? &m->disc_a : &m->disc,
			   which ? &m->Da : &m->D, x, wide, n, t, gp);
}

/* Backprop dxd (B, Din) and dxda (B, A) through the generator into
 * m->G.g. */
static void
gen_backward(struct ns_dg *m, int B)
{
	const struct ns_dg_config *c = &m->cfg;
	int gh = c->gen_hidden, A = m->A, H = c->lstm_units;
	int T = m->T, S = m->S, F2 = m->F2, Din = m->Din;
	const float *p = m->G.p;
	float *g = m->G.g;

	for (int t = 0; t < T; t++) {
		for (int b = 0; b < B; b++) {
			float on = m->block_on[(size_t)b * T + t];
			const float *src = m->dxd + (size_t)b * Din +
					   (size_t)t * S * F2;
			float *dst = m->dfeat + ((size_t)t * B + b) * S * F2;
			for (int k = 0; k < S * F2; k++)
				dst[k] = on * src[k];
		}
	}
	ns_heads_backward(m->dfeat, m->dfeat, m->feat_out, &m->step_heads,
			  T * B);
	memset(m->dh, 0, (size_t)T * B * H * sizeof(float));
	ns_linear_backward(m->dh, g + m->gl.feat_w, g + m->gl.feat_b, m->dfeat,
			   m->lstm.h + (size_t)B * H, p + m->gl.feat_w, T * B,
			   H, S * F2);
	/* the LSTM sees hardened attributes: no gradient flows back */
	ns_lstm_backward(NULL, g + m->gl.lstm_w, g + m->gl.lstm_b, NULL, NULL,
			 m->dh, &m->lstm, p + m->gl.lstm_w, m->lstm_scratch);

	float *da = m->dtmp;
	for (int b = 0; b < B; b++)
		for (int k = 0; k < A; k++)
			da[(size_t)b * A + k] =
				m->dxd[(size_t)b * Din + (size_t)m->L * F2 + k] +
				m->dxda[(size_t)b * A + k];
	ns_heads_backward(da, da, m->attr_soft, &m->attr_heads, B);
	int L = c->gen_layers;
	const float *hlast = m->mlp_h + (size_t)(L - 1) * m->cap * gh;
	float *dx = m->dtmp2;
	memset(dx, 0, (size_t)B * gh * sizeof(float));
	ns_linear_backward(dx, g + m->gl.out_w, g + m->gl.out_b, da, hlast,
			   p + m->gl.out_w, B, gh, A);
	for (int l = L - 1; l >= 0; l--) {
		size_t o = (size_t)l * m->cap * gh;
		struct ns_bn_cache bc = {m->bn_xhat + o,
					 m->bn_rstd + (size_t)l * gh};
		float *dr = m->dtmp;
		memset(dr, 0, (size_t)B * gh * sizeof(float));
		ns_bn_backward(dr, g + m->gl.bn_g[l], g + m->gl.bn_b[l], dx,
			       &bc, p + m->gl.bn_g[l], B, gh);
		ns_relu_backward(dr, dr, m->mlp_a + o, (size_t)B * gh);
		int in = l ? gh : c->attr_noise;
		const float *xin = l ? m->mlp_h + o - (size_t)m->cap * gh
				     : m->z_a;
		if (l)
			memset(dx, 0, (size_t)B * gh * sizeof(float));
		ns_linear_backward(l ? dx : NULL, g + m->gl.mlp_w[l],
				   g + m->gl.mlp_b[l], dr, xin,
				   p + m->gl.mlp_w[l], B, in, gh);
	}
}

/* G's loss on the last forward; with grad, its gradient into G.g. */
static float
gen_loss_backward(struct ns_dg *m, int grad)
{
	const struct ns_dg_config *c = &m->cfg;
	int B = c->batch;
	assemble_fake(m, B, B, m->xd, m->xda);
	ns_disc_forward(&m->disc, m->D.p, m->xd, B);
	ns_disc_forward(&m->disc_a, m->Da.p, m->xda, B);
	double gl = 0;
	for (int b = 0; b < B; b++)
		gl -= m->disc.out[b] + c->g_attr_d_coe * m->disc_a.out[b];
	if (!grad)
		return (float)(gl / B);
	for (int b = 0; b < B; b++)
		m->dout[b] = -1.0f / B;
	ns_disc_backward(&m->disc, m->D.p, m->D.g, m->dout, m->xd, B, 0,
			 m->dxd);
	for (int b = 0; b < B; b++)
		m->dout[b] = -c->g_attr_d_coe / B;
	ns_disc_backward(&m->disc_a, m->Da.p, m->Da.g, m->dout, m->xda, B, 0,
			 m->dxda);
	memset(m->G.g, 0, m->G.n * sizeof(float));
	gen_backward(m, B);
	return (float)(gl / B);
}

float
ns_dg_gen_loss(struct ns_dg *m, int grad)
{
	gen_forward(m, m->cfg.batch, 1, 0, NULL);
	return gen_loss_backward(m, grad);
}

/* Plain: one uniform batch of B flows for every round, fresh fakes per
 * round shared by D and D_a. DP: every update of D and of D_a draws its
 * own Poisson sample, so each is one sampled Gaussian mechanism. */
void
ns_dg_train_step(struct ns_dg *m, const struct ns_dataset *ds,
		 struct ns_dg_losses *loss)
{
	const struct ns_dg_config *c = &m->cfg;
	int B = c->batch, Din = m->Din, A = m->A;
	if (!c->dp) {
		for (int b = 0; b < B; b++)
			m->pick[b] =
				(uint32_t)(ns_rng_u64(&m->rng) % ds->n_flows);
		assemble_real(m, ds, m->pick, B, m->xd + (size_t)B * Din,
			      m->xda + (size_t)B * A);
	}
	for (int r = 0; r < c->d_rounds; r++) {
		long t = m->step * c->d_rounds + r + 1;
		int nd = B, na = B;
		if (c->dp) {
			nd = poisson_sample(m, ds, m->pick);
			na = poisson_sample(m, ds, m->pick_a);
		}
		int rows = nd > na ? nd : na;
		if (rows < 2)
			rows = 2;
		gen_forward(m, rows, 1, 0, NULL);
		assemble_fake(m, rows, nd, m->xd, NULL);
		assemble_fake(m, rows, na, NULL, m->xda);
		if (c->dp) {
			assemble_real(m, ds, m->pick, nd,
				      m->xd + (size_t)nd * Din, NULL);
			assemble_real(m, ds, m->pick_a, na, NULL,
				      m->xda + (size_t)na * A);
		}
		loss->d_wdist = disc_update(m, &m->disc, &m->D, m->xd, Din, nd,
					    t, &loss->d_gp);
		loss->da_wdist = disc_update(m, &m->disc_a, &m->Da, m->xda, A,
					     na, t, &loss->da_gp);
	}

	gen_forward(m, B, 1, 1, NULL);
	loss->g_loss = gen_loss_backward(m, 1);
	m->step++;
	ns_adam_update(m->G.p, m->G.g, m->G.m, m->G.v, m->G.n, c->lr_g,
		       c->beta1, c->beta2, c->adam_eps, m->step);
}

/* The LSTM and record heads for generation, one step at a time over
 * the rows still going: a row leaves once one of its records says
 * "end". Most flows are short, so later steps take a few rows. Each
 * row computes what gen_forward would for it. */
static void
gen_features_sample(struct ns_dg *m, int B, struct gen_scratch *w)
{
	const struct ns_dg_config *c = &m->cfg;
	int A = m->A, H = c->lstm_units, T = m->T, S = m->S, F = m->F;
	int F2 = m->F2, I = A + c->feat_noise, N = c->feat_noise;
	int K = N + H, G4 = 4 * H, SF = S * F2;
	const float *p = m->G.p;
	const float *lw = p + m->gl.lstm_w, *lb = p + m->gl.lstm_b;
	memset(m->feat_out, 0, (size_t)T * B * SF * sizeof(float));
	for (int r = 0; r < B; r++) {
		w->row[r] = r;
		memcpy(w->pre + (size_t)r * G4, lb, (size_t)G4 * sizeof(float));
	}
	ns_gemm(0, 0, B, G4, A, 1.0f, m->attr_hard, A, lw, G4, 1.0f, w->pre,
		G4);
	memcpy(w->h, m->h0, (size_t)B * H * sizeof(float));
	memcpy(w->c, m->c0, (size_t)B * H * sizeof(float));
	int n = B;
	for (int t = 0; t < T && n > 0; t++) {
		for (int r = 0; r < n; r++) {
			const float *x =
			    m->lstm_x + ((size_t)t * B + w->row[r]) * I + A;
			float *xh = w->xh + (size_t)r * K;
			memcpy(xh, x, (size_t)N * sizeof(float));
			memcpy(xh + N, w->h + (size_t)r * H,
			       (size_t)H * sizeof(float));
		}
		memcpy(w->g, w->pre, (size_t)n * G4 * sizeof(float));
		ns_gemm(0, 0, n, G4, K, 1.0f, w->xh, K, lw + (size_t)A * G4,
			G4, 1.0f, w->g, G4);
		ns_lstm_step(w->g, w->c, w->h, w->tc, n, H);
		ns_linear_forward(w->logit, w->h, p + m->gl.feat_w,
				  p + m->gl.feat_b, n, H, SF);
		ns_heads_forward(w->out, w->logit, &m->step_heads, n);
		int kept = 0;
		for (int r = 0; r < n; r++) {
			const float *o = w->out + (size_t)r * SF;
			memcpy(m->feat_out + ((size_t)t * B + w->row[r]) * SF,
			       o, (size_t)SF * sizeof(float));
			int on = 1;
			for (int s = 0; s < S && on; s++)
				on = o[(size_t)s * F2 + F + GEN_FLAG_CONTINUE] >=
				     o[(size_t)s * F2 + F + 1 - GEN_FLAG_CONTINUE];
			if (!on)
				continue;
			if (kept != r) { /* rows move down, in order */
				w->row[kept] = w->row[r];
				memmove(w->pre + (size_t)kept * G4,
					w->pre + (size_t)r * G4,
					(size_t)G4 * sizeof(float));
				memmove(w->h + (size_t)kept * H,
					w->h + (size_t)r * H,
					(size_t)H * sizeof(float));
				memmove(w->c + (size_t)kept * H,
					w->c + (size_t)r * H,
					(size_t)H * sizeof(float));
			}
			kept++;
		}
		n = kept;
	}
}

static void
gen_scratch_free(struct gen_scratch *w)
{
	free(w->row);
	free(w->pre); /* every float array lives in this one block */
}

/* One block carved into the float arrays, and the row list. */
static int
gen_scratch_alloc(struct gen_scratch *w, const struct ns_dg *m, int B)
{
	size_t H = (size_t)m->cfg.lstm_units, b = (size_t)B;
	size_t SF = (size_t)m->S * m->F2, N = (size_t)m->cfg.feat_noise;
	size_t len[] = {b * 4 * H, b * 4 * H, b * H, b * H,
			b * (N + H), H, b * SF, b * SF};
	float **part[] = {&w->pre, &w->g, &w->h, &w->c,
			  &w->xh, &w->tc, &w->logit, &w->out};
	size_t total = 0;
	for (size_t k = 0; k < sizeof(len) / sizeof(*len); k++)
		total += len[k];
	*w = (struct gen_scratch){0};
	w->row = malloc(b * sizeof(int));
	float *mem = malloc(total * sizeof(float));
	if (!w->row || !mem) {
		free(w->row);
		free(mem);
		return -1;
	}
	for (size_t k = 0; k < sizeof(len) / sizeof(*len); k++) {
		*part[k] = mem;
		mem += len[k];
	}
	return 0;
}

void
ns_dg_generate(struct ns_dg *m, size_t n, float *attr, float *feat,
	       uint32_t *lengths)
{
	int B = m->cfg.batch, T = m->T, S = m->S, F = m->F, F2 = m->F2;
	int A = m->A;
	struct gen_scratch w, *sample = &w;
	if (m->gen_whole || gen_scratch_alloc(&w, m, B))
		sample = NULL; /* the whole-sequence pass needs no more */
	for (size_t done = 0; done < n;) {
		int rows = n - done < (size_t)B ? (int)(n - done) : B;
		/* BatchNorm in eval mode does not depend on the row count,
		 * but run full batches to keep shapes fixed */
		gen_forward(m, B, 0, 0, sample);
		for (int b = 0; b < rows; b++) {
			size_t i = done + (size_t)b;
			memcpy(attr + i * A, m->attr_soft + (size_t)b * A,
			       (size_t)A * sizeof(float));
			uint32_t len = 0;
			int on = 1;
			for (int t = 0; t < T; t++) {
				for (int s = 0; s < S; s++) {
					const float *rec =
						m->feat_out +
						(((size_t)t * B + b) * S + s) *
							F2;
					float *dst = feat + (i * m->L +
							     (size_t)t * S + s) *
								    F;
					memcpy(dst, rec, (size_t)F * sizeof(float));
					if (!on)
						continue;
					len++;
					if (!(rec[F + GEN_FLAG_CONTINUE] >=
					      rec[F + 1 - GEN_FLAG_CONTINUE]))
						on = 0;
				}
			}
			lengths[i] = len;
		}
		done += (size_t)rows;
	}
	if (sample)
		gen_scratch_free(sample);
}
