/* netshare-train: learn a trace (flow CSV, packet CSV or pcap) with
 * NetShare's DoppelGANger and write a checkpoint. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"
#include "dg.h"
#include "netshare/ingest.h"
#include "netshare/trace.h"

#define STATUS_EVERY_S 2.0 /* --status rewrite period */

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
usage(FILE *f)
{
	fputs("usage: netshare-train --input IN --out MODEL [options]\n"
	      "\n"
	      "Train NetShare's GAN on a trace and write a checkpoint.\n"
	      "IN: flow CSV (NetShare, nfdump, Zeek, Argus), NetShare packet\n"
	      "CSV, or pcap/pcapng (learned as packets).\n"
	      "\n"
	      "Options:\n"
	      "  --config FILE         JSON config (default: built-in, the\n"
	      "                        same as configs/learner-default.json)\n"
	      "  --time-budget SEC     stop after SEC seconds of training\n"
	      "  --iterations N        generator steps (overrides the config)\n"
	      "  --seed S              random seed (overrides the config)\n"
	      "  --resume              continue from MODEL if it exists\n"
	      "  --checkpoint-every SEC  save MODEL every SEC (default 60)\n"
	      "  --from FMT            format of IN (see netshare-convert)\n"
	      "  --status FILE         rewrite FILE (atomically) every 2 s with\n"
	      "                        JSON progress: iteration, losses, it/s,\n"
	      "                        ETA (read by netshare-control)\n"
	      "  --print-config        print the effective config and exit\n"
	      "  -q, --quiet           no progress line\n"
	      "  -h, --help            this help\n"
	      "\n"
	      "SIGINT/SIGTERM stop after the current iteration and save.\n"
	      "Exit status: 0 trained, 1 bad input or failure, 2 usage.\n",
	      f);
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
fmt_eta(char *buf, size_t n, double s)
{
	if (!isfinite(s) || s < 0)
		snprintf(buf, n, "?");
	else if (s < 120)
		snprintf(buf, n, "%.0fs", s);
	else if (s < 7200)
		snprintf(buf, n, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
	else
		snprintf(buf, n, "%.1fh", s / 3600);
}

/* The --status file: one JSON object, replaced atomically. */
static void
write_status(const char *path, const char *state, long step, long total,
	     const struct ns_dg_losses *l, double rate, double eta,
	     double elapsed, const char *input, const char *out)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf),
			 "{\"v\":1,\"state\":\"%s\",\"iteration\":%ld,"
			 "\"iterations\":%ld,\"losses\":{\"d_wdist\":%.6g,"
			 "\"d_gp\":%.6g,\"da_wdist\":%.6g,\"da_gp\":%.6g,"
			 "\"g\":%.6g},\"it_per_s\":%.4g,\"eta_s\":%.1f,"
			 "\"elapsed_s\":%.1f,\"pid\":%ld,\"updated_unix\":"
			 "%ld,\"out\":\"",
			 state, step, total,
			 isfinite(l->d_wdist) ? l->d_wdist : 0.0,
			 isfinite(l->d_gp) ? l->d_gp : 0.0,
			 isfinite(l->da_wdist) ? l->da_wdist : 0.0,
			 isfinite(l->da_gp) ? l->da_gp : 0.0,
			 isfinite(l->g_loss) ? l->g_loss : 0.0,
			 isfinite(rate) ? rate : 0.0,
			 isfinite(eta) && eta > 0 ? eta : 0.0, elapsed,
			 (long)getpid(), (long)time(NULL));
	/* the file names, JSON-escaped */
	for (int k = 0; k < 2; k++) {
		const char *p = k ? input : out;
		for (; *p && n < (int)sizeof(buf) - 16; p++) {
			unsigned char ch = (unsigned char)*p;
			if (ch == '"' || ch == '\\')
				n += snprintf(buf + n, sizeof(buf) - n,
					      "\\%c", ch);
			else if (ch < 0x20)
				n += snprintf(buf + n, sizeof(buf) - n,
					      "\\u%04x", ch);
			else
				buf[n++] = (char)ch;
		}
		n += snprintf(buf + n, sizeof(buf) - n, "%s",
			      k ? "\"}\n" : "\",\"input\":\"");
	}
	if (ns_write_file_atomic(path, buf, (size_t)n))
		fprintf(stderr, "netshare-train: --status %s: %s\n", path,
			strerror(errno));
}

int
main(int argc, char **argv)
{
	const char *input = NULL, *out = NULL, *config = NULL;
	const char *status = NULL;
	double budget = 0, ckpt_every = 60;
	long iterations = -1;
	long long seed = -1;
	int resume = 0, quiet = 0, print_config = 0;
	enum ns_format from = NS_FMT_UNKNOWN;
	static const struct option opts[] = {
		{"input", required_argument, NULL, 'i'},
		{"out", required_argument, NULL, 'o'},
		{"config", required_argument, NULL, 'c'},
		{"time-budget", required_argument, NULL, 'b'},
		{"iterations", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 's'},
		{"resume", no_argument, NULL, 'r'},
		{"checkpoint-every", required_argument, NULL, 'k'},
		{"from", required_argument, NULL, 'f'},
		{"print-config", no_argument, NULL, 'p'},
		{"status", required_argument, NULL, 'S'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'i':
			input = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'b':
			budget = strtod(optarg, &end);
			if (*end || budget <= 0) {
				fprintf(stderr, "netshare-train: --time-budget "
						"takes seconds > 0\n");
				return 2;
			}
			break;
		case 'k':
			ckpt_every = strtod(optarg, &end);
			if (*end || ckpt_every <= 0) {
				fprintf(stderr, "netshare-train: "
						"--checkpoint-every takes "
						"seconds > 0\n");
				return 2;
			}
			break;
		case 'n':
			iterations = strtol(optarg, &end, 10);
			if (*end || iterations < 1) {
				fprintf(stderr, "netshare-train: --iterations "
						"takes a count >= 1\n");
				return 2;
			}
			break;
		case 's':
			seed = strtoll(optarg, &end, 10);
			if (*end || seed < 0) {
				fprintf(stderr, "netshare-train: --seed takes "
						"an integer >= 0\n");
				return 2;
			}
			break;
		case 'r':
			resume = 1;
			break;
		case 'f':
			from = ns_format_from_name(optarg);
			if (from == NS_FMT_UNKNOWN) {
				fprintf(stderr, "netshare-train: unknown "
						"format '%s'\n", optarg);
				return 2;
			}
			break;
		case 'S':
			status = optarg;
			break;
		case 'p':
			print_config = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	char err[512];
	struct ns_learner_config cfg;
	ns_learner_config_default(&cfg);
	if (config && ns_learner_config_load(&cfg, config, err, sizeof(err))) {
		fprintf(stderr, "netshare-train: %s\n", err);
		return 1;
	}
	if (iterations > 0)
		cfg.model.iterations = iterations;
	if (seed >= 0)
		cfg.model.seed = (uint64_t)seed;
	cfg.enc.seed = cfg.model.seed; /* one seed for everything */
	if (print_config) {
		ns_learner_config_print(&cfg, stdout);
		return 0;
	}
	if (!input || !out || optind != argc) {
		usage(stderr);
		return 2;
	}

	struct ns_input in;
	ns_input_init(&in);
	if (ns_input_load(&in, input, from, 0, quiet) != 0) {
		ns_diag_summary(&in.diag, stderr);
		return 1;
	}
	ns_diag_summary(&in.diag, stderr);
	struct ns_encoder enc;
	struct ns_dataset ds;
	double t0 = now_s();
	if (ns_encode_fit(&cfg.enc, in.is_packets ? &in.pkts : NULL,
			  in.is_packets ? NULL : &in.flows, &enc, &ds, err,
			  sizeof(err))) {
		fprintf(stderr, "netshare-train: %s: %s\n", input, err);
		return 1;
	}
	if (!quiet)
		fprintf(stderr, "%s: %zu flows, %zu records, longest %u "
				"(%zu split and %zu cut to %u), encoded in "
				"%.2f s\n",
			input, ds.n_flows, ds.n_records, ds.max_len,
			ds.n_split, ds.n_truncated, cfg.enc.max_flow_len,
			now_s() - t0);

	struct ns_dg m;
	if (resume && access(out, F_OK) == 0) {
		struct ns_learner_config saved;
		struct ns_encoder enc2;
		if (ns_ckpt_load(out, &saved, &m, &enc2, err, sizeof(err))) {
			fprintf(stderr, "netshare-train: cannot resume: %s\n",
				err);
			return 1;
		}
		if (enc2.attr.dim != enc.attr.dim ||
		    enc2.feat.dim != enc.feat.dim) {
			fprintf(stderr, "netshare-train: %s was trained on "
					"data with other dimensions\n", out);
			return 1;
		}
		ns_encoder_free(&enc2);
		long want = cfg.model.iterations;
		cfg = saved; /* the model's own sizes and rates */
		cfg.model.iterations = m.cfg.iterations = want;
		if (!quiet)
			fprintf(stderr, "resuming %s at iteration %ld\n", out,
				m.step);
	} else if (ns_dg_init(&m, &cfg.model, &enc, ds.max_len, err,
			      sizeof(err))) {
		fprintf(stderr, "netshare-train: %s\n", err);
		return 1;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	double start = now_s(), last_print = 0, last_ckpt = start;
	/* a terminal gets one line rewritten every second; a log file a
	 * new line every ten */
	int tty = isatty(STDERR_FILENO);
	double every = tty ? 1 : 10;
	long first = m.step;
	struct ns_dg_losses loss = {0};
	int rc = 0;
	double last_status = -STATUS_EVERY_S;
	if (status)
		write_status(status, "training", m.step, cfg.model.iterations,
			     &loss, 0, NAN, 0, input, out);
	while (m.step < cfg.model.iterations && !stop_requested) {
		ns_dg_train_step(&m, &ds, &loss);
		double t = now_s();
		if (!isfinite(loss.g_loss) || !isfinite(loss.d_wdist)) {
			fprintf(stderr, "\nnetshare-train: training diverged "
					"(non-finite loss) at iteration %ld\n",
				m.step);
			rc = 1;
			break;
		}
		int done = m.step >= cfg.model.iterations ||
			   (budget > 0 && t - start >= budget);
		if (!quiet && (t - last_print >= every || done)) {
			double rate = (double)(m.step - first) / (t - start);
			double left = (double)(cfg.model.iterations - m.step) /
				      rate;
			if (budget > 0 && budget - (t - start) < left)
				left = budget - (t - start);
			char eta[32];
			fmt_eta(eta, sizeof(eta), left);
			fprintf(stderr,
				"%siter %ld/%ld  D %+.4f gp %.4f  Da %+.4f "
				"gp %.4f  G %+.4f  %.1f it/s  ETA %s%s",
				tty ? "\r" : "", m.step, cfg.model.iterations,
				loss.d_wdist,
				loss.d_gp, loss.da_wdist, loss.da_gp,
				loss.g_loss, rate, eta, tty ? "   " : "\n");
			last_print = t;
		}
		if (status && t - last_status >= STATUS_EVERY_S) {
			double rate = (double)(m.step - first) / (t - start);
			double left = (double)(cfg.model.iterations - m.step) /
				      rate;
			if (budget > 0 && budget - (t - start) < left)
				left = budget - (t - start);
			write_status(status, "training", m.step,
				     cfg.model.iterations, &loss, rate, left,
				     t - start, input, out);
			last_status = t;
		}
		if (t - last_ckpt >= ckpt_every) {
			if (ns_ckpt_save(out, &cfg, &m, &enc, err,
					 sizeof(err)))
				fprintf(stderr, "\nnetshare-train: %s\n", err);
			last_ckpt = t;
		}
		if (budget > 0 && t - start >= budget)
			break;
	}
	if (!quiet && tty)
		fputc('\n', stderr);
	int saved = ns_ckpt_save(out, &cfg, &m, &enc, err, sizeof(err)) == 0;
	if (status) {
		double el = now_s() - start;
		write_status(status, rc ? "diverged" : !saved ? "failed"
				     : stop_requested ? "stopped" : "done",
			     m.step, cfg.model.iterations, &loss,
			     el > 0 ? (double)(m.step - first) / el : 0, 0, el,
			     input, out);
	}
	if (!saved) {
		fprintf(stderr, "netshare-train: %s\n", err);
		rc = 1;
	} else if (!quiet) {
		fprintf(stderr, "saved %s after %ld iterations (%.1f s)\n", out,
			m.step, now_s() - start);
	}
	ns_dg_free(&m);
	ns_encoder_free(&enc);
	ns_dataset_free(&ds);
	ns_input_free(&in);
	return rc;
}
