//! The Protocol/Transport contract (asyncio's), on both backends.

mod common;
use common::*;
use ringloop::net::{TcpStream, UdpSocket};
use ringloop::time::sleep;
use ringloop::transport::{
    create_buffered_server, create_connection, create_datagram_endpoint, create_server,
    create_unix_connection, create_unix_server, open_connection, BufferedProtocol, ConnectOptions,
    DatagramProtocol, Protocol, ServerOptions, Transport,
};
use std::cell::RefCell;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

type Log = Rc<RefCell<Vec<String>>>;
type Datagrams = Rc<RefCell<Vec<(Vec<u8>, SocketAddr)>>>;

/// Records every callback; optional behaviours are switched by the fields.
#[derive(Default)]
struct Recorder {
    log: Log,
    transport: Option<Transport>,
    data: Rc<RefCell<Vec<u8>>>,
    keep_open_on_eof: bool,
    reply_after_eof: Option<Vec<u8>>,
    echo: bool,
    pause_reading_at_start: bool,
    /// Where the test can reach the server-side transport.
    shared: Rc<RefCell<Option<Transport>>>,
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: &Transport) {
        self.log.borrow_mut().push("made".into());
        if self.pause_reading_at_start {
            transport.pause_reading();
        }
        self.transport = Some(transport.clone());
        *self.shared.borrow_mut() = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        assert!(!data.is_empty(), "data_received got empty data");
        let log = &mut *self.log.borrow_mut();
        if log.last().map(String::as_str) != Some("data") {
            log.push("data".into());
        }
        self.data.borrow_mut().extend_from_slice(data);
        if self.echo {
            self.transport.as_ref().unwrap().write(data).unwrap();
        }
    }
    fn eof_received(&mut self) -> bool {
        self.log.borrow_mut().push("eof".into());
        if let Some(reply) = self.reply_after_eof.take() {
            let t = self.transport.as_ref().unwrap();
            t.write(&reply).unwrap();
            t.close();
        }
        self.keep_open_on_eof
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.log.borrow_mut().push(match error {
            None => "lost".into(),
            Some(e) => format!("lost-err:{:?}", e.kind()),
        });
        self.transport = None;
    }
    fn pause_writing(&mut self) {
        self.log.borrow_mut().push("pause".into());
    }
    fn resume_writing(&mut self) {
        self.log.borrow_mut().push("resume".into());
    }
}

async fn wait_for(log: &Log, entry: &str) {
    for _ in 0..5000 {
        if log.borrow().iter().any(|e| e.starts_with(entry)) {
            return;
        }
        sleep(Duration::from_millis(1)).await;
    }
    panic!("no {entry:?} in {:?}", log.borrow());
}

async fn read_all(stream: &TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let (res, buf) = stream.read(Vec::with_capacity(65536)).await;
        match res {
            Ok(0) | Err(_) => return out,
            Ok(_) => out.extend_from_slice(&buf),
        }
    }
}

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

both_backends! {
    fn server_close_and_wait_closed_with_clients(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            for abort in [false, true] {
                let log: Log = Log::default();
                let l2 = log.clone();
                let server = create_server(move || Recorder { log: l2.clone(), ..Default::default() }, "127.0.0.1:0").await.unwrap();
                let addr = server.local_addr().unwrap();
                let clients: Vec<_> = futures_join((0..3).map(|_| TcpStream::connect(addr))).await;
                while server.connection_count() < 3 { sleep(Duration::from_millis(1)).await; }
                server.close();
                assert!(!server.is_serving());
                assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
                if abort { server.abort_clients() } else { server.close_clients() }
                ringloop::time::timeout(Duration::from_secs(5), server.wait_closed()).await.expect("wait_closed finished");
                assert_eq!(log.borrow().iter().filter(|e| *e == "lost").count(), 3);
                drop(clients);
            }
        }).unwrap();
    }
}

async fn futures_join<F: std::future::Future<Output = io::Result<TcpStream>>>(
    futs: impl Iterator<Item = F>,
) -> Vec<TcpStream> {
    let mut out = Vec::new();
    for f in futs {
        out.push(f.await.unwrap());
    }
    out
}

both_backends! {
    fn client_connections_tcp_and_unix(backend) {
        let rt = runtime(backend);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        rt.block_on(async {
            let server = create_server(|| Recorder { echo: true, ..Default::default() }, "127.0.0.1:0").await.unwrap();
            let data = Rc::new(RefCell::new(Vec::new()));
            let proto = Recorder { data: data.clone(), ..Default::default() };
            let (t, p) = create_connection(proto, server.local_addr().unwrap(), ConnectOptions::default()).await.unwrap();
            t.write(b"round").unwrap();
            t.write(b" trip").unwrap();
            while data.borrow().len() < 10 { sleep(Duration::from_millis(1)).await; }
            assert_eq!(*data.borrow(), b"round trip");
            assert_eq!(t.peer_addr(), Some(server.local_addr().unwrap()));
            t.write_eof().unwrap();
            assert!(t.write(b"x").is_err(), "writing after write_eof is an error");
            t.close();
            let log = p.borrow().log.clone();
            wait_for(&log, "lost").await;
            assert_eq!(*log.borrow(), ["made", "data", "lost"]);

            let unix = create_unix_server(|| Recorder { echo: true, ..Default::default() }, &path).await.unwrap();
            let data = Rc::new(RefCell::new(Vec::new()));
            let (t, _) = create_unix_connection(Recorder { data: data.clone(), ..Default::default() }, &path).await.unwrap();
            t.write(b"over unix").unwrap();
            while data.borrow().len() < 9 { sleep(Duration::from_millis(1)).await; }
            assert_eq!(*data.borrow(), b"over unix");
            t.close();
            unix.close();
            let refused = create_connection(Recorder::default(), "127.0.0.1:1", ConnectOptions::default()).await;
            assert_eq!(refused.err().map(|e| e.kind()), Some(io::ErrorKind::ConnectionRefused));
        }).unwrap();
    }
}

both_backends! {
    fn udp_endpoints_round_trip(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            struct Collect { got: Datagrams, lost: Rc<RefCell<bool>> }
            impl DatagramProtocol for Collect {
                fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) { self.got.borrow_mut().push((data.to_vec(), addr)); }
                fn connection_lost(&mut self, _: Option<io::Error>) { *self.lost.borrow_mut() = true; }
            }
            let got = Rc::new(RefCell::new(Vec::new()));
            let lost = Rc::new(RefCell::new(false));
            let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let (server, _) = create_datagram_endpoint(Collect { got: got.clone(), lost: lost.clone() }, Some(local), None).await.unwrap();
            let server_addr = server.local_addr().unwrap();
            let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..10u8 {
                peer.send_to(vec![i; 100], server_addr).await.0.unwrap();
            }
            while got.borrow().len() < 10 { sleep(Duration::from_millis(1)).await; }
            assert!(got.borrow().iter().all(|(_, from)| *from == peer.local_addr().unwrap()));
            // Connected endpoint sends to its remote.
            let got2 = Rc::new(RefCell::new(Vec::new()));
            let (client, _) = create_datagram_endpoint(Collect { got: got2.clone(), lost: Rc::new(RefCell::new(false)) }, None, Some(server_addr)).await.unwrap();
            assert_eq!(client.peer_addr(), Some(server_addr));
            client.sendto(b"connected", None).unwrap();
            assert!(client.sendto(b"elsewhere", Some("127.0.0.1:9".parse().unwrap())).is_err());
            while got.borrow().len() < 11 { sleep(Duration::from_millis(1)).await; }
            assert_eq!(got.borrow()[10].0, b"connected");
            let unconnected_no_addr = server.sendto(b"x", None);
            assert!(unconnected_no_addr.is_err());
            server.close();
            while !*lost.borrow() { sleep(Duration::from_millis(1)).await; }
            assert!(server.sendto(b"late", Some(server_addr)).is_err());
            client.close();
        }).unwrap();
    }
}

both_backends! {
    fn stream_reader_and_writer(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let server = create_server(|| Recorder { echo: true, ..Default::default() }, "127.0.0.1:0").await.unwrap();
            let (mut reader, mut writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
            writer.write(b"alpha\nbeta\n").unwrap();
            writer.write_all(b"gamma-tail").await.unwrap();
            assert_eq!(reader.read_line().await.unwrap(), b"alpha\n");
            assert_eq!(reader.read_until(b'\n').await.unwrap(), b"beta\n");
            assert_eq!(reader.read_exact(5).await.unwrap(), b"gamma");
            writer.write_eof().await.unwrap();
            assert!(writer.write(b"late").is_err());
            assert_eq!(reader.read(100).await.unwrap(), b"-tail");
            let err = reader.read_exact(1).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
            assert!(reader.at_eof());
        }).unwrap();
    }
}

both_backends! {
    /// Dropping a runtime with live connections frees their protocols (no Rc cycle leak).
    fn dropping_the_runtime_frees_live_connections(backend) {
        let dropped = Rc::new(RefCell::new(0));
        struct Holder { transport: Option<Transport>, dropped: Rc<RefCell<u32>> }
        impl Protocol for Holder {
            fn connection_made(&mut self, t: &Transport) { self.transport = Some(t.clone()); }
        }
        impl Drop for Holder {
            fn drop(&mut self) { *self.dropped.borrow_mut() += 1; }
        }
        let rt = runtime(backend);
        let d2 = dropped.clone();
        let client = rt.block_on(async move {
            let server = create_server(move || Holder { transport: None, dropped: d2.clone() }, "127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            while server.connection_count() == 0 { sleep(Duration::from_millis(1)).await; }
            sleep(Duration::from_millis(5)).await;
            client
        }).unwrap();
        drop(rt);
        assert_eq!(*dropped.borrow(), 1, "the live connection's protocol was freed with the runtime");
        drop(client);
    }
}

both_backends! {
    /// On io_uring a paused connection keeps filling provided buffers until they run out
    /// (ENOBUFS ends the multishot). Nothing may be lost or reordered, and other connections
    /// must keep flowing meanwhile.
    fn provided_buffer_exhaustion_loses_nothing(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let data = Rc::new(RefCell::new(Vec::new()));
            let shared = Rc::new(RefCell::new(None::<Transport>));
            let (d2, s2) = (data.clone(), shared.clone());
            let server = create_server(move || Recorder { data: d2.clone(), shared: s2.clone(), ..Default::default() }, "127.0.0.1:0").await.unwrap();
            let echo = create_server(|| Recorder { echo: true, ..Default::default() }, "127.0.0.1:0").await.unwrap();
            let heavy = Rc::new(TcpStream::connect(server.local_addr().unwrap()).await.unwrap());
            // Reading first (the multishot is armed), then paused mid-stream.
            let first = pattern(1000, 3);
            heavy.write_all(first.clone()).await.0.unwrap();
            while data.borrow().len() < first.len() { sleep(Duration::from_millis(1)).await; }
            let t = shared.borrow().clone().expect("connected");
            t.pause_reading();
            let rest = pattern(8 << 20, 21);
            let writer = {
                let (heavy, rest) = (heavy.clone(), rest.clone());
                ringloop::spawn(async move { heavy.write_all(rest).await.0.unwrap() })
            };
            sleep(Duration::from_millis(200)).await;
            // Another connection still gets its echo while the paused one holds buffers.
            let other = TcpStream::connect(echo.local_addr().unwrap()).await.unwrap();
            other.write_all(b"still flowing".to_vec()).await.0.unwrap();
            let (res, got) = ringloop::time::timeout(Duration::from_secs(5), other.read_exact(Vec::with_capacity(13))).await.expect("echo while exhausted");
            res.unwrap();
            assert_eq!(got, b"still flowing");
            assert_eq!(data.borrow().len(), first.len(), "nothing delivered while paused");
            t.resume_reading();
            writer.await.unwrap();
            let mut expected = first;
            expected.extend_from_slice(&rest);
            while data.borrow().len() < expected.len() { sleep(Duration::from_millis(2)).await; }
            assert_eq!(data.borrow().len(), expected.len());
            assert_eq!(checksum(&data.borrow()), checksum(&expected), "nothing lost or reordered");
        }).unwrap();
    }
}

both_backends! {
    fn a_transport_with_data_always_waiting_still_lets_other_tasks_run(backend) {
        // The peer fills the socket buffers while the protocol is paused, so once reading
        // resumes every read finds data at once (small lent buffers make that many reads).
        // The transport must still yield to other tasks every so often (the cooperative
        // budget), not read everything in one poll.
        const READ_SIZE: usize = 256;
        struct Small { got: Rc<std::cell::Cell<usize>>, transport: Rc<RefCell<Option<Transport>>> }
        impl Protocol for Small {
            fn connection_made(&mut self, t: &Transport) {
                t.pause_reading();
                *self.transport.borrow_mut() = Some(t.clone());
            }
        }
        impl BufferedProtocol for Small {
            fn get_buffer(&mut self, _: usize) -> Vec<u8> { Vec::with_capacity(READ_SIZE) }
            fn buffer_updated(&mut self, _: Vec<u8>, nbytes: usize) { self.got.set(self.got.get() + nbytes); }
        }
        let rt = runtime(backend);
        rt.block_on(async {
            let got = Rc::new(std::cell::Cell::new(0));
            let transport = Rc::new(RefCell::new(None));
            let (g2, t2) = (got.clone(), transport.clone());
            let server = create_buffered_server(move || Small { got: g2.clone(), transport: t2.clone() }, "127.0.0.1:0", ServerOptions::default()).await.unwrap();
            let addr = server.local_addr().unwrap();
            let filler = std::thread::spawn(move || {
                use std::io::Write;
                let mut socket = std::net::TcpStream::connect(addr).unwrap();
                socket.set_nonblocking(true).unwrap();
                let mut total = 0;
                loop {
                    match socket.write(&[7u8; 4096]) {
                        Ok(n) => total += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (socket, total),
                        Err(e) => panic!("filling the socket: {e}"),
                    }
                }
            });
            while !filler.is_finished() || transport.borrow().is_none() {
                sleep(Duration::from_millis(1)).await;
            }
            let (socket, total) = filler.join().unwrap();
            let reads = total / READ_SIZE;
            assert!(reads >= 4 * 128, "only {total} bytes fit in the socket buffers: too few reads to test the budget");
            let turns_mid_transfer = Rc::new(std::cell::Cell::new(0));
            let (g3, turns) = (got.clone(), turns_mid_transfer.clone());
            let ticker = ringloop::spawn(async move {
                while g3.get() < total {
                    if g3.get() > 0 {
                        turns.set(turns.get() + 1);
                    }
                    ringloop::yield_now().await;
                }
            });
            transport.borrow().as_ref().unwrap().resume_reading();
            ticker.await.unwrap();
            assert_eq!(got.get(), total);
            assert!(
                turns_mid_transfer.get() >= 2,
                "{reads} reads of waiting data ran with only {} other-task turns in between",
                turns_mid_transfer.get()
            );
            drop(socket);
        }).unwrap();
    }
}
