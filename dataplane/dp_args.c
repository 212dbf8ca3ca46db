/* Splitting "EAL options -- program options" for the DPDK programs. */
#include "dp_args.h"

#include <stdlib.h>
#include <string.h>

int
dp_args_split(int argc, char **argv, struct dp_args *a)
{
	memset(a, 0, sizeof(*a));
	int split = argc;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			split = i;
			break;
		}
	a->eal_argv = calloc((size_t)split + 1 + DP_ARGS_EXTRA,
			     sizeof(char *));
	a->app_argv = calloc((size_t)(argc - split) + 2, sizeof(char *));
	if (!a->eal_argv || !a->app_argv) {
		dp_args_free(a);
		return -1;
	}
	for (int i = 0; i < split; i++) {
		a->eal_argv[a->eal_argc++] = argv[i];
		if (i && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")))
			a->help = 1;
	}
	a->app_argv[a->app_argc++] = argv[0];
	for (int i = split + 1; i < argc; i++)
		a->app_argv[a->app_argc++] = argv[i];
	return 0;
}

int
dp_args_has_eal(const struct dp_args *a, const char *prefix)
{
	for (int i = 1; i < a->eal_argc; i++)
		if (strncmp(a->eal_argv[i], prefix, strlen(prefix)) == 0)
			return 1;
	return 0;
}

void
dp_args_add_eal(struct dp_args *a, char *arg)
{
	if (a->extra < DP_ARGS_EXTRA) {
		a->extra++;
		a->eal_argv[a->eal_argc++] = arg;
	}
}

void
dp_args_secondary(struct dp_args *a)
{
	static char secondary[] = "--proc-type=secondary";
	if (!dp_args_has_eal(a, "--proc-type"))
		dp_args_add_eal(a, secondary);
}

void
dp_args_free(struct dp_args *a)
{
	free(a->eal_argv);
	free(a->app_argv);
	a->eal_argv = a->app_argv = NULL;
}

volatile sig_atomic_t dp_quit;

static void
on_stop(int sig)
{
	(void)sig;
	dp_quit = 1;
}

void
dp_catch_stop(void)
{
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
}
