//! `CircuitBreaker`: the Python class around the core's [`Breaker`], and the call protocol
//! (admission, the call, its outcome) that `call()`, decorated functions and permits share.
//!
//! The rule everywhere: the core's locks are released before any method here returns to code that
//! may run Python (the protected function, `isinstance` checks, logging, listeners).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fastbreaker_core::clock::{seconds_from_nanos, Nanos};
use fastbreaker_core::machine::FOREVER;
use fastbreaker_core::policy::WindowSize;
use fastbreaker_core::{
    Admission, AnyStore, Breaker, Notice, Outcome, Rejection, Report, Snapshot, State, Store,
    Ticket, Transition,
};
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::{ffi, intern, PyTraverseError, PyVisit};

use crate::awaitable::GuardedCall;
use crate::errors::{guarded, CircuitBreakerError};
use crate::inspect::{is_coroutine_function, returned, Returned};
use crate::listeners::{emit, Listeners};
use crate::options::{
    require_callable, Arg, BreakerName, ExpectedExceptions, FailureThreshold, HalfOpenMaxCalls,
    OptionArgs, Options, PolicyArgs, RecoveryTimeout, StoreChoice, SuccessThreshold, Threshold,
    TrialTimeoutArg,
};
use crate::permit::Permit;
use crate::python;
use crate::store::{resolve, PyRedisStore};

/// A circuit breaker. See the Python documentation of `fastbreaker.CircuitBreaker`.
#[pyclass(frozen, weakref, module = "fastbreaker._core", name = "CircuitBreaker")]
pub struct PyCircuitBreaker {
    pub(crate) core: Breaker<AnyStore>,
    name: Py<PyString>,
    pub(crate) name_str: String,
    recovery_timeout: Py<PyAny>,
    expected: Py<PyTuple>,
    /// `expected_exceptions == (Exception,)`: classification needs no `isinstance` call.
    expects_any_exception: bool,
    listeners: Listeners,
    /// The shared store the state is kept in; `None`: this process's memory.
    pub(crate) redis: Option<Py<PyRedisStore>>,
    /// For the HTTP integrations: whether a 503/429's `Retry-After` opens the circuit, and the
    /// longest one honoured (as given, and in nanoseconds).
    honor_retry_after: bool,
    max_retry_after: Py<PyAny>,
    max_retry_after_nanos: Nanos,
    /// `result_is_failure(result)`: a returned value it marks is a failure.
    pub(crate) result_is_failure: Option<Py<PyAny>>,
    /// `exception_is_failure(error)`: an expected exception it rejects is ignored.
    exception_is_failure: Option<Py<PyAny>>,
    /// A predicate raised, and that was logged (once per breaker).
    predicate_failed: AtomicBool,
}

/// Hands the ticket back unless the outcome was recorded: a call that unwinds for any reason
/// never keeps a trial slot. The release is the store's no-I/O path.
pub(crate) struct TicketGuard<'a> {
    core: &'a Breaker<AnyStore>,
    ticket: Option<Ticket>,
}

impl TicketGuard<'_> {
    pub(crate) fn take(mut self) -> Option<Ticket> {
        self.ticket.take()
    }

    pub(crate) fn is_trial(&self) -> bool {
        self.ticket.is_some_and(|t| t.is_trial())
    }
}

impl Drop for TicketGuard<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.core.release(ticket);
        }
    }
}

fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("breaker-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl PyCircuitBreaker {
    /// A breaker named `name` (`None`: an auto-generated name, which keeps it in memory).
    pub(crate) fn build(py: Python<'_>, options: &Options, name: Option<String>) -> PyResult<Self> {
        // Refuses (or, for the default store, keeps in memory) what the store cannot keep.
        let (store, redis) = resolve(py, &options.store, name.as_deref(), options.config)?;
        let name_str = name.unwrap_or_else(unique_name);
        Ok(PyCircuitBreaker {
            core: Breaker::new(options.config, store),
            name: PyString::new(py, &name_str).unbind(),
            name_str,
            recovery_timeout: options.recovery_timeout.clone_ref(py),
            expected: options.expected.clone_ref(py),
            expects_any_exception: options.expects_any_exception,
            listeners: Listeners::default(),
            redis,
            honor_retry_after: options.honor_retry_after,
            max_retry_after: options.max_retry_after.clone_ref(py),
            max_retry_after_nanos: options.max_retry_after_nanos,
            result_is_failure: options.result_is_failure.as_ref().map(|p| p.clone_ref(py)),
            exception_is_failure: options
                .exception_is_failure
                .as_ref()
                .map(|p| p.clone_ref(py)),
            predicate_failed: AtomicBool::new(false),
        })
    }

    /// A breaker as Python sees it: built, and (when named) among those observers see.
    pub(crate) fn create<'py>(
        py: Python<'py>,
        options: &Options,
        name: Option<String>,
    ) -> PyResult<Bound<'py, Self>> {
        let named = name.is_some();
        let breaker = Bound::new(py, Self::build(py, options, name)?)?;
        if named {
            crate::observed::observe(&breaker)?;
        }
        Ok(breaker)
    }

    /// Decides whether a call may run, letting other threads run while the store waits on I/O.
    #[inline(always)]
    fn acquire_ticket(&self, py: Python<'_>) -> PyResult<Admission> {
        match self.core.try_acquire() {
            Some(admission) => Ok(admission),
            None => self.acquire_waiting(py),
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_waiting(&self, py: Python<'_>) -> PyResult<Admission> {
        Self::wait(py, || self.core.acquire())
    }

    /// Reports an outcome the lock-free path could not settle, letting other threads run while
    /// the store waits on I/O.
    #[inline(always)]
    fn report(&self, py: Python<'_>, report: Report) -> PyResult<Option<Transition>> {
        match self.core.try_report(report) {
            Some(transition) => Ok(transition),
            None => self.report_waiting(py, report),
        }
    }

    #[cold]
    #[inline(never)]
    fn report_waiting(&self, py: Python<'_>, report: Report) -> PyResult<Option<Transition>> {
        Self::wait(py, || self.core.report(report))
    }

    pub(crate) fn snapshot(&self, py: Python<'_>) -> PyResult<Snapshot> {
        match guarded(|| Ok(self.core.try_snapshot()))? {
            Some(snapshot) => Ok(snapshot),
            None => Self::wait(py, || self.core.snapshot()),
        }
    }

    /// Runs a store operation that may wait on I/O with the interpreter detached (and a panic in
    /// it turned into an exception).
    fn wait<T: Send>(
        py: Python<'_>,
        operation: impl Send + FnOnce() -> Result<T, fastbreaker_core::StoreError>,
    ) -> PyResult<T> {
        py.detach(|| guarded(operation))
    }

    /// The options this breaker was built with, as an [`Options`] (all taken as given).
    pub(crate) fn options(&self, py: Python<'_>) -> Options {
        Options {
            config: *self.core.config(),
            recovery_timeout: self.recovery_timeout.clone_ref(py),
            expected: self.expected.clone_ref(py),
            expects_any_exception: self.expects_any_exception,
            given: Default::default(),
            expected_exceptions_given: false,
            name: Some(self.name_str.clone()),
            store: match &self.redis {
                Some(store) => StoreChoice::Redis(store.clone_ref(py)),
                None => StoreChoice::Memory,
            },
            store_given: false,
            honor_retry_after: self.honor_retry_after,
            max_retry_after: self.max_retry_after.clone_ref(py),
            max_retry_after_nanos: self.max_retry_after_nanos,
            honor_retry_after_given: false,
            max_retry_after_given: false,
            result_is_failure: self.result_is_failure.as_ref().map(|p| p.clone_ref(py)),
            exception_is_failure: self.exception_is_failure.as_ref().map(|p| p.clone_ref(py)),
        }
    }

    /// The emit point: every transition of this breaker goes through here, after the core's
    /// lock is released.
    ///
    /// It also reports what the store learned since the last call (transitions made by other
    /// processes of the fleet, the store going away or coming back): the store's own threads
    /// never run Python, so its news waits for the next call, status or change of this breaker.
    #[inline(always)]
    pub(crate) fn publish(&self, py: Python<'_>, transition: Option<Transition>) -> PyResult<()> {
        if let Some(t) = transition {
            emit(
                py,
                self.name.bind(py),
                &self.name_str,
                &self.listeners,
                &t,
                false,
            )?;
        }
        if self.core.has_news() {
            self.report_news(py)?;
        }
        Ok(())
    }

    #[cold]
    fn report_news(&self, py: Python<'_>) -> PyResult<()> {
        for notice in self.core.take_news() {
            match notice {
                Notice::Learned(t) => emit(
                    py,
                    self.name.bind(py),
                    &self.name_str,
                    &self.listeners,
                    &t,
                    true,
                )?,
                Notice::StoreUnreachable(message) => {
                    python::log_message(py, python::WARNING, &message)?
                }
                Notice::StoreReachable(message) => python::log_message(py, python::INFO, &message)?,
            }
        }
        Ok(())
    }

    /// The trip-policy options and the window's totals, into a status.
    fn policy_status(&self, py: Python<'_>, status: &Bound<'_, PyDict>) -> PyResult<()> {
        let config = self.core.config();
        let rates = config.rates;
        let slow = rates.and_then(|r| r.slow_calls);
        status.set_item(
            intern!(py, "failure_rate_threshold"),
            rates.and_then(|r| r.failure_rate),
        )?;
        status.set_item(
            intern!(py, "slow_call_duration"),
            slow.map(|s| seconds_from_nanos(s.duration)),
        )?;
        status.set_item(
            intern!(py, "slow_call_rate_threshold"),
            slow.map(|s| s.rate),
        )?;
        status.set_item(intern!(py, "minimum_calls"), rates.map(|r| r.minimum_calls))?;
        let (window_seconds, window_calls) = match rates.map(|r| r.window) {
            Some(WindowSize::Time(nanos)) => (Some(seconds_from_nanos(nanos)), None),
            Some(WindowSize::Calls(calls)) => (None, Some(calls)),
            None => (None, None),
        };
        status.set_item(intern!(py, "window_seconds"), window_seconds)?;
        status.set_item(intern!(py, "window_calls"), window_calls)?;
        let window = match self.core.window_totals() {
            Some(totals) => {
                let window = PyDict::new(py);
                window.set_item(intern!(py, "calls"), totals.calls)?;
                window.set_item(intern!(py, "failures"), totals.failures)?;
                window.set_item(intern!(py, "slow"), totals.slow)?;
                Some(window)
            }
            None => None,
        };
        status.set_item(intern!(py, "window"), window)?;
        status.set_item(intern!(py, "recovery_backoff"), config.backoff.multiplier)?;
        status.set_item(
            intern!(py, "max_recovery_timeout"),
            config.backoff.max.map(seconds_from_nanos),
        )?;
        status.set_item(intern!(py, "recovery_jitter"), config.backoff.jitter)?;
        status.set_item(intern!(py, "honor_retry_after"), self.honor_retry_after)?;
        status.set_item(
            intern!(py, "max_retry_after"),
            self.max_retry_after.bind(py),
        )?;
        Ok(())
    }

    /// The error a rejected call raises; making it counts the rejection (the one place every
    /// call turned away passes).
    pub(crate) fn rejection_error(&self, py: Python<'_>, rejection: Rejection) -> PyErr {
        self.core.counters().rejected();
        let error = CircuitBreakerError::rejected(
            self.name.clone_ref(py),
            rejection.state,
            match rejection.retry_after {
                FOREVER => f64::INFINITY, // isolated: until reset()
                nanos => seconds_from_nanos(nanos),
            },
            self.core.config().half_open_max_calls,
        );
        match Bound::new(py, error) {
            Ok(instance) => PyErr::from_value(instance.into_any()),
            Err(err) => err,
        }
    }

    /// Takes admission for one call, publishing the transition that admitting made (if any).
    #[inline(always)]
    pub(crate) fn admit(&self, py: Python<'_>) -> PyResult<Result<TicketGuard<'_>, Rejection>> {
        if let Some(guard) = self.admit_closed() {
            // The hot path: a CLOSED circuit, no lock, nothing to publish but news.
            self.publish(py, None)?;
            return Ok(Ok(guard));
        }
        self.admit_slow(py)
    }

    /// Admission to a CLOSED circuit (lock-free), unpublished; `None`: ask `admit_slow`.
    #[inline(always)]
    fn admit_closed(&self) -> Option<TicketGuard<'_>> {
        let ticket = self.core.admit_closed()?;
        Some(TicketGuard {
            core: &self.core,
            ticket: Some(ticket),
        })
    }

    #[inline(never)]
    fn admit_slow(&self, py: Python<'_>) -> PyResult<Result<TicketGuard<'_>, Rejection>> {
        Ok(match self.acquire_ticket(py)? {
            Admission::Admitted(ticket, transition) => {
                let guard = TicketGuard {
                    core: &self.core,
                    ticket: Some(ticket),
                };
                self.publish(py, transition)?;
                Ok(guard)
            }
            Admission::Rejected(rejection) => {
                self.publish(py, None)?;
                Err(rejection)
            }
        })
    }

    /// Reports the outcome of an admitted call and publishes what it changed.
    #[inline(always)]
    pub(crate) fn settle(&self, py: Python<'_>, ticket: Ticket, outcome: Outcome) -> PyResult<()> {
        match self.core.settle_quiet(ticket, outcome) {
            // The hot path: nothing changed, nothing to publish but news.
            Ok(()) => self.publish(py, None),
            Err(report) => self.settle_slow(py, report),
        }
    }

    /// Reports what the lock-free path could not settle (or a failure with its own open
    /// duration) and publishes what it changed.
    #[inline(never)]
    pub(crate) fn settle_slow(&self, py: Python<'_>, report: Report) -> PyResult<()> {
        let transition = self.report(py, report)?;
        self.publish(py, transition)
    }

    /// The outcome of a call that returned `value`: a success, unless `result_is_failure` marks
    /// it a failure. A predicate that raises an `Exception` makes it ignored (logged once per
    /// breaker); a `BaseException` (Ctrl-C) is returned, to be raised.
    #[inline(always)]
    pub(crate) fn returned_outcome(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        match &self.result_is_failure {
            None => Ok(Outcome::Success),
            Some(predicate) => self.judge(py, predicate, "result_is_failure", value),
        }
    }

    /// `Failure` when `predicate(value)` is true, `Success` when false (the caller maps that for
    /// exceptions), `Ignored` when it raises an `Exception` (logged once per breaker).
    #[cold]
    fn judge(
        &self,
        py: Python<'_>,
        predicate: &Py<PyAny>,
        what: &str,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let verdict = predicate
            .bind(py)
            .call1((value,))
            .and_then(|answer| answer.is_truthy());
        match verdict {
            Ok(true) => Ok(Outcome::Failure),
            Ok(false) => Ok(Outcome::Success),
            Err(error) if !error.is_instance_of::<PyException>(py) => Err(error),
            Err(error) => {
                if !self.predicate_failed.swap(true, Ordering::Relaxed) {
                    python::predicate_failed(py)?.call1((
                        what,
                        predicate.bind(py),
                        &self.name_str,
                        error.value(py),
                    ))?;
                }
                Ok(Outcome::Ignored)
            }
        }
    }

    /// Counted failure, or ignored. An `isinstance` check that itself raises makes the outcome
    /// ignored, and its error is returned (with the call's own exception as its cause); so is a
    /// `BaseException` raised by `exception_is_failure`, whose `Exception`s are logged instead.
    pub(crate) fn classify(&self, py: Python<'_>, err: &PyErr) -> (Outcome, Option<PyErr>) {
        let (outcome, check_error) = self.classify_expected(py, err);
        match (&self.exception_is_failure, outcome) {
            (Some(predicate), Outcome::Failure) => {
                match self.judge(
                    py,
                    predicate,
                    "exception_is_failure",
                    err.value(py).as_any(),
                ) {
                    Ok(Outcome::Failure) => (Outcome::Failure, None),
                    Ok(_) => (Outcome::Ignored, None),
                    Err(predicate_error) => {
                        predicate_error.set_cause(py, Some(err.clone_ref(py)));
                        (Outcome::Ignored, Some(predicate_error))
                    }
                }
            }
            _ => (outcome, check_error),
        }
    }

    fn classify_expected(&self, py: Python<'_>, err: &PyErr) -> (Outcome, Option<PyErr>) {
        if !err.is_instance_of::<PyException>(py) {
            return (Outcome::Ignored, None); // KeyboardInterrupt, SystemExit, CancelledError...
        }
        if err.is_instance_of::<CircuitBreakerError>(py) {
            // A call turned away by a breaker (this one or another, nested) made no call: it
            // says nothing about this service's health.
            return (Outcome::Ignored, None);
        }
        if self.expects_any_exception {
            return (Outcome::Failure, None);
        }
        match err.value(py).is_instance(self.expected.bind(py)) {
            Ok(true) => (Outcome::Failure, None),
            Ok(false) => (Outcome::Ignored, None),
            Err(check_error) => {
                check_error.set_cause(py, Some(err.clone_ref(py)));
                (Outcome::Ignored, Some(check_error))
            }
        }
    }

    /// Runs a synchronous call under the breaker; turned away, it calls `fallback` with the same
    /// arguments instead, when there is one.
    pub(crate) fn guarded_call<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
        fallback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::guarded(
            slf,
            func,
            || func.call(args, kwargs),
            || Self::call_async_with(slf, func, args, kwargs, fallback),
            |rejected| match fallback {
                Some(fallback) => fallback.call(args, kwargs),
                None => Err(rejected),
            },
        )
    }

    /// `call_async`, with the fallback of a protected function (`None` from `call_async()`).
    pub(crate) fn call_async_with<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
        fallback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        require_callable(func, "call_async() argument 'func'")?;
        let kwargs = match kwargs {
            Some(k) => k.clone(),
            None => PyDict::new(slf.py()),
        };
        python::call_async(slf.py())?.call1((slf, func, args, kwargs, fallback))
    }

    /// The call protocol: admission, `invoke` (the call itself), outcome. `as_coroutine` makes the
    /// awaitable when a coroutine function meets a rejection (its coroutine would only take
    /// admission when it starts, so rejecting it now would be premature); `rejected` is given the
    /// `CircuitBreakerError` of a call turned away (it raises it, or calls a fallback).
    ///
    /// The CLOSED path is: a lock-free admission, the call, a lock-free success. Everything about
    /// trials (nested calls, the trial context) is on the HALF_OPEN path only.
    #[inline]
    pub(crate) fn guarded<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        invoke: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
        as_coroutine: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
        rejected: impl FnOnce(PyErr) -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        if let Some(guard) = this.admit_closed() {
            // The hot path, written out here rather than through `admit` (whose nested results
            // cost a dozen instructions of shuffling): a CLOSED ticket is never a trial's.
            this.publish(py, None)?;
            let result = invoke();
            return Self::finish(slf, guard, result);
        }
        let guard = match this.admit_slow(py)? {
            Ok(guard) => guard,
            Err(rejection) => {
                if rejection.state == State::HalfOpen && in_trial(slf)? {
                    // A call made from inside this breaker's trial, in the same thread or task:
                    // part of that trial, whose outcome is the one that counts.
                    return invoke();
                }
                if is_coroutine_function(func) {
                    return as_coroutine();
                }
                return rejected(this.rejection_error(py, rejection));
            }
        };
        if guard.is_trial() {
            return Self::trial(slf, guard, invoke);
        }
        let result = invoke();
        Self::finish(slf, guard, result)
    }

    /// A HALF_OPEN trial: run with this thread or task marked as running it, so that calls nested
    /// in it are part of it instead of being turned away for want of a slot.
    #[cold]
    fn trial<'py>(
        slf: &Bound<'py, Self>,
        guard: TicketGuard<'_>,
        invoke: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if in_trial(slf)? {
            drop(guard); // nested in a trial of ours: give the slot back, count nothing
            return invoke();
        }
        let token = python::enter_trial(py)?.call1((slf,))?;
        let result = invoke();
        python::leave_trial(py)?.call1((token,))?;
        Self::finish(slf, guard, result)
    }

    /// Records the outcome of an admitted call from what it returned or raised.
    #[inline(always)]
    fn finish<'py>(
        slf: &Bound<'py, Self>,
        guard: TicketGuard<'_>,
        result: PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        match result {
            Ok(value) => match returned(&value) {
                // Without a predicate the outcome is a constant, which the settling code
                // inlined here is specialised for.
                Returned::Value if this.result_is_failure.is_none() => {
                    if let Some(ticket) = guard.take() {
                        this.settle(py, ticket, Outcome::Success)?;
                    }
                    Ok(value)
                }
                Returned::Value => {
                    let outcome = this.returned_outcome(py, &value)?;
                    if let Some(ticket) = guard.take() {
                        this.settle(py, ticket, outcome)?;
                    }
                    Ok(value)
                }
                // An asynchronous callable: calling it only created the coroutine (nothing ran).
                // Give the admission back; the coroutine takes its own when it starts.
                Returned::Coroutine => {
                    drop(guard);
                    let guarded = GuardedCall::new(py, slf.clone().unbind(), value.unbind(), None);
                    Ok(Bound::new(py, guarded)?.into_any())
                }
                // The work is under way: its outcome is recorded when it completes.
                Returned::Awaitable => {
                    let permit = Permit::new(slf.clone().unbind(), guard.take());
                    python::guard_awaitable(py)?.call1((permit, value))
                }
                Returned::Generator => {
                    drop(guard); // nothing ran: nothing to record
                    Err(PyTypeError::new_err(format!(
                        "a circuit breaker cannot protect a generator: the call returned {}, \
                         whose work (and errors) would come while it is iterated, outside the \
                         breaker",
                        value.get_type().name()?
                    )))
                }
            },
            Err(err) => {
                let (outcome, check_error) = this.classify(py, &err);
                if let Some(ticket) = guard.take() {
                    this.settle(py, ticket, outcome)?;
                }
                Err(check_error.unwrap_or(err))
            }
        }
    }
}

/// Seconds to stay open (`open(duration)`, `record_failure(open_for)`): an `int` or a `float`,
/// finite and >= 0, as every duration option is read.
pub(crate) fn open_seconds(value: &Bound<'_, PyAny>, argument: &str) -> PyResult<Nanos> {
    // Below FOREVER: a duration however long is an opening with an end, not an isolation.
    Ok(crate::options::seconds(value, argument, false)?.min(FOREVER - 1))
}

/// Whether this thread or asyncio task is running a trial of `breaker` (half-open path only).
fn in_trial(breaker: &Bound<'_, PyCircuitBreaker>) -> PyResult<bool> {
    python::in_trial(breaker.py())?
        .call1((breaker,))?
        .is_truthy()
}

#[pymethods]
impl PyCircuitBreaker {
    #[new]
    #[pyo3(signature = (
        failure_threshold = Arg::Missing,
        recovery_timeout = Arg::Missing,
        success_threshold = Arg::Missing,
        expected_exceptions = Arg::Missing,
        name = None,
        half_open_max_calls = Arg::Missing,
        trial_timeout = Arg::Missing,
        store = Arg::Missing,
        **policies,
    ))]
    #[allow(clippy::too_many_arguments)] // the documented signature
    fn new<'py>(
        py: Python<'py>,
        failure_threshold: Arg<Option<Threshold<FailureThreshold>>>,
        recovery_timeout: Arg<RecoveryTimeout>,
        success_threshold: Arg<Threshold<SuccessThreshold>>,
        expected_exceptions: Arg<ExpectedExceptions>,
        name: Option<BreakerName>,
        half_open_max_calls: Arg<Threshold<HalfOpenMaxCalls>>,
        trial_timeout: Arg<TrialTimeoutArg>,
        store: Arg<StoreChoice>,
        policies: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, Self>> {
        let options = Options::new(
            py,
            OptionArgs {
                failure_threshold,
                recovery_timeout,
                success_threshold,
                expected_exceptions,
                half_open_max_calls,
                trial_timeout,
                store,
                policies: PolicyArgs::extract("CircuitBreaker", policies)?,
            },
        )?;
        Self::create(py, &options, name.map(|n| n.0))
    }

    /// A breaker with options checked beforehand (by the decorator, once for all it decorates),
    /// named as the options say, or else `default_name`.
    #[staticmethod]
    #[pyo3(signature = (options, default_name = None))]
    fn _from_options<'py>(
        py: Python<'py>,
        options: &Bound<'py, Options>,
        default_name: Option<BreakerName>,
    ) -> PyResult<Bound<'py, Self>> {
        let options = options.get();
        let name = options.name.clone().or(default_name.map(|n| n.0));
        Self::create(py, options, name)
    }

    /// Calls `func(*args, **kwargs)` under the breaker. For an `async def` function the result is
    /// an awaitable whose outcome is recorded when it completes.
    // One tuple holds `func` and its arguments: the arguments are passed on from inside it (a
    // vectorcall), with no second tuple for them.
    #[pyo3(signature = (*func_and_args, **kwargs), text_signature = "($self, func, /, *args, **kwargs)")]
    fn call<'py>(
        slf: &Bound<'py, Self>,
        func_and_args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let func = func_and_args.get_item(0).map_err(|_| {
            PyTypeError::new_err("call() missing 1 required positional argument: 'func'")
        })?;
        require_callable(&func, "call() argument 'func'")?;
        let invoke = || {
            let count = func_and_args.len() - 1;
            let kwargs = kwargs.map_or(std::ptr::null_mut(), |k| k.as_ptr());
            // SAFETY: the tuple outlives the call and is never resized; its items are one
            // contiguous array, `func` first and its `count` arguments after it, each a live
            // reference owned by the tuple. `kwargs` is a dict or null, as the call allows.
            unsafe {
                let tuple = func_and_args.as_ptr().cast::<ffi::PyTupleObject>();
                let args = std::ptr::addr_of!((*tuple).ob_item).cast::<*mut ffi::PyObject>();
                let result =
                    ffi::PyObject_VectorcallDict(func.as_ptr(), args.add(1), count, kwargs);
                Bound::from_owned_ptr_or_err(py, result)
            }
        };
        let as_coroutine = || {
            let args = func_and_args.get_slice(1, func_and_args.len());
            Self::call_async(slf, &func, &args, kwargs)
        };
        Self::guarded(slf, &func, invoke, as_coroutine, Err)
    }

    /// Returns a coroutine that awaits `func(*args, **kwargs)` under the breaker, taking its
    /// admission when it starts running.
    #[pyo3(signature = (func, /, *args, **kwargs))]
    pub(crate) fn call_async<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::call_async_with(slf, func, args, kwargs, None)
    }

    /// Decorates `func` with this breaker: `@breaker`, or `breaker(func, fallback=f)`: a call
    /// turned away calls `f(*args, **kwargs)` instead (awaited for an `async def`).
    #[pyo3(signature = (func, /, fallback = None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        fallback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        require_callable(func, "what a CircuitBreaker decorates")?;
        if let Some(fallback) = fallback {
            require_callable(fallback, "fallback")?;
        }
        python::decorate(slf.py())?.call1((slf, func, fallback))
    }

    /// Takes admission for one call whose outcome you report yourself on the returned `Permit`
    /// (for code that cannot be wrapped in one function call). Raises `CircuitBreakerError`
    /// when turned away.
    ///
    /// From inside a trial of this breaker (same thread or asyncio task), the permit is part of
    /// that trial: it takes no slot and its reports count nothing.
    fn acquire(slf: &Bound<'_, Self>) -> PyResult<Permit> {
        let py = slf.py();
        let this = slf.get();
        let ticket = match this.admit(py)? {
            Ok(guard) if guard.is_trial() && in_trial(slf)? => None, // the guard gives it back
            Ok(guard) => guard.take(),
            Err(rejection) if rejection.state == State::HalfOpen && in_trial(slf)? => None,
            Err(rejection) => return Err(this.rejection_error(py, rejection)),
        };
        Ok(Permit::new(slf.clone().unbind(), ticket))
    }

    /// Calls `listener(event)` on every transition of this breaker, in the thread that made it,
    /// after the breaker's lock is released. Its exceptions never reach the call; the first one is
    /// logged.
    fn add_listener(&self, listener: &Bound<'_, PyAny>) -> PyResult<()> {
        require_callable(listener, "listener")?;
        self.listeners.add(listener.clone().unbind());
        Ok(())
    }

    /// Removes a listener added with `add_listener` (`ValueError` if it is not one).
    fn remove_listener(&self, listener: &Bound<'_, PyAny>) -> PyResult<()> {
        self.listeners.remove(listener, &self.name_str)
    }

    /// A JSON-serialisable snapshot of the breaker.
    pub(crate) fn get_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let snap = self.snapshot(py)?;
        // Read before the store's news are reported: a store queues the notice that it answers
        // again (or not) before it says so, so a status that shows the change has logged it.
        let store = self.core.store();
        let reachable = store.is_reachable();
        self.publish(py, None)?;
        let config = self.core.config();
        let status = PyDict::new(py);
        status.set_item(intern!(py, "name"), self.name.bind(py))?;
        status.set_item(intern!(py, "state"), snap.state.as_str())?;
        status.set_item(intern!(py, "failure_count"), snap.failure_count)?;
        status.set_item(intern!(py, "success_count"), snap.success_count)?;
        status.set_item(intern!(py, "last_failure_time"), snap.last_failure_time)?;
        status.set_item(intern!(py, "failure_threshold"), config.failure_threshold)?;
        status.set_item(
            intern!(py, "recovery_timeout"),
            self.recovery_timeout.bind(py),
        )?;
        status.set_item(intern!(py, "success_threshold"), config.success_threshold)?;
        status.set_item(
            intern!(py, "half_open_max_calls"),
            config.half_open_max_calls,
        )?;
        // null when trials may run for ever (JSON has no infinity).
        let trial_timeout = config.trial_timeout.map(seconds_from_nanos);
        status.set_item(intern!(py, "trial_timeout"), trial_timeout)?;
        // null while isolated: until reset() (JSON has no infinity).
        let until_reset = |nanos: Nanos| (nanos != FOREVER).then(|| seconds_from_nanos(nanos));
        status.set_item(intern!(py, "retry_after"), until_reset(snap.retry_after))?;
        status.set_item(
            intern!(py, "open_duration"),
            until_reset(snap.open_duration),
        )?;
        self.policy_status(py, &status)?;
        status.set_item(intern!(py, "store"), store.describe())?;
        status.set_item(intern!(py, "store_reachable"), reachable)?;
        let counts = self.core.counters().read();
        let calls = PyDict::new(py);
        calls.set_item(intern!(py, "success"), counts.success)?;
        calls.set_item(intern!(py, "failure"), counts.failure)?;
        calls.set_item(intern!(py, "ignored"), counts.ignored)?;
        calls.set_item(intern!(py, "rejected"), counts.rejected)?;
        status.set_item(intern!(py, "calls"), calls)?;
        let transitions = PyDict::new(py);
        transitions.set_item(State::Closed.as_str(), counts.to_closed)?;
        transitions.set_item(State::Open.as_str(), counts.to_open)?;
        transitions.set_item(State::HalfOpen.as_str(), counts.to_half_open)?;
        transitions.set_item(State::Isolated.as_str(), counts.to_isolated)?;
        transitions.set_item(State::Disabled.as_str(), counts.to_disabled)?;
        status.set_item(intern!(py, "transitions"), transitions)?;
        Ok(status)
    }

    /// Closes the circuit and zeroes the counts (`last_failure_time` is kept).
    pub(crate) fn reset(&self, py: Python<'_>) -> PyResult<()> {
        let transition = Self::wait(py, || self.core.reset())?;
        self.publish(py, transition)
    }

    /// Forces the circuit open for `duration` seconds (`None`: the usual open duration),
    /// restarting the timer.
    #[pyo3(signature = (duration = None))]
    fn open(&self, py: Python<'_>, duration: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let duration = duration.map(|d| open_seconds(d, "duration")).transpose()?;
        let transition = Self::wait(py, || self.core.force_open(duration))?;
        self.publish(py, transition)
    }

    /// Holds the circuit open until `reset()`, whatever the timeout (maintenance, incidents).
    fn isolate(&self, py: Python<'_>) -> PyResult<()> {
        let transition = Self::wait(py, || self.core.isolate())?;
        self.publish(py, transition)
    }

    /// Lets every call pass and counts nothing toward opening, until `reset()`.
    fn disable(&self, py: Python<'_>) -> PyResult<()> {
        let transition = Self::wait(py, || self.core.disable())?;
        self.publish(py, transition)
    }

    /// Whether the HTTP integrations open this circuit until a 503 or 429 answer's
    /// `Retry-After`.
    #[getter]
    fn honor_retry_after(&self) -> bool {
        self.honor_retry_after
    }

    /// The longest `Retry-After` the HTTP integrations honour, in seconds.
    #[getter]
    fn max_retry_after<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.max_retry_after.bind(py).clone()
    }

    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.snapshot(py)?.state;
        python::circuit_state(py, state).cloned()
    }

    #[getter]
    fn failure_count(&self, py: Python<'_>) -> PyResult<u32> {
        Ok(self.snapshot(py)?.failure_count)
    }

    #[getter]
    fn success_count(&self, py: Python<'_>) -> PyResult<u32> {
        Ok(self.snapshot(py)?.success_count)
    }

    #[getter]
    fn last_failure_time(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        Ok(self.snapshot(py)?.last_failure_time)
    }

    #[getter]
    fn name<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        self.name.bind(py).clone()
    }

    /// Consecutive failures that open the circuit (`None`: only a rate does).
    #[getter]
    fn failure_threshold(&self) -> Option<u32> {
        self.core.config().failure_threshold
    }

    #[getter]
    fn recovery_timeout<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.recovery_timeout.bind(py).clone()
    }

    #[getter]
    fn success_threshold(&self) -> u32 {
        self.core.config().success_threshold
    }

    #[getter]
    fn half_open_max_calls(&self) -> u32 {
        self.core.config().half_open_max_calls
    }

    /// Seconds a half-open trial may run before its slot is given to another call (`math.inf`:
    /// no limit).
    #[getter]
    fn trial_timeout(&self) -> f64 {
        self.core
            .config()
            .trial_timeout
            .map_or(f64::INFINITY, seconds_from_nanos)
    }

    #[getter]
    fn expected_exceptions<'py>(&self, py: Python<'py>) -> Bound<'py, PyTuple> {
        self.expected.bind(py).clone()
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The exception classes could refer back to the breaker (a class attribute, say), and
        // so could a listener (a closure over it).
        visit.call(&self.expected)?;
        visit.call(&self.recovery_timeout)?;
        visit.call(&self.max_retry_after)?;
        if let Some(predicate) = &self.result_is_failure {
            visit.call(predicate)?;
        }
        if let Some(predicate) = &self.exception_is_failure {
            visit.call(predicate)?;
        }
        if let Some(store) = &self.redis {
            visit.call(store)?;
        }
        self.listeners.traverse(&visit)
    }

    fn __clear__(&self) {
        self.listeners.clear();
    }

    pub(crate) fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let snap = self.snapshot(py)?;
        Ok(format!(
            "<CircuitBreaker '{}' state={} failure_count={} success_count={}>",
            self.name_str,
            snap.state.as_str(),
            snap.failure_count,
            snap.success_count
        ))
    }
}
