//! What the driver registers per connection (the epoll set; the ring's fixed-file table on
//! io_uring) comes and goes with the connections, on both backends: a reused registration
//! never carries one connection's bytes to another, and a closed connection closes its
//! socket and frees what it held.

mod common;
use common::*;
use ringloop::net::TcpStream;
use ringloop::time::{sleep, timeout};
use ringloop::transport::create_server;
use ringloop::{Backend, Runtime};
use std::net::Shutdown;
use std::time::Duration;

/// Registrations held with `connections` open (each end having done at least eight ops):
/// on io_uring a fixed-file slot per end; on epoll both ends and the listener.
fn expected_registrations(rt: &Runtime, connections: usize, listening: bool) -> u64 {
    let listener = usize::from(listening && rt.backend() == Backend::Epoll);
    (2 * connections + listener) as u64
}

/// Waits until the runtime holds `expected` driver registrations.
async fn registrations_settle_at(rt: &Runtime, expected: u64) {
    let what = format!("driver registrations back to {expected}");
    eventually(Duration::from_secs(2), &what, || {
        rt.stats().fd_registrations == expected
    })
    .await;
}

both_backends! {
    fn registrations_are_reused_without_crossing_connections(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let server = create_server(|| Echo(None), "127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            let mut kept = Vec::new();
            for i in 0..60 {
                let client = TcpStream::connect(addr).await.unwrap();
                // Enough round trips for both ends to take a fixed-file slot on io_uring.
                let message = format!("connection {i} says hello").into_bytes();
                for _ in 0..10 {
                    assert_eq!(round_trip(&client, &message).await, message);
                }
                if i % 4 == 0 {
                    kept.push((client, message));
                } else {
                    // The server closes on EOF: the client must see the socket really close
                    // (a registration still holding it would leave this read hanging).
                    client.shutdown(Shutdown::Write).await.unwrap();
                    let (res, _) = timeout(Duration::from_secs(5), client.read(Vec::with_capacity(16)))
                        .await
                        .expect("the server closed its socket");
                    assert_eq!(res.unwrap(), 0);
                }
            }
            registrations_settle_at(&rt, expected_registrations(&rt, kept.len(), true)).await;
            // The long-lived connections still talk to their own clients after every
            // registration around them was freed and reused.
            for (client, message) in &kept {
                let reversed: Vec<u8> = message.iter().rev().copied().collect();
                assert_eq!(round_trip(client, &reversed).await, reversed);
            }
            drop(kept);
            server.close();
            timeout(Duration::from_secs(5), server.wait_closed()).await.expect("server closed");
            registrations_settle_at(&rt, 0).await;
        }).unwrap();
    }
}

both_backends! {
    fn a_connection_dropped_with_the_runtime_idle_still_closes(backend) {
        // The last handle of a registered socket can drop outside `block_on` (here: the
        // runtime is dropped between runs): the socket must close, not stay open in a table.
        let rt = runtime(backend);
        let client = rt.block_on(async {
            let server = create_server(|| Echo(None), "127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            // A blocking client on its own thread: enough round trips for the server's end
            // to take a fixed-file slot on io_uring.
            let talker = std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut client = std::net::TcpStream::connect(addr).unwrap();
                for _ in 0..10 {
                    client.write_all(b"ping").unwrap();
                    let mut echo = [0u8; 4];
                    client.read_exact(&mut echo).unwrap();
                    assert_eq!(&echo, b"ping");
                }
                client
            });
            while !talker.is_finished() {
                sleep(Duration::from_millis(1)).await;
            }
            // The server's end: a slot on io_uring; it and the listener in the epoll set.
            let expected = if rt.backend() == Backend::Uring { 1 } else { 2 };
            assert_eq!(rt.stats().fd_registrations, expected);
            talker.join().unwrap()
        }).unwrap();
        drop(rt);
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 8];
        let n = loop {
            // The ring's teardown may interrupt this blocking read (task work for this
            // thread); a read with a timeout then says EINTR instead of restarting.
            match std::io::Read::read(&mut &client, &mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.expect("EOF, not a timeout"),
            }
        };
        assert_eq!(n, 0, "the server's socket closed with its runtime");
    }
}
