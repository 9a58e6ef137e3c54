// SPDX-License-Identifier: GPL-2.0
//! EVFILT_READ, EVFILT_WRITE and EVFILT_EMPTY: readiness of another file descriptor.
//!
//! The ident is a descriptor of the kqueue's process (`descriptor`). At EV_ADD the knote is
//! tied to the file the descriptor names (weakly, or pinned) and hooked into its wait queues
//! (`poll_hook`). Wake-ups only queue the knote; the condition, `data`, EV_EOF and `fflags`
//! are computed when kevent() looks at it, in process context, by `kq_fdata.c` per kind of
//! file (pipes, sockets, regular files, ...) or, for another kqueue, here (data = its pending
//! events).

use crate::abi::{self, KEvent};
use crate::descriptor::{self, FileRef};
use crate::device;
use crate::filter::{FilterOps, Init, Known, SourceRef, Verdict};
use crate::helper::{self, KqFdEval};
use crate::knote::{Knote, KnoteReg, KnoteState};
use crate::kqueue::KQueue;
use kernel::{bindings, prelude::*, sync::{atomic::ordering, Arc}};

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

/// One of the three readiness filters; `number` says which.
pub(crate) struct Readiness {
    number: i16,
    /// The wake-up keys it cares about (EMPTY: every wake-up, the send buffer draining has no
    /// key of its own).
    interest: u32,
}

impl Readiness {
    /// What a poll mask says of the condition with the user's `sfflags`. EVFILT_EMPTY's
    /// condition (the send buffer drained) has no poll bit; NOTE_LOWAT may ask for more or
    /// less than the file's own low-water mark that poll applies (a socket's SO_RCVLOWAT, or 0
    /// bytes). Otherwise the evaluators (`kq_fdata.c`) fire on the poll's readable (writable),
    /// hang-up and error bits, with rare exceptions (a connection-mode socket not connected yet
    /// is writable to poll, not to EVFILT_WRITE; a zero-length datagram): such a knote is
    /// queued and the scan's evaluation drops it unreported, as one whose data a reader took
    /// since its wake-up (FreeBSD's queued knotes behave the same until `kqueue_scan`).
    fn poll_says(&self, mask: u32, sfflags: u32) -> Known {
        if self.number == abi::EVFILT_EMPTY || sfflags & abi::NOTE_LOWAT != 0 {
            None
        } else {
            Some(mask & self.interest != 0)
        }
    }
}

pub(crate) static READ: Readiness = Readiness { number: abi::EVFILT_READ, interest: POLLIN_SET };
pub(crate) static WRITE: Readiness = Readiness { number: abi::EVFILT_WRITE, interest: POLLOUT_SET };
pub(crate) static EMPTY: Readiness = Readiness { number: abi::EVFILT_EMPTY, interest: u32::MAX };

impl FilterOps for Readiness {
    fn number(&self) -> i16 {
        self.number
    }

    fn evaluated_late(&self) -> bool {
        true
    }

    fn prepare(&self, kq: &KQueue, _kev: &KEvent, file: Option<&FileRef>) -> Result<Init> {
        let file = file.ok_or(EBADF)?;
        // SAFETY: We hold a reference to the file for the duration of the borrow.
        if let Some(target) = unsafe { device::kqueue_of_file(file.as_ptr()) } {
            // A kqueue watching itself would report itself forever (FreeBSD: EINVAL); kqueues
            // have no write side (filt_kqueue is read-only).
            if core::ptr::eq(target, kq) || self.number != abi::EVFILT_READ {
                return Err(EINVAL);
            }
        } else {
            // SAFETY: As above.
            let rc = unsafe { helper::kq_fd_check(file.as_ptr(), self.number as i32) };
            kernel::error::to_result(rc)?;
        }
        Ok(Init { words: [0; 4], file: Some(descriptor::binding(file)), source: SourceRef::NONE })
    }

    /// Hooks the knote into the file's wait queues; the poll that does so answers for the
    /// condition (`poll_says`, with the user's `sfflags`: the change's fflags).
    fn attach(
        &self,
        kn: &Arc<Knote>,
        _reg: &mut KnoteReg,
        kev: &KEvent,
        file: Option<&FileRef>,
    ) -> Result<Known> {
        let file = file.ok_or(EBADF)?;
        descriptor::bind(kn, file)?;
        // SAFETY: The file is live; the hooks are embedded in the pinned knote, which is
        // unhooked (`detach`) before it can be freed.
        let mask = unsafe { kn.hooks.hook(kn, file.as_ptr(), self.interest) }?;
        Ok(self.poll_says(mask, kev.fflags))
    }

    fn detach(&self, kn: &Knote, _reg: &mut KnoteReg) {
        descriptor::unbind(kn);
    }

    fn tied_to_file_alone(&self) -> bool {
        true
    }

    /// The scan evaluates the knote (`evaluate`) and drops it from the list if false.
    fn event(&self, _st: &mut KnoteState) -> bool {
        true
    }

    /// Looks at `kn` again, with the user's `sfflags`/`sdata` (process context, no lock held).
    fn evaluate(&self, kn: &Knote, sfflags: u32, sdata: i64) -> Verdict {
        let Ok(file) = FileRef::get(kn.key.ident as u32) else { return Verdict::Stale };
        if kn.file.load(ordering::Acquire) != file.as_ptr() as usize {
            return Verdict::Stale;
        }
        let ev = self.evaluate_file(&file, sfflags, sdata);
        // The descriptor may have been closed while we looked (the file lives on in our
        // reference), and the values may then show what came after the close: a pipe whose
        // read end's number was closed and whose writer went next reads as EOF. FreeBSD's
        // close waits for a knote being evaluated (`knote_fdclose`); here an event is only
        // reported if its descriptor still names the file after the evaluation (unless no other
        // thread can have closed it: a task whose descriptor table is not shared).
        if ev.active
            && !file.descriptor_is_ours_alone()
            && !descriptor::descriptor_names(kn.key.ident as u32, file.as_ptr())
        {
            return Verdict::Stale;
        }
        Verdict::Eval(ev)
    }
}

impl Readiness {
    /// The file's current values for this filter with the user's `sfflags`/`sdata`.
    fn evaluate_file(&self, file: &FileRef, sfflags: u32, sdata: i64) -> KqFdEval {
        // SAFETY: We hold a reference to the file for the duration of the borrow.
        if let Some(target) = unsafe { device::kqueue_of_file(file.as_ptr()) } {
            let n = target.pending_count() as i64;
            return KqFdEval { data: n, fflags: 0, eof: false, active: n > 0 };
        }
        let mut out = KqFdEval::default();
        // SAFETY: We hold a reference to the file; `out` is a valid destination.
        unsafe {
            helper::kq_fd_evaluate(file.as_ptr(), self.number as i32, sfflags, sdata, self.interest, &mut out);
        }
        out
    }
}
