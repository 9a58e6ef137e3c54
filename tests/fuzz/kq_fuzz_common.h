/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Shared helpers of the reliability tests in tests/fuzz (kq_fuzz, kq_fuzz_failnth,
 * kq_fuzz_limits): the raw /dev/kqueue ioctl (no libkqueue, so that kq_fuzz also builds as a
 * 32-bit binary for the compat_ioctl path), the documented errnos, and small utilities.
 */
#ifndef KQ_FUZZ_COMMON_H
#define KQ_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/*
 * struct kevent as the kernel reads it (rust/abi.rs KEvent): fixed-width fields, the same
 * 64 bytes for 32- and 64-bit callers. The fuzzers set all 64 bits of ident and udata, which
 * <sys/event.h>'s 32-bit struct only exposes through unions.
 */
struct raw_kevent {
	uint64_t ident;
	int16_t filter;
	uint16_t flags;
	uint32_t fflags;
	int64_t data;
	uint64_t udata;
	uint64_t ext[4];
};
_Static_assert(sizeof(struct raw_kevent) == 64, "struct kevent is 64 bytes");
_Static_assert(sizeof(struct kq_kevent_args) == 40, "struct kq_kevent_args is 40 bytes");

/* Flags that are actions only: never reported back. */
#ifndef KQ_ACTION_FLAGS
#define KQ_ACTION_FLAGS (EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_FORCEONESHOT)
#endif

static inline uint64_t ptr_u64(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* One kevent() through the raw ioctl, with kqfd set (as libkqueue does). */
static inline int raw_kevent(int kq, const struct raw_kevent *ch, int nch, struct raw_kevent *ev,
			     int nev, const struct kq_timespec *ts)
{
	struct kq_kevent_args a = {
		.changelist = ptr_u64(ch), .eventlist = ptr_u64(ev), .timeout = ptr_u64(ts),
		.nchanges = nch, .nevents = nev, .kqfd = kq, .flags = KQ_KEVENT_KQFD,
	};

	return ioctl(kq, KQIOC_KEVENT, &a);
}

static inline struct raw_kevent rkev(uint64_t ident, int filter, unsigned int flags,
				     unsigned int fflags, int64_t data, uint64_t udata)
{
	struct raw_kevent k;

	memset(&k, 0, sizeof(k));
	k.ident = ident;
	k.filter = (int16_t)filter;
	k.flags = (uint16_t)flags;
	k.fflags = fflags;
	k.data = data;
	k.udata = udata;
	return k;
}

/* One change, no event list, no waiting: 0 or the errno. */
static inline int raw_ctl(int kq, uint64_t ident, int filter, unsigned int flags,
			  unsigned int fflags, int64_t data)
{
	struct raw_kevent k = rkev(ident, filter, flags, fflags, data, 0);
	struct kq_timespec zero = { 0, 0 };

	return raw_kevent(kq, &k, 1, NULL, 0, &zero) < 0 ? errno : 0;
}

/*
 * The errnos kevent() may return or put in an EV_ERROR record (FreeBSD's kevent(2) list plus
 * Linux's ENOTTY for another ioctl and ENODEV for a device without poll). Anything else — in
 * particular a kernel-internal value such as ENOIOCTLCMD (515) or ERESTARTSYS (512) leaking —
 * is a bug.
 */
static inline int errno_documented(int e)
{
	switch (e) {
	case EBADF: case EINVAL: case EFAULT: case ENOENT: case ENOMEM: case EINTR:
	case ENOTTY: case EPIPE: case ENODEV: case ESRCH: case EPERM: case ENOSPC:
		return 1;
	}
	return 0;
}

static inline const char *errname(int e)
{
	const char *n = e > 0 ? strerrorname_np(e) : NULL;
	static __thread char buf[16];

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

static inline long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long x;

	if (!v || !*v)
		return def;
	x = strtol(v, &end, 0);
	return *end ? def : x;
}

static inline int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- module parameters (/sys/module/kqueue/parameters) ------------------------------- */

/* The value, or -1 if the parameter cannot be read. */
static inline long kq_param_get(const char *name)
{
	char path[128], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/kqueue/parameters/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 0);
}

static inline int kq_param_set(const char *name, long v)
{
	char path[128], buf[32];
	int fd, len, ok;

	snprintf(path, sizeof(path), "/sys/module/kqueue/parameters/%s", name);
	len = snprintf(buf, sizeof(buf), "%ld", v);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, buf, len) == len;
	close(fd);
	return ok && kq_param_get(name) == v ? 0 : -1;
}

static long kq_saved_knotes = -1, kq_saved_timers = -1;
static pid_t kq_caps_owner;
/* The loaded caps, while lowered: a process started before a killed one was restored finds
 * the true values here instead of the lowered ones. */
#define KQ_CAPS_SAVED "/tmp/.kq_caps_saved"

static inline void kq_caps_restore(void)
{
	if (getpid() != kq_caps_owner)
		return;	/* a forked test child: the caps belong to the main process */
	if (kq_saved_knotes >= 0)
		kq_param_set("max_knotes_per_user", kq_saved_knotes);
	if (kq_saved_timers >= 0)
		kq_param_set("max_timers_per_user", kq_saved_timers);
	if (kq_saved_knotes >= 0)
		unlink(KQ_CAPS_SAVED);
}

/*
 * Sets the per-user caps (root, and a module whose parameters are writable) for the lifetime
 * of this process, so that "exactly at the cap" costs thousands of knotes instead of 262144:
 * restored at exit, and, if the process is killed (a test timeout), by a small forked process
 * that waits for the end of a pipe only this process tree holds. 0, or -1 (caps unchanged).
 */
static inline int kq_caps_lower(long knotes, long timers)
{
	int p[2];
	pid_t pid;

	FILE *f = fopen(KQ_CAPS_SAVED, "r");

	if (!f || fscanf(f, "%ld %ld", &kq_saved_knotes, &kq_saved_timers) != 2) {
		kq_saved_knotes = kq_param_get("max_knotes_per_user");
		kq_saved_timers = kq_param_get("max_timers_per_user");
	}
	if (f)
		fclose(f);
	if (kq_saved_knotes < 0 || kq_saved_timers < 0 || geteuid() != 0 || pipe(p))
		return kq_saved_knotes = kq_saved_timers = -1;
	f = fopen(KQ_CAPS_SAVED, "w");
	if (!f)
		return kq_saved_knotes = kq_saved_timers = -1;
	fprintf(f, "%ld %ld\n", kq_saved_knotes, kq_saved_timers);
	fclose(f);
	pid = fork();
	if (pid < 0)
		return kq_saved_knotes = kq_saved_timers = -1;
	if (pid == 0) {
		char c;

		close(p[1]);
		while (read(p[0], &c, 1) != 0 && errno == EINTR)
			;
		kq_caps_owner = getpid();
		kq_caps_restore();
		_exit(0);
	}
	close(p[0]);	/* p[1] stays open (and inherited) until the process tree is gone */
	kq_caps_owner = getpid();
	atexit(kq_caps_restore);
	if (kq_param_set("max_knotes_per_user", knotes) || kq_param_set("max_timers_per_user", timers)) {
		kq_caps_restore();
		return -1;
	}
	return 0;
}

#endif
