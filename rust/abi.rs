// SPDX-License-Identifier: GPL-2.0 OR MIT
//! The kqueue user ABI: the one definition shared by the kernel module (`rust/kqueue_main.rs`
//! includes this file), the userspace crate (`userspace/src/lib.rs` includes it as
//! `kqueue::sys`) and, checked by a test, the C header `userspace/include/sys/event.h`.
//!
//! Numbers are FreeBSD's (sys/sys/event.h, FreeBSD 12+ layout). `struct kevent` is made of
//! fixed-width fields so that 32-bit and 64-bit processes share one layout (64 bytes), and the
//! ioctl argument block carries user pointers as `u64`.
//!
//! This file must stay `no_std`-clean plain Rust: no kernel or libc types.

#![allow(dead_code)]

/// FreeBSD `struct kevent` (12+ layout with `ext[4]`), 64 bytes, same layout for 32/64-bit users.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KEvent {
    /// Identifier for this event (fd, timer id, user id, ...). 32-bit callers: upper half ignored.
    pub ident: u64,
    /// Filter (EVFILT_*), negative.
    pub filter: i16,
    /// Action flags in, status flags out (EV_*).
    pub flags: u16,
    /// Filter-specific flags (NOTE_*).
    pub fflags: u32,
    /// Filter-specific data.
    pub data: i64,
    /// Opaque user data, returned unchanged. 32-bit callers: upper half ignored.
    pub udata: u64,
    /// `ext[0]`, `ext[1]`: filter-defined (copied unchanged by the filters here); `ext[2]`,
    /// `ext[3]`: always passed through.
    pub ext: [u64; 4],
}

/// Size of [`KEvent`] in bytes; checked against the C header.
pub const KEVENT_SIZE: usize = 64;
const _: () = assert!(core::mem::size_of::<KEvent>() == KEVENT_SIZE);

/// `struct timespec` as the ioctl reads it: 64-bit seconds and nanoseconds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KqTimespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

/// Argument block of [`KQIOC_KEVENT`]: one kevent() call.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KqKeventArgs {
    /// User pointer to `nchanges` [`KEvent`]s (may be 0 when `nchanges` is 0).
    pub changelist: u64,
    /// User pointer to room for `nevents` [`KEvent`]s (may equal `changelist`).
    pub eventlist: u64,
    /// User pointer to a [`KqTimespec`], or 0 to wait without a time limit.
    pub timeout: u64,
    /// Number of changes; negative is EINVAL.
    pub nchanges: i32,
    /// Room in `eventlist`; negative is EINVAL.
    pub nevents: i32,
    /// With [`KQ_KEVENT_KQFD`]: the descriptor the ioctl is issued on. kevent() then fails with
    /// EBADF if it does not name the kqueue (an optional check: a concurrent close() is seen
    /// without it).
    pub kqfd: i32,
    /// [`KQ_KEVENT_KQFD`] or 0; other bits are EINVAL.
    pub flags: u32,
}

/// `KqKeventArgs::flags`: `kqfd` is valid (checked). libkqueue does not set it.
pub const KQ_KEVENT_KQFD: u32 = 0x0000_0001;
pub const KQ_KEVENT_ARGS_SIZE: usize = 40;
const _: () = assert!(core::mem::size_of::<KqKeventArgs>() == KQ_KEVENT_ARGS_SIZE);

/// ioctl type byte of /dev/kqueue.
pub const KQIOC_MAGIC: u32 = b'k' as u32;
/// ioctl number of kevent(): `_IOWR('k', 1, struct kq_kevent_args)`.
pub const KQIOC_KEVENT_NR: u32 = 1;
/// The full ioctl request value (`_IOWR` on x86/arm/riscv encoding).
pub const KQIOC_KEVENT: u32 =
    (3 << 30) | ((KQ_KEVENT_ARGS_SIZE as u32) << 16) | (KQIOC_MAGIC << 8) | KQIOC_KEVENT_NR;

/// Path of the device node: every open() is one kqueue.
pub const KQUEUE_DEVICE: &str = "/dev/kqueue";

// Filters.
pub const EVFILT_READ: i16 = -1;
pub const EVFILT_WRITE: i16 = -2;
pub const EVFILT_AIO: i16 = -3;
pub const EVFILT_VNODE: i16 = -4;
pub const EVFILT_PROC: i16 = -5;
pub const EVFILT_SIGNAL: i16 = -6;
pub const EVFILT_TIMER: i16 = -7;
pub const EVFILT_PROCDESC: i16 = -8;
pub const EVFILT_FS: i16 = -9;
pub const EVFILT_LIO: i16 = -10;
pub const EVFILT_USER: i16 = -11;
pub const EVFILT_SENDFILE: i16 = -12;
pub const EVFILT_EMPTY: i16 = -13;
pub const EVFILT_SYSCOUNT: i16 = 13;

// Actions.
pub const EV_ADD: u16 = 0x0001;
pub const EV_DELETE: u16 = 0x0002;
pub const EV_ENABLE: u16 = 0x0004;
pub const EV_DISABLE: u16 = 0x0008;
pub const EV_FORCEONESHOT: u16 = 0x0100;
pub const EV_KEEPUDATA: u16 = 0x0200;
// Flags.
pub const EV_ONESHOT: u16 = 0x0010;
pub const EV_CLEAR: u16 = 0x0020;
pub const EV_RECEIPT: u16 = 0x0040;
pub const EV_DISPATCH: u16 = 0x0080;
pub const EV_SYSFLAGS: u16 = 0xF000;
pub const EV_DROP: u16 = 0x1000;
pub const EV_FLAG1: u16 = 0x2000;
pub const EV_FLAG2: u16 = 0x4000;
// Returned values.
pub const EV_EOF: u16 = 0x8000;
pub const EV_ERROR: u16 = 0x4000;

// EVFILT_USER.
pub const NOTE_FFNOP: u32 = 0x0000_0000;
pub const NOTE_FFAND: u32 = 0x4000_0000;
pub const NOTE_FFOR: u32 = 0x8000_0000;
pub const NOTE_FFCOPY: u32 = 0xc000_0000;
pub const NOTE_FFCTRLMASK: u32 = 0xc000_0000;
pub const NOTE_FFLAGSMASK: u32 = 0x00ff_ffff;
pub const NOTE_TRIGGER: u32 = 0x0100_0000;

// EVFILT_READ / EVFILT_WRITE.
pub const NOTE_LOWAT: u32 = 0x0001;
pub const NOTE_FILE_POLL: u32 = 0x0002;

// EVFILT_VNODE.
pub const NOTE_DELETE: u32 = 0x0001;
pub const NOTE_WRITE: u32 = 0x0002;
pub const NOTE_EXTEND: u32 = 0x0004;
pub const NOTE_ATTRIB: u32 = 0x0008;
pub const NOTE_LINK: u32 = 0x0010;
pub const NOTE_RENAME: u32 = 0x0020;
pub const NOTE_REVOKE: u32 = 0x0040;
pub const NOTE_OPEN: u32 = 0x0080;
pub const NOTE_CLOSE: u32 = 0x0100;
pub const NOTE_CLOSE_WRITE: u32 = 0x0200;
pub const NOTE_READ: u32 = 0x0400;

// EVFILT_PROC / EVFILT_PROCDESC.
pub const NOTE_EXIT: u32 = 0x8000_0000;
pub const NOTE_FORK: u32 = 0x4000_0000;
pub const NOTE_EXEC: u32 = 0x2000_0000;
pub const NOTE_PCTRLMASK: u32 = 0xf000_0000;
pub const NOTE_PDATAMASK: u32 = 0x000f_ffff;
pub const NOTE_TRACK: u32 = 0x0000_0001;
pub const NOTE_TRACKERR: u32 = 0x0000_0002;
pub const NOTE_CHILD: u32 = 0x0000_0004;

// EVFILT_TIMER (FreeBSD bitmask encoding).
pub const NOTE_SECONDS: u32 = 0x0000_0001;
pub const NOTE_MSECONDS: u32 = 0x0000_0002;
pub const NOTE_USECONDS: u32 = 0x0000_0004;
pub const NOTE_NSECONDS: u32 = 0x0000_0008;
pub const NOTE_ABSTIME: u32 = 0x0000_0010;
pub const NOTE_TIMER_PRECMASK: u32 =
    NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS;

// kqueuex(2).
pub const KQUEUE_CLOEXEC: u32 = 0x0000_0001;
