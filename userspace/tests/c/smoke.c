/*
 * Links against libkqueue (.a or .so) through <sys/event.h>: the C symbols exist, flag errors
 * come first, and without /dev/kqueue kqueue() fails with ENOSYS. Exit status 0 on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/event.h>
#include <unistd.h>

static int failures;

static void expect_errno(const char *what, int ret, int want)
{
	if (ret == -1 && errno == want)
		return;
	printf("FAIL %s: returned %d, errno %d, want -1/%d\n", what, ret, errno, want);
	failures++;
}

int main(void)
{
	struct kevent kev;
	struct timespec zero = { 0, 0 };

	EV_SET(&kev, 1, EVFILT_USER, EV_ADD, 0, 0, NULL);
	expect_errno("kevent(-1)", kevent(-1, &kev, 1, NULL, 0, &zero), EBADF);
	expect_errno("kqueue1(O_NONBLOCK)", kqueue1(O_NONBLOCK), EINVAL);
	expect_errno("kqueuex(2)", kqueuex(2), EINVAL);
	if (access(KQUEUE_DEVICE, F_OK) != 0) {
		expect_errno("kqueue()", kqueue(), ENOSYS);
		expect_errno("kqueuex(KQUEUE_CLOEXEC)", kqueuex(KQUEUE_CLOEXEC), ENOSYS);
	} else {
		printf("%s exists: ENOSYS checks skipped\n", KQUEUE_DEVICE);
	}
	printf("%s\n", failures ? "smoke: FAILED" : "smoke: ok");
	return failures != 0;
}
