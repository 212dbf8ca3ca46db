/* Dataplane benchmark: prints figures, asserts nothing about speed.
 *
 * Frames are real packets (the input pcaps' frames) held in mbufs of an
 * in-process source, fed to the same per-queue code the RX lcores run
 * (dp_queue_process), on the main lcore. Figures are per CPU-second of
 * the main lcore's thread, with TSC cycles per packet from the least
 * disturbed slice.
 *
 * (a) capture + encode: parse, encode the 64-byte record, enqueue it to
 *     the SPSC ring; no metering. Measured with the same core dequeuing
 *     every record (no drops; the target is judged on this one), then
 *     with a second lcore draining the ring as the learner would.
 *     Target 14.88 Mpps (10 GbE, 64 B).
 * (b) flow metering with 1 M concurrent flows: 1,000,000 mbufs, each a
 *     real IPv4 frame with its source address rewritten to one of 1 M
 *     values, so every pass touches every flow of a 2^20 table once;
 *     the full path (parse + encode + enqueue + meter) and the meter
 *     alone on the same records. Target 10 Mpps.
 * (c) the frames of (b) written to a pcap and given to `softflowd -r`
 *     (1 M-flow table, IPFIX to a UDP socket nobody reads): its packets
 *     per CPU-second and the ratio.
 *
 * Needs ~500 MB of hugepages (--in-memory). Usage: bench_dataplane
 * [PCAP...]; without arguments the .pcap files of $NS_SHARED_DATA/pcap and
 * $NS_SOURCE_ROOT/tests/data/real.pcap. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dp_queue.h"
#include "netshare/parse.h"

extern char **environ;

#define BURST 32
#define SOURCE_FRAMES 8192
#define FLOWS 1000000u
#define TABLE (1u << 20)
#define SNAP 128 /* bytes kept per frame in (b): headers only */
#define MIN_SECONDS 2.0
#define TARGET_CAPTURE 14.88
#define TARGET_METER 10.0
#define MAX_INPUTS 64

static atomic_int stop_consumer;
static struct rte_ring *ring;

static double
cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static double
wall_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The learner's side of the ring, on its own lcore. */
static int
consumer(void *arg)
{
	(void)arg;
	static struct ns_pkt_record r[1024];
	while (!atomic_load(&stop_consumer))
		rte_ring_sc_dequeue_burst_elem(ring, r, sizeof(r[0]), 1024,
					       NULL);
	return 0;
}

struct frame {
	uint8_t *data;
	uint32_t len;
};

struct frames {
	struct frame *v;
	size_t n, cap;
};

/* Ethernet frames of the inputs (IPv4 TCP/UDP ones are templates for
 * (b)). */
static void
load(const char *path, struct frames *all, struct frames *v4)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);
	if (!p)
		return;
	if (pcap_datalink(p) != DLT_EN10MB) {
		pcap_close(p);
		return;
	}
	struct pcap_pkthdr *h;
	const u_char *d;
	while (pcap_next_ex(p, &h, &d) == 1) {
		struct ns_pkt_record r;
		if (ns_parse_packet(d, h->caplen, h->len, 1, &r) != NS_PARSE_OK)
			continue;
		struct frame f = {malloc(h->caplen), h->caplen};
		memcpy(f.data, d, h->caplen);
		/* templates: plain Ethernet IPv4 TCP/UDP without FIN or
		 * RST, so that every flow of (b) stays open */
		int tmpl = r.ip_version == 4 && (r.proto == 6 || r.proto == 17) &&
			   (r.flags & NS_PKT_HAS_L4) && h->caplen >= 54 &&
			   d[12] == 0x08 && d[13] == 0x00 &&
			   !(r.tcp_flags & 0x05);
		struct frames *dst[2] = {all, tmpl ? v4 : NULL};
		for (int k = 0; k < 2; k++) {
			if (!dst[k])
				continue;
			if (dst[k]->n == dst[k]->cap) {
				dst[k]->cap = dst[k]->cap ? 2 * dst[k]->cap : 4096;
				dst[k]->v = realloc(dst[k]->v,
						    dst[k]->cap * sizeof(f));
			}
			dst[k]->v[dst[k]->n++] = f;
		}
	}
	pcap_close(p);
}

static struct rte_mbuf *
frame_mbuf(struct rte_mempool *mp, const uint8_t *data, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (!m)
		return NULL;
	m->data_off = 0; /* small mbufs: no headroom needed here */
	uint32_t room = rte_pktmbuf_data_room_size(mp);
	if (len > room)
		len = room;
	memcpy(rte_pktmbuf_mtod(m, void *), data, len);
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	return m;
}

static struct ns_dp_queue_stats qstats;
static struct dp_clock clk;

static void
queue_setup(struct dp_queue *q, void *meter_mem)
{
	struct ns_meter_config mc;
	ns_meter_config_default(&mc);
	mc.max_flows = TABLE;
	memset(q, 0, sizeof(*q));
	memset(&qstats, 0, sizeof(qstats));
	q->linktype = 1;
	q->pkt_ring = ring;
	q->flow_ring = rte_ring_lookup("bench_flows");
	q->st = &qstats;
	if (dp_queue_init(q, meter_mem, &mc, 1, -1, 0, &clk)) {
		fprintf(stderr, "bench_dataplane: queue setup failed\n");
		exit(1);
	}
}

struct result {
	double mpps, cyc, secs;
	uint64_t pkts;
};

/* Run bursts over m[0..n) for MIN_SECONDS (and at least one pass). */
static struct result
drive(struct dp_queue *q, struct rte_mbuf **m, size_t n, int sweep,
      int self_drain)
{
	static struct ns_pkt_record sink[BURST];
	uint64_t pkts = 0, best = UINT64_MAX;
	double c0 = cpu_s(), w0 = wall_s();
	do {
		uint64_t t = rte_rdtsc();
		for (size_t i = 0; i + BURST <= n; i += BURST) {
			uint64_t now = dp_clock_now(&clk);
			dp_queue_process(q, m + i, BURST, now);
			if (self_drain)
				rte_ring_sc_dequeue_burst_elem(
					q->pkt_ring, sink, sizeof(sink[0]),
					BURST, NULL);
			if (sweep)
				dp_queue_sweep(q, now);
		}
		t = rte_rdtsc() - t;
		uint64_t done = n / BURST * BURST;
		if (t / (done ? done : 1) < best)
			best = t / (done ? done : 1);
		pkts += done;
	} while (wall_s() - w0 < MIN_SECONDS);
	double cpu = cpu_s() - c0;
	return (struct result){pkts / cpu / 1e6, (double)best, cpu, pkts};
}

static void
put32(FILE *f, uint32_t v)
{
	fwrite(&v, 4, 1, f);
}

/* The frames of (b) as a classic pcap, 1 µs apart. */
static int
write_pcap(const char *path, struct rte_mbuf **m, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	put32(f, 0xA1B2C3D4);
	uint16_t ver[2] = {2, 4};
	fwrite(ver, 2, 2, f);
	put32(f, 0);
	put32(f, 0);
	put32(f, 65535);
	put32(f, 1);
	for (size_t i = 0; i < n; i++) {
		put32(f, 1700000000u + (uint32_t)(i / 1000000));
		put32(f, (uint32_t)(i % 1000000));
		put32(f, m[i]->data_len);
		put32(f, m[i]->data_len);
		fwrite(rte_pktmbuf_mtod(m[i], void *), 1, m[i]->data_len, f);
	}
	return fclose(f);
}

/* softflowd -r path: packets per CPU-second, or < 0 if it cannot run. */
static double
softflowd_mpps(const char *path, uint64_t pkts)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(s, (struct sockaddr *)&a, &alen))
		return -1;
	char target[64], pid[4200];
	snprintf(target, sizeof(target), "127.0.0.1:%u", ntohs(a.sin_port));
	snprintf(pid, sizeof(pid), "%s.pid", path);
	char *argv[] = {"softflowd", "-r", (char *)path, "-n", target, "-v",
			"10", "-d", "-m", "2097152", "-p", pid, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t p;
	int rc = posix_spawnp(&p, "softflowd", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		close(s);
		return -1;
	}
	int status;
	struct rusage ru;
	while (wait4(p, &status, 0, &ru) < 0 && errno == EINTR)
		;
	close(s);
	unlink(pid);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		     ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	if (!WIFEXITED(status) || WEXITSTATUS(status) || cpu <= 0)
		return -1;
	return pkts / cpu / 1e6;
}

static int
default_inputs(char **paths, int max)
{
	int n = 0;
	const char *data = getenv("NS_SHARED_DATA");
	char dir[4096];
	if (data) {
		snprintf(dir, sizeof(dir), "%s/pcap", data);
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d)) && n < max) {
			size_t l = strlen(e->d_name);
			if (l > 5 && !strcmp(e->d_name + l - 5, ".pcap")) {
				paths[n] = malloc(strlen(dir) + l + 2);
				sprintf(paths[n++], "%s/%s", dir, e->d_name);
			}
		}
		if (d)
			closedir(d);
	}
	const char *src = getenv("NS_SOURCE_ROOT");
	if (src && n < max) {
		snprintf(dir, sizeof(dir), "%s/tests/data/real.pcap", src);
		if (access(dir, R_OK) == 0)
			paths[n++] = strdup(dir);
	}
	return n;
}

static uint16_t
ip_checksum(const uint8_t *h, unsigned len)
{
	uint32_t sum = 0;
	for (unsigned i = 0; i < len; i += 2)
		sum += (uint32_t)h[i] << 8 | h[i + 1];
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

int
main(int argc, char **argv)
{
	char *eal[] = {argv[0], "-l", "0-1", "--no-pci", "--in-memory",
		       "--log-level=lib.eal:error", NULL};
	if (rte_eal_init(6, eal) < 0) {
		printf("bench_dataplane: EAL init failed (%s): reserve "
		       "hugepages (echo 1024 > /proc/sys/vm/nr_hugepages)\n",
		       rte_strerror(rte_errno));
		return 77;
	}
	char *paths[MAX_INPUTS];
	int np = 0;
	for (int i = 1; i < argc && np < MAX_INPUTS; i++)
		paths[np++] = argv[i];
	if (!np)
		np = default_inputs(paths, MAX_INPUTS);
	struct frames all = {0}, v4 = {0};
	for (int i = 0; i < np; i++)
		load(paths[i], &all, &v4);
	if (!all.n || !v4.n) {
		printf("bench_dataplane: no Ethernet IPv4 frames in the "
		       "inputs\n");
		return 77;
	}
	dp_clock_init(&clk);
	ring = rte_ring_create_elem("bench_pkts", sizeof(struct ns_pkt_record),
				    1 << 16, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	struct rte_ring *fring = rte_ring_create_elem(
		"bench_flows", sizeof(struct ns_flow_record), 1 << 16, 0,
		RING_F_SP_ENQ | RING_F_SC_DEQ);
	struct rte_mempool *mp = rte_pktmbuf_pool_create(
		"bench_src", SOURCE_FRAMES, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (!ring || !fring || !mp) {
		printf("bench_dataplane: %s\n", rte_strerror(rte_errno));
		return 77;
	}
	unsigned worker = rte_get_next_lcore(rte_lcore_id(), 1, 0);
	printf("== bench_dataplane: %d input files, %zu frames (%zu IPv4 "
	       "TCP/UDP templates) ==\n",
	       np, all.n, v4.n);

	/* (a) */
	static struct rte_mbuf *src[SOURCE_FRAMES];
	for (size_t i = 0; i < SOURCE_FRAMES; i++)
		src[i] = frame_mbuf(mp, all.v[i % all.n].data,
				    all.v[i % all.n].len);
	struct dp_queue q;
	queue_setup(&q, NULL);
	double ghz = rte_get_tsc_hz() / 1e9;
	/* first the producer drains its own ring: no drops, and its figure
	 * includes the consumer's work (the conservative one) */
	struct result a = drive(&q, src, SOURCE_FRAMES, 0, 1);
	printf("(a) capture + encode (parse, 64 B record, SPSC enqueue), "
	       "one core that also dequeues every record: %llu frames, %.2f "
	       "s CPU, ring drops %llu\n",
	       (unsigned long long)a.pkts, a.secs,
	       (unsigned long long)qstats.pkt_ring_drops);
	printf("    measured  %.1f Mpps/core (CPU time), best slice %.0f "
	       "cycles/packet (TSC %.2f GHz)\n",
	       a.mpps, a.cyc, ghz);
	/* then with the consumer on its own lcore, as deployed */
	if (worker < RTE_MAX_LCORE)
		rte_eal_remote_launch(consumer, NULL, worker);
	queue_setup(&q, NULL);
	struct result a2 = drive(&q, src, SOURCE_FRAMES, 0, 0);
	printf("              %.1f Mpps/core with the consumer on lcore %u "
	       "(%.1f%% found the ring full: that consumer falls behind)\n",
	       a2.mpps, worker,
	       100.0 * qstats.pkt_ring_drops / (a2.pkts ? a2.pkts : 1));
	printf("    target    %.2f Mpps/core -> %s\n", TARGET_CAPTURE,
	       a.mpps >= TARGET_CAPTURE ? "met" : "NOT met");

	/* (b) */
	struct rte_mempool *big = rte_pktmbuf_pool_create(
		"bench_1m", FLOWS + 1024, 0, 0, SNAP, 0);
	size_t msize;
	struct ns_meter_config mc;
	ns_meter_config_default(&mc);
	mc.max_flows = TABLE;
	msize = ns_meter_mem_size(&mc);
	void *mem = rte_zmalloc("bench_table", msize, 64);
	struct rte_mbuf **fm = malloc(FLOWS * sizeof(*fm));
	if (!big || !mem || !fm) {
		printf("(b) skipped: not enough hugepage memory for 1 M mbufs "
		       "and a 2^20-flow table (%.0f MB); reserve more "
		       "(echo 1024 > /proc/sys/vm/nr_hugepages)\n",
		       (msize + FLOWS * 320.0) / 1e6);
		goto out;
	}
	for (uint32_t i = 0; i < FLOWS; i++) {
		const struct frame *t = &v4.v[i % v4.n];
		fm[i] = frame_mbuf(big, t->data, t->len);
		uint8_t *ip = rte_pktmbuf_mtod(fm[i], uint8_t *) + 14;
		uint32_t src_ip = 0x0A000000u | i; /* 10.x.y.z, unique */
		ip[12] = (uint8_t)(src_ip >> 24);
		ip[13] = (uint8_t)(src_ip >> 16);
		ip[14] = (uint8_t)(src_ip >> 8);
		ip[15] = (uint8_t)src_ip;
		unsigned ihl = (ip[0] & 0x0F) * 4u;
		ip[10] = ip[11] = 0;
		uint16_t c = ip_checksum(ip, ihl);
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	queue_setup(&q, mem);
	double w0 = wall_s();
	for (uint32_t i = 0; i + BURST <= FLOWS; i += BURST)
		dp_queue_process(&q, fm + i, BURST, dp_clock_now(&clk));
	const struct ns_meter_stats *ms = ns_meter_stats(q.meter);
	printf("(b) flow metering: %u mbufs of real IPv4 frames, one per flow; "
	       "first pass (creating) %.2f s, %llu flows open in a 2^20 "
	       "table\n",
	       FLOWS, wall_s() - w0, (unsigned long long)ms->active);
	struct result b = drive(&q, fm, FLOWS, 1, 0);
	printf("    measured  %.1f Mpps/core full path (parse + encode + "
	       "enqueue + meter), best pass %.0f cycles/packet; %llu flows "
	       "open, %llu evicted\n",
	       b.mpps, b.cyc, (unsigned long long)ms->active,
	       (unsigned long long)ms->evicted);
	/* the meter alone, on the records of one pass */
	struct ns_pkt_record *recs = malloc(FLOWS * sizeof(*recs));
	size_t nr = 0;
	for (uint32_t i = 0; recs && i < FLOWS; i++)
		if (ns_parse_packet(rte_pktmbuf_mtod(fm[i], uint8_t *),
				    fm[i]->data_len, fm[i]->pkt_len, 1,
				    &recs[nr]) == NS_PARSE_OK)
			recs[nr++].ts_ns = dp_clock_now(&clk);
	double c0 = cpu_s(), mw = wall_s();
	uint64_t metered = 0;
	do {
		for (size_t i = 0; i + BURST <= nr; i += BURST)
			ns_meter_update_burst(q.meter, recs + i, BURST);
		metered += nr / BURST * BURST;
	} while (wall_s() - mw < MIN_SECONDS);
	double mo = metered / (cpu_s() - c0) / 1e6;
	printf("              %.1f Mpps/core meter alone "
	       "(ns_meter_update_burst on parsed records)\n",
	       mo);
	printf("    target    %.1f Mpps/core -> %s\n", TARGET_METER,
	       b.mpps >= TARGET_METER ? "met" : "NOT met");
	free(recs);

	/* (c) */
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char pcap[4096];
	snprintf(pcap, sizeof(pcap), "%s/bench_dataplane.%d.pcap", tmp,
		 getpid());
	double sf = write_pcap(pcap, fm, FLOWS) == 0
			    ? softflowd_mpps(pcap, FLOWS)
			    : -1;
	unlink(pcap);
	if (sf > 0)
		printf("(c) softflowd -r on the same %u frames: %.2f Mpps per "
		       "CPU-second; ratio %.1fx (full path), %.1fx (meter "
		       "alone)\n",
		       FLOWS, sf, b.mpps / sf, mo / sf);
	else
		printf("(c) softflowd did not run (installed?)\n");
out:
	atomic_store(&stop_consumer, 1);
	rte_eal_mp_wait_lcore();
	return 0;
}
