/* Radix sorts: 11-bit digits, six passes at most, and a pass is skipped
 * when every key has the same digit there (timestamps share their high
 * bits, small counts their low ones). */
#include "sort.h"

#include <stdlib.h>
#include <string.h>

#define DIGIT 11
#define RADIX (1u << DIGIT)
#define PASSES ((64 + DIGIT - 1) / DIGIT)

int
ns_radix_u64(uint64_t *k, uint32_t *p, size_t n)
{
	if (n < 2)
		return 0;
	uint64_t *kt = malloc(n * sizeof(*kt));
	uint32_t *pt = p ? malloc(n * sizeof(*pt)) : NULL;
	size_t(*cnt)[RADIX] = calloc(PASSES, sizeof(*cnt));
	if (!kt || (p && !pt) || !cnt) {
		free(kt);
		free(pt);
		free(cnt);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		for (int d = 0; d < PASSES; d++)
			cnt[d][(k[i] >> (d * DIGIT)) & (RADIX - 1)]++;
	uint64_t *src = k, *dst = kt;
	uint32_t *psrc = p, *pdst = pt;
	for (int d = 0; d < PASSES; d++) {
		size_t *c = cnt[d];
		unsigned shift = (unsigned)(d * DIGIT);
		if (c[(src[0] >> shift) & (RADIX - 1)] == n)
			continue; /* one digit value: already in order */
		size_t sum = 0;
		for (unsigned b = 0; b < RADIX; b++) {
			size_t t = c[b];
			c[b] = sum;
			sum += t;
		}
		for (size_t i = 0; i < n; i++) {
			size_t at = c[(src[i] >> shift) & (RADIX - 1)]++;
			dst[at] = src[i];
			if (p)
				pdst[at] = psrc[i];
		}
		uint64_t *ts = src;
		src = dst;
		dst = ts;
		uint32_t *tp = psrc;
		psrc = pdst;
		pdst = tp;
	}
	if (src != k) {
		memcpy(k, src, n * sizeof(*k));
		if (p)
			memcpy(p, psrc, n * sizeof(*p));
	}
	free(kt);
	free(pt);
	free(cnt);
	return 0;
}

/* Order-preserving map of a double's bits onto an unsigned key. */
static uint64_t
to_key(double x)
{
	uint64_t b;
	memcpy(&b, &x, 8);
	return b >> 63 ? ~b : b | (uint64_t)1 << 63;
}

static double
from_key(uint64_t k)
{
	uint64_t b = k >> 63 ? k & ~((uint64_t)1 << 63) : ~k;
	double x;
	memcpy(&x, &b, 8);
	return x;
}

int
ns_sort_doubles(double *v, size_t n)
{
	uint64_t *k = malloc((n ? n : 1) * sizeof(*k));
	if (!k)
		return -1;
	for (size_t i = 0; i < n; i++)
		k[i] = to_key(v[i]);
	int rc = ns_radix_u64(k, NULL, n);
	for (size_t i = 0; !rc && i < n; i++)
		v[i] = from_key(k[i]);
	free(k);
	return rc;
}
