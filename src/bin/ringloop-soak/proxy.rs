//! A chaos proxy between echo clients and the echo server: splits writes into 1-byte
//! pieces, delays, stalls (a peer that stops reading), and resets connections mid-message.
//!
//! A client announces its id as the first 8 bytes; the proxy derives that connection's
//! faults from (seed, id) with [`plan`], which the client can call too, so an injected
//! reset is expected by the client and anything else is a broken invariant.

use crate::report::Counters;
use crate::rng::Rng;
use ringloop::net::{TcpListener, TcpStream};
use ringloop::time::sleep;
use std::rc::Rc;
use std::time::Duration;

/// The faults one proxied connection will see.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Reset both sides after this many client bytes.
    pub reset_after: Option<u64>,
    /// Percent of chunks split into 1-byte writes.
    pub split_percent: u64,
    /// Percent of chunks delayed by up to 5 ms.
    pub delay_percent: u64,
    /// Percent of chunks followed by a 20-80 ms stall (the proxy stops reading).
    pub stall_percent: u64,
}

pub fn plan(seed: u64, id: u64) -> Plan {
    let mut rng = Rng::fork(seed, 0x5eed_0000 + id);
    Plan {
        reset_after: rng.chance(10).then(|| rng.range(1, 2 << 20)),
        split_percent: rng.range(0, 10),
        delay_percent: rng.range(0, 20),
        stall_percent: rng.range(0, 3),
    }
}

/// Starts the proxy in front of `upstream`; returns its address and its accept task (cancel
/// it to stop accepting).
pub fn start(
    seed: u64,
    upstream: std::net::SocketAddr,
    counters: Rc<Counters>,
    drop_a_byte: bool,
) -> std::io::Result<(std::net::SocketAddr, ringloop::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let dropped = Rc::new(std::cell::Cell::new(!drop_a_byte));
    let acceptor = ringloop::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (counters, dropped) = (counters.clone(), dropped.clone());
            drop(ringloop::spawn(async move {
                let _ = proxy_one(seed, client, upstream, counters, dropped).await;
            }));
        }
    });
    Ok((addr, acceptor))
}

async fn proxy_one(
    seed: u64,
    client: TcpStream,
    upstream: std::net::SocketAddr,
    counters: Rc<Counters>,
    dropped: Rc<std::cell::Cell<bool>>,
) -> std::io::Result<()> {
    let (res, id_bytes) = client.read_exact(Vec::with_capacity(8)).await;
    res?;
    let id = u64::from_le_bytes(id_bytes[..8].try_into().expect("8 bytes"));
    let plan = plan(seed, id);
    let server = TcpStream::connect(upstream).await?;
    server.write_all(id_bytes).await.0?;
    let (client, server) = (Rc::new(client), Rc::new(server));
    let mut rng = Rng::fork(seed, 0xc4a0_0000 + id);
    let upstream_half = forward(
        client.clone(),
        server.clone(),
        plan,
        rng.clone(),
        counters.clone(),
        Some(dropped),
    );
    rng.next_u64();
    let downstream_half = forward(
        server.clone(),
        client.clone(),
        Plan {
            reset_after: None,
            ..plan
        },
        rng,
        counters,
        None,
    );
    let result = ringloop::future::race(upstream_half, downstream_half).await;
    // Either side ending ends the pair (a reset closes both at once).
    let reset = matches!(
        result,
        ringloop::future::Either::Left(Err(_)) | ringloop::future::Either::Right(Err(_))
    );
    if reset {
        let _ = client.set_linger(Some(Duration::ZERO));
        let _ = server.set_linger(Some(Duration::ZERO));
    }
    Ok(())
}

/// Copies `from` to `to` with faults; `Err` means "reset this pair".
async fn forward(
    from: Rc<TcpStream>,
    to: Rc<TcpStream>,
    plan: Plan,
    mut rng: Rng,
    counters: Rc<Counters>,
    drop_one: Option<Rc<std::cell::Cell<bool>>>,
) -> Result<(), ()> {
    let mut carried = 0u64;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let (res, mut data) = from.read(buf).await;
        let n = match res {
            Ok(0) => {
                let _ = to.shutdown(std::net::Shutdown::Write).await;
                return Ok(());
            }
            Ok(n) => n,
            Err(_) => return Err(()),
        };
        if let Some(limit) = plan.reset_after {
            if carried + n as u64 >= limit {
                Counters::add(&counters.faults_injected, 1);
                return Err(());
            }
        }
        carried += n as u64;
        if let Some(flag) = &drop_one {
            if !flag.get() && data.len() >= 2 {
                // --break drop-byte: silently lose one byte, once. The soak must notice.
                flag.set(true);
                data.remove(data.len() / 2);
            }
        }
        if rng.chance(plan.delay_percent) {
            sleep(Duration::from_micros(rng.range(0, 5000))).await;
        }
        if rng.chance(plan.split_percent) {
            // The first bytes of the chunk go one at a time (a 1 MiB chunk in 1-byte writes
            // would take seconds and measure nothing new); the rest follows in one write.
            Counters::add(&counters.faults_injected, 1);
            let trickle = data.len().min(64);
            for &byte in &data[..trickle] {
                if to.write_all(vec![byte]).await.0.is_err() {
                    return Err(());
                }
            }
            let (res, back) = to.write_all(data.split_off(trickle)).await;
            if res.is_err() {
                return Err(());
            }
            drop(back);
        } else {
            let (res, back) = to.write_all(data).await;
            if res.is_err() {
                return Err(());
            }
            data = back;
        }
        if rng.chance(plan.stall_percent) {
            Counters::add(&counters.faults_injected, 1);
            sleep(Duration::from_millis(rng.range(20, 80))).await;
        }
        data.clear();
        buf = data;
    }
}
