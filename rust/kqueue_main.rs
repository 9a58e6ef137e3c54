// SPDX-License-Identifier: GPL-2.0
//! kqueue.ko: FreeBSD's kqueue(2) for Linux, as the misc device /dev/kqueue.
//!
//! Every open() of /dev/kqueue is one kqueue; the KQIOC_KEVENT ioctl is one kevent() call.
//! Files: `abi` (the user ABI, shared with userspace), `device` (misc device, fops),
//! `kqueue` (the queue object, kevent(), scan and wait), `knote` (a registration and its
//! lifetime), `registry` (a kqueue's knotes by ident and filter), `filter` (the filter interface and table), one file per filter: `filter_user`,
//! `filter_timer`, `filter_fd` (EVFILT_READ/WRITE/EMPTY), `filter_signal`, `filter_proc`,
//! `filter_procdesc`, `filter_vnode`; `descriptor` (knotes on file descriptors), `poll_hook`
//! (a knote's entries in a watched file's wait queues), `file_watch` (weak file references,
//! the close handler and inode events), `proc_watch` (knotes watching processes, fed by
//! tracepoint probes), `wait` (ns-precision wait queue), `irq_lock` (irq-safe spinlock
//! backend), `limits` (per-user caps), `helper` + the C helper objects: `kq_helper.c` (macros
//! and inlines the bindings lack), `kq_poll_hook.c` (poll tables), `kq_close_watch.c`
//! (fsnotify marks), `kq_fdata.c` (per-file-kind data), `kq_proc_hook.c` (process events).
//!
//! The module object owns the device registration; unloading deregisters it. Open kqueue files
//! pin the module (`fops.owner`), so unloading waits until every kqueue is closed.

use kernel::prelude::*;

// The ABI file is shared with userspace, so it is all `pub` and not all of it is used here.
#[allow(unreachable_pub, dead_code)]
#[path = "abi.rs"]
mod abi;
mod descriptor;
mod device;
mod file_watch;
mod filter;
mod filter_fd;
mod filter_proc;
mod filter_procdesc;
mod filter_signal;
mod filter_timer;
mod filter_user;
mod filter_vnode;
mod helper;
mod irq_lock;
mod knote;
mod knote_vec;
mod kqueue;
mod limits;
mod poll_hook;
mod proc_watch;
mod registry;
mod user_io;
mod wait;

module! {
    type: KqueueModule,
    name: "kqueue",
    authors: ["The kqueue-for-Linux authors"],
    description: "FreeBSD kqueue(2) as /dev/kqueue",
    license: "GPL",
}

// SAFETY: `KEvent` is `repr(C)` of integers only, with no padding (64 bytes checked at compile
// time); every bit pattern is valid.
unsafe impl kernel::transmute::FromBytes for abi::KEvent {}
// SAFETY: As above.
unsafe impl kernel::transmute::AsBytes for abi::KEvent {}
// SAFETY: `repr(C)` of integers only with no padding (40 bytes); any bit pattern is valid.
unsafe impl kernel::transmute::FromBytes for abi::KqKeventArgs {}
// SAFETY: `repr(C)` of two i64, no padding; any bit pattern is valid.
unsafe impl kernel::transmute::FromBytes for abi::KqTimespec {}

#[pin_data]
struct KqueueModule {
    #[pin]
    device: device::KqueueDevice,
    /// Dropped after `device`: waits for the knotes still to be put after a grace period.
    _grace_period_puts: knote::GracePeriodPuts,
    /// Dropped after `device` (fields drop in declaration order): no kqueue is left by then.
    close_watch: file_watch::CloseWatch,
    /// The process-event probes and tables, detached after `device` too.
    proc_watch: proc_watch::ProcWatch,
    /// The per-user accounts; dropped last.
    _accounts: limits::Accounts,
}

impl kernel::InPlaceModule for KqueueModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _accounts: limits::Accounts::new(),
            _grace_period_puts: knote::GracePeriodPuts,
            close_watch: file_watch::CloseWatch::new()?,
            proc_watch: proc_watch::ProcWatch::new()?,
            device <- device::KqueueDevice::register(),
        })
    }
}
