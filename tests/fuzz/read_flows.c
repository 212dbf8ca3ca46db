/* Fuzz target: the flow CSV readers (NetShare, nfdump, Zeek, Argus; the
 * first byte picks one or sniffing), then a NetShare write and re-read
 * that must give the same flows back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "netshare/trace.h"

/* clang-format off */
static const enum ns_format formats[] = {
	NS_FMT_UNKNOWN, NS_FMT_NETSHARE_FLOW, NS_FMT_NFDUMP_CSV,
	NS_FMT_ZEEK_CONN, NS_FMT_ARGUS, NS_FMT_NETSHARE_PKT,
};
/* clang-format on */

static const char *
label_of(const struct ns_flow_trace *t, uint16_t label)
{
	if (label == NS_LABEL_NONE)
		return "";
	if (label >= t->labels.n)
		__builtin_trap(); /* every label indexes the table */
	return t->labels.name[label];
}

/* The fields the NetShare schema carries survive a write and a read. */
static void
check_round_trip(const struct ns_flow_trace *a)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	int rc = ns_fprint_flow_csv(f, a);
	fclose(f);
	struct ns_flow_trace b = {0};
	struct ns_diag d;
	ns_diag_init(&d, "round trip", "line");
	d.quiet = 1;
	if (rc != 0 ||
	    ns_read_flows_mem(text, len, NS_FMT_NETSHARE_FLOW, &b, &d) != 0 ||
	    d.total != 0 || b.n != a->n)
		__builtin_trap();
	for (size_t i = 0; i < a->n; i++) {
		const struct ns_flow_record *x = &a->v[i], *y = &b.v[i];
		if (x->first_ns / 1000 != y->first_ns / 1000 ||
		    x->last_ns - x->first_ns != y->last_ns - y->first_ns ||
		    memcmp(x->src_addr, y->src_addr, 16) ||
		    memcmp(x->dst_addr, y->dst_addr, 16) ||
		    x->src_port != y->src_port || x->dst_port != y->dst_port ||
		    x->proto != y->proto || x->ip_version != y->ip_version ||
		    x->packets != y->packets || x->bytes != y->bytes ||
		    strcmp(label_of(a, x->label), label_of(&b, y->label)))
			__builtin_trap();
	}
	ns_flow_trace_free(&b);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	enum ns_format fmt =
	    formats[data[0] % (sizeof(formats) / sizeof(*formats))];
	struct ns_flow_trace t = {0};
	struct ns_diag d;
	ns_diag_init(&d, "fuzz", "line");
	d.quiet = 1;
	ns_read_flows_mem((const char *)data + 1, size - 1, fmt, &t, &d);
	for (size_t i = 0; i < t.n; i++) {
		const struct ns_flow_record *r = &t.v[i];
		if ((r->ip_version != 4 && r->ip_version != 6) ||
		    r->last_ns < r->first_ns)
			__builtin_trap();
		label_of(&t, r->label);
	}
	check_round_trip(&t);
	ns_flow_trace_free(&t);
	return 0;
}
