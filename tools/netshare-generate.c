/* netshare-generate: synthetic flows or packets from a trained model,
 * or from the independent-marginals baseline. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "checkpoint.h"
#include "dg.h"
#include "netshare/ingest.h"
#include "nn.h"

static void
usage(FILE *f)
{
	fputs("usage: netshare-generate --model MODEL --count N --out OUT "
	      "[--seed S]\n"
	      "       netshare-generate --baseline marginals --input REAL "
	      "--count N --out OUT\n"
	      "\n"
	      "Write N synthetic flow records (flow models) or packets\n"
	      "(packet models). OUT by extension: .pcap (packets), .csv\n"
	      "(NetShare flow or packet CSV, as the model learned).\n"
	      "\n"
	      "  --model FILE          checkpoint from netshare-train\n"
	      "  --count N             records to write\n"
	      "  --out FILE            output file (written atomically)\n"
	      "  --seed S              random seed (default 1)\n"
	      "  --port-spread C       decode ports among the tokens within\n"
	      "                        cosine C of the nearest, by frequency\n"
	      "                        (default: the model's; 0: nearest)\n"
	      "  --proto-spread C      the same for the protocol, by the\n"
	      "                        frequency among flows of the same\n"
	      "                        length (default: the model's)\n"
	      "  --baseline marginals  sample every column independently\n"
	      "                        from --input's empirical marginals\n"
	      "  --input FILE          the real trace (baseline only)\n"
	      "  -q, --quiet           no progress output\n"
	      "  -h, --help            this help\n",
	      f);
}

static int
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcasecmp(s + n - m, suf) == 0;
}

/* The independent-marginals baseline: each column drawn from its own
 * empirical distribution. */
static void
baseline_flows(const struct ns_flow_trace *real, size_t count,
	       struct ns_rng *r, struct ns_flow_trace *out)
{
	out->labels = real->labels;
	for (size_t i = 0; i < count; i++) {
#define PICK (&real->v[ns_rng_u64(r) % real->n])
		struct ns_flow_record f = *PICK;
		const struct ns_flow_record *d = PICK;
		memcpy(f.dst_addr, d->dst_addr, 16);
		f.ip_version = d->ip_version > f.ip_version ? d->ip_version
							    : f.ip_version;
		f.src_port = PICK->src_port;
		f.dst_port = PICK->dst_port;
		f.proto = PICK->proto;
		uint64_t first = PICK->first_ns;
		const struct ns_flow_record *t = PICK;
		f.first_ns = first;
		f.last_ns = first + (t->last_ns - t->first_ns);
		f.packets = PICK->packets;
		f.bytes = PICK->bytes;
		f.label = PICK->label;
		f.tcp_flags = PICK->tcp_flags;
		f.tos = PICK->tos;
#undef PICK
		ns_flow_trace_push(out, &f);
	}
	ns_flow_trace_sort(out);
}

static void
baseline_pkts(const struct ns_pkt_trace *real, size_t count,
	      struct ns_rng *r, struct ns_pkt_trace *out)
{
	for (size_t i = 0; i < count; i++) {
#define PICK (&real->v[ns_rng_u64(r) % real->n])
		struct ns_pkt_record p = *PICK;
		const struct ns_pkt_record *d = PICK;
		memcpy(p.dst_addr, d->dst_addr, 16);
		p.ip_version = d->ip_version > p.ip_version ? d->ip_version
							    : p.ip_version;
		p.src_port = PICK->src_port;
		p.dst_port = PICK->dst_port;
		p.proto = PICK->proto;
		p.ts_ns = PICK->ts_ns;
		p.ip_len = PICK->ip_len;
		p.tos = PICK->tos;
		p.ttl = PICK->ttl;
		p.ip_id = PICK->ip_id;
		p.ip_frag = PICK->ip_frag;
		p.tcp_flags = PICK->tcp_flags;
#undef PICK
		ns_pkt_trace_push(out, &p);
	}
	ns_pkt_trace_sort(out);
}

int
main(int argc, char **argv)
{
	const char *model = NULL, *out = NULL, *input = NULL, *base = NULL;
	long long count = -1;
	unsigned long long seed = 1;
	double spread = -1, pspread = -1;
	int quiet = 0;
	static const struct option opts[] = {
		{"model", required_argument, NULL, 'm'},
		{"count", required_argument, NULL, 'n'},
		{"out", required_argument, NULL, 'o'},
		{"seed", required_argument, NULL, 's'},
		{"baseline", required_argument, NULL, 'b'},
		{"input", required_argument, NULL, 'i'},
		{"port-spread", required_argument, NULL, 'p'},
		{"proto-spread", required_argument, NULL, 'P'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'm':
			model = optarg;
			break;
		case 'n':
			count = strtoll(optarg, &end, 10);
			if (*end || count < 1 || count > 100000000) {
				fprintf(stderr, "netshare-generate: --count "
						"takes 1 .. 1e8\n");
				return 2;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 's':
			seed = strtoull(optarg, &end, 10);
			if (*end) {
				fprintf(stderr, "netshare-generate: --seed "
						"takes an integer\n");
				return 2;
			}
			break;
		case 'b':
			base = optarg;
			if (strcmp(base, "marginals")) {
				fprintf(stderr, "netshare-generate: the only "
						"baseline is 'marginals'\n");
				return 2;
			}
			break;
		case 'i':
			input = optarg;
			break;
		case 'p':
		case 'P': {
			double v = strtod(optarg, &end);
			if (*end || end == optarg || !(v >= 0 && v <= 2)) {
				fprintf(stderr, "netshare-generate: --%s takes "
						"0 .. 2\n",
					c == 'p' ? "port-spread"
						 : "proto-spread");
				return 2;
			}
			*(c == 'p' ? &spread : &pspread) = v;
			break;
		}
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
	if (!out || count < 1 || optind != argc || (!model == !base) ||
	    (base && !input)) {
		usage(stderr);
		return 2;
	}
	int want_pcap = ends_with(out, ".pcap");
	if (!want_pcap && !ends_with(out, ".csv")) {
		fprintf(stderr, "netshare-generate: %s: use a .pcap or .csv "
				"name\n", out);
		return 2;
	}

	struct ns_pkt_trace pkts = {0};
	struct ns_flow_trace flows;
	memset(&flows, 0, sizeof(flows));
	int is_packets, rc = 0;
	char err[512];
	if (base) {
		struct ns_input in;
		ns_input_init(&in);
		if (ns_input_load(&in, input, NS_FMT_UNKNOWN, 0, 1) != 0) {
			ns_diag_summary(&in.diag, stderr);
			return 1;
		}
		is_packets = in.is_packets;
		if ((is_packets ? in.pkts.n : in.flows.n) == 0) {
			fprintf(stderr, "netshare-generate: %s has no "
					"records\n", input);
			return 1;
		}
		struct ns_rng r;
		ns_rng_seed(&r, seed);
		if (is_packets)
			baseline_pkts(&in.pkts, (size_t)count, &r, &pkts);
		else
			baseline_flows(&in.flows, (size_t)count, &r, &flows);
		ns_input_free(&in);
	} else {
		struct ns_learner_config cfg;
		struct ns_dg m;
		struct ns_encoder enc;
		if (ns_ckpt_load(model, &cfg, &m, &enc, err, sizeof(err))) {
			fprintf(stderr, "netshare-generate: %s\n", err);
			return 1;
		}
		ns_rng_seed(&m.rng, seed);
		if (spread >= 0)
			enc.port_spread = (float)spread;
		if (pspread >= 0)
			enc.proto_spread = (float)pspread;
		is_packets = enc.is_packets;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (ns_dg_generate_records(&m, &enc, (size_t)count, &pkts,
					   &flows, quiet ? NULL : stderr)) {
			fprintf(stderr, "netshare-generate: out of memory\n");
			rc = 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double s = (double)(t1.tv_sec - t0.tv_sec) +
			   1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
		if (rc == 0 && !quiet && s > 0 && is_packets)
			fprintf(stderr, "generated %zu packets of %zu flows in "
					"%.2f s: %.0f packets/s, %.0f flows/s\n",
				(size_t)count, m.gen_flows, s,
				(double)count / s, (double)m.gen_flows / s);
		else if (rc == 0 && !quiet && s > 0)
			fprintf(stderr, "generated %zu flow records in %.2f s: "
					"%.0f flows/s\n",
				(size_t)count, s, (double)count / s);
		if (is_packets)
			ns_pkt_trace_sort(&pkts);
		else
			ns_flow_trace_sort(&flows);
		ns_dg_free(&m);
		ns_encoder_free(&enc);
	}
	if (rc == 0) {
		if (want_pcap && !is_packets) {
			fprintf(stderr, "netshare-generate: a flow model "
					"writes CSV only\n");
			rc = 2;
		} else if (want_pcap) {
			rc = ns_write_pcap(out, &pkts) ? 1 : 0;
		} else {
			rc = (is_packets ? ns_write_pkt_csv(out, &pkts)
					 : ns_write_flow_csv(out, &flows))
				     ? 1
				     : 0;
		}
		if (rc == 1)
			fprintf(stderr, "netshare-generate: cannot write %s: "
					"%s\n", out, strerror(errno));
	}
	if (rc == 0 && !quiet)
		fprintf(stderr, "wrote %zu %s to %s\n",
			is_packets ? pkts.n : flows.n,
			is_packets ? "packets" : "flow records", out);
	ns_pkt_trace_free(&pkts);
	ns_flow_trace_free(&flows);
	return rc;
}
