/* Packet header parser: the (ptr, len, linktype) core shared by the
 * dataplane and the offline tools. It never reads past len. */
#ifndef NETSHARE_PARSE_H
#define NETSHARE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "netshare/records.h"

/* Link types as libpcap's pcap_datalink() reports them. */
enum ns_linktype {
	NS_LINK_NULL = 0,	  /* BSD loopback, host-order AF */
	NS_LINK_ETHERNET = 1,
	NS_LINK_PPP = 9,
	NS_LINK_RAW = 12,	  /* DLT_RAW as libpcap maps LINKTYPE_RAW */
	NS_LINK_RAW_OPENBSD = 14,
	NS_LINK_RAW_LINKTYPE = 101, /* LINKTYPE_RAW, as stored in files */
	NS_LINK_C_HDLC = 104,
	NS_LINK_LOOP = 108,	  /* OpenBSD loopback, network-order AF */
	NS_LINK_LINUX_SLL = 113,
	NS_LINK_IPV4 = 228,
	NS_LINK_IPV6 = 229,
	NS_LINK_LINUX_SLL2 = 276,
};

enum ns_parse_status {
	NS_PARSE_OK = 0,	/* IP header read; see rec->flags */
	NS_PARSE_NOT_IP,	/* a valid frame that carries no IP */
	NS_PARSE_TRUNCATED,	/* capture ends inside L2 or the IP header */
	NS_PARSE_MALFORMED,	/* impossible header values */
	NS_PARSE_BAD_LINKTYPE,	/* link type not supported */
	NS_PARSE_STATUS_COUNT
};

/* "ok", "not_ip", ... for counters and messages. */
const char *ns_parse_status_name(enum ns_parse_status s);

/* Is this link type one the parser understands? */
int ns_linktype_supported(int linktype);

/* Parse one frame of caplen captured bytes. Zeroes *rec and fills every
 * header field; the caller sets ts_ns, port_id and queue_id. wirelen is
 * the frame's original length (>= caplen), used only where the IP header
 * leaves the length open (IPv4 BIG TCP, IPv6 jumbograms). */
enum ns_parse_status ns_parse_packet(const uint8_t *pkt, size_t caplen,
				     size_t wirelen, int linktype,
				     struct ns_pkt_record *rec);

/* Parse from the first byte of an IPv4 or IPv6 header. */
enum ns_parse_status ns_parse_ip(const uint8_t *ip, size_t caplen,
				 size_t wirelen, struct ns_pkt_record *rec);

#endif
