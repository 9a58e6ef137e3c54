// SPDX-License-Identifier: GPL-2.0
//! EVFILT_SIGNAL: counting the signals generated for the kqueue's process.
//!
//! As FreeBSD's filt_signal: the ident is a signal number (1..=64, EINVAL otherwise); `data`
//! counts the generations of that signal directed at the process (kill, tgkill to any of its
//! threads, sigqueue, timers, faults) since the last retrieval, even when the signal is ignored,
//! blocked, handled or read by a signalfd, except SIGCHLD while it is ignored; EV_CLEAR is
//! implied. The kqueue never consumes a signal. A disabled knote keeps counting.
//!
//! The knote sits in `proc_watch`'s signal table under its kqueue's owner process from attach
//! to detach; the `signal_generate` tracepoint probe (atomic, under the process's siglock) adds
//! one to `data` under the kqueue's `ready` lock and queues the knote.

use crate::abi::{self, KEvent};
use crate::descriptor::FileRef;
use crate::filter::{Follow, FilterOps, Init, Known, SourceRef};
use crate::knote::{Knote, KnoteReg, KnoteState};
use crate::kqueue::KQueue;
use crate::proc_watch::{self, ProcEvent};
use kernel::{prelude::*, sync::Arc};

/// The highest signal number (`_NSIG` on x86 and arm64).
const MAX_SIGNAL: u64 = 64;

pub(crate) struct Signal;
pub(crate) static SIGNAL: Signal = Signal;

impl FilterOps for Signal {
    fn number(&self) -> i16 {
        abi::EVFILT_SIGNAL
    }

    fn prepare(&self, kq: &KQueue, kev: &KEvent, _file: Option<&FileRef>) -> Result<Init> {
        if kev.ident == 0 || kev.ident > MAX_SIGNAL {
            return Err(EINVAL);
        }
        proc_watch::available()?;
        // The kqueue holds its owner's pid for its whole life, longer than any of its knotes.
        Ok(Init { words: [0; 4], file: None, source: SourceRef::borrowed(kq.owner_pid() as usize) })
    }

    fn attach(
        &self,
        kn: &Arc<Knote>,
        _reg: &mut KnoteReg,
        _kev: &KEvent,
        _file: Option<&FileRef>,
    ) -> Result<Known> {
        kn.with_state(|st| st.kevent.flags |= abi::EV_CLEAR);
        proc_watch::watch_signals(kn, kn.source.addr()).map(|()| None)
    }

    fn detach(&self, kn: &Knote, _reg: &mut KnoteReg) {
        proc_watch::unwatch_signals(kn, kn.source.addr());
    }

    /// Generations not yet retrieved.
    fn event(&self, st: &mut KnoteState) -> bool {
        st.kevent.data != 0
    }

    fn process_event(&self, kn: &Arc<Knote>, ev: &ProcEvent) -> Follow {
        if let ProcEvent::Signal(sig) = *ev {
            if sig as u64 == kn.key.ident {
                kn.kqueue().fire(kn, |st| {
                    st.kevent.data = st.kevent.data.saturating_add(1);
                    true
                });
            }
        }
        Follow::No
    }
}
