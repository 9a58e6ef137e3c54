// SPDX-License-Identifier: GPL-2.0
/*
 * kq_close_watch.c - learning that a watched file is being released, so knotes can hold only a
 * weak pointer to it (a kqueue never keeps a closed pipe or socket alive).
 *
 * Linux has no close hook for modules but fsnotify: __fput() calls fsnotify_close(file) first,
 * before the file's release method, in process context, with data = &file->f_path. The module
 * owns one fsnotify group; every inode with a watched file carries one mark of that group with
 * mask FS_CLOSE_WRITE | FS_CLOSE_NOWRITE (plus FS_MODIFY for regular files, which have no wait
 * queue to hook), shared (counted in ->users) by all watched files of the inode. The handler passes the closing struct file to Rust (kq_file_closing(), in
 * rust/file_watch.rs), which compares it by address with the watched files and never
 * dereferences an unknown one.
 *
 * Files whose f_mode says "no fsnotify events at all" (anonymous inodes: eventfd, timerfd,
 * signalfd, epoll, pidfd) get no close event; Rust pins those with a reference instead.
 *
 * Why C: fsnotify_ops callbacks, container_of on the mark and the path, and the inline wrappers
 * (fsnotify_add_inode_mark, fsnotify_find_inode_mark, FMODE_FSNOTIFY_NONE) have no Rust
 * binding.
 *
 * Locks: kq_watch_lock (a mutex) serialises get/put of marks; it nests inside Rust's FILES
 * lock and outside the group's mark_mutex (taken inside fsnotify_add_mark/destroy_mark).
 */
#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/mutex.h>
#include <linux/slab.h>

#include "kq_close_watch.h"

/* Rust: file (on inode) is in __fput(), before its release method. */
void kq_file_closing(struct file *file, struct inode *inode);
/* Rust: fsnotify event mask on a watched inode (file_watch.rs). */
void kq_inode_event(struct inode *inode, u32 mask);

struct kq_imark {
	struct fsnotify_mark fsn;
	unsigned int users;	/* watched files on this inode; under kq_watch_lock */
};

static struct fsnotify_group *kq_group;
static DEFINE_MUTEX(kq_watch_lock);

static int kq_handle_event(struct fsnotify_group *group, u32 mask, const void *data,
			   int data_type, struct inode *dir, const struct qstr *file_name,
			   u32 cookie, struct fsnotify_iter_info *iter_info)
{
	struct inode *inode;
	struct file *file;

	/* FS_CLOSE_* only comes from fsnotify_close(): the path is the closing file's f_path. */
	if ((mask & (FS_CLOSE_WRITE | FS_CLOSE_NOWRITE)) && data_type == FSNOTIFY_EVENT_PATH) {
		file = container_of((struct path *)data, struct file, f_path);
		kq_file_closing(file, file_inode(file));
	}
	/*
	 * FS_MODIFY comes with a path from write() and with a dentry from notify_change()
	 * (truncate): fsnotify_data_inode() takes both.
	 */
	if (mask & FS_MODIFY) {
		inode = fsnotify_data_inode(data, data_type);
		if (inode)
			kq_inode_event(inode, FS_MODIFY);
	}
	return 0;
}

static void kq_free_mark(struct fsnotify_mark *mark)
{
	kfree(container_of(mark, struct kq_imark, fsn));
}

static const struct fsnotify_ops kq_fsnotify_ops = {
	.handle_event = kq_handle_event,
	.free_mark = kq_free_mark,
};

int kq_close_watch_init(void)
{
	kq_group = fsnotify_alloc_group(&kq_fsnotify_ops, 0);
	if (IS_ERR(kq_group))
		return PTR_ERR(kq_group);
	return 0;
}

/* Module exit: every mark was put (every kqueue is closed); wait until they are freed. */
void kq_close_watch_exit(void)
{
	fsnotify_wait_marks_destroyed();
	fsnotify_put_group(kq_group);
}

/* Whether closing file produces an fsnotify close event (false for anonymous inodes). */
bool kq_file_notifies_close(struct file *file)
{
	return !FMODE_FSNOTIFY_NONE(file->f_mode);
}

/* Starts watching file's inode for closes; returns the mark handle or an ERR_PTR. */
void *kq_close_watch_get(struct file *file)
{
	struct inode *inode = file_inode(file);
	struct fsnotify_mark *found;
	struct kq_imark *im;
	int err;

	mutex_lock(&kq_watch_lock);
	found = fsnotify_find_inode_mark(inode, kq_group);
	if (found) {
		im = container_of(found, struct kq_imark, fsn);
		im->users++;
		fsnotify_put_mark(found);	/* the lookup's reference; ours is the creation one */
		mutex_unlock(&kq_watch_lock);
		return im;
	}
	im = kzalloc(sizeof(*im), GFP_KERNEL_ACCOUNT);
	if (!im) {
		mutex_unlock(&kq_watch_lock);
		return ERR_PTR(-ENOMEM);
	}
	fsnotify_init_mark(&im->fsn, kq_group);
	im->fsn.mask = FS_CLOSE_WRITE | FS_CLOSE_NOWRITE;
	/* Regular files have no wait queue: writes and truncations wake their knotes instead. */
	if (S_ISREG(inode->i_mode))
		im->fsn.mask |= FS_MODIFY;
	im->users = 1;
	err = fsnotify_add_inode_mark(&im->fsn, inode, 0);
	mutex_unlock(&kq_watch_lock);
	if (err) {
		fsnotify_put_mark(&im->fsn);
		return ERR_PTR(err);
	}
	return im;
}

/* Drops one watcher of the mark; the last one destroys it. Process context. */
void kq_close_watch_put(void *handle)
{
	struct kq_imark *im = handle;
	bool last;

	mutex_lock(&kq_watch_lock);
	last = --im->users == 0;
	if (last)
		fsnotify_destroy_mark(&im->fsn, kq_group);
	mutex_unlock(&kq_watch_lock);
	if (last)
		fsnotify_put_mark(&im->fsn);
}
