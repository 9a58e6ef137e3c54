//! The few libc calls this crate makes, and the two device operations shared by the C library
//! ([`crate::capi`], exported by `libkqueue.{so,a}`) and the safe API ([`crate::Kqueue`]).
//!
//! `no_std`-clean: the C library (`clib/`, built without the standard library) compiles this
//! file too. Constants and functions come from the `libc` crate, used without its `std` feature.

use core::ffi::{c_int, CStr};

use crate::sys::{KqKeventArgs, KQIOC_KEVENT, KQUEUE_DEVICE};

/// `KQUEUE_DEVICE` with its terminating NUL, built at compile time from the one ABI definition.
const DEVICE_PATH: [u8; KQUEUE_DEVICE.len() + 1] = nul_terminated(KQUEUE_DEVICE);

const fn nul_terminated<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < s.len() {
        out[i] = s.as_bytes()[i];
        i += 1;
    }
    out
}

fn device_path() -> &'static CStr {
    // SAFETY: DEVICE_PATH ends with the only NUL byte (checked by a test and at compile time:
    // `nul_terminated` copies a str that the ABI defines without NULs).
    unsafe { CStr::from_bytes_with_nul_unchecked(&DEVICE_PATH) }
}

pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value }
}

/// Opens a new kqueue and returns its descriptor, or the errno value on failure.
///
/// A missing device (ENOENT from open: no node; ENODEV/ENXIO: node without a loaded driver)
/// means this kernel has no kqueue, reported as ENOSYS. Other errors pass through.
pub fn open_kqueue(cloexec: bool) -> Result<c_int, c_int> {
    let flags = libc::O_RDWR | if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: the path is a valid NUL-terminated string; no mode argument is needed without O_CREAT.
    let fd = unsafe { libc::open(device_path().as_ptr(), flags) };
    if fd >= 0 {
        return Ok(fd);
    }
    match errno() {
        libc::ENOENT | libc::ENODEV | libc::ENXIO => Err(libc::ENOSYS),
        e => Err(e),
    }
}

/// Issues one kevent() ioctl; returns its result (-1 with errno set on failure).
///
/// ENOTTY means `kq` is an open descriptor that is not a kqueue (the ioctl never reached the
/// module); FreeBSD's kevent() reports that as EBADF, so it is translated.
///
/// # Safety
/// The pointers in `args` are handed to the kernel, which writes up to `nevents` events to
/// `eventlist`: that memory must be writable by the caller or invalid (EFAULT).
pub unsafe fn kevent_ioctl(kq: c_int, args: &KqKeventArgs) -> c_int {
    let n = ioctl(kq, KQIOC_KEVENT as libc::c_ulong, args as *const KqKeventArgs as usize);
    if n < 0 && errno() == libc::ENOTTY {
        set_errno(libc::EBADF);
    }
    n
}

/// ioctl(2) as the system call instruction itself. glibc's `ioctl()` is variadic, and its
/// `va_start` spills every argument register on each call: about 25 instructions of the ~50
/// a kevent() spends in user space (measured with `make profile`). Same result and errno.
///
/// # Safety
/// As the ioctl: `arg` is handed to the kernel.
#[cfg(target_arch = "x86_64")]
unsafe fn ioctl(fd: c_int, request: libc::c_ulong, arg: usize) -> c_int {
    let ret: isize;
    // SAFETY: the x86-64 Linux system call convention: number in rax, arguments in rdi, rsi,
    // rdx; rcx and r11 are clobbered; the kernel touches no user memory but what `arg` names.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_ioctl as isize => ret,
            in("rdi") fd as isize,
            in("rsi") request,
            in("rdx") arg,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 {
        set_errno(-ret as c_int);
        return -1;
    }
    ret as c_int
}

/// ioctl(2) through libc elsewhere.
///
/// # Safety
/// As the ioctl: `arg` is handed to the kernel.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn ioctl(fd: c_int, request: libc::c_ulong, arg: usize) -> c_int {
    // SAFETY: guaranteed by the caller.
    unsafe { libc::ioctl(fd, request as libc::Ioctl, arg) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_path_matches_abi() {
        assert_eq!(device_path().to_str(), Ok(KQUEUE_DEVICE));
        assert_eq!(DEVICE_PATH.iter().filter(|&&b| b == 0).count(), 1);
    }
}
