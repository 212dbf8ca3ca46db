/* CSV trace readers and writers: every format, each quirk of the real
 * files, every rejection path, strict mode, round trips and atomic
 * writes; then the real traces when the shared data folder is there. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netshare/trace.h"

#define NS 1000000000ull

struct fx {
	struct ns_flow_trace flows;
	struct ns_pkt_trace pkts;
	struct ns_diag diag;
	char dir[64]; /* a private temp folder, for the writers */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	ns_diag_init(&f->diag, "test.csv", "line");
	f->diag.quiet = 1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	ns_flow_trace_free(&f->flows);
	ns_pkt_trace_free(&f->pkts);
	if (f->dir[0])
		rmdir(f->dir);
	free(f);
	return 0;
}

/* Read len bytes through an exact-size copy: a read past the end trips
 * ASan, and nothing relies on a NUL. */
static int
flows_buf(struct fx *f, const char *buf, size_t len, enum ns_format fmt)
{
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, buf, len);
	int rc = ns_read_flows_mem(copy, len, fmt, &f->flows, &f->diag);
	free(copy);
	return rc;
}

static int
flows(struct fx *f, const char *text, enum ns_format fmt)
{
	return flows_buf(f, text, strlen(text), fmt);
}

static int
pkts_buf(struct fx *f, const char *buf, size_t len)
{
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, buf, len);
	int rc = ns_read_pkt_csv_mem(copy, len, &f->pkts, &f->diag);
	free(copy);
	return rc;
}

static int
pkts(struct fx *f, const char *text)
{
	return pkts_buf(f, text, strlen(text));
}

/* The first message names the line and the field (and the value). */
static void
assert_first(const struct ns_diag *d, unsigned line, const char *field,
             const char *value)
{
	char want[64];
	snprintf(want, sizeof(want), "line %u: ", line);
	if (!strstr(d->first, want))
		fail_msg("no '%s' in '%s'", want, d->first);
	if (field) {
		snprintf(want, sizeof(want), "field '%s'", field);
		if (!strstr(d->first, want))
			fail_msg("no '%s' in '%s'", want, d->first);
	}
	if (value && !strstr(d->first, value))
		fail_msg("no '%s' in '%s'", value, d->first);
}

static uint32_t
v4(const uint8_t a[16])
{
	return ns_addr_to_v4(a);
}

static const char *
label(const struct ns_flow_trace *t, size_t i)
{
	uint16_t l = t->v[i].label;
	return l == NS_LABEL_NONE ? "(none)" : t->labels.name[l];
}

#define NETSHARE_HDR "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n"

/* ---- NetShare flows ---- */

/* NetShare rows map onto every record field, labels interned. */
static void
netshare_fields(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       NETSHARE_HDR
	                       "167772161,3232235521,1234,80,TCP,"
	                       "1457000000250000.0,12.340000000000001,17,"
	                       "2048,background\n"
	                       "3232235521,167772161,80,1234,UDP,"
	                       "1457000000250001,0,1,40,blacklist\n",
	                       NS_FMT_NETSHARE_FLOW),
	                 0);
	assert_int_equal(f->flows.n, 2);
	assert_int_equal(f->diag.total, 0);
	const struct ns_flow_record *r = &f->flows.v[0];
	assert_int_equal(v4(r->src_addr), 167772161);
	assert_int_equal(v4(r->dst_addr), 3232235521u);
	assert_int_equal(r->ip_version, 4);
	assert_int_equal(r->src_port, 1234);
	assert_int_equal(r->dst_port, 80);
	assert_int_equal(r->proto, 6);
	assert_int_equal(r->first_ns, 1457000000250000000ull);
	assert_int_equal(r->last_ns - r->first_ns, 12340000000ull);
	assert_int_equal(r->packets, 17);
	assert_int_equal(r->bytes, 2048);
	assert_string_equal(label(&f->flows, 0), "background");
	assert_string_equal(label(&f->flows, 1), "blacklist");
	assert_int_equal(f->flows.v[1].first_ns, 1457000000250001000ull);
	assert_int_equal(f->flows.v[1].proto, 17);
	assert_int_equal(f->flows.labels.n, 2);
}

/* Columns are found by name in any order; type is optional; addresses
 * may be dotted quads or IPv6; protocols names or numbers. */
static void
netshare_any_order(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       "ts,td,srcip,srcport,dstip,dstport,proto,pkt,"
	                       "byt\n"
	                       "1000,0.5,10.0.0.1,1,10.0.0.2,2,47,3,300\n"
	                       "2000,1e-6,2001:db8::1,0,2001:db8::2,0,"
	                       "ipv6-icmp,1,64\n",
	                       NS_FMT_NETSHARE_FLOW),
	                 0);
	assert_int_equal(f->flows.n, 2);
	const struct ns_flow_record *r = &f->flows.v[0];
	assert_int_equal(v4(r->src_addr), 0x0A000001);
	assert_int_equal(v4(r->dst_addr), 0x0A000002);
	assert_int_equal(r->proto, 47);
	assert_int_equal(r->first_ns, 1000000);
	assert_int_equal(r->last_ns, 1000000 + NS / 2);
	assert_int_equal(r->label, NS_LABEL_NONE);
	r = &f->flows.v[1];
	assert_int_equal(r->ip_version, 6);
	assert_int_equal(r->src_addr[0], 0x20);
	assert_int_equal(r->src_addr[15], 1);
	assert_int_equal(r->proto, 58);
	assert_int_equal(r->last_ns - r->first_ns, 1000);
}

/* Generated files hold floats: counts round, µs in exponent form. */
static void
netshare_floats(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       NETSHARE_HDR "1.0,2.0,80.0,443,6,1.458e15,"
	                                    "4e-10,62.5,1.7e3,\n",
	                       NS_FMT_NETSHARE_FLOW),
	                 0);
	assert_int_equal(f->flows.n, 1);
	const struct ns_flow_record *r = &f->flows.v[0];
	assert_int_equal(v4(r->src_addr), 1);
	assert_int_equal(r->src_port, 80);
	assert_int_equal(r->first_ns, 1458000000000000000ull);
	assert_int_equal(r->last_ns - r->first_ns, 0); /* 0.4 ns: 0 */
	assert_int_equal(r->packets, 63);              /* half rounds up */
	assert_int_equal(r->bytes, 1700);
	assert_int_equal(r->label, NS_LABEL_NONE); /* empty type */
}

/* A `label` column serves when there is no `type`. */
static void
netshare_label_column(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       "srcip,dstip,srcport,dstport,proto,ts,td,pkt,"
	                       "byt,label\n1,2,3,4,TCP,5,6,7,8,attack\n",
	                       NS_FMT_NETSHARE_FLOW),
	                 0);
	assert_int_equal(f->flows.n, 1);
	assert_string_equal(label(&f->flows, 0), "attack");
}

/* LANL's anonymised host and port tokens are rejected per row. */
static void
netshare_lanl_tokens(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       "ts,td,srcip,srcport,dstip,dstport,proto,pkt,"
	                       "byt\n"
	                       "1,0,C42,389,C7,N77,6,10,500\n"
	                       "1,0,10.0.0.1,N12,10.0.0.2,N1,6,5,300\n",
	                       NS_FMT_UNKNOWN),
	                 0);
	assert_int_equal(f->flows.n, 0);
	assert_int_equal(ns_diag_count(&f->diag, "bad_field"), 2);
	assert_first(&f->diag, 2, "srcip", "C42");
}

struct bad_case {
	const char *row; /* a NetShare row after the header */
	const char *reason;
	const char *field;
	const char *shown; /* in the message */
};

/* Each bad value is rejected with its reason, line, field and value. */
static void
netshare_rejections(void **state)
{
	static const struct bad_case cases[] = {
	    {"1,2,70000,4,TCP,5,6,7,8,x", "bad_field", "srcport", "too large"},
	    {"1,2,3,4,TCP,5,6,-7,8,x", "bad_field", "pkt", "negative"},
	    {"1,2,3,4,TCP,5,6,7,-8e3,x", "bad_field", "byt", "negative"},
	    {"1,2,3,4,TCP,5,6,7,18446744073709551616,x", "bad_field", "byt",
	     "too large"},
	    {"1,2,3,4,TCP,1e30,6,7,8,x", "bad_field", "ts", "too large"},
	    {"1,2,3,4,TCP,5,1e11,7,8,x", "bad_field", "td", "too large"},
	    {"1,2,3,4,TCP,5,nan,7,8,x", "bad_field", "td", "not a number"},
	    {"1,2,3,4,XTP,5,6,7,8,x", "bad_field", "proto",
	     "unknown protocol"},
	    {"1,2,3,4,arp,5,6,7,8,x", "not_ip", "proto", "'arp'"},
	    {"1,::1,3,4,TCP,5,6,7,8,x", "bad_field", "dstip", "IP version"},
	    {"1,4294967296,3,4,TCP,5,6,7,8,x", "bad_field", "dstip",
	     "not an IP address"},
	    {"1,1.2.3.256,3,4,TCP,5,6,7,8,x", "bad_field", "dstip",
	     "not an IP address"},
	    {"1,2,3.5,4,TCP,5,6,7,8,x", "bad_field", "srcport",
	     "not a whole number"},
	    {",2,3,4,TCP,5,6,7,8,x", "bad_field", "srcip", "empty"},
	    {"1,2,3,4,TCP,5,6,7,8,x,extra", "bad_row", NULL,
	     "11 fields where the header has 10"},
	    {"1,2,3,4,TCP,5,6,7", "bad_row", NULL, "8 fields"},
	    {"1,2,3,4,\"TCP,5,6,7,8,x", "bad_row", NULL,
	     "unbalanced double quotes"},
	    {"1,2,3,4,\"TCP\"x,5,6,7,8,x", "bad_row", NULL,
	     "unbalanced double quotes"},
	    {"1,2,3,4,TCP,5,6,7,8,0123456789012345678901234567890123456789"
	     "0123456789012345678901234567890123456789",
	     "bad_field", "type", "longer than 63 bytes"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct fx *f = *state;
		char text[512];
		snprintf(text, sizeof(text),
		         NETSHARE_HDR "%s\n1,2,3,4,TCP,"
		                      "5,6,7,8,ok\n",
		         cases[i].row);
		ns_flow_trace_free(&f->flows);
		ns_diag_init(&f->diag, "test.csv", "line");
		f->diag.quiet = 1;
		assert_int_equal(flows(f, text, NS_FMT_NETSHARE_FLOW), 0);
		if (f->flows.n != 1 ||
		    ns_diag_count(&f->diag, cases[i].reason) != 1 ||
		    f->diag.total != 1)
			fail_msg("case %zu '%s': %zu kept, '%s'", i,
			         cases[i].row, f->flows.n, f->diag.first);
		assert_first(&f->diag, 2, cases[i].field, cases[i].shown);
	}
}

/* A long bad value is cut in the message, with "..." at the end. */
static void
long_value_truncated(void **state)
{
	struct fx *f = *state;
	size_t n = 100000;
	char *text = malloc(n + 200);
	assert_non_null(text);
	strcpy(text, NETSHARE_HDR);
	size_t h = strlen(text);
	memset(text + h, '7', n);
	strcpy(text + h + n, ",2,3,4,TCP,5,6,7,8,x\n");
	assert_int_equal(flows(f, text, NS_FMT_NETSHARE_FLOW), 0);
	free(text);
	assert_int_equal(f->flows.n, 0);
	assert_int_equal(ns_diag_count(&f->diag, "bad_field"), 1);
	assert_first(&f->diag, 2, "srcip", "777...");
	assert_true(strlen(f->diag.first) < 200);
}

/* A line far too long for any header is one bad_row, no crash. */
static void
huge_line(void **state)
{
	struct fx *f = *state;
	size_t n = 1 << 20;
	char *text = malloc(n + 100);
	assert_non_null(text);
	strcpy(text, NETSHARE_HDR);
	size_t h = strlen(text);
	memset(text + h, ',', n);
	text[h + n] = '\0';
	assert_int_equal(flows(f, text, NS_FMT_NETSHARE_FLOW), 0);
	free(text);
	assert_int_equal(ns_diag_count(&f->diag, "bad_row"), 1);
	assert_first(&f->diag, 2, NULL, "over 256 fields");
}

/* CRLF, a BOM, quotes, blank lines, a lone CR and no final newline. */
static void
netshare_text_quirks(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    flows(f,
	          "\xEF\xBB\xBF\"srcip\",dstip,srcport,dstport,proto,ts,"
	          "td,pkt,byt,type\r\n"
	          "\r\n"
	          "1,2,3,4,\"TCP\",5,6,7,8,\"a \"\"quoted\"\", label\"\r\n"
	          "   \n"
	          "1,2,3,4, UDP ,5,6,7,8, spaced \r"
	          "1,2,3,4,GRE,5,6,7,8,last",
	          NS_FMT_UNKNOWN),
	    0);
	assert_int_equal(f->diag.total, 0);
	assert_int_equal(f->flows.n, 3);
	assert_string_equal(label(&f->flows, 0), "a \"quoted\", label");
	assert_int_equal(f->flows.v[1].proto, 17);
	assert_string_equal(label(&f->flows, 1), "spaced");
	assert_string_equal(label(&f->flows, 2), "last");
}

/* NUL bytes inside a row reject that row, nothing is cut silently. */
static void
nul_bytes(void **state)
{
	struct fx *f = *state;
	static const char text[] = NETSHARE_HDR "1,2,3,4,TCP,5,6,7\0009,8,x\n"
	                                        "1,2\0003,3,4,TCP,5,6,7,8,x\n"
	                                        "1,2,3,4,TCP,5,6,7,8,x\0y\n"
	                                        "1,2,3,4,TCP,5,6,7,8,x\n";
	assert_int_equal(
	    flows_buf(f, text, sizeof(text) - 1, NS_FMT_NETSHARE_FLOW), 0);
	assert_int_equal(f->flows.n, 1);
	assert_int_equal(ns_diag_count(&f->diag, "bad_field"), 3);
	assert_first(&f->diag, 2, "pkt", "7?9");
}

/* A missing column is fatal and names the expected header. */
static void
missing_header(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       "srcip,dstip,srcport,dstport,proto,ts,td,pkt\n"
	                       "1,2,3,4,TCP,5,6,7\n",
	                       NS_FMT_NETSHARE_FLOW),
	                 -1);
	assert_int_equal(ns_diag_count(&f->diag, "missing_header"), 1);
	assert_true(f->diag.failed);
	assert_non_null(strstr(f->diag.first, "'byt'"));
	assert_non_null(strstr(f->diag.first, "srcip,dstip,srcport"));
}

/* A column named twice is fatal. */
static void
duplicate_column(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       "srcip,dstip,srcport,dstport,proto,ts,td,pkt,"
	                       "byt,srcip\n",
	                       NS_FMT_NETSHARE_FLOW),
	                 -1);
	assert_int_equal(ns_diag_count(&f->diag, "bad_header"), 1);
	assert_non_null(strstr(f->diag.first, "'srcip' appears twice"));
}

/* Empty input, blank input and unknown headers are fatal errors. */
static void
empty_and_unknown(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f, "", NS_FMT_NETSHARE_FLOW), -1);
	assert_int_equal(ns_diag_count(&f->diag, "missing_header"), 1);
	assert_int_equal(flows(f, "\n\r\n", NS_FMT_ARGUS), -1);
	assert_int_equal(ns_diag_count(&f->diag, "missing_header"), 2);
	assert_int_equal(flows(f, "a,b,c\n1,2,3\n", NS_FMT_UNKNOWN), -1);
	assert_int_equal(ns_diag_count(&f->diag, "unknown_format"), 1);
	assert_int_equal(flows(f, "", NS_FMT_UNKNOWN), -1);
	assert_int_equal(flows(f,
	                       "srcip,dstip,srcport,dstport,proto,time,"
	                       "pkt_len\n",
	                       NS_FMT_UNKNOWN),
	                 -1);
	assert_int_equal(ns_diag_count(&f->diag, "wrong_format"), 1);
	assert_int_equal(
	    ns_read_flows_mem(NULL, 0, NS_FMT_UNKNOWN, &f->flows, NULL), -1);
	assert_int_equal(f->flows.n, 0);
}

/* Strict mode stops at the first bad row and keeps the rows before. */
static void
strict_stops(void **state)
{
	struct fx *f = *state;
	f->diag.strict = 1;
	assert_int_equal(flows(f,
	                       NETSHARE_HDR "1,2,3,4,TCP,5,6,7,8,x\n"
	                                    "1,2,3,4,TCP,5,6,bad,8,x\n"
	                                    "1,2,3,4,TCP,5,6,7,8,\n",
	                       NS_FMT_NETSHARE_FLOW),
	                 -1);
	assert_int_equal(f->flows.n, 1);
	assert_int_equal(f->diag.total, 1);
	assert_true(f->diag.failed);
	assert_first(&f->diag, 3, "pkt", "bad");
}

/* Strict mode also stops at a row with the wrong field count. */
static void
strict_stops_bad_row(void **state)
{
	struct fx *f = *state;
	f->diag.strict = 1;
	assert_int_equal(flows(f, NETSHARE_HDR "1,2\n1,2,3,4,TCP,5,6,7,8,x\n",
	                       NS_FMT_NETSHARE_FLOW),
	                 -1);
	assert_int_equal(f->flows.n, 0);
	assert_int_equal(ns_diag_count(&f->diag, "bad_row"), 1);
}

/* The first line tells every format apart. */
static void
sniffing(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		enum ns_format fmt;
	} cases[] = {
	    {NETSHARE_HDR, NS_FMT_NETSHARE_FLOW},
	    {"\xEF\xBB\xBF\r\n" NETSHARE_HDR, NS_FMT_NETSHARE_FLOW},
	    {"ts,te,td,sa,da,sp,dp,pr,flg,fwd\n", NS_FMT_NFDUMP_CSV},
	    {"#separator \\x09\n#fields\tts\n", NS_FMT_ZEEK_CONN},
	    {"StartTime\tDur\tProto\tSrcAddr\n", NS_FMT_ARGUS},
	    {"srcip,dstip,time,pkt_len\n", NS_FMT_NETSHARE_PKT},
	    {"hello\n", NS_FMT_UNKNOWN},
	    {"", NS_FMT_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		assert_int_equal(
		    ns_format_from_text(cases[i].text, strlen(cases[i].text)),
		    cases[i].fmt);
	/* the sniffer stops at len: no NUL needed */
	assert_int_equal(ns_format_from_text("srcip,byt", 5), NS_FMT_UNKNOWN);
}

/* ---- nfdump ---- */

#define NFDUMP_HDR                                                            \
	"ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out\n"

/* nfdump rows: UTC times with ms, flag strings of 8 or 6 letters, tos,
 * IPv6, and "in" counts. */
static void
nfdump_fields(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    flows(f,
	          NFDUMP_HDR
	          "2018-01-12 15:37:30,2018-01-12 15:37:30,0.000,"
	          "10.1.0.7,10.2.0.9,40000,445,TCP,......S.,0,0,"
	          "1,60,0,0,0,0\n"
	          "2018-01-12 15:37:30.250,2018-01-12 15:37:31.500,1.250,"
	          "10.2.0.9,10.1.0.7,445,40000,TCP,...A.R..,0,16,"
	          "2,80,0,0,0,0\n"
	          "2024-02-29 23:59:59,2024-02-29 23:59:59, 0.000,"
	          "2001:db8::1,2001:db8::2,53,5353,UDP,.AP.SF,0,0,1,90,0,"
	          "0,0,0\n"
	          "2018-01-12 15:37:30,2018-01-12 15:37:30,0.000,"
	          "10.0.0.1,10.0.0.2,1,2,TCP,0x12,0,0,1,60,0,0,0,0\n",
	          NS_FMT_UNKNOWN),
	    0);
	assert_int_equal(f->diag.total, 0);
	assert_int_equal(f->flows.n, 4);
	const struct ns_flow_record *r = &f->flows.v[0];
	assert_int_equal(r->first_ns, 1515771450 * NS);
	assert_int_equal(r->last_ns, r->first_ns);
	assert_int_equal(r->tcp_flags, 0x02);
	assert_int_equal(r->packets, 1);
	assert_int_equal(r->bytes, 60);
	assert_int_equal(r->src_port, 40000);
	assert_int_equal(r->dst_port, 445);
	r = &f->flows.v[1];
	assert_int_equal(r->first_ns, 1515771450 * NS + 250000000);
	assert_int_equal(r->last_ns, 1515771451 * NS + 500000000);
	assert_int_equal(r->tcp_flags, 0x14); /* ACK RST */
	assert_int_equal(r->tos, 16);
	r = &f->flows.v[2];
	assert_int_equal(r->first_ns, 1709251199 * NS);
	assert_int_equal(r->ip_version, 6);
	assert_int_equal(r->tcp_flags, 0x1B); /* ACK PSH SYN FIN */
	assert_int_equal(f->flows.v[3].tcp_flags, 0x12);
	assert_int_equal(r->label, NS_LABEL_NONE);
}

/* nfdump's ICMP type and code come from dp, as "t.c" or t*256+c. */
static void
nfdump_icmp(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       NFDUMP_HDR
	                       "2018-01-12 15:37:30,2018-01-12 15:37:30,0,1.1."
	                       "1.1,2.2.2.2,0,3.1,ICMP,........,0,0,1,56,0,0,"
	                       "0,0\n"
	                       "2018-01-12 15:37:30,2018-01-12 15:37:30,0,1.1."
	                       "1.1,2.2.2.2,0,2048,ICMP,........,0,0,1,56,0,0,"
	                       "0,0\n"
	                       "2018-01-12 15:37:30,2018-01-12 15:37:30,0,1.1."
	                       "1.1,2.2.2.2,0,3.300,ICMP,........,0,0,1,56,0,"
	                       "0,0,0\n",
	                       NS_FMT_NFDUMP_CSV),
	                 0);
	assert_int_equal(f->flows.n, 2);
	assert_int_equal(f->flows.v[0].src_port, 3);
	assert_int_equal(f->flows.v[0].dst_port, 1);
	assert_int_equal(f->flows.v[1].src_port, 8);
	assert_int_equal(f->flows.v[1].dst_port, 0);
	assert_int_equal(ns_diag_count(&f->diag, "bad_field"), 1);
	assert_first(&f->diag, 4, "dp", "ICMP type.code");
}

/* nfdump's Summary block is passed over; other text is counted. */
static void
nfdump_trailer(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       NFDUMP_HDR
	                       "2018-01-12 15:37:30,2018-01-12 15:37:30,0,1.1."
	                       "1.1,2.2.2.2,1,2,TCP,......S.,0,0,1,60,0,0,0,"
	                       "0\n\n"
	                       "Summary\n"
	                       "flows,bytes,packets,avg_bps,avg_pps,avg_bpp\n"
	                       "1,60,1,0,0,60\n"
	                       "Time window: 2018-01-12 15:37:30 - 2018-01-12 "
	                       "15:37:30\n"
	                       "Total flows processed: 1, Blocks skipped: 0\n"
	                       "Sys: 0.001s flows/second: 1000.0\n",
	                       NS_FMT_NFDUMP_CSV),
	                 0);
	assert_int_equal(f->flows.n, 1);
	assert_int_equal(f->diag.total, 0);
	/* a "Summary" line that is not nfdump's trailer is a bad row */
	assert_int_equal(flows(f, NFDUMP_HDR "Summary\nsomething else\n",
	                       NS_FMT_NFDUMP_CSV),
	                 0);
	assert_int_equal(ns_diag_count(&f->diag, "bad_row"), 2);
	assert_first(&f->diag, 2, NULL, "Summary");
}

/* Impossible dates, te before ts and unknown flag letters are rejected. */
static void
nfdump_rejections(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    flows(f,
	          NFDUMP_HDR
	          "2018-13-12 15:37:30,2018-01-12 15:37:30,0,1.1.1.1,"
	          "2.2.2.2,1,2,TCP,......S.,0,0,1,60,0,0,0,0\n"
	          "2018-01-12 15:37:30,2018-01-12 15:37:29,0,1.1.1.1,"
	          "2.2.2.2,1,2,TCP,......S.,0,0,1,60,0,0,0,0\n"
	          "2018-01-12 15:37:30,2018-01-12 15:37:30,0,1.1.1.1,"
	          "2.2.2.2,1,2,TCP,......X.,0,0,1,60,0,0,0,0\n"
	          "2019-02-29 00:00:00,2019-02-29 00:00:00,0,1.1.1.1,"
	          "2.2.2.2,1,2,TCP,......S.,0,0,1,60,0,0,0,0\n"
	          "1969-12-31 23:59:59,1970-01-01 00:00:00,0,1.1.1.1,"
	          "2.2.2.2,1,2,TCP,......S.,0,0,1,60,0,0,0,0\n"
	          "2018-01-12 15:37,2018-01-12 15:37:30,0,1.1.1.1,"
	          "2.2.2.2,1,2,TCP,......S.,0,0,1,60,0,0,0,0\n"
	          "2018-01-12 15:37:30,2018-01-12 15:37:30,0,1.1.1.1,"
	          "2.2.2.2,1,2,TCP,......S.,0,256,1,60,0,0,0,0\n",
	          NS_FMT_NFDUMP_CSV),
	    0);
	assert_int_equal(f->flows.n, 0);
	assert_int_equal(ns_diag_count(&f->diag, "bad_field"), 7);
	assert_first(&f->diag, 2, "ts", "impossible date");
}

/* ---- Zeek ---- */

#define ZEEK_HEAD                                                             \
	"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n"        \
	"#unset_field\t-\n#path\tconn\n#open\t2020-01-01-00-00-00\n"

/* Zeek rows: epoch seconds, '-' for no duration, both directions summed,
 * "icmp" over IPv6 read as ICMPv6, and the label column. */
static void
zeek_fields(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    flows(f,
	          ZEEK_HEAD
	          "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\t"
	          "id.resp_p\tproto\tservice\tduration\torig_bytes\t"
	          "resp_bytes\tconn_state\torig_pkts\torig_ip_bytes\t"
	          "resp_pkts\tresp_ip_bytes\tlabel\n"
	          "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\t"
	          "string\tinterval\tcount\tcount\tstring\tcount\tcount\t"
	          "count\tcount\tstring\n"
	          "1540000000.250001\tCabc\t192.168.1.2\t50000\t"
	          "10.1.2.3\t123\tudp\t-\t0.5\t48\t48\tSF\t1\t70\t1\t"
	          "82\tbenign\n"
	          "1540000001\tCdef\tfe80::1\t135\tff02::1\t0\ticmp\t-\t-\t"
	          "-\t-\tOTH\t1\t72\t-\t-\t-\n"
	          "#close\t2020-01-01-00-00-00\n",
	          NS_FMT_UNKNOWN),
	    0);
	assert_int_equal(f->diag.total, 0);
	assert_int_equal(f->flows.n, 2);
	const struct ns_flow_record *r = &f->flows.v[0];
	assert_int_equal(r->first_ns, 1540000000250001000ull);
	assert_int_equal(r->last_ns - r->first_ns, NS / 2);
	assert_int_equal(r->packets, 2);
	assert_int_equal(r->bytes, 152);
	assert_int_equal(r->proto, 17);
	assert_int_equal(r->src_port, 50000);
	assert_string_equal(label(&f->flows, 0), "benign");
	r = &f->flows.v[1];
	assert_int_equal(r->proto, 58);
	assert_int_equal(r->last_ns, r->first_ns);
	assert_int_equal(r->packets, 1);
	assert_int_equal(r->bytes, 72);
	assert_int_equal(r->label, NS_LABEL_NONE);
}

/* IoT-23: the last 3 names and values are split by 3 spaces, not tabs. */
static void
zeek_iot23_spaces(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    flows(f,
	          ZEEK_HEAD
	          "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\t"
	          "id.resp_p\tproto\tduration\torig_pkts\torig_ip_bytes\t"
	          "resp_pkts\tresp_ip_bytes\ttunnel_parents   label   "
	          "detailed-label\n"
	          "1.5\tC1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t1\t3\t120\t2\t"
	          "80\t-   Malicious   PartOfAHorizontalPortScan\n"
	          "2.5\tC2\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t1\t3\t120\t2\t"
	          "80\t-   benign   -\n"
	          "3.5\tC3\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t1\t3\t120\t2\t"
	          "80\t-   benign\n"
	          "#close\t2020-01-01-00-00-00   benign   -\n",
	          NS_FMT_ZEEK_CONN),
	    0);
	assert_int_equal(f->flows.n, 2);
	assert_string_equal(label(&f->flows, 0), "Malicious");
	assert_string_equal(label(&f->flows, 1), "benign");
	assert_int_equal(f->flows.v[0].packets, 5);
	assert_int_equal(f->flows.v[0].bytes, 200);
	assert_int_equal(ns_diag_count(&f->diag, "bad_row"), 1);
	assert_first(&f->diag, 10, NULL, "14 fields where the header has 15");
}

/* A record before #fields, or no #fields at all, is fatal. */
static void
zeek_missing_fields(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    flows(f, ZEEK_HEAD "1.0\tC\t1.1.1.1\n", NS_FMT_ZEEK_CONN), -1);
	assert_int_equal(ns_diag_count(&f->diag, "missing_header"), 1);
	assert_non_null(strstr(f->diag.first, "line 7"));
	assert_int_equal(flows(f, ZEEK_HEAD, NS_FMT_ZEEK_CONN), -1);
	assert_int_equal(ns_diag_count(&f->diag, "missing_header"), 2);
	assert_int_equal(flows(f, "#fields\tts\tproto\n", NS_FMT_ZEEK_CONN),
	                 -1);
	assert_int_equal(ns_diag_count(&f->diag, "missing_header"), 3);
}

/* Space-split names or values past 256 columns are an error, not an
 * overflow. */
static void
zeek_too_many_columns(void **state)
{
	struct fx *f = *state;
	char text[4096] = "#fields";
	for (int i = 0; i < 254; i++)
		strcat(text, "\tx");
	strcat(text, "\tlabel   ts\n"); /* 255 + 2 names */
	assert_int_equal(flows(f, text, NS_FMT_ZEEK_CONN), -1);
	assert_int_equal(ns_diag_count(&f->diag, "bad_header"), 1);
	strcpy(text, "#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\t"
	             "id.resp_p\tproto\tduration\torig_pkts\torig_ip_bytes\t"
	             "resp_pkts\tresp_ip_bytes\n1");
	for (int i = 0; i < 256; i++)
		strcat(text, "   1"); /* 257 values */
	strcat(text, "\n");
	assert_int_equal(flows(f, text, NS_FMT_ZEEK_CONN), 0);
	assert_int_equal(ns_diag_count(&f->diag, "bad_row"), 1);
	assert_int_equal(f->flows.n, 0);
}

/* Zeek's bad values are rejected like any other. */
static void
zeek_rejections(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    flows(f,
	          "#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\t"
	          "id.resp_p\tproto\tduration\torig_pkts\torig_ip_bytes\t"
	          "resp_pkts\tresp_ip_bytes\n"
	          "-\t1.1.1.1\t1\t2.2.2.2\t2\ttcp\t1\t1\t1\t1\t1\n"
	          "1\t1.1.1.1\t1\t2.2.2.2\t2\tunknown_transport\t1\t1\t1\t"
	          "1\t1\n"
	          "1\t1.1.1.1\t1\t2.2.2.2\t2\ttcp\t1\t1\t1\t1\t-1\n"
	          "1\t1.1.1.1\t1\t2.2.2.2\t2\ttcp\t1\t1\t1\t1\t1\n",
	          NS_FMT_ZEEK_CONN),
	    0);
	assert_int_equal(f->flows.n, 1);
	assert_int_equal(ns_diag_count(&f->diag, "bad_field"), 3);
	assert_first(&f->diag, 2, "ts", "'-'");
}

/* ---- Argus ---- */

#define ARGUS_HDR                                                             \
	"StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,"     \
	"dTos,TotPkts,TotBytes,SrcBytes,Label\n"

/* Argus rows: UTC times with µs, hex and empty ports, empty tos. */
static void
argus_fields(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    flows(f,
	          ARGUS_HDR
	          "2018/09/27 22:40:52.362768,12.5,tcp,10.0.0.1,"
	          "50001,  <?>,10.0.0.2,22,CON,16,16,30,3000,1000,\n"
	          "2018/09/27 22:40:52.5,0.5,icmp,10.0.0.3,0x0303,   ->,"
	          "10.0.0.4,0x0ecc,URP,,,1,100,100,flow=Background\n"
	          "2018/09/27 22:40:53,0,ipv6-icmp,fe80::1,135,   ->,"
	          "ff02::1,0,NNS,0,,1,70,70,flow=Background\n",
	          NS_FMT_UNKNOWN),
	    0);
	assert_int_equal(f->diag.total, 0);
	assert_int_equal(f->flows.n, 3);
	const struct ns_flow_record *r = &f->flows.v[0];
	assert_int_equal(r->first_ns, 1538088052 * NS + 362768000);
	assert_int_equal(r->last_ns - r->first_ns, 12500000000ull);
	assert_int_equal(r->tos, 16);
	assert_int_equal(r->packets, 30);
	assert_int_equal(r->bytes, 3000);
	assert_int_equal(r->label, NS_LABEL_NONE);
	r = &f->flows.v[1];
	assert_int_equal(r->src_port, 0x0303);
	assert_int_equal(r->dst_port, 0x0ecc);
	assert_int_equal(r->proto, 1);
	assert_string_equal(label(&f->flows, 1), "flow=Background");
	assert_int_equal(f->flows.v[2].proto, 58);
	assert_int_equal(f->flows.v[2].ip_version, 6);
}

/* Tab-separated Argus with SrcPkts: man, llc and arp rows and MAC
 * addresses are "not_ip"; 1970 times and empty ports are kept. */
static void
argus_tab_not_ip(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    flows(f,
	          "StartTime\tDur\tProto\tSrcAddr\tSport\tDir\tDstAddr\t"
	          "Dport\tState\tsTos\tdTos\tTotPkts\tTotBytes\tSrcBytes\t"
	          "SrcPkts\tLabel\n"
	          "2018/05/10 10:00:00.000001\t0.5\tman\t0\t0\t\t0\t"
	          "0\tSTA\t\t\t0\t0\t0\t0\t\n"
	          "1970/01/01 01:00:00.000000\t0.000000\tllc\t"
	          "00:00:00:00:00:00\t0\t   ->\t00:00:00:00:00:00\t0\tINT\t"
	          "\t\t1\t60\t60\t1\tflow=Background\n"
	          "1970/01/01 01:00:09.000001\t30.5\tarp\t10.0.9.1"
	          "\t\t  who\t10.0.9.2\t\tCON\t\t\t4\t240\t120\t2\t"
	          "flow=Background-ARP\n"
	          "1970/01/01 01:00:08.250000\t0.000000\tudp\t0.0.0.0\t68\t"
	          "   ->\t255.255.255.255\t67\tINT\t0\t\t1\t300\t300\t1\t"
	          "flow=Background-UDP-Attempt\n"
	          "1970/01/01 01:00:08\t0\t6\taa:bb:cc:dd:ee:ff\t\t->\t"
	          "10.0.0.1\t\tINT\t\t\t1\t1\t1\t1\t\n"
	          "1970/01/01 01:00:08\t0\tudp\t10.0.0.1\t\t->\t10.0.0.2\t"
	          "\tINT\t\t\t1\t1\t1\t1\t\n",
	          NS_FMT_ARGUS),
	    0);
	assert_int_equal(f->flows.n, 2);
	assert_int_equal(ns_diag_count(&f->diag, "not_ip"), 4);
	assert_int_equal(f->diag.total, 4);
	assert_first(&f->diag, 2, "Proto", "'man'");
	const struct ns_flow_record *r = &f->flows.v[0];
	assert_int_equal(r->first_ns, 3608 * NS + 250000000);
	assert_int_equal(r->src_port, 68);
	assert_int_equal(f->flows.v[1].src_port, 0);
}

/* Argus written with epoch seconds (ra -u) reads too. */
static void
argus_epoch(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       ARGUS_HDR "1538088052.362768,1,udp,1.1.1.1,1,"
	                                 "->,2.2.2.2,2,CON,0,0,1,1,1,x\n",
	                       NS_FMT_ARGUS),
	                 0);
	assert_int_equal(f->flows.n, 1);
	assert_int_equal(f->flows.v[0].first_ns, 1538088052362768000ull);
}

/* ---- NetShare packets ---- */

#define PKT_HDR                                                               \
	"srcip,dstip,srcport,dstport,proto,time,pkt_len,version,ihl,tos,id,"  \
	"flag,off,ttl,chksum\n"

/* The textbook header 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8
 * 00c7 verifies; each field lands in its place. */
static void
pkt_fields(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pkts(f, PKT_HDR "3232235521,3232235719,53,5353,UDP,"
	                                 "1600000000123456,115,4,5,0,0,2,0,64,"
	                                 "47201\n"
	                                 "3232235521,3232235719,53,5353,UDP,"
	                                 "1600000000123457.5,115,4,5,0,0,2,0,"
	                                 "64,47200\n"
	                                 "1.2.3.4,5.6.7.8,0,0,TCP,1,40,4,5,"
	                                 "184,77,1,185,3,0\n"),
	                 0);
	assert_int_equal(f->diag.total, 0);
	assert_int_equal(f->pkts.n, 3);
	const struct ns_pkt_record *r = &f->pkts.v[0];
	assert_int_equal(r->ts_ns, 1600000000123456000ull);
	assert_int_equal(v4(r->src_addr), 3232235521u);
	assert_int_equal(v4(r->dst_addr), 3232235719u);
	assert_int_equal(r->src_port, 53);
	assert_int_equal(r->dst_port, 5353);
	assert_int_equal(r->proto, 17);
	assert_int_equal(r->ip_len, 115);
	assert_int_equal(r->ip_version, 4);
	assert_int_equal(r->ip_frag, NS_FRAG_DF);
	assert_int_equal(r->ttl, 64);
	assert_int_equal(r->flags, NS_PKT_HAS_L4);
	assert_int_equal(f->pkts.v[1].ts_ns, 1600000000123457500ull);
	assert_int_equal(f->pkts.v[1].flags, NS_PKT_HAS_L4 | NS_PKT_BAD_CSUM);
	r = &f->pkts.v[2];
	assert_int_equal(r->tos, 184);
	assert_int_equal(r->ip_id, 77);
	assert_int_equal(r->ip_frag, NS_FRAG_MF | 185);
	/* a later fragment has no ports to read */
	assert_true(r->flags & NS_PKT_FRAGMENT);
	assert_false(r->flags & NS_PKT_HAS_L4);
}

/* IPv6 packets misread as IPv4 (version 6, ihl 0, IPv4-form addresses)
 * are rejected as not_ipv4, naming the line and ihl. */
static void
pkt_misread_ipv6(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pkts(f, PKT_HDR "1,2,3,4,TCP,5,40,4,5,0,0,0,0,64,0\n"
	                                 "167772161,0,7000,51000,TCP,6,0,6,0,"
	                                 "0,100,0,4400,211,1234\n"
	                                 "167772161,0,7000,51000,TCP,6,0,6,5,"
	                                 "0,100,0,4400,211,1234\n"),
	                 0);
	assert_int_equal(f->pkts.n, 1);
	assert_int_equal(ns_diag_count(&f->diag, "not_ipv4"), 2);
	assert_first(&f->diag, 3, "ihl", "ihl 0 is impossible for IPv4");
}

/* Other bad packet rows: each reason, line and field. */
static void
pkt_rejections(void **state)
{
	static const struct bad_case cases[] = {
	    {"1,2,3,4,TCP,5,40,5,5,0,0,0,0,64,0", "bad_field", "version",
	     "not 4 or 6"},
	    {"1,2,3,4,TCP,5,40,4,3,0,0,0,0,64,0", "bad_field", "ihl",
	     "below 5"},
	    {"1,2,3,4,TCP,5,40,4,16,0,0,0,0,64,0", "bad_field", "ihl",
	     "too large"},
	    {"1,::2,3,4,TCP,5,40,4,5,0,0,0,0,64,0", "bad_field", "dstip",
	     "not IPv4"},
	    {"1,2,3,4,TCP,5,70000,4,5,0,0,0,0,64,0", "bad_field", "pkt_len",
	     "too large"},
	    {"1,2,3,4,TCP,5,40,4,5,0,0,8,0,64,0", "bad_field", "flag",
	     "too large"},
	    {"1,2,3,4,TCP,5,40,4,5,0,0,0,8192,64,0", "bad_field", "off",
	     "too large"},
	    {"1,2,3,4,TCP,5,40,4,5,0,0,0,0,256,0", "bad_field", "ttl",
	     "too large"},
	    {"1,2,3,4,TCP,-5,40,4,5,0,0,0,0,64,0", "bad_field", "time",
	     "negative"},
	    {"1,2,3,4,FOO,5,40,4,5,0,0,0,0,64,0", "bad_field", "proto",
	     "unknown protocol"},
	    {"1,2,3,4,TCP,5,40,4,5,0,0,0,0,64,65536", "bad_field", "chksum",
	     "too large"},
	    {"1,2,3,4,TCP,5,40,4,5,0,0,0,0,64", "bad_row", NULL, "14 fields"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct fx *f = *state;
		char text[512];
		snprintf(text, sizeof(text), PKT_HDR "%s\n", cases[i].row);
		ns_pkt_trace_free(&f->pkts);
		ns_diag_init(&f->diag, "test.csv", "line");
		f->diag.quiet = 1;
		assert_int_equal(pkts(f, text), 0);
		if (f->pkts.n != 0 ||
		    ns_diag_count(&f->diag, cases[i].reason) != 1)
			fail_msg("case %zu '%s': '%s'", i, cases[i].row,
			         f->diag.first);
		assert_first(&f->diag, 2, cases[i].field, cases[i].shown);
	}
}

/* IPv6 rows with text addresses are kept; chksum may be absent; the
 * columns may come in any order. */
static void
pkt_ipv6_no_chksum(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pkts(f, "time,srcip,dstip,srcport,dstport,proto,"
	                         "pkt_len,version,ihl,tos,id,flag,off,ttl\r\n"
	                         "7,2001:db8::1,2001:db8::2,1,2,17,60,6,0,0,"
	                         "0,0,0,64\r\n"
	                         "8,1,2,1,2,ICMP,28,4,5,0,0,0,0,64\r\n"),
	                 0);
	assert_int_equal(f->diag.total, 0);
	assert_int_equal(f->pkts.n, 2);
	assert_int_equal(f->pkts.v[0].ip_version, 6);
	assert_int_equal(f->pkts.v[0].ts_ns, 7000);
	assert_int_equal(f->pkts.v[0].flags, NS_PKT_HAS_L4);
	assert_int_equal(f->pkts.v[1].proto, 1);
	assert_int_equal(f->pkts.v[1].flags, 0);
}

/* Packet CSV: strict mode stops; a missing column is fatal. */
static void
pkt_strict_and_header(void **state)
{
	struct fx *f = *state;
	f->diag.strict = 1;
	assert_int_equal(pkts(f,
	                      PKT_HDR "1,2,3,4,TCP,5,40,4,5,0,0,0,0,64,0\n"
	                              "1,2,3,4,TCP,5,40,9,5,0,0,0,0,64,0\n"
	                              "1,2,3,4,TCP,5,40,4,5,0,0,0,0,64,0\n"),
	                 -1);
	assert_int_equal(f->pkts.n, 1);
	assert_int_equal(f->diag.total, 1);
	ns_diag_init(&f->diag, "test.csv", "line");
	f->diag.quiet = 1;
	assert_int_equal(pkts(f, "srcip,dstip,srcport,dstport,proto,time\n"),
	                 -1);
	assert_int_equal(ns_diag_count(&f->diag, "missing_header"), 1);
	assert_non_null(strstr(f->diag.first, "pkt_len"));
	assert_int_equal(pkts(f, ""), -1);
	assert_int_equal(ns_read_pkt_csv_mem(NULL, 0, &f->pkts, NULL), -1);
}

/* ---- writers ---- */

static char *
flow_text(const struct ns_flow_trace *t)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	assert_non_null(m);
	assert_int_equal(ns_fprint_flow_csv(m, t), 0);
	fclose(m);
	return text;
}

static char *
pkt_text(const struct ns_pkt_trace *t)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	assert_non_null(m);
	assert_int_equal(ns_fprint_pkt_csv(m, t), 0);
	fclose(m);
	return text;
}

/* The flow writer's exact text: uint32 IPv4, IPv6 text, protocol names
 * or numbers, µs, exact seconds and quoted labels. */
static void
flow_writer_text(void **state)
{
	struct fx *f = *state;
	struct ns_flow_record r = {0};
	ns_addr_from_v4(r.src_addr, 167772161);
	ns_addr_from_v4(r.dst_addr, 3232235521u);
	r.ip_version = 4;
	r.src_port = 1;
	r.dst_port = 2;
	r.proto = 47;
	r.first_ns = 1457000000250000000ull;
	r.last_ns = r.first_ns + 12340000000ull;
	r.packets = 62;
	r.bytes = 1736;
	r.label = ns_label_intern(&f->flows.labels, "background", 10);
	assert_int_equal(ns_flow_trace_push(&f->flows, &r), 0);
	r.ip_version = 6;
	memset(r.src_addr, 0, 16);
	r.src_addr[0] = 0x20;
	r.src_addr[1] = 0x01;
	r.src_addr[15] = 1;
	memcpy(r.dst_addr, r.src_addr, 16);
	r.proto = 200;
	r.last_ns = r.first_ns + 1;
	r.label = ns_label_intern(&f->flows.labels, "a,\"b\"", 5);
	assert_int_equal(ns_flow_trace_push(&f->flows, &r), 0);
	r.label = NS_LABEL_NONE;
	assert_int_equal(ns_flow_trace_push(&f->flows, &r), 0);
	char *text = flow_text(&f->flows);
	assert_string_equal(text, NETSHARE_HDR
	                    "167772161,3232235521,1,2,GRE,1457000000250000,"
	                    "12.340000,62,1736,background\n"
	                    "2001::1,2001::1,1,2,200,1457000000250000,"
	                    "0.000000001,62,1736,\"a,\"\"b\"\"\"\n"
	                    "2001::1,2001::1,1,2,200,1457000000250000,"
	                    "0.000000001,62,1736,\n");
	free(text);
}

static void
assert_same_flows(const struct ns_flow_trace *a, const struct ns_flow_trace *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct ns_flow_record *x = &a->v[i], *y = &b->v[i];
		assert_int_equal(x->first_ns, y->first_ns);
		assert_int_equal(x->last_ns, y->last_ns);
		assert_memory_equal(x->src_addr, y->src_addr, 16);
		assert_memory_equal(x->dst_addr, y->dst_addr, 16);
		assert_int_equal(x->src_port, y->src_port);
		assert_int_equal(x->dst_port, y->dst_port);
		assert_int_equal(x->proto, y->proto);
		assert_int_equal(x->ip_version, y->ip_version);
		assert_int_equal(x->packets, y->packets);
		assert_int_equal(x->bytes, y->bytes);
		assert_string_equal(label(a, i), label(b, i));
	}
}

/* Flows read from every format survive a NetShare write and read. */
static void
flow_round_trip(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flows(f,
	                       NETSHARE_HDR
	                       "4294967295,0,65535,0,ESP,1457000000250000,"
	                       "12.34,18446744073709551615,1,x y\n"
	                       "::ffff:1.2.3.4,::,1,2,IPv6,1,0.000001,2,3,"
	                       " q \n",
	                       NS_FMT_NETSHARE_FLOW),
	                 0);
	assert_int_equal(
	    flows(f,
	          "#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\t"
	          "id.resp_p\tproto\tduration\torig_pkts\t"
	          "orig_ip_bytes\tresp_pkts\tresp_ip_bytes\tlabel\n"
	          "1540000000.123456\t1.1.1.1\t1\t2.2.2.2\t2\t"
	          "icmp\t0.123456789\t1\t2\t3\t4\tMal,ici\"ous\n",
	          NS_FMT_ZEEK_CONN),
	    0);
	assert_int_equal(f->diag.total, 0);
	assert_int_equal(f->flows.n, 3);
	char *text = flow_text(&f->flows);
	struct ns_flow_trace back = {0};
	assert_int_equal(ns_read_flows_mem(text, strlen(text), NS_FMT_UNKNOWN,
	                                   &back, &f->diag),
	                 0);
	free(text);
	assert_int_equal(f->diag.total, 0);
	assert_same_flows(&f->flows, &back);
	ns_flow_trace_free(&back);
}

/* The packet writer's text, its IPv4 checksum and the textbook one. */
static void
pkt_writer_text(void **state)
{
	struct fx *f = *state;
	struct ns_pkt_record r = {0};
	r.ts_ns = 1600000000123456999ull;
	ns_addr_from_v4(r.src_addr, 3232235521u);
	ns_addr_from_v4(r.dst_addr, 3232235719u);
	r.src_port = 53;
	r.dst_port = 5353;
	r.proto = 17;
	r.ip_len = 115;
	r.ip_frag = NS_FRAG_DF;
	r.ttl = 64;
	r.ip_version = 4;
	assert_int_equal(ns_pkt_trace_push(&f->pkts, &r), 0);
	r.ip_version = 6;
	r.src_addr[0] = 0xfe;
	r.src_addr[1] = 0x80;
	r.proto = 58;
	r.ip_id = 70000;
	r.ip_frag = NS_FRAG_MF | 3;
	assert_int_equal(ns_pkt_trace_push(&f->pkts, &r), 0);
	char *text = pkt_text(&f->pkts);
	assert_string_equal(text, PKT_HDR
	                    "3232235521,3232235719,53,5353,UDP,"
	                    "1600000000123456,115,4,5,0,0,2,0,64,47201\n"
	                    "fe80:1::,c0a8:c7::,53,5353,ICMP6,"
	                    "1600000000123456,115,6,0,0,70000,1,3,64,0\n");
	free(text);
}

/* Packets survive a write and a read, IPv6 and fragments included. */
static void
pkt_round_trip(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pkts(f, PKT_HDR "3232235521,3232235719,53,5353,UDP,"
	                                 "1600000000123456,115,4,5,0,0,2,0,64,"
	                                 "47201\n"
	                                 "1,2,0,0,47,1,1500,4,5,255,65535,1,"
	                                 "8191,255,0\n"
	                                 "fe80::1,ff02::1,1,2,58,9,60,6,0,0,"
	                                 "4294967295,0,0,1,0\n"),
	                 0);
	assert_int_equal(f->pkts.n, 3);
	char *text = pkt_text(&f->pkts);
	struct ns_pkt_trace back = {0};
	assert_int_equal(
	    ns_read_pkt_csv_mem(text, strlen(text), &back, &f->diag), 0);
	free(text);
	assert_int_equal(back.n, 3);
	/* the second row's checksum was wrong: the writer recomputes it */
	f->pkts.v[1].flags &= (uint8_t)~NS_PKT_BAD_CSUM;
	assert_memory_equal(back.v, f->pkts.v, 3 * sizeof(*back.v));
	ns_pkt_trace_free(&back);
}

static void
make_dir(struct fx *f)
{
	strcpy(f->dir, "/tmp/ns_test_csv.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
}

/* Names in the folder (no . and ..). */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* File writers replace the target whole and leave no temp file. */
static void
atomic_write(void **state)
{
	struct fx *f = *state;
	make_dir(f);
	char path[128];
	snprintf(path, sizeof(path), "%s/flows.csv", f->dir);
	FILE *old = fopen(path, "w");
	assert_non_null(old);
	fputs("old content that is longer than the new one\n", old);
	fclose(old);
	assert_int_equal(flows(f, NETSHARE_HDR "1,2,3,4,TCP,5,6,7,8,x\n",
	                       NS_FMT_NETSHARE_FLOW),
	                 0);
	assert_int_equal(ns_write_flow_csv(path, &f->flows), 0);
	assert_int_equal(count_entries(f->dir), 1);
	struct ns_flow_trace back = {0};
	assert_int_equal(ns_read_flows(path, NS_FMT_UNKNOWN, &back, &f->diag),
	                 0);
	assert_same_flows(&f->flows, &back);
	ns_flow_trace_free(&back);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	unlink(path);

	snprintf(path, sizeof(path), "%s/pkts.csv", f->dir);
	assert_int_equal(
	    pkts(f, PKT_HDR "1,2,3,4,TCP,5,40,4,5,0,0,0,0,64,0\n"), 0);
	assert_int_equal(ns_write_pkt_csv(path, &f->pkts), 0);
	struct ns_pkt_trace pback = {0};
	assert_int_equal(ns_read_pkt_csv(path, &pback, &f->diag), 0);
	assert_int_equal(pback.n, 1);
	assert_int_equal(count_entries(f->dir), 1);
	ns_pkt_trace_free(&pback);
	unlink(path);
	assert_int_equal(f->diag.total, 0);
}

/* A failed write returns -1 with errno and leaves nothing behind. */
static void
write_errors(void **state)
{
	struct fx *f = *state;
	make_dir(f);
	char path[128];
	snprintf(path, sizeof(path), "%s/no/such/dir/flows.csv", f->dir);
	errno = 0;
	assert_int_equal(ns_write_flow_csv(path, &f->flows), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(ns_write_pkt_csv(path, &f->pkts), -1);
	assert_int_equal(errno, ENOENT);
	/* a folder in the way: the rename fails, the temp file goes */
	snprintf(path, sizeof(path), "%s/sub", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	errno = 0;
	assert_int_equal(ns_write_flow_csv(path, &f->flows), -1);
	assert_int_equal(errno, EISDIR);
	assert_int_equal(count_entries(f->dir), 1);
	rmdir(path);
	/* a full disk shows in the stream writers */
	FILE *full = fopen("/dev/full", "w");
	if (full) {
		assert_int_equal(pkts(f, PKT_HDR "1,2,3,4,TCP,5,40,4,5,0,0,0,"
		                                 "0,64,0\n"),
		                 0);
		errno = 0;
		assert_int_equal(ns_fprint_pkt_csv(full, &f->pkts), -1);
		assert_int_equal(errno, ENOSPC);
		fclose(full);
	}
	assert_int_equal(
	    ns_read_flows(path, NS_FMT_NETSHARE_FLOW, &f->flows, &f->diag),
	    -1);
	assert_int_equal(ns_diag_count(&f->diag, "open_failed"), 1);
}

/* ---- the real traces in the shared data folder ---- */

/* Path of a shared data file, or NULL (the test skips) when absent. */
static const char *
data_file(const char *name, char *buf, size_t size)
{
	const char *dir = getenv("NS_SHARED_DATA");
	if (!dir || !*dir)
		dir = "../shared/data";
	snprintf(buf, size, "%s/%s", dir, name);
	if (access(buf, R_OK) != 0) {
		print_message("skipping: %s is not there\n", buf);
		return NULL;
	}
	return buf;
}

struct real_flows {
	const char *name;
	size_t records;
	uint64_t not_ip, bad_field; /* the documented rejections */
};

static void
check_real_flows(struct fx *f, const struct real_flows *c)
{
	char path[512];
	if (!data_file(c->name, path, sizeof(path)))
		skip();
	ns_flow_trace_free(&f->flows);
	ns_diag_init(&f->diag, path, "line");
	f->diag.quiet = 1;
	assert_int_equal(
	    ns_read_flows(path, NS_FMT_UNKNOWN, &f->flows, &f->diag), 0);
	if (f->flows.n != c->records ||
	    ns_diag_count(&f->diag, "not_ip") != c->not_ip ||
	    ns_diag_count(&f->diag, "bad_field") != c->bad_field ||
	    f->diag.total != c->not_ip + c->bad_field)
		fail_msg("%s: %zu records, %llu rejected; first: %s", c->name,
		         f->flows.n, (unsigned long long)f->diag.total,
		         f->diag.first);
}

static size_t
count_proto(const struct ns_flow_trace *t, int proto)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		n += t->v[i].proto == proto;
	return n;
}

static size_t
count_label(const struct ns_flow_trace *t, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		n += strcmp(label(t, i), name) == 0;
	return n;
}

/* UGR'16: 1000 flows, the documented protocol and label counts. */
static void
real_ugr16(void **state)
{
	struct fx *f = *state;
	static const struct real_flows c = {"netflow/ugr16-small.csv", 1000};
	check_real_flows(f, &c);
	assert_int_equal(count_proto(&f->flows, 6), 437);
	assert_int_equal(count_proto(&f->flows, 1), 267);
	assert_int_equal(count_proto(&f->flows, 17), 231);
	assert_int_equal(count_proto(&f->flows, 47), 30);
	assert_int_equal(count_proto(&f->flows, 50), 29);
	assert_int_equal(count_proto(&f->flows, 4), 5);
	assert_int_equal(count_proto(&f->flows, 41), 1);
	assert_int_equal(count_label(&f->flows, "background"), 999);
	assert_int_equal(count_label(&f->flows, "blacklist"), 1);
	/* and it round-trips through the writer */
	char *text = flow_text(&f->flows);
	struct ns_flow_trace back = {0};
	assert_int_equal(ns_read_flows_mem(text, strlen(text),
	                                   NS_FMT_NETSHARE_FLOW, &back,
	                                   &f->diag),
	                 0);
	free(text);
	assert_same_flows(&f->flows, &back);
	ns_flow_trace_free(&back);
}

/* LANL: every row has host tokens, so all 4000 are bad_field. */
static void
real_lanl(void **state)
{
	static const struct real_flows c = {"netflow/lanl-cyber1-flows-4k.csv",
	                                    0, 0, 4000};
	check_real_flows(*state, &c);
}

/* nfdump csv: 4593 flows, 4576 TCP, 17 UDP, the flag strings' counts. */
static void
real_nfdump(void **state)
{
	struct fx *f = *state;
	static const struct real_flows c = {"netflow/ctu-scan.nfcapd.csv",
	                                    4593};
	check_real_flows(f, &c);
	assert_int_equal(count_proto(&f->flows, 6), 4576);
	assert_int_equal(count_proto(&f->flows, 17), 17);
	size_t syn = 0, ack_rst = 0, fin = 0;
	for (size_t i = 0; i < f->flows.n; i++) {
		syn += f->flows.v[i].tcp_flags == 0x02;
		ack_rst += f->flows.v[i].tcp_flags == 0x14;
		fin += f->flows.v[i].tcp_flags == 0x1B;
	}
	assert_int_equal(syn, 2305);
	assert_int_equal(ack_rst, 2264);
	assert_int_equal(fin, 5);
	assert_int_equal(f->flows.v[0].first_ns, 1515771450 * NS);
}

/* Zeek conn logs, the IoT-23 space quirk included. */
static void
real_zeek(void **state)
{
	static const struct real_flows cases[] = {
	    {"netflow/iot23-honeypot4-hue.conn.log.labeled", 452},
	    {"netflow/iot23-honeypot5-echo.conn.log.labeled", 1374},
	    {"netflow/ctu-sme-11-win7.conn.log.labeled", 766},
	};
	struct fx *f = *state;
	for (size_t i = 0; i < 3; i++)
		check_real_flows(f, &cases[i]);
	assert_int_equal(count_label(&f->flows, "Malicious"), 719);
	assert_int_equal(count_label(&f->flows, "Benign"), 44);
	assert_int_equal(count_label(&f->flows, "Unknown"), 3);
}

/* Argus files: rows minus the non-IP ones (arp, llc, man). */
static void
real_argus(void **state)
{
	static const struct real_flows cases[] = {
	    {"netflow/ctu-malicious-argus.binetflow", 392, 2},
	    {"netflow/ctu-mixed-argus.binetflow", 89},
	    {"netflow/ctu-portscan-argus.binetflow", 66},
	    {"netflow/ctu-mixed-argus-tab.binetflow", 296, 4},
	};
	for (size_t i = 0; i < 4; i++)
		check_real_flows(*state, &cases[i]);
}

/* CAIDA packet CSV: 10000 rows, exactly the 28 misread IPv6 rows go. */
static void
real_caida(void **state)
{
	struct fx *f = *state;
	char path[512];
	if (!data_file("pcap-csv/caida-10k.csv", path, sizeof(path)))
		skip();
	f->diag.path = path;
	assert_int_equal(ns_read_pkt_csv(path, &f->pkts, &f->diag), 0);
	assert_int_equal(f->pkts.n, 10000 - 28);
	assert_int_equal(ns_diag_count(&f->diag, "not_ipv4"), 28);
	assert_int_equal(f->diag.total, 28);
	size_t bad_csum = 0;
	for (size_t i = 0; i < f->pkts.n; i++)
		bad_csum += (f->pkts.v[i].flags & NS_PKT_BAD_CSUM) != 0;
	/* the 142 rows whose protocol was copied from the row before */
	assert_int_equal(bad_csum, 142);
	/* round trip through the writer */
	char *text = pkt_text(&f->pkts);
	struct ns_pkt_trace back = {0};
	assert_int_equal(
	    ns_read_pkt_csv_mem(text, strlen(text), &back, &f->diag), 0);
	free(text);
	assert_int_equal(back.n, f->pkts.n);
	for (size_t i = 0; i < back.n; i++)
		f->pkts.v[i].flags &= (uint8_t)~NS_PKT_BAD_CSUM;
	assert_memory_equal(back.v, f->pkts.v, back.n * sizeof(*back.v));
	ns_pkt_trace_free(&back);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(netshare_fields),
	    T(netshare_any_order),
	    T(netshare_floats),
	    T(netshare_label_column),
	    T(netshare_lanl_tokens),
	    T(netshare_rejections),
	    T(long_value_truncated),
	    T(huge_line),
	    T(netshare_text_quirks),
	    T(nul_bytes),
	    T(missing_header),
	    T(duplicate_column),
	    T(empty_and_unknown),
	    T(strict_stops),
	    T(strict_stops_bad_row),
	    T(sniffing),
	    T(nfdump_fields),
	    T(nfdump_icmp),
	    T(nfdump_trailer),
	    T(nfdump_rejections),
	    T(zeek_fields),
	    T(zeek_iot23_spaces),
	    T(zeek_missing_fields),
	    T(zeek_too_many_columns),
	    T(zeek_rejections),
	    T(argus_fields),
	    T(argus_tab_not_ip),
	    T(argus_epoch),
	    T(pkt_fields),
	    T(pkt_misread_ipv6),
	    T(pkt_rejections),
	    T(pkt_ipv6_no_chksum),
	    T(pkt_strict_and_header),
	    T(flow_writer_text),
	    T(flow_round_trip),
	    T(pkt_writer_text),
	    T(pkt_round_trip),
	    T(atomic_write),
	    T(write_errors),
	    T(real_ugr16),
	    T(real_lanl),
	    T(real_nfdump),
	    T(real_zeek),
	    T(real_argus),
	    T(real_caida),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
