//! A TCP echo server driven by one kqueue, in safe Rust: the event loop a `kqueue` user writes.
//!
//! ```text
//! kq-echo-server --listen 127.0.0.1:7000   # serve until killed
//! kq-echo-server                           # self-test (what `make check` runs in the VM)
//! ```
//!
//! The loop: one [`Kqueue`], one reusable [`Events`] buffer, non-blocking std sockets.
//! - `EVFILT_READ` on the listener: accept every waiting connection (`data` says how many).
//! - `EVFILT_READ` on a connection: read what is there, echo it. When the socket's send buffer
//!   is full, the rest is kept, `EVFILT_WRITE` is enabled and `EVFILT_READ` disabled
//!   (back-pressure) until it is flushed.
//! - End of file: flush, then drop the stream; closing the descriptor removes its knotes from
//!   the kqueue, so there is nothing to deregister.
//! - `EVFILT_USER` 0: stop (the self-test's clients trigger it when they are done).
//!
//! The self-test starts the server on 127.0.0.1 (any port), connects three clients from other
//! threads (46 B, 3000 B and 8 MiB, the last one written and read concurrently so that the
//! server meets a full send buffer), checks every echo byte for byte and prints TAP.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use kqueue::{sys, Change, Events, Filter, Flags, Kqueue, UserOp};

/// The `EVFILT_USER` event that stops the server.
const STOP: u64 = 0;

/// A client connection: its stream and what is still to be echoed.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    /// Peer sent EOF: close once `pending` is flushed.
    closing: bool,
}

/// What the server did, for the self-test's report.
#[derive(Debug, Default)]
struct Stats {
    accepted: usize,
    bytes: usize,
    backpressure: usize,
    closed: usize,
}

struct Server {
    kq: Arc<Kqueue>,
    listener: TcpListener,
    conns: HashMap<RawFd, Conn>,
    stats: Stats,
}

impl Server {
    fn new(addr: SocketAddr) -> io::Result<Server> {
        let kq = Arc::new(Kqueue::new()?);
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        kq.apply(&[
            Change::add(Filter::read(&listener)),
            Change::add(Filter::User { id: STOP }).flags(Flags::CLEAR),
        ])?;
        Ok(Server {
            kq,
            listener,
            conns: HashMap::new(),
            stats: Stats::default(),
        })
    }

    /// Runs until `EVFILT_USER` `STOP` is triggered.
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        loop {
            match self.kq.wait_into(&mut events, None) {
                Ok(_) => {}
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
            for event in &events {
                if let Some(err) = event.error() {
                    return Err(err);
                }
                let fd = event.ident as RawFd;
                match event.filter {
                    sys::EVFILT_USER => return Ok(()),
                    sys::EVFILT_READ if fd == self.listener.as_raw_fd() => self.accept()?,
                    sys::EVFILT_READ => self.readable(fd)?,
                    sys::EVFILT_WRITE => self.writable(fd)?,
                    _ => {}
                }
            }
        }
    }

    fn accept(&mut self) -> io::Result<()> {
        loop {
            let (stream, _) = match self.listener.accept() {
                Ok(conn) => conn,
                Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(err) => return Err(err),
            };
            stream.set_nonblocking(true)?;
            // READ enabled; WRITE registered disabled, enabled only under back-pressure.
            self.kq.apply(&[
                Change::add(Filter::read(&stream)),
                Change::add(Filter::write(&stream)).flags(Flags::DISABLE),
            ])?;
            self.stats.accepted += 1;
            let conn = Conn {
                stream,
                pending: Vec::new(),
                closing: false,
            };
            self.conns.insert(conn.stream.as_raw_fd(), conn);
        }
    }

    fn readable(&mut self, fd: RawFd) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(&fd) else {
            return Ok(());
        };
        let mut buf = [0u8; 16384];
        loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    conn.closing = true;
                    break;
                }
                Ok(n) => {
                    self.stats.bytes += n;
                    conn.pending.extend_from_slice(&buf[..n]);
                    if !flush(conn)? {
                        // Send buffer full: stop reading, wait for room.
                        self.stats.backpressure += 1;
                        self.kq.apply(&[
                            Change::disable(Filter::read(&conn.stream)),
                            Change::enable(Filter::write(&conn.stream)),
                        ])?;
                        return Ok(());
                    }
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == ErrorKind::ConnectionReset => {
                    conn.closing = true;
                    conn.pending.clear();
                    break;
                }
                Err(err) => return Err(err),
            }
        }
        self.close_if_done(fd);
        Ok(())
    }

    fn writable(&mut self, fd: RawFd) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(&fd) else {
            return Ok(());
        };
        if flush(conn)? {
            self.kq.apply(&[
                Change::disable(Filter::write(&conn.stream)),
                Change::enable(Filter::read(&conn.stream)),
            ])?;
            self.close_if_done(fd);
        }
        Ok(())
    }

    /// Drops a connection whose peer is done and whose echo is flushed. Closing the
    /// descriptor removes its knotes: nothing to deregister.
    fn close_if_done(&mut self, fd: RawFd) {
        if self
            .conns
            .get(&fd)
            .is_some_and(|c| c.closing && c.pending.is_empty())
        {
            self.conns.remove(&fd);
            self.stats.closed += 1;
        }
    }
}

/// Writes as much of `conn.pending` as the socket takes; true when all of it went.
fn flush(conn: &mut Conn) -> io::Result<bool> {
    while !conn.pending.is_empty() {
        match conn.stream.write(&conn.pending) {
            Ok(n) => {
                conn.pending.drain(..n);
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(err) if err.kind() == ErrorKind::BrokenPipe => {
                conn.pending.clear();
                conn.closing = true;
            }
            Err(err) => return Err(err),
        }
    }
    Ok(true)
}

/// One client: sends `size` bytes from a writer thread while reading the echo, then checks it.
fn client(addr: SocketAddr, seed: u8, size: usize) -> Result<(), String> {
    let payload: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let sent = payload.clone();
    let write = thread::spawn(move || -> io::Result<()> {
        for chunk in sent.chunks(65536) {
            writer.write_all(chunk)?;
        }
        writer.shutdown(Shutdown::Write)
    });
    let mut echo = Vec::with_capacity(size);
    if size > 65536 {
        // Read late, so the server meets full socket buffers and waits for EVFILT_WRITE.
        thread::sleep(Duration::from_millis(500));
    }
    let mut reader = stream;
    let read = reader.read_to_end(&mut echo);
    write
        .join()
        .map_err(|_| "writer panicked".to_string())?
        .map_err(|e| format!("write: {e}"))?;
    read.map_err(|e| format!("read: {e}"))?;
    if echo != payload {
        let at = echo
            .iter()
            .zip(&payload)
            .take_while(|(a, b)| a == b)
            .count();
        return Err(format!(
            "echo differs: {} bytes back of {size}, first difference at {at}",
            echo.len()
        ));
    }
    Ok(())
}

fn self_test() -> ExitCode {
    const SIZES: [usize; 3] = [46, 3000, 8 << 20];
    println!("TAP version 13");
    println!("1..{}", SIZES.len() + 2);
    let mut server = match Server::new(SocketAddr::from(([127, 0, 0, 1], 0))) {
        Ok(server) => server,
        Err(err) => {
            println!("not ok 1 server starts # {err}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.listener.local_addr().expect("bound");
    println!("ok 1 server listening on {addr}");
    let kq = Arc::clone(&server.kq);
    let clients = thread::spawn(move || {
        let handles: Vec<_> = SIZES
            .iter()
            .enumerate()
            .map(|(i, &size)| thread::spawn(move || client(addr, i as u8, size)))
            .collect();
        let results: Vec<Result<(), String>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("client panicked".into())))
            .collect();
        kq.trigger(STOP, UserOp::Nop).expect("trigger STOP");
        results
    });
    let served = server.run();
    let results = clients.join().expect("client threads");
    let mut failed = 0;
    for (i, (result, size)) in results.iter().zip(SIZES).enumerate() {
        match result {
            Ok(()) => println!("ok {} connection {}: {size} bytes echoed", i + 2, i + 1),
            Err(why) => {
                failed += 1;
                println!(
                    "not ok {} connection {}: {size} bytes # {why}",
                    i + 2,
                    i + 1
                );
            }
        }
    }
    let stats = &server.stats;
    let n = SIZES.len() + 2;
    match served {
        Ok(()) if stats.accepted == SIZES.len() && server.conns.is_empty() => println!(
            "ok {n} server: {} accepted, {} closed, {} bytes, {} back-pressure waits",
            stats.accepted, stats.closed, stats.bytes, stats.backpressure
        ),
        other => {
            failed += 1;
            println!(
                "not ok {n} server: {other:?}, {stats:?}, {} still open",
                server.conns.len()
            );
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => self_test(),
        [flag, addr] if flag == "--listen" => {
            let result = addr
                .parse()
                .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))
                .and_then(Server::new)
                .and_then(|mut server| {
                    println!("listening on {}", server.listener.local_addr()?);
                    server.run()
                });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("kq-echo-server: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: kq-echo-server [--listen ADDR:PORT]");
            ExitCode::from(2)
        }
    }
}
