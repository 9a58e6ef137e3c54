// SPDX-License-Identifier: GPL-2.0
//! The filter interface (FreeBSD's `struct filterops`) and the table of implemented filters.
//!
//! `rust/kqueue.rs` knows no filter by name: it finds a change's filter in [`FILTERS`] and calls
//! its [`FilterOps`] methods at the points FreeBSD calls `f_attach`, `f_detach`, `f_event` and
//! `f_touch`. Each filter is one file implementing the trait on a unit struct; adding a filter
//! is that file plus one line in [`FILTERS`]. Filters depend on the knote (`knote.rs`), never
//! the other way round: the knote keeps a filter's private state as plain words
//! ([`crate::knote::KnoteState::words`], FreeBSD's `kn_hook`/`kn_ptr`), named by each filter.
//!
//! Lock context of each method (see the top of `rust/kqueue.rs` for the order):
//! - `prepare`, `attach`, `touch`, `detach`: kevent() or release(), `inner` held, may sleep;
//!   `ready` not held (they take it themselves when they change `KnoteState`).
//! - `event`, `process`: under `ready` (any context: never sleep).
//! - `evaluate`: process context, no lock of the kqueue held.

use crate::abi::{self, KEvent};
use core::mem::MaybeUninit;
use crate::descriptor::FileRef;
use crate::file_watch::{InodeEvent, INODE_DATA_CHANGED};
use crate::helper::KqFdEval;
use crate::knote::{Knote, KnoteReg, KnoteState};
use crate::kqueue::KQueue;
use crate::proc_watch::{ProcEvent, ProcTable};
use crate::{filter_fd, filter_proc, filter_procdesc, filter_signal, filter_timer, filter_user, filter_vnode};
use kernel::{bindings, prelude::*, sync::Arc};

/// A counted reference a knote holds on the object its source is keyed by (a `struct pid`),
/// released when the knote is freed (or when a knote that was never created lets go of it).
pub(crate) struct SourceRef {
    addr: usize,
    release: Option<unsafe fn(usize)>,
}

impl SourceRef {
    /// No source object.
    pub(crate) const NONE: SourceRef = SourceRef { addr: 0, release: None };

    /// An address only compared, not owned (the kqueue's own process, which it holds itself).
    pub(crate) const fn borrowed(addr: usize) -> SourceRef {
        SourceRef { addr, release: None }
    }

    /// Owns one reference on `addr`, given back by `release(addr)`.
    ///
    /// # Safety
    ///
    /// The caller owns one reference on `addr` that `release` gives back, from any context.
    pub(crate) const unsafe fn owned(addr: usize, release: unsafe fn(usize)) -> SourceRef {
        SourceRef { addr, release: Some(release) }
    }

    pub(crate) fn addr(&self) -> usize {
        self.addr
    }
}

impl Drop for SourceRef {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            // SAFETY: By the type invariant we own one reference on `addr` (`owned`).
            unsafe { release(self.addr) };
        }
    }
}

/// What a new knote starts with, as decided by its filter's `prepare`.
pub(crate) struct Init {
    /// The filter's private words (`KnoteState::words`).
    pub(crate) words: [i64; 4],
    /// Descriptor filters: the file, and whether the knote must pin it (files without close
    /// notification; see `descriptor`).
    pub(crate) file: Option<(*mut kernel::bindings::file, bool)>,
    /// What the filter keys its event source by (a `struct pid` it holds a reference to, ...),
    /// immutable for the knote's life.
    pub(crate) source: SourceRef,
}

impl Init {
    pub(crate) const fn words(words: [i64; 4]) -> Init {
        Init { words, file: None, source: SourceRef::NONE }
    }
}

/// What a fork means to a process knote (`FilterOps::process_event`).
#[derive(PartialEq, Eq)]
pub(crate) enum Follow {
    No,
    /// NOTE_TRACK: register the child too (`FilterOps::follow_fork`).
    Track,
}

/// What kevent() finds when it evaluates a knote in process context (`FilterOps::evaluate`).
pub(crate) enum Verdict {
    /// The descriptor was closed or now names another file: drop the knote.
    Stale,
    /// The current values.
    Eval(KqFdEval),
}

/// What a late-evaluated filter's source (a file's poll, answered as the knote was hooked)
/// told of a new knote's condition at `FilterOps::attach`, so that the registration needs no
/// evaluation of its own: `Some(false)` it cannot hold; `Some(true)` it holds (the knote is
/// queued, and the scan evaluates it, as every queued late knote, before reporting); `None`
/// not known (other filters, or a poll that cannot tell).
pub(crate) type Known = Option<bool>;

/// One filter (FreeBSD `struct filterops`).
pub(crate) trait FilterOps: Sync {
    /// The EVFILT_* number.
    fn number(&self) -> i16;

    /// The ident is a descriptor of the caller (EBADF beyond INT_MAX or when closed; the knote
    /// is stale once the number names another file, and goes when the file is released).
    /// Decided by the number (`is_descriptor_filter`, which also picks the registry a key is
    /// looked up in); not overridden.
    fn on_descriptor(&self) -> bool {
        is_descriptor_filter(self.number())
    }

    /// Descriptors opened with O_PATH are accepted (EVFILT_VNODE; `fget_raw`).
    fn takes_path_descriptors(&self) -> bool {
        false
    }

    /// The condition can only be computed in process context (a file's sleeping locks): wake-ups
    /// just queue the knote and kevent() calls `evaluate` without locks (descriptor readiness).
    fn evaluated_late(&self) -> bool {
        false
    }

    /// Validates an EV_ADD of a new knote and decides its initial state (no knote exists yet,
    /// nothing is charged). `file`: the descriptor's file for `on_descriptor` filters.
    fn prepare(&self, kq: &KQueue, kev: &KEvent, file: Option<&FileRef>) -> Result<Init>;

    /// FreeBSD `f_attach`: ties the new knote, not yet in the registry, to its event source
    /// (`kev`: the EV_ADD that makes it), and says what the source told of the condition
    /// meanwhile, if anything (`Known`). On error the caller detaches it (`detach` must cope
    /// with a partial attach).
    fn attach(
        &self,
        kn: &Arc<Knote>,
        reg: &mut KnoteReg,
        kev: &KEvent,
        file: Option<&FileRef>,
    ) -> Result<Known>;

    /// FreeBSD `f_detach`: unties the knote from its source; nothing fires it afterwards (the
    /// knote is already marked deleted and off the ready list).
    fn detach(&self, kn: &Knote, reg: &mut KnoteReg);

    /// FreeBSD `f_touch(EVENT_REGISTER)`: EV_ADD (or a bare change) of an existing knote. The
    /// default stores the user's fflags and data.
    fn touch(&self, kn: &Arc<Knote>, _reg: &mut KnoteReg, kev: &KEvent) -> Result {
        touch_interest(kn, kev, u32::MAX)
    }

    /// Once the close of its file was handled (unhooked, out of `FILES`), `detach` has nothing
    /// left to undo: the knote is tied to its file alone, so the close handler may drop it
    /// from the registry without calling `detach` (`KQueue::file_closed`). False for a knote
    /// also tied to something else (EVFILT_PROCDESC: its process's watch).
    fn tied_to_file_alone(&self) -> bool {
        false
    }

    /// FreeBSD `f_event` as far as it can be known under `ready`: whether the knote is to be
    /// reported. Late-evaluated filters answer true (the scan evaluates them).
    fn event(&self, st: &mut KnoteState) -> bool;

    /// FreeBSD `f_touch(EVENT_PROCESS)`: writes the record to return to `out` (in place: a slot
    /// of the scan's batch, not a 64-byte return value copied into it; every implementation
    /// writes the whole record); EV_CLEAR resets what was reported. The default copies the
    /// stored kevent.
    fn process(&self, st: &mut KnoteState, out: &mut MaybeUninit<KEvent>) {
        out.write(st.kevent);
        if st.kevent.flags & abi::EV_CLEAR != 0 {
            st.kevent.data = 0;
            st.kevent.fflags = 0;
        }
    }

    /// Late-evaluated filters: the condition and values now (process context, no lock held).
    fn evaluate(&self, _kn: &Knote, _sfflags: u32, _sdata: i64) -> Verdict {
        Verdict::Stale
    }

    /// The knote hears every event of its file's inode (EVFILT_VNODE), not only closes and
    /// data changes: its mark listens to all of them while it exists.
    fn hears_inode(&self) -> bool {
        false
    }

    /// The inode of the knote's file had an event (fsnotify, process context, under the file's
    /// `FILES` shard). The default queues the knote for evaluation when the data or size
    /// changed (a regular file read at EOF grows, as `tail -f` needs).
    fn inode_event(&self, kn: &Arc<Knote>, ev: &InodeEvent) {
        if ev.notes & INODE_DATA_CHANGED != 0 {
            kn.kqueue().source_fired(kn.as_arc_borrow());
        }
    }

    /// The process the knote watches signalled, forked, exec'd or exited (`proc_watch`, from a
    /// tracepoint: atomic context, under the watch table's lock).
    fn process_event(&self, _kn: &Arc<Knote>, _ev: &ProcEvent) -> Follow {
        Follow::No
    }

    /// NOTE_TRACK: the process of `parent` forked `child` (a thread-group `struct pid`): add a
    /// knote for it in `table` (same context as `process_event`).
    fn follow_fork(&self, _parent: &Arc<Knote>, _child: *mut bindings::pid, _table: &mut ProcTable<'_>) {}
}

/// The implemented filters, by `!number` (FreeBSD's `sysfilt_ops[~filter]`). FreeBSD's others
/// (AIO, LIO, SENDFILE, FS) are refused with EINVAL: Linux has no kernel POSIX AIO nor sendfile
/// completions, and mount events are not provided.
static FILTERS: [Option<&dyn FilterOps>; abi::EVFILT_SYSCOUNT as usize] = [
    Some(&filter_fd::READ),          // -1
    Some(&filter_fd::WRITE),         // -2
    None,                            // -3 EVFILT_AIO
    Some(&filter_vnode::VNODE),      // -4
    Some(&filter_proc::PROC),        // -5
    Some(&filter_signal::SIGNAL),    // -6
    Some(&filter_timer::TIMER),      // -7
    Some(&filter_procdesc::PROCDESC), // -8
    None,                            // -9 EVFILT_FS
    None,                            // -10 EVFILT_LIO
    Some(&filter_user::USER),        // -11
    None,                            // -12 EVFILT_SENDFILE
    Some(&filter_fd::EMPTY),         // -13
];

/// Whether the filter numbered `number` watches descriptors (`FilterOps::on_descriptor`):
/// its knotes are registered by descriptor number (`registry::FdTable`).
pub(crate) const fn is_descriptor_filter(number: i16) -> bool {
    matches!(
        number,
        abi::EVFILT_READ | abi::EVFILT_WRITE | abi::EVFILT_VNODE | abi::EVFILT_PROCDESC | abi::EVFILT_EMPTY
    )
}

/// The filter of EVFILT_* number `number`, or EINVAL.
pub(crate) fn lookup(number: i16) -> Result<&'static dyn FilterOps> {
    let ops = FILTERS.get(!number as u16 as usize).copied().flatten().ok_or(EINVAL)?;
    debug_assert_eq!(ops.number(), number);
    Ok(ops)
}

/// `FilterOps::touch` of a filter whose fflags are a set of NOTE_* of interest among `allowed`:
/// stores the new interest (the knote is `retouched` if it differs), or EINVAL with nothing
/// changed (as at EV_ADD).
pub(crate) fn touch_interest(kn: &Arc<Knote>, kev: &KEvent, allowed: u32) -> Result {
    if kev.fflags & !allowed != 0 {
        return Err(EINVAL);
    }
    kn.with_state(|st| {
        st.retouched |= st.sfflags != kev.fflags || st.sdata != kev.data;
        st.sfflags = kev.fflags;
        st.sdata = kev.data;
    });
    Ok(())
}

/// Stores a late evaluation in the knote's returned kevent: data, fflags and EV_EOF.
pub(crate) fn store(st: &mut KnoteState, ev: &KqFdEval) {
    st.kevent.data = ev.data;
    st.kevent.fflags = ev.fflags;
    if ev.eof {
        st.kevent.flags |= abi::EV_EOF;
    } else {
        st.kevent.flags &= !abi::EV_EOF;
    }
}
