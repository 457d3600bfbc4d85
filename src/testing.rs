//! The process clock's manual mode, for `fastbreaker.testing.manual_clock()`.

use fastbreaker_core::clock::{
    nanos_from_seconds, seconds_from_nanos, Clock, ManualClockError, ProcessClock, MANUAL_LIMIT,
    NANOS_PER_SECOND,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use crate::options::type_name;

fn clock_error(e: ManualClockError) -> PyErr {
    match e {
        ManualClockError::AlreadyActive => {
            PyRuntimeError::new_err("a manual clock is already active")
        }
        ManualClockError::NotActive => PyRuntimeError::new_err("no manual clock is active"),
        ManualClockError::Overflow => too_far(),
    }
}

fn too_far() -> PyErr {
    PyValueError::new_err(format!(
        "the manual clock cannot be advanced past {} seconds from its origin; nothing moved",
        MANUAL_LIMIT / NANOS_PER_SECOND
    ))
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
    let value: f64 = seconds.extract().map_err(|_| too_far())?;
    if !value.is_finite() || value < 0.0 {
        return Err(PyValueError::new_err(format!(
            "seconds must be a finite number >= 0, got {value}"
        )));
    }
    if value > seconds_from_nanos(MANUAL_LIMIT) {
        return Err(too_far());
    }
    ProcessClock::advance(nanos_from_seconds(value))
        .map(seconds_from_nanos)
        .map_err(clock_error)
}

/// The process clock's monotonic reading, in seconds.
#[pyfunction]
pub fn _monotonic() -> f64 {
    seconds_from_nanos(ProcessClock.now())
}
