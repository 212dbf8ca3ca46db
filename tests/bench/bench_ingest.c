/* Ingest benchmark: prints figures, asserts nothing about speed.
 *
 * (a) Parser throughput per core: every frame of the input pcaps is held
 *     in one contiguous buffer and ns_parse_packet() runs over it for at
 *     least 2 s, writing records into a 32-record burst array as the
 *     dataplane would. Mpps and ns per packet from this thread's CPU time
 *     (the machine may be shared), TSC cycles per packet from the least
 *     disturbed slice; target 30 Mpps.
 * (b) pcap -> flow records: the input with the most packets is repeated
 *     (each copy shifted past the previous one in time) into a ~1 M
 *     packet pcap in $TMPDIR. Our paths -- the file loaded into memory
 *     then metered (ns_read_pcap, ns_meter_trace, as netshare-eval
 *     does), and streamed (ns_pcap_meter: windowed read, burst parse,
 *     prefetching meter; on one thread as netshare-convert runs it, and
 *     with the meter on a second thread) -- and `softflowd -r` (exporting
 *     IPFIX to a UDP socket on 127.0.0.1 that nobody reads) each process
 *     it; packets per wall second (best of several runs) and per
 *     CPU-second, and the ratios; target >= 10x.
 *
 * Usage: bench_ingest [PCAP...]; without arguments the pcaps of
 * $NS_SHARED_DATA/pcap and $NS_SOURCE_ROOT/tests/data/real.pcap. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define TSC() __rdtsc()
#else
#define TSC() 0ull
#endif

#include "netshare/ingest.h"
#include "netshare/parse.h"

extern char **environ;

#define BURST 32
#define MIN_SECONDS 2.0
#define TARGET_MPPS 30.0
#define TARGET_RATIO 10.0
#define BIG_PACKETS 1000000u
#define MAX_INPUTS 64

struct frame {
	uint64_t off;
	uint32_t caplen, wirelen;
	int linktype;
};

struct frames {
	uint8_t *buf;
	size_t len, cap;
	struct frame *v;
	size_t n, nalloc;
};

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *
grow(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap : 1024;
	while (n < need)
		n *= 2;
	void *q = realloc(p, n * elem);
	if (!q) {
		fprintf(stderr, "bench_ingest: out of memory\n");
		exit(1);
	}
	*cap = n;
	return q;
}

/* Append every frame of path; returns frames added or -1. */
static long
load_pcap(const char *path, struct frames *fr)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);
	if (!p) {
		fprintf(stderr, "bench_ingest: %s: %s\n", path, err);
		return -1;
	}
	int lt = pcap_datalink(p);
	struct pcap_pkthdr *h;
	const u_char *data;
	long n = 0;
	while (pcap_next_ex(p, &h, &data) == 1) {
		fr->buf = grow(fr->buf, &fr->cap, fr->len + h->caplen, 1);
		fr->v = grow(fr->v, &fr->nalloc, fr->n + 1, sizeof(*fr->v));
		memcpy(fr->buf + fr->len, data, h->caplen);
		fr->v[fr->n++] =
		    (struct frame){fr->len, h->caplen, h->len, lt};
		fr->len += h->caplen;
		n++;
	}
	pcap_close(p);
	return n;
}

static int
is_pcap_name(const char *s)
{
	size_t n = strlen(s);
	return (n > 5 && strcmp(s + n - 5, ".pcap") == 0) ||
	       (n > 7 && strcmp(s + n - 7, ".pcapng") == 0);
}

/* The default inputs: shared pcaps plus the embedded real.pcap. */
static int
default_inputs(char **paths, int max)
{
	int n = 0;
	const char *shared = getenv("NS_SHARED_DATA");
	if (shared) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/pcap", shared);
		struct dirent **names;
		int k = scandir(dir, &names, NULL, alphasort);
		for (int i = 0; i < k; i++) {
			if (n < max && is_pcap_name(names[i]->d_name)) {
				size_t len =
				    strlen(dir) + strlen(names[i]->d_name) + 2;
				paths[n] = malloc(len);
				if (paths[n])
					snprintf(paths[n++], len, "%s/%s", dir,
					         names[i]->d_name);
			}
			free(names[i]);
		}
		if (k >= 0)
			free(names);
	}
	const char *src = getenv("NS_SOURCE_ROOT");
	if (src && n < max) {
		char real[4096];
		snprintf(real, sizeof(real), "%s/tests/data/real.pcap", src);
		if (access(real, R_OK) == 0)
			paths[n++] = strdup(real);
	}
	return n;
}

static double
cpu_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One pass of ns_parse_packet over every frame, records into a burst
 * array as the dataplane's RX loop would. Returns frames parsed OK. */
static uint64_t
parse_pass(const struct frames *fr, uint64_t *bytes)
{
	static struct ns_pkt_record burst[BURST];
	uint64_t ok = 0;
	for (size_t i = 0; i < fr->n; i++) {
		const struct frame *f = &fr->v[i];
		struct ns_pkt_record *r = &burst[i % BURST];
		ok += ns_parse_packet(fr->buf + f->off, f->caplen, f->wirelen,
		                      f->linktype, r) == NS_PARSE_OK;
		*bytes += r->ip_len;
	}
	return ok;
}

/* (a) ns_parse_packet over the in-memory frames for >= MIN_SECONDS, in
 * slices of SLICE_PASSES passes. The machine may be shared, so rates use
 * this thread's CPU time, and the best slice (by TSC) gives the cycles
 * of an undisturbed run. */
#define SLICE_PASSES 8
static void
bench_parse(const struct frames *fr)
{
	uint64_t pkts = 0, ok = 0, bytes = 0, best = UINT64_MAX;
	double w0 = now_s(), c0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
	do {
		uint64_t t = TSC();
		for (int k = 0; k < SLICE_PASSES; k++)
			ok += parse_pass(fr, &bytes);
		t = TSC() - t;
		if (t < best)
			best = t;
		pkts += SLICE_PASSES * fr->n;
	} while (now_s() - w0 < MIN_SECONDS);
	double wall = now_s() - w0;
	double cpu = cpu_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	double mpps = pkts / cpu / 1e6;
	double best_cyc = (double)best / (SLICE_PASSES * fr->n);
	uint64_t t0 = TSC();
	double s0 = now_s();
	while (now_s() - s0 < 0.05)
		;
	double ghz = (TSC() - t0) / (now_s() - s0) / 1e9;
	printf("(a) parse, one core: %zu frames in memory (%.1f MB), %llu "
	       "parsed in %.2f s wall, %.2f s CPU (%.1f%% IP, checksum "
	       "%llu)\n",
	       fr->n, fr->len / 1e6, (unsigned long long)pkts, wall, cpu,
	       100.0 * ok / pkts, (unsigned long long)(bytes % 1000003));
	printf("    measured  %.1f Mpps/core (CPU time)  %.1f ns/packet;  "
	       "best slice %.1f Mpps, %.1f TSC cycles/packet (TSC %.2f "
	       "GHz)\n",
	       mpps, cpu * 1e9 / pkts, ghz * 1e3 / best_cyc, best_cyc, ghz);
	printf("    target    %.1f Mpps/core  -> %s\n", TARGET_MPPS,
	       mpps >= TARGET_MPPS ? "met" : "NOT met");
}

static void
put32(FILE *f, uint32_t v)
{
	fwrite(&v, 4, 1, f);
}

/* Repeat the frames of path into a classic pcap of >= BIG_PACKETS
 * packets at tmp; each copy starts 1 s after the previous one ends. */
static uint64_t
write_big_pcap(const char *path, const char *tmp)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline_with_tstamp_precision(
	    path, PCAP_TSTAMP_PRECISION_NANO, err);
	if (!p) {
		fprintf(stderr, "bench_ingest: %s: %s\n", path, err);
		return 0;
	}
	struct frames one = {0};
	uint64_t *ts = NULL;
	size_t tscap = 0;
	struct pcap_pkthdr *h;
	const u_char *data;
	while (pcap_next_ex(p, &h, &data) == 1) {
		one.buf = grow(one.buf, &one.cap, one.len + h->caplen, 1);
		one.v = grow(one.v, &one.nalloc, one.n + 1, sizeof(*one.v));
		ts = grow(ts, &tscap, one.n + 1, sizeof(*ts));
		memcpy(one.buf + one.len, data, h->caplen);
		ts[one.n] = (uint64_t)h->ts.tv_sec * 1000000000u +
		            (uint64_t)h->ts.tv_usec;
		one.v[one.n++] = (struct frame){one.len, h->caplen, h->len, 0};
		one.len += h->caplen;
	}
	int lt = pcap_datalink(p);
	pcap_close(p);
	FILE *f = fopen(tmp, "wb");
	uint64_t written = 0;
	if (!f || !one.n)
		goto out;
	uint64_t span = ts[one.n - 1] - ts[0] + 1000000000u;
	put32(f, 0xA1B23C4D); /* nanosecond pcap, host order */
	uint16_t ver[2] = {2, 4};
	fwrite(ver, 2, 2, f);
	put32(f, 0);
	put32(f, 0);
	put32(f, 262144);
	put32(f, (uint32_t)lt);
	for (uint64_t copy = 0; written < BIG_PACKETS; copy++) {
		for (size_t i = 0; i < one.n; i++, written++) {
			uint64_t t = ts[i] + copy * span;
			put32(f, (uint32_t)(t / 1000000000u));
			put32(f, (uint32_t)(t % 1000000000u));
			put32(f, one.v[i].caplen);
			put32(f, one.v[i].wirelen);
			fwrite(one.buf + one.v[i].off, 1, one.v[i].caplen, f);
		}
	}
out:
	if (f && fclose(f) != 0)
		written = 0;
	free(one.buf);
	free(one.v);
	free(ts);
	return written;
}

/* Our path: libpcap read + parse (ns_read_pcap) and meter. */
static double
run_ours(const char *big, uint64_t *pkts, size_t *nflows, double *cpu)
{
	struct ns_pkt_trace t = {0};
	struct ns_pcap_stats st;
	struct ns_diag d;
	ns_diag_init(&d, big, "packet");
	d.quiet = 1;
	struct ns_meter_config c;
	ns_meter_config_default(&c);
	struct ns_flow_trace flows = {0};
	double t0 = now_s(), c0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	if (ns_read_pcap(big, &t, &st, &d) != 0 ||
	    ns_meter_trace(&t, &c, &flows, NULL) != 0) {
		fprintf(stderr, "bench_ingest: cannot meter %s\n", big);
		exit(1);
	}
	double secs = now_s() - t0;
	*cpu = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	*pkts = st.frames;
	*nflows = flows.n;
	ns_flow_trace_free(&flows);
	ns_pkt_trace_free(&t);
	return secs;
}

static void
count_flow(void *ctx, const struct ns_flow_record *f)
{
	(void)f;
	++*(size_t *)ctx;
}

/* Streaming, as the dataplane works: ns_pcap_meter reads the mapped file
 * in bursts, parses, and meters (on a second thread when threads > 1);
 * flows go to a sink, no trace is held in memory. */
static double
run_stream(const char *big, int threads, uint64_t *pkts, size_t *nflows,
	   double *cpu)
{
	struct ns_meter_config c;
	ns_meter_config_default(&c);
	struct ns_pcap_stats st;
	struct ns_diag d;
	ns_diag_init(&d, big, "packet");
	d.quiet = 1;
	*nflows = 0;
	double t0 = now_s(), c0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	if (ns_pcap_meter(big, &c, threads, count_flow, nflows, &st, NULL,
			  &d) != 0) {
		fprintf(stderr, "bench_ingest: cannot meter %s\n", big);
		exit(1);
	}
	*cpu = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	*pkts = st.frames;
	return now_s() - t0;
}

/* Best of `runs` (least wall time) of run_stream. */
static double
best_stream(const char *big, int threads, int runs, uint64_t *pkts,
	    size_t *nflows, double *cpu)
{
	double best = 1e30;
	for (int i = 0; i < runs; i++) {
		double c, w = run_stream(big, threads, pkts, nflows, &c);
		if (w < best) {
			best = w;
			*cpu = c;
		}
	}
	return best;
}

/* softflowd -r big, exporting to a UDP socket nobody reads. Returns
 * seconds, or a negative value when softflowd cannot run. */
static double
run_softflowd(const char *big, const char *pidfile, double *cpu)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(s, (struct sockaddr *)&a, &alen) != 0) {
		perror("bench_ingest: collector socket");
		return -1;
	}
	char target[64];
	snprintf(target, sizeof(target), "127.0.0.1:%u", ntohs(a.sin_port));
	char *argv[] = {
	    "softflowd", "-r", (char *)big, "-n", target,          "-v", "10",
	    "-d",        "-m", "1048576",   "-p", (char *)pidfile, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	double t0 = now_s();
	int rc = posix_spawnp(&pid, "softflowd", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		close(s);
		return -1;
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	double secs = now_s() - t0;
	*cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	close(s);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? secs : -1;
}

static void
bench_flows(const char *path, uint64_t frames_in_file)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char big[4096], pidfile[4096];
	snprintf(big, sizeof(big), "%s/bench_ingest.%d.pcap", dir, getpid());
	snprintf(pidfile, sizeof(pidfile), "%s/bench_ingest.%d.pid", dir,
	         getpid());
	uint64_t n = write_big_pcap(path, big);
	if (!n) {
		fprintf(stderr, "bench_ingest: cannot write %s\n", big);
		unlink(big);
		return;
	}
	struct stat sb;
	stat(big, &sb);
	printf("(b) pcap -> flow records: %s (%llu packets) repeated into "
	       "%llu packets, %.0f MB\n",
	       path, (unsigned long long)frames_in_file, (unsigned long long)n,
	       sb.st_size / 1e6);
	uint64_t pkts, spkts, tpkts;
	size_t nflows, sflows, tflows;
	double ours_cpu, st_cpu = 0, tt_cpu = 0, sf_cpu = 0;
	run_ours(big, &pkts, &nflows, &ours_cpu); /* warm the page cache */
	double ours = run_ours(big, &pkts, &nflows, &ours_cpu);
	double st = best_stream(big, 1, 5, &spkts, &sflows, &st_cpu);
	double tt = best_stream(big, 2, 5, &tpkts, &tflows, &tt_cpu);
	double sf = 1e30;
	for (int i = 0; i < 3; i++) { /* best of 3 for softflowd too */
		double c, w = run_softflowd(big, pidfile, &c);
		if (w < 0) {
			sf = -1;
			break;
		}
		if (w < sf) {
			sf = w;
			sf_cpu = c;
		}
	}
	printf("    measured  (Mpps = packets per wall second; per CPU-second "
	       "in brackets)\n");
	printf("              load+meter  %6.2f Mpps [%6.2f] %zu flows: "
	       "netshare-eval's path, ns_read_pcap into memory then "
	       "ns_meter_trace\n",
	       pkts / ours / 1e6, pkts / ours_cpu / 1e6, nflows);
	printf("              stream, 1 thread  %6.2f Mpps [%6.2f] %zu "
	       "flows: ns_pcap_meter (windowed read, burst parse, "
	       "prefetching meter; netshare-convert's path)\n",
	       spkts / st / 1e6, spkts / st_cpu / 1e6, sflows);
	printf("              stream, 2 threads %6.2f Mpps [%6.2f] %zu "
	       "flows: the same, reader and meter on their own cores "
	       "\n",
	       tpkts / tt / 1e6, tpkts / tt_cpu / 1e6, tflows);
	if (sf > 0) {
		printf("    baseline  softflowd %6.2f Mpps [%6.2f] (best of 3; "
		       "-r, IPFIX to 127.0.0.1, one thread)\n",
		       n / sf / 1e6, n / sf_cpu / 1e6);
		double r1 = (spkts / st) / (n / sf);
		double r2 = (tpkts / tt) / (n / sf);
		double best = r1 > r2 ? r1 : r2;
		printf("    ratio     %.1fx streaming on 1 thread, %.1fx on 2 "
		       "threads, %.1fx per CPU-second (1 thread), %.1fx "
		       "load+meter; target %.0fx (packets/s) -> %s\n",
		       r1, r2, (spkts / st_cpu) / (n / sf_cpu),
		       (pkts / ours) / (n / sf), TARGET_RATIO,
		       best >= TARGET_RATIO ? "met" : "NOT met");
	} else {
		printf("    baseline  softflowd did not run (installed?)\n");
	}
	unlink(big);
	unlink(pidfile);
}

int
main(int argc, char **argv)
{
	char *paths[MAX_INPUTS];
	int n = 0;
	for (int i = 1; i < argc && n < MAX_INPUTS; i++)
		paths[n++] = strdup(argv[i]);
	if (n == 0)
		n = default_inputs(paths, MAX_INPUTS);
	if (n == 0) {
		printf("bench_ingest: no input: pass pcaps or set "
		       "NS_SHARED_DATA / NS_SOURCE_ROOT\n");
		return 77;
	}
	struct frames fr = {0};
	int largest = 0;
	long most = -1;
	for (int i = 0; i < n; i++) {
		long k = load_pcap(paths[i], &fr);
		if (k > most) {
			most = k;
			largest = i;
		}
	}
	if (!fr.n) {
		fprintf(stderr, "bench_ingest: no packets\n");
		return 1;
	}
	printf("== bench_ingest: %d input files ==\n", n);
	bench_parse(&fr);
	bench_flows(paths[largest], (uint64_t)most);
	for (int i = 0; i < n; i++)
		free(paths[i]);
	free(fr.buf);
	free(fr.v);
	return 0;
}
