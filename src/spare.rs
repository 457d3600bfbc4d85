//! A free list of one: the memory of an object, kept from its deallocation for the next object of
//! its type, as CPython keeps its own short-lived objects' (floats, tuples, frames).
//!
//! Two objects are made and dropped per await of a protected `async def`: the `GuardedCall`, and
//! on Python 3.12 and 3.13 the `StopIteration` its result leaves in (`stop_iteration`). An await
//! ends before the next one begins, so one kept object of each is enough: the next is made with
//! no call to the allocator, and the last one dropped is not freed.
//!
//! CPython builds with a GIL only: every use is made attached, so under the GIL, and the atomic
//! makes that sound to Rust, not faster. A free-threaded build's collector finds objects by
//! walking the allocator's heaps, where a kept object would be neither free nor alive.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::ffi;

/// The memory of one deallocated object of a type (or none).
pub struct Spare(AtomicPtr<ffi::PyObject>);

impl Spare {
    pub const fn new() -> Self {
        Spare(AtomicPtr::new(ptr::null_mut()))
    }

    /// The kept memory, taken (null if there is none).
    pub fn take(&self) -> *mut ffi::PyObject {
        self.0.swap(ptr::null_mut(), Ordering::Acquire)
    }

    /// Keeps the memory of a deallocated object; false if some is kept already (then the caller
    /// frees it).
    pub fn keep(&self, object: *mut ffi::PyObject) -> bool {
        self.0
            .compare_exchange(
                ptr::null_mut(),
                object,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
    }
}
