//! Reading one snapshot of a dataset.

use std::collections::HashMap;
use std::sync::Arc;

use crate::store::{HubStore, ReadCounter};
use async_trait::async_trait;
use futures::StreamExt;
use hub_core::model::{BlockData, DataType, Region};
use hub_core::ports::{ArrayInfo, DatasetReader, GroupInfo, RepoError};
use icechunk::format::Path;
use icechunk::session::Session;
use tokio::sync::Mutex;
use zarrs::array::{Array, ArrayBytes, ArraySubset};

use crate::nodes;

type ZArray = Array<HubStore>;

/// A read-only view of one snapshot; arrays are opened once and reused.
pub(crate) struct IcechunkReader {
    store: Arc<HubStore>,
    snapshot: String,
    arrays: Mutex<HashMap<String, Arc<ZArray>>>,
}

impl IcechunkReader {
    pub(crate) fn new(session: Session, counter: Option<Arc<ReadCounter>>) -> Self {
        let snapshot = session.snapshot_id().to_string();
        Self { store: Arc::new(HubStore::counted(session, counter)), snapshot, arrays: Mutex::new(HashMap::new()) }
    }

    async fn array(&self, path: &str) -> Result<Arc<ZArray>, RepoError> {
        let mut arrays = self.arrays.lock().await;
        if let Some(a) = arrays.get(path) {
            return Ok(Arc::clone(a));
        }
        if nodes::read_meta(&self.store, path).await?.is_none() {
            return Err(RepoError::NotFound(format!("array {path}")));
        }
        let array = Arc::new(
            ZArray::async_open(Arc::clone(&self.store), &format!("/{}", path.trim_matches('/')))
                .await
                .map_err(|e| crate::error::open(path, e))?,
        );
        arrays.insert(path.to_string(), Arc::clone(&array));
        Ok(array)
    }
}

#[async_trait]
impl DatasetReader for IcechunkReader {
    fn snapshot_id(&self) -> &str {
        &self.snapshot
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>, RepoError> {
        nodes::groups(&self.store).await
    }

    async fn arrays(&self) -> Result<Vec<ArrayInfo>, RepoError> {
        nodes::arrays(&self.store).await
    }

    async fn read(&self, path: &str, region: &Region) -> Result<BlockData, RepoError> {
        let array = self.array(path).await?;
        if !region.fits(array.shape()) {
            return Err(RepoError::Invalid(format!("{path}: region {region:?} outside shape {:?}", array.shape())));
        }
        let subset = ArraySubset::new_with_start_shape(region.start.clone(), region.shape.clone())
            .map_err(|e| RepoError::Invalid(format!("{path}: {e}")))?;
        let is_string = array.data_type().to_string().contains("string")
            || nodes::read_meta(&self.store, path)
                .await?
                .and_then(|m| m.get("data_type").and_then(|d| d.as_str()).map(|d| d == DataType::String.zarr_name()))
                .unwrap_or(false);
        if is_string {
            let values: Vec<String> =
                array.async_retrieve_array_subset(&subset).await.map_err(|e| crate::error::array(path, e))?;
            return Ok(BlockData::Strings(values));
        }
        let bytes: ArrayBytes<'static> =
            array.async_retrieve_array_subset(&subset).await.map_err(|e| crate::error::array(path, e))?;
        let raw = bytes.into_fixed().map_err(|e| RepoError::Corrupt(format!("{path}: {e}")))?;
        Ok(BlockData::Numeric(raw.into_owned()))
    }

    async fn stored_bytes(&self, path: &str) -> Result<u64, RepoError> {
        let session = self.store.session();
        let session = session.read().await;
        let node_path = Path::new(&format!("/{}", path.trim_matches('/')))
            .map_err(|e| RepoError::Invalid(format!("{path}: {e}")))?;
        let node =
            session.get_array(&node_path).await.map_err(|e| RepoError::NotFound(format!("array {path}: {e}")))?;
        let mut total = 0u64;
        let mut chunks = Box::pin(session.all_node_chunks(&node).await);
        while let Some(item) = chunks.next().await {
            let (_, info) = item.map_err(|e| crate::error::storage(format!("chunks of {path}"), e))?;
            total += info.payload.length();
        }
        Ok(total)
    }
}
