// SPDX-License-Identifier: GPL-2.0 OR MIT
//! `libkqueue.so` / `libkqueue.a`: the C library, built without the standard library.
//!
//! Exports exactly `kqueue`, `kqueue1`, `kqueuex` and `kevent` (declared in
//! `include/sys/event.h`); the code is the crate's own `src/capi.rs` and `src/ffi.rs`, over the
//! one ABI definition `rust/abi.rs`. It calls nothing but libc's `open()`, `ioctl()` and
//! `errno`. `userspace/Makefile` links the result into one relocatable object that keeps only
//! those four global symbols, then archives it (`libkqueue.a`) and links it with a version
//! script (`libkqueue.so`); `make test` checks both with `nm`.
#![no_std]

use core::ffi::{c_int, c_uint};

#[rustfmt::skip]
#[allow(rustdoc::broken_intra_doc_links, dead_code)]
#[path = "../../rust/abi.rs"]
mod sys;

#[path = "../src/ffi.rs"]
mod ffi;

#[path = "../src/capi.rs"]
mod capi;

use capi::Timespec;
use sys::KEvent;

/// `int kqueue(void)`.
#[no_mangle]
pub extern "C" fn kqueue() -> c_int {
    capi::kqueue()
}

/// `int kqueue1(int flags)`.
#[no_mangle]
pub extern "C" fn kqueue1(flags: c_int) -> c_int {
    capi::kqueue1(flags)
}

/// `int kqueuex(unsigned flags)`.
#[no_mangle]
pub extern "C" fn kqueuex(flags: c_uint) -> c_int {
    capi::kqueuex(flags)
}

/// `int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent
/// *eventlist, int nevents, const struct timespec *timeout)`.
///
/// # Safety
/// As FreeBSD's kevent(2): `eventlist` has room for `nevents` events.
#[no_mangle]
pub unsafe extern "C" fn kevent(
    kq: c_int,
    changelist: *const KEvent,
    nchanges: c_int,
    eventlist: *mut KEvent,
    nevents: c_int,
    timeout: *const Timespec,
) -> c_int {
    capi::kevent(kq, changelist, nchanges, eventlist, nevents, timeout)
}

/// Nothing here can panic (no indexing, no arithmetic that overflows, no unwrap): `make test`
/// checks with `nm` that the library references no `abort`, i.e. that this handler was
/// discarded. Were one to creep in, the process would abort, as C code does.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort() has no preconditions.
    unsafe { libc::abort() }
}
