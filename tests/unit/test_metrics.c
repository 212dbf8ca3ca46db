/* Fidelity metrics: JSD and EMD by hand, NetShare's fields for flows and
 * packets, the extended metrics, privacy shares and normalisation. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/metrics/hmap.h"
#include "netshare/metrics.h"

#define LN2 0.69314718055994530942
#define EPS 1e-12

static void
assert_near(double got, double want)
{
	if (!(fabs(got - want) <= EPS * (1.0 + fabs(want))))
		fail_msg("got %.17g, want %.17g", got, want);
}

static double
value(const struct ns_metric_set *s, const char *name)
{
	const struct ns_metric *m = ns_metric_find(s, name);
	if (!m)
		fail_msg("no metric %s", name);
	return m->value;
}

static struct ns_flow_record
flow(uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t proto,
     uint64_t first_ns, uint64_t dur_ns, uint64_t pkts, uint64_t bytes)
{
	struct ns_flow_record r;
	memset(&r, 0, sizeof(r));
	ns_addr_from_v4(r.src_addr, src);
	ns_addr_from_v4(r.dst_addr, dst);
	r.src_port = sp;
	r.dst_port = dp;
	r.proto = proto;
	r.first_ns = first_ns;
	r.last_ns = first_ns + dur_ns;
	r.packets = pkts;
	r.bytes = bytes;
	r.ip_version = 4;
	return r;
}

static struct ns_pkt_record
pkt(uint32_t src, uint16_t sp, uint64_t ts_ns, uint32_t len)
{
	struct ns_pkt_record r;
	memset(&r, 0, sizeof(r));
	ns_addr_from_v4(r.src_addr, src);
	ns_addr_from_v4(r.dst_addr, 0x0A000002);
	r.src_port = sp;
	r.dst_port = 443;
	r.proto = 6;
	r.ts_ns = ts_ns;
	r.ip_len = len;
	r.ip_version = 4;
	r.ttl = 64;
	return r;
}

static void
push_flow(struct ns_flow_trace *t, struct ns_flow_record r)
{
	assert_int_equal(ns_flow_trace_push(t, &r), 0);
}

static void
push_pkt(struct ns_pkt_trace *t, struct ns_pkt_record r)
{
	assert_int_equal(ns_pkt_trace_push(t, &r), 0);
}

/* JSD of a distribution with itself, or a multiple of it, is 0. */
static void
jsd_identical_is_zero(void **state)
{
	(void)state;
	double p[] = {1, 2, 3, 0, 4};
	double q[] = {2, 4, 6, 0, 8};
	assert_near(ns_jsd(p, 5, p, 5), 0.0);
	assert_near(ns_jsd(p, 5, q, 5), 0.0);
}

/* Disjoint supports give the maximum, ln 2. */
static void
jsd_disjoint_is_ln2(void **state)
{
	(void)state;
	double p[] = {1, 0, 5, 0};
	double q[] = {0, 3, 0, 7};
	assert_near(ns_jsd(p, 4, q, 4), LN2);
}

/* The shorter vector is zero-padded. */
static void
jsd_pads_shorter(void **state)
{
	(void)state;
	double p[] = {1, 1};
	double q[] = {1, 1, 0, 0};
	double r[] = {0, 0, 1};
	assert_near(ns_jsd(p, 2, q, 4), 0.0);
	assert_near(ns_jsd(p, 2, r, 3), LN2);
	assert_near(ns_jsd(r, 3, p, 2), LN2);
}

/* (1,0) against (1/2,1/2) is 3/4 ln(4/3), worked by hand. */
static void
jsd_hand_value(void **state)
{
	(void)state;
	double p[] = {1, 0};
	double q[] = {1, 1};
	assert_near(ns_jsd(p, 2, q, 2), 0.75 * log(4.0 / 3.0));
	assert_near(ns_jsd(q, 2, p, 2), 0.75 * log(4.0 / 3.0));
}

/* Tiny differences stay accurate (the series branch). */
static void
jsd_near_identical(void **state)
{
	(void)state;
	double p[] = {0.5 + 1e-6, 0.5 - 1e-6};
	double q[] = {0.5, 0.5};
	/* JSD ~ (1/8) sum (p-q)^2/m = e^2/2 + O(e^4) for e = 1e-6 */
	double j = ns_jsd(p, 2, q, 2);
	assert_true(fabs(j - 0.5e-12) < 1e-20);
}

/* Empty, all-zero, negative and non-finite inputs are undefined. */
static void
jsd_undefined_is_nan(void **state)
{
	(void)state;
	double p[] = {1, 2};
	double z[] = {0, 0};
	double neg[] = {1, -1};
	double bad[] = {1, NAN};
	assert_true(isnan(ns_jsd(p, 2, NULL, 0)));
	assert_true(isnan(ns_jsd(NULL, 0, NULL, 0)));
	assert_true(isnan(ns_jsd(p, 2, z, 2)));
	assert_true(isnan(ns_jsd(z, 2, z, 2)));
	assert_true(isnan(ns_jsd(p, 2, neg, 2)));
	assert_true(isnan(ns_jsd(bad, 2, p, 2)));
}

/* EMD of a sample with itself (in any order) is 0. */
static void
emd_identical_is_zero(void **state)
{
	(void)state;
	double a[] = {3, 1, 2, 2, 9};
	double b[] = {9, 2, 1, 3, 2};
	assert_near(ns_emd(a, 5, b, 5), 0.0);
}

/* Shifting every value by s moves the distribution by exactly s. */
static void
emd_shift(void **state)
{
	(void)state;
	double a[] = {0, 1, 2, 10};
	double b[] = {5, 6, 7, 15};
	assert_near(ns_emd(a, 4, b, 4), 5.0);
	assert_near(ns_emd(b, 4, a, 4), 5.0);
}

/* Unequal sizes: {0} vs {0,1} is 1/2; {1,2,3} vs {1,2,3,4} is 1/2. */
static void
emd_unequal_sizes(void **state)
{
	(void)state;
	double a[] = {0};
	double b[] = {0, 1};
	double c[] = {1, 2, 3};
	double d[] = {1, 2, 3, 4};
	assert_near(ns_emd(a, 1, b, 2), 0.5);
	assert_near(ns_emd(c, 3, d, 4), 0.5);
}

/* Empty or non-finite samples are undefined. */
static void
emd_undefined_is_nan(void **state)
{
	(void)state;
	double a[] = {1, 2};
	double bad[] = {1, INFINITY};
	assert_true(isnan(ns_emd(a, 2, NULL, 0)));
	assert_true(isnan(ns_emd(NULL, 0, a, 2)));
	assert_true(isnan(ns_emd(a, 2, bad, 2)));
}

/* Integer weights act as repeated values; bad weights are undefined. */
static void
emd_weighted_matches_repeats(void **state)
{
	(void)state;
	double a[] = {1, 2}, wa[] = {3, 1};
	double ra[] = {1, 1, 1, 2};
	double b[] = {0, 4, 5}, wb[] = {1, 2, 1};
	double rb[] = {0, 4, 4, 5};
	assert_near(ns_emd_weighted(a, wa, 2, b, wb, 3), ns_emd(ra, 4, rb, 4));
	assert_near(ns_emd_weighted(a, NULL, 2, b, NULL, 3),
	            ns_emd(a, 2, b, 3));
	double zero[] = {0, 0}, neg[] = {1, -1};
	assert_true(isnan(ns_emd_weighted(a, zero, 2, b, NULL, 3)));
	assert_true(isnan(ns_emd_weighted(a, neg, 2, b, NULL, 3)));
}

/* SA/DA see only the popularity shape, not which address it is. */
static void
rank_frequency_ignores_identity(void **state)
{
	(void)state;
	struct ns_flow_trace r = {0}, s = {0};
	push_flow(&r, flow(1, 9, 1, 1, 6, 0, 0, 1, 40));
	push_flow(&r, flow(1, 9, 1, 1, 6, 0, 0, 1, 40));
	push_flow(&r, flow(2, 9, 1, 1, 6, 0, 0, 1, 40));
	push_flow(&s, flow(7, 5, 1, 1, 6, 0, 0, 1, 40));
	push_flow(&s, flow(8, 5, 1, 1, 6, 0, 0, 1, 40));
	push_flow(&s, flow(8, 5, 1, 1, 6, 0, 0, 1, 40));
	struct ns_metric_set m;
	assert_int_equal(ns_metrics_flows(&r, &s, &m), 0);
	assert_near(value(&m, "SA"), 0.0);
	assert_near(value(&m, "DA"), 0.0);
	double *v;
	size_t n;
	assert_int_equal(ns_flow_sample(&r, "SA", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_near(v[0], 2.0);
	assert_near(v[1], 1.0);
	free(v);
	ns_flow_trace_free(&r);
	ns_flow_trace_free(&s);
}

/* IPv4 and IPv6 addresses are distinct identities; IPv4's unused bytes
 * do not split an address. */
static void
rank_frequency_ipv6(void **state)
{
	(void)state;
	struct ns_pkt_trace t = {0};
	struct ns_pkt_record a = pkt(0x0A000001, 1, 0, 40);
	struct ns_pkt_record b = a, c = a;
	b.ip_version = 6;     /* same first bytes, now an IPv6 address */
	c.src_addr[9] = 0x55; /* junk past an IPv4 address */
	push_pkt(&t, a);
	push_pkt(&t, b);
	push_pkt(&t, c);
	double *v;
	size_t n;
	assert_int_equal(ns_pkt_sample(&t, "SA", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_near(v[0], 2.0);
	assert_near(v[1], 1.0);
	free(v);
	ns_pkt_trace_free(&t);
}

/* Ports 0 and 65535 are the ends of the 65,536 bins. */
static void
port_bins_cover_range(void **state)
{
	(void)state;
	struct ns_flow_trace r = {0}, s = {0};
	push_flow(&r, flow(1, 2, 0, 65535, 6, 0, 0, 1, 40));
	push_flow(&s, flow(1, 2, 65535, 0, 6, 0, 0, 1, 40));
	double *v;
	size_t n;
	assert_int_equal(ns_flow_sample(&r, "DP", &v, &n), 0);
	assert_int_equal(n, 65536);
	assert_near(v[65535], 1.0);
	free(v);
	struct ns_metric_set m;
	assert_int_equal(ns_metrics_flows(&r, &s, &m), 0);
	assert_near(value(&m, "SP"), LN2);
	assert_near(value(&m, "DP"), LN2);
	assert_near(value(&m, "PR"), 0.0);
	ns_flow_trace_free(&r);
	ns_flow_trace_free(&s);
}

/* PR compares protocol numbers: TCP against UDP is disjoint. */
static void
protocol_jsd(void **state)
{
	(void)state;
	struct ns_flow_trace r = {0}, s = {0};
	push_flow(&r, flow(1, 2, 1, 1, 6, 0, 0, 1, 40));
	push_flow(&r, flow(1, 2, 1, 1, 17, 0, 0, 1, 40));
	push_flow(&s, flow(1, 2, 1, 1, 17, 0, 0, 1, 40));
	push_flow(&s, flow(1, 2, 1, 1, 17, 0, 0, 1, 40));
	struct ns_metric_set m;
	assert_int_equal(ns_metrics_flows(&r, &s, &m), 0);
	double p[] = {1, 1}, q[] = {0, 2};
	assert_near(value(&m, "PR"), ns_jsd(p, 2, q, 2));
	ns_flow_trace_free(&r);
	ns_flow_trace_free(&s);
}

/* Flow mode: TS in µs from the first flow, TD in s, PKT/BYT raw, and
 * bytes_per_packet leaves out records without packets. */
static void
flow_fields_units(void **state)
{
	(void)state;
	struct ns_flow_trace t = {0};
	push_flow(&t, flow(1, 2, 1, 1, 6, 5000, 1500000000, 4, 400));
	push_flow(&t, flow(1, 2, 1, 1, 6, 3000, 0, 0, 0));
	double *v;
	size_t n;
	assert_int_equal(ns_flow_sample(&t, "TS", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_near(v[0], 2.0);
	assert_near(v[1], 0.0);
	free(v);
	assert_int_equal(ns_flow_sample(&t, "TD", &v, &n), 0);
	assert_near(v[0], 1.5);
	free(v);
	assert_int_equal(ns_flow_sample(&t, "BYT", &v, &n), 0);
	assert_near(v[0], 400.0);
	free(v);
	assert_int_equal(ns_flow_sample(&t, "bytes_per_packet", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_near(v[0], 100.0);
	free(v);
	/* the two records share a 5-tuple: one gap of 2 µs */
	assert_int_equal(
	    ns_flow_sample(&t, "interarrival_within_flow", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_near(v[0], 2.0);
	free(v);
	ns_flow_trace_free(&t);
}

/* Flow mode: a shifted start time moves TS; one record per 5-tuple
 * leaves interarrival_within_flow undefined. */
static void
flow_metrics_values(void **state)
{
	(void)state;
	struct ns_flow_trace r = {0}, s = {0};
	push_flow(&r, flow(1, 2, 1, 1, 6, 0, 1000000000, 2, 100));
	push_flow(&r, flow(3, 2, 1, 1, 6, 10000, 0, 1, 60));
	push_flow(&s, flow(1, 2, 1, 1, 6, 0, 1000000000, 2, 100));
	push_flow(&s, flow(3, 2, 1, 1, 6, 20000, 2000000000, 3, 60));
	struct ns_metric_set m;
	assert_int_equal(ns_metrics_flows(&r, &s, &m), 0);
	assert_int_equal(m.is_packets, 0);
	assert_string_equal(m.m[0].name, "SA");
	assert_near(value(&m, "TS"), 5.0);  /* {0,10} vs {0,20} µs */
	assert_near(value(&m, "TD"), 1.0);  /* {1,0} vs {1,2} s */
	assert_near(value(&m, "PKT"), 1.0); /* {2,1} vs {2,3} */
	assert_near(value(&m, "BYT"), 0.0);
	assert_near(value(&m, "bytes_per_packet"), 20.0); /* {50,60} {50,20} */
	assert_true(isnan(value(&m, "interarrival_within_flow")));
	assert_true(isnan(value(&m, "avg_norm_emd")));
	ns_flow_trace_free(&r);
	ns_flow_trace_free(&s);
}

/* Packet mode: PS, PAT (µs), FS per 5-tuple, durations and gaps. */
static void
packet_fields(void **state)
{
	(void)state;
	struct ns_pkt_trace t = {0};
	push_pkt(&t, pkt(1, 1000, 1030000, 100)); /* flow A at 30 µs */
	push_pkt(&t, pkt(2, 2000, 1005000, 200)); /* flow B at 5 µs */
	push_pkt(&t, pkt(1, 1000, 1000000, 300)); /* flow A at 0 */
	push_pkt(&t, pkt(1, 1000, 1010000, 400)); /* flow A at 10 µs */
	double *v;
	size_t n;
	assert_int_equal(ns_pkt_sample(&t, "PAT", &v, &n), 0);
	assert_int_equal(n, 4);
	assert_near(v[0], 30.0);
	assert_near(v[1], 5.0);
	free(v);
	assert_int_equal(ns_pkt_sample(&t, "PS", &v, &n), 0);
	assert_near(v[3], 400.0);
	free(v);
	assert_int_equal(ns_pkt_sample(&t, "FS", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_near(v[0] + v[1], 4.0);
	assert_near(v[0] * v[1], 3.0);
	free(v);
	assert_int_equal(ns_pkt_sample(&t, "flow_duration", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_near(v[0] + v[1], 30.0);
	free(v);
	assert_int_equal(ns_pkt_sample(&t, "interarrival_within_flow", &v, &n),
	                 0);
	assert_int_equal(n, 2);
	assert_near(v[0], 10.0);
	assert_near(v[1], 20.0);
	free(v);
	ns_pkt_trace_free(&t);
}

/* Each mode has its own labels: no TS for packets, no PS for flows. */
static void
mode_labels(void **state)
{
	(void)state;
	struct ns_flow_trace f = {0};
	struct ns_pkt_trace p = {0};
	double *v;
	size_t n;
	errno = 0;
	assert_int_equal(ns_flow_sample(&f, "PS", &v, &n), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(ns_pkt_sample(&p, "TS", &v, &n), -1);
	assert_int_equal(ns_pkt_sample(&p, "avg_jsd", &v, &n), -1);
	assert_int_equal(ns_pkt_sample(&p, "nonsense", &v, &n), -1);
	struct ns_metric_set m;
	assert_int_equal(ns_metrics_pkts(&p, &p, &m), 0);
	assert_int_equal(m.is_packets, 1);
	assert_null(ns_metric_find(&m, "TS"));
	assert_non_null(ns_metric_find(&m, "FS"));
	assert_non_null(ns_metric_find(&m, "pkts_per_flow"));
	assert_int_equal(ns_metric_find(&m, "PS")->is_netshare, 1);
	assert_int_equal(ns_metric_find(&m, "flow_duration")->is_netshare, 0);
	/* empty traces: every value undefined, nothing crashes */
	assert_true(isnan(value(&m, "SA")));
	assert_true(isnan(value(&m, "PS")));
	assert_true(isnan(value(&m, "five_tuple_share")));
	assert_int_equal(ns_metrics_flows(&f, &f, &m), 0);
	assert_int_equal(m.is_packets, 0);
	assert_null(ns_metric_find(&m, "PS"));
	assert_true(isnan(value(&m, "TS")));
}

/* A trace against itself scores 0 on every distance, 1 on both shares. */
static void
self_comparison(void **state)
{
	(void)state;
	struct ns_pkt_trace t = {0};
	for (unsigned i = 0; i < 500; i++) {
		struct ns_pkt_record r = pkt(i % 37, (uint16_t)(i % 11),
		                             (uint64_t)i * i * 1000, 40 + i);
		r.proto = i % 5 ? 6 : 17;
		push_pkt(&t, r);
	}
	struct ns_metric_set m;
	assert_int_equal(ns_metrics_pkts(&t, &t, &m), 0);
	for (unsigned i = 0; i < m.n; i++) {
		if (m.m[i].kind == NS_METRIC_SHARE)
			assert_near(m.m[i].value, 1.0);
		else if (strcmp(m.m[i].name, "avg_norm_emd"))
			assert_near(m.m[i].value, 0.0);
	}
	ns_pkt_trace_free(&t);
}

/* exact_record_share needs every modelled field; five_tuple_share only
 * the 5-tuple. */
static void
privacy_shares(void **state)
{
	(void)state;
	struct ns_pkt_trace r = {0}, s = {0};
	push_pkt(&r, pkt(1, 10, 1000, 100));
	push_pkt(&r, pkt(2, 20, 2000, 100));
	push_pkt(&s, pkt(1, 10, 1000, 100)); /* an exact copy */
	push_pkt(&s, pkt(1, 10, 1000, 101)); /* another length */
	struct ns_pkt_record ttl = pkt(2, 20, 2000, 100);
	ttl.ttl = 1;
	push_pkt(&s, ttl);                   /* another TTL */
	push_pkt(&s, pkt(3, 30, 1000, 100)); /* a new 5-tuple */
	struct ns_metric_set m;
	assert_int_equal(ns_metrics_pkts(&r, &s, &m), 0);
	assert_near(value(&m, "exact_record_share"), 0.25);
	assert_near(value(&m, "five_tuple_share"), 0.75);

	struct ns_flow_trace fr = {0}, fs = {0};
	push_flow(&fr, flow(1, 2, 3, 4, 6, 100, 50, 2, 80));
	push_flow(&fs, flow(1, 2, 3, 4, 6, 100, 50, 2, 80));
	push_flow(&fs, flow(1, 2, 3, 4, 6, 100, 51, 2, 80)); /* another td */
	assert_int_equal(ns_metrics_flows(&fr, &fs, &m), 0);
	assert_near(value(&m, "exact_record_share"), 0.5);
	assert_near(value(&m, "five_tuple_share"), 1.0);
	ns_pkt_trace_free(&r);
	ns_pkt_trace_free(&s);
	ns_flow_trace_free(&fr);
	ns_flow_trace_free(&fs);
}

/* proto_dstport_jsd keys on the pair: same port, other protocol is
 * disjoint. */
static void
proto_dstport_joint(void **state)
{
	(void)state;
	struct ns_flow_trace r = {0}, s = {0}, u = {0};
	push_flow(&r, flow(1, 2, 1, 80, 6, 0, 0, 1, 40));
	push_flow(&r, flow(1, 2, 1, 53, 17, 0, 0, 1, 40));
	push_flow(&s, flow(1, 2, 1, 80, 17, 0, 0, 1, 40));
	push_flow(&s, flow(1, 2, 1, 53, 6, 0, 0, 1, 40));
	push_flow(&u, flow(5, 6, 9, 53, 17, 0, 0, 1, 40));
	push_flow(&u, flow(5, 6, 9, 80, 6, 0, 0, 1, 40));
	struct ns_metric_set m;
	assert_int_equal(ns_metrics_flows(&r, &s, &m), 0);
	assert_near(value(&m, "proto_dstport_jsd"), LN2);
	assert_near(value(&m, "DP"), 0.0);
	assert_int_equal(ns_metrics_flows(&r, &u, &m), 0);
	assert_near(value(&m, "proto_dstport_jsd"), 0.0);
	ns_flow_trace_free(&r);
	ns_flow_trace_free(&s);
	ns_flow_trace_free(&u);
}

/* srcport_dstport_top_jsd keeps the real top 100 pairs and folds the rest
 * (real and synthetic) into one "other" bucket. */
static void
top_pairs_other_bucket(void **state)
{
	(void)state;
	struct ns_flow_trace r = {0}, s = {0};
	for (uint16_t i = 1; i <= 100; i++) {
		push_flow(&r, flow(1, 2, i, 7, 6, 0, 0, 1, 40));
		push_flow(&r, flow(1, 2, i, 7, 6, 0, 0, 1, 40));
	}
	push_flow(&r, flow(1, 2, 500, 7, 6, 0, 0, 1, 40)); /* 101st: other */
	/* synthetic: pairs the real top lacks, and one top pair */
	push_flow(&s, flow(1, 2, 600, 7, 6, 0, 0, 1, 40));
	push_flow(&s, flow(1, 2, 601, 8, 6, 0, 0, 1, 40));
	push_flow(&s, flow(1, 2, 500, 7, 6, 0, 0, 1, 40));
	push_flow(&s, flow(1, 2, 1, 7, 6, 0, 0, 1, 40));
	double p[101], q[101];
	for (int i = 0; i < 100; i++) {
		p[i] = 2;
		q[i] = 0;
	}
	q[0] = 1;
	p[100] = 1;
	q[100] = 3;
	struct ns_metric_set m;
	assert_int_equal(ns_metrics_flows(&r, &s, &m), 0);
	assert_near(value(&m, "srcport_dstport_top_jsd"),
	            ns_jsd(p, 101, q, 101));
	ns_flow_trace_free(&r);
	ns_flow_trace_free(&s);
}

/* avg_jsd is the mean of SA, DA, SP, DP and PR. */
static void
avg_jsd_is_mean(void **state)
{
	(void)state;
	struct ns_flow_trace r = {0}, s = {0};
	push_flow(&r, flow(1, 2, 1, 80, 6, 0, 0, 1, 40));
	push_flow(&r, flow(1, 3, 2, 80, 6, 0, 0, 1, 40));
	push_flow(&s, flow(1, 2, 1, 81, 17, 0, 0, 1, 40));
	push_flow(&s, flow(4, 2, 1, 81, 6, 0, 0, 1, 40));
	struct ns_metric_set m;
	assert_int_equal(ns_metrics_flows(&r, &s, &m), 0);
	double sum = value(&m, "SA") + value(&m, "DA") + value(&m, "SP") +
	             value(&m, "DP") + value(&m, "PR");
	assert_near(value(&m, "avg_jsd"), sum / 5);
	assert_true(value(&m, "avg_jsd") > 0.0);
	ns_flow_trace_free(&r);
	ns_flow_trace_free(&s);
}

static void
fake_set(struct ns_metric_set *s, double ts, double td, double pkt, double byt)
{
	struct ns_flow_trace t = {0};
	assert_int_equal(ns_metrics_flows(&t, &t, s), 0);
	struct ns_metric *m = (struct ns_metric *)ns_metric_find(s, "TS");
	m[0].value = ts;
	m[1].value = td;
	m[2].value = pkt;
	m[3].value = byt;
}

/* Min-max across traces into [0.1, 0.9]; no spread gives 0.5; undefined
 * values stay undefined and out of the average. */
static void
normalise_across_traces(void **state)
{
	(void)state;
	struct ns_metric_set s[3];
	fake_set(&s[0], 1.0, 7.0, NAN, 10.0);
	fake_set(&s[1], 2.0, 7.0, NAN, 30.0);
	fake_set(&s[2], 3.0, 7.0, NAN, 20.0);
	assert_int_equal(ns_metrics_normalise(s, 3), 0);
	assert_near(ns_metric_find(&s[0], "TS")->norm, 0.1);
	assert_near(ns_metric_find(&s[1], "TS")->norm, 0.5);
	assert_near(ns_metric_find(&s[2], "TS")->norm, 0.9);
	assert_near(ns_metric_find(&s[1], "TD")->norm, 0.5);
	assert_true(isnan(ns_metric_find(&s[1], "PKT")->norm));
	assert_near(ns_metric_find(&s[2], "BYT")->norm, 0.5);
	assert_true(isnan(ns_metric_find(&s[0], "SA")->norm));
	/* mean over TS, TD, BYT (PKT undefined) */
	assert_near(value(&s[0], "avg_norm_emd"), (0.1 + 0.5 + 0.1) / 3);
	assert_near(value(&s[1], "avg_norm_emd"), (0.5 + 0.5 + 0.9) / 3);
	/* one trace alone: everything 0.5 */
	fake_set(&s[0], 1.0, 2.0, 3.0, 4.0);
	assert_int_equal(ns_metrics_normalise(s, 1), 0);
	assert_near(value(&s[0], "avg_norm_emd"), 0.5);
}

/* Normalising sets of different modes is refused. */
static void
normalise_mixed_modes(void **state)
{
	(void)state;
	struct ns_metric_set s[2];
	struct ns_flow_trace f = {0};
	struct ns_pkt_trace p = {0};
	assert_int_equal(ns_metrics_flows(&f, &f, &s[0]), 0);
	assert_int_equal(ns_metrics_pkts(&p, &p, &s[1]), 0);
	errno = 0;
	assert_int_equal(ns_metrics_normalise(s, 2), -1);
	assert_int_equal(errno, EINVAL);
}

/* The hash map keeps ids stable and finds every key across resizes. */
static void
hmap_many_keys(void **state)
{
	(void)state;
	struct ns_hmap m;
	assert_int_equal(ns_hmap_init(&m, 12, 0), 0);
	for (uint32_t i = 0; i < 100000; i++) {
		uint8_t k[12] = {0};
		memcpy(k + 4, &i, 4);
		assert_int_equal(ns_hmap_add(&m, k), (int64_t)i);
	}
	for (uint32_t i = 0; i < 100000; i += 7) {
		uint8_t k[12] = {0};
		memcpy(k + 4, &i, 4);
		assert_int_equal(ns_hmap_find(&m, k), (int64_t)i);
		assert_int_equal(ns_hmap_add(&m, k), (int64_t)i);
	}
	uint8_t absent[12] = {1};
	assert_int_equal(ns_hmap_find(&m, absent), -1);
	assert_int_equal(m.n, 100000);
	ns_hmap_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(jsd_identical_is_zero),
	    cmocka_unit_test(jsd_disjoint_is_ln2),
	    cmocka_unit_test(jsd_pads_shorter),
	    cmocka_unit_test(jsd_hand_value),
	    cmocka_unit_test(jsd_near_identical),
	    cmocka_unit_test(jsd_undefined_is_nan),
	    cmocka_unit_test(emd_identical_is_zero),
	    cmocka_unit_test(emd_shift),
	    cmocka_unit_test(emd_unequal_sizes),
	    cmocka_unit_test(emd_undefined_is_nan),
	    cmocka_unit_test(emd_weighted_matches_repeats),
	    cmocka_unit_test(rank_frequency_ignores_identity),
	    cmocka_unit_test(rank_frequency_ipv6),
	    cmocka_unit_test(port_bins_cover_range),
	    cmocka_unit_test(protocol_jsd),
	    cmocka_unit_test(flow_fields_units),
	    cmocka_unit_test(flow_metrics_values),
	    cmocka_unit_test(packet_fields),
	    cmocka_unit_test(mode_labels),
	    cmocka_unit_test(self_comparison),
	    cmocka_unit_test(privacy_shares),
	    cmocka_unit_test(proto_dstport_joint),
	    cmocka_unit_test(top_pairs_other_bucket),
	    cmocka_unit_test(avg_jsd_is_mean),
	    cmocka_unit_test(normalise_across_traces),
	    cmocka_unit_test(normalise_mixed_modes),
	    cmocka_unit_test(hmap_many_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
