/* Encoding throughput of the v5 / v9 / IPFIX encoders on one core:
 * records/s into 1400-octet packets (the default MTU) held in memory,
 * nothing sent. Prints figures and the target; asserts nothing.
 *
 * Usage: bench_export [SECONDS per case, default 2] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netshare/export.h"

#define N_RECORDS 65536
#define TARGET 2e6 /* records/s/core, anchors.md T2 */

static void
make_records(struct ns_flow_record *v, size_t n, int v6_every)
{
	uint64_t t = 1700000000000000000ull;
	for (size_t i = 0; i < n; i++) {
		struct ns_flow_record *r = &v[i];
		memset(r, 0, sizeof(*r));
		t += 137 * 1000 * (i % 7);
		r->first_ns = t;
		r->last_ns = t + (i % 5000) * 1000000ull;
		r->ip_version = v6_every && i % v6_every == 0 ? 6 : 4;
		r->src_addr[0] = r->ip_version == 4 ? 10 : 0x20;
		r->src_addr[1] = (uint8_t)(i >> 8);
		r->src_addr[2] = (uint8_t)i;
		r->src_addr[15] = 1;
		r->dst_addr[0] = 192;
		r->dst_addr[3] = (uint8_t)(i * 7);
		r->src_port = (uint16_t)(1024 + i);
		r->dst_port = 443;
		r->proto = i % 3 ? 6 : 17;
		r->tcp_flags = 0x1B;
		r->packets = 1 + i % 1000;
		r->bytes = 64 * (1 + i % 1000);
		r->label = NS_LABEL_NONE;
	}
}

/* Records/s of one encoder over v for about secs seconds. */
static double
measure(int version, const struct ns_flow_record *v, size_t n, double secs,
        double *pkt_per_s, double *octets_per_rec)
{
	struct ns_export_config c;
	ns_export_config_default(&c, version);
	struct ns_export ex;
	if (ns_export_init(&ex, &c) != 0)
		return 0;
	static uint8_t buf[NS_EXPORT_MTU_DEFAULT];
	uint64_t start = ns_mono_ns(), now = start, end = start + secs * 1e9;
	uint64_t records = 0, packets = 0, octets = 0, now_ms = 1700000100000;
	while (now < end) {
		size_t at = 0;
		while (at < n) {
			size_t used;
			size_t len = ns_export_encode(&ex, buf, sizeof(buf),
			                              v + at, n - at, &used,
			                              now_ms, now / 1000000);
			at += used;
			packets += len > 0;
			octets += len;
			/* keep the compiler from dropping the packet */
			__asm__ volatile("" : : "r"(buf) : "memory");
		}
		records += n;
		now = ns_mono_ns();
	}
	double dt = (double)(now - start) / 1e9;
	*pkt_per_s = (double)packets / dt;
	uint64_t sent = ex.st.records ? ex.st.records : 1;
	*octets_per_rec = (double)octets / (double)sent;
	return (double)records / dt;
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	if (!(secs > 0))
		secs = 2.0;
	struct ns_flow_record *v4 = malloc(N_RECORDS * sizeof(*v4));
	struct ns_flow_record *mix = malloc(N_RECORDS * sizeof(*mix));
	if (!v4 || !mix)
		return 1;
	make_records(v4, N_RECORDS, 0);
	make_records(mix, N_RECORDS, 5);

	static const struct {
		int version;
		int mixed;
		const char *name;
	} cases[] = {
	    {NS_EXPORT_IPFIX, 0, "IPFIX, IPv4"},
	    {NS_EXPORT_V9, 0, "v9, IPv4"},
	    {NS_EXPORT_IPFIX, 1, "IPFIX, 80% IPv4 / 20% IPv6"},
	    {NS_EXPORT_V9, 1, "v9, 80% IPv4 / 20% IPv6"},
	    {NS_EXPORT_V5, 0, "v5, IPv4"},
	};
	printf("encoding on one core into %d-octet packets, %.1f s per case\n",
	       NS_EXPORT_MTU_DEFAULT, secs);
	int met_all = 1;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		double pps, opr;
		double rps =
		    measure(cases[i].version, cases[i].mixed ? mix : v4,
		            N_RECORDS, secs, &pps, &opr);
		int met = rps >= TARGET;
		if (cases[i].version != NS_EXPORT_V5)
			met_all &= met;
		printf("encode %-28s %6.2f M records/s  %7.0f k packets/s  "
		       "%5.1f octets/record  target >= %.0f M/s: %s\n",
		       cases[i].name, rps / 1e6, pps / 1e3, opr, TARGET / 1e6,
		       met ? "met" : "NOT met");
	}
	printf("encode v9 and IPFIX target: %s\n",
	       met_all ? "met" : "NOT met");
	free(v4);
	free(mix);
	return 0;
}
