//! `Promise<T>`: asyncio's `Future`: settled by hand, awaited by many, with done-callbacks.

use crate::sync::Event;
use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;

/// Why awaiting a [`Promise`] produced no value, or why settling it failed.
#[derive(Debug, Clone)]
pub enum PromiseError {
    /// The promise was cancelled.
    Cancelled,
    /// The promise was settled with an error.
    Failed(Rc<dyn Error>),
    /// `set_result`, `set_error` or `cancel` on a promise that was already settled.
    AlreadySettled,
}

impl fmt::Display for PromiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromiseError::Cancelled => f.write_str("the promise was cancelled"),
            PromiseError::Failed(e) => write!(f, "the promise failed: {e}"),
            PromiseError::AlreadySettled => {
                f.write_str("the promise is already settled (asyncio's InvalidStateError)")
            }
        }
    }
}

impl Error for PromiseError {}

enum State<T> {
    Pending,
    Value(T),
    Failed(Rc<dyn Error>),
    Cancelled,
}

type Callback<T> = Box<dyn FnOnce(&Promise<T>)>;

struct Inner<T> {
    state: RefCell<State<T>>,
    settled: Event,
    callbacks: RefCell<Vec<Callback<T>>>,
}

/// A value that arrives later, set by whoever holds the promise (asyncio's `Future`).
/// Clones share one promise; any number of tasks may await it (`T: Clone`).
///
/// ```
/// use ringloop::future::Promise;
/// ringloop::run(async {
///     let promise = Promise::new();
///     let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
///     let l2 = log.clone();
///     promise.add_done_callback(move |p: &Promise<u32>| l2.borrow_mut().push(p.result().unwrap().unwrap()));
///     let waiter = ringloop::spawn({ let p = promise.clone(); async move { p.await } });
///     promise.set_result(7).unwrap();
///     assert!(promise.set_result(8).is_err(), "settling twice is an error, not a panic");
///     assert_eq!(waiter.await.unwrap().unwrap(), 7);
///     ringloop::yield_now().await;
///     assert_eq!(*log.borrow(), [7]);
/// }).unwrap();
/// ```
pub struct Promise<T> {
    inner: Rc<Inner<T>>,
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static> Default for Promise<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> Promise<T> {
    /// A pending promise.
    pub fn new() -> Self {
        Self {
            inner: Rc::new(Inner {
                state: RefCell::new(State::Pending),
                settled: Event::new(),
                callbacks: RefCell::new(Vec::new()),
            }),
        }
    }

    fn settle(&self, state: State<T>) -> Result<(), PromiseError> {
        {
            let mut current = self.inner.state.borrow_mut();
            if !matches!(*current, State::Pending) {
                return Err(PromiseError::AlreadySettled);
            }
            *current = state;
        }
        self.inner.settled.set();
        self.schedule_callbacks();
        Ok(())
    }

    /// Settles with a value.
    pub fn set_result(&self, value: T) -> Result<(), PromiseError> {
        self.settle(State::Value(value))
    }

    /// Settles with an error.
    pub fn set_error(&self, error: impl Into<Box<dyn Error>>) -> Result<(), PromiseError> {
        self.settle(State::Failed(Rc::from(error.into())))
    }

    /// Cancels a pending promise; `false` if it was already settled.
    pub fn cancel(&self) -> bool {
        self.settle(State::Cancelled).is_ok()
    }

    /// Whether the promise is settled (value, error or cancelled).
    pub fn is_done(&self) -> bool {
        !matches!(*self.inner.state.borrow(), State::Pending)
    }

    /// Whether the promise was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(*self.inner.state.borrow(), State::Cancelled)
    }

    /// Runs `callback` on the loop once the promise is settled: on the turn after it
    /// settles (or the next turn, if it already has), in registration order.
    pub fn add_done_callback(&self, callback: impl FnOnce(&Promise<T>) + 'static) {
        self.inner.callbacks.borrow_mut().push(Box::new(callback));
        if self.is_done() {
            self.schedule_callbacks();
        }
    }

    fn schedule_callbacks(&self) {
        let callbacks: Vec<Callback<T>> = std::mem::take(&mut *self.inner.callbacks.borrow_mut());
        if callbacks.is_empty() {
            return;
        }
        let promise = self.clone();
        let run = move || {
            for callback in callbacks {
                callback(&promise);
            }
        };
        if let Err(run) = crate::runtime::call_soon_local(run) {
            // No loop on this thread: run them now rather than never.
            run();
        }
    }
}

impl<T: Clone + 'static> Promise<T> {
    /// The outcome if settled.
    pub fn result(&self) -> Option<Result<T, PromiseError>> {
        match &*self.inner.state.borrow() {
            State::Pending => None,
            State::Value(v) => Some(Ok(v.clone())),
            State::Failed(e) => Some(Err(PromiseError::Failed(e.clone()))),
            State::Cancelled => Some(Err(PromiseError::Cancelled)),
        }
    }

    /// Waits for the outcome.
    pub async fn wait(&self) -> Result<T, PromiseError> {
        self.inner.settled.wait().await;
        self.result().expect("settled")
    }
}

impl<T: Clone + 'static> IntoFuture for Promise<T> {
    type Output = Result<T, PromiseError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.wait().await })
    }
}
