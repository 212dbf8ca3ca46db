/* netshare-ringdump: a DPDK secondary that drains netshare-dataplane's
 * rings into files, so operators see what the learner sees. Packet
 * records go to a NetShare packet CSV or a pcap (by extension), flow
 * records to a NetShare flow CSV. It stops when the primary has stopped
 * and every ring is empty, after --seconds, after --count records, or on
 * SIGINT/SIGTERM; the files are then written atomically. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "dp_args.h"
#include "netshare/dataplane.h"
#include "netshare/trace.h"

#define BURST 256


static void
usage(FILE *f)
{
	fputs("usage: netshare-ringdump [EAL options] -- [options]\n"
	      "\n"
	      "Attach to a running netshare-dataplane (same --file-prefix)\n"
	      "as a secondary and drain its rings. It is the rings' only\n"
	      "consumer while it runs.\n"
	      "\n"
	      "Options (after --):\n"
	      "  --packets FILE  packet records: .pcap, or NetShare packet CSV\n"
	      "  --flows FILE    flow records: NetShare flow CSV\n"
	      "  --seconds S     stop after S seconds (default: when the\n"
	      "                  primary has stopped and the rings are empty)\n"
	      "  --count N       stop after N packet records\n"
	      "  -q, --quiet     no progress lines\n"
	      "  -h, --help      this help\n"
	      "\n"
	      "Without --packets or --flows, records are counted, not kept.\n"
	      "Exit status: 0 success, 1 attach or write failure, 2 usage.\n",
	      f);
}

struct dump {
	const char *pkt_path, *flow_path;
	double seconds;
	unsigned long long count;
	int quiet;
	const struct ns_dp_shared *sh;
	unsigned n;
	struct rte_ring *pkt[NS_DP_MAX_QUEUES], *flow[NS_DP_MAX_QUEUES];
	struct ns_pkt_trace pkts;
	struct ns_flow_trace flows;
	unsigned long long n_pkts, n_flows;
	unsigned long long while_running; /* records taken before it stopped */
};

static double
now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static int
parse_args(int argc, char **argv, struct dump *d)
{
	static const struct option opts[] = {
		{"packets", required_argument, NULL, 'p'},
		{"flows", required_argument, NULL, 'f'},
		{"seconds", required_argument, NULL, 's'},
		{"count", required_argument, NULL, 'c'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	optind = 1;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			d->pkt_path = optarg;
			break;
		case 'f':
			d->flow_path = optarg;
			break;
		case 's':
			d->seconds = strtod(optarg, &end);
			if (*end || !(d->seconds > 0)) {
				fprintf(stderr, "netshare-ringdump: --seconds "
						"takes a positive number\n");
				return -1;
			}
			break;
		case 'c':
			errno = 0;
			d->count = strtoull(optarg, &end, 10);
			if (*end || errno || !d->count) {
				fprintf(stderr, "netshare-ringdump: --count "
						"takes a positive integer\n");
				return -1;
			}
			break;
		case 'q':
			d->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "netshare-ringdump: unexpected argument "
				"'%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

static int
attach(struct dump *d)
{
	const struct rte_memzone *mz = rte_memzone_lookup(NS_DP_MEMZONE);
	if (!mz) {
		fprintf(stderr, "netshare-ringdump: no '%s' memzone: the "
				"primary is not netshare-dataplane\n",
			NS_DP_MEMZONE);
		return -1;
	}
	d->sh = mz->addr;
	if (d->sh->magic != NS_DP_MAGIC || d->sh->version != NS_DP_VERSION) {
		fprintf(stderr, "netshare-ringdump: memzone version %u, this "
				"program reads %u\n",
			d->sh->version, NS_DP_VERSION);
		return -1;
	}
	/* the primary publishes the queue count once its rings exist */
	double t0 = now_s();
	while (d->sh->state == NS_DP_STARTING && now_s() - t0 < 30 && !dp_quit)
		rte_delay_us_sleep(10000);
	d->n = d->sh->n_queues;
	for (unsigned k = 0; k < d->n && k < NS_DP_MAX_QUEUES; k++) {
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "%s%u", NS_DP_PKT_RING, k);
		d->pkt[k] = rte_ring_lookup(name);
		snprintf(name, sizeof(name), "%s%u", NS_DP_FLOW_RING, k);
		d->flow[k] = rte_ring_lookup(name);
		if (!d->pkt[k] || !d->flow[k]) {
			fprintf(stderr, "netshare-ringdump: ring %s missing\n",
				name);
			return -1;
		}
	}
	return 0;
}

/* One pass over every ring; returns records taken. */
static unsigned
drain_once(struct dump *d)
{
	static struct ns_pkt_record pr[BURST];
	static struct ns_flow_record fr[BURST];
	unsigned got = 0;
	for (unsigned k = 0; k < d->n; k++) {
		unsigned n = rte_ring_sc_dequeue_burst_elem(
			d->pkt[k], pr, sizeof(pr[0]), BURST, NULL);
		d->n_pkts += n;
		got += n;
		for (unsigned i = 0; d->pkt_path && i < n; i++)
			if (ns_pkt_trace_push(&d->pkts, &pr[i]))
				goto oom;
		n = rte_ring_sc_dequeue_burst_elem(d->flow[k], fr,
						   sizeof(fr[0]), BURST, NULL);
		d->n_flows += n;
		got += n;
		for (unsigned i = 0; d->flow_path && i < n; i++)
			if (ns_flow_trace_push(&d->flows, &fr[i]))
				goto oom;
	}
	return got;
oom:
	fprintf(stderr, "netshare-ringdump: out of memory after %llu "
			"records; stopping\n",
		d->n_pkts + d->n_flows);
	dp_quit = 1;
	return got;
}

static int
write_outputs(struct dump *d)
{
	int rc = 0;
	if (d->pkt_path) {
		size_t n = strlen(d->pkt_path);
		int pcap = n > 5 && !strcasecmp(d->pkt_path + n - 5, ".pcap");
		if ((pcap ? ns_write_pcap(d->pkt_path, &d->pkts)
			  : ns_write_pkt_csv(d->pkt_path, &d->pkts)) != 0) {
			fprintf(stderr, "netshare-ringdump: cannot write %s: "
					"%s\n",
				d->pkt_path, strerror(errno));
			rc = 1;
		}
	}
	if (d->flow_path && ns_write_flow_csv(d->flow_path, &d->flows) != 0) {
		fprintf(stderr, "netshare-ringdump: cannot write %s: %s\n",
			d->flow_path, strerror(errno));
		rc = 1;
	}
	return rc;
}

static void
run(struct dump *d)
{
	double t0 = now_s(), next_note = t0 + 1;
	for (;;) {
		uint32_t state = d->sh->state; /* read before draining */
		unsigned got = drain_once(d);
		if (state == NS_DP_RUNNING)
			d->while_running += got;
		if (dp_quit)
			break;
		if (d->count && d->n_pkts >= d->count)
			break;
		double t = now_s();
		if (d->seconds > 0 && t - t0 >= d->seconds)
			break;
		if (!got && state == NS_DP_STOPPED)
			break; /* stopped before this pass: all taken */
		if (!d->quiet && t >= next_note) {
			fprintf(stderr, "netshare-ringdump: %llu packet "
					"records, %llu flow records (primary "
					"%s)\n",
				d->n_pkts, d->n_flows,
				state == NS_DP_RUNNING ? "running" : "stopping");
			next_note = t + 1;
		}
		if (!got)
			rte_delay_us_sleep(1000);
	}
}

static int
run_program(struct dp_args *args)
{
	if (args->help) {
		usage(stdout);
		return 0;
	}
	struct dump d;
	memset(&d, 0, sizeof(d));
	if (parse_args(args->app_argc, args->app_argv, &d)) {
		usage(stderr);
		return 2;
	}
	dp_args_secondary(args);
	if (rte_eal_init(args->eal_argc, args->eal_argv) < 0) {
		fprintf(stderr, "netshare-ringdump: cannot attach: %s (is "
				"netshare-dataplane running with the same "
				"--file-prefix?)\n",
			rte_strerror(rte_errno));
		return 1;
	}
	dp_catch_stop();
	int rc = 1;
	if (attach(&d) == 0) {
		run(&d);
		rc = write_outputs(&d);
		fprintf(stderr, "netshare-ringdump: %llu packet records, %llu "
				"flow records from %u queue(s), %llu of them "
				"while the primary ran\n",
			d.n_pkts, d.n_flows, d.n, d.while_running);
	}
	ns_pkt_trace_free(&d.pkts);
	ns_flow_trace_free(&d.flows);
	rte_eal_cleanup();
	return rc;
}

int
main(int argc, char **argv)
{
	struct dp_args args;
	if (dp_args_split(argc, argv, &args)) {
		fprintf(stderr, "netshare-ringdump: out of memory\n");
		return 1;
	}
	int rc = run_program(&args);
	dp_args_free(&args);
	return rc;
}
