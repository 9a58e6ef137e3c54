// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kqueue core: creation, the kevent() calling convention, argument checking,
 * change processing (order, EV_ERROR records, EV_RECEIPT), action flags, and
 * the raw /dev/kqueue ioctl ABI (rust/abi.rs).
 */
#include "kq_test_common.h"

#include <stddef.h>
#include <linux/ioctl.h>

/* ---- kqueue(), kqueue1(), kqueuex() ---------------------------------- */

TEST(kqueue_basic)
{
	struct kevent ev;
	int kq2;

	KQ_OPEN(kq);
	/* FreeBSD kqueue() does not set close-on-exec. */
	ASSERT_EQ(0, fd_cloexec(kq));
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	ASSERT_NE(kq, kq2);
	ASSERT_EQ(0, kevent(kq, NULL, 0, NULL, 0, NULL));
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	ASSERT_EQ(0, close(kq2));
	ASSERT_EQ(0, close(kq));
}

TEST(kqueue1_cloexec)
{
	int a = kqueue1(O_CLOEXEC), b = kqueue1(0);

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	EXPECT_EQ(1, fd_cloexec(a));
	EXPECT_EQ(0, fd_cloexec(b));
	close(a);
	close(b);
}

TEST(kqueuex_flags)
{
	int a = kqueuex(KQUEUE_CLOEXEC), b = kqueuex(0);

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	EXPECT_EQ(1, fd_cloexec(a));
	EXPECT_EQ(0, fd_cloexec(b));
	ASSERT_FAILS(EINVAL, kqueuex(0x2));
	ASSERT_FAILS(EINVAL, kqueuex(0x80000000u));
	ASSERT_FAILS(EINVAL, kqueuex(KQUEUE_CLOEXEC | 0x4));
	close(a);
	close(b);
}

/* ---- header / ABI ------------------------------------------------------ */

TEST(kevent_struct_layout)
{
	struct kevent k;

	ASSERT_EQ(64, sizeof(struct kevent));
	EXPECT_EQ(0, offsetof(struct kevent, ident));
	EXPECT_EQ(8, offsetof(struct kevent, filter));
	EXPECT_EQ(10, offsetof(struct kevent, flags));
	EXPECT_EQ(12, offsetof(struct kevent, fflags));
	EXPECT_EQ(16, offsetof(struct kevent, data));
	EXPECT_EQ(24, offsetof(struct kevent, udata));
	EXPECT_EQ(32, offsetof(struct kevent, ext));
	EXPECT_EQ(32, sizeof(k.ext));

	/* EV_SET fills every field and zeroes ext[]. */
	memset(&k, 0xa5, sizeof(k));
	EV_SET(&k, 42, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_FFCOPY | 7, -5, UD(0x1234));
	EXPECT_EQ(42, k.ident);
	EXPECT_EQ(EVFILT_USER, k.filter);
	EXPECT_EQ(EV_ADD | EV_CLEAR, k.flags);
	EXPECT_EQ(NOTE_FFCOPY | 7, k.fflags);
	EXPECT_EQ(-5, k.data);
	EXPECT_EQ(0x1234, UDV(k));
	for (int i = 0; i < 4; i++) {
		EXPECT_EQ(0, k.ext[i]);
	}
}

TEST(freebsd_numbering)
{
	EXPECT_EQ(-1, EVFILT_READ);
	EXPECT_EQ(-2, EVFILT_WRITE);
	EXPECT_EQ(-3, EVFILT_AIO);
	EXPECT_EQ(-7, EVFILT_TIMER);
	EXPECT_EQ(-9, EVFILT_FS);
	EXPECT_EQ(-11, EVFILT_USER);
	EXPECT_EQ(0x0001, EV_ADD);
	EXPECT_EQ(0x0002, EV_DELETE);
	EXPECT_EQ(0x0004, EV_ENABLE);
	EXPECT_EQ(0x0008, EV_DISABLE);
	EXPECT_EQ(0x0010, EV_ONESHOT);
	EXPECT_EQ(0x0020, EV_CLEAR);
	EXPECT_EQ(0x0040, EV_RECEIPT);
	EXPECT_EQ(0x0080, EV_DISPATCH);
	EXPECT_EQ(0x0100, EV_FORCEONESHOT);
	EXPECT_EQ(0x0200, EV_KEEPUDATA);
	EXPECT_EQ(0x4000, EV_ERROR);
	EXPECT_EQ(0x8000, EV_EOF);
	EXPECT_EQ(0x01000000, NOTE_TRIGGER);
	EXPECT_EQ(0x00ffffff, NOTE_FFLAGSMASK);
	EXPECT_EQ(0xc0000000u, NOTE_FFCOPY);
	EXPECT_EQ(0x80000000u, NOTE_FFOR);
	EXPECT_EQ(0x40000000u, NOTE_FFAND);
	EXPECT_EQ(1, NOTE_SECONDS);
	EXPECT_EQ(2, NOTE_MSECONDS);
	EXPECT_EQ(4, NOTE_USECONDS);
	EXPECT_EQ(8, NOTE_NSECONDS);
	EXPECT_EQ(0x10, NOTE_ABSTIME);
	EXPECT_EQ(1, KQUEUE_CLOEXEC);
}

/*
 * The ioctl ABI from rust/abi.rs, used directly so that a kernel bug can be
 * told apart from a library bug.
 */
struct raw_kq_kevent_args {
	uint64_t changelist;
	uint64_t eventlist;
	uint64_t timeout;
	int32_t nchanges;
	int32_t nevents;
	int32_t kqfd;
	uint32_t flags;
};
#define RAW_KQIOC_KEVENT _IOWR('k', 1, struct raw_kq_kevent_args)

TEST(raw_ioctl_abi)
{
	struct kevent ch[2], ev[2];
	struct raw_kq_kevent_args a;
	struct timespec zero = { 0, 0 };
	int fd;

	ASSERT_EQ(40, sizeof(a));
	ASSERT_EQ(0xc0286b01u, (unsigned int)RAW_KQIOC_KEVENT);
	fd = open("/dev/kqueue", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open /dev/kqueue: %s", strerror(errno));

	ch[0] = kev_make(5, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 0x55);
	ch[1] = kev_make(5, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0x55);
	memset(&a, 0, sizeof(a));
	a.changelist = (uintptr_t)ch;
	a.nchanges = 2;
	a.eventlist = (uintptr_t)ev;
	a.nevents = 2;
	a.timeout = (uintptr_t)&zero;
	ASSERT_EQ(1, ioctl(fd, RAW_KQIOC_KEVENT, &a));
	EXPECT_EQ(5, ev[0].ident);
	EXPECT_EQ(EVFILT_USER, ev[0].filter);
	EXPECT_EQ(0x55, UDV(ev[0]));

	/* Flags other than KQ_KEVENT_KQFD are reserved. */
	memset(&a, 0, sizeof(a));
	a.flags = 2;
	ASSERT_FAILS(EINVAL, ioctl(fd, RAW_KQIOC_KEVENT, &a));
	a.flags = 1u << 31;
	ASSERT_FAILS(EINVAL, ioctl(fd, RAW_KQIOC_KEVENT, &a));
	/* With KQ_KEVENT_KQFD, kqfd must be the descriptor the ioctl is issued on. */
	a.flags = KQ_KEVENT_KQFD;
	a.kqfd = fd;
	ASSERT_EQ(0, ioctl(fd, RAW_KQIOC_KEVENT, &a));
	a.kqfd = 0;	/* stdin: another file */
	ASSERT_FAILS(EBADF, ioctl(fd, RAW_KQIOC_KEVENT, &a));
	a.kqfd = -1;
	ASSERT_FAILS(EBADF, ioctl(fd, RAW_KQIOC_KEVENT, &a));

	/* Unknown ioctl numbers are ENOTTY. */
	ASSERT_FAILS(ENOTTY, ioctl(fd, _IOWR('k', 2, struct raw_kq_kevent_args), &a));
	ASSERT_FAILS(ENOTTY, ioctl(fd, _IOWR('k', 1, uint64_t), &a));
	/* Bad argument pointer. */
	ASSERT_FAILS(EFAULT, ioctl(fd, RAW_KQIOC_KEVENT, (void *)1));
	close(fd);
}

/* ---- calling convention: timeouts, counts ------------------------------ */

TEST(nevents_zero_returns_at_once)
{
	struct kevent ev[2];
	int64_t t0;

	KQ_OPEN_ALARM(kq, 5);
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	t0 = now_ns();
	/* NULL timeout, nothing to return room for: 0 at once. */
	ASSERT_EQ(0, kevent(kq, NULL, 0, NULL, 0, NULL));
	memset(ev, 0x5a, sizeof(ev));
	ASSERT_EQ(0, kevent(kq, NULL, 0, ev, 0, NULL));
	/* eventlist untouched */
	EXPECT_EQ(0x5a5a5a5a5a5a5a5aull, ev[0].ident);
	EXPECT_GT(1000, ms_since(t0));
	/* The event is still pending. */
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	EXPECT_EQ(1, ev[0].ident);
}

TEST(zero_timeout_polls)
{
	struct kevent ev[4];
	int64_t t0;

	KQ_OPEN_ALARM(kq, 5);
	t0 = now_ns();
	ASSERT_EQ(0, kq_poll(kq, ev, 4));
	EXPECT_GT(500, ms_since(t0));
	ASSERT_OK(user_add(kq, 9, EV_CLEAR));
	ASSERT_EQ(0, kq_poll(kq, ev, 4));
	ASSERT_OK(user_trigger(kq, 9));
	ASSERT_EQ(1, kq_poll(kq, ev, 4));
	EXPECT_EQ(9, ev[0].ident);
	EXPECT_EQ(EVFILT_USER, ev[0].filter);
	ASSERT_EQ(0, kq_poll(kq, ev, 4));
}

TEST(invalid_timespec_einval)
{
	const struct timespec bad[] = {
		{ 0, -1 }, { 0, 1000000000 }, { -1, 0 }, { -1, -1 },
		{ 0, LONG_MAX }, { LONG_MIN, 0 }, { 1, 1000000000 },
	};
	struct kevent ev;

	KQ_OPEN_ALARM(kq, 5);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_FAILS(EINVAL, kevent(kq, NULL, 0, &ev, 1, &bad[i]));
	/* Validation does not depend on whether an event is pending. */
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_FAILS(EINVAL, kevent(kq, NULL, 0, &ev, 1, &bad[i]));
}

TEST(timespec_edges_valid)
{
	const struct timespec max_ns = { 0, 999999999 }, one_ns = { 0, 1 };
	struct kevent ev;
	int64_t t0;

	KQ_OPEN_ALARM(kq, 5);
	t0 = now_ns();
	ASSERT_EQ(0, kevent(kq, NULL, 0, &ev, 1, &one_ns));
	EXPECT_GT(500, ms_since(t0));
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	t0 = now_ns();
	ASSERT_EQ(1, kevent(kq, NULL, 0, &ev, 1, &max_ns));
	EXPECT_GT(500, ms_since(t0));
}

TEST(negative_counts_einval)
{
	struct kevent ch = kev_make(1, EVFILT_USER, EV_ADD, 0, 0, 0), ev;
	struct timespec zero = { 0, 0 };

	KQ_OPEN(kq);
	ASSERT_FAILS(EINVAL, kevent(kq, &ch, -1, NULL, 0, &zero));
	ASSERT_FAILS(EINVAL, kevent(kq, &ch, INT_MIN, NULL, 0, &zero));
	ASSERT_FAILS(EINVAL, kevent(kq, NULL, 0, &ev, -1, &zero));
	ASSERT_FAILS(EINVAL, kevent(kq, NULL, 0, &ev, INT_MIN, &zero));
	/* A negative nevents rejects the whole call: the change was not applied. */
	ASSERT_FAILS(EINVAL, kevent(kq, &ch, 1, &ev, -1, &zero));
	ASSERT_ERRNO(ENOENT, user_del(kq, 1));
}

TEST(bad_fd_ebadf)
{
	struct kevent ev;
	int fd;

	fd = kqueue();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
	/* Nothing is opened in between, so the number stays unused. */
	ASSERT_FAILS(EBADF, kevent(fd, NULL, 0, &ev, 1, NULL));
	ASSERT_FAILS(EBADF, kevent(-1, NULL, 0, &ev, 1, NULL));
	ASSERT_FAILS(EBADF, kevent(INT_MAX, NULL, 0, &ev, 1, NULL));
	ASSERT_FAILS(EBADF, kevent(INT_MIN, NULL, 0, NULL, 0, NULL));
}

/*
 * A descriptor that is open but not a kqueue (a pipe, /dev/null). The ioctl
 * itself fails with ENOTTY there (Linux: the file has no such ioctl); the
 * library translates that into FreeBSD's EBADF, which is what kevent() must
 * return. Nothing else happens to the descriptor.
 */
TEST(non_kqueue_fd_ebadf)
{
	struct kevent ch = kev_make(1, EVFILT_USER, EV_ADD, 0, 0, 0), ev;
	struct raw_kq_kevent_args a;
	struct timespec zero = { 0, 0 };
	int p[2], nul;
	char c;

	alarm(5);
	ASSERT_EQ(0, pipe(p));
	nul = open("/dev/null", O_RDWR);
	ASSERT_LE(0, nul);
	memset(&a, 0, sizeof(a));
	ASSERT_FAILS(ENOTTY, ioctl(p[0], RAW_KQIOC_KEVENT, &a));
	ASSERT_FAILS(EBADF, kevent(p[0], NULL, 0, &ev, 1, NULL));
	ASSERT_FAILS(EBADF, kevent(p[1], &ch, 1, &ev, 1, &zero));
	ASSERT_FAILS(EBADF, kevent(nul, &ch, 1, NULL, 0, &zero));
	/* The pipe is unharmed. */
	ASSERT_EQ(1, write(p[1], "x", 1));
	ASSERT_EQ(1, read(p[0], &c, 1));
	ASSERT_EQ('x', c);
}

/* ---- EFAULT -------------------------------------------------------------- */

/* An inaccessible page, which must be had. */
static void *prot_none_page(struct __test_metadata *_metadata)
{
	void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(NULL, p == MAP_FAILED ? NULL : p);
	return p;
}

TEST(efault_changelist)
{
	struct timespec zero = { 0, 0 };
	struct kevent ev;
	void *none = prot_none_page(_metadata);

	KQ_OPEN_ALARM(kq, 5);
	ASSERT_FAILS(EFAULT, kevent(kq, (struct kevent *)1, 1, NULL, 0, &zero));
	ASSERT_FAILS(EFAULT, kevent(kq, none, 1, NULL, 0, &zero));
	ASSERT_FAILS(EFAULT, kevent(kq, NULL, 1, NULL, 0, &zero));
	ASSERT_FAILS(EFAULT, kevent(kq, none, 1, &ev, 1, &zero));
	/* The kqueue still works. */
	ASSERT_OK(user_add(kq, 1, 0));
}

TEST(efault_eventlist)
{
	struct timespec zero = { 0, 0 };
	struct kevent ev;
	void *none = prot_none_page(_metadata);

	KQ_OPEN_ALARM(kq, 5);
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	/* An event is pending, so the kernel must write it out and fault. */
	ASSERT_FAILS(EFAULT, kevent(kq, NULL, 0, (struct kevent *)1, 1, &zero));
	ASSERT_FAILS(EFAULT, kevent(kq, NULL, 0, none, 1, &zero));
	ASSERT_FAILS(EFAULT, kevent(kq, NULL, 0, NULL, 1, &zero));
	/* A level (non-EV_CLEAR) user event is still active afterwards. */
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(1, ev.ident);
}

TEST(efault_timeout)
{
	struct kevent ev;
	void *none = prot_none_page(_metadata);

	KQ_OPEN_ALARM(kq, 5);
	ASSERT_FAILS(EFAULT, kevent(kq, NULL, 0, &ev, 1, (struct timespec *)1));
	ASSERT_FAILS(EFAULT, kevent(kq, NULL, 0, &ev, 1, none));
	/* A kernel address is never a valid user pointer. */
	ASSERT_FAILS(EFAULT, kevent(kq, NULL, 0, &ev, 1, (struct timespec *)-16));
}

/* A timespec whose tv_sec is readable but whose tv_nsec lies in a PROT_NONE page. */
TEST(efault_timeout_straddling)
{
	struct kevent ev;
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, mprotect(p + 4096, 4096, PROT_NONE));
	memset(p, 0, 4096);
	KQ_OPEN_ALARM(kq, 5);
	ASSERT_FAILS(EFAULT, kevent(kq, NULL, 0, &ev, 1, (struct timespec *)(p + 4096 - 8)));
	/* The same buffer one slot earlier is a valid zero timeout. */
	ASSERT_EQ(0, kevent(kq, NULL, 0, &ev, 1, (struct timespec *)(p + 4096 - 16)));
}

TEST(efault_huge_counts)
{
	struct timespec zero = { 0, 0 };
	struct kevent ev;
	void *none = prot_none_page(_metadata);

	KQ_OPEN_ALARM(kq, 10);
	ASSERT_FAILS(EFAULT, kevent(kq, (struct kevent *)1, INT_MAX, NULL, 0, &zero));
	ASSERT_FAILS(EFAULT, kevent(kq, none, INT_MAX, NULL, 0, &zero));
	ASSERT_FAILS(EFAULT, kevent(kq, none, INT_MAX, &ev, INT_MAX, &zero));
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_FAILS(EFAULT, kevent(kq, NULL, 0, (struct kevent *)1, INT_MAX, &zero));
	ASSERT_FAILS(EFAULT, kevent(kq, NULL, 0, none, INT_MAX, &zero));
}

/* ---- unsupported filters --------------------------------------------------- */

TEST(unsupported_filters_einval)
{
	const int filters[] = { EVFILT_AIO, EVFILT_FS, -100, 5, SHRT_MIN, 100 };
	struct kevent k;

	KQ_OPEN_ALARM(kq, 5);
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		int f = filters[i];

		TH_LOG("filter %d", f);
		ASSERT_ERRNO(EINVAL, kq_ctl(kq, 3, f, EV_ADD, 0, 0, 0));
		/* As an error record: everything echoed. */
		k = kev_make(3, f, EV_ADD, 0, 0, 0xabc);
		ASSERT_EQ(1, kevent(kq, &k, 1, &k, 1, NULL));
		EXPECT_TRUE(k.flags & EV_ERROR);
		EXPECT_EQ(EINVAL, k.data);
		EXPECT_EQ(3, k.ident);
		EXPECT_EQ(f, k.filter);
		EXPECT_EQ(0xabc, UDV(k));
	}
	ASSERT_EQ(0, kq_count(kq));
}

/* ---- change processing ---------------------------------------------------- */

TEST(error_record_echoes_change)
{
	struct kevent ch = kev_make(77, EVFILT_USER, EV_DELETE, 0x12, 99, 0x1234), ev[4];

	KQ_OPEN_ALARM(kq, 5);
	memset(ev, 0, sizeof(ev));
	ASSERT_EQ(1, kevent(kq, &ch, 1, ev, 4, NULL));
	EXPECT_TRUE(ev[0].flags & EV_ERROR);
	EXPECT_EQ(ENOENT, ev[0].data);
	EXPECT_EQ(77, ev[0].ident);
	EXPECT_EQ(EVFILT_USER, ev[0].filter);
	EXPECT_EQ(0x1234, UDV(ev[0]));
	EXPECT_TRUE(flags_clean(&ev[0])) TH_LOG("flags 0x%x", ev[0].flags);
}

TEST(error_without_room_fails_and_stops)
{
	struct kevent ch[3];

	KQ_OPEN(kq);
	ch[0] = kev_make(1, EVFILT_USER, EV_ADD, 0, 0, 0);
	ch[1] = kev_make(99, EVFILT_USER, EV_DELETE, 0, 0, 0);
	ch[2] = kev_make(2, EVFILT_USER, EV_ADD, 0, 0, 0);
	ASSERT_FAILS(ENOENT, kevent(kq, ch, 3, NULL, 0, NULL));
	/* Changes before the failing one were applied, later ones were not. */
	ASSERT_OK(user_del(kq, 1));
	ASSERT_ERRNO(ENOENT, user_del(kq, 2));
}

TEST(error_with_room_continues)
{
	struct kevent ch[3], ev[4];

	KQ_OPEN_ALARM(kq, 5);
	ch[0] = kev_make(1, EVFILT_USER, EV_ADD, 0, 0, 0);
	ch[1] = kev_make(99, EVFILT_USER, EV_DELETE, 0, 0, 0);
	ch[2] = kev_make(2, EVFILT_USER, EV_ADD, 0, 0, 0);
	ASSERT_EQ(1, kevent(kq, ch, 3, ev, 4, NULL));
	EXPECT_EQ(99, ev[0].ident);
	EXPECT_EQ(ENOENT, ev[0].data);
	ASSERT_OK(user_del(kq, 1));
	ASSERT_OK(user_del(kq, 2));
}

/*
 * Room for one record, two failures: the first gets a record, the second
 * fails the call with its own errno, the third change is never applied.
 */
TEST(error_records_then_no_room)
{
	struct kevent ch[3], ev[1];

	KQ_OPEN_ALARM(kq, 5);
	ch[0] = kev_make(91, EVFILT_USER, EV_DELETE, 0, 0, 0);
	ch[1] = kev_make(92, 5, EV_ADD, 0, 0, 0);
	ch[2] = kev_make(3, EVFILT_USER, EV_ADD, 0, 0, 0);
	memset(ev, 0, sizeof(ev));
	ASSERT_FAILS(EINVAL, kevent(kq, ch, 3, ev, 1, NULL));
	EXPECT_EQ(91, ev[0].ident);
	EXPECT_TRUE(ev[0].flags & EV_ERROR);
	EXPECT_EQ(ENOENT, ev[0].data);
	ASSERT_ERRNO(ENOENT, user_del(kq, 3));
}

TEST(receipt_records)
{
	struct kevent ch[4], ev[8];

	KQ_OPEN_ALARM(kq, 5);
	ch[0] = kev_make(1, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, 0x11);
	ch[1] = kev_make(2, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, 0x22);
	ch[2] = kev_make(99, EVFILT_USER, EV_DELETE | EV_RECEIPT, 0, 0, 0x99);
	ch[3] = kev_make(4, EVFILT_USER, EV_ADD, 0, 0, 0x44);
	ASSERT_EQ(3, kevent(kq, ch, 4, ev, 8, NULL));
	for (int i = 0; i < 3; i++) {
		EXPECT_TRUE(ev[i].flags & EV_ERROR);
		EXPECT_FALSE(ev[i].flags & EV_ADD);
		EXPECT_EQ(EVFILT_USER, ev[i].filter);
	}
	EXPECT_EQ(1, ev[0].ident);
	EXPECT_EQ(0, ev[0].data);
	EXPECT_EQ(0x11, UDV(ev[0]));
	EXPECT_EQ(2, ev[1].ident);
	EXPECT_EQ(0, ev[1].data);
	EXPECT_EQ(99, ev[2].ident);
	EXPECT_EQ(ENOENT, ev[2].data);
	ASSERT_OK(user_del(kq, 1));
	ASSERT_OK(user_del(kq, 2));
	ASSERT_OK(user_del(kq, 4));
}

/* Once a record has been written the call returns at once, NULL timeout or not. */
TEST(receipt_does_not_wait)
{
	struct kevent ch = kev_make(1, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, 0), ev[8];
	int64_t t0;

	KQ_OPEN_ALARM(kq, 5);
	t0 = now_ns();
	ASSERT_EQ(1, kevent(kq, &ch, 1, ev, 8, NULL));
	EXPECT_EQ(1, ev[0].ident);
	EXPECT_EQ(0, ev[0].data);
	EXPECT_GT(1000, ms_since(t0));
	/* Even with another event pending, only the record is returned. */
	ASSERT_OK(user_add(kq, 2, 0));
	ASSERT_OK(user_trigger(kq, 2));
	ch.ident = 3;
	ASSERT_EQ(1, kevent(kq, &ch, 1, ev, 8, NULL));
	EXPECT_EQ(3, ev[0].ident);
	EXPECT_TRUE(ev[0].flags & EV_ERROR);
	/* ... and the pending event is still there. */
	ASSERT_EQ(1, kq_poll(kq, ev, 8));
	EXPECT_EQ(2, ev[0].ident);
	EXPECT_FALSE(ev[0].flags & EV_ERROR);
}

TEST(error_does_not_wait)
{
	struct kevent ch = kev_make(5, EVFILT_USER, EV_DELETE, 0, 0, 0), ev[8];
	int64_t t0;

	KQ_OPEN_ALARM(kq, 5);
	t0 = now_ns();
	ASSERT_EQ(1, kevent(kq, &ch, 1, ev, 8, NULL));
	EXPECT_EQ(ENOENT, ev[0].data);
	EXPECT_GT(1000, ms_since(t0));
	ASSERT_OK(user_add(kq, 2, 0));
	ASSERT_OK(user_trigger(kq, 2));
	ASSERT_EQ(1, kevent(kq, &ch, 1, ev, 8, NULL));
	EXPECT_EQ(5, ev[0].ident);
	EXPECT_EQ(ENOENT, ev[0].data);
}

TEST(changes_applied_in_order)
{
	struct timespec zero = { 0, 0 };
	struct kevent ch[4], ev[4];

	KQ_OPEN_ALARM(kq, 5);
	/* add, trigger, delete: nothing left. */
	ch[0] = kev_make(5, EVFILT_USER, EV_ADD, 0, 0, 1);
	ch[1] = kev_make(5, EVFILT_USER, 0, NOTE_TRIGGER, 0, 1);
	ch[2] = kev_make(5, EVFILT_USER, EV_DELETE, 0, 0, 1);
	ASSERT_EQ(0, kevent(kq, ch, 3, ev, 4, &zero));
	ASSERT_EQ(0, kq_poll(kq, ev, 4));
	ASSERT_ERRNO(ENOENT, user_del(kq, 5));

	/* add, re-add with new udata, trigger: the last udata wins. */
	ch[0] = kev_make(6, EVFILT_USER, EV_ADD, 0, 0, 1);
	ch[1] = kev_make(6, EVFILT_USER, EV_ADD, 0, 0, 2);
	ch[2] = kev_make(6, EVFILT_USER, 0, NOTE_TRIGGER, 0, 2);
	ASSERT_EQ(0, kevent(kq, ch, 3, NULL, 0, NULL));
	ASSERT_EQ(1, kq_poll(kq, ev, 4));
	EXPECT_EQ(6, ev[0].ident);
	EXPECT_EQ(2, UDV(ev[0]));

	/* delete before add fails, the add after it happens. */
	ch[0] = kev_make(7, EVFILT_USER, EV_DELETE, 0, 0, 0);
	ch[1] = kev_make(7, EVFILT_USER, EV_ADD, 0, 0, 0);
	ch[2] = kev_make(7, EVFILT_USER, EV_DELETE, 0, 0, 0);
	ch[3] = kev_make(7, EVFILT_USER, EV_DELETE, 0, 0, 0);
	ASSERT_EQ(2, kevent(kq, ch, 4, ev, 4, NULL));
	EXPECT_EQ(ENOENT, ev[0].data);
	EXPECT_EQ(ENOENT, ev[1].data);
	ASSERT_ERRNO(ENOENT, user_del(kq, 7));
}

/* libevent's kqueue probe: changelist == eventlist, EV_ERROR comes back in place. */
TEST(same_array_libevent_probe)
{
	struct kevent k;

	KQ_OPEN_ALARM(kq, 5);
	EV_SET(&k, (uintptr_t)-1, EVFILT_USER, EV_DELETE, 0, 0, UD(0));
	ASSERT_EQ(1, kevent(kq, &k, 1, &k, 1, NULL));
	EXPECT_EQ((uint64_t)(uintptr_t)-1, (uint64_t)k.ident);
	EXPECT_EQ(EVFILT_USER, k.filter);
	EXPECT_TRUE(k.flags & EV_ERROR);
	EXPECT_EQ(ENOENT, k.data);
}

TEST(same_array_many_records)
{
	struct kevent k[16];

	KQ_OPEN_ALARM(kq, 5);
	for (int i = 0; i < 16; i++)
		k[i] = i % 2 ? kev_make(1000 + i, EVFILT_USER, EV_DELETE, 0, 0, i)
			     : kev_make(i, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, i);
	ASSERT_EQ(16, kevent(kq, k, 16, k, 16, NULL));
	for (int i = 0; i < 16; i++) {
		EXPECT_TRUE(k[i].flags & EV_ERROR);
		EXPECT_EQ(i, UDV(k[i]));
		EXPECT_EQ(i % 2 ? 1000 + i : i, (int)k[i].ident);
		EXPECT_EQ(i % 2 ? ENOENT : 0, k[i].data);
	}
	for (int i = 0; i < 16; i += 2)
		ASSERT_OK(user_del(kq, i));
}

TEST(missing_knote_enoent)
{
	KQ_OPEN(kq);
	ASSERT_ERRNO(ENOENT, user_del(kq, 1));
	ASSERT_ERRNO(ENOENT, kq_ctl(kq, 1, EVFILT_TIMER, EV_DELETE, 0, 0, 0));
	ASSERT_ERRNO(ENOENT, kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, 0));
	ASSERT_ERRNO(ENOENT, kq_ctl(kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, 0));
	ASSERT_ERRNO(ENOENT, user_trigger(kq, 1));
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(user_del(kq, 1));
	ASSERT_ERRNO(ENOENT, user_del(kq, 1));
	/* (ident, filter) is the key: a user knote 2 is not a timer 2. */
	ASSERT_OK(user_add(kq, 2, 0));
	ASSERT_ERRNO(ENOENT, kq_ctl(kq, 2, EVFILT_TIMER, EV_DELETE, 0, 0, 0));
	ASSERT_OK(user_del(kq, 2));
}

TEST(enable_disable_together_einval)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_ERRNO(EINVAL, kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE | EV_DISABLE, 0, 0, 0));
	ASSERT_ERRNO(EINVAL, kq_ctl(kq, 1, EVFILT_USER,
				    EV_ADD | EV_ENABLE | EV_DISABLE, NOTE_TRIGGER, 0, 0));
	/* The rejected change did nothing: not triggered, still registered. */
	ASSERT_EQ(0, kq_poll(kq, &ev, 1));
	ASSERT_OK(user_del(kq, 1));
	/* Nor is a new knote created by it. */
	ASSERT_ERRNO(EINVAL, kq_ctl(kq, 2, EVFILT_USER, EV_ADD | EV_ENABLE | EV_DISABLE, 0, 0, 0));
	ASSERT_ERRNO(ENOENT, user_del(kq, 2));
}

TEST(readd_updates_udata)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ADD, 0, 0, 0xaaa));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, 0xbbb));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(0xbbb, UDV(ev));
	/* Any modification (not only EV_ADD) stores the new udata. */
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0xccc));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(0xccc, UDV(ev));
	/* Still a single knote. */
	ASSERT_OK(user_del(kq, 1));
	ASSERT_ERRNO(ENOENT, user_del(kq, 1));
}

TEST(keepudata)
{
	struct kevent ev;

	KQ_OPEN(kq);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ADD, 0, 0, 0xaaa));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ADD | EV_KEEPUDATA, NOTE_TRIGGER, 0, 0xbbb));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(0xaaa, UDV(ev));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_KEEPUDATA, NOTE_TRIGGER, 0, 0xccc));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(0xaaa, UDV(ev));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_DISABLE | EV_KEEPUDATA, 0, 0, 0xddd));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ENABLE | EV_KEEPUDATA, 0, 0, 0xeee));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	EXPECT_EQ(0xaaa, UDV(ev));
	/* EV_KEEPUDATA on a knote that does not exist yet: EINVAL, nothing added. */
	ASSERT_ERRNO(EINVAL, kq_ctl(kq, 2, EVFILT_USER, EV_ADD | EV_KEEPUDATA, 0, 0, 0));
	ASSERT_ERRNO(ENOENT, user_del(kq, 2));
	ASSERT_ERRNO(EINVAL, kq_ctl(kq, 3, EVFILT_TIMER, EV_ADD | EV_KEEPUDATA, 0, 1000, 0));
	ASSERT_ERRNO(ENOENT, kq_ctl(kq, 3, EVFILT_TIMER, EV_DELETE, 0, 0, 0));
}

TEST(returned_flags_never_action_bits)
{
	struct kevent ch[4], ev[8];
	int n;

	KQ_OPEN_ALARM(kq, 5);
	ch[0] = kev_make(1, EVFILT_USER, EV_ADD | EV_ENABLE | EV_CLEAR, NOTE_TRIGGER, 0, 0);
	ch[1] = kev_make(2, EVFILT_USER, EV_ADD | EV_DISPATCH, NOTE_TRIGGER, 0, 0);
	ch[2] = kev_make(3, EVFILT_USER, EV_ADD | EV_ONESHOT, NOTE_TRIGGER, 0, 0);
	ch[3] = kev_make(4, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, 0);
	ASSERT_EQ(0, kevent(kq, ch, 4, NULL, 0, NULL));
	ASSERT_OK(kq_ctl(kq, 4, EVFILT_USER, EV_DISABLE, 0, 0, 0));
	ASSERT_OK(kq_ctl(kq, 4, EVFILT_USER, EV_ENABLE, 0, 0, 0));
	n = kq_poll(kq, ev, 8);
	ASSERT_EQ(4, n);
	for (int i = 0; i < n; i++) {
		EXPECT_TRUE(flags_clean(&ev[i])) TH_LOG("ident %d flags 0x%x", (int)ev[i].ident,
							 ev[i].flags);
		EXPECT_FALSE(ev[i].flags & EV_ERROR);
	}
	/* Receipts and errors carry no action bits either. */
	ch[0] = kev_make(5, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, 0);
	ch[1] = kev_make(6, 5, EV_ADD, 0, 0, 0);
	ASSERT_EQ(2, kevent(kq, ch, 2, ev, 8, NULL));
	EXPECT_FALSE(ev[0].flags & EV_ADD);
	EXPECT_FALSE(ev[1].flags & EV_ADD);
}

/* EV_FORCEONESHOT on an existing knote: oneshot and active right away. */
TEST(forceoneshot)
{
	struct kevent ev[2];

	KQ_OPEN_ALARM(kq, 5);
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_ADD, 0, 0, 0x77));
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_OK(kq_ctl(kq, 1, EVFILT_USER, EV_FORCEONESHOT, 0, 0, 0x77));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	EXPECT_EQ(1, ev[0].ident);
	EXPECT_EQ(0x77, UDV(ev[0]));
	EXPECT_TRUE(flags_clean(&ev[0]));
	/* Gone after delivery. */
	ASSERT_EQ(0, kq_poll(kq, ev, 2));
	ASSERT_ERRNO(ENOENT, user_del(kq, 1));
	/* Missing knote: ENOENT and nothing is created. */
	ASSERT_ERRNO(ENOENT, kq_ctl(kq, 2, EVFILT_USER, EV_FORCEONESHOT, 0, 0, 0));
	ASSERT_ERRNO(ENOENT, user_del(kq, 2));
	/* Works on a timer far from expiring too. */
	ASSERT_OK(timer_add(kq, 3, 0, NOTE_SECONDS, 3600));
	ASSERT_OK(kq_ctl(kq, 3, EVFILT_TIMER, EV_FORCEONESHOT, 0, 0, 0));
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	EXPECT_EQ(3, ev[0].ident);
	EXPECT_EQ(EVFILT_TIMER, ev[0].filter);
	ASSERT_ERRNO(ENOENT, kq_ctl(kq, 3, EVFILT_TIMER, EV_DELETE, 0, 0, 0));
}

TEST(kqueues_are_independent)
{
	struct kevent ev;
	int kq2;

	KQ_OPEN(kq);
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_ERRNO(ENOENT, user_trigger(kq2, 1));
	ASSERT_OK(user_add(kq2, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_EQ(0, kq_poll(kq2, &ev, 1));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	ASSERT_OK(user_del(kq2, 1));
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
	close(kq2);
	ASSERT_EQ(1, kq_poll(kq, &ev, 1));
}

/* /proc/<pid>/fdinfo/<kq> lists every knote with its ident, filter and state. */
TEST(fdinfo_lists_knotes)
{
	char buf[4096];

	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 4242, EV_CLEAR));
	ASSERT_OK(kq_ctl(kq, 77, EVFILT_TIMER, EV_ADD | EV_DISABLE, NOTE_SECONDS, 100, 0));
	ASSERT_LT(0, kq_read_fdinfo(kq, buf, sizeof(buf))) TH_LOG("fdinfo: %s", strerror(errno));
	EXPECT_NE(NULL, strstr(buf, "knote: ident=4242 filter=-11 flags=0x20 ")) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "knote: ident=77 filter=-7 ")) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "disabled=1")) TH_LOG("%s", buf);
	ASSERT_OK(user_del(kq, 4242));
	ASSERT_LT(0, kq_read_fdinfo(kq, buf, sizeof(buf))) TH_LOG("fdinfo: %s", strerror(errno));
	EXPECT_EQ(NULL, strstr(buf, "ident=4242")) TH_LOG("%s", buf);
}

TEST_HARNESS_MAIN
