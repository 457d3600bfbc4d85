//! Time for the state machine: a monotonic clock in whole nanoseconds, plus wall-clock seconds for
//! the one field that is history (`last_failure_time`).
//!
//! [`ProcessClock`] is what every breaker in the process reads. Tests can switch it to manual mode
//! ([`ProcessClock::start_manual`]), in which time only moves when told to; the arithmetic is in
//! integer nanoseconds, so advancing by exactly a timeout reaches it exactly, and an advance that
//! cannot be exact is refused. Leaving manual mode resumes real time from the manual reading, so
//! time never goes backwards and never jumps.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// A point on (or a span of) the monotonic clock, in nanoseconds.
pub type Nanos = u64;

pub const NANOS_PER_SECOND: Nanos = 1_000_000_000;

/// Converts a finite, non-negative number of seconds to nanoseconds, rounding to the nearest and
/// saturating at `Nanos::MAX` (about 584 years). The caller validates the input.
pub fn nanos_from_seconds(seconds: f64) -> Nanos {
    // `as` saturates for out-of-range floats and maps NaN to 0.
    (seconds * NANOS_PER_SECOND as f64).round() as Nanos
}

pub fn seconds_from_nanos(nanos: Nanos) -> f64 {
    nanos as f64 / NANOS_PER_SECOND as f64
}

fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Where a breaker gets the time from.
pub trait Clock {
    /// Monotonic time in nanoseconds.
    fn now(&self) -> Nanos;
    /// Monotonic time at a coarser resolution (a few milliseconds at most), cheaper to read: for
    /// what only needs to know which bucket of a sliding window it falls in. Never ahead of
    /// [`Clock::now`].
    fn coarse_now(&self) -> Nanos {
        self.now()
    }
    /// Wall-clock time in seconds since the Unix epoch.
    fn wall_seconds(&self) -> f64;
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Nanos {
        (**self).now()
    }

    fn coarse_now(&self) -> Nanos {
        (**self).coarse_now()
    }

    fn wall_seconds(&self) -> f64 {
        (**self).wall_seconds()
    }
}

/// The process-wide clock that every breaker reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessClock;

static MANUAL: AtomicBool = AtomicBool::new(false);
static MANUAL_NOW: AtomicU64 = AtomicU64::new(0);
/// Added to the real clock: after a manual period, time resumes from the manual reading (which
/// may be behind the real clock, when the manual clock was advanced less than real time passed).
static OFFSET: AtomicI64 = AtomicI64::new(0);
/// Serialises starting, advancing and stopping the manual clock (never taken by readers).
static CONTROL: Mutex<()> = Mutex::new(());

/// The furthest the manual clock may be advanced: about 292 years of nanoseconds, so that every
/// reading and every difference of readings stays exact.
pub const MANUAL_LIMIT: Nanos = i64::MAX as Nanos;

/// The start of the process clock: an `Instant`, and on Linux the same moment as read by
/// `clock_gettime(CLOCK_MONOTONIC)` (which `Instant` reads), for [`real_coarse_now`].
struct Base {
    instant: Instant,
    #[cfg(target_os = "linux")]
    monotonic: Nanos,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| Base {
        instant: Instant::now(),
        #[cfg(target_os = "linux")]
        monotonic: read_clock(libc::CLOCK_MONOTONIC),
    })
}

fn real_now() -> Nanos {
    let elapsed = base().instant.elapsed();
    Nanos::try_from(elapsed.as_nanos()).unwrap_or(Nanos::MAX)
}

#[cfg(target_os = "linux")]
fn read_clock(clock: libc::clockid_t) -> Nanos {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to; both clocks exist on every Linux since 2.6.32.
    unsafe { libc::clock_gettime(clock, &mut now) };
    (now.tv_sec as Nanos)
        .saturating_mul(NANOS_PER_SECOND)
        .saturating_add(now.tv_nsec as Nanos)
}

/// [`real_now`] at the kernel tick's resolution: the vDSO returns the time of the last tick, with
/// no hardware counter read and no arithmetic on it.
#[cfg(target_os = "linux")]
fn real_coarse_now() -> Nanos {
    read_clock(libc::CLOCK_MONOTONIC_COARSE).saturating_sub(base().monotonic)
}

#[cfg(not(target_os = "linux"))]
fn real_coarse_now() -> Nanos {
    real_now()
}

/// Why the manual clock could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManualClockError {
    AlreadyActive,
    NotActive,
    /// The advance would take the clock past [`MANUAL_LIMIT`]; nothing moved.
    Overflow,
}

impl ProcessClock {
    /// Freezes the clock at its current reading; from now on only [`ProcessClock::advance`]
    /// moves it.
    pub fn start_manual() -> Result<(), ManualClockError> {
        let _guard = CONTROL.lock();
        if MANUAL.load(Ordering::Acquire) {
            return Err(ManualClockError::AlreadyActive);
        }
        MANUAL_NOW.store(ProcessClock.now(), Ordering::Release);
        MANUAL.store(true, Ordering::Release);
        Ok(())
    }

    /// Moves the manual clock forward, exactly, or not at all.
    pub fn advance(nanos: Nanos) -> Result<Nanos, ManualClockError> {
        let _guard = CONTROL.lock();
        if !MANUAL.load(Ordering::Acquire) {
            return Err(ManualClockError::NotActive);
        }
        let now = MANUAL_NOW
            .load(Ordering::Acquire)
            .checked_add(nanos)
            .filter(|&now| now <= MANUAL_LIMIT)
            .ok_or(ManualClockError::Overflow)?;
        MANUAL_NOW.store(now, Ordering::Release);
        Ok(now)
    }

    /// Goes back to real time, resuming from the manual reading: the first real reading is the
    /// manual one, and time goes on from there (it never goes backwards).
    pub fn stop_manual() -> Result<(), ManualClockError> {
        let _guard = CONTROL.lock();
        if !MANUAL.load(Ordering::Acquire) {
            return Err(ManualClockError::NotActive);
        }
        let manual = MANUAL_NOW.load(Ordering::Acquire) as i128;
        let real = real_now() as i128;
        let offset = (manual - real).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        OFFSET.store(offset, Ordering::Release);
        MANUAL.store(false, Ordering::Release);
        Ok(())
    }

    pub fn is_manual() -> bool {
        MANUAL.load(Ordering::Acquire)
    }
}

impl Clock for ProcessClock {
    #[inline]
    fn now(&self) -> Nanos {
        if MANUAL.load(Ordering::Acquire) {
            MANUAL_NOW.load(Ordering::Acquire)
        } else {
            let shifted = real_now() as i128 + OFFSET.load(Ordering::Acquire) as i128;
            shifted.clamp(0, Nanos::MAX as i128) as Nanos
        }
    }

    #[inline]
    fn coarse_now(&self) -> Nanos {
        if MANUAL.load(Ordering::Acquire) {
            return MANUAL_NOW.load(Ordering::Acquire);
        }
        let real = real_coarse_now();
        match OFFSET.load(Ordering::Acquire) {
            0 => real, // the manual clock was never used: no wide arithmetic on every call
            offset => (real as i128 + offset as i128).clamp(0, Nanos::MAX as i128) as Nanos,
        }
    }

    fn wall_seconds(&self) -> f64 {
        wall_now()
    }
}

/// A clock of its own for unit tests: monotonic and wall time both move only when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
    wall_bits: AtomicU64,
}

impl ManualClock {
    pub fn new() -> Self {
        let clock = ManualClock::default();
        clock.set_wall_seconds(1_700_000_000.0);
        clock
    }

    pub fn advance(&self, nanos: Nanos) {
        self.now.fetch_add(nanos, Ordering::SeqCst);
    }

    pub fn set_wall_seconds(&self, seconds: f64) {
        self.wall_bits.store(seconds.to_bits(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Nanos {
        self.now.load(Ordering::SeqCst)
    }

    fn wall_seconds(&self) -> f64 {
        f64::from_bits(self.wall_bits.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_trip_exactly() {
        assert_eq!(nanos_from_seconds(0.1), 100_000_000);
        assert_eq!(nanos_from_seconds(60.0), 60 * NANOS_PER_SECOND);
        assert_eq!(nanos_from_seconds(1e300), Nanos::MAX);
        assert_eq!(seconds_from_nanos(1_500_000_000), 1.5);
    }

    /// The coarse clock is never ahead of the fine one, and at most a few kernel ticks behind.
    fn coarse_follows_fine() {
        for _ in 0..1_000 {
            let coarse = ProcessClock.coarse_now();
            let fine = ProcessClock.now();
            assert!(coarse <= fine, "coarse {coarse} ahead of {fine}");
            assert!(fine - coarse < 50_000_000, "{} ns behind", fine - coarse);
        }
    }

    // The only test that touches the process clock's manual mode (or reads the coarse clock
    // beside the fine one), so tests running in parallel cannot see each other's manual time.
    #[test]
    fn manual_mode_is_exact_and_never_goes_backwards() {
        coarse_follows_fine();
        let before = ProcessClock.now();
        assert_eq!(ProcessClock::advance(1), Err(ManualClockError::NotActive));
        ProcessClock::start_manual().unwrap();
        assert_eq!(
            ProcessClock::start_manual(),
            Err(ManualClockError::AlreadyActive)
        );
        let frozen = ProcessClock.now();
        assert!(frozen >= before);
        assert_eq!(ProcessClock.now(), frozen);
        let hour = 3600 * NANOS_PER_SECOND;
        assert_eq!(ProcessClock::advance(hour), Ok(frozen + hour));
        assert_eq!(ProcessClock.now(), frozen + hour);
        assert_eq!(
            ProcessClock::advance(Nanos::MAX),
            Err(ManualClockError::Overflow)
        );
        assert_eq!(ProcessClock.now(), frozen + hour); // a refused advance moves nothing
        assert_eq!(
            ProcessClock.coarse_now(),
            frozen + hour,
            "manual: the coarse clock too"
        );
        ProcessClock::stop_manual().unwrap();
        coarse_follows_fine(); // with the offset the manual period left
        assert!(!ProcessClock::is_manual());
        // Real time resumes from the manual reading: no jump by the real time spent inside.
        let resumed = ProcessClock.now();
        assert!(resumed >= frozen + hour);
        assert!(resumed < frozen + hour + 60 * NANOS_PER_SECOND);
        // And a second manual period that is shorter than real time does not jump either.
        ProcessClock::start_manual().unwrap();
        let second = ProcessClock.now();
        std::thread::sleep(std::time::Duration::from_millis(50));
        ProcessClock::stop_manual().unwrap();
        let after = ProcessClock.now();
        assert!(
            after >= second && after - second < 40_000_000,
            "{}",
            after - second
        );
        assert_eq!(
            ProcessClock::stop_manual(),
            Err(ManualClockError::NotActive)
        );
    }
}
