//! A TCP echo server on the Protocol/Transport API.
//!
//! ```text
//! cargo run --release --example echo_server -- --port 7000 --backend uring
//! ```

#[path = "common/args.rs"]
mod args;

#[path = "common/http.rs"]
mod http;
#[path = "common/protocols.rs"]
mod protocols;

use protocols::Echo;
use ringloop::transport::create_server;

fn main() -> std::io::Result<()> {
    let args = args::parse(7000)?;
    let rt = args::runtime(&args, "echo_server")?;
    rt.block_on(async {
        let server = create_server(Echo::default, ("127.0.0.1", args.port)).await?;
        args::serve_then_close(&args, server).await;
        std::io::Result::Ok(())
    })?
}
