// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Concurrent scans of one kqueue (issue 7: a knote sat on two lists during a
 * scan, and a concurrent scan lost level-triggered events). Each case counts
 * violations in its threads and asserts there were none:
 *
 *  - level.*: one level-triggered knote that is always active (EVFILT_READ on a
 *    pipe holding one byte, or EVFILT_WRITE on an empty pipe); 2 or 4 threads
 *    each call kevent(kq, NULL, 0, &ev, 1, timeout) 10 000 times. Every call of
 *    every thread must return that one event (with the right data): a call
 *    that returns 0, or with a 1 s timeout returns only after its whole
 *    timeout, missed an event that was pending all along (it was "in flux" in
 *    the other thread's scan and the call did not wait for it, or slept
 *    without being woken when it came back). Calls slower than half the
 *    timeout are counted and reported (the emulated VM on a busy host can
 *    stall a vCPU that long), not failed.
 *  - exactly_once: 4 threads wait on a kqueue with EV_ONESHOT and EV_DISPATCH
 *    knotes (EVFILT_USER fired with NOTE_TRIGGER, pipes fired with a byte),
 *    each fired again by whoever received it, 60 times; every firing carries a
 *    sequence number (NOTE_FFCOPY fflags, the byte's value) and must be
 *    received by exactly one thread, in order, none lost.
 *  - no_event_after_delete: deleter threads loop EV_ADD / EV_DELETE (or
 *    close() of the watched pipe) on level-triggered knotes whose udata
 *    is a generation number, publishing "generation g is gone" once the
 *    EV_DELETE or close() returned; scanner threads snapshot the published
 *    generations before each kevent() call, and no event of a generation
 *    that was already gone when the call began may come back (a deleted knote
 *    resurrected by the scan that had it in flux).
 *  - trigger_races: 4 producer threads NOTE_TRIGGER (flags 0 + EV_KEEPUDATA: the path
 *    that takes no `inner`, only the registry index) 8 EV_CLEAR user knotes with
 *    NOTE_FFCOPY sequence numbers, while a deleter thread EV_DELETEs and re-adds them with
 *    a new generation in udata and 2 scanners collect. A trigger may only fail with
 *    ENOENT (its knote deleted at that moment); no event may carry a generation whose
 *    EV_DELETE had returned before the kevent() began, nor a sequence number above what
 *    was triggered. At the end every knote is triggered once more by each producer with a
 *    known last number, and each must then be reported exactly once with the last
 *    producer's number (no trigger lost between a scan and a concurrent trigger).
 *  - no_duplicate_in_one_call: 80 always-active level-triggered knotes,
 *    3 scanners with event lists of 128, 80 and 50: no knote twice in one
 *    returned array, and every call returns min(nevents, 80) records.
 *  - ring.*: a token ring with more tokens than players, so that a pipe is
 *    written while its reader is scanning: no wake-up may be lost (a player
 *    that waits 5 s fails, saying what its pipe and knote looked like).
 */
#include "kq_stress_common.h"

/* ---- one always-active level-triggered knote, many scanning threads --------------------- */

#define LEVEL_CALLS 10000
#define LEVEL_MAX_THREADS 4
#define LEVEL_MAX_FAILS 25	/* a thread stops after this many failed calls (1 s each if blocked) */
#define LEVEL_BUDGET_MS 120000	/* and every thread stops here, done or not */
#define LEVEL_UDATA 0x5ca9

FIXTURE(level) {
	int kq;
	int p[2];
	int fd;		/* the watched end */
	int64_t data;	/* the data every event must carry */
};

FIXTURE_VARIANT(level) {
	int filter;
	int threads;
	long timeout_ms;
};

FIXTURE_VARIANT_ADD(level, read_2_threads_poll) { .filter = EVFILT_READ, .threads = 2, .timeout_ms = 0 };
FIXTURE_VARIANT_ADD(level, read_2_threads_1s) { .filter = EVFILT_READ, .threads = 2, .timeout_ms = 1000 };
FIXTURE_VARIANT_ADD(level, read_4_threads_poll) { .filter = EVFILT_READ, .threads = 4, .timeout_ms = 0 };
FIXTURE_VARIANT_ADD(level, read_4_threads_1s) { .filter = EVFILT_READ, .threads = 4, .timeout_ms = 1000 };
FIXTURE_VARIANT_ADD(level, write_2_threads_poll) { .filter = EVFILT_WRITE, .threads = 2, .timeout_ms = 0 };
FIXTURE_VARIANT_ADD(level, write_4_threads_1s) { .filter = EVFILT_WRITE, .threads = 4, .timeout_ms = 1000 };

FIXTURE_SETUP(level)
{
	bool rd = variant->filter == EVFILT_READ;

	alarm(170);
	self->kq = kqueue();
	ASSERT_LE(0, self->kq) TH_LOG("kqueue(): %s", strerror(errno));
	/* READ: one byte that nobody reads; WRITE: an empty pipe, data = its capacity. */
	ASSERT_EQ(0, pipe_with(self->p, rd ? 1 : 0));
	self->fd = rd ? self->p[0] : self->p[1];
	self->data = rd ? 1 : pipe_cap(self->p[1]);
	ASSERT_LT(0, self->data);
	ASSERT_OK(fd_add(self->kq, self->fd, variant->filter, 0, 0, 0, LEVEL_UDATA));
}

FIXTURE_TEARDOWN(level) {}

struct level_scanner {
	int kq, fd, filter;
	int64_t data;
	long timeout_ms;
	int64_t deadline;
	struct stress_gate *gate;
	struct stress_bad *bad;
	long done, fails, slow;
	int64_t max_ns;
};

static void *level_scan_fn(void *arg)
{
	struct level_scanner *s = arg;
	struct timespec ts = ts_ns((int64_t)s->timeout_ms * NSEC_PER_MSEC);
	int64_t timeout_ns = (int64_t)s->timeout_ms * NSEC_PER_MSEC;

	gate_wait(s->gate);
	for (int i = 0; i < LEVEL_CALLS && s->fails < LEVEL_MAX_FAILS; i++) {
		struct kevent ev;
		int64_t t0, dt;
		int n, e;

		if ((i & 127) == 0 && now_ns() > s->deadline)
			break;
		memset(&ev, 0, sizeof(ev));
		t0 = now_ns();
		n = kevent(s->kq, NULL, 0, &ev, 1, &ts);
		e = errno;
		dt = now_ns() - t0;
		s->done++;
		if (dt > s->max_ns)
			s->max_ns = dt;
		if (n != 1) {
			s->fails++;
			stress_fail(s->bad, NULL, "call %d returned %d (%s) after %lld ms: the pending "
				    "level-triggered event was missed", i, n,
				    n < 0 ? strerrorname_np(e) : "no error", (long long)(dt / NSEC_PER_MSEC));
			continue;
		}
		if (ev.ident != (uint64_t)s->fd || ev.filter != s->filter || ev.data != s->data ||
		    UDV(ev) != LEVEL_UDATA || (ev.flags & (KQ_ACTION_FLAGS | EV_ERROR | EV_EOF))) {
			s->fails++;
			stress_fail(s->bad, &ev, "call %d: wrong record (want ident %d filter %d data %lld)",
				    i, s->fd, s->filter, (long long)s->data);
			continue;
		}
		if (timeout_ns && dt >= timeout_ns) {
			s->fails++;
			stress_fail(s->bad, &ev, "call %d slept through its whole timeout (%lld ms) "
				    "although the event was pending all along", i,
				    (long long)(dt / NSEC_PER_MSEC));
		} else if (timeout_ns && dt >= timeout_ns / 2) {
			s->slow++;	/* a busy emulated host can do that: reported, not failed */
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(level, every_call_returns_the_event, 180)
{
	struct level_scanner s[LEVEL_MAX_THREADS];
	pthread_t t[LEVEL_MAX_THREADS];
	struct stress_gate gate = { .parties = variant->threads };
	struct stress_bad bad = { 0 };
	struct kevent ev;
	int64_t t0 = now_ns(), max_ns = 0;
	long done = 0, fails = 0, slow = 0;

	for (int i = 0; i < variant->threads; i++) {
		s[i] = (struct level_scanner){ .kq = self->kq, .fd = self->fd, .filter = variant->filter,
			.data = self->data, .timeout_ms = variant->timeout_ms, .gate = &gate, .bad = &bad,
			.deadline = t0 + LEVEL_BUDGET_MS * NSEC_PER_MSEC };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, level_scan_fn, &s[i]));
	}
	for (int i = 0; i < variant->threads; i++) {
		pthread_join(t[i], NULL);
		done += s[i].done;
		fails += s[i].fails;
		if (s[i].max_ns > max_ns)
			max_ns = s[i].max_ns;
		slow += s[i].slow;
		TH_LOG("thread %d: %ld calls, %ld failed", i, s[i].done, s[i].fails);
	}
	TH_LOG("%d threads, %ld calls in %lld ms, %ld failed, slowest call %lld us%s", variant->threads,
	       done, (long long)ms_since(t0), fails, (long long)(max_ns / 1000),
	       slow ? " (calls over half the timeout: see below)" : "");
	if (slow)
		TH_LOG("%ld calls took over half their %ld ms timeout, but returned the event before it",
		       slow, variant->timeout_ms);
	STRESS_REPORT(&bad);
	EXPECT_EQ(0, fails);
	EXPECT_EQ((long)variant->threads * LEVEL_CALLS, done)
		TH_LOG("the threads gave up (too many failures, or the %d s budget)", LEVEL_BUDGET_MS / 1000);
	/* Still there, and still reported, once the threads are done. */
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ((uint64_t)self->fd, ev.ident);
}

/* ---- exactly once: EV_ONESHOT and EV_DISPATCH, many waiters -------------------------------- */

KQ_SLOW_FIXTURE

#define ONCE_K 8		/* knotes of each kind */
#define ONCE_ROUNDS 60		/* firings of each knote */
#define ONCE_WAITERS 4
#define ONCE_WAIT_MS 60000

enum once_kind { USER_ONESHOT, USER_DISPATCH, PIPE_ONESHOT, PIPE_DISPATCH, ONCE_KINDS };

static const char *const once_kind_name[ONCE_KINDS] = {
	"user EV_ONESHOT", "user EV_DISPATCH", "pipe EV_ONESHOT", "pipe EV_DISPATCH",
};

struct once {
	int kq;
	int p[2][ONCE_K][2];			/* the pipes of PIPE_ONESHOT, PIPE_DISPATCH */
	atomic_uint next[ONCE_KINDS][ONCE_K];	/* sequence number of the next firing to receive */
	atomic_int total;			/* firings received */
	atomic_long calls;
	atomic_bool stop;
	struct stress_bad bad;
};

static uint64_t once_ident(struct once *o, int kind, int i)
{
	return kind < PIPE_ONESHOT ? 1000 + 100 * kind + i : (uint64_t)o->p[kind - PIPE_ONESHOT][i][0];
}

static int once_change(struct once *o, struct kevent *ch, int n)
{
	struct timespec zero = { 0, 0 };

	return kevent(o->kq, ch, n, NULL, 0, &zero) == 0 ? 0 : (errno ? errno : -1);
}

/*
 * Fire knote (kind, i) with sequence number seq (the first firing registers it).
 * `alt` swaps the order of the two steps of a re-arm (enable before or after the
 * trigger or write). Returns 0 or an errno.
 */
static int once_fire(struct once *o, int kind, int i, unsigned int seq, bool first, bool alt)
{
	uint64_t id = once_ident(o, kind, i), ud = (uint64_t)kind << 8 | i;
	unsigned int trig = NOTE_TRIGGER | NOTE_FFCOPY | (seq & NOTE_FFLAGSMASK);
	unsigned char b = (unsigned char)seq;
	int w = kind >= PIPE_ONESHOT ? o->p[kind - PIPE_ONESHOT][i][1] : -1;
	struct kevent ch[2];
	int r;

	if (first)
		alt = false;	/* register before the first trigger */
	switch (kind) {
	case USER_ONESHOT:	/* the knote went with its delivery: add it again, then trigger */
		EV_SET(&ch[0], id, EVFILT_USER, EV_ADD | EV_ONESHOT, 0, 0, UD(ud));
		EV_SET(&ch[1], id, EVFILT_USER, 0, trig, 0, UD(ud));
		return once_change(o, ch, 2);
	case USER_DISPATCH:	/* EV_CLEAR: each trigger is reported once */
		EV_SET(&ch[alt], id, EVFILT_USER, first ? EV_ADD | EV_DISPATCH | EV_CLEAR : EV_ENABLE,
		       0, 0, UD(ud));
		EV_SET(&ch[!alt], id, EVFILT_USER, 0, trig, 0, UD(ud));
		return once_change(o, ch, 2);
	case PIPE_ONESHOT:
	case PIPE_DISPATCH:
		EV_SET(&ch[0], id, EVFILT_READ,
		       kind == PIPE_ONESHOT ? EV_ADD | EV_ONESHOT : first ? EV_ADD | EV_DISPATCH : EV_ENABLE,
		       0, 0, UD(ud));
		if (alt && (r = once_change(o, ch, 1)))
			return r;
		if (write(w, &b, 1) != 1)
			return errno ? errno : -1;
		return alt ? 0 : once_change(o, ch, 1);
	}
	return -1;
}

/* One received event: check it, account it, fire the knote again. */
static void once_receive(struct once *o, const struct kevent *ev)
{
	unsigned int kind = (unsigned int)(UDV(*ev) >> 8), i = (unsigned int)(UDV(*ev) & 0xff);
	unsigned int seq, cur;
	int r;

	if (kind >= ONCE_KINDS || i >= ONCE_K || ev->ident != once_ident(o, kind, i) ||
	    ev->filter != (kind < PIPE_ONESHOT ? EVFILT_USER : EVFILT_READ) ||
	    (ev->flags & (KQ_ACTION_FLAGS | EV_ERROR | EV_EOF))) {
		stress_fail(&o->bad, ev, "malformed or unknown record");
		return;
	}
	cur = atomic_load(&o->next[kind][i]);
	if (kind < PIPE_ONESHOT) {
		seq = ev->fflags & NOTE_FFLAGSMASK;
	} else {
		unsigned char b;
		ssize_t n = read(o->p[kind - PIPE_ONESHOT][i][0], &b, 1);

		if (n != 1 || ev->data != 1) {
			stress_fail(&o->bad, ev, "%s %u: data %lld, read() %zd (%s): the firing was "
				    "received twice", once_kind_name[kind], i, (long long)ev->data, n,
				    n < 0 ? strerrorname_np(errno) : "-");
			return;
		}
		seq = (cur & ~0xffu) | b;
	}
	/* The firing in flight is `cur`; only one thread may move it on. */
	if (seq != cur || !atomic_compare_exchange_strong(&o->next[kind][i], &cur, seq + 1)) {
		stress_fail(&o->bad, ev, "%s %u: received firing %u, expected %u (a firing received "
			    "twice, or a stale one)", once_kind_name[kind], i, seq, cur);
		return;
	}
	atomic_fetch_add(&o->total, 1);
	if (seq + 1 < ONCE_ROUNDS && !atomic_load(&o->stop)) {
		r = once_fire(o, kind, i, seq + 1, false, seq & 1);
		if (r)
			stress_fail(&o->bad, ev, "%s %u: firing %u failed: %s", once_kind_name[kind], i,
				    seq + 1, strerrorname_np(r));
	}
}

struct once_waiter {
	struct once *o;
	int nevents;
};

static void *once_waiter_fn(void *arg)
{
	struct once_waiter *w = arg;
	struct once *o = w->o;
	struct timespec ts = { 0, 20 * NSEC_PER_MSEC };
	struct kevent ev[16];

	while (!atomic_load(&o->stop)) {
		int n = kevent(o->kq, NULL, 0, ev, w->nevents, &ts);

		atomic_fetch_add(&o->calls, 1);
		if (n < 0) {
			stress_fail(&o->bad, NULL, "kevent(): %s", strerrorname_np(errno));
			break;
		}
		for (int k = 0; k < n; k++)
			once_receive(o, &ev[k]);
	}
	return NULL;
}

TEST_F_TIMEOUT(slow, exactly_once, 120)
{
	struct once *o = calloc(1, sizeof(*o));
	struct once_waiter w[ONCE_WAITERS];
	pthread_t t[ONCE_WAITERS];
	const int want = ONCE_KINDS * ONCE_K * ONCE_ROUNDS;
	struct kevent ev;
	int64_t t0;

	alarm(110);
	ASSERT_NE(NULL, o);
	o->kq = kqueue();
	ASSERT_LE(0, o->kq);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < ONCE_K; i++) {
			ASSERT_EQ(0, pipe_with(o->p[k][i], 0));
		}
	}
	for (int i = 0; i < ONCE_WAITERS; i++) {
		w[i] = (struct once_waiter){ .o = o, .nevents = 1 + 5 * i };	/* 1, 6, 11, 16 */
		ASSERT_EQ(0, pthread_create(&t[i], NULL, once_waiter_fn, &w[i]));
	}
	t0 = now_ns();
	for (int kind = 0; kind < ONCE_KINDS; kind++) {
		for (int i = 0; i < ONCE_K; i++) {
			ASSERT_OK(once_fire(o, kind, i, 0, true, i & 1));
		}
	}
	while (atomic_load(&o->total) < want && ms_since(t0) < ONCE_WAIT_MS &&
	       !atomic_load(&o->bad.count))
		sleep_ms(5);
	sleep_ms(200);		/* room for a wrong extra delivery */
	atomic_store(&o->stop, true);
	for (int i = 0; i < ONCE_WAITERS; i++)
		pthread_join(t[i], NULL);
	TH_LOG("%d of %d firings received in %lld ms, %ld kevent() calls", atomic_load(&o->total),
	       want, (long long)ms_since(t0), (long)atomic_load(&o->calls));
	ASSERT_EQ(0, STRESS_REPORT(&o->bad));
	for (int kind = 0; kind < ONCE_KINDS; kind++) {
		for (int i = 0; i < ONCE_K; i++) {
			unsigned int next = atomic_load(&o->next[kind][i]);

			EXPECT_EQ(ONCE_ROUNDS, next)
				TH_LOG("%s %d: firing %u never received", once_kind_name[kind], i, next);
		}
	}
	ASSERT_EQ(want, atomic_load(&o->total));
	/* ONESHOT knotes are gone, DISPATCH ones disabled: nothing left to report. */
	ASSERT_EQ(0, kq_poll(o->kq, &ev, 1))
		TH_LOG("left over: ident %llu filter %d udata 0x%llx", (unsigned long long)ev.ident,
		       ev.filter, (unsigned long long)UDV(ev));
	free(o);
}

/* ---- nothing reported once EV_DELETE / close() returned ---------------------------------- */

#define DEL_SLOTS 8		/* even slots: EVFILT_READ on a pipe read end; odd: EVFILT_USER */
#define DEL_DELETERS 2		/* deleter d owns the slots s with s % DEL_DELETERS == d */
#define DEL_SCANNERS 3
#define DEL_RUN_MS 4000
#define DEL_GEN_MASK ((1ULL << 40) - 1)

struct del {
	int kq;
	int p[DEL_SLOTS][2];		/* a pipe holding a byte, for the even slots */
	atomic_ullong gone[DEL_SLOTS];	/* the last generation whose EV_DELETE/close() returned */
	atomic_bool stop;
	atomic_long adds, events, calls;
	struct stress_bad bad;
};

static bool del_is_pipe(int slot)
{
	return (slot & 1) == 0;
}

/* A short random pause, so that a deletion lands anywhere in a concurrent scan. */
static void del_pause(uint64_t *rs)
{
	uint32_t r = rnd_below(rs, 8);

	if (r == 0)
		sched_yield();
	else
		for (volatile uint32_t k = 0; k < r * 200; k++)
			;
}

struct del_deleter {
	struct del *d;
	int id;
};

static void *del_deleter_fn(void *arg)
{
	struct del_deleter *dd = arg;
	struct del *d = dd->d;
	uint64_t gen[DEL_SLOTS] = { 0 }, rs = rnd_seed(dd->id + 1);

	while (!atomic_load(&d->stop)) {
		for (int s = dd->id; s < DEL_SLOTS; s += DEL_DELETERS) {
			uint64_t g = ++gen[s], ud = (uint64_t)(s + 1) << 40 | g;
			unsigned int fl = (g & 6) == 6 ? EV_CLEAR : 0;	/* mostly level-triggered */
			int r;

			if (del_is_pipe(s)) {
				/*
				 * EV_DELETE generations watch a dup() of the slot's pipe; close()
				 * generations a pipe of their own, whose read end goes with the
				 * close() (a dup of the same pipe under the same number would be the
				 * same file again: a different question).
				 */
				int q[2] = { -1, -1 }, fd;

				fd = (g & 1) ? dup(d->p[s][0]) : pipe_with(q, 1) ? -1 : q[0];
				if (fd < 0) {
					stress_fail(&d->bad, NULL, "dup()/pipe(): %s", strerrorname_np(errno));
					return NULL;
				}
				r = fd_add(d->kq, fd, EVFILT_READ, fl, 0, 0, ud);
				if (r)
					stress_fail(&d->bad, NULL, "slot %d: EV_ADD: %s", s, strerrorname_np(r));
				atomic_fetch_add(&d->adds, 1);
				del_pause(&rs);
				if (g & 1) {
					r = fd_chg(d->kq, fd, EVFILT_READ, EV_DELETE);
					if (r)
						stress_fail(&d->bad, NULL, "slot %d gen %llu: EV_DELETE: %s",
							    s, (unsigned long long)g, strerrorname_np(r));
					atomic_store(&d->gone[s], g);
					close(fd);
				} else {
					close(fd);	/* drops the knote (FreeBSD knote_fdclose) */
					atomic_store(&d->gone[s], g);
					close(q[1]);
				}
			} else {
				uint64_t id = 500 + s;

				r = kq_ctl(d->kq, id, EVFILT_USER, EV_ADD | fl, 0, 0, ud);
				if (!r)
					r = kq_ctl(d->kq, id, EVFILT_USER, 0, NOTE_TRIGGER, 0, ud);
				if (r)
					stress_fail(&d->bad, NULL, "slot %d: EV_ADD/NOTE_TRIGGER: %s", s,
						    strerrorname_np(r));
				atomic_fetch_add(&d->adds, 1);
				del_pause(&rs);
				r = user_del(d->kq, id);
				if (r)
					stress_fail(&d->bad, NULL, "slot %d gen %llu: EV_DELETE: %s", s,
						    (unsigned long long)g, strerrorname_np(r));
				atomic_store(&d->gone[s], g);
			}
		}
	}
	return NULL;
}

static void *del_scanner_fn(void *arg)
{
	struct del *d = arg;
	struct timespec zero = { 0, 0 }, ms = { 0, NSEC_PER_MSEC };
	struct kevent ev[16];
	long calls = 0;

	while (!atomic_load(&d->stop)) {
		uint64_t snap[DEL_SLOTS];
		int n;

		/* Everything of a generation <= snap[s] was deleted before this call began. */
		for (int s = 0; s < DEL_SLOTS; s++)
			snap[s] = atomic_load(&d->gone[s]);
		n = kevent(d->kq, NULL, 0, ev, (calls & 1) ? 16 : 3, (calls & 7) == 7 ? &ms : &zero);
		calls++;
		if (n < 0) {
			stress_fail(&d->bad, NULL, "kevent(): %s", strerrorname_np(errno));
			break;
		}
		for (int k = 0; k < n; k++) {
			uint64_t ud = UDV(ev[k]), g = ud & DEL_GEN_MASK;
			int s = (int)(ud >> 40) - 1;

			if (s < 0 || s >= DEL_SLOTS || ev[k].filter != (del_is_pipe(s) ? EVFILT_READ : EVFILT_USER) ||
			    (!del_is_pipe(s) && ev[k].ident != (uint64_t)(500 + s)) ||
			    (ev[k].flags & (KQ_ACTION_FLAGS | EV_ERROR))) {
				stress_fail(&d->bad, &ev[k], "malformed record");
				continue;
			}
			if (g <= snap[s])
				stress_fail(&d->bad, &ev[k], "slot %d: event of generation %llu, whose %s "
					    "had returned before this kevent() began (generation %llu "
					    "was gone then)", s, (unsigned long long)g,
					    del_is_pipe(s) ? (g & 1 ? "EV_DELETE" : "close()") : "EV_DELETE",
					    (unsigned long long)snap[s]);
		}
		atomic_fetch_add(&d->events, n);
	}
	atomic_fetch_add(&d->calls, calls);
	return NULL;
}

TEST_F_TIMEOUT(slow, no_event_after_delete, 90)
{
	struct del *d = calloc(1, sizeof(*d));
	struct del_deleter dd[DEL_DELETERS];
	pthread_t td[DEL_DELETERS], ts[DEL_SCANNERS];
	struct kevent ev;

	alarm(80);
	ASSERT_NE(NULL, d);
	d->kq = kqueue();
	ASSERT_LE(0, d->kq);
	for (int s = 0; s < DEL_SLOTS; s++) {
		if (del_is_pipe(s)) {
			ASSERT_EQ(0, pipe_with(d->p[s], 1));
		}
	}
	for (int i = 0; i < DEL_SCANNERS; i++) {
		ASSERT_EQ(0, pthread_create(&ts[i], NULL, del_scanner_fn, d));
	}
	for (int i = 0; i < DEL_DELETERS; i++) {
		dd[i] = (struct del_deleter){ .d = d, .id = i };
		ASSERT_EQ(0, pthread_create(&td[i], NULL, del_deleter_fn, &dd[i]));
	}
	sleep_ms(DEL_RUN_MS);
	atomic_store(&d->stop, true);
	for (int i = 0; i < DEL_DELETERS; i++)
		pthread_join(td[i], NULL);
	for (int i = 0; i < DEL_SCANNERS; i++)
		pthread_join(ts[i], NULL);
	TH_LOG("%ld generations added and deleted, %ld events in %ld scans",
	       (long)atomic_load(&d->adds), (long)atomic_load(&d->events), (long)atomic_load(&d->calls));
	ASSERT_EQ(0, STRESS_REPORT(&d->bad));
	EXPECT_LT(0, atomic_load(&d->events)) TH_LOG("the scanners never saw a knote: test too weak");
	/* Every generation was deleted: nothing may be left. */
	ASSERT_EQ(0, kq_poll(d->kq, &ev, 1))
		TH_LOG("left over: ident %llu filter %d udata 0x%llx", (unsigned long long)ev.ident,
		       ev.filter, (unsigned long long)UDV(ev));
	free(d);
}

/* ---- NOTE_TRIGGER without the registry lock, racing EV_DELETE and scans --------------- */

#define TRG_KNOTES 8
#define TRG_PRODUCERS 4
#define TRG_SCANNERS 2
#define TRG_RUN_MS 3000
#define TRG_IDENT(i) (900 + (uint64_t)(i))
#define TRG_SEQ_MASK 0xffffffu

struct trg {
	int kq;
	atomic_ullong gone[TRG_KNOTES];		/* last generation whose EV_DELETE returned */
	atomic_uint max_seq;			/* highest sequence number triggered so far */
	atomic_bool stop, deleting;
	atomic_long triggers, enoent, events;
	struct stress_bad bad;
};

struct trg_producer {
	struct trg *t;
	int id;
};

static int trg_trigger(int kq, int i, unsigned int seq)
{
	return kq_ctl(kq, TRG_IDENT(i), EVFILT_USER, EV_KEEPUDATA,
		      NOTE_TRIGGER | NOTE_FFCOPY | (seq & TRG_SEQ_MASK), 0, 0);
}

static void *trg_producer_fn(void *arg)
{
	struct trg_producer *tp = arg;
	struct trg *t = tp->t;
	uint64_t rs = rnd_seed(100 + tp->id);

	while (!atomic_load(&t->stop)) {
		/* numbers rise: every producer takes the next one */
		unsigned int seq = atomic_fetch_add(&t->max_seq, 1) + 1;
		int i = (int)rnd_below(&rs, TRG_KNOTES), r = trg_trigger(t->kq, i, seq);

		atomic_fetch_add(&t->triggers, 1);
		if (r == ENOENT && atomic_load(&t->deleting))
			atomic_fetch_add(&t->enoent, 1);
		else if (r)
			stress_fail(&t->bad, NULL, "NOTE_TRIGGER of knote %d: %s", i, strerrorname_np(r));
	}
	return NULL;
}

static void *trg_deleter_fn(void *arg)
{
	struct trg *t = arg;
	uint64_t gen[TRG_KNOTES], rs = rnd_seed(77);

	for (int i = 0; i < TRG_KNOTES; i++)
		gen[i] = 1;	/* the test added generation 1; 0 in gone[] means none gone */

	while (!atomic_load(&t->stop)) {
		int i = (int)rnd_below(&rs, TRG_KNOTES), r;
		uint64_t g = gen[i] + 1;

		r = user_del(t->kq, TRG_IDENT(i));
		if (r)
			stress_fail(&t->bad, NULL, "knote %d: EV_DELETE: %s", i, strerrorname_np(r));
		atomic_store(&t->gone[i], gen[i]);
		gen[i] = g;
		r = kq_ctl(t->kq, TRG_IDENT(i), EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0,
			   (uint64_t)(i + 1) << 40 | g);
		if (r)
			stress_fail(&t->bad, NULL, "knote %d: EV_ADD: %s", i, strerrorname_np(r));
		if (rnd_below(&rs, 4) == 0)
			sched_yield();
	}
	return NULL;
}

static void trg_check(struct trg *t, const struct kevent *ev, const uint64_t *snap,
		      unsigned int max_seq)
{
	uint64_t ud = UDV(*ev), g = ud & DEL_GEN_MASK;
	int i = (int)(ud >> 40) - 1;

	if (i < 0 || i >= TRG_KNOTES || ev->filter != EVFILT_USER || ev->ident != TRG_IDENT(i) ||
	    (ev->flags & (KQ_ACTION_FLAGS | EV_ERROR))) {
		stress_fail(&t->bad, ev, "malformed record");
		return;
	}
	if (snap && g <= snap[i])
		stress_fail(&t->bad, ev, "knote %d: event of generation %llu, deleted before this "
			    "kevent() began (generation %llu was gone then)", i,
			    (unsigned long long)g, (unsigned long long)snap[i]);
	if ((ev->fflags & TRG_SEQ_MASK) > (max_seq & TRG_SEQ_MASK))
		stress_fail(&t->bad, ev, "knote %d: sequence %u never triggered (max %u)", i,
			    ev->fflags & TRG_SEQ_MASK, max_seq & TRG_SEQ_MASK);
}

static void *trg_scanner_fn(void *arg)
{
	struct trg *t = arg;
	struct timespec ms = { 0, NSEC_PER_MSEC };
	struct kevent ev[TRG_KNOTES];

	while (!atomic_load(&t->stop)) {
		uint64_t snap[TRG_KNOTES];
		unsigned int max_seq;
		int n;

		for (int i = 0; i < TRG_KNOTES; i++)
			snap[i] = atomic_load(&t->gone[i]);
		n = kevent(t->kq, NULL, 0, ev, TRG_KNOTES, &ms);
		max_seq = atomic_load(&t->max_seq);
		if (n < 0) {
			stress_fail(&t->bad, NULL, "kevent(): %s", strerrorname_np(errno));
			break;
		}
		for (int k = 0; k < n; k++)
			trg_check(t, &ev[k], snap, max_seq);
		atomic_fetch_add(&t->events, n);
	}
	return NULL;
}

TEST(trigger_races)
{
	struct trg *t = calloc(1, sizeof(*t));
	struct trg_producer tp[TRG_PRODUCERS];
	pthread_t th_p[TRG_PRODUCERS], th_s[TRG_SCANNERS], th_d;
	struct kevent ev[TRG_KNOTES * 2];
	unsigned int last[TRG_KNOTES];
	bool seen[TRG_KNOTES] = { false };
	int n;

	alarm(25);	/* the harness's own limit is 30 s */
	ASSERT_NE(NULL, t);
	t->kq = kqueue();
	ASSERT_LE(0, t->kq);
	for (int i = 0; i < TRG_KNOTES; i++)
		ASSERT_EQ(0, kq_ctl(t->kq, TRG_IDENT(i), EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0,
				    (uint64_t)(i + 1) << 40 | 1));
	atomic_store(&t->deleting, true);
	for (int i = 0; i < TRG_SCANNERS; i++)
		ASSERT_EQ(0, pthread_create(&th_s[i], NULL, trg_scanner_fn, t));
	for (int i = 0; i < TRG_PRODUCERS; i++) {
		tp[i] = (struct trg_producer){ .t = t, .id = i };
		ASSERT_EQ(0, pthread_create(&th_p[i], NULL, trg_producer_fn, &tp[i]));
	}
	ASSERT_EQ(0, pthread_create(&th_d, NULL, trg_deleter_fn, t));
	sleep_ms(TRG_RUN_MS);
	atomic_store(&t->stop, true);
	pthread_join(th_d, NULL);
	for (int i = 0; i < TRG_PRODUCERS; i++)
		pthread_join(th_p[i], NULL);
	for (int i = 0; i < TRG_SCANNERS; i++)
		pthread_join(th_s[i], NULL);
	TH_LOG("%ld triggers (%ld hit a deleted knote), %ld events",
	       (long)atomic_load(&t->triggers), (long)atomic_load(&t->enoent),
	       (long)atomic_load(&t->events));
	ASSERT_EQ(0, STRESS_REPORT(&t->bad));

	/* The last word: drain, then every producer triggers every knote once, racing. */
	while (kq_poll(t->kq, ev, TRG_KNOTES) > 0)
		;
	atomic_store(&t->deleting, false);
	atomic_store(&t->stop, false);
	for (int i = 0; i < TRG_KNOTES; i++) {
		last[i] = atomic_fetch_add(&t->max_seq, 1) + 1;
		ASSERT_EQ(0, trg_trigger(t->kq, i, last[i]));
	}
	n = kq_get(t->kq, ev, TRG_KNOTES * 2, 1000);
	ASSERT_EQ(TRG_KNOTES, n);
	for (int k = 0; k < n; k++) {
		int i = (int)(UDV(ev[k]) >> 40) - 1;

		trg_check(t, &ev[k], NULL, atomic_load(&t->max_seq));
		ASSERT_TRUE(i >= 0 && i < TRG_KNOTES);
		EXPECT_FALSE(seen[i]) TH_LOG("knote %d reported twice", i);
		seen[i] = true;
		EXPECT_EQ(last[i], ev[k].fflags & TRG_SEQ_MASK) TH_LOG("knote %d", i);
	}
	ASSERT_EQ(0, STRESS_REPORT(&t->bad));
	ASSERT_EQ(0, kq_poll(t->kq, ev, TRG_KNOTES));
	close(t->kq);
	free(t);
}

/* ---- no knote twice in one returned array ------------------------------------------------- */

#define DUP_PIPES 64
#define DUP_USERS 16
#define DUP_KNOTES (DUP_PIPES + DUP_USERS)
#define DUP_CALLS 1000
#define DUP_SCANNERS 3

struct dup_test {
	int kq;
	int p[DUP_PIPES][2];
	struct stress_bad bad;
	atomic_long events, dups, short_calls;
};

struct dup_scanner {
	struct dup_test *d;
	int nevents;
	struct stress_gate *gate;
};

static void *dup_scan_fn(void *arg)
{
	struct dup_scanner *s = arg;
	struct dup_test *d = s->d;
	struct kevent ev[128];
	int want = s->nevents < DUP_KNOTES ? s->nevents : DUP_KNOTES;

	gate_wait(s->gate);
	for (int c = 0; c < DUP_CALLS; c++) {
		bool seen[DUP_KNOTES] = { false };
		int n = kq_poll(d->kq, ev, s->nevents);

		if (n < 0) {
			stress_fail(&d->bad, NULL, "kevent(): %s", strerrorname_np(errno));
			break;
		}
		if (n != want) {
			atomic_fetch_add(&d->short_calls, 1);
			stress_fail(&d->bad, NULL, "call %d returned %d records, want %d: level-triggered "
				    "events that were active all along are missing", c, n, want);
		}
		for (int k = 0; k < n; k++) {
			uint64_t i = UDV(ev[k]);
			bool pipe = i < DUP_PIPES;

			if (i >= DUP_KNOTES || ev[k].filter != (pipe ? EVFILT_READ : EVFILT_USER) ||
			    ev[k].ident != (pipe ? (uint64_t)d->p[i][0] : 1000 + i) ||
			    (pipe && ev[k].data != 1) || (ev[k].flags & (KQ_ACTION_FLAGS | EV_ERROR))) {
				stress_fail(&d->bad, &ev[k], "call %d: malformed record %d", c, k);
				continue;
			}
			if (seen[i]) {
				atomic_fetch_add(&d->dups, 1);
				stress_fail(&d->bad, &ev[k], "call %d: knote %llu twice in one array of %d",
					    c, (unsigned long long)i, n);
			}
			seen[i] = true;
		}
		atomic_fetch_add(&d->events, n);
	}
	return NULL;
}

TEST_F_TIMEOUT(slow, no_duplicate_in_one_call, 120)
{
	struct dup_test *d = calloc(1, sizeof(*d));
	static const int sizes[DUP_SCANNERS] = { 128, DUP_KNOTES, 50 };
	struct dup_scanner s[DUP_SCANNERS];
	struct stress_gate gate = { .parties = DUP_SCANNERS };
	pthread_t t[DUP_SCANNERS];
	struct kevent ev[128];
	int64_t t0;

	alarm(110);
	ASSERT_NE(NULL, d);
	raise_nofile();
	d->kq = kqueue();
	ASSERT_LE(0, d->kq);
	for (int i = 0; i < DUP_PIPES; i++) {
		ASSERT_EQ(0, pipe_with(d->p[i], 1));
		ASSERT_OK(fd_add(d->kq, d->p[i][0], EVFILT_READ, 0, 0, 0, i));
	}
	/* EVFILT_USER without EV_CLEAR: once triggered, active for good (level). */
	for (int i = DUP_PIPES; i < DUP_KNOTES; i++) {
		ASSERT_OK(kq_ctl(d->kq, 1000 + i, EVFILT_USER, EV_ADD, 0, 0, i));
		ASSERT_OK(kq_ctl(d->kq, 1000 + i, EVFILT_USER, 0, NOTE_TRIGGER, 0, i));
	}
	t0 = now_ns();
	for (int i = 0; i < DUP_SCANNERS; i++) {
		s[i] = (struct dup_scanner){ .d = d, .nevents = sizes[i], .gate = &gate };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, dup_scan_fn, &s[i]));
	}
	for (int i = 0; i < DUP_SCANNERS; i++)
		pthread_join(t[i], NULL);
	TH_LOG("%d scanners x %d calls: %ld records in %lld ms, %ld duplicates, %ld short calls",
	       DUP_SCANNERS, DUP_CALLS, (long)atomic_load(&d->events), (long long)ms_since(t0),
	       (long)atomic_load(&d->dups), (long)atomic_load(&d->short_calls));
	EXPECT_EQ(0, atomic_load(&d->dups));
	EXPECT_EQ(0, atomic_load(&d->short_calls));
	ASSERT_EQ(0, STRESS_REPORT(&d->bad));
	ASSERT_EQ(DUP_KNOTES, kq_poll(d->kq, ev, 128));
	free(d);
}

/* ---- no wake-up lost while the scan holds the knote ------------------------------------------- */

/*
 * A token ring with more tokens than players: a player's pipe gets written while the player
 * itself is scanning its kqueue (and often finds its pipe empty: the level-triggered knote was
 * still queued from the previous byte). A wake-up that comes while the scan holds the knote
 * must not be lost once the scan lets it go. Level players read one byte per event (so the
 * tokens stay apart), EV_CLEAR players drain. A player that waits RING_SAFETY_MS in kevent()
 * fails the case; it says how many bytes were waiting in its pipe then, and its knote as
 * /proc/self/fdinfo shows it (bytes waiting and active=1: woken, but on no list).
 */

#define RING_MAX 4
#define RING_RUN_MS 4000
#define RING_SAFETY_MS 5000

FIXTURE(ring) {
	int p[RING_MAX][2];
	atomic_bool stop;
};

FIXTURE_VARIANT(ring) {
	int players, tokens;
	unsigned int flags;
};

FIXTURE_VARIANT_ADD(ring, level_2_players_3_tokens) { .players = 2, .tokens = 3, .flags = 0 };
FIXTURE_VARIANT_ADD(ring, clear_2_players_3_tokens) { .players = 2, .tokens = 3, .flags = EV_CLEAR };
FIXTURE_VARIANT_ADD(ring, level_4_players_6_tokens) { .players = 4, .tokens = 6, .flags = 0 };

FIXTURE_SETUP(ring)
{
	alarm(RING_RUN_MS / 1000 + 2 * RING_SAFETY_MS / 1000 + 40);
	for (int i = 0; i < variant->players; i++) {
		ASSERT_EQ(0, pipe_with(self->p[i], 0));
	}
}

FIXTURE_TEARDOWN(ring) {}

struct ring_player {
	int in, out;
	unsigned int flags;
	atomic_bool *stop;
	long hops;
	int lost, err, stuck_bytes;
	char knotes[256];
};

static void *ring_player_fn(void *arg)
{
	struct ring_player *g = arg;
	struct timespec ts = ts_ns((int64_t)RING_SAFETY_MS * NSEC_PER_MSEC);
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
			g->err = errno;
			break;
		}
		if (n == 0) {
			g->lost++;
			g->stuck_bytes = bytes_readable(g->in);
			read_knotes(kq, g->knotes, sizeof(g->knotes));
			break;
		}
		r = read(g->in, b, (g->flags & EV_CLEAR) ? sizeof(b) : 1);
		if (r <= 0)
			continue;	/* the level-triggered knote was still queued: harmless */
		if (ring_pass(g->out, b, r, g->stop, &quit)) {
			g->err = errno;
			break;
		}
		g->hops += r;
	}
	close(kq);
	return NULL;
}

TEST_F_TIMEOUT(ring, no_lost_wakeup, 90)
{
	struct ring_player g[RING_MAX];
	pthread_t t[RING_MAX];
	int n = variant->players;
	long hops = 0;

	for (int i = 0; i < n; i++) {
		g[i] = (struct ring_player){ .in = self->p[i][0], .out = self->p[(i + 1) % n][1],
					     .flags = variant->flags, .stop = &self->stop };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, ring_player_fn, &g[i]));
	}
	for (int k = 0; k < variant->tokens; k++) {
		ASSERT_EQ(1, write(self->p[k % n][1], "t", 1));
	}
	sleep_ms(RING_RUN_MS);
	atomic_store(&self->stop, true);
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		hops += g[i].hops;
	}
	TH_LOG("%d players, %d tokens: %ld hops in %d ms", n, variant->tokens, hops, RING_RUN_MS);
	for (int i = 0; i < n; i++) {
		EXPECT_EQ(0, g[i].lost) TH_LOG("player %d waited %d ms after %ld hops with %d byte(s) "
					       "in its pipe (>0: a lost wake-up); knote: %s", i,
					       RING_SAFETY_MS, g[i].hops, g[i].stuck_bytes, g[i].knotes);
		EXPECT_EQ(0, g[i].err) TH_LOG("player %d: %s", i, strerror(g[i].err));
	}
	EXPECT_LT(100, hops);
}

TEST_HARNESS_MAIN
