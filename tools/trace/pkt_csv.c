/* NetShare packet CSV reader: one IP header per row, columns by name. */
#include "netshare/trace.h"

#include "csv_fields.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum pcol {
	P_SRC,
	P_DST,
	P_SPORT,
	P_DPORT,
	P_PROTO,
	P_TIME,
	P_LEN,
	P_VER,
	P_IHL,
	P_TOS,
	P_ID,
	P_FLAG,
	P_OFF,
	P_TTL,
	P_CSUM,
	P_COUNT
};
static_assert(P_COUNT <= NS_CSV_MAX_WANT, "room for every column");

/* clang-format off */
static const char *const pkt_names[P_COUNT] = {
	[P_SRC] = "srcip", [P_DST] = "dstip", [P_SPORT] = "srcport",
	[P_DPORT] = "dstport", [P_PROTO] = "proto", [P_TIME] = "time",
	[P_LEN] = "pkt_len", [P_VER] = "version", [P_IHL] = "ihl",
	[P_TOS] = "tos", [P_ID] = "id", [P_FLAG] = "flag", [P_OFF] = "off",
	[P_TTL] = "ttl", [P_CSUM] = "chksum",
};
/* clang-format on */

#define PKT_EXPECTED                                                          \
	"srcip,dstip,srcport,dstport,proto,time,pkt_len,version,ihl,tos,id,"  \
	"flag,off,ttl[,chksum]"
#define PKT_REQUIRED ((1u << P_COUNT) - 1 - (1u << P_CSUM))

uint16_t
ns_ipv4_csum(const struct ns_pkt_record *r)
{
	uint32_t s = 0x4500u | r->tos;
	s += r->ip_len & 0xFFFF;
	s += r->ip_id & 0xFFFF;
	s += r->ip_frag;
	s += (uint32_t)r->ttl << 8 | r->proto;
	for (int i = 0; i < 4; i += 2)
		s += (uint32_t)(r->src_addr[i] << 8 | r->src_addr[i + 1]) +
		     (uint32_t)(r->dst_addr[i] << 8 | r->dst_addr[i + 1]);
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)~s;
}

/* Version, header length and addresses, which must agree. */
static int
get_ip(struct ns_csv *c, struct ns_pkt_record *r, uint64_t *ihl)
{
	uint64_t ver;
	int sv, dv;
	if (ns_csv_whole(c, P_VER, 255, 0, 0, &ver) ||
	    ns_csv_whole(c, P_IHL, 15, 0, 0, ihl))
		return -1;
	if (ver != 4 && ver != 6)
		return ns_csv_bad(c, "bad_field", P_VER, "not 4 or 6");
	if (ns_csv_addr(c, P_SRC, r->src_addr, &sv) ||
	    ns_csv_addr(c, P_DST, r->dst_addr, &dv))
		return -1;
	if (ver == 6 && (sv == 4 || dv == 4)) {
		/* NetShare's converter read some IPv6 packets as IPv4 */
		char cause[128];
		if (*ihl >= 5)
			return ns_csv_bad(c, "not_ipv4", P_VER,
			                  "6 with IPv4 addresses");
		snprintf(cause, sizeof(cause),
		         "ihl %u is impossible for IPv4 (version 6 with IPv4 "
		         "addresses: an IPv6 packet misread as IPv4)",
		         (unsigned)*ihl);
		return ns_csv_bad(c, "not_ipv4", P_IHL, cause);
	}
	if (sv != (int)ver)
		return ns_csv_bad(c, "bad_field", P_SRC, "not IPv4");
	if (dv != (int)ver)
		return ns_csv_bad(c, "bad_field", P_DST, "not IPv4");
	if (ver == 4 && *ihl < 5)
		return ns_csv_bad(c, "bad_field", P_IHL,
		                  "below 5 is impossible for IPv4");
	r->ip_version = (uint8_t)ver;
	return 0;
}

static int
get_proto(struct ns_csv *c, struct ns_pkt_record *r)
{
	struct ns_field f = ns_csv_get(c, P_PROTO);
	int p = ns_proto_from_str(f.p, f.len);
	if (p < 0)
		return ns_csv_bad(c, "bad_field", P_PROTO, "unknown protocol");
	r->proto = (uint8_t)p;
	return 0;
}

/* The header fields after the addresses. */
static int
get_header(struct ns_csv *c, struct ns_pkt_record *r)
{
	int v6 = r->ip_version == 6;
	uint64_t sp, dp, len, tos, id, flag, off, ttl;
	if (ns_csv_whole(c, P_SPORT, 65535, 0, 0, &sp) ||
	    ns_csv_whole(c, P_DPORT, 65535, 0, 0, &dp) ||
	    ns_csv_fixed(c, P_TIME, 3, UINT64_MAX, 0, &r->ts_ns) ||
	    ns_csv_whole(c, P_LEN, v6 ? UINT32_MAX : 65535, 0, 0, &len) ||
	    ns_csv_whole(c, P_TOS, 255, 0, 0, &tos) ||
	    ns_csv_whole(c, P_ID, v6 ? UINT32_MAX : 65535, 0, 0, &id) ||
	    ns_csv_whole(c, P_FLAG, 7, 0, 0, &flag) ||
	    ns_csv_whole(c, P_OFF, NS_FRAG_OFFSET_MASK, 0, 0, &off) ||
	    ns_csv_whole(c, P_TTL, 255, 0, 0, &ttl))
		return -1;
	r->src_port = (uint16_t)sp;
	r->dst_port = (uint16_t)dp;
	r->ip_len = (uint32_t)len;
	r->tos = (uint8_t)tos;
	r->ip_id = (uint32_t)id;
	r->ip_frag = (uint16_t)(flag << 13 | off);
	r->ttl = (uint8_t)ttl;
	return 0;
}

/* NS_PKT_* flags the fields imply. */
static int
set_flags(struct ns_csv *c, struct ns_pkt_record *r, uint64_t ihl)
{
	uint16_t off = r->ip_frag & NS_FRAG_OFFSET_MASK;
	if (off || (r->ip_frag & NS_FRAG_MF))
		r->flags |= NS_PKT_FRAGMENT;
	if ((r->proto == 6 || r->proto == 17) && !off)
		r->flags |= NS_PKT_HAS_L4;
	if (r->ip_len < (r->ip_version == 6 ? 40 : ihl * 4))
		r->flags |= NS_PKT_MALFORMED;
	if (r->ip_version != 4 || ihl != 5 || !ns_csv_has(c, P_CSUM))
		return 0;
	uint64_t sum;
	if (ns_csv_whole(c, P_CSUM, 65535, 0, 0, &sum))
		return -1;
	if (sum != ns_ipv4_csum(r))
		r->flags |= NS_PKT_BAD_CSUM;
	return 0;
}

static int
take_row(struct ns_csv *c, struct ns_pkt_trace *out)
{
	struct ns_pkt_record r;
	uint64_t ihl;
	memset(&r, 0, sizeof(r));
	if (get_ip(c, &r, &ihl) || get_proto(c, &r) || get_header(c, &r) ||
	    set_flags(c, &r, ihl))
		return c->stop ? -1 : 0;
	if (ns_pkt_trace_push(out, &r)) {
		ns_diag_error(c->diag, "out_of_memory", 1,
		              "line %llu: out of memory after %zu packets",
		              (unsigned long long)c->lines.no, out->n);
		return -1;
	}
	return 0;
}

int
ns_read_pkt_csv_mem(const char *buf, size_t len, struct ns_pkt_trace *out,
                    struct ns_diag *diag)
{
	struct ns_diag quiet;
	if (!diag) {
		ns_diag_init(&quiet, NULL, "line");
		quiet.quiet = 1;
		diag = &quiet;
	}
	if (!buf || !len) {
		buf = "";
		len = 0;
	}
	struct ns_csv *c = malloc(sizeof(*c));
	if (!c) {
		ns_diag_error(diag, "out_of_memory", 1, "out of memory");
		return -1;
	}
	ns_csv_init(c, buf, len, pkt_names, P_COUNT, diag);
	int rc = ns_csv_header(c, PKT_REQUIRED, PKT_EXPECTED);
	while (rc == 0 && (rc = ns_csv_next(c)) == 1)
		rc = take_row(c, out);
	free(c);
	return rc < 0 ? -1 : 0;
}

int
ns_read_pkt_csv(const char *path, struct ns_pkt_trace *out,
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
	int rc = ns_read_pkt_csv_mem(buf, len, out, diag);
	free(buf);
	return rc;
}
