//! fastbreaker: a circuit breaker for Python services, with its state machine in Rust.
//!
//! - [`breaker`]: the state machine (plain Rust).
//! - [`clock`]: monotonic time, with a process-wide manual mode for tests.
//! - [`registry`]: the process-wide map of named breakers (plain Rust).
//! - [`bindings`]: the thin PyO3 shell, exported as the Python module `fastbreaker._core`.

pub mod bindings;
pub mod breaker;
pub mod clock;
pub mod registry;

use pyo3::prelude::*;

/// The Python module `fastbreaker._core`.
#[pymodule]
pub mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::bindings::{
        _manual_clock_advance, _manual_clock_start, _manual_clock_stop, _monotonic,
        get_all_circuit_breaker_statuses, get_circuit_breaker, get_circuit_breaker_status,
        reset_circuit_breaker, CircuitBreakerError, Permit, Protected, PyCircuitBreaker,
    };

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        let py = m.py();
        // Loggers are cached but their levels are not, so that a level set on the `fastbreaker`
        // logger after import takes effect. Only transitions are logged, so this costs nothing on
        // the call path. A logger installed already (a second interpreter) is kept.
        if let Ok(logger) = pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers) {
            let _ = logger.filter(log::LevelFilter::Trace).install();
        }
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::bindings::enable_vectorcall(py)?;
        Ok(())
    }
}
