//! fastbreaker's Python bindings, the module `fastbreaker._core`: a thin shell around the plain-Rust
//! core ([`fastbreaker_core`]), split by concern.
//!
//! - [`options`]: arguments parsed once into typed values (`Options`).
//! - [`breaker`]: the `CircuitBreaker` class and the call protocol.
//! - [`awaitable`]: `GuardedCall`, the awaitable of a protected coroutine function.
//! - [`permit`]: `Permit`, admission reported by hand.
//! - [`protected`]: decorated functions, called through vectorcall.
//! - [`listeners`]: the emit point of transitions (logging, then listeners) and `TransitionEvent`.
//! - [`observed`]: every live named breaker (for health and metrics), the counters' switch.
//! - [`errors`]: `CircuitBreakerError`, and the core's errors as Python exceptions.
//! - [`registry`]: the named-breaker registry functions.
//! - [`store`]: `RedisStore`, the default store, and the `store=` argument.
//! - [`testing`]: the process clock's manual mode.
//! - [`python`]: references to the Python half, looked up once.
//! - `inspect`: what a callable is and what a call returned, without running user code.

// Every `unsafe` block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod awaitable;
pub mod breaker;
pub mod errors;
mod inspect;
pub mod listeners;
pub mod observed;
pub mod options;
pub mod permit;
pub mod protected;
mod python;
pub mod registry;
#[cfg(not(any(PyPy, GraalPy, Py_GIL_DISABLED)))]
mod spare;
mod stop_iteration;
pub mod store;
pub mod testing;

use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;

/// Breakers, their registry, the classes and the references to the Python half are process-wide:
/// one interpreter's objects in another's hands would outlive it (mod_wsgi, for one, runs each
/// application in a sub-interpreter of its own). So the module loads in the main interpreter
/// only, and a sub-interpreter gets a clear `ImportError` before anything is shared.
fn refuse_sub_interpreters() -> PyResult<()> {
    // SAFETY: called while attached to an interpreter (a module's exec slot); both functions only
    // read the runtime's interpreter pointers.
    let is_main =
        unsafe { pyo3::ffi::PyInterpreterState_Get() == pyo3::ffi::PyInterpreterState_Main() };
    if is_main {
        return Ok(());
    }
    Err(PyImportError::new_err(
        "fastbreaker cannot be imported in a sub-interpreter: its breakers and registry are \
         shared by the whole process. Run it in the main interpreter (mod_wsgi: \
         WSGIApplicationGroup %{GLOBAL})",
    ))
}

/// The Python module `fastbreaker._core`.
///
/// `gil_used = true`: the classes are frozen and keep their state in locks and atomics, but the
/// module has not been run on a free-threaded interpreter (none is installable where it is built
/// and tested), so a free-threaded Python keeps its GIL on while this module is loaded.
#[pymodule(gil_used = true)]
pub mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::awaitable::GuardedCall;
    #[pymodule_export]
    use crate::breaker::PyCircuitBreaker;
    #[pymodule_export]
    use crate::errors::CircuitBreakerError;
    #[pymodule_export]
    use crate::inspect::_is_coroutine_function;
    #[pymodule_export]
    use crate::listeners::TransitionEvent;
    #[pymodule_export]
    use crate::observed::{_set_call_counting, all_circuit_breakers};
    #[pymodule_export]
    use crate::options::Options;
    #[pymodule_export]
    use crate::permit::Permit;
    #[pymodule_export]
    use crate::protected::Protected;
    #[pymodule_export]
    use crate::registry::{
        _registry_restore, _registry_snapshot, get_all_circuit_breaker_statuses,
        get_circuit_breaker, get_circuit_breaker_status, reset_circuit_breaker,
    };
    #[pymodule_export]
    use crate::store::{_after_fork, get_default_store, set_default_store, PyRedisStore};
    #[pymodule_export]
    use crate::testing::{
        _manual_clock_advance, _manual_clock_start, _manual_clock_stop, _monotonic,
    };

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::refuse_sub_interpreters()?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::awaitable::enable_slots(m.py());
        crate::stop_iteration::init(m.py())?;
        crate::protected::enable_vectorcall(m.py())
    }
}
