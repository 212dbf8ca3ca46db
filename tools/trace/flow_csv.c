/* Flow CSV readers: NetShare, nfdump -o csv, Zeek conn.log and Argus
 * binetflow, each mapped onto ns_flow_record by column names. */
#include "netshare/trace.h"

#include "csv_fields.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The columns a flow reader looks up; each layout names them. */
enum col {
	C_SRC,
	C_DST,
	C_SPORT,
	C_DPORT,
	C_PROTO,
	C_TS,
	C_TE,
	C_TD,
	C_PKT,
	C_PKT2,
	C_BYT,
	C_BYT2,
	C_FLG,
	C_TOS,
	C_LABEL,
	C_LABEL2,
	C_COUNT
};
static_assert(C_COUNT <= NS_CSV_MAX_WANT, "room for every column");

struct layout {
	enum ns_format fmt;
	const char *names[C_COUNT]; /* header names; NULL: not used */
	unsigned optional;          /* columns that may be absent */
	const char *unset;          /* the "no value" text, or NULL */
	const char *expected;       /* the header, for messages */
	int (*times)(struct ns_csv *c, struct ns_flow_record *r);
};

#define BIT(c) (1u << (c))

/* last_ns from the duration column (seconds) and first_ns. */
static int
add_duration(struct ns_csv *c, int unset_zero, struct ns_flow_record *r)
{
	uint64_t td;
	if (ns_csv_fixed(c, C_TD, 9, UINT64_MAX, unset_zero, &td))
		return -1;
	if (td > UINT64_MAX - r->first_ns)
		return ns_csv_bad(c, "bad_field", C_TD, "too large");
	r->last_ns = r->first_ns + td;
	return 0;
}

/* ts in µs, td in seconds */
static int
netshare_times(struct ns_csv *c, struct ns_flow_record *r)
{
	if (ns_csv_fixed(c, C_TS, 3, UINT64_MAX, 0, &r->first_ns))
		return -1;
	return add_duration(c, 0, r);
}

/* ts in epoch seconds, duration in seconds or '-' */
static int
zeek_times(struct ns_csv *c, struct ns_flow_record *r)
{
	if (ns_csv_fixed(c, C_TS, 9, UINT64_MAX, 0, &r->first_ns))
		return -1;
	return add_duration(c, 1, r);
}

/* A date and time in UTC, or epoch seconds (ra -u). */
static int
get_time(struct ns_csv *c, int col, uint64_t *ns)
{
	struct ns_field f = ns_csv_get(c, col);
	if (memchr(f.p, '-', f.len) || memchr(f.p, '/', f.len) ||
	    memchr(f.p, ':', f.len)) {
		const char *cause = ns_parse_utc(f, ns);
		return cause ? ns_csv_bad(c, "bad_field", col, cause) : 0;
	}
	return ns_csv_fixed(c, col, 9, UINT64_MAX, 0, ns);
}

static int
argus_times(struct ns_csv *c, struct ns_flow_record *r)
{
	if (get_time(c, C_TS, &r->first_ns))
		return -1;
	return add_duration(c, 1, r);
}

static int
nfdump_times(struct ns_csv *c, struct ns_flow_record *r)
{
	if (get_time(c, C_TS, &r->first_ns) || get_time(c, C_TE, &r->last_ns))
		return -1;
	if (r->last_ns < r->first_ns)
		return ns_csv_bad(c, "bad_field", C_TE, "before ts");
	return 0;
}

/* clang-format off */
static const struct layout netshare = {
	.fmt = NS_FMT_NETSHARE_FLOW,
	.names = {
		[C_SRC] = "srcip", [C_DST] = "dstip", [C_SPORT] = "srcport",
		[C_DPORT] = "dstport", [C_PROTO] = "proto", [C_TS] = "ts",
		[C_TD] = "td", [C_PKT] = "pkt", [C_BYT] = "byt",
		[C_LABEL] = "type", [C_LABEL2] = "label",
	},
	.optional = BIT(C_LABEL) | BIT(C_LABEL2),
	.expected = "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt[,type]",
	.times = netshare_times,
};

static const struct layout nfdump = {
	.fmt = NS_FMT_NFDUMP_CSV,
	.names = {
		[C_TS] = "ts", [C_TE] = "te", [C_SRC] = "sa", [C_DST] = "da",
		[C_SPORT] = "sp", [C_DPORT] = "dp", [C_PROTO] = "pr",
		[C_FLG] = "flg", [C_TOS] = "stos", [C_PKT] = "ipkt",
		[C_BYT] = "ibyt",
	},
	.optional = BIT(C_FLG) | BIT(C_TOS),
	.expected = "nfdump -o csv columns ts,te,td,sa,da,sp,dp,pr,flg,...,"
		    "ipkt,ibyt",
	.times = nfdump_times,
};

static const struct layout zeek = {
	.fmt = NS_FMT_ZEEK_CONN,
	.names = {
		[C_TS] = "ts", [C_SRC] = "id.orig_h", [C_SPORT] = "id.orig_p",
		[C_DST] = "id.resp_h", [C_DPORT] = "id.resp_p",
		[C_PROTO] = "proto", [C_TD] = "duration",
		[C_PKT] = "orig_pkts", [C_PKT2] = "resp_pkts",
		[C_BYT] = "orig_ip_bytes", [C_BYT2] = "resp_ip_bytes",
		[C_LABEL] = "label",
	},
	.optional = BIT(C_LABEL),
	.unset = "-",
	.expected = "#fields ts ... id.orig_h id.orig_p id.resp_h id.resp_p "
		    "proto ... duration ... orig_pkts orig_ip_bytes resp_pkts "
		    "resp_ip_bytes [label]",
	.times = zeek_times,
};

static const struct layout argus = {
	.fmt = NS_FMT_ARGUS,
	.names = {
		[C_TS] = "StartTime", [C_TD] = "Dur", [C_PROTO] = "Proto",
		[C_SRC] = "SrcAddr", [C_SPORT] = "Sport",
		[C_DST] = "DstAddr", [C_DPORT] = "Dport", [C_TOS] = "sTos",
		[C_PKT] = "TotPkts", [C_BYT] = "TotBytes",
		[C_LABEL] = "Label",
	},
	.optional = BIT(C_TOS) | BIT(C_LABEL),
	.unset = "",
	.expected = "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,"
		    "Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,"
		    "[SrcPkts,]Label",
	.times = argus_times,
};
/* clang-format on */

static unsigned
required_cols(const struct layout *l)
{
	unsigned req = 0;
	for (int i = 0; i < C_COUNT; i++)
		if (l->names[i])
			req |= BIT(i);
	return req & ~l->optional;
}

static int
name_in(struct ns_field f, const char *const *list)
{
	for (; *list; list++)
		if (ns_field_is(f, *list))
			return 1;
	return 0;
}

/* Argus's (/etc/protocols') names that ns_proto_from_str lacks. */
static int
proto_alias(struct ns_field f)
{
	static const struct {
		const char *name;
		int num;
	} alias[] = {
	    {"rtp", 17},        {"rtcp", 17},       {"udt", 17},
	    {"ipnip", 4},       {"ipv6-route", 43}, {"ipv6-frag", 44},
	    {"ipv6-nonxt", 59}, {"ipv6-opts", 60},  {"ospf", 89},
	    {"vrrp", 112},      {"l2tp", 115},
	};
	for (size_t i = 0; i < sizeof(alias) / sizeof(*alias); i++)
		if (ns_field_is(f, alias[i].name))
			return alias[i].num;
	return -1;
}

static int
get_proto(struct ns_csv *c, struct ns_flow_record *r)
{
	static const char *const not_ip[] = {
	    "arp",  "rarp", "llc",  "man",       "ipx", "stp",
	    "lldp", "lacp", "aarp", "ethertype", NULL};
	struct ns_field f = ns_csv_get(c, C_PROTO);
	int p = ns_proto_from_str(f.p, f.len);
	if (p < 0)
		p = proto_alias(f);
	if (p >= 0) {
		r->proto = (uint8_t)p;
		return 0;
	}
	if (name_in(f, not_ip))
		return ns_csv_bad(c, "not_ip", C_PROTO, "not an IP protocol");
	return ns_csv_bad(c, "bad_field", C_PROTO, "unknown protocol");
}

static int
get_addr(struct ns_csv *c, int col, uint8_t addr[16], int *ver)
{
	if (ns_is_mac(ns_csv_get(c, col)))
		return ns_csv_bad(c, "not_ip", col, "a MAC address, not IP");
	return ns_csv_addr(c, col, addr, ver);
}

static int
get_addrs(struct ns_csv *c, struct ns_flow_record *r)
{
	int sv, dv;
	if (get_addr(c, C_SRC, r->src_addr, &sv) ||
	    get_addr(c, C_DST, r->dst_addr, &dv))
		return -1;
	if (sv != dv)
		return ns_csv_bad(c, "bad_field", C_DST,
		                  "IP version differs from the source's");
	r->ip_version = (uint8_t)sv;
	return 0;
}

static int
is_icmp(int proto)
{
	return proto == 1 || proto == 58;
}

/* nfdump keeps ICMP type and code in dp: "3.1" or 3 * 256 + 1. */
static int
nfdump_icmp(struct ns_csv *c, struct ns_flow_record *r)
{
	struct ns_field f = ns_csv_get(c, C_DPORT);
	const char *dot = memchr(f.p, '.', f.len);
	uint64_t type, code;
	if (dot) {
		struct ns_field t = {f.p, (size_t)(dot - f.p), 0};
		struct ns_field k = {dot + 1, f.len - t.len - 1, 0};
		if (ns_parse_uint(t, 255, &type) ||
		    ns_parse_uint(k, 255, &code))
			return ns_csv_bad(c, "bad_field", C_DPORT,
			                  "not an ICMP type.code");
	} else {
		uint64_t v;
		if (ns_csv_whole(c, C_DPORT, 65535, 0, 0, &v))
			return -1;
		type = v >> 8;
		code = v & 0xFF;
	}
	r->src_port = (uint16_t)type;
	r->dst_port = (uint16_t)code;
	return 0;
}

static int
get_ports(struct ns_csv *c, const struct layout *l, struct ns_flow_record *r)
{
	if (l->fmt == NS_FMT_NFDUMP_CSV && is_icmp(r->proto))
		return nfdump_icmp(c, r);
	int hex = l->fmt == NS_FMT_ARGUS, unset = l->unset != NULL;
	uint64_t sp, dp;
	if (ns_csv_whole(c, C_SPORT, 65535, hex, unset, &sp) ||
	    ns_csv_whole(c, C_DPORT, 65535, hex, unset, &dp))
		return -1;
	r->src_port = (uint16_t)sp;
	r->dst_port = (uint16_t)dp;
	return 0;
}

/* Column col plus col2 when the layout has it (Zeek's two directions). */
static int
get_sum(struct ns_csv *c, const struct layout *l, int col, int col2,
        uint64_t *v)
{
	int unset = l->unset != NULL;
	uint64_t b = 0;
	if (ns_csv_fixed(c, col, 0, UINT64_MAX, unset, v) ||
	    (l->names[col2] &&
	     ns_csv_fixed(c, col2, 0, UINT64_MAX, unset, &b)))
		return -1;
	if (b > UINT64_MAX - *v)
		return ns_csv_bad(c, "bad_field", col2, "sum too large");
	*v += b;
	return 0;
}

/* nfdump's flag string, right-aligned on "CEUAPRSF"; or a number. */
static int
get_tcp_flags(struct ns_csv *c, struct ns_flow_record *r)
{
	static const char letters[] = "CEUAPRSF";
	struct ns_field f = ns_csv_get(c, C_FLG);
	uint64_t v;
	if (!ns_parse_hex(f, 255, &v) || !ns_parse_uint(f, 255, &v)) {
		r->tcp_flags = (uint8_t)v;
		return 0;
	}
	if (f.len == 0 || f.len > 8)
		return ns_csv_bad(c, "bad_field", C_FLG, "not a flag string");
	for (size_t i = 0; i < f.len; i++) {
		size_t pos = 8 - f.len + i;
		if (f.p[i] == '.')
			continue;
		if ((f.p[i] & ~0x20) != letters[pos])
			return ns_csv_bad(c, "bad_field", C_FLG,
			                  "unknown flag letter");
		r->tcp_flags |= (uint8_t)(0x80u >> pos);
	}
	return 0;
}

/* The label column's value, interned; unset and empty give none. */
static int
get_label(struct ns_csv *c, const struct layout *l, struct ns_flow_trace *out,
          struct ns_flow_record *r)
{
	int col = ns_csv_has(c, C_LABEL) ? C_LABEL : C_LABEL2;
	r->label = NS_LABEL_NONE;
	struct ns_field f = ns_csv_get(c, col);
	if (!f.len || ns_csv_is_unset(c, col) ||
	    (l->fmt == NS_FMT_ZEEK_CONN && ns_field_is(f, "(empty)")))
		return 0;
	char name[NS_LABEL_LEN];
	size_t n = ns_field_copy(f, name, sizeof(name));
	if (n >= sizeof(name))
		return ns_csv_bad(c, "bad_field", col, "longer than 63 bytes");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7F)
			return ns_csv_bad(c, "bad_field", col,
			                  "control character");
	r->label = ns_label_intern(&out->labels, name, n);
	if (r->label == NS_LABEL_NONE)
		return ns_csv_bad(c, "too_many_labels", col,
		                  "the label table is full");
	return 0;
}

static int
get_extras(struct ns_csv *c, const struct layout *l, struct ns_flow_record *r)
{
	uint64_t tos = 0;
	if (ns_csv_has(c, C_TOS) &&
	    ns_csv_whole(c, C_TOS, 255, 0, l->unset != NULL, &tos))
		return -1;
	r->tos = (uint8_t)tos;
	if (ns_csv_has(c, C_FLG) && get_tcp_flags(c, r))
		return -1;
	return 0;
}

/* One row into r: 0, or -1 when it was rejected. */
static int
read_row(struct ns_csv *c, const struct layout *l, struct ns_flow_trace *out,
         struct ns_flow_record *r)
{
	memset(r, 0, sizeof(*r));
	if (get_proto(c, r) || get_addrs(c, r) || get_ports(c, l, r) ||
	    l->times(c, r) || get_sum(c, l, C_PKT, C_PKT2, &r->packets) ||
	    get_sum(c, l, C_BYT, C_BYT2, &r->bytes) || get_extras(c, l, r) ||
	    get_label(c, l, out, r))
		return -1;
	/* Zeek says "icmp" for ICMPv6 too */
	if (l->fmt == NS_FMT_ZEEK_CONN && r->proto == 1 && r->ip_version == 6)
		r->proto = 58;
	return 0;
}

/* Read the row in c and keep it; -1 when reading must stop. */
static int
take_row(struct ns_csv *c, const struct layout *l, struct ns_flow_trace *out)
{
	struct ns_flow_record r;
	if (read_row(c, l, out, &r))
		return c->stop ? -1 : 0;
	if (ns_flow_trace_push(out, &r)) {
		ns_diag_error(c->diag, "out_of_memory", 1,
		              "line %llu: out of memory after %zu flows",
		              (unsigned long long)c->lines.no, out->n);
		return -1;
	}
	return 0;
}

/* nfdump's "Summary" block at the end: passed over only when it is
 * really nfdump's (a "flows,bytes,packets" line follows "Summary"). */
static int
nfdump_trailer(struct ns_csv *c, struct ns_field line)
{
	static const char *const tails[] = {
	    "flows,bytes,packets",
	    "Time window:", "Total flows processed:", "Sys:"};
	line = ns_trim(line);
	if (!c->state && ns_field_is(line, "Summary")) {
		struct ns_lines peek = c->lines;
		struct ns_field next;
		if (ns_lines_next(&peek, &next) &&
		    next.len >= strlen(tails[0]) &&
		    memcmp(next.p, tails[0], strlen(tails[0])) == 0)
			c->state = 1;
		return c->state;
	}
	if (!c->state)
		return 0;
	for (size_t i = 0; i < sizeof(tails) / sizeof(*tails); i++) {
		size_t n = strlen(tails[i]);
		if (line.len >= n && memcmp(line.p, tails[i], n) == 0)
			return 1;
	}
	for (size_t i = 0; i < line.len; i++)
		if (!strchr("0123456789., ", line.p[i]) || !line.p[i])
			return 0;
	return 1; /* the summary's numbers */
}

static int
read_csv_flows(const char *buf, size_t len, const struct layout *l,
               struct ns_flow_trace *out, struct ns_diag *diag)
{
	struct ns_csv *c = malloc(sizeof(*c));
	if (!c) {
		ns_diag_error(diag, "out_of_memory", 1, "out of memory");
		return -1;
	}
	ns_csv_init(c, buf, len, l->names, C_COUNT, diag);
	c->unset = l->unset;
	if (l->fmt == NS_FMT_NFDUMP_CSV)
		c->skip = nfdump_trailer;
	int rc = ns_csv_header(c, required_cols(l), l->expected);
	while (rc == 0 && (rc = ns_csv_next(c)) == 1)
		rc = take_row(c, l, out);
	free(c);
	return rc < 0 ? -1 : 0;
}

/* Zeek's "#separator \x09" line: the separator it names. */
static char
zeek_separator(struct ns_field line)
{
	const char *p = line.p + 10, *end = line.p + line.len;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p >= 4 && p[0] == '\\' && p[1] == 'x' &&
	    ns_hex_digit(p[2]) >= 0 && ns_hex_digit(p[3]) >= 0)
		return (char)(ns_hex_digit(p[2]) << 4 | ns_hex_digit(p[3]));
	return p < end ? *p : '\t';
}

static int
starts_with(struct ns_field f, const char *s)
{
	size_t n = strlen(s);
	return f.len >= n && memcmp(f.p, s, n) == 0;
}

/* Split fields at runs of min_run or more spaces: IoT-23's labelled logs
 * put 3 spaces, not tabs, before their last columns. Returns the new
 * count, over NS_CSV_MAX_COLS when they do not fit. */
static int
split_space_runs(struct ns_field *f, int n, size_t min_run)
{
	struct ns_field tmp[NS_CSV_MAX_COLS + 1];
	int m = 0;
	for (int i = 0; i < n; i++) {
		struct ns_field t = ns_trim(f[i]);
		const char *p = t.p, *end = t.p + t.len, *start = p;
		while (p < end) {
			const char *q = p;
			while (q < end && *q == ' ')
				q++;
			if ((size_t)(q - p) >= min_run) {
				if (m > NS_CSV_MAX_COLS)
					return m;
				tmp[m++] = (struct ns_field){
				    start, (size_t)(p - start), 0};
				start = q;
			}
			p = q > p ? q : p + 1;
		}
		if (m > NS_CSV_MAX_COLS)
			return m;
		tmp[m++] = (struct ns_field){start, (size_t)(end - start), 0};
	}
	if (m > NS_CSV_MAX_COLS)
		return m;
	memcpy(f, tmp, (size_t)m * sizeof(*f));
	return m;
}

/* "#fields ts uid ...": the header. */
static int
zeek_fields(struct ns_csv *c, struct ns_field line)
{
	int n = ns_split(line, c->sep, 0, c->f, NS_CSV_MAX_COLS);
	if (n <= NS_CSV_MAX_COLS)
		n = split_space_runs(c->f, n, 1);
	if (n > NS_CSV_MAX_COLS) {
		ns_diag_error(c->diag, "bad_header", 1,
		              "line %llu: over 256 names in #fields",
		              (unsigned long long)c->lines.no);
		return -1;
	}
	return ns_csv_map(c, c->f + 1, n - 1, required_cols(&zeek),
	                  zeek.expected);
}

/* A '#' line: the separator and the field names matter, the rest
 * (#types, #open, #close, ...) does not. */
static int
zeek_directive(struct ns_csv *c, struct ns_field line)
{
	if (starts_with(line, "#separator"))
		c->sep = zeek_separator(line);
	else if (starts_with(line, "#fields"))
		return zeek_fields(c, line);
	return 0;
}

static int
zeek_row(struct ns_csv *c, struct ns_field line, struct ns_flow_trace *out)
{
	int n = ns_split(line, c->sep, 0, c->f, NS_CSV_MAX_COLS);
	if (n < c->ncols)
		n = split_space_runs(c->f, n, 2);
	c->n = n <= NS_CSV_MAX_COLS ? n : 0;
	if (n != c->ncols)
		return ns_csv_reject_row(c, line, n);
	return take_row(c, &zeek, out);
}

static int
read_zeek(const char *buf, size_t len, struct ns_flow_trace *out,
          struct ns_diag *diag)
{
	struct ns_csv *c = malloc(sizeof(*c));
	if (!c) {
		ns_diag_error(diag, "out_of_memory", 1, "out of memory");
		return -1;
	}
	ns_csv_init(c, buf, len, zeek.names, C_COUNT, diag);
	c->sep = '\t';
	c->quotes = 0;
	c->unset = zeek.unset;
	int rc = 0;
	struct ns_field line;
	while (rc == 0 && ns_lines_next(&c->lines, &line)) {
		if (!ns_trim(line).len)
			continue;
		if (line.p[0] == '#') {
			rc = zeek_directive(c, line);
		} else if (c->ncols < 0) {
			ns_diag_error(c->diag, "missing_header", 1,
			              "line %llu: a record before the "
			              "#fields line; expected %s",
			              (unsigned long long)c->lines.no,
			              zeek.expected);
			rc = -1;
		} else {
			rc = zeek_row(c, line, out);
		}
	}
	if (rc == 0 && c->ncols < 0) {
		ns_diag_error(c->diag, "missing_header", 1,
		              "no #fields line; expected %s", zeek.expected);
		rc = -1;
	}
	free(c);
	return rc;
}

int
ns_read_flows_mem(const char *buf, size_t len, enum ns_format fmt,
                  struct ns_flow_trace *out, struct ns_diag *diag)
{
	struct ns_diag quiet;
	if (!diag) {
		ns_diag_init(&quiet, NULL, "line");
		quiet.quiet = 1;
		diag = &quiet;
	}
	if (!buf)
		len = 0;
	if (!len)
		buf = "";
	if (fmt == NS_FMT_UNKNOWN)
		fmt = ns_format_from_text(buf, len);
	switch (fmt) {
	case NS_FMT_NETSHARE_FLOW:
		return read_csv_flows(buf, len, &netshare, out, diag);
	case NS_FMT_NFDUMP_CSV:
		return read_csv_flows(buf, len, &nfdump, out, diag);
	case NS_FMT_ARGUS:
		return read_csv_flows(buf, len, &argus, out, diag);
	case NS_FMT_ZEEK_CONN:
		return read_zeek(buf, len, out, diag);
	case NS_FMT_PCAP:
	case NS_FMT_NETSHARE_PKT:
		ns_diag_error(diag, "wrong_format", 1,
		              "%s holds packets, not flows",
		              ns_format_name(fmt));
		return -1;
	default:
		ns_diag_error(diag, "unknown_format", 1,
		              "the first line is no flow header: expected "
		              "NetShare (srcip,dstip,...,byt), nfdump "
		              "(ts,te,td,sa,da,...), Zeek (#fields ...) or "
		              "Argus (StartTime,...,SrcAddr,...)");
		return -1;
	}
}

int
ns_read_flows(const char *path, enum ns_format fmt, struct ns_flow_trace *out,
              struct ns_diag *diag)
{
	struct ns_diag quiet;
	if (!diag) {
		ns_diag_init(&quiet, path, "line");
		quiet.quiet = 1;
		diag = &quiet;
	}
	diag->path = path;
	size_t len;
	char *buf = ns_slurp(path, &len);
	if (!buf) {
		ns_diag_error(diag, "open_failed", 1, "cannot read: %s",
		              strerror(errno));
		return -1;
	}
	if (fmt == NS_FMT_UNKNOWN) {
		fmt = ns_format_from_text(buf, len);
		if (fmt == NS_FMT_UNKNOWN)
			fmt = ns_format_detect(path); /* by extension */
	}
	int rc = ns_read_flows_mem(buf, len, fmt, out, diag);
	free(buf);
	return rc;
}
