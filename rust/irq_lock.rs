// SPDX-License-Identifier: GPL-2.0
//! An interrupt-safe spinlock: the kernel's `Lock<T, B>` with a backend that uses
//! `spin_lock_irqsave`. The 7.2 Rust `SpinLock` only has plain `spin_lock`, which deadlocks (and
//! lockdep reports "inconsistent lock state") when the same lock is also taken from a hard-irq
//! hrtimer callback or a wake-up callback run from an interrupt. Holders must not sleep.

use crate::helper;
use kernel::{bindings, ffi::c_ulong, sync::lock::Backend, sync::lock::Lock};

/// A spinlock taken with interrupts disabled; see [`new_irq_spinlock!`].
pub(crate) type IrqSpinLock<T> = Lock<T, IrqSpinLockBackend>;

/// Creates an [`IrqSpinLock`] initialiser with a lockdep class per call site.
macro_rules! new_irq_spinlock {
    ($inner:expr, $name:literal) => {
        kernel::sync::lock::Lock::<_, $crate::irq_lock::IrqSpinLockBackend>::new(
            $inner,
            kernel::c_str!($name),
            kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_irq_spinlock;

/// Backend of [`IrqSpinLock`]: `spinlock_t` with `spin_lock_irqsave`/`spin_unlock_irqrestore`.
pub(crate) struct IrqSpinLockBackend;

// SAFETY: `lock` and `try_lock` make the caller the owner of the `spinlock_t` (with interrupts
// disabled) until `unlock` is called with the saved flags; the lock is a real kernel spinlock.
unsafe impl Backend for IrqSpinLockBackend {
    type State = bindings::spinlock_t;
    type GuardState = c_ulong;

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: The caller guarantees `ptr` is valid for writes and `name`/`key` live forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The caller guarantees `ptr` points to an initialised spinlock.
        unsafe { helper::kq_spin_lock_irqsave(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        let mut flags: c_ulong = 0;
        // SAFETY: As for `lock`; `flags` is a valid destination.
        unsafe { helper::kq_spin_trylock_irqsave(ptr, &mut flags) }.then_some(flags)
    }

    unsafe fn unlock(ptr: *mut Self::State, flags: &Self::GuardState) {
        // SAFETY: The caller owns the lock; `flags` came from the matching `lock`.
        unsafe { helper::kq_spin_unlock_irqrestore(ptr, *flags) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: The caller guarantees `ptr` points to an initialised spinlock.
        unsafe { bindings::spin_assert_is_held(ptr) }
    }
}

/// The guard of an [`IrqSpinLock`] (interrupts stay off while it lives).
pub(crate) type IrqSpinLockGuard<'a, T> = kernel::sync::lock::Guard<'a, T, IrqSpinLockBackend>;
