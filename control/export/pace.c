/* Records-per-second pacing: each packet waits for its place on a
 * schedule of rate records per second that started at ns_pacer_start. */
#include <errno.h>
#include <time.h>

#include "netshare/export.h"

#define NS_PER_S 1000000000ull
#define CATCH_UP_NS (50 * 1000000ull)

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

uint64_t
ns_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t
ns_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

void
ns_pacer_start(struct ns_pacer *p, uint64_t rate)
{
	p->rate = rate;
	p->t0_ns = ns_mono_ns();
	p->done = 0;
}

void
ns_pacer_wait(struct ns_pacer *p, uint64_t n)
{
	if (p->rate == 0)
		return;
	/* when the records sent so far are due, in ns after t0 */
	uint64_t due = (uint64_t)((double)p->done * NS_PER_S / p->rate);
	uint64_t now = ns_mono_ns();
	if (now > p->t0_ns + due + CATCH_UP_NS) {
		/* behind after a stall: restart the schedule rather than
		 * burst everything that is late */
		p->t0_ns = now - due - CATCH_UP_NS;
	}
	uint64_t at = p->t0_ns + due;
	if (at > now) {
		struct timespec ts = {(time_t)(at / NS_PER_S),
		                      (long)(at % NS_PER_S)};
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
		                       NULL) == EINTR)
			;
	}
	p->done += n;
}

uint64_t
ns_pacer_due(struct ns_pacer *p, uint64_t now_ns)
{
	if (p->rate == 0)
		return UINT64_MAX;
	uint64_t el = now_ns > p->t0_ns ? now_ns - p->t0_ns : 0;
	uint64_t total = (uint64_t)((double)p->rate * (double)el / NS_PER_S);
	uint64_t due = total > p->done ? total - p->done : 0;
	uint64_t cap = (uint64_t)((double)p->rate * CATCH_UP_NS / NS_PER_S) + 1;
	if (due > cap) { /* behind after a stall: restart, no burst */
		due = cap;
		p->t0_ns = now_ns;
		p->done = 0;
	}
	p->done += due;
	return due;
}
