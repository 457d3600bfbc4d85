//! Where breakers keep their state, from Python: `RedisStore` (a handle on one Redis shared by a
//! fleet), the process's default store, and the `store=` argument every constructor takes.
//!
//! The breaker itself does not know which store it has: it talks to the core's [`AnyStore`]
//! through the `try_*` methods, which answer without waiting, and lets other threads run (the
//! interpreter detached) only for the operations a store says may wait.

use std::time::Duration;

use fastbreaker_core::config::Config;
use fastbreaker_core::{AnyStore, RedisSettings, RedisStore, TlsFiles, Unavailable};
use parking_lot::Mutex;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use crate::options::{type_name, Arg};

/// A handle on one Redis server that breakers share state through. See the Python documentation
/// of `fastbreaker.RedisStore`.
#[pyclass(frozen, module = "fastbreaker", name = "RedisStore")]
pub struct PyRedisStore {
    pub(crate) store: RedisStore,
    timeout: f64,
    refresh_interval: f64,
    key_ttl: f64,
}

/// A number of seconds: an `int` or a `float` (not a `bool`), finite, at least `minimum` (or more
/// than zero when `minimum` is zero) and at most `maximum`.
fn seconds(
    value: &Bound<'_, PyAny>,
    argument: &str,
    minimum: f64,
    maximum: f64,
) -> PyResult<Duration> {
    if value.is_instance_of::<PyBool>()
        || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>())
    {
        return Err(PyTypeError::new_err(format!(
            "{argument} must be an int or a float, got {}",
            type_name(value)
        )));
    }
    let number: f64 = value.extract()?;
    let ok = number.is_finite()
        && number <= maximum
        && if minimum > 0.0 {
            number >= minimum
        } else {
            number > 0.0
        };
    if !ok {
        let bound = if minimum > 0.0 {
            format!("from {minimum} to {maximum}")
        } else {
            format!("greater than 0 and at most {maximum}")
        };
        return Err(PyValueError::new_err(format!(
            "{argument} must be a number of seconds {bound}, got {number}"
        )));
    }
    Ok(Duration::from_secs_f64(number))
}

/// The contents of a PEM file named by a `str` or `os.PathLike` (`None`: not given).
fn pem(path: Option<&Bound<'_, PyAny>>, argument: &str) -> PyResult<Option<Vec<u8>>> {
    let Some(path) = path else { return Ok(None) };
    let fspath = path.py().import("os")?.getattr("fspath")?;
    let path: String = match fspath.call1((path,)) {
        Ok(p) if p.is_instance_of::<PyString>() => p.extract()?,
        _ => {
            return Err(PyTypeError::new_err(format!(
                "{argument} must be a path (a str or an os.PathLike of one), got {}",
                type_name(path)
            )))
        }
    };
    std::fs::read(&path)
        .map(Some)
        .map_err(|e| PyValueError::new_err(format!("{argument}: cannot read '{path}': {e}")))
}

fn text(value: &Bound<'_, PyAny>, argument: &str) -> PyResult<String> {
    match value.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.to_owned()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{argument} must be a str, got {}",
            type_name(value)
        ))),
    }
}

/// Any object given as an argument (with [`Arg`], an explicit `None` is checked, not defaulted).
pub struct Object<'py>(Bound<'py, PyAny>);

impl<'a, 'py> FromPyObject<'a, 'py> for Object<'py> {
    type Error = PyErr;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Object(value.to_owned()))
    }
}

impl PyRedisStore {
    fn open(url: &str, settings: RedisSettings) -> PyResult<Self> {
        let (timeout, refresh_interval, key_ttl) = (
            settings.timeout.as_secs_f64(),
            settings.refresh_interval.as_secs_f64(),
            settings.key_ttl.as_secs_f64(),
        );
        let store = RedisStore::new(url, settings).map_err(|e| PyValueError::new_err(e.message))?;
        Ok(PyRedisStore {
            store,
            timeout,
            refresh_interval,
            key_ttl,
        })
    }
}

#[pymethods]
impl PyRedisStore {
    #[new]
    // `Arg`: an explicit `None` is checked (and refused), not taken for the default.
    #[pyo3(signature = (
        url,
        *,
        namespace = Arg::Missing,
        timeout = Arg::Missing,
        store_unavailable = Arg::Missing,
        refresh_interval = Arg::Missing,
        key_ttl = Arg::Missing,
        ssl_ca_certs = None,
        ssl_certfile = None,
        ssl_keyfile = None,
    ))]
    #[allow(clippy::too_many_arguments)] // the documented signature
    fn new(
        url: &Bound<'_, PyAny>,
        namespace: Arg<Object<'_>>,
        timeout: Arg<Object<'_>>,
        store_unavailable: Arg<Object<'_>>,
        refresh_interval: Arg<Object<'_>>,
        key_ttl: Arg<Object<'_>>,
        ssl_ca_certs: Option<&Bound<'_, PyAny>>,
        ssl_certfile: Option<&Bound<'_, PyAny>>,
        ssl_keyfile: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let url = text(url, "url")?;
        let mut settings = RedisSettings::default();
        if let Arg::Given(Object(namespace)) = namespace {
            settings.namespace = text(&namespace, "namespace")?;
        }
        if let Arg::Given(Object(timeout)) = timeout {
            settings.timeout = seconds(&timeout, "timeout", 0.0, 60.0)?;
        }
        if let Arg::Given(Object(mode)) = store_unavailable {
            let word = text(&mode, "store_unavailable")?;
            settings.unavailable = Unavailable::parse(&word).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "store_unavailable must be 'local', 'closed' or 'open', got {word:?}"
                ))
            })?;
        }
        if let Arg::Given(Object(interval)) = refresh_interval {
            settings.refresh_interval = seconds(&interval, "refresh_interval", 0.0, 86_400.0)?;
        }
        if let Arg::Given(Object(ttl)) = key_ttl {
            settings.key_ttl = seconds(&ttl, "key_ttl", 1.0, 315_360_000.0)?;
        }
        settings.tls = TlsFiles {
            ca_certs: pem(ssl_ca_certs, "ssl_ca_certs")?,
            client_cert: pem(ssl_certfile, "ssl_certfile")?,
            client_key: pem(ssl_keyfile, "ssl_keyfile")?,
        };
        Self::open(&url, settings)
    }

    /// The server's URL, without its password.
    #[getter]
    fn url(&self) -> &str {
        self.store.url()
    }

    #[getter]
    fn namespace(&self) -> &str {
        &self.store.settings().namespace
    }

    /// Seconds any call waits on one round trip to the server, at most.
    #[getter]
    fn timeout(&self) -> f64 {
        self.timeout
    }

    /// What breakers do while the server cannot be reached: `'local'`, `'closed'` or `'open'`.
    #[getter]
    fn store_unavailable(&self) -> &'static str {
        self.store.settings().unavailable.as_str()
    }

    #[getter]
    fn refresh_interval(&self) -> f64 {
        self.refresh_interval
    }

    #[getter]
    fn key_ttl(&self) -> f64 {
        self.key_ttl
    }

    /// Whether the server answered the last time it was asked.
    #[getter]
    fn reachable(&self) -> bool {
        self.store.is_reachable()
    }

    fn __repr__(&self) -> String {
        format!(
            "RedisStore('{}', namespace='{}', timeout={}, store_unavailable='{}')",
            self.store.url(),
            self.store.settings().namespace,
            self.timeout,
            self.store.settings().unavailable.as_str()
        )
    }
}

/// The `store=` argument: a `RedisStore`, `"memory"`, or `None` (the process default).
#[derive(Default)]
pub enum StoreChoice {
    #[default]
    Default,
    Memory,
    Redis(Py<PyRedisStore>),
}

impl StoreChoice {
    /// The Redis store this choice names (the process default for `Default`); `None`: memory.
    pub(crate) fn redis(&self, py: Python<'_>) -> Option<Py<PyRedisStore>> {
        match self {
            StoreChoice::Memory => None,
            StoreChoice::Default => default_store(py),
            StoreChoice::Redis(store) => Some(store.clone_ref(py)),
        }
    }

    pub fn clone_ref(&self, py: Python<'_>) -> Self {
        match self {
            StoreChoice::Default => StoreChoice::Default,
            StoreChoice::Memory => StoreChoice::Memory,
            StoreChoice::Redis(store) => StoreChoice::Redis(store.clone_ref(py)),
        }
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for StoreChoice {
    type Error = PyErr;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if value.is_none() {
            return Ok(StoreChoice::Default);
        }
        if let Ok(store) = value.cast::<PyRedisStore>() {
            return Ok(StoreChoice::Redis(store.to_owned().unbind()));
        }
        if let Ok(word) = value.cast::<PyString>() {
            if word.to_str()? == "memory" {
                return Ok(StoreChoice::Memory);
            }
            return Err(PyValueError::new_err(format!(
                "store must be a RedisStore, 'memory' or None, got {}: to share state through \
                 Redis, pass store=RedisStore(url)",
                word.repr()?
            )));
        }
        Err(PyTypeError::new_err(format!(
            "store must be a RedisStore, 'memory' or None, got {}",
            type_name(&value)
        )))
    }
}

/// The store breakers get when they are not given one (memory, unless the service set one).
static DEFAULT_STORE: Mutex<Option<Py<PyRedisStore>>> = Mutex::new(None);

pub(crate) fn default_store(py: Python<'_>) -> Option<Py<PyRedisStore>> {
    DEFAULT_STORE
        .lock()
        .as_ref()
        .map(|store| store.clone_ref(py))
}

/// What a breaker named `name` (`None`: auto-named) keeps its state in, and the `RedisStore` it is
/// (for statuses and comparisons).
pub(crate) fn resolve(
    py: Python<'_>,
    choice: &StoreChoice,
    name: Option<&str>,
    config: Config,
) -> PyResult<(AnyStore, Option<Py<PyRedisStore>>)> {
    let explicit = matches!(choice, StoreChoice::Redis(_));
    let Some(name) = name else {
        // An auto-named breaker has no name another process could share.
        if explicit {
            return Err(PyValueError::new_err(
                "store: a shared breaker needs a stable name (every process must agree on it); \
                 pass name=...",
            ));
        }
        return Ok((AnyStore::memory(), None));
    };
    let Some(store) = choice.redis(py) else {
        return Ok((AnyStore::memory(), None));
    };
    if config.trial_timeout.is_none() {
        if explicit {
            return Err(unlimited_trials());
        }
        // The default store: a service made fleet-wide by configuration must not fail where it
        // ran before. This breaker stays in the process, and says why.
        let message = format!(
            "circuit breaker '{name}' stays in this process, not in the default store {}: a \
             shared breaker needs a finite trial_timeout (with recovery_timeout=0 its default is \
             unlimited)",
            store.get().store.url()
        );
        crate::python::log_message(py, crate::python::WARNING, &message)?;
        return Ok((AnyStore::memory(), None));
    }
    // Checked before the store registers anything for this breaker.
    if let Err(refusal) = fastbreaker_core::store::redis::check_config(&config) {
        if explicit {
            return Err(PyValueError::new_err(refusal));
        }
        // As above: the default store never makes a breaker fail where it ran before.
        let message = format!(
            "circuit breaker '{name}' stays in this process, not in the default store {}: {refusal}",
            store.get().store.url()
        );
        crate::python::log_message(py, crate::python::WARNING, &message)?;
        return Ok((AnyStore::memory(), None));
    }
    let shared = AnyStore::Redis(store.get().store.breaker(name, config));
    Ok((shared, Some(store)))
}

fn unlimited_trials() -> PyErr {
    PyValueError::new_err(
        "trial_timeout: a breaker shared through Redis needs a finite trial_timeout (with \
         recovery_timeout=0 its default is unlimited): a process of the fleet that dies during a \
         trial would otherwise hold its slot until the keys expire",
    )
}

/// Sets the store that breakers created from now on use when they are not given one: a
/// `RedisStore`, a Redis URL (made into one with the default settings), or `None` (memory).
/// Breakers that exist already keep theirs.
#[pyfunction]
pub fn set_default_store(py: Python<'_>, store: &Bound<'_, PyAny>) -> PyResult<()> {
    let store = if store.is_none() {
        None
    } else if let Ok(store) = store.cast::<PyRedisStore>() {
        Some(store.clone().unbind())
    } else if let Ok(url) = store.cast::<PyString>() {
        let url = url.to_str()?;
        Some(Py::new(
            py,
            PyRedisStore::open(url, RedisSettings::default())?,
        )?)
    } else {
        return Err(PyTypeError::new_err(format!(
            "store must be a RedisStore, a Redis URL or None, got {}",
            type_name(store)
        )));
    };
    let previous = std::mem::replace(&mut *DEFAULT_STORE.lock(), store);
    drop(previous); // outside the lock
    Ok(())
}

/// The store breakers get when they are not given one: a `RedisStore`, or `None` for memory.
#[pyfunction]
pub fn get_default_store(py: Python<'_>) -> Option<Py<PyRedisStore>> {
    default_store(py)
}

/// In a child process after `fork()`: every store forgets the parent's connections and thread.
#[pyfunction]
pub fn _after_fork() {
    fastbreaker_core::store::redis::after_fork_all();
}
