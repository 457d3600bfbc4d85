//! What a breaker tells the world: one [`Transition`] per change of state, with its reason.
//!
//! The core never delivers events itself. Every operation that can change the state returns the
//! transition it made as a value, once its lock is released, and the caller hands it to its one
//! emit point (in the bindings: logging, then the user's listeners). Nothing foreign ever runs
//! while a breaker's lock is held.

use crate::machine::State;

/// Why a circuit changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// CLOSED -> OPEN: `failure_threshold` consecutive failures.
    FailureThreshold,
    /// CLOSED -> OPEN: the failure rate over the window reached `failure_rate_threshold`.
    FailureRate,
    /// CLOSED -> OPEN: the share of slow calls over the window reached `slow_call_rate_threshold`.
    SlowCallRate,
    /// -> OPEN: a failure reported with the time to stay open (`record_failure(open_for=...)`,
    /// a `Retry-After` answer).
    OpenFor,
    /// OPEN -> HALF_OPEN: the recovery timeout passed and a call arrived.
    RecoveryTimeout,
    /// HALF_OPEN -> OPEN: a trial call failed.
    TrialFailed,
    /// HALF_OPEN -> CLOSED: `success_threshold` trial calls succeeded.
    TrialSucceeded,
    /// `reset()`: closed by hand.
    Reset,
    /// `open()`: opened by hand.
    Forced,
    /// `isolate()`: held open by hand until `reset()`.
    Isolated,
    /// `disable()`: switched off by hand until `reset()`.
    Disabled,
    /// Learned by reading a shared store's state: the change was made elsewhere and its message
    /// missed (or the store came back empty, closed).
    Synchronised,
}

impl Reason {
    /// The short word used in events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::FailureThreshold => "failure_threshold",
            Reason::FailureRate => "failure_rate",
            Reason::SlowCallRate => "slow_call_rate",
            Reason::OpenFor => "open_for",
            Reason::RecoveryTimeout => "recovery_timeout",
            Reason::TrialFailed => "trial_failed",
            Reason::TrialSucceeded => "trial_succeeded",
            Reason::Reset => "reset",
            Reason::Forced => "forced",
            Reason::Isolated => "isolated",
            Reason::Disabled => "disabled",
            Reason::Synchronised => "synchronised",
        }
    }

    pub const ALL: [Reason; 12] = [
        Reason::Isolated,
        Reason::Disabled,
        Reason::FailureThreshold,
        Reason::FailureRate,
        Reason::SlowCallRate,
        Reason::OpenFor,
        Reason::RecoveryTimeout,
        Reason::TrialFailed,
        Reason::TrialSucceeded,
        Reason::Reset,
        Reason::Forced,
        Reason::Synchronised,
    ];
}

/// A change of state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: Reason,
    /// The counts just after the change.
    pub failure_count: u32,
    pub success_count: u32,
    /// Failures and successes that led to it (the counts just before a closing or opening
    /// zeroed them): for a log line that says what closed a circuit.
    pub failures_before: u32,
    pub successes_before: u32,
    /// When it happened, in seconds since the Unix epoch (the store's wall clock).
    pub time: f64,
}

impl Transition {
    /// One line for a log: `circuit breaker 'NAME' FROM -> TO (reason: REASON, ...)`.
    pub fn describe(&self, name: &str) -> String {
        let counts = match self.reason {
            Reason::TrialSucceeded => format!("{} successful trial(s)", self.successes_before),
            Reason::FailureThreshold => {
                format!("{} consecutive failure(s)", self.failures_before)
            }
            _ => format!(
                "failure_count={}, success_count={}",
                self.failure_count, self.success_count
            ),
        };
        format!(
            "circuit breaker '{name}' {} -> {} (reason: {}, {counts})",
            self.from.as_str(),
            self.to.as_str(),
            self.reason.as_str()
        )
    }
}

/// What a store has to tell the bindings besides the transitions of their own calls: collected
/// with [`crate::Store::take_news`] on a thread that may report it (the store's own threads never
/// report anything themselves).
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// A transition made elsewhere (another process of the fleet), learned from the store.
    Learned(Transition),
    /// The store cannot be reached: the breaker goes on without it (the message says how).
    StoreUnreachable(String),
    /// The store answers again: the breaker rejoins the shared state.
    StoreReachable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(from: State, to: State, reason: Reason) -> Transition {
        Transition {
            from,
            to,
            reason,
            failure_count: 0,
            success_count: 0,
            failures_before: 3,
            successes_before: 2,
            time: 0.0,
        }
    }

    #[test]
    fn reasons_have_distinct_words() {
        let words: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(words.len(), Reason::ALL.len());
    }

    #[test]
    fn a_log_line_says_what_caused_the_transition() {
        let closed = transition(State::HalfOpen, State::Closed, Reason::TrialSucceeded);
        assert_eq!(
            closed.describe("db"),
            "circuit breaker 'db' half_open -> closed (reason: trial_succeeded, \
             2 successful trial(s))"
        );
        let opened = transition(State::Closed, State::Open, Reason::FailureThreshold);
        assert_eq!(
            opened.describe("db"),
            "circuit breaker 'db' closed -> open (reason: failure_threshold, \
             3 consecutive failure(s))"
        );
        let reset = transition(State::Open, State::Closed, Reason::Reset);
        assert!(reset
            .describe("db")
            .ends_with("(reason: reset, failure_count=0, success_count=0)"));
    }
}
