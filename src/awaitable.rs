//! `GuardedCall`: the awaitable a protected coroutine function returns, driving the caller's
//! coroutine from Rust.
//!
//! A protected `async def` function, called, makes the caller's coroutine (nothing in it runs) and
//! returns it wrapped in a `GuardedCall`. Awaiting that takes admission when it starts, as the
//! unprotected coroutine would start, then forwards every `send`, `throw` and `close` to the
//! coroutine and records the outcome when it returns or raises. The CLOSED circuit is the whole
//! fast path here: admission and outcome are the same lock-free steps as a synchronous call's,
//! with no Python frame of ours in between. Everything else (a rejection, a half-open trial with
//! its trial context) is handed to the Python coroutine `_wrapping._guarded_coroutine`, which
//! runs the whole protocol, and which this object then drives as it would the caller's.
//!
//! Like a coroutine: `send` of a value other than `None` to one that has not started is a
//! `TypeError`; one that is running cannot be driven again from inside itself (`ValueError`);
//! one that has finished cannot be awaited again (`RuntimeError`). One that is never awaited
//! holds nothing, and leaves the caller's coroutine to warn that it was never awaited.

use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::{ffi, intern, PyTraverseError, PyVisit};

use fastbreaker_core::{Outcome, Ticket};

use crate::breaker::PyCircuitBreaker;
use crate::errors::internal_error;
use crate::python;
#[cfg(not(any(PyPy, GraalPy, Py_GIL_DISABLED)))]
use crate::spare::Spare;

/// Where a guarded call is.
enum Step {
    /// Not started: the caller's coroutine, made before admission (nothing in it has run).
    Pending(Py<PyAny>),
    /// Admitted to a CLOSED circuit: the caller's coroutine, and the ticket its outcome settles.
    Running(Py<PyAny>, Ticket),
    /// Handed to the Python protocol (a rejection, a trial): the coroutine that runs it.
    Delegated(Py<PyAny>),
    /// Being driven now (its coroutine is out of the lock, in the hands of the call driving it).
    Busy,
    Finished,
}

/// An awaitable protected call (see the module documentation).
// Immutable (3.10+): assigning a dunder on the class would have CPython recompute the slots this
// module writes itself (`enable_slots`).
#[cfg_attr(
    Py_3_10,
    pyclass(frozen, immutable_type, weakref, module = "fastbreaker._core")
)]
#[cfg_attr(not(Py_3_10), pyclass(frozen, weakref, module = "fastbreaker._core"))]
pub struct GuardedCall {
    breaker: Py<PyCircuitBreaker>,
    step: Mutex<Step>,
    /// The caller's coroutine, kept for what asyncio and `inspect` read of a coroutine
    /// (`__name__`, `cr_code`, `cr_frame`...), whatever drives it (this call, or the Python
    /// protocol it was handed to) and after it finished, as a coroutine keeps its name. Taken
    /// only by the garbage collector's `__clear__`.
    origin: Mutex<Option<Py<PyAny>>>,
    /// What to return instead when the call is turned away: the fallback with the call's
    /// arguments bound (`None`: the rejection is raised).
    fallback: Option<Py<PyAny>>,
}

/// What sending into (or throwing into) an iterator gave.
enum Sent {
    /// It suspended, handing this value up.
    Yielded(Py<PyAny>),
    /// It finished with this result.
    Returned(Py<PyAny>),
}

/// How a coroutine is driven one step.
enum Drive<'a, 'py> {
    Send(&'a Bound<'py, PyAny>),
    Throw(&'a Bound<'py, PyTuple>),
}

/// Sends `value` into `target` (a coroutine, or any iterator with `send`).
fn send(target: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Sent> {
    let py = target.py();
    #[cfg(Py_3_10)]
    {
        let mut result: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: both are live objects; `PyIter_Send` stores a new reference (or null on error)
        // in `result`.
        let status = unsafe { ffi::PyIter_Send(target.as_ptr(), value.as_ptr(), &mut result) };
        // SAFETY: on NEXT and RETURN `result` is a new reference; on ERROR it is null and an
        // exception is set.
        unsafe {
            match status {
                ffi::PySendResult::PYGEN_NEXT => {
                    Ok(Sent::Yielded(Bound::from_owned_ptr(py, result).unbind()))
                }
                ffi::PySendResult::PYGEN_RETURN => {
                    Ok(Sent::Returned(Bound::from_owned_ptr(py, result).unbind()))
                }
                ffi::PySendResult::PYGEN_ERROR => Err(PyErr::fetch(py)),
            }
        }
    }
    #[cfg(not(Py_3_10))]
    {
        finished(py, target.call_method1(intern!(py, "send"), (value,)))
    }
}

/// `target.throw(*args)`.
fn throw(target: &Bound<'_, PyAny>, args: &Bound<'_, PyTuple>) -> PyResult<Sent> {
    let py = target.py();
    finished(py, target.call_method1(intern!(py, "throw"), args))
}

/// A step's result read the iterator way: a `StopIteration` is the coroutine returning.
fn finished(py: Python<'_>, result: PyResult<Bound<'_, PyAny>>) -> PyResult<Sent> {
    match result {
        Ok(value) => Ok(Sent::Yielded(value.unbind())),
        Err(err) if err.is_instance_of::<PyStopIteration>(py) => {
            let value = err.value(py).getattr(intern!(py, "value"))?;
            Ok(Sent::Returned(value.unbind()))
        }
        Err(err) => Err(err),
    }
}

impl GuardedCall {
    /// Guards `coroutine`, made by a call that took no admission (it takes it when it starts).
    pub(crate) fn new(
        py: Python<'_>,
        breaker: Py<PyCircuitBreaker>,
        coroutine: Py<PyAny>,
        fallback: Option<Py<PyAny>>,
    ) -> Self {
        GuardedCall {
            breaker,
            origin: Mutex::new(Some(coroutine.clone_ref(py))),
            step: Mutex::new(Step::Pending(coroutine)),
            fallback,
        }
    }

    /// Drives the call one step: starts it first if it has not started.
    fn drive(slf: &Bound<'_, Self>, how: Drive<'_, '_>) -> PyResult<Sent> {
        let py = slf.py();
        let this = slf.get();
        let step = std::mem::replace(&mut *this.step.lock(), Step::Busy);
        match step {
            Step::Pending(coroutine) => this.start(py, coroutine, how),
            Step::Running(coroutine, ticket) => this.run(py, coroutine, ticket, how),
            Step::Delegated(coroutine) => {
                let sent = match how {
                    Drive::Send(value) => send(coroutine.bind(py), value),
                    Drive::Throw(args) => throw(coroutine.bind(py), args),
                };
                *this.step.lock() = match &sent {
                    Ok(Sent::Yielded(_)) => Step::Delegated(coroutine),
                    _ => Step::Finished,
                };
                sent
            }
            Step::Busy => Err(PyValueError::new_err("coroutine already executing")),
            Step::Finished => {
                *this.step.lock() = Step::Finished;
                Err(PyRuntimeError::new_err(
                    "cannot reuse already awaited coroutine",
                ))
            }
        }
    }

    /// The first step: admission, then the coroutine's first step.
    fn start(&self, py: Python<'_>, coroutine: Py<PyAny>, how: Drive<'_, '_>) -> PyResult<Sent> {
        match how {
            Drive::Send(value) if !value.is_none() => {
                *self.step.lock() = Step::Pending(coroutine);
                Err(PyTypeError::new_err(
                    "can't send non-None value to a just-started coroutine",
                ))
            }
            // Thrown into before it started: nothing ran, nothing to admit or count. The
            // coroutine takes the exception as an unstarted coroutine does (it ends there).
            Drive::Throw(args) => {
                *self.step.lock() = Step::Finished;
                throw(coroutine.bind(py), args)
            }
            Drive::Send(value) => {
                let breaker = self.breaker.get();
                if let Some(ticket) = breaker.core.admit_closed() {
                    if let Err(err) = breaker.publish(py, None) {
                        *self.step.lock() = Step::Running(coroutine, ticket);
                        return Err(err);
                    }
                    return self.run(py, coroutine, ticket, Drive::Send(value));
                }
                // Not the CLOSED fast path: the Python protocol decides, and runs the call.
                let fallback = self.fallback.as_ref().map(|f| f.bind(py));
                let delegated = match python::guarded_coroutine(py).and_then(|protocol| {
                    protocol.call1((self.breaker.bind(py), coroutine.bind(py), fallback))
                }) {
                    Ok(delegated) => delegated.unbind(),
                    Err(err) => {
                        // Nothing started: the call can still be closed, or tried again.
                        *self.step.lock() = Step::Pending(coroutine);
                        return Err(err);
                    }
                };
                let sent = send(delegated.bind(py), value);
                *self.step.lock() = match &sent {
                    Ok(Sent::Yielded(_)) => Step::Delegated(delegated),
                    _ => Step::Finished,
                };
                sent
            }
        }
    }

    /// One step of an admitted call; its outcome is settled when it ends.
    fn run(
        &self,
        py: Python<'_>,
        coroutine: Py<PyAny>,
        ticket: Ticket,
        how: Drive<'_, '_>,
    ) -> PyResult<Sent> {
        let sent = match how {
            Drive::Send(value) => send(coroutine.bind(py), value),
            Drive::Throw(args) => throw(coroutine.bind(py), args),
        };
        if let Ok(Sent::Yielded(_)) = sent {
            *self.step.lock() = Step::Running(coroutine, ticket);
            return sent;
        }
        *self.step.lock() = Step::Finished;
        // Dropped as a `Bound`: a `Py` dropped in a slot PyO3 did not enter would be queued for
        // PyO3 to release later, at a cost of its own.
        drop(coroutine.into_bound(py));
        let breaker = self.breaker.get();
        match sent {
            // Without a predicate, a constant outcome that the settling code is specialised for.
            Ok(returned) if breaker.result_is_failure.is_none() => {
                breaker.settle(py, ticket, Outcome::Success)?;
                Ok(returned)
            }
            Ok(returned) => {
                let judged = match &returned {
                    Sent::Returned(value) => breaker.returned_outcome(py, value.bind(py)),
                    Sent::Yielded(_) => Ok(Outcome::Success),
                };
                let outcome = match judged {
                    Ok(outcome) => outcome,
                    Err(interrupt) => {
                        // `result_is_failure` raised a BaseException: nothing to judge by.
                        breaker.settle(py, ticket, Outcome::Ignored)?;
                        return Err(interrupt);
                    }
                };
                breaker.settle(py, ticket, outcome)?;
                Ok(returned)
            }
            Err(err) => {
                let (outcome, check_error) = breaker.classify(py, &err);
                breaker.settle(py, ticket, outcome)?;
                Err(check_error.unwrap_or(err))
            }
        }
    }

    /// A call under way cannot be awaited a second time (as a coroutine cannot).
    fn check_awaitable(&self) -> PyResult<()> {
        if let Step::Running(..) | Step::Delegated(_) | Step::Busy = &*self.step.lock() {
            return Err(PyRuntimeError::new_err(
                "coroutine is being awaited already",
            ));
        }
        Ok(())
    }

    /// A step's result as `__next__`/`send`/`throw` give it: a value yielded, or
    /// `StopIteration(result)`.
    fn yielded(sent: PyResult<Sent>) -> PyResult<Py<PyAny>> {
        match sent? {
            Sent::Yielded(value) => Ok(value),
            Sent::Returned(value) => Err(PyStopIteration::new_err((value,))),
        }
    }
}

/// Runs one step for a slot the interpreter calls directly, with a panic turned into an exception.
///
/// # Safety
/// Called from a slot, attached to the interpreter, with `iter` a `GuardedCall` and `arg` a live
/// object.
unsafe fn slot_step(
    py: Python<'_>,
    iter: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> PyResult<Sent> {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as the caller guarantees.
        let (slf, value) = unsafe {
            (
                Borrowed::from_ptr(py, iter).cast_unchecked::<GuardedCall>(),
                Borrowed::from_ptr(py, arg),
            )
        };
        GuardedCall::drive(&slf, Drive::Send(&value))
    }));
    result.unwrap_or_else(|panic| Err(internal_error(panic)))
}

/// `am_send`: how `PyIter_Send` drives an awaitable (the `await` of Python 3.10 and 3.11, and
/// C callers such as an outer `GuardedCall`). A returned value is handed back as it is, with no
/// `StopIteration` made for it.
///
/// # Safety
/// Called by the interpreter, attached to it, with `iter` a `GuardedCall`, `arg` a live object and
/// `presult` a valid place for the result.
#[cfg(Py_3_10)]
unsafe extern "C" fn am_send(
    iter: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
    presult: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: the interpreter calls a slot only from an attached thread.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: as this function's caller guarantees.
    let (status, value) = match unsafe { slot_step(py, iter, arg) } {
        Ok(Sent::Yielded(value)) => (ffi::PySendResult::PYGEN_NEXT, value.into_ptr()),
        Ok(Sent::Returned(value)) => (ffi::PySendResult::PYGEN_RETURN, value.into_ptr()),
        Err(err) => {
            err.restore(py);
            (ffi::PySendResult::PYGEN_ERROR, std::ptr::null_mut())
        }
    };
    // SAFETY: the interpreter passes a valid place for the result.
    unsafe { *presult = value };
    status
}

/// `tp_iternext`: how `await` drives an awaitable from Python 3.12 (and `next()` always). The
/// returned value travels in a `StopIteration` (see `stop_iteration`).
///
/// # Safety
/// Called by the interpreter, attached to it, with `iter` a `GuardedCall`.
unsafe extern "C" fn tp_iternext(iter: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the interpreter calls a slot only from an attached thread.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: as this function's caller guarantees; `None` is a live object.
    match unsafe { slot_step(py, iter, ffi::Py_None()) } {
        Ok(Sent::Yielded(value)) => value.into_ptr(),
        Ok(Sent::Returned(value)) => {
            crate::stop_iteration::raise(value.into_bound(py));
            std::ptr::null_mut()
        }
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// `am_await`: what `await` calls first. The object is its own iterator.
///
/// # Safety
/// Called by the interpreter, attached to it, with `slf` a `GuardedCall`.
unsafe extern "C" fn am_await(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    // SAFETY: the interpreter calls a slot only from an attached thread.
    let py = unsafe { Python::assume_attached() };
    let checked = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: only `GuardedCall` instances carry this slot.
        let call = unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<GuardedCall>() };
        call.get().check_awaitable()
    }));
    match checked.unwrap_or_else(|panic| Err(internal_error(panic))) {
        // SAFETY: `slf` is live; the caller takes the new reference.
        Ok(()) => unsafe {
            ffi::Py_INCREF(slf);
            slf
        },
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// The memory of the last call dropped, for the next (see `spare`).
#[cfg(not(any(PyPy, GraalPy, Py_GIL_DISABLED)))]
static SPARE: Spare = Spare::new();

/// `tp_alloc`: a new object as `PyType_GenericAlloc` makes one (zeroed, one reference, tracked by
/// the garbage collector), in the memory of the last one dropped when there is one.
///
/// # Safety
/// Called as the type's allocator (by `object.__new__`, through PyO3's initialiser), attached,
/// with `tp` this type.
#[cfg(not(any(PyPy, GraalPy, Py_GIL_DISABLED)))]
unsafe extern "C" fn alloc(
    tp: *mut ffi::PyTypeObject,
    nitems: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // Not a variable-size type: `nitems` is 0, and the kept memory is the type's size.
    let kept = if nitems == 0 {
        SPARE.take()
    } else {
        std::ptr::null_mut()
    };
    // SAFETY: as the caller guarantees. Kept memory is a whole object of this type, freed by
    // `free` after PyO3's deallocator stopped tracking it and dropped its contents: zeroed, made
    // an object again by `PyObject_Init` (a reference, and one on its type) and tracked, it is
    // what a new allocation would be; PyO3 then writes the contents.
    unsafe {
        if kept.is_null() {
            return ffi::PyType_GenericAlloc(tp, nitems);
        }
        std::ptr::write_bytes(kept.cast::<u8>(), 0, (*tp).tp_basicsize as usize);
        ffi::PyObject_Init(kept, tp);
        ffi::PyObject_GC_Track(kept.cast());
        kept
    }
}

/// `tp_free`: keeps the memory for the next call, or frees it as `PyObject_GC_Del`.
///
/// # Safety
/// Called by PyO3's deallocator, attached, with `object` a deallocated `GuardedCall`.
#[cfg(not(any(PyPy, GraalPy, Py_GIL_DISABLED)))]
unsafe extern "C" fn free(object: *mut std::ffi::c_void) {
    if !SPARE.keep(object.cast()) {
        // SAFETY: as the caller guarantees; the type's own allocator made it (`alloc`).
        unsafe { ffi::PyObject_GC_Del(object) };
    }
}

/// Gives `GuardedCall` the slots through which the interpreter drives it, written as plain C
/// functions (PyO3 has no option for `am_send`, and its `__next__` must build a `StopIteration`
/// as a lazy `PyErr`), and its allocator (a free list of one: `spare`; PyO3's own `freelist`
/// leaves reused objects untracked by the garbage collector in 0.30, PyO3/pyo3#6442, and takes a
/// lock): at import, before any instance exists.
pub fn enable_slots(py: Python<'_>) {
    let tp = py.get_type::<GuardedCall>().as_type_ptr();
    // SAFETY: the type is ours, a heap type with async slots (it defines `__await__`), and no
    // instance exists yet; `PyType_Modified` drops any cached lookup of the slots.
    unsafe {
        (*tp).tp_iternext = Some(tp_iternext);
        // Only for a type without a finaliser: the collector's flag for one survives untracking,
        // and reused memory would never be finalised again.
        #[cfg(not(any(PyPy, GraalPy, Py_GIL_DISABLED)))]
        if (*tp).tp_finalize.is_none() {
            (*tp).tp_alloc = Some(alloc);
            (*tp).tp_free = Some(free);
        }
        let slots = (*tp).tp_as_async;
        assert!(!slots.is_null(), "GuardedCall has no async slots");
        (*slots).am_await = Some(am_await);
        #[cfg(Py_3_10)]
        {
            (*slots).am_send = Some(am_send);
        }
        ffi::PyType_Modified(tp);
    }
}

#[pymethods]
impl GuardedCall {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let none = slf.py().None().into_bound(slf.py());
        Self::yielded(Self::drive(slf, Drive::Send(&none)))
    }

    #[pyo3(signature = (value, /))]
    fn send(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::yielded(Self::drive(slf, Drive::Send(value)))
    }

    /// `throw(exception)`, or the older `throw(type, value=None, traceback=None)`: passed on as
    /// given.
    #[pyo3(signature = (*args))]
    fn throw(slf: &Bound<'_, Self>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        if args.is_empty() || args.len() > 3 {
            return Err(PyTypeError::new_err(format!(
                "throw expected at least 1 argument and at most 3, got {}",
                args.len()
            )));
        }
        Self::yielded(Self::drive(slf, Drive::Throw(args)))
    }

    /// Closes the call: the coroutine is closed (and what its `close()` returns is returned). A
    /// running call ends there: ignored (GeneratorExit), or as whatever its clean-up raised.
    fn close(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let step = std::mem::replace(&mut *this.step.lock(), Step::Busy);
        if let Step::Busy = step {
            return Err(PyValueError::new_err("coroutine already executing"));
        }
        *this.step.lock() = Step::Finished;
        let close = |coroutine: Py<PyAny>| {
            coroutine
                .into_bound(py)
                .call_method0(intern!(py, "close"))
                .map(Bound::unbind)
        };
        match step {
            Step::Busy | Step::Finished => Ok(py.None()),
            // Closing an unstarted coroutine ends it quietly (no "never awaited" warning).
            Step::Pending(coroutine) | Step::Delegated(coroutine) => close(coroutine),
            Step::Running(coroutine, ticket) => {
                let closed = close(coroutine);
                let breaker = this.breaker.get();
                match closed {
                    Ok(value) => {
                        breaker.settle(py, ticket, Outcome::Ignored)?;
                        Ok(value)
                    }
                    Err(err) => {
                        let (outcome, check_error) = breaker.classify(py, &err);
                        breaker.settle(py, ticket, outcome)?;
                        Err(check_error.unwrap_or(err))
                    }
                }
            }
        }
    }

    /// Refuses a second `await` of a call that is under way, as a coroutine does. (`await` itself
    /// goes through [`am_await`], the same check without PyO3's method trampoline.)
    fn __await__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().check_awaitable()?;
        Ok(slf)
    }

    /// What asyncio and `inspect` read of a coroutine (a task's repr, `getcoroutinestate`),
    /// read from the caller's coroutine; `cr_running` is this call's own.
    #[getter]
    fn cr_running(&self) -> bool {
        matches!(&*self.step.lock(), Step::Busy)
    }

    #[getter]
    fn cr_frame(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.coroutine_attribute(py, intern!(py, "cr_frame"))
    }

    #[getter]
    fn cr_await(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.coroutine_attribute(py, intern!(py, "cr_await"))
    }

    #[getter]
    fn cr_code(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.coroutine_attribute(py, intern!(py, "cr_code"))
    }

    #[getter]
    fn __name__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.coroutine_attribute(py, intern!(py, "__name__"))
    }

    #[getter]
    fn __qualname__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.coroutine_attribute(py, intern!(py, "__qualname__"))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        // The coroutine is copied out of the lock before anything runs Python.
        let what = match self.origin(py) {
            Some(c) => c.bind(py).repr()?.to_string(),
            None => "(cleared)".to_owned(),
        };
        Ok(format!(
            "<guarded call of {what} by {}>",
            self.breaker.get().__repr__(py)?
        ))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.breaker)?;
        if let Some(fallback) = &self.fallback {
            visit.call(fallback)?;
        }
        // A step being driven holds its coroutine outside the lock, where the caller keeps it
        // alive; one that cannot be looked at now is skipped (the collector visits it next time).
        if let Some(step) = self.step.try_lock() {
            if let Step::Pending(c) | Step::Running(c, _) | Step::Delegated(c) = &*step {
                visit.call(c)?;
            }
        }
        if let Some(origin) = self.origin.try_lock() {
            if let Some(c) = &*origin {
                visit.call(c)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let step = std::mem::replace(&mut *self.step.lock(), Step::Finished);
        if let Step::Running(_, ticket) = &step {
            self.abandon(*ticket);
        }
        let origin = self.origin.lock().take();
        drop((step, origin)); // outside the locks: dropping a coroutine may run its finaliser
    }
}

impl GuardedCall {
    /// The caller's coroutine (copied out of its lock), unless the garbage collector cleared it.
    fn origin(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.origin.lock().as_ref().map(|c| c.clone_ref(py))
    }

    /// `name` of the caller's coroutine (`None` once the garbage collector cleared it).
    fn coroutine_attribute(
        &self,
        py: Python<'_>,
        name: &Bound<'_, pyo3::types::PyString>,
    ) -> PyResult<Py<PyAny>> {
        match self.origin(py) {
            Some(c) => Ok(c.bind(py).getattr(name)?.unbind()),
            None => Ok(py.None()),
        }
    }

    /// A running call that will never end (collected with its task): counted as ignored, as a
    /// cancelled one is, and its admission given back (no I/O: the store's release path).
    fn abandon(&self, ticket: Ticket) {
        let core = &self.breaker.get().core;
        core.counters().outcome(Outcome::Ignored);
        core.release(ticket);
    }
}

impl Drop for GuardedCall {
    fn drop(&mut self) {
        // An unstarted one leaves the caller's coroutine to warn that it was never awaited, as
        // it would unprotected.
        if let Step::Running(_, ticket) = *self.step.get_mut() {
            self.abandon(ticket);
        }
    }
}
