// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_READ / EVFILT_WRITE / EVFILT_EMPTY on TCP and UDP sockets over
 * 127.0.0.1 (FreeBSD uipc_socket.c filt_soread / filt_sowrite / filt_soempty /
 * filt_solisten):
 *
 *  - READ on a listening socket: data = completed connections waiting in
 *    accept()'s queue.
 *  - READ otherwise: data = bytes in the receive buffer (UDP: all queued
 *    datagrams together); SO_RCVLOWAT honoured, NOTE_LOWAT per knote; EV_EOF
 *    on peer close or peer shutdown(SHUT_WR) (fflags 0), and on a reset with
 *    the socket error in fflags (ECONNRESET).
 *  - WRITE: data = free send space (0 < data <= SO_SNDBUF); inactive while the
 *    send buffer is full; EV_EOF (fflags = the error) after a reset, not after
 *    the peer's FIN.
 *  - EMPTY: active with data 0 when the send buffer holds nothing (everything
 *    sent was acknowledged), including after the buffer drained; always
 *    active on a listening socket.
 */
#include "kq_fd_common.h"

/* A connected TCP pair self->sv (client, accepted server side), buffers autotuned. */
KQ_FD_FIXTURE(tcp, 15, int sv[2];, ASSERT_EQ(0, tcp_pair(self->sv, 0)))
/* The same with 8 KiB buffers, so that filling the send side stays quick. */
KQ_FD_FIXTURE(tcp_small, 20, int sv[2];, ASSERT_EQ(0, tcp_pair(self->sv, 8192)))
/* A TCP socket self->l listening on 127.0.0.1:self->port, backlog 8. */
KQ_FD_FIXTURE(tcp_listen, 15, int l; int port;,
	      self->l = tcp_listener(8, 0, &self->port);
	      ASSERT_LE(0, self->l))
/* Two connected UDP sockets self->sv. */
KQ_FD_FIXTURE(udp, 15, int sv[2];, ASSERT_EQ(0, udp_pair(self->sv)))

/*
 * tcp_small: fill self->sv[0] until it stays full, register `filter` on it (it
 * must stay silent), then drain self->sv[1] until the event comes, for up to
 * KQ_WAIT_MS (the sender gets its space back only as the peer reads and
 * acknowledges). The event is stored in *ev.
 */
static void fill_then_drain_until(struct __test_metadata *_metadata,
				  FIXTURE_DATA(tcp_small) *self, int filter, struct kevent *ev)
{
	int found = 0;
	int64_t t0;

	ASSERT_LT(0, fill_settled(self->sv[0]));
	ASSERT_OK(fd_add(self->kq, self->sv[0], filter, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->sv[0], filter);
	t0 = now_ns();
	while (!found && ms_since(t0) < KQ_WAIT_MS) {
		drain(self->sv[1]);
		found = kq_find(self->kq, self->sv[0], filter, ev, 20);
		ASSERT_LE(0, found);
	}
	ASSERT_EQ(1, found);
}

/* ---- low-water marks on TCP -------------------------------------------------------------- */

TEST_F(tcp, lowat_tcp_read)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, 0, NOTE_LOWAT, 100, 0));
	ASSERT_EQ(60, put(self->sv[0], 60));
	sleep_ms(50);
	ASSERT_NO_EVENT(self->kq, self->sv[1], EVFILT_READ);
	ASSERT_EQ(1, sockopt_int(self->sv[1], SOL_SOCKET, SO_RCVLOWAT));
	ASSERT_EQ(40, put(self->sv[0], 40));
	ASSERT_EVENT_DATA(self->kq, self->sv[1], EVFILT_READ, 100, &ev);
}

/* Without NOTE_LOWAT, the socket's own SO_RCVLOWAT decides. */
TEST_F(tcp, so_rcvlowat_honoured_without_note_lowat)
{
	struct kevent ev;
	int eight = 8;

	ASSERT_EQ(0, setsockopt(self->sv[1], SOL_SOCKET, SO_RCVLOWAT, &eight, sizeof(eight)));
	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(5, put(self->sv[0], 5));
	sleep_ms(50);
	ASSERT_NO_EVENT(self->kq, self->sv[1], EVFILT_READ);
	ASSERT_EQ(3, put(self->sv[0], 3));
	ASSERT_EVENT_DATA(self->kq, self->sv[1], EVFILT_READ, 8, &ev);
}

/*
 * NOTE_LOWAT below the socket's SO_RCVLOWAT, with the data already there at EV_ADD: poll says
 * "not readable" (it applies SO_RCVLOWAT), the knote's own threshold is met, so it fires at
 * once (the registration must not trust poll's answer here).
 */
TEST_F(tcp, note_lowat_below_so_rcvlowat_fires_on_add)
{
	struct kevent ev;
	int hundred = 100;

	ASSERT_EQ(0, setsockopt(self->sv[1], SOL_SOCKET, SO_RCVLOWAT, &hundred, sizeof(hundred)));
	ASSERT_EQ(10, put(self->sv[0], 10));
	sleep_ms(50);
	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, 0, NOTE_LOWAT, 5, 0));
	ASSERT_EVENT_DATA(self->kq, self->sv[1], EVFILT_READ, 10, &ev);
}

/* ---- TCP ----------------------------------------------------------------------------------------- */

TEST_F(tcp_listen, tcp_listen_data_is_accept_queue_length)
{
	struct kevent ev;
	int c[3], a;

	ASSERT_OK(fd_add(self->kq, self->l, EVFILT_READ, 0, 0, 0, 0x11));
	ASSERT_NO_EVENT(self->kq, self->l, EVFILT_READ);
	for (int i = 0; i < 3; i++) {
		c[i] = tcp_connect(self->port, 0);
		ASSERT_LE(0, c[i]);
	}
	ASSERT_EVENT_DATA(self->kq, self->l, EVFILT_READ, 3, &ev);
	EXPECT_EQ(0x11, UDV(ev));
	EXPECT_FALSE(ev.flags & EV_EOF);
	a = accept(self->l, NULL, NULL);
	ASSERT_LE(0, a);
	ASSERT_EVENT_DATA(self->kq, self->l, EVFILT_READ, 2, &ev);
	ASSERT_LE(0, accept(self->l, NULL, NULL));
	ASSERT_LE(0, accept(self->l, NULL, NULL));
	ASSERT_NO_EVENT(self->kq, self->l, EVFILT_READ);
}

struct later_connect {
	int port;
	long delay_ms;
	int fd;
};

static void *later_connect_fn(void *p)
{
	struct later_connect *c = p;

	sleep_ms(c->delay_ms);
	c->fd = tcp_connect(c->port, 0);
	return NULL;
}

TEST_F(tcp_listen, tcp_listen_wakes_blocked_waiter)
{
	struct later_connect c;
	struct kevent ev;
	pthread_t t;

	ASSERT_OK(fd_add(self->kq, self->l, EVFILT_READ, EV_CLEAR, 0, 0, 0));
	c = (struct later_connect){ .port = self->port, .delay_ms = 100, .fd = -1 };
	ASSERT_EQ(0, pthread_create(&t, NULL, later_connect_fn, &c));
	ASSERT_EQ(1, kevent(self->kq, NULL, 0, &ev, 1, NULL));
	EXPECT_EQ((uint64_t)self->l, ev.ident);
	EXPECT_EQ(1, ev.data);
	pthread_join(t, NULL);
	EXPECT_LE(0, c.fd);
}

TEST_F(tcp, tcp_read_data_bytes)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->sv[1], EVFILT_READ);
	ASSERT_EQ(100, put(self->sv[0], 100));
	ASSERT_EVENT_DATA(self->kq, self->sv[1], EVFILT_READ, 100, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);
	ASSERT_EQ(30, take(self->sv[1], 30));
	ASSERT_EVENT_DATA(self->kq, self->sv[1], EVFILT_READ, 70, &ev);
}

TEST_F(tcp, tcp_read_clear_edge)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, EV_CLEAR, 0, 0, 0));
	ASSERT_EQ(10, put(self->sv[0], 10));
	ASSERT_EVENT(self->kq, self->sv[1], EVFILT_READ, &ev);
	EXPECT_EQ(10, ev.data);
	ASSERT_NO_EVENT(self->kq, self->sv[1], EVFILT_READ);
	ASSERT_EQ(5, put(self->sv[0], 5));
	ASSERT_EVENT(self->kq, self->sv[1], EVFILT_READ, &ev);
	EXPECT_EQ(15, ev.data);
	ASSERT_NO_EVENT(self->kq, self->sv[1], EVFILT_READ);
}

TEST_F(tcp, tcp_write_data_is_send_space)
{
	struct kevent ev;
	int sndbuf;

	sndbuf = sockopt_int(self->sv[0], SOL_SOCKET, SO_SNDBUF);
	ASSERT_LT(0, sndbuf);
	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_WRITE, &ev);
	EXPECT_LT(0, ev.data);
	EXPECT_GE(sndbuf, ev.data);
	EXPECT_FALSE(ev.flags & EV_EOF);
}

TEST_F(tcp_small, tcp_write_full_then_drained)
{
	struct kevent ev;

	fill_then_drain_until(_metadata, self, EVFILT_WRITE, &ev);
	EXPECT_LT(0, ev.data);
}

TEST_F(tcp, tcp_peer_close_eof_with_data)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(7, put(self->sv[0], 7));
	ASSERT_EQ(0, close(self->sv[0]));
	ASSERT_EVENT_EOF(self->kq, self->sv[1], EVFILT_READ, &ev);
	EXPECT_EQ(7, ev.data);
	EXPECT_EQ(0, ev.fflags);
}

TEST_F(tcp, tcp_shutdown_wr_eof_read_not_write)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EQ(0, shutdown(self->sv[0], SHUT_WR));
	ASSERT_EVENT_EOF(self->kq, self->sv[1], EVFILT_READ, &ev);
	EXPECT_EQ(0, ev.data);
	EXPECT_EQ(0, ev.fflags);
	ASSERT_EVENT(self->kq, self->sv[1], EVFILT_WRITE, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);	/* half-close: sv[1] can still send */
}

/* An RST (SO_LINGER {1, 0} close) gives EV_EOF with fflags = ECONNRESET on both filters. */
TEST_F(tcp, tcp_reset_eof_with_econnreset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EQ(0, setsockopt(self->sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	ASSERT_EQ(0, close(self->sv[0]));
	ASSERT_EVENT_EOF(self->kq, self->sv[1], EVFILT_READ, &ev);
	EXPECT_EQ(ECONNRESET, ev.fflags);
	ASSERT_EVENT_EOF(self->kq, self->sv[1], EVFILT_WRITE, &ev);
	EXPECT_EQ(ECONNRESET, ev.fflags);
}

TEST_F(tcp, tcp_eof_wakes_blocked_waiter)
{
	struct kevent ev;
	pid_t pid;

	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, EV_CLEAR, 0, 0, 0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		sleep_ms(100);
		shutdown(self->sv[0], SHUT_WR);
		_exit(0);
	}
	ASSERT_EQ(1, kevent(self->kq, NULL, 0, &ev, 1, NULL));
	EXPECT_TRUE(ev.flags & EV_EOF);
	waitpid(pid, NULL, 0);
}

/* ---- EVFILT_EMPTY ---------------------------------------------------------------------------------- */

TEST_F(tcp, empty_idle_tcp_fires)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_EMPTY, 0, 0, 0, 0x3));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_EMPTY, &ev);
	EXPECT_EQ(0, ev.data);
	EXPECT_EQ(0x3, UDV(ev));
	EXPECT_TRUE(flags_clean(&ev));
}

TEST_F(tcp_small, empty_fires_when_send_buffer_drained)
{
	struct kevent ev;

	fill_then_drain_until(_metadata, self, EVFILT_EMPTY, &ev);
	EXPECT_EQ(0, ev.data);
	EXPECT_EQ(0, sockopt_int(self->sv[0], SOL_SOCKET, SO_ERROR));
}

TEST_F(tcp, empty_clear_after_new_send)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_EMPTY, EV_CLEAR, 0, 0, 0));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_EMPTY, &ev);
	ASSERT_NO_EVENT(self->kq, self->sv[0], EVFILT_EMPTY);
	/* Data sent and acknowledged: the buffer became empty again, a new edge. */
	ASSERT_EQ(100, put(self->sv[0], 100));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_EMPTY, &ev);
	EXPECT_EQ(0, ev.data);
}

TEST_F(tcp_listen, empty_on_listening_socket_fires)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->l, EVFILT_EMPTY, 0, 0, 0, 0));
	ASSERT_EVENT(self->kq, self->l, EVFILT_EMPTY, &ev);
}

/* ---- UDP ---------------------------------------------------------------------------------------------- */

TEST_F(udp, udp_read_data_is_total_of_queued_datagrams)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->sv[1], EVFILT_READ);
	ASSERT_EQ(10, put(self->sv[0], 10));
	ASSERT_EQ(20, put(self->sv[0], 20));
	ASSERT_EVENT_DATA(self->kq, self->sv[1], EVFILT_READ, 30, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);
	ASSERT_EQ(10, take(self->sv[1], 1000));
	ASSERT_EVENT_DATA(self->kq, self->sv[1], EVFILT_READ, 20, &ev);
	ASSERT_EQ(20, take(self->sv[1], 1000));
	ASSERT_NO_EVENT(self->kq, self->sv[1], EVFILT_READ);
}

TEST_F(udp, udp_write_ready)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EVENT(self->kq, self->sv[0], EVFILT_WRITE, &ev);
	EXPECT_LT(0, ev.data);
	EXPECT_FALSE(ev.flags & EV_EOF);
}

/*
 * Where poll() and the filter disagree, EV_ADD queues the knote on poll's word and the scan's
 * evaluation drops it unreported (README, "Registration"): a TCP socket not yet connected
 * shows EPOLLHUP to poll() (an event a writer hears), but EVFILT_WRITE never fires on it
 * (filt_sowrite). After that scan the kqueue no longer reads as pending.
 */
TEST_F(tcp, write_on_unconnected_socket_never_fires)
{
	struct pollfd pfd = { .events = POLLIN };
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_LE(0, s);
	pfd.fd = s;
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	ASSERT_NE(0, pfd.revents & (POLLOUT | POLLHUP));
	ASSERT_OK(fd_add(self->kq, s, EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, s, EVFILT_WRITE);
	pfd = (struct pollfd){ .fd = self->kq, .events = POLLIN };
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	close(s);
}

/*
 * A zero-length datagram: readable to poll(), but EVFILT_READ counts bytes (filt_soread: data
 * >= the low-water mark of 1), so it does not fire; the datagram after it does, with data =
 * the bytes queued.
 */
TEST_F(udp, udp_zero_length_datagram_not_reported)
{
	struct pollfd pfd = { .fd = self->sv[1], .events = POLLIN };
	struct kevent ev;

	ASSERT_EQ(0, send(self->sv[0], "", 0, 0));
	ASSERT_EQ(1, poll(&pfd, 1, KQ_WAIT_MS));
	ASSERT_OK(fd_add(self->kq, self->sv[1], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->sv[1], EVFILT_READ);
	pfd = (struct pollfd){ .fd = self->kq, .events = POLLIN };
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	ASSERT_EQ(5, put(self->sv[0], 5));
	ASSERT_EVENT_DATA(self->kq, self->sv[1], EVFILT_READ, 5, &ev);
}

TEST_HARNESS_MAIN
