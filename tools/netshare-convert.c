/* netshare-convert: convert between trace formats, meter pcaps into flow
 * records, and summarise a trace as JSON. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "netshare/ingest.h"

static void
usage(FILE *f)
{
	fputs("usage: netshare-convert [options] IN OUT\n"
	      "       netshare-convert --summary [options] IN\n"
	      "\n"
	      "Convert a trace between formats. Packets (pcap, pcapng,\n"
	      "NetShare packet CSV) convert to packets or, through the flow\n"
	      "meter, to flow records; flow CSVs (NetShare, nfdump -o csv,\n"
	      "Zeek conn.log, Argus binetflow) convert to NetShare flow CSV.\n"
	      "\n"
	      "Formats: pcap, netshare-flow, netshare-pkt, nfdump, zeek, argus.\n"
	      "IN is detected from its content; OUT from its extension:\n"
	      "  .pcap                  pcap (headers only, Ethernet)\n"
	      "  .pkt.csv .packets.csv  NetShare packet CSV\n"
	      "  other .csv             NetShare flow CSV (meters packets)\n"
	      "\n"
	      "Options:\n"
	      "  --from FMT              format of IN\n"
	      "  --to FMT                format of OUT (pcap, netshare-flow,\n"
	      "                          netshare-pkt)\n"
	      "  --summary               print JSON counts of IN and exit\n"
	      "  --strict                stop at the first bad row or packet\n"
	      "  --active-timeout SEC    split flows longer than SEC "
	      "(default 1800; 0 off)\n"
	      "  --inactive-timeout SEC  close flows idle for SEC "
	      "(default 15; 0 off)\n"
	      "  --tcp-end on|off        close a flow on FIN or RST "
	      "(default on)\n"
	      "  --max-flows N           flow table size (default 1048576)\n"
	      "  -q, --quiet             no per-row messages (counters stay)\n"
	      "  -h, --help              this help\n"
	      "\n"
	      "Exit status: 0 success, 1 bad or unreadable input, 2 usage.\n",
	      f);
}

static enum ns_format
format_of_output(const char *path)
{
	size_t n = strlen(path);
#define ENDS(s) (n >= strlen(s) && strcasecmp(path + n - strlen(s), s) == 0)
	if (ENDS(".pcap") || ENDS(".pcapng"))
		return NS_FMT_PCAP;
	if (ENDS(".pkt.csv") || ENDS(".packets.csv"))
		return NS_FMT_NETSHARE_PKT;
	if (ENDS(".csv"))
		return NS_FMT_NETSHARE_FLOW;
#undef ENDS
	return NS_FMT_UNKNOWN;
}

static int
parse_seconds(const char *arg, const char *opt, uint64_t *ns)
{
	char *end;
	errno = 0;
	double s = strtod(arg, &end);
	if (errno || end == arg || *end || s < 0 || s > 1e9) {
		fprintf(stderr, "netshare-convert: %s: '%s' is not a number "
				"of seconds in [0, 1e9]\n", opt, arg);
		return -1;
	}
	*ns = (uint64_t)(s * 1e9 + 0.5);
	return 0;
}

static void
print_summary(const struct ns_input *in, const struct ns_meter_config *mc)
{
	printf("{\"file\":\"%s\",\"format\":\"%s\"", in->path,
	       ns_format_name(in->format));
	if (in->is_packets) {
		uint64_t bytes = 0;
		for (size_t i = 0; i < in->pkts.n; i++)
			bytes += in->pkts.v[i].ip_len;
		struct ns_flow_trace flows = {0};
		struct ns_meter_stats ms;
		if (ns_meter_trace(&in->pkts, mc, &flows, &ms) != 0) {
			fprintf(stderr, "netshare-convert: out of memory\n");
			exit(1);
		}
		uint64_t packets = in->format == NS_FMT_PCAP
					   ? in->pcap.frames
					   : in->pkts.n + in->diag.total;
		printf(",\"packets\":%llu,\"ip_packets\":%zu",
		       (unsigned long long)packets, in->pkts.n);
		if (in->format == NS_FMT_PCAP)
			printf(",\"bytes\":%llu,\"linktype\":%d,"
			       "\"cut_short\":%s",
			       (unsigned long long)in->pcap.frame_bytes,
			       in->pcap.linktype,
			       in->pcap.cut_short ? "true" : "false");
		printf(",\"ip_bytes\":%llu,\"five_tuples\":%lld,"
		       "\"flows\":%zu",
		       (unsigned long long)bytes,
		       ns_count_pkt_tuples(&in->pkts), flows.n);
		ns_flow_trace_free(&flows);
	} else {
		uint64_t pkts = 0, bytes = 0;
		for (size_t i = 0; i < in->flows.n; i++) {
			pkts += in->flows.v[i].packets;
			bytes += in->flows.v[i].bytes;
		}
		printf(",\"rows\":%llu,\"flows\":%zu,\"packets\":%llu,"
		       "\"bytes\":%llu,\"five_tuples\":%lld",
		       (unsigned long long)(in->flows.n + in->diag.total),
		       in->flows.n, (unsigned long long)pkts,
		       (unsigned long long)bytes,
		       ns_count_flow_tuples(&in->flows));
	}
	printf(",\"skipped\":");
	ns_diag_json(&in->diag, stdout);
	printf("}\n");
}

static void
report_meter(const char *out_path, uint64_t packets, size_t flows,
	     const struct ns_meter_stats *ms)
{
	fprintf(stderr,
		"%s: %llu packets -> %zu flows (idle %llu, active %llu, tcp "
		"%llu, end %llu, evicted %llu)\n",
		out_path, (unsigned long long)packets, flows,
		(unsigned long long)ms->expired_idle,
		(unsigned long long)ms->expired_active,
		(unsigned long long)ms->expired_tcp,
		(unsigned long long)ms->expired_forced,
		(unsigned long long)ms->evicted);
}

static void
collect_flow(void *ctx, const struct ns_flow_record *f)
{
	if (ns_flow_trace_push(ctx, f) != 0) {
		fprintf(stderr, "netshare-convert: out of memory\n");
		exit(1);
	}
}

/* pcap -> flow CSV streams the file through the meter: the packets are
 * never held in memory. */
static int
pcap_to_flows(const char *in_path, const char *out_path,
	      const struct ns_meter_config *mc, int strict, int quiet)
{
	struct ns_diag d;
	ns_diag_init(&d, in_path, "packet");
	d.strict = strict;
	d.quiet = quiet;
	struct ns_flow_trace flows = {0};
	struct ns_pcap_stats st;
	struct ns_meter_stats ms;
	int rc = ns_pcap_meter(in_path, mc, 1, collect_flow, &flows, &st, &ms,
			       &d);
	ns_diag_summary(&d, stderr);
	if (rc != 0) {
		ns_flow_trace_free(&flows);
		return 1;
	}
	ns_flow_trace_sort(&flows);
	if (ns_write_flow_csv(out_path, &flows) != 0) {
		fprintf(stderr, "netshare-convert: cannot write %s: %s\n",
			out_path, strerror(errno));
		ns_flow_trace_free(&flows);
		return 1;
	}
	report_meter(out_path, st.ip_packets, flows.n, &ms);
	ns_flow_trace_free(&flows);
	return 0;
}

int
main(int argc, char **argv)
{
	enum ns_format from = NS_FMT_UNKNOWN, to = NS_FMT_UNKNOWN;
	int summary = 0, strict = 0, quiet = 0;
	struct ns_meter_config mc;
	ns_meter_config_default(&mc);

	static const struct option opts[] = {
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"summary", no_argument, NULL, 's'},
		{"strict", no_argument, NULL, 'S'},
		{"active-timeout", required_argument, NULL, 'a'},
		{"inactive-timeout", required_argument, NULL, 'i'},
		{"tcp-end", required_argument, NULL, 'e'},
		{"max-flows", required_argument, NULL, 'm'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
		case 't': {
			enum ns_format f = ns_format_from_name(optarg);
			if (f == NS_FMT_UNKNOWN) {
				fprintf(stderr, "netshare-convert: unknown "
						"format '%s'\n", optarg);
				return 2;
			}
			*(c == 'f' ? &from : &to) = f;
			break;
		}
		case 's':
			summary = 1;
			break;
		case 'S':
			strict = 1;
			break;
		case 'a':
			if (parse_seconds(optarg, "--active-timeout",
					  &mc.active_timeout_ns))
				return 2;
			break;
		case 'i':
			if (parse_seconds(optarg, "--inactive-timeout",
					  &mc.inactive_timeout_ns))
				return 2;
			break;
		case 'e':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "netshare-convert: --tcp-end "
						"takes on or off\n");
				return 2;
			}
			mc.tcp_end = strcmp(optarg, "on") == 0;
			break;
		case 'm': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 16 || v > (1ul << 30)) {
				fprintf(stderr, "netshare-convert: --max-flows "
						"takes 16 .. 2^30\n");
				return 2;
			}
			mc.max_flows = (uint32_t)v;
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
	int nargs = argc - optind;
	if (nargs != (summary ? 1 : 2)) {
		usage(stderr);
		return 2;
	}
	const char *in_path = argv[optind];
	const char *out_path = summary ? NULL : argv[optind + 1];
	if (out_path && to == NS_FMT_UNKNOWN)
		to = format_of_output(out_path);
	if (out_path && to != NS_FMT_PCAP && to != NS_FMT_NETSHARE_FLOW &&
	    to != NS_FMT_NETSHARE_PKT) {
		fprintf(stderr, "netshare-convert: %s: cannot tell the output "
				"format; use --to pcap, netshare-flow or "
				"netshare-pkt\n", out_path);
		return 2;
	}

	enum ns_format in_fmt =
		from != NS_FMT_UNKNOWN ? from : ns_format_detect(in_path);
	if (!summary && in_fmt == NS_FMT_PCAP && to == NS_FMT_NETSHARE_FLOW)
		return pcap_to_flows(in_path, out_path, &mc, strict, quiet);

	struct ns_input in;
	ns_input_init(&in);
	if (ns_input_load(&in, in_path, from, strict, quiet) != 0) {
		ns_diag_summary(&in.diag, stderr);
		ns_input_free(&in);
		return 1;
	}
	ns_diag_summary(&in.diag, stderr);

	int rc = 0;
	if (summary) {
		print_summary(&in, &mc);
	} else if (!in.is_packets && to != NS_FMT_NETSHARE_FLOW) {
		fprintf(stderr, "netshare-convert: %s holds flow records; they "
				"convert only to netshare-flow CSV\n", in_path);
		rc = 2;
	} else if (to == NS_FMT_PCAP) {
		rc = ns_write_pcap(out_path, &in.pkts);
	} else if (to == NS_FMT_NETSHARE_PKT) {
		rc = ns_write_pkt_csv(out_path, &in.pkts);
	} else if (in.is_packets) {
		struct ns_flow_trace flows = {0};
		struct ns_meter_stats ms;
		rc = ns_meter_trace(&in.pkts, &mc, &flows, &ms);
		if (rc == 0)
			rc = ns_write_flow_csv(out_path, &flows);
		if (rc == 0)
			report_meter(out_path, in.pkts.n, flows.n, &ms);
		ns_flow_trace_free(&flows);
	} else {
		rc = ns_write_flow_csv(out_path, &in.flows);
	}
	if (rc == -1) {
		fprintf(stderr, "netshare-convert: cannot write %s: %s\n",
			out_path, strerror(errno));
		rc = 1;
	}
	ns_input_free(&in);
	return rc;
}
