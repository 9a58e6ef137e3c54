/* SPDX-License-Identifier: GPL-2.0 */
/* Prototypes of kq_helper.c; the Rust side declares the same functions in helper.rs. */
#ifndef KQ_HELPER_H
#define KQ_HELPER_H

#include <linux/spinlock_types.h>
#include <linux/types.h>

struct file;
struct pid;
struct wait_queue_head;
struct work_struct;

unsigned int kq_max_knotes_per_user(void);
unsigned int kq_max_timers_per_user(void);
unsigned long kq_spin_lock_irqsave(spinlock_t *lock);
bool kq_spin_trylock_irqsave(spinlock_t *lock, unsigned long *flags);
void kq_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);
long kq_file_count(struct file *file);
bool kq_current_files_hold(struct file *file);
bool kq_fd_names_file(unsigned int fd, struct file *file);
struct file *kq_fdget(unsigned int fd, bool *counted);
struct pid *kq_get_current_tgid(void);
bool kq_current_tgid_is(struct pid *pid);
s64 kq_ktime_get_real_ns(void);
bool kq_signal_pending(void);
void kq_init_waitqueue_head(struct wait_queue_head *wq);
void kq_wake_up_one(struct wait_queue_head *wq);
void kq_wake_up_all(struct wait_queue_head *wq);

void kq_init_waitqueue_head_pollers(struct wait_queue_head *wq);
void kq_init_work(struct work_struct *work, void (*func)(struct work_struct *));
bool kq_schedule_work(struct work_struct *work);

void kq_wake_pollers(struct wait_queue_head *wq, __poll_t mask);
bool kq_in_pollers_wake(void);

int kq_get_args(u64 dst[5], const void __user *src);
int kq_get_timespec(u64 dst[2], const void __user *src);
int kq_get_kevent(u64 dst[8], const void __user *src);
int kq_put_kevent(void __user *dst, const u64 src[8]);
int kq_put_kevents(void __user *dst, const u64 *src, unsigned int n);

#endif
