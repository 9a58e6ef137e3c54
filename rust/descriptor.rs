// SPDX-License-Identifier: GPL-2.0
//! Knotes whose ident is a file descriptor (EVFILT_READ/WRITE/EMPTY, EVFILT_VNODE,
//! EVFILT_PROCDESC): resolving the descriptor, and the knote's tie to the file it named.
//!
//! FreeBSD knotes belong to a descriptor, not to a file: before a change on (fd, filter) and
//! before reporting, the descriptor is looked up again; a knote whose descriptor was closed,
//! or now names another file, is stale and dropped (EBADF for a closed number; a new knote for
//! a reused one). Cost: one `fdget` per EV_ADD and per reported event ([`FileRef`]: no
//! reference count when the descriptor table is not shared); a change to a knote whose
//! descriptor still names its file only compares the descriptor's file with the knote's under
//! RCU ([`still_named`]).
//!
//! The tie ([`bind`], undone by [`unbind`]): a knote never keeps a close-notifying file (pipe,
//! socket, regular file, ...) alive: it holds the file's address only and is listed in
//! `file_watch`'s table, whose close handler removes it when the file is released. Files
//! without close notification (anonymous inodes: eventfd, timerfd, pidfd, ...) are pinned
//! with a reference instead, dropped with the knote (README, known differences).

use crate::file_watch;

use crate::knote::Knote;
use kernel::{bindings, prelude::*, sync::Arc};

/// The descriptor number of a descriptor knote's ident: EBADF beyond INT_MAX (FreeBSD checks
/// fd filters' idents against the descriptor table first).
pub(crate) fn fd_of(ident: u64) -> Result<u32> {
    if ident > i32::MAX as u64 {
        return Err(EBADF);
    }
    Ok(ident as u32)
}

/// A reference to the file of a descriptor of the current process, for the duration of one
/// kevent() call: counted (`fget`), or light (`fdget` in a task whose descriptor table is not
/// shared: valid until the task closes the descriptor, which kevent() does not do).
pub(crate) struct FileRef {
    file: *mut bindings::file,
    /// A reference was taken: `fput` it on drop.
    counted: bool,
}

impl FileRef {
    /// `fdget(fd)`, or EBADF.
    pub(crate) fn get(fd: u32) -> Result<FileRef> {
        let mut counted = false;
        // SAFETY: Returns the descriptor's file (counted or light, as `counted` says) or null.
        let file = unsafe { crate::helper::kq_fdget(fd, &mut counted) };
        if file.is_null() {
            return Err(EBADF);
        }
        Ok(FileRef { file, counted })
    }

    /// `fget_raw(fd)` (O_PATH descriptors too), or EBADF.
    pub(crate) fn get_raw(fd: u32) -> Result<FileRef> {
        // SAFETY: `fget_raw` returns a counted reference or null.
        let file = unsafe { bindings::fget_raw(fd) };
        if file.is_null() {
            return Err(EBADF);
        }
        Ok(FileRef { file, counted: true })
    }

    /// The file a descriptor knote's ident names now (`path`: O_PATH descriptors too).
    pub(crate) fn of_ident(ident: u64, path: bool) -> Result<FileRef> {
        match path {
            true => FileRef::get_raw(fd_of(ident)?),
            false => FileRef::get(fd_of(ident)?),
        }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.file
    }

    /// No other thread can close the descriptor while this reference lives: it is a light one,
    /// taken because the calling task's descriptor table is not shared (and kevent() neither
    /// closes descriptors nor shares the table).
    pub(crate) fn descriptor_is_ours_alone(&self) -> bool {
        !self.counted
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        if self.counted {
            // SAFETY: We own the reference `fget`/`fdget` took. In process context the last
            // `fput` is deferred to the return to user space, so no lock of ours is held by
            // `__fput`.
            unsafe { bindings::fput(self.file) }
        }
    }
}

/// Whether descriptor `fd` of the current process names `file` (compared by address, no
/// reference taken).
pub(crate) fn descriptor_names(fd: u32, file: *mut bindings::file) -> bool {
    // SAFETY: Looks the calling task's descriptor up under RCU; `file` is only compared.
    unsafe { crate::helper::kq_fd_names_file(fd, file) }
}

/// Whether a descriptor knote's ident still names the file it was registered for.
pub(crate) fn still_named(kn: &Knote) -> bool {
    let file = kn.file.load(kernel::sync::atomic::ordering::Acquire);
    file != 0 && fd_of(kn.key.ident).is_ok_and(|fd| descriptor_names(fd, file as *mut bindings::file))
}

/// `Init::file` for a new knote on `file`: its address, and whether the knote must pin it.
pub(crate) fn binding(file: &FileRef) -> (*mut bindings::file, bool) {
    (file.as_ptr(), !file_watch::notifies_close(file.as_ptr()))
}

/// Ties a new knote to its file: a reference (pinned files) or an entry in the close-watch
/// table. Process context, under the kqueue's `inner`.
pub(crate) fn bind(kn: &Arc<Knote>, file: &FileRef) -> Result {
    if kn.pinned {
        // SAFETY: We hold a reference to `file`; the new one is the knote's, dropped by
        // `Knote::unpin_file`.
        unsafe { bindings::get_file(file.as_ptr()) };
        Ok(())
    } else {
        file_watch::watch(kn, file.as_ptr())
    }
}

/// Ties a new knote to its file and lists it in the close-watch table even if it must pin the
/// file (a knote that hears its inode's events, `FilterOps::hears_inode`, needs the inode mark
/// the table keeps; a pinned file's entry just never sees a close).
pub(crate) fn bind_watched(kn: &Arc<Knote>, file: &FileRef) -> Result {
    if kn.pinned {
        // SAFETY: We hold a reference to `file`; the new one is the knote's, dropped by
        // `unbind_watched` (also when `watch` fails: the caller detaches the knote).
        unsafe { bindings::get_file(file.as_ptr()) };
    }
    file_watch::watch(kn, file.as_ptr())
}

/// Undoes `bind_watched`. Under the kqueue's `inner`.
pub(crate) fn unbind_watched(kn: &Knote) {
    // Only `forget` clears a pinned knote's `file` (its file never reports a close).
    let file = kn.file.load(kernel::sync::atomic::ordering::Relaxed);
    file_watch::forget(kn);
    if kn.pinned && file != 0 {
        // SAFETY: The reference `bind_watched` took for the knote, dropped once: `forget`
        // cleared `file`, and a knote is unbound once under `inner` (later calls see 0).
        unsafe { bindings::fput(file as *mut bindings::file) };
    }
}

/// Unties a knote from its file (and unhooks it from the file's wait queues): drops the
/// pinned reference, or leaves the close-watch table. Under the kqueue's `inner`.
pub(crate) fn unbind(kn: &Knote) {
    if kn.pinned {
        kn.hooks.unhook();
        kn.unpin_file();
    } else {
        file_watch::forget(kn);
    }
}
