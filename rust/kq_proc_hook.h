/* SPDX-License-Identifier: GPL-2.0 */
/* Process events for kqueue.ko (kq_proc_hook.c); Rust declares these in helper.rs. */
#ifndef KQ_PROC_HOOK_H
#define KQ_PROC_HOOK_H

#include <linux/types.h>

struct file;
struct pid;

int kq_proc_hook_init(void);
void kq_proc_hook_exit(void);
struct pid *kq_proc_lookup(s64 nr);
struct pid *kq_pidfd_pid(struct file *file);
bool kq_proc_exited(struct pid *pid, int *status);
s64 kq_pid_nr_seen_by(struct pid *pid, struct pid *owner);
struct pid *kq_get_pid(struct pid *pid);
void kq_put_pid(struct pid *pid);

#endif
