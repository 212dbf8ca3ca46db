/* Shared record formats: what the dataplane, learner, control daemon and
 * offline tools exchange. Fixed size, explicit widths, host byte order
 * unless a name says otherwise. */
#ifndef NETSHARE_RECORDS_H
#define NETSHARE_RECORDS_H

#include <assert.h>
#include <stdint.h>
#include <string.h>

/* ns_pkt_record.flags */
enum {
	NS_PKT_TRUNCATED = 1u << 0, /* capture ended before the L4 header */
	NS_PKT_MALFORMED = 1u << 1, /* a header field is inconsistent */
	NS_PKT_FRAGMENT = 1u << 2,  /* any IP fragment (first or later) */
	NS_PKT_HAS_L4 = 1u << 3,    /* ports/type/code were read */
	NS_PKT_HAS_VLAN = 1u << 4,  /* vlan_id is valid */
	NS_PKT_BAD_CSUM = 1u << 5,  /* IPv4 header checksum does not verify */
};

/* ip_frag layout, the IPv4 wire layout in host order: flags << 13 | offset.
 * IPv6 fragments map their M bit onto NS_FRAG_MF. */
#define NS_FRAG_DF 0x4000u
#define NS_FRAG_MF 0x2000u
#define NS_FRAG_OFFSET_MASK 0x1FFFu /* in 8-byte units */

/* One packet's headers: 64 bytes, one cache line. */
struct ns_pkt_record {
	uint64_t ts_ns;		/* capture time, ns since the Unix epoch */
	uint8_t src_addr[16];	/* network order; IPv4 uses bytes 0..3 */
	uint8_t dst_addr[16];	/* network order; IPv4 uses bytes 0..3 */
	uint32_t ip_len;	/* IPv4 total length / IPv6 40 + payload (B) */
	uint16_t src_port;	/* TCP/UDP/SCTP port; ICMP(v6) type */
	uint16_t dst_port;	/* TCP/UDP/SCTP port; ICMP(v6) code */
	uint32_t ip_id;		/* IPv4 id; IPv6 fragment id, else 0 */
	uint16_t ip_frag;	/* NS_FRAG_* flags | offset (8 B units) */
	uint16_t vlan_id;	/* innermost 802.1Q VID (NS_PKT_HAS_VLAN) */
	uint8_t proto;		/* IP protocol / final IPv6 next header */
	uint8_t tos;		/* IPv4 TOS / IPv6 traffic class */
	uint8_t ttl;		/* IPv4 TTL / IPv6 hop limit */
	uint8_t tcp_flags;	/* FIN 0x01 SYN 0x02 RST 0x04 PSH ACK URG.. */
	uint8_t ip_version;	/* 4 or 6 */
	uint8_t flags;		/* NS_PKT_* */
	uint8_t port_id;	/* input port (dataplane) or pcap interface */
	uint8_t queue_id;	/* input RX queue */
};
static_assert(sizeof(struct ns_pkt_record) == 64, "one cache line");

/* Why a flow record was closed. */
enum ns_flow_end {
	NS_FLOW_END_IDLE = 1,	  /* inactive timeout */
	NS_FLOW_END_ACTIVE = 2,	  /* active timeout */
	NS_FLOW_END_TCP = 3,	  /* FIN or RST seen */
	NS_FLOW_END_FORCED = 4,	  /* end of input / shutdown */
	NS_FLOW_END_EVICTED = 5,  /* table full */
};

#define NS_LABEL_NONE 0xFFFFu

/* One unidirectional flow in NetFlow's terms: 80 bytes. */
struct ns_flow_record {
	uint64_t first_ns;	/* first packet, ns since the Unix epoch */
	uint64_t last_ns;	/* last packet, ns since the Unix epoch */
	uint8_t src_addr[16];	/* network order; IPv4 uses bytes 0..3 */
	uint8_t dst_addr[16];	/* network order; IPv4 uses bytes 0..3 */
	uint64_t packets;
	uint64_t bytes;		/* sum of IP lengths (layer 3 octets) */
	uint16_t src_port;	/* ICMP: type */
	uint16_t dst_port;	/* ICMP: code */
	uint8_t proto;
	uint8_t tcp_flags;	/* OR over the flow's packets */
	uint8_t tos;		/* of the first packet */
	uint8_t ip_version;	/* 4 or 6 */
	uint16_t label;		/* index into a trace's label table */
	uint8_t end_reason;	/* enum ns_flow_end, 0 when unknown */
	uint8_t pad[5];
};
static_assert(sizeof(struct ns_flow_record) == 80, "fixed size");

/* IPv4 address to/from the record form (host-order uint32). */
static inline void
ns_addr_from_v4(uint8_t out[16], uint32_t v4_host)
{
	memset(out, 0, 16);
	out[0] = (uint8_t)(v4_host >> 24);
	out[1] = (uint8_t)(v4_host >> 16);
	out[2] = (uint8_t)(v4_host >> 8);
	out[3] = (uint8_t)v4_host;
}

static inline uint32_t
ns_addr_to_v4(const uint8_t a[16])
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
	       (uint32_t)a[2] << 8 | a[3];
}

#endif
