/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Shared helpers of the MP-safety stress tests (kq_stress_*.c), on top of
 * ../fd/kq_fd_common.h (descriptor helpers) and ../kqueue/kq_test_common.h
 * (kselftest harness, kq_ctl(), kq_get(), ...).
 *
 * Conventions: every case is a kselftest-harness TEST in its own forked child,
 * arms alarm() so that a hang is a failure, and counts invariant violations in
 * its threads (atomics) instead of asserting there: the harness's ASSERT_*
 * macros are only used by the thread that runs the case. A failure keeps the
 * first offending record (struct stress_bad) so that the report says what was
 * wrong, not only how often.
 *
 * Durations come from the environment (KQ_STRESS_SECS, KQ_TORTURE_SECS, ...)
 * with defaults sized for the 4-vCPU emulated KASAN test VM.
 */
#ifndef KQ_STRESS_COMMON_H
#define KQ_STRESS_COMMON_H

#include "kq_fd_common.h"

#include <sched.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* Seconds from environment variable `name`: a positive integer, else `def`. */
static inline int env_secs(const char *name, int def)
{
	long v;

	return kq_env_long(name, 10, 1, 24 * 3600, &v) > 0 ? (int)v : def;
}

/*
 * A TAP diagnostic line ("# ..."), on stdout like the harness's result lines,
 * flushed at once: a test's child leaves with _exit(), which would drop a
 * buffered stdout.
 */
static inline void __attribute__((format(printf, 1, 2))) stress_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputs("\n", stdout);
	va_end(ap);
	fflush(stdout);
}

/* xorshift64*: a cheap per-thread random stream. */
static inline uint32_t rnd32(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dULL) >> 32);
}

static inline uint32_t rnd_below(uint64_t *s, uint32_t n)
{
	return n ? rnd32(s) % n : 0;
}

static inline uint64_t rnd_seed(uint64_t salt)
{
	return (uint64_t)now_ns() ^ (salt * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)getpid() << 32;
}

/*
 * The first invariant violation seen by any thread: a message and the
 * offending record. `count` counts all of them.
 */
struct stress_bad {
	atomic_long count;
	char what[160];
	struct kevent ev;
	bool has_ev;
};

static inline void __attribute__((format(printf, 3, 4)))
stress_fail(struct stress_bad *b, const struct kevent *ev, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&b->count, 1) == 0) {	/* the first one writes, once */
		va_start(ap, fmt);
		vsnprintf(b->what, sizeof(b->what), fmt, ap);
		va_end(ap);
		if (ev) {
			b->ev = *ev;
			b->has_ev = true;
		}
	}
}

/* Log the first violation (if any) with TH_LOG; evaluates to the count. */
#define STRESS_REPORT(b) STRESS_REPORT_AS(b, "")

/* The same, saying which kind of violation (label) it is. */
#define STRESS_REPORT_AS(b, label)                                                         \
	({                                                                                 \
		long __c = atomic_load(&(b)->count);                                       \
		if (__c)                                                                   \
			TH_LOG("%s%s%ld violation(s); first: %s%s", label, *(label) ? ": " : "", \
			       __c, (b)->what, (b)->has_ev ? "" : " (no record)");         \
		if (__c && (b)->has_ev)                                                    \
			TH_LOG("  record: ident %llu filter %d flags 0x%x fflags 0x%x "    \
			       "data %lld udata 0x%llx",                                   \
			       (unsigned long long)(b)->ev.ident, (b)->ev.filter,          \
			       (b)->ev.flags, (b)->ev.fflags, (long long)(b)->ev.data,     \
			       (unsigned long long)UDV((b)->ev));                          \
		__c;                                                                       \
	})

/* Raise RLIMIT_NOFILE's soft limit to the hard limit (for tests with many pipes). */
static inline void raise_nofile(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

/* A pipe (non-blocking, close-on-exec) holding `bytes` bytes; 0 or -1. */
static inline int pipe_with(int p[2], size_t bytes)
{
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	if (bytes && put(p[1], bytes) != (ssize_t)bytes)
		return -1;
	return 0;
}

/* Start threads together: a tiny spinning barrier (pthread_barrier would do too). */
struct stress_gate {
	atomic_int arrived;
	int parties;
};

static inline void gate_wait(struct stress_gate *g)
{
	atomic_fetch_add(&g->arrived, 1);
	while (atomic_load(&g->arrived) < g->parties)
		sched_yield();
}

/* The knote lines of /proc/self/fdinfo/<kq>, joined with '|', into buf. */
static inline void read_knotes(int kq, char *buf, size_t len)
{
	char all[2048], *line, *save = NULL;
	size_t used = 0;

	buf[0] = 0;
	kq_read_fdinfo(kq, all, sizeof(all));
	for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "knote:", 6) || used + strlen(line) + 2 >= len)
			continue;
		used += snprintf(buf + used, len - used, "%s%s", used ? "|" : "", line + 7);
	}
}

#endif /* KQ_STRESS_COMMON_H */
