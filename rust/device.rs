// SPDX-License-Identifier: GPL-2.0
//! The /dev/kqueue misc device and its `file_operations`.
//!
//! The 7.2 `MiscDevice` abstraction has no `poll`, `flush` or `owner`, all of which a kqueue fd
//! needs (pollable by select/poll/epoll; close() wakes kevent() sleepers; an open kqueue pins
//! the module), so, as Rust Binder does, this file builds the `file_operations` table itself and
//! registers a raw `miscdevice`. Each open() creates one [`KQueue`], kept as an `Arc` in
//! `file->private_data` until release().
//!
//! The registration is owned by the module object and deregistered when the module unloads;
//! `owner = THIS_MODULE` guarantees no kqueue file outlives the module code.

use crate::abi;
use crate::kqueue::KQueue;
use crate::THIS_MODULE;
use core::ffi::c_void;
use kernel::{
    bindings,
    error::to_result,
    ffi::{c_int, c_long, c_uint, c_ulong},
    prelude::*,
    seq_file::SeqFile,
    sync::Arc,
    types::{ForeignOwnable, Opaque},
    uaccess::UserPtr,
};

/// Makes a C table shareable as a `static`.
#[repr(transparent)]
struct AssertSync<T>(T);
// SAFETY: Only immutable C function tables are wrapped; they are never written after init.
unsafe impl<T> Sync for AssertSync<T> {}

static KQUEUE_FOPS: AssertSync<bindings::file_operations> = {
    // SAFETY: All zeroes is a valid `file_operations` (every hook absent).
    let zeroed: bindings::file_operations = unsafe { core::mem::MaybeUninit::zeroed().assume_init() };
    AssertSync(bindings::file_operations {
        owner: THIS_MODULE.as_ptr(),
        open: Some(kq_open),
        release: Some(kq_release),
        flush: Some(kq_flush),
        poll: Some(kq_poll),
        unlocked_ioctl: Some(kq_ioctl),
        compat_ioctl: Some(kq_compat_ioctl),
        show_fdinfo: Some(kq_show_fdinfo),
        llseek: Some(bindings::noop_llseek),
        ..zeroed
    })
};

/// The registered /dev/kqueue node (mode 0666).
#[pin_data(PinnedDrop)]
pub(crate) struct KqueueDevice {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
}

// SAFETY: The registration is only touched at register/deregister time, by the module.
unsafe impl Send for KqueueDevice {}
// SAFETY: As above.
unsafe impl Sync for KqueueDevice {}

impl KqueueDevice {
    pub(crate) fn register() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `misc_register` only keeps the pointer while
            // registered, and the pinned registration outlives that (deregistered on drop).
            misc <- unsafe {
                Opaque::try_ffi_init(|slot: *mut bindings::miscdevice| {
                    slot.write(bindings::miscdevice {
                        minor: bindings::MISC_DYNAMIC_MINOR as c_int,
                        name: c"kqueue".as_ptr().cast(),
                        fops: &KQUEUE_FOPS.0,
                        mode: 0o666,
                        // SAFETY: All zeroes is valid for the remaining fields.
                        ..core::mem::MaybeUninit::zeroed().assume_init()
                    });
                    to_result(bindings::misc_register(slot))
                })
            },
        })
    }
}

#[pinned_drop]
impl PinnedDrop for KqueueDevice {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered in `register` (a failed registration never yields a `Self`).
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}

/// The kqueue behind `file`, if `file` is a /dev/kqueue file (a kqueue watching a kqueue).
///
/// # Safety
///
/// The caller holds a reference to `file` for as long as it uses the result.
pub(crate) unsafe fn kqueue_of_file<'a>(file: *mut bindings::file) -> Option<&'a KQueue> {
    // SAFETY: The caller holds a reference, so `f_op` is stable.
    if !core::ptr::eq(unsafe { (*file).f_op }, &KQUEUE_FOPS.0) {
        return None;
    }
    // SAFETY: A /dev/kqueue file with a reference held is between open and release, so
    // `private_data` holds our `Arc<KQueue>` (`into_foreign`), which lives at least as long as
    // the file.
    let kq = unsafe { kqueue_of(file) };
    let ptr: *const KQueue = &*kq;
    // SAFETY: As above: the kqueue outlives the caller's file reference.
    Some(unsafe { &*ptr })
}

/// Borrows the kqueue of `file`.
///
/// # Safety
///
/// `file` must be a /dev/kqueue file between a successful open and its release.
unsafe fn kqueue_of<'a>(file: *mut bindings::file) -> <Arc<KQueue> as ForeignOwnable>::Borrowed<'a> {
    // SAFETY: `private_data` holds `Arc::into_foreign` from `kq_open` until `kq_release`.
    unsafe { <Arc<KQueue> as ForeignOwnable>::borrow((*file).private_data) }
}

unsafe extern "C" fn kq_open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // The account is keyed by the kernel's global uid (`kuid_t`, as epoll charges
    // `cred->user`), not by the uid seen in the opener's user namespace: root of a container
    // is not host root, and unmapped users are not all one "nobody".
    // SAFETY: `file` is the file being opened; its credentials are valid.
    let uid = unsafe { kernel::cred::Credential::from_ptr((*file).f_cred) }.euid().into_raw().val;
    match KQueue::new(uid) {
        Ok(kq) => {
            // SAFETY: We own `file` during open; `private_data` is ours from now on.
            unsafe { (*file).private_data = kq.into_foreign() as *mut c_void };
            0
        }
        Err(e) => e.to_errno(),
    }
}

unsafe extern "C" fn kq_release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: Last reference to a successfully opened kqueue file: take the Arc back.
    let kq = unsafe { <Arc<KQueue> as ForeignOwnable>::from_foreign((*file).private_data) };
    kq.release();
    0
}

unsafe extern "C" fn kq_flush(file: *mut bindings::file, _id: bindings::fl_owner_t) -> c_int {
    // SAFETY: `flush` is only called on open files.
    unsafe { kqueue_of(file) }.flush(file);
    0
}

unsafe extern "C" fn kq_poll(file: *mut bindings::file, table: *mut bindings::poll_table) -> c_uint {
    // SAFETY: `poll` is only called on open files with their own poll table.
    unsafe { kqueue_of(file).poll(file, table) }
}

fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: usize, compat: bool) -> c_long {
    if cmd != abi::KQIOC_KEVENT {
        return ENOTTY.to_errno() as c_long;
    }
    // SAFETY: `ioctl` is only called on open files.
    match unsafe { kqueue_of(file) }.kevent(file, UserPtr::from_addr(arg), compat) {
        Ok(n) => n as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

unsafe extern "C" fn kq_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    ioctl(file, cmd, arg as usize, false)
}

/// 32-bit processes: the argument block has the same layout (fixed-width fields, user pointers
/// as u64), so only `arg` needs widening (`compat_ptr` is a zero-extension on x86_64).
unsafe extern "C" fn kq_compat_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    ioctl(file, cmd, arg as u32 as usize, true)
}

unsafe extern "C" fn kq_show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
    // SAFETY: Called by procfs on an open file with a valid seq_file.
    let (kq, m) = unsafe { (kqueue_of(file), SeqFile::from_raw(m)) };
    kq.show_fdinfo(m);
}
