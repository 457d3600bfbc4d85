//! Errors: `CircuitBreakerError` (what a rejected call raises), and the one place where the core's
//! errors (a store that failed, a panic that is a bug) become Python exceptions.

use std::panic::{catch_unwind, AssertUnwindSafe};

use fastbreaker_core::{State, StoreError};
use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

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

impl CircuitBreakerError {
    /// The error for a call that `name`'s breaker turned away in `state`.
    pub(crate) fn rejected(
        name: Py<PyString>,
        state: State,
        retry_after: f64,
        trial_slots: u32,
    ) -> Self {
        CircuitBreakerError {
            breaker_name: Some(name),
            retry_after,
            rejection: Some((state, trial_slots)),
        }
    }
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
                State::Isolated => {
                    format!("circuit breaker '{name}' is isolated: open until reset()")
                }
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

    /// Pickles as `CircuitBreakerError(message, name=..., retry_after=...)`, with the instance's
    /// `__dict__` (attributes set on it, `__notes__`) as its state, as built-in exceptions do.
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
        let state = slf.getattr(intern!(py, "__dict__"))?;
        if state.is_truthy()? {
            PyTuple::new(py, [rebuild.into_any(), args.into_any(), state])
        } else {
            PyTuple::new(py, [rebuild.into_any(), args.into_any()])
        }
    }
}

/// A panic inside fastbreaker is a bug: it reaches Python as a `RuntimeError` that says so, never
/// as `PanicException` (which is not an `Exception` and would escape `except Exception`).
pub(crate) fn internal_error(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    PyRuntimeError::new_err(format!(
        "fastbreaker internal error ({detail}); please report it"
    ))
}

/// Runs an operation of the core, turning a panic into [`internal_error`] and a store's error
/// into a Python exception.
#[inline(always)]
pub(crate) fn guarded<T>(op: impl FnOnce() -> Result<T, StoreError>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(op))
        .map_err(internal_error)?
        .map_err(store_error)
}

/// The one mapping from a store's error to a Python exception.
pub(crate) fn store_error(error: StoreError) -> PyErr {
    PyRuntimeError::new_err(format!("fastbreaker: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_the_core_is_a_runtime_error_not_a_panic_exception() {
        Python::attach(|py| {
            let err =
                guarded(|| -> Result<u32, StoreError> { panic!("invariant broken") }).unwrap_err();
            assert!(err.is_instance_of::<PyRuntimeError>(py));
            assert!(!err.is_instance_of::<pyo3::panic::PanicException>(py));
            let message = err.value(py).to_string();
            assert!(message.contains("invariant broken"), "{message}");
            assert!(message.contains("fastbreaker internal error"), "{message}");
        });
    }

    #[test]
    fn a_store_error_is_a_runtime_error_naming_the_problem() {
        Python::attach(|py| {
            let err = guarded(|| -> Result<u32, StoreError> {
                Err(StoreError::Unavailable("connection refused".into()))
            })
            .unwrap_err();
            assert!(err.is_instance_of::<PyRuntimeError>(py));
            assert_eq!(
                err.value(py).to_string(),
                "fastbreaker: store unavailable: connection refused"
            );
        });
    }
}
