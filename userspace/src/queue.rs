//! [`Kqueue`]: an owned kqueue descriptor.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::change::{Change, UserOp};
use crate::event::Event;
use crate::ffi;
use crate::sys::{KEvent, KqKeventArgs, KqTimespec, KQ_KEVENT_KQFD};

/// A kqueue: an open `/dev/kqueue`, closed on drop. `Sync`: threads may share one.
#[derive(Debug)]
pub struct Kqueue {
    fd: OwnedFd,
}

impl Kqueue {
    /// A new kqueue, like `kqueue()`: the descriptor is inherited across exec.
    /// Fails with ENOSYS (`ErrorKind::Unsupported`) when `/dev/kqueue` does not exist.
    pub fn new() -> io::Result<Kqueue> {
        Kqueue::open(false)
    }

    /// A new kqueue whose descriptor is closed on exec (`O_CLOEXEC`).
    pub fn with_cloexec() -> io::Result<Kqueue> {
        Kqueue::open(true)
    }

    fn open(cloexec: bool) -> io::Result<Kqueue> {
        let fd = ffi::open_kqueue(cloexec).map_err(io::Error::from_raw_os_error)?;
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Kqueue { fd })
    }

    /// One kevent() call: applies `changes`, then waits up to `timeout` (`None`: no limit) for
    /// events and stores up to `events.len()` of them; returns how many were stored.
    ///
    /// Errors are the kernel's, as FreeBSD's kevent(2) defines them (EINTR is not retried).
    pub fn kevent(
        &self,
        changes: &[KEvent],
        events: &mut [KEvent],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let nchanges =
            i32::try_from(changes.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let timeout = timeout.map(to_timespec);
        let args = KqKeventArgs {
            changelist: changes.as_ptr() as usize as u64,
            eventlist: events.as_mut_ptr() as usize as u64,
            timeout: timeout
                .as_ref()
                .map_or(0, |ts| ts as *const KqTimespec as usize as u64),
            nchanges,
            nevents: i32::try_from(events.len()).unwrap_or(i32::MAX),
            kqfd: self.fd.as_raw_fd(),
            flags: KQ_KEVENT_KQFD,
        };
        // SAFETY: both lists are live slices of the given lengths; the timeout outlives the call.
        let n = unsafe { ffi::kevent_ioctl(self.fd.as_raw_fd(), &args) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Applies `changes` without waiting. The first change that fails makes this return its
    /// error (changes before it are applied), as kevent() does with no room for events.
    pub fn apply(&self, changes: &[Change]) -> io::Result<()> {
        let changes: Vec<KEvent> = changes.iter().map(|c| c.to_kevent()).collect();
        self.kevent(&changes, &mut [], Some(Duration::ZERO))
            .map(drop)
    }

    /// Waits up to `timeout` (`None`: no limit) for at most `max_events` events.
    pub fn wait(&self, max_events: usize, timeout: Option<Duration>) -> io::Result<Vec<Event>> {
        let mut events = vec![KEvent::default(); max_events];
        let n = self.kevent(&[], &mut events, timeout)?;
        Ok(events[..n].iter().map(|&kev| Event::from(kev)).collect())
    }

    /// Triggers the `EVFILT_USER` event `id` (keeping its udata), applying `op` to its fflags.
    pub fn trigger(&self, id: u64, op: UserOp) -> io::Result<()> {
        self.apply(&[Change::trigger(id, op)])
    }
}

impl AsFd for Kqueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Kqueue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A kevent() timeout; seconds beyond `i64::MAX` saturate.
fn to_timespec(timeout: Duration) -> KqTimespec {
    KqTimespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespec_from_duration() {
        let ts = to_timespec(Duration::new(3, 250_000_000));
        assert_eq!((ts.tv_sec, ts.tv_nsec), (3, 250_000_000));
        assert_eq!(to_timespec(Duration::ZERO), KqTimespec::default());
        let max = to_timespec(Duration::MAX);
        assert_eq!((max.tv_sec, max.tv_nsec), (i64::MAX, 999_999_999));
    }

    #[test]
    fn open_without_device_is_unsupported() {
        if std::path::Path::new(crate::sys::KQUEUE_DEVICE).exists() {
            eprintln!("skipped: {} exists on this host", crate::sys::KQUEUE_DEVICE);
            return;
        }
        let err = Kqueue::new().expect_err("no /dev/kqueue here");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSYS));
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }
}
