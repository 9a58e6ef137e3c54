// SPDX-License-Identifier: GPL-2.0
//! EVFILT_READ, EVFILT_WRITE and EVFILT_EMPTY: readiness of another file descriptor.
//!
//! The ident is a descriptor of the kqueue's process. At EV_ADD the knote records the file the
//! descriptor names (weakly, see `file_watch`; or pinned, for files without close
//! notification), hooks into its wait queues (`poll_hook`) and evaluates the condition. Wake-ups
//! only queue the knote; the condition, `data`, EV_EOF and `fflags` are computed when kevent()
//! looks at it, in process context, by `kq_fdata.c` per kind of file (pipes, sockets, regular
//! files, ...) or, for another kqueue, here (data = its pending events).
//!
//! FreeBSD knotes belong to a descriptor, not to a file: before a change on (fd, filter) and
//! before reporting, the descriptor is looked up again (`fget`); a knote whose descriptor was
//! closed, or now names another file, is stale and dropped (EBADF for a closed number; a new
//! knote for a reused one). Cost: one `fget`/`fput` per change and per reported event, nothing
//! per idle knote.

use crate::abi;
use crate::device;
use crate::helper::{self, KqFdEval};
use crate::knote::{Filter, Knote, KnoteState};
use crate::kqueue::KQueue;
use kernel::{bindings, prelude::*, sync::atomic::ordering};

// The wake-up key is an EPOLL* mask; bindgen only sees the POLL* macros (same values: the
// generic `asm-generic/poll.h` ones, which the 7.2 kernel maps EPOLL* to on x86 and arm64).
const POLLIN_SET: u32 = bindings::POLLIN
    | bindings::POLLRDNORM
    | bindings::POLLRDBAND
    | bindings::POLLPRI
    | bindings::POLLRDHUP
    | bindings::POLLHUP
    | bindings::POLLERR;
const POLLOUT_SET: u32 =
    bindings::POLLOUT | bindings::POLLWRNORM | bindings::POLLWRBAND | bindings::POLLHUP | bindings::POLLERR;

/// The wake-up keys a knote of `filter` cares about (EMPTY: every wake-up, the send buffer
/// draining has no key of its own).
pub(crate) fn interest(filter: Filter) -> u32 {
    match filter {
        Filter::Read => POLLIN_SET,
        Filter::Write => POLLOUT_SET,
        _ => u32::MAX,
    }
}

/// The descriptor number of an fd knote: EBADF beyond INT_MAX (FreeBSD checks fd filters'
/// idents against the descriptor table first).
pub(crate) fn fd_of(ident: u64) -> Result<u32> {
    if ident > i32::MAX as u64 {
        return Err(EBADF);
    }
    Ok(ident as u32)
}

/// A counted reference to the file of a descriptor of the current process.
pub(crate) struct FileRef(*mut bindings::file);

impl FileRef {
    /// `fget(fd)`, or EBADF.
    pub(crate) fn get(fd: u32) -> Result<FileRef> {
        // SAFETY: `fget` returns a counted reference or null.
        let f = unsafe { bindings::fget(fd) };
        if f.is_null() {
            return Err(EBADF);
        }
        Ok(FileRef(f))
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.0
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: We own the reference `fget` took. In process context the last `fput` is
        // deferred to the return to user space, so no lock of ours is held by `__fput`.
        unsafe { bindings::fput(self.0) }
    }
}

/// Registration-time checks of `filter` on `file` for the kqueue `kq`.
pub(crate) fn check(kq: &KQueue, file: &FileRef, filter: Filter) -> Result {
    // SAFETY: We hold a reference to the file for the duration of the borrow.
    if let Some(target) = unsafe { device::kqueue_of_file(file.as_ptr()) } {
        // A kqueue watching itself would report itself forever (FreeBSD: EINVAL); kqueues have
        // no write side (filt_kqueue is read-only).
        if core::ptr::eq(target, kq) || filter != Filter::Read {
            return Err(EINVAL);
        }
        return Ok(());
    }
    // SAFETY: As above.
    let rc = unsafe { helper::kq_fd_check(file.as_ptr(), filter.to_abi() as i32) };
    kernel::error::to_result(rc)
}

/// The file's current values for a knote of `filter` with the user's `sfflags`/`sdata`.
pub(crate) fn evaluate_file(file: &FileRef, filter: Filter, sfflags: u32, sdata: i64) -> KqFdEval {
    // SAFETY: We hold a reference to the file for the duration of the borrow.
    if let Some(target) = unsafe { device::kqueue_of_file(file.as_ptr()) } {
        let n = target.pending_count() as i64;
        return KqFdEval { data: n, fflags: 0, eof: false, active: n > 0 };
    }
    let mut out = KqFdEval::default();
    // SAFETY: We hold a reference to the file; `out` is a valid destination.
    unsafe {
        let mask = helper::kq_poll_mask(file.as_ptr(), interest(filter));
        helper::kq_fd_evaluate(file.as_ptr(), filter.to_abi() as i32, sfflags, sdata, mask, &mut out);
    }
    out
}

/// What kevent() finds when it looks at a queued fd knote.
pub(crate) enum Verdict {
    /// The descriptor was closed or now names another file: drop the knote.
    Stale,
    /// The current values.
    Eval(KqFdEval),
}

/// Looks at `kn` again, with the user's `sfflags`/`sdata` (process context, no lock held).
pub(crate) fn evaluate(kn: &Knote, sfflags: u32, sdata: i64) -> Verdict {
    let Ok(file) = FileRef::get(kn.key.ident as u32) else { return Verdict::Stale };
    if kn.file.load(ordering::Acquire) != file.as_ptr() as usize {
        return Verdict::Stale;
    }
    let ev = evaluate_file(&file, kn.filter, sfflags, sdata);
    // The descriptor may have been closed while we looked (the file lives on in our
    // reference), and the values may then show what came after the close: a pipe whose read
    // end's number was closed and whose writer went next reads as EOF. FreeBSD's close waits
    // for a knote being evaluated (`knote_fdclose`); here an event is only reported if its
    // descriptor still names the file after the evaluation.
    if ev.active && !descriptor_names(kn.key.ident as u32, file.as_ptr()) {
        return Verdict::Stale;
    }
    Verdict::Eval(ev)
}

/// Whether descriptor `fd` of the current process names `file`.
pub(crate) fn descriptor_names(fd: u32, file: *mut bindings::file) -> bool {
    FileRef::get(fd).is_ok_and(|f| f.as_ptr() == file)
}

/// Stores `ev` in the knote's returned kevent: data, fflags (the socket error) and EV_EOF.
pub(crate) fn store(st: &mut KnoteState, ev: &KqFdEval) {
    st.kevent.data = ev.data;
    st.kevent.fflags = ev.fflags;
    if ev.eof {
        st.kevent.flags |= abi::EV_EOF;
    } else {
        st.kevent.flags &= !abi::EV_EOF;
    }
}
