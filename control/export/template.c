/* Template, options template and options data sets for v9 (RFC 3954 §5)
 * and IPFIX (RFC 7011 §3.3-3.4), written from the field table. */
#include "export_int.h"

/* Set ids: v9 FlowSet ids 0 and 1, IPFIX Set ids 2 and 3. */
static uint16_t
template_set_id(int version)
{
	return version == NS_EXPORT_IPFIX ? 2 : 0;
}

static uint16_t
options_set_id(int version)
{
	return version == NS_EXPORT_IPFIX ? 3 : 1;
}

void
ns_set_close(struct ns_cur *c, size_t set_start)
{
	size_t len = c->len - set_start;
	ns_put_zeros(c, (4 - len % 4) % 4);
	if (!c->bad)
		ns_store_be(c->p + set_start + 2, c->len - set_start, 2);
}

static void
put_field_specs(struct ns_cur *c, const struct ns_export_template *t)
{
	for (unsigned i = 0; i < t->n_fields; i++) {
		const struct ns_export_field *f =
		    &ns_export_fields[t->field[i]];
		ns_put_u16(c, f->id);
		ns_put_u16(c, f->len);
	}
}

unsigned
ns_put_template_set(struct ns_cur *c, const struct ns_export *ex)
{
	size_t start = c->len;
	ns_put_u16(c, template_set_id(ex->cfg.version));
	ns_put_u16(c, 0); /* length, at close */
	for (int s = NS_SET_V4; s <= NS_SET_V6; s++) {
		const struct ns_export_template *t = &ex->tpl[s];
		ns_put_u16(c, t->id);
		ns_put_u16(c, t->n_fields);
		put_field_specs(c, t);
	}
	ns_set_close(c, start);
	return 2;
}

unsigned
ns_put_options_template_set(struct ns_cur *c, const struct ns_export *ex)
{
	const struct ns_export_template *t = &ex->tpl[NS_SET_OPTIONS];
	size_t start = c->len;
	ns_put_u16(c, options_set_id(ex->cfg.version));
	ns_put_u16(c, 0);
	ns_put_u16(c, t->id);
	if (ex->cfg.version == NS_EXPORT_IPFIX) {
		/* field count, then scope field count */
		ns_put_u16(c, t->n_fields);
		ns_put_u16(c, t->n_scope);
	} else {
		/* octets of the scope specs, then of the option specs */
		ns_put_u16(c, (uint16_t)(4 * t->n_scope));
		ns_put_u16(c, (uint16_t)(4 * (t->n_fields - t->n_scope)));
	}
	put_field_specs(c, t);
	ns_set_close(c, start);
	return 1;
}

unsigned
ns_put_options_data_set(struct ns_cur *c, const struct ns_export *ex)
{
	const struct ns_export_template *t = &ex->tpl[NS_SET_OPTIONS];
	size_t start = c->len;
	ns_put_u16(c, t->id);
	ns_put_u16(c, 0);
	uint8_t *o = ns_cur_take(c, t->record_len);
	if (o) {
		for (unsigned i = 0; i < t->n_fields; i++) {
			const struct ns_export_field *f =
			    &ns_export_fields[t->field[i]];
			f->put(o, NULL, ex);
			o += f->len;
		}
	}
	ns_set_close(c, start);
	return 1;
}
