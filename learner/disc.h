/* ReLU MLP discriminator with a scalar output, its WGAN-GP gradient
 * penalty differentiated analytically (../shared/reference/gan-math.md):
 * one forward, one input-gradient pass, one tangent pass. */
#ifndef NETSHARE_DISC_H
#define NETSHARE_DISC_H

#include <stddef.h>

/* Parameter layout in one block: for l in 0..layers-1: W_l (n_l, hid),
 * b_l (hid); then w_out (hid), c (1). n_0 = in, n_l = hid after. */
struct ns_disc {
	int in, hid, layers;
	int max_rows;
	size_t n_params;
	/* workspace for up to max_rows rows */
	float *a;	/* (layers, max_rows, hid) pre-activations */
	float *h;	/* (layers, max_rows, hid) post-ReLU */
	float *e;	/* (layers, max_rows, hid) deltas dOut/da */
	float *gin;	/* (max_rows, in) input gradients */
	float *r0;	/* (max_rows, max(in, hid)) tangent ping */
	float *r1;	/* (max_rows, max(in, hid)) tangent pong */
	float *out;	/* (max_rows) */
	float *tan;	/* tangents r_0 (max_rows, in), r_1..r_L (max_rows,
			   hid) of ns_disc_example_grads */
	float *scale;	/* (max_rows) per-row factors */
	float *mem;
};

size_t ns_disc_param_count(int in, int hid, int layers);
int ns_disc_init(struct ns_disc *d, int in, int hid, int layers,
		 int max_rows);
void ns_disc_free(struct ns_disc *d);

/* N(0, sd²) weights, zero biases. */
struct ns_rng;
void ns_disc_init_params(const struct ns_disc *d, float *p,
			 struct ns_rng *rng, float sd);

/* out (rows) = D(x (rows, in)); also kept in d->out. */
void ns_disc_forward(struct ns_disc *d, const float *p, const float *x,
		     int rows);

/* Backprop dout (rows) through the last forward. Parameter gradients
 * are accumulated into g from the first grad_rows rows only; deltas
 * are kept for all rows (the penalty uses them). dx (rows, in) is
 * written when non-NULL. */
void ns_disc_backward(struct ns_disc *d, const float *p, float *g,
		      const float *dout, const float *x, int rows,
		      int grad_rows, float *dx);

/* Gradient penalty over rows [first, first+n) of the last forward, whose
 * backward ran with dout = 1 on those rows: returns
 * mean_i lambda·(‖∇x D(x_i)‖ − 1)² over n·scale_rows... precisely
 * Σ_i lambda·(‖g_i‖ − 1)² / n, and adds its parameter gradient to g. */
float ns_disc_penalty(struct ns_disc *d, const float *p, float *g, int first,
		      int n, float lambda);

/* The WGAN-GP step's gradient as a sum over examples, for plain and
 * DP-SGD steps alike (../shared/reference/gan-math.md). x holds rows
 * [fake; real; interp] (3n, in), interp already filled. Example i's loss
 * is l_i = D(fake_i) - D(real_i) + lambda (|grad_x D(interp_i)| - 1)^2.
 * Adds sum_i c_i grad l_i to g, where c_i = min(1, clip / |grad l_i|);
 * clip <= 0 or infinite means c_i = 1. norms (n), when non-NULL, gets
 * |grad l_i| before clipping, taken from Gram matrices of the deltas and
 * activations (no per-example gradient is formed); the norms are also
 * computed whenever clip is finite. n <= max_rows / 3. Returns the sum
 * of the penalties; d->out holds D of the 3n rows. */
float ns_disc_example_grads(struct ns_disc *d, const float *p, float *g,
			    const float *x, int n, float lambda, float clip,
			    float *norms);

#endif
