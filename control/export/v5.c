/* NetFlow v5: a 24-octet header and up to 30 fixed 48-octet IPv4
 * records. IPv6 flows cannot be carried; they are counted, never sent
 * silently elsewhere. Counters are 32 bits: larger ones are cut to
 * 2^32 - 1 and counted. */
#include "export_int.h"

static uint32_t
saturate(uint64_t v, int *cut)
{
	if (v > UINT32_MAX) {
		*cut = 1;
		return UINT32_MAX;
	}
	return (uint32_t)v;
}

static void
put_v5_record(struct ns_cur *c, struct ns_export *ex,
              const struct ns_flow_record *r)
{
	int cut = 0;
	ns_put_bytes(c, r->src_addr, 4);
	ns_put_bytes(c, r->dst_addr, 4);
	ns_put_u32(c, 0); /* nexthop */
	ns_put_u16(c, 0); /* input ifIndex */
	ns_put_u16(c, 0); /* output ifIndex */
	ns_put_u32(c, saturate(r->packets, &cut));
	ns_put_u32(c, saturate(r->bytes, &cut));
	ns_put_u32(c, (uint32_t)(r->first_ns / NS_NS_PER_MS - ex->boot_ms));
	ns_put_u32(c, (uint32_t)(r->last_ns / NS_NS_PER_MS - ex->boot_ms));
	ns_put_u16(c, ns_wire_sport(r));
	ns_put_u16(c, ns_wire_dport(r));
	ns_put_u8(c, 0); /* pad1 */
	ns_put_u8(c, r->tcp_flags);
	ns_put_u8(c, r->proto);
	ns_put_u8(c, r->tos);
	ns_put_zeros(c, 2 + 2 + 1 + 1 + 2); /* src/dst AS, masks, pad2 */
	ex->st.saturated += (uint64_t)cut;
}

/* 2 bits of mode (01: 1-in-N deterministic), 14 bits of interval; 0 when
 * unsampled. */
static uint16_t
sampling_field(uint32_t interval)
{
	return interval > 1 ? (uint16_t)(1u << 14 | interval) : 0;
}

size_t
ns_v5_encode(struct ns_export *ex, uint8_t *buf, size_t cap,
             const struct ns_flow_record *r, size_t n, size_t *consumed,
             uint64_t now_ms)
{
	if (cap < NS_V5_HEADER_LEN + NS_V5_RECORD_LEN)
		return 0;
	size_t room = (cap - NS_V5_HEADER_LEN) / NS_V5_RECORD_LEN;
	if (room > NS_V5_MAX_RECORDS)
		room = NS_V5_MAX_RECORDS;
	struct ns_cur c = ns_cur_make(buf, cap);
	ns_put_zeros(&c, NS_V5_HEADER_LEN);

	unsigned count = 0;
	size_t i = 0;
	for (; i < n && count < room; i++) {
		const struct ns_flow_record *f = &r[i];
		if (f->ip_version != 4) {
			if (f->ip_version == 6)
				ex->st.skipped_v6++;
			else
				ex->st.skipped_bad++;
			continue;
		}
		int a = ns_uptime_admit(ex, f, now_ms, count);
		if (a < 0)
			break;
		if (a > 0)
			continue;
		put_v5_record(&c, ex, f);
		count++;
	}
	*consumed = i;
	if (count == 0)
		return 0;

	struct ns_cur h = ns_cur_make(buf, NS_V5_HEADER_LEN);
	ns_put_u16(&h, 5);
	ns_put_u16(&h, (uint16_t)count);
	ns_put_u32(&h, (uint32_t)(now_ms - ex->boot_ms));
	ns_put_u32(&h, (uint32_t)(now_ms / 1000));
	ns_put_u32(&h, (uint32_t)(now_ms % 1000 * NS_NS_PER_MS));
	ns_put_u32(&h, ex->seq); /* flows sent before this packet */
	ns_put_u8(&h, (uint8_t)(ex->cfg.domain_id >> 8));
	ns_put_u8(&h, (uint8_t)ex->cfg.domain_id);
	ns_put_u16(&h, sampling_field(ex->cfg.sampling_interval));

	ex->seq += count;
	ex->st.packets++;
	ex->st.octets += c.len;
	ex->st.records += count;
	return c.len;
}
