// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_READ / EVFILT_WRITE on the other kinds of descriptor:
 *
 *  - ptys (posix_openpt; a private devpts instance when /dev/pts is not
 *    mounted): data = bytes readable on either side (raw mode); EV_EOF on the
 *    master when the slave is closed, and on the slave when the master is.
 *  - eventfd, timerfd, signalfd (Linux-only objects): readiness as poll()
 *    reports it; data is not checked.
 *  - regular files (FreeBSD vfs filt_vfsread / filt_vfswrite): READ data =
 *    file size - file offset (negative past EOF); active when data != 0, or
 *    always with NOTE_FILE_POLL; a write that extends the file wakes a reader
 *    waiting at EOF (tail -f), and so does a truncate below its offset (data
 *    turns negative); WRITE always active with data 0; EMPTY EINVAL.
 *  - /dev/null (a device without a poll method): READ and WRITE refused with
 *    ENODEV, as FreeBSD refuses a cdev without d_kqfilter (no_kqfilter).
 * Kqueues and epoll descriptors are in kq_fd_test_nested.c.
 */
#include "kq_fd_common.h"

#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <termios.h>

/* ---- ptys ------------------------------------------------------------------------ */

static int pty_slave_of(int m)
{
	if (unlockpt(m) < 0)
		return -1;
	return ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK);
}

/* A master/slave pair, non-blocking, slave in raw mode. 0 or -1. */
static int open_pty(int *master, int *slave)
{
	char dir[] = "/tmp/kq_fd_pts.XXXXXX", path[64];
	struct termios t;
	int m, s = -1;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (m >= 0) {
		if (grantpt(m) == 0)
			s = pty_slave_of(m);
		if (s < 0)
			close(m);
	}
	if (s < 0) {
		/* No devpts on /dev/pts (the test VM's initramfs): mount a private instance. */
		if (!mkdtemp(dir))
			return -1;
		if (mount("devpts", dir, "devpts", 0, "newinstance,ptmxmode=0666,mode=0620") < 0) {
			rmdir(dir);
			return -1;
		}
		snprintf(path, sizeof(path), "%s/ptmx", dir);
		m = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
		if (m >= 0) {
			s = pty_slave_of(m);
			if (s < 0)
				close(m);
		}
		umount2(dir, MNT_DETACH);	/* the open descriptors keep the instance */
		rmdir(dir);
		if (s < 0)
			return -1;
	}
	if (tcgetattr(s, &t) < 0)
		return -1;
	cfmakeraw(&t);
	if (tcsetattr(s, TCSANOW, &t) < 0)
		return -1;
	*master = m;
	*slave = s;
	return 0;
}

/* A pty pair: master self->m, slave self->s (raw mode), both non-blocking. */
KQ_FD_FIXTURE(pty, 15, int m; int s;,
	      ASSERT_EQ(0, open_pty(&self->m, &self->s)) TH_LOG("pty: %s", strerror(errno)))

TEST_F(pty, pty_master_read_data)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->m, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->m, EVFILT_READ);
	ASSERT_EQ(5, write(self->s, "hello", 5));
	ASSERT_EVENT_DATA(self->kq, self->m, EVFILT_READ, 5, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);
	ASSERT_EQ(5, take(self->m, 100));
	ASSERT_NO_EVENT(self->kq, self->m, EVFILT_READ);
}

TEST_F(pty, pty_slave_read_data)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->s, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->s, EVFILT_READ);
	ASSERT_EQ(3, write(self->m, "abc", 3));
	ASSERT_EVENT_DATA(self->kq, self->s, EVFILT_READ, 3, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);
}

TEST_F(pty, pty_write_ready_both_sides)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->m, EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_OK(fd_add(self->kq, self->s, EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EVENT(self->kq, self->m, EVFILT_WRITE, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);
	ASSERT_EVENT(self->kq, self->s, EVFILT_WRITE, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);
}

TEST_F(pty, pty_slave_close_master_eof)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->m, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(0, close(self->s));
	ASSERT_EVENT_EOF(self->kq, self->m, EVFILT_READ, &ev);
}

TEST_F(pty, pty_master_close_slave_eof)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->s, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(0, close(self->m));
	ASSERT_EVENT_EOF(self->kq, self->s, EVFILT_READ, &ev);
}

/* ---- eventfd / timerfd / signalfd ------------------------------------------------------ */

/* A non-blocking eventfd self->e, counter 0. */
KQ_FD_FIXTURE(eventfd, 10, int e;,
	      self->e = eventfd(0, EFD_NONBLOCK);
	      ASSERT_LE(0, self->e))

TEST_F(eventfd, eventfd_readable_while_counter_nonzero)
{
	struct kevent ev;
	uint64_t v = 1;

	ASSERT_OK(fd_add(self->kq, self->e, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->e, EVFILT_READ);
	ASSERT_EQ(8, write(self->e, &v, 8));
	ASSERT_EVENT(self->kq, self->e, EVFILT_READ, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);
	ASSERT_EQ(8, read(self->e, &v, 8));
	EXPECT_EQ(1, v);
	ASSERT_NO_EVENT(self->kq, self->e, EVFILT_READ);
}

TEST_F(eventfd, eventfd_writable_until_counter_full)
{
	struct kevent ev;
	uint64_t v = 0xfffffffffffffffeULL;

	ASSERT_OK(fd_add(self->kq, self->e, EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EVENT(self->kq, self->e, EVFILT_WRITE, &ev);
	ASSERT_EQ(8, write(self->e, &v, 8));		/* counter at its maximum */
	ASSERT_NO_EVENT(self->kq, self->e, EVFILT_WRITE);
	ASSERT_EQ(8, read(self->e, &v, 8));
	ASSERT_EVENT(self->kq, self->e, EVFILT_WRITE, &ev);
}

TEST(timerfd_readable_on_expiry)
{
	struct itimerspec its = { .it_value = { 0, 30 * NSEC_PER_MSEC } };
	struct kevent ev;
	uint64_t exp;
	int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int64_t t0;

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_LE(0, t);
	ASSERT_OK(fd_add(kq, t, EVFILT_READ, 0, 0, 0, 0));
	t0 = now_ns();
	ASSERT_EQ(0, timerfd_settime(t, 0, &its, NULL));
	ASSERT_EQ(1, kevent(kq, NULL, 0, &ev, 1, NULL));
	EXPECT_LE(25, ms_since(t0));
	EXPECT_EQ((uint64_t)t, ev.ident);
	ASSERT_EQ(8, read(t, &exp, 8));
	EXPECT_EQ(1, exp);
	ASSERT_NO_EVENT(kq, t, EVFILT_READ);
}

TEST(signalfd_readable_with_pending_signal)
{
	struct signalfd_siginfo si;
	struct kevent ev;
	sigset_t set;
	int s;

	KQ_OPEN(kq);
	alarm(10);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &set, NULL));
	s = signalfd(-1, &set, SFD_NONBLOCK);
	ASSERT_LE(0, s);
	ASSERT_OK(fd_add(kq, s, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(kq, s, EVFILT_READ);
	ASSERT_EQ(0, raise(SIGUSR1));	/* to this thread, which blocks it */
	ASSERT_EVENT(kq, s, EVFILT_READ, &ev);
	ASSERT_EQ(sizeof(si), read(s, &si, sizeof(si)));
	EXPECT_EQ(SIGUSR1, si.ssi_signo);
	ASSERT_NO_EVENT(kq, s, EVFILT_READ);
}

/* ---- regular files ------------------------------------------------------------------------ */

/* A new file in /tmp with n bytes, offset 0, already unlinked. */
static int tmpfile_with(size_t n)
{
	char path[] = "/tmp/kq_fd_file.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (n && put(fd, n) != (ssize_t)n)
		return -1;
	return lseek(fd, 0, SEEK_SET) == 0 ? fd : -1;
}

TEST(file_read_data_is_offset_to_eof)
{
	struct kevent ev;
	int f = tmpfile_with(100);

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_LE(0, f);
	ASSERT_OK(fd_add(kq, f, EVFILT_READ, 0, 0, 0, 0x5));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ((uint64_t)f, ev.ident);
	EXPECT_EQ(100, ev.data);
	EXPECT_EQ(0x5, UDV(ev));
	EXPECT_FALSE(ev.flags & EV_EOF);
	ASSERT_EQ(30, take(f, 30));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(70, ev.data);
	ASSERT_EQ(70, take(f, 100));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));	/* at EOF: data 0, not active */
}

TEST(file_at_eof_needs_note_file_poll)
{
	struct kevent ev;
	int f = tmpfile_with(10);

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_LE(0, f);
	ASSERT_EQ(10, lseek(f, 0, SEEK_END));
	ASSERT_OK(fd_add(kq, f, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	/* NOTE_FILE_POLL: always readable, like poll(). */
	ASSERT_OK(fd_add(kq, f, EVFILT_READ, 0, NOTE_FILE_POLL, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(0, ev.data);
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));	/* level: stays */
}

TEST(file_empty_with_note_file_poll)
{
	struct kevent ev;
	int f = tmpfile_with(0);

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_LE(0, f);
	ASSERT_OK(fd_add(kq, f, EVFILT_READ, 0, NOTE_FILE_POLL, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(0, ev.data);
}

TEST(file_offset_past_eof_negative_data)
{
	struct kevent ev;
	int f = tmpfile_with(100);

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_LE(0, f);
	ASSERT_EQ(150, lseek(f, 150, SEEK_SET));
	ASSERT_OK(fd_add(kq, f, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(-50, ev.data);
}

/* An empty file in /tmp, already unlinked: open for writing as self->w, for reading as self->r. */
KQ_FD_FIXTURE(growing_file, 10, int w; int r;,
	      char path[] = "/tmp/kq_fd_file.XXXXXX";
	      self->w = mkstemp(path);
	      ASSERT_LE(0, self->w);
	      self->r = open(path, O_RDONLY);
	      ASSERT_LE(0, self->r);
	      unlink(path))

/* A write that extends the file wakes a knote waiting at EOF (FreeBSD tail -f). */
TEST_F(growing_file, file_append_wakes_reader_at_eof)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->r, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->r, EVFILT_READ);
	ASSERT_EQ(10, put(self->w, 10));
	ASSERT_EVENT(self->kq, self->r, EVFILT_READ, &ev);
	EXPECT_EQ(10, ev.data);
}

TEST_F(growing_file, file_append_wakes_blocked_waiter)
{
	struct later_write lw;
	struct kevent ev;
	pthread_t t;

	ASSERT_OK(fd_add(self->kq, self->r, EVFILT_READ, EV_CLEAR, 0, 0, 0));
	lw = (struct later_write){ .fd = self->w, .delay_ms = 100, .n = 4 };
	ASSERT_EQ(0, pthread_create(&t, NULL, later_write_fn, &lw));
	ASSERT_EQ(1, kevent(self->kq, NULL, 0, &ev, 1, NULL));
	EXPECT_EQ((uint64_t)self->r, ev.ident);
	EXPECT_EQ(4, ev.data);
	pthread_join(t, NULL);
}

/*
 * A truncate through another descriptor wakes a reader at EOF too: the file shrinks below its
 * offset, so data = size - offset turns negative (FreeBSD filt_vfsread; fsnotify's modify
 * event comes synchronously from the truncate, so the event is there when ftruncate() returns).
 */
TEST_F(growing_file, file_truncate_below_offset_wakes_reader)
{
	struct kevent ev;

	ASSERT_EQ(10, put(self->w, 10));
	ASSERT_EQ(10, lseek(self->r, 10, SEEK_SET));
	ASSERT_OK(fd_add(self->kq, self->r, EVFILT_READ, EV_CLEAR, 0, 0, 0));
	kq_poll(self->kq, &ev, 1);	/* at EOF: data 0, nothing should be pending; drain anyway */
	ASSERT_EQ(0, ftruncate(self->w, 4));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1)) TH_LOG("no event after ftruncate() to below the offset");
	EXPECT_EQ((uint64_t)self->r, ev.ident);
	EXPECT_EQ(EVFILT_READ, ev.filter);
	EXPECT_EQ(-6, ev.data);
}

TEST(file_write_always_ready_data_zero)
{
	struct kevent ev;
	int f = tmpfile_with(10);

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_LE(0, f);
	ASSERT_OK(fd_add(kq, f, EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(EVFILT_WRITE, ev.filter);
	EXPECT_EQ(0, ev.data);
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
}

TEST(file_empty_filter_einval)
{
	int f = tmpfile_with(10);

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_LE(0, f);
	ASSERT_ERRNO(EINVAL, fd_add(kq, f, EVFILT_EMPTY, 0, 0, 0, 0));
}

/* ---- a file with no poll method ---------------------------------------------------------------- */

TEST(dev_null_refused_enodev)
{
	struct kevent ch[2], out[2];
	int f = open("/dev/null", O_RDWR);

	KQ_OPEN(kq);
	alarm(10);
	ASSERT_LE(0, f);
	/* Without room for records the call fails with the errno. */
	EV_SET(&ch[0], f, EVFILT_READ, EV_ADD, 0, 0, 0);
	ASSERT_EQ(-1, kevent(kq, ch, 1, NULL, 0, NULL));
	ASSERT_EQ(ENODEV, errno);
	/* With room: one EV_ERROR record per change, and nothing is registered. */
	EV_SET(&ch[1], f, EVFILT_WRITE, EV_ADD, 0, 0, 0);
	ASSERT_EQ(2, kevent(kq, ch, 2, out, 2, NULL));
	EXPECT_EQ(EV_ERROR, out[0].flags & EV_ERROR);
	EXPECT_EQ(ENODEV, out[0].data);
	EXPECT_EQ(EV_ERROR, out[1].flags & EV_ERROR);
	EXPECT_EQ(ENODEV, out[1].data);
	EV_SET(&ch[0], f, EVFILT_READ, EV_DELETE, 0, 0, 0);
	ASSERT_EQ(-1, kevent(kq, ch, 1, NULL, 0, NULL));
	ASSERT_EQ(ENOENT, errno);
	close(f);
}

/* ---- POLLFREE ------------------------------------------------------------------------------- */

/*
 * signalfd's wait queue lives in the signal handlers of the task that polled it. When that
 * sighand_struct is freed, signalfd sends POLLFREE and the waiters must unlink themselves (epoll's
 * handshake). To get there with the kqueue still open: a CLONE_SIGHAND child shares our
 * sighand; we register the signalfd knote (hooked on that sighand), then exec ourselves, which
 * gives us a new sighand (the old one stays with the child); the child exits, the old sighand is
 * freed and POLLFREE reaches our hook. Stage 2 (after the exec) then deletes the knote and closes
 * the kqueue: with a mishandled POLLFREE that touches freed memory (KASAN) or a dangling wait
 * entry. The file descriptors cross the exec by number (KQ_POLLFREE_FDS).
 */
#include <sched.h>
#include <sys/wait.h>

static int pollfree_child(void *arg)
{
	char c;

	(void)!read(*(int *)arg, &c, 1);	/* until stage 2 says go */
	return 0;
}

static int pollfree_stage2(const char *fds)
{
	int kq, sfd, go, child;
	struct kevent ch, ev;

	if (sscanf(fds, "%d,%d,%d,%d", &kq, &sfd, &go, &child) != 4)
		return 10;
	if (write(go, "x", 1) != 1)
		return 11;
	if (waitpid(child, NULL, __WALL) != child)	/* the old sighand is freed: POLLFREE */
		return 12;
	usleep(100 * 1000);
	/* The knote saw POLLFREE: nothing to report (no signal pending), and it can be deleted. */
	if (kevent(kq, NULL, 0, &ev, 1, &(struct timespec){ 0, 0 }) != 0)
		return 13;
	EV_SET(&ch, sfd, EVFILT_READ, EV_DELETE, 0, 0, 0);
	if (kevent(kq, &ch, 1, NULL, 0, NULL) != 0)
		return 14;
	close(kq);
	close(sfd);
	return 0;
}

__attribute__((constructor)) static void pollfree_stage2_hook(void)
{
	const char *fds = getenv("KQ_POLLFREE_FDS");

	if (fds)
		_exit(pollfree_stage2(fds));
}

TEST(signalfd_pollfree_after_sighand_freed)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	int go[2], sfd, child, status;
	struct kevent ev;
	char env[64];
	sigset_t mask;
	pid_t pid;

	alarm(20);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int kq = kqueue();

		sigemptyset(&mask);
		sigaddset(&mask, SIGUSR2);
		sigprocmask(SIG_BLOCK, &mask, NULL);
		sfd = signalfd(-1, &mask, 0);
		if (kq < 0 || sfd < 0 || pipe(go) < 0)
			_exit(20);
		child = clone(pollfree_child, stack + sizeof(stack),
			      CLONE_VM | CLONE_SIGHAND | SIGCHLD, &go[0]);
		if (child < 0)
			_exit(21);
		/* Hooks the knote on the sighand we share with the child. */
		EV_SET(&ev, sfd, EVFILT_READ, EV_ADD, 0, 0, 0);
		if (kevent(kq, &ev, 1, NULL, 0, NULL) != 0)
			_exit(22);
		snprintf(env, sizeof(env), "KQ_POLLFREE_FDS=%d,%d,%d,%d", kq, sfd, go[1], child);
		putenv(env);
		execl("/proc/self/exe", "kq_fd_test_misc", (char *)NULL);
		_exit(23);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
