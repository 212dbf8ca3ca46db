/* netshare-control: the control daemon. One poll() loop: the nanomsg REP
 * socket's NN_RCVFD, the export's ticks as the poll timeout, signals that
 * only set a flag. Every request gets a reply. */
#include <errno.h>
#include <getopt.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <poll.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

#define PROG "netshare-control"

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: " PROG " [--config FILE] [--socket URL] [-q]\n"
	    "\n"
	    "The NetShare control daemon: JSON requests on a nanomsg REP\n"
	    "socket (see control/README.md, netsharectl).\n"
	    "\n"
	    "  --config FILE   JSON config (default %s if it exists,\n"
	    "                  else built-in defaults)\n"
	    "  --socket URL    listen here instead of the config's socket\n"
	    "  --check         validate the config and exit\n"
	    "  -q, --quiet     no start-up or request log on stderr\n"
	    "  -h, --help      this help\n"
	    "\n"
	    "SIGINT/SIGTERM stop it. Exit status: 0 stopped, 1 error,\n"
	    "2 usage.\n",
	    CTL_DEFAULT_CONFIG);
}

/* ipc:// paths get a 0700 directory (made if missing) and a 0600 socket. */
static int
ipc_dir(const char *url)
{
	if (strncmp(url, "ipc://", 6))
		return 0;
	char dir[CTL_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", url + 6);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -1;
	return 0;
}

static int
bind_socket(int s, const char *url)
{
	if (ipc_dir(url)) {
		fprintf(stderr, PROG ": %s: cannot make its directory: %s\n",
		        url, strerror(errno));
		return -1;
	}
	if (!strncmp(url, "ipc://", 6))
		unlink(url + 6); /* a previous run's socket file */
	/* the socket file is born 0600 (no moment open to others) */
	mode_t old = umask(0177);
	int rc = nn_bind(s, url);
	umask(old);
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot bind %s: %s\n", url,
		        nn_strerror(nn_errno()));
		return -1;
	}
	if (!strncmp(url, "ipc://", 6) && chmod(url + 6, 0600)) {
		fprintf(stderr, PROG ": %s: chmod: %s\n", url,
		        strerror(errno));
		return -1;
	}
	return 0;
}

/* Read every waiting request and reply to each. */
static void
serve(struct ctl *d, int s, int quiet)
{
	for (;;) {
		char *msg = NULL;
		int n = nn_recv(s, &msg, NN_MSG, NN_DONTWAIT);
		if (n < 0)
			return; /* EAGAIN, or a message past the hard cap */
		char *reply;
		if ((size_t)n > CTL_REQUEST_MAX) {
			d->requests++;
			d->errors++;
			char m[128];
			snprintf(m, sizeof(m),
			         "the request is %d bytes; the "
			         "limit is %u",
			         n, CTL_REQUEST_MAX);
			reply = ctl_error_reply("too_large", "", m);
		} else {
			reply = ctl_handle(d, msg, (size_t)n);
		}
		nn_freemsg(msg);
		if (!reply)
			reply =
			    ctl_error_reply("internal", "", "out of memory");
		if (!reply ||
		    nn_send(s, reply, strlen(reply), NN_DONTWAIT) < 0) {
			/* the client left: nothing to tell it */
			if (!quiet && reply)
				fprintf(stderr, PROG ": reply not sent: %s\n",
				        nn_strerror(nn_errno()));
		}
		free(reply);
	}
}

int
main(int argc, char **argv)
{
	const char *config = NULL, *socket_url = NULL;
	int quiet = 0, check = 0;
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"socket", required_argument, NULL, 's'},
	    {"check", no_argument, NULL, 'k'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			socket_url = optarg;
			break;
		case 'k':
			check = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n",
		        argv[optind]);
		return 2;
	}
	struct ctl_config cfg;
	struct ctl_err e = {0};
	ctl_config_default(&cfg);
	if (!config && access(CTL_DEFAULT_CONFIG, F_OK) == 0)
		config = CTL_DEFAULT_CONFIG;
	if (config && ctl_config_load(&cfg, config, &e)) {
		fprintf(stderr, PROG ": %s\n", e.msg);
		return 1;
	}
	if (socket_url && strlen(socket_url) >= sizeof(cfg.socket)) {
		fprintf(stderr, PROG ": --socket: URL too long\n");
		return 2;
	}
	if (check) {
		printf("%s: valid\n", config ? config : "built-in defaults");
		return 0;
	}
	/* SIGINT/SIGTERM reach only the main thread, inside ppoll: threads
	 * made from here on (nanomsg's, the export's) inherit the block */
	sigset_t stops, waiting;
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stops, &waiting);
	sigdelset(&waiting, SIGINT);
	sigdelset(&waiting, SIGTERM);
	static struct ctl d;
	ctl_init(&d, &cfg, config);
	const char *url = socket_url ? socket_url : cfg.socket;

	int s = nn_socket(AF_SP, NN_REP);
	int maxsz = CTL_RECV_HARD_MAX;
	if (s < 0 || nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz,
	                           sizeof(maxsz)) < 0) {
		fprintf(stderr, PROG ": nanomsg: %s\n",
		        nn_strerror(nn_errno()));
		return 1;
	}
	int rc = 1;
	if (bind_socket(s, url))
		goto out;
	if (cfg.tcp_port) {
		char tcp[64];
		snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", cfg.tcp_port);
		if (bind_socket(s, tcp))
			goto out;
	}
	int fd;
	size_t fdlen = sizeof(fd);
	if (nn_getsockopt(s, NN_SOL_SOCKET, NN_RCVFD, &fd, &fdlen) < 0) {
		fprintf(stderr, PROG ": NN_RCVFD: %s\n",
		        nn_strerror(nn_errno()));
		goto out;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!quiet)
		fprintf(stderr, PROG ": listening on %s%s\n", url,
		        cfg.tcp_port ? " and 127.0.0.1 TCP" : "");
	rc = 0;
	while (!stop) {
		int timeout = ctl_export_tick(&d.exp);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct timespec ts = {timeout / 1000,
		                      (long)(timeout % 1000) * 1000000};
		int n = ppoll(&p, 1, timeout < 0 ? NULL : &ts, &waiting);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (n > 0)
			serve(&d, s, quiet);
	}
	if (!quiet)
		fprintf(stderr, PROG ": stopping\n");
out:
	ctl_free(&d);
	nn_close(s);
	if (!strncmp(url, "ipc://", 6))
		unlink(url + 6);
	return rc;
}
