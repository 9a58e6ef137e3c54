// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_USER: triggering, fflags arithmetic, data/udata/ext pass-through,
 * the flag semantics seen through user events (EV_CLEAR, EV_ONESHOT,
 * EV_DISPATCH, EV_ENABLE/EV_DISABLE) and exactly-once delivery to several
 * waiting threads.
 */
#include "kq_test_common.h"

KQ_SLOW_FIXTURE

TEST(trigger_activates)
{
	struct kevent ev[2];

	KQ_OPEN(kq);
	ASSERT_OK(kq_ctl(kq, 10, EVFILT_USER, EV_ADD, 0, 0, 0x10));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_OK(kq_ctl(kq, 10, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0x10));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	EXPECT_EQ(10, ev[0].ident);
	EXPECT_EQ(EVFILT_USER, ev[0].filter);
	EXPECT_EQ(0x10, UDV(ev[0]));
	EXPECT_FALSE(ev[0].flags & EV_ERROR);
	EXPECT_TRUE(flags_clean(&ev[0]));
	/* NOTE_TRIGGER and the control bits are never stored nor returned. */
	EXPECT_EQ(0, ev[0].fflags);
	EXPECT_EQ(0, ev[0].data);
}

TEST(add_with_trigger)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(kq_ctl(kq, 3, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(3, ev.ident);
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
}

/* Without EV_CLEAR a triggered user event stays active. */
TEST(level_stays_active)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	for (int i = 0; i < 5; i++) {
		ASSERT_EQ(1, kq_poll(kq, &ev, 1));
		EXPECT_EQ(1, ev.ident);
	}
}

TEST(clear_once_per_trigger)
{
	struct kevent ev[2];

	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	/* Two triggers before retrieval make one event. */
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	/* And the knote is still registered. */
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	ASSERT_OK(user_del(kq, 1));
}

TEST(oneshot_returned_once_then_gone)
{
	struct kevent ev[2];

	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 1, EV_ONESHOT));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	EXPECT_EQ(1, ev[0].ident);
	EXPECT_TRUE(flags_clean(&ev[0]));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_ERRNO(ENOENT, user_del(kq, 1));
	ASSERT_ERRNO(ENOENT, user_trigger(kq, 1));
	/* Can be added again afterwards. */
	ASSERT_OK(user_add(kq, 1, EV_ONESHOT));
	ASSERT_OK(user_del(kq, 1));
}

TEST(dispatch_disables_after_delivery)
{
	struct kevent ev[2];

	KQ_OPEN(kq);
	/* EV_DISPATCH | EV_CLEAR: delivered once, then disabled. */
	ASSERT_OK(user_add(kq, 1, EV_DISPATCH | EV_CLEAR));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	/* A trigger while disabled is kept and delivered on EV_ENABLE. */
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	EXPECT_EQ(1, ev[0].ident);
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	/* Re-enabled without a new trigger: nothing. */
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, 0));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));

	/* EV_DISPATCH alone: the level stays, the knote is disabled after each delivery. */
	ASSERT_OK(user_add(kq, 2, EV_DISPATCH));
	ASSERT_OK(user_trigger(kq, 2));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	EXPECT_EQ(2, ev[0].ident);
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_OK(kq_ctl(kq, 2, EVFILT_USER, EV_ENABLE, 0, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	EXPECT_EQ(2, ev[0].ident);
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
}

TEST(disable_keeps_state)
{
	struct kevent ev[2];

	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, 0));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | 0x42, 9, 0));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE, 0, 9, 0));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	EXPECT_EQ(1, ev[0].ident);
	EXPECT_EQ(0x42, ev[0].fflags);
	EXPECT_EQ(9, ev[0].data);
	/* Disabling an active, queued event hides it again. */
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_DISABLE, 0, 9, 0));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE, 0, 9, 0));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
}

TEST(add_disabled)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ADD | EV_DISABLE, NOTE_TRIGGER, 0, 0));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(1, ev.ident);
}

TEST(enable_untriggered_is_quiet)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, 0));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, 0));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, 0));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ADD, 0, 0, 0));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
}

/* Re-adding does not reset a trigger that already happened. */
TEST(readd_keeps_trigger)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(1, ev.ident);
}

TEST(delete_discards_pending)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_OK(user_del(kq, 1));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	/* A new knote with the same ident starts untriggered. */
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	/* Deleting a disabled, triggered knote works too. */
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, 0));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_OK(user_del(kq, 1));
	ASSERT_ERRNO(ENOENT, kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, 0));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
}

/* Apply fflags to knote 1 (already active, level) and return the fflags it reports. */
static int64_t user_fflags_after(int kq, unsigned int fflags)
{
	struct kevent ev;

	if (kq_ctl(kq, 1, EVFILT_USER, 0, fflags, 0, 0))
		return -1;
	if (kq_poll(kq, &ev, 1) != 1)
		return -2;
	return ev.fflags;
}

TEST(fflags_copy_or_and)
{
	KQ_OPEN(kq);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ADD, 0, 0, 0));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(0x0f, user_fflags_after(kq, NOTE_FFCOPY | 0x0f));
	ASSERT_EQ(0xff, user_fflags_after(kq, NOTE_FFOR | 0xf0));
	ASSERT_EQ(0x3c, user_fflags_after(kq, NOTE_FFAND | 0x3c));
	/* FFNOP ignores the low bits. */
	ASSERT_EQ(0x3c, user_fflags_after(kq, NOTE_FFNOP | 0x55));
	ASSERT_EQ(0x3c, user_fflags_after(kq, NOTE_FFNOP));
	ASSERT_EQ(0x3c, user_fflags_after(kq, NOTE_TRIGGER));
	ASSERT_EQ(0x3c | 0x100000, user_fflags_after(kq, NOTE_FFOR | 0x100000));
	ASSERT_EQ(0, user_fflags_after(kq, NOTE_FFAND));
}

TEST(fflags_masked_to_24_bits)
{
	KQ_OPEN(kq);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ADD, 0, 0, 0));
	ASSERT_OK(user_trigger(kq, 1));
	/* Only NOTE_FFLAGSMASK is stored: NOTE_TRIGGER and bits 25..29 are not. */
	ASSERT_EQ(0xabcdef, user_fflags_after(kq, NOTE_FFCOPY | NOTE_TRIGGER | 0xabcdef));
	ASSERT_EQ(0xabcdef, user_fflags_after(kq, NOTE_FFCOPY | 0x3e000000 | 0xabcdef));
	ASSERT_EQ(NOTE_FFLAGSMASK, user_fflags_after(kq, NOTE_FFOR | 0x3fffffff));
	ASSERT_EQ(0x123456, user_fflags_after(kq, NOTE_FFAND | 0x3f123456));
}

TEST(fflags_with_clear)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, 0, NOTE_FFCOPY | 0x5, 0, 0));
	/* Setting fflags alone does not trigger. */
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR | 0x10, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(0x15, ev.fflags);
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
}

TEST(data_stored_on_modify)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ADD, 0, 5, 0));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 42, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(42, ev.data);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, 0, 0, 7, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(7, ev.data);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, 0, 0, -3, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(-3, ev.data);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, 0, 0, INT64_MIN, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(INT64_MIN, ev.data);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, 0, 0, INT64_MAX, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(INT64_MAX, ev.data);
}

TEST(udata_ext_passthrough)
{
	struct kevent ch = kev_make(7, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, 0xdeadbeefcafebabeull);
	struct kevent ev;

	ch.ext[0] = 0x1111111111111111ull;
	ch.ext[1] = 0x2222222222222222ull;
	ch.ext[2] = 0xfedcba9876543210ull;
	ch.ext[3] = 0x0123456789abcdefull;
	KQ_OPEN(kq);
	ASSERT_EQ(0, kevent(kq, &ch, 1, NULL, 0, NULL));
	for (int i = 0; i < 2; i++) {
		memset(&ev, 0, sizeof(ev));
		ASSERT_EQ(1, kq_poll(kq, &ev, 1));
		EXPECT_EQ(7, ev.ident);
		EXPECT_EQ(0xdeadbeefcafebabeull, UDV(ev));
		EXPECT_EQ(0xfedcba9876543210ull, ev.ext[2]);
		EXPECT_EQ(0x0123456789abcdefull, ev.ext[3]);
		/* abi.rs: ext[0], ext[1] are copied unchanged by the filters here. */
		EXPECT_EQ(0x1111111111111111ull, ev.ext[0]);
		EXPECT_EQ(0x2222222222222222ull, ev.ext[1]);
	}
}

TEST(several_idents_independent)
{
	struct kevent ev[16];
	int n;

	KQ_OPEN(kq);
	for (int i = 1; i <= 8; i++)
		ASSERT_OK(user_add(kq, i, EV_CLEAR));
	ASSERT_OK(user_trigger(kq, 2));
	ASSERT_OK(user_trigger(kq, 5));
	n = kq_poll(kq, ev, 16);
	ASSERT_EQ(2, n);
	EXPECT_EQ(7, ev[0].ident + ev[1].ident);
	EXPECT_NE(ev[0].ident, ev[1].ident);
	ASSERT_OK(user_del(kq, 5));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_ERRNO(ENOENT, user_trigger(kq, 5));
	ASSERT_EQ(1, kq_poll(kq, ev, 16));
	EXPECT_EQ(1, ev[0].ident);
	ASSERT_OK(kq_ctl(kq, 3, EVFILT_USER, EV_DISABLE, 0, 0, 0));
	ASSERT_OK(user_trigger(kq, 3));
	ASSERT_OK(user_trigger(kq, 4));
	ASSERT_EQ(1, kq_poll(kq, ev, 16));
	EXPECT_EQ(4, ev[0].ident);
}

TEST(ident_full_range)
{
	const uint64_t ids[] = { 0, 1, 1ull << 32, (1ull << 40) + 1, UINT64_MAX - 1, UINT64_MAX };
	const int n = sizeof(ids) / sizeof(ids[0]);
	bool seen[sizeof(ids) / sizeof(ids[0])] = { false };
	struct kevent ev[8];

	if (sizeof(uintptr_t) < 8)
		SKIP(return, "64-bit idents need a 64-bit process");
	KQ_OPEN(kq);
	for (int i = 0; i < n; i++)
		ASSERT_OK(user_add(kq, ids[i], EV_CLEAR));
	for (int i = 0; i < n; i++)
		ASSERT_OK(user_trigger(kq, ids[i]));
	ASSERT_EQ(n, kq_poll(kq, ev, 8));
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			if ((uint64_t)ev[i].ident == ids[j]) {
				EXPECT_FALSE(seen[j]);
				seen[j] = true;
			}
	for (int j = 0; j < n; j++) {
		EXPECT_TRUE(seen[j]) TH_LOG("ident %#llx not returned", (unsigned long long)ids[j]);
	}
	for (int i = 0; i < n; i++)
		ASSERT_OK(user_del(kq, ids[i]));
}

/* 100 EV_CLEAR events fetched 7 at a time: each exactly once. */
TEST(partial_retrieval_exactly_once)
{
	int seen[100] = { 0 }, total = 0, r;
	struct kevent ev[7];

	KQ_OPEN(kq);
	for (int i = 0; i < 100; i++)
		ASSERT_OK(user_add(kq, i, EV_CLEAR));
	for (int i = 0; i < 100; i++)
		ASSERT_OK(user_trigger(kq, i));
	while ((r = kq_poll(kq, ev, 7)) > 0) {
		ASSERT_GE(7, r);
		for (int i = 0; i < r; i++) {
			ASSERT_GT(100, (int)ev[i].ident);
			seen[ev[i].ident]++;
		}
		total += r;
		ASSERT_GE(100, total);
	}
	ASSERT_EQ(0, r);
	ASSERT_EQ(100, total);
	for (int i = 0; i < 100; i++) {
		EXPECT_EQ(1, seen[i]);
	}
}

/* Level events fetched a few at a time are rotated: none is starved. */
TEST(level_events_not_starved)
{
	int seen[10] = { 0 };
	struct kevent ev[3];

	KQ_OPEN(kq);
	for (int i = 0; i < 10; i++) {
		ASSERT_OK(user_add(kq, i, 0));
		ASSERT_OK(user_trigger(kq, i));
	}
	for (int call = 0; call < 4; call++) {
		ASSERT_EQ(3, kq_poll(kq, ev, 3));
		for (int i = 0; i < 3; i++) {
			ASSERT_GT(10, (int)ev[i].ident);
			seen[ev[i].ident]++;
		}
	}
	for (int i = 0; i < 10; i++) {
		EXPECT_LE(1, seen[i]) TH_LOG("ident %d never returned", i);
	}
}

/* ---- several threads ----------------------------------------------------- */

#define EO_PROD 4
#define EO_CONS 4
#define EO_BASE 1000

struct eo_state {
	int kq;
	bool oneshot;
	int rounds;
	atomic_int sent[EO_PROD];
	atomic_int recv[EO_PROD];
	atomic_int per_cons[EO_CONS];
	atomic_int dup, bad, stuck;
	atomic_bool done;
	/* Consumers signal each receipt; producers wait for theirs (no busy loop). */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

struct eo_arg {
	struct eo_state *st;
	int id;
};

static void *eo_producer(void *p)
{
	struct eo_arg *a = p;
	struct eo_state *st = a->st;
	struct kevent ch;

	for (int i = 1; i <= st->rounds; i++) {
		struct timespec deadline;

		atomic_store(&st->sent[a->id], i);
		if (st->oneshot)
			ch = kev_make(EO_BASE + a->id, EVFILT_USER, EV_ADD | EV_ONESHOT,
				      NOTE_TRIGGER, i, 0);
		else
			ch = kev_make(EO_BASE + a->id, EVFILT_USER, 0, NOTE_TRIGGER, i, 0);
		if (kevent(st->kq, &ch, 1, NULL, 0, NULL) != 0) {
			atomic_fetch_add(&st->bad, 1);
			return NULL;
		}
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 10;
		pthread_mutex_lock(&st->lock);
		while (atomic_load(&st->recv[a->id]) < i) {
			if (pthread_cond_timedwait(&st->cond, &st->lock, &deadline) == ETIMEDOUT) {
				atomic_fetch_add(&st->stuck, 1);
				pthread_mutex_unlock(&st->lock);
				return NULL;
			}
		}
		pthread_mutex_unlock(&st->lock);
	}
	return NULL;
}

static void *eo_consumer(void *p)
{
	struct eo_arg *a = p;
	struct eo_state *st = a->st;
	struct timespec ts = ts_ns(20 * NSEC_PER_MSEC);
	struct kevent en, ev;
	int nch = 0;

	for (;;) {
		int r = kevent(st->kq, &en, nch, &ev, 1, &ts);

		nch = 0;
		if (r < 0) {
			atomic_fetch_add(&st->bad, 1);
			return NULL;
		}
		if (r == 0) {
			if (atomic_load(&st->done))
				return NULL;
			continue;
		}
		if (ev.filter != EVFILT_USER || (ev.flags & EV_ERROR) ||
		    ev.ident < EO_BASE || ev.ident >= EO_BASE + EO_PROD) {
			atomic_fetch_add(&st->bad, 1);
			continue;
		}
		int id = ev.ident - EO_BASE;

		pthread_mutex_lock(&st->lock);
		int c = atomic_fetch_add(&st->recv[id], 1) + 1;

		/*
		 * data is the trigger's sequence number. Only checked for
		 * oneshot: in dispatch mode our EV_ENABLE (data 0) may land after
		 * the next trigger and, as any modification does, store its data.
		 */
		if (c > atomic_load(&st->sent[id]) || (st->oneshot && ev.data != c))
			atomic_fetch_add(&st->dup, 1);
		pthread_cond_broadcast(&st->cond);
		pthread_mutex_unlock(&st->lock);
		atomic_fetch_add(&st->per_cons[a->id], 1);
		if (!st->oneshot) {
			en = kev_make(ev.ident, EVFILT_USER, EV_ENABLE, 0, 0, 0);
			nch = 1;
		}
	}
}

static void run_exactly_once(struct __test_metadata *_metadata, bool oneshot, int rounds)
{
	struct eo_arg pa[EO_PROD], ca[EO_CONS];
	pthread_t pt[EO_PROD], ct[EO_CONS];
	struct eo_state *st = calloc(1, sizeof(*st));
	struct kevent ev;
	int total = 0;

	ASSERT_NE(NULL, st);
	st->kq = kqueue();
	ASSERT_LE(0, st->kq);
	st->oneshot = oneshot;
	st->rounds = rounds;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	alarm(100);
	if (!oneshot) {
		for (int i = 0; i < EO_PROD; i++)
			ASSERT_OK(user_add(st->kq, EO_BASE + i, EV_CLEAR | EV_DISPATCH));
	}
	for (int i = 0; i < EO_CONS; i++) {
		ca[i] = (struct eo_arg){ st, i };
		ASSERT_EQ(0, pthread_create(&ct[i], NULL, eo_consumer, &ca[i]));
	}
	for (int i = 0; i < EO_PROD; i++) {
		pa[i] = (struct eo_arg){ st, i };
		ASSERT_EQ(0, pthread_create(&pt[i], NULL, eo_producer, &pa[i]));
	}
	for (int i = 0; i < EO_PROD; i++)
		pthread_join(pt[i], NULL);
	atomic_store(&st->done, true);
	for (int i = 0; i < EO_CONS; i++) {
		pthread_join(ct[i], NULL);
		total += st->per_cons[i];
	}
	TH_LOG("deliveries per consumer: %d %d %d %d", st->per_cons[0], st->per_cons[1],
	       st->per_cons[2], st->per_cons[3]);
	EXPECT_EQ(0, st->bad);
	EXPECT_EQ(0, st->stuck);
	EXPECT_EQ(0, st->dup);
	for (int i = 0; i < EO_PROD; i++) {
		EXPECT_EQ(rounds, st->recv[i]) TH_LOG("ident %d", EO_BASE + i);
	}
	EXPECT_EQ(EO_PROD * rounds, total);
	/* Nothing left over. */
	ASSERT_EQ(0, kq_poll(st->kq, &ev, 1));
	close(st->kq);
	free(st);
}

/*
 * 4 producers each trigger their own EV_DISPATCH|EV_CLEAR event 300 times,
 * waiting for each to be consumed; 4 consumers wait with nevents=1 and
 * re-enable what they got. Every trigger is received by exactly one waiter.
 */
TEST_F_TIMEOUT(slow, exactly_once_dispatch, 110)
{
	run_exactly_once(_metadata, false, 300);
}

/*
 * Same with EV_ONESHOT events re-added (with NOTE_TRIGGER) by the producers:
 * 200 rounds each, as every round creates and destroys a knote.
 */
TEST_F_TIMEOUT(slow, exactly_once_oneshot, 110)
{
	run_exactly_once(_metadata, true, 200);
}

struct one_waiter {
	int kq;
	atomic_int got;
	atomic_int bad;
};

static void *one_waiter_fn(void *p)
{
	struct one_waiter *w = p;
	struct kevent ev;
	int r = kq_get(w->kq, &ev, 1, 600);

	if (r == 1 && ev.ident == 1)
		atomic_fetch_add(&w->got, 1);
	else if (r != 0)
		atomic_fetch_add(&w->bad, 1);
	return NULL;
}

/* One EV_CLEAR trigger, six blocked waiters: exactly one gets it. */
TEST(single_trigger_single_waiter)
{
	struct one_waiter w = { .kq = kqueue() };
	pthread_t t[6];

	ASSERT_LE(0, w.kq);
	alarm(10);
	ASSERT_OK(user_add(w.kq, 1, EV_CLEAR));
	for (int i = 0; i < 6; i++) {
		ASSERT_EQ(0, pthread_create(&t[i], NULL, one_waiter_fn, &w));
	}
	sleep_ms(100);
	ASSERT_OK(user_trigger(w.kq, 1));
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(0, w.bad);
	EXPECT_EQ(1, w.got);
}

TEST_HARNESS_MAIN
