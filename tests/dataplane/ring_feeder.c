/* ring_feeder: a DPDK secondary that replays a pcap into a running
 * netshare-dataplane's net_ring port. It takes mbufs from the primary's
 * pool, copies each frame in, and enqueues them on the ring the port
 * receives from (net_ring names it ETH_RXTX0_<nodeaction name>), waiting
 * while the ring is full. Usage:
 *   ring_feeder [EAL options] -- RING_NAME PCAP */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dp_args.h"
#include "netshare/dataplane.h"

static int
feed(const char *ring_name, const char *path)
{
	struct rte_ring *r = rte_ring_lookup(ring_name);
	struct rte_mempool *mp = rte_mempool_lookup(NS_DP_MEMPOOL);
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);
	if (!r || !mp || !p) {
		fprintf(stderr, "ring_feeder: %s\n",
			!r ? "no such ring" : !mp ? "no mempool" : err);
		if (p)
			pcap_close(p);
		return 1;
	}
	struct pcap_pkthdr *h;
	const u_char *d;
	unsigned long sent = 0;
	while (pcap_next_ex(p, &h, &d) == 1) {
		struct rte_mbuf *m;
		while (!(m = rte_pktmbuf_alloc(mp)))
			rte_delay_us_sleep(100); /* the primary frees them */
		char *dst = rte_pktmbuf_append(m, (uint16_t)h->caplen);
		if (!dst) {
			rte_pktmbuf_free(m);
			continue; /* larger than an mbuf: not sent */
		}
		memcpy(dst, d, h->caplen);
		while (rte_ring_enqueue(r, m) != 0)
			rte_delay_us_sleep(100);
		sent++;
	}
	pcap_close(p);
	printf("%lu\n", sent);
	return 0;
}

int
main(int argc, char **argv)
{
	struct dp_args a;
	if (dp_args_split(argc, argv, &a) || a.app_argc != 3) {
		fprintf(stderr, "usage: ring_feeder [EAL] -- RING PCAP\n");
		return 2;
	}
	dp_args_secondary(&a);
	if (rte_eal_init(a.eal_argc, a.eal_argv) < 0) {
		fprintf(stderr, "ring_feeder: %s\n", rte_strerror(rte_errno));
		dp_args_free(&a);
		return 1;
	}
	int rc = feed(a.app_argv[1], a.app_argv[2]);
	rte_eal_cleanup();
	dp_args_free(&a);
	return rc;
}
