//! A server that runs out of descriptors backs off instead of spinning, and serves again
//! once descriptors free up. Its own test binary: it lowers RLIMIT_NOFILE, which is
//! per-process, so both backends run one after the other in one test.

mod common;
use common::*;
use ringloop::transport::create_server;
use ringloop::Backend;
use std::io::{Read, Write};
use std::time::Duration;

fn set_nofile_soft(limit: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write a live rlimit struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let old = lim.rlim_cur;
        lim.rlim_cur = limit;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

#[test]
fn server_recovers_from_emfile_on_both_backends() {
    for backend in [Backend::Uring, Backend::Epoll] {
        let rt = runtime(backend);
        let server = rt
            .block_on(create_server(|| Echo(None), "127.0.0.1:0"))
            .unwrap()
            .unwrap();
        let addr = server.local_addr().unwrap();
        // Connect 30 clients while descriptors are plentiful; they wait in the backlog.
        let mut clients: Vec<std::net::TcpStream> = (0..30)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let old = set_nofile_soft(fd_count() as u64 + 10);
        let turns_before = rt.stats().turns;
        rt.block_on(async {
            ringloop::time::sleep(Duration::from_millis(300)).await;
        })
        .unwrap();
        let accepted = server.connection_count();
        let turns = rt.stats().turns - turns_before;
        assert!(
            accepted < 30,
            "{backend}: the lowered limit should stop accepts ({accepted} accepted)"
        );
        assert!(
            turns < 2000,
            "{backend}: the accept loop spun ({turns} turns in 300 ms)"
        );
        // Free descriptors: the first 20 clients leave, the server closes their sockets.
        clients.drain(..20);
        let survivors = std::thread::spawn(move || {
            for c in &mut clients {
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                c.write_all(b"ping").unwrap();
                let mut buf = [0u8; 4];
                c.read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"ping");
            }
        });
        rt.block_on(async {
            while !survivors.is_finished() {
                ringloop::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .unwrap();
        survivors
            .join()
            .expect("every remaining client was served after descriptors freed up");
        set_nofile_soft(old);
        rt.block_on(async {
            server.close();
            server.abort_clients();
            server.wait_closed().await;
        })
        .unwrap();
    }
}
