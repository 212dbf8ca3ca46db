/* The NetFlow v5 / v9 / IPFIX encoders against hand-computed bytes and a
 * small decoder written here from RFC 3954 and RFC 7011 (it knows element
 * ids by number, not through the encoder's field table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netshare/export.h"

#define NS_MS 1000000ull
#define T0_MS 1700000000123ull /* 2023-11-14 22:13:20.123 UTC */

static uint64_t
be(const uint8_t *p, unsigned len)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < len; i++)
		v = v << 8 | p[i];
	return v;
}

static struct ns_flow_record
flow4(uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t proto,
      uint64_t first_ms, uint64_t dur_ms, uint64_t pkts, uint64_t bytes)
{
	struct ns_flow_record r;
	memset(&r, 0, sizeof(r));
	ns_addr_from_v4(r.src_addr, src);
	ns_addr_from_v4(r.dst_addr, dst);
	r.src_port = sp;
	r.dst_port = dp;
	r.proto = proto;
	r.first_ns = first_ms * NS_MS;
	r.last_ns = (first_ms + dur_ms) * NS_MS;
	r.packets = pkts;
	r.bytes = bytes;
	r.ip_version = 4;
	r.label = NS_LABEL_NONE;
	return r;
}

static struct ns_flow_record
flow6(unsigned host, uint16_t sp, uint16_t dp, uint64_t first_ms)
{
	struct ns_flow_record r = flow4(0, 0, sp, dp, 17, first_ms, 7, 3, 333);
	static const uint8_t prefix[4] = {0x20, 0x01, 0x0d, 0xb8};
	memcpy(r.src_addr, prefix, 4);
	memcpy(r.dst_addr, prefix, 4);
	r.src_addr[15] = (uint8_t)host;
	r.dst_addr[15] = (uint8_t)(host + 1);
	r.ip_version = 6;
	return r;
}

/* n varied flows, every sixth IPv6. */
static struct ns_flow_record *
make_flows(size_t n)
{
	struct ns_flow_record *v = calloc(n, sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		if (i % 6 == 5)
			v[i] = flow6((unsigned)i, (uint16_t)i, 53, T0_MS + i);
		else
			v[i] = flow4(0x0A000000u + (uint32_t)i, 0xC0A80001u,
			             (uint16_t)(1024 + i), 443, 6, T0_MS + i,
			             i % 5000, i + 1, 40 * (i + 1));
		v[i].tcp_flags = (uint8_t)i;
		v[i].tos = (uint8_t)(i * 4);
	}
	return v;
}

static void
init(struct ns_export *ex, int version, unsigned mtu)
{
	struct ns_export_config c;
	ns_export_config_default(&c, version);
	c.mtu = mtu;
	assert_int_equal(ns_export_init(ex, &c), 0);
}

/* Every v5 header and record byte, computed by hand. */
static void
test_v5_hand_checked(void **state)
{
	(void)state;
	struct ns_export ex;
	struct ns_export_config c;
	ns_export_config_default(&c, NS_EXPORT_V5);
	c.domain_id = 0x0102; /* engine type 1, engine id 2 */
	assert_int_equal(ns_export_init(&ex, &c), 0);
	struct ns_flow_record r =
	    flow4(0x0A000001, 0xC0A80102, 1234, 80, 6, T0_MS, 2500, 5, 420);
	r.tcp_flags = 0x1B;
	r.tos = 0x10;
	uint8_t buf[1400];
	size_t used;
	/* exported at T0 + 4.877 s */
	size_t len = ns_export_encode(&ex, buf, sizeof(buf), &r, 1, &used,
	                              T0_MS + 4877, 0);
	static const uint8_t want[72] = {
	    0x00, 0x05, 0x00, 0x01, /* version 5, count 1 */
	    0x00, 0x00, 0x13, 0x0D, /* sysUptime 4877 ms (boot = T0) */
	    0x65, 0x53, 0xF1, 0x05, /* unix_secs 1700000005 */
	    0x00, 0x00, 0x00, 0x00, /* unix_nsecs: .000 */
	    0x00, 0x00, 0x00, 0x00, /* flow_sequence 0 */
	    0x01, 0x02, 0x00, 0x00, /* engine 1/2, unsampled */
	    0x0A, 0x00, 0x00, 0x01, /* srcaddr 10.0.0.1 */
	    0xC0, 0xA8, 0x01, 0x02, /* dstaddr 192.168.1.2 */
	    0x00, 0x00, 0x00, 0x00, /* nexthop */
	    0x00, 0x00, 0x00, 0x00, /* input, output */
	    0x00, 0x00, 0x00, 0x05, /* dPkts */
	    0x00, 0x00, 0x01, 0xA4, /* dOctets 420 */
	    0x00, 0x00, 0x00, 0x00, /* First: 0 ms after boot */
	    0x00, 0x00, 0x09, 0xC4, /* Last: 2500 ms after boot */
	    0x04, 0xD2, 0x00, 0x50, /* ports 1234, 80 */
	    0x00, 0x1B, 0x06, 0x10, /* pad, flags, TCP, tos */
	    0x00, 0x00, 0x00, 0x00, /* src_as, dst_as */
	    0x00, 0x00, 0x00, 0x00, /* masks, pad */
	};
	assert_int_equal(len, sizeof(want));
	assert_int_equal(used, 1);
	assert_memory_equal(buf, want, sizeof(want));

	/* the next packet's sequence counts the flow sent */
	r.first_ns += 1000 * NS_MS;
	r.last_ns += 1000 * NS_MS;
	len = ns_export_encode(&ex, buf, sizeof(buf), &r, 1, &used,
	                       T0_MS + 5877, 0);
	assert_int_equal(len, 72);
	assert_int_equal(be(buf + 16, 4), 1);
}

/* v5: 30 records at most, IPv6 counted and skipped, 32-bit counters cut
 * and counted, the sampling interval in the header. */
static void
test_v5_limits(void **state)
{
	(void)state;
	struct ns_export ex;
	struct ns_export_config c;
	ns_export_config_default(&c, NS_EXPORT_V5);
	c.mtu = NS_EXPORT_MTU_MAX;
	c.sampling_interval = 100;
	assert_int_equal(ns_export_init(&ex, &c), 0);
	struct ns_flow_record v[40];
	for (int i = 0; i < 40; i++)
		v[i] = flow4(1, 2, 3, 4, 17, T0_MS, 1, 1, 1);
	v[3] = flow6(1, 2, 3, T0_MS);
	v[4].bytes = 1ull << 33;
	uint8_t buf[NS_EXPORT_MTU_MAX];
	size_t used;
	size_t len =
	    ns_export_encode(&ex, buf, sizeof(buf), v, 40, &used, T0_MS, 0);
	assert_int_equal(be(buf + 2, 2), 30);
	assert_int_equal(len, 24 + 30 * 48);
	assert_int_equal(used, 31); /* 30 sent, the IPv6 one skipped */
	assert_int_equal(ex.st.skipped_v6, 1);
	assert_int_equal(ex.st.saturated, 1);
	assert_int_equal(be(buf + 22, 2), 0x4000 | 100);
	/* record 4 of the input is record 3 of the packet */
	assert_int_equal(be(buf + 24 + 3 * 48 + 20, 4), UINT32_MAX);
	len = ns_export_encode(&ex, buf, sizeof(buf), v + used, 40 - used,
	                       &used, T0_MS, 0);
	assert_int_equal(be(buf + 2, 2), 9);
	assert_int_equal(be(buf + 16, 4), 30);
	assert_int_equal(len, 24 + 9 * 48);
}

/* A decoded v9/IPFIX packet: templates learned and data records read
 * back in order, by element id. */
#define MAX_TPL 4
#define MAX_REC 2048
struct tpl {
	uint16_t id, n, scope;
	uint16_t type[32], len[32];
};
struct rec {
	uint16_t tpl;
	uint64_t val[200];     /* by element id (< 200), numbers */
	uint8_t addr[200][16]; /* by element id, addresses */
};
struct decoded {
	unsigned version, count, length, templates, option_templates;
	uint32_t seq, domain, secs, uptime;
	unsigned n_rec;
	struct rec *rec;
};
static struct tpl tpls[MAX_TPL];
static unsigned n_tpls;

static const struct tpl *
find_tpl(uint16_t id)
{
	for (unsigned i = 0; i < n_tpls; i++)
		if (tpls[i].id == id)
			return &tpls[i];
	return NULL;
}

static void
learn(const struct tpl *t)
{
	for (unsigned i = 0; i < n_tpls; i++)
		if (tpls[i].id == t->id) {
			tpls[i] = *t;
			return;
		}
	assert_true(n_tpls < MAX_TPL);
	tpls[n_tpls++] = *t;
}

/* Template records of a (options) template set. */
static void
read_templates(const uint8_t *p, size_t len, unsigned version, int options,
               struct decoded *d)
{
	size_t off = 0;
	while (len - off >= 4 + (options ? 2u : 0u)) {
		struct tpl t = {0};
		t.id = (uint16_t)be(p + off, 2);
		assert_true(t.id >= 256);
		if (!options) {
			t.n = (uint16_t)be(p + off + 2, 2);
			off += 4;
		} else if (version == 10) {
			t.n = (uint16_t)be(p + off + 2, 2);
			t.scope = (uint16_t)be(p + off + 4, 2);
			off += 6;
		} else {
			t.scope = (uint16_t)(be(p + off + 2, 2) / 4);
			t.n = (uint16_t)(t.scope + be(p + off + 4, 2) / 4);
			off += 6;
		}
		assert_true(t.n <= 32 && off + 4u * t.n <= len);
		for (unsigned i = 0; i < t.n; i++, off += 4) {
			t.type[i] = (uint16_t)be(p + off, 2);
			t.len[i] = (uint16_t)be(p + off + 2, 2);
			assert_int_equal(t.type[i] & 0x8000, 0);
		}
		learn(&t);
		if (options)
			d->option_templates++;
		else
			d->templates++;
	}
	assert_true(len - off < 4); /* padding only */
}

static void
read_data(const uint8_t *p, size_t len, const struct tpl *t, struct decoded *d)
{
	unsigned rlen = 0;
	for (unsigned i = 0; i < t->n; i++)
		rlen += t->len[i];
	size_t off = 0;
	while (len - off >= rlen) {
		assert_true(d->n_rec < MAX_REC);
		struct rec *r = &d->rec[d->n_rec++];
		memset(r, 0, sizeof(*r));
		r->tpl = t->id;
		for (unsigned i = 0; i < t->n; i++) {
			unsigned ty = t->type[i] < 200 ? t->type[i] : 199;
			if (t->len[i] == 16)
				memcpy(r->addr[ty], p + off, 16);
			else
				r->val[ty] = be(p + off, t->len[i]);
			off += t->len[i];
		}
	}
	assert_true(len - off < 4);
}

static void
decode(const uint8_t *buf, size_t len, struct decoded *d)
{
	memset(d, 0, sizeof(*d) - sizeof(d->rec));
	d->version = (unsigned)be(buf, 2);
	size_t hdr = d->version == 10 ? 16 : 20;
	assert_true(len >= hdr);
	if (d->version == 10) {
		d->length = (unsigned)be(buf + 2, 2);
		assert_int_equal(d->length, len);
		d->secs = (uint32_t)be(buf + 4, 4);
		d->seq = (uint32_t)be(buf + 8, 4);
		d->domain = (uint32_t)be(buf + 12, 4);
	} else {
		assert_int_equal(d->version, 9);
		d->count = (unsigned)be(buf + 2, 2);
		d->uptime = (uint32_t)be(buf + 4, 4);
		d->secs = (uint32_t)be(buf + 8, 4);
		d->seq = (uint32_t)be(buf + 12, 4);
		d->domain = (uint32_t)be(buf + 16, 4);
	}
	unsigned tpl_set = d->version == 10 ? 2 : 0;
	unsigned opt_set = d->version == 10 ? 3 : 1;
	size_t off = hdr;
	while (off < len) {
		assert_true(len - off >= 4);
		unsigned id = (unsigned)be(buf + off, 2);
		size_t slen = (size_t)be(buf + off + 2, 2);
		assert_true(slen >= 4 && off + slen <= len);
		assert_int_equal(slen % 4, 0); /* sets padded */
		const uint8_t *body = buf + off + 4;
		if (id == tpl_set || id == opt_set) {
			read_templates(body, slen - 4, d->version,
			               id == opt_set, d);
		} else {
			const struct tpl *t = find_tpl((uint16_t)id);
			assert_non_null(t);
			read_data(body, slen - 4, t, d);
		}
		off += slen;
	}
	if (d->version == 9)
		assert_int_equal(d->count, d->templates + d->option_templates +
		                               d->n_rec);
}

static struct decoded *
new_decoded(void)
{
	struct decoded *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	d->rec = calloc(MAX_REC, sizeof(*d->rec));
	assert_non_null(d->rec);
	n_tpls = 0;
	return d;
}

static void
free_decoded(struct decoded *d)
{
	free(d->rec);
	free(d);
}

/* Element ids and lengths of each template, from the RFCs and IANA, in
 * the order the encoder promises (scope first). */
static void
test_templates_by_rfc(void **state)
{
	(void)state;
	struct ns_export_template t;
	/* IPFIX IPv4: src, dst, ports, proto, flags, tos, packetDelta,
	 * octetDelta, flowStart/EndMilliseconds, ipVersion, endReason */
	static const uint16_t ipfix4[][2] = {
	    {8, 4}, {12, 4}, {7, 2},   {11, 2},  {4, 1},  {6, 1},  {5, 1},
	    {2, 8}, {1, 8},  {152, 8}, {153, 8}, {60, 1}, {136, 1}};
	ns_export_template_build(&t, NS_EXPORT_IPFIX, NS_SET_V4);
	assert_int_equal(t.id, 256);
	assert_int_equal(t.n_fields, 13);
	unsigned sum = 0;
	for (unsigned i = 0; i < t.n_fields; i++) {
		const struct ns_export_field *f =
		    &ns_export_fields[t.field[i]];
		assert_int_equal(f->id, ipfix4[i][0]);
		assert_int_equal(f->len, ipfix4[i][1]);
		sum += f->len;
	}
	assert_int_equal(t.record_len, sum);
	assert_int_equal(sum, 49);
	/* v9 IPv6: FIRST/LAST_SWITCHED (22/21) and ICMP_TYPE (32) instead of
	 * absolute times and end reason */
	static const uint16_t v9_6[][2] = {
	    {27, 16}, {28, 16}, {7, 2},  {11, 2}, {4, 1},  {6, 1}, {5, 1},
	    {2, 8},   {1, 8},   {22, 4}, {21, 4}, {32, 2}, {60, 1}};
	ns_export_template_build(&t, NS_EXPORT_V9, NS_SET_V6);
	assert_int_equal(t.id, 257);
	assert_int_equal(t.n_fields, 13);
	for (unsigned i = 0; i < t.n_fields; i++) {
		assert_int_equal(ns_export_fields[t.field[i]].id, v9_6[i][0]);
		assert_int_equal(ns_export_fields[t.field[i]].len, v9_6[i][1]);
	}
	/* options: one scope field (v9 System 1 / IPFIX
	 * observationDomainId 149), then samplingInterval and the
	 * exported octet/message/flow totals (IPFIX: notSentFlowTotal) */
	ns_export_template_build(&t, NS_EXPORT_IPFIX, NS_SET_OPTIONS);
	assert_int_equal(t.id, 258);
	assert_int_equal(t.n_scope, 1);
	static const uint16_t opt[] = {149, 34, 40, 41, 42, 166};
	assert_int_equal(t.n_fields, 6);
	for (unsigned i = 0; i < t.n_fields; i++)
		assert_int_equal(ns_export_fields[t.field[i]].id, opt[i]);
	ns_export_template_build(&t, NS_EXPORT_V9, NS_SET_OPTIONS);
	assert_int_equal(ns_export_fields[t.field[0]].id, 1);
	assert_int_equal(t.n_fields, 5);
}

/* Every record decodes back to its input, by a decoder that knows the
 * RFC element ids; the v9 header's seconds and sysUptime give back the
 * uptime base exactly. */
static void
check_round_trip(int version)
{
	struct ns_export ex;
	init(&ex, version, NS_EXPORT_MTU_DEFAULT);
	size_t n = 500;
	struct ns_flow_record *v = make_flows(n);
	v[7].proto = 1;                  /* ICMP echo reply: type 0 code 0 */
	v[7].src_port = 3;               /* destination unreachable */
	v[7].dst_port = 1;               /* code 1 */
	v[11] = flow6(9, 128, 0, T0_MS); /* ICMPv6 echo request */
	v[11].proto = 58;
	struct decoded *d = new_decoded();
	uint8_t buf[NS_EXPORT_MTU_DEFAULT];
	size_t at = 0, got = 0;
	while (at < n) {
		size_t used;
		uint64_t now = T0_MS + 10000;
		size_t len = ns_export_encode(&ex, buf, sizeof(buf), v + at,
		                              n - at, &used, now, 0);
		assert_true(len > 0 && len <= NS_EXPORT_MTU_DEFAULT);
		decode(buf, len, d);
		assert_int_equal(d->domain, 1);
		uint64_t boot = (uint64_t)d->secs * 1000 - d->uptime;
		if (version == 9)
			assert_int_equal(d->secs, now / 1000);
		for (unsigned k = 0; k < d->n_rec; k++) {
			const struct rec *r = &d->rec[k];
			if (r->tpl == 258) {
				assert_int_equal(r->val[34], 1);
				continue;
			}
			const struct ns_flow_record *f = &v[at + got];
			got++;
			int v4 = f->ip_version == 4;
			assert_int_equal(r->tpl, v4 ? 256 : 257);
			if (v4) {
				assert_int_equal(r->val[8],
				                 ns_addr_to_v4(f->src_addr));
				assert_int_equal(r->val[12],
				                 ns_addr_to_v4(f->dst_addr));
			} else {
				assert_memory_equal(r->addr[27], f->src_addr,
				                    16);
				assert_memory_equal(r->addr[28], f->dst_addr,
				                    16);
			}
			int icmp = f->proto == 1 || f->proto == 58;
			uint16_t dport =
			    icmp ? (uint16_t)(f->src_port << 8 | f->dst_port)
			         : f->dst_port;
			assert_int_equal(r->val[7], icmp ? 0 : f->src_port);
			assert_int_equal(r->val[11], dport);
			assert_int_equal(r->val[4], f->proto);
			assert_int_equal(r->val[6], f->tcp_flags);
			assert_int_equal(r->val[5], f->tos);
			assert_int_equal(r->val[2], f->packets);
			assert_int_equal(r->val[1], f->bytes);
			assert_int_equal(r->val[60], f->ip_version);
			uint64_t first = f->first_ns / NS_MS;
			uint64_t last = f->last_ns / NS_MS;
			if (version == 10) {
				assert_int_equal(r->val[152], first);
				assert_int_equal(r->val[153], last);
			} else {
				assert_int_equal(boot + r->val[22], first);
				assert_int_equal(boot + r->val[21], last);
				assert_int_equal(r->val[32], icmp ? dport : 0);
			}
		}
		at += used;
		got = 0;
		d->n_rec = 0;
	}
	assert_int_equal(ex.st.records, n);
	free_decoded(d);
	free(v);
}

static void
test_v9_round_trip(void **state)
{
	(void)state;
	check_round_trip(NS_EXPORT_V9);
}

static void
test_ipfix_round_trip(void **state)
{
	(void)state;
	check_round_trip(NS_EXPORT_IPFIX);
}

/* No packet exceeds the MTU, whatever it is, and every record goes out
 * exactly once. */
static void
test_mtu_respected(void **state)
{
	(void)state;
	static const unsigned mtus[] = {512, 513, 515, 1400, 1500, 9000};
	static const int versions[] = {5, 9, 10};
	size_t n = 3000;
	struct ns_flow_record *v = make_flows(n);
	size_t v6 = 0;
	for (size_t i = 0; i < n; i++)
		v6 += v[i].ip_version == 6;
	for (unsigned m = 0; m < sizeof(mtus) / sizeof(*mtus); m++) {
		for (unsigned k = 0; k < 3; k++) {
			struct ns_export ex;
			init(&ex, versions[k], mtus[m]);
			uint8_t *buf = malloc(mtus[m]);
			assert_non_null(buf);
			size_t at = 0, packets = 0;
			while (at < n) {
				size_t used;
				size_t len = ns_export_encode(
				    &ex, buf, mtus[m], v + at, n - at, &used,
				    T0_MS + 9000, packets * 10);
				assert_true(len <= mtus[m]);
				assert_true(used > 0);
				at += used;
				packets += len > 0;
			}
			size_t sent = versions[k] == 5 ? n - v6 : n;
			assert_int_equal(ex.st.records, sent);
			assert_int_equal(ex.st.packets, packets);
			free(buf);
		}
	}
	free(v);
}

/* A buffer smaller than the MTU bounds the packet; one that cannot hold
 * a header and a record gets nothing written and no state change. */
static void
test_small_buffer(void **state)
{
	(void)state;
	struct ns_flow_record r = flow6(1, 2, 3, T0_MS);
	for (int version = 9; version <= 10; version++) {
		struct ns_export ex;
		init(&ex, version, NS_EXPORT_MTU_DEFAULT);
		for (size_t cap = 0; cap < 300; cap++) {
			uint8_t *buf = malloc(cap ? cap : 1);
			size_t used = 99;
			size_t len = ns_export_encode(&ex, buf, cap, &r, 1,
			                              &used, T0_MS, 0);
			assert_true(len <= cap);
			if (len == 0) {
				assert_int_equal(used, 0);
				assert_int_equal(ex.seq, 0);
			}
			free(buf);
			if (len)
				break; /* templates fit from here on */
		}
	}
}

/* v9 sequence: one per export packet; IPFIX: data records before the
 * message, options records included (RFC 7011 §3.1), or flow records
 * only (nfdump's reading); never template records. */
static void
test_sequence_numbers(void **state)
{
	(void)state;
	size_t n = 400;
	struct ns_flow_record *v = make_flows(n);
	uint8_t buf[NS_EXPORT_MTU_DEFAULT];
	struct decoded *d = new_decoded();
	for (int mode = 0; mode < 3; mode++) {
		struct ns_export ex;
		struct ns_export_config c;
		ns_export_config_default(&c, mode ? NS_EXPORT_IPFIX
		                                  : NS_EXPORT_V9);
		c.template_packets = 3;
		c.ipfix_seq_flows_only = mode == 2;
		assert_int_equal(ns_export_init(&ex, &c), 0);
		uint32_t expect = 0;
		size_t at = 0, packets = 0;
		while (at < n) {
			size_t used;
			size_t len =
			    ns_export_encode(&ex, buf, sizeof(buf), v + at,
			                     n - at, &used, T0_MS + 5000, 0);
			at += used;
			decode(buf, len, d);
			assert_int_equal(d->seq, expect);
			unsigned opts = 0;
			for (unsigned k = 0; k < d->n_rec; k++)
				opts += d->rec[k].tpl == 258;
			/* templates every third packet, with the options */
			assert_int_equal(d->templates, packets % 3 ? 0 : 2);
			assert_int_equal(opts, packets % 3 ? 0 : 1);
			if (mode == 0)
				expect++;
			else if (mode == 1)
				expect += d->n_rec;
			else
				expect += d->n_rec - opts;
			d->n_rec = 0;
			packets++;
		}
	}
	free_decoded(d);
	free(v);
}

/* Templates go out on the first packet, then after template_packets
 * packets or template_ms of the monotonic clock, whichever comes first;
 * the options record carries what was sent before it. */
static void
test_template_refresh(void **state)
{
	(void)state;
	struct ns_export ex;
	struct ns_export_config c;
	ns_export_config_default(&c, NS_EXPORT_IPFIX);
	c.template_packets = 0;
	c.template_ms = 1000;
	assert_int_equal(ns_export_init(&ex, &c), 0);
	struct ns_flow_record r = flow4(1, 2, 3, 4, 17, T0_MS, 0, 1, 100);
	uint8_t buf[NS_EXPORT_MTU_DEFAULT];
	struct decoded *d = new_decoded();
	static const uint64_t at_ms[] = {0, 10, 999, 1000, 1500, 1999, 2001};
	static const int want[] = {1, 0, 0, 1, 0, 0, 1};
	uint64_t octets = 0;
	for (unsigned i = 0; i < 7; i++) {
		size_t used;
		size_t len = ns_export_encode(&ex, buf, sizeof(buf), &r, 1,
		                              &used, T0_MS, 5000 + at_ms[i]);
		decode(buf, len, d);
		assert_int_equal(d->templates, want[i] ? 2 : 0);
		assert_int_equal(d->option_templates, want[i]);
		if (want[i]) {
			const struct rec *o = &d->rec[0];
			assert_int_equal(o->tpl, 258);
			assert_int_equal(o->val[149], 1); /* domain */
			assert_int_equal(o->val[41], i);  /* messages */
			assert_int_equal(o->val[42], i);  /* flows */
			assert_int_equal(o->val[40], octets);
		}
		octets += len;
		d->n_rec = 0;
	}
	assert_int_equal(ex.st.template_sends, 3);
	free_decoded(d);
}

/* Bad records are counted, never sent and never fatal; times beyond the
 * v9 32-bit uptime move its base, or are counted when nothing can. */
static void
test_bad_records(void **state)
{
	(void)state;
	struct ns_export ex;
	init(&ex, NS_EXPORT_V9, NS_EXPORT_MTU_DEFAULT);
	struct ns_flow_record v[4];
	v[0] = flow4(1, 2, 3, 4, 6, T0_MS, 10, 1, 1);
	v[0].ip_version = 0;
	v[1] = flow4(1, 2, 3, 4, 6, T0_MS, 10, 1, 1);
	/* 60 days later: beyond 2^32 ms of uptime */
	v[2] = flow4(1, 2, 3, 4, 6, T0_MS + 60ull * 86400000, 10, 1, 1);
	/* lasting 60 days: no base fits */
	v[3] = flow4(1, 2, 3, 4, 6, T0_MS, 60ull * 86400000, 1, 1);
	uint8_t buf[NS_EXPORT_MTU_DEFAULT];
	size_t used;
	struct decoded *d = new_decoded();
	size_t len = ns_export_encode(&ex, buf, sizeof(buf), v, 2, &used,
	                              T0_MS + 20, 0);
	assert_int_equal(used, 2);
	decode(buf, len, d);
	assert_int_equal(d->n_rec, 2); /* the options record and v[1] */
	assert_int_equal(ex.st.skipped_bad, 1);
	assert_int_equal(ex.st.records, 1);
	d->n_rec = 0;
	/* exported 60 days on: the uptime base moves */
	uint64_t later = T0_MS + 60ull * 86400000;
	len = ns_export_encode(&ex, buf, sizeof(buf), v + 2, 1, &used,
	                       later + 20, 0);
	assert_int_equal(used, 1);
	decode(buf, len, d);
	assert_int_equal(ex.st.uptime_rebases, 1);
	uint64_t boot = (uint64_t)d->secs * 1000 - d->uptime;
	assert_int_equal(boot + d->rec[0].val[22], later);
	assert_int_equal(boot + d->rec[0].val[21], later + 10);
	/* a 60-day flow fits no base: counted, nothing sent */
	len = ns_export_encode(&ex, buf, sizeof(buf), v + 3, 1, &used,
	                       later + 40, 0);
	assert_int_equal(len, 0);
	assert_int_equal(used, 1);
	assert_int_equal(ex.st.skipped_time, 1);
	assert_int_equal(ex.st.uptime_rebases, 1);
	assert_int_equal(ex.st.records, 2);
	free_decoded(d);
}

static void
test_config_errors(void **state)
{
	(void)state;
	struct ns_export_config c;
	char err[200];
	ns_export_config_default(&c, 7);
	assert_int_equal(ns_export_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version 7"));
	ns_export_config_default(&c, NS_EXPORT_IPFIX);
	c.mtu = 100;
	assert_int_equal(ns_export_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "MTU 100"));
	ns_export_config_default(&c, NS_EXPORT_IPFIX);
	c.template_ms = 0;
	c.template_packets = 0;
	assert_int_equal(ns_export_config_check(&c, err, sizeof(err)), -1);
	ns_export_config_default(&c, NS_EXPORT_V5);
	c.sampling_interval = 20000;
	assert_int_equal(ns_export_config_check(&c, err, sizeof(err)), -1);
	struct ns_export ex;
	assert_int_equal(ns_export_init(&ex, &c), -1);
}

/* Collector addresses: IPv4, bracketed IPv6, and clear refusals. */
static void
test_collector_parsing(void **state)
{
	(void)state;
	struct ns_sender s;
	ns_sender_init(&s);
	char err[200];
	assert_int_equal(ns_sender_add(&s, "127.0.0.1:2055", err, sizeof(err)),
	                 0);
	assert_int_equal(ns_sender_add(&s, "[::1]:4739", err, sizeof(err)), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.c[1].addr.ss_family, AF_INET6);
	static const char *bad[] = {
	    "::1:2055",  "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000",
	    "[::1]2055", ":2055",     "127.0.0.1:x"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = 0;
		assert_int_equal(ns_sender_add(&s, bad[i], err, sizeof(err)),
		                 -1);
		assert_true(strlen(err) > 0);
	}
	assert_non_null(strstr(err, "'x'"));
	assert_int_equal(s.n, 2);
	ns_sender_close(&s);
}

/* 400 records at 2000/s take at least 0.2 s after the first packet. */
static void
test_pacer(void **state)
{
	(void)state;
	struct ns_pacer p;
	ns_pacer_start(&p, 2000);
	uint64_t t0 = ns_mono_ns();
	for (int i = 0; i < 5; i++)
		ns_pacer_wait(&p, 100);
	uint64_t dt = ns_mono_ns() - t0;
	assert_true(dt >= 195000000ull);
	ns_pacer_start(&p, 0);
	t0 = ns_mono_ns();
	ns_pacer_wait(&p, 1000000);
	ns_pacer_wait(&p, 1000000);
	assert_true(ns_mono_ns() - t0 < 50000000ull);
}

/* The poll-loop pacer: records due by elapsed time, none twice, and at
 * most 50 ms worth after a stall. */
static void
test_pacer_due(void **state)
{
	(void)state;
	struct ns_pacer p;
	ns_pacer_start(&p, 1000);
	uint64_t t0 = p.t0_ns;
	assert_int_equal(ns_pacer_due(&p, t0 + 30000000ull), 30);
	assert_int_equal(ns_pacer_due(&p, t0 + 30000000ull), 0);
	assert_int_equal(ns_pacer_due(&p, t0 + 40000000ull), 10);
	/* a 10 s stall: 51 records (50 ms at 1000/s), schedule restarted */
	uint64_t late = t0 + 10000000000ull;
	assert_int_equal(ns_pacer_due(&p, late), 51);
	assert_int_equal(ns_pacer_due(&p, late + 10000000ull), 0);
	assert_int_equal(ns_pacer_due(&p, late + 100000000ull), 49);
	ns_pacer_start(&p, 0);
	assert_true(ns_pacer_due(&p, t0) == UINT64_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v5_hand_checked),
	    cmocka_unit_test(test_v5_limits),
	    cmocka_unit_test(test_templates_by_rfc),
	    cmocka_unit_test(test_v9_round_trip),
	    cmocka_unit_test(test_ipfix_round_trip),
	    cmocka_unit_test(test_mtu_respected),
	    cmocka_unit_test(test_small_buffer),
	    cmocka_unit_test(test_sequence_numbers),
	    cmocka_unit_test(test_template_refresh),
	    cmocka_unit_test(test_bad_records),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_collector_parsing),
	    cmocka_unit_test(test_pacer),
	    cmocka_unit_test(test_pacer_due),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
