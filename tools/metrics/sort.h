/* LSD radix sorts for the metrics' large arrays: O(n), no comparator
 * calls. */
#ifndef NS_METRICS_SORT_H
#define NS_METRICS_SORT_H

#include <stddef.h>
#include <stdint.h>

/* Sort k ascending, carrying p along when it is not NULL. Returns 0, or
 * -1 when out of memory (k and p unchanged). */
int ns_radix_u64(uint64_t *k, uint32_t *p, size_t n);

/* Sort finite doubles ascending (-0.0 before +0.0). 0 or -1. */
int ns_sort_doubles(double *v, size_t n);

#endif
