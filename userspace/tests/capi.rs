//! Host tests of the C API's code (`kqueue::capi`, which `libkqueue.{so,a}` exports under the C
//! names; `tests/c/check-lib.sh` tests the built library itself through `tests/c/smoke.c`).
//! They need no kernel module: without `/dev/kqueue` opening fails with ENOSYS, and flag checks
//! come before open().

use std::ffi::{c_int, c_uint};

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr;

use kqueue::sys::{KEvent, KQUEUE_CLOEXEC, KQUEUE_DEVICE};

use kqueue::capi::{kevent, kqueue, kqueue1, kqueuex};

use libc::{EBADF, EINVAL, ENOSYS, O_CLOEXEC, O_NONBLOCK, O_RDWR};

/// The errno left by a C call that must have failed with -1.
fn failed_errno(result: c_int) -> Option<i32> {
    assert_eq!(result, -1, "the call should fail");
    io::Error::last_os_error().raw_os_error()
}

fn device_absent() -> bool {
    let absent = !std::path::Path::new(KQUEUE_DEVICE).exists();
    if !absent {
        eprintln!("skipped: {KQUEUE_DEVICE} exists on this host");
    }
    absent
}

#[test]
fn kqueue_without_device_is_enosys() {
    if device_absent() {
        assert_eq!(failed_errno(kqueue()), Some(ENOSYS));
        assert_eq!(failed_errno(kqueue1(0)), Some(ENOSYS));
        assert_eq!(failed_errno(kqueue1(O_CLOEXEC)), Some(ENOSYS));
        assert_eq!(failed_errno(kqueuex(0)), Some(ENOSYS));
        assert_eq!(failed_errno(kqueuex(KQUEUE_CLOEXEC)), Some(ENOSYS));
    }
}

#[test]
fn kqueue1_rejects_flags_other_than_cloexec() {
    for flags in [1, O_NONBLOCK, O_CLOEXEC | O_RDWR, -1] {
        assert_eq!(
            failed_errno(kqueue1(flags)),
            Some(EINVAL),
            "flags {flags:#o}"
        );
    }
}

#[test]
fn kqueuex_rejects_flags_other_than_kqueue_cloexec() {
    for flags in [2, KQUEUE_CLOEXEC | 0x80, O_CLOEXEC as c_uint, c_uint::MAX] {
        assert_eq!(
            failed_errno(kqueuex(flags)),
            Some(EINVAL),
            "flags {flags:#x}"
        );
    }
}

#[test]
fn kevent_on_a_closed_descriptor_is_ebadf() {
    let ret = unsafe { kevent(-1, ptr::null(), 0, ptr::null_mut(), 0, ptr::null()) };
    assert_eq!(failed_errno(ret), Some(EBADF));
}

#[test]
fn kevent_on_a_descriptor_that_is_not_a_kqueue_is_ebadf() {
    let file = File::open("/dev/null").unwrap();
    let mut events = [KEvent::default(); 1];
    let ret = unsafe {
        kevent(
            file.as_raw_fd(),
            ptr::null(),
            0,
            events.as_mut_ptr(),
            1,
            ptr::null(),
        )
    };
    assert_eq!(failed_errno(ret), Some(EBADF));
}
