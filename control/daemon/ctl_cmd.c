/* The request handler: one JSON request in, one JSON reply out, every
 * field's type checked, commands through one table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

typedef int (*ctl_fn)(struct ctl *d, const cJSON *args, cJSON *res,
                      struct ctl_err *e);

struct ctl_cmd {
	const char *name;
	ctl_fn fn;
	const char *args[5]; /* the keys args may hold */
	const char *help;
};

void
ctl_init(struct ctl *d, const struct ctl_config *cfg, const char *path)
{
	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	snprintf(d->config_path, sizeof(d->config_path), "%s",
	         path ? path : "");
	d->exp.state = "idle";
	d->started_mono_ns = ns_mono_ns();
}

void
ctl_free(struct ctl *d)
{
	ctl_export_stop(&d->exp, "stopped");
	free(d->exp.sinks);
	d->exp.sinks = NULL;
}

/* Argument helpers: absent is fine unless required; a wrong type never
 * is. */
static int
arg_str(const cJSON *args, const char *key, int required, const char **out,
        struct ctl_err *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
	char field[64];
	snprintf(field, sizeof(field), "args.%s", key);
	if (!v) {
		if (required)
			return ctl_fail(e, "missing_field", field,
			                "%s is "
			                "required",
			                field);
		return 0;
	}
	if (!cJSON_IsString(v))
		return ctl_fail(e, "bad_field", field, "%s must be a string",
		                field);
	*out = v->valuestring;
	return 0;
}

static int
arg_int(const cJSON *args, const char *key, int required, double lo, double hi,
        double *out, struct ctl_err *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
	char field[64];
	snprintf(field, sizeof(field), "args.%s", key);
	if (!v) {
		if (required)
			return ctl_fail(e, "missing_field", field,
			                "%s is "
			                "required",
			                field);
		return 0;
	}
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
	    v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
	    v->valuedouble > hi)
		return ctl_fail(e, "bad_field", field,
		                "%s must be an "
		                "integer in [%.0f, %.0f]",
		                field, lo, hi);
	*out = v->valuedouble;
	return 0;
}

static int
cmd_status(struct ctl *d, const cJSON *args, cJSON *res, struct ctl_err *e)
{
	(void)args;
	(void)e;
	cJSON_AddStringToObject(res, "daemon", "netshare-control");
	cJSON_AddNumberToObject(res, "protocol", CTL_PROTO_VERSION);
	cJSON_AddNumberToObject(res, "pid", getpid());
	cJSON_AddNumberToObject(res, "uptime_s",
	                        (double)(ns_mono_ns() - d->started_mono_ns) /
	                            1e9);
	cJSON_AddNumberToObject(res, "requests", (double)d->requests);
	cJSON_AddStringToObject(res, "config_file", d->config_path);
	cJSON_AddStringToObject(res, "export", d->exp.state);
	cJSON_AddNumberToObject(res, "exporters", d->cfg.n_exporters);
	return 0;
}

static int
cmd_stats(struct ctl *d, const cJSON *args, cJSON *res, struct ctl_err *e)
{
	(void)args;
	(void)e;
	cJSON_AddItemToObject(res, "dataplane", ctl_dataplane_json(&d->cfg));
	cJSON_AddItemToObject(res, "learner", ctl_learner_json(&d->cfg));
	cJSON_AddItemToObject(res, "export", ctl_export_json(&d->exp));
	cJSON *o = cJSON_AddObjectToObject(res, "daemon");
	cJSON_AddNumberToObject(o, "requests", (double)d->requests);
	cJSON_AddNumberToObject(o, "errors", (double)d->errors);
	return 0;
}

static int
cmd_config_get(struct ctl *d, const cJSON *args, cJSON *res, struct ctl_err *e)
{
	const char *key = NULL;
	if (arg_str(args, "key", 0, &key, e))
		return -1;
	if (!key) {
		cJSON_AddItemToObject(res, "config", ctl_config_json(&d->cfg));
		return 0;
	}
	cJSON *v = ctl_config_get(&d->cfg, key);
	if (!v)
		return ctl_fail(e, "bad_field", "args.key",
		                "unknown config "
		                "key \"%.60s\"",
		                key);
	cJSON_AddStringToObject(res, "key", key);
	cJSON_AddItemToObject(res, "value", v);
	return 0;
}

static int
cmd_config_set(struct ctl *d, const cJSON *args, cJSON *res, struct ctl_err *e)
{
	const char *key = NULL;
	if (arg_str(args, "key", 1, &key, e))
		return -1;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "value");
	if (!v)
		return ctl_fail(e, "missing_field", "args.value",
		                "args.value "
		                "is required");
	if (ctl_config_set(&d->cfg, key, v, d->exp.running, e))
		return -1;
	cJSON_AddStringToObject(res, "key", key);
	cJSON_AddItemToObject(res, "value", ctl_config_get(&d->cfg, key));
	return 0;
}

static int
cmd_config_validate(struct ctl *d, const cJSON *args, cJSON *res,
                    struct ctl_err *e)
{
	(void)d;
	const char *path = NULL;
	const cJSON *doc = cJSON_GetObjectItemCaseSensitive(args, "config");
	if (arg_str(args, "path", 0, &path, e))
		return -1;
	if (!path == !doc)
		return ctl_fail(e, "missing_field", "args.path",
		                "give "
		                "args.path (a file) or args.config (an "
		                "object), one of them");
	struct ctl_config c;
	ctl_config_default(&c);
	if (path) {
		if (ctl_config_load(&c, path, e))
			return -1;
	} else {
		char *text = cJSON_PrintUnformatted(doc);
		if (!text)
			return ctl_fail(e, "internal", "", "out of memory");
		int rc =
		    ctl_config_parse(&c, text, strlen(text), "args.config", e);
		free(text);
		if (rc)
			return -1;
	}
	cJSON_AddBoolToObject(res, "valid", 1);
	return 0;
}

static int
cmd_config_save(struct ctl *d, const cJSON *args, cJSON *res,
                struct ctl_err *e)
{
	(void)args;
	if (ctl_config_save(&d->cfg, d->config_path, e))
		return -1;
	cJSON_AddStringToObject(res, "path", d->config_path);
	return 0;
}

static int
cmd_exporters_list(struct ctl *d, const cJSON *args, cJSON *res,
                   struct ctl_err *e)
{
	(void)args;
	(void)e;
	cJSON_AddItemToObject(res, "exporters",
	                      ctl_config_get(&d->cfg, "exporters"));
	return 0;
}

/* exporters.add / remove go through config.set on the whole list. */
static int
cmd_exporters_add(struct ctl *d, const cJSON *args, cJSON *res,
                  struct ctl_err *e)
{
	const char *col = NULL;
	double ver = 0;
	if (arg_str(args, "collector", 1, &col, e) ||
	    arg_int(args, "version", 1, 5, 10, &ver, e))
		return -1;
	if (ver != 5 && ver != 9 && ver != 10)
		return ctl_fail(e, "bad_field", "args.version",
		                "args.version "
		                "must be 5, 9 or 10");
	if (ctl_collector_check(col, "args.collector", e))
		return -1;
	cJSON *list = ctl_config_get(&d->cfg, "exporters");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "collector", col);
	cJSON_AddNumberToObject(o, "version", ver);
	cJSON_AddItemToArray(list, o);
	int rc = ctl_config_set(&d->cfg, "exporters", list, d->exp.running, e);
	cJSON_Delete(list);
	if (rc)
		return -1;
	return cmd_exporters_list(d, args, res, e);
}

static int
cmd_exporters_remove(struct ctl *d, const cJSON *args, cJSON *res,
                     struct ctl_err *e)
{
	const char *col = NULL;
	if (arg_str(args, "collector", 1, &col, e))
		return -1;
	cJSON *list = ctl_config_get(&d->cfg, "exporters");
	int found = 0;
	for (int i = cJSON_GetArraySize(list) - 1; i >= 0; i--) {
		cJSON *c = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetArrayItem(list, i), "collector");
		if (cJSON_IsString(c) && !strcmp(c->valuestring, col)) {
			cJSON_DeleteItemFromArray(list, i);
			found = 1;
		}
	}
	int rc = found ? ctl_config_set(&d->cfg, "exporters", list,
	                                d->exp.running, e)
	               : ctl_fail(e, "not_found", "args.collector",
	                          "no exporter %.80s", col);
	cJSON_Delete(list);
	if (rc)
		return -1;
	return cmd_exporters_list(d, args, res, e);
}

static int
cmd_export_start(struct ctl *d, const cJSON *args, cJSON *res,
                 struct ctl_err *e)
{
	(void)args;
	if (ctl_export_start(&d->exp, &d->cfg, e))
		return -1;
	cJSON_AddItemToObject(res, "export", ctl_export_json(&d->exp));
	return 0;
}

static int
cmd_export_stop(struct ctl *d, const cJSON *args, cJSON *res,
                struct ctl_err *e)
{
	(void)args;
	(void)e;
	cJSON_AddBoolToObject(res, "was_running", d->exp.running);
	ctl_export_stop(&d->exp, "stopped");
	cJSON_AddItemToObject(res, "export", ctl_export_json(&d->exp));
	return 0;
}

static int
cmd_generate(struct ctl *d, const cJSON *args, cJSON *res, struct ctl_err *e)
{
	const char *out = NULL, *model = d->cfg.export_model;
	double count = 0, seed = 1;
	if (arg_int(args, "count", 1, 1, CTL_GENERATE_MAX, &count, e) ||
	    arg_str(args, "out", 1, &out, e) ||
	    arg_str(args, "model", 0, &model, e) ||
	    arg_int(args, "seed", 0, 0, 9007199254740991.0, &seed, e))
		return -1;
	if (!model[0])
		return ctl_fail(e, "missing_field", "args.model",
		                "args.model "
		                "is required when export_model is not set");
	return ctl_generate(&d->cfg, model, (long)count, out, (uint64_t)seed,
	                    res, e);
}

static int
cmd_models_list(struct ctl *d, const cJSON *args, cJSON *res,
                struct ctl_err *e)
{
	(void)args;
	return ctl_models_json(&d->cfg, res, e);
}

static int
cmd_privacy(struct ctl *d, const cJSON *args, cJSON *res, struct ctl_err *e)
{
	const char *model = d->cfg.export_model;
	if (arg_str(args, "model", 0, &model, e))
		return -1;
	if (!model[0])
		return ctl_fail(e, "missing_field", "args.model",
		                "args.model "
		                "is required when export_model is not set");
	return ctl_privacy_json(&d->cfg, model, res, e);
}

static const struct ctl_cmd cmds[] = {
    {"status", cmd_status, {NULL}, "daemon state"},
    {"stats", cmd_stats, {NULL}, "dataplane, learner, export counters"},
    {"config.get", cmd_config_get, {"key"}, "the config or one key"},
    {"config.set",
     cmd_config_set,
     {"key", "value"},
     "set one key (validated whole first)"},
    {"config.validate",
     cmd_config_validate,
     {"path", "config"},
     "check a config file or object"},
    {"config.save",
     cmd_config_save,
     {NULL},
     "write the config file atomically"},
    {"exporters.list", cmd_exporters_list, {NULL}, "the collectors"},
    {"exporters.add",
     cmd_exporters_add,
     {"collector", "version"},
     "add a collector"},
    {"exporters.remove",
     cmd_exporters_remove,
     {"collector"},
     "remove a collector"},
    {"export.start", cmd_export_start, {NULL}, "start exporting"},
    {"export.stop", cmd_export_stop, {NULL}, "stop exporting"},
    {"generate",
     cmd_generate,
     {"count", "out", "model", "seed"},
     "synthetic records from a model to a file"},
    {"models.list", cmd_models_list, {NULL}, "model files"},
    {"privacy", cmd_privacy, {"model"}, "a model's privacy budget"},
};

static const struct ctl_cmd *
find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

static char *
finish(cJSON *reply)
{
	char *s = reply ? cJSON_PrintUnformatted(reply) : NULL;
	cJSON_Delete(reply);
	return s;
}

static cJSON *
error_json(const struct ctl_err *e)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "v", CTL_PROTO_VERSION);
	cJSON_AddBoolToObject(r, "ok", 0);
	cJSON *o = cJSON_AddObjectToObject(r, "error");
	cJSON_AddStringToObject(o, "code", e->code ? e->code : "internal");
	if (e->field[0])
		cJSON_AddStringToObject(o, "field", e->field);
	cJSON_AddStringToObject(o, "message", e->msg);
	return r;
}

char *
ctl_error_reply(const char *code, const char *field, const char *msg)
{
	struct ctl_err e;
	ctl_fail(&e, code, field, "%s", msg);
	return finish(error_json(&e));
}

/* Check the envelope; the command and args on success. */
static int
parse_request(const cJSON *req, const struct ctl_cmd **cmd, const cJSON **args,
              struct ctl_err *e)
{
	if (!cJSON_IsObject(req))
		return ctl_fail(e, "bad_request", "",
		                "a request is a JSON "
		                "object {\"v\":1,\"cmd\":...,\"args\":{...}}");
	for (const cJSON *k = req->child; k; k = k->next)
		if (strcmp(k->string, "v") && strcmp(k->string, "cmd") &&
		    strcmp(k->string, "args") && strcmp(k->string, "id"))
			return ctl_fail(e, "bad_field", "",
			                "unknown request "
			                "key \"%.60s\"",
			                k->string);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "v");
	if (!cJSON_IsNumber(v))
		return ctl_fail(e, "bad_field", "v",
		                "v must be the protocol "
		                "version number, 1");
	if (v->valuedouble != CTL_PROTO_VERSION)
		return ctl_fail(e, "bad_version", "v",
		                "protocol version %g "
		                "is not supported (this daemon speaks 1)",
		                v->valuedouble);
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(req, "cmd");
	if (!cJSON_IsString(c))
		return ctl_fail(e, "bad_field", "cmd", "cmd must be a string");
	*cmd = find_cmd(c->valuestring);
	if (!*cmd)
		return ctl_fail(e, "unknown_command", "cmd",
		                "unknown command "
		                "\"%.60s\"",
		                c->valuestring);
	*args = cJSON_GetObjectItemCaseSensitive(req, "args");
	if (*args && !cJSON_IsObject(*args) && !cJSON_IsNull(*args))
		return ctl_fail(e, "bad_field", "args",
		                "args must be an "
		                "object");
	if (*args && cJSON_IsNull(*args))
		*args = NULL;
	for (const cJSON *k = *args ? (*args)->child : NULL; k; k = k->next) {
		int ok = 0;
		for (int i = 0; i < 5 && (*cmd)->args[i]; i++)
			ok |= !strcmp(k->string, (*cmd)->args[i]);
		if (!ok)
			return ctl_fail(e, "bad_field", "args",
			                "%s takes no "
			                "argument \"%.60s\"",
			                (*cmd)->name, k->string);
	}
	return 0;
}

char *
ctl_handle(struct ctl *d, const char *buf, size_t len)
{
	struct ctl_err e = {0};
	const struct ctl_cmd *cmd = NULL;
	const cJSON *args = NULL;
	d->requests++;
	cJSON *req = cJSON_ParseWithLength(buf, len);
	if (!req) {
		d->errors++;
		ctl_fail(&e, "bad_json", "", "the request is not valid JSON");
		return finish(error_json(&e));
	}
	cJSON *reply;
	cJSON *res = cJSON_CreateObject();
	if (parse_request(req, &cmd, &args, &e) || cmd->fn(d, args, res, &e)) {
		d->errors++;
		cJSON_Delete(res);
		reply = error_json(&e);
	} else {
		reply = cJSON_CreateObject();
		cJSON_AddNumberToObject(reply, "v", CTL_PROTO_VERSION);
		cJSON_AddBoolToObject(reply, "ok", 1);
		cJSON_AddItemToObject(reply, "result", res);
	}
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
	if (id && reply)
		cJSON_AddItemToObject(reply, "id", cJSON_Duplicate(id, 1));
	cJSON_Delete(req);
	return finish(reply);
}
