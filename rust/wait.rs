// SPDX-License-Identifier: GPL-2.0
//! A raw kernel wait queue with what kevent() needs and `CondVar` lacks: exclusive waits with a
//! nanosecond-precision absolute deadline (`schedule_hrtimeout_range`, as epoll_wait uses) rather
//! than jiffies, wake-one/wake-all, and poll-table registration with POLLFREE on destruction.
//!
//! Owned by its [`crate::kqueue::KQueue`]; it dies with it. Its own spinlock (inside
//! `wait_queue_head`) is taken under every lock of its kqueue. A `waiters` queue takes nothing
//! under it; a `pollers` queue runs its pollers' wake-up functions under it, which may take an
//! epoll's `ep->lock` and, through a knote hooked on that epoll, another kqueue's `ready` and
//! `waiters` (never its own: see `KQueue::wake_for_new_event`).

use crate::helper;
use core::ptr;
use kernel::{bindings, prelude::*, types::Opaque};

/// Why a sleep ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WakeReason {
    /// The condition became true (or a spurious wake-up; the caller re-checks).
    Woken,
    /// The absolute deadline passed.
    TimedOut,
    /// A signal is pending for the task.
    Signal,
}

/// A `wait_queue_head_t`.
#[pin_data]
pub(crate) struct WaitQueue {
    #[pin]
    head: Opaque<bindings::wait_queue_head>,
}

// SAFETY: A wait queue head is designed to be used from any thread; all accesses go through the
// kernel's wait-queue functions, which take its internal spinlock.
unsafe impl Send for WaitQueue {}
// SAFETY: As above.
unsafe impl Sync for WaitQueue {}

impl WaitQueue {
    /// A queue of threads sleeping in kevent() (one lockdep class for all kqueues).
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `init_waitqueue_head` initialises the whole head in place.
            head <- unsafe {
                Opaque::ffi_init(|slot: *mut bindings::wait_queue_head| {
                    helper::kq_init_waitqueue_head(slot)
                })
            },
        })
    }

    /// A queue of poll()ers of the kqueue fd, in a lockdep class of its own: another kqueue's
    /// knote on it takes that kqueue's `ready` lock and wakes its `waiters` from inside.
    pub(crate) fn new_pollers() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `init_waitqueue_head` initialises the whole head in place.
            head <- unsafe {
                Opaque::ffi_init(|slot: *mut bindings::wait_queue_head| {
                    helper::kq_init_waitqueue_head_pollers(slot)
                })
            },
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::wait_queue_head {
        self.head.get()
    }

    /// Wakes one exclusive waiter (and every non-exclusive one). Any context.
    pub(crate) fn wake_one(&self) {
        // SAFETY: `head` is initialised for the lifetime of `self`.
        unsafe { helper::kq_wake_up_one(self.as_ptr()) }
    }

    /// Whether anyone sleeps on the queue (`waitqueue_active`). Only meaningful when the caller
    /// changed the sleepers' condition under a lock that the sleepers take after queueing
    /// themselves (for kevent(): the `ready` lock), so a sleeper that is not seen here is
    /// guaranteed to see the change.
    ///
    /// `waitqueue_active` is `!list_empty(&wq->head)`, a `READ_ONCE` of the list's first
    /// pointer: done here, not through the C helper (a call on every scan that requeues).
    pub(crate) fn has_waiters(&self) -> bool {
        let wq = self.as_ptr();
        // SAFETY: `wq` is initialised for the lifetime of `self`; the volatile read of
        // `head.next` is `list_empty`'s `READ_ONCE` (a racy read by design, see above).
        unsafe {
            let list = &raw const (*wq).head;
            !core::ptr::eq(core::ptr::read_volatile(&raw const (*list).next).cast_const(), list)
        }
    }

    /// Wakes every waiter. Any context. The caller changed the sleepers' condition first: the
    /// helper's `wq_has_sleeper` barrier makes a sleeper that is not seen on the queue see
    /// that change (`wait_until` checks after queueing itself), so an empty queue costs no
    /// wake-up.
    pub(crate) fn wake_all(&self) {
        // SAFETY: As above.
        unsafe { helper::kq_wake_up_all(self.as_ptr()) }
    }

    /// Wakes poll/select/epoll waiters of a kqueue's `pollers` queue, marking this CPU as inside
    /// such a wake-up (see [`in_pollers_wake`]). Any context.
    pub(crate) fn wake_pollers(&self, mask: u32) {
        // SAFETY: As above.
        unsafe { helper::kq_wake_pollers(self.as_ptr(), mask) }
    }

    /// Tells every poll-table user that the queue is going away (`wake_up_pollfree`); the caller
    /// must then wait an RCU grace period before freeing it (epoll's POLLFREE protocol).
    pub(crate) fn wake_pollfree(&self) {
        // SAFETY: As above; `__wake_up_pollfree` is exported for exactly this.
        unsafe { bindings::__wake_up_pollfree(self.as_ptr()) }
    }

    /// Registers the queue in a poll table (the `poll` file operation of the kqueue fd).
    ///
    /// # Safety
    ///
    /// `file` and `table` must be the arguments of the running `poll` file operation.
    pub(crate) unsafe fn poll_wait(&self, file: *mut bindings::file, table: *mut bindings::poll_table) {
        // SAFETY: Guaranteed by the caller; the queue outlives the file (POLLFREE on drop).
        unsafe { bindings::poll_wait(file, self.as_ptr(), table) }
    }

    /// Sleeps interruptibly as an exclusive waiter until `ready()` is true, a wake-up comes, a
    /// signal arrives, or the absolute CLOCK_MONOTONIC `deadline_ns` passes (`None`: no
    /// deadline).
    ///
    /// `ready` is evaluated after queueing ourselves, so a wake-up between the check and the
    /// sleep is never lost. A wake-up returns `Woken` at once, without queueing and asking
    /// `ready` again (the caller looks for itself, as epoll_wait does): the waker's
    /// `autoremove_wake_function` took the entry off the queue, so `finish_wait` needs no
    /// lock either. Must be called in process context with no spinlock held.
    pub(crate) fn wait_until(
        &self,
        deadline_ns: Option<i64>,
        slack_ns: u64,
        mut ready: impl FnMut() -> bool,
    ) -> WakeReason {
        let mut entry = core::mem::MaybeUninit::<bindings::wait_queue_entry>::zeroed();
        let entry = entry.as_mut_ptr();
        // SAFETY: `entry` is a valid, exclusively owned wait-queue entry on our stack that stays
        // alive until `finish_wait` below removes it from the queue.
        unsafe { bindings::init_wait(entry) };
        // SAFETY: `self.head` is initialised; `entry` is initialised above.
        unsafe {
            bindings::prepare_to_wait_exclusive(self.as_ptr(), entry, bindings::TASK_INTERRUPTIBLE as i32)
        };
        let reason = if ready() {
            WakeReason::Woken
        // SAFETY: Reads the current task's pending-signal state.
        } else if unsafe { helper::kq_signal_pending() } {
            WakeReason::Signal
        } else if !self.sleep(deadline_ns, slack_ns) {
            if ready() { WakeReason::Woken } else { WakeReason::TimedOut }
        } else {
            // Woken (or a signal: the caller's next wait sees it pending).
            WakeReason::Woken
        };
        // SAFETY: `entry` was queued on `self.head` by `prepare_to_wait_exclusive`.
        unsafe { bindings::finish_wait(self.as_ptr(), entry) };
        reason
    }

    /// One `schedule_hrtimeout_range` in TASK_INTERRUPTIBLE; false when the deadline expired.
    fn sleep(&self, deadline_ns: Option<i64>, slack_ns: u64) -> bool {
        let mut expires: bindings::ktime_t = deadline_ns.unwrap_or(i64::MAX);
        let expires_ptr: *mut bindings::ktime_t = if deadline_ns.is_some() {
            &mut expires
        } else {
            ptr::null_mut()
        };
        // SAFETY: `expires_ptr` is null (sleep without limit) or points to a live ktime on our
        // stack; the task state was set by `prepare_to_wait_exclusive`.
        let left = unsafe {
            bindings::schedule_hrtimeout_range(
                expires_ptr,
                slack_ns,
                bindings::hrtimer_mode_HRTIMER_MODE_ABS,
            )
        };
        left != 0
    }
}

/// Whether this CPU is inside [`WaitQueue::wake_pollers`] (a kqueue woken by a kqueue it watches).
pub(crate) fn in_pollers_wake() -> bool {
    // SAFETY: Reads a per-CPU counter.
    unsafe { helper::kq_in_pollers_wake() }
}
