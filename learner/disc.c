/* ReLU MLP discriminator and its analytic gradient penalty. */
#include "disc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

#define GP_EPS 1e-8f

size_t
ns_disc_param_count(int in, int hid, int layers)
{
	size_t n = 0, prev = (size_t)in;
	for (int l = 0; l < layers; l++) {
		n += prev * (size_t)hid + (size_t)hid;
		prev = (size_t)hid;
	}
	return n + (size_t)hid + 1;
}

/* Pointers to layer l's weights and bias inside a parameter block. */
static float *
layer_w(const struct ns_disc *d, const float *p, int l)
{
	size_t off = 0, prev = (size_t)d->in;
	for (int k = 0; k < l; k++) {
		off += prev * (size_t)d->hid + (size_t)d->hid;
		prev = (size_t)d->hid;
	}
	return (float *)p + off;
}

static int
layer_in(const struct ns_disc *d, int l)
{
	return l == 0 ? d->in : d->hid;
}

static float *
out_w(const struct ns_disc *d, const float *p)
{
	return (float *)p + d->n_params - (size_t)d->hid - 1;
}

int
ns_disc_init(struct ns_disc *d, int in, int hid, int layers, int max_rows)
{
	memset(d, 0, sizeof(*d));
	if (in < 1 || hid < 1 || layers < 1 || max_rows < 1)
		return -1;
	d->in = in;
	d->hid = hid;
	d->layers = layers;
	d->max_rows = max_rows;
	d->n_params = ns_disc_param_count(in, hid, layers);
	size_t R = (size_t)max_rows, Hh = (size_t)hid;
	size_t wide = (size_t)(in > hid ? in : hid);
	size_t total = 3 * (size_t)layers * R * Hh + R * (size_t)in +
		       2 * R * wide + R + R * (size_t)in +
		       (size_t)layers * R * Hh + R;
	d->mem = calloc(total, sizeof(float));
	if (!d->mem)
		return -1;
	float *m = d->mem;
	d->a = m;
	m += (size_t)layers * R * Hh;
	d->h = m;
	m += (size_t)layers * R * Hh;
	d->e = m;
	m += (size_t)layers * R * Hh;
	d->gin = m;
	m += R * (size_t)in;
	d->r0 = m;
	m += R * wide;
	d->r1 = m;
	m += R * wide;
	d->out = m;
	m += R;
	d->tan = m;
	m += R * (size_t)in + (size_t)layers * R * Hh;
	d->scale = m;
	return 0;
}

void
ns_disc_free(struct ns_disc *d)
{
	free(d->mem);
	memset(d, 0, sizeof(*d));
}

void
ns_disc_init_params(const struct ns_disc *d, float *p, struct ns_rng *rng,
		    float sd)
{
	memset(p, 0, d->n_params * sizeof(float));
	for (int l = 0; l < d->layers; l++)
		ns_rng_fill_normal(rng, layer_w(d, p, l),
				   (size_t)layer_in(d, l) * d->hid, sd);
	ns_rng_fill_normal(rng, out_w(d, p), (size_t)d->hid, sd);
}

static float *
act(const struct ns_disc *d, float *base, int l)
{
	return base + (size_t)l * d->max_rows * d->hid;
}

void
ns_disc_forward(struct ns_disc *d, const float *p, const float *x, int rows)
{
	const float *in = x;
	int H = d->hid;
	for (int l = 0; l < d->layers; l++) {
		const float *w = layer_w(d, p, l);
		int In = layer_in(d, l);
		float *a = act(d, d->a, l), *h = act(d, d->h, l);
		ns_linear_forward(a, in, w, w + (size_t)In * H, rows, In, H);
		ns_relu_forward(h, a, (size_t)rows * H);
		in = h;
	}
	const float *wo = out_w(d, p);
	for (int r = 0; r < rows; r++) {
		const float *hr = in + (size_t)r * H;
		double s = wo[H];
		for (int j = 0; j < H; j++)
			s += (double)hr[j] * wo[j];
		d->out[r] = (float)s;
	}
}

void
ns_disc_backward(struct ns_disc *d, const float *p, float *g,
		 const float *dout, const float *x, int rows, int grad_rows,
		 float *dx)
{
	int H = d->hid, L = d->layers;
	const float *wo = out_w(d, p);
	float *gwo = out_w(d, g);
	const float *aL = act(d, d->a, L - 1), *hL = act(d, d->h, L - 1);
	float *eL = act(d, d->e, L - 1);
	for (int r = 0; r < rows; r++) {
		const float *ar = aL + (size_t)r * H;
		float *er = eL + (size_t)r * H;
		for (int j = 0; j < H; j++)
			er[j] = ar[j] > 0 ? dout[r] * wo[j] : 0;
	}
	for (int r = 0; r < grad_rows; r++) {
		const float *hr = hL + (size_t)r * H;
		for (int j = 0; j < H; j++)
			gwo[j] += dout[r] * hr[j];
		gwo[H] += dout[r];
	}
	for (int l = L - 1; l >= 0; l--) {
		const float *w = layer_w(d, p, l);
		float *gw = layer_w(d, g, l);
		int In = layer_in(d, l);
		const float *in = l == 0 ? x : act(d, d->h, l - 1);
		float *e = act(d, d->e, l);
		if (grad_rows > 0)
			ns_linear_backward(NULL, gw, gw + (size_t)In * H, e, in,
					   w, grad_rows, In, H);
		if (l > 0) {
			float *ep = act(d, d->e, l - 1);
			const float *ap = act(d, d->a, l - 1);
			memset(ep, 0, (size_t)rows * H * sizeof(float));
			ns_gemm(0, 1, rows, H, H, 1.0f, e, H, w, H, 0.0f, ep,
				H);
			for (size_t k = 0; k < (size_t)rows * H; k++)
				if (ap[k] <= 0)
					ep[k] = 0;
		} else if (dx) {
			ns_gemm(0, 1, rows, In, H, 1.0f, e, H, w, H, 0.0f, dx,
				In);
		}
	}
}

float
ns_disc_penalty(struct ns_disc *d, const float *p, float *g, int first, int n,
		float lambda)
{
	int H = d->hid, L = d->layers, I0 = d->in;
	size_t off = (size_t)first * H;
	/* input gradients of the rows: gin = Z_1 W_1ᵀ */
	ns_gemm(0, 1, n, I0, H, 1.0f, act(d, d->e, 0) + off, H,
		layer_w(d, p, 0), H, 0.0f, d->gin, I0);
	double total = 0;
	float *u = d->r0;
	for (int i = 0; i < n; i++) {
		const float *gi = d->gin + (size_t)i * I0;
		double ss = 0;
		for (int k = 0; k < I0; k++)
			ss += (double)gi[k] * gi[k];
		double norm = sqrt(ss + GP_EPS);
		total += lambda * (norm - 1) * (norm - 1);
		float coef = (float)(2.0 * lambda * (norm - 1) / norm / n);
		for (int k = 0; k < I0; k++)
			u[(size_t)i * I0 + k] = coef * gi[k];
	}
	/* tangent pass with the same masks: r_l = m_l ⊙ (r_{l-1} W_l),
	 * dW_l += r_{l-1}ᵀ Z_l */
	float *r = d->r0, *rn = d->r1;
	for (int l = 0; l < L; l++) {
		int In = layer_in(d, l);
		const float *w = layer_w(d, p, l);
		ns_gemm(1, 0, In, H, n, 1.0f, r, In, act(d, d->e, l) + off, H,
			1.0f, layer_w(d, g, l), H);
		ns_gemm(0, 0, n, H, In, 1.0f, r, In, w, H, 0.0f, rn, H);
		const float *a = act(d, d->a, l) + off;
		for (size_t k = 0; k < (size_t)n * H; k++)
			if (a[k] <= 0)
				rn[k] = 0;
		float *t = r;
		r = rn;
		rn = t;
	}
	float *gwo = out_w(d, g);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < H; j++)
			gwo[j] += r[(size_t)i * H + j];
	return (float)(total / n);
}

/* Tangent r_l of ns_disc_example_grads: r_0 (rows, in), then (rows, hid). */
static float *
tangent(const struct ns_disc *d, int l)
{
	if (l == 0)
		return d->tan;
	return d->tan + (size_t)d->max_rows * d->in +
	       (size_t)(l - 1) * d->max_rows * d->hid;
}

static double
dot(const float *a, const float *b, int n)
{
	double s = 0;
	for (int k = 0; k < n; k++)
		s += (double)a[k] * b[k];
	return s;
}

/* sum_{s,t} (q_s . q_t)(p_s . p_t): the squared Frobenius norm of
 * sum_s q_s p_s^T without forming it. */
static double
outer_sum_norm2(const float *const q[3], int nq, const float *const pv[3],
		int np)
{
	double total = 0;
	for (int s = 0; s < 3; s++)
		for (int t = s; t < 3; t++) {
			double v = dot(q[s], q[t], nq) * dot(pv[s], pv[t], np);
			total += s == t ? v : 2 * v;
		}
	return total;
}

/* |grad l_i|^2 over every parameter: per layer the three rank-one terms
 * (fake, real, penalty) of the weight gradient and the bias gradient
 * e_fake + e_real, then the output weights h_fake - h_real + r_L (the
 * output bias gets 1 - 1 = 0). */
static double
example_norm2(const struct ns_disc *d, const float *x, int n, int i)
{
	int H = d->hid, L = d->layers;
	double total = 0;
	for (int l = 0; l < L; l++) {
		int In = layer_in(d, l);
		const float *q[3], *pv[3];
		if (l == 0) {
			q[0] = x + (size_t)i * In;
			q[1] = x + ((size_t)n + i) * In;
		} else {
			const float *h = act(d, d->h, l - 1);
			q[0] = h + (size_t)i * H;
			q[1] = h + ((size_t)n + i) * H;
		}
		q[2] = tangent(d, l) + (size_t)i * In;
		const float *e = act(d, d->e, l);
		for (int k = 0; k < 3; k++)
			pv[k] = e + ((size_t)k * n + i) * H;
		total += outer_sum_norm2(q, In, pv, H);
		for (int j = 0; j < H; j++) {
			double b = (double)pv[0][j] + pv[1][j];
			total += b * b;
		}
	}
	const float *hL = act(d, d->h, L - 1), *rL = tangent(d, L);
	for (int j = 0; j < H; j++) {
		double w = (double)hL[(size_t)i * H + j] -
			   hL[((size_t)n + i) * H + j] + rL[(size_t)i * H + j];
		total += w * w;
	}
	return total;
}

static void
scale_rows(float *a, const float *c, int rows, int width)
{
	for (int r = 0; r < rows; r++)
		if (c[r] != 1.0f)
			for (int k = 0; k < width; k++)
				a[(size_t)r * width + k] *= c[r];
}

float
ns_disc_example_grads(struct ns_disc *d, const float *p, float *g,
		      const float *x, int n, float lambda, float clip,
		      float *norms)
{
	int H = d->hid, L = d->layers, I0 = d->in;
	int rows = 3 * n;
	float *dout = d->scale;
	for (int i = 0; i < n; i++) {
		dout[i] = 1.0f;
		dout[n + i] = -1.0f;
		dout[2 * n + i] = 1.0f;
	}
	ns_disc_forward(d, p, x, rows);
	/* deltas of every row, no parameter gradient yet */
	ns_disc_backward(d, p, g, dout, x, rows, 0, NULL);

	/* penalty: gin = Z_1 W_1^T at the interpolates, r_0 = dP/dgin */
	size_t off = (size_t)2 * n * H;
	ns_gemm(0, 1, n, I0, H, 1.0f, act(d, d->e, 0) + off, H,
		layer_w(d, p, 0), H, 0.0f, d->gin, I0);
	double pen = 0;
	float *r0 = tangent(d, 0);
	for (int i = 0; i < n; i++) {
		const float *gi = d->gin + (size_t)i * I0;
		double norm = sqrt(dot(gi, gi, I0) + GP_EPS);
		pen += lambda * (norm - 1) * (norm - 1);
		float coef = (float)(2.0 * lambda * (norm - 1) / norm);
		for (int k = 0; k < I0; k++)
			r0[(size_t)i * I0 + k] = coef * gi[k];
	}
	/* tangents with the interpolates' masks: r_l = m_l . (r_{l-1} W_l) */
	for (int l = 0; l < L; l++) {
		float *rn = tangent(d, l + 1);
		ns_gemm(0, 0, n, H, layer_in(d, l), 1.0f, tangent(d, l),
			layer_in(d, l), layer_w(d, p, l), H, 0.0f, rn, H);
		const float *a = act(d, d->a, l) + off;
		for (size_t k = 0; k < (size_t)n * H; k++)
			if (a[k] <= 0)
				rn[k] = 0;
	}

	/* per-example clip factors, folded into the rows */
	int finite = clip > 0 && isfinite(clip);
	float *c = d->scale; /* dout is no longer needed */
	for (int i = 0; i < n; i++) {
		c[i] = 1.0f;
		if (!finite && !norms)
			continue;
		double nrm = sqrt(example_norm2(d, x, n, i));
		if (norms)
			norms[i] = (float)nrm;
		if (finite && nrm > clip)
			c[i] = (float)(clip / nrm);
	}
	for (int l = 0; l < L; l++) {
		float *e = act(d, d->e, l);
		scale_rows(e, c, n, H);
		scale_rows(e + (size_t)n * H, c, n, H);
	}
	for (int l = 0; l <= L; l++)
		scale_rows(tangent(d, l), c, n, l ? H : I0);

	/* the fake and real terms, then the penalty's */
	float *gwo = out_w(d, g);
	const float *hL = act(d, d->h, L - 1);
	for (int l = L - 1; l >= 0; l--) {
		int In = layer_in(d, l);
		float *gw = layer_w(d, g, l);
		const float *in = l == 0 ? x : act(d, d->h, l - 1);
		ns_linear_backward(NULL, gw, gw + (size_t)In * H,
				   act(d, d->e, l), in, NULL, 2 * n, In, H);
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < H; j++)
			gwo[j] += c[i] * (hL[(size_t)i * H + j] -
					  hL[((size_t)n + i) * H + j]);
	for (int l = 0; l < L; l++)
		ns_gemm(1, 0, layer_in(d, l), H, n, 1.0f, tangent(d, l),
			layer_in(d, l), act(d, d->e, l) + off, H, 1.0f,
			layer_w(d, g, l), H);
	const float *rL = tangent(d, L);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < H; j++)
			gwo[j] += rL[(size_t)i * H + j];
	return (float)pen;
}
