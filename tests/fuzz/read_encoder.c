/* Fuzz target: the encoder's binary form (what a checkpoint embeds).
 * Any input either fails with a message or gives an encoder that writes
 * back to exactly the bytes read, and that decodes a flow without a
 * crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "netshare/encode.h"

static void
decode_one(const struct ns_encoder *enc)
{
	uint32_t L = enc->max_flow_len < 4 ? enc->max_flow_len : 4;
	float *attr = malloc(enc->attr.dim * sizeof(*attr));
	float *feat = malloc((size_t)L * enc->feat.dim * sizeof(*feat));
	if (!attr || !feat)
		goto out;
	for (uint32_t i = 0; i < enc->attr.dim; i++)
		attr[i] = (float)(i % 3) * 0.5f;
	for (uint32_t i = 0; i < L * enc->feat.dim; i++)
		feat[i] = (float)(i % 5) * 0.25f;
	struct ns_pkt_trace p = {0};
	struct ns_flow_trace f = {0};
	if (ns_decode(enc, 1, attr, feat, L, &L, enc->is_packets ? &p : NULL,
	              enc->is_packets ? NULL : &f) != 0)
		__builtin_trap(); /* a valid encoder decodes */
	if ((enc->is_packets ? p.n : f.n) != L)
		__builtin_trap();
	ns_pkt_trace_free(&p);
	ns_flow_trace_free(&f);
out:
	free(attr);
	free(feat);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0; /* fmemopen needs at least one byte */
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	struct ns_encoder enc;
	char err[256] = "";
	int rc = ns_encoder_read(f, &enc, err, sizeof(err));
	long used = ftell(f);
	fclose(f);
	if (rc != 0) {
		if (err[0] == '\0')
			__builtin_trap(); /* every failure says why */
		return 0;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *w = open_memstream(&buf, &len);
	if (w) {
		if (ns_encoder_write(w, &enc) != 0)
			__builtin_trap();
		fclose(w);
		if (used < 0 || len != (size_t)used ||
		    memcmp(buf, data, len) != 0)
			__builtin_trap(); /* read then write is the identity */
		free(buf);
	}
	decode_one(&enc);
	ns_encoder_free(&enc);
	return 0;
}
