// SPDX-License-Identifier: GPL-2.0
//! The two wait-queue hooks of a descriptor knote, and the wake-up callbacks behind them.
//!
//! As epoll: at registration the watched file's own `poll` method is called with a poll table
//! whose queue function (`kq_poll_hook.c`) links one of these hooks into each wait queue it
//! names (pipes and sockets name one, ttys and FIFOs opened read-write two). When the file's
//! state changes, its waker runs [`kq_knote_wake`] — on whatever CPU, in whatever context
//! (softirq for TCP, hard irq for some drivers), under the file's wait-queue lock. The callback
//! only takes the knote's kqueue `ready` lock (irq-safe, never sleeps), marks the knote active
//! and queues it; the condition and `data` are computed later, at kevent() time, in process
//! context. It never takes a reference and never frees anything.
//!
//! Owned by the knote (embedded, so its address is stable: knotes live pinned in an `Arc`).
//! Lifetime: hooked at EV_ADD; unhooked by [`PollHooks::unhook`] before the knote can be freed
//! (EV_DELETE, EV_ONESHOT, descriptor close, kqueue release), or by the queue's owner with
//! POLLFREE (see `kq_poll_hook.c`). Unhooking is serialised by the caller: the file's `FILES`
//! shard for knotes on close-watched files, the kqueue's `inner` lock for pinned ones.

use crate::helper;
use crate::knote::Knote;
use kernel::{bindings, ffi::c_void, prelude::*, sync::ArcBorrow, types::Opaque};

/// Hooks per knote: the most wait queues one `poll` method may name.
const NR_HOOKS: u32 = 2;

/// `struct kq_poll_hook` (kq_poll_hook.h): only C reads or writes it.
#[repr(C)]
pub(crate) struct RawPollHook {
    wait: bindings::wait_queue_entry,
    whead: *mut bindings::wait_queue_head,
    events: u32,
}

/// A knote's hooks: unhooked (`whead` null) until [`PollHooks::hook`], which writes the rest.
#[pin_data]
pub(crate) struct PollHooks {
    #[pin]
    hooks: Opaque<[RawPollHook; NR_HOOKS as usize]>,
}

impl PollHooks {
    /// Unhooked hooks: only each `whead` is written (null), all the C side reads of a hook
    /// that `kq_queue_proc` did not fill (`kq_poll_unhook`); not the 112 bytes of entries.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(PollHooks {
            // SAFETY: `slot` is the new hooks' memory, valid for writes; each `whead` is
            // written in place.
            hooks <- Opaque::ffi_init(|slot: *mut [RawPollHook; NR_HOOKS as usize]| unsafe {
                for i in 0..NR_HOOKS as usize {
                    (&raw mut (*slot)[i].whead).write(core::ptr::null_mut());
                }
            }),
        })
    }

    fn raw(&self) -> *mut RawPollHook {
        self.hooks.get().cast()
    }

    /// Calls `file`'s poll method with our table, hooking `knote` (which embeds `self`) for the
    /// wake-up keys `events`; returns the file's current poll mask. EINVAL if the file names more
    /// wait queues than a knote has hooks (then nothing stays hooked).
    ///
    /// # Safety
    ///
    /// `file` must be a live file; `self` must be the hooks of `knote`, which must stay alive and
    /// in place until [`PollHooks::unhook`] returned.
    pub(crate) unsafe fn hook(&self, knote: &Knote, file: *mut bindings::file, events: u32) -> Result<u32> {
        let mut overflow = false;
        // SAFETY: `file` is live; the hooks are ours, unhooked (never hooked) and outlive their
        // registration by the caller's contract.
        let mask = unsafe {
            helper::kq_poll_hook_file(
                file,
                self.raw(),
                NR_HOOKS,
                events,
                (knote as *const Knote).cast(),
                &mut overflow,
            )
        };
        if overflow {
            self.unhook();
            return Err(EINVAL);
        }
        Ok(mask)
    }

    /// Takes every hook off its wait queue; afterwards no callback runs for this knote.
    /// Idempotent. Callers serialise it per knote (see the module comment).
    pub(crate) fn unhook(&self) {
        // SAFETY: Each hook is either unhooked (null `whead`: skipped) or linked by `hook`; the
        // caller serialises.
        unsafe { helper::kq_poll_unhook(self.raw(), NR_HOOKS) }
    }
}

// SAFETY: The hooks are only touched through the C functions, under the locks described above.
unsafe impl Send for PollHooks {}
// SAFETY: As above.
unsafe impl Sync for PollHooks {}

/// The watched file's state changed. Any context, under the file's wait-queue lock.
///
/// # Safety
///
/// `knote` is the `wait.private` of a hooked entry: a live knote (a knote is unhooked before
/// its last reference can go: whoever unhooks it holds an `Arc` of its own, and unhooking waits
/// for running callbacks).
#[no_mangle]
pub(crate) unsafe extern "C" fn kq_knote_wake(knote: *const c_void) {
    // SAFETY: See above; knotes are allocated by `Arc`, so this is an `Arc<Knote>` pointer.
    let kn = unsafe { ArcBorrow::from_raw(knote.cast::<Knote>()) };
    kn.kqueue().source_fired(kn);
}

/// The watched wait queue is being freed (POLLFREE): the C side unlinks our entry after this
/// returns; the knote is queued so that kevent() re-evaluates it (and finds its file gone or
/// still there).
///
/// # Safety
///
/// As [`kq_knote_wake`].
#[no_mangle]
pub(crate) unsafe extern "C" fn kq_knote_pollfree(knote: *const c_void) {
    // SAFETY: As in `kq_knote_wake`.
    unsafe { kq_knote_wake(knote) }
}
