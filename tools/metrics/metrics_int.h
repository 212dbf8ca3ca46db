/* Inside ns_metrics: one read-only view over a flow or a packet trace, so
 * that the fields both modes share (addresses, ports, protocol, 5-tuple,
 * start time) are computed once. */
#ifndef NS_METRICS_INT_H
#define NS_METRICS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "netshare/records.h"

struct ns_view {
	const struct ns_flow_record *f; /* either this ... */
	const struct ns_pkt_record *p;  /* ... or this */
	size_t n;
};

static inline const uint8_t *
ns_v_addr(const struct ns_view *v, size_t i, int dst)
{
	if (v->f)
		return dst ? v->f[i].dst_addr : v->f[i].src_addr;
	return dst ? v->p[i].dst_addr : v->p[i].src_addr;
}

static inline int
ns_v_version(const struct ns_view *v, size_t i)
{
	return v->f ? v->f[i].ip_version : v->p[i].ip_version;
}

static inline unsigned
ns_v_port(const struct ns_view *v, size_t i, int dst)
{
	if (v->f)
		return dst ? v->f[i].dst_port : v->f[i].src_port;
	return dst ? v->p[i].dst_port : v->p[i].src_port;
}

static inline unsigned
ns_v_proto(const struct ns_view *v, size_t i)
{
	return v->f ? v->f[i].proto : v->p[i].proto;
}

/* Flow start or packet time, ns. */
static inline uint64_t
ns_v_time(const struct ns_view *v, size_t i)
{
	return v->f ? v->f[i].first_ns : v->p[i].ts_ns;
}

/* Version, both addresses (IPv4: bytes 4..15 zeroed), ports, protocol. */
#define NS_TUPLE_KEY 38
void ns_v_tuple_key(const struct ns_view *v, size_t i,
                    uint8_t key[NS_TUPLE_KEY]);

/* Count of each address (version + 16 bytes), sorted decreasing. */
int ns_v_rank_freq(const struct ns_view *v, int dst, double **out, size_t *n);

/* Counts over 65,536 ports and over 256 protocols. */
int ns_v_port_hist(const struct ns_view *v, int dst, double **out);
int ns_v_proto_hist(const struct ns_view *v, double **out);

/* Per 5-tuple: record count, last - first time (µs), and the gaps between
 * its consecutive records in time order (µs). */
struct ns_v_groups {
	size_t nflows, ngaps;
	double *size, *dur, *gap;
};
int ns_v_group(const struct ns_view *v, struct ns_v_groups *g);
void ns_v_groups_free(struct ns_v_groups *g);

/* JSD over (proto, dst port) counts aligned on the union of keys. */
int ns_v_proto_dstport_jsd(const struct ns_view *real,
                           const struct ns_view *syn, double *out);

/* JSD over the real trace's top k (src port, dst port) pairs plus one
 * bucket for all others. */
int ns_v_top_pairs_jsd(const struct ns_view *real, const struct ns_view *syn,
                       size_t k, double *out);

/* Share of syn records whose key (ksize bytes, made by fn) some real
 * record also has; NAN when syn is empty. */
typedef void (*ns_v_key_fn)(const struct ns_view *v, size_t i, uint8_t *key);
int ns_v_key_share(const struct ns_view *real, const struct ns_view *syn,
                   ns_v_key_fn fn, size_t ksize, double *out);

#endif
