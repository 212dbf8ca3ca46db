/* Fuzz target: the pcap/pcapng path (libpcap plus the parser) and the
 * flow meter behind it. */
#include <stdlib.h>

#include "fuzz.h"
#include "netshare/ingest.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_pkt_trace t = {0};
	struct ns_pcap_stats st;
	struct ns_diag d;
	ns_diag_init(&d, "fuzz", "packet");
	d.quiet = 1;
	ns_read_pcap_mem(data, size, &t, &st, &d);
	if (st.ip_packets != t.n)
		__builtin_trap(); /* every kept packet is counted */
	struct ns_meter_config c;
	ns_meter_config_default(&c);
	c.max_flows = 64;
	struct ns_flow_trace flows = {0};
	if (ns_meter_trace(&t, &c, &flows, NULL) == 0) {
		uint64_t pk = 0;
		for (size_t i = 0; i < flows.n; i++)
			pk += flows.v[i].packets;
		if (pk != t.n)
			__builtin_trap(); /* the meter loses no packet */
	}
	ns_flow_trace_free(&flows);
	ns_pkt_trace_free(&t);
	return 0;
}
