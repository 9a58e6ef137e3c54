// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Waiting and robustness: blocking kevent() woken by other threads, timeouts,
 * signals, close() of a kqueue with waiters, poll/select/epoll on the kqueue
 * descriptor, fork() and close-on-exec, large change and event lists, and many
 * kqueues opened and closed.
 */
#include "kq_test_common.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

KQ_SLOW_FIXTURE

/* ---- helpers ---------------------------------------------------------------- */

struct delayed {
	int kq;
	long delay_ms;
	struct kevent ch;	/* change applied after the delay */
	int result;		/* kevent() result */
};

static void *delayed_change(void *p)
{
	struct delayed *d = p;

	sleep_ms(d->delay_ms);
	d->result = kevent(d->kq, &d->ch, 1, NULL, 0, NULL);
	return NULL;
}

/* Start a thread that applies `ch` to kq after delay_ms. */
static int start_delayed(pthread_t *t, struct delayed *d, int kq, long delay_ms, struct kevent ch)
{
	d->kq = kq;
	d->delay_ms = delay_ms;
	d->ch = ch;
	d->result = -2;
	return pthread_create(t, NULL, delayed_change, d);
}

struct waiter {
	int kq;
	long timeout_ms;	/* < 0: NULL timeout */
	int result;
	int err;
	int64_t elapsed_ms;
	struct kevent ev;
};

static void *waiter_fn(void *p)
{
	struct waiter *w = p;
	int64_t t0 = now_ns();

	errno = 0;
	w->result = kq_get(w->kq, &w->ev, 1, w->timeout_ms);
	w->err = errno;
	w->elapsed_ms = ms_since(t0);
	return NULL;
}

/* ---- blocking and timeouts ---------------------------------------------------- */

TEST(null_timeout_waits_for_trigger)
{
	struct delayed d;
	struct kevent ev;
	pthread_t t;
	int64_t t0;

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	t0 = now_ns();
	ASSERT_EQ(0, start_delayed(&t, &d, kq, 100, kev_make(1, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0)));
	ASSERT_EQ(1, kevent(kq, NULL, 0, &ev, 1, NULL));
	EXPECT_LE(100, ms_since(t0));
	EXPECT_EQ(1, ev.ident);
	pthread_join(t, NULL);
	EXPECT_EQ(0, d.result);
}

/* The waiter started before the knote existed. */
TEST(wait_sees_knote_added_later)
{
	struct delayed d;
	struct kevent ev;
	pthread_t t;

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_EQ(0, start_delayed(&t, &d, kq, 50,
				   kev_make(7, EVFILT_USER, EV_ADD | EV_ONESHOT, NOTE_TRIGGER, 0, 0x7)));
	ASSERT_EQ(1, kevent(kq, NULL, 0, &ev, 1, NULL));
	EXPECT_EQ(7, ev.ident);
	EXPECT_EQ(0x7, UDV(ev));
	pthread_join(t, NULL);
	EXPECT_EQ(0, d.result);
}

/* Changes and a wait in the same call: the change's own event comes back. */
TEST(change_and_wait_same_call)
{
	struct kevent ch = kev_make(3, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 0, 0), ev;

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_EQ(1, kevent(kq, &ch, 1, &ev, 1, NULL));
	EXPECT_EQ(3, ev.ident);
	EXPECT_FALSE(ev.flags & EV_ERROR);
}

TEST(timeout_honoured_ns)
{
	const int64_t tmo[] = { 20 * NSEC_PER_MSEC, 20 * NSEC_PER_MSEC + 700000, 5 * NSEC_PER_MSEC,
				1234567 };
	struct kevent ev;

	KQ_OPEN(kq);
	alarm(10);
	for (int i = 0; i < 4; i++) {
		struct timespec ts = ts_ns(tmo[i]);
		int64_t t0 = now_ns(), el;

		ASSERT_EQ(0, kevent(kq, NULL, 0, &ev, 1, &ts));
		el = now_ns() - t0;
		TH_LOG("timeout %lld ns, waited %lld ns", (long long)tmo[i], (long long)el);
		EXPECT_LE(tmo[i], el);
		EXPECT_GT(tmo[i] + 500 * NSEC_PER_MSEC, el);
	}
}

TEST(timer_wakes_null_wait)
{
	struct kevent ev;
	int64_t t0;

	KQ_OPEN(kq);
	alarm(10);
	t0 = now_ns();
	ASSERT_OK(timer_add(kq, 1, EV_ONESHOT, 0, 50));
	ASSERT_EQ(1, kevent(kq, NULL, 0, &ev, 1, NULL));
	EXPECT_LE(50, ms_since(t0));
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
}

/* tv_sec too large for any clock means "practically forever", not "now". */
TEST(huge_timeout_waits)
{
	const time_t secs[] = { LONG_MAX, (time_t)INT32_MAX + 1, 1000000000 };
	struct delayed d;
	struct kevent ev;
	pthread_t t;

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	for (int i = 0; i < 3; i++) {
		struct timespec ts = { .tv_sec = secs[i], .tv_nsec = 999999999 };
		int64_t t0 = now_ns();

		ASSERT_EQ(0, start_delayed(&t, &d, kq, 60,
					   kev_make(1, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0)));
		ASSERT_EQ(1, kevent(kq, NULL, 0, &ev, 1, &ts));
		EXPECT_LE(60, ms_since(t0));
		pthread_join(t, NULL);
	}
}

/* ---- signals --------------------------------------------------------------------- */

struct killer {
	pthread_t target;
	long delay_ms;
};

static void *kill_after(void *p)
{
	struct killer *k = p;

	sleep_ms(k->delay_ms);
	pthread_kill(k->target, SIGUSR1);
	return NULL;
}

TEST(eintr_from_thread_signal_changes_applied)
{
	struct kevent ch = kev_make(5, EVFILT_USER, EV_ADD, 0, 0, 0), ev;
	struct killer k = { pthread_self(), 100 };
	pthread_t t;
	int64_t t0;

	ASSERT_EQ(0, install_eintr_handler(SIGUSR1));
	KQ_OPEN(kq);
	alarm(10);
	t0 = now_ns();
	ASSERT_EQ(0, pthread_create(&t, NULL, kill_after, &k));
	ASSERT_FAILS(EINTR, kevent(kq, &ch, 1, &ev, 1, NULL));
	EXPECT_LE(100, ms_since(t0));
	pthread_join(t, NULL);
	/* The change of the interrupted call was applied. */
	ASSERT_OK(user_trigger(kq, 5));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(5, ev.ident);
	ASSERT_OK(user_del(kq, 5));
}

/* SIGALRM from setitimer, during a wait with a (long) timeout. */
TEST(eintr_from_itimer)
{
	struct kevent ch = kev_make(6, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 0), ev;
	struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = 60000 } };
	struct timespec ts = { .tv_sec = 5 };
	struct delayed safety;
	sigset_t set;
	pthread_t t;
	int64_t t0;

	ASSERT_EQ(0, install_eintr_handler(SIGALRM));
	KQ_OPEN(kq);
	/*
	 * Safety net instead of alarm(): after 3 s the wait ends with an event,
	 * not EINTR. That thread blocks SIGALRM so that the process-directed
	 * signal can only interrupt this thread.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &set, NULL));
	ASSERT_EQ(0, start_delayed(&t, &safety, kq, 3000,
				   kev_make(6, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0)));
	ASSERT_EQ(0, pthread_sigmask(SIG_UNBLOCK, &set, NULL));
	t0 = now_ns();
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	ASSERT_FAILS(EINTR, kevent(kq, &ch, 1, &ev, 1, &ts));
	EXPECT_LE(60, ms_since(t0));
	EXPECT_GT(2000, ms_since(t0));
	/* ident 6 was added by the interrupted call; the kqueue still works. */
	ASSERT_OK(user_trigger(kq, 6));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(6, ev.ident);
	pthread_detach(t);
}

/* ---- many waiters, close ----------------------------------------------------------- */

TEST(many_waiters_each_get_one)
{
	struct kevent ch[8];
	struct waiter w[8];
	pthread_t t[8];
	bool seen[8] = { false };

	KQ_OPEN(kq);
	alarm(10);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct waiter){ .kq = kq, .timeout_ms = -1 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, waiter_fn, &w[i]));
	}
	sleep_ms(100);
	for (int i = 0; i < 8; i++)
		ch[i] = kev_make(100 + i, EVFILT_USER, EV_ADD | EV_ONESHOT, NOTE_TRIGGER, 0, 0);
	ASSERT_EQ(0, kevent(kq, ch, 8, NULL, 0, NULL));
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ASSERT_EQ(1, w[i].result);
		ASSERT_LE(100, (int)w[i].ev.ident);
		ASSERT_GT(108, (int)w[i].ev.ident);
		EXPECT_FALSE(seen[w[i].ev.ident - 100]);
		seen[w[i].ev.ident - 100] = true;
	}
	ASSERT_EQ(0, kq_count(kq));
}

/* close() of the kqueue wakes every thread blocked on it, with EBADF. */
TEST(close_wakes_waiters_ebadf)
{
	struct waiter w[4];
	pthread_t t[4];

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_OK(user_add(kq, 1, 0));
	for (int i = 0; i < 4; i++) {
		w[i] = (struct waiter){ .kq = kq, .timeout_ms = i == 3 ? 8000 : -1 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, waiter_fn, &w[i]));
	}
	sleep_ms(150);
	ASSERT_EQ(0, close(kq));
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(-1, w[i].result);
		EXPECT_EQ(EBADF, w[i].err) TH_LOG("waiter %d: errno %d", i, w[i].err);
		EXPECT_GT(3000, w[i].elapsed_ms);
	}
}

/* Closing a dup of the kqueue leaves the kqueue (and its waiters) alone. */
TEST(dup_shares_kqueue)
{
	struct waiter w = { .timeout_ms = 3000 };
	struct kevent ev;
	pthread_t t;
	int kq2;

	KQ_OPEN(kq);
	alarm(10);
	kq2 = dup(kq);
	ASSERT_LE(0, kq2);
	ASSERT_OK(user_add(kq2, 1, EV_CLEAR));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, kq_poll(kq2, &ev, 1));
	w.kq = kq;
	ASSERT_EQ(0, pthread_create(&t, NULL, waiter_fn, &w));
	sleep_ms(100);
	ASSERT_EQ(0, close(kq2));
	sleep_ms(50);
	ASSERT_OK(user_trigger(kq, 1));
	pthread_join(t, NULL);
	ASSERT_EQ(1, w.result) TH_LOG("errno %d", w.err);
	EXPECT_EQ(1, w.ev.ident);
	ASSERT_OK(user_del(kq, 1));
}

/* ---- the kqueue descriptor is pollable --------------------------------------------- */

TEST(poll_readable_when_pending)
{
	struct pollfd p;
	struct kevent ev;

	KQ_OPEN(kq);
	alarm(10);
	p = (struct pollfd){ .fd = kq, .events = POLLIN };
	ASSERT_EQ(0, poll(&p, 1, 0));
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	ASSERT_EQ(0, poll(&p, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, poll(&p, 1, 0));
	EXPECT_TRUE(p.revents & POLLIN);
	EXPECT_FALSE(p.revents & (POLLERR | POLLNVAL));
	/* Polling consumes nothing. */
	ASSERT_EQ(1, poll(&p, 1, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	ASSERT_EQ(0, poll(&p, 1, 0));
	/* A disabled, triggered knote does not make it readable. */
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, 0));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(0, poll(&p, 1, 0));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, 0));
	ASSERT_EQ(1, poll(&p, 1, 0));
	/* Nor does a deleted one. */
	ASSERT_OK(user_del(kq, 1));
	ASSERT_EQ(0, poll(&p, 1, 0));
}

TEST(poll_blocks_until_event)
{
	struct kevent ev;
	struct pollfd p;
	struct delayed d;
	pthread_t t;
	int64_t t0;

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	p = (struct pollfd){ .fd = kq, .events = POLLIN };
	t0 = now_ns();
	ASSERT_EQ(0, start_delayed(&t, &d, kq, 100, kev_make(1, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0)));
	ASSERT_EQ(1, poll(&p, 1, 5000));
	EXPECT_LE(100, ms_since(t0));
	EXPECT_TRUE(p.revents & POLLIN);
	pthread_join(t, NULL);
	/* A timer wakes poll() too. */
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));	/* consume the user event */
	ASSERT_EQ(0, poll(&p, 1, 0));
	t0 = now_ns();
	ASSERT_OK(timer_add(kq, 2, EV_ONESHOT, 0, 30));
	ASSERT_EQ(1, poll(&p, 1, 5000));
	EXPECT_LE(30, ms_since(t0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
}

TEST(select_readable_when_pending)
{
	struct timeval zero = { 0, 0 };
	fd_set rd;
	struct kevent ev;

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_GT(FD_SETSIZE, kq);
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	FD_ZERO(&rd);
	FD_SET(kq, &rd);
	ASSERT_EQ(0, select(kq + 1, &rd, NULL, NULL, &zero));
	ASSERT_OK(user_trigger(kq, 1));
	FD_ZERO(&rd);
	FD_SET(kq, &rd);
	zero = (struct timeval){ 0, 0 };
	ASSERT_EQ(1, select(kq + 1, &rd, NULL, NULL, &zero));
	EXPECT_TRUE(FD_ISSET(kq, &rd));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	FD_ZERO(&rd);
	FD_SET(kq, &rd);
	zero = (struct timeval){ 0, 0 };
	ASSERT_EQ(0, select(kq + 1, &rd, NULL, NULL, &zero));
}

TEST(epoll_readable_when_pending)
{
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = 0xabcd }, out[2];
	struct kevent ev;
	int ep;

	KQ_OPEN(kq);
	alarm(10);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, kq, &e));
	ASSERT_EQ(0, epoll_wait(ep, out, 2, 0));
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, epoll_wait(ep, out, 2, 0));
	EXPECT_TRUE(out[0].events & EPOLLIN);
	EXPECT_EQ(0xabcd, out[0].data.u64);
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	ASSERT_EQ(0, epoll_wait(ep, out, 2, 0));
	/* epoll_wait() blocks until a timer fires on the kqueue. */
	ASSERT_OK(timer_add(kq, 2, EV_ONESHOT, 0, 40));
	ASSERT_EQ(1, epoll_wait(ep, out, 2, 5000));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
	ASSERT_EQ(0, epoll_wait(ep, out, 2, 0));
	close(ep);
}

/* ---- fork, close-on-exec ---------------------------------------------------------------- */

/*
 * kqueues are not inherited: the child of fork() gets EBADF from kevent() on
 * its parent's kqueue (and can make its own), while the parent's kqueue is
 * untouched.
 */
TEST(fork_child_gets_ebadf)
{
	struct kevent ch = kev_make(1, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0), ev;
	struct timespec zero = { 0, 0 };
	int status;
	pid_t pid;

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	ASSERT_OK(user_add(kq, 2, 0));
	ASSERT_OK(user_trigger(kq, 2));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fails = 0, own;

		alarm(5);
		if (kevent(kq, &ch, 1, NULL, 0, &zero) != -1 || errno != EBADF)
			fails |= 1;
		if (kevent(kq, NULL, 0, &ev, 1, &zero) != -1 || errno != EBADF)
			fails |= 2;
		if (kevent(kq, NULL, 0, &ev, 1, NULL) != -1 || errno != EBADF)	/* no hang */
			fails |= 4;
		own = kqueue();
		if (own < 0 || user_add(own, 1, 0) || user_trigger(own, 1) || kq_poll(own, &ev, 1) != 1)
			fails |= 8;
		if (close(kq))
			fails |= 16;
		_exit(fails);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child failures: %#x", WEXITSTATUS(status));
	/* The child's trigger did not happen; the parent's level event is still there. */
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(2, ev.ident);
	ASSERT_OK(user_del(kq, 2));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(1, ev.ident);
}

/* A child closing its copy and exiting does not disturb a parent thread blocked on the kqueue. */
TEST(fork_child_exit_keeps_parent_waiter)
{
	struct waiter w = { .timeout_ms = 5000 };
	int status;
	pthread_t t;
	pid_t pid;

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	w.kq = kq;
	ASSERT_EQ(0, pthread_create(&t, NULL, waiter_fn, &w));
	sleep_ms(100);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(kq);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	sleep_ms(50);
	ASSERT_OK(user_trigger(kq, 1));
	pthread_join(t, NULL);
	ASSERT_EQ(1, w.result) TH_LOG("waiter: result %d errno %d", w.result, w.err);
	EXPECT_EQ(1, w.ev.ident);
}

TEST(cloexec_variants)
{
	int a = kqueue1(O_CLOEXEC), b = kqueuex(KQUEUE_CLOEXEC), c = kqueue();

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_LE(0, c);
	EXPECT_EQ(1, fd_cloexec(a));
	EXPECT_EQ(1, fd_cloexec(b));
	EXPECT_EQ(0, fd_cloexec(c));
	ASSERT_FAILS(EINVAL, kqueuex(0x2));
	ASSERT_FAILS(EINVAL, kqueue1(O_NONBLOCK));
	/* A close-on-exec kqueue works like any other. */
	ASSERT_OK(user_add(a, 1, 0));
	ASSERT_OK(user_add(b, 1, 0));
	close(a);
	close(b);
	close(c);
}

/* ---- big lists ---------------------------------------------------------------------------- */

#define BIG 10000

TEST_F_TIMEOUT(slow, ten_thousand_changes_one_call, 120)
{
	struct kevent *ch = calloc(BIG, sizeof(*ch)), *ev = calloc(BIG, sizeof(*ev));
	char *seen = calloc(BIG, 1);
	struct timespec zero = { 0, 0 };
	int64_t t[6];
	int n;

	ASSERT_NE(NULL, ch);
	ASSERT_NE(NULL, ev);
	ASSERT_NE(NULL, seen);
	KQ_OPEN(kq);
	alarm(110);
	t[0] = now_ns();
	for (int i = 0; i < BIG; i++)
		ch[i] = kev_make(i, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, i);
	ASSERT_EQ(0, kevent(kq, ch, BIG, NULL, 0, &zero));
	t[1] = now_ns();
	for (int i = 0; i < BIG; i++)
		ch[i] = kev_make(i, EVFILT_USER, 0, NOTE_TRIGGER, 0, i);
	ASSERT_EQ(0, kevent(kq, ch, BIG, NULL, 0, &zero));
	t[2] = now_ns();
	n = kevent(kq, NULL, 0, ev, BIG, &zero);
	t[3] = now_ns();
	ASSERT_EQ(BIG, n);
	for (int i = 0; i < n; i++) {
		ASSERT_GT(BIG, (int)ev[i].ident);
		ASSERT_EQ(ev[i].ident, UDV(ev[i]));
		ASSERT_EQ(0, seen[ev[i].ident]);
		seen[ev[i].ident] = 1;
	}
	ASSERT_EQ(0, kq_poll(kq, ev, 1));
	for (int i = 0; i < BIG; i++)
		ch[i] = kev_make(i, EVFILT_USER, EV_DELETE, 0, 0, 0);
	t[3] = now_ns();
	ASSERT_EQ(0, kevent(kq, ch, BIG, NULL, 0, &zero));
	t[4] = now_ns();
	ASSERT_ERRNO(ENOENT, user_del(kq, 0));
	ASSERT_ERRNO(ENOENT, user_del(kq, BIG - 1));
	/* Deleting again, with room for all the records, in place. */
	ASSERT_EQ(BIG, kevent(kq, ch, BIG, ch, BIG, &zero));
	t[5] = now_ns();
	for (int i = 0; i < BIG; i++) {
		ASSERT_EQ(i, (int)ch[i].ident);
		ASSERT_TRUE(ch[i].flags & EV_ERROR);
		ASSERT_EQ(ENOENT, ch[i].data);
	}
	TH_LOG("ms for %d: add %lld, trigger %lld, delete %lld, delete again %lld", BIG,
	       (long long)(t[1] - t[0]) / NSEC_PER_MSEC, (long long)(t[2] - t[1]) / NSEC_PER_MSEC,
	       (long long)(t[4] - t[3]) / NSEC_PER_MSEC, (long long)(t[5] - t[4]) / NSEC_PER_MSEC);
	free(ch);
	free(ev);
	free(seen);
}

TEST_F_TIMEOUT(slow, ten_thousand_receipts_in_place, 120)
{
	struct kevent *k = calloc(BIG, sizeof(*k));
	int64_t t0 = now_ns();

	ASSERT_NE(NULL, k);
	KQ_OPEN(kq);
	alarm(110);
	for (int i = 0; i < BIG; i++)
		k[i] = kev_make(i, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, i + 1);
	ASSERT_EQ(BIG, kevent(kq, k, BIG, k, BIG, NULL));
	for (int i = 0; i < BIG; i++) {
		ASSERT_EQ(i, (int)k[i].ident);
		ASSERT_EQ(i + 1, (int)UDV(k[i]));
		ASSERT_TRUE(k[i].flags & EV_ERROR);
		ASSERT_EQ(0, k[i].data);
	}
	ASSERT_OK(user_del(kq, BIG - 1));
	TH_LOG("%d receipts in %lld ms", BIG, (long long)ms_since(t0));
	free(k);
}

TEST(nevents_larger_than_pending)
{
	struct kevent ev[100];

	KQ_OPEN(kq);
	alarm(10);
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(user_add(kq, i, EV_CLEAR));
		ASSERT_OK(user_trigger(kq, i));
	}
	ASSERT_EQ(3, kevent(kq, NULL, 0, ev, 100, NULL));
	ASSERT_EQ(0, kq_get(kq, ev, 100, 10));
}

/*
 * nevents = INT_MAX with room for one event placed right before a PROT_NONE
 * page: with one event pending the call returns 1 (and writes nothing more);
 * the kernel must not size anything by nevents.
 */
TEST(nevents_int_max)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kevent *slot;
	int64_t t0;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, mprotect(p + 4096, 4096, PROT_NONE));
	slot = (struct kevent *)(p + 4096 - sizeof(struct kevent));
	KQ_OPEN(kq);
	alarm(10);
	t0 = now_ns();
	ASSERT_EQ(0, kq_get(kq, slot, INT_MAX, 0));
	EXPECT_GT(1000, ms_since(t0));
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, kevent(kq, NULL, 0, slot, INT_MAX, NULL));
	EXPECT_EQ(1, slot->ident);
	EXPECT_EQ(EVFILT_USER, slot->filter);
	ASSERT_EQ(0, kq_get(kq, slot, INT_MAX, 0));
}

/* ---- many kqueues ------------------------------------------------------------------------- */

/*
 * 1000 kqueues opened and closed, each with knotes left registered (5 timers
 * and 2 user events): no descriptor leak, and the 5000 timers never hit the
 * per-user timer cap (default 4096) because closing frees them.
 */
TEST_F_TIMEOUT(slow, thousand_kqueues_open_close, 120)
{
	struct kevent ch[7], ev[8];
	int64_t t0 = now_ns();
	int first = -1;

	alarm(110);
	for (int i = 0; i < 1000; i++) {
		int kq = kqueue();
		int n;

		ASSERT_LE(0, kq) TH_LOG("iteration %d: %s", i, strerror(errno));
		if (first < 0)
			first = kq;
		ASSERT_EQ(first, kq) TH_LOG("iteration %d: descriptor leak", i);
		for (int j = 0; j < 5; j++)
			ch[j] = kev_make(j, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 3600, 0);
		ch[5] = kev_make(1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, 0);
		ch[6] = kev_make(2, EVFILT_USER, EV_ADD | EV_DISABLE, NOTE_TRIGGER, 0, 0);
		n = kevent(kq, ch, 7, ev, 8, &(struct timespec){ 0, 0 });
		ASSERT_EQ(1, n) TH_LOG("iteration %d: errno %d, first error %lld", i, errno,
				       n > 0 ? (long long)ev[0].data : 0LL);
		ASSERT_FALSE(ev[0].flags & EV_ERROR) TH_LOG("iteration %d: error %lld", i,
							      (long long)ev[0].data);
		ASSERT_EQ(0, close(kq));
	}
	TH_LOG("1000 kqueues in %lld ms", (long long)ms_since(t0));
}

TEST(thousand_kqueues_at_once)
{
	struct rlimit rl;
	struct kevent ev;
	int *kqs = calloc(1000, sizeof(int));

	ASSERT_NE(NULL, kqs);
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur < 1100) {
		rl.rlim_cur = 1100;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			SKIP(return, "cannot raise RLIMIT_NOFILE to 1100");
	}
	alarm(25);
	for (int i = 0; i < 1000; i++) {
		kqs[i] = kqueue();
		ASSERT_LE(0, kqs[i]) TH_LOG("kqueue #%d: %s", i, strerror(errno));
		ASSERT_OK(kq_ctl(kqs[i], i, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, i));
	}
	for (int i = 0; i < 1000; i++) {
		ASSERT_EQ(1, kq_poll(kqs[i], &ev, 1));
		ASSERT_EQ(i, (int)ev.ident);
		ASSERT_EQ(i, (int)UDV(ev));
	}
	for (int i = 0; i < 1000; i++) {
		ASSERT_EQ(0, close(kqs[i]));
	}
	free(kqs);
}

TEST_HARNESS_MAIN
