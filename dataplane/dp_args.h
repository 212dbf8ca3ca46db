/* Command lines of the DPDK programs: "EAL options -- our options". */
#ifndef NETSHARE_DP_ARGS_H
#define NETSHARE_DP_ARGS_H

#include <signal.h>

#define DP_ARGS_EXTRA 40 /* EAL arguments a program may add */

struct dp_args {
	int eal_argc, app_argc;
	char **eal_argv; /* argv[0] and everything before "--" */
	char **app_argv; /* argv[0] and everything after "--" */
	int help;	 /* -h or --help among the EAL options */
	int extra;	 /* EAL arguments added */
};

/* Split argv (both arrays NULL-terminated, room for DP_ARGS_EXTRA more
 * EAL arguments). Returns -1 when out of memory. */
int dp_args_split(int argc, char **argv, struct dp_args *a);
/* Does an EAL argument start with prefix? */
int dp_args_has_eal(const struct dp_args *a, const char *prefix);
/* Append one EAL argument (the string must outlive EAL init). */
void dp_args_add_eal(struct dp_args *a, char *arg);
/* --proc-type=secondary unless a --proc-type is given. */
void dp_args_secondary(struct dp_args *a);
void dp_args_free(struct dp_args *a);

/* Set by SIGINT or SIGTERM once dp_catch_stop() ran; the programs' main
 * loops end when they see it. */
extern volatile sig_atomic_t dp_quit;
void dp_catch_stop(void);

#endif
