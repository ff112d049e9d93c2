//! Futures and combinators: asyncio's `Future`, `gather`, `wait`, `as_completed`, `shield`.
//!
//! | asyncio | ringloop |
//! |---|---|
//! | `asyncio.Future` | [`Promise`] |
//! | `gather(*aws, return_exceptions=True)` | [`join_all`] (outputs, errors included, in order) |
//! | `gather(*aws)` | [`try_join_all`] (first error cancels the rest) |
//! | `wait(aws, return_when=…, timeout=…)` | [`wait`] with [`Return`] |
//! | `as_completed(aws)` | [`as_completed`] |
//! | `wait_for(aw, t)` | [`time::timeout`](crate::time::timeout) |
//! | `shield(aw)` | [`shield`] |
//! | first of two / of many | [`race`], [`select_all`]; [`race!`](crate::race!) |
//! | `gather(a, b)` of two types | [`join!`](crate::join!) |
//!
//! The macros expand inside your async body, so the futures are stored once; the async fn
//! combinators keep them twice (as arguments and as pinned locals), which matters when the
//! futures are large.

mod join;
mod macros;
mod promise;
mod wait;

pub use join::{join_all, race, select_all, try_join_all, Either};
pub use promise::{Promise, PromiseError};
pub use wait::{as_completed, shield, wait, AsCompleted, Return, WaitResult};
