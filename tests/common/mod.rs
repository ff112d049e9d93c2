//! Helpers shared by the integration tests.
#![allow(dead_code, unused_macros, unused_imports)]

use ringloop::buf::{IoBuf, IoBufMut};
use ringloop::{Backend, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Builds a runtime on `backend`. io_uring being unavailable fails the test loudly, with
/// the reason: a uring test must never pass by silently running on epoll.
pub fn runtime(backend: Backend) -> Runtime {
    runtime_with(Runtime::builder().backend(backend))
}

pub fn runtime_with(builder: ringloop::Builder) -> Runtime {
    match builder.build() {
        Ok(rt) => rt,
        Err(e) => panic!(
            "cannot build the runtime this test needs: {e}\n(io_uring tests need io_uring; run with \
             RINGLOOP_BACKEND=epoll to run the whole suite on epoll instead)"
        ),
    }
}

/// Runs `f` against both backends: generates `name::uring` and `name::epoll` tests.
macro_rules! both_backends {
    ($(#[$meta:meta])* fn $name:ident($backend:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$meta])*
            fn body($backend: ringloop::Backend) $body
            #[test]
            fn uring() {
                body(ringloop::Backend::Uring)
            }
            #[test]
            fn epoll() {
                body(ringloop::Backend::Epoll)
            }
        }
    };
}
pub(crate) use both_backends;

/// Open descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

static FD_LOCK: Mutex<()> = Mutex::new(());

/// Serialises tests that compare fd counts (tests in one binary share the fd table).
pub fn fd_lock() -> MutexGuard<'static, ()> {
    FD_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A buffer that counts how often it was dropped, to prove a cancelled op's buffer is
/// freed exactly once and only after its completion.
pub struct TrackedBuf {
    pub data: Vec<u8>,
    pub drops: Arc<AtomicUsize>,
}

impl TrackedBuf {
    pub fn new(capacity: usize) -> (TrackedBuf, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        (
            TrackedBuf {
                data: Vec::with_capacity(capacity),
                drops: drops.clone(),
            },
            drops,
        )
    }
}

impl Drop for TrackedBuf {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: forwards to the Vec, whose heap allocation does not move with the value.
unsafe impl IoBuf for TrackedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.data.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.data.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.data.bytes_total()
    }
}

// SAFETY: forwards to the Vec.
unsafe impl IoBufMut for TrackedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.data.set_init(n) }
    }
}

/// Runs the loop until every op (including cancelled ones) has completed.
pub async fn settle(rt_ops: impl Fn() -> usize) {
    let limit = std::time::Duration::from_secs(2);
    eventually(limit, "every op completed", || rt_ops() == 0).await;
}

/// Runs the loop (checking every millisecond) until `done()` holds; fails the test with
/// `what` if it does not within `limit`.
pub async fn eventually(limit: std::time::Duration, what: &str, mut done: impl FnMut() -> bool) {
    let waited = ringloop::time::timeout(limit, async {
        while !done() {
            ringloop::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "not within {limit:?}: {what}");
}

/// Sends `message` and reads until that many bytes came back (or EOF).
pub async fn round_trip(client: &ringloop::net::TcpStream, message: &[u8]) -> Vec<u8> {
    client.write_all(message.to_vec()).await.0.unwrap();
    let mut got = Vec::new();
    while got.len() < message.len() {
        let (res, buf) = client.read(Vec::with_capacity(64 << 10)).await;
        match res.unwrap() {
            0 => break,
            _ => got.extend_from_slice(&buf),
        }
    }
    got
}

/// Echoes what it receives (for tests about connections rather than protocols).
pub struct Echo(pub Option<ringloop::transport::Transport>);

impl ringloop::transport::Protocol for Echo {
    fn connection_made(&mut self, transport: &ringloop::transport::Transport) {
        self.0 = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        // A write after the transport closed fails; an echo has nothing to do about it.
        let _ = self.0.as_ref().map(|t| t.write(data));
    }
    fn connection_lost(&mut self, _: Option<std::io::Error>) {
        self.0 = None;
    }
}

/// A deterministic byte pattern and its checksum, for transfer tests.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// What each open descriptor points at, for a failing leak check's message.
pub fn fd_listing() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            format!("{} -> {target}", e.file_name().to_string_lossy())
        })
        .collect();
    out.sort();
    out
}

/// The fd count once it is stable (two equal readings 20 ms apart, within 1 s), for a
/// leak check's baseline: another test's descriptor that is being released right now must
/// not inflate it. The check against the baseline stays strict.
pub fn fd_count_settled() -> usize {
    let mut last = fd_count();
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let now = fd_count();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}
