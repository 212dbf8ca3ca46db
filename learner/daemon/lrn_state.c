/* The continuous learner's state.json: written whole and atomically,
 * read back with every field checked. */
#include "lrn_state.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netshare/trace.h"

static const char *const status_names[] = {"captured", "trained", "skipped"};
#define N_STATUS (sizeof(status_names) / sizeof(status_names[0]))

void
lrn_state_init(struct lrn_state *s)
{
	memset(s, 0, sizeof(*s));
	s->seed_block = -1;
	ns_privacy_acct_init(&s->acct);
}

void
lrn_state_free(struct lrn_state *s)
{
	free(s->blocks);
	memset(s, 0, sizeof(*s));
}

struct lrn_block *
lrn_state_find(struct lrn_state *s, int64_t index)
{
	for (size_t i = 0; i < s->n_blocks; i++)
		if (s->blocks[i].index == index)
			return &s->blocks[i];
	return NULL;
}

struct lrn_block *
lrn_state_add(struct lrn_state *s, int64_t index)
{
	if (s->n_blocks == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct lrn_block *b = realloc(s->blocks, cap * sizeof(*b));
		if (!b)
			return NULL;
		s->blocks = b;
		s->cap = cap;
	}
	size_t at = s->n_blocks;
	while (at > 0 && s->blocks[at - 1].index > index)
		at--;
	memmove(&s->blocks[at + 1], &s->blocks[at],
		(s->n_blocks - at) * sizeof(*s->blocks));
	s->n_blocks++;
	struct lrn_block *b = &s->blocks[at];
	memset(b, 0, sizeof(*b));
	b->index = index;
	b->status = LRN_CAPTURED;
	b->epsilon = NAN;
	return b;
}

void
lrn_block_path(char *buf, size_t n, const char *dir, const char *sub,
	       int64_t index, const char *suffix)
{
	snprintf(buf, n, "%s/%s/block-%010lld%s", dir, sub, (long long)index,
		 suffix);
}

/* --- reading ------------------------------------------------------------ */

static int
bad(char *err, size_t errlen, const char *name, const char *field,
    const char *why)
{
	snprintf(err, errlen, "%s: \"%s\" %s", name, field, why);
	return -1;
}

static int
get_int(const cJSON *o, const char *key, int64_t lo, int64_t hi,
	int64_t *out, const char *name, char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) ||
	    it->valuedouble < (double)lo || it->valuedouble > (double)hi)
		return bad(err, errlen, name, key,
			   "is missing or not an integer in range");
	*out = (int64_t)it->valuedouble;
	return 0;
}

static int
parse_block(const cJSON *o, struct lrn_block *b, const char *name, char *err,
	    size_t errlen)
{
	int64_t v;
	if (!cJSON_IsObject(o))
		return bad(err, errlen, name, "blocks[]", "must hold objects");
	if (get_int(o, "index", 0, INT64_C(1) << 52, &b->index, name, err,
		    errlen))
		return -1;
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
	b->status = -1;
	for (size_t k = 0; cJSON_IsString(st) && k < N_STATUS; k++)
		if (!strcmp(st->valuestring, status_names[k]))
			b->status = (int)k;
	if (b->status < 0)
		return bad(err, errlen, name, "blocks[].status",
			   "must be captured, trained or skipped");
	if (get_int(o, "records", 0, INT64_C(1) << 52, &v, name, err,
		    errlen))
		return -1;
	b->records = (uint64_t)v;
	if (get_int(o, "flows", 0, INT64_C(1) << 52, &v, name, err, errlen))
		return -1;
	b->flows = (uint64_t)v;
	if (get_int(o, "iterations", 0, INT64_C(1) << 52, &b->iterations,
		    name, err, errlen) ||
	    get_int(o, "version", 0, INT64_C(1) << 52, &b->version, name, err,
		    errlen))
		return -1;
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "seconds");
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "epsilon");
	if (!cJSON_IsNumber(sec) || !(sec->valuedouble >= 0) ||
	    !isfinite(sec->valuedouble))
		return bad(err, errlen, name, "blocks[].seconds",
			   "must be a finite number >= 0");
	b->seconds = sec->valuedouble;
	if (cJSON_IsNull(eps))
		b->epsilon = NAN;
	else if (cJSON_IsNumber(eps) && eps->valuedouble >= 0 &&
		 isfinite(eps->valuedouble))
		b->epsilon = eps->valuedouble;
	else if (cJSON_IsString(eps) && !strcmp(eps->valuestring, "inf"))
		b->epsilon = INFINITY;
	else
		return bad(err, errlen, name, "blocks[].epsilon",
			   "must be null, a number >= 0 or \"inf\"");
	const cJSON *note = cJSON_GetObjectItemCaseSensitive(o, "note");
	if (note && !cJSON_IsString(note))
		return bad(err, errlen, name, "blocks[].note",
			   "must be a string");
	snprintf(b->note, sizeof(b->note), "%s",
		 note ? note->valuestring : "");
	return 0;
}

int
lrn_state_parse(struct lrn_state *s, const char *text, size_t len,
		const char *name, char *err, size_t errlen)
{
	lrn_state_init(s);
	cJSON *root = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		snprintf(err, errlen, "%s: not a JSON object", name);
		return -1;
	}
	int rc = -1;
	int64_t v;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
	const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root,
							     "seed_model");
	const cJSON *acct = cJSON_GetObjectItemCaseSensitive(root, "privacy");
	const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(root, "blocks");
	if (get_int(root, "version", 1, 1, &v, name, err, errlen))
		goto out;
	if (!cJSON_IsString(kind) || (strcmp(kind->valuestring, "flows") &&
				      strcmp(kind->valuestring, "packets"))) {
		bad(err, errlen, name, "kind", "must be flows or packets");
		goto out;
	}
	s->is_packets = !strcmp(kind->valuestring, "packets");
	if (get_int(root, "block_ns", 1, INT64_C(1) << 62, &v, name, err,
		    errlen))
		goto out;
	s->block_ns = (uint64_t)v;
	if (get_int(root, "window", 1, 64, &v, name, err, errlen))
		goto out;
	s->window = (uint32_t)v;
	if (get_int(root, "seed_block", -1, INT64_C(1) << 52,
		    &s->seed_block, name, err, errlen) ||
	    get_int(root, "published", 0, INT64_C(1) << 52, &s->published,
		    name, err, errlen) ||
	    get_int(root, "dp", 0, 1, &v, name, err, errlen))
		goto out;
	s->dp = (int)v;
	if (!cJSON_IsString(seed) ||
	    strlen(seed->valuestring) >= sizeof(s->seed_model)) {
		bad(err, errlen, name, "seed_model", "must be a short string");
		goto out;
	}
	snprintf(s->seed_model, sizeof(s->seed_model), "%s",
		 seed->valuestring);
	char *acct_text = acct ? cJSON_PrintUnformatted(acct) : NULL;
	char aerr[256];
	int arc = acct_text ? ns_privacy_acct_parse(&s->acct, acct_text,
						    strlen(acct_text), aerr,
						    sizeof(aerr))
			    : -1;
	free(acct_text);
	if (arc) {
		snprintf(err, errlen, "%s: \"privacy\": %s", name,
			 acct ? aerr : "is missing");
		goto out;
	}
	if (!cJSON_IsArray(blocks)) {
		bad(err, errlen, name, "blocks", "must be an array");
		goto out;
	}
	for (const cJSON *b = blocks->child; b; b = b->next) {
		struct lrn_block tmp;
		if (parse_block(b, &tmp, name, err, errlen))
			goto out;
		if (lrn_state_find(s, tmp.index)) {
			bad(err, errlen, name, "blocks[].index",
			    "repeats a block");
			goto out;
		}
		struct lrn_block *nb = lrn_state_add(s, tmp.index);
		if (!nb) {
			snprintf(err, errlen, "%s: out of memory", name);
			goto out;
		}
		*nb = tmp;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	if (rc)
		lrn_state_free(s);
	return rc;
}

int
lrn_state_load(struct lrn_state *s, const char *dir, char *err,
	       size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	size_t len;
	char *text = ns_slurp(path, &len);
	if (!text) {
		if (errno == ENOENT) {
			lrn_state_init(s);
			return 1;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = lrn_state_parse(s, text, len, path, err, errlen);
	free(text);
	return rc;
}

/* --- writing ------------------------------------------------------------ */

static cJSON *
block_json(const struct lrn_block *b)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "index", (double)b->index);
	cJSON_AddStringToObject(o, "status", status_names[b->status]);
	cJSON_AddNumberToObject(o, "records", (double)b->records);
	cJSON_AddNumberToObject(o, "flows", (double)b->flows);
	cJSON_AddNumberToObject(o, "iterations", (double)b->iterations);
	cJSON_AddNumberToObject(o, "seconds", b->seconds);
	if (isnan(b->epsilon))
		cJSON_AddNullToObject(o, "epsilon");
	else if (isinf(b->epsilon))
		cJSON_AddStringToObject(o, "epsilon", "inf");
	else
		cJSON_AddNumberToObject(o, "epsilon", b->epsilon);
	cJSON_AddNumberToObject(o, "version", (double)b->version);
	if (b->note[0])
		cJSON_AddStringToObject(o, "note", b->note);
	return o;
}

int
lrn_state_save(const struct lrn_state *s, const char *dir, char *err,
	       size_t errlen)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "version", 1);
	cJSON_AddStringToObject(root, "kind",
				s->is_packets ? "packets" : "flows");
	cJSON_AddNumberToObject(root, "block_ns", (double)s->block_ns);
	cJSON_AddNumberToObject(root, "window", s->window);
	cJSON_AddNumberToObject(root, "seed_block", (double)s->seed_block);
	cJSON_AddStringToObject(root, "seed_model", s->seed_model);
	cJSON_AddNumberToObject(root, "dp", s->dp);
	cJSON_AddNumberToObject(root, "published", (double)s->published);
	char *acct = ns_privacy_acct_to_json(&s->acct);
	cJSON *aj = acct ? cJSON_Parse(acct) : NULL;
	free(acct);
	if (!aj) {
		cJSON_Delete(root);
		snprintf(err, errlen, "%s/state.json: out of memory", dir);
		return -1;
	}
	cJSON_AddItemToObject(root, "privacy", aj);
	cJSON *a = cJSON_AddArrayToObject(root, "blocks");
	for (size_t i = 0; i < s->n_blocks; i++)
		cJSON_AddItemToArray(a, block_json(&s->blocks[i]));
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	char path[4096];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	int rc = text ? ns_write_file_atomic(path, text, strlen(text)) : -1;
	if (rc)
		snprintf(err, errlen, "%s: %s", path,
			 text ? strerror(errno) : "out of memory");
	free(text);
	return rc;
}
