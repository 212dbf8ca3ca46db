/* Flow meter: packet header records in, unidirectional NetFlow-style flow
 * records out. One meter per thread (no locks); memory can come from the
 * caller (hugepages in the dataplane) or from malloc (offline tools). */
#ifndef NETSHARE_METER_H
#define NETSHARE_METER_H

#include <stddef.h>
#include <stdint.h>

#include "netshare/records.h"

struct ns_meter_config {
	uint32_t max_flows;	     /* concurrent flows, >= 16 */
	uint64_t active_timeout_ns;  /* split flows older than this; 0: off */
	uint64_t inactive_timeout_ns; /* close flows idle this long; 0: off */
	int tcp_end;		     /* close a flow on its FIN or RST */
};

/* Defaults: 1 M flows, active 1800 s, inactive 15 s, TCP end on (the
 * "router" defaults most collectors expect). */
void ns_meter_config_default(struct ns_meter_config *c);

struct ns_meter_stats {
	uint64_t packets;	/* records offered */
	uint64_t skipped;	/* records without a usable IP header */
	uint64_t created;
	uint64_t expired_idle;
	uint64_t expired_active;
	uint64_t expired_tcp;
	uint64_t expired_forced;
	uint64_t evicted;	/* closed early because the table was full */
	uint64_t active;	/* flows in the table now */
};

/* Called for every closed flow; the record is only valid during the
 * call. */
typedef void (*ns_flow_sink)(void *ctx, const struct ns_flow_record *f);

struct ns_meter;

/* Bytes ns_meter_init needs for a config (0 if the config is invalid). */
size_t ns_meter_mem_size(const struct ns_meter_config *c);
/* Build a meter in caller memory of ns_meter_mem_size() bytes, aligned to
 * 64. Returns NULL if the config is invalid. */
struct ns_meter *ns_meter_init(void *mem, const struct ns_meter_config *c,
			       ns_flow_sink sink, void *ctx);
/* The same with malloc; free with ns_meter_destroy. */
struct ns_meter *ns_meter_create(const struct ns_meter_config *c,
				 ns_flow_sink sink, void *ctx);
void ns_meter_destroy(struct ns_meter *m);

/* Account one packet (records must arrive in time order per flow). */
void ns_meter_update(struct ns_meter *m, const struct ns_pkt_record *r);

/* The same for n records in order, with the table's cache misses
 * overlapped (prefetch); the result equals n calls of ns_meter_update. */
void ns_meter_update_burst(struct ns_meter *m, const struct ns_pkt_record *r,
			   size_t n);

/* Close flows idle at now_ns, looking at up to `budget` table slots from
 * where the last call stopped (0: the whole table). Returns flows closed. */
size_t ns_meter_expire(struct ns_meter *m, uint64_t now_ns, size_t budget);

/* Close every open flow (end of input, shutdown). */
size_t ns_meter_flush(struct ns_meter *m);

const struct ns_meter_stats *ns_meter_stats(const struct ns_meter *m);

#endif
