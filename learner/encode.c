/* Fitting the encoder on a trace and encoding it: flows by 5-tuple, time
 * chunks and flow tags, IP bits, word2vec ports and protocol, min-max
 * (after log1p for flow sizes) continuous fields, categorical one-hots.
 * netshare.md §2.3-§3.6, §4.5. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "encode_int.h"
#include "netshare/encode.h"

void
ns_encode_config_default(struct ns_encode_config *c)
{
	memset(c, 0, sizeof(*c));
	c->n_chunks = 10;
	c->w2v_dim = 10;
	c->w2v_window = 5;
	c->w2v_epochs = 5;
	c->w2v_negative = 5;
	c->max_flow_len = 0;
	c->split_long = 1;
	c->seed = 1;
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A large array for the dataset, freed with free(). Big ones are 2 MiB
 * aligned and marked for transparent huge pages: first touch of a few
 * hundred MiB of 4 KiB pages costs more than encoding them. */
static void *
big_alloc(size_t bytes)
{
	const size_t huge = 2u << 20;
	if (bytes < 2 * huge)
		return malloc(bytes ? bytes : 1);
	void *p = NULL;
	if (posix_memalign(&p, huge, bytes) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, bytes & ~(huge - 1), MADV_HUGEPAGE); /* a hint only */
#endif
	return p;
}

/* --- building blocks ---------------------------------------------------- */

/* The 16-byte form used for 128-bit encoding: IPv6 as is, IPv4 as
 * ::ffff:a.b.c.d. */
static void
addr128(const uint8_t addr[16], int ip_version, uint8_t out[16])
{
	if (ip_version == 6) {
		memcpy(out, addr, 16);
		return;
	}
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, addr, 4);
}

/* nbits of b, MSB first, as two-way one-hots: out (nbits, 2) */
static void
bits_encode(const uint8_t *b, uint32_t nbits, float *out)
{
	for (uint32_t k = 0; k < nbits; k++) {
		int bit = b[k / 8] >> (7 - k % 8) & 1;
		out[2 * k] = (float)!bit;
		out[2 * k + 1] = (float)bit;
	}
}

void
ns_ip_encode(const uint8_t addr[16], int ip_version, uint32_t ip_bits,
             float *out)
{
	uint8_t b[16];
	if (ip_bits == 128) {
		addr128(addr, ip_version, b);
		bits_encode(b, 128, out);
	} else {
		bits_encode(addr, 32, out);
	}
}

int
ns_ip_decode(const float *in, uint32_t ip_bits, uint8_t addr[16])
{
	uint8_t b[16] = {0};
	for (uint32_t k = 0; k < ip_bits && k < 128; k++)
		if (in[2 * k + 1] > in[2 * k]) /* NaN compares false: 0 */
			b[k / 8] |= (uint8_t)(0x80u >> (k % 8));
	memset(addr, 0, 16);
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
	                                   0, 0, 0, 0, 0xff, 0xff};
	if (ip_bits != 128) {
		memcpy(addr, b, 4);
		return 4;
	}
	if (memcmp(b, mapped, 12) == 0) {
		memcpy(addr, b + 12, 4);
		return 4;
	}
	memcpy(addr, b, 16);
	return 6;
}

float
ns_scale(double x, double lo, double hi)
{
	if (!(hi > lo) || isnan(x))
		return 0.0f;
	double y = (x - lo) / (hi - lo);
	return (float)(y < 0.0 ? 0.0 : y > 1.0 ? 1.0 : y);
}

double
ns_unscale(float y, double lo, double hi)
{
	double v = isnan(y) ? 0.0 : y < 0.0f ? 0.0 : y > 1.0f ? 1.0 : y;
	if (!(hi > lo))
		return lo;
	return lo + v * (hi - lo);
}

static void
onehot2(float *out, int bit)
{
	out[0] = (float)!bit;
	out[1] = (float)!!bit;
}

void
ns_flow_tags(uint64_t mask, uint32_t chunk, uint32_t n_chunks, float *out)
{
	int start = mask != 0 && (uint32_t)__builtin_ctzll(mask) == chunk;
	onehot2(out, start);
	for (uint32_t i = 0; i < n_chunks; i++)
		onehot2(out + 2 * (1 + i), i < 64 && (mask >> i & 1));
}

void
ns_gen_flags(uint32_t len, uint32_t L, uint32_t S, float *out)
{
	memset(out, 0, 2 * (size_t)L * sizeof(*out));
	if (len > L)
		len = L;
	if (len == 0)
		return;
	if (S == 0)
		S = 1;
	uint32_t last = len - 1;
	uint32_t block_end = (last / S + 1) * S; /* end of last's S-block */
	for (uint32_t k = 0; k < L; k++) {
		if (k < last)
			out[2 * k] = 1.0f;
		else if (k < block_end)
			out[2 * k + 1] = 1.0f;
	}
}

uint32_t
ns_gen_length(const float *flags, uint32_t L)
{
	for (uint32_t k = 0; k < L; k++)
		if (!(flags[2 * k] >= flags[2 * k + 1]))
			return k + 1; /* this record says "end" */
	return L;
}

uint32_t
ns_len_bucket(uint32_t len)
{
	uint32_t b = 0;
	while (len > 1 && b < NS_LEN_BUCKETS - 1) {
		len >>= 1;
		b++;
	}
	return b;
}

/* --- layouts ------------------------------------------------------------ */

static int
push_head(struct ns_layout *l, int act, uint32_t dim)
{
	if (l->n_heads >= NS_MAX_HEADS || dim == 0 || dim > UINT16_MAX)
		return -1;
	l->head[l->n_heads].act = (uint8_t)act;
	l->head[l->n_heads].pad = 0;
	l->head[l->n_heads].dim = (uint16_t)dim;
	l->n_heads++;
	l->dim += dim;
	return 0;
}

int
ns_enc_layouts(struct ns_encoder *enc)
{
	struct ns_layout *a = &enc->attr, *f = &enc->feat;
	memset(a, 0, sizeof(*a));
	memset(f, 0, sizeof(*f));
	int rc = 0;
	for (int ip = 0; ip < 2; ip++)
		for (uint32_t k = 0; k < enc->ip_bits; k++)
			rc |= push_head(a, NS_HEAD_SOFTMAX, 2);
	for (int k = 0; k < 3; k++)
		rc |= push_head(a, NS_HEAD_TANH, enc->w2v.dim);
	enc->attr_tag_off = a->dim;
	for (uint32_t k = 0; k < 1 + enc->n_chunks; k++)
		rc |= push_head(a, NS_HEAD_SOFTMAX, 2);
	enc->attr_start_off = a->dim;
	rc |= push_head(a, NS_HEAD_SIGMOID, 1);

	if (enc->is_packets) {
		enc->n_cont = NS_PKT_N_CONT;
		for (int k = 0; k < 4; k++) /* iat, pkt_len, tos, id */
			rc |= push_head(f, NS_HEAD_SIGMOID, 1);
		rc |= push_head(f, NS_HEAD_SOFTMAX, NS_FLAG_CLASSES);
		for (int k = 0; k < 2; k++) /* off, ttl */
			rc |= push_head(f, NS_HEAD_SIGMOID, 1);
	} else {
		enc->n_cont = NS_FLOW_N_CONT;
		for (int k = 0; k < 4; k++) /* iat, td, pkt, byt */
			rc |= push_head(f, NS_HEAD_SIGMOID, 1);
		if (enc->n_classes > 0)
			rc |= push_head(f, NS_HEAD_SOFTMAX, enc->n_classes);
	}
	return rc ? -1 : 0;
}

/* --- grouping records into flow samples --------------------------------- */

/* The grouping key of a record: both addresses in 128-bit form, then
 * the ports (big endian) and the protocol. */
#define KEY_LEN 40
#define KEY_SPORT 32
#define KEY_DPORT 34
#define KEY_PROTO 36

/* One record, sortable by 5-tuple group, then time, then position. */
struct item {
	uint64_t t;
	uint32_t idx;   /* position in the trace */
	uint32_t group; /* 5-tuple, numbered by first appearance */
};

/* One flow sample: a 5-tuple's records inside one chunk. */
struct sample {
	uint64_t t;     /* first record's time */
	uint64_t mask;  /* chunks the 5-tuple occurs in */
	uint32_t first; /* first item */
	uint32_t len;   /* items kept */
	uint32_t chunk;
	uint32_t group;
};

static int
item_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	if (a->group != b->group)
		return a->group < b->group ? -1 : 1;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int
sample_cmp(const void *pa, const void *pb)
{
	const struct sample *a = pa, *b = pb;
	if (a->chunk != b->chunk)
		return a->chunk < b->chunk ? -1 : 1;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return a->first < b->first ? -1 : a->first > b->first;
}

/* The fields the grouping needs, from either kind of trace. */
struct view {
	const struct ns_pkt_record *p;  /* (n) or NULL */
	const struct ns_flow_record *f; /* (n) or NULL */
	size_t n;
};

static uint64_t
view_time(const struct view *v, size_t i)
{
	return v->p ? v->p[i].ts_ns : v->f[i].first_ns;
}

static void
view_key(const struct view *v, size_t i, uint8_t key[KEY_LEN])
{
	const uint8_t *src, *dst;
	uint16_t sp, dp;
	uint8_t proto, ver;
	if (v->p) {
		const struct ns_pkt_record *r = &v->p[i];
		src = r->src_addr, dst = r->dst_addr, ver = r->ip_version;
		sp = r->src_port, dp = r->dst_port, proto = r->proto;
	} else {
		const struct ns_flow_record *r = &v->f[i];
		src = r->src_addr, dst = r->dst_addr, ver = r->ip_version;
		sp = r->src_port, dp = r->dst_port, proto = r->proto;
	}
	addr128(src, ver, key);
	addr128(dst, ver, key + 16);
	key[KEY_SPORT] = (uint8_t)(sp >> 8);
	key[KEY_SPORT + 1] = (uint8_t)sp;
	key[KEY_DPORT] = (uint8_t)(dp >> 8);
	key[KEY_DPORT + 1] = (uint8_t)dp;
	key[KEY_PROTO] = proto;
	memset(key + KEY_PROTO + 1, 0, KEY_LEN - KEY_PROTO - 1);
}

static uint64_t
key_hash(const uint8_t *key)
{
	uint64_t h = 0x9E3779B97F4A7C15ull;
	for (int w = 0; w < KEY_LEN / 8; w++) {
		uint64_t x;
		memcpy(&x, key + 8 * w, 8);
		h = (h ^ x) * 0xBF58476D1CE4E5B9ull;
		h ^= h >> 29;
	}
	return h;
}

/* Number the records' 5-tuples by first appearance: keys (n_groups,
 * KEY_LEN) and it[i].group. Open addressing, O(n) expected. Returns
 * the group count, or -1 on allocation failure. */
static long
group_records(const struct view *v, struct item *it, uint8_t *keys)
{
	size_t cap = 16;
	while (cap < 2 * v->n)
		cap *= 2;
	uint32_t *slot = calloc(cap, sizeof(*slot)); /* group + 1, 0 free */
	if (!slot)
		return -1;
	uint32_t n_groups = 0;
	for (size_t i = 0; i < v->n; i++) {
		uint8_t *k = keys + (size_t)n_groups * KEY_LEN;
		view_key(v, i, k);
		size_t h = (size_t)key_hash(k) & (cap - 1);
		while (slot[h] &&
		       memcmp(keys + (size_t)(slot[h] - 1) * KEY_LEN, k,
		              KEY_LEN) != 0)
			h = (h + 1) & (cap - 1);
		if (!slot[h])
			slot[h] = ++n_groups;
		it[i].group = slot[h] - 1;
	}
	free(slot);
	return n_groups;
}

static uint32_t
chunk_of(uint64_t t, uint64_t t0, uint64_t t1, uint32_t n_chunks)
{
	if (t1 <= t0 || t <= t0)
		return 0;
	unsigned __int128 c =
	    (unsigned __int128)(t - t0) * n_chunks / (t1 - t0);
	return c >= n_chunks ? n_chunks - 1 : (uint32_t)c;
}

/* --- statistics --------------------------------------------------------- */

static void
range_add(double *lo, double *hi, double x)
{
	if (x < *lo)
		*lo = x;
	if (x > *hi)
		*hi = x;
}

/* Continuous values of record i (trace position) with interarrival iat,
 * in feature order, before scaling. */
static void
cont_values(const struct view *v, size_t i, double iat, double x[NS_MAX_CONT])
{
	x[0] = iat;
	if (v->p) {
		const struct ns_pkt_record *r = &v->p[i];
		x[NS_PKT_C_LEN] = r->ip_len;
		x[NS_PKT_C_TOS] = r->tos;
		x[NS_PKT_C_ID] = r->ip_id;
		x[NS_PKT_C_OFF] = r->ip_frag & NS_FRAG_OFFSET_MASK;
		x[NS_PKT_C_TTL] = r->ttl;
	} else {
		const struct ns_flow_record *r = &v->f[i];
		uint64_t td =
		    r->last_ns > r->first_ns ? r->last_ns - r->first_ns : 0;
		x[NS_FLOW_C_TD] = log1p((double)td / 1e9);
		x[NS_FLOW_C_PKT] = log1p((double)r->packets);
		x[NS_FLOW_C_BYT] = log1p((double)r->bytes);
	}
}

/* IPv4 flag value as a class: 0 none, 1 MF, 2 DF; the reserved bit is
 * ignored and DF with MF (malformed) counts as DF. */
static int
flag_class(uint16_t ip_frag)
{
	int f = ip_frag >> 13 & 3;
	return f > 2 ? 2 : f;
}

static void
fit_ranges(struct ns_encoder *enc, const struct view *v, const struct item *it,
           const struct sample *s, size_t n_samples)
{
	double lo[NS_MAX_CONT], hi[NS_MAX_CONT];
	for (uint32_t k = 0; k < NS_MAX_CONT; k++) {
		lo[k] = INFINITY;
		hi[k] = -INFINITY;
	}
	for (size_t i = 0; i < n_samples; i++) {
		for (uint32_t j = 0; j < s[i].len; j++) {
			const struct item *r = &it[s[i].first + j];
			double iat = j ? (double)(r->t - r[-1].t) : 0.0;
			double x[NS_MAX_CONT];
			cont_values(v, r->idx, iat, x);
			for (uint32_t k = 0; k < enc->n_cont; k++)
				range_add(&lo[k], &hi[k], x[k]);
		}
	}
	for (uint32_t k = 0; k < enc->n_cont; k++) {
		enc->cont_min[k] = lo[k];
		enc->cont_max[k] = hi[k];
	}
	if (enc->is_packets) { /* fixed ranges, §3.3 */
		enc->cont_min[NS_PKT_C_TOS] = 0;
		enc->cont_max[NS_PKT_C_TOS] = 255;
		enc->cont_min[NS_PKT_C_ID] = 0;
		enc->cont_max[NS_PKT_C_ID] = 65535;
		enc->cont_min[NS_PKT_C_OFF] = 0;
		enc->cont_max[NS_PKT_C_OFF] = 8191;
		enc->cont_min[NS_PKT_C_TTL] = 0;
		enc->cont_max[NS_PKT_C_TTL] = 255;
	}
	enc->cont_min[0] = 0; /* every flow's first interarrival */
}

/* --- encoding ----------------------------------------------------------- */

static void
encode_attr(const struct ns_encoder *enc, const uint8_t *key,
            const struct sample *s, float *a /* (attr_dim) */)
{
	uint32_t sp = (uint32_t)key[KEY_SPORT] << 8 | key[KEY_SPORT + 1];
	uint32_t dp = (uint32_t)key[KEY_DPORT] << 8 | key[KEY_DPORT + 1];
	uint32_t off = 0, D = enc->w2v.dim, B = enc->ip_bits;
	/* 32 bits: the v4 address is the tail of its mapped form */
	bits_encode(B == 128 ? key : key + 12, B, a);
	off += 2 * B;
	bits_encode(B == 128 ? key + 16 : key + 28, B, a + off);
	off += 2 * B;
	/* a fitted encoder knows every token; applied to new data, an
	 * unseen port or protocol takes the numerically closest one */
	int32_t tok[3] = {
	    ns_w2v_lookup_closest(&enc->w2v, NS_TOK_PORT, sp),
	    ns_w2v_lookup_closest(&enc->w2v, NS_TOK_PORT, dp),
	    ns_w2v_lookup_closest(&enc->w2v, NS_TOK_PROTO, key[KEY_PROTO])};
	for (int k = 0; k < 3; k++, off += D) {
		if (tok[k] < 0) /* a vocabulary without this kind */
			memset(a + off, 0, D * sizeof(*a));
		else
			memcpy(a + off, enc->w2v.vec + (size_t)tok[k] * D,
			       D * sizeof(*a));
	}
	ns_flow_tags(s->mask, s->chunk, enc->n_chunks, a + enc->attr_tag_off);
	a[enc->attr_start_off] = ns_scale((double)(s->t - enc->t0_ns), 0.0,
	                                  (double)(enc->t1_ns - enc->t0_ns));
}

static void
encode_feat(const struct ns_encoder *enc, const struct view *v,
            const struct item *r, uint32_t j, float *row /* (feat_dim) */)
{
	double iat = j ? (double)(r->t - r[-1].t) : 0.0;
	double x[NS_MAX_CONT];
	cont_values(v, r->idx, iat, x);
	const double *lo = enc->cont_min, *hi = enc->cont_max;
	memset(row, 0, enc->feat.dim * sizeof(*row));
	if (enc->is_packets) {
		static const uint8_t pos[NS_PKT_N_CONT] = {0, 1, 2, 3, 7, 8};
		for (uint32_t k = 0; k < NS_PKT_N_CONT; k++)
			row[pos[k]] = ns_scale(x[k], lo[k], hi[k]);
		row[4 + flag_class(v->p[r->idx].ip_frag)] = 1.0f;
		return;
	}
	for (uint32_t k = 0; k < NS_FLOW_N_CONT; k++)
		row[k] = ns_scale(x[k], lo[k], hi[k]);
	if (enc->n_classes > 0) {
		uint32_t label = v->f[r->idx].label;
		if (label >= enc->labels.n) /* the "no label" class */
			label = enc->labels.n;
		if (label < enc->n_classes)
			row[NS_FLOW_N_CONT + label] = 1.0f;
	}
}

static int
check_config(const struct ns_encode_config *cfg, char *err, size_t errlen)
{
	if (cfg->n_chunks < 1 || cfg->n_chunks > NS_MAX_CHUNKS) {
		fail(err, errlen, "n_chunks %u: must be 1..%u", cfg->n_chunks,
		     NS_MAX_CHUNKS);
		return -1;
	}
	if (cfg->w2v_dim < 1 || cfg->w2v_dim > NS_MAX_W2V_DIM) {
		fail(err, errlen, "w2v_dim %u: must be 1..%u", cfg->w2v_dim,
		     NS_MAX_W2V_DIM);
		return -1;
	}
	if (cfg->w2v_window < 1 || cfg->w2v_epochs < 1 ||
	    cfg->w2v_negative < 1) {
		fail(err, errlen,
		     "w2v_window, w2v_epochs and w2v_negative must be >= 1");
		return -1;
	}
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The (protocol, port) pairs of the sentences, sorted and unique. */
static int
collect_proto_ports(struct ns_encoder *enc, const uint32_t *sent, size_t n)
{
	uint32_t *pp = malloc((2 * n + 1) * sizeof(*pp));
	if (!pp)
		return -1;
	for (size_t i = 0; i < n; i++) {
		pp[2 * i] = sent[3 * i + 2] << 16 | sent[3 * i];
		pp[2 * i + 1] = sent[3 * i + 2] << 16 | sent[3 * i + 1];
	}
	qsort(pp, 2 * n, sizeof(*pp), cmp_u32);
	uint32_t *cnt = malloc((2 * n + 1) * sizeof(*cnt));
	if (!cnt) {
		free(pp);
		return -1;
	}
	size_t u = 0;
	for (size_t i = 0; i < 2 * n; i++) {
		if (u == 0 || pp[i] != pp[u - 1]) {
			pp[u] = pp[i];
			cnt[u++] = 1;
		} else if (cnt[u - 1] < UINT32_MAX) {
			cnt[u - 1]++;
		}
	}
	enc->proto_ports = pp;
	enc->proto_port_count = cnt;
	enc->n_proto_ports = (uint32_t)u;
	return 0;
}

/* Index of the (proto << 16 | port) pair in enc, or -1. */
static long
find_pair(const struct ns_encoder *enc, uint32_t key)
{
	const uint32_t *p = bsearch(&key, enc->proto_ports,
				    enc->n_proto_ports, sizeof(*p), cmp_u32);
	return p ? (long)(p - enc->proto_ports) : -1;
}

/* port_len_count from the samples: each adds one to its source port's
 * pair in role 0 and its destination port's in role 1, at its length's
 * bucket. */
static int
count_port_lengths(struct ns_encoder *enc, const uint8_t *keys,
		   const struct sample *s, size_t n_s)
{
	const size_t row = 2 * NS_LEN_BUCKETS;
	enc->port_len_count =
	    calloc((size_t)enc->n_proto_ports * row, sizeof(uint32_t));
	if (!enc->port_len_count)
		return -1;
	for (size_t i = 0; i < n_s; i++) {
		const uint8_t *k = keys + (size_t)s[i].group * KEY_LEN;
		uint32_t proto = k[KEY_PROTO];
		uint32_t port[2] = {(uint32_t)k[KEY_SPORT] << 8 | k[KEY_SPORT + 1],
				    (uint32_t)k[KEY_DPORT] << 8 | k[KEY_DPORT + 1]};
		for (int role = 0; role < 2; role++) {
			long pair = find_pair(enc, proto << 16 | port[role]);
			if (pair < 0)
				continue;
			uint32_t *c = enc->port_len_count + (size_t)pair * row +
				      (size_t)role * NS_LEN_BUCKETS +
				      ns_len_bucket(s[i].len);
			if (*c < UINT32_MAX)
				(*c)++;
		}
	}
	return 0;
}

/* Group the records by 5-tuple (it, keys), time ordered within, and cut
 * each group at chunk boundaries of [t0, t1] into samples s, chunk then
 * time ordered; samples longer than max_len (0: no limit) are split in
 * pieces of max_len records (split) or cut, and both
 * counted in ds. Returns 0, or -1 on allocation failure. */
static int
cut_samples(const struct view *vp, struct item *it, uint8_t *keys,
            struct sample *s, uint64_t t0, uint64_t t1, uint32_t N,
            uint32_t max_len, int split, struct ns_dataset *ds,
            long *groups,
            size_t *n_samples, uint32_t *longest_out)
{
	const struct view v = *vp;
	long n_groups = group_records(&v, it, keys);
	if (n_groups < 0)
		return -1;
	for (size_t i = 0; i < v.n; i++) {
		it[i].t = view_time(&v, i);
		it[i].idx = (uint32_t)i;
	}
	qsort(it, v.n, sizeof(*it), item_cmp);
	size_t n_s = 0;
	uint32_t longest = 0;
	for (size_t g = 0; g < v.n;) {
		size_t e = g;
		uint64_t mask = 0;
		while (e < v.n && it[e].group == it[g].group)
			mask |= 1ull << chunk_of(it[e++].t, t0, t1, N);
		for (size_t a = g; a < e;) {
			uint32_t c = chunk_of(it[a].t, t0, t1, N);
			size_t b = a + 1;
			while (b < e && chunk_of(it[b].t, t0, t1, N) == c)
				b++;
			if (max_len && b - a > max_len) {
				if (split) {
					ds->n_split++;
				} else {
					ds->n_truncated++;
					ds->n_dropped += b - a - max_len;
				}
			}
			for (size_t p = a; p < b;) { /* the pieces */
				uint32_t len = (uint32_t)(b - p);
				if (max_len && len > max_len)
					len = max_len;
				if (len > longest)
					longest = len;
				s[n_s++] = (struct sample){.t = it[p].t,
				                           .mask = mask,
				                           .first = (uint32_t)p,
				                           .len = len,
				                           .chunk = c,
				                           .group = it[p].group};
				p = split ? p + len : b;
			}
			a = b;
		}
		g = e;
	}
	qsort(s, n_s, sizeof(*s), sample_cmp);
	*groups = n_groups;
	*n_samples = n_s;
	*longest_out = longest;
	return 0;
}

/* The dataset of samples s under enc: attr (n_s, A), offset (n_s + 1),
 * feat (records, F), chunk offsets. Returns 0, or -1 on allocation
 * failure. */
static int
build_dataset(const struct ns_encoder *enc, const struct view *v,
              const struct item *it, const uint8_t *keys,
              const struct sample *s, size_t n_s, uint32_t longest,
              struct ns_dataset *ds)
{
	size_t n_rec = 0;
	for (size_t i = 0; i < n_s; i++)
		n_rec += s[i].len;
	ds->n_flows = n_s;
	ds->n_records = n_rec;
	ds->attr_dim = enc->attr.dim;
	ds->feat_dim = enc->feat.dim;
	ds->max_len = longest;
	ds->n_chunks = enc->n_chunks;
	ds->attr = big_alloc(n_s * ds->attr_dim * sizeof(*ds->attr));
	ds->offset = malloc((n_s + 1) * sizeof(*ds->offset));
	ds->feat = big_alloc(n_rec * ds->feat_dim * sizeof(*ds->feat));
	ds->chunk_offset =
	    calloc(enc->n_chunks + 1, sizeof(*ds->chunk_offset));
	if (!ds->attr || !ds->offset || !ds->feat || !ds->chunk_offset)
		return -1;
	size_t row = 0;
	for (size_t i = 0; i < n_s; i++) {
		const struct item *first = &it[s[i].first];
		encode_attr(enc, keys + (size_t)s[i].group * KEY_LEN, &s[i],
		            ds->attr + i * ds->attr_dim);
		ds->offset[i] = (uint32_t)row;
		for (uint32_t j = 0; j < s[i].len; j++, row++)
			encode_feat(enc, v, first + j, j,
			            ds->feat + row * ds->feat_dim);
		ds->chunk_offset[s[i].chunk + 1]++;
	}
	ds->offset[n_s] = (uint32_t)row;
	for (uint32_t c = 0; c < enc->n_chunks; c++)
		ds->chunk_offset[c + 1] += ds->chunk_offset[c];
	return 0;
}

int
ns_encode_fit(const struct ns_encode_config *cfg,
              const struct ns_pkt_trace *pkts,
              const struct ns_flow_trace *flows, struct ns_encoder *enc,
              struct ns_dataset *ds, char *err, size_t errlen)
{
	memset(enc, 0, sizeof(*enc));
	memset(ds, 0, sizeof(*ds));
	if (!cfg || (pkts != NULL) == (flows != NULL)) {
		fail(err, errlen,
		     "give exactly one of a packet or flow trace");
		return -1;
	}
	if (check_config(cfg, err, errlen))
		return -1;
	struct view v = {0};
	if (pkts) {
		v.p = pkts->v;
		v.n = pkts->n;
	} else {
		v.f = flows->v;
		v.n = flows->n;
	}
	if (v.n == 0) {
		fail(err, errlen, "the trace is empty");
		return -1;
	}
	if (v.n >= UINT32_MAX) {
		fail(err, errlen, "%zu records: at most %u", v.n,
		     UINT32_MAX - 1);
		return -1;
	}

	int rc = -1;
	struct item *it = malloc(v.n * sizeof(*it));
	struct sample *s = malloc(v.n * sizeof(*s));
	uint32_t *sent = malloc(3 * v.n * sizeof(*sent)); /* (n,3) */
	uint8_t *keys = malloc(v.n * KEY_LEN); /* (groups, KEY_LEN) */
	if (!it || !s || !sent || !keys) {
		fail(err, errlen, "out of memory");
		goto out;
	}

	enc->is_packets = pkts != NULL;
	enc->n_chunks = cfg->n_chunks;
	enc->ip_bits = 32;
	enc->t0_ns = UINT64_MAX;
	for (size_t i = 0; i < v.n; i++) {
		uint64_t t = view_time(&v, i);
		if (t < enc->t0_ns)
			enc->t0_ns = t;
		if (t > enc->t1_ns)
			enc->t1_ns = t;
		int ver = v.p ? v.p[i].ip_version : v.f[i].ip_version;
		if (ver == 6)
			enc->ip_bits = 128;
	}

	long n_groups;
	size_t n_s;
	uint32_t longest;
	if (cut_samples(&v, it, keys, s, enc->t0_ns, enc->t1_ns, cfg->n_chunks,
	                cfg->max_flow_len, cfg->split_long, ds, &n_groups,
	                &n_s, &longest)) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	enc->max_flow_len = cfg->max_flow_len ? cfg->max_flow_len : longest;
	enc->split_long = cfg->split_long != 0;

	/* word2vec on one [srcport, dstport, proto] sentence per record */
	for (size_t i = 0; i < v.n; i++) {
		sent[3 * i] = v.p ? v.p[i].src_port : v.f[i].src_port;
		sent[3 * i + 1] = v.p ? v.p[i].dst_port : v.f[i].dst_port;
		sent[3 * i + 2] = v.p ? v.p[i].proto : v.f[i].proto;
	}
	if (ns_w2v_train(&enc->w2v, sent, v.n, cfg)) {
		fail(err, errlen, "word2vec training failed (out of memory)");
		goto out;
	}
	enc->port_spread = cfg->port_spread;
	enc->proto_spread = cfg->proto_spread;
	if (collect_proto_ports(enc, sent, v.n) ||
	    count_port_lengths(enc, keys, s, n_s)) {
		fail(err, errlen, "out of memory for protocol ports");
		goto out;
	}

	if (flows && flows->labels.n > 0) {
		enc->labels = flows->labels;
		enc->n_classes = flows->labels.n;
		for (size_t i = 0; i < v.n; i++)
			if (v.f[i].label >= flows->labels.n) {
				enc->n_classes++; /* "no label" */
				break;
			}
	}
	if (ns_enc_layouts(enc)) {
		fail(err, errlen, "attribute layout exceeds %d heads",
		     NS_MAX_HEADS);
		goto out;
	}
	fit_ranges(enc, &v, it, s, n_s);

	if (build_dataset(enc, &v, it, keys, s, n_s, longest, ds)) {
		fail(err, errlen, "out of memory for %zu flows", n_s);
		goto out;
	}
	rc = 0;
out:
	free(keys);
	free(sent);
	free(s);
	free(it);
	if (rc) {
		ns_encoder_free(enc);
		ns_dataset_free(ds);
	}
	return rc;
}

/* An unseen label becomes the "no label" class when the encoder has
 * one, else class 0. */
static uint16_t
map_label(const struct ns_encoder *enc, const struct ns_label_table *from,
          uint16_t label, size_t *unknown)
{
	if (label < from->n)
		for (unsigned k = 0; k < enc->labels.n; k++)
			if (!strcmp(enc->labels.name[k], from->name[label]))
				return (uint16_t)k;
	if (enc->n_classes > enc->labels.n)
		return (uint16_t)enc->labels.n;
	(*unknown)++;
	return 0;
}

int
ns_encode_apply(const struct ns_encoder *enc_in, uint64_t t0_ns,
                uint64_t t1_ns, const struct ns_pkt_trace *pkts,
                const struct ns_flow_trace *flows, struct ns_dataset *ds,
                struct ns_apply_stats *st, char *err, size_t errlen)
{
	memset(ds, 0, sizeof(*ds));
	memset(st, 0, sizeof(*st));
	if ((pkts != NULL) == (flows != NULL) ||
	    (pkts != NULL) != (enc_in->is_packets != 0)) {
		fail(err, errlen, "give one trace of the encoder's kind (%s)",
		     enc_in->is_packets ? "packets" : "flows");
		return -1;
	}
	if (t1_ns <= t0_ns) {
		fail(err, errlen, "empty time window");
		return -1;
	}
	struct ns_encoder enc = *enc_in; /* shallow: only the window moves */
	enc.t0_ns = t0_ns;
	enc.t1_ns = t1_ns;
	size_t n_in = pkts ? pkts->n : flows->n;
	if (n_in >= UINT32_MAX) {
		fail(err, errlen, "%zu records: at most %u", n_in,
		     UINT32_MAX - 1);
		return -1;
	}
	/* keep the records the encoder can take, in their order */
	size_t rec_size = pkts ? sizeof(*pkts->v) : sizeof(*flows->v);
	void *kept = malloc(n_in * rec_size + 1);
	int rc = -1;
	struct item *it = malloc(n_in * sizeof(*it) + 1);
	struct sample *s = malloc(n_in * sizeof(*s) + 1);
	uint8_t *keys = malloc(n_in * KEY_LEN + 1);
	if (!kept || !it || !s || !keys) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	struct view v = {0};
	for (size_t i = 0; i < n_in; i++) {
		uint64_t t = pkts ? pkts->v[i].ts_ns : flows->v[i].first_ns;
		int ver = pkts ? pkts->v[i].ip_version : flows->v[i].ip_version;
		if (t < t0_ns || t >= t1_ns) {
			st->out_of_window++;
			continue;
		}
		if (ver == 6 && enc.ip_bits == 32) {
			st->skipped_v6++;
			continue;
		}
		if (pkts) {
			((struct ns_pkt_record *)kept)[v.n++] = pkts->v[i];
			continue;
		}
		struct ns_flow_record r = flows->v[i];
		if (enc.n_classes > 0)
			r.label = map_label(&enc, &flows->labels, r.label,
			                    &st->unknown_labels);
		((struct ns_flow_record *)kept)[v.n++] = r;
	}
	if (pkts)
		v.p = kept;
	else
		v.f = kept;
	for (size_t i = 0; i < v.n; i++) {
		uint32_t sp = v.p ? v.p[i].src_port : v.f[i].src_port;
		uint32_t dp = v.p ? v.p[i].dst_port : v.f[i].dst_port;
		uint32_t pr = v.p ? v.p[i].proto : v.f[i].proto;
		st->unknown_ports +=
		    (ns_w2v_lookup(&enc.w2v, NS_TOK_PORT, sp) < 0) +
		    (ns_w2v_lookup(&enc.w2v, NS_TOK_PORT, dp) < 0);
		st->unknown_protos +=
		    ns_w2v_lookup(&enc.w2v, NS_TOK_PROTO, pr) < 0;
	}
	long n_groups;
	size_t n_s;
	uint32_t longest;
	if (cut_samples(&v, it, keys, s, t0_ns, t1_ns, enc.n_chunks,
	                enc.max_flow_len, (int)enc.split_long, ds, &n_groups,
	                &n_s, &longest) ||
	    build_dataset(&enc, &v, it, keys, s, n_s, longest, ds)) {
		fail(err, errlen, "out of memory for %zu records", v.n);
		goto out;
	}
	st->records = v.n;
	rc = 0;
out:
	free(keys);
	free(s);
	free(it);
	free(kept);
	if (rc)
		ns_dataset_free(ds);
	return rc;
}

void
ns_encoder_free(struct ns_encoder *enc)
{
	ns_w2v_free(&enc->w2v);
	free(enc->proto_ports);
	free(enc->proto_port_count);
	free(enc->port_len_count);
	memset(enc, 0, sizeof(*enc));
}

void
ns_dataset_free(struct ns_dataset *ds)
{
	free(ds->attr);
	free(ds->offset);
	free(ds->feat);
	free(ds->chunk_offset);
	memset(ds, 0, sizeof(*ds));
}
