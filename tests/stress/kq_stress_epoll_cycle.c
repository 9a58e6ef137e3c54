// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A kqueue and an epoll instance watching each other, under load: kqueue K
 * has EVFILT_READ on epoll E's descriptor (and an EVFILT_USER event), E has
 * EPOLLIN on K and on a pipe. For KQ_EPOLL_CYCLE_SECS seconds (default 3):
 * one thread writes and drains the pipe, one triggers the user event, two
 * call kevent() on K, two call epoll_wait() on E; in the second case another
 * thread also takes the cycle apart and puts it back (EPOLL_CTL_DEL/ADD of K
 * in E, EV_DELETE/EV_ADD of E in K) all the while.
 *
 * epoll's own loop check cannot see this cycle (K is not an epoll file), so
 * the wake-ups that go round it must be bounded by the module. Nothing may
 * deadlock: every thread must come back within 10 s of being told to stop
 * (and the whole case is alarm()-guarded). The records must be right too:
 * K reports only E (EVFILT_READ, data 1 as for any poll-based file) and the
 * user event; E reports only K and the pipe, with EPOLLIN; each source is
 * seen at least once.
 */
#include "kq_stress_common.h"

#define CYC_DEFAULT_SECS 3
#define CYC_USER_IDENT 7
#define CYC_UD_EPOLL 0xE0
#define CYC_UD_USER 0x07
#define CYC_TAG_KQ 1
#define CYC_TAG_PIPE 2
#define CYC_THREADS 7

static int cyc_secs(void)
{
	return env_secs("KQ_EPOLL_CYCLE_SECS", CYC_DEFAULT_SECS);
}

enum cyc_role { R_PIPE, R_USER, R_KQ1, R_KQ2, R_EP1, R_EP2, R_TOGGLE };

static const char *const cyc_role_name[CYC_THREADS] = {
	"pipe writer/reader", "user-event trigger", "kevent() on K #1", "kevent() on K #2",
	"epoll_wait() on E #1", "epoll_wait() on E #2", "cycle toggler",
};

FIXTURE(cycle) {
	int kq, ep, p[2];
	atomic_bool stop;
	atomic_int finished[CYC_THREADS];
	atomic_int tid[CYC_THREADS];
	atomic_long kq_calls, kq_user, kq_epoll, ep_calls, ep_kq, ep_pipe, writes, triggers, toggles;
	struct stress_bad bad;
};

FIXTURE_SETUP(cycle)
{
	struct epoll_event ee = { .events = EPOLLIN };

	alarm(cyc_secs() + 40);
	self->kq = kqueue();
	ASSERT_LE(0, self->kq) TH_LOG("kqueue(): %s", strerror(errno));
	self->ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, self->ep);
	ASSERT_EQ(0, pipe_with(self->p, 0));
	ee.data.u64 = CYC_TAG_PIPE;
	ASSERT_EQ(0, epoll_ctl(self->ep, EPOLL_CTL_ADD, self->p[0], &ee));
	ee.data.u64 = CYC_TAG_KQ;
	ASSERT_EQ(0, epoll_ctl(self->ep, EPOLL_CTL_ADD, self->kq, &ee));
	ASSERT_OK(fd_add(self->kq, self->ep, EVFILT_READ, 0, 0, 0, CYC_UD_EPOLL));
	ASSERT_OK(kq_ctl(self->kq, CYC_USER_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, CYC_UD_USER));
}

FIXTURE_TEARDOWN(cycle) {}

struct cyc_thread {
	FIXTURE_DATA(cycle) *self;
	enum cyc_role role;
};

static void cyc_kevent(FIXTURE_DATA(cycle) *self)
{
	struct timespec ts = { 0, 10 * NSEC_PER_MSEC };
	struct kevent ev[4];
	int n = kevent(self->kq, NULL, 0, ev, 4, &ts);

	atomic_fetch_add(&self->kq_calls, 1);
	if (n < 0) {
		stress_fail(&self->bad, NULL, "kevent(K): %s", strerrorname_np(errno));
		return;
	}
	for (int k = 0; k < n; k++) {
		const struct kevent *e = &ev[k];

		if (e->flags & (KQ_ACTION_FLAGS | EV_ERROR | EV_EOF))
			stress_fail(&self->bad, e, "K: wrong flags");
		else if (e->filter == EVFILT_READ && e->ident == (uint64_t)self->ep &&
			 UDV(*e) == CYC_UD_EPOLL && e->data == 1)
			atomic_fetch_add(&self->kq_epoll, 1);
		else if (e->filter == EVFILT_USER && e->ident == CYC_USER_IDENT && UDV(*e) == CYC_UD_USER)
			atomic_fetch_add(&self->kq_user, 1);
		else
			stress_fail(&self->bad, e, "K: unexpected record");
	}
}

static void cyc_epoll(FIXTURE_DATA(cycle) *self)
{
	struct epoll_event ee[4];
	int n = epoll_wait(self->ep, ee, 4, 10);

	atomic_fetch_add(&self->ep_calls, 1);
	if (n < 0) {
		if (errno != EINTR)
			stress_fail(&self->bad, NULL, "epoll_wait(E): %s", strerrorname_np(errno));
		return;
	}
	for (int k = 0; k < n; k++) {
		if (!(ee[k].events & EPOLLIN) || (ee[k].events & (EPOLLERR | EPOLLHUP)))
			stress_fail(&self->bad, NULL, "E: events 0x%x for tag %llu", ee[k].events,
				    (unsigned long long)ee[k].data.u64);
		else if (ee[k].data.u64 == CYC_TAG_KQ)
			atomic_fetch_add(&self->ep_kq, 1);
		else if (ee[k].data.u64 == CYC_TAG_PIPE)
			atomic_fetch_add(&self->ep_pipe, 1);
		else
			stress_fail(&self->bad, NULL, "E: unknown tag %llu", (unsigned long long)ee[k].data.u64);
	}
}

/* Take one edge of the cycle away and put it back. */
static void cyc_toggle(FIXTURE_DATA(cycle) *self, uint64_t *rs)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.u64 = CYC_TAG_KQ };
	int r;

	if (rnd_below(rs, 2)) {
		if (epoll_ctl(self->ep, EPOLL_CTL_DEL, self->kq, NULL) ||
		    epoll_ctl(self->ep, EPOLL_CTL_ADD, self->kq, &ee))
			stress_fail(&self->bad, NULL, "epoll_ctl(E, DEL/ADD K): %s", strerrorname_np(errno));
	} else {
		r = fd_chg(self->kq, self->ep, EVFILT_READ, EV_DELETE);
		if (!r)
			r = fd_add(self->kq, self->ep, EVFILT_READ, rnd_below(rs, 3) ? 0 : EV_CLEAR, 0, 0,
				   CYC_UD_EPOLL);
		if (r)
			stress_fail(&self->bad, NULL, "EV_DELETE/EV_ADD of E in K: %s", strerrorname_np(r));
	}
	atomic_fetch_add(&self->toggles, 1);
}

static void *cyc_thread_fn(void *arg)
{
	struct cyc_thread *c = arg;
	FIXTURE_DATA(cycle) *self = c->self;
	uint64_t rs = rnd_seed(c->role + 3);
	char buf[64];

	atomic_store(&self->tid[c->role], gettid());
	while (!atomic_load(&self->stop)) {
		switch (c->role) {
		case R_PIPE:
			if (write(self->p[1], "x", 1) == 1)
				atomic_fetch_add(&self->writes, 1);
			if (rnd_below(&rs, 2))
				sched_yield();
			if (read(self->p[0], buf, sizeof(buf)) < 0 && errno != EAGAIN)
				stress_fail(&self->bad, NULL, "read(pipe): %s", strerrorname_np(errno));
			break;
		case R_USER:
			/* with its udata: a change without EV_KEEPUDATA replaces it */
			if (kq_ctl(self->kq, CYC_USER_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, CYC_UD_USER))
				stress_fail(&self->bad, NULL, "NOTE_TRIGGER failed");
			atomic_fetch_add(&self->triggers, 1);
			if (rnd_below(&rs, 4) == 0)
				usleep(100);
			break;
		case R_KQ1:
		case R_KQ2:
			cyc_kevent(self);
			break;
		case R_EP1:
		case R_EP2:
			cyc_epoll(self);
			break;
		case R_TOGGLE:
			cyc_toggle(self, &rs);
			break;
		}
	}
	atomic_store(&self->finished[c->role], 1);
	return NULL;
}

/* wchan of a thread that did not come back, for the report. */
static void cyc_wchan(int tid, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", tid);
	kq_read_text(path, buf, len);
}

static void cyc_run(struct __test_metadata *_metadata, FIXTURE_DATA(cycle) *self, bool toggle)
{
	struct cyc_thread c[CYC_THREADS];
	pthread_t t[CYC_THREADS];
	int nthreads = toggle ? CYC_THREADS : CYC_THREADS - 1, secs = cyc_secs();
	int64_t t1;
	bool stuck = false;

	for (int i = 0; i < nthreads; i++) {
		c[i] = (struct cyc_thread){ .self = self, .role = i };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, cyc_thread_fn, &c[i]));
	}
	sleep_ms(secs * 1000);
	atomic_store(&self->stop, true);
	t1 = now_ns();
	for (int i = 0; i < nthreads; i++)
		while (!atomic_load(&self->finished[i]) && ms_since(t1) < 10000)
			sleep_ms(10);
	for (int i = 0; i < nthreads; i++) {
		if (!atomic_load(&self->finished[i])) {
			char wchan[64];

			cyc_wchan(atomic_load(&self->tid[i]), wchan, sizeof(wchan));
			TH_LOG("%s (tid %d) stuck for 10 s, wchan '%s': a deadlock", cyc_role_name[i],
			       atomic_load(&self->tid[i]), wchan);
			stuck = true;
		}
	}
	ASSERT_FALSE(stuck);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	TH_LOG("%d s: kevent(K) %ld calls (%ld E, %ld user), epoll_wait(E) %ld calls (%ld K, %ld pipe), "
	       "%ld writes, %ld triggers, %ld toggles", secs, (long)atomic_load(&self->kq_calls),
	       (long)atomic_load(&self->kq_epoll), (long)atomic_load(&self->kq_user),
	       (long)atomic_load(&self->ep_calls), (long)atomic_load(&self->ep_kq),
	       (long)atomic_load(&self->ep_pipe), (long)atomic_load(&self->writes),
	       (long)atomic_load(&self->triggers), (long)atomic_load(&self->toggles));
	ASSERT_EQ(0, STRESS_REPORT(&self->bad));
	EXPECT_LT(0, atomic_load(&self->kq_epoll));
	EXPECT_LT(0, atomic_load(&self->kq_user));
	EXPECT_LT(0, atomic_load(&self->ep_kq));
	EXPECT_LT(0, atomic_load(&self->ep_pipe));
}

TEST_F_TIMEOUT(cycle, kqueue_epoll_cycle_under_load, cyc_secs() + 60)
{
	cyc_run(_metadata, self, false);
}

TEST_F_TIMEOUT(cycle, cycle_rebuilt_while_busy, cyc_secs() + 60)
{
	cyc_run(_metadata, self, true);
}

TEST_HARNESS_MAIN
