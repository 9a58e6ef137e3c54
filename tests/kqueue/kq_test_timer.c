// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_TIMER: units, periodic and oneshot timers, expiration counts,
 * NOTE_ABSTIME, modification and deletion, accuracy, and the per-user cap on
 * armed timers.
 *
 * The VM these run in is emulated (and KASAN-instrumented), so the upper
 * bounds are generous; lower bounds are exact (a timer must never fire early).
 * Counts of expirations are checked against the time actually measured around
 * the calls rather than against the nominal sleep.
 */
#include "kq_test_common.h"

KQ_SLOW_FIXTURE

/* Slack allowed for a timer firing late (emulated VM). */
#define LATE_MS 250

/* Wait for one event, up to timeout_ms; returns kevent()'s result. */
static int wait1(int kq, struct kevent *ev, long timeout_ms)
{
	return kq_get(kq, ev, 1, timeout_ms);
}

static int tdel(int kq, uint64_t ident)
{
	return kq_ctl(kq, ident, EVFILT_TIMER, EV_DELETE, 0, 0, 0);
}

/* Add a timer, wait for its first event and return the delay in ms (or < 0). */
static int64_t first_fire_ms(int kq, unsigned int flags, unsigned int fflags, int64_t data,
			     struct kevent *ev)
{
	int64_t t0 = now_ns();

	if (timer_add(kq, 1, flags, fflags, data))
		return -1;
	if (wait1(kq, ev, 5000) != 1)
		return -2;
	return ms_since(t0);
}

/* first_fire_ms() must be want_ms, at most LATE_MS late; the event in *ev. */
static void expect_first_fire(struct __test_metadata *_metadata, int kq, unsigned int flags,
			      unsigned int fflags, int64_t data, int64_t want_ms,
			      struct kevent *ev)
{
	int64_t ms = first_fire_ms(kq, flags, fflags, data, ev);

	ASSERT_LE(want_ms, ms);
	ASSERT_GT(want_ms + LATE_MS, ms);
}

TEST(default_unit_is_ms_and_periodic)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	expect_first_fire(_metadata, kq, 0, 0, 20, 20, &ev);
	EXPECT_EQ(1, ev.ident);
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
	EXPECT_LE(1, ev.data);
	EXPECT_TRUE(flags_clean(&ev));
	EXPECT_FALSE(ev.flags & EV_ERROR);
	/* Periodic: it fires again, twice more. */
	ASSERT_EQ(1, wait1(kq, &ev, 1000));
	EXPECT_LE(1, ev.data);
	ASSERT_EQ(1, wait1(kq, &ev, 1000));
	ASSERT_OK(tdel(kq, 1));
}

TEST(unit_mseconds)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	expect_first_fire(_metadata, kq, EV_ONESHOT, NOTE_MSECONDS, 30, 30, &ev);
}

TEST(unit_useconds)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	expect_first_fire(_metadata, kq, EV_ONESHOT, NOTE_USECONDS, 30000, 30, &ev);
}

TEST(unit_nseconds)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	expect_first_fire(_metadata, kq, EV_ONESHOT, NOTE_NSECONDS, 30 * NSEC_PER_MSEC, 30, &ev);
}

TEST(unit_seconds)
{
	struct kevent ev;
	int64_t t0;

	KQ_OPEN_ALARM(kq, 10);
	t0 = now_ns();
	ASSERT_OK(timer_add(kq, 1, EV_ONESHOT, NOTE_SECONDS, 1));
	ASSERT_EQ(0, wait1(kq, &ev, 500));
	ASSERT_EQ(1, wait1(kq, &ev, 3000));
	ASSERT_LE(1000, ms_since(t0));
	ASSERT_GT(1000 + LATE_MS, ms_since(t0));
	EXPECT_EQ(1, ev.data);
}

TEST(two_units_einval)
{
	const unsigned int units[] = { NOTE_SECONDS, NOTE_MSECONDS, NOTE_USECONDS, NOTE_NSECONDS };

	KQ_OPEN(kq);
	for (int i = 0; i < 4; i++) {
		for (int j = i + 1; j < 4; j++) {
			unsigned int f = units[i] | units[j];

			TH_LOG("fflags %#x", f);
			ASSERT_ERRNO(EINVAL, timer_add(kq, 1, 0, f, 100));
			ASSERT_ERRNO(EINVAL, timer_add(kq, 1, 0, f | NOTE_ABSTIME, 100));
			ASSERT_ERRNO(ENOENT, tdel(kq, 1));
		}
	}
	ASSERT_ERRNO(EINVAL, timer_add(kq, 1, 0, NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS |
							NOTE_NSECONDS, 100));
	ASSERT_ERRNO(ENOENT, tdel(kq, 1));
	/* Modifying an existing timer into two units fails too, and keeps it. */
	ASSERT_OK(timer_add(kq, 2, 0, NOTE_SECONDS, 3600));
	ASSERT_ERRNO(EINVAL, timer_add(kq, 2, 0, NOTE_SECONDS | NOTE_USECONDS, 1));
	ASSERT_OK(tdel(kq, 2));
}

TEST(negative_data_einval)
{
	const unsigned int units[] = { 0, NOTE_SECONDS, NOTE_MSECONDS, NOTE_USECONDS, NOTE_NSECONDS };

	KQ_OPEN(kq);
	for (int i = 0; i < 5; i++) {
		TH_LOG("unit %#x", units[i]);
		ASSERT_ERRNO(EINVAL, timer_add(kq, 1, 0, units[i], -1));
		ASSERT_ERRNO(EINVAL, timer_add(kq, 1, 0, units[i], INT64_MIN));
		ASSERT_ERRNO(ENOENT, tdel(kq, 1));
	}
}

TEST(oneshot_fires_once)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_OK(timer_add(kq, 1, EV_ONESHOT, 0, 10));
	ASSERT_EQ(1, wait1(kq, &ev, 2000));
	EXPECT_EQ(1, ev.data);
	EXPECT_EQ(1, ev.ident);
	ASSERT_EQ(0, wait1(kq, &ev, 60));
	ASSERT_ERRNO(ENOENT, tdel(kq, 1));
}

TEST(accuracy_50ms_oneshot)
{
	struct kevent ev;
	int64_t t0, ms;

	KQ_OPEN_ALARM(kq, 10);
	t0 = now_ns();
	ASSERT_OK(timer_add(kq, 1, EV_ONESHOT, NOTE_MSECONDS, 50));
	ASSERT_EQ(1, kq_get(kq, &ev, 1, -1));
	ms = ms_since(t0);
	EXPECT_LE(50, ms);
	EXPECT_GT(50 + 200, ms);
	EXPECT_EQ(1, ev.data);
}

/*
 * Retrieve the one pending event of kq into *ev. The count of a timer of
 * `period` ns whose count was last reset between add_lo and add_hi must lie in
 * [*lo, *hi], computed from the time measured around this retrieval, which
 * resets the count in turn: *get_lo and *get_hi get the bounds of that.
 */
static void poll_count_window(struct __test_metadata *_metadata, int kq, struct kevent *ev,
			      int64_t period, int64_t add_lo, int64_t add_hi, int64_t *get_lo,
			      int64_t *get_hi, int64_t *lo, int64_t *hi)
{
	*get_lo = now_ns();
	ASSERT_EQ(1, kq_poll(kq, ev, 1));
	*get_hi = now_ns();
	*lo = (*get_lo - add_hi) / period - 2;
	*hi = (*get_hi - add_lo) / period + 1;
	TH_LOG("data %lld, window [%lld, %lld]", (long long)ev->data, (long long)*lo,
	       (long long)*hi);
}

/*
 * data counts the expirations since the last retrieval: a 10 ms timer read
 * after ~105 ms reports about 10. The exact bounds come from the time measured
 * around registration and retrieval.
 */
TEST(data_counts_expirations)
{
	int64_t t_before_add, t_after_add, t_before_get, t_after_get, lo, hi;
	const int64_t period = 10 * NSEC_PER_MSEC;
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	t_before_add = now_ns();
	ASSERT_OK(timer_add(kq, 1, 0, 0, 10));
	t_after_add = now_ns();
	sleep_ms(105);
	poll_count_window(_metadata, kq, &ev, period, t_before_add, t_after_add, &t_before_get,
			  &t_after_get, &lo, &hi);
	EXPECT_LE(8, ev.data);
	EXPECT_LE(lo, ev.data);
	EXPECT_GE(hi, ev.data);

	/* Retrieval resets the count: the next one covers only the time since. */
	t_after_add = t_after_get;	/* reset happened in [t_before_get, t_after_get] */
	t_before_add = t_before_get;
	sleep_ms(50);
	poll_count_window(_metadata, kq, &ev, period, t_before_add, t_after_add, &t_before_get,
			  &t_after_get, &lo, &hi);
	EXPECT_LE(lo > 1 ? lo : 1, ev.data);
	EXPECT_GE(hi, ev.data);
}

/* Re-EV_ADD restarts the timer with the new period and drops what was pending. */
TEST(readd_restarts)
{
	struct kevent ev;
	int64_t t0, elapsed;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_OK(timer_add(kq, 1, 0, 0, 10));
	sleep_ms(60);
	t0 = now_ns();
	/* 500 ms: wide enough that a loaded, emulated VM still sees the quiet 100 ms first. */
	ASSERT_OK(timer_add(kq, 1, 0, 0, 500));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	ASSERT_EQ(0, wait1(kq, &ev, 100));
	ASSERT_EQ(1, wait1(kq, &ev, 3000));
	elapsed = ms_since(t0);
	EXPECT_LE(500, elapsed);
	/* One expiration of the new period, unless the wait itself ran a whole period late. */
	if (elapsed < 1000) {
		EXPECT_EQ(1, ev.data);
	} else {
		EXPECT_LE(1, ev.data);
	}
	ASSERT_OK(tdel(kq, 1));
}

/* Re-EV_ADD also takes the new unit. */
TEST(readd_new_unit)
{
	struct kevent ev;
	int64_t t0;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_OK(timer_add(kq, 1, 0, NOTE_SECONDS, 3600));
	t0 = now_ns();
	ASSERT_OK(timer_add(kq, 1, 0, NOTE_USECONDS, 20000));
	ASSERT_EQ(1, wait1(kq, &ev, 3000));
	EXPECT_LE(20, ms_since(t0));
	EXPECT_GT(20 + LATE_MS, ms_since(t0));
	ASSERT_OK(tdel(kq, 1));
}

TEST(delete_stops)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_OK(timer_add(kq, 1, 0, 0, 10));
	ASSERT_EQ(1, wait1(kq, &ev, 2000));
	ASSERT_OK(tdel(kq, 1));
	ASSERT_EQ(0, wait1(kq, &ev, 100));
	ASSERT_ERRNO(ENOENT, tdel(kq, 1));
}

TEST(delete_discards_pending)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_OK(timer_add(kq, 1, 0, 0, 5));
	sleep_ms(30);
	ASSERT_OK(tdel(kq, 1));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	ASSERT_EQ(0, wait1(kq, &ev, 20));
}

TEST(disable_suppresses)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_OK(timer_add(kq, 1, 0, 0, 10));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_TIMER, EV_DISABLE, 0, 0, 0));
	ASSERT_EQ(0, wait1(kq, &ev, 80));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_TIMER, EV_ENABLE, 0, 0, 0));
	ASSERT_EQ(1, wait1(kq, &ev, 1000));
	EXPECT_EQ(1, ev.ident);
	EXPECT_LE(1, ev.data);
	ASSERT_OK(tdel(kq, 1));
}

TEST(abstime_future)
{
	struct kevent ev;
	int64_t target_us = clock_ns(CLOCK_REALTIME) / 1000 + 80000;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_OK(timer_add(kq, 1, EV_ONESHOT, NOTE_USECONDS | NOTE_ABSTIME, target_us));
	/*
	 * Not before the target. A first short wait that returns the event is only right once
	 * the target passed (a loaded host can stall this thread for 80 ms between the calls).
	 */
	if (wait1(kq, &ev, 30) == 1) {
		EXPECT_LE(target_us, clock_ns(CLOCK_REALTIME) / 1000);
	} else {
		ASSERT_EQ(1, wait1(kq, &ev, 3000));
	}
	EXPECT_LE(target_us, clock_ns(CLOCK_REALTIME) / 1000);
	EXPECT_GT(target_us + 1000 * LATE_MS, clock_ns(CLOCK_REALTIME) / 1000);
	EXPECT_EQ(1, ev.data);
}

TEST(abstime_past_fires_at_once)
{
	const struct { unsigned int fflags; int64_t data; } c[] = {
		{ NOTE_SECONDS | NOTE_ABSTIME, time(NULL) - 10 },
		{ NOTE_ABSTIME, clock_ns(CLOCK_REALTIME) / NSEC_PER_MSEC - 1000 },
		{ NOTE_MSECONDS | NOTE_ABSTIME, 1 },
		{ NOTE_NSECONDS | NOTE_ABSTIME, clock_ns(CLOCK_REALTIME) - NSEC_PER_SEC },
	};
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	for (int i = 0; i < 4; i++) {
		int64_t t0 = now_ns();

		TH_LOG("case %d", i);
		ASSERT_OK(timer_add(kq, 10 + i, EV_ONESHOT, c[i].fflags, c[i].data));
		ASSERT_EQ(1, wait1(kq, &ev, 3000));
		EXPECT_EQ(10 + i, ev.ident);
		EXPECT_GT(LATE_MS, ms_since(t0));
		EXPECT_LE(1, ev.data);
	}
}

/* Periods too large for any clock must not wrap around into "fire now". */
TEST(huge_period_no_overflow)
{
	const unsigned int units[] = { NOTE_SECONDS, NOTE_MSECONDS, NOTE_USECONDS, NOTE_NSECONDS };
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	for (int i = 0; i < 4; i++) {
		ASSERT_OK(timer_add(kq, i, 0, units[i], INT64_MAX));
		ASSERT_OK(timer_add(kq, 100 + i, 0, units[i] | NOTE_ABSTIME, INT64_MAX));
	}
	ASSERT_EQ(0, wait1(kq, &ev, 50));
	for (int i = 0; i < 4; i++) {
		ASSERT_OK(tdel(kq, i));
		ASSERT_OK(tdel(kq, 100 + i));
	}
}

TEST(udata_ext_passthrough)
{
	struct kevent ch = kev_make(42, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 5, 0xfeedfacecafef00dull);
	struct kevent ev;

	ch.ext[2] = 0x1122334455667788ull;
	ch.ext[3] = 0x99aabbccddeeff00ull;
	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, kevent(kq, &ch, 1, NULL, 0, NULL));
	ASSERT_EQ(1, wait1(kq, &ev, 2000));
	EXPECT_EQ(42, ev.ident);
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
	EXPECT_EQ(0xfeedfacecafef00dull, UDV(ev));
	EXPECT_EQ(0x1122334455667788ull, ev.ext[2]);
	EXPECT_EQ(0x99aabbccddeeff00ull, ev.ext[3]);
	EXPECT_TRUE(flags_clean(&ev));
}

TEST(timers_independent)
{
	int64_t d10 = 0, d40 = 0;
	struct kevent ev[4];
	int n;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_OK(timer_add(kq, 10, 0, 0, 10));
	ASSERT_OK(timer_add(kq, 40, 0, 0, 40));
	ASSERT_OK(timer_add(kq, 99, 0, NOTE_SECONDS, 3600));
	sleep_ms(125);
	n = kq_poll(kq, ev, 4);
	ASSERT_EQ(2, n);
	for (int i = 0; i < n; i++) {
		ASSERT_TRUE(ev[i].ident == 10 || ev[i].ident == 40);
		if (ev[i].ident == 10)
			d10 = ev[i].data;
		else
			d40 = ev[i].data;
	}
	TH_LOG("10 ms timer: %lld, 40 ms timer: %lld", (long long)d10, (long long)d40);
	EXPECT_LE(1, d40);
	EXPECT_LE(2 * d40, d10);
	/* Deleting one leaves the other running. */
	ASSERT_OK(tdel(kq, 10));
	ASSERT_EQ(1, wait1(kq, ev, 1000));
	EXPECT_EQ(40, ev[0].ident);
}

#define CAP_LOOP 10000

/* Fill the per-user timer cap; returns the number of timers added (ENOMEM next). */
static int fill_timer_cap(int kq, int *err)
{
	int i;

	*err = 0;
	for (i = 0; i < CAP_LOOP; i++) {
		*err = timer_add(kq, i, 0, NOTE_SECONDS, 3600);
		if (*err)
			break;
	}
	return i;
}

TEST_F_TIMEOUT(slow, per_user_timer_cap, 100)
{
	int n, err;

	KQ_OPEN_ALARM(kq, 90);
	n = fill_timer_cap(kq, &err);
	TH_LOG("%d timers armed before the cap", n);
	ASSERT_EQ(ENOMEM, err) TH_LOG("no ENOMEM after %d timers", n);
	ASSERT_LT(0, n);
	/* The failed add left nothing behind. */
	ASSERT_ERRNO(ENOENT, tdel(kq, n));
	ASSERT_ERRNO(ENOMEM, timer_add(kq, n, 0, NOTE_SECONDS, 3600));
	/* Modifying an existing timer adds none: allowed at the cap. */
	ASSERT_OK(timer_add(kq, 0, 0, NOTE_SECONDS, 7200));
	/* User events are not timers. */
	ASSERT_OK(user_add(kq, 1, 0));
	/* Deleting frees room. */
	for (int i = 0; i < n; i++) {
		ASSERT_OK(tdel(kq, i));
	}
	ASSERT_OK(timer_add(kq, n, 0, NOTE_SECONDS, 3600));
	ASSERT_OK(timer_add(kq, n + 1, 0, NOTE_SECONDS, 3600));
	ASSERT_OK(tdel(kq, n));
	ASSERT_OK(tdel(kq, n + 1));
	/* And the whole cap is available again. */
	ASSERT_EQ(n, fill_timer_cap(kq, &err));
	ASSERT_EQ(ENOMEM, err);
}

/* Timers still registered when the kqueue is closed are released. */
TEST_F_TIMEOUT(slow, timer_cap_released_on_close, 100)
{
	int n, m, err, kq2;
	int64_t deadline;

	KQ_OPEN_ALARM(kq, 90);
	n = fill_timer_cap(kq, &err);
	ASSERT_EQ(ENOMEM, err);
	ASSERT_EQ(0, close(kq));
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	/* Release may lag a little behind close(); allow 2 s. */
	deadline = now_ns() + 2 * NSEC_PER_SEC;
	for (;;) {
		m = fill_timer_cap(kq2, &err);
		if (m == n || now_ns() > deadline)
			break;
		for (int i = 0; i < m; i++) {
			ASSERT_OK(tdel(kq2, i));
		}
		sleep_ms(20);
	}
	ASSERT_EQ(n, m);
	ASSERT_EQ(ENOMEM, err);
}

/* An expired oneshot timer no longer counts against the cap. */
TEST_F_TIMEOUT(slow, fired_oneshot_releases_cap, 100)
{
	struct kevent ev;
	int n, err;

	KQ_OPEN_ALARM(kq, 90);
	n = fill_timer_cap(kq, &err);
	ASSERT_EQ(ENOMEM, err);
	ASSERT_OK(tdel(kq, 0));
	ASSERT_OK(timer_add(kq, 0, EV_ONESHOT, 0, 1));
	ASSERT_EQ(1, wait1(kq, &ev, 2000));
	EXPECT_EQ(0, ev.ident);
	ASSERT_OK(timer_add(kq, CAP_LOOP + 1, 0, NOTE_SECONDS, 3600));
	ASSERT_ERRNO(ENOMEM, timer_add(kq, CAP_LOOP + 2, 0, NOTE_SECONDS, 3600));
	(void)n;
}

TEST_HARNESS_MAIN
