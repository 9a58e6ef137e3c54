// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kq_fuzz_limits: per-user caps and privilege boundaries, as an unprivileged user.
 *
 * The VM runs the tests as root; each case here drops to uid 1000 (and 1001) with setuid()
 * in its own forked process (the kselftest harness forks every TEST), so what is checked is
 * what an ordinary user gets:
 *  - the per-user knote cap (module parameter max_knotes_per_user) holds exactly: the cap-th
 *    knote is accepted, the next is ENOMEM, across all of the user's kqueues, timers included;
 *    freeing one knote makes room for exactly one; the count is given back by close() and by
 *    process exit (while another kqueue of the user keeps the account alive);
 *  - the timer cap (max_timers_per_user) likewise, and EVFILT_USER still works at it;
 *  - a kqueue's table of descriptor knotes (by descriptor number) is charged to the same cap,
 *    one knote per 64 slots: a descriptor number whose table growth passes the cap is ENOMEM,
 *    and close() gives the table's charge back;
 *  - two users' accounts are independent: uid 1001 and root add knotes while uid 1000 is at
 *    its cap;
 *  - a kqueue inherited by fork() cannot be used in the child (EBADF, through kevent() and
 *    through the raw ioctl) and the child's attempts change nothing for the parent;
 *  - /proc/<pid>/fdinfo of a kqueue with knotes of every kind shows no kernel address.
 * The caps are read from /sys/module/kqueue/parameters/ when readable, else the defaults of
 * rust/kqueue_main.rs (262144 and 4096) are assumed, which is what the test VM loads.
 */
#include "kq_test_common.h"
#include "kq_fuzz_common.h"

#include <ctype.h>
#include <grp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#define USER_A 1000
#define USER_B 1001
#define BATCH 4096

KQ_SLOW_FIXTURE

/*
 * The caps under test. With writable module parameters (root), they are lowered for this
 * process's lifetime (kq_caps_lower(): restored at exit, even after a SIGKILL) so that
 * "exactly at the cap" costs 4096 knotes, not 262144 (over a minute per fill under TCG with
 * KASAN); KQ_LIMITS_FULL=1 keeps the loaded values (make fuzz sets it). Otherwise the
 * defaults of rust/kqueue_main.rs are assumed, which is what the test VM loads.
 */
#define LOW_KNOTES 4096
#define LOW_TIMERS 512

static long knote_cap(void)
{
	long v = kq_param_get("max_knotes_per_user");

	return v > 0 ? v : 262144;
}

static long timer_cap(void)
{
	long v = kq_param_get("max_timers_per_user");

	return v > 0 ? v : 4096;
}

__attribute__((constructor)) static void choose_caps(void)
{
	long k = kq_param_get("max_knotes_per_user"), t = kq_param_get("max_timers_per_user");

	printf("# limits: loaded with max_knotes_per_user=%ld max_timers_per_user=%ld%s\n", k, t,
	       k < 0 ? " (not readable: assuming the defaults 262144 and 4096)" : "");
	if (env_long("KQ_LIMITS_FULL", 0))
		printf("# limits: KQ_LIMITS_FULL: testing at the loaded caps\n");
	else if (kq_caps_lower(LOW_KNOTES, LOW_TIMERS) == 0)
		printf("# limits: testing at max_knotes_per_user=%d max_timers_per_user=%d (set for "
		       "this test, restored at its end; KQ_LIMITS_FULL=1 for the loaded values)\n",
		       LOW_KNOTES, LOW_TIMERS);
	else
		printf("# limits: cannot set the caps (not root, or read-only parameters): testing "
		       "at the loaded ones\n");
	fflush(stdout);
}

/* Becomes `uid` for good (this process only). 0 or -1 (not root: the case skips). */
static int become(uid_t uid)
{
	if (geteuid() != 0)
		return -1;
	if (setgroups(0, NULL) || setgid(uid) || setuid(uid))
		return -1;
	return 0;
}

#define BECOME(uid)                                                            \
	do {                                                                   \
		if (geteuid() != 0)                                            \
			SKIP(return, "needs root to switch users");            \
		ASSERT_EQ(0, become(uid)) TH_LOG("setuid(%d): %s", uid, strerror(errno)); \
	} while (0)

/*
 * Adds `count` EVFILT_USER knotes with idents base, base+1, ... in batches. Returns 0, or the
 * errno of the batch that failed (its earlier changes are applied, later ones not).
 */
static int fill(int kq, uint64_t base, long count)
{
	static struct kevent ch[BATCH];
	struct timespec zero = { 0, 0 };
	long done = 0;
	int n, i;

	while (done < count) {
		n = count - done < BATCH ? (int)(count - done) : BATCH;
		for (i = 0; i < n; i++)
			EV_SET(&ch[i], base + done + i, EVFILT_USER, EV_ADD, 0, 0, NULL);
		if (kevent(kq, ch, n, NULL, 0, &zero) < 0)
			return errno;
		done += n;
	}
	return 0;
}

static int timers(int kq, uint64_t base, long count)
{
	long i;
	int e;

	for (i = 0; i < count; i++)
		if ((e = timer_add(kq, base + i, 0, NOTE_SECONDS, 3600)))
			return e;
	return 0;
}

/* Exactly `cap` more EVFILT_USER knotes fit into kq, not one more: 0, or what went wrong. */
static int fits_exactly(int kq, uint64_t base, long cap)
{
	int e = fill(kq, base, cap);

	if (e)
		return e;
	return user_add(kq, base + cap, 0) == ENOMEM ? 0 : -2;
}

TEST_F_TIMEOUT(slow, knote_cap_is_exact_per_user, 900)
{
	long cap = knote_cap();
	int64_t t0 = now_ns();
	int kq2;

	BECOME(USER_A);
	KQ_OPEN(kq);
	TH_LOG("max_knotes_per_user = %ld", cap);
	/* cap - 1 user events in one kqueue, and one timer in another: cap knotes */
	ASSERT_OK(fill(kq, 0, cap - 1));
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	ASSERT_OK(timer_add(kq2, 1, 0, NOTE_SECONDS, 3600));
	/* the user is at the cap, in every kqueue, for every filter */
	ASSERT_ERRNO(ENOMEM, user_add(kq, cap, 0));
	ASSERT_ERRNO(ENOMEM, user_add(kq2, 5, 0));
	ASSERT_ERRNO(ENOMEM, timer_add(kq2, 2, 0, NOTE_SECONDS, 3600));
	/* modifying an existing knote is not a new one */
	ASSERT_OK(user_add(kq, 0, EV_CLEAR));
	ASSERT_OK(user_trigger(kq, 7));
	/* one freed, one fits */
	ASSERT_OK(user_del(kq, 3));
	ASSERT_OK(user_add(kq2, 5, 0));
	ASSERT_ERRNO(ENOMEM, user_add(kq2, 6, 0));
	fprintf(stderr, "# limits: %ld knotes (the cap) in %.1f s\n", cap, (now_ns() - t0) / 1e9);
	/* close() gives the whole kqueue's count back: the other kqueue holds 2 (timer, user 5) */
	close(kq);
	kq = kqueue();
	ASSERT_LE(0, kq);
	ASSERT_OK(fits_exactly(kq, 1000000, cap - 2));
	close(kq);
	close(kq2);
}

TEST_F_TIMEOUT(slow, knote_cap_restored_after_process_exit, 900)
{
	long cap = knote_cap();
	int sentinel, status;
	pid_t pid;

	BECOME(USER_A);
	/* The sentinel keeps uid 1000's account alive across the child's exit. */
	sentinel = kqueue();
	ASSERT_LE(0, sentinel);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int kq = kqueue();

		/* at the cap and over it, then exit without closing anything */
		if (kq < 0 || fill(kq, 0, cap) || user_add(kq, cap, 0) != ENOMEM)
			_exit(1);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child could not fill exactly the cap (status %#x)", status);
	ASSERT_OK(fits_exactly(sentinel, 0, cap));
	close(sentinel);
}

TEST_F_TIMEOUT(slow, users_are_accounted_independently, 900)
{
	long cap = knote_cap();
	int go[2], done[2], status, kq;
	pid_t a, b;
	char c;

	if (geteuid() != 0)
		SKIP(return, "needs root to switch users");
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	a = fork();
	ASSERT_LE(0, a);
	if (a == 0) {	/* uid 1000 at its cap, until told to go */
		if (become(USER_A) || (kq = kqueue()) < 0 || fill(kq, 0, cap) ||
		    user_add(kq, cap, 0) != ENOMEM)
			_exit(1);
		if (write(go[1], "x", 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(2);
		_exit(user_add(kq, cap, 0) == ENOMEM ? 0 : 3);
	}
	ASSERT_EQ(1, read(go[0], &c, 1)) TH_LOG("uid 1000 could not reach its cap");
	b = fork();
	ASSERT_LE(0, b);
	if (b == 0) {	/* uid 1001 is not affected */
		if (become(USER_B) || (kq = kqueue()) < 0 || fill(kq, 0, 1000) ||
		    timer_add(kq, 1, 0, NOTE_SECONDS, 3600))
			_exit(1);
		_exit(0);
	}
	ASSERT_EQ(b, waitpid(b, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("uid 1001 could not add knotes while uid 1000 is at its cap");
	/* nor is root */
	KQ_OPEN(rkq);
	EXPECT_EQ(0, fill(rkq, 0, 1000));
	close(rkq);
	ASSERT_EQ(1, write(done[1], "x", 1));
	ASSERT_EQ(a, waitpid(a, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("uid 1000's cap changed while the others added (status %#x)", status);
}

/*
 * The descriptor table: a knote on a descriptor below 64 costs 2 (the table's first 64 slots
 * and the knote), one on descriptor 1000 grows the table to 1024 slots: 15 more, and 1 for the
 * knote.
 */
TEST_F_TIMEOUT(slow, descriptor_table_is_charged_to_the_cap, 900)
{
	long cap = knote_cap();
	struct kevent ch;
	int p[2], hi = 1000;

	BECOME(USER_A);
	ASSERT_EQ(0, pipe(p));
	ASSERT_GT(64, p[0]);
	ASSERT_EQ(hi, dup2(p[0], hi)) TH_LOG("dup2: %s", strerror(errno));
	KQ_OPEN(kq);
	EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	ASSERT_EQ(0, kevent(kq, &ch, 1, NULL, 0, NULL));
	/* cap - 2 - 15: one unit short of what descriptor 1000 needs */
	ASSERT_OK(fill(kq, 0, cap - 2 - 16 + 1));
	EV_SET(&ch, hi, EVFILT_READ, EV_ADD, 0, 0, NULL);
	ASSERT_EQ(-1, kevent(kq, &ch, 1, NULL, 0, NULL));
	ASSERT_EQ(ENOMEM, errno);
	/* the failed registration left nothing charged: one freed, and it fits exactly */
	ASSERT_OK(user_del(kq, 0));
	ASSERT_EQ(0, kevent(kq, &ch, 1, NULL, 0, NULL)) TH_LOG("%s", strerror(errno));
	ASSERT_ERRNO(ENOMEM, user_add(kq, 0, 0));
	/* a descriptor the table already covers costs its knote alone */
	ASSERT_OK(user_del(kq, 1));
	EV_SET(&ch, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	ASSERT_EQ(0, kevent(kq, &ch, 1, NULL, 0, NULL)) TH_LOG("%s", strerror(errno));
	ASSERT_ERRNO(ENOMEM, user_add(kq, 1, 0));
	/* close() gives the knotes and the table back */
	close(kq);
	kq = kqueue();
	ASSERT_LE(0, kq);
	ASSERT_OK(fits_exactly(kq, 0, cap));
	close(kq);
}

TEST_F_TIMEOUT(slow, timer_cap_is_exact_per_user, 300)
{
	long cap = timer_cap();

	BECOME(USER_A);
	KQ_OPEN(kq);
	KQ_OPEN(kq2);
	ASSERT_OK(timers(kq, 0, cap - 1));
	ASSERT_OK(timers(kq2, 0, 1));
	ASSERT_ERRNO(ENOMEM, timer_add(kq, cap, 0, NOTE_SECONDS, 3600));
	ASSERT_ERRNO(ENOMEM, timer_add(kq2, 1, 0, NOTE_SECONDS, 3600));
	/* re-adding an armed timer re-arms it, it is not a new one */
	ASSERT_OK(timer_add(kq, 0, 0, NOTE_SECONDS, 1800));
	/* other filters are not timers */
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(kq_ctl(kq, 0, EVFILT_TIMER, EV_DELETE, 0, 0, 0));
	ASSERT_OK(timer_add(kq2, 1, 0, NOTE_SECONDS, 3600));
	ASSERT_ERRNO(ENOMEM, timer_add(kq2, 2, 0, NOTE_SECONDS, 3600));
	close(kq);
	KQ_OPEN(kq3);
	ASSERT_OK(timers(kq3, 0, cap - 2));
	ASSERT_ERRNO(ENOMEM, timer_add(kq3, cap, 0, NOTE_SECONDS, 3600));
	close(kq3);
	close(kq2);
}

/* A fork child may not use its parent's kqueue, whoever the users are. */
static void fork_child_check(struct __test_metadata *_metadata, int as_user)
{
	struct kevent ev[2], ch;
	struct timespec zero = { 0, 0 };
	int status;
	pid_t pid;

	if (as_user)
		BECOME(USER_A);
	KQ_OPEN(kq);
	ASSERT_OK(user_add(kq, 1, 0));
	ASSERT_OK(user_trigger(kq, 1));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kq_kevent_args a;
		int bad = 0;

		EV_SET(&ch, 2, EVFILT_USER, EV_ADD, 0, 0, NULL);
		bad |= !(kevent(kq, NULL, 0, ev, 2, &zero) == -1 && errno == EBADF) << 0;
		bad |= !(kevent(kq, &ch, 1, NULL, 0, &zero) == -1 && errno == EBADF) << 1;
		bad |= !(kevent(kq, &ch, 1, ev, 2, &zero) == -1 && errno == EBADF) << 2;
		memset(&a, 0, sizeof(a));	/* raw, without kqfd */
		a.eventlist = (uintptr_t)ev;
		a.nevents = 2;
		a.timeout = (uintptr_t)&zero;
		bad |= !(ioctl(kq, KQIOC_KEVENT, &a) == -1 && errno == EBADF) << 3;
		a.kqfd = kq;
		a.flags = KQ_KEVENT_KQFD;
		bad |= !(ioctl(kq, KQIOC_KEVENT, &a) == -1 && errno == EBADF) << 4;
		bad |= (close(kq) != 0) << 5;
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("checks failed in the child: mask %#x",
						 WEXITSTATUS(status));
	/* the parent's kqueue is as it was: the event is there, ident 2 was not added */
	ASSERT_EQ(1, kq_poll(kq, ev, 2));
	EXPECT_EQ(1, ev[0].ident);
	ASSERT_ERRNO(ENOENT, user_del(kq, 2));
	close(kq);
}

TEST(fork_child_gets_ebadf_root)
{
	fork_child_check(_metadata, 0);
}

TEST(fork_child_gets_ebadf_unprivileged)
{
	fork_child_check(_metadata, 1);
}

/*
 * Where an fdinfo text shows something that could be a kernel address, or NULL: a run of 12
 * or more hex digits (a pointer printed with %px or %lx, with or without 0x: ffff888...,
 * ff11... under 5-level paging), or a decimal number of 2^47 or more.
 */
static const char *kernel_address_in(const char *text)
{
	const char *p = text, *q;
	char *end;

	while (*p) {
		if (p != text && isalnum((unsigned char)p[-1])) {
			p++;
			continue;
		}
		if (p[0] == '0' && p[1] == 'x')
			p += 2;
		for (q = p; isxdigit((unsigned char)*q); q++)
			;
		if (q - p >= 12)
			return p;
		if (isdigit((unsigned char)*p) && strtoull(p, &end, 10) >= (1ULL << 47))
			return p;
		p = q > p ? q : p + 1;
	}
	return NULL;
}

TEST(fdinfo_shows_no_kernel_addresses)
{
	char text[8192];
	int p[2], sv[2], efd, other, lines = 0;
	const char *bad, *q;

	BECOME(USER_A);
	KQ_OPEN(kq);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	efd = eventfd(1, 0);
	ASSERT_LE(0, efd);
	other = kqueue();
	ASSERT_LE(0, other);
	ASSERT_OK(user_add(other, 1, 0));
	ASSERT_OK(user_trigger(other, 1));
	ASSERT_OK(user_add(kq, 1, EV_CLEAR));
	ASSERT_OK(user_trigger(kq, 1));
	ASSERT_OK(timer_add(kq, 2, 0, NOTE_MSECONDS, 1));
	ASSERT_OK(kq_ctl(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, 0));
	ASSERT_OK(kq_ctl(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, 0));
	ASSERT_OK(kq_ctl(kq, sv[0], EVFILT_READ, EV_ADD, 0, 0, 0));
	ASSERT_OK(kq_ctl(kq, sv[0], EVFILT_EMPTY, EV_ADD, 0, 0, 0));
	ASSERT_OK(kq_ctl(kq, efd, EVFILT_READ, EV_ADD, 0, 0, 0));
	ASSERT_OK(kq_ctl(kq, other, EVFILT_READ, EV_ADD, 0, 0, 0));
	ASSERT_EQ(1, write(p[1], "x", 1));
	usleep(20000);	/* the timer fired */
	ASSERT_LT(0, kq_read_fdinfo(kq, text, sizeof(text))) TH_LOG("fdinfo: %s", strerror(errno));
	for (q = text; (q = strstr(q, "knote:")); q++)
		lines++;
	EXPECT_EQ(8, lines) TH_LOG("fdinfo:\n%s", text);
	bad = kernel_address_in(text);
	EXPECT_EQ(NULL, bad) TH_LOG("a kernel address in fdinfo at \"%.40s\":\n%s", bad, text);
	fprintf(stderr, "# fdinfo of a kqueue with 8 knotes (uid 1000):\n");
	for (q = text; *q; ) {
		const char *e = strchr(q, '\n');
		int len = e ? (int)(e - q) : (int)strlen(q);

		fprintf(stderr, "#   %.*s\n", len, q);
		q += len + (e != NULL);
	}
}

TEST_HARNESS_MAIN
