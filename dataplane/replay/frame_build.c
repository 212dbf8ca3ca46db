/* Frames from packet records (include/netshare/frame.h). Every write is
 * bounded by the layout computed first; the fill's checksum comes from a
 * closed form, so the fast path never reads the fill it relies on. */
#include "netshare/frame.h"

#include <string.h>

#define ETH_HLEN 14
#define VLAN_HLEN 4
#define IPV4_HLEN 20
#define IPV6_HLEN 40
#define V6_FRAG_HLEN 8
#define ICMP_HLEN 8

#define P_ICMP 1
#define P_IGMP 2
#define P_TCP 6
#define P_UDP 17
#define P_V6_FRAG 44
#define P_AH 51
#define P_ICMPV6 58
#define P_V6_NONXT 59
#define P_SCTP 132
#define P_UDPLITE 136

#define TCP_ACK 0x10

/* The fill, twice over, so that any 256 bytes of it start anywhere in
 * the first half. */
#define F4(x) (x), (x) + 1, (x) + 2, (x) + 3
#define F16(x) F4(x), F4((x) + 4), F4((x) + 8), F4((x) + 12)
#define F64(x) F16(x), F16((x) + 16), F16((x) + 32), F16((x) + 48)
#define F256(x) F64(x), F64((x) + 64), F64((x) + 128), F64((x) + 192)
static const uint8_t fill_table[512] = {F256(0), F256(0)};
static_assert(NS_FRAME_HDR_MAX <= 256, "the header prefix is one copy");

void
ns_frame_opts_default(struct ns_frame_opts *o)
{
	static const uint8_t dst[6] = {2, 0, 0, 0, 0, 2};
	static const uint8_t src[6] = {2, 0, 0, 0, 0, 1};
	memcpy(o->dst_mac, dst, 6);
	memcpy(o->src_mac, src, 6);
	o->vlan = 1;
}

void
ns_frame_fill(uint8_t *buf, size_t off, size_t len)
{
	const uint8_t *src = fill_table + (off & 0xFF);
	while (len) {
		size_t n = len < 256 ? len : 256;
		memcpy(buf, src, n); /* 256 on: the same fill offset */
		buf += n;
		len -= n;
	}
}

static inline uint64_t
fold64(uint64_t s)
{
	while (s >> 32)
		s = (s & 0xFFFFFFFFu) + (s >> 32);
	return s;
}

uint32_t
ns_csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	uint64_t s = sum;
	size_t i = 0;
	for (; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return (uint32_t)fold64(s);
}

uint16_t
ns_csum_finish(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Sum of the fill's 16-bit words with index below n, word j starting at
 * frame offset 2j: word j is (2j mod 256) << 8 | (2j + 1 mod 256), i.e.
 * 514 (j mod 128) + 1, so a period of 128 words sums to S(128) with
 * S(k) = 257 k (k - 1) + k. */
static inline uint64_t
fill_words(uint64_t n)
{
	uint64_t q = n >> 7, r = n & 127;
	return q * (257u * 128u * 127u + 128u) + 257u * r * (r ? r - 1 : 0) +
	       r;
}

/* One's complement partial sum of the fill over frame offsets [a, b),
 * a even (every header length is even, so the fill starts even). */
static inline uint32_t
fill_sum(size_t a, size_t b)
{
	uint64_t s = fill_words(b >> 1) - fill_words(a >> 1);
	if (b & 1)
		s += (uint64_t)ns_frame_fill_byte(b - 1) << 8;
	return (uint32_t)fold64(s);
}

uint32_t
ns_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
	}
	return crc;
}

static uint32_t
crc32c_fill(uint32_t crc, size_t a, size_t b)
{
	for (size_t o = a; o < b; o++) {
		crc ^= ns_frame_fill_byte(o);
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
	}
	return crc;
}

static inline void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Next-header values the parser walks as IPv6 extension headers. */
static int
is_v6_ext(uint8_t nh)
{
	switch (nh) {
	case 0:
	case 43:
	case P_V6_FRAG:
	case P_AH:
	case 60:
	case 135:
	case 139:
	case 140:
		return 1;
	default:
		return 0;
	}
}

/* ICMP(v6) types that carry the start of an offending datagram. */
static int
icmp_error(uint8_t proto, uint8_t type)
{
	if (proto == P_ICMP)
		return type == 3 || type == 4 || type == 5 || type == 11 ||
		       type == 12;
	return type >= 1 && type <= 4;
}

/* Bytes of an ICMPv6 message's fixed part after its 8-byte header, for
 * the types whose body dissectors decode: MLD (130-132) and neighbour
 * discovery (133-137). */
static unsigned
icmp6_fixed(uint8_t type)
{
	switch (type) {
	case 130:
	case 131:
	case 132:
	case 135:
	case 136:
		return 16; /* an address */
	case 134:
		return 8; /* reachable time, retransmission timer */
	case 137:
		return 32; /* target and destination */
	default:
		return 0;
	}
}

#define ND_OPT_NONCE 14 /* an option of any multiple of 8 bytes */
#define MLD2_REPORT 143
#define MLD_QUERY 130

/* The layout plus what writing it needs. */
struct layout {
	struct ns_frame_info fi;
	uint8_t v6frag;    /* IPv6 fragment header at l3_off + 40 */
	uint8_t later;     /* non-first fragment: no L4 header */
	uint8_t inner_ver; /* ICMP error: version of the inner header */
	uint8_t nd_opt;    /* ND: one option of nd_opt * 8 bytes */
	uint8_t mld_aux;   /* MLDv2 report: one record, aux words */
	uint8_t mld_rec;   /* ... when set */
	uint16_t l4_hlen;  /* L4 header (and body we write) bytes */
	uint16_t inner_len;
};

static int
lay_out(const struct ns_pkt_record *r, const struct ns_frame_opts *o,
        struct layout *L)
{
	memset(L, 0, sizeof(*L));
	if (r->ip_version != 4 && r->ip_version != 6)
		return -1;
	int v6 = r->ip_version == 6;
	unsigned l2 = ETH_HLEN;
	if (o->vlan && (r->flags & NS_PKT_HAS_VLAN))
		l2 += VLAN_HLEN;
	unsigned l3 = v6 ? IPV6_HLEN : IPV4_HLEN;
	uint16_t off = r->ip_frag & NS_FRAG_OFFSET_MASK;
	if (v6 && ((r->flags & NS_PKT_FRAGMENT) ||
	           (r->ip_frag & (NS_FRAG_MF | NS_FRAG_OFFSET_MASK)))) {
		L->v6frag = 1;
		l3 += V6_FRAG_HLEN;
	}
	L->later = off != 0;
	unsigned l4 = 0;
	uint8_t proto = r->proto;
	if (!L->later) {
		if (v6 && is_v6_ext(proto)) {
			l4 = proto == P_AH ? 12 : 8;
			L->fi.adjust |= NS_FRAME_V6_EXT;
		} else {
			switch (proto) {
			case P_TCP:
				l4 = 20;
				break;
			case P_UDP:
			case P_UDPLITE:
			case P_IGMP:
				l4 = 8;
				break;
			case P_SCTP:
				l4 = 12;
				break;
			case P_ICMP:
			case P_ICMPV6:
				l4 = ICMP_HLEN;
				if (icmp_error(proto, (uint8_t)r->src_port)) {
					L->inner_ver = proto == P_ICMP ? 4 : 6;
					L->inner_len = proto == P_ICMP
					                   ? IPV4_HLEN
					                   : IPV6_HLEN;
				} else if (proto == P_ICMPV6) {
					l4 +=
					    icmp6_fixed((uint8_t)r->src_port);
				}
				break;
			default:
				break;
			}
		}
		if (l4)
			L->fi.l4_proto = proto;
	}
	uint32_t min = l3 + l4 + L->inner_len;
	uint32_t max = NS_FRAME_MAX - l2;
	uint32_t ip_len = r->ip_len;
	if (ip_len < min) {
		ip_len = min;
		L->fi.adjust |= NS_FRAME_RAISED;
	} else if (ip_len > max) {
		ip_len = max;
		L->fi.adjust |= NS_FRAME_CLAMPED;
	}
	/* bodies that depend on the message's length */
	uint32_t msg = ip_len - l3; /* L4 message bytes */
	uint8_t type = (uint8_t)r->src_port;
	if (L->fi.l4_proto == P_IGMP && msg >= 12) {
		l4 = 12; /* IGMPv3 query: its sources fill the rest */
	} else if (L->fi.l4_proto == P_ICMPV6 && !L->inner_ver) {
		uint32_t rest = msg - l4;
		if (type >= 133 && type <= 137 && rest >= 8 && rest % 8 == 0 &&
		    rest / 8 <= 255) {
			L->nd_opt = (uint8_t)(rest / 8);
			l4 += 2; /* the option's type and length */
		} else if (type == MLD2_REPORT && rest >= 20 &&
		           (rest - 20) % 4 == 0 && (rest - 20) / 4 <= 255) {
			L->mld_rec = 1;
			L->mld_aux = (uint8_t)((rest - 20) / 4);
			l4 += 20; /* one record, aux data to the end */
		} else if (type == MLD_QUERY && rest >= 4) {
			l4 += 4; /* MLDv2 query: its sources fill the rest */
		}
	}
	L->l4_hlen = (uint16_t)l4;
	L->fi.ip_len = ip_len;
	L->fi.len = l2 + ip_len;
	L->fi.l3_off = (uint16_t)l2;
	L->fi.l4_off = (uint16_t)(l2 + l3);
	L->fi.fill_off = (uint16_t)(l2 + l3 + l4 + L->inner_len);
	return 0;
}

int
ns_frame_layout(const struct ns_pkt_record *r, const struct ns_frame_opts *o,
                struct ns_frame_info *fi)
{
	struct layout L;
	int rc = lay_out(r, o, &L);
	*fi = L.fi;
	return rc;
}

/* Pseudo-header sum for TCP, UDP, UDP-Lite and ICMPv6. */
static uint32_t
pseudo_sum(const struct ns_pkt_record *r, uint8_t proto, uint32_t l4_len)
{
	uint64_t s = proto;
	unsigned n = r->ip_version == 6 ? 16 : 4;
	for (unsigned i = 0; i < n; i += 2)
		s += (uint32_t)(r->src_addr[i] << 8 | r->src_addr[i + 1]) +
		     (uint32_t)(r->dst_addr[i] << 8 | r->dst_addr[i + 1]);
	s += l4_len >> 16;
	s += l4_len & 0xFFFF;
	return (uint32_t)fold64(s);
}

/* The inner header of an ICMP error: the datagram the error is about,
 * sent by the error's destination to its source; avail bytes follow the
 * ICMP header. */
static void
write_inner(const struct ns_pkt_record *r, const struct layout *L, uint8_t *p,
            uint32_t avail)
{
	if (L->inner_ver == 4) {
		memset(p, 0, IPV4_HLEN);
		p[0] = 0x45;
		put16(p + 2, avail > 65535 ? 65535 : avail);
		p[8] = 64;
		p[9] = NS_FRAME_INNER_PROTO;
		memcpy(p + 12, r->dst_addr, 4);
		memcpy(p + 16, r->src_addr, 4);
		put16(p + 10, ns_csum_finish(ns_csum_add(0, p, IPV4_HLEN)));
	} else {
		memset(p, 0, IPV6_HLEN);
		p[0] = 0x60;
		put16(p + 4, avail - IPV6_HLEN);
		p[6] = NS_FRAME_INNER_PROTO;
		p[7] = 64;
		memcpy(p + 8, r->dst_addr, 16);
		memcpy(p + 24, r->src_addr, 16);
	}
}

/* The body of MLD and neighbour discovery messages after the type,
 * code and checksum (zeroed before): addresses from the record, one
 * option or record reaching to the message's end where its length
 * allows, so that dissectors find the message whole. */
static void
write_icmp6_body(const struct ns_pkt_record *r, const struct layout *L,
                 uint8_t *m, uint32_t msg)
{
	uint8_t type = m[0];
	unsigned fixed = icmp6_fixed(type);
	switch (type) {
	case MLD_QUERY: /* general query */
		put16(m + 4, 1000);
		if (L->l4_hlen >= 28) {
			m[24] = 2;   /* QRV */
			m[25] = 125; /* QQIC */
			put16(m + 26, (msg - 28) / 16);
		}
		break;
	case 131:
	case 132:
	case 135:
	case 137:
		memcpy(m + 8, r->dst_addr, 16);
		if (type == 137)
			memcpy(m + 24, r->dst_addr, 16);
		break;
	case 134:
		m[4] = 64;
		put16(m + 6, 1800);
		break;
	case 136:
		m[4] = 0x60; /* solicited, override */
		memcpy(m + 8, r->src_addr, 16);
		break;
	case MLD2_REPORT:
		if (L->mld_rec) {
			put16(m + 6, 1);
			m[8] = 4; /* CHANGE_TO_EXCLUDE_MODE */
			m[9] = L->mld_aux;
			memcpy(m + 12, r->dst_addr, 16);
		}
		break;
	default:
		break;
	}
	if (L->nd_opt) {
		m[8 + fixed] = ND_OPT_NONCE;
		m[9 + fixed] = L->nd_opt;
	}
}

/* Headers and checksums over a buffer whose fill is in place from
 * fill_off to the frame's end. */
static void
write_frame(const struct ns_pkt_record *r, const struct ns_frame_opts *o,
            const struct layout *L, uint8_t *buf)
{
	const struct ns_frame_info *fi = &L->fi;
	int v6 = r->ip_version == 6;

	memcpy(buf, o->dst_mac, 6);
	memcpy(buf + 6, o->src_mac, 6);
	uint8_t *p = buf + 12;
	if (fi->l3_off == ETH_HLEN + VLAN_HLEN) {
		put16(p, 0x8100);
		put16(p + 2, r->vlan_id & 0x0FFFu);
		p += 4;
	}
	put16(p, v6 ? 0x86DD : 0x0800);

	uint8_t *ip = buf + fi->l3_off;
	uint8_t *l4 = buf + fi->l4_off;
	uint32_t l4_len = fi->ip_len - (uint32_t)(fi->l4_off - fi->l3_off);
	/* the next header after IP (or after the fragment header) */
	uint8_t nh = r->proto;
	if (v6) {
		put32(ip, 0x60000000u | (uint32_t)r->tos << 20);
		put16(ip + 4, fi->ip_len - IPV6_HLEN);
		ip[6] = L->v6frag ? P_V6_FRAG : nh;
		ip[7] = r->ttl;
		memcpy(ip + 8, r->src_addr, 16);
		memcpy(ip + 24, r->dst_addr, 16);
		if (L->v6frag) {
			uint8_t *f = ip + IPV6_HLEN;
			f[0] = nh;
			f[1] = 0;
			put16(f + 2,
			      (uint32_t)(r->ip_frag & NS_FRAG_OFFSET_MASK)
			              << 3 |
			          ((r->ip_frag & NS_FRAG_MF) ? 1u : 0u));
			put32(f + 4, r->ip_id);
		}
	} else {
		ip[0] = 0x45;
		ip[1] = r->tos;
		put16(ip + 2, fi->ip_len);
		put16(ip + 4, r->ip_id);
		put16(ip + 6, r->ip_frag);
		ip[8] = r->ttl;
		ip[9] = nh;
		put16(ip + 10, 0);
		memcpy(ip + 12, r->src_addr, 4);
		memcpy(ip + 16, r->dst_addr, 4);
		put16(ip + 10, ns_csum_finish(ns_csum_add(0, ip, IPV4_HLEN)));
	}
	if (fi->adjust & NS_FRAME_V6_EXT) {
		memset(l4, 0, L->l4_hlen);
		l4[0] = P_V6_NONXT;
		if (nh == P_AH) {
			l4[1] = 1; /* (1 + 2) * 4 = 12 bytes */
		} else if (nh == 0 || nh == 60) {
			l4[2] = 1; /* PadN over the 6 option bytes */
			l4[3] = 4;
		} else if (nh == 43) {
			l4[2] = 253; /* routing type for experiments */
		}
		return;
	}
	if (!fi->l4_proto)
		return;

	size_t hdr = fi->fill_off - fi->l4_off; /* L4 bytes written */
	size_t end = fi->len;
	uint32_t sum;
	uint16_t c;
	switch (nh) {
	case P_TCP:
		put16(l4, r->src_port);
		put16(l4 + 2, r->dst_port);
		put32(l4 + 4, 1);
		put32(l4 + 8, (r->tcp_flags & TCP_ACK) ? 1 : 0);
		l4[12] = 0x50;
		l4[13] = r->tcp_flags;
		put16(l4 + 14, 65535);
		put16(l4 + 16, 0);
		put16(l4 + 18, 0);
		sum = pseudo_sum(r, nh, l4_len);
		sum = ns_csum_add(sum, l4, hdr);
		sum = (uint32_t)fold64((uint64_t)sum +
		                       fill_sum(fi->fill_off, end));
		put16(l4 + 16, ns_csum_finish(sum));
		return;
	case P_UDP:
	case P_UDPLITE:
		put16(l4, r->src_port);
		put16(l4 + 2, r->dst_port);
		/* UDP: its length; UDP-Lite: checksum coverage, the header */
		put16(l4 + 4, nh == P_UDP ? (l4_len > 65535 ? 0 : l4_len) : 8);
		put16(l4 + 6, 0);
		sum = pseudo_sum(r, nh, l4_len);
		sum = ns_csum_add(sum, l4, hdr);
		if (nh == P_UDP)
			sum = (uint32_t)fold64((uint64_t)sum +
			                       fill_sum(fi->fill_off, end));
		c = ns_csum_finish(sum);
		put16(l4 + 6, c ? c : 0xFFFF);
		return;
	case P_SCTP: {
		put16(l4, r->src_port);
		put16(l4 + 2, r->dst_port);
		memset(l4 + 4, 0, 8);
		uint32_t crc = ns_crc32c(0xFFFFFFFFu, l4, hdr);
		crc = ~crc32c_fill(crc, fi->fill_off, end);
		l4[8] = (uint8_t)crc; /* little-endian, as SCTP stores it */
		l4[9] = (uint8_t)(crc >> 8);
		l4[10] = (uint8_t)(crc >> 16);
		l4[11] = (uint8_t)(crc >> 24);
		return;
	}
	case P_ICMP:
	case P_ICMPV6:
		memset(l4, 0, L->l4_hlen);
		l4[0] = (uint8_t)r->src_port;
		l4[1] = (uint8_t)r->dst_port;
		if (L->inner_ver)
			write_inner(r, L, l4 + ICMP_HLEN, l4_len - ICMP_HLEN);
		else if (nh == P_ICMPV6)
			write_icmp6_body(r, L, l4, l4_len);
		sum = nh == P_ICMPV6 ? pseudo_sum(r, nh, l4_len) : 0;
		sum = ns_csum_add(sum, l4, hdr);
		sum = (uint32_t)fold64((uint64_t)sum +
		                       fill_sum(fi->fill_off, end));
		put16(l4 + 2, ns_csum_finish(sum));
		return;
	case P_IGMP:
		/* a general query, v3 from 12 bytes on: checksummed over
		 * the whole message by every version's rules */
		memset(l4, 0, L->l4_hlen);
		l4[0] = 0x11;
		l4[1] = 100; /* 10 s */
		if (L->l4_hlen == 12) {
			l4[8] = 2;   /* QRV */
			l4[9] = 125; /* QQIC */
			put16(l4 + 10, (l4_len - 12) / 4);
		}
		sum = ns_csum_add(0, l4, hdr);
		sum = (uint32_t)fold64((uint64_t)sum +
		                       fill_sum(fi->fill_off, end));
		put16(l4 + 2, ns_csum_finish(sum));
		return;
	default:
		return;
	}
}

size_t
ns_frame_build(const struct ns_pkt_record *r, const struct ns_frame_opts *o,
               uint8_t *buf, size_t cap, struct ns_frame_info *fi)
{
	struct layout L;
	int rc = lay_out(r, o, &L);
	if (fi)
		*fi = L.fi;
	if (rc || L.fi.len > cap)
		return 0;
	ns_frame_fill(buf, 0, L.fi.len);
	write_frame(r, o, &L, buf);
	return L.fi.len;
}

size_t
ns_frame_build_hdr(const struct ns_pkt_record *r,
                   const struct ns_frame_opts *o, uint8_t *buf, size_t cap,
                   struct ns_frame_info *fi)
{
	struct layout L;
	int rc = lay_out(r, o, &L);
	if (fi)
		*fi = L.fi;
	if (rc || L.fi.len > cap || cap < NS_FRAME_HDR_MAX)
		return 0;
	memcpy(buf, fill_table, NS_FRAME_HDR_MAX);
	write_frame(r, o, &L, buf);
	return L.fi.len;
}
