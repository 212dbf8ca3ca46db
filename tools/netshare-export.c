/* netshare-export: send a flow trace to NetFlow v5 / v9 / IPFIX collectors
 * over UDP, paced, optionally looped and shifted to the wall clock. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netshare/export.h"
#include "netshare/trace.h"

#define PROG "netshare-export"
#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull
#define CHUNK 2048 /* records shifted at a time */
#define PROGRESS_NS (5 * NS_PER_S)

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: " PROG " --input FLOWS --collector HOST:PORT "
	    "[--collector ...]\n"
	    "                       --version 5|9|10 [options]\n"
	    "\n"
	    "Export the flow records of FLOWS (NetShare flow CSV, nfdump -o "
	    "csv,\n"
	    "Zeek conn.log or Argus binetflow; detected from the header) "
	    "as NetFlow\n"
	    "v5, NetFlow v9 or IPFIX (10) over UDP to every collector, in "
	    "order of\n"
	    "flow start. v5 carries IPv4 only: IPv6 flows are counted and "
	    "skipped.\n"
	    "\n"
	    "Options:\n"
	    "  --input FILE             flow records to send\n"
	    "  --format FMT             netshare-flow, nfdump, zeek or argus "
	    "(default:\n"
	    "                           detect)\n"
	    "  --collector HOST:PORT    a collector; IPv6 as [ADDR]:PORT; up "
	    "to %d\n"
	    "  --version 5|9|10         NetFlow v5, v9 or IPFIX\n"
	    "  --rate N                 records per second (default %d; 0: "
	    "no pacing)\n"
	    "  --mtu N                  most UDP payload octets per packet "
	    "(default %d,\n"
	    "                           %d..%d)\n"
	    "  --template-interval S    resend templates every S seconds "
	    "(default %d;\n"
	    "                           0: by count only)\n"
	    "  --template-packets N     ... and every N packets (default %d; "
	    "0: by time\n"
	    "                           only)\n"
	    "  --sampling-interval N    announce 1-in-N packet sampling "
	    "(default 1)\n"
	    "  --ipfix-sequence rfc|flows\n"
	    "                           IPFIX sequence numbers count every "
	    "data\n"
	    "                           record, options records too (rfc, "
	    "the\n"
	    "                           default), or flow records only "
	    "(flows: what\n"
	    "                           nfdump expects)\n"
	    "  --domain-id N            v9 source id / IPFIX observation "
	    "domain\n"
	    "                           (v5: engine type*256 + id; default "
	    "1)\n"
	    "  --loop                   start over at the end, times moved "
	    "on past\n"
	    "                           the trace's span, until stopped\n"
	    "  --wall-clock             shift times so the trace's first "
	    "flow starts\n"
	    "                           now (each loop: when it starts)\n"
	    "  --duration S             stop after S seconds\n"
	    "  --strict                 stop at the first bad input row\n"
	    "  --json                   print the counters as one JSON line "
	    "on stdout\n"
	    "  -q, --quiet              no progress or per-row messages\n"
	    "  -h, --help               this help\n"
	    "\n"
	    "Exit status: 0 success, 1 bad input or failed sends, 2 "
	    "usage.\n",
	    NS_COLLECTORS_MAX, NS_EXPORT_RATE_DEFAULT, NS_EXPORT_MTU_DEFAULT,
	    NS_EXPORT_MTU_MIN, NS_EXPORT_MTU_MAX,
	    NS_EXPORT_TEMPLATE_MS_DEFAULT / 1000,
	    NS_EXPORT_TEMPLATE_PACKETS_DEFAULT);
}

struct options {
	const char *input;
	enum ns_format format;
	int version;
	uint64_t rate;
	uint64_t duration_ns;
	int loop, wall_clock, strict, quiet, json;
};

/* A whole number in [lo, hi] for option opt. */
static int
parse_uint(const char *arg, const char *opt, uint64_t lo, uint64_t hi,
           uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || x < lo || x > hi) {
		fprintf(stderr,
		        PROG ": %s: '%s' is not a whole number in "
		             "[%" PRIu64 ", %" PRIu64 "]\n",
		        opt, arg, lo, hi);
		return -1;
	}
	*v = x;
	return 0;
}

static int
parse_seconds(const char *arg, const char *opt, uint64_t *ns)
{
	char *end;
	errno = 0;
	double s = strtod(arg, &end);
	if (errno || end == arg || *end || !(s >= 0) || s > 1e7) {
		fprintf(stderr,
		        PROG ": %s: '%s' is not a number of seconds in "
		             "[0, 1e7]\n",
		        opt, arg);
		return -1;
	}
	*ns = (uint64_t)(s * 1e9 + 0.5);
	return 0;
}

/* The exporter's state while it runs. */
struct run {
	const struct options *o;
	struct ns_export ex;
	struct ns_sender snd;
	struct ns_pacer pace;
	uint8_t *buf;
	uint64_t start_ns, next_progress_ns, vnow_ns;
	uint64_t send_failures, loops;
	int out_of_time;
};

static void
progress(struct run *r, uint64_t now)
{
	if (r->o->quiet || now < r->next_progress_ns)
		return;
	r->next_progress_ns = now + PROGRESS_NS;
	double s = (double)(now - r->start_ns) / 1e9;
	fprintf(stderr,
	        PROG ": %" PRIu64 " records in %" PRIu64
	             " packets, %.0f records/s\n",
	        r->ex.st.records, r->ex.st.packets,
	        s > 0 ? (double)r->ex.st.records / s : 0.0);
}

/* Encode and send recs[0..n), whose times are final. 0, or -1 when the
 * encoder cannot make progress (a bug; reported). */
static int
send_records(struct run *r, const struct ns_flow_record *recs, size_t n,
             size_t per_packet)
{
	size_t k = 0;
	while (k < n && !stop && !r->out_of_time) {
		size_t m = n - k < per_packet ? n - k : per_packet;
		for (size_t i = k; i < k + m; i++)
			if (recs[i].last_ns > r->vnow_ns)
				r->vnow_ns = recs[i].last_ns;
		uint64_t mono = ns_mono_ns();
		uint64_t now = r->o->wall_clock ? ns_real_ns() : r->vnow_ns;
		uint64_t before = r->ex.st.records;
		size_t used;
		size_t len = ns_export_encode(
		    &r->ex, r->buf, r->ex.cfg.mtu, recs + k, m, &used,
		    now / NS_PER_MS, mono / NS_PER_MS);
		if (len == 0 && used == 0) {
			fprintf(stderr, PROG ": internal error: the encoder "
			                     "made no progress\n");
			return -1;
		}
		k += used;
		if (len == 0)
			continue;
		ns_pacer_wait(&r->pace, r->ex.st.records - before);
		r->send_failures += ns_sender_send(&r->snd, r->buf, len);
		mono = ns_mono_ns();
		progress(r, mono);
		if (r->o->duration_ns &&
		    mono - r->start_ns >= r->o->duration_ns)
			r->out_of_time = 1;
	}
	return 0;
}

/* One pass over the trace with every time moved by shift_ns. */
static int
send_trace(struct run *r, const struct ns_flow_trace *t, uint64_t shift_ns,
           size_t per_packet)
{
	static struct ns_flow_record chunk[CHUNK];
	for (size_t i = 0; i < t->n && !stop && !r->out_of_time; i += CHUNK) {
		size_t n = t->n - i < CHUNK ? t->n - i : CHUNK;
		for (size_t k = 0; k < n; k++) {
			chunk[k] = t->v[i + k];
			chunk[k].first_ns += shift_ns;
			chunk[k].last_ns += shift_ns;
		}
		if (send_records(r, chunk, n, per_packet) != 0)
			return -1;
	}
	return 0;
}

static void
print_json(const struct run *r, const struct ns_diag *d, size_t rows,
           double secs)
{
	const struct ns_export_stats *s = &r->ex.st;
	printf("{\"version\":%d,\"records\":%" PRIu64 ",\"packets\":%" PRIu64
	       ",\"octets\":%" PRIu64 ",\"option_records\":%" PRIu64
	       ",\"template_sends\":%" PRIu64 ",\"skipped_v6\":%" PRIu64
	       ",\"skipped_bad\":%" PRIu64 ",\"skipped_time\":%" PRIu64
	       ",\"saturated\":%" PRIu64 ",\"uptime_rebases\":%" PRIu64
	       ",\"send_failures\":%" PRIu64 ",\"loops\":%" PRIu64
	       ",\"seconds\":%.3f,\"input_records\":%zu,\"input_skipped\":",
	       r->ex.cfg.version, s->records, s->packets, s->octets,
	       s->option_records, s->template_sends, s->skipped_v6,
	       s->skipped_bad, s->skipped_time, s->saturated,
	       s->uptime_rebases, r->send_failures, r->loops, secs, rows);
	ns_diag_json(d, stdout);
	printf("}\n");
}

/* The summary on stderr; every record not sent is named with its cause. */
static void
print_summary(const struct run *r, double secs)
{
	const struct ns_export_stats *s = &r->ex.st;
	fprintf(stderr,
	        PROG ": %s to %u collector%s: %" PRIu64 " records in %" PRIu64
	             " packets (%" PRIu64 " octets) in %.2f s, %.0f records/s;"
	             " templates sent %" PRIu64 " times\n",
	        ns_export_version_name(r->ex.cfg.version), r->snd.n,
	        r->snd.n == 1 ? "" : "s", s->records, s->packets, s->octets,
	        secs, secs > 0 ? (double)s->records / secs : 0.0,
	        s->template_sends);
	if (s->skipped_v6)
		fprintf(stderr,
		        PROG ": %" PRIu64 " IPv6 flows not sent: NetFlow v5 "
		             "carries IPv4 only (use --version 9 or 10)\n",
		        s->skipped_v6);
	if (s->skipped_bad)
		fprintf(stderr,
		        PROG ": %" PRIu64 " records not sent: IP version "
		             "neither 4 nor 6\n",
		        s->skipped_bad);
	if (s->skipped_time)
		fprintf(stderr,
		        PROG ": %" PRIu64 " records not sent: first/last "
		             "times more than 49.7 days apart from the export "
		             "time (32-bit sysUptime); use --version 10\n",
		        s->skipped_time);
	if (s->saturated)
		fprintf(stderr,
		        PROG
		        ": %" PRIu64 " records had packet or octet "
		        "counts above 2^32-1, sent as 2^32-1 (v5 counters "
		        "are 32 bits)\n",
		        s->saturated);
	for (unsigned i = 0; i < r->snd.n; i++) {
		const struct ns_collector *c = &r->snd.c[i];
		if (c->errors)
			fprintf(stderr,
			        PROG ": %s: %" PRIu64 " of %" PRIu64
			             " sends failed (last: %s)\n",
			        c->name, c->errors, c->errors + c->packets,
			        strerror(c->last_errno));
	}
}

static int
load(const struct options *o, struct ns_flow_trace *t, struct ns_diag *d)
{
	ns_diag_init(d, o->input, "line");
	d->strict = o->strict;
	d->quiet = o->quiet;
	enum ns_format f = o->format;
	if (f == NS_FMT_UNKNOWN)
		f = ns_format_detect(o->input);
	if (f != NS_FMT_UNKNOWN && ns_format_is_packets(f)) {
		fprintf(stderr,
		        PROG ": %s holds packets (%s), not flows: meter it "
		             "first with netshare-convert %s FLOWS.csv\n",
		        o->input, ns_format_name(f), o->input);
		return -1;
	}
	if (ns_read_flows(o->input, o->format, t, d) != 0) {
		ns_diag_summary(d, stderr);
		return -1;
	}
	ns_diag_summary(d, stderr);
	if (t->n == 0) {
		fprintf(stderr, PROG ": %s: no flow records to send\n",
		        o->input);
		return -1;
	}
	ns_flow_trace_sort(t);
	return 0;
}

/* Records per packet: full packets, but at least 20 packets a second
 * when the rate is low, so the stream is not bursty. */
static size_t
records_per_packet(const struct options *o)
{
	if (o->rate == 0 || o->rate >= 20 * 1024)
		return 1024;
	return o->rate / 20 ? o->rate / 20 : 1;
}

static int
run_export(struct run *r, const struct ns_flow_trace *t)
{
	uint64_t first = t->v[0].first_ns, end = first;
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].last_ns > end)
			end = t->v[i].last_ns;
	/* each loop starts after the last one's flows ended, a whole
	 * number of seconds later so that millisecond times keep their
	 * sub-second part */
	uint64_t span = ((end - first) / NS_PER_S + 1) * NS_PER_S;
	size_t per_packet = records_per_packet(r->o);

	r->start_ns = ns_mono_ns();
	r->next_progress_ns = r->start_ns + PROGRESS_NS;
	ns_pacer_start(&r->pace, r->o->rate);
	do {
		uint64_t shift;
		if (r->o->wall_clock) {
			uint64_t now = ns_real_ns();
			shift = now > first ? now - first : 0;
			shift -= shift % NS_PER_MS; /* ms times stay whole */
			if (shift < r->loops * span)
				shift = r->loops * span; /* never backwards */
		} else {
			shift = r->loops * span;
		}
		if (send_trace(r, t, shift, per_packet) != 0)
			return -1;
		r->loops++;
	} while (r->o->loop && !stop && !r->out_of_time);
	return 0;
}

int
main(int argc, char **argv)
{
	struct options o = {.rate = NS_EXPORT_RATE_DEFAULT};
	struct ns_export_config cfg;
	ns_export_config_default(&cfg, 0);
	struct ns_sender snd;
	ns_sender_init(&snd);
	const char *collectors[NS_COLLECTORS_MAX];
	unsigned n_coll = 0;

	enum {
		O_INPUT = 256,
		O_FORMAT,
		O_COLLECTOR,
		O_VERSION,
		O_RATE,
		O_MTU,
		O_TPL_INTERVAL,
		O_TPL_PACKETS,
		O_SAMPLING,
		O_DOMAIN,
		O_LOOP,
		O_WALL,
		O_DURATION,
		O_STRICT,
		O_JSON,
		O_IPFIX_SEQ,
	};
	static const struct option opts[] = {
	    {"input", required_argument, NULL, O_INPUT},
	    {"format", required_argument, NULL, O_FORMAT},
	    {"collector", required_argument, NULL, O_COLLECTOR},
	    {"version", required_argument, NULL, O_VERSION},
	    {"rate", required_argument, NULL, O_RATE},
	    {"mtu", required_argument, NULL, O_MTU},
	    {"template-interval", required_argument, NULL, O_TPL_INTERVAL},
	    {"template-packets", required_argument, NULL, O_TPL_PACKETS},
	    {"sampling-interval", required_argument, NULL, O_SAMPLING},
	    {"domain-id", required_argument, NULL, O_DOMAIN},
	    {"ipfix-sequence", required_argument, NULL, O_IPFIX_SEQ},
	    {"loop", no_argument, NULL, O_LOOP},
	    {"wall-clock", no_argument, NULL, O_WALL},
	    {"duration", required_argument, NULL, O_DURATION},
	    {"strict", no_argument, NULL, O_STRICT},
	    {"json", no_argument, NULL, O_JSON},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case O_INPUT:
			o.input = optarg;
			break;
		case O_FORMAT:
			o.format = ns_format_from_name(optarg);
			if (o.format == NS_FMT_UNKNOWN ||
			    ns_format_is_packets(o.format)) {
				fprintf(stderr,
				        PROG ": --format: '%s' is not a flow "
				             "format (netshare-flow, nfdump, "
				             "zeek, argus)\n",
				        optarg);
				return 2;
			}
			break;
		case O_COLLECTOR:
			if (n_coll == NS_COLLECTORS_MAX) {
				fprintf(stderr,
				        PROG ": at most %d --collector\n",
				        NS_COLLECTORS_MAX);
				return 2;
			}
			collectors[n_coll++] = optarg;
			break;
		case O_VERSION:
			if (parse_uint(optarg, "--version", 5, 10, &v))
				return 2;
			if (v != 5 && v != 9 && v != 10) {
				fprintf(stderr,
				        PROG ": --version: '%s' is "
				             "not 5, 9 or 10\n",
				        optarg);
				return 2;
			}
			cfg.version = (int)v;
			break;
		case O_RATE:
			if (parse_uint(optarg, "--rate", 0, 100000000,
			               &o.rate))
				return 2;
			break;
		case O_MTU:
			if (parse_uint(optarg, "--mtu", NS_EXPORT_MTU_MIN,
			               NS_EXPORT_MTU_MAX, &v))
				return 2;
			cfg.mtu = (unsigned)v;
			break;
		case O_TPL_INTERVAL:
			if (parse_seconds(optarg, "--template-interval", &v))
				return 2;
			cfg.template_ms = v / NS_PER_MS;
			break;
		case O_TPL_PACKETS:
			if (parse_uint(optarg, "--template-packets", 0,
			               1000000000, &v))
				return 2;
			cfg.template_packets = (unsigned)v;
			break;
		case O_SAMPLING:
			if (parse_uint(optarg, "--sampling-interval", 1,
			               UINT32_MAX, &v))
				return 2;
			cfg.sampling_interval = (uint32_t)v;
			break;
		case O_DOMAIN:
			if (parse_uint(optarg, "--domain-id", 0, UINT32_MAX,
			               &v))
				return 2;
			cfg.domain_id = (uint32_t)v;
			break;
		case O_IPFIX_SEQ:
			if (strcmp(optarg, "rfc") && strcmp(optarg, "flows")) {
				fprintf(stderr,
				        PROG ": --ipfix-sequence takes "
				             "rfc or flows\n");
				return 2;
			}
			cfg.ipfix_seq_flows_only =
			    strcmp(optarg, "flows") == 0;
			break;
		case O_LOOP:
			o.loop = 1;
			break;
		case O_WALL:
			o.wall_clock = 1;
			break;
		case O_DURATION:
			if (parse_seconds(optarg, "--duration",
			                  &o.duration_ns))
				return 2;
			break;
		case O_STRICT:
			o.strict = 1;
			break;
		case O_JSON:
			o.json = 1;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n",
		        argv[optind]);
		return 2;
	}
	if (!o.input || !n_coll || !cfg.version) {
		fprintf(stderr,
		        PROG ": --input, --collector and --version are "
		             "required (see --help)\n");
		return 2;
	}
	char err[320];
	if (ns_export_config_check(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	for (unsigned i = 0; i < n_coll; i++) {
		if (ns_sender_add(&snd, collectors[i], err, sizeof(err)) !=
		    0) {
			fprintf(stderr, PROG ": --collector %s\n", err);
			ns_sender_close(&snd);
			return 2;
		}
	}

	struct ns_flow_trace t = {0};
	struct ns_diag d;
	if (load(&o, &t, &d) != 0) {
		ns_flow_trace_free(&t);
		ns_sender_close(&snd);
		return 1;
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	static struct run r;
	r.o = &o;
	r.snd = snd;
	r.buf = malloc(cfg.mtu);
	int rc = 1;
	if (!r.buf || ns_export_init(&r.ex, &cfg) != 0) {
		fprintf(stderr, PROG ": out of memory\n");
	} else if (run_export(&r, &t) == 0) {
		double secs = (double)(ns_mono_ns() - r.start_ns) / 1e9;
		print_summary(&r, secs);
		if (o.json)
			print_json(&r, &d, t.n, secs);
		rc = r.send_failures ? 1 : 0;
	}
	free(r.buf);
	ns_flow_trace_free(&t);
	ns_sender_close(&r.snd);
	return rc;
}
