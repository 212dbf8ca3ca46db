/* NetShare's encodings: traces become per-flow attribute vectors and
 * ragged per-record feature rows for the GAN, and generated vectors
 * decode back into flow or packet records. See
 * ../shared/reference/netshare.md §2-§3 and §4.5.
 *
 * Attribute vector, in this order (netshare.md §2.3, HEAD layout):
 *   srcip   ip_bits two-way softmax heads, MSB first
 *   dstip   ip_bits two-way softmax heads
 *   srcport w2v_dim tanh head
 *   dstport w2v_dim tanh head
 *   proto   w2v_dim tanh head
 *   tags    startFromThisChunk, then one presence bit per chunk: each a
 *           two-way softmax, [1,0] = 0 and [0,1] = 1 (the v2 scheme)
 *   flow_start  one sigmoid: the flow's first time inside its chunk,
 *           min-max over the whole trace's [t0, t1]. Chunks are equal
 *           slices of that range, so chunk c holds flow_start values in
 *           [c/N, (c+1)/N] (closed at 1 for the last chunk).
 *
 * Feature row per record (no generation flags; the model appends them):
 *   packets: interarrival, pkt_len, tos, id (sigmoid each), flag (3-way
 *            softmax over {0, MF=1, DF=2}), off, ttl (sigmoid each)
 *   flows:   interarrival, log1p(td s), log1p(pkt), log1p(byt) (sigmoid
 *            each), label (softmax over the trace's classes, only when
 *            the trace has labels)
 * Interarrival is 0 for a flow's first record and min-max over the whole
 * trace (NetShare scales per chunk; one global range lets ns_decode work
 * without a chunk index). Continuous ranges are the data's min/max except
 * the fixed packet ranges of §3.3: tos [0,255], id [0,65535], off
 * [0,8191], ttl [0,255]. */
#ifndef NETSHARE_ENCODE_H
#define NETSHARE_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "netshare/trace.h"

/* How a generator head turns into values. */
enum ns_head_act {
	NS_HEAD_SOFTMAX = 0, /* one-hot categorical, decoded by argmax */
	NS_HEAD_SIGMOID,     /* [0,1] continuous */
	NS_HEAD_TANH,        /* [-1,1] continuous (word2vec vectors) */
};

/* One output head of a generator: activation and width. */
struct ns_head {
	uint8_t act; /* enum ns_head_act */
	uint8_t pad;
	uint16_t dim;
};

/* 2 x 128 IP bits + 3 word2vec + 1 + 64 chunk bits + flow_start = 325 */
#define NS_MAX_HEADS 336

/* A vector made of consecutive heads. */
struct ns_layout {
	uint32_t n_heads;
	uint32_t dim; /* sum of head widths */
	struct ns_head head[NS_MAX_HEADS];
};

#define NS_LEN_BUCKETS 8 /* sample lengths 1, 2-3, 4-7, ..., 128 and up */
#define NS_MAX_CHUNKS 64  /* a flow's chunks fit one uint64_t mask */
#define NS_MAX_W2V_DIM 64 /* bound checked by ns_encoder_read */

/* Encoding choices (the JSON config's "encoding" object). */
struct ns_encode_config {
	uint32_t n_chunks;     /* time chunks for flow tags (NetShare: 10) */
	uint32_t w2v_dim;      /* IP2Vec width (10) */
	uint32_t w2v_window;   /* (5) */
	uint32_t w2v_epochs;   /* (5) */
	uint32_t w2v_negative; /* negative samples (5) */
	uint32_t max_flow_len; /* records per sample; 0: the data's max */
	int split_long;	       /* a flow (in one chunk) longer than that: 1
				  split into samples of max_flow_len
				  records, 0 cut there (DP: one example
				  per flow) */
	float port_spread;     /* decode a port among the tokens within this
				  cosine of the nearest, by frequency; 0:
				  the nearest only (NetShare) */
	float proto_spread;    /* the same for the protocol */
	uint64_t seed;
};

void ns_encode_config_default(struct ns_encode_config *c);

/* Word2vec (CBOW, negative sampling) over [srcport, dstport, proto]
 * sentences; one vocabulary of tokens (kind, value), sorted by kind then
 * value. Vectors are L2 normalised after training. */
enum ns_token_kind { NS_TOK_PORT = 0, NS_TOK_PROTO = 1 };
struct ns_w2v {
	uint32_t dim;
	uint32_t n_tokens;
	uint8_t *kind;   /* (n_tokens) enum ns_token_kind */
	uint32_t *value; /* (n_tokens) port or protocol number */
	float *vec;      /* (n_tokens, dim), unit norm */
};

/* Train on n sentences sent (n,3) = [srcport, dstport, proto] with
 * cfg's width, window, epochs, negatives and seed; same seed, same
 * vectors. Returns 0, or -1 on a bad argument or allocation failure. */
int ns_w2v_train(struct ns_w2v *w, const uint32_t *sent, size_t n,
                 const struct ns_encode_config *cfg);

/* Token index of (kind, value), or -1. */
int32_t ns_w2v_lookup(const struct ns_w2v *w, int kind, uint32_t value);
/* The same, or else the token of that kind with the numerically closest
 * value (ties: the smaller); -1 when the kind has no token. */
int32_t ns_w2v_lookup_closest(const struct ns_w2v *w, int kind,
                              uint32_t value);

/* Value of the token of this kind with the largest cosine to v (dim
 * floats; NaN counts as 0; ties go to the smaller value). 0 when the
 * vocabulary has no token of that kind. */
uint32_t ns_w2v_nearest(const struct ns_w2v *w, int kind, const float *v);

void ns_w2v_free(struct ns_w2v *w);

/* The same search through a k-d tree over one kind's vectors, for
 * decoding many flows. Over a few thousand tokens a search is bounded,
 * like the Annoy search NetShare decodes with: it scans a fixed number
 * of the most promising leaves at most. A search that ends before its
 * budget (always, for a smaller index) is exact, the same as
 * ns_w2v_nearest's answer, ties included; one cut short gives the best
 * token it saw. Deterministic either way. The index borrows w's values:
 * free it before w. NULL on allocation failure. */
struct ns_w2v_index;
struct ns_w2v_index *ns_w2v_index_new(const struct ns_w2v *w, int kind);
/* The same over a subset of tokens (vocabulary indexes). */
struct ns_w2v_index *ns_w2v_index_new_tokens(const struct ns_w2v *w,
					     const uint32_t *tokens,
					     uint32_t n);
uint32_t ns_w2v_index_nearest(const struct ns_w2v_index *ix, const float *v);
/* The best tokens for v, best first (ties: the smaller index first): of
 * the `max` (<= NS_NEAR_MAX) highest scores, those within cosine eps of
 * the best, as vocabulary indexes into out; returns how many (>= 1
 * unless the index is empty). Bounded and exact as above. */
#define NS_NEAR_MAX 64
uint32_t ns_w2v_index_near(const struct ns_w2v_index *ix, const float *v,
			   float eps, uint32_t *out, uint32_t max);
/* The same two, telling in *exact (when not NULL) whether the search
 * ran to its end (1: the exact answer) or stopped at its budget (0). */
uint32_t ns_w2v_index_nearest_ex(const struct ns_w2v_index *ix,
				 const float *v, int *exact);
uint32_t ns_w2v_index_near_ex(const struct ns_w2v_index *ix, const float *v,
			      float eps, uint32_t *out, uint32_t max,
			      int *exact);
void ns_w2v_index_free(struct ns_w2v_index *ix);

#define NS_MAX_CONT 8

/* Everything needed to encode and decode a trace the same way later:
 * the part of a checkpoint that is not network weights. */
struct ns_encoder {
	int is_packets;   /* packet trace (1) or flow records (0) */
	uint32_t ip_bits; /* 32, or 128 when the trace has IPv6 */
	uint32_t n_chunks;
	uint64_t t0_ns, t1_ns; /* time range covered by the chunks */
	uint32_t max_flow_len; /* L before padding to a multiple of S:
	                          cfg->max_flow_len when set, else the
	                          data's longest flow */
	uint32_t split_long;   /* cfg->split_long, for ns_encode_apply */
	struct ns_w2v w2v;
	/* Continuous feature k (in feature order) is scaled by
	 * (x - cont_min[k]) / (cont_max[k] - cont_min[k]), after log1p for
	 * the flow fields td, pkt, byt. */
	uint32_t n_cont;
	double cont_min[NS_MAX_CONT], cont_max[NS_MAX_CONT];
	/* class labels (flows): n_classes = labels.n, plus one for "no
	 * label" when some record has none; 0 means no label head */
	uint32_t n_classes;
	struct ns_label_table labels;
	struct ns_layout attr; /* per-flow attribute layout */
	struct ns_layout feat; /* per-record feature layout, no gen flag */
	/* (protocol, port) pairs seen in the data, as proto << 16 | port,
	 * sorted and unique: ports decode to the nearest token among those
	 * seen with the decoded protocol, so GRE gets port 0 and ICMP its
	 * types, as in the data */
	uint32_t n_proto_ports;
	uint32_t *proto_ports;
	uint32_t *proto_port_count; /* (n_proto_ports) uses of each pair */
	/* How long the training samples using each pair were, by role:
	 * samples whose source (role 0) or destination (role 1) port is the
	 * pair's, by ns_len_bucket of their record count. Ports decode by
	 * these, so a long generated flow takes a port long flows had. */
	uint32_t *port_len_count; /* (n_proto_ports, 2, NS_LEN_BUCKETS) */
	float port_spread;	    /* from the config, see there */
	float proto_spread;	    /* likewise */
	/* where things sit in attr (derived from the fields above) */
	uint32_t attr_tag_off;   /* startFromThisChunk pair, then n_chunks
	                            presence pairs */
	uint32_t attr_start_off; /* flow_start, the last value */
};

/* Encoded flows, stored ragged: flow i's records are rows
 * offset[i] .. offset[i+1]-1 of feat. Flows are ordered by chunk, then
 * by first record time; chunk c's flows are chunk_offset[c] ..
 * chunk_offset[c+1]-1 (none for an empty chunk). */
struct ns_dataset {
	size_t n_flows;
	size_t n_records;
	uint32_t attr_dim, feat_dim;
	float *attr;      /* (n_flows, attr_dim) */
	uint32_t *offset; /* (n_flows + 1) */
	float *feat;      /* (n_records, feat_dim) */
	uint32_t max_len; /* longest flow, after truncation */
	uint32_t n_chunks;
	uint32_t *chunk_offset; /* (n_chunks + 1) */
	size_t n_truncated;     /* flows cut to cfg->max_flow_len */
	size_t n_dropped;       /* records those cuts removed */
	size_t n_split;         /* flows split into several samples */
};

/* Fit an encoder on a trace (exactly one of pkts/flows non-NULL) and
 * encode it. Returns 0, or -1 with a message in err. */
int ns_encode_fit(const struct ns_encode_config *cfg,
                  const struct ns_pkt_trace *pkts,
                  const struct ns_flow_trace *flows, struct ns_encoder *enc,
                  struct ns_dataset *ds, char *err, size_t errlen);

/* What ns_encode_apply met on the way. */
struct ns_apply_stats {
	size_t records;        /* encoded */
	size_t out_of_window;  /* records outside [t0, t1): skipped */
	size_t skipped_v6;     /* IPv6 records for a 32-bit encoder */
	size_t unknown_ports;  /* ports outside the vocabulary: encoded as
	                          the numerically closest known port */
	size_t unknown_protos; /* likewise protocols */
	size_t unknown_labels; /* labels the encoder lacks, as class 0 */
};

/* Encode a trace with a fitted encoder, as fine-tuning and DP need: the
 * layout, vocabulary, scaling bounds (values outside are clamped) and
 * max flow length stay the encoder's; the chunks and flow_start cover
 * the window [t0, t1) instead of the encoder's range (a copy of enc
 * with t0_ns/t1_ns set to the window decodes the result). Records
 * outside the window are skipped and counted. Returns 0, or -1 with a
 * message. */
int ns_encode_apply(const struct ns_encoder *enc, uint64_t t0_ns,
                    uint64_t t1_ns, const struct ns_pkt_trace *pkts,
                    const struct ns_flow_trace *flows, struct ns_dataset *ds,
                    struct ns_apply_stats *st, char *err, size_t errlen);

/* Decode n generated flows: attr (n, attr_dim), feat (n, max_len,
 * feat.dim) and lengths (n, clamped to max_len). Appends records to pkts
 * or flows (the one matching enc->is_packets; the other is NULL); flow
 * labels are interned into flows->labels. Out-of-range values are
 * clamped and NaN reads as 0. Returns 0, or -1 on a bad argument or
 * allocation failure. */
int ns_decode(const struct ns_encoder *enc, size_t n, const float *attr,
              const float *feat, uint32_t max_len, const uint32_t *lengths,
              struct ns_pkt_trace *pkts, struct ns_flow_trace *flows);

/* The same, batch after batch: a decoder builds its port indexes once
 * (ns_decode builds them for each call). One thread at a time; the
 * encoder must outlive it. */
struct ns_decoder;
struct ns_decoder *ns_decoder_new(const struct ns_encoder *enc);
int ns_decoder_run(struct ns_decoder *d, size_t n, const float *attr,
		   const float *feat, uint32_t max_len,
		   const uint32_t *lengths, struct ns_pkt_trace *pkts,
		   struct ns_flow_trace *flows);
void ns_decoder_free(struct ns_decoder *d);

/* Versioned binary form ("NSENC", version, fields, checksum; little
 * endian) for checkpoints. Write returns 0 or -1 with errno set. Read
 * consumes exactly what write wrote, validates every length and value,
 * and returns 0, or -1 with a message in err (enc is then empty). */
#define NS_ENCODER_VERSION 2
int ns_encoder_write(FILE *f, const struct ns_encoder *enc);
int ns_encoder_read(FILE *f, struct ns_encoder *enc, char *err, size_t errlen);

void ns_encoder_free(struct ns_encoder *enc);
void ns_dataset_free(struct ns_dataset *ds);

/* Building blocks, exposed for the model and the tests. */

/* An address (record form) as ip_bits two-way one-hots, MSB first:
 * out (ip_bits, 2). With 128 bits an IPv4 address is v4-mapped. */
void ns_ip_encode(const uint8_t addr[16], int ip_version, uint32_t ip_bits,
                  float *out);
/* Argmax per pair back to an address; returns its ip_version (4 for
 * 32 bits or a v4-mapped 128-bit address, else 6). */
int ns_ip_decode(const float *in, uint32_t ip_bits, uint8_t addr[16]);

/* (x - lo) / (hi - lo) clamped to [0,1]; 0 when hi <= lo. */
float ns_scale(double x, double lo, double hi);
/* lo + y (hi - lo) with y clamped to [0,1]; NaN reads as 0. */
double ns_unscale(float y, double lo, double hi);

/* Flow tags of a sample in chunk `chunk` of a flow present in the chunks
 * of `mask`: out (1 + n_chunks, 2) = startFromThisChunk (1 when chunk is
 * the lowest bit of mask), then presence bit i for chunk i. */
void ns_flow_tags(uint64_t mask, uint32_t chunk, uint32_t n_chunks,
                  float *out);

/* Training-time generation flags (§4.5) of a flow of len records padded
 * to L (a multiple of S): [1,0] continue, [0,1] for the last record and
 * the padding in its S-block, [0,0] in wholly empty blocks. len > L is
 * cut to L; len 0 gives all [0,0]. out (L, 2). */
void ns_gen_flags(uint32_t len, uint32_t L, uint32_t S, float *out);

/* Generation-time length (§4.5): records up to and including the first
 * whose flag argmax is "end" (flags[1] > flags[0], or NaN), else L.
 * flags (L, 2). */
uint32_t ns_gen_length(const float *flags, uint32_t L);

/* A sample length's bucket in port_len_count: floor(log2(len)), at most
 * NS_LEN_BUCKETS - 1 (len 0 counts as 1). */
uint32_t ns_len_bucket(uint32_t len);

#endif
