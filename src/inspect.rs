//! What a callable is and what a call returned, decided by reading the interpreter's own
//! structures: no user code runs here (no `__getattr__`, no properties, no `__instancecheck__`),
//! so these are safe on the rejection path, which must raise `CircuitBreakerError` whatever the
//! callable is.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyFunction};
use pyo3::{ffi, intern};

use crate::awaitable::GuardedCall;
use crate::protected::Protected;
use crate::python;

const CO_COROUTINE: u32 = 0x80;
const CO_ITERABLE_COROUTINE: u32 = 0x100;

/// The object `inspect.markcoroutinefunction` sets as a function's `_is_coroutine_marker`
/// (Python 3.12 calls it `inspect._is_coroutine_marker`, 3.13 `inspect._is_coroutine_mark`).
fn coroutine_mark(py: Python<'_>) -> Option<&Bound<'_, PyAny>> {
    static MARK: PyOnceLock<Option<Py<PyAny>>> = PyOnceLock::new();
    MARK.get_or_init(py, || {
        let inspect = py.import("inspect").ok()?;
        ["_is_coroutine_mark", "_is_coroutine_marker"]
            .iter()
            .find_map(|name| inspect.getattr(*name).ok())
            .map(Bound::unbind)
    })
    .as_ref()
    .map(|mark| mark.bind(py))
}

fn code_flags(function: &Bound<'_, PyFunction>) -> PyResult<u32> {
    let py = function.py();
    // A function's `__code__` is a descriptor of the function type, and `co_flags` one of the code
    // type: neither can be overridden by user code.
    function
        .getattr(intern!(py, "__code__"))?
        .getattr(intern!(py, "co_flags"))?
        .extract()
}

/// Whether calling `func` only creates a coroutine: an `async def` function, or one marked with
/// `inspect.markcoroutinefunction`, or a bound method or `functools.partial` of one. The one
/// definition both the decorator and `call()` use. Anything else (a callable object, a proxy)
/// is taken as synchronous: finding out would mean running its code.
/// Whether `func` is an `async def` function (by its code's flags, which user code cannot fake), or
/// a protected one: what a `Protected` calls and wraps in a `GuardedCall` itself.
pub(crate) fn is_async_def(func: &Bound<'_, PyAny>) -> bool {
    if let Ok(function) = func.cast::<PyFunction>() {
        return code_flags(function).is_ok_and(|flags| flags & CO_COROUTINE != 0);
    }
    func.cast::<Protected>()
        .is_ok_and(|protected| protected.get().drives_coroutines())
}

pub(crate) fn is_coroutine_function(func: &Bound<'_, PyAny>) -> bool {
    let py = func.py();
    let mut func = func.clone();
    // Methods of partials of methods...: a few levels at most in real code.
    for _ in 0..16 {
        if func
            .cast::<Protected>()
            .is_ok_and(|protected| protected.get().drives_coroutines())
        {
            return true;
        }
        if let Ok(function) = func.cast::<PyFunction>() {
            if code_flags(function).is_ok_and(|flags| flags & CO_COROUTINE != 0) {
                return true;
            }
            let Some(mark) = coroutine_mark(py) else {
                return false;
            };
            return function
                .getattr(intern!(py, "__dict__"))
                .ok()
                .and_then(|d| d.cast_into::<PyDict>().ok())
                .and_then(|d| {
                    d.get_item(intern!(py, "_is_coroutine_marker"))
                        .ok()
                        .flatten()
                })
                .is_some_and(|marker| marker.is(mark));
        }
        let exact = |class: PyResult<&Bound<'_, PyAny>>| class.is_ok_and(|c| func.get_type().is(c));
        let inner = if exact(python::method_type(py)) {
            func.getattr(intern!(py, "__func__"))
        } else if exact(python::partial_type(py)) {
            func.getattr(intern!(py, "func"))
        } else {
            return false;
        };
        match inner {
            Ok(inner) => func = inner,
            Err(_) => return false,
        }
    }
    false
}

/// What a synchronous call returned, as far as recording its outcome goes.
pub(crate) enum Returned {
    /// A value: the call is over.
    Value,
    /// A coroutine: nothing has run yet.
    Coroutine,
    /// Another awaitable (a future, a task, an object with `__await__`): the work is under way,
    /// and its outcome comes when it completes.
    Awaitable,
    /// A generator or an async generator: the work would happen while iterating, outside the
    /// call.
    Generator,
}

/// Classifies a call's result from its type's slots.
#[inline(always)]
pub(crate) fn returned(value: &Bound<'_, PyAny>) -> Returned {
    let ptr = value.as_ptr();
    // SAFETY: `value` is a live object, so its type object is too; the checks only read the
    // type's fields and compare type pointers.
    unsafe {
        // Most values have no async slots at all: one load and one test.
        let as_async = (*ffi::Py_TYPE(ptr)).tp_as_async;
        if as_async.is_null() {
            // Before 3.10 generators had no async slots at all.
            #[cfg(not(Py_3_10))]
            if ffi::PyGen_CheckExact(ptr) != 0 {
                return generator_kind(value);
            }
            return Returned::Value;
        }
        if ffi::PyCoro_CheckExact(ptr) != 0 || value.is_exact_instance_of::<GuardedCall>() {
            // A protected coroutine function's call is a coroutine too: nothing has run.
            Returned::Coroutine
        } else if (*as_async).am_await.is_some() {
            Returned::Awaitable
        } else if ffi::PyGen_CheckExact(ptr) != 0 {
            // Generators have async slots (`am_send`, from 3.10) but no `am_await`.
            generator_kind(value)
        } else if ffi::PyAsyncGen_CheckExact(ptr) != 0 {
            Returned::Generator
        } else {
            Returned::Value
        }
    }
}

/// A generator made by `types.coroutine` is awaitable; any other is a generator.
#[cold]
fn generator_kind(generator: &Bound<'_, PyAny>) -> Returned {
    let py = generator.py();
    let flags: PyResult<u32> = generator
        .getattr(intern!(py, "gi_code"))
        .and_then(|code| code.getattr(intern!(py, "co_flags"))?.extract());
    match flags {
        Ok(flags) if flags & CO_ITERABLE_COROUTINE != 0 => Returned::Awaitable,
        _ => Returned::Generator,
    }
}

/// `_core._is_coroutine_function(func)`: the same definition, for the Python half.
#[pyfunction]
pub fn _is_coroutine_function(func: &Bound<'_, PyAny>) -> bool {
    is_coroutine_function(func)
}
