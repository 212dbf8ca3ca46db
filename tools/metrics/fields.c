/* The per-trace data behind the metrics that flows and packets share:
 * address popularity, port and protocol counts, per-5-tuple groups and
 * the joint-key divergences. */
#include "metrics_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "sort.h"
#include "netshare/metrics.h"

/* 16 address bytes with IPv4's unused bytes zeroed, so that stray bytes
 * cannot split one address in two. */
static void
addr_bytes(uint8_t *k, const uint8_t *addr, int version)
{
	if (version == 6) {
		memcpy(k, addr, 16);
	} else {
		memcpy(k, addr, 4);
		memset(k + 4, 0, 12);
	}
}

void
ns_v_tuple_key(const struct ns_view *v, size_t i, uint8_t key[NS_TUPLE_KEY])
{
	int ver = ns_v_version(v, i);
	unsigned sp = ns_v_port(v, i, 0), dp = ns_v_port(v, i, 1);
	key[0] = (uint8_t)ver;
	addr_bytes(key + 1, ns_v_addr(v, i, 0), ver);
	addr_bytes(key + 17, ns_v_addr(v, i, 1), ver);
	key[33] = (uint8_t)(sp >> 8);
	key[34] = (uint8_t)sp;
	key[35] = (uint8_t)(dp >> 8);
	key[36] = (uint8_t)dp;
	key[37] = (uint8_t)ns_v_proto(v, i);
}

int
ns_v_rank_freq(const struct ns_view *v, int dst, double **out, size_t *n)
{
	struct ns_hmap m;
	double *cnt = NULL;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	if (ns_hmap_init(&m, 17, v->n / 4))
		goto nomem;
	for (size_t i = 0; i < v->n; i++) {
		uint8_t k[17];
		k[0] = (uint8_t)ns_v_version(v, i);
		addr_bytes(k + 1, ns_v_addr(v, i, dst), k[0]);
		int64_t id = ns_hmap_add(&m, k);
		if (id < 0)
			goto nomem;
		if ((size_t)id >= cap) {
			size_t nc = cap ? cap * 2 : 256;
			double *c = realloc(cnt, nc * sizeof(*c));
			if (!c)
				goto nomem;
			memset(c + cap, 0, (nc - cap) * sizeof(*c));
			cnt = c;
			cap = nc;
		}
		cnt[id] += 1.0;
	}
	if (ns_sort_doubles(cnt, m.n))
		goto nomem;
	for (size_t i = 0, j = m.n; i + 1 < j; i++, j--) {
		double t = cnt[i]; /* decreasing */
		cnt[i] = cnt[j - 1];
		cnt[j - 1] = t;
	}
	*out = cnt;
	*n = m.n;
	ns_hmap_free(&m);
	return 0;
nomem:
	free(cnt);
	ns_hmap_free(&m);
	errno = ENOMEM;
	return -1;
}

int
ns_v_port_hist(const struct ns_view *v, int dst, double **out)
{
	double *h = calloc(65536, sizeof(*h));
	if (!h)
		return -1;
	for (size_t i = 0; i < v->n; i++)
		h[ns_v_port(v, i, dst) & 0xFFFF] += 1.0; /* clip to 16 bits */
	*out = h;
	return 0;
}

int
ns_v_proto_hist(const struct ns_view *v, double **out)
{
	double *h = calloc(256, sizeof(*h));
	if (!h)
		return -1;
	for (size_t i = 0; i < v->n; i++)
		h[ns_v_proto(v, i) & 0xFF] += 1.0;
	*out = h;
	return 0;
}

void
ns_v_groups_free(struct ns_v_groups *g)
{
	free(g->size);
	free(g->dur);
	free(g->gap);
	memset(g, 0, sizeof(*g));
}

/* Each record's 5-tuple id (dense, first seen first) and time, sorted by
 * time; ids in *flow, their count in *nflows. */
static int
tuple_ids(const struct ns_view *v, uint64_t *t, uint32_t *flow, size_t *nflows)
{
	struct ns_hmap m;
	if (ns_hmap_init(&m, NS_TUPLE_KEY, v->n / 2))
		return -1;
	for (size_t i = 0; i < v->n; i++) {
		uint8_t k[NS_TUPLE_KEY];
		ns_v_tuple_key(v, i, k);
		int64_t id = ns_hmap_add(&m, k);
		if (id < 0) {
			ns_hmap_free(&m);
			return -1;
		}
		flow[i] = (uint32_t)id;
		t[i] = ns_v_time(v, i);
	}
	*nflows = m.n;
	ns_hmap_free(&m);
	return ns_radix_u64(t, flow, v->n);
}

int
ns_v_group(const struct ns_view *v, struct ns_v_groups *g)
{
	size_t n = v->n, nf = 0, *end = NULL;
	uint64_t *t = malloc((n ? n : 1) * sizeof(*t)), *byflow = NULL;
	uint32_t *flow = malloc((n ? n : 1) * sizeof(*flow));
	memset(g, 0, sizeof(*g));
	if (!t || !flow || tuple_ids(v, t, flow, &nf))
		goto nomem;
	/* a stable counting sort by flow keeps each flow's times sorted */
	end = calloc(nf + 1, sizeof(*end));
	byflow = malloc((n ? n : 1) * sizeof(*byflow));
	g->size = malloc((nf ? nf : 1) * sizeof(double));
	g->dur = malloc((nf ? nf : 1) * sizeof(double));
	g->gap = malloc((n - nf + 1) * sizeof(double));
	if (!end || !byflow || !g->size || !g->dur || !g->gap)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		end[flow[i] + 1]++;
	for (size_t f = 0; f < nf; f++)
		end[f + 1] += end[f];
	for (size_t i = 0; i < n; i++)
		byflow[end[flow[i]]++] = t[i];
	/* end[f] is now where flow f ends */
	for (size_t f = 0, lo = 0; f < nf; lo = end[f++]) {
		size_t hi = end[f];
		for (size_t j = lo + 1; j < hi; j++)
			g->gap[g->ngaps++] =
			    (double)(byflow[j] - byflow[j - 1]) / 1e3;
		g->size[f] = (double)(hi - lo);
		g->dur[f] = (double)(byflow[hi - 1] - byflow[lo]) / 1e3;
	}
	g->nflows = nf;
	free(t);
	free(flow);
	free(end);
	free(byflow);
	return 0;
nomem:
	free(t);
	free(flow);
	free(end);
	free(byflow);
	ns_v_groups_free(g);
	errno = ENOMEM;
	return -1;
}

/* The sorted joint keys hi << 16 | lo of a trace. */
static uint64_t *
joint_keys(const struct ns_view *v, int proto_dport)
{
	uint64_t *k = malloc((v->n ? v->n : 1) * sizeof(*k));
	if (!k)
		return NULL;
	for (size_t i = 0; i < v->n; i++) {
		uint64_t hi =
		    proto_dport ? ns_v_proto(v, i) : ns_v_port(v, i, 0);
		k[i] = hi << 16 | (ns_v_port(v, i, 1) & 0xFFFF);
	}
	if (ns_radix_u64(k, NULL, v->n)) {
		free(k);
		return NULL;
	}
	return k;
}

/* Length of the run of equal keys at k[i]. */
static size_t
run_len(const uint64_t *k, size_t n, size_t i)
{
	size_t j = i;
	while (j < n && k[j] == k[i])
		j++;
	return j - i;
}

int
ns_v_proto_dstport_jsd(const struct ns_view *real, const struct ns_view *syn,
                       double *out)
{
	uint64_t *a = joint_keys(real, 1);
	uint64_t *b = a ? joint_keys(syn, 1) : NULL;
	size_t cap = real->n + syn->n + 1;
	double *p = b ? malloc(cap * sizeof(*p)) : NULL;
	double *q = p ? malloc(cap * sizeof(*q)) : NULL;
	if (!q) {
		free(a);
		free(b);
		free(p);
		errno = ENOMEM;
		return -1;
	}
	size_t i = 0, j = 0, n = 0;
	while (i < real->n || j < syn->n) {
		/* the smaller key next; either side may lack it */
		uint64_t key =
		    j == syn->n || (i < real->n && a[i] < b[j]) ? a[i] : b[j];
		size_t ca =
		    i < real->n && a[i] == key ? run_len(a, real->n, i) : 0;
		size_t cb =
		    j < syn->n && b[j] == key ? run_len(b, syn->n, j) : 0;
		p[n] = (double)ca;
		q[n++] = (double)cb;
		i += ca;
		j += cb;
	}
	*out = ns_jsd(p, n, q, n);
	free(a);
	free(b);
	free(p);
	free(q);
	return 0;
}

struct pair_count {
	uint64_t key;
	size_t count;
};

static int
cmp_pair_count(const void *x, const void *y)
{
	const struct pair_count *a = x, *b = y;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return (a->key > b->key) - (a->key < b->key);
}

/* Occurrences of key in the sorted k[0..n). */
static size_t
count_key(const uint64_t *k, size_t n, uint64_t key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (k[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && k[lo] == key ? run_len(k, n, lo) : 0;
}

int
ns_v_top_pairs_jsd(const struct ns_view *real, const struct ns_view *syn,
                   size_t k, double *out)
{
	uint64_t *a = joint_keys(real, 0);
	uint64_t *b = a ? joint_keys(syn, 0) : NULL;
	struct pair_count *pc =
	    b ? malloc((real->n ? real->n : 1) * sizeof(*pc)) : NULL;
	double *p = pc ? calloc(k + 1, sizeof(*p)) : NULL;
	double *q = p ? calloc(k + 1, sizeof(*q)) : NULL;
	if (!q) {
		free(a);
		free(b);
		free(pc);
		free(p);
		errno = ENOMEM;
		return -1;
	}
	size_t npairs = 0;
	for (size_t i = 0; i < real->n;) {
		size_t c = run_len(a, real->n, i);
		pc[npairs].key = a[i];
		pc[npairs++].count = c;
		i += c;
	}
	/* ties in count go to the smaller key, so the choice is stable */
	qsort(pc, npairs, sizeof(*pc), cmp_pair_count);
	size_t top = npairs < k ? npairs : k;
	size_t in_a = 0, in_b = 0;
	for (size_t t = 0; t < top; t++) {
		size_t cb = count_key(b, syn->n, pc[t].key);
		p[t] = (double)pc[t].count;
		q[t] = (double)cb;
		in_a += pc[t].count;
		in_b += cb;
	}
	p[top] = (double)(real->n - in_a);
	q[top] = (double)(syn->n - in_b);
	*out = ns_jsd(p, top + 1, q, top + 1);
	free(a);
	free(b);
	free(pc);
	free(p);
	free(q);
	return 0;
}

int
ns_v_key_share(const struct ns_view *real, const struct ns_view *syn,
               ns_v_key_fn fn, size_t ksize, double *out)
{
	struct ns_hmap m;
	uint8_t key[128];
	if (ksize > sizeof(key) || ns_hmap_init(&m, ksize, real->n))
		goto nomem;
	for (size_t i = 0; i < real->n; i++) {
		fn(real, i, key);
		if (ns_hmap_add(&m, key) < 0) {
			ns_hmap_free(&m);
			goto nomem;
		}
	}
	size_t hit = 0;
	for (size_t i = 0; i < syn->n; i++) {
		fn(syn, i, key);
		hit += ns_hmap_find(&m, key) >= 0;
	}
	ns_hmap_free(&m);
	*out = syn->n ? (double)hit / (double)syn->n : NAN;
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}
