// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * 32-bit processes: a static i386 binary drives /dev/kqueue through compat_ioctl with the
 * same 64-byte struct kevent and 40-byte argument block. It uses the raw ioctl from
 * <sys/event.h> (libkqueue itself is built for the host's 64-bit target only), so what is
 * tested is the kernel's compat path and the header's 32-bit layout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/event.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

static int kev32(int kq, const struct kevent *ch, int nch, struct kevent *ev, int nev,
		 const struct kq_timespec *ts)
{
	struct kq_kevent_args a;

	memset(&a, 0, sizeof(a));
	a.changelist = (uintptr_t)ch;
	a.nchanges = nch;
	a.eventlist = (uintptr_t)ev;
	a.nevents = nev;
	a.timeout = (uintptr_t)ts;
	a.kqfd = kq;
	a.flags = KQ_KEVENT_KQFD;
	return ioctl(kq, KQIOC_KEVENT, &a);
}

TEST(layout_is_the_64bit_one)
{
	ASSERT_EQ(4, sizeof(void *));
	ASSERT_EQ(64, sizeof(struct kevent));
	ASSERT_EQ(40, sizeof(struct kq_kevent_args));
	ASSERT_EQ(16, __builtin_offsetof(struct kevent, data));
	ASSERT_EQ(24, __builtin_offsetof(struct kevent, udata));
	ASSERT_EQ(32, __builtin_offsetof(struct kevent, ext));
}

TEST(user_event_round_trip)
{
	struct kq_timespec zero = { 0, 0 };
	struct kevent ch[2], ev[2];
	int kq = open("/dev/kqueue", O_RDWR | O_CLOEXEC);
	static int cookie;

	ASSERT_LE(0, kq);
	/* Garbage in the upper halves of ident and udata must not matter to a 32-bit caller. */
	memset(ch, 0xa5, sizeof(ch));
	EV_SET(&ch[0], 7, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, &cookie);
	EV_SET(&ch[1], 7, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | 0x12, 99, &cookie);
	ASSERT_EQ(1, kev32(kq, ch, 2, ev, 2, &zero));
	EXPECT_EQ(7, ev[0].ident);
	EXPECT_EQ(EVFILT_USER, ev[0].filter);
	EXPECT_EQ(EV_CLEAR, ev[0].flags);
	EXPECT_EQ(0x12, ev[0].fflags);
	EXPECT_EQ(99, ev[0].data);
	EXPECT_EQ((uintptr_t)&cookie, (uintptr_t)ev[0].udata);
	close(kq);
}

TEST(timer_and_errors)
{
	struct kq_timespec ts = { 2, 0 }, bad = { 0, 1000000000 };
	struct kevent ch, ev;
	int kq = open("/dev/kqueue", O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, kq);
	EV_SET(&ch, 1, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_MSECONDS, 20, NULL);
	ASSERT_EQ(1, kev32(kq, &ch, 1, &ev, 1, &ts));
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
	EXPECT_EQ(1, ev.data);
	/* A missing knote gives an EV_ERROR record with ENOENT. */
	EV_SET(&ch, 1, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
	ASSERT_EQ(1, kev32(kq, &ch, 1, &ev, 1, &ts));
	EXPECT_EQ(EV_ERROR, ev.flags);
	EXPECT_EQ(ENOENT, ev.data);
	ASSERT_EQ(-1, kev32(kq, NULL, 0, &ev, 1, &bad));
	EXPECT_EQ(EINVAL, errno);
	close(kq);
}

TEST_HARNESS_MAIN
