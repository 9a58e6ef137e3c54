// SPDX-License-Identifier: GPL-2.0
//! Per-user accounting: every knote and every armed timer a user creates is counted against
//! that user's caps (module parameters `max_knotes_per_user`, `max_timers_per_user`, declared in
//! `kq_helper.c` so that they show in /sys/module/kqueue/parameters/), so no
//! user can make the module allocate without bound. Memory itself is also charged to the
//! caller's memory cgroup (`GFP_KERNEL_ACCOUNT`) at each allocation site.
//!
//! One [`UserAccount`] exists per user (kernel uid, `kuid_t`: the same in every user namespace)
//! that has a kqueue open; it lives in the global [`USERS`]
//! table, is shared (`Arc`) by that user's kqueues, and leaves the table when the user's last
//! kqueue is released.

use core::ptr::NonNull;
use kernel::{
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc,
    },
};

kernel::sync::global_lock! {
    // SAFETY: Initialised by `Accounts::new()` from the module initialiser before any open().
    /// Accounts of all users with an open kqueue. Lock order: taken alone (never with a
    /// kqueue lock held); protects the vector and each account's `kqueues` count.
    unsafe(uninit) static USERS: Mutex<KVec<Arc<UserAccount>>> = KVec::new();
}

/// The table's lifetime as a module field: declared after the device, so it is dropped after
/// the device is deregistered (no open() can then look an account up).
pub(crate) struct Accounts(());

impl Accounts {
    /// Initialises the global table; called once from module init.
    pub(crate) fn new() -> Self {
        // SAFETY: Called exactly once, from the module initialiser, before any other use.
        unsafe { USERS.init() };
        Accounts(())
    }
}

impl Drop for Accounts {
    /// Frees the table's storage at module unload (every kqueue is closed by then: open
    /// kqueues pin the module, and the device is already deregistered).
    fn drop(&mut self) {
        *USERS.lock() = KVec::new();
    }
}

/// What one user has allocated through kqueue.
pub(crate) struct UserAccount {
    /// The kernel uid (`kuid_t.val`).
    uid: u32,
    /// Open kqueues of this user; protected by `USERS`.
    kqueues: Atomic<u32>,
    /// Registered knotes of all of this user's kqueues.
    knotes: Atomic<u32>,
    /// Armed EVFILT_TIMER timers of all of this user's kqueues.
    timers: Atomic<u32>,
}

/// Which per-user resource a [`Charge`] holds.
#[derive(Clone, Copy)]
pub(crate) enum Resource {
    Knote,
    Timer,
}

impl UserAccount {
    /// Finds or creates the account of `uid` and counts one more kqueue on it.
    pub(crate) fn open(uid: u32) -> Result<Arc<UserAccount>> {
        let mut users = USERS.lock();
        if let Some(acct) = users.iter().find(|a| a.uid == uid) {
            acct.kqueues.fetch_add(1, ordering::Relaxed);
            return Ok(acct.clone());
        }
        let acct = Arc::new(
            UserAccount {
                uid,
                kqueues: Atomic::new(1),
                knotes: Atomic::new(0),
                timers: Atomic::new(0),
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        users.push(acct.clone(), GFP_KERNEL_ACCOUNT)?;
        Ok(acct)
    }

    /// Counts one kqueue less; the account leaves the table with the user's last kqueue, which
    /// must leave nothing charged (see [`Charge`]).
    pub(crate) fn close(this: &Arc<UserAccount>) {
        let mut users = USERS.lock();
        if this.kqueues.fetch_sub(1, ordering::Relaxed) == 1 {
            kernel::warn_on!(
                this.knotes.load(ordering::Relaxed) != 0 || this.timers.load(ordering::Relaxed) != 0
            );
            if let Some(i) = users.iter().position(|a| Arc::ptr_eq(a, this)) {
                let _ = users.remove(i);
            }
        }
    }

    fn counter(&self, what: Resource) -> (&Atomic<u32>, u32) {
        match what {
            // SAFETY: Reads a module parameter (`kq_helper.c`).
            Resource::Knote => (&self.knotes, unsafe { crate::helper::kq_max_knotes_per_user() }),
            // SAFETY: As above.
            Resource::Timer => (&self.timers, unsafe { crate::helper::kq_max_timers_per_user() }),
        }
    }

    /// Takes one unit of `what`, or fails with ENOMEM at the cap (FreeBSD's errno for
    /// `kern.kq_calloutmax` and for knote allocation failure).
    pub(crate) fn charge(&self, what: Resource) -> Result<Charge> {
        self.charge_units(what, 1)
    }

    /// Takes `units` of `what` at once (a kqueue's descriptor table), all or none.
    pub(crate) fn charge_units(&self, what: Resource, units: u32) -> Result<Charge> {
        self.take(what, units)?;
        Ok(Charge { acct: NonNull::from(self), what, units })
    }

    /// Counts `units` more of `what`, all or none: ENOMEM if that would pass the cap.
    fn take(&self, what: Resource, units: u32) -> Result {
        let (count, max) = self.counter(what);
        let mut cur = count.load(ordering::Relaxed);
        loop {
            if units > max.saturating_sub(cur) {
                return Err(ENOMEM);
            }
            match count.cmpxchg(cur, cur + units, ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(now) => cur = now,
            }
        }
    }
}

/// One unit of a per-user resource; given back when dropped.
///
/// It points at its account without a reference count of its own (one atomic pair less per
/// knote): the kqueue that took it holds the account (`KQueue::account`) until it is freed,
/// and every charge is given back before that kqueue's release() returns. A knote's unit goes
/// when it is deleted (`KQueue::drop_knote`, `KQueue::file_closed`), which release() does to
/// every knote, or with the knote if it never got that far; an armed timer's unit when its
/// timer stops or its knote is detached. `UserAccount::close` checks that the user's last
/// kqueue left nothing charged.
pub(crate) struct Charge {
    acct: NonNull<UserAccount>,
    what: Resource,
    /// Units held: one for a knote or a timer; a kqueue's descriptor table holds one per
    /// `registry::FD_SLOTS_PER_UNIT` slots and grows its charge with the table (`grow`).
    units: u32,
}

impl Charge {
    /// Holds `units` more of the same resource, all or none (ENOMEM at the cap).
    pub(crate) fn grow(&mut self, units: u32) -> Result {
        // SAFETY: The account outlives every charge taken from it (see the type's comment).
        unsafe { self.acct.as_ref() }.take(self.what, units)?;
        self.units += units;
        Ok(())
    }

    /// Gives `units` of the held ones back (at most all of them).
    pub(crate) fn shrink(&mut self, units: u32) {
        let units = units.min(self.units);
        // SAFETY: As in `grow`.
        unsafe { self.acct.as_ref() }.counter(self.what).0.fetch_sub(units, ordering::Relaxed);
        self.units -= units;
    }
}

// SAFETY: The account is `Sync` (atomics only) and outlives the charge (see above); a charge
// may be given back from any thread.
unsafe impl Send for Charge {}
// SAFETY: As above; a shared charge gives access to nothing.
unsafe impl Sync for Charge {}

impl Drop for Charge {
    fn drop(&mut self) {
        // SAFETY: The account outlives every charge taken from it (see the type's comment).
        let acct = unsafe { self.acct.as_ref() };
        acct.counter(self.what).0.fetch_sub(self.units, ordering::Relaxed);
    }
}
