//! `Permit`: admission for one call whose outcome the caller reports itself.

use fastbreaker_core::{Outcome, Report, Ticket};
use parking_lot::Mutex;
use pyo3::exceptions::{PyBaseException, PyTypeError};
use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use crate::breaker::{open_seconds, PyCircuitBreaker};
use crate::options::type_name;

/// Admission for one call, taken by `CircuitBreaker.acquire()`, whose outcome is reported once
/// with one of the `record_*` methods (later reports are ignored). A permit dropped unreported
/// (say, a coroutine closed half-way) gives its trial slot back.
#[pyclass(frozen, module = "fastbreaker._core")]
pub struct Permit {
    breaker: Py<PyCircuitBreaker>,
    ticket: Mutex<Option<Ticket>>,
}

impl Permit {
    pub(crate) fn new(breaker: Py<PyCircuitBreaker>, ticket: Option<Ticket>) -> Self {
        Permit {
            breaker,
            ticket: Mutex::new(ticket),
        }
    }

    fn record(&self, py: Python<'_>, outcome: Outcome) -> PyResult<bool> {
        let ticket = self.ticket.lock().take();
        let Some(ticket) = ticket else {
            return Ok(false);
        };
        self.breaker.get().settle(py, ticket, outcome)?;
        Ok(true)
    }
}

#[pymethods]
impl Permit {
    /// The call succeeded. Returns False if the permit was settled already.
    fn record_success(&self, py: Python<'_>) -> PyResult<bool> {
        self.record(py, Outcome::Success)
    }

    /// The call failed in a way that counts against the service. With `open_for` (seconds),
    /// the circuit opens at once, below the threshold too, for exactly that long (the service
    /// said when to come back); a permit of an older period changes nothing.
    #[pyo3(signature = (open_for = None))]
    fn record_failure(
        &self,
        py: Python<'_>,
        open_for: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let Some(open_for) = open_for else {
            return self.record(py, Outcome::Failure);
        };
        let open_for = open_seconds(open_for, "open_for")?;
        let ticket = self.ticket.lock().take();
        let Some(ticket) = ticket else {
            return Ok(false);
        };
        self.breaker
            .get()
            .settle_slow(py, Report::failure_open_for(ticket, open_for))?;
        Ok(true)
    }

    /// The call returned `result`: a success, or a failure if the breaker's `result_is_failure`
    /// says so (the Python half's coroutine wrappers report through this).
    fn _record_result(&self, py: Python<'_>, result: &Bound<'_, PyAny>) -> PyResult<bool> {
        let outcome = self.breaker.get().returned_outcome(py, result)?;
        self.record(py, outcome)
    }

    /// The call ended in a way that says nothing about the service's health.
    fn record_ignored(&self, py: Python<'_>) -> PyResult<bool> {
        self.record(py, Outcome::Ignored)
    }

    /// The call raised `error`: a failure if it is one of the breaker's `expected_exceptions`,
    /// ignored otherwise. If the `isinstance` check itself raises, the outcome is ignored and
    /// that error is raised.
    fn record_exception(&self, py: Python<'_>, error: &Bound<'_, PyAny>) -> PyResult<bool> {
        let error = error.cast::<PyBaseException>().map_err(|_| {
            PyTypeError::new_err(format!(
                "error must be an exception instance, got {}",
                type_name(error)
            ))
        })?;
        let (outcome, check_error) = self
            .breaker
            .get()
            .classify(py, &PyErr::from_value(error.clone().into_any()));
        let recorded = self.record(py, outcome)?;
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
            // The store's release path: no I/O, no failure, nothing to report.
            self.breaker.get().core.release(ticket);
        }
    }
}
