//! `create_server`: accept connections and give each a protocol instance.

use super::signal::Changed;
use super::sink::{Buffered, Plain, ProtocolSink};
use super::stream::{start, Transport};
use super::{BufferedProtocol, Protocol};
use crate::driver::shared_fd::{FdKind, SharedFd};
use crate::net::{BindOptions, TcpListener, UnixListener};
use crate::op::multishot::OpStream;
use crate::task::JoinHandle;
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Options for [`create_server_with`].
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Socket options: `SO_REUSEPORT` (one listener per loop/core), backlog, IPv6-only.
    pub bind: BindOptions,
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn shared_fd(&self) -> SharedFd {
        match self {
            Listener::Tcp(l) => l.shared_fd(),
            Listener::Unix(l) => l.shared_fd(),
        }
    }

    async fn accept(&self) -> io::Result<OwnedFd> {
        match self {
            Listener::Tcp(l) => l.accept_fd().await,
            Listener::Unix(l) => l.accept_fd().await,
        }
    }
}

struct ServerInner {
    /// Kept so `close` can stop the kernel listening at once, while an accept op still
    /// holds the descriptor.
    listen_fd: RefCell<Option<SharedFd>>,
    accept_task: RefCell<Option<JoinHandle<()>>>,
    connections: RefCell<Slab<Transport>>,
    serving: Cell<bool>,
    changed: Changed,
    local_addr: Option<SocketAddr>,
}

/// A running server (asyncio's `Server`). Dropping it does not stop it; call `close`.
#[derive(Clone)]
pub struct Server {
    inner: Rc<ServerInner>,
}

/// Starts a TCP server at `addr` creating one protocol per connection with `factory`
/// (asyncio's `loop.create_server`). See the [module docs](crate::transport) for an example.
pub async fn create_server<P, F>(
    factory: F,
    addr: impl std::net::ToSocketAddrs,
) -> io::Result<Server>
where
    P: Protocol,
    F: Fn() -> P + 'static,
{
    create_server_with(factory, addr, ServerOptions::default()).await
}

/// [`create_server`] with socket options (`reuse_port`, backlog, …).
pub async fn create_server_with<P, F>(
    factory: F,
    addr: impl std::net::ToSocketAddrs,
    options: ServerOptions,
) -> io::Result<Server>
where
    P: Protocol,
    F: Fn() -> P + 'static,
{
    let listener = TcpListener::bind_with(addr, options.bind)?;
    Ok(serve(Listener::Tcp(listener), plain_sinks(factory)))
}

/// Makes a plain-protocol sink per connection from a protocol factory.
fn plain_sinks<P: Protocol>(
    factory: impl Fn() -> P + 'static,
) -> impl Fn() -> Rc<dyn ProtocolSink> {
    move || Rc::new(Plain(Rc::new(RefCell::new(factory())))) as Rc<dyn ProtocolSink>
}

/// A TCP server whose protocols lend their own read buffers ([`BufferedProtocol`]).
pub async fn create_buffered_server<P, F>(
    factory: F,
    addr: impl std::net::ToSocketAddrs,
    options: ServerOptions,
) -> io::Result<Server>
where
    P: BufferedProtocol,
    F: Fn() -> P + 'static,
{
    let listener = TcpListener::bind_with(addr, options.bind)?;
    Ok(serve(Listener::Tcp(listener), move || {
        Rc::new(Buffered(Rc::new(RefCell::new(factory())))) as Rc<dyn ProtocolSink>
    }))
}

/// A Unix-domain server at `path` (asyncio's `create_unix_server`).
pub async fn create_unix_server<P, F>(factory: F, path: impl AsRef<Path>) -> io::Result<Server>
where
    P: Protocol,
    F: Fn() -> P + 'static,
{
    let listener = UnixListener::bind(path)?;
    Ok(serve(Listener::Unix(listener), plain_sinks(factory)))
}

fn serve(listener: Listener, make_sink: impl Fn() -> Rc<dyn ProtocolSink> + 'static) -> Server {
    let local_addr = match &listener {
        Listener::Tcp(l) => l.local_addr().ok(),
        Listener::Unix(_) => None,
    };
    let inner = Rc::new(ServerInner {
        listen_fd: RefCell::new(Some(listener.shared_fd())),
        accept_task: RefCell::new(None),
        connections: RefCell::new(Slab::new()),
        serving: Cell::new(true),
        changed: Changed::default(),
        local_addr,
    });
    let task = crate::spawn(accept_loop(listener, Rc::downgrade(&inner), make_sink));
    *inner.accept_task.borrow_mut() = Some(task);
    Server { inner }
}

fn is_resource_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

async fn accept_loop(
    listener: Listener,
    server: Weak<ServerInner>,
    make_sink: impl Fn() -> Rc<dyn ProtocolSink>,
) {
    const MIN_BACKOFF: Duration = Duration::from_millis(10);
    const MAX_BACKOFF: Duration = Duration::from_secs(1);
    let mut backoff = MIN_BACKOFF;
    let mut logged = false;
    let listen_fd = listener.shared_fd();
    // io_uring: one multishot accept yields many connections; elsewhere, one accept each.
    let mut multishot: Option<OpStream> = None;
    let mut multishot_available = true;
    loop {
        if multishot.is_none() && multishot_available {
            multishot = OpStream::accept(&listen_fd).await;
            multishot_available = multishot.is_some();
        }
        let accepted = match multishot.as_mut() {
            Some(stream) => match stream.next_accept().await {
                Some(result) => result,
                None => {
                    // The kernel ended the multishot (after an error, say): re-arm.
                    multishot = None;
                    continue;
                }
            },
            None => listener.accept().await,
        };
        match accepted {
            Ok(fd) => {
                backoff = MIN_BACKOFF;
                logged = false;
                let Some(server) = server.upgrade() else {
                    return;
                };
                let fd = SharedFd::new(fd, FdKind::Stream);
                let _ = crate::sys::socket::set_opt_int(
                    fd.raw(),
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    1,
                );
                let slot = server.connections.borrow_mut().vacant_key();
                let weak = Rc::downgrade(&server);
                let on_done = Box::new(move || {
                    if let Some(server) = weak.upgrade() {
                        server.connections.borrow_mut().try_remove(slot);
                        server.changed.notify();
                    }
                });
                let transport = start(fd, make_sink(), Some(on_done));
                server.connections.borrow_mut().insert(transport);
            }
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::ECONNABORTED | libc::EPROTO | libc::EPERM | libc::EINTR)
                ) => {}
            Err(err) => {
                // Out of descriptors or memory (or something unexpected): back off instead
                // of spinning on a listener that stays readable; keep serving afterwards.
                if !logged {
                    let what = if is_resource_exhaustion(&err) {
                        "resources exhausted"
                    } else {
                        "accept failed"
                    };
                    eprintln!("ringloop: server {what} ({err}); backing off and retrying");
                    logged = true;
                }
                crate::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

impl Server {
    /// Stops accepting and closes the listening socket. Connections keep running; see
    /// [`close_clients`](Server::close_clients) and [`abort_clients`](Server::abort_clients).
    pub fn close(&self) {
        if self.inner.serving.replace(false) {
            if let Some(fd) = self.inner.listen_fd.borrow_mut().take() {
                // Linux stops listening on shutdown: new connections are refused from now
                // on, even before the cancelled accept op lets the descriptor close.
                let _ = crate::sys::socket::shutdown_now(fd.raw(), libc::SHUT_RDWR);
            }
            if let Some(task) = self.inner.accept_task.borrow_mut().take() {
                task.cancel();
            }
            self.inner.changed.notify();
        }
    }

    /// A snapshot of the live connections (closing one mutates the table).
    fn clients(&self) -> Vec<Transport> {
        self.inner
            .connections
            .borrow()
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// Closes every connection gracefully (flushing their buffers).
    pub fn close_clients(&self) {
        self.clients().iter().for_each(Transport::close);
    }

    /// Aborts every connection at once.
    pub fn abort_clients(&self) {
        self.clients().iter().for_each(Transport::abort);
    }

    /// Waits until the server is closed and every connection has finished
    /// (`connection_lost` delivered), like asyncio 3.12's `wait_closed`.
    pub async fn wait_closed(&self) {
        let inner = self.inner.clone();
        inner
            .changed
            .until(|| {
                !inner.serving.get()
                    && inner
                        .connections
                        .borrow()
                        .iter()
                        .all(|(_, t)| t.is_finished())
            })
            .await;
    }

    /// Whether the server still accepts connections.
    pub fn is_serving(&self) -> bool {
        self.inner.serving.get()
    }

    /// Live connections.
    pub fn connection_count(&self) -> usize {
        self.inner.connections.borrow().len()
    }

    /// The listening address (TCP servers).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "a Unix-domain server has no IP address",
            )
        })
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.inner.local_addr)
            .field("serving", &self.is_serving())
            .finish()
    }
}
