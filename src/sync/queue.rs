//! `Queue`: asyncio's producer/consumer queue for tasks on one loop.

use super::event::Event;
use super::waiters::Waiters;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;

/// Why a non-waiting queue call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// `try_put` on a full bounded queue.
    Full,
    /// `try_get` on an empty queue.
    Empty,
    /// `task_done` called more times than items were put.
    TooManyTaskDone,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueError::Full => "the queue is full",
            QueueError::Empty => "the queue is empty",
            QueueError::TooManyTaskDone => "task_done() called more times than there were items",
        })
    }
}

impl std::error::Error for QueueError {}

/// A FIFO queue (asyncio's `Queue`): `put` waits while a bounded queue is full, `get` waits
/// while it is empty, and `join` waits until every item put has been marked `task_done`.
///
/// ```
/// use ringloop::sync::Queue;
/// use std::rc::Rc;
/// ringloop::run(async {
///     let q = Rc::new(Queue::bounded(2));
///     let worker = {
///         let q = q.clone();
///         ringloop::spawn(async move {
///             let mut sum = 0;
///             loop {
///                 let item: u32 = q.get().await;
///                 sum += item;
///                 q.task_done().unwrap();
///                 if item == 0 { return sum; }
///             }
///         })
///     };
///     for i in [3, 2, 1, 0] { q.put(i).await; }
///     q.join().await;
///     assert_eq!(worker.await.unwrap(), 6);
/// }).unwrap();
/// ```
pub struct Queue<T> {
    items: RefCell<VecDeque<T>>,
    /// 0 means unbounded.
    capacity: usize,
    getters: Waiters,
    putters: Waiters,
    unfinished: Cell<usize>,
    all_done: Event,
}

impl<T> Queue<T> {
    /// A queue with no size limit.
    pub fn unbounded() -> Self {
        Self::with_capacity(0)
    }

    /// A queue holding at most `capacity` items (`capacity` 0 means unbounded, as in asyncio).
    pub fn bounded(capacity: usize) -> Self {
        Self::with_capacity(capacity)
    }

    fn with_capacity(capacity: usize) -> Self {
        let all_done = Event::new();
        all_done.set();
        Self {
            items: RefCell::new(VecDeque::new()),
            capacity,
            getters: Waiters::default(),
            putters: Waiters::default(),
            unfinished: Cell::new(0),
            all_done,
        }
    }

    /// Items in the queue.
    pub fn len(&self) -> usize {
        self.items.borrow().len()
    }

    /// Whether the queue holds no items.
    pub fn is_empty(&self) -> bool {
        self.items.borrow().is_empty()
    }

    /// Whether a bounded queue is at capacity.
    pub fn is_full(&self) -> bool {
        self.capacity > 0 && self.len() >= self.capacity
    }

    /// Adds an item without waiting.
    pub fn try_put(&self, item: T) -> Result<(), (QueueError, T)> {
        if self.is_full() {
            return Err((QueueError::Full, item));
        }
        self.items.borrow_mut().push_back(item);
        self.unfinished.set(self.unfinished.get() + 1);
        self.all_done.clear();
        self.getters.grant_one();
        Ok(())
    }

    /// Adds an item, waiting while the queue is full.
    pub async fn put(&self, item: T) {
        let mut item = item;
        loop {
            match self.try_put(item) {
                Ok(()) => return,
                Err((_, back)) => item = back,
            }
            self.putters.wait().await;
        }
    }

    /// Takes an item without waiting.
    pub fn try_get(&self) -> Result<T, QueueError> {
        let item = self
            .items
            .borrow_mut()
            .pop_front()
            .ok_or(QueueError::Empty)?;
        self.putters.grant_one();
        Ok(item)
    }

    /// Takes an item, waiting while the queue is empty.
    pub async fn get(&self) -> T {
        loop {
            if let Ok(item) = self.try_get() {
                return item;
            }
            self.getters.wait().await;
        }
    }

    /// Waits until an item may be available (for channels built on the queue).
    pub(crate) async fn wait_for_item(&self) {
        if self.is_empty() {
            self.getters.wait().await;
        }
    }

    /// Wakes every waiting consumer (a channel's senders all went away).
    pub(crate) fn wake_getters(&self) {
        self.getters.grant_all();
    }

    /// Marks one item taken with `get` as processed.
    pub fn task_done(&self) -> Result<(), QueueError> {
        let left = self
            .unfinished
            .get()
            .checked_sub(1)
            .ok_or(QueueError::TooManyTaskDone)?;
        self.unfinished.set(left);
        if left == 0 {
            self.all_done.set();
        }
        Ok(())
    }

    /// Waits until every item put so far has been marked `task_done`.
    pub async fn join(&self) {
        self.all_done.wait().await;
    }
}
