/* Flow meter: aggregation, direction, timeouts, TCP end, sweeps, table
 * full, and agreement with a naive reference meter on random streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netshare/meter.h"

#define SEC 1000000000ull
#define MAX_OUT 200000

struct sink {
	struct ns_flow_record v[MAX_OUT];
	size_t n;
};

static struct sink out;

static void
collect(void *ctx, const struct ns_flow_record *f)
{
	struct sink *s = ctx;
	assert_true(s->n < MAX_OUT);
	s->v[s->n++] = *f;
}

static struct ns_pkt_record
pkt(uint64_t ts, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp,
    uint8_t proto, uint32_t len, uint8_t tcp_flags)
{
	struct ns_pkt_record r;
	memset(&r, 0, sizeof(r));
	r.ts_ns = ts;
	ns_addr_from_v4(r.src_addr, src);
	ns_addr_from_v4(r.dst_addr, dst);
	r.src_port = sp;
	r.dst_port = dp;
	r.proto = proto;
	r.ip_len = len;
	r.tcp_flags = tcp_flags;
	r.ip_version = 4;
	r.tos = (uint8_t)(len & 0xFF);
	return r;
}

static struct ns_meter *
meter(uint32_t max_flows, uint64_t active, uint64_t idle, int tcp_end)
{
	struct ns_meter_config c = {max_flows, active, idle, tcp_end};
	out.n = 0;
	struct ns_meter *m = ns_meter_create(&c, collect, &out);
	assert_non_null(m);
	return m;
}

/* Packets of one 5-tuple add up; the other direction is its own flow. */
static void
test_aggregate_and_direction(void **state)
{
	(void)state;
	struct ns_meter *m = meter(1024, 0, 0, 0);
	struct ns_pkt_record a = pkt(1 * SEC, 1, 2, 1000, 80, 6, 60, 0x02);
	struct ns_pkt_record b = pkt(2 * SEC, 1, 2, 1000, 80, 6, 1500, 0x10);
	struct ns_pkt_record c = pkt(3 * SEC, 2, 1, 80, 1000, 6, 40, 0x12);
	ns_meter_update(m, &a);
	ns_meter_update(m, &b);
	ns_meter_update(m, &c);
	assert_int_equal(ns_meter_stats(m)->active, 2);
	assert_int_equal(ns_meter_flush(m), 2);
	assert_int_equal(out.n, 2);
	struct ns_flow_record *f = out.v[0].src_port == 1000 ? &out.v[0]
							    : &out.v[1];
	assert_int_equal(f->packets, 2);
	assert_int_equal(f->bytes, 1560);
	assert_int_equal(f->first_ns, 1 * SEC);
	assert_int_equal(f->last_ns, 2 * SEC);
	assert_int_equal(f->tcp_flags, 0x12);
	assert_int_equal(f->tos, 60);
	assert_int_equal(f->end_reason, NS_FLOW_END_FORCED);
	assert_int_equal(ns_meter_stats(m)->active, 0);
	ns_meter_destroy(m);
}

/* A gap of the inactive timeout starts a new flow; shorter gaps don't. */
static void
test_inactive_timeout(void **state)
{
	(void)state;
	struct ns_meter *m = meter(1024, 0, 10 * SEC, 0);
	uint64_t ts[] = {0, 9 * SEC, 18 * SEC, 28 * SEC, 29 * SEC};
	for (int i = 0; i < 5; i++) {
		struct ns_pkt_record p = pkt(ts[i], 1, 2, 5, 6, 17, 100, 0);
		ns_meter_update(m, &p);
	}
	ns_meter_flush(m);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.v[0].packets, 3);
	assert_int_equal(out.v[0].end_reason, NS_FLOW_END_IDLE);
	assert_int_equal(out.v[1].packets, 2);
	assert_int_equal(out.v[1].first_ns, 28 * SEC);
	assert_int_equal(ns_meter_stats(m)->expired_idle, 1);
	ns_meter_destroy(m);
}

/* The active timeout splits a long flow at the first packet past it. */
static void
test_active_timeout(void **state)
{
	(void)state;
	struct ns_meter *m = meter(1024, 60 * SEC, 0, 0);
	for (int i = 0; i <= 150; i++) {
		struct ns_pkt_record p =
			pkt((uint64_t)i * SEC, 1, 2, 5, 6, 17, 100, 0);
		ns_meter_update(m, &p);
	}
	ns_meter_flush(m);
	assert_int_equal(out.n, 3);
	assert_int_equal(out.v[0].packets, 60);
	assert_int_equal(out.v[0].end_reason, NS_FLOW_END_ACTIVE);
	assert_int_equal(out.v[1].first_ns, 60 * SEC);
	assert_int_equal(out.v[2].packets, 31);
	ns_meter_destroy(m);
}

/* FIN or RST closes the flow with that packet; with tcp_end off the
 * flow stays open. */
static void
test_tcp_end(void **state)
{
	(void)state;
	struct ns_meter *m = meter(1024, 0, 0, 1);
	struct ns_pkt_record p1 = pkt(1, 1, 2, 3, 4, 6, 40, 0x02);
	struct ns_pkt_record p2 = pkt(2, 1, 2, 3, 4, 6, 40, 0x11); /* FIN */
	struct ns_pkt_record p3 = pkt(3, 1, 2, 3, 4, 6, 40, 0x04); /* RST */
	struct ns_pkt_record u = pkt(4, 1, 2, 3, 4, 17, 40, 0x01);
	ns_meter_update(m, &p1);
	ns_meter_update(m, &p2);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].packets, 2);
	assert_int_equal(out.v[0].end_reason, NS_FLOW_END_TCP);
	ns_meter_update(m, &p3);
	assert_int_equal(out.n, 2);
	ns_meter_update(m, &u); /* UDP: flag bits mean nothing */
	assert_int_equal(out.n, 2);
	assert_int_equal(ns_meter_stats(m)->active, 1);
	ns_meter_destroy(m);

	m = meter(1024, 0, 0, 0);
	ns_meter_update(m, &p1);
	ns_meter_update(m, &p2);
	ns_meter_update(m, &p3);
	assert_int_equal(out.n, 0);
	ns_meter_flush(m);
	assert_int_equal(out.v[0].packets, 3);
	ns_meter_destroy(m);
}

/* Sweeps close idle flows; a budgeted sweep gets through the whole
 * table over several calls. */
static void
test_sweep(void **state)
{
	(void)state;
	struct ns_meter *m = meter(64, 0, 5 * SEC, 0);
	for (uint16_t i = 0; i < 40; i++) {
		struct ns_pkt_record p = pkt(i < 20 ? 0 : 4 * SEC, 1, 2, i, 9,
					     17, 10, 0);
		ns_meter_update(m, &p);
	}
	assert_int_equal(ns_meter_expire(m, 6 * SEC, 0), 20);
	assert_int_equal(ns_meter_stats(m)->active, 20);
	size_t closed = 0;
	for (int k = 0; k < 8; k++)
		closed += ns_meter_expire(m, 10 * SEC, 8);
	assert_int_equal(closed, 20);
	assert_int_equal(ns_meter_stats(m)->active, 0);
	ns_meter_destroy(m);
}

/* A full table evicts and counts; no packet is lost from the totals. */
static void
test_table_full(void **state)
{
	(void)state;
	struct ns_meter *m = meter(16, 0, 0, 0);
	for (uint16_t i = 0; i < 100; i++) {
		struct ns_pkt_record p = pkt(i, 1, 2, i % 25, 9, 17, 10, 0);
		ns_meter_update(m, &p);
	}
	ns_meter_flush(m);
	uint64_t packets = 0;
	for (size_t i = 0; i < out.n; i++)
		packets += out.v[i].packets;
	assert_int_equal(packets, 100);
	assert_true(ns_meter_stats(m)->evicted > 0);
	assert_int_equal(out.n, ns_meter_stats(m)->created);
	ns_meter_destroy(m);
}

/* Records without an IP version are counted as skipped. */
static void
test_skips_non_ip(void **state)
{
	(void)state;
	struct ns_meter *m = meter(16, 0, 0, 0);
	struct ns_pkt_record p;
	memset(&p, 0, sizeof(p));
	ns_meter_update(m, &p);
	assert_int_equal(ns_meter_stats(m)->skipped, 1);
	assert_int_equal(ns_meter_stats(m)->active, 0);
	ns_meter_destroy(m);
}

/* Invalid sizes are refused. */
static void
test_bad_config(void **state)
{
	(void)state;
	struct ns_meter_config c;
	ns_meter_config_default(&c);
	assert_true(ns_meter_mem_size(&c) > 0);
	c.max_flows = 3;
	assert_int_equal(ns_meter_mem_size(&c), 0);
	assert_null(ns_meter_create(&c, collect, &out));
}

/* The naive reference: a list of open flows searched linearly. */
struct ref_flow {
	struct ns_flow_record f;
	int open;
};

static int
same_key(const struct ns_flow_record *f, const struct ns_pkt_record *r)
{
	return f->src_port == r->src_port && f->dst_port == r->dst_port &&
	       f->proto == r->proto && !memcmp(f->src_addr, r->src_addr, 16) &&
	       !memcmp(f->dst_addr, r->dst_addr, 16);
}

static size_t
reference_meter(const struct ns_pkt_record *p, size_t n, uint64_t active,
		uint64_t idle, struct ns_flow_record *res)
{
	struct ref_flow *open = calloc(n, sizeof(*open));
	size_t nopen = 0, nres = 0;
	for (size_t i = 0; i < n; i++) {
		struct ref_flow *f = NULL;
		for (size_t k = 0; k < nopen; k++)
			if (open[k].open && same_key(&open[k].f, &p[i]))
				f = &open[k];
		if (f && ((idle && p[i].ts_ns - f->f.last_ns >= idle) ||
			  (active && p[i].ts_ns - f->f.first_ns >= active))) {
			res[nres++] = f->f;
			f->open = 0;
			f = NULL;
		}
		if (!f) {
			f = &open[nopen++];
			f->open = 1;
			memset(&f->f, 0, sizeof(f->f));
			memcpy(f->f.src_addr, p[i].src_addr, 16);
			memcpy(f->f.dst_addr, p[i].dst_addr, 16);
			f->f.src_port = p[i].src_port;
			f->f.dst_port = p[i].dst_port;
			f->f.proto = p[i].proto;
			f->f.first_ns = p[i].ts_ns;
			f->f.tos = p[i].tos;
		}
		f->f.packets++;
		f->f.bytes += p[i].ip_len;
		f->f.last_ns = p[i].ts_ns;
		f->f.tcp_flags |= p[i].tcp_flags;
		if (p[i].proto == 6 && (p[i].tcp_flags & 0x05)) {
			res[nres++] = f->f;
			f->open = 0;
		}
	}
	for (size_t k = 0; k < nopen; k++)
		if (open[k].open)
			res[nres++] = open[k].f;
	free(open);
	return nres;
}

static int
cmp_flow(const void *a, const void *b)
{
	const struct ns_flow_record *x = a, *y = b;
	if (x->first_ns != y->first_ns)
		return x->first_ns < y->first_ns ? -1 : 1;
	if (x->src_port != y->src_port)
		return x->src_port - y->src_port;
	if (x->dst_port != y->dst_port)
		return x->dst_port - y->dst_port;
	if (x->proto != y->proto)
		return x->proto - y->proto;
	return memcmp(x->src_addr, y->src_addr, 32);
}

/* On random streams (sweeps interleaved) the meter emits exactly the
 * reference's flow records: few flows in a small table, and (wide)
 * some 17 000 open at once, so a fresh meter's index (16 K slots) doubles
 * twice while flows come, expire and end. */
static void
check_reference(size_t N, uint32_t hosts, uint64_t max_gap_ns,
		uint32_t max_flows)
{
	struct ns_pkt_record *p = malloc(N * sizeof(*p));
	struct ns_flow_record *ref = malloc(N * sizeof(*ref));
	uint64_t t = 0;
	for (size_t i = 0; i < N; i++) {
		t += (uint64_t)rand() % max_gap_ns;
		uint8_t proto = rand() % 3 ? 6 : 17;
		uint8_t fl = (uint8_t)(rand() % 50 == 0 ? 0x01 : 0x10);
		p[i] = pkt(t, 10 + (uint32_t)rand() % hosts, 20 + rand() % 3,
			   (uint16_t)(rand() % 30), 80, proto,
			   40 + (uint32_t)(rand() % 1400), fl);
	}
	size_t nref = reference_meter(p, N, 30 * SEC, 2 * SEC, ref);
	struct ns_meter *m = meter(max_flows, 30 * SEC, 2 * SEC, 1);
	for (size_t i = 0; i < N; i++) {
		ns_meter_update(m, &p[i]);
		if (i % 97 == 0)
			ns_meter_expire(m, p[i].ts_ns, 64);
	}
	ns_meter_flush(m);
	assert_int_equal(out.n, nref);
	qsort(ref, nref, sizeof(*ref), cmp_flow);
	qsort(out.v, out.n, sizeof(*out.v), cmp_flow);
	for (size_t i = 0; i < nref; i++) {
		assert_int_equal(out.v[i].first_ns, ref[i].first_ns);
		assert_int_equal(out.v[i].last_ns, ref[i].last_ns);
		assert_int_equal(out.v[i].packets, ref[i].packets);
		assert_int_equal(out.v[i].bytes, ref[i].bytes);
		assert_int_equal(out.v[i].tcp_flags, ref[i].tcp_flags);
		assert_int_equal(out.v[i].src_port, ref[i].src_port);
	}
	ns_meter_destroy(m);
	free(p);
	free(ref);
}

static void
test_matches_reference(void **state)
{
	(void)state;
	srand(7);
	check_reference(20000, 20, 400000000ull, 4096); /* gaps to 0.4 s */
	srand(8);
	check_reference(36000, 120, 10000ull, 1u << 17); /* to 10 us */
}

/* Caller-provided memory works the same as malloc'd memory. */
static void
test_init_in_caller_memory(void **state)
{
	(void)state;
	struct ns_meter_config c = {64, 0, 0, 0};
	size_t size = ns_meter_mem_size(&c);
	void *mem = aligned_alloc(64, (size + 63) & ~(size_t)63);
	assert_non_null(mem);
	out.n = 0;
	struct ns_meter *m = ns_meter_init(mem, &c, collect, &out);
	assert_non_null(m);
	struct ns_pkt_record p = pkt(1, 1, 2, 3, 4, 17, 99, 0);
	ns_meter_update(m, &p);
	ns_meter_update(m, &p);
	assert_int_equal(ns_meter_flush(m), 1);
	assert_int_equal(out.v[0].bytes, 198);
	ns_meter_destroy(m); /* does not free caller memory */
	free(mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aggregate_and_direction),
		cmocka_unit_test(test_inactive_timeout),
		cmocka_unit_test(test_active_timeout),
		cmocka_unit_test(test_tcp_end),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_skips_non_ip),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_matches_reference),
		cmocka_unit_test(test_init_in_caller_memory),
	};
	return cmocka_run_group_tests_name("meter", tests, NULL, NULL);
}
