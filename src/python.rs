//! References to the Python half of the package, looked up once per process and then held: the
//! `CircuitState` members, the coroutine wrappers, and the logging helpers.

use fastbreaker_core::State;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// The `CircuitState` member for `state` (the members are built once, not per read).
pub(crate) fn circuit_state(py: Python<'_>, state: State) -> PyResult<&Bound<'_, PyAny>> {
    static MEMBERS: PyOnceLock<Vec<Py<PyAny>>> = PyOnceLock::new();
    let members = MEMBERS.get_or_try_init(py, || -> PyResult<_> {
        let class = py.import("fastbreaker._state")?.getattr("CircuitState")?;
        State::ALL
            .iter()
            .map(|state| class.call1((state.as_str(),)).map(Bound::unbind))
            .collect()
    })?;
    let index = State::ALL
        .iter()
        .position(|s| *s == state)
        .expect("every state is in State::ALL");
    Ok(members[index].bind(py))
}

/// Declares a function of the Python half, imported on first use and held from then on.
macro_rules! python_function {
    ($(#[$doc:meta])* $name:ident = $module:literal . $attribute:literal) => {
        $(#[$doc])*
        pub(crate) fn $name(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
            static FUNCTION: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
            FUNCTION.import(py, $module, $attribute)
        }
    };
}

python_function!(
    /// `_wrapping.call_async(breaker, func, args, kwargs)`: the coroutine form of a call.
    call_async = "fastbreaker._wrapping"."call_async"
);
python_function!(
    /// `_wrapping._guarded_coroutine(breaker, coroutine)`: the whole protocol around a coroutine
    /// created before admission (what a `GuardedCall` hands everything but a CLOSED circuit to).
    guarded_coroutine = "fastbreaker._wrapping"."_guarded_coroutine"
);
python_function!(
    /// `_wrapping.decorate(breaker, func)`: `@breaker`.
    decorate = "fastbreaker._wrapping"."decorate"
);
python_function!(
    /// `_log.log(level, message)` on the `fastbreaker` logger; a failing filter or handler is
    /// reported as `logging` reports its own errors, never raised.
    log = "fastbreaker._log"."log"
);
python_function!(
    /// `_log.listener_failed(listener, breaker_name, error)`: the one report of a listener's error.
    listener_failed = "fastbreaker._log"."listener_failed"
);
python_function!(
    /// `_log.predicate_failed(what, predicate, breaker_name, error)`: the one report of a
    /// failing `result_is_failure` or `exception_is_failure`.
    predicate_failed = "fastbreaker._log"."predicate_failed"
);
python_function!(
    /// `_wrapping.guard_awaitable(permit, awaitable)`: records the outcome when it completes.
    guard_awaitable = "fastbreaker._wrapping"."guard_awaitable"
);
python_function!(
    /// `_wrapping.in_trial(breaker)`: whether this thread or task runs a trial of `breaker`.
    in_trial = "fastbreaker._wrapping"."in_trial"
);
python_function!(
    /// `_wrapping.enter_trial(breaker)`: marks this thread or task as running a trial; a token.
    enter_trial = "fastbreaker._wrapping"."enter_trial"
);
python_function!(
    /// `_wrapping.leave_trial(token)`.
    leave_trial = "fastbreaker._wrapping"."leave_trial"
);
python_function!(
    /// `functools.partial`, to see through partials.
    partial_type = "functools"."partial"
);
python_function!(
    /// `types.MethodType`, to bind a protected function as a method.
    method_type = "types"."MethodType"
);

/// `logging.WARNING` and `logging.INFO`.
pub(crate) const WARNING: u8 = 30;
pub(crate) const INFO: u8 = 20;

/// Logs `message` on the `fastbreaker` logger at `level`. Logging never fails a breaker: an
/// `Exception` of the logging machinery is reported by the helper (or, should the helper itself
/// fail, as unraisable). Only a `BaseException` that is not an `Exception` (`KeyboardInterrupt`
/// arriving while a handler runs) is returned, to be raised: Ctrl-C is never swallowed.
pub(crate) fn log_message(py: Python<'_>, level: u8, message: &str) -> PyResult<()> {
    let Ok(log) = log(py) else {
        return Ok(());
    };
    match log.call1((level, message)) {
        Ok(_) => Ok(()),
        Err(error) if !error.is_instance_of::<PyException>(py) => Err(error),
        Err(error) => {
            error.write_unraisable(py, Some(log));
            Ok(())
        }
    }
}
