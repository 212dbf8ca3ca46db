/* Bounded packet header parser. Every read is checked against the
 * captured length; nothing beyond it is guessed. */
#include "netshare/parse.h"

#include <string.h>

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_VLAN 0x8100
#define ETH_P_QINQ 0x88A8
#define ETH_P_QINQ_OLD 0x9100
#define ETH_P_MPLS_UC 0x8847
#define ETH_P_MPLS_MC 0x8848
#define ETH_P_PPPOE_SESS 0x8864

#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057

#define MAX_L2_TAGS 8	  /* VLAN tags or MPLS labels before giving up */
#define MAX_V6_EXT_HDRS 16

static const char *const status_names[NS_PARSE_STATUS_COUNT] = {
	[NS_PARSE_OK] = "ok",
	[NS_PARSE_NOT_IP] = "not_ip",
	[NS_PARSE_TRUNCATED] = "truncated",
	[NS_PARSE_MALFORMED] = "malformed",
	[NS_PARSE_BAD_LINKTYPE] = "unsupported_linktype",
};
static_assert(NS_PARSE_STATUS_COUNT == 5, "name every status");

const char *
ns_parse_status_name(enum ns_parse_status s)
{
	return (unsigned)s < NS_PARSE_STATUS_COUNT ? status_names[s] : "?";
}

static inline uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t
rd32le(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[1] << 8 | p[0];
}

static int
ipv4_csum_ok(const uint8_t *h, size_t hlen)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < hlen; i += 2)
		sum += rd16(h + i);
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return sum == 0xFFFF;
}

/* Ports, ICMP type/code and TCP flags from the L4 header at l4 (len bytes
 * available, already bounded by the IP length). */
static void
parse_l4(const uint8_t *l4, size_t len, struct ns_pkt_record *rec)
{
	switch (rec->proto) {
	case 6: /* TCP: ports in 4 bytes, flags at byte 13 */
		if (len < 4)
			break;
		rec->src_port = rd16(l4);
		rec->dst_port = rd16(l4 + 2);
		rec->flags |= NS_PKT_HAS_L4;
		if (len < 14)
			rec->flags |= NS_PKT_TRUNCATED; /* flags unknown */
		else
			rec->tcp_flags = l4[13];
		return;
	case 17:  /* UDP */
	case 132: /* SCTP */
	case 136: /* UDP-Lite */
		if (len < 4)
			break;
		rec->src_port = rd16(l4);
		rec->dst_port = rd16(l4 + 2);
		rec->flags |= NS_PKT_HAS_L4;
		return;
	case 1:	 /* ICMP */
	case 58: /* ICMPv6 */
		if (len < 2)
			break;
		rec->src_port = l4[0];
		rec->dst_port = l4[1];
		rec->flags |= NS_PKT_HAS_L4;
		return;
	default:
		return; /* no ports for other protocols */
	}
	rec->flags |= NS_PKT_TRUNCATED;
}

static enum ns_parse_status
parse_ipv4(const uint8_t *ip, size_t caplen, size_t wirelen,
	   struct ns_pkt_record *rec)
{
	if (caplen < 20)
		return NS_PARSE_TRUNCATED;
	size_t ihl = (size_t)(ip[0] & 0x0F) * 4;
	if (ihl < 20)
		return NS_PARSE_MALFORMED;
	if (caplen < ihl)
		return NS_PARSE_TRUNCATED;

	rec->ip_version = 4;
	rec->tos = ip[1];
	rec->ip_len = rd16(ip + 2);
	rec->ip_id = rd16(ip + 4);
	rec->ip_frag = rd16(ip + 6);
	rec->ttl = ip[8];
	rec->proto = ip[9];
	memcpy(rec->src_addr, ip + 12, 4);
	memcpy(rec->dst_addr, ip + 16, 4);
	if (!ipv4_csum_ok(ip, ihl))
		rec->flags |= NS_PKT_BAD_CSUM;

	size_t end = caplen; /* bytes of this datagram we may read */
	if (rec->ip_len == 0 && wirelen > 65535) {
		/* BIG TCP / TSO: the length lives in the frame only */
		rec->ip_len = (uint32_t)wirelen;
	} else if (rec->ip_len < ihl) {
		rec->flags |= NS_PKT_MALFORMED;
		return NS_PARSE_OK;
	} else if (rec->ip_len < end) {
		end = rec->ip_len; /* drop L2 padding */
	}

	uint16_t off = rec->ip_frag & NS_FRAG_OFFSET_MASK;
	if (off || (rec->ip_frag & NS_FRAG_MF))
		rec->flags |= NS_PKT_FRAGMENT;
	if (off)
		return NS_PARSE_OK; /* later fragment: no L4 header */
	parse_l4(ip + ihl, end - ihl, rec);
	return NS_PARSE_OK;
}

static int
is_v6_ext_header(uint8_t nh)
{
	switch (nh) {
	case 0:	  /* hop-by-hop */
	case 43:  /* routing */
	case 44:  /* fragment */
	case 51:  /* AH */
	case 60:  /* destination options */
	case 135: /* mobility */
	case 139: /* HIP */
	case 140: /* shim6 */
		return 1;
	default:
		return 0;
	}
}

/* The jumbo payload option of a hop-by-hop header, or 0. */
static uint32_t
v6_jumbo_length(const uint8_t *opt, size_t len)
{
	size_t i = 2;
	while (i < len) {
		if (opt[i] == 0) { /* Pad1 */
			i++;
			continue;
		}
		if (i + 2 > len || i + 2 + (size_t)opt[i + 1] > len)
			return 0;
		if (opt[i] == 0xC2 && opt[i + 1] == 4)
			return rd32(opt + i + 2);
		i += 2 + (size_t)opt[i + 1];
	}
	return 0;
}

static enum ns_parse_status
parse_ipv6(const uint8_t *ip, size_t caplen, size_t wirelen,
	   struct ns_pkt_record *rec)
{
	(void)wirelen;
	if (caplen < 40)
		return NS_PARSE_TRUNCATED;
	rec->ip_version = 6;
	rec->tos = (uint8_t)((rd16(ip) >> 4) & 0xFF);
	uint16_t plen = rd16(ip + 4);
	rec->ip_len = 40u + plen;
	rec->ttl = ip[7];
	memcpy(rec->src_addr, ip + 8, 16);
	memcpy(rec->dst_addr, ip + 24, 16);

	size_t end = caplen;
	if (plen && 40u + plen < end)
		end = 40u + plen;
	uint8_t nh = ip[6];
	size_t pos = 40;
	for (int n = 0; is_v6_ext_header(nh); n++) {
		if (n == MAX_V6_EXT_HDRS) {
			rec->flags |= NS_PKT_MALFORMED;
			break;
		}
		if (pos + 8 > end) {
			rec->flags |= NS_PKT_TRUNCATED;
			break;
		}
		const uint8_t *h = ip + pos;
		size_t hlen;
		if (nh == 44) {
			uint16_t fo = rd16(h + 2);
			rec->flags |= NS_PKT_FRAGMENT;
			rec->ip_frag = (uint16_t)((fo >> 3) |
						  (fo & 1 ? NS_FRAG_MF : 0));
			rec->ip_id = rd32(h + 4);
			hlen = 8;
		} else if (nh == 51) {
			hlen = ((size_t)h[1] + 2) * 4;
		} else {
			hlen = ((size_t)h[1] + 1) * 8;
		}
		if (pos + hlen > end) {
			rec->flags |= NS_PKT_TRUNCATED;
			nh = h[0];
			rec->proto = nh;
			return NS_PARSE_OK;
		}
		if (nh == 0 && plen == 0) {
			uint32_t jumbo = v6_jumbo_length(h, hlen);
			if (jumbo)
				rec->ip_len = 40u + jumbo;
			end = caplen;
		}
		uint8_t was = nh;
		nh = h[0];
		pos += hlen;
		if (was == 44 && (rec->ip_frag & NS_FRAG_OFFSET_MASK)) {
			rec->proto = nh;
			return NS_PARSE_OK; /* later fragment: no L4 */
		}
	}
	rec->proto = nh;
	if (!(rec->flags & (NS_PKT_TRUNCATED | NS_PKT_MALFORMED)))
		parse_l4(ip + pos, end - pos, rec);
	return NS_PARSE_OK;
}

enum ns_parse_status
ns_parse_ip(const uint8_t *ip, size_t caplen, size_t wirelen,
	    struct ns_pkt_record *rec)
{
	if (caplen < 1)
		return NS_PARSE_TRUNCATED;
	switch (ip[0] >> 4) {
	case 4:
		return parse_ipv4(ip, caplen, wirelen, rec);
	case 6:
		return parse_ipv6(ip, caplen, wirelen, rec);
	default:
		return NS_PARSE_MALFORMED;
	}
}

/* Dispatch on an EtherType-like value at offset off. */
static enum ns_parse_status parse_ethertype(const uint8_t *pkt, size_t caplen,
					    size_t wirelen, size_t off,
					    uint16_t type,
					    struct ns_pkt_record *rec);

static enum ns_parse_status
parse_mpls(const uint8_t *pkt, size_t caplen, size_t wirelen, size_t off,
	   struct ns_pkt_record *rec)
{
	for (int n = 0; n < MAX_L2_TAGS; n++) {
		if (off + 4 > caplen)
			return NS_PARSE_TRUNCATED;
		int bottom = pkt[off + 2] & 1;
		off += 4;
		if (!bottom)
			continue;
		if (off >= caplen)
			return NS_PARSE_TRUNCATED;
		uint8_t v = pkt[off] >> 4;
		if (v != 4 && v != 6)
			return NS_PARSE_NOT_IP; /* pseudowire or unknown */
		size_t wl = wirelen > off ? wirelen - off : 0;
		return ns_parse_ip(pkt + off, caplen - off, wl, rec);
	}
	return NS_PARSE_MALFORMED;
}

static enum ns_parse_status
parse_ethertype(const uint8_t *pkt, size_t caplen, size_t wirelen, size_t off,
		uint16_t type, struct ns_pkt_record *rec)
{
	for (int n = 0; n <= MAX_L2_TAGS; n++) {
		size_t wl = wirelen > off ? wirelen - off : 0;
		switch (type) {
		case ETH_P_IPV4:
		case ETH_P_IPV6: {
			enum ns_parse_status s =
				ns_parse_ip(pkt + off, caplen - off, wl, rec);
			/* the EtherType promised this version */
			if (s == NS_PARSE_OK &&
			    rec->ip_version != (type == ETH_P_IPV4 ? 4 : 6))
				return NS_PARSE_MALFORMED;
			return s;
		}
		case ETH_P_VLAN:
		case ETH_P_QINQ:
		case ETH_P_QINQ_OLD:
			if (off + 4 > caplen)
				return NS_PARSE_TRUNCATED;
			rec->vlan_id = rd16(pkt + off) & 0x0FFF;
			rec->flags |= NS_PKT_HAS_VLAN;
			type = rd16(pkt + off + 2);
			off += 4;
			continue;
		case ETH_P_MPLS_UC:
		case ETH_P_MPLS_MC:
			return parse_mpls(pkt, caplen, wirelen, off, rec);
		case ETH_P_PPPOE_SESS:
			if (off + 8 > caplen)
				return NS_PARSE_TRUNCATED;
			type = rd16(pkt + off + 6);
			off += 8;
			if (type == PPP_IPV4)
				type = ETH_P_IPV4;
			else if (type == PPP_IPV6)
				type = ETH_P_IPV6;
			else
				return NS_PARSE_NOT_IP;
			continue;
		default:
			return NS_PARSE_NOT_IP;
		}
	}
	return NS_PARSE_MALFORMED;
}

/* BSD address families for IPv4 and IPv6 across the BSDs and Linux. */
static enum ns_parse_status
parse_null(const uint8_t *pkt, size_t caplen, size_t wirelen, uint32_t af,
	   struct ns_pkt_record *rec)
{
	switch (af) {
	case 2:
		return parse_ethertype(pkt, caplen, wirelen, 4, ETH_P_IPV4,
				       rec);
	case 10:
	case 24:
	case 28:
	case 30:
		return parse_ethertype(pkt, caplen, wirelen, 4, ETH_P_IPV6,
				       rec);
	default:
		return NS_PARSE_NOT_IP;
	}
}

int
ns_linktype_supported(int linktype)
{
	switch (linktype) {
	case NS_LINK_NULL:
	case NS_LINK_ETHERNET:
	case NS_LINK_PPP:
	case NS_LINK_RAW:
	case NS_LINK_RAW_OPENBSD:
	case NS_LINK_RAW_LINKTYPE:
	case NS_LINK_C_HDLC:
	case NS_LINK_LOOP:
	case NS_LINK_LINUX_SLL:
	case NS_LINK_IPV4:
	case NS_LINK_IPV6:
	case NS_LINK_LINUX_SLL2:
		return 1;
	default:
		return 0;
	}
}

enum ns_parse_status
ns_parse_packet(const uint8_t *pkt, size_t caplen, size_t wirelen,
		int linktype, struct ns_pkt_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	if (wirelen < caplen)
		wirelen = caplen;

	switch (linktype) {
	case NS_LINK_ETHERNET:
		if (caplen < 14)
			return NS_PARSE_TRUNCATED;
		return parse_ethertype(pkt, caplen, wirelen, 14, rd16(pkt + 12),
				       rec);
	case NS_LINK_RAW:
	case NS_LINK_RAW_OPENBSD:
	case NS_LINK_RAW_LINKTYPE:
		return ns_parse_ip(pkt, caplen, wirelen, rec);
	case NS_LINK_IPV4:
		if (caplen >= 1 && pkt[0] >> 4 != 4)
			return NS_PARSE_MALFORMED;
		return ns_parse_ip(pkt, caplen, wirelen, rec);
	case NS_LINK_IPV6:
		if (caplen >= 1 && pkt[0] >> 4 != 6)
			return NS_PARSE_MALFORMED;
		return ns_parse_ip(pkt, caplen, wirelen, rec);
	case NS_LINK_LINUX_SLL:
		if (caplen < 16)
			return NS_PARSE_TRUNCATED;
		return parse_ethertype(pkt, caplen, wirelen, 16, rd16(pkt + 14),
				       rec);
	case NS_LINK_LINUX_SLL2:
		if (caplen < 20)
			return NS_PARSE_TRUNCATED;
		return parse_ethertype(pkt, caplen, wirelen, 20, rd16(pkt), rec);
	case NS_LINK_NULL: {
		if (caplen < 4)
			return NS_PARSE_TRUNCATED;
		/* host order of the capturing machine: try both */
		uint32_t le = rd32le(pkt), be = rd32(pkt);
		return parse_null(pkt, caplen, wirelen, le < 256 ? le : be,
				  rec);
	}
	case NS_LINK_LOOP:
		if (caplen < 4)
			return NS_PARSE_TRUNCATED;
		return parse_null(pkt, caplen, wirelen, rd32(pkt), rec);
	case NS_LINK_PPP:
	case NS_LINK_C_HDLC: {
		/* PPP: ff 03 proto(2), or a bare 2-byte protocol;
		 * Cisco HDLC: addr, ctrl, EtherType */
		size_t off = 0;
		if (caplen >= 2 && pkt[0] == 0xFF && pkt[1] == 0x03)
			off = 2;
		else if (linktype == NS_LINK_C_HDLC)
			off = 2;
		if (caplen < off + 2)
			return NS_PARSE_TRUNCATED;
		uint16_t p = rd16(pkt + off);
		if (linktype == NS_LINK_PPP)
			p = p == PPP_IPV4 ? ETH_P_IPV4
			    : p == PPP_IPV6 ? ETH_P_IPV6
					    : 0;
		return parse_ethertype(pkt, caplen, wirelen, off + 2, p, rec);
	}
	default:
		return NS_PARSE_BAD_LINKTYPE;
	}
}
