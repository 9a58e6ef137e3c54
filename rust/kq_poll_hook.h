/* SPDX-License-Identifier: GPL-2.0 */
/* The poll hook shared between kq_poll_hook.c and rust/poll_hook.rs (#[repr(C)] PollHook). */
#ifndef KQ_POLL_HOOK_H
#define KQ_POLL_HOOK_H

#include <linux/types.h>
#include <linux/wait.h>

struct file;

struct kq_poll_hook {
	struct wait_queue_entry wait;	/* .private = the knote */
	wait_queue_head_t *whead;	/* NULL when not hooked (or after POLLFREE) */
	__poll_t events;		/* wake-up keys the knote cares about */
};

__poll_t kq_poll_hook_file(struct file *file, struct kq_poll_hook *hooks, unsigned int nr,
			   __poll_t events, void *knote, bool *overflow);
__poll_t kq_poll_mask(struct file *file, __poll_t events);
void kq_poll_unhook(struct kq_poll_hook *hooks, unsigned int nr);

#endif
