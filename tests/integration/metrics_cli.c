/* Reads distance cases from stdin and prints one result per case, %.17g,
 * for the scipy comparison (test_metrics_scipy.py). A case is a keyword
 * and the sizes, then the numbers, all whitespace-separated:
 *   jsd NP NQ p... q...
 *   emd NA NB a... b...
 *   wemd NA NB a... wa... b... wb... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netshare/metrics.h"

static int
read_size(size_t *n)
{
	char tok[64];
	char *end;
	if (scanf("%63s", tok) != 1)
		return -1;
	unsigned long long v = strtoull(tok, &end, 10);
	if (*end || v > 100000000ull)
		return -1;
	*n = (size_t)v;
	return 0;
}

/* n numbers into a new array (never NULL on success). */
static double *
read_vec(size_t n)
{
	double *v = malloc((n ? n : 1) * sizeof(*v));
	char tok[64];
	for (size_t i = 0; v && i < n; i++) {
		char *end;
		if (scanf("%63s", tok) != 1) {
			free(v);
			return NULL;
		}
		v[i] = strtod(tok, &end);
		if (*end) {
			free(v);
			return NULL;
		}
	}
	return v;
}

static int
one_case(const char *kind)
{
	size_t na, nb;
	if (read_size(&na) || read_size(&nb))
		return -1;
	int w = strcmp(kind, "wemd") == 0;
	double *a = read_vec(na), *wa = w && a ? read_vec(na) : NULL;
	double *b = a && (!w || wa) ? read_vec(nb) : NULL;
	double *wb = w && b ? read_vec(nb) : NULL;
	int ok = b && (!w || wb);
	if (ok) {
		double r;
		if (strcmp(kind, "jsd") == 0)
			r = ns_jsd(a, na, b, nb);
		else if (w)
			r = ns_emd_weighted(a, wa, na, b, wb, nb);
		else
			r = ns_emd(a, na, b, nb);
		printf("%.17g\n", r);
	}
	free(a);
	free(wa);
	free(b);
	free(wb);
	return ok ? 0 : -1;
}

int
main(void)
{
	char kind[16];
	unsigned long ncase = 0;
	while (scanf("%15s", kind) == 1) {
		ncase++;
		if ((strcmp(kind, "jsd") && strcmp(kind, "emd") &&
		     strcmp(kind, "wemd")) ||
		    one_case(kind)) {
			fprintf(stderr, "metrics_cli: bad case %lu (%s)\n",
			        ncase, kind);
			return 2;
		}
	}
	return 0;
}
