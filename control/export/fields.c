/* The one field table behind the v9 and IPFIX templates and data records:
 * element id, octets, IANA name, where the element appears, and how its
 * value is written. A template lists table rows; a data record runs the
 * same rows' put functions, so the two cannot drift apart. */
#include <assert.h>
#include <string.h>

#include "export_int.h"

#define BIT(set) (1u << (set))
#define FLOWS (BIT(NS_SET_V4) | BIT(NS_SET_V6))
#define V4 BIT(NS_SET_V4)
#define V6 BIT(NS_SET_V6)
#define OPTIONS BIT(NS_SET_OPTIONS)
#define BOTH (NS_IN_V9 | NS_IN_IPFIX)

uint16_t
ns_wire_sport(const struct ns_flow_record *r)
{
	return r->proto == 1 || r->proto == 58 ? 0 : r->src_port;
}

uint16_t
ns_wire_dport(const struct ns_flow_record *r)
{
	if (r->proto != 1 && r->proto != 58)
		return r->dst_port;
	if (r->dst_port > 0xFF)
		return r->dst_port; /* already type * 256 + code */
	return (uint16_t)((r->src_port & 0xFF) << 8 | r->dst_port);
}

static uint64_t
first_ms(const struct ns_flow_record *r)
{
	return r->first_ns / NS_NS_PER_MS;
}

static uint64_t
last_ms(const struct ns_flow_record *r)
{
	return r->last_ns / NS_NS_PER_MS;
}

/* Flow record fields. */

static void
put_src4(uint8_t *o, const struct ns_flow_record *r,
         const struct ns_export *ex)
{
	(void)ex;
	memcpy(o, r->src_addr, 4);
}

static void
put_dst4(uint8_t *o, const struct ns_flow_record *r,
         const struct ns_export *ex)
{
	(void)ex;
	memcpy(o, r->dst_addr, 4);
}

static void
put_src6(uint8_t *o, const struct ns_flow_record *r,
         const struct ns_export *ex)
{
	(void)ex;
	memcpy(o, r->src_addr, 16);
}

static void
put_dst6(uint8_t *o, const struct ns_flow_record *r,
         const struct ns_export *ex)
{
	(void)ex;
	memcpy(o, r->dst_addr, 16);
}

static void
put_sport(uint8_t *o, const struct ns_flow_record *r,
          const struct ns_export *ex)
{
	(void)ex;
	ns_store_be(o, ns_wire_sport(r), 2);
}

static void
put_dport(uint8_t *o, const struct ns_flow_record *r,
          const struct ns_export *ex)
{
	(void)ex;
	ns_store_be(o, ns_wire_dport(r), 2);
}

/* type * 256 + code for ICMP and ICMPv6, else 0 */
static void
put_icmp_type(uint8_t *o, const struct ns_flow_record *r,
              const struct ns_export *ex)
{
	(void)ex;
	int icmp = r->proto == 1 || r->proto == 58;
	ns_store_be(o, icmp ? ns_wire_dport(r) : 0, 2);
}

static void
put_proto(uint8_t *o, const struct ns_flow_record *r,
          const struct ns_export *ex)
{
	(void)ex;
	o[0] = r->proto;
}

static void
put_tcp_flags(uint8_t *o, const struct ns_flow_record *r,
              const struct ns_export *ex)
{
	(void)ex;
	o[0] = r->tcp_flags;
}

static void
put_tos(uint8_t *o, const struct ns_flow_record *r, const struct ns_export *ex)
{
	(void)ex;
	o[0] = r->tos;
}

static void
put_packets(uint8_t *o, const struct ns_flow_record *r,
            const struct ns_export *ex)
{
	(void)ex;
	ns_store_be(o, r->packets, 8);
}

static void
put_octets(uint8_t *o, const struct ns_flow_record *r,
           const struct ns_export *ex)
{
	(void)ex;
	ns_store_be(o, r->bytes, 8);
}

/* v9: ms since boot; the encoder checked that they fit 32 bits. */
static void
put_first_uptime(uint8_t *o, const struct ns_flow_record *r,
                 const struct ns_export *ex)
{
	ns_store_be(o, first_ms(r) - ex->boot_ms, 4);
}

static void
put_last_uptime(uint8_t *o, const struct ns_flow_record *r,
                const struct ns_export *ex)
{
	ns_store_be(o, last_ms(r) - ex->boot_ms, 4);
}

/* IPFIX: absolute Unix ms. */
static void
put_first_ms(uint8_t *o, const struct ns_flow_record *r,
             const struct ns_export *ex)
{
	(void)ex;
	ns_store_be(o, first_ms(r), 8);
}

static void
put_last_ms(uint8_t *o, const struct ns_flow_record *r,
            const struct ns_export *ex)
{
	(void)ex;
	ns_store_be(o, last_ms(r), 8);
}

static void
put_ip_version(uint8_t *o, const struct ns_flow_record *r,
               const struct ns_export *ex)
{
	(void)ex;
	o[0] = r->ip_version;
}

static void
put_end_reason(uint8_t *o, const struct ns_flow_record *r,
               const struct ns_export *ex)
{
	(void)ex;
	o[0] = r->end_reason;
}

/* Options record fields: the exporter, not a flow (r is NULL). The
 * statistics count what was sent before the packet that carries them. */

static void
put_domain(uint8_t *o, const struct ns_flow_record *r,
           const struct ns_export *ex)
{
	(void)r;
	ns_store_be(o, ex->cfg.domain_id, 4);
}

static void
put_sampling_interval(uint8_t *o, const struct ns_flow_record *r,
                      const struct ns_export *ex)
{
	(void)r;
	ns_store_be(o, ex->cfg.sampling_interval, 4);
}

static void
put_exported_octets(uint8_t *o, const struct ns_flow_record *r,
                    const struct ns_export *ex)
{
	(void)r;
	ns_store_be(o, ex->st.octets, 8);
}

static void
put_exported_messages(uint8_t *o, const struct ns_flow_record *r,
                      const struct ns_export *ex)
{
	(void)r;
	ns_store_be(o, ex->st.packets, 8);
}

static void
put_exported_records(uint8_t *o, const struct ns_flow_record *r,
                     const struct ns_export *ex)
{
	(void)r;
	ns_store_be(o, ex->st.records, 8);
}

static void
put_not_sent(uint8_t *o, const struct ns_flow_record *r,
             const struct ns_export *ex)
{
	(void)r;
	const struct ns_export_stats *s = &ex->st;
	ns_store_be(o, s->skipped_v6 + s->skipped_bad + s->skipped_time, 8);
}

/* clang-format off */
const struct ns_export_field ns_export_fields[NS_F_COUNT] = {
	[NS_F_SRC4] = {8, 4, "sourceIPv4Address", V4, BOTH, 0, put_src4},
	[NS_F_DST4] = {12, 4, "destinationIPv4Address", V4, BOTH, 0, put_dst4},
	[NS_F_SRC6] = {27, 16, "sourceIPv6Address", V6, BOTH, 0, put_src6},
	[NS_F_DST6] = {28, 16, "destinationIPv6Address", V6, BOTH, 0,
		       put_dst6},
	[NS_F_SPORT] = {7, 2, "sourceTransportPort", FLOWS, BOTH, 0,
			put_sport},
	[NS_F_DPORT] = {11, 2, "destinationTransportPort", FLOWS, BOTH, 0,
			put_dport},
	[NS_F_PROTO] = {4, 1, "protocolIdentifier", FLOWS, BOTH, 0, put_proto},
	[NS_F_TCP_FLAGS] = {6, 1, "tcpControlBits", FLOWS, BOTH, 0,
			    put_tcp_flags},
	[NS_F_TOS] = {5, 1, "ipClassOfService", FLOWS, BOTH, 0, put_tos},
	[NS_F_PACKETS] = {2, 8, "packetDeltaCount", FLOWS, BOTH, 0,
			  put_packets},
	[NS_F_OCTETS] = {1, 8, "octetDeltaCount", FLOWS, BOTH, 0, put_octets},
	[NS_F_FIRST_UPTIME] = {22, 4, "flowStartSysUpTime", FLOWS, NS_IN_V9,
			       0, put_first_uptime},
	[NS_F_LAST_UPTIME] = {21, 4, "flowEndSysUpTime", FLOWS, NS_IN_V9, 0,
			      put_last_uptime},
	[NS_F_FIRST_MS] = {152, 8, "flowStartMilliseconds", FLOWS,
			   NS_IN_IPFIX, 0, put_first_ms},
	[NS_F_LAST_MS] = {153, 8, "flowEndMilliseconds", FLOWS, NS_IN_IPFIX,
			  0, put_last_ms},
	/* v9 only: nfdump 1.7 reads a v9 ICMP flow's type and code from
	 * here, not from the destination port (IPFIX: from the port) */
	[NS_F_ICMP_TYPE] = {32, 2, "ICMP_TYPE", FLOWS, NS_IN_V9, 0,
			    put_icmp_type},
	[NS_F_IP_VERSION] = {60, 1, "ipVersion", FLOWS, BOTH, 0,
			     put_ip_version},
	[NS_F_END_REASON] = {136, 1, "flowEndReason", FLOWS, NS_IN_IPFIX, 0,
			     put_end_reason},
	/* v9 scope type 1 "System" (RFC 3954 §6.1), IPFIX its IE */
	[NS_F_SCOPE_SYSTEM] = {1, 4, "scopeSystem", OPTIONS, NS_IN_V9, 1,
			       put_domain},
	[NS_F_SCOPE_DOMAIN] = {149, 4, "observationDomainId", OPTIONS,
			       NS_IN_IPFIX, 1, put_domain},
	/* samplingInterval alone: nfdump 1.7.1 ignores the whole options
	 * record once samplingAlgorithm (35) or selector ids (302/304) come
	 * with it, and GoFlow2 misreads samplingPacketInterval (305) */
	[NS_F_SAMPLING_INTERVAL] = {34, 4, "samplingInterval", OPTIONS, BOTH,
				    0, put_sampling_interval},
	[NS_F_EXPORTED_OCTETS] = {40, 8, "exportedOctetTotalCount", OPTIONS,
				  BOTH, 0, put_exported_octets},
	[NS_F_EXPORTED_MESSAGES] = {41, 8, "exportedMessageTotalCount",
				    OPTIONS, BOTH, 0, put_exported_messages},
	[NS_F_EXPORTED_RECORDS] = {42, 8, "exportedFlowRecordTotalCount",
				   OPTIONS, BOTH, 0, put_exported_records},
	[NS_F_NOT_SENT_RECORDS] = {166, 8, "notSentFlowTotalCount", OPTIONS,
				   NS_IN_IPFIX, 0, put_not_sent},
};
/* clang-format on */
static_assert(sizeof(ns_export_fields) / sizeof(ns_export_fields[0]) ==
                  NS_F_COUNT,
              "one table row per field id");

static const uint16_t template_ids[NS_SET_COUNT] = {
    [NS_SET_V4] = NS_TEMPLATE_ID_V4,
    [NS_SET_V6] = NS_TEMPLATE_ID_V6,
    [NS_SET_OPTIONS] = NS_TEMPLATE_ID_OPTIONS,
};

void
ns_export_template_build(struct ns_export_template *t, int version,
                         enum ns_export_set set)
{
	unsigned in = version == NS_EXPORT_IPFIX ? NS_IN_IPFIX : NS_IN_V9;
	memset(t, 0, sizeof(*t));
	t->id = template_ids[set];
	/* scope fields lead: two passes over the table */
	for (int scope = 1; scope >= 0; scope--) {
		for (unsigned i = 0; i < NS_F_COUNT; i++) {
			const struct ns_export_field *f = &ns_export_fields[i];
			if (!(f->sets & BIT(set)) || !(f->versions & in) ||
			    f->scope != scope)
				continue;
			assert(t->n_fields < NS_TEMPLATE_MAX_FIELDS);
			t->field[t->n_fields++] = (uint8_t)i;
			t->record_len += f->len;
			t->n_scope += (uint16_t)scope;
		}
	}
}
