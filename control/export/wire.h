/* Wire bytes through a checked cursor: every put checks room first and a
 * cursor that ran out stays out (c->bad), so a writer checks once at the
 * end. Network byte order throughout. */
#ifndef NS_EXPORT_WIRE_H
#define NS_EXPORT_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct ns_cur {
	uint8_t *p;
	size_t len, cap;
	int bad;
};

static inline struct ns_cur
ns_cur_make(uint8_t *p, size_t cap)
{
	struct ns_cur c = {p, 0, cap, 0};
	return c;
}

/* n octets to write into, or NULL (and c->bad) when they do not fit. */
static inline uint8_t *
ns_cur_take(struct ns_cur *c, size_t n)
{
	if (c->bad || c->cap - c->len < n) {
		c->bad = 1;
		return NULL;
	}
	uint8_t *at = c->p + c->len;
	c->len += n;
	return at;
}

/* v as len octets, most significant first (len <= 8). */
static inline void
ns_store_be(uint8_t *out, uint64_t v, unsigned len)
{
	for (unsigned i = len; i-- > 0; v >>= 8)
		out[i] = (uint8_t)v;
}

static inline void
ns_put_be(struct ns_cur *c, uint64_t v, unsigned len)
{
	uint8_t *at = ns_cur_take(c, len);
	if (at)
		ns_store_be(at, v, len);
}

static inline void
ns_put_u8(struct ns_cur *c, uint8_t v)
{
	ns_put_be(c, v, 1);
}

static inline void
ns_put_u16(struct ns_cur *c, uint16_t v)
{
	ns_put_be(c, v, 2);
}

static inline void
ns_put_u32(struct ns_cur *c, uint32_t v)
{
	ns_put_be(c, v, 4);
}

static inline void
ns_put_bytes(struct ns_cur *c, const void *src, size_t n)
{
	uint8_t *at = ns_cur_take(c, n);
	if (at)
		memcpy(at, src, n);
}

static inline void
ns_put_zeros(struct ns_cur *c, size_t n)
{
	uint8_t *at = ns_cur_take(c, n);
	if (at)
		memset(at, 0, n);
}

#endif
