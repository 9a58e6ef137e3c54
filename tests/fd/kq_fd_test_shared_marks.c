// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The module parameter shared_close_marks=Y: pipes and sockets learn of their
 * release through one fsnotify close mark on their super block (pipefs,
 * sockfs), shared by every watched pipe (socket), instead of a mark per inode
 * (rust/kq_close_watch.c, struct kq_sb_close). This binary sets the parameter
 * for its run (and puts the old value back at exit), then checks:
 *
 *  - every knote-lifetime case of kq_fd_test_lifetime.c, included whole: the
 *    semantics do not depend on which mark tells of the close;
 *  - the release of a watched pipe while writers fire its knote: gone once
 *    close() returns (the close event comes through the shared mark);
 *  - four threads each creating a kqueue, watching a fresh pipe, closing it
 *    and the kqueue, so that the shared mark's users go 0 -> 1 -> 0 on
 *    several CPUs at once (its creation and destruction race);
 *  - unwatched pipes and sockets created and closed in a loop (every such
 *    close now reaches the module's handler and must find nothing) next to a
 *    watched pipe that keeps reporting.
 *
 * The parameter is root's to set (/sys/module/kqueue/parameters/); the test VM
 * runs as root, and a failure to set it fails the first case, not silently.
 */
#include "kq_fd_test_lifetime.c"

#include <signal.h>

#define PARAM "shared_close_marks"
#define RUN_MS 1500

static char old_param[8] = "N";
static int set_param_errno = -1;	/* -1: not tried */
static pid_t param_owner;

static void restore_param(void)
{
	if (getpid() == param_owner && set_param_errno == 0)
		kq_param_write(PARAM, old_param);
}

/* Before the harness forks its first case. */
__attribute__((constructor)) static void set_shared_close_marks(void)
{
	if (kq_param_read(PARAM, old_param, sizeof(old_param)))
		strcpy(old_param, "N");
	param_owner = getpid();
	set_param_errno = kq_param_write(PARAM, "Y");
	atexit(restore_param);
}

TEST(shared_close_marks_is_on)
{
	char v[8] = "";

	ASSERT_EQ(0, set_param_errno) TH_LOG("writing Y to parameter %s: %s", PARAM,
					     strerror(set_param_errno));
	ASSERT_EQ(0, kq_param_read(PARAM, v, sizeof(v)));
	ASSERT_STREQ("Y", v);
}

struct writer {
	int w;
	atomic_bool *stop;
	long writes;
};

/* Writes to w until told to stop (EPIPE once the read end is released). */
static void *writer_fn(void *p)
{
	struct writer *wr = p;
	char b = 'x';

	while (!atomic_load(wr->stop))
		if (write(wr->w, &b, 1) == 1)
			wr->writes++;
	return NULL;
}

/* The release of a watched pipe's read end while a writer fires its knote. */
TEST(release_races_wakeups)
{
	struct kevent ev[8];
	long rounds = 0, writes = 0;
	int64_t t0;
	int kq = kqueue();

	ASSERT_LE(0, kq);
	signal(SIGPIPE, SIG_IGN);
	t0 = now_ns();
	while (ms_since(t0) < RUN_MS) {
		atomic_bool stop = false;
		struct writer wr;
		pthread_t t;
		int p[2], n;

		rounds++;
		ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
		ASSERT_OK(fd_add(kq, p[0], EVFILT_READ, (rounds & 1) ? EV_CLEAR : 0, 0, 0, rounds));
		wr = (struct writer){ .w = p[1], .stop = &stop };
		ASSERT_EQ(0, pthread_create(&t, NULL, writer_fn, &wr));
		ASSERT_LE(0, kq_poll(kq, ev, 8));
		ASSERT_EQ(0, close(p[0]));	/* the last reference: the file is released */
		n = kq_poll(kq, ev, 8);
		atomic_store(&stop, true);
		pthread_join(t, NULL);
		writes += wr.writes;
		close(p[1]);
		ASSERT_EQ(0, n) TH_LOG("round %ld: event ident %d udata %lld after close()", rounds,
				       (int)ev[0].ident, (long long)UDV(ev[0]));
	}
	close(kq);
	TH_LOG("%ld rounds, %ld writes", rounds, writes);
}

struct cycler {
	long rounds;
	int fail_line;
	int fail_errno;
	int64_t t0;
};

#define CYCLE_CHECK(c, cond)                                                                   \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			(c)->fail_line = __LINE__;                                             \
			(c)->fail_errno = errno;                                               \
			return NULL;                                                           \
		}                                                                              \
	} while (0)

/* A kqueue per round, watching a fresh pipe: the shared mark's users go 0 -> 1 -> 0. */
static void *cycler_fn(void *p)
{
	struct cycler *c = p;
	struct kevent ev[2];

	while (ms_since(c->t0) < RUN_MS) {
		int kq = kqueue(), q[2], e;

		CYCLE_CHECK(c, kq >= 0);
		CYCLE_CHECK(c, pipe2(q, O_NONBLOCK) == 0);
		CYCLE_CHECK(c, fd_add(kq, q[0], EVFILT_READ, 0, 0, 0, 7) == 0);
		CYCLE_CHECK(c, write(q[1], "x", 1) == 1);
		CYCLE_CHECK(c, kq_poll(kq, ev, 2) == 1 && UDV(ev[0]) == 7);
		if (c->rounds & 1) {
			/* The kqueue goes first: its knote with it, then the pipe. */
			CYCLE_CHECK(c, close(kq) == 0);
			CYCLE_CHECK(c, close(q[0]) == 0 && close(q[1]) == 0);
		} else {
			/* The pipe goes first: its knote with its release. */
			CYCLE_CHECK(c, close(q[0]) == 0);
			CYCLE_CHECK(c, kq_poll(kq, ev, 2) == 0);
			/* EBADF; ENOENT if another thread's new descriptor took the number. */
			e = fd_chg(kq, q[0], EVFILT_READ, EV_DELETE);
			CYCLE_CHECK(c, e == EBADF || e == ENOENT);
			CYCLE_CHECK(c, close(q[1]) == 0 && close(kq) == 0);
		}
		c->rounds++;
	}
	return NULL;
}

TEST(kqueues_and_pipes_come_and_go_on_four_threads)
{
	struct cycler c[4] = {};
	pthread_t t[4];
	long rounds = 0;

	for (int i = 0; i < 4; i++) {
		c[i].t0 = now_ns();
		ASSERT_EQ(0, pthread_create(&t[i], NULL, cycler_fn, &c[i]));
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		rounds += c[i].rounds;
	}
	for (int i = 0; i < 4; i++) {
		EXPECT_EQ(0, c[i].fail_line) TH_LOG("thread %d: check at line %d failed (%s)", i,
						    c[i].fail_line, strerror(c[i].fail_errno));
	}
	TH_LOG("%ld rounds", rounds);
}

/* Unwatched pipes and sockets come and go (each close reaches the module's handler) while a
 * watched pipe keeps reporting. */
static void *unwatched_fn(void *p)
{
	struct cycler *c = p;
	char b;

	while (ms_since(c->t0) < RUN_MS) {
		int q[2], s[2];

		CYCLE_CHECK(c, pipe2(q, O_NONBLOCK) == 0);
		CYCLE_CHECK(c, socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
		CYCLE_CHECK(c, write(q[1], "x", 1) == 1 && read(q[0], &b, 1) == 1);
		CYCLE_CHECK(c, close(q[0]) == 0 && close(q[1]) == 0);
		CYCLE_CHECK(c, close(s[0]) == 0 && close(s[1]) == 0);
		c->rounds++;
	}
	return NULL;
}

TEST_F(pipe, unwatched_closes_leave_watched_pipe_alone)
{
	struct cycler c[2] = {};
	pthread_t t[2];
	struct kevent ev[2];
	long reports = 0;
	char b;

	ASSERT_OK(fd_add(self->kq, self->p[0], EVFILT_READ, EV_CLEAR, 0, 0, 42));
	for (int i = 0; i < 2; i++) {
		c[i].t0 = now_ns();
		ASSERT_EQ(0, pthread_create(&t[i], NULL, unwatched_fn, &c[i]));
	}
	while (ms_since(c[0].t0) < RUN_MS) {
		ASSERT_EQ(1, write(self->p[1], "y", 1));
		ASSERT_EQ(1, kq_get(self->kq, ev, 2, 1000));
		ASSERT_EQ(42, UDV(ev[0]));
		ASSERT_EQ(1, read(self->p[0], &b, 1));
		reports++;
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, c[i].fail_line) TH_LOG("thread %d: check at line %d failed (%s)", i,
						    c[i].fail_line, strerror(c[i].fail_errno));
	}
	TH_LOG("%ld reports; %ld + %ld unwatched pipes and socket pairs", reports, c[0].rounds,
	       c[1].rounds);
}
