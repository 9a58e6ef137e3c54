//! [`Flags`]: the `EV_*` bits of `struct kevent`'s `flags` field.

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign};

use crate::sys;

/// The `flags` field of a kevent: actions on input (`ADD`, `DELETE`, ...), modifiers (`CLEAR`,
/// `ONESHOT`, ...) and status on output (`EOF`, `ERROR`).
///
/// ```
/// use kqueue::Flags;
/// let flags = Flags::ADD | Flags::CLEAR;
/// assert!(flags.contains(Flags::CLEAR));
/// assert!(!flags.contains(Flags::ONESHOT));
/// assert_eq!(flags.bits(), 0x0021);
/// assert_eq!(format!("{flags:?}"), "Flags(ADD | CLEAR)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u16);

impl Flags {
    pub const ADD: Flags = Flags(sys::EV_ADD);
    pub const DELETE: Flags = Flags(sys::EV_DELETE);
    pub const ENABLE: Flags = Flags(sys::EV_ENABLE);
    pub const DISABLE: Flags = Flags(sys::EV_DISABLE);
    pub const FORCEONESHOT: Flags = Flags(sys::EV_FORCEONESHOT);
    pub const KEEPUDATA: Flags = Flags(sys::EV_KEEPUDATA);
    pub const ONESHOT: Flags = Flags(sys::EV_ONESHOT);
    pub const CLEAR: Flags = Flags(sys::EV_CLEAR);
    pub const RECEIPT: Flags = Flags(sys::EV_RECEIPT);
    pub const DISPATCH: Flags = Flags(sys::EV_DISPATCH);
    pub const DROP: Flags = Flags(sys::EV_DROP);
    pub const FLAG1: Flags = Flags(sys::EV_FLAG1);
    /// Same bit as `EV_FLAG2`; set on output for a change that failed or an `EV_RECEIPT`.
    pub const ERROR: Flags = Flags(sys::EV_ERROR);
    pub const EOF: Flags = Flags(sys::EV_EOF);

    const NAMES: [(Flags, &'static str); 14] = [
        (Self::ADD, "ADD"),
        (Self::DELETE, "DELETE"),
        (Self::ENABLE, "ENABLE"),
        (Self::DISABLE, "DISABLE"),
        (Self::ONESHOT, "ONESHOT"),
        (Self::CLEAR, "CLEAR"),
        (Self::RECEIPT, "RECEIPT"),
        (Self::DISPATCH, "DISPATCH"),
        (Self::FORCEONESHOT, "FORCEONESHOT"),
        (Self::KEEPUDATA, "KEEPUDATA"),
        (Self::DROP, "DROP"),
        (Self::FLAG1, "FLAG1"),
        (Self::ERROR, "ERROR"),
        (Self::EOF, "EOF"),
    ];

    /// No flags.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// Flags from raw `EV_*` bits (all bits are kept).
    pub const fn from_bits(bits: u16) -> Flags {
        Flags(bits)
    }

    /// The raw `EV_*` bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Flags {
    type Output = Flags;
    fn bitand(self, rhs: Flags) -> Flags {
        Flags(self.0 & rhs.0)
    }
}

/// Lists the flag names, then any unnamed bits in hex: `Flags(ADD | CLEAR | 0x800)`.
impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Self::NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| name.to_string())
            .collect();
        let named = Self::NAMES.iter().fold(0, |acc, (flag, _)| acc | flag.0);
        if self.0 & !named != 0 {
            parts.push(format!("{:#x}", self.0 & !named));
        }
        write!(f, "Flags({})", parts.join(" | "))
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
    }
}
