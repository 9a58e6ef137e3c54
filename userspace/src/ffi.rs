//! The few libc functions this crate needs, and the two device operations shared by the C
//! symbols ([`crate::capi`]) and the safe API ([`crate::Kqueue`]).

use core::ffi::{c_char, c_int, c_ulong, CStr};

use crate::sys::{KqKeventArgs, KQIOC_KEVENT, KQUEUE_DEVICE};

extern "C" {
    fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn __errno_location() -> *mut c_int;
}

// Linux values (asm-generic, used by x86, arm, arm64, riscv, loongarch).
pub const O_RDWR: c_int = 0o2;
pub const O_CLOEXEC: c_int = 0o2000000;
pub const ENOENT: c_int = 2;
pub const ENXIO: c_int = 6;
pub const EBADF: c_int = 9;
pub const ENODEV: c_int = 19;
pub const EINVAL: c_int = 22;
pub const ENOTTY: c_int = 25;
pub const ENOSYS: c_int = 38;

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
    match CStr::from_bytes_with_nul(&DEVICE_PATH) {
        Ok(path) => path,
        Err(_) => unreachable!("KQUEUE_DEVICE contains a NUL byte"),
    }
}

pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    unsafe { *__errno_location() }
}

pub fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *__errno_location() = value }
}

/// Opens a new kqueue and returns its descriptor, or the errno value on failure.
///
/// A missing device (ENOENT from open: no node; ENODEV/ENXIO: node without a loaded driver)
/// means this kernel has no kqueue, reported as ENOSYS. Other errors pass through.
pub fn open_kqueue(cloexec: bool) -> Result<c_int, c_int> {
    let flags = O_RDWR | if cloexec { O_CLOEXEC } else { 0 };
    // SAFETY: the path is a valid NUL-terminated string; no mode argument is needed without O_CREAT.
    let fd = unsafe { open(device_path().as_ptr(), flags) };
    if fd >= 0 {
        return Ok(fd);
    }
    match errno() {
        ENOENT | ENODEV | ENXIO => Err(ENOSYS),
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
    let n = ioctl(kq, KQIOC_KEVENT as c_ulong, args as *const KqKeventArgs);
    if n < 0 && errno() == ENOTTY {
        set_errno(EBADF);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_path_matches_abi() {
        assert_eq!(device_path().to_str(), Ok(KQUEUE_DEVICE));
    }
}
