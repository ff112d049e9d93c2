//! `ringloop-soak`: hours of mixed load with faults, checking that nothing is lost,
//! corrupted, leaked or stalled. See docs/SOAK.md.
//!
//! ```text
//! cargo run --release --bin ringloop-soak -- --duration 60 --backend both --seed 42 --report soak.json
//! ```

mod emfile;
mod histogram;
mod proxy;
mod report;
mod rng;
mod watchdog;
mod workloads;

use report::{fd_count, rss_bytes, Counters, Report};
use ringloop::transport::{
    create_datagram_endpoint, create_server, create_unix_server, DatagramProtocol,
    DatagramTransport, Protocol, Transport,
};
use ringloop::{Backend, Runtime};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};
use workloads::Shared;

/// No poll may hold the loop longer than this (beyond a pause of the whole process).
const STALL_LIMIT: Duration = Duration::from_millis(100);

struct Args {
    duration: Duration,
    backends: Vec<Backend>,
    seed: u64,
    report: Option<std::path::PathBuf>,
    breakage: Option<String>,
    status_every: Duration,
    ring_entries: u32,
    print_plan: Option<u64>,
    faults: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        duration: Duration::from_secs(60),
        backends: vec![Backend::Uring, Backend::Epoll],
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        report: None,
        breakage: None,
        status_every: Duration::from_secs(5),
        ring_entries: 1024,
        print_plan: None,
        faults: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--duration" => {
                args.duration = Duration::from_secs_f64(
                    value()?.parse().map_err(|e| format!("--duration: {e}"))?,
                )
            }
            "--backend" => {
                args.backends = match value()?.as_str() {
                    "both" => vec![Backend::Uring, Backend::Epoll],
                    other => vec![other.parse().map_err(|e| format!("--backend: {e}"))?],
                }
            }
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--report" => args.report = Some(value()?.into()),
            "--status-every" => {
                args.status_every = Duration::from_secs_f64(
                    value()?
                        .parse()
                        .map_err(|e| format!("--status-every: {e}"))?,
                )
            }
            "--faults" => {
                if cfg!(feature = "fault-injection") {
                    args.faults = true;
                } else {
                    return Err(
                        "--faults needs the fault hooks: build with --features fault-injection"
                            .into(),
                    );
                }
            }
            "--ring-entries" => {
                args.ring_entries = value()?
                    .parse()
                    .map_err(|e| format!("--ring-entries: {e}"))?
            }
            "--print-plan" => {
                args.print_plan = Some(value()?.parse().map_err(|e| format!("--print-plan: {e}"))?)
            }
            "--break" => {
                let what = value()?;
                if !["drop-byte", "leak-fd", "block-loop"].contains(&what.as_str()) {
                    return Err("--break takes drop-byte, leak-fd or block-loop".into());
                }
                args.breakage = Some(what);
            }
            "-h" | "--help" => {
                println!(
                    "ringloop-soak [--duration SECS] [--backend uring|epoll|both] [--seed N] [--report FILE.json]\n\
                     \x20             [--status-every SECS] [--ring-entries N] [--break drop-byte|leak-fd|block-loop]\n\
                     \x20             [--faults] (needs --features fault-injection)\n\
                     \x20             [--print-plan N]  (print the seed's fault schedule for N connections per lane)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown flag {other}; try --help")),
        }
    }
    Ok(args)
}

pub(crate) struct Echo(pub(crate) Option<Transport>);
impl Protocol for Echo {
    fn connection_made(&mut self, t: &Transport) {
        self.0 = Some(t.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.0 {
            let _ = t.write(data);
        }
    }
    fn eof_received(&mut self) -> bool {
        false
    }
}

struct UdpEcho(Option<DatagramTransport>);
impl DatagramProtocol for UdpEcho {
    fn connection_made(&mut self, t: &DatagramTransport) {
        self.0 = Some(t.clone());
    }
    fn datagram_received(&mut self, data: &[u8], from: SocketAddr) {
        if let Some(t) = &self.0 {
            let _ = t.sendto(data, Some(from));
        }
    }
}

fn run_one(backend: Backend, args: &Args) -> Report {
    let fds_start = fd_count();
    let rss_start = rss_bytes();
    let rt = match Runtime::builder()
        .backend(backend)
        .ring_entries(args.ring_entries)
        // Times every poll, for the longest-stall invariant below.
        .stall_threshold(STALL_LIMIT)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Report {
                backend: backend.to_string(),
                seed: args.seed,
                duration: Duration::ZERO,
                fds: (fds_start, fds_start),
                rss: (rss_start, 0, 0, 0),
                longest_stall: Duration::ZERO,
                longest_pause: Duration::ZERO,
                latency_us: (0.0, 0.0, 0.0),
                live_at_end: (0, 0, 0),
                totals: Vec::new(),
                errors: Default::default(),
                failure: Some(format!("cannot start the {backend} runtime: {e}")),
            }
        }
    };
    let watchdog = watchdog::Watchdog::start();
    let counters = Rc::new(Counters::default());
    let shared = Rc::new(Shared {
        seed: args.seed,
        backend: if backend == Backend::Epoll {
            "epoll"
        } else {
            "uring"
        },
        counters: counters.clone(),
        stop: Rc::default(),
        latencies_us: Default::default(),
    });
    let dir =
        std::env::temp_dir().join(format!("ringloop-soak-{}-{}", std::process::id(), backend));
    let _ = std::fs::create_dir_all(&dir);
    let started = Instant::now();
    // RSS is sampled every second under load. Samples taken while 1 MiB messages are in
    // flight swing by several MiB on their own, so a leak is judged on floors: the lowest
    // sample after warm-up (from half the run, at most 10 minutes in, to three quarters)
    // against the lowest sample in the last quarter. A leak raises the floor; noise does not.
    let warm_at = (args.duration / 2).min(Duration::from_secs(600));
    let final_from = args.duration * 3 / 4;
    let (mut rss_warm, mut rss_peak, mut rss_loaded_end) = (u64::MAX, 0u64, u64::MAX);
    let mut next_status = args.status_every;
    let outcome = rt.block_on(async {
        let echo = create_server(|| Echo(None), "127.0.0.1:0").await?;
        let unix = create_unix_server(|| Echo(None), dir.join("echo.sock")).await?;
        let (udp, _) = create_datagram_endpoint(UdpEcho(None), Some("127.0.0.1:0".parse().expect("literal")), None).await?;
        let (proxy_addr, proxy_task) = proxy::start(args.seed, echo.local_addr()?, counters.clone(), args.breakage.as_deref() == Some("drop-byte"))?;
        let mut tasks = Vec::new();
        for lane in 0..8 {
            tasks.push(ringloop::spawn(workloads::echo_clients(shared.clone(), proxy_addr, lane)));
        }
        tasks.push(ringloop::spawn(workloads::unix_echo(shared.clone(), dir.join("echo.sock"))));
        tasks.push(ringloop::spawn(workloads::cancellation_storm(shared.clone(), echo.local_addr()?)));
        tasks.push(ringloop::spawn(workloads::timers(shared.clone())));
        tasks.push(ringloop::spawn(workloads::files(shared.clone(), dir.clone())));
        tasks.push(ringloop::spawn(workloads::udp(shared.clone(), udp.local_addr()?)));
        tasks.push(ringloop::spawn(workloads::blocking(shared.clone())));
        tasks.push(ringloop::spawn(workloads::cross_thread(shared.clone())));
        tasks.push(ringloop::spawn(emfile::rounds(shared.clone())));
        if args.breakage.as_deref() == Some("block-loop") {
            // A blocking call inside a poll: the loop, and only the loop, stops for 300 ms.
            tasks.push(ringloop::spawn(async {
                ringloop::time::sleep(Duration::from_millis(200)).await;
                std::thread::sleep(Duration::from_millis(300));
            }));
        }

        let mut last = (Instant::now(), 0u64);
        while started.elapsed() < args.duration && !counters.failed() {
            let left = args.duration.saturating_sub(started.elapsed());
            let until_status = next_status.saturating_sub(started.elapsed());
            let nap = Duration::from_secs(1).min(left).min(until_status);
            ringloop::time::sleep(nap.max(Duration::from_millis(10))).await;
            let rss = rss_bytes();
            rss_peak = rss_peak.max(rss);
            let now = started.elapsed();
            if now >= warm_at && now < final_from {
                rss_warm = rss_warm.min(rss);
            } else if now >= final_from {
                rss_loaded_end = rss_loaded_end.min(rss);
            }
            if now < next_status && now < args.duration {
                continue;
            }
            next_status = now + args.status_every;
            let done = counters.messages.get() + counters.ops.get() + counters.timers.get() + counters.files.get();
            let rate = (done - last.1) as f64 / last.0.elapsed().as_secs_f64();
            last = (Instant::now(), done);
            let regs = rt.stats().fd_registrations;
            println!(
                "[{backend} {:>5.0}s] regs {regs:>5} {rate:>9.0} ops/s  {:>8} MiB verified  fds {:>4}  rss {:>6} KiB  conns {:>6}  faults {:>5}  errors {:?}",
                started.elapsed().as_secs_f64(),
                counters.bytes_verified.get() >> 20,
                fd_count(),
                rss / 1024,
                counters.connections.get(),
                counters.faults_injected.get(),
                counters.errors.borrow(),
            );
        }
        shared.stop.set();
        for task in tasks {
            if ringloop::time::timeout(Duration::from_secs(20), task).await.is_err() {
                counters.fail("a workload did not stop within 20 s of being told to (lost wakeup?)".into());
            }
        }
        // Only now: clients finishing their last connection still connect through it.
        proxy_task.cancel();
        echo.close();
        echo.abort_clients();
        unix.close();
        unix.abort_clients();
        udp.close();
        let _ = ringloop::time::timeout(Duration::from_secs(10), async {
            echo.wait_closed().await;
            unix.wait_closed().await;
        })
        .await;
        if args.breakage.as_deref() == Some("leak-fd") {
            std::mem::forget(std::net::UdpSocket::bind("127.0.0.1:0"));
        }
        std::io::Result::Ok(())
    });
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) | Err(e) => counters.fail(format!("setup failed: {e}")),
    }
    // Let proxied connections and cancelled ops finish, then check nothing was left behind.
    let _ = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while (rt.live_tasks() > 0 || rt.live_ops() > 0 || rt.live_timers() > 0)
            && Instant::now() < deadline
        {
            ringloop::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let stats = rt.stats();
    let live = (rt.live_tasks(), rt.live_ops(), rt.live_timers());
    let rss_end = rss_bytes();
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
    let fds_end = fd_count();

    if fds_end != fds_start {
        counters.fail(format!(
            "descriptors leaked: {fds_start} open at start, {fds_end} at the end"
        ));
    }
    if live != (0, 0, 0) {
        counters.fail(format!(
            "left behind at shutdown: {} tasks, {} ops, {} timers",
            live.0, live.1, live.2
        ));
    }
    if stats.provided_buffers_lent != 0 {
        counters.fail(format!(
            "{} provided receive buffers never went back to the ring",
            stats.provided_buffers_lent
        ));
    }
    // A poll caught in a pause of the whole process (the host stopping the VM, the
    // soak's own threads holding both cores) is not the loop's stall: the limit grows by
    // the longest pause the watchdog thread saw.
    let pause = watchdog.longest_pause();
    if stats.longest_poll > STALL_LIMIT + pause {
        counters.fail(format!(
            "the loop stalled for {:?} (limit {STALL_LIMIT:?} plus {pause:?}, the longest pause \
             of the whole process)",
            stats.longest_poll
        ));
    }
    // RSS needs minutes to reach its steady state; shorter runs report it without judging.
    let judged = args.duration >= Duration::from_secs(300);
    let measured = rss_warm != u64::MAX && rss_loaded_end != u64::MAX;
    if judged && measured && rss_loaded_end > rss_warm + rss_warm / 20 + (4 << 20) {
        counters.fail(format!(
            "RSS under load grew: its floor was {} KiB after warm-up and {} KiB in the last quarter (limit +5% and 4 MiB)",
            rss_warm >> 10,
            rss_loaded_end >> 10
        ));
    }
    if rss_warm == u64::MAX {
        rss_warm = 0; // reported as "not measured"
    }
    let c = &counters;
    let latency_us = shared.latencies_us.borrow().percentiles();
    let errors = c.errors.borrow().clone();
    let failure = c.failure.borrow().clone();
    Report {
        backend: backend.to_string(),
        seed: args.seed,
        duration: started.elapsed(),
        fds: (fds_start, fds_end),
        rss: (rss_start, rss_warm, rss_peak, rss_end),
        longest_stall: stats.longest_poll,
        longest_pause: pause,
        latency_us,
        live_at_end: live,
        totals: vec![
            ("messages verified", c.messages.get()),
            ("bytes verified", c.bytes_verified.get()),
            ("tcp connections", c.connections.get()),
            ("cancellations", c.cancellations.get()),
            ("timers fired", c.timers.get()),
            ("files verified", c.files.get()),
            ("datagrams sent", c.datagrams_sent.get()),
            ("datagrams received", c.datagrams_received.get()),
            ("blocking jobs", c.blocking_jobs.get()),
            ("cross-thread wakes", c.remote_wakes.get()),
            ("faults injected", c.faults_injected.get()),
            ("loop ops", stats.ops_submitted),
            ("loop turns", stats.turns),
            ("tasks polled", stats.tasks_polled),
            ("kernel waits", stats.kernel_waits),
            ("driver registrations", stats.fd_registrations),
            ("provided buffers lent", stats.provided_buffers_lent),
        ],
        errors,
        failure,
    }
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--emfile-child") {
        return emfile::child();
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ringloop-soak: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(n) = args.print_plan {
        // The fault schedule is a pure function of the seed: print it and stop.
        for lane in 0..8u64 {
            for id in 1..=n {
                println!(
                    "lane {lane} connection {id}: {:?}",
                    proxy::plan(args.seed, (lane << 32) + id)
                );
            }
        }
        return ExitCode::SUCCESS;
    }
    #[cfg(feature = "fault-injection")]
    if args.faults {
        // Short reads/writes and interrupted syscalls/waits, on top of the proxy's faults.
        ringloop::faults::configure(ringloop::faults::FaultConfig {
            short_io_percent: 10,
            eintr_percent: 2,
        });
    }
    println!(
        "ringloop-soak: seed {} for {:?} on {:?}{}",
        args.seed,
        args.duration,
        args.backends,
        if args.faults {
            " with driver faults (short I/O, EINTR)"
        } else {
            ""
        }
    );
    let reports: Vec<Report> = args.backends.iter().map(|b| run_one(*b, &args)).collect();
    for r in &reports {
        print!("{}", r.table());
    }
    if let Some(path) = &args.report {
        let json = format!(
            "[{}]\n",
            reports
                .iter()
                .map(Report::json)
                .collect::<Vec<_>>()
                .join(",\n")
        );
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("ringloop-soak: cannot write {}: {e}", path.display());
        }
    }
    if reports.iter().any(|r| r.failure.is_some()) {
        eprintln!("ringloop-soak: FAILED (seed {})", args.seed);
        ExitCode::FAILURE
    } else {
        println!("ringloop-soak: all invariants held (seed {})", args.seed);
        ExitCode::SUCCESS
    }
}
