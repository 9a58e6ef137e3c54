// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_PROCDESC: ident = a pidfd (pidfd_open, clone3 CLONE_PIDFD, clone
 * CLONE_PIDFD); NOTE_EXIT only (data = wait status, EV_EOF|EV_ONESHOT), fired
 * when the process exits, at once if it already did (a reaped one with data 0);
 * a process in another pid namespace too; a descriptor that is not a pidfd is
 * EINVAL, a closed one EBADF; close() of the pidfd removes the knote.
 */
#include "kq_filter_common.h"

#include <sys/eventfd.h>

static int pd_add(int kq, int fd, unsigned int fflags, unsigned int flags, uint64_t udata)
{
	return kq_ctl(kq, (uint64_t)fd, EVFILT_PROCDESC, EV_ADD | flags, fflags, 0, udata);
}

static int pd_chg(int kq, int fd, unsigned int flags)
{
	return kq_ctl(kq, (uint64_t)fd, EVFILT_PROCDESC, flags, 0, 0, 0);
}

/* clone(CLONE_PIDFD) behaving like fork(): *pidfd gets the pidfd in the parent. */
static pid_t clone_with_pidfd(int *pidfd)
{
	pid_t p;

	fflush(stdout);
	fflush(stderr);
	p = (pid_t)syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, pidfd, 0, 0);
	if (p == 0)
		close_parent_fds();
	return p;
}

#define ASSERT_PD_EXIT(ev, fd, status)                                                 \
	do {                                                                           \
		EXPECT_RECORD(ev, fd, EVFILT_PROCDESC);                                \
		ASSERT_EQ(NOTE_EXIT, (ev).fflags);                                     \
		assert_exit_status(_metadata, &(ev), status);                          \
	} while (0)

/* The NOTE_EXIT record of pidfd fd must come (within KQ_WAIT_MS), with this wait status. */
static void expect_pd_exit(struct __test_metadata *_metadata, int kq, int fd, int status,
			   struct kevent *ev)
{
	ASSERT_EVENT(kq, fd, EVFILT_PROCDESC, ev);
	ASSERT_PD_EXIT(*ev, fd, status);
}

/* pidfd_open(pid, flags), which must succeed. */
static int open_pidfd(struct __test_metadata *_metadata, pid_t pid, unsigned int flags)
{
	int fd = pidfd_open(pid, flags);

	ASSERT_LE(0, fd) TH_LOG("pidfd_open(%d): %s", pid, strerror(errno));
	return fd;
}

/* A pidfd of pid (open_pidfd(pid, 0)) with a NOTE_EXIT knote (flags, udata) in kq. */
static int watch_pidfd(struct __test_metadata *_metadata, int kq, pid_t pid, unsigned int flags,
		       uint64_t udata)
{
	int fd = open_pidfd(_metadata, pid, 0);

	ASSERT_OK(pd_add(kq, fd, NOTE_EXIT, flags, udata));
	return fd;
}

TEST(pidfd_open_exit_status)
{
	struct kevent ev;
	struct gate g;
	int status, pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 3);
	pfd = watch_pidfd(_metadata, kq, pid, 0, 0x3d);
	ASSERT_NO_EVENT(kq, pfd, EVFILT_PROCDESC);
	gate_open(&g);
	expect_pd_exit(_metadata, kq, pfd, EXIT_STATUS(3), &ev);
	EXPECT_EQ(0x3d, UDV(ev));
	status = reap(_metadata, pid);
	EXPECT_EQ(status, ev.data);
	close(pfd);
}

TEST(pidfd_open_killed_status)
{
	struct kevent ev;
	struct gate g;
	int pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	pfd = watch_pidfd(_metadata, kq, pid, 0, 0);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	expect_pd_exit(_metadata, kq, pfd, SIG_STATUS(SIGKILL), &ev);
	EXPECT_TRUE(WIFSIGNALED(ev.data));
	EXPECT_EQ(SIGKILL, WTERMSIG(ev.data));
	reap(_metadata, pid);
}

/* pidfd_open(PIDFD_NONBLOCK) gives a pidfd as well. */
TEST(pidfd_open_nonblock)
{
	struct kevent ev;
	struct gate g;
	int pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	pfd = open_pidfd(_metadata, pid, O_NONBLOCK);
	ASSERT_OK(pd_add(kq, pfd, NOTE_EXIT, 0, 0));
	ASSERT_EQ(0, kill(pid, SIGTERM));
	expect_pd_exit(_metadata, kq, pfd, SIG_STATUS(SIGTERM), &ev);
	reap(_metadata, pid);
}

TEST(clone3_pidfd)
{
	struct kq_clone_args args;
	struct kevent ev;
	struct gate g;
	int pfd = -1;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	ASSERT_EQ(0, gate_init(&g));
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	args.pidfd = (uint64_t)(uintptr_t)&pfd;
	args.exit_signal = SIGCHLD;
	pid = clone3_fork(&args);
	ASSERT_LE(0, pid) TH_LOG("clone3: %s", strerror(errno));
	if (pid == 0) {
		gate_wait(&g);
		syscall(SYS_exit_group, 4);
	}
	ASSERT_LE(0, pfd);
	ASSERT_OK(pd_add(kq, pfd, NOTE_EXIT, 0, 0));
	ASSERT_NO_EVENT(kq, pfd, EVFILT_PROCDESC);
	gate_open(&g);
	expect_pd_exit(_metadata, kq, pfd, EXIT_STATUS(4), &ev);
	reap(_metadata, pid);
}

TEST(clone_pidfd)
{
	struct kevent ev;
	struct gate g;
	int pfd = -1;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	ASSERT_EQ(0, gate_init(&g));
	pid = clone_with_pidfd(&pfd);
	ASSERT_LE(0, pid) TH_LOG("clone: %s", strerror(errno));
	if (pid == 0) {
		gate_wait(&g);
		syscall(SYS_exit_group, 6);
	}
	ASSERT_LE(0, pfd);
	ASSERT_OK(pd_add(kq, pfd, NOTE_EXIT, 0, 0));
	gate_open(&g);
	expect_pd_exit(_metadata, kq, pfd, EXIT_STATUS(6), &ev);
	reap(_metadata, pid);
}

/* Exited, not reaped: fires at once with the status; the kqueue does not reap it. */
TEST(zombie_fires_at_once)
{
	struct kevent ev[2];
	int status, pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = spawn_exiting(7);
	ASSERT_LT(0, pid);
	pfd = open_pidfd(_metadata, pid, 0);
	ASSERT_EQ(0, wait_zombie(pid, KQ_WAIT_MS));
	ASSERT_OK(pd_add(kq, pfd, NOTE_EXIT, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	ASSERT_PD_EXIT(ev[0], pfd, EXIT_STATUS(7));
	status = reap(_metadata, pid);
	EXPECT_EQ(EXIT_STATUS(7), status);
}

/* Already reaped before EV_ADD: fires at once, data 0 (the documented difference). */
TEST(reaped_fires_at_once_data_zero)
{
	struct kevent ev[2];
	int status, pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = spawn_exiting(5);
	ASSERT_LT(0, pid);
	pfd = open_pidfd(_metadata, pid, 0);
	status = reap(_metadata, pid);
	ASSERT_EQ(EXIT_STATUS(5), status);
	ASSERT_OK(pd_add(kq, pfd, NOTE_EXIT, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	ASSERT_PD_EXIT(ev[0], pfd, 0);
	ASSERT_ERRNO(ENOENT, pd_chg(kq, pfd, EV_DELETE));
}

/* Implied EV_ONESHOT: after the event the knote is gone. */
TEST(oneshot_implied)
{
	struct kevent ev;
	struct gate g;
	int pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	pfd = watch_pidfd(_metadata, kq, pid, 0, 0);
	gate_open(&g);
	ASSERT_EVENT(kq, pfd, EVFILT_PROCDESC, &ev);
	EXPECT_TRUE(ev.flags & EV_ONESHOT);
	EXPECT_TRUE(ev.flags & EV_CLEAR);
	ASSERT_NO_EVENT(kq, pfd, EVFILT_PROCDESC);
	ASSERT_ERRNO(ENOENT, pd_chg(kq, pfd, EV_DELETE));
	reap(_metadata, pid);
	ASSERT_NO_EVENT(kq, pfd, EVFILT_PROCDESC);
	/* A new registration on the (still open) pidfd fires at once again. */
	ASSERT_OK(pd_add(kq, pfd, NOTE_EXIT, 0, 0));
	ASSERT_EQ(1, kq_count_of(kq, pfd, EVFILT_PROCDESC, &ev));
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
}

TEST(not_a_pidfd_einval)
{
	int p[2], s[2], efd, kq2, nul, pfd;

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, s));
	efd = eventfd(0, 0);
	ASSERT_LE(0, efd);
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	nul = open("/proc/self/status", O_RDONLY);
	ASSERT_LE(0, nul);
	ASSERT_ERRNO(EINVAL, pd_add(kq, p[0], NOTE_EXIT, 0, 0));
	ASSERT_ERRNO(EINVAL, pd_add(kq, p[1], NOTE_EXIT, 0, 0));
	ASSERT_ERRNO(EINVAL, pd_add(kq, s[0], NOTE_EXIT, 0, 0));
	ASSERT_ERRNO(EINVAL, pd_add(kq, efd, NOTE_EXIT, 0, 0));
	ASSERT_ERRNO(EINVAL, pd_add(kq, kq2, NOTE_EXIT, 0, 0));
	ASSERT_ERRNO(EINVAL, pd_add(kq, kq, NOTE_EXIT, 0, 0));
	ASSERT_ERRNO(EINVAL, pd_add(kq, nul, NOTE_EXIT, 0, 0));
	ASSERT_KQ_EMPTY(kq);
	/* A pidfd is accepted (a filter that refuses everything fails here). */
	pfd = open_pidfd(_metadata, getpid(), 0);
	ASSERT_OK(pd_add(kq, pfd, NOTE_EXIT, 0, 0));
	ASSERT_KQ_EMPTY(kq);
}

TEST(closed_fd_ebadf)
{
	int fd;

	KQ_OPEN_ALARM(kq, 10);
	fd = open_pidfd(_metadata, getpid(), 0);
	ASSERT_EQ(0, close(fd));
	ASSERT_ERRNO(EBADF, pd_add(kq, fd, NOTE_EXIT, 0, 0));
	ASSERT_EQ(EBADF, kq_receipt(kq, 987654, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT, 0, 0, NULL));
	ASSERT_EQ(EBADF, kq_receipt(kq, (1ULL << 32) | (uint64_t)kq, EVFILT_PROCDESC, EV_ADD,
				    NOTE_EXIT, 0, 0, NULL));
}

TEST(bad_fflags_einval)
{
	static const unsigned int bad[] = {
		NOTE_FORK, NOTE_EXEC, NOTE_TRACK, NOTE_EXIT | NOTE_FORK, NOTE_EXIT | NOTE_EXEC,
		NOTE_EXIT | NOTE_TRACK, NOTE_EXIT | 0x1000, 0x1,
	};
	struct gate g;
	int pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 10);
	pid = gated_child(_metadata, &g, 0);
	pfd = open_pidfd(_metadata, pid, 0);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t r = kq_receipt(kq, pfd, EVFILT_PROCDESC, EV_ADD, bad[i], 0, 0, NULL);

		EXPECT_EQ(EINVAL, r) TH_LOG("fflags 0x%x: got %lld", bad[i], (long long)r);
	}
	ASSERT_ERRNO(ENOENT, pd_chg(kq, pfd, EV_DELETE));
	ASSERT_EQ(0, kq_receipt(kq, pfd, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT, 0, 0, NULL));
	gate_open(&g);
	reap(_metadata, pid);
}

/* fflags other than NOTE_EXIT on an EV_ADD that modifies an existing knote: EINVAL too. */
TEST(bad_fflags_on_modify_einval)
{
	struct kevent ev;
	struct gate g;
	int pfd;
	int64_t r;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 10);
	pid = gated_child(_metadata, &g, 2);
	pfd = watch_pidfd(_metadata, kq, pid, 0, 1);
	r = kq_receipt(kq, pfd, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT | NOTE_FORK, 0, 2, NULL);
	EXPECT_EQ(EINVAL, r) TH_LOG("fflags 0x%x on an existing knote: got %lld",
				    NOTE_EXIT | NOTE_FORK, (long long)r);
	gate_open(&g);
	expect_pd_exit(_metadata, kq, pfd, EXIT_STATUS(2), &ev);
	EXPECT_EQ(1, UDV(ev));
	reap(_metadata, pid);
}

/* close() of the pidfd removes the knote: no event at the exit, EV_DELETE is EBADF. */
TEST(close_removes_knote)
{
	struct gate g;
	int pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	pfd = watch_pidfd(_metadata, kq, pid, 0, 0);
	ASSERT_EQ(0, close(pfd));
	gate_open(&g);
	ASSERT_EQ(0, wait_zombie(pid, KQ_WAIT_MS));
	ASSERT_NO_EVENT(kq, pfd, EVFILT_PROCDESC);
	ASSERT_KQ_EMPTY(kq);
	ASSERT_ERRNO(EBADF, pd_chg(kq, pfd, EV_DELETE));
	reap(_metadata, pid);
}

/*
 * The pidfd's close, then the kqueue's close, then the exit: the knote left its process's
 * watch with the pidfd's close, so the exit finds nothing of the freed kqueue (a close path
 * that forgot the process watch was a KASAN use-after-free here, in the exit's probe).
 */
TEST(close_then_kqueue_close_then_exit)
{
	struct gate g;
	int status, pfd, kq2;
	pid_t pid;

	alarm(15);
	pid = gated_child(_metadata, &g, 0);
	pfd = open_pidfd(_metadata, pid, 0);
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	ASSERT_OK(pd_add(kq2, pfd, NOTE_EXIT, 0, 0));
	ASSERT_EQ(0, close(pfd));
	ASSERT_EQ(0, close(kq2));
	gate_open(&g);
	status = reap(_metadata, pid);
	ASSERT_TRUE(WIFEXITED(status));
}

/* close() also drops an event already pending. */
TEST(close_drops_pending_event)
{
	struct gate g;
	int pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	pfd = watch_pidfd(_metadata, kq, pid, 0, 0);
	gate_open(&g);
	ASSERT_EQ(0, wait_zombie(pid, KQ_WAIT_MS));
	sleep_ms(50);
	ASSERT_EQ(0, close(pfd));
	ASSERT_KQ_EMPTY(kq);
	ASSERT_ERRNO(EBADF, pd_chg(kq, pfd, EV_DELETE));
	reap(_metadata, pid);
}

/* The number of a closed pidfd, reused by another pidfd, starts fresh. */
TEST(reused_number_starts_fresh)
{
	struct kevent ev;
	struct gate g1, g2;
	int pfd, pfd2;
	pid_t a, b;

	KQ_OPEN_ALARM(kq, 15);
	ASSERT_EQ(0, gate_init(&g1));
	ASSERT_EQ(0, gate_init(&g2));
	a = spawn_waiting(&g1, 1);
	ASSERT_LT(0, a);
	b = spawn_waiting(&g2, 2);
	ASSERT_LT(0, b);
	pfd = open_pidfd(_metadata, a, 0);
	ASSERT_OK(pd_add(kq, pfd, NOTE_EXIT, 0, 0));
	ASSERT_EQ(0, close(pfd));
	pfd2 = open_pidfd(_metadata, b, 0);
	if (pfd2 != pfd) {
		ASSERT_EQ(pfd, dup2(pfd2, pfd));
		close(pfd2);
	}
	ASSERT_ERRNO(ENOENT, pd_chg(kq, pfd, EV_DELETE));
	gate_open(&g1);
	reap(_metadata, a);
	ASSERT_NO_EVENT(kq, pfd, EVFILT_PROCDESC);
	ASSERT_OK(pd_add(kq, pfd, NOTE_EXIT, 0, 0));
	gate_open(&g2);
	expect_pd_exit(_metadata, kq, pfd, EXIT_STATUS(2), &ev);
	reap(_metadata, b);
}

/*
 * A process in a new pid namespace (clone3 CLONE_NEWPID|CLONE_PIDFD): it is
 * pid 1 there; its exit is reported through its pidfd.
 */
TEST(other_pid_namespace)
{
	struct kq_clone_args args;
	struct kevent ev;
	struct gate g;
	int status, pfd = -1;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	ASSERT_EQ(0, gate_init(&g));
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD | CLONE_NEWPID;
	args.pidfd = (uint64_t)(uintptr_t)&pfd;
	args.exit_signal = SIGCHLD;
	pid = clone3_fork(&args);
	if (pid < 0 && errno == EINVAL)
		SKIP(return, "clone3(CLONE_NEWPID): EINVAL: kernel without pid namespaces");
	ASSERT_LE(0, pid) TH_LOG("clone3(CLONE_NEWPID): %s", strerror(errno));
	if (pid == 0) {
		gate_wait(&g);
		syscall(SYS_exit_group, syscall(SYS_getpid) == 1 ? 4 : 99);
	}
	ASSERT_LE(0, pfd);
	ASSERT_OK(pd_add(kq, pfd, NOTE_EXIT, 0, 0));
	ASSERT_NO_EVENT(kq, pfd, EVFILT_PROCDESC);
	gate_open(&g);
	expect_pd_exit(_metadata, kq, pfd, EXIT_STATUS(4), &ev);
	status = reap(_metadata, pid);
	ASSERT_EQ(EXIT_STATUS(4), status) TH_LOG("99: the child was not pid 1 in its namespace");
}

/* fork and exec of the process are not reported, only its exit. */
TEST(fork_and_exec_not_reported)
{
	struct gate step, end;
	struct kevent ev;
	int pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	steps_init(_metadata, &step, &end, NULL);
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char ops[32];

		gate_wait(&step);
		snprintf(ops, sizeof(ops), "f,w%d,x9", dup(end.r));
		exec_self(ops);
		_exit(99);
	}
	pfd = watch_pidfd(_metadata, kq, pid, 0, 0);
	gate_step(&step);
	sleep_ms(300);	/* exec, then fork in the new image */
	ASSERT_NO_EVENT(kq, pfd, EVFILT_PROCDESC);
	gate_open(&end);
	expect_pd_exit(_metadata, kq, pfd, EXIT_STATUS(9), &ev);
	reap(_metadata, pid);
}

TEST(exit_while_disabled)
{
	struct kevent ev;
	struct gate g;
	int pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 19);
	pfd = watch_pidfd(_metadata, kq, pid, EV_DISABLE, 0);
	gate_open(&g);
	ASSERT_EQ(0, wait_zombie(pid, KQ_WAIT_MS));
	ASSERT_NO_EVENT(kq, pfd, EVFILT_PROCDESC);
	ASSERT_OK(pd_chg(kq, pfd, EV_ENABLE));
	expect_pd_exit(_metadata, kq, pfd, EXIT_STATUS(19), &ev);
	reap(_metadata, pid);
}

/* Two pidfds of one process, each with its knote: both fire. */
TEST(two_pidfds_both_fire)
{
	struct kevent ev;
	struct gate g;
	int a, b;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 8);
	a = pidfd_open(pid, 0);
	b = pidfd_open(pid, 0);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_OK(pd_add(kq, a, NOTE_EXIT, 0, 1));
	ASSERT_OK(pd_add(kq, b, NOTE_EXIT, 0, 2));
	gate_open(&g);
	expect_pd_exit(_metadata, kq, a, EXIT_STATUS(8), &ev);
	EXPECT_EQ(1, UDV(ev));
	expect_pd_exit(_metadata, kq, b, EXIT_STATUS(8), &ev);
	EXPECT_EQ(2, UDV(ev));
	reap(_metadata, pid);
}

TEST(multithreaded_exit_once)
{
	struct evlog *log;
	struct kevent *e;
	struct gate g;
	int pfd;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	pid = threaded_child(_metadata, &g, 15);
	pfd = watch_pidfd(_metadata, kq, pid, 0, 0);
	gate_open(&g);
	e = evlog_expect(_metadata, kq, log, pfd, EVFILT_PROCDESC, NOTE_EXIT);
	ASSERT_PD_EXIT(*e, pfd, EXIT_STATUS(15));
	reap(_metadata, pid);
	evlog_expect_total(_metadata, kq, log, pfd, EVFILT_PROCDESC, 1, true);
	free(log);
}

/* The caller's own pidfd: accepted, and nothing fires while it lives (not on its forks). */
TEST(own_pidfd_quiet)
{
	struct kevent rec;
	int pfd;
	pid_t child;

	KQ_OPEN_ALARM(kq, 10);
	pfd = open_pidfd(_metadata, getpid(), 0);
	ASSERT_EQ(0, kq_receipt(kq, pfd, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT, 0, 7, &rec));
	EXPECT_EQ((uint64_t)pfd, rec.ident);
	EXPECT_EQ(EVFILT_PROCDESC, rec.filter);
	child = kq_fork();
	ASSERT_LE(0, child);
	if (child == 0)
		_exit(0);
	reap(_metadata, child);
	ASSERT_NO_EVENT(kq, pfd, EVFILT_PROCDESC);
	ASSERT_OK(pd_chg(kq, pfd, EV_DELETE));
}

TEST_HARNESS_MAIN
