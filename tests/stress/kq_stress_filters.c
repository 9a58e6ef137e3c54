// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Races of the process, signal and file filters (EVFILT_SIGNAL, EVFILT_PROC with
 * NOTE_TRACK, EVFILT_PROCDESC, EVFILT_VNODE) against their event sources, for
 * KQ_FILTERS_SECS seconds in all (default 60; each of the six cases gets a sixth, at least
 * 2 s). Every case checks invariants, not only that nothing crashes:
 *
 *  signal.add_delete_while_signals_arrive: 2 threads and a child process generate SIGUSR2
 *      (ignored), SIGWINCH (blocked, stays pending) and SIGUSR1 by kill(), tgkill(),
 *      sigqueue() and raise() in tight loops; a toggler EV_ADDs / EV_DELETEs a SIGUSR1 knote
 *      (a new udata generation each time), re-adds SIGUSR2 and disables/enables SIGWINCH;
 *      2 scanners collect; a churner makes and closes kqueues with signal knotes. No
 *      SIGUSR1 event of a generation already deleted when the call began; the SIGUSR2 and
 *      SIGWINCH knotes (never deleted) count exactly what was sent (re-EV_ADD does not reset,
 *      EV_DISABLE keeps counting); every record well-formed (data >= 1, fflags 0, EV_CLEAR).
 *  proc.exit_races_add_delete_and_close: short-lived children (exiting with a chosen status
 *      at once or after a random spin, or SIGKILLed) get an EVFILT_PROC NOTE_EXIT knote right
 *      after fork() (racing the exit; an unreaped child must never give ESRCH), a third of
 *      them an EV_DELETE at once; each is also registered in a "doomed" kqueue that is closed
 *      every 16 children (exits racing the close). A scanner reaps on NOTE_EXIT. Every
 *      registered and not deleted child reports NOTE_EXIT exactly once, with EV_EOF|EV_ONESHOT
 *      and data = the wait status (== waitpid()'s); a deleted one at most once and never in a
 *      call that began after EV_DELETE returned; nothing left afterwards.
 *  track.fork_storm_and_close: a tracked child (NOTE_EXIT|NOTE_FORK|NOTE_TRACK) forks 8
 *      children at once, some of which fork again; every other round the kqueue is closed in
 *      the middle of the storm. In the rounds that keep it: every descendant has exactly one
 *      NOTE_CHILD (data = its parent's pid) and one NOTE_EXIT (its status), forkers NOTE_FORK,
 *      all with the tracked parent's udata, no NOTE_TRACKERR, no stray pid, no knote left. In
 *      all rounds every process exits as it should.
 *  selfwatch.exit_with_knotes_on_itself: processes that watch themselves (EVFILT_PROC on getpid()),
 *      their parent (the test, which forks all the time) and SIGUSR1 exit with the knotes in
 *      place: right after checking one event, after a fork, with a thread asleep in kevent()
 *      and another signalling (exit_group), or SIGKILLed at a random moment. Each one's own
 *      checks pass (status 0) and the test's knote on it reports the status waitpid() gives.
 *  vnode.add_delete_close_while_files_change: 2 writers write, truncate, chmod, link, unlink
 *      and rename (also across directories) 8 files while a registrar EV_ADDs (random note
 *      masks, O_RDONLY / O_PATH / O_WRONLY descriptors), EV_DELETEs, disables/enables, closes
 *      and dup2()s over (a new open of another file; a pipe, where EV_ADD must say EINVAL) its
 *      descriptors, and 2 scanners collect. Every record: fflags a non-empty subset of its
 *      knote's mask, data 0, EV_CLEAR, ident = the descriptor registered with that udata; none of a knote
 *      deleted, closed or dup2()ed over before the call began, none of a disabled one. The
 *      directory's knote sees NOTE_WRITE; afterwards a write to a quiet file gives exactly
 *      NOTE_WRITE|NOTE_EXTEND and nothing else is pending.
 *  procdesc.close_pidfd_while_child_exits: children with a pidfd (pidfd_open() or clone3()
 *      CLONE_PIDFD) registered with EVFILT_PROCDESC (and half also EVFILT_PROC), the pidfd
 *      closed at once, after a random pause, or only after the event, while the child exits.
 *      Same exactly-once rules, per knote.
 *
 * Every violation is counted (struct stress_bad keeps the first) and fails the case. A
 * module without these filters refuses them with EINVAL: each case then fails at once,
 * saying so.
 */
#include "kq_stress_common.h"

#include <sys/prctl.h>
#include <sys/syscall.h>


#define FS_DEFAULT_SECS 60
#define FS_CASES 6

/* Seconds for one case: a sixth of KQ_FILTERS_SECS, at least 2. */
static int fs_secs(void)
{
	int s = env_secs("KQ_FILTERS_SECS", FS_DEFAULT_SECS) / FS_CASES;

	return s < 2 ? 2 : s;
}

#define FS_TIMEOUT (fs_secs() + 120)
#define FS_ALARM (fs_secs() + 100)

static const char *fs_filter_name(int filter)
{
	switch (filter) {
	case EVFILT_SIGNAL: return "EVFILT_SIGNAL";
	case EVFILT_PROC: return "EVFILT_PROC";
	case EVFILT_PROCDESC: return "EVFILT_PROCDESC";
	case EVFILT_VNODE: return "EVFILT_VNODE";
	default: return "?";
	}
}

/*
 * Does the module take this filter? Adds and deletes a knote; the case fails at once,
 * saying so, if it does not.
 */
#define REQUIRE_FILTER(kq, ident, filter, fflags)                                              \
	do {                                                                                   \
		int __r = kq_ctl(kq, (uint64_t)(ident), filter, EV_ADD, fflags, 0, 0);          \
		ASSERT_EQ(0, __r) TH_LOG("EV_ADD of %s (ident %llu): %s%s", fs_filter_name(filter), \
					 (unsigned long long)(ident),                          \
					 __r > 0 ? strerrorname_np(__r) : "?",                 \
					 __r == EINVAL ? ": this kqueue.ko does not implement the filter" : ""); \
		ASSERT_EQ(0, kq_ctl(kq, (uint64_t)(ident), filter, EV_DELETE, 0, 0, 0));        \
	} while (0)

static pid_t fs_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void spin(uint32_t n)
{
	for (volatile uint32_t i = 0; i < n; i++)
		;
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The state letter of /proc/<pid>/stat ('Z' zombie, ...), '?' if gone. */
static char proc_state(pid_t pid)
{
	char path[64], buf[256], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : '?';
}

static bool ev_well_formed(const struct kevent *e)
{
	return !(e->flags & (KQ_ACTION_FLAGS | EV_ERROR)) && (e->flags & EV_CLEAR);
}

/* ===================================================================================== */
/* (a) EVFILT_SIGNAL: add/delete while signals arrive                                     */
/* ===================================================================================== */

#define SIG_TOGGLED SIGUSR1	/* the knote that comes and goes */
#define SIG_IGNORED SIGUSR2	/* SIG_IGN, never deleted: counted exactly */
#define SIG_BLOCKED SIGWINCH	/* blocked everywhere, never deleted: counted exactly */
#define UD_IGNORED 0x5152000000000000ULL
#define UD_BLOCKED 0x5157000000000000ULL

FIXTURE(signal) {
	int kq;
	atomic_bool stop, senders_stop;
	atomic_long toggled_gen;	/* generation of the current SIGUSR1 knote (udata) */
	atomic_long gone_gen;		/* every generation <= this was deleted */
	atomic_long sent_ignored, sent_blocked, sent_toggled;
	atomic_long got_ignored, got_blocked, got_toggled, calls, adds, deletes, late;
	atomic_long churn_kqs;
	atomic_int scanner_tid[2];
	struct stress_bad bad;
};

FIXTURE_SETUP(signal)
{
	sigset_t set;

	alarm(FS_ALARM);
	signal(SIG_TOGGLED, SIG_IGN);
	signal(SIG_IGNORED, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIG_BLOCKED);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &set, NULL));	/* inherited by every thread */
	self->kq = kqueue();
	ASSERT_LE(0, self->kq) TH_LOG("kqueue(): %s", strerror(errno));
}

FIXTURE_TEARDOWN(signal) {}

static void sig_check(FIXTURE_DATA(signal) *self, const struct kevent *e, long gone_before)
{
	if (e->filter != EVFILT_SIGNAL || !ev_well_formed(e) || e->fflags || e->data < 1) {
		stress_fail(&self->bad, e, "malformed record (want EVFILT_SIGNAL, EV_CLEAR, "
			    "fflags 0, data >= 1)");
		return;
	}
	if (e->ident == SIG_IGNORED && UDV(*e) == UD_IGNORED) {
		atomic_fetch_add(&self->got_ignored, e->data);
	} else if (e->ident == SIG_BLOCKED && UDV(*e) == UD_BLOCKED) {
		atomic_fetch_add(&self->got_blocked, e->data);
	} else if (e->ident == SIG_TOGGLED) {
		long g = (long)UDV(*e);

		atomic_fetch_add(&self->got_toggled, e->data);
		if (g <= 0 || g > atomic_load(&self->toggled_gen))
			stress_fail(&self->bad, e, "SIGUSR1 event with udata %ld: never registered", g);
		else if (g <= gone_before) {
			atomic_fetch_add(&self->late, 1);
			stress_fail(&self->bad, e, "SIGUSR1 event of generation %ld, deleted (EV_DELETE "
				    "returned) before this kevent() call began", g);
		}
	} else {
		stress_fail(&self->bad, e, "record of an unknown knote");
	}
}

struct sig_thread {
	FIXTURE_DATA(signal) *self;
	int id;
};

static void *sig_scanner(void *arg)
{
	struct sig_thread *t = arg;
	FIXTURE_DATA(signal) *self = t->self;
	struct timespec ts = { 0, 5 * NSEC_PER_MSEC };
	struct kevent ev[8];

	atomic_store(&self->scanner_tid[t->id], fs_gettid());
	while (!atomic_load(&self->stop)) {
		long gone = atomic_load(&self->gone_gen);
		int n = kevent(self->kq, NULL, 0, ev, t->id ? 8 : 1, &ts);

		atomic_fetch_add(&self->calls, 1);
		if (n < 0) {
			if (errno != EINTR)
				stress_fail(&self->bad, NULL, "kevent(): %s", strerrorname_np(errno));
			continue;
		}
		for (int k = 0; k < n; k++)
			sig_check(self, &ev[k], gone);
	}
	return NULL;
}

/* Sender 0: kill() and raise(); sender 1: tgkill() to the scanners, sigqueue(). */
static void *sig_sender(void *arg)
{
	struct sig_thread *t = arg;
	FIXTURE_DATA(signal) *self = t->self;
	pid_t me = getpid();
	uint64_t rs = rnd_seed(t->id + 11);
	union sigval v = { .sival_int = 7 };

	while (!atomic_load(&self->senders_stop)) {
		int r = 0;

		switch (rnd_below(&rs, 8)) {
		case 0: case 1:
			r = t->id ? sigqueue(me, SIG_IGNORED, v) : kill(me, SIG_IGNORED);
			if (!r)
				atomic_fetch_add(&self->sent_ignored, 1);
			break;
		case 2:
			r = t->id ? (int)syscall(SYS_tgkill, me, atomic_load(&self->scanner_tid[rnd_below(&rs, 2)]),
						 SIG_IGNORED) : raise(SIG_IGNORED);
			if (!r)
				atomic_fetch_add(&self->sent_ignored, 1);
			break;
		case 3: case 4:
			r = t->id ? (int)syscall(SYS_tgkill, me, atomic_load(&self->scanner_tid[0]), SIG_BLOCKED) :
				    kill(me, SIG_BLOCKED);
			if (!r)
				atomic_fetch_add(&self->sent_blocked, 1);
			break;
		default:
			r = kill(me, SIG_TOGGLED);
			if (!r)
				atomic_fetch_add(&self->sent_toggled, 1);
			break;
		}
		if (r)
			stress_fail(&self->bad, NULL, "sending a signal: %s", strerrorname_np(errno));
	}
	return NULL;
}

/* EV_ADD / EV_DELETE of SIGUSR1 (new generation each time); re-add SIGUSR2; toggle SIGWINCH. */
static void *sig_toggler(void *arg)
{
	FIXTURE_DATA(signal) *self = arg;
	uint64_t rs = rnd_seed(21);

	while (!atomic_load(&self->senders_stop)) {
		long g = atomic_load(&self->toggled_gen) + 1;
		unsigned int extra = rnd_below(&rs, 4) == 0 ? EV_ONESHOT : 0;
		int r;

		atomic_store(&self->toggled_gen, g);
		r = kq_ctl(self->kq, SIG_TOGGLED, EVFILT_SIGNAL, EV_ADD | extra, 0, 0, (uint64_t)g);
		if (r)
			stress_fail(&self->bad, NULL, "EV_ADD SIGUSR1: %s", strerrorname_np(r));
		atomic_fetch_add(&self->adds, 1);
		spin(rnd_below(&rs, 20000));
		r = kq_ctl(self->kq, SIG_TOGGLED, EVFILT_SIGNAL, EV_DELETE, 0, 0, 0);
		/* ENOENT: an EV_ONESHOT knote that fired and was collected */
		if (r && !(r == ENOENT && extra))
			stress_fail(&self->bad, NULL, "EV_DELETE SIGUSR1 (generation %ld): %s", g,
				    strerrorname_np(r));
		atomic_store(&self->gone_gen, g);
		atomic_fetch_add(&self->deletes, 1);
		switch (rnd_below(&rs, 8)) {
		case 0:	/* re-EV_ADD does not reset the count */
			r = kq_ctl(self->kq, SIG_IGNORED, EVFILT_SIGNAL, EV_ADD, 0, 0, UD_IGNORED);
			break;
		case 1:	/* disabled: keeps counting, reports the total once enabled */
			/* (every change sets udata, as in FreeBSD: give the same) */
			r = kq_ctl(self->kq, SIG_BLOCKED, EVFILT_SIGNAL, EV_DISABLE, 0, 0, UD_BLOCKED);
			spin(rnd_below(&rs, 50000));
			r = r ?: kq_ctl(self->kq, SIG_BLOCKED, EVFILT_SIGNAL, EV_ENABLE, 0, 0, UD_BLOCKED);
			break;
		default:
			r = 0;
		}
		if (r)
			stress_fail(&self->bad, NULL, "re-add / disable / enable: %s", strerrorname_np(r));
	}
	return NULL;
}

/* Kqueues with signal knotes, closed while the signals keep coming. */
static void *sig_churner(void *arg)
{
	FIXTURE_DATA(signal) *self = arg;
	uint64_t rs = rnd_seed(31);

	while (!atomic_load(&self->senders_stop)) {
		struct kevent ev[4];
		int kq = kqueue(), r;

		if (kq < 0) {
			stress_fail(&self->bad, NULL, "kqueue(): %s", strerrorname_np(errno));
			break;
		}
		r = kq_ctl(kq, SIG_IGNORED, EVFILT_SIGNAL, EV_ADD, 0, 0, 1) ?:
		    kq_ctl(kq, SIG_TOGGLED, EVFILT_SIGNAL, EV_ADD | EV_DISPATCH, 0, 0, 2) ?:
		    kq_ctl(kq, SIG_BLOCKED, EVFILT_SIGNAL, EV_ADD, 0, 0, 3);
		if (r)
			stress_fail(&self->bad, NULL, "churn kqueue EV_ADD: %s", strerrorname_np(r));
		spin(rnd_below(&rs, 30000));
		if (rnd_below(&rs, 2)) {
			int n = kq_poll(kq, ev, 4);

			for (int k = 0; k < n; k++)
				if (ev[k].filter != EVFILT_SIGNAL || ev[k].data < 1 || !ev_well_formed(&ev[k]))
					stress_fail(&self->bad, &ev[k], "churn kqueue: malformed record");
		}
		close(kq);
		atomic_fetch_add(&self->churn_kqs, 1);
	}
	return NULL;
}

TEST_F_TIMEOUT(signal, add_delete_while_signals_arrive, FS_TIMEOUT)
{
	struct sig_thread sc[2], sd[2];
	pthread_t ts[2], tsend[2], ttog, tch;
	int ctl[2], res[2], secs = fs_secs(), st;
	long child_sent = 0, exp_ign, exp_blk;
	pid_t child;
	int64_t t0 = now_ns(), quiet;

	REQUIRE_FILTER(self->kq, SIG_IGNORED, EVFILT_SIGNAL, 0);
	ASSERT_OK(kq_ctl(self->kq, SIG_IGNORED, EVFILT_SIGNAL, EV_ADD, 0, 0, UD_IGNORED));
	ASSERT_OK(kq_ctl(self->kq, SIG_BLOCKED, EVFILT_SIGNAL, EV_ADD, 0, 0, UD_BLOCKED));

	/* A child sends SIGUSR2 to us until its control pipe closes, then says how many. */
	ASSERT_EQ(0, pipe2(ctl, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(res, O_CLOEXEC));
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		pid_t parent = getppid();
		long n = 0;
		char c;

		close(ctl[1]);
		fcntl(ctl[0], F_SETFL, O_NONBLOCK);
		for (;;) {
			for (int i = 0; i < 64; i++)
				n += kill(parent, SIG_IGNORED) == 0;
			if (read(ctl[0], &c, 1) == 0)
				break;
		}
		_exit(write(res[1], &n, sizeof(n)) == sizeof(n) ? 0 : 1);
	}
	close(ctl[0]);
	close(res[1]);

	for (int i = 0; i < 2; i++) {
		sc[i] = (struct sig_thread){ self, i };
		ASSERT_EQ(0, pthread_create(&ts[i], NULL, sig_scanner, &sc[i]));
	}
	while (!atomic_load(&self->scanner_tid[0]) || !atomic_load(&self->scanner_tid[1]))
		sched_yield();
	for (int i = 0; i < 2; i++) {
		sd[i] = (struct sig_thread){ self, i };
		ASSERT_EQ(0, pthread_create(&tsend[i], NULL, sig_sender, &sd[i]));
	}
	ASSERT_EQ(0, pthread_create(&ttog, NULL, sig_toggler, self));
	ASSERT_EQ(0, pthread_create(&tch, NULL, sig_churner, self));

	while (ms_since(t0) < secs * 1000LL && !atomic_load(&self->bad.count))
		sleep_ms(50);
	atomic_store(&self->senders_stop, true);
	close(ctl[1]);
	for (int i = 0; i < 2; i++)
		pthread_join(tsend[i], NULL);
	pthread_join(ttog, NULL);
	pthread_join(tch, NULL);
	EXPECT_EQ((ssize_t)sizeof(child_sent), read(res[0], &child_sent, sizeof(child_sent)));
	EXPECT_EQ(child, waitpid(child, &st, 0));
	EXPECT_EQ(0, st);
	/* Everything sent has been counted by now; let the scanners collect the rest. */
	exp_ign = atomic_load(&self->sent_ignored) + child_sent;
	exp_blk = atomic_load(&self->sent_blocked);
	quiet = now_ns();
	while (ms_since(quiet) < 10000 && (atomic_load(&self->got_ignored) < exp_ign ||
					    atomic_load(&self->got_blocked) < exp_blk))
		sleep_ms(20);
	sleep_ms(200);	/* a surplus would show now */
	atomic_store(&self->stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(ts[i], NULL);

	stress_note("signal: %lld ms, %ld kevent calls; SIGUSR2 sent %ld (child %ld) counted %ld; "
		    "SIGWINCH sent %ld counted %ld; SIGUSR1 sent %ld counted %ld over %ld add/delete "
		    "pairs; %ld churn kqueues", (long long)ms_since(t0), atomic_load(&self->calls),
		    exp_ign, child_sent, atomic_load(&self->got_ignored), exp_blk,
		    atomic_load(&self->got_blocked), atomic_load(&self->sent_toggled),
		    atomic_load(&self->got_toggled), atomic_load(&self->deletes),
		    atomic_load(&self->churn_kqs));
	ASSERT_EQ(0, STRESS_REPORT(&self->bad));
	EXPECT_EQ(exp_ign, atomic_load(&self->got_ignored))
		TH_LOG("SIGUSR2 (SIG_IGN, never deleted, re-added): sent %ld, counted %ld", exp_ign,
		       atomic_load(&self->got_ignored));
	EXPECT_EQ(exp_blk, atomic_load(&self->got_blocked))
		TH_LOG("SIGWINCH (blocked, never deleted, disabled/enabled): sent %ld, counted %ld",
		       exp_blk, atomic_load(&self->got_blocked));
	EXPECT_LE(atomic_load(&self->got_toggled), atomic_load(&self->sent_toggled));
	EXPECT_LT(0, child_sent);
}

/* ===================================================================================== */
/* Children and their knotes: the bookkeeping shared by the proc and procdesc cases        */
/* ===================================================================================== */

#define KIDS_MAX (1 << 16)
#define KIDS_OUTSTANDING 24

enum reg_state { REG_NONE, REG_LIVE, REG_GONE, REG_GONE_ENOENT };

/* One knote of a child: [0] EVFILT_PROC, [1] EVFILT_PROCDESC. */
struct kid_reg {
	atomic_int state;
	atomic_int reports;
	atomic_int resolved;	/* reported or gone: no longer holds the child unreaped */
	atomic_long gone_at;	/* clock value once EV_DELETE / close() returned */
	int fd;			/* the pidfd (procdesc) */
	bool scanner_closes;	/* the pidfd is closed by the scanner, after the event */
};

struct kid {
	pid_t pid;
	int expect;		/* the wait status */
	atomic_int pending;	/* knotes not yet resolved; the one that resolves the last reaps */
	atomic_int reaped;
	struct kid_reg reg[2];
};

struct kids {
	struct kid *k;
	atomic_int n;
	atomic_long clock;
	atomic_int outstanding;	/* forked and not reaped */
	atomic_long reports, reaps;
	struct stress_bad *bad;
	int kq;
};

static int kids_init(struct kids *t, struct stress_bad *bad, int kq)
{
	memset(t, 0, sizeof(*t));
	t->k = mmap(NULL, sizeof(struct kid) * KIDS_MAX, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->bad = bad;
	t->kq = kq;
	return t->k == MAP_FAILED ? -1 : 0;
}

static void kid_reap(struct kids *t, struct kid *k)
{
	int st;

	if (atomic_exchange(&k->reaped, 1))
		return;
	if (waitpid(k->pid, &st, 0) != k->pid)
		stress_fail(t->bad, NULL, "waitpid(%d): %s", (int)k->pid, strerrorname_np(errno));
	else if (st != k->expect)
		stress_fail(t->bad, NULL, "child %d: waitpid() status 0x%x, expected 0x%x", (int)k->pid,
			    st, k->expect);
	atomic_fetch_add(&t->reaps, 1);
	atomic_fetch_sub(&t->outstanding, 1);
}

/* A knote of k no longer needs the child unreaped; the last one reaps. */
static void kid_resolve(struct kids *t, struct kid *k, int which)
{
	if (atomic_exchange(&k->reg[which].resolved, 1))
		return;
	if (atomic_fetch_sub(&k->pending, 1) == 1)
		kid_reap(t, k);
}

/* EV_DELETE (procdesc: close()) of knote `which` returned r. */
static void kid_gone(struct kids *t, struct kid *k, int which, int r)
{
	struct kid_reg *g = &k->reg[which];

	if (r == 0) {
		atomic_store(&g->gone_at, atomic_fetch_add(&t->clock, 1) + 1);
		atomic_store(&g->state, REG_GONE);
	} else if (r == ENOENT && which == 0) {
		/* gone already: only a retrieval removes it, so it was (or is being) reported */
		atomic_store(&g->state, REG_GONE_ENOENT);
		return;	/* resolved by that report */
	} else {
		stress_fail(t->bad, NULL, "child %d: %s of its %s knote: %s", (int)k->pid,
			    which ? "close()" : "EV_DELETE", which ? "EVFILT_PROCDESC" : "EVFILT_PROC",
			    strerrorname_np(r));
	}
	kid_resolve(t, k, which);
}

/* One record of the kids' kqueue; `before` is the clock when the kevent() call began. */
static void kid_event(struct kids *t, const struct kevent *e, long before)
{
	uint64_t ud = UDV(*e);
	int which = (int)(ud & 1), seq = (int)(ud >> 1);
	struct kid *k;
	struct kid_reg *g;

	if ((e->filter != EVFILT_PROC && e->filter != EVFILT_PROCDESC) ||
	    which != (e->filter == EVFILT_PROCDESC) || seq >= atomic_load(&t->n)) {
		stress_fail(t->bad, e, "record of an unknown knote");
		return;
	}
	k = &t->k[seq];
	g = &k->reg[which];
	if (e->ident != (which ? (uint64_t)g->fd : (uint64_t)k->pid)) {
		stress_fail(t->bad, e, "child %d (seq %d): ident is not its %s", (int)k->pid, seq,
			    which ? "pidfd" : "pid");
		return;
	}
	if (e->fflags != NOTE_EXIT || !ev_well_formed(e) ||
	    (e->flags & (EV_EOF | EV_ONESHOT)) != (EV_EOF | EV_ONESHOT))
		stress_fail(t->bad, e, "child %d: malformed record (want fflags NOTE_EXIT, flags "
			    "EV_EOF|EV_ONESHOT|EV_CLEAR)", (int)k->pid);
	if (e->data != k->expect)
		stress_fail(t->bad, e, "child %d: NOTE_EXIT data 0x%llx, the wait status is 0x%x",
			    (int)k->pid, (unsigned long long)e->data, k->expect);
	if (atomic_fetch_add(&g->reports, 1))
		stress_fail(t->bad, e, "child %d: NOTE_EXIT reported twice by one knote", (int)k->pid);
	atomic_fetch_add(&t->reports, 1);
	if (atomic_load(&g->state) == REG_GONE) {
		long gone = atomic_load(&g->gone_at);

		if (gone && gone <= before)
			stress_fail(t->bad, e, "child %d: NOTE_EXIT in a kevent() call that began after "
				    "the %s of its knote returned", (int)k->pid,
				    which ? "close() of the pidfd" : "EV_DELETE");
	}
	if (which && g->scanner_closes)
		close(g->fd);	/* the knote is gone (oneshot); the descriptor goes now */
	kid_resolve(t, k, which);
}

struct kid_scanner {
	struct kids *t;
	atomic_bool stop;
	atomic_long calls;
	pthread_t th;
};

static void *kid_scanner_main(void *arg)
{
	struct kid_scanner *s = arg;
	struct timespec ts = { 0, 5 * NSEC_PER_MSEC };
	struct kevent ev[8];

	while (!atomic_load(&s->stop)) {
		long before = atomic_load(&s->t->clock);
		int n = kevent(s->t->kq, NULL, 0, ev, 8, &ts);

		atomic_fetch_add(&s->calls, 1);
		if (n < 0) {
			if (errno != EINTR)
				stress_fail(s->t->bad, NULL, "kevent(): %s", strerrorname_np(errno));
			continue;
		}
		for (int i = 0; i < n; i++)
			kid_event(s->t, &ev[i], before);
	}
	return NULL;
}

/* Wait until at most `max` children are outstanding; false after `ms` without progress. */
static bool kids_wait(struct kids *t, int max, long ms)
{
	int64_t t0 = now_ns();
	long reaps = atomic_load(&t->reaps);

	while (atomic_load(&t->outstanding) > max) {
		if (atomic_load(&t->reaps) != reaps) {
			reaps = atomic_load(&t->reaps);
			t0 = now_ns();
		}
		if (ms_since(t0) > ms)
			return false;
		usleep(200);
	}
	return true;
}

/* Report the children still waiting for an event, kill and reap them. */
static void kids_report_stuck(struct kids *t, const char *where)
{
	int n = atomic_load(&t->n), shown = 0;
	char knotes[512];

	read_knotes(t->kq, knotes, sizeof(knotes));
	for (int i = 0; i < n; i++) {
		struct kid *k = &t->k[i];

		if (atomic_load(&k->reaped))
			continue;
		if (shown++ < 4) {
			stress_note("%s: child %d (seq %d, expected status 0x%x, /proc state %c) "
				    "still unreaped: proc knote state %d reports %d, procdesc knote state "
				    "%d reports %d", where, (int)k->pid, i, k->expect, proc_state(k->pid),
				    atomic_load(&k->reg[0].state), atomic_load(&k->reg[0].reports),
				    atomic_load(&k->reg[1].state), atomic_load(&k->reg[1].reports));
			stress_fail(t->bad, NULL, "%s: child %d exited (/proc state %c) but a live "
				    "knote never reported NOTE_EXIT", where, (int)k->pid, proc_state(k->pid));
		}
		if (!atomic_exchange(&k->reaped, 1)) {
			kill(k->pid, SIGKILL);
			waitpid(k->pid, NULL, 0);
			atomic_fetch_sub(&t->outstanding, 1);
		}
	}
	if (shown)
		stress_note("%s: %d unreaped; knotes of the kqueue: %s", where, shown, knotes);
}

/* The final exactly-once check; returns the number of violations. */
static long kids_final(struct kids *t, long *deleted_reported)
{
	int n = atomic_load(&t->n);
	long bad = 0;

	*deleted_reported = 0;
	for (int i = 0; i < n; i++) {
		for (int w = 0; w < 2; w++) {
			struct kid_reg *g = &t->k[i].reg[w];
			int st = atomic_load(&g->state), rep = atomic_load(&g->reports);

			if (st == REG_NONE)
				continue;
			if ((st == REG_LIVE || st == REG_GONE_ENOENT) && rep != 1) {
				if (!bad++)
					stress_fail(t->bad, NULL, "child %d (seq %d): its %s knote (%s) "
						    "reported NOTE_EXIT %d times, expected once",
						    (int)t->k[i].pid, i, w ? "EVFILT_PROCDESC" : "EVFILT_PROC",
						    st == REG_LIVE ? "never deleted" :
						    "EV_DELETE said ENOENT", rep);
			} else if (st == REG_GONE && rep > 1) {
				bad++;
			}
			*deleted_reported += st == REG_GONE && rep == 1;
		}
	}
	return bad;
}

/* A child that exits with status `code` after spinning `n`, or waits to be killed (code < 0). */
static pid_t kid_fork(int code, uint32_t n)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (code < 0)
			for (;;)
				pause();
		spin(n);
		_exit(code);
	}
	return pid;
}

/* ===================================================================================== */
/* (b) EVFILT_PROC: exits racing EV_ADD, EV_DELETE and close of the kqueue                 */
/* ===================================================================================== */

/* self->kq and self->bad; alarm(FS_ALARM). */
KQ_FD_FIXTURE(proc, FS_ALARM, struct stress_bad bad;);

TEST_F_TIMEOUT(proc, exit_races_add_delete_and_close, FS_TIMEOUT)
{
	struct kids t;
	struct kid_scanner sc = { .t = &t };
	struct kevent left[4];
	char knotes[256];
	uint64_t rs = rnd_seed(41);
	int secs = fs_secs(), doomed = kqueue(), doomed_kqs = 1, kills = 0, deletes = 0;
	long deleted_reported, add_immediate = 0;
	int64_t t0 = now_ns();

	ASSERT_LE(0, doomed);
	REQUIRE_FILTER(self->kq, getpid(), EVFILT_PROC, NOTE_EXIT);
	ASSERT_EQ(0, kids_init(&t, &self->bad, self->kq));
	ASSERT_EQ(0, pthread_create(&sc.th, NULL, kid_scanner_main, &sc));

	while (ms_since(t0) < secs * 1000LL && !atomic_load(&self->bad.count)) {
		int seq = atomic_load(&t.n), mode = (int)rnd_below(&rs, 10), r;
		struct kid *k = &t.k[seq];
		bool killed = mode < 3, del = rnd_below(&rs, 3) == 0;
		unsigned int fflags = NOTE_EXIT | (rnd_below(&rs, 2) ? NOTE_FORK | NOTE_EXEC : 0);

		if (seq >= KIDS_MAX - 1)
			break;
		if (!kids_wait(&t, KIDS_OUTSTANDING, 10000)) {
			kids_report_stuck(&t, "proc");
			break;
		}
		k->expect = killed ? SIGKILL : ((seq % 120) + 1) << 8;
		atomic_store(&k->pending, 1);
		k->pid = kid_fork(killed ? -1 : (seq % 120) + 1,
				  mode == 9 ? 0 : rnd_below(&rs, 40000));
		if (k->pid < 0) {
			stress_fail(&self->bad, NULL, "fork(): %s", strerrorname_np(errno));
			break;
		}
		atomic_fetch_add(&t.outstanding, 1);
		atomic_store(&t.n, seq + 1);
		if (mode == 9)
			add_immediate++;
		atomic_store(&k->reg[0].state, REG_LIVE);
		r = kq_ctl(self->kq, (uint64_t)k->pid, EVFILT_PROC, EV_ADD, fflags, 0,
			   (uint64_t)seq << 1);
		if (r) {
			/* not reaped yet: a zombie at worst, which must fire at once */
			atomic_store(&k->reg[0].state, REG_NONE);
			stress_fail(&self->bad, NULL, "EV_ADD EVFILT_PROC of child %d (not reaped yet, "
				    "/proc state %c): %s", (int)k->pid, proc_state(k->pid),
				    strerrorname_np(r));
			if (killed)
				kill(k->pid, SIGKILL);
			kid_resolve(&t, k, 0);
			continue;
		}
		r = kq_ctl(doomed, (uint64_t)k->pid, EVFILT_PROC, EV_ADD,
			   NOTE_EXIT | NOTE_FORK | NOTE_TRACK, 0, 1);
		/* ESRCH is right once a scanner saw the first knote's NOTE_EXIT and reaped the child
		 * (`reaped` is set before its waitpid()); before that the child is a zombie at worst. */
		if (r && !(r == ESRCH && atomic_load(&k->reaped)))
			stress_fail(&self->bad, NULL, "EV_ADD in the doomed kqueue: %s", strerrorname_np(r));
		if (killed) {	/* before a delete: the forker reaps deleted ones */
			spin(rnd_below(&rs, 20000));
			kill(k->pid, SIGKILL);
			kills++;
		}
		if (del) {	/* racing the exit */
			spin(rnd_below(&rs, 20000));
			kid_gone(&t, k, 0, kq_ctl(self->kq, (uint64_t)k->pid, EVFILT_PROC, EV_DELETE, 0, 0, 0));
			deletes++;
		}
		if (seq % 16 == 15) {	/* children still exiting with knotes in it */
			close(doomed);
			doomed = kqueue();
			if (doomed < 0) {
				stress_fail(&self->bad, NULL, "kqueue(): %s", strerrorname_np(errno));
				break;
			}
			doomed_kqs++;
		}
	}
	if (!kids_wait(&t, 0, 10000))
		kids_report_stuck(&t, "proc, at the end");
	atomic_store(&sc.stop, true);
	pthread_join(sc.th, NULL);
	close(doomed);
	kids_final(&t, &deleted_reported);
	stress_note("proc: %lld ms, %d children (%ld EV_ADD right after fork), %d EV_DELETE "
		    "(%ld of those reported by a call that began earlier), %d SIGKILL, %ld NOTE_EXIT, "
		    "%d doomed kqueues, %ld scans", (long long)ms_since(t0), atomic_load(&t.n),
		    add_immediate, deletes, deleted_reported, kills, atomic_load(&t.reports), doomed_kqs,
		    atomic_load(&sc.calls));
	ASSERT_EQ(0, STRESS_REPORT(&self->bad));
	EXPECT_EQ(0, kq_poll(self->kq, left, 4));
	read_knotes(self->kq, knotes, sizeof(knotes));
	EXPECT_STREQ("", knotes) TH_LOG("knotes left after every child was reaped");
	EXPECT_LT(0, atomic_load(&t.n));
}

/* ===================================================================================== */
/* (c) NOTE_TRACK fork storms, with the kqueue closed in the middle                        */
/* ===================================================================================== */

#define TR_KIDS 8
#define TR_MAX 64

struct tr_shared {
	atomic_int n;
	struct { pid_t pid, ppid; int code; int forked; } e[TR_MAX];
};

/* A descendant records itself; depth-1 ones fork once more when asked to. */
static void tr_record(struct tr_shared *sh, int code, int forked)
{
	int i = atomic_fetch_add(&sh->n, 1);

	if (i < TR_MAX) {
		sh->e[i].pid = getpid();
		sh->e[i].ppid = getppid();
		sh->e[i].code = code;
		sh->e[i].forked = forked;
	}
}

/* The tracked child: waits for the go, forks TR_KIDS children at once, reaps them. */
static void tr_tracked(struct tr_shared *sh, int gate, uint64_t rs)
{
	pid_t kids[TR_KIDS];
	int bad = 0;
	char c;

	if (read(gate, &c, 1) != 1)
		_exit(100);
	for (int i = 0; i < TR_KIDS; i++) {
		int code = 10 + i, grand = i % 3 == 0;

		kids[i] = fork();
		if (kids[i] < 0)
			_exit(101);
		if (kids[i] == 0) {
			pid_t g = -1;
			int st;

			tr_record(sh, code, grand);
			if (grand) {
				g = fork();
				if (g == 0) {
					tr_record(sh, 50 + i, 0);
					spin(rnd_below(&rs, 20000));
					_exit(50 + i);
				}
				if (g < 0 || waitpid(g, &st, 0) != g || st != (50 + i) << 8)
					_exit(102);
			}
			spin(rnd_below(&rs, 20000));
			_exit(code);
		}
	}
	for (int i = 0; i < TR_KIDS; i++) {
		int st;

		if (waitpid(kids[i], &st, 0) != kids[i] || st != (10 + i) << 8)
			bad = 1;
	}
	_exit(bad ? 103 : 0);
}

struct tr_seen {
	pid_t pid;
	int child, exits, forks, status;
	pid_t parent;
};

FIXTURE(track) {
	struct stress_bad bad;
};

FIXTURE_SETUP(track)
{
	alarm(FS_ALARM);
}

FIXTURE_TEARDOWN(track) {}

TEST_F_TIMEOUT(track, fork_storm_and_close, FS_TIMEOUT)
{
	struct tr_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t rs = rnd_seed(51);
	int secs = fs_secs(), rounds = 0, closed_rounds = 0, descendants = 0;
	long events = 0;
	int64_t t0 = now_ns();

	int probe = kqueue();

	ASSERT_NE(MAP_FAILED, sh);
	ASSERT_LE(0, probe);
	REQUIRE_FILTER(probe, getpid(), EVFILT_PROC, NOTE_EXIT | NOTE_TRACK);
	close(probe);
	while (ms_since(t0) < secs * 1000LL && !atomic_load(&self->bad.count)) {
		struct tr_seen seen[TR_MAX + 1];
		int nseen = 0, gate[2], kq = kqueue(), st, r, round = ++rounds;
		bool close_mid = round % 2 == 0, t_exited = false;
		int close_after = (int)rnd_below(&rs, 12);
		pid_t tp;
		int64_t t1;

		ASSERT_LE(0, kq);
		memset(sh, 0, sizeof(*sh));
		ASSERT_EQ(0, pipe2(gate, O_CLOEXEC));
		tp = fork();
		ASSERT_LE(0, tp);
		if (tp == 0) {
			close(gate[1]);
			tr_tracked(sh, gate[0], rs ^ (uint64_t)round);
		}
		close(gate[0]);
		r = kq_ctl(kq, (uint64_t)tp, EVFILT_PROC, EV_ADD, NOTE_EXIT | NOTE_FORK | NOTE_TRACK, 0,
			   (uint64_t)round);
		if (r) {
			stress_fail(&self->bad, NULL, "EV_ADD of the tracked child %d: %s", (int)tp,
				    strerrorname_np(r));
			kill(tp, SIGKILL);
			waitpid(tp, NULL, 0);
			break;
		}
		ASSERT_EQ(1, write(gate[1], "g", 1));
		close(gate[1]);
		if (close_mid && close_after == 0) {
			spin(rnd_below(&rs, 30000));
			close(kq);
			kq = -1;
		}
		/* Collect until the tracked child and every descendant reported NOTE_EXIT. */
		t1 = now_ns();
		while (kq >= 0 && ms_since(t1) < 10000) {
			struct kevent ev[8];
			int n = kq_get(kq, ev, close_mid ? 1 : 8, 20), recorded, exits = 0;

			if (n < 0) {
				stress_fail(&self->bad, NULL, "kevent(): %s", strerrorname_np(errno));
				break;
			}
			for (int i = 0; i < n; i++) {
				const struct kevent *e = &ev[i];
				struct tr_seen *s = NULL;

				events++;
				if (e->filter != EVFILT_PROC || UDV(*e) != (uint64_t)round ||
				    (e->flags & (KQ_ACTION_FLAGS | EV_ERROR)) || !(e->flags & EV_CLEAR) ||
				    !e->fflags || (e->fflags & ~(NOTE_EXIT | NOTE_FORK | NOTE_CHILD))) {
					stress_fail(&self->bad, e, "round %d: malformed record (want "
						    "EVFILT_PROC, udata = the round, fflags within "
						    "NOTE_EXIT|NOTE_FORK|NOTE_CHILD)", round);
					continue;
				}
				for (int j = 0; j < nseen; j++)
					if (seen[j].pid == (pid_t)e->ident)
						s = &seen[j];
				if (!s && nseen <= TR_MAX) {
					s = &seen[nseen++];
					memset(s, 0, sizeof(*s));
					s->pid = (pid_t)e->ident;
				}
				if (!s)
					continue;
				if (e->fflags & NOTE_CHILD) {
					s->child++;
					if (!(e->fflags & NOTE_EXIT))
						s->parent = (pid_t)e->data;
				}
				if (e->fflags & NOTE_FORK)
					s->forks++;
				if (e->fflags & NOTE_EXIT) {
					s->exits++;
					s->status = (int)e->data;
					if (!(e->flags & EV_EOF))
						stress_fail(&self->bad, e, "NOTE_EXIT without EV_EOF");
					if (s->pid == tp)
						t_exited = true;
				}
				if (close_mid && --close_after == 0) {
					close(kq);	/* the storm goes on */
					kq = -1;
					break;
				}
			}
			if (kq < 0)
				break;
			recorded = atomic_load(&sh->n);
			for (int j = 0; j < nseen; j++)
				exits += seen[j].exits;
			if (t_exited && exits >= recorded + 1 && n == 0)
				break;
		}
		if (kq >= 0 && close_mid) {	/* fewer events than close_after */
			close(kq);
			kq = -1;
		}
		/* Every process of the storm exits as it should, closed kqueue or not. */
		if (waitpid(tp, &st, 0) != tp || st != 0) {
			stress_fail(&self->bad, NULL, "round %d: the tracked child %d ended with status "
				    "0x%x (0: all its children and grandchildren exited as they should)",
				    round, (int)tp, st);
			break;
		}
		descendants += atomic_load(&sh->n);
		if (close_mid) {
			closed_rounds++;
			continue;
		}
		/* The round kept its kqueue: everything must have been seen, once. */
		{
			int n = atomic_load(&sh->n);
			struct kevent ev[4];
			char knotes[256];

			if (n > TR_MAX)
				n = TR_MAX;
			for (int j = 0; j < nseen; j++) {
				struct tr_seen *s = &seen[j];
				int found = -1;

				if (s->pid == tp) {
					if (s->exits != 1 || s->status != 0 || s->forks < 1 || s->child)
						stress_fail(&self->bad, NULL, "round %d: the tracked child %d: "
							    "%d NOTE_EXIT (status 0x%x), %d NOTE_FORK, %d "
							    "NOTE_CHILD; expected 1 (0), >= 1, 0", round,
							    (int)tp, s->exits, s->status, s->forks, s->child);
					continue;
				}
				for (int i = 0; i < n; i++)
					if (sh->e[i].pid == s->pid)
						found = i;
				if (found < 0) {
					stress_fail(&self->bad, NULL, "round %d: events of pid %d, which is "
						    "no descendant of the tracked child", round, (int)s->pid);
					continue;
				}
			}
			for (int i = 0; i < n; i++) {
				struct tr_seen *s = NULL;

				for (int j = 0; j < nseen; j++)
					if (seen[j].pid == sh->e[i].pid)
						s = &seen[j];
				if (!s) {
					stress_fail(&self->bad, NULL, "round %d: descendant %d (parent %d) "
						    "reported nothing: no tracked knote?", round,
						    (int)sh->e[i].pid, (int)sh->e[i].ppid);
					continue;
				}
				if (s->child != 1 || (s->parent && s->parent != sh->e[i].ppid))
					stress_fail(&self->bad, NULL, "round %d: descendant %d: %d NOTE_CHILD, "
						    "data (parent) %d; expected 1, %d", round, (int)s->pid,
						    s->child, (int)s->parent, (int)sh->e[i].ppid);
				if (s->exits != 1 || s->status != sh->e[i].code << 8)
					stress_fail(&self->bad, NULL, "round %d: descendant %d: %d NOTE_EXIT, "
						    "status 0x%x; expected 1, 0x%x", round, (int)s->pid,
						    s->exits, s->status, sh->e[i].code << 8);
				if (sh->e[i].forked && s->forks < 1)
					stress_fail(&self->bad, NULL, "round %d: descendant %d forked but "
						    "reported no NOTE_FORK", round, (int)s->pid);
			}
			r = kq_poll(kq, ev, 4);
			if (r != 0)
				stress_fail(&self->bad, r > 0 ? &ev[0] : NULL, "round %d: %d record(s) left "
					    "after every exit was seen", round, r);
			read_knotes(kq, knotes, sizeof(knotes));
			if (knotes[0])
				stress_fail(&self->bad, NULL, "round %d: knotes left after every exit: %s",
					    round, knotes);
			close(kq);
		}
	}
	stress_note("track: %lld ms, %d rounds (%d with the kqueue closed in the storm), "
		    "%d descendants, %ld records", (long long)ms_since(t0), rounds, closed_rounds,
		    descendants, events);
	ASSERT_EQ(0, STRESS_REPORT(&self->bad));
	EXPECT_LT(2, rounds);
}

/* ===================================================================================== */
/* (d) processes exiting with knotes on themselves                                         */
/* ===================================================================================== */

enum self_variant { SV_PLAIN, SV_FORK, SV_THREADS, SV_KILLED, SV_N };

static atomic_int sv_stop;

static void *sv_kevent_sleeper(void *arg)
{
	int kq = (int)(intptr_t)arg;
	struct kevent ev;

	for (;;)
		kevent(kq, NULL, 0, &ev, 1, NULL);	/* until exit_group() */
	return NULL;
}

static void *sv_signaller(void *arg)
{
	(void)arg;
	while (!atomic_load(&sv_stop))
		kill(getpid(), SIGUSR1);
	return NULL;
}

/* Print why a self-watching child failed and exit with `code` (the test reports it). */
static void __attribute__((noreturn)) sv_fail(int code, const char *what, int err)
{
	/* not stdio: its buffer may hold a copy of the parent's unflushed output */
	dprintf(1, "# self-watching child %d: %s: %s\n", (int)getpid(), what,
		err ? strerrorname_np(err) : "wrong result");
	_exit(code);
}

/* The self-watching child. Exits 0 if its own checks passed. */
static void __attribute__((noreturn)) sv_child(enum self_variant v, uint64_t rs)
{
	pid_t me = getpid();
	struct kevent ev[8];
	pthread_t th;
	int kq = kqueue(), r, n;

	signal(SIGUSR1, SIG_IGN);
	if (kq < 0)
		sv_fail(10, "kqueue()", errno);
	r = kq_ctl(kq, (uint64_t)me, EVFILT_PROC, EV_ADD,
		   NOTE_EXIT | NOTE_FORK | NOTE_EXEC | (rnd_below(&rs, 2) ? NOTE_TRACK : 0), 0, 1);
	if (r)
		sv_fail(11, "EV_ADD EVFILT_PROC on itself", r);
	r = kq_ctl(kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, 2);
	if (r)
		sv_fail(12, "EV_ADD EVFILT_SIGNAL SIGUSR1", r);
	/* the parent (the test) forks all the time: its NOTE_FORKs land here */
	r = kq_ctl(kq, (uint64_t)getppid(), EVFILT_PROC, EV_ADD, NOTE_EXIT | NOTE_FORK, 0, 3);
	if (r)
		sv_fail(13, "EV_ADD EVFILT_PROC on the parent", r);

	switch (v) {
	case SV_PLAIN:
		kill(me, SIGUSR1);
		n = kq_poll(kq, ev, 8);
		for (int i = 0; i < n; i++)
			if (ev[i].filter == EVFILT_SIGNAL && ev[i].ident == SIGUSR1 && ev[i].data == 1 &&
			    UDV(ev[i]) == 2)
				_exit(0);
		sv_fail(14, "kill(getpid(), SIGUSR1) then a poll: no SIGUSR1 record with data 1", 0);
	case SV_FORK: {
		pid_t c = fork();
		int st;

		if (c < 0)
			sv_fail(15, "fork()", errno);
		if (c == 0)
			_exit(0);	/* its copy of the kqueue is unusable; it just goes */
		if (waitpid(c, &st, 0) != c || st)
			sv_fail(16, "waitpid() of the grandchild", errno);
		n = kq_poll(kq, ev, 8);
		for (int i = 0; i < n; i++)
			if (ev[i].filter == EVFILT_PROC && ev[i].ident == (uint64_t)me &&
			    (ev[i].fflags & NOTE_FORK))
				_exit(0);	/* with the grandchild's tracked knote maybe pending */
		sv_fail(17, "fork() then a poll: no NOTE_FORK on itself", 0);
	}
	case SV_THREADS:
		if (pthread_create(&th, NULL, sv_kevent_sleeper, (void *)(intptr_t)kq) ||
		    pthread_create(&th, NULL, sv_signaller, NULL))
			sv_fail(18, "pthread_create()", 0);
		spin(rnd_below(&rs, 100000));
		_exit(0);	/* exit_group() with a thread inside kevent() and one signalling */
	case SV_KILLED:
	default:
		for (;;) {	/* until the SIGKILL */
			kill(me, SIGUSR1);
			kq_poll(kq, ev, 8);
		}
	}
}

/* self->kq and self->bad; alarm(FS_ALARM). */
KQ_FD_FIXTURE(selfwatch, FS_ALARM, struct stress_bad bad;);

TEST_F_TIMEOUT(selfwatch, exit_with_knotes_on_itself, FS_TIMEOUT)
{
	uint64_t rs = rnd_seed(61);
	int secs = fs_secs(), batches = 0, counts[SV_N] = { 0 };
	int64_t t0 = now_ns();

	REQUIRE_FILTER(self->kq, getpid(), EVFILT_PROC, NOTE_EXIT);
	REQUIRE_FILTER(self->kq, SIGUSR1, EVFILT_SIGNAL, 0);
	while (ms_since(t0) < secs * 1000LL && !atomic_load(&self->bad.count)) {
		pid_t pids[SV_N];
		int got = 0;
		int64_t t1;

		batches++;
		for (int v = 0; v < SV_N; v++) {
			uint64_t crs = rnd32(&rs);

			pids[v] = fork();
			ASSERT_LE(0, pids[v]);
			if (pids[v] == 0)
				sv_child(v, crs);
			ASSERT_OK(kq_ctl(self->kq, (uint64_t)pids[v], EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
					 (uint64_t)v));
		}
		spin(rnd_below(&rs, 200000));
		kill(pids[SV_KILLED], SIGKILL);
		t1 = now_ns();
		while (got < SV_N && ms_since(t1) < 10000) {
			struct kevent ev[SV_N];
			int n = kq_get(self->kq, ev, SV_N, 100);

			for (int i = 0; i < n; i++) {
				int v = (int)UDV(ev[i]), st;

				if (ev[i].filter != EVFILT_PROC || v < 0 || v >= SV_N ||
				    ev[i].ident != (uint64_t)pids[v] || ev[i].fflags != NOTE_EXIT ||
				    !(ev[i].flags & EV_EOF)) {
					stress_fail(&self->bad, &ev[i], "malformed record");
					continue;
				}
				got++;
				counts[v]++;
				if (waitpid(pids[v], &st, 0) != pids[v])
					stress_fail(&self->bad, &ev[i], "waitpid(%d): %s", (int)pids[v],
						    strerrorname_np(errno));
				else if (st != ev[i].data)
					stress_fail(&self->bad, &ev[i], "child %d: waitpid() status 0x%x, "
						    "the NOTE_EXIT said 0x%llx", (int)pids[v], st,
						    (unsigned long long)ev[i].data);
				else if (v == SV_KILLED ? st != SIGKILL : st != 0)
					stress_fail(&self->bad, &ev[i], "self-watching child %d (variant %d) "
						    "ended with status 0x%x (exit codes: see its # line)",
						    (int)pids[v], v, st);
				pids[v] = -pids[v];
			}
		}
		if (got < SV_N) {
			for (int v = 0; v < SV_N; v++) {
				if (pids[v] <= 0)
					continue;
				stress_fail(&self->bad, NULL, "self-watching child %d (variant %d, /proc "
					    "state %c): no NOTE_EXIT within 10 s", (int)pids[v], v,
					    proc_state(pids[v]));
				kill(pids[v], SIGKILL);
				waitpid(pids[v], NULL, 0);
			}
			break;
		}
	}
	stress_note("selfwatch: %lld ms, %d batches: %d plain, %d after a fork, %d exit_group with "
		    "threads, %d SIGKILLed", (long long)ms_since(t0), batches, counts[SV_PLAIN],
		    counts[SV_FORK], counts[SV_THREADS], counts[SV_KILLED]);
	ASSERT_EQ(0, STRESS_REPORT(&self->bad));
	EXPECT_LT(1, batches);
}

/* ===================================================================================== */
/* (e) EVFILT_VNODE: knotes added, deleted, closed and dup2()ed over while files change    */
/* ===================================================================================== */

#define VN_FILES 8
#define VN_RING (1 << 16)
#define VN_ALL (NOTE_DELETE | NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_LINK | NOTE_RENAME | \
		NOTE_REVOKE | NOTE_OPEN | NOTE_CLOSE | NOTE_CLOSE_WRITE | NOTE_READ)
#define VN_UD_DIR (1ULL << 62)
#define VN_UD_CTL (1ULL << 61)

/* One registration (generation): udata = its generation number. */
struct vn_gen {
	atomic_long gen;	/* to recognise a stale ring entry */
	int fd;
	unsigned int mask;
	atomic_long gone_at;
	atomic_long disabled_at, enabled_at;
};

FIXTURE(vnode) {
	int kq;
	char dir[64];
	atomic_bool stop, writers_stop;
	atomic_long clock, gens;
	atomic_long calls, events, dir_writes, adds, deletes, closes, dup2s, einval_pipe, wops;
	struct vn_gen *ring;
	struct stress_bad bad;		/* records (scanners), writers */
	struct stress_bad bad_ops;	/* the registrar's own calls */
};

static void vn_path(FIXTURE_DATA(vnode) *self, char *buf, size_t len, const char *fmt, int i)
{
	char name[32];

	snprintf(name, sizeof(name), fmt, i);
	snprintf(buf, len, "%s/%s", self->dir, name);
}

FIXTURE_SETUP(vnode)
{
	char p[128];

	alarm(FS_ALARM);
	raise_nofile();
	self->kq = kqueue();
	ASSERT_LE(0, self->kq) TH_LOG("kqueue(): %s", strerror(errno));
	snprintf(self->dir, sizeof(self->dir), "/tmp/kq_stress_vn.%d", (int)getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	vn_path(self, p, sizeof(p), "sub", 0);
	ASSERT_EQ(0, mkdir(p, 0755));
	for (int i = 0; i < VN_FILES; i++) {
		int fd;

		vn_path(self, p, sizeof(p), "f%d", i);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		ASSERT_LE(0, fd);
		ASSERT_EQ(6, write(fd, "hello\n", 6));
		close(fd);
	}
	self->ring = mmap(NULL, sizeof(struct vn_gen) * VN_RING, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->ring);
}

FIXTURE_TEARDOWN(vnode)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		;
}

static void vn_writer_op(FIXTURE_DATA(vnode) *self, uint64_t *rs)
{
	char a[128], b[128], buf[256];
	int i = (int)rnd_below(rs, VN_FILES), j = (int)rnd_below(rs, VN_FILES), fd;

	vn_path(self, a, sizeof(a), "f%d", i);
	switch (rnd_below(rs, 12)) {
	case 0: case 1: case 2:	/* append */
		fd = open(a, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (write(fd, buf, 1 + rnd_below(rs, sizeof(buf))) < 0)
				stress_fail(&self->bad, NULL, "write: %s", strerrorname_np(errno));
			close(fd);
		}
		break;
	case 3:	/* truncate, shorter or longer */
		if (truncate(a, rnd_below(rs, 8192)) && errno != ENOENT)
			stress_fail(&self->bad, NULL, "truncate: %s", strerrorname_np(errno));
		break;
	case 4:	/* rename over another name */
		vn_path(self, b, sizeof(b), "f%d", j);
		if (rename(a, b) && errno != ENOENT)
			stress_fail(&self->bad, NULL, "rename: %s", strerrorname_np(errno));
		break;
	case 5:	/* into the subdirectory and back */
		vn_path(self, b, sizeof(b), "sub/x%d", i);
		if (rename(a, b) == 0 && rename(b, a) && errno != ENOENT)
			stress_fail(&self->bad, NULL, "rename back: %s", strerrorname_np(errno));
		break;
	case 6:	/* unlink (the next append creates it again) */
		if (unlink(a) && errno != ENOENT)
			stress_fail(&self->bad, NULL, "unlink: %s", strerrorname_np(errno));
		break;
	case 7:	/* a second name, gone again */
		vn_path(self, b, sizeof(b), "l%d", i);
		if (link(a, b) == 0)
			unlink(b);
		break;
	case 8:	/* attributes */
		if (chmod(a, rnd_below(rs, 2) ? 0600 : 0644) && errno != ENOENT)
			stress_fail(&self->bad, NULL, "chmod: %s", strerrorname_np(errno));
		break;
	case 9:	/* read */
		fd = open(a, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (read(fd, buf, sizeof(buf)) < 0)
				stress_fail(&self->bad, NULL, "read: %s", strerrorname_np(errno));
			close(fd);
		}
		break;
	case 10:	/* pwrite in the middle */
		fd = open(a, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (pwrite(fd, buf, 16, rnd_below(rs, 64)) < 0)
				stress_fail(&self->bad, NULL, "pwrite: %s", strerrorname_np(errno));
			close(fd);
		}
		break;
	default:	/* a scratch entry in the directory */
		vn_path(self, b, sizeof(b), "tmp%d", i);
		fd = open(b, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			close(fd);
			unlink(b);
		}
		break;
	}
	atomic_fetch_add(&self->wops, 1);
}

static void *vn_writer(void *arg)
{
	FIXTURE_DATA(vnode) *self = arg;
	uint64_t rs = rnd_seed((uint64_t)(uintptr_t)&rs);

	while (!atomic_load(&self->writers_stop))
		vn_writer_op(self, &rs);
	return NULL;
}

static void vn_check(FIXTURE_DATA(vnode) *self, const struct kevent *e, long before)
{
	uint64_t ud = UDV(*e);
	struct vn_gen *g;

	if (e->filter != EVFILT_VNODE || !ev_well_formed(e) || e->data != 0 || !e->fflags ||
	    (e->fflags & ~VN_ALL)) {
		stress_fail(&self->bad, e, "malformed record (want EVFILT_VNODE, EV_CLEAR, data 0, "
			    "known fflags)");
		return;
	}
	if (ud == VN_UD_DIR) {
		if (e->fflags & NOTE_WRITE)
			atomic_fetch_add(&self->dir_writes, 1);
		return;
	}
	if (ud == VN_UD_CTL) {
		stress_fail(&self->bad, e, "the quiet control file reported during the run");
		return;
	}
	if (ud == 0 || (long)ud > atomic_load(&self->gens)) {
		stress_fail(&self->bad, e, "udata %llu: no such registration", (unsigned long long)ud);
		return;
	}
	g = &self->ring[ud % VN_RING];
	if (atomic_load(&g->gen) != (long)ud)
		return;	/* the ring went round: too old to judge */
	if (e->ident != (uint64_t)g->fd)
		stress_fail(&self->bad, e, "registration %llu was made on fd %d",
			    (unsigned long long)ud, g->fd);
	else if (e->fflags & ~g->mask)
		stress_fail(&self->bad, e, "fflags 0x%x outside the knote's mask 0x%x", e->fflags,
			    g->mask);
	{
		long gone = atomic_load(&g->gone_at), dis = atomic_load(&g->disabled_at);

		if (gone && gone <= before)
			stress_fail(&self->bad, e, "event of a knote deleted / closed / dup2()ed over "
				    "before the kevent() call began");
		else if (dis && dis <= before && atomic_load(&g->enabled_at) < dis)
			stress_fail(&self->bad, e, "event of a knote disabled (EV_DISABLE returned) "
				    "before the kevent() call began, and no EV_ENABLE since");
	}
}

static void *vn_scanner(void *arg)
{
	FIXTURE_DATA(vnode) *self = arg;
	struct timespec ts = { 0, 5 * NSEC_PER_MSEC };
	struct kevent ev[16];

	while (!atomic_load(&self->stop)) {
		long before = atomic_load(&self->clock);
		int n = kevent(self->kq, NULL, 0, ev, 16, &ts);

		atomic_fetch_add(&self->calls, 1);
		if (n < 0) {
			if (errno != EINTR)
				stress_fail(&self->bad, NULL, "kevent(): %s", strerrorname_np(errno));
			continue;
		}
		atomic_fetch_add(&self->events, n);
		for (int i = 0; i < n; i++)
			vn_check(self, &ev[i], before);
	}
	return NULL;
}

struct vn_slot {
	int fd;
	long gen;	/* 0: no knote */
	bool pipe;	/* a pipe was dup2()ed over it */
	bool disabled;
};

static long vn_tick(FIXTURE_DATA(vnode) *self)
{
	return atomic_fetch_add(&self->clock, 1) + 1;
}

/* The slot's knote is gone (EV_DELETE / close / dup2 returned). */
static void vn_gone(FIXTURE_DATA(vnode) *self, struct vn_slot *s)
{
	if (s->gen)
		atomic_store(&self->ring[s->gen % VN_RING].gone_at, vn_tick(self));
	s->gen = 0;
	s->disabled = false;
}

static int vn_open_slot(FIXTURE_DATA(vnode) *self, int i, uint64_t *rs)
{
	char p[128];
	int fd;

	vn_path(self, p, sizeof(p), "f%d", i);
	switch (rnd_below(rs, 4)) {
	case 0:
		fd = open(p, O_PATH | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		/* fall through: the name is gone for the moment */
	case 1:
		return open(p, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	case 2:
		return open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	default:
		return open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	}
}

static void vn_registrar(FIXTURE_DATA(vnode) *self, struct vn_slot *slots, int secs)
{
	uint64_t rs = rnd_seed(71);
	int64_t t0 = now_ns();

	/* The whole duration even after a violation: the races go on for the kernel-log check. */
	while (ms_since(t0) < secs * 1000LL) {
		int i = (int)rnd_below(&rs, VN_FILES), j = (int)rnd_below(&rs, VN_FILES), r;
		struct vn_slot *s = &slots[i];

		switch (rnd_below(&rs, 10)) {
		case 0: case 1: case 2: {	/* EV_ADD (a new generation) */
			long g;
			struct vn_gen *e;
			unsigned int mask = rnd_below(&rs, 4) ? rnd32(&rs) & VN_ALL : VN_ALL;

			if (s->gen)
				break;
			g = atomic_fetch_add(&self->gens, 1) + 1;
			e = &self->ring[g % VN_RING];
			e->fd = s->fd;
			e->mask = mask;
			atomic_store(&e->gone_at, 0);
			atomic_store(&e->disabled_at, 0);
			atomic_store(&e->enabled_at, 0);
			atomic_store(&e->gen, g);
			r = kq_ctl(self->kq, (uint64_t)s->fd, EVFILT_VNODE, EV_ADD, mask, 0, (uint64_t)g);
			if (s->pipe) {
				if (r != EINVAL)
					stress_fail(&self->bad_ops, NULL, "EV_ADD EVFILT_VNODE on a pipe: %s, "
						    "expected EINVAL", r ? strerrorname_np(r) : "success");
				else
					atomic_fetch_add(&self->einval_pipe, 1);
				if (!r)
					kq_ctl(self->kq, (uint64_t)s->fd, EVFILT_VNODE, EV_DELETE, 0, 0, 0);
				atomic_store(&e->gone_at, vn_tick(self));
				break;
			}
			if (r) {
				stress_fail(&self->bad_ops, NULL, "EV_ADD EVFILT_VNODE on fd %d (mask 0x%x, "
					    "fcntl(F_GETFL) 0x%x): %s", s->fd, mask, fcntl(s->fd, F_GETFL),
					    strerrorname_np(r));
				break;
			}
			s->gen = g;
			atomic_fetch_add(&self->adds, 1);
			break;
		}
		case 3: case 4:	/* EV_DELETE */
			if (!s->gen)
				break;
			r = kq_ctl(self->kq, (uint64_t)s->fd, EVFILT_VNODE, EV_DELETE, 0, 0, 0);
			if (r)
				stress_fail(&self->bad_ops, NULL, "EV_DELETE EVFILT_VNODE on fd %d: %s", s->fd,
					    strerrorname_np(r));
			vn_gone(self, s);
			atomic_fetch_add(&self->deletes, 1);
			break;
		case 5:	/* EV_DISABLE / EV_ENABLE */
			if (!s->gen)
				break;
			/*
			 * An enable counts from before the call (an event may come as soon as it
			 * takes effect), a disable from its return. Every change sets udata (as in
			 * FreeBSD): the same generation.
			 */
			if (s->disabled)
				atomic_store(&self->ring[s->gen % VN_RING].enabled_at, vn_tick(self));
			r = kq_ctl(self->kq, (uint64_t)s->fd, EVFILT_VNODE, s->disabled ? EV_ENABLE : EV_DISABLE,
				   0, 0, (uint64_t)s->gen);
			if (r)
				stress_fail(&self->bad_ops, NULL, "EV_ENABLE/EV_DISABLE on fd %d: %s", s->fd,
					    strerrorname_np(r));
			if (!s->disabled)
				atomic_store(&self->ring[s->gen % VN_RING].disabled_at, vn_tick(self));
			s->disabled = !s->disabled;
			break;
		case 6: case 7:	/* close (the knote goes with it) and open again */
			close(s->fd);
			vn_gone(self, s);
			s->pipe = false;
			s->fd = vn_open_slot(self, i, &rs);
			if (s->fd < 0) {
				stress_fail(&self->bad, NULL, "open: %s", strerrorname_np(errno));
				return;
			}
			atomic_fetch_add(&self->closes, 1);
			break;
		case 8: {	/* dup2() another file over this one */
			/*
			 * A new open of another slot's file, not that slot's descriptor: the
			 * module drops the knote of a closed descriptor whose file stays open
			 * elsewhere only lazily, and revives it if the same open file comes
			 * back on the same number (README: a documented difference), which a
			 * dup2() between slots would do.
			 */
			int nfd = vn_open_slot(self, j, &rs);

			if (nfd < 0 || dup2(nfd, s->fd) < 0) {
				stress_fail(&self->bad, NULL, "open/dup2: %s", strerrorname_np(errno));
				return;
			}
			close(nfd);
			vn_gone(self, s);
			s->pipe = false;
			atomic_fetch_add(&self->dup2s, 1);
			break;
		}
		default: {	/* dup2() a pipe over it: EVFILT_VNODE must refuse it */
			int p[2];

			if (pipe2(p, O_CLOEXEC) < 0 || dup2(p[0], s->fd) < 0) {
				stress_fail(&self->bad, NULL, "pipe/dup2: %s", strerrorname_np(errno));
				return;
			}
			close(p[0]);
			close(p[1]);
			vn_gone(self, s);
			s->pipe = true;
			atomic_fetch_add(&self->dup2s, 1);
			break;
		}
		}
		if (rnd_below(&rs, 4) == 0)
			spin(rnd_below(&rs, 20000));
	}
}

TEST_F_TIMEOUT(vnode, add_delete_close_while_files_change, FS_TIMEOUT)
{
	struct vn_slot slots[VN_FILES];
	pthread_t tw[2], ts[2];
	struct kevent ev[8];
	int dirfd, ctl, n, secs = fs_secs();
	uint64_t rs = rnd_seed(81);
	char p[128], knotes[512];
	int64_t t0 = now_ns();

	dirfd = open(self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dirfd);
	REQUIRE_FILTER(self->kq, dirfd, EVFILT_VNODE, NOTE_WRITE);
	ASSERT_OK(fd_add(self->kq, dirfd, EVFILT_VNODE, 0, NOTE_WRITE | NOTE_LINK | NOTE_ATTRIB, 0,
			 VN_UD_DIR));
	vn_path(self, p, sizeof(p), "quiet", 0);
	ctl = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_LE(0, ctl);
	ASSERT_OK(fd_add(self->kq, ctl, EVFILT_VNODE, 0, VN_ALL, 0, VN_UD_CTL));
	for (int i = 0; i < VN_FILES; i++) {
		slots[i] = (struct vn_slot){ .fd = vn_open_slot(self, i, &rs) };
		ASSERT_LE(0, slots[i].fd);
	}
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, pthread_create(&tw[i], NULL, vn_writer, self));
		ASSERT_EQ(0, pthread_create(&ts[i], NULL, vn_scanner, self));
	}
	vn_registrar(self, slots, secs);
	atomic_store(&self->writers_stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(tw[i], NULL);
	/* The slots' knotes go with their descriptors. */
	for (int i = 0; i < VN_FILES; i++) {
		close(slots[i].fd);
		vn_gone(self, &slots[i]);
	}
	sleep_ms(100);
	atomic_store(&self->stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(ts[i], NULL);
	stress_note("vnode: %lld ms, %ld writer ops, %ld EV_ADD, %ld EV_DELETE, %ld close, %ld dup2 "
		    "over (%ld EINVAL on a pipe), %ld kevent calls, %ld records, %ld directory writes",
		    (long long)ms_since(t0), atomic_load(&self->wops), atomic_load(&self->adds),
		    atomic_load(&self->deletes), atomic_load(&self->closes), atomic_load(&self->dup2s),
		    atomic_load(&self->einval_pipe), atomic_load(&self->calls),
		    atomic_load(&self->events), atomic_load(&self->dir_writes));
	EXPECT_EQ(0, STRESS_REPORT_AS(&self->bad_ops, "registrar's calls"));
	ASSERT_EQ(0, STRESS_REPORT_AS(&self->bad, "records"));
	EXPECT_LT(0, atomic_load(&self->dir_writes)) TH_LOG("the directory's knote never saw NOTE_WRITE");
	EXPECT_LT(0, atomic_load(&self->adds));

	/* Quiet now: drain the directory's knote, then exact answers. */
	while (kq_get(self->kq, ev, 8, 50) > 0)
		;
	read_knotes(self->kq, knotes, sizeof(knotes));
	stress_note("vnode: knotes left (the directory, the quiet file, closed O_PATH ones): %s",
		    knotes);
	ASSERT_EQ(6, pwrite(ctl, "quiet\n", 6, 0));
	n = kq_get(self->kq, ev, 8, 1000);
	ASSERT_EQ(1, n) TH_LOG("a write to the quiet file: %d records", n);
	EXPECT_EQ(VN_UD_CTL, UDV(ev[0]));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, ev[0].fflags);
	vn_path(self, p, sizeof(p), "new", 0);
	n = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_LE(0, n);
	close(n);
	n = kq_get(self->kq, ev, 8, 1000);
	ASSERT_LE(1, n) TH_LOG("a new entry in the directory: no record");
	EXPECT_EQ(VN_UD_DIR, UDV(ev[0]));
	EXPECT_TRUE(ev[0].fflags & NOTE_WRITE);
	close(ctl);
	close(dirfd);
	/*
	 * Nothing pending. (Knotes may remain registered: a closed O_PATH descriptor sends no
	 * close event, so its knote stays, inert, until its next report or change or the
	 * kqueue's close: the README's documented difference.)
	 */
	EXPECT_EQ(0, kq_poll(self->kq, ev, 8));
}

/* ===================================================================================== */
/* (f) EVFILT_PROCDESC: the pidfd closed while the child exits                             */
/* ===================================================================================== */

struct kq_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
		set_tid, set_tid_size, cgroup;
};

/* A child with a pidfd, by clone3(CLONE_PIDFD) or fork() + pidfd_open(). */
static pid_t kid_fork_pidfd(int code, uint32_t n, bool use_clone3, int *pidfd)
{
	pid_t pid;

	if (use_clone3) {
		struct kq_clone_args ca = { .flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)pidfd,
					    .exit_signal = SIGCHLD };

		pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
		if (pid == 0) {
			spin(n);
			syscall(SYS_exit_group, code);
		}
		if (pid > 0)
			fcntl(*pidfd, F_SETFD, FD_CLOEXEC);
		return pid;
	}
	pid = kid_fork(code, n);
	if (pid > 0)
		*pidfd = pidfd_open(pid);
	return pid;
}

/* self->kq and self->bad; alarm(FS_ALARM). */
KQ_FD_FIXTURE(procdesc, FS_ALARM, struct stress_bad bad;);

TEST_F_TIMEOUT(procdesc, close_pidfd_while_child_exits, FS_TIMEOUT)
{
	struct kids t;
	struct kid_scanner sc = { .t = &t };
	struct kevent left[4];
	char knotes[256];
	uint64_t rs = rnd_seed(91);
	int secs = fs_secs(), closes = 0, both = 0, clone3s = 0, probe;
	long deleted_reported;
	int64_t t0 = now_ns();

	probe = pidfd_open(getpid());
	ASSERT_LE(0, probe) TH_LOG("pidfd_open(): %s", strerror(errno));
	REQUIRE_FILTER(self->kq, probe, EVFILT_PROCDESC, NOTE_EXIT);
	close(probe);
	ASSERT_EQ(0, kids_init(&t, &self->bad, self->kq));
	ASSERT_EQ(0, pthread_create(&sc.th, NULL, kid_scanner_main, &sc));

	while (ms_since(t0) < secs * 1000LL && !atomic_load(&self->bad.count)) {
		int seq = atomic_load(&t.n), mode = (int)rnd_below(&rs, 3), code = (seq % 120) + 1, r;
		bool also_proc = rnd_below(&rs, 2), use_clone3 = rnd_below(&rs, 2);
		struct kid *k = &t.k[seq];
		int fd = -1;

		if (seq >= KIDS_MAX - 1)
			break;
		if (!kids_wait(&t, KIDS_OUTSTANDING, 10000)) {
			kids_report_stuck(&t, "procdesc");
			break;
		}
		k->expect = code << 8;
		atomic_store(&k->pending, also_proc ? 2 : 1);
		k->pid = kid_fork_pidfd(code, rnd_below(&rs, 4) ? rnd_below(&rs, 40000) : 0, use_clone3, &fd);
		if (k->pid < 0 || fd < 0) {
			stress_fail(&self->bad, NULL, "%s: %s", use_clone3 ? "clone3(CLONE_PIDFD)" :
				    k->pid < 0 ? "fork()" : "pidfd_open()", strerrorname_np(errno));
			break;
		}
		clone3s += use_clone3;
		k->reg[1].fd = fd;
		k->reg[1].scanner_closes = mode == 2;
		atomic_fetch_add(&t.outstanding, 1);
		atomic_store(&t.n, seq + 1);
		atomic_store(&k->reg[1].state, REG_LIVE);
		if (also_proc) {
			atomic_store(&k->reg[0].state, REG_LIVE);
			r = kq_ctl(self->kq, (uint64_t)k->pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
				   (uint64_t)seq << 1);
			if (r) {
				atomic_store(&k->reg[0].state, REG_NONE);
				stress_fail(&self->bad, NULL, "EV_ADD EVFILT_PROC of child %d: %s",
					    (int)k->pid, strerrorname_np(r));
				kid_resolve(&t, k, 0);
			}
			both++;
		}
		r = kq_ctl(self->kq, (uint64_t)fd, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT, 0,
			   (uint64_t)seq << 1 | 1);
		if (r) {
			atomic_store(&k->reg[1].state, REG_NONE);
			stress_fail(&self->bad, NULL, "EV_ADD EVFILT_PROCDESC of child %d's pidfd: %s",
				    (int)k->pid, strerrorname_np(r));
			close(fd);
			kid_resolve(&t, k, 1);
			continue;
		}
		if (mode == 2)
			continue;	/* the scanner closes the pidfd after the event */
		if (mode == 1)
			spin(rnd_below(&rs, 40000));
		/* the report may come first: then the scanner leaves the descriptor to us */
		r = close(fd) ? errno : 0;
		kid_gone(&t, k, 1, r);
		closes++;
	}
	if (!kids_wait(&t, 0, 10000))
		kids_report_stuck(&t, "procdesc, at the end");
	atomic_store(&sc.stop, true);
	pthread_join(sc.th, NULL);
	kids_final(&t, &deleted_reported);
	stress_note("procdesc: %lld ms, %d children (%d by clone3), %d also with EVFILT_PROC, %d "
		    "pidfds closed racing the exit (%ld of those reported by a call that began "
		    "earlier), %ld NOTE_EXIT, %ld scans", (long long)ms_since(t0), atomic_load(&t.n),
		    clone3s, both, closes, deleted_reported, atomic_load(&t.reports),
		    atomic_load(&sc.calls));
	ASSERT_EQ(0, STRESS_REPORT(&self->bad));
	EXPECT_EQ(0, kq_poll(self->kq, left, 4));
	read_knotes(self->kq, knotes, sizeof(knotes));
	EXPECT_STREQ("", knotes) TH_LOG("knotes left after every child was reaped");
	EXPECT_LT(0, atomic_load(&t.n));
}

TEST_HARNESS_MAIN
