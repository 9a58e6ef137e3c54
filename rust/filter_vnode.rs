// SPDX-License-Identifier: GPL-2.0
//! EVFILT_VNODE: changes to a file or directory (NOTE_DELETE, NOTE_WRITE, NOTE_EXTEND,
//! NOTE_ATTRIB, NOTE_LINK, NOTE_RENAME, NOTE_REVOKE, NOTE_OPEN, NOTE_CLOSE, NOTE_CLOSE_WRITE,
//! NOTE_READ).
//!
//! As FreeBSD's filt_vnode: the ident is a descriptor of a regular file, a directory, a FIFO or
//! anything opened with O_PATH (`kq_vnode_check`); fflags says which events to report; the
//! returned fflags are those that happened to the inode (through any name or descriptor) since
//! the last retrieval (EV_CLEAR implied). Directories report NOTE_WRITE when an entry is
//! created, removed or renamed in them and NOTE_LINK when a subdirectory comes or goes.
//!
//! The events come from the module's fsnotify mark on the inode (`kq_close_watch.c`), which
//! listens to every vnode event while vnode knotes exist (`FilterOps::hears_inode`); no inotify
//! instance or inotify limit is involved. Linux gives a link-count change as an attribute change:
//! the knote remembers the link count and size it last saw (its words) to tell NOTE_LINK and
//! NOTE_DELETE from NOTE_ATTRIB, and a growth (NOTE_EXTEND) from other writes.
//!
//! A descriptor knote (`descriptor`) that is always listed in the close-watch table (its file's
//! entry carries the inode mark), even when it pins its file (O_PATH files give no close event).

use crate::abi::{self, KEvent};
use crate::descriptor::{self, FileRef};
use crate::file_watch::InodeEvent;
use crate::filter::{FilterOps, Init, Known};
use crate::helper;
use crate::knote::{Knote, KnoteReg, KnoteState};
use crate::kqueue::KQueue;
use kernel::{prelude::*, sync::Arc};

/// The fflags a vnode knote accepts.
const NOTES: u32 = abi::NOTE_DELETE
    | abi::NOTE_WRITE
    | abi::NOTE_EXTEND
    | abi::NOTE_ATTRIB
    | abi::NOTE_LINK
    | abi::NOTE_RENAME
    | abi::NOTE_REVOKE
    | abi::NOTE_OPEN
    | abi::NOTE_CLOSE
    | abi::NOTE_CLOSE_WRITE
    | abi::NOTE_READ;

// The knote's words (`KnoteState::words`):
/// The inode's link count when last seen.
const NLINK: usize = 0;
/// The inode's size when last seen.
const SIZE: usize = 1;

pub(crate) struct Vnode;
pub(crate) static VNODE: Vnode = Vnode;

impl FilterOps for Vnode {
    fn number(&self) -> i16 {
        abi::EVFILT_VNODE
    }

    fn hears_inode(&self) -> bool {
        true
    }

    fn takes_path_descriptors(&self) -> bool {
        true
    }

    fn prepare(&self, _kq: &KQueue, kev: &KEvent, file: Option<&FileRef>) -> Result<Init> {
        let file = file.ok_or(EBADF)?;
        if kev.fflags & !NOTES != 0 {
            return Err(EINVAL);
        }
        let (mut nlink, mut size) = (0u32, 0i64);
        // SAFETY: We hold a reference to the file; the outputs are valid destinations.
        kernel::error::to_result(unsafe { helper::kq_vnode_check(file.as_ptr(), &mut nlink, &mut size) })?;
        Ok(Init { words: [nlink as i64, size, 0, 0], file: Some(descriptor::binding(file)), source: crate::filter::SourceRef::NONE })
    }

    fn attach(
        &self,
        kn: &Arc<Knote>,
        _reg: &mut KnoteReg,
        _kev: &KEvent,
        file: Option<&FileRef>,
    ) -> Result<Known> {
        kn.with_state(|st| st.kevent.flags |= abi::EV_CLEAR);
        descriptor::bind_watched(kn, file.ok_or(EBADF)?).map(|()| None)
    }

    fn detach(&self, kn: &Knote, _reg: &mut KnoteReg) {
        descriptor::unbind_watched(kn);
    }

    fn tied_to_file_alone(&self) -> bool {
        true
    }

    fn touch(&self, kn: &Arc<Knote>, _reg: &mut KnoteReg, kev: &KEvent) -> Result {
        crate::filter::touch_interest(kn, kev, NOTES)
    }

    /// Events not yet retrieved.
    fn event(&self, st: &mut KnoteState) -> bool {
        st.kevent.fflags != 0
    }

    fn inode_event(&self, kn: &Arc<Knote>, ev: &InodeEvent) {
        kn.kqueue().fire(kn, |st| {
            let notes = notes_of(st, ev) & st.sfflags;
            st.kevent.fflags |= notes;
            notes != 0
        });
    }
}

/// The NOTE_* bits of `ev` for a knote that last saw the link count and size in its words
/// (which are brought up to date).
fn notes_of(st: &mut KnoteState, ev: &InodeEvent) -> u32 {
    let mut notes = ev.notes & NOTES;
    let nlink = ev.nlink as i64;
    let last_nlink = core::mem::replace(&mut st.words[NLINK], nlink);
    if notes & abi::NOTE_ATTRIB != 0 && nlink != last_nlink {
        // A link count change, not (only) an attribute change: FreeBSD's NOTE_LINK, and
        // NOTE_DELETE when a name went (with NOTE_LINK while names remain).
        notes &= !abi::NOTE_ATTRIB;
        notes |= match nlink < last_nlink {
            true if nlink == 0 => abi::NOTE_DELETE,
            true => abi::NOTE_DELETE | abi::NOTE_LINK,
            false => abi::NOTE_LINK,
        };
    }
    let last_size = core::mem::replace(&mut st.words[SIZE], ev.size);
    if ev.size > last_size && notes & (abi::NOTE_WRITE | abi::NOTE_ATTRIB) != 0 {
        notes |= abi::NOTE_EXTEND;
    }
    notes
}
