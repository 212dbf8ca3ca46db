/* DP-SGD and the continuous learner's pace, measured in one run:
 *  1. a DP iteration (per-example clipping on D and D_a, Gaussian noise,
 *     a Poisson sample per update) against a plain iteration of the same
 *     model and data: the ratio (target <= 2);
 *  2. a 5-minute block of the embedded default trace (tests/data/real.pcap,
 *     metered into flows) fine-tuned from a seed for the default
 *     fine_tune_fraction of the iterations, on this machine's cores: the
 *     time against the block's 300 s (target <= 300 s, training keeps up
 *     with the wire).
 * Usage: bench_dpsgd [SECONDS per timing, default 10] */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dg.h"
#include "netshare/encode.h"
#include "netshare/ingest.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ms per iteration over about `seconds` */
static double
time_iterations(struct ns_dg *m, const struct ns_dataset *ds, double seconds,
		long *iters)
{
	struct ns_dg_losses l;
	ns_dg_train_step(m, ds, &l); /* warm up */
	long n = 0;
	double t0 = now_s(), t;
	do {
		ns_dg_train_step(m, ds, &l);
		n++;
		t = now_s() - t0;
	} while (t < seconds);
	*iters = n;
	return 1e3 * t / (double)n;
}

/* The flows of [t0, t1) of a trace. */
static void
window(const struct ns_flow_trace *all, uint64_t t0, uint64_t t1,
       struct ns_flow_trace *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < all->n; i++)
		if (all->v[i].first_ns >= t0 && all->v[i].first_ns < t1)
			ns_flow_trace_push(out, &all->v[i]);
}

int
main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	const char *root = getenv("NS_SOURCE_ROOT");
	char path[4096];
	snprintf(path, sizeof(path), "%s/tests/data/real.pcap",
		 root ? root : ".");
	struct ns_input in;
	ns_input_init(&in);
	if (ns_input_load(&in, path, NS_FMT_UNKNOWN, 0, 1)) {
		printf("%s: not readable (run tools/setup-deps.sh), skipped\n",
		       path);
		return 0;
	}
	struct ns_flow_trace flows;
	struct ns_meter_config mc;
	struct ns_meter_stats ms;
	ns_meter_config_default(&mc);
	memset(&flows, 0, sizeof(flows));
	ns_meter_trace(&in.pkts, &mc, &flows, &ms);
	uint64_t t0 = UINT64_MAX;
	for (size_t i = 0; i < flows.n; i++)
		if (flows.v[i].first_ns < t0)
			t0 = flows.v[i].first_ns;
	const uint64_t block = 300ull * 1000000000ull;
	t0 = t0 / block * block; /* epoch-aligned, as the learner cuts */
	struct ns_flow_trace b0, b1;
	window(&flows, t0 + block, t0 + 2 * block, &b0); /* first full block */
	window(&flows, t0 + 2 * block, t0 + 3 * block, &b1);
	printf("real.pcap: %zu flows; seed block %zu flows, fine-tuned block "
	       "%zu flows\n", flows.n, b0.n, b1.n);

	struct ns_learner_config cfg;
	ns_learner_config_default(&cfg);
	struct ns_encoder enc;
	struct ns_dataset ds0, ds1;
	struct ns_apply_stats st;
	char err[256];
	if (ns_encode_fit(&cfg.enc, NULL, &b0, &enc, &ds0, err, sizeof(err)) ||
	    ns_encode_apply(&enc, t0 + 2 * block, t0 + 3 * block, NULL, &b1,
			    &ds1, &st, err, sizeof(err))) {
		printf("encode: %s\n", err);
		return 1;
	}

	/* 1. DP against plain, same model and data */
	struct ns_dg plain, dp;
	struct ns_dg_config dc = cfg.model;
	dc.dp = 1;
	dc.dp_noise = 1.0f;
	dc.dp_clip = 1.0f;
	if (ns_dg_init(&plain, &cfg.model, &enc, enc.max_flow_len, err,
		       sizeof(err)) ||
	    ns_dg_init(&dp, &dc, &enc, enc.max_flow_len, err, sizeof(err))) {
		printf("model: %s\n", err);
		return 1;
	}
	/* alternate, best of three each: the VM's speed drifts */
	long ip = 0, id = 0, n;
	double mp = INFINITY, md = INFINITY;
	for (int r = 0; r < 3; r++) {
		double a = time_iterations(&plain, &ds0, seconds / 3, &n);
		ip += n;
		mp = a < mp ? a : mp;
		double b = time_iterations(&dp, &ds0, seconds / 3, &n);
		id += n;
		md = b < md ? b : md;
	}
	printf("iteration, default model (batch %d, d_rounds %d, %zu flows): "
	       "plain %.1f ms (%ld), DP-SGD %.1f ms (%ld), best of 3 "
	       "alternating runs: ratio %.2f "
	       "(target <= 2; D has %zu and D_a %zu parameters)\n",
	       cfg.model.batch, cfg.model.d_rounds, ds0.n_flows, mp, ip, md,
	       id, md / mp, plain.D.n, plain.Da.n);

	/* 2. fine-tune a 5-minute block from the seed: the learner's step */
	long ft = (long)ceil(cfg.cont.fine_tune_fraction *
			     (double)cfg.model.iterations);
	struct ns_dg m;
	ns_dg_init(&m, &cfg.model, &enc, enc.max_flow_len, err, sizeof(err));
	memcpy(m.G.p, plain.G.p, 4 * plain.G.n * sizeof(float));
	memcpy(m.D.p, plain.D.p, 4 * plain.D.n * sizeof(float));
	memcpy(m.Da.p, plain.Da.p, 4 * plain.Da.n * sizeof(float));
	struct ns_dg_losses l;
	double t = now_s();
	for (long k = 0; k < ft; k++)
		ns_dg_train_step(&m, &ds1, &l);
	t = now_s() - t;
	printf("fine-tune one 300 s block of real.pcap: %ld iterations in "
	       "%.1f s with %d BLAS threads = %.2f of the block's duration "
	       "(target <= 1.00: training keeps up with the wire)\n",
	       ft, t, openblas_get_num_threads(), t / 300.0);
	ns_dg_free(&m);
	ns_dg_free(&plain);
	ns_dg_free(&dp);
	ns_dataset_free(&ds0);
	ns_dataset_free(&ds1);
	ns_encoder_free(&enc);
	ns_flow_trace_free(&b0);
	ns_flow_trace_free(&b1);
	ns_flow_trace_free(&flows);
	ns_input_free(&in);
	return 0;
}
