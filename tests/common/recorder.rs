//! The recording protocol and helpers the transport tests share.
#![allow(dead_code)]

use ringloop::net::TcpStream;
use ringloop::time::sleep;
use ringloop::transport::{Protocol, Transport};
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

pub type Log = Rc<RefCell<Vec<String>>>;
pub type Datagrams = Rc<RefCell<Vec<(Vec<u8>, SocketAddr)>>>;

/// Records every callback; optional behaviours are switched by the fields.
#[derive(Default)]
pub struct Recorder {
    pub log: Log,
    pub transport: Option<Transport>,
    pub data: Rc<RefCell<Vec<u8>>>,
    pub keep_open_on_eof: bool,
    pub reply_after_eof: Option<Vec<u8>>,
    pub echo: bool,
    pub pause_reading_at_start: bool,
    /// Where the test can reach the server-side transport.
    pub shared: Rc<RefCell<Option<Transport>>>,
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: &Transport) {
        self.log.borrow_mut().push("made".into());
        if self.pause_reading_at_start {
            transport.pause_reading();
        }
        self.transport = Some(transport.clone());
        *self.shared.borrow_mut() = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        assert!(!data.is_empty(), "data_received got empty data");
        let log = &mut *self.log.borrow_mut();
        if log.last().map(String::as_str) != Some("data") {
            log.push("data".into());
        }
        self.data.borrow_mut().extend_from_slice(data);
        if self.echo {
            self.transport.as_ref().unwrap().write(data).unwrap();
        }
    }
    fn eof_received(&mut self) -> bool {
        self.log.borrow_mut().push("eof".into());
        if let Some(reply) = self.reply_after_eof.take() {
            let t = self.transport.as_ref().unwrap();
            t.write(&reply).unwrap();
            t.close();
        }
        self.keep_open_on_eof
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.log.borrow_mut().push(match error {
            None => "lost".into(),
            Some(e) => format!("lost-err:{:?}", e.kind()),
        });
        self.transport = None;
    }
    fn pause_writing(&mut self) {
        self.log.borrow_mut().push("pause".into());
    }
    fn resume_writing(&mut self) {
        self.log.borrow_mut().push("resume".into());
    }
}

pub async fn wait_for(log: &Log, entry: &str) {
    for _ in 0..5000 {
        if log.borrow().iter().any(|e| e.starts_with(entry)) {
            return;
        }
        sleep(Duration::from_millis(1)).await;
    }
    panic!("no {entry:?} in {:?}", log.borrow());
}

pub async fn read_all(stream: &TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let (res, buf) = stream.read(Vec::with_capacity(65536)).await;
        match res {
            Ok(0) | Err(_) => return out,
            Ok(_) => out.extend_from_slice(&buf),
        }
    }
}
