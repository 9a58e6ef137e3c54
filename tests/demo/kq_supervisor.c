// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kq_supervisor: a tiny process supervisor driven by one kqueue, showing the
 * EVFILT_PROC, EVFILT_VNODE and EVFILT_SIGNAL filters (make demo runs it in the VM).
 *
 * It starts two children by re-executing itself (the VM is a minimal initramfs: no other
 * programs to run):
 *   - the writer appends lines to ./log.txt with pauses, forks a helper (a grandchild of
 *     the supervisor) that appends one more line, waits for it and exits with status 0;
 *   - the sleeper sleeps and exits with status 3 (with --kill it sleeps on and the
 *     supervisor kills it with SIGKILL once the writer is gone).
 * A child waits on a pipe until the supervisor has registered its EVFILT_PROC knote
 * (NOTE_EXIT | NOTE_EXEC | NOTE_FORK; NOTE_TRACK for the writer, so that its helper gets
 * a knote of its own, reporting NOTE_CHILD), and only then calls execve(): so its
 * NOTE_EXEC is certain to be seen.
 *
 * The log file is watched with EVFILT_VNODE (NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB |
 * NOTE_LINK | NOTE_RENAME | NOTE_DELETE | NOTE_CLOSE_WRITE). When both children are gone
 * the supervisor rotates the log (rename to log.txt.1, print it, unlink it), then sends
 * itself SIGTERM. SIGINT and SIGTERM are SIG_IGN'd: only the kqueue sees them
 * (EVFILT_SIGNAL counts a signal even when it is ignored); a SIGTERM or SIGINT from
 * outside (kill, ^C) also ends the supervisor, orderly: it kills its children and says
 * what it saw. SIGCHLD is watched too (informational: child exits, coalesced).
 *
 * Every event is printed as it arrives:
 *   [+0.412 s] [proc]   pid 123: NOTE_EXEC (the writer)
 *   [+1.020 s] [vnode]  log.txt: NOTE_WRITE|NOTE_EXTEND
 *   [+2.315 s] [proc]   pid 124 exited with status 3 (the sleeper)
 *   [+2.871 s] [signal] SIGTERM x1
 * and the exit status is 0 only if everything expected was seen: both children's
 * NOTE_EXEC, the writer's NOTE_FORK, the tracked helper's NOTE_CHILD (data = the writer's
 * pid) and its exit, both children's exits with the right statuses (agreeing with
 * waitpid()), at least one NOTE_WRITE on the log, the rotation's NOTE_RENAME and
 * NOTE_DELETE, and the SIGTERM. Otherwise (or if the kqueue refuses a filter: a module
 * without them says EINVAL) it says what is missing and exits 1. Everything is bounded by
 * a 60 s deadline.
 *
 * Usage: kq_supervisor [--kill]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_NAME "log.txt"
#define LOG_ROTATED "log.txt.1"
#define DEADLINE_SECS 60
#define SLEEPER_STATUS 3

#define PROC_NOTES (NOTE_EXIT | NOTE_EXEC | NOTE_FORK)
#define VNODE_NOTES (NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_LINK | NOTE_RENAME | \
		     NOTE_DELETE | NOTE_CLOSE_WRITE)

/* ---- the children (the same binary, re-executed) ------------------------------------ */

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int append_line(const char *path, const char *fmt, ...)
{
	char buf[160];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, buf, n) != n) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* --writer LOG: three lines, a helper process, one more line; status 0 if all went well. */
static int writer_main(const char *log)
{
	pid_t helper;
	int st, i;

	for (i = 1; i <= 3; i++) {
		msleep(250);
		if (append_line(log, "writer %d: line %d\n", getpid(), i))
			return 10 + i;
	}
	helper = fork();
	if (helper < 0)
		return 20;
	if (helper == 0) {
		msleep(300);	/* the supervisor sees NOTE_CHILD before the exit */
		_exit(append_line(log, "helper %d (child of %d): one line\n", getpid(), getppid()) ?
		      21 : 0);
	}
	if (waitpid(helper, &st, 0) != helper || !WIFEXITED(st) || WEXITSTATUS(st))
		return 22;
	msleep(250);
	if (append_line(log, "writer %d: done\n", getpid()))
		return 23;
	return 0;
}

/* --sleeper MS: sleep, then exit with SLEEPER_STATUS. */
static int sleeper_main(const char *ms)
{
	msleep(atol(ms));
	return SLEEPER_STATUS;
}

/* ---- the supervisor ------------------------------------------------------------------ */

static struct timespec t0;
static int kq;

static double elapsed(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
}

static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
	va_list ap;

	printf("[%+7.3f s] ", elapsed());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* One change; 0 or -1 with a message that names the filter (and a hint for EINVAL). */
static int change(uintptr_t ident, short filter, unsigned short flags, unsigned int fflags,
		  const char *what)
{
	struct kevent ch;

	EV_SET(&ch, ident, filter, flags, fflags, 0, NULL);
	if (kevent(kq, &ch, 1, NULL, 0, NULL) == 0)
		return 0;
	printf("kq_supervisor: kevent(EV_ADD %s): %s%s\n", what, strerror(errno),
	       errno == EINVAL ? " (does this kqueue.ko implement the filter?)" : "");
	return -1;
}

struct child {
	const char *role;
	pid_t pid;
	int tracked;		/* a knote made by NOTE_TRACK (the writer's helper) */
	pid_t parent;		/* for tracked ones: the watched parent */
	int want_status;	/* expected wait status, -1: any */
	int execs, forks, child_notes, exited, status, reaped;
};

#define MAX_CHILDREN 8
static struct child kids[MAX_CHILDREN];
static int nkids;

static struct child *kid_of(pid_t pid)
{
	for (int i = 0; i < nkids; i++)
		if (kids[i].pid == pid)
			return &kids[i];
	return NULL;
}

static const char *notes_str(unsigned int f, int vnode, char *buf, size_t len)
{
	static const struct { unsigned int bit; const char *name; } vn[] = {
		{ NOTE_DELETE, "NOTE_DELETE" }, { NOTE_WRITE, "NOTE_WRITE" },
		{ NOTE_EXTEND, "NOTE_EXTEND" }, { NOTE_ATTRIB, "NOTE_ATTRIB" },
		{ NOTE_LINK, "NOTE_LINK" }, { NOTE_RENAME, "NOTE_RENAME" },
		{ NOTE_REVOKE, "NOTE_REVOKE" }, { NOTE_OPEN, "NOTE_OPEN" },
		{ NOTE_CLOSE, "NOTE_CLOSE" }, { NOTE_CLOSE_WRITE, "NOTE_CLOSE_WRITE" },
		{ NOTE_READ, "NOTE_READ" },
	}, pr[] = {
		{ NOTE_EXIT, "NOTE_EXIT" }, { NOTE_FORK, "NOTE_FORK" }, { NOTE_EXEC, "NOTE_EXEC" },
		{ NOTE_TRACK, "NOTE_TRACK" }, { NOTE_TRACKERR, "NOTE_TRACKERR" },
		{ NOTE_CHILD, "NOTE_CHILD" },
	};
	size_t used = 0, n = vnode ? sizeof(vn) / sizeof(vn[0]) : sizeof(pr) / sizeof(pr[0]);

	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned int bit = vnode ? vn[i].bit : pr[i].bit;

		if (f & bit) {
			used += snprintf(buf + used, len - used, "%s%s", used ? "|" : "",
					 vnode ? vn[i].name : pr[i].name);
			f &= ~bit;
		}
	}
	if (f)
		snprintf(buf + used, len - used, "%s0x%x", used ? "|" : "", f);
	return buf;
}

static void status_str(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by SIG%s", sigabbrev_np(WTERMSIG(st)) ?
			 sigabbrev_np(WTERMSIG(st)) : "?");
	else
		snprintf(buf, len, "ended with wait status 0x%x", st);
}

/*
 * Start a child running this program with args; it waits for the go-ahead (a byte on a
 * pipe) so that the knote is there before its execve(). Returns the pid or -1.
 */
static pid_t spawn(const char *role, char *const args[], unsigned int fflags, int want_status)
{
	char what[64];
	int gate[2];
	pid_t pid;
	char c = 'g';

	if (pipe2(gate, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (read(gate[0], &c, 1) != 1)
			_exit(126);	/* the supervisor gave up */
		execv("/proc/self/exe", args);
		_exit(127);
	}
	close(gate[0]);
	snprintf(what, sizeof(what), "EVFILT_PROC pid %d", (int)pid);
	if (change((uintptr_t)pid, EVFILT_PROC, EV_ADD, fflags, what)) {
		close(gate[1]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	kids[nkids++] = (struct child){ .role = role, .pid = pid, .want_status = want_status };
	say("[start]  %s: pid %d, watching %s", role, (int)pid,
	    notes_str(fflags, 0, what, sizeof(what)));
	if (write(gate[1], &c, 1) != 1)
		return -1;
	close(gate[1]);
	return pid;
}

static void kill_children(void)
{
	for (int i = 0; i < nkids; i++)
		if (!kids[i].tracked && !kids[i].reaped) {
			kill(kids[i].pid, SIGKILL);
			waitpid(kids[i].pid, NULL, 0);
			kids[i].reaped = 1;
		}
}

int main(int argc, char **argv)
{
	int kill_sleeper = 0, sigterms = 0, sigints = 0, sigchlds = 0, vnode_writes = 0;
	int vnode_renames = 0, vnode_deletes = 0, rotated = 0, term_sent = 0, logfd, problems = 0;
	int external_stop = 0;
	const char *log_now = LOG_NAME;
	double term_at = 0;
	pid_t writer, sleeper;
	char buf[160];

	if (argc == 3 && !strcmp(argv[1], "--writer"))
		return writer_main(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "--sleeper"))
		return sleeper_main(argv[2]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--kill"))
			kill_sleeper = 1;
		else {
			fprintf(stderr, "usage: %s [--kill]\n", argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	kq = kqueue();
	if (kq < 0) {
		printf("kq_supervisor: kqueue(): %s\n", strerror(errno));
		return 1;
	}

	/* Signals: ignored, so that only the kqueue sees them (it counts them all the same). */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	if (change(SIGINT, EVFILT_SIGNAL, EV_ADD, 0, "EVFILT_SIGNAL SIGINT") ||
	    change(SIGTERM, EVFILT_SIGNAL, EV_ADD, 0, "EVFILT_SIGNAL SIGTERM") ||
	    change(SIGCHLD, EVFILT_SIGNAL, EV_ADD, 0, "EVFILT_SIGNAL SIGCHLD"))
		return 1;

	/* The log file, new and empty, watched through a read-only descriptor. */
	logfd = open(LOG_NAME, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0) {
		printf("kq_supervisor: %s: %s\n", LOG_NAME, strerror(errno));
		return 1;
	}
	close(logfd);
	logfd = open(LOG_NAME, O_RDONLY | O_CLOEXEC);
	if (logfd < 0 || change(logfd, EVFILT_VNODE, EV_ADD, VNODE_NOTES, "EVFILT_VNODE " LOG_NAME))
		return 1;
	say("[start]  supervisor pid %d: watching %s (%s), SIGINT, SIGTERM, SIGCHLD", (int)getpid(),
	    LOG_NAME, notes_str(VNODE_NOTES, 1, buf, sizeof(buf)));

	{
		char *wargs[] = { argv[0], "--writer", LOG_NAME, NULL };
		char *sargs[] = { argv[0], "--sleeper", kill_sleeper ? "30000" : "1500", NULL };

		writer = spawn("writer", wargs, PROC_NOTES | NOTE_TRACK, 0);
		sleeper = writer < 0 ? -1 :
			  spawn("sleeper", sargs, PROC_NOTES, kill_sleeper ? SIGKILL : SLEEPER_STATUS << 8);
		if (writer < 0 || sleeper < 0) {
			kill_children();
			return 1;
		}
	}

	for (;;) {
		struct kevent ev[16];
		struct timespec ts;
		double left = DEADLINE_SECS - elapsed();
		int n, all_reaped = 1;

		for (int i = 0; i < nkids; i++)
			if (!kids[i].tracked && !kids[i].reaped)
				all_reaped = 0;
		/* Both children gone: rotate the log, then ask ourselves to stop. */
		if (all_reaped && !rotated) {
			rotated = 1;
			say("[action] both children are gone: rotating %s -> %s", LOG_NAME, LOG_ROTATED);
			if (rename(LOG_NAME, LOG_ROTATED) == 0) {
				FILE *f = fopen(LOG_ROTATED, "re");

				log_now = LOG_ROTATED;
				while (f && fgets(buf, sizeof(buf), f))
					printf("           | %s", buf);
				if (f)
					fclose(f);
				if (unlink(LOG_ROTATED))
					printf("kq_supervisor: unlink(%s): %s\n", LOG_ROTATED, strerror(errno));
			} else {
				printf("kq_supervisor: rename: %s\n", strerror(errno));
			}
		}
		if (all_reaped && !term_sent) {
			term_sent = 1;
			term_at = elapsed();
			say("[action] kill(getpid(), SIGTERM) (SIGTERM is SIG_IGN: only the kqueue sees it)");
			kill(getpid(), SIGTERM);
		}
		/* Stop after the SIGTERM plus a short drain (the rotation's events may trail). */
		if ((sigterms || external_stop) && elapsed() - term_at > 0.5)
			break;
		if (left <= 0) {
			printf("kq_supervisor: nothing more after %d s\n", DEADLINE_SECS);
			break;
		}
		if (sigterms || external_stop)
			left = 0.5 - (elapsed() - term_at);
		if (left < 0)
			left = 0;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - ts.tv_sec) * 1e9);
		n = kevent(kq, NULL, 0, ev, 16, &ts);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			printf("kq_supervisor: kevent: %s\n", strerror(errno));
			problems++;
			break;
		}
		for (int k = 0; k < n; k++) {
			struct kevent *e = &ev[k];
			struct child *c;
			char notes[128], sts[64];

			if (e->flags & EV_ERROR) {
				say("[error]  ident %lu filter %d: %s", (unsigned long)e->ident, e->filter,
				    strerror((int)e->data));
				problems++;
				continue;
			}
			switch (e->filter) {
			case EVFILT_SIGNAL:
				say("[signal] SIG%s x%lld", sigabbrev_np((int)e->ident) ?
				    sigabbrev_np((int)e->ident) : "?", (long long)e->data);
				if (e->ident == SIGTERM) {
					sigterms += (int)e->data;
					if (!term_sent) {	/* from outside: stop now */
						external_stop = 1;
						term_at = elapsed();
					}
				} else if (e->ident == SIGINT) {
					sigints += (int)e->data;
					external_stop = 1;
					term_at = elapsed();
				} else if (e->ident == SIGCHLD) {
					sigchlds += (int)e->data;
				}
				break;
			case EVFILT_VNODE:
				say("[vnode]  %s: %s", log_now, notes_str(e->fflags, 1, notes, sizeof(notes)));
				vnode_writes += !!(e->fflags & NOTE_WRITE);
				vnode_renames += !!(e->fflags & NOTE_RENAME);
				vnode_deletes += !!(e->fflags & NOTE_DELETE);
				break;
			case EVFILT_PROC:
				c = kid_of((pid_t)e->ident);
				if (!c && nkids < MAX_CHILDREN && (e->fflags & NOTE_CHILD)) {
					c = &kids[nkids++];
					*c = (struct child){ .role = "helper (tracked)", .pid = (pid_t)e->ident,
							     .tracked = 1, .want_status = 0 };
				}
				if (!c) {
					say("[proc]   pid %lu: %s (not ours!)", (unsigned long)e->ident,
					    notes_str(e->fflags, 0, notes, sizeof(notes)));
					problems++;
					break;
				}
				if (e->fflags & NOTE_CHILD) {
					c->child_notes++;
					/* data is the parent's pid, unless the exit came in the same event */
					if (!(e->fflags & NOTE_EXIT))
						c->parent = (pid_t)e->data;
					say("[proc]   pid %d: NOTE_CHILD: a new process, forked by pid %lld "
					    "(tracked: the knote came by itself)", (int)c->pid,
					    (e->fflags & NOTE_EXIT) ? (long long)writer : (long long)e->data);
				}
				if (e->fflags & NOTE_EXEC) {
					c->execs++;
					say("[proc]   pid %d: NOTE_EXEC (the %s)", (int)c->pid, c->role);
				}
				if (e->fflags & NOTE_FORK) {
					c->forks++;
					say("[proc]   pid %d: NOTE_FORK (the %s forked)", (int)c->pid, c->role);
				}
				if (e->fflags & NOTE_TRACKERR) {
					say("[proc]   pid %d: NOTE_TRACKERR", (int)c->pid);
					problems++;
				}
				if (e->fflags & NOTE_EXIT) {
					c->exited++;
					c->status = (int)e->data;
					status_str(c->status, sts, sizeof(sts));
					say("[proc]   pid %d %s (the %s)%s", (int)c->pid, sts, c->role,
					    (e->flags & EV_EOF) ? "" : " [no EV_EOF!]");
					if (!(e->flags & EV_EOF))
						problems++;
					if (!c->tracked) {
						int st;

						if (waitpid(c->pid, &st, 0) != c->pid) {
							printf("kq_supervisor: waitpid(%d): %s\n", (int)c->pid,
							       strerror(errno));
							problems++;
						} else if (st != c->status) {
							printf("kq_supervisor: waitpid(%d) says wait status 0x%x, "
							       "the event said 0x%x\n", (int)c->pid, st, c->status);
							problems++;
						}
						c->reaped = 1;
					}
					if (c == kid_of(writer) && kill_sleeper && !kid_of(sleeper)->exited) {
						say("[action] the writer is gone: kill(%d, SIGKILL) (the sleeper)",
						    (int)sleeper);
						kill(sleeper, SIGKILL);
					}
				}
				break;
			default:
				say("[?]      filter %d ident %lu", e->filter, (unsigned long)e->ident);
				problems++;
			}
		}
	}
	kill_children();
	close(logfd);
	unlink(LOG_NAME);
	unlink(LOG_ROTATED);

	/* What was expected, and what was seen. */
	printf("\nkq_supervisor: summary\n");
#define EXPECT(cond, fmt, ...)                                                                 \
	do {                                                                                   \
		int ok_ = (cond);                                                              \
		printf("  %-8s " fmt "\n", ok_ ? "ok" : "MISSING", ##__VA_ARGS__);              \
		problems += !ok_;                                                              \
	} while (0)
	for (int i = 0; i < nkids; i++) {
		struct child *c = &kids[i];
		char sts[64], want[64];

		status_str(c->status, sts, sizeof(sts));
		status_str(c->want_status, want, sizeof(want));
		if (!c->tracked)
			EXPECT(c->execs == 1, "%s (pid %d): NOTE_EXEC once (seen %d)", c->role, (int)c->pid,
			       c->execs);
		else
			EXPECT(c->child_notes == 1 && (c->parent == writer || c->parent == 0),
			       "%s (pid %d): NOTE_CHILD once, parent = the writer %d (seen %d, parent %d)",
			       c->role, (int)c->pid, (int)writer, c->child_notes, (int)c->parent);
		EXPECT(c->exited == 1 && c->status == c->want_status,
		       "%s (pid %d): NOTE_EXIT once, %s (seen %d, %s)", c->role, (int)c->pid, want,
		       c->exited, c->exited ? sts : "-");
	}
	EXPECT(kid_of(writer)->forks >= 1, "writer: NOTE_FORK (seen %d)", kid_of(writer)->forks);
	{
		int helpers = 0;

		for (int i = 0; i < nkids; i++)
			helpers += kids[i].tracked;
		EXPECT(helpers == 1, "the writer's helper was tracked (NOTE_TRACK): %d knote(s)", helpers);
	}
	EXPECT(vnode_writes >= 1, "%s: NOTE_WRITE (%d event(s))", LOG_NAME, vnode_writes);
	EXPECT(vnode_renames >= 1, "%s: NOTE_RENAME on the rotation (%d)", LOG_NAME, vnode_renames);
	EXPECT(vnode_deletes >= 1, "%s: NOTE_DELETE on the unlink (%d)", LOG_NAME, vnode_deletes);
	EXPECT(sigterms >= 1 && !external_stop, "SIGTERM from ourselves, seen by the kqueue (x%d)",
	       sigterms);
	printf("  %-8s SIGCHLD x%d, SIGINT x%d\n", "info", sigchlds, sigints);
	if (external_stop)
		printf("kq_supervisor: stopped by a signal from outside\n");
	if (problems) {
		printf("kq_supervisor: FAILED (%d problem(s))\n", problems);
		return 1;
	}
	printf("kq_supervisor: everything expected was seen\n");
	return 0;
}
