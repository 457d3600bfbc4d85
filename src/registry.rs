//! The process-wide registry of named breakers (`get_circuit_breaker` and its siblings).

use std::collections::HashMap;
use std::sync::LazyLock;

use fastbreaker_core::registry::{Entry, Registry};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::breaker::PyCircuitBreaker;
use crate::options::{
    Arg, BreakerName, ExpectedExceptions, FailureThreshold, HalfOpenMaxCalls, OptionArgs, Options,
    PolicyArgs, RecoveryTimeout, StoreChoice, SuccessThreshold, Threshold, TrialTimeoutArg,
};
use crate::python;

static REGISTRY: LazyLock<Registry<Py<PyCircuitBreaker>>> = LazyLock::new(Registry::new);

/// A registry key: a non-empty `str` (`None` is not a name here).
fn registry_name(name: &Bound<'_, PyAny>) -> PyResult<String> {
    if name.is_none() {
        return Err(PyTypeError::new_err("name must be a str, got None"));
    }
    Ok(name.extract::<BreakerName>()?.0)
}

fn registered(py: Python<'_>, name: &str) -> Option<Py<PyCircuitBreaker>> {
    REGISTRY.get(name, |b| b.clone_ref(py))
}

/// The breaker registered under `name`, created with the given options if there is none yet.
#[pyfunction]
#[pyo3(signature = (
    name,
    *,
    failure_threshold = Arg::Missing,
    recovery_timeout = Arg::Missing,
    success_threshold = Arg::Missing,
    expected_exceptions = Arg::Missing,
    half_open_max_calls = Arg::Missing,
    trial_timeout = Arg::Missing,
    store = Arg::Missing,
    **policies,
))]
#[allow(clippy::too_many_arguments)] // the documented signature
pub fn get_circuit_breaker(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    failure_threshold: Arg<Option<Threshold<FailureThreshold>>>,
    recovery_timeout: Arg<RecoveryTimeout>,
    success_threshold: Arg<Threshold<SuccessThreshold>>,
    expected_exceptions: Arg<ExpectedExceptions>,
    half_open_max_calls: Arg<Threshold<HalfOpenMaxCalls>>,
    trial_timeout: Arg<TrialTimeoutArg>,
    store: Arg<StoreChoice>,
    policies: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyCircuitBreaker>> {
    let name = registry_name(name)?;
    let args = OptionArgs {
        failure_threshold,
        recovery_timeout,
        success_threshold,
        expected_exceptions,
        half_open_max_calls,
        trial_timeout,
        store,
        policies: PolicyArgs::extract("get_circuit_breaker", policies)?,
    };
    let any_given = args.any_given();
    if !any_given {
        if let Some(existing) = registered(py, &name) {
            return Ok(existing); // the hot path: a plain lookup
        }
    }
    let wanted = Options::new(py, args)?;
    let existing = match registered(py, &name) {
        Some(existing) => existing,
        None => {
            let fresh = PyCircuitBreaker::create(py, &wanted, Some(name.clone()))?.unbind();
            match REGISTRY.insert_or_get(&name, fresh, |b| b.clone_ref(py)) {
                Entry::Created(created) => return Ok(created),
                // Another thread registered the name first: keep its breaker.
                Entry::Existing { existing, unused } => {
                    drop(unused);
                    existing
                }
            }
        }
    };
    if any_given {
        let mut differences = existing.get().options(py).differences(py, &wanted)?;
        if let Some(difference) = store_difference(py, existing.get(), &wanted) {
            differences.push(difference);
        }
        if !differences.is_empty() {
            let message = format!(
                "circuit breaker '{name}' already exists; ignoring different options: {}",
                differences.join(", ")
            );
            python::log_message(py, python::WARNING, &message)?;
        }
    }
    Ok(existing)
}

/// `store=WANTED (registered: HAVE)` when `store=` was given and names another store.
fn store_difference(
    py: Python<'_>,
    existing: &PyCircuitBreaker,
    wanted: &Options,
) -> Option<String> {
    if !wanted.store_given {
        return None;
    }
    let want = wanted.store.redis(py);
    let show = |store: Option<&Py<crate::store::PyRedisStore>>| {
        store.map_or_else(|| "memory".to_owned(), |s| s.get().store.url().to_owned())
    };
    let same = match (&existing.redis, &want) {
        (None, None) => true,
        (Some(have), Some(want)) => have.get().store.same(&want.get().store),
        _ => false,
    };
    (!same).then(|| {
        format!(
            "store={} (registered: {})",
            show(want.as_ref()),
            show(existing.redis.as_ref())
        )
    })
}

/// The status of the breaker registered under `name`, or None.
#[pyfunction]
pub fn get_circuit_breaker_status<'py>(
    py: Python<'py>,
    name: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    registered(py, &registry_name(name)?)
        .map(|b| b.get().get_status(py))
        .transpose()
}

/// Closes the breaker registered under `name`; returns whether there was one.
#[pyfunction]
pub fn reset_circuit_breaker(py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(match registered(py, &registry_name(name)?) {
        Some(b) => {
            b.get().reset(py)?;
            true
        }
        None => false,
    })
}

/// The registered breakers, sorted by name.
pub(crate) fn entries(py: Python<'_>) -> Vec<(String, Py<PyCircuitBreaker>)> {
    REGISTRY.entries(|b| b.clone_ref(py))
}

/// The registry's entries now, by name (for the pytest plugin's `breaker_registry` fixture).
#[pyfunction]
pub fn _registry_snapshot(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let all = PyDict::new(py);
    for (name, breaker) in entries(py) {
        all.set_item(name, breaker)?;
    }
    Ok(all)
}

/// Makes the registry hold exactly `entries` (name -> breaker), dropping what it held besides
/// (for the pytest plugin's `breaker_registry` fixture).
#[pyfunction]
pub fn _registry_restore(
    py: Python<'_>,
    entries: HashMap<String, Py<PyCircuitBreaker>>,
) -> PyResult<()> {
    for name in entries.keys() {
        registry_name(PyString::new(py, name).as_any())?;
    }
    let before = REGISTRY.replace(entries.into_iter().collect());
    drop(before); // outside the lock: freeing a breaker may run Python
    Ok(())
}

/// Every registered breaker's status, by name.
#[pyfunction]
pub fn get_all_circuit_breaker_statuses(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let all = PyDict::new(py);
    for (name, breaker) in entries(py) {
        all.set_item(name, breaker.get().get_status(py)?)?;
    }
    Ok(all)
}
