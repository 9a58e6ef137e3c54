// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The benchmark suite of issue 9: the rows kq_bench_core and kq_fd_bench do not cover, each
 * kqueue (through libkqueue, as a user's program would) against the epoll equivalent in the
 * same run. Every row measures kqueue and epoll interleaved (kq, ep, kq, ep, ...) REPEATS times
 * and prints
 *   # bench suite <row> kqueue=<median> (<min>–<max>) epoll=<median> (<min>–<max>)
 *     ratio=<median of the per-repeat kqueue/epoll ratios> unit=<unit> (<which way is better>)
 * then the last case prints a summary table ("# | row | ... |"). A case fails only if a call
 * fails (TAP "not ok"), never on a figure; a row that cannot run here is a TAP skip.
 *
 * Rows (row names as printed; N = KQ_BENCH_FDS):
 *   ping_pong_same_cpu, ping_pong_two_cpus: two threads, each blocked in kevent() (its own
 *     kqueue, EVFILT_READ on its read pipe) or epoll_wait() (its own epoll, EPOLLIN); the
 *     initiator writes 1 byte, the other wakes, reads it and writes 1 byte back; both pinned to
 *     CPU 0, or to CPUs 0 and 1. ns per round trip (two wake-ups, two waits, two reads and
 *     writes). Across CPUs a quarter of the round trips (TCG emulates the IPIs slowly).
 *   register_N_fds, delete_N_fds: N pipes (10 000) made once; one kevent() carrying N EV_ADD
 *     changes (EVFILT_READ) against N epoll_ctl(ADD) (EPOLLIN), then one kevent() with N
 *     EV_DELETE against N epoll_ctl(DEL). ns per descriptor.
 *   close_with_N_fds: the descriptors registered again, then close() of the kqueue / epoll
 *     holding them. ns per descriptor (what close() itself takes; work the module defers to a
 *     work item is not in it).
 *   memory_per_fd_N: /proc/meminfo "Slab" just before and just after the N registrations of
 *     register_N_fds (the pipes exist before), bytes per descriptor; with /proc/slabinfo
 *     (CONFIG_SLUB_DEBUG; the perf kernel has none) also the active objects' bytes
 *     (memory_objects_per_fd_N). Slab counts pages: objects freed in the previous repeat may be
 *     reused, so later repeats can read a little lower. (MemFree's delta is no use: pages
 *     taken from the per-CPU free lists are not counted in MemFree; it read 511 bytes per
 *     knote where Slab alone grew by 836.) The module allocates with kmalloc, except its
 *     table of descriptor knotes by descriptor number (8 bytes per slot up to the highest
 *     descriptor, a power of two), which above 8 KiB comes from the page allocator or vmalloc:
 *     its size is read from the kqueue's fdinfo ("fd_table: slots=N") and added.
 *   user_triggers_4_events, user_triggers_4_triggers: 4 producer threads pinned to CPUs 0..3
 *     trigger NOTE_TRIGGER on their own EV_CLEAR EVFILT_USER knote of one kqueue, one kevent()
 *     per trigger, against each writing 1 to its own eventfd registered EPOLLIN|EPOLLET in one
 *     epoll; one unpinned consumer collects in batches of 64 (kevent() / epoll_wait(), 50 ms
 *     timeout) for KQ_BENCH_MS. Events delivered per second; producer calls per second. Skipped
 *     with fewer than 4 CPUs.
 *   churn_32_add_32_delete_1_wait: per iteration one kevent() carrying 32 EV_ADD + 32
 *     EV_DELETE (two alternating sets of 32 pipes) and collecting with a zero timeout (one
 *     always-readable pipe is registered, so it returns 1 event), against 32 epoll_ctl(ADD) +
 *     32 epoll_ctl(DEL) + epoll_wait(0). Iterations per second.
 *   timers_1000_1ms_procstat, timers_1000_1ms_soak: 1 000 periodic 1 ms EVFILT_TIMER knotes
 *     against 1 000 periodic 1 ms timerfds in an epoll (each ready timerfd read), armed and
 *     collected by one thread pinned to CPU 0 for KQ_BENCH_TIMER_MS; CPU ns per expiration
 *     counted (the sum of ev.data / of the timerfd counts). _procstat: system-wide busy time
 *     from /proc/stat (user+nice+system+irq+softirq of the "cpu" line, tick-sampled, 10 ms
 *     units) over the window. It cannot see hard-irq work that interrupts an idle CPU (the
 *     tick books it as idle, and without CONFIG_IRQ_TIME_ACCOUNTING nothing else counts it),
 *     which is where a timer callback runs: it reads 0 for kqueue here (the row also prints
 *     expirations, records and wait calls per second, and the busy CPUs). _soak: the spare
 *     capacity of CPU 0 instead (a SCHED_IDLE thread counting loop iterations against a
 *     baseline window; see soak below), which sees everything; KQ_BENCH_SOAK=0 leaves it out.
 *   pipe_throughput_watched_65536B_same_cpu (_two_cpus with KQ_BENCH_PIPE_CPUS=2): a writer
 *     thread writes KQ_BENCH_PIPE_MB MiB in 64 KiB chunks into a pipe, the main thread reads
 *     them in 64 KiB chunks, both pinned to CPU 0 (emulated cross-CPU wake-ups would drown the
 *     difference), with no watcher, with a kqueue watching the read end (EVFILT_READ, level,
 *     never collected) and with an epoll watching it (EPOLLIN, never collected); none, kqueue,
 *     epoll interleaved. MB/s; the row's ratio is kqueue/epoll (goal >= 0.95), kqueue/none and
 *     epoll/none are printed next to it. With 64 KiB the copies dominate (under -icount a rep
 *     movs counts once per byte), so pipe_throughput_watched_512B_same_cpu does the same with
 *     512-byte writes and reads (KQ_BENCH_PIPE_SMALL_MB, 4 MiB): the watcher's cost per call
 *     (the wake-up callback, fsnotify) shows there.
 *   new_pipe_register_close: pipe(), EV_ADD of its read end, close() of both ends (the knote
 *     goes with the close), against pipe(), EPOLL_CTL_ADD, close(): a server's accept +
 *     register + close, with pipes; other_pipe_cycle_while_watching: a pipe nobody registers
 *     (pipe(), 1-byte write() and read(), close() of both ends) while a kqueue / an epoll
 *     watches another pipe, what watching costs the rest of the system. ns per pipe,
 *     KQ_BENCH_NEWPIPES (2000) per measurement, a fresh kqueue / epoll watching a fresh pipe
 *     each, closed after it (the module's close marks last until the watched file's close,
 *     and while one is on pipefs every pipe pays for it, epoll's side's included). The
 *     _shared_close_marks variants run the kqueue side with the module parameter
 *     shared_close_marks=Y (README: one fsnotify close mark per pipefs/sockfs super block
 *     instead of one per inode); they are left out, with a note, where the parameter cannot be
 *     written (not root). Each repeat runs kqueue, kqueue with the parameter, epoll in turn.
 * Ratios are kqueue ÷ epoll of the row's unit: below 1 is better for times and bytes, above 1
 * for rates. The unit says which.
 *
 * Knobs (environment; the VM gets them as kq.env=NAME=VALUE): KQ_BENCH_REPEATS (5),
 * KQ_BENCH_PINGPONG round trips per same-CPU measurement (2000), KQ_BENCH_FDS (10000),
 * KQ_BENCH_CHURN iterations (500), KQ_BENCH_MS producer window (500), KQ_BENCH_TIMER_MS
 * (500), KQ_BENCH_SOAK (1), KQ_BENCH_PIPE_MB (32), KQ_BENCH_PIPE_SMALL_MB (4),
 * KQ_BENCH_PIPE_CPUS (1), KQ_BENCH_NEWPIPES (2000), KQ_BENCH_CLOCK=wall|icount (labels the output: under QEMU's -icount guest time is
 * instructions executed, 1 ns each; every vCPU then runs in one host thread, so multi-thread
 * rows count instructions, not parallel speed). With the defaults the binary takes about 40 s
 * of guest time in the perf-kernel VM under TCG (wall-clock), about 30 s of guest time and
 * 60-70 s of host time under -icount.
 */
#include "kq_test_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPEATS 50
#define PRODUCERS 4
#define CHURN_SET 32
#define BATCH 64
#define CHUNK (64 * 1024)
#define WAIT_MS 5000		/* a wait that should return at once; longer = a failure */

enum api { KQ, EP, NONE };
static const char *const api_name[] = { "kqueue", "epoll", "none" };
static const struct timespec zero_ts;

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static long knob(const char *name, long def, long min, long max)
{
	long v;

	switch (kq_env_long(name, 10, min, max, &v)) {
	case 1:
		return v;
	case -1:
		msg("%s=%s ignored (want %ld..%ld), using %ld\n", name, getenv(name), min, max, def);
	}
	return def;
}

static int repeats(void)
{
	static int n;

	if (!n)
		n = knob("KQ_BENCH_REPEATS", 5, 1, MAX_REPEATS);
	return n;
}

/* A start gate: threads wait until it opens (go) or the run is called off (stop). */
struct gate {
	pthread_mutex_t m;
	pthread_cond_t c;
	int state;		/* 0 closed, 1 go, 2 stop */
};

static int gate_wait(struct gate *g)
{
	int s;

	pthread_mutex_lock(&g->m);
	while (!g->state)
		pthread_cond_wait(&g->c, &g->m);
	s = g->state;
	pthread_mutex_unlock(&g->m);
	return s == 1 ? 0 : -1;
}

static void gate_open(struct gate *g, int state)
{
	pthread_mutex_lock(&g->m);
	g->state = state;
	pthread_cond_broadcast(&g->c);
	pthread_mutex_unlock(&g->m);
}

static int raise_nofile(long want)
{
	struct rlimit rl = { want, want };

	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return 0;
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_max >= (rlim_t)want ? 0 : -1;
}

/* CPUs 0..n-1 all allowed? */
static int have_cpus(int n)
{
	cpu_set_t s;

	if (sched_getaffinity(0, sizeof(s), &s))
		return 0;
	for (int i = 0; i < n; i++)
		if (!CPU_ISSET(i, &s))
			return 0;
	return 1;
}

static int pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return pthread_setaffinity_np(pthread_self(), sizeof(s), &s) ? -1 : 0;
}

/* ---- statistics and output --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_REPEATS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double vmin(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static double vmax(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

/* A figure with about 3 significant digits, no exponent. */
static const char *fig(char *buf, double v)
{
	double a = v < 0 ? -v : v;

	snprintf(buf, 32, a >= 100 || a == 0 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f", v);
	return buf;
}

/* The summary: rows written by the test processes (forked by the harness) into shared memory. */
struct sum_row {
	char name[48], unit[64], goal[32], extra[400];
	double kq, ep, ratio;
};
struct summary {
	int n;
	struct sum_row row[32];
};
static struct summary *summary;

static void __attribute__((constructor)) summary_init(void)
{
	summary = mmap(NULL, sizeof(*summary), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (summary == MAP_FAILED)
		summary = NULL;
	else
		summary->n = 0;
}

struct series {
	double v[MAX_REPEATS];
	int n;
};

static void add(struct series *s, double v)
{
	if (s->n < MAX_REPEATS)
		s->v[s->n++] = v;
}

/*
 * One "# bench suite" line: medians with min–max of both series, the median of the per-repeat
 * ratios k[i]/e[i]. `unit` names the unit and which way is better; `goal` goes to the summary.
 */
static double report(const char *row, const struct series *k, const struct series *e,
		     const char *unit, const char *goal, const char *extra)
{
	double r[MAX_REPEATS], km = median(k->v, k->n), em = median(e->v, e->n), rm;
	char b[6][32];
	int n = k->n < e->n ? k->n : e->n;

	for (int i = 0; i < n; i++)
		r[i] = e->v[i] ? k->v[i] / e->v[i] : 0;
	rm = n ? median(r, n) : 0;
	msg("bench suite %s kqueue=%s (%s–%s) epoll=%s (%s–%s) ratio=%.2f unit=%s%s%s\n", row,
	    fig(b[0], km), fig(b[1], vmin(k->v, k->n)), fig(b[2], vmax(k->v, k->n)),
	    fig(b[3], em), fig(b[4], vmin(e->v, e->n)), fig(b[5], vmax(e->v, e->n)), rm, unit,
	    extra && *extra ? " " : "", extra ? extra : "");
	if (summary && summary->n < 32) {
		struct sum_row *s = &summary->row[summary->n++];

		snprintf(s->name, sizeof(s->name), "%s", row);
		snprintf(s->unit, sizeof(s->unit), "%s", unit);
		snprintf(s->goal, sizeof(s->goal), "%s", goal);
		snprintf(s->extra, sizeof(s->extra), "%s", extra ? extra : "");
		s->kq = km;
		s->ep = em;
		s->ratio = rm;
	}
	return rm;
}

/* ---- waiting on one descriptor ------------------------------------------------------------ */

/* A kqueue or epoll watching `fd` for reading (level-triggered). */
static int watch_open(enum api api, int fd)
{
	if (api == KQ) {
		struct kevent ch;
		int kq = kqueue();

		if (kq < 0)
			return -1;
		EV_SET(&ch, fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
		if (kevent(kq, &ch, 1, NULL, 0, NULL)) {
			close(kq);
			return -1;
		}
		return kq;
	} else {
		struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };
		int ep = epoll_create1(EPOLL_CLOEXEC);

		if (ep < 0)
			return -1;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e)) {
			close(ep);
			return -1;
		}
		return ep;
	}
}

/* Wait for the one event; 1 on success, 0 on timeout, -1 on error. */
static int watch_wait(enum api api, int q, int ms)
{
	if (api == KQ) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		struct kevent ev;
		int n = kevent(q, NULL, 0, &ev, 1, &ts);

		return n == 1 && (ev.flags & EV_ERROR) ? -1 : n;
	} else {
		struct epoll_event ev;

		return epoll_wait(q, &ev, 1, ms);
	}
}

/* ---- ping-pong --------------------------------------------------------------------------- */

struct pp {
	enum api api;
	int rfd, wfd, cpu, initiator;
	long rounds, warm;
	pthread_barrier_t *bar;
	int64_t ns;		/* initiator: time of the timed rounds */
	char why[96];
};

static void *pp_thread(void *p)
{
	struct pp *a = p;
	int q = -1, n;
	int64_t t0 = 0;
	char b = 'x';

	if (pin(a->cpu))
		snprintf(a->why, sizeof(a->why), "pin to CPU %d: %s", a->cpu, strerror(errno));
	else if ((q = watch_open(a->api, a->rfd)) < 0)
		snprintf(a->why, sizeof(a->why), "%s on the pipe: %s", api_name[a->api], strerror(errno));
	pthread_barrier_wait(a->bar);
	if (q < 0)
		goto out;
	for (long i = 0; i < a->warm + a->rounds; i++) {
		if (a->initiator && i == a->warm)
			t0 = now_ns();
		if (a->initiator && write(a->wfd, &b, 1) != 1) {
			snprintf(a->why, sizeof(a->why), "write: %s", strerror(errno));
			break;
		}
		n = watch_wait(a->api, q, WAIT_MS);
		if (n != 1) {
			snprintf(a->why, sizeof(a->why), "round %ld: wait returned %d (%s)", i, n,
				 n < 0 ? strerror(errno) : "timeout");
			break;
		}
		if (read(a->rfd, &b, 1) != 1) {
			snprintf(a->why, sizeof(a->why), "read: %s", strerror(errno));
			break;
		}
		if (!a->initiator && write(a->wfd, &b, 1) != 1) {
			snprintf(a->why, sizeof(a->why), "write: %s", strerror(errno));
			break;
		}
	}
	if (a->initiator)
		a->ns = now_ns() - t0;
out:
	if (q >= 0)
		close(q);
	return NULL;
}

/* ns per round trip, or -1 with *why set. */
static double ping_pong(enum api api, int cpu_a, int cpu_b, long rounds, char *why, size_t wl)
{
	int ab[2], ba[2];
	pthread_barrier_t bar;
	struct pp a = { .api = api, .cpu = cpu_a, .initiator = 1, .rounds = rounds, .warm = 50,
			.bar = &bar };
	struct pp b = { .api = api, .cpu = cpu_b, .initiator = 0, .rounds = rounds, .warm = 50,
			.bar = &bar };
	pthread_t ta, tb;
	double r = -1;

	if (pipe2(ab, O_CLOEXEC | O_NONBLOCK))
		return snprintf(why, wl, "pipe: %s", strerror(errno)), -1;
	if (pipe2(ba, O_CLOEXEC | O_NONBLOCK)) {
		snprintf(why, wl, "pipe: %s", strerror(errno));
		close(ab[0]);
		close(ab[1]);
		return -1;
	}
	a.wfd = ab[1], a.rfd = ba[0];
	b.wfd = ba[1], b.rfd = ab[0];
	pthread_barrier_init(&bar, NULL, 2);
	if (pthread_create(&ta, NULL, pp_thread, &a) == 0) {
		if (pthread_create(&tb, NULL, pp_thread, &b) == 0) {
			pthread_join(tb, NULL);
		} else {
			snprintf(b.why, sizeof(b.why), "pthread_create");
			pthread_barrier_wait(&bar);	/* let a go: it times out */
		}
		pthread_join(ta, NULL);
		if (a.why[0] || b.why[0])
			snprintf(why, wl, "%s: %s%s%s", api_name[api], a.why, a.why[0] && b.why[0] ? "; " : "",
				 b.why);
		else
			r = (double)a.ns / rounds;
	} else {
		snprintf(why, wl, "pthread_create");
	}
	pthread_barrier_destroy(&bar);
	close(ab[0]), close(ab[1]), close(ba[0]), close(ba[1]);
	return r;
}

FIXTURE(suite) {};
FIXTURE_SETUP(suite) {}
FIXTURE_TEARDOWN(suite) {}

static void clock_note(void)
{
	const char *c = getenv("KQ_BENCH_CLOCK");

	if (c && !strcmp(c, "icount"))
		msg("bench suite clock=icount: guest time is instructions executed (1 ns = 1 instruction); all "
		    "vCPUs run in one host thread, so multi-thread rows count instructions, not parallel "
		    "speed; an atomic or an irq-off section is one instruction (tens of cycles on "
		    "hardware), rep movs/stos count once per byte\n");
	else
		msg("bench suite clock=%s: guest wall-clock time\n", c && *c ? c : "wall");
}

static void pp_row(struct __test_metadata *_metadata, const char *row, int cpu_a, int cpu_b)
{
	/* Across CPUs a round trip costs 10-30x more under TCG (emulated IPIs): a quarter of them. */
	long rounds = knob("KQ_BENCH_PINGPONG", 2000, 40, 10000000) / (cpu_a == cpu_b ? 1 : 4);
	struct series k = { 0 }, e = { 0 };
	char why[256] = "";
	double v;

	for (int r = 0; r < repeats(); r++) {
		v = ping_pong(KQ, cpu_a, cpu_b, rounds, why, sizeof(why));
		ASSERT_LT(0, v) TH_LOG("%s", why);
		add(&k, v);
		v = ping_pong(EP, cpu_a, cpu_b, rounds, why, sizeof(why));
		ASSERT_LT(0, v) TH_LOG("%s", why);
		add(&e, v);
	}
	report(row, &k, &e, "ns/round-trip (lower is better)", "<= 1.0", NULL);
}

TEST_F_TIMEOUT(suite, ping_pong_same_cpu, 300)
{
	clock_note();
	if (!have_cpus(1))
		SKIP(return, "CPU 0 is not in this process's affinity mask");
	pp_row(_metadata, "ping_pong_same_cpu", 0, 0);
}

TEST_F_TIMEOUT(suite, ping_pong_two_cpus, 300)
{
	if (!have_cpus(2))
		SKIP(return, "needs CPUs 0 and 1");
	pp_row(_metadata, "ping_pong_two_cpus", 0, 1);
}

/* ---- registration, deletion, close, memory ------------------------------------------------ */

/* A field of /proc/meminfo in kB, or -1. */
static long meminfo_kb(const char *field)
{
	char line[256];
	size_t fl = strlen(field);
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			kb = strtol(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* Bytes of active slab objects from /proc/slabinfo (sum of active_objs x objsize), or -1. */
static long long slabinfo_bytes(void)
{
	char line[512], name[64];
	unsigned long active, total, size;
	long long sum = 0;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lu %lu %lu", name, &active, &total, &size) == 4)
			sum += (long long)active * size;
	fclose(f);
	return sum;
}

/*
 * Bytes of a kqueue's descriptor table outside the slab (its fdinfo line "fd_table: slots=N",
 * 8 bytes a slot): a table above 8 KiB (KMALLOC_MAX_CACHE_SIZE) comes from the page
 * allocator or vmalloc, which /proc/meminfo's Slab does not count; a smaller one is a slab
 * object, counted there already. 0 for an epoll, or when fdinfo has no such line.
 */
static long table_bytes_outside_slab(int q)
{
	char text[1024];
	const char *line;
	long slots = 0;

	/* The header lines come first: 1 KiB holds them whatever knotes follow. */
	kq_read_fdinfo(q, text, sizeof(text));
	line = strstr(text, "fd_table: slots=");
	if (!line || sscanf(line, "fd_table: slots=%ld", &slots) != 1)
		return 0;
	return slots * 8 > 8192 ? slots * 8 : 0;
}

struct reg {
	int n;
	int (*p)[2];
	struct kevent *ch;
	char why[128];
};

static int reg_kq(struct reg *g, int q, int flags)
{
	for (int i = 0; i < g->n; i++)
		EV_SET(&g->ch[i], g->p[i][0], EVFILT_READ, flags, 0, 0, NULL);
	if (kevent(q, g->ch, g->n, NULL, 0, &zero_ts)) {
		snprintf(g->why, sizeof(g->why), "kevent(%d changes, flags %#x): %s", g->n, flags,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int reg_ep(struct reg *g, int q, int op)
{
	for (int i = 0; i < g->n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.fd = g->p[i][0] };

		if (epoll_ctl(q, op, g->p[i][0], &e)) {
			snprintf(g->why, sizeof(g->why), "epoll_ctl(%d) #%d: %s", op, i, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int do_reg(struct reg *g, enum api api, int q, int add)
{
	return api == KQ ? reg_kq(g, q, add ? EV_ADD : EV_DELETE)
			 : reg_ep(g, q, add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL);
}

TEST_F_TIMEOUT(suite, register_fds, 600)
{
	struct series add_s[2] = { 0 }, del_s[2] = { 0 }, close_s[2] = { 0 }, mem_s[2] = { 0 },
		      objs_s[2] = { 0 };
	struct reg g = { .n = knob("KQ_BENCH_FDS", 10000, 10, 200000) };
	int made = 0, have_slabinfo = slabinfo_bytes() >= 0;
	char row[64];

	ASSERT_EQ(0, raise_nofile(2L * g.n + 256)) TH_LOG("RLIMIT_NOFILE below %d", 2 * g.n + 256);
	g.p = calloc(g.n, sizeof(*g.p));
	g.ch = calloc(g.n, sizeof(*g.ch));
	ASSERT_NE(NULL, g.p);
	ASSERT_NE(NULL, g.ch);
	for (; made < g.n; made++)
		if (pipe2(g.p[made], O_CLOEXEC | O_NONBLOCK))
			break;
	if (made < g.n) {
		TH_LOG("pipe2 #%d: %s", made, strerror(errno));
		goto out;
	}
	if (!have_slabinfo)
		msg("bench suite memory_per_fd: no /proc/slabinfo here (CONFIG_SLUB_DEBUG off): "
		    "/proc/meminfo Slab only, page-granular\n");
	for (int r = 0; r < repeats(); r++) {
		for (enum api api = KQ; api <= EP; api++) {
			long m0, m1, extra;
			long long o0, o1;
			int64_t t0, t1, t2;
			int q = api == KQ ? kqueue() : epoll_create1(EPOLL_CLOEXEC);

			if (q < 0) {
				snprintf(g.why, sizeof(g.why), "create: %s", strerror(errno));
				goto out;
			}
			usleep(50000);	/* let deferred frees of the previous round settle */
			o0 = slabinfo_bytes();
			m0 = meminfo_kb("Slab");
			t0 = now_ns();
			if (do_reg(&g, api, q, 1))
				goto fail_q;
			t1 = now_ns();
			m1 = meminfo_kb("Slab");
			o1 = slabinfo_bytes();
			add(&add_s[api], (double)(t1 - t0) / g.n);
			extra = table_bytes_outside_slab(q);
			add(&mem_s[api], ((m1 - m0) * 1024.0 + extra) / g.n);
			if (have_slabinfo)
				add(&objs_s[api], (double)(o1 - o0 + extra) / g.n);
			t0 = now_ns();
			if (do_reg(&g, api, q, 0))
				goto fail_q;
			t1 = now_ns();
			add(&del_s[api], (double)(t1 - t0) / g.n);
			if (do_reg(&g, api, q, 1))
				goto fail_q;
			t1 = now_ns();
			close(q);
			t2 = now_ns();
			add(&close_s[api], (double)(t2 - t1) / g.n);
			continue;
fail_q:
			close(q);
			goto out;
		}
	}
	snprintf(row, sizeof(row), "register_%d_fds", g.n);
	report(row, &add_s[KQ], &add_s[EP], "ns/fd (lower is better)", "<= 0.6", NULL);
	snprintf(row, sizeof(row), "delete_%d_fds", g.n);
	report(row, &del_s[KQ], &del_s[EP], "ns/fd (lower is better)", "<= 0.6", NULL);
	snprintf(row, sizeof(row), "close_with_%d_fds", g.n);
	report(row, &close_s[KQ], &close_s[EP], "ns/fd (lower is better)", "<= 1.0", NULL);
	snprintf(row, sizeof(row), "memory_per_fd_%d", g.n);
	report(row, &mem_s[KQ], &mem_s[EP], "slab-bytes/fd (lower is better)", "(report)", NULL);
	if (have_slabinfo) {
		snprintf(row, sizeof(row), "memory_objects_per_fd_%d", g.n);
		report(row, &objs_s[KQ], &objs_s[EP], "slabinfo-object-bytes/fd (lower is better)",
		       "(report)", NULL);
	}
out:
	for (int i = 0; i < made; i++)
		close(g.p[i][0]), close(g.p[i][1]);
	free(g.p);
	free(g.ch);
	ASSERT_EQ(g.n, made);
	ASSERT_STREQ("", g.why);
}

/* ---- 4 producers, 1 consumer -------------------------------------------------------------- */

struct prod_ctx {
	enum api api;
	int q, efd[PRODUCERS];
	atomic_int stop;
	struct gate gate;
	long triggers[PRODUCERS], events;
	char why[PRODUCERS + 1][96];
};

struct prod_arg {
	struct prod_ctx *c;
	int i;
};

static void *producer(void *p)
{
	struct prod_arg *a = p;
	struct prod_ctx *c = a->c;
	struct kevent ch;
	uint64_t one = 1;
	long n = 0;

	if (pin(a->i))
		snprintf(c->why[a->i], sizeof(c->why[0]), "pin to CPU %d: %s", a->i, strerror(errno));
	EV_SET(&ch, a->i + 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	if (gate_wait(&c->gate))
		return NULL;
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		if (c->api == KQ ? kevent(c->q, &ch, 1, NULL, 0, &zero_ts) != 0
				 : write(c->efd[a->i], &one, 8) != 8) {
			snprintf(c->why[a->i], sizeof(c->why[0]), "producer %d: %s", a->i, strerror(errno));
			break;
		}
		n++;
	}
	c->triggers[a->i] = n;
	return NULL;
}

static void *consumer(void *p)
{
	struct prod_ctx *c = p;
	struct timespec ts = { 0, 50000000 };
	struct kevent kev[BATCH];
	struct epoll_event eev[BATCH];
	long n = 0;
	int r;

	if (gate_wait(&c->gate))
		return NULL;
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		r = c->api == KQ ? kevent(c->q, NULL, 0, kev, BATCH, &ts) : epoll_wait(c->q, eev, BATCH, 50);
		if (r < 0) {
			snprintf(c->why[PRODUCERS], sizeof(c->why[0]), "consumer: %s", strerror(errno));
			break;
		}
		for (int i = 0; c->api == KQ && i < r; i++)
			if (kev[i].flags & EV_ERROR) {
				snprintf(c->why[PRODUCERS], sizeof(c->why[0]), "consumer: EV_ERROR %ld",
					 (long)kev[i].data);
				r = 0;
			}
		n += r;
	}
	c->events = n;
	return NULL;
}

/* One window of `ms`: sets *events and *triggers per second. */
static int producers_run(enum api api, int ms, double *events, double *triggers, char *why, size_t wl)
{
	struct prod_ctx *c = calloc(1, sizeof(*c));
	struct prod_arg args[PRODUCERS];
	pthread_t tp[PRODUCERS], tc;
	int started = 0, cons = 0, rc = -1;
	int64_t t0, t1;
	long trig = 0;

	if (!c)
		return snprintf(why, wl, "calloc"), -1;
	c->api = api;
	for (int i = 0; i < PRODUCERS; i++)
		c->efd[i] = -1;
	c->q = api == KQ ? kqueue() : epoll_create1(EPOLL_CLOEXEC);
	if (c->q < 0) {
		snprintf(why, wl, "%s: %s", api_name[api], strerror(errno));
		goto out;
	}
	for (int i = 0; i < PRODUCERS; i++) {
		if (api == KQ) {
			struct kevent ch;

			EV_SET(&ch, i + 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
			if (kevent(c->q, &ch, 1, NULL, 0, &zero_ts)) {
				snprintf(why, wl, "EV_ADD user: %s", strerror(errno));
				goto out;
			}
		} else {
			struct epoll_event e = { .events = EPOLLIN | EPOLLET, .data.u32 = i };

			c->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (c->efd[i] < 0 || epoll_ctl(c->q, EPOLL_CTL_ADD, c->efd[i], &e)) {
				snprintf(why, wl, "eventfd/epoll_ctl: %s", strerror(errno));
				goto out;
			}
		}
	}
	pthread_mutex_init(&c->gate.m, NULL);
	pthread_cond_init(&c->gate.c, NULL);
	for (; started < PRODUCERS; started++) {
		args[started] = (struct prod_arg){ c, started };
		if (pthread_create(&tp[started], NULL, producer, &args[started]))
			break;
	}
	cons = pthread_create(&tc, NULL, consumer, c) == 0;
	if (started < PRODUCERS || !cons) {
		snprintf(why, wl, "pthread_create");
		gate_open(&c->gate, 2);
		for (int i = 0; i < started; i++)
			pthread_join(tp[i], NULL);
		if (cons)
			pthread_join(tc, NULL);
		goto out;
	}
	gate_open(&c->gate, 1);
	t0 = now_ns();
	usleep(ms * 1000L);
	atomic_store(&c->stop, 1);
	t1 = now_ns();
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(tp[i], NULL);
	pthread_join(tc, NULL);
	for (int i = 0; i <= PRODUCERS; i++)
		if (c->why[i][0]) {
			snprintf(why, wl, "%s: %s", api_name[api], c->why[i]);
			goto out;
		}
	for (int i = 0; i < PRODUCERS; i++)
		trig += c->triggers[i];
	*events = c->events * 1e9 / (t1 - t0);
	*triggers = trig * 1e9 / (t1 - t0);
	rc = 0;
out:
	for (int i = 0; i < PRODUCERS; i++)
		if (c->efd[i] >= 0)
			close(c->efd[i]);
	if (c->q >= 0)
		close(c->q);
	free(c);
	return rc;
}

TEST_F_TIMEOUT(suite, user_triggers_4, 600)
{
	int ms = knob("KQ_BENCH_MS", 500, 10, 60000);
	struct series ke = { 0 }, ee = { 0 }, kt = { 0 }, et = { 0 };
	double ev, tr;
	char why[256] = "";

	if (!have_cpus(PRODUCERS))
		SKIP(return, "needs CPUs 0..%d for the producers", PRODUCERS - 1);
	for (int r = 0; r < repeats(); r++) {
		ASSERT_EQ(0, producers_run(KQ, ms, &ev, &tr, why, sizeof(why))) TH_LOG("%s", why);
		add(&ke, ev), add(&kt, tr);
		ASSERT_EQ(0, producers_run(EP, ms, &ev, &tr, why, sizeof(why))) TH_LOG("%s", why);
		add(&ee, ev), add(&et, tr);
	}
	report("user_triggers_4_events", &ke, &ee, "events/s (higher is better)", ">= 1.0", NULL);
	report("user_triggers_4_triggers", &kt, &et, "triggers/s (higher is better)", ">= 1.0", NULL);
}

/* ---- churn ------------------------------------------------------------------------------- */

/* Iterations per second of `iters` add-32/delete-32/wait rounds. */
static double churn_run(enum api api, int (*p)[2], int active, long iters, char *why, size_t wl)
{
	struct kevent ch[2 * CHURN_SET], kev[BATCH];
	struct epoll_event eev[BATCH], e = { .events = EPOLLIN };
	int q = api == KQ ? kqueue() : epoll_create1(EPOLL_CLOEXEC), n;
	int64_t t0;
	double r = -1;

	if (q < 0)
		return snprintf(why, wl, "%s: %s", api_name[api], strerror(errno)), -1;
	/* the always-readable pipe and set 0 */
	for (int i = -1; i < CHURN_SET; i++) {
		int fd = i < 0 ? active : p[i][0];

		if (api == KQ) {
			EV_SET(&ch[0], fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
			n = kevent(q, ch, 1, NULL, 0, &zero_ts);
		} else {
			e.data.fd = fd;
			n = epoll_ctl(q, EPOLL_CTL_ADD, fd, &e);
		}
		if (n) {
			snprintf(why, wl, "%s setup: %s", api_name[api], strerror(errno));
			goto out;
		}
	}
	t0 = now_ns();
	for (long it = 0; it < iters; it++) {
		int (*add)[2] = p + CHURN_SET * ((it + 1) % 2), (*del)[2] = p + CHURN_SET * (it % 2);

		if (api == KQ) {
			for (int i = 0; i < CHURN_SET; i++) {
				EV_SET(&ch[i], add[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL);
				EV_SET(&ch[CHURN_SET + i], del[i][0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
			}
			n = kevent(q, ch, 2 * CHURN_SET, kev, BATCH, &zero_ts);
			if (n != 1 || kev[0].ident != (uintptr_t)active || (kev[0].flags & EV_ERROR)) {
				snprintf(why, wl, "kevent: %d (%s), flags %#x data %ld", n,
					 n < 0 ? strerror(errno) : "-", n > 0 ? kev[0].flags : 0,
					 n > 0 ? (long)kev[0].data : 0);
				goto out;
			}
		} else {
			for (int i = 0; i < CHURN_SET; i++) {
				e.data.fd = add[i][0];
				if (epoll_ctl(q, EPOLL_CTL_ADD, add[i][0], &e)) {
					snprintf(why, wl, "epoll_ctl ADD: %s", strerror(errno));
					goto out;
				}
			}
			for (int i = 0; i < CHURN_SET; i++)
				if (epoll_ctl(q, EPOLL_CTL_DEL, del[i][0], NULL)) {
					snprintf(why, wl, "epoll_ctl DEL: %s", strerror(errno));
					goto out;
				}
			n = epoll_wait(q, eev, BATCH, 0);
			if (n != 1 || eev[0].data.fd != active) {
				snprintf(why, wl, "epoll_wait: %d (%s)", n, n < 0 ? strerror(errno) : "-");
				goto out;
			}
		}
	}
	r = iters * 1e9 / (now_ns() - t0);
out:
	close(q);
	return r;
}

TEST_F_TIMEOUT(suite, churn, 300)
{
	long iters = knob("KQ_BENCH_CHURN", 500, 1, 10000000);
	struct series k = { 0 }, e = { 0 };
	int p[2 * CHURN_SET][2], act[2], made = 0;
	char why[256] = "";
	double v;

	ASSERT_EQ(0, pipe2(act, O_CLOEXEC | O_NONBLOCK));
	ASSERT_EQ(1, write(act[1], "x", 1));
	for (; made < 2 * CHURN_SET; made++)
		if (pipe2(p[made], O_CLOEXEC | O_NONBLOCK))
			break;
	if (made < 2 * CHURN_SET)
		snprintf(why, sizeof(why), "pipe2: %s", strerror(errno));
	for (int r = 0; r < repeats() && !why[0]; r++) {
		v = churn_run(KQ, p, act[0], iters, why, sizeof(why));
		if (v < 0)
			break;
		add(&k, v);
		v = churn_run(EP, p, act[0], iters, why, sizeof(why));
		if (v < 0)
			break;
		add(&e, v);
	}
	for (int i = 0; i < made; i++)
		close(p[i][0]), close(p[i][1]);
	close(act[0]), close(act[1]);
	ASSERT_STREQ("", why);
	report("churn_32_add_32_delete_1_wait", &k, &e, "iterations/s (higher is better)", ">= 1.0 (aim 1.5)",
	       NULL);
}

/* ---- 1 000 periodic timers ---------------------------------------------------------------- */

/*
 * Spare capacity: a SCHED_IDLE thread pinned to CPU 0 counts loop iterations. Whatever else
 * runs on CPU 0 (threads, and hard-irq work, which /proc/stat books as idle when it interrupts
 * the idle task) takes iterations away; against a baseline window with nothing else running,
 * the fraction of iterations lost is the fraction of CPU 0 used. The timers row runs all its
 * work on CPU 0 (the collecting thread is pinned there, and a timer fires on the CPU that armed
 * it). Under -icount the other vCPUs stay idle and cost no instructions, so there CPU 0's time
 * is instructions executed.
 */
#define MAX_SOAK 64
struct soak {
	int n, cpu[MAX_SOAK];
	pthread_t tid[MAX_SOAK];
	struct {
		_Atomic unsigned long count;
		char pad[56];
	} slot[MAX_SOAK];
	atomic_int stop;
	struct soak_arg {
		struct soak *s;
		int i;
	} arg[MAX_SOAK];
};

static void *soaker(void *p)
{
	struct soak_arg *a = p;
	struct sched_param sp = { 0 };
	unsigned long c = 0;

	pin(a->s->cpu[a->i]);
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	for (;;) {
		c++;
		if (!(c & 1023)) {
			atomic_store_explicit(&a->s->slot[a->i].count, c, memory_order_relaxed);
			if (atomic_load_explicit(&a->s->stop, memory_order_relaxed))
				break;
		}
	}
	return NULL;
}

static void soak_stop(struct soak *s)
{
	atomic_store(&s->stop, 1);
	for (int i = 0; i < s->n; i++)
		pthread_join(s->tid[i], NULL);
	s->n = 0;
}

/* Soakers on the `ncpu` CPUs from `cpu0` on. */
static int soak_start(struct soak *s, int cpu0, int ncpu)
{
	memset(s, 0, sizeof(*s));
	for (int c = cpu0; c < cpu0 + ncpu && s->n < MAX_SOAK; c++) {
		s->cpu[s->n] = c;
		s->arg[s->n] = (struct soak_arg){ s, s->n };
		if (pthread_create(&s->tid[s->n], NULL, soaker, &s->arg[s->n])) {
			soak_stop(s);
			return -1;
		}
		s->n++;
	}
	usleep(20000);
	return 0;
}

static void soak_read(struct soak *s, unsigned long *c)
{
	for (int i = 0; i < s->n; i++)
		c[i] = atomic_load_explicit(&s->slot[i].count, memory_order_relaxed);
}

/* user+nice+system+irq+softirq of /proc/stat's "cpu" line, in USER_HZ ticks; -1 if unreadable. */
static long long busy_ticks(void)
{
	unsigned long long v[7];
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &v[6]);
	fclose(f);
	return n == 7 ? (long long)(v[0] + v[1] + v[2] + v[5] + v[6]) : -1;
}

struct timers {
	int n, q, *tfd;
	long long exp;		/* expirations counted in the window */
	long long recs, calls;	/* records (events / timerfd reads) and wait calls in it */
	double busy_ns, secs;	/* CPU ns used (by the chosen method), window length */
	struct soak *soak;	/* NULL: /proc/stat; else the soakers, with... */
	double base;		/* ...their iterations per second, all together, with nothing else */
	char why[128];
};

/* Collect for `ms`; counts expirations into t->exp. */
static int timers_collect(struct timers *t, enum api api, int ms, int count)
{
	struct kevent kev[BATCH * 16];
	struct epoll_event eev[BATCH * 16];
	struct timespec ts = { 0, 100000000 };
	int64_t end = now_ns() + ms * 1000000LL;
	uint64_t x;
	int n;

	while (now_ns() < end) {
		n = api == KQ ? kevent(t->q, NULL, 0, kev, BATCH * 16, &ts) : epoll_wait(t->q, eev, BATCH * 16, 100);
		if (n < 0) {
			snprintf(t->why, sizeof(t->why), "%s wait: %s", api_name[api], strerror(errno));
			return -1;
		}
		t->calls += count;
		for (int i = 0; i < n; i++) {
			if (api == KQ) {
				if (kev[i].flags & EV_ERROR) {
					snprintf(t->why, sizeof(t->why), "EV_ERROR %ld", (long)kev[i].data);
					return -1;
				}
				x = kev[i].data;
			} else if (read(eev[i].data.fd, &x, 8) != 8) {
				if (errno == EAGAIN)
					continue;
				snprintf(t->why, sizeof(t->why), "timerfd read: %s", strerror(errno));
				return -1;
			}
			if (count)
				t->exp += x, t->recs++;
		}
	}
	return 0;
}

/* Iterations of all soakers from c0 to c1. */
static double soak_sum(struct soak *s, const unsigned long *c0, const unsigned long *c1)
{
	double sum = 0;

	for (int i = 0; i < s->n; i++)
		sum += c1[i] - c0[i];
	return sum;
}

/* The soakers' iterations per second over `ms` with nothing else running: t->base. */
static void soak_baseline(struct timers *t, int ms)
{
	unsigned long c0[MAX_SOAK], c1[MAX_SOAK];
	int64_t t0 = now_ns();

	soak_read(t->soak, c0);
	usleep(ms * 1000L);
	soak_read(t->soak, c1);
	t->base = soak_sum(t->soak, c0, c1) / ((now_ns() - t0) / 1e9);
}

static int timers_run(struct timers *t, enum api api, int ms)
{
	struct itimerspec on = { { 0, 1000000 }, { 0, 1000000 } }, off = { 0 };
	unsigned long c0[MAX_SOAK], c1[MAX_SOAK];
	long long b0 = 0, b1 = 0;
	int64_t t0;
	int rc = -1;

	t->exp = t->recs = t->calls = 0;
	if (api == KQ) {
		struct kevent *ch = calloc(t->n, sizeof(*ch));

		t->q = kqueue();
		if (!ch || t->q < 0) {
			snprintf(t->why, sizeof(t->why), "kqueue: %s", strerror(errno));
			free(ch);
			goto out;
		}
		for (int i = 0; i < t->n; i++)
			EV_SET(&ch[i], i + 1, EVFILT_TIMER, EV_ADD, NOTE_MSECONDS, 1, NULL);
		if (kevent(t->q, ch, t->n, NULL, 0, &zero_ts)) {
			snprintf(t->why, sizeof(t->why), "EV_ADD %d timers: %s", t->n, strerror(errno));
			free(ch);
			goto out;
		}
		free(ch);
	} else {
		t->q = epoll_create1(EPOLL_CLOEXEC);
		if (t->q < 0) {
			snprintf(t->why, sizeof(t->why), "epoll_create1: %s", strerror(errno));
			goto out;
		}
		for (int i = 0; i < t->n; i++) {
			struct epoll_event e = { .events = EPOLLIN, .data.fd = t->tfd[i] };

			if (timerfd_settime(t->tfd[i], 0, &on, NULL) ||
			    epoll_ctl(t->q, EPOLL_CTL_ADD, t->tfd[i], &e)) {
				snprintf(t->why, sizeof(t->why), "timerfd_settime/epoll_ctl: %s", strerror(errno));
				goto out;
			}
		}
	}
	if (timers_collect(t, api, 20, 0))	/* warm up */
		goto out;
	if (t->soak)
		soak_read(t->soak, c0);
	else
		b0 = busy_ticks();
	t0 = now_ns();
	if (timers_collect(t, api, ms, 1))
		goto out;
	if (t->soak)
		soak_read(t->soak, c1);
	else
		b1 = busy_ticks();
	t->secs = (now_ns() - t0) / 1e9;
	if (t->soak) {
		double used = t->base > 0 ? 1 - soak_sum(t->soak, c0, c1) / t->secs / t->base : 0;

		t->busy_ns = used * t->soak->n * t->secs * 1e9;
	} else {
		t->busy_ns = (b1 - b0) * 1e9 / sysconf(_SC_CLK_TCK);
	}
	rc = 0;
out:
	if (api == EP)
		for (int i = 0; i < t->n; i++)
			timerfd_settime(t->tfd[i], 0, &off, NULL);
	if (t->q >= 0)
		close(t->q);
	t->q = -1;
	return rc;
}

TEST_F_TIMEOUT(suite, timers_1000, 300)
{
	int ms = knob("KQ_BENCH_TIMER_MS", 500, 10, 60000), made = 0;
	int soak_on = knob("KQ_BENCH_SOAK", 1, 0, 1);
	struct timers t = { .n = 1000, .q = -1 };
	/* [0]: /proc/stat, [1]: soakers */
	struct series k[2] = { 0 }, e[2] = { 0 }, kx = { 0 }, ex = { 0 }, kb = { 0 }, eb = { 0 },
		      kr = { 0 }, er = { 0 }, kc = { 0 }, ec = { 0 };
	struct soak *soak = calloc(1, sizeof(*soak));
	char extra[400], b[8][32];

	ASSERT_NE(NULL, soak);
	if (busy_ticks() < 0)
		SKIP(free(soak); return, "no /proc/stat");
	ASSERT_EQ(0, pin(0));	/* the timers and their collection on CPU 0 (see soak) */
	ASSERT_EQ(0, raise_nofile(t.n + 256));
	t.tfd = calloc(t.n, sizeof(int));
	ASSERT_NE(NULL, t.tfd);
	for (; made < t.n; made++) {
		t.tfd[made] = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (t.tfd[made] < 0)
			break;
	}
	if (made < t.n)
		snprintf(t.why, sizeof(t.why), "timerfd_create: %s", strerror(errno));
	for (int r = 0; r < repeats() && !t.why[0]; r++) {
		for (int m = 0; m < 1 + soak_on && !t.why[0]; m++) {
			if (m == 1) {
				if (soak_start(soak, 0, 1)) {
					snprintf(t.why, sizeof(t.why), "soaker threads: %s", strerror(errno));
					break;
				}
				t.soak = soak;
				soak_baseline(&t, ms);
			}
			for (enum api api = KQ; api <= EP; api++) {
				if (timers_run(&t, api, ms))
					break;
				if (t.exp <= 0) {
					snprintf(t.why, sizeof(t.why), "%s: no expiration in %d ms", api_name[api], ms);
					break;
				}
				add(api == KQ ? &k[m] : &e[m], t.busy_ns / t.exp);
				if (m == 0) {
					add(api == KQ ? &kx : &ex, t.exp / t.secs);
					add(api == KQ ? &kr : &er, t.recs / t.secs);
					add(api == KQ ? &kc : &ec, t.calls / t.secs);
					add(api == KQ ? &kb : &eb, t.busy_ns / 1e9 / t.secs);
				}
			}
			if (m == 1) {
				soak_stop(soak);
				t.soak = NULL;
			}
		}
	}
	for (int i = 0; i < made; i++)
		close(t.tfd[i]);
	free(t.tfd);
	free(soak);
	ASSERT_STREQ("", t.why);
	snprintf(extra, sizeof(extra), "per s: expirations kqueue=%s timerfd=%s, records %s / %s, "
		 "waits %s / %s; busy CPUs %s / %s",
		 fig(b[0], median(kx.v, kx.n)), fig(b[1], median(ex.v, ex.n)),
		 fig(b[2], median(kr.v, kr.n)), fig(b[3], median(er.v, er.n)),
		 fig(b[4], median(kc.v, kc.n)), fig(b[5], median(ec.v, ec.n)),
		 fig(b[6], median(kb.v, kb.n)), fig(b[7], median(eb.v, eb.n)));
	report("timers_1000_1ms_procstat", &k[0], &e[0], "CPU-ns/expiration (lower is better)",
	       "keep (< 1)", extra);
	if (soak_on)
		report("timers_1000_1ms_soak", &k[1], &e[1], "CPU-ns/expiration (lower is better)",
		       "keep (< 1)", "spare-capacity method: hard-irq work included");
	else
		msg("bench suite timers_1000_1ms_soak: not run (KQ_BENCH_SOAK=0)\n");
}

/* ---- pipe throughput with a watcher ------------------------------------------------------- */

struct writer {
	int fd, cpu;
	long long bytes;
	char why[96];
};

static long chunk = CHUNK;	/* the write and read size of pipe_run() */

/* Writes w->bytes in `chunk` writes, then closes its end (so a short run is EOF, not a hang). */
static void *writer(void *p)
{
	struct writer *w = p;
	static char buf[CHUNK];
	long long left = w->bytes;

	if (pin(w->cpu))
		snprintf(w->why, sizeof(w->why), "pin to CPU %d: %s", w->cpu, strerror(errno));
	while (left > 0 && !w->why[0]) {
		ssize_t n = write(w->fd, buf, left < chunk ? left : chunk);

		if (n <= 0) {
			snprintf(w->why, sizeof(w->why), "write: %s", n < 0 ? strerror(errno) : "0");
			break;
		}
		left -= n;
	}
	close(w->fd);
	return NULL;
}

/* MB/s of `bytes` through a fresh pipe watched by `api` (or nothing); -1 with *why. */
static double pipe_run(enum api api, long long bytes, int wcpu, char *why, size_t wl)
{
	static char buf[CHUNK];
	struct writer w = { .bytes = bytes, .cpu = wcpu };
	int p[2], q = -1;
	long long got = 0;
	pthread_t tw;
	int64_t t0, t1;
	double r = -1;

	if (pipe2(p, O_CLOEXEC))
		return snprintf(why, wl, "pipe: %s", strerror(errno)), -1;
	if (api != NONE && (q = watch_open(api, p[0])) < 0) {
		snprintf(why, wl, "%s watching the pipe: %s", api_name[api], strerror(errno));
		close(p[1]);
		goto out;
	}
	w.fd = p[1];
	t0 = now_ns();
	if (pthread_create(&tw, NULL, writer, &w)) {
		snprintf(why, wl, "pthread_create");
		close(p[1]);
		goto out;
	}
	while (got < bytes) {
		ssize_t n = read(p[0], buf, chunk);

		if (n <= 0) {
			snprintf(why, wl, "read after %lld bytes: %s", got, n < 0 ? strerror(errno) : "EOF");
			break;
		}
		got += n;
	}
	t1 = now_ns();
	if (got < bytes)
		close(p[0]), p[0] = -1;	/* unblocks the writer (EPIPE; SIGPIPE is ignored) */
	pthread_join(tw, NULL);
	if (w.why[0])
		snprintf(why, wl, "%s (%s)", w.why, api_name[api]);
	else if (got >= bytes)
		r = bytes / ((t1 - t0) / 1e9) / 1e6;
out:
	if (q >= 0)
		close(q);
	if (p[0] >= 0)
		close(p[0]);
	return r;
}

static void pipe_row(struct __test_metadata *_metadata, long csize, long long bytes)
{
	int cpus = knob("KQ_BENCH_PIPE_CPUS", 1, 1, 2);
	struct series s[3] = { 0 }, kn = { 0 }, en = { 0 };
	char why[256] = "", extra[256], row[64], b[5][32];
	double v;

	if (!have_cpus(cpus))
		SKIP(return, "needs CPUs 0..%d", cpus - 1);
	chunk = csize;
	ASSERT_EQ(0, pin(0));	/* the reader; the writer on CPU 0 too, or on CPU 1 */
	signal(SIGPIPE, SIG_IGN);
	for (int r = 0; r < repeats(); r++) {
		/* none, kqueue, epoll, then the next repeat: each watcher next to a bare run */
		for (enum api api = NONE;; api = api == NONE ? KQ : api == KQ ? EP : NONE) {
			v = pipe_run(api, bytes, cpus - 1, why, sizeof(why));
			ASSERT_LT(0, v) TH_LOG("%s", why);
			add(&s[api], v);
			if (api == EP)
				break;
		}
		add(&kn, s[KQ].v[r] / s[NONE].v[r]);
		add(&en, s[EP].v[r] / s[NONE].v[r]);
	}
	snprintf(extra, sizeof(extra), "none=%s (%s–%s) kqueue/none=%.2f epoll/none=%.2f",
		 fig(b[0], median(s[NONE].v, s[NONE].n)), fig(b[1], vmin(s[NONE].v, s[NONE].n)),
		 fig(b[2], vmax(s[NONE].v, s[NONE].n)), median(kn.v, kn.n), median(en.v, en.n));
	snprintf(row, sizeof(row), "pipe_throughput_watched_%ldB_%s", csize,
		 cpus == 1 ? "same_cpu" : "two_cpus");
	report(row, &s[KQ], &s[EP], "MB/s (higher is better)", ">= 0.95", extra);
}

TEST_F_TIMEOUT(suite, pipe_throughput, 600)
{
	pipe_row(_metadata, CHUNK, knob("KQ_BENCH_PIPE_MB", 32, 1, 65536) << 20);
}

TEST_F_TIMEOUT(suite, pipe_throughput_small_writes, 600)
{
	pipe_row(_metadata, 512, knob("KQ_BENCH_PIPE_SMALL_MB", 4, 1, 65536) << 20);
}

/* ---- new pipes: what the close notification costs ---------------------------------------- */

#define CLOSE_MARKS_PARAM "shared_close_marks"

/* Sets the module's shared_close_marks parameter: 0, or the errno (not root, no module). */
static int set_shared_marks(char v)
{
	return kq_param_write(CLOSE_MARKS_PARAM, v == 'Y' ? "Y" : "N");
}

enum { NP_KQ, NP_KQ_SHARED, NP_EP, NP_KINDS };

/*
 * One measurement of `kind` (a fresh kqueue or epoll watching a fresh pipe): ns per iteration
 * of pipe(), registration of its read end, close() of both ends (`reg`), or of pipe(), a
 * 1-byte write() and read(), close() of both ends with nothing registered (`!reg`). -1 on a
 * failure. The watched pipe is closed at the end: a pipe the module watched keeps its close
 * mark (and its watched-files entry) until its close, and a mark on pipefs slows every pipe,
 * epoll's side's too, as long as it exists.
 */
static double newpipe_run(int kind, int reg, long iters, char *why, size_t wl)
{
	enum api api = kind == NP_EP ? EP : KQ;
	int64_t t0;
	int w[2], q;
	char b;

	usleep(50000);	/* let the marks of the previous measurement's pipes go (deferred work) */
	if (pipe2(w, O_CLOEXEC | O_NONBLOCK)) {
		snprintf(why, wl, "pipe2: %s", strerror(errno));
		return -1;
	}
	q = watch_open(api, w[0]);
	if (q < 0) {
		snprintf(why, wl, "watch %s: %s", api_name[api], strerror(errno));
		close(w[0]), close(w[1]);
		return -1;
	}
	t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		struct epoll_event e = { .events = EPOLLIN };
		struct kevent ch;
		int p[2], rc = 0;

		if (pipe2(p, O_CLOEXEC | O_NONBLOCK)) {
			snprintf(why, wl, "pipe2: %s", strerror(errno));
			break;
		}
		if (reg && api == KQ) {
			EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
			rc = kevent(q, &ch, 1, NULL, 0, NULL);
		} else if (reg) {
			e.data.fd = p[0];
			rc = epoll_ctl(q, EPOLL_CTL_ADD, p[0], &e);
		} else if (write(p[1], "x", 1) != 1 || read(p[0], &b, 1) != 1) {
			rc = -1;
		}
		close(p[0]);
		close(p[1]);
		if (rc) {
			snprintf(why, wl, "%s #%ld: %s", reg ? "register" : "write/read", i, strerror(errno));
			break;
		}
	}
	t0 = now_ns() - t0;
	close(q);
	close(w[0]), close(w[1]);
	return *why ? -1 : (double)t0 / iters;
}

/* The new_pipe_* and other_pipe_* rows (see the top of the file). */
TEST_F_TIMEOUT(suite, new_pipes, 600)
{
	long iters = knob("KQ_BENCH_NEWPIPES", 2000, 1, 10000000);
	struct series s[2][NP_KINDS] = { 0 };
	int shared = set_shared_marks('N') == 0;
	char why[256] = "";

	if (!shared)
		msg("bench suite new_pipes: module parameter %s not writable (not root?): no "
		    "_shared_close_marks rows\n",
		    CLOSE_MARKS_PARAM);
	for (int r = 0; r < repeats() && !why[0]; r++) {
		for (int kind = 0; kind < NP_KINDS && !why[0]; kind++) {
			int err;

			if (kind == NP_KQ_SHARED && !shared)
				continue;
			err = shared ? set_shared_marks(kind == NP_KQ_SHARED ? 'Y' : 'N') : 0;
			if (err) {
				snprintf(why, sizeof(why), "setting parameter %s: %s", CLOSE_MARKS_PARAM,
					 strerror(err));
				break;
			}
			for (int reg = 1; reg >= 0 && !why[0]; reg--) {
				double v = newpipe_run(kind, reg, iters, why, sizeof(why));

				if (v >= 0)
					add(&s[reg][kind], v);
			}
		}
	}
	if (shared)
		set_shared_marks('N');
	ASSERT_STREQ("", why);
	report("new_pipe_register_close", &s[1][NP_KQ], &s[1][NP_EP], "ns per pipe (lower is better)",
	       "(report)", NULL);
	if (shared)
		report("new_pipe_register_close_shared_close_marks", &s[1][NP_KQ_SHARED], &s[1][NP_EP],
		       "ns per pipe (lower is better)", "(report)", NULL);
	report("other_pipe_cycle_while_watching", &s[0][NP_KQ], &s[0][NP_EP],
	       "ns per pipe (lower is better)", "(report)", NULL);
	if (shared)
		report("other_pipe_cycle_while_watching_shared_close_marks", &s[0][NP_KQ_SHARED],
		       &s[0][NP_EP], "ns per pipe (lower is better)", "(report)", NULL);
}

/* ---- summary ----------------------------------------------------------------------------- */

TEST_F(suite, summary)
{
	const char *c = getenv("KQ_BENCH_CLOCK");
	char b[2][32];

	if (!summary)
		SKIP(return, "no shared memory for the summary");
	msg("bench suite summary (clock=%s, %d repeats, medians; ratio = median of kqueue/epoll per repeat)\n",
	    c && *c ? c : "wall", repeats());
	msg("| row | kqueue | epoll | ratio | unit | goal |\n");
	msg("|---|---|---|---|---|---|\n");
	for (int i = 0; i < summary->n; i++) {
		struct sum_row *s = &summary->row[i];

		msg("| %s | %s | %s | %.2f | %s | %s |\n", s->name, fig(b[0], s->kq), fig(b[1], s->ep),
		    s->ratio, s->unit, s->goal);
		if (s->extra[0])
			msg("|   (%s) | | | | | |\n", s->extra);
	}
}

TEST_HARNESS_MAIN
