/* The daemon's export: flows from a CSV or from a model (generated in
 * batches), times moved onto the wall clock, paced by asking the pacer how
 * many records are due at each poll tick, so the loop never sleeps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "ctl.h"
#include "dg.h"

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull
#define CHUNK 1024         /* records shifted and encoded at a time */
#define TICK_MS 10         /* poll timeout while paced */
#define UNPACED_TICK 20000 /* records per tick without a rate */
#define MODEL_BATCH 2000   /* records generated at a time */

struct ctl_model {
	struct ns_learner_config cfg;
	struct ns_dg m;
	struct ns_encoder enc;
};

static void
model_free(struct ctl_model *cm)
{
	if (!cm)
		return;
	ns_dg_free(&cm->m);
	ns_encoder_free(&cm->enc);
	free(cm);
}

static void
release(struct ctl_export *x)
{
	for (unsigned i = 0; i < x->n_sinks; i++)
		ns_sender_close(&x->sinks[i].snd);
	ns_flow_trace_free(&x->trace);
	model_free(x->model);
	x->model = NULL;
	free(x->buf);
	x->buf = NULL;
}

void
ctl_export_stop(struct ctl_export *x, const char *state)
{
	if (!x->running)
		return;
	x->running = 0;
	x->state = state;
	x->stopped_unix_ms = ns_real_ns() / NS_PER_MS;
	x->stop_mono_ns = ns_mono_ns();
	release(x); /* the sinks' counters stay for stats */
}

static int
open_sinks(struct ctl_export *x, const struct ctl_config *c, struct ctl_err *e)
{
	x->sinks = calloc(c->n_exporters, sizeof(*x->sinks));
	if (!x->sinks)
		return ctl_fail(e, "internal", "", "out of memory");
	for (unsigned i = 0; i < c->n_exporters; i++) {
		struct ctl_sink *s = &x->sinks[i];
		char fn[64], err[320] = "cannot start the exporter";
		ns_sender_init(&s->snd);
		x->n_sinks = i + 1;
		snprintf(fn, sizeof(fn), "exporters[%u].collector", i);
		struct ns_export_config ec;
		ns_export_config_default(&ec, c->exporters[i].version);
		ec.mtu = (unsigned)c->mtu;
		ec.template_ms = (uint64_t)c->template_interval * 1000;
		ec.template_packets = (unsigned)c->template_packets;
		ec.ipfix_seq_flows_only = c->ipfix_seq_flows;
		if (ns_export_config_check(&ec, err, sizeof(err)) ||
		    ns_export_init(&s->ex, &ec))
			return ctl_fail(e, "bad_config", fn, "%s", err);
		if (ns_sender_add(&s->snd, c->exporters[i].collector, err,
		                  sizeof(err)))
			return ctl_fail(e, "bad_field", fn, "%s: %s", fn, err);
	}
	return 0;
}

/* The next CSV pass or model batch into x->trace; 0 when the source is
 * used up. */
static int
refill(struct ctl_export *x)
{
	if (x->model) {
		struct ctl_model *cm = x->model;
		ns_flow_trace_free(&x->trace);
		memset(&x->trace, 0, sizeof(x->trace));
		size_t n = MODEL_BATCH;
		if (x->limit && x->limit - x->records_in < n)
			n = x->limit - x->records_in;
		if (n == 0)
			return 0;
		struct ns_pkt_trace none = {0};
		if (ns_dg_generate_records(&cm->m, &cm->enc, n, &none,
		                           &x->trace, NULL) ||
		    x->trace.n == 0) {
			ns_pkt_trace_free(&none);
			snprintf(x->last_error, sizeof(x->last_error),
			         "the model generated no flows");
			return -1;
		}
		ns_flow_trace_sort(&x->trace);
	} else if (x->loops > 0 && !x->loop) {
		return 0;
	}
	/* each pass starts after the last one ended, a whole number of
	 * seconds later so millisecond times keep their fractions */
	uint64_t first = x->trace.v[0].first_ns, end = first;
	for (size_t i = 0; i < x->trace.n; i++)
		if (x->trace.v[i].last_ns > end)
			end = x->trace.v[i].last_ns;
	uint64_t next = x->pass_end_ns;
	uint64_t shift = 0;
	if (x->wall_clock) {
		uint64_t now = ns_real_ns();
		shift = now > first ? now - first : 0;
		shift -= shift % NS_PER_MS;
	}
	if (first + shift < next)
		shift = next - first +
		        (NS_PER_S - (next - first) % NS_PER_S) % NS_PER_S;
	x->shift_ns = shift;
	x->pass_end_ns = end + shift + 1;
	x->pos = 0;
	x->loops++;
	return 1;
}

static int
load_source(struct ctl_export *x, const struct ctl_config *c,
            struct ctl_err *e)
{
	char err[512];
	if (c->export_flows[0]) {
		struct ns_diag d;
		ns_diag_init(&d, c->export_flows, "line");
		d.quiet = 1;
		snprintf(x->source, sizeof(x->source), "flows:%s",
		         c->export_flows);
		if (ns_read_flows(c->export_flows, NS_FMT_UNKNOWN, &x->trace,
		                  &d))
			return ctl_fail(e, "bad_source", "export_flows",
			                "export_flows: %s: cannot read flow "
			                "records",
			                c->export_flows);
		if (x->trace.n == 0)
			return ctl_fail(e, "bad_source", "export_flows",
			                "export_flows: %s: no flow records",
			                c->export_flows);
		ns_flow_trace_sort(&x->trace);
		return 0;
	}
	char path[CTL_PATH_MAX * 2];
	if (!c->export_model[0])
		return ctl_fail(e, "no_source", "export_model",
		                "set "
		                "export_model or export_flows first");
	if (ctl_model_path(c, c->export_model, "export_model", path,
	                   sizeof(path), e))
		return -1;
	snprintf(x->source, sizeof(x->source), "model:%s", c->export_model);
	struct ctl_model *cm = calloc(1, sizeof(*cm));
	if (!cm)
		return ctl_fail(e, "internal", "", "out of memory");
	if (ns_ckpt_load(path, &cm->cfg, &cm->m, &cm->enc, err, sizeof(err))) {
		free(cm);
		return ctl_fail(e, "bad_source", "export_model",
		                "export_model: %s", err);
	}
	x->model = cm;
	if (cm->enc.is_packets)
		return ctl_fail(e, "bad_source", "export_model",
		                "export_model: %s is a packet model; export "
		                "needs a flow model",
		                c->export_model);
	ns_rng_seed(&cm->m.rng, ns_real_ns());
	return 0;
}

int
ctl_export_start(struct ctl_export *x, const struct ctl_config *c,
                 struct ctl_err *e)
{
	if (x->running)
		return ctl_fail(e, "busy", "",
		                "an export is already running "
		                "(export.stop first)");
	if (c->n_exporters == 0)
		return ctl_fail(e, "no_exporters", "exporters",
		                "no "
		                "exporters configured (exporters.add first)");
	release(x);
	free(x->sinks);
	memset(x, 0, sizeof(*x));
	x->state = "failed";
	x->mtu = (unsigned)c->mtu;
	x->rate = (uint64_t)c->export_rate;
	x->limit = (uint64_t)c->export_limit;
	x->wall_clock = c->wall_clock;
	x->loop = c->export_loop;
	x->buf = malloc(x->mtu);
	if (!x->buf) {
		ctl_fail(e, "internal", "", "out of memory");
		goto fail;
	}
	if (open_sinks(x, c, e) || load_source(x, c, e))
		goto fail;
	int r = refill(x);
	if (r <= 0) {
		ctl_fail(e, "bad_source", x->model ? "export_model" : "", "%s",
		         x->last_error[0] ? x->last_error
		                          : "nothing to export");
		goto fail;
	}
	x->running = 1;
	x->state = "running";
	x->started_unix_ms = ns_real_ns() / NS_PER_MS;
	x->start_mono_ns = ns_mono_ns();
	ns_pacer_start(&x->pacer, x->rate);
	return 0;
fail:
	snprintf(x->last_error, sizeof(x->last_error), "%s", e->msg);
	release(x);
	return -1;
}

/* Encode recs[0..n) for every sink and send the packets. */
static void
send_records(struct ctl_export *x, const struct ns_flow_record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (recs[i].last_ns > x->vnow_ns)
			x->vnow_ns = recs[i].last_ns;
	uint64_t now = x->wall_clock ? ns_real_ns() : x->vnow_ns;
	uint64_t mono = ns_mono_ns();
	for (unsigned s = 0; s < x->n_sinks; s++) {
		struct ctl_sink *k = &x->sinks[s];
		size_t done = 0;
		while (done < n) {
			size_t used = 0;
			size_t len = ns_export_encode(
			    &k->ex, x->buf, x->mtu, recs + done, n - done,
			    &used, now / NS_PER_MS, mono / NS_PER_MS);
			if (len == 0 && used == 0)
				break; /* cannot happen with mtu >= MIN */
			done += used;
			if (len)
				x->send_failures +=
				    ns_sender_send(&k->snd, x->buf, len);
		}
	}
}

int
ctl_export_tick(struct ctl_export *x)
{
	if (!x->running)
		return -1;
	uint64_t due = x->rate ? ns_pacer_due(&x->pacer, ns_mono_ns())
			       : UNPACED_TICK;
	static struct ns_flow_record chunk[CHUNK];
	while (due > 0 && x->running) {
		if (x->pos == x->trace.n) {
			int r = refill(x);
			if (r <= 0) {
				ctl_export_stop(x,
				                r < 0 ? "failed" : "finished");
				break;
			}
		}
		size_t k = x->trace.n - x->pos;
		if (k > due)
			k = due;
		if (k > CHUNK)
			k = CHUNK;
		if (x->limit && x->limit - x->records_in < k)
			k = x->limit - x->records_in;
		if (k == 0) {
			ctl_export_stop(x, "finished");
			break;
		}
		for (size_t i = 0; i < k; i++) {
			chunk[i] = x->trace.v[x->pos + i];
			chunk[i].first_ns += x->shift_ns;
			chunk[i].last_ns += x->shift_ns;
		}
		send_records(x, chunk, k);
		x->pos += k;
		x->records_in += k;
		due -= k;
		if (x->limit && x->records_in >= x->limit)
			ctl_export_stop(x, "finished");
	}
	if (!x->running)
		return -1;
	return x->rate ? TICK_MS : 0;
}

cJSON *
ctl_export_json(const struct ctl_export *x)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "state", x->state ? x->state : "idle");
	cJSON_AddStringToObject(o, "source", x->source);
	cJSON_AddNumberToObject(o, "rate", (double)x->rate);
	cJSON_AddNumberToObject(o, "records_in", (double)x->records_in);
	cJSON_AddNumberToObject(o, "passes", (double)x->loops);
	cJSON_AddNumberToObject(o, "send_failures", (double)x->send_failures);
	uint64_t end = x->running ? ns_mono_ns() : x->stop_mono_ns;
	double secs = x->start_mono_ns && end > x->start_mono_ns
	                  ? (double)(end - x->start_mono_ns) / 1e9
	                  : 0;
	cJSON_AddNumberToObject(o, "seconds", secs);
	cJSON_AddNumberToObject(o, "records_per_s",
	                        secs > 0 ? (double)x->records_in / secs : 0);
	if (x->started_unix_ms)
		cJSON_AddNumberToObject(o, "started_unix_ms",
		                        (double)x->started_unix_ms);
	if (x->last_error[0])
		cJSON_AddStringToObject(o, "last_error", x->last_error);
	cJSON *a = cJSON_AddArrayToObject(o, "collectors");
	for (unsigned i = 0; i < x->n_sinks; i++) {
		const struct ctl_sink *k = &x->sinks[i];
		const struct ns_export_stats *s = &k->ex.st;
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "collector", k->snd.c[0].name);
		cJSON_AddNumberToObject(c, "version", k->ex.cfg.version);
		cJSON_AddNumberToObject(c, "records", (double)s->records);
		cJSON_AddNumberToObject(c, "packets", (double)s->packets);
		cJSON_AddNumberToObject(c, "octets", (double)s->octets);
		cJSON_AddNumberToObject(c, "template_sends",
		                        (double)s->template_sends);
		cJSON_AddNumberToObject(c, "option_records",
		                        (double)s->option_records);
		cJSON_AddNumberToObject(c, "skipped_v6",
		                        (double)s->skipped_v6);
		cJSON_AddNumberToObject(c, "skipped_bad",
		                        (double)s->skipped_bad);
		cJSON_AddNumberToObject(c, "skipped_time",
		                        (double)s->skipped_time);
		cJSON_AddNumberToObject(c, "send_errors",
		                        (double)k->snd.c[0].errors);
		if (k->snd.c[0].errors)
			cJSON_AddStringToObject(
			    c, "last_send_error",
			    strerror(k->snd.c[0].last_errno));
		cJSON_AddItemToArray(a, c);
	}
	return o;
}
