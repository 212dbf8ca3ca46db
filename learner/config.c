/* The learner's JSON config: one declarative table of fields, shared by
 * the loader, the defaults and the printer. */
#include "config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netshare/trace.h"

enum field_type { F_INT, F_U32, F_LONG, F_U64, F_FLOAT, F_DOUBLE };

struct field {
	const char *section; /* "encoding" or "model" */
	const char *name;
	enum field_type type;
	size_t offset;	     /* into struct ns_learner_config */
	double min, max;
	const char *help;
};

#define ENC(f) offsetof(struct ns_learner_config, enc.f)
#define MOD(f) offsetof(struct ns_learner_config, model.f)
#define PRV(f) offsetof(struct ns_learner_config, privacy.f)
#define CON(f) offsetof(struct ns_learner_config, cont.f)

static const struct field fields[] = {
	{"encoding", "n_chunks", F_U32, ENC(n_chunks), 1, 64,
	 "time chunks for flow tags"},
	{"encoding", "w2v_dim", F_U32, ENC(w2v_dim), 1, 64,
	 "IP2Vec vector width"},
	{"encoding", "w2v_window", F_U32, ENC(w2v_window), 1, 16,
	 "IP2Vec context window"},
	{"encoding", "w2v_epochs", F_U32, ENC(w2v_epochs), 1, 1000,
	 "IP2Vec epochs"},
	{"encoding", "w2v_negative", F_U32, ENC(w2v_negative), 1, 64,
	 "IP2Vec negative samples"},
	{"encoding", "max_flow_len", F_U32, ENC(max_flow_len), 0, 100000,
	 "records kept per flow (0: the data's longest)"},
	{"encoding", "split_long", F_INT, ENC(split_long), 0, 1,
	 "a flow longer than max_flow_len: split into samples of that "
	 "many records (1) or cut there (0); privacy.enabled needs 0"},
	{"encoding", "port_spread", F_FLOAT, ENC(port_spread), 0, 2,
	 "decode ports among tokens within this cosine of the nearest "
	 "(0: nearest only)"},
	{"encoding", "proto_spread", F_FLOAT, ENC(proto_spread), 0, 2,
	 "decode the protocol among tokens within this cosine of the "
	 "nearest, by samples of the flow's length (0: nearest only)"},
	{"model", "attr_noise", F_INT, MOD(attr_noise), 1, 1024,
	 "attribute noise width"},
	{"model", "feat_noise", F_INT, MOD(feat_noise), 1, 1024,
	 "feature noise width per step"},
	{"model", "gen_hidden", F_INT, MOD(gen_hidden), 1, 8192,
	 "attribute generator width"},
	{"model", "gen_layers", F_INT, MOD(gen_layers), 1, 8,
	 "attribute generator hidden layers"},
	{"model", "lstm_units", F_INT, MOD(lstm_units), 1, 4096,
	 "LSTM units"},
	{"model", "disc_hidden", F_INT, MOD(disc_hidden), 1, 8192,
	 "discriminator width"},
	{"model", "disc_layers", F_INT, MOD(disc_layers), 1, 16,
	 "discriminator hidden layers"},
	{"model", "sample_len", F_INT, MOD(sample_len), 1, 1000,
	 "records per LSTM step (S)"},
	{"model", "batch", F_INT, MOD(batch), 2, 100000, "flows per batch"},
	{"model", "d_rounds", F_INT, MOD(d_rounds), 1, 100,
	 "discriminator steps per generator step"},
	{"model", "lr_g", F_FLOAT, MOD(lr_g), 0, 1, "generator Adam rate"},
	{"model", "lr_d", F_FLOAT, MOD(lr_d), 0, 1,
	 "discriminator Adam rate"},
	{"model", "beta1", F_FLOAT, MOD(beta1), 0, 1, "Adam beta1"},
	{"model", "beta2", F_FLOAT, MOD(beta2), 0, 1, "Adam beta2"},
	{"model", "adam_eps", F_FLOAT, MOD(adam_eps), 0, 1, "Adam epsilon"},
	{"model", "gp_lambda", F_FLOAT, MOD(gp_lambda), 0, 1e6,
	 "gradient penalty weight"},
	{"model", "g_attr_d_coe", F_FLOAT, MOD(g_attr_d_coe), 0, 1e6,
	 "auxiliary discriminator weight in the G loss"},
	{"model", "init_sd", F_FLOAT, MOD(init_sd), 0, 10,
	 "dense weight init standard deviation"},
	{"model", "bn_decay", F_FLOAT, MOD(bn_decay), 0, 1,
	 "BatchNorm running-statistics decay"},
	{"model", "iterations", F_LONG, MOD(iterations), 1, 1e12,
	 "generator steps"},
	{"model", "seed", F_U64, MOD(seed), 0, 9007199254740991.0,
	 "random seed"},
	{"privacy", "enabled", F_INT, MOD(dp), 0, 1,
	 "DP-SGD on both discriminators (1) or plain training (0)"},
	{"privacy", "noise_multiplier", F_FLOAT, MOD(dp_noise), 0, 1e6,
	 "Gaussian noise sigma, in units of the clip"},
	{"privacy", "clip", F_FLOAT, MOD(dp_clip), 0, 1e6,
	 "per-example gradient norm bound C (0: none, only without noise)"},
	{"privacy", "delta", F_DOUBLE, PRV(delta), 1e-30, 0.5,
	 "delta of the (epsilon, delta) guarantee"},
	{"privacy", "epsilon_budget", F_FLOAT, PRV(epsilon_budget), 0, 1e9,
	 "stop before the total epsilon passes this (0: no budget)"},
	{"privacy", "block_epsilon_budget", F_FLOAT, PRV(block_epsilon_budget),
	 0, 1e9, "stop a block before its epsilon passes this (0: none)"},
	{"privacy", "count_noise", F_FLOAT, PRV(count_noise), 0, 1e9,
	 "sigma of the Gaussian noise on each block's flow count"},
	{"continuous", "block_seconds", F_FLOAT, CON(block_seconds), 1e-3, 1e7,
	 "block duration in trace seconds"},
	{"continuous", "fine_tune_fraction", F_FLOAT, CON(fine_tune_fraction),
	 0, 1, "iterations of a fine-tuned block, as a share of "
	       "model.iterations"},
	{"continuous", "workers", F_INT, CON(workers), 1, 1024,
	 "blocks trained at once"},
	{"continuous", "blas_threads", F_INT, CON(blas_threads), 1, 1024,
	 "BLAS threads per worker"},
	{"continuous", "holdout", F_FLOAT, CON(holdout), 0, 0.9,
	 "share of a block's flows held back for its fidelity report"},
};

void
ns_learner_config_default(struct ns_learner_config *c)
{
	memset(c, 0, sizeof(*c));
	ns_encode_config_default(&c->enc);
	ns_dg_config_paper(&c->model);
	/* sized for a 2-core machine: ~50 ms per iteration */
	c->enc.n_chunks = 1;
	c->enc.max_flow_len = 50;
	c->enc.port_spread = 0.6f;
	c->enc.proto_spread = 0.6f;
	c->model.gen_hidden = 256;
	c->model.gen_layers = 2;
	c->model.disc_hidden = 256;
	c->model.disc_layers = 2;
	c->model.d_rounds = 3;
	c->model.lr_g = 1e-3f;
	c->model.lr_d = 1e-3f;
	c->model.sample_len = 5;
	c->model.iterations = 10000;
	c->model.dp_noise = 1.0f;
	c->model.dp_clip = 1.0f;
	c->privacy.delta = 1e-5;
	c->privacy.count_noise = 1.0f;
	c->cont.block_seconds = 300;
	c->cont.fine_tune_fraction = 0.25f;
	c->cont.workers = 1;
	c->cont.blas_threads = 1;
	c->cont.holdout = 0.1f;
}

static void
store(struct ns_learner_config *c, const struct field *f, double v)
{
	char *p = (char *)c + f->offset;
	switch (f->type) {
	case F_INT:
		*(int *)p = (int)v;
		break;
	case F_U32:
		*(uint32_t *)p = (uint32_t)v;
		break;
	case F_LONG:
		*(long *)p = (long)v;
		break;
	case F_U64:
		*(uint64_t *)p = (uint64_t)v;
		break;
	case F_FLOAT:
		*(float *)p = (float)v;
		break;
	case F_DOUBLE:
		*(double *)p = v;
		break;
	}
}

static double
load(const struct ns_learner_config *c, const struct field *f)
{
	const char *p = (const char *)c + f->offset;
	switch (f->type) {
	case F_INT:
		return *(const int *)p;
	case F_U32:
		return *(const uint32_t *)p;
	case F_LONG:
		return (double)*(const long *)p;
	case F_U64:
		return (double)*(const uint64_t *)p;
	case F_FLOAT:
		return *(const float *)p;
	case F_DOUBLE:
		return *(const double *)p;
	}
	return 0;
}

static const struct field *
find(const char *section, const char *name)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++)
		if (!strcmp(fields[i].section, section) &&
		    !strcmp(fields[i].name, name))
			return &fields[i];
	return NULL;
}

int
ns_learner_config_parse(struct ns_learner_config *c, const char *text,
			size_t len, const char *path, char *err,
			size_t errlen)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		snprintf(err, errlen, "%s: invalid JSON near byte %ld", path,
			 at && at >= text ? (long)(at - text) : -1L);
		return -1;
	}
	int rc = -1;
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "%s: the top level must be an object",
			 path);
		goto out;
	}
	struct ns_learner_config next = *c;
	for (cJSON *sec = root->child; sec; sec = sec->next) {
		if (!strcmp(sec->string, "version")) {
			if (!cJSON_IsNumber(sec) || sec->valuedouble != 1) {
				snprintf(err, errlen, "%s: \"version\" must "
						      "be 1", path);
				goto out;
			}
			continue;
		}
		if (strcmp(sec->string, "encoding") &&
		    strcmp(sec->string, "model") &&
		    strcmp(sec->string, "privacy") &&
		    strcmp(sec->string, "continuous")) {
			snprintf(err, errlen, "%s: unknown section \"%s\" "
					      "(expected encoding, model, "
					      "privacy, continuous)",
				 path, sec->string);
			goto out;
		}
		if (!cJSON_IsObject(sec)) {
			snprintf(err, errlen, "%s: \"%s\" must be an object",
				 path, sec->string);
			goto out;
		}
		for (cJSON *it = sec->child; it; it = it->next) {
			const struct field *f = find(sec->string, it->string);
			if (!f) {
				snprintf(err, errlen, "%s: unknown field "
						      "\"%s.%s\"",
					 path, sec->string, it->string);
				goto out;
			}
			if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
				snprintf(err, errlen, "%s: \"%s.%s\" must be a "
						      "number", path,
					 sec->string, it->string);
				goto out;
			}
			double v = it->valuedouble;
			int integral = f->type != F_FLOAT && f->type != F_DOUBLE;
			if (v < f->min || v > f->max ||
			    (integral && v != floor(v))) {
				snprintf(err, errlen, "%s: \"%s.%s\" = %g is "
						      "out of range: %s in "
						      "[%g, %g]",
					 path, sec->string, it->string, v,
					 integral ? "an integer" : "a number",
					 f->min, f->max);
				goto out;
			}
			store(&next, f, v);
		}
	}
	/* DP bounds what one flow changes as one example: long flows are
	 * cut, not split; a config asking for both is refused */
	if (next.model.dp && next.enc.split_long) {
		const cJSON *e =
		    cJSON_GetObjectItemCaseSensitive(root, "encoding");
		if (cJSON_GetObjectItemCaseSensitive(e, "split_long")) {
			snprintf(err, errlen, "%s: \"encoding.split_long\" = 1 "
					      "with \"privacy.enabled\" = 1: "
					      "DP counts a flow as one example, "
					      "so long flows must be cut (0)",
				 path);
			goto out;
		}
		next.enc.split_long = 0;
	}
	*c = next; /* all or nothing */
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

int
ns_learner_config_load(struct ns_learner_config *c, const char *path,
		       char *err, size_t errlen)
{
	size_t len;
	char *text = ns_slurp(path, &len);
	if (!text) {
		snprintf(err, errlen, "%s: cannot read the config", path);
		return -1;
	}
	int rc = ns_learner_config_parse(c, text, len, path, err, errlen);
	free(text);
	return rc;
}

/* The shortest decimal that reads back as the same float. */
static void
print_float(FILE *f, float v)
{
	char buf[32];
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			break;
	}
	fputs(buf, f);
}

/* The shortest decimal that reads back as the same double. */
static void
print_double(FILE *f, double v)
{
	char buf[40];
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, f);
}

void
ns_learner_config_print(const struct ns_learner_config *c, FILE *f)
{
	fprintf(f, "{\n  \"version\": 1");
	const char *sec = "";
	for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
		if (strcmp(sec, fields[i].section)) {
			fprintf(f, "%s,\n  \"%s\": {\n", *sec ? "\n  }" : "",
				fields[i].section);
			sec = fields[i].section;
		} else {
			fprintf(f, ",\n");
		}
		fprintf(f, "    \"%s\": ", fields[i].name);
		if (fields[i].type == F_FLOAT)
			print_float(f, (float)load(c, &fields[i]));
		else if (fields[i].type == F_DOUBLE)
			print_double(f, load(c, &fields[i]));
		else
			fprintf(f, "%.0f", load(c, &fields[i]));
	}
	fprintf(f, "\n  }\n}\n");
}
