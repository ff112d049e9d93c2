//! The Protocol/Transport contract (asyncio's) on one connection: callback order, EOF and
//! half-close, flow control, pausing, errors and data integrity, on both backends. Servers,
//! clients, datagrams and streams are in `transport_endpoints.rs`.

mod common;
#[path = "common/recorder.rs"]
mod recorder;
use common::*;
use recorder::*;
use ringloop::net::TcpStream;
use ringloop::time::sleep;
use ringloop::transport::{
    create_buffered_server, create_server, BufferedProtocol, Protocol, ServerOptions, Transport,
};
use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

both_backends! {
    fn callbacks_come_in_order_each_end_once(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let log: Log = Log::default();
            let l2 = log.clone();
            let server = create_server(move || Recorder { log: l2.clone(), ..Default::default() }, "127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            for _ in 0..5 {
                client.write_all(b"chunk".to_vec()).await.0.unwrap();
                sleep(Duration::from_millis(1)).await;
            }
            client.shutdown(Shutdown::Write).await.unwrap();
            assert!(read_all(&client).await.is_empty(), "eof_received false closes: the client sees EOF");
            wait_for(&log, "lost").await;
            assert_eq!(*log.borrow(), ["made", "data", "eof", "lost"]);
            server.close();
            server.wait_closed().await;
        }).unwrap();
    }
}

both_backends! {
    fn eof_received_true_keeps_the_write_side_open(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let log: Log = Log::default();
            let l2 = log.clone();
            let server = create_server(
                move || Recorder { log: l2.clone(), keep_open_on_eof: true, reply_after_eof: Some(b"after eof".to_vec()), ..Default::default() },
                "127.0.0.1:0",
            ).await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            client.write_all(b"question".to_vec()).await.0.unwrap();
            client.shutdown(Shutdown::Write).await.unwrap();
            assert_eq!(read_all(&client).await, b"after eof");
            wait_for(&log, "lost").await;
            assert_eq!(*log.borrow(), ["made", "data", "eof", "lost"]);
        }).unwrap();
    }
}

both_backends! {
    fn half_close_while_data_still_flows_back(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            struct Sender;
            impl Protocol for Sender {
                fn connection_made(&mut self, t: &Transport) {
                    t.write(&pattern(1 << 20, 5)).unwrap();
                    t.close();
                }
                fn eof_received(&mut self) -> bool { true }
            }
            let server = create_server(|| Sender, "127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            client.shutdown(Shutdown::Write).await.unwrap();
            let got = read_all(&client).await;
            assert_eq!(got.len(), 1 << 20);
            assert_eq!(checksum(&got), checksum(&pattern(1 << 20, 5)));
        }).unwrap();
    }
}

both_backends! {
    fn a_write_from_a_task_after_the_read_side_ended_is_sent(backend) {
        // The read side ends (EOF kept open) in the same pass as a change notification
        // (`resume_reading`) that used up the task's registration: the idle write loop
        // must still hear of the later write.
        let rt = runtime(backend);
        rt.block_on(async {
            struct ReplyLater(Option<Transport>);
            impl Protocol for ReplyLater {
                fn connection_made(&mut self, t: &Transport) { self.0 = Some(t.clone()); }
                fn eof_received(&mut self) -> bool {
                    let t = self.0.clone().unwrap();
                    t.resume_reading();
                    drop(ringloop::spawn(async move {
                        sleep(Duration::from_millis(20)).await;
                        t.write(b"later").unwrap();
                        t.close();
                    }));
                    true
                }
            }
            let server = create_server(|| ReplyLater(None), "127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            client.shutdown(Shutdown::Write).await.unwrap();
            let got = ringloop::time::timeout(Duration::from_secs(10), read_all(&client))
                .await
                .expect("the reply and the close arrived");
            assert_eq!(got, b"later");
        }).unwrap();
    }
}

both_backends! {
    fn pause_and_resume_writing_fire_once_per_crossing(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let log: Log = Log::default();
            let l2 = log.clone();
            let transport = Rc::new(RefCell::new(None::<Transport>));
            let t2 = transport.clone();
            struct Writer { log: Log, out: Rc<RefCell<Option<Transport>>> }
            impl Protocol for Writer {
                fn connection_made(&mut self, t: &Transport) { *self.out.borrow_mut() = Some(t.clone()); }
                fn pause_writing(&mut self) { self.log.borrow_mut().push("pause".into()); }
                fn resume_writing(&mut self) { self.log.borrow_mut().push("resume".into()); }
            }
            let server = create_server(move || Writer { log: l2.clone(), out: t2.clone() }, "127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            while transport.borrow().is_none() { sleep(Duration::from_millis(1)).await; }
            let t = transport.borrow().clone().unwrap();
            assert!(t.set_write_buffer_limits(Some(10), Some(20)).is_err(), "high < low is refused");
            t.set_write_buffer_limits(Some(64 * 1024), None).unwrap();
            assert_eq!(t.write_buffer_limits(), (16 * 1024, 64 * 1024));
            // The client does not read yet: 32 MiB is more than the kernel's socket buffers
            // absorb, so the transport's buffer stays far past the high-water mark.
            for _ in 0..512 {
                t.write(&[7u8; 64 * 1024]).unwrap();
            }
            sleep(Duration::from_millis(20)).await;
            assert_eq!(*log.borrow(), ["pause"], "pause fires once, on the crossing");
            assert!(t.write_buffer_size() > 64 * 1024);
            let got = {
                let mut total = 0;
                while total < 512 * 64 * 1024 {
                    let (res, _) = client.read(Vec::with_capacity(65536)).await;
                    total += res.unwrap();
                }
                total
            };
            assert_eq!(got, 512 * 64 * 1024);
            wait_for(&log, "resume").await;
            assert_eq!(*log.borrow(), ["pause", "resume"]);
            assert_eq!(t.write_buffer_size(), 0);
        }).unwrap();
    }
}

both_backends! {
    fn paused_reading_holds_data_in_order(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let log: Log = Log::default();
            let data = Rc::new(RefCell::new(Vec::new()));
            let shared = Rc::new(RefCell::new(None::<Transport>));
            let (l2, d2, s2) = (log.clone(), data.clone(), shared.clone());
            let server = create_server(
                move || Recorder { log: l2.clone(), data: d2.clone(), shared: s2.clone(), pause_reading_at_start: true, ..Default::default() },
                "127.0.0.1:0",
            ).await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            let sent = pattern(300_000, 11);
            client.write_all(sent.clone()).await.0.unwrap();
            sleep(Duration::from_millis(50)).await;
            assert!(data.borrow().is_empty(), "nothing is delivered while reading is paused");
            assert_eq!(*log.borrow(), ["made"]);
            let t = shared.borrow().clone().expect("connection made");
            assert!(!t.is_reading());
            t.pause_reading();
            t.resume_reading();
            t.resume_reading();
            assert!(t.is_reading());
            // Pause again mid-stream: data in flight is held, then delivered in order.
            while data.borrow().is_empty() { sleep(Duration::from_millis(1)).await; }
            t.pause_reading();
            let seen = data.borrow().len();
            sleep(Duration::from_millis(20)).await;
            assert_eq!(data.borrow().len(), seen, "paused again: nothing more delivered");
            t.resume_reading();
            while data.borrow().len() < sent.len() { sleep(Duration::from_millis(1)).await; }
            assert_eq!(*data.borrow(), sent, "nothing lost or reordered");
        }).unwrap();
    }
}

both_backends! {
    fn abort_with_a_full_buffer_drops_it_and_reports_lost(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let log: Log = Log::default();
            let l2 = log.clone();
            struct Flood { log: Log }
            impl Protocol for Flood {
                fn connection_made(&mut self, t: &Transport) {
                    t.write(&vec![1u8; 8 << 20]).unwrap();
                    assert!(t.write_buffer_size() > 0);
                    t.abort();
                    assert_eq!(t.write_buffer_size(), 0);
                    assert!(t.is_closing());
                    assert!(t.write(b"more").is_err(), "writing after abort is an error, not a crash");
                    // connection_lost must not have run inside abort().
                    assert!(self.log.borrow().is_empty());
                }
                fn connection_lost(&mut self, error: Option<io::Error>) {
                    self.log.borrow_mut().push(format!("lost:{}", error.is_some()));
                }
            }
            let server = create_server(move || Flood { log: l2.clone() }, "127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            wait_for(&log, "lost").await;
            assert_eq!(*log.borrow(), ["lost:false"]);
            let got = read_all(&client).await;
            assert!(got.len() < 8 << 20, "the aborted buffer was not sent in full");
        }).unwrap();
    }
}

both_backends! {
    fn peer_reset_mid_write_reports_the_error_and_the_loop_lives(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let log: Log = Log::default();
            let l2 = log.clone();
            let transports = Rc::new(RefCell::new(Vec::<Transport>::new()));
            let t2 = transports.clone();
            struct Keeper { log: Log, out: Rc<RefCell<Vec<Transport>>> }
            impl Protocol for Keeper {
                fn connection_made(&mut self, t: &Transport) { self.out.borrow_mut().push(t.clone()); }
                fn connection_lost(&mut self, error: Option<io::Error>) {
                    self.log.borrow_mut().push(format!("lost:{:?}", error.map(|e| e.kind())));
                }
            }
            let server = create_server(move || Keeper { log: l2.clone(), out: t2.clone() }, "127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            while transports.borrow().is_empty() { sleep(Duration::from_millis(1)).await; }
            let t = transports.borrow()[0].clone();
            client.set_linger(Some(Duration::ZERO)).unwrap();
            drop(client);
            for _ in 0..200 {
                if t.write(&[0u8; 65536]).is_err() { break; }
                sleep(Duration::from_millis(1)).await;
            }
            wait_for(&log, "lost").await;
            let entry = log.borrow()[0].clone();
            assert!(entry.contains("ConnectionReset") || entry.contains("BrokenPipe"), "{entry}");
            // The server still serves.
            let again = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            while transports.borrow().len() < 2 { sleep(Duration::from_millis(1)).await; }
            drop(again);
        }).unwrap();
    }
}

both_backends! {
    fn one_byte_trickle_and_sixteen_mib_echo(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let server = create_server(|| Recorder { echo: true, ..Default::default() }, "127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            let trickle = Rc::new(TcpStream::connect(addr).await.unwrap());
            for b in 0..100u8 {
                trickle.write_all(vec![b]).await.0.unwrap();
            }
            let (res, back) = trickle.read_exact(Vec::with_capacity(100)).await;
            res.unwrap();
            assert_eq!(back, (0..100u8).collect::<Vec<_>>());

            let big = Rc::new(TcpStream::connect(addr).await.unwrap());
            let data = pattern(16 << 20, 99);
            let expected = checksum(&data);
            let writer = big.clone();
            let w = ringloop::spawn(async move {
                writer.write_all(data).await.0.unwrap();
                writer.shutdown(Shutdown::Write).await.unwrap();
            });
            let got = read_all(&big).await;
            w.await.unwrap();
            assert_eq!(got.len(), 16 << 20);
            assert_eq!(checksum(&got), expected);
        }).unwrap();
    }
}

both_backends! {
    fn buffered_protocol_reads_into_lent_buffers(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            struct Lender { got: Rc<RefCell<Vec<u8>>>, lent: Rc<RefCell<usize>> }
            impl Protocol for Lender {}
            impl BufferedProtocol for Lender {
                fn get_buffer(&mut self, size_hint: usize) -> Vec<u8> {
                    *self.lent.borrow_mut() += 1;
                    Vec::with_capacity(size_hint.min(1000))
                }
                fn buffer_updated(&mut self, buffer: Vec<u8>, nbytes: usize) {
                    assert_eq!(buffer.len(), nbytes);
                    self.got.borrow_mut().extend_from_slice(&buffer);
                }
            }
            let got = Rc::new(RefCell::new(Vec::new()));
            let lent = Rc::new(RefCell::new(0));
            let (g2, l2) = (got.clone(), lent.clone());
            let server = create_buffered_server(move || Lender { got: g2.clone(), lent: l2.clone() }, "127.0.0.1:0", ServerOptions::default()).await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            let data = pattern(50_000, 4);
            client.write_all(data.clone()).await.0.unwrap();
            while got.borrow().len() < data.len() { sleep(Duration::from_millis(1)).await; }
            assert_eq!(*got.borrow(), data);
            assert!(*lent.borrow() >= 50, "reads are bounded by the lent buffers' capacity");
        }).unwrap();
    }
}
