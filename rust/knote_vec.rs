// SPDX-License-Identifier: GPL-2.0
//! A vector of knote references whose first `N` live in the vector itself, the rest in a
//! `KVec`: the short lists the module keeps most often (a changelist's few deferred
//! evaluations, a watched file's one watcher) then cost no allocation.
//!
//! Owned by whoever keeps the list, under that owner's lock (`KqInner::to_evaluate` under
//! `inner`, a `FILES` entry's watchers under its shard); each element is a reference of its
//! own to its knote, dropped when it leaves the list or the list dies.
//!
//! Also [`LazyVec`], a `KVec` that costs nothing to drop while it never allocated: 7.2's `KVec`
//! hands even an empty, never-allocated buffer to the allocator on drop (`krealloc(NULL, 0)`,
//! an out-of-line call into the slab allocator), and a kqueue drops several such lists on
//! close, a watched file's entry one on every close.

use crate::knote::Knote;
use core::mem::{ManuallyDrop, MaybeUninit};
use core::ops::{Deref, DerefMut};
use kernel::{
    alloc::{allocator::Kmalloc, Allocator, Flags, Vec},
    prelude::*,
    sync::Arc,
};

pub(crate) struct KnoteVec<const N: usize> {
    /// Elements `0..min(len, N)` are initialised, the rest not: creating and dropping a list
    /// costs nothing per unused slot (a kqueue's empty list is made and dropped with it).
    inline: [MaybeUninit<Arc<Knote>>; N],
    /// Elements `N..len`.
    spill: LazyVec<Arc<Knote>>,
    len: usize,
}

impl<const N: usize> KnoteVec<N> {
    pub(crate) const fn new() -> Self {
        KnoteVec { inline: [const { MaybeUninit::uninit() }; N], spill: LazyVec::new(), len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn get(&self, i: usize) -> Option<&Arc<Knote>> {
        match i {
            i if i >= self.len => None,
            // SAFETY: Inline elements below `len` are initialised (type invariant).
            i if i < N => Some(unsafe { self.inline[i].assume_init_ref() }),
            i => self.spill.get(i - N),
        }
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Arc<Knote>> {
        match i {
            i if i >= self.len => None,
            // SAFETY: As in `get`.
            i if i < N => Some(unsafe { self.inline[i].assume_init_mut() }),
            i => self.spill.get_mut(i - N),
        }
    }

    pub(crate) fn last(&self) -> Option<&Arc<Knote>> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    /// Appends `kn` (allocating, with `flags`, only beyond the first `N`).
    pub(crate) fn push(&mut self, kn: Arc<Knote>, flags: Flags) -> Result {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                slot.write(kn);
            }
            None => self.spill.push(kn, flags)?,
        }
        self.len += 1;
        Ok(())
    }

    pub(crate) fn pop(&mut self) -> Option<Arc<Knote>> {
        let i = self.len.checked_sub(1)?;
        self.len = i;
        match self.inline.get(i) {
            // SAFETY: Slot `i` was below `len`, so initialised; with `len` now `i` it counts as
            // uninitialised, so the element is moved out exactly once.
            Some(slot) => Some(unsafe { slot.assume_init_read() }),
            None => self.spill.pop(),
        }
    }

    /// Removes element `i` (< `len()`) in O(1): the last element moves into its place.
    pub(crate) fn swap_remove(&mut self, i: usize) -> Option<Arc<Knote>> {
        let last = self.pop()?;
        if i == self.len {
            return Some(last);
        }
        self.get_mut(i).map(|place| core::mem::replace(place, last))
    }

    /// The elements in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Knote>> {
        let inline = &self.inline[..self.len.min(N)];
        // SAFETY: As in `get`: these slots are below `len`.
        Iterator::chain(inline.iter().map(|slot| unsafe { slot.assume_init_ref() }), self.spill.iter())
    }
}

impl<const N: usize> Drop for KnoteVec<N> {
    fn drop(&mut self) {
        for slot in &mut self.inline[..self.len.min(N)] {
            // SAFETY: Slots below `len` are initialised, and dropped once (the list dies).
            unsafe { slot.assume_init_drop() };
        }
    }
}

/// A `KVec` (or, with `A = KVmalloc`, a `KVVec`) whose drop skips the allocator while it has
/// no buffer (see the module comment).
pub(crate) struct LazyVec<T, A: Allocator = Kmalloc>(ManuallyDrop<Vec<T, A>>);

impl<T, A: Allocator> LazyVec<T, A> {
    pub(crate) const fn new() -> Self {
        LazyVec(ManuallyDrop::new(Vec::new()))
    }
}

impl<T, A: Allocator> Default for LazyVec<T, A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, A: Allocator> Deref for LazyVec<T, A> {
    type Target = Vec<T, A>;

    fn deref(&self) -> &Vec<T, A> {
        &self.0
    }
}

impl<T, A: Allocator> DerefMut for LazyVec<T, A> {
    fn deref_mut(&mut self) -> &mut Vec<T, A> {
        &mut self.0
    }
}

impl<T, A: Allocator> Drop for LazyVec<T, A> {
    fn drop(&mut self) {
        // A vector without a buffer has no element and nothing to free (zero-sized elements
        // aside, which no list of ours has): skipping its drop leaks nothing.
        if self.0.capacity() != 0 || core::mem::size_of::<T>() == 0 {
            // SAFETY: Dropped once, here; the field is not used again.
            unsafe { ManuallyDrop::drop(&mut self.0) };
        }
    }
}
