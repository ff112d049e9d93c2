//! The readiness-to-completion shim: the same ops, on epoll.
//!
//! An op first tries its syscall on the non-blocking descriptor. Only on `EAGAIN`
//! (or `EINPROGRESS` for connect) does the fd get registered (once, edge-triggered,
//! for both directions) and the op's waker parked on it; the wake makes the op future
//! try again. Ops that can block without ever saying `EAGAIN` run on the blocking pool
//! and come back through the op-slot lifecycle, exactly like io_uring completions, so a
//! dropped future's buffers stay alive until the pool thread is done with them.

mod direct;

use super::lifecycle::{io_to_raw, Action, Event, OpSlab, Orphan, RawResult};
use super::shared_fd::{FdKind, SharedFd};
use super::user_data::OpKey;
use super::{Interest, OpSpec, Releases, Shim, Start, WaitToken};
use crate::runtime::shared::Shared;
use crate::runtime::stats::DriverCounters;
use crate::sys::{self, syscall::Syscall};
use direct::DirectSlot;
use slab::Slab;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The epoll token of the wake eventfd.
const WAKER_TOKEN: u64 = u64::MAX;
const EVENTS_PER_WAIT: usize = 1024;

/// Op futures parked on an fd (everything but a stream transport's direct path), per
/// direction. Kept out of line: most registrations never have one.
#[derive(Default)]
struct OpWaiters {
    readers: Vec<(u64, Waker)>,
    writers: Vec<(u64, Waker)>,
}

impl OpWaiters {
    fn list(&mut self, interest: Interest) -> &mut Vec<(u64, Waker)> {
        match interest {
            Interest::Read => &mut self.readers,
            Interest::Write => &mut self.writers,
        }
    }
}

/// One cache line (with the slab's tag, which lives in a niche): a message on a stream
/// transport touches its flags and direct slot, and nothing else of it.
#[repr(align(64))]
struct Registration {
    waiters: Option<Box<OpWaiters>>,
    /// The stream transport's task, parked by a direct transfer (see `direct`).
    direct_reader: DirectSlot,
    direct_writer: DirectSlot,
    /// False once a syscall showed the direction drained; true again on its next edge.
    read_ready: bool,
    write_ready: bool,
    /// The peer closed (or the socket failed): no edge will ever come again, so the
    /// direction stays ready whatever a short transfer suggests.
    read_closed: bool,
    write_closed: bool,
}

impl Default for Registration {
    fn default() -> Self {
        Registration {
            waiters: None,
            direct_reader: DirectSlot::default(),
            direct_writer: DirectSlot::default(),
            read_ready: true,
            write_ready: true,
            read_closed: false,
            write_closed: false,
        }
    }
}

impl Registration {
    /// Wakes the op futures parked for `interest`, if any.
    fn wake_waiters(&mut self, interest: Interest) {
        if let Some(waiters) = &mut self.waiters {
            for (_, waker) in waiters.list(interest).drain(..) {
                waker.wake();
            }
        }
    }
}

/// The direction a successful stream transfer of `done` bytes left drained: a read or
/// write shorter than asked found the socket empty or full.
fn drained_by(syscall: &Syscall, done: u32) -> Option<Interest> {
    match *syscall {
        Syscall::Recv { len, .. } if done > 0 && (done as usize) < len => Some(Interest::Read),
        Syscall::Send { len, .. } if (done as usize) < len => Some(Interest::Write),
        _ => None,
    }
}

pub(crate) struct EpollDriver {
    epfd: OwnedFd,
    pub(crate) ops: OpSlab,
    registrations: Slab<Registration>,
    events: Vec<libc::epoll_event>,
    use_pwait2: bool,
    next_waiter: u64,
    pub(crate) counters: DriverCounters,
    pub(crate) releases: Releases,
    shared: Arc<Shared>,
}

fn would_block(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EAGAIN) | Some(libc::EINPROGRESS)
    )
}

impl EpollDriver {
    pub(crate) fn new(shared: Arc<Shared>) -> io::Result<Self> {
        let epfd = sys::epoll_create()?;
        sys::epoll_ctl(
            epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            shared.eventfd.raw(),
            libc::EPOLLIN as u32,
            WAKER_TOKEN,
        )?;
        Ok(Self {
            epfd,
            ops: OpSlab::new(),
            registrations: Slab::new(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_WAIT],
            use_pwait2: true,
            next_waiter: 0,
            counters: DriverCounters::default(),
            releases: Vec::new(),
            shared,
        })
    }

    /// Starts (or, with `retry`, re-attempts after a readiness wake) an op.
    pub(crate) fn start<T: OpSpec>(
        &mut self,
        spec: &mut T,
        cx: &mut Context<'_>,
        retry: Option<WaitToken>,
    ) -> Start {
        let known = match spec.shim() {
            Shim::Poll(fd, interest) => self.registered(fd).map(|r| (r, interest)),
            _ => None,
        };
        if retry.is_none() {
            self.counters.ops_submitted += 1;
            // A first attempt on a descriptor known to be drained waits for its next edge
            // instead of making a syscall that would only say EAGAIN (checked before the
            // syscall is even built). A retry always tries: wakes also come from
            // deregistration, which must reach the syscall.
            if let Some((registration, interest)) = known {
                if !self.is_ready(registration, interest) {
                    return self.park_registered(registration, None, interest, cx);
                }
            }
        }
        let syscall = spec.syscall();
        match spec.shim() {
            Shim::Inline => self.finish(Self::perform(&syscall)),
            Shim::Pool => self.start_on_pool(syscall, cx),
            Shim::Poll(fd, interest) => {
                let result = match (retry, &syscall) {
                    (Some(_), Syscall::Connect { fd, .. }) => Syscall::finish_connect(*fd),
                    _ => Self::perform(&syscall),
                };
                match result {
                    Err(e) if would_block(&e) => self.park(fd, retry, interest, cx),
                    other => {
                        if let (Ok(done), Some((registration, _))) = (&other, known) {
                            if fd.kind() == FdKind::Stream {
                                if let Some(drained) = drained_by(&syscall, *done) {
                                    self.set_ready(registration, drained, false);
                                }
                            }
                        }
                        if let Some(token) = retry {
                            self.stop_waiting(token);
                        }
                        self.finish(other)
                    }
                }
            }
        }
    }

    /// Registers `fd` if needed, marks it not ready for `interest` (the syscall just said
    /// EAGAIN, or a short transfer drained it), and parks the op's waker until the next edge.
    fn park(
        &mut self,
        fd: &SharedFd,
        retry: Option<WaitToken>,
        interest: Interest,
        cx: &mut Context<'_>,
    ) -> Start {
        match self.register(fd) {
            Ok(registration) => self.park_registered(registration, retry, interest, cx),
            Err(e) => self.finish(Err(e)),
        }
    }

    /// [`park`](Self::park) for a descriptor already registered here.
    fn park_registered(
        &mut self,
        registration: u32,
        retry: Option<WaitToken>,
        interest: Interest,
        cx: &mut Context<'_>,
    ) -> Start {
        self.set_ready(registration, interest, false);
        let waiter = match retry {
            Some(token) if token.registration == registration => token.waiter,
            _ => {
                self.next_waiter += 1;
                self.next_waiter
            }
        };
        self.add_waiter(registration, waiter, interest, cx.waker());
        Start::Waiting(WaitToken {
            registration,
            waiter,
            interest,
        })
    }

    /// `fd`'s registration on this loop, if it has one.
    fn registered(&self, fd: &SharedFd) -> Option<u32> {
        let (loop_id, registration) = fd.registration()?;
        (loop_id == self.shared.loop_id.get() && self.registrations.contains(registration as usize))
            .then_some(registration)
    }

    fn is_ready(&self, registration: u32, interest: Interest) -> bool {
        self.registrations
            .get(registration as usize)
            .is_none_or(|reg| match interest {
                Interest::Read => reg.read_ready || reg.read_closed,
                Interest::Write => reg.write_ready || reg.write_closed,
            })
    }

    fn set_ready(&mut self, registration: u32, interest: Interest, ready: bool) {
        if let Some(reg) = self.registrations.get_mut(registration as usize) {
            match interest {
                Interest::Read => reg.read_ready = ready,
                Interest::Write => reg.write_ready = ready,
            }
        }
    }

    fn finish(&mut self, result: io::Result<u32>) -> Start {
        self.counters.ops_completed += 1;
        self.counters.completions += 1;
        Start::Done(result)
    }

    fn perform(syscall: &Syscall) -> io::Result<u32> {
        loop {
            #[cfg(feature = "fault-injection")]
            if super::faults::interrupt() {
                continue;
            }
            // SAFETY: the syscall's pointers address memory owned by the op being started,
            // which the caller holds borrowed for the duration of this call.
            match unsafe { syscall.perform() } {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                other => return other,
            }
        }
    }

    fn start_on_pool(&mut self, syscall: Syscall, cx: &mut Context<'_>) -> Start {
        let key = self.ops.insert(Some(cx.waker().clone()));
        let shared = self.shared.clone();
        let job = Box::new(move || {
            // A panic cannot come out of a syscall; report every outcome as a completion.
            let result = Self::perform(&syscall);
            shared.push_completion(key, io_to_raw(&result));
        });
        if let Err(err) = self.shared.pool.execute(job) {
            // Never queued: the slot was never seen by a pool thread; complete it now.
            self.complete(key, io_to_raw(&Err(err)));
        }
        Start::InFlight(key)
    }

    fn register(&mut self, fd: &SharedFd) -> io::Result<u32> {
        if let Some(registration) = self.registered(fd) {
            return Ok(registration);
        }
        let registration = self.registrations.insert(Registration::default()) as u32;
        let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        if let Err(err) = sys::epoll_ctl(
            self.epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd.raw(),
            events,
            registration as u64,
        ) {
            self.registrations.remove(registration as usize);
            return Err(err);
        }
        fd.set_registration(Some((self.shared.loop_id.get(), registration)));
        self.counters.registrations = self.registrations.len() as u64;
        Ok(registration)
    }

    fn add_waiter(&mut self, registration: u32, waiter: u64, interest: Interest, waker: &Waker) {
        let Some(reg) = self.registrations.get_mut(registration as usize) else {
            return;
        };
        let list = reg.waiters.get_or_insert_default().list(interest);
        match list.iter_mut().find(|(id, _)| *id == waiter) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => *w = waker.clone(),
            None => list.push((waiter, waker.clone())),
        }
    }

    pub(crate) fn stop_waiting(&mut self, token: WaitToken) {
        let Some(reg) = self.registrations.get_mut(token.registration as usize) else {
            return;
        };
        if let Some(waiters) = &mut reg.waiters {
            waiters
                .list(token.interest)
                .retain(|(id, _)| *id != token.waiter);
        }
    }

    /// Forgets an fd's registration; `fd` is given when it is still open (then `EPOLL_CTL_DEL`).
    pub(crate) fn deregister(&mut self, registration: u32, fd: Option<RawFd>) {
        let removed = self.registrations.try_remove(registration as usize);
        self.counters.registrations = self.registrations.len() as u64;
        if let Some(reg) = removed {
            if let Some(fd) = fd {
                let _ = sys::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
            // Anyone still parked here would never be woken: wake them to find the fd gone.
            let direct = [reg.direct_reader.waker, reg.direct_writer.waker];
            if let Some(waiters) = reg.waiters {
                for (_, waker) in waiters.readers.into_iter().chain(waiters.writers) {
                    waker.wake();
                }
            }
            for waker in direct.into_iter().flatten() {
                waker.wake();
            }
        }
    }

    pub(crate) fn poll_op(&mut self, key: OpKey, cx: &mut Context<'_>) -> Poll<RawResult> {
        match self.ops.transition(key, Event::Poll(cx)) {
            Action::Ready(res) => Poll::Ready(res),
            Action::Stale => Poll::Ready(-libc::ECANCELED),
            _ => Poll::Pending,
        }
    }

    pub(crate) fn orphan(&mut self, key: OpKey, data: Box<dyn Orphan>) {
        self.counters.ops_cancelled += 1;
        // A pool job cannot be interrupted: the slot keeps the data until its result arrives.
        if let Action::Release(data, res) = self.ops.transition(key, Event::Drop(data)) {
            self.releases.push((data, res));
        }
    }

    pub(crate) fn complete(&mut self, key: OpKey, res: RawResult) {
        self.counters.completions += 1;
        match self.ops.transition(key, Event::Complete(res)) {
            Action::Wake(waker) => {
                self.counters.ops_completed += 1;
                waker.wake();
            }
            Action::Release(data, res) => {
                self.counters.ops_completed += 1;
                self.releases.push((data, res));
            }
            _ => {}
        }
    }

    pub(crate) fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let may_block = timeout != Some(Duration::ZERO);
        let block = may_block && self.shared.park();
        let wait = if block { timeout } else { Some(Duration::ZERO) };
        self.counters.enters += 1;
        let result = sys::epoll_wait(
            self.epfd.as_raw_fd(),
            &mut self.events,
            wait,
            &mut self.use_pwait2,
        );
        if block {
            self.shared.unpark();
        }
        let n = match result {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => 0,
            Err(e) => return Err(e),
        };
        for i in 0..n {
            let event = self.events[i];
            let (token, bits) = (event.u64, event.events);
            if token == WAKER_TOKEN {
                self.shared.eventfd.drain();
                continue;
            }
            let Some(reg) = self.registrations.get_mut(token as usize) else {
                continue;
            };
            let failed = bits & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
            if failed || bits & libc::EPOLLRDHUP as u32 != 0 {
                reg.read_closed = true;
            }
            if failed {
                reg.write_closed = true;
            }
            if failed || bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32 != 0 {
                reg.read_ready = true;
                reg.direct_reader.wake();
                reg.wake_waiters(Interest::Read);
            }
            if failed || bits & libc::EPOLLOUT as u32 != 0 {
                reg.write_ready = true;
                reg.direct_writer.wake();
                reg.wake_waiters(Interest::Write);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Registration;

    #[test]
    fn a_registration_fills_exactly_one_cache_line() {
        assert_eq!(std::mem::size_of::<Registration>(), 64);
        assert_eq!(std::mem::align_of::<Registration>(), 64);
        // The slab's entries have this shape: its tag must fit in a niche of ours, or
        // every entry would take two lines again.
        #[allow(dead_code)]
        enum SlabEntry<T> {
            Vacant(usize),
            Occupied(T),
        }
        assert_eq!(std::mem::size_of::<SlabEntry<Registration>>(), 64);
    }
}
