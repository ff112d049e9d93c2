//! The transport API's endpoints on both backends: servers (close, wait_closed), client
//! connections over TCP and Unix sockets, datagram endpoints, the stream reader/writer,
//! teardown with the runtime, and fairness toward other tasks.

mod common;
#[path = "common/recorder.rs"]
mod recorder;
use common::*;
use recorder::*;
use ringloop::net::{TcpStream, UdpSocket};
use ringloop::time::sleep;
use ringloop::transport::{
    create_buffered_server, create_connection, create_datagram_endpoint, create_server,
    create_unix_connection, create_unix_server, open_connection, BufferedProtocol, ConnectOptions,
    DatagramProtocol, Protocol, ServerOptions, Transport,
};
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

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
