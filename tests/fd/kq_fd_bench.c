// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kevent() next to epoll_wait() on the same descriptor sets, in one run.
 *
 * For N = 10, 1 000 and 100 000 idle pipes plus one active pipe, both a kqueue
 * (EVFILT_READ on every read end) and an epoll instance (EPOLLIN) watch the
 * same N + 1 read ends. Each iteration writes one byte into the active pipe,
 * waits for exactly one event (kevent() / epoll_wait() with room for one), and
 * reads the byte back; only the wait call is timed. Both loops run
 * interleaved in blocks so that drift on the machine affects them alike.
 * Registration is timed too: N EV_ADD changes in kevent() batches of 1 000
 * against N epoll_ctl(EPOLL_CTL_ADD) calls. Last, close() of the kqueue holding the N + 1
 * knotes and of the epoll holding the N + 1 registrations are timed:
 *   # bench close pipes=N kqueue_ms=... epoll_ms=... ratio=...
 *
 * Output is TAP: one "ok" line per N, "not ok" only when a call fails (the
 * figures are information, not pass/fail criteria), with "# " lines giving the
 * figures and, last for each N:
 *   # bench pipes=N kevent_ns=... epoll_ns=... ratio=...
 * (ratio = kevent_ns / epoll_ns). RLIMIT_NOFILE is raised to 220 000 first;
 * if the full count cannot be had (descriptor limit, memory), the largest
 * count that could be is used and a "# " line says so.
 *
 *   ./kq_fd_bench [max_pipes [setup_budget_s]]    (defaults 100000, 60)
 *
 * setup_budget_s bounds the time spent creating the pipes of one configuration
 * (in the emulated KASAN test VM a pipe costs milliseconds); the count reached
 * is used, with a "# " note.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define NOFILE_WANT 220000
#define BATCH 1000
#define BLOCK 250		/* iterations per interleaved block */
#define MIN_ITERS 2000
#define MAX_ITERS 100000
#define BUDGET_NS 1500000000LL	/* per method and per N, once MIN_ITERS are done */
#define HARD_CAP_NS 20000000000LL	/* both methods, per N, even below MIN_ITERS */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long setup_budget_s = 60;	/* seconds to spend creating one set of pipes */

static long mem_available_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

struct run {
	int n;			/* idle pipes wanted, then had */
	int (*idle)[2];
	int active[2];
	int kq, ep;
	char why[200];		/* failure */
};

static void release(struct run *r, int created)
{
	if (r->kq >= 0)
		close(r->kq);
	if (r->ep >= 0)
		close(r->ep);
	for (int i = 0; i < created; i++) {
		close(r->idle[i][0]);
		close(r->idle[i][1]);
	}
	if (r->active[0] >= 0) {
		close(r->active[0]);
		close(r->active[1]);
	}
	free(r->idle);
}

/* Create up to r->n idle pipes, capped by descriptors and memory. Returns the count. */
static int make_pipes(struct run *r)
{
	long avail0 = mem_available_kb(), per_pipe_kb = 0, cap = r->n;
	int64_t t0 = now_ns();
	int i;

	for (i = 0; i < r->n; i++) {
		if ((i & 1023) == 1023 && now_ns() - t0 > setup_budget_s * 1000000000LL) {
			printf("# pipes=%d: creating pipes is slow here (%d in %ld s, the setup "
			       "budget); using %d\n", r->n, i, setup_budget_s, i);
			break;
		}
		if (pipe2(r->idle[i], O_NONBLOCK | O_CLOEXEC) < 0) {
			printf("# pipes=%d: pipe2() failed after %d pipes (%s); using %d\n",
			       r->n, i, strerror(errno), i);
			break;
		}
		if (i == 999 && avail0 > 0 && r->n > 2000) {
			/*
			 * Estimate the memory of one pipe from the first thousand, add half
			 * for its knote, epitem and wait-queue entries, and stay within 70%
			 * of what was available rather than meet the OOM killer.
			 */
			long used = avail0 - mem_available_kb();

			per_pipe_kb = used > 0 ? (used * 3 / 2 + 999) / 1000 : 1;
			if (per_pipe_kb < 1)
				per_pipe_kb = 1;
			cap = avail0 * 7 / 10 / per_pipe_kb;
			if (cap < r->n) {
				printf("# pipes=%d: ~%ld KiB per pipe with its registrations, %ld MiB "
				       "available: capping at %ld pipes\n",
				       r->n, per_pipe_kb, avail0 / 1024, cap);
			}
		}
		if (i + 1 >= cap) {
			i++;
			break;
		}
	}
	return i;
}

static int register_kq(struct run *r, int64_t *ns)
{
	struct kevent ch[BATCH];
	int64_t t0 = now_ns();
	int total = r->n + 1;

	for (int base = 0; base < total; base += BATCH) {
		int k = 0;

		for (int i = base; i < total && k < BATCH; i++, k++) {
			int fd = i < r->n ? r->idle[i][0] : r->active[0];

			EV_SET(&ch[k], fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
		}
		if (kevent(r->kq, ch, k, NULL, 0, NULL) < 0) {
			snprintf(r->why, sizeof(r->why), "kevent(EV_ADD x%d): %s", k, strerror(errno));
			return -1;
		}
	}
	*ns = now_ns() - t0;
	return 0;
}

static int register_ep(struct run *r, int64_t *ns)
{
	int64_t t0 = now_ns();

	for (int i = 0; i <= r->n; i++) {
		struct epoll_event ee = { .events = EPOLLIN };
		int fd = i < r->n ? r->idle[i][0] : r->active[0];

		ee.data.fd = fd;
		if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ee) < 0) {
			snprintf(r->why, sizeof(r->why), "epoll_ctl(ADD): %s", strerror(errno));
			return -1;
		}
	}
	*ns = now_ns() - t0;
	return 0;
}

/* One block of `iters` write / wait / read rounds; adds the wait time to *ns. */
static int block_kq(struct run *r, int iters, int64_t *ns)
{
	struct timespec tmo = { 5, 0 };
	struct kevent ev;
	char b = 'b';

	for (int i = 0; i < iters; i++) {
		int64_t t0;
		int n;

		if (write(r->active[1], &b, 1) != 1) {
			snprintf(r->why, sizeof(r->why), "write: %s", strerror(errno));
			return -1;
		}
		t0 = now_ns();
		n = kevent(r->kq, NULL, 0, &ev, 1, &tmo);
		*ns += now_ns() - t0;
		if (n != 1 || ev.ident != (uintptr_t)r->active[0] || (ev.flags & EV_ERROR)) {
			snprintf(r->why, sizeof(r->why), "kevent() returned %d (%s), ident %d", n,
				 n < 0 ? strerror(errno) : "-", n == 1 ? (int)ev.ident : -1);
			return -1;
		}
		if (read(r->active[0], &b, 1) != 1) {
			snprintf(r->why, sizeof(r->why), "read: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int block_ep(struct run *r, int iters, int64_t *ns)
{
	struct epoll_event ee;
	char b = 'b';

	for (int i = 0; i < iters; i++) {
		int64_t t0;
		int n;

		if (write(r->active[1], &b, 1) != 1) {
			snprintf(r->why, sizeof(r->why), "write: %s", strerror(errno));
			return -1;
		}
		t0 = now_ns();
		n = epoll_wait(r->ep, &ee, 1, 5000);
		*ns += now_ns() - t0;
		if (n != 1 || ee.data.fd != r->active[0]) {
			snprintf(r->why, sizeof(r->why), "epoll_wait() returned %d (%s)", n,
				 n < 0 ? strerror(errno) : "-");
			return -1;
		}
		if (read(r->active[0], &b, 1) != 1) {
			snprintf(r->why, sizeof(r->why), "read: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* One configuration; prints its TAP line. Returns 0 if no call failed. */
static int bench(int num, int want)
{
	struct run r = { .n = want, .kq = -1, .ep = -1, .active = { -1, -1 } };
	int64_t reg_kq = 0, reg_ep = 0, t_kq = 0, t_ep = 0, t0, t_close, t_close_ep;
	long iters = 0;
	int created;

	r.idle = calloc(want ? want : 1, sizeof(*r.idle));
	if (!r.idle) {
		printf("not ok %d pipes=%d # out of memory\n", num, want);
		return -1;
	}
	created = make_pipes(&r);
	r.n = created;
	if (pipe2(r.active, O_NONBLOCK | O_CLOEXEC) < 0 || (r.kq = kqueue()) < 0 ||
	    (r.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		snprintf(r.why, sizeof(r.why), "setup: %s", strerror(errno));
		goto fail;
	}
	if (register_kq(&r, &reg_kq) || register_ep(&r, &reg_ep))
		goto fail;
	/* Warm-up, then interleaved blocks. */
	if (block_kq(&r, 50, &(int64_t){ 0 }) || block_ep(&r, 50, &(int64_t){ 0 }))
		goto fail;
	t0 = now_ns();
	while (iters < MAX_ITERS && (iters < MIN_ITERS || now_ns() - t0 < 2 * BUDGET_NS) &&
	       (iters == 0 || now_ns() - t0 < HARD_CAP_NS)) {
		if (block_kq(&r, BLOCK, &t_kq) || block_ep(&r, BLOCK, &t_ep))
			goto fail;
		iters += BLOCK;
	}
	t0 = now_ns();
	close(r.kq);
	r.kq = -1;
	t_close = now_ns() - t0;
	t0 = now_ns();
	close(r.ep);
	r.ep = -1;
	t_close_ep = now_ns() - t0;

	printf("ok %d pipes=%d\n", num, r.n);
	if (r.n < want)
		printf("# pipes=%d: ran with %d idle pipes instead of %d\n", want, r.n, want);
	printf("# pipes=%d registration: kevent EV_ADD %.0f ns/knote (batches of %d), "
	       "epoll_ctl ADD %.0f ns/fd, ratio=%.2f\n", r.n,
	       (double)reg_kq / (r.n + 1), BATCH, (double)reg_ep / (r.n + 1),
	       reg_ep ? (double)reg_kq / reg_ep : 0.0);
	printf("# pipes=%d close(kqueue) with %d knotes: %.2f ms\n", r.n, r.n + 1, t_close / 1e6);
	printf("# bench close pipes=%d kqueue_ms=%.2f epoll_ms=%.2f ratio=%.2f\n", r.n, t_close / 1e6,
	       t_close_ep / 1e6, t_close_ep ? (double)t_close / t_close_ep : 0.0);
	printf("# pipes=%d iterations=%ld per method\n", r.n, iters);
	printf("# bench pipes=%d kevent_ns=%.0f epoll_ns=%.0f ratio=%.2f\n", r.n,
	       (double)t_kq / iters, (double)t_ep / iters, t_ep ? (double)t_kq / t_ep : 0.0);
	fflush(stdout);
	release(&r, created);
	return 0;
fail:
	printf("not ok %d pipes=%d # %s\n", num, want, r.why);
	fflush(stdout);
	release(&r, created);
	return -1;
}

int main(int argc, char **argv)
{
	int counts[3] = { 10, 1000, 100000 }, max = argc > 1 ? atoi(argv[1]) : 100000, failed = 0;
	struct rlimit rl;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 2 && atol(argv[2]) > 0)
		setup_budget_s = atol(argv[2]);
	printf("TAP version 13\n1..3\n");
	rl.rlim_cur = rl.rlim_max = NOFILE_WANT;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		int e = errno;

		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		printf("# RLIMIT_NOFILE %d refused (%s): running with %llu descriptors\n",
		       NOFILE_WANT, strerror(e), (unsigned long long)rl.rlim_cur);
	}
	for (int i = 0; i < 3; i++) {
		int want = counts[i] < max ? counts[i] : max;
		long fit = ((long)rl.rlim_cur - 64) / 2;	/* two fds per pipe, some spare */

		if (want > fit) {
			printf("# pipes=%d: RLIMIT_NOFILE allows about %ld pipes; using that\n", want, fit);
			want = fit;
		}
		if (bench(i + 1, want))
			failed++;
	}
	printf("# %d passed, %d failed\n", 3 - failed, failed);
	return failed ? 1 : 0;
}
