//! `Protected`: a synchronous function protected by a breaker, called through the vectorcall
//! protocol (the arguments go from the caller to the function as they are, with no tuple or dict
//! built on the way).
//!
//! PyO3 has no option for vectorcall on a class, so [`enable_vectorcall`] gives the type its
//! vectorcall offset at import, measured on a real instance. The type is immutable (on Python
//! 3.10+), so that no one can replace `__call__` on it behind the vectorcall slot's back.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyAttributeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFunction, PyString, PyTuple};
use pyo3::{ffi, intern, PyTraverseError, PyVisit};

/// Attributes of a function that `functools.update_wrapper` leaves behind.
const FUNCTION_ATTRIBUTES: [&str; 6] = [
    "__code__",
    "__defaults__",
    "__kwdefaults__",
    "__globals__",
    "__closure__",
    "__builtins__",
];

use crate::awaitable::GuardedCall;
use crate::breaker::PyCircuitBreaker;
use crate::errors::internal_error;
use crate::inspect::{is_async_def, returned, Returned};
use crate::options::{require_callable, Options};
use crate::python;

/// A synchronous function protected by a breaker. Behaves like the function: `functools.wraps`
/// metadata lives in its `__dict__`, and it binds as a method.
#[cfg_attr(
    Py_3_10,
    pyclass(frozen, immutable_type, dict, weakref, module = "fastbreaker._core")
)]
#[cfg_attr(
    not(Py_3_10),
    pyclass(frozen, dict, weakref, module = "fastbreaker._core")
)]
#[repr(C)]
pub struct Protected {
    /// What the interpreter calls (at `tp_vectorcall_offset` in the object).
    vectorcall: ffi::vectorcallfunc,
    breaker: Py<PyCircuitBreaker>,
    func: Py<PyAny>,
    /// `func` is an `async def` function (or a protected one): a call makes its coroutine and
    /// returns it guarded (a `GuardedCall`), without taking admission before it starts.
    coroutine_function: bool,
    /// Called with the call's arguments instead of raising, when the circuit turns a call away.
    fallback: Option<Py<PyAny>>,
}

/// The arguments of a vectorcall as a tuple and a dict (for the rare slow paths).
///
/// # Safety
/// `args`, `nargs` and `kwnames` must be a valid vectorcall argument vector: `nargs` positional
/// arguments then one per name in `kwnames` (a tuple of str, or null), all live for the call.
unsafe fn vectorcall_arguments<'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: usize,
    kwnames: *mut ffi::PyObject,
) -> PyResult<(Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>)> {
    // SAFETY: the caller guarantees `args` holds `nargs + len(kwnames)` live references.
    let item = |i: usize| unsafe { Borrowed::from_ptr(py, *args.add(i)) };
    let positional = PyTuple::new(py, (0..nargs).map(item))?;
    if kwnames.is_null() {
        return Ok((positional, None));
    }
    // SAFETY: a non-null `kwnames` is a tuple, by the vectorcall protocol.
    let names = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
    let kwargs = PyDict::new(py);
    for (i, name) in names.iter().enumerate() {
        kwargs.set_item(name, item(nargs + i))?;
    }
    Ok((positional, Some(kwargs)))
}

/// `functools.partial(fallback, *args, **kwargs)`: a fallback ready to be called when a coroutine
/// that was created before its admission is turned away.
fn bind_arguments<'py>(
    fallback: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = fallback.py();
    let mut bound = vec![fallback.clone()];
    bound.extend(args.iter());
    python::partial_type(py)?.call(PyTuple::new(py, bound)?, kwargs)
}

/// `Protected.__call__` for the vectorcall protocol.
///
/// # Safety
/// Called by the interpreter, attached to it, with `callable` a `Protected` and a valid
/// vectorcall argument vector.
unsafe extern "C" fn protected_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the interpreter calls a vectorcall function only from an attached thread.
    let py = unsafe { Python::assume_attached() };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: only `Protected` instances carry this function in their vectorcall slot.
        let slf = unsafe { Borrowed::from_ptr(py, callable).cast_unchecked::<Protected>() };
        let (breaker, func) = (slf.get().breaker.bind(py), slf.get().func.bind(py));
        // Looked up where it is needed only: the success path never reads it.
        let fallback = move || slf.get().fallback.as_ref().map(|f| f.bind(py));
        // The arguments as a tuple and a dict: only for a fallback or a coroutine's slow path.
        // The closures capture copies of the pointers (`move`), not their addresses: nothing is
        // spilled to the stack for them on the success path, which never calls them.
        let arguments = move || {
            // SAFETY: `PyVectorcall_NARGS` only masks the offset flag off.
            let nargs = unsafe { ffi::PyVectorcall_NARGS(nargsf) } as usize;
            // SAFETY: the vector the interpreter passed, with its own count of positionals.
            unsafe { vectorcall_arguments(py, args, nargs, kwnames) }
        };
        if slf.get().coroutine_function {
            // SAFETY: the argument vector is passed on unchanged, as valid as it came in.
            let coroutine = unsafe {
                let result = ffi::PyObject_Vectorcall(func.as_ptr(), args, nargsf, kwnames);
                Bound::from_owned_ptr_or_err(py, result)?
            };
            let bound_fallback = match fallback() {
                Some(fallback) => {
                    let (args, kwargs) = arguments()?;
                    Some(bind_arguments(fallback, &args, kwargs.as_ref())?)
                }
                None => None,
            };
            return slf.get().guard(coroutine, bound_fallback);
        }
        PyCircuitBreaker::guarded(
            breaker,
            func,
            // SAFETY: the argument vector is passed on unchanged, as valid as it came in.
            move || unsafe {
                let result = ffi::PyObject_Vectorcall(func.as_ptr(), args, nargsf, kwnames);
                Bound::from_owned_ptr_or_err(py, result)
            },
            move || {
                let (args, kwargs) = arguments()?;
                PyCircuitBreaker::call_async_with(breaker, func, &args, kwargs.as_ref(), fallback())
            },
            move |rejected| match fallback() {
                Some(fallback) => {
                    // SAFETY: the argument vector is passed on unchanged, as valid as it came in.
                    let result = unsafe {
                        ffi::PyObject_Vectorcall(fallback.as_ptr(), args, nargsf, kwnames)
                    };
                    // SAFETY: a new reference or null with an exception set.
                    unsafe { Bound::from_owned_ptr_or_err(py, result) }
                }
                None => Err(rejected),
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
/// The offset is measured on a real instance (no assumption about PyO3's object layout), and the
/// flag is set the way PyO3 sets type flags: atomically where `tp_flags` is atomic (free-threaded
/// builds).
pub fn enable_vectorcall(py: Python<'_>) -> PyResult<()> {
    let mut options = Options::new(py, Default::default())?;
    options.store = crate::options::StoreChoice::Memory;
    let probe_breaker = Py::new(
        py,
        PyCircuitBreaker::build(py, &options, Some("probe".into()))?,
    )?;
    let probe = Bound::new(
        py,
        Protected::new(probe_breaker, py.get_type::<PyString>().as_any(), None)?,
    )?;
    let field = std::ptr::addr_of!(probe.get().vectorcall) as isize;
    let offset = field - probe.as_ptr() as isize;
    let type_object = py.get_type::<Protected>();
    let tp = type_object.as_type_ptr();
    // SAFETY: the type is ours and fully initialised, and no instance but the probe exists yet;
    // every instance stores a valid `vectorcallfunc` at `offset` (set in `Protected::new`, the
    // only constructor). `PyType_Modified` drops any cached lookup of the old slots.
    unsafe {
        (*tp).tp_vectorcall_offset = offset as ffi::Py_ssize_t;
        #[cfg(not(Py_GIL_DISABLED))]
        {
            (*tp).tp_flags |= ffi::Py_TPFLAGS_HAVE_VECTORCALL;
        }
        #[cfg(Py_GIL_DISABLED)]
        {
            (*tp).tp_flags.fetch_or(
                ffi::Py_TPFLAGS_HAVE_VECTORCALL,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        ffi::PyType_Modified(tp);
    }
    Ok(())
}

impl Protected {
    /// Whether a call makes a coroutine and returns it as a `GuardedCall`.
    pub(crate) fn drives_coroutines(&self) -> bool {
        self.coroutine_function
    }

    /// The awaitable a call of a protected coroutine function returns (`fallback`: the fallback
    /// with the call's arguments bound).
    fn guard<'py>(
        &self,
        coroutine: Bound<'py, PyAny>,
        fallback: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = coroutine.py();
        if !matches!(returned(&coroutine), Returned::Coroutine) {
            // An `async def` always makes a coroutine: only a `__code__` swapped after the
            // decoration could lead here.
            return Err(PyTypeError::new_err(format!(
                "{} returned {}, not a coroutine",
                self.func.bind(py).repr()?,
                coroutine.get_type().name()?
            )));
        }
        let guarded = GuardedCall::new(
            py,
            self.breaker.clone_ref(py),
            coroutine.unbind(),
            fallback.map(Bound::unbind),
        );
        Ok(Bound::new(py, guarded)?.into_any())
    }

    /// Whether what it protects is a function (or a protected function, when breakers are
    /// stacked): then it passes for one.
    fn wraps_function(&self, py: Python<'_>) -> bool {
        let func = self.func.bind(py);
        func.is_instance_of::<PyFunction>()
            || func
                .cast::<Protected>()
                .is_ok_and(|inner| inner.get().wraps_function(py))
    }
}

#[pymethods]
impl Protected {
    #[new]
    #[pyo3(signature = (breaker, func, fallback = None))]
    fn new(
        breaker: Py<PyCircuitBreaker>,
        func: &Bound<'_, PyAny>,
        fallback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        require_callable(func, "func")?;
        if let Some(fallback) = fallback {
            require_callable(fallback, "fallback")?;
        }
        Ok(Protected {
            vectorcall: protected_vectorcall,
            breaker,
            func: func.clone().unbind(),
            coroutine_function: is_async_def(func),
            fallback: fallback.map(|f| f.clone().unbind()),
        })
    }

    /// The `tp_call` path (`wrapped.__call__(...)`, and callers that do not use vectorcall).
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fallback = self.fallback.as_ref().map(|f| f.bind(py));
        if self.coroutine_function {
            let coroutine = self.func.bind(py).call(args, kwargs)?;
            let fallback = fallback
                .map(|f| bind_arguments(f, args, kwargs))
                .transpose()?;
            return self.guard(coroutine, fallback);
        }
        PyCircuitBreaker::guarded_call(
            self.breaker.bind(py),
            self.func.bind(py),
            args,
            kwargs,
            fallback,
        )
    }

    /// Whether a call returns its coroutine guarded (the protected callable is an `async def`).
    #[getter]
    fn _drives_coroutines(&self) -> bool {
        self.coroutine_function
    }

    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        instance: Option<&Bound<'py, PyAny>>,
        _owner: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(instance) = instance.filter(|i| !i.is_none()) else {
            return Ok(slf.clone().into_any());
        };
        python::method_type(slf.py())?.call1((slf, instance))
    }

    #[getter]
    fn circuit_breaker(&self, py: Python<'_>) -> Py<PyCircuitBreaker> {
        self.breaker.clone_ref(py)
    }

    /// `types.FunctionType` when the protected callable is a function, so that frameworks that
    /// tell functions from other callables with `inspect.isfunction` (Starlette's routes, for one)
    /// treat a decorated function as the function it is. `type(wrapped)` is still `Protected`.
    #[getter(__class__)]
    fn class<'py>(slf: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        let py = slf.py();
        if slf.get().wraps_function(py) {
            py.get_type::<PyFunction>().into_any()
        } else {
            slf.get_type().into_any()
        }
    }

    /// A decorated function is copied as functions are: not at all.
    fn __copy__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.clone().unbind()
    }

    #[pyo3(signature = (memo, /))]
    fn __deepcopy__(slf: &Bound<'_, Self>, memo: &Bound<'_, PyAny>) -> Py<Self> {
        let _ = memo; // nothing inside is copied
        slf.clone().unbind()
    }

    /// The function attributes that `functools.wraps` does not copy (`__code__`, `__defaults__`,
    /// ...), read from the protected function, for code that inspects what `isfunction` accepts.
    fn __getattr__<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyString>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if FUNCTION_ATTRIBUTES.contains(&name.to_str()?) {
            return slf.get().func.bind(py).getattr(name);
        }
        Err(PyAttributeError::new_err(format!(
            "'{}' object has no attribute '{name}'",
            slf.get_type().name()?
        )))
    }

    /// Pickles by reference, as functions do: the name it is reachable by in its module.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        slf.getattr(intern!(py, "__qualname__")).map_err(|_| {
            PyTypeError::new_err(format!(
                "cannot pickle {}: it is pickled by reference, by its __qualname__, and the \
                 callable it protects has none",
                slf.repr()
                    .map_or_else(|_| "a protected callable".to_owned(), |r| r.to_string())
            ))
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<protected {} by {}>",
            self.func.bind(py).repr()?,
            self.breaker.get().__repr__(py)?
        ))
    }

    /// The fallback a call turned away calls instead (`None`: it raises `CircuitBreakerError`).
    #[getter]
    fn fallback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.fallback.as_ref().map(|f| f.clone_ref(py))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.breaker)?;
        if let Some(fallback) = &self.fallback {
            visit.call(fallback)?;
        }
        visit.call(&self.func)
    }
}
