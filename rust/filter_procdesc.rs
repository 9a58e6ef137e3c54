// SPDX-License-Identifier: GPL-2.0
//! EVFILT_PROCDESC: the exit of the process a pidfd names (Linux's process descriptors).
//!
//! As FreeBSD's filt_procdesc on pdfork(2) descriptors: the ident is a descriptor (a pidfd from
//! pidfd_open(2) or clone3(CLONE_PIDFD); anything else is EINVAL, as is a thread pidfd);
//! NOTE_EXIT (the only fflag) returns the wait(2) status in `data` with EV_EOF and EV_ONESHOT,
//! at once if the process already exited. The process may live in any pid namespace. If it was
//! already reaped before EV_ADD, `data` is 0: Linux keeps that status in pidfs, which a module
//! cannot read (README).
//!
//! A descriptor knote (`descriptor`): pidfds give no close notification, so the knote pins the
//! pidfd's file until it goes (EV_DELETE, its report, or a change or report that finds the
//! descriptor closed). Its source is the pidfd's `struct pid`, in `proc_watch`'s process table
//! as for EVFILT_PROC.

use crate::abi::{self, KEvent};
use crate::descriptor::{self, FileRef};
use crate::filter::{Follow, FilterOps, Init, Known};
use crate::filter_proc;
use crate::helper;
use crate::knote::{Knote, KnoteReg, KnoteState};
use crate::kqueue::KQueue;
use crate::proc_watch::{self, ProcEvent};
use kernel::{prelude::*, sync::Arc};

pub(crate) struct ProcDesc;
pub(crate) static PROCDESC: ProcDesc = ProcDesc;

impl FilterOps for ProcDesc {
    fn number(&self) -> i16 {
        abi::EVFILT_PROCDESC
    }

    fn prepare(&self, _kq: &KQueue, kev: &KEvent, file: Option<&FileRef>) -> Result<Init> {
        let file = file.ok_or(EBADF)?;
        if kev.fflags & !abi::NOTE_EXIT != 0 {
            return Err(EINVAL);
        }
        proc_watch::available()?;
        // SAFETY: We hold a reference to the file; returns a counted pid or an ERR_PTR.
        let pid = unsafe { helper::kq_pidfd_pid(file.as_ptr()) };
        let source = filter_proc::pid_source(pid)?;
        Ok(Init { words: [0; 4], file: Some(descriptor::binding(file)), source })
    }

    fn attach(
        &self,
        kn: &Arc<Knote>,
        _reg: &mut KnoteReg,
        _kev: &KEvent,
        file: Option<&FileRef>,
    ) -> Result<Known> {
        descriptor::bind(kn, file.ok_or(EBADF)?)?;
        filter_proc::attach_process(kn).map(|()| None)
    }

    fn detach(&self, kn: &Knote, _reg: &mut KnoteReg) {
        proc_watch::unwatch_process(kn, kn.source.addr());
        descriptor::unbind(kn);
    }

    fn touch(&self, kn: &Arc<Knote>, _reg: &mut KnoteReg, kev: &KEvent) -> Result {
        crate::filter::touch_interest(kn, kev, abi::NOTE_EXIT)
    }

    fn event(&self, st: &mut KnoteState) -> bool {
        st.kevent.fflags != 0
    }

    fn process_event(&self, kn: &Arc<Knote>, ev: &ProcEvent) -> Follow {
        if let ProcEvent::Note { note: abi::NOTE_EXIT, data } = *ev {
            filter_proc::note_happened(kn, abi::NOTE_EXIT, data);
        }
        Follow::No
    }
}
