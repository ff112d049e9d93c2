//! A Redis-protocol (RESP2) key-value server on the Protocol/Transport API: `PING`, `GET`,
//! `SET`, `DEL`, `INCR`, `MGET`, `EXISTS`, with pipelining. One loop, one in-memory map,
//! like `redis-server` itself.
//!
//! ```text
//! cargo run --release --example kv_server -- --port 6380 --backend uring
//! redis-cli -p 6380 SET greeting hello
//! redis-benchmark -p 6380 -c 50 -n 200000 -t get,set -P 16 -q
//! ```

#[path = "common/args.rs"]
mod args;
#[path = "common/kv.rs"]
mod kv;
#[path = "common/resp.rs"]
mod resp;

use ringloop::transport::create_server;

fn main() -> std::io::Result<()> {
    // A dedicated server on a core of its own (as Redis is run) spins briefly before
    // parking: every park costs a busy client a wake-up (docs/BENCHMARKS.md, "Why
    // kv_server spins"). `--spin-us 0` parks at once.
    let args = args::parse_with_spin(6380, kv::SPIN_US)?;
    let rt = args::runtime(&args, "kv_server")?;
    rt.block_on(async {
        let server = create_server(kv::factory(), ("127.0.0.1", args.port)).await?;
        args::serve_then_close(&args, server).await;
        std::io::Result::Ok(())
    })?
}
