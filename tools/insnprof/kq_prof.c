// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kq_prof MODE N: the workloads of tools/insnprof (make profile). Sets up, then runs one
 * operation N times, then prints "done MODE N". Each kq_ mode has an ep_ counterpart doing the
 * same job with epoll:
 *
 *   kq_pending  kevent() collecting an already-pending EVFILT_USER event (level: stays ready)
 *   ep_pending  epoll_wait() collecting a readable eventfd (level-triggered)
 *   kq_pending8 kevent() collecting 8 pending EVFILT_USER events at once (level: they stay
 *               ready); one iteration is one call
 *   ep_pending8 epoll_wait() collecting 8 readable eventfds at once (level-triggered)
 *   kq_pipe     kevent() collecting EVFILT_READ of a pipe holding one byte
 *   ep_pipe     epoll_wait() on the same pipe
 *   kq_pipe8    kevent() collecting EVFILT_READ of 8 pipes holding one byte each, in one call
 *   ep_pipe8    epoll_wait() collecting the same 8 pipes in one call
 *   kq_rt       user-event round trip: one kevent() that triggers (NOTE_TRIGGER) an EV_CLEAR
 *               EVFILT_USER knote and collects it
 *   ep_rt       eventfd write() + epoll_wait() + read()
 *   kq_trigger  a producer's kevent() that NOTE_TRIGGERs an EV_CLEAR EVFILT_USER knote, nothing
 *               collected (the knote stays queued: what kq_bench_suite's producers do)
 *   ep_trigger  a producer's eventfd write() to an eventfd an epoll watches (EPOLLET)
 *   kq_create   kqueue() + close()
 *   ep_create   epoll_create1() + close()
 *   kq_adddel   EV_ADD then EV_DELETE of EVFILT_READ on a pipe (two kevent() calls)
 *   ep_adddel   EPOLL_CTL_ADD then EPOLL_CTL_DEL of the same pipe
 *   kq_regclose a new pipe, EV_ADD of EVFILT_READ on its read end, close() of both ends (the
 *               knote goes with the close)
 *   ep_regclose a new pipe, EPOLL_CTL_ADD of its read end, close() of both ends
 *   kq_otherpipe a new pipe, a 1-byte write() and read(), close() of both ends, registered
 *               nowhere, while the kqueue watches another pipe (what a watcher costs the
 *               system's other pipes)
 *   ep_otherpipe the same while the epoll watches another pipe
 *   kq_pingpong a byte goes back and forth between two processes over two pipes, each
 *               waiting for its pipe in kevent() (its own kqueue, EVFILT_READ), reading the
 *               byte and writing it to the other pipe: one iteration is one round trip (two
 *               blocking waits, two wake-ups, two context switches)
 *   ep_pingpong the same with epoll_wait()
 *   kq_register REG_PIPES pipes registered (EVFILT_READ) in one kevent() and deleted in
 *               another, N / REG_PIPES times: one iteration is one descriptor registered
 *               and deleted in a batch (kq_bench_suite's register and delete rows); the pipes
 *               are made once, so after the first round their close marks and watched-files
 *               entries linger, as in the suite's median
 *   ep_register the same pipes, one EPOLL_CTL_ADD and one EPOLL_CTL_DEL each
 *   none        the set-up only (a kqueue, an epoll, a pipe, an eventfd): the baseline
 *
 * Every mode creates the same descriptors first, so the baseline differs from a workload run
 * by the loop alone. Exit status 1 on a failed call, 2 on a wrong result.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct timespec zero;

/* Pipes of the register mode: what one kevent() registers at a time. */
#define REG_PIPES 1000

#define CHK(x) do { if ((x) < 0) { perror(#x); exit(1); } } while (0)
#define WANT(x) do { if (!(x)) { fprintf(stderr, "kq_prof: %s: not %s\n", mode, #x); exit(2); } } while (0)

int main(int argc, char **argv)
{
	const char *mode;
	long n, i;
	struct kevent ch, ev, c2[2];
	struct epoll_event ee = { .events = EPOLLIN }, eo;
	int kq, ep, p[2], efd;
	uint64_t one = 1, v;

	if (argc != 3) {
		fprintf(stderr, "usage: kq_prof MODE N (MODE: kq_|ep_ + pending|pending8|pipe|pipe8|rt|trigger|create|adddel|regclose|otherpipe|pingpong|register, or none)\n");
		return 1;
	}
	mode = argv[1];
	n = atol(argv[2]);
	kq = kqueue();
	ep = epoll_create1(0);
	efd = eventfd(0, EFD_NONBLOCK);
	CHK(kq);
	CHK(ep);
	CHK(efd);
	CHK(pipe(p));
	CHK(write(p[1], "x", 1));

	if (!strcmp(mode, "kq_pending")) {
		EV_SET(&ch, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, 0);
		CHK(kevent(kq, &ch, 1, NULL, 0, NULL));
		for (i = 0; i < n; i++)
			WANT(kevent(kq, NULL, 0, &ev, 1, &zero) == 1);
	} else if (!strcmp(mode, "ep_pending")) {
		CHK(write(efd, &one, 8));
		CHK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ee));
		for (i = 0; i < n; i++)
			WANT(epoll_wait(ep, &eo, 1, 0) == 1);
	} else if (!strcmp(mode, "kq_pending8") || !strcmp(mode, "ep_pending8")) {
		struct kevent evs[8];
		struct epoll_event eos[8];
		int j;

		for (j = 0; j < 8; j++) {
			if (mode[0] == 'k') {
				EV_SET(&ch, j + 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, 0);
				CHK(kevent(kq, &ch, 1, NULL, 0, NULL));
			} else {
				int e = eventfd(1, EFD_NONBLOCK);

				CHK(e);
				CHK(epoll_ctl(ep, EPOLL_CTL_ADD, e, &ee));
			}
		}
		for (i = 0; i < n; i++) {
			if (mode[0] == 'k')
				WANT(kevent(kq, NULL, 0, evs, 8, &zero) == 8);
			else
				WANT(epoll_wait(ep, eos, 8, 0) == 8);
		}
	} else if (!strcmp(mode, "kq_pipe8") || !strcmp(mode, "ep_pipe8")) {
		struct kevent evs[8];
		struct epoll_event eos[8];
		int j, q[2];

		for (j = 0; j < 8; j++) {
			CHK(pipe(q));
			CHK(write(q[1], "x", 1));
			if (mode[0] == 'k') {
				EV_SET(&ch, q[0], EVFILT_READ, EV_ADD, 0, 0, 0);
				CHK(kevent(kq, &ch, 1, NULL, 0, NULL));
			} else {
				CHK(epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ee));
			}
		}
		for (i = 0; i < n; i++) {
			if (mode[0] == 'k')
				WANT(kevent(kq, NULL, 0, evs, 8, &zero) == 8);
			else
				WANT(epoll_wait(ep, eos, 8, 0) == 8);
		}
	} else if (!strcmp(mode, "kq_pipe")) {
		EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, 0);
		CHK(kevent(kq, &ch, 1, NULL, 0, NULL));
		for (i = 0; i < n; i++)
			WANT(kevent(kq, NULL, 0, &ev, 1, &zero) == 1);
	} else if (!strcmp(mode, "ep_pipe")) {
		CHK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ee));
		for (i = 0; i < n; i++)
			WANT(epoll_wait(ep, &eo, 1, 0) == 1);
	} else if (!strcmp(mode, "kq_rt")) {
		EV_SET(&ch, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 0);
		CHK(kevent(kq, &ch, 1, NULL, 0, NULL));
		EV_SET(&ch, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);
		for (i = 0; i < n; i++)
			WANT(kevent(kq, &ch, 1, &ev, 1, &zero) == 1);
	} else if (!strcmp(mode, "ep_rt")) {
		CHK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ee));
		for (i = 0; i < n; i++) {
			WANT(write(efd, &one, 8) == 8);
			WANT(epoll_wait(ep, &eo, 1, 0) == 1);
			WANT(read(efd, &v, 8) == 8);
		}
	} else if (!strcmp(mode, "kq_trigger")) {
		EV_SET(&ch, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 0);
		CHK(kevent(kq, &ch, 1, NULL, 0, NULL));
		EV_SET(&ch, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);
		for (i = 0; i < n; i++)
			WANT(kevent(kq, &ch, 1, NULL, 0, NULL) == 0);
	} else if (!strcmp(mode, "ep_trigger")) {
		ee.events = EPOLLIN | EPOLLET;
		CHK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ee));
		for (i = 0; i < n; i++)
			WANT(write(efd, &one, 8) == 8);
	} else if (!strcmp(mode, "kq_create")) {
		for (i = 0; i < n; i++) {
			int k = kqueue();

			CHK(k);
			close(k);
		}
	} else if (!strcmp(mode, "ep_create")) {
		for (i = 0; i < n; i++) {
			int k = epoll_create1(0);

			CHK(k);
			close(k);
		}
	} else if (!strcmp(mode, "kq_adddel")) {
		EV_SET(&c2[0], p[0], EVFILT_READ, EV_ADD, 0, 0, 0);
		EV_SET(&c2[1], p[0], EVFILT_READ, EV_DELETE, 0, 0, 0);
		for (i = 0; i < n; i++) {
			CHK(kevent(kq, &c2[0], 1, NULL, 0, NULL));
			CHK(kevent(kq, &c2[1], 1, NULL, 0, NULL));
		}
	} else if (!strcmp(mode, "ep_adddel")) {
		for (i = 0; i < n; i++) {
			CHK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ee));
			CHK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
		}
	} else if (!strcmp(mode, "kq_regclose") || !strcmp(mode, "ep_regclose")) {
		for (i = 0; i < n; i++) {
			int q[2];

			CHK(pipe(q));
			if (mode[0] == 'k') {
				EV_SET(&ch, q[0], EVFILT_READ, EV_ADD, 0, 0, 0);
				CHK(kevent(kq, &ch, 1, NULL, 0, NULL));
			} else {
				CHK(epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ee));
			}
			close(q[0]);
			close(q[1]);
		}
	} else if (!strcmp(mode, "kq_otherpipe") || !strcmp(mode, "ep_otherpipe")) {
		if (mode[0] == 'k') {
			EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, 0);
			CHK(kevent(kq, &ch, 1, NULL, 0, NULL));
		} else {
			CHK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ee));
		}
		for (i = 0; i < n; i++) {
			int q[2];

			CHK(pipe(q));
			CHK(write(q[1], "x", 1));
			WANT(read(q[0], &v, 1) == 1);
			close(q[0]);
			close(q[1]);
		}
	} else if (!strcmp(mode, "kq_pingpong") || !strcmp(mode, "ep_pingpong")) {
		int a[2], b[2], q, in, out;
		pid_t pid;
		char c = 'x';

		CHK(pipe(a));
		CHK(pipe(b));
		CHK(pid = fork());
		/* the parent writes to a and waits for b; the child the other way round */
		in = pid ? b[0] : a[0];
		out = pid ? a[1] : b[1];
		q = mode[0] == 'k' ? kqueue() : epoll_create1(0);
		CHK(q);
		if (mode[0] == 'k') {
			EV_SET(&ch, in, EVFILT_READ, EV_ADD, 0, 0, 0);
			CHK(kevent(q, &ch, 1, NULL, 0, NULL));
		} else {
			CHK(epoll_ctl(q, EPOLL_CTL_ADD, in, &ee));
		}
		if (pid)
			WANT(write(out, &c, 1) == 1);
		for (i = 0; i < n; i++) {
			if (mode[0] == 'k')
				WANT(kevent(q, NULL, 0, &ev, 1, NULL) == 1);
			else
				WANT(epoll_wait(q, &eo, 1, -1) == 1);
			WANT(read(in, &c, 1) == 1);
			if (!pid || i + 1 < n)
				WANT(write(out, &c, 1) == 1);
		}
		if (!pid)
			_exit(0);
		CHK(waitpid(pid, NULL, 0));
	} else if (!strcmp(mode, "kq_register") || !strcmp(mode, "ep_register")) {
		static int rp[REG_PIPES][2];
		static struct kevent add[REG_PIPES], del[REG_PIPES];
		struct rlimit rl = { 2 * REG_PIPES + 64, 2 * REG_PIPES + 64 };
		long r;
		int j;

		CHK(setrlimit(RLIMIT_NOFILE, &rl));
		for (j = 0; j < REG_PIPES; j++) {
			CHK(pipe(rp[j]));
			EV_SET(&add[j], rp[j][0], EVFILT_READ, EV_ADD, 0, 0, 0);
			EV_SET(&del[j], rp[j][0], EVFILT_READ, EV_DELETE, 0, 0, 0);
		}
		for (r = 0; r < n / REG_PIPES; r++) {
			if (mode[0] == 'k') {
				WANT(kevent(kq, add, REG_PIPES, NULL, 0, NULL) == 0);
				WANT(kevent(kq, del, REG_PIPES, NULL, 0, NULL) == 0);
				continue;
			}
			for (j = 0; j < REG_PIPES; j++)
				CHK(epoll_ctl(ep, EPOLL_CTL_ADD, rp[j][0], &ee));
			for (j = 0; j < REG_PIPES; j++)
				CHK(epoll_ctl(ep, EPOLL_CTL_DEL, rp[j][0], NULL));
		}
	} else if (strcmp(mode, "none")) {
		fprintf(stderr, "kq_prof: unknown mode '%s'\n", mode);
		return 1;
	}
	printf("done %s %ld\n", mode, n);
	return 0;
}
