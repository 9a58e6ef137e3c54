// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kq_fuzz: a multi-threaded fuzzer of the raw /dev/kqueue ioctl.
 *
 * KQ_FUZZ_THREADS threads (default 4) issue KQ_FUZZ_CALLS ioctl() calls in total (default
 * 200000) with random and boundary values in every field of the argument block and of each
 * struct kevent: idents of every descriptor kind (pipe ends, a pipe with no reader, FIFO,
 * unix stream/dgram pairs, TCP listener and connection, UDP, eventfd, timerfd, signalfd,
 * epoll, a regular file in /tmp, /dev/null, pty master and slave, other kqueues, the kqueue
 * itself, closed numbers, numbers above INT_MAX), every filter from -20 to 5 and random ones,
 * random flags/fflags/data/udata/ext; for the process, signal and file filters idents that
 * reach their real paths: signal numbers (0..65 and odd ones) for EVFILT_SIGNAL; the
 * fuzzer's own pid, its parent, pid 1, its threads' tids, two long-lived children, recently
 * forked short-lived children (running, zombie, reaped) and impossible pids for EVFILT_PROC;
 * pidfds, a directory, an O_PATH descriptor, the file and the FIFO (and every other kind) for
 * EVFILT_PROCDESC and EVFILT_VNODE, with note masks in and out of the valid sets; NULL, unmapped, PROT_NONE, read-only, misaligned,
 * page-straddling, kernel (0xffff888000000000) and non-canonical pointers for the block, both
 * lists and the timeout; zero, huge and negative counts; bad timespecs (negative, tv_nsec >= 1e9,
 * huge); unknown ioctl numbers; the kqfd/flags fields. Meanwhile a churn thread closes the
 * descriptors, reopens them and dup2()s one kind over another, pokes data into them, reads
 * their /proc fdinfo and polls them; it also forks short-lived children (some of which
 * re-execute the fuzzer, for NOTE_EXEC) and reaps them, sends the process signals, and
 * renames, chmods, links and unlinks the file and entries of the directory.
 *
 * What must hold, and is checked: every call returns a count (0..nevents) or -1 with a
 * documented errno; every EV_ERROR record carries 0 or a documented errno, every other record a
 * known filter and no action flag; no call hangs (only zero or tiny timeouts are used; the calls
 * that may block — NULL or long timeouts — are interrupted by a periodic per-thread signal, so
 * EINTR is exercised too); the kqueues still work afterwards. Everything else (KASAN, lockdep,
 * leaks) is the VM harness's kernel-log and kmemleak checks.
 *
 * Env: KQ_FUZZ_CALLS (200000; kq_fuzz32: a quarter, or KQ_FUZZ32_CALLS), KQ_FUZZ_THREADS (4),
 * KQ_FUZZ_SEED (time-based; printed; each thread's stream derives from it, the interleaving
 * of the threads does not repeat), KQ_FUZZ_HANG_SECS (60: a call running longer fails the
 * run), KQ_FUZZ_CAPS (1: lower the per-user caps to 8192 knotes and 64 timers for the run,
 * so that the ENOMEM paths run too, and the emulated VM is not flooded by timer interrupts).
 * Built twice: kq_fuzz (64-bit) and kq_fuzz32 (i386, gcc-multilib as tests/compat32: the
 * compat_ioctl path, with the same generator). Measured in the TCG + KASAN VM: 1500 to 4500
 * calls/s (4 vCPUs on 2 shared host cores), i.e. 45 to 140 s for 200000 calls.
 */
#include "kq_fuzz_common.h"

#include <arpa/inet.h>
#include <execinfo.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define MAX_THREADS 32
#define LIST 64			/* kevents per list buffer: one page */
#define PAGE 4096
#define HOME_BASE 300		/* slot i lives at descriptor HOME_BASE + i */
#define CLOSED_FD 290		/* never opened */

/* ---- random numbers ----------------------------------------------------------------- */

static uint64_t rnd64(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
	return n ? (uint32_t)((rnd64(s) >> 32) % n) : 0;
}

static int one_in(uint64_t *s, uint32_t n)
{
	return rnd(s, n) == 0;
}

/* ---- descriptor slots ---------------------------------------------------------------- */

enum kind {
	K_KQ, K_PIPE_R, K_PIPE_W, K_PIPE_W_NOREADER, K_FIFO, K_UNIX_STREAM, K_UNIX_DGRAM,
	K_TCP_LISTEN, K_TCP_CONN, K_UDP, K_EVENTFD, K_TIMERFD, K_SIGNALFD, K_EPOLL, K_FILE,
	K_DEVNULL, K_PTM, K_PTS, K_DIR, K_OPATH, K_PIDFD, K_CLOSED, NKINDS
};
static const char *const kind_name[NKINDS] = {
	"kqueue", "pipe-r", "pipe-w", "pipe-w-noreader", "fifo", "unix-stream", "unix-dgram",
	"tcp-listen", "tcp-conn", "udp", "eventfd", "timerfd", "signalfd", "epoll", "file",
	"devnull", "pty-master", "pty-slave", "directory", "o-path", "pidfd", "closed",
};

/* The initial kinds: six kqueues, then one of each other kind. */
static const enum kind initial_kind[] = {
	K_KQ, K_KQ, K_KQ, K_KQ, K_KQ, K_KQ, K_PIPE_R, K_PIPE_W, K_PIPE_W_NOREADER, K_FIFO,
	K_UNIX_STREAM, K_UNIX_DGRAM, K_TCP_LISTEN, K_TCP_CONN, K_UDP, K_EVENTFD, K_TIMERFD,
	K_SIGNALFD, K_EPOLL, K_FILE, K_DEVNULL, K_PTM, K_PTS, K_DIR, K_OPATH, K_PIDFD, K_PIDFD,
	K_CLOSED,
};
#define NSLOTS ((int)(sizeof(initial_kind) / sizeof(initial_kind[0])))

struct slot {
	atomic_int kind;
	atomic_uint gen;	/* bumped (twice) around every change by the churn thread */
	int home;		/* the descriptor number */
	int peer;		/* the other end, kept by the churn thread (or -1) */
};
static struct slot slots[NSLOTS];

/* Two kqueues no one closes: unknown ioctls go only there (the churn may put any file under
 * a slot's number, and an unknown ioctl must not reach another driver). */
static int stable_kq[2];

static int listener = -1;	/* the TCP listener the K_TCP_CONN sockets connect to */
static struct sockaddr_in listen_addr;
static char fifo_path[64], file_path[64], pts_dir[64], dir_path[64];

/* ---- processes for EVFILT_PROC / EVFILT_PROCDESC ------------------------------------ */

#define RECENT 8
static pid_t long_lived[2];		/* children that live until the end */
static atomic_int recent[RECENT];	/* pids of short-lived children (running, zombie, reaped) */
static atomic_uint recent_next;
static char *self_exe = "/proc/self/exe";

/*
 * A short-lived child: sleeps up to ~50 ms (or not at all) and exits, or re-executes the
 * fuzzer with --exit (which exits at once: NOTE_EXEC). The churn thread reaps them.
 */
static pid_t short_child(unsigned int how)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct timespec ts = { 0, (long)(how % 50) * 1000000L };

		if (how % 7 == 0) {
			char *argv[] = { self_exe, "--exit", NULL };

			execv(self_exe, argv);
		}
		if (how % 5)
			nanosleep(&ts, NULL);
		_exit((int)(how % 4));
	}
	if (pid > 0)
		atomic_store(&recent[atomic_fetch_add(&recent_next, 1) % RECENT], pid);
	return pid;
}
static int ptmx_dirfd = -1;	/* private devpts instance, when /dev/pts is not mounted */

static int open_ptmx(void)
{
	if (ptmx_dirfd >= 0)
		return openat(ptmx_dirfd, "ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	return posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
}

static int pty_pair(int *m, int *s)
{
	*m = open_ptmx();
	if (*m < 0)
		return -1;
	if (unlockpt(*m) < 0 || (*s = ioctl(*m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK)) < 0) {
		close(*m);
		return -1;
	}
	return 0;
}

static int tcp_conn(int *peer)
{
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), i, a = -1;

	if (c < 0)
		return -1;
	if (connect(c, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) < 0 &&
	    errno != EINPROGRESS) {
		close(c);
		return -1;
	}
	for (i = 0; i < 200 && a < 0; i++) {
		a = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (a < 0)
			usleep(100);
	}
	*peer = a;
	return c;
}

/* A new open file of kind k: the descriptor, and its other end in *peer (or -1). */
static int make_kind(enum kind k, int *peer, int epoll_watch)
{
	int p[2], fd = -1;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	sigset_t ss;

	*peer = -1;
	switch (k) {
	case K_KQ:
		return open(KQUEUE_DEVICE, O_RDWR | O_CLOEXEC);
	case K_PIPE_R:
	case K_PIPE_W:
	case K_PIPE_W_NOREADER:
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
			return -1;
		if (k == K_PIPE_R) {
			*peer = p[1];
			return p[0];
		}
		if (k == K_PIPE_W)
			*peer = p[0];
		else
			close(p[0]);
		return p[1];
	case K_FIFO:
		fd = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0)
			*peer = open(fifo_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		return fd;
	case K_UNIX_STREAM:
	case K_UNIX_DGRAM:
		if (socketpair(AF_UNIX, (k == K_UNIX_STREAM ? SOCK_STREAM : SOCK_DGRAM) |
			       SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p) < 0)
			return -1;
		*peer = p[1];
		return p[0];
	case K_TCP_LISTEN:
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 && (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 4) < 0)) {
			close(fd);
			return -1;
		}
		return fd;
	case K_TCP_CONN:
		return tcp_conn(peer);
	case K_UDP:
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		/* Bound and connected to itself: the churn's send() lands in its own queue. */
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    getsockname(fd, (struct sockaddr *)&sin, &sl) < 0 ||
		    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	case K_EVENTFD:
		return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	case K_TIMERFD: {
		struct itimerspec its = { { 0, 50000000 }, { 0, 50000000 } };

		fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (fd >= 0)
			timerfd_settime(fd, 0, &its, NULL);
		return fd;
	}
	case K_SIGNALFD:
		sigemptyset(&ss);
		sigaddset(&ss, SIGUSR1);
		return signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	case K_EPOLL:
		fd = epoll_create1(EPOLL_CLOEXEC);
		if (fd >= 0 && epoll_watch >= 0) {
			struct epoll_event ee = { .events = EPOLLIN | EPOLLOUT };

			epoll_ctl(fd, EPOLL_CTL_ADD, epoll_watch, &ee);
		}
		return fd;
	case K_FILE:
		return open(file_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	case K_DEVNULL:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	case K_PTM:
	case K_PTS:
		if (pty_pair(&p[0], &p[1]) < 0)
			return -1;
		*peer = p[k == K_PTM];
		return p[k == K_PTS];
	case K_DIR:
		return open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	case K_OPATH:
		return open(file_path, O_PATH | O_CLOEXEC);
	case K_PIDFD: {
		static atomic_uint n;
		unsigned int how = atomic_fetch_add(&n, 1) * 2654435761u >> 8;
		pid_t pid = how % 3 == 0 ? long_lived[how % 2] : short_child(how);

		return pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	}
	case K_CLOSED:
	case NKINDS:
		break;
	}
	return -1;
}

/* Puts a new file of kind k under slot s's number (churn thread and setup only). */
static void slot_set(struct slot *s, enum kind k, int epoll_watch)
{
	int peer, fd = k == K_CLOSED ? -1 : make_kind(k, &peer, epoll_watch);

	atomic_fetch_add(&s->gen, 1);
	if (fd < 0) {
		close(s->home);
		k = K_CLOSED;
		peer = -1;
	} else if (fd != s->home) {
		dup2(fd, s->home);	/* atomic replacement of whatever was there */
		close(fd);
	}
	if (s->peer >= 0)
		close(s->peer);
	s->peer = peer;
	atomic_store(&s->kind, k);
	atomic_fetch_add(&s->gen, 1);
}

/* ---- per-thread memory ---------------------------------------------------------------- */

/*
 * Page layout (mmap'd once per thread):
 *   0: changelist buffer (LIST kevents)      1: PROT_NONE
 *   2: eventlist buffer (LIST kevents)       3: PROT_NONE
 *   4: read-only page of kevents             5: scratch (args/timespec at its end)
 *   6: PROT_NONE
 * Every buffer ends flush against an inaccessible page, so a count larger than the room makes
 * the kernel fault in the middle of a list.
 */
struct tmem {
	char *base;
	struct raw_kevent *chg, *evt, *ro;
	char *scratch, *guard;
};

/*
 * A user address where nothing is mapped, and nothing will be: not a page that was unmapped,
 * which a later mmap() (a thread stack, a worker's buffers) may reuse, so that the kernel would
 * write events into live memory. 64-bit: a checked hole high in the address space; 32-bit:
 * above 4 GiB, where the process cannot map anything but which the kernel accepts as a user
 * address (the block's pointers are 64-bit).
 */
static uint64_t unmapped_addr;

static const uint64_t kernel_ptrs[] = {
	0xffff888000000000ULL, 0xffffffff81000000ULL, 0xffffffffff600000ULL,
	0xffffc90000000000ULL, 0xfffffffffffff000ULL, 0xffffffffffffffc0ULL,
};
static const uint64_t noncanon_ptrs[] = {
	0x0000800000000000ULL, 0x8000000000000000ULL, 0x00007ffffffff000ULL,
	0x0000fffffffff000ULL, 0x7fffffffffffffffULL, 0xdead000000000000ULL,
};

/* ---- the generator ------------------------------------------------------------------- */

static int pick_fd(uint64_t *r)
{
	switch (rnd(r, 12)) {
	case 0: return stable_kq[rnd(r, 2)];
	case 1: return CLOSED_FD + (int)rnd(r, 4);
	case 2: return rnd(r, 3);	/* stdin/stdout/stderr */
	default: return slots[rnd(r, NSLOTS)].home;
	}
}

static struct worker_tids { atomic_int tid[MAX_THREADS]; } wtids;

/* A pid for EVFILT_PROC: mostly ones that exist (or just did), sometimes impossible ones. */
static int64_t pick_pid(uint64_t *r)
{
	switch (rnd(r, 16)) {
	case 0: case 1: return getpid();
	case 2: return getppid();
	case 3: return 1;
	case 4: return atomic_load(&wtids.tid[rnd(r, MAX_THREADS)]);	/* a thread (or 0) */
	case 5: case 6: return long_lived[rnd(r, 2)];
	case 7: return 0;
	case 8: return -1 - (int64_t)rnd(r, 3);
	case 9: return one_in(r, 2) ? INT_MAX : 4194304 + rnd(r, 4);	/* beyond pid_max */
	case 10: return rnd(r, 32768);
	default: return atomic_load(&recent[rnd(r, RECENT)]);
	}
}

/* A descriptor for EVFILT_VNODE / EVFILT_PROCDESC: mostly a slot of a fitting kind. */
static int pick_file_fd(uint64_t *r, int filter)
{
	static const enum kind vnode_kinds[] = { K_FILE, K_DIR, K_OPATH, K_FIFO, K_PIDFD };
	enum kind want = filter == EVFILT_PROCDESC && !one_in(r, 4) ? K_PIDFD :
			 vnode_kinds[rnd(r, sizeof(vnode_kinds) / sizeof(vnode_kinds[0]))];
	int start = rnd(r, NSLOTS);

	for (int i = 0; i < NSLOTS; i++) {
		struct slot *s = &slots[(start + i) % NSLOTS];

		if (atomic_load(&s->kind) == (int)want)
			return s->home;
	}
	return pick_fd(r);
}

static uint64_t gen_ident(uint64_t *r, int filter, int kq)
{
	static const uint64_t odd[] = {
		0, INT_MAX, (uint64_t)INT_MAX + 1, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX,
		(uint64_t)INT_MIN, 1ULL << 63, 1ULL << 40,
	};

	/* Timers: a few idents only, so the number of armed timers stays small. */
	if (filter == EVFILT_TIMER && !one_in(r, 50))
		return rnd(r, 8);
	if (filter == EVFILT_SIGNAL && !one_in(r, 8)) {
		static const uint64_t bad_sig[] = { 0, 65, 66, 128, 255, 256, (uint64_t)-1, 1ULL << 32 | 2 };

		return one_in(r, 8) ? bad_sig[rnd(r, sizeof(bad_sig) / sizeof(bad_sig[0]))] :
				      1 + rnd(r, 64);
	}
	if (filter == EVFILT_PROC && !one_in(r, 8))
		return (uint64_t)pick_pid(r);
	if ((filter == EVFILT_VNODE || filter == EVFILT_PROCDESC) && !one_in(r, 4))
		return (uint64_t)pick_file_fd(r, filter);
	switch (rnd(r, 16)) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		return (uint64_t)pick_fd(r);
	case 6: return (uint64_t)kq;
	case 7: return (uint64_t)(slots[rnd(r, NSLOTS)].home) | (1ULL << 32); /* upper half set */
	case 8: case 9: case 10: return rnd(r, 64);
	case 11: return rnd(r, 4);
	case 12: return odd[rnd(r, sizeof(odd) / sizeof(odd[0]))];
	case 13: return rnd64(r);
	default: return rnd(r, 1024);
	}
}

static int gen_filter(uint64_t *r)
{
	static const int known[] = {
		EVFILT_READ, EVFILT_WRITE, EVFILT_EMPTY, EVFILT_USER, EVFILT_TIMER,
		EVFILT_SIGNAL, EVFILT_PROC, EVFILT_PROCDESC, EVFILT_VNODE,
	};

	switch (rnd(r, 10)) {
	case 0: case 1: case 2: case 3: case 4: return known[rnd(r, sizeof(known) / sizeof(known[0]))];
	case 9: return (int16_t)rnd64(r);
	default: return (int)rnd(r, 26) - 20;	/* -20..5 */
	}
}

static unsigned int gen_flags(uint64_t *r)
{
	static const unsigned int opt[] = {
		EV_ONESHOT, EV_CLEAR, EV_DISPATCH, EV_RECEIPT, EV_ENABLE, EV_DISABLE,
		EV_KEEPUDATA, EV_FORCEONESHOT,
	};
	unsigned int f = 0, i;

	switch (rnd(r, 20)) {
	case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7:
		f = EV_ADD;
		for (i = 0; i < 8; i++)
			if (one_in(r, 5))
				f |= opt[i];
		return f;
	case 8: case 9: case 10: return EV_DELETE | (one_in(r, 3) ? EV_RECEIPT : 0);
	case 11: case 12: return 0;
	case 13: return EV_ENABLE | (one_in(r, 2) ? EV_DISPATCH : 0);
	case 14: return EV_DISABLE;
	case 15: return EV_ENABLE | EV_DISABLE | (one_in(r, 2) ? EV_ADD : 0);
	case 16: return EV_ADD | EV_DELETE;
	case 17:
		for (i = 0; i < 16; i++)
			if (one_in(r, 4))
				f |= 1u << i;
		return f;
	default: return (uint16_t)rnd64(r);
	}
}

static unsigned int gen_fflags(uint64_t *r, int filter)
{
	switch (rnd(r, 6)) {
	case 0: return 0;
	case 1: return (uint32_t)rnd64(r);
	default: break;
	}
	switch (filter) {
	case EVFILT_USER:
		return (one_in(r, 2) ? NOTE_TRIGGER : 0) | (rnd(r, 4) << 30) | rnd(r, 1u << 24);
	case EVFILT_TIMER: {
		static const unsigned int u[] = {
			0, NOTE_SECONDS, NOTE_MSECONDS, NOTE_USECONDS, NOTE_NSECONDS,
			NOTE_SECONDS | NOTE_NSECONDS, NOTE_TIMER_PRECMASK, 0x20, 0x80000000u,
		};
		return u[rnd(r, sizeof(u) / sizeof(u[0]))] | (one_in(r, 4) ? NOTE_ABSTIME : 0);
	}
	case EVFILT_VNODE:	/* mostly within the valid mask, sometimes beyond */
		return (uint32_t)rnd64(r) & (one_in(r, 8) ? 0xffffu : 0x7ffu);
	case EVFILT_PROC: {
		static const unsigned int p[] = {
			NOTE_EXIT, NOTE_FORK, NOTE_EXEC, NOTE_TRACK, NOTE_TRACKERR, NOTE_CHILD,
		};
		unsigned int f = 0;

		for (int i = 0; i < 6; i++)
			if (one_in(r, i < 4 ? 2 : 8))
				f |= p[i];
		return f | (one_in(r, 10) ? rnd(r, NOTE_PDATAMASK + 1) : 0);
	}
	case EVFILT_PROCDESC:
		return one_in(r, 6) ? NOTE_EXIT | (1u << rnd(r, 31)) : NOTE_EXIT;
	default:
		return rnd(r, 4);	/* NOTE_LOWAT, NOTE_FILE_POLL */
	}
}

static int64_t gen_data(uint64_t *r)
{
	static const int64_t odd[] = {
		0, 1, -1, 2, INT64_MAX, INT64_MIN, INT32_MAX, INT32_MIN, 1000000000, 4096, 65536,
		INT64_MAX / 1000, INT64_MAX / 1000000000 + 1,
	};

	switch (rnd(r, 6)) {
	case 0: return odd[rnd(r, sizeof(odd) / sizeof(odd[0]))];
	case 1: return (int64_t)rnd64(r);
	case 2: return (int64_t)time(NULL) * (one_in(r, 2) ? 1 : 1000) + rnd(r, 3); /* ABSTIME */
	default: return rnd(r, 1000);
	}
}

static void gen_kevent(uint64_t *r, struct raw_kevent *k, int kq)
{
	int i;

	k->filter = (int16_t)gen_filter(r);
	k->ident = gen_ident(r, k->filter, kq);
	k->flags = (uint16_t)gen_flags(r);
	k->fflags = gen_fflags(r, k->filter);
	k->data = gen_data(r);
	k->udata = one_in(r, 2) ? rnd64(r) : rnd(r, 16);
	for (i = 0; i < 4; i++)
		k->ext[i] = one_in(r, 4) ? rnd64(r) : 0;
	/*
	 * Periodic timers below 1 ms fire (at most) every 100 us each; keep most of them one-shot
	 * so that the emulated VM is not flooded with timer interrupts.
	 */
	if (k->filter == EVFILT_TIMER && (k->flags & EV_ADD) && !(k->flags & EV_ONESHOT) &&
	    !(k->fflags & (NOTE_ABSTIME | NOTE_SECONDS)) && k->data < 1000 && !one_in(r, 10))
		k->flags |= EV_ONESHOT;
}

/* A list pointer and how many records fit there before an inaccessible byte. */
static uint64_t pick_list(uint64_t *r, struct tmem *m, struct raw_kevent *buf, int writable,
			  int *room)
{
	int k;

	*room = LIST;
	switch (rnd(r, 24)) {
	case 12: k = 1 + rnd(r, 8); *room = k; return ptr_u64(buf + LIST - k);
	case 13: *room = LIST - 1; return ptr_u64(buf) + 1 + rnd(r, 63);	/* misaligned */
	case 14: *room = 0; return 0;
	case 15: *room = 0; return ptr_u64(m->guard);
	case 16: *room = 0; return unmapped_addr;
	case 17: *room = writable ? 0 : LIST; return ptr_u64(m->ro);
	case 18: *room = 0; return kernel_ptrs[rnd(r, sizeof(kernel_ptrs) / 8)];
	case 19: *room = 0; return noncanon_ptrs[rnd(r, sizeof(noncanon_ptrs) / 8)];
	case 20: return ptr_u64(buf == m->chg ? m->evt : m->chg);	/* the other list */
	case 21: *room = 0; return rnd64(r) | (1ULL << 63);	/* never our own memory */
	default: return ptr_u64(buf);
	}
}

static int pick_count(uint64_t *r, int room)
{
	switch (rnd(r, 14)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return room;
	case 3: return room + 1 + (int)rnd(r, 4);
	case 4: return INT_MAX;
	case 5: return 1 << (20 + rnd(r, 10));
	case 6: return -1;
	case 7: return INT_MIN;
	case 8: return -(int)rnd(r, 1000) - 1;
	case 9: return (int)(uint32_t)rnd64(r);
	default: return (int)rnd(r, (uint32_t)room + 1);
	}
}

/* A timeout pointer; *may_block is set when the call could wait longer than a few ms. */
static uint64_t pick_timeout(uint64_t *r, struct tmem *m, struct kq_timespec *ts, int *may_block)
{
	static const struct kq_timespec bad[] = {
		{ -1, 0 }, { 0, -1 }, { 0, 1000000000 }, { 0, INT64_MAX }, { INT64_MIN, 0 },
		{ INT64_MIN, INT64_MIN }, { -1, 999999999 }, { 1, 1000000000 }, { 0, INT64_MIN },
	};
	struct kq_timespec *edge = (struct kq_timespec *)(m->scratch + PAGE - 8);

	*may_block = 0;
	ts->tv_sec = ts->tv_nsec = 0;
	switch (rnd(r, 24)) {
	case 0: case 1: *may_block = 1; return 0;	/* NULL: wait without a limit */
	case 2: ts->tv_nsec = 1 + rnd(r, 1000); break;
	case 3: ts->tv_nsec = 1000000 + rnd(r, 2000000); break;	/* 1..3 ms */
	case 4: case 5: *ts = bad[rnd(r, sizeof(bad) / sizeof(bad[0]))]; break;
	case 6: ts->tv_sec = INT64_MAX; ts->tv_nsec = 999999999; *may_block = 1; break;
	case 7: ts->tv_sec = 1 + rnd(r, 100); *may_block = 1; break;
	case 8: return ptr_u64(m->guard);
	case 9: return unmapped_addr;
	case 10: return kernel_ptrs[rnd(r, sizeof(kernel_ptrs) / 8)];
	case 11: return noncanon_ptrs[rnd(r, sizeof(noncanon_ptrs) / 8)];
	case 12: edge->tv_sec = 0; return ptr_u64(edge);	/* tv_nsec is in the guard page */
	case 13: *may_block = 1; return ptr_u64(m->ro) + 8;	/* read-only garbage */
	case 14: {	/* misaligned, valid */
		struct kq_timespec z = { 0, 0 };
		char *p = m->scratch + 1 + rnd(r, 7);

		memcpy(p, &z, sizeof(z));
		return ptr_u64(p);
	}
	default: break;	/* zero: poll */
	}
	return ptr_u64(ts);
}

/* ---- the fuzzing threads ------------------------------------------------------------- */

static long total_calls = 200000, hang_secs = 60;
static int nthreads = 4;
static uint64_t seed;
static atomic_long issued;
static atomic_int stop_churn;

#define MAX_ERRNO 600
struct stats {
	long calls, ok, records, einval_struct;
	long err[MAX_ERRNO];		/* ioctl's errno */
	long rec_err[MAX_ERRNO];	/* EV_ERROR data */
	long bad;			/* violations */
	long foreign;			/* calls on a file that was not a kqueue */
	long blocking;			/* calls that could block (signal armed) */
	long max_call_ns;
	long eintr_nonblocking;		/* EINTR with a zero/tiny timeout (a stray signal) */
	char longest[160];		/* the longest call */
};

struct worker {
	pthread_t th;
	int idx;
	pid_t tid;
	uint64_t rng;
	struct tmem m;
	struct stats st;
	timer_t timer;
	/* What the thread is doing, for the hang report. */
	atomic_llong call_start;	/* 0 when not in a call */
	unsigned long last_cmd;
	int last_fd;
	struct kq_kevent_args last_args;
	int last_args_valid;
};
static struct worker workers[MAX_THREADS];
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int nreports;

static void violation(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	w->st.bad++;
	if (atomic_fetch_add(&nreports, 1) >= 20)
		return;
	pthread_mutex_lock(&report_lock);
	printf("# VIOLATION (thread %d): ", w->idx);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (w->last_args_valid) {
		struct kq_kevent_args *a = &w->last_args;

		printf("\n#   ioctl(fd %d, %#lx, {changelist %#llx nchanges %d eventlist %#llx "
		       "nevents %d timeout %#llx kqfd %d flags %#x})", w->last_fd, w->last_cmd,
		       (unsigned long long)a->changelist, a->nchanges,
		       (unsigned long long)a->eventlist, a->nevents,
		       (unsigned long long)a->timeout, a->kqfd, a->flags);
	}
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&report_lock);
}

static void sig_nop(int sig)
{
	(void)sig;
}

/* The fuzzer itself crashed (the kernel wrote where it must not?): say where, for addr2line. */
static void sig_crash(int sig)
{
	void *bt[32];
	int n = backtrace(bt, 32);
	static const char msg[] = "# kq_fuzz crashed; backtrace (addr2line -e kq_fuzz):\n";

	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	backtrace_symbols_fd(bt, n, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void arm(struct worker *w, int on)
{
	/* Periodic: a signal that lands just before the thread enters the kernel is followed by
	 * another one 2 ms later, so a blocked call is always interrupted. */
	struct itimerspec its = { { 0, on ? 2000000 : 0 }, { 0, on ? 2000000 : 0 } };

	timer_settime(w->timer, 0, &its, NULL);
}

/* An ioctl number other than KQIOC_KEVENT, for a file that is certainly a kqueue. */
static unsigned long gen_other_cmd(uint64_t *r)
{
	static const unsigned char vfs_types[] = { 0x00, 0x01, 0x02, 0x15, 'T', 'X', 'f', 'v', 0x94 };
	unsigned long c;

	switch (rnd(r, 10)) {
	case 0: return _IOWR('k', 1, char[32]);
	case 1: return _IOWR('k', 1, char[48]);
	case 2: return _IOR('k', 1, struct kq_kevent_args);
	case 3: return _IOW('k', 1, struct kq_kevent_args);
	case 4: return _IO('k', 1);
	case 5: return _IOWR('k', 0, struct kq_kevent_args);
	case 6: return _IOWR('k', 2 + rnd(r, 254), struct kq_kevent_args);
	case 7: return KQIOC_KEVENT ^ (1u << rnd(r, 32));
	default:
		/* Random, except the types the VFS handles itself for any file (FIOCLEX, FIONBIO,
		 * FIOASYNC, FIFREEZE, FS_IOC_*, FICLONE, FIGETBSZ, ...). */
		do
			c = (uint32_t)rnd64(r);
		while (memchr(vfs_types, (int)((c >> 8) & 0xff), sizeof(vfs_types)));
		return c;
	}
}

static void check_records(struct worker *w, const struct raw_kevent *ev, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		const struct raw_kevent *k = &ev[i];

		w->st.records++;
		if (k->flags & EV_ERROR) {
			/* data is 0 (EV_RECEIPT) or a positive errno */
			if (k->data < 0 || k->data >= MAX_ERRNO) {
				violation(w, "EV_ERROR record with data %lld", (long long)k->data);
				continue;
			}
			w->st.rec_err[k->data]++;
			if (k->data && !errno_documented((int)k->data))
				violation(w, "EV_ERROR record with undocumented errno %s (filter %d flags %#x)",
					  errname((int)k->data), k->filter, k->flags);
			continue;
		}
		if (k->filter != EVFILT_READ && k->filter != EVFILT_WRITE && k->filter != EVFILT_EMPTY &&
		    k->filter != EVFILT_USER && k->filter != EVFILT_TIMER && k->filter != EVFILT_SIGNAL &&
		    k->filter != EVFILT_PROC && k->filter != EVFILT_PROCDESC && k->filter != EVFILT_VNODE)
			violation(w, "event with filter %d (ident %llu flags %#x)", k->filter,
				  (unsigned long long)k->ident, k->flags);
		/*
		 * The new filters' records, as far as a random workload can tell: the ident is
		 * a signal number, fflags within the vnode notes. (An EV_FORCEONESHOT knote
		 * reports with nothing happened: fflags and data 0, so no more than that.)
		 */
		else if (k->filter == EVFILT_SIGNAL && (k->ident < 1 || k->ident > 64 || k->data < 0))
			violation(w, "EVFILT_SIGNAL event with ident %llu data %lld flags %#x",
				  (unsigned long long)k->ident, (long long)k->data, k->flags);
		else if (k->filter == EVFILT_VNODE && ((k->fflags & ~0x7ffu) || k->data))
			violation(w, "EVFILT_VNODE event with fflags %#x data %lld flags %#x", k->fflags,
				  (long long)k->data, k->flags);
		if (k->flags & KQ_ACTION_FLAGS)
			violation(w, "event with action flags %#x (filter %d ident %llu)", k->flags,
				  k->filter, (unsigned long long)k->ident);
	}
}

static void one_call(struct worker *w)
{
	uint64_t *r = &w->rng;
	struct tmem *m = &w->m;
	struct kq_kevent_args a, *ap = &a;
	struct kq_timespec ts;
	unsigned long cmd = KQIOC_KEVENT;
	int fd, chroom, evroom, may_block, i, n, e, strict, kqslot = -1, slot_kq = 0, sane;
	unsigned int gen = 0;
	uint64_t argp;
	int64_t t0, dt;

	/* The target: mostly a kqueue slot, sometimes anything. */
	switch (rnd(r, 20)) {
	case 0: case 1: case 2: fd = stable_kq[rnd(r, 2)]; slot_kq = 1; break;
	case 3: case 4: fd = pick_fd(r); break;
	default:
		kqslot = rnd(r, 6);	/* the six slots that start as kqueues */
		fd = slots[kqslot].home;
		break;
	}
	if (kqslot >= 0) {
		gen = atomic_load(&slots[kqslot].gen);
		slot_kq = !(gen & 1) && atomic_load(&slots[kqslot].kind) == K_KQ;
	} else if (fd != stable_kq[0] && fd != stable_kq[1]) {
		slot_kq = 0;
	}
	/* Unknown ioctl numbers only on the two kqueues nobody closes. */
	if (one_in(r, 25)) {
		fd = stable_kq[rnd(r, 2)];
		slot_kq = 1;
		kqslot = -1;
		cmd = gen_other_cmd(r);
	}

	/*
	 * Half of the calls have a well-formed block (valid lists, counts that fit, a zero or tiny
	 * timeout, kqfd set) so that the random changes get past the block's checks into the
	 * filters; the other half have every field random.
	 */
	sane = one_in(r, 2);

	/* The lists: the buffers get fresh random changes; the read-only page is fixed. */
	memset(&a, 0, sizeof(a));
	a.changelist = sane ? ptr_u64(m->chg) : pick_list(r, m, m->chg, 0, &chroom);
	a.nchanges = sane ? (int)rnd(r, 9) : pick_count(r, chroom);
	if (a.nchanges > 0 && a.changelist == ptr_u64(m->chg))
		for (i = 0; i < (a.nchanges < LIST ? a.nchanges : LIST); i++)
			gen_kevent(r, &m->chg[i], fd);
	else if (a.nchanges > 0 && a.changelist == ptr_u64(m->evt))
		for (i = 0; i < (a.nchanges < LIST ? a.nchanges : LIST); i++)
			gen_kevent(r, &m->evt[i], fd);
	a.eventlist = sane ? ptr_u64(m->evt) : pick_list(r, m, m->evt, 1, &evroom);
	a.nevents = sane ? (int)rnd(r, 17) : pick_count(r, evroom);
	if (sane) {
		ts.tv_sec = 0;
		ts.tv_nsec = one_in(r, 4) ? rnd(r, 100000) : 0;
		a.timeout = ptr_u64(&ts);
		may_block = 0;
	} else {
		a.timeout = pick_timeout(r, m, &ts, &may_block);
	}
	switch (sane ? 19 : rnd(r, 20)) {
	case 0: a.kqfd = pick_fd(r); a.flags = KQ_KEVENT_KQFD; break;
	case 1: a.kqfd = (int)rnd64(r); a.flags = 0; break;
	case 2: a.kqfd = fd; a.flags = (uint32_t)rnd64(r); break;
	case 3: a.kqfd = one_in(r, 2) ? -1 : INT_MAX; a.flags = KQ_KEVENT_KQFD; break;
	case 4: a.kqfd = fd; a.flags = 0; break;
	default: a.kqfd = fd; a.flags = KQ_KEVENT_KQFD; break;
	}

	/* The block itself: almost always valid. */
	switch (sane ? 39 : rnd(r, 40)) {
	case 0: argp = 0; break;
	case 1: argp = ptr_u64(m->guard); break;
	case 2: argp = sizeof(void *) == 4 ? 0xfffff000u : unmapped_addr; break;
	case 3:	/* a 32-bit process can pass only 32 bits: above its TASK_SIZE instead */
		argp = sizeof(void *) == 4 ? 0xffffe000u + rnd(r, 0x2000) :
					     kernel_ptrs[rnd(r, sizeof(kernel_ptrs) / 8)];
		break;
	case 4: {	/* straddling the guard page: the tail of the block is unreadable */
		char *p = m->scratch + PAGE - sizeof(a) + 1 + rnd(r, sizeof(a) - 1);

		memcpy(p, &a, m->scratch + PAGE - p);
		argp = ptr_u64(p);
		break;
	}
	default: argp = ptr_u64(ap); break;
	}
	if (argp != ptr_u64(ap))
		may_block = 1;	/* whatever the garbage says, maybe a NULL timeout */

	w->last_cmd = cmd;
	w->last_fd = fd;
	w->last_args = a;
	w->last_args_valid = argp == ptr_u64(ap);
	if (may_block) {
		w->st.blocking++;
		arm(w, 1);
	}
	t0 = mono_ns();
	atomic_store(&w->call_start, t0);
	errno = 0;
	n = ioctl(fd, cmd, (void *)(uintptr_t)argp);
	e = errno;
	dt = mono_ns() - t0;
	atomic_store(&w->call_start, 0);
	if (may_block)
		arm(w, 0);
	if (dt > w->st.max_call_ns) {
		w->st.max_call_ns = dt;
		snprintf(w->st.longest, sizeof(w->st.longest),
			 "ioctl(fd %d, %#lx, {nchanges %d nevents %d timeout %#llx}) = %d%s%s%s",
			 fd, cmd, a.nchanges, a.nevents, (unsigned long long)a.timeout, n,
			 n < 0 ? " (" : "", n < 0 ? errname(e) : "", n < 0 ? ")" : "");
	}
	w->st.calls++;

	/* Strict checks only where the descriptor surely was a kqueue for the whole call. */
	strict = slot_kq && (kqslot < 0 || atomic_load(&slots[kqslot].gen) == gen);
	if (!strict)
		w->st.foreign++;
	if (n >= 0) {
		w->st.ok++;
		if (!strict)
			return;
		if (cmd != KQIOC_KEVENT)
			violation(w, "unknown ioctl %#lx returned %d", cmd, n);
		else if (argp == ptr_u64(ap) && (a.nevents < 0 || n > a.nevents))
			violation(w, "returned %d with nevents %d", n, a.nevents);
		else if (argp == ptr_u64(ap) && a.eventlist == ptr_u64(m->evt))
			check_records(w, m->evt, n < LIST ? n : LIST);
		else if (argp == ptr_u64(ap) && a.eventlist == ptr_u64(m->chg))
			check_records(w, m->chg, n < LIST ? n : LIST);
		return;
	}
	if (n != -1)
		violation(w, "ioctl returned %d", n);
	w->st.err[e > 0 && e < MAX_ERRNO ? e : 0]++;
	if (!strict)
		return;
	if (cmd != KQIOC_KEVENT && e != ENOTTY)
		violation(w, "unknown ioctl %#lx: errno %s, expected ENOTTY", cmd, errname(e));
	else if (!errno_documented(e))
		violation(w, "errno %s is not a documented kevent() errno", errname(e));
	else if (e == EINTR && !may_block)
		w->st.eintr_nonblocking++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sigevent sev;

	w->tid = (pid_t)syscall(SYS_gettid);
	atomic_store(&wtids.tid[w->idx], w->tid);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR2;
	sev._sigev_un._tid = w->tid;
	if (timer_create(CLOCK_MONOTONIC, &sev, &w->timer) < 0) {
		perror("timer_create");
		exit(2);
	}
	while (atomic_fetch_add(&issued, 1) < total_calls)
		one_call(w);
	timer_delete(w->timer);
	return NULL;
}

/* ---- the churn thread --------------------------------------------------------------- */

static void *churn_main(void *arg)
{
	uint64_t r = seed ^ 0xc0ffee;
	char path[64], buf[4096];
	long n = 0;

	(void)arg;
	while (!atomic_load(&stop_churn)) {
		struct slot *s = &slots[rnd(&r, NSLOTS)], *o = &slots[rnd(&r, NSLOTS)];
		int k = atomic_load(&s->kind), f;

		n++;
		switch (rnd(&r, 18)) {
		case 0: case 1: case 2:	/* reopen as the slot's initial kind */
			slot_set(s, initial_kind[s - slots], slots[rnd(&r, NSLOTS)].home);
			break;
		case 3:	/* any kind (a kqueue slot stays a kqueue most of the time) */
			if (initial_kind[s - slots] != K_KQ || one_in(&r, 4))
				slot_set(s, (enum kind)rnd(&r, NKINDS), slots[rnd(&r, NSLOTS)].home);
			break;
		case 4:	/* close */
			if (initial_kind[s - slots] != K_KQ || one_in(&r, 2))
				slot_set(s, K_CLOSED, -1);
			break;
		case 5:	/* dup2 another slot's file over this number */
			if (s == o || (initial_kind[s - slots] == K_KQ && !one_in(&r, 4)))
				break;
			atomic_fetch_add(&s->gen, 1);
			if (dup2(o->home, s->home) < 0)
				close(s->home);
			if (s->peer >= 0)
				close(s->peer);
			s->peer = -1;
			atomic_store(&s->kind, atomic_load(&o->kind));
			atomic_fetch_add(&s->gen, 1);
			break;
		case 6: case 7: case 8:	/* make something happen */
			f = s->peer >= 0 ? s->peer : s->home;
			if (write(f, buf, 1 + rnd(&r, 256)) < 0 && k == K_UDP)
				send(s->home, buf, 1 + rnd(&r, 64), MSG_DONTWAIT);
			if (k == K_EVENTFD) {
				uint64_t one = 1;

				if (write(s->home, &one, 8) < 0)
					break;
			}
			break;
		case 9:	/* drain */
			if (read(s->home, buf, sizeof(buf)) < 0 && s->peer >= 0)
				if (read(s->peer, buf, sizeof(buf)) < 0)
					break;
			break;
		case 10:	/* fdinfo of a (maybe) kqueue */
			snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", s->home);
			f = open(path, O_RDONLY | O_CLOEXEC);
			if (f >= 0) {
				while (read(f, buf, sizeof(buf)) > 0)
					;
				close(f);
			}
			break;
		case 11: {	/* poll the kqueues */
			struct pollfd p[6];
			int i;

			for (i = 0; i < 6; i++)
				p[i] = (struct pollfd){ .fd = slots[i].home, .events = POLLIN | POLLOUT };
			poll(p, 6, 0);
			break;
		}
		case 12:	/* a signal for the signalfd */
			kill(getpid(), SIGUSR1);
			break;
		case 13:	/* the regular file grows or shrinks */
			if (k == K_FILE && one_in(&r, 2) && ftruncate(s->home, rnd(&r, 8192)) < 0)
				break;
			break;
		case 14:	/* processes and signals for EVFILT_PROC / EVFILT_SIGNAL */
			switch (rnd(&r, 4)) {
			case 0: short_child((unsigned int)rnd64(&r)); break;
			case 1: kill(getpid(), one_in(&r, 2) ? SIGWINCH : SIGURG); break;
			case 2: kill(long_lived[rnd(&r, 2)], SIGWINCH); break;
			default: break;
			}
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			break;
		case 15: {	/* the file and the directory change (EVFILT_VNODE) */
			char a[80], moved[80];

			snprintf(a, sizeof(a), "%s/e%u", dir_path, rnd(&r, 4));
			switch (rnd(&r, 6)) {
			case 0:
				snprintf(moved, sizeof(moved), "%s.moved", file_path);
				if (rename(file_path, moved) == 0 && rename(moved, file_path) < 0)
					break;
				break;
			case 1: chmod(file_path, one_in(&r, 2) ? 0600 : 0644); break;
			case 2:
				if (link(file_path, a) == 0)
					unlink(a);
				break;
			case 3:
				f = open(a, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
				if (f >= 0)
					close(f);
				break;
			case 4: unlink(a); break;
			default:
				f = open(file_path, O_RDONLY | O_CLOEXEC);
				if (f >= 0) {
					if (read(f, buf, 64) < 0)
						break;
					close(f);
				}
				break;
			}
			break;
		}
		default:
			usleep(200);
			break;
		}
	}
	return (void *)n;
}

/* ---- setup ----------------------------------------------------------------------------- */

static void setup_mem(struct tmem *m)
{
	int i;
	uint64_t r = seed ^ 0x5eed;

	m->base = mmap(NULL, 7 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->base == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	m->chg = (struct raw_kevent *)m->base;
	m->evt = (struct raw_kevent *)(m->base + 2 * PAGE);
	m->ro = (struct raw_kevent *)(m->base + 4 * PAGE);
	m->scratch = m->base + 5 * PAGE;
	m->guard = m->base + PAGE;
	for (i = 0; i < LIST; i++)
		gen_kevent(&r, &m->ro[i], slots[0].home);
	mprotect(m->base + PAGE, PAGE, PROT_NONE);
	mprotect(m->base + 3 * PAGE, PAGE, PROT_NONE);
	mprotect(m->base + 4 * PAGE, PAGE, PROT_READ);
	mprotect(m->base + 6 * PAGE, PAGE, PROT_NONE);
}

static void setup_files(void)
{
	struct sigaction sa;
	socklen_t sl = sizeof(listen_addr);
	int i, fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_nop;	/* no SA_RESTART: interrupted calls return EINTR */
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGSEGV, sig_crash);
	signal(SIGBUS, sig_crash);
	signal(SIGABRT, sig_crash);
	signal(SIGPIPE, SIG_IGN);

	snprintf(fifo_path, sizeof(fifo_path), "/tmp/kq_fuzz.%d.fifo", getpid());
	snprintf(file_path, sizeof(file_path), "/tmp/kq_fuzz.%d.file", getpid());
	snprintf(dir_path, sizeof(dir_path), "/tmp/kq_fuzz.%d.dir", getpid());
	mkfifo(fifo_path, 0600);
	mkdir(dir_path, 0700);
	for (i = 0; i < 2; i++) {	/* two children that live until the end */
		long_lived[i] = fork();
		if (long_lived[i] == 0) {
			signal(SIGWINCH, SIG_IGN);
			for (;;)
				pause();
		}
	}
	for (i = 0; i < RECENT; i++)
		atomic_store(&recent[i], long_lived[i % 2]);
	fd = open(file_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, "kqueue fuzz\n", 12) < 0)
			perror("write");
		close(fd);
	}
	/* ptys: the VM has no devpts on /dev/pts; a private instance then (as tests/fd does). */
	fd = posix_openpt(O_RDWR | O_NOCTTY);
	if (fd < 0 || unlockpt(fd) < 0 || ioctl(fd, TIOCGPTPEER, O_RDWR | O_NOCTTY) < 0) {
		snprintf(pts_dir, sizeof(pts_dir), "/tmp/kq_fuzz_pts.%d", getpid());
		if (mkdir(pts_dir, 0700) == 0 &&
		    mount("devpts", pts_dir, "devpts", 0, "newinstance,ptmxmode=0666,mode=0620") == 0)
			ptmx_dirfd = open(pts_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		else
			printf("# no pty: no devpts (%s)\n", strerror(errno));
	}
	if (fd >= 0)
		close(fd);	/* leaves the probe's slave (if any) to process exit */

	listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	listen_addr.sin_family = AF_INET;
	listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (listener < 0 || bind(listener, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) < 0 ||
	    listen(listener, 64) < 0 || getsockname(listener, (struct sockaddr *)&listen_addr, &sl) < 0) {
		perror("listener");
		exit(2);
	}
	for (i = 0; i < 2; i++) {
		stable_kq[i] = open(KQUEUE_DEVICE, O_RDWR | O_CLOEXEC);
		if (stable_kq[i] < 0) {
			printf("Bail out! open(%s): %s\n", KQUEUE_DEVICE, strerror(errno));
			exit(1);
		}
	}
	for (i = 0; i < NSLOTS; i++) {
		slots[i].home = HOME_BASE + i;
		slots[i].peer = -1;
		slot_set(&slots[i], initial_kind[i], slots[0].home);
	}
	for (i = 0; i < NSLOTS; i++)
		if (atomic_load(&slots[i].kind) != (int)initial_kind[i] && initial_kind[i] != K_CLOSED)
			printf("# could not create a %s\n", kind_name[initial_kind[i]]);
}

/* ---- the end: do the kqueues still work? --------------------------------------------- */

static int kq_works(int kq)
{
	struct raw_kevent ch[2], ev[4];
	struct kq_timespec zero = { 0, 0 };
	uint64_t id = 0x7fffff00;
	int n;

	ch[0] = rkev(id, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 42);
	ch[1] = rkev(id, EVFILT_USER, 0, NOTE_TRIGGER, 0, 42);
	n = raw_kevent(kq, ch, 2, NULL, 0, &zero);
	if (n != 0) {
		printf("# kq %d: add+trigger returned %d (%s)\n", kq, n, strerror(errno));
		return 0;
	}
	/* Other events may be pending too: look for ours among up to 4 batches. */
	for (int round = 0; round < 64; round++) {
		n = raw_kevent(kq, NULL, 0, ev, 4, &zero);
		if (n < 0) {
			printf("# kq %d: collect: %s\n", kq, strerror(errno));
			return 0;
		}
		for (int i = 0; i < n; i++)
			if (ev[i].ident == id && ev[i].filter == EVFILT_USER && ev[i].udata == 42)
				return raw_ctl(kq, id, EVFILT_USER, EV_DELETE, 0, 0) == 0;
		if (n == 0)
			break;
	}
	printf("# kq %d: the triggered EVFILT_USER event was not returned\n", kq);
	return 0;
}

int main(int argc, char **argv)
{
	struct stats tot;
	int i, j, hung = 0, nok, fresh, joined[MAX_THREADS] = { 0 };
	pthread_t churn;
	void *churn_ops;
	int64_t t0, longest = 0;
	const char *longest_call = "";
	double secs;

	if (argc == 2 && !strcmp(argv[1], "--exit"))	/* a re-executed child (NOTE_EXEC) */
		return 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	total_calls = env_long("KQ_FUZZ_CALLS", total_calls);
	/* The compat path differs only in pointer width and the ident/udata masking: a quarter. */
	if (sizeof(void *) == 4)
		total_calls = env_long("KQ_FUZZ32_CALLS", total_calls / 4);
	nthreads = (int)env_long("KQ_FUZZ_THREADS", nthreads);
	hang_secs = env_long("KQ_FUZZ_HANG_SECS", hang_secs);
	if (nthreads < 1 || nthreads > MAX_THREADS)
		nthreads = 4;
	seed = getenv("KQ_FUZZ_SEED") ? strtoull(getenv("KQ_FUZZ_SEED"), NULL, 0) : 0;
	if (!seed)
		seed = (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32);
	printf("TAP version 13\n1..3\n");
	printf("# kq_fuzz (%d-bit): %ld calls, %d threads, seed %llu (KQ_FUZZ_SEED to repeat)\n",
	       (int)sizeof(void *) * 8, total_calls, nthreads, (unsigned long long)seed);

	/*
	 * Low per-user caps (root, writable parameters; restored at exit even after a SIGKILL):
	 * the ENOMEM paths of EV_ADD and timer arming run often, and the number of armed timers
	 * (interrupt load under emulation) stays small. KQ_FUZZ_CAPS=0 keeps the loaded caps.
	 */
	if (env_long("KQ_FUZZ_CAPS", 1) && kq_caps_lower(8192, 64) == 0)
		printf("# caps lowered for the run: max_knotes_per_user=8192 max_timers_per_user=64\n");
	setup_files();
	if (sizeof(void *) == 4) {
		unmapped_addr = 1ULL << 32;
	} else {
		unsigned char vec;

		for (unmapped_addr = 0x7e0000000000ULL;
		     mincore((void *)(uintptr_t)unmapped_addr, PAGE, &vec) == 0 || errno != ENOMEM;
		     unmapped_addr += 1ULL << 30)
			;
	}
	for (i = 0; i < nthreads; i++) {
		workers[i].idx = i;
		workers[i].rng = seed + 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
		setup_mem(&workers[i].m);
	}

	t0 = mono_ns();
	pthread_create(&churn, NULL, churn_main, NULL);
	for (i = 0; i < nthreads; i++)
		pthread_create(&workers[i].th, NULL, worker_main, &workers[i]);

	/* Watchdog: report a call that has been running for hang_secs and give up. */
	for (;;) {
		int running = 0;

		for (i = 0; i < nthreads; i++) {
			long long s = atomic_load(&workers[i].call_start);

			if (s && mono_ns() - s > hang_secs * 1000000000LL && !hung) {
				struct kq_kevent_args *a = &workers[i].last_args;

				hung = 1;
				printf("# HANG: thread %d in ioctl(fd %d, %#lx) for more than %ld s: "
				       "changelist %#llx nchanges %d eventlist %#llx nevents %d timeout %#llx "
				       "kqfd %d flags %#x%s\n", i, workers[i].last_fd, workers[i].last_cmd,
				       hang_secs, (unsigned long long)a->changelist, a->nchanges,
				       (unsigned long long)a->eventlist, a->nevents,
				       (unsigned long long)a->timeout, a->kqfd, a->flags,
				       workers[i].last_args_valid ? "" : " (block pointer not valid)");
			}
		}
		if (hung) {
			printf("not ok 1 every call returned a count or a documented errno # (unfinished)\n");
			printf("not ok 2 no call hung\n");
			printf("not ok 3 the kqueues still work afterwards # (not reached)\n");
			fflush(stdout);
			_exit(1);
		}
		for (i = 0; i < nthreads; i++)
			if (!joined[i] && pthread_tryjoin_np(workers[i].th, NULL) == 0)
				joined[i] = 1;
			else if (!joined[i])
				running = 1;
		if (!running)
			break;
		usleep(200000);
	}
	secs = (mono_ns() - t0) / 1e9;
	atomic_store(&stop_churn, 1);
	/*
	 * No blocking pthread_join(): a 32-bit glibc (2.36) waits there with the time32 futex
	 * system call, which a kernel without CONFIG_COMPAT_32BIT_TIME (the test kernel's
	 * tinyconfig) does not have, and aborts ("The futex facility returned an unexpected
	 * error code").
	 */
	while (pthread_tryjoin_np(churn, &churn_ops) == EBUSY)
		usleep(10000);

	memset(&tot, 0, sizeof(tot));
	for (i = 0; i < nthreads; i++) {
		struct stats *s = &workers[i].st;

		tot.calls += s->calls;
		tot.ok += s->ok;
		tot.records += s->records;
		tot.bad += s->bad;
		tot.foreign += s->foreign;
		tot.blocking += s->blocking;
		tot.eintr_nonblocking += s->eintr_nonblocking;
		for (j = 0; j < MAX_ERRNO; j++) {
			tot.err[j] += s->err[j];
			tot.rec_err[j] += s->rec_err[j];
		}
		if (s->max_call_ns > longest) {
			longest = s->max_call_ns;
			longest_call = s->longest;
		}
	}
	printf("# fuzz: %ld calls, %d threads, seed %llu, %.1f s (%.0f calls/s), %ld churn ops; "
	       "errno histogram: ok=%ld", tot.calls, nthreads, (unsigned long long)seed, secs,
	       tot.calls / secs, (long)(intptr_t)churn_ops, tot.ok);
	for (j = 0; j < MAX_ERRNO; j++)
		if (tot.err[j])
			printf(" %s=%ld", j ? errname(j) : "other", tot.err[j]);
	printf("\n# fuzz: %ld records returned; EV_ERROR data:", tot.records);
	for (j = 0; j < MAX_ERRNO; j++)
		if (tot.rec_err[j])
			printf(" %s=%ld", j ? errname(j) : "0(receipt)", tot.rec_err[j]);
	printf("\n# fuzz: %ld calls on a descriptor that was not (surely) a kqueue; %ld could block "
	       "(interrupted by a signal); %ld EINTR with a zero or tiny timeout; longest call %.1f ms\n",
	       tot.foreign, tot.blocking, tot.eintr_nonblocking, longest / 1e6);

	printf("%sok 1 every call returned a count or a documented errno (%ld violations)\n",
	       tot.bad ? "not " : "", tot.bad);
	printf("# fuzz: longest call %.1f ms: %s\n", longest / 1e6, longest_call);
	printf("ok 2 no call hung (longest %.1f ms, limit %ld s)\n", longest / 1e6, hang_secs);

	/* Every kqueue slot that still holds a kqueue, both stable ones, and a fresh one. */
	nok = 1;
	for (i = 0; i < 2; i++)
		nok &= kq_works(stable_kq[i]);
	for (i = 0; i < NSLOTS; i++)
		if (atomic_load(&slots[i].kind) == K_KQ)
			nok &= kq_works(slots[i].home);
	fresh = open(KQUEUE_DEVICE, O_RDWR | O_CLOEXEC);
	nok &= fresh >= 0 && kq_works(fresh);
	printf("%sok 3 the kqueues still work afterwards\n", nok ? "" : "not ");

	for (i = 0; i < NSLOTS; i++) {
		close(slots[i].home);
		if (slots[i].peer >= 0)
			close(slots[i].peer);
	}
	/* Not waitpid(-1): the caps restorer (kq_caps_lower()) is a child too, waiting for us. */
	for (i = 0; i < 2; i++)
		if (long_lived[i] > 0 && kill(long_lived[i], SIGKILL) == 0)
			waitpid(long_lived[i], NULL, 0);
	usleep(100000);	/* the short-lived ones sleep 50 ms at most */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	unlink(fifo_path);
	unlink(file_path);
	for (i = 0; i < 4; i++) {
		char a[80];

		snprintf(a, sizeof(a), "%s/e%d", dir_path, i);
		unlink(a);
	}
	rmdir(dir_path);
	if (ptmx_dirfd >= 0) {
		umount2(pts_dir, MNT_DETACH);
		rmdir(pts_dir);
	}
	return tot.bad || !nok ? 1 : 0;
}
