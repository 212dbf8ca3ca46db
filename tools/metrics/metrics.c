/* NetShare's fidelity metrics (netshare.md §7.1), the extended ones and
 * the privacy shares, for flow and packet traces; the [0.1, 0.9]
 * normalisation across synthetic traces. */
#include "netshare/metrics.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"

struct mdef {
	const char *name;
	enum ns_metric_kind kind;
	int netshare;
};

/* clang-format off */
enum flow_metric {
	F_SA, F_DA, F_SP, F_DP, F_PR,
	F_TS, F_TD, F_PKT, F_BYT,
	F_BPP, F_IAT,
	F_PROTO_DP, F_TOP_PAIRS,
	F_EXACT, F_TUPLE,
	F_AVG_JSD, F_AVG_NEMD,
	F_COUNT
};

static const struct mdef flow_defs[F_COUNT] = {
	[F_SA] = {"SA", NS_METRIC_JSD, 1},
	[F_DA] = {"DA", NS_METRIC_JSD, 1},
	[F_SP] = {"SP", NS_METRIC_JSD, 1},
	[F_DP] = {"DP", NS_METRIC_JSD, 1},
	[F_PR] = {"PR", NS_METRIC_JSD, 1},
	[F_TS] = {"TS", NS_METRIC_EMD, 1},
	[F_TD] = {"TD", NS_METRIC_EMD, 1},
	[F_PKT] = {"PKT", NS_METRIC_EMD, 1},
	[F_BYT] = {"BYT", NS_METRIC_EMD, 1},
	[F_BPP] = {"bytes_per_packet", NS_METRIC_EMD, 0},
	[F_IAT] = {"interarrival_within_flow", NS_METRIC_EMD, 0},
	[F_PROTO_DP] = {"proto_dstport_jsd", NS_METRIC_JSD, 0},
	[F_TOP_PAIRS] = {"srcport_dstport_top_jsd", NS_METRIC_JSD, 0},
	[F_EXACT] = {"exact_record_share", NS_METRIC_SHARE, 0},
	[F_TUPLE] = {"five_tuple_share", NS_METRIC_SHARE, 0},
	[F_AVG_JSD] = {"avg_jsd", NS_METRIC_AVG, 0},
	[F_AVG_NEMD] = {"avg_norm_emd", NS_METRIC_AVG, 0},
};
/* clang-format on */
static_assert(F_COUNT == 17 && F_COUNT <= NS_METRICS_MAX,
              "name every flow metric");

/* clang-format off */
enum pkt_metric {
	P_SA, P_DA, P_SP, P_DP, P_PR,
	P_PS, P_PAT, P_FS,
	P_PPF, P_DUR, P_IAT,
	P_PROTO_DP, P_TOP_PAIRS,
	P_EXACT, P_TUPLE,
	P_AVG_JSD, P_AVG_NEMD,
	P_COUNT
};

static const struct mdef pkt_defs[P_COUNT] = {
	[P_SA] = {"SA", NS_METRIC_JSD, 1},
	[P_DA] = {"DA", NS_METRIC_JSD, 1},
	[P_SP] = {"SP", NS_METRIC_JSD, 1},
	[P_DP] = {"DP", NS_METRIC_JSD, 1},
	[P_PR] = {"PR", NS_METRIC_JSD, 1},
	[P_PS] = {"PS", NS_METRIC_EMD, 1},
	[P_PAT] = {"PAT", NS_METRIC_EMD, 1},
	[P_FS] = {"FS", NS_METRIC_EMD, 1},
	[P_PPF] = {"pkts_per_flow", NS_METRIC_EMD, 0},
	[P_DUR] = {"flow_duration", NS_METRIC_EMD, 0},
	[P_IAT] = {"interarrival_within_flow", NS_METRIC_EMD, 0},
	[P_PROTO_DP] = {"proto_dstport_jsd", NS_METRIC_JSD, 0},
	[P_TOP_PAIRS] = {"srcport_dstport_top_jsd", NS_METRIC_JSD, 0},
	[P_EXACT] = {"exact_record_share", NS_METRIC_SHARE, 0},
	[P_TUPLE] = {"five_tuple_share", NS_METRIC_SHARE, 0},
	[P_AVG_JSD] = {"avg_jsd", NS_METRIC_AVG, 0},
	[P_AVG_NEMD] = {"avg_norm_emd", NS_METRIC_AVG, 0},
};
/* clang-format on */
static_assert(P_COUNT == 17 && P_COUNT <= NS_METRICS_MAX,
              "name every packet metric");

/* The fields SA .. PR share between modes sit at the same indices. */
static_assert((int)F_PR == (int)P_PR, "shared JSD fields line up");

static void
set_init(struct ns_metric_set *s, const struct mdef *defs, unsigned n,
         int is_packets)
{
	memset(s, 0, sizeof(*s));
	s->is_packets = is_packets;
	s->n = n;
	for (unsigned i = 0; i < n; i++) {
		s->m[i].name = defs[i].name;
		s->m[i].kind = defs[i].kind;
		s->m[i].is_netshare = defs[i].netshare;
		s->m[i].value = NAN;
		s->m[i].norm = NAN;
	}
}

static int
find_def(const struct mdef *defs, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(defs[i].name, name) == 0)
			return i;
	return -1;
}

/* A malloc'd array of n doubles (at least one, so NULL means ENOMEM). */
static double *
new_vec(size_t n)
{
	return malloc((n ? n : 1) * sizeof(double));
}

static int
dup_vec(const double *src, size_t n, double **v, size_t *nv)
{
	*v = new_vec(n);
	if (!*v)
		return -1;
	if (n)
		memcpy(*v, src, n * sizeof(double));
	*nv = n;
	return 0;
}

/* SA, DA, SP, DP, PR: the same for flows and packets. */
static int
shared_sample(const struct ns_view *v, int idx, double **out, size_t *n)
{
	switch (idx) {
	case F_SA:
	case F_DA:
		return ns_v_rank_freq(v, idx == F_DA, out, n);
	case F_SP:
	case F_DP:
		*n = 65536;
		return ns_v_port_hist(v, idx == F_DP, out);
	default:
		*n = 256;
		return ns_v_proto_hist(v, out);
	}
}

static uint64_t
min_time(const struct ns_view *v)
{
	uint64_t m = UINT64_MAX;
	for (size_t i = 0; i < v->n; i++)
		if (ns_v_time(v, i) < m)
			m = ns_v_time(v, i);
	return m;
}

/* The data behind flow metric idx (F_SA .. F_IAT) for one trace. */
static int
flow_sample(const struct ns_flow_trace *t, int idx, double **out, size_t *n)
{
	struct ns_view v = {.f = t->v, .n = t->n};
	*out = NULL;
	*n = 0;
	if (idx <= F_PR)
		return shared_sample(&v, idx, out, n);
	if (idx == F_IAT) {
		struct ns_v_groups g;
		if (ns_v_group(&v, &g))
			return -1;
		int rc = dup_vec(g.gap, g.ngaps, out, n);
		ns_v_groups_free(&g);
		return rc;
	}
	double *x = new_vec(t->n);
	if (!x)
		return -1;
	uint64_t t0 = min_time(&v);
	size_t k = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct ns_flow_record *r = &t->v[i];
		switch (idx) {
		case F_TS: /* µs since the trace's first flow */
			x[k++] = (double)(r->first_ns - t0) / 1e3;
			break;
		case F_TD: /* seconds */
			x[k++] =
			    (double)(int64_t)(r->last_ns - r->first_ns) / 1e9;
			break;
		case F_PKT:
			x[k++] = (double)r->packets;
			break;
		case F_BYT:
			x[k++] = (double)r->bytes;
			break;
		default: /* F_BPP: records without packets have no mean */
			if (r->packets)
				x[k++] = (double)r->bytes / (double)r->packets;
			break;
		}
	}
	*out = x;
	*n = k;
	return 0;
}

/* The data behind packet metric idx (P_SA .. P_IAT) for one trace; g, if
 * not NULL, holds the trace's 5-tuple groups already. */
static int
pkt_sample(const struct ns_pkt_trace *t, const struct ns_v_groups *g, int idx,
           double **out, size_t *n)
{
	struct ns_view v = {.p = t->v, .n = t->n};
	*out = NULL;
	*n = 0;
	if (idx <= P_PR)
		return shared_sample(&v, idx, out, n);
	if (idx >= P_FS) {
		struct ns_v_groups own;
		if (!g) {
			if (ns_v_group(&v, &own))
				return -1;
			g = &own;
		}
		int rc;
		if (idx == P_FS || idx == P_PPF)
			rc = dup_vec(g->size, g->nflows, out, n);
		else if (idx == P_DUR)
			rc = dup_vec(g->dur, g->nflows, out, n);
		else
			rc = dup_vec(g->gap, g->ngaps, out, n);
		if (g == &own)
			ns_v_groups_free(&own);
		return rc;
	}
	double *x = new_vec(t->n);
	if (!x)
		return -1;
	uint64_t t0 = min_time(&v);
	for (size_t i = 0; i < t->n; i++)
		x[i] = idx == P_PS ? (double)t->v[i].ip_len
		                   : (double)(t->v[i].ts_ns - t0) / 1e3;
	*out = x;
	*n = t->n;
	return 0;
}

static void
put_u64(uint8_t *k, uint64_t x)
{
	memcpy(k, &x, 8);
}

/* Every modelled field of a flow: 5-tuple, first, duration, pkt, byt. */
#define FLOW_EXACT_KEY (NS_TUPLE_KEY + 32)
static void
flow_exact_key(const struct ns_view *v, size_t i, uint8_t *k)
{
	const struct ns_flow_record *r = &v->f[i];
	ns_v_tuple_key(v, i, k);
	put_u64(k + NS_TUPLE_KEY, r->first_ns);
	put_u64(k + NS_TUPLE_KEY + 8, r->last_ns - r->first_ns);
	put_u64(k + NS_TUPLE_KEY + 16, r->packets);
	put_u64(k + NS_TUPLE_KEY + 24, r->bytes);
}

/* Every modelled field of a packet: 5-tuple, time, ip_len, tos, ttl, id
 * and the flags/offset word. */
#define PKT_EXACT_KEY (NS_TUPLE_KEY + 20)
static void
pkt_exact_key(const struct ns_view *v, size_t i, uint8_t *k)
{
	const struct ns_pkt_record *r = &v->p[i];
	ns_v_tuple_key(v, i, k);
	k += NS_TUPLE_KEY;
	put_u64(k, r->ts_ns);
	memcpy(k + 8, &r->ip_len, 4);
	k[12] = r->tos;
	k[13] = r->ttl;
	memcpy(k + 14, &r->ip_id, 4);
	memcpy(k + 18, &r->ip_frag, 2);
}

static double
mean_defined(const struct ns_metric_set *s, enum ns_metric_kind kind,
             int use_norm)
{
	double sum = 0.0;
	unsigned n = 0;
	for (unsigned i = 0; i < s->n; i++) {
		const struct ns_metric *m = &s->m[i];
		double x = use_norm ? m->norm : m->value;
		if (m->kind == kind && m->is_netshare && !isnan(x)) {
			sum += x;
			n++;
		}
	}
	return n ? sum / n : NAN;
}

/* The metrics of both modes past the per-trace samples. */
static int
pair_metrics(const struct ns_view *vr, const struct ns_view *vs,
             struct ns_metric_set *out, int proto_dp, ns_v_key_fn exact_fn,
             size_t exact_len)
{
	struct ns_metric *m = out->m;
	if (ns_v_proto_dstport_jsd(vr, vs, &m[proto_dp].value) ||
	    ns_v_top_pairs_jsd(vr, vs, NS_METRICS_TOP_K,
	                       &m[proto_dp + 1].value) ||
	    ns_v_key_share(vr, vs, exact_fn, exact_len,
	                   &m[proto_dp + 2].value) ||
	    ns_v_key_share(vr, vs, ns_v_tuple_key, NS_TUPLE_KEY,
	                   &m[proto_dp + 3].value))
		return -1;
	m[proto_dp + 4].value = mean_defined(out, NS_METRIC_JSD, 0);
	return 0;
}

static_assert(F_TOP_PAIRS == F_PROTO_DP + 1 && F_EXACT == F_PROTO_DP + 2 &&
                  F_TUPLE == F_PROTO_DP + 3 && F_AVG_JSD == F_PROTO_DP + 4,
              "flow pair metrics in order");
static_assert(P_TOP_PAIRS == P_PROTO_DP + 1 && P_EXACT == P_PROTO_DP + 2 &&
                  P_TUPLE == P_PROTO_DP + 3 && P_AVG_JSD == P_PROTO_DP + 4,
              "packet pair metrics in order");

/* value of one sampled metric from both traces' data */
static void
score(struct ns_metric *m, double *a, size_t na, double *b, size_t nb)
{
	m->value = m->kind == NS_METRIC_JSD ? ns_jsd(a, na, b, nb)
	                                    : ns_emd(a, na, b, nb);
	free(a);
	free(b);
}

int
ns_metrics_flows(const struct ns_flow_trace *real,
                 const struct ns_flow_trace *syn, struct ns_metric_set *out)
{
	set_init(out, flow_defs, F_COUNT, 0);
	for (int i = F_SA; i <= F_IAT; i++) {
		double *a, *b;
		size_t na, nb;
		if (flow_sample(real, i, &a, &na))
			return -1;
		if (flow_sample(syn, i, &b, &nb)) {
			free(a);
			return -1;
		}
		score(&out->m[i], a, na, b, nb);
	}
	struct ns_view vr = {.f = real->v, .n = real->n};
	struct ns_view vs = {.f = syn->v, .n = syn->n};
	return pair_metrics(&vr, &vs, out, F_PROTO_DP, flow_exact_key,
	                    FLOW_EXACT_KEY);
}

int
ns_metrics_pkts(const struct ns_pkt_trace *real,
                const struct ns_pkt_trace *syn, struct ns_metric_set *out)
{
	set_init(out, pkt_defs, P_COUNT, 1);
	struct ns_view vr = {.p = real->v, .n = real->n};
	struct ns_view vs = {.p = syn->v, .n = syn->n};
	struct ns_v_groups gr, gs;
	if (ns_v_group(&vr, &gr))
		return -1;
	if (ns_v_group(&vs, &gs)) {
		ns_v_groups_free(&gr);
		return -1;
	}
	int rc = 0;
	for (int i = P_SA; i <= P_IAT && !rc; i++) {
		double *a, *b;
		size_t na, nb;
		if (pkt_sample(real, &gr, i, &a, &na)) {
			rc = -1;
		} else if (pkt_sample(syn, &gs, i, &b, &nb)) {
			free(a);
			rc = -1;
		} else {
			score(&out->m[i], a, na, b, nb);
		}
	}
	ns_v_groups_free(&gr);
	ns_v_groups_free(&gs);
	if (rc)
		return -1;
	return pair_metrics(&vr, &vs, out, P_PROTO_DP, pkt_exact_key,
	                    PKT_EXACT_KEY);
}

int
ns_metrics_normalise(struct ns_metric_set *sets, size_t nsets)
{
	for (size_t s = 1; s < nsets; s++)
		if (sets[s].is_packets != sets[0].is_packets ||
		    sets[s].n != sets[0].n) {
			errno = EINVAL;
			return -1;
		}
	for (unsigned i = 0; nsets && i < sets[0].n; i++) {
		if (sets[0].m[i].kind != NS_METRIC_EMD)
			continue;
		double lo = INFINITY, hi = -INFINITY;
		for (size_t s = 0; s < nsets; s++) {
			double x = sets[s].m[i].value;
			if (isnan(x))
				continue;
			lo = x < lo ? x : lo;
			hi = x > hi ? x : hi;
		}
		for (size_t s = 0; s < nsets; s++) {
			double x = sets[s].m[i].value;
			struct ns_metric *m = &sets[s].m[i];
			if (isnan(x))
				m->norm = NAN;
			else if (hi > lo)
				m->norm = 0.1 + 0.8 * ((x - lo) / (hi - lo));
			else
				m->norm = 0.5; /* no spread to scale */
		}
	}
	for (size_t s = 0; s < nsets; s++) {
		unsigned last = sets[s].n - 1;
		assert(strcmp(sets[s].m[last].name, "avg_norm_emd") == 0);
		sets[s].m[last].value =
		    mean_defined(&sets[s], NS_METRIC_EMD, 1);
	}
	return 0;
}

const struct ns_metric *
ns_metric_find(const struct ns_metric_set *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (strcmp(s->m[i].name, name) == 0)
			return &s->m[i];
	return NULL;
}

int
ns_flow_sample(const struct ns_flow_trace *t, const char *field, double **v,
               size_t *n)
{
	int idx = find_def(flow_defs, F_COUNT, field);
	if (idx < 0 || idx > F_IAT) {
		errno = EINVAL;
		return -1;
	}
	return flow_sample(t, idx, v, n);
}

int
ns_pkt_sample(const struct ns_pkt_trace *t, const char *field, double **v,
              size_t *n)
{
	int idx = find_def(pkt_defs, P_COUNT, field);
	if (idx < 0 || idx > P_IAT) {
		errno = EINVAL;
		return -1;
	}
	return pkt_sample(t, NULL, idx, v, n);
}
