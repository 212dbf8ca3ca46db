/* Printing the dataplane's shared counters (netshare-dataplane --stats). */
#ifndef NETSHARE_DP_STATS_H
#define NETSHARE_DP_STATS_H

#include <stdio.h>

#include "netshare/dataplane.h"

const char *dp_state_name(uint32_t state);
void dp_stats_print_text(const struct ns_dp_shared *sh, FILE *f);
void dp_stats_print_json(const struct ns_dp_shared *sh, FILE *f);

#endif
