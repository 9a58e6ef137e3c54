//! Typed changes: [`Filter`] says what to watch, [`Change`] what to do with it.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, SystemTime};

use crate::flags::{Flags, ProcNotes, VnodeNotes};
use crate::sys::{self, KEvent};

/// Unit of an `EVFILT_TIMER` period (`NOTE_SECONDS`, ...; FreeBSD's default is milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerUnit {
    /// `NOTE_SECONDS`.
    Seconds,
    /// `NOTE_MSECONDS` (what a timer without a unit flag uses).
    Milliseconds,
    /// `NOTE_USECONDS`.
    Microseconds,
    /// `NOTE_NSECONDS`.
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
///
/// One variant per filter the kernel module implements. `EVFILT_AIO`, `EVFILT_LIO`,
/// `EVFILT_SENDFILE` and `EVFILT_FS` are refused by the module (`EINVAL`) and have no variant;
/// [`Filter::Raw`] passes any number through unchecked.
///
/// Descriptor filters take a [`RawFd`]: the knote belongs to that descriptor and goes away
/// when it is closed (in every kqueue of the process), so the descriptor needs no lifetime
/// tie to the kqueue. The `read`, `write`, ... constructors accept anything [`AsRawFd`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// `EVFILT_READ`: the descriptor has data to read (`data`: bytes available, connections
    /// waiting on a listener, size minus offset on a regular file; `EOF` when the peer is gone).
    Read(RawFd),
    /// `EVFILT_WRITE`: the descriptor has room to write (`data`: bytes of room).
    Write(RawFd),
    /// `EVFILT_EMPTY`: a socket's send buffer is empty (TCP: everything sent was acknowledged).
    /// Sockets only: other files are `EINVAL`.
    Empty(RawFd),
    /// `EVFILT_VNODE`: events on the inode of a regular file, directory, FIFO or `O_PATH`
    /// descriptor; `fflags` on output says which of `notes` happened. Implies `CLEAR`.
    Vnode {
        /// The descriptor.
        fd: RawFd,
        /// What to report.
        notes: VnodeNotes,
    },
    /// `EVFILT_PROC`: events of a process (`EPERM` if the caller may not inspect it, by
    /// Linux's ptrace read rule; `ESRCH` if there is none). Implies `CLEAR`; `EXIT` comes with `EOF | ONESHOT` and the wait(2)
    /// status in `data`.
    Proc {
        /// The process id, in the caller's pid namespace.
        pid: libc::pid_t,
        /// What to report (`EXIT`, `FORK`, `EXEC`, `TRACK`).
        notes: ProcNotes,
    },
    /// `EVFILT_PROCDESC`: the exit of the process a pidfd (`pidfd_open(2)`) names, with its
    /// wait(2) status in `data` (`NOTE_EXIT` is implied).
    Procdesc(RawFd),
    /// `EVFILT_SIGNAL`: generations of a signal for this process (`data`: count since the last
    /// report), whether it is blocked, ignored or handled; the kqueue does not consume it.
    Signal(libc::c_int),
    /// `EVFILT_TIMER`: fires every `period` `unit`s, or once at time `period` (since the Unix
    /// epoch, `CLOCK_REALTIME`) when `absolute` (`data`: expirations since the last report).
    Timer {
        /// Any number naming the timer.
        id: u64,
        /// The period, or the absolute time.
        period: i64,
        /// The unit of `period`.
        unit: TimerUnit,
        /// `NOTE_ABSTIME`.
        absolute: bool,
    },
    /// `EVFILT_USER`: fires when triggered with `NOTE_TRIGGER` (see [`Change::trigger`]).
    User {
        /// Any number naming the event.
        id: u64,
    },
    /// Any filter number with a raw identifier: nothing is checked or implied.
    Raw {
        /// The `EVFILT_*` number.
        filter: i16,
        /// The `ident` field.
        ident: u64,
    },
}

impl Filter {
    /// `EVFILT_READ` on `fd`.
    ///
    /// ```
    /// use kqueue::Filter;
    /// let stdin = std::io::stdin();
    /// assert_eq!(Filter::read(&stdin), Filter::Read(0));
    /// ```
    pub fn read(fd: &impl AsRawFd) -> Filter {
        Filter::Read(fd.as_raw_fd())
    }

    /// `EVFILT_WRITE` on `fd`.
    pub fn write(fd: &impl AsRawFd) -> Filter {
        Filter::Write(fd.as_raw_fd())
    }

    /// `EVFILT_EMPTY` on the socket `fd`.
    pub fn empty(fd: &impl AsRawFd) -> Filter {
        Filter::Empty(fd.as_raw_fd())
    }

    /// `EVFILT_VNODE` on `fd`, reporting `notes`.
    ///
    /// ```
    /// use kqueue::{Filter, VnodeNotes};
    /// let dir = std::fs::File::open("/tmp")?;
    /// let filter = Filter::vnode(&dir, VnodeNotes::WRITE | VnodeNotes::DELETE);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn vnode(fd: &impl AsRawFd, notes: VnodeNotes) -> Filter {
        Filter::Vnode {
            fd: fd.as_raw_fd(),
            notes,
        }
    }

    /// `EVFILT_PROC` on the process `pid`, reporting `notes`.
    ///
    /// ```
    /// use kqueue::{Filter, ProcNotes};
    /// let child = std::process::Command::new("true").spawn()?;
    /// let filter = Filter::proc(child.id(), ProcNotes::EXIT);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn proc(pid: u32, notes: ProcNotes) -> Filter {
        Filter::Proc {
            pid: pid as libc::pid_t,
            notes,
        }
    }

    /// `EVFILT_PROCDESC` on the pidfd `fd`.
    pub fn procdesc(fd: &impl AsRawFd) -> Filter {
        Filter::Procdesc(fd.as_raw_fd())
    }

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

    /// A timer that fires once at the wall-clock time `at` (`NOTE_ABSTIME`; a time in the past
    /// fires at once; later changes of the clock do not move it). `CLEAR` is not implied: as
    /// on FreeBSD, a fired absolute timer stays active until deleted, so add it with
    /// `ONESHOT` (or `CLEAR`).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use kqueue::{Change, Filter, Flags};
    /// let alarm = Filter::timer_at(1, SystemTime::now() + Duration::from_secs(60));
    /// let change = Change::add(alarm).flags(Flags::ONESHOT);
    /// ```
    pub fn timer_at(id: u64, at: SystemTime) -> Filter {
        let nanos = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        Filter::Timer {
            id,
            period: i64::try_from(nanos).unwrap_or(i64::MAX),
            unit: TimerUnit::Nanoseconds,
            absolute: true,
        }
    }

    /// The `EVFILT_*` number.
    pub const fn number(self) -> i16 {
        match self {
            Filter::Read(_) => sys::EVFILT_READ,
            Filter::Write(_) => sys::EVFILT_WRITE,
            Filter::Empty(_) => sys::EVFILT_EMPTY,
            Filter::Vnode { .. } => sys::EVFILT_VNODE,
            Filter::Proc { .. } => sys::EVFILT_PROC,
            Filter::Procdesc(_) => sys::EVFILT_PROCDESC,
            Filter::Signal(_) => sys::EVFILT_SIGNAL,
            Filter::Timer { .. } => sys::EVFILT_TIMER,
            Filter::User { .. } => sys::EVFILT_USER,
            Filter::Raw { filter, .. } => filter,
        }
    }

    /// The `ident` field. A negative descriptor, pid or signal number is sign-extended, so it
    /// stays invalid for the kernel rather than becoming a large valid number.
    pub const fn ident(self) -> u64 {
        match self {
            Filter::Read(fd)
            | Filter::Write(fd)
            | Filter::Empty(fd)
            | Filter::Procdesc(fd)
            | Filter::Vnode { fd, .. } => fd as i64 as u64,
            Filter::Proc { pid, .. } => pid as i64 as u64,
            Filter::Signal(signo) => signo as i64 as u64,
            Filter::Timer { id, .. } | Filter::User { id } => id,
            Filter::Raw { ident, .. } => ident,
        }
    }

    /// The `fflags` and `data` this filter implies (timer unit and period, notes, else zero).
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
            Filter::Vnode { notes, .. } => (notes.bits(), 0),
            Filter::Proc { notes, .. } => (notes.bits(), 0),
            Filter::Procdesc(_) => (sys::NOTE_EXIT, 0),
            _ => (0, 0),
        }
    }
}

/// How an `EVFILT_USER` trigger or change combines its value with the event's `fflags`
/// (`NOTE_FFNOP`, `NOTE_FFAND`, `NOTE_FFOR`, `NOTE_FFCOPY`); values are masked to
/// `NOTE_FFLAGSMASK` (24 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserOp {
    /// Leave the fflags as they are.
    Nop,
    /// AND them with the value.
    And(u32),
    /// OR the value into them.
    Or(u32),
    /// Replace them with the value.
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

    /// Adds flags (`CLEAR`, `ONESHOT`, `DISPATCH`, ...).
    pub const fn flags(mut self, flags: Flags) -> Change {
        self.flags = self.flags.union(flags);
        self
    }

    /// Adds `fflags` bits to those the filter implies.
    pub const fn fflags(mut self, fflags: u32) -> Change {
        self.fflags |= fflags;
        self
    }

    /// Sets `data`, replacing what the filter implies (e.g. a timer's period).
    pub const fn data(mut self, data: i64) -> Change {
        self.data = Some(data);
        self
    }

    /// `NOTE_LOWAT` with threshold `bytes`: an `EVFILT_READ`/`EVFILT_WRITE` on a socket fires
    /// only when `data` reaches it (or at EOF). Per knote: the socket's own `SO_RCVLOWAT` is
    /// not touched.
    pub const fn low_water(self, bytes: i64) -> Change {
        self.fflags(sys::NOTE_LOWAT).data(bytes)
    }

    /// Sets the opaque `udata` returned with every event of this registration.
    pub const fn udata(mut self, udata: u64) -> Change {
        self.udata = udata;
        self
    }

    /// The filter this change refers to.
    pub const fn filter(&self) -> Filter {
        self.filter
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
    fn absolute_timer_is_nanoseconds_since_the_epoch() {
        let at = SystemTime::UNIX_EPOCH + Duration::new(5, 7);
        let kev = Change::add(Filter::timer_at(2, at)).to_kevent();
        assert_eq!(kev.fflags, sys::NOTE_NSECONDS | sys::NOTE_ABSTIME);
        assert_eq!(kev.data, 5_000_000_007);
    }

    #[test]
    fn negative_identifiers_stay_negative() {
        assert_eq!(Filter::Read(-1).ident(), u64::MAX);
        assert_eq!(Filter::Write(5).ident(), 5);
        assert_eq!(Filter::Signal(2).number(), sys::EVFILT_SIGNAL);
        assert_eq!(
            Filter::Proc {
                pid: -1,
                notes: ProcNotes::EXIT
            }
            .ident(),
            u64::MAX
        );
    }

    #[test]
    fn every_implemented_filter_has_its_number_and_notes() {
        let cases = [
            (Filter::Read(3), sys::EVFILT_READ, 0),
            (Filter::Write(3), sys::EVFILT_WRITE, 0),
            (Filter::Empty(3), sys::EVFILT_EMPTY, 0),
            (
                Filter::Vnode {
                    fd: 3,
                    notes: VnodeNotes::WRITE | VnodeNotes::RENAME,
                },
                sys::EVFILT_VNODE,
                sys::NOTE_WRITE | sys::NOTE_RENAME,
            ),
            (
                Filter::Proc {
                    pid: 3,
                    notes: ProcNotes::EXIT | ProcNotes::TRACK,
                },
                sys::EVFILT_PROC,
                sys::NOTE_EXIT | sys::NOTE_TRACK,
            ),
            (Filter::Procdesc(3), sys::EVFILT_PROCDESC, sys::NOTE_EXIT),
            (Filter::Signal(3), sys::EVFILT_SIGNAL, 0),
            (Filter::User { id: 3 }, sys::EVFILT_USER, 0),
        ];
        for (filter, number, fflags) in cases {
            let kev = Change::add(filter).to_kevent();
            assert_eq!(
                (kev.ident, kev.filter, kev.fflags),
                (3, number, fflags),
                "{filter:?}"
            );
        }
    }

    #[test]
    fn data_overrides_and_fflags_add() {
        let kev = Change::add(Filter::timer(1, Duration::from_nanos(10)))
            .data(20)
            .fflags(sys::NOTE_ABSTIME)
            .to_kevent();
        assert_eq!(kev.data, 20);
        assert_eq!(kev.fflags, sys::NOTE_NSECONDS | sys::NOTE_ABSTIME);
        let kev = Change::add(Filter::Read(4)).low_water(100).to_kevent();
        assert_eq!((kev.fflags, kev.data), (sys::NOTE_LOWAT, 100));
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
