//! `Event` and `Notify`.

use super::waiters::Waiters;
use std::cell::Cell;

/// A flag tasks can wait for (asyncio's `Event`).
///
/// ```
/// use ringloop::sync::Event;
/// use std::rc::Rc;
/// ringloop::run(async {
///     let ready = Rc::new(Event::new());
///     let r2 = ready.clone();
///     let waiter = ringloop::spawn(async move { r2.wait().await; "saw it" });
///     ready.set();
///     assert_eq!(waiter.await.unwrap(), "saw it");
/// }).unwrap();
/// ```
#[derive(Default)]
pub struct Event {
    set: Cell<bool>,
    waiters: Waiters,
}

impl Event {
    /// An unset event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.set.set(true);
        self.waiters.grant_all();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.set.set(false);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Waits until the flag is set (returns at once if it is).
    pub async fn wait(&self) {
        while !self.set.get() {
            self.waiters.wait().await;
        }
    }
}

/// Wakes one waiting task, or stores one wake-up for the next task that waits (like
/// tokio's `Notify`).
///
/// ```
/// use ringloop::sync::Notify;
/// ringloop::run(async {
///     let notify = Notify::new();
///     notify.notify_one();          // stored…
///     notify.notified().await;      // …and consumed here without waiting
/// }).unwrap();
/// ```
#[derive(Default)]
pub struct Notify {
    stored: Cell<bool>,
    waiters: Waiters,
}

impl Notify {
    /// A notifier with no stored wake-up.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes the longest waiter, or stores one wake-up if nobody waits.
    pub fn notify_one(&self) {
        if !self.waiters.grant_one() {
            self.stored.set(true);
        }
    }

    /// Wakes every current waiter (stores nothing).
    pub fn notify_waiters(&self) {
        self.waiters.grant_all();
    }

    /// Waits for a notification.
    pub async fn notified(&self) {
        if self.stored.replace(false) {
            return;
        }
        self.waiters.wait().await;
    }
}
