/* Loading any trace file and counting its 5-tuples: the common steps of
 * the offline tools (metering is in flow_meter.c). */
#include "netshare/ingest.h"

#include <stdlib.h>
#include <string.h>

void
ns_input_init(struct ns_input *in)
{
	memset(in, 0, sizeof(*in));
}

void
ns_input_free(struct ns_input *in)
{
	ns_pkt_trace_free(&in->pkts);
	ns_flow_trace_free(&in->flows);
}

int
ns_input_load(struct ns_input *in, const char *path, enum ns_format fmt,
	      int strict, int quiet)
{
	in->path = path;
	in->format = fmt != NS_FMT_UNKNOWN ? fmt : ns_format_detect(path);
	int packets = ns_format_is_packets(in->format);
	ns_diag_init(&in->diag, path, in->format == NS_FMT_PCAP ? "packet"
								 : "line");
	in->diag.strict = strict;
	in->diag.quiet = quiet;
	in->is_packets = packets;
	switch (in->format) {
	case NS_FMT_PCAP:
		return ns_read_pcap(path, &in->pkts, &in->pcap, &in->diag);
	case NS_FMT_NETSHARE_PKT:
		return ns_read_pkt_csv(path, &in->pkts, &in->diag);
	case NS_FMT_UNKNOWN:
		ns_diag_error(&in->diag, "unknown_format", 1,
			      "cannot tell the format from its content or "
			      "extension; name it (pcap, netshare-flow, "
			      "netshare-pkt, nfdump, zeek, argus)");
		return -1;
	default:
		return ns_read_flows(path, in->format, &in->flows, &in->diag);
	}
}

/* 5-tuple keys packed for sorting. */
struct tuple_key {
	uint8_t a[16], b[16];
	uint16_t sp, dp;
	uint8_t proto, ver;
};

static int
cmp_key(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(struct tuple_key));
}

static size_t
count_unique(struct tuple_key *k, size_t n)
{
	if (!n)
		return 0;
	qsort(k, n, sizeof(*k), cmp_key);
	size_t u = 1;
	for (size_t i = 1; i < n; i++)
		u += cmp_key(&k[i - 1], &k[i]) != 0;
	return u;
}

static void
set_key(struct tuple_key *k, const uint8_t *src, const uint8_t *dst,
	uint16_t sp, uint16_t dp, uint8_t proto, uint8_t ver)
{
	memcpy(k->a, src, 16);
	memcpy(k->b, dst, 16);
	k->sp = sp;
	k->dp = dp;
	k->proto = proto;
	k->ver = ver;
}

long long
ns_count_pkt_tuples(const struct ns_pkt_trace *t)
{
	struct tuple_key *k = calloc(t->n ? t->n : 1, sizeof(*k));
	if (!k)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		const struct ns_pkt_record *r = &t->v[i];
		set_key(&k[i], r->src_addr, r->dst_addr, r->src_port,
			r->dst_port, r->proto, r->ip_version);
	}
	long long u = (long long)count_unique(k, t->n);
	free(k);
	return u;
}

long long
ns_count_flow_tuples(const struct ns_flow_trace *t)
{
	struct tuple_key *k = calloc(t->n ? t->n : 1, sizeof(*k));
	if (!k)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		const struct ns_flow_record *f = &t->v[i];
		set_key(&k[i], f->src_addr, f->dst_addr, f->src_port,
			f->dst_port, f->proto, f->ip_version);
	}
	long long u = (long long)count_unique(k, t->n);
	free(k);
	return u;
}
