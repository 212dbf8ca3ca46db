/* netshare-replay: packet records (a netshare-pkt CSV or a pcap, read by
 * the trace library) rebuilt into full frames (include/netshare/frame.h)
 * and sent on DPDK ports, paced by the trace's timestamps or at a fixed
 * rate from the TSC; or written to a pcap without starting DPDK.
 *
 * Start-up follows DPDK's order: our options and the input first (so
 * that a bad file never costs an EAL start), EAL with a --vdev per
 * --port that brings devargs, ports, pools, lanes (one per TX queue),
 * TSC calibration and the schedule, then one lcore per lane while
 * worker lcores last. SIGINT/SIGTERM stops the lcores; the counters are
 * printed at the end either way. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "netshare/frame.h"
#include "netshare/ingest.h"
#include "netshare/trace.h"

#include "dp_args.h"
#include "dp_port.h"
#include "rp_core.h"
#include "rp_tx.h"

#define PROG "netshare-replay"
#define MAX_PORTS 16
#define TX_DESC 1024
#define CALIBRATE_MS 200
#define START_LEAD_MS 20
#define MAX_MESSAGES 10


static void
usage(FILE *f)
{
	fputs(
	    "usage: netshare-replay [EAL options] -- --input FILE [options]\n"
	    "       netshare-replay --write-pcap OUT --input FILE [options]\n"
	    "\n"
	    "Rebuild packet records into full frames (Ethernet, IPv4/IPv6,\n"
	    "TCP/UDP/ICMP with the record's fields, valid checksums, the IP\n"
	    "length filled with a fixed pattern) and send them on DPDK\n"
	    "ports, paced by the trace's timestamps or at a fixed rate, or\n"
	    "write them to a pcap without starting DPDK. Records are sent\n"
	    "in timestamp order; counters are printed at the end.\n"
	    "\n"
	    "Input:\n"
	    "  --input FILE       netshare-pkt CSV or pcap/pcapng\n"
	    "  --from FMT         netshare-pkt or pcap, when the content\n"
	    "                     does not tell\n"
	    "  --strict           stop at the first bad row or packet\n"
	    "                     (default: report it and skip it)\n"
	    "Where to:\n"
	    "  --port NAME[,ARGS] send on this port (repeatable). A vdev\n"
	    "                     with its devargs is created, e.g.\n"
	    "                     net_pcap0,tx_pcap=out.pcap\n"
	    "                     net_af_packet0,iface=veth0\n"
	    "                     net_null0; a port EAL already has (-a,\n"
	    "                     --vdev, a secondary's primary) is\n"
	    "                     looked up. Default: every port.\n"
	    "  --write-pcap OUT   write the frames to OUT instead, with the\n"
	    "                     schedule's times; DPDK is not started\n"
	    "Pacing (one of):\n"
	    "  --speed X          the trace's timing, X times as fast\n"
	    "                     (default 1)\n"
	    "  --pps N            N packets per second\n"
	    "  --mbps N           N Mbit/s of frame bytes (no FCS,\n"
	    "                     preamble or gap)\n"
	    "  --topspeed         as fast as the ports take them\n"
	    "  --loop N           send the trace N times (default 1; 0:\n"
	    "                     until SIGINT)\n"
	    "Transmit:\n"
	    "  --tx-queues N      TX queues per port (default 1); each queue\n"
	    "                     gets a worker lcore while they last, else\n"
	    "                     lcores serve several round robin. A flow\n"
	    "                     always leaves on one queue.\n"
	    "  --burst N          frames per TX call (default 32, max 128)\n"
	    "  --retries N        TX calls for the rest of a partial burst\n"
	    "                     before it is dropped (default 100, 1 us\n"
	    "                     apart)\n"
	    "  --late-us N        a frame sent more than N us after it was\n"
	    "                     due counts as late (default 100)\n"
	    "Frames:\n"
	    "  --src-mac MAC      default 02:00:00:00:00:01\n"
	    "  --dst-mac MAC      default 02:00:00:00:00:02\n"
	    "  --no-vlan          no 802.1Q tag even where a record has one\n"
	    "  --max-frame N      skip (and count) records whose frame is\n"
	    "                     longer than N bytes (default 65535)\n"
	    "Report:\n"
	    "  --json             the counters as one JSON object\n"
	    "  -q, --quiet        no per-record messages\n"
	    "  -h, --help         this help\n"
	    "\n"
	    "Examples (no NIC here, so EAL gets --no-pci):\n"
	    "  netshare-replay -l 0-1 --no-pci --file-prefix rp -- \\\n"
	    "      --input p.pkt.csv --port net_pcap0,tx_pcap=out.pcap\n"
	    "  netshare-replay -l 0-1 --no-pci --file-prefix rp -- \\\n"
	    "      --input p.pcap --port net_af_packet0,iface=veth0 "
	    "--speed 2\n"
	    "  netshare-replay --write-pcap frames.pcap --input p.pkt.csv\n"
	    "\n"
	    "Exit status: 0 done, 1 bad input or start-up failure, 2 "
	    "usage.\n",
	    f);
}

struct port_arg {
	char name[128];
	const char *devargs; /* NULL: look the port up */
	char eal[512];       /* "name,devargs" for --vdev */
};

struct opts {
	const char *input, *write_pcap;
	enum ns_format from;
	int strict, quiet, json;
	struct rp_pace_cfg pace;
	int pace_set;
	uint64_t loops;
	unsigned tx_queues, burst, retries;
	double late_us;
	uint32_t max_frame;
	struct ns_frame_opts fo;
	struct port_arg port[MAX_PORTS];
	unsigned n_ports;
};

static int
bad_opt(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, PROG ": %s %s: %s\n", opt, val, why);
	return -1;
}

static int
num_arg(const char *opt, const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v))
		return bad_opt(opt, s, "not a number");
	if (v < min || v > max) {
		char why[96];
		snprintf(why, sizeof(why), "out of range [%g, %g]", min, max);
		return bad_opt(opt, s, why);
	}
	*out = v;
	return 0;
}

static int
uint_arg(const char *opt, const char *s, double min, double max, uint64_t *out)
{
	double v;
	if (num_arg(opt, s, min, max, &v))
		return -1;
	if (v != floor(v))
		return bad_opt(opt, s, "not a whole number");
	*out = (uint64_t)v;
	return 0;
}

static int
mac_arg(const char *opt, const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char extra;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
	           &b[5], &extra) != 6)
		return bad_opt(opt, s,
		               "not a MAC address (aa:bb:cc:dd:ee:ff)");
	for (int i = 0; i < 6; i++) {
		if (b[i] > 255)
			return bad_opt(opt, s, "a byte above ff");
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int
set_pace(struct opts *o, enum rp_pace mode, const char *opt)
{
	static char first[32];
	if (o->pace_set && o->pace.mode != mode) {
		fprintf(stderr,
		        PROG ": %s and %s: give one of --speed, --pps, "
		             "--mbps and --topspeed\n",
		        first, opt);
		return -1;
	}
	snprintf(first, sizeof(first), "%s", opt);
	o->pace_set = 1;
	o->pace.mode = mode;
	return 0;
}

enum {
	O_INPUT = 256,
	O_FROM,
	O_STRICT,
	O_PORT,
	O_WRITE_PCAP,
	O_SPEED,
	O_PPS,
	O_MBPS,
	O_TOP,
	O_LOOP,
	O_TXQ,
	O_BURST,
	O_RETRIES,
	O_LATE,
	O_SRC_MAC,
	O_DST_MAC,
	O_NO_VLAN,
	O_MAX_FRAME,
	O_JSON,
};

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"input", required_argument, NULL, O_INPUT},
	    {"from", required_argument, NULL, O_FROM},
	    {"strict", no_argument, NULL, O_STRICT},
	    {"port", required_argument, NULL, O_PORT},
	    {"write-pcap", required_argument, NULL, O_WRITE_PCAP},
	    {"speed", required_argument, NULL, O_SPEED},
	    {"pps", required_argument, NULL, O_PPS},
	    {"mbps", required_argument, NULL, O_MBPS},
	    {"topspeed", no_argument, NULL, O_TOP},
	    {"loop", required_argument, NULL, O_LOOP},
	    {"tx-queues", required_argument, NULL, O_TXQ},
	    {"burst", required_argument, NULL, O_BURST},
	    {"retries", required_argument, NULL, O_RETRIES},
	    {"late-us", required_argument, NULL, O_LATE},
	    {"src-mac", required_argument, NULL, O_SRC_MAC},
	    {"dst-mac", required_argument, NULL, O_DST_MAC},
	    {"no-vlan", no_argument, NULL, O_NO_VLAN},
	    {"max-frame", required_argument, NULL, O_MAX_FRAME},
	    {"json", no_argument, NULL, O_JSON},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->pace.mode = RP_PACE_TRACE;
	o->pace.speed = 1;
	o->loops = 1;
	o->tx_queues = 1;
	o->burst = 32;
	o->retries = 100;
	o->late_us = 100;
	o->max_frame = NS_FRAME_MAX;
	ns_frame_opts_default(&o->fo);
	optind = 1;
	opterr = 0;
	int c;
	uint64_t u;
	double d;
	while ((c = getopt_long(argc, argv, ":hq", lo, NULL)) != -1) {
		const char *name = c >= O_INPUT ? lo[c - O_INPUT].name : "";
		char opt[64];
		snprintf(opt, sizeof(opt), "--%s", name);
		switch (c) {
		case O_INPUT:
			o->input = optarg;
			break;
		case O_FROM:
			o->from = ns_format_from_name(optarg);
			if (o->from != NS_FMT_PCAP &&
			    o->from != NS_FMT_NETSHARE_PKT)
				return bad_opt(opt, optarg,
				               "records come from pcap or "
				               "netshare-pkt");
			break;
		case O_STRICT:
			o->strict = 1;
			break;
		case O_PORT: {
			if (o->n_ports == MAX_PORTS)
				return bad_opt(opt, optarg, "too many ports");
			struct port_arg *p = &o->port[o->n_ports++];
			size_t n = strcspn(optarg, ",");
			if (n == 0 || n >= sizeof(p->name))
				return bad_opt(opt, optarg,
				               "no device name before ','");
			if (strlen(optarg) >= sizeof(p->eal))
				return bad_opt(opt, optarg, "too long");
			memcpy(p->name, optarg, n);
			p->name[n] = '\0';
			p->devargs = optarg[n] ? optarg + n + 1 : NULL;
			snprintf(p->eal, sizeof(p->eal), "%s", optarg);
			break;
		}
		case O_WRITE_PCAP:
			o->write_pcap = optarg;
			break;
		case O_SPEED:
			if (set_pace(o, RP_PACE_TRACE, opt) ||
			    num_arg(opt, optarg, 1e-6, 1e9, &o->pace.speed))
				return -1;
			break;
		case O_PPS:
			if (set_pace(o, RP_PACE_PPS, opt) ||
			    num_arg(opt, optarg, 1e-3, 1e10, &o->pace.pps))
				return -1;
			break;
		case O_MBPS:
			if (set_pace(o, RP_PACE_MBPS, opt) ||
			    num_arg(opt, optarg, 1e-6, 1e7, &o->pace.mbps))
				return -1;
			break;
		case O_TOP:
			if (set_pace(o, RP_PACE_TOP, opt))
				return -1;
			break;
		case O_LOOP:
			if (uint_arg(opt, optarg, 0, 1e15, &o->loops))
				return -1;
			break;
		case O_TXQ:
			if (uint_arg(opt, optarg, 1, RP_MAX_LANES, &u))
				return -1;
			o->tx_queues = (unsigned)u;
			break;
		case O_BURST:
			if (uint_arg(opt, optarg, 1, RP_BURST_MAX, &u))
				return -1;
			o->burst = (unsigned)u;
			break;
		case O_RETRIES:
			if (uint_arg(opt, optarg, 0, 1e9, &u))
				return -1;
			o->retries = (unsigned)u;
			break;
		case O_LATE:
			if (num_arg(opt, optarg, 0, 1e12, &d))
				return -1;
			o->late_us = d;
			break;
		case O_SRC_MAC:
			if (mac_arg(opt, optarg, o->fo.src_mac))
				return -1;
			break;
		case O_DST_MAC:
			if (mac_arg(opt, optarg, o->fo.dst_mac))
				return -1;
			break;
		case O_NO_VLAN:
			o->fo.vlan = 0;
			break;
		case O_MAX_FRAME:
			if (uint_arg(opt, optarg, 60, NS_FRAME_MAX, &u))
				return -1;
			o->max_frame = (uint32_t)u;
			break;
		case O_JSON:
			o->json = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			fprintf(stderr, PROG ": %s needs a value\n",
			        argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, PROG ": unknown option '%s'\n",
			        argv[optind - 1]);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n",
		        argv[optind]);
		return -1;
	}
	if (!o->input) {
		fprintf(stderr, PROG ": --input FILE is required\n");
		return -1;
	}
	if (o->write_pcap && o->n_ports) {
		fprintf(stderr, PROG ": --write-pcap and --port: give one\n");
		return -1;
	}
	if (o->write_pcap && o->loops == 0) {
		fprintf(stderr, PROG ": --loop 0 (until stopped) needs a "
		                     "port, not --write-pcap\n");
		return -1;
	}
	return 0;
}

/* The input, checked, in time order, with each frame's length. */
struct trace {
	struct ns_input in;
	uint32_t *frame_len;
	size_t n;
	uint64_t read, raised, clamped, v6_ext, oversize, invalid;
	uint32_t longest;
};

static int
load_trace(const struct opts *o, struct trace *t)
{
	ns_input_init(&t->in);
	/* a file that cannot be read says so, before any format guess */
	FILE *f = fopen(o->input, "rb");
	if (!f) {
		fprintf(stderr, PROG ": %s: cannot open: %s\n", o->input,
		        strerror(errno));
		return -1;
	}
	struct stat sb;
	int dir = fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode);
	int empty = dir || fgetc(f) == EOF;
	fclose(f);
	if (dir) {
		fprintf(stderr, PROG ": %s: a directory, not a file\n",
		        o->input);
		return -1;
	}
	if (empty) {
		fprintf(stderr, PROG ": %s: empty file, no records\n",
		        o->input);
		return -1;
	}
	if (ns_input_load(&t->in, o->input, o->from, o->strict, o->quiet)) {
		/* the cause is reported already; name the file once more
		 * where the reader did not */
		if (!t->in.diag.total && !t->in.diag.failed)
			fprintf(stderr, PROG ": %s: cannot read\n", o->input);
		return -1;
	}
	if (!t->in.is_packets) {
		fprintf(stderr,
		        PROG ": %s: holds flows (%s), not packet "
		             "records; give a netshare-pkt CSV or a pcap\n",
		        o->input, ns_format_name(t->in.format));
		return -1;
	}
	ns_diag_summary(&t->in.diag, stderr);
	struct ns_pkt_trace *p = &t->in.pkts;
	t->read = p->n;
	/* drop what cannot be sent, naming the record (file order) */
	size_t keep = 0;
	unsigned said = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct ns_frame_info fi;
		const char *why = NULL;
		if (ns_frame_layout(&p->v[i], &o->fo, &fi)) {
			t->invalid++;
			why = "IP version is neither 4 nor 6";
		} else if (fi.len > o->max_frame) {
			t->oversize++;
			why = "frame longer than --max-frame";
		}
		if (why) {
			if (!o->quiet && said++ < MAX_MESSAGES)
				fprintf(stderr,
				        PROG ": %s: record %zu: %s; "
				             "skipped\n",
				        o->input, i + 1, why);
			if (o->strict) {
				fprintf(stderr, PROG ": --strict: "
				                     "stopping\n");
				return -1;
			}
			continue;
		}
		p->v[keep++] = p->v[i];
	}
	p->n = keep;
	if (!keep) {
		fprintf(stderr, PROG ": %s: no packet records to send\n",
		        o->input);
		return -1;
	}
	ns_pkt_trace_sort(p);
	t->n = keep;
	t->frame_len = malloc(keep * sizeof(*t->frame_len));
	if (!t->frame_len) {
		fprintf(stderr, PROG ": out of memory for %zu records\n",
		        keep);
		return -1;
	}
	for (size_t i = 0; i < keep; i++) {
		struct ns_frame_info fi;
		ns_frame_layout(&p->v[i], &o->fo, &fi);
		t->frame_len[i] = fi.len;
		if (fi.len > t->longest)
			t->longest = fi.len;
		t->raised += !!(fi.adjust & NS_FRAME_RAISED);
		t->clamped += !!(fi.adjust & NS_FRAME_CLAMPED);
		t->v6_ext += !!(fi.adjust & NS_FRAME_V6_EXT);
	}
	return 0;
}

static void
free_trace(struct trace *t)
{
	free(t->frame_len);
	ns_input_free(&t->in);
}

static const char *
pace_name(enum rp_pace m)
{
	switch (m) {
	case RP_PACE_TRACE:
		return "trace";
	case RP_PACE_PPS:
		return "pps";
	case RP_PACE_MBPS:
		return "mbps";
	default:
		return "topspeed";
	}
}

static void
json_records(FILE *f, const struct trace *t)
{
	fprintf(f,
	        "\"records\":{\"read\":%" PRIu64 ",\"sendable\":%zu,"
	        "\"raised\":%" PRIu64 ",\"clamped\":%" PRIu64
	        ",\"v6_ext\":%" PRIu64 ",\"oversize\":%" PRIu64
	        ",\"invalid\":%" PRIu64 ",\"longest_frame\":%u}",
	        t->read, t->n, t->raised, t->clamped, t->v6_ext, t->oversize,
	        t->invalid, t->longest);
}

static void
text_records(FILE *f, const struct trace *t)
{
	fprintf(f,
	        "  records: %" PRIu64 " read, %zu sendable; %" PRIu64
	        " IP lengths raised to the headers', %" PRIu64
	        " lowered to fit a frame, %" PRIu64
	        " IPv6 extension-header protocols, %" PRIu64
	        " skipped as longer than --max-frame, %" PRIu64
	        " not IPv4/IPv6\n",
	        t->read, t->n, t->raised, t->clamped, t->v6_ext, t->oversize,
	        t->invalid);
}

/* --write-pcap: the frames, timed by the schedule in nanoseconds. */
static int
write_pcap(const struct opts *o, struct trace *t)
{
	const struct ns_pkt_record *rec = t->in.pkts.v;
	uint64_t *due = malloc(t->n * sizeof(*due));
	uint8_t *frame = malloc(NS_FRAME_MAX);
	if (!due || !frame) {
		free(due);
		free(frame);
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	double period;
	rp_schedule(rec, t->frame_len, t->n, &o->pace, 1e9, due, &period);
	struct ns_atomic a;
	pcap_t *dead = NULL;
	pcap_dumper_t *d = NULL;
	if (ns_atomic_open(&a, o->write_pcap) == 0) {
		dead = pcap_open_dead_with_tstamp_precision(
		    DLT_EN10MB, NS_FRAME_MAX, PCAP_TSTAMP_PRECISION_NANO);
		d = dead ? pcap_dump_fopen(dead, a.f) : NULL;
		if (!d)
			ns_atomic_close(&a, 0);
	}
	if (!d) {
		fprintf(stderr, PROG ": %s: cannot write: %s\n", o->write_pcap,
		        strerror(errno ? errno : EIO));
		if (dead)
			pcap_close(dead);
		free(due);
		free(frame);
		return 1;
	}
	uint64_t frames = 0, bytes = 0, t0 = rec[0].ts_ns;
	for (uint64_t pass = 0; pass < o->loops && !dp_quit; pass++) {
		uint64_t base = t0 + (uint64_t)llround((double)pass * period);
		for (size_t i = 0; i < t->n; i++) {
			size_t len = ns_frame_build(&rec[i], &o->fo, frame,
			                            NS_FRAME_MAX, NULL);
			struct pcap_pkthdr h;
			uint64_t ts = o->pace.mode == RP_PACE_TOP
			                  ? rec[i].ts_ns
			                  : base + due[i];
			h.caplen = h.len = (bpf_u_int32)len;
			h.ts.tv_sec = (time_t)(ts / 1000000000u);
			h.ts.tv_usec = (suseconds_t)(ts % 1000000000u);
			pcap_dump((u_char *)d, &h, frame);
			frames++;
			bytes += len;
		}
	}
	int ok = pcap_dump_flush(d) == 0 && fsync(fileno(a.f)) == 0;
	pcap_dump_close(d);
	a.f = NULL;
	pcap_close(dead);
	free(due);
	free(frame);
	if (ns_atomic_close(&a, ok) || !ok) {
		fprintf(stderr, PROG ": %s: write failed: %s\n", o->write_pcap,
		        strerror(errno));
		return 1;
	}
	if (o->json) {
		printf("{\"mode\":\"write-pcap\",\"file\":\"%s\","
		       "\"frames\":%" PRIu64 ",\"bytes\":%" PRIu64 ",",
		       o->write_pcap, frames, bytes);
		json_records(stdout, t);
		printf("}\n");
	} else {
		printf(PROG ": wrote %" PRIu64 " frames (%" PRIu64
		            " bytes) to %s\n",
		       frames, bytes, o->write_pcap);
		text_records(stdout, t);
	}
	return 0;
}

/* ---- DPDK ---- */

struct replay {
	struct opts *o;
	struct trace *t;
	uint16_t port_id[RTE_MAX_ETHPORTS];
	char port_name[RTE_MAX_ETHPORTS][RTE_ETH_NAME_MAX_LEN];
	unsigned n_ports, ports_started;
	int primary;
	struct rte_mempool *pool, *big_pool;
	struct rp_lane *lanes;
	unsigned n_lanes;
	struct rp_worker work[RTE_MAX_LCORE];
	struct rp_lane *lane_ptr[RTE_MAX_LCORE][RP_MAX_LANES];
	uint32_t *idx;
	uint8_t *lane_of;
	uint64_t *due;
	struct rp_job job;
	double tsc_hz;
};

static int
find_ports(struct replay *r)
{
	const struct opts *o = r->o;
	if (!o->n_ports) {
		uint16_t pid;
		RTE_ETH_FOREACH_DEV(pid)
		{
			if (r->n_ports == MAX_PORTS)
				break;
			r->port_id[r->n_ports++] = pid;
		}
		if (!r->n_ports) {
			fprintf(stderr,
			        PROG ": no port: give --port "
			             "NAME,DEVARGS (e.g. net_null0 or "
			             "net_pcap0,tx_pcap=out.pcap), or a "
			             "port to EAL (-a, --vdev)\n");
			return -1;
		}
	}
	for (unsigned i = 0; i < o->n_ports; i++) {
		const struct port_arg *p = &o->port[i];
		uint16_t id;
		if (rte_eth_dev_get_port_by_name(p->name, &id) != 0 &&
		    dp_port_of_device(p->name, &id) != 0) {
			fprintf(stderr, PROG ": --port %s: no such port%s\n",
			        p->eal,
			        p->devargs ? ": its driver refused the "
			                     "devargs (see the EAL message "
			                     "above)"
			                   : ": give its devargs (NAME,ARGS), "
			                     "or the device to EAL");
			return -1;
		}
		for (unsigned k = 0; k < r->n_ports; k++)
			if (r->port_id[k] == id) {
				fprintf(stderr,
				        PROG ": --port %s: the same port as "
				             "an earlier --port\n",
				        p->eal);
				return -1;
			}
		r->port_id[r->n_ports++] = id;
	}
	for (unsigned i = 0; i < r->n_ports; i++)
		rte_eth_dev_get_name_by_port(r->port_id[i], r->port_name[i]);
	return 0;
}

static int
setup_port(struct replay *r, unsigned i)
{
	uint16_t port = r->port_id[i];
	const char *name = r->port_name[i];
	unsigned nq = r->o->tx_queues;
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc) {
		fprintf(stderr, PROG ": port %s: no device info: %s\n", name,
		        strerror(-rc));
		return -1;
	}
	if (!r->primary) {
		/* virtual ports whose TX state is the primary's own file
		 * descriptors and mappings crash a secondary that sends on
		 * them: only those known to attach are used */
		const char *drv = info.driver_name ? info.driver_name : "?";
		if (!strncmp(drv, "net_", 4) && strcmp(drv, "net_pcap") &&
		    strcmp(drv, "net_null")) {
			fprintf(stderr,
			        PROG
			        ": port %s (%s): a secondary cannot send "
			        "on this driver's queues (they are the "
			        "primary's sockets); net_pcap, net_null and "
			        "NICs can\n",
			        name, drv);
			return -1;
		}
		if (info.nb_tx_queues < nq) {
			fprintf(stderr,
			        PROG ": --tx-queues %u: port %s has "
			             "%u TX queue(s) set up by its primary\n",
			        nq, name, info.nb_tx_queues);
			return -1;
		}
		return 0;
	}
	if (nq > info.max_tx_queues) {
		fprintf(stderr,
		        PROG ": --tx-queues %u: port %s has at most %u "
		             "TX queue(s)%s\n",
		        nq, name, info.max_tx_queues,
		        info.driver_name &&
		                strcmp(info.driver_name, "net_pcap") == 0
		            ? " (net_pcap: one per tx_pcap= devarg)"
		            : "");
		return -1;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(port, 0, (uint16_t)nq, &conf);
	if (rc) {
		fprintf(stderr, PROG ": port %s: configure failed: %s\n", name,
		        strerror(-rc));
		return -1;
	}
	uint16_t rxd = 0, txd = TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
	for (unsigned q = 0; q < nq; q++) {
		rc = rte_eth_tx_queue_setup(port, (uint16_t)q, txd,
		                            rte_eth_dev_socket_id(port), NULL);
		if (rc) {
			fprintf(stderr,
			        PROG ": port %s TX queue %u: setup "
			             "failed: %s\n",
			        name, q, strerror(-rc));
			return -1;
		}
	}
	rc = rte_eth_dev_start(port);
	if (rc) {
		fprintf(stderr, PROG ": port %s: start failed: %s\n", name,
		        strerror(-rc));
		return -1;
	}
	r->ports_started++;
	return 0;
}

static int
setup_pools(struct replay *r)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	unsigned lcores = rte_lcore_count();
	unsigned count =
	    8191 + r->n_lanes * (TX_DESC + 2 * RP_BURST_MAX) + lcores * 512;
	snprintf(name, sizeof(name), "ns_rp_%d", (int)getpid());
	r->pool =
	    rp_pool_create(name, count, RP_SMALL_ROOM, (int)rte_socket_id());
	if (!r->pool) {
		fprintf(stderr,
		        PROG ": mempool of %u mbufs: %s (reserve more "
		             "hugepages)\n",
		        count, rte_strerror(rte_errno));
		return -1;
	}
	if (r->t->longest <= RP_SMALL_ROOM)
		return 0;
	/* frames longer than the ordinary mbufs: a pool sized to the
	 * longest, as large as memory allows */
	uint32_t room = (r->t->longest + 63) & ~63u;
	if (room > NS_FRAME_MAX)
		room = NS_FRAME_MAX;
	unsigned big = r->n_lanes * (TX_DESC + RP_BURST_MAX) + 1024;
	snprintf(name, sizeof(name), "ns_rp_big_%d", (int)getpid());
	for (; big >= 2 * RP_BURST_MAX; big /= 2) {
		r->big_pool =
		    rp_pool_create(name, big - 1, room, (int)rte_socket_id());
		if (r->big_pool)
			break;
	}
	if (!r->big_pool) {
		fprintf(stderr,
		        PROG ": no hugepage memory for mbufs of %u "
		             "bytes (the longest frame); reserve more "
		             "hugepages or lower --max-frame\n",
		        room);
		return -1;
	}
	r->job.big_room = room;
	return 0;
}

/* Lanes (port, queue), lcores for them, and each lcore's records. */
static int
setup_lanes(struct replay *r)
{
	const struct opts *o = r->o;
	r->n_lanes = r->n_ports * o->tx_queues;
	if (r->n_lanes > RP_MAX_LANES) {
		fprintf(stderr,
		        PROG ": %u ports x %u TX queues: at most %u "
		             "lanes\n",
		        r->n_ports, o->tx_queues, RP_MAX_LANES);
		return -1;
	}
	r->lanes = rte_zmalloc("ns_rp_lanes", r->n_lanes * sizeof(*r->lanes),
	                       RTE_CACHE_LINE_SIZE);
	if (!r->lanes)
		return -1;
	unsigned workers[RTE_MAX_LCORE], nw = 0, lc;
	RTE_LCORE_FOREACH_WORKER(lc)
	workers[nw++] = lc;
	for (unsigned k = 0; k < r->n_lanes; k++) {
		struct rp_lane *L = &r->lanes[k];
		L->port_id = r->port_id[k / o->tx_queues];
		L->queue_id = (uint16_t)(k % o->tx_queues);
		L->lcore = nw ? workers[k % nw] : rte_get_main_lcore();
		struct rp_worker *w = &r->work[L->lcore];
		r->lane_ptr[L->lcore][w->n_lanes] = L;
		w->lanes = r->lane_ptr[L->lcore];
		w->n_lanes++;
		w->job = &r->job;
	}
	/* a flow's records go to one lane; an lcore takes the records of
	 * its lanes, in trace order */
	size_t n = r->t->n;
	const struct ns_pkt_record *rec = r->t->in.pkts.v;
	uint8_t *lane = malloc(n ? n : 1);
	r->idx = malloc((n ? n : 1) * sizeof(*r->idx));
	r->lane_of = malloc(n ? n : 1);
	if (!lane || !r->idx || !r->lane_of) {
		free(lane);
		return -1;
	}
	size_t count[RTE_MAX_LCORE] = {0};
	for (size_t i = 0; i < n; i++) {
		lane[i] = (uint8_t)(r->n_lanes > 1
		                        ? rp_flow_hash(&rec[i]) % r->n_lanes
		                        : 0);
		count[r->lanes[lane[i]].lcore]++;
	}
	size_t at = 0;
	RTE_LCORE_FOREACH(lc)
	{
		r->work[lc].idx = r->idx + at;
		r->work[lc].lane_of = r->lane_of + at;
		at += count[lc];
	}
	for (size_t i = 0; i < n; i++) {
		struct rp_lane *L = &r->lanes[lane[i]];
		struct rp_worker *w = &r->work[L->lcore];
		unsigned k = 0;
		while (w->lanes[k] != L)
			k++;
		((uint32_t *)w->idx)[w->n_idx] = (uint32_t)i;
		((uint8_t *)w->lane_of)[w->n_idx] = (uint8_t)k;
		w->n_idx++;
	}
	free(lane);
	return 0;
}

static int
worker_main(void *arg)
{
	return rp_worker_run(arg);
}

static void
sum_lanes(const struct replay *r, struct rp_lane_stats *s, struct rp_hist *err)
{
	memset(s, 0, sizeof(*s));
	memset(err, 0, sizeof(*err));
	uint64_t first = UINT64_MAX;
	for (unsigned k = 0; k < r->n_lanes; k++) {
		const struct rp_lane_stats *l = &r->lanes[k].st;
		s->sent += l->sent;
		s->dropped += l->dropped;
		s->bytes += l->bytes;
		s->late += l->late;
		s->retries += l->retries;
		s->nombuf += l->nombuf;
		rp_hist_merge(err, &l->err);
		if (!l->sent)
			continue;
		if (l->first_tsc < first)
			first = l->first_tsc;
		if (l->last_tsc >= s->last_tsc) {
			s->last_tsc = l->last_tsc;
			s->last_len = l->last_len;
		}
	}
	s->first_tsc = first == UINT64_MAX ? 0 : first;
}

static void
report(const struct replay *r)
{
	const struct opts *o = r->o;
	struct rp_lane_stats s;
	static struct rp_hist err;
	sum_lanes(r, &s, &err);
	double hz = r->tsc_hz;
	double dur = s.sent > 1 ? (double)(s.last_tsc - s.first_tsc) / hz : 0;
	/* rates between the first and the last departure: the last frame's
	 * bytes left at its departure, after the span */
	double pps = dur > 0 ? (double)(s.sent - 1) / dur : 0;
	double mbps =
	    dur > 0 ? (double)(s.bytes - s.last_len) * 8 / dur / 1e6 : 0;
	double to_us = 1e6 / hz;
	int timed = r->job.paced && err.count;
	double mean = timed ? (double)err.sum / (double)err.count * to_us : 0;
	double p50 = rp_hist_quantile(&err, 0.5) * to_us;
	double p99 = rp_hist_quantile(&err, 0.99) * to_us;
	double mx = (double)err.max * to_us;
	double rate = o->pace.mode == RP_PACE_PPS     ? o->pace.pps
	              : o->pace.mode == RP_PACE_MBPS  ? o->pace.mbps
	              : o->pace.mode == RP_PACE_TRACE ? o->pace.speed
	                                              : 0;
	if (o->json) {
		printf("{\"mode\":\"%s\",\"rate\":%.17g,\"loops\":%" PRIu64
		       ",\"sent\":%" PRIu64 ",\"dropped\":%" PRIu64
		       ",\"late\":%" PRIu64 ",\"late_us\":%.17g,"
		       "\"bytes\":%" PRIu64 ",\"duration_s\":%.9f,"
		       "\"pps\":%.6f,\"mbps\":%.6f,\"retries\":%" PRIu64
		       ",\"nombuf\":%" PRIu64 ",",
		       pace_name(o->pace.mode), rate, o->loops, s.sent,
		       s.dropped, s.late, o->late_us, s.bytes, dur, pps, mbps,
		       s.retries, s.nombuf);
		if (timed)
			printf("\"timing_error_us\":{\"count\":%" PRIu64
			       ",\"mean\":%.6f,\"p50\":%.6f,\"p99\":%.6f,"
			       "\"max\":%.6f},",
			       err.count, mean, p50, p99, mx);
		else
			printf("\"timing_error_us\":null,");
		printf("\"tsc_hz\":%.1f,\"dpdk_tsc_hz\":%" PRIu64 ",", hz,
		       rte_get_tsc_hz());
		json_records(stdout, r->t);
		printf(",\"lanes\":[");
		for (unsigned k = 0; k < r->n_lanes; k++) {
			const struct rp_lane *L = &r->lanes[k];
			unsigned pi = k / o->tx_queues;
			printf("%s{\"port\":\"%s\",\"queue\":%u,\"lcore\":%u,"
			       "\"sent\":%" PRIu64 ",\"dropped\":%" PRIu64
			       ",\"late\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
			       k ? "," : "", r->port_name[pi], L->queue_id,
			       L->lcore, L->st.sent, L->st.dropped, L->st.late,
			       L->st.bytes);
		}
		printf("]}\n");
		return;
	}
	printf(PROG ": sent %" PRIu64 " frames (%" PRIu64 " bytes) on %u "
	            "lane(s) in %.6f s: %.1f pps, %.3f Mbps (%s pacing)\n",
	       s.sent, s.bytes, r->n_lanes, dur, pps, mbps,
	       pace_name(o->pace.mode));
	printf("  dropped %" PRIu64
	       " (refused after %u retries), late %" PRIu64
	       " (> %g us after due), TX retries %" PRIu64
	       ", mbuf waits %" PRIu64 "\n",
	       s.dropped, o->retries, s.late, o->late_us, s.retries, s.nombuf);
	if (timed)
		printf("  timing error |sent - due|: mean %.3f us, p50 %.3f "
		       "us, p99 %.3f us, max %.3f us\n",
		       mean, p50, p99, mx);
	printf("  TSC %.0f Hz (measured; DPDK says %" PRIu64 ")\n", hz,
	       rte_get_tsc_hz());
	text_records(stdout, r->t);
	for (unsigned k = 0; r->n_lanes > 1 && k < r->n_lanes; k++) {
		const struct rp_lane *L = &r->lanes[k];
		printf("  lane %u: port %s queue %u lcore %u: sent %" PRIu64
		       ", dropped %" PRIu64 ", late %" PRIu64 "\n",
		       k, r->port_name[k / o->tx_queues], L->queue_id,
		       L->lcore, L->st.sent, L->st.dropped, L->st.late);
	}
}

static int
run_replay(struct replay *r)
{
	const struct opts *o = r->o;
	r->primary = rte_eal_process_type() == RTE_PROC_PRIMARY;
	if (find_ports(r))
		return 1;
	for (unsigned i = 0; i < r->n_ports; i++)
		if (setup_port(r, i))
			return 1;
	if (setup_lanes(r) || setup_pools(r))
		return 1;

	r->tsc_hz = rp_tsc_calibrate(CALIBRATE_MS);
	r->due = malloc(r->t->n * sizeof(*r->due));
	if (!r->due) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	struct rp_job *j = &r->job;
	rp_schedule(r->t->in.pkts.v, r->t->frame_len, r->t->n, &o->pace,
	            r->tsc_hz, r->due, &j->period);
	j->rec = r->t->in.pkts.v;
	j->frame_len = r->t->frame_len;
	j->due = r->due;
	j->n = r->t->n;
	j->loops = o->loops;
	j->paced = o->pace.mode != RP_PACE_TOP;
	j->late_tsc = (uint64_t)(o->late_us * 1e-6 * r->tsc_hz);
	j->burst = o->burst;
	j->retries = o->retries;
	j->retry_wait_tsc = (uint64_t)(1e-6 * r->tsc_hz);
	j->fo = o->fo;
	j->pool = r->pool;
	j->big_pool = r->big_pool;
	j->room = RP_SMALL_ROOM;
	j->quit = &dp_quit;

	dp_catch_stop();
	j->t0 = rte_rdtsc() + (uint64_t)(START_LEAD_MS * 1e-3 * r->tsc_hz);
	unsigned lc;
	RTE_LCORE_FOREACH_WORKER(lc)
	if (r->work[lc].n_lanes)
		rte_eal_remote_launch(worker_main, &r->work[lc], lc);
	struct rp_worker *mine = &r->work[rte_get_main_lcore()];
	if (mine->n_lanes)
		rp_worker_run(mine);
	/* wait without spinning: the workers may need this core's
	 * siblings (a veth's kernel path, a capture) */
	RTE_LCORE_FOREACH_WORKER(lc)
	while (rte_eal_get_lcore_state(lc) == RUNNING)
		rte_delay_us_sleep(1000);
	rte_eal_mp_wait_lcore();
	if (dp_quit)
		fprintf(stderr, PROG ": stopped by a signal\n");
	report(r);
	return 0;
}

static void
cleanup(struct replay *r)
{
	for (unsigned i = 0; r->primary && i < r->ports_started; i++) {
		rte_eth_dev_stop(r->port_id[i]);
		rte_eth_dev_close(r->port_id[i]);
	}
	rte_mempool_free(r->pool);
	rte_mempool_free(r->big_pool);
	rte_free(r->lanes);
	free(r->idx);
	free(r->lane_of);
	free(r->due);
}

/* EAL gets what precedes "--"; without "--" everything is ours (the
 * --write-pcap mode needs no EAL options). */
struct split {
	int eal_argc, app_argc;
	char **eal_argv, **app_argv;
};

static int
split_args(int argc, char **argv, struct split *s, unsigned extra)
{
	int at = -1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			at = i;
			break;
		}
	s->eal_argv = calloc((size_t)argc + extra + 1, sizeof(char *));
	s->app_argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!s->eal_argv || !s->app_argv)
		return -1;
	s->eal_argc = s->app_argc = 0;
	s->eal_argv[s->eal_argc++] = argv[0];
	s->app_argv[s->app_argc++] = argv[0];
	for (int i = 1; i < argc; i++) {
		if (i == at)
			continue;
		if (at > 0 && i < at)
			s->eal_argv[s->eal_argc++] = argv[i];
		else
			s->app_argv[s->app_argc++] = argv[i];
	}
	return 0;
}

static int
eal_has(const struct split *s, const char *prefix)
{
	for (int i = 1; i < s->eal_argc; i++)
		if (strncmp(s->eal_argv[i], prefix, strlen(prefix)) == 0)
			return 1;
	return 0;
}

/* Is this EAL argument list creating or allowing the device already? */
static int
eal_names_device(const struct split *s, const char *name)
{
	size_t n = strlen(name);
	for (int i = 1; i < s->eal_argc; i++) {
		const char *a = s->eal_argv[i];
		if (!strncmp(a, "--vdev=", 7))
			a += 7;
		else if (!strncmp(a, "--allow=", 8))
			a += 8;
		if (!strncmp(a, name, n) && (a[n] == '\0' || a[n] == ','))
			return 1;
	}
	return 0;
}

static int
is_pci_name(const char *s)
{
	return strchr(s, ':') && strchr(s, '.') && strncmp(s, "net_", 4);
}

static struct split sp;

static int
run_program(int argc, char **argv)
{
	static struct opts o;
	if (split_args(argc, argv, &sp, 2 * MAX_PORTS)) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
	if (parse_opts(sp.app_argc, sp.app_argv, &o)) {
		fprintf(stderr, "(" PROG " --help for the options)\n");
		return 2;
	}
	static struct trace t;
	if (load_trace(&o, &t)) {
		free_trace(&t);
		return 1;
	}
	dp_catch_stop();
	if (o.write_pcap) {
		int rc = write_pcap(&o, &t);
		free_trace(&t);
		return rc;
	}

	/* a --vdev (or -a for PCI addresses) for each port with devargs,
	 * and for vdev names EAL was not given */
	int secondary = eal_has(&sp, "--proc-type=secondary") ||
	                eal_has(&sp, "--proc-type=s");
	static char vdev_opt[] = "--vdev", allow_opt[] = "-a";
	for (unsigned i = 0; i < o.n_ports; i++) {
		struct port_arg *p = &o.port[i];
		if (secondary) {
			if (p->devargs) {
				fprintf(stderr,
				        PROG ": --port %s: a secondary "
				             "sends on its primary's ports; "
				             "give the name only\n",
				        p->eal);
				free_trace(&t);
				return 2;
			}
			continue;
		}
		if (eal_names_device(&sp, p->name))
			continue;
		if (is_pci_name(p->name)) {
			if (!p->devargs)
				continue;
			sp.eal_argv[sp.eal_argc++] = allow_opt;
		} else {
			sp.eal_argv[sp.eal_argc++] = vdev_opt;
		}
		sp.eal_argv[sp.eal_argc++] = p->eal;
	}
	if (rte_eal_init(sp.eal_argc, sp.eal_argv) < 0) {
		fprintf(stderr, PROG ": EAL init failed: %s\n",
		        rte_strerror(rte_errno));
		free_trace(&t);
		return 1;
	}
	static struct replay r;
	r.o = &o;
	r.t = &t;
	int rc = run_replay(&r);
	cleanup(&r);
	rte_eal_cleanup();
	free_trace(&t);
	return rc;
}

int
main(int argc, char **argv)
{
	int rc = run_program(argc, argv);
	free(sp.eal_argv);
	free(sp.app_argv);
	return rc;
}
