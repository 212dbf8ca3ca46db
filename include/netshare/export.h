/* NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) export of flow
 * records to UDP collectors.
 *
 * The encoder writes one export packet at a time into a caller buffer
 * (ns_export_encode: pointer, capacity, bytes used), so it is unit-tested
 * and fuzzed without a socket. One field table (ns_export_fields) drives
 * both the v9/IPFIX templates and their data records; v5 has its fixed
 * layout. The sender and the pacer put the packets on the wire. */
#ifndef NETSHARE_EXPORT_H
#define NETSHARE_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "netshare/records.h"

enum ns_export_version {
	NS_EXPORT_V5 = 5,
	NS_EXPORT_V9 = 9,
	NS_EXPORT_IPFIX = 10,
};

/* Defaults: a 1400-byte UDP payload fits a 1500-byte Ethernet MTU under
 * IPv6 (40) and UDP (8) headers with room for a tunnel; templates go out
 * every 20 s or 100 packets, whichever comes first, so a collector started
 * late decodes within 20 s even at a trickle; 20 000 records/s is far
 * below what nfcapd or GoFlow2 absorb on one core. */
#define NS_EXPORT_MTU_DEFAULT 1400
#define NS_EXPORT_MTU_MIN 512   /* every template plus one record */
#define NS_EXPORT_MTU_MAX 65507 /* largest UDP payload over IPv4 */
#define NS_EXPORT_TEMPLATE_MS_DEFAULT 20000
#define NS_EXPORT_TEMPLATE_PACKETS_DEFAULT 100
#define NS_EXPORT_RATE_DEFAULT 20000

/* Template (set) ids, all >= 256 as both RFCs require. */
#define NS_TEMPLATE_ID_V4 256
#define NS_TEMPLATE_ID_V6 257
#define NS_TEMPLATE_ID_OPTIONS 258

/* Wire sizes. */
#define NS_V5_HEADER_LEN 24
#define NS_V5_RECORD_LEN 48
#define NS_V5_MAX_RECORDS 30 /* Cisco's limit; collectors rely on it */
#define NS_V9_HEADER_LEN 20
#define NS_IPFIX_HEADER_LEN 16
#define NS_SET_HEADER_LEN 4

/* The templates every v9/IPFIX exporter sends. */
enum ns_export_set {
	NS_SET_V4,      /* IPv4 flow records */
	NS_SET_V6,      /* IPv6 flow records */
	NS_SET_OPTIONS, /* sampling and exporter statistics */
	NS_SET_COUNT
};

struct ns_export;

/* One information element: IANA id (the same number in v9 and IPFIX for
 * every element used here), octets on the wire, IANA name, where it
 * appears, and the function that writes its value (len octets, network
 * order) for record r (NULL for the options set). */
struct ns_export_field {
	uint16_t id;
	uint16_t len;
	const char *name;
	uint8_t sets;     /* bit (1 << enum ns_export_set) per set */
	uint8_t versions; /* NS_IN_V9 | NS_IN_IPFIX */
	uint8_t scope;    /* options set: a scope field */
	void (*put)(uint8_t *out, const struct ns_flow_record *r,
	            const struct ns_export *ex);
};
#define NS_IN_V9 1u
#define NS_IN_IPFIX 2u

enum ns_export_field_id {
	NS_F_SRC4,
	NS_F_DST4,
	NS_F_SRC6,
	NS_F_DST6,
	NS_F_SPORT,
	NS_F_DPORT,
	NS_F_PROTO,
	NS_F_TCP_FLAGS,
	NS_F_TOS,
	NS_F_PACKETS,
	NS_F_OCTETS,
	NS_F_FIRST_UPTIME,
	NS_F_LAST_UPTIME,
	NS_F_FIRST_MS,
	NS_F_LAST_MS,
	NS_F_ICMP_TYPE,
	NS_F_IP_VERSION,
	NS_F_END_REASON,
	NS_F_SCOPE_SYSTEM,
	NS_F_SCOPE_DOMAIN,
	NS_F_SAMPLING_INTERVAL,
	NS_F_EXPORTED_OCTETS,
	NS_F_EXPORTED_MESSAGES,
	NS_F_EXPORTED_RECORDS,
	NS_F_NOT_SENT_RECORDS,
	NS_F_COUNT
};
extern const struct ns_export_field ns_export_fields[NS_F_COUNT];

/* A template as the field table gives it for one version and set. */
#define NS_TEMPLATE_MAX_FIELDS 16
struct ns_export_template {
	uint16_t id;
	uint16_t n_fields;
	uint16_t n_scope;    /* leading scope fields (options set) */
	uint16_t record_len; /* octets of one data record */
	uint8_t field[NS_TEMPLATE_MAX_FIELDS]; /* enum ns_export_field_id */
};

/* Fill t with the fields of set for version (9 or 10), in table order
 * (scope fields first). */
void ns_export_template_build(struct ns_export_template *t, int version,
                              enum ns_export_set set);

struct ns_export_config {
	int version;                /* enum ns_export_version */
	uint32_t domain_id;         /* v9 source id, IPFIX observation domain;
	                               v5: engine type (bits 15..8) and id */
	unsigned mtu;               /* most UDP payload octets per packet */
	uint64_t template_ms;       /* resend templates after this; 0: never by
	                               time */
	unsigned template_packets;  /* ... or after this many packets; 0:
	                               never by count */
	uint32_t sampling_interval; /* 1 in N packets; 1: unsampled */
	int ipfix_seq_flows_only;   /* IPFIX sequence counts flow records
	                               only, as nfdump does; 0: every data
	                               record, options too (RFC 7011 §3.1) */
};

/* Why records were not sent, and what was sent. */
struct ns_export_stats {
	uint64_t packets;        /* export packets encoded */
	uint64_t octets;         /* their UDP payload octets */
	uint64_t records;        /* flow data records */
	uint64_t option_records; /* options data records */
	uint64_t template_sends; /* packets that carried the templates */
	uint64_t skipped_v6;     /* v5: IPv6 flows it cannot carry */
	uint64_t skipped_bad;    /* ip_version neither 4 nor 6 */
	uint64_t skipped_time;   /* v5/v9: times beyond 32-bit uptime */
	uint64_t saturated;      /* v5: packet/octet counts cut to 2^32-1 */
	uint64_t uptime_rebases; /* v5/v9: the sysUptime origin moved */
};

struct ns_export {
	struct ns_export_config cfg;
	struct ns_export_stats st;
	struct ns_export_template tpl[NS_SET_COUNT];
	uint32_t seq;     /* the next header's sequence number */
	uint64_t boot_ms; /* v5/v9: Unix ms at sysUptime 0 */
	int have_boot;
	int templates_sent;      /* at least once */
	uint64_t template_at_ms; /* monotonic ms of the last templates */
	unsigned since_template; /* packets since the last templates */
};

/* Defaults for version. */
void ns_export_config_default(struct ns_export_config *c, int version);

/* Check c; on error return -1 with a sentence in err. */
int ns_export_config_check(const struct ns_export_config *c, char *err,
                           size_t errlen);

/* Start an exporter (sequence 0, templates due). -1 if cfg is invalid. */
int ns_export_init(struct ns_export *ex, const struct ns_export_config *cfg);

/* Encode one export packet into buf[0..cap) from records r[0..n): as many
 * as fit in min(cap, mtu) octets (v5: at most 30), templates first when
 * they are due. Records that cannot be sent are counted in ex->st and
 * consumed. *consumed tells how many of r were used up.
 *
 * now_ms is the exporter's clock in Unix ms (header export time; the
 * sysUptime base); mono_ms is a monotonic clock for the template timer.
 * Returns the packet length, or 0 when there is nothing to send (every
 * record skipped) or cap cannot hold a header, the templates due and one
 * record (then *consumed stays below n). A packet carries at least one
 * flow record, or the templates alone when n records were all skipped.
 * With cap >= NS_EXPORT_MTU_MIN every record fits. */
size_t ns_export_encode(struct ns_export *ex, uint8_t *buf, size_t cap,
                        const struct ns_flow_record *r, size_t n,
                        size_t *consumed, uint64_t now_ms, uint64_t mono_ms);

/* "v5", "v9", "IPFIX" */
const char *ns_export_version_name(int version);

/* UDP collectors. One socket per address family, so data, templates and
 * options reach every collector from one source address and port. */
#define NS_COLLECTORS_MAX 16
struct ns_collector {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char name[80];    /* as given: "HOST:PORT" */
	uint64_t packets; /* sent */
	uint64_t errors;  /* sendto failures */
	int last_errno;
};

struct ns_sender {
	int fd4, fd6;
	unsigned n;
	struct ns_collector c[NS_COLLECTORS_MAX];
};

void ns_sender_init(struct ns_sender *s);

/* Add a collector: "HOST:PORT" (a name or an IPv4 address) or
 * "[IPv6]:PORT". -1 with a sentence in err on a bad address, an
 * unresolvable host or a socket failure. */
int ns_sender_add(struct ns_sender *s, const char *host_port, char *err,
                  size_t errlen);

/* Send buf to every collector; returns how many sends failed (counted per
 * collector). */
unsigned ns_sender_send(struct ns_sender *s, const uint8_t *buf, size_t len);

void ns_sender_close(struct ns_sender *s);

/* Records-per-second pacing against CLOCK_MONOTONIC: ns_pacer_wait(n)
 * sleeps until n more records may go. rate 0 never waits. After a stall
 * it catches up with at most 50 ms of records at once. */
struct ns_pacer {
	uint64_t rate;
	uint64_t t0_ns;
	uint64_t done;
};

void ns_pacer_start(struct ns_pacer *p, uint64_t rate);
void ns_pacer_wait(struct ns_pacer *p, uint64_t n);
/* The non-blocking form for a poll loop: how many records may go at
 * now_ns (CLOCK_MONOTONIC), counted as sent; at most 50 ms of records
 * after a stall. rate 0: UINT64_MAX. */
uint64_t ns_pacer_due(struct ns_pacer *p, uint64_t now_ns);

/* CLOCK_MONOTONIC / CLOCK_REALTIME in ns. */
uint64_t ns_mono_ns(void);
uint64_t ns_real_ns(void);

#endif
