//! [`Kqueue`]: an owned kqueue descriptor.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::change::{Change, UserOp};
use crate::error::{ApplyError, ChangeError};
use crate::event::{Event, Events};
use crate::ffi;
#[allow(unused_imports)] // for rustdoc
use crate::flags::Flags;
use crate::sys::{KEvent, KqKeventArgs, KqTimespec, EV_ERROR, EV_RECEIPT};

/// How many changes [`Kqueue::apply`] passes per kevent() call, on the stack.
const APPLY_CHUNK: usize = 32;

/// A kqueue: an open `/dev/kqueue`, closed on drop. `Send + Sync`: threads may share one, and
/// several may wait on it at once (each event goes to one of them).
///
/// ```no_run
/// use std::time::Duration;
/// use kqueue::{Change, Events, Filter, Kqueue};
///
/// let kq = Kqueue::new()?; // close-on-exec; ENOSYS (ErrorKind::Unsupported) without the module
/// kq.apply(&[Change::add(Filter::timer(1, Duration::from_millis(10)))])?;
/// let mut events = Events::with_capacity(8);
/// kq.wait_into(&mut events, Some(Duration::from_secs(1)))?;
/// assert_eq!(events.get(0).map(|e| e.ident), Some(1));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Kqueue {
    fd: OwnedFd,
}

impl Kqueue {
    /// A new kqueue whose descriptor is closed on exec (`kqueue1(O_CLOEXEC)`), like every
    /// descriptor the standard library opens.
    /// Fails with `ENOSYS` (`ErrorKind::Unsupported`) when `/dev/kqueue` does not exist.
    pub fn new() -> io::Result<Kqueue> {
        Kqueue::open(true)
    }

    /// A new kqueue whose descriptor survives exec (plain `kqueue()`). Only for handing the
    /// descriptor to an exec'd program of the same process; a `fork()` child cannot use it.
    pub fn new_inheritable() -> io::Result<Kqueue> {
        Kqueue::open(false)
    }

    fn open(cloexec: bool) -> io::Result<Kqueue> {
        let fd = ffi::open_kqueue(cloexec).map_err(io::Error::from_raw_os_error)?;
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Kqueue { fd })
    }

    /// Another descriptor of the same kqueue (close-on-exec `dup`).
    pub fn try_clone(&self) -> io::Result<Kqueue> {
        Ok(Kqueue {
            fd: self.fd.try_clone()?,
        })
    }

    /// One raw kevent() call: applies `changes`, then waits up to `timeout` (`None`: no limit)
    /// for events and stores up to `events.len()` of them; returns how many were stored.
    ///
    /// Errors are the kernel's, as FreeBSD's kevent(2) defines them; `EINTR`
    /// (`ErrorKind::Interrupted`) is returned, not retried.
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
            // No KQ_KEVENT_KQFD: see `kevent` in capi.rs.
            kqfd: 0,
            flags: 0,
        };
        // SAFETY: both lists are live slices of the given lengths; the timeout outlives the call.
        let n = unsafe { ffi::kevent_ioctl(self.fd.as_raw_fd(), &args) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Applies every change, without waiting, and reports each one that failed.
    ///
    /// Every change is sent with `EV_RECEIPT`, so the kernel applies all of them and returns
    /// one record per change: a failure does not stop the changes after it (plain kevent()
    /// stops at the first failure when it has no room for error records). Allocates nothing
    /// unless something fails (changes go to the kernel 32 at a time, from the stack).
    /// As on FreeBSD, the knote keeps the flag: its events carry [`Flags::RECEIPT`].
    ///
    /// ```no_run
    /// use kqueue::{Change, Filter, Kqueue};
    /// let kq = Kqueue::new()?;
    /// let result = kq.apply(&[
    ///     Change::add(Filter::User { id: 1 }),
    ///     Change::delete(Filter::User { id: 99 }), // ENOENT
    ///     Change::add(Filter::User { id: 2 }),     // applied all the same
    /// ]);
    /// let err = result.unwrap_err();
    /// assert_eq!(err.failures()[0].index, 1);
    /// assert_eq!(err.failures()[0].error.raw_os_error(), Some(libc::ENOENT));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn apply(&self, changes: &[Change]) -> Result<(), ApplyError> {
        let mut failures = Vec::new();
        for (chunk_no, chunk) in changes.chunks(APPLY_CHUNK).enumerate() {
            let base = chunk_no * APPLY_CHUNK;
            let mut list = [KEvent::default(); APPLY_CHUNK];
            for (slot, change) in list.iter_mut().zip(chunk) {
                *slot = change.to_kevent();
                slot.flags |= EV_RECEIPT;
            }
            let mut records = [KEvent::default(); APPLY_CHUNK];
            let n = match self.kevent(
                &list[..chunk.len()],
                &mut records[..chunk.len()],
                Some(Duration::ZERO),
            ) {
                Ok(n) => n,
                Err(error) => return Err(ApplyError::new(failures, Some((error, base)))),
            };
            // One record per change, in order (FreeBSD's and the module's rule).
            for (i, record) in records[..n].iter().enumerate() {
                if record.flags & EV_ERROR != 0 && record.data != 0 {
                    failures.push(ChangeError {
                        index: base + i,
                        change: chunk[i],
                        error: io::Error::from_raw_os_error(record.data as i32),
                    });
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ApplyError::new(failures, None))
        }
    }

    /// Waits up to `timeout` (`None`: no limit; zero: poll) for events and fills `events`
    /// with them (up to its capacity); returns how many. Allocates nothing.
    ///
    /// A signal ends the wait with `ErrorKind::Interrupted` (retry if you want to).
    pub fn wait_into(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        let n = self.kevent(&[], events.buffer(), timeout)?;
        events.set_len(n);
        Ok(n)
    }

    /// Waits up to `timeout` for at most `max_events` events and returns them in a new `Vec`
    /// (a convenience; event loops use [`wait_into`](Kqueue::wait_into)).
    pub fn wait(&self, max_events: usize, timeout: Option<Duration>) -> io::Result<Vec<Event>> {
        let mut events = Events::with_capacity(max_events);
        self.wait_into(&mut events, timeout)?;
        Ok(events.iter().collect())
    }

    /// Triggers the `EVFILT_USER` event `id` (keeping its udata), applying `op` to its fflags.
    pub fn trigger(&self, id: u64, op: UserOp) -> io::Result<()> {
        self.apply(&[Change::trigger(id, op)])?;
        Ok(())
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

impl IntoRawFd for Kqueue {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<Kqueue> for OwnedFd {
    fn from(kq: Kqueue) -> OwnedFd {
        kq.fd
    }
}

/// Adopts a descriptor, checking with an empty kevent() call that it is a kqueue of this
/// process (`EBADF` otherwise: not a kqueue, or one a `fork()` parent created).
impl TryFrom<OwnedFd> for Kqueue {
    type Error = io::Error;

    fn try_from(fd: OwnedFd) -> io::Result<Kqueue> {
        let kq = Kqueue { fd };
        kq.kevent(&[], &mut [], Some(Duration::ZERO))?;
        Ok(kq)
    }
}

impl FromRawFd for Kqueue {
    /// # Safety
    /// `fd` must be an open kqueue descriptor that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> Kqueue {
        Kqueue {
            fd: OwnedFd::from_raw_fd(fd),
        }
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
        for result in [Kqueue::new(), Kqueue::new_inheritable()] {
            let err = result.expect_err("no /dev/kqueue here");
            assert_eq!(err.raw_os_error(), Some(libc::ENOSYS));
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        }
    }

    #[test]
    fn a_file_that_is_not_a_kqueue_is_refused() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let err = Kqueue::try_from(OwnedFd::from(file)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn kqueue_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Kqueue>();
    }
}
