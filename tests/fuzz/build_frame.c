/* Fuzz target: the frame builder. The first 64 bytes are a packet
 * record (zero-padded when shorter), the next byte picks the options
 * (bit 0: no VLAN tag, bit 1: the fast path over a filled buffer, bit 2:
 * a buffer one byte short), the next two a shortfall for bit 2. The
 * buffer is exactly as long as the builder may write, so ASan catches
 * any overrun; a frame that was built must parse back with the
 * project's parser into the record's fields. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "netshare/frame.h"
#include "netshare/parse.h"

#define CHECK(c)                                                              \
	do {                                                                  \
		if (!(c))                                                     \
			__builtin_trap();                                     \
	} while (0)

static int
has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

static void
check(const struct ns_pkt_record *r, const struct ns_frame_opts *o,
      const struct ns_frame_info *fi, const uint8_t *f, size_t n)
{
	struct ns_pkt_record p;
	CHECK(ns_parse_packet(f, n, n, NS_LINK_ETHERNET, &p) == NS_PARSE_OK);
	CHECK(p.ip_version == r->ip_version);
	CHECK(!(p.flags &
	        (NS_PKT_TRUNCATED | NS_PKT_MALFORMED | NS_PKT_BAD_CSUM)));
	size_t alen = r->ip_version == 4 ? 4 : 16;
	CHECK(!memcmp(p.src_addr, r->src_addr, alen));
	CHECK(!memcmp(p.dst_addr, r->dst_addr, alen));
	CHECK(p.ip_len == fi->ip_len);
	CHECK(p.tos == r->tos && p.ttl == r->ttl);
	int tagged = o->vlan && (r->flags & NS_PKT_HAS_VLAN);
	CHECK(!!(p.flags & NS_PKT_HAS_VLAN) == tagged);
	if (tagged)
		CHECK(p.vlan_id == (r->vlan_id & 0x0FFF));
	uint16_t off = r->ip_frag & NS_FRAG_OFFSET_MASK;
	if (r->ip_version == 4) {
		CHECK(p.ip_frag == r->ip_frag);
		CHECK(p.ip_id == (r->ip_id & 0xFFFF));
	} else if ((p.flags & NS_PKT_FRAGMENT) &&
	           !((fi->adjust & NS_FRAME_V6_EXT) && r->proto == 44)) {
		/* (a record whose protocol is "fragment" gets a second,
		 * empty fragment header, which the parser reads last) */
		CHECK(p.ip_frag ==
		      (r->ip_frag & (NS_FRAG_MF | NS_FRAG_OFFSET_MASK)));
		CHECK(p.ip_id == r->ip_id);
	}
	if (fi->adjust & NS_FRAME_V6_EXT) {
		CHECK(p.proto == 59);
		return;
	}
	CHECK(p.proto == r->proto);
	if (off)
		return; /* later fragment: no L4 header */
	if (has_ports(r->proto)) {
		CHECK(p.src_port == r->src_port && p.dst_port == r->dst_port);
	} else if (r->proto == 1 || r->proto == 58) {
		CHECK(p.src_port == (r->src_port & 0xFF));
		CHECK(p.dst_port == (r->dst_port & 0xFF));
	}
	if (r->proto == 6)
		CHECK(p.tcp_flags == r->tcp_flags);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_pkt_record r;
	memset(&r, 0, sizeof(r));
	memcpy(&r, data, size < sizeof(r) ? size : sizeof(r));
	uint8_t mode = size > 64 ? data[64] : 0;
	size_t short_by = size > 66 ? (size_t)(data[65] << 8 | data[66]) : 0;
	struct ns_frame_opts o;
	ns_frame_opts_default(&o);
	if (mode & 1)
		o.vlan = 0;
	struct ns_frame_info fi;
	if (ns_frame_layout(&r, &o, &fi)) {
		CHECK(r.ip_version != 4 && r.ip_version != 6);
		uint8_t one;
		CHECK(ns_frame_build(&r, &o, &one, 1, NULL) == 0);
		return 0;
	}
	CHECK(fi.len <= NS_FRAME_MAX && fi.fill_off <= NS_FRAME_HDR_MAX);
	CHECK(fi.len == fi.l3_off + fi.ip_len && fi.fill_off <= fi.len);
	size_t cap = fi.len;
	if (mode & 4)
		cap = fi.len - 1 - short_by % fi.len;
	int fast = (mode & 2) != 0;
	if (fast && cap < NS_FRAME_HDR_MAX)
		cap = NS_FRAME_HDR_MAX > fi.len ? NS_FRAME_HDR_MAX : fi.len;
	uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf)
		return 0;
	size_t n;
	if (fast) {
		ns_frame_fill(buf, 0, cap);
		n = ns_frame_build_hdr(&r, &o, buf, cap, NULL);
	} else {
		n = ns_frame_build(&r, &o, buf, cap, NULL);
	}
	if (cap < fi.len) {
		CHECK(n == 0);
	} else {
		CHECK(n == fi.len);
		check(&r, &o, &fi, buf, n);
		for (size_t i = fi.fill_off; i < n; i++)
			CHECK(buf[i] == ns_frame_fill_byte(i));
	}
	free(buf);
	return 0;
}
