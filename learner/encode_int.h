/* Internals shared by the encoder, the decoder and the serialisation. */
#ifndef NS_LEARNER_ENCODE_INT_H
#define NS_LEARNER_ENCODE_INT_H

#include <stdint.h>

#include "netshare/encode.h"

/* The dot product every nearest-token search scores with (one order of
 * summation, so the fast and the naive search agree bit for bit), and
 * the query clean-up they share: NaN to 0, clamp to [-1,1]. */
float ns_w2v_dot(const float *a, const float *b, uint32_t dim);
void ns_w2v_query(float *q, const float *v, uint32_t dim);

/* Continuous features, in feature order. */
enum {
	NS_PKT_C_IAT = 0,
	NS_PKT_C_LEN,
	NS_PKT_C_TOS,
	NS_PKT_C_ID,
	NS_PKT_C_OFF,
	NS_PKT_C_TTL,
	NS_PKT_N_CONT,
};
enum {
	NS_FLOW_C_IAT = 0,
	NS_FLOW_C_TD,
	NS_FLOW_C_PKT,
	NS_FLOW_C_BYT,
	NS_FLOW_N_CONT,
};
#define NS_FLAG_CLASSES 3 /* IPv4 flag values 0, MF = 1, DF = 2 */

/* Build attr, feat, n_cont and the attr offsets from is_packets,
 * ip_bits, n_chunks, w2v.dim and n_classes. Returns 0, or -1 when a
 * layout would not fit NS_MAX_HEADS. */
int ns_enc_layouts(struct ns_encoder *enc);

#endif
