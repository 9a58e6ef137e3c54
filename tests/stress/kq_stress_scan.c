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
 *    that takes no `inner` and finds its knote without locks, under RCU) 8 EV_CLEAR user knotes with
 *    NOTE_FFCOPY sequence numbers, while a deleter thread EV_DELETEs and re-adds them with
 *    a new generation in udata and 2 scanners collect. A trigger may only fail with
 *    ENOENT (its knote deleted at that moment); no event may carry a generation whose
 *    EV_DELETE had returned before the kevent() began, nor a sequence number above what
 *    was triggered. At the end every knote is triggered once more by each producer with a
 *    known last number, and each must then be reported exactly once with the last
 *    producer's number (no trigger lost between a scan and a concurrent trigger).
 *  - registry_churn: the registry (the tree of knotes by (ident, filter)) looked up while it
 *    is rebalanced, for KQ_STRESS_SECS seconds (default 5). 1024 EVFILT_USER EV_CLEAR
 *    "stable" knotes that stay registered all along; 2 churner threads EV_ADD, EV_DELETE,
 *    re-add, NOTE_TRIGGER or EV_ENABLE, in batches of 16 with EV_RECEIPT, 4096 churn keys
 *    (EVFILT_USER) and EVFILT_READ + EVFILT_WRITE on both ends of 4 pipes each (one ident, two
 *    filters), each owning its keys, so that every result is predicted exactly (0, or ENOENT
 *    for a key it knows absent); 2 trigger threads NOTE_TRIGGER random stable knotes (flags 0
 *    or EV_RECEIPT alone: the lockless look-up, with a second look under the registry's
 *    spinlock when the walk misses), which must never fail; a scanner, whose every record must be a key of the test with its udata and sane
 *    data; a reader of /proc/self/fdinfo/<kq>, whose every snapshot must parse and list only
 *    keys of the test, each once, all 1024 stable ones among them. At the end every stable
 *    knote triggered once more is reported exactly once with that number, fdinfo lists exactly
 *    the keys the churners believe registered, and a no-op EV_ENABLE|EV_RECEIPT answers 0 on
 *    each of them and ENOENT on the others.
 *  - trigger_vs_final_delete: rounds of 48 new EVFILT_USER keys deleted in a random order
 *    while 3 threads NOTE_TRIGGER them: a trigger that began after its knote's EV_DELETE
 *    returned must fail with ENOENT, one that ended before that EV_DELETE began must succeed
 *    (see the case).
 *  - no_duplicate_in_one_call: 80 always-active level-triggered knotes,
 *    3 scanners with event lists of 128, 80 and 50: no knote twice in one
 *    returned array, and every call returns min(nevents, 80) records.
 *  - batch_vs_delete: what a scan settles in a batch (several knotes whose condition is
 *    known under the ready lock, under one hold of it, their records copied out together
 *    afterwards): 16 EVFILT_USER slots, each generation level, EV_CLEAR, EV_ONESHOT or
 *    EV_DISPATCH, triggered twice, then EV_DELETEd (ENOENT only for an EV_ONESHOT generation a
 *    scan already reported and dropped) by 2 deleter threads; 3 scanners with event lists of
 *    16, 5 and 2. No record of a generation whose EV_DELETE returned before the call began
 *    (a batched record is copied out after the lock: `inner` must have been held since the
 *    decision), none twice in one call, no EV_ONESHOT generation reported twice, and most
 *    calls with records return several (the case fails if batches never formed).
 *  - late_batch_vs_delete: the same for knotes evaluated late, in a batch of their own (a run of
 *    descriptor knotes taken together, evaluated with no lock of the kqueue held, settled
 *    under one hold of the locks, their records copied out together): the 16 slots are
 *    EVFILT_READ on 16 pipes that always hold a byte, fired by writes; every record's data
 *    is at least 1.
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

/* ---- batched scans racing EV_DELETE ------------------------------------------------------ */

#define BAT_SLOTS 16
#define BAT_DELETERS 2		/* deleter d owns the slots s with s % BAT_DELETERS == d */
#define BAT_SCANNERS 3
#define BAT_RUN_MS 3000
#define BAT_IDENT(s) (700 + (uint64_t)(s))

struct bat {
	int kq;
	bool pipes;				/* slot s is EVFILT_READ on pipe p[s], not a user event */
	int p[BAT_SLOTS][2];
	atomic_ullong gone[BAT_SLOTS];		/* the last generation whose EV_DELETE returned */
	atomic_ullong oneshot_seen[BAT_SLOTS];	/* the last EV_ONESHOT generation reported */
	atomic_bool stop;
	atomic_long adds, events, calls, multi;	/* multi: calls that returned 2 records or more */
	struct stress_bad bad;
};

/* Generation g of a slot: level, EV_CLEAR, EV_ONESHOT or EV_DISPATCH, in turn. */
static unsigned int bat_flags(uint64_t g)
{
	static const unsigned int fl[4] = { 0, EV_CLEAR, EV_ONESHOT, EV_DISPATCH };

	return fl[g & 3];
}

struct bat_deleter {
	struct bat *b;
	int id;
};

/* The ident of slot s's knote: its user event, or its pipe's read end. */
static uint64_t bat_ident(const struct bat *b, int s)
{
	return b->pipes ? (uint64_t)b->p[s][0] : BAT_IDENT(s);
}

/*
 * Generation g of slot s: EV_ADD, then two firings (NOTE_TRIGGER, or a byte written to its pipe,
 * which always holds one at least, so that every generation is active from its EV_ADD). The
 * pipe is drained down to one byte now and then. 0 or the errno.
 */
static int bat_add(struct bat *b, int s, uint64_t g, uint64_t ud, uint64_t *rs)
{
	int r;

	if (b->pipes) {
		char buf[512];

		if ((g & 255) == 0 && read(b->p[s][0], buf, sizeof(buf) - 1) < 0)
			return errno;
		r = kq_ctl(b->kq, bat_ident(b, s), EVFILT_READ, EV_ADD | bat_flags(g), 0, 0, ud);
		for (int t = 0; !r && t < 2; t++) {
			if (write(b->p[s][1], "x", 1) != 1)
				r = errno;
			del_pause(rs);
		}
		return r;
	}
	r = kq_ctl(b->kq, BAT_IDENT(s), EVFILT_USER, EV_ADD | bat_flags(g), 0, 0, ud);
	for (int t = 0; !r && t < 2; t++) {
		r = kq_ctl(b->kq, BAT_IDENT(s), EVFILT_USER, 0, NOTE_TRIGGER, 0, ud);
		/* An EV_ONESHOT generation may be reported (and gone) at once. */
		if (r == ENOENT && bat_flags(g) == EV_ONESHOT && t > 0)
			r = 0;
		del_pause(rs);
	}
	return r;
}

static void *bat_deleter_fn(void *arg)
{
	struct bat_deleter *bd = arg;
	struct bat *b = bd->b;
	uint64_t gen[BAT_SLOTS] = { 0 }, rs = rnd_seed(bd->id + 11);

	while (!atomic_load(&b->stop)) {
		for (int s = bd->id; s < BAT_SLOTS; s += BAT_DELETERS) {
			uint64_t g = ++gen[s], ud = (uint64_t)(s + 1) << 40 | g;
			int r;

			r = bat_add(b, s, g, ud, &rs);
			if (r)
				stress_fail(&b->bad, NULL, "slot %d gen %llu: EV_ADD/NOTE_TRIGGER: %s", s,
					    (unsigned long long)g, strerrorname_np(r));
			atomic_fetch_add(&b->adds, 1);
			r = kq_ctl(b->kq, bat_ident(b, s), b->pipes ? EVFILT_READ : EVFILT_USER, EV_DELETE,
				   0, 0, 0);
			if (r && !(r == ENOENT && bat_flags(g) == EV_ONESHOT))
				stress_fail(&b->bad, NULL, "slot %d gen %llu: EV_DELETE: %s", s,
					    (unsigned long long)g, strerrorname_np(r));
			atomic_store(&b->gone[s], g);
		}
	}
	return NULL;
}

struct bat_scanner {
	struct bat *b;
	int nevents;
};

static void *bat_scanner_fn(void *arg)
{
	struct bat_scanner *bs = arg;
	struct bat *b = bs->b;
	struct timespec zero = { 0, 0 }, ms = { 0, NSEC_PER_MSEC };
	struct kevent ev[BAT_SLOTS];
	long calls = 0, multi = 0, events = 0;

	while (!atomic_load(&b->stop)) {
		uint64_t snap[BAT_SLOTS];
		int n;

		for (int s = 0; s < BAT_SLOTS; s++)
			snap[s] = atomic_load(&b->gone[s]);
		n = kevent(b->kq, NULL, 0, ev, bs->nevents, (calls & 7) == 7 ? &ms : &zero);
		calls++;
		if (n < 0) {
			stress_fail(&b->bad, NULL, "kevent(): %s", strerrorname_np(errno));
			break;
		}
		multi += n > 1;
		events += n;
		for (int k = 0; k < n; k++) {
			uint64_t ud = UDV(ev[k]), g = ud & DEL_GEN_MASK;
			int s = (int)(ud >> 40) - 1;

			if (s < 0 || s >= BAT_SLOTS ||
			    ev[k].filter != (b->pipes ? EVFILT_READ : EVFILT_USER) ||
			    ev[k].ident != bat_ident(b, s) || (ev[k].flags & (KQ_ACTION_FLAGS | EV_ERROR)) ||
			    (ev[k].flags & (EV_CLEAR | EV_ONESHOT | EV_DISPATCH)) != bat_flags(g) ||
			    (b->pipes && ev[k].data < 1)) {
				stress_fail(&b->bad, &ev[k], "malformed record");
				continue;
			}
			if (g <= snap[s])
				stress_fail(&b->bad, &ev[k], "slot %d: event of generation %llu, whose "
					    "EV_DELETE had returned before this kevent() began (generation "
					    "%llu was gone then)", s, (unsigned long long)g,
					    (unsigned long long)snap[s]);
			for (int j = 0; j < k; j++)
				if (UDV(ev[j]) == ud)
					stress_fail(&b->bad, &ev[k], "slot %d generation %llu twice in one call",
						    s, (unsigned long long)g);
			if (bat_flags(g) == EV_ONESHOT && atomic_exchange(&b->oneshot_seen[s], g) == g)
				stress_fail(&b->bad, &ev[k], "slot %d: EV_ONESHOT generation %llu reported "
					    "twice", s, (unsigned long long)g);
		}
	}
	atomic_fetch_add(&b->calls, calls);
	atomic_fetch_add(&b->multi, multi);
	atomic_fetch_add(&b->events, events);
	return NULL;
}

static void bat_run(struct __test_metadata *_metadata, bool pipes)
{
	static const int sizes[BAT_SCANNERS] = { 16, 5, 2 };
	struct bat *b = calloc(1, sizeof(*b));
	struct bat_deleter bd[BAT_DELETERS];
	struct bat_scanner bs[BAT_SCANNERS];
	pthread_t td[BAT_DELETERS], ts[BAT_SCANNERS];
	struct kevent ev;

	alarm(50);
	ASSERT_NE(NULL, b);
	b->kq = kqueue();
	ASSERT_LE(0, b->kq);
	b->pipes = pipes;
	for (int s = 0; pipes && s < BAT_SLOTS; s++)
		ASSERT_EQ(0, pipe_with(b->p[s], 1));
	for (int i = 0; i < BAT_SCANNERS; i++) {
		bs[i] = (struct bat_scanner){ .b = b, .nevents = sizes[i] };
		ASSERT_EQ(0, pthread_create(&ts[i], NULL, bat_scanner_fn, &bs[i]));
	}
	for (int i = 0; i < BAT_DELETERS; i++) {
		bd[i] = (struct bat_deleter){ .b = b, .id = i };
		ASSERT_EQ(0, pthread_create(&td[i], NULL, bat_deleter_fn, &bd[i]));
	}
	sleep_ms(BAT_RUN_MS);
	atomic_store(&b->stop, true);
	for (int i = 0; i < BAT_DELETERS; i++)
		pthread_join(td[i], NULL);
	for (int i = 0; i < BAT_SCANNERS; i++)
		pthread_join(ts[i], NULL);
	TH_LOG("%ld generations added and deleted, %ld events in %ld scans, %ld of them with 2 or more",
	       (long)atomic_load(&b->adds), (long)atomic_load(&b->events), (long)atomic_load(&b->calls),
	       (long)atomic_load(&b->multi));
	ASSERT_EQ(0, STRESS_REPORT(&b->bad));
	EXPECT_LT(0, atomic_load(&b->multi)) TH_LOG("no call returned two records: no batch was tested");
	ASSERT_EQ(0, kq_poll(b->kq, &ev, 1))
		TH_LOG("left over: ident %llu filter %d udata 0x%llx", (unsigned long long)ev.ident,
		       ev.filter, (unsigned long long)UDV(ev));
	for (int s = 0; pipes && s < BAT_SLOTS; s++) {
		close(b->p[s][0]);
		close(b->p[s][1]);
	}
	free(b);
}

TEST_F_TIMEOUT(slow, batch_vs_delete, 60)
{
	bat_run(_metadata, false);
}

TEST_F_TIMEOUT(slow, late_batch_vs_delete, 60)
{
	bat_run(_metadata, true);
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

/* ---- the registry's rotations: a small tree rebalanced as fast as it can be ----------------- */

/*
 * registry_rotations: what registry_churn does at scale, here at speed. A tree of a few dozen
 * knotes: ROT_STABLE EVFILT_USER knotes that stay, and ROT_CHURNERS threads that each add and
 * delete their own ROT_BATCH keys (interleaved with the stable ones, so that every rotation
 * near the root is on every stable key's path) in whole-batch changelists, while ROT_TRIGGERERS
 * threads NOTE_TRIGGER the stable knotes one call at a time: a lockless look-up (RCU) during
 * the rebalancing, which may miss a knote a rotation hides for a moment and must then look
 * again under `index`. A trigger of a stable knote must never fail, every changelist must
 * succeed whole, and afterwards exactly the stable knotes are left. What this cannot show
 * (measured before the look-up went lockless): a module broken on purpose to walk the tree
 * after dropping `index` passed both this case and registry_churn (10 s, 1.3 million
 * triggers against 54 000 changes under TCG): a rotation's window is a few instructions.
 */
#define ROT_STABLE 8
#define ROT_CHURNERS 2
#define ROT_TRIGGERERS 2
#define ROT_BATCH 32

struct rot {
	int kq;
	atomic_bool stop;
	atomic_long triggers, changes;
	struct stress_bad bad;
};

/* Stable knote i: ident 64 i + 32; churner c's key k: in stable knote k % ROT_STABLE's slice. */
static uint64_t rot_stable(int i)
{
	return 64 * (uint64_t)i + 32;
}

static uint64_t rot_churn(int c, int k)
{
	return 64 * (uint64_t)(k % ROT_STABLE) + 4 * (uint64_t)(k / ROT_STABLE) + 2 * (uint64_t)c + 1;
}

/* A churner's or triggerer's argument, as the other cases' thread structs. */
struct rot_thread {
	struct rot *r;
	int id;
};

static void *rot_churn_fn(void *arg)
{
	struct rot_thread *t = arg;
	struct rot *r = t->r;
	int c = t->id;
	struct kevent ch[ROT_BATCH];

	while (!atomic_load(&r->stop)) {
		for (int pass = 0; pass < 2; pass++) {
			unsigned int flags = pass ? EV_DELETE : EV_ADD | EV_CLEAR;

			for (int k = 0; k < ROT_BATCH; k++)
				EV_SET(&ch[k], rot_churn(c, k), EVFILT_USER, flags, 0, 0, 0);
			if (kevent(r->kq, ch, ROT_BATCH, NULL, 0, NULL) != 0)
				stress_fail(&r->bad, NULL, "churner %d: %s of its %d keys: %s", c,
					    pass ? "EV_DELETE" : "EV_ADD", ROT_BATCH, strerror(errno));
			atomic_fetch_add(&r->changes, ROT_BATCH);
		}
	}
	return NULL;
}

static void *rot_trigger_fn(void *arg)
{
	struct rot_thread *t = arg;
	struct rot *r = t->r;
	uint64_t rs = rnd_seed(400 + t->id);
	struct kevent ch;

	while (!atomic_load(&r->stop)) {
		int i = (int)rnd_below(&rs, ROT_STABLE);

		EV_SET(&ch, rot_stable(i), EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);
		if (kevent(r->kq, &ch, 1, NULL, 0, NULL) != 0)
			stress_fail(&r->bad, &ch, "trigger of stable knote %d: %s", i, strerror(errno));
		atomic_fetch_add(&r->triggers, 1);
	}
	return NULL;
}

static int rot_secs(void)
{
	return env_secs("KQ_STRESS_SECS", 5);
}

TEST_F_TIMEOUT(slow, registry_rotations, rot_secs() + 60)
{
	struct rot *r = calloc(1, sizeof(*r));
	pthread_t th_c[ROT_CHURNERS], th_t[ROT_TRIGGERERS];
	struct rot_thread tc[ROT_CHURNERS], tt[ROT_TRIGGERERS];
	int secs = rot_secs();

	alarm(secs + 50);
	ASSERT_NE(NULL, r);
	r->kq = kqueue();
	ASSERT_LE(0, r->kq);
	for (int i = 0; i < ROT_STABLE; i++)
		ASSERT_EQ(0, kq_ctl(r->kq, rot_stable(i), EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 0));
	for (int c = 0; c < ROT_CHURNERS; c++) {
		tc[c] = (struct rot_thread){ .r = r, .id = c };
		ASSERT_EQ(0, pthread_create(&th_c[c], NULL, rot_churn_fn, &tc[c]));
	}
	for (int i = 0; i < ROT_TRIGGERERS; i++) {
		tt[i] = (struct rot_thread){ .r = r, .id = i };
		ASSERT_EQ(0, pthread_create(&th_t[i], NULL, rot_trigger_fn, &tt[i]));
	}
	sleep_ms(secs * 1000L);
	atomic_store(&r->stop, true);
	for (int c = 0; c < ROT_CHURNERS; c++)
		pthread_join(th_c[c], NULL);
	for (int i = 0; i < ROT_TRIGGERERS; i++)
		pthread_join(th_t[i], NULL);
	stress_note("registry_rotations: %d s, %ld changes by %d churners, %ld triggers of %d stable knotes",
		    secs, (long)atomic_load(&r->changes), ROT_CHURNERS, (long)atomic_load(&r->triggers),
		    ROT_STABLE);
	ASSERT_EQ(0, STRESS_REPORT(&r->bad));
	/* Only the stable knotes are left, each once: triggered once more, each is reported. */
	for (int i = 0; i < ROT_STABLE; i++)
		ASSERT_EQ(0, kq_ctl(r->kq, rot_stable(i), EVFILT_USER, 0, NOTE_TRIGGER, 0, 0));
	ASSERT_EQ(ROT_STABLE, kq_count(r->kq));
	close(r->kq);
	free(r);
}

/* ---- a trigger and the EV_DELETE of its knote: ordered both ways ------------------------ */

/*
 * trigger_vs_final_delete: NOTE_TRIGGER finds its knote without any lock (a walk of the user
 * registry under RCU) and changes it under `ready` if it is not deleted yet. Each round adds
 * FD_KEYS new EVFILT_USER keys (never used again), then a deleter EV_DELETEs them in a random
 * order while FD_TRIGGERERS threads NOTE_TRIGGER random keys of the round. A trigger whose
 * knote's EV_DELETE had returned before the trigger began must fail with ENOENT (else it
 * changed a deleted knote: the `deleted` check skipped); one whose knote's EV_DELETE had not
 * begun when the trigger returned must succeed (else a lockless miss was taken for an
 * absent key: the locked second look skipped). Deleting a knote rebalances the tree under
 * the walkers, and the deleted knotes' memory must outlive the walkers standing on them
 * (KASAN: a free before the grace period is a use-after-free here).
 */
#define FD_KEYS 48
#define FD_TRIGGERERS 3

struct fdel {
	int kq;
	atomic_int round;			/* keys of round r: ident r * FD_KEYS + k; 0
						 * while the next round is being set up */
	atomic_bool stop;
	atomic_uchar state[FD_KEYS];		/* FD_* of round `round`'s key k */
	atomic_long triggers, enoent, rounds;
	struct stress_bad bad;
};

enum { FD_LIVE, FD_DELETING, FD_GONE };

static void *fdel_trigger_fn(void *arg)
{
	struct fdel *f = arg;
	uint64_t rs = rnd_seed(500 + (uint64_t)pthread_self());
	struct kevent ch;

	while (!atomic_load(&f->stop)) {
		int rd = atomic_load(&f->round), k = (int)rnd_below(&rs, FD_KEYS), r;
		unsigned char before = atomic_load(&f->state[k]), after;

		if (rd == 0)
			continue;
		EV_SET(&ch, (uint64_t)rd * FD_KEYS + k, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);
		r = kevent(f->kq, &ch, 1, NULL, 0, NULL) ? errno : 0;
		after = atomic_load(&f->state[k]);
		if (atomic_load(&f->round) != rd)
			continue;	/* the states may be another round's */
		atomic_fetch_add(&f->triggers, 1);
		if (r == ENOENT)
			atomic_fetch_add(&f->enoent, 1);
		if (r == 0 && before == FD_GONE)
			stress_fail(&f->bad, &ch, "NOTE_TRIGGER succeeded on a knote whose EV_DELETE "
				    "had returned before it began");
		else if (r == ENOENT && after == FD_LIVE)
			stress_fail(&f->bad, &ch, "NOTE_TRIGGER found no knote, but its EV_DELETE "
				    "had not begun when the trigger returned");
		else if (r && r != ENOENT)
			stress_fail(&f->bad, &ch, "NOTE_TRIGGER: %s", strerrorname_np(r));
	}
	return NULL;
}

/* The rounds: add the round's keys (all live), then delete them in a random order. */
static void fdel_rounds(struct fdel *f, int secs)
{
	uint64_t rs = rnd_seed(501);
	struct timespec end, now;
	struct kevent ch[FD_KEYS];
	int order[FD_KEYS];

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += secs;
	for (int rd = 1;; rd++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		atomic_store(&f->round, 0);
		for (int k = 0; k < FD_KEYS; k++) {
			EV_SET(&ch[k], (uint64_t)rd * FD_KEYS + k, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 0);
			order[k] = k;
		}
		if (kevent(f->kq, ch, FD_KEYS, NULL, 0, NULL) != 0)
			stress_fail(&f->bad, NULL, "round %d: EV_ADD of %d keys: %s", rd, FD_KEYS,
				    strerror(errno));
		for (int k = 0; k < FD_KEYS; k++)
			atomic_store(&f->state[k], FD_LIVE);
		atomic_store(&f->round, rd);
		for (int k = FD_KEYS - 1; k > 0; k--) {
			int j = (int)rnd_below(&rs, (uint32_t)k + 1), t = order[k];

			order[k] = order[j];
			order[j] = t;
		}
		for (int n = 0; n < FD_KEYS; n++) {
			int k = order[n], r;

			atomic_store(&f->state[k], FD_DELETING);
			r = user_del(f->kq, (uint64_t)rd * FD_KEYS + k);
			if (r)
				stress_fail(&f->bad, NULL, "round %d key %d: EV_DELETE: %s", rd, k,
					    strerrorname_np(r));
			atomic_store(&f->state[k], FD_GONE);
		}
		atomic_fetch_add(&f->rounds, 1);
	}
}

TEST_F_TIMEOUT(slow, trigger_vs_final_delete, rot_secs() + 60)
{
	struct fdel *f = calloc(1, sizeof(*f));
	pthread_t th[FD_TRIGGERERS];
	struct kevent ev;
	int secs = rot_secs();

	alarm(secs + 50);
	ASSERT_NE(NULL, f);
	f->kq = kqueue();
	ASSERT_LE(0, f->kq);
	for (int i = 0; i < FD_TRIGGERERS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, fdel_trigger_fn, f));
	fdel_rounds(f, secs);
	atomic_store(&f->stop, true);
	for (int i = 0; i < FD_TRIGGERERS; i++)
		pthread_join(th[i], NULL);
	stress_note("trigger_vs_final_delete: %d s, %ld rounds of %d keys, %ld triggers (%ld ENOENT)",
		    secs, (long)atomic_load(&f->rounds), FD_KEYS, (long)atomic_load(&f->triggers),
		    (long)atomic_load(&f->enoent));
	ASSERT_EQ(0, STRESS_REPORT(&f->bad));
	/* Both answers were seen, or the race was not run. */
	EXPECT_LT(0, atomic_load(&f->enoent));
	EXPECT_LT(atomic_load(&f->enoent), atomic_load(&f->triggers));
	/* Every key was deleted; the triggered ones went with their knotes. */
	ASSERT_EQ(0, kq_poll(f->kq, &ev, 1)) TH_LOG("left over: ident %llu", (unsigned long long)ev.ident);
	close(f->kq);
	free(f);
}


/* ---- the registry: NOTE_TRIGGER lookups while EV_ADD / EV_DELETE rebalance it --------------- */

/*
 * One kqueue: RC_STABLE EVFILT_USER EV_CLEAR knotes that stay registered all along, a pool of
 * churn keys (EVFILT_USER, and EVFILT_READ and EVFILT_WRITE on both ends of some pipes: one
 * ident, two filters) that churner threads add and delete, trigger threads on the stable
 * knotes (NOTE_TRIGGER with flags 0 or EV_RECEIPT only: the change that looks the registry up
 * under `index` alone, while the churners' EV_ADD / EV_DELETE rebalance the tree under it), a
 * scanner, and a reader of /proc/self/fdinfo/<kq> (which walks the tree under its locks).
 *
 * Keys: a "raw" ident from 0 to 8191, odd (8 i + 1) for stable knote i, even (2 j) for churn
 * key j; raw idents from RC_SPLIT on also get the top bit, so that the keys lie at both ends of
 * the 64-bit space. The pipes' descriptors are small numbers, the same idents as some user
 * keys under other filters. Churner c owns the churn keys j with j % RC_CHURNERS == c and its
 * own pipes, so it knows which of its keys are registered and every change's result exactly.
 */

#define RC_DEFAULT_SECS 5
#define RC_STABLE 1024			/* EVFILT_USER, EV_CLEAR, never deleted: raw ident 8 i + 1 */
#define RC_CHURN 4096			/* EVFILT_USER, added and deleted: raw ident 2 j */
#define RC_CHURNERS 2
#define RC_TRIGGERERS 2
#define RC_PIPES 4			/* per churner */
#define RC_PIPE_KEYS (RC_PIPES * 4)	/* key k: pipe k / 4, end (k >> 1) & 1, WRITE if k & 1 */
#define RC_BATCH 16			/* changes per churner call */
#define RC_TBATCH 8			/* triggers per batched trigger call */
#define RC_NEVENTS 64
#define RC_PROBE_BATCH 64
#define RC_FDMAX 1024
#define RC_FDINFO_MAX (1 << 20)		/* at most ~5 200 lines of ~100 bytes */
#define RC_SPLIT 4096			/* raw idents from here on get RC_HIGH */
#define RC_HIGH (1ULL << 63)
#define RC_SEQ_MASK 0xffffffu
#define RC_UD_STABLE 0x57ab1e0000000000ULL
#define RC_UD_CHURN 0xc4c4000000000000ULL
#define RC_UD_PIPE 0x919e000000000000ULL

enum { RC_BAD_TRIGGER, RC_BAD_CHANGE, RC_BAD_RECORD, RC_BAD_FDINFO, RC_BAD_FINAL, RC_BAD_KINDS };

static const char *const rc_bad_name[RC_BAD_KINDS] = {
	"NOTE_TRIGGER of a stable knote", "churner change", "record", "fdinfo", "final registry check",
};

static int rc_secs(void)
{
	return env_secs("KQ_STRESS_SECS", RC_DEFAULT_SECS);
}

enum rc_kind { RC_NONE, RC_STABLE_KEY, RC_CHURN_KEY, RC_PIPE_KEY };

/* A key of the test: stable knote idx, churn key idx, or pipe key idx of churner `owner`. */
struct rc_key {
	enum rc_kind kind;
	int idx, owner;
};

struct rc;

struct rc_churner {
	struct rc *r;
	int id;
	bool user[RC_CHURN];		/* own churn keys believed registered */
	bool pipe[RC_PIPE_KEYS];	/* own pipe keys believed registered */
	bool user_unsure[RC_CHURN];	/* a change's result was not the predicted one */
	bool pipe_unsure[RC_PIPE_KEYS];
	long calls, adds, deletes, hits, misses;
};

struct rc {
	int kq;
	int p[RC_CHURNERS][RC_PIPES][2];	/* each holds one byte, nobody reads or writes */
	int64_t wdata[RC_CHURNERS][RC_PIPES];	/* EVFILT_WRITE data of the write end */
	int16_t fdmap[RC_FDMAX];		/* fd -> churner << 8 | pipe << 1 | end, or -1 */
	atomic_bool stop;
	atomic_uint max_seq;			/* highest sequence number triggered so far */
	atomic_long trigger_calls, triggers, scans, events, fdinfo_reads, fdinfo_lines;
	struct rc_churner ch[RC_CHURNERS];
	struct stress_bad bad[RC_BAD_KINDS];
};

static uint64_t rc_spread(uint64_t raw)
{
	return raw >= RC_SPLIT ? raw | RC_HIGH : raw;
}

static uint64_t rc_stable_ident(int i)
{
	return rc_spread(8 * (uint64_t)i + 1);
}

static uint64_t rc_churn_ident(int j)
{
	return rc_spread(2 * (uint64_t)j);
}

/* Which key of the test (ident, filter) is, if any. */
static struct rc_key rc_classify(const struct rc *r, uint64_t ident, int filter)
{
	struct rc_key key = { RC_NONE, -1, -1 };
	uint64_t raw = ident & ~RC_HIGH;

	if (filter == EVFILT_USER) {
		if (rc_spread(raw) != ident)
			return key;
		if ((raw & 7) == 1 && raw / 8 < RC_STABLE)
			key = (struct rc_key){ RC_STABLE_KEY, (int)(raw / 8), -1 };
		else if ((raw & 1) == 0 && raw / 2 < RC_CHURN)
			key = (struct rc_key){ RC_CHURN_KEY, (int)(raw / 2), (int)(raw / 2) % RC_CHURNERS };
	} else if ((filter == EVFILT_READ || filter == EVFILT_WRITE) && ident < RC_FDMAX &&
		   r->fdmap[ident] >= 0) {
		int m = r->fdmap[ident];

		key = (struct rc_key){ RC_PIPE_KEY, (m & 0xff) * 2 + (filter == EVFILT_WRITE), m >> 8 };
	}
	return key;
}

static uint64_t rc_udata(struct rc_key key)
{
	switch (key.kind) {
	case RC_STABLE_KEY:
		return RC_UD_STABLE | (uint64_t)key.idx;
	case RC_CHURN_KEY:
		return RC_UD_CHURN | (uint64_t)key.idx;
	case RC_PIPE_KEY:
		return RC_UD_PIPE | (uint64_t)key.owner << 16 | (uint64_t)key.idx;
	default:
		return 0;
	}
}

/* A change of `key` (its ident, filter and udata) with flags and fflags, data 0. */
static struct kevent rc_change(const struct rc *r, struct rc_key key, unsigned int flags,
			       unsigned int fflags)
{
	uint64_t ident;
	int filter = EVFILT_USER;

	if (key.kind == RC_STABLE_KEY) {
		ident = rc_stable_ident(key.idx);
	} else if (key.kind == RC_CHURN_KEY) {
		ident = rc_churn_ident(key.idx);
	} else {
		ident = (uint64_t)r->p[key.owner][key.idx / 4][(key.idx >> 1) & 1];
		filter = (key.idx & 1) ? EVFILT_WRITE : EVFILT_READ;
	}
	return kev_make(ident, filter, flags, fflags, 0, rc_udata(key));
}

/*
 * The answer of a kevent() call (result got, errno e) to n changes that all carried EV_RECEIPT,
 * with room for n records: one EV_ERROR record per change, in order, its ident and filter, data
 * want[k] (0 if want is NULL). wrong[k] (if given) is set for each change whose answer was not
 * that. Returns the number of such changes.
 */
static int rc_check_receipts(struct stress_bad *bad, const char *what, const struct kevent *ch,
			     const struct kevent *ev, int n, int got, int e, const int *want, bool *wrong)
{
	int nwrong = 0;

	if (got != n)
		stress_fail(bad, got > 0 ? &ev[0] : &ch[0], "%s: %d changes with EV_RECEIPT, kevent() "
			    "returned %d (%s)", what, n, got, got < 0 ? strerrorname_np(e) : "no error");
	for (int k = 0; k < n; k++) {
		int w = want ? want[k] : 0;

		if (k < got && ev[k].ident == ch[k].ident && ev[k].filter == ch[k].filter &&
		    (ev[k].flags & EV_ERROR) && ev[k].data == w)
			continue;
		nwrong++;
		if (wrong)
			wrong[k] = true;
		if (k < got)
			stress_fail(bad, &ev[k], "%s: change %d (ident %llu filter %d flags 0x%x) must "
				    "answer %s", what, k, (unsigned long long)ch[k].ident, ch[k].filter,
				    ch[k].flags, w ? strerrorname_np(w) : "0");
	}
	return nwrong;
}

/* A record the scan returned: a knote of the test, well-formed. */
static void rc_check_record(const struct rc *r, struct stress_bad *bad, const struct kevent *ev,
			    unsigned int max_seq)
{
	struct rc_key key = rc_classify(r, ev->ident, ev->filter);
	int end = (key.idx >> 1) & 1, w = key.idx & 1;

	if (key.kind == RC_NONE) {
		stress_fail(bad, ev, "a record of no key of the test");
		return;
	}
	if ((ev->flags & (KQ_ACTION_FLAGS | EV_ERROR | EV_EOF)) || !(ev->flags & EV_CLEAR) ||
	    UDV(*ev) != rc_udata(key)) {
		stress_fail(bad, ev, "malformed record (flags, or another key's udata 0x%llx)",
			    (unsigned long long)rc_udata(key));
		return;
	}
	switch (key.kind) {
	case RC_STABLE_KEY:
		if (ev->data || (ev->fflags & ~NOTE_FFLAGSMASK) ||
		    (max_seq <= RC_SEQ_MASK && ev->fflags > max_seq))
			stress_fail(bad, ev, "stable knote %d: data, or a sequence number never "
				    "triggered (max %u)", key.idx, max_seq);
		break;
	case RC_CHURN_KEY:
		if (ev->data)
			stress_fail(bad, ev, "churn key %d: data", key.idx);
		break;
	case RC_PIPE_KEY:
		if (end != w)
			stress_fail(bad, ev, "churner %d pipe key %d: %s on the %s end, which cannot fire",
				    key.owner, key.idx, w ? "EVFILT_WRITE" : "EVFILT_READ",
				    end ? "write" : "read");
		else if (ev->data != (w ? r->wdata[key.owner][key.idx / 4] : 1))
			stress_fail(bad, ev, "churner %d pipe key %d: data (want %lld)", key.owner,
				    key.idx, (long long)(w ? r->wdata[key.owner][key.idx / 4] : 1));
		break;
	default:
		break;
	}
}

static void *rc_churn_fn(void *arg)
{
	struct rc_churner *c = arg;
	struct rc *r = c->r;
	struct timespec zero = { 0, 0 };
	uint64_t rs = rnd_seed(200 + c->id);

	while (!atomic_load(&r->stop)) {
		struct kevent ch[RC_BATCH], ev[RC_BATCH];
		struct rc_key key[RC_BATCH];
		bool wrong[RC_BATCH] = { false };
		int want[RC_BATCH], got, e;

		/*
		 * Present: EV_DELETE (0), EV_ADD again (a modification: 0), or a change that only
		 * looks it up (NOTE_TRIGGER on the lockless path / EV_ENABLE: 0). Absent: EV_ADD (0),
		 * or half the time EV_DELETE or the look-up (ENOENT), so that a key left registered
		 * by a lost deletion is soon found (an EV_ADD would succeed all the same). About 44 %
		 * of the keys are registered. A key may come twice in a batch: the changes apply in
		 * order, and so does the prediction.
		 */
		for (int k = 0; k < RC_BATCH; k++) {
			bool is_pipe = rnd_below(&rs, 8) == 0, *present;
			uint32_t op = rnd_below(&rs, 16);
			unsigned int flags, fflags = 0;

			if (is_pipe) {
				key[k] = (struct rc_key){ RC_PIPE_KEY, (int)rnd_below(&rs, RC_PIPE_KEYS), c->id };
				present = &c->pipe[key[k].idx];
			} else {
				int j = (int)rnd_below(&rs, RC_CHURN / RC_CHURNERS) * RC_CHURNERS + c->id;

				key[k] = (struct rc_key){ RC_CHURN_KEY, j, c->id };
				present = &c->user[j];
			}
			if (*present ? op < 10 : op >= 8 && op < 12) {
				flags = EV_DELETE;
				want[k] = *present ? 0 : ENOENT;
				if (*present)
					c->deletes++;
				else
					c->misses++;
				*present = false;
			} else if (*present ? op < 12 : op < 8) {
				flags = EV_ADD | EV_CLEAR;
				fflags = !is_pipe && (op & 1) ? NOTE_TRIGGER : 0;
				want[k] = 0;
				if (*present)
					c->hits++;
				else
					c->adds++;
				*present = true;
			} else {
				flags = is_pipe ? EV_ENABLE : 0;
				fflags = is_pipe ? 0 : NOTE_TRIGGER;
				want[k] = *present ? 0 : ENOENT;
				if (*present)
					c->hits++;
				else
					c->misses++;
			}
			ch[k] = rc_change(r, key[k], flags | EV_RECEIPT, fflags);
		}
		errno = 0;
		got = kevent(r->kq, ch, RC_BATCH, ev, RC_BATCH, &zero);
		e = errno;
		c->calls++;
		if (!rc_check_receipts(&r->bad[RC_BAD_CHANGE], "churner", ch, ev, RC_BATCH, got, e, want,
				       wrong))
			continue;
		for (int k = 0; k < RC_BATCH; k++) {
			if (!wrong[k])
				continue;
			if (key[k].kind == RC_PIPE_KEY)
				c->pipe_unsure[key[k].idx] = true;
			else
				c->user_unsure[key[k].idx] = true;
		}
	}
	return NULL;
}

struct rc_triggerer {
	struct rc *r;
	int id;
};

static void *rc_trigger_fn(void *arg)
{
	struct rc_triggerer *t = arg;
	struct rc *r = t->r;
	struct timespec zero = { 0, 0 };
	uint64_t rs = rnd_seed(300 + t->id);
	long calls = 0, triggers = 0;

	while (!atomic_load(&r->stop)) {
		struct kevent ch[RC_TBATCH], ev[RC_TBATCH];
		int n = rnd_below(&rs, 2) ? RC_TBATCH : 1, got, e;

		for (int k = 0; k < n; k++) {
			struct rc_key key = { RC_STABLE_KEY, (int)rnd_below(&rs, RC_STABLE), -1 };
			unsigned int seq = atomic_fetch_add(&r->max_seq, 1) + 1;

			/* flags 0 (or EV_RECEIPT alone): applied under `index` and `ready` only */
			ch[k] = rc_change(r, key, n > 1 ? EV_RECEIPT : 0,
					  NOTE_TRIGGER | NOTE_FFCOPY | (seq & RC_SEQ_MASK));
		}
		errno = 0;
		got = kevent(r->kq, ch, n, ev, n > 1 ? n : 0, &zero);
		e = errno;
		if (n > 1)
			rc_check_receipts(&r->bad[RC_BAD_TRIGGER], "batched NOTE_TRIGGER", ch, ev, n, got,
					  e, NULL, NULL);
		else if (got != 0)
			stress_fail(&r->bad[RC_BAD_TRIGGER], &ch[0], "NOTE_TRIGGER: kevent() returned %d "
				    "(%s): a present key was not found", got,
				    got < 0 ? strerrorname_np(e) : "no error");
		calls++;
		triggers += n;
	}
	atomic_fetch_add(&r->trigger_calls, calls);
	atomic_fetch_add(&r->triggers, triggers);
	return NULL;
}

static void *rc_scan_fn(void *arg)
{
	struct rc *r = arg;
	struct timespec zero = { 0, 0 }, ms = { 0, NSEC_PER_MSEC };
	struct kevent ev[RC_NEVENTS];
	long calls = 0, events = 0;

	while (!atomic_load(&r->stop)) {
		int n = kevent(r->kq, NULL, 0, ev, RC_NEVENTS, (calls & 3) == 3 ? &ms : &zero);
		unsigned int max_seq = atomic_load(&r->max_seq);

		calls++;
		if (n < 0) {
			stress_fail(&r->bad[RC_BAD_RECORD], NULL, "kevent(): %s", strerrorname_np(errno));
			break;
		}
		for (int k = 0; k < n; k++)
			rc_check_record(r, &r->bad[RC_BAD_RECORD], &ev[k], max_seq);
		events += n;
	}
	atomic_fetch_add(&r->scans, calls);
	atomic_fetch_add(&r->events, events);
	return NULL;
}

/* What one fdinfo text lists: each key's number of lines. */
struct rc_snap {
	uint8_t stable[RC_STABLE], churn[RC_CHURN], pipe[RC_CHURNERS][RC_PIPE_KEYS];
	int lines, stables;
};

/* /proc/self/fdinfo/<kq>, opened: a descriptor, or -1 (errno). */
static int rc_open_fdinfo(int kq)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", kq);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * The whole text of the fdinfo descriptor fd (from offset 0: a re-read of the same open file
 * makes the seq_file start again, with the buffer it grew to, so that one walk of the registry
 * makes one snapshot) into buf, NUL-terminated: its length, or -errno (-EFBIG: too long).
 */
static long rc_read_fdinfo(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	for (;;) {
		ssize_t n;

		if (len >= cap - 1)
			return -EFBIG;
		n = pread(fd, buf + len, cap - 1 - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	return (long)len;
}

/*
 * The knote lines of an fdinfo text (cut up in place) into snap. Each must parse and name a
 * key of the test, once, not disabled; every stable knote must be there. Returns the number of
 * violations (reported to bad).
 */
static int rc_parse_fdinfo(const struct rc *r, char *text, struct rc_snap *snap,
			   struct stress_bad *bad)
{
	char *save = NULL;
	int nbad = 0;

	memset(snap, 0, sizeof(*snap));
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long ident;
		unsigned int flags, fflags;
		long long data;
		int filter, active, disabled;
		struct rc_key key;
		uint8_t *seen = NULL;

		if (strncmp(line, "knote:", 6))
			continue;
		snap->lines++;
		if (sscanf(line, "knote: ident=%llu filter=%d flags=%x fflags=%x last_data=%lld "
			   "active=%d disabled=%d", &ident, &filter, &flags, &fflags, &data, &active,
			   &disabled) != 7) {
			nbad++;
			stress_fail(bad, NULL, "fdinfo: unparsable line \"%.100s\"", line);
			continue;
		}
		key = rc_classify(r, ident, filter);
		if (key.kind == RC_STABLE_KEY)
			seen = &snap->stable[key.idx];
		else if (key.kind == RC_CHURN_KEY)
			seen = &snap->churn[key.idx];
		else if (key.kind == RC_PIPE_KEY)
			seen = &snap->pipe[key.owner][key.idx];
		if (!seen || *seen || disabled) {
			nbad++;
			stress_fail(bad, NULL, "fdinfo: %s knote \"%.100s\"",
				    !seen ? "unknown" : *seen ? "duplicate" : "disabled", line);
		}
		if (seen && !*seen) {
			*seen = 1;
			snap->stables += key.kind == RC_STABLE_KEY;
		}
	}
	if (snap->stables != RC_STABLE) {
		nbad++;
		stress_fail(bad, NULL, "fdinfo lists %d of the %d stable knotes (%d knote lines)",
			    snap->stables, RC_STABLE, snap->lines);
	}
	return nbad;
}

static void *rc_fdinfo_fn(void *arg)
{
	struct rc *r = arg;
	char *buf = malloc(RC_FDINFO_MAX);
	struct rc_snap *snap = malloc(sizeof(*snap));
	long reads = 0, lines = 0;
	int fd = -1;

	if (!buf || !snap) {
		stress_fail(&r->bad[RC_BAD_FDINFO], NULL, "out of memory");
		goto out;
	}
	while (!atomic_load(&r->stop)) {
		long len;

		if (reads % 32 == 0) {	/* a new open now and then, re-reads of the same in between */
			if (fd >= 0)
				close(fd);
			fd = rc_open_fdinfo(r->kq);
			if (fd < 0) {
				stress_fail(&r->bad[RC_BAD_FDINFO], NULL, "opening /proc/self/fdinfo/%d: %s",
					    r->kq, strerrorname_np(errno));
				break;
			}
		}
		len = rc_read_fdinfo(fd, buf, RC_FDINFO_MAX);
		if (len < 0) {
			stress_fail(&r->bad[RC_BAD_FDINFO], NULL, "reading /proc/self/fdinfo/%d: %s",
				    r->kq, strerrorname_np((int)-len));
			break;
		}
		rc_parse_fdinfo(r, buf, snap, &r->bad[RC_BAD_FDINFO]);
		reads++;
		lines += snap->lines;
		sleep_ms(1);	/* the walk holds `inner`: let the churners in between */
	}
	if (fd >= 0)
		close(fd);
out:
	atomic_fetch_add(&r->fdinfo_reads, reads);
	atomic_fetch_add(&r->fdinfo_lines, lines);
	free(snap);
	free(buf);
	return NULL;
}

/* The final registry check: batches of EV_ENABLE | EV_KEEPUDATA | EV_RECEIPT, a no-op. */
struct rc_probe {
	struct kevent ch[RC_PROBE_BATCH];
	int want[RC_PROBE_BATCH], n;
	long keys, wrong;
};

static void rc_probe_flush(struct rc *r, struct rc_probe *pr)
{
	struct timespec zero = { 0, 0 };
	struct kevent ev[RC_PROBE_BATCH];
	int got, e;

	if (!pr->n)
		return;
	errno = 0;
	got = kevent(r->kq, pr->ch, pr->n, ev, pr->n, &zero);
	e = errno;
	pr->wrong += rc_check_receipts(&r->bad[RC_BAD_FINAL], "final EV_ENABLE", pr->ch, ev, pr->n,
				       got, e, pr->want, NULL);
	pr->n = 0;
}

/* The key must answer 0 if it is registered, ENOENT if not. */
static void rc_probe(struct rc *r, struct rc_probe *pr, struct rc_key key, bool present)
{
	pr->ch[pr->n] = rc_change(r, key, EV_ENABLE | EV_KEEPUDATA | EV_RECEIPT, 0);
	pr->want[pr->n++] = present ? 0 : ENOENT;
	pr->keys++;
	if (pr->n == RC_PROBE_BATCH)
		rc_probe_flush(r, pr);
}

TEST_F_TIMEOUT(slow, registry_churn, rc_secs() + 120)
{
	struct rc *r = calloc(1, sizeof(*r));
	struct rc_snap *snap = calloc(1, sizeof(*snap));
	struct rc_probe *pr = calloc(1, sizeof(*pr));
	char *buf = malloc(RC_FDINFO_MAX);
	unsigned int *last = calloc(RC_STABLE, sizeof(*last));
	uint8_t *seen = calloc(RC_STABLE, 1);
	struct rc_triggerer tt[RC_TRIGGERERS];
	pthread_t th_c[RC_CHURNERS], th_t[RC_TRIGGERERS], th_s, th_f;
	struct kevent ev[256];
	long calls, adds = 0, deletes = 0, hits = 0, misses = 0, churn_calls = 0, len;
	int secs = rc_secs(), n = 0, got = 0, believed = RC_STABLE, unsure = 0, rounds, fd;
	int64_t deadline;

	alarm(secs + 110);
	ASSERT_TRUE(r && snap && pr && buf && last && seen);
	r->kq = kqueue();
	ASSERT_LE(0, r->kq) TH_LOG("kqueue(): %s", strerror(errno));
	memset(r->fdmap, 0xff, sizeof(r->fdmap));
	for (int c = 0; c < RC_CHURNERS; c++) {
		for (int p = 0; p < RC_PIPES; p++) {
			ASSERT_EQ(0, pipe_with(r->p[c][p], 1));
			for (int end = 0; end < 2; end++) {
				ASSERT_GT(RC_FDMAX, r->p[c][p][end]);
				r->fdmap[r->p[c][p][end]] = (int16_t)(c << 8 | p << 1 | end);
			}
			r->wdata[c][p] = pipe_cap(r->p[c][p][1]) - 1;
			ASSERT_LT(0, r->wdata[c][p]);
		}
		r->ch[c].r = r;
		r->ch[c].id = c;
	}
	for (int i = 0; i < RC_STABLE; i++) {
		struct kevent k = rc_change(r, (struct rc_key){ RC_STABLE_KEY, i, -1 }, EV_ADD | EV_CLEAR, 0);

		ASSERT_OK(kq_ctl(r->kq, k.ident, k.filter, k.flags, 0, 0, UDV(k)));
	}

	ASSERT_EQ(0, pthread_create(&th_s, NULL, rc_scan_fn, r));
	ASSERT_EQ(0, pthread_create(&th_f, NULL, rc_fdinfo_fn, r));
	for (int i = 0; i < RC_TRIGGERERS; i++) {
		tt[i] = (struct rc_triggerer){ .r = r, .id = i };
		ASSERT_EQ(0, pthread_create(&th_t[i], NULL, rc_trigger_fn, &tt[i]));
	}
	for (int c = 0; c < RC_CHURNERS; c++) {
		ASSERT_EQ(0, pthread_create(&th_c[c], NULL, rc_churn_fn, &r->ch[c]));
	}
	sleep_ms((long)secs * 1000);
	atomic_store(&r->stop, true);
	for (int c = 0; c < RC_CHURNERS; c++)
		pthread_join(th_c[c], NULL);
	for (int i = 0; i < RC_TRIGGERERS; i++)
		pthread_join(th_t[i], NULL);
	pthread_join(th_s, NULL);
	pthread_join(th_f, NULL);

	for (int c = 0; c < RC_CHURNERS; c++) {
		churn_calls += r->ch[c].calls;
		adds += r->ch[c].adds;
		deletes += r->ch[c].deletes;
		hits += r->ch[c].hits;
		misses += r->ch[c].misses;
	}
	calls = churn_calls + atomic_load(&r->trigger_calls) + atomic_load(&r->scans);
	stress_note("registry_churn: %d s, %ld kevent calls (%ld churn batches of %d, %ld trigger, "
		    "%ld scans), %ld triggers of stable knotes, %ld adds, %ld deletes, %ld other "
		    "changes found their key, %ld got the ENOENT due, %ld events, %ld fdinfo reads "
		    "(%ld knote lines)", secs, calls, churn_calls, RC_BATCH,
		    (long)atomic_load(&r->trigger_calls), (long)atomic_load(&r->scans),
		    (long)atomic_load(&r->triggers), adds, deletes, hits, misses,
		    (long)atomic_load(&r->events), (long)atomic_load(&r->fdinfo_reads),
		    (long)atomic_load(&r->fdinfo_lines));
	for (int k = 0; k < RC_BAD_KINDS; k++) {
		EXPECT_EQ(0, STRESS_REPORT_AS(&r->bad[k], rc_bad_name[k]));
	}
	EXPECT_LT(0, atomic_load(&r->fdinfo_reads));
	EXPECT_LT(0, atomic_load(&r->events)) TH_LOG("the scanner never saw an event: test too weak");

	/* Every knote is EV_CLEAR and nothing fires any more: the kqueue drains. */
	for (rounds = 0; rounds < 1000 && (n = kq_poll(r->kq, ev, 256)) > 0; rounds++)
		for (int k = 0; k < n; k++)
			rc_check_record(r, &r->bad[RC_BAD_FINAL], &ev[k], atomic_load(&r->max_seq));
	ASSERT_EQ(0, n) TH_LOG("still %d records after %d drains (%s)", n, rounds,
			       n < 0 ? strerror(errno) : "EV_CLEAR knotes reported over and over");

	/* Every stable knote triggered once more is reported exactly once, with that number. */
	for (int i = 0; i < RC_STABLE; i++) {
		struct kevent k;

		last[i] = atomic_fetch_add(&r->max_seq, 1) + 1;
		k = rc_change(r, (struct rc_key){ RC_STABLE_KEY, i, -1 }, 0,
			      NOTE_TRIGGER | NOTE_FFCOPY | (last[i] & RC_SEQ_MASK));
		ASSERT_EQ(0, kq_ctl(r->kq, k.ident, k.filter, k.flags, k.fflags, 0, UDV(k)))
			TH_LOG("NOTE_TRIGGER of stable knote %d", i);
	}
	deadline = now_ns() + 10 * NSEC_PER_SEC;
	while (got < RC_STABLE && now_ns() < deadline) {
		n = kq_get(r->kq, ev, 256, 1000);
		ASSERT_LE(0, n) TH_LOG("kevent(): %s", strerror(errno));
		for (int k = 0; k < n; k++) {
			struct rc_key key = rc_classify(r, ev[k].ident, ev[k].filter);

			rc_check_record(r, &r->bad[RC_BAD_FINAL], &ev[k], atomic_load(&r->max_seq));
			if (key.kind != RC_STABLE_KEY)
				stress_fail(&r->bad[RC_BAD_FINAL], &ev[k], "reported after the drain, "
					    "although nothing fired it");
			else if (seen[key.idx])
				stress_fail(&r->bad[RC_BAD_FINAL], &ev[k], "stable knote %d reported twice "
					    "for one trigger", key.idx);
			else if ((ev[k].fflags & RC_SEQ_MASK) != (last[key.idx] & RC_SEQ_MASK))
				stress_fail(&r->bad[RC_BAD_FINAL], &ev[k], "stable knote %d: not its last "
					    "trigger's number %u", key.idx, last[key.idx] & RC_SEQ_MASK);
			if (key.kind == RC_STABLE_KEY && !seen[key.idx]) {
				seen[key.idx] = 1;
				got++;
			}
		}
	}
	for (int i = 0; i < RC_STABLE; i++) {
		if (!seen[i]) {
			EXPECT_EQ(RC_STABLE, got) TH_LOG("stable knotes triggered but never reported, "
							 "the first: %d (ident %llu)", i,
							 (unsigned long long)rc_stable_ident(i));
			break;
		}
	}
	n = kq_poll(r->kq, ev, 256);
	EXPECT_EQ(0, n) TH_LOG("%d more records after the last trigger's", n);

	/* fdinfo lists exactly the keys the churners believe registered, and the stable ones. */
	fd = rc_open_fdinfo(r->kq);
	ASSERT_LE(0, fd) TH_LOG("opening fdinfo: %s", strerror(errno));
	len = rc_read_fdinfo(fd, buf, RC_FDINFO_MAX);
	close(fd);
	ASSERT_LE(0, len) TH_LOG("reading fdinfo: %s", strerror((int)-len));
	rc_parse_fdinfo(r, buf, snap, &r->bad[RC_BAD_FINAL]);
	for (int c = 0; c < RC_CHURNERS; c++) {
		struct rc_churner *ch = &r->ch[c];

		for (int j = c; j < RC_CHURN; j += RC_CHURNERS) {
			if (ch->user_unsure[j]) {
				unsure++;
				continue;
			}
			believed += ch->user[j];
			if (snap->churn[j] != ch->user[j])
				stress_fail(&r->bad[RC_BAD_FINAL], NULL, "churn key %d (ident %llu): "
					    "churner %d believes it %s, fdinfo %s", j,
					    (unsigned long long)rc_churn_ident(j), c,
					    ch->user[j] ? "registered" : "gone",
					    snap->churn[j] ? "lists it" : "does not");
		}
		for (int k = 0; k < RC_PIPE_KEYS; k++) {
			if (ch->pipe_unsure[k]) {
				unsure++;
				continue;
			}
			believed += ch->pipe[k];
			if (snap->pipe[c][k] != ch->pipe[k])
				stress_fail(&r->bad[RC_BAD_FINAL], NULL, "pipe key %d of churner %d: "
					    "believed %s, fdinfo %s", k, c,
					    ch->pipe[k] ? "registered" : "gone",
					    snap->pipe[c][k] ? "lists it" : "does not");
		}
	}
	if (!unsure) {
		EXPECT_EQ(believed, snap->lines) TH_LOG("fdinfo's knote lines");
	} else {
		TH_LOG("%d keys left out of the final check (a change gave a wrong result)", unsure);
	}

	/* Each key answers a no-op change as the churner believes: 0 if registered, else ENOENT. */
	for (int i = 0; i < RC_STABLE; i++)
		rc_probe(r, pr, (struct rc_key){ RC_STABLE_KEY, i, -1 }, true);
	for (int c = 0; c < RC_CHURNERS; c++) {
		for (int j = c; j < RC_CHURN; j += RC_CHURNERS)
			if (!r->ch[c].user_unsure[j])
				rc_probe(r, pr, (struct rc_key){ RC_CHURN_KEY, j, c }, r->ch[c].user[j]);
		for (int k = 0; k < RC_PIPE_KEYS; k++)
			if (!r->ch[c].pipe_unsure[k])
				rc_probe(r, pr, (struct rc_key){ RC_PIPE_KEY, k, c }, r->ch[c].pipe[k]);
	}
	rc_probe_flush(r, pr);
	TH_LOG("final: %d knotes registered (%d believed), %ld keys probed, %ld wrong answers",
	       snap->lines, believed, pr->keys, pr->wrong);
	ASSERT_EQ(0, STRESS_REPORT_AS(&r->bad[RC_BAD_FINAL], rc_bad_name[RC_BAD_FINAL]));
	close(r->kq);
	for (int c = 0; c < RC_CHURNERS; c++) {
		for (int p = 0; p < RC_PIPES; p++) {
			close(r->p[c][p][0]);
			close(r->p[c][p][1]);
		}
	}
	free(seen);
	free(last);
	free(buf);
	free(pr);
	free(snap);
	free(r);
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

/* ---- a change of the knote's fflags and data while a scan evaluates it --------------------- */

#define LOW_PIPES 4
#define LOW_SCANNERS 2
#define LOW_BYTES 10
#define LOW_HIGH 1000		/* a NOTE_LOWAT that LOW_BYTES never meets */
#define LOW_RUN_MS 3000

struct low {
	int kq, p[LOW_PIPES][2];
	atomic_bool stop;
	atomic_long changes, events, calls;
	struct stress_bad bad;
};

/*
 * Change k (one kevent() for every pipe): EV_ADD with NOTE_LOWAT 1 for odd k, LOW_HIGH for
 * even k, and udata k.
 */
static void *low_changer_fn(void *arg)
{
	struct low *l = arg;
	struct timespec zero = { 0, 0 };
	struct kevent ch[LOW_PIPES];

	for (uint64_t k = 2; !atomic_load(&l->stop); k++) {
		for (int i = 0; i < LOW_PIPES; i++)
			ch[i] = kev_make(l->p[i][0], EVFILT_READ, EV_ADD, NOTE_LOWAT,
					 k % 2 ? 1 : LOW_HIGH, k);
		if (kevent(l->kq, ch, LOW_PIPES, NULL, 0, &zero) != 0)
			stress_fail(&l->bad, NULL, "change %llu: %s", (unsigned long long)k,
				    strerrorname_np(errno));
		atomic_fetch_add(&l->changes, 1);
	}
	return NULL;
}

/* Every record must pair a udata with the NOTE_LOWAT of the same change: an odd one. */
static void *low_scanner_fn(void *arg)
{
	struct low *l = arg;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	struct kevent ev[8];

	while (!atomic_load(&l->stop)) {
		int n = kevent(l->kq, NULL, 0, ev, 8, &ts);

		atomic_fetch_add(&l->calls, 1);
		if (n < 0) {
			stress_fail(&l->bad, NULL, "kevent: %s", strerrorname_np(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			if (UDV(ev[i]) % 2 == 0)
				stress_fail(&l->bad, &ev[i], "a record with the udata of a change whose "
					    "NOTE_LOWAT %d its data cannot meet (evaluated with the "
					    "earlier change's)", LOW_HIGH);
			else if (ev[i].data != LOW_BYTES)
				stress_fail(&l->bad, &ev[i], "data %lld, not %d", (long long)ev[i].data,
					    LOW_BYTES);
		}
		atomic_fetch_add(&l->events, n);
	}
	return NULL;
}

/*
 * lowat_change_vs_scan: LOW_PIPES pipes holding LOW_BYTES bytes each, EVFILT_READ level
 * knotes that a changer thread re-adds without pause, alternating NOTE_LOWAT 1 and LOW_HIGH
 * with udata = the change's number, while LOW_SCANNERS threads collect. A knote's evaluation
 * runs with no kqueue lock held: a change that returns meanwhile must not see the verdict
 * under its predecessor's NOTE_LOWAT reported with its own udata (a record pairing two
 * settings that never held together).
 */
TEST_F_TIMEOUT(slow, lowat_change_vs_scan, 60)
{
	struct low *l = calloc(1, sizeof(*l));
	pthread_t changer, scanners[LOW_SCANNERS];

	ASSERT_NE(NULL, l);
	l->kq = kqueue();
	ASSERT_LE(0, l->kq);
	for (int i = 0; i < LOW_PIPES; i++) {
		ASSERT_EQ(0, pipe_with(l->p[i], LOW_BYTES));
		ASSERT_OK(fd_add(l->kq, l->p[i][0], EVFILT_READ, 0, NOTE_LOWAT, 1, 1));
	}
	ASSERT_EQ(0, pthread_create(&changer, NULL, low_changer_fn, l));
	for (int i = 0; i < LOW_SCANNERS; i++)
		ASSERT_EQ(0, pthread_create(&scanners[i], NULL, low_scanner_fn, l));
	sleep_ms(LOW_RUN_MS);
	atomic_store(&l->stop, true);
	pthread_join(changer, NULL);
	for (int i = 0; i < LOW_SCANNERS; i++)
		pthread_join(scanners[i], NULL);
	TH_LOG("%ld changes of %d knotes, %ld kevent() calls, %ld records in %d ms",
	       atomic_load(&l->changes), LOW_PIPES, atomic_load(&l->calls),
	       atomic_load(&l->events), LOW_RUN_MS);
	EXPECT_EQ(0, STRESS_REPORT(&l->bad));
	EXPECT_LT(0, atomic_load(&l->events));
	for (int i = 0; i < LOW_PIPES; i++)
		close(l->p[i][0]), close(l->p[i][1]);
	close(l->kq);
	free(l);
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
