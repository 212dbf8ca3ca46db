/* Frame builder (include/netshare/frame.h): every header field against
 * the record, checksums against an independent computation here,
 * fragments, length raising and clamping, IPv6 without extension
 * headers, ICMP type/code placement and bodies, the fill, and the fast
 * path's equality with the full build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netshare/frame.h"
#include "netshare/parse.h"

#define BUF (NS_FRAME_MAX + 64)

static uint8_t buf[BUF], buf2[BUF];

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* The Internet checksum, written the obvious way: a byte array summed
 * as big-endian words in a 64-bit accumulator, folded at the end. */
static uint64_t
ref_sum(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += (i % 2 == 0) ? (uint64_t)p[i] << 8 : p[i];
	return s;
}

static uint16_t
ref_fold(uint64_t s)
{
	while (s > 0xFFFF)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)s;
}

/* Does the L4 message at l4 (len bytes, checksum field included) verify
 * with the pseudo-header of (src, dst, proto) and this version? */
static int
l4_verifies(const uint8_t *l4, size_t len, const uint8_t *src,
            const uint8_t *dst, int v6, uint8_t proto, int pseudo)
{
	uint8_t ph[40];
	size_t phn = 0;
	if (pseudo) {
		size_t a = v6 ? 16 : 4;
		memcpy(ph, src, a);
		memcpy(ph + a, dst, a);
		phn = 2 * a;
		if (v6) {
			ph[phn++] = (uint8_t)(len >> 24);
			ph[phn++] = (uint8_t)(len >> 16);
			ph[phn++] = (uint8_t)(len >> 8);
			ph[phn++] = (uint8_t)len;
			ph[phn++] = 0;
			ph[phn++] = 0;
			ph[phn++] = 0;
			ph[phn++] = proto;
		} else {
			ph[phn++] = 0;
			ph[phn++] = proto;
			ph[phn++] = (uint8_t)(len >> 8);
			ph[phn++] = (uint8_t)len;
		}
	}
	uint64_t s = ref_sum(ph, phn) + ref_sum(l4, len);
	return ref_fold(s) == 0xFFFF;
}

static struct ns_pkt_record
v4rec(uint8_t proto, uint32_t ip_len)
{
	struct ns_pkt_record r;
	memset(&r, 0, sizeof(r));
	r.ip_version = 4;
	r.proto = proto;
	r.ip_len = ip_len;
	r.tos = 0xB8;
	r.ttl = 7;
	r.ip_id = 0xBEEF;
	r.ip_frag = NS_FRAG_DF;
	r.src_port = 40000;
	r.dst_port = 53;
	r.tcp_flags = 0x12;
	ns_addr_from_v4(r.src_addr, 0x0A000001);
	ns_addr_from_v4(r.dst_addr, 0xC0A80102);
	return r;
}

static struct ns_pkt_record
v6rec(uint8_t proto, uint32_t ip_len)
{
	struct ns_pkt_record r = v4rec(proto, ip_len);
	r.ip_version = 6;
	r.ip_frag = 0;
	r.ip_id = 0;
	for (int i = 0; i < 16; i++) {
		r.src_addr[i] = (uint8_t)(0x20 + i);
		r.dst_addr[i] = (uint8_t)(0xF0 - i);
	}
	return r;
}

static size_t
build(const struct ns_pkt_record *r, struct ns_frame_info *fi)
{
	struct ns_frame_opts o;
	ns_frame_opts_default(&o);
	memset(buf, 0xEE, sizeof(buf));
	size_t n = ns_frame_build(r, &o, buf, sizeof(buf), fi);
	assert_int_equal(n, fi->len);
	return n;
}

/* Parse the frame back and compare the fields a record carries. */
static void
parses_back(const struct ns_pkt_record *r, size_t n)
{
	struct ns_pkt_record p;
	assert_int_equal(ns_parse_packet(buf, n, n, NS_LINK_ETHERNET, &p),
	                 NS_PARSE_OK);
	assert_int_equal(p.ip_version, r->ip_version);
	assert_memory_equal(p.src_addr, r->src_addr, 16);
	assert_memory_equal(p.dst_addr, r->dst_addr, 16);
	assert_int_equal(p.proto, r->proto);
	assert_int_equal(p.tos, r->tos);
	assert_int_equal(p.ttl, r->ttl);
	assert_int_equal(p.ip_frag, r->ip_frag);
	assert_int_equal(p.ip_id, r->ip_id);
	assert_int_equal(p.ip_len, r->ip_len);
	assert_int_equal(p.flags & NS_PKT_BAD_CSUM, 0);
	assert_int_equal(p.flags & (NS_PKT_TRUNCATED | NS_PKT_MALFORMED), 0);
	if (!(r->ip_frag & NS_FRAG_OFFSET_MASK) &&
	    (r->proto == 6 || r->proto == 17)) {
		assert_int_equal(p.src_port, r->src_port);
		assert_int_equal(p.dst_port, r->dst_port);
	}
	if (r->proto == 6 && !(r->ip_frag & NS_FRAG_OFFSET_MASK))
		assert_int_equal(p.tcp_flags, r->tcp_flags);
}

/* The fill: byte o is o & 0xFF from start to the frame's end. */
static void
fill_from(size_t start, size_t n)
{
	for (size_t o = start; o < n; o++)
		if (buf[o] != (uint8_t)o)
			fail_msg("fill byte %zu is %u", o, buf[o]);
}

/* IPv4 TCP: every field, both checksums, the fill, parse-back. */
static void
test_v4_tcp(void **state)
{
	(void)state;
	struct ns_pkt_record r = v4rec(6, 300);
	struct ns_frame_info fi;
	size_t n = build(&r, &fi);
	assert_int_equal(n, 14 + 300);
	assert_int_equal(fi.adjust, 0);
	static const uint8_t mac[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
	assert_memory_equal(buf, mac, 12);
	assert_int_equal(rd16(buf + 12), 0x0800);
	const uint8_t *ip = buf + 14;
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(ip[1], 0xB8);
	assert_int_equal(rd16(ip + 2), 300);
	assert_int_equal(rd16(ip + 4), 0xBEEF);
	assert_int_equal(rd16(ip + 6), NS_FRAG_DF);
	assert_int_equal(ip[8], 7);
	assert_int_equal(ip[9], 6);
	assert_int_equal(ref_fold(ref_sum(ip, 20)), 0xFFFF);
	assert_memory_equal(ip + 12, r.src_addr, 4);
	assert_memory_equal(ip + 16, r.dst_addr, 4);
	const uint8_t *t = ip + 20;
	assert_int_equal(rd16(t), 40000);
	assert_int_equal(rd16(t + 2), 53);
	assert_int_equal(t[12], 0x50);
	assert_int_equal(t[13], 0x12);
	assert_int_equal(rd32(t + 8), 1); /* ACK set: ack 1 */
	assert_true(l4_verifies(t, 280, r.src_addr, r.dst_addr, 0, 6, 1));
	fill_from(54, n);
	parses_back(&r, n);
}

/* UDP over IPv4 and IPv6 at every length from the minimum to 1600: the
 * closed-form fill sum agrees with summing the bytes. */
static void
test_udp_every_length(void **state)
{
	(void)state;
	for (int v6 = 0; v6 <= 1; v6++) {
		uint32_t min = v6 ? 48 : 28;
		for (uint32_t len = min; len <= 1600; len++) {
			struct ns_pkt_record r =
			    v6 ? v6rec(17, len) : v4rec(17, len);
			struct ns_frame_info fi;
			size_t n = build(&r, &fi);
			const uint8_t *u = buf + fi.l4_off;
			size_t ul = len - (v6 ? 40 : 20);
			assert_int_equal(rd16(u + 4), ul);
			assert_int_not_equal(rd16(u + 6), 0);
			if (!l4_verifies(u, ul, r.src_addr, r.dst_addr, v6, 17,
			                 1))
				fail_msg("UDP v%d length %u", v6 ? 6 : 4, len);
			fill_from(fi.fill_off, n);
		}
	}
}

/* IPv6: no extension header, next header is the protocol, payload
 * length, traffic class, flow label 0, TCP and ICMPv6 checksums. */
static void
test_v6_no_ext(void **state)
{
	(void)state;
	struct ns_pkt_record r = v6rec(6, 1000);
	struct ns_frame_info fi;
	size_t n = build(&r, &fi);
	assert_int_equal(rd16(buf + 12), 0x86DD);
	const uint8_t *ip = buf + 14;
	assert_int_equal(ip[0] >> 4, 6);
	assert_int_equal((rd16(ip) >> 4) & 0xFF, 0xB8);
	assert_int_equal(rd32(ip) & 0xFFFFF, 0);
	assert_int_equal(rd16(ip + 4), 960);
	assert_int_equal(ip[6], 6);
	assert_int_equal(ip[7], 7);
	assert_int_equal(fi.l4_off, 54);
	assert_true(
	    l4_verifies(ip + 40, 960, r.src_addr, r.dst_addr, 1, 6, 1));
	parses_back(&r, n);

	r = v6rec(58, 100);
	r.src_port = 128; /* echo request */
	r.dst_port = 0;
	n = build(&r, &fi);
	assert_int_equal(buf[14 + 6], 58);
	assert_int_equal(buf[54], 128);
	assert_int_equal(buf[55], 0);
	assert_true(
	    l4_verifies(buf + 54, 60, r.src_addr, r.dst_addr, 1, 58, 1));
	parses_back(&r, n);
}

/* ICMP: type in the first byte, code in the second (from src_port and
 * dst_port), checksum over the message without a pseudo-header; an
 * error carries a valid inner IPv4 header addressed back. */
static void
test_icmp(void **state)
{
	(void)state;
	struct ns_pkt_record r = v4rec(1, 84);
	r.src_port = 8;
	r.dst_port = 0;
	struct ns_frame_info fi;
	size_t n = build(&r, &fi);
	const uint8_t *m = buf + 34;
	assert_int_equal(m[0], 8);
	assert_int_equal(m[1], 0);
	assert_true(l4_verifies(m, 64, NULL, NULL, 0, 1, 0));
	fill_from(42, n);
	struct ns_pkt_record p;
	assert_int_equal(ns_parse_packet(buf, n, n, NS_LINK_ETHERNET, &p),
	                 NS_PARSE_OK);
	assert_int_equal(p.src_port, 8);
	assert_int_equal(p.dst_port, 0);

	r.src_port = 3; /* destination unreachable */
	r.dst_port = 3; /* port */
	n = build(&r, &fi);
	assert_int_equal(m[0], 3);
	assert_int_equal(m[1], 3);
	const uint8_t *in = m + 8;
	assert_int_equal(in[0], 0x45);
	assert_int_equal(rd16(in + 2), 84 - 20 - 8);
	assert_int_equal(in[9], NS_FRAME_INNER_PROTO);
	assert_int_equal(ref_fold(ref_sum(in, 20)), 0xFFFF);
	assert_memory_equal(in + 12, r.dst_addr, 4);
	assert_memory_equal(in + 16, r.src_addr, 4);
	assert_true(l4_verifies(m, 64, NULL, NULL, 0, 1, 0));
	assert_int_equal(fi.fill_off, 34 + 8 + 20);
	fill_from(fi.fill_off, n);

	/* an error too short for its inner header is raised to hold it */
	r.ip_len = 30;
	n = build(&r, &fi);
	assert_int_equal(fi.ip_len, 20 + 8 + 20);
	assert_true(fi.adjust & NS_FRAME_RAISED);

	/* ICMPv6 unreachable: inner IPv6 header */
	r = v6rec(58, 200);
	r.src_port = 1;
	r.dst_port = 4;
	n = build(&r, &fi);
	m = buf + 54;
	assert_int_equal(m[0], 1);
	assert_int_equal(m[1], 4);
	assert_int_equal(m[8] >> 4, 6);
	assert_int_equal(rd16(m + 12), 200 - 40 - 8 - 40);
	assert_memory_equal(m + 16, r.dst_addr, 16);
	assert_true(l4_verifies(m, 160, r.src_addr, r.dst_addr, 1, 58, 1));
}

/* Neighbour solicitation: target address, one option to the end; MLDv2
 * report: one record whose aux data reaches the end. */
static void
test_icmp6_bodies(void **state)
{
	(void)state;
	struct ns_pkt_record r = v6rec(58, 72);
	r.src_port = 135;
	r.dst_port = 0;
	struct ns_frame_info fi;
	size_t n = build(&r, &fi);
	const uint8_t *m = buf + 54;
	assert_memory_equal(m + 8, r.dst_addr, 16);
	assert_int_equal(m[24], 14);
	assert_int_equal(m[25], 1); /* 8 bytes */
	assert_true(l4_verifies(m, 32, r.src_addr, r.dst_addr, 1, 58, 1));
	parses_back(&r, n);

	r.src_port = 135; /* too short for the target: raised */
	r.ip_len = 50;
	n = build(&r, &fi);
	assert_true(fi.adjust & NS_FRAME_RAISED);
	assert_int_equal(fi.ip_len, 40 + 24);

	r.src_port = 143;
	r.ip_len = 76;
	n = build(&r, &fi);
	assert_int_equal(rd16(m + 6), 1);
	assert_int_equal(m[8], 4);
	assert_int_equal(m[9], 2); /* 36 - 8 - 20 = 8 bytes = 2 words */
	assert_memory_equal(m + 12, r.dst_addr, 16);
	assert_true(l4_verifies(m, 36, r.src_addr, r.dst_addr, 1, 58, 1));
}

/* Fragments: a later fragment has no L4 header (fill right after IP),
 * a first fragment has one; IPv6 fragments carry a fragment header. */
static void
test_fragments(void **state)
{
	(void)state;
	struct ns_pkt_record r = v4rec(17, 500);
	r.ip_frag = 185; /* offset 1480 bytes, last fragment */
	struct ns_frame_info fi;
	size_t n = build(&r, &fi);
	assert_int_equal(fi.l4_proto, 0);
	assert_int_equal(fi.fill_off, 34);
	assert_int_equal(rd16(buf + 14 + 6), 185);
	fill_from(34, n);
	parses_back(&r, n);

	r.ip_frag = NS_FRAG_MF; /* first fragment */
	n = build(&r, &fi);
	assert_int_equal(fi.l4_proto, 17);
	assert_int_equal(rd16(buf + 34), 40000);
	assert_true(
	    l4_verifies(buf + 34, 480, r.src_addr, r.dst_addr, 0, 17, 1));
	parses_back(&r, n);

	/* later fragment below the IP header: raised to 20, not 28 */
	r.ip_frag = 100;
	r.ip_len = 4;
	n = build(&r, &fi);
	assert_int_equal(fi.ip_len, 20);
	assert_true(fi.adjust & NS_FRAME_RAISED);

	r = v6rec(6, 600);
	r.ip_frag = NS_FRAG_MF | 10;
	r.ip_id = 0xA1B2C3D4;
	r.flags = NS_PKT_FRAGMENT;
	n = build(&r, &fi);
	const uint8_t *ip = buf + 14;
	assert_int_equal(ip[6], 44);
	assert_int_equal(ip[40], 6); /* fragment header's next header */
	assert_int_equal(rd16(ip + 42), 10 << 3 | 1);
	assert_int_equal(rd32(ip + 44), 0xA1B2C3D4);
	assert_int_equal(fi.fill_off, 14 + 48);
	parses_back(&r, n);

	/* first IPv6 fragment: fragment header then TCP */
	r.ip_frag = NS_FRAG_MF;
	n = build(&r, &fi);
	assert_int_equal(rd16(ip + 42), 1);
	assert_int_equal(fi.l4_off, 62);
	assert_true(
	    l4_verifies(buf + 62, 600 - 48, r.src_addr, r.dst_addr, 1, 6, 1));
	parses_back(&r, n);
}

/* Raising to the headers' length and clamping to NS_FRAME_MAX. */
static void
test_lengths(void **state)
{
	(void)state;
	struct ns_frame_info fi;
	struct ns_pkt_record r = v4rec(6, 0);
	build(&r, &fi);
	assert_int_equal(fi.ip_len, 40);
	assert_int_equal(fi.adjust, NS_FRAME_RAISED);
	r = v6rec(17, 10);
	build(&r, &fi);
	assert_int_equal(fi.ip_len, 48);
	r = v4rec(47, 3); /* GRE: no L4 header written */
	build(&r, &fi);
	assert_int_equal(fi.ip_len, 20);
	r = v4rec(6, 40); /* exactly the minimum: untouched */
	build(&r, &fi);
	assert_int_equal(fi.adjust, 0);
	r = v4rec(6, 70000);
	size_t n = build(&r, &fi);
	assert_int_equal(n, NS_FRAME_MAX);
	assert_int_equal(fi.ip_len, NS_FRAME_MAX - 14);
	assert_int_equal(fi.adjust, NS_FRAME_CLAMPED);
	assert_true(l4_verifies(buf + 34, fi.ip_len - 20, r.src_addr,
	                        r.dst_addr, 0, 6, 1));
	r = v6rec(17, 200000);
	n = build(&r, &fi);
	assert_int_equal(n, NS_FRAME_MAX);
	assert_int_equal(rd16(buf + 18), NS_FRAME_MAX - 14 - 40);
}

/* VLAN tag from the record, or none when the options say so. */
static void
test_vlan(void **state)
{
	(void)state;
	struct ns_pkt_record r = v4rec(17, 100);
	r.flags = NS_PKT_HAS_VLAN;
	r.vlan_id = 0x123;
	struct ns_frame_info fi;
	size_t n = build(&r, &fi);
	assert_int_equal(n, 118);
	assert_int_equal(rd16(buf + 12), 0x8100);
	assert_int_equal(rd16(buf + 14), 0x123);
	assert_int_equal(rd16(buf + 16), 0x0800);
	struct ns_pkt_record p;
	assert_int_equal(ns_parse_packet(buf, n, n, NS_LINK_ETHERNET, &p),
	                 NS_PARSE_OK);
	assert_true(p.flags & NS_PKT_HAS_VLAN);
	assert_int_equal(p.vlan_id, 0x123);
	struct ns_frame_opts o;
	ns_frame_opts_default(&o);
	o.vlan = 0;
	assert_int_equal(ns_frame_build(&r, &o, buf, sizeof(buf), &fi), 114);
	assert_int_equal(rd16(buf + 12), 0x0800);
}

/* Other protocols: SCTP (CRC32c), UDP-Lite (header coverage), IGMP
 * (checksum over the message), IPv6 extension-header numbers. */
static void
test_other_protocols(void **state)
{
	(void)state;
	static const uint8_t digits[] = "123456789";
	assert_int_equal(~ns_crc32c(0xFFFFFFFFu, digits, 9), 0xE3069283u);

	struct ns_frame_info fi;
	struct ns_pkt_record r = v4rec(132, 200);
	size_t n = build(&r, &fi);
	uint8_t *s = buf + 34;
	uint32_t stored = (uint32_t)s[8] | (uint32_t)s[9] << 8 |
	                  (uint32_t)s[10] << 16 | (uint32_t)s[11] << 24;
	memset(s + 8, 0, 4);
	assert_int_equal(~ns_crc32c(0xFFFFFFFFu, s, n - 34), stored);
	parses_back(&r, n);

	r = v6rec(136, 100);
	n = build(&r, &fi);
	assert_int_equal(rd16(buf + 54 + 4), 8);
	/* coverage 8: pseudo-header (length = the whole) + 8 bytes */
	uint8_t ph[40 + 8];
	memcpy(ph, r.src_addr, 16);
	memcpy(ph + 16, r.dst_addr, 16);
	memset(ph + 32, 0, 8);
	ph[35] = 60;
	ph[39] = 136;
	memcpy(ph + 40, buf + 54, 8);
	assert_int_equal(ref_fold(ref_sum(ph, sizeof(ph))), 0xFFFF);

	r = v4rec(2, 32);
	n = build(&r, &fi);
	assert_int_equal(buf[34], 0x11);
	assert_int_equal(rd16(buf + 34 + 10), 0); /* 12 bytes: 0 sources */
	assert_true(l4_verifies(buf + 34, 12, NULL, NULL, 0, 2, 0));
	r.ip_len = 60;
	build(&r, &fi);
	assert_int_equal(rd16(buf + 34 + 10), 7);
	assert_true(l4_verifies(buf + 34, 40, NULL, NULL, 0, 2, 0));

	r = v6rec(0, 100); /* hop-by-hop as the protocol */
	n = build(&r, &fi);
	assert_true(fi.adjust & NS_FRAME_V6_EXT);
	assert_int_equal(buf[14 + 6], 0);
	assert_int_equal(buf[54], 59);
	struct ns_pkt_record p;
	assert_int_equal(ns_parse_packet(buf, n, n, NS_LINK_ETHERNET, &p),
	                 NS_PARSE_OK);
	assert_int_equal(p.proto, 59);
	assert_int_equal(p.ip_len, 100);
}

/* The fast path over a filled buffer writes the same frame as the full
 * build, and never past NS_FRAME_HDR_MAX. */
static void
test_fast_path(void **state)
{
	(void)state;
	static const uint8_t protos[] = {6, 17, 1, 58, 2, 132, 136, 47, 0};
	struct ns_frame_opts o;
	ns_frame_opts_default(&o);
	for (size_t pi = 0; pi < sizeof(protos); pi++) {
		for (int v6 = 0; v6 <= 1; v6++) {
			for (uint32_t len = 0; len < 3000; len += 37) {
				struct ns_pkt_record r =
				    v6 ? v6rec(protos[pi], len)
				       : v4rec(protos[pi], len);
				r.src_port = (uint16_t)(len % 7 ? 3 : 135);
				r.flags = len % 3 ? NS_PKT_HAS_VLAN : 0;
				r.ip_frag = len % 5 == 1 ? 77 : 0;
				struct ns_frame_info a, b;
				size_t n = ns_frame_build(&r, &o, buf,
				                          sizeof(buf), &a);
				assert_true(n > 0);
				ns_frame_fill(buf2, 0, sizeof(buf2));
				size_t m = ns_frame_build_hdr(
				    &r, &o, buf2, sizeof(buf2), &b);
				assert_int_equal(n, m);
				assert_memory_equal(&a, &b, sizeof(a));
				assert_memory_equal(buf, buf2, n);
				assert_true(a.fill_off <= NS_FRAME_HDR_MAX);
				uint8_t fill[BUF - NS_FRAME_HDR_MAX];
				ns_frame_fill(fill, NS_FRAME_HDR_MAX,
				              sizeof(fill));
				assert_memory_equal(buf2 + NS_FRAME_HDR_MAX,
				                    fill, sizeof(fill));
			}
		}
	}
}

/* Refusals: no IP version, a buffer too small (nothing written). */
static void
test_refusals(void **state)
{
	(void)state;
	struct ns_frame_opts o;
	ns_frame_opts_default(&o);
	struct ns_pkt_record r = v4rec(6, 100);
	struct ns_frame_info fi;
	r.ip_version = 5;
	assert_int_equal(ns_frame_build(&r, &o, buf, sizeof(buf), &fi), 0);
	assert_int_equal(ns_frame_layout(&r, &o, &fi), -1);
	r.ip_version = 4;
	memset(buf, 0xEE, 200);
	assert_int_equal(ns_frame_build(&r, &o, buf, 113, &fi), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(buf[i], 0xEE);
	assert_int_equal(ns_frame_build(&r, &o, buf, 114, &fi), 114);
	assert_int_equal(ns_frame_build_hdr(&r, &o, buf, 127, &fi), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v4_tcp),
	    cmocka_unit_test(test_udp_every_length),
	    cmocka_unit_test(test_v6_no_ext),
	    cmocka_unit_test(test_icmp),
	    cmocka_unit_test(test_icmp6_bodies),
	    cmocka_unit_test(test_fragments),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_vlan),
	    cmocka_unit_test(test_other_protocols),
	    cmocka_unit_test(test_fast_path),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
