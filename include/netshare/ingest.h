/* Shared steps of the offline tools: load any trace, meter packets. */
#ifndef NETSHARE_TOOLS_INGEST_H
#define NETSHARE_TOOLS_INGEST_H

#include "netshare/meter.h"
#include "netshare/trace.h"

struct ns_input {
	const char *path;
	enum ns_format format;
	int is_packets;
	struct ns_pkt_trace pkts;	/* packet formats */
	struct ns_flow_trace flows;	/* flow formats */
	struct ns_pcap_stats pcap;	/* pcap only */
	struct ns_diag diag;
};

void ns_input_init(struct ns_input *in);
void ns_input_free(struct ns_input *in);

/* Load path in format fmt (NS_FMT_UNKNOWN: detect). Returns 0, or -1 with
 * the cause already reported through in->diag. */
int ns_input_load(struct ns_input *in, const char *path, enum ns_format fmt,
		  int strict, int quiet);

/* Meter packets into flows (sorted by first packet). */
int ns_meter_trace(const struct ns_pkt_trace *pkts,
		   const struct ns_meter_config *cfg,
		   struct ns_flow_trace *out, struct ns_meter_stats *stats);

/* Stream a pcap/pcapng file into flow records without holding its
 * packets: read and parse on the calling thread, meter on a second one
 * when threads > 1. Flows reach sink (on the metering thread) in the
 * order they close; they equal what ns_read_pcap + ns_meter_trace give.
 * Returns 0, or -1 with the cause reported through diag. */
int ns_pcap_meter(const char *path, const struct ns_meter_config *cfg,
		  int threads, ns_flow_sink sink, void *ctx,
		  struct ns_pcap_stats *st, struct ns_meter_stats *ms,
		  struct ns_diag *diag);

/* Distinct unidirectional 5-tuples (with IP version), -1 on no memory. */
long long ns_count_pkt_tuples(const struct ns_pkt_trace *t);
long long ns_count_flow_tuples(const struct ns_flow_trace *t);

#endif
