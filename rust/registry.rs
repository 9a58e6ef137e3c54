// SPDX-License-Identifier: GPL-2.0
//! A kqueue's registry: its knotes by (ident, filter), what FreeBSD keeps in `kq_knlist` and
//! `kq_knhash` and epoll in `ep->rbr`.
//!
//! Descriptor knotes are in a [`FdTable`], indexed by descriptor number as FreeBSD's
//! `kq_knlist` (an index where a tree is a walk of ~14 levels at 1 000 descriptors); the
//! others (timers, signals, processes, EVFILT_USER) in trees, described here.
//!
//! A tree is an intrusive red-black tree, as epoll's: the node is embedded in the knote
//! (`Knote::registry_node`, as `epitem.rbn`), so entering a knote allocates nothing and leaving
//! frees nothing, and the tree takes no reference count of its own beyond the one it is handed.
//! A knote is in at most one registry, its own kqueue's.
//!
//! Ownership: the tree owns one `Arc<Knote>` reference per knote linked in it: `insert` turns
//! the reference it is given into the raw node, `remove` and `Drain` turn it back. A node is
//! "cleared" (the kernel's `RB_CLEAR_NODE`: its parent pointer is itself) while its knote is in
//! no tree: from creation to `insert`, and again once `remove` or `Drain` took it out.
//!
//! Locks: the registry lives in its kqueue's `index` spinlock and is changed only with the
//! kqueue's `inner` mutex held too (see `kqueue.rs`); a node is written under `index` only.
//! Nothing here sleeps, allocates or frees a knote: removed references are handed to the
//! caller, who drops them after unlocking.
//!
//! Lockless look-ups ([`RcuRegistry`], a kqueue's EVFILT_USER knotes, for NOTE_TRIGGER): as
//! `lib/rbtree.c` allows, a reader under RCU walks the tree while a writer changes it. Every
//! store to a child pointer is a `WRITE_ONCE` there (and a volatile write in `clear`), and a
//! rotation never makes a loop, so the walk ends and a knote it finds has the key it asked
//! for; but a rotation may hide a subtree for a moment, so "not found" proves nothing and the
//! reader asks again under the lock. Knotes are linked after a write barrier (their key is
//! written before they can be found), and the memory of a knote taken out of such a tree stays
//! valid until a grace period has passed (`Knote::put_after_grace_period`), as a walker may be
//! standing on it.

use crate::knote::{Knote, KnoteKey};
use crate::knote_vec::LazyVec;
use crate::limits::{Charge, Resource, UserAccount};
use core::ptr;
use core::cell::UnsafeCell;
use kernel::{
    alloc::allocator::KVmalloc,
    bindings,
    ffi::c_ulong,
    prelude::*,
    sync::{barrier::smp_wmb, rcu, Arc, ArcBorrow},
    types::Opaque,
};

/// A knote's node, cleared (in no tree), for its initialiser.
pub(crate) fn unlinked_node() -> impl PinInit<Opaque<bindings::rb_node>> {
    // SAFETY: `clear` writes every field of the node it is given, which is the new node's slot.
    Opaque::ffi_init(|node: *mut bindings::rb_node| unsafe { clear(node) })
}

/// `RB_CLEAR_NODE`: marks `node` as in no tree. Volatile stores: a lockless reader may still
/// be standing on a node just erased (it then finds no children: a miss, asked again).
///
/// # Safety
///
/// `node` is valid for writes and in no tree (or in a tree nobody will walk again).
unsafe fn clear(node: *mut bindings::rb_node) {
    // SAFETY: Guaranteed by the caller; the fields are in the node.
    unsafe {
        ptr::addr_of_mut!((*node).__rb_parent_color).write_volatile(node as c_ulong);
        ptr::addr_of_mut!((*node).rb_right).write_volatile(ptr::null_mut());
        ptr::addr_of_mut!((*node).rb_left).write_volatile(ptr::null_mut());
    }
}

/// Looks `key` up from `root`: the knote registered under it, or the free place where it
/// belongs (the node whose null child it is, null for an empty tree, and whether that child is
/// the left one). Each pointer is read once with a volatile load, so that the one walk serves
/// both a lock holder and a lockless reader under RCU (`RcuRegistry::get_rcu`; see the module
/// comment for what such a walk may miss; it has no use for the place).
///
/// # Safety
///
/// `root` is a registry's valid root, and every node reachable from it stays a valid node of a
/// knote whose memory stays valid while the caller uses the result.
unsafe fn walk(
    root: *const bindings::rb_root,
    key: &KnoteKey,
) -> Result<*const Knote, (*mut bindings::rb_node, bool)> {
    let mut parent: *mut bindings::rb_node = ptr::null_mut();
    let mut left = false;
    // SAFETY: Guaranteed by the caller.
    let mut node = unsafe { ptr::addr_of!((*root).rb_node).read_volatile() };
    while !node.is_null() {
        parent = node;
        let kn = knote_of(node);
        // SAFETY: `kn` is a valid knote (see above); its key never changes.
        let here = unsafe { &(*kn).key };
        // The key order (ident, then filter) spelled out: most steps decide on the ident, in
        // two instructions, where `Ord::cmp` would make an `Ordering` and branch on it.
        left = if key.ident != here.ident {
            key.ident < here.ident
        } else if key.filter != here.filter {
            key.filter < here.filter
        } else {
            return Ok(kn);
        };
        // SAFETY: As above; the child pointer is read once.
        node = unsafe {
            if left {
                ptr::addr_of!((*node).rb_left).read_volatile()
            } else {
                ptr::addr_of!((*node).rb_right).read_volatile()
            }
        };
    }
    Err((parent, left))
}

/// The knote whose `registry_node` is `node`.
fn knote_of(node: *mut bindings::rb_node) -> *const Knote {
    // SAFETY: Every node of a registry is the `registry_node` of a knote (`insert`); the field
    // is an `Opaque<rb_node>`, which has the layout of an `rb_node`.
    unsafe { kernel::container_of!(node.cast::<Opaque<bindings::rb_node>>(), Knote, registry_node) }
}

/// The registry of one kqueue (see the module comment).
pub(crate) struct Registry {
    root: bindings::rb_root,
    /// Counts the changes of the tree's shape (every link, unlink and drain): `vacancy` is
    /// only used while it has not moved.
    changes: u64,
    /// Where the last look-up that missed ([`Registry::find`]) saw the place of its key: an
    /// EV_ADD looks its key up, makes the knote, then enters it (`insert`) there without a
    /// second walk, if nothing changed the tree in between.
    vacancy: Vacancy,
}

/// The free place of a key in a registry's tree, as a look-up that missed saw it.
struct Vacancy {
    key: KnoteKey,
    /// The node whose null child it is (null: the tree was empty, the place is the root).
    parent: *mut bindings::rb_node,
    /// Which child of `parent`.
    left: bool,
    /// The tree's `changes` when it was seen.
    changes: u64,
}

// SAFETY: The tree only holds `Arc<Knote>` references (as raw nodes), and `Knote` is `Send` and
// `Sync`; the raw pointers are only followed under the lock that holds the tree.
unsafe impl Send for Registry {}

impl Registry {
    pub(crate) const fn new() -> Self {
        Registry {
            root: bindings::rb_root { rb_node: ptr::null_mut() },
            changes: 0,
            // Never matches: `changes` would have to wrap first.
            vacancy: Vacancy {
                key: KnoteKey { ident: 0, filter: 0 },
                parent: ptr::null_mut(),
                left: false,
                changes: u64::MAX,
            },
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.root.rb_node.is_null()
    }

    /// The knote registered under `key`, borrowed for as long as the registry is.
    pub(crate) fn get(&self, key: &KnoteKey) -> Option<ArcBorrow<'_, Knote>> {
        // SAFETY: `&self` keeps the tree stable; its nodes are live knotes' (it holds a
        // reference to each).
        let kn = unsafe { walk(&self.root, key) }.ok()?;
        // SAFETY: The knote is in an `Arc` (the tree's reference), which outlives the borrow of
        // `self`: only `&mut self` can take it out.
        Some(unsafe { ArcBorrow::from_raw(kn) })
    }

    /// The knote registered under `key`, as `get`; a miss remembers where the key would go,
    /// for an `insert` of that key that follows before any other change.
    pub(crate) fn find(&mut self, key: &KnoteKey) -> Option<ArcBorrow<'_, Knote>> {
        // SAFETY: `&mut self` keeps the tree stable; its nodes are live knotes' (it holds a
        // reference to each).
        match unsafe { walk(&self.root, key) } {
            // SAFETY: `kn` is in the tree, which holds a reference to it until `&mut self`
            // takes it out.
            Ok(kn) => Some(unsafe { ArcBorrow::from_raw(kn) }),
            Err((parent, left)) => {
                self.vacancy = Vacancy { key: *key, parent, left, changes: self.changes };
                None
            }
        }
    }

    /// Links `kn` under its key, the tree taking the reference. `Err(kn)` if its key is taken.
    /// Where a `find` of the same key missed just before (no change since), no walk.
    pub(crate) fn insert(&mut self, kn: Arc<Knote>) -> Result<(), Arc<Knote>> {
        let v = &self.vacancy;
        let (parent, left) = if v.changes == self.changes && v.key == kn.key {
            (v.parent, v.left)
        } else {
            // SAFETY: As in `find`.
            match unsafe { walk(&self.root, &kn.key) } {
                Ok(_) => return Err(kn),
                Err(place) => place,
            }
        };
        let link: *mut *mut bindings::rb_node = if parent.is_null() {
            &mut self.root.rb_node
        } else if left {
            // SAFETY: `parent` is a node of this tree (just walked to, or seen by the `find`
            // that missed this key, with no change since), so it is a live knote's node.
            unsafe { &raw mut (*parent).rb_left }
        } else {
            // SAFETY: As above.
            unsafe { &raw mut (*parent).rb_right }
        };
        // SAFETY: `link` is the null child (or empty root) where `kn.key` belongs in the tree as
        // it is now: found by the walk above, or by `find`'s for the same key with the tree
        // unchanged since (every change bumps `changes`).
        unsafe { self.link(kn, parent, link) };
        Ok(())
    }

    /// Links `kn` at `link`, a child field of `parent` (or the root).
    ///
    /// # Safety
    ///
    /// `link` is the null child (or the empty root) where `kn.key` belongs in this tree as it is
    /// now, `parent` the node it belongs to (null for the root).
    unsafe fn link(&mut self, kn: Arc<Knote>, parent: *mut bindings::rb_node, link: *mut *mut bindings::rb_node) {
        let node = kn.registry_node.get();
        // The reference becomes the tree's; `remove` or `Drain` takes it back.
        let _ = Arc::into_raw(kn);
        self.changes = self.changes.wrapping_add(1);
        // SAFETY: `node` is the cleared node of a knote in no tree (a knote only enters its own
        // kqueue's registry, once: the caller holds the registry's locks and found the key free),
        // `parent`/`link` the free place for it (the caller's guarantee). This is
        // `rb_link_node_rcu`: the node's parent is set (its children are null, as cleared),
        // then a write barrier orders it and the knote's key before the volatile store that
        // lets a lockless reader find it.
        unsafe {
            (*node).__rb_parent_color = parent as c_ulong;
            smp_wmb();
            link.write_volatile(node);
            bindings::rb_insert_color(node, &mut self.root);
        }
    }

    /// Unlinks the knote registered under `key` if `wanted` says so of it, and returns the
    /// tree's reference to it (a look-up and a removal in one).
    pub(crate) fn take(
        &mut self,
        key: &KnoteKey,
        wanted: impl FnOnce(&Knote) -> bool,
    ) -> Option<Arc<Knote>> {
        let kn: *const Knote = &*self.get(key)?;
        // SAFETY: `kn` is in the tree (just found), which holds a reference to it until
        // `remove` hands that reference over; `&mut self` keeps the tree as it is meanwhile.
        let kn = unsafe { &*kn };
        if !wanted(kn) {
            return None;
        }
        self.remove(kn)
    }

    /// Unlinks `kn` if it is in the tree, and returns the tree's reference to it.
    pub(crate) fn remove(&mut self, kn: &Knote) -> Option<Arc<Knote>> {
        let node = kn.registry_node.get();
        // SAFETY: The node is valid (the knote is); linked ones are only written under the
        // registry's lock, which `&mut self` holds.
        if unsafe { (*node).__rb_parent_color } == node as c_ulong {
            return None;
        }
        self.changes = self.changes.wrapping_add(1);
        // SAFETY: A linked node is in this tree (a knote is only ever in its own kqueue's).
        unsafe {
            bindings::rb_erase(node, &mut self.root);
            clear(node);
        }
        // SAFETY: The tree held this reference since `insert`; it was unlinked above.
        Some(unsafe { Arc::from_raw(kn) })
    }

    /// Calls `f` on every knote, in key order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Knote)) {
        // SAFETY: Walks a valid tree, which `&self` keeps stable; each node is a live knote's.
        unsafe {
            let mut node = bindings::rb_first(&self.root);
            while !node.is_null() {
                f(&*knote_of(node));
                node = bindings::rb_next(node);
            }
        }
    }

    /// Empties the registry at once; the returned iterator hands out its knotes, each with the
    /// tree's reference, in no particular order (O(n), no rebalancing), and may be walked after
    /// the registry's lock is dropped.
    pub(crate) fn drain(&mut self) -> Drain {
        // SAFETY: `root` is a valid tree; from here on the iterator alone owns its nodes.
        let next = unsafe { bindings::rb_first_postorder(&self.root) };
        self.root.rb_node = ptr::null_mut();
        self.changes = self.changes.wrapping_add(1);
        Drain { next }
    }
}

impl Drop for Registry {
    /// Normally empty by then (the kqueue's release drains it); else its references go.
    fn drop(&mut self) {
        if !self.is_empty() {
            self.drain().for_each(drop);
        }
    }
}

/// Descriptor numbers per unit of the per-user knote cap a descriptor table is charged: 64
/// slots are 512 bytes, about what a knote is.
pub(crate) const FD_SLOTS_PER_UNIT: usize = 64;

/// `registry_node.__rb_parent_color` of a knote linked in a descriptor table (a cleared node
/// has its own address there; a tree node never has 0: a root is black, 1).
const FD_LINKED: c_ulong = 0;

/// One slot of a descriptor table: the node of the first knote on that descriptor, or null.
#[derive(Clone, Copy)]
struct Slot(*mut bindings::rb_node);

/// A kqueue's descriptor knotes (filters on descriptors: READ, WRITE, EMPTY, VNODE, PROCDESC)
/// by descriptor number, FreeBSD's `kq_knlist`: slot `fd` heads the chain of the knotes
/// registered on descriptor `fd`, in filter order, linked through their `registry_node`
/// (`__rb_parent_color` is `FD_LINKED`, `rb_right` the next knote's node). A look-up is an index
/// and a walk of a chain of one or two, where a tree of n knotes is walked ~1.4 log2 n levels
/// deep (14 at 1 000 descriptors).
///
/// Ownership as the tree's: one `Arc<Knote>` reference per linked knote, taken by `insert` and
/// given back by `remove` and `FdDrain`.
///
/// Locks: lives in its kqueue's `KqInner`, under `inner` (every registration, deletion and
/// release holds it; nothing looks descriptor knotes up without it).
///
/// Memory: 8 bytes per descriptor number up to the highest one registered, rounded up to a
/// power of two (at least `FD_SLOTS_PER_UNIT`), kept until the kqueue is released. Only open
/// descriptors of the caller are registered, so the table is never larger than the caller's
/// own descriptor table; it is charged to the memory cgroup and to the user's knote cap, one
/// unit per `FD_SLOTS_PER_UNIT` slots, so that many kqueues watching one high descriptor
/// cannot take more memory than the cap's worth of knotes.
pub(crate) struct FdTable {
    slots: LazyVec<Slot, KVmalloc>,
    /// The cap units held for `slots` (none before the first registration).
    charge: Option<Charge>,
}

// SAFETY: The slots hold `Arc<Knote>` references (as raw nodes) and `Knote` is `Send` and
// `Sync`; the pointers are only followed under the lock that holds the table.
unsafe impl Send for FdTable {}

impl FdTable {
    pub(crate) const fn new() -> Self {
        FdTable { slots: LazyVec::new(), charge: None }
    }

    /// Slots in the table (for /proc fdinfo: its memory is 8 bytes per slot); 0 until the
    /// first descriptor knote is registered (then nothing is to drain or free).
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The first node of descriptor `ident`'s chain (null: none, or beyond the table).
    fn head(&self, ident: u64) -> *mut bindings::rb_node {
        match usize::try_from(ident).ok().and_then(|fd| self.slots.get(fd)) {
            Some(slot) => slot.0,
            None => ptr::null_mut(),
        }
    }

    /// The knote registered under `key`, borrowed for as long as the table is.
    pub(crate) fn get(&self, key: &KnoteKey) -> Option<ArcBorrow<'_, Knote>> {
        let mut node = self.head(key.ident);
        while !node.is_null() {
            let kn = knote_of(node);
            // SAFETY: Linked nodes are live knotes' (the table holds a reference to each), and
            // `&self` keeps the chain as it is.
            unsafe {
                if (*kn).key.filter == key.filter {
                    // The knote is in an `Arc` (the table's reference), which outlives the
                    // borrow of `self`: only `&mut self` can take it out.
                    return Some(ArcBorrow::from_raw(kn));
                }
                node = (*node).rb_right;
            }
        }
        None
    }

    /// Links `kn` under its key (a descriptor number of the caller), the table taking the
    /// reference. EEXIST if the key is taken, ENOMEM if the table cannot grow to it (the
    /// reference is then dropped).
    pub(crate) fn insert(&mut self, kn: Arc<Knote>, account: &UserAccount) -> Result {
        let fd = usize::try_from(kn.key.ident).map_err(|_| EBADF)?;
        if fd >= self.slots.len() {
            self.grow(fd, account)?;
        }
        let mut link: *mut *mut bindings::rb_node = &mut self.slots[fd].0;
        // SAFETY: `link` points into the table or at a linked node's `rb_right`; the chain's
        // nodes are live knotes' and `&mut self` excludes every other user of the table.
        unsafe {
            while !(*link).is_null() {
                let here = (*knote_of(*link)).key.filter;
                if here == kn.key.filter {
                    return Err(EEXIST);
                }
                if here > kn.key.filter {
                    break;
                }
                link = &raw mut (**link).rb_right;
            }
            let node = kn.registry_node.get();
            (*node).rb_right = *link;
            (*node).__rb_parent_color = FD_LINKED;
            *link = node;
        }
        // The reference becomes the table's; `remove` or `FdDrain` takes it back.
        let _ = Arc::into_raw(kn);
        Ok(())
    }

    /// Grows the table to hold slot `fd`: the next power of two, charged first.
    #[inline(never)]
    fn grow(&mut self, fd: usize, account: &UserAccount) -> Result {
        let want = fd.checked_add(1).ok_or(ENOMEM)?.next_power_of_two().max(FD_SLOTS_PER_UNIT);
        let units = u32::try_from((want - self.slots.len()) / FD_SLOTS_PER_UNIT).map_err(|_| ENOMEM)?;
        match &mut self.charge {
            Some(charge) => charge.grow(units)?,
            None => self.charge = Some(account.charge_units(Resource::Knote, units)?),
        }
        if self.slots.resize(want, Slot(ptr::null_mut()), GFP_KERNEL_ACCOUNT).is_err() {
            if let Some(charge) = &mut self.charge {
                charge.shrink(units);
            }
            return Err(ENOMEM);
        }
        Ok(())
    }

    /// Unlinks the knote registered under `key` if `wanted` says so of it, and returns the
    /// table's reference to it.
    pub(crate) fn take(&mut self, key: &KnoteKey, wanted: impl FnOnce(&Knote) -> bool) -> Option<Arc<Knote>> {
        let kn: *const Knote = &*self.get(key)?;
        // SAFETY: `kn` is in the table (just found), which holds a reference to it until
        // `remove` hands that reference over; `&mut self` keeps the table as it is meanwhile.
        let kn = unsafe { &*kn };
        if !wanted(kn) {
            return None;
        }
        self.remove(kn)
    }

    /// Unlinks `kn` if it is in the table, and returns the table's reference to it.
    pub(crate) fn remove(&mut self, kn: &Knote) -> Option<Arc<Knote>> {
        let node = kn.registry_node.get();
        let fd = usize::try_from(kn.key.ident).ok()?;
        // SAFETY: The node is valid (the knote is); linked nodes are only written under the
        // table's lock, which `&mut self` holds.
        if unsafe { (*node).__rb_parent_color } != FD_LINKED {
            return None;
        }
        let mut link: *mut *mut bindings::rb_node = &mut self.slots.get_mut(fd)?.0;
        // SAFETY: A linked knote is in its descriptor's chain (a knote is only in its own
        // kqueue's table, under its own number); the chain's nodes are live knotes'.
        unsafe {
            while *link != node {
                if (*link).is_null() {
                    return None;
                }
                link = &raw mut (**link).rb_right;
            }
            *link = (*node).rb_right;
            clear(node);
            // The table held this reference since `insert`; it was unlinked above.
            Some(Arc::from_raw(kn))
        }
    }

    /// Calls `f` on every knote, by descriptor, then filter.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Knote)) {
        for slot in self.slots.iter() {
            let mut node = slot.0;
            while !node.is_null() {
                // SAFETY: Linked nodes are live knotes'; `&self` keeps the chains stable.
                unsafe {
                    f(&*knote_of(node));
                    node = (*node).rb_right;
                }
            }
        }
    }

    /// Empties the table at once (its memory and its charge go with the returned iterator,
    /// which hands out each knote with the table's reference and may outlive the lock).
    pub(crate) fn drain(&mut self) -> FdDrain {
        self.charge = None;
        FdDrain { slots: core::mem::take(&mut self.slots), at: 0, node: ptr::null_mut() }
    }
}

impl Drop for FdTable {
    /// Normally empty by then (the kqueue's release drains it); else its references go.
    #[inline]
    fn drop(&mut self) {
        if self.slots() != 0 {
            self.drain().for_each(drop);
        }
    }
}

/// The knotes of a descriptor table taken apart by [`FdTable::drain`].
pub(crate) struct FdDrain {
    slots: LazyVec<Slot, KVmalloc>,
    /// The next slot to look at once `node`'s chain is done.
    at: usize,
    /// The next node of the chain being handed out (null: go on with slot `at`).
    node: *mut bindings::rb_node,
}

impl Iterator for FdDrain {
    type Item = Arc<Knote>;

    fn next(&mut self) -> Option<Arc<Knote>> {
        while self.node.is_null() {
            self.node = self.slots.get(self.at)?.0;
            self.at += 1;
        }
        let node = self.node;
        // SAFETY: `node` is a linked node of the drained table, whose chains nothing else
        // touches now; its knote is live (the table's reference, handed out here once). The
        // next pointer is read before the node is cleared.
        unsafe {
            self.node = (*node).rb_right;
            clear(node);
            Some(Arc::from_raw(knote_of(node)))
        }
    }
}

impl Drop for FdDrain {
    fn drop(&mut self) {
        self.for_each(drop);
    }
}

/// A registry also looked up without locks, under RCU (see the module comment): the knotes of
/// one filter whose changes a producer applies without the kqueue's locks (NOTE_TRIGGER).
/// Changed, like a `Registry`, under its kqueue's `index` (with `inner`), through `locked`.
pub(crate) struct RcuRegistry {
    tree: UnsafeCell<Registry>,
}

// SAFETY: Changes go through `locked`, whose callers hold the lock that guards them; lockless
// readers only follow pointers under RCU (see the module comment), and knotes are `Sync`.
unsafe impl Sync for RcuRegistry {}
// SAFETY: As `Registry`.
unsafe impl Send for RcuRegistry {}

impl RcuRegistry {
    pub(crate) const fn new() -> Self {
        RcuRegistry { tree: UnsafeCell::new(Registry::new()) }
    }

    /// The tree, to change or look up under its lock. A reference `remove` gives back must be
    /// put with `Knote::put_after_grace_period` while the kqueue lives (a reader may still stand
    /// on the knote).
    ///
    /// # Safety
    ///
    /// The caller holds the lock that guards this registry's changes (its kqueue's `index`)
    /// for as long as the returned borrow lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn locked(&self) -> &mut Registry {
        // SAFETY: The caller's lock excludes every other writer and locked reader. Lockless
        // readers (`get_rcu`) read the root and the nodes at the same time through raw
        // pointers, with volatile loads: every store they can see is volatile (`link`) or one
        // of `lib/rbtree.c`'s `WRITE_ONCE`s (`rb_insert_color`, `rb_erase`), made in C on raw
        // pointers, which the compiler may not elide or reorder as it may plain stores through
        // a `&mut`; the one plain store to the tree (`drain`) comes when no reader can run
        // (release(): no kevent() call, so no trigger, is left).
        unsafe { &mut *self.tree.get() }
    }

    /// The knote registered under `key`, if a lockless walk finds it. `None` may be wrong (a
    /// rotation hid it): ask again under the lock. The knote may have been taken out of the
    /// registry since; its memory stays valid for the read-side critical section.
    pub(crate) fn get_rcu<'a>(&self, key: &KnoteKey, _rcu: &'a rcu::Guard) -> Option<&'a Knote> {
        // SAFETY: `tree` is valid for the kqueue's life. A node reached from the root was
        // linked in this tree after its knote's key was written (`insert`'s barrier, and the
        // loads depend on the pointer), and its knote's memory stays valid until a grace period
        // after it left the tree, which the caller's read-side critical section outlasts.
        unsafe { walk(ptr::addr_of!((*self.tree.get()).root), key).ok().map(|kn| &*kn) }
    }
}

/// The knotes of a registry taken apart by [`Registry::drain`], children before parents.
pub(crate) struct Drain {
    /// The next node in post-order; the nodes before it are cleared (their knotes may be gone).
    next: *mut bindings::rb_node,
}

impl Iterator for Drain {
    type Item = Arc<Knote>;

    fn next(&mut self) -> Option<Arc<Knote>> {
        let node = self.next;
        if node.is_null() {
            return None;
        }
        // SAFETY: `node` is an unvisited node of the drained tree: its parent and its parent's
        // children pointers are intact (post-order visits a parent after its children, and only
        // visited nodes are cleared), which is all `rb_next_postorder` reads. Once the next node
        // is known, this one is cleared and its reference handed out.
        unsafe {
            self.next = bindings::rb_next_postorder(node);
            clear(node);
            Some(Arc::from_raw(knote_of(node)))
        }
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        self.for_each(drop);
    }
}
