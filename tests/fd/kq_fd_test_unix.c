// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_READ / EVFILT_WRITE on unix-domain socketpairs (stream, datagram,
 * seqpacket) and per-knote low-water marks (FreeBSD uipc_socket.c filt_soread /
 * filt_sowrite):
 *
 *  - READ: data = bytes of protocol data in the receive buffer; for datagram
 *    sockets the sum over all queued datagrams, not the first one's size.
 *    Active when data >= SO_RCVLOWAT, or >= the knote's own NOTE_LOWAT data if
 *    given (which leaves SO_RCVLOWAT alone). EV_EOF once the peer is gone or
 *    has shut its write side, regardless of the low-water mark.
 *  - WRITE: data = free send space (> 0 when active); NOTE_LOWAT per knote,
 *    SO_SNDLOWAT untouched; EV_EOF when the peer is gone, not after the peer's
 *    shutdown(SHUT_WR).
 */
#include "kq_fd_common.h"

/* Fixtures: self->kq and a non-blocking unix socketpair self->sv of one type; alarm(10). */
#define UNIX_PAIR_FIXTURE(name, type)                                                    \
	KQ_FD_FIXTURE(name, 10, int sv[2];,                                              \
		      ASSERT_EQ(0, socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, self->sv)))

UNIX_PAIR_FIXTURE(unix_stream, SOCK_STREAM)
UNIX_PAIR_FIXTURE(unix_dgram, SOCK_DGRAM)
UNIX_PAIR_FIXTURE(unix_seqpacket, SOCK_SEQPACKET)

/* ---- unix stream ----------------------------------------------------------------------- */

TEST_F(unix_stream, unix_stream_read_data)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, 0, 0, 5));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
	ASSERT_EQ(10, put(self->sv[1], 10));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(10, ev.data);
	EXPECT_EQ(5, UDV(ev));
	EXPECT_EQ(0, ev.fflags);
	EXPECT_TRUE(flags_clean(&ev));
	EXPECT_FALSE(ev.flags & EV_EOF);
	ASSERT_EQ(5, put(self->sv[1], 5));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(15, ev.data);
	ASSERT_EQ(15, drain(self->sv[0]));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
}

TEST_F(unix_stream, unix_stream_write_ready)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_WRITE, &ev);
	EXPECT_LT(0, ev.data);
	EXPECT_FALSE(ev.flags & EV_EOF);
}

TEST_F(unix_stream, unix_stream_write_full_then_drained)
{
	struct kevent ev;

	ASSERT_LT(0, fill(self->sv[0]));
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_WRITE);
	ASSERT_LT(0, drain(self->sv[1]));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_WRITE, &ev);
	EXPECT_LT(0, ev.data);
}

TEST_F(unix_stream, unix_stream_peer_close_eof_both_filters)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EQ(3, put(self->sv[1], 3));
	ASSERT_EQ(0, close(self->sv[1]));
	ASSERT_EVENT_EOF(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(3, ev.data);
	EXPECT_EQ(0, ev.fflags);
	ASSERT_EVENT_EOF(self->kq, self->sv[0], EVFILT_WRITE, &ev);
}

TEST_F(unix_stream, unix_stream_shutdown_wr_eof_read_only)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EQ(0, shutdown(self->sv[1], SHUT_WR));
	ASSERT_EVENT_EOF(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(0, ev.data);
	/* sv[0] can still send to sv[1]: its WRITE is not at EOF. */
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_WRITE, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);
	EXPECT_EQ(4, put(self->sv[0], 4));
}

TEST_F(unix_stream, unix_stream_clear_once_per_send)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, EV_CLEAR, 0, 0, 0));
	ASSERT_EQ(4, put(self->sv[1], 4));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(4, ev.data);
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
	ASSERT_EQ(6, put(self->sv[1], 6));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(10, ev.data);
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
}

TEST_F(unix_stream, read_and_write_on_same_socket)
{
	struct kevent ev[4];
	int n, r = 0, w = 0;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, 0, 0, 1));
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0, 2));
	ASSERT_EQ(8, put(self->sv[1], 8));
	sleep_ms(20);
	n = kq_poll(self->kq, ev, 4);
	ASSERT_EQ(2, n);
	for (int i = 0; i < n; i++) {
		ASSERT_EQ((uint64_t)self->sv[0], ev[i].ident);
		if (ev[i].filter == EVFILT_READ && UDV(ev[i]) == 1 && ev[i].data == 8)
			r++;
		if (ev[i].filter == EVFILT_WRITE && UDV(ev[i]) == 2)
			w++;
	}
	EXPECT_EQ(1, r);
	EXPECT_EQ(1, w);
	ASSERT_OK(fd_chg(self->kq, self->sv[0], EVFILT_READ, EV_DELETE));
	ASSERT_EQ(1, kq_poll(self->kq, ev, 4));
	EXPECT_EQ(EVFILT_WRITE, ev[0].filter);
}

/* ---- unix datagram and seqpacket ------------------------------------------------------------- */

/* FreeBSD: data = all protocol bytes queued (sbavail - sb_ctl), not the first datagram. */
TEST_F(unix_dgram, unix_dgram_data_is_total_of_queued_datagrams)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
	ASSERT_EQ(10, put(self->sv[1], 10));
	ASSERT_EQ(20, put(self->sv[1], 20));
	ASSERT_EVENT_DATA(self->kq, self->sv[0], EVFILT_READ, 30, &ev);
	ASSERT_EQ(10, take(self->sv[0], 100));	/* one datagram */
	ASSERT_EVENT_DATA(self->kq, self->sv[0], EVFILT_READ, 20, &ev);
	ASSERT_EQ(20, take(self->sv[0], 100));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
}

TEST_F(unix_dgram, unix_dgram_write_ready)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_WRITE, &ev);
	EXPECT_LT(0, ev.data);
}

TEST_F(unix_seqpacket, unix_seqpacket_data_and_eof)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(6, put(self->sv[1], 6));
	ASSERT_EQ(4, put(self->sv[1], 4));
	ASSERT_EVENT_DATA(self->kq, self->sv[0], EVFILT_READ, 10, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);
	ASSERT_EQ(0, close(self->sv[1]));
	ASSERT_EVENT_EOF(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(10, ev.data);
}

/* ---- low-water marks ---------------------------------------------------------------------------- */

/* NOTE_LOWAT is the knote's own threshold; the socket's SO_RCVLOWAT is untouched. */
TEST_F(unix_stream, lowat_read_per_knote_not_socket)
{
	struct kevent ev;
	int before;

	before = sockopt_int(self->sv[0], SOL_SOCKET, SO_RCVLOWAT);
	ASSERT_EQ(1, before);
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, NOTE_LOWAT, 10, 0));
	EXPECT_EQ(before, sockopt_int(self->sv[0], SOL_SOCKET, SO_RCVLOWAT));
	ASSERT_EQ(5, put(self->sv[1], 5));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
	ASSERT_EQ(4, put(self->sv[1], 4));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
	ASSERT_EQ(1, put(self->sv[1], 1));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(10, ev.data);
	EXPECT_EQ(before, sockopt_int(self->sv[0], SOL_SOCKET, SO_RCVLOWAT));
}

TEST_F(unix_stream, lowat_two_kqueues_two_thresholds)
{
	struct kevent ev;
	int kq2 = kqueue();

	ASSERT_LE(0, kq2);
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, NOTE_LOWAT, 4, 0));
	ASSERT_OK(fd_add(kq2, self->sv[0], EVFILT_READ, 0, NOTE_LOWAT, 8, 0));
	ASSERT_EQ(5, put(self->sv[1], 5));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(5, ev.data);
	ASSERT_NO_EVENT(kq2, self->sv[0], EVFILT_READ);
	ASSERT_EQ(3, put(self->sv[1], 3));
	ASSERT_EVENT(kq2, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(8, ev.data);
}

TEST_F(unix_stream, lowat_eof_fires_below_threshold)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, NOTE_LOWAT, 100, 0));
	ASSERT_EQ(3, put(self->sv[1], 3));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
	ASSERT_EQ(0, close(self->sv[1]));
	ASSERT_EVENT_EOF(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(3, ev.data);
}

/* Re-adding with other fflags/data changes the threshold and re-evaluates at once. */
TEST_F(unix_stream, lowat_modify_reevaluates)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, NOTE_LOWAT, 10, 0));
	ASSERT_EQ(5, put(self->sv[1], 5));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, NOTE_LOWAT, 5, 0));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(5, ev.data);
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, NOTE_LOWAT, 6, 0));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_READ);
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_READ, 0, 0, 0, 0));	/* back to SO_RCVLOWAT (1) */
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_READ, &ev);
	EXPECT_EQ(5, ev.data);
}

TEST_F(unix_stream, lowat_write_per_knote_not_socket)
{
	struct kevent ev;
	int before;

	before = sockopt_int(self->sv[0], SOL_SOCKET, SO_SNDLOWAT);
	ASSERT_LE(0, before);
	/* More free space than any send buffer can have: never active. */
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, NOTE_LOWAT, 1LL << 40, 0));
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_WRITE);
	EXPECT_EQ(before, sockopt_int(self->sv[0], SOL_SOCKET, SO_SNDLOWAT));
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_WRITE, &ev);
	EXPECT_LT(0, ev.data);
}

TEST_HARNESS_MAIN
