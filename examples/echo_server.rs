//! A TCP echo server on the Protocol/Transport API.
//!
//! ```text
//! cargo run --release --example echo_server -- --port 7000 --backend uring
//! ```

#[path = "common/args.rs"]
mod args;

use ringloop::transport::{create_server, Protocol, Transport};

struct Echo {
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

fn main() -> std::io::Result<()> {
    let args = args::parse(7000)?;
    let rt = args::runtime(&args, "echo_server")?;
    rt.block_on(async {
        let server = create_server(|| Echo { transport: None }, ("127.0.0.1", args.port)).await?;
        args::serve_for(&args).await;
        server.close();
        server.close_clients();
        ringloop::time::timeout(std::time::Duration::from_secs(5), server.wait_closed())
            .await
            .ok();
        std::io::Result::Ok(())
    })?
}
