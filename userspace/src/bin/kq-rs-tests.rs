//! kq-rs-tests: the safe Rust API (and the C `kevent()` symbol) against a real `/dev/kqueue`,
//! run inside the test VM: every filter the module implements, the batch/receipt semantics of
//! `apply`, the reusable `Events` buffer. Prints TAP (kselftest style); exits 0 only if every
//! case passes.

use std::error::Error;
use std::ffi::c_int;
use std::fmt;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kqueue::{
    sys, ApplyError, Change, Event, Events, Filter, Flags, KEvent, Kqueue, ProcNotes, UserOp,
    VnodeNotes,
};

type TestResult = Result<(), Box<dyn Error>>;

/// Fails the current case with a formatted reason unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($reason:tt)+) => {
        if !$cond {
            return Err(format!($($reason)+).into());
        }
    };
}

/// A case this kernel cannot run: reported as `ok N name # SKIP reason`.
#[derive(Debug)]
struct Skip(&'static str);

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Error for Skip {}

use libc::{EBADF, EFAULT, EINVAL, ENOENT, FD_CLOEXEC, F_GETFD};

const ZERO: Option<Duration> = Some(Duration::ZERO);
const LONG_WAIT: Option<Duration> = Some(Duration::from_secs(5));

fn user(id: u64) -> Filter {
    Filter::User { id }
}

/// Polls (zero timeout) for everything pending.
fn poll(kq: &Kqueue) -> io::Result<Vec<Event>> {
    kq.wait(16, ZERO)
}

/// Exactly one pending event, which must match `filter`.
fn one_event(kq: &Kqueue, filter: Filter) -> Result<Event, Box<dyn Error>> {
    let events = kq.wait(16, LONG_WAIT)?;
    ensure!(events.len() == 1, "expected 1 event, got {events:?}");
    let event = events[0];
    ensure!(
        (event.filter, event.ident) == (filter.number(), filter.ident()),
        "expected {filter:?}, got {event:?}"
    );
    Ok(event)
}

fn expect_errno<T: std::fmt::Debug, E: Into<io::Error>>(
    result: Result<T, E>,
    errno: i32,
    what: &str,
) -> TestResult {
    match result.map_err(Into::into) {
        Err(err) if err.raw_os_error() == Some(errno) => Ok(()),
        other => Err(format!("{what}: expected errno {errno}, got {other:?}").into()),
    }
}

fn fd_flags(fd: c_int) -> c_int {
    // SAFETY: F_GETFD takes no argument and only reads the descriptor table.
    unsafe { libc::fcntl(fd, F_GETFD) }
}

fn open_close() -> TestResult {
    let kq = Kqueue::new()?;
    let fd = kq.as_raw_fd();
    ensure!(fd_flags(fd) >= 0, "fd {fd} is not open");
    drop(kq);
    ensure!(fd_flags(fd) == -1, "fd {fd} still open after drop");
    ensure!(
        io::Error::last_os_error().raw_os_error() == Some(EBADF),
        "F_GETFD: not EBADF"
    );
    Ok(())
}

fn cloexec_by_default() -> TestResult {
    let cloexec = Kqueue::new()?;
    let inheritable = Kqueue::new_inheritable()?;
    ensure!(
        fd_flags(cloexec.as_raw_fd()) & FD_CLOEXEC != 0,
        "new(): FD_CLOEXEC clear"
    );
    ensure!(
        fd_flags(inheritable.as_raw_fd()) & FD_CLOEXEC == 0,
        "new_inheritable(): FD_CLOEXEC set"
    );
    let clone = cloexec.try_clone()?;
    ensure!(
        fd_flags(clone.as_raw_fd()) & FD_CLOEXEC != 0,
        "try_clone(): FD_CLOEXEC clear"
    );
    Ok(())
}

fn user_trigger_fflags_data() -> TestResult {
    let kq = Kqueue::new()?;
    kq.apply(&[Change::add(user(1)).flags(Flags::CLEAR).udata(0xabcd)])?;
    ensure!(poll(&kq)?.is_empty(), "event pending before any trigger");
    kq.apply(&[Change::trigger(1, UserOp::Or(0x1))])?;
    kq.apply(&[Change::trigger(1, UserOp::Or(0x4)).data(77)])?;
    let event = one_event(&kq, user(1))?;
    ensure!(
        event.fflags == 0x5,
        "FFOR: fflags {:#x}, want 0x5",
        event.fflags
    );
    ensure!(event.data == 77, "data {}, want 77", event.data);
    ensure!(
        event.udata == 0xabcd,
        "udata {:#x}, want 0xabcd (EV_KEEPUDATA)",
        event.udata
    );
    kq.trigger(1, UserOp::Or(0x3))?;
    kq.trigger(1, UserOp::Copy(0x10))?;
    let event = one_event(&kq, user(1))?;
    ensure!(
        event.fflags == 0x10,
        "FFCOPY: fflags {:#x}, want 0x10",
        event.fflags
    );
    kq.trigger(1, UserOp::Or(0x7))?;
    kq.trigger(1, UserOp::And(0x5))?;
    let event = one_event(&kq, user(1))?;
    ensure!(
        event.fflags == 0x5,
        "FFAND: fflags {:#x}, want 0x5",
        event.fflags
    );
    Ok(())
}

fn ev_clear_resets_state() -> TestResult {
    let kq = Kqueue::new()?;
    kq.apply(&[
        Change::add(user(1)),
        Change::add(user(2)).flags(Flags::CLEAR),
    ])?;
    kq.trigger(1, UserOp::Nop)?;
    kq.trigger(2, UserOp::Nop)?;
    for round in 1..=2 {
        let mut idents: Vec<u64> = poll(&kq)?.iter().map(|e| e.ident).collect();
        idents.sort_unstable();
        let want: &[u64] = if round == 1 { &[1, 2] } else { &[1] };
        ensure!(
            idents == want,
            "poll {round}: idents {idents:?}, want {want:?}"
        );
    }
    Ok(())
}

fn ev_oneshot_deletes_after_delivery() -> TestResult {
    let kq = Kqueue::new()?;
    kq.apply(&[Change::add(user(3)).flags(Flags::ONESHOT)])?;
    kq.trigger(3, UserOp::Nop)?;
    let event = one_event(&kq, user(3))?;
    ensure!(
        event.flags.contains(Flags::ONESHOT),
        "flags {:?} lack ONESHOT",
        event.flags
    );
    ensure!(poll(&kq)?.is_empty(), "oneshot event delivered twice");
    expect_errno(kq.trigger(3, UserOp::Nop), ENOENT, "trigger after oneshot")
}

fn ev_delete_then_enoent() -> TestResult {
    let kq = Kqueue::new()?;
    kq.apply(&[Change::add(user(5))])?;
    kq.apply(&[Change::delete(user(5))])?;
    expect_errno(
        kq.apply(&[Change::delete(user(5))]),
        ENOENT,
        "second delete",
    )?;
    expect_errno(kq.trigger(5, UserOp::Nop), ENOENT, "trigger after delete")
}

fn ev_disable_enable() -> TestResult {
    let kq = Kqueue::new()?;
    kq.apply(&[Change::add(user(6)).flags(Flags::CLEAR)])?;
    kq.apply(&[Change::disable(user(6))])?;
    kq.trigger(6, UserOp::Nop)?;
    ensure!(poll(&kq)?.is_empty(), "disabled event was reported");
    kq.apply(&[Change::enable(user(6))])?;
    one_event(&kq, user(6)).map(drop)
}

fn periodic_timer_counts_expirations() -> TestResult {
    let kq = Kqueue::new()?;
    let timer = Filter::timer(9, Duration::from_millis(10));
    let start = Instant::now();
    kq.apply(&[Change::add(timer)])?;
    let mut expirations = 0;
    while start.elapsed() < Duration::from_millis(55) {
        for event in kq.wait(4, Some(Duration::from_millis(20)))? {
            ensure!(
                event.filter == sys::EVFILT_TIMER && event.ident == 9,
                "unexpected {event:?}"
            );
            expirations += event.data;
        }
    }
    let most = start.elapsed().as_millis() as i64 / 10;
    ensure!(
        (3..=most).contains(&expirations),
        "{expirations} expirations, want 3..={most}"
    );
    Ok(())
}

fn timeout_is_honoured() -> TestResult {
    let kq = Kqueue::new()?;
    let start = Instant::now();
    let events = kq.wait(4, Some(Duration::from_millis(10)))?;
    let waited = start.elapsed();
    ensure!(events.is_empty(), "events on an empty kqueue: {events:?}");
    ensure!(
        waited >= Duration::from_millis(10),
        "returned after {waited:?} < 10 ms"
    );
    ensure!(waited < Duration::from_secs(2), "returned after {waited:?}");
    Ok(())
}

fn zero_timeout_polls() -> TestResult {
    let kq = Kqueue::new()?;
    kq.apply(&[Change::add(user(1)).flags(Flags::CLEAR)])?;
    let start = Instant::now();
    ensure!(poll(&kq)?.is_empty(), "event pending before trigger");
    ensure!(
        start.elapsed() < Duration::from_millis(500),
        "zero timeout blocked {:?}",
        start.elapsed()
    );
    kq.trigger(1, UserOp::Nop)?;
    ensure!(
        poll(&kq)?.len() == 1,
        "triggered event not returned by a poll"
    );
    Ok(())
}

fn ev_receipt_records() -> TestResult {
    let kq = Kqueue::new()?;
    let changes: Vec<KEvent> = [
        Change::add(user(1)),
        Change::add(user(2)),
        Change::delete(user(99)),
    ]
    .iter()
    .map(|c| c.flags(Flags::RECEIPT).to_kevent())
    .collect();
    let mut events = [KEvent::default(); 4];
    let n = kq.kevent(&changes, &mut events, ZERO)?;
    ensure!(n == 3, "{n} records, want 3");
    for (record, want) in events[..n]
        .iter()
        .zip([(1, 0), (2, 0), (99, ENOENT as i64)])
    {
        let event = Event::from(*record);
        ensure!(
            event.flags.contains(Flags::ERROR),
            "record {event:?} lacks EV_ERROR"
        );
        ensure!(
            (event.ident, event.data) == want,
            "record {event:?}, want (ident, errno) {want:?}"
        );
    }
    Ok(())
}

fn thread_trigger_wakes_waiter() -> TestResult {
    let kq = Arc::new(Kqueue::new()?);
    kq.apply(&[Change::add(user(7)).flags(Flags::CLEAR)])?;
    let trigger = {
        let kq = Arc::clone(&kq);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            kq.trigger(7, UserOp::Copy(0x2a))
        })
    };
    let start = Instant::now();
    let event = one_event(&kq, user(7))?;
    let waited = start.elapsed();
    trigger.join().map_err(|_| "trigger thread panicked")??;
    ensure!(
        event.fflags == 0x2a,
        "fflags {:#x}, want 0x2a",
        event.fflags
    );
    ensure!(
        waited >= Duration::from_millis(40),
        "woke after {waited:?}, before the trigger"
    );
    Ok(())
}

fn bad_filter_is_einval() -> TestResult {
    let kq = Kqueue::new()?;
    let bogus = Change::add(Filter::Raw {
        filter: -100,
        ident: 1,
    });
    let mut events = [KEvent::default(); 1];
    let n = kq.kevent(&[bogus.to_kevent()], &mut events, ZERO)?;
    ensure!(n == 1, "{n} records, want an EV_ERROR record");
    let error = Event::from(events[0]).error().map(|e| e.raw_os_error());
    ensure!(
        error == Some(Some(EINVAL)),
        "record {:?}, want EV_ERROR/EINVAL",
        events[0]
    );
    expect_errno(
        kq.kevent(&[bogus.to_kevent()], &mut [], ZERO),
        EINVAL,
        "bad filter without room for records",
    )?;
    expect_errno(kq.apply(&[bogus]), EINVAL, "apply of a bad filter")
}

fn read_write_on_pipe() -> TestResult {
    let (reader, mut writer) = io::pipe()?;
    let kq = Kqueue::new()?;
    kq.apply(&[Change::add(Filter::Read(reader.as_raw_fd()))])?;
    ensure!(poll(&kq)?.is_empty(), "empty pipe reported readable");
    writer.write_all(b"hello")?;
    let event = one_event(&kq, Filter::Read(reader.as_raw_fd()))?;
    ensure!(event.data == 5, "EVFILT_READ data {}, want 5", event.data);
    kq.apply(&[Change::add(Filter::Write(writer.as_raw_fd())).flags(Flags::ONESHOT)])?;
    let writable = kq
        .wait(4, ZERO)?
        .into_iter()
        .find(|e| e.filter == sys::EVFILT_WRITE);
    ensure!(
        writable.is_some_and(|e| e.data > 0),
        "pipe not writable: {writable:?}"
    );
    drop(writer);
    let event = one_event(&kq, Filter::Read(reader.as_raw_fd()))?;
    ensure!(
        event.flags.contains(Flags::EOF),
        "no EV_EOF after writer closed: {event:?}"
    );
    Ok(())
}

/// A batch with failures in the middle: every change is applied, each failure comes with its
/// index and change (EV_RECEIPT), and one ApplyError converts to the errno.
fn apply_reports_every_failure() -> TestResult {
    let kq = Kqueue::new()?;
    let changes = [
        Change::add(user(1)),
        Change::delete(user(98)),
        Change::add(user(2)),
        Change::add(Filter::Read(-1)),
        Change::add(user(3)).flags(Flags::RECEIPT),
    ];
    let err: ApplyError = match kq.apply(&changes) {
        Ok(()) => return Err("apply of a bad batch succeeded".into()),
        Err(err) => err,
    };
    ensure!(err.call_error().is_none(), "call failed: {err}");
    let got: Vec<(usize, Option<i32>)> = err
        .failures()
        .iter()
        .map(|f| (f.index, f.error.raw_os_error()))
        .collect();
    ensure!(
        got == [(1, Some(ENOENT)), (3, Some(EBADF))],
        "failures {got:?}, want [(1, ENOENT), (3, EBADF)]"
    );
    ensure!(
        err.failures()[0].change == changes[1],
        "wrong change in the report"
    );
    // The changes after each failure were applied: all three user events exist.
    for id in 1..=3 {
        kq.trigger(id, UserOp::Nop)?;
    }
    ensure!(poll(&kq)?.len() == 3, "not every good change was applied");
    // A batch larger than one chunk (32) with failures at both ends.
    let mut big: Vec<Change> = (10..110).map(|id| Change::add(user(id))).collect();
    big[0] = Change::delete(user(500));
    big[99] = Change::delete(user(501));
    let err = kq.apply(&big).expect_err("two failures");
    let idx: Vec<usize> = err.failures().iter().map(|f| f.index).collect();
    ensure!(idx == [0, 99], "indices {idx:?}, want [0, 99]");
    let io_err: io::Error = err.into();
    ensure!(
        io_err.kind() == io::ErrorKind::NotFound,
        "kind {:?}",
        io_err.kind()
    );
    Ok(())
}

/// wait_into fills the caller's buffer, up to its capacity, and reuses it.
fn wait_into_fills_caller_buffer() -> TestResult {
    let kq = Kqueue::new()?;
    let changes: Vec<Change> = (1..=5).map(|id| Change::add(user(id))).collect();
    kq.apply(&changes)?;
    for id in 1..=5 {
        kq.trigger(id, UserOp::Nop)?;
    }
    let mut events = Events::with_capacity(3);
    let n = kq.wait_into(&mut events, ZERO)?;
    ensure!(n == 3 && events.len() == 3, "{n} events, want 3 (capacity)");
    let ptr = events.as_raw().as_ptr();
    kq.apply(
        &changes
            .iter()
            .map(|c| Change::delete(c.filter()))
            .collect::<Vec<_>>(),
    )?;
    let n = kq.wait_into(&mut events, Some(Duration::from_millis(1)))?;
    ensure!(n == 0 && events.is_empty(), "{n} events after deleting all");
    ensure!(
        events.as_raw().as_ptr() == ptr && events.capacity() == 3,
        "buffer reallocated"
    );
    Ok(())
}

/// EVFILT_EMPTY on a connected unix stream socket: empty send buffer at once.
fn empty_filter_on_socket() -> TestResult {
    let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    let kq = Kqueue::new()?;
    kq.apply(&[Change::add(Filter::empty(&a)).udata(5)])?;
    let event = one_event(&kq, Filter::Empty(a.as_raw_fd()))?;
    ensure!(event.data == 0 && event.udata == 5, "EMPTY event {event:?}");
    ensure!(event.fd() == Some(a.as_raw_fd()), "fd() {:?}", event.fd());
    let (reader, _writer) = io::pipe()?;
    expect_errno(
        kq.apply(&[Change::add(Filter::empty(&reader))]),
        EINVAL,
        "EMPTY on a pipe",
    )
}

/// EVFILT_VNODE: a write to a watched file is NOTE_WRITE (and NOTE_EXTEND).
fn vnode_write_and_extend() -> TestResult {
    let path = std::env::temp_dir().join(format!("kq-rs-vnode-{}", std::process::id()));
    let mut file = std::fs::File::create(&path)?;
    let kq = Kqueue::new()?;
    kq.apply(&[Change::add(Filter::vnode(
        &file,
        VnodeNotes::WRITE | VnodeNotes::EXTEND | VnodeNotes::DELETE,
    ))])?;
    ensure!(poll(&kq)?.is_empty(), "vnode event before any change");
    file.write_all(b"hello")?;
    let event = one_event(
        &kq,
        Filter::Vnode {
            fd: file.as_raw_fd(),
            notes: VnodeNotes::empty(),
        },
    )?;
    let notes = VnodeNotes::from_bits(event.fflags);
    ensure!(
        notes.contains(VnodeNotes::WRITE | VnodeNotes::EXTEND),
        "notes {notes:?}, want WRITE | EXTEND"
    );
    std::fs::remove_file(&path)?;
    let event = one_event(
        &kq,
        Filter::Vnode {
            fd: file.as_raw_fd(),
            notes: VnodeNotes::empty(),
        },
    )?;
    ensure!(
        VnodeNotes::from_bits(event.fflags).contains(VnodeNotes::DELETE),
        "after unlink: {event:?}"
    );
    Ok(())
}

/// EVFILT_PROC and EVFILT_PROCDESC report a child's exit with its wait status.
fn proc_and_procdesc_exit() -> TestResult {
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", "read x; exit 3"])
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    ensure!(pidfd >= 0, "pidfd_open: {}", io::Error::last_os_error());
    // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
    let pidfd =
        unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(pidfd as i32) };
    let kq = Kqueue::new()?;
    kq.apply(&[
        Change::add(Filter::proc(pid, ProcNotes::EXIT)).udata(1),
        Change::add(Filter::procdesc(&pidfd)).udata(2),
    ])?;
    ensure!(poll(&kq)?.is_empty(), "exit reported before the exit");
    drop(child.stdin.take()); // read fails: the child exits with 3
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 && Instant::now() < deadline {
        seen.extend(kq.wait(4, Some(Duration::from_secs(1)))?);
    }
    child.wait()?;
    ensure!(
        seen.len() == 2,
        "events {seen:?}, want PROC and PROCDESC exits"
    );
    for event in &seen {
        ensure!(
            event.fflags & sys::NOTE_EXIT != 0 && event.is_eof(),
            "not an exit: {event:?}"
        );
        ensure!(
            libc::WIFEXITED(event.data as i32) && libc::WEXITSTATUS(event.data as i32) == 3,
            "status {:#x}, want exit 3",
            event.data
        );
    }
    Ok(())
}

/// EVFILT_SIGNAL counts a signal that is ignored (the kqueue does not consume it).
fn signal_is_counted() -> TestResult {
    // SAFETY: SIG_IGN for SIGUSR2, which nothing else in this program uses.
    unsafe { libc::signal(libc::SIGUSR2, libc::SIG_IGN) };
    let kq = Kqueue::new()?;
    kq.apply(&[Change::add(Filter::Signal(libc::SIGUSR2))])?;
    for _ in 0..3 {
        // SAFETY: raise() of an ignored signal.
        unsafe { libc::raise(libc::SIGUSR2) };
    }
    let event = one_event(&kq, Filter::Signal(libc::SIGUSR2))?;
    ensure!(event.data == 3, "count {}, want 3", event.data);
    Ok(())
}

/// An absolute timer in the past fires at once, once; one in the future at its time.
fn absolute_timer() -> TestResult {
    let kq = Kqueue::new()?;
    let past = std::time::SystemTime::now() - Duration::from_secs(1);
    // Without ONESHOT (or CLEAR) a fired absolute timer stays active, as on FreeBSD.
    kq.apply(&[Change::add(Filter::timer_at(4, past)).flags(Flags::ONESHOT)])?;
    let event = one_event(&kq, Filter::timer_at(4, past))?;
    ensure!(event.data == 1, "expirations {}, want 1", event.data);
    // One second ahead: an emulated VM may take tens of milliseconds between two calls.
    let soon = std::time::SystemTime::now() + Duration::from_secs(1);
    kq.apply(&[Change::add(Filter::timer_at(5, soon)).flags(Flags::ONESHOT)])?;
    ensure!(poll(&kq)?.is_empty(), "future absolute timer fired at once");
    one_event(&kq, Filter::timer_at(5, soon))?;
    ensure!(
        std::time::SystemTime::now() >= soon,
        "absolute timer fired before its time"
    );
    Ok(())
}

/// Filters the module refuses are EINVAL (and have no typed constructor).
fn refused_filters_are_einval() -> TestResult {
    let kq = Kqueue::new()?;
    for filter in [
        sys::EVFILT_AIO,
        sys::EVFILT_LIO,
        sys::EVFILT_SENDFILE,
        sys::EVFILT_FS,
    ] {
        expect_errno(
            kq.apply(&[Change::add(Filter::Raw { filter, ident: 0 })]),
            EINVAL,
            &format!("filter {filter}"),
        )?;
    }
    Ok(())
}

/// OwnedFd round trip: into an OwnedFd and back (checked to be a kqueue).
fn owned_fd_round_trip() -> TestResult {
    let kq = Kqueue::new()?;
    kq.apply(&[Change::add(user(1))])?;
    let fd: std::os::fd::OwnedFd = kq.into();
    let kq = Kqueue::try_from(fd)?;
    kq.trigger(1, UserOp::Nop)?;
    one_event(&kq, user(1)).map(drop)
}

/// errno of a failed call of the C `kevent()` symbol (`None` if it did not fail).
fn c_kevent_errno(
    kq: &Kqueue,
    changes: *const KEvent,
    nchanges: c_int,
    events: &mut [KEvent],
    timeout: Option<&kqueue::capi::Timespec>,
) -> Option<i32> {
    let timeout = timeout.map_or(std::ptr::null(), |ts| ts as *const _);
    let nevents = events.len() as c_int;
    // SAFETY: `events` has room for `nevents` events; the rest is for the kernel to reject.
    let ret = unsafe {
        kqueue::capi::kevent(
            kq.as_raw_fd(),
            changes,
            nchanges,
            events.as_mut_ptr(),
            nevents,
            timeout,
        )
    };
    if ret == -1 {
        io::Error::last_os_error().raw_os_error()
    } else {
        None
    }
}

/// The C symbol hands counts, pointers and timeouts to the kernel unchecked; its errors come back.
fn c_kevent_reports_kernel_errors() -> TestResult {
    let kq = Kqueue::new()?;
    let null = std::ptr::null();
    let negative = c_kevent_errno(&kq, null, -1, &mut [], None);
    ensure!(
        negative == Some(EINVAL),
        "nchanges -1: errno {negative:?}, want EINVAL"
    );
    // A dangling pointer is a low address (the alignment, 8), never mapped.
    let unmapped = c_kevent_errno(&kq, std::ptr::dangling(), 1, &mut [], None);
    ensure!(
        unmapped == Some(EFAULT),
        "changelist 0x8: errno {unmapped:?}, want EFAULT"
    );
    let bad_ts = kqueue::capi::Timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    let invalid = c_kevent_errno(&kq, null, 0, &mut [KEvent::default()], Some(&bad_ts));
    ensure!(
        invalid == Some(EINVAL),
        "tv_nsec 1e9: errno {invalid:?}, want EINVAL"
    );
    Ok(())
}

type TestFn = fn() -> TestResult;

const TESTS: &[(&str, TestFn)] = &[
    ("open_close", open_close),
    ("cloexec_by_default", cloexec_by_default),
    ("user_trigger_fflags_data", user_trigger_fflags_data),
    ("ev_clear_resets_state", ev_clear_resets_state),
    (
        "ev_oneshot_deletes_after_delivery",
        ev_oneshot_deletes_after_delivery,
    ),
    ("ev_delete_then_enoent", ev_delete_then_enoent),
    ("ev_disable_enable", ev_disable_enable),
    (
        "periodic_timer_counts_expirations",
        periodic_timer_counts_expirations,
    ),
    ("timeout_is_honoured", timeout_is_honoured),
    ("zero_timeout_polls", zero_timeout_polls),
    ("ev_receipt_records", ev_receipt_records),
    ("thread_trigger_wakes_waiter", thread_trigger_wakes_waiter),
    ("bad_filter_is_einval", bad_filter_is_einval),
    ("read_write_on_pipe", read_write_on_pipe),
    (
        "c_kevent_reports_kernel_errors",
        c_kevent_reports_kernel_errors,
    ),
    ("apply_reports_every_failure", apply_reports_every_failure),
    (
        "wait_into_fills_caller_buffer",
        wait_into_fills_caller_buffer,
    ),
    ("empty_filter_on_socket", empty_filter_on_socket),
    ("vnode_write_and_extend", vnode_write_and_extend),
    ("proc_and_procdesc_exit", proc_and_procdesc_exit),
    ("signal_is_counted", signal_is_counted),
    ("absolute_timer", absolute_timer),
    ("refused_filters_are_einval", refused_filters_are_einval),
    ("owned_fd_round_trip", owned_fd_round_trip),
];

fn main() {
    println!("TAP version 13");
    println!("1..{}", TESTS.len());
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (number, (name, test)) in (1..).zip(TESTS) {
        match test() {
            Ok(()) => {
                passed += 1;
                println!("ok {number} {name}");
            }
            Err(reason) if reason.is::<Skip>() => {
                skipped += 1;
                println!("ok {number} {name} # SKIP {reason}");
            }
            Err(reason) => {
                failed += 1;
                let reason = reason.to_string().replace('\n', " ");
                println!("not ok {number} {name} # {reason}");
            }
        }
    }
    println!("# Totals: pass:{passed} fail:{failed} xfail:0 xpass:0 skip:{skipped} error:0");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
