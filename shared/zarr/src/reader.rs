//! Reading one snapshot of a dataset. A numeric read is split into the
//! chunks it touches; each chunk is fetched and decoded in its own task (so
//! decoding spreads over the runtime's worker threads) or taken from the
//! decoded-chunk cache, and the parts the region needs are pasted together.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ChunkCache;
use crate::store::{HubStore, ReadCounter};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use hub_core::model::{BlockData, DataType, Hyperslab, copy_subregion, paste_subregion};
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
    snapshot_key: Arc<str>,
    arrays: Mutex<HashMap<String, Arc<ZArray>>>,
    cache: Option<Arc<ChunkCache>>,
    /// Chunk tasks in flight per read.
    concurrency: usize,
}

impl IcechunkReader {
    pub(crate) fn new(
        session: Session,
        counter: Option<Arc<ReadCounter>>,
        cache: Option<Arc<ChunkCache>>,
        concurrency: usize,
        folder: Option<std::path::PathBuf>,
    ) -> Self {
        let snapshot = session.snapshot_id().to_string();
        Self {
            store: Arc::new(HubStore::counted(session, counter).reading_files_in(folder)),
            snapshot_key: Arc::from(snapshot.as_str()),
            snapshot,
            arrays: Mutex::new(HashMap::new()),
            cache,
            concurrency: concurrency.max(1),
        }
    }

    /// The decoded bytes of one chunk (fill values where it was never written).
    async fn chunk(&self, array: &Arc<ZArray>, path: &Arc<str>, chunk: Vec<u64>) -> Result<Arc<Vec<u8>>, RepoError> {
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.get(&self.snapshot_key, path, &chunk)) {
            return Ok(hit);
        }
        let task = {
            let (array, chunk) = (Arc::clone(array), chunk.clone());
            tokio::spawn(async move { array.async_retrieve_chunk::<ArrayBytes<'static>>(&chunk).await })
        };
        let bytes = task
            .await
            .map_err(|e| RepoError::corrupt_because(format!("{path}: chunk task failed"), e))?
            .map_err(|e| crate::error::array(path, e))?;
        let raw =
            Arc::new(bytes.into_fixed().map_err(|e| RepoError::corrupt_because(path.to_string(), e))?.into_owned());
        if let Some(c) = &self.cache {
            c.insert(&self.snapshot_key, path, &chunk, Arc::clone(&raw));
        }
        Ok(raw)
    }

    /// A numeric region assembled from its chunks.
    async fn read_numeric(&self, array: &Arc<ZArray>, path: &str, region: &Hyperslab) -> Result<Vec<u8>, RepoError> {
        let elem = array
            .data_type()
            .fixed_size()
            .ok_or_else(|| RepoError::Invalid(format!("{path}: not a fixed-size type")))?;
        let subset = ArraySubset::new_with_start_shape(region.start.clone(), region.shape.clone())
            .map_err(|e| RepoError::Invalid(format!("{path}: {e}")))?;
        let mut out = vec![0u8; usize::try_from(region.len()).unwrap_or(usize::MAX).saturating_mul(elem)];
        let Some(chunks) =
            array.chunks_in_array_subset(&subset).map_err(|e| RepoError::Invalid(format!("{path}: {e}")))?
        else {
            return Ok(out);
        };
        let key: Arc<str> = Arc::from(path);
        let mut parts = futures::stream::iter(chunks.indices().into_iter().map(|chunk| {
            let key = Arc::clone(&key);
            async move {
                let within = array.chunk_subset(&chunk).map_err(|e| crate::error::array(path, e))?;
                let within = Hyperslab { start: within.start().to_vec(), shape: within.shape().to_vec() };
                let bytes = self.chunk(array, &key, chunk.to_vec()).await?;
                Ok::<_, RepoError>((within, bytes))
            }
        }))
        .buffer_unordered(self.concurrency);
        while let Some((within, bytes)) = parts.try_next().await? {
            let Some(common) = within.intersection(region) else { continue };
            let part = copy_subregion(&bytes, &within, &common, elem)
                .ok_or_else(|| RepoError::corrupt(format!("{path}: a chunk is smaller than its place")))?;
            paste_subregion(&mut out, region, &part, &common, elem)
                .ok_or_else(|| RepoError::corrupt(format!("{path}: a chunk does not fit its place")))?;
        }
        Ok(out)
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

    async fn read(&self, path: &str, region: &Hyperslab) -> Result<BlockData, RepoError> {
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
        Ok(BlockData::Numeric(self.read_numeric(&array, path, region).await?))
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
