/* netsharectl: the command-line client of netshare-control. One request
 * per run over the daemon's nanomsg REQ/REP socket. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define PROG "netsharectl"
#define DEFAULT_SOCKET "ipc:///run/netshare/control.sock"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static void
usage(FILE *f)
{
	fputs("usage: " PROG " [--socket URL] [--json] [--timeout MS] "
	      "COMMAND\n"
	      "\n"
	      "Commands:\n"
	      "  status                          daemon state\n"
	      "  stats                           dataplane, learner and "
	      "export counters\n"
	      "  config get [KEY]                the config, or one key\n"
	      "  config set KEY VALUE            VALUE as JSON (5, true, "
	      "[...]) or a string\n"
	      "  config validate FILE            check a config file\n"
	      "  config save                     write the daemon's config "
	      "file\n"
	      "  exporters list\n"
	      "  exporters add HOST:PORT 5|9|10\n"
	      "  exporters remove HOST:PORT\n"
	      "  export start | export stop\n"
	      "  generate --count N --out FILE [--model M] [--seed S]\n"
	      "  models list\n"
	      "  privacy [MODEL]\n"
	      "\n"
	      "Options:\n"
	      "  --socket URL    the daemon (default $NETSHARE_CONTROL_SOCKET "
	      "or\n"
	      "                  " DEFAULT_SOCKET ")\n"
	      "  --json          print the raw JSON reply\n"
	      "  --timeout MS    wait this long for the reply (default "
	      "10000)\n"
	      "  -h, --help      this help\n"
	      "\n"
	      "Exit status: 0 ok, 1 error reply, 2 usage, 3 daemon "
	      "unreachable.\n",
	      f);
}

/* A path the daemon can open from its own working directory. */
static char *
absolute(const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return strdup(p);
	size_t n = strlen(cwd) + strlen(p) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", cwd, p);
	return s;
}

static int
parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int
bad(const char *msg)
{
	fprintf(stderr, PROG ": %s (see --help)\n", msg);
	return -1;
}

/* The request for words[0..n); -1 on a usage error. */
static int
build(int n, char **w, cJSON *req)
{
	cJSON *args = cJSON_AddObjectToObject(req, "args");
	const char *cmd = NULL;
#define IS(i, s) (n > (i) && !strcmp(w[i], s))
	if (n == 1 && (IS(0, "status") || IS(0, "stats"))) {
		cmd = w[0];
	} else if (IS(0, "config") && IS(1, "get") && n <= 3) {
		cmd = "config.get";
		if (n == 3)
			cJSON_AddStringToObject(args, "key", w[2]);
	} else if (IS(0, "config") && IS(1, "set") && n == 4) {
		cmd = "config.set";
		cJSON_AddStringToObject(args, "key", w[2]);
		cJSON *v = cJSON_Parse(w[3]);
		cJSON_AddItemToObject(args, "value",
		                      v ? v : cJSON_CreateString(w[3]));
	} else if (IS(0, "config") && IS(1, "validate") && n == 3) {
		cmd = "config.validate";
		char *p = absolute(w[2]);
		cJSON_AddStringToObject(args, "path", p ? p : w[2]);
		free(p);
	} else if (IS(0, "config") && IS(1, "save") && n == 2) {
		cmd = "config.save";
	} else if (IS(0, "exporters") && IS(1, "list") && n == 2) {
		cmd = "exporters.list";
	} else if (IS(0, "exporters") && IS(1, "add") && n == 4) {
		long v;
		if (parse_long(w[3], 5, 10, &v) ||
		    (v != 5 && v != 9 && v != 10))
			return bad("exporters add: VERSION is 5, 9 or 10");
		cmd = "exporters.add";
		cJSON_AddStringToObject(args, "collector", w[2]);
		cJSON_AddNumberToObject(args, "version", (double)v);
	} else if (IS(0, "exporters") && IS(1, "remove") && n == 3) {
		cmd = "exporters.remove";
		cJSON_AddStringToObject(args, "collector", w[2]);
	} else if (IS(0, "export") && n == 2 &&
	           (IS(1, "start") || IS(1, "stop"))) {
		cmd = IS(1, "start") ? "export.start" : "export.stop";
	} else if (IS(0, "generate")) {
		cmd = "generate";
		for (int i = 1; i < n; i += 2) {
			long v;
			if (i + 1 >= n)
				return bad("generate: an option lacks its "
				           "value");
			if (!strcmp(w[i], "--count")) {
				if (parse_long(w[i + 1], 1, 10000000, &v))
					return bad("generate: --count takes "
					           "1 .. 1e7");
				cJSON_AddNumberToObject(args, "count",
				                        (double)v);
			} else if (!strcmp(w[i], "--seed")) {
				if (parse_long(w[i + 1], 0, LONG_MAX, &v))
					return bad("generate: --seed takes "
					           "an integer >= 0");
				cJSON_AddNumberToObject(args, "seed",
				                        (double)v);
			} else if (!strcmp(w[i], "--out")) {
				char *p = absolute(w[i + 1]);
				cJSON_AddStringToObject(args, "out",
				                        p ? p : w[i + 1]);
				free(p);
			} else if (!strcmp(w[i], "--model")) {
				cJSON_AddStringToObject(args, "model",
				                        w[i + 1]);
			} else {
				return bad("generate: unknown option");
			}
		}
		if (!cJSON_GetObjectItem(args, "count") ||
		    !cJSON_GetObjectItem(args, "out"))
			return bad("generate needs --count N and --out FILE");
	} else if (IS(0, "models") && IS(1, "list") && n == 2) {
		cmd = "models.list";
	} else if (IS(0, "privacy") && n <= 2) {
		cmd = "privacy";
		if (n == 2)
			cJSON_AddStringToObject(args, "model", w[1]);
	} else {
		return bad(n ? "unknown command" : "no command");
	}
#undef IS
	cJSON_AddStringToObject(req, "cmd", cmd);
	return 0;
}

/* Human-readable: one "key: value" line per leaf, nested keys dotted. */
static void
print_tree(const cJSON *j, const char *prefix)
{
	char key[256];
	if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
		int i = 0;
		if (!j->child)
			printf("%s: %s\n", prefix,
			       cJSON_IsArray(j) ? "(none)" : "{}");
		for (const cJSON *c = j->child; c; c = c->next, i++) {
			if (cJSON_IsArray(j))
				snprintf(key, sizeof(key), "%s[%d]", prefix,
				         i);
			else
				snprintf(key, sizeof(key), "%s%s%s", prefix,
				         *prefix ? "." : "", c->string);
			print_tree(c, key);
		}
		return;
	}
	if (cJSON_IsString(j)) {
		printf("%s: %s\n", prefix, j->valuestring);
		return;
	}
	char *s = cJSON_PrintUnformatted(j);
	printf("%s: %s\n", prefix, s ? s : "?");
	free(s);
}

int
main(int argc, char **argv)
{
	const char *url = getenv("NETSHARE_CONTROL_SOCKET");
	int json = 0;
	long timeout = 10000;
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	/* "+": options stop at the command, whose words may start with -- */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			url = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 't':
			if (parse_long(optarg, 1, 3600000, &timeout)) {
				fprintf(stderr, PROG ": --timeout takes "
				                     "1 .. 3600000 ms\n");
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!url || !*url)
		url = DEFAULT_SOCKET;
	cJSON *req = cJSON_CreateObject();
	cJSON_AddNumberToObject(req, "v", 1);
	if (build(argc - optind, argv + optind, req)) {
		cJSON_Delete(req);
		return EXIT_USAGE;
	}
	char *text = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!strncmp(url, "ipc://", 6) && access(url + 6, F_OK)) {
		fprintf(stderr, PROG ": daemon unreachable: %s: %s\n", url,
		        strerror(errno));
		free(text);
		return EXIT_UNREACHABLE;
	}
	int s = nn_socket(AF_SP, NN_REQ);
	int to = (int)timeout;
	if (s < 0 ||
	    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof(to)) ||
	    nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &to, sizeof(to)) ||
	    nn_connect(s, url) < 0 || nn_send(s, text, strlen(text), 0) < 0) {
		fprintf(stderr, PROG ": daemon unreachable: %s: %s\n", url,
		        nn_strerror(nn_errno()));
		free(text);
		if (s >= 0)
			nn_close(s);
		return EXIT_UNREACHABLE;
	}
	free(text);
	char *buf = NULL;
	int n = nn_recv(s, &buf, NN_MSG, 0);
	if (n < 0) {
		fprintf(stderr,
		        PROG ": daemon unreachable: no reply from %s "
		             "in %ld ms\n",
		        url, timeout);
		nn_close(s);
		return EXIT_UNREACHABLE;
	}
	cJSON *reply = cJSON_ParseWithLength(buf, (size_t)n);
	int rc = EXIT_ERROR;
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
	if (!cJSON_IsBool(ok)) {
		fprintf(stderr,
		        PROG ": the daemon's reply is not a protocol "
		             "reply: %.*s\n",
		        n > 200 ? 200 : n, buf);
	} else if (json) {
		printf("%.*s\n", n, buf);
		rc = cJSON_IsTrue(ok) ? EXIT_OK : EXIT_ERROR;
	} else if (cJSON_IsTrue(ok)) {
		print_tree(cJSON_GetObjectItemCaseSensitive(reply, "result"),
		           "");
		rc = EXIT_OK;
	} else {
		const cJSON *e =
		    cJSON_GetObjectItemCaseSensitive(reply, "error");
		const cJSON *code = cJSON_GetObjectItem(e, "code");
		const cJSON *msg = cJSON_GetObjectItem(e, "message");
		fprintf(stderr, PROG ": %s: %s\n",
		        cJSON_IsString(code) ? code->valuestring : "error",
		        cJSON_IsString(msg) ? msg->valuestring : "?");
	}
	cJSON_Delete(reply);
	nn_freemsg(buf);
	nn_close(s);
	return rc;
}
