//! The settings of one breaker as plain values: defaults written once, validation, and the
//! differences between two configurations (for a registry asked for a name it already holds).

use crate::clock::{Nanos, NANOS_PER_SECOND};
use crate::policy::{Backoff, Rates, SlowCalls, WindowSize};

/// The settings of one breaker. Built by [`Config::new`] and [`Config::with_policies`], which
/// validate them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Consecutive failures that open the circuit; `None`: only a rate opens it.
    pub failure_threshold: Option<u32>,
    pub success_threshold: u32,
    pub half_open_max_calls: u32,
    /// How long the first opening lasts (and every one, without backoff).
    pub recovery_timeout: Nanos,
    /// How long a HALF_OPEN trial may run before its slot is reclaimed; `None`: forever.
    pub trial_timeout: Option<Nanos>,
    /// The failure-rate and slow-call-rate thresholds and their window; `None`: no window.
    pub rates: Option<Rates>,
    pub backoff: Backoff,
}

/// The trip policies beyond the consecutive count, as asked for (`None`: not given). Checked and
/// put together by [`Config::with_policies`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Policies {
    /// `failure_threshold=None` was given: the consecutive trigger is off.
    pub no_failure_threshold: bool,
    pub failure_rate_threshold: Option<f64>,
    pub slow_call_duration: Option<Nanos>,
    pub slow_call_rate_threshold: Option<f64>,
    pub minimum_calls: Option<u32>,
    pub window_seconds: Option<Nanos>,
    pub window_calls: Option<u32>,
    pub recovery_backoff: Option<f64>,
    pub max_recovery_timeout: Option<Nanos>,
    pub recovery_jitter: Option<f64>,
}

/// Why a [`Config`] could not be built: the name of the argument and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub argument: &'static str,
    pub message: String,
}

/// How long a HALF_OPEN trial may run, as asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TrialTimeout {
    /// As long as the circuit stayed open: `recovery_timeout`, or forever when that is zero.
    #[default]
    RecoveryTimeout,
    /// Forever.
    Unlimited,
    /// This long (more than zero).
    Limit(Nanos),
}

fn refuse<T>(argument: &'static str, message: String) -> Result<T, ConfigError> {
    Err(ConfigError { argument, message })
}

/// A rate threshold: a number in (0, 1].
fn rate(argument: &'static str, value: Option<f64>) -> Result<Option<f64>, ConfigError> {
    match value {
        Some(rate) if !(rate > 0.0 && rate <= 1.0) => refuse(
            argument,
            format!("{argument} must be a number in (0, 1], got {rate}"),
        ),
        other => Ok(other),
    }
}

impl Config {
    pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
    pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 2;
    pub const DEFAULT_HALF_OPEN_MAX_CALLS: u32 = 1;
    pub const DEFAULT_RECOVERY_TIMEOUT_SECONDS: u64 = 60;

    /// Validates the settings: thresholds at least 1, a trial timeout more than zero.
    pub fn new(
        failure_threshold: u32,
        success_threshold: u32,
        half_open_max_calls: u32,
        recovery_timeout: Nanos,
        trial_timeout: TrialTimeout,
    ) -> Result<Self, ConfigError> {
        for (argument, value) in [
            ("failure_threshold", failure_threshold),
            ("success_threshold", success_threshold),
            ("half_open_max_calls", half_open_max_calls),
        ] {
            if value < 1 {
                return Err(ConfigError {
                    argument,
                    message: format!("{argument} must be at least 1, got {value}"),
                });
            }
        }
        let trial_timeout = match trial_timeout {
            TrialTimeout::RecoveryTimeout => (recovery_timeout > 0).then_some(recovery_timeout),
            TrialTimeout::Unlimited => None,
            TrialTimeout::Limit(0) => {
                return Err(ConfigError {
                    argument: "trial_timeout",
                    message: "trial_timeout must be greater than 0".to_owned(),
                })
            }
            TrialTimeout::Limit(limit) => Some(limit),
        };
        Ok(Config {
            failure_threshold: Some(failure_threshold),
            success_threshold,
            half_open_max_calls,
            recovery_timeout,
            trial_timeout,
            rates: None,
            backoff: Backoff::default(),
        })
    }

    /// Adds the trip policies beyond the consecutive count, validated: every error names the
    /// argument it is about.
    pub fn with_policies(mut self, policies: Policies) -> Result<Self, ConfigError> {
        let failure_rate = rate("failure_rate_threshold", policies.failure_rate_threshold)?;
        let slow_rate = rate(
            "slow_call_rate_threshold",
            policies.slow_call_rate_threshold,
        )?;
        let slow_calls =
            match (policies.slow_call_duration, slow_rate) {
                (Some(duration), Some(rate)) => Some(SlowCalls { duration, rate }),
                (None, None) => None,
                (Some(_), None) => return refuse(
                    "slow_call_rate_threshold",
                    "slow_call_duration needs slow_call_rate_threshold (the share of slow calls \
                     that opens the circuit)"
                        .to_owned(),
                ),
                (None, Some(_)) => {
                    return refuse(
                        "slow_call_duration",
                        "slow_call_rate_threshold needs slow_call_duration (how long a call must \
                     take to be slow)"
                            .to_owned(),
                    )
                }
            };
        let has_rate = failure_rate.is_some() || slow_calls.is_some();
        if policies.no_failure_threshold {
            if !has_rate {
                return refuse(
                    "failure_threshold",
                    "failure_threshold=None is accepted only with failure_rate_threshold or \
                     slow_call_rate_threshold (something must be able to open the circuit)"
                        .to_owned(),
                );
            }
            self.failure_threshold = None;
        }
        let window = match (policies.window_seconds, policies.window_calls) {
            (Some(_), Some(_)) => {
                return refuse(
                    "window_calls",
                    "give window_seconds or window_calls, not both".to_owned(),
                )
            }
            (Some(0), None) => {
                return refuse(
                    "window_seconds",
                    "window_seconds must be a number of seconds > 0".to_owned(),
                )
            }
            (Some(nanos), None) => WindowSize::Time(nanos),
            (None, Some(calls)) if calls == 0 || calls > Rates::MAX_WINDOW_CALLS => {
                return refuse(
                    "window_calls",
                    format!(
                        "window_calls must be from 1 to {}, got {calls}",
                        Rates::MAX_WINDOW_CALLS
                    ),
                )
            }
            (None, Some(calls)) => WindowSize::Calls(calls),
            (None, None) => WindowSize::Time(Rates::DEFAULT_WINDOW_SECONDS * NANOS_PER_SECOND),
        };
        let minimum_calls = policies
            .minimum_calls
            .unwrap_or(Rates::DEFAULT_MINIMUM_CALLS);
        if minimum_calls == 0 {
            return refuse(
                "minimum_calls",
                "minimum_calls must be at least 1".to_owned(),
            );
        }
        if !has_rate {
            for (argument, given) in [
                ("minimum_calls", policies.minimum_calls.is_some()),
                ("window_seconds", policies.window_seconds.is_some()),
                ("window_calls", policies.window_calls.is_some()),
            ] {
                if given {
                    return refuse(
                        argument,
                        format!(
                            "{argument} has no effect without failure_rate_threshold or \
                             slow_call_rate_threshold"
                        ),
                    );
                }
            }
        }
        if let WindowSize::Calls(calls) = window {
            if policies.minimum_calls.is_some() && minimum_calls > calls {
                return refuse(
                    "minimum_calls",
                    format!(
                        "minimum_calls ({minimum_calls}) must not exceed window_calls ({calls}): \
                         the window never holds more"
                    ),
                );
            }
        }
        self.rates = has_rate.then_some(Rates {
            failure_rate,
            slow_calls,
            // A count window smaller than the default minimum is evaluated once it is full.
            minimum_calls: match window {
                WindowSize::Calls(calls) => minimum_calls.min(calls),
                WindowSize::Time(_) => minimum_calls,
            },
            window,
        });
        let multiplier = policies.recovery_backoff.unwrap_or(1.0);
        if !(multiplier.is_finite() && multiplier >= 1.0) {
            return refuse(
                "recovery_backoff",
                format!("recovery_backoff must be a finite number >= 1, got {multiplier}"),
            );
        }
        let jitter = policies.recovery_jitter.unwrap_or(0.0);
        if !(0.0..1.0).contains(&jitter) {
            return refuse(
                "recovery_jitter",
                format!("recovery_jitter must be a number in [0, 1), got {jitter}"),
            );
        }
        if let Some(max) = policies.max_recovery_timeout {
            if max < self.recovery_timeout {
                return refuse(
                    "max_recovery_timeout",
                    format!(
                        "max_recovery_timeout ({}) must not be less than recovery_timeout ({})",
                        show_seconds(max),
                        show_seconds(self.recovery_timeout)
                    ),
                );
            }
        }
        self.backoff = Backoff {
            multiplier,
            max: policies.max_recovery_timeout,
            jitter,
        };
        Ok(self)
    }

    /// The settings that differ between `self` (what is there) and `wanted`, among `given`.
    pub fn differences(&self, wanted: &Config, given: &Given) -> Vec<Difference> {
        let mut differences = Vec::new();
        let mut compare = |asked: bool, argument, have: String, want: String| {
            if asked && have != want {
                differences.push(Difference {
                    argument,
                    wanted: want,
                    registered: have,
                });
            }
        };
        let count = |n: Option<u32>| n.map_or_else(|| "None".to_owned(), |n| n.to_string());
        let number = |x: Option<f64>| x.map_or_else(|| "None".to_owned(), |x| x.to_string());
        let seconds = |t: Option<Nanos>| t.map_or_else(|| "None".to_owned(), show_seconds);
        compare(
            given.failure_threshold,
            "failure_threshold",
            count(self.failure_threshold),
            count(wanted.failure_threshold),
        );
        compare(
            given.recovery_timeout,
            "recovery_timeout",
            show_seconds(self.recovery_timeout),
            show_seconds(wanted.recovery_timeout),
        );
        compare(
            given.success_threshold,
            "success_threshold",
            self.success_threshold.to_string(),
            wanted.success_threshold.to_string(),
        );
        compare(
            given.half_open_max_calls,
            "half_open_max_calls",
            self.half_open_max_calls.to_string(),
            wanted.half_open_max_calls.to_string(),
        );
        let trial = |t: Option<Nanos>| t.map_or_else(|| "inf".to_owned(), show_seconds);
        compare(
            given.trial_timeout,
            "trial_timeout",
            trial(self.trial_timeout),
            trial(wanted.trial_timeout),
        );
        let (have, want) = (self.rates, wanted.rates);
        compare(
            given.failure_rate_threshold,
            "failure_rate_threshold",
            number(have.and_then(|r| r.failure_rate)),
            number(want.and_then(|r| r.failure_rate)),
        );
        let slow = |r: Option<Rates>| r.and_then(|r| r.slow_calls);
        compare(
            given.slow_call_duration,
            "slow_call_duration",
            seconds(slow(have).map(|s| s.duration)),
            seconds(slow(want).map(|s| s.duration)),
        );
        compare(
            given.slow_call_rate_threshold,
            "slow_call_rate_threshold",
            number(slow(have).map(|s| s.rate)),
            number(slow(want).map(|s| s.rate)),
        );
        compare(
            given.minimum_calls,
            "minimum_calls",
            count(have.map(|r| r.minimum_calls)),
            count(want.map(|r| r.minimum_calls)),
        );
        let window_seconds = |r: Option<Rates>| match r.map(|r| r.window) {
            Some(WindowSize::Time(nanos)) => Some(nanos),
            _ => None,
        };
        let window_calls = |r: Option<Rates>| match r.map(|r| r.window) {
            Some(WindowSize::Calls(calls)) => Some(calls),
            _ => None,
        };
        compare(
            given.window_seconds,
            "window_seconds",
            seconds(window_seconds(have)),
            seconds(window_seconds(want)),
        );
        compare(
            given.window_calls,
            "window_calls",
            count(window_calls(have)),
            count(window_calls(want)),
        );
        compare(
            given.recovery_backoff,
            "recovery_backoff",
            self.backoff.multiplier.to_string(),
            wanted.backoff.multiplier.to_string(),
        );
        compare(
            given.max_recovery_timeout,
            "max_recovery_timeout",
            seconds(self.backoff.max),
            seconds(wanted.backoff.max),
        );
        compare(
            given.recovery_jitter,
            "recovery_jitter",
            self.backoff.jitter.to_string(),
            wanted.backoff.jitter.to_string(),
        );
        differences
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new(
            Self::DEFAULT_FAILURE_THRESHOLD,
            Self::DEFAULT_SUCCESS_THRESHOLD,
            Self::DEFAULT_HALF_OPEN_MAX_CALLS,
            Self::DEFAULT_RECOVERY_TIMEOUT_SECONDS * NANOS_PER_SECOND,
            TrialTimeout::RecoveryTimeout,
        )
        .expect("the defaults are valid")
    }
}

/// Which settings were given explicitly (the others took their defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Given {
    pub failure_threshold: bool,
    pub recovery_timeout: bool,
    pub success_threshold: bool,
    pub half_open_max_calls: bool,
    pub trial_timeout: bool,
    pub failure_rate_threshold: bool,
    pub slow_call_duration: bool,
    pub slow_call_rate_threshold: bool,
    pub minimum_calls: bool,
    pub window_seconds: bool,
    pub window_calls: bool,
    pub recovery_backoff: bool,
    pub max_recovery_timeout: bool,
    pub recovery_jitter: bool,
}

/// One setting that differs: `argument=wanted (registered: registered)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub argument: &'static str,
    pub wanted: String,
    pub registered: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={} (registered: {})",
            self.argument, self.wanted, self.registered
        )
    }
}

/// Seconds as a person writes them: `10` for whole seconds, else the shortest decimal (`10.5`).
pub fn show_seconds(nanos: Nanos) -> String {
    if nanos.is_multiple_of(NANOS_PER_SECOND) {
        (nanos / NANOS_PER_SECOND).to_string()
    } else {
        (nanos as f64 / NANOS_PER_SECOND as f64).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Nanos = NANOS_PER_SECOND;

    #[test]
    fn zero_thresholds_are_refused_naming_the_argument() {
        let config = |f, s, h| Config::new(f, s, h, 0, TrialTimeout::RecoveryTimeout);
        assert_eq!(config(0, 1, 1).unwrap_err().argument, "failure_threshold");
        assert_eq!(config(1, 0, 1).unwrap_err().argument, "success_threshold");
        assert_eq!(config(1, 1, 0).unwrap_err().argument, "half_open_max_calls");
        let err = Config::new(1, 1, 1, SECOND, TrialTimeout::Limit(0)).unwrap_err();
        assert_eq!(err.argument, "trial_timeout");
    }

    #[test]
    fn the_defaults() {
        let config = Config::default();
        assert_eq!(config.failure_threshold, Some(5));
        assert_eq!(config.success_threshold, 2);
        assert_eq!(config.half_open_max_calls, 1);
        assert_eq!(config.recovery_timeout, 60 * SECOND);
        assert_eq!(config.trial_timeout, Some(60 * SECOND));
    }

    #[test]
    fn the_trial_timeout_follows_the_recovery_timeout_unless_given() {
        let with = |recovery, trial| Config::new(1, 1, 1, recovery, trial).unwrap().trial_timeout;
        assert_eq!(with(0, TrialTimeout::RecoveryTimeout), None);
        assert_eq!(with(SECOND, TrialTimeout::RecoveryTimeout), Some(SECOND));
        assert_eq!(with(SECOND, TrialTimeout::Unlimited), None);
        assert_eq!(with(SECOND, TrialTimeout::Limit(5)), Some(5));
    }

    #[test]
    fn differences_name_only_given_settings_that_differ() {
        let have = Config::new(3, 2, 1, 10 * SECOND, TrialTimeout::RecoveryTimeout).unwrap();
        let want = Config::new(7, 2, 4, 10_500_000_000, TrialTimeout::Unlimited).unwrap();
        let all = Given {
            failure_threshold: true,
            recovery_timeout: true,
            success_threshold: true,
            half_open_max_calls: false,
            trial_timeout: true,
            ..Given::default()
        };
        let shown: Vec<String> = have
            .differences(&want, &all)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "failure_threshold=7 (registered: 3)",
                "recovery_timeout=10.5 (registered: 10)",
                "trial_timeout=inf (registered: 10)",
            ]
        );
        assert!(have.differences(&want, &Given::default()).is_empty());
        assert!(have.differences(&have, &all).is_empty());
    }
}
