// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_READ / EVFILT_WRITE on pipes, and the EV_* flags seen through them
 * (FreeBSD sys_pipe.c filt_piperead / filt_pipewrite / pipe_kqfilter):
 *
 *  - READ: data = bytes in the pipe; active while data > 0; EV_EOF (data =
 *    bytes still readable, fflags 0) once the last writer is gone.
 *  - WRITE: data = free space (F_GETPIPE_SZ - bytes queued); not active when
 *    the pipe is full; EV_EOF with data 0 once the reader is gone; EV_ADD on a
 *    pipe whose read end is already closed fails with EPIPE.
 *  - EVFILT_EMPTY is not supported on pipes: EINVAL.
 *  - Level-triggered by default (re-evaluated at every retrieval, dropped once
 *    false), EV_CLEAR edge-triggered (data = bytes in the pipe at the time of
 *    the new event), EV_ONESHOT, EV_DISPATCH, EV_DISABLE / EV_ENABLE (which
 *    re-evaluates), EV_RECEIPT, udata on modify, two kqueues on one pipe.
 * FIFOs are in kq_fd_test_fifo.c.
 */
#include "kq_fd_common.h"

#include <sys/resource.h>

KQ_PIPE_FIXTURE

/* ---- EVFILT_READ basics ----------------------------------------------------------- */

TEST_F(pipe, read_empty_pipe_no_event)
{
	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->p[0], EVFILT_READ);
}

/* NOTE_LOWAT with data 0 fires on an empty pipe, at once (FreeBSD filt_piperead: data >= 0). */
TEST_F(pipe, read_note_lowat_zero_fires_on_empty_pipe)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, NOTE_LOWAT, 0, 0));
	ASSERT_EVENT_DATA(self->kq, self->p[0], EVFILT_READ, 0, &ev);
}

TEST_F(pipe, read_data_is_bytes_in_pipe)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 0xabc));
	ASSERT_EQ(5, put(self->p[1], 5));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ((uint64_t)self->p[0], ev.ident);
	EXPECT_EQ(EVFILT_READ, ev.filter);
	EXPECT_EQ(5, ev.data);
	EXPECT_EQ(0, ev.fflags);
	EXPECT_EQ(0xabc, UDV(ev));
	EXPECT_TRUE(flags_clean(&ev));
	EXPECT_FALSE(ev.flags & (EV_EOF | EV_ERROR));
}

/* A condition true at registration fires at once, even in the same kevent() call. */
TEST_F(pipe, read_preexisting_data_fires_on_add)
{
	struct kevent ch, ev;

	ASSERT_EQ(3, put(self->p[1], 3));
	ch = kev_make(self->p[0], EVFILT_READ, EV_ADD, 0, 0, 7);
	ASSERT_EQ(1, kevent(self->kq, &ch, 1, &ev, 1, NULL));
	EXPECT_EQ((uint64_t)self->p[0], ev.ident);
	EXPECT_EQ(3, ev.data);
	EXPECT_EQ(7, UDV(ev));
}

/*
 * A changelist with more descriptor knotes than the module evaluates after the batch (1024 per
 * call): the knotes beyond the bound are queued unevaluated and the scan decides. An empty pipe
 * must still report nothing; once data arrives every knote reports it.
 */
TEST_F(pipe, long_changelist_evaluates_every_knote)
{
	enum { N = 1500 };
	struct rlimit rl = { N + 64, N + 64 };
	struct kevent *ch = calloc(N, sizeof(*ch)), *ev = calloc(N, sizeof(*ev));
	int fds[N];

	ASSERT_NE(NULL, ch);
	ASSERT_NE(NULL, ev);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	for (int i = 0; i < N; i++) {
		fds[i] = dup(self->p[0]);
		ASSERT_LE(0, fds[i]);
		ch[i] = kev_make(fds[i], EVFILT_READ, EV_ADD, 0, 0, i);
	}
	ASSERT_EQ(0, kevent(self->kq, ch, N, NULL, 0, NULL));
	ASSERT_EQ(0, kq_poll(self->kq, ev, N));
	ASSERT_EQ(4, put(self->p[1], 4));
	ASSERT_EQ(N, kq_poll(self->kq, ev, N));
	for (int i = 0; i < N; i++)
		ASSERT_EQ(4, ev[i].data);
	free(ch);
	free(ev);
}

TEST_F(pipe, read_level_triggered_repeats)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(3, put(self->p[1], 3));
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
		EXPECT_EQ(3, ev.data);
	}
}

TEST_F(pipe, read_data_tracks_pipe_contents)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(5, put(self->p[1], 5));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(5, ev.data);
	ASSERT_EQ(3, put(self->p[1], 3));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(8, ev.data);
	ASSERT_EQ(6, take(self->p[0], 6));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(2, ev.data);
	ASSERT_EQ(2, take(self->p[0], 2));
	/* Drained: the queued level-triggered event is re-checked and dropped. */
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
}

TEST_F(pipe, read_clear_reports_once_per_write)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, EV_CLEAR, 0, 0, 0));
	ASSERT_EQ(5, put(self->p[1], 5));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(5, ev.data);
	EXPECT_TRUE(ev.flags & EV_CLEAR);
	EXPECT_TRUE(flags_clean(&ev));
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));	/* data still there, but no new data */
	ASSERT_EQ(3, put(self->p[1], 3));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(8, ev.data);			/* bytes in the pipe, not bytes since */
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
}

TEST_F(pipe, read_oneshot_fires_once_then_gone)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, EV_ONESHOT, 0, 0, 0));
	ASSERT_EQ(1, put(self->p[1], 1));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_TRUE(ev.flags & EV_ONESHOT);
	EXPECT_EQ(1, ev.data);
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
	ASSERT_EQ(1, put(self->p[1], 1));
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
	ASSERT_ERRNO(ENOENT, fd_chg(self->kq, self->p[0], EVFILT_READ, EV_DELETE));
}

TEST_F(pipe, read_dispatch_disables_until_enable)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, EV_DISPATCH, 0, 0, 0));
	ASSERT_EQ(2, put(self->p[1], 2));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_TRUE(ev.flags & EV_DISPATCH);
	EXPECT_EQ(2, ev.data);
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));	/* disabled, data still there */
	ASSERT_EQ(2, put(self->p[1], 2));
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));	/* still disabled */
	ASSERT_OK(fd_chg(self->kq, self->p[0], EVFILT_READ, EV_ENABLE));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(4, ev.data);
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));	/* dispatched again */
	ASSERT_OK(fd_chg(self->kq, self->p[0], EVFILT_READ, EV_DELETE));	/* still registered */
}

/* Data that arrives while disabled is reported by EV_ENABLE (re-evaluation). */
TEST_F(pipe, read_disable_then_enable_reports_arrived_data)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_OK(fd_chg(self->kq, self->p[0], EVFILT_READ, EV_DISABLE));
	ASSERT_EQ(4, put(self->p[1], 4));
	ASSERT_NO_EVENT(self->kq, self->p[0], EVFILT_READ);
	ASSERT_OK(fd_chg(self->kq, self->p[0], EVFILT_READ, EV_ENABLE));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(4, ev.data);
}

/* EV_ENABLE of an EV_CLEAR knote also re-evaluates: the data is reported. */
TEST_F(pipe, read_clear_disabled_write_reported_on_enable)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, EV_CLEAR | EV_DISABLE, 0, 0, 0));
	ASSERT_EQ(6, put(self->p[1], 6));
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
	ASSERT_OK(fd_chg(self->kq, self->p[0], EVFILT_READ, EV_ENABLE));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(6, ev.data);
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
}

TEST_F(pipe, read_add_disabled_with_data)
{
	struct kevent ev;

	ASSERT_EQ(1, put(self->p[1], 1));
	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, EV_DISABLE, 0, 0, 0));
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
	ASSERT_OK(fd_chg(self->kq, self->p[0], EVFILT_READ, EV_ENABLE));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(1, ev.data);
}

TEST_F(pipe, read_delete_stops_events)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(1, put(self->p[1], 1));
	ASSERT_OK(fd_chg(self->kq, self->p[0], EVFILT_READ, EV_DELETE));	/* while queued */
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
	ASSERT_EQ(1, put(self->p[1], 1));
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
	ASSERT_ERRNO(ENOENT, fd_chg(self->kq, self->p[0], EVFILT_READ, EV_DELETE));
}

TEST_F(pipe, read_modify_udata_and_keepudata)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 1));
	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 2));	/* modify */
	ASSERT_EQ(1, put(self->p[1], 1));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(2, UDV(ev));
	ASSERT_OK(kq_ctl(self->kq, self->p[0], EVFILT_READ, EV_ADD | EV_KEEPUDATA, 0, 0, 3));
	ASSERT_OK(kq_ctl(self->kq, self->p[0], EVFILT_READ, EV_DISABLE | EV_KEEPUDATA, 0, 0, 4));
	ASSERT_OK(kq_ctl(self->kq, self->p[0], EVFILT_READ, EV_ENABLE | EV_KEEPUDATA, 0, 0, 5));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(2, UDV(ev));
	/* As FreeBSD's kqueue_register: any change to an existing knote stores udata. */
	ASSERT_OK(kq_ctl(self->kq, self->p[0], EVFILT_READ, EV_ENABLE, 0, 0, 6));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(6, UDV(ev));
	ASSERT_EQ(1, kq_count_of(self->kq, self->p[0], EVFILT_READ));	/* still one knote */
}

TEST_F(pipe, read_receipt_record)
{
	struct kevent ch[2], ev[2];

	ASSERT_EQ(1, put(self->p[1], 1));	/* even with data pending, the receipt comes alone */
	ch[0] = kev_make(self->p[0], EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, 9);
	ch[1] = kev_make(self->p[1], EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, 10);
	ASSERT_EQ(2, kevent(self->kq, ch, 2, ev, 2, NULL));
	for (int i = 0; i < 2; i++) {
		EXPECT_TRUE(ev[i].flags & EV_ERROR);
		EXPECT_EQ(0, ev[i].data);
		EXPECT_EQ(ch[i].ident, ev[i].ident);
		EXPECT_EQ(ch[i].filter, ev[i].filter);
		EXPECT_EQ(9 + i, UDV(ev[i]));
	}
	ASSERT_EQ(2, kq_poll(self->kq, ev, 2));	/* both registered and active */
}

TEST_F(pipe, read_blocking_wait_woken_by_writer_thread)
{
	struct later_write w;
	struct kevent ev;
	pthread_t t;
	int64_t t0;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 0));
	w = (struct later_write){ .fd = self->p[1], .delay_ms = 100, .n = 9 };
	t0 = now_ns();
	ASSERT_EQ(0, pthread_create(&t, NULL, later_write_fn, &w));
	ASSERT_EQ(1, kevent(self->kq, NULL, 0, &ev, 1, NULL));
	EXPECT_LE(90, ms_since(t0));
	EXPECT_EQ((uint64_t)self->p[0], ev.ident);
	EXPECT_EQ(9, ev.data);
	pthread_join(t, NULL);
}

TEST_F(pipe, same_pipe_in_two_kqueues)
{
	struct kevent ev;
	int kq2 = kqueue();

	ASSERT_LE(0, kq2);
	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, EV_CLEAR, 0, 0, 1));
	ASSERT_OK(fd_add(kq2, self->p[0], EVFILT_READ, 0, 0, 0, 2));
	ASSERT_EQ(2, put(self->p[1], 2));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(1, UDV(ev));
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));	/* EV_CLEAR in kq ... */
	ASSERT_EQ(1, kq_poll(kq2, &ev, 1));	/* ... does not affect kq2 */
	EXPECT_EQ(2, UDV(ev));
	EXPECT_EQ(2, ev.data);
	ASSERT_OK(fd_chg(kq2, self->p[0], EVFILT_READ, EV_DELETE));
	ASSERT_EQ(1, put(self->p[1], 1));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));	/* kq's knote unaffected by kq2's delete */
	EXPECT_EQ(3, ev.data);
}

/* ---- EOF on the read side ------------------------------------------------------------ */

TEST_F(pipe, read_eof_when_writer_closes_with_data)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(4, put(self->p[1], 4));
	ASSERT_EQ(0, close(self->p[1]));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_TRUE(ev.flags & EV_EOF);
	EXPECT_EQ(4, ev.data);
	EXPECT_EQ(0, ev.fflags);
	/* EOF stays true (level): after reading, still reported, with data 0. */
	ASSERT_EQ(4, take(self->p[0], 4));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_TRUE(ev.flags & EV_EOF);
	EXPECT_EQ(0, ev.data);
}

TEST_F(pipe, read_eof_wakes_blocked_waiter)
{
	struct kevent ev;
	pid_t pid;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {		/* the child holds the other copy of the write end */
		sleep_ms(100);
		_exit(0);
	}
	ASSERT_EQ(0, close(self->p[1]));
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));	/* the child still has a writer open */
	ASSERT_EQ(1, kevent(self->kq, NULL, 0, &ev, 1, NULL));
	EXPECT_TRUE(ev.flags & EV_EOF);
	EXPECT_EQ(0, ev.data);
	waitpid(pid, NULL, 0);
}

TEST_F(pipe, read_eof_with_clear_reported_once)
{
	struct kevent ev;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, EV_CLEAR, 0, 0, 0));
	ASSERT_EQ(0, close(self->p[1]));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_TRUE(ev.flags & EV_EOF);
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
}

/* ---- EVFILT_WRITE ------------------------------------------------------------------------ */

TEST_F(pipe, write_data_is_free_space)
{
	struct kevent ev;
	int cap;

	cap = pipe_cap(self->p[1]);
	ASSERT_LT(4096, cap);
	ASSERT_OK(fd_add(self->kq, self->p[1], EVFILT_WRITE, 0, 0, 0, 0x77));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ((uint64_t)self->p[1], ev.ident);
	EXPECT_EQ(EVFILT_WRITE, ev.filter);
	EXPECT_EQ(cap, ev.data);
	EXPECT_EQ(0x77, UDV(ev));
	EXPECT_FALSE(ev.flags & EV_EOF);
	ASSERT_EQ(100, put(self->p[1], 100));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_EQ(cap - 100, ev.data);
}

TEST_F(pipe, write_full_pipe_not_ready_until_drained)
{
	struct kevent ev;
	int cap;
	long n;

	cap = pipe_cap(self->p[1]);
	n = fill(self->p[1]);
	ASSERT_EQ(cap, n);
	ASSERT_OK(fd_add(self->kq, self->p[1], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, self->p[1], EVFILT_WRITE);
	ASSERT_EQ(n, drain(self->p[0]));
	ASSERT_EVENT(self->kq, self->p[1], EVFILT_WRITE, &ev);
	EXPECT_EQ(cap, ev.data);
}

TEST_F(pipe, write_full_pipe_blocked_waiter_woken_by_reader)
{
	struct kevent ev;
	pid_t pid;

	fill(self->p[1]);
	ASSERT_OK(fd_add(self->kq, self->p[1], EVFILT_WRITE, EV_CLEAR, 0, 0, 0));
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		sleep_ms(100);
		drain(self->p[0]);
		_exit(0);
	}
	ASSERT_EQ(1, kevent(self->kq, NULL, 0, &ev, 1, NULL));
	EXPECT_EQ((uint64_t)self->p[1], ev.ident);
	EXPECT_LT(0, ev.data);
	waitpid(pid, NULL, 0);
}

TEST_F(pipe, write_eof_when_reader_closes)
{
	struct kevent ev;

	fill(self->p[1]);
	ASSERT_OK(fd_add(self->kq, self->p[1], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));	/* full */
	ASSERT_EQ(0, close(self->p[0]));
	ASSERT_EQ(1, kq_poll(self->kq, &ev, 1));
	EXPECT_TRUE(ev.flags & EV_EOF);
	EXPECT_EQ(0, ev.data);
}

/* FreeBSD pipe_kqfilter: EVFILT_WRITE on a pipe without a reader is EPIPE. */
TEST_F(pipe, write_add_after_reader_closed_is_epipe)
{
	struct kevent ch, ev;

	ASSERT_EQ(0, close(self->p[0]));
	ASSERT_ERRNO(EPIPE, fd_add(self->kq, self->p[1], EVFILT_WRITE, 0, 0, 0, 0));
	ch = kev_make(self->p[1], EVFILT_WRITE, EV_ADD, 0, 0, 0);
	ASSERT_EQ(1, kevent(self->kq, &ch, 1, &ev, 1, NULL));
	EXPECT_TRUE(ev.flags & EV_ERROR);
	EXPECT_EQ(EPIPE, ev.data);
	ASSERT_EQ(0, kq_poll(self->kq, &ev, 1));
}

TEST_F(pipe, read_and_write_knotes_are_independent)
{
	struct kevent ev[4];
	int n, seen_r = 0, seen_w = 0;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, 0, 0, 0, 1));
	ASSERT_OK(fd_add(self->kq, self->p[1], EVFILT_WRITE, 0, 0, 0, 2));
	ASSERT_EQ(10, put(self->p[1], 10));
	n = kq_poll(self->kq, ev, 4);
	ASSERT_EQ(2, n);
	for (int i = 0; i < n; i++) {
		if (ev[i].filter == EVFILT_READ && ev[i].ident == (uint64_t)self->p[0] &&
		    UDV(ev[i]) == 1)
			seen_r++;
		if (ev[i].filter == EVFILT_WRITE && ev[i].ident == (uint64_t)self->p[1] &&
		    UDV(ev[i]) == 2)
			seen_w++;
	}
	EXPECT_EQ(1, seen_r);
	EXPECT_EQ(1, seen_w);
	ASSERT_OK(fd_chg(self->kq, self->p[1], EVFILT_WRITE, EV_DELETE));
	ASSERT_EQ(1, kq_poll(self->kq, ev, 4));
	EXPECT_EQ(EVFILT_READ, ev[0].filter);
}

TEST_F(pipe, empty_filter_on_pipe_is_einval)
{
	ASSERT_ERRNO(EINVAL, fd_add(self->kq, self->p[1], EVFILT_EMPTY, 0, 0, 0, 0));
	ASSERT_ERRNO(EINVAL, fd_add(self->kq, self->p[0], EVFILT_EMPTY, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
