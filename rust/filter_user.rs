// SPDX-License-Identifier: GPL-2.0
//! EVFILT_USER: events attached to nothing, triggered by the user with NOTE_TRIGGER.
//!
//! As FreeBSD's filt_user*: the "triggered" bit (`kn_hookid`) is the condition; NOTE_FFAND,
//! NOTE_FFOR and NOTE_FFCOPY combine the low 24 bits of fflags into the stored `sfflags`; data
//! given on modification is stored and returned; EV_CLEAR resets the trigger after retrieval.
//! All state lives in the knote's `KnoteState` (under the kqueue's `ready` lock); nothing is
//! attached to any source.

use crate::abi::{self, KEvent};
use core::mem::MaybeUninit;
use crate::descriptor::FileRef;
use crate::filter::{FilterOps, Init, Known};
use crate::knote::{Knote, KnoteReg, KnoteState};
use crate::kqueue::KQueue;
use kernel::{prelude::*, sync::Arc};

/// `words[TRIGGERED]`: NOTE_TRIGGER seen and not yet cleared (FreeBSD's `kn_hookid`).
const TRIGGERED: usize = 0;

pub(crate) struct User;
pub(crate) static USER: User = User;

impl FilterOps for User {
    fn number(&self) -> i16 {
        abi::EVFILT_USER
    }

    fn prepare(&self, _kq: &KQueue, kev: &KEvent, _file: Option<&FileRef>) -> Result<Init> {
        Ok(Init::words([(kev.fflags & abi::NOTE_TRIGGER != 0) as i64, 0, 0, 0]))
    }

    fn attach(
        &self,
        _kn: &Arc<Knote>,
        _reg: &mut KnoteReg,
        _kev: &KEvent,
        _file: Option<&FileRef>,
    ) -> Result<Known> {
        Ok(None)
    }

    fn detach(&self, _kn: &Knote, _reg: &mut KnoteReg) {}

    /// FreeBSD `filt_usertouch(EVENT_REGISTER)`.
    fn touch(&self, kn: &Arc<Knote>, _reg: &mut KnoteReg, kev: &KEvent) -> Result {
        kn.with_state(|st| touch_register(st, kev));
        Ok(())
    }

    /// FreeBSD `filt_user`.
    fn event(&self, st: &mut KnoteState) -> bool {
        triggered(st)
    }

    /// FreeBSD `filt_usertouch(EVENT_PROCESS)`.
    fn process(&self, st: &mut KnoteState, out: &mut MaybeUninit<KEvent>) {
        let out = out.write(st.kevent);
        out.fflags = st.sfflags;
        out.data = st.sdata;
        if st.kevent.flags & abi::EV_CLEAR != 0 {
            clear(st);
        }
    }
}

/// A change of an existing knote that carries no EV_ADD/EV_DELETE/EV_ENABLE/EV_DISABLE/...
/// (a NOTE_TRIGGER, new fflags or data) touches nothing but its state under `ready`, so
/// `KQueue::trigger` applies it without `inner`, calling this directly.
#[inline(always)]
pub(crate) fn touch_state(st: &mut KnoteState, kev: &KEvent) {
    touch_register(st, kev);
}

/// The condition (FreeBSD `filt_user`), under `ready`.
#[inline(always)]
pub(crate) fn triggered(st: &KnoteState) -> bool {
    st.words[TRIGGERED] != 0
}

#[inline(always)]
fn touch_register(st: &mut KnoteState, kev: &KEvent) {
    if kev.fflags & abi::NOTE_TRIGGER != 0 {
        st.words[TRIGGERED] = 1;
    }
    let ffl = kev.fflags & abi::NOTE_FFLAGSMASK;
    match kev.fflags & abi::NOTE_FFCTRLMASK {
        abi::NOTE_FFAND => st.sfflags &= ffl,
        abi::NOTE_FFOR => st.sfflags |= ffl,
        abi::NOTE_FFCOPY => st.sfflags = ffl,
        _ => {} // NOTE_FFNOP
    }
    st.sdata = kev.data;
    if kev.flags & abi::EV_CLEAR != 0 {
        clear(st);
    }
}

fn clear(st: &mut KnoteState) {
    st.words[TRIGGERED] = 0;
    st.kevent.data = 0;
    st.kevent.fflags = 0;
}
