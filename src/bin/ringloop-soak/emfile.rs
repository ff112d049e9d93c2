//! EMFILE from a lowered `RLIMIT_NOFILE`: the soak re-launches itself under
//! `prlimit --nofile=32` as an echo server, connects more clients than the child has
//! descriptors for, and checks that the child backs off and then serves every client once
//! others leave. (Lowering the soak's own limit would break its other workloads.)

use crate::report::Counters;
use crate::workloads::Shared;
use ringloop::net::TcpStream;
use ringloop::time::{sleep, timeout};
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;

const CHILD_LIMIT: u32 = 32;
const CLIENTS: usize = 48;

/// Child mode: an echo server that prints its port and runs until stdin closes.
pub fn child() -> std::process::ExitCode {
    let served = ringloop::run(async {
        let server =
            ringloop::transport::create_server(|| crate::Echo(None), "127.0.0.1:0").await?;
        println!("PORT {}", server.local_addr()?.port());
        use std::io::Write as _;
        std::io::stdout().flush()?;
        let (tx, mut rx) = ringloop::sync::channel::<()>();
        std::thread::spawn(move || {
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
            let _ = tx.send(());
        });
        rx.recv().await;
        server.close();
        server.abort_clients();
        server.wait_closed().await;
        std::io::Result::Ok(())
    });
    match served {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        other => {
            eprintln!("emfile child failed: {other:?}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// One EMFILE round every 15 s until the soak stops.
pub async fn rounds(shared: Rc<Shared>) {
    while !shared.stop.is_set() {
        if let Err(what) = one_round(shared.backend).await {
            shared.counters.fail(format!("EMFILE round: {what}"));
            return;
        }
        shared.counters.error("emfile-recovered");
        Counters::add(&shared.counters.faults_injected, 1);
        let _ = timeout(Duration::from_secs(15), shared.stop.wait()).await;
    }
}

async fn one_round(backend: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let limit = format!("--nofile={CHILD_LIMIT}:{CHILD_LIMIT}");
    let mut child = ringloop::process::Command::new("prlimit")
        .arg(limit)
        .arg(exe)
        .arg("--emfile-child")
        .env("RINGLOOP_BACKEND", backend)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the child under prlimit: {e}"))?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut line = Vec::new();
    while !line.ends_with(b"\n") {
        let (res, chunk) = timeout(Duration::from_secs(10), stdout.read(Vec::with_capacity(64)))
            .await
            .map_err(|_| "the child did not report its port".to_string())?;
        if res.map_err(|e| e.to_string())? == 0 {
            return Err("the child exited before reporting its port".into());
        }
        line.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&line);
    let port: u16 = text
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .ok_or(format!("bad port line {text:?}"))?;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();

    // More clients than the child has descriptors: it must hit EMFILE and back off.
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(
            TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect: {e}"))?,
        );
    }
    sleep(Duration::from_millis(300)).await;
    // The first half leave once they have been served...
    for (i, c) in clients.iter().enumerate().take(CLIENTS / 2) {
        echo(c, i).await?;
    }
    clients.drain(..CLIENTS / 2);
    // ...and then every remaining client must be served too.
    for (i, c) in clients.iter().enumerate() {
        echo(c, CLIENTS / 2 + i).await?;
    }
    drop(clients);
    drop(child.stdin.take());
    let stderr = child.stderr.take().ok_or("no child stderr")?;
    let status = timeout(Duration::from_secs(10), child.wait())
        .await
        .map_err(|_| "the child did not exit".to_string())?;
    let errors = timeout(Duration::from_secs(5), stderr.read_to_end())
        .await
        .unwrap_or(Ok(Vec::new()))
        .unwrap_or_default();
    let errors = String::from_utf8_lossy(&errors);
    if !status.map_err(|e| e.to_string())?.success() {
        return Err(format!("the child failed: {errors}"));
    }
    if !errors.contains("resources exhausted") {
        return Err(format!("the child never hit EMFILE (stderr: {errors:?})"));
    }
    Ok(())
}

async fn echo(client: &TcpStream, i: usize) -> Result<(), String> {
    let msg = format!("client {i}").into_bytes();
    let len = msg.len();
    client
        .write_all(msg)
        .await
        .0
        .map_err(|e| format!("client {i}: write: {e}"))?;
    let (res, back) = timeout(
        Duration::from_secs(10),
        client.read_exact(Vec::with_capacity(len)),
    )
    .await
    .map_err(|_| format!("client {i} was never served after descriptors freed up"))?;
    res.map_err(|e| format!("client {i}: read: {e}"))?;
    if back != format!("client {i}").into_bytes() {
        return Err(format!("client {i}: echo changed"));
    }
    Ok(())
}
