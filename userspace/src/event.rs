//! [`Event`]: one entry of an eventlist, decoded; [`Events`]: a reusable eventlist.

use std::io;
use std::os::fd::RawFd;

use crate::flags::Flags;
use crate::sys::{self, KEvent};

/// An event returned by the kernel (or an `EV_ERROR` / `EV_RECEIPT` record for a change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The identifier: descriptor, pid, signal, timer or user-event number.
    pub ident: u64,
    /// The `EVFILT_*` number.
    pub filter: i16,
    /// `EV_*` flags: `EOF`, `ERROR`, and the knote's own (`CLEAR`, `ONESHOT`, ...).
    pub flags: Flags,
    /// Filter-specific: `NOTE_*` bits that happened, a socket error with `EOF`, user fflags.
    pub fflags: u32,
    /// Filter-specific: bytes readable or writable, expirations, signal count, exit status...
    pub data: i64,
    /// The registration's `udata`.
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

    /// `EV_EOF`: end of file, peer gone, reader gone, or (process filters) exit.
    pub fn is_eof(&self) -> bool {
        self.flags.contains(Flags::EOF)
    }

    /// The descriptor of a descriptor filter (`READ`, `WRITE`, `EMPTY`, `VNODE`, `PROCDESC`).
    pub fn fd(&self) -> Option<RawFd> {
        match self.filter {
            sys::EVFILT_READ
            | sys::EVFILT_WRITE
            | sys::EVFILT_EMPTY
            | sys::EVFILT_VNODE
            | sys::EVFILT_PROCDESC => RawFd::try_from(self.ident).ok(),
            _ => None,
        }
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

/// A caller-owned eventlist for [`Kqueue::wait_into`](crate::Kqueue::wait_into): allocated
/// once, refilled by every wait, so an event loop allocates nothing per call.
///
/// ```no_run
/// use kqueue::{Events, Kqueue};
/// let kq = Kqueue::new()?;
/// let mut events = Events::with_capacity(64);
/// loop {
///     kq.wait_into(&mut events, None)?;
///     for event in &events {
///         println!("{} {}", event.filter_name(), event.ident);
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Events {
    list: Vec<KEvent>,
    len: usize,
}

impl Events {
    /// Room for `capacity` events per wait (at most `i32::MAX` are used).
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            list: vec![KEvent::default(); capacity],
            len: 0,
        }
    }

    /// How many events one wait can return.
    pub fn capacity(&self) -> usize {
        self.list.len()
    }

    /// How many events the last wait returned.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the last wait returned nothing (a timeout).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the events.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The `i`-th event of the last wait.
    pub fn get(&self, i: usize) -> Option<Event> {
        self.as_raw().get(i).map(|&kev| Event::from(kev))
    }

    /// The events, decoded.
    pub fn iter(&self) -> EventsIter<'_> {
        EventsIter {
            inner: self.as_raw().iter(),
        }
    }

    /// The events as the kernel wrote them.
    pub fn as_raw(&self) -> &[KEvent] {
        &self.list[..self.len]
    }

    /// The whole buffer, for the kernel to fill; `set_len` then says how much it wrote.
    pub(crate) fn buffer(&mut self) -> &mut [KEvent] {
        self.len = 0;
        &mut self.list
    }

    pub(crate) fn set_len(&mut self, len: usize) {
        self.len = len.min(self.list.len());
    }
}

/// Iterator over [`Events`], yielding decoded [`Event`]s.
#[derive(Clone, Debug)]
pub struct EventsIter<'a> {
    inner: std::slice::Iter<'a, KEvent>,
}

impl Iterator for EventsIter<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.inner.next().map(|&kev| Event::from(kev))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for EventsIter<'_> {}

impl<'a> IntoIterator for &'a Events {
    type Item = Event;
    type IntoIter = EventsIter<'a>;

    fn into_iter(self) -> EventsIter<'a> {
        self.iter()
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
        assert_eq!(event.fd(), None);
        assert!(!event.is_eof());
        assert_eq!(record(0, 0).filter_name(), "EVFILT_USER");
    }

    #[test]
    fn events_buffer_reports_only_what_was_written() {
        let mut events = Events::with_capacity(4);
        assert_eq!((events.capacity(), events.len()), (4, 0));
        let buf = events.buffer();
        buf[0].ident = 7;
        buf[0].filter = sys::EVFILT_READ;
        events.set_len(1);
        assert_eq!(events.iter().len(), 1);
        assert_eq!(events.get(0).and_then(|e| e.fd()), Some(7));
        assert!(events.get(1).is_none());
        events.clear();
        assert!(events.is_empty());
    }
}
