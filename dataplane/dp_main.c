/* netshare-dataplane: the DPDK primary that captures on NIC queues and
 * feeds header records and flow records to shared rings; with --stats, a
 * secondary that prints the primary's counters.
 *
 * Start-up follows DPDK's order: EAL, config, shared memzone, ports'
 * devices, mempool, port and queue setup (RSS over the queues), rings
 * and flow tables, then one RX lcore per queue. SIGINT/SIGTERM stops
 * the lcores; the main lcore then closes every open flow into the flow
 * rings and waits a while for consumers before it exits. */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_memzone.h>

#include "netshare/xdp_ctl.h"

#include "dp_args.h"
#include "dp_config.h"
#include "dp_port.h"
#include "dp_queue.h"
#include "dp_stats.h"

#define MBUF_CACHE 256
#define STATS_PERIOD_NS 200000000ull /* port counter refresh */


struct lcore_work {
	struct dp_queue *q[NS_DP_MAX_QUEUES];
	unsigned n;
};

struct dataplane {
	struct dp_config cfg;
	struct ns_dp_shared *sh;
	struct dp_clock clock;
	struct rte_mempool *pool;
	uint16_t port_ids[NS_DP_MAX_PORTS];
	unsigned ports_started;
	int has_xdp[NS_DP_MAX_PORTS]; /* AF_XDP port with our XDP filter */
	struct ns_xdp xdp[NS_DP_MAX_PORTS];
	struct dp_queue *queues;
	unsigned n_queues;
	struct lcore_work work[RTE_MAX_LCORE];
};

static void
usage(FILE *f)
{
	fputs("usage: netshare-dataplane [EAL options] -- --config FILE\n"
	      "       netshare-dataplane [EAL options] -- --stats [--json]\n"
	      "\n"
	      "Capture on DPDK ports: every frame becomes a 64-byte header\n"
	      "record in a per-queue ring, and a per-queue flow meter puts\n"
	      "NetFlow-style records in a second ring; secondaries\n"
	      "(netshare-ringdump, the learner, the control daemon) drain\n"
	      "them. SIGINT or SIGTERM stops capture and flushes every open\n"
	      "flow.\n"
	      "\n"
	      "Options (after --):\n"
	      "  --config FILE   dataplane config (configs/dataplane-*.json)\n"
	      "  --print-config  print the effective config and exit\n"
	      "  --stats         attach to a running primary (same\n"
	      "                  --file-prefix) and print its counters\n"
	      "  --json          with --stats: one JSON object\n"
	      "  -h, --help      this help\n"
	      "\n"
	      "Example on a pcap file, no NIC:\n"
	      "  netshare-dataplane -l 0-1 --no-pci --file-prefix ns -- \\\n"
	      "      --config configs/dataplane-pcap.json\n"
	      "\n"
	      "Exit status: 0 clean stop, 1 start-up failure, 2 usage.\n",
	      f);
}

struct app_args {
	const char *config;
	int stats, json, print_config;
};

/* Our options come after "--"; look for them before EAL starts so that
 * --help and --stats shape how it starts. Returns -1 on a usage error. */
static int
parse_app_args(int argc, char **argv, struct app_args *a)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"stats", no_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"print-config", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->config = optarg;
			break;
		case 's':
			a->stats = 1;
			break;
		case 'j':
			a->json = 1;
			break;
		case 'p':
			a->print_config = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "netshare-dataplane: unexpected argument "
				"'%s'\n", argv[optind]);
		return -1;
	}
	if (!a->stats && !a->config) {
		fprintf(stderr, "netshare-dataplane: --config FILE or --stats "
				"is required\n");
		return -1;
	}
	return 0;
}

static int
run_stats(const struct app_args *a)
{
	const struct rte_memzone *mz = rte_memzone_lookup(NS_DP_MEMZONE);
	if (!mz) {
		fprintf(stderr, "netshare-dataplane: the primary has no "
				"'%s' memzone (not a netshare-dataplane?)\n",
			NS_DP_MEMZONE);
		return 1;
	}
	const struct ns_dp_shared *sh = mz->addr;
	if (sh->magic != NS_DP_MAGIC || sh->version != NS_DP_VERSION) {
		fprintf(stderr, "netshare-dataplane: memzone '%s' has "
				"version %u, this program reads %u\n",
			NS_DP_MEMZONE, sh->version, NS_DP_VERSION);
		return 1;
	}
	if (a->json)
		dp_stats_print_json(sh, stdout);
	else
		dp_stats_print_text(sh, stdout);
	return 0;
}

/* Map the config's device names to port ids (vdevs with devargs were
 * created by EAL from the --vdev arguments main adds). */
static int
find_ports(struct dataplane *dp)
{
	for (unsigned i = 0; i < dp->cfg.n_ports; i++) {
		const struct dp_port_cfg *p = &dp->cfg.port[i];
		uint16_t id;
		if (rte_eth_dev_get_port_by_name(p->name, &id) != 0 &&
		    dp_port_of_device(p->name, &id) != 0) {
			fprintf(stderr, "netshare-dataplane: port '%s' not "
					"found%s\n",
				p->name,
				p->devargs[0]
					? ": its driver refused the devargs "
					  "(see the EAL message above)"
					: ": pass --vdev or bind the NIC (and "
					  "drop --no-pci), or give \"devargs\" "
					  "in the config");
			return -1;
		}
		dp->port_ids[i] = id;
	}
	return 0;
}

static int
setup_port(struct dataplane *dp, unsigned i)
{
	const struct dp_port_cfg *p = &dp->cfg.port[i];
	uint16_t port = dp->port_ids[i];
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc) {
		fprintf(stderr, "netshare-dataplane: port '%s': no device "
				"info: %s\n", p->name, strerror(-rc));
		return -1;
	}
	if (p->queues > info.max_rx_queues) {
		fprintf(stderr, "netshare-dataplane: port '%s' has at most %u "
				"RX queues; the config asks for %u\n",
			p->name, info.max_rx_queues, p->queues);
		return -1;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (p->queues > 1) {
		uint64_t hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP |
			       RTE_ETH_RSS_UDP) &
			      info.flow_type_rss_offloads;
		if (hf) {
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			conf.rx_adv_conf.rss_conf.rss_hf = hf;
		} else {
			/* e.g. net_af_packet, whose kernel fanout hashes
			 * flows to queues by itself */
			fprintf(stderr, "netshare-dataplane: port '%s' has no "
					"RSS; its driver spreads frames over "
					"the %u queues\n",
				p->name, p->queues);
		}
	}
	if (dp->cfg.port_timestamps &&
	    (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP))
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
	/* TX queues where the port has them (AF_XDP wants pairs; replay
	 * will use them); capture-only ports like rx_pcap have none */
	uint16_t ntx = info.max_tx_queues < p->queues ? info.max_tx_queues
						      : p->queues;
	rc = rte_eth_dev_configure(port, p->queues, ntx, &conf);
	if (rc) {
		fprintf(stderr, "netshare-dataplane: port '%s': configure "
				"failed: %s\n", p->name, strerror(-rc));
		return -1;
	}
	uint16_t rxd = (uint16_t)dp->cfg.rx_desc, txd = 512;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
	for (uint16_t q = 0; q < ntx; q++) {
		rc = rte_eth_tx_queue_setup(port, q, txd,
					    rte_eth_dev_socket_id(port), NULL);
		if (rc) {
			fprintf(stderr, "netshare-dataplane: port '%s' TX queue "
					"%u: setup failed: %s\n",
				p->name, q, strerror(-rc));
			return -1;
		}
	}
	for (uint16_t q = 0; q < p->queues; q++) {
		rc = rte_eth_rx_queue_setup(port, q, rxd,
					    rte_eth_dev_socket_id(port), NULL,
					    dp->pool);
		if (rc) {
			fprintf(stderr, "netshare-dataplane: port '%s' queue "
					"%u: setup failed: %s\n",
				p->name, q, strerror(-rc));
			return -1;
		}
	}
	rc = rte_eth_dev_start(port);
	if (rc) {
		fprintf(stderr, "netshare-dataplane: port '%s': start "
				"failed: %s\n", p->name, strerror(-rc));
		return -1;
	}
	rte_eth_promiscuous_enable(port); /* not every port can */
	struct ns_dp_port_stats *ps = &dp->sh->port[i];
	ps->port_id = port;
	ps->queues = p->queues;
	snprintf(ps->name, sizeof(ps->name), "%s", p->name);
	return 0;
}

/* An AF_XDP port given our XDP program (xdp_prog=): sampling moves into
 * the kernel, before frames reach the socket; its counters join the
 * port's. */
static int
setup_xdp(struct dataplane *dp, unsigned i)
{
	const struct dp_port_cfg *p = &dp->cfg.port[i];
	const char *prog = strstr(p->devargs, "xdp_prog=");
	const char *iface = strstr(p->devargs, "iface=");
	if (!prog || !iface)
		return 0;
	char ifname[IF_NAMESIZE];
	iface += strlen("iface=");
	size_t n = strcspn(iface, ",");
	if (n == 0 || n >= sizeof(ifname)) {
		fprintf(stderr, "netshare-dataplane: port '%s': bad iface= in "
				"devargs\n", p->name);
		return -1;
	}
	memcpy(ifname, iface, n);
	ifname[n] = '\0';
	char err[256];
	if (ns_xdp_open(&dp->xdp[i], ifname, err, sizeof(err)) ||
	    ns_xdp_set_sample(&dp->xdp[i], dp->cfg.sample_one_in, err,
			      sizeof(err))) {
		fprintf(stderr, "netshare-dataplane: port '%s': the XDP "
				"filter on %s: %s\n",
			p->name, ifname, err);
		return -1;
	}
	dp->has_xdp[i] = 1;
	return 0;
}

static struct rte_ring *
make_ring(const char *prefix, unsigned idx, unsigned esize, unsigned count)
{
	char name[RTE_RING_NAMESIZE];
	snprintf(name, sizeof(name), "%s%u", prefix, idx);
	struct rte_ring *r = rte_ring_create_elem(
		name, esize, count, (int)rte_socket_id(),
		RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (!r)
		fprintf(stderr, "netshare-dataplane: ring %s of %u: %s\n",
			name, count, rte_strerror(rte_errno));
	return r;
}

/* Rx timestamps are in a unit of the driver's choosing: net_pcap gives
 * the file's time in microseconds, NICs that stamp give nanoseconds. */
static uint32_t
timestamp_unit_ns(uint16_t port)
{
	struct rte_eth_dev_info info;
	if (rte_eth_dev_info_get(port, &info) == 0 && info.driver_name &&
	    strcmp(info.driver_name, "net_pcap") == 0)
		return 1000;
	return 1;
}

static int
setup_queues(struct dataplane *dp)
{
	int ts_offset = -1;
	uint64_t ts_flag = 0;
	if (dp->cfg.port_timestamps) {
		int bit;
		ts_offset = rte_mbuf_dynfield_lookup(
			RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
		bit = rte_mbuf_dynflag_lookup(
			RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, NULL);
		if (ts_offset < 0 || bit < 0) {
			fprintf(stderr, "netshare-dataplane: \"timestamps\": "
					"\"port\" but no port stamps frames; "
					"using the wall clock\n");
			ts_offset = -1;
		} else {
			ts_flag = 1ull << bit;
		}
	}
	size_t msize = ns_meter_mem_size(&dp->cfg.meter);
	unsigned total = 0;
	for (unsigned i = 0; i < dp->cfg.n_ports; i++)
		total += dp->cfg.port[i].queues;
	dp->queues = rte_zmalloc("ns_dp_queues", total * sizeof(*dp->queues),
				 RTE_CACHE_LINE_SIZE);
	if (!dp->queues)
		return -1;
	unsigned k = 0;
	for (unsigned i = 0; i < dp->cfg.n_ports; i++) {
		for (uint16_t qi = 0; qi < dp->cfg.port[i].queues; qi++, k++) {
			struct dp_queue *q = &dp->queues[k];
			q->port_id = dp->port_ids[i];
			q->queue_id = qi;
			q->linktype = dp->cfg.port[i].linktype;

			q->st = &dp->sh->queue[k];
			q->st->port_id = q->port_id;
			q->st->queue_id = qi;
			q->pkt_ring = make_ring(NS_DP_PKT_RING, k,
						sizeof(struct ns_pkt_record),
						dp->cfg.pkt_ring_size);
			q->flow_ring = make_ring(NS_DP_FLOW_RING, k,
						 sizeof(struct ns_flow_record),
						 dp->cfg.flow_ring_size);
			void *mem = rte_zmalloc_socket(
				"ns_dp_flow_table", msize, RTE_CACHE_LINE_SIZE,
				rte_eth_dev_socket_id(q->port_id));
			if (!mem)
				fprintf(stderr,
					"netshare-dataplane: no %.0f MB of "
					"hugepage memory for a table of %u "
					"flows; lower \"flow_table_size\" or "
					"reserve more hugepages\n",
					msize / 1e6,
					dp->cfg.meter.max_flows);
			if (!q->pkt_ring || !q->flow_ring || !mem ||
			    dp_queue_init(q, mem, &dp->cfg.meter,
					  dp->has_xdp[i] ? 1
							 : dp->cfg.sample_one_in,
					  ts_offset, ts_flag, &dp->clock))
				return -1;
			q->ts_unit_ns = timestamp_unit_ns(q->port_id);
		}
	}
	dp->n_queues = total;
	dp->sh->n_queues = total;
	return 0;
}

/* One RX lcore per queue while lcores last; with fewer, queues share
 * lcores round robin, and with none but the main lcore it polls them.
 * The config's "lcores" list, when given, replaces the EAL's workers. */
static int
assign_queues(struct dataplane *dp)
{
	unsigned workers[RTE_MAX_LCORE], nw = 0, lc;
	if (dp->cfg.n_lcores) {
		for (unsigned i = 0; i < dp->cfg.n_lcores; i++) {
			lc = dp->cfg.lcores[i];
			if (lc >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lc)) {
				fprintf(stderr, "netshare-dataplane: config "
						"lcores[%u] = %u is not among "
						"the EAL's lcores (-l)\n",
					i, lc);
				return -1;
			}
			workers[nw++] = lc;
		}
	} else {
		RTE_LCORE_FOREACH_WORKER(lc)
		workers[nw++] = lc;
	}
	for (unsigned k = 0; k < dp->n_queues; k++) {
		unsigned l = nw ? workers[k % nw] : rte_get_main_lcore();
		struct lcore_work *w = &dp->work[l];
		w->q[w->n++] = &dp->queues[k];
		dp->queues[k].st->lcore_id = l;
	}
	return 0;
}

static void
poll_once(struct dataplane *dp, struct lcore_work *w)
{
	struct rte_mbuf *m[DP_MAX_BURST];
	unsigned got = 0;
	for (unsigned i = 0; i < w->n; i++) {
		struct dp_queue *q = w->q[i];
		uint16_t n = rte_eth_rx_burst(q->port_id, q->queue_id, m,
					      (uint16_t)dp->cfg.burst);
		uint64_t now = dp_clock_now(&dp->clock);
		if (n) {
			dp_queue_process(q, m, n, now);
			rte_pktmbuf_free_bulk(m, n);
			got += n;
		}
		dp_queue_sweep(q, now);
	}
	if (!got && dp->cfg.idle_sleep_us)
		rte_delay_us_sleep(dp->cfg.idle_sleep_us);
}

static int
rx_lcore(void *arg)
{
	struct dataplane *dp = arg;
	struct lcore_work *w = &dp->work[rte_lcore_id()];
	while (!dp_quit)
		poll_once(dp, w);
	return 0;
}

static void
refresh_port_stats(struct dataplane *dp)
{
	for (unsigned i = 0; i < dp->cfg.n_ports; i++) {
		struct rte_eth_stats s;
		if (rte_eth_stats_get(dp->port_ids[i], &s))
			continue;
		struct ns_dp_port_stats *ps = &dp->sh->port[i];
		ps->ipackets = s.ipackets;
		ps->ibytes = s.ibytes;
		ps->imissed = s.imissed;
		ps->ierrors = s.ierrors;
		ps->rx_nombuf = s.rx_nombuf;
		struct ns_xdp_stats x;
		if (dp->has_xdp[i] &&
		    ns_xdp_read_stats(&dp->xdp[i], &x, NULL, 0) == 0) {
			ps->xdp_seen = x.c[NS_XDP_CNT_SEEN];
			ps->xdp_drop_non_ip = x.c[NS_XDP_CNT_DROP_NON_IP];
			ps->xdp_drop_malformed = x.c[NS_XDP_CNT_DROP_MALFORMED];
			ps->xdp_drop_sampled = x.c[NS_XDP_CNT_DROP_SAMPLED];
			ps->xdp_redirected = x.c[NS_XDP_CNT_REDIRECTED];
		}
	}
	for (unsigned k = 0; k < dp->n_queues; k++) {
		struct dp_queue *q = &dp->queues[k];
		q->st->pkt_ring_used = rte_ring_count(q->pkt_ring);
		q->st->flow_ring_used = rte_ring_count(q->flow_ring);
	}
	dp->sh->updated_ns = dp_clock_now(&dp->clock);
}

static uint64_t
total_rx(const struct dataplane *dp)
{
	uint64_t rx = 0;
	for (unsigned k = 0; k < dp->n_queues; k++)
		rx += *(volatile uint64_t *)&dp->queues[k].st->rx;
	return rx;
}

static int
rings_empty(const struct dataplane *dp)
{
	for (unsigned k = 0; k < dp->n_queues; k++)
		if (!rte_ring_empty(dp->queues[k].pkt_ring) ||
		    !rte_ring_empty(dp->queues[k].flow_ring))
			return 0;
	return 1;
}

/* After the lcores stop: close the flows, then give consumers a while
 * to empty the rings. Flows idle at the end close as idle, like the
 * offline meter at the end of a file. */
static void
drain(struct dataplane *dp)
{
	dp->sh->state = NS_DP_DRAINING;
	uint64_t now = dp_clock_now(&dp->clock);
	uint64_t deadline = now + (uint64_t)(dp->cfg.drain_wait_s * 1e9);
	uint64_t end = now;
	if (dp->cfg.port_timestamps) {
		end = 0; /* the newest frame on any queue */
		for (unsigned k = 0; k < dp->n_queues; k++)
			if (dp->queues[k].latest_ns > end)
				end = dp->queues[k].latest_ns;
	}
	for (unsigned k = 0; k < dp->n_queues; k++)
		dp_queue_finish(&dp->queues[k], end, deadline);
	refresh_port_stats(dp);
	dp->sh->state = NS_DP_STOPPED;
	while (!rings_empty(dp) && dp_clock_now(&dp->clock) < deadline)
		rte_delay_us_sleep(1000);
	/* a consumer's last look at the emptied rings must not meet memory
	 * this process is about to release */
	rte_delay_us_sleep(500000);
}

static void
print_summary(const struct dataplane *dp)
{
	uint64_t rx = 0, parsed = 0, pdrop = 0, fdrop = 0, flows = 0;
	for (unsigned k = 0; k < dp->n_queues; k++) {
		const struct ns_dp_queue_stats *s = dp->queues[k].st;
		rx += s->rx;
		parsed += s->parsed;
		pdrop += s->pkt_ring_drops;
		fdrop += s->flow_ring_drops;
		flows += s->flows_expired + s->flows_evicted +
			 s->flows_flushed;
	}
	fprintf(stderr,
		"netshare-dataplane: stopped: %llu frames, %llu records, "
		"%llu flows closed; ring drops: %llu records, %llu flows\n",
		(unsigned long long)rx, (unsigned long long)parsed,
		(unsigned long long)flows, (unsigned long long)pdrop,
		(unsigned long long)fdrop);
}

static int
run_primary(struct dataplane *dp, const struct app_args *a)
{
	const struct rte_memzone *mz = rte_memzone_reserve(
		NS_DP_MEMZONE, sizeof(struct ns_dp_shared), SOCKET_ID_ANY,
		RTE_MEMZONE_SIZE_HINT_ONLY);
	if (!mz) {
		fprintf(stderr, "netshare-dataplane: cannot reserve memzone "
				"'%s': %s (is another primary using this "
				"--file-prefix?)\n",
			NS_DP_MEMZONE, rte_strerror(rte_errno));
		return 1;
	}
	dp->sh = mz->addr;
	memset(dp->sh, 0, sizeof(*dp->sh));
	dp->sh->magic = NS_DP_MAGIC;
	dp->sh->version = NS_DP_VERSION;
	dp->sh->n_ports = dp->cfg.n_ports;
	dp->sh->sample_one_in = dp->cfg.sample_one_in;
	dp_clock_init(&dp->clock);
	dp->sh->started_ns = dp_clock_now(&dp->clock);
	(void)a;

	if (find_ports(dp))
		return 1;
	dp->pool = rte_pktmbuf_pool_create(NS_DP_MEMPOOL, dp->cfg.mbufs,
					   MBUF_CACHE, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE,
					   (int)rte_socket_id());
	if (!dp->pool) {
		fprintf(stderr, "netshare-dataplane: mempool of %u mbufs: %s "
				"(reserve more hugepages or lower "
				"\"mbufs\")\n",
			dp->cfg.mbufs, rte_strerror(rte_errno));
		return 1;
	}
	for (unsigned i = 0; i < dp->cfg.n_ports; i++) {
		if (setup_port(dp, i))
			return 1;
		dp->ports_started++;
		if (setup_xdp(dp, i))
			return 1;
	}
	if (setup_queues(dp))
		return 1;
	if (assign_queues(dp))
		return 1;

	dp_catch_stop();
	dp->sh->state = NS_DP_RUNNING;
	fprintf(stderr, "netshare-dataplane: running: %u port(s), %u RX "
			"queue(s), %u lcore(s); SIGINT or SIGTERM stops\n",
		dp->cfg.n_ports, dp->n_queues, rte_lcore_count());
	unsigned lc;
	RTE_LCORE_FOREACH_WORKER(lc)
	if (dp->work[lc].n)
		rte_eal_remote_launch(rx_lcore, dp, lc);
	struct lcore_work *mine = &dp->work[rte_get_main_lcore()];
	uint64_t next_stats = 0, last_rx = 0, last_rx_change = 0;
	uint64_t idle_ns = (uint64_t)(dp->cfg.stop_after_idle_s * 1e9);
	while (!dp_quit) {
		if (mine->n)
			poll_once(dp, mine);
		else
			rte_delay_us_sleep(1000);
		uint64_t now = dp_clock_now(&dp->clock);
		if (now >= next_stats) {
			refresh_port_stats(dp);
			next_stats = now + STATS_PERIOD_NS;
		}
		if (idle_ns) {
			uint64_t rx = total_rx(dp);
			if (rx != last_rx || !last_rx_change) {
				last_rx = rx;
				last_rx_change = now;
			} else if (now - last_rx_change >= idle_ns) {
				fprintf(stderr, "netshare-dataplane: no frame "
						"for %g s: stopping\n",
					dp->cfg.stop_after_idle_s);
				dp_quit = 1;
			}
		}
	}
	rte_eal_mp_wait_lcore();
	drain(dp);
	print_summary(dp);
	return 0;
}

static void
cleanup(struct dataplane *dp)
{
	for (unsigned i = 0; i < dp->ports_started; i++) {
		if (dp->has_xdp[i])
			ns_xdp_close(&dp->xdp[i]);
		rte_eth_dev_stop(dp->port_ids[i]);
		rte_eth_dev_close(dp->port_ids[i]);
	}
	for (unsigned k = 0; k < dp->n_queues; k++) {
		rte_ring_free(dp->queues[k].pkt_ring);
		rte_ring_free(dp->queues[k].flow_ring);
		rte_free(dp->queues[k].meter);
	}
	rte_free(dp->queues);
	rte_mempool_free(dp->pool);
}

static int
run_program(struct dp_args *args)
{
	if (args->help) {
		usage(stdout);
		return 0;
	}
	struct app_args a;
	if (parse_app_args(args->app_argc, args->app_argv, &a)) {
		usage(stderr);
		return 2;
	}

	static struct dataplane dp;
	dp_config_default(&dp.cfg);
	if (a.config) {
		char err[512];
		if (dp_config_load(a.config, &dp.cfg, err, sizeof(err))) {
			fprintf(stderr, "netshare-dataplane: %s\n", err);
			return 1;
		}
		if (a.print_config) {
			dp_config_print(&dp.cfg, stdout);
			return 0;
		}
	}

	/* --proc-type=secondary for --stats; a --vdev for every configured
	 * port with devargs (created at EAL init, before any secondary can
	 * attach) */
	static char vdev[NS_DP_MAX_PORTS][sizeof(dp.cfg.port[0].name) +
					  sizeof(dp.cfg.port[0].devargs) + 2];
	static char vdev_opt[] = "--vdev";
	if (a.stats)
		dp_args_secondary(args);
	for (unsigned i = 0; !a.stats && i < dp.cfg.n_ports; i++) {
		if (!dp.cfg.port[i].devargs[0])
			continue;
		snprintf(vdev[i], sizeof(vdev[i]), "%s,%s",
			 dp.cfg.port[i].name, dp.cfg.port[i].devargs);
		dp_args_add_eal(args, vdev_opt);
		dp_args_add_eal(args, vdev[i]);
	}
	if (rte_eal_init(args->eal_argc, args->eal_argv) < 0) {
		fprintf(stderr, "netshare-dataplane: EAL init failed: %s%s\n",
			rte_strerror(rte_errno),
			a.stats ? " (is a primary running with the same "
				  "--file-prefix?)"
				: "");
		return 1;
	}
	int rc;
	if (a.stats) {
		rc = run_stats(&a);
	} else if (rte_eal_process_type() != RTE_PROC_PRIMARY) {
		fprintf(stderr, "netshare-dataplane: capture needs the "
				"primary process; drop --proc-type\n");
		rc = 2;
	} else {
		rc = run_primary(&dp, &a);
		cleanup(&dp);
	}
	rte_eal_cleanup();
	return rc;
}

int
main(int argc, char **argv)
{
	struct dp_args args;
	if (dp_args_split(argc, argv, &args)) {
		fprintf(stderr, "netshare-dataplane: out of memory\n");
		return 1;
	}
	int rc = run_program(&args);
	dp_args_free(&args);
	return rc;
}
