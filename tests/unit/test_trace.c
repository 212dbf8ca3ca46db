/* Trace containers, pcap read/write, cut-short files, diagnostics and
 * format detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>

#include "netshare/ingest.h"
#include "netshare/trace.h"

static struct ns_pkt_record
rec(uint64_t ts, uint32_t src, uint16_t sp, uint8_t proto, uint32_t len)
{
	struct ns_pkt_record r;
	memset(&r, 0, sizeof(r));
	r.ts_ns = ts;
	ns_addr_from_v4(r.src_addr, src);
	ns_addr_from_v4(r.dst_addr, 0x0A000002);
	r.src_port = sp;
	r.dst_port = 443;
	r.proto = proto;
	r.ip_len = len;
	r.ip_version = 4;
	r.ttl = 64;
	r.tos = 0x10;
	r.ip_id = 77;
	r.ip_frag = NS_FRAG_DF;
	r.tcp_flags = proto == 6 ? 0x18 : 0;
	r.flags = NS_PKT_HAS_L4;
	return r;
}

/* Little-endian classic pcap in memory. */
struct membuf {
	uint8_t b[4096];
	size_t n;
};

static void
le32(struct membuf *m, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		m->b[m->n++] = (uint8_t)(v >> (8 * i));
}

static void
le16(struct membuf *m, uint16_t v)
{
	m->b[m->n++] = (uint8_t)v;
	m->b[m->n++] = (uint8_t)(v >> 8);
}

static void
pcap_header(struct membuf *m, uint32_t magic, uint32_t linktype)
{
	le32(m, magic);
	le16(m, 2);
	le16(m, 4);
	le32(m, 0);
	le32(m, 0);
	le32(m, 65535);
	le32(m, linktype);
}

static void
pcap_raw_udp(struct membuf *m, uint32_t sec, uint32_t frac)
{
	static const uint8_t ip[28] = {
		0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1,
		10,   0, 0, 2,  0, 53, 0, 53, 0, 8, 0, 0};
	le32(m, sec);
	le32(m, frac);
	le32(m, sizeof(ip));
	le32(m, sizeof(ip));
	memcpy(m->b + m->n, ip, sizeof(ip));
	m->n += sizeof(ip);
}

/* Records written as pcap read back with the same header fields. */
static void
test_pcap_round_trip(void **state)
{
	(void)state;
	struct ns_pkt_trace t = {0};
	struct ns_pkt_record a = rec(1500000000123456789ull, 0x0A000001,
				     40000, 6, 1500);
	struct ns_pkt_record b = rec(1500000001000000000ull, 0x0A000003,
				     5353, 17, 120);
	struct ns_pkt_record c = rec(1500000002000000000ull, 0x0A000004, 8,
				     1, 84);
	c.dst_port = 0;
	assert_int_equal(ns_pkt_trace_push(&t, &a), 0);
	assert_int_equal(ns_pkt_trace_push(&t, &b), 0);
	assert_int_equal(ns_pkt_trace_push(&t, &c), 0);
	char path[] = "/tmp/ns_test_trace_XXXXXX.pcap";
	int fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(ns_write_pcap(path, &t), 0);

	struct ns_pkt_trace back = {0};
	struct ns_pcap_stats st;
	struct ns_diag d;
	ns_diag_init(&d, path, "packet");
	assert_int_equal(ns_read_pcap(path, &back, &st, &d), 0);
	assert_int_equal(back.n, 3);
	assert_int_equal(st.frames, 3);
	assert_int_equal(st.frame_bytes, 3 * 14 + 1500 + 120 + 84);
	for (size_t i = 0; i < 3; i++) {
		const struct ns_pkt_record *x = &t.v[i], *y = &back.v[i];
		assert_int_equal(x->ts_ns, y->ts_ns);
		assert_memory_equal(x->src_addr, y->src_addr, 16);
		assert_memory_equal(x->dst_addr, y->dst_addr, 16);
		assert_int_equal(x->src_port, y->src_port);
		assert_int_equal(x->dst_port, y->dst_port);
		assert_int_equal(x->proto, y->proto);
		assert_int_equal(x->ip_len, y->ip_len);
		assert_int_equal(x->tos, y->tos);
		assert_int_equal(x->ttl, y->ttl);
		assert_int_equal(x->ip_id, y->ip_id);
		assert_int_equal(x->ip_frag, y->ip_frag);
		assert_int_equal(x->tcp_flags, y->tcp_flags);
		assert_false(y->flags & NS_PKT_BAD_CSUM);
	}
	unlink(path);
	ns_pkt_trace_free(&t);
	ns_pkt_trace_free(&back);
}

/* A file cut inside a record keeps the packets before the cut and
 * reports the broken record's byte offset. */
static void
test_cut_short(void **state)
{
	(void)state;
	struct membuf m = {0};
	pcap_header(&m, 0xA1B2C3D4, 101);
	pcap_raw_udp(&m, 100, 5);
	size_t second = m.n;
	pcap_raw_udp(&m, 101, 6);
	m.n -= 10;
	struct ns_pkt_trace t = {0};
	struct ns_pcap_stats st;
	struct ns_diag d;
	ns_diag_init(&d, "cut.pcap", "packet");
	d.quiet = 1;
	assert_int_equal(ns_read_pcap_mem(m.b, m.n, &t, &st, &d), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.v[0].ts_ns, 100000005000ull);
	assert_true(st.cut_short);
	assert_int_equal(st.cut_offset, (long)second);
	assert_int_equal(ns_diag_count(&d, "cut_short"), 1);
	assert_non_null(strstr(d.first, "byte offset"));

	/* strict: the same file is an error */
	struct ns_pkt_trace t2 = {0};
	ns_diag_init(&d, "cut.pcap", "packet");
	d.quiet = 1;
	d.strict = 1;
	assert_int_equal(ns_read_pcap_mem(m.b, m.n, &t2, &st, &d), -1);
	ns_pkt_trace_free(&t);
	ns_pkt_trace_free(&t2);
}

/* Nanosecond pcaps keep nanoseconds; invalid fractions are rejected and
 * counted, not wrapped. */
static void
test_nanosecond_timestamps(void **state)
{
	(void)state;
	struct membuf m = {0};
	pcap_header(&m, 0xA1B23C4D, 101);
	pcap_raw_udp(&m, 7, 999999999);
	pcap_raw_udp(&m, 8, 1500000000);
	struct ns_pkt_trace t = {0};
	struct ns_pcap_stats st;
	struct ns_diag d;
	ns_diag_init(&d, "ns.pcap", "packet");
	d.quiet = 1;
	assert_int_equal(ns_read_pcap_mem(m.b, m.n, &t, &st, &d), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.v[0].ts_ns, 7999999999ull);
	assert_int_equal(st.frames, 2);
	assert_int_equal(ns_diag_count(&d, "bad_timestamp"), 1);
	ns_pkt_trace_free(&t);
}

/* Frames the parser cannot use are counted by reason, never lost. */
static void
test_unusable_frames_counted(void **state)
{
	(void)state;
	struct membuf m = {0};
	pcap_header(&m, 0xA1B2C3D4, 1);
	/* an ARP frame and a frame cut inside the Ethernet header */
	uint8_t arp[42] = {0};
	arp[12] = 0x08;
	arp[13] = 0x06;
	le32(&m, 1);
	le32(&m, 0);
	le32(&m, 42);
	le32(&m, 42);
	memcpy(m.b + m.n, arp, 42);
	m.n += 42;
	le32(&m, 2);
	le32(&m, 0);
	le32(&m, 6);
	le32(&m, 60);
	memcpy(m.b + m.n, arp, 6);
	m.n += 6;
	struct ns_pkt_trace t = {0};
	struct ns_pcap_stats st;
	struct ns_diag d;
	ns_diag_init(&d, "l2.pcap", "packet");
	d.quiet = 1;
	assert_int_equal(ns_read_pcap_mem(m.b, m.n, &t, &st, &d), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(st.frames, 2);
	assert_int_equal(st.frame_bytes, 102);
	assert_int_equal(ns_diag_count(&d, "not_ip"), 1);
	assert_int_equal(ns_diag_count(&d, "truncated"), 1);
	assert_non_null(strstr(d.first, "packet 2"));
	ns_pkt_trace_free(&t);
}

/* Garbage and empty input fail with a message, not a crash. */
static void
test_not_a_pcap(void **state)
{
	(void)state;
	static const uint8_t junk[] = "this is not a capture file at all";
	struct ns_pkt_trace t = {0};
	struct ns_pcap_stats st;
	struct ns_diag d;
	ns_diag_init(&d, "junk", "packet");
	d.quiet = 1;
	assert_int_equal(ns_read_pcap_mem(junk, sizeof(junk), &t, &st, &d),
			 -1);
	assert_int_equal(ns_diag_count(&d, "unreadable"), 1);
	assert_int_equal(ns_read_pcap_mem(junk, 0, &t, &st, &d), -1);
	ns_diag_init(&d, "/nonexistent/x.pcap", "packet");
	d.quiet = 1;
	assert_int_equal(ns_read_pcap("/nonexistent/x.pcap", &t, &st, &d),
			 -1);
	assert_non_null(strstr(d.first, "/nonexistent/x.pcap"));
}

/* Diagnostics: counted per reason, quiet after the limit, strict stops. */
static void
test_diag(void **state)
{
	(void)state;
	struct ns_diag d;
	ns_diag_init(&d, "x.csv", "line");
	FILE *sink = tmpfile();
	assert_non_null(sink);
	d.out = sink;
	for (int i = 0; i < 30; i++)
		assert_int_equal(ns_diag_reject(&d, "bad_field", (uint64_t)i,
						"field 'srcip': bad"),
				 0);
	ns_diag_reject(&d, "bad_row", 31, "columns");
	assert_int_equal(ns_diag_count(&d, "bad_field"), 30);
	assert_int_equal(ns_diag_count(&d, "bad_row"), 1);
	assert_int_equal(d.total, 31);
	assert_string_equal(d.first, "x.csv: line 0: field 'srcip': bad");
	long printed = ftell(sink);
	assert_true(printed > 0 && printed < 31 * 40); /* went quiet */
	fclose(sink);
	d.strict = 1;
	d.quiet = 1;
	assert_int_equal(ns_diag_reject(&d, "bad_field", 40, "x"), -1);
	assert_true(d.failed);
}

/* Labels are interned once each; sorting is stable by time. */
static void
test_labels_and_sort(void **state)
{
	(void)state;
	struct ns_flow_trace t;
	memset(&t, 0, sizeof(t));
	assert_int_equal(ns_label_intern(&t.labels, "background", 10), 0);
	assert_int_equal(ns_label_intern(&t.labels, "blacklist", 9), 1);
	assert_int_equal(ns_label_intern(&t.labels, "background", 10), 0);
	assert_int_equal(t.labels.n, 2);
	for (int i = 0; i < 1000; i++) {
		struct ns_flow_record f;
		memset(&f, 0, sizeof(f));
		f.first_ns = (uint64_t)(i * 7919 % 13);
		f.packets = (uint64_t)i;
		assert_int_equal(ns_flow_trace_push(&t, &f), 0);
	}
	ns_flow_trace_sort(&t);
	for (size_t i = 1; i < t.n; i++) {
		assert_true(t.v[i - 1].first_ns <= t.v[i].first_ns);
		if (t.v[i - 1].first_ns == t.v[i].first_ns)
			assert_true(t.v[i - 1].packets < t.v[i].packets);
	}
	ns_flow_trace_free(&t);
}

/* Protocol names and numbers map both ways. */
static void
test_proto_names(void **state)
{
	(void)state;
	assert_int_equal(ns_proto_from_str("TCP", 3), 6);
	assert_int_equal(ns_proto_from_str(" udp ", 5), 17);
	assert_int_equal(ns_proto_from_str("47", 2), 47);
	assert_int_equal(ns_proto_from_str("256", 3), -1);
	assert_int_equal(ns_proto_from_str("", 0), -1);
	assert_int_equal(ns_proto_from_str("bogus", 5), -1);
	assert_string_equal(ns_proto_name(50), "ESP");
	assert_null(ns_proto_name(200));
	assert_int_equal(ns_format_from_name("zeek"), NS_FMT_ZEEK_CONN);
	assert_string_equal(ns_format_name(NS_FMT_ARGUS), "argus");
}

/* Format detection reads magic numbers and header lines. */
static void
test_format_detect(void **state)
{
	(void)state;
	char path[] = "/tmp/ns_detect_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *hdr = "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,"
			  "type\n";
	assert_int_equal(write(fd, hdr, strlen(hdr)), (ssize_t)strlen(hdr));
	close(fd);
	assert_int_equal(ns_format_detect(path), NS_FMT_NETSHARE_FLOW);
	FILE *f = fopen(path, "wb");
	fwrite("\xd4\xc3\xb2\xa1", 1, 4, f);
	fclose(f);
	assert_int_equal(ns_format_detect(path), NS_FMT_PCAP);
	unlink(path);
}

/* Metering a trace yields sorted flows and counts distinct tuples. */
static void
test_meter_trace_and_tuples(void **state)
{
	(void)state;
	struct ns_pkt_trace t = {0};
	for (int i = 0; i < 10; i++) {
		struct ns_pkt_record r = rec((uint64_t)(10 - i) * 1000000000ull,
					     0x0A000001 + (uint32_t)(i % 3),
					     1000, 17, 100);
		ns_pkt_trace_push(&t, &r);
	}
	assert_int_equal(ns_count_pkt_tuples(&t), 3);
	ns_pkt_trace_sort(&t);
	struct ns_meter_config c;
	ns_meter_config_default(&c);
	c.max_flows = 64;
	struct ns_flow_trace flows;
	memset(&flows, 0, sizeof(flows));
	struct ns_meter_stats st;
	assert_int_equal(ns_meter_trace(&t, &c, &flows, &st), 0);
	assert_int_equal(flows.n, 3);
	uint64_t pk = 0;
	for (size_t i = 0; i < flows.n; i++) {
		pk += flows.v[i].packets;
		if (i)
			assert_true(flows.v[i - 1].first_ns <=
				    flows.v[i].first_ns);
	}
	assert_int_equal(pk, 10);
	assert_int_equal(ns_count_flow_tuples(&flows), 3);
	ns_flow_trace_free(&flows);
	ns_pkt_trace_free(&t);
}

static void
collect(void *ctx, const struct ns_flow_record *f)
{
	assert_int_equal(ns_flow_trace_push(ctx, f), 0);
}

/* Streaming the file (one thread and two) gives the flows that metering
 * its packets in memory gives. */
static void
compare_streamed_flows(const char *path, const struct ns_pkt_trace *pkts,
		       uint32_t max_flows)
{
	struct ns_meter_config c;
	ns_meter_config_default(&c);
	c.max_flows = max_flows;
	struct ns_flow_trace want = {0};
	struct ns_meter_stats wst;
	assert_int_equal(ns_meter_trace(pkts, &c, &want, &wst), 0);
	for (int threads = 1; threads <= 2; threads++) {
		struct ns_flow_trace got = {0};
		struct ns_pcap_stats st;
		struct ns_meter_stats mst;
		struct ns_diag d;
		ns_diag_init(&d, path, "packet");
		d.quiet = 1;
		assert_int_equal(ns_pcap_meter(path, &c, threads, collect,
					       &got, &st, &mst, &d),
				 0);
		ns_flow_trace_sort(&got);
		if (got.n != want.n || mst.evicted != wst.evicted ||
		    (got.n && memcmp(got.v, want.v, got.n * sizeof(*got.v))))
			fail_msg("%s: streamed flows (%d threads, table %u) "
				 "differ: %zu/%zu flows, evicted %llu/%llu",
				 path, threads, max_flows, got.n, want.n,
				 (unsigned long long)mst.evicted,
				 (unsigned long long)wst.evicted);
		ns_flow_trace_free(&got);
	}
	ns_flow_trace_free(&want);
}

/* Read one file both ways; return 1 if it was compared. */
static int
compare_paths(const char *path)
{
	struct ns_pkt_trace a = {0}, b = {0};
	struct ns_pcap_stats sa, sb;
	struct ns_diag da, db;
	ns_diag_init(&da, path, "packet");
	ns_diag_init(&db, path, "packet");
	da.quiet = db.quiet = 1;
	int ra = ns_read_pcap(path, &a, &sa, &da);
	int rb = ns_read_pcap_libpcap(path, &b, &sb, &db);
	if (ra != rb || sa.frames != sb.frames ||
	    sa.frame_bytes != sb.frame_bytes || a.n != b.n ||
	    sa.cut_short != sb.cut_short || sa.linktype != sb.linktype ||
	    da.total != db.total ||
	    (a.n && memcmp(a.v, b.v, a.n * sizeof(*a.v))))
		fail_msg("%s: mmap reader and libpcap disagree: rc %d/%d, "
			 "frames %llu/%llu, records %zu/%zu, cut %d/%d, "
			 "skipped %llu/%llu",
			 path, ra, rb, (unsigned long long)sa.frames,
			 (unsigned long long)sb.frames, a.n, b.n, sa.cut_short,
			 sb.cut_short, (unsigned long long)da.total,
			 (unsigned long long)db.total);
	if (ra == 0) {
		/* the default table, and one small enough to evict */
		compare_streamed_flows(path, &a, 1u << 20);
		compare_streamed_flows(path, &a, 64);
	}
	ns_pkt_trace_free(&a);
	ns_pkt_trace_free(&b);
	return 1;
}

/* On every real capture (classic pcap through our memory-mapped reader,
 * pcapng through libpcap either way), both read paths give the same
 * records, counters and cut-short verdicts. */
static void
test_mmap_reader_matches_libpcap(void **state)
{
	(void)state;
	const char *data = getenv("NS_SHARED_DATA");
	if (!data)
		data = "../shared/data";
	const char *dirs[] = {"pcap", "robustness"};
	int compared = 0;
	for (int k = 0; k < 2; k++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/%s", data, dirs[k]);
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t n = strlen(e->d_name);
			if (n < 5 || strcmp(e->d_name + n - 5, ".pcap"))
				continue;
			char path[8192];
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			compared += compare_paths(path);
		}
		closedir(d);
	}
	if (!compared)
		skip(); /* no shared data here */
	print_message("%d classic pcaps read identically both ways, and "
		      "streamed into the same flows\n",
		      compared);
	assert_true(compared >= 30);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcap_round_trip),
		cmocka_unit_test(test_cut_short),
		cmocka_unit_test(test_nanosecond_timestamps),
		cmocka_unit_test(test_unusable_frames_counted),
		cmocka_unit_test(test_not_a_pcap),
		cmocka_unit_test(test_diag),
		cmocka_unit_test(test_labels_and_sort),
		cmocka_unit_test(test_proto_names),
		cmocka_unit_test(test_format_detect),
		cmocka_unit_test(test_meter_trace_and_tuples),
		cmocka_unit_test(test_mmap_reader_matches_libpcap),
	};
	return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
