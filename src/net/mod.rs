//! Networking: TCP, UDP and Unix-domain sockets with owned-buffer I/O.
//!
//! Every I/O method takes its buffer by value and returns it with the result
//! ([`BufResult`](crate::buf::BufResult)), the same on io_uring and epoll.

mod addr;
mod opts;
pub(crate) mod stream;
mod tcp;
mod udp;
mod unix;

pub use addr::{lookup_host, ToSocketAddrs};
pub use opts::BindOptions;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
