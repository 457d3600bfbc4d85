//! The core of fastbreaker, in plain Rust: nothing here knows about Python (this crate does not
//! depend on PyO3, so the compiler keeps it that way).
//!
//! - [`machine`]: the state machine. It decides; it never stores and never does I/O.
//! - [`store`]: where a breaker's state lives, behind the [`store::Store`] seam; the in-memory
//!   store with its lock-free fast path is the first.
//! - [`breaker`]: a breaker's settings and its store, the surface the bindings use.
//! - [`counters`]: a breaker's counts of calls by outcome and of transitions.
//! - [`policy`]: trip policies beyond the consecutive count: rates over sliding windows, backoff.
//! - [`config`]: the settings as plain values, their defaults, validation and differences.
//! - [`events`]: what a breaker reports: transitions with their reasons.
//! - [`clock`]: monotonic time, with a process-wide manual mode for tests.
//! - [`registry`]: a process-wide map of named values.

pub mod breaker;
pub mod clock;
pub mod config;
pub mod counters;
pub mod events;
pub mod machine;
pub mod policy;
pub mod registry;
pub mod store;

pub use breaker::{Breaker, Report};
pub use config::{Config, ConfigError, Policies, TrialTimeout};
pub use counters::{Counters, Counts};
pub use events::{Notice, Reason, Transition};
pub use machine::{Admission, Outcome, Rejection, Snapshot, State, Ticket, Trip};
pub use store::{
    AnyStore, MemoryStore, RedisBreakerStore, RedisSettings, RedisStore, Store, StoreError,
    StoreResult, TlsFiles, Unavailable,
};

#[cfg(test)]
mod tests;
