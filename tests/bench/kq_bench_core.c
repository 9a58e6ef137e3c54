// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Benchmarks of the kqueue core against the epoll equivalents, in the same run and VM:
 *   1. user-event round trip: one kevent() that triggers an EVFILT_USER event and returns it,
 *      against eventfd write() + epoll_wait() + read();
 *   1b. collecting an event that stays pending (level-triggered): kevent() with no changes
 *      against epoll_wait() on an eventfd that stays readable;
 *   1c. calibration: read() of 8 vs 184 bytes from /dev/zero, i.e. what the user copies alone
 *      cost on this machine (kevent() copies 120-184 bytes per call, epoll 12-28); an ENOTTY
 *      ioctl on a kqueue (the bare syscall) and a kevent() with nothing to do;
 *   2. registration: EV_ADD + EV_DELETE of a user event against epoll_ctl ADD + DEL of an eventfd;
 *   3. one active event among N idle ones (N = 10, 1000): the wait call alone;
 *   4. creating and closing a queue: kqueue() + close() against epoll_create1() + close();
 *   5. periodic timer delivery: a 1 ms EVFILT_TIMER against a 1 ms timerfd under epoll
 *      (expirations counted over a fixed time; not a speed but a correctness ratio).
 * Output is TAP (one "ok" per benchmark, failing only if a call fails) with "# bench ..." lines
 * carrying ns per operation and the kqueue/epoll ratio (below 1 = kqueue faster).
 */
#include "kselftest_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define ITERS 20000
#define REG_ITERS 1000

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The mean time of one run of the statement, in ns, over n runs in a row. */
#define PER_ITER_NS(n, ...)                                                            \
	({                                                                             \
		int64_t __t0 = now_ns();                                               \
                                                                                       \
		for (int __i = 0; __i < (n); __i++)                                    \
			__VA_ARGS__;                                                   \
		(double)(now_ns() - __t0) / (n);                                       \
	})

/* A kqueue, an epoll instance and an eventfd, each of which must be had. */
static void open_kq_ep_efd(struct __test_metadata *_metadata, int *kq, int *ep, int *efd)
{
	*kq = kqueue();
	*ep = epoll_create1(0);
	*efd = eventfd(0, 0);
	ASSERT_LE(0, *kq);
	ASSERT_LE(0, *ep);
	ASSERT_LE(0, *efd);
}

static void report(const char *what, double kq_ns, double ep_ns)
{
	ksft_print_msg("bench %s kqueue_ns=%.0f epoll_ns=%.0f ratio=%.2f\n", what, kq_ns, ep_ns,
		       kq_ns / ep_ns);
}

static const struct timespec zero_ts;

/* Adds `n` idle user events (idents 1000..) and one clear user event with ident 1. */
static int kq_with_idle(int n)
{
	struct kevent ch;
	int kq = kqueue(), i;

	if (kq < 0)
		return -1;
	for (i = 0; i < n; i++) {
		EV_SET(&ch, 1000 + i, EVFILT_USER, EV_ADD, 0, 0, NULL);
		if (kevent(kq, &ch, 1, NULL, 0, &zero_ts) != 0)
			return -1;
	}
	EV_SET(&ch, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	return kevent(kq, &ch, 1, NULL, 0, &zero_ts) == 0 ? kq : -1;
}

/* Epoll with `n` idle eventfds and one active one, returned in *active. */
static int ep_with_idle(int n, int *active)
{
	struct epoll_event e = { .events = EPOLLIN };
	int ep = epoll_create1(0), i, fd;

	if (ep < 0)
		return -1;
	for (i = 0; i < n; i++) {
		fd = eventfd(0, 0);
		e.data.fd = fd;
		if (fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e))
			return -1;
	}
	*active = eventfd(0, EFD_NONBLOCK);
	e.data.fd = *active;
	return epoll_ctl(ep, EPOLL_CTL_ADD, *active, &e) ? -1 : ep;
}

/* Per-iteration ns of: trigger ident 1 and fetch it back in the same kevent() call. */
static double kq_round_trip(int kq)
{
	struct kevent ch, ev;
	int64_t t0 = now_ns();
	int i;

	EV_SET(&ch, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	for (i = 0; i < ITERS; i++)
		if (kevent(kq, &ch, 1, &ev, 1, &zero_ts) != 1)
			return -1;
	return (double)(now_ns() - t0) / ITERS;
}

/* Per-iteration ns of: eventfd write, epoll_wait for it, read it back. */
static double ep_round_trip(int ep, int efd)
{
	struct epoll_event out;
	uint64_t v = 1;
	int64_t t0 = now_ns();
	int i;

	for (i = 0; i < ITERS; i++) {
		if (write(efd, &v, 8) != 8 || epoll_wait(ep, &out, 1, 0) != 1 || read(efd, &v, 8) != 8)
			return -1;
	}
	return (double)(now_ns() - t0) / ITERS;
}

static void idle_case(struct __test_metadata *_metadata, int idle)
{
	struct rlimit rl = { 4096, 4096 };
	char what[64];
	double k, e;
	int kq, ep, efd;

	setrlimit(RLIMIT_NOFILE, &rl);
	kq = kq_with_idle(idle);
	ASSERT_LE(0, kq);
	ep = ep_with_idle(idle, &efd);
	ASSERT_LE(0, ep);
	k = kq_round_trip(kq);
	e = ep_round_trip(ep, efd);
	ASSERT_LT(0, k);
	ASSERT_LT(0, e);
	snprintf(what, sizeof(what), "user_round_trip idle=%d", idle);
	report(what, k, e);
}

TEST(round_trip_idle_0) { idle_case(_metadata, 0); }
TEST(round_trip_idle_10) { idle_case(_metadata, 10); }
TEST(round_trip_idle_1000) { idle_case(_metadata, 1000); }

TEST(pending_event_wait)
{
	struct epoll_event e = { .events = EPOLLIN }, out;
	struct kevent ch, ev;
	uint64_t one = 1;
	int kq, ep, efd;
	double k, p;

	open_kq_ep_efd(_metadata, &kq, &ep, &efd);
	EV_SET(&ch, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);	/* no EV_CLEAR: stays active */
	ASSERT_EQ(0, kevent(kq, &ch, 1, NULL, 0, &zero_ts));
	ASSERT_EQ(8, write(efd, &one, 8));
	e.data.fd = efd;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e));
	k = PER_ITER_NS(ITERS, ASSERT_EQ(1, kevent(kq, NULL, 0, &ev, 1, &zero_ts)));
	p = PER_ITER_NS(ITERS, ASSERT_EQ(1, epoll_wait(ep, &out, 1, 0)));
	report("pending_event_wait (kevent vs epoll_wait, level-triggered)", k, p);
}

TEST(user_copy_calibration)
{
	char buf[184];
	int fd = open("/dev/zero", O_RDONLY);
	double small, big;

	ASSERT_LE(0, fd);
	small = PER_ITER_NS(ITERS, ASSERT_EQ(8, read(fd, buf, 8)));
	big = PER_ITER_NS(ITERS, ASSERT_EQ(184, read(fd, buf, 184)));
	ksft_print_msg("bench user_copy_calibration read8_ns=%.0f read184_ns=%.0f extra_per_byte_ns=%.1f\n",
		       small, big, (big - small) / 176);
	close(fd);
	/* The ioctl path alone: an unknown request on a kqueue is ENOTTY straight from the module. */
	fd = kqueue();
	ASSERT_LE(0, fd);
	ksft_print_msg("bench ioctl_enotty_ns=%.0f\n",
		       PER_ITER_NS(ITERS, ASSERT_EQ(-1, ioctl(fd, 0, 0))));
	ksft_print_msg("bench kevent_empty_ns=%.0f\n",
		       PER_ITER_NS(ITERS, ASSERT_EQ(0, kevent(fd, NULL, 0, NULL, 0, &zero_ts))));
	close(fd);
}

TEST(registration)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct kevent ch[2];
	int kq, ep, efd;
	double k, p;

	open_kq_ep_efd(_metadata, &kq, &ep, &efd);
	EV_SET(&ch[0], 7, EVFILT_USER, EV_ADD, 0, 0, NULL);
	EV_SET(&ch[1], 7, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	k = PER_ITER_NS(REG_ITERS, ASSERT_EQ(0, kevent(kq, ch, 2, NULL, 0, &zero_ts)));
	p = PER_ITER_NS(REG_ITERS, {
		ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e));
		ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL));
	});
	report("add_delete_pair (one kevent call vs two epoll_ctl)", k, p);
}

TEST(create_close)
{
	int64_t t0;
	double k, e;
	int i, fd;

	t0 = now_ns();
	for (i = 0; i < 200; i++) {
		fd = kqueue();
		ASSERT_LE(0, fd);
		close(fd);
	}
	k = (double)(now_ns() - t0) / 200;
	t0 = now_ns();
	for (i = 0; i < 200; i++) {
		fd = epoll_create1(0);
		ASSERT_LE(0, fd);
		close(fd);
	}
	e = (double)(now_ns() - t0) / 200;
	report("create_close", k, e);
}

TEST(timer_1ms_expirations)
{
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };
	struct epoll_event e = { .events = EPOLLIN }, out;
	struct kevent ch, ev;
	int kq = kqueue(), ep = epoll_create1(0), tfd = timerfd_create(CLOCK_MONOTONIC, 0);
	int64_t k_count = 0, e_count = 0, end;
	uint64_t n;

	ASSERT_LE(0, kq);
	ASSERT_LE(0, tfd);
	EV_SET(&ch, 1, EVFILT_TIMER, EV_ADD, NOTE_MSECONDS, 1, NULL);
	ASSERT_EQ(0, kevent(kq, &ch, 1, NULL, 0, NULL));
	end = now_ns() + 500000000LL;
	while (now_ns() < end)
		if (kevent(kq, NULL, 0, &ev, 1, NULL) == 1)
			k_count += ev.data;
	e.data.fd = tfd;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e));
	ASSERT_EQ(0, timerfd_settime(tfd, 0, &its, NULL));
	end = now_ns() + 500000000LL;
	while (now_ns() < end)
		if (epoll_wait(ep, &out, 1, -1) == 1 && read(tfd, &n, 8) == 8)
			e_count += n;
	ksft_print_msg("bench timer_1ms_500ms expirations kqueue=%lld timerfd=%lld\n",
		       (long long)k_count, (long long)e_count);
	/* Both count every expiration of a 500 ms window: about 500 each. */
	EXPECT_LT(400, k_count);
	EXPECT_GT(600, k_count);
}

TEST_HARNESS_MAIN
