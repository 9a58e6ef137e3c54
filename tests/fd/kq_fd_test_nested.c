// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A kqueue watched by a kqueue (FreeBSD filt_kqueue / kqueue_kqfilter) and by
 * epoll, and an epoll descriptor watched by a kqueue:
 *
 *  - READ on a kqueue is active while it has pending events, data = their
 *    number; level-triggered re-evaluation drops it once the inner queue is
 *    drained; EV_CLEAR reports each new inner activation once;
 *  - WRITE and EMPTY on a kqueue are EINVAL; a kqueue cannot watch itself
 *    (EINVAL);
 *  - wake-ups propagate: pipe -> inner kqueue -> sleeping outer waiter, and
 *    through a chain of 100 kqueues;
 *  - a cycle (A watches B watches A) either works or is refused with
 *    ELOOP/EINVAL, and never deadlocks;
 *  - epoll sees a kqueue become readable; a kqueue sees an epoll descriptor
 *    become readable.
 */
#include "kq_fd_common.h"

/* An outer kqueue self->kq and an inner one, self->inner. */
KQ_FD_FIXTURE(nested, 10, int inner;,
	      self->inner = kqueue();
	      ASSERT_LE(0, self->inner))

TEST_F(nested, kqueue_read_data_is_pending_count)
{
	struct kevent ev[4];

	ASSERT_OK(fd_add(self->kq, self->inner, EVFILT_READ, 0, 0, 0, 0x42));
	ASSERT_NO_EVENT(self->kq, self->inner, EVFILT_READ);
	for (int i = 1; i <= 3; i++) {
		ASSERT_OK(user_add(self->inner, i, EV_CLEAR));
		ASSERT_OK(user_trigger(self->inner, i));
	}
	ASSERT_EVENT_DATA(self->kq, self->inner, EVFILT_READ, 3, &ev[0]);
	EXPECT_EQ(0x42, UDV(ev[0]));
	/* Drain the inner queue: the outer knote is re-checked and drops. */
	ASSERT_EQ(3, kq_poll(self->inner, ev, 4));
	ASSERT_NO_EVENT(self->kq, self->inner, EVFILT_READ);
}

TEST(kqueue_cannot_watch_itself)
{
	KQ_OPEN(kq);
	alarm(10);
	ASSERT_ERRNO(EINVAL, fd_add(kq, kq, EVFILT_READ, 0, 0, 0, 0));
}

TEST_F(nested, kqueue_write_and_empty_filters_einval)
{
	ASSERT_ERRNO(EINVAL, fd_add(self->kq, self->inner, EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_ERRNO(EINVAL, fd_add(self->kq, self->inner, EVFILT_EMPTY, 0, 0, 0, 0));
}

TEST_F(nested, kqueue_nested_clear_edge)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->inner, EVFILT_READ, EV_CLEAR, 0, 0, 0));
	ASSERT_OK(user_add(self->inner, 1, 0));
	ASSERT_OK(user_add(self->inner, 2, 0));
	ASSERT_OK(user_trigger(self->inner, 1));
	ASSERT_EVENT(self->kq, self->inner, EVFILT_READ, &ev);
	EXPECT_EQ(1, ev.data);
	ASSERT_NO_EVENT(self->kq, self->inner, EVFILT_READ);
	ASSERT_OK(user_trigger(self->inner, 2));
	ASSERT_EVENT(self->kq, self->inner, EVFILT_READ, &ev);
	EXPECT_EQ(2, ev.data);
}

struct blocked_wait {
	int kq;
	int result;
	int err;
	struct kevent ev;
};

static void *blocked_wait_fn(void *p)
{
	struct blocked_wait *b = p;

	errno = 0;
	b->result = kevent(b->kq, NULL, 0, &b->ev, 1, NULL);
	b->err = errno;
	return NULL;
}

/* pipe -> inner kqueue -> outer kqueue, with the outer waiter already asleep. */
TEST_F(nested, kqueue_nested_pipe_wakes_outer_waiter)
{
	struct blocked_wait b = { 0 };
	struct later_write lw;
	int p[2];
	pthread_t t, tw;

	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_OK(fd_add(self->inner, p[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_OK(fd_add(self->kq, self->inner, EVFILT_READ, 0, 0, 0, 0));
	b.kq = self->kq;
	ASSERT_EQ(0, pthread_create(&t, NULL, blocked_wait_fn, &b));
	lw = (struct later_write){ .fd = p[1], .delay_ms = 100, .n = 2 };
	ASSERT_EQ(0, pthread_create(&tw, NULL, later_write_fn, &lw));
	pthread_join(t, NULL);
	pthread_join(tw, NULL);
	ASSERT_EQ(1, b.result);
	EXPECT_EQ((uint64_t)self->inner, b.ev.ident);
	EXPECT_EQ(EVFILT_READ, b.ev.filter);
	EXPECT_EQ(1, b.ev.data);
}

#define CHAIN 100

/* kq[i] watches kq[i-1]; an EVFILT_USER trigger in kq[0] wakes a waiter on kq[99]. */
TEST(kqueue_chain_of_100)
{
	struct blocked_wait b = { 0 };
	struct kevent ev;
	int kqs[CHAIN];
	pthread_t t;

	alarm(20);
	for (int i = 0; i < CHAIN; i++) {
		kqs[i] = kqueue();
		ASSERT_LE(0, kqs[i]);
		if (i) {
			ASSERT_OK(fd_add(kqs[i], kqs[i - 1], EVFILT_READ, 0, 0, 0, i));
		}
	}
	ASSERT_OK(user_add(kqs[0], 1, 0));
	b.kq = kqs[CHAIN - 1];
	ASSERT_EQ(0, pthread_create(&t, NULL, blocked_wait_fn, &b));
	sleep_ms(100);
	ASSERT_OK(user_trigger(kqs[0], 1));
	pthread_join(t, NULL);
	ASSERT_EQ(1, b.result) TH_LOG("errno %s", strerrorname_np(b.err));
	EXPECT_EQ((uint64_t)kqs[CHAIN - 2], b.ev.ident);
	EXPECT_EQ(CHAIN - 1, UDV(b.ev));
	EXPECT_EQ(1, b.ev.data);
	/* Every level reports its inner kqueue. */
	for (int i = CHAIN - 1; i > 0; i--) {
		ASSERT_EQ(1, kq_poll(kqs[i], &ev, 1)) TH_LOG("level %d", i);
		EXPECT_EQ((uint64_t)kqs[i - 1], ev.ident);
	}
	ASSERT_EQ(1, kq_poll(kqs[0], &ev, 1));
	EXPECT_EQ(EVFILT_USER, ev.filter);
	for (int i = CHAIN - 1; i >= 0; i--) {
		ASSERT_EQ(0, close(kqs[i]));
	}
}

/* A watches B watches A: refused (ELOOP/EINVAL) or accepted, never a deadlock. */
TEST(kqueue_cycle_no_deadlock)
{
	struct kevent ev[8];
	int a = kqueue(), b = kqueue(), r, n;

	alarm(20);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_OK(fd_add(a, b, EVFILT_READ, 0, 0, 0, 0));
	r = fd_add(b, a, EVFILT_READ, 0, 0, 0, 0);
	TH_LOG("B watching A: %s", r ? strerrorname_np(r) : "accepted");
	ASSERT_TRUE(r == 0 || r == ELOOP || r == EINVAL) TH_LOG("got %d", r);
	ASSERT_OK(user_add(a, 1, EV_CLEAR));
	ASSERT_OK(user_trigger(a, 1));
	n = kq_get(a, ev, 8, 1000);
	ASSERT_LE(1, n);
	n = kq_get(b, ev, 8, 200);
	ASSERT_LE(0, n);
	ASSERT_OK(user_add(b, 2, EV_CLEAR));
	ASSERT_OK(user_trigger(b, 2));
	n = kq_get(a, ev, 8, 200);
	ASSERT_LE(0, n);
	n = kq_get(b, ev, 8, 1000);
	ASSERT_LE(1, n);
	ASSERT_EQ(0, close(a));
	ASSERT_EQ(0, close(b));
}

/* An epoll instance self->ep and a non-blocking pipe self->p, next to self->kq. */
KQ_FD_FIXTURE(epoll_pipe, 10, int ep; int p[2];,
	      self->ep = epoll_create1(0);
	      ASSERT_LE(0, self->ep);
	      ASSERT_EQ(0, pipe2(self->p, O_NONBLOCK)))

TEST_F(epoll_pipe, epoll_watches_kqueue_with_pipe_knote)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.u64 = 77 }, out;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(0, epoll_ctl(self->ep, EPOLL_CTL_ADD, self->kq, &ee));
	ASSERT_EQ(0, epoll_wait(self->ep, &out, 1, 50));
	ASSERT_EQ(1, put(self->p[1], 1));
	ASSERT_EQ(1, epoll_wait(self->ep, &out, 1, KQ_WAIT_MS));
	EXPECT_EQ(77, out.data.u64);
	EXPECT_TRUE(out.events & EPOLLIN);
}

TEST_F(epoll_pipe, kqueue_watches_epoll)
{
	struct epoll_event ee = { .events = EPOLLIN };
	struct kevent ev;

	ASSERT_EQ(0, epoll_ctl(self->ep, EPOLL_CTL_ADD, self->p[0], &ee));
	ASSERT_OK(fd_add(self->kq, self->ep, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->ep, EVFILT_READ);
	ASSERT_EQ(1, put(self->p[1], 1));
	ASSERT_EVENT(self->kq, self->ep, EVFILT_READ, &ev);
	ASSERT_EQ(1, take(self->p[0], 1));
	ASSERT_NO_EVENT(self->kq, self->ep, EVFILT_READ);
}

TEST_HARNESS_MAIN
