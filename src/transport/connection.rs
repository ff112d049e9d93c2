//! `create_connection`: connect and wire the socket to a protocol.

use super::sink::{Plain, ProtocolSink};
use super::stream::{start, Transport};
use super::Protocol;
use crate::net::{TcpStream, ToSocketAddrs, UnixStream};
use crate::time::timeout;
use std::cell::RefCell;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

/// Options for [`create_connection`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Give up connecting after this long (`TimedOut`); `None` waits as long as the kernel does.
    pub timeout: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// Connects over TCP and runs `protocol` on the connection (asyncio's
/// `loop.create_connection`). Returns the transport and the protocol.
///
/// ```
/// use ringloop::transport::{create_connection, ConnectOptions, Protocol};
/// struct Quiet;
/// impl Protocol for Quiet {}
/// ringloop::run(async {
///     let listener = ringloop::net::TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let (transport, _protocol) = create_connection(Quiet, addr, ConnectOptions::default()).await?;
///     transport.write(b"hi")?;
///     transport.close();
///     std::io::Result::Ok(())
/// }).unwrap().unwrap();
/// ```
pub async fn create_connection<P, A>(
    protocol: P,
    addr: A,
    options: ConnectOptions,
) -> io::Result<(Transport, Rc<RefCell<P>>)>
where
    P: Protocol,
    A: ToSocketAddrs,
{
    let connect = TcpStream::connect(addr);
    let stream = match options.timeout {
        Some(limit) => timeout(limit, connect).await.map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect timed out after {limit:?}"),
            )
        })??,
        None => connect.await?,
    };
    Ok(attach(protocol, stream.into_shared_fd()))
}

/// Connects to a Unix-domain socket and runs `protocol` on it.
pub async fn create_unix_connection<P: Protocol>(
    protocol: P,
    path: impl AsRef<Path>,
) -> io::Result<(Transport, Rc<RefCell<P>>)> {
    let stream = UnixStream::connect(path).await?;
    Ok(attach(protocol, stream.into_shared_fd()))
}

fn attach<P: Protocol>(
    protocol: P,
    fd: crate::driver::shared_fd::SharedFd,
) -> (Transport, Rc<RefCell<P>>) {
    let protocol = Rc::new(RefCell::new(protocol));
    let sink: Rc<dyn ProtocolSink> = Rc::new(Plain(protocol.clone()));
    (start(fd, sink, None), protocol)
}
