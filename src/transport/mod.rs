//! Transports and protocols: asyncio's callback model.
//!
//! A [`Protocol`] receives callbacks; a [`Transport`] writes and flow-controls. The
//! contract is asyncio's:
//!
//! * order: `connection_made` → `data_received`* → `eof_received`? → `connection_lost`, each
//!   end exactly once; `data_received` gets non-empty data, in order;
//! * `connection_lost` is never called from inside `close()`/`abort()`: the loop calls it
//!   on a later turn;
//! * `eof_received` returning `false` closes the transport; `true` keeps the write side
//!   open (half-close) until the protocol closes it;
//! * `write` never blocks: it buffers, and writes made in one callback (outside
//!   callbacks: in one loop turn) go out in one submission. `pause_writing` fires when
//!   the buffer goes above the high-water mark (64 KiB) and `resume_writing` when it
//!   drains to the low one (high / 4), once per crossing.
//!
//! The protocol lives in an `Rc<RefCell<_>>` (`create_connection` hands it back); a
//! callback waits while user code holds a borrow of it, rather than failing.
//!
//! One difference forced by Rust's borrow rules: a callback the transport raises while
//! the protocol is inside another callback (for example `pause_writing`, triggered by a
//! `write` made in `data_received`) is delivered right after that callback returns,
//! instead of re-entrantly.
//!
//! ```
//! use ringloop::transport::{create_server, Protocol, Transport};
//! use ringloop::net::TcpStream;
//!
//! struct Echo(Option<Transport>);
//! impl Protocol for Echo {
//!     fn connection_made(&mut self, transport: &Transport) { self.0 = Some(transport.clone()); }
//!     fn data_received(&mut self, data: &[u8]) { self.0.as_ref().unwrap().write(data).unwrap(); }
//! }
//!
//! ringloop::run(async {
//!     let server = create_server(|| Echo(None), "127.0.0.1:0").await?;
//!     let client = TcpStream::connect(server.local_addr()?).await?;
//!     client.write_all(b"echo me".to_vec()).await.0?;
//!     let (res, buf) = client.read_exact(Vec::with_capacity(7)).await;
//!     res?;
//!     assert_eq!(buf, b"echo me");
//!     server.close();
//!     std::io::Result::Ok(())
//! }).unwrap().unwrap();
//! ```

mod connection;
mod datagram;
pub(crate) mod flow;
mod server;
mod signal;
mod sink;
mod stream;
mod streams;

pub use connection::{create_connection, create_unix_connection, ConnectOptions};
pub use datagram::{create_datagram_endpoint, DatagramProtocol, DatagramTransport};
pub use flow::DEFAULT_HIGH as DEFAULT_HIGH_WATER;
pub use server::{
    create_buffered_server, create_server, create_server_with, create_unix_server, Server,
    ServerOptions,
};
pub use stream::Transport;
pub use streams::{open_connection, StreamReader, StreamWriter};

use std::io;

/// Callbacks for a stream connection (asyncio's `Protocol`).
///
/// Every method has a default, so a protocol implements only what it needs.
pub trait Protocol: 'static {
    /// The connection is up; keep a clone of `transport` to write.
    fn connection_made(&mut self, transport: &Transport) {
        let _ = transport;
    }
    /// Bytes arrived (never empty), in order.
    fn data_received(&mut self, data: &[u8]) {
        let _ = data;
    }
    /// The peer closed its write side. Return `true` to keep writing (half-close);
    /// `false` (the default) closes the transport.
    fn eof_received(&mut self) -> bool {
        false
    }
    /// The connection is gone: `None` after a normal close or abort, `Some(error)` when the
    /// connection failed (reset, broken pipe, …). Called exactly once.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }
    /// The write buffer went above the high-water mark: stop writing for now.
    fn pause_writing(&mut self) {}
    /// The write buffer drained to the low-water mark: writing is welcome again.
    fn resume_writing(&mut self) {}
}

/// A protocol that lends its own buffer for reads, so the kernel writes straight into
/// it (asyncio's `BufferedProtocol`, with owned buffers).
///
/// The transport calls [`get_buffer`](BufferedProtocol::get_buffer), reads into the
/// buffer's capacity, and hands it back through
/// [`buffer_updated`](BufferedProtocol::buffer_updated) with the byte count (its length is
/// also set to it). `data_received` is not called.
pub trait BufferedProtocol: Protocol {
    /// A buffer to read into; its capacity bounds the read (`size_hint` is a suggestion).
    fn get_buffer(&mut self, size_hint: usize) -> Vec<u8>;
    /// `nbytes` (> 0) were read into `buffer`.
    fn buffer_updated(&mut self, buffer: Vec<u8>, nbytes: usize);
}
