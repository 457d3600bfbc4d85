//! What observers read: every live named breaker of the process (the health endpoint and the
//! metrics exporters show them all, not only the registry's), held weakly, and the switch of the
//! call counters.
//!
//! The list is a `Vec` of weak references in creation order, behind a lock that is held only to
//! push or copy references or to drop dead ones from the list; references are tested, and dead
//! ones dropped, outside it (dropping one may free objects, and freeing objects may run Python).

use std::collections::HashSet;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyWeakrefMethods, PyWeakrefReference};

use crate::breaker::PyCircuitBreaker;
use crate::registry;

struct Live {
    breakers: Vec<Py<PyWeakrefReference>>,
    /// Live entries counted at the last pruning: the list is pruned when it has doubled since.
    after_prune: usize,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    breakers: Vec::new(),
    after_prune: 0,
});

/// Adds a named breaker to those observers see.
pub(crate) fn observe(breaker: &Bound<'_, PyCircuitBreaker>) -> PyResult<()> {
    let reference = PyWeakrefReference::new(breaker.as_any())?.unbind();
    let due = {
        let mut live = LIVE.lock();
        live.breakers.push(reference);
        live.breakers.len() >= 2 * live.after_prune + 64
    };
    if due {
        prune(breaker.py());
    }
    Ok(())
}

/// The live breakers, in creation order, with the dead ones dropped from the list.
fn live_breakers(py: Python<'_>) -> Vec<Bound<'_, PyCircuitBreaker>> {
    let references: Vec<Py<PyWeakrefReference>> = {
        let live = LIVE.lock();
        live.breakers.iter().map(|r| r.clone_ref(py)).collect()
    };
    let mut breakers = Vec::with_capacity(references.len());
    let mut dead = HashSet::new();
    for reference in &references {
        match reference.bind(py).upgrade_as::<PyCircuitBreaker>() {
            Ok(Some(breaker)) => breakers.push(breaker),
            _ => {
                dead.insert(reference.as_ptr());
            }
        }
    }
    if !dead.is_empty() {
        let removed: Vec<Py<PyWeakrefReference>> = {
            let mut live = LIVE.lock();
            let (gone, kept) = std::mem::take(&mut live.breakers)
                .into_iter()
                .partition(|r| dead.contains(&r.as_ptr()));
            live.breakers = kept;
            live.after_prune = live.breakers.len();
            gone
        };
        drop(removed);
    }
    drop(references);
    breakers
}

fn prune(py: Python<'_>) {
    drop(live_breakers(py));
}

/// Every live named breaker: the registry's under their own names first (sorted), then the
/// others in the order they were made. A name met again is told apart as `name#2`, `name#3`...
#[pyfunction]
pub fn all_circuit_breakers(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let all = PyDict::new(py);
    let mut seen = HashSet::new();
    let add = |name: &str, breaker: &Bound<'_, PyCircuitBreaker>| -> PyResult<()> {
        let mut key = name.to_owned();
        let mut n = 1;
        while all.contains(&key)? {
            n += 1;
            key = format!("{name}#{n}");
        }
        all.set_item(key, breaker)
    };
    for (name, breaker) in registry::entries(py) {
        let breaker = breaker.into_bound(py);
        seen.insert(breaker.as_ptr());
        add(&name, &breaker)?;
    }
    for breaker in live_breakers(py) {
        if seen.insert(breaker.as_ptr()) {
            add(&breaker.get().name_str, &breaker)?;
        }
    }
    Ok(all)
}

/// Turns the call counters of every breaker on or off: for `benchmarks/overhead.py`, which
/// measures what counting costs against not counting, in one run. Counters stay on otherwise.
#[pyfunction]
pub fn _set_call_counting(enabled: bool) {
    fastbreaker_core::counters::set_counting(enabled);
}
