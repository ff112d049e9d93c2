//! Address resolution that never blocks the loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the socket constructors accept as an address: literal addresses resolve at
/// once; host names are looked up with `getaddrinfo` on the blocking pool.
pub trait ToSocketAddrs: sealed::Sealed {}

mod sealed {
    use std::net::SocketAddr;

    pub enum Resolved {
        Ready(Vec<SocketAddr>),
        Lookup(String),
    }

    pub trait Sealed {
        fn resolve(&self) -> Resolved;
    }
}

use sealed::Resolved;

macro_rules! literal_addrs {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl sealed::Sealed for $t {
            fn resolve(&self) -> Resolved {
                let $v = self;
                Resolved::Ready($e)
            }
        }
        impl ToSocketAddrs for $t {}
    )*};
}

literal_addrs! {
    SocketAddr => |a| vec![*a],
    (IpAddr, u16) => |a| vec![SocketAddr::new(a.0, a.1)],
    (Ipv4Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V4(a.0), a.1)],
    (Ipv6Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V6(a.0), a.1)],
    [SocketAddr] => |a| a.to_vec(),
    Vec<SocketAddr> => |a| a.clone(),
}

impl sealed::Sealed for str {
    fn resolve(&self) -> Resolved {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Resolved::Ready(vec![addr]),
            Err(_) => Resolved::Lookup(self.to_string()),
        }
    }
}
impl ToSocketAddrs for str {}

impl sealed::Sealed for String {
    fn resolve(&self) -> Resolved {
        self.as_str().resolve()
    }
}
impl ToSocketAddrs for String {}

impl sealed::Sealed for (&str, u16) {
    fn resolve(&self) -> Resolved {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Resolved::Ready(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Resolved::Lookup(format!("{}:{}", self.0, self.1)),
        }
    }
}
impl ToSocketAddrs for (&str, u16) {}

impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {
    fn resolve(&self) -> Resolved {
        (**self).resolve()
    }
}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}

/// Resolves `host:port` with the system resolver (`getaddrinfo`) on the blocking pool
/// (asyncio's `getaddrinfo`).
///
/// ```
/// ringloop::run(async {
///     let addrs = ringloop::net::lookup_host("localhost:80").await.unwrap();
///     assert!(addrs.iter().any(|a| a.ip().is_loopback()));
/// }).unwrap();
/// ```
pub async fn lookup_host(host: impl Into<String>) -> io::Result<Vec<SocketAddr>> {
    let host = host.into();
    let query = host.clone();
    let found = crate::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&query).map(|a| a.collect())
    })
    .await
    .map_err(io::Error::from)?;
    found.map_err(|e: io::Error| io::Error::new(e.kind(), format!("cannot resolve {host:?}: {e}")))
}

/// Resolves any accepted address form, looking names up off the loop.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    let addrs = match sealed::Sealed::resolve(addr) {
        Resolved::Ready(addrs) => addrs,
        Resolved::Lookup(host) => lookup_host(host).await?,
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        ));
    }
    Ok(addrs)
}

/// Tries each address in turn, returning the first success or the last error.
pub(crate) async fn each_addr<A, T, F, Fut>(addr: &A, mut f: F) -> io::Result<T>
where
    A: ToSocketAddrs + ?Sized,
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for one in resolve(addr).await? {
        match f(one).await {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to try")))
}
