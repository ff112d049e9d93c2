//! The type-erased view of a protocol that a transport calls back into.

use super::flow::Edge;
use super::stream::Transport;
use super::{BufferedProtocol, Protocol};
use std::cell::RefCell;
use std::io;
use std::rc::Rc;

/// Read buffer size for protocols that do not lend their own.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

pub(crate) trait ProtocolSink {
    /// Whether the protocol is borrowed elsewhere (e.g. held across an `.await` by user
    /// code); callbacks wait for it instead of panicking.
    fn busy(&self) -> bool;
    /// Whether the protocol lends the buffers reads go into (then multishot receive into
    /// the loop's provided buffers is not used).
    fn lends_buffers(&self) -> bool {
        false
    }
    fn connection_made(&self, transport: &Transport);
    /// A buffer to read into (reusing `spare` where the protocol does not lend one).
    fn read_buffer(&self, spare: Option<Vec<u8>>) -> Vec<u8>;
    /// Delivers `n > 0` bytes read into `buf`; may return the buffer for reuse.
    fn deliver(&self, buf: Vec<u8>, n: usize) -> Option<Vec<u8>>;
    /// Delivers bytes that stay in a buffer the loop owns (a provided buffer): no copy for
    /// protocols that take a slice. Only used where `lends_buffers` is false.
    fn deliver_slice(&self, data: &[u8]) {
        let mut buf = self.read_buffer(None);
        buf.clear();
        buf.extend_from_slice(data);
        self.deliver(buf, data.len());
    }
    fn eof_received(&self) -> bool;
    fn connection_lost(&self, error: Option<io::Error>);
    /// `false` if the protocol is busy in another callback (deliver later).
    fn try_edge(&self, edge: Edge) -> bool;
}

fn edge_to<P: Protocol>(protocol: &RefCell<P>, edge: Edge) -> bool {
    match protocol.try_borrow_mut() {
        Ok(mut p) => {
            match edge {
                Edge::Pause => p.pause_writing(),
                Edge::Resume => p.resume_writing(),
            }
            true
        }
        Err(_) => false,
    }
}

/// The callbacks both sinks forward unchanged.
macro_rules! forward_lifecycle {
    () => {
        fn busy(&self) -> bool {
            self.0.try_borrow_mut().is_err()
        }
        fn connection_made(&self, transport: &Transport) {
            self.0.borrow_mut().connection_made(transport);
        }
        fn eof_received(&self) -> bool {
            self.0.borrow_mut().eof_received()
        }
        fn connection_lost(&self, error: Option<io::Error>) {
            self.0.borrow_mut().connection_lost(error);
        }
        fn try_edge(&self, edge: Edge) -> bool {
            edge_to(&self.0, edge)
        }
    };
}

/// A [`Protocol`]: the transport reads into its own buffer and calls `data_received`.
pub(crate) struct Plain<P>(pub(crate) Rc<RefCell<P>>);

impl<P: Protocol> ProtocolSink for Plain<P> {
    forward_lifecycle!();
    fn read_buffer(&self, spare: Option<Vec<u8>>) -> Vec<u8> {
        spare.unwrap_or_else(|| Vec::with_capacity(READ_CHUNK))
    }
    fn deliver(&self, buf: Vec<u8>, n: usize) -> Option<Vec<u8>> {
        self.0.borrow_mut().data_received(&buf[..n]);
        Some(buf)
    }
    fn deliver_slice(&self, data: &[u8]) {
        self.0.borrow_mut().data_received(data);
    }
}

/// A [`BufferedProtocol`]: the protocol lends the buffer the kernel reads into.
pub(crate) struct Buffered<P>(pub(crate) Rc<RefCell<P>>);

impl<P: BufferedProtocol> ProtocolSink for Buffered<P> {
    forward_lifecycle!();
    fn lends_buffers(&self) -> bool {
        true
    }

    fn read_buffer(&self, _spare: Option<Vec<u8>>) -> Vec<u8> {
        let mut buf = self.0.borrow_mut().get_buffer(READ_CHUNK);
        if buf.capacity() == 0 {
            // A zero-capacity buffer would read nothing and look like EOF: give it room.
            buf.reserve(READ_CHUNK);
        }
        buf
    }
    fn deliver(&self, buf: Vec<u8>, n: usize) -> Option<Vec<u8>> {
        self.0.borrow_mut().buffer_updated(buf, n);
        None
    }
}
