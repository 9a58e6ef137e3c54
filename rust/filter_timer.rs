// SPDX-License-Identifier: GPL-2.0
//! EVFILT_TIMER: a per-knote hrtimer.
//!
//! As FreeBSD: `data` is the period (or, with NOTE_ABSTIME, the CLOCK_REALTIME expiry) in the
//! unit chosen by NOTE_SECONDS/MSECONDS/USECONDS/NSECONDS (milliseconds by default); the timer is
//! periodic unless EV_ONESHOT or NOTE_ABSTIME; EV_CLEAR is set automatically unless NOTE_ABSTIME;
//! the returned `data` counts expirations since the last retrieval; re-adding restarts the timer
//! with the new parameters; negative data is EINVAL; each armed timer takes one unit of the
//! per-user `max_timers_per_user` cap (ENOMEM beyond).
//!
//! The hrtimer lives in a [`KnoteTimer`] of its own (other knotes carry none), created at the
//! knote's first arming and kept in its `KnoteReg` until `detach`. It fires in hard-irq context:
//! the callback only takes the kqueue's irq-safe `ready` lock. Arming and cancelling happen in
//! kevent() under the kqueue's `inner` mutex; the handle (which owns a reference to the
//! `KnoteTimer`, which owns one to the knote) lives in the knote's `KnoteReg` and cancels the
//! timer, waiting for a running callback, when dropped.
//!
//! Linux difference: a periodic timer's callback runs at most every [`MIN_REARM_NS`]; shorter
//! periods are still counted exactly (expirations are computed from elapsed time).

use crate::abi::{self, KEvent};
use crate::descriptor::FileRef;
use crate::filter::{FilterOps, Init, Known};
use crate::helper;
use crate::knote::{Knote, KnoteReg, KnoteState};
use crate::kqueue::KQueue;
use crate::limits::Resource;
use kernel::{
    bindings,
    prelude::*,
    sync::{Arc, ArcBorrow},
    time::{
        hrtimer::{HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerPointer, HrTimerRestart, RelativeMode},
        Delta, Monotonic,
    },
};

/// An EVFILT_TIMER knote's hrtimer. Owned by the knote's `KnoteReg::clock` (under `inner`) and,
/// while armed, by the handle in `KnoteReg::timer`; it owns a reference to its knote, which
/// the callback needs to queue it. Dies when `detach` (`disarm`) drops both, after the handle's
/// drop cancelled the timer and waited for its callback.
#[pin_data]
pub(crate) struct KnoteTimer {
    knote: Arc<Knote>,
    #[pin]
    timer: HrTimer<KnoteTimer>,
}

/// Shortest interval between two callbacks of one periodic timer.
pub(crate) const MIN_REARM_NS: i64 = 100_000;

// The knote's words (`KnoteState::words`):
/// Period in ns (periodic timers), 0 for one-shot timers.
const PERIOD: usize = 0;
/// When the current arming started (CLOCK_MONOTONIC ns), for exact expiration counts.
const START: usize = 1;
/// First expiry, ns after `START`.
const FIRST: usize = 2;
/// Expirations already added to `data` since `START`.
const COUNTED: usize = 3;

/// The timer's schedule, as validated from a change.
#[derive(Clone, Copy)]
struct Schedule {
    first_ns: i64,
    period_ns: i64,
}

pub(crate) struct Timer;
pub(crate) static TIMER: Timer = Timer;

impl FilterOps for Timer {
    fn number(&self) -> i16 {
        abi::EVFILT_TIMER
    }

    fn prepare(&self, _kq: &KQueue, kev: &KEvent, _file: Option<&FileRef>) -> Result<Init> {
        let s = schedule(kev)?;
        Ok(Init::words([s.period_ns, now_ns(), s.first_ns, 0]))
    }

    /// FreeBSD `filt_timerattach`: expirations start at 0, EV_CLEAR is implied unless
    /// NOTE_ABSTIME; then the timer is armed.
    fn attach(
        &self,
        kn: &Arc<Knote>,
        reg: &mut KnoteReg,
        _kev: &KEvent,
        _file: Option<&FileRef>,
    ) -> Result<Known> {
        let first_ns = kn.with_state(|st| {
            st.kevent.data = 0;
            if st.sfflags & abi::NOTE_ABSTIME == 0 {
                st.kevent.flags |= abi::EV_CLEAR;
            }
            st.words[FIRST]
        });
        arm(kn, reg, first_ns).map(|()| None)
    }

    fn detach(&self, _kn: &Knote, reg: &mut KnoteReg) {
        disarm(reg);
        // Breaks the cycle knote -> timer -> knote.
        reg.clock = None;
    }

    /// Re-add (FreeBSD `filt_timertouch(EVENT_REGISTER)`): the timer is cancelled and the knote
    /// dequeued; past expirations are forgotten and the new parameters taken. A change without
    /// EV_ADD only stores fflags and data.
    fn touch(&self, kn: &Arc<Knote>, reg: &mut KnoteReg, kev: &KEvent) -> Result {
        if kev.flags & abi::EV_ADD == 0 {
            kn.with_state(|st| {
                st.sfflags = kev.fflags;
                st.sdata = kev.data;
            });
            return Ok(());
        }
        let s = schedule(kev)?;
        disarm(reg);
        kn.kqueue().reset_knote(kn, |st| {
            st.sfflags = kev.fflags;
            st.sdata = kev.data;
            st.kevent.data = 0;
            st.kevent.fflags = 0;
            st.active = false;
            st.words = [s.period_ns, now_ns(), s.first_ns, 0];
        });
        arm(kn, reg, s.first_ns)
    }

    /// FreeBSD `filt_timer`: expirations not yet retrieved.
    fn event(&self, st: &mut KnoteState) -> bool {
        st.kevent.data != 0
    }
}

fn now_ns() -> i64 {
    // SAFETY: Reads CLOCK_MONOTONIC.
    unsafe { bindings::ktime_get() }
}

/// Validates `kev` (FreeBSD `filt_timervalidate`): EINVAL for negative data, unknown fflags or
/// more than one unit.
fn schedule(kev: &KEvent) -> Result<Schedule> {
    if kev.data < 0 || kev.fflags & !(abi::NOTE_TIMER_PRECMASK | abi::NOTE_ABSTIME) != 0 {
        return Err(EINVAL);
    }
    let unit_ns: i64 = match kev.fflags & abi::NOTE_TIMER_PRECMASK {
        0 | abi::NOTE_MSECONDS => 1_000_000,
        abi::NOTE_SECONDS => 1_000_000_000,
        abi::NOTE_USECONDS => 1_000,
        abi::NOTE_NSECONDS => 1,
        _ => return Err(EINVAL),
    };
    let value_ns = kev.data.saturating_mul(unit_ns);
    if kev.fflags & abi::NOTE_ABSTIME != 0 {
        // SAFETY: Reads the realtime clock.
        let now_real = unsafe { helper::kq_ktime_get_real_ns() };
        let first_ns = value_ns.saturating_sub(now_real).max(0);
        return Ok(Schedule { first_ns, period_ns: 0 });
    }
    let first_ns = value_ns.max(1);
    let period_ns = if kev.flags & abi::EV_ONESHOT != 0 { 0 } else { first_ns };
    Ok(Schedule { first_ns, period_ns })
}

/// Arms `kn`'s hrtimer (created at the first arming); the handle is kept in `reg` (under the
/// `inner` mutex). Takes one unit of the per-user timer cap.
fn arm(kn: &Arc<Knote>, reg: &mut KnoteReg, first_ns: i64) -> Result {
    if reg.timer_charge.is_none() {
        reg.timer_charge = Some(kn.kqueue().account().charge(Resource::Timer)?);
    }
    let clock = match &reg.clock {
        Some(clock) => clock.clone(),
        None => {
            let new = Arc::pin_init(
                pin_init!(KnoteTimer { knote: kn.clone(), timer <- HrTimer::new() }),
                GFP_KERNEL_ACCOUNT,
            )?;
            reg.clock.insert(new).clone()
        }
    };
    reg.timer = Some(clock.start(Delta::from_nanos(first_ns)));
    Ok(())
}

/// Cancels the knote's timer, waiting for a running callback (the timer object stays for the
/// next arming). Must not hold the `ready` lock.
fn disarm(reg: &mut KnoteReg) {
    reg.timer = None;
    reg.timer_charge = None;
}

/// Adds the expirations due by now to `data`; returns the interval to the next callback, or
/// `None` for a one-shot timer.
fn count_expirations(st: &mut KnoteState) -> Option<i64> {
    let w = &mut st.words;
    let elapsed = now_ns() - w[START];
    let due = if w[PERIOD] == 0 {
        1
    } else {
        1 + (elapsed - w[FIRST]).max(0) / w[PERIOD]
    };
    let new = due - w[COUNTED];
    w[COUNTED] = due;
    let period = w[PERIOD];
    st.kevent.data = st.kevent.data.saturating_add(new);
    (period != 0).then(|| period.max(MIN_REARM_NS))
}

impl HrTimerCallback for KnoteTimer {
    type Pointer<'a> = Arc<KnoteTimer>;

    /// Hard-irq context: count, queue, wake; restart periodic timers.
    fn run(timer: ArcBorrow<'_, KnoteTimer>, mut ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        let this = timer.knote.as_arc_borrow();
        let kq = this.kqueue();
        let mut ready = kq.ready_lock().lock();
        let st = this.state.access_mut(&mut ready);
        if st.deleted {
            return HrTimerRestart::NoRestart;
        }
        let next = count_expirations(st);
        let queued = kq.activate_locked(&mut ready, this);
        drop(ready);
        if queued {
            kq.wake_for_new_event(false);
        }
        match next {
            Some(interval) => {
                ctx.forward_now(Delta::from_nanos(interval));
                HrTimerRestart::Restart
            }
            None => HrTimerRestart::NoRestart,
        }
    }
}

kernel::impl_has_hr_timer! {
    impl HasHrTimer<Self> for KnoteTimer { mode: RelativeMode<Monotonic>, field: self.timer }
}
