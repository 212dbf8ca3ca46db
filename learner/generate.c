/* Generation into records: the model fills one batch while a second
 * thread decodes the one before, in order, so the output is the same as
 * doing one after the other. */
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>

#include "dg.h"

/* One batch of generated flows on its way to the decoder. */
struct batch {
	const struct ns_encoder *enc;
	struct ns_decoder *dec;
	size_t n;
	uint32_t L;
	float *attr, *feat;
	uint32_t *len;
	struct ns_pkt_trace *pkts;
	struct ns_flow_trace *flows;
	size_t first; /* records before this batch's */
	int rc;
};

static size_t
records(const struct batch *b)
{
	return b->enc->is_packets ? b->pkts->n : b->flows->n;
}

/* Flows of batch b with a record among the first `count` of all. */
static size_t
flows_within(const struct batch *b, size_t count)
{
	size_t flows = 0, at = b->first;
	for (size_t i = 0; i < b->n && at < count; i++) {
		uint32_t len = b->len[i] < b->L ? b->len[i] : b->L;
		flows += len > 0;
		at += len;
	}
	return flows;
}

static void *
decode_batch(void *arg)
{
	struct batch *b = arg;
	b->first = records(b);
	b->rc = ns_decoder_run(b->dec, b->n, b->attr, b->feat, b->L, b->len,
			       b->enc->is_packets ? b->pkts : NULL,
			       b->enc->is_packets ? NULL : b->flows);
	return NULL;
}

/* Generate flows from the model until `count` records exist: the model
 * fills one batch while a second thread decodes the one before, in
 * order, so the output is the same as doing one after the other. */
int
ns_dg_generate_records(struct ns_dg *m, const struct ns_encoder *enc,
		       size_t count, struct ns_pkt_trace *pkts,
		       struct ns_flow_trace *flows, FILE *progress)
{
	const size_t per = 4096;
	struct batch b[2];
	struct ns_decoder *dec = ns_decoder_new(enc);
	int rc = dec ? 0 : -1;
	for (int k = 0; k < 2; k++) {
		b[k] = (struct batch){enc, dec, per, (uint32_t)m->L, NULL,
				      NULL, NULL, pkts, flows, 0, 0};
		b[k].attr = malloc(per * (size_t)m->A * sizeof(float));
		b[k].feat = malloc(per * (size_t)m->L * m->F * sizeof(float));
		b[k].len = malloc(per * sizeof(uint32_t));
		if (!b[k].attr || !b[k].feat || !b[k].len)
			rc = -1;
	}
	pthread_t decoder;
	int pending = 0, cur = 0;
	m->gen_flows = 0;
	int blas_threads = openblas_get_num_threads();
	openblas_set_num_threads(1); /* the other core decodes */
	while (rc == 0) {
		ns_dg_generate(m, per, b[cur].attr, b[cur].feat, b[cur].len);
		if (pending) {
			pthread_join(decoder, NULL);
			pending = 0;
			rc = b[cur ^ 1].rc;
			m->gen_flows += flows_within(&b[cur ^ 1], count);
		}
		size_t have = enc->is_packets ? pkts->n : flows->n;
		if (progress)
			fprintf(progress, "\rgenerated %zu / %zu records",
				have, count);
		if (rc || have >= count)
			break;
		if (pthread_create(&decoder, NULL, decode_batch, &b[cur])) {
			decode_batch(&b[cur]); /* no thread: decode here */
			rc = b[cur].rc;
			m->gen_flows += flows_within(&b[cur], count);
		} else {
			pending = 1;
		}
		cur ^= 1;
	}
	if (pending) {
		pthread_join(decoder, NULL);
		if (!rc)
			rc = b[cur ^ 1].rc;
		m->gen_flows += flows_within(&b[cur ^ 1], count);
	}
	if (progress)
		fputc('\n', progress);
	if (enc->is_packets && pkts->n > count)
		pkts->n = count;
	if (!enc->is_packets && flows->n > count)
		flows->n = count;
	for (int k = 0; k < 2; k++)
		free(b[k].attr), free(b[k].feat), free(b[k].len);
	ns_decoder_free(dec);
	openblas_set_num_threads(blas_threads);
	return rc;
}

