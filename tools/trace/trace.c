/* Trace containers, labels, format names and detection, small helpers. */
#include "netshare/trace.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint16_t
ns_label_intern(struct ns_label_table *t, const char *name, size_t len)
{
	if (len >= NS_LABEL_LEN)
		len = NS_LABEL_LEN - 1;
	for (unsigned i = 0; i < t->n; i++)
		if (strncmp(t->name[i], name, len) == 0 &&
		    t->name[i][len] == '\0')
			return (uint16_t)i;
	if (t->n >= NS_LABEL_MAX)
		return NS_LABEL_NONE;
	memcpy(t->name[t->n], name, len);
	t->name[t->n][len] = '\0';
	return (uint16_t)t->n++;
}

static int
grow(void **v, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 1024;
	while (n < need)
		n *= 2;
	void *p = realloc(*v, n * elem);
	if (!p)
		return -1;
	*v = p;
	*cap = n;
	return 0;
}

int
ns_pkt_trace_push(struct ns_pkt_trace *t, const struct ns_pkt_record *r)
{
	if (grow((void **)&t->v, &t->cap, t->n + 1, sizeof(*r)))
		return -1;
	t->v[t->n++] = *r;
	return 0;
}

int
ns_pkt_trace_reserve(struct ns_pkt_trace *t, size_t extra)
{
	return grow((void **)&t->v, &t->cap, t->n + extra, sizeof(*t->v));
}

int
ns_flow_trace_push(struct ns_flow_trace *t, const struct ns_flow_record *r)
{
	if (grow((void **)&t->v, &t->cap, t->n + 1, sizeof(*r)))
		return -1;
	t->v[t->n++] = *r;
	return 0;
}

void
ns_pkt_trace_free(struct ns_pkt_trace *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

void
ns_flow_trace_free(struct ns_flow_trace *t)
{
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
	t->labels.n = 0;
}

/* Stable sorts by a 64-bit key: merge sort on an index-free copy. */
#define DEFINE_MERGE_SORT(fn, type, key)                                      \
	static void fn(type *v, type *tmp, size_t n)                          \
	{                                                                     \
		if (n < 2)                                                    \
			return;                                               \
		size_t h = n / 2;                                             \
		fn(v, tmp, h);                                                \
		fn(v + h, tmp, n - h);                                        \
		if (v[h - 1].key <= v[h].key)                                 \
			return;                                               \
		memcpy(tmp, v, h * sizeof(type));                             \
		size_t i = 0, j = h, k = 0;                                   \
		while (i < h && j < n)                                        \
			v[k++] = v[j].key < tmp[i].key ? v[j++] : tmp[i++];   \
		while (i < h)                                                 \
			v[k++] = tmp[i++];                                    \
	}

DEFINE_MERGE_SORT(sort_pkts, struct ns_pkt_record, ts_ns)
DEFINE_MERGE_SORT(sort_flows, struct ns_flow_record, first_ns)

void
ns_pkt_trace_sort(struct ns_pkt_trace *t)
{
	struct ns_pkt_record *tmp = malloc((t->n / 2 + 1) * sizeof(*tmp));
	if (!tmp)
		abort();
	sort_pkts(t->v, tmp, t->n);
	free(tmp);
}

void
ns_flow_trace_sort(struct ns_flow_trace *t)
{
	struct ns_flow_record *tmp = malloc((t->n / 2 + 1) * sizeof(*tmp));
	if (!tmp)
		abort();
	sort_flows(t->v, tmp, t->n);
	free(tmp);
}

static const char *const format_names[NS_FMT_COUNT] = {
	[NS_FMT_UNKNOWN] = "unknown",
	[NS_FMT_PCAP] = "pcap",
	[NS_FMT_NETSHARE_FLOW] = "netshare-flow",
	[NS_FMT_NETSHARE_PKT] = "netshare-pkt",
	[NS_FMT_NFDUMP_CSV] = "nfdump",
	[NS_FMT_ZEEK_CONN] = "zeek",
	[NS_FMT_ARGUS] = "argus",
};
static_assert(NS_FMT_COUNT == 7, "name every format");

const char *
ns_format_name(enum ns_format f)
{
	return (unsigned)f < NS_FMT_COUNT ? format_names[f] : "unknown";
}

enum ns_format
ns_format_from_name(const char *name)
{
	for (int i = 1; i < NS_FMT_COUNT; i++)
		if (strcasecmp(name, format_names[i]) == 0)
			return (enum ns_format)i;
	if (strcasecmp(name, "pcapng") == 0)
		return NS_FMT_PCAP;
	return NS_FMT_UNKNOWN;
}

int
ns_format_is_packets(enum ns_format f)
{
	return f == NS_FMT_PCAP || f == NS_FMT_NETSHARE_PKT;
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcasecmp(s + n - m, suf) == 0;
}

/* The format a CSV or log header line announces. */
static enum ns_format
format_from_header(const char *h)
{
	if (strncmp(h, "#separator", 10) == 0 || strstr(h, "#fields\t"))
		return NS_FMT_ZEEK_CONN;
	if (strstr(h, "StartTime") && strstr(h, "SrcAddr"))
		return NS_FMT_ARGUS;
	if (strncmp(h, "ts,te,td,sa,da,sp,dp,pr", 23) == 0)
		return NS_FMT_NFDUMP_CSV;
	if (strstr(h, "srcip") && strstr(h, "pkt_len"))
		return NS_FMT_NETSHARE_PKT;
	if (strstr(h, "srcip") && strstr(h, "byt"))
		return NS_FMT_NETSHARE_FLOW;
	return NS_FMT_UNKNOWN;
}

enum ns_format
ns_format_from_text(const char *buf, size_t len)
{
	char head[1024];
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		buf += 3;
		len -= 3;
	}
	while (len && (*buf == '\n' || *buf == '\r')) {
		buf++;
		len--;
	}
	size_t n = 0;
	while (n < len && n < sizeof(head) - 1 && buf[n] != '\n' &&
	       buf[n] != '\r') {
		head[n] = buf[n];
		n++;
	}
	head[n] = '\0';
	return format_from_header(head);
}

enum ns_format
ns_format_detect(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f) {
		char head[1024] = {0};
		size_t n = fread(head, 1, sizeof(head) - 1, f);
		fclose(f);
		static const uint8_t magics[][4] = {
			{0xD4, 0xC3, 0xB2, 0xA1}, {0xA1, 0xB2, 0xC3, 0xD4},
			{0x4D, 0x3C, 0xB2, 0xA1}, {0xA1, 0xB2, 0x3C, 0x4D},
			{0x0A, 0x0D, 0x0D, 0x0A},
		};
		for (size_t i = 0; n >= 4 && i < 5; i++)
			if (memcmp(head, magics[i], 4) == 0)
				return NS_FMT_PCAP;
		enum ns_format h = ns_format_from_text(head, n);
		if (h != NS_FMT_UNKNOWN)
			return h;
	}
	if (has_suffix(path, ".pcap") || has_suffix(path, ".pcapng"))
		return NS_FMT_PCAP;
	if (has_suffix(path, ".binetflow"))
		return NS_FMT_ARGUS;
	if (has_suffix(path, ".log") || has_suffix(path, ".labeled"))
		return NS_FMT_ZEEK_CONN;
	return NS_FMT_UNKNOWN;
}

char *
ns_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap) {
			if (ferror(f)) {
				free(buf);
				buf = NULL;
			}
			break;
		}
		char *nb = realloc(buf, cap * 2 + 1);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	int saved = errno;
	fclose(f);
	errno = saved;
	if (!buf)
		return NULL;
	buf[n] = '\0';
	*len = n;
	return buf;
}

void
ns_addr_str(const uint8_t addr[16], int ip_version, char *buf, size_t len)
{
	if (!inet_ntop(ip_version == 6 ? AF_INET6 : AF_INET, addr, buf,
		       (socklen_t)len) &&
	    len)
		buf[0] = '\0';
}

static const struct {
	const char *name;
	int num;
} proto_names[] = {
	{"ICMP", 1},  {"IGMP", 2},	{"IPIP", 4},   {"TCP", 6},
	{"UDP", 17},  {"IPv6", 41},	{"RSVP", 46},  {"GRE", 47},
	{"ESP", 50},  {"AH", 51},	{"ICMP6", 58}, {"IPv6-ICMP", 58},
	{"ICMPv6", 58}, {"PIM", 103},	{"SCTP", 132}, {"UDPLite", 136},
};

int
ns_proto_from_str(const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	if (!len)
		return -1;
	int all_digits = 1;
	for (size_t i = 0; i < len; i++)
		all_digits &= isdigit((unsigned char)s[i]) != 0;
	if (all_digits) {
		if (len > 3)
			return -1;
		int v = 0;
		for (size_t i = 0; i < len; i++)
			v = v * 10 + (s[i] - '0');
		return v <= 255 ? v : -1;
	}
	for (size_t i = 0; i < sizeof(proto_names) / sizeof(*proto_names);
	     i++)
		if (strlen(proto_names[i].name) == len &&
		    strncasecmp(proto_names[i].name, s, len) == 0)
			return proto_names[i].num;
	return -1;
}

const char *
ns_proto_name(int proto)
{
	for (size_t i = 0; i < sizeof(proto_names) / sizeof(*proto_names);
	     i++)
		if (proto_names[i].num == proto)
			return proto_names[i].name;
	return NULL;
}
