/* What the daemon reports beside its own state: the dataplane's counters
 * (through netshare-dataplane --stats --json), the learner's progress
 * file, the models directory, privacy, and generation to a file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "ctl.h"
#include "dg.h"

#define DP_TIMEOUT_MS 5000
#define DP_OUT_MAX (1 << 20)
#define STATUS_MAX (64 << 10)
#define STATUS_STALE_S 30

/* Does a DPDK primary with this prefix have a runtime config? */
static int
dp_runtime_exists(const char *prefix)
{
	char path[512];
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *dirs[3] = {"/var/run/dpdk", NULL, "/tmp/dpdk"};
	char xdgdir[256];
	if (xdg && geteuid() != 0) {
		snprintf(xdgdir, sizeof(xdgdir), "%s/dpdk", xdg);
		dirs[1] = xdgdir;
	}
	for (int i = 0; i < 3; i++) {
		if (!dirs[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s/config", dirs[i], prefix);
		if (access(path, F_OK) == 0)
			return 1;
	}
	return 0;
}

/* Run argv with stdout to a pipe for at most DP_TIMEOUT_MS; the output
 * (malloc'd) or NULL, with the exit status in *status. */
static char *
run_capture(char *const argv[], int *status)
{
	int fd[2];
	if (pipe2(fd, O_CLOEXEC))
		return NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		return NULL;
	}
	if (pid == 0) {
		dup2(fd[1], STDOUT_FILENO);
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fd[1]);
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left =
		    DP_TIMEOUT_MS - ((t.tv_sec - t0.tv_sec) * 1000 +
		                     (t.tv_nsec - t0.tv_nsec) / 1000000);
		struct pollfd p = {.fd = fd[0], .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (buf && n + 1 == cap) {
			char *nb =
			    cap < DP_OUT_MAX ? realloc(buf, cap *= 2) : NULL;
			if (!nb) {
				kill(pid, SIGKILL);
				break;
			}
			buf = nb;
		}
		ssize_t r = read(fd[0], buf + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd[0]);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	if (buf)
		buf[n] = 0;
	return buf;
}

cJSON *
ctl_dataplane_json(const struct ctl_config *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "prefix", c->dataplane_prefix);
	if (!dp_runtime_exists(c->dataplane_prefix)) {
		cJSON_AddStringToObject(o, "state", "not running");
		return o;
	}
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "%s", c->dataplane_prefix);
	char *argv[] = {(char *)c->dataplane_bin,
	                "-l",
	                "0",
	                "--no-pci",
	                "--log-level",
	                "0",
	                "--file-prefix",
	                prefix,
	                /* where the primaries map their memory (the
	                   dataplane README): free in a secondary too */
	                "--base-virtaddr=0x200000000000",
	                "--",
	                "--stats",
	                "--json",
	                NULL};
	int status = 0;
	char *out = run_capture(argv, &status);
	cJSON *j = out && WIFEXITED(status) && WEXITSTATUS(status) == 0
	               ? cJSON_Parse(out)
	               : NULL;
	free(out);
	if (!j) {
		cJSON_AddStringToObject(o, "state", "not running");
		cJSON_AddStringToObject(o, "error",
		                        "a runtime directory exists but "
		                        "the counters could not be read");
		return o;
	}
	cJSON_AddStringToObject(o, "state", "running");
	cJSON_AddItemToObject(o, "counters", j);
	return o;
}

cJSON *
ctl_learner_json(const struct ctl_config *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status_file", c->learner_status);
	struct stat st;
	if (!c->learner_status[0] || stat(c->learner_status, &st) ||
	    !S_ISREG(st.st_mode)) {
		cJSON_AddStringToObject(o, "state", "not running");
		return o;
	}
	if (st.st_size > STATUS_MAX) {
		cJSON_AddStringToObject(o, "state", "unknown");
		cJSON_AddStringToObject(o, "error", "status file too large");
		return o;
	}
	size_t len;
	char *text = ns_slurp(c->learner_status, &len);
	cJSON *j = text ? cJSON_ParseWithLength(text, len) : NULL;
	free(text);
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(j, "state");
	if (!cJSON_IsObject(j) || !cJSON_IsString(state)) {
		cJSON_Delete(j);
		cJSON_AddStringToObject(o, "state", "unknown");
		cJSON_AddStringToObject(o, "error", "unreadable status file");
		return o;
	}
	double age = difftime(time(NULL), st.st_mtime);
	int stale =
	    !strcmp(state->valuestring, "training") && age > STATUS_STALE_S;
	cJSON_AddStringToObject(o, "state",
	                        stale ? "stale" : state->valuestring);
	cJSON_AddNumberToObject(o, "age_s", age);
	cJSON_AddItemToObject(o, "progress", j);
	return o;
}

static int
ends_with(const char *s, const char *suf);

/* The newest checkpoint in models_dir (sidecar .json files aside), by
 * modification time, then name: what "latest" names. */
static int
newest_model(const struct ctl_config *c, char *name, size_t n)
{
	DIR *dir = opendir(c->models_dir);
	if (!dir)
		return -1;
	struct dirent *de;
	struct timespec best = {0, 0};
	name[0] = 0;
	while ((de = readdir(dir))) {
		char path[CTL_PATH_MAX * 2];
		struct stat st;
		if (de->d_name[0] == '.' || ends_with(de->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", c->models_dir,
		         de->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		struct timespec t = st.st_mtim;
		if (!name[0] || t.tv_sec > best.tv_sec ||
		    (t.tv_sec == best.tv_sec && t.tv_nsec > best.tv_nsec) ||
		    (t.tv_sec == best.tv_sec && t.tv_nsec == best.tv_nsec &&
		     strcmp(de->d_name, name) > 0)) {
			best = t;
			snprintf(name, n, "%s", de->d_name);
		}
	}
	closedir(dir);
	return name[0] ? 0 : -1;
}

int
ctl_model_path(const struct ctl_config *c, const char *name, const char *field,
               char *path, size_t n, struct ctl_err *e)
{
	char newest[256];
	if (!strcmp(name, "latest") && c->models_dir[0]) {
		if (newest_model(c, newest, sizeof(newest)))
			return ctl_fail(e, "not_found", field,
			                "%s: latest: no model in %s", field,
			                c->models_dir);
		name = newest;
	}
	if (!name[0] || !strcmp(name, ".") || !strcmp(name, ".."))
		return ctl_fail(e, "bad_field", field,
		                "%s: empty model "
		                "name",
		                field);
	if (strchr(name, '/'))
		snprintf(path, n, "%s", name);
	else if (!c->models_dir[0])
		return ctl_fail(e, "bad_field", field,
		                "%s: no models_dir "
		                "configured for \"%s\"",
		                field, name);
	else
		snprintf(path, n, "%s/%s", c->models_dir, name);
	struct stat st;
	if (stat(path, &st))
		return ctl_fail(e, "not_found", field, "%s: %s: %s", field,
		                path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ctl_fail(e, "bad_field", field,
		                "%s: %s is not a "
		                "regular file",
		                field, path);
	return 0;
}

struct loaded {
	struct ns_learner_config cfg;
	struct ns_dg m;
	struct ns_encoder enc;
};

static int
load_model(const struct ctl_config *c, const char *name, const char *field,
           struct loaded *l, struct ctl_err *e)
{
	char path[CTL_PATH_MAX * 2], err[512];
	if (ctl_model_path(c, name, field, path, sizeof(path), e))
		return -1;
	if (ns_ckpt_load(path, &l->cfg, &l->m, &l->enc, err, sizeof(err)))
		return ctl_fail(e, "bad_model", field, "%s: %s", field, err);
	return 0;
}

static void
unload(struct loaded *l)
{
	ns_dg_free(&l->m);
	ns_encoder_free(&l->enc);
}

int
ctl_models_json(const struct ctl_config *c, cJSON *out, struct ctl_err *e)
{
	DIR *dir = c->models_dir[0] ? opendir(c->models_dir) : NULL;
	if (!dir)
		return ctl_fail(e, "io", "models_dir", "models_dir: %s: %s",
		                c->models_dir[0] ? c->models_dir : "(unset)",
		                c->models_dir[0] ? strerror(errno)
		                                 : "not configured");
	cJSON *a = cJSON_AddArrayToObject(out, "models");
	cJSON_AddStringToObject(out, "dir", c->models_dir);
	struct dirent *de;
	while ((de = readdir(dir))) {
		char path[CTL_PATH_MAX * 2];
		struct stat st;
		if (de->d_name[0] == '.' || ends_with(de->d_name, ".json"))
			continue; /* the learner's sidecars */
		snprintf(path, sizeof(path), "%s/%s", c->models_dir,
		         de->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "name", de->d_name);
		cJSON_AddNumberToObject(m, "size", (double)st.st_size);
		cJSON_AddNumberToObject(m, "mtime", (double)st.st_mtime);
		struct loaded l;
		struct ctl_err le;
		if (load_model(c, de->d_name, "model", &l, &le) == 0) {
			cJSON_AddStringToObject(
			    m, "kind", l.enc.is_packets ? "packet" : "flow");
			cJSON_AddNumberToObject(m, "iterations",
			                        (double)l.m.step);
			unload(&l);
		} else {
			cJSON_AddStringToObject(m, "kind", "invalid");
			cJSON_AddStringToObject(m, "error", le.msg);
		}
		cJSON_AddItemToArray(a, m);
	}
	closedir(dir);
	return 0;
}

int
ctl_privacy_json(const struct ctl_config *c, const char *name, cJSON *out,
                 struct ctl_err *e)
{
	struct loaded l;
	if (load_model(c, name, "args.model", &l, e))
		return -1;
	cJSON_AddStringToObject(out, "model", name);
	cJSON_AddStringToObject(out, "kind",
	                        l.enc.is_packets ? "packet" : "flow");
	cJSON_AddNumberToObject(out, "iterations", (double)l.m.step);
	/* netshare-learner writes block-N.privacy.json beside
	 * block-N.ckpt; a model without one was trained without DP */
	char path[CTL_PATH_MAX * 2], side[CTL_PATH_MAX * 2 + 16];
	ctl_model_path(c, name, "args.model", path, sizeof(path), e);
	size_t pl = strlen(path);
	if (pl > 5 && !strcmp(path + pl - 5, ".ckpt"))
		pl -= 5;
	snprintf(side, sizeof(side), "%.*s.privacy.json", (int)pl, path);
	size_t len;
	char *text = ns_slurp(side, &len);
	cJSON *pj = text ? cJSON_ParseWithLength(text, len) : NULL;
	free(text);
	const cJSON *dp = cJSON_GetObjectItemCaseSensitive(pj, "dp");
	const cJSON *cl = cJSON_GetObjectItemCaseSensitive(pj, "claimed");
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(pj, "epsilon");
	const cJSON *del = cJSON_GetObjectItemCaseSensitive(pj, "delta");
	if (cJSON_IsTrue(dp) && cJSON_IsTrue(cl) && cJSON_IsNumber(eps) &&
	    cJSON_IsNumber(del)) {
		cJSON_AddBoolToObject(out, "dp", 1);
		cJSON_AddNumberToObject(out, "epsilon", eps->valuedouble);
		cJSON_AddNumberToObject(out, "delta", del->valuedouble);
		const cJSON *eb =
		    cJSON_GetObjectItemCaseSensitive(pj, "epsilon_block");
		if (cJSON_IsNumber(eb))
			cJSON_AddNumberToObject(out, "epsilon_block",
			                        eb->valuedouble);
		cJSON_AddStringToObject(out, "note",
		                        "DP-SGD on both discriminators; epsilon "
		                        "covers every block the learner "
		                        "published up to this one (RDP, Balle "
		                        "et al. conversion)");
	} else {
		cJSON_AddBoolToObject(out, "dp", 0);
		cJSON_AddNullToObject(out, "epsilon");
		cJSON_AddNullToObject(out, "delta");
		cJSON_AddStringToObject(
		    out, "note",
		    cJSON_IsTrue(dp)
		        ? "trained with DP-SGD but with a data-dependent "
		          "choice: no epsilon is claimed"
		        : "trained without differential privacy: the model "
		          "gives no formal privacy guarantee");
	}
	cJSON_Delete(pj);
	unload(&l);
	return 0;
}

static int
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcasecmp(s + n - m, suf) == 0;
}

int
ctl_generate(const struct ctl_config *c, const char *model, long count,
             const char *out, uint64_t seed, cJSON *res, struct ctl_err *e)
{
	int pcap = ends_with(out, ".pcap");
	if (!pcap && !ends_with(out, ".csv"))
		return ctl_fail(e, "bad_field", "args.out",
		                "args.out: use a "
		                ".csv or .pcap name");
	struct loaded l;
	if (load_model(c, model, "args.model", &l, e))
		return -1;
	int rc = -1;
	if (pcap && !l.enc.is_packets) {
		ctl_fail(e, "bad_field", "args.out",
		         "args.out: a flow model "
		         "writes CSV only");
		goto out;
	}
	struct ns_pkt_trace pkts = {0};
	struct ns_flow_trace flows;
	memset(&flows, 0, sizeof(flows));
	ns_rng_seed(&l.m.rng, seed);
	if (ns_dg_generate_records(&l.m, &l.enc, (size_t)count, &pkts, &flows,
	                           NULL)) {
		ctl_fail(e, "internal", "", "out of memory");
	} else {
		int w;
		if (l.enc.is_packets) {
			ns_pkt_trace_sort(&pkts);
			w = pcap ? ns_write_pcap(out, &pkts)
			         : ns_write_pkt_csv(out, &pkts);
		} else {
			ns_flow_trace_sort(&flows);
			w = ns_write_flow_csv(out, &flows);
		}
		if (w) {
			ctl_fail(e, "io", "args.out", "args.out: %s: %s", out,
			         strerror(errno));
		} else {
			rc = 0;
			cJSON_AddStringToObject(res, "out", out);
			cJSON_AddStringToObject(res, "kind",
			                        l.enc.is_packets ? "packets"
			                                         : "flows");
			cJSON_AddNumberToObject(
			    res, "records",
			    (double)(l.enc.is_packets ? pkts.n : flows.n));
		}
	}
	ns_pkt_trace_free(&pkts);
	ns_flow_trace_free(&flows);
out:
	unload(&l);
	return rc;
}
