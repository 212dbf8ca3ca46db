/* A small open-addressing hash map from fixed-size byte keys to dense ids
 * (0, 1, 2, ... in insertion order), for counting and grouping records.
 * Up to 2^31 keys. */
#ifndef NS_METRICS_HMAP_H
#define NS_METRICS_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct ns_hmap_slot {
	uint32_t id;   /* id + 1, or 0 when empty */
	uint32_t hash; /* low 32 bits of the key's hash */
};

struct ns_hmap {
	size_t ksize; /* bytes per key */
	size_t n;     /* keys held; ids are 0 .. n-1 */
	size_t mask;  /* slot count - 1 (a power of two, <= 2^32) */
	struct ns_hmap_slot *slot;
	uint8_t *keys; /* n keys of ksize bytes, by id */
	size_t kcap;
};

/* Room for about `expect` keys before the first resize. 0 or -1. */
int ns_hmap_init(struct ns_hmap *m, size_t ksize, size_t expect);
void ns_hmap_free(struct ns_hmap *m);

/* The id of key, added when new; -1 when out of memory. */
int64_t ns_hmap_add(struct ns_hmap *m, const void *key);

/* The id of key, or -1 when absent. */
int64_t ns_hmap_find(const struct ns_hmap *m, const void *key);

#endif
