// SPDX-License-Identifier: GPL-2.0
/*
 * kq_poll_hook.c - hooking a knote into the wait queues of the file it watches, as epoll does.
 *
 * Why C: the poll-table machinery is made of static inlines and macros the 7.2 Rust bindings do
 * not reach (init_poll_funcptr, vfs_poll, init_waitqueue_func_entry, key_to_poll,
 * container_of on a wait entry), and the wake-up callback must have the exact C signature
 * wait_queue_func_t. All policy lives in Rust: the callback only filters the wake-up key and
 * calls kq_knote_wake()/kq_knote_pollfree() (rust/poll_hook.rs).
 *
 * A struct kq_poll_hook is embedded (two of them) in every descriptor knote; Rust mirrors its
 * layout (#[repr(C)] PollHook). wait.private holds the knote pointer.
 *
 * Lifetime (epoll's POLLFREE handshake, fs/eventpoll.c ep_remove_wait_queue):
 *  - hooked: kq_poll_hook_file() add_wait_queue()s an entry for each queue the file's poll method
 *    names and publishes its head in ->whead;
 *  - unhooked: kq_poll_unhook() removes the entry under rcu_read_lock() if ->whead is still set;
 *    afterwards no callback can run on it and the knote may be freed;
 *  - POLLFREE: the queue's owner is going away (signalfd, binder, a kqueue being released): the
 *    callback unlinks the entry itself and clears ->whead with release semantics as its very last
 *    access, so a concurrent unhook either waits on the queue lock or sees NULL.
 */
#include <linux/fs.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/wait.h>

#include "kq_poll_hook.h"

/* Rust: the knote's source fired (any context, under the source's wait-queue lock). */
void kq_knote_wake(void *knote);
/* Rust: the source's wait queue is being freed (POLLFREE). */
void kq_knote_pollfree(void *knote);

/* The poll_table passed to the target's poll method at registration. */
struct kq_ptable {
	poll_table pt;
	struct kq_poll_hook *hooks;
	unsigned int nr;
	unsigned int used;
	bool overflow;
	void *knote;
	__poll_t events;
};

static int kq_poll_wake(struct wait_queue_entry *wait, unsigned int mode, int sync, void *key)
{
	struct kq_poll_hook *hook = container_of(wait, struct kq_poll_hook, wait);
	__poll_t pollflags = key_to_poll(key);

	if (pollflags & POLLFREE) {
		kq_knote_pollfree(wait->private);
		list_del_init(&wait->entry);
		/* Last access: after it the hook may be freed by kq_poll_unhook()'s caller. */
		smp_store_release(&hook->whead, NULL);
		return 0;
	}
	/* A key of 0 means "something happened" (wakers that do not say what). */
	if (pollflags && !(pollflags & hook->events))
		return 0;
	kq_knote_wake(wait->private);
	return 0;
}

static void kq_queue_proc(struct file *file, wait_queue_head_t *whead, poll_table *pt)
{
	struct kq_ptable *t = container_of(pt, struct kq_ptable, pt);
	struct kq_poll_hook *hook;

	if (t->used >= t->nr) {
		t->overflow = true;
		return;
	}
	hook = &t->hooks[t->used++];
	init_waitqueue_func_entry(&hook->wait, kq_poll_wake);
	hook->wait.private = t->knote;
	hook->events = t->events;
	hook->whead = whead;
	add_wait_queue(whead, &hook->wait);
}

/*
 * Calls file's poll method with a table that hooks up to nr entries of hooks[] (zeroed by the
 * caller) for knote, interested in events. Returns the file's current mask; *overflow tells that
 * the file named more wait queues than there are hooks (the caller unhooks and refuses).
 */
__poll_t kq_poll_hook_file(struct file *file, struct kq_poll_hook *hooks, unsigned int nr,
			   __poll_t events, void *knote, bool *overflow)
{
	struct kq_ptable t = {
		.hooks = hooks, .nr = nr, .knote = knote, .events = events,
	};
	__poll_t mask;

	init_poll_funcptr(&t.pt, kq_queue_proc);
	t.pt._key = events;
	mask = vfs_poll(file, &t.pt);
	*overflow = t.overflow;
	return mask;
}

/* The file's current mask, without hooking anything (vfs_poll is static inline). */
__poll_t kq_poll_mask(struct file *file, __poll_t events)
{
	poll_table pt;

	init_poll_funcptr(&pt, NULL);
	pt._key = events;
	return vfs_poll(file, &pt);
}

/* Removes every hooked entry of hooks[0..nr); idempotent; process or softirq context. */
void kq_poll_unhook(struct kq_poll_hook *hooks, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct kq_poll_hook *hook = &hooks[i];
		wait_queue_head_t *whead;

		rcu_read_lock();
		whead = smp_load_acquire(&hook->whead);
		if (whead)
			remove_wait_queue(whead, &hook->wait);
		rcu_read_unlock();
		WRITE_ONCE(hook->whead, NULL);
	}
}
