// SPDX-License-Identifier: GPL-2.0
//! The knotes that watch processes (EVFILT_SIGNAL, EVFILT_PROC, EVFILT_PROCDESC), found by the
//! process's thread-group `struct pid` when `kq_proc_hook.c`'s tracepoint probes report that
//! it was signalled, forked, exec'd or exited.
//!
//! Two tables, each a red-black tree keyed by (pid address, knote address), so that the
//! watchers of one process are neighbours and a probe finds them in O(log n + watchers):
//! - the signal table, sharded by pid (16 irq-safe spinlocks): EVFILT_SIGNAL knotes, keyed by
//!   their kqueue's owner process;
//! - the process table, one irq-safe spinlock: EVFILT_PROC and EVFILT_PROCDESC knotes. One lock,
//!   because a NOTE_TRACK fork adds the child's knote while the parent's watchers are being
//!   walked (no nesting of two shards).
//!
//! The tables own an `Arc<Knote>` per entry. A knote enters at its filter's attach and leaves at
//! its detach (both under its kqueue's `inner`), or, for a knote NOTE_TRACK created in a probe,
//! at the detach of whoever drops it later; so a probe holding a table lock sees only knotes
//! whose kqueue is alive. Probes run in atomic context (preemption off; for signals also under
//! the target's `siglock` with interrupts off): under a table lock they only take a kqueue's
//! `ready` (and its `tracked`) spinlock and wake its waiters.
//!
//! Lock order: `siglock` → a signal shard → `ready` → `waiters`; the process table → `ready`,
//! `tracked`. Nothing is taken around a table lock by this module's callers but `inner`.
//!
//! Owned by the module (`ProcWatch`): created before the device is registered, the probes
//! detached and waited for (and the tables freed) after it is gone, when no kqueue is left.

use crate::filter::Follow;
use crate::helper;
use crate::irq_lock::{new_irq_spinlock, IrqSpinLock};
use crate::knote::Knote;
use kernel::{
    bindings,
    ffi::c_int,
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::{
        atomic::{ordering, Atomic},
        Arc,
    },
};
use pin_init::pin_init_array_from_fn;

/// What happened to a watched process.
pub(crate) enum ProcEvent {
    /// Signal number generated for it.
    Signal(i32),
    /// NOTE_EXEC (data 0) or NOTE_EXIT (data = wait status).
    Note { note: u32, data: i64 },
    /// It forked (`FilterOps::process_event` says whether to follow the child).
    Fork,
    /// A NOTE_TRACK child could not be registered (NOTE_TRACKERR).
    TrackError,
}

/// (pid address, knote address).
type Key = (usize, usize);

/// One table or shard (`RBTree::new` is not `const`: created on first use).
pub(crate) struct Tree(Option<RBTree<Key, Arc<Knote>>>);

impl Tree {
    fn tree(&mut self) -> &mut RBTree<Key, Arc<Knote>> {
        self.0.get_or_insert_with(RBTree::new)
    }

    /// Enters a watcher's node, counted in `WATCHING` (full barrier: a caller that then finds
    /// the process still alive knows its exit probe will find the knote).
    fn insert(&mut self, node: RBTreeNode<Key, Arc<Knote>>) {
        self.tree().insert(node);
        WATCHING.fetch_add(1, ordering::Full);
    }

    /// Takes `kn` (watching `pid`) out, if it is there; the caller drops the node after the lock.
    fn remove(&mut self, pid: usize, kn: &Knote) -> Option<RBTreeNode<Key, Arc<Knote>>> {
        let node = self.tree().remove_node(&(pid, key_of(kn)));
        if node.is_some() {
            WATCHING.fetch_sub(1, ordering::Relaxed);
        }
        node
    }

    /// Calls `f` on every knote watching `pid`.
    fn for_each_watcher(&mut self, pid: usize, mut f: impl FnMut(&Arc<Knote>)) {
        let Some(mut cursor) = self.tree().cursor_lower_bound_mut(&(pid, 0)) else { return };
        loop {
            let (key, kn) = cursor.current();
            if key.0 != pid {
                return;
            }
            f(kn);
            match cursor.move_next() {
                Some(c) => cursor = c,
                None => return,
            }
        }
    }
}

/// The process table while a probe holds it (for `FilterOps::follow_fork`).
pub(crate) struct ProcTable<'a>(&'a mut Tree);

impl ProcTable<'_> {
    /// Adds `kn` as a watcher of `pid` (atomic context: the node is allocated with `GFP_ATOMIC`).
    pub(crate) fn insert(&mut self, pid: usize, kn: &Arc<Knote>) -> Result {
        self.0.insert(RBTreeNode::new((pid, key_of(kn)), kn.clone(), GFP_ATOMIC)?);
        Ok(())
    }

    /// Takes `kn` out again (the caller drops the node after the table lock).
    pub(crate) fn remove(&mut self, pid: usize, kn: &Knote) -> Option<RBTreeNode<Key, Arc<Knote>>> {
        self.0.remove(pid, kn)
    }
}

/// Number of signal shards (a power of two).
const SIGNAL_SHARDS: usize = 16;

#[pin_data]
struct Tables {
    #[pin]
    signals: [IrqSpinLock<Tree>; SIGNAL_SHARDS],
    #[pin]
    procs: IrqSpinLock<Tree>,
}

/// Address of the module's `Tables` (owned by `ProcWatch`), 0 without the probes.
static TABLES_AT: Atomic<usize> = Atomic::new(0);
/// Knotes in the tables: the probes return at once while it is 0.
static WATCHING: Atomic<usize> = Atomic::new(0);

fn tables() -> Option<&'static Tables> {
    let at = TABLES_AT.load(ordering::Acquire) as *const Tables;
    // SAFETY: A non-zero `TABLES_AT` points to the pinned tables of the live `ProcWatch`, which
    // clears it only after the probes are detached and every kqueue is gone.
    (!at.is_null()).then(|| unsafe { &*at })
}

impl Tables {
    fn signal_shard(&self, pid: usize) -> &IrqSpinLock<Tree> {
        let i = ((pid as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SIGNAL_SHARDS.trailing_zeros())) as usize;
        &self.signals[i]
    }
}

fn key_of(kn: &Knote) -> usize {
    kn as *const Knote as usize
}

/// The module's process-event machinery: the tables and the tracepoint probes.
pub(crate) struct ProcWatch(Option<Pin<KBox<Tables>>>);

impl ProcWatch {
    /// Attaches the probes. A kernel without tracepoints gets no tables: the process filters
    /// then refuse registration with EOPNOTSUPP (`available`).
    pub(crate) fn new() -> Result<Self> {
        let tables = KBox::pin_init(
            pin_init!(Tables {
                signals <- pin_init_array_from_fn(|_| new_irq_spinlock!(Tree(None), "kqueue::signal_watch")),
                procs <- new_irq_spinlock!(Tree(None), "kqueue::proc_watch"),
            }),
            GFP_KERNEL,
        )?;
        TABLES_AT.store(&*tables as *const Tables as usize, ordering::Release);
        // SAFETY: Attaches the probes once; they find the tables through `TABLES_AT`.
        match unsafe { helper::kq_proc_hook_init() } {
            0 => Ok(ProcWatch(Some(tables))),
            e => {
                TABLES_AT.store(0, ordering::Release);
                pr_warn!("kqueue: no process events (error {}): EVFILT_SIGNAL/PROC/PROCDESC disabled\n", e);
                Ok(ProcWatch(None))
            }
        }
    }
}

impl Drop for ProcWatch {
    fn drop(&mut self) {
        if self.0.is_some() {
            // SAFETY: Pairs with the successful `kq_proc_hook_init`; waits for running probes.
            unsafe { helper::kq_proc_hook_exit() };
            TABLES_AT.store(0, ordering::Release);
        }
    }
}

/// EOPNOTSUPP (the kernel crate names only the kernel-internal ENOTSUPP).
fn eopnotsupp() -> Error {
    Error::from_errno(-(bindings::EOPNOTSUPP as i32))
}

/// EOPNOTSUPP when the kernel gives no process events (no tracepoints).
pub(crate) fn available() -> Result {
    tables().map(|_| ()).ok_or_else(eopnotsupp)
}

/// Adds `kn` to the signal watchers of process `pid` (its kqueue's owner).
pub(crate) fn watch_signals(kn: &Arc<Knote>, pid: usize) -> Result {
    let t = tables().ok_or_else(eopnotsupp)?;
    let node = RBTreeNode::new((pid, key_of(kn)), kn.clone(), GFP_KERNEL_ACCOUNT)?;
    t.signal_shard(pid).lock().insert(node);
    Ok(())
}

/// Removes `kn` (watching `pid`) from the signal watchers, if it is there.
pub(crate) fn unwatch_signals(kn: &Knote, pid: usize) {
    let Some(t) = tables() else { return };
    let node = t.signal_shard(pid).lock().remove(pid, kn);
    drop(node);
}

/// Adds `kn` to the watchers of process `pid`. Full barrier after the insertion: a caller that
/// then finds the process still alive knows its exit probe will find the knote.
pub(crate) fn watch_process(kn: &Arc<Knote>, pid: usize) -> Result {
    let t = tables().ok_or_else(eopnotsupp)?;
    let node = RBTreeNode::new((pid, key_of(kn)), kn.clone(), GFP_KERNEL_ACCOUNT)?;
    t.procs.lock().insert(node);
    Ok(())
}

/// Removes `kn` (watching `pid`) from the process watchers, if it is there.
pub(crate) fn unwatch_process(kn: &Knote, pid: usize) {
    let Some(t) = tables() else { return };
    let node = t.procs.lock().remove(pid, kn);
    drop(node);
}

/// Waits until no probe is adding knotes to the process table (it adds them under the table's
/// lock): taking the lock once is enough.
pub(crate) fn quiesce() {
    if let Some(t) = tables() {
        drop(t.procs.lock());
    }
}

/// signal_generate: `sig` was generated for the process `tgid` (atomic, under its siglock).
///
/// # Safety
///
/// Called by `kq_proc_hook.c`'s probe only; `tgid` is only compared by address.
#[no_mangle]
pub(crate) unsafe extern "C" fn kq_proc_signal(tgid: *mut bindings::pid, sig: c_int) {
    if WATCHING.load(ordering::Relaxed) == 0 {
        return;
    }
    let Some(t) = tables() else { return };
    let mut shard = t.signal_shard(tgid as usize).lock();
    shard.for_each_watcher(tgid as usize, |kn| {
        kn.ops.process_event(kn, &ProcEvent::Signal(sig));
    });
}

/// sched_process_exec / sched_process_exit: NOTE_EXEC or NOTE_EXIT (`data` = wait status) of
/// the process `tgid` (atomic context).
///
/// # Safety
///
/// Called by `kq_proc_hook.c`'s probes only; `tgid` is only compared by address.
#[no_mangle]
pub(crate) unsafe extern "C" fn kq_proc_note(tgid: *mut bindings::pid, note: u32, data: i64) {
    if WATCHING.load(ordering::Acquire) == 0 {
        return;
    }
    let Some(t) = tables() else { return };
    let mut procs = t.procs.lock();
    procs.for_each_watcher(tgid as usize, |kn| {
        kn.ops.process_event(kn, &ProcEvent::Note { note, data });
    });
}

/// sched_process_fork: the process `parent` forked the process `child` (atomic context, before
/// the child first runs). NOTE_TRACK knotes get a knote for the child in the same kqueue.
///
/// # Safety
///
/// Called by `kq_proc_hook.c`'s probe only; `child` is a live thread-group pid.
#[no_mangle]
pub(crate) unsafe extern "C" fn kq_proc_fork(parent: *mut bindings::pid, child: *mut bindings::pid) {
    if WATCHING.load(ordering::Relaxed) == 0 {
        return;
    }
    let Some(t) = tables() else { return };
    let mut followers = KVec::new();
    let mut procs = t.procs.lock();
    procs.for_each_watcher(parent as usize, |kn| {
        if kn.ops.process_event(kn, &ProcEvent::Fork) == Follow::Track
            && followers.push(kn.clone(), GFP_ATOMIC).is_err()
        {
            kn.ops.process_event(kn, &ProcEvent::TrackError);
        }
    });
    let mut table = ProcTable(&mut procs);
    for kn in followers.iter() {
        kn.ops.follow_fork(kn, child, &mut table);
    }
    drop(procs);
    drop(followers);
}
