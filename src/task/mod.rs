//! Tasks: spawned futures, their wakers and join handles.

pub(crate) mod cell;
pub(crate) mod join;
pub(crate) mod owned;
pub(crate) mod raw;
mod recycle;
pub(crate) mod state;
mod waker;

pub use join::{JoinError, JoinHandle};
