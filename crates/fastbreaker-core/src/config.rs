//! The settings of one breaker as plain values: defaults written once, validation, and the
//! differences between two configurations (for a registry asked for a name it already holds).

use crate::clock::{Nanos, NANOS_PER_SECOND};

/// The settings of one breaker. Built by [`Config::new`], which validates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub half_open_max_calls: u32,
    pub recovery_timeout: Nanos,
    /// How long a HALF_OPEN trial may run before its slot is reclaimed; `None`: forever.
    pub trial_timeout: Option<Nanos>,
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
            failure_threshold,
            success_threshold,
            half_open_max_calls,
            recovery_timeout,
            trial_timeout,
        })
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
        compare(
            given.failure_threshold,
            "failure_threshold",
            self.failure_threshold.to_string(),
            wanted.failure_threshold.to_string(),
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
        assert_eq!(config.failure_threshold, 5);
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
