/* Generated vectors back to records (netshare.md §5.3 step 4): argmax
 * bits to addresses, nearest word2vec token to ports and protocol,
 * flow_start plus cumulative interarrivals to timestamps, min-max⁻¹ and
 * expm1 for the continuous fields, argmax for categoricals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encode_int.h"
#include "netshare/encode.h"

static uint32_t
argmax(const float *v, uint32_t n)
{
	uint32_t best = 0;
	for (uint32_t k = 1; k < n; k++)
		if (v[k] > v[best]) /* NaN never wins */
			best = k;
	return best;
}

/* A non-negative double rounded to uint64, saturating. */
static uint64_t
to_u64(double x)
{
	if (!(x > 0.0))
		return 0;
	if (x >= 0x1p64)
		return UINT64_MAX;
	return (uint64_t)(x + 0.5);
}

static uint64_t
clamp_u(double x, uint64_t lo, uint64_t hi)
{
	uint64_t v = to_u64(x);
	return v < lo ? lo : v > hi ? hi : v;
}

/* The flow's 5-tuple from its attribute vector. */
struct tuple {
	uint8_t src[16], dst[16];
	int ip_version;
	uint16_t sport, dport;
	uint8_t proto;
};

/* Port indexes, built when first needed: per protocol, the port
 * tokens seen with it in the data (all ports when it had none), and
 * within those, per role (source, destination) and sample length
 * bucket, the tokens training samples of that kind had (a class). */
#define NEAR_MAX 32 /* candidates considered for one port */
#define ANY_LEN NS_LEN_BUCKETS /* a role's class of every length */
#define CLASSES (2 * (NS_LEN_BUCKETS + 1))

struct port_indexes {
	uint32_t near[NEAR_MAX]; /* scratch for ns_w2v_index_near */
	uint64_t weight[NEAR_MAX]; /* and their weights */
	struct ns_w2v_index *all;
	struct ns_w2v_index *proto; /* protocol tokens */
	struct ns_w2v_index *by_proto[256];
	uint32_t *pair[256]; /* by_proto's pair index + 1, by vocabulary
				index; 0 for no pair */
	struct ns_w2v_index *by_class[256][CLASSES]; /* NULL: empty */
	uint8_t class_built[256][CLASSES];
	uint64_t proto_len[256][NS_LEN_BUCKETS]; /* samples by protocol and
						    length bucket */
	int failed;
};

/* Index of the first (proto << 16 | port) pair >= key. */
static uint32_t
first_pair(const struct ns_encoder *enc, uint32_t key)
{
	uint32_t lo = 0, hi = enc->n_proto_ports;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (enc->proto_ports[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The index over all port tokens; NULL when it cannot be built. */
static struct ns_w2v_index *
all_ports(const struct ns_encoder *enc, struct port_indexes *pi)
{
	if (!pi->all && !pi->failed) {
		pi->all = ns_w2v_index_new(&enc->w2v, NS_TOK_PORT);
		pi->failed = !pi->all;
	}
	return pi->all;
}

/* The port index for a protocol; NULL only when out of memory. */
static struct ns_w2v_index *
ports_for(const struct ns_encoder *enc, struct port_indexes *pi,
	  uint8_t proto)
{
	if (pi->by_proto[proto])
		return pi->by_proto[proto];
	uint32_t lo = first_pair(enc, (uint32_t)proto << 16);
	uint32_t end = lo;
	while (end < enc->n_proto_ports && enc->proto_ports[end] >> 16 == proto)
		end++;
	if (end == lo)
		return all_ports(enc, pi);
	uint32_t *tok = malloc((end - lo) * sizeof(*tok));
	uint32_t *pair = calloc(enc->w2v.n_tokens + 1, sizeof(*pair));
	if (!tok || !pair) {
		free(tok);
		free(pair);
		pi->failed = 1;
		return all_ports(enc, pi);
	}
	/* the pairs are sorted by port, and so are the port tokens (they
	 * come first, by value): one merge finds them all */
	const struct ns_w2v *w = &enc->w2v;
	uint32_t n = 0, t = 0;
	for (uint32_t k = lo; k < end; k++) {
		uint32_t port = enc->proto_ports[k] & 0xFFFF;
		while (t < w->n_tokens && w->kind[t] == NS_TOK_PORT &&
		       w->value[t] < port)
			t++;
		if (t < w->n_tokens && w->kind[t] == NS_TOK_PORT &&
		    w->value[t] == port) {
			tok[n++] = t;
			pair[t] = k + 1;
		}
	}
	pi->by_proto[proto] = ns_w2v_index_new_tokens(&enc->w2v, tok, n);
	free(tok);
	if (!pi->by_proto[proto]) {
		free(pair);
		pi->failed = 1;
		return all_ports(enc, pi);
	}
	pi->pair[proto] = pair;
	return pi->by_proto[proto];
}

/* Training samples of (role, bucket) that had port token tok with
 * proto; bucket ANY_LEN sums the role's buckets. */
static uint64_t
class_weight(const struct ns_encoder *enc, const struct port_indexes *pi,
	     uint8_t proto, uint32_t tok, int role, uint32_t bucket)
{
	uint32_t k = pi->pair[proto] ? pi->pair[proto][tok] : 0;
	if (k == 0)
		return 0;
	const uint32_t *c = enc->port_len_count +
			    ((size_t)(k - 1) * 2 + (size_t)role) * NS_LEN_BUCKETS;
	if (bucket < NS_LEN_BUCKETS)
		return c[bucket];
	uint64_t w = 0;
	for (uint32_t b = 0; b < NS_LEN_BUCKETS; b++)
		w += c[b];
	return w;
}

/* The class's index; NULL when no training sample was of that class
 * (or out of memory: pi->failed). ports_for(proto) must have run. */
static const struct ns_w2v_index *
class_index(const struct ns_encoder *enc, struct port_indexes *pi,
	    uint8_t proto, int role, uint32_t bucket)
{
	int cl = role * (NS_LEN_BUCKETS + 1) + (int)bucket;
	if (pi->class_built[proto][cl] || !pi->pair[proto])
		return pi->by_class[proto][cl];
	pi->class_built[proto][cl] = 1;
	const struct ns_w2v *w = &enc->w2v;
	uint32_t *tok = malloc(((size_t)w->n_tokens + 1) * sizeof(*tok));
	if (!tok) {
		pi->failed = 1;
		return NULL;
	}
	uint32_t n = 0;
	for (uint32_t t = 0; t < w->n_tokens; t++)
		if (class_weight(enc, pi, proto, t, role, bucket) > 0)
			tok[n++] = t;
	if (n > 0) {
		pi->by_class[proto][cl] = ns_w2v_index_new_tokens(w, tok, n);
		pi->failed |= !pi->by_class[proto][cl];
	}
	free(tok);
	return pi->by_class[proto][cl];
}

/* One of the n candidate tokens near[], drawn by weight (total > 0)
 * with a hash of the generated vector v: decoding stays a function of
 * its input. */
static uint32_t
draw(const struct ns_encoder *enc, const float *v, const uint32_t *near,
     const uint64_t *weight, uint32_t n, uint64_t total)
{
	uint64_t h = 1469598103934665603ull;
	const unsigned char *b = (const unsigned char *)v;
	for (size_t k = 0; k < enc->w2v.dim * sizeof(float); k++)
		h = (h ^ b[k]) * 1099511628211ull;
	h ^= h >> 29;
	uint64_t pick = h % total;
	for (uint32_t k = 0; k < n; k++) {
		if (pick < weight[k])
			return enc->w2v.value[near[k]];
		pick -= weight[k];
	}
	return enc->w2v.value[near[n - 1]];
}

/* The nearest port token to v among the protocol's; with port_spread,
 * one of the tokens within that cosine of the nearest, drawn by how
 * often training samples had it. Candidates come from the narrowest
 * class that had any sample: the same protocol, role (0 source, 1
 * destination) and length bucket as the generated flow, else the same
 * protocol and role, else the protocol. Word vectors of ports used
 * alike (ephemeral ports, say) all but coincide, and the nearest alone
 * would give the same one every time; the class keeps a long generated
 * flow on the ports long flows had. The draw hashes v, so decoding
 * stays a function of its input. */
static uint16_t
decode_port(const struct ns_encoder *enc, struct port_indexes *pi,
	    const struct ns_w2v_index *ix, uint8_t proto, int role,
	    uint32_t len, const float *v)
{
	if (enc->port_spread <= 0)
		return (uint16_t)ns_w2v_index_nearest(ix, v);
	uint32_t bucket = ns_len_bucket(len);
	const struct ns_w2v_index *cix = class_index(enc, pi, proto, role,
						     bucket);
	if (!cix) {
		bucket = ANY_LEN;
		cix = class_index(enc, pi, proto, role, bucket);
	}
	if (cix)
		ix = cix;
	uint32_t n = ns_w2v_index_near(ix, v, enc->port_spread, pi->near,
				       NEAR_MAX);
	if (n == 0)
		return (uint16_t)ns_w2v_index_nearest(ix, v);
	uint64_t total = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t t = pi->near[k], p = pi->pair[proto] ?
						  pi->pair[proto][t] : 0;
		if (cix)
			pi->weight[k] =
			    class_weight(enc, pi, proto, t, role, bucket);
		else /* the protocol's ports by use; all ports alike */
			pi->weight[k] = p ? enc->proto_port_count[p - 1] : 1;
		total += pi->weight[k];
	}
	return (uint16_t)draw(enc, v, pi->near, pi->weight, n, total);
}

/* The protocol: the nearest token; with proto_spread, one of the
 * tokens within that cosine of it, drawn by how many training samples
 * of the generated flow's length bucket had each (of any length when
 * none did). Generators tend to give long flows the wrong protocol
 * (caida-10k: half its packets UDP against a fifth); this keeps the mix
 * per length to the data's. */
static uint8_t
decode_proto(const struct ns_encoder *enc, struct port_indexes *pi,
	     uint32_t len, const float *v)
{
	if (enc->proto_spread <= 0)
		return (uint8_t)ns_w2v_index_nearest(pi->proto, v);
	uint32_t n = ns_w2v_index_near(pi->proto, v, enc->proto_spread,
				       pi->near, NEAR_MAX);
	if (n == 0)
		return (uint8_t)ns_w2v_index_nearest(pi->proto, v);
	uint32_t bucket = ns_len_bucket(len);
	uint64_t any[NEAR_MAX], total = 0, total_any = 0;
	for (uint32_t k = 0; k < n; k++) {
		const uint64_t *c = pi->proto_len[enc->w2v.value[pi->near[k]]];
		pi->weight[k] = c[bucket];
		any[k] = 0;
		for (uint32_t b = 0; b < NS_LEN_BUCKETS; b++)
			any[k] += c[b];
		total += pi->weight[k];
		total_any += any[k];
	}
	if (total == 0) { /* no sample of this length: any length */
		memcpy(pi->weight, any, n * sizeof(*any));
		total = total_any;
	}
	if (total == 0)
		return (uint8_t)ns_w2v_index_nearest(pi->proto, v);
	return (uint8_t)draw(enc, v, pi->near, pi->weight, n, total);
}

static void
decode_tuple(const struct ns_encoder *enc, struct port_indexes *pi,
	     const float *a, uint32_t len, struct tuple *t)
{
	uint32_t off = 0, D = enc->w2v.dim;
	int vs = ns_ip_decode(a, enc->ip_bits, t->src);
	off += 2 * enc->ip_bits;
	int vd = ns_ip_decode(a + off, enc->ip_bits, t->dst);
	off += 2 * enc->ip_bits;
	t->ip_version = vs == 4 && vd == 4 ? 4 : 6;
	if (t->ip_version == 6) { /* one side v4-mapped: keep it mapped */
		uint8_t *side[2] = {t->src, t->dst};
		int ver[2] = {vs, vd};
		for (int k = 0; k < 2; k++) {
			if (ver[k] != 4)
				continue;
			uint8_t v4[4];
			memcpy(v4, side[k], 4);
			memset(side[k], 0, 16);
			side[k][10] = side[k][11] = 0xff;
			memcpy(side[k] + 12, v4, 4);
		}
	}
	t->proto = decode_proto(enc, pi, len, a + off + 2 * D);
	const struct ns_w2v_index *ports = ports_for(enc, pi, t->proto);
	if (!ports) { /* out of memory: ns_decode fails */
		t->sport = t->dport = 0;
		return;
	}
	t->sport = decode_port(enc, pi, ports, t->proto, 0, len, a + off);
	t->dport = decode_port(enc, pi, ports, t->proto, 1, len, a + off + D);
}

/* Does the parser read ports (or ICMP type/code) for this protocol? */
static int
has_l4(uint8_t proto)
{
	switch (proto) {
	case 1:
	case 6:
	case 17:
	case 58:
	case 132:
	case 136:
		return 1;
	default:
		return 0;
	}
}

static void
decode_pkt(const struct ns_encoder *enc, const struct tuple *t, uint64_t ts,
           const float *row /* (feat_dim) */, struct ns_pkt_record *r)
{
	const double *lo = enc->cont_min, *hi = enc->cont_max;
	memset(r, 0, sizeof(*r));
	r->ts_ns = ts;
	memcpy(r->src_addr, t->src, 16);
	memcpy(r->dst_addr, t->dst, 16);
	r->src_port = t->sport;
	r->dst_port = t->dport;
	r->proto = t->proto;
	r->ip_version = (uint8_t)t->ip_version;
	r->ip_len = (uint32_t)clamp_u(
	    ns_unscale(row[1], lo[NS_PKT_C_LEN], hi[NS_PKT_C_LEN]), 0,
	    UINT32_MAX);
	r->tos = (uint8_t)clamp_u(
	    ns_unscale(row[2], lo[NS_PKT_C_TOS], hi[NS_PKT_C_TOS]), 0, 255);
	r->ip_id = (uint32_t)clamp_u(
	    ns_unscale(row[3], lo[NS_PKT_C_ID], hi[NS_PKT_C_ID]), 0,
	    UINT32_MAX);
	uint32_t flag = argmax(row + 4, NS_FLAG_CLASSES);
	uint64_t off =
	    clamp_u(ns_unscale(row[7], lo[NS_PKT_C_OFF], hi[NS_PKT_C_OFF]), 0,
	            NS_FRAG_OFFSET_MASK);
	r->ip_frag = (uint16_t)(flag << 13 | off);
	r->ttl = (uint8_t)clamp_u(
	    ns_unscale(row[8], lo[NS_PKT_C_TTL], hi[NS_PKT_C_TTL]), 0, 255);
	if (off || (r->ip_frag & NS_FRAG_MF))
		r->flags |= NS_PKT_FRAGMENT;
	if (!off && has_l4(r->proto))
		r->flags |= NS_PKT_HAS_L4;
}

static void
decode_flow(const struct ns_encoder *enc, const struct tuple *t, uint64_t ts,
            const float *row /* (feat_dim) */, struct ns_flow_trace *out,
            struct ns_flow_record *r)
{
	const double *lo = enc->cont_min, *hi = enc->cont_max;
	memset(r, 0, sizeof(*r));
	r->first_ns = ts;
	memcpy(r->src_addr, t->src, 16);
	memcpy(r->dst_addr, t->dst, 16);
	r->src_port = t->sport;
	r->dst_port = t->dport;
	r->proto = t->proto;
	r->ip_version = (uint8_t)t->ip_version;
	double td =
	    expm1(ns_unscale(row[1], lo[NS_FLOW_C_TD], hi[NS_FLOW_C_TD]));
	uint64_t dur = to_u64(td * 1e9);
	r->last_ns = dur > UINT64_MAX - ts ? UINT64_MAX : ts + dur;
	r->packets = clamp_u(
	    expm1(ns_unscale(row[2], lo[NS_FLOW_C_PKT], hi[NS_FLOW_C_PKT])), 1,
	    UINT64_MAX);
	r->bytes = clamp_u(
	    expm1(ns_unscale(row[3], lo[NS_FLOW_C_BYT], hi[NS_FLOW_C_BYT])), 1,
	    UINT64_MAX);
	r->label = NS_LABEL_NONE;
	if (enc->n_classes > 0) {
		uint32_t c = argmax(row + NS_FLOW_N_CONT, enc->n_classes);
		if (c < enc->labels.n) {
			const char *name = enc->labels.name[c];
			r->label = ns_label_intern(
			    &out->labels, name, strnlen(name, NS_LABEL_LEN));
		}
	}
}

/* The per-protocol port indexes live as long as the decoder, so a
 * generator decoding batch after batch builds them once. */
struct ns_decoder {
	const struct ns_encoder *enc;
	struct port_indexes *pi;
};

struct ns_decoder *
ns_decoder_new(const struct ns_encoder *enc)
{
	struct ns_decoder *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->enc = enc;
	d->pi = calloc(1, sizeof(*d->pi));
	if (d->pi) {
		d->pi->proto = ns_w2v_index_new(&enc->w2v, NS_TOK_PROTO);
		/* each sample counts once, under its source port's pair */
		for (uint32_t k = 0; k < enc->n_proto_ports; k++)
			for (uint32_t b = 0; b < NS_LEN_BUCKETS; b++)
				d->pi->proto_len[enc->proto_ports[k] >> 16][b] +=
				    enc->port_len_count[(size_t)k * 2 *
							NS_LEN_BUCKETS + b];
	}
	if (!d->pi || !d->pi->proto) {
		ns_decoder_free(d);
		return NULL;
	}
	return d;
}

void
ns_decoder_free(struct ns_decoder *d)
{
	if (!d)
		return;
	struct port_indexes *pi = d->pi;
	if (pi) {
		for (int k = 0; k < 256; k++) {
			ns_w2v_index_free(pi->by_proto[k]);
			free(pi->pair[k]);
			for (int c = 0; c < CLASSES; c++)
				ns_w2v_index_free(pi->by_class[k][c]);
		}
		ns_w2v_index_free(pi->all);
		ns_w2v_index_free(pi->proto);
		free(pi);
	}
	free(d);
}

int
ns_decoder_run(struct ns_decoder *d, size_t n, const float *attr,
	       const float *feat, uint32_t max_len, const uint32_t *lengths,
	       struct ns_pkt_trace *pkts, struct ns_flow_trace *flows)
{
	const struct ns_encoder *enc = d->enc;
	if (enc->is_packets ? !pkts || flows : !flows || pkts)
		return -1;
	if (n > 0 && (!attr || !lengths || (max_len > 0 && !feat)))
		return -1;
	const uint32_t A = enc->attr.dim, F = enc->feat.dim;
	const double span = (double)(enc->t1_ns - enc->t0_ns);
	const double iat_lo = enc->cont_min[0], iat_hi = enc->cont_max[0];
	struct port_indexes *pi = d->pi;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0 && !pi->failed; i++) {
		const float *a = attr + i * A;
		uint32_t len = lengths[i] < max_len ? lengths[i] : max_len;
		if (len == 0)
			continue;
		struct tuple t;
		decode_tuple(enc, pi, a, len, &t);
		/* times relative to t0, in ns */
		double rel = ns_unscale(a[enc->attr_start_off], 0.0, span);
		for (uint32_t j = 0; j < len; j++) {
			const float *row = feat + (i * max_len + j) * F;
			if (j > 0)
				rel += ns_unscale(row[0], iat_lo, iat_hi);
			uint64_t dt = to_u64(rel);
			uint64_t ts = dt > UINT64_MAX - enc->t0_ns
			                  ? UINT64_MAX
			                  : enc->t0_ns + dt;
			if (pkts) {
				struct ns_pkt_record r;
				decode_pkt(enc, &t, ts, row, &r);
				rc = ns_pkt_trace_push(pkts, &r);
			} else {
				struct ns_flow_record r;
				decode_flow(enc, &t, ts, row, flows, &r);
				rc = ns_flow_trace_push(flows, &r);
			}
			if (rc)
				break;
		}
	}
	if (pi->failed)
		rc = -1;
	return rc;
}

int
ns_decode(const struct ns_encoder *enc, size_t n, const float *attr,
          const float *feat, uint32_t max_len, const uint32_t *lengths,
          struct ns_pkt_trace *pkts, struct ns_flow_trace *flows)
{
	struct ns_decoder *d = ns_decoder_new(enc);
	if (!d)
		return -1;
	int rc = ns_decoder_run(d, n, attr, feat, max_len, lengths, pkts,
				flows);
	ns_decoder_free(d);
	return rc;
}
