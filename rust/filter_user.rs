// SPDX-License-Identifier: GPL-2.0
//! EVFILT_USER: events attached to nothing, triggered by the user with NOTE_TRIGGER.
//!
//! As FreeBSD's filt_user*: the "triggered" bit (`kn_hookid`) is the condition; NOTE_FFAND,
//! NOTE_FFOR and NOTE_FFCOPY combine the low 24 bits of fflags into the stored `sfflags`; data
//! given on modification is stored and returned; EV_CLEAR resets the trigger after retrieval.
//! All state lives in the knote's `KnoteState` (under the kqueue's `ready` lock).

use crate::abi::{self, KEvent};
use crate::knote::{FilterState, KnoteState};

/// EVFILT_USER's per-knote state.
pub(crate) struct UserState {
    /// NOTE_TRIGGER seen and not yet cleared (FreeBSD's `kn_hookid`).
    triggered: bool,
}

/// State of a new EVFILT_USER knote added with `fflags`.
pub(crate) fn new_state(fflags: u32) -> FilterState {
    FilterState::User(UserState { triggered: fflags & abi::NOTE_TRIGGER != 0 })
}

fn user(st: &mut KnoteState) -> &mut UserState {
    match &mut st.filter {
        FilterState::User(u) => u,
        _ => unreachable!("EVFILT_USER knote with timer state"),
    }
}

/// A change to an existing knote (FreeBSD `filt_usertouch(EVENT_REGISTER)`).
pub(crate) fn touch_register(st: &mut KnoteState, kev: &KEvent) {
    if kev.fflags & abi::NOTE_TRIGGER != 0 {
        user(st).triggered = true;
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

/// The condition (FreeBSD `filt_user`).
pub(crate) fn event(st: &mut KnoteState) -> bool {
    user(st).triggered
}

/// The record returned to the user (FreeBSD `filt_usertouch(EVENT_PROCESS)`).
pub(crate) fn process(st: &mut KnoteState) -> KEvent {
    let mut out = st.kevent;
    out.fflags = st.sfflags;
    out.data = st.sdata;
    if st.kevent.flags & abi::EV_CLEAR != 0 {
        clear(st);
    }
    out
}

fn clear(st: &mut KnoteState) {
    user(st).triggered = false;
    st.kevent.data = 0;
    st.kevent.fflags = 0;
}
