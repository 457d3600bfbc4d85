//! The Python face of the state machine: argument checking, calling the protected function, turning
//! outcomes into [`Outcome`]s and rejections into `CircuitBreakerError`, logging transitions.
//!
//! The rule everywhere: the breaker's lock lives inside [`Breaker`] and is released before any
//! method here returns to code that may run Python (the protected function, `isinstance` checks,
//! logging, allocating Python objects).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyFunction, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::{ffi, intern, PyTraverseError, PyVisit};

use crate::breaker::{
    Admission, Breaker, Config, Outcome, Rejection, Snapshot, State, Ticket, Transition,
};
use crate::clock::{nanos_from_seconds, seconds_from_nanos, ManualClockError, ProcessClock};
use crate::registry::{Entry, Registry};

/// Raised instead of calling the protected function while the circuit is open (or while every
/// half-open trial slot is taken).
///
/// `.name` is the breaker's name and `.retry_after` the seconds until a call could be admitted
/// (0.0 when the trial slots are full). The message is made only when it is read, so that
/// turning a call away costs one small allocation.
#[pyclass(
    extends = PyException,
    frozen,
    subclass,
    module = "fastbreaker",
    name = "CircuitBreakerError"
)]
pub struct CircuitBreakerError {
    breaker_name: Option<Py<PyString>>,
    retry_after: f64,
    /// Set when the error comes from a breaker (and not from Python code): why it was raised.
    rejection: Option<(State, u32)>,
}

#[pymethods]
impl CircuitBreakerError {
    #[new]
    #[pyo3(signature = (*args, name = None, retry_after = 0.0))]
    fn new(args: &Bound<'_, PyTuple>, name: Option<Py<PyString>>, retry_after: f64) -> Self {
        let _ = args; // stored by __init__, as for any exception
        CircuitBreakerError {
            breaker_name: name,
            retry_after,
            rejection: None,
        }
    }

    #[pyo3(signature = (*args, name = None, retry_after = 0.0))]
    fn __init__(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, PyTuple>,
        name: Option<Py<PyString>>,
        retry_after: f64,
    ) -> PyResult<()> {
        let _ = (name, retry_after); // taken by __new__
        slf.setattr(intern!(slf.py(), "args"), args)
    }

    /// The name of the breaker that turned the call away.
    #[getter]
    fn name(&self, py: Python<'_>) -> Option<Py<PyString>> {
        self.breaker_name.as_ref().map(|n| n.clone_ref(py))
    }

    /// Seconds until a call could be admitted (0.0 when the trial slots are full).
    #[getter]
    fn retry_after(&self) -> f64 {
        self.retry_after
    }

    fn __str__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        if let (Some((state, trial_slots)), Some(name)) = (this.rejection, &this.breaker_name) {
            let name = name.bind(slf.py());
            return Ok(match state {
                State::HalfOpen => format!(
                    "circuit breaker '{name}' is half_open and its {trial_slots} trial call(s) \
                     are in flight"
                ),
                _ => format!(
                    "circuit breaker '{name}' is open; retry in {:.3}s",
                    this.retry_after
                ),
            });
        }
        let args = slf
            .getattr(intern!(slf.py(), "args"))?
            .cast_into::<PyTuple>()?;
        Ok(match args.len() {
            0 => String::new(),
            1 => args.get_item(0)?.str()?.to_string(),
            _ => args.str()?.to_string(),
        })
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let message = Self::__str__(slf)?;
        let message = PyString::new(slf.py(), &message).repr()?;
        Ok(format!("{}({message})", slf.get_type().name()?))
    }

    /// Pickles as `CircuitBreakerError(message, name=..., retry_after=...)`.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let this = slf.get();
        let args = if this.rejection.is_some() {
            PyTuple::new(py, [Self::__str__(slf)?])?
        } else {
            slf.getattr(intern!(py, "args"))?.cast_into::<PyTuple>()?
        };
        let kwargs = PyDict::new(py);
        kwargs.set_item("name", this.name(py))?;
        kwargs.set_item("retry_after", this.retry_after)?;
        static PARTIAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        let rebuild = PARTIAL
            .import(py, "functools", "partial")?
            .call((slf.get_type(),), Some(&kwargs))?;
        PyTuple::new(py, [rebuild.into_any(), args.into_any()])
    }
}

const LOG_TARGET: &str = "fastbreaker";
const CO_COROUTINE: u32 = 0x80;

// ---------------------------------------------------------------------------------------------
// Argument checking

/// An optional argument that may be given as any object, `None` included (so that an explicit
/// `None` is checked, and rejected, rather than taken for "use the default").
pub enum Arg<'py> {
    Missing,
    Given(Bound<'py, PyAny>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Arg<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Arg::Given(obj.to_owned()))
    }
}

impl<'py> Arg<'py> {
    fn given(&self) -> Option<&Bound<'py, PyAny>> {
        match self {
            Arg::Missing => None,
            Arg::Given(value) => Some(value),
        }
    }
}

fn threshold(value: &Bound<'_, PyAny>, argument: &str) -> PyResult<u32> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{argument} must be an int, got {}",
            type_name(value)
        )));
    }
    match value.extract::<i64>() {
        Ok(n) if n < 1 => Err(PyValueError::new_err(format!(
            "{argument} must be at least 1, got {n}"
        ))),
        Ok(n) => u32::try_from(n).map_err(|_| too_large(argument)),
        Err(_) => Err(too_large(argument)),
    }
}

fn too_large(argument: &str) -> PyErr {
    PyValueError::new_err(format!("{argument} must be at most {}", u32::MAX))
}

/// Returns the timeout in nanoseconds and as the plain Python number to report in statuses.
fn recovery_timeout<'py>(value: &Bound<'py, PyAny>) -> PyResult<(u64, Bound<'py, PyAny>)> {
    let py = value.py();
    let is_int = value.is_instance_of::<PyInt>();
    if value.is_instance_of::<PyBool>() || !(is_int || value.is_instance_of::<PyFloat>()) {
        return Err(PyTypeError::new_err(format!(
            "recovery_timeout must be an int or a float (seconds), got {}",
            type_name(value)
        )));
    }
    let invalid = |shown: String| {
        PyValueError::new_err(format!(
            "recovery_timeout must be a finite number of seconds >= 0, got {shown}"
        ))
    };
    if is_int {
        // Plain int arithmetic first, so that huge values are not silently rounded.
        let n: i128 = match value.extract::<i128>() {
            Ok(n) => n,
            Err(_) => return Err(invalid("an int too large to be a timeout".to_owned())),
        };
        if n < 0 {
            return Err(invalid(n.to_string()));
        }
        let nanos = u64::try_from(n.saturating_mul(1_000_000_000)).unwrap_or(u64::MAX);
        let plain = n.into_pyobject(py)?.into_any();
        return Ok((nanos, plain));
    }
    let seconds: f64 = value.extract()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(invalid(seconds.to_string()));
    }
    let seconds = seconds + 0.0; // -0.0 becomes 0.0
    Ok((
        nanos_from_seconds(seconds),
        PyFloat::new(py, seconds).into_any(),
    ))
}

/// Normalises `expected_exceptions` to a non-empty tuple of `Exception` subclasses.
fn expected_exceptions<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    let py = value.py();
    let classes: Vec<Bound<'py, PyAny>> = if value.is_instance_of::<PyType>() {
        vec![value.clone()]
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        tuple.iter().collect()
    } else if let Ok(list) = value.cast::<PyList>() {
        list.iter().collect()
    } else {
        return Err(PyTypeError::new_err(format!(
            "expected_exceptions must be an exception class or a tuple of exception classes, got {}",
            type_name(value)
        )));
    };
    if classes.is_empty() {
        return Err(PyValueError::new_err(
            "expected_exceptions must name at least one exception class",
        ));
    }
    for class in &classes {
        let is_exception_class = class
            .cast::<PyType>()
            .map(|t| t.is_subclass_of::<PyException>())
            .unwrap_or(Ok(false))?;
        if !is_exception_class {
            return Err(PyTypeError::new_err(format!(
                "expected_exceptions must contain only subclasses of Exception, got {}",
                class
                    .repr()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|_| type_name(class))
            )));
        }
    }
    PyTuple::new(py, classes)
}

/// `TypeError("{what} must be callable, got {type}")` unless `value` is callable.
fn require_callable(value: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    if value.is_callable() {
        return Ok(());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be callable, got {}",
        type_name(value)
    )))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "<unknown type>".to_owned())
}

fn check_name(name: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(name) = name.filter(|n| !n.is_none()) else {
        return Ok(None);
    };
    let name: String = name
        .cast::<PyString>()
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "name must be a str or None, got {}",
                type_name(name)
            ))
        })?
        .to_str()
        .map_err(|_| PyValueError::new_err("name must be a valid str (no lone surrogates)"))?
        .to_owned();
    if name.is_empty() {
        return Err(PyValueError::new_err("name must not be empty"));
    }
    Ok(Some(name))
}

fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("breaker-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The options as given to a constructor (`None`: not given).
#[derive(Clone, Copy, Default)]
struct Given<'a, 'py> {
    failure_threshold: Option<&'a Bound<'py, PyAny>>,
    recovery_timeout: Option<&'a Bound<'py, PyAny>>,
    success_threshold: Option<&'a Bound<'py, PyAny>>,
    expected_exceptions: Option<&'a Bound<'py, PyAny>>,
    half_open_max_calls: Option<&'a Bound<'py, PyAny>>,
    /// `None` given means the default, like not giving it.
    trial_timeout: Option<&'a Bound<'py, PyAny>>,
}

impl Given<'_, '_> {
    fn any(&self) -> bool {
        [
            self.failure_threshold,
            self.recovery_timeout,
            self.success_threshold,
            self.expected_exceptions,
            self.half_open_max_calls,
            self.trial_timeout,
        ]
        .iter()
        .any(Option::is_some)
    }
}

/// The checked options of a breaker, before it exists.
struct Options<'py> {
    config: Config,
    recovery_timeout: Bound<'py, PyAny>,
    expected: Bound<'py, PyTuple>,
}

/// `trial_timeout`: `None` for the default, `math.inf` for no limit, else seconds > 0. Returns
/// `None` for the default, `Some(None)` for no limit.
fn trial_timeout(value: &Bound<'_, PyAny>) -> PyResult<Option<Option<u64>>> {
    if value.is_none() {
        return Ok(None);
    }
    if value.is_instance_of::<PyBool>()
        || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>())
    {
        return Err(PyTypeError::new_err(format!(
            "trial_timeout must be an int, a float (seconds) or None, got {}",
            type_name(value)
        )));
    }
    let seconds: f64 = value.extract().map_err(|_| {
        PyValueError::new_err("trial_timeout must be a number of seconds > 0, got a huge int")
    })?;
    if seconds == f64::INFINITY {
        return Ok(Some(None));
    }
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(PyValueError::new_err(format!(
            "trial_timeout must be a number of seconds > 0 (or math.inf), got {seconds}"
        )));
    }
    Ok(Some(Some(nanos_from_seconds(seconds).max(1))))
}

fn options<'py>(py: Python<'py>, given: &Given<'_, 'py>) -> PyResult<Options<'py>> {
    let defaults = Config::default();
    let threshold_or = |value: Option<&Bound<'py, PyAny>>, argument, default| match value {
        Some(value) => threshold(value, argument),
        None => Ok(default),
    };
    let failure_threshold = threshold_or(
        given.failure_threshold,
        "failure_threshold",
        defaults.failure_threshold,
    )?;
    let (timeout_nanos, timeout_shown) = match given.recovery_timeout {
        Some(value) => recovery_timeout(value)?,
        None => (
            defaults.recovery_timeout,
            (defaults.recovery_timeout / 1_000_000_000)
                .into_pyobject(py)?
                .into_any(),
        ),
    };
    let success_threshold = threshold_or(
        given.success_threshold,
        "success_threshold",
        defaults.success_threshold,
    )?;
    let expected = match given.expected_exceptions {
        Some(value) => expected_exceptions(value)?,
        None => PyTuple::new(py, [py.get_type::<PyException>()])?,
    };
    let half_open_max_calls = threshold_or(
        given.half_open_max_calls,
        "half_open_max_calls",
        defaults.half_open_max_calls,
    )?;
    let trial_timeout = given
        .trial_timeout
        .map(trial_timeout)
        .transpose()?
        .flatten();
    let mut config = Config::new(
        failure_threshold,
        success_threshold,
        half_open_max_calls,
        timeout_nanos,
    )
    .map_err(|e| PyValueError::new_err(e.message))?;
    if let Some(trial_timeout) = trial_timeout {
        config = config
            .with_trial_timeout(trial_timeout)
            .map_err(|e| PyValueError::new_err(e.message))?;
    }
    Ok(Options {
        config,
        recovery_timeout: timeout_shown,
        expected,
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers that call into Python (never under a lock)

fn log_transition(name: &str, t: &Transition) {
    let message = format!(
        "circuit breaker '{name}' {} -> {} (failure_count={}, success_count={})",
        t.from.as_str(),
        t.to.as_str(),
        t.failure_count,
        t.success_count
    );
    if t.to == State::Open {
        log::warn!(target: LOG_TARGET, "{message}");
    } else {
        log::info!(target: LOG_TARGET, "{message}");
    }
}

fn python_helper<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module =
        MODULE.get_or_try_init(py, || py.import("fastbreaker._wrapping").map(Bound::unbind))?;
    module.bind(py).getattr(name)
}

fn circuit_state<'py>(py: Python<'py>, state: State) -> PyResult<Bound<'py, PyAny>> {
    static CIRCUIT_STATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    CIRCUIT_STATE
        .import(py, "fastbreaker._state", "CircuitState")?
        .call1((state.as_str(),))
}

/// Whether calling `func` only creates a coroutine (an `async def` function, or a method of one).
fn is_coroutine_function(func: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = func.py();
    if func.is_instance_of::<PyFunction>() {
        let flags: u32 = func
            .getattr(intern!(py, "__code__"))?
            .getattr(intern!(py, "co_flags"))?
            .extract()?;
        return Ok(flags & CO_COROUTINE != 0);
    }
    if func.is_instance_of::<pyo3::types::PyCFunction>() {
        return Ok(false);
    }
    static ISCOROUTINEFUNCTION: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    ISCOROUTINEFUNCTION
        .import(py, "inspect", "iscoroutinefunction")?
        .call1((func,))?
        .is_truthy()
}

fn is_coroutine(value: &Bound<'_, PyAny>) -> bool {
    // SAFETY: the pointer is a live object for the duration of the call.
    unsafe { pyo3::ffi::PyCoro_CheckExact(value.as_ptr()) != 0 }
}

// ---------------------------------------------------------------------------------------------
// The breaker

/// A circuit breaker. See the Python documentation of `fastbreaker.CircuitBreaker`.
#[pyclass(frozen, weakref, module = "fastbreaker._core", name = "CircuitBreaker")]
pub struct PyCircuitBreaker {
    core: Arc<Core>,
    name: Py<PyString>,
    name_str: String,
    recovery_timeout: Py<PyAny>,
    expected: Py<PyTuple>,
    /// `expected_exceptions == (Exception,)`: classification needs no `isinstance` call.
    expects_any_exception: bool,
}

/// The state machine as the bindings see it: on the process clock, and with a panic (a bug) turned
/// into a `RuntimeError` that says so, instead of escaping to the user as `PanicException`.
///
/// Everything the bindings do to a breaker's state goes through these five methods; a breaker
/// whose state lives in a shared store would slot in here.
pub struct Core(Breaker);

fn internal_error(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    PyRuntimeError::new_err(format!(
        "fastbreaker internal error ({detail}); please report it"
    ))
}

impl Core {
    fn new(config: Config) -> Self {
        Core(Breaker::new(config))
    }

    fn config(&self) -> &Config {
        self.0.config()
    }

    fn guarded<T>(&self, op: impl FnOnce(&Breaker) -> T) -> PyResult<T> {
        catch_unwind(AssertUnwindSafe(|| op(&self.0))).map_err(internal_error)
    }

    fn acquire(&self) -> PyResult<Admission> {
        self.guarded(|b| b.acquire(&ProcessClock))
    }

    fn record(&self, ticket: Ticket, outcome: Outcome) -> PyResult<Option<Transition>> {
        self.guarded(|b| b.record(ticket, outcome, &ProcessClock))
    }

    fn snapshot(&self) -> PyResult<Snapshot> {
        self.guarded(|b| b.snapshot(&ProcessClock))
    }

    fn reset(&self) -> PyResult<Option<Transition>> {
        self.guarded(|b| b.reset(&ProcessClock))
    }

    fn force_open(&self) -> PyResult<Option<Transition>> {
        self.guarded(|b| b.force_open(&ProcessClock))
    }
}

/// Hands the ticket back as IGNORED unless the outcome was recorded: a call that unwinds for any
/// reason never keeps a trial slot.
struct TicketGuard<'a> {
    core: &'a Core,
    ticket: Option<Ticket>,
}

impl TicketGuard<'_> {
    fn finish(mut self, outcome: Outcome) -> PyResult<Option<Transition>> {
        match self.ticket.take() {
            Some(ticket) => self.core.record(ticket, outcome),
            None => Ok(None),
        }
    }
}

impl Drop for TicketGuard<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            // An ignored outcome makes no transition; an internal error has nowhere to go here.
            let _ = self.core.record(ticket, Outcome::Ignored);
        }
    }
}

impl PyCircuitBreaker {
    fn build(py: Python<'_>, options: Options<'_>, name: Option<String>) -> Self {
        let name_str = name.unwrap_or_else(unique_name);
        let expects_any_exception = options.expected.len() == 1
            && options
                .expected
                .get_item(0)
                .map(|c| c.is(py.get_type::<PyException>()))
                .unwrap_or(false);
        PyCircuitBreaker {
            core: Arc::new(Core::new(options.config)),
            name: PyString::new(py, &name_str).unbind(),
            name_str,
            recovery_timeout: options.recovery_timeout.unbind(),
            expected: options.expected.unbind(),
            expects_any_exception,
        }
    }

    fn rejection_error(&self, py: Python<'_>, rejection: Rejection) -> PyErr {
        let error = CircuitBreakerError {
            breaker_name: Some(self.name.clone_ref(py)),
            retry_after: seconds_from_nanos(rejection.retry_after),
            rejection: Some((rejection.state, self.core.config().half_open_max_calls)),
        };
        match Bound::new(py, error) {
            Ok(instance) => PyErr::from_value(instance.into_any()),
            Err(err) => err,
        }
    }

    /// Takes admission for one call, logging the transition that admitting made (if any).
    fn admit(&self) -> PyResult<Result<TicketGuard<'_>, Rejection>> {
        Ok(match self.core.acquire()? {
            Admission::Admitted(ticket, transition) => {
                let guard = TicketGuard {
                    core: &self.core,
                    ticket: Some(ticket),
                };
                if let Some(t) = transition {
                    log_transition(&self.name_str, &t);
                }
                Ok(guard)
            }
            Admission::Rejected(rejection) => Err(rejection),
        })
    }

    /// Counted failure, or ignored. An `isinstance` check that itself raises makes the outcome
    /// ignored, and its error is returned (with the call's own exception as its cause).
    fn classify(&self, py: Python<'_>, err: &PyErr) -> (Outcome, Option<PyErr>) {
        if !err.is_instance_of::<PyException>(py) {
            return (Outcome::Ignored, None); // KeyboardInterrupt, SystemExit, CancelledError...
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

    fn settle(&self, guard: TicketGuard<'_>, outcome: Outcome) -> PyResult<()> {
        if let Some(t) = guard.finish(outcome)? {
            log_transition(&self.name_str, &t);
        }
        Ok(())
    }

    /// Runs a synchronous call under the breaker.
    fn guarded_call<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::guarded(
            slf,
            func,
            || func.call(args, kwargs),
            || Self::call_async(slf, func, args, kwargs),
        )
    }

    /// The call protocol: admission, `invoke` (the call itself), outcome. `as_coroutine` makes the
    /// awaitable when a coroutine function meets a rejection (its coroutine would only take
    /// admission when it starts, so rejecting it now would be premature).
    fn guarded<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        invoke: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
        as_coroutine: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let guard = match this.admit()? {
            Ok(guard) => guard,
            Err(rejection) => {
                if is_coroutine_function(func)? {
                    return as_coroutine();
                }
                return Err(this.rejection_error(py, rejection));
            }
        };
        match invoke() {
            Ok(result) if is_coroutine(&result) => {
                // An asynchronous callable: calling it only created the coroutine (nothing ran).
                // Give the admission back; the coroutine takes its own when it starts.
                drop(guard);
                python_helper(py, "guard_coroutine")?.call1((slf, result))
            }
            Ok(result) => {
                this.settle(guard, Outcome::Success)?;
                Ok(result)
            }
            Err(err) => {
                let (outcome, check_error) = this.classify(py, &err);
                this.settle(guard, outcome)?;
                Err(check_error.unwrap_or(err))
            }
        }
    }
}

#[pymethods]
impl PyCircuitBreaker {
    #[new]
    #[pyo3(
        signature = (
            failure_threshold = Arg::Missing,
            recovery_timeout = Arg::Missing,
            success_threshold = Arg::Missing,
            expected_exceptions = Arg::Missing,
            name = None,
            half_open_max_calls = Arg::Missing,
            trial_timeout = None,
        ),
        text_signature = "(failure_threshold=5, recovery_timeout=60, success_threshold=2, \
                          expected_exceptions=(Exception,), name=None, half_open_max_calls=1, \
                          trial_timeout=None)"
    )]
    #[allow(clippy::too_many_arguments)] // the documented signature
    fn new<'py>(
        py: Python<'py>,
        failure_threshold: Arg<'py>,
        recovery_timeout: Arg<'py>,
        success_threshold: Arg<'py>,
        expected_exceptions: Arg<'py>,
        name: Option<&Bound<'py, PyAny>>,
        half_open_max_calls: Arg<'py>,
        trial_timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let given = Given {
            failure_threshold: failure_threshold.given(),
            recovery_timeout: recovery_timeout.given(),
            success_threshold: success_threshold.given(),
            expected_exceptions: expected_exceptions.given(),
            half_open_max_calls: half_open_max_calls.given(),
            trial_timeout,
        };
        let options = options(py, &given)?;
        let name = check_name(name)?;
        Ok(Self::build(py, options, name))
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
            // SAFETY: the tuple outlives the call; its items are one contiguous array, `func`
            // first and its `count` arguments after it.
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
        Self::guarded(slf, &func, invoke, as_coroutine)
    }

    /// Returns a coroutine that awaits `func(*args, **kwargs)` under the breaker, taking its
    /// admission when it starts running.
    #[pyo3(signature = (func, /, *args, **kwargs))]
    fn call_async<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        require_callable(func, "call_async() argument 'func'")?;
        let kwargs = match kwargs {
            Some(k) => k.clone(),
            None => PyDict::new(slf.py()),
        };
        python_helper(slf.py(), "call_async")?.call1((slf, func, args, kwargs))
    }

    /// Decorates `func` with this breaker: `@breaker`.
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        require_callable(func, "what a CircuitBreaker decorates")?;
        python_helper(slf.py(), "decorate")?.call1((slf, func))
    }

    /// Takes admission for one call whose outcome you report yourself on the returned `Permit`
    /// (for code that cannot be wrapped in one function call). Raises `CircuitBreakerError`
    /// when turned away.
    fn acquire(slf: &Bound<'_, Self>) -> PyResult<Permit> {
        let this = slf.get();
        let mut guard = this
            .admit()?
            .map_err(|rejection| this.rejection_error(slf.py(), rejection))?;
        let ticket = guard.ticket.take();
        Ok(Permit {
            breaker: slf.clone().unbind(),
            ticket: Mutex::new(ticket),
        })
    }

    /// A JSON-serialisable snapshot of the breaker.
    fn get_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let snap = self.core.snapshot()?;
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
        status.set_item(
            intern!(py, "retry_after"),
            seconds_from_nanos(snap.retry_after),
        )?;
        Ok(status)
    }

    /// Closes the circuit and zeroes the counts (`last_failure_time` is kept).
    fn reset(&self) -> PyResult<()> {
        if let Some(t) = self.core.reset()? {
            log_transition(&self.name_str, &t);
        }
        Ok(())
    }

    /// Forces the circuit open, restarting the recovery timer.
    fn open(&self) -> PyResult<()> {
        if let Some(t) = self.core.force_open()? {
            log_transition(&self.name_str, &t);
        }
        Ok(())
    }

    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        circuit_state(py, self.core.snapshot()?.state)
    }

    #[getter]
    fn failure_count(&self) -> PyResult<u32> {
        Ok(self.core.snapshot()?.failure_count)
    }

    #[getter]
    fn success_count(&self) -> PyResult<u32> {
        Ok(self.core.snapshot()?.success_count)
    }

    #[getter]
    fn last_failure_time(&self) -> PyResult<Option<f64>> {
        Ok(self.core.snapshot()?.last_failure_time)
    }

    #[getter]
    fn name<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        self.name.bind(py).clone()
    }

    #[getter]
    fn failure_threshold(&self) -> u32 {
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
        // The exception classes could refer back to the breaker (a class attribute, say).
        visit.call(&self.expected)?;
        visit.call(&self.recovery_timeout)
    }

    fn __repr__(&self) -> PyResult<String> {
        let snap = self.core.snapshot()?;
        Ok(format!(
            "<CircuitBreaker '{}' state={} failure_count={} success_count={}>",
            self.name_str,
            snap.state.as_str(),
            snap.failure_count,
            snap.success_count
        ))
    }
}

/// Admission for one call, taken by `CircuitBreaker.acquire()`, whose outcome is reported once
/// with one of the `record_*` methods (later reports are ignored). A permit dropped unreported
/// (say, a coroutine closed half-way) gives its trial slot back.
#[pyclass(frozen, module = "fastbreaker._core")]
pub struct Permit {
    breaker: Py<PyCircuitBreaker>,
    ticket: Mutex<Option<Ticket>>,
}

impl Permit {
    fn record(&self, outcome: Outcome) -> PyResult<bool> {
        let ticket = self.ticket.lock().take();
        let Some(ticket) = ticket else {
            return Ok(false);
        };
        let breaker = self.breaker.get();
        if let Some(t) = breaker.core.record(ticket, outcome)? {
            log_transition(&breaker.name_str, &t);
        }
        Ok(true)
    }
}

#[pymethods]
impl Permit {
    /// The call succeeded. Returns False if the permit was settled already.
    fn record_success(&self) -> PyResult<bool> {
        self.record(Outcome::Success)
    }

    /// The call failed in a way that counts against the service.
    fn record_failure(&self) -> PyResult<bool> {
        self.record(Outcome::Failure)
    }

    /// The call ended in a way that says nothing about the service's health.
    fn record_ignored(&self) -> PyResult<bool> {
        self.record(Outcome::Ignored)
    }

    /// The call raised `error`: a failure if it is one of the breaker's `expected_exceptions`,
    /// ignored otherwise. If the `isinstance` check itself raises, the outcome is ignored and
    /// that error is raised.
    fn record_exception(&self, py: Python<'_>, error: &Bound<'_, PyAny>) -> PyResult<bool> {
        let error = error
            .cast::<pyo3::exceptions::PyBaseException>()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "error must be an exception instance, got {}",
                    type_name(error)
                ))
            })?;
        let (outcome, check_error) = self
            .breaker
            .get()
            .classify(py, &PyErr::from_value(error.clone().into_any()));
        let recorded = self.record(outcome)?;
        match check_error {
            Some(e) => Err(e),
            None => Ok(recorded),
        }
    }

    /// The breaker this permit belongs to.
    #[getter]
    fn circuit_breaker(&self, py: Python<'_>) -> Py<PyCircuitBreaker> {
        self.breaker.clone_ref(py)
    }

    /// Whether this permit holds one of the HALF_OPEN trial slots (False once settled).
    #[getter]
    fn is_trial(&self) -> bool {
        self.ticket.lock().is_some_and(|t| t.is_trial())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.breaker)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.get_mut().take() {
            // An ignored outcome makes no transition; an internal error has nowhere to go here.
            let _ = self.breaker.get().core.record(ticket, Outcome::Ignored);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The decorated function

/// A synchronous function protected by a breaker. Behaves like the function: `functools.wraps`
/// metadata lives in its `__dict__`, and it binds as a method.
///
/// Calls arrive through the vectorcall protocol (see [`enable_vectorcall`]): the arguments go from
/// the caller to the function as they are, with no tuple or dict built on the way.
#[pyclass(frozen, dict, weakref, module = "fastbreaker._core")]
#[repr(C)]
pub struct Protected {
    /// What the interpreter calls (at `tp_vectorcall_offset` in the object).
    vectorcall: ffi::vectorcallfunc,
    breaker: Py<PyCircuitBreaker>,
    func: Py<PyAny>,
}

/// The arguments of a vectorcall as a tuple and a dict (for the rare slow paths).
///
/// # Safety
/// `args`, `nargs` and `kwnames` must be a valid vectorcall argument vector.
unsafe fn vectorcall_arguments<'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: usize,
    kwnames: *mut ffi::PyObject,
) -> PyResult<(Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>)> {
    let item = |i: usize| unsafe { Borrowed::from_ptr(py, *args.add(i)) };
    let positional = PyTuple::new(py, (0..nargs).map(item))?;
    if kwnames.is_null() {
        return Ok((positional, None));
    }
    let names = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
    let kwargs = PyDict::new(py);
    for (i, name) in names.iter().enumerate() {
        kwargs.set_item(name, item(nargs + i))?;
    }
    Ok((positional, Some(kwargs)))
}

/// `Protected.__call__` for the vectorcall protocol.
///
/// # Safety
/// Called by the interpreter, with the GIL held and `callable` a `Protected`.
unsafe extern "C" fn protected_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let py = unsafe { Python::assume_attached() };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let slf = unsafe { Borrowed::from_ptr(py, callable).cast_unchecked::<Protected>() };
        let (breaker, func) = (slf.get().breaker.bind(py), slf.get().func.bind(py));
        PyCircuitBreaker::guarded(
            breaker,
            func,
            || unsafe {
                let result = ffi::PyObject_Vectorcall(func.as_ptr(), args, nargsf, kwnames);
                Bound::from_owned_ptr_or_err(py, result)
            },
            || {
                let nargs = unsafe { ffi::PyVectorcall_NARGS(nargsf) } as usize;
                let (args, kwargs) = unsafe { vectorcall_arguments(py, args, nargs, kwnames)? };
                PyCircuitBreaker::call_async(breaker, func, &args, kwargs.as_ref())
            },
        )
    }));
    match result.unwrap_or_else(|panic| Err(internal_error(panic))) {
        Ok(value) => value.into_ptr(),
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// Makes the interpreter call `Protected` objects through [`protected_vectorcall`].
///
/// PyO3 has no option for it, so the type is given its vectorcall offset here, measured on a real
/// instance (no assumption about PyO3's object layout).
pub fn enable_vectorcall(py: Python<'_>) -> PyResult<()> {
    let probe_breaker = Py::new(
        py,
        PyCircuitBreaker::build(py, options(py, &Given::default())?, Some("probe".into())),
    )?;
    let probe = Bound::new(
        py,
        Protected::new(probe_breaker, py.get_type::<PyString>().as_any())?,
    )?;
    let field = std::ptr::addr_of!(probe.get().vectorcall) as isize;
    let offset = field - probe.as_ptr() as isize;
    let type_object = py.get_type::<Protected>();
    // SAFETY: the type is ours and fully initialised; every instance stores a valid
    // `vectorcallfunc` at `offset` (set in `Protected::new`, the only constructor).
    unsafe {
        let tp = type_object.as_type_ptr();
        (*tp).tp_vectorcall_offset = offset as ffi::Py_ssize_t;
        (*tp).tp_flags |= ffi::Py_TPFLAGS_HAVE_VECTORCALL;
        ffi::PyType_Modified(tp);
    }
    Ok(())
}

#[pymethods]
impl Protected {
    #[new]
    fn new(breaker: Py<PyCircuitBreaker>, func: &Bound<'_, PyAny>) -> PyResult<Self> {
        require_callable(func, "func")?;
        Ok(Protected {
            vectorcall: protected_vectorcall,
            breaker,
            func: func.clone().unbind(),
        })
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        PyCircuitBreaker::guarded_call(self.breaker.bind(py), self.func.bind(py), args, kwargs)
    }

    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        instance: Option<&Bound<'py, PyAny>>,
        _owner: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(instance) = instance.filter(|i| !i.is_none()) else {
            return Ok(slf.clone().into_any());
        };
        static METHOD_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        METHOD_TYPE
            .import(slf.py(), "types", "MethodType")?
            .call1((slf, instance))
    }

    #[getter]
    fn circuit_breaker(&self, py: Python<'_>) -> Py<PyCircuitBreaker> {
        self.breaker.clone_ref(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<protected {} by {}>",
            self.func.bind(py).repr()?,
            self.breaker.get().__repr__()?
        ))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.breaker)?;
        visit.call(&self.func)
    }
}

// ---------------------------------------------------------------------------------------------
// The registry of named breakers

static REGISTRY: LazyLock<Registry<Py<PyCircuitBreaker>>> = LazyLock::new(Registry::new);

/// A registry key: a non-empty `str`.
fn registry_name(name: &Bound<'_, PyAny>) -> PyResult<String> {
    check_name(Some(name))?.ok_or_else(|| PyTypeError::new_err("name must be a str, got None"))
}

fn registered(py: Python<'_>, name: &str) -> Option<Py<PyCircuitBreaker>> {
    REGISTRY.get(name, |b| b.clone_ref(py))
}

/// The breaker registered under `name`, created with the given options if there is none yet.
#[pyfunction]
#[pyo3(
    signature = (
        name,
        *,
        failure_threshold = Arg::Missing,
        recovery_timeout = Arg::Missing,
        success_threshold = Arg::Missing,
        expected_exceptions = Arg::Missing,
        half_open_max_calls = Arg::Missing,
        trial_timeout = None,
    ),
    text_signature = "(name, *, failure_threshold=5, recovery_timeout=60, success_threshold=2, \
                      expected_exceptions=(Exception,), half_open_max_calls=1, trial_timeout=None)"
)]
#[allow(clippy::too_many_arguments)] // the documented signature
pub fn get_circuit_breaker<'py>(
    py: Python<'py>,
    name: &Bound<'py, PyAny>,
    failure_threshold: Arg<'py>,
    recovery_timeout: Arg<'py>,
    success_threshold: Arg<'py>,
    expected_exceptions: Arg<'py>,
    half_open_max_calls: Arg<'py>,
    trial_timeout: Option<&Bound<'py, PyAny>>,
) -> PyResult<Py<PyCircuitBreaker>> {
    let name = registry_name(name)?;
    let given = Given {
        failure_threshold: failure_threshold.given(),
        recovery_timeout: recovery_timeout.given(),
        success_threshold: success_threshold.given(),
        expected_exceptions: expected_exceptions.given(),
        half_open_max_calls: half_open_max_calls.given(),
        trial_timeout,
    };
    let build_options = || options(py, &given);
    let any_given = given.any();
    let existing = match registered(py, &name) {
        Some(existing) if !any_given => return Ok(existing), // the hot path: a plain lookup
        Some(existing) => existing,
        None => {
            let fresh = PyCircuitBreaker::build(py, build_options()?, Some(name.clone()));
            match REGISTRY.insert_or_get(&name, Py::new(py, fresh)?, |b| b.clone_ref(py)) {
                Entry::Created(created) => return Ok(created),
                // Another thread registered the name first: keep its breaker.
                Entry::Existing { existing, unused } => {
                    drop(unused);
                    existing
                }
            }
        }
    };
    if any_given {
        let differences = existing.get().differences(py, &build_options()?, &given)?;
        if !differences.is_empty() {
            log::warn!(
                target: LOG_TARGET,
                "circuit breaker '{name}' already exists; ignoring different options: {}",
                differences.join(", ")
            );
        }
    }
    Ok(existing)
}

impl PyCircuitBreaker {
    /// The options of `wanted` that differ from this breaker's, among those `given`, as
    /// `argument=wanted (registered: have)`.
    fn differences(
        &self,
        py: Python<'_>,
        wanted: &Options<'_>,
        given: &Given<'_, '_>,
    ) -> PyResult<Vec<String>> {
        let (have, want) = (self.core.config(), &wanted.config);
        let mut differences = Vec::new();
        let mut differ = |argument: &str, want: String, have: String| {
            differences.push(format!("{argument}={want} (registered: {have})"));
        };
        if given.failure_threshold.is_some() && have.failure_threshold != want.failure_threshold {
            let (w, h) = (want.failure_threshold, have.failure_threshold);
            differ("failure_threshold", w.to_string(), h.to_string());
        }
        if given.recovery_timeout.is_some() && have.recovery_timeout != want.recovery_timeout {
            let want = wanted.recovery_timeout.repr()?.to_string();
            differ(
                "recovery_timeout",
                want,
                self.recovery_timeout.bind(py).repr()?.to_string(),
            );
        }
        if given.success_threshold.is_some() && have.success_threshold != want.success_threshold {
            let (w, h) = (want.success_threshold, have.success_threshold);
            differ("success_threshold", w.to_string(), h.to_string());
        }
        let expected = self.expected.bind(py);
        if given.expected_exceptions.is_some() && !expected.eq(&wanted.expected)? {
            let want = wanted.expected.repr()?.to_string();
            differ("expected_exceptions", want, expected.repr()?.to_string());
        }
        if given.half_open_max_calls.is_some()
            && have.half_open_max_calls != want.half_open_max_calls
        {
            let (w, h) = (want.half_open_max_calls, have.half_open_max_calls);
            differ("half_open_max_calls", w.to_string(), h.to_string());
        }
        if given.trial_timeout.is_some() && have.trial_timeout != want.trial_timeout {
            let shown =
                |t: Option<u64>| t.map_or("inf".to_owned(), |t| seconds_from_nanos(t).to_string());
            differ(
                "trial_timeout",
                shown(want.trial_timeout),
                shown(have.trial_timeout),
            );
        }
        Ok(differences)
    }
}

/// The status of the breaker registered under `name`, or None.
#[pyfunction]
pub fn get_circuit_breaker_status<'py>(
    py: Python<'py>,
    name: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    registered(py, &registry_name(name)?)
        .map(|b| b.get().get_status(py))
        .transpose()
}

/// Closes the breaker registered under `name`; returns whether there was one.
#[pyfunction]
pub fn reset_circuit_breaker(py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(match registered(py, &registry_name(name)?) {
        Some(b) => {
            b.get().reset()?;
            true
        }
        None => false,
    })
}

/// Every registered breaker's status, by name.
#[pyfunction]
pub fn get_all_circuit_breaker_statuses(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let all = PyDict::new(py);
    for (name, breaker) in REGISTRY.entries(|b| b.clone_ref(py)) {
        all.set_item(name, breaker.get().get_status(py)?)?;
    }
    Ok(all)
}

// ---------------------------------------------------------------------------------------------
// The process clock, for fastbreaker.testing

fn clock_error(e: ManualClockError) -> PyErr {
    PyRuntimeError::new_err(match e {
        ManualClockError::AlreadyActive => "a manual clock is already active",
        ManualClockError::NotActive => "no manual clock is active",
    })
}

#[pyfunction]
pub fn _manual_clock_start() -> PyResult<()> {
    ProcessClock::start_manual().map_err(clock_error)
}

#[pyfunction]
pub fn _manual_clock_stop() -> PyResult<()> {
    ProcessClock::stop_manual().map_err(clock_error)
}

/// Moves the manual clock forward by `seconds` (finite, >= 0); returns the new reading.
#[pyfunction]
pub fn _manual_clock_advance(seconds: &Bound<'_, PyAny>) -> PyResult<f64> {
    if seconds.is_instance_of::<PyBool>()
        || !(seconds.is_instance_of::<PyInt>() || seconds.is_instance_of::<PyFloat>())
    {
        return Err(PyTypeError::new_err(format!(
            "seconds must be an int or a float, got {}",
            type_name(seconds)
        )));
    }
    let value: f64 = seconds.extract()?;
    if !value.is_finite() || value < 0.0 {
        return Err(PyValueError::new_err(format!(
            "seconds must be a finite number >= 0, got {value}"
        )));
    }
    ProcessClock::advance(nanos_from_seconds(value))
        .map(seconds_from_nanos)
        .map_err(clock_error)
}

/// The process clock's monotonic reading, in seconds.
#[pyfunction]
pub fn _monotonic() -> f64 {
    use crate::clock::Clock;
    seconds_from_nanos(ProcessClock.now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_the_state_machine_is_a_runtime_error_not_a_panic_exception() {
        Python::attach(|py| {
            let core = Core::new(Config::default());
            let err = core
                .guarded(|_| -> u32 { panic!("invariant broken") })
                .unwrap_err();
            assert!(err.is_instance_of::<PyRuntimeError>(py));
            assert!(!err.is_instance_of::<pyo3::panic::PanicException>(py));
            let message = err.value(py).to_string();
            assert!(message.contains("invariant broken"), "{message}");
            assert!(message.contains("fastbreaker internal error"), "{message}");
            // The breaker still works afterwards (parking_lot locks do not poison).
            assert!(matches!(core.acquire(), Ok(Admission::Admitted(..))));
        });
    }
}
