/* The daemon's JSON config: one declarative table of fields drives the
 * loader, the defaults, config.get/set and the printer. A document or a
 * set is validated whole on a copy before anything applies. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

enum ftype { T_STR, T_INT, T_BOOL, T_EXPORTERS };

struct field {
	const char *name;
	enum ftype type;
	size_t off, size; /* T_STR: buffer size */
	double min, max;  /* T_INT */
	double def;       /* T_INT, T_BOOL */
	const char *sdef; /* T_STR */
	int restart;      /* read at start-up only: set refuses */
	int idle_only;    /* set refuses while an export runs */
	const char *help;
};

#define OFF(f) offsetof(struct ctl_config, f)
#define STR(f) OFF(f), sizeof(((struct ctl_config *)0)->f)

static const struct field fields[] = {
    {"socket", T_STR, STR(socket), 0, 0, 0, CTL_DEFAULT_SOCKET, 1, 0,
     "nanomsg URL of the control socket"},
    {"tcp_port", T_INT, OFF(tcp_port), 0, 0, 65535, 0, NULL, 1, 0,
     "also listen on tcp://127.0.0.1:PORT (0: no)"},
    {"dataplane_prefix", T_STR, STR(dataplane_prefix), 0, 0, 0, "ns", 0, 0,
     "DPDK --file-prefix of the dataplane"},
    {"dataplane_bin", T_STR, STR(dataplane_bin), 0, 0, 0, "netshare-dataplane",
     0, 0, "dataplane binary for its counters"},
    {"learner_status", T_STR, STR(learner_status), 0, 0, 0,
     "/run/netshare/train-status.json", 0, 0, "netshare-train --status file"},
    {"models_dir", T_STR, STR(models_dir), 0, 0, 0, "/var/lib/netshare/models",
     0, 0, "directory of model files"},
    {"exporters", T_EXPORTERS, 0, 0, 0, 0, 0, NULL, 0, 1,
     "collectors: [{\"collector\": \"HOST:PORT\", \"version\": 5|9|10}]"},
    {"export_rate", T_INT, OFF(export_rate), 0, 0, 100000000,
     NS_EXPORT_RATE_DEFAULT, NULL, 0, 1, "records per second (0: unpaced)"},
    {"mtu", T_INT, OFF(mtu), 0, NS_EXPORT_MTU_MIN, NS_EXPORT_MTU_MAX,
     NS_EXPORT_MTU_DEFAULT, NULL, 0, 1, "most UDP payload octets"},
    {"template_interval", T_INT, OFF(template_interval), 0, 0, 86400,
     NS_EXPORT_TEMPLATE_MS_DEFAULT / 1000, NULL, 0, 1,
     "resend templates every S seconds (0: by count only)"},
    {"template_packets", T_INT, OFF(template_packets), 0, 0, 1000000000,
     NS_EXPORT_TEMPLATE_PACKETS_DEFAULT, NULL, 0, 1,
     "resend templates every N packets (0: by time only)"},
    {"export_model", T_STR, STR(export_model), 0, 0, 0, "", 0, 1,
     "model file to export synthetic flows from"},
    {"export_flows", T_STR, STR(export_flows), 0, 0, 0, "", 0, 1,
     "flow CSV to export (instead of a model)"},
    {"export_loop", T_BOOL, OFF(export_loop), 0, 0, 1, 0, NULL, 0, 1,
     "start the CSV over at its end"},
    {"export_limit", T_INT, OFF(export_limit), 0, 0, 2147483647, 0, NULL, 0, 1,
     "records per export.start (0: no limit)"},
    {"wall_clock", T_BOOL, OFF(wall_clock), 0, 0, 1, 1, NULL, 0, 1,
     "shift flow times onto the wall clock"},
    {"ipfix_seq_flows", T_BOOL, OFF(ipfix_seq_flows), 0, 0, 1, 0, NULL, 0, 1,
     "IPFIX sequence numbers count flow records only"},
};
#define N_FIELDS (sizeof(fields) / sizeof(*fields))

int
ctl_fail(struct ctl_err *e, const char *code, const char *field,
         const char *fmt, ...)
{
	va_list ap;
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static const struct field *
find(const char *name)
{
	for (size_t i = 0; i < N_FIELDS; i++)
		if (!strcmp(fields[i].name, name))
			return &fields[i];
	return NULL;
}

void
ctl_config_default(struct ctl_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_FIELDS; i++) {
		const struct field *f = &fields[i];
		char *p = (char *)c + f->off;
		if (f->type == T_STR)
			snprintf(p, f->size, "%s", f->sdef);
		else if (f->type == T_INT || f->type == T_BOOL)
			*(int *)p = (int)f->def;
	}
}

int
ctl_collector_check(const char *s, const char *field, struct ctl_err *e)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || strlen(s) >= 80)
		return ctl_fail(e, "bad_field", field,
		                "%s: \"%s\" is not "
		                "HOST:PORT",
		                field, s);
	if (s[0] == '[' && colon[-1] != ']')
		return ctl_fail(e, "bad_field", field,
		                "%s: \"%s\": an IPv6 "
		                "address goes in brackets, [ADDR]:PORT",
		                field, s);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return ctl_fail(e, "bad_field", field,
		                "%s: \"%s\": the port "
		                "must be 1..65535",
		                field, s);
	return 0;
}

static int
set_exporters(struct ctl_config *c, const cJSON *v, const char *field,
              struct ctl_err *e)
{
	if (!cJSON_IsArray(v))
		return ctl_fail(e, "bad_field", field,
		                "%s must be an array "
		                "of {\"collector\", \"version\"}",
		                field);
	unsigned n = 0;
	char fn[64];
	memset(c->exporters, 0, sizeof(c->exporters));
	for (const cJSON *it = v->child; it; it = it->next, n++) {
		snprintf(fn, sizeof(fn), "%s[%u]", field, n);
		if (n == NS_COLLECTORS_MAX)
			return ctl_fail(e, "bad_field", field,
			                "%s: at most "
			                "%d exporters",
			                field, NS_COLLECTORS_MAX);
		if (!cJSON_IsObject(it))
			return ctl_fail(e, "bad_field", fn,
			                "%s must be an "
			                "object",
			                fn);
		for (const cJSON *k = it->child; k; k = k->next)
			if (strcmp(k->string, "collector") &&
			    strcmp(k->string, "version"))
				return ctl_fail(e, "bad_field", fn,
				                "%s: "
				                "unknown key \"%s\"",
				                fn, k->string);
		const cJSON *col =
		    cJSON_GetObjectItemCaseSensitive(it, "collector");
		const cJSON *ver =
		    cJSON_GetObjectItemCaseSensitive(it, "version");
		char sub[80];
		snprintf(sub, sizeof(sub), "%s.collector", fn);
		if (!cJSON_IsString(col))
			return ctl_fail(e, "bad_field", sub,
			                "%s must be a "
			                "string \"HOST:PORT\"",
			                sub);
		if (ctl_collector_check(col->valuestring, sub, e))
			return -1;
		snprintf(sub, sizeof(sub), "%s.version", fn);
		if (!cJSON_IsNumber(ver) ||
		    (ver->valuedouble != 5 && ver->valuedouble != 9 &&
		     ver->valuedouble != 10))
			return ctl_fail(e, "bad_field", sub,
			                "%s must be 5, "
			                "9 or 10",
			                sub);
		struct ctl_exporter *x = &c->exporters[n];
		snprintf(x->collector, sizeof(x->collector), "%s",
		         col->valuestring);
		x->version = (int)ver->valuedouble;
	}
	c->n_exporters = n;
	return 0;
}

/* Store v into field f of c, checking its type and range. */
static int
set_field(struct ctl_config *c, const struct field *f, const cJSON *v,
          struct ctl_err *e)
{
	char *p = (char *)c + f->off;
	switch (f->type) {
	case T_STR:
		if (!cJSON_IsString(v))
			return ctl_fail(e, "bad_field", f->name,
			                "%s must be "
			                "a string",
			                f->name);
		if (strlen(v->valuestring) >= f->size)
			return ctl_fail(e, "bad_field", f->name,
			                "%s is "
			                "longer than %zu characters",
			                f->name, f->size - 1);
		memset(p, 0, f->size); /* no stale tail: configs compare */
		memcpy(p, v->valuestring, strlen(v->valuestring));
		return 0;
	case T_BOOL:
		if (!cJSON_IsBool(v))
			return ctl_fail(e, "bad_field", f->name,
			                "%s must be "
			                "true or false",
			                f->name);
		*(int *)p = cJSON_IsTrue(v);
		return 0;
	case T_INT:
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
		    v->valuedouble != floor(v->valuedouble) ||
		    v->valuedouble < f->min || v->valuedouble > f->max)
			return ctl_fail(e, "bad_field", f->name,
			                "%s must be "
			                "an integer in [%.0f, %.0f]",
			                f->name, f->min, f->max);
		*(int *)p = (int)v->valuedouble;
		return 0;
	case T_EXPORTERS:
		return set_exporters(c, v, f->name, e);
	}
	return ctl_fail(e, "internal", f->name, "unknown field type");
}

int
ctl_config_check(const struct ctl_config *c, struct ctl_err *e)
{
	if (!c->socket[0])
		return ctl_fail(e, "bad_field", "socket",
		                "socket must not "
		                "be empty");
	if (!c->dataplane_prefix[0] || strpbrk(c->dataplane_prefix, "/ \t"))
		return ctl_fail(e, "bad_field", "dataplane_prefix",
		                "dataplane_prefix must be a non-empty name "
		                "without '/' or spaces");
	if (c->export_model[0] && c->export_flows[0])
		return ctl_fail(e, "bad_field", "export_flows",
		                "set "
		                "export_model or export_flows, not both");
	for (unsigned i = 0; i < c->n_exporters; i++)
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(c->exporters[i].collector,
			            c->exporters[j].collector)) {
				char fn[48];
				snprintf(fn, sizeof(fn), "exporters[%u]", i);
				return ctl_fail(e, "bad_field", fn,
				                "%s: "
				                "collector %s is listed "
				                "twice",
				                fn, c->exporters[i].collector);
			}
	return 0;
}

int
ctl_config_parse(struct ctl_config *c, const char *text, size_t len,
                 const char *path, struct ctl_err *e)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	if (!root)
		return ctl_fail(e, "bad_json", "", "%s: invalid JSON", path);
	int rc = -1;
	struct ctl_config next;
	ctl_config_default(&next);
	if (!cJSON_IsObject(root)) {
		ctl_fail(e, "bad_config", "",
		         "%s: the top level must be an "
		         "object",
		         path);
		goto out;
	}
	for (const cJSON *it = root->child; it; it = it->next) {
		if (!strcmp(it->string, "version")) {
			if (!cJSON_IsNumber(it) || it->valuedouble != 1) {
				ctl_fail(e, "bad_field", "version",
				         "%s: "
				         "\"version\" must be 1",
				         path);
				goto out;
			}
			continue;
		}
		const struct field *f = find(it->string);
		if (!f) {
			ctl_fail(e, "bad_field", it->string,
			         "%s: unknown "
			         "field \"%.60s\"",
			         path, it->string);
			goto out;
		}
		if (set_field(&next, f, it, e) || ctl_config_check(&next, e))
			goto prefix;
	}
	if (ctl_config_check(&next, e))
		goto prefix;
	*c = next; /* all or nothing */
	rc = 0;
	goto out;
prefix : {
	char msg[sizeof(e->msg) + CTL_PATH_MAX + 2];
	snprintf(msg, sizeof(msg), "%s: %s", path, e->msg);
	msg[sizeof(e->msg) - 1] = 0; /* cut to fit */
	memcpy(e->msg, msg, sizeof(e->msg));
}
out:
	cJSON_Delete(root);
	return rc;
}

int
ctl_config_load(struct ctl_config *c, const char *path, struct ctl_err *e)
{
	struct stat st;
	if (stat(path, &st) || !S_ISREG(st.st_mode) || st.st_size > 1 << 20)
		return ctl_fail(e, "io", "",
		                "%s: not a readable config file "
		                "(a regular file of at most 1 MiB)",
		                path);
	size_t len;
	char *text = ns_slurp(path, &len);
	if (!text)
		return ctl_fail(e, "io", "", "%s: cannot read the config",
		                path);
	int rc = ctl_config_parse(c, text, len, path, e);
	free(text);
	return rc;
}

static cJSON *
field_json(const struct ctl_config *c, const struct field *f)
{
	const char *p = (const char *)c + f->off;
	switch (f->type) {
	case T_STR:
		return cJSON_CreateString(p);
	case T_BOOL:
		return cJSON_CreateBool(*(const int *)p);
	case T_INT:
		return cJSON_CreateNumber(*(const int *)p);
	case T_EXPORTERS: {
		cJSON *a = cJSON_CreateArray();
		for (unsigned i = 0; a && i < c->n_exporters; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "collector",
			                        c->exporters[i].collector);
			cJSON_AddNumberToObject(o, "version",
			                        c->exporters[i].version);
			cJSON_AddItemToArray(a, o);
		}
		return a;
	}
	}
	return NULL;
}

cJSON *
ctl_config_json(const struct ctl_config *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "version", 1);
	for (size_t i = 0; i < N_FIELDS; i++)
		cJSON_AddItemToObject(o, fields[i].name,
		                      field_json(c, &fields[i]));
	return o;
}

cJSON *
ctl_config_get(const struct ctl_config *c, const char *key)
{
	const struct field *f = find(key);
	return f ? field_json(c, f) : NULL;
}

int
ctl_config_set(struct ctl_config *c, const char *key, const cJSON *v,
               int running, struct ctl_err *e)
{
	const struct field *f = find(key);
	if (!f)
		return ctl_fail(e, "bad_field", "args.key",
		                "unknown config "
		                "key \"%.60s\"",
		                key);
	if (f->restart)
		return ctl_fail(e, "read_only", "args.key",
		                "%s is read at "
		                "start-up only: edit the file and restart",
		                f->name);
	if (f->idle_only && running)
		return ctl_fail(e, "busy", "args.key",
		                "%s cannot change "
		                "while an export runs: export.stop first",
		                f->name);
	struct ctl_config next = *c;
	if (set_field(&next, f, v, e) || ctl_config_check(&next, e))
		return -1;
	*c = next;
	return 0;
}

int
ctl_config_save(const struct ctl_config *c, const char *path,
                struct ctl_err *e)
{
	if (!path || !path[0])
		return ctl_fail(e, "no_config_file", "",
		                "the daemon was "
		                "started without a config file to save to");
	cJSON *o = ctl_config_json(c);
	char *s = o ? cJSON_Print(o) : NULL;
	cJSON_Delete(o);
	if (!s)
		return ctl_fail(e, "internal", "", "out of memory");
	size_t n = strlen(s);
	char *text = malloc(n + 2);
	if (text) {
		memcpy(text, s, n);
		text[n++] = '\n';
	}
	free(s);
	int rc = text ? ns_write_file_atomic(path, text, n) : -1;
	free(text);
	if (rc)
		return ctl_fail(e, "io", "", "%s: cannot write: %m", path);
	return 0;
}
