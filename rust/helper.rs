// SPDX-License-Identifier: GPL-2.0
//! Declarations of the C helpers in `kq_helper.c` (macros and static inlines the 7.2 bindings
//! cannot reach). Each is a one-line forwarder; see that file for why each one exists.

use kernel::bindings;
use kernel::ffi::{c_long, c_ulong};

// Kernel structs are passed by pointer only, never by value: their Rust layout is irrelevant.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn kq_spin_lock_irqsave(lock: *mut bindings::spinlock_t) -> c_ulong;
    pub(crate) fn kq_spin_unlock_irqrestore(lock: *mut bindings::spinlock_t, flags: c_ulong);
    pub(crate) fn kq_file_count(file: *mut bindings::file) -> c_long;
    pub(crate) fn kq_get_current_tgid() -> *mut bindings::pid;
    pub(crate) fn kq_current_tgid_is(pid: *mut bindings::pid) -> bool;
    pub(crate) fn kq_ktime_get_real_ns() -> i64;
    pub(crate) fn kq_signal_pending() -> bool;
    pub(crate) fn kq_init_waitqueue_head(wq: *mut bindings::wait_queue_head);
    pub(crate) fn kq_wake_up_one(wq: *mut bindings::wait_queue_head);
    pub(crate) fn kq_wake_up_all(wq: *mut bindings::wait_queue_head);
    pub(crate) fn kq_waitqueue_active(wq: *mut bindings::wait_queue_head) -> bool;
    pub(crate) fn kq_wake_up_all_poll(wq: *mut bindings::wait_queue_head, mask: u32);
}
