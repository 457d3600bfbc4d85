//! A second store, for tests only: it keeps a [`Machine`] of its own (no lock-free summary),
//! writes down every operation, queues released tickets until its next operation (as a store that
//! talks to a server would), and can be told to fail. It proves that the seam carries everything
//! a breaker needs, and that errors and deferred releases reach the caller as designed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Store, StoreError, StoreResult};
use crate::clock::{Clock, ManualClock, Nanos};
use crate::config::Config;
use crate::events::Transition;
use crate::machine::{Admission, Machine, Outcome, Snapshot, Ticket, Trip};

/// One operation, as the store saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Acquire,
    Record(Outcome),
    Release,
    /// Released tickets applied, as a batch, before another operation.
    Drain(usize),
    Snapshot,
    Reset,
    ForceOpen,
    /// `isolate()` or `disable()`.
    Manual,
}

#[derive(Debug)]
pub(crate) struct RecordingStore {
    machine: Mutex<Machine>,
    clock: Arc<ManualClock>,
    pub(crate) ops: Mutex<Vec<Op>>,
    released: Mutex<Vec<Ticket>>,
    unavailable: AtomicBool,
}

impl RecordingStore {
    pub(crate) fn new(clock: Arc<ManualClock>) -> Self {
        RecordingStore {
            machine: Mutex::new(Machine::new()),
            clock,
            ops: Mutex::new(Vec::new()),
            released: Mutex::new(Vec::new()),
            unavailable: AtomicBool::new(false),
        }
    }

    pub(crate) fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    pub(crate) fn take_ops(&self) -> Vec<Op> {
        std::mem::take(&mut *self.ops.lock())
    }

    /// Checks that the store is there, hands on the queued releases, then runs `op`.
    fn operate<R>(
        &self,
        config: &Config,
        op: Op,
        run: impl FnOnce(&mut Machine, &ManualClock) -> R,
    ) -> StoreResult<R> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("told to fail".to_owned()));
        }
        let released = std::mem::take(&mut *self.released.lock());
        let mut machine = self.machine.lock();
        if !released.is_empty() {
            self.ops.lock().push(Op::Drain(released.len()));
            for ticket in released {
                let transition =
                    machine.record(config, ticket, Outcome::Ignored, None, &*self.clock);
                assert!(transition.is_none(), "an ignored outcome made a transition");
            }
        }
        self.ops.lock().push(op);
        Ok(run(&mut machine, &self.clock))
    }
}

impl Store for RecordingStore {
    fn now(&self) -> Nanos {
        self.clock.now()
    }

    fn coarse_now(&self) -> Nanos {
        self.clock.coarse_now()
    }

    fn acquire(&self, config: &Config) -> StoreResult<Admission> {
        self.operate(config, Op::Acquire, |m, clock| m.acquire(config, clock))
    }

    fn record(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> StoreResult<Option<Transition>> {
        self.operate(config, Op::Record(outcome), |m, clock| {
            m.record(config, ticket, outcome, trip, clock)
        })
    }

    fn release(&self, _config: &Config, ticket: Ticket) {
        self.ops.lock().push(Op::Release);
        self.released.lock().push(ticket);
    }

    fn snapshot(&self, config: &Config) -> StoreResult<Snapshot> {
        self.operate(config, Op::Snapshot, |m, clock| {
            m.snapshot(config, clock.now())
        })
    }

    fn reset(&self, config: &Config) -> StoreResult<Option<Transition>> {
        self.operate(config, Op::Reset, |m, clock| m.reset(clock))
    }

    fn force_open(
        &self,
        config: &Config,
        duration: Option<Nanos>,
    ) -> StoreResult<Option<Transition>> {
        self.operate(config, Op::ForceOpen, |m, clock| {
            m.force_open(config, duration, clock)
        })
    }

    fn isolate(&self, config: &Config) -> StoreResult<Option<Transition>> {
        self.operate(config, Op::Manual, |m, clock| m.isolate(clock))
    }

    fn disable(&self, config: &Config) -> StoreResult<Option<Transition>> {
        self.operate(config, Op::Manual, |m, clock| m.disable(clock))
    }

    fn describe(&self) -> String {
        "recording".to_owned()
    }
}
