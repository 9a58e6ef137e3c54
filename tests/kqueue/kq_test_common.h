/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Shared helpers of the kqueue selftests (kq_test_*.c).
 *
 * The tests use the kernel tree's kselftest harness: every TEST() runs in its
 * own forked child, so a kqueue opened by one test never leaks into another.
 * Every test that can block also arms alarm() (default action: the child is
 * killed by SIGALRM and the harness reports the test as failed), on top of the
 * harness's own 30 s timeout.
 */
#ifndef KQ_TEST_COMMON_H
#define KQ_TEST_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

/* System call and clone flag numbers that older C library headers lack. */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

/*
 * udata is `void *` in FreeBSD's header; these two macros keep the tests
 * independent of whether the header spells it as a pointer or an integer.
 */
#define UD(x) ((__typeof__(((struct kevent *)0)->udata))(uintptr_t)(x))
#define UDV(ev) ((uint64_t)(uintptr_t)(ev).udata)

/* Flags that are actions only: FreeBSD never reports them back. */
#define KQ_ACTION_FLAGS (EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_FORCEONESHOT)

/*
 * TEST() cases get the harness's fixed 30 s timeout. The few tests that do
 * thousands of knote additions and removals (slow in the emulated, KASAN and
 * kmemleak-instrumented test VM) are TEST_F_TIMEOUT(slow, name, secs) cases of
 * this empty fixture instead; a file that has some says KQ_SLOW_FIXTURE once.
 */
#define KQ_SLOW_FIXTURE                                                        \
	FIXTURE(slow) { int unused; };                                         \
	FIXTURE_SETUP(slow) {}                                                 \
	FIXTURE_TEARDOWN(slow) {}

#define NSEC_PER_MSEC 1000000LL
#define NSEC_PER_SEC 1000000000LL

/* Open a kqueue into a new local `kq`, failing the test if that is impossible. */
#define KQ_OPEN(kq)                                                            \
	int kq = kqueue();                                                     \
	ASSERT_LE(0, kq) TH_LOG("kqueue(): %s", strerror(errno))

/* KQ_OPEN(kq), then alarm(secs): a hang past secs fails the test. */
#define KQ_OPEN_ALARM(kq, secs)                                                \
	KQ_OPEN(kq);                                                           \
	alarm(secs)

/*
 * `expr` must fail with -1 and errno `err`. The errno is captured right after
 * the call, before the harness macros can clobber it.
 */
#define ASSERT_FAILS(err, expr)                                                \
	do {                                                                   \
		long __r;                                                      \
		int __e;                                                       \
		errno = 0;                                                     \
		__r = (long)(expr);                                            \
		__e = errno;                                                   \
		ASSERT_EQ(-1, __r) TH_LOG("%s returned %ld, expected -1/%s",  \
					  #expr, __r, strerrorname_np(err));   \
		ASSERT_EQ(err, __e) TH_LOG("%s: errno %s, expected %s", #expr, \
					   strerrorname_np(__e),               \
					   strerrorname_np(err));              \
	} while (0)

/* Same, for helpers below that return 0 or an errno value. */
#define ASSERT_ERRNO(err, expr)                                                \
	do {                                                                   \
		int __e = (expr);                                              \
		ASSERT_EQ(err, __e) TH_LOG("%s: got %d (%s), expected %s",     \
					   #expr, __e,                         \
					   __e > 0 ? strerrorname_np(__e) : "-", \
					   strerrorname_np(err));              \
	} while (0)

#define ASSERT_OK(expr) ASSERT_ERRNO(0, expr)

/*
 * Event assertions for the headers that define kq_find(kq, ident, filter, out,
 * timeout_ms) (1: found, 0: none in time, -errno), filt_name(filter), KQ_WAIT_MS
 * and KQ_QUIET_MS: ../fd/kq_fd_common.h and ../filters/kq_filter_common.h.
 */

/* An event (ident, filter) must arrive within KQ_WAIT_MS; it is stored in *(evp). */
#define ASSERT_EVENT(kq, ident, filter, evp)                                           \
	ASSERT_EQ(1, (memset(evp, 0, sizeof(*(evp))),                                  \
		      kq_find(kq, (uint64_t)(ident), filter, evp, KQ_WAIT_MS)))        \
	TH_LOG("no EVFILT_%s event for ident %lld within %d ms", filt_name(filter),    \
	       (long long)(ident), KQ_WAIT_MS)

/* No event (ident, filter) may arrive within KQ_QUIET_MS. */
#define ASSERT_NO_EVENT(kq, ident, filter)                                             \
	do {                                                                           \
		struct kevent __ev = { 0 };                                            \
		int __r = kq_find(kq, (uint64_t)(ident), filter, &__ev, KQ_QUIET_MS);  \
		ASSERT_EQ(0, __r)                                                      \
		TH_LOG("unexpected EVFILT_%s event for ident %lld: flags 0x%x "        \
		       "fflags 0x%x data %lld", filt_name(filter), (long long)(ident), \
		       __ev.flags, __ev.fflags, (long long)__ev.data);                 \
	} while (0)

static inline struct kevent kev_make(uint64_t ident, int filter, unsigned int flags,
				     unsigned int fflags, int64_t data, uint64_t udata)
{
	struct kevent k;

	memset(&k, 0, sizeof(k));
	k.ident = ident;
	k.filter = filter;
	k.flags = flags;
	k.fflags = fflags;
	k.data = data;
	k.udata = UD(udata);
	return k;
}

static inline struct timespec ts_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC };

	return ts;
}

/*
 * Apply one change with no event list and no waiting. Returns 0 on success,
 * the errno on failure, and a negative value if kevent() reported events
 * (impossible with nevents == 0).
 */
static inline int kq_ctl(int kq, uint64_t ident, int filter, unsigned int flags,
			 unsigned int fflags, int64_t data, uint64_t udata)
{
	struct kevent k = kev_make(ident, filter, flags, fflags, data, udata);
	struct timespec zero = { 0, 0 };
	int r = kevent(kq, &k, 1, NULL, 0, &zero);

	if (r == 0)
		return 0;
	if (r < 0)
		return errno;
	return -1000 - r;
}

static inline int user_add(int kq, uint64_t ident, unsigned int flags)
{
	return kq_ctl(kq, ident, EVFILT_USER, EV_ADD | flags, 0, 0, 0);
}

static inline int user_trigger(int kq, uint64_t ident)
{
	return kq_ctl(kq, ident, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);
}

static inline int user_del(int kq, uint64_t ident)
{
	return kq_ctl(kq, ident, EVFILT_USER, EV_DELETE, 0, 0, 0);
}

/* Timer in the given unit (fflags), with extra action flags. */
static inline int timer_add(int kq, uint64_t ident, unsigned int flags,
			    unsigned int fflags, int64_t data)
{
	return kq_ctl(kq, ident, EVFILT_TIMER, EV_ADD | flags, fflags, data, 0);
}

/*
 * Retrieve up to n events; timeout_ms < 0 waits without a time limit,
 * 0 polls. Returns kevent()'s result (errno is kept).
 */
static inline int kq_get(int kq, struct kevent *ev, int n, long timeout_ms)
{
	struct timespec ts = ts_ns((int64_t)timeout_ms * NSEC_PER_MSEC);

	return kevent(kq, NULL, 0, ev, n, timeout_ms < 0 ? NULL : &ts);
}

static inline int kq_poll(int kq, struct kevent *ev, int n)
{
	return kq_get(kq, ev, n, 0);
}

/* Number of pending events (drains nothing that is EV_CLEAR-less; consumes EV_CLEAR ones). */
static inline int kq_count(int kq)
{
	struct kevent ev[64];

	return kq_poll(kq, ev, 64);
}

static inline int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static inline int64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/*
 * A knob from environment variable `name` (the VM passes kq.env=NAME=VALUE words): an integer
 * in `base` (strtol's: 0 takes 0x... and 0...) between min and max. 1 with *out set; 0 if the
 * variable is unset or empty; -1 if its value is not such an integer (*out untouched).
 */
static inline int kq_env_long(const char *name, int base, long min, long max, long *out)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return 0;
	v = strtol(s, &end, base);
	if (*end || v < min || v > max)
		return -1;
	*out = v;
	return 1;
}

/*
 * One retrieval of up to n events from kq, waiting at most until `deadline`
 * (now_ns() clock); a signal handler's EINTR retries. *last is set when no
 * time was left for it (the deadline passed). The count, or -errno.
 */
static inline int kq_get_until(int kq, struct kevent *ev, int n, int64_t deadline, bool *last)
{
	for (;;) {
		int64_t left = deadline - now_ns();
		struct timespec ts;
		int r;

		if (left < 0)
			left = 0;
		*last = left == 0;
		ts = ts_ns(left);
		r = kevent(kq, NULL, 0, ev, n, &ts);
		if (r >= 0 || errno != EINTR)
			return r < 0 ? -errno : r;
	}
}

static inline int64_t ms_since(int64_t t0)
{
	return (now_ns() - t0) / NSEC_PER_MSEC;
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = ts_ns((int64_t)ms * NSEC_PER_MSEC);

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static inline bool flags_clean(const struct kevent *ev)
{
	return (ev->flags & KQ_ACTION_FLAGS) == 0;
}

/* FD_CLOEXEC state of fd: 1 set, 0 clear, -1 error. */
static inline int fd_cloexec(int fd)
{
	int f = fcntl(fd, F_GETFD);

	return f < 0 ? -1 : !!(f & FD_CLOEXEC);
}

static inline void noop_handler(int sig)
{
	(void)sig;
}

/* Install `noop_handler` for sig WITHOUT SA_RESTART, so blocking calls get EINTR. */
static inline int install_eintr_handler(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	return sigaction(sig, &sa, NULL);
}

/* ---- text files of /proc and /sys ---------------------------------------------------------- */

/*
 * The text of the file at `path` (fdinfo, wchan, a module parameter) into buf, NUL-terminated:
 * its length, or -1 with errno set (no such file, unreadable, empty). One read(): the
 * seq_files these tests read return everything that fits.
 */
static inline ssize_t kq_read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;
	ssize_t n;

	buf[0] = 0;
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	err = errno;
	close(fd);
	errno = n == 0 ? ENODATA : err;
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* kq_read_text of /proc/self/fdinfo/<fd> (a kqueue's shows its knotes, one line each). */
static inline ssize_t kq_read_fdinfo(int fd, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return kq_read_text(path, buf, size);
}

/* ---- module parameters (/sys/module/kqueue/parameters/NAME) ------------------------------- */

/* Reads parameter `name` into buf (NUL-terminated, without the newline): 0, or the errno. */
static inline int kq_param_read(const char *name, char *buf, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/kqueue/parameters/%s", name);
	if (kq_read_text(path, buf, len) < 0)
		return errno;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* Writes `value` to parameter `name` (root only): 0, or the errno. */
static inline int kq_param_write(const char *name, const char *value)
{
	char path[128];
	size_t len = strlen(value);
	int fd, ok, err;

	snprintf(path, sizeof(path), "/sys/module/kqueue/parameters/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	ok = write(fd, value, len) == (ssize_t)len;
	err = errno;
	close(fd);
	return ok ? 0 : err ? err : EIO;
}

#endif /* KQ_TEST_COMMON_H */
