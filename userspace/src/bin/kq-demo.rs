//! kq-demo (`make demo`): a periodic EVFILT_TIMER and an EVFILT_USER event triggered from
//! another thread, printed as they arrive for about one second.
//! Exits 0 if the timer fired once per period and all three user triggers arrived.

use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kqueue::{sys, Change, Event, Events, Filter, Flags, Kqueue, UserOp};

const TIMER_ID: u64 = 1;
const USER_ID: u64 = 2;
const TIMER_PERIOD: Duration = Duration::from_millis(100);
const TRIGGER_INTERVAL: Duration = Duration::from_millis(150);
/// The fflags each trigger copies in (NOTE_FFCOPY): their union tells which triggers arrived.
const TRIGGER_BITS: [u32; 3] = [0x1, 0x2, 0x4];
const ALL_TRIGGER_BITS: u32 = 0x7;
/// How long the demo runs; a slow machine (an emulated VM) may need longer for the triggers.
const RUN_TIME: Duration = Duration::from_secs(1);
const MAX_RUN_TIME: Duration = Duration::from_secs(5);

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

    /// Every trigger arrived, and one timer expiration per period of `ran` (the timer starts
    /// just after the clock; an expiration may be pending when the clock is read at the end).
    fn as_expected(&self, ran: Duration) -> bool {
        let periods = (ran.as_millis() / TIMER_PERIOD.as_millis()) as i64;
        (periods - 2..=periods).contains(&self.expirations) && self.user_fflags == ALL_TRIGGER_BITS
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

/// Waits for and prints events until RUN_TIME has passed and every trigger arrived (at most
/// MAX_RUN_TIME); returns the tally and how long it ran.
fn collect(kq: &Kqueue, start: Instant) -> std::io::Result<(Tally, Duration)> {
    let mut tally = Tally::default();
    let mut events = Events::with_capacity(8); // one buffer for every wait
    loop {
        let elapsed = start.elapsed();
        let done = elapsed >= RUN_TIME && tally.user_fflags == ALL_TRIGGER_BITS;
        let deadline = if elapsed < RUN_TIME {
            RUN_TIME
        } else {
            MAX_RUN_TIME
        };
        let Some(left) = deadline.checked_sub(elapsed).filter(|_| !done) else {
            return Ok((tally, elapsed));
        };
        kq.wait_into(&mut events, Some(left))?;
        for event in &events {
            print_event(&event, start);
            tally.record(&event);
        }
    }
}

fn run() -> std::io::Result<(Tally, Duration)> {
    let kq = Arc::new(Kqueue::new()?);
    println!(
        "kq-demo: kqueue fd {}: EVFILT_TIMER ident {TIMER_ID} every {TIMER_PERIOD:?}, \
         EVFILT_USER ident {USER_ID} triggered {} times from a thread",
        kq.as_raw_fd(),
        TRIGGER_BITS.len()
    );
    let start = Instant::now();
    kq.apply(&[
        Change::add(Filter::timer(TIMER_ID, TIMER_PERIOD)).udata(0x7100),
        Change::add(Filter::User { id: USER_ID })
            .flags(Flags::CLEAR)
            .udata(0x5500),
    ])?;
    let triggers = spawn_triggers(Arc::clone(&kq));
    let result = collect(&kq, start)?;
    triggers.join().expect("trigger thread panicked")?;
    Ok(result)
}

fn main() -> ExitCode {
    let (tally, ran) = match run() {
        Ok(result) => result,
        Err(err) => {
            eprintln!("kq-demo: {err}");
            return ExitCode::FAILURE;
        }
    };
    let ok = tally.as_expected(ran);
    println!(
        "summary: {} ms: {} timer expirations in {} events, {} user events with fflags {:#x}: {}",
        ran.as_millis(),
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
