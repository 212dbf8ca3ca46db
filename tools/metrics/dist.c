/* Distances between distributions: Jensen-Shannon divergence and the 1-D
 * Wasserstein-1 distance, to scipy's results within rounding. Sums run in
 * long double; the JSD uses a series where the direct form cancels. */
#include "netshare/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sort.h"

#define LN2 0.693147180559945309417232121458176568L

/* g(d) = (1+d)ln(1+d) + (1-d)ln(1-d), the JS term of one bin whose two
 * masses are s(1+d)/2 and s(1-d)/2. Near d = 0 the two logs cancel, so
 * there we sum its series d^2k / (k(2k-1)) instead. */
static long double
js_term(long double d)
{
	long double a = fabsl(d);
	if (a >= 1.0L)
		return 2.0L * LN2;
	if (a < 0.25L) {
		long double d2 = d * d, pw = d2, sum = 0.0L;
		for (int k = 1; k < 64; k++) {
			long double t = pw / ((long double)k * (2 * k - 1));
			sum += t;
			if (t <= sum * 1e-21L)
				break;
			pw *= d2;
		}
		return sum;
	}
	return (1.0L + d) * log1pl(d) + (1.0L - d) * log1pl(-d);
}

/* Sum of v, or -1 when an entry is negative or not finite. */
static long double
mass(const double *v, size_t n)
{
	long double s = 0.0L;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i]) || v[i] < 0.0)
			return -1.0L;
		s += v[i];
	}
	return s;
}

double
ns_jsd(const double *p, size_t np, const double *q, size_t nq)
{
	long double sp = mass(p, np), sq = mass(q, nq);
	if (!(sp > 0.0L) || !(sq > 0.0L) || !isfinite(sp) || !isfinite(sq))
		return NAN;
	size_t n = np > nq ? np : nq;
	long double acc = 0.0L;
	for (size_t i = 0; i < n; i++) {
		long double a = i < np ? p[i] / sp : 0.0L;
		long double b = i < nq ? q[i] / sq : 0.0L;
		long double s = a + b;
		if (s == 0.0L)
			continue;
		acc += s * js_term((a - b) / s);
	}
	/* JSD = (KL(p||m) + KL(q||m)) / 2 and each bin gives (s/2) g(d) */
	return (double)(acc / 4.0L);
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* A sorted copy, or NULL (out of memory or a value not finite). */
static double *
sorted_copy(const double *v, size_t n, int *bad)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i])) {
			*bad = 1;
			return NULL;
		}
	double *c = malloc(n * sizeof(*c));
	if (!c)
		return NULL;
	memcpy(c, v, n * sizeof(*c));
	if (ns_sort_doubles(c, n)) {
		free(c);
		return NULL;
	}
	return c;
}

/* W1 of two sorted samples: the integral of |F_a - F_b| between the
 * merged values. Both step CDFs are counts over the total, so the
 * difference i/na - j/nb is taken exactly as (i nb - j na) / (na nb). */
static double
emd_sorted(const double *a, size_t na, const double *b, size_t nb)
{
	long double acc = 0.0L;
	size_t i = 0, j = 0;
	double x = a[0] < b[0] ? a[0] : b[0];
	for (;;) {
		while (i < na && a[i] <= x)
			i++;
		while (j < nb && b[j] <= x)
			j++;
		if (i == na && j == nb)
			break;
		double nx;
		if (j == nb || (i < na && a[i] < b[j]))
			nx = a[i];
		else
			nx = b[j];
		long double df = (long double)i * nb - (long double)j * na;
		acc += fabsl(df) * ((long double)nx - x);
		x = nx;
	}
	return (double)(acc / ((long double)na * nb));
}

double
ns_emd(const double *a, size_t na, const double *b, size_t nb)
{
	if (na == 0 || nb == 0)
		return NAN;
	int bad = 0;
	double *sa = sorted_copy(a, na, &bad);
	double *sb = sa ? sorted_copy(b, nb, &bad) : NULL;
	double r = NAN;
	if (sa && sb)
		r = emd_sorted(sa, na, sb, nb);
	free(sa);
	free(sb);
	return r;
}

struct wv {
	double x, w;
};

static int
cmp_wv(const void *x, const void *y)
{
	return cmp_double(&((const struct wv *)x)->x,
	                  &((const struct wv *)y)->x);
}

/* Value/weight pairs sorted by value; NULL with *bad set on bad input. */
static struct wv *
sorted_pairs(const double *v, const double *w, size_t n, long double *tot,
             int *bad)
{
	struct wv *c = malloc(n * sizeof(*c));
	if (!c)
		return NULL;
	*tot = 0.0L;
	for (size_t i = 0; i < n; i++) {
		c[i].x = v[i];
		c[i].w = w ? w[i] : 1.0;
		if (!isfinite(c[i].x) || !isfinite(c[i].w) || c[i].w < 0.0)
			*bad = 1;
		*tot += c[i].w;
	}
	if (*bad || !(*tot > 0.0L)) {
		*bad = 1;
		free(c);
		return NULL;
	}
	qsort(c, n, sizeof(*c), cmp_wv);
	return c;
}

double
ns_emd_weighted(const double *a, const double *wa, size_t na, const double *b,
                const double *wb, size_t nb)
{
	if (na == 0 || nb == 0)
		return NAN;
	int bad = 0;
	long double ta, tb;
	struct wv *sa = sorted_pairs(a, wa, na, &ta, &bad);
	struct wv *sb = sa ? sorted_pairs(b, wb, nb, &tb, &bad) : NULL;
	if (!sa || !sb) {
		free(sa);
		return NAN;
	}
	long double acc = 0.0L, ca = 0.0L, cb = 0.0L;
	size_t i = 0, j = 0;
	double x = sa[0].x < sb[0].x ? sa[0].x : sb[0].x;
	for (;;) {
		while (i < na && sa[i].x <= x)
			ca += sa[i++].w;
		while (j < nb && sb[j].x <= x)
			cb += sb[j++].w;
		if (i == na && j == nb)
			break;
		double nx;
		if (j == nb || (i < na && sa[i].x < sb[j].x))
			nx = sa[i].x;
		else
			nx = sb[j].x;
		acc += fabsl(ca / ta - cb / tb) * ((long double)nx - x);
		x = nx;
	}
	free(sa);
	free(sb);
	return (double)acc;
}
