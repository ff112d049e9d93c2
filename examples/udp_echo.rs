//! A UDP echo server on the DatagramProtocol API.
//!
//! ```text
//! cargo run --release --example udp_echo -- --port 7001 --backend epoll
//! ```

#[path = "common/args.rs"]
mod args;

use ringloop::transport::{create_datagram_endpoint, DatagramProtocol, DatagramTransport};
use std::net::SocketAddr;

struct Echo {
    transport: Option<DatagramTransport>,
}

impl DatagramProtocol for Echo {
    fn connection_made(&mut self, transport: &DatagramTransport) {
        self.transport = Some(transport.clone());
    }

    fn datagram_received(&mut self, data: &[u8], from: SocketAddr) {
        if let Some(t) = &self.transport {
            let _ = t.sendto(data, Some(from));
        }
    }

    fn error_received(&mut self, error: std::io::Error) {
        eprintln!("udp_echo: {error}");
    }
}

fn main() -> std::io::Result<()> {
    let args = args::parse(7001)?;
    let rt = args::runtime(&args, "udp_echo")?;
    rt.block_on(async {
        let local: SocketAddr = ([127, 0, 0, 1], args.port).into();
        let (transport, _) =
            create_datagram_endpoint(Echo { transport: None }, Some(local), None).await?;
        args::serve_for(&args).await;
        transport.close();
        std::io::Result::Ok(())
    })?
}
