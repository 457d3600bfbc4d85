//! A process-wide map of named breakers, in plain Rust.
//!
//! The values are handles (for the bindings, Python objects) that the caller knows how to copy.
//! The map's lock is held only to look up, insert or copy handles: never to create or drop a value,
//! since either may run foreign code (a Python allocation can run the garbage collector, and a
//! finaliser could come back into the registry).

use std::collections::HashMap;

use parking_lot::Mutex;

#[derive(Debug)]
pub struct Registry<T> {
    entries: Mutex<HashMap<String, T>>,
}

/// What [`Registry::insert_or_get`] found.
#[derive(Debug)]
pub enum Entry<T> {
    /// The name was free: the value given is now registered (a copy of it is returned).
    Created(T),
    /// Another value was registered under the name first. `unused` is the value that was given,
    /// handed back so that the caller drops it outside the lock.
    Existing { existing: T, unused: T },
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Registry<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the value registered under `name`. `copy` must not run foreign code.
    pub fn get(&self, name: &str, copy: impl FnOnce(&T) -> T) -> Option<T> {
        self.entries.lock().get(name).map(copy)
    }

    /// Registers `value` under `name` unless the name is taken. `copy` must not run foreign code.
    pub fn insert_or_get(&self, name: &str, value: T, copy: impl Fn(&T) -> T) -> Entry<T> {
        let mut entries = self.entries.lock();
        match entries.get(name) {
            Some(existing) => Entry::Existing {
                existing: copy(existing),
                unused: value,
            },
            None => {
                let created = copy(&value);
                entries.insert(name.to_owned(), value);
                Entry::Created(created)
            }
        }
    }

    /// Copies of every entry, sorted by name, taken at one instant.
    pub fn entries(&self, copy: impl Fn(&T) -> T) -> Vec<(String, T)> {
        let mut all: Vec<(String, T)> = {
            let entries = self.entries.lock();
            entries
                .iter()
                .map(|(name, value)| (name.clone(), copy(value)))
                .collect()
        };
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Makes the registry hold exactly `entries` (a later one wins over an earlier one of the
    /// same name). Returns what it held before, for the caller to drop outside the lock.
    pub fn replace(&self, entries: Vec<(String, T)>) -> HashMap<String, T> {
        let fresh: HashMap<String, T> = entries.into_iter().collect();
        std::mem::replace(&mut *self.entries.lock(), fresh)
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_first_value_under_a_name_wins() {
        let registry: Registry<Arc<u32>> = Registry::new();
        assert!(registry.is_empty());
        assert!(registry.get("a", Arc::clone).is_none());
        let first = match registry.insert_or_get("a", Arc::new(1), Arc::clone) {
            Entry::Created(v) => v,
            other => panic!("{other:?}"),
        };
        match registry.insert_or_get("a", Arc::new(2), Arc::clone) {
            Entry::Existing { existing, unused } => {
                assert!(Arc::ptr_eq(&existing, &first));
                assert_eq!(*unused, 2);
            }
            other => panic!("{other:?}"),
        }
        assert!(Arc::ptr_eq(&registry.get("a", Arc::clone).unwrap(), &first));
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn entries_are_sorted_by_name() {
        let registry: Registry<u32> = Registry::new();
        for (name, value) in [("b", 2), ("c", 3), ("a", 1)] {
            let _ = registry.insert_or_get(name, value, |v| *v);
        }
        let names: Vec<_> = registry
            .entries(|v| *v)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn replace_swaps_every_entry_and_hands_back_the_old_ones() {
        let registry: Registry<u32> = Registry::new();
        for (name, value) in [("a", 1), ("b", 2)] {
            let _ = registry.insert_or_get(name, value, |v| *v);
        }
        let old = registry.replace(vec![("b".into(), 20), ("c".into(), 30)]);
        assert_eq!(old.len(), 2);
        assert_eq!((old["a"], old["b"]), (1, 2));
        let now: Vec<_> = registry.entries(|v| *v);
        assert_eq!(now, [("b".to_owned(), 20), ("c".to_owned(), 30)]);
    }

    #[test]
    fn concurrent_inserts_agree_on_one_value() {
        let registry: Arc<Registry<Arc<usize>>> = Arc::new(Registry::new());
        let winners: Vec<Arc<usize>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let registry = Arc::clone(&registry);
                    scope.spawn(move || {
                        match registry.insert_or_get("x", Arc::new(i), Arc::clone) {
                            Entry::Created(v) | Entry::Existing { existing: v, .. } => v,
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(winners.iter().all(|w| Arc::ptr_eq(w, &winners[0])));
    }
}
