/* Packet parser: frames built byte by byte for every link type and
 * header stack, truncation at every length, and malformed values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netshare/parse.h"

/* A frame under construction. */
struct frame {
	uint8_t b[512];
	size_t n;
	size_t ip_at; /* where the IP header starts, for checksums */
};

static void
put(struct frame *f, const void *p, size_t n)
{
	assert_true(f->n + n <= sizeof(f->b));
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void
put8(struct frame *f, uint8_t v)
{
	put(f, &v, 1);
}

static void
put16(struct frame *f, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(f, b, 2);
}

static void
put32(struct frame *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static void
eth(struct frame *f, uint16_t type)
{
	static const uint8_t macs[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
	put(f, macs, 12);
	put16(f, type);
}

static void
vlan(struct frame *f, uint16_t vid, uint16_t next)
{
	put16(f, (uint16_t)(0x2000 | vid)); /* PCP 1 */
	put16(f, next);
}

/* IPv4 header of ihl words (options zero-filled), checksum filled. */
static void
ipv4(struct frame *f, unsigned ihl, uint16_t tot_len, uint16_t frag,
     uint8_t proto, uint32_t src, uint32_t dst)
{
	f->ip_at = f->n;
	put8(f, (uint8_t)(0x40 | ihl));
	put8(f, 0x28); /* TOS */
	put16(f, tot_len);
	put16(f, 0xBEEF); /* id */
	put16(f, frag);
	put8(f, 63); /* TTL */
	put8(f, proto);
	put16(f, 0); /* checksum, below */
	put32(f, src);
	put32(f, dst);
	for (unsigned i = 5; i < ihl; i++)
		put32(f, 0x01010101); /* NOP options */
	uint32_t s = 0;
	for (size_t i = f->ip_at; i < f->ip_at + ihl * 4; i += 2)
		s += (uint32_t)(f->b[i] << 8 | f->b[i + 1]);
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	f->b[f->ip_at + 10] = (uint8_t)(~s >> 8);
	f->b[f->ip_at + 11] = (uint8_t)~s;
}

static const uint8_t v6_src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				   0,	 0,    0,    0,	   0, 0, 0, 1};
static const uint8_t v6_dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				   0,	 0,    0,    0,	   0, 0, 0, 2};

static void
ipv6(struct frame *f, uint16_t plen, uint8_t next)
{
	f->ip_at = f->n;
	put32(f, 0x6 << 28 | 0xB8 << 20 | 0x12345); /* class 0xB8 */
	put16(f, plen);
	put8(f, next);
	put8(f, 64);
	put(f, v6_src, 16);
	put(f, v6_dst, 16);
}

static void
tcp(struct frame *f, uint16_t sp, uint16_t dp, uint8_t flags)
{
	put16(f, sp);
	put16(f, dp);
	put32(f, 1000);
	put32(f, 0);
	put8(f, 0x50);
	put8(f, flags);
	put16(f, 8192);
	put32(f, 0);
}

static void
udp(struct frame *f, uint16_t sp, uint16_t dp, uint16_t len)
{
	put16(f, sp);
	put16(f, dp);
	put16(f, len);
	put16(f, 0);
}

/* Parse through an exact-size heap copy so ASan sees any overread. */
static enum ns_parse_status
parse(const struct frame *f, size_t len, int linktype,
      struct ns_pkt_record *r)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, f->b, len);
	enum ns_parse_status s = ns_parse_packet(copy, len, len, linktype, r);
	free(copy);
	return s;
}

/* Every prefix of a frame parses without reading past it, and a prefix
 * that loses headers says so (truncated) instead of inventing values. */
static void
check_prefixes(const struct frame *f, int linktype)
{
	struct ns_pkt_record full, r;
	assert_int_equal(parse(f, f->n, linktype, &full), NS_PARSE_OK);
	for (size_t len = 0; len < f->n; len++) {
		enum ns_parse_status s = parse(f, len, linktype, &r);
		assert_true(s == NS_PARSE_OK || s == NS_PARSE_TRUNCATED);
		if (s == NS_PARSE_OK && (full.flags & NS_PKT_HAS_L4) &&
		    !(r.flags & NS_PKT_HAS_L4)) {
			assert_true(r.flags & NS_PKT_TRUNCATED);
			assert_int_equal(r.src_port, 0);
		}
	}
}

/* Ethernet/IPv4/TCP: every header field lands in its record field. */
static void
test_eth_ipv4_tcp(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x0800);
	ipv4(&f, 5, 40, 0x4000, 6, 0x0A000001, 0xC0A80102);
	tcp(&f, 51000, 443, 0x12);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.ip_version, 4);
	assert_int_equal(ns_addr_to_v4(r.src_addr), 0x0A000001);
	assert_int_equal(ns_addr_to_v4(r.dst_addr), 0xC0A80102);
	assert_int_equal(r.src_port, 51000);
	assert_int_equal(r.dst_port, 443);
	assert_int_equal(r.proto, 6);
	assert_int_equal(r.ip_len, 40);
	assert_int_equal(r.tos, 0x28);
	assert_int_equal(r.ttl, 63);
	assert_int_equal(r.ip_id, 0xBEEF);
	assert_int_equal(r.ip_frag, NS_FRAG_DF);
	assert_int_equal(r.tcp_flags, 0x12);
	assert_int_equal(r.flags, NS_PKT_HAS_L4);
	check_prefixes(&f, NS_LINK_ETHERNET);
}

/* Ethernet padding past the IP length is not read as L4 bytes. */
static void
test_ethernet_padding_bounds_l4(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x0800);
	ipv4(&f, 5, 22, 0, 17, 1, 2); /* 2 bytes of UDP only */
	put16(&f, 53);
	for (int i = 0; i < 24; i++)
		put8(&f, 0xAA); /* padding to 60 bytes */
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.src_port, 0);
	assert_true(r.flags & NS_PKT_TRUNCATED);
	assert_false(r.flags & NS_PKT_HAS_L4);
}

/* 802.1Q, QinQ (88a8 then 8100) and the old 9100 tag: the innermost VID
 * is kept and the IP behind the tags is parsed. */
static void
test_vlan_and_qinq(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x88A8);
	vlan(&f, 100, 0x8100);
	vlan(&f, 200, 0x0800);
	ipv4(&f, 5, 28, 0, 17, 1, 2);
	udp(&f, 1234, 53, 8);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.vlan_id, 200);
	assert_true(r.flags & NS_PKT_HAS_VLAN);
	assert_int_equal(r.dst_port, 53);
	check_prefixes(&f, NS_LINK_ETHERNET);

	struct frame g = {0};
	eth(&g, 0x9100);
	vlan(&g, 7, 0x0800);
	ipv4(&g, 5, 28, 0, 17, 1, 2);
	udp(&g, 1, 2, 8);
	assert_int_equal(parse(&g, g.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.vlan_id, 7);
}

/* An MPLS label stack is walked to its bottom entry, then IP. */
static void
test_mpls_stack(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x8847);
	put32(&f, 16 << 12 | 0 << 8 | 64);   /* label 16 */
	put32(&f, 17 << 12 | 1 << 8 | 64);   /* label 17, bottom */
	ipv4(&f, 5, 28, 0, 17, 3, 4);
	udp(&f, 5000, 6000, 8);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.src_port, 5000);
	check_prefixes(&f, NS_LINK_ETHERNET);

	/* a stack with no bottom-of-stack bit within the limit */
	struct frame g = {0};
	eth(&g, 0x8847);
	for (int i = 0; i < 12; i++)
		put32(&g, 16 << 12 | 64);
	assert_int_equal(parse(&g, g.n, NS_LINK_ETHERNET, &r),
			 NS_PARSE_MALFORMED);
}

/* PPPoE session frames carry IPv4 behind PPP protocol 0x0021. */
static void
test_pppoe(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x8864);
	put8(&f, 0x11);
	put8(&f, 0);
	put16(&f, 1);  /* session */
	put16(&f, 30); /* length */
	put16(&f, 0x0021);
	ipv4(&f, 5, 28, 0, 17, 1, 2);
	udp(&f, 67, 68, 8);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.dst_port, 68);
}

/* IPv4 options move the L4 header; the ports are still found. */
static void
test_ipv4_options(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x0800);
	ipv4(&f, 8, 52, 0, 6, 1, 2);
	tcp(&f, 22, 40000, 0x10);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.src_port, 22);
	assert_int_equal(r.dst_port, 40000);
	check_prefixes(&f, NS_LINK_ETHERNET);
}

/* Fragments: the first one gives ports, later ones give none. */
static void
test_ipv4_fragments(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x0800);
	ipv4(&f, 5, 1500, NS_FRAG_MF, 17, 1, 2);
	udp(&f, 4000, 4001, 3000);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.src_port, 4000);
	assert_true(r.flags & NS_PKT_FRAGMENT);

	struct frame g = {0};
	eth(&g, 0x0800);
	ipv4(&g, 5, 1500, 185, 17, 1, 2); /* offset 1480 bytes */
	udp(&g, 0xDEAD, 0xBEEF, 0);	  /* payload, not a header */
	assert_int_equal(parse(&g, g.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.src_port, 0);
	assert_int_equal(r.dst_port, 0);
	assert_int_equal(r.ip_frag & NS_FRAG_OFFSET_MASK, 185);
	assert_true(r.flags & NS_PKT_FRAGMENT);
	assert_false(r.flags & NS_PKT_HAS_L4);
}

/* IPv6 with hop-by-hop and routing headers: the final protocol and ports
 * are found behind the chain. */
static void
test_ipv6_extension_chain(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x86DD);
	ipv6(&f, 8 + 24 + 20, 0);
	put8(&f, 43); /* HBH: next routing, len 0 (8 bytes) */
	put8(&f, 0);
	put8(&f, 1); /* PadN */
	put8(&f, 4);
	put32(&f, 0);
	put8(&f, 6); /* routing: next TCP, len 2 (24 bytes) */
	put8(&f, 2);
	put8(&f, 0);
	put8(&f, 0);
	put32(&f, 0);
	for (int i = 0; i < 4; i++)
		put32(&f, 0);
	tcp(&f, 8080, 80, 0x02);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.ip_version, 6);
	assert_memory_equal(r.src_addr, v6_src, 16);
	assert_memory_equal(r.dst_addr, v6_dst, 16);
	assert_int_equal(r.proto, 6);
	assert_int_equal(r.src_port, 8080);
	assert_int_equal(r.tcp_flags, 0x02);
	assert_int_equal(r.tos, 0xB8);
	assert_int_equal(r.ttl, 64);
	assert_int_equal(r.ip_len, 40 + 52);
	check_prefixes(&f, NS_LINK_ETHERNET);
}

/* IPv6 fragment header: id and offset recorded, later fragments have no
 * ports. */
static void
test_ipv6_fragments(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x86DD);
	ipv6(&f, 8 + 8, 44);
	put8(&f, 17);
	put8(&f, 0);
	put16(&f, 0 << 3 | 1); /* offset 0, M */
	put32(&f, 0xCAFEF00D);
	udp(&f, 53, 5353, 1000);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.ip_id, 0xCAFEF00D);
	assert_int_equal(r.ip_frag, NS_FRAG_MF);
	assert_int_equal(r.src_port, 53);
	assert_int_equal(r.proto, 17);

	struct frame g = {0};
	eth(&g, 0x86DD);
	ipv6(&g, 8 + 8, 44);
	put8(&g, 17);
	put8(&g, 0);
	put16(&g, 100 << 3); /* offset 100, last */
	put32(&g, 0xCAFEF00D);
	udp(&g, 1, 2, 3);
	assert_int_equal(parse(&g, g.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.ip_frag, 100);
	assert_int_equal(r.src_port, 0);
	assert_int_equal(r.proto, 17);
	assert_true(r.flags & NS_PKT_FRAGMENT);
}

/* A jumbogram takes its length from the hop-by-hop jumbo option. */
static void
test_ipv6_jumbogram(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x86DD);
	ipv6(&f, 0, 0);
	put8(&f, 17);
	put8(&f, 0);
	put8(&f, 0xC2);
	put8(&f, 4);
	put32(&f, 70000);
	udp(&f, 9, 10, 0);
	struct ns_pkt_record r;
	assert_int_equal(ns_parse_packet(f.b, f.n, 14 + 40 + 70000,
					 NS_LINK_ETHERNET, &r),
			 NS_PARSE_OK);
	assert_int_equal(r.ip_len, 40 + 70000);
	assert_int_equal(r.dst_port, 10);
}

/* ICMP and ICMPv6 keep type and code in the port fields; protocols
 * without ports keep 0 and are not marked truncated. */
static void
test_icmp_and_portless(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x0800);
	ipv4(&f, 5, 28, 0, 1, 1, 2);
	put8(&f, 3);
	put8(&f, 13);
	put16(&f, 0);
	put32(&f, 0);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.src_port, 3);
	assert_int_equal(r.dst_port, 13);

	struct frame g = {0};
	eth(&g, 0x86DD);
	ipv6(&g, 8, 58);
	put8(&g, 128);
	put8(&g, 0);
	put16(&g, 0);
	put32(&g, 0);
	assert_int_equal(parse(&g, g.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.src_port, 128);
	assert_int_equal(r.proto, 58);

	struct frame h = {0};
	eth(&h, 0x0800);
	ipv4(&h, 5, 24, 0, 47, 1, 2); /* GRE */
	put32(&h, 0x00000800);
	assert_int_equal(parse(&h, h.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.proto, 47);
	assert_int_equal(r.src_port, 0);
	assert_int_equal(r.flags, 0);
}

/* SCTP ports are read like TCP/UDP ports. */
static void
test_sctp(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x0800);
	ipv4(&f, 5, 32, 0, 132, 1, 2);
	put16(&f, 2905);
	put16(&f, 2906);
	put32(&f, 0);
	put32(&f, 0);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_int_equal(r.src_port, 2905);
	assert_int_equal(r.dst_port, 2906);
}

/* Link types: raw IP (12, 14, 101, 228, 229), Linux SLL and SLL2, BSD
 * NULL in either byte order, OpenBSD LOOP, PPP, Cisco HDLC. */
static void
test_link_types(void **state)
{
	(void)state;
	struct frame ip = {0};
	ipv4(&ip, 5, 28, 0, 17, 0x01020304, 0x05060708);
	udp(&ip, 111, 222, 8);
	struct ns_pkt_record r;
	int raw[] = {NS_LINK_RAW, NS_LINK_RAW_OPENBSD, NS_LINK_RAW_LINKTYPE,
		     NS_LINK_IPV4};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(parse(&ip, ip.n, raw[i], &r), NS_PARSE_OK);
		assert_int_equal(r.dst_port, 222);
		check_prefixes(&ip, raw[i]);
	}
	/* an IPv4 packet on the IPv6-only link type is malformed */
	assert_int_equal(parse(&ip, ip.n, NS_LINK_IPV6, &r),
			 NS_PARSE_MALFORMED);

	struct frame sll = {0};
	put16(&sll, 0); /* incoming */
	put16(&sll, 1);
	put16(&sll, 6);
	put(&sll, "\0\1\2\3\4\5\0\0", 8);
	put16(&sll, 0x0800);
	put(&sll, ip.b, ip.n);
	assert_int_equal(parse(&sll, sll.n, NS_LINK_LINUX_SLL, &r),
			 NS_PARSE_OK);
	assert_int_equal(r.src_port, 111);

	struct frame sll2 = {0};
	put16(&sll2, 0x0800);
	put16(&sll2, 0);
	put32(&sll2, 2); /* ifindex */
	put16(&sll2, 1);
	put8(&sll2, 0);
	put8(&sll2, 6);
	put(&sll2, "\0\1\2\3\4\5\0\0", 8);
	put(&sll2, ip.b, ip.n);
	assert_int_equal(parse(&sll2, sll2.n, NS_LINK_LINUX_SLL2, &r),
			 NS_PARSE_OK);
	assert_int_equal(r.src_port, 111);
	check_prefixes(&sll2, NS_LINK_LINUX_SLL2);

	struct frame null_le = {0};
	put(&null_le, "\x02\0\0\0", 4);
	put(&null_le, ip.b, ip.n);
	assert_int_equal(parse(&null_le, null_le.n, NS_LINK_NULL, &r),
			 NS_PARSE_OK);

	struct frame v6 = {0};
	ipv6(&v6, 8, 17);
	udp(&v6, 1, 2, 8);
	struct frame null_be = {0};
	put32(&null_be, 30); /* Darwin AF_INET6, big-endian capture */
	put(&null_be, v6.b, v6.n);
	assert_int_equal(parse(&null_be, null_be.n, NS_LINK_NULL, &r),
			 NS_PARSE_OK);
	assert_int_equal(r.ip_version, 6);
	assert_int_equal(parse(&v6, v6.n, NS_LINK_IPV6, &r), NS_PARSE_OK);

	struct frame loop = {0};
	put32(&loop, 24);
	put(&loop, v6.b, v6.n);
	assert_int_equal(parse(&loop, loop.n, NS_LINK_LOOP, &r),
			 NS_PARSE_OK);

	struct frame ppp = {0};
	put8(&ppp, 0xFF);
	put8(&ppp, 0x03);
	put16(&ppp, 0x0021);
	put(&ppp, ip.b, ip.n);
	assert_int_equal(parse(&ppp, ppp.n, NS_LINK_PPP, &r), NS_PARSE_OK);

	struct frame hdlc = {0};
	put8(&hdlc, 0x0F);
	put8(&hdlc, 0x00);
	put16(&hdlc, 0x0800);
	put(&hdlc, ip.b, ip.n);
	assert_int_equal(parse(&hdlc, hdlc.n, NS_LINK_C_HDLC, &r),
			 NS_PARSE_OK);

	assert_int_equal(parse(&ip, ip.n, 147, &r), NS_PARSE_BAD_LINKTYPE);
	assert_false(ns_linktype_supported(147));
}

/* Non-IP frames (ARP, 802.3 length field, unknown AF) are not_ip. */
static void
test_not_ip(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x0806);
	for (int i = 0; i < 28; i++)
		put8(&f, 0);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r),
			 NS_PARSE_NOT_IP);
	struct frame g = {0};
	eth(&g, 46); /* 802.3 length */
	for (int i = 0; i < 46; i++)
		put8(&g, 0);
	assert_int_equal(parse(&g, g.n, NS_LINK_ETHERNET, &r),
			 NS_PARSE_NOT_IP);
	struct frame h = {0};
	put32(&h, 7); /* unknown AF */
	put32(&h, 0x45000014);
	assert_int_equal(parse(&h, h.n, NS_LINK_LOOP, &r), NS_PARSE_NOT_IP);
}

/* Impossible values: IHL below 5, a wrong version, an EtherType that
 * disagrees with the version, a total length shorter than the header. */
static void
test_malformed(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x0800);
	ipv4(&f, 5, 40, 0, 6, 1, 2);
	tcp(&f, 1, 2, 0);
	struct ns_pkt_record r;
	f.b[14] = 0x44; /* IHL 4 */
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r),
			 NS_PARSE_MALFORMED);
	f.b[14] = 0x55; /* version 5 */
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r),
			 NS_PARSE_MALFORMED);

	struct frame g = {0};
	eth(&g, 0x0800); /* says IPv4, carries IPv6 */
	ipv6(&g, 0, 59);
	assert_int_equal(parse(&g, g.n, NS_LINK_ETHERNET, &r),
			 NS_PARSE_MALFORMED);

	struct frame h = {0};
	eth(&h, 0x0800);
	ipv4(&h, 5, 12, 0, 6, 1, 2); /* total length < header */
	tcp(&h, 1, 2, 0);
	assert_int_equal(parse(&h, h.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_true(r.flags & NS_PKT_MALFORMED);
	assert_false(r.flags & NS_PKT_HAS_L4);
}

/* A bad IPv4 header checksum is flagged, not dropped. */
static void
test_bad_checksum_flagged(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x0800);
	ipv4(&f, 5, 28, 0, 17, 1, 2);
	udp(&f, 1, 2, 8);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_false(r.flags & NS_PKT_BAD_CSUM);
	f.b[f.ip_at + 10] ^= 0x40;
	assert_int_equal(parse(&f, f.n, NS_LINK_ETHERNET, &r), NS_PARSE_OK);
	assert_true(r.flags & NS_PKT_BAD_CSUM);
}

/* Truncation inside L2 or the IP header is reported as truncated. */
static void
test_truncated_headers(void **state)
{
	(void)state;
	struct frame f = {0};
	eth(&f, 0x0800);
	ipv4(&f, 5, 40, 0, 6, 1, 2);
	tcp(&f, 1, 2, 0);
	struct ns_pkt_record r;
	assert_int_equal(parse(&f, 10, NS_LINK_ETHERNET, &r),
			 NS_PARSE_TRUNCATED);
	assert_int_equal(parse(&f, 14 + 19, NS_LINK_ETHERNET, &r),
			 NS_PARSE_TRUNCATED);
	assert_int_equal(parse(&f, 14 + 22, NS_LINK_ETHERNET, &r),
			 NS_PARSE_OK);
	assert_true(r.flags & NS_PKT_TRUNCATED);
	assert_int_equal(r.dst_port, 0);
	assert_string_equal(ns_parse_status_name(NS_PARSE_TRUNCATED),
			    "truncated");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eth_ipv4_tcp),
		cmocka_unit_test(test_ethernet_padding_bounds_l4),
		cmocka_unit_test(test_vlan_and_qinq),
		cmocka_unit_test(test_mpls_stack),
		cmocka_unit_test(test_pppoe),
		cmocka_unit_test(test_ipv4_options),
		cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_ipv6_extension_chain),
		cmocka_unit_test(test_ipv6_fragments),
		cmocka_unit_test(test_ipv6_jumbogram),
		cmocka_unit_test(test_icmp_and_portless),
		cmocka_unit_test(test_sctp),
		cmocka_unit_test(test_link_types),
		cmocka_unit_test(test_not_ip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_bad_checksum_flagged),
		cmocka_unit_test(test_truncated_headers),
	};
	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
