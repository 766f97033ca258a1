//! Icechunk storage for one dataset of a hub root.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use hub_core::model::DatasetId;
use hub_core::ports::RepoError;
use hub_store::StoreUrl;
use icechunk::Storage;
use icechunk::storage::{S3Credentials, S3Options};

pub(crate) type DynStorage = Arc<dyn Storage + Send + Sync>;

/// In-memory repositories, by hub URL and dataset, so a process sees its own writes.
fn memory_storages() -> &'static Mutex<HashMap<String, DynStorage>> {
    static STORAGES: OnceLock<Mutex<HashMap<String, DynStorage>>> = OnceLock::new();
    STORAGES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The datasets that exist in an in-memory hub.
pub(crate) fn memory_datasets(root: &str) -> Vec<DatasetId> {
    let prefix = format!("{root}/");
    memory_storages()
        .lock()
        .map(|m| m.keys().filter_map(|k| k.strip_prefix(&prefix)).filter_map(|id| DatasetId::new(id).ok()).collect())
        .unwrap_or_default()
}

/// Forgets an in-memory dataset's storage (its repository was removed).
pub(crate) fn forget_memory_dataset(root: &str, dataset: &DatasetId) {
    if let Ok(mut m) = memory_storages().lock() {
        m.remove(&format!("{root}/{dataset}"));
    }
}

/// The Icechunk storage of `dataset` under the hub root `root`.
pub(crate) async fn dataset_storage(root: &StoreUrl, dataset: &DatasetId) -> Result<DynStorage, RepoError> {
    match root {
        StoreUrl::File(path) => {
            let dir = path.join(dataset.as_str());
            // A dataset is a folder of the hub: a link would serve (or write)
            // whatever it points at, anywhere on the machine.
            if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
                tracing::warn!(dataset = %dataset, "the dataset's folder is a symbolic link: not followed");
                return Err(RepoError::NotFound(format!(
                    "dataset {dataset} (its folder is a symbolic link, which the hub does not follow)"
                )));
            }
            icechunk::new_local_filesystem_storage(&dir)
                .await
                .map_err(|e| RepoError::unavailable(format!("local storage {}", dir.display()), e))
        }
        StoreUrl::Memory(name) => {
            let key = format!("{name}/{dataset}");
            if let Some(s) = memory_storages().lock().ok().and_then(|m| m.get(&key).cloned()) {
                return Ok(s);
            }
            let storage =
                icechunk::new_in_memory_storage().await.map_err(|e| RepoError::unavailable("in-memory storage", e))?;
            let mut map = memory_storages().lock().map_err(|_| RepoError::corrupt("memory storage lock poisoned"))?;
            Ok(map.entry(key).or_insert(storage).clone())
        }
        StoreUrl::S3 { bucket, prefix } => {
            let endpoint = hub_store::s3_endpoint();
            let path_style =
                endpoint.is_some() && std::env::var("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").map_or(true, |v| v != "true");
            let mut options = S3Options::default()
                .with_region(hub_store::aws_region())
                .with_allow_http(endpoint.as_deref().is_some_and(|e| e.starts_with("http://")))
                .with_force_path_style(path_style)
                .with_network_stream_timeout_seconds(60);
            if let Some(endpoint) = endpoint {
                options = options.with_endpoint_url(endpoint);
            }
            let key_prefix = if prefix.is_empty() { dataset.to_string() } else { format!("{prefix}/{dataset}") };
            icechunk::new_s3_storage(
                options,
                bucket.clone(),
                Some(key_prefix),
                Some(S3Credentials::FromEnv),
                vec![],
                vec![],
                None,
            )
            .map_err(|e| RepoError::unavailable(format!("s3://{bucket}/{prefix}/{dataset}"), e))
        }
    }
}
