//! A hierarchical hashed timing wheel (Varghese & Lauck, scheme 7).
//!
//! Six levels of 64 slots each; level `L` slots are `64^L` ticks (milliseconds)
//! wide, so the wheel spans 2^36 ticks (about 2.2 years) and deadlines beyond
//! that park in the top level and are re-placed when their slot comes round.
//! An entry sits at the level of the highest 6-bit digit in which its deadline
//! differs from the wheel's current time, so a level's entries are always later
//! than every entry below it. Each level keeps a 64-bit occupancy map, which makes
//! "when is the next expiry?" a few bit operations: an idle loop holding a
//! million far timers sleeps until the first slot that really needs attention,
//! instead of waking every tick (plain round-counting wheels cannot do that).
//!
//! Insert, cancel and reset are O(1): entries live in a generation-checked slab
//! and are linked into per-slot intrusive lists. The wheel is pure: it never
//! reads a clock; the loop tells it what time it is, in ticks.
//!
//! A timer can also be armed with only a delay ([`Wheel::insert_pending`]): it waits in
//! a pending list until the owner fixes every pending start at once
//! ([`Wheel::resolve_pending`]). The runtime uses this so that `sleep(d)` needs no clock
//! read of its own: the loop reads the clock once at the end of the turn and counts every
//! delay armed during the turn from that later moment (never early, see `time::sleep`).

const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const LEVELS: usize = 6;
/// Ticks covered by the whole wheel.
const SPAN: u64 = 1 << (SLOT_BITS as u64 * LEVELS as u64);
const NIL: u32 = u32::MAX;
/// The `prev` link of an entry `pop_expired` handed out (it is unlinked, so the link is
/// free): tells a fired entry from a cancelled one for `fired_at`.
const FIRED: u32 = NIL - 1;
/// The list of entries that are due but not yet handed out.
const EXPIRED_LIST: u16 = (LEVELS * SLOTS) as u16;
/// The list of entries armed with a delay whose start is not fixed yet.
const PENDING_LIST: u16 = EXPIRED_LIST + 1;
const LISTS: usize = LEVELS * SLOTS + 2;

/// A handle to one timer; stale handles (after the timer was removed) are ignored.
///
/// The entry's index and generation packed in one word: a single scalar, so a key and
/// its loop id travel as a register pair (two 4-byte fields made callers write it in
/// pieces and read it back whole, stalling store forwarding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey(u64);

impl TimerKey {
    fn new(index: u32, generation: u32) -> Self {
        Self(u64::from(generation) << 32 | u64::from(index))
    }

    fn index(self) -> u32 {
        self.0 as u32
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Vacant,
    /// Linked into list `0..LEVELS*SLOTS` (a slot), [`EXPIRED_LIST`] or [`PENDING_LIST`].
    Linked(u16),
}

/// When an armed timer is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// At this tick.
    At(u64),
    /// This long after a start the owner has not fixed yet (see [`Wheel::insert_pending`]).
    AfterPending(u64),
}

struct Entry<T> {
    /// The deadline tick; in the pending list, the delay instead.
    deadline: u64,
    prev: u32,
    next: u32,
    generation: u32,
    place: Place,
    payload: Option<T>,
}

/// The timing wheel, generic over what a timer carries (the runtime uses a `Waker`).
pub(crate) struct Wheel<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    /// Entries handed out by `pop_expired` since the last `advance`: not reused until then,
    /// so that an owner woken by its timer can still read when it was due (`fired_at`).
    fired: Vec<u32>,
    heads: Vec<u32>,
    /// Lists are FIFO: timers due in the same turn fire in deadline order, and timers with
    /// the same deadline in the order they were armed.
    tails: Vec<u32>,
    occupied: [u64; LEVELS],
    /// Entries in the pending list.
    pending: usize,
    /// The tick up to which every due entry has been moved to the expired list.
    elapsed: u64,
    armed: usize,
}

struct Expiry {
    level: usize,
    slot: usize,
    deadline: u64,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Wheel<T> {
    pub(crate) fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            fired: Vec::new(),
            heads: vec![NIL; LISTS],
            tails: vec![NIL; LISTS],
            occupied: [0; LEVELS],
            pending: 0,
            elapsed: 0,
            armed: 0,
        }
    }

    /// Timers that have not fired yet (armed or due-but-not-popped).
    pub(crate) fn len(&self) -> usize {
        self.armed
    }

    /// The tick of the last `advance`: every deadline at or before it has passed.
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Adds a timer due at tick `deadline` (any value, including the past and `u64::MAX`).
    pub(crate) fn insert(&mut self, deadline: u64, payload: T) -> TimerKey {
        let key = self.occupy(deadline, Some(payload));
        self.place(key.index());
        key
    }

    /// Adds a timer due `delay` after a start fixed later by [`Wheel::resolve_pending`],
    /// without payload yet (set one with [`Wheel::payload_mut`]). It counts as armed and
    /// keeps [`Wheel::next_wake`] at "now" until resolved.
    pub(crate) fn insert_pending(&mut self, delay: u64) -> TimerKey {
        let key = self.occupy(delay, None);
        self.link(key.index(), PENDING_LIST);
        self.pending += 1;
        key
    }

    /// Whether some timer waits for [`Wheel::resolve_pending`].
    pub(crate) fn has_pending(&self) -> bool {
        self.pending > 0
    }

    /// How many timers wait for [`Wheel::resolve_pending`].
    pub(crate) fn pending_len(&self) -> usize {
        self.pending
    }

    /// Fixes the start of every pending timer: each is placed at tick `deadline_of(delay)`,
    /// in the order they were armed.
    pub(crate) fn resolve_pending(&mut self, mut deadline_of: impl FnMut(u64) -> u64) {
        let mut index = self.heads[PENDING_LIST as usize];
        self.heads[PENDING_LIST as usize] = NIL;
        self.tails[PENDING_LIST as usize] = NIL;
        self.pending = 0;
        while index != NIL {
            let entry = &mut self.entries[index as usize];
            let next = entry.next;
            entry.deadline = deadline_of(entry.deadline);
            self.place(index);
            index = next;
        }
    }

    /// When a live timer is due; `None` for a stale key.
    pub(crate) fn due(&self, key: TimerKey) -> Option<Due> {
        let entry = self.entry(key)?;
        Some(match entry.place {
            Place::Linked(PENDING_LIST) => Due::AfterPending(entry.deadline),
            _ => Due::At(entry.deadline),
        })
    }

    /// The tick a fired timer was due at, while its entry has not been reused (at least
    /// until the next [`Wheel::advance`]); `None` for a timer that is armed, was
    /// cancelled, or whose entry was reused.
    pub(crate) fn fired_at(&self, key: TimerKey) -> Option<u64> {
        self.entries
            .get(key.index() as usize)
            .filter(|e| {
                e.place == Place::Vacant
                    && e.prev == FIRED
                    && e.generation == key.generation().wrapping_add(1)
            })
            .map(|e| e.deadline)
    }

    /// Takes a vacant entry and fills it (unlinked).
    fn occupy(&mut self, deadline: u64, payload: Option<T>) -> TimerKey {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    deadline: 0,
                    prev: NIL,
                    next: NIL,
                    generation: 0,
                    place: Place::Vacant,
                    payload: None,
                });
                (self.entries.len() - 1) as u32
            }
        };
        let entry = &mut self.entries[index as usize];
        entry.deadline = deadline;
        entry.payload = payload;
        self.armed += 1;
        TimerKey::new(index, entry.generation)
    }

    fn entry(&self, key: TimerKey) -> Option<&Entry<T>> {
        self.entries
            .get(key.index() as usize)
            .filter(|e| e.generation == key.generation() && e.place != Place::Vacant)
    }

    /// Whether the timer is still armed. Fired timers are freed as they are handed out,
    /// so their owner sees a stale key: that is how it knows the timer fired.
    #[cfg(test)]
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        self.entry(key).is_some()
    }

    /// Replaces the payload of a live timer (the runtime refreshes the waker this way).
    pub(crate) fn payload_mut(&mut self, key: TimerKey) -> Option<&mut Option<T>> {
        self.entry(key)?;
        Some(&mut self.entries[key.index() as usize].payload)
    }

    /// Cancels a timer, returning its payload; `None` for a stale key (already fired or
    /// removed). O(1).
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        self.entry(key)?;
        self.unlink(key.index());
        self.armed -= 1;
        let payload = self.vacate(key.index());
        self.free.push(key.index());
        payload
    }

    /// Marks an unlinked entry vacant (its keys go stale) and takes its payload.
    fn vacate(&mut self, index: u32) -> Option<T> {
        let entry = &mut self.entries[index as usize];
        entry.place = Place::Vacant;
        entry.generation = entry.generation.wrapping_add(1);
        entry.payload.take()
    }

    /// Moves an armed timer (pending or not) to a new deadline. O(1). `false` for a stale
    /// key.
    pub(crate) fn reset(&mut self, key: TimerKey, deadline: u64) -> bool {
        if self.entry(key).is_none() {
            return false;
        }
        self.unlink(key.index());
        self.entries[key.index() as usize].deadline = deadline;
        self.place(key.index());
        true
    }

    /// The tick at which the loop must next call [`Wheel::advance`], if any timer is armed.
    /// It may be earlier than a real deadline (a far timer being re-placed), never later.
    pub(crate) fn next_wake(&self) -> Option<u64> {
        if self.heads[EXPIRED_LIST as usize] != NIL || self.has_pending() {
            return Some(self.elapsed);
        }
        self.next_expiry().map(|e| e.deadline)
    }

    /// Moves every timer due at or before `now` to the expired list.
    pub(crate) fn advance(&mut self, now: u64) {
        self.free.append(&mut self.fired);
        while let Some(exp) = self.next_expiry() {
            if exp.deadline > now {
                break;
            }
            self.elapsed = self.elapsed.max(exp.deadline);
            self.cascade(exp.level, exp.slot);
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Hands out one due timer's payload and frees its entry. The loop calls this a bounded
    /// number of times per turn so that a burst of timers cannot starve I/O.
    pub(crate) fn pop_expired(&mut self) -> Option<(TimerKey, Option<T>)> {
        let index = self.heads[EXPIRED_LIST as usize];
        if index == NIL {
            return None;
        }
        self.unlink(index);
        self.armed -= 1;
        let key = TimerKey::new(index, self.entries[index as usize].generation);
        let payload = self.vacate(index);
        self.entries[index as usize].prev = FIRED;
        self.fired.push(index);
        Some((key, payload))
    }

    fn next_expiry(&self) -> Option<Expiry> {
        for level in 0..LEVELS {
            let occupied = self.occupied[level];
            if occupied == 0 {
                continue;
            }
            let shift = SLOT_BITS * level as u32;
            let pos = ((self.elapsed >> shift) as usize) & (SLOTS - 1);
            let distance = occupied.rotate_right(pos as u32).trailing_zeros() as u64;
            let slot_width = 1u64 << shift;
            let level_width = slot_width << SLOT_BITS;
            let level_start = self.elapsed & !(level_width - 1);
            let deadline = level_start.saturating_add((pos as u64 + distance) * slot_width);
            let slot = (pos + distance as usize) & (SLOTS - 1);
            return Some(Expiry {
                level,
                slot,
                deadline,
            });
        }
        None
    }

    fn cascade(&mut self, level: usize, slot: usize) {
        let list = (level * SLOTS + slot) as u16;
        let mut index = self.heads[list as usize];
        self.heads[list as usize] = NIL;
        self.tails[list as usize] = NIL;
        self.occupied[level] &= !(1u64 << slot);
        while index != NIL {
            let next = self.entries[index as usize].next;
            self.place(index);
            index = next;
        }
    }

    /// Links entry `index` where its deadline belongs relative to `elapsed`.
    fn place(&mut self, index: u32) {
        let deadline = self.entries[index as usize].deadline;
        let list = if deadline <= self.elapsed {
            EXPIRED_LIST
        } else {
            let differing = self.elapsed ^ deadline;
            let (level, slot) = if differing >= SPAN {
                // Beyond the wheel: park in the top level's farthest slot; it is re-placed
                // (never fired early: its true deadline is kept) when that slot comes round.
                let top = LEVELS - 1;
                let pos = (self.elapsed >> (SLOT_BITS * top as u32)) as usize & (SLOTS - 1);
                (top, (pos + SLOTS - 1) & (SLOTS - 1))
            } else {
                let level =
                    ((63 - (differing | (SLOTS as u64 - 1)).leading_zeros()) / SLOT_BITS) as usize;
                (
                    level,
                    (deadline >> (SLOT_BITS * level as u32)) as usize & (SLOTS - 1),
                )
            };
            self.occupied[level] |= 1u64 << slot;
            (level * SLOTS + slot) as u16
        };
        self.link(index, list);
    }

    /// Appends entry `index` to list `list` (FIFO).
    fn link(&mut self, index: u32, list: u16) {
        let tail = self.tails[list as usize];
        let entry = &mut self.entries[index as usize];
        entry.place = Place::Linked(list);
        entry.prev = tail;
        entry.next = NIL;
        if tail != NIL {
            self.entries[tail as usize].next = index;
        } else {
            self.heads[list as usize] = index;
        }
        self.tails[list as usize] = index;
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next, place) = {
            let e = &self.entries[index as usize];
            (e.prev, e.next, e.place)
        };
        let Place::Linked(list) = place else { return };
        if list == PENDING_LIST {
            self.pending -= 1;
        }
        if prev != NIL {
            self.entries[prev as usize].next = next;
        } else {
            self.heads[list as usize] = next;
            if next == NIL && (list as usize) < LEVELS * SLOTS {
                let (level, slot) = (list as usize / SLOTS, list as usize % SLOTS);
                self.occupied[level] &= !(1u64 << slot);
            }
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        } else {
            self.tails[list as usize] = prev;
        }
        let e = &mut self.entries[index as usize];
        e.prev = NIL;
        e.next = NIL;
    }
}

#[cfg(test)]
#[path = "wheel_tests.rs"]
mod tests;
