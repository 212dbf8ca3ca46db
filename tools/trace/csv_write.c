/* NetShare flow and packet CSV writers, and the atomic file wrapper:
 * write a temporary file beside the target, sync it, rename it. */
#include "netshare/trace.h"

#include "csv_fields.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* IPv4 as NetShare's uint32, IPv6 as text. */
static void
put_addr(FILE *f, const uint8_t a[16], int ver)
{
	if (ver == 6) {
		char s[64];
		ns_addr_str(a, 6, s, sizeof(s));
		fputs(s, f);
	} else {
		fprintf(f, "%" PRIu32, ns_addr_to_v4(a));
	}
}

static void
put_proto(FILE *f, int proto)
{
	const char *name = ns_proto_name(proto);
	if (name)
		fputs(name, f);
	else
		fprintf(f, "%d", proto);
}

/* ns as seconds, exactly: 6 decimals when whole µs, else 9. */
static void
put_seconds(FILE *f, uint64_t ns)
{
	uint64_t s = ns / 1000000000u, frac = ns % 1000000000u;
	if (frac % 1000 == 0)
		fprintf(f, "%" PRIu64 ".%06" PRIu64, s, frac / 1000);
	else
		fprintf(f, "%" PRIu64 ".%09" PRIu64, s, frac);
}

/* A label, quoted when a reader would otherwise split or trim it. */
static void
put_label(FILE *f, const struct ns_label_table *t, uint16_t label)
{
	if (label >= t->n)
		return;
	const char *s = t->name[label];
	size_t n = strnlen(s, NS_LABEL_LEN);
	if (!n)
		return;
	if (!strpbrk(s, ",\"\r\n\t") && s[0] != ' ' && s[n - 1] != ' ') {
		fwrite(s, 1, n, f);
		return;
	}
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			fputc('"', f);
		fputc(s[i], f);
	}
	fputc('"', f);
}

static void
put_flow(FILE *f, const struct ns_label_table *t,
         const struct ns_flow_record *r)
{
	int ver = r->ip_version == 6 ? 6 : 4;
	put_addr(f, r->src_addr, ver);
	fputc(',', f);
	put_addr(f, r->dst_addr, ver);
	fprintf(f, ",%u,%u,", r->src_port, r->dst_port);
	put_proto(f, r->proto);
	fprintf(f, ",%" PRIu64 ",", r->first_ns / 1000);
	put_seconds(f,
	            r->last_ns > r->first_ns ? r->last_ns - r->first_ns : 0);
	fprintf(f, ",%" PRIu64 ",%" PRIu64 ",", r->packets, r->bytes);
	put_label(f, t, r->label);
	fputc('\n', f);
}

/* 0, or -1 with errno after any failed write. */
static int
stream_status(FILE *f)
{
	errno = 0;
	if (fflush(f) == 0 && !ferror(f))
		return 0;
	if (!errno)
		errno = EIO;
	return -1;
}

int
ns_fprint_flow_csv(FILE *f, const struct ns_flow_trace *t)
{
	fputs("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n", f);
	for (size_t i = 0; i < t->n && !ferror(f); i++)
		put_flow(f, &t->labels, &t->v[i]);
	return stream_status(f);
}

static void
put_pkt(FILE *f, const struct ns_pkt_record *r)
{
	int ver = r->ip_version == 6 ? 6 : 4;
	put_addr(f, r->src_addr, ver);
	fputc(',', f);
	put_addr(f, r->dst_addr, ver);
	fprintf(f, ",%u,%u,", r->src_port, r->dst_port);
	put_proto(f, r->proto);
	fprintf(f,
	        ",%" PRIu64 ",%" PRIu32 ",%d,%d,%u,%" PRIu32 ",%u,%u,%u,%u\n",
	        r->ts_ns / 1000, r->ip_len, ver, ver == 4 ? 5 : 0, r->tos,
	        r->ip_id, (unsigned)r->ip_frag >> 13,
	        r->ip_frag & NS_FRAG_OFFSET_MASK, r->ttl,
	        ver == 4 ? ns_ipv4_csum(r) : 0u);
}

int
ns_fprint_pkt_csv(FILE *f, const struct ns_pkt_trace *t)
{
	fputs("srcip,dstip,srcport,dstport,proto,time,pkt_len,version,ihl,"
	      "tos,id,flag,off,ttl,chksum\n",
	      f);
	for (size_t i = 0; i < t->n && !ferror(f); i++)
		put_pkt(f, &t->v[i]);
	return stream_status(f);
}

/* Run print into "path.XXXXXX", sync it and rename it over path; the
 * temporary file is removed on any error. */
static int
write_atomic(const char *path, int (*print)(FILE *, const void *),
	     const void *arg)
{
	struct ns_atomic a;
	if (ns_atomic_open(&a, path))
		return -1;
	return ns_atomic_close(&a, print(a.f, arg) == 0);
}

static int
print_flows(FILE *f, const void *t)
{
	return ns_fprint_flow_csv(f, t);
}

static int
print_pkts(FILE *f, const void *t)
{
	return ns_fprint_pkt_csv(f, t);
}

int
ns_write_flow_csv(const char *path, const struct ns_flow_trace *t)
{
	return write_atomic(path, print_flows, t);
}

int
ns_write_pkt_csv(const char *path, const struct ns_pkt_trace *t)
{
	return write_atomic(path, print_pkts, t);
}
