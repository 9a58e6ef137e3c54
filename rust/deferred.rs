// SPDX-License-Identifier: GPL-2.0
//! The descriptor knotes one changelist leaves to be evaluated after it (`KQueue::apply_changes`
//! evaluates them without `inner`: a pipe's mutex or a socket's lock may be held across page
//! faults, see there).
//!
//! Owned by the kqueue's `KqInner` while a changelist runs (so `inner` guards it), then moved
//! out whole before the evaluations, and dropped with them at the end of the call: it holds a
//! reference to each knote, so a knote deleted by another thread meanwhile is still safe to
//! look at (its evaluation finds it `deleted`).
//!
//! The first [`INLINE`] knotes live in the list itself: a changelist of a few descriptors (what
//! event loops send) allocates nothing here. The rest spill into a vector; the whole list is
//! bounded by [`MAX`], beyond which (or without memory) the caller queues the knote for the
//! scan to evaluate instead. So the memory a long changelist makes us allocate is one pointer
//! per knote, at most `MAX`.

use crate::knote::Knote;
use kernel::{prelude::*, sync::Arc};

/// Knotes kept without allocating.
const INLINE: usize = 8;
/// Knotes one changelist may defer in all.
const MAX: usize = 1024;

pub(crate) struct Deferred {
    /// `inline[..min(len, INLINE)]` are `Some`, the rest `None`.
    inline: [Option<Arc<Knote>>; INLINE],
    /// The knotes after the first `INLINE`, in order.
    spill: KVec<Arc<Knote>>,
    len: usize,
}

impl Deferred {
    pub(crate) const fn new() -> Self {
        Deferred { inline: [const { None }; INLINE], spill: KVec::new(), len: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn last(&self) -> Option<&Arc<Knote>> {
        match self.len {
            0 => None,
            n if n <= INLINE => self.inline[n - 1].as_ref(),
            _ => self.spill.last(),
        }
    }

    /// Adds `kn` (a reference of its own) unless it is the one added last (a changelist that
    /// changes one knote twice in a row evaluates it once). False if the list is full or a
    /// spill allocation failed: the caller then has the scan evaluate the knote.
    pub(crate) fn push(&mut self, kn: &Arc<Knote>) -> bool {
        if self.last().is_some_and(|k| Arc::ptr_eq(k, kn)) {
            return true;
        }
        if self.len < INLINE {
            self.inline[self.len] = Some(kn.clone());
        } else if self.len >= MAX || self.spill.push(kn.clone(), GFP_KERNEL_ACCOUNT).is_err() {
            return false;
        }
        self.len += 1;
        true
    }

    /// The knotes in the order they were added.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Knote>> {
        Iterator::chain(self.inline.iter().map_while(Option::as_ref), self.spill.iter())
    }
}
