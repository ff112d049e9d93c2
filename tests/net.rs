//! Sockets: TCP (v4/v6), UDP, Unix, vectored I/O, half-close, resets, options, bad input.

mod common;
use common::*;
use ringloop::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use ringloop::spawn;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::time::Duration;

async fn echo_once(listener: TcpListener) -> io::Result<u64> {
    let (stream, _) = listener.accept().await?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut total = 0u64;
    loop {
        let (res, data) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            stream.shutdown(Shutdown::Write).await?;
            return Ok(total);
        }
        total += n as u64;
        let (res, data) = stream.write_all(data).await;
        res?;
        buf = data;
    }
}

both_backends! {
    fn tcp_echo_round_trip_v4_and_v6(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            for bind in ["127.0.0.1:0", "[::1]:0"] {
                let listener = TcpListener::bind(bind).unwrap();
                let addr = listener.local_addr().unwrap();
                let server = spawn(echo_once(listener));
                let client = TcpStream::connect(&addr).await.unwrap();
                assert!(client.nodelay().unwrap(), "TCP_NODELAY is on by default");
                assert_eq!(client.peer_addr().unwrap(), addr);
                let (res, _) = client.write_all(b"ping".to_vec()).await;
                res.unwrap();
                let (res, buf) = client.read_exact(Vec::with_capacity(4)).await;
                res.unwrap();
                assert_eq!(buf, b"ping");
                client.shutdown(Shutdown::Write).await.unwrap();
                let (res, _) = client.read(Vec::with_capacity(8)).await;
                assert_eq!(res.unwrap(), 0, "EOF after the server's half-close");
                assert_eq!(server.await.unwrap().unwrap(), 4);
            }
        }).unwrap();
    }
}

both_backends! {
    fn sixteen_mib_transfer_is_checksummed(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn(echo_once(listener));
            let client = std::rc::Rc::new(TcpStream::connect(&addr).await.unwrap());
            let data = pattern(16 << 20, 7);
            let expected = checksum(&data);
            let writer_client = client.clone();
            let writer = spawn(async move {
                let mut rest = data;
                // Write in uneven pieces so reads and writes interleave.
                while !rest.is_empty() {
                    let take = rest.len().min(100_003);
                    let tail = rest.split_off(take);
                    let (res, _) = writer_client.write_all(rest).await;
                    res.unwrap();
                    rest = tail;
                }
                writer_client.shutdown(Shutdown::Write).await.unwrap();
            });
            let mut received = Vec::with_capacity(16 << 20);
            let mut buf = Vec::with_capacity(65536);
            loop {
                let (res, chunk) = client.read(buf).await;
                let n = res.unwrap();
                if n == 0 { break; }
                received.extend_from_slice(&chunk);
                buf = chunk;
            }
            writer.await.unwrap();
            assert_eq!(received.len(), 16 << 20);
            assert_eq!(checksum(&received), expected);
            assert_eq!(server.await.unwrap().unwrap(), 16 << 20);
        }).unwrap();
    }
}

both_backends! {
    fn vectored_io_keeps_order(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (res, bufs) = a.writev(vec![b"abc".to_vec(), b"".to_vec(), b"defgh".to_vec()]).await;
            assert_eq!(res.unwrap(), 8);
            assert_eq!(bufs.len(), 3);
            let (res, bufs) = b.readv(vec![Vec::with_capacity(2), Vec::with_capacity(10)]).await;
            assert_eq!(res.unwrap(), 8);
            assert_eq!(bufs[0], b"ab");
            assert_eq!(bufs[1], b"cdefgh");
        }).unwrap();
    }
}

both_backends! {
    fn zero_length_buffers_are_fine(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (res, _) = a.write(Vec::new()).await;
            assert_eq!(res.unwrap(), 0);
            a.write_all(b"x".to_vec()).await.0.unwrap();
            let (res, buf) = b.read(Vec::new()).await;
            assert_eq!(res.unwrap(), 0);
            assert!(buf.is_empty());
            let (res, buf) = b.read(Vec::with_capacity(4)).await;
            assert_eq!((res.unwrap(), buf), (1, b"x".to_vec()));
        }).unwrap();
    }
}

both_backends! {
    fn one_byte_trickle_arrives_in_order(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let writer = spawn(async move {
                for i in 0..200u8 {
                    a.write_all(vec![i]).await.0.unwrap();
                    if i % 20 == 0 {
                        ringloop::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            });
            let mut got = Vec::new();
            while got.len() < 200 {
                let (res, buf) = b.read(Vec::with_capacity(7)).await;
                let n = res.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf);
            }
            writer.await.unwrap();
            assert_eq!(got, (0..200u8).collect::<Vec<_>>());
        }).unwrap();
    }
}

both_backends! {
    fn peer_reset_mid_write_is_an_error_not_a_crash(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = spawn(async move { TcpStream::connect(&addr).await.unwrap() });
            let (server_side, _) = listener.accept().await.unwrap();
            let client = client.await.unwrap();
            // Reset: linger 0 then close.
            client.set_linger(Some(Duration::ZERO)).unwrap();
            assert_eq!(client.linger().unwrap(), Some(Duration::ZERO));
            drop(client);
            let mut saw_error = false;
            for _ in 0..100 {
                let (res, _) = server_side.write_all(vec![0u8; 65536]).await;
                if let Err(e) = res {
                    assert!(matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe), "{e}");
                    saw_error = true;
                    break;
                }
            }
            assert!(saw_error, "writing to a reset peer must fail");
        }).unwrap();
    }
}

both_backends! {
    fn connection_refused_names_the_address(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let err = TcpStream::connect(&format!("127.0.0.1:{port}")).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
            assert!(err.to_string().contains(&port.to_string()), "{err}");
        }).unwrap();
    }
}

both_backends! {
    fn hostnames_resolve_off_the_loop(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let accept = spawn(async move { listener.accept().await.map(|_| ()) });
            let stream = TcpStream::connect(&format!("localhost:{port}")).await;
            // localhost may resolve to ::1 first; the v4 listener then refuses and the v4
            // address is tried next.
            stream.unwrap();
            accept.await.unwrap().unwrap();
            let err = ringloop::net::lookup_host("no-such-host.invalid:80").await.unwrap_err();
            assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
        }).unwrap();
    }
}

both_backends! {
    fn udp_round_trip_connected_and_not(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (res, _) = a.send_to(b"one".to_vec(), b.local_addr().unwrap()).await;
            assert_eq!(res.unwrap(), 3);
            let (res, buf) = b.recv_from(Vec::with_capacity(16)).await;
            let (n, from) = res.unwrap();
            assert_eq!((&buf[..n], from), (&b"one"[..], a.local_addr().unwrap()));
            a.connect(b.local_addr().unwrap()).await.unwrap();
            b.connect(a.local_addr().unwrap()).await.unwrap();
            assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
            a.send(b"two".to_vec()).await.0.unwrap();
            let (res, buf) = b.recv(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..res.unwrap()], b"two");
            let v6 = UdpSocket::bind("[::1]:0").unwrap();
            let (res, _) = v6.send_to(b"six".to_vec(), v6.local_addr().unwrap()).await;
            res.unwrap();
            let (res, buf) = v6.recv_from(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..res.unwrap().0], b"six");
        }).unwrap();
    }
}

both_backends! {
    fn unix_listener_and_bad_paths(backend) {
        let rt = runtime(backend);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        rt.block_on(async {
            let listener = UnixListener::bind(&path).unwrap();
            assert_eq!(listener.local_path().unwrap().as_deref(), Some(path.as_path()));
            let p2 = path.clone();
            let client = spawn(async move { UnixStream::connect(&p2).await.unwrap() });
            let (server, _) = listener.accept().await.unwrap();
            let client = client.await.unwrap();
            client.write_all(b"unix".to_vec()).await.0.unwrap();
            let (res, buf) = server.read_exact(Vec::with_capacity(4)).await;
            res.unwrap();
            assert_eq!(buf, b"unix");
            let err = UnixListener::bind("bad\0path").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("NUL"));
            let long = "x".repeat(200);
            let err = UnixStream::connect(&long).await.unwrap_err();
            assert!(err.to_string().contains("limit"), "{err}");
            let err = UnixStream::connect(dir.path().join("missing")).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
        }).unwrap();
    }
}

both_backends! {
    fn socket_options_round_trip(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let opts = ringloop::net::BindOptions { reuse_port: true, ..Default::default() };
            let l1 = TcpListener::bind_with("127.0.0.1:0", opts.clone()).unwrap();
            let addr = l1.local_addr().unwrap();
            let _l2 = TcpListener::bind_with(addr, opts).expect("SO_REUSEPORT lets a second listener share the port");
            let s = TcpStream::connect(&addr).await.unwrap();
            s.set_nodelay(false).unwrap();
            assert!(!s.nodelay().unwrap());
            s.set_recv_buffer_size(1 << 16).unwrap();
            assert!(s.recv_buffer_size().unwrap() >= 1 << 16);
            s.set_send_buffer_size(1 << 16).unwrap();
            assert!(s.send_buffer_size().unwrap() >= 1 << 16);
            s.set_linger(None).unwrap();
            assert_eq!(s.linger().unwrap(), None);
            s.close().await.unwrap();
        }).unwrap();
    }
}

#[test]
fn ops_outside_a_runtime_fail_with_a_clear_error() {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let _ = a;
    let listener = ringloop::Runtime::builder()
        .backend(ringloop::Backend::Epoll)
        .build()
        .unwrap()
        .block_on(async { TcpListener::bind("127.0.0.1:0").unwrap() })
        .unwrap();
    // Polling an op with no loop on the thread: a simple executor-free poll.
    let fut = listener.accept();
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(e)) => {
            assert!(e.to_string().contains("no ringloop runtime"), "{e}")
        }
        other => panic!("expected an error, got {:?}", other.map(|r| r.map(|_| ()))),
    }
}

both_backends! {
    // A short read tells the epoll shim the socket is drained, so the next read waits for
    // the next edge without trying: data, a close and a reset arriving later must all
    // still wake it, whether they come from another task or from another thread.
    fn reads_after_a_short_read_still_wake(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let b = std::rc::Rc::new(b);
            for round in 0..50u8 {
                let (res, _) = a.write_all(vec![round; 3]).await;
                res.unwrap();
                let (n, buf) = b.read(Vec::with_capacity(64)).await;
                assert_eq!((n.unwrap(), buf), (3, vec![round; 3]), "short read");
                // The next read starts before the data exists.
                let reader = spawn({
                    let b = b.clone();
                    async move { b.read(Vec::with_capacity(64)).await }
                });
                ringloop::yield_now().await;
                let (res, _) = a.write_all(vec![round; 5]).await;
                res.unwrap();
                let (n, buf) = ringloop::time::timeout(Duration::from_secs(10), reader)
                    .await
                    .expect("a read after a short read must wake")
                    .unwrap();
                assert_eq!((n.unwrap(), buf), (5, vec![round; 5]));
                // Data whose edge the loop saw while nobody was reading.
                let (res, _) = a.write_all(vec![round; 7]).await;
                res.unwrap();
                ringloop::time::sleep(Duration::from_millis(2)).await;
                // In its own task, so only the read's own wake-up can finish it.
                let reader = spawn({
                    let b = b.clone();
                    async move { b.read(Vec::with_capacity(64)).await }
                });
                let (n, buf) = ringloop::time::timeout(Duration::from_secs(10), reader)
                    .await
                    .expect("data that arrived between reads must be read")
                    .unwrap();
                assert_eq!((n.unwrap(), buf), (7, vec![round; 7]));
            }
            // Data written by another thread while the loop is parked.
            let std_side = {
                let (x, y) = std::os::unix::net::UnixStream::pair().unwrap();
                let y = UnixStream::from_std(y).unwrap();
                (x, y)
            };
            let (mut x, y) = std_side;
            use std::io::Write;
            x.write_all(b"ab").unwrap();
            let (n, _) = y.read(Vec::with_capacity(64)).await;
            assert_eq!(n.unwrap(), 2);
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                x.write_all(b"cde").unwrap();
                x // closed when the thread's result is dropped below
            });
            let (n, buf) = y.read(Vec::with_capacity(64)).await;
            assert_eq!((n.unwrap(), buf), (3, b"cde".to_vec()));
            drop(writer.join().unwrap());
            let (n, _) = ringloop::time::timeout(Duration::from_secs(10), y.read(Vec::with_capacity(64)))
                .await
                .expect("EOF after a short read must wake");
            assert_eq!(n.unwrap(), 0, "EOF");
            // The peer's FIN arrives with the last bytes and the loop sees that edge before
            // the short read: no edge will come again, so EOF must be read without one.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = TcpStream::connect(&addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let server = std::rc::Rc::new(server);
            let first = spawn({
                let server = server.clone();
                async move { server.read(Vec::with_capacity(64)).await.0 }
            });
            ringloop::yield_now().await; // the read waits, so the socket gets registered
            let (res, _) = client.write_all(b"a".to_vec()).await;
            res.unwrap();
            assert_eq!(first.await.unwrap().unwrap(), 1);
            let (res, _) = client.write_all(b"last".to_vec()).await;
            res.unwrap();
            client.shutdown(Shutdown::Write).await.unwrap();
            ringloop::time::sleep(Duration::from_millis(5)).await;
            let (n, _) = server.read(Vec::with_capacity(64)).await;
            assert_eq!(n.unwrap(), 4, "short read of the last bytes");
            let reader = spawn({
                let server = server.clone();
                async move { server.read(Vec::with_capacity(64)).await.0 }
            });
            let n = ringloop::time::timeout(Duration::from_secs(10), reader)
                .await
                .expect("EOF after a short read of the last bytes must be read")
                .unwrap();
            assert_eq!(n.unwrap(), 0);
            // And the same over TCP, where the close comes as a reset.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = TcpStream::connect(&addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let (res, _) = client.write_all(b"x".to_vec()).await;
            res.unwrap();
            let (n, _) = server.read(Vec::with_capacity(64)).await;
            assert_eq!(n.unwrap(), 1);
            client.set_linger(Some(Duration::ZERO)).unwrap();
            drop(client);
            let (res, _) = ringloop::time::timeout(Duration::from_secs(10), server.read(Vec::with_capacity(64)))
                .await
                .expect("a reset after a short read must wake");
            assert!(matches!(res, Ok(0)) || res.is_err(), "{res:?}");
        })
        .unwrap();
    }
}
