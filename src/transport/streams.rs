//! asyncio-style streams: `open_connection` gives a buffered reader and writer.

use crate::net::{TcpStream, ToSocketAddrs};
use std::io;
use std::rc::Rc;

const READ_CHUNK: usize = 64 * 1024;

/// Connects and returns a reader/writer pair over the connection (asyncio's
/// `open_connection`), for code that prefers `await` to callbacks.
///
/// ```
/// use ringloop::transport::open_connection;
/// ringloop::run(async {
///     let listener = ringloop::net::TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     ringloop::spawn(async move {
///         let (s, _) = listener.accept().await.unwrap();
///         s.write_all(b"line one\nline two\n".to_vec()).await.0.unwrap();
///     });
///     let (mut reader, _writer) = open_connection(addr).await?;
///     assert_eq!(reader.read_line().await?, b"line one\n");
///     assert_eq!(reader.read_until(b'\n').await?, b"line two\n");
///     std::io::Result::Ok(())
/// }).unwrap().unwrap();
/// ```
pub async fn open_connection(addr: impl ToSocketAddrs) -> io::Result<(StreamReader, StreamWriter)> {
    let stream = Rc::new(TcpStream::connect(addr).await?);
    Ok((
        StreamReader {
            stream: stream.clone(),
            buf: Vec::new(),
            eof: false,
        },
        StreamWriter {
            stream,
            pending: Vec::new(),
            closed: false,
        },
    ))
}

/// The reading half from [`open_connection`] (asyncio's `StreamReader`).
pub struct StreamReader {
    stream: Rc<TcpStream>,
    buf: Vec<u8>,
    eof: bool,
}

impl StreamReader {
    /// Reads more into the internal buffer; `false` at EOF.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let (res, chunk) = self.stream.read(Vec::with_capacity(READ_CHUNK)).await;
        let n = res?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.buf.extend_from_slice(&chunk);
        Ok(true)
    }

    /// Up to `n` bytes: what is buffered, or one read's worth; empty at EOF.
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() {
            self.fill().await?;
        }
        let take = n.min(self.buf.len());
        Ok(self.buf.drain(..take).collect())
    }

    /// Exactly `n` bytes; EOF first is `UnexpectedEof` (asyncio's `IncompleteReadError`).
    pub async fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the stream ended after {} of {n} bytes", self.buf.len()),
                ));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Bytes up to and including `delimiter`; EOF first is `UnexpectedEof` (the partial data
    /// stays buffered for `read`).
    pub async fn read_until(&mut self, delimiter: u8) -> io::Result<Vec<u8>> {
        let mut searched = 0;
        loop {
            if let Some(pos) = self.buf[searched..].iter().position(|b| *b == delimiter) {
                return Ok(self.buf.drain(..searched + pos + 1).collect());
            }
            searched = self.buf.len();
            if !self.fill().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the stream ended before the delimiter",
                ));
            }
        }
    }

    /// One line including its `\n`.
    pub async fn read_line(&mut self) -> io::Result<Vec<u8>> {
        self.read_until(b'\n').await
    }

    /// Whether the peer closed and the buffer is empty.
    pub fn at_eof(&self) -> bool {
        self.eof && self.buf.is_empty()
    }
}

/// The writing half from [`open_connection`] (asyncio's `StreamWriter`).
pub struct StreamWriter {
    stream: Rc<TcpStream>,
    pending: Vec<u8>,
    closed: bool,
}

impl StreamWriter {
    /// Buffers `data`; [`drain`](StreamWriter::drain) sends it.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "cannot write after close or write_eof",
            ));
        }
        self.pending.extend_from_slice(data);
        Ok(())
    }

    /// Sends everything buffered.
    pub async fn drain(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.pending);
        let (res, mut data) = self.stream.write_all(data).await;
        data.clear();
        self.pending = data;
        res
    }

    /// Buffers and sends `data`.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.write(data)?;
        self.drain().await
    }

    /// Flushes, then half-closes (the reader keeps working).
    pub async fn write_eof(&mut self) -> io::Result<()> {
        self.drain().await?;
        self.closed = true;
        self.stream.shutdown(std::net::Shutdown::Write).await
    }

    /// Flushes and shuts the connection down in both directions.
    pub async fn close(&mut self) -> io::Result<()> {
        let flushed = self.drain().await;
        self.closed = true;
        let shut = self.stream.shutdown(std::net::Shutdown::Both).await;
        flushed.and(shut)
    }
}
