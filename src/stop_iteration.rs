//! How a Rust awaitable hands its result to `await`: in a `StopIteration`.
//!
//! Up to Python 3.11, `await` drives any awaitable through `am_send`, which hands a result back
//! as it is (`awaitable::am_send`). From 3.12 it does so only for coroutines and generators: any
//! other awaitable is driven through `tp_iternext`, and its result travels in a `StopIteration`
//! that `await` unpacks and drops at once. Made the usual way (`PyErr_SetObject`), that exception
//! costs about 500 instructions and two allocations per await, as much as a fifth of a whole
//! no-op `async def` wrapper.
//!
//! So on 3.12 and 3.13 (with a GIL) the result travels in an instance of a private subclass of
//! `StopIteration`, filled in as `StopIteration(value)` is (`args == (value,)`, `value`, nothing
//! else) without the call protocol, and raised without the context chaining that `await` would
//! discard. Its deallocator clears it as `StopIteration`'s own does (the result is let go when
//! `await` drops the exception, as before) and keeps its memory for the next one, with its
//! arguments' tuple (emptied) when nothing else holds that: a free list of one, as CPython keeps
//! for its own short-lived objects (an `await` ends before the next one begins, so one is
//! enough). Only code that sees the exception itself (a `next()` on the awaitable, a tracer's
//! exception events) can tell: `isinstance` holds, a copy or a pickle is a plain
//! `StopIteration`, but `type()` is the subclass.
//!
//! Elsewhere (3.9 to 3.11, where only `next()` comes here; 3.14 and later, whose layout this
//! module does not assume; free-threaded builds, where `spare` is not used; PyPy and GraalPy) the
//! exception is made the usual way.

// Where the result travels in the reused subclass: CPython 3.12 and 3.13 with a GIL (PyO3 builds
// for no free-threaded CPython before 3.14), not limited to the stable ABI (whose exceptions'
// layout is hidden).
#[cfg(all(
    Py_3_12,
    not(Py_3_14),
    not(any(PyPy, GraalPy, Py_GIL_DISABLED, Py_LIMITED_API))
))]
pub use reused::{init, raise};
#[cfg(not(all(
    Py_3_12,
    not(Py_3_14),
    not(any(PyPy, GraalPy, Py_GIL_DISABLED, Py_LIMITED_API))
)))]
pub use usual::{init, raise};

#[cfg(all(
    Py_3_12,
    not(Py_3_14),
    not(any(PyPy, GraalPy, Py_GIL_DISABLED, Py_LIMITED_API))
))]
mod reused {
    use std::ffi::{c_int, c_uint, c_void};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::ptr;
    use std::sync::atomic::{AtomicPtr, Ordering};

    use pyo3::exceptions::{PyBaseException, PyRuntimeError, PyStopIteration};
    use pyo3::prelude::*;
    use pyo3::types::PyTuple;
    use pyo3::{ffi, intern};

    use crate::errors::internal_error;
    use crate::spare::Spare;

    /// The subclass, made at import and kept for the life of the process (as PyO3 keeps the
    /// types of its classes).
    static TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(ptr::null_mut());

    /// The memory of the last instance dropped, cleared, for the next (see `spare`).
    static SPARE: Spare = Spare::new();

    /// Makes the subclass, at import (once: a second import of the module, after it was taken
    /// out of `sys.modules`, keeps it).
    pub fn init(py: Python<'_>) -> PyResult<()> {
        if !TYPE.load(Ordering::Acquire).is_null() {
            return Ok(());
        }
        // SAFETY: a static type object, ready since the interpreter started.
        let base = unsafe { ffi::PyExc_StopIteration }.cast::<ffi::PyTypeObject>();
        // SAFETY: as above.
        let (basicsize, traverse, clear) =
            unsafe { ((*base).tp_basicsize, (*base).tp_traverse, (*base).tp_clear) };
        let (Some(traverse), Some(clear)) = (traverse, clear) else {
            return Err(PyRuntimeError::new_err(
                "StopIteration has no garbage-collector slots",
            ));
        };
        // Kept for the life of the process, as the type that refers to them.
        let methods: &'static mut [ffi::PyMethodDef; 2] = Box::leak(Box::new([
            ffi::PyMethodDef {
                ml_name: c"__reduce__".as_ptr(),
                ml_meth: ffi::PyMethodDefPointer {
                    PyCFunction: reduce,
                },
                ml_flags: ffi::METH_NOARGS,
                ml_doc: c"A copy or a pickle is a plain StopIteration.".as_ptr(),
            },
            ffi::PyMethodDef::zeroed(),
        ]));
        let mut slots = [
            ffi::PyType_Slot {
                slot: ffi::Py_tp_dealloc,
                pfunc: dealloc as *mut c_void,
            },
            ffi::PyType_Slot {
                slot: ffi::Py_tp_methods,
                pfunc: methods.as_mut_ptr().cast(),
            },
            // The base's: what the collector follows and clears is the base's layout.
            ffi::PyType_Slot {
                slot: ffi::Py_tp_traverse,
                pfunc: traverse as *mut c_void,
            },
            ffi::PyType_Slot {
                slot: ffi::Py_tp_clear,
                pfunc: clear as *mut c_void,
            },
            ffi::PyType_Slot {
                slot: 0,
                pfunc: ptr::null_mut(),
            },
        ];
        let mut spec = ffi::PyType_Spec {
            name: c"fastbreaker._core.StopIteration".as_ptr(),
            // The base's size: `raise` writes the base's layout, nothing more.
            basicsize: c_int::try_from(basicsize)?,
            itemsize: 0,
            // Not a base, not callable from Python, not writable: only `raise` makes instances,
            // and only `dealloc` ends them.
            flags: (ffi::Py_TPFLAGS_DEFAULT
                | ffi::Py_TPFLAGS_HAVE_GC
                | ffi::Py_TPFLAGS_IMMUTABLETYPE
                | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as c_uint,
            slots: slots.as_mut_ptr(),
        };
        // SAFETY: attached; the spec and its slots are valid for the call (CPython copies what it
        // keeps, and the name is static); the base is a static type object.
        let tp = unsafe {
            Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpecWithBases(&mut spec, base.cast()))?
        };
        // Kept for good: the base's `tp_traverse` does not visit the type, which instances
        // refer to (a heap type's instances normally keep it alive through the collector).
        TYPE.store(tp.into_ptr().cast(), Ordering::Release);
        Ok(())
    }

    /// Sets `StopIteration(value)` as the current exception (nothing for `None`: the iterator
    /// protocol's plain end, which `await` and `yield from` read as `None`, and for which `next()`
    /// raises `StopIteration()` itself).
    pub fn raise(value: Bound<'_, PyAny>) {
        if value.is_none() {
            return;
        }
        let tp = TYPE.load(Ordering::Acquire);
        if tp.is_null() {
            // Not reached: the type is made at import, before any awaitable exists.
            return super::usual::raise(value);
        }
        // SAFETY: attached (`value` is bound); `tp` is the subclass, laid out as
        // `PyStopIterationObject`. A new instance comes zeroed and tracked from `tp_alloc`. A
        // reused one comes from `dealloc`: untracked, every field cleared but `args`, which holds
        // the kept tuple (or null); `PyObject_Init` makes it an object again (one reference, and
        // one on its type). Each field written holds a reference of its own, as the deallocator
        // expects; the collector tracks it again once they are all valid.
        // `PyErr_SetRaisedException` takes the reference.
        unsafe {
            let spare = SPARE.take();
            let (exc, kept) = if spare.is_null() {
                let alloc = (*tp).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
                let exc = alloc(tp, 0);
                if exc.is_null() {
                    return; // MemoryError is set
                }
                (exc, ptr::null_mut())
            } else {
                let exc = ffi::PyObject_Init(spare, tp);
                let stop = exc.cast::<ffi::PyStopIterationObject>();
                // The one field `tp_clear` leaves (set by `raise ... from`, or by writing
                // `__cause__`). A C `char`: one byte.
                ptr::addr_of_mut!((*stop).suppress_context)
                    .cast::<u8>()
                    .write(0);
                (exc, std::mem::replace(&mut (*stop).args, ptr::null_mut()))
            };
            let args = arguments(kept, &value);
            if args.is_null() {
                // MemoryError is set. Only `args` is left to fill: the deallocator takes it as it
                // is (an untracked instance stays untracked).
                ffi::Py_DECREF(exc);
                return;
            }
            let stop = exc.cast::<ffi::PyStopIterationObject>();
            (*stop).args = args;
            (*stop).value = value.into_ptr();
            if !spare.is_null() {
                ffi::PyObject_GC_Track(exc.cast());
            }
            ffi::PyErr_SetRaisedException(exc);
        }
    }

    /// `(value,)`, in `kept` (the tuple a reused instance kept, null if none) when nothing else
    /// holds it, as `zip` reuses its result tuple; otherwise in a new one. Null if that cannot be
    /// made (MemoryError is set).
    ///
    /// # Safety
    /// Attached; `kept` is null or a one-item tuple whose reference the caller gives.
    unsafe fn arguments(kept: *mut ffi::PyObject, value: &Bound<'_, PyAny>) -> *mut ffi::PyObject {
        // SAFETY: as the caller guarantees. `kept` holds `None` (`dealloc` put it there), and
        // with one reference (ours) nothing can see it change; the collector may have stopped
        // tracking it while it held only `None`, and must track it again now that it holds an
        // object that may be in a cycle.
        unsafe {
            if !kept.is_null() && ffi::Py_REFCNT(kept) == 1 {
                let previous = ffi::PyTuple_GET_ITEM(kept, 0);
                ffi::PyTuple_SET_ITEM(kept, 0, value.clone().into_ptr());
                ffi::Py_DECREF(previous);
                if ffi::PyObject_GC_IsTracked(kept) == 0 {
                    ffi::PyObject_GC_Track(kept.cast());
                }
                return kept;
            }
            ffi::Py_XDECREF(kept);
            let args = ffi::PyTuple_New(1);
            if !args.is_null() {
                ffi::PyTuple_SET_ITEM(args, 0, value.clone().into_ptr());
            }
            args
        }
    }

    /// `__reduce__`: `BaseException.__reduce__`'s answer with `StopIteration` for the class, so
    /// that a copy or a pickle of one (caught from a `next()`) is a plain `StopIteration` with the
    /// same arguments and attributes (this class cannot be made from Python, nor found by name).
    ///
    /// # Safety
    /// Called by the interpreter, attached, with `exc` an instance of the subclass.
    unsafe extern "C" fn reduce(
        exc: *mut ffi::PyObject,
        _no_args: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject {
        // SAFETY: the interpreter calls a method only from an attached thread.
        let py = unsafe { Python::assume_attached() };
        let reduced = catch_unwind(AssertUnwindSafe(|| -> PyResult<Py<PyAny>> {
            // SAFETY: as the caller guarantees.
            let exc = unsafe { Borrowed::from_ptr(py, exc) };
            let reduced = py
                .get_type::<PyBaseException>()
                .getattr(intern!(py, "__reduce__"))?
                .call1((exc,))?;
            let mut parts: Vec<Bound<'_, PyAny>> = reduced.cast_into::<PyTuple>()?.iter().collect();
            if let Some(class) = parts.first_mut() {
                *class = py.get_type::<PyStopIteration>().into_any();
            }
            Ok(PyTuple::new(py, parts)?.into_any().unbind())
        }));
        match reduced.unwrap_or_else(|panic| Err(internal_error(panic))) {
            Ok(reduced) => reduced.into_ptr(),
            Err(err) => {
                err.restore(py);
                ptr::null_mut()
            }
        }
    }

    /// `tp_dealloc`: what `StopIteration`'s deallocator does (stop tracking, clear every field,
    /// free), except that the memory of one instance is kept for the next, with its arguments'
    /// tuple when nothing else holds that (emptied: it holds `None`).
    ///
    /// # Safety
    /// Called by the interpreter, attached, for an instance of the subclass whose last reference
    /// went.
    unsafe extern "C" fn dealloc(exc: *mut ffi::PyObject) {
        // SAFETY: as the caller guarantees. `tp_clear` (`StopIteration`'s) lets go of the value
        // and whatever was set on the way (traceback, context, notes...), and leaves those fields
        // null. Letting go of an object can run code, which may raise and drop another instance:
        // only `SPARE` is shared, and it is taken and kept atomically, last. A kept instance
        // keeps no reference to its type (`PyObject_Init` takes a new one). Neither the type nor
        // its base has a finaliser (`tp_finalize`), so the flag the collector keeps for one
        // (which survives untracking) never needs resetting on reuse.
        unsafe {
            let tp = ffi::Py_TYPE(exc);
            ffi::PyObject_GC_UnTrack(exc.cast());
            let stop = exc.cast::<ffi::PyStopIterationObject>();
            // The arguments' tuple is taken out before the clearing, which can run code (a
            // `__del__`) that takes hold of it (through `gc.get_objects()`): it is kept only if,
            // after that, it is still a one-item tuple that nothing else holds.
            let args = std::mem::replace(&mut (*stop).args, ptr::null_mut());
            if let Some(clear) = (*tp).tp_clear {
                clear(exc);
            }
            if !args.is_null() {
                if ffi::PyTuple_CheckExact(args) != 0
                    && ffi::PyTuple_GET_SIZE(args) == 1
                    && ffi::Py_REFCNT(args) == 1
                {
                    let value = ffi::PyTuple_GET_ITEM(args, 0);
                    ffi::PyTuple_SET_ITEM(args, 0, ffi::Py_NewRef(ffi::Py_None()));
                    (*stop).args = args;
                    ffi::Py_DECREF(value);
                } else {
                    ffi::Py_DECREF(args);
                }
            }
            if !SPARE.keep(exc) {
                ffi::Py_CLEAR(&mut (*stop).args);
                let free = (*tp).tp_free.unwrap_or(ffi::PyObject_GC_Del);
                free(exc.cast());
            }
            ffi::Py_DECREF(tp.cast());
        }
    }
}

mod usual {
    use pyo3::ffi;
    use pyo3::prelude::*;

    /// Nothing to make.
    #[cfg(not(all(
        Py_3_12,
        not(Py_3_14),
        not(any(PyPy, GraalPy, Py_GIL_DISABLED, Py_LIMITED_API))
    )))]
    pub fn init(_py: Python<'_>) -> PyResult<()> {
        Ok(())
    }

    /// Sets `StopIteration(value)` as the current exception, as CPython's
    /// `_PyGen_SetStopIterationValue` does: a tuple or an exception is wrapped first (given as
    /// they are, they would be taken for the arguments, or for the exception itself).
    pub fn raise(value: Bound<'_, PyAny>) {
        let py = value.py();
        // SAFETY: attached; `value` is a live object, the exception type a static one.
        unsafe {
            let stop = ffi::PyExc_StopIteration;
            if value.is_none() {
                ffi::PyErr_SetNone(stop);
            } else if ffi::PyTuple_Check(value.as_ptr()) != 0
                || ffi::PyExceptionInstance_Check(value.as_ptr()) != 0
            {
                match Bound::from_owned_ptr_or_err(
                    py,
                    ffi::PyObject_CallOneArg(stop, value.as_ptr()),
                ) {
                    Ok(error) => ffi::PyErr_SetObject(stop, error.as_ptr()),
                    Err(err) => err.restore(py),
                }
            } else {
                ffi::PyErr_SetObject(stop, value.as_ptr());
            }
        }
    }
}
