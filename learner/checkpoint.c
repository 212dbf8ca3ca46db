/* Checkpoint file, little-endian:
 *   "NSMODEL\0", u32 version, u32 0x01020304 (byte-order mark),
 *   u32 n + config JSON (n bytes),
 *   i32 A, F, S, T, L; u64 nG, nD, nDa, nBN; i64 step;
 *   u64 rng state, u32 rng has_spare, f32 rng spare,
 *   u64 n + encoder (ns_encoder_write, n bytes),
 *   f32 G{p,m,v}, D{p,m,v}, Da{p,m,v}, BN running statistics,
 *   u64 FNV-1a of every byte before it. */
#include "checkpoint.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netshare/trace.h"

static const char magic[8] = "NSMODEL";
#define BOM 0x01020304u

static uint64_t
fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void
put(FILE *f, const void *p, size_t n)
{
	fwrite(p, 1, n, f);
}

static void
put_u32(FILE *f, uint32_t v)
{
	put(f, &v, 4);
}

static void
put_u64(FILE *f, uint64_t v)
{
	put(f, &v, 8);
}

static void
put_params(FILE *f, const struct ns_params *q)
{
	put(f, q->p, q->n * sizeof(float));
	put(f, q->m, q->n * sizeof(float));
	put(f, q->v, q->n * sizeof(float));
}

static size_t
bn_floats(const struct ns_dg *m)
{
	return 2 * (size_t)m->cfg.gen_layers * m->cfg.gen_hidden;
}

int
ns_ckpt_save(const char *path, const struct ns_learner_config *cfg,
	     const struct ns_dg *m, const struct ns_encoder *enc, char *err,
	     size_t errlen)
{
	char *buf = NULL, *json = NULL, *encbuf = NULL;
	size_t len = 0, json_len = 0, enc_len = 0;
	FILE *js = open_memstream(&json, &json_len);
	FILE *es = open_memstream(&encbuf, &enc_len);
	FILE *f = open_memstream(&buf, &len);
	int rc = -1;
	if (!js || !es || !f) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ns_learner_config_print(cfg, js);
	fclose(js);
	js = NULL;
	if (ns_encoder_write(es, enc) != 0) {
		snprintf(err, errlen, "cannot serialise the encoder");
		goto out;
	}
	fclose(es);
	es = NULL;
	put(f, magic, 8);
	put_u32(f, NS_CKPT_VERSION);
	put_u32(f, BOM);
	put_u32(f, (uint32_t)json_len);
	put(f, json, json_len);
	int32_t dims[5] = {m->A, m->F, m->S, m->T, m->L};
	put(f, dims, sizeof(dims));
	put_u64(f, m->G.n);
	put_u64(f, m->D.n);
	put_u64(f, m->Da.n);
	put_u64(f, bn_floats(m));
	put_u64(f, (uint64_t)m->step);
	put_u64(f, m->rng.s);
	put_u32(f, (uint32_t)m->rng.has_spare);
	put(f, &m->rng.spare, 4);
	put_u64(f, enc_len);
	put(f, encbuf, enc_len);
	put_params(f, &m->G);
	put_params(f, &m->D);
	put_params(f, &m->Da);
	put(f, m->bn_running, bn_floats(m) * sizeof(float));
	if (fflush(f) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	put_u64(f, fnv1a((unsigned char *)buf, len));
	fclose(f);
	f = NULL;

	if (ns_write_file_atomic(path, buf, len) != 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path,
			 strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (js)
		fclose(js);
	if (es)
		fclose(es);
	if (f)
		fclose(f);
	free(json);
	free(encbuf);
	free(buf);
	return rc;
}

/* A bounds-checked reader over the buffer. */
struct cur {
	const unsigned char *p;
	size_t len, pos;
};

static int
take(struct cur *c, void *out, size_t n)
{
	if (n > c->len - c->pos)
		return -1;
	memcpy(out, c->p + c->pos, n);
	c->pos += n;
	return 0;
}

static int
take_params(struct cur *c, struct ns_params *q)
{
	return take(c, q->p, q->n * sizeof(float)) ||
	       take(c, q->m, q->n * sizeof(float)) ||
	       take(c, q->v, q->n * sizeof(float));
}

int
ns_ckpt_load_mem(const void *buf, size_t len, const char *name,
		 struct ns_learner_config *cfg, struct ns_dg *m,
		 struct ns_encoder *enc, char *err, size_t errlen)
{
	struct cur c = {buf, len, 0};
	char mg[8];
	uint32_t version, bom, json_len;
	memset(m, 0, sizeof(*m));
	memset(enc, 0, sizeof(*enc));
	if (take(&c, mg, 8) || memcmp(mg, magic, 8)) {
		snprintf(err, errlen, "%s: not a NetShare model (bad magic)",
			 name);
		return -1;
	}
	if (take(&c, &version, 4) || take(&c, &bom, 4)) {
		snprintf(err, errlen, "%s: cut short in the header", name);
		return -1;
	}
	if (version != NS_CKPT_VERSION) {
		snprintf(err, errlen, "%s: checkpoint version %u; this build "
				      "reads version %u", name, version,
			 NS_CKPT_VERSION);
		return -1;
	}
	if (bom != BOM) {
		snprintf(err, errlen, "%s: written on a machine of another "
				      "byte order", name);
		return -1;
	}
	uint64_t sum;
	if (len < 8 + 16 ||
	    (memcpy(&sum, (const unsigned char *)buf + len - 8, 8),
	     sum != fnv1a(buf, len - 8))) {
		snprintf(err, errlen, "%s: checksum mismatch: the file is "
				      "truncated or corrupt (%zu bytes)",
			 name, len);
		return -1;
	}
	c.len = len - 8;
	if (take(&c, &json_len, 4) || json_len > c.len - c.pos) {
		snprintf(err, errlen, "%s: bad config length", name);
		return -1;
	}
	ns_learner_config_default(cfg);
	if (ns_learner_config_parse(cfg, (const char *)c.p + c.pos, json_len,
				    name, err, errlen))
		return -1;
	c.pos += json_len;
	int32_t dims[5];
	uint64_t n[4], step, rng, enc_len;
	uint32_t has_spare;
	float spare;
	if (take(&c, dims, sizeof(dims)) || take(&c, n, sizeof(n)) ||
	    take(&c, &step, 8) || take(&c, &rng, 8) ||
	    take(&c, &has_spare, 4) || take(&c, &spare, 4) ||
	    take(&c, &enc_len, 8) ||
	    enc_len > c.len - c.pos) {
		snprintf(err, errlen, "%s: cut short in the dimensions", name);
		return -1;
	}
	/* the tensors must be in the file before anything is allocated */
	uint64_t floats = 3 * (n[0] + n[1] + n[2]) + n[3];
	if (n[0] > c.len || n[1] > c.len || n[2] > c.len || n[3] > c.len ||
	    floats * sizeof(float) > c.len - c.pos - enc_len) {
		snprintf(err, errlen, "%s: tensor sizes exceed the file", name);
		return -1;
	}
	FILE *es = fmemopen((void *)(c.p + c.pos), enc_len ? enc_len : 1, "rb");
	if (!es || ns_encoder_read(es, enc, err, errlen)) {
		if (es)
			fclose(es);
		else
			snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	fclose(es);
	c.pos += enc_len;
	if (dims[4] < 1 || dims[4] > 1000000) {
		snprintf(err, errlen, "%s: bad flow length %d", name, dims[4]);
		ns_encoder_free(enc);
		return -1;
	}
	if (ns_dg_init(m, &cfg->model, enc, (uint32_t)dims[4], err, errlen)) {
		ns_encoder_free(enc);
		return -1;
	}
	int32_t want[5] = {m->A, m->F, m->S, m->T, m->L};
	uint64_t want_n[4] = {m->G.n, m->D.n, m->Da.n, bn_floats(m)};
	if (memcmp(dims, want, sizeof(dims)) || memcmp(n, want_n, sizeof(n))) {
		snprintf(err, errlen, "%s: tensor sizes disagree with the "
				      "config and encoder stored in it", name);
		goto fail;
	}
	if (take_params(&c, &m->G) || take_params(&c, &m->D) ||
	    take_params(&c, &m->Da) ||
	    take(&c, m->bn_running, bn_floats(m) * sizeof(float)) ||
	    c.pos != c.len) {
		snprintf(err, errlen, "%s: tensor data has the wrong length",
			 name);
		goto fail;
	}
	m->step = (long)step;
	m->rng.s = rng;
	m->rng.has_spare = has_spare != 0;
	m->rng.spare = spare;
	return 0;
fail:
	ns_dg_free(m);
	ns_encoder_free(enc);
	return -1;
}

int
ns_ckpt_load(const char *path, struct ns_learner_config *cfg, struct ns_dg *m,
	     struct ns_encoder *enc, char *err, size_t errlen)
{
	size_t len;
	char *buf = ns_slurp(path, &len);
	if (!buf) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
			 strerror(errno));
		return -1;
	}
	int rc = ns_ckpt_load_mem(buf, len, path, cfg, m, enc, err, errlen);
	free(buf);
	return rc;
}
