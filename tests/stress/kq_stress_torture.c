// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The torture test: everything at once, for KQ_TORTURE_SECS seconds (default
 * 60), split between two variants: one_kqueue (every shared role works on one
 * kqueue K, plus the two kqueues A and B of the cycles) and three_kqueues (K0,
 * K1, K2, A, B). 17 threads (plus transient ones) on the VM's 4 vCPUs:
 *
 *  - 4 token-ring players, each waiting on its own kqueue (two of them through
 *    an inner kqueue: pipe -> inner kqueue -> outer kqueue), passing 2 tokens
 *    round through pipes;
 *  - 5 scanners of the shared kqueues (random event-list sizes and timeouts);
 *  - 2 mutators: random batches of EV_ADD (level, EV_CLEAR, EV_ONESHOT,
 *    EV_DISPATCH, EV_DISABLE, EV_KEEPUDATA) / EV_DELETE / EV_ENABLE /
 *    EV_DISABLE / EV_FORCEONESHOT / NOTE_TRIGGER on a pool of descriptors and
 *    on EVFILT_USER events, some with EV_RECEIPT;
 *  - a descriptor churner: close() and re-create pool entries (pipes,
 *    socketpairs, regular files in /tmp) so that numbers are reused, dup2()
 *    one entry over another, write, read, ftruncate(), lseek(), shutdown();
 *  - a timer storm: EVFILT_TIMER add/delete/disable/enable, periods of 1 ms
 *    and 100 us, one-shot, dispatch, NOTE_ABSTIME in the past;
 *  - a triggerer of EV_CLEAR user events, and EV_ONESHOT / EV_DISPATCH user
 *    events fired again by whichever thread receives them;
 *  - a toggler of the kqueue-in-kqueue edges: A watches B, B watches A (the
 *    cycle A<->B), A watches the shared kqueues, K0 watches B;
 *  - a kqueue closer: a new kqueue with knotes (sometimes watched by A) and two
 *    threads blocked in kevent() on it (one without timeout), closed under them;
 *  - a forker: children that must get EBADF from kevent() on every inherited
 *    kqueue (and whose close() of their copies must not disturb the parent),
 *    and children that build two kqueues in a cycle with many knotes (pipes,
 *    sockets, a file, user events, timers, inherited descriptors, a parent's
 *    kqueue), start threads inside kevent() and _exit() without closing.
 *
 * Invariants, checked, not just survival:
 *  (a) no lost wake-up: the tokens keep moving; a player that waits 5 s, or a
 *      ring that makes no hop for 5 s, fails the case;
 *  (b) exactly-once: every firing of an EV_ONESHOT / EV_DISPATCH user event
 *      carries a sequence number (NOTE_FFCOPY) and is received exactly once,
 *      in order; firings == receptions at the end;
 *  (c) every record is well-formed: a known filter, no action flag, the
 *      udata of its knote (tag, kqueue, ident), sane data; EV_ERROR only in
 *      answer to changes (matching them in order: a receipt for every
 *      EV_RECEIPT, an expected errno for every failure), never mixed with
 *      events;
 *  (d) counts add up: EV_CLEAR user triggers carry a sequence number; none is
 *      received twice or before it was triggered, and after a final drain the
 *      last trigger of every event has been received;
 *  and close(kq) wakes its waiters (EBADF within 5 s), fork children exit 0,
 *  and after the run, once the descriptors are closed and the remaining
 *  knotes deleted, every kqueue drains to empty.
 * The counts are printed as "# torture(<variant>): <secs> s, <N> kevent calls, ...".
 */
#include "kq_stress_common.h"

#include <sys/socket.h>
#include <sys/syscall.h>

#define T_DEFAULT_SECS 60

static int torture_secs(void)
{
	return env_secs("KQ_TORTURE_SECS", T_DEFAULT_SECS);
}

/* Each of the two variants runs half of the time. */
static int variant_secs(void)
{
	int s = torture_secs() / 2;

	return s > 0 ? s : 1;
}

/* The kqueues every shared role uses, by slot (in one_kqueue, K0 = K1 = K2). */
enum { S_K0, S_K1, S_K2, S_A, S_B, S_N };
#define S_SHARED 3
#define ONCE_SLOT S_K1
#define CLEAR_SLOT S_K0
#define TIMER_SLOT S_K2

/* udata: tag << 56 | kqueue slot << 48 | payload (ident or index). */
enum { TAG_POOL = 1, TAG_CUSER, TAG_TIMER, TAG_ONCE, TAG_CLEAR, TAG_KQ, TAG_PROC, TAG_SIG, TAG_VNODE };
/* (e) process, signal and vnode events: on which kqueue slots */
#define PROC_SLOT S_K1
#define SIG_SLOT S_K2
#define VNODE_SLOT S_K0
#define PID_SEEN (1 << 22)	/* > pid_max */
#define PAYLOAD_MASK ((1ULL << 48) - 1)

static uint64_t ud_make(int tag, int slot, uint64_t payload)
{
	return (uint64_t)tag << 56 | (uint64_t)slot << 48 | (payload & PAYLOAD_MASK);
}

#define POOL 24
#define CUSER_BASE 2000		/* chaos user events */
#define CUSER_N 32
#define ONCE_BASE 3000		/* (b): even: EV_ONESHOT, odd: EV_DISPATCH | EV_CLEAR */
#define ONCE_N 16
#define CLEAR_BASE 4000		/* (d): EV_CLEAR, triggered with a sequence number */
#define CLEAR_N 8
#define CLEAR_SEQ_MAX (1u << 20)
#define TIMER_N 16
#define RING_N 4
#define RING_TOKENS 2
#define STALL_MS 5000
#define EDGES 6

enum ptype { P_PIPE_R, P_PIPE_W, P_SOCK, P_FILE, P_DUP, P_TYPES };

/* A pool entry: only the churner changes it; everybody else reads the numbers racily. */
struct pslot {
	atomic_int fd;		/* the descriptor knotes are put on */
	atomic_int peer;	/* the other end (pipe, socket), a second open of the file, or -1 */
	atomic_int type;
};

struct torture;

struct player {
	struct torture *t;
	int in, out;		/* read from in, write to out */
	bool nested;		/* in -> inner kqueue -> outer kqueue */
	unsigned int flags;
	int kq, inner;
	long hops;
	int lost, err;
	/* when it timed out: bytes waiting in its pipe, and its kqueue(s) as fdinfo shows them */
	int stuck_bytes;
	char fdinfo[2][256];
};

/* Kinds of violation, counted and reported apart (one does not hide another). */
enum { B_RING, B_ONCE, B_RECORD, B_CLEAR, B_CLOSE, B_FORK, B_ERRNO, B_PROC, B_N };

static const char *const bad_name[B_N] = {
	"(a) lost wake-up in the token ring", "(b) exactly-once delivery", "(c) malformed records",
	"(d) EV_CLEAR counts", "close(kq) with waiters", "fork() and exit() children",
	"unexpected errors of system calls", "(e) process, signal and vnode events",
};

struct edge {
	int watcher;		/* kqueue slot */
	int watched;		/* kqueue slot */
};

struct torture {
	const char *name;
	int kq[S_N];
	int nedges;
	struct edge edge[EDGES];
	struct pslot pool[POOL];
	atomic_bool stop, stop_rearm, ring_stop;
	/* (b) */
	atomic_uint once_next[ONCE_N];
	atomic_long once_fired[ONCE_N], once_got[ONCE_N];
	/* (d) */
	atomic_long clear_trig[CLEAR_N], clear_got[CLEAR_N], clear_max[CLEAR_N];
	atomic_ulong *clear_bits;
	/* (a) */
	struct player ring[RING_N];
	int ring_p[RING_N][2];
	atomic_long hops;
	/* counts */
	atomic_long calls, events, closes, forks, exits, kq_closes, timer_ops, changes, receipts,
		toggles, churn_ops;
	/* (e) */
	atomic_uchar *exit_seen;	/* by pid: NOTE_EXITs received */
	atomic_uchar *watched;		/* by pid: 1 registered by the proc worker, 2 tracked (NOTE_CHILD) */
	atomic_long proc_children, proc_exits, proc_tracked, sig_sent, sig_got, vnode_events;
	struct stress_bad bad[B_N];	/* the first violation of each kind, and counts */
};

static const struct timespec zero_ts = { 0, 0 };

/* ---- (b) exactly-once user events -------------------------------------------------------- */

static void once_fire(struct torture *t, int i, unsigned int seq, bool first)
{
	uint64_t id = ONCE_BASE + i, ud = ud_make(TAG_ONCE, ONCE_SLOT, i);
	unsigned int trig = NOTE_TRIGGER | NOTE_FFCOPY | (seq & NOTE_FFLAGSMASK);
	struct kevent ch[2];

	atomic_fetch_add(&t->once_fired[i], 1);
	if (i & 1) {
		int alt = !first && (seq & 1);	/* enable before or after the trigger */

		EV_SET(&ch[alt], id, EVFILT_USER, first ? EV_ADD | EV_DISPATCH | EV_CLEAR : EV_ENABLE,
		       0, 0, UD(ud));
		EV_SET(&ch[!alt], id, EVFILT_USER, 0, trig, 0, UD(ud));
	} else {
		EV_SET(&ch[0], id, EVFILT_USER, EV_ADD | EV_ONESHOT, 0, 0, UD(ud));
		EV_SET(&ch[1], id, EVFILT_USER, 0, trig, 0, UD(ud));
	}
	if (kevent(t->kq[ONCE_SLOT], ch, 2, NULL, 0, &zero_ts) != 0)
		stress_fail(&t->bad[B_ONCE], NULL, "(b) firing %u of user event %llu: %s", seq,
			    (unsigned long long)id, strerrorname_np(errno));
}

static void once_receive(struct torture *t, const struct kevent *ev, uint64_t i)
{
	unsigned int seq = ev->fflags & NOTE_FFLAGSMASK, cur;

	if (i >= ONCE_N || ev->filter != EVFILT_USER || ev->ident != ONCE_BASE + i) {
		stress_fail(&t->bad[B_RECORD], ev, "(c) malformed exactly-once record");
		return;
	}
	cur = atomic_load(&t->once_next[i]);
	if (seq != cur || !atomic_compare_exchange_strong(&t->once_next[i], &cur, seq + 1)) {
		stress_fail(&t->bad[B_ONCE], ev, "(b) user event %llu: received firing %u, expected %u "
			    "(received twice, or stale)", (unsigned long long)ev->ident, seq, cur);
		return;
	}
	atomic_fetch_add(&t->once_got[i], 1);
	if (!atomic_load(&t->stop_rearm))
		once_fire(t, (int)i, seq + 1, false);
}

/* ---- (d) EV_CLEAR user events with sequence numbers -------------------------------------- */

static void clear_receive(struct torture *t, const struct kevent *ev, uint64_t i)
{
	unsigned int seq = ev->fflags & NOTE_FFLAGSMASK;
	uint64_t bit;
	unsigned long old;
	long max;

	if (i >= CLEAR_N || ev->filter != EVFILT_USER || ev->ident != CLEAR_BASE + i) {
		stress_fail(&t->bad[B_RECORD], ev, "(c) malformed EV_CLEAR record");
		return;
	}
	if (seq == 0 || seq >= CLEAR_SEQ_MAX || seq > atomic_load(&t->clear_trig[i])) {
		stress_fail(&t->bad[B_CLEAR], ev, "(d) user event %llu: trigger %u received, but only %ld made",
			    (unsigned long long)ev->ident, seq, (long)atomic_load(&t->clear_trig[i]));
		return;
	}
	bit = i * CLEAR_SEQ_MAX + seq;
	old = atomic_fetch_or(&t->clear_bits[bit / 64], 1UL << (bit % 64));
	if (old & (1UL << (bit % 64)))
		stress_fail(&t->bad[B_CLEAR], ev, "(d) user event %llu: trigger %u received twice",
			    (unsigned long long)ev->ident, seq);
	atomic_fetch_add(&t->clear_got[i], 1);
	max = atomic_load(&t->clear_max[i]);
	while (seq > max && !atomic_compare_exchange_weak(&t->clear_max[i], &max, seq))
		;
}

/* ---- (e) process events --------------------------------------------------------------------- */

/*
 * A NOTE_EXIT arrives exactly once per watched process, with the status it exited with (its pid
 * & 0x3f); a tracked grandchild announces itself with NOTE_CHILD and its parent's pid first.
 */
static void proc_receive(struct torture *t, const struct kevent *ev)
{
	pid_t pid = (pid_t)ev->ident;
	unsigned int seen;

	if (ev->filter != EVFILT_PROC || pid <= 0 || pid >= PID_SEEN ||
	    (ev->fflags & ~(NOTE_EXIT | NOTE_FORK | NOTE_CHILD)) || !ev->fflags) {
		stress_fail(&t->bad[B_PROC], ev, "(e) malformed process record");
		return;
	}
	if (ev->fflags & NOTE_CHILD) {
		atomic_store(&t->watched[pid], 2);
		atomic_fetch_add(&t->proc_tracked, 1);
		if (ev->data <= 0)
			stress_fail(&t->bad[B_PROC], ev, "(e) NOTE_CHILD without the parent's pid");
	}
	if (!(ev->fflags & NOTE_EXIT))
		return;
	if ((ev->flags & (EV_EOF | EV_ONESHOT)) != (EV_EOF | EV_ONESHOT) || !WIFEXITED(ev->data) ||
	    WEXITSTATUS(ev->data) != (pid & 0x3f))
		stress_fail(&t->bad[B_PROC], ev, "(e) NOTE_EXIT of pid %d: wrong flags or status (want exit %d)",
			    pid, pid & 0x3f);
	seen = atomic_fetch_add(&t->exit_seen[pid], 1);
	if (seen)
		stress_fail(&t->bad[B_PROC], ev, "(e) NOTE_EXIT of pid %d reported %u times", pid, seen + 1);
	atomic_fetch_add(&t->proc_exits, 1);
}

/* ---- (c) every returned event ------------------------------------------------------------- */

static void t_event(struct torture *t, int slot, const struct kevent *ev)
{
	uint64_t ud = UDV(*ev), pay = ud & PAYLOAD_MASK;
	int tag = (int)(ud >> 56), s = (int)((ud >> 48) & 0xff);
	bool ok = true;

	if (ev->flags & (KQ_ACTION_FLAGS | EV_ERROR)) {
		stress_fail(&t->bad[B_RECORD], ev, "(c) event with action or EV_ERROR flags from kqueue slot %d", slot);
		return;
	}
	if (s >= S_N || t->kq[s] != t->kq[slot]) {
		stress_fail(&t->bad[B_RECORD], ev, "(c) kqueue slot %d returned a record with the udata of "
			    "another kqueue (or garbage)", slot);
		return;
	}
	switch (tag) {
	case TAG_POOL:
		ok = ev->ident == pay &&
		     (ev->filter == EVFILT_WRITE || ev->filter == EVFILT_EMPTY ||
		      (ev->filter == EVFILT_READ && (ev->data != 0 || (ev->flags & EV_EOF))));
		break;
	case TAG_CUSER:
		ok = ev->filter == EVFILT_USER && ev->ident == pay && pay - CUSER_BASE < CUSER_N;
		break;
	case TAG_TIMER:
		ok = ev->filter == EVFILT_TIMER && ev->ident == pay && pay < TIMER_N && ev->data >= 1;
		break;
	case TAG_ONCE:
		once_receive(t, ev, pay);
		break;
	case TAG_CLEAR:
		clear_receive(t, ev, pay);
		break;
	case TAG_KQ:
		ok = ev->filter == EVFILT_READ && ev->ident == pay && ev->data >= 1;
		break;
	case TAG_PROC:
		proc_receive(t, ev);
		break;
	case TAG_SIG:
		ok = ev->filter == EVFILT_SIGNAL && ev->ident == SIGUSR2 && ev->data >= 1 && (ev->flags & EV_CLEAR);
		if (ok)
			atomic_fetch_add(&t->sig_got, ev->data);
		break;
	case TAG_VNODE:
		ok = ev->filter == EVFILT_VNODE && ev->fflags && !(ev->fflags & ~(NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB));
		atomic_fetch_add(&t->vnode_events, 1);
		break;
	default:
		ok = false;
	}
	if (!ok)
		stress_fail(&t->bad[B_RECORD], ev, "(c) malformed record (tag %d) from kqueue slot %d", tag, slot);
}

static long scan_into(struct torture *t, int slot, int nevents, const struct timespec *ts)
{
	struct kevent ev[64];
	int n = kevent(t->kq[slot], NULL, 0, ev, nevents, ts);

	if (n < 0) {
		stress_fail(&t->bad[B_ERRNO], NULL, "kevent() on kqueue slot %d: %s", slot, strerrorname_np(errno));
		return -1;
	}
	for (int k = 0; k < n; k++)
		t_event(t, slot, &ev[k]);
	return n;
}

/* ---- workers ------------------------------------------------------------------------------ */

struct worker {
	struct torture *t;
	int id;
	uint64_t rs;
	long calls, events;
	pthread_t th;
};

static void *scanner_fn(void *arg)
{
	struct worker *w = arg;
	struct torture *t = w->t;
	static const int sizes[] = { 1, 4, 16, 64 };
	static const long ns[] = { 0, 0, NSEC_PER_MSEC, 10 * NSEC_PER_MSEC };

	while (!atomic_load(&t->stop)) {
		/* scanner 3 is a second one on the (b) kqueue; scanner 4 does A and B */
		int slot = w->id < S_SHARED ? w->id : w->id == 3 ? ONCE_SLOT : S_A + (int)(w->calls & 1);
		struct timespec ts = ts_ns(ns[rnd_below(&w->rs, 4)]);
		long n = scan_into(t, slot, sizes[rnd_below(&w->rs, 4)], &ts);

		w->calls++;
		if (n < 0)
			break;
		w->events += n;
	}
	return NULL;
}

enum { A_ENOENT = 1, A_EBADF = 2, A_EINVAL = 4, A_EPIPE = 8 };

static bool errno_allowed(int64_t e, unsigned int mask)
{
	return (e == ENOENT && (mask & A_ENOENT)) || (e == EBADF && (mask & A_EBADF)) ||
	       (e == EINVAL && (mask & A_EINVAL)) || (e == EPIPE && (mask & A_EPIPE));
}

static const unsigned int add_flags[] = {
	0, 0, EV_CLEAR, EV_ONESHOT, EV_DISPATCH, EV_CLEAR | EV_DISPATCH, EV_DISABLE, EV_ONESHOT | EV_CLEAR,
};

/* One random change on kqueue slot `slot`; *allowed = the errnos it may fail with. */
static void gen_change(struct torture *t, uint64_t *rs, int slot, struct kevent *ch, unsigned int *allowed)
{
	uint32_t r = rnd_below(rs, 10), op = rnd_below(rs, 8);
	unsigned int fl = add_flags[rnd_below(rs, 8)];

	if (r < 6) {		/* a pool descriptor */
		struct pslot *p = &t->pool[rnd_below(rs, POOL)];
		int fd = atomic_load(rnd_below(rs, 4) ? &p->fd : &p->peer);
		int filter = rnd_below(rs, 10) == 0 ? EVFILT_EMPTY : rnd_below(rs, 2) ? EVFILT_READ : EVFILT_WRITE;
		unsigned int flags;

		if (fd < 0)
			fd = 1000;	/* not open: EBADF */
		switch (op) {
		case 0: case 1: case 2: case 3:
			flags = EV_ADD | fl;
			*allowed = A_EBADF | A_EINVAL | A_EPIPE;
			break;
		case 4:
			flags = EV_ADD | EV_KEEPUDATA;	/* EINVAL on a new knote */
			*allowed = A_EBADF | A_EINVAL | A_EPIPE;
			break;
		case 5:
			flags = EV_DELETE;
			*allowed = A_ENOENT | A_EBADF;
			break;
		case 6:
			flags = EV_ENABLE;
			*allowed = A_ENOENT | A_EBADF;
			break;
		default:
			flags = EV_DISABLE;
			*allowed = A_ENOENT | A_EBADF;
			break;
		}
		/* EINVAL: EVFILT_EMPTY on a non-socket, EVFILT_WRITE on a kqueue (a reused number) */
		*allowed |= A_EINVAL;
		EV_SET(ch, fd, filter, flags, 0, 0, UD(ud_make(TAG_POOL, slot, (uint64_t)fd)));
	} else {		/* a chaos user event */
		uint64_t id = CUSER_BASE + rnd_below(rs, CUSER_N);
		unsigned int flags = 0, fflags = 0;

		switch (op) {
		case 0: case 1:
			flags = EV_ADD | fl;
			*allowed = 0;
			break;
		case 2:
			flags = EV_ADD | EV_KEEPUDATA;
			*allowed = A_EINVAL;
			break;
		case 3: case 4:
			fflags = NOTE_TRIGGER | NOTE_FFOR | rnd_below(rs, 256);
			*allowed = A_ENOENT;
			break;
		case 5:
			flags = EV_DELETE;
			*allowed = A_ENOENT;
			break;
		case 6:
			flags = rnd_below(rs, 2) ? EV_ENABLE : EV_DISABLE;
			*allowed = A_ENOENT;
			break;
		default:
			flags = EV_FORCEONESHOT;
			*allowed = A_ENOENT;
			break;
		}
		EV_SET(ch, id, EVFILT_USER, flags, fflags, 0, UD(ud_make(TAG_CUSER, slot, id)));
	}
	if (rnd_below(rs, 4) == 0)
		ch->flags |= EV_RECEIPT;
}

/* (c) the answer of kevent() to a batch of changes. */
static void check_answer(struct torture *t, int slot, const struct kevent *ch, const unsigned int *allowed,
			 int m, const struct kevent *ev, int n, int err)
{
	bool receipts = false;
	int c = 0;

	for (int k = 0; k < m; k++)
		receipts |= !!(ch[k].flags & EV_RECEIPT);
	if (n < 0) {
		stress_fail(&t->bad[B_ERRNO], &ch[0], "kevent() with %d changes and room for 8 records: %s", m,
			    strerrorname_np(err));
		return;
	}
	if (n == 0 || !(ev[0].flags & EV_ERROR)) {
		/* No change record: every change succeeded and none asked for a receipt. */
		if (receipts)
			stress_fail(&t->bad[B_RECORD], &ch[0], "(c) EV_RECEIPT asked, %d records without EV_ERROR", n);
		for (int k = 0; k < n; k++)
			t_event(t, slot, &ev[k]);
		return;
	}
	for (int k = 0; k < n; k++) {
		if (ev[k].flags != EV_ERROR) {
			stress_fail(&t->bad[B_RECORD], &ev[k], "(c) change records mixed with other records");
			return;
		}
		while (c < m && !(ch[c].ident == ev[k].ident && ch[c].filter == ev[k].filter)) {
			if (ch[c].flags & EV_RECEIPT)
				stress_fail(&t->bad[B_RECORD], &ch[c], "(c) no receipt for change %d of %d", c, m);
			c++;
		}
		if (c == m) {
			stress_fail(&t->bad[B_RECORD], &ev[k], "(c) an EV_ERROR record that answers no change");
			return;
		}
		if (UDV(ev[k]) != UDV(ch[c]))
			stress_fail(&t->bad[B_RECORD], &ev[k], "(c) EV_ERROR record does not echo its change's udata");
		if (ev[k].data == 0 ? !(ch[c].flags & EV_RECEIPT) : !errno_allowed(ev[k].data, allowed[c]))
			stress_fail(&t->bad[B_RECORD], &ev[k], "(c) change flags 0x%x fflags 0x%x answered with "
				    "data %lld", ch[c].flags, ch[c].fflags, (long long)ev[k].data);
		atomic_fetch_add(&t->receipts, ev[k].data == 0);
		c++;
	}
	for (; c < m; c++)
		if (ch[c].flags & EV_RECEIPT)
			stress_fail(&t->bad[B_RECORD], &ch[c], "(c) no receipt for change %d of %d", c, m);
}

static void *mutator_fn(void *arg)
{
	struct worker *w = arg;
	struct torture *t = w->t;

	while (!atomic_load(&t->stop)) {
		struct kevent ch[4], ev[8];
		unsigned int allowed[4];
		int slot = (int)rnd_below(&w->rs, S_SHARED), want = 1 + (int)rnd_below(&w->rs, 4), m = 0, n;

		for (int k = 0; k < want; k++) {
			bool dup = false;

			gen_change(t, &w->rs, slot, &ch[m], &allowed[m]);
			for (int j = 0; j < m; j++)	/* distinct (ident, filter): records match unambiguously */
				dup |= ch[j].ident == ch[m].ident && ch[j].filter == ch[m].filter;
			m += !dup;
		}
		n = kevent(t->kq[slot], ch, m, ev, 8, &zero_ts);
		check_answer(t, slot, ch, allowed, m, ev, n, errno);
		w->calls++;
		w->events += n > 0 ? n : 0;
		atomic_fetch_add(&t->changes, m);
	}
	return NULL;
}

/* ---- the descriptor pool ---------------------------------------------------------------- */

/* Open a new object of `type` (not P_DUP) into fd/peer. 0 or -1. */
static int pool_open(int type, int *fd, int *peer, uint64_t *rs)
{
	int p[2];

	switch (type) {
	case P_PIPE_R:
	case P_PIPE_W:
		if (pipe2(p, O_NONBLOCK) < 0)
			return -1;
		*fd = p[type == P_PIPE_W];
		*peer = p[type == P_PIPE_R];
		if (rnd_below(rs, 2))
			put(p[1], 1 + rnd_below(rs, 100));
		return 0;
	case P_SOCK:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p) < 0)
			return -1;
		*fd = p[0];
		*peer = p[1];
		return 0;
	default: {
		char path[] = "/tmp/kq_stress_file.XXXXXX";

		*fd = mkstemp(path);
		if (*fd < 0)
			return -1;
		*peer = open(path, O_RDWR);
		unlink(path);
		put(*fd, rnd_below(rs, 20));
		lseek(*fd, rnd_below(rs, 20), SEEK_SET);
		return *peer < 0 ? -1 : 0;
	}
	}
}

static void pool_close(struct torture *t, struct pslot *p)
{
	int fd = atomic_exchange(&p->fd, -1), peer = atomic_exchange(&p->peer, -1);

	if (fd >= 0 && close(fd) == 0)
		atomic_fetch_add(&t->closes, 1);
	if (peer >= 0 && close(peer) == 0)
		atomic_fetch_add(&t->closes, 1);
}

static int pool_fill(struct torture *t, struct pslot *p, int type, uint64_t *rs)
{
	int fd, peer;

	if (pool_open(type, &fd, &peer, rs) < 0)
		return -1;
	atomic_store(&p->type, type);
	atomic_store(&p->peer, peer);
	atomic_store(&p->fd, fd);
	return 0;
}

static void *churner_fn(void *arg)
{
	struct worker *w = arg;
	struct torture *t = w->t;
	char buf[256];

	memset(buf, 'c', sizeof(buf));
	while (!atomic_load(&t->stop)) {
		int i = (int)rnd_below(&w->rs, POOL), j = (int)rnd_below(&w->rs, POOL);
		struct pslot *p = &t->pool[i];
		int fd = atomic_load(&p->fd), peer = atomic_load(&p->peer), type = atomic_load(&p->type);
		int wr = type == P_PIPE_R || type == P_SOCK ? peer : fd;	/* the end to write */
		int rd = type == P_PIPE_W ? peer : fd;				/* the end to read */

		switch (rnd_below(&w->rs, 12)) {
		case 0:
		case 1:		/* close and re-create: the new object likely gets the same numbers */
			pool_close(t, p);
			if (pool_fill(t, p, (int)rnd_below(&w->rs, P_DUP), &w->rs) < 0)
				stress_fail(&t->bad[B_ERRNO], NULL, "pool: cannot open: %s", strerrorname_np(errno));
			break;
		case 2:		/* dup2() another entry's descriptor over this one's */
			if (i == j || fd < 0 || atomic_load(&t->pool[j].fd) < 0)
				break;
			if (dup2(atomic_load(&t->pool[j].fd), fd) == fd) {
				atomic_fetch_add(&t->closes, 1);
				atomic_store(&p->type, P_DUP);
				if (peer >= 0 && close(atomic_exchange(&p->peer, -1)) == 0)
					atomic_fetch_add(&t->closes, 1);
			}
			break;
		case 3: case 4: case 5: case 6:
			if (wr >= 0)
				(void)!write(wr, buf, 1 + rnd_below(&w->rs, sizeof(buf)));
			break;
		case 7: case 8: case 9:
			if (rd >= 0)
				(void)!read(rd, buf, 1 + rnd_below(&w->rs, sizeof(buf)));
			break;
		case 10:
			if (type == P_FILE)
				(void)!ftruncate(peer, rnd_below(&w->rs, 64));
			else if (type == P_SOCK && rnd_below(&w->rs, 8) == 0)
				shutdown(rnd_below(&w->rs, 2) ? fd : peer, SHUT_WR);
			break;
		default:
			if (type == P_FILE)
				lseek(fd, rnd_below(&w->rs, 64), SEEK_SET);
			break;
		}
		atomic_fetch_add(&t->churn_ops, 1);
		if (rnd_below(&w->rs, 64) == 0)
			sleep_ms(1);
	}
	return NULL;
}

/* ---- timers, EV_CLEAR triggers, kqueue edges -------------------------------------------------- */

static void *timer_fn(void *arg)
{
	struct worker *w = arg;
	struct torture *t = w->t;
	static const unsigned int tfl[] = { 0, EV_ONESHOT, EV_DISPATCH, EV_CLEAR };

	while (!atomic_load(&t->stop)) {
		uint64_t id = rnd_below(&w->rs, TIMER_N), ud = ud_make(TAG_TIMER, TIMER_SLOT, id);
		unsigned int fl = tfl[rnd_below(&w->rs, 4)], flags, fflags = 0, allowed = 0;
		int64_t data = 0;
		int r;

		switch (rnd_below(&w->rs, 8)) {
		case 0: case 1:
			flags = EV_ADD | fl, fflags = NOTE_MSECONDS, data = 1;
			break;
		case 2: case 3:
			flags = EV_ADD | fl, fflags = NOTE_USECONDS, data = 100;
			break;
		case 4:		/* absolute, in the past: fires at once */
			flags = EV_ADD | EV_ONESHOT, fflags = NOTE_SECONDS | NOTE_ABSTIME, data = 1;
			break;
		case 5:
			flags = EV_DELETE, allowed = A_ENOENT;
			break;
		case 6:
			flags = EV_DISABLE, allowed = A_ENOENT;
			break;
		default:
			flags = EV_ENABLE, allowed = A_ENOENT;
			break;
		}
		r = kq_ctl(t->kq[TIMER_SLOT], id, EVFILT_TIMER, flags, fflags, data, ud);
		if (r && !errno_allowed(r, allowed))
			stress_fail(&t->bad[B_ERRNO], NULL, "timer %llu flags 0x%x fflags 0x%x: %s",
				    (unsigned long long)id, flags, fflags, r > 0 ? strerrorname_np(r) : "events?");
		w->calls++;
		atomic_fetch_add(&t->timer_ops, 1);
		if (rnd_below(&w->rs, 32) == 0)
			sleep_ms(1);
	}
	return NULL;
}

static void *clear_trigger_fn(void *arg)
{
	struct worker *w = arg;
	struct torture *t = w->t;

	while (!atomic_load(&t->stop)) {
		int i = (int)rnd_below(&w->rs, CLEAR_N);
		long seq = atomic_load(&t->clear_trig[i]) + 1;
		int r;

		if (seq >= CLEAR_SEQ_MAX)
			continue;
		/* counted before it is made: a reception never runs ahead of the count */
		atomic_store(&t->clear_trig[i], seq);
		/* the change's udata replaces the knote's (FreeBSD): pass the same */
		r = kq_ctl(t->kq[CLEAR_SLOT], CLEAR_BASE + i, EVFILT_USER, 0,
			   NOTE_TRIGGER | NOTE_FFCOPY | (unsigned int)seq, 0,
			   ud_make(TAG_CLEAR, CLEAR_SLOT, i));
		if (r)
			stress_fail(&t->bad[B_CLEAR], NULL, "(d) trigger %ld of user event %d: %s", seq,
				    CLEAR_BASE + i, r > 0 ? strerrorname_np(r) : "events?");
		w->calls++;
		if (rnd_below(&w->rs, 4) == 0)
			sched_yield();
	}
	return NULL;
}

static int edge_change(struct torture *t, const struct edge *e, unsigned int flags)
{
	int watched = t->kq[e->watched];

	return kq_ctl(t->kq[e->watcher], watched, EVFILT_READ, flags, 0, 0,
		      ud_make(TAG_KQ, e->watcher, watched));
}

static void *toggler_fn(void *arg)
{
	struct worker *w = arg;
	struct torture *t = w->t;
	static const unsigned int efl[] = {
		EV_ADD, EV_ADD | EV_CLEAR, EV_ADD | EV_DISPATCH, EV_DELETE, EV_DISABLE, EV_ENABLE,
	};

	while (!atomic_load(&t->stop)) {
		const struct edge *e = &t->edge[rnd_below(&w->rs, t->nedges)];
		unsigned int flags = efl[rnd_below(&w->rs, 6)];
		int r = edge_change(t, e, flags);

		if (r && !(r == ENOENT && !(flags & EV_ADD)))
			stress_fail(&t->bad[B_ERRNO], NULL, "edge %d->%d flags 0x%x: %s", e->watcher, e->watched,
				    flags, r > 0 ? strerrorname_np(r) : "events?");
		w->calls++;
		atomic_fetch_add(&t->toggles, 1);
		if (rnd_below(&w->rs, 16) == 0)
			sleep_ms(1);
	}
	return NULL;
}

/* ---- close(kq) with waiters ---------------------------------------------------------------- */

struct kq_waiter {
	int kq;
	bool forever;
	atomic_int state;	/* 1: started, 2: returned for good */
	int n, err;
	long events;
	pthread_t th;
};

static void *kq_waiter_fn(void *arg)
{
	struct kq_waiter *w = arg;
	struct timespec ts = { 10, 0 };
	struct kevent ev[4];

	atomic_store(&w->state, 1);
	for (;;) {
		int n = kevent(w->kq, NULL, 0, ev, 4, w->forever ? NULL : &ts);

		if (n > 0) {	/* an event of the doomed kqueue: take it and wait again */
			w->events += n;
			continue;
		}
		w->n = n;
		w->err = n < 0 ? errno : 0;
		break;
	}
	atomic_store(&w->state, 2);
	return NULL;
}

static void *closer_fn(void *arg)
{
	struct worker *w = arg;
	struct torture *t = w->t;

	for (long round = 0; !atomic_load(&t->stop); round++) {
		struct kq_waiter kw[2];
		int tk = kqueue(), p[2], r;
		int64_t t0;

		if (tk < 0 || pipe2(p, O_NONBLOCK) < 0) {
			stress_fail(&t->bad[B_ERRNO], NULL, "closer: kqueue()/pipe(): %s", strerrorname_np(errno));
			break;
		}
		r = fd_add(tk, p[0], EVFILT_READ, 0, 0, 0, 1);
		r = r ? r : user_add(tk, 1, EV_CLEAR);
		r = r ? r : timer_add(tk, 1, 0, NOTE_SECONDS, 60);
		if (!r && (round & 1))
			r = kq_ctl(t->kq[S_A], tk, EVFILT_READ, EV_ADD, 0, 0, ud_make(TAG_KQ, S_A, tk));
		if (r)
			stress_fail(&t->bad[B_ERRNO], NULL, "closer: setting up a kqueue: %s",
				    r > 0 ? strerrorname_np(r) : "events?");
		for (int i = 0; i < 2; i++) {
			kw[i] = (struct kq_waiter){ .kq = tk, .forever = i == 0 };
			if (pthread_create(&kw[i].th, NULL, kq_waiter_fn, &kw[i])) {
				stress_fail(&t->bad[B_ERRNO], NULL, "closer: pthread_create failed");
				atomic_store(&t->stop, true);
				return NULL;
			}
		}
		t0 = now_ns();
		while ((atomic_load(&kw[0].state) < 1 || atomic_load(&kw[1].state) < 1) && ms_since(t0) < 2000)
			sched_yield();
		sleep_ms(1 + rnd_below(&w->rs, 3));
		if (round % 4 == 2)
			user_trigger(tk, 1);		/* one waiter takes it and waits again */
		else if (round % 4 == 3)
			(void)!write(p[1], "x", 1);	/* level: the waiters scan while it goes */
		close(tk);
		atomic_fetch_add(&t->kq_closes, 1);
		t0 = now_ns();
		while ((atomic_load(&kw[0].state) < 2 || atomic_load(&kw[1].state) < 2) && ms_since(t0) < STALL_MS)
			sleep_ms(1);
		for (int i = 0; i < 2; i++) {
			if (atomic_load(&kw[i].state) < 2) {
				stress_fail(&t->bad[B_CLOSE], NULL, "close(kq) did not wake a waiter (%s timeout) in %d ms",
					    kw[i].forever ? "no" : "10 s", STALL_MS);
				while (atomic_load(&kw[i].state) < 2) {	/* get it back to report more */
					pthread_kill(kw[i].th, SIGUSR1);
					sleep_ms(10);
				}
			}
			pthread_join(kw[i].th, NULL);
			/* ENOTTY: the number went to a pipe or socket between two calls of a waiter */
			if (kw[i].n != -1 || (kw[i].err != EBADF && kw[i].err != ENOTTY))
				stress_fail(&t->bad[B_CLOSE], NULL, "a waiter of a closed kqueue got %d (%s), not EBADF",
					    kw[i].n, kw[i].n < 0 ? strerrorname_np(kw[i].err) : "no error");
		}
		close(p[0]);
		close(p[1]);
		w->calls += 5;
	}
	return NULL;
}

/* ---- fork() and exit() ---------------------------------------------------------------------- */

/* A child: every inherited kqueue answers EBADF; closing them must not touch the parent's. */
static int fork_child_ebadf(struct torture *t)
{
	struct kevent ch, ev[4];
	int fds[S_N + 2 * RING_N], nfds = 0;

	for (int s = 0; s < S_N; s++)
		fds[nfds++] = t->kq[s];
	for (int i = 0; i < RING_N; i++) {
		fds[nfds++] = t->ring[i].kq;
		if (t->ring[i].nested)
			fds[nfds++] = t->ring[i].inner;
	}
	for (int k = 0; k < nfds; k++) {
		EV_SET(&ch, 1, EVFILT_USER, EV_ADD, 0, 0, NULL);
		errno = 0;
		if (kevent(fds[k], &ch, 1, NULL, 0, &zero_ts) != -1 || errno != EBADF)
			return 10 + k;
		errno = 0;
		if (kevent(fds[k], NULL, 0, ev, 4, &zero_ts) != -1 || errno != EBADF)
			return 40 + k;
	}
	/* The parent's knotes (ring pipes, kqueues) belong to the parent's descriptors. */
	for (int k = 0; k < nfds; k++)
		close(fds[k]);
	for (int i = 0; i < RING_N; i++) {
		close(t->ring_p[i][0]);
		close(t->ring_p[i][1]);
	}
	return 0;
}

static void *exit_child_waiter(void *arg)
{
	int kq = (int)(intptr_t)arg;
	struct kevent ev[8];

	for (;;)
		kevent(kq, NULL, 0, ev, 8, NULL);
	return NULL;
}

/* A child that builds kqueues full of knotes and leaves with _exit(), closing nothing. */
static int fork_child_exit(struct torture *t, uint64_t rs)
{
	int kq1 = kqueue(), kq2 = kqueue(), kq3 = kqueue(), p[2], sv[2], r;
	char path[] = "/tmp/kq_stress_exit.XXXXXX", path2[] = "/tmp/kq_stress_exit2.XXXXXX";
	pthread_t th;

	if (kq1 < 0 || kq2 < 0 || kq3 < 0)
		return 20;
	for (int i = 0; i < 8; i++) {
		if (pipe_with(p, i & 1) < 0 ||
		    fd_add(kq1, p[0], EVFILT_READ, (i & 2) ? EV_CLEAR : 0, 0, 0, i) ||
		    fd_add(kq2, p[1], EVFILT_WRITE, (i & 4) ? EV_DISPATCH : 0, 0, 0, i))
			return 21;
	}
	for (int i = 0; i < 2; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0 ||
		    fd_add(kq1, sv[0], EVFILT_READ, 0, 0, 0, 0) || fd_add(kq1, sv[0], EVFILT_WRITE, 0, 0, 0, 0) ||
		    fd_add(kq2, sv[1], EVFILT_READ, EV_CLEAR, 0, 0, 0) || put(sv[1], 10) != 10)
			return 22;
	}
	r = mkstemp(path);
	if (r < 0 || unlink(path) || put(r, 5) != 5 || fd_add(kq2, r, EVFILT_READ, 0, NOTE_FILE_POLL, 0, 0))
		return 23;
	for (int i = 0; i < 16; i++) {
		if (user_add(kq1, 100 + i, (i & 1) ? EV_CLEAR : (i & 2) ? EV_ONESHOT : 0) ||
		    ((i & 4) && user_trigger(kq1, 100 + i)))
			return 24;
	}
	for (int i = 0; i < 8; i++) {
		if (timer_add(kq2, i, (i & 1) ? EV_ONESHOT : 0, (i & 2) ? NOTE_USECONDS : NOTE_MSECONDS,
			      (i & 2) ? 100 : 1))
			return 25;
	}
	/* the cycle kq1 <-> kq2, and kq3 on kq1 */
	if (fd_add(kq1, kq2, EVFILT_READ, 0, 0, 0, 0) || fd_add(kq2, kq1, EVFILT_READ, 0, 0, 0, 0) ||
	    fd_add(kq3, kq1, EVFILT_READ, EV_CLEAR, 0, 0, 0))
		return 26;
	/* inherited descriptors of the pool, and a kqueue of the parent (watching it is allowed or EBADF) */
	for (int i = 0; i < 4; i++) {
		int fd = atomic_load(&t->pool[rnd_below(&rs, POOL)].fd);

		r = fd < 0 ? 0 : fd_add(kq1, fd, rnd_below(&rs, 2) ? EVFILT_READ : EVFILT_WRITE, 0, 0, 0, 0);
		if (r && r != EBADF && r != EINVAL && r != EPIPE)
			return 27;
	}
	r = fd_add(kq3, t->kq[S_K0], EVFILT_READ, 0, 0, 0, 0);
	if (r && r != EBADF)
		return 28;
	/* the process watching itself, its signals, its pidfd and its file when it goes */
	r = kq_ctl(kq3, getpid(), EVFILT_PROC, EV_ADD, NOTE_EXIT | NOTE_FORK | NOTE_EXEC | NOTE_TRACK, 0, 0);
	r = r ? r : kq_ctl(kq1, SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, 0);
	r = r ? r : kq_ctl(kq2, SIGUSR2, EVFILT_SIGNAL, EV_ADD | EV_DISPATCH, 0, 0, 0);
	/* a pipe is no vnode */
	r = r ? r : (fd_add(kq2, p[0], EVFILT_VNODE, 0, NOTE_WRITE, 0, 0) == EINVAL ? 0 : 30);
	if (r)
		return 31;
	{
		int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);

		if (pfd < 0 || fd_add(kq1, pfd, EVFILT_PROCDESC, 0, NOTE_EXIT, 0, 0))
			return 32;
	}
	mkstemp(path2);
	r = open(path2, O_RDWR);
	if (r < 0 || fd_add(kq3, r, EVFILT_VNODE, 0, NOTE_WRITE | NOTE_DELETE | NOTE_CLOSE_WRITE, 0, 0) ||
	    unlink(path2) || put(r, 3) != 3)
		return 33;
	raise(SIGUSR2);
	/* threads inside kevent() when the process goes: one scanning, one asleep */
	if (pthread_create(&th, NULL, exit_child_waiter, (void *)(intptr_t)kq1) ||
	    pthread_create(&th, NULL, exit_child_waiter, (void *)(intptr_t)kqueue()))
		return 29;
	sleep_ms(1 + rnd_below(&rs, 4));
	return 0;
}

static void *forker_fn(void *arg)
{
	struct worker *w = arg;
	struct torture *t = w->t;

	for (long round = 0; !atomic_load(&t->stop); round++) {
		bool exiter = round & 1;
		uint64_t seed = rnd32(&w->rs);
		int64_t t0;
		pid_t pid = fork(), got = 0;
		int st = 0;

		if (pid == 0)
			_exit(exiter ? fork_child_exit(t, seed) : fork_child_ebadf(t));
		if (pid < 0) {
			stress_fail(&t->bad[B_ERRNO], NULL, "fork(): %s", strerrorname_np(errno));
			break;
		}
		atomic_fetch_add(exiter ? &t->exits : &t->forks, 1);
		t0 = now_ns();
		while ((got = waitpid(pid, &st, WNOHANG)) == 0 && ms_since(t0) < 10000)
			sleep_ms(2);
		if (got == 0) {
			stress_fail(&t->bad[B_FORK], NULL, "a %s child did not exit within 10 s",
				    exiter ? "_exit()ing" : "EBADF-checking");
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			stress_fail(&t->bad[B_FORK], NULL, "a %s child failed: %s %d (see fork_child_%s)",
				    exiter ? "_exit()ing" : "EBADF-checking",
				    WIFEXITED(st) ? "exit status" : "signal",
				    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), exiter ? "exit" : "ebadf");
		}
		sleep_ms(2 + rnd_below(&w->rs, 8));
	}
	return NULL;
}

/*
 * Forks children that exit with (pid & 0x3f), half of them after forking a grandchild that does
 * the same; watches each on the shared kqueue with NOTE_EXIT|NOTE_FORK|NOTE_TRACK before reaping
 * it. Meanwhile SIGUSR2 (ignored) is counted by an EVFILT_SIGNAL knote and a file's writes by
 * an EVFILT_VNODE knote, both on shared kqueues the scanners read.
 */
static void *proc_fn(void *arg)
{
	struct worker *w = arg;
	struct torture *t = w->t;
	char path[] = "/tmp/kq_stress_vnode.XXXXXX";
	int fd = mkstemp(path), r;

	if (fd < 0 || unlink(path)) {
		stress_fail(&t->bad[B_ERRNO], NULL, "proc worker: mkstemp: %s", strerrorname_np(errno));
		return NULL;
	}
	r = kq_ctl(t->kq[SIG_SLOT], SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, ud_make(TAG_SIG, SIG_SLOT, SIGUSR2));
	r = r ? r : fd_add(t->kq[VNODE_SLOT], fd, EVFILT_VNODE, 0, NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB, 0,
			   ud_make(TAG_VNODE, VNODE_SLOT, fd));
	if (r)
		stress_fail(&t->bad[B_PROC], NULL, "(e) adding the signal and vnode knotes: %s", strerrorname_np(r));
	for (long round = 0; !atomic_load(&t->stop); round++) {
		bool grand = round & 1;
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			if (grand) {
				pid_t g = fork();

				if (g == 0)
					_exit(getpid() & 0x3f);
				if (g > 0)
					waitpid(g, NULL, 0);
			}
			_exit(getpid() & 0x3f);
		}
		if (pid < 0 || pid >= PID_SEEN) {
			stress_fail(&t->bad[B_ERRNO], NULL, "proc worker: fork(): %s", strerrorname_np(errno));
			break;
		}
		atomic_store(&t->watched[pid], 1);
		r = kq_ctl(t->kq[PROC_SLOT], pid, EVFILT_PROC, EV_ADD, NOTE_EXIT | NOTE_FORK | NOTE_TRACK, 0,
			   ud_make(TAG_PROC, PROC_SLOT, pid));
		if (r)
			stress_fail(&t->bad[B_PROC], NULL, "(e) EV_ADD EVFILT_PROC on a child before reaping it: %s",
				    strerrorname_np(r));
		atomic_fetch_add(&t->proc_children, 1);
		if (waitpid(pid, &st, 0) != pid)
			stress_fail(&t->bad[B_ERRNO], NULL, "proc worker: waitpid: %s", strerrorname_np(errno));
		kill(getpid(), SIGUSR2);
		atomic_fetch_add(&t->sig_sent, 1);
		if (pwrite(fd, "x", 1, round % 4096) != 1)
			stress_fail(&t->bad[B_ERRNO], NULL, "proc worker: pwrite: %s", strerrorname_np(errno));
		w->calls += 3;
	}
	return NULL;
}

/* ---- (a) the token ring -------------------------------------------------------------------- */

static void *player_fn(void *arg)
{
	struct player *g = arg;
	struct torture *t = g->t;
	struct timespec ts = ts_ns((int64_t)STALL_MS * NSEC_PER_MSEC);
	struct kevent ev;
	int quit = 0;

	while (!quit) {
		char b[16];
		ssize_t r;
		int n = kevent(g->kq, NULL, 0, &ev, 1, &ts);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			g->err = errno;
			break;
		}
		if (n == 0) {
			g->lost++;
			g->stuck_bytes = bytes_readable(g->in);
			read_knotes(g->kq, g->fdinfo[0], sizeof(g->fdinfo[0]));
			if (g->nested)
				read_knotes(g->inner, g->fdinfo[1], sizeof(g->fdinfo[1]));
			break;
		}
		if (g->nested && kevent(g->inner, NULL, 0, &ev, 1, &zero_ts) < 0) {
			g->err = errno;
			break;
		}
		r = read(g->in, b, sizeof(b));
		if (r <= 0)
			continue;	/* a level-triggered re-report raced the read */
		if (ring_pass(g->out, b, r, &t->ring_stop, &quit)) {
			g->err = errno;
			break;
		}
		g->hops += r;
		atomic_fetch_add(&t->hops, r);
	}
	return NULL;
}

static int ring_setup(struct torture *t)
{
	for (int i = 0; i < RING_N; i++)
		if (pipe2(t->ring_p[i], O_NONBLOCK) < 0)
			return -1;
	for (int i = 0; i < RING_N; i++) {
		struct player *g = &t->ring[i];

		*g = (struct player){ .t = t, .in = t->ring_p[i][0], .out = t->ring_p[(i + 1) % RING_N][1],
				      .nested = i & 1, .flags = (i & 2) ? EV_CLEAR : 0, .inner = -1 };
		g->kq = kqueue();
		if (g->kq < 0)
			return -1;
		if (g->nested) {
			g->inner = kqueue();
			if (g->inner < 0 || fd_add(g->inner, g->in, EVFILT_READ, g->flags, 0, 0, 0) ||
			    fd_add(g->kq, g->inner, EVFILT_READ, 0, 0, 0, 0))
				return -1;
		} else if (fd_add(g->kq, g->in, EVFILT_READ, g->flags, 0, 0, 0)) {
			return -1;
		}
	}
	return 0;
}

/* ---- close(kq) and fork(), deterministic ---------------------------------------------------- */

/*
 * The interplay the closer and the forker above run into at random, alone: a fork child's
 * inherited copy of a kqueue (unusable: EBADF) must neither keep the owner's close() from
 * waking its waiters, nor wake them itself when the child closes it.
 */

struct one_waiter {
	int kq;
	long timeout_ms;	/* < 0: none */
	atomic_int done;
	int n, err;
};

static void *one_waiter_fn(void *arg)
{
	struct one_waiter *w = arg;
	struct timespec ts = ts_ns((int64_t)w->timeout_ms * NSEC_PER_MSEC);
	struct kevent ev;

	w->n = kevent(w->kq, NULL, 0, &ev, 1, w->timeout_ms < 0 ? NULL : &ts);
	w->err = w->n < 0 ? errno : 0;
	atomic_store(&w->done, 1);
	return NULL;
}

static bool wait_done(atomic_int *done, long ms)
{
	int64_t t0 = now_ns();

	while (!atomic_load(done) && ms_since(t0) < ms)
		sleep_ms(5);
	return atomic_load(done);
}

TEST(close_wakes_waiters_while_a_fork_child_holds_a_copy)
{
	struct one_waiter w = { .timeout_ms = -1 };
	bool woke, woke_after_child;
	int sync[2];
	pthread_t th;
	pid_t pid;

	KQ_OPEN(kq);
	alarm(20);
	ASSERT_EQ(0, install_eintr_handler(SIGUSR1));
	ASSERT_EQ(0, pipe(sync));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {		/* keep the inherited copy until the parent lets go (or is gone) */
		char b;

		close(sync[1]);
		(void)!read(sync[0], &b, 1);
		_exit(0);
	}
	close(sync[0]);
	w.kq = kq;
	ASSERT_EQ(0, pthread_create(&th, NULL, one_waiter_fn, &w));
	sleep_ms(200);		/* asleep in kevent() by now */
	ASSERT_EQ(0, close(kq));	/* the owner's last descriptor */
	woke = wait_done(&w.done, 2000);
	close(sync[1]);
	waitpid(pid, NULL, 0);
	woke_after_child = wait_done(&w.done, 1000);
	while (!atomic_load(&w.done)) {
		pthread_kill(th, SIGUSR1);
		sleep_ms(10);
	}
	pthread_join(th, NULL);
	EXPECT_TRUE(woke) TH_LOG("close() of the owner's last descriptor left the waiter asleep while a "
				 "fork child held an (unusable) copy; %s once the child exited",
				 woke_after_child ? "woken" : "still asleep");
	EXPECT_EQ(-1, w.n);
	EXPECT_EQ(EBADF, w.err) TH_LOG("the waiter got %s", strerrorname_np(w.err));
}

TEST(a_fork_childs_close_leaves_the_parents_waiters_asleep)
{
	struct one_waiter w = { .timeout_ms = 1500 };
	struct kevent ev;
	pthread_t th;
	pid_t pid;
	int st;

	KQ_OPEN(kq);
	alarm(20);
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	w.kq = kq;
	ASSERT_EQ(0, pthread_create(&th, NULL, one_waiter_fn, &w));
	sleep_ms(200);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(close(kq) == 0 ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pthread_join(th, NULL);
	EXPECT_EQ(0, w.n) TH_LOG("a child's close() of its copy: the parent's waiter got %d (%s)", w.n,
				 w.n < 0 ? strerrorname_np(w.err) : "an event");
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
}

/* ---- the case --------------------------------------------------------------------------------- */

FIXTURE(torture) {
	struct torture *t;
};

FIXTURE_VARIANT(torture) {
	int nkq;	/* distinct shared kqueues: 1 or 3 */
};

FIXTURE_VARIANT_ADD(torture, one_kqueue) { .nkq = 1 };
FIXTURE_VARIANT_ADD(torture, three_kqueues) { .nkq = 3 };

FIXTURE_SETUP(torture)
{
	struct torture *t;
	uint64_t rs = rnd_seed(variant->nkq);

	alarm(variant_secs() + 110);
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, install_eintr_handler(SIGUSR1));
	raise_nofile();
	t = self->t = calloc(1, sizeof(*t));
	ASSERT_NE(NULL, t);
	t->name = variant->nkq == 1 ? "one_kqueue" : "three_kqueues";
	t->clear_bits = calloc((size_t)CLEAR_N * CLEAR_SEQ_MAX / 64, sizeof(*t->clear_bits));
	ASSERT_NE(NULL, t->clear_bits);
	t->exit_seen = calloc(PID_SEEN, 1);
	t->watched = calloc(PID_SEEN, 1);
	ASSERT_NE(NULL, t->exit_seen);
	ASSERT_NE(NULL, t->watched);
	signal(SIGUSR2, SIG_IGN);
	for (int s = 0; s < S_N; s++) {
		t->kq[s] = s < S_SHARED && s >= variant->nkq ? t->kq[0] : kqueue();
		ASSERT_LE(0, t->kq[s]) TH_LOG("kqueue(): %s", strerror(errno));
	}
	/* A watches B, B watches A, A watches the shared kqueues, K0 watches B. */
	t->edge[t->nedges++] = (struct edge){ S_A, S_B };
	t->edge[t->nedges++] = (struct edge){ S_B, S_A };
	for (int s = 0; s < variant->nkq; s++)
		t->edge[t->nedges++] = (struct edge){ S_A, s };
	t->edge[t->nedges++] = (struct edge){ S_K0, S_B };
	for (int e = 0; e < t->nedges; e++)
		ASSERT_OK(edge_change(t, &t->edge[e], EV_ADD));
	ASSERT_EQ(0, ring_setup(t));
	for (int i = 0; i < POOL; i++)
		ASSERT_EQ(0, pool_fill(t, &t->pool[i], i % P_DUP, &rs));
	for (int i = 0; i < CLEAR_N; i++)
		ASSERT_OK(kq_ctl(t->kq[CLEAR_SLOT], CLEAR_BASE + i, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0,
				 ud_make(TAG_CLEAR, CLEAR_SLOT, i)));
}

FIXTURE_TEARDOWN(torture) {}

enum { W_SCAN = 5, W_MUT = 2, W_OTHER = 7 };

TEST_F_TIMEOUT(torture, everything_at_once, variant_secs() + 120)
{
	struct torture *t = self->t;
	struct worker w[W_SCAN + W_MUT + W_OTHER];
	pthread_t pt[RING_N];
	int nw = 0, secs = variant_secs(), n, lost = 0;
	long last_hops = -1, calls = 0, events = 0, once = 0, ctrig = 0, cgot = 0;
	int64_t t0, last_move, end;
	bool stalled = false;
	long nbad = 0;

	/* (a) the ring: RING_TOKENS tokens in flight */
	for (int i = 0; i < RING_N; i++)
		ASSERT_EQ(0, pthread_create(&pt[i], NULL, player_fn, &t->ring[i]));
	for (int k = 0; k < RING_TOKENS; k++)
		ASSERT_EQ(1, write(t->ring_p[k * RING_N / RING_TOKENS][1], "t", 1));
	for (int i = 0; i < W_SCAN + W_MUT + W_OTHER; i++) {
		static void *(*const fn[])(void *) = {
			scanner_fn, scanner_fn, scanner_fn, scanner_fn, scanner_fn, mutator_fn, mutator_fn,
			churner_fn, timer_fn, clear_trigger_fn, toggler_fn, closer_fn, forker_fn, proc_fn,
		};

		w[i] = (struct worker){ .t = t, .id = i < W_SCAN ? i : i - W_SCAN, .rs = rnd_seed(i + 17) };
		ASSERT_EQ(0, pthread_create(&w[i].th, NULL, fn[i], &w[i]));
		nw++;
	}
	/* (b) every exactly-once user event gets its first firing */
	for (int i = 0; i < ONCE_N; i++)
		once_fire(t, i, 0, true);

	/*
	 * Run the whole time, whatever fails (each kind of violation is counted apart, so that one
	 * does not hide the others), watching the ring.
	 */
	t0 = last_move = now_ns();
	end = t0 + (int64_t)secs * NSEC_PER_SEC;
	while (now_ns() < end) {
		long h = atomic_load(&t->hops);

		sleep_ms(100);
		if (h != last_hops) {
			last_hops = h;
			last_move = now_ns();
		} else if (ms_since(last_move) > STALL_MS && !stalled) {
			stress_fail(&t->bad[B_RING], NULL, "(a) the token ring made no hop for %d ms (%ld hops "
				    "so far): a lost wake-up", STALL_MS, h);
			stalled = true;
		}
	}
	/* The ring first (its players turn tokens into 'q' and leave), then everybody. */
	atomic_store(&t->ring_stop, true);
	for (int i = 0; i < RING_N; i++) {
		pthread_join(pt[i], NULL);
		EXPECT_EQ(0, t->ring[i].lost) TH_LOG("(a) player %d%s waited %d ms for a token after "
						     "%ld hops; then %d byte(s) were waiting in its "
						     "pipe (>0: its wake-up was lost); knotes: %s%s%s", i,
						     t->ring[i].nested ? " (nested)" : "", STALL_MS,
						     t->ring[i].hops, t->ring[i].stuck_bytes,
						     t->ring[i].fdinfo[0],
						     t->ring[i].nested ? "; inner kqueue: " : "",
						     t->ring[i].fdinfo[1]);
		EXPECT_EQ(0, t->ring[i].err) TH_LOG("(a) player %d: %s", i, strerror(t->ring[i].err));
		lost += t->ring[i].lost;
	}
	atomic_store(&t->stop_rearm, true);
	atomic_store(&t->stop, true);
	for (int i = 0; i < nw; i++) {
		pthread_join(w[i].th, NULL);
		calls += w[i].calls;
		events += w[i].events;
	}

	/* Close the pool, delete what is left but the (b)/(d) events, and drain everything. */
	for (int i = 0; i < POOL; i++)
		pool_close(t, &t->pool[i]);
	for (int e = 0; e < t->nedges; e++)
		edge_change(t, &t->edge[e], EV_DELETE);
	for (int s = 0; s < S_SHARED; s++) {
		for (int i = 0; i < CUSER_N; i++)
			user_del(t->kq[s], CUSER_BASE + i);
	}
	for (int i = 0; i < TIMER_N; i++)
		kq_ctl(t->kq[TIMER_SLOT], i, EVFILT_TIMER, EV_DELETE, 0, 0, 0);
	for (int s = 0; s < S_N; s++) {
		int rounds = 0;

		while ((n = scan_into(t, s, 64, &zero_ts)) > 0 && ++rounds < 50)
			events += n;
		EXPECT_EQ(0, n) TH_LOG("kqueue slot %d does not drain: still %d records after %d scans "
				       "with everything closed or deleted", s, n, rounds);
	}
	for (int i = 0; i < ONCE_N; i++) {
		once += atomic_load(&t->once_got[i]);
		EXPECT_EQ(atomic_load(&t->once_fired[i]), atomic_load(&t->once_got[i]))
			TH_LOG("(b) user event %d: %ld firings, %ld received", ONCE_BASE + i,
			       (long)atomic_load(&t->once_fired[i]), (long)atomic_load(&t->once_got[i]));
	}
	for (int i = 0; i < CLEAR_N; i++) {
		ctrig += atomic_load(&t->clear_trig[i]);
		cgot += atomic_load(&t->clear_got[i]);
		EXPECT_EQ(atomic_load(&t->clear_trig[i]), atomic_load(&t->clear_max[i]))
			TH_LOG("(d) user event %d: last trigger %ld, last received %ld", CLEAR_BASE + i,
			       (long)atomic_load(&t->clear_trig[i]), (long)atomic_load(&t->clear_max[i]));
		EXPECT_GE(atomic_load(&t->clear_trig[i]), atomic_load(&t->clear_got[i]));
	}
	/* (e): every watched process and every tracked grandchild exited exactly once */
	{
		long missing = 0, first = 0;

		for (int pid = 1; pid < PID_SEEN; pid++) {
			if (atomic_load(&t->watched[pid]) && !atomic_load(&t->exit_seen[pid]) && !missing++)
				first = pid;
		}
		EXPECT_EQ(0, missing) TH_LOG("(e) %ld watched processes never reported NOTE_EXIT (first: pid %ld, %s)",
					     missing, first, atomic_load(&t->watched[first]) == 2 ? "tracked" : "registered");
		EXPECT_EQ(atomic_load(&t->sig_sent), atomic_load(&t->sig_got))
			TH_LOG("(e) SIGUSR2 sent %ld times, EVFILT_SIGNAL counted %ld", (long)atomic_load(&t->sig_sent),
			       (long)atomic_load(&t->sig_got));
		EXPECT_LT(0, atomic_load(&t->proc_tracked));
		EXPECT_LT(0, atomic_load(&t->vnode_events));
	}
	stress_note("torture(%s): %ld watched children, %ld tracked grandchildren, %ld NOTE_EXITs, "
		    "%ld signals counted, %ld vnode events", t->name, (long)atomic_load(&t->proc_children),
		    (long)atomic_load(&t->proc_tracked), (long)atomic_load(&t->proc_exits),
		    (long)atomic_load(&t->sig_got), (long)atomic_load(&t->vnode_events));
	stress_note("torture(%s): %d s, %ld kevent calls, %ld events, %ld changes (%ld receipts), "
		    "%ld closes, %ld kqueue closes, %ld forks, %ld exits with knotes, %ld token hops, "
		    "%ld exactly-once firings, %ld EV_CLEAR triggers / %ld receptions, %ld timer ops, "
		    "%ld edge toggles, %ld descriptor ops", t->name, secs, calls, events,
		    (long)atomic_load(&t->changes), (long)atomic_load(&t->receipts),
		    (long)atomic_load(&t->closes), (long)atomic_load(&t->kq_closes),
		    (long)atomic_load(&t->forks), (long)atomic_load(&t->exits), (long)atomic_load(&t->hops),
		    once, ctrig, cgot, (long)atomic_load(&t->timer_ops), (long)atomic_load(&t->toggles),
		    (long)atomic_load(&t->churn_ops));
	for (int b = 0; b < B_N; b++)
		nbad += STRESS_REPORT_AS(&t->bad[b], bad_name[b]);
	ASSERT_EQ(0, nbad);
	ASSERT_EQ(0, lost);
	EXPECT_LT(100, atomic_load(&t->hops));
	EXPECT_LT(0, once);
	EXPECT_LT(0, cgot);
	EXPECT_LT(0, atomic_load(&t->forks));
	EXPECT_LT(0, atomic_load(&t->kq_closes));
}

TEST_HARNESS_MAIN
