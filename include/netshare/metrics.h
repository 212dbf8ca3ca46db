/* Fidelity metrics between a real and a synthetic trace: NetShare's own
 * (netshare.md §7.1) and a few extended ones, plus privacy checks.
 *
 * Units: TS and PAT and every extended time metric are in microseconds
 * (NetShare's raw `ts`/`time` unit); TD is in seconds. Undefined values
 * (an empty trace, no pair of records to take a gap from) are NAN. */
#ifndef NETSHARE_METRICS_H
#define NETSHARE_METRICS_H

#include <stddef.h>

#include "netshare/trace.h"

/* Jensen-Shannon divergence with the natural log, in [0, ln 2]: scipy's
 * jensenshannon(p, q)**2. Both vectors are normalised to sum 1 and the
 * shorter one is zero-padded. NAN when either vector is empty or sums to
 * 0, or holds a negative or non-finite entry. */
double ns_jsd(const double *p, size_t np, const double *q, size_t nq);

/* 1-D Wasserstein-1 distance between the empirical distributions of a and
 * b: scipy's wasserstein_distance(a, b). NAN when either is empty or holds
 * a non-finite value (or memory runs out). O((na + nb) log(na + nb)). */
double ns_emd(const double *a, size_t na, const double *b, size_t nb);

/* The same with non-negative weights per value (NULL: all 1), scipy's
 * wasserstein_distance(a, b, wa, wb). NAN also when a weight is negative
 * or non-finite, or when a side's weights sum to 0. */
double ns_emd_weighted(const double *a, const double *wa, size_t na,
                       const double *b, const double *wb, size_t nb);

/* What a metric measures, and so how it is scored and averaged. */
enum ns_metric_kind {
	NS_METRIC_JSD,   /* divergence of two frequency vectors */
	NS_METRIC_EMD,   /* W1 distance of two samples, raw units */
	NS_METRIC_SHARE, /* privacy check: a share of synthetic records */
	NS_METRIC_AVG,   /* avg_jsd, avg_norm_emd */
};

struct ns_metric {
	const char *name; /* NetShare label or snake_case (static) */
	double value;     /* NAN when undefined */
	double norm;      /* EMD after ns_metrics_normalise, else NAN */
	enum ns_metric_kind kind;
	int is_netshare; /* one of NetShare's labels (SA .. FS) */
};

/* Metrics for flows, in order:
 *   SA DA SP DP PR (JSD)  TS TD PKT BYT (EMD)
 *   bytes_per_packet, interarrival_within_flow (EMD),
 *   proto_dstport_jsd, srcport_dstport_top_jsd (JSD),
 *   exact_record_share, five_tuple_share, avg_jsd, avg_norm_emd.
 * For packets:
 *   SA DA SP DP PR (JSD)  PS PAT FS (EMD)
 *   pkts_per_flow, flow_duration, interarrival_within_flow (EMD),
 *   proto_dstport_jsd, srcport_dstport_top_jsd (JSD),
 *   exact_record_share, five_tuple_share, avg_jsd, avg_norm_emd.
 * See tools/metrics/README.md for each definition. */
#define NS_METRICS_MAX 20

struct ns_metric_set {
	int is_packets;
	unsigned n;
	struct ns_metric m[NS_METRICS_MAX];
};

/* The top-K size of srcport_dstport_top_jsd. */
#define NS_METRICS_TOP_K 100

/* Fill out with every metric of syn against real; avg_norm_emd stays NAN
 * until ns_metrics_normalise. Neither trace needs to be sorted. Returns 0,
 * or -1 with errno ENOMEM. */
int ns_metrics_flows(const struct ns_flow_trace *real,
                     const struct ns_flow_trace *syn,
                     struct ns_metric_set *out);
int ns_metrics_pkts(const struct ns_pkt_trace *real,
                    const struct ns_pkt_trace *syn, struct ns_metric_set *out);

/* Scale each EMD metric across the nsets synthetic traces (all of one
 * mode) into [0.1, 0.9] by min-max over their defined values, storing it
 * in .norm: the best trace gets 0.1, the worst 0.9. When every defined
 * value is equal (one trace, say) each gets 0.5. Then set avg_norm_emd to
 * the mean .norm over NetShare's EMD fields (TS TD PKT BYT or PS PAT FS),
 * leaving out undefined ones. Returns 0, or -1 with errno EINVAL when the
 * sets are not all of one mode. */
int ns_metrics_normalise(struct ns_metric_set *sets, size_t nsets);

/* The metric called name, or NULL. */
const struct ns_metric *ns_metric_find(const struct ns_metric_set *s,
                                       const char *name);

/* One trace's data behind a metric, for plots and checks: the sample of an
 * EMD metric (unsorted), the decreasing count vector of SA or DA, or the
 * count vectors of SP and DP (65,536 entries) and PR (256). *v is
 * malloc'd (NULL when *n is 0); free it. Returns 0, or -1 with errno
 * EINVAL (no such field for this mode) or ENOMEM. */
int ns_flow_sample(const struct ns_flow_trace *t, const char *field,
                   double **v, size_t *n);
int ns_pkt_sample(const struct ns_pkt_trace *t, const char *field, double **v,
                  size_t *n);

#endif
