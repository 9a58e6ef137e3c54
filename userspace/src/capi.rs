//! The C API of `libkqueue.so` / `libkqueue.a`, declared in `include/sys/event.h`.
//!
//! The C library (`clib/lib.rs`, built without the standard library) exports these functions
//! under their C names (`kqueue`, `kqueue1`, `kqueuex`, `kevent`) and nothing else. This crate
//! does not export them (a Rust program may link the C library or another kqueue library
//! besides): here they are ordinary Rust functions with the C calling convention, the same code.
//! They follow FreeBSD's kqueue(2): they return -1 and set `errno` on failure.
//!
//! `kevent()` validates nothing itself: counts, pointers and the timeout go to the kernel
//! unchanged, which reports EINVAL, EFAULT and the rest exactly as FreeBSD does.

use core::ffi::{c_int, c_uint};

use libc::{EINVAL, O_CLOEXEC};

use crate::ffi;
use crate::sys::{KEvent, KqKeventArgs, KqTimespec, KQUEUE_CLOEXEC};

/// The C library's `struct timespec`. On LP64 glibc it is `{ i64, i64 }`, the layout of
/// [`KqTimespec`], so the caller's pointer goes to the kernel unchanged (and a bad pointer is
/// the kernel's EFAULT).
#[cfg(target_pointer_width = "64")]
pub type Timespec = KqTimespec;

/// The C library's `struct timespec` with a `long` time_t (32-bit targets without
/// `_TIME_BITS=64`); `kevent()` converts it into a [`KqTimespec`].
#[cfg(target_pointer_width = "32")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Timespec {
    pub tv_sec: core::ffi::c_long,
    pub tv_nsec: core::ffi::c_long,
}

fn fail(errno: c_int) -> c_int {
    ffi::set_errno(errno);
    -1
}

fn open_or_fail(cloexec: bool) -> c_int {
    ffi::open_kqueue(cloexec).unwrap_or_else(fail)
}

/// `int kqueue(void)`: a new kqueue descriptor. Fails with ENOSYS when `/dev/kqueue` is absent
/// (the kernel module is not loaded); EMFILE, ENFILE, ENOMEM, EACCES... pass through from open().
pub extern "C" fn kqueue() -> c_int {
    open_or_fail(false)
}

/// `int kqueue1(int flags)`: like `kqueue()`; `flags` may contain only `O_CLOEXEC` (else EINVAL).
pub extern "C" fn kqueue1(flags: c_int) -> c_int {
    if flags & !O_CLOEXEC != 0 {
        return fail(EINVAL);
    }
    open_or_fail(flags & O_CLOEXEC != 0)
}

/// `int kqueuex(unsigned flags)` (FreeBSD 14): `flags` may contain only `KQUEUE_CLOEXEC`
/// (else EINVAL).
pub extern "C" fn kqueuex(flags: c_uint) -> c_int {
    if flags & !KQUEUE_CLOEXEC != 0 {
        return fail(EINVAL);
    }
    open_or_fail(flags & KQUEUE_CLOEXEC != 0)
}

/// `int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
/// int nevents, const struct timespec *timeout)`: one KQIOC_KEVENT ioctl.
///
/// Returns the number of events placed in `eventlist`, or -1 with errno set.
/// A descriptor that is open but not a kqueue gives EBADF, as on FreeBSD.
///
/// # Safety
/// Same contract as FreeBSD's kevent(2): `eventlist` must have room for `nevents` events.
pub unsafe extern "C" fn kevent(
    kq: c_int,
    changelist: *const KEvent,
    nchanges: c_int,
    eventlist: *mut KEvent,
    nevents: c_int,
    timeout: *const Timespec,
) -> c_int {
    let mut timeout_copy = KqTimespec::default();
    let args = KqKeventArgs {
        changelist: changelist as usize as u64,
        eventlist: eventlist as usize as u64,
        timeout: timeout_arg(timeout, &mut timeout_copy),
        nchanges,
        nevents,
        // No KQ_KEVENT_KQFD: the module handles a racing close() without it, and the check
        // is a descriptor look-up per call.
        kqfd: 0,
        flags: 0,
    };
    ffi::kevent_ioctl(kq, &args)
}

/// The ioctl's timeout pointer: the caller's own (LP64, same layout).
#[cfg(target_pointer_width = "64")]
unsafe fn timeout_arg(timeout: *const Timespec, _copy: &mut KqTimespec) -> u64 {
    timeout as usize as u64
}

/// The ioctl's timeout pointer: `copy`, filled from the caller's 32-bit timespec (0 if none).
#[cfg(target_pointer_width = "32")]
unsafe fn timeout_arg(timeout: *const Timespec, copy: &mut KqTimespec) -> u64 {
    let Some(ts) = timeout.as_ref() else {
        return 0;
    };
    *copy = KqTimespec {
        tv_sec: ts.tv_sec.into(),
        tv_nsec: ts.tv_nsec.into(),
    };
    copy as *const KqTimespec as usize as u64
}
