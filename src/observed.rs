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
    /// Each breaker's number (in the order they were made: stable for its lifetime, it tells
    /// apart breakers that share a name) and a weak reference to it.
    breakers: Vec<(u64, Py<PyWeakrefReference>)>,
    /// The number of the next breaker.
    next: u64,
    /// Live entries counted at the last pruning: the list is pruned when it has doubled since.
    after_prune: usize,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    breakers: Vec::new(),
    next: 1,
    after_prune: 0,
});

/// Adds a named breaker to those observers see.
pub(crate) fn observe(breaker: &Bound<'_, PyCircuitBreaker>) -> PyResult<()> {
    let reference = PyWeakrefReference::new(breaker.as_any())?.unbind();
    let due = {
        let mut live = LIVE.lock();
        let number = live.next;
        live.next += 1;
        live.breakers.push((number, reference));
        live.breakers.len() >= 2 * live.after_prune + 64
    };
    if due {
        prune(breaker.py());
    }
    Ok(())
}

/// The live breakers with their numbers, in creation order, with the dead ones dropped from the
/// list.
fn live_breakers(py: Python<'_>) -> Vec<(u64, Bound<'_, PyCircuitBreaker>)> {
    let references: Vec<(u64, Py<PyWeakrefReference>)> = {
        let live = LIVE.lock();
        live.breakers
            .iter()
            .map(|(number, r)| (*number, r.clone_ref(py)))
            .collect()
    };
    let mut breakers = Vec::with_capacity(references.len());
    let mut dead = HashSet::new();
    for (number, reference) in &references {
        match reference.bind(py).upgrade_as::<PyCircuitBreaker>() {
            Ok(Some(breaker)) => breakers.push((*number, breaker)),
            _ => {
                dead.insert(*number);
            }
        }
    }
    let removed: Vec<(u64, Py<PyWeakrefReference>)> = {
        let mut live = LIVE.lock();
        let (gone, kept) = std::mem::take(&mut live.breakers)
            .into_iter()
            .partition(|(number, _)| dead.contains(number));
        live.breakers = kept;
        // The next pruning is due when the list has doubled from what is alive now.
        live.after_prune = live.breakers.len();
        gone
    };
    drop(removed); // outside the lock
    drop(references);
    breakers
}

fn prune(py: Python<'_>) {
    drop(live_breakers(py));
}

/// Every live named breaker: the registry's under their own names first (sorted), then the
/// others in the order they were made. A name already listed is told apart by the breaker's own
/// number, `name#17`, which stays the same for as long as that breaker lives (a metrics series
/// keeps following the same breaker).
#[pyfunction]
pub fn all_circuit_breakers(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let all = PyDict::new(py);
    let mut seen = HashSet::new();
    for (name, breaker) in registry::entries(py) {
        let breaker = breaker.into_bound(py);
        seen.insert(breaker.as_ptr());
        all.set_item(name, breaker)?;
    }
    for (number, breaker) in live_breakers(py) {
        if !seen.insert(breaker.as_ptr()) {
            continue; // the registry's, listed already
        }
        let name = &breaker.get().name_str;
        let mut key = name.clone();
        if all.contains(&key)? {
            key = format!("{name}#{number}");
            while all.contains(&key)? {
                key.push('#'); // a breaker named like that too: rare enough to be ugly
            }
        }
        all.set_item(key, &breaker)?;
    }
    Ok(all)
}

/// Turns the call counters of every breaker on or off: for `benchmarks/overhead.py`, which
/// measures what counting costs against not counting, in one run. Counters stay on otherwise.
#[pyfunction]
pub fn _set_call_counting(enabled: bool) {
    fastbreaker_core::counters::set_counting(enabled);
}
