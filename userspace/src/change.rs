//! Typed changes: [`Filter`] says what to watch, [`Change`] what to do with it.

use std::os::fd::RawFd;
use std::time::Duration;

use crate::flags::Flags;
use crate::sys::{self, KEvent};

/// Unit of an `EVFILT_TIMER` period (`NOTE_SECONDS`, ...; FreeBSD's default is milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerUnit {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

impl TimerUnit {
    /// The `NOTE_*` unit bit.
    pub const fn note(self) -> u32 {
        match self {
            TimerUnit::Seconds => sys::NOTE_SECONDS,
            TimerUnit::Milliseconds => sys::NOTE_MSECONDS,
            TimerUnit::Microseconds => sys::NOTE_USECONDS,
            TimerUnit::Nanoseconds => sys::NOTE_NSECONDS,
        }
    }
}

/// What a change refers to: a filter, its identifier and the filter's own parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// `EVFILT_READ`: the descriptor has data to read (`data`: bytes available).
    Read(RawFd),
    /// `EVFILT_WRITE`: the descriptor has room to write (`data`: bytes of room).
    Write(RawFd),
    /// `EVFILT_SIGNAL`: delivery attempts of a signal (`data`: count since last report).
    Signal(i32),
    /// `EVFILT_TIMER`: fires every `period` `unit`s, or once at time `period` when `absolute`
    /// (`data`: expirations since last report).
    Timer {
        id: u64,
        period: i64,
        unit: TimerUnit,
        absolute: bool,
    },
    /// `EVFILT_USER`: fires when triggered with `NOTE_TRIGGER` (see [`Change::trigger`]).
    User { id: u64 },
    /// Any filter number with a raw identifier.
    Other { filter: i16, ident: u64 },
}

impl Filter {
    /// A periodic timer with nanosecond resolution (periods beyond ~292 years saturate).
    ///
    /// ```
    /// use std::time::Duration;
    /// use kqueue::{Filter, TimerUnit};
    /// let timer = Filter::timer(7, Duration::from_millis(100));
    /// assert_eq!(
    ///     timer,
    ///     Filter::Timer { id: 7, period: 100_000_000, unit: TimerUnit::Nanoseconds, absolute: false }
    /// );
    /// ```
    pub fn timer(id: u64, period: Duration) -> Filter {
        Filter::Timer {
            id,
            period: i64::try_from(period.as_nanos()).unwrap_or(i64::MAX),
            unit: TimerUnit::Nanoseconds,
            absolute: false,
        }
    }

    /// The `EVFILT_*` number.
    pub const fn number(self) -> i16 {
        match self {
            Filter::Read(_) => sys::EVFILT_READ,
            Filter::Write(_) => sys::EVFILT_WRITE,
            Filter::Signal(_) => sys::EVFILT_SIGNAL,
            Filter::Timer { .. } => sys::EVFILT_TIMER,
            Filter::User { .. } => sys::EVFILT_USER,
            Filter::Other { filter, .. } => filter,
        }
    }

    /// The `ident` field. A negative descriptor or signal number is sign-extended, so it
    /// stays invalid for the kernel rather than becoming a large valid number.
    pub const fn ident(self) -> u64 {
        match self {
            Filter::Read(fd) | Filter::Write(fd) => fd as i64 as u64,
            Filter::Signal(signo) => signo as i64 as u64,
            Filter::Timer { id, .. } | Filter::User { id } => id,
            Filter::Other { ident, .. } => ident,
        }
    }

    /// The `fflags` and `data` this filter implies (timer unit and period, else zero).
    const fn parameters(self) -> (u32, i64) {
        match self {
            Filter::Timer {
                period,
                unit,
                absolute,
                ..
            } => {
                let abs = if absolute { sys::NOTE_ABSTIME } else { 0 };
                (unit.note() | abs, period)
            }
            _ => (0, 0),
        }
    }
}

/// How an `EVFILT_USER` trigger or change combines its value with the event's `fflags`
/// (`NOTE_FFNOP`, `NOTE_FFAND`, `NOTE_FFOR`, `NOTE_FFCOPY`); values are masked to
/// `NOTE_FFLAGSMASK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserOp {
    Nop,
    And(u32),
    Or(u32),
    Copy(u32),
}

impl UserOp {
    /// The `fflags` bits: control code and value.
    pub const fn fflags(self) -> u32 {
        let (control, value) = match self {
            UserOp::Nop => (sys::NOTE_FFNOP, 0),
            UserOp::And(v) => (sys::NOTE_FFAND, v),
            UserOp::Or(v) => (sys::NOTE_FFOR, v),
            UserOp::Copy(v) => (sys::NOTE_FFCOPY, v),
        };
        control | (value & sys::NOTE_FFLAGSMASK)
    }
}

/// One entry of a changelist, built from a [`Filter`] and an action; converts into a [`KEvent`].
///
/// ```
/// use kqueue::{sys, Change, Filter, Flags, KEvent};
/// let kev: KEvent = Change::add(Filter::Read(3)).flags(Flags::CLEAR).udata(9).into();
/// assert_eq!((kev.ident, kev.filter), (3, sys::EVFILT_READ));
/// assert_eq!(kev.flags, sys::EV_ADD | sys::EV_CLEAR);
/// assert_eq!(kev.udata, 9);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    filter: Filter,
    flags: Flags,
    fflags: u32,
    data: Option<i64>,
    udata: u64,
}

impl Change {
    /// A change of `filter` with the given action flags.
    pub const fn new(filter: Filter, flags: Flags) -> Change {
        Change {
            filter,
            flags,
            fflags: 0,
            data: None,
            udata: 0,
        }
    }

    /// `EV_ADD`: register (or modify) `filter`.
    pub const fn add(filter: Filter) -> Change {
        Change::new(filter, Flags::ADD)
    }

    /// `EV_DELETE`: remove `filter`.
    pub const fn delete(filter: Filter) -> Change {
        Change::new(filter, Flags::DELETE)
    }

    /// `EV_ENABLE`: report `filter` again after `EV_DISABLE`.
    pub const fn enable(filter: Filter) -> Change {
        Change::new(filter, Flags::ENABLE)
    }

    /// `EV_DISABLE`: keep `filter` registered but report nothing.
    pub const fn disable(filter: Filter) -> Change {
        Change::new(filter, Flags::DISABLE)
    }

    /// `NOTE_TRIGGER` for the `EVFILT_USER` event `id`, applying `op` to its `fflags`.
    /// Uses `EV_KEEPUDATA`, so the event keeps the udata it was registered with.
    pub const fn trigger(id: u64, op: UserOp) -> Change {
        Change::new(Filter::User { id }, Flags::KEEPUDATA).fflags(sys::NOTE_TRIGGER | op.fflags())
    }

    /// Adds flags (`CLEAR`, `ONESHOT`, `RECEIPT`, ...).
    pub const fn flags(mut self, flags: Flags) -> Change {
        self.flags = Flags::from_bits(self.flags.bits() | flags.bits());
        self
    }

    /// Adds `fflags` bits to those the filter implies (e.g. `NOTE_LOWAT`).
    pub const fn fflags(mut self, fflags: u32) -> Change {
        self.fflags |= fflags;
        self
    }

    /// Sets `data`, replacing what the filter implies (e.g. a timer's period).
    pub const fn data(mut self, data: i64) -> Change {
        self.data = Some(data);
        self
    }

    /// Sets the opaque `udata` returned with every event of this registration.
    pub const fn udata(mut self, udata: u64) -> Change {
        self.udata = udata;
        self
    }

    /// The raw changelist entry.
    pub const fn to_kevent(self) -> KEvent {
        let (implied_fflags, implied_data) = self.filter.parameters();
        KEvent {
            ident: self.filter.ident(),
            filter: self.filter.number(),
            flags: self.flags.bits(),
            fflags: implied_fflags | self.fflags,
            data: match self.data {
                Some(data) => data,
                None => implied_data,
            },
            udata: self.udata,
            ext: [0; 4],
        }
    }
}

impl From<Change> for KEvent {
    fn from(change: Change) -> KEvent {
        change.to_kevent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_change_carries_unit_and_period() {
        let timer = Filter::Timer {
            id: 4,
            period: 250,
            unit: TimerUnit::Milliseconds,
            absolute: true,
        };
        let kev = Change::add(timer).flags(Flags::ONESHOT).to_kevent();
        assert_eq!((kev.filter, kev.ident), (sys::EVFILT_TIMER, 4));
        assert_eq!(kev.fflags, sys::NOTE_MSECONDS | sys::NOTE_ABSTIME);
        assert_eq!(kev.data, 250);
        assert_eq!(kev.flags, sys::EV_ADD | sys::EV_ONESHOT);
    }

    #[test]
    fn timer_from_duration_saturates() {
        let Filter::Timer { period, unit, .. } = Filter::timer(1, Duration::MAX) else {
            panic!("not a timer");
        };
        assert_eq!((period, unit), (i64::MAX, TimerUnit::Nanoseconds));
    }

    #[test]
    fn negative_descriptor_stays_negative() {
        assert_eq!(Filter::Read(-1).ident(), u64::MAX);
        assert_eq!(Filter::Write(5).ident(), 5);
        assert_eq!(Filter::Signal(2).number(), sys::EVFILT_SIGNAL);
    }

    #[test]
    fn data_overrides_and_fflags_add() {
        let kev = Change::add(Filter::timer(1, Duration::from_nanos(10)))
            .data(20)
            .fflags(sys::NOTE_ABSTIME)
            .to_kevent();
        assert_eq!(kev.data, 20);
        assert_eq!(kev.fflags, sys::NOTE_NSECONDS | sys::NOTE_ABSTIME);
    }

    #[test]
    fn user_ops_encode_control_and_masked_value() {
        assert_eq!(UserOp::Nop.fflags(), sys::NOTE_FFNOP);
        assert_eq!(UserOp::And(0x5).fflags(), sys::NOTE_FFAND | 0x5);
        assert_eq!(UserOp::Or(0xff00_0001).fflags(), sys::NOTE_FFOR | 0x1);
        assert_eq!(UserOp::Copy(0x42).fflags(), sys::NOTE_FFCOPY | 0x42);
    }

    #[test]
    fn trigger_keeps_udata_and_sets_note_trigger() {
        let kev = Change::trigger(8, UserOp::Or(0x3)).data(5).to_kevent();
        assert_eq!((kev.filter, kev.ident), (sys::EVFILT_USER, 8));
        assert_eq!(kev.flags, sys::EV_KEEPUDATA);
        assert_eq!(kev.fflags, sys::NOTE_TRIGGER | sys::NOTE_FFOR | 0x3);
        assert_eq!(kev.data, 5);
    }

    #[test]
    fn actions() {
        let user = Filter::User { id: 1 };
        assert_eq!(Change::delete(user).to_kevent().flags, sys::EV_DELETE);
        assert_eq!(Change::enable(user).to_kevent().flags, sys::EV_ENABLE);
        assert_eq!(Change::disable(user).to_kevent().flags, sys::EV_DISABLE);
    }
}
