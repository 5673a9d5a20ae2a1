//! The informer's "known objects": only `namespace/name → resourceVersion` of what storage
//! holds (or will hold once the queue is written), never the objects themselves (the
//! original's `ResourceVersionStorage`).
//!
//! It is seeded from the storage layer's resource versions when a resource synchro starts, so
//! that after a restart a re-list rewrites only objects that changed and deletes those that
//! disappeared while the manager was down.

use std::collections::HashMap;

use crate::queue::Action;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The resource version as a number; 0 when it is not a decimal number (then every new
    /// version counts as newer).
    rv: u64,
    /// The list generation that last saw the key.
    epoch: u32,
}

/// `namespace/name → resourceVersion` of one resource of one cluster.
#[derive(Debug, Default)]
pub struct KnownObjects {
    map: HashMap<Box<str>, Entry>,
    epoch: u32,
}

/// A resource version as a number (0 when it is not one).
fn rv_number(rv: &str) -> u64 {
    rv.parse().unwrap_or(0)
}

impl KnownObjects {
    /// The store seeded with stored versions (`ClusterResourceVersions::resources`).
    pub fn from_versions(versions: HashMap<String, String>) -> Self {
        let map = versions
            .into_iter()
            .map(|(k, rv)| {
                (
                    k.into_boxed_str(),
                    Entry {
                        rv: rv_number(&rv),
                        epoch: 0,
                    },
                )
            })
            .collect();
        Self { map, epoch: 0 }
    }

    /// How many objects are known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no object is known.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Starts a (re-)list: keys not observed until [`end_list`](Self::end_list) are gone.
    pub fn begin_list(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// Records that the member has `key` at `rv` and says what storage must do: `Added` for an
    /// unknown key, `Updated` for a newer version, `None` when the stored version is the same
    /// or newer (compared as numbers).
    pub fn observe(&mut self, key: &str, rv: &str) -> Option<Action> {
        let new_rv = rv_number(rv);
        match self.map.get_mut(key) {
            Some(entry) => {
                entry.epoch = self.epoch;
                if new_rv != 0 && entry.rv != 0 && new_rv <= entry.rv {
                    return None;
                }
                entry.rv = new_rv;
                Some(Action::Updated)
            }
            None => {
                self.map.insert(
                    key.into(),
                    Entry {
                        rv: new_rv,
                        epoch: self.epoch,
                    },
                );
                Some(Action::Added)
            }
        }
    }

    /// Forgets `key` (the object was deleted); whether it was known.
    pub fn remove(&mut self, key: &str) -> bool {
        self.map.remove(key).is_some()
    }

    /// Ends a list: forgets and returns the keys the list did not contain.
    pub fn end_list(&mut self) -> Vec<Box<str>> {
        let epoch = self.epoch;
        let gone: Vec<Box<str>> = self
            .map
            .iter()
            .filter(|(_, e)| e.epoch != epoch)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &gone {
            self.map.remove(key);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relist_decisions_compare_versions_numerically() {
        let mut known = KnownObjects::from_versions(HashMap::from([
            ("ns/same".into(), "100".into()),
            ("ns/older-in-store".into(), "9".into()),
            ("ns/newer-in-store".into(), "1000".into()),
            ("ns/gone".into(), "5".into()),
            ("odd".into(), "abc".into()),
        ]));
        known.begin_list();
        assert_eq!(
            known.observe("ns/same", "100"),
            None,
            "unchanged: no rewrite"
        );
        // 10 > 9 numerically although "10" < "9" as strings.
        assert_eq!(
            known.observe("ns/older-in-store", "10"),
            Some(Action::Updated)
        );
        assert_eq!(known.observe("ns/newer-in-store", "999"), None);
        assert_eq!(known.observe("ns/new", "7"), Some(Action::Added));
        assert_eq!(
            known.observe("odd", "abd"),
            Some(Action::Updated),
            "non-numeric versions always count as changed"
        );
        let mut gone = known.end_list();
        gone.sort();
        assert_eq!(gone, vec![Box::<str>::from("ns/gone")]);
        assert_eq!(known.len(), 5);

        // The next list deletes whatever it does not see again.
        known.begin_list();
        assert_eq!(known.observe("ns/same", "101"), Some(Action::Updated));
        assert_eq!(known.end_list().len(), 4);
        assert_eq!(known.len(), 1);
        assert!(known.remove("ns/same"));
        assert!(!known.remove("ns/same"));
        assert!(known.is_empty());
    }
}
