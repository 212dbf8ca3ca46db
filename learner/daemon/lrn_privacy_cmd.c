/* netshare-learner privacy: the (ε, δ) that a DP-SGD schedule spends, by
 * the RDP accountant (include/netshare/privacy.h): T steps of the
 * Poisson-sampled Gaussian, plus optional Gaussian releases of a count. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrn_cmd.h"
#include "netshare/privacy.h"

#define PROG "netshare-learner privacy"

enum {
	OPT_NOISE = 256,
	OPT_SAMPLE_RATE,
	OPT_BATCH,
	OPT_RECORDS,
	OPT_STEPS,
	OPT_DELTA,
	OPT_ORDERS,
	OPT_CONVERSION,
	OPT_COUNT_RELEASES,
	OPT_COUNT_NOISE,
	OPT_JSON,
	OPT_LAST
};

static const struct option long_opts[] = {
    {"noise", required_argument, NULL, OPT_NOISE},
    {"sample-rate", required_argument, NULL, OPT_SAMPLE_RATE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"records", required_argument, NULL, OPT_RECORDS},
    {"steps", required_argument, NULL, OPT_STEPS},
    {"delta", required_argument, NULL, OPT_DELTA},
    {"orders", required_argument, NULL, OPT_ORDERS},
    {"conversion", required_argument, NULL, OPT_CONVERSION},
    {"count-releases", required_argument, NULL, OPT_COUNT_RELEASES},
    {"count-noise", required_argument, NULL, OPT_COUNT_NOISE},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: " PROG " --noise S (--sample-rate Q | --batch B "
	        "--records N)\n"
	        "         --steps T --delta D [--orders LIST] "
	        "[--conversion balle|classic]\n"
	        "         [--count-releases N --count-noise S] [--json]\n"
	        "\n"
	        "The epsilon that T steps of DP-SGD spend at this delta, and "
	        "the RDP order\n"
	        "that gives it. A step is one noisy update on a Poisson batch "
	        "(each record\n"
	        "in with probability q) whose per-example gradients are "
	        "clipped to C and\n"
	        "summed with N(0, (S*C)^2) noise: count every update of every "
	        "private\n"
	        "discriminator (d_rounds per iteration, D and D_a each).\n"
	        "\n"
	        "  --noise S            noise multiplier sigma, > 0\n"
	        "  --sample-rate Q      sampling rate q in [0, 1]\n"
	        "  --batch B            expected batch size; with --records: "
	        "q = B/N\n"
	        "  --records N          records (flows) the batches are drawn "
	        "from\n"
	        "  --steps T            noisy updates, an integer >= 0\n"
	        "  --delta D            in (0, 1), e.g. 1e-5\n"
	        "  --orders LIST        comma-separated RDP orders > 1 "
	        "(default NetShare's:\n"
	        "                       1.25..4.5 by quarters and halves, "
	        "5..63, 128, 256, 512)\n"
	        "  --conversion C       balle (default; Balle et al. 2020, as "
	        "Opacus) or classic\n"
	        "                       (ln(1/delta)/(alpha-1), as "
	        "TF-Privacy < 0.8)\n"
	        "  --count-releases N   N more Gaussian releases of a "
	        "sensitivity-1 count\n"
	        "                       (NetShare: the flow count, one per "
	        "chunk)\n"
	        "  --count-noise S      their noise sigma, > 0\n"
	        "  --json               print only {\"epsilon\": E, "
	        "\"order\": A}; null for an\n"
	        "                       infinite epsilon\n"
	        "  -h, --help           this text\n"
	        "\n"
	        "Exit status: 0, or 2 for a usage error.\n");
}

static int
fail(const char *fmt, const char *opt, const char *arg)
{
	fprintf(stderr, PROG ": --%s: ", opt);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return -1;
}

/* A finite real, the whole of text. */
static int
parse_real(const char *opt, const char *text, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (end == text || *end)
		return fail("'%s' is not a number", opt, text);
	if (!isfinite(v) || errno == ERANGE)
		return fail("'%s' is not a finite number", opt, text);
	*out = v;
	return 0;
}

/* A non-negative integer in decimal, the whole of text. */
static int
parse_count(const char *opt, const char *text, uint64_t *out)
{
	const char *p = text;
	if (*p == '+')
		p++;
	if (*p < '0' || *p > '9') {
		if (*text == '-')
			return fail("'%s' is negative", opt, text);
		return fail("'%s' is not a non-negative integer", opt, text);
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	if (*end)
		return fail("'%s' is not a non-negative integer", opt, text);
	if (errno == ERANGE)
		return fail("'%s' is too large", opt, text);
	*out = v;
	return 0;
}

/* A real > 0 (the noise multipliers). */
static int
parse_positive(const char *opt, const char *text, double *out)
{
	if (parse_real(opt, text, out))
		return -1;
	if (*out <= 0)
		return fail("'%s' must be > 0", opt, text);
	return 0;
}

/* "2,5,10.5": each a finite order in (1, NS_PRIVACY_ORDER_MAX], none
 * twice, at most NS_PRIVACY_MAX_ORDERS. */
static int
parse_orders(const char *text, struct ns_privacy_acct *acct)
{
	double v[NS_PRIVACY_MAX_ORDERS];
	size_t n = 0;
	const char *p = text;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[64];
		if (len == 0 || len >= sizeof(item))
			return fail("'%s' is not a comma-separated list of "
			            "numbers",
			            "orders", text);
		memcpy(item, p, len);
		item[len] = 0;
		if (n == NS_PRIVACY_MAX_ORDERS) {
			fprintf(stderr,
			        PROG ": --orders: more than %d "
			             "orders\n",
			        NS_PRIVACY_MAX_ORDERS);
			return -1;
		}
		if (parse_real("orders", item, &v[n]))
			return -1;
		if (!(v[n] > 1 && v[n] <= NS_PRIVACY_ORDER_MAX)) {
			fprintf(stderr,
			        PROG ": --orders: '%s' is not an "
			             "order in (1, %g]\n",
			        item, NS_PRIVACY_ORDER_MAX);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (v[i] == v[n])
				return fail("'%s' is given twice", "orders",
				            item);
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	if (ns_privacy_acct_init_orders(acct, v, n))
		return fail("'%s' is not a valid list of orders", "orders",
		            text);
	return 0;
}

struct args {
	double noise, q, delta, count_noise;
	uint64_t batch, records, steps, count_releases;
	int conv, json;
	const char *orders;
	int seen[OPT_LAST]; /* by option value */
};

static int
need(const struct args *a, int opt, const char *name)
{
	if (a->seen[opt])
		return 0;
	fprintf(stderr, PROG ": --%s is required (see --help)\n", name);
	return -1;
}

/* Every option's value checked and the combinations validated. */
static int
parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	a->conv = NS_PRIVACY_BALLE;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		const char *name = NULL;
		for (const struct option *o = long_opts; o->name; o++)
			if (o->val == c)
				name = o->name;
		if (c == '?') {
			fprintf(stderr,
			        PROG ": unknown option '%s' (see "
			             "--help)\n",
			        argv[optind - 1]);
			return -1;
		}
		if (c == ':') {
			fprintf(stderr, PROG ": %s needs a value\n",
			        argv[optind - 1]);
			return -1;
		}
		if (c == 'h')
			return 1;
		if (a->seen[c]) {
			fprintf(stderr, PROG ": --%s is given twice\n", name);
			return -1;
		}
		a->seen[c] = 1;
		int rc = 0;
		switch (c) {
		case OPT_NOISE:
			rc = parse_positive(name, optarg, &a->noise);
			break;
		case OPT_COUNT_NOISE:
			rc = parse_positive(name, optarg, &a->count_noise);
			break;
		case OPT_SAMPLE_RATE:
			rc = parse_real(name, optarg, &a->q);
			if (!rc && a->q < 0)
				rc = fail("'%s' is negative", name, optarg);
			if (!rc && a->q > 1)
				rc = fail("'%s' is above 1 (q is a "
				          "probability)",
				          name, optarg);
			break;
		case OPT_DELTA:
			rc = parse_real(name, optarg, &a->delta);
			if (!rc && !(a->delta > 0 && a->delta < 1))
				rc = fail("'%s' is not in (0, 1)", name,
				          optarg);
			break;
		case OPT_BATCH:
			rc = parse_count(name, optarg, &a->batch);
			break;
		case OPT_RECORDS:
			rc = parse_count(name, optarg, &a->records);
			if (!rc && a->records == 0)
				rc = fail("'%s' must be > 0", name, optarg);
			break;
		case OPT_STEPS:
			rc = parse_count(name, optarg, &a->steps);
			break;
		case OPT_COUNT_RELEASES:
			rc = parse_count(name, optarg, &a->count_releases);
			break;
		case OPT_ORDERS:
			a->orders = optarg;
			break;
		case OPT_CONVERSION:
			a->conv = -1;
			for (int i = 0; i < NS_PRIVACY_CONVERSION_COUNT; i++)
				if (!strcmp(optarg,
				            ns_privacy_conversion_names[i]))
					a->conv = i;
			if (a->conv < 0)
				rc = fail("'%s' is not a conversion (balle, "
				          "classic)",
				          name, optarg);
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		}
		if (rc)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr,
		        PROG ": unexpected argument '%s' (see "
		             "--help)\n",
		        argv[optind]);
		return -1;
	}
	if (need(a, OPT_NOISE, "noise") || need(a, OPT_STEPS, "steps") ||
	    need(a, OPT_DELTA, "delta"))
		return -1;
	int by_rate = a->seen[OPT_SAMPLE_RATE];
	int by_batch = a->seen[OPT_BATCH] || a->seen[OPT_RECORDS];
	if (by_rate && by_batch) {
		fprintf(stderr, PROG ": --sample-rate and --batch/--records "
		                     "both give q: use one\n");
		return -1;
	}
	if (!by_rate && !by_batch) {
		fprintf(stderr, PROG ": --sample-rate (or --batch with "
		                     "--records) is required\n");
		return -1;
	}
	if (by_batch) {
		if (need(a, OPT_BATCH, "batch") ||
		    need(a, OPT_RECORDS, "records"))
			return -1;
		if (a->batch > a->records) {
			fprintf(stderr,
			        PROG ": --batch: %llu is more than "
			             "--records %llu (q = B/N would "
			             "exceed 1)\n",
			        (unsigned long long)a->batch,
			        (unsigned long long)a->records);
			return -1;
		}
		a->q = (double)a->batch / (double)a->records;
	}
	if (a->seen[OPT_COUNT_RELEASES] != a->seen[OPT_COUNT_NOISE]) {
		fprintf(stderr, PROG ": --%s needs --%s\n",
		        a->seen[OPT_COUNT_RELEASES] ? "count-releases"
		                                    : "count-noise",
		        a->seen[OPT_COUNT_RELEASES] ? "count-noise"
		                                    : "count-releases");
		return -1;
	}
	return 0;
}

int
lrn_privacy_cmd(int argc, char **argv)
{
	struct args a;
	int rc = parse_args(argc, argv, &a);
	if (rc > 0) {
		usage(stdout);
		return LRN_EXIT_OK;
	}
	if (rc < 0)
		return LRN_EXIT_USAGE;
	struct ns_privacy_acct acct;
	if (a.orders) {
		if (parse_orders(a.orders, &acct))
			return LRN_EXIT_USAGE;
	} else {
		ns_privacy_acct_init(&acct);
	}
	double eps, order;
	if (ns_privacy_acct_add_sampled_gaussian(&acct, a.q, a.noise,
	                                         a.steps) ||
	    ns_privacy_acct_add_sampled_gaussian(&acct, 1.0, a.count_noise,
	                                         a.count_releases) ||
	    ns_privacy_acct_epsilon(&acct, a.delta, a.conv, &eps, &order)) {
		/* every value was checked above */
		fprintf(stderr, PROG ": the accountant refused the "
		                     "arguments\n");
		return LRN_EXIT_FAIL;
	}
	if (a.json) {
		if (isinf(eps))
			printf("{\"epsilon\": null, \"order\": null}\n");
		else
			printf("{\"epsilon\": %.17g, \"order\": %.17g}\n", eps,
			       order);
		return LRN_EXIT_OK;
	}
	if (isinf(eps))
		printf("epsilon = inf: the RDP is infinite at every order\n");
	else
		printf("epsilon = %.6g at RDP order %g (delta = %g, %s "
		       "conversion)\n",
		       eps, order, a.delta,
		       ns_privacy_conversion_names[a.conv]);
	printf("%llu steps of the sampled Gaussian: q = %.6g, noise %g\n",
	       (unsigned long long)a.steps, a.q, a.noise);
	if (a.count_releases)
		printf("%llu Gaussian releases of a count, noise %g\n",
		       (unsigned long long)a.count_releases, a.count_noise);
	printf("%zu orders from %g to %g\n", acct.n_orders, acct.order[0],
	       acct.order[acct.n_orders - 1]);
	return LRN_EXIT_OK;
}
