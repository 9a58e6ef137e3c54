// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Timeout precision of kevent(): how late does an empty kevent() with a timeout return?
 * Each case asserts that no call returns early, and logs the measured overshoot (median and
 * maximum over the samples) next to ppoll() with the same timespec on an idle pipe, which
 * uses the same hrtimer machinery with the task's default 50 us timer slack. The figures are
 * quoted in the README; they come from the emulated test VM, so they show the machinery, not
 * bare-metal latency.
 */
#include "kq_test_common.h"

#include <poll.h>

#define SAMPLES 25

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Overshoots (ns past the requested timeout) of SAMPLES waits, sorted. -1 on an early return. */
static int measure(int kq, int pipe_rd, int64_t timeout_ns, int64_t *out)
{
	struct timespec ts = { timeout_ns / 1000000000LL, timeout_ns % 1000000000LL };
	struct kevent ev;
	int i;

	for (i = 0; i < SAMPLES; i++) {
		int64_t t0 = now_ns(), dt;

		if (kq >= 0) {
			if (kevent(kq, NULL, 0, &ev, 1, &ts) != 0)
				return -1;
		} else {
			struct pollfd p = { .fd = pipe_rd, .events = POLLIN };

			if (ppoll(&p, 1, &ts, NULL) != 0)
				return -1;
		}
		dt = now_ns() - t0 - timeout_ns;
		if (dt < 0)
			return -1;
		out[i] = dt;
	}
	qsort(out, SAMPLES, sizeof(out[0]), cmp64);
	return 0;
}

static void slack_case(struct __test_metadata *_metadata, int64_t timeout_ns)
{
	int64_t kq_s[SAMPLES], pp_s[SAMPLES];
	int kq, p[2];

	alarm(60);
	kq = kqueue();
	ASSERT_LE(0, kq);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, measure(kq, -1, timeout_ns, kq_s)) TH_LOG("kevent returned early or failed");
	ASSERT_EQ(0, measure(-1, p[0], timeout_ns, pp_s)) TH_LOG("ppoll returned early or failed");
	ksft_print_msg("slack timeout=%lld us: kevent median %lld us max %lld us; ppoll median %lld us max %lld us\n",
		       (long long)timeout_ns / 1000,
		       (long long)kq_s[SAMPLES / 2] / 1000, (long long)kq_s[SAMPLES - 1] / 1000,
		       (long long)pp_s[SAMPLES / 2] / 1000, (long long)pp_s[SAMPLES - 1] / 1000);
	close(kq);
}

TEST(slack_100us) { slack_case(_metadata, 100000); }
TEST(slack_1ms) { slack_case(_metadata, 1000000); }
TEST(slack_10ms) { slack_case(_metadata, 10000000); }

TEST_HARNESS_MAIN
