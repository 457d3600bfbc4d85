//! A breaker's options, parsed from Python arguments once, in one place.
//!
//! Each argument has a type that knows how to take itself from a Python object and says what is
//! wrong, naming the argument ([`Threshold`], [`RecoveryTimeout`], [`TrialTimeoutArg`],
//! [`ExpectedExceptions`], [`BreakerName`]); [`Options`] puts them together with the core's
//! defaults. The constructor, the decorator and the registry all build an `Options`, and nothing
//! else checks an option.

use std::marker::PhantomData;

use fastbreaker_core::clock::{nanos_from_seconds, Nanos, NANOS_PER_SECOND};
use fastbreaker_core::config::{Config, Given, Policies, TrialTimeout};
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

pub use crate::store::StoreChoice;

/// The name of an argument's type, for error messages.
pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "<unknown type>".to_owned())
}

/// `TypeError("{what} must be callable, got {type}")` unless `value` is callable.
pub(crate) fn require_callable(value: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    if value.is_callable() {
        return Ok(());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be callable, got {}",
        type_name(value)
    )))
}

/// An optional argument: given (as any object, `None` included, so that an explicit `None` is
/// checked, and refused, rather than taken for "use the default") or not.
#[derive(Default)]
pub enum Arg<T> {
    #[default]
    Missing,
    Given(T),
}

impl<'a, 'py, T: FromPyObject<'a, 'py, Error = PyErr>> FromPyObject<'a, 'py> for Arg<T> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        T::extract(obj).map(Arg::Given)
    }
}

impl<T> Arg<T> {
    fn is_given(&self) -> bool {
        matches!(self, Arg::Given(_))
    }

    fn or(self, default: T) -> T {
        match self {
            Arg::Missing => default,
            Arg::Given(value) => value,
        }
    }
}

/// Which threshold a [`Threshold`] is, for its error messages.
pub trait ThresholdName {
    const NAME: &'static str;
}

pub enum FailureThreshold {}
pub enum SuccessThreshold {}
pub enum HalfOpenMaxCalls {}

impl ThresholdName for FailureThreshold {
    const NAME: &'static str = "failure_threshold";
}
impl ThresholdName for SuccessThreshold {
    const NAME: &'static str = "success_threshold";
}
impl ThresholdName for HalfOpenMaxCalls {
    const NAME: &'static str = "half_open_max_calls";
}

/// A count: an `int` (not a `bool`) from 1 to 2**32 - 1.
pub struct Threshold<N>(pub u32, PhantomData<N>);

impl<N> Threshold<N> {
    fn new(value: u32) -> Self {
        Threshold(value, PhantomData)
    }
}

impl<'a, 'py, N: ThresholdName> FromPyObject<'a, 'py> for Threshold<N> {
    type Error = PyErr;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        count(&value, N::NAME).map(Self::new)
    }
}

/// Seconds a circuit stays open: an `int` or a `float`, finite and >= 0. Keeps the number as
/// given (an `int` stays an `int` in statuses).
pub struct RecoveryTimeout {
    pub nanos: Nanos,
    pub shown: Py<PyAny>,
}

impl RecoveryTimeout {
    fn default(py: Python<'_>) -> PyResult<Self> {
        let seconds = Config::DEFAULT_RECOVERY_TIMEOUT_SECONDS;
        Ok(RecoveryTimeout {
            nanos: seconds * NANOS_PER_SECOND,
            shown: seconds.into_pyobject(py)?.into_any().unbind(),
        })
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for RecoveryTimeout {
    type Error = PyErr;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let py = value.py();
        let is_int = value.is_instance_of::<PyInt>();
        if value.is_instance_of::<PyBool>() || !(is_int || value.is_instance_of::<PyFloat>()) {
            return Err(PyTypeError::new_err(format!(
                "recovery_timeout must be an int or a float (seconds), got {}",
                type_name(&value)
            )));
        }
        let invalid = |shown: String| {
            PyValueError::new_err(format!(
                "recovery_timeout must be a finite number of seconds >= 0, got {shown}"
            ))
        };
        if is_int {
            // Plain int arithmetic first, so that huge values are not silently rounded.
            let n: i128 = value
                .extract()
                .map_err(|_| invalid("an int too large to be a timeout".to_owned()))?;
            if n < 0 {
                return Err(invalid(n.to_string()));
            }
            let nanos =
                u64::try_from(n.saturating_mul(NANOS_PER_SECOND.into())).unwrap_or(u64::MAX);
            let shown = n.into_pyobject(py)?.into_any().unbind();
            return Ok(RecoveryTimeout { nanos, shown });
        }
        let seconds: f64 = value.extract()?;
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(invalid(seconds.to_string()));
        }
        let seconds = seconds + 0.0; // -0.0 becomes 0.0
        Ok(RecoveryTimeout {
            nanos: nanos_from_seconds(seconds),
            shown: PyFloat::new(py, seconds).into_any().unbind(),
        })
    }
}

/// How long a half-open trial may run: `None` for the default (the recovery timeout), `math.inf`
/// for no limit, else seconds > 0.
pub struct TrialTimeoutArg(pub TrialTimeout);

impl<'a, 'py> FromPyObject<'a, 'py> for TrialTimeoutArg {
    type Error = PyErr;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if value.is_none() {
            return Ok(TrialTimeoutArg(TrialTimeout::RecoveryTimeout));
        }
        if value.is_instance_of::<PyBool>()
            || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>())
        {
            return Err(PyTypeError::new_err(format!(
                "trial_timeout must be an int, a float (seconds) or None, got {}",
                type_name(&value)
            )));
        }
        let seconds: f64 = value.extract().map_err(|_| {
            PyValueError::new_err("trial_timeout must be a number of seconds > 0, got a huge int")
        })?;
        if seconds == f64::INFINITY {
            return Ok(TrialTimeoutArg(TrialTimeout::Unlimited));
        }
        if seconds.is_nan() || seconds <= 0.0 {
            return Err(PyValueError::new_err(format!(
                "trial_timeout must be a number of seconds > 0 (or math.inf), got {seconds}"
            )));
        }
        let nanos = nanos_from_seconds(seconds).max(1);
        Ok(TrialTimeoutArg(TrialTimeout::Limit(nanos)))
    }
}

/// A non-empty tuple of `Exception` subclasses, from one class, a tuple or a list of them.
pub struct ExpectedExceptions(pub Py<PyTuple>);

impl ExpectedExceptions {
    fn default(py: Python<'_>) -> PyResult<Self> {
        Ok(ExpectedExceptions(
            PyTuple::new(py, [py.get_type::<PyException>()])?.unbind(),
        ))
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for ExpectedExceptions {
    type Error = PyErr;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let py = value.py();
        let classes: Vec<Bound<'py, PyAny>> = if value.is_instance_of::<PyType>() {
            vec![value.to_owned()]
        } else if let Ok(tuple) = value.cast::<PyTuple>() {
            tuple.iter().collect()
        } else if let Ok(list) = value.cast::<PyList>() {
            list.iter().collect()
        } else {
            return Err(PyTypeError::new_err(format!(
                "expected_exceptions must be an exception class or a tuple of exception classes, \
                 got {}",
                type_name(&value)
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
        Ok(ExpectedExceptions(PyTuple::new(py, classes)?.unbind()))
    }
}

/// A breaker's name: a non-empty `str` that is valid Unicode.
pub struct BreakerName(pub String);

impl<'a, 'py> FromPyObject<'a, 'py> for BreakerName {
    type Error = PyErr;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let name = value
            .cast::<PyString>()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "name must be a str or None, got {}",
                    type_name(&value)
                ))
            })?
            .to_str()
            .map_err(|_| PyValueError::new_err("name must be a valid str (no lone surrogates)"))?
            .to_owned();
        if name.is_empty() {
            return Err(PyValueError::new_err("name must not be empty"));
        }
        Ok(BreakerName(name))
    }
}

/// A number of seconds (an `int` or a `float`, not a `bool`), finite and >= 0 (> 0 with
/// `positive`).
pub(crate) fn seconds(value: &Bound<'_, PyAny>, argument: &str, positive: bool) -> PyResult<Nanos> {
    let seconds = number(value, argument, "seconds")?;
    let bound = if positive { "> 0" } else { ">= 0" };
    if !seconds.is_finite() || seconds < 0.0 || (positive && seconds == 0.0) {
        return Err(PyValueError::new_err(format!(
            "{argument} must be a finite number of seconds {bound}, got {seconds}"
        )));
    }
    let nanos = nanos_from_seconds(seconds);
    Ok(if positive { nanos.max(1) } else { nanos })
}

/// An `int` or a `float` (not a `bool`), as a float; its range is the core's to check.
fn number(value: &Bound<'_, PyAny>, argument: &str, unit: &str) -> PyResult<f64> {
    if value.is_instance_of::<PyBool>()
        || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>())
    {
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" ({unit})")
        };
        return Err(PyTypeError::new_err(format!(
            "{argument} must be an int or a float{unit}, got {}",
            type_name(value)
        )));
    }
    value.extract::<f64>().map_err(|_| {
        PyValueError::new_err(format!(
            "{argument} must be a finite number, got a huge int"
        ))
    })
}

/// A count: an `int` (not a `bool`) from 1 to 2**32 - 1.
fn count(value: &Bound<'_, PyAny>, argument: &str) -> PyResult<u32> {
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
        Ok(n) => u32::try_from(n)
            .map_err(|_| PyValueError::new_err(format!("{argument} must be at most {}", u32::MAX))),
        Err(_) => Err(PyValueError::new_err(format!(
            "{argument} must be at most {}",
            u32::MAX
        ))),
    }
}

/// The trip-policy and HTTP options, taken from keyword arguments by name: each `None` or
/// missing is "not given".
#[derive(Default)]
pub struct PolicyArgs {
    pub policies: Policies,
    /// Which were given, for the registry's differences.
    pub given: Given,
    pub honor_retry_after: Option<bool>,
    pub max_retry_after: Option<(Nanos, Py<PyAny>)>,
    pub result_is_failure: Option<Py<PyAny>>,
    pub exception_is_failure: Option<Py<PyAny>>,
}

/// The names [`PolicyArgs::extract`] takes.
pub const POLICY_OPTIONS: [&str; 13] = [
    "result_is_failure",
    "exception_is_failure",
    "failure_rate_threshold",
    "minimum_calls",
    "window_seconds",
    "window_calls",
    "slow_call_duration",
    "slow_call_rate_threshold",
    "recovery_backoff",
    "max_recovery_timeout",
    "recovery_jitter",
    "honor_retry_after",
    "max_retry_after",
];

impl PolicyArgs {
    /// Takes the options from `kwargs`; any other keyword is a `TypeError` naming it and
    /// `callable` (as Python says of an unexpected keyword argument).
    pub fn extract(callable: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut args = PolicyArgs::default();
        let Some(kwargs) = kwargs else {
            return Ok(args);
        };
        for (key, value) in kwargs.iter() {
            let key: String = key.extract()?;
            if !POLICY_OPTIONS.contains(&key.as_str()) {
                return Err(PyTypeError::new_err(format!(
                    "{callable}() got an unexpected keyword argument '{key}'"
                )));
            }
            if value.is_none() {
                continue;
            }
            let (p, g) = (&mut args.policies, &mut args.given);
            match key.as_str() {
                "failure_rate_threshold" => {
                    p.failure_rate_threshold = Some(number(&value, &key, "")?);
                    g.failure_rate_threshold = true;
                }
                "minimum_calls" => {
                    p.minimum_calls = Some(count(&value, &key)?);
                    g.minimum_calls = true;
                }
                "window_seconds" => {
                    p.window_seconds = Some(seconds(&value, &key, true)?);
                    g.window_seconds = true;
                }
                "window_calls" => {
                    p.window_calls = Some(count(&value, &key)?);
                    g.window_calls = true;
                }
                "slow_call_duration" => {
                    p.slow_call_duration = Some(seconds(&value, &key, false)?);
                    g.slow_call_duration = true;
                }
                "slow_call_rate_threshold" => {
                    p.slow_call_rate_threshold = Some(number(&value, &key, "")?);
                    g.slow_call_rate_threshold = true;
                }
                "recovery_backoff" => {
                    p.recovery_backoff = Some(number(&value, &key, "")?);
                    g.recovery_backoff = true;
                }
                "max_recovery_timeout" => {
                    p.max_recovery_timeout = Some(seconds(&value, &key, false)?);
                    g.max_recovery_timeout = true;
                }
                "recovery_jitter" => {
                    p.recovery_jitter = Some(number(&value, &key, "")?);
                    g.recovery_jitter = true;
                }
                "honor_retry_after" => {
                    let flag = value.cast::<PyBool>().map_err(|_| {
                        PyTypeError::new_err(format!(
                            "honor_retry_after must be a bool, got {}",
                            type_name(&value)
                        ))
                    })?;
                    args.honor_retry_after = Some(flag.is_true());
                }
                "max_retry_after" => {
                    let nanos = seconds(&value, &key, true)?;
                    args.max_retry_after = Some((nanos, value.clone().unbind()));
                }
                "result_is_failure" => {
                    require_callable(&value, "result_is_failure")?;
                    args.result_is_failure = Some(value.clone().unbind());
                }
                "exception_is_failure" => {
                    require_callable(&value, "exception_is_failure")?;
                    args.exception_is_failure = Some(value.clone().unbind());
                }
                _ => unreachable!("every name in POLICY_OPTIONS is handled"),
            }
        }
        Ok(args)
    }

    fn any_given(&self) -> bool {
        self.policies != Policies::default()
            || self.honor_retry_after.is_some()
            || self.max_retry_after.is_some()
            || self.result_is_failure.is_some()
            || self.exception_is_failure.is_some()
    }
}

/// A breaker's checked options, before the breaker exists. The decorator builds one when it is
/// applied, and each breaker it makes takes a copy.
#[pyclass(frozen, module = "fastbreaker._core")]
pub struct Options {
    pub config: Config,
    /// `recovery_timeout` as given (an `int` stays an `int`).
    pub recovery_timeout: Py<PyAny>,
    pub expected: Py<PyTuple>,
    /// `expected_exceptions == (Exception,)`: classification needs no `isinstance` call.
    pub expects_any_exception: bool,
    /// Which options were given (for the registry, which reports those that differ).
    pub given: Given,
    pub expected_exceptions_given: bool,
    /// The name given to the decorator, if any (breakers built elsewhere take theirs directly).
    pub name: Option<String>,
    /// Where the breaker keeps its state.
    pub store: StoreChoice,
    pub store_given: bool,
    /// Whether the HTTP integrations open the circuit until a 503/429's `Retry-After`.
    pub honor_retry_after: bool,
    /// The longest `Retry-After` they honour, as given, and in nanoseconds.
    pub max_retry_after: Py<PyAny>,
    pub max_retry_after_nanos: Nanos,
    pub honor_retry_after_given: bool,
    pub max_retry_after_given: bool,
    /// `result_is_failure(result) -> bool` and `exception_is_failure(error) -> bool`.
    pub result_is_failure: Option<Py<PyAny>>,
    pub exception_is_failure: Option<Py<PyAny>>,
}

/// Every option, as given to a constructor.
#[derive(Default)]
pub struct OptionArgs {
    /// `None` (given) turns the consecutive trigger off, with a rate threshold only.
    pub failure_threshold: Arg<Option<Threshold<FailureThreshold>>>,
    pub recovery_timeout: Arg<RecoveryTimeout>,
    pub success_threshold: Arg<Threshold<SuccessThreshold>>,
    pub expected_exceptions: Arg<ExpectedExceptions>,
    pub half_open_max_calls: Arg<Threshold<HalfOpenMaxCalls>>,
    pub trial_timeout: Arg<TrialTimeoutArg>,
    pub store: Arg<StoreChoice>,
    pub policies: PolicyArgs,
}

impl OptionArgs {
    /// Whether any option was given.
    pub fn any_given(&self) -> bool {
        self.failure_threshold.is_given()
            || self.recovery_timeout.is_given()
            || self.success_threshold.is_given()
            || self.expected_exceptions.is_given()
            || self.half_open_max_calls.is_given()
            || self.trial_timeout.is_given()
            || self.store.is_given()
            || self.policies.any_given()
    }
}

impl Options {
    /// Puts the given options together with the core's defaults, and validates the result.
    pub fn new(py: Python<'_>, args: OptionArgs) -> PyResult<Self> {
        let given = Given {
            failure_threshold: args.failure_threshold.is_given(),
            recovery_timeout: args.recovery_timeout.is_given(),
            success_threshold: args.success_threshold.is_given(),
            half_open_max_calls: args.half_open_max_calls.is_given(),
            trial_timeout: args.trial_timeout.is_given(),
            ..args.policies.given
        };
        let mut policies = args.policies.policies;
        let failure_threshold = match args.failure_threshold {
            Arg::Given(Some(threshold)) => threshold.0,
            Arg::Given(None) => {
                let has_rate = policies.failure_rate_threshold.is_some()
                    || policies.slow_call_rate_threshold.is_some();
                if !has_rate {
                    return Err(PyTypeError::new_err(
                        "failure_threshold must be an int, got NoneType (None is accepted only \
                         with failure_rate_threshold or slow_call_rate_threshold)",
                    ));
                }
                policies.no_failure_threshold = true;
                Config::DEFAULT_FAILURE_THRESHOLD
            }
            Arg::Missing => Config::DEFAULT_FAILURE_THRESHOLD,
        };
        let max_retry_after_given = args.policies.max_retry_after.is_some();
        let (max_retry_after_nanos, max_retry_after) = match args.policies.max_retry_after {
            Some(given) => given,
            None => (
                Self::DEFAULT_MAX_RETRY_AFTER_SECONDS * NANOS_PER_SECOND,
                Self::DEFAULT_MAX_RETRY_AFTER_SECONDS
                    .into_pyobject(py)?
                    .into_any()
                    .unbind(),
            ),
        };
        let honor_retry_after_given = args.policies.honor_retry_after.is_some();
        let expected_exceptions_given = args.expected_exceptions.is_given();
        let store_given = args.store.is_given();
        let recovery_timeout = match args.recovery_timeout {
            Arg::Given(timeout) => timeout,
            Arg::Missing => RecoveryTimeout::default(py)?,
        };
        let expected = match args.expected_exceptions {
            Arg::Given(expected) => expected,
            Arg::Missing => ExpectedExceptions::default(py)?,
        };
        let config = Config::new(
            failure_threshold,
            args.success_threshold
                .or(Threshold::new(Config::DEFAULT_SUCCESS_THRESHOLD))
                .0,
            args.half_open_max_calls
                .or(Threshold::new(Config::DEFAULT_HALF_OPEN_MAX_CALLS))
                .0,
            recovery_timeout.nanos,
            args.trial_timeout
                .or(TrialTimeoutArg(TrialTimeout::RecoveryTimeout))
                .0,
        )
        .and_then(|config| config.with_policies(policies))
        .map_err(|e| PyValueError::new_err(e.message))?;
        let expected = expected.0;
        let expects_any_exception = {
            let expected = expected.bind(py);
            expected.len() == 1
                && expected
                    .get_item(0)
                    .is_ok_and(|class| class.is(py.get_type::<PyException>()))
        };
        Ok(Options {
            config,
            recovery_timeout: recovery_timeout.shown,
            expected,
            expects_any_exception,
            given,
            expected_exceptions_given,
            name: None,
            store: args.store.or(StoreChoice::Default),
            store_given,
            honor_retry_after: args.policies.honor_retry_after.unwrap_or(true),
            max_retry_after,
            max_retry_after_nanos,
            honor_retry_after_given,
            max_retry_after_given,
            result_is_failure: args.policies.result_is_failure,
            exception_is_failure: args.policies.exception_is_failure,
        })
    }

    pub const DEFAULT_MAX_RETRY_AFTER_SECONDS: u64 = 600;

    /// The settings that differ between `self` (what is registered) and `wanted`, among those
    /// `wanted` was given, as `argument=wanted (registered: have)`.
    pub fn differences(&self, py: Python<'_>, wanted: &Options) -> PyResult<Vec<String>> {
        let mut differences: Vec<String> = self
            .config
            .differences(&wanted.config, &wanted.given)
            .iter()
            .map(ToString::to_string)
            .collect();
        let (have, want) = (self.expected.bind(py), wanted.expected.bind(py));
        // `==` on tuples of classes runs no user code but a metaclass's `__eq__`; never under a lock.
        if wanted.expected_exceptions_given && !have.eq(want)? {
            differences.push(format!(
                "expected_exceptions={} (registered: {})",
                want.repr()?,
                have.repr()?
            ));
        }
        let flag = |b: bool| if b { "True" } else { "False" };
        if wanted.honor_retry_after_given && wanted.honor_retry_after != self.honor_retry_after {
            differences.push(format!(
                "honor_retry_after={} (registered: {})",
                flag(wanted.honor_retry_after),
                flag(self.honor_retry_after)
            ));
        }
        for (argument, want, have) in [
            (
                "result_is_failure",
                &wanted.result_is_failure,
                &self.result_is_failure,
            ),
            (
                "exception_is_failure",
                &wanted.exception_is_failure,
                &self.exception_is_failure,
            ),
        ] {
            let Some(want) = want else { continue };
            if have.as_ref().is_none_or(|have| !have.is(want)) {
                let shown = |p: Option<&Py<PyAny>>| -> PyResult<String> {
                    Ok(match p {
                        Some(p) => p.bind(py).repr()?.to_string(),
                        None => "None".to_owned(),
                    })
                };
                differences.push(format!(
                    "{argument}={} (registered: {})",
                    shown(Some(want))?,
                    shown(have.as_ref())?
                ));
            }
        }
        if wanted.max_retry_after_given
            && wanted.max_retry_after_nanos != self.max_retry_after_nanos
        {
            differences.push(format!(
                "max_retry_after={} (registered: {})",
                wanted.max_retry_after.bind(py).repr()?,
                self.max_retry_after.bind(py).repr()?
            ));
        }
        Ok(differences)
    }
}

#[pymethods]
impl Options {
    #[new]
    #[pyo3(signature = (
        *,
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
    #[allow(clippy::too_many_arguments)] // the documented options
    fn py_new(
        py: Python<'_>,
        failure_threshold: Arg<Option<Threshold<FailureThreshold>>>,
        recovery_timeout: Arg<RecoveryTimeout>,
        success_threshold: Arg<Threshold<SuccessThreshold>>,
        expected_exceptions: Arg<ExpectedExceptions>,
        name: Option<BreakerName>,
        half_open_max_calls: Arg<Threshold<HalfOpenMaxCalls>>,
        trial_timeout: Arg<TrialTimeoutArg>,
        store: Arg<StoreChoice>,
        policies: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
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
                policies: PolicyArgs::extract("Options", policies)?,
            },
        )?;
        Ok(Options {
            name: name.map(|n| n.0),
            ..options
        })
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.expected)?;
        if let StoreChoice::Redis(store) = &self.store {
            visit.call(store)?;
        }
        visit.call(&self.max_retry_after)?;
        if let Some(predicate) = &self.result_is_failure {
            visit.call(predicate)?;
        }
        if let Some(predicate) = &self.exception_is_failure {
            visit.call(predicate)?;
        }
        visit.call(&self.recovery_timeout)
    }
}
