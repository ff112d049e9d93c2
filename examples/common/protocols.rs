//! The ringloop protocols behind `echo_server` and `http_hello`, shared with the benches so
//! the benchmarked server is exactly the example a user runs.
#![allow(dead_code)]

use crate::http::answer;
use ringloop::transport::{Protocol, Transport};

/// Writes back every byte it receives.
#[derive(Default)]
pub struct Echo {
    transport: Option<Transport>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            // Only fails once the connection is closing; then there is no one to echo to.
            let _ = t.write(data);
        }
    }
}

/// Answers every HTTP/1.1 request with `Hello, World!`, in order; 400 and a close on garbage.
#[derive(Default)]
pub struct Http {
    transport: Option<Transport>,
    pending: Vec<u8>,
}

impl Protocol for Http {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        let Some(t) = &self.transport else {
            return;
        };
        let close = answer(&mut self.pending, data, |response| {
            // Only fails once the connection is closing.
            let _ = t.write(response);
        });
        if close {
            t.close();
        }
    }
}
