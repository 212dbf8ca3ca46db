/* Fuzz target: the NetShare packet CSV reader, then a write and re-read
 * that must give the same packets back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "netshare/trace.h"

/* Flags the CSV fields imply on their own. */
#define KEPT_FLAGS (NS_PKT_FRAGMENT | NS_PKT_HAS_L4)

static int
same_packet(const struct ns_pkt_record *x, const struct ns_pkt_record *y)
{
	return x->ts_ns / 1000 == y->ts_ns / 1000 &&
	       memcmp(x->src_addr, y->src_addr, 16) == 0 &&
	       memcmp(x->dst_addr, y->dst_addr, 16) == 0 &&
	       x->ip_len == y->ip_len && x->src_port == y->src_port &&
	       x->dst_port == y->dst_port && x->ip_id == y->ip_id &&
	       x->ip_frag == y->ip_frag && x->proto == y->proto &&
	       x->tos == y->tos && x->ttl == y->ttl &&
	       x->ip_version == y->ip_version &&
	       (x->flags & KEPT_FLAGS) == (y->flags & KEPT_FLAGS) &&
	       !(y->flags & NS_PKT_BAD_CSUM);
}

static void
check_round_trip(const struct ns_pkt_trace *a)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	int rc = ns_fprint_pkt_csv(f, a);
	fclose(f);
	struct ns_pkt_trace b = {0};
	struct ns_diag d;
	ns_diag_init(&d, "round trip", "line");
	d.quiet = 1;
	if (rc != 0 || ns_read_pkt_csv_mem(text, len, &b, &d) != 0 ||
	    d.total != 0 || b.n != a->n)
		__builtin_trap();
	for (size_t i = 0; i < a->n; i++)
		if (!same_packet(&a->v[i], &b.v[i]))
			__builtin_trap();
	ns_pkt_trace_free(&b);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_pkt_trace t = {0};
	struct ns_diag d;
	ns_diag_init(&d, "fuzz", "line");
	d.quiet = 1;
	ns_read_pkt_csv_mem((const char *)data, size, &t, &d);
	for (size_t i = 0; i < t.n; i++)
		if (t.v[i].ip_version != 4 && t.v[i].ip_version != 6)
			__builtin_trap();
	check_round_trip(&t);
	ns_pkt_trace_free(&t);
	return 0;
}
