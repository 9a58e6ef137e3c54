// SPDX-License-Identifier: GPL-2.0
//! kevent()'s user memory: the argument block, the timeout and the records, read and written
//! as whole blocks of 64-bit words inside one user-access section each (`kq_helper.c`), as
//! epoll writes its records, instead of an out-of-line `copy_{from,to}_user` (a `rep movs`)
//! per block. Nothing here owns anything; every function returns EFAULT for a bad address.

use crate::abi::{KEvent, KqKeventArgs, KqTimespec};
use crate::helper;
use core::mem::MaybeUninit;
use kernel::{prelude::*, uaccess::UserPtr};

/// An ABI block made of `WORDS` 64-bit words, `#[repr(C)]`, 8-byte aligned, every bit
/// pattern valid.
///
/// # Safety
///
/// Implementors must be exactly `WORDS * 8` bytes of plain integer fields.
unsafe trait Words: Default {
    const WORDS: usize;
}

// SAFETY: 40 bytes: three u64 and four 32-bit integers (abi.rs asserts the size).
unsafe impl Words for KqKeventArgs {
    const WORDS: usize = 5;
}
// SAFETY: 16 bytes: two i64.
unsafe impl Words for KqTimespec {
    const WORDS: usize = 2;
}
// SAFETY: 64 bytes of integer fields (abi.rs asserts the size).
unsafe impl Words for KEvent {
    const WORDS: usize = 8;
}

const _: () = assert!(core::mem::size_of::<KqKeventArgs>() == 8 * <KqKeventArgs as Words>::WORDS);
const _: () = assert!(core::mem::size_of::<KqTimespec>() == 8 * <KqTimespec as Words>::WORDS);
const _: () = assert!(core::mem::size_of::<KEvent>() == 8 * <KEvent as Words>::WORDS);

fn errno(rc: kernel::ffi::c_int) -> Result {
    match rc {
        0 => Ok(()),
        _ => Err(EFAULT),
    }
}

/// Reads kevent()'s argument block (into uninitialised memory: the helper writes every word
/// or fails).
#[inline(always)]
pub(crate) fn read_args(at: UserPtr) -> Result<KqKeventArgs> {
    let mut v = MaybeUninit::<KqKeventArgs>::uninit();
    // SAFETY: `v` is `WORDS` writable, aligned u64 words (`Words`); the helper reads user memory
    // only through the user-access primitives.
    errno(unsafe { helper::kq_get_args(v.as_mut_ptr().cast(), at.as_const_ptr()) })?;
    // SAFETY: On success the helper wrote all `WORDS` words, and every bit pattern is valid.
    Ok(unsafe { v.assume_init() })
}

/// Reads the timeout.
pub(crate) fn read_timespec(at: UserPtr) -> Result<KqTimespec> {
    let mut v = KqTimespec::default();
    // SAFETY: As in `read_args`.
    errno(unsafe { helper::kq_get_timespec((&raw mut v).cast(), at.as_const_ptr()) })?;
    Ok(v)
}

/// Reads one change record into `v` (in place: the caller's record, not a 64-byte return
/// value copied into it, and not zeroed first), which it returns initialised.
#[inline(always)]
pub(crate) fn read_kevent(at: UserPtr, v: &mut MaybeUninit<KEvent>) -> Result<&mut KEvent> {
    // SAFETY: As in `read_args`.
    errno(unsafe { helper::kq_get_kevent(v.as_mut_ptr().cast(), at.as_const_ptr()) })?;
    // SAFETY: As in `read_args`.
    Ok(unsafe { v.assume_init_mut() })
}

/// Writes one event record.
pub(crate) fn write_kevent(at: UserPtr, kev: &KEvent) -> Result {
    // SAFETY: `kev` is `WORDS` readable, aligned u64 words (`Words`); the helper writes user
    // memory only through the user-access primitives.
    errno(unsafe { helper::kq_put_kevent(at.as_mut_ptr(), (kev as *const KEvent).cast()) })
}

/// Writes `records`, one after the other, at `at` (one user-access section for them all).
pub(crate) fn write_kevents(at: UserPtr, records: &[KEvent]) -> Result {
    // SAFETY: `records` is `records.len() * WORDS` readable, aligned u64 words (`Words`); the
    // helper writes user memory only through the user-access primitives.
    errno(unsafe { helper::kq_put_kevents(at.as_mut_ptr(), records.as_ptr().cast(), records.len() as u32) })
}
