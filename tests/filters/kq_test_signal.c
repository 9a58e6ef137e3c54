// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_SIGNAL: ident = signal number 1..64, data = how many times the signal
 * was generated for the kqueue's process since the last retrieval, whatever
 * its disposition (handled, ignored, blocked, read by signalfd or sigwait),
 * except SIGCHLD while it is SIG_IGN. The kqueue never consumes a signal.
 * Implied EV_CLEAR; the flag semantics as for every filter.
 *
 * Signals are sent to the test's own process (the harness runs each case in
 * its own child), so every case sets the dispositions it needs. Cases that
 * send SIGALRM do not arm alarm(): the harness's 30 s timeout guards them.
 */
#include "kq_filter_common.h"

static volatile sig_atomic_t hits[65];

static void count_handler(int sig)
{
	if (sig > 0 && sig <= 64)
		hits[sig]++;
}

/* Install count_handler (SA_RESTART) for sig. */
static int handle(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = count_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

static int dispose(int sig, void (*h)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

static int block(int sig, int how)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, sig);
	return sigprocmask(how, &s, NULL);
}

static bool is_pending(int sig)
{
	sigset_t s;

	sigemptyset(&s);
	return sigpending(&s) == 0 && sigismember(&s, sig) == 1;
}

/* Wait until the handler has run at least n times for sig. */
static bool wait_hits(int sig, int n, long ms)
{
	int64_t deadline = now_ns() + ms * NSEC_PER_MSEC;

	while (hits[sig] < n) {
		if (now_ns() > deadline)
			return false;
		sleep_ms(2);
	}
	return true;
}

static int sig_add(int kq, int sig, unsigned int flags, uint64_t udata)
{
	return kq_ctl(kq, (uint64_t)sig, EVFILT_SIGNAL, EV_ADD | flags, 0, 0, udata);
}

static int sig_chg(int kq, int sig, unsigned int flags)
{
	return kq_ctl(kq, (uint64_t)sig, EVFILT_SIGNAL, flags, 0, 0, 0);
}

/* sig set to SIG_IGN, and a knote for it (flags, udata) in kq. */
static void watch_ignored(struct __test_metadata *_metadata, int kq, int sig, unsigned int flags,
			  uint64_t udata)
{
	ASSERT_EQ(0, dispose(sig, SIG_IGN));
	ASSERT_OK(sig_add(kq, sig, flags, udata));
}

/* sig handled by count_handler, and a knote for it in kq. */
static void watch_handled(struct __test_metadata *_metadata, int kq, int sig)
{
	ASSERT_EQ(0, handle(sig));
	ASSERT_OK(sig_add(kq, sig, 0, 0));
}

/* kill(getpid(), sig), n times, each of which must succeed. */
static void send_self(struct __test_metadata *_metadata, int sig, int n)
{
	for (int i = 0; i < n; i++)
		ASSERT_EQ(0, kill(getpid(), sig));
}

/* The one event for sig must be there (within KQ_WAIT_MS) and say data == n. */
#define ASSERT_SIGNALED(kq, sig, n)                                                    \
	do {                                                                           \
		struct kevent __e = { 0 };                                                   \
		ASSERT_EVENT(kq, sig, EVFILT_SIGNAL, &__e);                            \
		EXPECT_RECORD(__e, sig, EVFILT_SIGNAL);                                \
		EXPECT_EQ(0, __e.fflags);                                              \
		ASSERT_EQ((int64_t)(n), __e.data)                                      \
		TH_LOG("signal %d: data %lld, expected %d", sig, (long long)__e.data,  \
		       (int)(n));                                                      \
	} while (0)

#define ASSERT_NO_SIGNAL(kq, sig) ASSERT_NO_EVENT(kq, sig, EVFILT_SIGNAL)

/* ---- sources: every way a signal can be generated for the process ---- */

TEST(kill_self)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGUSR1);
	ASSERT_NO_SIGNAL(kq, SIGUSR1);
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_SIGNALED(kq, SIGUSR1, 1);
	EXPECT_EQ(1, hits[SIGUSR1]);
}

TEST(raise_self)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGUSR2);
	ASSERT_EQ(0, raise(SIGUSR2));
	ASSERT_SIGNALED(kq, SIGUSR2, 1);
}

/* killpg() of the test's own process group (the harness makes one per case). */
TEST(killpg_own_group)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGUSR1);
	ASSERT_EQ(0, killpg(getpgrp(), SIGUSR1));
	ASSERT_SIGNALED(kq, SIGUSR1, 1);
}

struct sleeper {
	pthread_t t;
	_Atomic pid_t tid;
	int p[2];
};

static void *sleeper_fn(void *arg)
{
	struct sleeper *s = arg;
	char c;

	s->tid = gettid();
	while (read(s->p[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static int sleeper_start(struct sleeper *s)
{
	if (pipe(s->p))
		return -1;
	s->tid = 0;
	if (pthread_create(&s->t, NULL, sleeper_fn, s))
		return -1;
	for (int i = 0; i < 3000 && !s->tid; i++)
		sleep_ms(1);
	return s->tid ? 0 : -1;
}

static void sleeper_stop(struct sleeper *s)
{
	close(s->p[1]);
	pthread_join(s->t, NULL);
	close(s->p[0]);
}

/* tgkill() directed at another thread of the process counts for the process. */
TEST(tgkill_other_thread)
{
	struct sleeper s;

	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGUSR1);
	ASSERT_EQ(0, sleeper_start(&s));
	ASSERT_NE(gettid(), s.tid);
	ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), s.tid, SIGUSR1));
	ASSERT_TRUE(wait_hits(SIGUSR1, 1, KQ_WAIT_MS));
	ASSERT_SIGNALED(kq, SIGUSR1, 1);
	sleeper_stop(&s);
}

TEST(pthread_kill_other_thread)
{
	struct sleeper s;

	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGUSR2);
	ASSERT_EQ(0, sleeper_start(&s));
	ASSERT_EQ(0, pthread_kill(s.t, SIGUSR2));
	ASSERT_TRUE(wait_hits(SIGUSR2, 1, KQ_WAIT_MS));
	ASSERT_SIGNALED(kq, SIGUSR2, 1);
	sleeper_stop(&s);
}

/* pthread_kill() of the calling thread itself. */
TEST(pthread_kill_self)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGUSR2);
	ASSERT_EQ(0, pthread_kill(pthread_self(), SIGUSR2));
	ASSERT_SIGNALED(kq, SIGUSR2, 1);
	EXPECT_EQ(1, hits[SIGUSR2]);
}

static volatile sig_atomic_t last_value = -1;

static void info_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	hits[sig]++;
	last_value = si->si_value.sival_int;
}

/* sigqueue() with a value: counted, and the handler still gets the value. */
TEST(sigqueue_self)
{
	struct sigaction sa;
	union sigval v = { .sival_int = 4242 };

	KQ_OPEN_ALARM(kq, 10);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = info_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	ASSERT_EQ(0, sigaction(SIGRTMIN, &sa, NULL));
	ASSERT_OK(sig_add(kq, SIGRTMIN, 0, 0));
	ASSERT_EQ(0, sigqueue(getpid(), SIGRTMIN, v));
	ASSERT_SIGNALED(kq, SIGRTMIN, 1);
	ASSERT_TRUE(wait_hits(SIGRTMIN, 1, KQ_WAIT_MS));
	EXPECT_EQ(4242, last_value);
}

/* A POSIX timer (timer_create, SIGEV_SIGNAL): one count per expiry. */
TEST(posix_timer)
{
	struct sigevent sev;
	struct itimerspec its;
	timer_t tid;

	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGUSR2);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR2;
	ASSERT_EQ(0, timer_create(CLOCK_MONOTONIC, &sev, &tid));
	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = 20 * NSEC_PER_MSEC;
	ASSERT_EQ(0, timer_settime(tid, 0, &its, NULL));
	ASSERT_TRUE(wait_hits(SIGUSR2, 1, KQ_WAIT_MS));
	ASSERT_SIGNALED(kq, SIGUSR2, 1);
	/* Armed again after the retrieval: one more. */
	ASSERT_EQ(0, timer_settime(tid, 0, &its, NULL));
	ASSERT_TRUE(wait_hits(SIGUSR2, 2, KQ_WAIT_MS));
	ASSERT_SIGNALED(kq, SIGUSR2, 1);
	timer_delete(tid);
}

/* setitimer(ITIMER_REAL): SIGALRM. No alarm() guard here (the harness's timeout is). */
TEST(setitimer_sigalrm)
{
	struct itimerval it;

	KQ_OPEN(kq);
	watch_handled(_metadata, kq, SIGALRM);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = 30000;
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	ASSERT_TRUE(wait_hits(SIGALRM, 1, KQ_WAIT_MS));
	ASSERT_SIGNALED(kq, SIGALRM, 1);
}

/* alarm(1): SIGALRM as well. */
TEST(alarm_sigalrm)
{
	KQ_OPEN(kq);
	watch_handled(_metadata, kq, SIGALRM);
	alarm(1);
	ASSERT_TRUE(wait_hits(SIGALRM, 1, 5000));
	ASSERT_SIGNALED(kq, SIGALRM, 1);
}

static sigjmp_buf segv_jmp;

static void segv_handler(int sig)
{
	hits[sig]++;
	siglongjmp(segv_jmp, 1);
}

/* A fault: SIGSEGV from a bad access, caught by a handler. */
TEST(fault_sigsegv_handled)
{
	volatile int *volatile bad = (volatile int *)(uintptr_t)16;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, dispose(SIGSEGV, segv_handler));
	ASSERT_OK(sig_add(kq, SIGSEGV, 0, 0));
	if (sigsetjmp(segv_jmp, 1) == 0)
		*bad = 1;
	ASSERT_EQ(1, hits[SIGSEGV]);
	ASSERT_SIGNALED(kq, SIGSEGV, 1);
}

/* Another process (a child) signals the test process twice. */
TEST(from_child_process)
{
	int status;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGUSR1);
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		kill(getppid(), SIGUSR1);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	status = reap(_metadata, pid);
	ASSERT_EQ(EXIT_STATUS(0), status);
	ASSERT_SIGNALED(kq, SIGUSR1, 2);
}

/* ---- dispositions: counted whatever happens to the signal ---- */

TEST(ignored_counted)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGUSR1, 0, 0);
	send_self(_metadata, SIGUSR1, 2);
	ASSERT_SIGNALED(kq, SIGUSR1, 2);
	EXPECT_FALSE(is_pending(SIGUSR1));
}

/* A signal whose default action is to be ignored (SIGWINCH) is still generated. */
TEST(default_ignored_counted)
{
	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, dispose(SIGWINCH, SIG_DFL));
	ASSERT_OK(sig_add(kq, SIGWINCH, 0, 0));
	send_self(_metadata, SIGWINCH, 1);
	ASSERT_SIGNALED(kq, SIGWINCH, 1);
}

/*
 * Blocked: every generation counts (also those while the standard signal is
 * already pending), and the signal stays pending: the kqueue never consumes it.
 */
TEST(blocked_counted_and_still_pending)
{
	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, handle(SIGUSR1));
	ASSERT_EQ(0, block(SIGUSR1, SIG_BLOCK));
	ASSERT_OK(sig_add(kq, SIGUSR1, 0, 0));
	for (int i = 0; i < 3; i++)
		send_self(_metadata, SIGUSR1, 1);
	ASSERT_SIGNALED(kq, SIGUSR1, 3);
	ASSERT_TRUE(is_pending(SIGUSR1));
	ASSERT_EQ(0, hits[SIGUSR1]);
	/* Delivered once (a standard signal does not queue) when unblocked. */
	ASSERT_EQ(0, block(SIGUSR1, SIG_UNBLOCK));
	ASSERT_TRUE(wait_hits(SIGUSR1, 1, KQ_WAIT_MS));
	EXPECT_EQ(1, hits[SIGUSR1]);
	EXPECT_FALSE(is_pending(SIGUSR1));
	/* Delivery itself is no new generation. */
	ASSERT_NO_SIGNAL(kq, SIGUSR1);
}

/* Real-time signals queue: three sigqueue()s, data 3, and all three still there. */
TEST(blocked_realtime_queued)
{
	sigset_t set;
	struct timespec ts = { 1, 0 };

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, block(SIGRTMIN + 1, SIG_BLOCK));
	ASSERT_OK(sig_add(kq, SIGRTMIN + 1, 0, 0));
	for (int i = 0; i < 3; i++) {
		union sigval v = { .sival_int = 10 + i };

		ASSERT_EQ(0, sigqueue(getpid(), SIGRTMIN + 1, v));
	}
	ASSERT_SIGNALED(kq, SIGRTMIN + 1, 3);
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	for (int i = 0; i < 3; i++) {
		siginfo_t si;

		ASSERT_EQ(SIGRTMIN + 1, sigtimedwait(&set, &si, &ts));
		EXPECT_EQ(10 + i, si.si_value.sival_int);
	}
	ASSERT_FALSE(is_pending(SIGRTMIN + 1));
	ASSERT_NO_SIGNAL(kq, SIGRTMIN + 1);
}

TEST(handler_still_runs)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGUSR2);
	send_self(_metadata, SIGUSR2, 1);
	ASSERT_TRUE(wait_hits(SIGUSR2, 1, KQ_WAIT_MS));
	ASSERT_SIGNALED(kq, SIGUSR2, 1);
	send_self(_metadata, SIGUSR2, 1);
	ASSERT_TRUE(wait_hits(SIGUSR2, 2, KQ_WAIT_MS));
	ASSERT_SIGNALED(kq, SIGUSR2, 1);
	EXPECT_EQ(2, hits[SIGUSR2]);
}

TEST(signalfd_still_reads)
{
	struct signalfd_siginfo si;
	sigset_t set;
	int sfd;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, block(SIGUSR2, SIG_BLOCK));
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	ASSERT_LE(0, sfd);
	ASSERT_OK(sig_add(kq, SIGUSR2, 0, 0));
	send_self(_metadata, SIGUSR2, 1);
	ASSERT_SIGNALED(kq, SIGUSR2, 1);
	ASSERT_EQ(sizeof(si), read(sfd, &si, sizeof(si)));
	EXPECT_EQ(SIGUSR2, si.ssi_signo);
	EXPECT_EQ(getpid(), si.ssi_pid);
	ASSERT_FAILS(EAGAIN, read(sfd, &si, sizeof(si)));
	/* Reading it from the signalfd generates nothing. */
	ASSERT_NO_SIGNAL(kq, SIGUSR2);
	/* And a signalfd read before the kqueue looks does not hide it. */
	send_self(_metadata, SIGUSR2, 1);
	ASSERT_EQ(sizeof(si), read(sfd, &si, sizeof(si)));
	ASSERT_SIGNALED(kq, SIGUSR2, 1);
	close(sfd);
}

TEST(sigwait_still_returns)
{
	sigset_t set;
	int sig = 0;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, block(SIGUSR1, SIG_BLOCK));
	ASSERT_OK(sig_add(kq, SIGUSR1, 0, 0));
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_SIGNALED(kq, SIGUSR1, 1);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	ASSERT_EQ(0, sigwait(&set, &sig));
	EXPECT_EQ(SIGUSR1, sig);
}

/* ---- SIGCHLD ---- */

TEST(sigchld_default_counted)
{
	pid_t pid;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, dispose(SIGCHLD, SIG_DFL));
	ASSERT_OK(sig_add(kq, SIGCHLD, 0, 0));
	pid = spawn_exiting(0);
	ASSERT_LT(0, pid);
	reap(_metadata, pid);
	ASSERT_SIGNALED(kq, SIGCHLD, 1);
}

TEST(sigchld_handler_counted)
{
	pid_t pid;

	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGCHLD);
	pid = spawn_exiting(0);
	ASSERT_LT(0, pid);
	reap(_metadata, pid);
	ASSERT_TRUE(wait_hits(SIGCHLD, 1, KQ_WAIT_MS));
	ASSERT_SIGNALED(kq, SIGCHLD, 1);
}

/* SIGCHLD set to SIG_IGN: a child's exit is never counted (the child is auto-reaped). */
TEST(sigchld_ignored_child_exit_not_counted)
{
	int status;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGCHLD, 0, 0);
	pid = spawn_exiting(0);
	ASSERT_LT(0, pid);
	/* Auto-reaped: waitpid() ends with ECHILD once the child is gone. */
	ASSERT_EQ(-1, wait_pid_ms(pid, &status, KQ_WAIT_MS));
	ASSERT_EQ(ECHILD, errno);
	ASSERT_NO_SIGNAL(kq, SIGCHLD);
	/* Back to the default: the next child's exit counts. */
	ASSERT_EQ(0, dispose(SIGCHLD, SIG_DFL));
	pid = spawn_exiting(0);
	ASSERT_LT(0, pid);
	status = reap(_metadata, pid);
	ASSERT_SIGNALED(kq, SIGCHLD, 1);
}

/* SIGCHLD set to SIG_IGN: not even a kill() of it counts. */
TEST(sigchld_ignored_kill_not_counted)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGCHLD, 0, 0);
	send_self(_metadata, SIGCHLD, 1);
	ASSERT_NO_SIGNAL(kq, SIGCHLD);
	ASSERT_EQ(0, handle(SIGCHLD));
	send_self(_metadata, SIGCHLD, 1);
	ASSERT_SIGNALED(kq, SIGCHLD, 1);
}

/* ---- counting and the flags ---- */

TEST(several_before_one_retrieval)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	watch_handled(_metadata, kq, SIGUSR1);
	for (int i = 0; i < 5; i++) {
		send_self(_metadata, SIGUSR1, 1);
		ASSERT_TRUE(wait_hits(SIGUSR1, i + 1, KQ_WAIT_MS));
	}
	/* One event (not five), data 5. */
	ASSERT_EQ(1, kq_count_of(kq, SIGUSR1, EVFILT_SIGNAL, &ev));
	EXPECT_EQ(5, ev.data);
	ASSERT_EQ(0, kq_count_of(kq, SIGUSR1, EVFILT_SIGNAL, NULL));
}

/* Signals generated before the EV_ADD are not counted. */
TEST(add_starts_from_zero)
{
	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, dispose(SIGUSR1, SIG_IGN));
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_OK(sig_add(kq, SIGUSR1, 0, 0));
	ASSERT_NO_SIGNAL(kq, SIGUSR1);
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_SIGNALED(kq, SIGUSR1, 1);
}

/* Implied EV_CLEAR: after a retrieval nothing until the next signal, then 1 again. */
TEST(clear_after_retrieval)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGUSR2, 0, 0);
	send_self(_metadata, SIGUSR2, 2);
	ASSERT_EQ(1, kq_count_of(kq, SIGUSR2, EVFILT_SIGNAL, &ev));
	EXPECT_EQ(2, ev.data);
	EXPECT_TRUE(ev.flags & EV_CLEAR);
	ASSERT_NO_SIGNAL(kq, SIGUSR2);
	ASSERT_KQ_EMPTY(kq);
	send_self(_metadata, SIGUSR2, 1);
	ASSERT_SIGNALED(kq, SIGUSR2, 1);
	ASSERT_NO_SIGNAL(kq, SIGUSR2);
}

TEST(delete_stops_counting_readd_from_zero)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGUSR1, 0, 0);
	send_self(_metadata, SIGUSR1, 2);
	ASSERT_OK(sig_chg(kq, SIGUSR1, EV_DELETE));
	ASSERT_KQ_EMPTY(kq);
	for (int i = 0; i < 3; i++)
		send_self(_metadata, SIGUSR1, 1);
	ASSERT_NO_SIGNAL(kq, SIGUSR1);
	ASSERT_ERRNO(ENOENT, sig_chg(kq, SIGUSR1, EV_DELETE));
	ASSERT_OK(sig_add(kq, SIGUSR1, 0, 0));
	ASSERT_NO_SIGNAL(kq, SIGUSR1);
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_SIGNALED(kq, SIGUSR1, 1);
}

TEST(readd_keeps_count)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGUSR1, 0, 1);
	send_self(_metadata, SIGUSR1, 2);
	ASSERT_OK(sig_add(kq, SIGUSR1, 0, 2));
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_SIGNALED(kq, SIGUSR1, 3);
}

TEST(disabled_keeps_counting)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGUSR2, 0, 0);
	send_self(_metadata, SIGUSR2, 1);
	ASSERT_OK(sig_chg(kq, SIGUSR2, EV_DISABLE));
	ASSERT_NO_SIGNAL(kq, SIGUSR2);
	send_self(_metadata, SIGUSR2, 2);
	ASSERT_NO_SIGNAL(kq, SIGUSR2);
	ASSERT_OK(sig_chg(kq, SIGUSR2, EV_ENABLE));
	ASSERT_SIGNALED(kq, SIGUSR2, 3);
	ASSERT_NO_SIGNAL(kq, SIGUSR2);
}

/* EV_ADD | EV_DISABLE: counts from the start, reports on EV_ENABLE. */
TEST(add_disabled_counts)
{
	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGUSR2, EV_DISABLE, 0);
	send_self(_metadata, SIGUSR2, 2);
	ASSERT_NO_SIGNAL(kq, SIGUSR2);
	ASSERT_OK(sig_chg(kq, SIGUSR2, EV_ENABLE));
	ASSERT_SIGNALED(kq, SIGUSR2, 2);
}

TEST(oneshot)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGUSR1, EV_ONESHOT, 7);
	send_self(_metadata, SIGUSR1, 2);
	ASSERT_EVENT(kq, SIGUSR1, EVFILT_SIGNAL, &ev);
	EXPECT_EQ(2, ev.data);
	EXPECT_TRUE(ev.flags & EV_ONESHOT);
	EXPECT_EQ(7, UDV(ev));
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_NO_SIGNAL(kq, SIGUSR1);
	ASSERT_ERRNO(ENOENT, sig_chg(kq, SIGUSR1, EV_DELETE));
}

TEST(dispatch)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGUSR1, EV_DISPATCH, 0);
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_EVENT(kq, SIGUSR1, EVFILT_SIGNAL, &ev);
	EXPECT_EQ(1, ev.data);
	EXPECT_TRUE(ev.flags & EV_DISPATCH);
	/* Disabled now, still counting. */
	send_self(_metadata, SIGUSR1, 2);
	ASSERT_NO_SIGNAL(kq, SIGUSR1);
	ASSERT_OK(sig_chg(kq, SIGUSR1, EV_ENABLE));
	ASSERT_SIGNALED(kq, SIGUSR1, 2);
	/* Disabled again by that delivery. */
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_NO_SIGNAL(kq, SIGUSR1);
	ASSERT_OK(sig_chg(kq, SIGUSR1, EV_DELETE));
}

TEST(udata_and_record)
{
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGUSR2, 0, 0x1234abcd5678ULL);
	send_self(_metadata, SIGUSR2, 1);
	ASSERT_EVENT(kq, SIGUSR2, EVFILT_SIGNAL, &ev);
	EXPECT_RECORD(ev, SIGUSR2, EVFILT_SIGNAL);
	EXPECT_EQ(0x1234abcd5678ULL, UDV(ev));
	EXPECT_EQ(0, ev.fflags);
	EXPECT_EQ(1, ev.data);
	/* EV_KEEPUDATA on a modification keeps it, a plain EV_ADD replaces it. */
	ASSERT_OK(kq_ctl(kq, SIGUSR2, EVFILT_SIGNAL, EV_ADD | EV_KEEPUDATA, 0, 0, 99));
	send_self(_metadata, SIGUSR2, 1);
	ASSERT_EVENT(kq, SIGUSR2, EVFILT_SIGNAL, &ev);
	EXPECT_EQ(0x1234abcd5678ULL, UDV(ev));
	ASSERT_OK(sig_add(kq, SIGUSR2, 0, 55));
	send_self(_metadata, SIGUSR2, 1);
	ASSERT_EVENT(kq, SIGUSR2, EVFILT_SIGNAL, &ev);
	EXPECT_EQ(55, UDV(ev));
}

/* fflags and data given at EV_ADD are ignored. */
TEST(add_fflags_data_ignored)
{
	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, dispose(SIGUSR1, SIG_IGN));
	ASSERT_OK(kq_ctl(kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0x1234, 99, 0));
	ASSERT_NO_SIGNAL(kq, SIGUSR1);
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_SIGNALED(kq, SIGUSR1, 1);
}

TEST(invalid_idents)
{
	static const uint64_t bad[] = { 0, 65, 128, 1000, (1ULL << 32) | SIGUSR1, ~0ULL };
	struct kevent rec;

	KQ_OPEN_ALARM(kq, 10);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t r = kq_receipt(kq, bad[i], EVFILT_SIGNAL, EV_ADD, 0, 0, 5, &rec);

		EXPECT_EQ(EINVAL, r) TH_LOG("ident %#llx: got %lld", (unsigned long long)bad[i],
					    (long long)r);
		EXPECT_EQ(bad[i], rec.ident);
		EXPECT_EQ(EVFILT_SIGNAL, rec.filter);
	}
	ASSERT_KQ_EMPTY(kq);
	/* Nothing was registered by the refused changes. */
	ASSERT_ERRNO(ENOENT, sig_chg(kq, SIGUSR1, EV_DELETE));
}

/* 1 and 64 are the bounds: accepted (EV_RECEIPT data 0) and counted. */
TEST(valid_bounds)
{
	struct kevent rec;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, dispose(SIGHUP, SIG_IGN));
	ASSERT_EQ(0, block(64, SIG_BLOCK));
	ASSERT_EQ(0, kq_receipt(kq, 1, EVFILT_SIGNAL, EV_ADD, 0, 0, 0, &rec));
	EXPECT_EQ(1, rec.ident);
	ASSERT_EQ(0, kq_receipt(kq, 64, EVFILT_SIGNAL, EV_ADD, 0, 0, 0, &rec));
	EXPECT_EQ(64, rec.ident);
	send_self(_metadata, SIGHUP, 1);
	send_self(_metadata, 64, 2);
	ASSERT_SIGNALED(kq, 1, 1);
	ASSERT_SIGNALED(kq, 64, 2);
}

/* ---- whose signals ---- */

/* Signals sent to a child, or raised by the child itself, are not the kqueue owner's. */
TEST(signals_to_child_not_counted)
{
	struct gate g;
	int status;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, gate_init(&g));
	ASSERT_EQ(0, dispose(SIGUSR1, SIG_IGN));	/* inherited by the child */
	ASSERT_OK(sig_add(kq, SIGUSR1, 0, 0));
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		gate_wait(&g);
		raise(SIGUSR1);
		kill(getpid(), SIGUSR1);
		_exit(0);
	}
	ASSERT_EQ(0, kill(pid, SIGUSR1));
	ASSERT_EQ(0, kill(pid, SIGUSR1));
	gate_open(&g);
	status = reap(_metadata, pid);
	ASSERT_EQ(EXIT_STATUS(0), status);
	ASSERT_NO_SIGNAL(kq, SIGUSR1);
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_SIGNALED(kq, SIGUSR1, 1);
}

TEST(two_kqueues_both_count)
{
	int kq2;

	KQ_OPEN_ALARM(kq, 10);
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	watch_ignored(_metadata, kq, SIGUSR1, 0, 0);
	ASSERT_OK(sig_add(kq2, SIGUSR1, 0, 0));
	send_self(_metadata, SIGUSR1, 2);
	ASSERT_SIGNALED(kq, SIGUSR1, 2);
	ASSERT_SIGNALED(kq2, SIGUSR1, 2);
	close(kq2);
}

TEST(signals_counted_separately)
{
	struct kevent ev[8];
	int n, seen = 0;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, dispose(SIGUSR1, SIG_IGN));
	ASSERT_EQ(0, dispose(SIGUSR2, SIG_IGN));
	ASSERT_OK(sig_add(kq, SIGUSR1, 0, 1));
	ASSERT_OK(sig_add(kq, SIGUSR2, 0, 2));
	send_self(_metadata, SIGUSR1, 1);
	send_self(_metadata, SIGUSR2, 1);
	send_self(_metadata, SIGUSR1, 1);
	n = kq_poll(kq, ev, 8);
	ASSERT_EQ(2, n);
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(EVFILT_SIGNAL, ev[i].filter);
		if (ev[i].ident == SIGUSR1) {
			EXPECT_EQ(2, ev[i].data);
			EXPECT_EQ(1, UDV(ev[i]));
			seen |= 1;
		} else if (ev[i].ident == SIGUSR2) {
			EXPECT_EQ(1, ev[i].data);
			EXPECT_EQ(2, UDV(ev[i]));
			seen |= 2;
		}
	}
	EXPECT_EQ(3, seen);
}

struct later_kill {
	int sig;
	long delay_ms;
};

static void *later_kill_fn(void *p)
{
	struct later_kill *k = p;

	sleep_ms(k->delay_ms);
	kill(getpid(), k->sig);
	return NULL;
}

/* A kevent() sleeping on the kqueue wakes when the signal is generated. */
TEST(wakes_sleeping_kevent)
{
	struct later_kill k = { SIGUSR1, 200 };
	struct timespec ts = { 5, 0 };
	struct kevent ev;
	pthread_t t;
	int64_t t0;
	int n;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, block(SIGUSR1, SIG_BLOCK));
	ASSERT_OK(sig_add(kq, SIGUSR1, 0, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, later_kill_fn, &k));
	t0 = now_ns();
	n = kevent(kq, NULL, 0, &ev, 1, &ts);
	ASSERT_EQ(1, n) TH_LOG("kevent: %s", n < 0 ? strerror(errno) : "timed out");
	EXPECT_LT(ms_since(t0), 4000);
	EXPECT_EQ(SIGUSR1, ev.ident);
	EXPECT_EQ(EVFILT_SIGNAL, ev.filter);
	EXPECT_EQ(1, ev.data);
	pthread_join(t, NULL);
	EXPECT_TRUE(is_pending(SIGUSR1));
}

/* The knote goes with its kqueue: a new kqueue counts from 0. */
TEST(close_kqueue_then_new)
{
	int kq2;

	KQ_OPEN_ALARM(kq, 10);
	watch_ignored(_metadata, kq, SIGUSR1, 0, 0);
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_EQ(0, close(kq));
	send_self(_metadata, SIGUSR1, 1);
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	ASSERT_OK(sig_add(kq2, SIGUSR1, 0, 0));
	ASSERT_NO_SIGNAL(kq2, SIGUSR1);
	send_self(_metadata, SIGUSR1, 1);
	ASSERT_SIGNALED(kq2, SIGUSR1, 1);
}

TEST_HARNESS_MAIN
