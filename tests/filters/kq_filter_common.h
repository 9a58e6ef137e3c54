/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Shared helpers of the tests of EVFILT_SIGNAL, EVFILT_PROC, EVFILT_PROCDESC and
 * EVFILT_VNODE (kq_test_*.c in this directory), on top of
 * ../kqueue/kq_test_common.h (kselftest harness, kq_ctl(), kq_get(),
 * ASSERT_FAILS(), ...).
 *
 * The contract these tests check is the one the filters were written to: every
 * filter implies EV_CLEAR, EV_ONESHOT/EV_DISPATCH/EV_DISABLE/EV_ENABLE/EV_DELETE/
 * EV_RECEIPT/udata work as for every filter, returned flags never contain EV_ADD.
 *
 * Every TEST() runs in its own forked child (the harness's) and arms alarm()
 * (except where SIGALRM is what is being tested: there the harness's own 30 s
 * timeout is the guard). Child processes a test creates are in the test's
 * process group, so the harness's timeout kill reaches them too; they block
 * only on "gates" (pipes whose write end only the test process holds), so they
 * exit when the test process dies.
 *
 * Timing: everything asynchronous is waited for up to KQ_WAIT_MS (the VM is an
 * emulated KASAN kernel); "nothing happens" is checked for KQ_QUIET_MS.
 */
#ifndef KQ_FILTER_COMMON_H
#define KQ_FILTER_COMMON_H

#include "kq_test_common.h"

#include <dirent.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdio.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#ifndef CLONE_NEWPID
#define CLONE_NEWPID 0x20000000
#endif

/* The kernel's struct clone_args (v2: with set_tid), spelled here to avoid <linux/sched.h>. */
struct kq_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
};

/* A positive expectation may take this long (process exit, scheduling under TCG). */
#define KQ_WAIT_MS 3000
/* A negative expectation ("no event") watches this long. */
#define KQ_QUIET_MS 100

static inline const char *filt_name(int filter)
{
	switch (filter) {
	case EVFILT_SIGNAL: return "SIGNAL";
	case EVFILT_PROC: return "PROC";
	case EVFILT_PROCDESC: return "PROCDESC";
	case EVFILT_VNODE: return "VNODE";
	case EVFILT_USER: return "USER";
	case EVFILT_TIMER: return "TIMER";
	case EVFILT_READ: return "READ";
	default: return "?";
	}
}

/*
 * Apply one change with EV_RECEIPT and a one-record eventlist: returns the
 * record's data (0 on success, the errno of the change otherwise), or -1000 -
 * errno if kevent() itself failed, or -2000 if it returned no record.
 * *out (if given) gets the record.
 */
static inline int64_t kq_receipt(int kq, uint64_t ident, int filter, unsigned int flags,
				 unsigned int fflags, int64_t data, uint64_t udata,
				 struct kevent *out)
{
	struct kevent k = kev_make(ident, filter, flags | EV_RECEIPT, fflags, data, udata);
	struct kevent r;
	struct timespec zero = { 0, 0 };
	int n;

	memset(&r, 0, sizeof(r));
	if (out)
		*out = r;
	n = kevent(kq, &k, 1, &r, 1, &zero);
	if (n < 0)
		return -1000 - errno;
	if (n != 1)
		return -2000;
	if (out)
		*out = r;
	if (!(r.flags & EV_ERROR))
		return -3000;	/* a receipt record always carries EV_ERROR */
	return r.data;
}

/*
 * Events retrieved while looking for another knote's are kept here (per kqueue)
 * and handed out by the next kq_find()/kq_count_of() that asks for them, so a
 * test that waits for several knotes of one kqueue in turn loses nothing.
 */
static struct {
	int kq;
	struct kevent ev;
} kq_stash[256];
static int kq_nstash;

static inline void stash_put(int kq, const struct kevent *ev)
{
	if (kq_nstash < (int)(sizeof(kq_stash) / sizeof(kq_stash[0]))) {
		kq_stash[kq_nstash].kq = kq;
		kq_stash[kq_nstash].ev = *ev;
		kq_nstash++;
	}
}

/* Take the first stashed event (ident, filter) of kq into *out; 1 if there was one. */
static inline int stash_take(int kq, uint64_t ident, int filter, struct kevent *out)
{
	for (int i = 0; i < kq_nstash; i++) {
		if (kq_stash[i].kq == kq && kq_stash[i].ev.ident == ident &&
		    kq_stash[i].ev.filter == filter) {
			if (out)
				*out = kq_stash[i].ev;
			memmove(&kq_stash[i], &kq_stash[i + 1],
				(size_t)(kq_nstash - i - 1) * sizeof(kq_stash[0]));
			kq_nstash--;
			return 1;
		}
	}
	return 0;
}

static inline int stash_count(int kq)
{
	int c = 0;

	for (int i = 0; i < kq_nstash; i++)
		c += kq_stash[i].kq == kq;
	return c;
}

/*
 * Look for an event (ident, filter) of kq for up to timeout_ms: in the stash
 * first, then from kevent() (other events retrieved meanwhile go to the
 * stash). Returns 1 (copied to *out if out) as soon as one is seen, 0 if none
 * came before the deadline, -errno if kevent() failed. EINTR (a signal handler
 * ran) just continues.
 */
static inline int kq_find(int kq, uint64_t ident, int filter, struct kevent *out, long timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * NSEC_PER_MSEC;
	struct kevent ev[64];

	if (stash_take(kq, ident, filter, out))
		return 1;
	for (;;) {
		bool last;
		int n = kq_get_until(kq, ev, 64, deadline, &last), found = 0;

		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			if (!found && ev[i].ident == ident && ev[i].filter == filter) {
				if (out)
					*out = ev[i];
				found = 1;
			} else {
				stash_put(kq, &ev[i]);
			}
		}
		if (found)
			return 1;
		if (last)
			return 0;
	}
}

/*
 * Number of events (ident, filter) pending now: the stashed ones plus those
 * returned by one non-blocking kevent() call (others go to the stash); the
 * last one in *out. -errno if kevent() failed.
 */
static inline int kq_count_of(int kq, uint64_t ident, int filter, struct kevent *out)
{
	struct kevent ev[64];
	int n, c = 0;

	while (stash_take(kq, ident, filter, out))
		c++;
	do
		n = kq_poll(kq, ev, 64);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		if (ev[i].ident == ident && ev[i].filter == filter) {
			c++;
			if (out)
				*out = ev[i];
		} else {
			stash_put(kq, &ev[i]);
		}
	}
	return c;
}

/* ASSERT_EVENT() and ASSERT_NO_EVENT(): kq_test_common.h, on kq_find() above. */

/* Nothing at all may be pending in kq (nothing stashed, and one non-blocking look). */
#define ASSERT_KQ_EMPTY(kq)                                                            \
	do {                                                                           \
		struct kevent __ev = { 0 };                                            \
		int __n;                                                               \
		ASSERT_EQ(0, stash_count(kq))                                          \
		TH_LOG("events retrieved earlier are still unclaimed");                \
		__n = kq_poll(kq, &__ev, 1);                                           \
		ASSERT_EQ(0, __n)                                                      \
		TH_LOG("unexpected event: ident %lld filter %s flags 0x%x fflags 0x%x " \
		       "data %lld", (long long)__ev.ident, filt_name(__ev.filter),     \
		       __ev.flags, __ev.fflags, (long long)__ev.data);                 \
	} while (0)

/* The common shape of every returned record of these filters. */
#define EXPECT_RECORD(ev, id, filt)                                                    \
	do {                                                                           \
		EXPECT_EQ((uint64_t)(id), (ev).ident);                                 \
		EXPECT_EQ(filt, (ev).filter);                                          \
		EXPECT_EQ(0, (ev).flags & (EV_ADD | EV_ERROR))                         \
		TH_LOG("flags 0x%x", (ev).flags);                                      \
		EXPECT_TRUE((ev).flags & EV_CLEAR)                                     \
		TH_LOG("EV_CLEAR is implied: flags 0x%x", (ev).flags);                 \
	} while (0)

/*
 * The common tail of every NOTE_EXIT record (EVFILT_PROC, EVFILT_PROCDESC):
 * data = the wait status, EV_EOF | EV_ONESHOT.
 */
static inline void assert_exit_status(struct __test_metadata *_metadata, const struct kevent *ev,
				      int status)
{
	ASSERT_EQ((int64_t)status, ev->data)
	TH_LOG("wait status 0x%llx, expected 0x%x", (long long)ev->data, status);
	EXPECT_EQ(EV_EOF | EV_ONESHOT, ev->flags & (EV_EOF | EV_ONESHOT))
	TH_LOG("flags 0x%x", ev->flags);
}

/* ---- processes ------------------------------------------------------------------ */

/*
 * Descriptors only the test process may hold (gate write ends, report read
 * ends): kq_fork() closes them in the child, so that a gate opens (EOF) as soon
 * as the test process closes its end or dies, whatever children exist.
 */
static int kq_parent_fds[32];
static int kq_nparent_fds;

static inline void parent_only(int fd)
{
	if (kq_nparent_fds < (int)(sizeof(kq_parent_fds) / sizeof(kq_parent_fds[0])))
		kq_parent_fds[kq_nparent_fds++] = fd;
}

static inline void close_parent_fds(void)
{
	for (int i = 0; i < kq_nparent_fds; i++)
		if (kq_parent_fds[i] >= 0)
			close(kq_parent_fds[i]);
	kq_nparent_fds = 0;
}

/* fork(); the child closes every parent_only() descriptor first. */
static inline pid_t kq_fork(void)
{
	pid_t p;

	fflush(stdout);
	fflush(stderr);
	p = fork();
	if (p == 0)
		close_parent_fds();
	return p;
}

/*
 * A gate: a pipe whose write end only the test process holds. Children block
 * in gate_wait() until the test process calls gate_open() (closes the write
 * end) or writes a byte with gate_step() (releases one waiter).
 */
struct gate {
	int r, w;
};

static inline int gate_init(struct gate *g)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -1;
	g->r = p[0];
	g->w = p[1];
	parent_only(g->w);
	return 0;
}

/* In a child: returns 1 for a step byte, 0 when the gate opened (EOF). */
static inline int gate_wait(struct gate *g)
{
	char c;

	for (;;) {
		ssize_t n = read(g->r, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		return n == 1;
	}
}

static inline void gate_step(struct gate *g)
{
	char c = 's';

	if (write(g->w, &c, 1) != 1)
		perror("gate_step");
}

static inline void gate_open(struct gate *g)
{
	if (g->w >= 0) {
		for (int i = 0; i < kq_nparent_fds; i++)
			if (kq_parent_fds[i] == g->w)
				kq_parent_fds[i] = -1;
		close(g->w);
		g->w = -1;
	}
}

/*
 * A report channel: children write 4-byte values (pids) to r.w; the test
 * process reads them with report_read(). The read end is parent-only.
 */
struct report {
	int r, w;
};

static inline int report_init(struct report *rp)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -1;
	rp->r = p[0];
	rp->w = p[1];
	parent_only(rp->r);
	return 0;
}

static inline void report_send(struct report *rp, int32_t v)
{
	if (write(rp->w, &v, sizeof(v)) != sizeof(v))
		_exit(120);
}

/* Read one value within timeout_ms; returns 0 and *v, or -1. */
static inline int report_read(struct report *rp, int32_t *v, long timeout_ms)
{
	struct pollfd pfd = { .fd = rp->r, .events = POLLIN };
	int r;

	do
		r = poll(&pfd, 1, (int)timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		return -1;
	return read(rp->r, v, sizeof(*v)) == sizeof(*v) ? 0 : -1;
}

/* A child that waits for the gate to open, then exit()s with code. */
static inline pid_t spawn_waiting(struct gate *g, int code)
{
	pid_t pid = kq_fork();

	if (pid == 0) {
		gate_wait(g);
		exit(code);
	}
	return pid;
}

/* A child that _exit()s at once with code. */
static inline pid_t spawn_exiting(int code)
{
	pid_t pid = kq_fork();

	if (pid == 0)
		_exit(code);
	return pid;
}

/* A new gate and a spawn_waiting() child behind it: both must work. */
static inline pid_t gated_child(struct __test_metadata *_metadata, struct gate *g, int code)
{
	pid_t pid;

	ASSERT_EQ(0, gate_init(g));
	pid = spawn_waiting(g, code);
	ASSERT_LT(0, pid);
	return pid;
}

/*
 * The gates (and report channel) of a child driven step by step: `step`
 * releases it, `rep` (if given) says it did its step, `end` lets it exit.
 */
static inline void steps_init(struct __test_metadata *_metadata, struct gate *step,
			      struct gate *end, struct report *rep)
{
	ASSERT_EQ(0, gate_init(step));
	ASSERT_EQ(0, gate_init(end));
	if (rep)
		ASSERT_EQ(0, report_init(rep));
}

/* Release one step of the child and read the value it reports (within KQ_WAIT_MS). */
static inline int32_t step_and_read(struct __test_metadata *_metadata, struct gate *step,
				    struct report *rep)
{
	int32_t v = 0;

	gate_step(step);
	ASSERT_EQ(0, report_read(rep, &v, KQ_WAIT_MS));
	return v;
}

static inline void *pause_forever(void *arg)
{
	for (;;)
		pause();
	return arg;
}

/*
 * A child with three more threads (pausing forever) behind a new gate: it
 * reports once they run, then exit()s with code when the gate opens (90 if a
 * thread could not be created). Returns once it has reported.
 */
static inline pid_t threaded_child(struct __test_metadata *_metadata, struct gate *g, int code)
{
	struct report rep;
	int32_t v;
	pid_t pid;

	ASSERT_EQ(0, gate_init(g));
	ASSERT_EQ(0, report_init(&rep));
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		pthread_t t;

		for (int i = 0; i < 3; i++)
			if (pthread_create(&t, NULL, pause_forever, NULL))
				_exit(90);
		report_send(&rep, 1);
		gate_wait(g);
		exit(code);
	}
	ASSERT_EQ(0, report_read(&rep, &v, KQ_WAIT_MS));
	return pid;
}

/* waitpid() with a deadline (polls WNOHANG); returns the pid or -1 (errno ETIMEDOUT on timeout). */
static inline pid_t wait_pid_ms(pid_t pid, int *status, long timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * NSEC_PER_MSEC;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG | __WALL);

		if (r != 0)
			return r;
		if (now_ns() > deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		sleep_ms(5);
	}
}

/* Wait until pid is a zombie (exited, not reaped): waitid(WNOWAIT). 0 on success. */
static inline int wait_zombie(pid_t pid, long timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * NSEC_PER_MSEC;

	for (;;) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT | WNOHANG | __WALL) < 0)
			return -1;
		if (si.si_pid == pid)
			return 0;
		if (now_ns() > deadline)
			return -1;
		sleep_ms(5);
	}
}

/* waitpid() of pid must succeed within KQ_WAIT_MS; returns its wait status. */
static inline int reap(struct __test_metadata *_metadata, pid_t pid)
{
	int status = -1;

	ASSERT_EQ(pid, wait_pid_ms(pid, &status, KQ_WAIT_MS));
	return status;
}

/* The wait(2) status that exit(code) produces, and the one of a death by sig. */
#define EXIT_STATUS(code) (((code) & 0xff) << 8)
#define SIG_STATUS(sig) ((sig) & 0x7f)

static inline int pidfd_open(pid_t pid, unsigned int flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

/*
 * clone3() that behaves like fork() in the child (no new stack); the child
 * closes the parent_only() descriptors as after kq_fork(). The child must only
 * make plain system calls and _exit() (glibc's fork handlers did not run).
 */
static inline pid_t clone3_fork(struct kq_clone_args *args)
{
	pid_t p;

	fflush(stdout);
	fflush(stderr);
	p = (pid_t)syscall(SYS_clone3, args, sizeof(*args));
	if (p == 0)
		close_parent_fds();
	return p;
}

/* Become uid/gid 65534 (nobody), staying dumpable (so that our own children may be inspected). */
static inline int drop_privileges(void)
{
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return -1;
	return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

/* ---- an event log: events of several knotes, none lost while waiting for one ---- */

struct evlog {
	struct kevent ev[256];
	bool taken[256];
	int n;
};

/* Append whatever kevent() returns within timeout_ms (one call); returns the count or -errno. */
static inline int evlog_fetch(int kq, struct evlog *l, long timeout_ms)
{
	int room = (int)(sizeof(l->ev) / sizeof(l->ev[0])) - l->n, n;

	if (room <= 0)
		return -ENOSPC;
	n = kq_get(kq, &l->ev[l->n], room, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++)
		l->taken[l->n + i] = false;
	l->n += n;
	return n;
}

/*
 * The first not yet taken event (ident, filter) whose fflags contain all of
 * `fflags`, waiting up to timeout_ms for it; marks it taken and returns it, or
 * NULL.
 */
static inline struct kevent *evlog_wait(int kq, struct evlog *l, uint64_t ident, int filter,
					unsigned int fflags, long timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * NSEC_PER_MSEC;
	int from = 0;

	for (;;) {
		int64_t left;

		for (int i = from; i < l->n; i++) {
			if (!l->taken[i] && l->ev[i].ident == ident && l->ev[i].filter == filter &&
			    (l->ev[i].fflags & fflags) == fflags) {
				l->taken[i] = true;
				return &l->ev[i];
			}
		}
		from = 0;
		left = (deadline - now_ns()) / NSEC_PER_MSEC;
		if (left < 0)
			return NULL;
		if (evlog_fetch(kq, l, left) < 0)
			return NULL;
	}
}

/* Collect events for ms, then return how many (ident, filter) events the log holds in all. */
static inline int evlog_count_after(int kq, struct evlog *l, uint64_t ident, int filter, long ms)
{
	int64_t deadline = now_ns() + (int64_t)ms * NSEC_PER_MSEC;
	int c = 0;

	for (;;) {
		int64_t left = (deadline - now_ns()) / NSEC_PER_MSEC;

		if (left <= 0 || evlog_fetch(kq, l, left) < 0)
			break;
	}
	for (int i = 0; i < l->n; i++)
		c += l->ev[i].ident == ident && l->ev[i].filter == filter;
	return c;
}

static inline void evlog_dump(struct __test_metadata *_metadata, const struct evlog *l)
{
	for (int i = 0; i < l->n; i++)
		TH_LOG("  event %d: ident %lld filter %s flags 0x%x fflags 0x%x data %lld%s", i,
		       (long long)l->ev[i].ident, filt_name(l->ev[i].filter), l->ev[i].flags,
		       l->ev[i].fflags, (long long)l->ev[i].data, l->taken[i] ? " (taken)" : "");
}

/* A zeroed log on the heap (it is too large for the stack of some cases). */
static inline struct evlog *evlog_new(struct __test_metadata *_metadata)
{
	struct evlog *l = calloc(1, sizeof(*l));

	ASSERT_NE(NULL, l);
	return l;
}

/* evlog_wait() within KQ_WAIT_MS that must find the event (else the log is dumped). */
static inline struct kevent *evlog_expect(struct __test_metadata *_metadata, int kq,
					  struct evlog *l, uint64_t ident, int filter,
					  unsigned int fflags)
{
	struct kevent *e = evlog_wait(kq, l, ident, filter, fflags, KQ_WAIT_MS);

	ASSERT_NE(NULL, e) evlog_dump(_metadata, l);
	return e;
}

/* After KQ_QUIET_MS more, the log must hold exactly `want` events (ident, filter) in all. */
static inline void evlog_expect_total(struct __test_metadata *_metadata, int kq, struct evlog *l,
				      uint64_t ident, int filter, int want, bool fatal)
{
	int n = evlog_count_after(kq, l, ident, filter, KQ_QUIET_MS);

	if (fatal) {
		ASSERT_EQ(want, n) evlog_dump(_metadata, l);
	} else {
		EXPECT_EQ(want, n) evlog_dump(_metadata, l);
	}
}

/* ---- re-executing this binary (NOTE_EXEC) ------------------------------------------ */

/*
 * exec_self(ops) replaces the calling process with this same binary, which
 * then does nothing but run `ops` from a constructor (before the harness's
 * main) and _exit(). ops is a comma-separated list:
 *   n<fd>   write one byte to fd        w<fd>   read fd until EOF
 *   x<code> _exit(code)                 s<ms>   sleep
 *   f       fork a child that _exit(0)s, and reap it
 * Descriptors named in ops must survive the exec (not O_CLOEXEC: dup() them).
 * Without an x the image _exit(0)s at the end.
 */
#define KQ_EXEC_ENV "KQ_FILTER_TEST_EXEC"

__attribute__((constructor)) static void kq_exec_hook(void)
{
	const char *ops = getenv(KQ_EXEC_ENV);

	if (!ops)
		return;
	while (*ops) {
		char op = *ops++;
		long v = strtol(ops, (char **)&ops, 10);
		char c = 'e';
		pid_t p;

		switch (op) {
		case 'n':
			if (write((int)v, &c, 1) != 1)
				_exit(121);
			break;
		case 'w':
			for (;;) {
				ssize_t r = read((int)v, &c, 1);

				if (r == 0 || (r < 0 && errno != EINTR))
					break;
			}
			break;
		case 'x':
			_exit((int)v);
		case 's':
			sleep_ms(v);
			break;
		case 'f':
			p = fork();
			if (p == 0)
				_exit(0);
			if (p < 0 || waitpid(p, NULL, 0) != p)
				_exit(122);
			break;
		default:
			_exit(123);
		}
		if (*ops == ',')
			ops++;
	}
	_exit(0);
}

/* Exec this binary running ops (see above). Returns only on failure. */
static inline int exec_self(const char *ops)
{
	char env[256];
	char *envp[] = { env, NULL };
	char *argv[] = { (char *)"kq_filter_exec", NULL };

	snprintf(env, sizeof(env), "%s=%s", KQ_EXEC_ENV, ops);
	execve("/proc/self/exe", argv, envp);
	return -1;
}

/* ---- files ------------------------------------------------------------------------ */

static inline int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP || type == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* rm -rf path (best effort). */
static inline void rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory for this test: /tmp/kqvn.XXXXXX (or ./kqvn.XXXXXX if /tmp is unusable). */
static inline int make_tmpdir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/kqvn.XXXXXX");
	if (mkdtemp(buf))
		return 0;
	snprintf(buf, len, "./kqvn.XXXXXX");
	return mkdtemp(buf) ? 0 : -1;
}

#endif /* KQ_FILTER_COMMON_H */
