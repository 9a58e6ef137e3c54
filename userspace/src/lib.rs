//! FreeBSD's kqueue on Linux, through the `/dev/kqueue` kernel module (`kqueue.ko`).
//!
//! Every open() of `/dev/kqueue` is one kqueue, and one ioctl ([`sys::KQIOC_KEVENT`]) is one
//! kevent() call. This crate is the safe Rust side of that interface:
//!
//! * [`Kqueue`]: an owned kqueue descriptor ([`AsFd`](std::os::fd::AsFd), close-on-exec by
//!   default) with [`apply`](Kqueue::apply) (a batch of changes with `EV_RECEIPT`: every change
//!   is applied, each failure reported with its change) and
//!   [`wait_into`](Kqueue::wait_into) (fills a reusable [`Events`] buffer);
//! * [`Change`] and [`Filter`]: one typed constructor per filter the module implements
//!   (`READ`, `WRITE`, `EMPTY`, `VNODE`, `PROC`, `PROCDESC`, `SIGNAL`, `TIMER`, `USER`);
//! * [`Flags`], [`VnodeNotes`], [`ProcNotes`]: the bit sets, with readable `Debug`;
//! * [`sys`]: the raw ABI, the one definition shared with the kernel module.
//!
//! Errors are [`std::io::Error`]s with the kernel's errno. When `/dev/kqueue` does not exist
//! (module not loaded), opening a kqueue fails with `ENOSYS` (`ErrorKind::Unsupported`).
//!
//! The C library (`libkqueue.{so,a}`, `<sys/event.h>`) is built from the same sources
//! ([`capi`]) without the standard library; this crate does not export the C symbols.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use kqueue::{Change, Events, Filter, Flags, Kqueue, UserOp};
//!
//! fn main() -> std::io::Result<()> {
//!     let kq = Kqueue::new()?;
//!     kq.apply(&[
//!         Change::add(Filter::timer(1, Duration::from_millis(100))),
//!         Change::add(Filter::User { id: 2 }).flags(Flags::CLEAR),
//!     ])?;
//!     kq.trigger(2, UserOp::Copy(0x42))?;
//!     let mut events = Events::with_capacity(8);
//!     kq.wait_into(&mut events, Some(Duration::from_secs(1)))?;
//!     for event in &events {
//!         println!("{} ident {} data {}", event.filter_name(), event.ident, event.data);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! `examples/kq-echo-server.rs` is a complete event loop: a TCP echo server.
#![warn(missing_docs)]

/// The kqueue ABI (`struct kevent`, the ioctl, every constant): `rust/abi.rs`, the one definition
/// shared with the kernel module and checked against `<sys/event.h>`. The constants are
/// documented in the `kqueue(3)` and `kqueue(4)` man pages. Not reformatted here: it belongs to
/// the kernel side (and its docs write `ext[0]`, which rustdoc would take for a link).
#[rustfmt::skip]
#[allow(rustdoc::broken_intra_doc_links, missing_docs)]
#[path = "../../rust/abi.rs"]
pub mod sys;

pub mod capi;
mod change;
mod error;
mod event;
mod ffi;
mod flags;
mod queue;

pub use change::{Change, Filter, TimerUnit, UserOp};
pub use error::{ApplyError, ChangeError};
pub use event::{Event, Events, EventsIter};
pub use flags::{Flags, ProcNotes, VnodeNotes};
pub use queue::Kqueue;
pub use sys::KEvent;
