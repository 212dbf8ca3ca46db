/* Flow meter: an entry pool with stable indices and an open-addressing
 * index of (hash tag, entry) slots with linear probing and backward-shift
 * deletion. Timeouts are checked on every packet of a flow and by an
 * incremental sweep, so the records do not depend on how often the sweep
 * runs. */
#include "netshare/meter.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NO_ENTRY UINT32_MAX
#define TCP_FIN 0x01
#define TCP_RST 0x04

struct meter_entry {
	struct ns_flow_record f; /* ip_version == 0: free */
	uint32_t hash;
	uint32_t next_free;
};

struct ns_meter {
	struct ns_meter_config cfg;
	ns_flow_sink sink;
	void *ctx;
	struct ns_meter_stats st;
	uint64_t *slots;	/* hash << 32 | (entry + 1); 0: empty */
	struct meter_entry *e;	/* (max_flows) */
	uint32_t slot_mask;
	uint32_t slot_max;	/* slots the memory holds; the index grows to it */
	uint32_t free_head;	/* recycled entries */
	uint32_t fresh;		/* entries [fresh, max_flows) never used */
	uint32_t sweep_pos;
	uint32_t evict_pos;
	size_t mapped;		/* bytes to munmap; 0: caller memory */
};

void
ns_meter_config_default(struct ns_meter_config *c)
{
	c->max_flows = 1u << 20;
	c->active_timeout_ns = 1800ull * 1000000000ull;
	c->inactive_timeout_ns = 15ull * 1000000000ull;
	c->tcp_end = 1;
}

static uint32_t
slot_count(uint32_t max_flows)
{
	uint32_t n = 16;
	while (n < 2ull * max_flows)
		n <<= 1;
	return n;
}

/* A meter built on fresh (lazily faulted) memory starts its index this
 * small and doubles it as flows arrive: a first touch of a page is
 * costly on a VM, and a full index for 1 M flows is 16 MiB touched at
 * random. */
#define FIRST_SLOTS (1u << 14)

static size_t
align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

size_t
ns_meter_mem_size(const struct ns_meter_config *c)
{
	if (c->max_flows < 16 || c->max_flows > (1u << 30))
		return 0;
	return align64(sizeof(struct ns_meter)) +
	       align64((size_t)slot_count(c->max_flows) * sizeof(uint64_t)) +
	       (size_t)c->max_flows * sizeof(struct meter_entry);
}

/* Entries are handed out from `fresh` upwards and recycled through the
 * free list, so nothing but the index needs clearing up front; memory
 * that is already zero (fresh mmap) is not touched at all. */
static struct ns_meter *
meter_setup(void *mem, const struct ns_meter_config *c, ns_flow_sink sink,
	    void *ctx, int zeroed)
{
	size_t size = ns_meter_mem_size(c);
	if (!size || !mem)
		return NULL;
	uint32_t nslots = slot_count(c->max_flows);
	struct ns_meter *m = mem;
	memset(m, 0, sizeof(*m));
	m->cfg = *c;
	m->sink = sink;
	m->ctx = ctx;
	m->slots = (uint64_t *)((char *)mem + align64(sizeof(*m)));
	m->e = (struct meter_entry *)((char *)m->slots +
				      align64(nslots * sizeof(uint64_t)));
	m->slot_max = nslots;
	if (zeroed && nslots > FIRST_SLOTS)
		nslots = FIRST_SLOTS;
	m->slot_mask = nslots - 1;
	if (!zeroed)
		memset(m->slots, 0, nslots * sizeof(uint64_t));
	m->free_head = NO_ENTRY;
	m->fresh = 0;
	return m;
}

struct ns_meter *
ns_meter_init(void *mem, const struct ns_meter_config *c, ns_flow_sink sink,
	      void *ctx)
{
	return meter_setup(mem, c, sink, ctx, 0);
}

struct ns_meter *
ns_meter_create(const struct ns_meter_config *c, ns_flow_sink sink, void *ctx)
{
	size_t size = ns_meter_mem_size(c);
	if (!size)
		return NULL;
	size = (size + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	/* 2 MB pages: far fewer faults and TLB misses on a table that is
	 * probed at random (advice only; ignored where THP is off) */
	madvise(mem, size, MADV_HUGEPAGE);
	struct ns_meter *m = meter_setup(mem, c, sink, ctx, 1);
	if (m)
		m->mapped = size;
	else
		munmap(mem, size);
	return m;
}

void
ns_meter_destroy(struct ns_meter *m)
{
	if (m && m->mapped)
		munmap(m, m->mapped);
}

const struct ns_meter_stats *
ns_meter_stats(const struct ns_meter *m)
{
	return &m->st;
}

static inline uint64_t
mix64(uint64_t h, uint64_t v)
{
	h ^= v * 0x9E3779B97F4A7C15ull;
	h = (h ^ (h >> 29)) * 0xBF58476D1CE4E5B9ull;
	return h ^ (h >> 32);
}

static inline uint32_t
key_hash(const struct ns_pkt_record *r)
{
	uint64_t w[4], h = r->ip_version;
	memcpy(w, r->src_addr, 16);
	memcpy(w + 2, r->dst_addr, 16);
	h = mix64(h, w[0]);
	h = mix64(h, w[1]);
	h = mix64(h, w[2]);
	h = mix64(h, w[3]);
	h = mix64(h, (uint64_t)r->src_port << 24 | (uint64_t)r->dst_port << 8 |
			     r->proto);
	return (uint32_t)h;
}

static inline int
key_equal(const struct ns_flow_record *f, const struct ns_pkt_record *r)
{
	return f->src_port == r->src_port && f->dst_port == r->dst_port &&
	       f->proto == r->proto && f->ip_version == r->ip_version &&
	       memcmp(f->src_addr, r->src_addr, 16) == 0 &&
	       memcmp(f->dst_addr, r->dst_addr, 16) == 0;
}

static void
entry_start(struct meter_entry *e, const struct ns_pkt_record *r,
	    uint32_t hash)
{
	struct ns_flow_record *f = &e->f;
	memset(f, 0, sizeof(*f));
	f->first_ns = f->last_ns = r->ts_ns;
	memcpy(f->src_addr, r->src_addr, 16);
	memcpy(f->dst_addr, r->dst_addr, 16);
	f->src_port = r->src_port;
	f->dst_port = r->dst_port;
	f->proto = r->proto;
	f->ip_version = r->ip_version;
	f->tos = r->tos;
	f->label = NS_LABEL_NONE;
	f->packets = 1;
	f->bytes = r->ip_len;
	f->tcp_flags = r->tcp_flags;
	e->hash = hash;
}

static void
emit(struct ns_meter *m, struct meter_entry *e, enum ns_flow_end why)
{
	e->f.end_reason = (uint8_t)why;
	switch (why) {
	case NS_FLOW_END_IDLE:
		m->st.expired_idle++;
		break;
	case NS_FLOW_END_ACTIVE:
		m->st.expired_active++;
		break;
	case NS_FLOW_END_TCP:
		m->st.expired_tcp++;
		break;
	case NS_FLOW_END_FORCED:
		m->st.expired_forced++;
		break;
	case NS_FLOW_END_EVICTED:
		m->st.evicted++;
		break;
	}
	if (m->sink)
		m->sink(m->ctx, &e->f);
}

/* Remove entry idx from the index and return it to the pool. */
static void
entry_remove(struct ns_meter *m, uint32_t idx)
{
	struct meter_entry *e = &m->e[idx];
	uint32_t i = e->hash & m->slot_mask;
	while ((uint32_t)m->slots[i] != idx + 1)
		i = (i + 1) & m->slot_mask;
	for (uint32_t j = i;;) {
		j = (j + 1) & m->slot_mask;
		uint64_t s = m->slots[j];
		if (!s)
			break;
		uint32_t home = (uint32_t)(s >> 32) & m->slot_mask;
		/* move s back to i unless its home lies in (i, j] */
		int stays = i <= j ? (home > i && home <= j)
				   : (home > i || home <= j);
		if (!stays) {
			m->slots[i] = s;
			i = j;
		}
	}
	m->slots[i] = 0;
	e->f.ip_version = 0;
	e->next_free = m->free_head;
	m->free_head = idx;
	m->st.active--;
}

/* Free an entry when the pool is empty: the next in round-robin order. */
static void
evict_one(struct ns_meter *m)
{
	uint32_t idx = m->evict_pos;
	m->evict_pos = idx + 1 < m->cfg.max_flows ? idx + 1 : 0;
	emit(m, &m->e[idx], NS_FLOW_END_EVICTED);
	entry_remove(m, idx);
}

static inline int
timed_out(const struct ns_meter *m, const struct ns_flow_record *f,
	  uint64_t now, enum ns_flow_end *why)
{
	if (m->cfg.inactive_timeout_ns && now > f->last_ns &&
	    now - f->last_ns >= m->cfg.inactive_timeout_ns) {
		*why = NS_FLOW_END_IDLE;
		return 1;
	}
	if (m->cfg.active_timeout_ns && now > f->first_ns &&
	    now - f->first_ns >= m->cfg.active_timeout_ns) {
		*why = NS_FLOW_END_ACTIVE;
		return 1;
	}
	return 0;
}

static inline int
meterable(const struct ns_pkt_record *r)
{
	return r->ip_version == 4 || r->ip_version == 6;
}

/* Double the index and put every open flow back (the entries keep their
 * hashes). */
static void
grow_index(struct ns_meter *m)
{
	uint32_t n = (m->slot_mask + 1) * 2;
	memset(m->slots, 0, (size_t)(m->slot_mask + 1) * sizeof(uint64_t));
	m->slot_mask = n - 1;
	for (uint32_t idx = 0; idx < m->fresh; idx++) {
		const struct meter_entry *e = &m->e[idx];
		if (!e->f.ip_version)
			continue;
		uint32_t i = e->hash & m->slot_mask;
		while (m->slots[i])
			i = (i + 1) & m->slot_mask;
		m->slots[i] = (uint64_t)e->hash << 32 | (idx + 1);
	}
}

static void
update_hashed(struct ns_meter *m, const struct ns_pkt_record *r, uint32_t h)
{
	uint32_t i = h & m->slot_mask;
	struct meter_entry *e = NULL;
	for (;;) {
		uint64_t s = m->slots[i];
		if (!s)
			break;
		if ((uint32_t)(s >> 32) == h &&
		    key_equal(&m->e[(uint32_t)s - 1].f, r)) {
			e = &m->e[(uint32_t)s - 1];
			break;
		}
		i = (i + 1) & m->slot_mask;
	}

	enum ns_flow_end why;
	if (e && timed_out(m, &e->f, r->ts_ns, &why)) {
		emit(m, e, why);
		entry_start(e, r, h);
		m->st.created++;
	} else if (e) {
		struct ns_flow_record *f = &e->f;
		f->packets++;
		f->bytes += r->ip_len;
		f->tcp_flags |= r->tcp_flags;
		if (r->ts_ns > f->last_ns)
			f->last_ns = r->ts_ns;
		if (r->ts_ns < f->first_ns)
			f->first_ns = r->ts_ns;
	} else {
		int moved = 0;
		if (m->free_head == NO_ENTRY && m->fresh == m->cfg.max_flows) {
			evict_one(m);
			moved = 1; /* our empty slot may have shifted */
		}
		if (m->st.active + 1 > (m->slot_mask + 1) / 2 &&
		    m->slot_mask + 1 < m->slot_max) {
			grow_index(m);
			moved = 1;
		}
		if (moved) {
			i = h & m->slot_mask;
			while (m->slots[i])
				i = (i + 1) & m->slot_mask;
		}
		uint32_t idx;
		if (m->free_head != NO_ENTRY) {
			idx = m->free_head;
			m->free_head = m->e[idx].next_free;
		} else {
			idx = m->fresh++;
		}
		e = &m->e[idx];
		entry_start(e, r, h);
		m->slots[i] = (uint64_t)h << 32 | (idx + 1);
		m->st.created++;
		m->st.active++;
	}

	if (m->cfg.tcp_end && r->proto == 6 &&
	    (r->tcp_flags & (TCP_FIN | TCP_RST))) {
		emit(m, e, NS_FLOW_END_TCP);
		entry_remove(m, (uint32_t)(e - m->e));
	}
}

void
ns_meter_update(struct ns_meter *m, const struct ns_pkt_record *r)
{
	m->st.packets++;
	if (!meterable(r)) {
		m->st.skipped++;
		return;
	}
	update_hashed(m, r, key_hash(r));
}

/* Hash the whole burst and prefetch each home slot, then, a few packets
 * ahead of the update, the entry that slot points at: the table's cache
 * misses overlap instead of queueing one behind the other. */
void
ns_meter_update_burst(struct ns_meter *m, const struct ns_pkt_record *r,
		      size_t n)
{
	enum { CHUNK = 32, AHEAD = 4 };
	uint32_t h[CHUNK];
	while (n) {
		size_t k = n < CHUNK ? n : CHUNK;
		for (size_t j = 0; j < k; j++) {
			h[j] = key_hash(&r[j]);
			__builtin_prefetch(&m->slots[h[j] & m->slot_mask]);
		}
		for (size_t j = 0; j < k; j++) {
			if (j + AHEAD < k) {
				uint64_t s = m->slots[h[j + AHEAD] &
						      m->slot_mask];
				if (s)
					__builtin_prefetch(
						&m->e[(uint32_t)s - 1]);
			}
			m->st.packets++;
			if (!meterable(&r[j])) {
				m->st.skipped++;
				continue;
			}
			update_hashed(m, &r[j], h[j]);
		}
		r += k;
		n -= k;
	}
}

size_t
ns_meter_expire(struct ns_meter *m, uint64_t now_ns, size_t budget)
{
	uint32_t n = m->fresh; /* entries ever used */
	if (n == 0)
		return 0;
	if (budget == 0 || budget > n)
		budget = n;
	size_t closed = 0;
	uint32_t pos = m->sweep_pos < n ? m->sweep_pos : 0;
	for (size_t k = 0; k < budget; k++) {
		struct meter_entry *e = &m->e[pos];
		enum ns_flow_end why;
		if (e->f.ip_version && timed_out(m, &e->f, now_ns, &why)) {
			emit(m, e, why);
			entry_remove(m, pos);
			closed++;
		}
		pos = pos + 1 < n ? pos + 1 : 0;
	}
	m->sweep_pos = pos;
	return closed;
}

size_t
ns_meter_flush(struct ns_meter *m)
{
	size_t closed = 0;
	for (uint32_t i = 0; i < m->fresh; i++) {
		if (!m->e[i].f.ip_version)
			continue;
		emit(m, &m->e[i], NS_FLOW_END_FORCED);
		entry_remove(m, i);
		closed++;
	}
	return closed;
}
