/* The privacy accountant against published values (Opacus's docstring,
 * TF-Privacy's MNIST tutorial, ../shared/reference/anchors.md §5.2–5.3,
 * netshare.md §6.3), against the Rényi divergence integrated numerically
 * (mpmath, 40 digits, over z of N(0,σ²)·(1 − q + q·e^{(2z−1)/2σ²})^α),
 * and for its own laws: q = 1 is the Gaussian, the two paths agree,
 * monotone in α, additive over steps, merge, the JSON form, the binomial
 * tail bound. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netshare/privacy.h"

#define DELTA 1e-5

static void
assert_close(double got, double want, double tol)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("got %.17g, want %.17g within %g", got, want, tol);
}

static void
assert_rel(double got, double want, double rtol, double atol)
{
	assert_close(got, want, atol + rtol * fabs(want));
}

static void
integer_orders(struct ns_privacy_acct *a, int lo, int hi)
{
	double o[NS_PRIVACY_MAX_ORDERS];
	size_t n = 0;
	for (int k = lo; k <= hi; k++)
		o[n++] = k;
	assert_int_equal(ns_privacy_acct_init_orders(a, o, n), 0);
}

/* ε after `steps` steps of (q, σ) over the given accountant's orders. */
static double
spend(struct ns_privacy_acct *a, double q, double sigma, uint64_t steps,
      enum ns_privacy_conversion conv, double *order)
{
	double eps, at;
	assert_int_equal(
	    ns_privacy_acct_add_sampled_gaussian(a, q, sigma, steps), 0);
	assert_int_equal(ns_privacy_acct_epsilon(a, DELTA, conv, &eps, &at),
	                 0);
	if (order)
		*order = at;
	return eps;
}

/* Opacus's get_privacy_spent docstring: q = 0.01, σ = 1, 300 steps,
 * orders {2, 5, 10, 20, 100}, δ = 1e-5, Balle: ε ≈ 2.39 at α = 5. */
static void
test_opacus_example(void **state)
{
	(void)state;
	struct ns_privacy_acct a;
	const double orders[] = {2, 5, 10, 20, 100};
	assert_int_equal(ns_privacy_acct_init_orders(&a, orders, 5), 0);
	double at, eps = spend(&a, 0.01, 1.0, 300, NS_PRIVACY_BALLE, &at);
	assert_close(eps, 2.39, 0.01);
	assert_true(at == 5);
	/* the same sum in 40-digit arithmetic: 2.3933285094705687 */
	assert_rel(eps, 2.3933285094705687, 1e-12, 0);
}

/* TF-Privacy's MNIST tutorial (q = 256/60000, classic conversion,
 * TF-Privacy's default orders, which are NetShare's): σ = 1.1 for 60
 * epochs gives ε = 3.01, σ = 0.7 for 45 epochs ε = 7.12. Its
 * compute_dp_sgd_privacy takes steps = ceil(epochs·N/B): 14063 and
 * 10547. Flooring (14062, 10546) changes ε by under 0.0004, so both
 * roundings print the published two digits; ceil is what TF does. */
static void
test_tf_mnist(void **state)
{
	(void)state;
	static const struct {
		double sigma, epochs, eps;
	} rows[] = {{1.1, 60, 3.01}, {0.7, 45, 7.12}};
	for (size_t i = 0; i < 2; i++) {
		double exact = rows[i].epochs * 60000 / 256;
		uint64_t up = (uint64_t)ceil(exact), down = (uint64_t)exact;
		struct ns_privacy_acct a, b;
		ns_privacy_acct_init(&a);
		ns_privacy_acct_init(&b);
		double e_up = spend(&a, 256.0 / 60000, rows[i].sigma, up,
		                    NS_PRIVACY_CLASSIC, NULL);
		double e_down = spend(&b, 256.0 / 60000, rows[i].sigma, down,
		                      NS_PRIVACY_CLASSIC, NULL);
		assert_close(e_up, rows[i].eps, 0.005); /* rounds to it */
		assert_close(e_down, rows[i].eps, 0.005);
		assert_true(e_down < e_up && e_up - e_down < 0.0005);
	}
}

/* anchors.md §5.2's table (δ = 1e-5, integer orders 2–255, Balle) and
 * §5.3 (NetShare's orders, Balle, 10 chunks × 20 000 steps, q = 0.001),
 * and netshare.md §6.3 (batch 100, integer orders, classic). */
static void
test_reference_tables(void **state)
{
	(void)state;
	/* tol: half a unit of the last digit printed */
	static const struct {
		double records, batch, sigma;
		uint64_t steps;
		double eps, tol;
		int conv, lo, hi; /* lo = 0: NetShare's orders */
	} rows[] = {
	    {50000, 64, 0.8, 2000, 1.29, 0.005, NS_PRIVACY_BALLE, 2, 255},
	    {50000, 64, 0.8, 10000, 1.60, 0.005, NS_PRIVACY_BALLE, 2, 255},
	    {50000, 256, 1.0, 2000, 1.51, 0.005, NS_PRIVACY_BALLE, 2, 255},
	    {50000, 256, 1.0, 10000, 3.14, 0.005, NS_PRIVACY_BALLE, 2, 255},
	    {50000, 256, 1.5, 10000, 1.65, 0.005, NS_PRIVACY_BALLE, 2, 255},
	    {200000, 64, 1.0, 10000, 0.57, 0.005, NS_PRIVACY_BALLE, 2, 255},
	    {100000, 100, 1.0, 200000, 2.6, 0.05, NS_PRIVACY_BALLE, 0, 0},
	    {100000, 100, 2.0, 200000, 0.96, 0.005, NS_PRIVACY_BALLE, 0, 0},
	    {10000, 100, 2.0, 100000, 9.6, 0.05, NS_PRIVACY_CLASSIC, 2, 255},
	    {50000, 100, 4.0, 20000, 0.35, 0.005, NS_PRIVACY_CLASSIC, 2, 255},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ns_privacy_acct a;
		if (rows[i].lo)
			integer_orders(&a, rows[i].lo, rows[i].hi);
		else
			ns_privacy_acct_init(&a);
		double eps =
		    spend(&a, rows[i].batch / rows[i].records, rows[i].sigma,
		          rows[i].steps, rows[i].conv, NULL);
		if (!(fabs(eps - rows[i].eps) <= rows[i].tol))
			fail_msg("row %zu: ε = %.4f, the table says %g", i,
			         eps, rows[i].eps);
	}
}

/* q = 1 is the Gaussian mechanism α/(2σ²); q = 0 is free; σ = 0 is
 * unbounded; arguments out of range are NAN, not a number that looks
 * fine. */
static void
test_special_cases(void **state)
{
	(void)state;
	const double alphas[] = {1.25, 2, 3.5, 5, 64, 512};
	const double sigmas[] = {0.3, 1, 2.5};
	for (size_t i = 0; i < 6; i++) {
		for (size_t j = 0; j < 3; j++) {
			double a = alphas[i], s = sigmas[j];
			double g = a / (2 * s * s);
			assert_true(ns_rdp_sampled_gaussian(1, s, a) == g);
			assert_true(ns_rdp_sampled_gaussian_series(1, s, a) ==
			            g);
			assert_true(ns_rdp_sampled_gaussian(0, s, a) == 0);
			assert_true(isinf(ns_rdp_sampled_gaussian(0.1, 0, a)));
		}
	}
	/* continuity at q → 1 through the binomial sum */
	assert_rel(ns_rdp_sampled_gaussian(1 - 1e-9, 1.0, 5), 2.5, 1e-7, 0);
	assert_true(isnan(ns_rdp_sampled_gaussian(1.5, 1, 2)));
	assert_true(isnan(ns_rdp_sampled_gaussian(-0.1, 1, 2)));
	assert_true(isnan(ns_rdp_sampled_gaussian(0.1, -1, 2)));
	assert_true(isnan(ns_rdp_sampled_gaussian(0.1, 1, 1)));
	assert_true(isnan(ns_rdp_sampled_gaussian(0.1, 1, NAN)));
	assert_true(isnan(ns_rdp_sampled_gaussian(NAN, 1, 2)));
	assert_true(isnan(ns_rdp_sampled_gaussian(0.1, 1, 1e9)));
	assert_true(ns_rdp_sampled_gaussian(0.1, INFINITY, 2) == 0);
	/* one Gaussian release: the same α/(2σ²) per order */
	struct ns_privacy_acct a;
	ns_privacy_acct_init(&a);
	assert_int_equal(ns_privacy_acct_add_gaussian(&a, 2.0), 0);
	for (size_t i = 0; i < a.n_orders; i++)
		assert_true(a.rdp[i] == a.order[i] / 8);
	assert_int_equal(ns_privacy_acct_add_gaussian(&a, -1), -1);
	assert_int_equal(ns_privacy_acct_add_sampled_gaussian(&a, 2, 1, 1),
	                 -1);
	assert_true(a.rdp[0] == a.order[0] / 8); /* refusals add nothing */
}

/* Fractional orders through the two series against the integrated
 * divergence (mpmath quad, 40 digits). */
static void
test_fractional_reference(void **state)
{
	(void)state;
	static const struct {
		double q, sigma, alpha, rdp;
	} ref[] = {
	    {0.01, 1.0, 1.25, 1.0539800509817623497e-4},
	    {0.01, 1.0, 1.5, 1.2725374332744983881e-4},
	    {0.01, 1.0, 2.5, 2.1757533228188046173e-4},
	    {0.01, 1.0, 4.5, 4.1492706732521291635e-4},
	    {0.9, 0.5, 1.75, 3.2682119073818140014},
	    {0.2, 4.0, 3.5, 4.5804602358018635721e-3},
	    {0.001, 0.3, 10.5, 50.698445919721501985},
	    {0.05, 0.8, 37.3, 26.062365666568483188},
	};
	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++)
		assert_rel(ns_rdp_sampled_gaussian(ref[i].q, ref[i].sigma,
		                                   ref[i].alpha),
		           ref[i].rdp, 1e-9, 1e-14);
}

/* The series path at integer α equals the binomial sum. */
static void
test_series_matches_integer(void **state)
{
	(void)state;
	const double qs[] = {1e-4, 0.01, 0.3, 0.5, 0.95};
	const double sigmas[] = {0.4, 1, 3};
	for (size_t i = 0; i < 5; i++)
		for (size_t j = 0; j < 3; j++)
			for (int k = 2; k <= 40; k += 3) {
				double q = qs[i], s = sigmas[j];
				double want = ns_rdp_sampled_gaussian(q, s, k);
				double got =
				    ns_rdp_sampled_gaussian_series(q, s, k);
				assert_rel(got, want, 1e-9, 1e-14);
			}
}

/* Rényi divergence is non-decreasing in α and (α − 1)·D_α is convex:
 * over a fine grid mixing both paths, for several (q, σ). */
static void
test_monotone_convex(void **state)
{
	(void)state;
	const double qs[] = {0.01, 0.2, 0.7};
	const double sigmas[] = {0.7, 1.5};
	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; j < 2; j++) {
			double prev = 0, g[3] = {0, 0, 0};
			for (int n = 0; n < 400; n++) {
				double a = 1.05 + 0.05 * n;
				double r = ns_rdp_sampled_gaussian(
				    qs[i], sigmas[j], a);
				assert_true(r >= prev * (1 - 1e-9) - 1e-14);
				prev = r;
				g[0] = g[1];
				g[1] = g[2];
				g[2] = (a - 1) * r;
				if (n >= 2)
					assert_true(g[0] + g[2] - 2 * g[1] >=
					            -1e-9 * g[1] - 1e-13);
			}
		}
	}
}

/* T steps at once equal T single steps; merging two accountants adds
 * them; different orders do not merge. */
static void
test_additive_and_merge(void **state)
{
	(void)state;
	struct ns_privacy_acct once, each, other;
	ns_privacy_acct_init(&once);
	ns_privacy_acct_init(&each);
	assert_int_equal(
	    ns_privacy_acct_add_sampled_gaussian(&once, 0.02, 0.9, 250), 0);
	for (int t = 0; t < 250; t++)
		assert_int_equal(
		    ns_privacy_acct_add_sampled_gaussian(&each, 0.02, 0.9, 1),
		    0);
	for (size_t i = 0; i < once.n_orders; i++)
		assert_rel(each.rdp[i], once.rdp[i], 1e-12, 0);

	/* two blocks of 100 and 150 steps merge into the 250 */
	struct ns_privacy_acct b1, b2;
	ns_privacy_acct_init(&b1);
	ns_privacy_acct_init(&b2);
	ns_privacy_acct_add_sampled_gaussian(&b1, 0.02, 0.9, 100);
	ns_privacy_acct_add_sampled_gaussian(&b2, 0.02, 0.9, 150);
	assert_int_equal(ns_privacy_acct_merge(&b1, &b2), 0);
	for (size_t i = 0; i < once.n_orders; i++)
		assert_rel(b1.rdp[i], once.rdp[i], 1e-12, 0);

	integer_orders(&other, 2, 64);
	struct ns_privacy_acct keep = b1;
	assert_int_equal(ns_privacy_acct_merge(&b1, &other), -1);
	assert_memory_equal(&b1, &keep, sizeof(keep));
	/* same count, one order different */
	other = b1;
	other.order[3] += 0.125;
	assert_int_equal(ns_privacy_acct_merge(&b1, &other), -1);
	assert_memory_equal(&b1, &keep, sizeof(keep));
}

/* The conversions: Balle is never above classic, ε is clamped at 0,
 * infinite at every order gives +inf, δ out of (0, 1) is refused. */
static void
test_conversions(void **state)
{
	(void)state;
	struct ns_privacy_acct a;
	ns_privacy_acct_init(&a);
	ns_privacy_acct_add_sampled_gaussian(&a, 0.004, 1.2, 5000);
	double eb, ec, ob, oc;
	assert_int_equal(
	    ns_privacy_acct_epsilon(&a, DELTA, NS_PRIVACY_BALLE, &eb, &ob), 0);
	assert_int_equal(
	    ns_privacy_acct_epsilon(&a, DELTA, NS_PRIVACY_CLASSIC, &ec, &oc),
	    0);
	assert_true(eb > 0 && eb < ec);
	/* the minimum, by hand */
	double best = INFINITY;
	for (size_t i = 0; i < a.n_orders; i++) {
		double al = a.order[i];
		double e = a.rdp[i] - log(DELTA) / (al - 1);
		best = fmin(best, e);
	}
	assert_rel(ec, best, 1e-15, 0);

	/* nothing spent at a huge order and a large δ: negative, clamped */
	const double big[] = {NS_PRIVACY_ORDER_MAX};
	assert_int_equal(ns_privacy_acct_init_orders(&a, big, 1), 0);
	assert_int_equal(
	    ns_privacy_acct_epsilon(&a, 0.5, NS_PRIVACY_BALLE, &eb, &ob), 0);
	assert_true(eb == 0 && ob == NS_PRIVACY_ORDER_MAX);

	/* σ = 0: every order infinite */
	ns_privacy_acct_init(&a);
	ns_privacy_acct_add_sampled_gaussian(&a, 0.01, 0, 1);
	assert_int_equal(
	    ns_privacy_acct_epsilon(&a, DELTA, NS_PRIVACY_BALLE, &eb, &ob), 0);
	assert_true(isinf(eb) && eb > 0 && isnan(ob));

	const double bad[] = {0, 1, -1, 2, NAN};
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(ns_privacy_acct_epsilon(
		                     &a, bad[i], NS_PRIVACY_BALLE, &eb, &ob),
		                 -1);
	assert_int_equal(
	    ns_privacy_acct_epsilon(
	        &a, DELTA,
	        (enum ns_privacy_conversion)NS_PRIVACY_CONVERSION_COUNT, &eb,
	        &ob),
	    -1);
}

/* The default orders are NetShare's 72; custom ones are sorted, and
 * duplicates, orders ≤ 1, NaN, too many and too large are refused. */
static void
test_orders(void **state)
{
	(void)state;
	struct ns_privacy_acct a;
	ns_privacy_acct_init(&a);
	assert_int_equal(a.n_orders, NS_PRIVACY_DEFAULT_ORDERS);
	assert_true(a.order[0] == 1.25 && a.order[9] == 4.5);
	assert_true(a.order[10] == 5 && a.order[68] == 63);
	assert_true(a.order[69] == 128 && a.order[71] == 512);
	for (size_t i = 0; i < a.n_orders; i++)
		assert_true(a.rdp[i] == 0 &&
		            (i == 0 || a.order[i] > a.order[i - 1]));

	const double mixed[] = {10, 2, 5.5, 100};
	assert_int_equal(ns_privacy_acct_init_orders(&a, mixed, 4), 0);
	assert_true(a.n_orders == 4 && a.order[0] == 2 && a.order[1] == 5.5 &&
	            a.order[3] == 100);

	struct ns_privacy_acct keep = a;
	const double dup[] = {2, 3, 2};
	const double low[] = {2, 1};
	const double nan[] = {2, NAN};
	const double huge[] = {2, 2 * NS_PRIVACY_ORDER_MAX};
	assert_int_equal(ns_privacy_acct_init_orders(&a, dup, 3), -1);
	assert_int_equal(ns_privacy_acct_init_orders(&a, low, 2), -1);
	assert_int_equal(ns_privacy_acct_init_orders(&a, nan, 2), -1);
	assert_int_equal(ns_privacy_acct_init_orders(&a, huge, 2), -1);
	assert_int_equal(ns_privacy_acct_init_orders(&a, mixed, 0), -1);
	double many[NS_PRIVACY_MAX_ORDERS + 1];
	for (size_t i = 0; i <= NS_PRIVACY_MAX_ORDERS; i++)
		many[i] = 2 + (double)i;
	assert_int_equal(
	    ns_privacy_acct_init_orders(&a, many, NS_PRIVACY_MAX_ORDERS + 1),
	    -1);
	assert_memory_equal(&a, &keep, sizeof(keep));
	assert_int_equal(
	    ns_privacy_acct_init_orders(&a, many, NS_PRIVACY_MAX_ORDERS), 0);
}

/* The JSON form reads back bit for bit, an infinite RDP included. */
static void
test_json_round_trip(void **state)
{
	(void)state;
	struct ns_privacy_acct a, b;
	ns_privacy_acct_init(&a);
	ns_privacy_acct_add_sampled_gaussian(&a, 256.0 / 60000, 1.1, 14063);
	ns_privacy_acct_add_gaussian(&a, 1.0);
	a.rdp[5] = INFINITY;
	char *s = ns_privacy_acct_to_json(&a);
	assert_non_null(s);
	char err[256] = "";
	memset(&b, 0x5a, sizeof(b));
	assert_int_equal(
	    ns_privacy_acct_parse(&b, s, strlen(s), err, sizeof(err)), 0);
	assert_int_equal(b.n_orders, a.n_orders);
	assert_memory_equal(b.order, a.order, a.n_orders * sizeof(double));
	assert_memory_equal(b.rdp, a.rdp, a.n_orders * sizeof(double));

	/* whitespace around it, and a buffer that is not NUL-terminated */
	size_t n = strlen(s);
	char *padded = malloc(n + 4);
	assert_non_null(padded);
	memcpy(padded, " \n", 2);
	memcpy(padded + 2, s, n);
	memcpy(padded + 2 + n, "\n ", 2);
	assert_int_equal(
	    ns_privacy_acct_parse(&b, padded, n + 4, err, sizeof(err)), 0);
	assert_memory_equal(b.rdp, a.rdp, a.n_orders * sizeof(double));
	free(padded);
	free(s);

	const char *small = "{\"version\":1,\"orders\":[2,5.5],"
	                    "\"rdp\":[0,\"inf\"]}";
	assert_int_equal(
	    ns_privacy_acct_parse(&b, small, strlen(small), err, sizeof(err)),
	    0);
	assert_true(b.n_orders == 2 && b.order[1] == 5.5 && b.rdp[0] == 0 &&
	            isinf(b.rdp[1]));
}

/* Each broken document: refused, the message names the field and the
 * cause, the accountant untouched. */
static void
test_json_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *json, *needle;
	} bad[] = {
	    {"", "invalid JSON"},
	    {"{\"version\":1,", "invalid JSON"},
	    {"[1,2]", "must be an object"},
	    {"{\"orders\":[2],\"rdp\":[0]}", "\"version\" is missing"},
	    {"{\"version\":1,\"rdp\":[0]}", "\"orders\" is missing"},
	    {"{\"version\":1,\"orders\":[2]}", "\"rdp\" is missing"},
	    {"{\"version\":2,\"orders\":[2],\"rdp\":[0]}",
	     "\"version\" must be 1"},
	    {"{\"version\":\"1\",\"orders\":[2],\"rdp\":[0]}",
	     "\"version\" must be 1"},
	    {"{\"version\":1,\"orders\":[2],\"rdp\":[0],\"x\":0}",
	     "unknown key \"x\""},
	    {"{\"version\":1,\"orders\":[2],\"orders\":[3],\"rdp\":[0]}",
	     "\"orders\" is given twice"},
	    {"{\"version\":1,\"orders\":2,\"rdp\":[0]}",
	     "\"orders\" must be an array"},
	    {"{\"version\":1,\"orders\":[],\"rdp\":[]}",
	     "\"orders\" is empty"},
	    {"{\"version\":1,\"orders\":[1],\"rdp\":[0]}",
	     "\"orders\"[0] = 1 is out of range"},
	    {"{\"version\":1,\"orders\":[2,\"3\"],\"rdp\":[0,0]}",
	     "\"orders\"[1] must be a finite number"},
	    {"{\"version\":1,\"orders\":[2,\"inf\"],\"rdp\":[0,0]}",
	     "\"orders\"[1] must be a finite number"},
	    {"{\"version\":1,\"orders\":[2,1e999],\"rdp\":[0,0]}",
	     "\"orders\"[1] must be a finite number"},
	    {"{\"version\":1,\"orders\":[3,2],\"rdp\":[0,0]}",
	     "\"orders\"[1] = 2 does not ascend"},
	    {"{\"version\":1,\"orders\":[2,2],\"rdp\":[0,0]}",
	     "\"orders\"[1] = 2 does not ascend"},
	    {"{\"version\":1,\"orders\":[2,3],\"rdp\":[0]}",
	     "\"rdp\" has 1 values for 2 orders"},
	    {"{\"version\":1,\"orders\":[2],\"rdp\":[-0.5]}",
	     "\"rdp\"[0] = -0.5 is negative"},
	    {"{\"version\":1,\"orders\":[2],\"rdp\":[\"nan\"]}",
	     "\"rdp\"[0] must be a finite number or \"inf\""},
	    {"{\"version\":1,\"orders\":[2],\"rdp\":[null]}",
	     "\"rdp\"[0] must be a finite number or \"inf\""},
	    {"{\"version\":1,\"orders\":[2],\"rdp\":[0]} x",
	     "bytes after the JSON value"},
	    {"{\"version\":1,\"orders\":[2],\"rdp\":[0]}{}",
	     "bytes after the JSON value"},
	};
	struct ns_privacy_acct a, keep;
	ns_privacy_acct_init(&a);
	ns_privacy_acct_add_gaussian(&a, 3.0);
	keep = a;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		int rc = ns_privacy_acct_parse(
		    &a, bad[i].json, strlen(bad[i].json), err, sizeof(err));
		if (rc != -1 || !strstr(err, bad[i].needle))
			fail_msg("%s: rc %d, message '%s', wanted '%s'",
			         bad[i].json, rc, err, bad[i].needle);
		assert_memory_equal(&a, &keep, sizeof(keep));
	}
	/* more values than orders fit */
	char big[8192];
	size_t n =
	    (size_t)snprintf(big, sizeof(big), "{\"version\":1,\"orders\":[");
	for (int i = 0; i <= NS_PRIVACY_MAX_ORDERS; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s%d",
		                      i ? "," : "", i + 2);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "],\"rdp\":[]}");
	char err[256] = "";
	assert_int_equal(ns_privacy_acct_parse(&a, big, n, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "\"orders\" has more than"));
}

/* P(Binomial(n, q) ≥ k) by summation, in long double. */
static long double
exact_tail(unsigned n, double q, unsigned k)
{
	long double sum = 0;
	for (unsigned j = k; j <= n; j++) {
		long double lc = lgammal(n + 1.0L) - lgammal(j + 1.0L) -
		                 lgammal(n - j + 1.0L);
		sum += expl(lc + j * logl(q) + (n - j) * log1pl(-q));
	}
	return sum;
}

/* The Chernoff bound is above the exact tail everywhere, 1 up to the
 * mean, q^n at k = n, 0 past n; ns_binomial_tail_k inverts it. */
static void
test_binomial_tail(void **state)
{
	(void)state;
	const unsigned ns[] = {1, 2, 5, 20, 60};
	const double qs[] = {0.001, 0.05, 0.3, 0.5, 0.9};
	for (size_t i = 0; i < 5; i++) {
		for (size_t j = 0; j < 5; j++) {
			unsigned n = ns[i];
			double q = qs[j];
			for (unsigned k = 0; k <= n + 1; k++) {
				double b = ns_binomial_upper_tail(n, q, k);
				long double t = exact_tail(n, q, k);
				if (!(b >= t * (1 - 1e-12L)) || b > 1 || b < 0)
					fail_msg("n %u q %g k %u: bound %g, "
					         "tail %Lg",
					         n, q, k, b, t);
				if ((double)k <= n * q)
					assert_true(b == 1);
			}
			assert_rel(ns_binomial_upper_tail(n, q, n), pow(q, n),
			           1e-12, 0);
			assert_true(ns_binomial_upper_tail(n, q, n + 1) == 0);
		}
	}
	assert_true(ns_binomial_upper_tail(10, 0, 1) == 0);
	assert_true(ns_binomial_upper_tail(10, 0, 0) == 1);
	assert_true(ns_binomial_upper_tail(10, 1, 10) == 1);
	assert_true(isnan(ns_binomial_upper_tail(10, 1.5, 3)));

	/* a block of 50 000 flows, batch 256: the buffer for 1e-9 */
	uint64_t k = ns_binomial_tail_k(50000, 256.0 / 50000, 1e-9);
	assert_true(ns_binomial_upper_tail(50000, 256.0 / 50000, k) <= 1e-9);
	assert_true(ns_binomial_upper_tail(50000, 256.0 / 50000, k - 1) >
	            1e-9);
	assert_true(k > 256 && k < 2 * 256);
	assert_true(ns_binomial_tail_k(10, 0.5, 1) == 0);
	assert_true(ns_binomial_tail_k(10, 0.5, 1e-300) == 11);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_opacus_example),
	    cmocka_unit_test(test_tf_mnist),
	    cmocka_unit_test(test_reference_tables),
	    cmocka_unit_test(test_special_cases),
	    cmocka_unit_test(test_fractional_reference),
	    cmocka_unit_test(test_series_matches_integer),
	    cmocka_unit_test(test_monotone_convex),
	    cmocka_unit_test(test_additive_and_merge),
	    cmocka_unit_test(test_conversions),
	    cmocka_unit_test(test_orders),
	    cmocka_unit_test(test_json_round_trip),
	    cmocka_unit_test(test_json_refusals),
	    cmocka_unit_test(test_binomial_tail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
