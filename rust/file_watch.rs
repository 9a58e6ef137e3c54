// SPDX-License-Identifier: GPL-2.0
//! Weak references from knotes to the files they watch, and what happens when such a file is
//! released.
//!
//! A descriptor knote must not keep its file alive: when the process closes its last
//! descriptor of a pipe or socket, the file goes at once and the peer sees EOF. So a knote
//! holds only the file's address (`Knote::file`) and the global [`FILES`] table lists, per
//! watched file, the knotes watching it. The C helper `kq_close_watch.c` puts an fsnotify
//! close mark on the file's inode (on its super block for pipes and sockets, one for all of
//! them, which each kqueue that watched one keeps while it lives:
//! `KQueue::hold_close_mark`); `__fput()` calls [`kq_file_closing`] before the file's
//! release method, in process context. That handler unhooks every knote of the file from the
//! file's wait queues, clears its `file`, takes it off its kqueue's ready list and hands it to
//! the kqueue's dead list, which the next kevent() reaps (the handler cannot take the kqueue's
//! `inner` lock: kevent() holds `inner` while taking `FILES`).
//!
//! Files that produce no fsnotify events (anonymous inodes: eventfd, timerfd, signalfd,
//! epoll, pidfd, memfd; pty masters) are not in `FILES`: their knotes pin the file with a
//! reference instead, which goes with the knote (EV_DELETE, its next report or change, which
//! finds the descriptor closed, or the kqueue's close). Until then the file stays open: for
//! most of these nobody can tell, but a pty master closed while registered keeps its slave
//! from seeing the hang-up (README, known differences). io_uring instances, which can hold
//! the kqueue in turn (a cycle nothing would break), are refused (`kq_fd_check`).
//!
//! `FILES` is sharded by inode (64 mutexes, see [`shard_of`]): a file's entry, its close and its
//! inode's modifications use one shard, so work on different inodes runs in parallel. Each knote
//! knows its file's entry and its slot in the entry's vector (`Knote::watch`, under the shard),
//! so forgetting one is O(1): no walk of the table, whatever its size.
//!
//! Lock order: (fsnotify SRCU →) `FILES` → C `kq_watch_locks[]` (sharded by inode too) →
//! (`kq_sb_lock` →) an fsnotify group's mark lock;
//! `FILES` → a kqueue's `dead` lock; `FILES` → a watched file's wait-queue lock (unhooking)
//! → a kqueue's `ready` lock. kevent() takes `inner` → `FILES`.

use crate::helper;
use crate::knote::Knote;
use crate::knote_vec::KnoteVec;
use kernel::{
    bindings,
    ffi::c_void,
    new_mutex,
    prelude::*,
    rbtree::{Entry, RBTree, RBTreeNodeReservation, VacantEntry},
    sync::{
        atomic::{ordering, Atomic},
        Arc, Mutex,
    },
};
use pin_init::pin_init_array_from_fn;

/// The knotes watching one file, and the close mark of its inode.
pub(crate) struct FileWatch {
    /// `kq_close_watch_get`'s handle; put when the entry goes.
    mark: *mut c_void,
    /// The knotes watching the file, each at its slot (`Knote::watch`); the first (most files
    /// have one watcher) needs no allocation.
    knotes: KnoteVec<1>,
    /// Set once fsnotify destroyed the mark (no close event will come): the entry then holds a
    /// reference to the file (`kq_mark_lost`), dropped when the entry goes.
    pinned: bool,
    /// With no knote left the entry stays, with its mark, until the file's close event (or the
    /// mark's loss, or module unload): a pipe or socket registered again, as event loops do
    /// with every change of interest, then costs no mark and no entry. Not for regular files,
    /// whose mark also hears every write (an idle entry would make writers pay for it), nor for
    /// pinned entries (their file reference would keep the file open). An idle entry's memory is
    /// bounded by the open files and accounted to their opener's memory cgroup.
    lingers: bool,
}

// SAFETY: `mark` is an opaque handle only passed back to `kq_close_watch_put`, from any thread.
unsafe impl Send for FileWatch {}

impl FileWatch {
    /// The entry of `file` is gone from the table (after its shard was unlocked): its mark
    /// reference, and the file reference it held if the mark was lost.
    fn release(self, file: usize) {
        if self.pinned {
            // SAFETY: `kq_mark_lost` took this reference for the entry.
            unsafe { bindings::fput(file as *mut bindings::file) };
        }
        // SAFETY: The entry owned this handle from `kq_close_watch_get`.
        unsafe { helper::kq_close_watch_put(self.mark) };
    }
}

/// Number of super block close marks `kq_close_watch.c` keeps (pipefs, sockfs: its
/// `kq_sb_closes[]`, which checks this number at build time); see `KQueue::hold_close_mark`.
pub(crate) const CLOSE_MARK_SLOTS: usize = 2;

/// Number of shards of the watched-file table (a power of two).
const SHARDS: usize = 64;

/// The shards: one mutex per slice of inodes, so registrations, closes and writes to watched
/// regular files of different inodes proceed on different CPUs at once. A file's entry, its
/// close and its inode's modifications all use the shard of its inode; no code holds two.
type Shards = [Mutex<Table>; SHARDS];

/// Address of the module's `Shards` (owned by `CloseWatch`): set before the device is
/// registered, cleared after the last kqueue is gone.
static SHARDS_AT: Atomic<usize> = Atomic::new(0);

/// The shard of `inode`'s files: every close-watched file (by inode and file address) of those
/// inodes with the knotes watching it. Lock order: see the module comment ("`FILES`" there is
/// any one shard); protects the table and, for the knotes in it, `Knote::file` writes,
/// `Knote::watch` and unhooking.
pub(crate) fn shard_of(inode: usize) -> &'static Mutex<Table> {
    let at = SHARDS_AT.load(ordering::Acquire) as *const Shards;
    // Fibonacci hashing: inodes are slab objects, their low bits say little.
    let i = ((inode as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SHARDS.trailing_zeros())) as usize;
    // SAFETY: `SHARDS_AT` points to the pinned shards of the live `CloseWatch` whenever a
    // knote or an fsnotify mark exists (it outlives the device and the fsnotify group).
    unsafe { &(*at)[i] }
}

/// An event on a watched inode, as `kq_close_watch.c` reports it.
pub(crate) struct InodeEvent {
    /// EVFILT_VNODE NOTE_* bits, plus [`INODE_DATA_CHANGED`].
    pub(crate) notes: u32,
    /// The inode's link count and size after the event.
    pub(crate) nlink: u32,
    pub(crate) size: i64,
}

/// `InodeEvent::notes`: the data or size changed (FS_MODIFY).
pub(crate) const INODE_DATA_CHANGED: u32 = 0x8000_0000;

/// A watched file: (inode address, file address), so that the files of one inode are
/// neighbours (a write to a regular file wakes the knotes of all its open files).
type Key = (usize, usize);

/// The table (`RBTree::new` is not `const`: created on first use).
pub(crate) struct Table(Option<RBTree<Key, FileWatch>>);

/// Where a knote is listed (`Knote::watch`, under its shard): its file's entry, which stays in
/// its tree node while listed in the table, and its index in the entry's vector.
#[derive(Clone, Copy)]
pub(crate) struct WatchPlace {
    entry: *mut FileWatch,
    slot: usize,
}

// SAFETY: `entry` is only followed under the shard lock that guards the place (`LockedBy`).
unsafe impl Send for WatchPlace {}

impl WatchPlace {
    /// Not listed.
    pub(crate) const NONE: WatchPlace = WatchPlace { entry: core::ptr::null_mut(), slot: 0 };
}

impl Table {
    fn tree(&mut self) -> &mut RBTree<Key, FileWatch> {
        self.0.get_or_insert_with(RBTree::new)
    }
}

/// The module's close-notification machinery: the sharded table and the fsnotify group.
/// Created once by the module initialiser; dropped at unload, when every kqueue is closed.
pub(crate) struct CloseWatch(Pin<KBox<Shards>>);

impl CloseWatch {
    pub(crate) fn new() -> Result<Self> {
        let shards = KBox::pin_init(
            pin_init_array_from_fn(|_| new_mutex!(Table(None), "kqueue::FILES")),
            GFP_KERNEL,
        )?;
        SHARDS_AT.store(&*shards as *const Shards as usize, ordering::Release);
        // SAFETY: Creates the module's fsnotify group; no other call into kq_close_watch.c
        // happens before it.
        if let Err(e) = kernel::error::to_result(unsafe { helper::kq_close_watch_init() }) {
            SHARDS_AT.store(0, ordering::Release);
            return Err(e);
        }
        Ok(CloseWatch(shards))
    }
}

impl Drop for CloseWatch {
    fn drop(&mut self) {
        // Every kqueue is closed: no knote is left. Then every mark is put: wait for them, drop
        // the group. No handler can run after that, so the shards may go.
        // Idle entries (`FileWatch::lingers`) still hold their marks: put them first.
        for shard in self.0.iter() {
            let table = core::mem::replace(&mut *shard.lock(), Table(None));
            let Some(mut tree) = table.0 else { continue };
            loop {
                let Some(key) = tree.keys().next().copied() else { break };
                if let Some(w) = tree.remove(&key) {
                    w.release(key.1);
                }
            }
        }
        // SAFETY: Pairs with `kq_close_watch_init` in `new`; no knote and no entry exists.
        unsafe { helper::kq_close_watch_exit() };
        SHARDS_AT.store(0, ordering::Release);
    }
}

/// Whether `file` will tell us when it is released (else its knotes must pin it).
pub(crate) fn notifies_close(file: *mut bindings::file) -> bool {
    // SAFETY: The caller holds a reference to `file`.
    unsafe { helper::kq_file_notifies_close(file) }
}

/// Records that `kn` watches `file` (whose address `kn.file` holds). The caller holds a
/// reference to `file`, so its close handler cannot have run yet. One walk of the shard's tree
/// finds the file's entry or the place of a new one.
pub(crate) fn watch(kn: &Arc<Knote>, file: *mut bindings::file) -> Result {
    let key = key_of(file);
    let mut guard = shard_of(key.0).lock();
    let w = match guard.tree().entry(key) {
        Entry::Occupied(entry) => {
            let w = entry.into_mut();
            w.knotes.push(kn.clone(), GFP_KERNEL_ACCOUNT)?;
            w
        }
        Entry::Vacant(place) => new_entry(place, kn, file)?,
    };
    let (entry, slot, mark) = (w as *mut FileWatch, w.knotes.len() - 1, w.mark);
    *kn.watch.access_mut(&mut guard) = WatchPlace { entry, slot };
    listen(kn, mark, true);
    kn.kqueue().hold_close_mark(mark);
    Ok(())
}

/// The entry of a file watched for the first time, at its `place` in the table, listing `kn`,
/// with a reference to the close mark of its inode.
fn new_entry<'a>(
    place: VacantEntry<'a, Key, FileWatch>,
    kn: &Arc<Knote>,
    file: *mut bindings::file,
) -> Result<&'a mut FileWatch> {
    let node = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
    let mut knotes = KnoteVec::new();
    // The first knote is kept inline: no allocation, no failure.
    knotes.push(kn.clone(), GFP_KERNEL_ACCOUNT)?;
    let mark = new_close_mark(file)?;
    // SAFETY: The caller holds a reference to `file`; `f_inode` and its `i_mode` type bits
    // never change.
    let regular = unsafe { u32::from((*(*file).f_inode).i_mode) } & bindings::S_IFMT == bindings::S_IFREG;
    Ok(place.insert(FileWatch { mark, knotes, pinned: false, lingers: !regular }, node))
}

/// A reference to the close mark of `file`'s inode (`kq_close_watch_get`) for a new entry.
fn new_close_mark(file: *mut bindings::file) -> Result<*mut c_void> {
    // SAFETY: The caller holds a reference to `file`.
    let mark = unsafe { helper::kq_close_watch_get(file) };
    // SAFETY: Reads the ERR_PTR encoding of the returned handle.
    if unsafe { bindings::IS_ERR(mark) } {
        // SAFETY: As above.
        return Err(Error::from_errno(unsafe { bindings::PTR_ERR(mark) } as i32));
    }
    Ok(mark)
}

/// A knote that hears every inode event (EVFILT_VNODE) widens its mark's mask while it is in
/// the table (`add`), and narrows it when it leaves. Under the knote's shard.
fn listen(kn: &Knote, mark: *mut c_void, add: bool) {
    if kn.ops.hears_inode() {
        // SAFETY: `mark` is the live handle of the knote's entry (we hold its shard).
        unsafe { helper::kq_close_watch_vnode(mark, add) };
    }
}

/// Stops `kn` watching its file (if its close handler has not already) and unhooks it.
pub(crate) fn forget(kn: &Knote) {
    // The shard is found from the knote's inode, recorded at creation (the file itself may be
    // gone): its close handler clears `file` under that same shard.
    let mut guard = shard_of(kn.inode).lock();
    let file = kn.file.load(ordering::Relaxed);
    kn.file.store(0, ordering::Release);
    kn.hooks.unhook();
    let WatchPlace { entry, slot } = *kn.watch.access_mut(&mut guard);
    if file == 0 || entry.is_null() {
        return;
    }
    // SAFETY: A non-zero `file` under its shard is a live file whose entry still lists the
    // knote: an entry leaves the table with no knote left (below), or from its close handler
    // or mark loss, which first clear the `file` of each of its knotes (`closed`). `entry` is
    // that entry (`watch` set it when it listed the knote; a knote whose `watch` failed has
    // none), in its tree node, which has not moved; the shard is held, and no other reference
    // to the entry is used until `w`'s last use.
    let w = unsafe { &mut *entry };
    // O(1): the knote's slot, then the last knote moves into it (closing N knotes of one file
    // must not cost N²).
    if w.knotes.get(slot).is_some_and(|k| core::ptr::eq(&**k, kn)) {
        listen(kn, w.mark, false);
        // The entry's reference goes (our caller holds one of its own).
        drop(w.knotes.swap_remove(slot));
        if let Some(moved) = w.knotes.get(slot) {
            moved.watch.access_mut(&mut guard).slot = slot;
        }
    }
    if w.knotes.is_empty() && !(w.lingers && !w.pinned) {
        if let Some(w) = guard.tree().remove(&(kn.inode, file)) {
            drop(guard);
            w.release(file);
        }
    }
}

/// `__fput()` of `file` has started (fsnotify close event, process context, before the file's
/// release method). `file` is only compared by address unless it is in the table.
///
/// # Safety
///
/// Called by `kq_close_watch.c` only, with a file in `__fput()`.
#[no_mangle]
pub(crate) unsafe extern "C" fn kq_file_closing(file: *mut bindings::file, inode: *mut bindings::inode) {
    let mut guard = shard_of(inode as usize).lock();
    let Some(w) = guard.tree().remove(&(inode as usize, file as usize)) else { return };
    closed(&w);
    drop(guard);
    w.release(file as usize);
}

/// The knotes of an entry just removed because its file is released: each is unhooked, loses
/// its file and goes (`KQueue::file_closed`). Under the entry's shard.
fn closed(w: &FileWatch) {
    for kn in w.knotes.iter() {
        // Release: pairs with `FilterOps::evaluate`'s Acquire load after its `fget`, so a new
        // file at the same address is never taken for this one.
        kn.file.store(0, ordering::Release);
        kn.hooks.unhook();
        listen(kn, w.mark, false);
        kn.kqueue().file_closed(kn);
    }
}

/// fsnotify destroyed the mark `mark` of `inode` on its own (`kq_freeing_mark`): no event, no
/// close, will come for the inode's watched files any more. Each entry of the mark takes a
/// reference to its file, which keeps it until its knotes go (as for files without close
/// notification); a file already being released is handled as closed.
///
/// # Safety
///
/// Called by `kq_close_watch.c` only, with the inode of a mark we still hold a reference to.
#[no_mangle]
pub(crate) unsafe extern "C" fn kq_mark_lost(inode: *mut bindings::inode, mark: *mut c_void) {
    let mut guard = shard_of(inode as usize).lock();
    let files = guard.tree();
    let mut dying = KVec::new();
    if let Some(mut cursor) = files.cursor_lower_bound_mut(&(inode as usize, 0)) {
        loop {
            let (key, w) = cursor.current_mut();
            if key.0 != inode as usize {
                break;
            }
            // SAFETY: `key.1` is a file of `inode` whose close handler has not run (its entry is
            // here); the helper checks under RCU that it still is one before keeping it.
            // An idle entry (no knote: `lingers`) just goes; one with knotes pins its file.
            let idle = w.knotes.is_empty();
            if w.mark == mark && !w.pinned && !idle && unsafe { helper::kq_file_tryget(key.1 as *mut bindings::file, inode) } {
                w.pinned = true;
            } else if w.mark == mark && !w.pinned {
                // Without memory to list it, it stays: its knotes drop it as stale at their next
                // change or report (only compared by address there).
                let _ = dying.push(*key, GFP_KERNEL);
            }
            match cursor.move_next() {
                Some(c) => cursor = c,
                None => break,
            }
        }
    }
    for key in dying.iter() {
        if let Some(w) = files.remove(key) {
            closed(&w);
            // A dying file's entry holds no file reference (`pinned` is false); the mark's put
            // takes only the C watch lock, which nests inside the shards.
            w.release(key.1);
        }
    }
}

/// An fsnotify event `mask` on a watched inode (process context): each knote of the inode's
/// files hears of it through its filter (`FilterOps::inode_event`: a readiness knote is queued
/// for re-evaluation, so a reader at EOF sees the file grow, as `tail -f` needs; a vnode knote
/// records what happened).
///
/// # Safety
///
/// Called by `kq_close_watch.c` only, with a live inode (the event's).
#[no_mangle]
pub(crate) unsafe extern "C" fn kq_inode_event(inode: *mut bindings::inode, notes: u32, nlink: u32, size: i64) {
    let ev = InodeEvent { notes, nlink, size };
    let mut guard = shard_of(inode as usize).lock();
    let Some(mut cursor) = guard.tree().cursor_lower_bound_mut(&(inode as usize, 0)) else { return };
    loop {
        let (key, w) = cursor.current();
        if key.0 != inode as usize {
            break;
        }
        for kn in w.knotes.iter() {
            kn.ops.inode_event(kn, &ev);
        }
        match cursor.move_next() {
            Some(c) => cursor = c,
            None => break,
        }
    }
}

/// The table key of a live file.
fn key_of(file: *mut bindings::file) -> Key {
    // SAFETY: The caller holds a reference to `file` (or knows it live under `FILES`); `f_inode`
    // never changes.
    let inode = unsafe { (*file).f_inode };
    (inode as usize, file as usize)
}
