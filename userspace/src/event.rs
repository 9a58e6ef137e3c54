//! [`Event`]: one entry of an eventlist, decoded.

use std::io;

use crate::flags::Flags;
use crate::sys::{self, KEvent};

/// An event returned by the kernel (or an `EV_ERROR` / `EV_RECEIPT` record for a change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub ident: u64,
    /// `EVFILT_*` number.
    pub filter: i16,
    pub flags: Flags,
    pub fflags: u32,
    pub data: i64,
    pub udata: u64,
}

impl Event {
    /// The error of a change record: `EV_ERROR` with a nonzero errno in `data`.
    /// (An `EV_RECEIPT` record of a change that succeeded has `EV_ERROR` and `data` 0: `None`.)
    pub fn error(&self) -> Option<io::Error> {
        let errno = i32::try_from(self.data).ok()?;
        (self.flags.contains(Flags::ERROR) && errno != 0)
            .then(|| io::Error::from_raw_os_error(errno))
    }

    /// The filter's name, e.g. `"EVFILT_TIMER"` (`"EVFILT_?"` for an unknown number).
    pub fn filter_name(&self) -> &'static str {
        match self.filter {
            sys::EVFILT_READ => "EVFILT_READ",
            sys::EVFILT_WRITE => "EVFILT_WRITE",
            sys::EVFILT_AIO => "EVFILT_AIO",
            sys::EVFILT_VNODE => "EVFILT_VNODE",
            sys::EVFILT_PROC => "EVFILT_PROC",
            sys::EVFILT_SIGNAL => "EVFILT_SIGNAL",
            sys::EVFILT_TIMER => "EVFILT_TIMER",
            sys::EVFILT_PROCDESC => "EVFILT_PROCDESC",
            sys::EVFILT_FS => "EVFILT_FS",
            sys::EVFILT_LIO => "EVFILT_LIO",
            sys::EVFILT_USER => "EVFILT_USER",
            sys::EVFILT_SENDFILE => "EVFILT_SENDFILE",
            sys::EVFILT_EMPTY => "EVFILT_EMPTY",
            _ => "EVFILT_?",
        }
    }
}

impl From<KEvent> for Event {
    fn from(kev: KEvent) -> Event {
        Event {
            ident: kev.ident,
            filter: kev.filter,
            flags: Flags::from_bits(kev.flags),
            fflags: kev.fflags,
            data: kev.data,
            udata: kev.udata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(flags: u16, data: i64) -> Event {
        Event::from(KEvent {
            filter: sys::EVFILT_USER,
            flags,
            data,
            ..KEvent::default()
        })
    }

    #[test]
    fn error_only_for_ev_error_with_errno() {
        let failed = record(sys::EV_ERROR, 2).error().expect("an error");
        assert_eq!(failed.raw_os_error(), Some(2));
        assert!(record(sys::EV_ERROR, 0).error().is_none());
        assert!(record(0, 2).error().is_none());
    }

    #[test]
    fn decodes_all_fields() {
        let kev = KEvent {
            ident: 3,
            filter: sys::EVFILT_TIMER,
            flags: sys::EV_CLEAR,
            fflags: 7,
            data: -4,
            udata: 99,
            ext: [1, 2, 3, 4],
        };
        let event = Event::from(kev);
        assert_eq!(
            (event.ident, event.fflags, event.data, event.udata),
            (3, 7, -4, 99)
        );
        assert_eq!(event.flags, Flags::CLEAR);
        assert_eq!(event.filter_name(), "EVFILT_TIMER");
        assert_eq!(record(0, 0).filter_name(), "EVFILT_USER");
    }
}
