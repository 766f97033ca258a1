//! The datasets' configuration document in the hub (`_config/datasets.json`
//! under the root, see `hub_core::ingest::DatasetConfig`): read at start-up
//! of an ingest process, written by `hub config`.

use std::sync::Arc;

use hub_core::ingest::{CONFIG_KEY, ConfigError, DatasetConfig};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path as ObjectPath};

/// Why the configuration could not be read or stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigStoreError {
    /// The storage failed.
    #[error("reading or writing {CONFIG_KEY}: {0}")]
    Storage(#[from] object_store::Error),
    /// The document is invalid.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// The configuration stored in the hub; the empty one when there is none.
pub async fn load_dataset_config(store: &Arc<dyn ObjectStore>) -> Result<DatasetConfig, ConfigStoreError> {
    match store.get(&ObjectPath::from(CONFIG_KEY)).await {
        Ok(got) => {
            let bytes = got.bytes().await?;
            Ok(DatasetConfig::parse(&String::from_utf8_lossy(&bytes))?)
        }
        Err(object_store::Error::NotFound { .. }) => Ok(DatasetConfig::default()),
        Err(e) => Err(e.into()),
    }
}

/// Checks a configuration document and stores it in the hub.
pub async fn store_dataset_config(store: &Arc<dyn ObjectStore>, json: &str) -> Result<DatasetConfig, ConfigStoreError> {
    let config = DatasetConfig::parse(json)?;
    store.put(&ObjectPath::from(CONFIG_KEY), PutPayload::from(json.as_bytes().to_vec())).await?;
    Ok(config)
}
