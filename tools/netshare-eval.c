/* netshare-eval: score synthetic traces against a real one with NetShare's
 * fidelity metrics (netshare.md §7.1), extended metrics and privacy
 * checks; a table, JSON, and real-vs-synthetic plots. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval-plot.h"
#include "netshare/ingest.h"
#include "netshare/metrics.h"
#include "netshare/trace.h"

enum { EXIT_BAD_INPUT = 1, EXIT_USAGE = 2 };

/* Units and a few words per metric, for the table, --help and plots. */
/* clang-format off */
static const struct metric_info {
	const char *name, *unit, *what;
} infos[] = {
	{"SA", "JSD", "source IP, rank-frequency"},
	{"DA", "JSD", "destination IP, rank-frequency"},
	{"SP", "JSD", "source port"},
	{"DP", "JSD", "destination port"},
	{"PR", "JSD", "IP protocol"},
	{"TS", "us", "flow start since the first flow"},
	{"TD", "s", "flow duration"},
	{"PKT", "", "packets per flow record"},
	{"BYT", "bytes", "bytes per flow record"},
	{"PS", "bytes", "packet size, IP length"},
	{"PAT", "us", "packet time since the first packet"},
	{"FS", "", "packets per 5-tuple"},
	{"bytes_per_packet", "bytes", "bytes / packets of each record"},
	{"pkts_per_flow", "", "packets per 5-tuple (= FS)"},
	{"flow_duration", "us", "last - first packet of each 5-tuple"},
	{"interarrival_within_flow", "us", "gaps within one 5-tuple"},
	{"proto_dstport_jsd", "JSD", "(protocol, dst port) pairs"},
	{"srcport_dstport_top_jsd", "JSD", "top 100 real port pairs + other"},
	{"exact_record_share", "share", "synthetic copies of real records"},
	{"five_tuple_share", "share", "synthetic records with a real 5-tuple"},
	{"avg_jsd", "mean", "of SA DA SP DP PR"},
	{"avg_norm_emd", "mean", "of NetShare's EMDs scaled to [0.1, 0.9]"},
};
/* clang-format on */

static const struct metric_info *
info(const char *name)
{
	for (size_t i = 0; i < sizeof(infos) / sizeof(infos[0]); i++)
		if (!strcmp(infos[i].name, name))
			return &infos[i];
	return NULL;
}

static size_t
records(const struct ns_input *in)
{
	return in->is_packets ? in->pkts.n : in->flows.n;
}

/* Read one trace; 0, or -1 after a message naming the file and cause. */
static int
load(struct ns_input *in, const char *path, enum ns_format fmt, int strict,
     int quiet)
{
	ns_input_init(in);
	in->path = path;
	if (access(path, R_OK)) {
		fprintf(stderr, "netshare-eval: %s: cannot read: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (ns_input_load(in, path, fmt, strict, quiet)) {
		/* the reader has said why, unless told to be quiet */
		if (quiet && in->diag.first[0])
			fprintf(stderr, "%s\n", in->diag.first);
		fprintf(stderr, "netshare-eval: %s: cannot be read as %s%s\n",
			path, ns_format_name(in->format),
			in->format == NS_FMT_UNKNOWN ? " (use --format)" : "");
		return -1;
	}
	ns_diag_summary(&in->diag, stderr);
	return 0;
}

/* %.17g, or null for an undefined value: JSON has no NaN. */
static void
json_num(FILE *f, double x)
{
	if (isfinite(x))
		fprintf(f, "%.17g", x);
	else
		fputs("null", f);
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
json_counts(FILE *f, const struct ns_input *in)
{
	json_str(f, in->path);
	fprintf(f, ":{\"format\":\"%s\",\"records\":%zu,\"skipped\":",
	        ns_format_name(in->format), records(in));
	ns_diag_json(&in->diag, f);
	fputc('}', f);
}

static void
json_write(FILE *f, const struct ns_input *in, size_t nin,
           const struct ns_metric_set *sets, char **png, size_t npng)
{
	fprintf(f, "{\"mode\":\"%s\",\"real\":",
	        in[0].is_packets ? "packets" : "flows");
	json_str(f, in[0].path);
	fputs(",\"synthetic\":[", f);
	for (size_t i = 1; i < nin; i++) {
		fputs(i > 1 ? "," : "", f);
		json_str(f, in[i].path);
	}
	fputs("],\"metrics\":{", f);
	for (size_t i = 1; i < nin; i++) {
		const struct ns_metric_set *s = &sets[i - 1];
		fputs(i > 1 ? "," : "", f);
		json_str(f, in[i].path);
		fputs(":{", f);
		for (unsigned k = 0; k < s->n; k++) {
			fprintf(f, "%s\"%s\":", k ? "," : "", s->m[k].name);
			json_num(f, s->m[k].value);
		}
		fputc('}', f);
	}
	fputs("},\"normalised_emd\":{", f);
	for (size_t i = 1; i < nin; i++) {
		const struct ns_metric_set *s = &sets[i - 1];
		fputs(i > 1 ? "," : "", f);
		json_str(f, in[i].path);
		fputs(":{", f);
		int first = 1;
		for (unsigned k = 0; k < s->n; k++) {
			if (s->m[k].kind != NS_METRIC_EMD)
				continue;
			fprintf(f, "%s\"%s\":", first ? "" : ",",
			        s->m[k].name);
			json_num(f, s->m[k].norm);
			first = 0;
		}
		fputc('}', f);
	}
	fputs("},\"counts\":{", f);
	for (size_t i = 0; i < nin; i++) {
		int seen = 0; /* the real trace may be a synthetic one too */
		for (size_t j = 0; j < i; j++)
			seen |= !strcmp(in[i].path, in[j].path);
		if (seen)
			continue;
		fputs(i ? "," : "", f);
		json_counts(f, &in[i]);
	}
	fputc('}', f);
	if (npng) {
		fputs(",\"plots\":[", f);
		for (size_t i = 0; i < npng; i++) {
			fputs(i ? "," : "", f);
			json_str(f, png[i]);
		}
		fputc(']', f);
	}
	fputs("}\n", f);
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

#define COL 19

static void
table_row(const struct ns_metric_set *sets, size_t nsets, unsigned k, int norm)
{
	const struct ns_metric *m = &sets[0].m[k];
	const struct metric_info *mi = info(m->name);
	char unit[24];
	snprintf(unit, sizeof(unit), "%s%s%s",
	         m->kind == NS_METRIC_EMD ? (norm ? "norm" : "EMD") : "",
	         m->kind == NS_METRIC_EMD && !norm && mi && mi->unit[0] ? " "
	                                                                : "",
	         m->kind == NS_METRIC_EMD && norm ? ""
	         : mi                             ? mi->unit
	                                          : "");
	printf("%-25s %-9s", m->name, unit);
	for (size_t i = 0; i < nsets; i++) {
		double x = norm ? sets[i].m[k].norm : sets[i].m[k].value;
		if (isfinite(x))
			printf(" %*.6g", COL - 1, x);
		else
			printf(" %*s", COL - 1, "-");
	}
	putchar('\n');
}

static void
table_write(const struct ns_input *in, size_t nin,
            const struct ns_metric_set *sets)
{
	size_t ns = nin - 1;
	printf("mode: %s   real: %s (%s, %zu records)\n",
	       in[0].is_packets ? "packets" : "flows", in[0].path,
	       ns_format_name(in[0].format), records(&in[0]));
	for (size_t i = 1; i < nin; i++)
		printf("  [%zu] %s (%s, %zu records)\n", i, in[i].path,
		       ns_format_name(in[i].format), records(&in[i]));
	printf("\n%-25s %-9s", "metric", "unit");
	for (size_t i = 1; i < nin; i++) {
		char h[COL + 8];
		snprintf(h, sizeof(h), "[%zu] %s", i, base_name(in[i].path));
		if (strlen(h) > COL - 1)
			strcpy(h + COL - 4, "..");
		printf(" %*s", COL - 1, h);
	}
	putchar('\n');
	const char *heads[] = {"NetShare metrics", "extended metrics",
	                       "privacy checks", "averages"};
	int last = -1;
	for (unsigned k = 0; k < sets[0].n; k++) {
		const struct ns_metric *m = &sets[0].m[k];
		int sec = m->is_netshare               ? 0
		          : m->kind == NS_METRIC_SHARE ? 2
		          : m->kind == NS_METRIC_AVG   ? 3
		                                       : 1;
		if (sec != last)
			printf("-- %s\n", heads[sec]);
		last = sec;
		table_row(sets, ns, k, 0);
	}
	printf("-- EMD scaled to [0.1, 0.9] across the %zu synthetic "
	       "trace%s%s\n",
	       ns, ns == 1 ? "" : "s", ns == 1 ? " (one: all 0.5)" : "");
	for (unsigned k = 0; k < sets[0].n; k++)
		if (sets[0].m[k].kind == NS_METRIC_EMD)
			table_row(sets, ns, k, 1);
	printf("\nJSD: natural log, 0 .. ln 2 = 0.693; EMD in raw units; "
	       "'-' = undefined.\n");
}

static void
usage(FILE *f)
{
	fputs("Usage: netshare-eval [options] REAL SYNTH...\n"
	      "Score synthetic traces against a real one with NetShare's "
	      "fidelity metrics.\n\n"
	      "Inputs are pcap/pcapng or NetShare packet CSV (packet mode), "
	      "or flow CSVs\n(netshare-flow, nfdump, zeek, argus: flow "
	      "mode); all must be of one mode.\n\n"
	      "Options:\n"
	      "  -f, --format NAME    read every input as NAME (pcap, "
	      "netshare-flow,\n"
	      "                       netshare-pkt, nfdump, zeek, argus); "
	      "default: detect\n"
	      "  -j, --json           print one JSON object instead of "
	      "the table\n"
	      "  -o, --out-json FILE  also write the JSON object to FILE\n"
	      "  -p, --plots DIR      draw real-vs-synthetic plots (PNG, "
	      "gnuplot) into DIR\n"
	      "      --strict         stop at the first bad record of any "
	      "input\n"
	      "  -q, --quiet          no per-record warnings from the "
	      "readers\n"
	      "  -h, --help           this text\n\n"
	      "Metrics (NetShare's labels first; flows: SA DA SP DP PR TS "
	      "TD PKT BYT,\npackets: SA DA SP DP PR PS PAT FS):\n",
	      f);
	for (size_t i = 0; i < sizeof(infos) / sizeof(infos[0]); i++) {
		const char *u = infos[i].unit;
		int emd = strcmp(u, "JSD") && strcmp(u, "share") &&
		          strcmp(u, "mean");
		char kind[16];
		snprintf(kind, sizeof(kind), "%s%s%s", emd ? "EMD" : u,
		         emd && u[0] ? " " : "", emd ? u : "");
		fprintf(f, "  %-25s %-9s %s\n", infos[i].name, kind,
		        infos[i].what);
	}
	fputs("\nJSD uses the natural log (0 .. ln 2). EMD is in raw units: "
	      "TS, PAT and the\nextended times in microseconds (NetShare's "
	      "unit), TD in seconds. EMDs are\nalso scaled to [0.1, 0.9] "
	      "across the synthetic traces (0.5 when they agree).\n",
	      f);
	fputs("\nExit status: 0 ok, 1 bad input, 2 usage.\n", f);
}

/* The plots: NetShare's JSD fields, then every EMD field. */
static int
plots(const char *dir, const struct ns_input *in, size_t nin,
      const struct ns_metric_set *set, char **png, size_t max, size_t *npng)
{
	struct eval_plot_field fields[NS_METRICS_MAX];
	struct eval_trace *t = calloc(nin, sizeof(*t));
	size_t nf = 0;
	if (!t)
		return -1;
	for (unsigned k = 0; k < set->n; k++) {
		const struct ns_metric *m = &set->m[k];
		if (!(m->kind == NS_METRIC_EMD ||
		      (m->kind == NS_METRIC_JSD && m->is_netshare)))
			continue;
		const struct metric_info *mi = info(m->name);
		fields[nf].name = m->name;
		fields[nf].what = mi ? mi->what : m->name;
		fields[nf].unit =
		    mi && strcmp(mi->unit, "JSD") ? mi->unit : "";
		nf++;
	}
	for (size_t i = 0; i < nin; i++) {
		t[i].path = in[i].path;
		t[i].pkts = &in[i].pkts;
		t[i].flows = &in[i].flows;
	}
	int rc = eval_plot(dir, fields, nf, t, nin, in[0].is_packets, png, max,
	                   npng);
	free(t);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"out-json", required_argument, NULL, 'o'},
	    {"plots", required_argument, NULL, 'p'},
	    {"strict", no_argument, NULL, 's'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum ns_format fmt = NS_FMT_UNKNOWN;
	const char *out_json = NULL, *plot_dir = NULL;
	int json = 0, strict = 0, quiet = 0, c;
	while ((c = getopt_long(argc, argv, "f:jo:p:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = ns_format_from_name(optarg);
			if (fmt == NS_FMT_UNKNOWN) {
				fprintf(stderr,
				        "netshare-eval: unknown format '%s' "
				        "(pcap, netshare-flow, netshare-pkt, "
				        "nfdump, zeek, argus)\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j':
			json = 1;
			break;
		case 'o':
			out_json = optarg;
			break;
		case 'p':
			plot_dir = optarg;
			break;
		case 's':
			strict = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	size_t nin = (size_t)(argc - optind);
	if (nin < 2) {
		fprintf(stderr,
		        "netshare-eval: need a real trace and at least "
		        "one synthetic trace\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 2; i < nin; i++)
		for (size_t j = 1; j < i; j++)
			if (!strcmp(argv[optind + i], argv[optind + j])) {
				fprintf(stderr,
				        "netshare-eval: %s is given twice as "
				        "a synthetic trace\n",
				        argv[optind + i]);
				return EXIT_USAGE;
			}

	struct ns_input *in = calloc(nin, sizeof(*in));
	struct ns_metric_set *sets = calloc(nin, sizeof(*sets));
	char *png[NS_METRICS_MAX];
	size_t npng = 0;
	int rc = EXIT_BAD_INPUT;
	if (!in || !sets) {
		fprintf(stderr, "netshare-eval: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < nin; i++) {
		if (load(&in[i], argv[optind + i], fmt, strict, quiet))
			goto out;
		if (in[i].is_packets != in[0].is_packets) {
			fprintf(stderr,
			        "netshare-eval: %s holds %s (%s) but %s holds "
			        "%s (%s); compare traces of one kind\n",
			        in[0].path,
			        in[0].is_packets ? "packets" : "flows",
			        ns_format_name(in[0].format), in[i].path,
			        in[i].is_packets ? "packets" : "flows",
			        ns_format_name(in[i].format));
			goto out;
		}
		if (records(&in[i]) == 0)
			fprintf(stderr,
			        "netshare-eval: %s: no records; its metrics "
			        "are undefined\n",
			        in[i].path);
	}
	for (size_t i = 1; i < nin; i++) {
		int r = in[0].is_packets
		            ? ns_metrics_pkts(&in[0].pkts, &in[i].pkts,
		                              &sets[i - 1])
		            : ns_metrics_flows(&in[0].flows, &in[i].flows,
		                               &sets[i - 1]);
		if (r) {
			fprintf(stderr, "netshare-eval: out of memory\n");
			goto out;
		}
	}
	ns_metrics_normalise(sets, nin - 1);
	if (plot_dir &&
	    plots(plot_dir, in, nin, &sets[0], png, NS_METRICS_MAX, &npng) < 0)
		goto out;

	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem) {
		fprintf(stderr, "netshare-eval: out of memory\n");
		goto out;
	}
	json_write(mem, in, nin, sets, png, npng);
	fclose(mem);
	if (json)
		fwrite(buf, 1, len, stdout);
	else
		table_write(in, nin, sets);
	if (!json && npng) {
		printf("\nplots:\n");
		for (size_t i = 0; i < npng; i++)
			printf("  %s\n", png[i]);
	}
	rc = 0;
	if (out_json && ns_write_file_atomic(out_json, buf, len)) {
		fprintf(stderr, "netshare-eval: %s: cannot write: %s\n",
		        out_json, strerror(errno));
		rc = EXIT_BAD_INPUT;
	}
	free(buf);
out:
	for (size_t i = 0; in && i < nin; i++) {
		ns_input_free(&in[i]);
	}
	for (size_t i = 0; i < npng; i++)
		free(png[i]);
	free(in);
	free(sets);
	fflush(stdout);
	return ferror(stdout) ? EXIT_BAD_INPUT : rc;
}
