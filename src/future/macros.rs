//! `race!` and `join!`: two futures polled together inside one async body, pinned in place.
//!
//! The functions [`race`](crate::future::race) and friends are async fns, and an async fn
//! keeps the futures it is given twice in its state: once as its arguments, once as the
//! pinned locals it polls. For small futures that does not matter; for big ones (a
//! connection's read and write loops, say) it doubles the task's memory and the cache
//! lines every poll touches. These macros expand in the caller's body instead, so each
//! future is stored once, with no allocation. ringloop's own transports use the same
//! technique (their connection task shrank from 3.8 KB to 1.1 KB).

/// Waits for the first of two futures and drops (cancels) the other; must be used inside
/// an async body. Evaluates to [`Either`](crate::future::Either): `Left` if the first
/// finished, `Right` if the second did; when both are ready in the same poll, the first
/// wins. Like [`race`](crate::future::race), but each future is stored once.
///
/// ```
/// use ringloop::future::Either;
/// use std::time::Duration;
/// ringloop::run(async {
///     let won = ringloop::race!(ringloop::time::sleep(Duration::from_secs(60)), async { "fast" });
///     assert_eq!(won, Either::Right("fast"));
/// }).unwrap();
/// ```
#[macro_export]
macro_rules! race {
    ($first:expr, $second:expr $(,)?) => {{
        let mut first = ::core::pin::pin!($first);
        let mut second = ::core::pin::pin!($second);
        ::core::future::poll_fn(|cx| {
            if let ::core::task::Poll::Ready(v) = ::core::future::Future::poll(first.as_mut(), cx) {
                return ::core::task::Poll::Ready($crate::future::Either::Left(v));
            }
            if let ::core::task::Poll::Ready(v) = ::core::future::Future::poll(second.as_mut(), cx)
            {
                return ::core::task::Poll::Ready($crate::future::Either::Right(v));
            }
            ::core::task::Poll::Pending
        })
        .await
    }};
}

/// Runs two futures concurrently until both finish; must be used inside an async body.
/// Evaluates to the tuple of their outputs (asyncio's `gather(a, b)`). A finished future
/// is not polled again. Like [`join_all`](crate::future::join_all) for two futures of
/// different types, with each stored once and no allocation.
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let (a, b) = ringloop::join!(
///         async { ringloop::time::sleep(Duration::from_millis(5)).await; 1 },
///         async { "two" },
///     );
///     assert_eq!((a, b), (1, "two"));
/// }).unwrap();
/// ```
#[macro_export]
macro_rules! join {
    ($first:expr, $second:expr $(,)?) => {{
        let mut first = ::core::pin::pin!($first);
        let mut second = ::core::pin::pin!($second);
        let mut first_out = ::core::option::Option::None;
        let mut second_out = ::core::option::Option::None;
        ::core::future::poll_fn(|cx| {
            if first_out.is_none() {
                if let ::core::task::Poll::Ready(v) =
                    ::core::future::Future::poll(first.as_mut(), cx)
                {
                    first_out = ::core::option::Option::Some(v);
                }
            }
            if second_out.is_none() {
                if let ::core::task::Poll::Ready(v) =
                    ::core::future::Future::poll(second.as_mut(), cx)
                {
                    second_out = ::core::option::Option::Some(v);
                }
            }
            match (first_out.take(), second_out.take()) {
                (::core::option::Option::Some(a), ::core::option::Option::Some(b)) => {
                    ::core::task::Poll::Ready((a, b))
                }
                (a, b) => {
                    first_out = a;
                    second_out = b;
                    ::core::task::Poll::Pending
                }
            }
        })
        .await
    }};
}
