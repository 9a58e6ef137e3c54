// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The reproducer of issue 7 ("concurrent scans lose level-triggered events"),
 * run for KQ_STRESS_SECS seconds (default 20):
 *
 *   a kqueue with 64 level-triggered EVFILT_READ knotes on pipes holding one
 *   byte each (nobody ever reads them);
 *   2 threads call kevent(kq, NULL, 0, ev, 8, &zero) in a loop;
 *   2 threads loop EV_DELETE + EV_ADD on random ones of those pipes;
 *   the main thread replaces random pipes: a new pipe, one byte written,
 *   EV_ADD, then close() of the old read and write ends.
 *
 * At every moment at least 62 of the knotes are active (each delete+add
 * thread has at most one knote away; a replacement adds before it closes), so:
 *  - every scan returns 8 records, unless the other threads moved nearly all
 *    of the queue behind the scan during the call: a pass stops at the first
 *    knote it put back itself, and a knote added meanwhile (a delete+add, a
 *    replacement) joins the queue behind those, as behind FreeBSD's marker, so
 *    it is not that pass's to report. A pass can end with fewer than 8 records
 *    only once every active knote queued ahead of its first put-back one was
 *    taken by it or moved by such an operation: at least 64 - 2 - 8 = 54
 *    knotes, each moved by one operation, of which up to 3 may have been under
 *    way when the call began. So a short scan is a violation when fewer than
 *    51 operations completed during the call; otherwise it is counted apart
 *    ("short scans behind churn": a scanner stalled, by the host or the
 *    emulator, while the others ran);
 *  - every record is EVFILT_READ, without EV_ERROR or EV_EOF (a read end is
 *    always closed before its write end), data 1, on a descriptor that is or
 *    was a read end of the test, with the udata given at EV_ADD for that very
 *    descriptor number;
 * and once the threads are stopped, one kevent() with room for 128 returns
 * each of the 64 current read ends exactly once (no knote was lost for good).
 * "# issue7: ..." gives the counts.
 */
#include "kq_stress_common.h"

#define I7_PIPES 64
#define I7_NEVENTS 8
#define I7_FDMAX 4096
#define I7_DEFAULT_SECS 20
/* Completed operations during a call that can account for a short scan (top of the file). */
#define I7_CHURN_EXCUSES (I7_PIPES - 2 - I7_NEVENTS - 3)

static int i7_secs(void)
{
	return env_secs("KQ_STRESS_SECS", I7_DEFAULT_SECS);
}

FIXTURE(issue7) {
	int kq;
	atomic_int r[I7_PIPES], w[I7_PIPES];	/* the current read and write end of each pipe */
	atomic_uchar known[I7_FDMAX];		/* 1 once the number was a read end of the test */
	atomic_bool stop;
	atomic_long scans, events, short_scans, churn_short_scans, replacements, pairs;
	struct stress_bad bad;
};

FIXTURE_SETUP(issue7)
{
	alarm(i7_secs() + 80);
	raise_nofile();
	self->kq = kqueue();
	ASSERT_LE(0, self->kq) TH_LOG("kqueue(): %s", strerror(errno));
}

FIXTURE_TEARDOWN(issue7) {}

static uint64_t i7_udata(int slot, int fd)
{
	return (uint64_t)slot << 32 | (uint32_t)fd;
}

static void *i7_scanner(void *arg)
{
	FIXTURE_DATA(issue7) *self = arg;
	struct timespec zero = { 0, 0 };
	struct kevent ev[I7_NEVENTS];

	while (!atomic_load(&self->stop)) {
		long churn = atomic_load(&self->pairs) + atomic_load(&self->replacements);
		int n = kevent(self->kq, NULL, 0, ev, I7_NEVENTS, &zero);

		churn = atomic_load(&self->pairs) + atomic_load(&self->replacements) - churn;
		if (n < 0) {
			stress_fail(&self->bad, NULL, "kevent(): %s", strerrorname_np(errno));
			break;
		}
		atomic_fetch_add(&self->scans, 1);
		atomic_fetch_add(&self->events, n);
		if (n != I7_NEVENTS && churn >= I7_CHURN_EXCUSES) {
			atomic_fetch_add(&self->churn_short_scans, 1);
		} else if (n != I7_NEVENTS) {
			atomic_fetch_add(&self->short_scans, 1);
			stress_fail(&self->bad, n ? &ev[0] : NULL, "a scan returned %d records, not %d: "
				    "at least 62 level-triggered knotes were active all along, and only "
				    "%ld operations moved knotes during the call", n, I7_NEVENTS, churn);
		}
		for (int k = 0; k < n; k++) {
			const struct kevent *e = &ev[k];
			uint64_t slot = UDV(*e) >> 32;

			if (e->filter != EVFILT_READ || (e->flags & (KQ_ACTION_FLAGS | EV_ERROR | EV_EOF)) ||
			    e->data != 1)
				stress_fail(&self->bad, e, "malformed record (want EVFILT_READ, data 1, "
					    "no EV_ERROR/EV_EOF)");
			else if (e->ident >= I7_FDMAX || !atomic_load(&self->known[e->ident]))
				stress_fail(&self->bad, e, "ident %llu was never a read end of the test",
					    (unsigned long long)e->ident);
			else if ((UDV(*e) & 0xffffffffu) != e->ident || slot >= I7_PIPES)
				stress_fail(&self->bad, e, "udata does not belong to ident %llu",
					    (unsigned long long)e->ident);
		}
	}
	return NULL;
}

struct i7_deleter {
	FIXTURE_DATA(issue7) *self;
	int id;
};

static void *i7_deleter(void *arg)
{
	struct i7_deleter *d = arg;
	FIXTURE_DATA(issue7) *self = d->self;
	uint64_t rs = rnd_seed(d->id + 7);

	while (!atomic_load(&self->stop)) {
		int slot = (int)rnd_below(&rs, I7_PIPES), fd = atomic_load(&self->r[slot]), r;

		/*
		 * fd may have been replaced meanwhile: then it is closed (EBADF), or already
		 * the read or write end of a newer pipe (a READ knote on a write end never
		 * fires). Either way, a delete is always followed by an add.
		 */
		r = fd_chg(self->kq, fd, EVFILT_READ, EV_DELETE);
		if (r && r != ENOENT && r != EBADF)
			stress_fail(&self->bad, NULL, "EV_DELETE of fd %d: %s", fd, strerrorname_np(r));
		r = fd_add(self->kq, fd, EVFILT_READ, 0, 0, 0, i7_udata(slot, fd));
		if (r && r != EBADF)
			stress_fail(&self->bad, NULL, "EV_ADD of fd %d: %s", fd, strerrorname_np(r));
		atomic_fetch_add(&self->pairs, 1);
	}
	return NULL;
}

/* A new pipe for `slot`, holding one byte, registered. 0 or an errno. */
static int i7_new_pipe(FIXTURE_DATA(issue7) *self, int slot, int p[2])
{
	int r;

	if (pipe_with(p, 1) < 0)
		return errno;
	if (p[0] >= I7_FDMAX || p[1] >= I7_FDMAX)
		return EMFILE;
	atomic_store(&self->known[p[0]], 1);
	r = fd_add(self->kq, p[0], EVFILT_READ, 0, 0, 0, i7_udata(slot, p[0]));
	return r;
}

TEST_F_TIMEOUT(issue7, reproducer, i7_secs() + 90)
{
	struct i7_deleter dd[2];
	pthread_t ts[2], td[2];
	struct kevent ev[128];
	bool seen[I7_PIPES] = { false };
	uint64_t rs = rnd_seed(99);
	int secs = i7_secs(), n;
	int64_t t0, end;

	for (int i = 0; i < I7_PIPES; i++) {
		int p[2];

		ASSERT_OK(i7_new_pipe(self, i, p));
		atomic_store(&self->r[i], p[0]);
		atomic_store(&self->w[i], p[1]);
	}
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, pthread_create(&ts[i], NULL, i7_scanner, self));
		dd[i] = (struct i7_deleter){ .self = self, .id = i };
		ASSERT_EQ(0, pthread_create(&td[i], NULL, i7_deleter, &dd[i]));
	}
	t0 = now_ns();
	end = t0 + (int64_t)secs * NSEC_PER_SEC;
	while (now_ns() < end && !atomic_load(&self->bad.count)) {
		int slot = (int)rnd_below(&rs, I7_PIPES), p[2], r;

		r = i7_new_pipe(self, slot, p);
		if (r) {
			stress_fail(&self->bad, NULL, "replacement: %s", strerrorname_np(r));
			break;
		}
		/* The new pipe is registered before the old one goes: no gap in the slot. */
		close(atomic_exchange(&self->r[slot], p[0]));
		close(atomic_exchange(&self->w[slot], p[1]));
		atomic_fetch_add(&self->replacements, 1);
	}
	atomic_store(&self->stop, true);
	for (int i = 0; i < 2; i++) {
		pthread_join(ts[i], NULL);
		pthread_join(td[i], NULL);
	}
	stress_note("issue7: %ld scans, %ld events, %ld replacements, %ld delete+add pairs, "
		    "%ld short scans, %ld short scans behind churn, %lld ms",
		    (long)atomic_load(&self->scans), (long)atomic_load(&self->events),
		    (long)atomic_load(&self->replacements), (long)atomic_load(&self->pairs),
		    (long)atomic_load(&self->short_scans), (long)atomic_load(&self->churn_short_scans),
		    (long long)ms_since(t0));
	ASSERT_EQ(0, STRESS_REPORT(&self->bad));
	ASSERT_LT(0, atomic_load(&self->scans));

	/* Quiet now: every pipe's knote is there, active, and reported once. */
	n = kq_poll(self->kq, ev, 128);
	ASSERT_EQ(I7_PIPES, n) TH_LOG("after the run: %d of the %d level-triggered events", n, I7_PIPES);
	for (int k = 0; k < n; k++) {
		int slot = -1;

		for (int i = 0; i < I7_PIPES; i++)
			if (ev[k].ident == (uint64_t)atomic_load(&self->r[i]))
				slot = i;
		ASSERT_LE(0, slot) TH_LOG("after the run: event of fd %llu, not a current read end",
					  (unsigned long long)ev[k].ident);
		ASSERT_FALSE(seen[slot]) TH_LOG("after the run: fd %llu reported twice",
						(unsigned long long)ev[k].ident);
		seen[slot] = true;
		EXPECT_EQ(1, ev[k].data);
	}
}

TEST_HARNESS_MAIN
