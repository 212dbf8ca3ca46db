/* Real-vs-synthetic plots for netshare-eval: rank-frequency for SA/DA,
 * shares per port and protocol for SP/DP/PR, CDFs for the EMD fields.
 * Data and one gnuplot script per field go into the folder, then gnuplot
 * runs once per script so that one bad plot cannot stop the others. */
#include "eval-plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netshare/metrics.h"

#define CDF_POINTS 4000
#define RANK_STEP 1.01 /* rank-frequency points grow by 1% */

enum plot_kind { PLOT_RANK, PLOT_PORT, PLOT_PROTO, PLOT_CDF };

static enum plot_kind
kind_of(const char *name)
{
	if (!strcmp(name, "SA") || !strcmp(name, "DA"))
		return PLOT_RANK;
	if (!strcmp(name, "SP") || !strcmp(name, "DP"))
		return PLOT_PORT;
	if (!strcmp(name, "PR"))
		return PLOT_PROTO;
	return PLOT_CDF;
}

static int
sample(const struct eval_trace *t, int is_packets, const char *name,
       double **v, size_t *n)
{
	return is_packets ? ns_pkt_sample(t->pkts, name, v, n)
	                  : ns_flow_sample(t->flows, name, v, n);
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* Write one trace's points; returns the number written, -1 on error. */
static long
write_points(FILE *f, enum plot_kind kind, double *v, size_t n, double off)
{
	double tot = 0.0;
	long pts = 0;
	for (size_t i = 0; i < n; i++)
		tot += v[i];
	switch (kind) {
	case PLOT_RANK:
		for (size_t i = 0; tot > 0 && i < n;) {
			fprintf(f, "%zu %.9g\n", i + 1, v[i] / tot);
			pts++;
			size_t next = (size_t)((double)(i + 1) * RANK_STEP);
			if (i + 1 < n && next >= n)
				next = n; /* always show the last rank */
			i = next > i + 1 ? next - 1 : i + 1;
		}
		break;
	case PLOT_PORT:
	case PLOT_PROTO:
		for (size_t i = 0; i < n; i++)
			if (v[i] > 0) {
				fprintf(f, "%.6g %.9g\n", (double)i + off,
				        v[i] / tot);
				pts++;
			}
		break;
	case PLOT_CDF:
		qsort(v, n, sizeof(*v), cmp_double);
		if (n)
			fprintf(f, "%.17g 0\n", v[0]);
		for (size_t k = 0; n && k < CDF_POINTS && k < n; k++) {
			size_t i = n <= CDF_POINTS
			               ? k
			               : (size_t)((double)k * (n - 1) /
			                          (CDF_POINTS - 1));
			fprintf(f, "%.17g %.9g\n", v[i],
			        (double)(i + 1) / (double)n);
			pts++;
		}
		break;
	}
	return ferror(f) ? -1 : pts;
}

/* A gnuplot single-quoted string: ' doubles. */
static void
put_quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

static void
axes(FILE *f, enum plot_kind kind, const struct eval_plot_field *fd, int logx)
{
	char xl[160];
	switch (kind) {
	case PLOT_RANK:
		fputs(
		    "set logscale xy\nset xlabel 'rank of the address "
		    "(most frequent first)'\nset ylabel 'share of records'\n",
		    f);
		return;
	case PLOT_PORT:
		fputs("set xrange [-1000:66535]\nset xlabel 'port'\n"
		      "set ylabel 'share of records'\nset logscale y\n",
		      f);
		return;
	case PLOT_PROTO:
		fputs("set xlabel 'IP protocol number'\n"
		      "set ylabel 'share of records'\nset yrange [0:*]\n",
		      f);
		return;
	case PLOT_CDF:
		snprintf(xl, sizeof(xl), "%s%s%s%s%s", fd->what,
		         fd->unit[0] ? " (" : "", fd->unit,
		         fd->unit[0] ? ")" : "", logx ? ", log scale" : "");
		fputs("set xlabel ", f);
		put_quoted(f, xl);
		fputs("\nset ylabel 'cumulative share (CDF)'\n"
		      "set yrange [0:1.02]\n",
		      f);
		if (logx)
			fputs("set logscale x\n", f);
		return;
	}
}

/* Log x when every value is >= 0 and the positive ones span 3 decades. */
static int
want_logx(double *const *v, const size_t *n, size_t nt)
{
	double lo = INFINITY, hi = 0.0;
	for (size_t k = 0; k < nt; k++)
		for (size_t i = 0; i < n[k]; i++) {
			if (v[k][i] < 0)
				return 0;
			if (v[k][i] > 0 && v[k][i] < lo)
				lo = v[k][i];
			if (v[k][i] > hi)
				hi = v[k][i];
		}
	return hi > 0 && lo < INFINITY && hi / lo >= 1e3;
}

/* Write the data and script of one field; 0 (*ok set when it has
 * points to draw) or -1. */
static int
write_field(const char *dir, const struct eval_plot_field *fd,
            const struct eval_trace *t, size_t nt, int is_packets, int *ok)
{
	enum plot_kind kind = kind_of(fd->name);
	double **v = calloc(nt, sizeof(*v));
	size_t *n = calloc(nt, sizeof(*n));
	long *pts = calloc(nt, sizeof(*pts));
	char path[4096];
	int rc = -1;
	*ok = 0;
	if (!v || !n || !pts)
		goto out;
	for (size_t k = 0; k < nt; k++)
		if (sample(&t[k], is_packets, fd->name, &v[k], &n[k]))
			goto out;
	int logx = kind == PLOT_CDF && want_logx(v, n, nt);
	for (size_t k = 0; k < nt; k++) {
		snprintf(path, sizeof(path), "%s/%s.%zu.dat", dir, fd->name,
		         k);
		FILE *f = fopen(path, "w");
		if (!f)
			goto out;
		double off = kind == PLOT_PROTO
		                 ? 0.2 * ((double)k - (double)(nt - 1) / 2)
		                 : 0.0;
		pts[k] = write_points(f, kind, v[k], n[k], off);
		if (fclose(f) || pts[k] < 0)
			goto out;
		*ok |= pts[k] > 0;
	}
	snprintf(path, sizeof(path), "%s/%s.gp", dir, fd->name);
	FILE *g = fopen(path, "w");
	if (!g)
		goto out;
	fprintf(g,
	        "# netshare-eval: %s, real vs synthetic\n"
	        "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
	        "  set terminal pngcairo size 1000,640 noenhanced\n"
	        "} else {\n"
	        "  set terminal png size 1000,640 noenhanced\n"
	        "}\n"
	        "set output '%s.png'\nset grid\n"
	        "set key outside below center vertical samplen 3\n"
	        "set bmargin %zu\n",
	        fd->name, fd->name, nt + 5);
	char title[200];
	snprintf(title, sizeof(title), "%s: %s%s", fd->name, fd->what,
	         kind == PLOT_CDF ? ", CDF" : "");
	fputs("set title ", g);
	put_quoted(g, title);
	fputc('\n', g);
	axes(g, kind, fd, logx);
	const char *style = kind == PLOT_RANK    ? "linespoints pt 7 ps 0.4"
	                    : kind == PLOT_PORT  ? "points pt 7 ps 0.6"
	                    : kind == PLOT_PROTO ? "impulses lw 6"
	                                         : "steps lw 2";
	fputs("plot", g);
	int first = 1;
	for (size_t k = 0; k < nt; k++) {
		if (pts[k] <= 0)
			continue;
		char label[300];
		if (k)
			snprintf(label, sizeof(label), "[%zu] synthetic: %s",
			         k, base_name(t[k].path));
		else
			snprintf(label, sizeof(label), "real: %s",
			         base_name(t[k].path));
		fprintf(g, "%s '%s.%zu.dat' using 1:2 with %s title ",
		        first ? "" : ",", fd->name, k, style);
		put_quoted(g, label);
		first = 0;
	}
	fputc('\n', g);
	rc = fclose(g) ? -1 : 0;
out:
	for (size_t k = 0; v && k < nt; k++)
		free(v[k]);
	free(v);
	free(n);
	free(pts);
	return rc;
}

/* Run gnuplot on DIR/script: its exit status, 127 when it is missing. */
static int
run_gnuplot(const char *dir, const char *script)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (chdir(dir) || !freopen("/dev/null", "w", stdout))
			_exit(126);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int
eval_plot(const char *dir, const struct eval_plot_field *fields,
          size_t nfields, const struct eval_trace *t, size_t nt,
          int is_packets, char **png, size_t max, size_t *npng)
{
	*npng = 0;
	if (mkdir(dir, 0777) && errno != EEXIST) {
		fprintf(stderr, "netshare-eval: %s: cannot create: %s\n", dir,
		        strerror(errno));
		return -1;
	}
	int result = 0, missing = 0;
	for (size_t i = 0; i < nfields; i++) {
		int ok;
		if (write_field(dir, &fields[i], t, nt, is_packets, &ok)) {
			fprintf(stderr,
			        "netshare-eval: %s: cannot write the %s "
			        "plot data: %s\n",
			        dir, fields[i].name, strerror(errno));
			return -1;
		}
		if (!ok || missing)
			continue; /* nothing to draw, or no gnuplot */
		char script[64], out[4096];
		snprintf(script, sizeof(script), "%s.gp", fields[i].name);
		int st = run_gnuplot(dir, script);
		if (st == 127) {
			fprintf(stderr,
			        "netshare-eval: gnuplot not found: install "
			        "gnuplot-nox to draw the plots; the data and "
			        "scripts are in %s\n",
			        dir);
			result = missing = 1;
			continue;
		}
		snprintf(out, sizeof(out), "%s/%s.png", dir, fields[i].name);
		struct stat sb;
		if (st != 0 || stat(out, &sb) || sb.st_size == 0) {
			fprintf(stderr,
			        "netshare-eval: gnuplot failed on %s/%s "
			        "(status %d)\n",
			        dir, script, st);
			result = 1;
			continue;
		}
		if (*npng < max && (png[*npng] = strdup(out)))
			(*npng)++;
	}
	return result;
}
