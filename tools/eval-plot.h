/* netshare-eval --plots: real-vs-synthetic plots through gnuplot. */
#ifndef NETSHARE_EVAL_PLOT_H
#define NETSHARE_EVAL_PLOT_H

#include <stddef.h>

#include "netshare/trace.h"

/* One loaded trace: packets or flows, as the mode says. */
struct eval_trace {
	const char *path;
	const struct ns_pkt_trace *pkts;
	const struct ns_flow_trace *flows;
};

struct eval_plot_field {
	const char *name; /* metric name: "SA", "TS", ... */
	const char *what; /* for the title: "source IP" */
	const char *unit; /* for the x axis: "us", "bytes", "" */
};

/* Write DIR/<field>.<k>.dat (k = 0 real, 1.. synthetic) and DIR/<field>.gp
 * for every field, then run gnuplot on each script. Each PNG made is
 * appended to png[] (malloc'd paths, at most max). Returns 0; 1 when
 * gnuplot is missing or failed (the data and scripts stay, a message
 * says why); -1 when DIR or a file in it cannot be written. */
int eval_plot(const char *dir, const struct eval_plot_field *fields,
              size_t nfields, const struct eval_trace *t, size_t nt,
              int is_packets, char **png, size_t max, size_t *npng);

#endif
