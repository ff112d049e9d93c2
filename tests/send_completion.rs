//! How a transport's write side learns that its sends are done, on both backends. On
//! io_uring a send that leaves nothing else to do is "quiet": its bytes count as sent once
//! it is submitted and its completion wakes nobody unless it is short or failed. These
//! tests drive the cases where that matters: a send the kernel takes only in part, writes
//! and a close arriving while a send is out, and the buffer size seen meanwhile.

mod common;
use common::*;
use ringloop::time::sleep;
use ringloop::transport::{create_connection, ConnectOptions, Protocol, Transport};
use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;
use std::time::Duration;

/// Notes when the connection is over.
struct Watch(Rc<Cell<bool>>);
impl Protocol for Watch {
    fn connection_lost(&mut self, _: Option<std::io::Error>) {
        self.0.set(true);
    }
}

/// Connects a `Watch`ed transport to `addr`: the transport and its "lost" flag.
async fn connect(addr: std::net::SocketAddr) -> (Transport, Rc<Cell<bool>>) {
    let lost = Rc::new(Cell::new(false));
    let (transport, _) = create_connection(Watch(lost.clone()), addr, ConnectOptions::default())
        .await
        .unwrap();
    (transport, lost)
}

/// Waits (at most `limit`) for `connection_lost`.
async fn until_lost(lost: &Cell<bool>, limit: Duration, what: &str) {
    eventually(limit, what, || lost.get()).await;
}

/// A peer on its own thread that waits `delay` before reading until EOF, a reset, or
/// `stop_after` bytes.
fn slow_reader(
    delay: Duration,
    stop_after: usize,
) -> (std::net::SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        std::thread::sleep(delay);
        // Until EOF, or a reset (an aborted sender): what arrived before either.
        let mut all = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        while all.len() < stop_after {
            match socket.read(&mut chunk) {
                Ok(n @ 1..) => all.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        all
    });
    (addr, reader)
}

both_backends! {
    fn a_send_the_kernel_takes_in_part_still_sends_the_rest(backend) {
        // 8 MiB under a 32 MiB high-water mark: not paused, so on io_uring the send goes
        // quiet; the peer reads nothing for a while, so the kernel takes only what fits
        // in the socket buffers and completes the send short. The rest must still go out.
        let rt = runtime(backend);
        let message = pattern(8 << 20, 7);
        let (addr, reader) = slow_reader(Duration::from_millis(200), message.len());
        rt.block_on(async {
            let (transport, lost) = connect(addr).await;
            transport.set_write_buffer_limits(Some(32 << 20), None).unwrap();
            transport.write(&message).unwrap();
            // No close yet: closing is work, which would keep the send from going quiet.
            let what = "the rest of a short send went out with nothing else happening";
            eventually(Duration::from_secs(20), what, || reader.is_finished()).await;
            assert_eq!(transport.write_buffer_size(), 0);
            transport.close();
            until_lost(&lost, Duration::from_secs(5), "closed").await;
        }).unwrap();
        let got = reader.join().unwrap();
        assert_eq!(got.len(), message.len());
        assert!(got == message, "the bytes arrived in order");
    }
}

both_backends! {
    fn writes_during_an_outstanding_send_follow_it_in_order(backend) {
        // Each write lands while the previous send may be out (quiet or not): the next
        // send must wait for it and the bytes keep their order.
        let rt = runtime(backend);
        let (addr, reader) = slow_reader(Duration::ZERO, usize::MAX);
        let parts: Vec<Vec<u8>> = (0..200).map(|i| pattern(1000 + i * 37, i as u64)).collect();
        let expected: Vec<u8> = parts.concat();
        rt.block_on(async {
            let (transport, lost) = connect(addr).await;
            for (i, part) in parts.iter().enumerate() {
                transport.write(part).unwrap();
                if i % 3 == 0 {
                    ringloop::yield_now().await;
                }
            }
            transport.close();
            until_lost(&lost, Duration::from_secs(10), "closed once everything was sent").await;
        }).unwrap();
        let got = reader.join().unwrap();
        assert!(got == expected, "{} bytes arrived, {} expected, in order", got.len(), expected.len());
    }
}

both_backends! {
    fn the_buffer_size_drops_once_a_send_is_handed_over_and_stays_honest(backend) {
        let rt = runtime(backend);
        let (addr, reader) = slow_reader(Duration::ZERO, usize::MAX);
        rt.block_on(async {
            let (transport, lost) = connect(addr).await;
            transport.write(b"hello").unwrap();
            assert_eq!(transport.write_buffer_size(), 5, "buffered until the loop sends it");
            // Idle afterwards: nothing else will poll the write side, and the size must
            // still come down (a quiet send is counted when it is handed to the kernel).
            let what = "the buffer drained while the connection was idle";
            eventually(Duration::from_secs(5), what, || transport.write_buffer_size() == 0).await;
            transport.close();
            until_lost(&lost, Duration::from_secs(5), "closed").await;
        }).unwrap();
        assert_eq!(reader.join().unwrap(), b"hello");
    }
}

both_backends! {
    fn abort_while_a_send_is_out_ends_the_connection(backend) {
        let rt = runtime(backend);
        let (addr, reader) = slow_reader(Duration::from_millis(100), usize::MAX);
        rt.block_on(async {
            let (transport, lost) = connect(addr).await;
            transport.set_write_buffer_limits(Some(32 << 20), None).unwrap();
            transport.write(&pattern(8 << 20, 1)).unwrap();
            sleep(Duration::from_millis(20)).await;
            transport.abort();
            until_lost(&lost, Duration::from_secs(5), "an abort ends the connection even with a send outstanding").await;
            assert_eq!(transport.write_buffer_size(), 0);
        }).unwrap();
        // The peer sees an end (EOF or reset) after a prefix of the message at most.
        let got = reader.join().unwrap();
        assert!(got.len() <= 8 << 20);
    }
}
