/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Shared helpers of the descriptor-filter tests (kq_fd_test_*.c): EVFILT_READ,
 * EVFILT_WRITE and EVFILT_EMPTY on pipes, FIFOs, sockets, ptys, eventfd,
 * timerfd, signalfd, regular files, /dev/null, kqueues and epoll descriptors.
 *
 * Built on ../kqueue/kq_test_common.h (kselftest harness, kq_ctl(), kq_get(),
 * ASSERT_FAILS(), ...). Every TEST() runs in its own forked child; each arms
 * alarm() so that a hang is a failure (SIGALRM kills the child), on top of the
 * harness's 30 s timeout.
 *
 * Timing: sources that deliver asynchronously (TCP over loopback, pty line
 * discipline work, timers) are waited for up to KQ_WAIT_MS; "nothing happens"
 * is checked for KQ_QUIET_MS. Both are generous for the emulated KASAN VM.
 */
#ifndef KQ_FD_COMMON_H
#define KQ_FD_COMMON_H

#include "kq_test_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#ifndef NOTE_LOWAT
#define NOTE_LOWAT 0x0001
#endif
#ifndef NOTE_FILE_POLL
#define NOTE_FILE_POLL 0x0002
#endif
#ifndef EVFILT_EMPTY
#define EVFILT_EMPTY (-13)
#endif

/* A positive expectation may take this long (async sources, emulated VM). */
#define KQ_WAIT_MS 5000
/* A negative expectation ("no event") watches this long. */
#define KQ_QUIET_MS 100

static inline const char *filt_name(int filter)
{
	switch (filter) {
	case EVFILT_READ: return "READ";
	case EVFILT_WRITE: return "WRITE";
	case EVFILT_EMPTY: return "EMPTY";
	case EVFILT_USER: return "USER";
	case EVFILT_TIMER: return "TIMER";
	default: return "?";
	}
}

/* EV_ADD of a descriptor filter; returns 0 or the errno (kq_ctl()). */
static inline int fd_add(int kq, int fd, int filter, unsigned int flags, unsigned int fflags,
			 int64_t data, uint64_t udata)
{
	return kq_ctl(kq, (uint64_t)fd, filter, EV_ADD | flags, fflags, data, udata);
}

/* Any other change (EV_DELETE, EV_ENABLE, EV_DISABLE) on (fd, filter). */
static inline int fd_chg(int kq, int fd, int filter, unsigned int flags)
{
	return kq_ctl(kq, (uint64_t)fd, filter, flags, 0, 0, 0);
}

/*
 * Collect events from kq for up to timeout_ms and look for one with
 * (ident, filter). Returns 1 (copied to *out if out) as soon as one is seen,
 * 0 if none came before the deadline, -errno if kevent() failed.
 * Events of other knotes that come back meanwhile are consumed (EV_CLEAR,
 * EV_ONESHOT ones are lost): tests call it with that in mind.
 */
static inline int kq_find(int kq, uint64_t ident, int filter, struct kevent *out, long timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * NSEC_PER_MSEC;
	struct kevent ev[64];

	for (;;) {
		bool last;
		int n = kq_get_until(kq, ev, 64, deadline, &last);

		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			if (ev[i].ident == ident && ev[i].filter == filter) {
				if (out)
					*out = ev[i];
				return 1;
			}
		}
		if (last)
			return 0;
		if (n > 0)
			sleep_ms(1);	/* other level-triggered events: do not spin hard */
	}
}

/*
 * Wait until an event (ident, filter) satisfies match(ev, arg) (level-triggered
 * knotes report the current state on every retrieval). Returns 1 when seen,
 * 0 on timeout (the last seen event in *out, untouched if none), -errno on error.
 */
static inline int kq_find_match(int kq, uint64_t ident, int filter,
				bool (*match)(const struct kevent *ev, int64_t arg), int64_t arg,
				struct kevent *out, long timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * NSEC_PER_MSEC;
	struct kevent ev;

	for (;;) {
		int64_t left = (deadline - now_ns()) / NSEC_PER_MSEC;
		int r = kq_find(kq, ident, filter, &ev, left > 0 ? left : 0);

		if (r < 0)
			return r;
		if (r == 1) {
			*out = ev;
			if (match(&ev, arg))
				return 1;
		}
		if (left <= 0)
			return 0;
		sleep_ms(5);
	}
}

static inline bool ev_data_is(const struct kevent *ev, int64_t want)
{
	return ev->data == want;
}

static inline bool ev_has_flags(const struct kevent *ev, int64_t flags)
{
	return (ev->flags & flags) == flags;
}

/*
 * Wait until an event (ident, filter) reports data == want. Returns 1 when
 * seen, 0 on timeout (last seen event in *out, data -1 if none), -errno on error.
 */
static inline int kq_find_data(int kq, uint64_t ident, int filter, int64_t want,
			       struct kevent *out, long timeout_ms)
{
	memset(out, 0, sizeof(*out));
	out->data = -1;
	return kq_find_match(kq, ident, filter, ev_data_is, want, out, timeout_ms);
}

/*
 * Wait until an event (ident, filter) carries all of `flags` (e.g. EV_EOF).
 * Returns 1 when seen, 0 on timeout (last seen event in *out), -errno on error.
 */
static inline int kq_find_flags(int kq, uint64_t ident, int filter, unsigned int flags,
				struct kevent *out, long timeout_ms)
{
	memset(out, 0, sizeof(*out));
	return kq_find_match(kq, ident, filter, ev_has_flags, flags, out, timeout_ms);
}

/* Number of events for (ident, filter) in one non-blocking kevent() call. */
static inline int kq_count_of(int kq, uint64_t ident, int filter)
{
	struct kevent ev[64];
	int n = kq_poll(kq, ev, 64), c = 0;

	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++)
		c += ev[i].ident == ident && ev[i].filter == filter;
	return c;
}

/* ASSERT_EVENT() and ASSERT_NO_EVENT(): kq_test_common.h, on kq_find() above. */

/* The event with (ident, filter) must reach data == want within KQ_WAIT_MS. */
#define ASSERT_EVENT_DATA(kq, ident, filter, want, evp)                                \
	ASSERT_EQ(1, kq_find_data(kq, (uint64_t)(ident), filter, want, evp, KQ_WAIT_MS)) \
	TH_LOG("EVFILT_%s on ident %lld: wanted data %lld, last seen %lld (flags 0x%x)", \
	       filt_name(filter), (long long)(ident), (long long)(want),               \
	       (long long)(evp)->data, (evp)->flags)

/* The event (ident, filter) must carry EV_EOF within KQ_WAIT_MS. */
#define ASSERT_EVENT_EOF(kq, ident, filter, evp)                                       \
	ASSERT_EQ(1, kq_find_flags(kq, (uint64_t)(ident), filter, EV_EOF, evp, KQ_WAIT_MS)) \
	TH_LOG("EVFILT_%s on ident %lld: no EV_EOF within %d ms (last flags 0x%x)",     \
	       filt_name(filter), (long long)(ident), KQ_WAIT_MS, (evp)->flags)

/* ---- fixtures ------------------------------------------------------------------ */

/*
 * KQ_FD_FIXTURE(name, secs, fields, setup...) declares FIXTURE(name) for
 * TEST_F(name, case) tests: its data is `int kq;` followed by `fields` (written
 * as declarations, each ending in ';'), and its setup, run in the test's own
 * child before the case, opens a kqueue into self->kq (as KQ_OPEN), arms
 * alarm(secs) and runs the statements `setup` (which may ASSERT: a failure there
 * fails the case). KQ_FD_FIXTURE_SETUP is the same without the empty
 * FIXTURE_TEARDOWN(name), for a fixture that cleans up after itself.
 * A file declares the fixtures it uses (the harness's functions of an unused
 * fixture would be unused static functions: an error under -Werror).
 */
#define KQ_FD_FIXTURE_SETUP(name, secs, fields, ...)                                   \
	FIXTURE(name) { int kq; fields };                                              \
	FIXTURE_SETUP(name)                                                            \
	{                                                                              \
		self->kq = kqueue();                                                   \
		ASSERT_LE(0, self->kq) TH_LOG("kqueue(): %s", strerror(errno));        \
		alarm(secs);                                                           \
		__VA_ARGS__;                                                           \
	}

#define KQ_FD_FIXTURE(name, secs, fields, ...)                                         \
	KQ_FD_FIXTURE_SETUP(name, secs, fields, __VA_ARGS__)                           \
	FIXTURE_TEARDOWN(name) {}

/* FIXTURE(pipe): self->kq and a non-blocking pipe self->p; alarm(10). */
#define KQ_PIPE_FIXTURE                                                                \
	KQ_FD_FIXTURE(pipe, 10, int p[2];, ASSERT_EQ(0, pipe2(self->p, O_NONBLOCK)))

/* ---- descriptors ------------------------------------------------------------- */

static inline int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Write n bytes of 'x' (n <= 64 KiB per call is fine for pipes and sockets). */
static inline ssize_t put(int fd, size_t n)
{
	static char buf[65536];

	if (!buf[0])
		memset(buf, 'x', sizeof(buf));
	if (n > sizeof(buf))
		n = sizeof(buf);
	return write(fd, buf, n);
}

/* Read exactly up to n bytes (one read call). */
static inline ssize_t take(int fd, size_t n)
{
	static char buf[65536];

	if (n > sizeof(buf))
		n = sizeof(buf);
	return read(fd, buf, n);
}

/*
 * Call op(fd, chunk) until it returns 0 or fails (other than EINTR): EAGAIN on a
 * non-blocking fd, or EOF. Returns the bytes moved.
 */
static inline long repeat_io(ssize_t (*op)(int fd, size_t n), int fd, size_t chunk)
{
	long total = 0;

	for (;;) {
		ssize_t r = op(fd, chunk);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return total;
		}
		total += r;
	}
}

/* Write until EAGAIN (fd must be non-blocking); returns the bytes written. */
static inline long fill(int fd)
{
	return repeat_io(put, fd, 4096);
}

/*
 * Fill a non-blocking TCP socket until it stays full: data in flight may still
 * be acknowledged into the (non-reading) peer's receive buffer after the first
 * EAGAIN, so fill again until a pause frees nothing. Returns the bytes written.
 */
static inline long fill_settled(int fd)
{
	long total = 0, n;
	int quiet = 0;

	while (quiet < 2) {
		n = fill(fd);
		total += n;
		quiet = n == 0 ? quiet + 1 : 0;
		sleep_ms(30);
	}
	return total;
}

/* Read until EAGAIN or EOF (fd must be non-blocking); returns the bytes read. */
static inline long drain(int fd)
{
	return repeat_io(take, fd, 65536);
}

static inline int bytes_readable(int fd)
{
	int n = -1;

	return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

/* ---- pipes and FIFOs ---------------------------------------------------------------- */

static inline int pipe_cap(int fd)
{
	return fcntl(fd, F_GETPIPE_SZ);
}

/* A FIFO path unique to this test process. */
static inline void fifo_path(char *buf, size_t len)
{
	static int n;

	snprintf(buf, len, "/tmp/kq_fd_fifo.%d.%d", (int)getpid(), n++);
	unlink(buf);
}

/* ---- TCP/UDP over 127.0.0.1 --------------------------------------------------- */

static inline struct sockaddr_in lo_addr(int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static inline int sock_port(int s)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	return getsockname(s, (struct sockaddr *)&a, &l) < 0 ? -1 : ntohs(a.sin_port);
}

static inline void set_bufs(int s, int bufsz)
{
	if (bufsz > 0) {
		setsockopt(s, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	}
}

/* A listening TCP socket on 127.0.0.1:<ephemeral>; bufsz > 0 sets both buffers. */
static inline int tcp_listener(int backlog, int bufsz, int *port)
{
	struct sockaddr_in a = lo_addr(0);
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	set_bufs(s, bufsz);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, backlog) < 0) {
		close(s);
		return -1;
	}
	*port = sock_port(s);
	return s;
}

static inline int tcp_connect(int port, int bufsz)
{
	struct sockaddr_in a = lo_addr(port);
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		return -1;
	set_bufs(s, bufsz);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(s);
		return -1;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return s;
}

/*
 * A connected TCP pair over loopback: sv[0] the client, sv[1] the accepted
 * server side, both non-blocking with TCP_NODELAY. bufsz > 0 fixes both
 * buffer sizes (no autotuning), so "fill until EAGAIN" stays small.
 */
static inline int tcp_pair(int sv[2], int bufsz)
{
	int port, one = 1, l = tcp_listener(4, bufsz, &port);

	if (l < 0)
		return -1;
	sv[0] = tcp_connect(port, bufsz);
	sv[1] = sv[0] < 0 ? -1 : accept(l, NULL, NULL);
	close(l);
	if (sv[0] < 0 || sv[1] < 0)
		return -1;
	setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	return 0;
}

/* Two connected UDP sockets on 127.0.0.1 (non-blocking). */
static inline int udp_pair(int sv[2])
{
	struct sockaddr_in a = lo_addr(0), b;

	sv[0] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	sv[1] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (sv[0] < 0 || sv[1] < 0)
		return -1;
	if (bind(sv[0], (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    bind(sv[1], (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	b = lo_addr(sock_port(sv[1]));
	if (connect(sv[0], (struct sockaddr *)&b, sizeof(b)) < 0)
		return -1;
	b = lo_addr(sock_port(sv[0]));
	return connect(sv[1], (struct sockaddr *)&b, sizeof(b));
}

static inline int sockopt_int(int s, int level, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	return getsockopt(s, level, opt, &v, &l) < 0 ? -1 : v;
}

/* ---- threads -------------------------------------------------------------------- */

/* Write n bytes to fd after delay_ms, from another thread. */
struct later_write {
	int fd;
	long delay_ms;
	size_t n;
	ssize_t result;
};

static inline void *later_write_fn(void *p)
{
	struct later_write *w = p;

	sleep_ms(w->delay_ms);
	w->result = put(w->fd, w->n);
	return NULL;
}

/*
 * A token-ring player's hand-on: the r bytes in b (tokens) go on to out,
 * each turned into 'q' once *stop is set; *quit is set when a 'q' passes.
 * 0, or -1 (errno) if the write did not take them all.
 */
static inline int ring_pass(int out, char *b, ssize_t r, atomic_bool *stop, int *quit)
{
	for (ssize_t i = 0; i < r; i++) {
		if (atomic_load(stop))
			b[i] = 'q';
		*quit |= b[i] == 'q';
	}
	return write(out, b, r) == r ? 0 : -1;
}

#endif /* KQ_FD_COMMON_H */
