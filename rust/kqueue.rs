// SPDX-License-Identifier: GPL-2.0
//! The kqueue object: one per open() of /dev/kqueue.
//!
//! Ownership: an `Arc<KQueue>` lives in the file's `private_data` from open() until release(),
//! the last fput() of the file. release() empties the registry, the ready list, every armed
//! timer, every hook into watched files and the dead list (each knote's references), and waits
//! for its work items, so the kqueue dies with its file. Threads in kevent() hold a file
//! reference, so release() never runs under them.
//!
//! # Locks, in the order they nest (outer first)
//!
//! 1. `scan: Mutex<ScanInner>` — one scan of the ready list at a time (epoll's `ep->mtx` for
//!    `ep_send_events`). Held by `scan()` from its first look at the list until the last record
//!    is copied out and every knote it took is settled, across descriptor evaluations (a
//!    pipe's mutex, a socket's lock) and user copies. Protects the pass counter; being held is
//!    what makes a knote "in flux" possible (below). Never taken by anything but `scan()`.
//! 2. `inner: Mutex<KqInner>` — changes to the registry, the descriptor knotes' part of it
//!    (`KqInner::fds`, by descriptor number) and each knote's `KnoteReg`. Held for a
//!    whole changelist and, in a scan, from the decision to report a knote until its record is
//!    copied out; dropped around each descriptor evaluation (so /proc fdinfo, which takes it
//!    under the seq_file lock, never waits behind a pipe's mutex). Sleepable; never taken
//!    from a callback.
//! 3. `index: SpinLock<Registry>` — the registry of the other knotes by (ident, filter), and of
//!    `user_index` (EVFILT_USER's). Changed only with `inner` held as well. A NOTE_TRIGGER
//!    (`trigger`) looks its knote up in `user_index` without any lock, under RCU, and takes
//!    `ready` alone; only when that walk misses does it look again under `index` (then with
//!    `ready` inside it). Process context only; nothing sleeps, is allocated or is freed under
//!    it (the trees are intrusive, `registry`; references they give back are dropped after
//!    unlocking, `user_index`'s after a grace period).
//! 4. `ready: IrqSpinLock<ReadyInner>` — the ready list, its counts and every knote's
//!    `KnoteState`. Taken from any context (hard-irq timer callbacks, wake-up callbacks of
//!    watched files) with interrupts off; nothing sleeps and no user memory is touched under it.
//! 5. the `waiters`/`pollers` wait-queue locks (inside the kernel's wake-up functions). Nothing
//!    is taken under `waiters`; under `pollers` the pollers' wake-up functions run (an epoll's
//!    `ep->lock`, and through it another kqueue's `ready` → `waiters`, never this one's).
//!
//! `dead: Mutex<KVec<..>>` (knotes whose file was released) nests inside `inner` and inside the
//! `FILES` shard locks (`file_watch`; "`FILES`" below is any one shard), and takes nothing
//! itself. Descriptor knotes add, from their wake-up callbacks: a watched file's wait-queue
//! lock → `ready` → `waiters`. A wake-up callback never wakes `pollers` directly:
//! poll/epoll/another kqueue watching this kqueue may be the very waker that is running (a
//! kqueue and an epoll watching each other), so the pollers wake-up goes to `poll_work`.
//! kevent() takes `inner` → `FILES` (registration, removal), `inner` → a `proc_watch` table
//! (process and signal knotes) and `scan`/`inner` → another kqueue's `ready` (the pending
//! count of a watched kqueue). Process events come from tracepoint probes in atomic context:
//! (a target's `siglock` →) a `proc_watch` table lock → `ready` → `waiters`, and for NOTE_TRACK
//! the process table → `tracked` (an irq-safe spinlock over the knotes created for new
//! children, which nests there and takes nothing). Inode events come from fsnotify in process
//! context: `FILES` → `ready` → `waiters`.
//!
//! # A knote's states
//!
//! ```text
//!            EV_ADD                 source fires / condition true
//!   (new) ──────────▶  IDLE  ─────────────────────────────────────▶  QUEUED
//!                      ▲  ▲ ◀───────── EV_CLEAR/DISPATCH reported,   │  (on `ready.list`,
//!                      │  │            or condition false            │   the list owns its
//!                      │  │                                          │   ListArc)
//!                      │  └──────── IN FLUX ◀────── scan pops it ────┘
//!                      │           (held by the one scan; on no list;
//!                      │            level-triggered: back to the tail
//!                      │            of `ready.list`, stamped with the pass)
//!                      │
//!   EV_DELETE, ONESHOT reported, stale descriptor, file close, kqueue release
//!      from IDLE/QUEUED/IN FLUX ──▶ DELETED (`st.deleted`: off the registry and the list,
//!      unhooked, timer cancelled) ──▶ freed when the last `Arc` goes (the scan's, the
//!      dead list's, a timer callback's)
//! ```
//!
//! The invariant: a knote is on this kqueue's `ready.list` or on no list, and only code holding
//! `ready` moves it. `ready.queued` counts the list, `ready.in_flux` the knotes the scan holds
//! (exact whenever `ready` is free: a batch moves its knotes' counts once, before it lets go);
//! `pending() = queued + in_flux` is what poll, a watching kqueue and a second scanner see, so
//! a knote being evaluated is never invisible: a second scanner finds `pending() > 0`, waits
//! for `scan` and then sees the knote back on the list (FreeBSD's in-flux wait, `KN_INFLUX`).
//! Every knote a pass settles is stamped with the pass, and the pass stops at the first stamped
//! knote it meets, so none is reported twice in one call and no pass runs forever on knotes
//! other CPUs keep waking (FreeBSD's marker knote).
//!
//! Every removal path and what excludes it from the others:
//! - EV_DELETE, EV_ONESHOT delivery, a stale descriptor (`drop_knote`, under `inner`): sets
//!   `deleted` and unqueues under `ready`. A knote in flux is on no list, so unqueueing finds
//!   nothing; the scan sees `deleted` when it takes `ready` again and lets the knote go. A
//!   record is only copied out with `inner` held since the decision, so none is returned after
//!   EV_DELETE returned.
//! - Close of the watched file (`file_closed`, under `FILES`): unhooks, sets `deleted`,
//!   unqueues, and drops a knote tied to its file alone (`FilterOps::tied_to_file_alone`)
//!   from the registry if `inner` can be had without waiting (a try: `FILES` nests inside
//!   `inner` elsewhere); else hands it to `dead` and schedules `reap_work`, which drops and
//!   detaches it under `inner` (a pidfd's knote leaves its process's watch there). Its per-user charge goes at once, its memory
//!   with the registry's reference.
//! - POLLFREE (`poll_hook`): the owner of the wait queue unlinks the hook; the knote is
//!   queued, and the scan finds its file gone (stale) or still there.
//! - A process or signal event (tracepoint probe, under a `proc_watch` table lock): finds only
//!   knotes in that table, which detach removes under the same lock; it changes the knote under
//!   `ready` like any source, and a deleted knote is left alone.
//! - A knote NOTE_TRACK creates in a fork probe is on no registry at first: it sits on
//!   `tracked` until `reap_dead` enters it (or drops it, if it was reported as ONESHOT first).
//! - Kqueue release: no kevent() runs (they hold file references); every knote is dropped
//!   under `inner`, then those on `tracked` (until none can come: `proc_watch::quiesce`), then
//!   the work items are cancelled.

use crate::abi::{self, KEvent, KqKeventArgs, KqTimespec};
use crate::descriptor::{self, FileRef};
use crate::file_watch::CLOSE_MARK_SLOTS;
use crate::filter::{self, FilterOps, Known, Verdict};
use crate::filter_user;
use crate::helper::{self, KqFdEval};
use crate::irq_lock::{new_irq_spinlock, IrqSpinLock, IrqSpinLockGuard};
use crate::knote::{Knote, KnoteKey, KnoteState};
use crate::knote_vec::{KnoteVec, LazyVec};
use crate::limits::{Resource, UserAccount};
use crate::proc_watch;
use crate::registry::{FdTable, RcuRegistry, Registry};
use crate::user_io;
use crate::wait::{self, WaitQueue, WakeReason};
use core::mem::MaybeUninit;
use kernel::{
    bindings,
    ffi::{c_int, c_void},
    list::{List, ListArc},
    new_mutex, new_spinlock,
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc, ArcBorrow, Mutex, MutexGuard, SpinLock,
    },
    types::Opaque,
    uaccess::UserPtr,
};

const KEVENT_SIZE: usize = abi::KEVENT_SIZE;
const NSEC_PER_SEC: i64 = 1_000_000_000;
/// Knotes `KqInner::to_evaluate` keeps without allocating, and at most.
const DEFERRED_INLINE: usize = 8;
const MAX_DEFERRED_EVALUATIONS: usize = 1024;
/// Knotes release() marks deleted under one hold of `ready` (`retire_all`): interrupts stay
/// off for this many at most.
const RELEASE_BATCH: usize = 16;

/// Adds `kn` to the knotes a changelist evaluates after it, unless it is the one added last (a
/// changelist that changes one knote twice in a row evaluates it once). False if the list is
/// full or out of memory: the caller then has the scan evaluate the knote.
fn defer(list: &mut KnoteVec<DEFERRED_INLINE>, kn: &Arc<Knote>) -> bool {
    if list.last().is_some_and(|k| Arc::ptr_eq(k, kn)) {
        return true;
    }
    list.len() < MAX_DEFERRED_EVALUATIONS && list.push(kn.clone(), GFP_KERNEL_ACCOUNT).is_ok()
}

/// State protected by the `inner` mutex.
pub(crate) struct KqInner {
    /// Descriptor knotes added or changed by the current changelist, evaluated after it
    /// without `inner` (`apply_changes`); the first `DEFERRED_INLINE` without allocating (a
    /// changelist of a few descriptors, what event loops send), at most
    /// `MAX_DEFERRED_EVALUATIONS` (one pointer each: the memory a long changelist makes us
    /// allocate), beyond which the scan evaluates them (`defer`).
    to_evaluate: KnoteVec<DEFERRED_INLINE>,
    /// The registry of descriptor knotes, by descriptor number (`registry::FdTable`); the
    /// other knotes are in `index` and `user_index`.
    fds: FdTable,
}

/// State protected by the irq-safe `ready` spinlock.
pub(crate) struct ReadyInner {
    /// Knotes whose condition fired and that are enabled, oldest first (`kq_head`).
    list: List<Knote>,
    /// Knotes on `list` (FreeBSD `kq_count`).
    queued: usize,
    /// Knotes the running scan took off `list` and has not settled yet (`KN_INFLUX`).
    in_flux: usize,
}

impl ReadyInner {
    /// Knotes queued or being looked at: what poll, a watching kqueue and a scanner see.
    fn pending(&self) -> usize {
        self.queued + self.in_flux
    }

    fn enqueue(&mut self, item: ListArc<Knote>) {
        self.list.push_back(item);
        self.queued += 1;
    }

    /// Takes `kn` off the list if it is on it (not if it is in flux or idle); the caller drops
    /// the reference after unlocking.
    fn unqueue(&mut self, kn: &Knote) -> Option<Arc<Knote>> {
        // SAFETY: A knote is only ever on its own kqueue's ready list, or on none (module
        // comment: the scan holds knotes in flux on no list).
        let item = unsafe { self.list.remove(kn) }?;
        self.queued -= 1;
        Some(self.unlist(item))
    }

    /// A knote leaves for good (`KQueue::retire`): marked deleted (event sources leave it
    /// alone from here), off the list, its unit of the user's cap given back (see
    /// `limits::Charge`). The caller holds a reference to `kn`, so the list's reference and the
    /// charge dropped here are counts going down, never a knote freed under the lock.
    fn mark_deleted(&mut self, kn: &Arc<Knote>) {
        let st = kn.state.access_mut(self);
        st.deleted = true;
        drop(st.charge.take());
        drop(self.unqueue(kn));
    }

    /// The knote's `ListArc` goes back to being a plain reference (`KnoteState::listed`).
    fn unlist(&mut self, item: ListArc<Knote>) -> Arc<Knote> {
        item.state.access_mut(self).listed = false;
        item.into_arc()
    }

    /// Takes the oldest knote into flux, unless it was put back by scan pass `pass` (the scan
    /// has then looked at everything queued before it).
    fn take_into_flux(&mut self, pass: u64) -> Option<ListArc<Knote>> {
        if !self.has_unstamped(pass) {
            return None;
        }
        let item = self.list.pop_front()?;
        self.queued -= 1;
        self.in_flux += 1;
        Some(item)
    }

    /// Whether the oldest knote is one to look at in pass `pass` (unstamped) whose condition is
    /// known under `ready`: neither evaluated late nor tied to a descriptor (the scan settles
    /// those in batches, see `Batch`).
    fn simple_at_front(&self, pass: u64) -> bool {
        self.list.iter().next().is_some_and(|front| {
            front.state.access(self).requeued_in != pass && !front.evaluated_late && !front.on_descriptor
        })
    }

    /// What kind of run of knotes the scan may settle in one batch starts at the front of the
    /// list (`KQueue::settle_run`), if any: the oldest knote is unstamped in pass `pass`, and
    /// simple (`simple_at_front`) or an enabled late one (`late_at_front`).
    fn run_at_front(&self, pass: u64) -> Option<RunKind> {
        if self.simple_at_front(pass) {
            Some(RunKind::Simple)
        } else if self.late_at_front(pass) {
            Some(RunKind::Late)
        } else {
            None
        }
    }

    /// Whether the oldest knote is one to look at in pass `pass` that is evaluated late (a
    /// descriptor's readiness) and enabled: the scan evaluates a run of those one after the
    /// other and settles them together (`KQueue::settle_late_batch`).
    fn late_at_front(&self, pass: u64) -> bool {
        self.list.iter().next().is_some_and(|front| {
            let st = front.state.access(self);
            st.requeued_in != pass && front.evaluated_late && !st.disabled && !st.deleted
        })
    }

    /// `take_into_flux` for an enabled late knote (`late_at_front`), for a batch, which
    /// counts it (`count_taken`). `None` if the oldest knote is not one, or there is none to
    /// look at; it then stays queued.
    fn take_late_uncounted(&mut self, pass: u64) -> Option<ListArc<Knote>> {
        if !self.late_at_front(pass) {
            return None;
        }
        self.list.pop_front()
    }

    /// `take_into_flux` for a simple knote (`simple_at_front`), for a batch, which counts it
    /// (`count_taken`). `None` if the oldest knote is not one, or there is none to look at; it
    /// then stays queued.
    fn take_simple_uncounted(&mut self, pass: u64) -> Option<ListArc<Knote>> {
        if !self.simple_at_front(pass) {
            return None;
        }
        self.list.pop_front()
    }

    /// A batch's knotes taken off the list (`take_*_uncounted`) are counted in flux, once for
    /// all, before the batch lets go of `ready`: whoever takes the lock next sees exact counts.
    fn count_taken(&mut self, taken: usize) {
        self.queued -= taken;
        self.in_flux += taken;
    }

    /// A batch settled `settled` of its knotes in flux, `requeued` of them put back on the list
    /// (`put_back`), the rest let go (`let_go`); counted, as `count_taken`, before `ready` is
    /// released.
    fn count_settled(&mut self, settled: usize, requeued: usize) {
        self.in_flux -= settled;
        self.queued += requeued;
    }

    /// Whether the oldest knote was not put back by scan pass `pass` (there is one to look at).
    fn has_unstamped(&self, pass: u64) -> bool {
        self.list.iter().next().is_some_and(|front| front.state.access(self).requeued_in != pass)
    }

    /// The scan is done with a knote in flux: back to the tail (level-triggered) ...
    fn requeue_from_flux(&mut self, item: ListArc<Knote>, pass: u64) {
        self.in_flux -= 1;
        item.state.access_mut(self).requeued_in = pass;
        self.enqueue(item);
    }

    /// `requeue_from_flux` for a batch, which counts it (`count_settled`).
    fn put_back(&mut self, item: ListArc<Knote>, pass: u64) {
        item.state.access_mut(self).requeued_in = pass;
        self.list.push_back(item);
    }

    /// ... or off every list. The list reference must end under the lock: an activation that
    /// finds the knote still in flux leaves it to the scan (`activate_locked`), so one that
    /// comes after this must find it free to queue. The stamp makes this pass stop at the
    /// knote if it is queued again before the pass ends (reported once per call; and a pass
    /// cannot run forever on knotes that other CPUs keep waking). The caller drops the
    /// returned reference after unlocking.
    fn release_from_flux(&mut self, item: ListArc<Knote>, pass: u64) -> Arc<Knote> {
        self.in_flux -= 1;
        self.let_go(item, pass)
    }

    /// `release_from_flux` for a batch, which counts it (`count_settled`).
    fn let_go(&mut self, item: ListArc<Knote>, pass: u64) -> Arc<Knote> {
        item.state.access_mut(self).requeued_in = pass;
        self.unlist(item)
    }
}

/// State protected by the `scan` mutex.
pub(crate) struct ScanInner {
    /// The number of the current (or last) scan pass; knotes a pass puts back carry it.
    pass: u64,
}

/// A reference to the creating process (its thread-group `struct pid`).
struct OwnerPid(*mut bindings::pid);

// SAFETY: A counted `struct pid` reference may be used and dropped from any thread.
unsafe impl Send for OwnerPid {}
// SAFETY: Only compared by address and released on drop.
unsafe impl Sync for OwnerPid {}

impl OwnerPid {
    fn current() -> Self {
        // SAFETY: Returns a counted reference to the current thread group's pid.
        OwnerPid(unsafe { helper::kq_get_current_tgid() })
    }

    fn is_current(&self) -> bool {
        // SAFETY: `self.0` is a valid pid (we hold a reference).
        unsafe { helper::kq_current_tgid_is(self.0) }
    }
}

impl Drop for OwnerPid {
    fn drop(&mut self) {
        // SAFETY: We own one reference, taken in `current()`.
        unsafe { bindings::put_pid(self.0) }
    }
}

#[pin_data]
pub(crate) struct KQueue {
    #[pin]
    scan: Mutex<ScanInner>,
    #[pin]
    inner: Mutex<KqInner>,
    /// The registry: every registered knote not on a descriptor (those are in
    /// `KqInner::fds`), by (ident, filter). Changed only with `inner`
    /// held too (so a holder of `inner` sees it stable); looked up under `index` alone by the
    /// changes that touch only a knote's state (`trigger`: a NOTE_TRIGGER never waits for a
    /// scan or a changelist). Intrusive: nothing is allocated or freed under the lock.
    #[pin]
    index: SpinLock<Registry>,
    /// EVFILT_USER's knotes: a registry of their own, changed like the other under `index`
    /// (and `inner`), and also looked up without locks, under RCU, by `trigger`. A knote that
    /// leaves it is put after a grace period (`Knote::put_after_grace_period`).
    user_index: RcuRegistry,
    #[pin]
    ready: IrqSpinLock<ReadyInner>,
    /// Threads sleeping in kevent() (exclusive waiters: one wake-up per new event).
    #[pin]
    waiters: WaitQueue,
    /// poll/select/epoll and other kqueues watching this kqueue's fd.
    #[pin]
    pollers: WaitQueue,
    /// `ready.pending()` as of the last change under `ready`, for a lockless look before a scan
    /// (epoll's lockless `ep_events_available`). Written only under `ready`; a reader may be a
    /// moment late, which a scan tolerates (a waiter re-checks under the lock).
    pending_hint: Atomic<usize>,
    /// Someone registered on `pollers`: release must send POLLFREE and wait for RCU.
    polled: Atomic<bool>,
    /// Wakes `pollers` outside of any wake-up callback (see the lock order above).
    #[pin]
    poll_work: Opaque<bindings::work_struct>,
    /// Knotes whose watched file was released (handed over by `file_watch`), to be dropped from
    /// the registry by `reap_work`, the next kevent() or release.
    #[pin]
    dead: Mutex<LazyVec<Arc<Knote>>>,
    /// Drops the knotes on `dead` (scheduled by `file_closed`, which cannot take `inner`).
    #[pin]
    reap_work: Opaque<bindings::work_struct>,
    /// Knotes NOTE_TRACK created for a watched process's new child (in the fork's tracepoint
    /// probe, atomic context), to be entered in the registry with the dead ones. Lock order:
    /// inside `proc_watch`'s process table; takes nothing.
    #[pin]
    tracked: IrqSpinLock<LazyVec<Arc<Knote>>>,
    /// `dead` or `tracked` is not empty (checked without their locks on every kevent()).
    has_dead: Atomic<bool>,
    /// `reap_work` was scheduled at least once: release() must cancel it.
    reap_armed: Atomic<bool>,
    /// A process knote was attached once: release must look for knotes NOTE_TRACK created.
    watched_processes: Atomic<bool>,
    /// The pipefs and sockfs close marks this kqueue keeps until its release (see
    /// `hold_close_mark`), by `kq_close_watch_slot` index.
    close_marks_held: [Atomic<bool>; CLOSE_MARK_SLOTS],
    /// The last descriptor was closed: waiters leave with EBADF.
    closing: Atomic<bool>,
    /// The creating process: other processes (fork children) get EBADF, as on FreeBSD.
    owner: OwnerPid,
    /// The creating user's caps.
    account: Arc<UserAccount>,
}

/// Where kevent() writes its records.
struct EventSink {
    base: UserPtr,
    /// Room for this many records (`nevents`).
    capacity: usize,
    written: usize,
}

impl EventSink {
    fn put(&mut self, kev: &KEvent) -> Result {
        let at = self.base.wrapping_byte_add(self.written * KEVENT_SIZE);
        user_io::write_kevent(at, kev)?;
        self.written += 1;
        Ok(())
    }

    /// Writes `records` after those already written (one user copy for them all).
    fn put_all(&mut self, records: &[KEvent]) -> Result {
        let at = self.base.wrapping_byte_add(self.written * KEVENT_SIZE);
        match records {
            [] => return Ok(()),
            [one] => user_io::write_kevent(at, one)?,
            _ => user_io::write_kevents(at, records)?,
        }
        self.written += records.len();
        Ok(())
    }

    /// Records that still fit.
    fn room(&self) -> usize {
        self.capacity - self.written
    }
}

impl KQueue {
    /// A new kqueue for the calling process and user.
    pub(crate) fn new(uid: u32) -> Result<Arc<KQueue>> {
        let account = UserAccount::open(uid)?;
        let acct = account.clone();
        let kq = Arc::pin_init(
            try_pin_init!(KQueue {
                scan <- new_mutex!(ScanInner { pass: 0 }, "kqueue::scan"),
                inner <- new_mutex!(
                    KqInner { to_evaluate: KnoteVec::new(), fds: FdTable::new() },
                    "kqueue::inner"
                ),
                index <- new_spinlock!(Registry::new(), "kqueue::index"),
                user_index: RcuRegistry::new(),
                ready <- new_irq_spinlock!(
                    ReadyInner { list: List::new(), queued: 0, in_flux: 0 },
                    "kqueue::ready"
                ),
                waiters <- WaitQueue::new(),
                pollers <- WaitQueue::new_pollers(),
                pending_hint: Atomic::new(0),
                polled: Atomic::new(false),
                // SAFETY: `INIT_WORK` initialises the whole work item in place.
                poll_work <- unsafe {
                    Opaque::ffi_init(|slot: *mut bindings::work_struct| helper::kq_init_work(slot, kq_poll_work))
                },
                dead <- new_mutex!(LazyVec::new(), "kqueue::dead"),
                // SAFETY: `INIT_WORK` initialises the whole work item in place.
                reap_work <- unsafe {
                    Opaque::ffi_init(|slot: *mut bindings::work_struct| helper::kq_init_work(slot, kq_reap_work))
                },
                tracked <- new_irq_spinlock!(LazyVec::new(), "kqueue::tracked"),
                has_dead: Atomic::new(false),
                reap_armed: Atomic::new(false),
                watched_processes: Atomic::new(false),
                close_marks_held: [const { Atomic::new(false) }; CLOSE_MARK_SLOTS],
                closing: Atomic::new(false),
                owner: OwnerPid::current(),
                account: acct,
            }),
            GFP_KERNEL_ACCOUNT,
        );
        if kq.is_err() {
            UserAccount::close(&account);
        }
        kq
    }

    /// A knote of this kqueue watches a pipe or socket, whose close comes through a mark on
    /// its super block shared by all of them (`kq_close_watch.c`, `kq_sb_close`): the kqueue
    /// keeps that mark until its release, so that watching one descriptor at a time (a server
    /// taking connections one by one) does not make and destroy the mark with each. `mark` is
    /// a live handle of `kq_close_watch_get`.
    pub(crate) fn hold_close_mark(&self, mark: *mut c_void) {
        // SAFETY: `mark` is a live handle (the caller's table entry holds it).
        let slot = unsafe { helper::kq_close_watch_slot(mark) };
        let Some(held) = usize::try_from(slot).ok().and_then(|i| self.close_marks_held.get(i)) else {
            return;
        };
        if !held.load(ordering::Relaxed) && !held.xchg(true, ordering::Relaxed) {
            // SAFETY: As above; the hold is dropped in `release` (`close_marks_held`).
            unsafe { helper::kq_close_watch_hold(mark) };
        }
    }

    pub(crate) fn inner_lock(&self) -> &Mutex<KqInner> {
        &self.inner
    }

    pub(crate) fn ready_lock(&self) -> &IrqSpinLock<ReadyInner> {
        &self.ready
    }

    pub(crate) fn account(&self) -> &Arc<UserAccount> {
        &self.account
    }

    /// Publishes `ready`'s pending count (call after every change of it, under `ready`).
    fn publish(&self, ready: &ReadyInner) {
        self.pending_hint.store(ready.pending(), ordering::Relaxed);
    }

    /// The process that created the kqueue (its thread-group `struct pid`, which the kqueue holds
    /// a reference to for its whole life): EVFILT_SIGNAL watches it, and process numbers are
    /// reported as it sees them.
    pub(crate) fn owner_pid(&self) -> *mut bindings::pid {
        self.owner.0
    }

    /// An event source changed `kn` (any context, no kqueue lock held): `update` records what
    /// happened under `ready` and says whether the knote is now to be reported; it is then
    /// queued (if enabled) and a waiter woken. Nothing happens to a deleted knote.
    pub(crate) fn fire(&self, kn: &Arc<Knote>, update: impl FnOnce(&mut KnoteState) -> bool) {
        let mut ready = self.ready.lock();
        let st = kn.state.access_mut(&mut ready);
        if st.deleted || !update(st) {
            return;
        }
        let queued = self.activate_locked(&mut ready, kn.as_arc_borrow());
        drop(ready);
        if queued {
            self.wake_for_new_event(true);
        }
    }

    /// A process knote is being attached (before it can track children; see `release`).
    pub(crate) fn note_process_watch(&self) {
        self.watched_processes.store(true, ordering::Relaxed);
    }

    /// Hands a knote NOTE_TRACK created in atomic context to the registry (see `tracked`).
    pub(crate) fn adopt(&self, kn: &Arc<Knote>) -> Result {
        self.tracked.lock().push(kn.clone(), GFP_ATOMIC)?;
        self.has_dead.store(true, ordering::Release);
        self.schedule_reap();
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Event sources (any context).

    /// Marks `kn` active and queues it if enabled and not queued; returns whether it was newly
    /// queued (the caller then wakes waiters after dropping the lock).
    pub(crate) fn activate_locked(&self, ready: &mut ReadyInner, kn: ArcBorrow<'_, Knote>) -> bool {
        let st = kn.state.access_mut(ready);
        st.active = true;
        // Already queued, or in flux (the scan sees `active`).
        if st.disabled || st.deleted || st.listed {
            return false;
        }
        st.listed = true;
        let arc: Arc<Knote> = kn.into();
        // SAFETY: A reference from `Arc::into_raw`; `listed` was clear under `ready`, so no
        // `ListArc` of the knote exists (one is made only here, with `listed` set, and `listed`
        // is cleared only where it is turned back into an `Arc`, `ReadyInner::unlist`).
        let item = unsafe { ListArc::from_raw(Arc::into_raw(arc)) };
        ready.enqueue(item);
        self.publish(ready);
        true
    }

    /// A knote was queued (under `ready`, which sleepers take after queueing themselves): wake
    /// one kevent() sleeper, if any, and every poller — from the work item when this runs inside
    /// a wake-up callback (`in_callback`: a watched file's waker, which may itself be one of our
    /// pollers, as an epoll that this kqueue watches and that watches this kqueue) or inside
    /// another kqueue's pollers wake-up (a kqueue watching a kqueue).
    pub(crate) fn wake_for_new_event(&self, in_callback: bool) {
        if self.waiters.has_waiters() {
            self.waiters.wake_one();
        }
        if !self.polled.load(ordering::Relaxed) {
            return;
        }
        if in_callback || wait::in_pollers_wake() {
            // SAFETY: The work item is initialised and lives as long as the kqueue; release()
            // waits for it after the last event source is gone.
            unsafe { helper::kq_schedule_work(self.poll_work.get()) };
        } else {
            self.pollers.wake_pollers(bindings::POLLIN | bindings::POLLRDNORM);
        }
    }

    /// A watched file's wait queue woke `kn` (any context, under that queue's lock).
    pub(crate) fn source_fired(&self, kn: ArcBorrow<'_, Knote>) {
        let mut ready = self.ready.lock();
        let queued = self.activate_locked(&mut ready, kn);
        drop(ready);
        if queued {
            self.wake_for_new_event(true);
        }
    }

    /// `kn`'s file is being released (`file_watch`, under `FILES`, process context): it was
    /// unhooked; it is deleted, off the ready list and uncharged at once, and dropped from the
    /// registry (which frees it) now or by `reap_work`.
    pub(crate) fn file_closed(&self, kn: &Arc<Knote>) {
        let mut ready = self.ready.lock();
        let st = kn.state.access_mut(&mut ready);
        st.deleted = true;
        // The user's charge goes now, as FreeBSD's `knote_fdclose` frees the knote at once.
        let charge = st.charge.take();
        let item = ready.unqueue(kn);
        self.publish(&ready);
        drop(ready);
        drop(item);
        drop(charge);
        // A knote tied to its file alone leaves the registry now if `inner` is free: only
        // tried, as `inner` comes before `FILES` everywhere else and may be held across a user
        // page fault for as long as user space likes (a close() must not wait for that). Its
        // file is gone and it is unhooked, so nothing is left to detach. Any other (a pidfd's
        // knote, also in its process's watch) needs `detach` under `inner`: `reap_work`.
        if kn.ops.tied_to_file_alone() {
            if let Some(mut inner) = self.inner.try_lock() {
                self.leave(&mut inner, kn);
                drop(inner);
                // A `reap_work` that ran while this held `inner` found it taken and left the
                // knotes of earlier closes on `dead` (it cannot reap them here: their
                // `detach` takes `FILES` shards, one of which this close holds).
                self.kick_reaper();
                return;
            }
        }
        // Else `reap_work` (or the next kevent()) drops it. Without memory the knote stays in
        // the registry, inert, until its descriptor number is used again or the kqueue is
        // closed (it is stale: `file` is 0).
        if self.dead.lock().push(kn.clone(), GFP_KERNEL).is_ok() {
            self.has_dead.store(true, ordering::Release);
            self.schedule_reap();
        }
    }

    /// Events pending on this kqueue (EVFILT_READ data of a kqueue watching it): queued knotes
    /// and those a scan is looking at.
    pub(crate) fn pending_count(&self) -> usize {
        self.ready.lock().pending()
    }

    fn has_ready(&self) -> bool {
        self.pending_count() > 0
    }

    // ---------------------------------------------------------------------------------------
    // kevent()

    /// The KQIOC_KEVENT ioctl on `file`. `compat`: the caller is a 32-bit process.
    pub(crate) fn kevent(&self, file: *mut bindings::file, arg: UserPtr, compat: bool) -> Result<isize> {
        if !self.owner.is_current() {
            return Err(EBADF);
        }
        // A close() of the last descriptor that came first (see `flush`): EBADF. One that comes
        // later finds this call asleep (its wait looks at `closing`) or about to return.
        if self.closing.load(ordering::Acquire) {
            return Err(EBADF);
        }
        let args: KqKeventArgs = user_io::read_args(arg)?;
        if args.flags & !abi::KQ_KEVENT_KQFD != 0 || args.nchanges < 0 || args.nevents < 0 {
            return Err(EINVAL);
        }
        // The caller may name the descriptor it issues the ioctl on (ABI check only: no race
        // with close() needs it since `flush` searches the descriptor table).
        if args.flags & abi::KQ_KEVENT_KQFD != 0
            && !u32::try_from(args.kqfd).is_ok_and(|fd| descriptor::descriptor_names(fd, file))
        {
            return Err(EBADF);
        }
        let timeout = match args.timeout {
            0 => None,
            p => Some(user_io::read_timespec(UserPtr::from_addr(p as usize))?),
        };
        let mut sink = EventSink {
            base: UserPtr::from_addr(args.eventlist as usize),
            capacity: args.nevents as usize,
            written: 0,
        };
        self.apply_changes(&args, &mut sink, compat)?;
        if sink.written > 0 || sink.capacity == 0 {
            return Ok(sink.written as isize);
        }
        let deadline = deadline_ns(timeout)?;
        self.collect(&mut sink, deadline)?;
        Ok(sink.written as isize)
    }

    /// Applies the changelist in order (FreeBSD `kqueue_kevent`). Failed changes, and every
    /// change with EV_RECEIPT, produce an EV_ERROR record while `sink` has room; a failure with
    /// no room left ends the call with that errno and leaves later changes unapplied.
    ///
    /// Descriptor knotes added or changed whose hooking poll did not settle their condition
    /// (`finish_register`) are evaluated after the batch, without `inner`: their
    /// files' locks (a pipe's mutex, a socket's lock) may be held across page faults by
    /// readers and writers, and /proc fdinfo takes `inner` under the seq_file lock, which a
    /// splice into a pipe takes under the pipe's mutex.
    fn apply_changes(&self, args: &KqKeventArgs, sink: &mut EventSink, compat: bool) -> Result {
        if args.nchanges == 0 && !self.has_dead.load(ordering::Relaxed) {
            return Ok(());
        }
        let mut inner = None;
        let res = self.apply_changes_locked(&mut inner, args, sink, compat);
        let to_evaluate = match inner.as_mut() {
            Some(guard) if !guard.to_evaluate.is_empty() => {
                Some(core::mem::replace(&mut guard.to_evaluate, KnoteVec::new()))
            }
            _ => None,
        };
        drop(inner);
        self.kick_reaper();
        if let Some(list) = to_evaluate {
            self.evaluate_all_registered(list);
        }
        res
    }

    /// `evaluate_registered` for each knote of a changelist's deferred list. Out of line: a
    /// loop here, inlined, had its invariant addresses computed and spilled before every
    /// changelist, also those that defer nothing (a trigger paid 22 instructions for it).
    #[inline(never)]
    fn evaluate_all_registered(&self, list: KnoteVec<DEFERRED_INLINE>) {
        for kn in list.iter() {
            self.evaluate_registered(kn);
        }
    }

    /// `inner` is taken on the first change that needs it (a NOTE_TRIGGER does not, see
    /// `trigger`) and then held to the end of the changelist.
    fn apply_changes_locked<'a>(
        &'a self,
        inner: &mut Option<MutexGuard<'a, KqInner>>,
        args: &KqKeventArgs,
        sink: &mut EventSink,
        compat: bool,
    ) -> Result {
        if args.nchanges == 0 {
            // Here only for the knotes of released files.
            self.reap_dead(inner.insert(self.inner.lock()));
            return Ok(());
        }
        let base = UserPtr::from_addr(args.changelist as usize);
        for i in 0..args.nchanges as usize {
            let at = base.wrapping_byte_add(i * KEVENT_SIZE);
            let mut slot = MaybeUninit::<KEvent>::uninit();
            let kev = user_io::read_kevent(at, &mut slot)?;
            if kev.filter == 0 {
                continue;
            }
            if compat {
                kev.ident &= u32::MAX as u64;
                kev.udata &= u32::MAX as u64;
            }
            kev.flags &= !abi::EV_SYSFLAGS;
            let res = match self.trigger(kev) {
                Some(res) => res,
                None => {
                    let guard = inner.get_or_insert_with(|| self.inner.lock());
                    // Knotes of files released meanwhile go now, not after the batch: their
                    // charge is already given back, so their memory must not pile up under a
                    // long changelist.
                    self.reap_dead(guard);
                    self.register(guard, kev)
                }
            };
            if res.is_ok() && kev.flags & abi::EV_RECEIPT == 0 {
                continue;
            }
            if sink.room() == 0 {
                return res;
            }
            kev.flags = abi::EV_ERROR;
            kev.data = match res {
                Ok(()) => 0,
                Err(e) => -e.to_errno() as i64,
            };
            sink.put(kev)?;
        }
        Ok(())
    }

    /// After `inner` was released: knotes that died while it was held, and that the reap work
    /// could not take, get the work scheduled again.
    fn kick_reaper(&self) {
        if self.has_dead.load(ordering::Acquire) {
            self.schedule_reap();
        }
    }

    /// Schedules `reap_work`: from `file_closed` (under a `FILES` shard lock), `adopt` (under
    /// the process table's lock) or a kevent() call, all of which release() excludes before it
    /// looks at `reap_armed`.
    fn schedule_reap(&self) {
        self.reap_armed.store(true, ordering::Relaxed);
        // SAFETY: The work item is initialised and lives as long as the kqueue; release()
        // cancels it after the last kevent() call and the last knote are gone.
        unsafe { helper::kq_schedule_work(self.reap_work.get()) };
    }

    /// Drops the knotes whose file was released (see `file_closed`) and enters the knotes
    /// NOTE_TRACK created in the registry (see `tracked`).
    #[inline(always)]
    fn reap_dead(&self, inner: &mut KqInner) {
        if self.has_dead.load(ordering::Acquire) {
            self.reap_dead_now(inner);
        }
    }

    #[cold]
    fn reap_dead_now(&self, inner: &mut KqInner) {
        self.has_dead.store(false, ordering::Relaxed);
        let dead = core::mem::take(&mut *self.dead.lock());
        for kn in dead.iter() {
            self.drop_knote(inner, kn);
        }
        let tracked = core::mem::take(&mut *self.tracked.lock());
        for kn in tracked.iter() {
            self.enter_tracked(inner, kn);
        }
    }

    /// Runs `f` on the registry of `filter`'s knotes (`index` or `user_index`) under `index`.
    fn with_registry<R>(&self, filter: i16, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut index = self.index.lock();
        if filter == abi::EVFILT_USER {
            // SAFETY: `index` is held, which guards `user_index`'s changes, until `f` returns.
            f(unsafe { self.user_index.locked() })
        } else {
            f(&mut index)
        }
    }

    /// The registered knote for `key`. A miss in a tree is remembered by it, so that the
    /// `enter` of a new knote of that key that follows (`add`) needs no second walk.
    fn find(&self, inner: &mut KqInner, key: &KnoteKey) -> Option<Arc<Knote>> {
        if filter::is_descriptor_filter(key.filter) {
            return inner.fds.get(key).map(Arc::from);
        }
        self.with_registry(key.filter, |r| r.find(key).map(Arc::from))
    }

    /// Enters `kn` in the registry (`inner` held; nothing is registered under its key).
    /// ENOMEM if the descriptor table cannot grow to its descriptor.
    fn enter(&self, inner: &mut KqInner, kn: &Arc<Knote>) -> Result {
        if kn.on_descriptor {
            return inner.fds.insert(kn.clone(), &self.account);
        }
        let taken = self.with_registry(kn.key.filter, |r| r.insert(kn.clone()));
        // Never (see above); the reference is dropped outside the lock.
        taken.map_err(|_| EEXIST)
    }

    /// Takes `kn` out of the registry if it is the registered one (`inner` held).
    fn leave(&self, inner: &mut KqInner, kn: &Arc<Knote>) {
        let reference = if kn.on_descriptor {
            inner.fds.remove(kn)
        } else {
            self.with_registry(kn.key.filter, |r| r.remove(kn))
        };
        if let Some(reference) = reference {
            self.put_registered(reference);
        }
    }

    /// EV_DELETE's look-up and removal in one hold of `index` (`inner` held): the knote
    /// registered under `key`, with the registry's reference, if it is not a stale descriptor
    /// knote (one whose descriptor no longer names its file: `register` handles those, and
    /// every other case, the long way). The caller retires it, then `put_registered`s it.
    fn take_registered(&self, inner: &mut KqInner, key: &KnoteKey) -> Option<Arc<Knote>> {
        if filter::is_descriptor_filter(key.filter) {
            return inner.fds.take(key, |kn| descriptor::still_named(kn));
        }
        self.with_registry(key.filter, |r| r.take(key, |_| true))
    }

    /// Lets go of the registry's reference to a knote that left it.
    fn put_registered(&self, reference: Arc<Knote>) {
        if reference.key.filter == abi::EVFILT_USER {
            // A trigger may be walking past it without locks (`trigger`).
            Knote::put_after_grace_period(reference);
        } else {
            drop(reference);
        }
    }

    /// A NOTE_TRACK knote joins the registry, unless it was already dropped (delivered as
    /// EV_ONESHOT). A knote left there for an earlier process with the same number goes.
    fn enter_tracked(&self, inner: &mut KqInner, kn: &Arc<Knote>) {
        if kn.with_state(|st| st.deleted) {
            return;
        }
        if let Some(old) = self.find(inner, &kn.key) {
            self.drop_knote(inner, &old);
        }
        if self.enter(inner, kn).is_err() {
            self.drop_knote(inner, kn);
        }
    }

    /// A change that touches only an existing knote's state (a NOTE_TRIGGER: a change of an
    /// EVFILT_USER knote without EV_ADD, EV_DELETE, EV_ENABLE, EV_DISABLE, ...), applied under
    /// `ready` alone, so producers never wait behind a scan, each other's changelists or each
    /// other's look-ups (epoll's eventfd writers meet on `ep->lock` only, too). It does what
    /// `register` → `modify` → `finish_register` do for it, calling the user filter directly
    /// (no other filter has such changes). `None`: not such a change (the caller registers it
    /// under `inner`).
    ///
    /// The knote is found by a lockless walk of `user_index` under RCU. One still registered
    /// (not `deleted`, checked under `ready`) is changed at once: the change is ordered before
    /// any EV_DELETE that has not yet marked it. A miss (or a knote deleted meanwhile) is
    /// looked up again under `index`, which sees every finished EV_ADD and EV_DELETE.
    fn trigger(&self, kev: &KEvent) -> Option<Result> {
        if kev.filter != abi::EVFILT_USER || kev.flags & !(abi::EV_RECEIPT | abi::EV_KEEPUDATA) != 0 {
            return None;
        }
        let key = KnoteKey { ident: kev.ident, filter: kev.filter };
        let rcu = kernel::sync::rcu::read_lock();
        if let Some(kn) = self.user_index.get_rcu(&key, &rcu) {
            let mut ready = self.ready.lock();
            if !kn.state.access(&ready).deleted {
                // SAFETY: A reference exists while `ready` is held: a knote of this kqueue not
                // yet `deleted` (under `ready`) is held by the registry, or by the change that
                // took it out and is about to mark it (`drop_knote`, or EV_DELETE's
                // `take_registered`, which holds the registry's own reference until `retire`
                // marked it). And the registry's reference to a user knote is put only after a
                // grace period, which this read-side critical section holds off.
                let kn = unsafe { ArcBorrow::from_raw(kn) };
                let queued = self.touch_user(&mut ready, kn, kev);
                drop(ready);
                drop(rcu);
                if queued {
                    self.wake_for_new_event(false);
                }
                return Some(Ok(()));
            }
        }
        drop(rcu);
        let index = self.index.lock();
        // SAFETY: `index` is held until the look-up's borrow ends (`drop(index)` below).
        let users = unsafe { self.user_index.locked() };
        let Some(kn) = users.get(&key) else {
            return Some(Err(ENOENT));
        };
        let mut ready = self.ready.lock();
        let queued = self.touch_user(&mut ready, kn, kev);
        drop(ready);
        drop(index);
        if queued {
            self.wake_for_new_event(false);
        }
        Some(Ok(()))
    }

    /// A NOTE_TRIGGER's change of the user knote `kn` (`ready` held): its fflags, data and
    /// udata, and queues it if it fired. True if it was queued now.
    #[inline(always)]
    fn touch_user(&self, ready: &mut ReadyInner, kn: ArcBorrow<'_, Knote>, kev: &KEvent) -> bool {
        let st = kn.state.access_mut(ready);
        filter_user::touch_state(st, kev);
        if kev.flags & abi::EV_KEEPUDATA == 0 {
            st.kevent.udata = kev.udata;
        }
        let fired = !st.disabled && filter_user::triggered(st);
        (st.active || fired) && self.activate_locked(ready, kn)
    }

    /// One change (FreeBSD `kqueue_register`).
    fn register(&self, inner: &mut KqInner, kev: &KEvent) -> Result {
        let ops = filter::lookup(kev.filter)?;
        if kev.flags & (abi::EV_ENABLE | abi::EV_DISABLE) == abi::EV_ENABLE | abi::EV_DISABLE {
            return Err(EINVAL);
        }
        let key = KnoteKey { ident: kev.ident, filter: kev.filter };
        if kev.flags & abi::EV_DELETE != 0 {
            if let Some(kn) = self.take_registered(inner, &key) {
                self.retire(inner, &kn);
                self.put_registered(kn);
                return Ok(());
            }
        }
        let mut found = self.find(inner, &key);
        // Descriptor filters: the descriptor must be open (EBADF before anything else). A knote
        // whose descriptor still names its file needs no reference to it (a change or deletion
        // of a registered descriptor: one lookup under RCU, no `fget`); else the descriptor's
        // file is taken, and a knote registered for another file is stale and goes.
        let mut file = None;
        if ops.on_descriptor() && !found.as_ref().is_some_and(|kn| descriptor::still_named(kn)) {
            let f = FileRef::of_ident(kev.ident, ops.takes_path_descriptors())?;
            if let Some(kn) = found.take() {
                self.drop_knote(inner, &kn);
            }
            file = Some(f);
        }
        let kn = match found {
            Some(kn) => kn,
            None if kev.flags & abi::EV_ADD == 0 => return Err(ENOENT),
            None if kev.flags & abi::EV_KEEPUDATA != 0 => return Err(EINVAL),
            None => return self.add(inner, kev, ops, file.as_ref()),
        };
        if kev.flags & abi::EV_DELETE != 0 {
            self.drop_knote(inner, &kn);
            return Ok(());
        }
        if kev.flags & abi::EV_FORCEONESHOT != 0 {
            let mut ready = self.ready.lock();
            kn.state.access_mut(&mut ready).kevent.flags |= abi::EV_ONESHOT;
            let queued = self.activate_locked(&mut ready, kn.as_arc_borrow());
            drop(ready);
            if queued {
                self.wake_for_new_event(false);
            }
            return Ok(());
        }
        self.modify(inner, &kn, kev)?;
        self.finish_register(inner, &kn, kev, None);
        Ok(())
    }

    /// EV_ADD of a new knote: the filter prepares it, it is charged, attached to its source
    /// (`f_attach`), entered in the registry and evaluated.
    fn add(
        &self,
        inner: &mut KqInner,
        kev: &KEvent,
        ops: &'static dyn FilterOps,
        file: Option<&FileRef>,
    ) -> Result {
        let init = ops.prepare(self, kev, file)?;
        let charge = self.account.charge(Resource::Knote)?;
        let kn = Knote::new(self, kev, ops, init, charge, GFP_KERNEL_ACCOUNT)?;
        let known = match ops.attach(&kn, kn.reg.access_mut(inner), kev, file) {
            Ok(known) => known,
            Err(e) => {
                self.drop_knote(inner, &kn);
                return Err(e);
            }
        };
        if let Err(e) = self.enter(inner, &kn) {
            self.drop_knote(inner, &kn);
            return Err(e);
        }
        // A late knote whose source said its condition cannot hold (an idle pipe) needs
        // nothing more: `Knote::new` set its udata and disabled state as `finish_register`
        // would, and a wake-up since has queued it anyway.
        if kn.evaluated_late && known == Some(false) {
            return Ok(());
        }
        self.finish_register(inner, &kn, kev, known);
        Ok(())
    }

    /// Evaluates a late-evaluated knote just added or changed (no lock held) and queues it if
    /// its condition holds.
    fn evaluate_registered(&self, kn: &Arc<Knote>) {
        // A stale knote (its descriptor closed meanwhile) is dropped by the next change or scan.
        let (sfflags, sdata) = {
            let ready = self.ready.lock();
            let st = kn.state.access(&ready);
            (st.sfflags, st.sdata)
        };
        let Verdict::Eval(ev) = kn.ops.evaluate(kn, sfflags, sdata) else { return };
        let mut ready = self.ready.lock();
        let st = kn.state.access_mut(&mut ready);
        if st.deleted {
            return;
        }
        filter::store(st, &ev);
        let queued = !st.disabled && ev.active && self.activate_locked(&mut ready, kn.as_arc_borrow());
        drop(ready);
        if queued {
            self.wake_for_new_event(false);
        }
    }

    /// A change to an existing knote: the filter's `f_touch` (udata follows in
    /// `finish_register`, unless EV_KEEPUDATA, once the change was accepted).
    fn modify(&self, inner: &mut KqInner, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        kn.ops.touch(kn, kn.reg.access_mut(inner), kev)
    }

    /// Takes `kn` off the ready list and runs `reset` on its state, under `ready` (a filter
    /// restarting its source, as a re-added timer).
    pub(crate) fn reset_knote(&self, kn: &Knote, reset: impl FnOnce(&mut KnoteState)) {
        let mut ready = self.ready.lock();
        let item = ready.unqueue(kn);
        self.publish(&ready);
        reset(kn.state.access_mut(&mut ready));
        drop(ready);
        drop(item);
    }

    /// Common tail of EV_ADD and modification: udata (unless EV_KEEPUDATA), EV_DISABLE/EV_ENABLE
    /// (EV_ADD enables), then re-evaluate the condition and queue if it holds. `known`: what
    /// the new knote's `attach` learnt of its condition (`None` for a modification).
    fn finish_register(&self, inner: &mut KqInner, kn: &Arc<Knote>, kev: &KEvent, known: Known) {
        let late = kn.evaluated_late;
        let mut ready = self.ready.lock();
        let st = kn.state.access_mut(&mut ready);
        if kev.flags & abi::EV_KEEPUDATA == 0 {
            st.kevent.udata = kev.udata;
        }
        if kev.flags & abi::EV_DISABLE != 0 {
            st.disabled = true;
        } else if kev.flags & (abi::EV_ENABLE | abi::EV_ADD) != 0 {
            st.disabled = false;
        }
        // The file's poll, answered as the knote was hooked, may already say whether the
        // condition holds. If not (an idle pipe or socket), nothing is evaluated now: a wake-up
        // since has queued the knote for the scan anyway. If it does (data waiting, room to
        // write), the knote is queued below and the scan evaluates it before it reports it, as
        // every queued late knote (`look_at`), so `data` is computed once, when collected.
        match late.then_some(known) {
            None | Some(Some(true)) => {}
            Some(Some(false)) => return,
            Some(None) => {
                drop(ready);
                // Evaluated after the changelist, without `inner` (see `apply_changes`); when
                // the list is full, the knote is queued instead and the scan evaluates it (and
                // drops it if false).
                if defer(&mut inner.to_evaluate, kn) {
                    return;
                }
                ready = self.ready.lock();
            }
        }
        let queued = self.queue_if_reportable(&mut ready, kn.as_arc_borrow());
        drop(ready);
        if queued {
            self.wake_for_new_event(false);
        }
    }

    /// After a change (`finish_register`, `trigger`): queues `kn` if it is enabled and active
    /// or its filter now says it is to be reported; returns whether it was newly queued (the
    /// caller wakes a waiter after unlocking).
    fn queue_if_reportable(&self, ready: &mut ReadyInner, kn: ArcBorrow<'_, Knote>) -> bool {
        let st = kn.state.access_mut(ready);
        let fired = !st.disabled && kn.ops.event(st);
        (st.active || fired) && self.activate_locked(ready, kn)
    }

    /// Removes `kn` from the registry (if it is the registered one), the ready list and its
    /// event source (the filter's `f_detach`), and gives back its unit of the user's cap.
    fn drop_knote(&self, inner: &mut KqInner, kn: &Arc<Knote>) {
        self.leave(inner, kn);
        self.retire(inner, kn);
    }

    /// `drop_knote` for a knote already out of the registry (`inner` held): marks it deleted,
    /// takes it off the ready list, gives back its unit of the cap and detaches it.
    fn retire(&self, inner: &mut KqInner, kn: &Arc<Knote>) {
        let mut ready = self.ready.lock();
        ready.mark_deleted(kn);
        self.publish(&ready);
        drop(ready);
        kn.ops.detach(kn, kn.reg.access_mut(inner));
    }

    /// `retire` for every knote of a drained registry (release()), `RELEASE_BATCH` at a time
    /// under one hold of `ready` (one irq-off section per batch, not per knote), then each is
    /// detached.
    fn retire_all(&self, inner: &mut KqInner, mut knotes: impl Iterator<Item = Arc<Knote>>) {
        loop {
            let mut batch = KnoteVec::<RELEASE_BATCH>::new();
            while batch.len() < RELEASE_BATCH {
                let Some(kn) = knotes.next() else { break };
                // Below its inline capacity a `KnoteVec` never allocates, so never fails.
                let _ = batch.push(kn, GFP_KERNEL);
            }
            if batch.is_empty() {
                return;
            }
            let mut ready = self.ready.lock();
            for kn in batch.iter() {
                ready.mark_deleted(kn);
            }
            self.publish(&ready);
            drop(ready);
            for kn in batch.iter() {
                kn.ops.detach(kn, kn.reg.access_mut(inner));
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Scan and wait.

    /// Collects events into `sink`, sleeping until `deadline` (FreeBSD `kqueue_scan`). Inlined
    /// into its one caller: a call less per kevent().
    #[inline(always)]
    fn collect(&self, sink: &mut EventSink, mut deadline: Deadline) -> Result {
        loop {
            // The one call of `scan` (inlined too): after a timeout, one last pass (`Poll`).
            self.scan(sink)?;
            if sink.written > 0 {
                return Ok(());
            }
            let deadline_ns = match deadline {
                Deadline::Poll => return Ok(()),
                Deadline::Never => None,
                Deadline::At(ns) => Some(ns),
            };
            // No timer slack: kevent() timeouts are precise to the hrtimer's resolution.
            let slack = 0;
            let closing = || self.closing.load(ordering::Acquire);
            match self.waiters.wait_until(deadline_ns, slack, || closing() || self.has_ready()) {
                WakeReason::Signal => return Err(EINTR),
                _ if closing() => return Err(EBADF),
                WakeReason::TimedOut => deadline = Deadline::Poll,
                WakeReason::Woken => {}
            }
        }
    }

    /// One pass over the ready list (FreeBSD `kqueue_scan`): reports up to `sink.room()` events.
    /// Every knote the pass settles is stamped with it (level-triggered ones go back to the
    /// tail), and the pass ends at the first stamped knote, so none is reported twice in one
    /// call. One hold of `ready` per knote takes it and decides its fate (two for a descriptor
    /// knote, evaluated in between without locks), except where several knotes whose condition
    /// is known under `ready` come in a row: up to `SCAN_BATCH` of them are settled under one
    /// hold (`settle_batch`), their records copied out together after it, as epoll's
    /// `ep_send_events` does its list. See the module comment for the states and locks.
    /// Inlined into `collect`, its one caller.
    #[inline(always)]
    fn scan(&self, sink: &mut EventSink) -> Result {
        // Lockless look first (a waiter re-checks under the lock before it sleeps).
        if self.pending_hint.load(ordering::Relaxed) == 0 {
            return Ok(());
        }
        let mut scan = self.scan.lock();
        scan.pass = scan.pass.wrapping_add(1);
        let pass = scan.pass;
        let mut inner = Some(self.inner.lock());
        let (result, more) = loop {
            let mut ready = self.ready.lock();
            // Several knotes queued and room for several records: a run of knotes whose
            // condition `ready` knows is settled in a batch under one hold of `ready`; a run of
            // descriptor knotes is evaluated in a row and settled in one batch.
            if sink.room() > 1 && ready.queued > 1 {
                if let Some(kind) = ready.run_at_front(pass) {
                    match self.settle_run(kind, ready, pass, &mut inner, sink) {
                        Step::Stop(result, more) => break (result, more),
                        Step::Go => continue,
                    }
                }
            }
            // Anything else (one such knote, a knote evaluated late or tied to a descriptor, or
            // nothing), one at a time.
            let taken = match sink.room() {
                0 => None,
                _ => ready.take_into_flux(pass),
            };
            let Some(item) = taken else { break (Ok(()), ready.queued > 0) };
            if let Step::Stop(result, more) = self.look_at(item, pass, ready, &mut inner, sink) {
                break (result, more);
            }
        };
        drop(inner);
        drop(scan);
        self.kick_reaper();
        if more && self.waiters.has_waiters() {
            // Level-triggered events stay queued, or this call had no room for some: pass them
            // on to the next sleeper (epoll's `ep_done_scan`).
            self.waiters.wake_one();
        }
        result
    }

    /// `look_at` for a knote whose condition `ready` knows (see `take_simple_into_flux`), under
    /// `ready`, which it keeps: its record and the reference the list gives back wait in
    /// `batch` until the lock is dropped (`finish_batch`).
    #[inline(always)]
    fn settle_simple(&self, item: ListArc<Knote>, pass: u64, ready: &mut ReadyInner, batch: &mut Batch) {
        let st = item.state.access_mut(ready);
        let next = deliver(item.ops, st, batch.next_record());
        if next.is_some() {
            batch.count_record();
        }
        batch.count_settled();
        batch.settle(ready, item, pass, next);
    }

    /// Settles a run of knotes of one `kind` at the front of the list in one batch
    /// (`settle_batch` or `settle_late_batch`). Out of line, the one call of both: their
    /// batches (650 bytes and more) stay out of the ioctl's frame, and the one-knote path
    /// out of their registers.
    #[inline(never)]
    fn settle_run<'a>(
        &'a self,
        kind: RunKind,
        ready: IrqSpinLockGuard<'a, ReadyInner>,
        pass: u64,
        inner: &mut Option<MutexGuard<'a, KqInner>>,
        sink: &mut EventSink,
    ) -> Step {
        match kind {
            RunKind::Simple => self.settle_batch(ready, pass, inner, sink),
            RunKind::Late => self.settle_late_batch(ready, pass, inner, sink),
        }
    }

    /// Settles up to `SCAN_BATCH` knotes whose condition `ready` knows (`settle_simple`) under
    /// the one hold of `ready` it is given and releases, then finishes the batch: `look_at`
    /// for several knotes at once.
    #[inline(always)]
    fn settle_batch<'a>(
        &'a self,
        mut ready: IrqSpinLockGuard<'a, ReadyInner>,
        pass: u64,
        inner: &mut Option<MutexGuard<'a, KqInner>>,
        sink: &mut EventSink,
    ) -> Step {
        let mut batch = Batch::new();
        while batch.settled < SCAN_BATCH && sink.room() > batch.reported {
            let Some(item) = ready.take_simple_uncounted(pass) else { break };
            self.settle_simple(item, pass, &mut ready, &mut batch);
        }
        ready.count_taken(batch.settled);
        self.end_batch(ready, pass, &mut batch, inner, sink)
    }

    /// `look_at` for a run of enabled late-evaluated knotes (descriptor readiness, see
    /// `late_at_front`): up to `SCAN_BATCH` of them (and no more than the records the sink has
    /// room for) are taken into flux under the one hold of `ready` it is given, evaluated one
    /// after the other with no lock of ours held (each takes its file's own locks, as in
    /// `look_at`), then settled under one hold of `inner` and of `ready`, their records copied
    /// out together (`finish_batch`). A knote woken or changed while it was being evaluated is
    /// settled as `look_at` settles it (`deliver_fd` reads its state under `ready`).
    #[inline(always)]
    fn settle_late_batch<'a>(
        &'a self,
        mut ready: IrqSpinLockGuard<'a, ReadyInner>,
        pass: u64,
        inner: &mut Option<MutexGuard<'a, KqInner>>,
        sink: &mut EventSink,
    ) -> Step {
        let mut run = LateRun::new();
        let room = sink.room().min(SCAN_BATCH);
        let mut taken = 0usize;
        for (slot, interest) in run.items[..room].iter_mut().zip(run.interest.iter_mut()) {
            let Some(item) = ready.take_late_uncounted(pass) else { break };
            let st = item.state.access_mut(&mut ready);
            // A wake-up during the evaluation sets `active` again, a change `retouched`
            // (`deliver_fd` looks).
            st.active = false;
            st.retouched = false;
            *interest = (st.sfflags, st.sdata);
            slot.write(item);
            // At most `room <= SCAN_BATCH` times.
            taken = taken.wrapping_add(1);
        }
        ready.count_taken(taken);
        drop(ready);
        drop(inner.take());
        let evaluated = run.items[..taken].iter().zip(run.interest.iter()).zip(run.verdicts.iter_mut());
        for ((slot, &(sfflags, sdata)), verdict) in evaluated {
            // SAFETY: `items[..taken]` were written above and are not taken until the loop
            // below.
            let item = unsafe { slot.assume_init_ref() };
            verdict.write(item.ops.evaluate(item, sfflags, sdata));
        }
        let guard = inner.insert(self.inner.lock());
        self.reap_dead(guard);
        let mut ready = self.ready.lock();
        let mut batch = Batch::new();
        for (slot, verdict) in run.items[..taken].iter().zip(run.verdicts.iter()) {
            // SAFETY: Both were written above, for every slot below `taken`, and each is read
            // once, here.
            let (item, verdict) = unsafe { (slot.assume_init_read(), verdict.assume_init_read()) };
            let st = item.state.access_mut(&mut ready);
            let decided = match &verdict {
                Verdict::Stale => Some((false, After::Drop)),
                Verdict::Eval(ev) => deliver_fd(st, ev, batch.next_record()),
            };
            batch.count_settled();
            let next = decided.map(|(reported, next)| {
                if reported {
                    batch.count_record();
                }
                next
            });
            batch.settle(&mut ready, item, pass, next);
        }
        self.end_batch(ready, pass, &mut batch, inner, sink)
    }

    /// The end of either batch, under the `ready` it is given and releases: its settled
    /// knotes counted (every knote it took, counted by `count_taken`), whether the pass ends
    /// (the records fill the sink, or nothing unstamped is queued) and whether knotes stay
    /// queued, then `finish_batch`. The batch by reference: moved, its 650 bytes would be
    /// copied.
    #[inline(always)]
    fn end_batch<'a>(
        &'a self,
        mut ready: IrqSpinLockGuard<'a, ReadyInner>,
        pass: u64,
        batch: &mut Batch,
        inner: &mut Option<MutexGuard<'a, KqInner>>,
        sink: &mut EventSink,
    ) -> Step {
        ready.count_settled(batch.settled, batch.requeued);
        let last = sink.room() == batch.reported || !ready.has_unstamped(pass);
        let more = ready.queued > 0;
        self.publish(&ready);
        drop(ready);
        let result = self.finish_batch(batch, inner, sink);
        match last || result.is_err() {
            true => Step::Stop(result, more),
            false => Step::Go,
        }
    }

    /// After a batch (`ready` dropped, `inner` held, as since the decisions): its records are
    /// copied out, its references put and its EV_ONESHOT knotes dropped; it is left empty.
    /// Inlined into both kinds of batch (a call of its own cost `pending8` 48 instructions).
    #[inline(always)]
    fn finish_batch(&self, batch: &mut Batch, inner: &mut Option<MutexGuard<'_, KqInner>>, sink: &mut EventSink) -> Result {
        let result = sink.put_all(batch.records());
        batch.reported = 0;
        batch.settled = 0;
        batch.requeued = 0;
        let n = core::mem::replace(&mut batch.released_n, 0);
        for slot in &mut batch.released[..n] {
            // SAFETY: The slots below the count were written by `release`; the count is reset
            // (so `Batch`'s drop skips them) and each slot is read once.
            let (kn, doomed) = unsafe { slot.assume_init_read() };
            if doomed {
                if let Some(guard) = inner.as_mut() {
                    self.drop_knote(guard, &kn);
                }
            }
        }
        result
    }

    /// Settles one knote the scan took into flux (under `ready`, which it releases): reports it
    /// into `sink` if its condition holds, then puts it back on the list, lets it go or drops
    /// it, and says whether the pass goes on. `inner` is held on entry and on return; a
    /// descriptor knote is evaluated without it (see `apply_changes`) and without `ready`.
    fn look_at<'a>(
        &'a self,
        item: ListArc<Knote>,
        pass: u64,
        mut ready: IrqSpinLockGuard<'a, ReadyInner>,
        inner: &mut Option<MutexGuard<'a, KqInner>>,
        sink: &mut EventSink,
    ) -> Step {
        let st = item.state.access_mut(&mut ready);
        let late = item.evaluated_late;
        let verdict = if late && !st.disabled && !st.deleted {
            // A wake-up during the evaluation sets `active` again, a change `retouched`
            // (`deliver_fd` looks).
            st.active = false;
            st.retouched = false;
            let (sfflags, sdata) = (st.sfflags, st.sdata);
            drop(ready);
            drop(inner.take());
            let verdict = item.ops.evaluate(&item, sfflags, sdata);
            let guard = inner.insert(self.inner.lock());
            self.reap_dead(guard);
            ready = self.ready.lock();
            Some(verdict)
        } else if !late && item.on_descriptor {
            // A descriptor knote whose events come from elsewhere (a vnode's inode, a pidfd's
            // process) is reported only while its descriptor still names its file.
            drop(ready);
            let named = descriptor::still_named(&item);
            ready = self.ready.lock();
            (!named).then_some(Verdict::Stale)
        } else {
            None
        };
        let st = item.state.access_mut(&mut ready);
        let stale = matches!(verdict, Some(Verdict::Stale));
        let mut record = MaybeUninit::<KEvent>::uninit();
        let decided = match &verdict {
            Some(Verdict::Stale) => None,
            Some(Verdict::Eval(ev)) => deliver_fd(st, ev, &mut record),
            None => deliver(item.ops, st, &mut record).map(|next| (true, next)),
        };
        let (reported, next) = match decided {
            Some(d) => d,
            None => (false, if stale { After::Drop } else { After::Done }),
        };
        // (knote to drop from the registry, reference to let go)
        let (doomed, gone) = match next {
            After::Requeue => {
                ready.requeue_from_flux(item, pass);
                (None, None)
            }
            After::Done => (None, Some(ready.release_from_flux(item, pass))),
            After::Drop => (Some(ready.release_from_flux(item, pass)), None),
        };
        // The pass ends when this record fills the sink or nothing unstamped is queued.
        let full = reported && sink.room() == 1;
        let last = full || !ready.has_unstamped(pass);
        let more = ready.queued > 0;
        self.publish(&ready);
        drop(ready);
        drop(gone);
        if let Some(kn) = doomed {
            // `inner` is held again here (taken back after any evaluation).
            if let Some(guard) = inner.as_mut() {
                self.drop_knote(guard, &kn);
            }
        }
        let result = match reported {
            // SAFETY: `deliver` and `deliver_fd` write the record whenever they report one.
            true => sink.put(unsafe { record.assume_init_ref() }),
            false => Ok(()),
        };
        match last || result.is_err() {
            true => Step::Stop(result, more),
            false => Step::Go,
        }
    }

    // ---------------------------------------------------------------------------------------
    // File operations other than ioctl.

    /// poll/select/epoll on the kqueue fd: readable while events are pending.
    ///
    /// # Safety
    ///
    /// `file` and `table` are the arguments of the running `poll` file operation.
    pub(crate) unsafe fn poll(&self, file: *mut bindings::file, table: *mut bindings::poll_table) -> u32 {
        self.polled.store(true, ordering::Relaxed);
        // SAFETY: Guaranteed by the caller.
        unsafe { self.pollers.poll_wait(file, table) };
        if self.has_ready() {
            bindings::POLLIN | bindings::POLLRDNORM
        } else {
            0
        }
    }

    /// A descriptor of the kqueue is being closed (`flush`, after it left the descriptor
    /// table). When it was the owner process's last one, threads inside kevent() leave with
    /// EBADF, as FreeBSD's kqueue_close does. References held elsewhere do not count: other
    /// processes (a fork child, a receiver of an `SCM_RIGHTS` copy) cannot use the kqueue, and a
    /// transient one (a /proc
    /// fdinfo read, another kqueue or an epoll evaluating this one) is not a descriptor. Only
    /// when the file has references beyond the closer's (a dup, a thread inside kevent(), one
    /// of the references above) is the descriptor table searched, O(descriptors): closing a
    /// kqueue while another thread of a multi-threaded program sleeps in it pays that once, so
    /// that kevent() itself counts nothing. A thread inside kevent() that looked at `closing`
    /// before it was set sees it in its wait (or returns what it found).
    pub(crate) fn flush(&self, file: *mut bindings::file) {
        if !self.owner.is_current() {
            return;
        }
        // SAFETY: `file` is the file being flushed, alive for the duration of the call.
        let refs = unsafe { helper::kq_file_count(file) };
        // SAFETY: As above; searches the calling task's own descriptor table.
        if refs > 1 && unsafe { helper::kq_current_files_hold(file) } {
            return; // a dup of it is still open in this process
        }
        self.closing.store(true, ordering::Release);
        self.waiters.wake_all();
    }

    /// The last reference to the file is gone: tear everything down.
    pub(crate) fn release(&self) {
        self.closing.store(true, ordering::Release);
        let mut inner = self.inner.lock();
        // The whole registry at once (nothing adds to it: no kevent() runs, and additions hold
        // `inner`), walked outside `index`; its knotes are out of it already (`retire`).
        // No trigger walks `user_index` either (triggers are kevent() calls): its references
        // go at once. An empty tree costs no walk (most kqueues closed have one or two kinds).
        let mut index = self.index.lock();
        // SAFETY: `index` is held until the borrow ends (`drop(index)` below).
        let users = unsafe { self.user_index.locked() };
        let others = (!index.is_empty()).then(|| index.drain());
        let users = (!users.is_empty()).then(|| users.drain());
        drop(index);
        if inner.fds.slots() != 0 {
            let fds = inner.fds.drain();
            self.retire_all(&mut inner, fds);
        }
        if let Some(drained) = others {
            self.retire_all(&mut inner, drained);
        }
        if let Some(drained) = users {
            self.retire_all(&mut inner, drained);
        }
        // NOTE_TRACK knotes not yet adopted: each may have tracked more children meanwhile.
        // A probe adds to `tracked` under the process table's lock, so once the table lock was
        // taken after the last one was dropped, none can come.
        while self.watched_processes.load(ordering::Relaxed) {
            let tracked = core::mem::take(&mut *self.tracked.lock());
            if tracked.is_empty() {
                proc_watch::quiesce();
                if self.tracked.lock().is_empty() {
                    break;
                }
                continue;
            }
            for kn in tracked.iter() {
                self.drop_knote(&mut inner, kn);
            }
        }
        // Every knote is unhooked and out of `FILES`: no more hand-overs, no more wake-ups.
        *self.dead.lock() = LazyVec::new();
        drop(inner);
        // A work item never scheduled needs no cancelling (most kqueues: `poll_work` is only
        // scheduled once the kqueue was polled, `reap_work` once a knote died by a close or a
        // NOTE_TRACK child was adopted; both flags were set before, under locks this function
        // took since, or by calls that cannot run any more).
        // SAFETY: The work items are initialised; nothing schedules them any more (no knote
        // is hooked or in `FILES`).
        unsafe {
            if self.polled.load(ordering::Relaxed) {
                bindings::cancel_work_sync(self.poll_work.get());
            }
            if self.reap_armed.load(ordering::Relaxed) {
                bindings::cancel_work_sync(self.reap_work.get());
            }
        }
        if self.polled.load(ordering::Relaxed) {
            self.pollers.wake_pollfree();
            // SAFETY: Waits for RCU readers that may still look at `pollers` (POLLFREE protocol).
            unsafe { bindings::synchronize_rcu() };
        }
        for (i, held) in self.close_marks_held.iter().enumerate() {
            if held.load(ordering::Relaxed) {
                // SAFETY: `hold_close_mark` took this hold; it is dropped once.
                unsafe { helper::kq_close_watch_unhold(i as c_int) };
            }
        }
        UserAccount::close(&self.account);
    }

    /// Lines for /proc/<pid>/fdinfo/<kq>: the size of the descriptor table (`fd_table:
    /// slots=N`, 8 bytes each), then one line per knote: descriptor knotes by descriptor,
    /// then the others by ident (EVFILT_USER's last). `last_data` is the data as of the
    /// knote's last evaluation or event (descriptor filters are evaluated at kevent() time,
    /// never from here: that would take the watched file's locks under `inner`).
    pub(crate) fn show_fdinfo(&self, m: &kernel::seq_file::SeqFile) {
        let inner = self.inner.lock();
        let index = self.index.lock();
        let show = |kn: &Knote| {
            let ready = self.ready.lock();
            let st = kn.state.access(&ready);
            let (flags, fflags, data, active, disabled) =
                (st.kevent.flags, st.sfflags, st.kevent.data, st.active, st.disabled);
            drop(ready);
            kernel::seq_print!(
                m,
                "knote: ident={} filter={} flags={:#x} fflags={:#x} last_data={} active={} disabled={}\n",
                kn.key.ident, kn.key.filter, flags, fflags, data, active as u8, disabled as u8
            );
        };
        kernel::seq_print!(m, "fd_table: slots={}\n", inner.fds.slots());
        inner.fds.for_each(show);
        index.for_each(show);
        // SAFETY: `index` is held until the walk ends (`drop(index)` below).
        unsafe { self.user_index.locked() }.for_each(show);
        drop(index);
        drop(inner);
        self.kick_reaper();
    }
}

/// Whether a scan pass goes on after settling a knote.
enum Step {
    /// Look at the next queued knote.
    Go,
    /// The pass is over: its result, and whether knotes stay queued (for the next sleeper).
    Stop(Result, bool),
}

/// Knotes a scan settles under one hold of `ready`, at most (`Batch`): interrupts stay off for
/// this many `deliver`s, and their records wait on the stack (512 bytes).
const SCAN_BATCH: usize = 8;

/// What a scan settled under one hold of `ready` (knotes whose condition is known there), for
/// after the lock (`KQueue::finish_batch`): the records, copied out in one go as epoll copies
/// its list's, and the references the ready list gave back, put after unlocking (the last
/// one may free a knote) with the EV_ONESHOT knotes dropped from the registry. `inner` is held
/// from the decisions to the copy, as for a knote settled alone (no record after EV_DELETE).
struct Batch {
    records: [MaybeUninit<KEvent>; SCAN_BATCH],
    /// `records[..reported]` are written.
    reported: usize,
    /// The list's references given back, each with whether its knote goes (EV_ONESHOT).
    released: [MaybeUninit<(Arc<Knote>, bool)>; SCAN_BATCH],
    /// `released[..released_n]` are written.
    released_n: usize,
    /// Knotes settled (reported or not; at least `reported` and `released_n`).
    settled: usize,
    /// Of those, knotes put back on the list (`put_back`); the others are in `released`.
    requeued: usize,
}

impl Batch {
    #[inline(always)]
    fn new() -> Self {
        Batch {
            records: [const { MaybeUninit::uninit() }; SCAN_BATCH],
            reported: 0,
            released: [const { MaybeUninit::uninit() }; SCAN_BATCH],
            released_n: 0,
            settled: 0,
            requeued: 0,
        }
    }

    /// Where the next record goes. Called only for a knote not yet counted in `settled`,
    /// which is below `SCAN_BATCH` then (both batches stop there); `reported <= settled`.
    fn next_record(&mut self) -> &mut MaybeUninit<KEvent> {
        debug_assert!(self.reported < SCAN_BATCH);
        // SAFETY: `reported <= settled < SCAN_BATCH` (above): in bounds. Unchecked, as the
        // counts below: a batch's bookkeeping is paid per event (`pipe8`, `pending8`).
        unsafe { self.records.get_unchecked_mut(self.reported) }
    }

    /// A record was written at `next_record` for the knote being settled.
    fn count_record(&mut self) {
        // `reported <= settled < SCAN_BATCH`: no overflow.
        self.reported = self.reported.wrapping_add(1);
    }

    /// A knote was settled (`settled < SCAN_BATCH` before: the batches' loops stop there).
    fn count_settled(&mut self) {
        self.settled = self.settled.wrapping_add(1);
    }

    /// A knote just settled (counted in `settled` already) leaves flux as `next` says: back on
    /// the list (uncounted there until `end_batch`, `ReadyInner::count_settled`), or its
    /// list's reference kept for after the lock (dropped from the registry if EV_ONESHOT).
    #[inline(always)]
    fn settle(&mut self, ready: &mut ReadyInner, item: ListArc<Knote>, pass: u64, next: Option<After>) {
        match next {
            Some(After::Requeue) => {
                ready.put_back(item, pass);
                // `requeued + released_n <= settled <= SCAN_BATCH`: no overflow.
                self.requeued = self.requeued.wrapping_add(1);
            }
            Some(After::Drop) => self.release(ready.let_go(item, pass), true),
            None | Some(After::Done) => self.release(ready.let_go(item, pass), false),
        }
    }

    /// The list's reference to a knote just settled (counted in `settled` already, at most
    /// once each): `released_n < settled <= SCAN_BATCH`.
    fn release(&mut self, kn: Arc<Knote>, doomed: bool) {
        debug_assert!(self.released_n < SCAN_BATCH);
        // SAFETY: In bounds, see above.
        unsafe { self.released.get_unchecked_mut(self.released_n) }.write((kn, doomed));
        self.released_n = self.released_n.wrapping_add(1);
    }

    /// The records written so far.
    fn records(&self) -> &[KEvent] {
        // SAFETY: `records[..reported]` are written (`settle_simple` counts a record once
        // `deliver` reported it, which writes it); `MaybeUninit<KEvent>` has `KEvent`'s layout.
        unsafe { core::slice::from_raw_parts(self.records.as_ptr().cast::<KEvent>(), self.reported) }
    }

    /// Puts the references `finish_batch` did not take (see `drop`).
    #[cold]
    fn put_released(&mut self) {
        let n = core::mem::replace(&mut self.released_n, 0);
        for slot in &mut self.released[..n] {
            // SAFETY: Written by `release`, below the count (reset above), read once here.
            drop(unsafe { slot.assume_init_read() });
        }
    }
}

impl Drop for Batch {
    /// References not taken by `finish_batch` (none, unless it was never reached) are put.
    #[inline(always)]
    fn drop(&mut self) {
        if self.released_n != 0 {
            self.put_released();
        }
    }
}

/// The knotes a scan took into flux for one `settle_late_batch`, between their take and their
/// settling (no lock of ours held): each with the fflags and data the user gave as of the take,
/// then the verdict of its evaluation. Every knote taken is settled (put back or released
/// under `ready`) before the run is dropped; nothing returns early in between.
struct LateRun {
    /// `items[..taken]` are written (`taken`: a local of `settle_late_batch`).
    items: [MaybeUninit<ListArc<Knote>>; SCAN_BATCH],
    interest: [(u32, i64); SCAN_BATCH],
    /// `verdicts[i]` is written once `items[i]` was evaluated.
    verdicts: [MaybeUninit<Verdict>; SCAN_BATCH],
}

impl LateRun {
    #[inline(always)]
    fn new() -> Self {
        LateRun {
            items: [const { MaybeUninit::uninit() }; SCAN_BATCH],
            interest: [(0, 0); SCAN_BATCH],
            verdicts: [const { MaybeUninit::uninit() }; SCAN_BATCH],
        }
    }
}

/// The kinds of run `KQueue::settle_run` settles in one batch.
enum RunKind {
    /// Knotes whose condition is known under `ready` (`ReadyInner::simple_at_front`).
    Simple,
    /// Enabled late-evaluated knotes (`ReadyInner::late_at_front`).
    Late,
}

/// What happens to a knote after it was reported.
enum After {
    /// Level-triggered: stays active, back on the ready list after this pass.
    Requeue,
    /// EV_CLEAR or EV_DISPATCH: off the list until its condition fires again / it is enabled.
    Done,
    /// EV_ONESHOT: removed.
    Drop,
}

/// Wakes the pollers of the kqueue whose `poll_work` this is.
///
/// # Safety
///
/// Called by the workqueue for a `poll_work` initialised in `KQueue::new`; release() waits for
/// it before the kqueue can be freed.
unsafe extern "C" fn kq_poll_work(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `poll_work` field of a live `KQueue` (see above).
    let kq = unsafe { &*kernel::container_of!(work.cast::<Opaque<bindings::work_struct>>(), KQueue, poll_work) };
    kq.pollers.wake_pollers(bindings::POLLIN | bindings::POLLRDNORM);
}

/// Drops the knotes whose file was released from the registry of the kqueue whose `reap_work`
/// this is.
///
/// # Safety
///
/// Called by the workqueue for a `reap_work` initialised in `KQueue::new`; release() cancels
/// it before the kqueue can be freed.
unsafe extern "C" fn kq_reap_work(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `reap_work` field of a live `KQueue` (see above).
    let kq = unsafe { &*kernel::container_of!(work.cast::<Opaque<bindings::work_struct>>(), KQueue, reap_work) };
    // `inner` may be held across a user copy that waits on a page fault for as long as user
    // space likes (userfaultfd, FUSE): never block a kworker on it. The holder reaps instead
    // (every change and every knote a scan settles, and the next kevent(), look at `dead`).
    if let Some(mut inner) = kq.inner.try_lock() {
        kq.reap_dead(&mut inner);
    }
}

/// `deliver` for a late-evaluated knote just evaluated to `ev` (FreeBSD `kqueue_scan` with the
/// filter's `f_event`): `None` when nothing is reported and the knote stays off the list; else
/// whether a record was written to `out` (not when the condition is false but a wake-up came
/// during the evaluation, nor when the user changed the knote's fflags or data meanwhile: look
/// again next time) and what comes next.
fn deliver_fd(st: &mut KnoteState, ev: &KqFdEval, out: &mut MaybeUninit<KEvent>) -> Option<(bool, After)> {
    if st.disabled || st.deleted {
        return None;
    }
    // A change (an EV_ADD of other NOTE_LOWAT fflags or data) returned while the knote was
    // evaluated with the old ones: that verdict is not the knote's any more, and reported with
    // the change's udata it would pair two settings that never held together. FreeBSD's change
    // waits for the in-flux knote instead (`KN_INFLUX`); here it is looked at again, by the
    // next pass (a waiting call runs one at once: the knote is queued).
    if st.retouched {
        return Some((false, After::Requeue));
    }
    filter::store(st, ev);
    let rewoken = st.active;
    if !ev.active {
        return if rewoken { Some((false, After::Requeue)) } else { None };
    }
    // No EV_CLEAR reset: `data` is recomputed at every look, as FreeBSD's fd filters do.
    out.write(st.kevent);
    let flags = st.kevent.flags;
    if flags & abi::EV_ONESHOT != 0 {
        return Some((true, After::Drop));
    }
    if flags & abi::EV_DISPATCH != 0 {
        st.disabled = true;
        st.active = false;
        return Some((true, After::Done));
    }
    if flags & abi::EV_CLEAR != 0 && !rewoken {
        return Some((true, After::Done));
    }
    st.active = true;
    Some((true, After::Requeue))
}

/// Decides the fate of a knote popped off the ready list: `None` when nothing is reported
/// (disabled, or its condition no longer holds), else what comes next, the record written to
/// `out` (in place: the 64-byte record is not moved through return values; written if and
/// only if the result is `Some`).
fn deliver(ops: &dyn FilterOps, st: &mut KnoteState, out: &mut MaybeUninit<KEvent>) -> Option<After> {
    if st.disabled || st.deleted {
        return None;
    }
    if st.kevent.flags & abi::EV_ONESHOT != 0 {
        ops.process(st, out);
        return Some(After::Drop);
    }
    if !ops.event(st) {
        st.active = false;
        return None;
    }
    ops.process(st, out);
    if st.kevent.flags & (abi::EV_CLEAR | abi::EV_DISPATCH) == 0 {
        return Some(After::Requeue);
    }
    if st.kevent.flags & abi::EV_DISPATCH != 0 {
        st.disabled = true;
    } else if ops.event(st) {
        // EV_CLEAR, and the filter kept something back for the next retrieval (a process's
        // exit behind its NOTE_CHILD report): it stays queued (stamped: not in this call).
        return Some(After::Requeue);
    }
    st.active = false;
    Some(After::Done)
}

/// When a kevent() call stops waiting.
#[derive(Clone, Copy)]
enum Deadline {
    /// Zero timeout: scan once.
    Poll,
    /// NULL timeout.
    Never,
    /// Absolute CLOCK_MONOTONIC time in ns.
    At(i64),
}

/// Validates the timeout (EINVAL, as FreeBSD: negative seconds or nanoseconds out of range).
#[inline(always)]
fn deadline_ns(timeout: Option<KqTimespec>) -> Result<Deadline> {
    let Some(ts) = timeout else { return Ok(Deadline::Never) };
    if ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= NSEC_PER_SEC {
        return Err(EINVAL);
    }
    if ts.tv_sec == 0 && ts.tv_nsec == 0 {
        return Ok(Deadline::Poll);
    }
    let rel = ts.tv_sec.saturating_mul(NSEC_PER_SEC).saturating_add(ts.tv_nsec);
    // SAFETY: Reads CLOCK_MONOTONIC.
    let now_ns = unsafe { bindings::ktime_get() };
    Ok(Deadline::At(now_ns.saturating_add(rel)))
}
