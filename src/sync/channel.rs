//! Channels: `oneshot` and `mpsc` for tasks on one loop, and a `Send` channel that lets
//! other threads feed a loop.

use super::queue::Queue;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// The other end of a channel is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the other end of the channel was dropped")
    }
}

impl std::error::Error for Closed {}

struct OneshotState<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

/// Sends one value to a [`OneshotReceiver`] on the same loop.
pub struct OneshotSender<T>(Rc<RefCell<OneshotState<T>>>);
/// Receives the value of a [`OneshotSender`]; `Err(Closed)` if the sender was dropped.
pub struct OneshotReceiver<T>(Rc<RefCell<OneshotState<T>>>);

/// A channel for exactly one value.
///
/// ```
/// ringloop::run(async {
///     let (tx, rx) = ringloop::sync::oneshot();
///     ringloop::spawn(async move { tx.send(5).unwrap() });
///     assert_eq!(rx.recv().await, Ok(5));
/// }).unwrap();
/// ```
pub fn oneshot<T>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let state = Rc::new(RefCell::new(OneshotState {
        value: None,
        waker: None,
        sender_alive: true,
        receiver_alive: true,
    }));
    (OneshotSender(state.clone()), OneshotReceiver(state))
}

impl<T> OneshotSender<T> {
    /// Delivers `value`; gives it back if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        let mut s = self.0.borrow_mut();
        if !s.receiver_alive {
            return Err(value);
        }
        s.value = Some(value);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        Ok(())
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        let mut s = self.0.borrow_mut();
        s.sender_alive = false;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl<T> OneshotReceiver<T> {
    /// Waits for the value.
    pub async fn recv(self) -> Result<T, Closed> {
        poll_fn(|cx| {
            let mut s = self.0.borrow_mut();
            if let Some(v) = s.value.take() {
                return Poll::Ready(Ok(v));
            }
            if !s.sender_alive {
                return Poll::Ready(Err(Closed));
            }
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for OneshotReceiver<T> {
    fn drop(&mut self) {
        self.0.borrow_mut().receiver_alive = false;
    }
}

struct MpscShared<T> {
    queue: Queue<T>,
    senders: Cell<usize>,
    receiver_alive: Cell<bool>,
}

/// Sends into an [`mpsc`] channel; clone it for more producers.
pub struct Sender<T>(Rc<MpscShared<T>>);
/// Receives from an [`mpsc`] channel.
pub struct Receiver<T>(Rc<MpscShared<T>>);

/// A many-producer, one-consumer channel for tasks on one loop; `capacity` 0 is unbounded.
///
/// ```
/// ringloop::run(async {
///     let (tx, mut rx) = ringloop::sync::mpsc(8);
///     for i in 0..3 {
///         let tx = tx.clone();
///         ringloop::spawn(async move { tx.send(i).await.unwrap() });
///     }
///     drop(tx);
///     let mut got = Vec::new();
///     while let Some(v) = rx.recv().await { got.push(v); }
///     got.sort();
///     assert_eq!(got, [0, 1, 2]);
/// }).unwrap();
/// ```
pub fn mpsc<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(MpscShared {
        queue: Queue::bounded(capacity),
        senders: Cell::new(1),
        receiver_alive: Cell::new(true),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Sends, waiting while the channel is full; gives the value back if the receiver is gone.
    pub async fn send(&self, value: T) -> Result<(), T> {
        if !self.0.receiver_alive.get() {
            return Err(value);
        }
        self.0.queue.put(value).await;
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.senders.set(self.0.senders.get() + 1);
        Sender(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let left = self.0.senders.get() - 1;
        self.0.senders.set(left);
        if left == 0 {
            // Wake the receiver so it sees the end of the stream.
            self.0.queue.wake_getters();
        }
    }
}

impl<T> Receiver<T> {
    /// The next value; `None` once every sender is gone and the channel is drained.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            if let Ok(v) = self.0.queue.try_get() {
                return Some(v);
            }
            if self.0.senders.get() == 0 {
                return None;
            }
            self.0.queue.wait_for_item().await;
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.0.receiver_alive.set(false);
    }
}

struct RemoteShared<T> {
    items: Mutex<(VecDeque<T>, Option<Waker>)>,
    senders: AtomicUsize,
}

/// The `Send` half of [`channel`]: other threads push values into a loop with it.
pub struct RemoteSender<T>(Arc<RemoteShared<T>>);
/// The loop's half of [`channel`].
pub struct RemoteReceiver<T>(Arc<RemoteShared<T>>);

/// An unbounded channel whose sender is `Send + Clone`: threads outside the loop feed
/// tasks inside it, waking the loop if it is parked.
///
/// ```
/// ringloop::run(async {
///     let (tx, mut rx) = ringloop::sync::channel();
///     std::thread::spawn(move || for i in 0..3 { tx.send(i).unwrap() });
///     let mut got = Vec::new();
///     while let Some(v) = rx.recv().await { got.push(v); }
///     assert_eq!(got, [0, 1, 2]);
/// }).unwrap();
/// ```
pub fn channel<T: Send>() -> (RemoteSender<T>, RemoteReceiver<T>) {
    let shared = Arc::new(RemoteShared {
        items: Mutex::new((VecDeque::new(), None)),
        senders: AtomicUsize::new(1),
    });
    (RemoteSender(shared.clone()), RemoteReceiver(shared))
}

impl<T: Send> RemoteSender<T> {
    /// Sends from any thread; fails only if the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), T> {
        if Arc::strong_count(&self.0) == self.0.senders.load(Ordering::Acquire) {
            return Err(value);
        }
        let mut items = self.0.items.lock().unwrap_or_else(|e| e.into_inner());
        items.0.push_back(value);
        let waker = items.1.take();
        drop(items);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl<T> Clone for RemoteSender<T> {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::AcqRel);
        RemoteSender(self.0.clone())
    }
}

impl<T> Drop for RemoteSender<T> {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            let waker = self
                .0
                .items
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .1
                .take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl<T> RemoteReceiver<T> {
    /// The next value; `None` once every sender is gone and the channel is drained.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut items = self.0.items.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(v) = items.0.pop_front() {
                return Poll::Ready(Some(v));
            }
            if self.0.senders.load(Ordering::Acquire) == 0 {
                return Poll::Ready(None);
            }
            items.1 = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}
