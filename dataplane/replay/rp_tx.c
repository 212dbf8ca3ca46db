/* The transmit loop of netshare-replay.
 *
 * Each lcore walks its records in trace order. A frame is built into an
 * mbuf whose data area already holds the fill (the pools are filled once
 * at creation and no driver writes into TX data), so only the first
 * NS_FRAME_HDR_MAX bytes are written per frame, and the checksums over
 * the fill come from its closed form. With pacing, the frame is built
 * first, then the lcore spins on the TSC (rte_pause) until the frame is
 * due, appends it to its lane's burst and sends the burst at once unless
 * the next frame is due too: frames that fall behind go out together,
 * frames on time go out alone at their time. Without pacing, bursts fill
 * up to --burst. A partial burst is retried, retry_wait_tsc apart; what
 * the port still refuses is dropped and counted. */
#include "rp_tx.h"

#include <math.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_pause.h>

#define STASH 64

struct fill_arg {
	uint32_t headroom, room;
};

static void
fill_mbuf(struct rte_mempool *mp, void *opaque, void *obj, unsigned idx)
{
	(void)mp;
	(void)idx;
	const struct fill_arg *a = opaque;
	struct rte_mbuf *m = obj;
	ns_frame_fill((uint8_t *)m->buf_addr + a->headroom, 0, a->room);
}

struct rte_mempool *
rp_pool_create(const char *name, unsigned count, uint32_t room, int socket)
{
	if (room > NS_FRAME_MAX) {
		rte_errno = EINVAL;
		return NULL;
	}
	struct fill_arg a = {RTE_PKTMBUF_HEADROOM, room};
	if (room + RTE_PKTMBUF_HEADROOM > UINT16_MAX)
		a.headroom = 0; /* the worker sets data_off to 0 */
	unsigned cache = count >= 4096 ? 256 : count >= 512 ? 32 : 0;
	struct rte_mempool *mp = rte_pktmbuf_pool_create(
	    name, count, cache, 0, (uint16_t)(room + a.headroom), socket);
	if (mp)
		rte_mempool_obj_iter(mp, fill_mbuf, &a);
	return mp;
}

struct stash {
	struct rte_mbuf *m[STASH];
	unsigned n;
};

static void flush_all(struct rp_worker *w);

static inline void
account(const struct rp_job *j, struct rp_lane *L, unsigned a, unsigned b,
        uint64_t t)
{
	struct rp_lane_stats *s = &L->st;
	if (a == b)
		return;
	if (!s->sent)
		s->first_tsc = t;
	s->sent += b - a;
	s->last_tsc = t;
	s->last_len = L->len[b - 1];
	for (unsigned i = a; i < b; i++) {
		s->bytes += L->len[i];
		if (!j->paced)
			continue;
		uint64_t due = L->due[i];
		uint64_t err = t >= due ? t - due : due - t;
		rp_hist_add(&s->err, err);
		if (t > due && err > j->late_tsc)
			s->late++;
	}
}

static void
flush(struct rp_worker *w, struct rp_lane *L)
{
	const struct rp_job *j = w->job;
	unsigned n = L->n, sent = 0, tries = 0;
	if (!n)
		return;
	for (;;) {
		uint64_t t = rte_rdtsc();
		uint16_t k =
		    rte_eth_tx_burst(L->port_id, L->queue_id, L->pend + sent,
		                     (uint16_t)(n - sent));
		account(j, L, sent, sent + k, t);
		sent += k;
		if (sent == n || tries == j->retries || *j->quit)
			break;
		tries++;
		L->st.retries++;
		uint64_t until = rte_rdtsc() + j->retry_wait_tsc;
		while (rte_rdtsc() < until)
			rte_pause();
	}
	if (sent < n) {
		L->st.dropped += n - sent;
		rte_pktmbuf_free_bulk(L->pend + sent, n - sent);
	}
	w->built += n;
	L->n = 0;
}

static void
flush_all(struct rp_worker *w)
{
	for (unsigned k = 0; k < w->n_lanes; k++)
		if (w->lanes[k]->n)
			flush(w, w->lanes[k]);
}

/* Out of mbufs: send what is pending and have the ports free what they
 * have sent (a NIC frees lazily, on later TX calls). */
static void
reclaim(struct rp_worker *w)
{
	flush_all(w);
	for (unsigned k = 0; k < w->n_lanes; k++)
		rte_eth_tx_done_cleanup(w->lanes[k]->port_id,
		                        w->lanes[k]->queue_id, 0);
	rte_pause();
}

/* An mbuf for a frame of len bytes; NULL only when stopped. */
static struct rte_mbuf *
get_mbuf(struct rp_worker *w, struct stash *st, uint32_t len,
         struct rp_lane *L)
{
	const struct rp_job *j = w->job;
	if (len > j->room) {
		struct rte_mbuf *m;
		while (!(m = rte_pktmbuf_alloc(j->big_pool))) {
			L->st.nombuf++;
			if (*j->quit)
				return NULL;
			reclaim(w);
		}
		if (j->big_room + RTE_PKTMBUF_HEADROOM > UINT16_MAX)
			m->data_off = 0;
		return m;
	}
	if (!st->n) {
		while (rte_pktmbuf_alloc_bulk(j->pool, st->m, STASH) != 0) {
			L->st.nombuf++;
			if (*j->quit)
				return NULL;
			reclaim(w);
		}
		st->n = STASH;
	}
	return st->m[--st->n];
}

/* Due time of the worker's k-th record in pass `pass`. */
static inline uint64_t
due_of(const struct rp_worker *w, uint64_t pass, size_t k)
{
	const struct rp_job *j = w->job;
	return j->t0 + (uint64_t)llround((double)pass * j->period) +
	       j->due[w->idx[k]];
}

int
rp_worker_run(struct rp_worker *w)
{
	const struct rp_job *j = w->job;
	struct stash st = {.n = 0};
	const int paced = j->paced;
	size_t n = w->n_idx;
	if (!n)
		return 0;
	for (uint64_t pass = 0; !j->loops || pass < j->loops; pass++) {
		uint64_t base =
		    j->t0 + (uint64_t)llround((double)pass * j->period);
		for (size_t k = 0; k < n; k++) {
			if (*j->quit)
				goto out;
			uint32_t i = w->idx[k];
			struct rp_lane *L = w->lanes[w->lane_of[k]];
			uint32_t len = j->frame_len[i];
			struct rte_mbuf *m = get_mbuf(w, &st, len, L);
			if (!m)
				goto out;
			uint32_t room = len > j->room ? j->big_room : j->room;
			ns_frame_build_hdr(&j->rec[i], &j->fo,
			                   rte_pktmbuf_mtod(m, uint8_t *),
			                   room, NULL);
			m->data_len = (uint16_t)len;
			m->pkt_len = len;
			uint64_t due = 0;
			if (paced) {
				due = base + j->due[i];
				if (rte_rdtsc() < due) {
					flush_all(w);
					while (rte_rdtsc() < due) {
						if (*j->quit) {
							rte_pktmbuf_free(m);
							goto out;
						}
						rte_pause();
					}
				}
			}
			L->pend[L->n] = m;
			L->due[L->n] = due;
			L->len[L->n] = len;
			if (++L->n >= j->burst) {
				flush(w, L);
			} else if (paced) {
				/* send now unless the next frame is due too */
				uint64_t next =
				    k + 1 < n ? base + j->due[w->idx[k + 1]]
				              : due_of(w, pass + 1, 0);
				if ((j->loops && pass + 1 == j->loops &&
				     k + 1 == n) ||
				    next > rte_rdtsc())
					flush_all(w);
			}
		}
	}
out:
	flush_all(w);
	if (st.n)
		rte_pktmbuf_free_bulk(st.m, st.n);
	return 0;
}

static void
sample(uint64_t *tsc, double *ns)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 7; i++) {
		struct timespec t;
		uint64_t a = rte_rdtsc_precise();
		clock_gettime(CLOCK_MONOTONIC, &t);
		uint64_t b = rte_rdtsc_precise();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
		}
	}
}

double
rp_tsc_calibrate(unsigned ms)
{
	uint64_t t0, t1;
	double n0, n1;
	sample(&t0, &n0);
	struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &d, &d) != 0)
		;
	sample(&t1, &n1);
	if (n1 <= n0)
		return (double)rte_get_tsc_hz();
	return (double)(t1 - t0) * 1e9 / (n1 - n0);
}
