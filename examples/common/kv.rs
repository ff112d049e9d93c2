//! The `kv_server` protocol: RESP2 commands (`resp.rs`) against one map the whole loop
//! shares, shared with the benches so they measure exactly the example.
#![allow(dead_code)]

use crate::resp::{self, After, Store};
use ringloop::transport::{Protocol, Transport};
use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

pub struct Kv {
    store: Rc<RefCell<Store>>,
    transport: Option<Transport>,
    pending: Vec<u8>,
    args: Vec<Range<usize>>,
    out: Vec<u8>,
}

/// How long `kv_server` spins for work before parking, in microseconds, unless
/// `--spin-us` says otherwise (the benches start it the same way).
pub const SPIN_US: u64 = 20;

/// A protocol factory for `create_server`: every connection shares one new store.
pub fn factory() -> impl Fn() -> Kv + 'static {
    let store = Rc::new(RefCell::new(Store::default()));
    move || Kv {
        store: store.clone(),
        transport: None,
        pending: Vec::new(),
        args: Vec::new(),
        out: Vec::new(),
    }
}

impl Protocol for Kv {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        let Some(t) = &self.transport else {
            return;
        };
        let after = resp::serve(
            &mut self.store.borrow_mut(),
            &mut self.pending,
            data,
            &mut self.args,
            &mut self.out,
        );
        // One write per read: a pipelined batch of replies goes back together. It only
        // fails once the connection is closing, when nobody is left to answer.
        let _ = t.write(&self.out);
        self.out.clear();
        if after == After::Close {
            t.close();
        }
    }
}
