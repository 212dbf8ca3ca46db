/* The subcommands of netshare-learner. Each takes the arguments from its
 * own name on (argv[0] is "privacy", say), prints its own --help, and
 * returns the exit status: 0, 1 for a failure of the work, 2 for a usage
 * error after a message naming the option and the cause. */
#ifndef LRN_CMD_H
#define LRN_CMD_H

enum { LRN_EXIT_OK = 0, LRN_EXIT_FAIL = 1, LRN_EXIT_USAGE = 2 };

/* netshare-learner privacy: the (ε, δ) a DP-SGD schedule spends. */
int lrn_privacy_cmd(int argc, char **argv);

/* netshare-learner run: the continuous learner (blocks, seed,
 * fine-tuning, DP-SGD, publication). */
int lrn_run_cmd(int argc, char **argv);

/* netshare-learner live: the same on a running dataplane's rings. */
int lrn_live_cmd(int argc, char **argv);

#endif
