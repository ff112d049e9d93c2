//! Replies made of the very bytes a protocol is handed. On io_uring those bytes sit in a
//! provided receive buffer, which the transport may keep and send from instead of copying
//! (an echo's reply costs no copy). On epoll they sit in the read loop's buffer, and what
//! a callback wrote is sent from the read loop as soon as the callback returns, an echo
//! straight from that buffer. Whatever a protocol writes of them, in whatever pieces,
//! order or turn, must reach the peer intact and behind anything written before on both
//! backends; kept buffers must go back to the ring, and idle connections may never keep
//! more than half of it. The ring itself holds only a window of the free buffers, grown
//! when a burst empties it: receives that find it empty fall back to reads of their own
//! and lose nothing.

mod common;
use common::*;
use ringloop::net::TcpStream;
use ringloop::time::timeout;
use ringloop::transport::{create_server, Protocol, Server, Transport};
use ringloop::{Backend, Runtime};
use std::time::Duration;

/// Message sizes around and beyond one provided buffer (16 KiB), so that one message
/// arrives in several deliveries.
const SIZES: [usize; 7] = [1, 100, 4096, 16 << 10, (16 << 10) + 1, 40_000, 200_000];

/// Echoes each delivery as the write of a piece of it (claimable) followed by the rest
/// in `chunk`-byte writes: the reply is the input, in order, however it was cut.
struct EchoInPieces {
    transport: Option<Transport>,
    first: usize,
    chunk: usize,
}

impl Protocol for EchoInPieces {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        let Some(t) = &self.transport else { return };
        let first = self.first.min(data.len());
        t.write(&data[..first]).unwrap();
        for piece in data[first..].chunks(self.chunk) {
            t.write(piece).unwrap();
        }
    }
}

/// Echoes the first half of each delivery at once and the rest from a task on a later
/// turn, with reading paused in between so that deliveries cannot overtake each other.
struct EchoHalfLater(Option<Transport>);

impl Protocol for EchoHalfLater {
    fn connection_made(&mut self, transport: &Transport) {
        self.0 = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        let Some(t) = self.0.clone() else { return };
        let half = data.len() / 2;
        t.write(&data[..half]).unwrap();
        t.pause_reading();
        let rest = data[half..].to_vec();
        drop(ringloop::spawn(async move {
            ringloop::yield_now().await;
            ringloop::time::sleep(Duration::from_millis(1)).await;
            let _ = t.write(&rest);
            t.resume_reading();
        }));
    }
}

/// Writes what it receives, then ends the transport with `then` (`abort`: nothing may be
/// sent; `close`: the echo goes out before the EOF).
struct EchoThen(Option<Transport>, fn(&Transport));

impl Protocol for EchoThen {
    fn connection_made(&mut self, transport: &Transport) {
        self.0 = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.0 {
            t.write(data).unwrap();
            (self.1)(t);
        }
    }
}

/// Waits until no provided buffer is out of the ring (always so on epoll).
async fn buffers_all_back(rt: &Runtime) {
    let what = "every provided buffer back in the ring";
    eventually(Duration::from_secs(5), what, || {
        rt.stats().provided_buffers_lent == 0
    })
    .await;
}

/// Sends every size in `SIZES` through `server` on one connection and checks the replies.
async fn check_replies(rt: &Runtime, server: Server) {
    let client = TcpStream::connect(server.local_addr().unwrap())
        .await
        .unwrap();
    for (seed, size) in SIZES.into_iter().enumerate() {
        let message = pattern(size, seed as u64);
        let reply = timeout(Duration::from_secs(10), round_trip(&client, &message))
            .await
            .expect("the reply came back");
        assert!(
            reply == message,
            "a {size}-byte reply differs from its request"
        );
    }
    drop(client);
    close_and_settle(rt, server).await;
}

/// Closes `server`, waits for its connections to end and its buffers to come back.
async fn close_and_settle(rt: &Runtime, server: Server) {
    server.close();
    timeout(Duration::from_secs(5), server.wait_closed())
        .await
        .expect("server closed");
    buffers_all_back(rt).await;
}

both_backends! {
    fn an_echo_written_whole_or_in_pieces_arrives_in_order(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            for (first, chunk) in [(usize::MAX, 1), (0, 1000), (3, 1), (100, 7), (5000, 3000)] {
                let server = create_server(
                    move || EchoInPieces { transport: None, first, chunk },
                    "127.0.0.1:0",
                )
                .await
                .unwrap();
                check_replies(&rt, server).await;
            }
        }).unwrap();
    }
}

both_backends! {
    fn an_echo_finished_on_a_later_turn_keeps_its_order(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let server = create_server(|| EchoHalfLater(None), "127.0.0.1:0").await.unwrap();
            check_replies(&rt, server).await;
        }).unwrap();
    }
}

both_backends! {
    fn an_echo_aborted_before_it_went_out_sends_nothing(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let server = create_server(|| EchoThen(None, Transport::abort), "127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            client.write_all(pattern(3000, 9)).await.0.unwrap();
            let (res, buf) = timeout(Duration::from_secs(5), client.read(Vec::with_capacity(4096)))
                .await
                .expect("the abort ended the connection");
            // A reset or a plain EOF, depending on timing; never the echoed bytes.
            assert!(res.map_or(true, |n| n == 0), "got {} bytes after an abort", buf.len());
            buffers_all_back(&rt).await;
            server.close();
        }).unwrap();
    }
}

both_backends! {
    fn idle_connections_keep_at_most_half_the_ring(backend) {
        // 200 connections each echo one message and then stay idle: on io_uring each may
        // keep the buffer its reply was sent from until it next runs, but never more than
        // half the ring (256 buffers) in all, so receives never run out.
        let rt = runtime(backend);
        rt.block_on(async {
            let server = create_server(|| Echo(None), "127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            let mut clients = Vec::new();
            for i in 0..200 {
                let client = TcpStream::connect(addr).await.unwrap();
                // Large enough to be kept rather than copied (1 KiB and up).
                let message = pattern(2000, i);
                assert_eq!(round_trip(&client, &message).await, message);
                clients.push((client, message));
            }
            let lent = rt.stats().provided_buffers_lent;
            assert!(lent <= 128, "{lent} provided buffers kept by idle connections");
            if rt.backend() == Backend::Uring {
                assert!(lent > 0, "replies were sent from the buffers they arrived in");
            }
            for (client, message) in clients.iter().rev() {
                assert_eq!(round_trip(client, message).await, *message);
            }
            drop(clients);
            close_and_settle(&rt, server).await;
        }).unwrap();
    }
}

both_backends! {
    fn a_burst_on_more_connections_than_the_ring_holds_loses_nothing(backend) {
        // The ring starts with a window of 16 buffers: 100 connections writing at once
        // empty it, so on io_uring many receives end with ENOBUFS and read on their own.
        let rt = runtime(backend);
        rt.block_on(async {
            let server = create_server(|| Echo(None), "127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            let mut clients = Vec::new();
            for i in 0..100 {
                clients.push((TcpStream::connect(addr).await.unwrap(), pattern(20_000, i)));
            }
            let replies = ringloop::future::join_all(
                clients.iter().map(|(client, message)| round_trip(client, message)),
            );
            let replies = timeout(Duration::from_secs(20), replies).await.expect("every echo came back");
            for ((_, message), reply) in clients.iter().zip(replies) {
                assert!(reply == *message, "an echo differs from its message");
            }
            drop(clients);
            close_and_settle(&rt, server).await;
        }).unwrap();
    }
}

/// Panics on the first bytes it is handed.
struct PanicOnData;

impl Protocol for PanicOnData {
    fn data_received(&mut self, _: &[u8]) {
        panic!("protocol bug (expected by the test)");
    }
}

both_backends! {
    fn a_protocol_panicking_mid_delivery_gives_its_buffer_back(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let server = create_server(|| PanicOnData, "127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            client.write_all(pattern(4000, 3)).await.0.unwrap();
            let (res, _) = timeout(Duration::from_secs(5), client.read(Vec::with_capacity(64)))
                .await
                .expect("the connection ended with its task");
            assert!(res.map_or(true, |n| n == 0), "nothing is sent back");
            buffers_all_back(&rt).await;
            // The server lives on: another connection is accepted and read.
            let again = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            again.write_all(pattern(10, 4)).await.0.unwrap();
            let (res, _) = timeout(Duration::from_secs(5), again.read(Vec::with_capacity(64)))
                .await
                .expect("the second connection ended too");
            assert!(res.map_or(true, |n| n == 0));
            close_and_settle(&rt, server).await;
        }).unwrap();
    }
}

/// Greets with `greeting` (more than the socket buffers hold, so its send stays unfinished
/// until the peer reads), then echoes.
struct GreetThenEcho {
    transport: Option<Transport>,
    greeting: Vec<u8>,
}

impl Protocol for GreetThenEcho {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(&self.greeting).unwrap();
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data).unwrap();
        }
    }
}

both_backends! {
    fn an_echo_waits_behind_a_greeting_still_being_sent(backend) {
        // The client reads part of the greeting (so the socket turns writable again while
        // the rest is unsent), then sends a message: its echo must follow the whole
        // greeting, never cut into it.
        let rt = runtime(backend);
        rt.block_on(async {
            let greeting = pattern(8 << 20, 21);
            let sent = greeting.clone();
            let server = create_server(
                move || GreetThenEcho { transport: None, greeting: sent.clone() },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            let message = pattern(3000, 22);
            let received = timeout(Duration::from_secs(20), async {
                let mut received = Vec::new();
                while received.len() < (1 << 20) {
                    let (res, buf) = client.read(Vec::with_capacity(64 << 10)).await;
                    assert!(res.unwrap() > 0, "EOF inside the greeting");
                    received.extend_from_slice(&buf);
                }
                client.write_all(message.clone()).await.0.unwrap();
                while received.len() < greeting.len() + message.len() {
                    let (res, buf) = client.read(Vec::with_capacity(64 << 10)).await;
                    assert!(res.unwrap() > 0, "EOF before the echo");
                    received.extend_from_slice(&buf);
                }
                received
            })
            .await
            .expect("greeting and echo arrived");
            assert!(received[..greeting.len()] == greeting[..], "the greeting was cut into");
            assert!(received[greeting.len()..] == message[..], "the echo differs");
            drop(client);
            close_and_settle(&rt, server).await;
        }).unwrap();
    }
}

both_backends! {
    fn an_echo_then_close_arrives_whole_before_the_eof(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let server = create_server(|| EchoThen(None, Transport::close), "127.0.0.1:0").await.unwrap();
            // Small enough to arrive in one delivery: closing with bytes unread resets.
            for (seed, size) in [(1, 5), (2, 3000), (3, 9000)] {
                let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
                let message = pattern(size, seed);
                client.write_all(message.clone()).await.0.unwrap();
                let received = timeout(Duration::from_secs(10), async {
                    let mut received = Vec::new();
                    loop {
                        let (res, buf) = client.read(Vec::with_capacity(64 << 10)).await;
                        match res {
                            Ok(0) => return received,
                            Ok(_) => received.extend_from_slice(&buf),
                            Err(e) => panic!("{size} bytes: {e} after {}", received.len()),
                        }
                    }
                })
                .await
                .expect("the echo and the EOF arrived");
                assert!(received == message, "{size} bytes: the echo differs");
            }
            close_and_settle(&rt, server).await;
        }).unwrap();
    }
}

/// Answers every delivery with `reply` (bytes of its own, not the ones it was handed).
struct BigReply {
    transport: Option<Transport>,
    reply: Vec<u8>,
}

impl Protocol for BigReply {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, _: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(&self.reply).unwrap();
        }
    }
}

both_backends! {
    fn replies_of_every_size_written_from_a_callback_arrive_whole(backend) {
        // Small ones go out from the read loop on epoll, large ones (beyond what the read
        // loop sends itself, and beyond the socket buffer) through the write loop.
        let rt = runtime(backend);
        rt.block_on(async {
            for (seed, size) in [(31, 10), (32, 64 << 10), (33, (64 << 10) + 1), (34, 6 << 20)] {
                let reply = pattern(size, seed);
                let sent = reply.clone();
                let server = create_server(
                    move || BigReply { transport: None, reply: sent.clone() },
                    "127.0.0.1:0",
                )
                .await
                .unwrap();
                let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
                for _ in 0..2 {
                    client.write_all(b"?".to_vec()).await.0.unwrap();
                    let received = timeout(Duration::from_secs(20), async {
                        let mut received = Vec::new();
                        while received.len() < size {
                            let (res, buf) = client.read(Vec::with_capacity(64 << 10)).await;
                            assert!(res.unwrap() > 0, "EOF inside a reply");
                            received.extend_from_slice(&buf);
                        }
                        received
                    })
                    .await
                    .expect("the reply arrived");
                    assert!(received == reply, "a {size}-byte reply differs");
                }
                drop(client);
                close_and_settle(&rt, server).await;
            }
        }).unwrap();
    }
}
