/* The privacy accountant: RDP of the Poisson-subsampled Gaussian
 * (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of the
 * Sampled Gaussian Mechanism", §3.3), its composition over orders, the
 * conversions to (ε, δ), a Chernoff bound for batch overflow and the
 * accountant's JSON form.
 *
 * Notation: μ0 = N(0, σ²), μ1 = N(1, σ²), μ = (1 − q)μ0 + qμ1. The RDP of
 * one step at order α is ln(A_α)/(α − 1) with A_α = E_{z∼μ0}[(μ/μ0)^α].
 * Everything is summed in log space so that neither q^k nor e^{k²/2σ²}
 * overflows. */
#include "netshare/privacy.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ns_privacy_conversion_names[] = {"balle", "classic"};
_Static_assert(sizeof(ns_privacy_conversion_names) /
                       sizeof(ns_privacy_conversion_names[0]) ==
                   NS_PRIVACY_CONVERSION_COUNT,
               "one name per conversion");

/* Terms of the fractional series below e^LOG_A_TAIL (A ≥ 1, so this is a
 * relative bound) end the sum once past the positive coefficients, where
 * the signs alternate and the tail is below its first term. */
#define LOG_A_TAIL (-36.0)
#define SERIES_MAX_TERMS 2000000u

/* Running log-sum-exp: m is the largest term so far, s = Σ e^{t − m}. */
struct lse {
	double m, s;
};

static void
lse_add(struct lse *l, double t)
{
	if (t == -INFINITY)
		return;
	if (t > l->m) {
		l->s = l->s * exp(l->m - t) + 1.0;
		l->m = t;
	} else {
		l->s += exp(t - l->m);
	}
}

static double
lse_value(const struct lse *l)
{
	return l->m == -INFINITY ? -INFINITY : l->m + log(l->s);
}

/* ln|Γ(x)| without touching the global signgam. */
static double
lgam(double x)
{
	int sign;
	return lgamma_r(x, &sign);
}

/* ln(e^x − 1) for x ≥ 0. */
static double
log_expm1(double x)
{
	return x > 30 ? x + log1p(-exp(-x)) : log(expm1(x));
}

/* ln(1 + e^x). */
static double
log1p_exp(double x)
{
	return x > 30 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* ln erfc(x), finite far into the tail where erfc underflows: the
 * asymptotic series erfc(x) = e^{−x²}/(x√π) Σ (−1)^n (2n−1)!!/(2x²)^n,
 * whose terms at x ≥ 20 fall by 800× each. */
static double
log_erfc(double x)
{
	if (x < 20)
		return log(erfc(x));
	double u = 1.0 / (2 * x * x), term = 1, sum = 1;
	for (int n = 1; n <= 6; n++) {
		term *= -(2 * n - 1) * u;
		sum += term;
	}
	return -x * x - log(x) - 0.5 * log(M_PI) + log(sum);
}

/* ln A_α for an integer α ≥ 2 and 0 < q < 1, σ > 0:
 *   A_α = Σ_{k=0..α} C(α,k) (1−q)^{α−k} q^k e^{(k²−k)/(2σ²)}.
 * The k = 0, 1 terms and the 1 of each exponential sum to exactly 1
 * (the binomial theorem), so A_α − 1 is summed from its non-negative
 * terms C(α,k)(1−q)^{α−k} q^k (e^{(k²−k)/(2σ²)} − 1), k ≥ 2: that keeps
 * the digits of a tiny RDP that 1 + tiny would lose. */
static double
log_a_int(double q, double sigma, double alpha)
{
	double lq = log(q), l1q = log1p(-q);
	double lga = lgam(alpha + 1), two_s2 = 2 * sigma * sigma;
	struct lse l = {-INFINITY, 0};
	for (double k = 2; k <= alpha; k++) {
		double lb = lga - lgam(k + 1) - lgam(alpha - k + 1);
		lse_add(&l, lb + (alpha - k) * l1q + k * lq +
		                log_expm1((k * k - k) / two_s2));
	}
	return log1p_exp(lse_value(&l)); /* ln(1 + (A − 1)) */
}

/* ln A_α for any α > 1, 0 < q < 1, σ > 0, by the two series of §3.3:
 * split the integral at z0 where μ1/μ0 = (1 − q)/q, expand (1 − q +
 * q·μ1/μ0)^α by the generalised binomial series on each side (in powers
 * of the smaller ratio), and integrate each term as a Gaussian tail:
 *   A = Σ_i C(α,i) [ q^i (1−q)^{α−i} e^{(i²−i)/2σ²} ½erfc((i − z0)/√2σ)
 *                  + q^{α−i} (1−q)^i e^{(j²−j)/2σ²} ½erfc((z0 − j)/√2σ) ]
 * with j = α − i and z0 = σ² ln(1/q − 1) + ½. At integer α the
 * coefficients vanish past i = α and the two halves pair into the
 * binomial sum. The positive and negative terms are summed apart.
 * Returns NAN when the series does not settle (the caller then bounds). */
static double
log_a_series(double q, double sigma, double alpha)
{
	double lq = log(q), l1q = log1p(-q);
	double s2 = sigma * sigma, r2s = 1.0 / (M_SQRT2 * sigma);
	double z0 = s2 * (l1q - lq) + 0.5;
	double lga = lgam(alpha + 1);
	struct lse pos = {-INFINITY, 0}, neg = {-INFINITY, 0};
	int sign = 1; /* of C(α, i) */
	for (unsigned n = 0; n < SERIES_MAX_TERMS; n++) {
		double i = n, j = alpha - i;
		if (n > 0) {
			/* C(α, i) = C(α, i − 1)(α − i + 1)/i */
			double f = alpha - i + 1;
			if (f == 0)
				return lse_value(&pos); /* integer α: done */
			if (f < 0)
				sign = -sign;
		}
		double lb = lga - lgam(i + 1) - lgam(alpha - i + 1);
		double s0 = lb + i * lq + j * l1q + (i * i - i) / (2 * s2) +
		            log_erfc((i - z0) * r2s) - M_LN2;
		double s1 = lb + j * lq + i * l1q + (j * j - j) / (2 * s2) +
		            log_erfc((z0 - j) * r2s) - M_LN2;
		struct lse *acc = sign > 0 ? &pos : &neg;
		lse_add(acc, s0);
		lse_add(acc, s1);
		if (i > alpha + 1 && fmax(s0, s1) < LOG_A_TAIL) {
			double p = lse_value(&pos), m = lse_value(&neg);
			if (!(m < p))
				return NAN;
			return p + log1p(-exp(m - p));
		}
	}
	return NAN;
}

/* The ranges shared by both paths; 1 and *out set when the answer needs
 * no series. */
static int
special_case(double q, double sigma, double alpha, double *out)
{
	if (!(q >= 0 && q <= 1) || !(sigma >= 0) || !(alpha > 1) ||
	    !(alpha <= NS_PRIVACY_ORDER_MAX)) {
		*out = NAN;
		return 1;
	}
	if (q == 0 || isinf(sigma)) {
		*out = 0;
		return 1;
	}
	if (sigma == 0) {
		*out = INFINITY;
		return 1;
	}
	if (q == 1) {
		*out = alpha / (2 * sigma * sigma);
		return 1;
	}
	return 0;
}

static double
rdp_from_log_a(double log_a, double alpha)
{
	/* A ≥ 1 exactly; rounding must not make the RDP negative */
	return log_a > 0 ? log_a / (alpha - 1) : 0;
}

double
ns_rdp_sampled_gaussian_series(double q, double sigma, double alpha)
{
	double r;
	if (special_case(q, sigma, alpha, &r))
		return r;
	double la = log_a_series(q, sigma, alpha);
	if (isnan(la)) {
		/* RDP is non-decreasing in α: the next integer bounds it */
		double up = ceil(alpha);
		if (up == alpha)
			up++;
		return rdp_from_log_a(log_a_int(q, sigma, up), up);
	}
	return rdp_from_log_a(la, alpha);
}

double
ns_rdp_sampled_gaussian(double q, double sigma, double alpha)
{
	double r;
	if (special_case(q, sigma, alpha, &r))
		return r;
	if (alpha != floor(alpha))
		return ns_rdp_sampled_gaussian_series(q, sigma, alpha);
	return rdp_from_log_a(log_a_int(q, sigma, alpha), alpha);
}

/* ------------------------------------------------------------------ */
/* The accountant */

void
ns_privacy_acct_init(struct ns_privacy_acct *a)
{
	static const double low[] = {1.25, 1.5, 1.75, 2, 2.25,
	                             2.5,  3,   3.5,  4, 4.5};
	static const double high[] = {128, 256, 512};
	size_t n = 0;
	memset(a, 0, sizeof(*a));
	for (size_t i = 0; i < sizeof(low) / sizeof(low[0]); i++)
		a->order[n++] = low[i];
	for (int k = 5; k <= 63; k++)
		a->order[n++] = k;
	for (size_t i = 0; i < sizeof(high) / sizeof(high[0]); i++)
		a->order[n++] = high[i];
	a->n_orders = n;
}
_Static_assert(10 + 59 + 3 == NS_PRIVACY_DEFAULT_ORDERS, "default orders");
_Static_assert(NS_PRIVACY_DEFAULT_ORDERS <= NS_PRIVACY_MAX_ORDERS,
               "default orders fit");

static int
order_ok(double x)
{
	return x > 1 && x <= NS_PRIVACY_ORDER_MAX; /* false for NaN */
}

static int
cmp_double(const void *pa, const void *pb)
{
	double x = *(const double *)pa, y = *(const double *)pb;
	return (x > y) - (x < y);
}

int
ns_privacy_acct_init_orders(struct ns_privacy_acct *a, const double *orders,
                            size_t n)
{
	if (n == 0 || n > NS_PRIVACY_MAX_ORDERS)
		return -1;
	double sorted[NS_PRIVACY_MAX_ORDERS];
	for (size_t i = 0; i < n; i++) {
		if (!order_ok(orders[i]))
			return -1;
		sorted[i] = orders[i];
	}
	qsort(sorted, n, sizeof(sorted[0]), cmp_double);
	for (size_t i = 1; i < n; i++)
		if (sorted[i] == sorted[i - 1])
			return -1;
	memset(a, 0, sizeof(*a));
	memcpy(a->order, sorted, n * sizeof(sorted[0]));
	a->n_orders = n;
	return 0;
}

int
ns_privacy_acct_add_sampled_gaussian(struct ns_privacy_acct *a, double q,
                                     double sigma, uint64_t steps)
{
	if (!(q >= 0 && q <= 1) || !(sigma >= 0))
		return -1;
	if (steps == 0)
		return 0;
	double add[NS_PRIVACY_MAX_ORDERS];
	for (size_t i = 0; i < a->n_orders; i++) {
		double r = ns_rdp_sampled_gaussian(q, sigma, a->order[i]);
		if (isnan(r))
			return -1; /* an order out of range: a corrupt acct */
		add[i] = r == 0 ? 0 : r * (double)steps;
	}
	for (size_t i = 0; i < a->n_orders; i++)
		a->rdp[i] += add[i];
	return 0;
}

int
ns_privacy_acct_add_gaussian(struct ns_privacy_acct *a, double sigma)
{
	return ns_privacy_acct_add_sampled_gaussian(a, 1.0, sigma, 1);
}

int
ns_privacy_acct_merge(struct ns_privacy_acct *dst,
                      const struct ns_privacy_acct *src)
{
	if (dst->n_orders != src->n_orders)
		return -1;
	for (size_t i = 0; i < dst->n_orders; i++)
		if (dst->order[i] != src->order[i])
			return -1;
	for (size_t i = 0; i < dst->n_orders; i++)
		dst->rdp[i] += src->rdp[i];
	return 0;
}

int
ns_privacy_acct_epsilon(const struct ns_privacy_acct *a, double delta,
                        enum ns_privacy_conversion conv, double *eps,
                        double *order)
{
	if (!(delta > 0 && delta < 1) ||
	    (unsigned)conv >= NS_PRIVACY_CONVERSION_COUNT)
		return -1;
	double best = INFINITY, at = NAN, ld = log(delta);
	for (size_t i = 0; i < a->n_orders; i++) {
		double r = a->rdp[i], al = a->order[i], e;
		if (!(r < INFINITY))
			continue;
		if (conv == NS_PRIVACY_BALLE)
			e = r - (ld + log(al)) / (al - 1) + log1p(-1 / al);
		else
			e = r - ld / (al - 1);
		if (e < best) {
			best = e;
			at = al;
		}
	}
	*eps = best < 0 ? 0 : best;
	*order = at;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Batch overflow */

/* KL(a ‖ q) between Bernoulli(a) and Bernoulli(q), 0 < q < 1. */
static double
kl_bernoulli(double a, double q)
{
	double t = a > 0 ? a * log(a / q) : 0;
	double u = a < 1 ? (1 - a) * (log1p(-a) - log1p(-q)) : 0;
	return t + u;
}

double
ns_binomial_upper_tail(uint64_t n, double q, uint64_t k)
{
	if (!(q >= 0 && q <= 1))
		return NAN;
	if (k == 0)
		return 1;
	if (k > n || q == 0)
		return 0;
	double a = (double)k / (double)n;
	if (a <= q) /* k ≤ nq, q = 1 included */
		return 1;
	double b = exp(-(double)n * kl_bernoulli(a, q));
	return b < 1 ? b : 1;
}

uint64_t
ns_binomial_tail_k(uint64_t n, double q, double p)
{
	/* the bound falls as k grows; it is 0 at k = n + 1 */
	uint64_t lo = 0, hi = n + 1;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (ns_binomial_upper_tail(n, q, mid) <= p)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* ------------------------------------------------------------------ */
/* The JSON form */

char *
ns_privacy_acct_to_json(const struct ns_privacy_acct *a)
{
	size_t cap = 64 + a->n_orders * 2 * 32, n = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	n += snprintf(s + n, cap - n, "{\"version\":1,\"orders\":[");
	for (size_t i = 0; i < a->n_orders; i++)
		n += snprintf(s + n, cap - n, "%s%.17g", i ? "," : "",
		              a->order[i]);
	n += snprintf(s + n, cap - n, "],\"rdp\":[");
	for (size_t i = 0; i < a->n_orders; i++) {
		if (isinf(a->rdp[i]))
			n += snprintf(s + n, cap - n, "%s\"inf\"",
			              i ? "," : "");
		else
			n += snprintf(s + n, cap - n, "%s%.17g", i ? "," : "",
			              a->rdp[i]);
	}
	snprintf(s + n, cap - n, "]}");
	return s;
}

/* Parse a JSON array of numbers ("inf" allowed when inf_ok) into out. */
static int
read_array(const cJSON *arr, const char *key, double *out, size_t *n,
           int inf_ok, char *err, size_t errlen)
{
	if (!cJSON_IsArray(arr)) {
		snprintf(err, errlen, "\"%s\" must be an array", key);
		return -1;
	}
	size_t count = 0;
	for (const cJSON *it = arr->child; it; it = it->next) {
		if (count == NS_PRIVACY_MAX_ORDERS) {
			snprintf(err, errlen, "\"%s\" has more than %d values",
			         key, NS_PRIVACY_MAX_ORDERS);
			return -1;
		}
		double v;
		if (inf_ok && cJSON_IsString(it) &&
		    !strcmp(it->valuestring, "inf")) {
			v = INFINITY;
		} else if (cJSON_IsNumber(it) && isfinite(it->valuedouble)) {
			v = it->valuedouble;
		} else {
			snprintf(err, errlen,
			         "\"%s\"[%zu] must be a finite "
			         "number%s",
			         key, count, inf_ok ? " or \"inf\"" : "");
			return -1;
		}
		out[count++] = v;
	}
	*n = count;
	return 0;
}

int
ns_privacy_acct_parse(struct ns_privacy_acct *a, const char *text, size_t len,
                      char *err, size_t errlen)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		snprintf(err, errlen, "invalid JSON near byte %ld",
		         at && at >= text ? (long)(at - text) : -1L);
		return -1;
	}
	int rc = -1;
	struct ns_privacy_acct next;
	memset(&next, 0, sizeof(next));
	for (const char *p = end; p && p < text + len; p++) {
		if (!strchr(" \t\r\n", *p) || !*p) {
			snprintf(err, errlen,
			         "bytes after the JSON value at "
			         "byte %ld",
			         (long)(p - text));
			goto out;
		}
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "the top level must be an object");
		goto out;
	}
	/* the keys, in the order of `field` */
	static const char *const keys[] = {"version", "orders", "rdp"};
	const cJSON *field[3] = {NULL, NULL, NULL};
	for (const cJSON *it = root->child; it; it = it->next) {
		size_t k = 0;
		while (k < 3 && strcmp(it->string, keys[k]))
			k++;
		if (k == 3) {
			snprintf(err, errlen,
			         "unknown key \"%s\" (expected "
			         "version, orders, rdp)",
			         it->string);
			goto out;
		}
		if (field[k]) {
			snprintf(err, errlen, "\"%s\" is given twice",
			         keys[k]);
			goto out;
		}
		field[k] = it;
	}
	for (size_t k = 0; k < 3; k++) {
		if (!field[k]) {
			snprintf(err, errlen, "\"%s\" is missing", keys[k]);
			goto out;
		}
	}
	const cJSON *version = field[0], *orders = field[1], *rdp = field[2];
	if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
		snprintf(err, errlen, "\"version\" must be 1");
		goto out;
	}
	size_t no, nr;
	if (read_array(orders, "orders", next.order, &no, 0, err, errlen) ||
	    read_array(rdp, "rdp", next.rdp, &nr, 1, err, errlen))
		goto out;
	if (no == 0) {
		snprintf(err, errlen, "\"orders\" is empty");
		goto out;
	}
	for (size_t i = 0; i < no; i++) {
		if (!order_ok(next.order[i])) {
			snprintf(err, errlen,
			         "\"orders\"[%zu] = %g is out of "
			         "range (1, %g]",
			         i, next.order[i], NS_PRIVACY_ORDER_MAX);
			goto out;
		}
		if (i > 0 && !(next.order[i] > next.order[i - 1])) {
			snprintf(err, errlen,
			         "\"orders\"[%zu] = %g does not "
			         "ascend from %g",
			         i, next.order[i], next.order[i - 1]);
			goto out;
		}
	}
	if (nr != no) {
		snprintf(err, errlen, "\"rdp\" has %zu values for %zu orders",
		         nr, no);
		goto out;
	}
	for (size_t i = 0; i < nr; i++) {
		if (!(next.rdp[i] >= 0)) {
			snprintf(err, errlen, "\"rdp\"[%zu] = %g is negative",
			         i, next.rdp[i]);
			goto out;
		}
	}
	next.n_orders = no;
	*a = next; /* all or nothing */
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}
