//! kq-demo (`make demo`): a periodic EVFILT_TIMER and an EVFILT_USER event triggered from
//! another thread, printed as they arrive for about one second.
//! Exits 0 if the timer fired about 10 times and all three user triggers arrived.

use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kqueue::{sys, Change, Event, Filter, Flags, Kqueue, UserOp};

const TIMER_ID: u64 = 1;
const USER_ID: u64 = 2;
const TIMER_PERIOD: Duration = Duration::from_millis(100);
const RUN_TIME: Duration = Duration::from_secs(1);
const TRIGGER_INTERVAL: Duration = Duration::from_millis(150);
/// The fflags each trigger copies in (NOTE_FFCOPY): their union tells which triggers arrived.
const TRIGGER_BITS: [u32; 3] = [0x1, 0x2, 0x4];

/// What arrived: timer expirations (sum of `data`), user events and the union of their fflags.
#[derive(Default)]
struct Tally {
    expirations: i64,
    timer_events: usize,
    user_events: usize,
    user_fflags: u32,
}

impl Tally {
    fn record(&mut self, event: &Event) {
        match event.filter {
            sys::EVFILT_TIMER => {
                self.timer_events += 1;
                self.expirations += event.data;
            }
            sys::EVFILT_USER => {
                self.user_events += 1;
                self.user_fflags |= event.fflags;
            }
            _ => {}
        }
    }

    /// About RUN_TIME / TIMER_PERIOD expirations (a slow machine may lose some to the deadline,
    /// a late last wakeup may add one), and every trigger bit.
    fn as_expected(&self) -> bool {
        let periods = (RUN_TIME.as_millis() / TIMER_PERIOD.as_millis()) as i64;
        let all_bits = TRIGGER_BITS.iter().fold(0, |acc, bit| acc | bit);
        (periods - 2..=periods + 1).contains(&self.expirations) && self.user_fflags == all_bits
    }
}

fn print_event(event: &Event, start: Instant) {
    println!(
        "[{:7.1} ms] {:<12} ident={} flags={:?} fflags={:#x} data={} udata={:#x}",
        start.elapsed().as_secs_f64() * 1000.0,
        event.filter_name(),
        event.ident,
        event.flags,
        event.fflags,
        event.data,
        event.udata
    );
}

fn spawn_triggers(kq: Arc<Kqueue>) -> thread::JoinHandle<std::io::Result<()>> {
    thread::spawn(move || {
        for bit in TRIGGER_BITS {
            thread::sleep(TRIGGER_INTERVAL);
            kq.trigger(USER_ID, UserOp::Copy(bit))?;
        }
        Ok(())
    })
}

fn run() -> std::io::Result<Tally> {
    let kq = Arc::new(Kqueue::new()?);
    kq.apply(&[
        Change::add(Filter::timer(TIMER_ID, TIMER_PERIOD)).udata(0x7100),
        Change::add(Filter::User { id: USER_ID })
            .flags(Flags::CLEAR)
            .udata(0x5500),
    ])?;
    println!(
        "kq-demo: kqueue fd {}: EVFILT_TIMER ident {TIMER_ID} every {TIMER_PERIOD:?}, EVFILT_USER ident {USER_ID} triggered 3 times from a thread",
        std::os::fd::AsRawFd::as_raw_fd(&*kq)
    );
    let start = Instant::now();
    let triggers = spawn_triggers(Arc::clone(&kq));
    let mut tally = Tally::default();
    while let Some(left) = RUN_TIME.checked_sub(start.elapsed()) {
        for event in kq.wait(8, Some(left))? {
            print_event(&event, start);
            tally.record(&event);
        }
    }
    triggers.join().expect("trigger thread panicked")?;
    Ok(tally)
}

fn main() -> ExitCode {
    match run() {
        Ok(tally) => {
            let ok = tally.as_expected();
            println!(
                "summary: {} timer expirations in {} events, {} user events with fflags {:#x}: {}",
                tally.expirations,
                tally.timer_events,
                tally.user_events,
                tally.user_fflags,
                if ok { "ok" } else { "UNEXPECTED" }
            );
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("kq-demo: {err}");
            ExitCode::FAILURE
        }
    }
}
