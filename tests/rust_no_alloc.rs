//! The call path allocates nothing in Rust: not in the state machine, and not in the bindings
//! (driven here from Python code in an embedded interpreter).
//!
//! A counting global allocator sees every Rust allocation; CPython's own allocations (frames,
//! tuples, ints) go through its allocator, not this one, so they are not counted. It counts the
//! allocations of the thread that asked only: the test harness's own thread, which reports the
//! test as started while the test runs, allocates at a moment of its own (it did, in about one
//! run in ten, with the four allocations of formatting its line).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::Arc;

use fastbreaker::_core;
use fastbreaker_core::clock::ManualClock;
use fastbreaker_core::{Admission, Breaker, Config, MemoryStore, Outcome, TrialTimeout};
use pyo3::prelude::*;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised, without a destructor: reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The Rust allocations this thread makes while `work` runs.
fn allocations_during(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.with(|counting| counting.set(true));
    work();
    COUNTING.with(|counting| counting.set(false));
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

const CALLS: usize = 10_000;

const PYTHON: &str = r#"
import _core

def target(x):
    return x

def failing(x):
    raise ConnectionError(x)

breaker = _core.CircuitBreaker(failure_threshold=10**9)
protected = _core.Protected(breaker, target)
protected_failure = _core.Protected(breaker, failing)

# Rate thresholds: the window takes every success (a time window in batches, placed now and
# then; a count window slot by slot).
windowed = [
    _core.Protected(_core.CircuitBreaker(failure_rate_threshold=0.5, **options), target)
    for options in ({}, {"window_calls": 100}, {"window_seconds": 0.001})
]

def successes(n):
    for i in range(n):
        protected(i)
        breaker.call(target, i)
        for protected_windowed in windowed:
            protected_windowed(i)

def failures(n):
    for i in range(n):
        try:
            protected_failure(i)
        except ConnectionError:
            pass
"#;

#[test]
fn the_call_path_allocates_nothing_in_rust() {
    // The core alone (the in-memory store): admission and outcomes, success and failure.
    let clock = Arc::new(ManualClock::new());
    let config = Config::new(u32::MAX, 2, 1, 1_000, TrialTimeout::RecoveryTimeout).unwrap();
    let breaker = Breaker::new(config, MemoryStore::with_clock(Arc::clone(&clock)));
    let core = allocations_during(|| {
        for i in 0..CALLS {
            let Admission::Admitted(ticket, _) = breaker.acquire().unwrap() else {
                panic!("closed breaker rejected a call");
            };
            let outcome = if i % 2 == 0 {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            let _ = breaker.record(ticket, outcome).unwrap();
        }
    });
    assert_eq!(core, 0, "the state machine allocated");

    // The bindings, called from Python.
    pyo3::append_to_inittab!(_core);
    Python::attach(|py| {
        let code = CString::new(PYTHON).unwrap();
        let module = PyModule::from_code(py, &code, c"no_alloc.py", c"no_alloc").unwrap();
        let successes = module.getattr("successes").unwrap();
        let failures = module.getattr("failures").unwrap();
        successes.call1((100,)).unwrap(); // warm up (interned names, lazy imports)
        failures.call1((100,)).unwrap();
        let success_path = allocations_during(|| {
            successes.call1((CALLS,)).unwrap();
        });
        assert_eq!(
            success_path, 0,
            "the bindings allocated on the success path"
        );
        let failure_path = allocations_during(|| {
            failures.call1((CALLS,)).unwrap();
        });
        // A counted failure reads the wall clock for last_failure_time; nothing allocates.
        assert_eq!(
            failure_path, 0,
            "the bindings allocated on the failure path"
        );
    });
}
