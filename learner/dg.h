/* DoppelGANger as NetShare configures it (../shared/reference/netshare.md
 * §4): an MLP attribute generator with BatchNorm, an LSTM feature
 * generator emitting S records per step, a main discriminator on
 * attributes+features and an auxiliary one on attributes, WGAN-GP. */
#ifndef NETSHARE_DG_H
#define NETSHARE_DG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "disc.h"
#include "netshare/encode.h"
#include "nn.h"

struct ns_dg_config {
	int attr_noise;		/* z_a width (5) */
	int feat_noise;		/* z_f width per step (5) */
	int gen_hidden;		/* attribute MLP width (512) */
	int gen_layers;		/* attribute MLP hidden layers (4) */
	int lstm_units;		/* (100) */
	int disc_hidden;	/* (512) */
	int disc_layers;	/* hidden layers of D and D_a (4) */
	int sample_len;		/* S records per LSTM step */
	int batch;		/* flows per batch (100) */
	int d_rounds;		/* D and D_a steps per G step (5) */
	float lr_g, lr_d;	/* Adam (1e-4) */
	float beta1, beta2, adam_eps; /* (0.5, 0.999, 1e-8) */
	float gp_lambda;	/* (10) */
	float g_attr_d_coe;	/* weight of D_a in the G loss (1) */
	float init_sd;		/* N(0, sd²) dense init (0.02) */
	float bn_decay;		/* running = decay·running + (1-decay)·batch */
	long iterations;	/* generator steps */
	uint64_t seed;
	/* DP-SGD on D and D_a (netshare.md §6.1): each discriminator update
	 * draws its own Poisson sample of flows (rate batch / flows), clips
	 * every example's gradient to dp_clip and adds N(0, (dp_noise ·
	 * dp_clip)²) to the sum; the generator sees data only through them */
	int dp;
	float dp_noise;		/* noise multiplier sigma */
	float dp_clip;		/* C; 0 = no clipping (only with dp_noise 0) */
};

/* NetShare's paper sizes. */
void ns_dg_config_paper(struct ns_dg_config *c);

/* Offsets of one network's tensors inside its parameter block. */
struct ns_gen_layout {
	size_t mlp_w[8], mlp_b[8], bn_g[8], bn_b[8];
	size_t out_w, out_b;
	size_t lstm_w, lstm_b;
	size_t feat_w, feat_b;
	size_t n;
};

/* One parameter family: values, gradients and Adam moments in one
 * allocation. */
struct ns_params {
	size_t n;
	float *p, *g, *m, *v;
};

struct ns_dg {
	struct ns_dg_config cfg;
	int A;		/* attribute width */
	int F;		/* feature width per record, without the gen flag */
	int F2;		/* F + 2 */
	int S, T, L;	/* records per step, steps, L = S·T */
	int Din;	/* D's input width: L·F2 + A */
	int cap;	/* rows the workspace holds: batch, or under DP the
			   most a Poisson sample may draw (see ns_dg_init) */
	struct ns_layout attr_layout;
	struct ns_layout rec_layout; /* feature heads + gen flag (2) */
	struct ns_gen_layout gl;
	struct ns_params G, D, Da;
	float *bn_running;	/* (gen_layers, 2, gen_hidden) mean, var */
	long step;		/* generator steps done */
	int reuse_noise;	/* keep the last noise (gradient checks) */
	int gen_whole;		/* generation runs every LSTM step on every
				   row, as training does (tests) */
	size_t gen_flows;	/* flows of the last ns_dg_generate_records */
	struct ns_rng rng;
	struct ns_disc disc, disc_a;
	float *ws;		/* workspace, see dg.c */
	size_t ws_floats;
	/* views into ws, sized for `batch` rows */
	float *z_a, *mlp_a, *mlp_r, *mlp_h, *bn_xhat, *bn_rstd;
	float *attr_logit, *attr_soft, *attr_hard;
	float *lstm_x, *h0, *c0, *lstm_mem, *lstm_scratch;
	float *feat_logit, *feat_out, *block_on;
	float *xd, *xda, *dout, *dxd, *dxda, *dtmp, *dtmp2, *dfeat, *dh;
	float *flags;	/* (L, 2) scratch for real gen flags */
	uint32_t *pick;	/* (cap) real flows of this iteration (D) */
	uint32_t *pick_a; /* (cap) D_a's own sample under DP */
	long dp_updates;	/* private discriminator updates done */
	long dp_overflows;	/* Poisson samples cut to cap (see dg.c) */
	struct ns_lstm_cache lstm;
	uint8_t *head_act;  /* expanded head tables for ns_heads */
	uint16_t *head_dim;
	struct ns_heads attr_heads, step_heads;
};

/* Build a model for an encoder's layouts and a maximum flow length.
 * Returns 0 or -1 with a message. */
int ns_dg_init(struct ns_dg *m, const struct ns_dg_config *cfg,
	       const struct ns_encoder *enc, uint32_t max_len, char *err,
	       size_t errlen);
void ns_dg_free(struct ns_dg *m);
/* Fresh weights from cfg.seed. */
void ns_dg_init_weights(struct ns_dg *m);

struct ns_dg_losses {
	float d_wdist;	/* mean D(real) − mean D(fake), last round */
	float d_gp;
	float da_wdist;
	float da_gp;
	float g_loss;
};

/* One iteration: d_rounds × (D step, D_a step) on one real batch, then
 * one G step. */
void ns_dg_train_step(struct ns_dg *m, const struct ns_dataset *ds,
		      struct ns_dg_losses *loss);

/* One discriminator update (which: 0 D, 1 D_a) on real flows
 * picks[0..n), n <= m->cap, with n fresh fakes: the building block of
 * ns_dg_train_step, plain or DP-SGD as m->cfg.dp says. Returns the
 * Wasserstein estimate; *gp gets the mean penalty. */
float ns_dg_disc_update(struct ns_dg *m, const struct ns_dataset *ds,
			int which, const uint32_t *picks, int n, float *gp);

/* Rows a DP model's workspace holds for an expected batch B: a Poisson
 * sample exceeds it with probability below e^-60 per draw. */
int ns_dg_dp_capacity(int batch);

/* The generator loss −mean D(G) − coe·mean D_a(G) for the current noise
 * (reuse_noise set), with its gradient in m->G.g when grad is set. */
float ns_dg_gen_loss(struct ns_dg *m, int grad);

/* Generate n flows with BatchNorm in eval mode: attr (n, A),
 * feat (n, L, F) without gen flags, lengths (n). The LSTM stops for a
 * flow at the step holding its last record; later records are zeros
 * (unless gen_whole). */
void ns_dg_generate(struct ns_dg *m, size_t n, float *attr, float *feat,
		    uint32_t *lengths);

/* Generate and decode flows until `count` records (flow records, or
 * packets for a packet model) are in pkts or flows (the one matching
 * enc->is_packets), cut to exactly count, in generation order. Uses a
 * second thread for decoding and one BLAS thread. progress: a stream for
 * a progress line, or NULL. Sets m->gen_flows to the number of flows
 * the records come from. Returns 0 or -1 (out of memory). */
int ns_dg_generate_records(struct ns_dg *m, const struct ns_encoder *enc,
			   size_t count, struct ns_pkt_trace *pkts,
			   struct ns_flow_trace *flows, FILE *progress);

#endif
