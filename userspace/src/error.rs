//! [`ApplyError`]: what [`Kqueue::apply`](crate::Kqueue::apply) reports.

use std::error::Error;
use std::fmt;
use std::io;

use crate::change::Change;

/// A change that the kernel refused, with its position in the batch and the errno.
#[derive(Debug)]
pub struct ChangeError {
    /// Index of the change in the slice given to `apply`.
    pub index: usize,
    /// The change.
    pub change: Change,
    /// Why it failed (`ENOENT`, `EBADF`, `EINVAL`, ...).
    pub error: io::Error,
}

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "change {} ({:?}): {}",
            self.index,
            self.change.filter(),
            self.error
        )
    }
}

impl Error for ChangeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

/// The failures of one [`Kqueue::apply`](crate::Kqueue::apply).
///
/// Either some changes failed (each is in [`failures`](ApplyError::failures); every other
/// change was applied), or the kevent() call itself failed ([`call_error`](ApplyError::call_error):
/// `EBADF` in a `fork()` child, `ENOMEM`...), in which case the changes from
/// [`unapplied`](ApplyError::unapplied) on were not tried.
///
/// Converts into an [`io::Error`] (the call's error, or the first change's), so `?` works in
/// functions returning `io::Result`.
#[derive(Debug)]
pub struct ApplyError {
    failures: Vec<ChangeError>,
    call: Option<(io::Error, usize)>,
}

impl ApplyError {
    pub(crate) fn new(failures: Vec<ChangeError>, call: Option<(io::Error, usize)>) -> ApplyError {
        ApplyError { failures, call }
    }

    /// The changes that failed, in order.
    pub fn failures(&self) -> &[ChangeError] {
        &self.failures
    }

    /// The error of the kevent() call itself, if it failed.
    pub fn call_error(&self) -> Option<&io::Error> {
        self.call.as_ref().map(|(error, _)| error)
    }

    /// Index of the first change that was not tried (the slice's length if all were).
    pub fn unapplied(&self) -> Option<usize> {
        self.call.as_ref().map(|&(_, index)| index)
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((error, index)) = &self.call {
            write!(f, "kevent() failed at change {index}: {error}")?;
            if !self.failures.is_empty() {
                f.write_str("; ")?;
            }
        }
        for (i, failure) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

impl Error for ApplyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.call {
            Some((error, _)) => Some(error),
            None => self
                .failures
                .first()
                .map(|f| &f.error as &(dyn Error + 'static)),
        }
    }
}

impl From<ApplyError> for io::Error {
    /// A single error (the call's, or the one failed change's) converts into that errno, so
    /// `raw_os_error()` works; several keep the whole report, with the first one's kind.
    fn from(err: ApplyError) -> io::Error {
        let first = match &err.call {
            Some((error, _)) => error,
            None => match err.failures.first() {
                Some(failure) => &failure.error,
                None => return io::Error::other(err),
            },
        };
        let single = usize::from(err.call.is_some()) + err.failures.len() == 1;
        match first.raw_os_error() {
            Some(errno) if single => io::Error::from_raw_os_error(errno),
            _ => io::Error::new(first.kind(), err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Filter;

    fn failure(index: usize, errno: i32) -> ChangeError {
        ChangeError {
            index,
            change: Change::add(Filter::User { id: index as u64 }),
            error: io::Error::from_raw_os_error(errno),
        }
    }

    #[test]
    fn one_error_converts_to_its_errno() {
        let err: io::Error = ApplyError::new(vec![failure(2, libc::ENOENT)], None).into();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        let call = io::Error::from_raw_os_error(libc::EBADF);
        let err: io::Error = ApplyError::new(Vec::new(), Some((call, 0))).into();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn several_errors_keep_the_report_and_the_first_kind() {
        let apply = ApplyError::new(
            vec![failure(1, libc::ENOENT), failure(4, libc::EBADF)],
            None,
        );
        assert_eq!(apply.failures().len(), 2);
        assert!(apply.call_error().is_none() && apply.unapplied().is_none());
        let text = apply.to_string();
        assert!(text.starts_with("change 1 (User { id: 1 }): "), "{text}");
        assert!(text.contains("; change 4 "), "{text}");
        let err: io::Error = apply.into();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.get_ref().is_some_and(|inner| inner.is::<ApplyError>()));
    }
}
