/* netshare-learner: the learner's command line. One table of
 * subcommands; `netshare-learner CMD ...` runs CMD with argv from its
 * name on. */
#include <stdio.h>
#include <string.h>

#include "lrn_cmd.h"

static const struct lrn_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{"run", lrn_run_cmd,
	 "cut a trace into blocks, train the seed, fine-tune the rest"},
	{"live", lrn_live_cmd,
	 "the same on a running netshare-dataplane's rings (a secondary)"},
	{"privacy", lrn_privacy_cmd,
	 "the (epsilon, delta) a DP-SGD schedule spends (RDP accountant)"},
};
#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void
usage(FILE *f)
{
	fprintf(f, "usage: netshare-learner COMMAND [OPTIONS]\n"
		   "       netshare-learner help [COMMAND]\n\n"
		   "commands:\n");
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n`netshare-learner COMMAND --help` describes COMMAND's "
		   "options.\n");
}

static const struct lrn_cmd *
find(const char *name)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return LRN_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") ||
	    !strcmp(name, "help")) {
		if (argc == 2 || strcmp(name, "help")) {
			usage(stdout);
			return LRN_EXIT_OK;
		}
		/* help CMD: CMD --help */
		const struct lrn_cmd *c = find(argv[2]);
		if (!c) {
			fprintf(stderr, "netshare-learner: unknown command "
					"'%s'\n", argv[2]);
			usage(stderr);
			return LRN_EXIT_USAGE;
		}
		char *args[] = {(char *)c->name, "--help", NULL};
		return c->run(2, args);
	}
	const struct lrn_cmd *c = find(name);
	if (!c) {
		fprintf(stderr, "netshare-learner: unknown command '%s'\n",
			name);
		usage(stderr);
		return LRN_EXIT_USAGE;
	}
	return c->run(argc - 1, argv + 1);
}
