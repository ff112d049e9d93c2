//! `Mutex`: an async lock for tasks on one loop.

use super::semaphore::{Permit, Semaphore};
use std::cell::{RefCell, RefMut};
use std::ops::{Deref, DerefMut};

/// An async mutual-exclusion lock (asyncio's `Lock`, holding a value). FIFO-fair; the
/// guard may be held across `.await`.
///
/// ```
/// use ringloop::sync::Mutex;
/// use std::rc::Rc;
/// ringloop::run(async {
///     let counter = Rc::new(Mutex::new(0));
///     let tasks: Vec<_> = (0..10).map(|_| {
///         let counter = counter.clone();
///         ringloop::spawn(async move {
///             let mut n = counter.lock().await;
///             ringloop::yield_now().await; // held across an await
///             *n += 1;
///         })
///     }).collect();
///     for t in tasks { t.await.unwrap(); }
///     assert_eq!(*counter.lock().await, 10);
/// }).unwrap();
/// ```
pub struct Mutex<T> {
    gate: Semaphore,
    value: RefCell<T>,
}

/// Access to the value; the lock is released when it drops.
pub struct MutexGuard<'a, T> {
    // Field order matters: the borrow ends before the permit is released.
    value: RefMut<'a, T>,
    _permit: Permit<'a>,
}

impl<T> Mutex<T> {
    /// A mutex holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            gate: Semaphore::new(1),
            value: RefCell::new(value),
        }
    }

    /// Waits for the lock.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        let permit = self.gate.acquire().await;
        MutexGuard {
            value: self.value.borrow_mut(),
            _permit: permit,
        }
    }

    /// The lock if it is free and nobody waits for it.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let permit = self.gate.try_acquire()?;
        Some(MutexGuard {
            value: self.value.borrow_mut(),
            _permit: permit,
        })
    }

    /// Whether someone holds the lock.
    pub fn is_locked(&self) -> bool {
        self.gate.available_permits() == 0
    }

    /// The value, when no one else can hold the lock.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}
