/* netshare-control: the control daemon's state, config table, command
 * handler and export engine. The socket loop (ctl_main.c) feeds request
 * buffers to ctl_handle(), which the fuzz target calls directly. */
#ifndef NETSHARE_CTL_H
#define NETSHARE_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "netshare/export.h"
#include "netshare/trace.h"

#define CTL_PROTO_VERSION 1
#define CTL_PATH_MAX 256
#define CTL_REQUEST_MAX (1u << 20)    /* larger: a too_large reply */
#define CTL_RECV_HARD_MAX (128 << 20) /* larger: nanomsg drops it */
#define CTL_DEFAULT_SOCKET "ipc:///run/netshare/control.sock"
#define CTL_DEFAULT_CONFIG "/etc/netshare/control.json"
#define CTL_GENERATE_MAX 10000000

struct ctl_exporter {
	char collector[80]; /* "HOST:PORT" or "[V6]:PORT" */
	int version;        /* 5, 9, 10 */
};

struct ctl_config {
	char socket[CTL_PATH_MAX];
	int tcp_port; /* 0: no TCP endpoint */
	char dataplane_prefix[64];
	char dataplane_bin[CTL_PATH_MAX];
	char learner_status[CTL_PATH_MAX];
	char models_dir[CTL_PATH_MAX];
	unsigned n_exporters;
	struct ctl_exporter exporters[NS_COLLECTORS_MAX];
	int export_rate;
	int mtu;
	int template_interval; /* s */
	int template_packets;
	char export_model[CTL_PATH_MAX];
	char export_flows[CTL_PATH_MAX];
	int export_loop;
	int export_limit; /* records per start, 0: no limit */
	int wall_clock;
	int ipfix_seq_flows; /* IPFIX sequence counts flows only */
};

/* Errors: a code from the protocol, the field at fault, a sentence. */
struct ctl_err {
	const char *code;
	char field[64];
	char msg[384];
};
int ctl_fail(struct ctl_err *e, const char *code, const char *field,
             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ctl_config.c: one table of fields for loader, get/set and printer. */
void ctl_config_default(struct ctl_config *c);
/* Parse a whole config document onto defaults and validate it; *c is
 * written only on success. path names the source in messages. */
int ctl_config_parse(struct ctl_config *c, const char *text, size_t len,
                     const char *path, struct ctl_err *e);
int ctl_config_load(struct ctl_config *c, const char *path, struct ctl_err *e);
/* The cross-field checks every loaded or set config passes. */
int ctl_config_check(const struct ctl_config *c, struct ctl_err *e);
/* Whole config, or one key, as JSON (NULL: unknown key). */
cJSON *ctl_config_json(const struct ctl_config *c);
cJSON *ctl_config_get(const struct ctl_config *c, const char *key);
/* Set key to v on a copy, validate the copy whole, then commit. */
int ctl_config_set(struct ctl_config *c, const char *key, const cJSON *v,
                   int running, struct ctl_err *e);
int ctl_config_save(const struct ctl_config *c, const char *path,
                    struct ctl_err *e);
/* "HOST:PORT" syntax (no lookup). */
int ctl_collector_check(const char *s, const char *field, struct ctl_err *e);

/* ctl_export.c: paced export that never blocks the poll loop. */
struct ctl_sink {
	struct ns_export ex;
	struct ns_sender snd;
};

struct ctl_export {
	int running;
	const char *state; /* "idle", "running", "finished", "stopped",
	                      "failed" */
	char source[CTL_PATH_MAX + 8];
	char last_error[384];
	struct ns_flow_trace trace; /* CSV, or the current model batch */
	size_t pos;
	void *model; /* struct ctl_model (ctl_export.c), or NULL */
	int loop, wall_clock;
	uint64_t pass_end_ns, shift_ns, vnow_ns, loops;
	unsigned n_sinks;
	struct ctl_sink *sinks;
	uint8_t *buf;
	unsigned mtu;
	uint64_t rate;
	struct ns_pacer pacer;
	uint64_t limit, records_in; /* source records taken */
	uint64_t send_failures, started_unix_ms, stopped_unix_ms;
	uint64_t start_mono_ns, stop_mono_ns;
};

int ctl_export_start(struct ctl_export *x, const struct ctl_config *c,
                     struct ctl_err *e);
void ctl_export_stop(struct ctl_export *x, const char *state);
/* Send what is due now; returns the ms until the next tick (-1: idle). */
int ctl_export_tick(struct ctl_export *x);
cJSON *ctl_export_json(const struct ctl_export *x);

/* The daemon. */
struct ctl {
	struct ctl_config cfg;
	char config_path[CTL_PATH_MAX]; /* "" : config.save refuses */
	struct ctl_export exp;
	uint64_t started_mono_ns;
	uint64_t requests, errors;
	int stop;
};

void ctl_init(struct ctl *d, const struct ctl_config *cfg,
              const char *config_path);
void ctl_free(struct ctl *d);

/* One request buffer in, one reply out (malloc'd NUL-terminated JSON,
 * never NULL unless out of memory). */
char *ctl_handle(struct ctl *d, const char *req, size_t len);
/* The reply to a request that was not read (too large). */
char *ctl_error_reply(const char *code, const char *field, const char *msg);

/* ctl_info.c: stats, models and privacy. */
cJSON *ctl_dataplane_json(const struct ctl_config *c);
cJSON *ctl_learner_json(const struct ctl_config *c);
int ctl_models_json(const struct ctl_config *c, cJSON *out, struct ctl_err *e);
int ctl_model_path(const struct ctl_config *c, const char *name,
                   const char *field, char *path, size_t n, struct ctl_err *e);
int ctl_privacy_json(const struct ctl_config *c, const char *name, cJSON *out,
                     struct ctl_err *e);
int ctl_generate(const struct ctl_config *c, const char *model, long count,
                 const char *out, uint64_t seed, cJSON *res,
                 struct ctl_err *e);

#endif
