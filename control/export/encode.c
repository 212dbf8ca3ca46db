/* v9 and IPFIX export packets: a header, the templates when due, then
 * data sets of IPv4 and IPv6 records as they come, each set padded to 4
 * octets, the whole packet within the MTU. */
#include <stdio.h>
#include <string.h>

#include "export_int.h"

void
ns_export_config_default(struct ns_export_config *c, int version)
{
	memset(c, 0, sizeof(*c));
	c->version = version;
	c->domain_id = 1;
	c->mtu = NS_EXPORT_MTU_DEFAULT;
	c->template_ms = NS_EXPORT_TEMPLATE_MS_DEFAULT;
	c->template_packets = NS_EXPORT_TEMPLATE_PACKETS_DEFAULT;
	c->sampling_interval = 1;
}

int
ns_export_config_check(const struct ns_export_config *c, char *err,
                       size_t errlen)
{
	if (c->version != NS_EXPORT_V5 && c->version != NS_EXPORT_V9 &&
	    c->version != NS_EXPORT_IPFIX) {
		snprintf(err, errlen, "version %d is not 5, 9 or 10",
		         c->version);
		return -1;
	}
	if (c->mtu < NS_EXPORT_MTU_MIN || c->mtu > NS_EXPORT_MTU_MAX) {
		snprintf(err, errlen, "MTU %u is outside %u..%u", c->mtu,
		         NS_EXPORT_MTU_MIN, NS_EXPORT_MTU_MAX);
		return -1;
	}
	if (c->sampling_interval < 1) {
		snprintf(err, errlen, "sampling interval must be >= 1");
		return -1;
	}
	if (c->version == NS_EXPORT_V5 &&
	    (c->sampling_interval > 0x3FFF || c->domain_id > 0xFFFF)) {
		snprintf(err, errlen,
		         "v5 carries a sampling interval up to "
		         "16383 and a 16-bit engine type/id");
		return -1;
	}
	if (c->version != NS_EXPORT_V5 && c->template_ms == 0 &&
	    c->template_packets == 0) {
		snprintf(err, errlen,
		         "templates must be resent by time or by "
		         "packet count (a late collector never "
		         "decodes otherwise)");
		return -1;
	}
	return 0;
}

int
ns_export_init(struct ns_export *ex, const struct ns_export_config *cfg)
{
	char err[160];
	memset(ex, 0, sizeof(*ex));
	if (ns_export_config_check(cfg, err, sizeof(err)) != 0)
		return -1;
	ex->cfg = *cfg;
	for (int s = 0; s < NS_SET_COUNT; s++)
		ns_export_template_build(&ex->tpl[s], cfg->version, s);
	return 0;
}

const char *
ns_export_version_name(int version)
{
	switch (version) {
	case NS_EXPORT_V5:
		return "v5";
	case NS_EXPORT_V9:
		return "v9";
	case NS_EXPORT_IPFIX:
		return "IPFIX";
	}
	return "?";
}

int
ns_uptime_fits(uint64_t b, uint64_t first_ms, uint64_t last_ms,
               uint64_t hdr_ms)
{
	return first_ms >= b && last_ms >= b && hdr_ms >= b &&
	       first_ms - b <= UINT32_MAX && last_ms - b <= UINT32_MAX &&
	       hdr_ms - b <= UINT32_MAX;
}

int
ns_uptime_admit(struct ns_export *ex, const struct ns_flow_record *r,
                uint64_t hdr_ms, unsigned held)
{
	uint64_t f = r->first_ns / NS_NS_PER_MS, l = r->last_ns / NS_NS_PER_MS;
	if (ex->have_boot && ns_uptime_fits(ex->boot_ms, f, l, hdr_ms))
		return 0;
	/* the lowest boot that could do: the earliest of the three */
	uint64_t b = f < hdr_ms ? f : hdr_ms;
	b = l < b ? l : b;
	if (!ns_uptime_fits(b, f, l, hdr_ms)) {
		ex->st.skipped_time++;
		return 1;
	}
	if (held)
		return -1; /* the next packet moves boot */
	if (ex->have_boot)
		ex->st.uptime_rebases++;
	ex->boot_ms = b;
	ex->have_boot = 1;
	return 0;
}

static int
templates_due(const struct ns_export *ex, uint64_t mono_ms)
{
	const struct ns_export_config *c = &ex->cfg;
	if (!ex->templates_sent)
		return 1;
	if (c->template_packets && ex->since_template >= c->template_packets)
		return 1;
	return c->template_ms &&
	       mono_ms - ex->template_at_ms >= c->template_ms;
}

/* The packet under construction. */
struct packet {
	struct ns_cur c;
	unsigned records;      /* every record (v9 header count) */
	unsigned data_records; /* flow and options data (IPFIX sequence) */
	unsigned flows;
	int set; /* open data set (enum ns_export_set), or -1 */
	size_t set_start;
};

/* v9: the header's seconds and sysUptime give boot back exactly. */
static uint64_t
header_ms(const struct ns_export *ex, uint64_t now_ms)
{
	return ex->cfg.version == NS_EXPORT_V9 ? now_ms / 1000 * 1000 : now_ms;
}

/* Can r go into p? 0 yes, 1 skip it (counted), -1 end the packet. */
static int
admit(struct ns_export *ex, const struct packet *p,
      const struct ns_flow_record *r, uint64_t now_ms)
{
	if (r->ip_version != 4 && r->ip_version != 6) {
		ex->st.skipped_bad++;
		return 1;
	}
	if (ex->cfg.version == NS_EXPORT_IPFIX)
		return 0; /* absolute times */
	return ns_uptime_admit(ex, r, header_ms(ex, now_ms), p->flows);
}

/* Append r; 0, or -1 (p unchanged) when it does not fit. */
static int
add_record(const struct ns_export *ex, struct packet *p,
           const struct ns_flow_record *r)
{
	int set = r->ip_version == 4 ? NS_SET_V4 : NS_SET_V6;
	const struct ns_export_template *t = &ex->tpl[set];
	struct packet saved = *p;
	if (p->set != set) {
		if (p->set >= 0)
			ns_set_close(&p->c, p->set_start);
		p->set = set;
		p->set_start = p->c.len;
		ns_put_u16(&p->c, t->id);
		ns_put_u16(&p->c, 0);
	}
	uint8_t *o = ns_cur_take(&p->c, t->record_len);
	size_t set_len = p->c.len - p->set_start;
	/* room for the padding that closes the set */
	if (!o || p->c.cap - p->c.len < (4 - set_len % 4) % 4) {
		*p = saved;
		return -1;
	}
	for (unsigned i = 0; i < t->n_fields; i++) {
		const struct ns_export_field *f =
		    &ns_export_fields[t->field[i]];
		f->put(o, r, ex);
		o += f->len;
	}
	p->records++;
	p->data_records++;
	p->flows++;
	return 0;
}

static void
put_header(const struct ns_export *ex, const struct packet *p, uint8_t *buf,
           uint64_t now_ms)
{
	struct ns_cur h = ns_cur_make(buf, p->c.len);
	if (ex->cfg.version == NS_EXPORT_IPFIX) {
		ns_put_u16(&h, 10);
		ns_put_u16(&h, (uint16_t)p->c.len);
		ns_put_u32(&h, (uint32_t)(now_ms / 1000));
		ns_put_u32(&h, ex->seq);
		ns_put_u32(&h, ex->cfg.domain_id);
		return;
	}
	uint64_t hdr = header_ms(ex, now_ms);
	ns_put_u16(&h, 9);
	ns_put_u16(&h, (uint16_t)p->records);
	ns_put_u32(&h, ex->have_boot ? (uint32_t)(hdr - ex->boot_ms) : 0);
	ns_put_u32(&h, (uint32_t)(hdr / 1000));
	ns_put_u32(&h, ex->seq);
	ns_put_u32(&h, ex->cfg.domain_id);
}

size_t
ns_sets_encode(struct ns_export *ex, uint8_t *buf, size_t cap,
               const struct ns_flow_record *r, size_t n, size_t *consumed,
               uint64_t now_ms, uint64_t mono_ms)
{
	int ipfix = ex->cfg.version == NS_EXPORT_IPFIX;
	struct packet p = {.c = ns_cur_make(buf, cap), .set = -1};
	ns_put_zeros(&p.c, ipfix ? NS_IPFIX_HEADER_LEN : NS_V9_HEADER_LEN);
	int with_templates = templates_due(ex, mono_ms);
	if (with_templates) {
		p.records += ns_put_template_set(&p.c, ex);
		p.records += ns_put_options_template_set(&p.c, ex);
		p.records += ns_put_options_data_set(&p.c, ex);
		p.data_records++;
	}
	if (p.c.bad)
		return 0; /* cap cannot hold the templates */

	size_t i = 0;
	for (; i < n; i++) {
		int a = admit(ex, &p, &r[i], now_ms);
		if (a > 0)
			continue;
		if (a < 0 || add_record(ex, &p, &r[i]) != 0)
			break;
	}
	*consumed = i;
	if (p.flows == 0 && (i < n || !with_templates))
		return 0; /* nothing to send, or no room for a record */
	if (p.set >= 0)
		ns_set_close(&p.c, p.set_start);

	put_header(ex, &p, buf, now_ms);
	if (!ipfix)
		ex->seq++; /* v9: export packets */
	else if (ex->cfg.ipfix_seq_flows_only)
		ex->seq += p.flows;
	else
		ex->seq += p.data_records;
	ex->st.packets++;
	ex->st.octets += p.c.len;
	ex->st.records += p.flows;
	if (with_templates) {
		ex->st.option_records++;
		ex->st.template_sends++;
		ex->templates_sent = 1;
		ex->template_at_ms = mono_ms;
		ex->since_template = 0;
	}
	ex->since_template++;
	return p.c.len;
}

size_t
ns_export_encode(struct ns_export *ex, uint8_t *buf, size_t cap,
                 const struct ns_flow_record *r, size_t n, size_t *consumed,
                 uint64_t now_ms, uint64_t mono_ms)
{
	*consumed = 0;
	if (cap > ex->cfg.mtu)
		cap = ex->cfg.mtu;
	if (ex->cfg.version == NS_EXPORT_V5)
		return ns_v5_encode(ex, buf, cap, r, n, consumed, now_ms);
	return ns_sets_encode(ex, buf, cap, r, n, consumed, now_ms, mono_ms);
}
