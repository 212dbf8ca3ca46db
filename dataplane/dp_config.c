/* The dataplane's JSON config: one declarative table of scalar fields
 * (loader, defaults and printer share it) plus the port list. The whole
 * file is validated into a copy; only a valid config replaces c. */
#include "dp_config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netshare/parse.h"

#define NS_PER_SEC 1e9
#define MAX_CONFIG_BYTES (1u << 20)

enum field_type { F_U32, F_SECONDS, F_BOOL, F_TIMESTAMPS, F_NS_SECONDS };

struct field {
	const char *name;
	enum field_type type;
	size_t offset; /* into struct dp_config */
	double min, max;
	const char *help;
};

#define OFF(f) offsetof(struct dp_config, f)

static const struct field fields[] = {
	{"pkt_ring_size", F_U32, OFF(pkt_ring_size), 64, 1 << 26,
	 "packet records per RX queue ring"},
	{"flow_ring_size", F_U32, OFF(flow_ring_size), 64, 1 << 26,
	 "flow records per RX queue ring"},
	{"mbufs", F_U32, OFF(mbufs), 1023, 1 << 24, "mbufs in the pool"},
	{"rx_desc", F_U32, OFF(rx_desc), 64, 32768,
	 "RX descriptors per queue"},
	{"burst", F_U32, OFF(burst), 1, 64, "frames per rx_burst"},
	{"sample_one_in", F_U32, OFF(sample_one_in), 1, 1 << 30,
	 "keep one frame in N (1: every frame)"},
	{"timestamps", F_TIMESTAMPS, OFF(port_timestamps), 0, 1,
	 "\"wall\" (receive time) or \"port\" (the port's own, e.g. pcap)"},
	{"idle_sleep_us", F_U32, OFF(idle_sleep_us), 0, 1000000,
	 "sleep after an empty poll (0: busy poll)"},
	{"drain_wait_s", F_SECONDS, OFF(drain_wait_s), 0, 3600,
	 "at stop, wait this long for consumers to empty the rings"},
	{"stop_after_idle_s", F_SECONDS, OFF(stop_after_idle_s), 0, 1e9,
	 "stop by itself once no frame came for this long (0: never; for "
	 "replays of files)"},
	{"flow_table_size", F_U32, OFF(meter.max_flows), 16, 1 << 30,
	 "concurrent flows per RX queue"},
	{"active_timeout_s", F_NS_SECONDS, OFF(meter.active_timeout_ns), 0,
	 1e9, "split flows older than this (0: off)"},
	{"inactive_timeout_s", F_NS_SECONDS, OFF(meter.inactive_timeout_ns),
	 0, 1e9, "close flows idle this long (0: off)"},
	{"tcp_end", F_BOOL, OFF(meter.tcp_end), 0, 1,
	 "close a flow on its TCP FIN or RST"},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

void
dp_config_default(struct dp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->pkt_ring_size = 1u << 16;
	c->flow_ring_size = 1u << 14;
	c->mbufs = 8191;
	c->rx_desc = 1024;
	c->burst = 32;
	c->sample_one_in = 1;
	c->port_timestamps = 0;
	c->idle_sleep_us = 0;
	c->drain_wait_s = 2.0;
	ns_meter_config_default(&c->meter);
}

static int
fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	int n = snprintf(err, errlen, "%s: ", name);
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int
set_field(const struct field *f, const cJSON *v, struct dp_config *c,
	  const char *name, char *err, size_t errlen)
{
	void *p = (char *)c + f->offset;
	if (f->type == F_BOOL) {
		if (!cJSON_IsBool(v))
			return fail(err, errlen, name,
				    "field '%s' must be true or false", f->name);
		*(int *)p = cJSON_IsTrue(v);
		return 0;
	}
	if (f->type == F_TIMESTAMPS) {
		const char *s = cJSON_GetStringValue(v);
		if (!s || (strcmp(s, "wall") && strcmp(s, "port")))
			return fail(err, errlen, name,
				    "field '%s' must be \"wall\" or \"port\"",
				    f->name);
		*(int *)p = strcmp(s, "port") == 0;
		return 0;
	}
	if (!cJSON_IsNumber(v))
		return fail(err, errlen, name, "field '%s' must be a number",
			    f->name);
	double d = v->valuedouble;
	if (!(d >= f->min && d <= f->max))
		return fail(err, errlen, name,
			    "field '%s' is %g; it must be in [%g, %g]",
			    f->name, d, f->min, f->max);
	switch (f->type) {
	case F_U32:
		if (d != (double)(uint32_t)d)
			return fail(err, errlen, name,
				    "field '%s' must be a whole number",
				    f->name);
		*(uint32_t *)p = (uint32_t)d;
		break;
	case F_SECONDS:
		*(double *)p = d;
		break;
	case F_NS_SECONDS:
		*(uint64_t *)p = (uint64_t)(d * NS_PER_SEC + 0.5);
		break;
	default:
		break;
	}
	return 0;
}

static int
linktype_of(const cJSON *v, int *out)
{
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 &&
	    v->valuedouble <= 65535 &&
	    v->valuedouble == (double)(int)v->valuedouble) {
		*out = (int)v->valuedouble;
		return 0;
	}
	const char *s = cJSON_GetStringValue(v);
	if (s && strcmp(s, "ethernet") == 0)
		*out = 1;
	else if (s && strcmp(s, "raw") == 0)
		*out = NS_LINK_RAW;
	else
		return -1;
	return 0;
}

static int
copy_string(char *dst, size_t cap, const cJSON *v)
{
	const char *s = cJSON_GetStringValue(v);
	if (!s || strlen(s) >= cap)
		return -1;
	memset(dst, 0, cap);
	strcpy(dst, s);
	return 0;
}

/* Does a key before v in its object have v's name? (cJSON keeps both;
 * a config that says a thing twice is refused, not half-read.) */
static int
repeated_key(const cJSON *first, const cJSON *v)
{
	for (const cJSON *k = first; k && k != v; k = k->next)
		if (strcmp(k->string, v->string) == 0)
			return 1;
	return 0;
}

static int
load_port(const cJSON *o, unsigned i, struct dp_port_cfg *p,
	  const char *name, char *err, size_t errlen)
{
	if (!cJSON_IsObject(o))
		return fail(err, errlen, name, "ports[%u] must be an object",
			    i);
	memset(p, 0, sizeof(*p));
	p->queues = 1;
	p->linktype = 1;
	const cJSON *v;
	cJSON_ArrayForEach(v, o)
	{
		if (repeated_key(o->child, v))
			return fail(err, errlen, name,
				    "ports[%u] gives '%s' twice", i,
				    v->string);
		if (strcmp(v->string, "name") == 0) {
			if (copy_string(p->name, sizeof(p->name), v) ||
			    !p->name[0])
				return fail(err, errlen, name,
					    "ports[%u].name must be a "
					    "device name of 1 to %zu "
					    "characters",
					    i, sizeof(p->name) - 1);
		} else if (strcmp(v->string, "devargs") == 0) {
			if (copy_string(p->devargs, sizeof(p->devargs), v))
				return fail(err, errlen, name,
					    "ports[%u].devargs must be a "
					    "string under %zu characters",
					    i, sizeof(p->devargs));
		} else if (strcmp(v->string, "queues") == 0) {
			if (!cJSON_IsNumber(v) || v->valuedouble < 1 ||
			    v->valuedouble > NS_DP_MAX_QUEUES ||
			    v->valuedouble != (int)v->valuedouble)
				return fail(err, errlen, name,
					    "ports[%u].queues must be a "
					    "whole number in [1, %d]",
					    i, NS_DP_MAX_QUEUES);
			p->queues = (uint16_t)v->valuedouble;
		} else if (strcmp(v->string, "linktype") == 0) {
			if (linktype_of(v, &p->linktype) ||
			    !ns_linktype_supported(p->linktype))
				return fail(err, errlen, name,
					    "ports[%u].linktype must be "
					    "\"ethernet\", \"raw\" or a "
					    "supported LINKTYPE_ number",
					    i);
		} else {
			return fail(err, errlen, name,
				    "ports[%u]: unknown field '%s' (known: "
				    "name, devargs, queues, linktype)",
				    i, v->string);
		}
	}
	if (!p->name[0])
		return fail(err, errlen, name, "ports[%u] needs a name", i);
	return 0;
}

static int
load_ports(const cJSON *a, struct dp_config *c, const char *name,
	   char *err, size_t errlen)
{
	if (!cJSON_IsArray(a))
		return fail(err, errlen, name,
			    "field 'ports' must be an array");
	int n = cJSON_GetArraySize(a);
	if (n < 1 || n > NS_DP_MAX_PORTS)
		return fail(err, errlen, name,
			    "field 'ports' needs 1 to %d ports, has %d",
			    NS_DP_MAX_PORTS, n);
	unsigned total = 0;
	for (int i = 0; i < n; i++) {
		if (load_port(cJSON_GetArrayItem(a, i), (unsigned)i,
			      &c->port[i], name, err, errlen))
			return -1;
		for (int j = 0; j < i; j++)
			if (strcmp(c->port[j].name, c->port[i].name) == 0)
				return fail(err, errlen, name,
					    "ports[%d] repeats device '%s'",
					    i, c->port[i].name);
		total += c->port[i].queues;
	}
	if (total > NS_DP_MAX_QUEUES)
		return fail(err, errlen, name,
			    "%u RX queues in all; at most %d", total,
			    NS_DP_MAX_QUEUES);
	c->n_ports = (unsigned)n;
	return 0;
}

static int
load_lcores(const cJSON *a, struct dp_config *c, const char *name,
	    char *err, size_t errlen)
{
	int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
	if (n < 1 || n > NS_DP_MAX_QUEUES)
		return fail(err, errlen, name,
			    "field 'lcores' must be an array of 1 to %d lcore "
			    "ids",
			    NS_DP_MAX_QUEUES);
	for (int i = 0; i < n; i++) {
		const cJSON *v = cJSON_GetArrayItem(a, i);
		if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
		    v->valuedouble > 1023 ||
		    v->valuedouble != (int)v->valuedouble)
			return fail(err, errlen, name,
				    "lcores[%d] must be an lcore id in [0, "
				    "1023]",
				    i);
		c->lcores[i] = (uint16_t)v->valuedouble;
	}
	c->n_lcores = (unsigned)n;
	return 0;
}

int
dp_config_parse(const char *json, size_t len, const char *name,
		struct dp_config *c, char *err, size_t errlen)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		long off = at && at >= json && at <= json + len
				   ? (long)(at - json)
				   : -1;
		return fail(err, errlen, name,
			    "not valid JSON (near byte %ld)", off);
	}
	struct dp_config tmp = *c;
	int rc = 0;
	if (!cJSON_IsObject(root)) {
		rc = fail(err, errlen, name, "the config must be an object");
		goto out;
	}
	const cJSON *v;
	cJSON_ArrayForEach(v, root)
	{
		if (repeated_key(root->child, v)) {
			rc = fail(err, errlen, name, "field '%s' is given twice",
				  v->string);
			goto out;
		}
		if (strcmp(v->string, "ports") == 0) {
			if ((rc = load_ports(v, &tmp, name, err, errlen)))
				goto out;
			continue;
		}
		if (strcmp(v->string, "lcores") == 0) {
			if ((rc = load_lcores(v, &tmp, name, err, errlen)))
				goto out;
			continue;
		}
		if (v->string[0] == '_') /* "_comment" and the like */
			continue;
		const struct field *f = NULL;
		for (size_t i = 0; i < N_FIELDS; i++)
			if (strcmp(fields[i].name, v->string) == 0)
				f = &fields[i];
		if (!f) {
			rc = fail(err, errlen, name, "unknown field '%s'",
				  v->string);
			goto out;
		}
		if ((rc = set_field(f, v, &tmp, name, err, errlen)))
			goto out;
	}
	if (tmp.n_ports == 0) {
		rc = fail(err, errlen, name,
			  "field 'ports' is missing: name at least one port");
		goto out;
	}
	if (tmp.mbufs < tmp.rx_desc * 2) {
		rc = fail(err, errlen, name,
			  "field 'mbufs' (%u) must be at least twice "
			  "'rx_desc' (%u)",
			  tmp.mbufs, tmp.rx_desc);
		goto out;
	}
	*c = tmp;
out:
	cJSON_Delete(root);
	return rc;
}

int
dp_config_load(const char *path, struct dp_config *c, char *err,
	       size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return fail(err, errlen, path, "cannot open: %s",
			    strerror(errno));
	char *buf = malloc(MAX_CONFIG_BYTES + 1);
	size_t n = buf ? fread(buf, 1, MAX_CONFIG_BYTES + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	int rc;
	if (!buf)
		rc = fail(err, errlen, path, "out of memory");
	else if (bad)
		rc = fail(err, errlen, path, "read error");
	else if (n > MAX_CONFIG_BYTES)
		rc = fail(err, errlen, path, "larger than %u bytes",
			  MAX_CONFIG_BYTES);
	else
		rc = dp_config_parse(buf, n, path, c, err, errlen);
	free(buf);
	return rc;
}

void
dp_config_print(const struct dp_config *c, FILE *f)
{
	fprintf(f, "{\n  \"ports\": [");
	for (unsigned i = 0; i < c->n_ports; i++)
		fprintf(f,
			"%s\n    {\"name\": \"%s\", \"devargs\": \"%s\", "
			"\"queues\": %u, \"linktype\": %d}",
			i ? "," : "", c->port[i].name, c->port[i].devargs,
			c->port[i].queues, c->port[i].linktype);
	fprintf(f, "\n  ]");
	if (c->n_lcores) {
		fprintf(f, ",\n  \"lcores\": [");
		for (unsigned i = 0; i < c->n_lcores; i++)
			fprintf(f, "%s%u", i ? ", " : "", c->lcores[i]);
		fprintf(f, "]");
	}
	for (size_t i = 0; i < N_FIELDS; i++) {
		const struct field *fl = &fields[i];
		const void *p = (const char *)c + fl->offset;
		fprintf(f, ",\n  \"%s\": ", fl->name);
		switch (fl->type) {
		case F_U32:
			fprintf(f, "%u", *(const uint32_t *)p);
			break;
		case F_SECONDS:
			fprintf(f, "%g", *(const double *)p);
			break;
		case F_NS_SECONDS:
			fprintf(f, "%g", *(const uint64_t *)p / NS_PER_SEC);
			break;
		case F_BOOL:
			fprintf(f, "%s", *(const int *)p ? "true" : "false");
			break;
		case F_TIMESTAMPS:
			fprintf(f, "\"%s\"", *(const int *)p ? "port" : "wall");
			break;
		}
	}
	fprintf(f, "\n}\n");
}
