/* Open addressing with linear probing. A slot holds an id and 32 bits of
 * the key's hash: the hash picks the slot (so a resize needs no rehash)
 * and screens out most mismatches before the key array is touched. */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t
mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint64_t
hash_key(const uint8_t *k, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	for (; n >= 8; k += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, k, 8);
		h = mix(h ^ w);
	}
	if (n) {
		uint64_t w = 0;
		memcpy(&w, k, n);
		h = mix(h ^ w ^ 0x5bd1e995u);
	}
	return h;
}

static int
alloc_slots(struct ns_hmap *m, size_t nslots)
{
	struct ns_hmap_slot *s = calloc(nslots, sizeof(*s));
	if (!s)
		return -1;
	size_t mask = nslots - 1;
	for (size_t i = 0; m->slot && i <= m->mask; i++) {
		if (!m->slot[i].id)
			continue;
		size_t j = m->slot[i].hash & mask;
		while (s[j].id)
			j = (j + 1) & mask;
		s[j] = m->slot[i];
	}
	free(m->slot);
	m->slot = s;
	m->mask = mask;
	return 0;
}

int
ns_hmap_init(struct ns_hmap *m, size_t ksize, size_t expect)
{
	memset(m, 0, sizeof(*m));
	m->ksize = ksize;
	size_t nslots = 16;
	while (nslots < 2 * expect)
		nslots *= 2;
	m->kcap = nslots / 2;
	m->keys = malloc(m->kcap * ksize);
	if (!m->keys || alloc_slots(m, nslots)) {
		ns_hmap_free(m);
		return -1;
	}
	return 0;
}

void
ns_hmap_free(struct ns_hmap *m)
{
	free(m->slot);
	free(m->keys);
	memset(m, 0, sizeof(*m));
}

/* The slot holding key, or the empty slot where it would go. */
static size_t
probe(const struct ns_hmap *m, const void *key, uint32_t h)
{
	size_t i = h & m->mask;
	for (;; i = (i + 1) & m->mask) {
		const struct ns_hmap_slot *s = &m->slot[i];
		if (!s->id)
			return i;
		if (s->hash == h &&
		    !memcmp(m->keys + (size_t)(s->id - 1) * m->ksize, key,
		            m->ksize))
			return i;
	}
}

int64_t
ns_hmap_find(const struct ns_hmap *m, const void *key)
{
	if (!m->slot)
		return -1;
	uint32_t h = (uint32_t)hash_key(key, m->ksize);
	uint32_t id = m->slot[probe(m, key, h)].id;
	return id ? (int64_t)id - 1 : -1;
}

int64_t
ns_hmap_add(struct ns_hmap *m, const void *key)
{
	uint32_t h = (uint32_t)hash_key(key, m->ksize);
	size_t i = probe(m, key, h);
	if (m->slot[i].id)
		return (int64_t)m->slot[i].id - 1;
	if (m->n >= (size_t)1 << 31)
		return -1;
	if (m->n == m->kcap) {
		/* keep the load at or below one half */
		uint8_t *k = realloc(m->keys, 2 * m->kcap * m->ksize);
		if (!k)
			return -1;
		m->keys = k;
		m->kcap *= 2;
		if (alloc_slots(m, 2 * (m->mask + 1)))
			return -1;
		i = probe(m, key, h);
	}
	memcpy(m->keys + m->n * m->ksize, key, m->ksize);
	m->slot[i].id = (uint32_t)++m->n;
	m->slot[i].hash = h;
	return (int64_t)m->n - 1;
}
