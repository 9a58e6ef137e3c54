// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Concurrency stress of the core on all vCPUs (the VM kernel runs lockdep and KASAN, so a race
 * in the module shows up as a splat that fails the run even if these assertions pass):
 * - mixed churn: threads add, modify, trigger, disable/enable and delete user events and
 *   short periodic/oneshot timers on one kqueue while other threads wait on it; every
 *   returned event must be well-formed (a known filter, an ident in range, no EV_ADD, no
 *   EV_ERROR);
 * - timer re-add storm: re-adding the same fast timer from several threads while it fires;
 * - close(kq) while every thread is busy on it: nothing may crash or hang.
 */
#include "kq_test_common.h"

#define IDENTS 64

struct churn {
	int kq;
	int seed;
	atomic_int stop;
	atomic_long events;
	atomic_int bad;
};

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

static void *churn_changer(void *arg)
{
	struct churn *c = arg;
	unsigned int s = (unsigned int)(uintptr_t)pthread_self();	/* a different stream per thread */
	struct timespec zero = { 0, 0 };
	struct kevent ch;

	while (!atomic_load(&c->stop)) {
		uint64_t id = rnd(&s) % IDENTS;

		switch (rnd(&s) % 7) {
		case 0: EV_SET(&ch, id, EVFILT_USER, EV_ADD | (rnd(&s) % 2 ? EV_CLEAR : 0), 0, 0, NULL); break;
		case 1: EV_SET(&ch, id, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR | (rnd(&s) & 0xff), 0, NULL); break;
		case 2: EV_SET(&ch, id, EVFILT_USER, EV_DELETE, 0, 0, NULL); break;
		case 3: EV_SET(&ch, id, EVFILT_TIMER, EV_ADD | (rnd(&s) % 2 ? EV_ONESHOT : 0),
			       NOTE_USECONDS, 200 + rnd(&s) % 2000, NULL); break;
		case 4: EV_SET(&ch, id, EVFILT_TIMER, EV_DELETE, 0, 0, NULL); break;
		case 5: EV_SET(&ch, id, rnd(&s) % 2 ? EVFILT_USER : EVFILT_TIMER, EV_DISABLE, 0, 0, NULL); break;
		default: EV_SET(&ch, id, rnd(&s) % 2 ? EVFILT_USER : EVFILT_TIMER, EV_ENABLE | EV_DISPATCH, 0, 0, NULL); break;
		}
		/* ENOENT for a knote another thread deleted is expected; nothing else is. */
		if (kevent(c->kq, &ch, 1, NULL, 0, &zero) < 0 && errno != ENOENT)
			atomic_fetch_add(&c->bad, 1000);
	}
	return NULL;
}

static void *churn_waiter(void *arg)
{
	struct churn *c = arg;
	struct timespec ts = { 0, 5 * NSEC_PER_MSEC };
	struct kevent ev[8];
	int n, i;

	while (!atomic_load(&c->stop)) {
		n = kevent(c->kq, NULL, 0, ev, 8, &ts);
		if (n < 0) {
			atomic_fetch_add(&c->bad, 1000000);
			break;
		}
		for (i = 0; i < n; i++) {
			bool ok = (ev[i].filter == EVFILT_USER || ev[i].filter == EVFILT_TIMER) &&
				  ev[i].ident < IDENTS && !(ev[i].flags & (EV_ADD | EV_ERROR));
			if (!ok)
				atomic_fetch_add(&c->bad, 1);
		}
		atomic_fetch_add(&c->events, n);
	}
	return NULL;
}

static void run_churn(struct __test_metadata *_metadata, int changers, int waiters, int ms,
		      bool close_while_busy)
{
	pthread_t th[16];
	struct churn c = { .kq = kqueue() };
	int i, n = changers + waiters;

	ASSERT_LE(0, c.kq);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, i < changers ? churn_changer : churn_waiter, &c));
	sleep_ms(ms);
	if (close_while_busy) {
		/* Busy threads get EBADF (or ENOENT) from now on; they must all come back. */
		close(c.kq);
		sleep_ms(50);
	}
	atomic_store(&c.stop, 1);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	if (!close_while_busy) {
		EXPECT_EQ(0, atomic_load(&c.bad));
		EXPECT_LT(0, atomic_load(&c.events));
		close(c.kq);
	}
	TH_LOG("%ld events in %d ms", (long)atomic_load(&c.events), ms);
}

KQ_SLOW_FIXTURE

TEST_F_TIMEOUT(slow, mixed_churn, 120)
{
	alarm(100);
	run_churn(_metadata, 4, 4, 3000, false);
}

TEST_F_TIMEOUT(slow, close_while_busy, 120)
{
	alarm(100);
	run_churn(_metadata, 4, 4, 1000, true);
}

struct readd {
	int kq;
	atomic_int stop;
	atomic_int bad;
};

static void *readd_thread(void *arg)
{
	struct readd *r = arg;
	struct timespec zero = { 0, 0 };
	struct kevent ch;

	EV_SET(&ch, 1, EVFILT_TIMER, EV_ADD, NOTE_USECONDS, 150, NULL);
	while (!atomic_load(&r->stop))
		if (kevent(r->kq, &ch, 1, NULL, 0, &zero) != 0)
			atomic_fetch_add(&r->bad, 1);
	return NULL;
}

TEST_F_TIMEOUT(slow, timer_readd_storm, 120)
{
	struct readd r = { .kq = kqueue() };
	struct timespec ts = { 0, 10 * NSEC_PER_MSEC };
	struct kevent ev;
	pthread_t th[3];
	int i, got = 0;
	int64_t end;

	alarm(100);
	ASSERT_LE(0, r.kq);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, readd_thread, &r));
	end = now_ns() + 2 * NSEC_PER_SEC;
	while (now_ns() < end) {
		int n = kevent(r.kq, NULL, 0, &ev, 1, &ts);

		ASSERT_LE(0, n);
		if (n == 1) {
			EXPECT_EQ(EVFILT_TIMER, ev.filter);
			EXPECT_LE(1, ev.data);
			got++;
		}
	}
	atomic_store(&r.stop, 1);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	EXPECT_EQ(0, atomic_load(&r.bad));
	TH_LOG("%d timer events while being re-added", got);
	close(r.kq);
}

TEST_HARNESS_MAIN
