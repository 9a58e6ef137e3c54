// SPDX-License-Identifier: GPL-2.0
//! EVFILT_PROC: what a process does (NOTE_EXIT, NOTE_FORK, NOTE_EXEC, NOTE_TRACK).
//!
//! As FreeBSD's filt_proc: the ident is a process id in the caller's pid namespace, of any
//! process the caller may signal (ESRCH if none, EPERM if not allowed: `kq_proc_hook.c`);
//! fflags says which events to report; the returned fflags are those that happened since the
//! last retrieval (EV_CLEAR implied). NOTE_EXIT returns the wait(2) status in `data` with
//! EV_EOF and EV_ONESHOT; a process that already exited (a zombie) reports it at once.
//! NOTE_TRACK: when the process forks, a knote with the same fflags and udata is added for the
//! child in the same kqueue, before the child first runs; its first report carries NOTE_CHILD
//! and the parent's pid in `data`; if that fails the parent reports NOTE_TRACKERR.
//!
//! The knote holds a reference on the process's thread-group `struct pid` (its source), so it
//! never fires for a later process that gets the same number. It sits in `proc_watch`'s process
//! table from attach to detach; the tracepoint probes update it there (atomic context).

use crate::abi::{self, KEvent};
use core::mem::MaybeUninit;
use crate::descriptor::FileRef;
use crate::filter::{Follow, FilterOps, Init, Known, SourceRef};
use crate::helper;
use crate::knote::{Knote, KnoteReg, KnoteState};
use crate::kqueue::KQueue;
use crate::limits::Resource;
use crate::proc_watch::{self, ProcEvent, ProcTable};
use kernel::{bindings, prelude::*, sync::Arc};

/// The fflags a process knote accepts (NOTE_TRACKERR and NOTE_CHILD are output only, ignored).
const NOTES: u32 = abi::NOTE_EXIT
    | abi::NOTE_FORK
    | abi::NOTE_EXEC
    | abi::NOTE_TRACK
    | abi::NOTE_TRACKERR
    | abi::NOTE_CHILD;

// The knote's words (`KnoteState::words`): an exit that came while a NOTE_CHILD report was
// pending waits for the next retrieval (one record holds one `data`: the parent's pid, then the
// wait status).
/// The exit status held back.
const STATUS: usize = 0;
/// An exit is held back.
const EXIT_PENDING: usize = 1;

pub(crate) struct Proc;
pub(crate) static PROC: Proc = Proc;

impl FilterOps for Proc {
    fn number(&self) -> i16 {
        abi::EVFILT_PROC
    }

    fn prepare(&self, _kq: &KQueue, kev: &KEvent, _file: Option<&FileRef>) -> Result<Init> {
        if kev.fflags & !NOTES != 0 {
            return Err(EINVAL);
        }
        proc_watch::available()?;
        let nr = i64::try_from(kev.ident).map_err(|_| ESRCH)?;
        // SAFETY: Looks the number up in the caller's pid namespace; returns a counted
        // reference or an ERR_PTR.
        let pid = unsafe { helper::kq_proc_lookup(nr) };
        Ok(Init { words: [0; 4], file: None, source: pid_source(pid)? })
    }

    fn attach(
        &self,
        kn: &Arc<Knote>,
        _reg: &mut KnoteReg,
        _kev: &KEvent,
        _file: Option<&FileRef>,
    ) -> Result<Known> {
        attach_process(kn).map(|()| None)
    }

    fn detach(&self, kn: &Knote, _reg: &mut KnoteReg) {
        proc_watch::unwatch_process(kn, kn.source.addr());
    }

    /// A change of interest: the same fflags as at EV_ADD (EINVAL otherwise, nothing changed).
    fn touch(&self, kn: &Arc<Knote>, _reg: &mut KnoteReg, kev: &KEvent) -> Result {
        crate::filter::touch_interest(kn, kev, NOTES)
    }

    /// Events not yet retrieved.
    fn event(&self, st: &mut KnoteState) -> bool {
        st.kevent.fflags != 0
    }

    /// The record, then (EV_CLEAR) a clean slate; or, when an exit was held back behind a
    /// NOTE_CHILD report, that exit for the next retrieval (the knote stays queued).
    fn process(&self, st: &mut KnoteState, out: &mut MaybeUninit<KEvent>) {
        out.write(st.kevent);
        if st.words[EXIT_PENDING] != 0 {
            st.words[EXIT_PENDING] = 0;
            st.kevent.fflags = abi::NOTE_EXIT;
            st.kevent.data = st.words[STATUS];
            st.kevent.flags |= abi::EV_EOF | abi::EV_ONESHOT;
        } else {
            st.kevent.fflags = 0;
            st.kevent.data = 0;
        }
    }

    fn process_event(&self, kn: &Arc<Knote>, ev: &ProcEvent) -> Follow {
        let mut follow = Follow::No;
        match *ev {
            ProcEvent::Note { note, data } => note_happened(kn, note, data),
            ProcEvent::Fork => kn.kqueue().fire(kn, |st| {
                if st.sfflags & abi::NOTE_TRACK != 0 {
                    follow = Follow::Track;
                }
                record(st, abi::NOTE_FORK)
            }),
            ProcEvent::TrackError => kn.kqueue().fire(kn, |st| {
                st.kevent.fflags |= abi::NOTE_TRACKERR;
                true
            }),
            ProcEvent::Signal(_) => {}
        }
        follow
    }

    fn follow_fork(&self, parent: &Arc<Knote>, child: *mut bindings::pid, table: &mut ProcTable<'_>) {
        if track_child(parent, child, table).is_err() {
            self.process_event(parent, &ProcEvent::TrackError);
        }
    }
}

/// `Init::source` for a `struct pid` reference from C (or its ERR_PTR).
pub(crate) fn pid_source(pid: *mut bindings::pid) -> Result<SourceRef> {
    // SAFETY: Reads the ERR_PTR encoding.
    if unsafe { bindings::IS_ERR(pid.cast()) } {
        // SAFETY: As above.
        return Err(Error::from_errno(unsafe { bindings::PTR_ERR(pid.cast()) } as i32));
    }
    // SAFETY: We own the reference the lookup took; `put_pid` gives it back from any context.
    Ok(unsafe { SourceRef::owned(pid as usize, put_pid) })
}

/// # Safety
///
/// `pid` is a `struct pid` the caller owns a reference to.
unsafe fn put_pid(pid: usize) {
    // SAFETY: Guaranteed by the caller.
    unsafe { helper::kq_put_pid(pid as *mut bindings::pid) }
}

/// Attach of a process knote (EVFILT_PROC, EVFILT_PROCDESC): implies EV_CLEAR, joins the
/// process table, then reports an exit that already happened (the exit probe finds every knote
/// that joined before the process's last thread exited: `proc_watch::watch_process`).
pub(crate) fn attach_process(kn: &Arc<Knote>) -> Result {
    kn.with_state(|st| st.kevent.flags |= abi::EV_CLEAR);
    kn.kqueue().note_process_watch();
    let pid = kn.source.addr();
    proc_watch::watch_process(kn, pid)?;
    let mut status = 0;
    // SAFETY: The knote holds a reference on `pid`.
    if unsafe { helper::kq_proc_exited(pid as *mut bindings::pid, &mut status) } {
        note_happened(kn, abi::NOTE_EXIT, status as i64);
    }
    Ok(())
}

/// NOTE_EXEC or NOTE_EXIT happened to the knote's process.
pub(crate) fn note_happened(kn: &Arc<Knote>, note: u32, data: i64) {
    kn.kqueue().fire(kn, |st| {
        if note == abi::NOTE_EXIT && st.sfflags & abi::NOTE_EXIT != 0 {
            if st.kevent.fflags & abi::NOTE_CHILD != 0 {
                // The NOTE_CHILD report (data: the parent's pid) goes first (`process`).
                st.words[STATUS] = data;
                st.words[EXIT_PENDING] = 1;
                return true;
            }
            st.kevent.data = data;
            st.kevent.flags |= abi::EV_EOF | abi::EV_ONESHOT;
        }
        record(st, note)
    });
}

/// Adds `note` to the returned fflags if it was asked for; whether there is something to report.
fn record(st: &mut KnoteState, note: u32) -> bool {
    if st.sfflags & note == 0 {
        return false;
    }
    st.kevent.fflags |= note;
    true
}

/// NOTE_TRACK: a knote like `parent` for its process's new child (FreeBSD `knote_fork`), in the
/// process table at once and in the kqueue's registry soon (`KQueue::adopt`). Atomic context.
fn track_child(parent: &Arc<Knote>, child: *mut bindings::pid, table: &mut ProcTable<'_>) -> Result {
    let kq = parent.kqueue();
    // SAFETY: `child` is live (its fork is running); `owner_pid` is the kqueue's, held by it.
    let child_nr = unsafe { helper::kq_pid_nr_seen_by(child, kq.owner_pid()) };
    // SAFETY: As above; the parent knote holds a reference on its pid.
    let parent_nr = unsafe { helper::kq_pid_nr_seen_by(parent.source.addr() as *mut bindings::pid, kq.owner_pid()) };
    if child_nr <= 0 {
        return Err(ESRCH);
    }
    let (kev, sfflags) = parent.with_state(|st| (st.kevent, st.sfflags));
    let change = KEvent { ident: child_nr as u64, fflags: sfflags, data: 0, ..kev };
    let charge = kq.account().charge(Resource::Knote)?;
    // SAFETY: Takes a reference on the live `child` for the new knote.
    let pid = unsafe { helper::kq_get_pid(child) };
    let init = Init { words: [0; 4], file: None, source: pid_source(pid)? };
    let kn = Knote::new(kq, &change, &PROC, init, charge, GFP_ATOMIC)?;
    kn.with_state(|st| {
        st.kevent.flags = kev.flags & !abi::EV_EOF | abi::EV_CLEAR;
        st.disabled = false;
    });
    table.insert(pid as usize, &kn)?;
    if let Err(e) = kq.adopt(&kn) {
        drop(table.remove(pid as usize, &kn));
        return Err(e);
    }
    kq.fire(&kn, |st| {
        st.kevent.fflags |= abi::NOTE_CHILD;
        st.kevent.data = parent_nr;
        true
    });
    Ok(())
}
