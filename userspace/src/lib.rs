//! FreeBSD's kqueue on Linux, through the `/dev/kqueue` kernel module (`kqueue.ko`).
//!
//! Every open() of `/dev/kqueue` is one kqueue, and one ioctl ([`sys::KQIOC_KEVENT`]) is one
//! kevent() call. This crate is the userspace side of that interface:
//!
//! * the C library: `libkqueue.so` / `libkqueue.a` export `kqueue()`, `kqueue1()`, `kqueuex()`
//!   and `kevent()` with FreeBSD semantics, declared in `include/sys/event.h` (see [`capi`]);
//! * a small safe Rust API: [`Kqueue`], [`Change`], [`Filter`], [`Flags`], [`Event`];
//! * the raw ABI shared with the kernel module, re-exported as [`sys`].
//!
//! When `/dev/kqueue` does not exist (module not loaded), opening a kqueue fails with `ENOSYS`.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use kqueue::{Change, Filter, Flags, Kqueue, UserOp};
//!
//! fn main() -> std::io::Result<()> {
//!     let kq = Kqueue::new()?;
//!     kq.apply(&[
//!         Change::add(Filter::timer(1, Duration::from_millis(100))),
//!         Change::add(Filter::User { id: 2 }).flags(Flags::CLEAR),
//!     ])?;
//!     kq.trigger(2, UserOp::Copy(0x42))?;
//!     for event in kq.wait(8, Some(Duration::from_secs(1)))? {
//!         println!("{} ident {} data {}", event.filter_name(), event.ident, event.data);
//!     }
//!     Ok(())
//! }
//! ```

/// The kqueue ABI (`struct kevent`, the ioctl, every constant): `rust/abi.rs`, the one definition
/// shared with the kernel module. Not reformatted here: it belongs to the kernel side (and its
/// docs write `ext[0]`, which rustdoc would take for a link).
#[rustfmt::skip]
#[allow(rustdoc::broken_intra_doc_links)]
#[path = "../../rust/abi.rs"]
pub mod sys;

pub mod capi;
mod change;
mod event;
mod ffi;
mod flags;
mod queue;

pub use change::{Change, Filter, TimerUnit, UserOp};
pub use event::Event;
pub use flags::Flags;
pub use queue::Kqueue;
pub use sys::KEvent;
