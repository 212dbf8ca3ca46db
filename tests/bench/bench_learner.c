/* Learner benchmark, one run: the sgemm peak of this machine, training
 * iteration time and achieved GFLOP/s of the default config against that
 * peak, generation rate, and peak memory for a 100 k-flow training set.
 * Prints figures; asserts nothing about speed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dg.h"
#include "netshare/ingest.h"
#include "nn.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* VmHWM (peak resident set) in MiB. */
static double
peak_rss_mib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %lf kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb / 1024;
}

static double
sgemm_peak(void)
{
	int n = 1024;
	float *a = malloc((size_t)n * n * sizeof(float));
	float *b = malloc((size_t)n * n * sizeof(float));
	float *c = malloc((size_t)n * n * sizeof(float));
	struct ns_rng r;
	ns_rng_seed(&r, 1);
	ns_rng_fill_normal(&r, a, (size_t)n * n, 1);
	ns_rng_fill_normal(&r, b, (size_t)n * n, 1);
	double best = 1e9;
	for (int k = 0; k < 6; k++) {
		double t = now_s();
		ns_gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
		t = now_s() - t;
		if (t < best)
			best = t;
	}
	free(a), free(b), free(c);
	return 2.0 * n * n * n / best / 1e9;
}

/* n synthetic flows with many hosts and ports (for the memory figure). */
static void
synthetic_flows(struct ns_flow_trace *t, size_t n)
{
	struct ns_rng r;
	ns_rng_seed(&r, 7);
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		struct ns_flow_record f;
		memset(&f, 0, sizeof(f));
		ns_addr_from_v4(f.src_addr, 0x0A000000u +
						    (uint32_t)(ns_rng_u64(&r) % 5000));
		ns_addr_from_v4(f.dst_addr, 0xC0A80000u +
						    (uint32_t)(ns_rng_u64(&r) % 2000));
		f.ip_version = 4;
		f.src_port = (uint16_t)(1024 + ns_rng_u64(&r) % 60000);
		f.dst_port = (uint16_t)(ns_rng_u64(&r) % 4 ? 443 : 53);
		f.proto = f.dst_port == 53 ? 17 : 6;
		f.first_ns = i * 1000000ull;
		f.last_ns = f.first_ns + ns_rng_u64(&r) % 1000000000ull;
		f.packets = 1 + ns_rng_u64(&r) % 100;
		f.bytes = f.packets * (40 + ns_rng_u64(&r) % 1460);
		f.label = NS_LABEL_NONE;
		ns_flow_trace_push(t, &f);
	}
}

/* Train the default config on a trace for `seconds`; print the figures. */
static void
bench_training(const char *name, struct ns_input *in, double seconds,
	       double peak)
{
	struct ns_learner_config cfg;
	ns_learner_config_default(&cfg);
	struct ns_encoder enc;
	struct ns_dataset ds;
	char err[256];
	if (ns_encode_fit(&cfg.enc, in->is_packets ? &in->pkts : NULL,
			  in->is_packets ? NULL : &in->flows, &enc, &ds, err,
			  sizeof(err))) {
		printf("%s: %s\n", name, err);
		return;
	}
	struct ns_dg m;
	if (ns_dg_init(&m, &cfg.model, &enc, ds.max_len, err, sizeof(err))) {
		printf("%s: %s\n", name, err);
		return;
	}
	struct ns_dg_losses l;
	ns_dg_train_step(&m, &ds, &l); /* warm up */
	ns_gemm_reset_flops();
	long iters = 0;
	double t0 = now_s(), t;
	do {
		ns_dg_train_step(&m, &ds, &l);
		iters++;
		t = now_s() - t0;
	} while (t < seconds);
	double flops = (double)ns_gemm_flops();
	double gfs = flops / t / 1e9;
	printf("train %-22s %7.1f ms/iter  %6.2f GFLOP/s in sgemm = %5.1f %% "
	       "of peak  (%ld iters, A=%d F=%d L=%d, %.0f MFLOP/iter)\n",
	       name, 1e3 * t / iters, gfs, 100 * gfs / peak, iters, m.A, m.F,
	       m.L, flops / iters / 1e6);

	size_t n = 100000;
	struct ns_pkt_trace pk = {0};
	struct ns_flow_trace fl;
	memset(&fl, 0, sizeof(fl));
	t0 = now_s();
	ns_dg_generate_records(&m, &enc, n, &pk, &fl, NULL);
	t = now_s() - t0;
	printf("generate %-19s %9.0f records/s %9.0f flows/s (%zu %s from "
	       "%zu flows: generator and decoder threads; target >= 50000 "
	       "flows/s)\n",
	       name, n / t, m.gen_flows / t, n,
	       enc.is_packets ? "packets" : "flow records", m.gen_flows);
	ns_pkt_trace_free(&pk);
	ns_flow_trace_free(&fl);
	ns_dg_free(&m);
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);
}

int
main(int argc, char **argv)
{
	const char *data = getenv("NS_SHARED_DATA");
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	double peak = sgemm_peak();
	printf("sgemm peak (1024^3, best of 6): %.1f GFLOP/s\n", peak);

	char path[4096];
	const char *inputs[] = {"netflow/ugr16-small.csv",
				"pcap/caida-small.pcapng"};
	for (int i = 0; i < 2 && data; i++) {
		snprintf(path, sizeof(path), "%s/%s", data, inputs[i]);
		struct ns_input in;
		ns_input_init(&in);
		if (ns_input_load(&in, path, NS_FMT_UNKNOWN, 0, 1) == 0)
			bench_training(inputs[i], &in, seconds, peak);
		else
			printf("%s: not readable, skipped\n", path);
		ns_input_free(&in);
	}

	/* memory: a 100 k-flow training set, encoded and trained */
	double before = peak_rss_mib();
	struct ns_input syn;
	ns_input_init(&syn);
	synthetic_flows(&syn.flows, 100000);
	bench_training("synthetic 100k flows", &syn, seconds / 2, peak);
	printf("peak memory with a 100k-flow training set: %.0f MiB "
	       "(process before it: %.0f MiB; target <= 2048)\n",
	       peak_rss_mib(), before);
	ns_input_free(&syn);
	return 0;
}
