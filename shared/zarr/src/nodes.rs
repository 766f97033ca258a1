//! Listing the groups and arrays of a session, the hub's own `_hub` tree left out.

use std::sync::Arc;

use crate::store::HubStore;
use hub_core::ports::{ArrayInfo, GroupInfo, RepoError};
use icechunk::format::Path;
use icechunk::format::snapshot::NodeData;
use zarrs_storage::{AsyncReadableStorageTraits, StoreKey};

use crate::metadata;

/// Root of the hub's own nodes inside a dataset (source markers).
pub(crate) const HUB_GROUP: &str = "_hub";

/// The `zarr.json` key of a node path (`""` for the root).
pub(crate) fn meta_key(path: &str) -> Result<StoreKey, RepoError> {
    let key = if path.is_empty() { "zarr.json".to_string() } else { format!("{}/zarr.json", path.trim_matches('/')) };
    StoreKey::new(key).map_err(|e| RepoError::Invalid(format!("node path {path:?}: {e}")))
}

/// Reads and parses the `zarr.json` of a node.
pub(crate) async fn read_meta(store: &HubStore, path: &str) -> Result<Option<serde_json::Value>, RepoError> {
    let bytes =
        store.get(&meta_key(path)?).await.map_err(|e| crate::error::storage(format!("reading {path}/zarr.json"), e))?;
    match bytes {
        None => Ok(None),
        Some(b) => {
            serde_json::from_slice(&b).map(Some).map_err(|e| RepoError::corrupt_because(format!("{path}/zarr.json"), e))
        }
    }
}

/// Paths of the arrays and groups, without leading slash, `_hub` excluded.
async fn node_paths(store: &HubStore) -> Result<(Vec<String>, Vec<String>), RepoError> {
    let session = store.session();
    let session = session.read().await;
    let nodes = session.list_nodes(&Path::root()).await.map_err(|e| crate::error::storage("listing nodes", e))?;
    let mut arrays = Vec::new();
    let mut groups = Vec::new();
    for node in nodes {
        let node = node.map_err(|e| crate::error::storage("listing nodes", e))?;
        let path = node.path.to_string().trim_start_matches('/').to_string();
        if path == HUB_GROUP || path.starts_with(&format!("{HUB_GROUP}/")) {
            continue;
        }
        match node.node_data {
            NodeData::Array { .. } => arrays.push(path),
            NodeData::Group => groups.push(path),
        }
    }
    arrays.sort();
    groups.sort();
    Ok((arrays, groups))
}

/// The arrays of the session.
pub(crate) async fn arrays(store: &Arc<HubStore>) -> Result<Vec<ArrayInfo>, RepoError> {
    let (paths, _) = node_paths(store).await?;
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        if let Some(meta) = read_meta(store, &path).await? {
            out.push(metadata::array_info(&path, &meta)?);
        }
    }
    Ok(out)
}

/// The groups of the session.
pub(crate) async fn groups(store: &Arc<HubStore>) -> Result<Vec<GroupInfo>, RepoError> {
    let (_, paths) = node_paths(store).await?;
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        if let Some(meta) = read_meta(store, &path).await? {
            let attrs = meta
                .get("attributes")
                .and_then(serde_json::Value::as_object)
                .map(|m| metadata::attrs_from_json(m, hub_core::model::DataType::Float64))
                .unwrap_or_default();
            out.push(GroupInfo { path, attrs });
        }
    }
    Ok(out)
}
