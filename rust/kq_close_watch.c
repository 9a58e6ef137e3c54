// SPDX-License-Identifier: GPL-2.0
/*
 * kq_close_watch.c - learning that a watched file is being released, so knotes can hold only a
 * weak pointer to it (a kqueue never keeps a closed pipe or socket alive).
 *
 * Linux has no close hook for modules but fsnotify: __fput() calls fsnotify_close(file) first,
 * before the file's release method, in process context, with data = &file->f_path. The module
 * owns fsnotify groups (below); every inode with a watched file carries one mark with mask
 * FS_CLOSE_WRITE | FS_CLOSE_NOWRITE (plus FS_MODIFY for regular files, which have no wait
 * queue to hook; plus every EVFILT_VNODE event while vnode knotes watch the inode), shared
 * (counted in ->users) by all watched files of the inode; except pipes and sockets, whose
 * super block (pipefs, sockfs) carries one close mark for all of them (struct kq_sb_close).
 * The handler passes the closing struct file to Rust (kq_file_closing(), in
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
 * Sharded by inode, like Rust's FILES table, so that registrations and closes of different
 * inodes do not meet on one lock: KQ_SHARDS fsnotify groups, each with its own mutex in
 * kq_watch_locks[] (fsnotify's own per-group mark_mutex would otherwise serialise every mark
 * added or destroyed system-wide). An inode's mark always belongs to the group of its shard
 * (kq_shard_of(inode)), so every event is handled once.
 *
 * Locks: kq_watch_locks[i] (a mutex) serialises get/put of shard i's marks and their users,
 * vnode_users and dropping fields; it nests inside Rust's FILES shard lock and outside group
 * i's mark_mutex (taken inside fsnotify_add_mark/destroy_mark). kq_sb_lock (the super block
 * marks, rare: directories watched by EVFILT_VNODE) nests inside a kq_watch_locks[] entry and
 * outside group 0's mark_mutex (sb marks belong to group 0). A kq_sb_close's lock (pipes' and
 * sockets' close marks) nests inside Rust's FILES shard lock and outside group 0's mark_mutex,
 * and is never held with kq_watch_locks[] or kq_sb_lock. No code holds two of
 * kq_watch_locks[] or two groups' mark_mutex at once.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/fsnotify_backend.h>
#include <linux/hash.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/slab.h>

#include "kq_close_watch.h"

/* Rust: file (on inode) is in __fput(), before its release method. */
void kq_file_closing(struct file *file, struct inode *inode);
/* Rust: fsnotify destroyed the mark of a watched inode (file_watch.rs). */
void kq_mark_lost(struct inode *inode, void *handle);
/* Rust: an event on a watched inode, as NOTE_* bits (+ KQ_INODE_DATA_CHANGED) (file_watch.rs). */
void kq_inode_event(struct inode *inode, u32 notes, u32 nlink, s64 size);

/* EVFILT_VNODE's fflags (FreeBSD values, as in rust/abi.rs). */
#define KQ_NOTE_DELETE		0x0001
#define KQ_NOTE_WRITE		0x0002
#define KQ_NOTE_ATTRIB		0x0008
#define KQ_NOTE_LINK		0x0010
#define KQ_NOTE_RENAME		0x0020
#define KQ_NOTE_REVOKE		0x0040
#define KQ_NOTE_OPEN		0x0080
#define KQ_NOTE_CLOSE		0x0100
#define KQ_NOTE_CLOSE_WRITE	0x0200
#define KQ_NOTE_READ		0x0400
/* The data or size changed (FS_MODIFY): readiness knotes of regular files re-evaluate. */
#define KQ_INODE_DATA_CHANGED	0x80000000u

/* What a mark listens to: closes always (+ modifications of regular files), and with vnode
 * knotes on the inode everything EVFILT_VNODE reports. */
#define KQ_VNODE_MASK (FS_ACCESS | FS_MODIFY | FS_ATTRIB | FS_CLOSE_WRITE | FS_CLOSE_NOWRITE | \
		       FS_OPEN | FS_MOVED_FROM | FS_MOVED_TO | FS_CREATE | FS_DELETE | \
		       FS_DELETE_SELF | FS_MOVE_SELF | FS_UNMOUNT)

struct kq_sb_close;

struct kq_imark {
	struct fsnotify_mark fsn;
	struct inode *inode;		/* the marked inode (pinned by the mark); NULL: an sb mark */
	struct super_block *sb;		/* an sb mark's super block (see kq_sb_watch) */
	struct kq_sb_close *close_slot;	/* a super block close mark's slot (kq_sb_close_get) */
	struct list_head sb_link;	/* an sb mark in kq_sb_marks; under kq_sb_lock */
	unsigned int users;		/* inode mark: watched files on this inode; sb mark: watched
					 * directories of the sb. Under the shard's lock (kq_sb_lock) */
	unsigned int vnode_users;	/* EVFILT_VNODE knotes among them; under the shard's lock */
	u32 base_mask;			/* the mask without vnode knotes */
	bool dropping;			/* our last put is destroying it; under the shard's lock */
};

#define KQ_SHARD_BITS	4
#define KQ_SHARDS	(1 << KQ_SHARD_BITS)

/* Shard i: its fsnotify group and the lock over its marks (see the top of the file). */
static struct fsnotify_group *kq_groups[KQ_SHARDS];
static struct mutex kq_watch_locks[KQ_SHARDS];
/* The super blocks with a directory watched by EVFILT_VNODE, and their marks (kq_sb_watch). */
static DEFINE_MUTEX(kq_sb_lock);
static LIST_HEAD(kq_sb_marks);

static unsigned int kq_shard_of(const struct inode *inode)
{
	return hash_ptr(inode, KQ_SHARD_BITS);
}

/*
 * Pipes and sockets: with the module parameter shared_close_marks, one close mark per super
 * block instead of one per inode. Every pipe() and socket has an inode of its own on the
 * kernel's one pipefs or sockfs super block, so a mark per inode means allocating, attaching
 * and destroying a mark (and fsnotify's connector) with every such file registered: about a
 * third of what a new pipe's EV_ADD + close costs the module beyond epoll. A super block mark is made once and shared by every watched pipe
 * (socket); its price is that while one exists, the close of *any* pipe (socket) on the system
 * calls kq_handle_event, whose table lookup finds nothing for an unwatched file, and that
 * read()/write() of any pipe (socket) reads the super block's mask in fsnotify() before it
 * returns. Both end with the last watched pipe (socket) entry and the last kqueue that watched
 * one (kq_close_watch_hold). make profile MODE=regclose and MODE=otherpipe measure both sides
 * (README): the price falls on every process of the system, so it is the administrator's
 * choice, off by default. Changing it affects files registered afterwards; entries made under
 * either setting stay correct (the handler serves inode and super block marks alike).
 *
 * users counts the holders: the Rust table entries (FileWatch) with the mark and the kqueues
 * that keep it (kq_close_watch_hold); the mark exists exactly while users > 0. Taking a user while there is one is atomic_inc_not_zero (no lock: parallel
 * registrations do not meet); the first and the last take lock, which orders the mark's
 * creation and destruction (fsnotify refuses a second mark of one group on one object until
 * the first is detached, which fsnotify_destroy_mark does before it returns).
 */
struct kq_sb_close {
	unsigned long magic;		/* PIPEFS_MAGIC, SOCKFS_MAGIC */
	struct mutex lock;		/* creation and destruction of mark */
	atomic_t users;
	struct kq_imark *mark;		/* set under lock before users leaves 0; stable while > 0 */
};

static void kq_sb_close_put(struct kq_imark *sm);

/* Declared in C for the reason kq_helper.c gives for its parameters. */
static bool shared_close_marks;
module_param(shared_close_marks, bool, 0644);
MODULE_PARM_DESC(shared_close_marks, "Pipes and sockets share one close mark per super block: cheaper registrations, a small cost on every other pipe and socket (README)");

static struct kq_sb_close kq_sb_closes[] = {
	{ .magic = PIPEFS_MAGIC },
	{ .magic = SOCKFS_MAGIC },
};
/* Rust's file_watch::CLOSE_MARK_SLOTS (a kqueue's holds, by kq_close_watch_slot index). */
static_assert(ARRAY_SIZE(kq_sb_closes) == 2);

/*
 * The NOTE_* bits of an event on the marked inode. Directory-entry events (create, delete,
 * moves in or out) arrive on the directory's mark: NOTE_WRITE, and NOTE_LINK when the entry is
 * a directory (the directory's link count changes). FS_MODIFY comes with a path from write()
 * (NOTE_WRITE) and with a dentry from notify_change() (truncate, utimes: NOTE_ATTRIB). Link
 * count changes come as FS_ATTRIB; Rust tells them from other attribute changes by i_nlink.
 */
static u32 kq_vnode_notes(u32 mask, int data_type)
{
	u32 notes = 0;

	if (mask & FS_MODIFY)
		notes |= KQ_INODE_DATA_CHANGED |
			 (data_type == FSNOTIFY_EVENT_PATH ? KQ_NOTE_WRITE : KQ_NOTE_ATTRIB);
	if (mask & FS_ATTRIB)
		notes |= KQ_NOTE_ATTRIB;
	if (mask & FS_ACCESS)
		notes |= KQ_NOTE_READ;
	if (mask & FS_OPEN)
		notes |= KQ_NOTE_OPEN;
	if (mask & FS_CLOSE_WRITE)
		notes |= KQ_NOTE_CLOSE_WRITE;
	if (mask & FS_CLOSE_NOWRITE)
		notes |= KQ_NOTE_CLOSE;
	if (mask & (FS_CREATE | FS_DELETE | FS_MOVED_FROM | FS_MOVED_TO))
		notes |= KQ_NOTE_WRITE | ((mask & (FS_CREATE | FS_DELETE)) && (mask & FS_ISDIR) ?
					   KQ_NOTE_LINK : 0);
	if (mask & FS_DELETE_SELF)
		notes |= KQ_NOTE_DELETE;
	if (mask & FS_MOVE_SELF)
		notes |= KQ_NOTE_RENAME;
	if (mask & FS_UNMOUNT)
		notes |= KQ_NOTE_REVOKE;
	return notes;
}

/*
 * Every event on a marked inode: its knotes hear of it (vnode knotes record it; readiness
 * knotes of a regular file re-evaluate when its data changed), then a closing file's knotes
 * are removed. The inode is the mark's (for directory-entry events the data is the entry).
 */
static int kq_handle_event(struct fsnotify_group *group, u32 mask, const void *data,
			   int data_type, struct inode *dir, const struct qstr *file_name,
			   u32 cookie, struct fsnotify_iter_info *iter_info)
{
	struct fsnotify_mark *mark = fsnotify_iter_inode_mark(iter_info);
	struct kq_imark *im;
	struct inode *inode;
	struct file *file;
	u32 notes;

	/* A directory removed while a descriptor holds it (kq_sb_watch). */
	struct fsnotify_mark *sb_mark = fsnotify_iter_sb_mark(iter_info);
	bool sb_close = sb_mark && container_of(sb_mark, struct kq_imark, fsn)->close_slot;

	if (sb_mark && !sb_close && (mask & FS_DELETE) && (mask & FS_ISDIR) &&
	    data_type == FSNOTIFY_EVENT_INODE)
		kq_inode_event((struct inode *)data, KQ_NOTE_DELETE, 0, 0);
	/* A pipe or socket (kq_sb_close_get): has no inode mark of ours; only its close matters. */
	if (sb_close && !mark && (mask & (FS_CLOSE_WRITE | FS_CLOSE_NOWRITE)) &&
	    data_type == FSNOTIFY_EVENT_PATH) {
		file = container_of((struct path *)data, struct file, f_path);
		kq_file_closing(file, file_inode(file));
	}
	if (!mark)
		return 0;
	im = container_of(mark, struct kq_imark, fsn);
	inode = im->inode;
	notes = kq_vnode_notes(mask, data_type);
	/* Without vnode knotes only a data change matters (a racy read: a vnode knote that comes
	 * meanwhile widened the mask after this event was generated). */
	if ((notes & KQ_INODE_DATA_CHANGED) || (notes && READ_ONCE(im->vnode_users)))
		kq_inode_event(inode, notes, READ_ONCE(inode->i_nlink), i_size_read(inode));
	/* FS_CLOSE_* only comes from fsnotify_close(): the path is the closing file's f_path. */
	if ((mask & (FS_CLOSE_WRITE | FS_CLOSE_NOWRITE)) && data_type == FSNOTIFY_EVENT_PATH) {
		file = container_of((struct path *)data, struct file, f_path);
		kq_file_closing(file, file_inode(file));
	}
	return 0;
}

static void kq_free_mark(struct fsnotify_mark *mark)
{
	kfree(container_of(mark, struct kq_imark, fsn));
}

/*
 * fsnotify destroys marks on its own too: __fsnotify_inode_delete() when an inode's last link
 * and one of its dentries go while another dentry (a watched file's) lives on (hard links), and
 * unmount. The inode then reports no more events, closes included, so the watched files of the
 * mark must be handled now (Rust pins them, or treats a dying one as closed); our reference
 * keeps the mark's memory until our last put. Our own destruction (kq_close_watch_put) comes
 * here too, with nothing left to handle: `dropping` says so without taking a lock.
 */
static void kq_freeing_mark(struct fsnotify_mark *mark, struct fsnotify_group *group)
{
	struct kq_imark *im = container_of(mark, struct kq_imark, fsn);

	if (!im->inode || READ_ONCE(im->dropping))
		return;
	kq_mark_lost(im->inode, im);
}

static const struct fsnotify_ops kq_fsnotify_ops = {
	.handle_event = kq_handle_event,
	.freeing_mark = kq_freeing_mark,
	.free_mark = kq_free_mark,
};

/*
 * A reference to a watched file whose inode's mark fsnotify destroyed, if the file is not dying
 * already (file_ref_get fails once its last reference went). Files are SLAB_TYPESAFE_BY_RCU:
 * under RCU the memory stays a struct file even if it was freed and reused meanwhile, so the
 * reference taken is checked to be a file of the same inode (else dropped: -1, "dying").
 */
bool kq_file_tryget(struct file *file, struct inode *inode)
{
	bool got;

	rcu_read_lock();
	got = file_ref_get(&file->f_ref);
	rcu_read_unlock();
	if (got && file_inode(file) != inode) {
		fput(file);
		got = false;
	}
	return got;
}

int kq_close_watch_init(void)
{
	struct fsnotify_group *group;
	int i;

	for (i = 0; i < ARRAY_SIZE(kq_sb_closes); i++)
		mutex_init(&kq_sb_closes[i].lock);
	for (i = 0; i < KQ_SHARDS; i++) {
		mutex_init(&kq_watch_locks[i]);
		group = fsnotify_alloc_group(&kq_fsnotify_ops, 0);
		if (IS_ERR(group)) {
			while (i--)
				fsnotify_put_group(kq_groups[i]);
			return PTR_ERR(group);
		}
		kq_groups[i] = group;
	}
	return 0;
}

/* Module exit: every mark was put (every kqueue is closed); wait until they are freed. */
void kq_close_watch_exit(void)
{
	int i;

	fsnotify_wait_marks_destroyed();
	for (i = 0; i < KQ_SHARDS; i++)
		fsnotify_put_group(kq_groups[i]);
}

/* Whether closing file produces an fsnotify close event (false for anonymous inodes). */
bool kq_file_notifies_close(struct file *file)
{
	return !FMODE_FSNOTIFY_NONE(file->f_mode);
}

/*
 * EVFILT_VNODE's descriptors: a regular file, a directory, a FIFO, or anything opened with
 * O_PATH (a symlink too, with O_NOFOLLOW); not pipes (pipefs FIFOs), sockets, devices or
 * anonymous inodes (-EINVAL). Gives the inode's link count and size to start from.
 */
int kq_vnode_check(struct file *file, u32 *nlink, s64 *size)
{
	struct inode *inode = file_inode(file);
	umode_t mode = inode->i_mode;

	if (!(file->f_mode & FMODE_PATH) &&
	    !(S_ISREG(mode) || S_ISDIR(mode) ||
	      (S_ISFIFO(mode) && inode->i_sb->s_magic != PIPEFS_MAGIC)))
		return -EINVAL;
	if (!(S_ISREG(mode) || S_ISDIR(mode) || S_ISFIFO(mode) || S_ISLNK(mode)) ||
	    inode->i_sb->s_magic == PIPEFS_MAGIC)
		return -EINVAL;
	*nlink = READ_ONCE(inode->i_nlink);
	*size = i_size_read(inode);
	return 0;
}

/* The close mark slot of a pipe's or socket's super block, or NULL. */
static struct kq_sb_close *kq_sb_close_of(struct super_block *sb)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(kq_sb_closes); i++)
		if (sb->s_magic == kq_sb_closes[i].magic)
			return &kq_sb_closes[i];
	return NULL;
}

/*
 * One more user of slot's mark on sb, made if there is none. NULL if the slot's mark is on
 * another super block of the same type (none in mainline: pipefs and sockfs are mounted once;
 * the caller then marks the inode), or an ERR_PTR.
 */
static struct kq_imark *kq_sb_close_get(struct kq_sb_close *slot, struct super_block *sb)
{
	struct kq_imark *sm;
	int err;

	if (atomic_inc_not_zero(&slot->users)) {
		/* Fully ordered on success: the creator's mark store is visible. */
		sm = READ_ONCE(slot->mark);
		if (sm->sb == sb)
			return sm;
		kq_sb_close_put(sm);
		return NULL;
	}
	mutex_lock(&slot->lock);
	if (atomic_inc_not_zero(&slot->users)) {
		sm = slot->mark;
		mutex_unlock(&slot->lock);
		if (sm->sb == sb)
			return sm;
		kq_sb_close_put(sm);
		return NULL;
	}
	sm = kzalloc(sizeof(*sm), GFP_KERNEL_ACCOUNT);
	if (!sm) {
		mutex_unlock(&slot->lock);
		return ERR_PTR(-ENOMEM);
	}
	fsnotify_init_mark(&sm->fsn, kq_groups[0]);
	sm->fsn.mask = FS_CLOSE_WRITE | FS_CLOSE_NOWRITE;
	sm->sb = sb;
	sm->close_slot = slot;
	err = fsnotify_add_mark(&sm->fsn, sb, FSNOTIFY_OBJ_TYPE_SB, 0);
	if (err) {
		mutex_unlock(&slot->lock);
		fsnotify_put_mark(&sm->fsn);
		return ERR_PTR(err);
	}
	WRITE_ONCE(slot->mark, sm);
	atomic_set_release(&slot->users, 1);
	mutex_unlock(&slot->lock);
	return sm;
}

/* Drops one user of a super block close mark; the last destroys it (under the slot's lock,
 * so a new first user waits until it is detached). */
static void kq_sb_close_put(struct kq_imark *sm)
{
	struct kq_sb_close *slot = sm->close_slot;

	if (!atomic_dec_and_mutex_lock(&slot->users, &slot->lock))
		return;
	WRITE_ONCE(slot->mark, NULL);
	fsnotify_destroy_mark(&sm->fsn, sm->fsn.group);
	mutex_unlock(&slot->lock);
	fsnotify_put_mark(&sm->fsn);
}

/* The index of handle's super block close slot (a pipe's or socket's), or -1 (an inode mark). */
int kq_close_watch_slot(void *handle)
{
	struct kq_imark *im = handle;

	return im->close_slot ? im->close_slot - kq_sb_closes : -1;
}

/*
 * One more user of handle's super block close mark, for a kqueue that keeps it while it lives
 * (kq_close_watch_unhold at its release): without it, a kqueue watching one pipe or socket at a
 * time (a server taking connections one by one) made and destroyed the mark with every one.
 * The caller's handle counts a user, so the mark exists.
 */
void kq_close_watch_hold(void *handle)
{
	atomic_inc(&((struct kq_imark *)handle)->close_slot->users);
}

/* A kqueue's hold of close slot i (kq_close_watch_hold) goes: the mark is stable until then. */
void kq_close_watch_unhold(int i)
{
	kq_sb_close_put(READ_ONCE(kq_sb_closes[i].mark));
}

/* Starts watching file's inode for closes; returns the mark handle or an ERR_PTR. */
void *kq_close_watch_get(struct file *file)
{
	struct inode *inode = file_inode(file);
	unsigned int shard = kq_shard_of(inode);
	struct mutex *lock = &kq_watch_locks[shard];
	struct kq_sb_close *slot = READ_ONCE(shared_close_marks) ? kq_sb_close_of(inode->i_sb) : NULL;
	struct fsnotify_mark *found;
	struct kq_imark *im;
	int err;

	if (slot) {
		im = kq_sb_close_get(slot, inode->i_sb);
		if (im)
			return im;
	}
	mutex_lock(lock);
	found = fsnotify_find_inode_mark(inode, kq_groups[shard]);
	if (found) {
		im = container_of(found, struct kq_imark, fsn);
		im->users++;
		fsnotify_put_mark(found);	/* the lookup's reference; ours is the creation one */
		mutex_unlock(lock);
		return im;
	}
	im = kzalloc(sizeof(*im), GFP_KERNEL_ACCOUNT);
	if (!im) {
		mutex_unlock(lock);
		return ERR_PTR(-ENOMEM);
	}
	fsnotify_init_mark(&im->fsn, kq_groups[shard]);
	im->inode = inode;
	im->base_mask = FS_CLOSE_WRITE | FS_CLOSE_NOWRITE;
	/* Regular files have no wait queue: writes and truncations wake their knotes instead. */
	if (S_ISREG(inode->i_mode))
		im->base_mask |= FS_MODIFY;
	im->fsn.mask = im->base_mask;
	im->users = 1;
	err = fsnotify_add_inode_mark(&im->fsn, inode, 0);
	mutex_unlock(lock);
	if (err) {
		fsnotify_put_mark(&im->fsn);
		return ERR_PTR(err);
	}
	return im;
}

/*
 * A directory's own events do not tell its removal while a descriptor holds it: rmdir sends
 * FS_DELETE to the parent's marks only, and FS_DELETE_SELF comes with the last dput, after the
 * knote's descriptor is gone. So while directories of a super block are watched by vnode
 * knotes, the super block carries a mark for FS_DELETE, and the handler hands a removed
 * directory's inode to its knotes (the file table finds them, or nobody). Counted per super
 * block under kq_sb_lock; a watched directory's open file keeps the super block mounted. The
 * marks belong to group 0.
 */
static void kq_sb_watch(struct super_block *sb, bool add)
{
	struct kq_imark *sm;

	mutex_lock(&kq_sb_lock);
	list_for_each_entry(sm, &kq_sb_marks, sb_link) {
		if (sm->sb != sb)
			continue;
		if (add) {
			sm->users++;
		} else if (--sm->users == 0) {
			list_del(&sm->sb_link);
			fsnotify_destroy_mark(&sm->fsn, sm->fsn.group);
			fsnotify_put_mark(&sm->fsn);
		}
		goto out;
	}
	if (!add)
		goto out;
	sm = kzalloc(sizeof(*sm), GFP_KERNEL_ACCOUNT);
	if (!sm)
		goto out;	/* rmdir of a watched directory goes unreported (no memory) */
	fsnotify_init_mark(&sm->fsn, kq_groups[0]);
	sm->fsn.mask = FS_DELETE;
	sm->sb = sb;
	sm->users = 1;
	if (fsnotify_add_mark(&sm->fsn, sb, FSNOTIFY_OBJ_TYPE_SB, 0)) {
		fsnotify_put_mark(&sm->fsn);
		goto out;
	}
	list_add(&sm->sb_link, &kq_sb_marks);
out:
	mutex_unlock(&kq_sb_lock);
}

/* An EVFILT_VNODE knote on the mark's inode comes (add) or goes: the first widens the mark's
 * mask to every vnode event, the last narrows it back. Process context. */
void kq_close_watch_vnode(void *handle, bool add)
{
	struct kq_imark *im = handle;
	struct mutex *lock;
	unsigned int users;

	/* kq_vnode_check refuses pipes and sockets: their handles are never super block marks. */
	if (WARN_ON_ONCE(im->close_slot))
		return;
	lock = &kq_watch_locks[kq_shard_of(im->inode)];

	mutex_lock(lock);
	users = im->vnode_users + (add ? 1 : -1);
	WRITE_ONCE(im->vnode_users, users);	/* read without the lock by the handler */
	if (add && users == 1)
		fsnotify_modify_mark_mask(&im->fsn, KQ_VNODE_MASK, 0);
	else if (!add && users == 0)
		fsnotify_modify_mark_mask(&im->fsn, 0, KQ_VNODE_MASK & ~im->base_mask);
	if (S_ISDIR(im->inode->i_mode))
		kq_sb_watch(im->inode->i_sb, add);
	mutex_unlock(lock);
}

/* Drops one watcher of the mark; the last one destroys it. Process context. */
void kq_close_watch_put(void *handle)
{
	struct kq_imark *im = handle;
	struct mutex *lock;
	bool last;

	if (im->close_slot) {
		kq_sb_close_put(im);
		return;
	}
	lock = &kq_watch_locks[kq_shard_of(im->inode)];
	mutex_lock(lock);
	last = --im->users == 0;
	if (last) {
		WRITE_ONCE(im->dropping, true);
		fsnotify_destroy_mark(&im->fsn, im->fsn.group);
	}
	mutex_unlock(lock);
	if (last)
		fsnotify_put_mark(&im->fsn);
}
