// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * EVFILT_VNODE: ident = a descriptor of a regular file, a directory, a FIFO or
 * anything opened with O_PATH (sockets, pipes, eventfds, kqueues: EINVAL);
 * fflags = the NOTE_* of interest, returned = the subset that happened since
 * the last retrieval (implied EV_CLEAR), data 0. Events are the inode's: any
 * descriptor, path or hard link of the file causes them.
 *
 * Every case works in its own fresh directory (mkdtemp under /tmp, a tmpfs in
 * the test VM), removed afterwards. fsnotify is synchronous, so an event is
 * due as soon as the system call that causes it has returned; the waits are
 * generous anyway.
 */
#include "kq_filter_common.h"

#include <sys/eventfd.h>

#define NOTE_ALL (NOTE_DELETE | NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_LINK |         \
		  NOTE_RENAME | NOTE_REVOKE | NOTE_OPEN | NOTE_CLOSE | NOTE_CLOSE_WRITE |      \
		  NOTE_READ)

/* self->dir: a fresh directory; self->path: the regular file dir/f (empty); self->fd: O_RDONLY of it. */
FIXTURE(vn)
{
	int kq;
	int fd;
	char dir[64];
	char path[128];
};

FIXTURE_SETUP(vn)
{
	int w;

	self->dir[0] = 0;
	self->kq = kqueue();
	ASSERT_LE(0, self->kq) TH_LOG("kqueue(): %s", strerror(errno));
	alarm(15);
	ASSERT_EQ(0, make_tmpdir(self->dir, sizeof(self->dir)));
	snprintf(self->path, sizeof(self->path), "%s/f", self->dir);
	w = open(self->path, O_CREAT | O_EXCL | O_WRONLY, 0644);
	ASSERT_LE(0, w);
	close(w);
	self->fd = open(self->path, O_RDONLY);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(vn)
{
	if (self->dir[0])
		rm_tree(self->dir);
}

/* dir/name, in one of a few rotating buffers. */
static const char *in(const char *dir, const char *name)
{
	static char buf[8][256];
	static int i;
	char *b = buf[i++ & 7];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

static int vn_add(int kq, int fd, unsigned int fflags, unsigned int flags, uint64_t udata)
{
	return kq_ctl(kq, (uint64_t)fd, EVFILT_VNODE, EV_ADD | flags, fflags, 0, udata);
}

static int vn_chg(int kq, int fd, unsigned int flags)
{
	return kq_ctl(kq, (uint64_t)fd, EVFILT_VNODE, flags, 0, 0, 0);
}

/* Create (or truncate) path with n bytes. */
static int make_file(const char *path, size_t n)
{
	char buf[4096];
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	ssize_t w = 0;

	if (fd < 0)
		return -1;
	memset(buf, 'a', sizeof(buf));
	while (n > 0 && w >= 0) {
		w = write(fd, buf, n > sizeof(buf) ? sizeof(buf) : n);
		n -= w > 0 ? (size_t)w : 0;
	}
	close(fd);
	return w < 0 ? -1 : 0;
}

/* The event of fd must come and say exactly `want` (data 0, EV_CLEAR). */
#define ASSERT_VNODE(kq, fd, want)                                                     \
	do {                                                                           \
		struct kevent __v = { 0 };                                             \
		ASSERT_EVENT(kq, fd, EVFILT_VNODE, &__v);                              \
		EXPECT_RECORD(__v, fd, EVFILT_VNODE);                                  \
		EXPECT_EQ(0, __v.data);                                                \
		ASSERT_EQ((unsigned int)(want), __v.fflags)                            \
		TH_LOG("fflags 0x%x, expected 0x%x", __v.fflags, (unsigned int)(want)); \
	} while (0)

#define ASSERT_NO_VNODE(kq, fd) ASSERT_NO_EVENT(kq, fd, EVFILT_VNODE)

/* ---- regular files: writes ---- */

/*
 * fsnotify drops every mark of an inode when its last link and one of its dentries go while
 * another dentry lives on (two hard links, each held open, both unlinked, one closed): the
 * inode then reports nothing more, not even the close of the watched file. Knotes on the
 * other file (a vnode knote and a readiness knote) must survive that, and their file's close,
 * EV_DELETE and the kqueue's close, without touching freed memory (the VM's kernel-log check
 * fails the run on a KASAN report).
 */
TEST_F(vn, marks_dropped_by_the_inode_removal)
{
	char other[160];
	struct kevent ev;
	int held, kq2;

	snprintf(other, sizeof(other), "%s/g", self->dir);
	ASSERT_EQ(0, link(self->path, other));
	held = open(other, O_RDONLY);
	ASSERT_LE(0, held);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE | NOTE_DELETE | NOTE_LINK, 0, 1));
	ASSERT_OK(kq_ctl(self->kq, (uint64_t)self->fd, EVFILT_READ, EV_ADD, 0, 0, 2));
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	ASSERT_OK(vn_add(kq2, held, NOTE_WRITE, 0, 3));
	ASSERT_EQ(0, unlink(self->path));
	ASSERT_EQ(0, unlink(other));
	/* Drops the last reference of the "g" dentry (after its close event): fsnotify removes the
	 * inode's marks. */
	close(held);
	close(kq2);
	/* The knotes on the "f" file are still there (whatever they reported meanwhile). */
	while (kq_get(self->kq, &ev, 1, 100) > 0)
		;
	ASSERT_OK(kq_ctl(self->kq, (uint64_t)self->fd, EVFILT_READ, EV_DELETE, 0, 0, 0));
	/* Its file goes while the vnode knote still watches it: no close event comes any more. */
	close(self->fd);
	self->fd = -1;
	while (kq_get(self->kq, &ev, 1, 100) > 0)
		;
	/* The kqueue's close drops the knote, and with it the file it kept. */
	close(self->kq);
	self->kq = kqueue();
	ASSERT_LE(0, self->kq);
}

TEST_F(vn, write_through_other_fd)
{
	int w = open(self->path, O_WRONLY);

	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE, 0, 0x77));
	ASSERT_NO_VNODE(self->kq, self->fd);
	ASSERT_EQ(5, write(w, "hello", 5));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE);
	close(w);
}

TEST_F(vn, append_write_extends)
{
	int w = open(self->path, O_WRONLY | O_APPEND);

	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND, 0, 0));
	ASSERT_EQ(5, write(w, "hello", 5));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND);
	ASSERT_EQ(3, write(w, "abc", 3));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND);
	close(w);
}

/* Overwriting in place changes the contents, not the size: no NOTE_EXTEND. */
TEST_F(vn, overwrite_in_place_no_extend)
{
	int w;

	ASSERT_EQ(0, make_file(self->path, 100));
	w = open(self->path, O_WRONLY);
	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND, 0, 0));
	ASSERT_EQ(10, pwrite(w, "0123456789", 10, 0));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE);
	/* Up to the end exactly: still no growth. */
	ASSERT_EQ(10, pwrite(w, "0123456789", 10, 90));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE);
	/* One byte beyond: growth. */
	ASSERT_EQ(10, pwrite(w, "0123456789", 10, 91));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND);
	close(w);
}

TEST_F(vn, pwrite_beyond_end_extends)
{
	int w = open(self->path, O_WRONLY);

	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND, 0, 0));
	ASSERT_EQ(1, pwrite(w, "x", 1, 100000));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND);
	close(w);
}

TEST_F(vn, writev_is_write)
{
	struct iovec iov[2] = { { (void *)"ab", 2 }, { (void *)"cd", 2 } };
	int w = open(self->path, O_WRONLY);

	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND, 0, 0));
	ASSERT_EQ(4, writev(w, iov, 2));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND);
	ASSERT_EQ(4, pwritev(w, iov, 2, 0));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE);
	close(w);
}

/* Another process writing: the events are the file's, not the descriptor's or the process's. */
TEST_F(vn, write_by_other_process)
{
	int status;
	pid_t pid;

	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND, 0, 0));
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int w = open(self->path, O_WRONLY);

		_exit(w >= 0 && write(w, "child", 5) == 5 ? 0 : 1);
	}
	ASSERT_EQ(pid, wait_pid_ms(pid, &status, KQ_WAIT_MS));
	ASSERT_EQ(0, status);
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND);
}

/* ---- truncate and attributes ---- */

TEST_F(vn, truncate_shrink_is_attrib)
{
	int w;

	ASSERT_EQ(0, make_file(self->path, 100));
	w = open(self->path, O_WRONLY);
	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB | NOTE_EXTEND, 0, 0));
	ASSERT_EQ(0, ftruncate(w, 10));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	close(w);
}

/* open(O_TRUNC) of a non-empty file is a truncate: NOTE_ATTRIB. */
TEST_F(vn, open_o_trunc_is_attrib)
{
	int w;

	ASSERT_EQ(0, make_file(self->path, 100));
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB | NOTE_EXTEND, 0, 0));
	w = open(self->path, O_WRONLY | O_TRUNC);
	ASSERT_LE(0, w);
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	close(w);
}

TEST_F(vn, truncate_grow_is_attrib_extend)
{
	int w = open(self->path, O_WRONLY);

	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB | NOTE_EXTEND, 0, 0));
	ASSERT_EQ(0, ftruncate(w, 4096));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB | NOTE_EXTEND);
	/* By path as well. */
	ASSERT_EQ(0, truncate(self->path, 8192));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB | NOTE_EXTEND);
	ASSERT_EQ(0, truncate(self->path, 100));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	close(w);
}

TEST_F(vn, chmod_is_attrib)
{
	int w = open(self->path, O_WRONLY);

	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB, 0, 0));
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	ASSERT_EQ(0, fchmod(w, 0640));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	close(w);
}

TEST_F(vn, chown_is_attrib)
{
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB, 0, 0));
	ASSERT_EQ(0, chown(self->path, 65534, 65534));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
}

TEST_F(vn, utimes_is_attrib)
{
	struct timespec ts[2] = { { 1000, 0 }, { 2000, 0 } };

	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB, 0, 0));
	ASSERT_EQ(0, utimensat(AT_FDCWD, self->path, ts, 0));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	ASSERT_EQ(0, futimens(self->fd, NULL));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
}

/* ---- names: link, unlink, rename ---- */

TEST_F(vn, link_is_note_link)
{
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_LINK, 0, 0));
	ASSERT_EQ(0, link(self->path, in(self->dir, "g")));
	ASSERT_VNODE(self->kq, self->fd, NOTE_LINK);
	ASSERT_EQ(0, link(self->path, in(self->dir, "h")));
	ASSERT_VNODE(self->kq, self->fd, NOTE_LINK);
}

/* Unlink of one of two names: NOTE_DELETE, and NOTE_LINK since a link remains. */
TEST_F(vn, unlink_one_of_two_names)
{
	ASSERT_EQ(0, link(self->path, in(self->dir, "g")));
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_DELETE | NOTE_LINK, 0, 0));
	ASSERT_EQ(0, unlink(in(self->dir, "g")));
	ASSERT_VNODE(self->kq, self->fd, NOTE_DELETE | NOTE_LINK);
}

/* rename() over one of two names of the file: NOTE_DELETE, and NOTE_LINK since a link remains. */
TEST_F(vn, rename_over_one_of_two_names)
{
	ASSERT_EQ(0, link(self->path, in(self->dir, "g")));
	ASSERT_EQ(0, make_file(in(self->dir, "h"), 1));
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_DELETE | NOTE_LINK | NOTE_RENAME, 0, 0));
	ASSERT_EQ(0, rename(in(self->dir, "h"), in(self->dir, "g")));
	ASSERT_VNODE(self->kq, self->fd, NOTE_DELETE | NOTE_LINK);
}

/* Unlink of the last name while the file is open: NOTE_DELETE; the knote stays. */
TEST_F(vn, unlink_last_name_while_open)
{
	struct kevent ev;

	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_DELETE | NOTE_ATTRIB, 0, 0));
	ASSERT_EQ(0, unlink(self->path));
	ASSERT_EVENT(self->kq, self->fd, EVFILT_VNODE, &ev);
	ASSERT_EQ(NOTE_DELETE, ev.fflags & (NOTE_DELETE | NOTE_ATTRIB))
	TH_LOG("fflags 0x%x", ev.fflags);
	ASSERT_NO_VNODE(self->kq, self->fd);
	/* Still open, still watched. */
	ASSERT_EQ(0, fchmod(self->fd, 0600));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	ASSERT_OK(vn_chg(self->kq, self->fd, EV_DELETE));
}

TEST_F(vn, rename_same_dir)
{
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_RENAME, 0, 0));
	ASSERT_EQ(0, rename(self->path, in(self->dir, "renamed")));
	ASSERT_VNODE(self->kq, self->fd, NOTE_RENAME);
}

TEST_F(vn, rename_across_dirs)
{
	ASSERT_EQ(0, mkdir(in(self->dir, "sub"), 0755));
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_RENAME | NOTE_DELETE | NOTE_LINK, 0, 0));
	ASSERT_EQ(0, rename(self->path, in(self->dir, "sub/f")));
	ASSERT_VNODE(self->kq, self->fd, NOTE_RENAME);
	/* The knote follows the inode: write through the new name. */
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE, 0, 0));
	ASSERT_EQ(0, make_file(in(self->dir, "sub/f"), 3));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE);
}

/* rename(g, f) over the watched f: f loses its name (NOTE_DELETE); g is renamed. */
TEST_F(vn, rename_over_is_delete)
{
	int gfd;

	ASSERT_EQ(0, make_file(in(self->dir, "g"), 1));
	gfd = open(in(self->dir, "g"), O_RDONLY);
	ASSERT_LE(0, gfd);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_DELETE | NOTE_RENAME, 0, 1));
	ASSERT_OK(vn_add(self->kq, gfd, NOTE_DELETE | NOTE_RENAME, 0, 2));
	ASSERT_EQ(0, rename(in(self->dir, "g"), self->path));
	ASSERT_VNODE(self->kq, self->fd, NOTE_DELETE);
	ASSERT_VNODE(self->kq, gfd, NOTE_RENAME);
	close(gfd);
}

/* Through a hard link: the events are the inode's, whatever name is used. */
TEST_F(vn, events_through_hard_link)
{
	const char *g = in(self->dir, "g");
	int w;

	ASSERT_EQ(0, link(self->path, g));
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE | NOTE_ATTRIB | NOTE_EXTEND, 0, 0));
	w = open(g, O_WRONLY);
	ASSERT_LE(0, w);
	ASSERT_EQ(2, pwrite(w, "hi", 2, 0));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND);
	ASSERT_EQ(0, chmod(g, 0600));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	close(w);
}

/* ---- open, close, read ---- */

TEST_F(vn, open_is_note_open)
{
	int o, w;

	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_OPEN, 0, 0));
	o = open(self->path, O_RDONLY);
	ASSERT_LE(0, o);
	ASSERT_VNODE(self->kq, self->fd, NOTE_OPEN);
	close(o);
	ASSERT_NO_VNODE(self->kq, self->fd);
	w = open(self->path, O_WRONLY);
	ASSERT_LE(0, w);
	ASSERT_VNODE(self->kq, self->fd, NOTE_OPEN);
	close(w);
}

/* Opened by another process: "by anyone". */
TEST_F(vn, open_by_other_process)
{
	int status;
	pid_t pid;

	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_OPEN | NOTE_CLOSE, 0, 0));
	pid = kq_fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(open(self->path, O_RDONLY) >= 0 ? 0 : 1);
	ASSERT_EQ(pid, wait_pid_ms(pid, &status, KQ_WAIT_MS));
	ASSERT_EQ(0, status);
	/* Opened, and closed by the child's exit. */
	ASSERT_VNODE(self->kq, self->fd, NOTE_OPEN | NOTE_CLOSE);
}

TEST_F(vn, close_read_only_is_note_close)
{
	int o = open(self->path, O_RDONLY);

	ASSERT_LE(0, o);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_CLOSE | NOTE_CLOSE_WRITE, 0, 0));
	ASSERT_EQ(0, close(o));
	ASSERT_VNODE(self->kq, self->fd, NOTE_CLOSE);
}

TEST_F(vn, close_writable_is_close_write)
{
	int w = open(self->path, O_WRONLY), rw = open(self->path, O_RDWR);

	ASSERT_LE(0, w);
	ASSERT_LE(0, rw);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_CLOSE | NOTE_CLOSE_WRITE, 0, 0));
	ASSERT_EQ(0, close(w));
	ASSERT_VNODE(self->kq, self->fd, NOTE_CLOSE_WRITE);
	ASSERT_EQ(0, close(rw));
	ASSERT_VNODE(self->kq, self->fd, NOTE_CLOSE_WRITE);
}

/* Only the last close of an open file counts: a dup() keeps it open. */
TEST_F(vn, close_last_reference_only)
{
	int o = open(self->path, O_RDONLY), d;

	ASSERT_LE(0, o);
	d = dup(o);
	ASSERT_LE(0, d);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_CLOSE | NOTE_CLOSE_WRITE, 0, 0));
	ASSERT_EQ(0, close(o));
	ASSERT_NO_VNODE(self->kq, self->fd);
	ASSERT_EQ(0, close(d));
	ASSERT_VNODE(self->kq, self->fd, NOTE_CLOSE);
}

TEST_F(vn, read_is_note_read)
{
	char buf[16];
	int o;

	ASSERT_EQ(0, make_file(self->path, 10));
	o = open(self->path, O_RDONLY);
	ASSERT_LE(0, o);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_READ, 0, 0));
	ASSERT_EQ(10, read(o, buf, sizeof(buf)));
	ASSERT_VNODE(self->kq, self->fd, NOTE_READ);
	ASSERT_EQ(4, pread(self->fd, buf, 4, 2));
	ASSERT_VNODE(self->kq, self->fd, NOTE_READ);
	close(o);
}

/* ---- what is returned ---- */

/* Only the bits of interest: a write, an open and a close say nothing to NOTE_ATTRIB. */
TEST_F(vn, only_interesting_bits)
{
	int w;

	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB, 0, 0));
	w = open(self->path, O_WRONLY);
	ASSERT_LE(0, w);
	ASSERT_EQ(3, write(w, "abc", 3));
	ASSERT_EQ(0, close(w));
	ASSERT_EQ(0, link(self->path, in(self->dir, "g")));
	ASSERT_NO_VNODE(self->kq, self->fd);
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
}

/* Several changes before one retrieval: one event with all of them. */
TEST_F(vn, accumulate_before_retrieval)
{
	struct kevent ev;
	int w = open(self->path, O_WRONLY);

	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_LINK |
					      NOTE_RENAME, 0, 0));
	ASSERT_EQ(3, write(w, "abc", 3));
	ASSERT_EQ(0, fchmod(w, 0600));
	ASSERT_EQ(0, link(self->path, in(self->dir, "g")));
	ASSERT_EQ(0, rename(self->path, in(self->dir, "f2")));
	ASSERT_EQ(1, kq_count_of(self->kq, self->fd, EVFILT_VNODE, &ev));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_LINK | NOTE_RENAME, ev.fflags);
	EXPECT_EQ(0, ev.data);
	ASSERT_EQ(0, kq_count_of(self->kq, self->fd, EVFILT_VNODE, NULL));
	close(w);
}

/* Implied EV_CLEAR: once retrieved, nothing until the next change. */
TEST_F(vn, clear_implied)
{
	struct kevent ev;
	int w = open(self->path, O_WRONLY);

	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE, 0, 0));
	ASSERT_EQ(1, write(w, "a", 1));
	ASSERT_EVENT(self->kq, self->fd, EVFILT_VNODE, &ev);
	EXPECT_TRUE(ev.flags & EV_CLEAR) TH_LOG("flags 0x%x", ev.flags);
	ASSERT_NO_VNODE(self->kq, self->fd);
	ASSERT_KQ_EMPTY(self->kq);
	ASSERT_EQ(1, write(w, "b", 1));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE);
	ASSERT_NO_VNODE(self->kq, self->fd);
	close(w);
}

/* fflags 0 is accepted and never fires. */
TEST_F(vn, zero_fflags_never_fires)
{
	int w = open(self->path, O_RDWR);

	ASSERT_LE(0, w);
	ASSERT_EQ(0, kq_receipt(self->kq, self->fd, EVFILT_VNODE, EV_ADD, 0, 0, 0, NULL));
	ASSERT_EQ(3, write(w, "abc", 3));
	ASSERT_EQ(0, fchmod(w, 0600));
	ASSERT_EQ(0, link(self->path, in(self->dir, "g")));
	ASSERT_EQ(0, unlink(in(self->dir, "g")));
	ASSERT_EQ(0, close(w));
	ASSERT_NO_VNODE(self->kq, self->fd);
	ASSERT_OK(vn_chg(self->kq, self->fd, EV_DELETE));
}

/* Every defined bit, NOTE_REVOKE included, is accepted. */
TEST_F(vn, all_fflags_accepted)
{
	struct kevent rec;

	ASSERT_EQ(0, kq_receipt(self->kq, self->fd, EVFILT_VNODE, EV_ADD, NOTE_ALL, 0, 0, &rec));
	EXPECT_EQ((uint64_t)self->fd, rec.ident);
	EXPECT_EQ(EVFILT_VNODE, rec.filter);
	ASSERT_NO_VNODE(self->kq, self->fd);
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
}

TEST_F(vn, bad_fflags_einval)
{
	static const unsigned int bad[] = {
		0x800, 0x1000, NOTE_WRITE | 0x800, 0x10000, NOTE_EXIT, NOTE_ALL | 0x80000000u,
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t r = kq_receipt(self->kq, self->fd, EVFILT_VNODE, EV_ADD, bad[i], 0, 0, NULL);

		EXPECT_EQ(EINVAL, r) TH_LOG("fflags 0x%x: got %lld", bad[i], (long long)r);
	}
	ASSERT_ERRNO(ENOENT, vn_chg(self->kq, self->fd, EV_DELETE));
}

/* Invalid fflags on an EV_ADD that modifies an existing knote: EINVAL, knote unchanged. */
TEST_F(vn, bad_fflags_on_modify_einval)
{
	int64_t r;

	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB, 0, 1));
	r = kq_receipt(self->kq, self->fd, EVFILT_VNODE, EV_ADD, NOTE_WRITE | 0x800, 0, 2, NULL);
	EXPECT_EQ(EINVAL, r) TH_LOG("fflags 0x%x on an existing knote: got %lld",
				    NOTE_WRITE | 0x800, (long long)r);
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
}

TEST_F(vn, udata_and_receipt)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_receipt(self->kq, self->fd, EVFILT_VNODE, EV_ADD, NOTE_ATTRIB, 0,
				0xfeedf00dULL, NULL));
	ASSERT_KQ_EMPTY(self->kq);
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_EVENT(self->kq, self->fd, EVFILT_VNODE, &ev);
	EXPECT_RECORD(ev, self->fd, EVFILT_VNODE);
	EXPECT_EQ(0xfeedf00dULL, UDV(ev));
	EXPECT_EQ(0, ev.data);
}

/* EV_ADD on an existing knote replaces the fflags of interest. */
TEST_F(vn, readd_changes_interest)
{
	int w = open(self->path, O_WRONLY);

	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE, 0, 0));
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB, 0, 0));
	ASSERT_EQ(1, write(w, "a", 1));
	ASSERT_NO_VNODE(self->kq, self->fd);
	ASSERT_EQ(0, fchmod(w, 0600));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	close(w);
}

TEST_F(vn, oneshot)
{
	struct kevent ev;

	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB, EV_ONESHOT, 0));
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_EVENT(self->kq, self->fd, EVFILT_VNODE, &ev);
	EXPECT_EQ(NOTE_ATTRIB, ev.fflags);
	EXPECT_TRUE(ev.flags & EV_ONESHOT);
	ASSERT_EQ(0, chmod(self->path, 0644));
	ASSERT_NO_VNODE(self->kq, self->fd);
	ASSERT_ERRNO(ENOENT, vn_chg(self->kq, self->fd, EV_DELETE));
}

TEST_F(vn, dispatch_and_disabled_accumulate)
{
	struct kevent ev;
	int w = open(self->path, O_WRONLY);

	ASSERT_LE(0, w);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB | NOTE_WRITE, EV_DISPATCH, 0));
	ASSERT_EQ(0, fchmod(w, 0600));
	ASSERT_EVENT(self->kq, self->fd, EVFILT_VNODE, &ev);
	EXPECT_EQ(NOTE_ATTRIB, ev.fflags);
	/* Disabled by the delivery; changes meanwhile are kept. */
	ASSERT_EQ(1, write(w, "a", 1));
	ASSERT_NO_VNODE(self->kq, self->fd);
	ASSERT_EQ(0, fchmod(w, 0640));
	ASSERT_OK(vn_chg(self->kq, self->fd, EV_ENABLE));
	ASSERT_VNODE(self->kq, self->fd, NOTE_WRITE | NOTE_ATTRIB);
	close(w);
}

TEST_F(vn, two_kqueues_both_see_it)
{
	int kq2 = kqueue();

	ASSERT_LE(0, kq2);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB, 0, 0));
	ASSERT_OK(vn_add(kq2, self->fd, NOTE_ATTRIB | NOTE_LINK, 0, 0));
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_EQ(0, link(self->path, in(self->dir, "g")));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	ASSERT_VNODE(kq2, self->fd, NOTE_ATTRIB | NOTE_LINK);
	close(kq2);
}

/* Two descriptors of one file, each with its knote: both fire. */
TEST_F(vn, two_descriptors_of_one_file)
{
	int o = open(self->path, O_RDONLY);

	ASSERT_LE(0, o);
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_ATTRIB, 0, 1));
	ASSERT_OK(vn_add(self->kq, o, NOTE_ATTRIB, 0, 2));
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_VNODE(self->kq, self->fd, NOTE_ATTRIB);
	ASSERT_VNODE(self->kq, o, NOTE_ATTRIB);
	close(o);
}

/* ---- lifetime ---- */

TEST_F(vn, close_removes_knote)
{
	int fd = self->fd;

	ASSERT_OK(vn_add(self->kq, fd, NOTE_ATTRIB | NOTE_WRITE, 0, 0));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_EQ(0, make_file(self->path, 5));
	ASSERT_NO_VNODE(self->kq, fd);
	ASSERT_KQ_EMPTY(self->kq);
	ASSERT_ERRNO(EBADF, vn_chg(self->kq, fd, EV_DELETE));
}

TEST_F(vn, close_drops_pending_event)
{
	int fd = self->fd;

	ASSERT_OK(vn_add(self->kq, fd, NOTE_ATTRIB, 0, 0));
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_EQ(0, close(fd));
	ASSERT_KQ_EMPTY(self->kq);
	ASSERT_ERRNO(EBADF, vn_chg(self->kq, fd, EV_DELETE));
}

/* ---- directories ---- */

static int open_dir(const char *path)
{
	return open(path, O_RDONLY | O_DIRECTORY);
}

TEST_F(vn, dir_create_entry_is_write)
{
	int d = open_dir(self->dir), c;

	ASSERT_LE(0, d);
	ASSERT_OK(vn_add(self->kq, d, NOTE_WRITE | NOTE_LINK, 0, 0));
	c = open(in(self->dir, "new"), O_CREAT | O_WRONLY, 0644);
	ASSERT_LE(0, c);
	close(c);
	/* A file, not a subdirectory: the directory's link count is unchanged (no NOTE_LINK). */
	ASSERT_VNODE(self->kq, d, NOTE_WRITE);
	/* Other kinds of entries: a symlink, a FIFO, a hard link. */
	ASSERT_EQ(0, symlink("f", in(self->dir, "sym")));
	ASSERT_VNODE(self->kq, d, NOTE_WRITE);
	ASSERT_EQ(0, mkfifo(in(self->dir, "fifo"), 0644));
	ASSERT_VNODE(self->kq, d, NOTE_WRITE);
	ASSERT_EQ(0, link(self->path, in(self->dir, "hard")));
	ASSERT_VNODE(self->kq, d, NOTE_WRITE);
	close(d);
}

TEST_F(vn, dir_remove_entry_is_write)
{
	int d = open_dir(self->dir);

	ASSERT_LE(0, d);
	ASSERT_OK(vn_add(self->kq, d, NOTE_WRITE | NOTE_LINK, 0, 0));
	ASSERT_EQ(0, unlink(self->path));
	ASSERT_VNODE(self->kq, d, NOTE_WRITE);
	close(d);
}

TEST_F(vn, dir_rename_entry_is_write)
{
	int d = open_dir(self->dir);

	ASSERT_LE(0, d);
	ASSERT_OK(vn_add(self->kq, d, NOTE_WRITE | NOTE_LINK | NOTE_RENAME, 0, 0));
	ASSERT_EQ(0, rename(self->path, in(self->dir, "g")));
	ASSERT_VNODE(self->kq, d, NOTE_WRITE);
	close(d);
}

/* Renamed from one directory into another: both directories get NOTE_WRITE. */
TEST_F(vn, dir_rename_out_and_in)
{
	int a, b;

	ASSERT_EQ(0, mkdir(in(self->dir, "a"), 0755));
	ASSERT_EQ(0, mkdir(in(self->dir, "b"), 0755));
	ASSERT_EQ(0, make_file(in(self->dir, "a/x"), 1));
	a = open_dir(in(self->dir, "a"));
	b = open_dir(in(self->dir, "b"));
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_OK(vn_add(self->kq, a, NOTE_WRITE | NOTE_LINK, 0, 0));
	ASSERT_OK(vn_add(self->kq, b, NOTE_WRITE | NOTE_LINK, 0, 0));
	ASSERT_EQ(0, rename(in(self->dir, "a/x"), in(self->dir, "b/x")));
	ASSERT_VNODE(self->kq, a, NOTE_WRITE);
	ASSERT_VNODE(self->kq, b, NOTE_WRITE);
	close(a);
	close(b);
}

/* mkdir/rmdir of a subdirectory: NOTE_WRITE (an entry) and NOTE_LINK (its "..") */
TEST_F(vn, dir_mkdir_rmdir_is_link)
{
	int d = open_dir(self->dir);

	ASSERT_LE(0, d);
	ASSERT_OK(vn_add(self->kq, d, NOTE_WRITE | NOTE_LINK, 0, 0));
	ASSERT_EQ(0, mkdir(in(self->dir, "sub"), 0755));
	ASSERT_VNODE(self->kq, d, NOTE_WRITE | NOTE_LINK);
	ASSERT_EQ(0, rmdir(in(self->dir, "sub")));
	ASSERT_VNODE(self->kq, d, NOTE_WRITE | NOTE_LINK);
	/* With only NOTE_LINK of interest. */
	ASSERT_OK(vn_add(self->kq, d, NOTE_LINK, 0, 0));
	ASSERT_EQ(0, mkdir(in(self->dir, "sub2"), 0755));
	ASSERT_VNODE(self->kq, d, NOTE_LINK);
	close(d);
}

TEST_F(vn, dir_rmdir_itself_is_delete)
{
	const char *sub = in(self->dir, "sub");
	int d;

	ASSERT_EQ(0, mkdir(sub, 0755));
	d = open_dir(sub);
	ASSERT_LE(0, d);
	ASSERT_OK(vn_add(self->kq, d, NOTE_DELETE | NOTE_RENAME, 0, 0));
	ASSERT_EQ(0, rmdir(sub));
	ASSERT_VNODE(self->kq, d, NOTE_DELETE);
	close(d);
}

TEST_F(vn, dir_renamed_itself_is_rename)
{
	int d;

	ASSERT_EQ(0, mkdir(in(self->dir, "sub"), 0755));
	d = open_dir(in(self->dir, "sub"));
	ASSERT_LE(0, d);
	ASSERT_OK(vn_add(self->kq, d, NOTE_RENAME | NOTE_DELETE, 0, 0));
	ASSERT_EQ(0, rename(in(self->dir, "sub"), in(self->dir, "sub2")));
	ASSERT_VNODE(self->kq, d, NOTE_RENAME);
	close(d);
}

TEST_F(vn, dir_chmod_is_attrib)
{
	int d = open_dir(self->dir);

	ASSERT_LE(0, d);
	ASSERT_OK(vn_add(self->kq, d, NOTE_ATTRIB | NOTE_WRITE, 0, 0));
	ASSERT_EQ(0, chmod(self->dir, 0711));
	ASSERT_VNODE(self->kq, d, NOTE_ATTRIB);
	close(d);
}

/* A change inside a file of the directory is not the directory's. */
TEST_F(vn, dir_file_contents_not_dir_event)
{
	int d = open_dir(self->dir);

	ASSERT_LE(0, d);
	ASSERT_OK(vn_add(self->kq, d, NOTE_WRITE | NOTE_ATTRIB | NOTE_LINK, 0, 0));
	ASSERT_EQ(0, make_file(self->path, 10));
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_NO_VNODE(self->kq, d);
	close(d);
}

/* ---- kinds of descriptors ---- */

TEST_F(vn, o_path_file)
{
	int p = open(self->path, O_PATH), w;

	ASSERT_LE(0, p);
	ASSERT_OK(vn_add(self->kq, p, NOTE_WRITE | NOTE_ATTRIB, 0, 0));
	w = open(self->path, O_WRONLY);
	ASSERT_LE(0, w);
	ASSERT_EQ(1, write(w, "a", 1));
	ASSERT_VNODE(self->kq, p, NOTE_WRITE);
	ASSERT_EQ(0, chmod(self->path, 0600));
	ASSERT_VNODE(self->kq, p, NOTE_ATTRIB);
	close(w);
	close(p);
}

TEST_F(vn, o_path_directory)
{
	int p = open(self->dir, O_PATH | O_DIRECTORY);

	ASSERT_LE(0, p);
	ASSERT_OK(vn_add(self->kq, p, NOTE_WRITE, 0, 0));
	ASSERT_EQ(0, make_file(in(self->dir, "n"), 0));
	ASSERT_VNODE(self->kq, p, NOTE_WRITE);
	close(p);
}

TEST_F(vn, fifo_opened_normally)
{
	const char *fifo = in(self->dir, "fifo");
	int r, w;

	ASSERT_EQ(0, mkfifo(fifo, 0644));
	r = open(fifo, O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, r);
	ASSERT_OK(vn_add(self->kq, r, NOTE_ATTRIB | NOTE_OPEN, 0, 0));
	ASSERT_EQ(0, chmod(fifo, 0600));
	ASSERT_VNODE(self->kq, r, NOTE_ATTRIB);
	w = open(fifo, O_WRONLY | O_NONBLOCK);
	ASSERT_LE(0, w);
	ASSERT_VNODE(self->kq, r, NOTE_OPEN);
	close(w);
	close(r);
}

TEST_F(vn, non_vnode_descriptors_einval)
{
	int p[2], s[2], efd, kq2;

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, s));
	efd = eventfd(0, 0);
	ASSERT_LE(0, efd);
	kq2 = kqueue();
	ASSERT_LE(0, kq2);
	ASSERT_ERRNO(EINVAL, vn_add(self->kq, p[0], NOTE_WRITE, 0, 0));
	ASSERT_ERRNO(EINVAL, vn_add(self->kq, p[1], NOTE_WRITE, 0, 0));
	ASSERT_ERRNO(EINVAL, vn_add(self->kq, s[0], NOTE_WRITE, 0, 0));
	ASSERT_ERRNO(EINVAL, vn_add(self->kq, efd, NOTE_WRITE, 0, 0));
	ASSERT_ERRNO(EINVAL, vn_add(self->kq, kq2, NOTE_WRITE, 0, 0));
	ASSERT_ERRNO(EINVAL, vn_add(self->kq, self->kq, NOTE_WRITE, 0, 0));
	ASSERT_KQ_EMPTY(self->kq);
	/* The regular file is accepted (a filter that refuses everything fails here). */
	ASSERT_OK(vn_add(self->kq, self->fd, NOTE_WRITE, 0, 0));
}

TEST_F(vn, closed_fd_ebadf)
{
	int o = open(self->path, O_RDONLY);

	ASSERT_LE(0, o);
	ASSERT_EQ(0, close(o));
	ASSERT_ERRNO(EBADF, vn_add(self->kq, o, NOTE_WRITE, 0, 0));
	ASSERT_EQ(EBADF, kq_receipt(self->kq, 876543, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0, 0,
				    NULL));
}

TEST_HARNESS_MAIN
