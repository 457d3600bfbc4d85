//! How long each opening of a circuit lasts: `recovery_timeout` at first, multiplied by
//! `multiplier` each time a half-open trial fails (up to `max`), spread at random by up to
//! `jitter` of itself so that a fleet does not probe in lockstep. Closing starts over.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::clock::Nanos;
use crate::machine::FOREVER;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// >= 1; 1: every opening lasts `recovery_timeout`.
    pub multiplier: f64,
    /// The longest an opening may last before jitter; `None`: no limit.
    pub max: Option<Nanos>,
    /// In [0, 1): each opening lasts its duration times a random factor in [1 - jitter, 1 + jitter].
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            multiplier: 1.0,
            max: None,
            jitter: 0.0,
        }
    }
}

impl Backoff {
    /// Whether every opening lasts exactly `recovery_timeout` (the default).
    pub fn is_none(&self) -> bool {
        self.multiplier == 1.0 && self.jitter == 0.0
    }

    /// The duration of an opening after `failed_trials` failed trials in a row, before jitter.
    /// Below [`FOREVER`] however large: an opening has an end (only an isolation has none).
    pub fn duration(&self, recovery_timeout: Nanos, failed_trials: u32) -> Nanos {
        let mut duration = recovery_timeout;
        if self.multiplier > 1.0 && failed_trials > 0 {
            // Saturating float arithmetic: `as` maps anything past u64::MAX to u64::MAX.
            // `powf` (libm's `pow`), as Python's `**` on floats: a model written in Python agrees
            // to the nanosecond.
            let grown = recovery_timeout as f64 * self.multiplier.powf(f64::from(failed_trials));
            duration = grown as Nanos;
        }
        match self.max {
            Some(max) => duration.min(max),
            None => duration,
        }
        .min(FOREVER - 1)
    }

    /// `duration` spread by a random factor in [1 - jitter, 1 + jitter], given `unit` in [0, 1).
    pub fn spread(&self, duration: Nanos, unit: f64) -> Nanos {
        if self.jitter == 0.0 {
            return duration;
        }
        let factor = 1.0 + self.jitter * (2.0 * unit - 1.0);
        ((duration as f64 * factor) as Nanos).min(FOREVER - 1)
    }

    /// The duration of the next opening: [`Backoff::duration`] spread by jitter.
    pub fn next(&self, recovery_timeout: Nanos, failed_trials: u32) -> Nanos {
        let duration = self.duration(recovery_timeout, failed_trials);
        if self.jitter == 0.0 {
            return duration;
        }
        self.spread(duration, random_unit())
    }
}

/// A random number in [0, 1): splitmix64 over a process-wide counter seeded by the standard
/// library's random keys, with the process id mixed in at every draw (workers forked from one
/// parent share its seed and counter, and must still draw apart). Not for secrets; enough to keep
/// a fleet out of lockstep. Called once per opening, never on the hot path.
pub fn random_unit() -> f64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| RandomState::new().build_hasher().finish());
    let mut pid = RandomState::new().build_hasher();
    pid.write_u64(seed);
    pid.write_u32(std::process::id());
    let mut z = pid.finish().wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
