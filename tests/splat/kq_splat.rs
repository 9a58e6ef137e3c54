// SPDX-License-Identifier: GPL-2.0
//! Negative test for the VM harness: on load, takes a sleeping lock (`Mutex`) while holding a
//! spinlock, i.e. sleeps in atomic context. With DEBUG_ATOMIC_SLEEP and PROVE_LOCKING the kernel
//! logs "BUG: sleeping function called from invalid context" and lockdep's "Invalid wait
//! context"; `make check` boots a VM with this module and requires that the harness fails.
use kernel::{
    new_mutex, new_spinlock,
    prelude::*,
    sync::{Mutex, SpinLock},
};

module! {
    type: KqSplat,
    name: "kq_splat",
    authors: ["kqueue-linux"],
    description: "Deliberately sleeps in atomic context (harness self-test)",
    license: "GPL",
}

struct KqSplat;

impl kernel::Module for KqSplat {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let spin: Pin<KBox<SpinLock<i32>>> = KBox::pin_init(new_spinlock!(1), GFP_KERNEL)?;
        let mutex: Pin<KBox<Mutex<i32>>> = KBox::pin_init(new_mutex!(2), GFP_KERNEL)?;
        let s = spin.lock();
        let m = mutex.lock(); // the bug: mutex_lock() may sleep, and a spinlock is held
        pr_info!("took a mutex under a spinlock: {} {}\n", *s, *m);
        drop(m);
        drop(s);
        Ok(KqSplat)
    }
}
