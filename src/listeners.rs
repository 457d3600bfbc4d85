//! The one emit point of a breaker's transitions: logging first, then the breaker's listeners.
//!
//! A listener is any callable, called with one [`TransitionEvent`] per transition, in the thread
//! that made the transition, after every lock is released. Its `Exception`s never reach the call
//! that caused the transition: the first one of each listener is logged (with its traceback), the
//! later ones are not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fastbreaker_core::Transition;
use parking_lot::Mutex;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::{PyTraverseError, PyVisit};

use crate::python;

/// What a listener receives: one change of a circuit's state.
#[pyclass(frozen, module = "fastbreaker", name = "TransitionEvent")]
pub struct TransitionEvent {
    /// The breaker's name.
    #[pyo3(get)]
    name: Py<PyString>,
    /// The state before (a `CircuitState`).
    #[pyo3(get)]
    old_state: Py<PyAny>,
    /// The state after (a `CircuitState`).
    #[pyo3(get)]
    new_state: Py<PyAny>,
    reason: &'static str,
    /// The consecutive failures counted, just after the transition.
    #[pyo3(get)]
    failure_count: u32,
    /// The successful trials counted, just after the transition.
    #[pyo3(get)]
    success_count: u32,
    /// When it happened, in seconds since the Unix epoch.
    #[pyo3(get)]
    time: f64,
    /// Whether another process made it (this one learned it through the shared store).
    #[pyo3(get)]
    remote: bool,
}

#[pymethods]
impl TransitionEvent {
    /// Why: `failure_threshold`, `recovery_timeout`, `trial_failed`, `trial_succeeded`, `reset`
    /// or `forced`.
    #[getter]
    fn reason(&self) -> &'static str {
        self.reason
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "TransitionEvent(name={}, old_state={}, new_state={}, reason='{}', failure_count={}, \
             success_count={}, time={}, remote={})",
            self.name.bind(py).repr()?,
            self.old_state.bind(py).repr()?,
            self.new_state.bind(py).repr()?,
            self.reason,
            self.failure_count,
            self.success_count,
            self.time,
            if self.remote { "True" } else { "False" }
        ))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.old_state)?;
        visit.call(&self.new_state)
    }
}

struct Listener {
    callback: Py<PyAny>,
    /// Whether an error of this listener was logged already.
    reported: Arc<AtomicBool>,
}

/// A breaker's listeners. Never held while a listener runs or while Python compares them.
#[derive(Default)]
pub struct Listeners {
    entries: Mutex<Vec<Listener>>,
}

impl Listeners {
    pub fn add(&self, callback: Py<PyAny>) {
        self.entries.lock().push(Listener {
            callback,
            reported: Arc::new(AtomicBool::new(false)),
        });
    }

    /// Removes the first listener equal to `callback` (bound methods are equal, not identical,
    /// from one attribute access to the next).
    pub fn remove(&self, callback: &Bound<'_, PyAny>, breaker_name: &str) -> PyResult<()> {
        let py = callback.py();
        for candidate in self.callbacks(py) {
            let candidate = candidate.bind(py);
            // `==` may run Python code: done with no lock held.
            if candidate.is(callback) || candidate.eq(callback)? {
                let mut entries = self.entries.lock();
                if let Some(index) = entries
                    .iter()
                    .position(|l| l.callback.as_ptr() == candidate.as_ptr())
                {
                    let removed = entries.remove(index);
                    drop(entries);
                    drop(removed); // may run a finaliser: outside the lock
                    return Ok(());
                }
            }
        }
        Err(PyValueError::new_err(format!(
            "{} is not a listener of circuit breaker '{breaker_name}'",
            callback.repr()?
        )))
    }

    fn callbacks(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        let entries = self.entries.lock();
        entries.iter().map(|l| l.callback.clone_ref(py)).collect()
    }

    fn snapshot(&self, py: Python<'_>) -> Vec<(Py<PyAny>, Arc<AtomicBool>)> {
        let entries = self.entries.lock();
        entries
            .iter()
            .map(|l| (l.callback.clone_ref(py), Arc::clone(&l.reported)))
            .collect()
    }

    pub fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The collector runs with the world stopped; a lock held elsewhere means a list in the
        // middle of a change, which the next collection will see.
        if let Some(entries) = self.entries.try_lock() {
            for listener in entries.iter() {
                visit.call(&listener.callback)?;
            }
        }
        Ok(())
    }

    pub fn clear(&self) {
        let removed = std::mem::take(&mut *self.entries.lock());
        drop(removed);
    }
}

/// Reports `transition` of the breaker `name`: a log line, then an event to every listener.
/// `remote`: made by another process and learned through the shared store (logged at INFO: the
/// process that made it logged it at its level).
///
/// Only a `BaseException` that is not an `Exception` (`KeyboardInterrupt`, `SystemExit`) raised by
/// logging or a listener is returned; every other error is reported and dropped.
pub(crate) fn emit(
    py: Python<'_>,
    name: &Bound<'_, PyString>,
    name_str: &str,
    listeners: &Listeners,
    transition: &Transition,
    remote: bool,
) -> PyResult<()> {
    if remote {
        let line = format!(
            "{} (learned from another process)",
            transition.describe(name_str)
        );
        python::log_message(py, python::INFO, &line)?;
    } else {
        let level = if matches!(
            transition.to,
            fastbreaker_core::State::Open | fastbreaker_core::State::Isolated
        ) {
            python::WARNING
        } else {
            python::INFO
        };
        python::log_message(py, level, &transition.describe(name_str))?;
    }
    let listeners = listeners.snapshot(py);
    if listeners.is_empty() {
        return Ok(());
    }
    let event = Bound::new(
        py,
        TransitionEvent {
            name: name.clone().unbind(),
            old_state: python::circuit_state(py, transition.from)?.clone().unbind(),
            new_state: python::circuit_state(py, transition.to)?.clone().unbind(),
            reason: transition.reason.as_str(),
            failure_count: transition.failure_count,
            success_count: transition.success_count,
            time: transition.time,
            remote,
        },
    )?;
    for (callback, reported) in listeners {
        let callback = callback.bind(py);
        if let Err(error) = callback.call1((&event,)) {
            if !error.is_instance_of::<PyException>(py) {
                return Err(error);
            }
            if !reported.swap(true, Ordering::Relaxed) {
                let report = python::listener_failed(py)
                    .and_then(|report| report.call1((callback, name, error.value(py))));
                if let Err(report_error) = report {
                    report_error.write_unraisable(py, Some(callback));
                }
            }
        }
    }
    Ok(())
}
