// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_READ / EVFILT_WRITE on FIFOs made with mkfifo() in /tmp (FreeBSD
 * sys_pipe.c filt_piperead / filt_pipewrite / pipe_kqfilter, fifo_vnops.c):
 *
 *  - a reader that opened while no writer existed sees no EOF (f_pipegen);
 *  - READ data = bytes in the FIFO; EV_EOF only when the last writer goes;
 *  - a new writer clears EV_EOF on the read knotes (they stop firing until data
 *    or another EOF comes);
 *  - WRITE: data = free space; EV_EOF with data 0 when the reader goes;
 *  - a filter for the direction the descriptor was not opened for is accepted
 *    and never fires (pipe_nfiltops); the same for pipe(2) ends.
 */
#include "kq_fd_common.h"

/* A FIFO at self->path (removed after the case), open for reading as self->r. */
KQ_FD_FIXTURE_SETUP(fifo, 10, char path[64]; int r;,
		    fifo_path(self->path, sizeof(self->path));
		    ASSERT_EQ(0, mkfifo(self->path, 0600));
		    self->r = open(self->path, O_RDONLY | O_NONBLOCK);
		    ASSERT_LE(0, self->r))

FIXTURE_TEARDOWN(fifo)
{
	unlink(self->path);
}

TEST_F(fifo, fifo_reader_without_writer_has_no_event)
{
	ASSERT_OK(fd_add(self->kq, self->r, EVFILT_READ, 0, 0, 0, 0));
	/* No writer ever came: that is not EOF (FreeBSD f_pipegen == pipe_wgen). */
	ASSERT_NO_EVENT(self->kq, self->r, EVFILT_READ);
}

TEST_F(fifo, fifo_read_data)
{
	struct kevent ev;
	int w;

	w = open(self->path, O_WRONLY | O_NONBLOCK);
	ASSERT_LE(0, w);
	ASSERT_OK(fd_add(self->kq, self->r, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_OK(fd_add(self->kq, w, EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_EVENT(self->kq, w, EVFILT_WRITE, &ev);
	EXPECT_EQ(pipe_cap(w), ev.data);
	ASSERT_NO_EVENT(self->kq, self->r, EVFILT_READ);
	ASSERT_EQ(7, put(w, 7));
	ASSERT_EVENT(self->kq, self->r, EVFILT_READ, &ev);
	EXPECT_EQ(7, ev.data);
	EXPECT_FALSE(ev.flags & EV_EOF);
}

TEST_F(fifo, fifo_eof_only_when_last_writer_goes)
{
	struct kevent ev;
	int w1, w2;

	w1 = open(self->path, O_WRONLY | O_NONBLOCK);
	w2 = open(self->path, O_WRONLY | O_NONBLOCK);
	ASSERT_LE(0, w1);
	ASSERT_LE(0, w2);
	ASSERT_OK(fd_add(self->kq, self->r, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(0, close(w1));
	ASSERT_NO_EVENT(self->kq, self->r, EVFILT_READ);
	ASSERT_EQ(2, put(w2, 2));
	ASSERT_EQ(0, close(w2));
	ASSERT_EVENT(self->kq, self->r, EVFILT_READ, &ev);
	EXPECT_TRUE(ev.flags & EV_EOF);
	EXPECT_EQ(2, ev.data);
}

/* FreeBSD (filt_piperead): a new writer clears EV_EOF on the FIFO's read knotes. */
TEST_F(fifo, fifo_new_writer_clears_eof)
{
	struct kevent ev;
	int w;

	w = open(self->path, O_WRONLY | O_NONBLOCK);
	ASSERT_LE(0, w);
	ASSERT_OK(fd_add(self->kq, self->r, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(0, close(w));
	ASSERT_EVENT(self->kq, self->r, EVFILT_READ, &ev);
	ASSERT_TRUE(ev.flags & EV_EOF);
	w = open(self->path, O_WRONLY | O_NONBLOCK);
	ASSERT_LE(0, w);
	/* Level-triggered and re-checked: no data and no EOF any more, so nothing. */
	ASSERT_NO_EVENT(self->kq, self->r, EVFILT_READ);
	ASSERT_EQ(3, put(w, 3));
	ASSERT_EVENT(self->kq, self->r, EVFILT_READ, &ev);
	EXPECT_FALSE(ev.flags & EV_EOF);
	EXPECT_EQ(3, ev.data);
	/* And EOF again when this writer goes. */
	ASSERT_EQ(0, close(w));
	ASSERT_EVENT(self->kq, self->r, EVFILT_READ, &ev);
	EXPECT_TRUE(ev.flags & EV_EOF);
	EXPECT_EQ(3, ev.data);
}

TEST_F(fifo, fifo_write_eof_when_reader_goes)
{
	struct kevent ev;
	int w;

	signal(SIGPIPE, SIG_IGN);
	w = open(self->path, O_WRONLY | O_NONBLOCK);
	ASSERT_LE(0, w);
	fill(w);
	ASSERT_OK(fd_add(self->kq, w, EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_NO_EVENT(self->kq, w, EVFILT_WRITE);
	ASSERT_EQ(0, close(self->r));
	ASSERT_EVENT(self->kq, w, EVFILT_WRITE, &ev);
	EXPECT_TRUE(ev.flags & EV_EOF);
	EXPECT_EQ(0, ev.data);
}

/*
 * FreeBSD pipe_kqfilter: a filter for the direction a FIFO descriptor was not
 * opened for is accepted (pipe_nfiltops) and never fires. Linux pipe(2) ends
 * are one-way too, so the same holds for them.
 */
TEST_F(fifo, filter_for_the_other_direction_accepted_never_fires)
{
	int w, p[2];

	w = open(self->path, O_WRONLY | O_NONBLOCK);
	ASSERT_LE(0, w);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_OK(fd_add(self->kq, self->r, EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_OK(fd_add(self->kq, w, EVFILT_READ, 0, 0, 0, 0));
	ASSERT_OK(fd_add(self->kq, p[0], EVFILT_WRITE, 0, 0, 0, 0));
	ASSERT_OK(fd_add(self->kq, p[1], EVFILT_READ, 0, 0, 0, 0));
	ASSERT_EQ(3, put(w, 3));
	ASSERT_EQ(3, put(p[1], 3));
	ASSERT_NO_EVENT(self->kq, self->r, EVFILT_WRITE);
	ASSERT_NO_EVENT(self->kq, w, EVFILT_READ);
	ASSERT_NO_EVENT(self->kq, p[0], EVFILT_WRITE);
	ASSERT_NO_EVENT(self->kq, p[1], EVFILT_READ);
	ASSERT_OK(fd_chg(self->kq, p[1], EVFILT_READ, EV_DELETE));	/* registered all the same */
}

struct fifo_opener {
	const char *path;
	long delay_ms;
	int fd;
};

static void *fifo_open_write(void *p)
{
	struct fifo_opener *o = p;

	sleep_ms(o->delay_ms);
	o->fd = open(o->path, O_WRONLY | O_NONBLOCK);
	if (o->fd >= 0)
		put(o->fd, 5);
	return NULL;
}

TEST_F(fifo, fifo_blocked_reader_woken_by_new_writer)
{
	struct fifo_opener o;
	struct kevent ev;
	pthread_t t;

	ASSERT_OK(fd_add(self->kq, self->r, EVFILT_READ, EV_CLEAR, 0, 0, 0));
	o = (struct fifo_opener){ .path = self->path, .delay_ms = 100, .fd = -1 };
	ASSERT_EQ(0, pthread_create(&t, NULL, fifo_open_write, &o));
	ASSERT_EQ(1, kevent(self->kq, NULL, 0, &ev, 1, NULL));
	EXPECT_EQ((uint64_t)self->r, ev.ident);
	EXPECT_EQ(5, ev.data);
	EXPECT_FALSE(ev.flags & EV_EOF);
	pthread_join(t, NULL);
	EXPECT_LE(0, o.fd);
}

TEST_HARNESS_MAIN
