/* One block: load its window, hold back flows for the report, encode
 * with the seed's encoder, train or fine-tune (DP-SGD when configured,
 * within the privacy budget), generate, report, publish. */
#include "lrn_block.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dg.h"
#include "netshare/encode.h"
#include "netshare/ingest.h"
#include "netshare/metrics.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double
lrn_epsilon(const struct ns_privacy_acct *a, double delta)
{
	int any = 0;
	for (size_t k = 0; k < a->n_orders; k++)
		any |= a->rdp[k] != 0;
	if (!any) /* nothing released */
		return 0;
	double eps, ord;
	if (ns_privacy_acct_epsilon(a, delta, NS_PRIVACY_BALLE, &eps, &ord))
		return NAN;
	return eps;
}

void
lrn_block_privacy(const struct ns_learner_config *cfg, uint64_t n_flows,
		  long iterations, struct ns_privacy_acct *a)
{
	double q = n_flows ? (double)cfg->model.batch / (double)n_flows : 1;
	if (q > 1)
		q = 1;
	uint64_t steps = (uint64_t)iterations * (uint64_t)cfg->model.d_rounds *
			 2;
	ns_privacy_acct_add_sampled_gaussian(a, q, cfg->model.dp_noise, steps);
	ns_privacy_acct_add_gaussian(a, cfg->privacy.count_noise);
}

/* dst -= src, order by order (the reservation of a block that did not
 * spend it all); an infinite reservation leaves infinity. */
static void
acct_sub(struct ns_privacy_acct *dst, const struct ns_privacy_acct *src)
{
	for (size_t k = 0; k < dst->n_orders && k < src->n_orders; k++)
		if (isfinite(src->rdp[k])) {
			dst->rdp[k] -= src->rdp[k];
			if (dst->rdp[k] < 0)
				dst->rdp[k] = 0;
		}
}

/* Trained-block records: the window's, the block's held-back 5-tuples
 * apart. */
struct block_data {
	struct ns_flow_trace flows, hold_f;
	struct ns_pkt_trace pkts, hold_p;
	uint64_t start_ns, end_ns;   /* the block */
	uint64_t wstart_ns, wend_ns; /* its window */
	uint32_t chunk;		     /* the block's chunk in the window */
};

static void
block_data_free(struct block_data *d)
{
	ns_flow_trace_free(&d->flows);
	ns_flow_trace_free(&d->hold_f);
	ns_pkt_trace_free(&d->pkts);
	ns_pkt_trace_free(&d->hold_p);
}

/* A 5-tuple's share in [0, 1): the same for every record of it. */
static double
tuple_share(const uint8_t *src, const uint8_t *dst, uint16_t sp, uint16_t dp,
	    uint8_t proto)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (int k = 0; k < 16; k++)
		h = (h ^ src[k]) * 0x100000001b3ull;
	for (int k = 0; k < 16; k++)
		h = (h ^ dst[k]) * 0x100000001b3ull;
	h = (h ^ sp) * 0x100000001b3ull;
	h = (h ^ dp) * 0x100000001b3ull;
	h = (h ^ proto) * 0x100000001b3ull;
	h ^= h >> 31;
	return (double)(h >> 11) * 0x1.0p-53;
}

static int
load_window(struct lrn_ctx *c, int64_t index, struct block_data *d, char *err,
	    size_t errlen)
{
	const struct lrn_state *st = c->st;
	int64_t w0 = index / st->window * st->window;
	d->chunk = (uint32_t)(index - w0);
	d->start_ns = (uint64_t)index * st->block_ns;
	d->end_ns = d->start_ns + st->block_ns;
	d->wstart_ns = (uint64_t)w0 * st->block_ns;
	d->wend_ns = d->wstart_ns + st->window * st->block_ns;
	double hold = c->cfg.cont.holdout;
	for (int64_t b = w0; b < w0 + (int64_t)st->window; b++) {
		char path[4096];
		lrn_block_path(path, sizeof(path), c->dir, "blocks", b, ".csv");
		if (access(path, F_OK))
			continue; /* an empty or already cleaned block */
		struct ns_input in;
		ns_input_init(&in);
		if (ns_input_load(&in, path,
				  st->is_packets ? NS_FMT_NETSHARE_PKT
						 : NS_FMT_NETSHARE_FLOW,
				  1, 1)) {
			snprintf(err, errlen, "%s: cannot read the spooled "
					      "block", path);
			ns_input_free(&in);
			return -1;
		}
		int mine = b == index;
		if (st->is_packets) {
			for (size_t i = 0; i < in.pkts.n; i++) {
				const struct ns_pkt_record *r = &in.pkts.v[i];
				int h = mine &&
					tuple_share(r->src_addr, r->dst_addr,
						    r->src_port, r->dst_port,
						    r->proto) < hold;
				if (ns_pkt_trace_push(h ? &d->hold_p : &d->pkts,
						      r))
					goto oom;
			}
		} else {
			for (size_t i = 0; i < in.flows.n; i++) {
				struct ns_flow_record r = in.flows.v[i];
				int h = mine &&
					tuple_share(r.src_addr, r.dst_addr,
						    r.src_port, r.dst_port,
						    r.proto) < hold;
				struct ns_flow_trace *t =
					h ? &d->hold_f : &d->flows;
				if (r.label < in.flows.labels.n)
					r.label = ns_label_intern(
						&t->labels,
						in.flows.labels.name[r.label],
						strlen(in.flows.labels
							       .name[r.label]));
				if (ns_flow_trace_push(t, &r))
					goto oom;
			}
		}
		ns_input_free(&in);
		continue;
oom:
		ns_input_free(&in);
		snprintf(err, errlen, "out of memory for block %lld",
			 (long long)b);
		return -1;
	}
	return 0;
}

/* The chunk's flows as a dataset of their own (copied). */
static int
chunk_dataset(const struct ns_dataset *w, uint32_t chunk,
	      struct ns_dataset *out)
{
	memset(out, 0, sizeof(*out));
	size_t a = w->chunk_offset[chunk], b = w->chunk_offset[chunk + 1];
	size_t rec0 = w->offset[a], rec1 = w->offset[b];
	out->n_flows = b - a;
	out->n_records = rec1 - rec0;
	out->attr_dim = w->attr_dim;
	out->feat_dim = w->feat_dim;
	out->max_len = w->max_len;
	out->n_chunks = 1;
	out->attr = malloc((out->n_flows * w->attr_dim + 1) * sizeof(float));
	out->offset = malloc((out->n_flows + 1) * sizeof(uint32_t));
	out->feat = malloc((out->n_records * w->feat_dim + 1) * sizeof(float));
	out->chunk_offset = calloc(2, sizeof(uint32_t));
	if (!out->attr || !out->offset || !out->feat || !out->chunk_offset) {
		ns_dataset_free(out);
		return -1;
	}
	memcpy(out->attr, w->attr + a * w->attr_dim,
	       out->n_flows * w->attr_dim * sizeof(float));
	memcpy(out->feat, w->feat + rec0 * w->feat_dim,
	       out->n_records * w->feat_dim * sizeof(float));
	for (size_t i = 0; i <= out->n_flows; i++)
		out->offset[i] = w->offset[a + i] - (uint32_t)rec0;
	out->chunk_offset[1] = (uint32_t)out->n_flows;
	return 0;
}

/* Copy every tensor of src into dst (same sizes): fine-tuning starts
 * from the seed's weights, BatchNorm statistics and Adam moments. */
static int
copy_model(struct ns_dg *dst, const struct ns_dg *src)
{
	if (dst->G.n != src->G.n || dst->D.n != src->D.n ||
	    dst->Da.n != src->Da.n)
		return -1;
	memcpy(dst->G.p, src->G.p, 4 * src->G.n * sizeof(float));
	memcpy(dst->D.p, src->D.p, 4 * src->D.n * sizeof(float));
	memcpy(dst->Da.p, src->Da.p, 4 * src->Da.n * sizeof(float));
	memcpy(dst->bn_running, src->bn_running,
	       2 * (size_t)src->cfg.gen_layers * src->cfg.gen_hidden *
		       sizeof(float));
	return 0;
}

/* The most iterations (<= want) whose privacy keeps the block and the
 * run within their budgets; *eps_block gets that block's epsilon. */
static long
plan_iterations(struct lrn_ctx *c, uint64_t n_flows, long want,
		double *eps_block)
{
	const struct ns_learner_config *cfg = &c->cfg;
	double delta = cfg->privacy.delta;
	long lo = 0, hi = want;
	while (lo < hi) { /* largest T that fits */
		long mid = lo + (hi - lo + 1) / 2;
		struct ns_privacy_acct b, total = c->committed;
		ns_privacy_acct_init(&b);
		lrn_block_privacy(cfg, n_flows, mid, &b);
		ns_privacy_acct_merge(&total, &b);
		double eb, et;
		eb = lrn_epsilon(&b, delta);
		et = lrn_epsilon(&total, delta);
		int ok = (cfg->privacy.block_epsilon_budget <= 0 ||
			  eb <= cfg->privacy.block_epsilon_budget) &&
			 (cfg->privacy.epsilon_budget <= 0 ||
			  et <= cfg->privacy.epsilon_budget);
		if (ok)
			lo = mid;
		else
			hi = mid - 1;
	}
	struct ns_privacy_acct b;
	ns_privacy_acct_init(&b);
	lrn_block_privacy(cfg, n_flows, lo, &b);
	*eps_block = lrn_epsilon(&b, delta);
	return lo;
}

static void
add_metrics(cJSON *o, const struct ns_metric_set *ms)
{
	cJSON *m = cJSON_AddObjectToObject(o, "metrics");
	for (unsigned k = 0; k < ms->n; k++) {
		if (isfinite(ms->m[k].value))
			cJSON_AddNumberToObject(m, ms->m[k].name,
						ms->m[k].value);
		else
			cJSON_AddNullToObject(m, ms->m[k].name);
	}
}

static int
write_json(const char *path, cJSON *o)
{
	char *text = cJSON_Print(o);
	int rc = text ? ns_write_file_atomic(path, text, strlen(text)) : -1;
	free(text);
	return rc;
}

/* Generated records for the block, its fidelity against the held-back
 * records (or, when none were held back, the training records). */
static int
generate_and_report(struct lrn_ctx *c, struct ns_dg *m,
		    const struct ns_encoder *enc, struct block_data *d,
		    int64_t index, cJSON *report, char *err, size_t errlen)
{
	const struct lrn_state *st = c->st;
	size_t real_n = st->is_packets ? d->pkts.n + d->hold_p.n
				       : d->flows.n + d->hold_f.n;
	if (st->window > 1) /* the window's other blocks are not ours */
		real_n = 0;
	if (!real_n) {
		const struct ns_pkt_trace *p[2] = {&d->pkts, &d->hold_p};
		const struct ns_flow_trace *f[2] = {&d->flows, &d->hold_f};
		for (int k = 0; k < 2; k++)
			for (size_t i = 0; i < (st->is_packets ? p[k]->n
							       : f[k]->n);
			     i++) {
				uint64_t t = st->is_packets
						     ? p[k]->v[i].ts_ns
						     : f[k]->v[i].first_ns;
				real_n += t >= d->start_ns && t < d->end_ns;
			}
	}
	double count = (double)real_n;
	if (c->cfg.model.dp && c->cfg.privacy.count_noise > 0)
		count += c->cfg.privacy.count_noise * ns_rng_normal(&m->rng);
	size_t want = count < 1 ? 1 : (size_t)llround(count);
	/* generate for the whole window, keep the block's time range */
	size_t gen = want * (st->window > 1 ? st->window : 1);
	struct ns_pkt_trace sp = {0}, keep_p = {0};
	struct ns_flow_trace sf = {0}, keep_f = {0};
	int rc = -1;
	if (ns_dg_generate_records(m, enc, gen, st->is_packets ? &sp : NULL,
				   st->is_packets ? NULL : &sf, NULL)) {
		snprintf(err, errlen, "block %lld: out of memory generating",
			 (long long)index);
		goto out;
	}
	if (st->is_packets) {
		for (size_t i = 0; i < sp.n && keep_p.n < want; i++)
			if (st->window == 1 || (sp.v[i].ts_ns >= d->start_ns &&
						sp.v[i].ts_ns < d->end_ns))
				ns_pkt_trace_push(&keep_p, &sp.v[i]);
	} else {
		keep_f.labels = sf.labels;
		for (size_t i = 0; i < sf.n && keep_f.n < want; i++)
			if (st->window == 1 ||
			    (sf.v[i].first_ns >= d->start_ns &&
			     sf.v[i].first_ns < d->end_ns))
				ns_flow_trace_push(&keep_f, &sf.v[i]);
	}
	char path[4096];
	lrn_block_path(path, sizeof(path), c->dir, "synthetic", index, ".csv");
	if (st->is_packets ? ns_write_pkt_csv(path, &keep_p)
			   : ns_write_flow_csv(path, &keep_f)) {
		snprintf(err, errlen, "%s: cannot write", path);
		goto out;
	}
	int held = st->is_packets ? d->hold_p.n > 0 : d->hold_f.n > 0;
	struct ns_metric_set ms;
	int mrc = st->is_packets
			  ? ns_metrics_pkts(held ? &d->hold_p : &d->pkts,
					    &keep_p, &ms)
			  : ns_metrics_flows(held ? &d->hold_f : &d->flows,
					     &keep_f, &ms);
	if (mrc == 0) {
		ns_metrics_normalise(&ms, 1);
		add_metrics(report, &ms);
	}
	cJSON_AddStringToObject(report, "compared_with",
				held ? "held-back flows of the block"
				     : "the training records (none held back)");
	cJSON_AddNumberToObject(report, "held_back_records",
				(double)(st->is_packets ? d->hold_p.n
							: d->hold_f.n));
	cJSON_AddNumberToObject(report, "synthetic_records",
				(double)(st->is_packets ? keep_p.n : keep_f.n));
	rc = 0;
out:
	ns_pkt_trace_free(&sp);
	ns_pkt_trace_free(&keep_p);
	keep_f.labels.n = 0;
	ns_flow_trace_free(&sf);
	ns_flow_trace_free(&keep_f);
	return rc;
}

/* The seed's (or public) model and encoder. */
static int
load_seed(struct lrn_ctx *c, struct ns_learner_config *scfg,
	  struct ns_dg *sm, struct ns_encoder *senc, char *err, size_t errlen)
{
	if (ns_ckpt_load(c->st->seed_model, scfg, sm, senc, err, errlen))
		return -1;
	if (senc->is_packets != c->st->is_packets) {
		snprintf(err, errlen, "%s is a %s model, the state holds %s",
			 c->st->seed_model, senc->is_packets ? "packet" : "flow",
			 c->st->is_packets ? "packets" : "flows");
		ns_dg_free(sm);
		ns_encoder_free(senc);
		return -1;
	}
	return 0;
}

int
lrn_train_block(struct lrn_ctx *c, pthread_mutex_t *lock, int64_t index,
		int is_seed, int worker, char *err, size_t errlen)
{
	struct block_data d;
	memset(&d, 0, sizeof(d));
	struct ns_encoder enc, fitted;
	struct ns_dataset wds, ds;
	struct ns_dg m, sm;
	struct ns_learner_config scfg;
	memset(&enc, 0, sizeof(enc));
	memset(&fitted, 0, sizeof(fitted));
	memset(&wds, 0, sizeof(wds));
	memset(&ds, 0, sizeof(ds));
	memset(&m, 0, sizeof(m));
	memset(&sm, 0, sizeof(sm));
	int rc = -1, have_seed = 0;
	const char *skip = NULL;
	double eps_block = NAN;
	struct ns_privacy_acct bacct;
	ns_privacy_acct_init(&bacct);
	int reserved = 0;
	struct ns_privacy_acct reservation;
	ns_privacy_acct_init(&reservation);
	cJSON *report = cJSON_CreateObject();

	pthread_mutex_lock(lock);
	int packets = c->st->is_packets;
	int fit_here = is_seed && !c->st->seed_model[0];
	pthread_mutex_unlock(lock);
	if (load_window(c, index, &d, err, errlen))
		goto out;

	/* the encoder: fitted on the seed window, else the seed's */
	if (fit_here) {
		struct ns_dataset tmp;
		if ((packets ? d.pkts.n : d.flows.n) == 0) {
			skip = "no records to fit an encoder on";
			goto publish;
		}
		if (ns_encode_fit(&c->cfg.enc, packets ? &d.pkts : NULL,
				  packets ? NULL : &d.flows, &fitted, &tmp, err,
				  errlen))
			goto out;
		ns_dataset_free(&tmp);
		enc = fitted;
	} else {
		if (load_seed(c, &scfg, &sm, &fitted, err, errlen))
			goto out;
		have_seed = 1;
		enc = fitted;
	}
	struct ns_apply_stats ast;
	if (c->cfg.model.dp) /* one example per flow, whatever the seed did */
		enc.split_long = 0;
	if (ns_encode_apply(&enc, d.wstart_ns, d.wend_ns,
			    packets ? &d.pkts : NULL, packets ? NULL : &d.flows,
			    &wds, &ast, err, errlen) ||
	    chunk_dataset(&wds, d.chunk, &ds)) {
		if (!err[0])
			snprintf(err, errlen, "out of memory");
		goto out;
	}
	enc.t0_ns = d.wstart_ns; /* decode over the window */
	enc.t1_ns = d.wend_ns;
	if (ds.n_flows < 2) {
		skip = "fewer than 2 flows to train on";
		goto publish;
	}

	/* the model: fresh, with the seed's tensors when fine-tuning */
	struct ns_learner_config bcfg = c->cfg;
	bcfg.model.seed = c->cfg.model.seed + 1000003ull * (uint64_t)index;
	/* the seed's flow length: netshare-train sizes a public model by
	 * its data's longest flow */
	if (ns_dg_init(&m, &bcfg.model, &enc,
		       have_seed ? (uint32_t)sm.L : enc.max_flow_len, err,
		       errlen))
		goto out;
	if (have_seed && !c->encoder_only && copy_model(&m, &sm)) {
		snprintf(err, errlen, "%s: the seed model has other sizes "
				      "than this config", c->st->seed_model);
		goto out;
	}
	long want = is_seed && !have_seed
			    ? bcfg.model.iterations
			    : (long)ceil(bcfg.cont.fine_tune_fraction *
					 (double)bcfg.model.iterations);
	if (want < 1)
		want = 1;
	long iters = want;
	pthread_mutex_lock(lock);
	if (bcfg.model.dp && c->claim_dp) { /* budgets need a claim */
		iters = plan_iterations(c, ds.n_flows, want, &eps_block);
		if (iters > 0) {
			lrn_block_privacy(&bcfg, ds.n_flows, iters, &bacct);
			ns_privacy_acct_merge(&c->committed, &bacct);
			reservation = bacct;
			reserved = 1;
		}
	}
	c->training[worker] = index;
	c->iteration[worker] = 0;
	pthread_mutex_unlock(lock);
	if (iters == 0) {
		skip = "the privacy budget is spent";
		goto publish;
	}
	bcfg.model.iterations = m.cfg.iterations = iters;
	m.step = 0;

	double t0 = now_s();
	struct ns_dg_losses loss = {0};
	while (m.step < iters && !*c->stop) {
		ns_dg_train_step(&m, &ds, &loss);
		if (!isfinite(loss.g_loss) || !isfinite(loss.d_wdist)) {
			snprintf(err, errlen, "block %lld: training diverged "
					      "at iteration %ld",
				 (long long)index, m.step);
			goto out;
		}
		c->iteration[worker] = m.step; /* a plain word, read racily */
		if (c->block_time_budget > 0 &&
		    now_s() - t0 >= c->block_time_budget)
			break;
	}
	if (*c->stop) {
		snprintf(err, errlen, "block %lld: stopped", (long long)index);
		goto out;
	}
	double secs = now_s() - t0;
	if (m.step < iters && reserved) { /* a time budget cut it */
		ns_privacy_acct_init(&bacct);
		lrn_block_privacy(&bcfg, ds.n_flows, m.step, &bacct);
		eps_block = lrn_epsilon(&bacct, bcfg.privacy.delta);
	}
	cJSON_AddNumberToObject(report, "iterations", (double)m.step);
	cJSON_AddNumberToObject(report, "seconds", secs);
	cJSON_AddNumberToObject(report, "unknown_ports",
				(double)ast.unknown_ports);
	if (generate_and_report(c, &m, &enc, &d, index, report, err, errlen))
		goto out;

	char path[4096];
	lrn_block_path(path, sizeof(path), c->dir, "models", index, ".ckpt");
	bcfg.model.iterations = m.step;
	/* how the run was spread over workers does not shape the model:
	 * the same blocks give the same bytes on any pool */
	bcfg.cont.workers = 1;
	bcfg.cont.blas_threads = 1;
	if (ns_ckpt_save(path, &bcfg, &m, &enc, err, errlen))
		goto out;

publish:
	pthread_mutex_lock(lock);
	struct lrn_block *b = lrn_state_find(c->st, index);
	if (skip) {
		b->status = LRN_SKIPPED;
		snprintf(b->note, sizeof(b->note), "%s", skip);
	} else {
		b->status = LRN_TRAINED;
		b->flows = ds.n_flows;
		b->iterations = m.step;
		b->seconds = cJSON_GetObjectItem(report, "seconds")->valuedouble;
		b->epsilon = reserved ? eps_block : NAN;
		b->version = ++c->st->published;
		if (reserved) { /* the reservation becomes the spend */
			acct_sub(&c->committed, &reservation);
			ns_privacy_acct_merge(&c->committed, &bacct);
			ns_privacy_acct_merge(&c->st->acct, &bacct);
		}
		if (is_seed && !c->st->seed_model[0]) {
			lrn_block_path(c->st->seed_model,
				       sizeof(c->st->seed_model), c->dir,
				       "models", index, ".ckpt");
			c->st->seed_block = index;
		}
	}
	double eps_total = NAN;
	if (c->cfg.model.dp)
		eps_total = lrn_epsilon(&c->st->acct, c->cfg.privacy.delta);
	c->training[worker] = -1;
	/* report and privacy sidecar, then the state that names them */
	cJSON_AddNumberToObject(report, "block", (double)index);
	cJSON_AddNumberToObject(report, "start_ns", (double)d.start_ns);
	cJSON_AddNumberToObject(report, "end_ns", (double)d.end_ns);
	cJSON_AddStringToObject(report, "status", skip ? "skipped" : "trained");
	if (skip)
		cJSON_AddStringToObject(report, "note", skip);
	cJSON_AddNumberToObject(report, "version", (double)b->version);
	cJSON_AddNumberToObject(report, "flows", (double)ds.n_flows);
	cJSON_AddBoolToObject(report, "dp", c->cfg.model.dp != 0);
	cJSON_AddBoolToObject(report, "dp_claimed", c->claim_dp);
	if (c->claim_dp && isfinite(eps_block)) {
		cJSON_AddNumberToObject(report, "epsilon_block", eps_block);
		cJSON_AddNumberToObject(report, "epsilon_total", eps_total);
		cJSON_AddNumberToObject(report, "delta", c->cfg.privacy.delta);
	} else {
		cJSON_AddNullToObject(report, "epsilon_block");
		cJSON_AddNullToObject(report, "epsilon_total");
	}
	char rpath[4096];
	lrn_block_path(rpath, sizeof(rpath), c->dir, "reports", index, ".json");
	int wrc = write_json(rpath, report);
	if (!skip && wrc == 0) {
		cJSON *pj = cJSON_CreateObject();
		cJSON_AddBoolToObject(pj, "dp", c->cfg.model.dp != 0);
		cJSON_AddBoolToObject(pj, "claimed", c->claim_dp);
		if (c->claim_dp) {
			cJSON_AddNumberToObject(pj, "epsilon", eps_total);
			cJSON_AddNumberToObject(pj, "epsilon_block", eps_block);
			cJSON_AddNumberToObject(pj, "delta",
						c->cfg.privacy.delta);
		} else {
			cJSON_AddNullToObject(pj, "epsilon");
		}
		cJSON_AddNumberToObject(pj, "noise_multiplier",
					c->cfg.model.dp_noise);
		cJSON_AddNumberToObject(pj, "clip", c->cfg.model.dp_clip);
		cJSON_AddNumberToObject(pj, "block", (double)index);
		char ppath[4096];
		lrn_block_path(ppath, sizeof(ppath), c->dir, "models", index,
			       ".privacy.json");
		wrc = write_json(ppath, pj);
		cJSON_Delete(pj);
	}
	if (wrc == 0)
		wrc = lrn_state_save(c->st, c->dir, err, errlen);
	if (wrc == 0 && !skip) {
		cJSON *lj = cJSON_CreateObject();
		char mp[4096];
		lrn_block_path(mp, sizeof(mp), c->dir, "models", index,
			       ".ckpt");
		cJSON_AddNumberToObject(lj, "block", (double)index);
		cJSON_AddNumberToObject(lj, "version", (double)b->version);
		cJSON_AddStringToObject(lj, "model", mp);
		cJSON_AddStringToObject(lj, "report", rpath);
		char lpath[4096];
		snprintf(lpath, sizeof(lpath), "%s/latest.json", c->dir);
		wrc = write_json(lpath, lj);
		cJSON_Delete(lj);
	}
	/* a trained single-block window's records are no longer needed */
	if (wrc == 0 && c->st->window == 1) {
		char sp[4096];
		lrn_block_path(sp, sizeof(sp), c->dir, "blocks", index, ".csv");
		unlink(sp);
	}
	reserved = 0;
	pthread_mutex_unlock(lock);
	if (wrc) {
		if (!err[0])
			snprintf(err, errlen, "%s: cannot write", rpath);
		goto out;
	}
	if (!c->quiet)
		fprintf(stderr, "block %lld %s: %zu flows, %ld iterations in "
				"%.1f s%s%s\n",
			(long long)index, skip ? "skipped" : "published",
			ds.n_flows, m.step, b->seconds, skip ? ": " : "",
			skip ? skip : "");
	rc = 0;
out:
	pthread_mutex_lock(lock);
	if (reserved) /* not published: give the reservation back */
		acct_sub(&c->committed, &reservation);
	c->training[worker] = -1;
	pthread_mutex_unlock(lock);
	cJSON_Delete(report);
	ns_dg_free(&m);
	if (have_seed)
		ns_dg_free(&sm);
	ns_encoder_free(&fitted);
	ns_dataset_free(&wds);
	ns_dataset_free(&ds);
	block_data_free(&d);
	return rc;
}
