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
//!   totals never drift from the sum of the buckets), then zeroes its calls. While nothing in it
//!   failed, a time window without a slow-call rate counts successes in batches, reading the
//!   clock once per batch rather than once per success (see [`TimeWindow`]), so that its calls
//!   are known within bounds rather than exactly.
//!
//! Neither takes a lock. What they give up for it: a reading taken while other threads record is
//! a moment's view of counters, not one consistent snapshot of all of them (a rate is evaluated
//! again at the next outcome), and an outcome (or a batch of successes) placed at the very
//! instant its bucket is emptied for a new epoch may be emptied with it, or, from a thread paused
//! across that moment, be counted in the new epoch: a bucket's turn, a few times per window, is
//! the only moment it can happen between recorders, and with the GIL (which every Python caller
//! holds while it records) it cannot. A clear, though, runs at transitions that may be made
//! without the GIL (`reset()`, `open()`, `isolate()`, `disable()`, a store's waiting calls): a
//! batch being placed at that instant can land in the new period (one batch at most, up to
//! [`MAX_BATCH`] successes and one per thread), as a single outcome always could. The lower
//! bound's earliest placements, the one place a paused thread would be likeliest to put a batch
//! in an emptied bucket, check for it and take the batch back.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::clock::Nanos;

/// What a window holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Outcomes in the window (successes and failures; ignored outcomes are never in it): at
    /// least this many. The minimum number of calls is judged on it.
    pub calls: u64,
    /// At most this many outcomes are in the window (`calls` unless a time window holds
    /// successes it counted in batches and cannot place exactly). Rates are computed against it.
    pub calls_at_most: u64,
    pub failures: u64,
    pub slow: u64,
}

impl Totals {
    /// Totals known exactly.
    pub fn exact(calls: u64, failures: u64, slow: u64) -> Self {
        Totals {
            calls,
            calls_at_most: calls,
            failures,
            slow,
        }
    }
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

/// Whether nothing in a window failed or was slow, by its running totals (no rate can be
/// reached: the quiet paths' check, and `TimeWindow::record_at`'s).
#[inline(always)]
fn all_well(failures: &AtomicI64, slow: &AtomicI64) -> bool {
    count(failures) == 0 && count(slow) == 0
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
        let claimed = self.put(sample);
        self.totals_with(claimed + 1)
    }

    /// Records a success when nothing in the window failed or was slow, which then cannot bring
    /// a rate to a threshold: `true`. `false`: nothing was recorded; record it with
    /// [`CountWindow::record`]. The hot path.
    #[inline(always)]
    pub fn record_quiet_success(&self) -> bool {
        if !all_well(&self.failures, &self.slow) {
            return false;
        }
        self.put(Sample {
            failed: false,
            slow: false,
        });
        true
    }

    /// Puts an outcome in the next slot; the number of the slot claimed.
    #[inline(always)]
    fn put(&self, sample: Sample) -> u64 {
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
        claimed
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
        Totals::exact(
            calls,
            count(&self.failures).min(calls),
            count(&self.slow).min(calls),
        )
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
    /// Outcomes placed in this bucket by the time they were recorded (every failed or slow one,
    /// every one of a timed call, and the successes of a batch that began and ended in it).
    calls: AtomicU64,
    /// Successes of batches that spanned more than one bucket, placed at the earliest bucket
    /// they may have been recorded in (they leave the window first from here)... Signed: see
    /// [`TimeWindow::place_early`].
    early: AtomicI64,
    /// ...and, the same successes again, at the latest one (they stay longest from here).
    late: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

/// The successes a time window has counted and not placed yet, packed into one word that a
/// success adds one to: the count in the low [`BATCH_COUNT_BITS`] bits, and above it the epoch
/// the batch began in (every success counted in it was recorded in that epoch or later).
const BATCH_COUNT_BITS: u32 = 20;
const BATCH_COUNT: u64 = (1 << BATCH_COUNT_BITS) - 1;
/// Batch sizes: a batch is placed once it holds this many successes (adjusted between the two
/// bounds to the traffic, see [`TimeWindow::flush`]). The largest bounds how many successes
/// a batch can leave without a place: see [`TimeWindow`] on what that costs.
const MIN_BATCH: u32 = 2;
const FIRST_BATCH: u32 = 8;
pub(crate) const MAX_BATCH: u32 = 64;
/// Buckets shorter than this (2^20 ns, about 1.05 ms: windows under 10,485,760 ns) are recorded
/// exactly, with no batches: from it on, an epoch of any clock reading fits above the count
/// (2^63 ns / 2^20 ns = 2^43 < 2^44).
const SHORTEST_BATCHED_BUCKET: Nanos = 1 << BATCH_COUNT_BITS;

fn batch_count(word: u64) -> u64 {
    word & BATCH_COUNT
}

fn batch_since(word: u64) -> u64 {
    word >> BATCH_COUNT_BITS
}

fn batch_word(since: u64) -> u64 {
    since << BATCH_COUNT_BITS
}

/// The outcomes of the last `size` nanoseconds, in [`BUCKETS`] buckets: the outcomes of epoch
/// `e` (the `e`-th bucket length of the clock) are in bucket `e % BUCKETS`. Each failed or slow
/// outcome is placed by the time it is recorded, read from the coarse clock (a few milliseconds
/// at most behind, for buckets of a tenth of the window), or given by the caller when it timed
/// the call anyway ([`TimeWindow::record_at`]).
///
/// A success while nothing in the window failed or was slow (a healthy service: the hot path)
/// reads no clock: it adds one to a batch, a single atomic word that also holds the epoch the
/// batch began in (read from the clock by its first success: one clock read per batch). Every
/// `limit` successes, at the next failed or slow outcome, and whenever the totals are read, the
/// batch is placed: the clock is read, and the batch's successes, recorded somewhere between the
/// epoch it began in and now, go to that bucket when it is one (most batches) or, when it spanned
/// several, are counted twice: at the earliest bucket (a lower bound of what the window holds, as
/// they leave it first from there; skipped when that bucket is the oldest of the window or has
/// left it) and at the latest (an upper bound). The minimum number of calls is judged on the
/// lower bound and the rates on the upper, so that a rate trips only where it would have with
/// every success placed exactly; what it costs is that a trip may come later, by the successes
/// of a batch that spanned buckets at each end of the window. The batch size adapts: it doubles
/// (up to [`MAX_BATCH`]) after a full batch that stayed within one bucket and halves (down to
/// [`MIN_BATCH`]) after one that did not, so that a batch spans a fraction of a bucket at any
/// steady traffic; when traffic falls suddenly, the one batch under way then may span long, and
/// its successes count in the upper bound, not the lower, until the window has moved past them.
///
/// What a success costs, then: four loads (nothing failed, nothing was slow, the batch size, a
/// batch under way) and one atomic add, plus, once per batch, three clock reads (its first
/// success, and the two of its placement) and the placement. Failed and slow outcomes are kept
/// as running totals too, for those loads; the number of calls is summed from the buckets only
/// when a rate is evaluated (something failed or was slow).
#[derive(Debug)]
pub struct TimeWindow {
    bucket_length: Nanos,
    buckets: [Bucket; BUCKETS],
    /// The newest epoch the buckets have been brought up to: the buckets of the epochs after the
    /// previous value up to this one were emptied of what an older epoch had left in them.
    newest: AtomicU64,
    failures: AtomicI64,
    slow: AtomicI64,
    /// The successes counted and not placed yet (see [`BATCH_COUNT_BITS`]).
    batch: AtomicU64,
    /// Successes taken out of the batch and not yet in their buckets: a reading counts them in
    /// its upper bound, so that none is missed while it is placed.
    placing: AtomicU64,
    /// How many successes a batch holds before it is placed; 0: no batches (short buckets).
    limit: AtomicU32,
}

impl TimeWindow {
    /// A window of `size` nanoseconds, starting at `now`.
    pub fn new(size: Nanos, now: Nanos) -> Self {
        let bucket_length = (size / BUCKETS as u64).max(1);
        let batched = bucket_length >= SHORTEST_BATCHED_BUCKET;
        TimeWindow {
            bucket_length,
            buckets: Default::default(),
            newest: AtomicU64::new(now / bucket_length),
            failures: AtomicI64::new(0),
            slow: AtomicI64::new(0),
            batch: AtomicU64::new(batch_word(now / bucket_length)),
            placing: AtomicU64::new(0),
            limit: AtomicU32::new(if batched { FIRST_BATCH } else { 0 }),
        }
    }

    /// Records one outcome; `clock` is read when it must be (a failed or slow outcome, a batch to
    /// begin or to place). The totals after it when something in the window failed or was slow
    /// (a rate may be reached), `None` when nothing did.
    #[inline]
    pub fn record(&self, sample: Sample, clock: impl Fn() -> Nanos + Copy) -> Option<Totals> {
        if !sample.failed && !sample.slow && self.record_quiet_success(clock) {
            return None;
        }
        self.record_now(sample, clock)
    }

    /// Counts a success in the batch under way, when the window takes successes so (nothing in
    /// it failed or was slow, and its buckets are long enough): `true`, and the success needs
    /// nothing more (it cannot bring a rate to a threshold). `false`: nothing was recorded;
    /// record it with [`TimeWindow::record`]. The hot path.
    #[inline(always)]
    pub fn record_quiet_success(&self, clock: impl Fn() -> Nanos + Copy) -> bool {
        if !all_well(&self.failures, &self.slow) {
            return false;
        }
        let limit = self.limit.load(Ordering::Relaxed);
        if limit == 0 {
            return false;
        }
        if batch_count(self.batch.load(Ordering::Relaxed)) == 0 {
            self.begin_batch(limit, clock);
        } else {
            self.join_batch(limit, clock);
        }
        true
    }

    /// Adds a success to the batch under way; places the batch when that fills it.
    #[inline(always)]
    fn join_batch(&self, limit: u32, clock: impl Fn() -> Nanos + Copy) {
        let before = self.batch.fetch_add(1, Ordering::Relaxed);
        if batch_count(before) + 1 >= u64::from(limit) {
            self.flush(clock);
        }
    }

    /// Starts a batch with this success, from the time `clock` says now (read before the success
    /// joins it): the epoch the last placement left in the word may be long past (an idle spell,
    /// a period of failures placed one by one), and a batch counted from it would be placed
    /// across the whole window. One clock read per batch.
    #[cold]
    #[inline(never)]
    fn begin_batch(&self, limit: u32, clock: impl Fn() -> Nanos + Copy) {
        let since = batch_word(self.epoch(clock()));
        let mut current = self.batch.load(Ordering::Acquire);
        while batch_count(current) == 0 {
            match self.batch.compare_exchange_weak(
                current,
                since | 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
        // Another success began one meanwhile: from a time no later than this one's.
        self.join_batch(limit, clock);
    }

    /// What [`TimeWindow::record`] does with an outcome it does not count in a batch: places it
    /// at the time `clock` says, once the batch under way is placed (a failure is judged with
    /// every success before it), and judges the window. Out of line: the hot path is the batch.
    #[inline(never)]
    fn record_now(&self, sample: Sample, clock: impl Fn() -> Nanos + Copy) -> Option<Totals> {
        if batch_count(self.batch.load(Ordering::Acquire)) != 0 {
            self.flush(clock);
        }
        self.record_at(sample, clock())
    }

    /// Records one outcome at `now` (a call timed anyway: no batch). The totals as
    /// [`TimeWindow::record`] gives them.
    #[inline]
    pub fn record_at(&self, sample: Sample, now: Nanos) -> Option<Totals> {
        let epoch = self.epoch(now);
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
        if all_well(&self.failures, &self.slow) {
            return None;
        }
        Some(self.read())
    }

    /// Places the batch under way and starts the next: reads the clock before taking the batch
    /// (every success of the next one is recorded at that time or later) and after (every success
    /// of this one was recorded by then). Adapts the batch size to how long this one took.
    #[cold]
    #[inline(never)]
    fn flush(&self, clock: impl Fn() -> Nanos + Copy) {
        let start = self.epoch(clock());
        let mut current = self.batch.load(Ordering::Acquire);
        // Counted as being placed before they leave the batch (see `read`).
        let taken = loop {
            let count = batch_count(current);
            if count != 0 {
                self.placing.fetch_add(count, Ordering::AcqRel);
            }
            match self.batch.compare_exchange_weak(
                current,
                batch_word(start),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break current,
                Err(now) => {
                    if count != 0 {
                        self.placing.fetch_sub(count, Ordering::AcqRel);
                    }
                    current = now;
                }
            }
        };
        let count = batch_count(taken);
        if count == 0 {
            return;
        }
        let now = self.epoch(clock());
        // A coarse reading can be a moment behind the one that began the batch (the clocks of
        // two threads, a manual clock handed back to the real one): the batch then spans both.
        let (first, last) = {
            let since = batch_since(taken);
            (since.min(now), since.max(now))
        };
        let at = |epoch: u64| &self.buckets[(epoch % BUCKETS as u64) as usize];
        if first == last {
            at(last).calls.fetch_add(count, Ordering::Relaxed);
        } else {
            at(last).late.fetch_add(count, Ordering::Relaxed);
            self.place_early(first, count);
        }
        self.placing.fetch_sub(count, Ordering::Release);
        let limit = self.limit.load(Ordering::Relaxed);
        if first != last {
            self.limit
                .store((limit / 2).max(MIN_BATCH), Ordering::Relaxed);
        } else if count >= u64::from(limit) {
            self.limit
                .store((limit * 2).min(MAX_BATCH), Ordering::Relaxed);
        }
    }

    /// Counts `count` successes at `first`, the earliest bucket they may have been recorded in
    /// (the lower bound), while that bucket holds `first`: in the window and not the oldest one.
    /// If time moves past it meanwhile, the bucket may be emptied for a new epoch before the add
    /// lands, which would count the successes in that new epoch; so the add is taken back when
    /// the window has moved on by then. Whichever came first, what is left is at most what the
    /// bucket should hold (taken back after an emptying that had already swept the add away, the
    /// bucket is `count` short, which only lowers the lower bound until it is emptied again).
    fn place_early(&self, first: u64, count: u64) {
        let in_window = |newest: u64| first + (BUCKETS as u64 - 1) > newest;
        if !in_window(self.newest.load(Ordering::Acquire)) {
            return; // the upper bound alone
        }
        let early = &self.buckets[(first % BUCKETS as u64) as usize].early;
        early.fetch_add(count as i64, Ordering::AcqRel);
        if !in_window(self.newest.load(Ordering::Acquire)) {
            early.fetch_sub(count as i64, Ordering::AcqRel);
        }
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
        bucket.early.store(0, Ordering::Release);
        bucket.late.store(0, Ordering::Release);
    }

    /// The totals. The batch under way first, then the successes being placed, then the buckets
    /// (each read acquiring what the step before it released, so that a batch taken out of one
    /// is found in the next), then the failed and slow totals (see [`TimeWindow::empty`]).
    fn read(&self) -> Totals {
        let pending = batch_count(self.batch.load(Ordering::Acquire));
        let placing = self.placing.load(Ordering::Acquire);
        let (mut calls, mut early, mut late) = (0, 0, 0);
        for bucket in &self.buckets {
            calls += bucket.calls.load(Ordering::Acquire);
            // A bucket short of a batch taken back (see `place_early`) counts as none.
            early += bucket.early.load(Ordering::Acquire).max(0) as u64;
            late += bucket.late.load(Ordering::Acquire);
        }
        let at_least = calls + early;
        Totals {
            calls: at_least,
            calls_at_most: (calls + late + pending + placing).max(at_least),
            failures: count(&self.failures).min(at_least),
            slow: count(&self.slow).min(at_least),
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
        let (calls, late) = (sum(|b| &b.calls), sum(|b| &b.late));
        let early: u64 = self
            .buckets
            .iter()
            .map(|bucket| bucket.early.load(Ordering::Relaxed).max(0) as u64)
            .sum();
        Totals {
            calls: calls + early,
            calls_at_most: calls + late + batch_count(self.batch.load(Ordering::Relaxed)),
            failures: sum(|b| &b.failures),
            slow: sum(|b| &b.slow),
        }
    }

    /// The batch size now (tests watch it adapt).
    #[cfg(test)]
    pub(crate) fn batch_limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }

    /// What the window holds at the time `clock` says: places the batch under way (emptying
    /// buckets that time has left behind).
    pub fn totals(&self, clock: impl Fn() -> Nanos + Copy) -> Totals {
        if self.limit.load(Ordering::Relaxed) != 0 {
            self.flush(clock);
        } else {
            self.epoch(clock());
        }
        self.read()
    }

    /// Empties the window (a new CLOSED period starts from nothing, at `now`).
    pub fn clear(&self, now: Nanos) {
        let start = self.epoch(now);
        self.batch.store(batch_word(start), Ordering::Release);
        for bucket in &self.buckets {
            self.empty(bucket);
        }
    }
}
