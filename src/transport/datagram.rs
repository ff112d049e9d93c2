//! Datagram transports (asyncio's `create_datagram_endpoint`).

use super::signal::{join2, Changed};
use crate::future::Either;
use crate::net::UdpSocket;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

/// Callbacks for a datagram endpoint (asyncio's `DatagramProtocol`).
pub trait DatagramProtocol: 'static {
    /// The endpoint is ready; keep a clone of `transport` to send.
    fn connection_made(&mut self, transport: &DatagramTransport) {
        let _ = transport;
    }
    /// One datagram arrived from `addr`.
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr);
    /// A send or receive failed (e.g. `ECONNREFUSED` from an ICMP error on a connected
    /// socket); the endpoint stays open.
    fn error_received(&mut self, error: io::Error) {
        let _ = error;
    }
    /// The endpoint was closed. Called exactly once.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }
}

/// Largest UDP payload: the receive buffer never truncates a datagram.
const MAX_DATAGRAM: usize = 65536;

#[derive(Default)]
struct State {
    queue: VecDeque<(Vec<u8>, Option<SocketAddr>)>,
    buffered: usize,
    closing: bool,
    aborted: bool,
}

struct Inner {
    socket: UdpSocket,
    connected: Option<SocketAddr>,
    state: RefCell<State>,
    changed: Changed,
}

/// The sending side of a datagram endpoint. Cheap to clone.
#[derive(Clone)]
pub struct DatagramTransport {
    inner: Rc<Inner>,
}

impl DatagramTransport {
    /// Queues one datagram to `addr` (or to the connected peer when `addr` is `None`).
    /// Never blocks; datagrams queued in one turn go out on that turn.
    pub fn sendto(&self, data: &[u8], addr: Option<SocketAddr>) -> io::Result<()> {
        let mut s = self.inner.state.borrow_mut();
        if s.closing {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "cannot send: the endpoint is closing",
            ));
        }
        if addr.is_none() && self.inner.connected.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address given and the endpoint has no remote address",
            ));
        }
        if let (Some(to), Some(peer)) = (addr, self.inner.connected) {
            if to != peer {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("the endpoint is connected to {peer}, not {to}"),
                ));
            }
        }
        s.buffered += data.len();
        s.queue.push_back((data.to_vec(), addr));
        drop(s);
        self.inner.changed.notify();
        Ok(())
    }

    /// Sends queued datagrams, then closes; `connection_lost(None)` follows on a later turn.
    pub fn close(&self) {
        self.inner.state.borrow_mut().closing = true;
        self.inner.changed.notify();
    }

    /// Closes at once, dropping queued datagrams.
    pub fn abort(&self) {
        let mut s = self.inner.state.borrow_mut();
        s.closing = true;
        s.aborted = true;
        s.queue.clear();
        s.buffered = 0;
        drop(s);
        self.inner.changed.notify();
    }

    /// Whether `close` or `abort` was called.
    pub fn is_closing(&self) -> bool {
        self.inner.state.borrow().closing
    }

    /// Bytes queued and not yet sent.
    pub fn write_buffer_size(&self) -> usize {
        self.inner.state.borrow().buffered
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket.local_addr()
    }

    /// The remote address, if the endpoint was created with one.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.connected
    }
}

/// Opens a UDP endpoint bound to `local` (or an ephemeral port matching `remote`'s family)
/// and, with `remote`, connected to it.
///
/// ```
/// use ringloop::transport::{create_datagram_endpoint, DatagramProtocol, DatagramTransport};
/// use std::net::SocketAddr;
/// struct Echo(Option<DatagramTransport>);
/// impl DatagramProtocol for Echo {
///     fn connection_made(&mut self, t: &DatagramTransport) { self.0 = Some(t.clone()); }
///     fn datagram_received(&mut self, data: &[u8], from: SocketAddr) {
///         self.0.as_ref().unwrap().sendto(data, Some(from)).unwrap();
///     }
/// }
/// ringloop::run(async {
///     let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
///     let (server, _) = create_datagram_endpoint(Echo(None), Some(local), None).await?;
///     let client = ringloop::net::UdpSocket::bind("127.0.0.1:0")?;
///     client.send_to(b"hello".to_vec(), server.local_addr()?).await.0?;
///     let (res, buf) = client.recv_from(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..res?.0], b"hello");
///     server.close();
///     std::io::Result::Ok(())
/// }).unwrap().unwrap();
/// ```
pub async fn create_datagram_endpoint<P: DatagramProtocol>(
    protocol: P,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
) -> io::Result<(DatagramTransport, Rc<RefCell<P>>)> {
    let bind_to = match (local, remote) {
        (Some(local), _) => local,
        (None, Some(SocketAddr::V6(_))) => "[::]:0".parse().expect("literal"),
        (None, _) => "0.0.0.0:0".parse().expect("literal"),
    };
    let socket = UdpSocket::bind(bind_to)?;
    if let Some(remote) = remote {
        socket.connect(remote).await?;
    }
    let transport = DatagramTransport {
        inner: Rc::new(Inner {
            socket,
            connected: remote,
            state: RefCell::new(State::default()),
            changed: Changed::default(),
        }),
    };
    let protocol = Rc::new(RefCell::new(protocol));
    drop(crate::spawn(run(transport.clone(), protocol.clone())));
    Ok((transport, protocol))
}

async fn run<P: DatagramProtocol>(t: DatagramTransport, protocol: Rc<RefCell<P>>) {
    protocol.borrow_mut().connection_made(&t);
    join2!(receive_loop(&t, &protocol), send_loop(&t, &protocol));
    crate::yield_now().await;
    protocol.borrow_mut().connection_lost(None);
}

async fn receive_loop<P: DatagramProtocol>(t: &DatagramTransport, protocol: &RefCell<P>) {
    let mut buf = Vec::with_capacity(MAX_DATAGRAM);
    loop {
        let closing = || t.inner.state.borrow().closing;
        let received = crate::race!(
            t.inner.socket.recv_from(buf),
            t.inner.changed.until(closing)
        );
        let Either::Left((res, back)) = received else {
            return;
        };
        buf = back;
        match res {
            Ok((n, from)) => protocol.borrow_mut().datagram_received(&buf[..n], from),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => protocol.borrow_mut().error_received(e),
        }
    }
}

async fn send_loop<P: DatagramProtocol>(t: &DatagramTransport, protocol: &RefCell<P>) {
    loop {
        t.inner
            .changed
            .until(|| {
                let s = t.inner.state.borrow();
                s.closing || !s.queue.is_empty()
            })
            .await;
        let next = {
            let mut s = t.inner.state.borrow_mut();
            if s.aborted {
                return;
            }
            s.queue.pop_front()
        };
        let Some((data, addr)) = next else { return };
        let len = data.len();
        let (res, _) = match addr {
            Some(addr) if t.inner.connected.is_none() => t.inner.socket.send_to(data, addr).await,
            _ => t.inner.socket.send(data).await,
        };
        {
            let mut s = t.inner.state.borrow_mut();
            s.buffered = s.buffered.saturating_sub(len);
        }
        if let Err(e) = res {
            protocol.borrow_mut().error_received(e);
        }
    }
}
