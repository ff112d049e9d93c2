//! Synchronisation for tasks: asyncio's `Event`, `Lock`, `Semaphore` and `Queue`, plus
//! `Notify` and channels.
//!
//! The primitives are for tasks on one loop (no atomics, `!Send`); share them with `Rc`.
//! [`channel`] is the exception: its sender is `Send`, for threads that feed a loop.
//! Waiters are served in FIFO order, and a waiter cancelled after it was chosen passes
//! its turn on, so cancellation never loses a permit, an item or a wake-up.

mod channel;
mod event;
mod mutex;
mod queue;
mod semaphore;
mod waiters;

pub use channel::{
    channel, mpsc, oneshot, Closed, OneshotReceiver, OneshotSender, Receiver, RemoteReceiver,
    RemoteSender, Sender,
};
pub use event::{Event, Notify};
pub use mutex::{Mutex, MutexGuard};
pub use queue::{Queue, QueueError};
pub use semaphore::{bounded, Acquire, Permit, Semaphore};
