// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Races of descriptor knotes on several CPUs (the test VM has 4 vCPUs), each
 * bounded to a couple of seconds:
 *
 *  - writer threads keep waking pipe knotes while the main thread EV_DELETEs
 *    them, close()s the descriptor they are registered on, or close()s the
 *    kqueue with threads asleep in kevent(): once EV_DELETE / close() has
 *    returned, no event of that knote is ever returned, and a close() of the
 *    kqueue wakes every sleeper (EBADF);
 *  - EV_ADD / EV_DELETE racing dup2()/close() of the same descriptor number:
 *    only 0 / EBADF / ENOENT, and nothing left behind;
 *  - many threads waiting on one kqueue with EV_ONESHOT / EV_DISPATCH pipe
 *    knotes: each event goes to exactly one thread;
 *  - ping-pong and a token ring across threads through pipes, kevent() waits
 *    with a timeout as the safety net: a timeout is a lost wake-up.
 */
#include "kq_fd_common.h"

KQ_SLOW_FIXTURE

#define NPIPES 4
#define RUN_MS 1500

struct churn {
	int r, w;
	atomic_bool *stop;
	long ops;
};

/* Write a byte and read it back, forever: every write wakes the pipe's knotes. */
static void *churn_fn(void *p)
{
	struct churn *c = p;
	char b = 'x';

	while (!atomic_load(c->stop)) {
		if (write(c->w, &b, 1) == 1)
			c->ops++;
		if (read(c->r, &b, 1) < 0 && errno != EAGAIN)
			break;
	}
	return NULL;
}

struct churners {
	atomic_bool stop;
	int p[NPIPES][2];
	struct churn c[NPIPES];
	pthread_t t[NPIPES];
	int nthreads;
};

static int churners_start(struct churners *s, int nthreads)
{
	atomic_init(&s->stop, false);
	s->nthreads = nthreads;
	for (int i = 0; i < NPIPES; i++)
		if (pipe2(s->p[i], O_NONBLOCK) < 0)
			return -1;
	for (int i = 0; i < nthreads; i++) {
		s->c[i] = (struct churn){ .r = s->p[i][0], .w = s->p[i][1], .stop = &s->stop };
		if (pthread_create(&s->t[i], NULL, churn_fn, &s->c[i]))
			return -1;
	}
	return 0;
}

static long churners_stop(struct churners *s)
{
	long ops = 0;

	atomic_store(&s->stop, true);
	for (int i = 0; i < s->nthreads; i++) {
		pthread_join(s->t[i], NULL);
		ops += s->c[i].ops;
	}
	return ops;
}

/* Three threads writing and reading NPIPES pipes (self->s) next to self->kq; alarm(20). */
KQ_FD_FIXTURE(churn, 20, struct churners s;, ASSERT_EQ(0, churners_start(&self->s, 3)))

/* After EV_DELETE returned, the deleted knotes never report again. */
TEST_F(churn, delete_races_wakeups)
{
	struct kevent ev[16];
	long rounds = 0, events = 0;
	int64_t t0;

	t0 = now_ns();
	while (ms_since(t0) < RUN_MS) {
		uint64_t gen = (uint64_t)++rounds << 8;
		int n;

		for (int i = 0; i < NPIPES; i++) {
			ASSERT_OK(fd_add(self->kq, self->s.p[i][0], EVFILT_READ, EV_CLEAR, 0, 0,
					 gen | i));
		}
		n = kq_poll(self->kq, ev, 16);
		ASSERT_LE(0, n);
		for (int k = 0; k < n; k++) {
			ASSERT_EQ(gen, UDV(ev[k]) & ~0xffULL) TH_LOG("stale event of round %llu in round %ld",
							     (unsigned long long)(UDV(ev[k]) >> 8), rounds);
		}
		events += n;
		for (int i = 0; i < NPIPES; i++) {
			ASSERT_OK(fd_chg(self->kq, self->s.p[i][0], EVFILT_READ, EV_DELETE));
		}
		/* Nothing is registered now: any event is a knote that outlived EV_DELETE. */
		n = kq_poll(self->kq, ev, 16);
		ASSERT_EQ(0, n) TH_LOG("round %ld: event ident %d udata %llx after EV_DELETE", rounds,
				       (int)ev[0].ident, (unsigned long long)UDV(ev[0]));
	}
	TH_LOG("%ld rounds, %ld events, %ld writes", rounds, events, churners_stop(&self->s));
}

/* close() of a dup'd descriptor while writers wake its knote: gone once close() returns. */
TEST_F(churn, close_races_wakeups)
{
	struct kevent ev[16];
	long rounds = 0;
	int64_t t0;

	t0 = now_ns();
	while (ms_since(t0) < RUN_MS) {
		int d[NPIPES], n;

		rounds++;
		for (int i = 0; i < NPIPES; i++) {
			d[i] = dup(self->s.p[i][0]);
			ASSERT_LE(0, d[i]);
			ASSERT_OK(fd_add(self->kq, d[i], EVFILT_READ, (rounds & 1) ? EV_CLEAR : 0, 0, 0, i));
		}
		ASSERT_LE(0, kq_poll(self->kq, ev, 16));
		for (int i = 0; i < NPIPES; i++) {
			ASSERT_EQ(0, close(d[i]));
		}
		n = kq_poll(self->kq, ev, 16);
		ASSERT_EQ(0, n) TH_LOG("round %ld: event ident %d after close()", rounds, (int)ev[0].ident);
	}
	TH_LOG("%ld rounds, %ld writes", rounds, churners_stop(&self->s));
}

struct kq_sleeper {
	int kq;
	atomic_int *exited;
	int bad_errno;		/* an errno other than EBADF */
	int timeouts;		/* slept through the close() */
	long events;
};

static void *kq_sleeper_fn(void *p)
{
	struct kq_sleeper *w = p;
	struct timespec ts = { 2, 0 };
	struct kevent ev[8];

	for (;;) {
		int n = kevent(w->kq, NULL, 0, ev, 8, &ts);

		if (n < 0) {
			if (errno != EBADF && errno != EINTR)
				w->bad_errno = errno;
			if (errno != EINTR)
				break;
		} else if (n == 0) {
			w->timeouts++;
			break;
		} else {
			w->events += n;
		}
	}
	atomic_fetch_add(w->exited, 1);
	return NULL;
}

/* close() of the kqueue while writers fire its knotes and threads sleep in kevent(). */
TEST_F_TIMEOUT(slow, close_kqueue_races_wakeups_and_sleepers, 60)
{
	struct churners s;
	long rounds = 0, events = 0;
	int64_t t0;

	alarm(50);
	ASSERT_EQ(0, churners_start(&s, 2));
	t0 = now_ns();
	while (ms_since(t0) < RUN_MS) {
		struct kq_sleeper w[2];
		pthread_t t[2];
		atomic_int exited;
		int kq = kqueue();
		int64_t t1;

		ASSERT_LE(0, kq);
		rounds++;
		atomic_init(&exited, 0);
		for (int i = 0; i < NPIPES; i++) {
			ASSERT_OK(fd_add(kq, s.p[i][0], EVFILT_READ, (i & 1) ? EV_CLEAR : EV_DISPATCH,
					 0, 0, i));
		}
		for (int i = 0; i < 2; i++) {
			w[i] = (struct kq_sleeper){ .kq = kq, .exited = &exited };
			ASSERT_EQ(0, pthread_create(&t[i], NULL, kq_sleeper_fn, &w[i]));
		}
		sleep_ms(5);
		ASSERT_EQ(0, close(kq));
		t1 = now_ns();
		while (atomic_load(&exited) < 2 && ms_since(t1) < KQ_WAIT_MS)
			sleep_ms(2);
		ASSERT_EQ(2, atomic_load(&exited)) TH_LOG("round %ld: a sleeper was not woken by close()",
							 rounds);
		for (int i = 0; i < 2; i++) {
			pthread_join(t[i], NULL);
			EXPECT_EQ(0, w[i].bad_errno) TH_LOG("errno %s", strerrorname_np(w[i].bad_errno));
			EXPECT_EQ(0, w[i].timeouts);
			events += w[i].events;
		}
	}
	TH_LOG("%ld rounds, %ld events, %ld writes", rounds, events, churners_stop(&s));
}

struct reuser {
	int n;			/* the descriptor number fought over */
	int src[2];		/* readable pipes dup2()'d onto it in turn */
	atomic_bool *stop;
	long swaps;
};

static void *reuser_fn(void *p)
{
	struct reuser *r = p;

	while (!atomic_load(r->stop)) {
		dup2(r->src[r->swaps & 1], r->n);
		if (r->swaps % 3 == 0)
			close(r->n);
		r->swaps++;
	}
	return NULL;
}

/* EV_ADD/EV_DELETE on a number that another thread keeps closing and re-dup2()ing. */
TEST(add_delete_race_dup2_close)
{
	struct reuser ru;
	atomic_bool stop;
	struct kevent ev[16];
	long adds = 0, bad = 0, n_ok = 0;
	int a[2], b[2], n, lastbad = 0;
	pthread_t t;
	int64_t t0;

	KQ_OPEN(kq);
	alarm(20);
	ASSERT_EQ(0, pipe2(a, O_NONBLOCK));
	ASSERT_EQ(0, pipe2(b, O_NONBLOCK));
	ASSERT_EQ(1, put(a[1], 1));
	ASSERT_EQ(1, put(b[1], 1));
	n = dup(a[0]);
	ASSERT_LE(0, n);
	atomic_init(&stop, false);
	ru = (struct reuser){ .n = n, .src = { a[0], b[0] }, .stop = &stop };
	ASSERT_EQ(0, pthread_create(&t, NULL, reuser_fn, &ru));
	t0 = now_ns();
	while (ms_since(t0) < RUN_MS) {
		int r = fd_add(kq, n, (adds & 1) ? EVFILT_READ : EVFILT_WRITE, 0, 0, 0, 0);

		adds++;
		if (r && r != EBADF) {
			bad++;
			lastbad = r;
		}
		n_ok += r == 0;
		ASSERT_LE(0, kq_poll(kq, ev, 16));
		r = fd_chg(kq, n, (adds & 1) ? EVFILT_WRITE : EVFILT_READ, EV_DELETE);
		if (r && r != EBADF && r != ENOENT) {
			bad++;
			lastbad = r;
		}
	}
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	TH_LOG("%ld adds (%ld accepted), %ld dup2/close", adds, n_ok, ru.swaps);
	EXPECT_EQ(0, bad) TH_LOG("unexpected errno %d", lastbad);
	close(n);
	/* Whatever was registered under n went with the last close(). */
	ASSERT_EQ(0, kq_poll(kq, ev, 16)) TH_LOG("ident %d filter %d", (int)ev[0].ident, ev[0].filter);
	ASSERT_ERRNO(EBADF, fd_chg(kq, n, EVFILT_READ, EV_DELETE));
	ASSERT_ERRNO(EBADF, fd_chg(kq, n, EVFILT_WRITE, EV_DELETE));
}

/* ---- many waiters on one kqueue ------------------------------------------------------- */

#define MANY 64
#define WAITERS 4

struct shared_q {
	int kq;
	int p[MANY][2];
	atomic_int count[MANY];
	atomic_int total;
	atomic_int bad;		/* double deliveries, read failures */
	atomic_bool stop;
	int rounds;		/* EV_DISPATCH: deliveries per pipe */
};

/*
 * A waiter of the shared kqueue. EV_ONESHOT: count the delivery. EV_DISPATCH:
 * consume the pipe's byte (it must be there: a second thread given the same
 * event would find the pipe empty), count, write the next byte and re-enable.
 */
static void *shared_waiter(void *p)
{
	struct shared_q *q = p;
	struct timespec ts = { 0, 50 * NSEC_PER_MSEC };
	struct kevent ev;

	while (!atomic_load(&q->stop)) {
		int n = kevent(q->kq, NULL, 0, &ev, 1, &ts), i, c;
		char b;

		if (n < 0) {
			atomic_fetch_add(&q->bad, 1);
			break;
		}
		if (n == 0)
			continue;
		i = (int)UDV(ev);
		if (i < 0 || i >= MANY || ev.ident != (uint64_t)q->p[i][0]) {
			atomic_fetch_add(&q->bad, 1);
			continue;
		}
		if (!q->rounds) {			/* EV_ONESHOT */
			atomic_fetch_add(&q->count[i], 1);
			atomic_fetch_add(&q->total, 1);
			continue;
		}
		usleep(200);	/* widen the window in which a second delivery would show */
		if (read(q->p[i][0], &b, 1) != 1)	/* EV_DISPATCH */
			atomic_fetch_add(&q->bad, 1);
		c = atomic_fetch_add(&q->count[i], 1) + 1;
		atomic_fetch_add(&q->total, 1);
		if (c < q->rounds) {
			if (write(q->p[i][1], "y", 1) != 1 ||
			    kq_ctl(q->kq, q->p[i][0], EVFILT_READ, EV_ENABLE, 0, 0, i))
				atomic_fetch_add(&q->bad, 1);
		}
	}
	return NULL;
}

static int shared_setup(struct shared_q *q, int rounds)
{
	memset(q, 0, sizeof(*q));
	q->rounds = rounds;
	atomic_init(&q->stop, false);
	q->kq = kqueue();
	if (q->kq < 0)
		return -1;
	for (int i = 0; i < MANY; i++)
		if (pipe2(q->p[i], O_NONBLOCK) < 0)
			return -1;
	return 0;
}

/* Wait until `want` deliveries or the deadline, then stop the waiters. */
static void shared_finish(struct shared_q *q, pthread_t *t, int want, long ms)
{
	int64_t t0 = now_ns();

	while (atomic_load(&q->total) < want && ms_since(t0) < ms)
		sleep_ms(5);
	sleep_ms(100);		/* time for a wrong extra delivery to show up */
	atomic_store(&q->stop, true);
	for (int i = 0; i < WAITERS; i++)
		pthread_join(t[i], NULL);
}

TEST(many_waiters_oneshot_exactly_once)
{
	struct shared_q *q = calloc(1, sizeof(*q));
	pthread_t t[WAITERS];
	struct kevent ev;

	alarm(25);
	ASSERT_NE(NULL, q);
	for (int round = 0; round < 3; round++) {
		ASSERT_EQ(0, shared_setup(q, 0));
		for (int i = 0; i < MANY; i++) {
			ASSERT_OK(fd_add(q->kq, q->p[i][0], EVFILT_READ, EV_ONESHOT, 0, 0, i));
		}
		for (int i = 0; i < WAITERS; i++) {
			ASSERT_EQ(0, pthread_create(&t[i], NULL, shared_waiter, q));
		}
		for (int i = 0; i < MANY; i++) {	/* the waiters are (mostly) asleep by now */
			ASSERT_EQ(1 + (i & 3), put(q->p[i][1], 1 + (i & 3)));
		}
		shared_finish(q, t, MANY, 10000);
		EXPECT_EQ(0, atomic_load(&q->bad));
		ASSERT_EQ(MANY, atomic_load(&q->total));
		for (int i = 0; i < MANY; i++) {
			ASSERT_EQ(1, atomic_load(&q->count[i])) TH_LOG("round %d pipe %d", round, i);
		}
		ASSERT_EQ(0, kq_poll(q->kq, &ev, 1));	/* all dropped */
		close(q->kq);
		for (int i = 0; i < MANY; i++) {
			close(q->p[i][0]);
			close(q->p[i][1]);
		}
	}
	free(q);
}

#define DISPATCH_ROUNDS 25

TEST_F_TIMEOUT(slow, many_waiters_dispatch_exactly_once, 60)
{
	struct shared_q *q = calloc(1, sizeof(*q));
	pthread_t t[WAITERS];
	int want = MANY / 4 * DISPATCH_ROUNDS;

	alarm(50);
	ASSERT_NE(NULL, q);
	ASSERT_EQ(0, shared_setup(q, DISPATCH_ROUNDS));
	/* MANY/4 pipes, each carrying one token at a time, DISPATCH_ROUNDS times. */
	for (int i = 0; i < MANY / 4; i++) {
		ASSERT_OK(fd_add(q->kq, q->p[i][0], EVFILT_READ, EV_DISPATCH, 0, 0, i));
	}
	for (int i = 0; i < WAITERS; i++) {
		ASSERT_EQ(0, pthread_create(&t[i], NULL, shared_waiter, q));
	}
	for (int i = 0; i < MANY / 4; i++) {
		ASSERT_EQ(1, put(q->p[i][1], 1));
	}
	shared_finish(q, t, want, 40000);
	TH_LOG("%d deliveries", atomic_load(&q->total));
	EXPECT_EQ(0, atomic_load(&q->bad));
	ASSERT_EQ(want, atomic_load(&q->total));
	for (int i = 0; i < MANY / 4; i++) {
		ASSERT_EQ(DISPATCH_ROUNDS, atomic_load(&q->count[i])) TH_LOG("pipe %d", i);
		ASSERT_EQ(0, bytes_readable(q->p[i][0]));
	}
	free(q);
}

/* ---- no lost wake-ups --------------------------------------------------------------------- */

#define SAFETY_MS 5000

struct pong {
	int in, out;		/* read from in, write to out */
	unsigned int flags;	/* knote flags */
	long hops;
	int lost;		/* kevent() timed out: a lost wake-up */
	int err;
	atomic_bool *stop;
};

/*
 * Wait for `in` to be readable on a private kqueue, read every byte there and
 * pass them on to `out` (EV_CLEAR players must drain: two tokens may queue up
 * in one pipe). Once `stop` is set, tokens are turned into 'q'; a player exits
 * after passing a 'q' on.
 */
static void *pong_fn(void *p)
{
	struct pong *g = p;
	struct timespec ts = ts_ns(SAFETY_MS * NSEC_PER_MSEC);
	struct kevent ev;
	int kq = kqueue(), quit = 0;

	if (kq < 0 || fd_add(kq, g->in, EVFILT_READ, g->flags, 0, 0, 0)) {
		g->err = errno ? errno : -1;
		return NULL;
	}
	while (!quit) {
		char b[16];
		ssize_t r;
		int n = kevent(kq, NULL, 0, &ev, 1, &ts);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			g->err = errno;
			break;
		}
		if (n == 0) {
			g->lost++;
			break;
		}
		r = read(g->in, b, sizeof(b));
		if (r <= 0)
			continue;	/* a level-triggered re-report raced a read: harmless */
		if (ring_pass(g->out, b, r, g->stop, &quit)) {
			g->err = errno;
			break;
		}
		g->hops += r;
	}
	close(kq);
	return NULL;
}

/*
 * A ring of n threads, `tokens` bytes in flight, for run_ms: no player may lose
 * a wake-up or fail, and the tokens must make more than 100 hops in all.
 */
static void ring_run(struct __test_metadata *_metadata, int n, int tokens, int run_ms)
{
	struct pong g[8];
	pthread_t t[8];
	int p[8][2];
	atomic_bool stop;
	long hops = 0;

	atomic_init(&stop, false);
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(0, pipe2(p[i], O_NONBLOCK));
	}
	for (int i = 0; i < n; i++) {
		/* player i reads pipe i and writes pipe i+1; alternate level / EV_CLEAR */
		g[i] = (struct pong){ .in = p[i][0], .out = p[(i + 1) % n][1],
				      .flags = (i & 1) ? EV_CLEAR : 0, .stop = &stop };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, pong_fn, &g[i]));
	}
	for (int k = 0; k < tokens; k++) {
		ASSERT_EQ(1, write(p[(k * n / tokens) % n][1], "t", 1));
	}
	sleep_ms(run_ms);
	atomic_store(&stop, true);
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, g[i].lost) TH_LOG("player %d: lost wake-up after %ld hops", i, g[i].hops);
		EXPECT_EQ(0, g[i].err) TH_LOG("player %d: %s", i, strerror(g[i].err));
		hops += g[i].hops;
	}
	for (int i = 0; i < n; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	TH_LOG("%ld hops in %d ms", hops, run_ms);
	EXPECT_LT(100, hops);
}

TEST(ping_pong_two_threads_no_lost_wakeup)
{
	alarm(25);
	ring_run(_metadata, 2, 1, RUN_MS);
}

TEST(token_ring_four_threads_no_lost_wakeup)
{
	alarm(25);
	ring_run(_metadata, 4, 2, RUN_MS);
}

/* The long run: 8 players on 4 vCPUs, 4 tokens in flight, 10 s of wake-ups across CPUs. */
TEST(token_ring_eight_threads_long_run_no_lost_wakeup)
{
	alarm(28);
	ring_run(_metadata, 8, 4, 10000);
}

TEST_HARNESS_MAIN
