// SPDX-License-Identifier: GPL-2.0
//! Declarations of the C helper objects: `kq_helper.c` (one-line forwarders to macros and static
//! inlines the 7.2 bindings cannot reach), `kq_poll_hook.c` (poll-table hooks), `kq_close_watch.c`
//! (fsnotify close notification and inode events), `kq_fdata.c` (per-file-kind readiness data)
//! and `kq_proc_hook.c` (process events from tracepoints). Each C file
//! says why it is C.

use crate::poll_hook::RawPollHook;
use kernel::bindings;
use kernel::ffi::{c_int, c_long, c_ulong, c_void};

/// What `kq_fd_evaluate` computes for one descriptor knote (`struct kq_fd_eval`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct KqFdEval {
    /// FreeBSD's `kn_data` for the filter.
    pub(crate) data: i64,
    /// The socket error when at EOF, else 0.
    pub(crate) fflags: u32,
    /// EV_EOF.
    pub(crate) eof: bool,
    /// The filter's condition holds.
    pub(crate) active: bool,
}

// Kernel structs are passed by pointer only, never by value: their Rust layout is irrelevant.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn kq_max_knotes_per_user() -> u32;
    pub(crate) fn kq_max_timers_per_user() -> u32;
    pub(crate) fn kq_spin_lock_irqsave(lock: *mut bindings::spinlock_t) -> c_ulong;
    pub(crate) fn kq_spin_trylock_irqsave(lock: *mut bindings::spinlock_t, flags: *mut c_ulong) -> bool;
    pub(crate) fn kq_spin_unlock_irqrestore(lock: *mut bindings::spinlock_t, flags: c_ulong);
    pub(crate) fn kq_file_count(file: *mut bindings::file) -> c_long;
    pub(crate) fn kq_current_files_hold(file: *mut bindings::file) -> bool;
    pub(crate) fn kq_fd_names_file(fd: u32, file: *mut bindings::file) -> bool;
    pub(crate) fn kq_fdget(fd: u32, counted: *mut bool) -> *mut bindings::file;
    pub(crate) fn kq_get_current_tgid() -> *mut bindings::pid;
    pub(crate) fn kq_current_tgid_is(pid: *mut bindings::pid) -> bool;
    pub(crate) fn kq_ktime_get_real_ns() -> i64;
    pub(crate) fn kq_signal_pending() -> bool;
    pub(crate) fn kq_init_waitqueue_head(wq: *mut bindings::wait_queue_head);
    pub(crate) fn kq_wake_up_one(wq: *mut bindings::wait_queue_head);
    pub(crate) fn kq_wake_up_all(wq: *mut bindings::wait_queue_head);
    pub(crate) fn kq_init_waitqueue_head_pollers(wq: *mut bindings::wait_queue_head);
    pub(crate) fn kq_init_work(
        work: *mut bindings::work_struct,
        func: unsafe extern "C" fn(*mut bindings::work_struct),
    );
    pub(crate) fn kq_schedule_work(work: *mut bindings::work_struct) -> bool;
    pub(crate) fn kq_wake_pollers(wq: *mut bindings::wait_queue_head, mask: u32);
    pub(crate) fn kq_in_pollers_wake() -> bool;
    pub(crate) fn kq_get_args(dst: *mut u64, src: *const c_void) -> c_int;
    pub(crate) fn kq_get_timespec(dst: *mut u64, src: *const c_void) -> c_int;
    pub(crate) fn kq_get_kevent(dst: *mut u64, src: *const c_void) -> c_int;
    pub(crate) fn kq_put_kevent(dst: *mut c_void, src: *const u64) -> c_int;
    pub(crate) fn kq_put_kevents(dst: *mut c_void, src: *const u64, n: kernel::ffi::c_uint) -> c_int;

    // kq_poll_hook.c
    pub(crate) fn kq_poll_hook_file(
        file: *mut bindings::file,
        hooks: *mut RawPollHook,
        nr: u32,
        events: u32,
        knote: *const c_void,
        overflow: *mut bool,
    ) -> u32;
    pub(crate) fn kq_poll_unhook(hooks: *mut RawPollHook, nr: u32);

    // kq_close_watch.c
    pub(crate) fn kq_close_watch_init() -> c_int;
    pub(crate) fn kq_close_watch_exit();
    pub(crate) fn kq_file_notifies_close(file: *mut bindings::file) -> bool;
    pub(crate) fn kq_close_watch_get(file: *mut bindings::file) -> *mut c_void;
    pub(crate) fn kq_close_watch_vnode(handle: *mut c_void, add: bool);
    pub(crate) fn kq_close_watch_put(handle: *mut c_void);
    pub(crate) fn kq_close_watch_slot(handle: *mut c_void) -> c_int;
    pub(crate) fn kq_close_watch_hold(handle: *mut c_void);
    pub(crate) fn kq_close_watch_unhold(i: c_int);
    pub(crate) fn kq_file_tryget(file: *mut bindings::file, inode: *mut bindings::inode) -> bool;
    pub(crate) fn kq_vnode_check(file: *mut bindings::file, nlink: *mut u32, size: *mut i64) -> c_int;

    // kq_proc_hook.c
    pub(crate) fn kq_proc_hook_init() -> c_int;
    pub(crate) fn kq_proc_hook_exit();
    pub(crate) fn kq_proc_lookup(nr: i64) -> *mut bindings::pid;
    pub(crate) fn kq_pidfd_pid(file: *mut bindings::file) -> *mut bindings::pid;
    pub(crate) fn kq_proc_exited(pid: *mut bindings::pid, status: *mut c_int) -> bool;
    pub(crate) fn kq_pid_nr_seen_by(pid: *mut bindings::pid, owner: *mut bindings::pid) -> i64;
    pub(crate) fn kq_get_pid(pid: *mut bindings::pid) -> *mut bindings::pid;
    pub(crate) fn kq_put_pid(pid: *mut bindings::pid);

    // kq_fdata.c
    pub(crate) fn kq_fd_check(file: *mut bindings::file, filter: c_int) -> c_int;
    pub(crate) fn kq_fd_evaluate(
        file: *mut bindings::file,
        filter: c_int,
        sfflags: u32,
        sdata: i64,
        events: u32,
        out: *mut KqFdEval,
    ) -> c_int;
}
