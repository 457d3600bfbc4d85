//! Sliding windows of call outcomes, recorded without a lock.
//!
//! A window keeps, for the calls of one CLOSED period, how many outcomes it holds, how many of
//! them failed and how many were slow. Two kinds:
//!
//! - [`CountWindow`]: the last N outcomes, as a ring of N one-byte slots. Recording claims the
//!   next slot (one `fetch_add`), swaps the outcome in (one `swap`), and adjusts the running
//!   totals by the difference between what came in and what went out (an add only when they
//!   differ).
//! - [`TimeWindow`]: the outcomes of the last `size` of time, as ten buckets (as Polly keeps its
//!   sampling duration), with running totals of the failed and slow ones; the calls are summed
//!   from the buckets when a rate is evaluated. A bucket that time has left behind is emptied by
//!   the first recorder to notice, which takes its failed and slow counts out of the totals with
//!   one `swap` each (since whatever it takes out of the bucket is exactly what it subtracts, the
//!   totals never drift from the sum of the buckets), then zeroes its calls.
//!
//! Neither takes a lock. What they give up for it: a reading taken while other threads record is
//! a moment's view of counters that each are exact, not one consistent snapshot of all three (a
//! rate is evaluated again at the next outcome), and an outcome recorded at the very instant a
//! bucket is emptied may be emptied with it.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};

use crate::clock::Nanos;

/// What a window holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Outcomes in the window (successes and failures; ignored outcomes are never in it).
    pub calls: u64,
    pub failures: u64,
    pub slow: u64,
}

/// One outcome as a window keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub failed: bool,
    pub slow: bool,
}

impl Sample {
    const PRESENT: u8 = 1;
    const FAILED: u8 = 2;
    const SLOW: u8 = 4;

    fn code(self) -> u8 {
        Self::PRESENT
            | if self.failed { Self::FAILED } else { 0 }
            | if self.slow { Self::SLOW } else { 0 }
    }
}

/// Reads a signed running total that may be a moment below zero (a subtraction that overtook
/// its addition) as a count.
fn count(total: &AtomicI64) -> u64 {
    total.load(Ordering::Relaxed).max(0) as u64
}

/// The last `size` outcomes.
#[derive(Debug)]
pub struct CountWindow {
    slots: Box<[AtomicU8]>,
    /// Slots claimed since the last clear (the next one is `next % size`).
    next: AtomicU64,
    failures: AtomicI64,
    slow: AtomicI64,
}

impl CountWindow {
    pub fn new(size: u32) -> Self {
        let size = size.max(1) as usize;
        CountWindow {
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicU64::new(0),
            failures: AtomicI64::new(0),
            slow: AtomicI64::new(0),
        }
    }

    fn size(&self) -> u64 {
        self.slots.len() as u64
    }

    #[inline]
    pub fn record(&self, sample: Sample) -> Totals {
        let claimed = self.next.fetch_add(1, Ordering::Relaxed);
        // A 32-bit remainder (several times cheaper than a 64-bit division): the ring skips once
        // every 2^32 outcomes, which only moves which slot is overwritten next.
        let slot = &self.slots[(claimed as u32 % self.slots.len() as u32) as usize];
        let new = sample.code();
        // The common case, a success where a success was: nothing to write.
        if slot.load(Ordering::Relaxed) != new {
            let old = slot.swap(new, Ordering::Relaxed);
            if old != new {
                self.adjust(old, new);
            }
        }
        self.totals_with(claimed + 1)
    }

    fn adjust(&self, old: u8, new: u8) {
        let delta = |bit: u8| i64::from(new & bit != 0) - i64::from(old & bit != 0);
        let failed = delta(Sample::FAILED);
        if failed != 0 {
            self.failures.fetch_add(failed, Ordering::Relaxed);
        }
        let slow = delta(Sample::SLOW);
        if slow != 0 {
            self.slow.fetch_add(slow, Ordering::Relaxed);
        }
    }

    fn totals_with(&self, claimed: u64) -> Totals {
        let calls = claimed.min(self.size());
        Totals {
            calls,
            failures: count(&self.failures).min(calls),
            slow: count(&self.slow).min(calls),
        }
    }

    pub fn totals(&self) -> Totals {
        self.totals_with(self.next.load(Ordering::Relaxed))
    }

    /// The failed and slow outcomes in the slots, counted one by one (tests compare it with the
    /// running totals).
    #[cfg(test)]
    pub(crate) fn recount(&self) -> (u64, u64) {
        let codes = self.slots.iter().map(|slot| slot.load(Ordering::Relaxed));
        codes.fold((0, 0), |(failed, slow), code| {
            (
                failed + u64::from(code & Sample::FAILED != 0),
                slow + u64::from(code & Sample::SLOW != 0),
            )
        })
    }

    /// Empties the window (a new CLOSED period starts from nothing).
    pub fn clear(&self) {
        for slot in self.slots.iter() {
            let old = slot.swap(0, Ordering::Relaxed);
            if old != 0 {
                self.adjust(old, 0);
            }
        }
        self.next.store(0, Ordering::Relaxed);
    }
}

/// How many buckets a time window is kept in.
pub const BUCKETS: usize = 10;

#[derive(Debug, Default)]
struct Bucket {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

/// The outcomes of the last `size` nanoseconds, in [`BUCKETS`] buckets: the outcomes of epoch
/// `e` (the `e`-th bucket length of the clock) are in bucket `e % BUCKETS`. Each outcome is placed
/// by the time it is recorded, read from the coarse clock (a few milliseconds at most behind, for
/// buckets of a tenth of the window).
///
/// What a success costs, since most outcomes are successes: the bucket is found with a multiply
/// and a comparison against the newest epoch (a division only when time has entered a new
/// bucket), and the success is one atomic add to its bucket's calls. Failed and slow outcomes are
/// kept as running totals too, so that "nothing failed, nothing was slow", the answer for a
/// healthy service, is two loads; the number of calls is summed from the buckets only when a rate
/// is evaluated (something failed or was slow).
#[derive(Debug)]
pub struct TimeWindow {
    bucket_length: Nanos,
    buckets: [Bucket; BUCKETS],
    /// The newest epoch the buckets have been brought up to: the buckets of the epochs after the
    /// previous value up to this one were emptied of what an older epoch had left in them.
    newest: AtomicU64,
    failures: AtomicI64,
    slow: AtomicI64,
}

impl TimeWindow {
    pub fn new(size: Nanos) -> Self {
        TimeWindow {
            bucket_length: (size / BUCKETS as u64).max(1),
            buckets: Default::default(),
            newest: AtomicU64::new(0),
            failures: AtomicI64::new(0),
            slow: AtomicI64::new(0),
        }
    }

    /// Records one outcome at the time `clock` says. The totals after it when something in the
    /// window failed or was slow (a rate may be reached), `None` when nothing did.
    #[inline]
    pub fn record(&self, sample: Sample, clock: impl Fn() -> Nanos) -> Option<Totals> {
        let epoch = self.epoch(clock());
        let bucket = &self.buckets[(epoch % BUCKETS as u64) as usize];
        bucket.calls.fetch_add(1, Ordering::Relaxed);
        if sample.failed {
            bucket.failures.fetch_add(1, Ordering::Relaxed);
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        if sample.slow {
            bucket.slow.fetch_add(1, Ordering::Relaxed);
            self.slow.fetch_add(1, Ordering::Relaxed);
        }
        if count(&self.failures) == 0 && count(&self.slow) == 0 {
            return None;
        }
        Some(self.read())
    }

    /// The epoch of `now`, with the buckets brought up to it. In the common case `now` is in the
    /// newest epoch's span, which a multiply and a comparison tell (no division); the wrapping
    /// subtraction also sends a `now` before that span (a reading that lost a race with another
    /// recorder's newer one) to the division.
    #[inline]
    fn epoch(&self, now: Nanos) -> u64 {
        let newest = self.newest.load(Ordering::Acquire);
        // `newest * bucket_length <= now` for every reading since `newest` was stored: no
        // overflow.
        if now.wrapping_sub(newest.wrapping_mul(self.bucket_length)) < self.bucket_length {
            return newest;
        }
        let epoch = now / self.bucket_length;
        if epoch > newest {
            self.advance_from(newest, epoch);
        }
        epoch
    }

    /// Empties the buckets of the epochs after `newest` up to `epoch`: what they hold is at least
    /// a window old. Exactly one thread moves `newest` past a given epoch, so each bucket is
    /// emptied once per epoch it is given to.
    #[cold]
    fn advance_from(&self, newest: u64, epoch: u64) {
        if self
            .newest
            .compare_exchange(newest, epoch, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // another thread moved it (to `epoch` or beyond): it empties them
        }
        let first = newest
            .saturating_add(1)
            .max(epoch.saturating_sub(BUCKETS as u64 - 1));
        for stale in first..=epoch {
            self.empty(&self.buckets[(stale % BUCKETS as u64) as usize]);
        }
    }

    /// Takes a bucket's counts out of the running totals: exactly what it held, so that the
    /// totals stay the sum of the buckets even when a recorder adds to it meanwhile. Its failed
    /// and slow calls leave the totals before its calls are zeroed (released): a reader that sees
    /// the calls gone sees them gone too, so a rate read meanwhile can come out low, never high
    /// (a bucket's failures still counted against calls already taken away).
    fn empty(&self, bucket: &Bucket) {
        let take = |from: &AtomicU64, total: &AtomicI64| {
            let taken = from.swap(0, Ordering::Relaxed);
            if taken != 0 {
                total.fetch_sub(taken as i64, Ordering::Relaxed);
            }
        };
        take(&bucket.failures, &self.failures);
        take(&bucket.slow, &self.slow);
        bucket.calls.store(0, Ordering::Release);
    }

    /// The totals: the calls summed first (acquired, see [`TimeWindow::empty`]), then the failed
    /// and slow totals read again after them.
    fn read(&self) -> Totals {
        let calls = self
            .buckets
            .iter()
            .map(|bucket| bucket.calls.load(Ordering::Acquire))
            .sum();
        Totals {
            calls,
            failures: count(&self.failures).min(calls),
            slow: count(&self.slow).min(calls),
        }
    }

    /// The calls, failed and slow calls in the buckets, counted one by one (tests compare them
    /// with the running totals).
    #[cfg(test)]
    pub(crate) fn recount(&self) -> Totals {
        let sum = |field: fn(&Bucket) -> &AtomicU64| {
            self.buckets
                .iter()
                .map(|bucket| field(bucket).load(Ordering::Relaxed))
                .sum()
        };
        Totals {
            calls: sum(|b| &b.calls),
            failures: sum(|b| &b.failures),
            slow: sum(|b| &b.slow),
        }
    }

    /// What the window holds at `now` (emptying buckets that time has left behind).
    pub fn totals(&self, now: Nanos) -> Totals {
        self.epoch(now);
        self.read()
    }

    /// Empties the window (a new CLOSED period starts from nothing).
    pub fn clear(&self) {
        for bucket in &self.buckets {
            self.empty(bucket);
        }
    }
}
