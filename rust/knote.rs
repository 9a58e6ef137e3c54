// SPDX-License-Identifier: GPL-2.0
//! A knote: one registered (ident, filter) pair of one kqueue.
//!
//! Ownership: a knote is an `Arc<Knote>` held by (a) its kqueue's registry (`registry`: the
//! node is in the knote, the reference the tree's; an EVFILT_USER knote's tree is read without
//! locks, so that reference is put by an RCU callback a grace period after the knote left it,
//! `put_after_grace_period`), (b) the ready list
//! while it is queued (a `ListArc`), (c) its timer (`filter_timer::KnoteTimer`, a separate
//! object only EVFILT_TIMER knotes have) from the first arming until it is detached,
//! (d) its file's shard of the `FILES` table while a descriptor knote watches a close-notifying
//! file, (e) its kqueue's dead list between that file's release and the reap work, (f) the
//! scan while it is in flux, (g) a `proc_watch` table while a signal or process knote is
//! attached, and (h) its kqueue's `tracked` list between its creation by a NOTE_TRACK fork and
//! its entry in the registry. It dies when all let go: EV_DELETE, EV_ONESHOT delivery, a stale
//! descriptor, its file's release or the release of its kqueue remove it from the registry,
//! take it off the ready list and detach it from its source (the filter's `detach`: cancel its
//! timer, unhook it from the watched file, leave a `proc_watch` table). The `kq` back-pointer
//! is only followed while the knote is registered, tracked, queued, armed, hooked or listed in
//! `FILES` or a `proc_watch` table, all of which end before its kqueue's release()
//! returns (release() drops every knote and empties the dead list; wait-queue callbacks cannot
//! run after unhooking; a `FILES` close handler calls into the kqueue under the shard lock that
//! release()'s unhooking takes). An `Arc<Knote>` may be dropped after its kqueue is gone (the
//! close handler's list, dropped after the shard lock), which touches nothing of the kqueue.
//!
//! What locks kn? The answer is in the types:
//! - `state: LockedBy<KnoteState, ReadyInner>`: everything an event source may change from
//!   any context (active/disabled/deleted, the returned kevent, filter data) is protected by
//!   the kqueue's irq-safe `ready` spinlock.
//! - `reg: LockedBy<KnoteReg, KqInner>`: what only kevent() changes and what may sleep to
//!   tear down (the timer and its armed handle) is protected by the kqueue's `inner` mutex.
//! - `watch`: under the knote's shard of `FILES` (`file_watch`; the shard is chosen by `inode`).
//! - `file`: the watched file's address (descriptor filters). For a close-watched file it is
//!   written (cleared) only under its shard of `FILES`; for a pinned file it is cleared once,
//!   with the file's reference, under `inner` (`unpin_file`).
//! - `hooks`: linked at EV_ADD under `inner`, with a reference to the file held (so its close
//!   handler cannot run); unlinked under its shard of `FILES` (close-watched) or `inner`
//!   (pinned); read by wake-up callbacks under the watched file's wait-queue lock.
//! - `key`, `kq`, `ops`, `source`, `inode` and `pinned` never change after creation.
//! - `words`: the filter's private state, under `ready` like the rest of `KnoteState`.

use crate::abi::{self, KEvent};
use crate::filter::{FilterOps, Init, SourceRef};
use crate::file_watch::{self, WatchPlace};
use crate::filter_timer::KnoteTimer;
use crate::kqueue::{KQueue, KqInner, ReadyInner};
use crate::limits::Charge;
use crate::poll_hook::PollHooks;
use crate::registry;
use kernel::{
    alloc::Flags,
    bindings,
    list::ListLinks,
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc, LockedBy,
    },
    time::hrtimer::ArcHrTimerHandle,
    types::Opaque,
};

/// Registry key: FreeBSD looks knotes up by (ident, filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct KnoteKey {
    pub(crate) ident: u64,
    pub(crate) filter: i16,
}

/// Knote state changed by event sources (any context). Protected by the kqueue's `ready` lock.
pub(crate) struct KnoteState {
    /// FreeBSD's `kn_kevent`: ident, filter, stored flags (EV_ADD & co. stripped), fflags and
    /// data maintained by the filter, udata, ext.
    pub(crate) kevent: KEvent,
    /// The fflags and data the user gave (`kn_sfflags`, `kn_sdata`).
    pub(crate) sfflags: u32,
    pub(crate) sdata: i64,
    /// The filter's condition held when last evaluated (`KN_ACTIVE`).
    pub(crate) active: bool,
    /// EV_DISABLE / EV_DISPATCH: the knote is not queued nor reported (`KN_DISABLED`).
    pub(crate) disabled: bool,
    /// Removed from the registry (or its file released); event sources must leave it alone.
    pub(crate) deleted: bool,
    /// `sfflags` or `sdata` changed (`filter::touch_interest`) since the scan took the knote
    /// for an evaluation, which used the old ones (`deliver_fd` does not report it). Cleared
    /// at that take.
    pub(crate) retouched: bool,
    /// The scan pass that last put it back on the ready list (`ScanInner::pass`).
    pub(crate) requeued_in: u64,
    /// The knote's one `ListArc` exists: it is on the ready list or in a scan's hands (in
    /// flux). Set where the `ListArc` is made (`KQueue::activate_locked`), cleared where it is
    /// turned back into an `Arc` (`ReadyInner::unlist`), both under `ready`.
    pub(crate) listed: bool,
    /// This knote's unit of the per-user knote cap: given back when the knote is deleted
    /// (`KQueue::drop_knote`, `KQueue::file_closed`), or with a knote that never was entered.
    pub(crate) charge: Option<Charge>,
    /// The filter's private state (FreeBSD's `kn_hook`, `kn_hookid`, `kn_ptr`): each filter
    /// file names these words (`filter_timer`: period, start, ...).
    pub(crate) words: [i64; 4],
}

/// Knote state only kevent() touches. Protected by the kqueue's `inner` mutex.
pub(crate) struct KnoteReg {
    /// EVFILT_TIMER: the knote's timer, created at its first arming; it refers back to the
    /// knote, a cycle the filter's `detach` breaks by dropping it.
    pub(crate) clock: Option<Arc<KnoteTimer>>,
    /// The armed timer; dropping it cancels the timer and waits for its callback.
    pub(crate) timer: Option<ArcHrTimerHandle<KnoteTimer>>,
    /// The per-user armed-timer unit held while `timer` is armed.
    pub(crate) timer_charge: Option<Charge>,
}

#[pin_data]
pub(crate) struct Knote {
    pub(crate) key: KnoteKey,
    /// The filter's operations.
    pub(crate) ops: &'static dyn FilterOps,
    /// What the filter keys its event source by (`Init::source`), immutable; its reference (if
    /// any) goes with the knote.
    pub(crate) source: SourceRef,
    /// The owning kqueue. Valid for the knote's whole life: see the module comment.
    kq: *const KQueue,
    /// Descriptor filters: the address of the watched file, 0 once it was released (or for
    /// other filters). Never dereferenced without a reference (see `FilterOps::evaluate`).
    pub(crate) file: Atomic<usize>,
    /// Descriptor filters: the address of the watched file's inode (never dereferenced; picks
    /// the knote's shard of `FILES`); 0 for other filters.
    pub(crate) inode: usize,
    /// Descriptor filters on close-watched files: where the knote is listed in `FILES` (its
    /// file's entry and its slot there), so that leaving needs no look-up.
    pub(crate) watch: LockedBy<WatchPlace, file_watch::Table>,
    /// Descriptor filters: the knote owns a reference to `file` (files without close
    /// notification), dropped with the knote.
    pub(crate) pinned: bool,
    /// `ops.evaluated_late()` and `ops.on_descriptor()` (decided by the filter's number),
    /// copied at creation: the scan asks them of every knote it reports, without an
    /// indirect call each.
    pub(crate) evaluated_late: bool,
    pub(crate) on_descriptor: bool,
    /// Descriptor filters: the entries in the watched file's wait queues.
    #[pin]
    pub(crate) hooks: PollHooks,
    pub(crate) state: LockedBy<KnoteState, ReadyInner>,
    pub(crate) reg: LockedBy<KnoteReg, KqInner>,
    /// The knote's node in its kqueue's registry (`registry`): a tree's node, under the
    /// kqueue's `index` lock, or a descriptor knote's link in its kqueue's descriptor table
    /// (`registry::FdTable`), under `inner`; cleared while the knote is in neither.
    #[pin]
    pub(crate) registry_node: Opaque<bindings::rb_node>,
    /// Carries the registry's reference through a grace period when the knote leaves a
    /// registry that is read without locks (`put_after_grace_period`); used once.
    #[pin]
    rcu_head: Opaque<bindings::callback_head>,
    #[pin]
    links: ListLinks<0>,
}

// SAFETY: `kq` is only dereferenced as a shared reference to a `KQueue` (which is `Sync`), from
// any thread, while the kqueue lives (`Knote::kqueue`); all mutable state is behind the
// kqueue's locks or atomic. A knote dropped on another thread after its kqueue died touches
// nothing of the kqueue.
unsafe impl Send for Knote {}
// SAFETY: As above.
unsafe impl Sync for Knote {}

kernel::list::impl_list_arc_safe! {
    // `KnoteState::listed`, under `ready`, says whether the one `ListArc` exists (see
    // `KQueue::activate_locked`): no atomic tracker to set and clear per queueing.
    impl ListArcSafe<0> for Knote { untracked; }
}
kernel::list::impl_list_item! {
    impl ListItem<0> for Knote { using ListLinks { self.links }; }
}

impl Knote {
    /// A new, detached knote for the change `kev` on `owner`.
    pub(crate) fn new(
        owner: &KQueue,
        kev: &KEvent,
        ops: &'static dyn FilterOps,
        init: Init,
        charge: Charge,
        gfp: Flags,
    ) -> Result<Arc<Knote>> {
        let Init { words, file, source } = init;
        let (file, pinned) = file.map_or((0, false), |(f, p)| (f as usize, p));
        let inode = match file {
            0 => 0,
            // SAFETY: The caller holds a reference to the file; `f_inode` never changes.
            f => (unsafe { (*(f as *mut bindings::file)).f_inode }) as usize,
        };
        // As FreeBSD's kqueue_register: the filter's returned fflags and data start at zero
        // (the user's values live on in `sfflags`/`sdata`).
        let mut kevent = KEvent { fflags: 0, data: 0, ..*kev };
        kevent.flags &= !(abi::EV_ADD
            | abi::EV_DELETE
            | abi::EV_ENABLE
            | abi::EV_DISABLE
            | abi::EV_FORCEONESHOT);
        let state = KnoteState {
            kevent,
            sfflags: kev.fflags,
            sdata: kev.data,
            active: false,
            disabled: kev.flags & abi::EV_DISABLE != 0,
            deleted: false,
            retouched: false,
            requeued_in: 0,
            listed: false,
            charge: Some(charge),
            words,
        };
        let watch = LockedBy::new(file_watch::shard_of(inode), WatchPlace::NONE);
        Arc::pin_init(
            pin_init!(Knote {
                key: KnoteKey { ident: kev.ident, filter: kev.filter },
                ops,
                source,
                kq: owner as *const KQueue,
                file: Atomic::new(file),
                inode,
                watch,
                pinned,
                evaluated_late: ops.evaluated_late(),
                on_descriptor: crate::filter::is_descriptor_filter(kev.filter),
                hooks <- PollHooks::new(),
                state: LockedBy::new(owner.ready_lock(), state),
                reg: LockedBy::new(owner.inner_lock(), KnoteReg { clock: None, timer: None, timer_charge: None }),
                registry_node <- registry::unlinked_node(),
                rcu_head: Opaque::uninit(),
                links <- ListLinks::new(),
            }),
            gfp,
        )
    }

    /// Runs `f` on the knote's state under its kqueue's `ready` lock.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut KnoteState) -> R) -> R {
        let mut ready = self.kqueue().ready_lock().lock();
        f(self.state.access_mut(&mut ready))
    }

    /// The pinned file's reference goes with the knote.
    pub(crate) fn unpin_file(&self) {
        let file = self.file.load(ordering::Relaxed);
        if self.pinned && file != 0 {
            self.file.store(0, ordering::Release);
            // SAFETY: `pinned` knotes own one reference to `file`, taken at EV_ADD; it is
            // dropped once (the address is cleared under the caller's `inner` lock).
            unsafe { bindings::fput(file as *mut bindings::file) };
        }
    }

    /// Lets go of `this` (the reference a lockless registry held, `registry::RcuRegistry`) once
    /// every RCU read-side critical section running now has ended: a reader may be looking at
    /// the knote. Called at most once per knote (a knote leaves a registry once). If it is the
    /// last reference, the knote is freed in the RCU callback (softirq): by then it is
    /// detached and its charge given back, so its drop frees memory and nothing else.
    /// The module's exit waits for the callbacks (`rcu_barrier`).
    pub(crate) fn put_after_grace_period(this: Arc<Knote>) {
        let head = this.rcu_head.get();
        let _ = Arc::into_raw(this);
        // SAFETY: `head` is in the knote, which the reference just turned raw keeps alive until
        // the callback takes it back; it is queued once (see above).
        unsafe { bindings::call_rcu(head, Some(knote_put_rcu)) };
    }

    /// The owning kqueue. Only for code that runs while the knote is registered, tracked,
    /// queued, armed, hooked or listed in `FILES` or a `proc_watch` table (a method of its
    /// kqueue, a wake-up, timer or probe callback of an attached knote, a close handler under
    /// its `FILES` shard lock): every caller is one of these.
    pub(crate) fn kqueue(&self) -> &KQueue {
        // SAFETY: The kqueue lives until its release() returns, and every state above ends
        // before that (module comment: release() drops and detaches every knote, unhooking and
        // unlisting it under the locks these callers run under, and waits for its timers and
        // work items); the callers run in one of those states.
        unsafe { &*self.kq }
    }
}

/// Owned by the module: its drop, at unload, waits for the RCU callbacks of
/// `Knote::put_after_grace_period` (module code) still queued.
pub(crate) struct GracePeriodPuts;

impl Drop for GracePeriodPuts {
    fn drop(&mut self) {
        // SAFETY: Process context (module exit); waits for every queued callback.
        unsafe { bindings::rcu_barrier() };
    }
}

/// The RCU callback of `Knote::put_after_grace_period`: drops the reference it carried.
///
/// # Safety
///
/// `head` is the `rcu_head` of a knote whose reference `put_after_grace_period` made raw.
unsafe extern "C" fn knote_put_rcu(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `rcu_head` field of a knote (`Opaque<callback_head>` has its
    // layout), so the knote is found from it, and the reference made raw is taken back once.
    unsafe {
        let head = head.cast::<Opaque<bindings::callback_head>>();
        let kn = kernel::container_of!(head, Knote, rcu_head);
        drop(Arc::from_raw(kn));
    }
}
