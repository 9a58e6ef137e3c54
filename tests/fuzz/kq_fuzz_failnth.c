// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kq_fuzz_failnth: systematic fault injection, the syzkaller way.
 *
 * For each operation (open /dev/kqueue; EV_ADD of EVFILT_USER, EVFILT_TIMER, EVFILT_READ on a
 * pipe, a unix socket, a TCP socket, a regular file, an eventfd, another kqueue; EVFILT_WRITE on
 * a pipe; EV_DELETE; NOTE_TRIGGER; kevent() returning records; EV_RECEIPT; close of a kqueue
 * with knotes), for n = 1, 2, 3, ...: write n to /proc/thread-self/fail-nth, so that the n-th
 * fault site the thread passes (slab or page allocation, copy to or from user space) fails, run
 * the operation once, read fail-nth back (0: the fault was injected), until the operation
 * completes without reaching its n-th site. Each time:
 *  - a failure is -1 with ENOMEM or EFAULT (what an allocation or a user copy failure means);
 *  - a change that failed left nothing behind (EV_DELETE of it is ENOENT), one that succeeded
 *    is there;
 *  - the kqueue still works (add + trigger + collect of an EVFILT_USER event);
 * and at the end, in the same process (the per-user account lives as long as one of the user's
 * kqueues is open), exactly max_timers_per_user timers can be armed: no failure path leaked a
 * timer charge. Leaked memory is kmemleak's (the VM harness scans after the run); a kernel
 * warning is the harness's kernel-log check.
 *
 * Needs CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC, FAULT_INJECTION_USERCOPY and
 * FAULT_INJECTION_DEBUG_FS (kernel/debug.config); skips (TAP SKIP) without /proc/thread-self/
 * fail-nth. Configures /sys/kernel/debug/fail{slab,_page_alloc,_usercopy} as syzkaller does
 * (sleeping allocations may fail, order-0 pages too, no log line per fault) and restores them.
 */
#include "kq_fuzz_common.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_N 2000	/* more fault sites than this in one operation would be a bug */

static int fail_fd = -1;
static int tap_n, failures;

/* ---- fault injection control ------------------------------------------------------- */

struct knob {
	const char *path, *value;
	char saved[32];
	int have;
};
static struct knob knobs[] = {
	{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "N" },
	{ "/sys/kernel/debug/failslab/verbose", "0" },
	{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N" },
	{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N" },
	{ "/sys/kernel/debug/fail_page_alloc/min-order", "0" },
	{ "/sys/kernel/debug/fail_page_alloc/verbose", "0" },
	{ "/sys/kernel/debug/fail_usercopy/verbose", "0" },
};
#define NKNOBS (int)(sizeof(knobs) / sizeof(knobs[0]))

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

static void knobs_set(void)
{
	int i, fd;
	ssize_t n;

	for (i = 0; i < NKNOBS; i++) {
		fd = open(knobs[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			printf("# %s: %s\n", knobs[i].path, strerror(errno));
			continue;
		}
		n = read(fd, knobs[i].saved, sizeof(knobs[i].saved) - 1);
		close(fd);
		if (n <= 0)
			continue;
		knobs[i].saved[n] = 0;
		knobs[i].have = write_str(knobs[i].path, knobs[i].value) == 0;
		if (!knobs[i].have)
			printf("# cannot write %s: %s\n", knobs[i].path, strerror(errno));
	}
}

static void knobs_restore(void)
{
	int i;

	for (i = 0; i < NKNOBS; i++)
		if (knobs[i].have)
			write_str(knobs[i].path, knobs[i].saved);
}

/*
 * Arms the n-th fault site of this thread (0: disarms). Nothing else may run in between: no
 * printf. The write's own copy from user space is a fault site while a count is still armed,
 * so disarming can fail with EFAULT (it then consumed the last count): write again.
 */
static void fail_nth(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n), i;

	for (i = 0; i < 8; i++)
		if (pwrite(fail_fd, buf, len, 0) == len)
			return;
	printf("Bail out! write %u to fail-nth: %s\n", n, strerror(errno));
	exit(1);
}

/*
 * Was the armed fault injected? Reading gives the count still to go (0: injected). The read's
 * own copy to user space is a fault site too, but the value is taken before it: a read that
 * fails with EFAULT had 1 to go, i.e. not injected. Then disarm.
 */
static int fault_injected(void)
{
	char buf[16] = "";
	ssize_t n = pread(fail_fd, buf, sizeof(buf) - 1, 0);

	fail_nth(0);
	return n > 0 && buf[0] == '0';
}

/* ---- the operations ------------------------------------------------------------------ */

struct ctx {
	int kq, kq2;		/* the kqueue under test, and another one (watched) */
	int a, b;		/* the watched descriptor and its peer */
	int ident;		/* the knote the operation adds (for the consistency check) */
	int filter;
	int result;		/* the operation's result (count or -1) */
	pid_t pid;		/* a child watched by EVFILT_PROC/PROCDESC, reaped at teardown */
	struct raw_kevent ev[8];
	struct kq_timespec zero;
};

static int kq_open(void)
{
	return open(KQUEUE_DEVICE, O_RDWR | O_CLOEXEC);
}

/* add + trigger + collect of an EVFILT_USER event: 1 if the kqueue works. */
static int kq_works(int kq, const char **why)
{
	struct raw_kevent ch[2], ev[8];
	struct kq_timespec zero = { 0, 0 };
	int n, i, round;

	ch[0] = rkev(4242, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 7);
	ch[1] = rkev(4242, EVFILT_USER, 0, NOTE_TRIGGER, 0, 7);
	if (raw_kevent(kq, ch, 2, NULL, 0, &zero) != 0) {
		*why = "add+trigger failed";
		return 0;
	}
	for (round = 0; round < 8; round++) {
		n = raw_kevent(kq, NULL, 0, ev, 8, &zero);
		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			if (ev[i].ident == 4242 && ev[i].filter == EVFILT_USER && ev[i].udata == 7)
				return raw_ctl(kq, 4242, EVFILT_USER, EV_DELETE, 0, 0) == 0 ||
				       (*why = "delete failed", 0);
	}
	*why = "triggered event not returned";
	return 0;
}

static int setup_kq(struct ctx *c)
{
	c->kq = kq_open();
	return c->kq >= 0 ? 0 : -1;
}

static int setup_pipe(struct ctx *c)
{
	int p[2];

	if (setup_kq(c) || pipe2(p, O_NONBLOCK | O_CLOEXEC))
		return -1;
	c->a = p[0];
	c->b = p[1];
	return write(c->b, "x", 1) == 1 ? 0 : -1;
}

static int setup_pipe_w(struct ctx *c)
{
	int p[2];

	if (setup_kq(c) || pipe2(p, O_NONBLOCK | O_CLOEXEC))
		return -1;
	c->a = p[1];
	c->b = p[0];
	return 0;
}

static int setup_unix(struct ctx *c)
{
	int sv[2];

	if (setup_kq(c) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		return -1;
	c->a = sv[0];
	c->b = sv[1];
	return write(c->b, "x", 1) == 1 ? 0 : -1;
}

static int setup_tcp(struct ctx *c)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int l, s, a;

	if (setup_kq(c))
		return -1;
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || s < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sin, &sl) ||
	    connect(s, (struct sockaddr *)&sin, sizeof(sin)))
		return -1;
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	if (a < 0)
		return -1;
	c->a = s;
	c->b = a;
	return write(c->b, "x", 1) == 1 ? 0 : -1;
}

static char file_path[64];

static int setup_file(struct ctx *c)
{
	if (setup_kq(c))
		return -1;
	c->a = open(file_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	return c->a >= 0 && write(c->a, "data", 4) == 4 && lseek(c->a, 0, SEEK_SET) == 0 ? 0 : -1;
}

static int setup_eventfd(struct ctx *c)
{
	if (setup_kq(c))
		return -1;
	c->a = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
	return c->a >= 0 ? 0 : -1;
}

static int setup_other_kq(struct ctx *c)
{
	if (setup_kq(c))
		return -1;
	c->a = kq_open();
	if (c->a < 0)
		return -1;
	/* something pending on the watched kqueue */
	return raw_ctl(c->a, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0) ? -1 : 0;
}

/* A child that waits for its pipe to close (c->b: the write end kept here, c->pid). */
static int setup_child(struct ctx *c)
{
	int p[2];

	if (setup_kq(c) || pipe2(p, O_CLOEXEC))
		return -1;
	c->pid = fork();
	if (c->pid == 0) {
		char x;

		close(p[1]);
		(void)!read(p[0], &x, 1);
		_exit(0);
	}
	close(p[0]);
	c->b = p[1];
	return c->pid > 0 ? 0 : -1;
}

static int setup_pidfd(struct ctx *c)
{
	if (setup_child(c))
		return -1;
	c->a = (int)syscall(SYS_pidfd_open, c->pid, 0);
	return c->a >= 0 ? 0 : -1;
}

static int setup_dir(struct ctx *c)
{
	if (setup_kq(c))
		return -1;
	c->a = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return c->a >= 0 ? 0 : -1;
}

/* Three triggered user events, one timer, one pipe knote: for collect, receipt, close. */
static int setup_busy(struct ctx *c)
{
	int i;

	if (setup_pipe(c))
		return -1;
	for (i = 1; i <= 3; i++)
		if (raw_ctl(c->kq, i, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0))
			return -1;
	if (raw_ctl(c->kq, 1, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 100) ||
	    raw_ctl(c->kq, c->a, EVFILT_READ, EV_ADD, 0, 0))
		return -1;
	return 0;
}

static int setup_registered_user(struct ctx *c)
{
	if (setup_kq(c))
		return -1;
	return raw_ctl(c->kq, 9, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0) ? -1 : 0;
}

static int setup_registered_pipe(struct ctx *c)
{
	if (setup_pipe(c))
		return -1;
	return raw_ctl(c->kq, c->a, EVFILT_READ, EV_ADD, 0, 0) ? -1 : 0;
}

/* An EV_ADD of (c->ident, c->filter) with nevents = 0: the errno comes back from the ioctl. */
static int do_add(struct ctx *c, uint64_t ident, int filter, unsigned int fflags, int64_t data)
{
	struct raw_kevent k = rkev(ident, filter, EV_ADD, fflags, data, 0);

	c->ident = (int)ident;
	c->filter = filter;
	return c->result = raw_kevent(c->kq, &k, 1, NULL, 0, &c->zero);
}

static int op_open(struct ctx *c) { return c->result = c->kq = kq_open(); }
static int op_add_user(struct ctx *c) { return do_add(c, 1, EVFILT_USER, 0, 0); }
static int op_add_timer(struct ctx *c) { return do_add(c, 1, EVFILT_TIMER, NOTE_SECONDS, 100); }
static int op_add_read(struct ctx *c) { return do_add(c, c->a, EVFILT_READ, 0, 0); }
static int op_add_write(struct ctx *c) { return do_add(c, c->a, EVFILT_WRITE, 0, 0); }
static int op_add_signal(struct ctx *c) { return do_add(c, SIGUSR2, EVFILT_SIGNAL, 0, 0); }
static int op_add_proc(struct ctx *c)
{
	return do_add(c, (uint64_t)c->pid, EVFILT_PROC, NOTE_EXIT | NOTE_FORK | NOTE_EXEC | NOTE_TRACK, 0);
}
static int op_add_procdesc(struct ctx *c) { return do_add(c, c->a, EVFILT_PROCDESC, NOTE_EXIT, 0); }
static int op_add_vnode(struct ctx *c)
{
	return do_add(c, c->a, EVFILT_VNODE, NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_DELETE, 0);
}

static int op_delete_user(struct ctx *c)
{
	struct raw_kevent k = rkev(9, EVFILT_USER, EV_DELETE, 0, 0, 0);

	return c->result = raw_kevent(c->kq, &k, 1, NULL, 0, &c->zero);
}

static int op_delete_pipe(struct ctx *c)
{
	struct raw_kevent k = rkev(c->a, EVFILT_READ, EV_DELETE, 0, 0, 0);

	return c->result = raw_kevent(c->kq, &k, 1, NULL, 0, &c->zero);
}

static int op_trigger(struct ctx *c)
{
	struct raw_kevent k = rkev(9, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);

	return c->result = raw_kevent(c->kq, &k, 1, NULL, 0, &c->zero);
}

static int op_collect(struct ctx *c)
{
	return c->result = raw_kevent(c->kq, NULL, 0, c->ev, 8, &c->zero);
}

static int op_receipt(struct ctx *c)
{
	struct raw_kevent k[2] = {
		rkev(20, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, 0),
		rkev(21, EVFILT_USER, EV_DELETE | EV_RECEIPT, 0, 0, 0),	/* ENOENT record */
	};

	return c->result = raw_kevent(c->kq, k, 2, c->ev, 8, &c->zero);
}

static int op_close(struct ctx *c)
{
	int r = close(c->kq);

	c->kq = -1;
	return c->result = r;
}

/*
 * After the operation: does the kqueue work, and is the knote the operation added there exactly
 * when the operation succeeded? Returns NULL or what is wrong.
 */
static const char *check_add(struct ctx *c, int failed)
{
	const char *why = NULL;
	int e = raw_ctl(c->kq, c->ident, c->filter, EV_DELETE, 0, 0);

	if (failed && e != ENOENT)
		return e ? "EV_DELETE after a failed EV_ADD: not ENOENT" :
			   "a failed EV_ADD left its knote registered";
	if (!failed && e)
		return "EV_DELETE after a successful EV_ADD failed";
	if (!kq_works(c->kq, &why))
		return why;
	return NULL;
}

static const char *check_kq(struct ctx *c, int failed)
{
	const char *why = NULL;

	(void)failed;
	return kq_works(c->kq, &why) ? NULL : why;
}

static const char *check_open(struct ctx *c, int failed)
{
	const char *why = NULL;

	if (failed)
		c->kq = kq_open();	/* a failed open must not break the next one */
	if (c->kq < 0)
		return "open after a failed open failed";
	return kq_works(c->kq, &why) ? NULL : why;
}

static const char *check_close(struct ctx *c, int failed)
{
	const char *why = NULL;

	(void)failed;
	c->kq = kq_open();
	if (c->kq < 0)
		return "open after close failed";
	/* the watched pipe is still fine and can be watched again */
	if (raw_ctl(c->kq, c->a, EVFILT_READ, EV_ADD, 0, 0))
		return "EVFILT_READ on the pipe after closing the kqueue failed";
	return kq_works(c->kq, &why) ? NULL : why;
}

struct op {
	const char *name;
	int (*setup)(struct ctx *);
	int (*run)(struct ctx *);
	const char *(*check)(struct ctx *, int failed);
};

static const struct op ops[] = {
	{ "open /dev/kqueue", NULL, op_open, check_open },
	{ "EV_ADD EVFILT_USER", setup_kq, op_add_user, check_add },
	{ "EV_ADD EVFILT_TIMER", setup_kq, op_add_timer, check_add },
	{ "EV_ADD EVFILT_READ pipe", setup_pipe, op_add_read, check_add },
	{ "EV_ADD EVFILT_WRITE pipe", setup_pipe_w, op_add_write, check_add },
	{ "EV_ADD EVFILT_READ unix socket", setup_unix, op_add_read, check_add },
	{ "EV_ADD EVFILT_READ tcp socket", setup_tcp, op_add_read, check_add },
	{ "EV_ADD EVFILT_READ regular file", setup_file, op_add_read, check_add },
	{ "EV_ADD EVFILT_READ eventfd", setup_eventfd, op_add_read, check_add },
	{ "EV_ADD EVFILT_READ kqueue", setup_other_kq, op_add_read, check_add },
	{ "EV_ADD EVFILT_SIGNAL", setup_kq, op_add_signal, check_add },
	{ "EV_ADD EVFILT_PROC child", setup_child, op_add_proc, check_add },
	{ "EV_ADD EVFILT_PROCDESC pidfd", setup_pidfd, op_add_procdesc, check_add },
	{ "EV_ADD EVFILT_VNODE regular file", setup_file, op_add_vnode, check_add },
	{ "EV_ADD EVFILT_VNODE directory", setup_dir, op_add_vnode, check_add },
	{ "EV_DELETE EVFILT_USER", setup_registered_user, op_delete_user, check_kq },
	{ "EV_DELETE EVFILT_READ pipe", setup_registered_pipe, op_delete_pipe, check_kq },
	{ "NOTE_TRIGGER", setup_registered_user, op_trigger, check_kq },
	{ "kevent() returning records", setup_busy, op_collect, check_kq },
	{ "EV_RECEIPT", setup_busy, op_receipt, check_kq },
	{ "close kqueue with knotes", setup_busy, op_close, check_close },
};
#define NOPS (int)(sizeof(ops) / sizeof(ops[0]))

static void teardown(struct ctx *c)
{
	if (c->kq >= 0)
		close(c->kq);
	if (c->kq2 >= 0)
		close(c->kq2);
	if (c->a >= 0)
		close(c->a);
	if (c->b >= 0)
		close(c->b);
	if (c->pid > 0)
		waitpid(c->pid, NULL, 0);	/* the child leaves when its pipe closed */
}

static void ctx_init(struct ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->kq = c->kq2 = c->a = c->b = -1;
}

/* Runs one operation under fail-nth = 1, 2, ... Returns the number of faults injected. */
static long run_op(const struct op *op, long *bad)
{
	struct ctx c;
	long faults = 0, n, errs[4] = { 0 };	/* ENOMEM, EFAULT, success, other */
	int r, e, injected;
	const char *why;

	for (n = 1; n <= MAX_N; n++) {
		ctx_init(&c);
		if (op->setup && op->setup(&c)) {
			printf("# %s: setup failed: %s\n", op->name, strerror(errno));
			(*bad)++;
			teardown(&c);
			return faults;
		}
		fail_nth((unsigned int)n);
		r = op->run(&c);
		e = errno;
		injected = fault_injected();
		if (!injected) {
			/* Every fault site passed: the operation must have succeeded. */
			if (r < 0) {
				printf("# %s: failed with %s without an injected fault (n=%ld)\n",
				       op->name, errname(e), n);
				(*bad)++;
			} else if ((why = op->check(&c, 0))) {
				printf("# %s: after success (n=%ld): %s\n", op->name, n, why);
				(*bad)++;
			}
			teardown(&c);
			break;
		}
		faults++;
		if (r < 0 && e != ENOMEM && e != EFAULT) {
			printf("# %s: fault %ld: errno %s (expected ENOMEM or EFAULT)\n", op->name, n,
			       errname(e));
			(*bad)++;
			errs[3]++;
		} else {
			errs[r < 0 ? (e == ENOMEM ? 0 : 1) : 2]++;
		}
		if ((why = op->check(&c, r < 0))) {
			printf("# %s: after fault %ld (result %d %s): %s\n", op->name, n, r,
			       r < 0 ? errname(e) : "", why);
			(*bad)++;
		}
		teardown(&c);
	}
	if (n > MAX_N) {
		printf("# %s: still injecting after %d fault sites\n", op->name, MAX_N);
		(*bad)++;
	}
	printf("# failnth: %s: %ld faults injected (ENOMEM %ld, EFAULT %ld, succeeded anyway %ld, "
	       "other %ld)\n", op->name, faults, errs[0], errs[1], errs[2], errs[3]);
	return faults;
}

/*
 * Exactly `cap` timers, then exactly `kcap` knotes in all (the timers included), fit: no
 * failure path leaked a timer or knote charge. 1 if so.
 */
static int caps_exact(long cap, long kcap)
{
	struct raw_kevent ch[256];
	int kq = kq_open(), ok = 0, n, e;
	long i, j;

	if (kq < 0)
		return 0;
	for (i = 0; i < cap; i++)
		if ((e = raw_ctl(kq, i, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 3600))) {
			printf("# timer %ld of %ld: %s\n", i + 1, cap, strerror(e));
			goto out;
		}
	e = raw_ctl(kq, cap, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 3600);
	if (e != ENOMEM) {
		printf("# timer %ld (over the cap): %s, expected ENOMEM\n", cap + 1,
		       e ? strerror(e) : "succeeded");
		goto out;
	}
	if (kcap < 0) {
		ok = 1;
		goto out;
	}
	for (i = cap; i < kcap; i += n) {
		n = kcap - i < 256 ? (int)(kcap - i) : 256;
		for (j = 0; j < n; j++)
			ch[j] = rkev(i + j, EVFILT_USER, EV_ADD, 0, 0, 0);
		if (raw_kevent(kq, ch, n, NULL, 0, &(struct kq_timespec){ 0, 0 }) != 0) {
			printf("# knotes %ld..%ld of %ld: %s\n", i + 1, i + n, kcap, strerror(errno));
			goto out;
		}
	}
	e = raw_ctl(kq, kcap, EVFILT_USER, EV_ADD, 0, 0);
	ok = e == ENOMEM;
	if (!ok)
		printf("# knote %ld (over the cap): %s, expected ENOMEM\n", kcap + 1,
		       e ? strerror(e) : "succeeded");
out:
	close(kq);
	return ok;
}

int main(void)
{
	long total = 0, bad, timer_cap, knote_cap = -1;
	int i, sentinel;
	int64_t t0 = mono_ns();

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..%d\n", NOPS + 1);
	fail_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (fail_fd < 0) {
		printf("# /proc/thread-self/fail-nth: %s (kernel without CONFIG_FAULT_INJECTION?)\n",
		       strerror(errno));
		for (i = 0; i < NOPS + 1; i++)
			printf("ok %d failnth %d # SKIP no fail-nth\n", i + 1, i + 1);
		return 0;
	}
	sentinel = kq_open();	/* keeps this user's account alive for the final cap check */
	if (sentinel < 0) {
		printf("Bail out! open(%s): %s\n", KQUEUE_DEVICE, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(file_path, sizeof(file_path), "/tmp/kq_failnth.%d", getpid());
	/* Low caps make the final leak check cheap (restored at exit, even after SIGKILL). */
	if (kq_caps_lower(2048, 256) == 0)
		knote_cap = 2048;
	timer_cap = kq_param_get("max_timers_per_user");
	if (timer_cap <= 0)
		timer_cap = 4096;	/* rust/kqueue_main.rs default */
	knobs_set();

	for (i = 0; i < NOPS; i++) {
		bad = 0;
		total += run_op(&ops[i], &bad);
		printf("%sok %d failnth: %s\n", bad ? "not " : "", ++tap_n, ops[i].name);
		failures += bad != 0;
	}
	knobs_restore();
	printf("# failnth: total %ld faults injected in %d operations, %.1f s\n", total, NOPS,
	       (mono_ns() - t0) / 1e9);

	i = caps_exact(timer_cap, knote_cap);
	printf("%sok %d failnth: afterwards exactly max_timers_per_user (%ld) timers and "
	       "max_knotes_per_user (%ld%s) knotes fit: no charge leaked\n", i ? "" : "not ",
	       ++tap_n, timer_cap, knote_cap, knote_cap < 0 ? ": unchanged, not checked" : "");
	failures += !i;
	close(sentinel);
	unlink(file_path);
	return failures ? 1 : 0;
}
