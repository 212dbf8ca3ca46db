/* netshare-dataplane's JSON config (configs/dataplane-*.json). */
#ifndef NETSHARE_DP_CONFIG_H
#define NETSHARE_DP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "netshare/dataplane.h"
#include "netshare/meter.h"

struct dp_port_cfg {
	char name[64];	   /* DPDK device name: PCI address or vdev name */
	char devargs[448]; /* for a vdev to create, e.g. "rx_pcap=x.pcap" */
	uint16_t queues;   /* RX queues (RSS spreads flows over them) */
	int linktype;	   /* of the frames the port delivers (1 Ethernet) */
};

struct dp_config {
	struct dp_port_cfg port[NS_DP_MAX_PORTS];
	unsigned n_ports;
	/* RX lcores: queue k (port, queue order) is polled by
	 * lcores[k % n_lcores]; none given: the EAL worker lcores in order */
	uint16_t lcores[NS_DP_MAX_QUEUES];
	unsigned n_lcores;
	uint32_t pkt_ring_size;	 /* records per queue ring, power of two */
	uint32_t flow_ring_size; /* flow records per queue ring */
	uint32_t mbufs;		 /* mempool size */
	uint32_t rx_desc;	 /* RX descriptors per queue */
	uint32_t burst;		 /* frames per rx_burst, <= 64 */
	uint32_t sample_one_in;	 /* keep 1 frame in N (1: all) */
	int port_timestamps;	 /* stamp with the port's time (pcap) */
	uint32_t idle_sleep_us;	 /* sleep after an empty poll (0: spin) */
	double drain_wait_s;	 /* at stop: wait this long for consumers */
	double stop_after_idle_s; /* stop when no frame came this long */
	struct ns_meter_config meter;
};

void dp_config_default(struct dp_config *c);

/* Load path over the defaults. Every field is validated before anything
 * is stored; on error c is unchanged and err names the file, the field
 * and the cause. Returns 0 or -1. */
int dp_config_load(const char *path, struct dp_config *c, char *err,
		   size_t errlen);

/* The same from a JSON text (fuzzing, tests); name is used in messages. */
int dp_config_parse(const char *json, size_t len, const char *name,
		    struct dp_config *c, char *err, size_t errlen);

/* The effective config as JSON on f. */
void dp_config_print(const struct dp_config *c, FILE *f);

#endif
