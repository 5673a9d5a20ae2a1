//! The controllers a real control plane runs that writes depend on: the garbage collector
//! (dependents of a deleted owner) and the namespace controller (contents of a terminating
//! namespace, then the namespace itself).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::state::State;

#[derive(Deserialize)]
struct Owned {
    #[serde(default)]
    metadata: OwnedMeta,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OwnedMeta {
    #[serde(default)]
    owner_references: Vec<OwnerRef>,
}

#[derive(Deserialize)]
struct OwnerRef {
    #[serde(default)]
    uid: String,
}

/// Deletes, in the background, the objects owned by `uid` (in `namespace`, or anywhere for a
/// cluster-scoped owner); their own dependents follow in turn.
pub(crate) fn spawn_garbage_collection(state: &Arc<State>, uid: String, namespace: Option<String>) {
    let state = state.clone();
    tokio::spawn(async move {
        let prefix = namespace.map(|ns| format!("{ns}/")).unwrap_or_default();
        let catalog = state.catalog();
        for def in catalog.resources() {
            if !prefix.is_empty() && !def.namespaced {
                continue;
            }
            for (key, stored) in state.store.objects(&def.id, &prefix) {
                let Ok(owned) = serde_json::from_slice::<Owned>(&stored.raw) else {
                    continue;
                };
                if owned.metadata.owner_references.iter().any(|o| o.uid == uid) {
                    crate::write::delete_for_system(&state, def, &key);
                }
            }
            tokio::task::yield_now().await;
        }
    });
}

/// Empties a terminating namespace, then removes it.
pub(crate) fn spawn_namespace_cleanup(state: &Arc<State>, namespace: String) {
    let state = state.clone();
    tokio::spawn(async move {
        let prefix = format!("{namespace}/");
        let mut shutdown = state.shutdown_signal();
        loop {
            let catalog = state.catalog();
            let mut remaining = 0;
            for def in catalog.resources().iter().filter(|d| d.namespaced) {
                for key in state.store.keys(&def.id, &prefix) {
                    remaining += 1;
                    crate::write::delete_for_system(&state, def, &key);
                }
            }
            if remaining == 0 {
                let Some(stored) = state.store.get("namespaces", &namespace) else {
                    return;
                };
                let namespaces: Arc<str> = Arc::from("namespaces");
                match state
                    .store
                    .delete(&namespaces, &namespace, Some(stored.revision))
                {
                    Ok(_) | Err(crate::store::WriteError::NotFound) => return,
                    Err(_) => continue,
                }
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    });
}
