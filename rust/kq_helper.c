// SPDX-License-Identifier: GPL-2.0
/*
 * kq_helper.c - the few kernel facilities kqueue.ko needs that the 7.2 Rust bindings cannot reach
 * because they are C macros or static inline functions with no `rust_helper_*` wrapper. Each
 * helper is a one-line forwarder; all logic lives in Rust.
 */
#include <linux/fault-inject-usercopy.h>
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/fdtable.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "kq_helper.h"

/*
 * The module parameters. The 7.2 Rust `module!` macro registers parameters with permission 0,
 * so they never appear under /sys/module/kqueue/parameters/; declared here they are readable
 * there (and root may change them at run time: each charge reads the current value).
 */
static unsigned int max_knotes_per_user = 262144;
module_param(max_knotes_per_user, uint, 0644);
MODULE_PARM_DESC(max_knotes_per_user, "Registered knotes per user, all kqueues together (ENOMEM beyond)");
static unsigned int max_timers_per_user = 4096;
module_param(max_timers_per_user, uint, 0644);
MODULE_PARM_DESC(max_timers_per_user, "Armed EVFILT_TIMER timers per user (ENOMEM beyond; FreeBSD's kq_calloutmax)");

unsigned int kq_max_knotes_per_user(void)
{
	return READ_ONCE(max_knotes_per_user);
}

unsigned int kq_max_timers_per_user(void)
{
	return READ_ONCE(max_timers_per_user);
}

/* spin_lock_irqsave/irqrestore are macros: the Rust SpinLock has no irq-saving variant, and the
 * kqueue's ready list is touched from hard-irq timer callbacks and wake-up callbacks. */
unsigned long kq_spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	return flags;
}

/* spin_trylock_irqsave is a macro too (for the irq-safe lock backend's try_lock). */
bool kq_spin_trylock_irqsave(spinlock_t *lock, unsigned long *flags)
{
	return spin_trylock_irqsave(lock, *flags);
}

void kq_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	spin_unlock_irqrestore(lock, flags);
}

/* file_count() is static inline: used by flush() to tell the last close of a kqueue. */
long kq_file_count(struct file *file)
{
	return file_count(file);
}

static int kq_match_file(const void *wanted, struct file *file, unsigned int fd)
{
	return file == wanted;
}

/*
 * Whether a descriptor of the calling task's table still names `file` (a dup of a kqueue being
 * closed). current->files is not reachable from Rust; NULL (the task is exiting) holds nothing.
 */
bool kq_current_files_hold(struct file *file)
{
	return iterate_fd(current->files, 0, kq_match_file, file) != 0;
}

/*
 * Whether descriptor fd of the calling task names file, without taking a reference (the
 * kevent() KQ_KEVENT_KQFD check and the report-time check of descriptor knotes: an fget/fput
 * pair is two atomic operations on a shared cache line per call). files_lookup_fd_raw() is a
 * static inline; RCU keeps the table readable, and the file is only compared by address.
 */
bool kq_fd_names_file(unsigned int fd, struct file *file)
{
	struct files_struct *files = current->files;
	bool same;

	if (!files)
		return false;
	rcu_read_lock();
	same = files_lookup_fd_raw(files, fd) == file;
	rcu_read_unlock();
	return same;
}

/*
 * fdget() of descriptor fd (O_PATH excluded, as fget()): the file, or NULL, and whether a
 * reference was taken (*counted: fput() it when done). The file's "struct fd" and its
 * fd_file()/fdput() decoding are inlines that Rust cannot call. Without a reference (the
 * calling task's descriptor table is not shared) the file stays valid until the task itself
 * closes fd, which kevent() never does: the light reference epoll_wait() takes of its epfd.
 */
struct file *kq_fdget(unsigned int fd, bool *counted)
{
	struct fd f = fdget(fd);

	*counted = f.word & FDPUT_FPUT;
	return fd_file(f);
}

/* task_tgid() is static inline: the kqueue remembers its creating process (FreeBSD does not
 * inherit a kqueue across fork(); a child using it gets EBADF). Returns a counted reference. */
struct pid *kq_get_current_tgid(void)
{
	return get_pid(task_tgid(current));
}

/* Compares without taking a reference. */
bool kq_current_tgid_is(struct pid *pid)
{
	return task_tgid(current) == pid;
}

/* ktime_get_real() is static inline: NOTE_ABSTIME timers are given in CLOCK_REALTIME. */
s64 kq_ktime_get_real_ns(void)
{
	return ktime_to_ns(ktime_get_real());
}

/* signal_pending() is static inline; the Rust Task API needs a task reference we don't have
 * at hand in the sleep loop. */
bool kq_signal_pending(void)
{
	return signal_pending(current);
}

/* init_waitqueue_head() is a macro that gives each call site its own lockdep class: one class
 * for all kqueues' wait queues is what we want, and the key must be static. */
void kq_init_waitqueue_head(struct wait_queue_head *wq)
{
	init_waitqueue_head(wq);
}

/* A second lockdep class for the kqueue's `pollers` queue: a kqueue watching another kqueue is
 * woken (its `waiters` lock taken) from inside the other kqueue's `pollers` wake-up, which must
 * not look like recursion on one class. */
void kq_init_waitqueue_head_pollers(struct wait_queue_head *wq)
{
	init_waitqueue_head(wq);
}

/* INIT_WORK() is a macro and schedule_work() static inline: the kqueue wakes its pollers from a
 * work item (never from inside another queue's wake-up), see KQueue::wake_for_new_event. */
void kq_init_work(struct work_struct *work, void (*func)(struct work_struct *))
{
	INIT_WORK(work, func);
}

bool kq_schedule_work(struct work_struct *work)
{
	return schedule_work(work);
}

/*
 * Per CPU: how deep we are inside kq_wake_pollers(). A kqueue watched by another kqueue is woken
 * from inside the watched one's `pollers` wake-up (same lockdep class, and unbounded along
 * chains): such wake-ups go to the work item instead (KQueue::wake_for_new_event). Wake-up
 * callbacks run on the CPU that took the queue's lock, with preemption off, so a per-CPU count
 * sees the nesting; an interrupt in between merely defers a wake-up it did not need to.
 */
static DEFINE_PER_CPU(unsigned int, kq_pollers_depth);

void kq_wake_pollers(struct wait_queue_head *wq, __poll_t mask)
{
	preempt_disable();
	__this_cpu_inc(kq_pollers_depth);
	wake_up_poll(wq, mask);
	__this_cpu_dec(kq_pollers_depth);
	preempt_enable();
}

bool kq_in_pollers_wake(void)
{
	return this_cpu_read(kq_pollers_depth) != 0;
}

/* wake_up()/wake_up_all() are macros. */
void kq_wake_up_one(struct wait_queue_head *wq)
{
	wake_up(wq);
}

/* Wakes every waiter, if there is one (a kqueue closed with nobody in kevent(): the common
 * case). wq_has_sleeper()'s barrier orders the caller's change of the sleepers' condition
 * before the look at the queue, against a sleeper's set_current_state() before its check. */
void kq_wake_up_all(struct wait_queue_head *wq)
{
	if (wq_has_sleeper(wq))
		wake_up_all(wq);
}

/*
 * kevent()'s user memory, 64-bit word by word: its argument block (5 words), its timeout (2)
 * and its records (8 each). copy_{from,to}_user is an out-of-line call and a `rep movs` per
 * block; epoll moves its records with unsafe_put_user inside one user-access section
 * (epoll_put_uevent), and these do the same. The 7.2 Rust `UserSlice` offers only
 * copy_{from,to}_user. Usercopy fault injection applies as it does to copy_{from,to}_user.
 * Each returns 0 or -EFAULT.
 */
static __always_inline int kq_get_words(u64 *dst, const void __user *src, unsigned int n)
{
	const u64 __user *from = src;
	unsigned int i;

	if (should_fail_usercopy())
		return -EFAULT;
	scoped_user_read_access_size(src, n * sizeof(u64), efault) {
		for (i = 0; i < n; i++)
			unsafe_get_user(dst[i], &from[i], efault);
	}
	return 0;
efault:
	return -EFAULT;
}

static __always_inline int kq_put_words(void __user *dst, const u64 *src, unsigned int n)
{
	u64 __user *to = dst;
	unsigned int i;

	if (should_fail_usercopy())
		return -EFAULT;
	scoped_user_write_access_size(dst, n * sizeof(u64), efault) {
		for (i = 0; i < n; i++)
			unsafe_put_user(src[i], &to[i], efault);
	}
	return 0;
efault:
	return -EFAULT;
}

int kq_get_args(u64 dst[5], const void __user *src)
{
	return kq_get_words(dst, src, 5);
}

int kq_get_timespec(u64 dst[2], const void __user *src)
{
	return kq_get_words(dst, src, 2);
}

int kq_get_kevent(u64 dst[8], const void __user *src)
{
	return kq_get_words(dst, src, 8);
}

int kq_put_kevent(void __user *dst, const u64 src[8])
{
	return kq_put_words(dst, src, 8);
}

/* @n records (8 words each) in one user-access section: a scan's batch (kqueue.rs). */
int kq_put_kevents(void __user *dst, const u64 *src, unsigned int n)
{
	u64 __user *to = dst;
	unsigned int r, i;

	if (should_fail_usercopy())
		return -EFAULT;
	scoped_user_write_access_size(dst, n * 8 * sizeof(u64), efault) {
		for (r = 0; r < 8 * n; r += 8) {
			/* A record's 8 words unrolled, as kq_put_kevent() writes them. */
			for (i = 0; i < 8; i++)
				unsafe_put_user(src[r + i], &to[r + i], efault);
		}
	}
	return 0;
efault:
	return -EFAULT;
}
