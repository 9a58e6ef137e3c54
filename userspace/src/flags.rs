//! Bit sets of `struct kevent`: [`Flags`] (`EV_*`), [`VnodeNotes`] and [`ProcNotes`] (`NOTE_*`).

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign, Not, Sub};

use crate::sys;

/// Defines a bit-set newtype with named constants, set operations and a `Debug` that names
/// the bits (unnamed ones in hex).
macro_rules! bitset {
    ($(#[$meta:meta])* $name:ident($int:ty) { $($(#[$cmeta:meta])* $flag:ident = $value:expr;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name($int);

        impl $name {
            $($(#[$cmeta])* pub const $flag: $name = $name($value);)*

            const NAMES: &'static [($name, &'static str)] = &[$(($name::$flag, stringify!($flag))),*];

            /// No bits.
            pub const fn empty() -> $name {
                $name(0)
            }

            /// From raw bits (all bits are kept, named or not).
            pub const fn from_bits(bits: $int) -> $name {
                $name(bits)
            }

            /// The raw bits.
            pub const fn bits(self) -> $int {
                self.0
            }

            /// Whether every bit of `other` is set in `self`.
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether any bit of `other` is set in `self`.
            pub const fn intersects(self, other: $name) -> bool {
                self.0 & other.0 != 0
            }

            /// Whether no bit is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// The union of `self` and `other` (`|`, usable in `const`).
            pub const fn union(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }
        }

        impl BitOr for $name {
            type Output = $name;
            fn bitor(self, rhs: $name) -> $name {
                $name(self.0 | rhs.0)
            }
        }

        impl BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: $name) {
                self.0 |= rhs.0;
            }
        }

        impl BitAnd for $name {
            type Output = $name;
            fn bitand(self, rhs: $name) -> $name {
                $name(self.0 & rhs.0)
            }
        }

        impl Sub for $name {
            type Output = $name;
            fn sub(self, rhs: $name) -> $name {
                $name(self.0 & !rhs.0)
            }
        }

        impl Not for $name {
            type Output = $name;
            fn not(self) -> $name {
                $name(!self.0)
            }
        }

        /// Names the bits, then any unnamed ones in hex: `Flags(ADD | CLEAR | 0x800)`.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                let mut sep = "";
                let mut named: $int = 0;
                for (flag, name) in Self::NAMES {
                    if flag.0 != 0 && self.contains(*flag) && named & flag.0 != flag.0 {
                        write!(f, "{sep}{name}")?;
                        sep = " | ";
                    }
                    named |= flag.0 & self.0;
                }
                if self.0 & !named != 0 {
                    write!(f, "{sep}{:#x}", self.0 & !named)?;
                }
                f.write_str(")")
            }
        }
    };
}

bitset! {
    /// The `flags` field of a kevent: actions on input (`ADD`, `DELETE`, ...), modifiers
    /// (`CLEAR`, `ONESHOT`, ...) and status on output (`EOF`, `ERROR`).
    ///
    /// ```
    /// use kqueue::Flags;
    /// let flags = Flags::ADD | Flags::CLEAR;
    /// assert!(flags.contains(Flags::CLEAR));
    /// assert!(!flags.contains(Flags::ONESHOT));
    /// assert_eq!(flags.bits(), 0x0021);
    /// assert_eq!(format!("{flags:?}"), "Flags(ADD | CLEAR)");
    /// ```
    Flags(u16) {
        /// `EV_ADD`: add the knote, or modify it; enables it unless `DISABLE`.
        ADD = sys::EV_ADD;
        /// `EV_DELETE`: remove the knote (`ENOENT` if absent).
        DELETE = sys::EV_DELETE;
        /// `EV_ENABLE`: report the knote again (and evaluate its condition).
        ENABLE = sys::EV_ENABLE;
        /// `EV_DISABLE`: keep the knote, report nothing.
        DISABLE = sys::EV_DISABLE;
        /// `EV_ONESHOT`: delete the knote after its first report.
        ONESHOT = sys::EV_ONESHOT;
        /// `EV_CLEAR`: reset the state after each report (edge-triggered).
        CLEAR = sys::EV_CLEAR;
        /// `EV_RECEIPT`: write a record for the change even when it succeeds.
        RECEIPT = sys::EV_RECEIPT;
        /// `EV_DISPATCH`: disable the knote after each report.
        DISPATCH = sys::EV_DISPATCH;
        /// `EV_FORCEONESHOT`: make the knote one-shot and report it now.
        FORCEONESHOT = sys::EV_FORCEONESHOT;
        /// `EV_KEEPUDATA`: modify without replacing `udata` (`EINVAL` on a new knote).
        KEEPUDATA = sys::EV_KEEPUDATA;
        /// `EV_DROP` (reserved by the system).
        DROP = sys::EV_DROP;
        /// `EV_FLAG1` (filter-specific).
        FLAG1 = sys::EV_FLAG1;
        /// `EV_ERROR` (same bit as `EV_FLAG2`): on output, a record of a change; `data` is its
        /// errno, 0 for an `EV_RECEIPT` of a change that succeeded.
        ERROR = sys::EV_ERROR;
        /// `EV_EOF`: on output, end of file, peer gone or process exited.
        EOF = sys::EV_EOF;
    }
}

bitset! {
    /// `EVFILT_VNODE`'s `fflags`: what to watch, and on output what happened to the inode
    /// since the last report.
    ///
    /// ```
    /// use kqueue::VnodeNotes;
    /// let notes = VnodeNotes::WRITE | VnodeNotes::DELETE;
    /// assert_eq!(format!("{notes:?}"), "VnodeNotes(DELETE | WRITE)");
    /// ```
    VnodeNotes(u32) {
        /// `NOTE_DELETE`: a name of the file was removed (or the directory itself).
        DELETE = sys::NOTE_DELETE;
        /// `NOTE_WRITE`: written; in a directory, an entry created, removed or renamed.
        WRITE = sys::NOTE_WRITE;
        /// `NOTE_EXTEND`: the size grew.
        EXTEND = sys::NOTE_EXTEND;
        /// `NOTE_ATTRIB`: chmod, chown, utimes, truncate.
        ATTRIB = sys::NOTE_ATTRIB;
        /// `NOTE_LINK`: the link count changed.
        LINK = sys::NOTE_LINK;
        /// `NOTE_RENAME`: renamed.
        RENAME = sys::NOTE_RENAME;
        /// `NOTE_REVOKE`: unmounted (practically never on Linux: see the man page).
        REVOKE = sys::NOTE_REVOKE;
        /// `NOTE_OPEN`: opened.
        OPEN = sys::NOTE_OPEN;
        /// `NOTE_CLOSE`: last close of an open file that was not writable.
        CLOSE = sys::NOTE_CLOSE;
        /// `NOTE_CLOSE_WRITE`: last close of an open file that was writable.
        CLOSE_WRITE = sys::NOTE_CLOSE_WRITE;
        /// `NOTE_READ`: read.
        READ = sys::NOTE_READ;
    }
}

impl VnodeNotes {
    /// Every event `EVFILT_VNODE` reports.
    pub const ALL: VnodeNotes = VnodeNotes(
        sys::NOTE_DELETE
            | sys::NOTE_WRITE
            | sys::NOTE_EXTEND
            | sys::NOTE_ATTRIB
            | sys::NOTE_LINK
            | sys::NOTE_RENAME
            | sys::NOTE_REVOKE
            | sys::NOTE_OPEN
            | sys::NOTE_CLOSE
            | sys::NOTE_CLOSE_WRITE
            | sys::NOTE_READ,
    );
}

bitset! {
    /// `EVFILT_PROC`'s `fflags`: what to watch (`EXIT`, `FORK`, `EXEC`, `TRACK`), and on output
    /// what happened (plus `CHILD` and `TRACKERR`).
    ///
    /// ```
    /// use kqueue::ProcNotes;
    /// assert!((ProcNotes::EXIT | ProcNotes::FORK).contains(ProcNotes::EXIT));
    /// ```
    ProcNotes(u32) {
        /// `NOTE_EXIT`: the process exited; `data` is its wait(2) status.
        EXIT = sys::NOTE_EXIT;
        /// `NOTE_FORK`: the process forked.
        FORK = sys::NOTE_FORK;
        /// `NOTE_EXEC`: the process called execve(2).
        EXEC = sys::NOTE_EXEC;
        /// `NOTE_TRACK`: register the same knote for every child at its fork.
        TRACK = sys::NOTE_TRACK;
        /// `NOTE_TRACKERR` (output): a child could not be tracked.
        TRACKERR = sys::NOTE_TRACKERR;
        /// `NOTE_CHILD` (output): first report of a tracked child; `data` is the parent's pid.
        CHILD = sys::NOTE_CHILD;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_the_abi_bits() {
        assert_eq!(Flags::ADD.bits(), sys::EV_ADD);
        assert_eq!(Flags::ERROR.bits(), sys::EV_ERROR);
        assert_eq!(Flags::EOF.bits(), 0x8000);
        assert_eq!(ProcNotes::EXIT.bits(), 0x8000_0000);
        assert_eq!(VnodeNotes::ALL.bits(), 0x07ff);
    }

    #[test]
    fn bit_operations() {
        let mut flags = Flags::ADD;
        flags |= Flags::ONESHOT;
        assert_eq!(flags.bits(), sys::EV_ADD | sys::EV_ONESHOT);
        assert_eq!(flags & Flags::ONESHOT, Flags::ONESHOT);
        assert!(flags.contains(Flags::ADD | Flags::ONESHOT));
        assert!(!flags.contains(Flags::ADD | Flags::CLEAR));
        assert!(flags.contains(Flags::empty()));
        assert_eq!(flags - Flags::ADD, Flags::ONESHOT);
        assert!(flags.intersects(Flags::ADD | Flags::CLEAR));
        assert!(Flags::empty().is_empty());
    }

    #[test]
    fn debug_names_bits_and_unknown_rest() {
        assert_eq!(format!("{:?}", Flags::empty()), "Flags()");
        assert_eq!(
            format!("{:?}", Flags::from_bits(0x8001)),
            "Flags(ADD | EOF)"
        );
        assert_eq!(
            format!("{:?}", Flags::from_bits(0x0820)),
            "Flags(CLEAR | 0x800)"
        );
        assert_eq!(
            format!("{:?}", ProcNotes::from_bits(sys::NOTE_EXIT | 0x10)),
            "ProcNotes(EXIT | 0x10)"
        );
    }
}
