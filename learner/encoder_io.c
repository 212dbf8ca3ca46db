/* The encoder's binary form, embedded in checkpoints:
 *
 *   "NSENC" | u8 version | u16 reserved (0) | u32 payload bytes P
 *   payload (P bytes, fields below, little endian)
 *   u64 FNV-1a of the payload
 *
 * payload: is_packets, ip_bits, n_chunks (u32); t0_ns, t1_ns (u64);
 * max_flow_len, split_long, n_classes, n_cont (u32); cont_min[n_cont],
 * cont_max[n_cont] (f64); labels: n (u32), then per label u8 length and
 * the name's bytes; word2vec: dim, n_tokens (u32), per token u8 kind and
 * u32 value, then vec (n_tokens, dim) f32; protocol-port pairs: n (u32),
 * the pairs (u32 each), their counts (u32 each); the length profile:
 * m (u32), then m (u32 index into (pair, role, bucket), u32 count) for
 * its non-zero cells, ascending; port and protocol spread (f32); attr
 * and feat layouts: n_heads (u32), per head u8 act, u8 pad, u16 dim.
 *
 * The reader buffers at most what the input really holds (and never more
 * than NS_ENC_MAX_PAYLOAD), checks every count against the bytes left and
 * every value against its range, and rebuilds the layouts to compare. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "encode_int.h"
#include "netshare/encode.h"

#define MAGIC "NSENC"
#define MAGIC_LEN 5
#define HEADER_LEN 12
#define TRAILER_LEN 8
#define MAX_TOKENS (65536u + 256u)
/* MAX_TOKENS * (5 + 4 * NS_MAX_W2V_DIM) plus labels and layouts */
#define NS_ENC_MAX_PAYLOAD (32u << 20)

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* --- writing ------------------------------------------------------------ */

/* A growing byte buffer; a failed allocation sticks in oom. */
struct wbuf {
	uint8_t *b;
	size_t n, cap;
	int oom;
};

static void
put(struct wbuf *w, const void *p, size_t len)
{
	if (w->oom)
		return;
	if (w->n + len > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap < w->n + len)
			cap *= 2;
		uint8_t *nb = realloc(w->b, cap);
		if (!nb) {
			w->oom = 1;
			return;
		}
		w->b = nb;
		w->cap = cap;
	}
	memcpy(w->b + w->n, p, len);
	w->n += len;
}

static void
put_le(struct wbuf *w, uint64_t v, int bytes)
{
	uint8_t b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(w, b, (size_t)bytes);
}

static void
put_u8(struct wbuf *w, uint8_t v)
{
	put_le(w, v, 1);
}

static void
put_u16(struct wbuf *w, uint16_t v)
{
	put_le(w, v, 2);
}

static void
put_u32(struct wbuf *w, uint32_t v)
{
	put_le(w, v, 4);
}

static void
put_u64(struct wbuf *w, uint64_t v)
{
	put_le(w, v, 8);
}

static void
put_f32(struct wbuf *w, float x)
{
	uint32_t v;
	memcpy(&v, &x, 4);
	put_u32(w, v);
}

static void
put_f64(struct wbuf *w, double x)
{
	uint64_t v;
	memcpy(&v, &x, 8);
	put_u64(w, v);
}

static void
put_layout(struct wbuf *w, const struct ns_layout *l)
{
	put_u32(w, l->n_heads);
	for (uint32_t k = 0; k < l->n_heads && k < NS_MAX_HEADS; k++) {
		put_u8(w, l->head[k].act);
		put_u8(w, 0);
		put_u16(w, l->head[k].dim);
	}
}

int
ns_encoder_write(FILE *f, const struct ns_encoder *enc)
{
	if (!f || !enc || enc->n_cont > NS_MAX_CONT ||
	    enc->labels.n > NS_LABEL_MAX) {
		errno = EINVAL;
		return -1;
	}
	struct wbuf w = {0};
	uint8_t header[HEADER_LEN] = {0};
	put(&w, header, sizeof(header)); /* filled in below */
	put_u32(&w, (uint32_t) !!enc->is_packets);
	put_u32(&w, enc->ip_bits);
	put_u32(&w, enc->n_chunks);
	put_u64(&w, enc->t0_ns);
	put_u64(&w, enc->t1_ns);
	put_u32(&w, enc->max_flow_len);
	put_u32(&w, enc->split_long);
	put_u32(&w, enc->n_classes);
	put_u32(&w, enc->n_cont);
	for (uint32_t k = 0; k < enc->n_cont; k++)
		put_f64(&w, enc->cont_min[k]);
	for (uint32_t k = 0; k < enc->n_cont; k++)
		put_f64(&w, enc->cont_max[k]);
	put_u32(&w, enc->labels.n);
	for (uint32_t k = 0; k < enc->labels.n; k++) {
		size_t len = strnlen(enc->labels.name[k], NS_LABEL_LEN - 1);
		put_u8(&w, (uint8_t)len);
		put(&w, enc->labels.name[k], len);
	}
	const struct ns_w2v *v = &enc->w2v;
	put_u32(&w, v->dim);
	put_u32(&w, v->n_tokens);
	for (uint32_t t = 0; t < v->n_tokens; t++) {
		put_u8(&w, v->kind[t]);
		put_u32(&w, v->value[t]);
	}
	for (size_t k = 0; k < (size_t)v->n_tokens * v->dim; k++)
		put_f32(&w, v->vec[k]);
	put_u32(&w, enc->n_proto_ports);
	for (uint32_t k = 0; k < enc->n_proto_ports; k++)
		put_u32(&w, enc->proto_ports[k]);
	for (uint32_t k = 0; k < enc->n_proto_ports; k++)
		put_u32(&w, enc->proto_port_count[k]);
	const size_t cells = (size_t)enc->n_proto_ports * 2 * NS_LEN_BUCKETS;
	uint32_t m = 0;
	for (size_t k = 0; k < cells; k++)
		m += enc->port_len_count[k] != 0;
	put_u32(&w, m);
	for (size_t k = 0; k < cells; k++)
		if (enc->port_len_count[k]) {
			put_u32(&w, (uint32_t)k);
			put_u32(&w, enc->port_len_count[k]);
		}
	put_f32(&w, enc->port_spread);
	put_f32(&w, enc->proto_spread);
	put_layout(&w, &enc->attr);
	put_layout(&w, &enc->feat);

	size_t payload = w.n - HEADER_LEN;
	if (!w.oom && payload > NS_ENC_MAX_PAYLOAD) {
		free(w.b);
		errno = EFBIG;
		return -1;
	}
	put_u64(&w, w.oom ? 0 : fnv1a(w.b + HEADER_LEN, payload));
	if (w.oom) {
		free(w.b);
		errno = ENOMEM;
		return -1;
	}
	memcpy(w.b, MAGIC, MAGIC_LEN);
	w.b[5] = NS_ENCODER_VERSION;
	w.b[6] = w.b[7] = 0;
	for (int i = 0; i < 4; i++)
		w.b[8 + i] = (uint8_t)(payload >> (8 * i));
	size_t put_n = fwrite(w.b, 1, w.n, f);
	int rc = put_n == w.n ? 0 : -1;
	if (rc && errno == 0)
		errno = EIO;
	free(w.b);
	return rc;
}

/* --- reading ------------------------------------------------------------ */

/* A checked cursor over the payload; the first failure sticks. */
struct rcur {
	const uint8_t *p;
	size_t n, off;
	char *err;
	size_t errlen;
	int bad;
};

static int bad(struct rcur *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
bad(struct rcur *c, const char *fmt, ...)
{
	if (c->bad)
		return -1;
	c->bad = 1;
	if (c->err && c->errlen) {
		int k = snprintf(c->err, c->errlen, "encoder: ");
		if (k > 0 && (size_t)k < c->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
			va_end(ap);
		}
	}
	return -1;
}

static uint64_t
get_le(struct rcur *c, int bytes, const char *what)
{
	if (c->bad)
		return 0;
	if (c->n - c->off < (size_t)bytes) {
		bad(c, "truncated payload at %s (byte %zu of %zu)", what,
		    c->off, c->n);
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)c->p[c->off + (size_t)i] << (8 * i);
	c->off += (size_t)bytes;
	return v;
}

static uint32_t
get_u32(struct rcur *c, const char *what)
{
	return (uint32_t)get_le(c, 4, what);
}

static double
get_f64(struct rcur *c, const char *what)
{
	uint64_t v = get_le(c, 8, what);
	double x;
	memcpy(&x, &v, 8);
	return x;
}

/* A u32 that must lie in [lo, hi]. */
static uint32_t
get_range(struct rcur *c, const char *what, uint32_t lo, uint32_t hi)
{
	uint32_t v = get_u32(c, what);
	if (!c->bad && (v < lo || v > hi))
		bad(c, "%s %u out of range [%u, %u]", what, v, lo, hi);
	return v;
}

/* Does the input hold n more items of size bytes? */
static int
room(struct rcur *c, size_t n, size_t size, const char *what)
{
	if (c->bad)
		return 0;
	if (n > (c->n - c->off) / size) {
		bad(c, "%zu %s need %zu bytes, %zu left", n, what, n * size,
		    c->n - c->off);
		return 0;
	}
	return 1;
}

static void
get_layout(struct rcur *c, struct ns_layout *l, const char *what)
{
	memset(l, 0, sizeof(*l));
	l->n_heads = get_range(c, what, 1, NS_MAX_HEADS);
	if (!room(c, l->n_heads, 4, "heads"))
		return;
	for (uint32_t k = 0; k < l->n_heads; k++) {
		l->head[k].act = (uint8_t)get_le(c, 1, what);
		l->head[k].pad = (uint8_t)get_le(c, 1, what);
		l->head[k].dim = (uint16_t)get_le(c, 2, what);
		l->dim += l->head[k].dim;
	}
}

static int
same_layout(const struct ns_layout *a, const struct ns_layout *b)
{
	if (a->n_heads != b->n_heads || a->dim != b->dim)
		return 0;
	for (uint32_t k = 0; k < a->n_heads; k++)
		if (a->head[k].act != b->head[k].act ||
		    a->head[k].pad != b->head[k].pad ||
		    a->head[k].dim != b->head[k].dim)
			return 0;
	return 1;
}

static void
get_labels(struct rcur *c, struct ns_label_table *t)
{
	t->n = get_range(c, "label count", 0, NS_LABEL_MAX);
	for (uint32_t k = 0; k < t->n && !c->bad; k++) {
		uint32_t len = (uint32_t)get_le(c, 1, "label length");
		if (!c->bad && len >= NS_LABEL_LEN) {
			bad(c, "label %u: length %u over %d", k, len,
			    NS_LABEL_LEN - 1);
			return;
		}
		if (!room(c, len, 1, "label bytes"))
			return;
		memset(t->name[k], 0, NS_LABEL_LEN);
		memcpy(t->name[k], c->p + c->off, len);
		c->off += len;
		if (strnlen(t->name[k], len) != len)
			bad(c, "label %u: NUL inside the name", k);
	}
}

static void
get_w2v(struct rcur *c, struct ns_w2v *w)
{
	w->dim = get_range(c, "w2v dim", 1, NS_MAX_W2V_DIM);
	w->n_tokens = get_range(c, "token count", 2, MAX_TOKENS);
	if (!room(c, w->n_tokens, 5 + 4 * (size_t)w->dim, "tokens"))
		return;
	w->kind = malloc(w->n_tokens * sizeof(*w->kind));
	w->value = malloc(w->n_tokens * sizeof(*w->value));
	w->vec = malloc((size_t)w->n_tokens * w->dim * sizeof(*w->vec));
	if (!w->kind || !w->value || !w->vec) {
		bad(c, "out of memory for %u tokens", w->n_tokens);
		return;
	}
	for (uint32_t t = 0; t < w->n_tokens && !c->bad; t++) {
		w->kind[t] = (uint8_t)get_le(c, 1, "token kind");
		w->value[t] = get_u32(c, "token value");
		uint32_t max = w->kind[t] == NS_TOK_PORT ? 65535 : 255;
		if (w->kind[t] > NS_TOK_PROTO || w->value[t] > max)
			bad(c, "token %u: kind %u value %u invalid", t,
			    w->kind[t], w->value[t]);
		else if (t > 0 && (w->kind[t] < w->kind[t - 1] ||
		                   (w->kind[t] == w->kind[t - 1] &&
		                    w->value[t] <= w->value[t - 1])))
			bad(c, "token %u out of order", t);
	}
	if (!c->bad && (w->kind[0] != NS_TOK_PORT ||
	                w->kind[w->n_tokens - 1] != NS_TOK_PROTO))
		bad(c, "vocabulary lacks ports or protocols");
	for (size_t k = 0; k < (size_t)w->n_tokens * w->dim && !c->bad; k++) {
		uint32_t u = get_u32(c, "w2v vector");
		memcpy(&w->vec[k], &u, 4);
		if (!(fabsf(w->vec[k]) <= 1.001f))
			bad(c, "w2v vector %zu: component not in [-1,1]",
			    k / w->dim);
	}
}

/* The length profile's non-zero cells, ascending. */
static void
get_port_lengths(struct rcur *c, struct ns_encoder *enc)
{
	if (c->bad)
		return;
	const size_t cells = (size_t)enc->n_proto_ports * 2 * NS_LEN_BUCKETS;
	enc->port_len_count = calloc(cells, sizeof(uint32_t));
	if (!enc->port_len_count) {
		bad(c, "out of memory for the port length profile");
		return;
	}
	uint32_t m = get_u32(c, "length profile cells");
	if (c->bad || !room(c, m, 8, "length profile cells"))
		return;
	uint32_t prev = 0;
	for (uint32_t k = 0; k < m && !c->bad; k++) {
		uint32_t at = get_u32(c, "length profile index");
		uint32_t n = get_u32(c, "length profile count");
		if (at >= cells || (k > 0 && at <= prev) || n == 0)
			bad(c, "length profile cell %u (index %u, count %u) "
			       "out of range or order", k, at, n);
		else
			enc->port_len_count[at] = n;
		prev = at;
	}
}

/* Sorted, unique (proto << 16 | port) pairs whose protocol and port are
 * both in the vocabulary. */
static void
get_proto_ports(struct rcur *c, struct ns_encoder *enc)
{
	if (c->bad)
		return;
	enc->n_proto_ports = get_range(c, "protocol-port pairs", 1,
				       MAX_TOKENS * 256u);
	if (!room(c, enc->n_proto_ports, 4, "protocol-port pairs"))
		return;
	enc->proto_ports = malloc(enc->n_proto_ports * sizeof(uint32_t));
	enc->proto_port_count = malloc(enc->n_proto_ports * sizeof(uint32_t));
	if (!enc->proto_ports || !enc->proto_port_count) {
		bad(c, "out of memory for %u pairs", enc->n_proto_ports);
		return;
	}
	for (uint32_t k = 0; k < enc->n_proto_ports && !c->bad; k++) {
		uint32_t v = get_u32(c, "protocol-port pair");
		enc->proto_ports[k] = v;
		if (v >> 24 || (k > 0 && v <= enc->proto_ports[k - 1]) ||
		    ns_w2v_lookup(&enc->w2v, NS_TOK_PROTO, v >> 16) < 0 ||
		    ns_w2v_lookup(&enc->w2v, NS_TOK_PORT, v & 0xFFFF) < 0)
			bad(c, "protocol-port pair %u (%u/%u) invalid or out "
			       "of order", k, v >> 16, v & 0xFFFF);
	}
	if (!room(c, enc->n_proto_ports, 4, "protocol-port counts"))
		return;
	for (uint32_t k = 0; k < enc->n_proto_ports && !c->bad; k++) {
		enc->proto_port_count[k] = get_u32(c, "protocol-port count");
		if (enc->proto_port_count[k] == 0)
			bad(c, "protocol-port pair %u has count 0", k);
	}
	get_port_lengths(c, enc);
	uint32_t u = get_u32(c, "port spread");
	memcpy(&enc->port_spread, &u, 4);
	if (!c->bad && !(enc->port_spread >= 0 && enc->port_spread <= 2))
		bad(c, "port spread not in [0, 2]");
	u = get_u32(c, "protocol spread");
	memcpy(&enc->proto_spread, &u, 4);
	if (!c->bad && !(enc->proto_spread >= 0 && enc->proto_spread <= 2))
		bad(c, "protocol spread not in [0, 2]");
}

static void
parse(struct rcur *c, struct ns_encoder *enc)
{
	enc->is_packets = (int)get_range(c, "is_packets", 0, 1);
	enc->ip_bits = get_u32(c, "ip_bits");
	if (!c->bad && enc->ip_bits != 32 && enc->ip_bits != 128)
		bad(c, "ip_bits %u: must be 32 or 128", enc->ip_bits);
	enc->n_chunks = get_range(c, "n_chunks", 1, NS_MAX_CHUNKS);
	enc->t0_ns = get_le(c, 8, "t0");
	enc->t1_ns = get_le(c, 8, "t1");
	if (!c->bad && enc->t1_ns < enc->t0_ns)
		bad(c, "time range ends before it starts");
	enc->max_flow_len = get_range(c, "max_flow_len", 1, UINT32_MAX);
	enc->split_long = get_range(c, "split_long", 0, 1);
	enc->n_classes = get_range(c, "n_classes", 0, NS_LABEL_MAX + 1);
	uint32_t want = enc->is_packets ? NS_PKT_N_CONT : NS_FLOW_N_CONT;
	enc->n_cont = get_range(c, "n_cont", want, want);
	for (uint32_t k = 0; k < enc->n_cont && !c->bad; k++)
		enc->cont_min[k] = get_f64(c, "cont_min");
	for (uint32_t k = 0; k < enc->n_cont && !c->bad; k++) {
		enc->cont_max[k] = get_f64(c, "cont_max");
		if (!c->bad && !(isfinite(enc->cont_min[k]) &&
		                 isfinite(enc->cont_max[k]) &&
		                 enc->cont_min[k] <= enc->cont_max[k]))
			bad(c,
			    "continuous range %u is not a finite [min, max]",
			    k);
	}
	get_labels(c, &enc->labels);
	if (!c->bad) {
		uint32_t n = enc->labels.n, k = enc->n_classes;
		int ok = enc->is_packets ? n == 0 && k == 0
		         : n == 0        ? k == 0
		                         : k == n || k == n + 1;
		if (!ok)
			bad(c, "%u classes do not fit %u labels", k, n);
	}
	get_w2v(c, &enc->w2v);
	get_proto_ports(c, enc);
	struct ns_layout attr, feat;
	get_layout(c, &attr, "attr heads");
	get_layout(c, &feat, "feat heads");
	if (c->bad)
		return;
	if (ns_enc_layouts(enc) || !same_layout(&attr, &enc->attr) ||
	    !same_layout(&feat, &enc->feat)) {
		bad(c, "stored layouts do not match the fields");
		return;
	}
	if (c->off != c->n)
		bad(c, "%zu unexpected bytes at the end of the payload",
		    c->n - c->off);
}

int
ns_encoder_read(FILE *f, struct ns_encoder *enc, char *err, size_t errlen)
{
	memset(enc, 0, sizeof(*enc));
	struct rcur c = {.err = err, .errlen = errlen};
	uint8_t h[HEADER_LEN];
	uint8_t *buf = NULL;
	size_t got = f ? fread(h, 1, sizeof(h), f) : 0;
	if (got < MAGIC_LEN || memcmp(h, MAGIC, MAGIC_LEN) != 0) {
		bad(&c, got < MAGIC_LEN ? "short input: no NSENC header"
		                        : "bad magic: not an NSENC encoder");
		goto out;
	}
	if (got < sizeof(h)) {
		bad(&c, "short input: header cut at byte %zu of %d", got,
		    HEADER_LEN);
		goto out;
	}
	if (h[5] != NS_ENCODER_VERSION) {
		bad(&c, "version %u, this build reads version %u", h[5],
		    NS_ENCODER_VERSION);
		goto out;
	}
	if (h[6] || h[7]) {
		bad(&c, "reserved header bytes are not zero");
		goto out;
	}
	size_t payload = (size_t)h[8] | (size_t)h[9] << 8 |
	                 (size_t)h[10] << 16 | (size_t)h[11] << 24;
	if (payload > NS_ENC_MAX_PAYLOAD) {
		bad(&c, "payload of %zu bytes exceeds the %u byte limit",
		    payload, NS_ENC_MAX_PAYLOAD);
		goto out;
	}
	/* buffer what is really there, growing as it arrives */
	size_t want = payload + TRAILER_LEN, cap = 0, have = 0;
	while (have < want) {
		if (have == cap) {
			cap = cap ? cap * 2 : 4096;
			if (cap > want)
				cap = want;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				bad(&c, "out of memory for %zu bytes", cap);
				goto out;
			}
			buf = nb;
		}
		size_t k = fread(buf + have, 1, cap - have, f);
		if (k == 0)
			break;
		have += k;
	}
	if (have < want) {
		bad(&c, "short input: %zu of %zu payload and checksum bytes",
		    have, want);
		goto out;
	}
	c.p = buf;
	c.n = payload;
	parse(&c, enc);
	if (c.bad)
		goto out;
	uint64_t sum = 0;
	for (int i = 0; i < 8; i++)
		sum |= (uint64_t)buf[payload + (size_t)i] << (8 * i);
	if (sum != fnv1a(buf, payload))
		bad(&c, "checksum mismatch: the payload is corrupt");
out:
	free(buf);
	if (c.bad) {
		ns_encoder_free(enc);
		return -1;
	}
	return 0;
}
