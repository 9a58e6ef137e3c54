// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registration and close across CPUs, kqueue against epoll (issue 7: the watched-file table
 * must not serialise every CPU). T threads (1, 2 and 4) each own a queue and their own pipes:
 *   1. register + delete: EV_ADD of P pipes in one kevent() call, then EV_DELETE of them in
 *      another, against epoll_ctl(ADD) and epoll_ctl(DEL) per pipe;
 *   2. register + close: pipe(), EV_ADD of its read end, close() of both ends (the close
 *      handler takes the file's entry out of the table), against pipe(), epoll_ctl(ADD),
 *      close().
 * Printed per case: operations per second for each T, the speed-up from 1 to T threads (what
 * the CPUs give: the VM has 4 vCPUs, but under TCG on a 2-core host no more than about 2 can
 * run at once) and the kqueue/epoll time ratio at each T. Each figure is the median of
 * REPEATS measurements, kqueue and epoll interleaved (kq, ep, kq, ep, ... at each T), so that
 * drift on the host hits both; TCG's wall clock jitters by tens of percent from run to run.
 */
#include "kselftest_harness.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PIPES 128		/* per thread, case 1 */
#define ROUNDS 20		/* case 1: add+delete rounds of all PIPES */
#define CLOSES 1000		/* case 2: pipe+register+close per thread */
#define MAX_THREADS 4
#define REPEATS 5

static const struct timespec zero_ts;

enum api { KQ, EP };

struct worker {
	pthread_t tid;
	enum api api;
	int (*body)(enum api api);
	int failed;
};

static pthread_barrier_t start;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Case 1: ROUNDS x (add PIPES, delete PIPES) on this thread's own queue and pipes. */
static int add_delete(enum api api)
{
	static __thread struct kevent ch[PIPES];
	struct epoll_event e = { .events = EPOLLIN };
	int q = api == KQ ? kqueue() : epoll_create1(0), fds[PIPES][2], i, r, rc = 0;

	if (q < 0)
		return -1;
	for (i = 0; i < PIPES; i++)
		if (pipe(fds[i]))
			return -1;
	for (r = 0; r < ROUNDS && !rc; r++) {
		for (i = 0; i < PIPES && api == EP && !rc; i++) {
			e.data.fd = fds[i][0];
			rc = epoll_ctl(q, EPOLL_CTL_ADD, fds[i][0], &e);
		}
		for (i = 0; i < PIPES && api == EP && !rc; i++)
			rc = epoll_ctl(q, EPOLL_CTL_DEL, fds[i][0], NULL);
		if (api != KQ)
			continue;
		for (i = 0; i < PIPES; i++)
			EV_SET(&ch[i], fds[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		rc = kevent(q, ch, PIPES, NULL, 0, &zero_ts);
		for (i = 0; i < PIPES; i++)
			EV_SET(&ch[i], fds[i][0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
		rc = rc ? rc : kevent(q, ch, PIPES, NULL, 0, &zero_ts);
	}
	for (i = 0; i < PIPES; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
	close(q);
	return rc;
}

/* Case 2: CLOSES x (pipe, register its read end, close both ends). */
static int add_close(enum api api)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct kevent ch;
	int q = api == KQ ? kqueue() : epoll_create1(0), p[2], i, rc = 0;

	if (q < 0)
		return -1;
	for (i = 0; i < CLOSES && !rc; i++) {
		if (pipe(p))
			return -1;
		e.data.fd = p[0];
		EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		rc = api == KQ ? kevent(q, &ch, 1, NULL, 0, &zero_ts) : epoll_ctl(q, EPOLL_CTL_ADD, p[0], &e);
		close(p[0]);
		close(p[1]);
	}
	close(q);
	return rc;
}

static void *run(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start);
	w->failed = w->body(w->api) != 0;
	return NULL;
}

/* Wall time of `n` threads each running `body` once, or -1 if a call failed. */
static double timed(int (*body)(enum api), enum api api, int n)
{
	struct worker w[MAX_THREADS];
	int64_t t0;
	int i, failed = 0;

	pthread_barrier_init(&start, NULL, n + 1);
	for (i = 0; i < n; i++) {
		w[i] = (struct worker){ .api = api, .body = body };
		if (pthread_create(&w[i].tid, NULL, run, &w[i]))
			return -1;
	}
	pthread_barrier_wait(&start);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		failed |= w[i].failed;
	}
	pthread_barrier_destroy(&start);
	return failed ? -1 : (double)(now_ns() - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void scale_case(struct __test_metadata *_metadata, const char *name,
		       int (*body)(enum api), double ops_per_thread)
{
	static const int threads[] = { 1, 2, 4 };
	struct rlimit nofile = { 4096, 4096 };	/* 4 threads x PIPES pipes: over the default 1024 */
	double kq[3], ep[3], kq_runs[REPEATS], ep_runs[REPEATS];
	int i, r;

	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &nofile));
	for (i = 0; i < 3; i++) {
		for (r = 0; r < REPEATS; r++) {
			kq_runs[r] = timed(body, KQ, threads[i]);
			ep_runs[r] = timed(body, EP, threads[i]);
			ASSERT_LT(0, kq_runs[r]);
			ASSERT_LT(0, ep_runs[r]);
		}
		kq[i] = median(kq_runs, REPEATS);
		ep[i] = median(ep_runs, REPEATS);
	}
	for (i = 0; i < 3; i++) {
		double n = threads[i] * ops_per_thread;

		ksft_print_msg("bench scale %s threads=%d kqueue_ops_s=%.0f epoll_ops_s=%.0f "
			       "kqueue_speedup=%.2f epoll_speedup=%.2f ratio=%.2f\n",
			       name, threads[i], n * 1e9 / kq[i], n * 1e9 / ep[i],
			       threads[i] * kq[0] / kq[i], threads[i] * ep[0] / ep[i],
			       (kq[i] / n) / (ep[i] / n));
	}
}

TEST(register_delete_threads)
{
	scale_case(_metadata, "register_delete", add_delete, 2.0 * PIPES * ROUNDS);
}

TEST(register_close_threads)
{
	scale_case(_metadata, "register_close", add_close, CLOSES);
}

TEST_HARNESS_MAIN
