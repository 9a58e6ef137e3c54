// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A kqueue-driven TCP echo server on 127.0.0.1, and a client to exercise it.
 *
 * Server (one thread, one kqueue):
 *   - EVFILT_READ on the listening socket: data = connections waiting; accept them all.
 *   - EVFILT_READ on each client: read what is there (data = bytes readable), echo it.
 *     When a send would block, the rest is kept, EVFILT_WRITE is enabled for that
 *     client and its EVFILT_READ disabled (back-pressure) until the rest is sent.
 *   - EV_EOF on a client: flush what is pending, close it (close() drops its knotes).
 *   - EVFILT_USER ident 0: the client thread's "all done", the server stops.
 *   It prints every event as it arrives (filter, ident, flags, data) and a summary.
 *
 * Client (another thread, poll()): 3 connections, each sends its messages (one of
 * them 256 KiB, so that the server's small send buffer fills and EVFILT_WRITE is
 * needed), reads the echoes back while sending, compares them byte for byte, and
 * closes. Exit status 0 only if every echo matched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NCONN 3
#define MAXFD 1024
#define PENDING_MAX (1 << 20)

/* ---- server ---------------------------------------------------------------------- */

struct conn {
	int open;
	char *out;		/* bytes read but not yet echoed */
	size_t len, off;
	long in_bytes, out_bytes;
	int write_armed;
};

struct server {
	int kq, lfd, port;
	struct conn c[MAXFD];
	long events, accepted, closed, eofs, write_events, write_arms, bytes;
	int failed;
};

static const char *fname(int f)
{
	switch (f) {
	case EVFILT_READ: return "READ";
	case EVFILT_WRITE: return "WRITE";
	case EVFILT_USER: return "USER";
	default: return "?";
	}
}

static void print_event(const struct kevent *ev)
{
	printf("server: event %-5s ident %-4d flags 0x%04x%s%s%s data %lld\n", fname(ev->filter),
	       (int)ev->ident, ev->flags, ev->flags & EV_EOF ? " EOF" : "",
	       ev->flags & EV_ERROR ? " ERROR" : "", ev->flags & EV_CLEAR ? " CLEAR" : "",
	       (long long)ev->data);
}

static int kq_change(int kq, int fd, int filter, int flags)
{
	struct kevent ch;

	EV_SET(&ch, fd, filter, flags, 0, 0, NULL);
	if (kevent(kq, &ch, 1, NULL, 0, NULL) < 0) {
		printf("server: kevent(fd %d, %s, 0x%x): %s\n", fd, fname(filter), flags,
		       strerror(errno));
		return -1;
	}
	return 0;
}

static void conn_close(struct server *s, int fd)
{
	struct conn *c = &s->c[fd];

	printf("server: closing fd %d (in %ld bytes, out %ld bytes)\n", fd, c->in_bytes, c->out_bytes);
	close(fd);		/* FreeBSD semantics: its knotes go with the descriptor */
	free(c->out);
	memset(c, 0, sizeof(*c));
	s->closed++;
}

/* Send what is pending; arm EVFILT_WRITE (and pause reading) if it would block. */
static int conn_flush(struct server *s, int fd)
{
	struct conn *c = &s->c[fd];

	while (c->off < c->len) {
		ssize_t w = send(fd, c->out + c->off, c->len - c->off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			printf("server: send(fd %d): %s\n", fd, strerror(errno));
			return -1;
		}
		c->off += w;
		c->out_bytes += w;
		s->bytes += w;
	}
	if (c->off == c->len) {
		c->off = c->len = 0;
		if (c->write_armed) {
			c->write_armed = 0;
			if (kq_change(s->kq, fd, EVFILT_WRITE, EV_DISABLE) ||
			    kq_change(s->kq, fd, EVFILT_READ, EV_ENABLE))
				return -1;
		}
	} else if (!c->write_armed) {
		c->write_armed = 1;
		s->write_arms++;
		printf("server: fd %d: send would block with %zu bytes pending: EVFILT_WRITE on\n",
		       fd, c->len - c->off);
		if (kq_change(s->kq, fd, EVFILT_WRITE, EV_ADD | EV_ENABLE) ||
		    kq_change(s->kq, fd, EVFILT_READ, EV_DISABLE))
			return -1;
	}
	return 0;
}

static int conn_read(struct server *s, int fd, int64_t avail)
{
	struct conn *c = &s->c[fd];
	size_t want = avail > 0 ? (size_t)avail : 4096;

	if (c->len - c->off + want > PENDING_MAX)
		want = PENDING_MAX - (c->len - c->off);
	if (c->off) {		/* compact */
		memmove(c->out, c->out + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	c->out = realloc(c->out, c->len + want);
	if (!c->out)
		return -1;
	for (;;) {
		ssize_t r = recv(fd, c->out + c->len, want, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r < 0) {
			printf("server: recv(fd %d): %s\n", fd, strerror(errno));
			return -1;
		}
		c->len += r;
		c->in_bytes += r;
		return 0;
	}
}

static void *server_main(void *p)
{
	struct server *s = p;
	struct kevent evs[16];
	int running = 1;

	while (running) {
		int n = kevent(s->kq, NULL, 0, evs, 16, NULL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			printf("server: kevent: %s\n", strerror(errno));
			s->failed = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct kevent *ev = &evs[i];
			int fd = (int)ev->ident;

			s->events++;
			print_event(ev);
			if (ev->flags & EV_ERROR) {
				printf("server: error record: %s\n", strerror((int)ev->data));
				s->failed = 1;
				continue;
			}
			if (ev->filter == EVFILT_USER) {
				running = 0;
				continue;
			}
			if (fd == s->lfd) {
				for (int k = 0; k < ev->data || k == 0; k++) {
					int a = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					int small = 4096, one = 1;

					if (a < 0)
						break;
					if (a >= MAXFD) {
						close(a);
						continue;
					}
					/* A small send buffer, so that the big echo needs EVFILT_WRITE. */
					setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
					setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					s->c[a].open = 1;
					s->accepted++;
					printf("server: accepted fd %d\n", a);
					if (kq_change(s->kq, a, EVFILT_READ, EV_ADD))
						s->failed = 1;
				}
				continue;
			}
			if (fd < 0 || fd >= MAXFD || !s->c[fd].open)
				continue;	/* closed earlier in this batch */
			if (ev->filter == EVFILT_READ) {
				if (ev->data > 0 && conn_read(s, fd, ev->data)) {
					s->failed = 1;
					conn_close(s, fd);
					continue;
				}
				if (conn_flush(s, fd)) {
					s->failed = 1;
					conn_close(s, fd);
					continue;
				}
				if ((ev->flags & EV_EOF) && ev->data == 0) {
					s->eofs++;
					if (s->c[fd].len == s->c[fd].off)
						conn_close(s, fd);
					/* else: EVFILT_WRITE is armed; close once flushed */
				}
			} else if (ev->filter == EVFILT_WRITE) {
				s->write_events++;
				if ((ev->flags & EV_EOF) || conn_flush(s, fd)) {
					if (ev->flags & EV_EOF)
						printf("server: fd %d: peer gone with %zu bytes unsent\n", fd,
						       s->c[fd].len - s->c[fd].off);
					conn_close(s, fd);
				}
			}
		}
		fflush(stdout);
	}
	return NULL;
}

/* ---- client ------------------------------------------------------------------------ */

struct cconn {
	int fd;
	char *msg;		/* everything this connection sends, concatenated */
	size_t len, sent, got;
	int mismatch, done;
};

struct client {
	int port, kq;
	struct cconn c[NCONN];
	int ok;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void *client_main(void *p)
{
	struct client *cl = p;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(cl->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static const size_t sizes[NCONN] = { 6 + 40, 3000, 256 * 1024 };
	struct kevent done;
	int64_t t0 = now_ms();
	int left = NCONN;

	for (int i = 0; i < NCONN; i++) {
		struct cconn *c = &cl->c[i];
		int small = 8192;

		c->len = sizes[i];
		c->msg = malloc(c->len);
		for (size_t k = 0; k < c->len; k++)
			c->msg[k] = (char)('a' + (k * 7 + i * 13) % 26);
		if (i == 0)
			memcpy(c->msg, "hello\n", 6);
		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			printf("client: connect: %s\n", strerror(errno));
			goto out;
		}
		fcntl(c->fd, F_SETFL, O_NONBLOCK);
		printf("client: connection %d: fd %d, sending %zu bytes\n", i, c->fd, c->len);
	}
	while (left > 0 && now_ms() - t0 < 30000) {
		struct pollfd pf[NCONN];

		for (int i = 0; i < NCONN; i++) {
			struct cconn *c = &cl->c[i];

			pf[i].fd = c->done ? -1 : c->fd;
			pf[i].events = POLLIN | (c->sent < c->len ? POLLOUT : 0);
		}
		if (poll(pf, NCONN, 1000) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < NCONN; i++) {
			struct cconn *c = &cl->c[i];
			char buf[16384];
			ssize_t r;

			if (c->done)
				continue;
			if ((pf[i].revents & POLLOUT) && c->sent < c->len) {
				/* Connection 2 sends in 32 KiB pieces; the others all at once. */
				size_t chunk = c->len - c->sent > 32768 ? 32768 : c->len - c->sent;

				r = send(c->fd, c->msg + c->sent, chunk, MSG_NOSIGNAL);
				if (r > 0)
					c->sent += r;
			}
			if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				r = recv(c->fd, buf, sizeof(buf), 0);
				if (r > 0) {
					if (c->got + r > c->len || memcmp(buf, c->msg + c->got, r))
						c->mismatch = 1;
					c->got += r;
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					printf("client: connection %d closed early at %zu bytes\n", i, c->got);
					c->mismatch = 1;
					c->done = 1;
					left--;
					continue;
				}
			}
			if (c->got >= c->len) {
				printf("client: connection %d: %zu bytes echoed, %s\n", i, c->got,
				       c->mismatch ? "MISMATCH" : "match");
				close(c->fd);	/* the server sees EV_EOF */
				c->done = 1;
				left--;
			}
		}
	}
	cl->ok = left == 0;
	for (int i = 0; i < NCONN; i++)
		cl->ok &= !cl->c[i].mismatch && cl->c[i].got == cl->c[i].len;
out:
	sleep(1);		/* let the server see every EV_EOF before it stops */
	EV_SET(&done, 0, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	kevent(cl->kq, &done, 1, NULL, 0, NULL);
	return NULL;
}

int main(void)
{
	static struct server s;
	struct client cl = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct kevent ch[2];
	pthread_t ts, tc;
	int one = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(90);
	s.kq = kqueue();
	if (s.kq < 0) {
		printf("kqueue(): %s\n", strerror(errno));
		return 1;
	}
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s.lfd, 16) < 0 ||
	    getsockname(s.lfd, (struct sockaddr *)&a, &alen) < 0) {
		printf("listen: %s\n", strerror(errno));
		return 1;
	}
	s.port = ntohs(a.sin_port);
	printf("server: listening on 127.0.0.1:%d (fd %d), kqueue fd %d\n", s.port, s.lfd, s.kq);
	EV_SET(&ch[0], s.lfd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	EV_SET(&ch[1], 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	if (kevent(s.kq, ch, 2, NULL, 0, NULL) < 0) {
		printf("server: kevent(EV_ADD listening socket): %s\n", strerror(errno));
		printf("FAIL: the kqueue module does not support EVFILT_READ on sockets\n");
		return 1;
	}
	cl.port = s.port;
	cl.kq = s.kq;
	pthread_create(&ts, NULL, server_main, &s);
	pthread_create(&tc, NULL, client_main, &cl);
	pthread_join(tc, NULL);
	pthread_join(ts, NULL);
	printf("summary: %ld events, %ld accepted, %ld EOFs, %ld closed, %ld bytes echoed, "
	       "EVFILT_WRITE armed %ld times (%ld write events), server %s, client %s\n",
	       s.events, s.accepted, s.eofs, s.closed, s.bytes, s.write_arms, s.write_events,
	       s.failed ? "FAILED" : "ok", cl.ok ? "all echoes matched" : "ECHO MISMATCH");
	if (s.failed || !cl.ok || s.accepted != NCONN || s.closed != NCONN) {
		printf("FAIL\n");
		return 1;
	}
	printf("PASS\n");
	return 0;
}
