//! The mixed workload. Each function loops until `stop` is set, counting what it did and
//! reporting broken invariants through `Counters::fail`.

use crate::proxy;
use crate::report::Counters;
use crate::rng::{checksum, Rng};
use ringloop::net::{TcpStream, UdpSocket, UnixStream};
use ringloop::sync::Event;
use ringloop::time::{sleep, timeout};
use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What every workload shares.
pub struct Shared {
    pub seed: u64,
    /// `uring` or `epoll`: the backend under test (child processes use it too).
    pub backend: &'static str,
    pub counters: Rc<Counters>,
    pub stop: Rc<Event>,
    pub latencies_us: RefCell<crate::histogram::Histogram>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.is_set()
    }
}

const HEADER: usize = 20;

/// One echo message: [seq u64][len u32][checksum u64] + payload.
fn message(rng: &mut Rng, seq: u64) -> Vec<u8> {
    let len = rng.message_size();
    let mut payload = vec![0u8; len];
    rng.fill(&mut payload);
    let mut out = Vec::with_capacity(HEADER + len);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Checks an echoed message against what was sent.
fn verify(sent: &[u8], got: &[u8], seq: u64) -> Result<(), String> {
    if got.len() != sent.len() {
        return Err(format!(
            "message {seq}: {} bytes back for {} sent",
            got.len(),
            sent.len()
        ));
    }
    let got_seq = u64::from_le_bytes(got[..8].try_into().expect("header"));
    if got_seq != seq {
        return Err(format!(
            "message {seq}: came back as {got_seq} (reordered or duplicated)"
        ));
    }
    let sum = u64::from_le_bytes(got[12..20].try_into().expect("header"));
    if sum != checksum(&got[HEADER..]) || got != sent {
        return Err(format!("message {seq}: corrupted in transit"));
    }
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
    )
}

/// Echo clients through the chaos proxy: messages of 1 B to 1 MiB, verified end to end;
/// connections end by close, abort or half-close (churn).
pub async fn echo_clients(shared: Rc<Shared>, proxy_addr: std::net::SocketAddr, lane: u64) {
    let mut rng = Rng::fork(shared.seed, 0xec40_0000 + lane);
    let mut id = lane << 32;
    while !shared.stopping() {
        id += 1;
        let plan = proxy::plan(shared.seed, id);
        let result = echo_connection(&shared, proxy_addr, id, &mut rng).await;
        match result {
            Ok(()) => {}
            Err(e) if plan.reset_after.is_some() && is_connection_error(&e) => {
                shared.counters.error("reset-injected")
            }
            Err(e) => shared.counters.fail(format!(
                "echo connection {id}: unexpected error {e} (no reset was planned)"
            )),
        }
    }
}

async fn echo_connection(
    shared: &Shared,
    addr: std::net::SocketAddr,
    id: u64,
    rng: &mut Rng,
) -> io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    Counters::add(&shared.counters.connections, 1);
    stream.write_all(id.to_le_bytes().to_vec()).await.0?;
    let (res, _) = stream.read_exact(Vec::with_capacity(8)).await;
    res?;
    let messages = rng.range(1, 20);
    for seq in 0..messages {
        if shared.stopping() {
            break;
        }
        let msg = message(rng, seq);
        let started = Instant::now();
        let (res, msg) = stream.write_all(msg).await;
        res?;
        let want = msg.len();
        // A message's echo that never completes means bytes were lost or a wake-up was missed.
        let read = timeout(
            Duration::from_secs(5),
            stream.read_exact(Vec::with_capacity(want)),
        )
        .await;
        let (res, got) = read.map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "message {seq}: echo incomplete after 5 s (bytes lost or a wake-up missed)"
                ),
            )
        })?;
        res?;
        if let Err(what) = verify(&msg, &got, seq) {
            shared.counters.fail(format!("connection {id}: {what}"));
            return Ok(());
        }
        shared
            .latencies_us
            .borrow_mut()
            .record(started.elapsed().as_secs_f64() * 1e6);
        Counters::add(&shared.counters.bytes_verified, want as u64);
        Counters::add(&shared.counters.messages, 1);
    }
    match rng.range(0, 3) {
        0 => stream.close().await?,
        1 => {
            stream.set_linger(Some(Duration::ZERO))?;
            drop(stream);
        }
        _ => {
            stream.shutdown(std::net::Shutdown::Write).await?;
            let (res, _) = stream.read(Vec::with_capacity(16)).await;
            res?;
        }
    }
    Ok(())
}

/// Direct Unix-socket echo with verification (no proxy).
pub async fn unix_echo(shared: Rc<Shared>, path: std::path::PathBuf) {
    let mut rng = Rng::fork(shared.seed, 0x0415);
    let mut seq = 0;
    while !shared.stopping() {
        let Ok(stream) = UnixStream::connect(&path).await else {
            shared.counters.fail("unix echo: connect failed".into());
            return;
        };
        stream.write_all(0u64.to_le_bytes().to_vec()).await.0.ok();
        let _ = stream.read_exact(Vec::with_capacity(8)).await;
        for _ in 0..rng.range(1, 50) {
            let msg = message(&mut rng, seq);
            let (res, msg) = stream.write_all(msg).await;
            if res.is_err() {
                shared.counters.fail("unix echo: write failed".into());
                return;
            }
            let (res, got) = stream.read_exact(Vec::with_capacity(msg.len())).await;
            if res.is_err() {
                shared.counters.fail("unix echo: read failed".into());
                return;
            }
            if let Err(what) = verify(&msg, &got, seq) {
                shared.counters.fail(format!("unix echo: {what}"));
                return;
            }
            Counters::add(&shared.counters.bytes_verified, got.len() as u64);
            Counters::add(&shared.counters.messages, 1);
            seq += 1;
        }
        seq = 0;
    }
}

/// Drops in-flight reads, writes, accepts, connects and sleeps at random points.
pub async fn cancellation_storm(shared: Rc<Shared>, tcp_addr: std::net::SocketAddr) {
    let mut rng = Rng::fork(shared.seed, 0xca9c);
    let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    while !shared.stopping() {
        let limit = Duration::from_micros(rng.range(0, 2000));
        let (a, b) = UnixStream::pair().expect("pair");
        let _ = timeout(limit, a.read(Vec::with_capacity(4096))).await;
        let _ = timeout(
            limit,
            b.write_all(vec![7u8; rng.range(1, 4 << 20) as usize]),
        )
        .await;
        let _ = timeout(limit, listener.accept()).await;
        let _ = timeout(limit, TcpStream::connect(tcp_addr)).await;
        let _ = timeout(limit, sleep(Duration::from_millis(rng.range(1, 50)))).await;
        Counters::add(&shared.counters.cancellations, 5);
        Counters::add(&shared.counters.ops, 5);
    }
}

/// Batches of sleeps and timeouts of random lengths, some reset or cancelled; none may
/// fire early.
pub async fn timers(shared: Rc<Shared>) {
    let mut rng = Rng::fork(shared.seed, 0x71e5);
    while !shared.stopping() {
        let batch: Vec<_> = (0..1000)
            .map(|_| {
                let wait = Duration::from_micros(rng.range(0, 30_000));
                let cancel = rng.chance(20);
                let counters = shared.counters.clone();
                ringloop::spawn(async move {
                    let start = Instant::now();
                    if cancel {
                        let _ = timeout(wait / 2, sleep(wait)).await;
                        return;
                    }
                    sleep(wait).await;
                    if start.elapsed() < wait {
                        counters.fail(format!(
                            "a {wait:?} sleep fired after {:?}",
                            start.elapsed()
                        ));
                    }
                    Counters::add(&counters.timers, 1);
                })
            })
            .collect();
        for h in batch {
            let _ = h.await;
        }
    }
}

/// Write, fsync, read back and verify files in a private directory.
pub async fn files(shared: Rc<Shared>, dir: std::path::PathBuf) {
    let mut rng = Rng::fork(shared.seed, 0xf11e);
    let mut n = 0u64;
    while !shared.stopping() {
        let path = dir.join(format!("f{}", n % 8));
        let mut data = vec![0u8; rng.range(1, 1 << 20) as usize];
        rng.fill(&mut data);
        let sum = checksum(&data);
        let result = async {
            let file = ringloop::fs::File::create(&path).await?;
            file.write_all_at(data, 0).await.0?;
            file.sync_data().await?;
            file.close().await?;
            let back = ringloop::fs::read(&path).await?;
            io::Result::Ok(back)
        }
        .await;
        match result {
            Ok(back) if checksum(&back) == sum => {
                Counters::add(&shared.counters.bytes_verified, back.len() as u64)
            }
            Ok(_) => shared.counters.fail(format!(
                "file {}: read back different bytes",
                path.display()
            )),
            Err(e) => shared
                .counters
                .fail(format!("file {}: {e}", path.display())),
        }
        Counters::add(&shared.counters.files, 1);
        n += 1;
    }
}

/// Datagrams to a UDP echo endpoint with loss accounting (loss is allowed, corruption not).
pub async fn udp(shared: Rc<Shared>, echo: std::net::SocketAddr) {
    let mut rng = Rng::fork(shared.seed, 0x0d90);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut seq = 0u64;
    while !shared.stopping() {
        let mut msg = seq.to_le_bytes().to_vec();
        msg.resize(rng.range(8, 1400) as usize, (seq & 0xff) as u8);
        let sent = msg.clone();
        socket.send_to(msg, echo).await.0.ok();
        Counters::add(&shared.counters.datagrams_sent, 1);
        if let Ok((res, back)) = timeout(
            Duration::from_millis(200),
            socket.recv_from(Vec::with_capacity(2048)),
        )
        .await
        {
            if res.is_ok() {
                if back != sent {
                    shared
                        .counters
                        .fail(format!("datagram {seq} came back changed"));
                }
                Counters::add(&shared.counters.datagrams_received, 1);
            }
        }
        seq += 1;
    }
}

/// `spawn_blocking` jobs whose results are verified.
pub async fn blocking(shared: Rc<Shared>) {
    let mut rng = Rng::fork(shared.seed, 0xb10c);
    while !shared.stopping() {
        let mut data = vec![0u8; rng.range(1, 64 * 1024) as usize];
        rng.fill(&mut data);
        let expected = checksum(&data);
        match ringloop::spawn_blocking(move || checksum(&data)).await {
            Ok(sum) if sum == expected => Counters::add(&shared.counters.blocking_jobs, 1),
            Ok(_) => shared
                .counters
                .fail("spawn_blocking returned a wrong result".into()),
            Err(e) => shared.counters.fail(format!("spawn_blocking failed: {e}")),
        }
    }
}

/// A helper thread feeding the loop through the Send channel; no value may be lost.
pub async fn cross_thread(shared: Rc<Shared>) {
    let (tx, mut rx) = ringloop::sync::channel::<u64>();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let helper = std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            if tx.send(n).is_err() {
                break;
            }
            n += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let mut expected = 0u64;
    loop {
        let next = ringloop::future::race(rx.recv(), shared.stop.wait()).await;
        match next {
            ringloop::future::Either::Left(Some(v)) => {
                if v != expected {
                    shared.counters.fail(format!(
                        "cross-thread value {v} arrived, {expected} expected"
                    ));
                }
                expected = v + 1;
                Counters::add(&shared.counters.remote_wakes, 1);
            }
            _ => break,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(rx);
    let _ = helper.join();
}
