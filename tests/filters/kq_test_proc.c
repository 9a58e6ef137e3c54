// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_PROC: ident = a pid; NOTE_EXIT (data = wait status, EV_EOF|EV_ONESHOT,
 * knote gone afterwards; a zombie fires at once), NOTE_FORK (not for a thread),
 * NOTE_EXEC, NOTE_TRACK (a knote for each new child, NOTE_CHILD and data = the
 * parent pid, recursively; NOTE_TRACKERR when it cannot be registered); ESRCH
 * for a pid that is not there, EPERM for a process the caller may not inspect;
 * a knote never follows a later process with the same pid.
 *
 * The children block on gates (kq_filter_common.h): the test decides when they
 * fork, exec or exit. The tests run as root; privilege cases drop to uid 65534
 * in a child, which reports through its exit status.
 */
#include "kq_filter_common.h"

static int proc_add(int kq, pid_t pid, unsigned int fflags, unsigned int flags, uint64_t udata)
{
	return kq_ctl(kq, (uint64_t)pid, EVFILT_PROC, EV_ADD | flags, fflags, 0, udata);
}

static int proc_chg(int kq, pid_t pid, unsigned int flags)
{
	return kq_ctl(kq, (uint64_t)pid, EVFILT_PROC, flags, 0, 0, 0);
}

/* Fork a child that _exit(0)s, and reap it (in a child process of the test). */
static void fork_and_reap(void)
{
	pid_t p = fork();

	if (p == 0)
		_exit(0);
	if (p > 0)
		waitpid(p, NULL, 0);
}

/* Check the NOTE_EXIT record of pid: status, flags, the knote gone. */
#define ASSERT_EXIT_RECORD(ev, pid, status)                                            \
	do {                                                                           \
		EXPECT_RECORD(ev, pid, EVFILT_PROC);                                   \
		ASSERT_TRUE((ev).fflags & NOTE_EXIT) TH_LOG("fflags 0x%x", (ev).fflags); \
		assert_exit_status(_metadata, &(ev), status);                          \
	} while (0)

/* The NOTE_EXIT record of pid must come (within KQ_WAIT_MS), with this wait status. */
static void expect_exit(struct __test_metadata *_metadata, int kq, pid_t pid, int status,
			struct kevent *ev)
{
	ASSERT_EVENT(kq, pid, EVFILT_PROC, ev);
	ASSERT_EXIT_RECORD(*ev, pid, status);
}

/* The same, looked for in an event log. */
static struct kevent *evlog_expect_exit(struct __test_metadata *_metadata, int kq,
					struct evlog *log, pid_t pid, int status)
{
	struct kevent *e = evlog_expect(_metadata, kq, log, pid, EVFILT_PROC, NOTE_EXIT);

	ASSERT_EXIT_RECORD(*e, pid, status);
	return e;
}

/* ---- NOTE_EXIT ---- */

TEST(exit_status_of_exit)
{
	struct kevent ev;
	struct gate g;
	int status;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 3);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 0x77));
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	gate_open(&g);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(3), &ev);
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	EXPECT_TRUE(WIFEXITED(ev.data));
	EXPECT_EQ(3, WEXITSTATUS(ev.data));
	EXPECT_EQ(0x77, UDV(ev));
	status = reap(_metadata, pid);
	EXPECT_EQ(status, ev.data);
}

TEST(exit_status_of__exit)
{
	struct kevent ev;
	struct gate g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	ASSERT_EQ(0, gate_init(&g));
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		gate_wait(&g);
		_exit(255);
	}
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 0));
	gate_open(&g);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(255), &ev);
	reap(_metadata, pid);
}

TEST(exit_status_zero)
{
	struct kevent ev;
	struct gate g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 0));
	gate_open(&g);
	expect_exit(_metadata, kq, pid, 0, &ev);
	reap(_metadata, pid);
}

TEST(exit_status_of_sigkill)
{
	struct kevent ev;
	struct gate g;
	int status;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 0));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	expect_exit(_metadata, kq, pid, SIG_STATUS(SIGKILL), &ev);
	EXPECT_TRUE(WIFSIGNALED(ev.data));
	EXPECT_EQ(SIGKILL, WTERMSIG(ev.data));
	status = reap(_metadata, pid);
	EXPECT_EQ(status, ev.data);
}

TEST(exit_status_of_sigterm)
{
	struct kevent ev;
	struct gate g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 0));
	ASSERT_EQ(0, kill(pid, SIGTERM));
	expect_exit(_metadata, kq, pid, SIG_STATUS(SIGTERM), &ev);
	EXPECT_EQ(SIGTERM, WTERMSIG(ev.data));
	reap(_metadata, pid);
}

/* After NOTE_EXIT the knote is gone: EV_DELETE gives ENOENT, nothing more comes. */
TEST(knote_gone_after_exit)
{
	struct kevent ev;
	struct gate g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 1);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT | NOTE_FORK | NOTE_EXEC, 0, 0));
	gate_open(&g);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(1), &ev);
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	ASSERT_ERRNO(ENOENT, proc_chg(kq, pid, EV_DELETE));
	reap(_metadata, pid);
	ASSERT_KQ_EMPTY(kq);
}

/* A zombie (exited, not reaped) fires NOTE_EXIT with its status at once on EV_ADD. */
TEST(zombie_fires_at_once)
{
	struct kevent ev[2];
	int status, n;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = spawn_exiting(9);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, wait_zombie(pid, KQ_WAIT_MS));
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 0x5a));
	n = kq_poll(kq, ev, 2);
	ASSERT_EQ(1, n);
	ASSERT_EXIT_RECORD(ev[0], pid, EXIT_STATUS(9));
	EXPECT_EQ(0x5a, UDV(ev[0]));
	ASSERT_ERRNO(ENOENT, proc_chg(kq, pid, EV_DELETE));
	/* The kqueue did not reap it. */
	status = reap(_metadata, pid);
	EXPECT_EQ(EXIT_STATUS(9), status);
}

/* A killed zombie too, with its signal status. */
TEST(zombie_killed_fires_at_once)
{
	struct kevent ev;
	struct gate g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(0, wait_zombie(pid, KQ_WAIT_MS));
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 0));
	ASSERT_EQ(1, kq_count_of(kq, pid, EVFILT_PROC, &ev));
	ASSERT_EXIT_RECORD(ev, pid, SIG_STATUS(SIGKILL));
	reap(_metadata, pid);
}

/* ---- EV_ADD errors ---- */

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

TEST(nonexistent_pid_esrch)
{
	long pid_max;

	KQ_OPEN_ALARM(kq, 10);
	pid_max = read_long("/proc/sys/kernel/pid_max");
	ASSERT_LT(1, pid_max);
	/* pids are below pid_max: pid_max itself never existed. */
	ASSERT_ERRNO(ESRCH, proc_add(kq, (pid_t)pid_max, NOTE_EXIT, 0, 0));
	ASSERT_ERRNO(ESRCH, proc_add(kq, (pid_t)pid_max, NOTE_FORK | NOTE_EXEC, 0, 0));
	ASSERT_EQ(ESRCH, kq_receipt(kq, (uint64_t)pid_max, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0,
				    NULL));
	ASSERT_KQ_EMPTY(kq);
}

TEST(reaped_pid_esrch)
{
	pid_t pid;

	KQ_OPEN_ALARM(kq, 10);
	pid = spawn_exiting(0);
	ASSERT_LT(0, pid);
	reap(_metadata, pid);
	ASSERT_ERRNO(ESRCH, proc_add(kq, pid, NOTE_EXIT, 0, 0));
	ASSERT_ERRNO(ENOENT, proc_chg(kq, pid, EV_DELETE));
	ASSERT_KQ_EMPTY(kq);
}

TEST(pid_zero_and_negative_esrch)
{
	static const int64_t bad[] = { 0, -1, -5, INT32_MIN };

	KQ_OPEN_ALARM(kq, 10);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t r = kq_receipt(kq, (uint64_t)bad[i], EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0,
				       NULL);

		EXPECT_EQ(ESRCH, r) TH_LOG("pid %lld: got %lld", (long long)bad[i], (long long)r);
	}
	ASSERT_KQ_EMPTY(kq);
}

/*
 * An ident beyond the pid range whose low 32 bits are our own pid: not our pid
 * (the contract lists no errno for it: anything but a registration will do).
 */
TEST(ident_beyond_pid_range_refused)
{
	uint64_t ident = (1ULL << 32) | (uint64_t)getpid();
	int64_t r;

	KQ_OPEN_ALARM(kq, 10);
	r = kq_receipt(kq, ident, EVFILT_PROC, EV_ADD, NOTE_FORK, 0, 0, NULL);
	EXPECT_TRUE(r == ESRCH || r == EINVAL) TH_LOG("ident %#llx: got %lld (expected ESRCH)",
						     (unsigned long long)ident, (long long)r);
	ASSERT_NE(0, r);
	/* The real pid is accepted (a filter that refuses everything fails here). */
	ASSERT_OK(proc_add(kq, getpid(), NOTE_FORK, 0, 0));
	ASSERT_KQ_EMPTY(kq);
}

/* Run fn in a child as uid 65534; returns its exit status (fn returns the exit code). */
static int as_nobody(int (*fn)(void *), void *arg)
{
	int status = -1;
	pid_t pid = kq_fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (drop_privileges())
			_exit(200);
		_exit(fn(arg));
	}
	if (wait_pid_ms(pid, &status, 2 * KQ_WAIT_MS) != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return status;
}

/* EV_ADD of a pid from uid 65534: returns the errno (or 0), 201 if no kqueue. */
static int add_as_nobody(void *arg)
{
	int kq = kqueue();

	if (kq < 0)
		return 201;
	return kq_ctl(kq, (uint64_t)(uintptr_t)arg, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0);
}

TEST(unprivileged_watching_init_eperm)
{
	int status;

	alarm(20);
	ASSERT_EQ(0, getuid()) TH_LOG("these tests run as root");
	status = as_nobody(add_as_nobody, (void *)(uintptr_t)1);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status 0x%x", status);
	ASSERT_EQ(EPERM, WEXITSTATUS(status))
	TH_LOG("EV_ADD of pid 1 as uid 65534: %d (%s), expected EPERM", WEXITSTATUS(status),
	       WEXITSTATUS(status) < 200 ? strerrorname_np(WEXITSTATUS(status)) : "setup failed");
}

/* Another user's process: the root test process, watched by its uid-65534 child. */
TEST(unprivileged_watching_root_parent_eperm)
{
	int status;

	alarm(20);
	status = as_nobody(add_as_nobody, (void *)(uintptr_t)getpid());
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status 0x%x", status);
	ASSERT_EQ(EPERM, WEXITSTATUS(status))
	TH_LOG("EV_ADD of root pid %d as uid 65534: %d (%s), expected EPERM", getpid(),
	       WEXITSTATUS(status),
	       WEXITSTATUS(status) < 200 ? strerrorname_np(WEXITSTATUS(status)) : "setup failed");
}

/* As uid 65534: watch an own child, and itself. Exit code 0 = all as expected. */
static int nobody_watches_own(void *arg)
{
	struct timespec ts = { KQ_WAIT_MS / 1000, 0 };
	struct kevent ev;
	int kq = kqueue(), p[2], status;
	pid_t child;
	char c;

	(void)arg;
	if (kq < 0)
		return 201;
	if (pipe(p))
		return 202;
	child = fork();
	if (child == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(7);
	}
	close(p[0]);
	if (child < 0)
		return 203;
	if (kq_ctl(kq, (uint64_t)child, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0))
		return 10;
	if (kq_ctl(kq, (uint64_t)getpid(), EVFILT_PROC, EV_ADD, NOTE_FORK, 0, 0))
		return 11;
	close(p[1]);
	if (kevent(kq, NULL, 0, &ev, 1, &ts) != 1)
		return 12;
	if (ev.ident != (uint64_t)child || !(ev.fflags & NOTE_EXIT) || ev.data != EXIT_STATUS(7))
		return 13;
	waitpid(child, &status, 0);
	return 0;
}

TEST(unprivileged_watching_own_child_and_self)
{
	int status;

	alarm(20);
	status = as_nobody(nobody_watches_own, NULL);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status 0x%x", status);
	ASSERT_EQ(0, WEXITSTATUS(status))
	TH_LOG("uid 65534 child: step %d failed (10: EV_ADD own child, 11: EV_ADD self, "
	       "12: no NOTE_EXIT, 13: wrong record)", WEXITSTATUS(status));
}

/*
 * Same user, but the target is not dumpable (prctl(PR_SET_DUMPABLE, 0)): no
 * ptrace read access, so EPERM (kill(2) would be allowed: that is not the rule).
 * Returns the errno of the EV_ADD.
 */
static int nobody_watches_nondumpable_child(void *arg)
{
	int p[2], q[2], kq, r, status;
	pid_t c;
	char ch;

	(void)arg;
	if (pipe(p) || pipe(q))
		return 202;
	c = fork();
	if (c == 0) {
		close(p[0]);
		close(q[1]);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		while (read(q[0], &ch, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	if (c < 0)
		return 203;
	close(p[1]);
	close(q[0]);
	if (read(p[0], &ch, 1) != 1)
		return 204;
	kq = kqueue();
	if (kq < 0)
		return 201;
	r = kq_ctl(kq, (uint64_t)c, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0);
	close(q[1]);
	waitpid(c, &status, 0);
	return r;
}

TEST(unprivileged_watching_nondumpable_child_eperm)
{
	int status;

	alarm(20);
	status = as_nobody(nobody_watches_nondumpable_child, NULL);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status 0x%x", status);
	ASSERT_EQ(EPERM, WEXITSTATUS(status))
	TH_LOG("EV_ADD of an own non-dumpable child as uid 65534: %d (%s), expected EPERM",
	       WEXITSTATUS(status),
	       WEXITSTATUS(status) < 200 ? strerrorname_np(WEXITSTATUS(status)) : "setup failed");
}

/*
 * The target's real and effective uid are 65534 but its saved uid is 0 (and it
 * is dumpable): ptrace read access needs all three to match, so uid 65534 gets
 * EPERM (kill(2) would be allowed: that is not the rule).
 */
TEST(unprivileged_watching_saved_root_uid_eperm)
{
	struct report rep;
	struct gate g;
	int status;
	int32_t v;
	pid_t t;

	alarm(20);
	ASSERT_EQ(0, gate_init(&g));
	ASSERT_EQ(0, report_init(&rep));
	t = kq_fork();
	ASSERT_LE(0, t);
	if (t == 0) {
		if (setresuid(65534, 65534, 0) || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
			_exit(1);
		report_send(&rep, 1);
		gate_wait(&g);
		_exit(0);
	}
	ASSERT_EQ(0, report_read(&rep, &v, KQ_WAIT_MS));
	status = as_nobody(add_as_nobody, (void *)(uintptr_t)t);
	gate_open(&g);
	ASSERT_EQ(t, wait_pid_ms(t, &v, KQ_WAIT_MS));
	ASSERT_EQ(0, v) TH_LOG("target's setresuid failed");
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status 0x%x", status);
	ASSERT_EQ(EPERM, WEXITSTATUS(status))
	TH_LOG("EV_ADD of a uid 65534 process with saved uid 0, as uid 65534: %d (%s), "
	       "expected EPERM", WEXITSTATUS(status),
	       WEXITSTATUS(status) < 200 ? strerrorname_np(WEXITSTATUS(status)) : "setup failed");
}

/* ---- NOTE_FORK ---- */

TEST(note_fork)
{
	struct kevent ev;
	struct gate step, end;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	steps_init(_metadata, &step, &end, NULL);
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		gate_wait(&step);
		fork_and_reap();
		gate_wait(&end);
		_exit(2);
	}
	ASSERT_OK(proc_add(kq, pid, NOTE_FORK | NOTE_EXIT, 0, 0x99));
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	gate_step(&step);
	ASSERT_EVENT(kq, pid, EVFILT_PROC, &ev);
	EXPECT_RECORD(ev, pid, EVFILT_PROC);
	EXPECT_EQ(NOTE_FORK, ev.fflags);
	EXPECT_FALSE(ev.flags & (EV_EOF | EV_ONESHOT)) TH_LOG("flags 0x%x", ev.flags);
	EXPECT_EQ(0x99, UDV(ev));
	/* Cleared: nothing more until the exit. */
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	gate_open(&end);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(2), &ev);
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	reap(_metadata, pid);
}

/* Two forks before one retrieval: one event. */
TEST(note_fork_twice_one_event)
{
	struct kevent ev;
	struct report rep;
	struct gate step, end;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	steps_init(_metadata, &step, &end, &rep);
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		gate_wait(&step);
		fork_and_reap();
		fork_and_reap();
		report_send(&rep, 1);
		gate_wait(&end);
		_exit(0);
	}
	ASSERT_OK(proc_add(kq, pid, NOTE_FORK, 0, 0));
	step_and_read(_metadata, &step, &rep);
	ASSERT_EQ(1, kq_count_of(kq, pid, EVFILT_PROC, &ev));
	EXPECT_EQ(NOTE_FORK, ev.fflags);
	ASSERT_EQ(0, kq_count_of(kq, pid, EVFILT_PROC, NULL));
	ASSERT_OK(proc_chg(kq, pid, EV_DELETE));
	gate_open(&end);
	reap(_metadata, pid);
}

/* A child whose step is `fn` (run after the step gate), reporting when done, then waiting for end. */
static pid_t spawn_stepper(struct gate *step, struct gate *end, struct report *rep,
			   void (*fn)(void), int code)
{
	pid_t pid = kq_fork();

	if (pid == 0) {
		gate_wait(step);
		fn();
		report_send(rep, 1);
		gate_wait(end);
		_exit(code);
	}
	return pid;
}

static void do_vfork(void)
{
	pid_t p = vfork();

	if (p == 0)
		_exit(0);
	if (p > 0)
		waitpid(p, NULL, 0);
}

static void do_clone_files(void)
{
	pid_t p = (pid_t)syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);

	if (p == 0)
		syscall(SYS_exit_group, 0);
	if (p > 0)
		waitpid(p, NULL, 0);
}

static void *thread_nop(void *arg)
{
	return arg;
}

static void do_thread(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, thread_nop, NULL) == 0)
		pthread_join(t, NULL);
}

/* Run a stepper whose step must (want_fork) or must not report NOTE_FORK; then its NOTE_EXIT. */
static void fork_kind(struct __test_metadata *_metadata, void (*fn)(void), bool want_fork)
{
	struct gate step, end;
	struct report rep;
	struct kevent ev;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	steps_init(_metadata, &step, &end, &rep);
	pid = spawn_stepper(&step, &end, &rep, fn, 4);
	ASSERT_LT(0, pid);
	ASSERT_OK(proc_add(kq, pid, NOTE_FORK | NOTE_EXIT, 0, 0));
	step_and_read(_metadata, &step, &rep);
	if (want_fork) {
		ASSERT_EQ(1, kq_count_of(kq, pid, EVFILT_PROC, &ev));
		EXPECT_EQ(NOTE_FORK, ev.fflags);
	} else {
		ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	}
	gate_open(&end);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(4), &ev);
	/* Nothing of the step is left over in the exit's record. */
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	reap(_metadata, pid);
}

TEST(vfork_is_note_fork)
{
	fork_kind(_metadata, do_vfork, true);
}

TEST(clone_without_thread_is_note_fork)
{
	fork_kind(_metadata, do_clone_files, true);
}

/* Creating (and ending) a thread is not a fork, nor an exit. */
TEST(thread_is_not_note_fork)
{
	fork_kind(_metadata, do_thread, false);
}

/* Only the requested events are returned: NOTE_EXIT alone ignores a fork. */
TEST(subset_only_requested)
{
	struct gate step, end;
	struct report rep;
	struct kevent ev;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	steps_init(_metadata, &step, &end, &rep);
	pid = spawn_stepper(&step, &end, &rep, fork_and_reap, 6);
	ASSERT_LT(0, pid);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 0));
	step_and_read(_metadata, &step, &rep);
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	gate_open(&end);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(6), &ev);
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	reap(_metadata, pid);
}

/* Watching itself: the test process's own forks. */
TEST(watch_self_fork)
{
	struct kevent ev;
	pid_t child;

	KQ_OPEN_ALARM(kq, 15);
	ASSERT_OK(proc_add(kq, getpid(), NOTE_FORK | NOTE_EXIT, 0, 0x5e1f));
	ASSERT_NO_EVENT(kq, getpid(), EVFILT_PROC);
	child = spawn_exiting(0);
	ASSERT_LT(0, child);
	ASSERT_EVENT(kq, getpid(), EVFILT_PROC, &ev);
	EXPECT_RECORD(ev, getpid(), EVFILT_PROC);
	EXPECT_EQ(NOTE_FORK, ev.fflags);
	EXPECT_EQ(0x5e1f, UDV(ev));
	reap(_metadata, child);
	/* The child's exit is not ours. */
	ASSERT_NO_EVENT(kq, getpid(), EVFILT_PROC);
	ASSERT_OK(proc_chg(kq, getpid(), EV_DELETE));
}

/* ---- NOTE_EXEC ---- */

TEST(note_exec)
{
	struct gate step, end;
	struct kevent ev;
	int status;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	steps_init(_metadata, &step, &end, NULL);
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char ops[32];

		gate_wait(&step);
		snprintf(ops, sizeof(ops), "w%d,x5", dup(end.r));
		exec_self(ops);
		_exit(99);
	}
	ASSERT_OK(proc_add(kq, pid, NOTE_EXEC | NOTE_EXIT, 0, 0xe0));
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	gate_step(&step);
	ASSERT_EVENT(kq, pid, EVFILT_PROC, &ev);
	EXPECT_RECORD(ev, pid, EVFILT_PROC);
	EXPECT_EQ(NOTE_EXEC, ev.fflags) TH_LOG("data %lld", (long long)ev.data);
	EXPECT_FALSE(ev.flags & EV_EOF);
	EXPECT_EQ(0xe0, UDV(ev));
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	/* The exec'd image exits with 5 once the gate opens. */
	gate_open(&end);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(5), &ev);
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	status = reap(_metadata, pid);
	EXPECT_EQ(EXIT_STATUS(5), status);
}

/* exec and exit before one retrieval: one event with both. */
TEST(note_exec_and_exit_together)
{
	struct kevent ev;
	struct gate step;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	ASSERT_EQ(0, gate_init(&step));
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		gate_wait(&step);
		exec_self("x12");
		_exit(99);
	}
	ASSERT_OK(proc_add(kq, pid, NOTE_EXEC | NOTE_EXIT, 0, 0));
	gate_step(&step);
	ASSERT_EQ(0, wait_zombie(pid, KQ_WAIT_MS));
	ASSERT_EQ(1, kq_count_of(kq, pid, EVFILT_PROC, &ev));
	EXPECT_EQ(NOTE_EXEC | NOTE_EXIT, ev.fflags);
	ASSERT_EXIT_RECORD(ev, pid, EXIT_STATUS(12));
	reap(_metadata, pid);
}

/* A failed execve() is no exec. */
TEST(failed_exec_is_not_note_exec)
{
	struct kevent ev;
	struct gate step;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	ASSERT_EQ(0, gate_init(&step));
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *argv[] = { (char *)"nope", NULL };

		gate_wait(&step);
		execve("/nonexistent/kq-no-such-binary", argv, argv + 1);
		_exit(errno == ENOENT ? 4 : 98);
	}
	ASSERT_OK(proc_add(kq, pid, NOTE_EXEC | NOTE_EXIT, 0, 0));
	gate_step(&step);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(4), &ev);
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	reap(_metadata, pid);
}

/* ---- NOTE_TRACK ---- */

/*
 * The watched child C forks G when `step` opens; G reports its pid and waits for
 * `end`, then exits with 5; C exits with 6 after reaping G.
 */
static pid_t spawn_forker(struct gate *step, struct gate *end, struct report *rep)
{
	pid_t pid = kq_fork();

	if (pid == 0) {
		pid_t g;

		gate_wait(step);
		g = fork();
		if (g == 0) {
			report_send(rep, getpid());
			gate_wait(end);
			_exit(5);
		}
		gate_wait(end);
		waitpid(g, NULL, 0);
		_exit(6);
	}
	return pid;
}

/* A spawn_forker() child, watched with fflags and udata, released to fork: the grandchild's pid. */
static int32_t watched_forker(struct __test_metadata *_metadata, int kq, struct gate *step,
			      struct gate *end, struct report *rep, unsigned int fflags,
			      uint64_t udata, pid_t *pid)
{
	*pid = spawn_forker(step, end, rep);
	ASSERT_LT(0, *pid);
	ASSERT_OK(proc_add(kq, *pid, fflags, 0, udata));
	return step_and_read(_metadata, step, rep);
}

TEST(track_registers_child_knote)
{
	struct gate step, end;
	struct report rep;
	struct kevent *e;
	struct evlog *log;
	int32_t g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	steps_init(_metadata, &step, &end, &rep);
	g = watched_forker(_metadata, kq, &step, &end, &rep, NOTE_TRACK | NOTE_FORK | NOTE_EXIT, 0x7ac,
			   &pid);
	/* The parent's knote: NOTE_FORK. */
	e = evlog_expect(_metadata, kq, log, pid, EVFILT_PROC, NOTE_FORK);
	EXPECT_FALSE(e->fflags & (NOTE_EXIT | NOTE_CHILD));
	/* The child's knote: NOTE_CHILD, data = the parent's pid, the same udata. */
	e = evlog_expect(_metadata, kq, log, g, EVFILT_PROC, NOTE_CHILD);
	EXPECT_RECORD(*e, g, EVFILT_PROC);
	EXPECT_EQ(pid, e->data);
	EXPECT_EQ(0x7ac, UDV(*e));
	EXPECT_FALSE(e->flags & EV_EOF);
	/* The registered knote exists, with the same fflags: it reports G's exit. */
	gate_open(&end);
	e = evlog_expect_exit(_metadata, kq, log, g, EXIT_STATUS(5));
	EXPECT_EQ(0x7ac, UDV(*e));
	e = evlog_expect_exit(_metadata, kq, log, pid, EXIT_STATUS(6));
	reap(_metadata, pid);
	/* Both knotes are gone now. */
	ASSERT_ERRNO(ENOENT, proc_chg(kq, g, EV_DELETE));
	ASSERT_ERRNO(ENOENT, proc_chg(kq, pid, EV_DELETE));
	free(log);
}

/* The child's knote exists before the child runs: EV_DELETE finds it as soon as its pid is known. */
/*
 * NOTE_TRACK across a pid namespace: a child that is pid 1 of a new namespace forks (its child is
 * pid 2 there). The watcher sees both by the numbers of its own namespace: the new knote's ident
 * is the grandchild's pid as the watcher sees it, and NOTE_CHILD's data the child's (not 1).
 */
TEST(track_reports_pids_as_the_watcher_sees_them)
{
	struct kq_clone_args args = { .flags = CLONE_NEWPID, .exit_signal = SIGCHLD };
	struct evlog *log;
	struct kevent *e;
	int go[2], status;
	uint64_t g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	ASSERT_EQ(0, pipe(go));
	pid = clone3_fork(&args);
	if (pid < 0 && errno == EINVAL)
		SKIP(return, "clone3(CLONE_NEWPID): EINVAL: kernel without pid namespaces");
	if (pid == 0) {
		char c;
		pid_t in;

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(90);
		in = fork();
		if (in == 0)
			_exit(5);
		if (in != 2 || waitpid(in, NULL, 0) != in)
			_exit(91);
		_exit(getpid() == 1 ? 6 : 92);
	}
	ASSERT_LT(0, pid) TH_LOG("clone3(CLONE_NEWPID): %s", strerror(errno));
	close(go[0]);
	ASSERT_OK(proc_add(kq, pid, NOTE_TRACK | NOTE_FORK | NOTE_EXIT, 0, 0x515));
	ASSERT_EQ(1, write(go[1], "x", 1));
	e = evlog_expect(_metadata, kq, log, pid, EVFILT_PROC, NOTE_FORK);
	/* The child's knote: whatever its ident, NOTE_CHILD with the watcher's pid of its parent. */
	e = NULL;
	for (int tries = 0; !e && tries < 30; tries++) {
		for (int i = 0; i < log->n; i++) {
			if (!log->taken[i] && (log->ev[i].fflags & NOTE_CHILD)) {
				log->taken[i] = true;
				e = &log->ev[i];
				break;
			}
		}
		if (!e && evlog_fetch(kq, log, 100) < 0)
			break;
	}
	ASSERT_NE(NULL, e) evlog_dump(_metadata, log);
	g = e->ident;
	EXPECT_EQ(pid, e->data) TH_LOG("NOTE_CHILD data %lld: the namespace's own pid of the parent?",
				       (long long)e->data);
	EXPECT_NE(2, g) TH_LOG("the new knote is named by the namespace's own pid of the child");
	EXPECT_NE((uint64_t)pid, g);
	e = evlog_expect_exit(_metadata, kq, log, g, EXIT_STATUS(5));
	e = evlog_expect_exit(_metadata, kq, log, pid, EXIT_STATUS(6));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(EXIT_STATUS(6), status);
	free(log);
}

TEST(track_child_knote_exists_at_once)
{
	struct gate step, end;
	struct report rep;
	int status;
	int32_t g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	steps_init(_metadata, &step, &end, &rep);
	g = watched_forker(_metadata, kq, &step, &end, &rep, NOTE_TRACK | NOTE_EXIT, 0, &pid);
	ASSERT_OK(proc_chg(kq, g, EV_DELETE));
	gate_open(&end);
	status = reap(_metadata, pid);
	ASSERT_EQ(EXIT_STATUS(6), status);
}

/* Without NOTE_FORK the parent's knote says nothing of the fork; the child's knote still comes. */
TEST(track_without_note_fork)
{
	struct gate step, end;
	struct report rep;
	struct kevent *e;
	struct evlog *log;
	int32_t g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	steps_init(_metadata, &step, &end, &rep);
	g = watched_forker(_metadata, kq, &step, &end, &rep, NOTE_TRACK | NOTE_EXIT, 0, &pid);
	e = evlog_expect(_metadata, kq, log, g, EVFILT_PROC, NOTE_CHILD);
	EXPECT_EQ(pid, e->data);
	gate_open(&end);
	e = evlog_expect(_metadata, kq, log, pid, EVFILT_PROC, NOTE_EXIT);
	EXPECT_EQ(NOTE_EXIT, e->fflags & (NOTE_EXIT | NOTE_FORK));
	/* The parent's knote reported only its exit, in all. */
	evlog_expect_total(_metadata, kq, log, pid, EVFILT_PROC, 1, false);
	reap(_metadata, pid);
}

/* Recursively: C forks G, G forks GG; GG's knote says data = G. */
TEST(track_grandchild)
{
	struct gate step, end;
	struct report rep;
	struct kevent *e;
	struct evlog *log;
	int32_t g, gg;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	steps_init(_metadata, &step, &end, &rep);
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		pid_t c;

		gate_wait(&step);
		c = fork();
		if (c == 0) {
			pid_t cc;

			report_send(&rep, getpid());
			cc = fork();
			if (cc == 0) {
				report_send(&rep, getpid());
				gate_wait(&end);
				_exit(3);
			}
			gate_wait(&end);
			waitpid(cc, NULL, 0);
			_exit(4);
		}
		gate_wait(&end);
		waitpid(c, NULL, 0);
		_exit(5);
	}
	ASSERT_OK(proc_add(kq, pid, NOTE_TRACK | NOTE_FORK | NOTE_EXIT, 0, 0x61));
	g = step_and_read(_metadata, &step, &rep);
	ASSERT_EQ(0, report_read(&rep, &gg, KQ_WAIT_MS));
	/*
	 * G's first event: NOTE_CHILD, and NOTE_FORK since G forked GG before
	 * anything was retrieved (its knote, registered by tracking, has the same
	 * fflags).
	 */
	e = evlog_expect(_metadata, kq, log, g, EVFILT_PROC, NOTE_CHILD);
	EXPECT_EQ(pid, e->data);
	EXPECT_EQ(NOTE_CHILD | NOTE_FORK, e->fflags);
	e = evlog_expect(_metadata, kq, log, gg, EVFILT_PROC, NOTE_CHILD);
	EXPECT_EQ(g, e->data);
	EXPECT_EQ(0x61, UDV(*e));
	gate_open(&end);
	e = evlog_expect_exit(_metadata, kq, log, gg, EXIT_STATUS(3));
	e = evlog_expect_exit(_metadata, kq, log, g, EXIT_STATUS(4));
	e = evlog_expect_exit(_metadata, kq, log, pid, EXIT_STATUS(5));
	reap(_metadata, pid);
	free(log);
}

/*
 * The child's first event carries NOTE_CHILD plus what else it did before the
 * retrieval: here the new child execs at once (NOTE_EXEC was requested).
 */
TEST(track_child_first_event_with_exec)
{
	struct gate step, end;
	struct report rep, note;
	struct kevent *e;
	struct evlog *log;
	struct pollfd pfd;
	int32_t g;
	pid_t pid;
	char c;

	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	steps_init(_metadata, &step, &end, &rep);
	ASSERT_EQ(0, report_init(&note));
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		pid_t x;

		gate_wait(&step);
		x = fork();
		if (x == 0) {
			char ops[48];

			report_send(&rep, getpid());
			snprintf(ops, sizeof(ops), "n%d,w%d,x8", dup(note.w), dup(end.r));
			exec_self(ops);
			_exit(99);
		}
		gate_wait(&end);
		waitpid(x, NULL, 0);
		_exit(0);
	}
	ASSERT_OK(proc_add(kq, pid, NOTE_TRACK | NOTE_EXEC | NOTE_EXIT, 0, 0));
	g = step_and_read(_metadata, &step, &rep);
	/* The exec'd image has run when this byte comes (nothing retrieved so far). */
	pfd.fd = note.r;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, KQ_WAIT_MS));
	ASSERT_EQ(1, read(note.r, &c, 1));
	e = evlog_expect(_metadata, kq, log, g, EVFILT_PROC, NOTE_CHILD);
	EXPECT_EQ(NOTE_CHILD | NOTE_EXEC, e->fflags & (NOTE_CHILD | NOTE_EXEC | NOTE_EXIT));
	EXPECT_EQ(pid, e->data);
	gate_open(&end);
	e = evlog_expect_exit(_metadata, kq, log, g, EXIT_STATUS(8));
	reap(_metadata, pid);
	free(log);
}

/* NOTE_TRACK on the test process itself: each of its children gets a knote. */
TEST(track_self)
{
	struct gate end;
	struct kevent *e;
	struct evlog *log;
	pid_t child;

	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	ASSERT_EQ(0, gate_init(&end));
	ASSERT_OK(proc_add(kq, getpid(), NOTE_TRACK | NOTE_FORK | NOTE_EXIT, 0, 0x5));
	child = spawn_waiting(&end, 13);
	ASSERT_LT(0, child);
	e = evlog_expect(_metadata, kq, log, getpid(), EVFILT_PROC, NOTE_FORK);
	e = evlog_expect(_metadata, kq, log, child, EVFILT_PROC, NOTE_CHILD);
	EXPECT_EQ(getpid(), e->data);
	gate_open(&end);
	e = evlog_expect_exit(_metadata, kq, log, child, EXIT_STATUS(13));
	reap(_metadata, child);
	free(log);
}

/* NOTE_TRACKERR: the child's knote cannot be registered (the per-user knote cap is full). */
#define KNOTE_CAP "/sys/module/kqueue/parameters/max_knotes_per_user"

FIXTURE(knote_cap)
{
	long saved;
};

FIXTURE_SETUP(knote_cap)
{
	self->saved = read_long(KNOTE_CAP);
}

FIXTURE_TEARDOWN(knote_cap)
{
	if (self->saved > 0) {
		char buf[32];
		int fd = open(KNOTE_CAP, O_WRONLY);

		if (fd >= 0) {
			snprintf(buf, sizeof(buf), "%ld\n", self->saved);
			if (write(fd, buf, strlen(buf)) < 0)
				perror(KNOTE_CAP);
			close(fd);
		}
	}
}

static int write_cap(long v)
{
	char buf[32];
	int fd = open(KNOTE_CAP, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	snprintf(buf, sizeof(buf), "%ld\n", v);
	ok = write(fd, buf, strlen(buf)) == (ssize_t)strlen(buf);
	close(fd);
	return ok ? 0 : -1;
}

TEST_F(knote_cap, track_error_reports_trackerr)
{
	struct gate step, end;
	struct report rep;
	struct kevent *e;
	struct evlog *log;
	int32_t g;
	pid_t pid;

	if (self->saved <= 0)
		SKIP(return, "no %s", KNOTE_CAP);
	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	steps_init(_metadata, &step, &end, &rep);
	pid = spawn_forker(&step, &end, &rep);
	ASSERT_LT(0, pid);
	ASSERT_OK(proc_add(kq, pid, NOTE_TRACK | NOTE_FORK | NOTE_EXIT, 0, 0));
	/* This user (root) has exactly this one knote now: no room for another. */
	ASSERT_EQ(0, write_cap(1));
	g = step_and_read(_metadata, &step, &rep);
	e = evlog_wait(kq, log, pid, EVFILT_PROC, NOTE_TRACKERR, KQ_WAIT_MS);
	ASSERT_EQ(0, write_cap(self->saved));
	ASSERT_NE(NULL, e) evlog_dump(_metadata, log);
	/* No knote for the child. */
	ASSERT_ERRNO(ENOENT, proc_chg(kq, g, EV_DELETE));
	gate_open(&end);
	e = evlog_expect(_metadata, kq, log, pid, EVFILT_PROC, NOTE_EXIT);
	EXPECT_EQ(0, evlog_count_after(kq, log, g, EVFILT_PROC, KQ_QUIET_MS));
	reap(_metadata, pid);
	free(log);
}

/* ---- any process the caller may inspect ---- */

/* A sibling: child B watches child A (both children of the test process). */
TEST(sibling_can_be_watched)
{
	struct gate end, bend;
	struct report rep;
	int status;
	int32_t v;
	pid_t a, b;

	alarm(20);
	ASSERT_EQ(0, gate_init(&end));
	ASSERT_EQ(0, gate_init(&bend));
	ASSERT_EQ(0, report_init(&rep));
	a = spawn_waiting(&end, 9);
	ASSERT_LT(0, a);
	b = kq_fork();
	ASSERT_LE(0, b);
	if (b == 0) {
		struct kevent ev;
		int kq = kqueue(), r;

		if (kq < 0)
			_exit(201);
		r = kq_ctl(kq, (uint64_t)a, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0);
		report_send(&rep, r);
		if (r)
			_exit(10);
		if (kq_find(kq, (uint64_t)a, EVFILT_PROC, &ev, KQ_WAIT_MS) != 1)
			_exit(11);
		if (!(ev.fflags & NOTE_EXIT) || ev.data != EXIT_STATUS(9) || !(ev.flags & EV_EOF))
			_exit(12);
		_exit(0);
	}
	ASSERT_EQ(0, report_read(&rep, &v, KQ_WAIT_MS));
	ASSERT_EQ(0, v) TH_LOG("sibling's EV_ADD: %s", strerrorname_np(v));
	gate_open(&end);
	status = reap(_metadata, a);
	ASSERT_EQ(EXIT_STATUS(9), status);
	ASSERT_EQ(b, wait_pid_ms(b, &status, 2 * KQ_WAIT_MS));
	ASSERT_EQ(EXIT_STATUS(0), status)
	TH_LOG("watcher: 11 = no NOTE_EXIT, 12 = wrong record (status 0x%x)", status);
}

/* The parent: a child watches the test process for NOTE_FORK. */
TEST(parent_can_be_watched)
{
	struct report rep;
	int status;
	int32_t v;
	pid_t c, other;

	alarm(20);
	ASSERT_EQ(0, report_init(&rep));
	c = kq_fork();
	ASSERT_LE(0, c);
	if (c == 0) {
		struct kevent ev;
		int kq = kqueue(), r;

		if (kq < 0)
			_exit(201);
		r = kq_ctl(kq, (uint64_t)getppid(), EVFILT_PROC, EV_ADD, NOTE_FORK, 0, 0);
		report_send(&rep, r);
		if (r)
			_exit(10);
		if (kq_find(kq, (uint64_t)getppid(), EVFILT_PROC, &ev, KQ_WAIT_MS) != 1)
			_exit(11);
		_exit(ev.fflags == NOTE_FORK ? 0 : 12);
	}
	ASSERT_EQ(0, report_read(&rep, &v, KQ_WAIT_MS));
	ASSERT_EQ(0, v) TH_LOG("child's EV_ADD of its parent: %s", strerrorname_np(v));
	other = spawn_exiting(0);
	ASSERT_LT(0, other);
	status = reap(_metadata, other);
	ASSERT_EQ(c, wait_pid_ms(c, &status, 2 * KQ_WAIT_MS));
	ASSERT_EQ(EXIT_STATUS(0), status)
	TH_LOG("watcher: 11 = no NOTE_FORK, 12 = wrong fflags (status 0x%x)", status);
}

/* ---- lifetime ---- */

TEST(delete_before_exit_reports_nothing)
{
	struct gate g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT | NOTE_FORK, 0, 0));
	ASSERT_OK(proc_chg(kq, pid, EV_DELETE));
	gate_open(&g);
	ASSERT_EQ(0, wait_zombie(pid, KQ_WAIT_MS));
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	reap(_metadata, pid);
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	ASSERT_ERRNO(ENOENT, proc_chg(kq, pid, EV_DELETE));
}

/* Exit while disabled: reported with its status on EV_ENABLE. */
TEST(exit_while_disabled)
{
	struct kevent ev;
	struct gate g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 21);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, EV_DISABLE, 0));
	gate_open(&g);
	ASSERT_EQ(0, wait_zombie(pid, KQ_WAIT_MS));
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	reap(_metadata, pid);
	ASSERT_OK(proc_chg(kq, pid, EV_ENABLE));
	expect_exit(_metadata, kq, pid, EXIT_STATUS(21), &ev);
}

TEST(two_kqueues_both_see_exit)
{
	struct kevent ev;
	struct gate g;
	int kq2;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	pid = gated_child(_metadata, &g, 17);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 1));
	ASSERT_OK(proc_add(kq2, pid, NOTE_EXIT, 0, 2));
	gate_open(&g);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(17), &ev);
	EXPECT_EQ(1, UDV(ev));
	expect_exit(_metadata, kq2, pid, EXIT_STATUS(17), &ev);
	EXPECT_EQ(2, UDV(ev));
	reap(_metadata, pid);
}

/* EV_ONESHOT on NOTE_FORK: the first fork's event removes the knote. */
TEST(oneshot_fork)
{
	struct gate step, end;
	struct report rep;
	struct kevent ev;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	steps_init(_metadata, &step, &end, &rep);
	pid = spawn_stepper(&step, &end, &rep, fork_and_reap, 0);
	ASSERT_LT(0, pid);
	ASSERT_OK(proc_add(kq, pid, NOTE_FORK | NOTE_EXIT, EV_ONESHOT, 0));
	step_and_read(_metadata, &step, &rep);
	ASSERT_EQ(1, kq_count_of(kq, pid, EVFILT_PROC, &ev));
	EXPECT_EQ(NOTE_FORK, ev.fflags);
	EXPECT_TRUE(ev.flags & EV_ONESHOT);
	ASSERT_ERRNO(ENOENT, proc_chg(kq, pid, EV_DELETE));
	gate_open(&end);
	reap(_metadata, pid);
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
}

/* ---- pid reuse ---- */

/* clone3() with set_tid = pid: a new process with that very pid (root). Child runs fn. */
static pid_t spawn_with_pid(pid_t want, int (*fn)(void))
{
	pid_t tid = want;
	struct kq_clone_args args;
	pid_t p;

	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uint64_t)(uintptr_t)&tid;
	args.set_tid_size = 1;
	p = clone3_fork(&args);
	if (p == 0)
		syscall(SYS_exit_group, fn());
	return p;
}

/* The newcomer forks, then exits with 22. */
static int newcomer(void)
{
	pid_t p = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);

	if (p == 0)
		syscall(SYS_exit_group, 0);
	if (p > 0)
		syscall(SYS_wait4, p, NULL, 0, NULL);
	return 22;
}

/*
 * The NOTE_EXIT of P has been retrieved and P reaped: nothing ever comes for
 * that ident again, also when a new process gets P's pid (clone3 set_tid) and
 * forks and exits.
 */
TEST(pid_reuse_after_exit_retrieved)
{
	struct kevent ev;
	struct gate g;
	int status;
	pid_t pid, q;

	KQ_OPEN_ALARM(kq, 20);
	pid = gated_child(_metadata, &g, 11);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT | NOTE_FORK | NOTE_EXEC, 0, 0));
	gate_open(&g);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(11), &ev);
	status = reap(_metadata, pid);
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	q = spawn_with_pid(pid, newcomer);
	if (q < 0) {
		TH_LOG("clone3(set_tid=%d): %s: pid reuse not forced", pid, strerror(errno));
	} else {
		ASSERT_EQ(pid, q);
		status = reap(_metadata, q);
		ASSERT_EQ(EXIT_STATUS(22), status);
	}
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	ASSERT_KQ_EMPTY(kq);
	ASSERT_ERRNO(ENOENT, proc_chg(kq, pid, EV_DELETE));
}

/*
 * The knote of P is disabled while P exits and is reaped and a new process Q
 * with P's pid forks and exits: on EV_ENABLE it reports P's exit, with P's
 * status, and nothing of Q.
 */
TEST(pid_reuse_disabled_knote_keeps_first_process)
{
	struct kevent *e;
	struct evlog *log;
	struct gate g;
	int status;
	pid_t pid, q;

	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	pid = gated_child(_metadata, &g, 11);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT | NOTE_FORK, EV_DISABLE, 0));
	gate_open(&g);
	status = reap(_metadata, pid);
	q = spawn_with_pid(pid, newcomer);
	if (q < 0)
		SKIP(return, "clone3(set_tid=%d): %s: cannot force pid reuse", pid, strerror(errno));
	ASSERT_EQ(pid, q);
	status = reap(_metadata, q);
	ASSERT_EQ(EXIT_STATUS(22), status);
	ASSERT_OK(proc_chg(kq, pid, EV_ENABLE));
	e = evlog_expect(_metadata, kq, log, pid, EVFILT_PROC, 0);
	EXPECT_EQ(NOTE_EXIT, e->fflags) TH_LOG("NOTE_FORK is the newcomer's");
	ASSERT_EXIT_RECORD(*e, pid, EXIT_STATUS(11));
	evlog_expect_total(_metadata, kq, log, pid, EVFILT_PROC, 1, false);
	free(log);
}

/* ---- fflags ---- */

TEST(invalid_fflags_einval)
{
	static const unsigned int bad[] = {
		NOTE_EXIT | 0x8, NOTE_EXIT | 0x100, NOTE_FORK | 0x10000, 0x10000000,
		NOTE_EXIT | 0x8000, NOTE_EXIT | 0x00080000,
	};
	struct gate g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t r = kq_receipt(kq, pid, EVFILT_PROC, EV_ADD, bad[i], 0, 0, NULL);

		EXPECT_EQ(EINVAL, r) TH_LOG("fflags 0x%x: got %lld", bad[i], (long long)r);
	}
	ASSERT_ERRNO(ENOENT, proc_chg(kq, pid, EV_DELETE));
	/* NOTE_TRACKERR and NOTE_CHILD are ignored, not refused. */
	ASSERT_EQ(0, kq_receipt(kq, pid, EVFILT_PROC, EV_ADD, NOTE_EXIT | NOTE_TRACKERR, 0, 0,
				NULL));
	ASSERT_EQ(0, kq_receipt(kq, pid, EVFILT_PROC, EV_ADD, NOTE_EXIT | NOTE_CHILD, 0, 0, NULL));
	ASSERT_EQ(0, kq_receipt(kq, pid, EVFILT_PROC, EV_ADD,
				NOTE_EXIT | NOTE_FORK | NOTE_EXEC | NOTE_TRACK, 0, 0, NULL));
	gate_open(&g);
	reap(_metadata, pid);
}

/* Invalid fflags on an EV_ADD that modifies an existing knote: EINVAL too, knote unchanged. */
TEST(invalid_fflags_on_modify_einval)
{
	struct kevent ev;
	struct gate g;
	int64_t r;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 3);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 1));
	r = kq_receipt(kq, pid, EVFILT_PROC, EV_ADD, NOTE_EXIT | 0x00080000, 0, 2, NULL);
	EXPECT_EQ(EINVAL, r) TH_LOG("fflags 0x%x on an existing knote: got %lld",
				    NOTE_EXIT | 0x00080000, (long long)r);
	r = kq_receipt(kq, pid, EVFILT_PROC, EV_ADD, 0x100, 0, 3, NULL);
	EXPECT_EQ(EINVAL, r) TH_LOG("fflags 0x100 on an existing knote: got %lld", (long long)r);
	/* Still the first registration: NOTE_EXIT with udata 1. */
	gate_open(&g);
	expect_exit(_metadata, kq, pid, EXIT_STATUS(3), &ev);
	EXPECT_EQ(1, UDV(ev));
	reap(_metadata, pid);
}

/* ---- threads ---- */

/* exit() of a process with 4 threads: one NOTE_EXIT. */
TEST(multithreaded_exit_once)
{
	struct gate step;
	struct evlog *log;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	pid = threaded_child(_metadata, &step, 14);
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT | NOTE_FORK, 0, 0));
	gate_open(&step);
	evlog_expect_exit(_metadata, kq, log, pid, EXIT_STATUS(14));
	reap(_metadata, pid);
	evlog_expect_total(_metadata, kq, log, pid, EVFILT_PROC, 1, true);
	free(log);
}

static struct gate leader_gate;

static void *last_thread(void *arg)
{
	gate_wait(&leader_gate);
	syscall(SYS_exit, 0);
	return arg;
}

/*
 * The thread-group leader exits alone (SYS_exit): the process lives on, no
 * NOTE_EXIT; the last thread's exit ends the process: one NOTE_EXIT.
 */
TEST(leader_thread_exit_is_not_process_exit)
{
	struct report rep;
	struct evlog *log;
	int32_t v;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 20);
	log = evlog_new(_metadata);
	ASSERT_EQ(0, gate_init(&leader_gate));
	ASSERT_EQ(0, report_init(&rep));
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		pthread_t t;

		if (pthread_create(&t, NULL, last_thread, NULL))
			_exit(90);
		report_send(&rep, 1);
		syscall(SYS_exit, 0);	/* this thread only */
		_exit(91);
	}
	ASSERT_EQ(0, report_read(&rep, &v, KQ_WAIT_MS));
	ASSERT_OK(proc_add(kq, pid, NOTE_EXIT, 0, 0));
	/* Give the leader time to be gone. */
	sleep_ms(300);
	ASSERT_NO_EVENT(kq, pid, EVFILT_PROC);
	gate_open(&leader_gate);
	evlog_expect_exit(_metadata, kq, log, pid, EXIT_STATUS(0));
	reap(_metadata, pid);
	evlog_expect_total(_metadata, kq, log, pid, EVFILT_PROC, 1, true);
	free(log);
}

TEST(receipt_and_record_shape)
{
	struct kevent rec, ev;
	struct gate g;
	pid_t pid;

	KQ_OPEN_ALARM(kq, 15);
	pid = gated_child(_metadata, &g, 0);
	ASSERT_EQ(0, kq_receipt(kq, pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0xabc, &rec));
	EXPECT_EQ((uint64_t)pid, rec.ident);
	EXPECT_EQ(EVFILT_PROC, rec.filter);
	ASSERT_KQ_EMPTY(kq);
	gate_open(&g);
	ASSERT_EVENT(kq, pid, EVFILT_PROC, &ev);
	EXPECT_RECORD(ev, pid, EVFILT_PROC);
	EXPECT_EQ(0xabc, UDV(ev));
	reap(_metadata, pid);
}

TEST_HARNESS_MAIN
