//! A write transaction: one Icechunk session, committed at the end.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};

use crate::store::HubStore;
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use hub_core::model::units_in;
use hub_core::model::{Attributes, Block, BlockData, DataType, Hyperslab, copy_subregion_into, paste_subregion};
use hub_core::ports::{
    ArrayInfo, ArraySpec, CommitRequest, GroupInfo, RepoError, SourceMarker, Transaction, WriteStats,
};
use sha2::{Digest, Sha256};
use tokio::sync::OwnedMutexGuard;
use zarrs::array::{Array, ArrayBytes, ArraySubset, ArrayToBytesCodecTraits, CodecOptions};
use zarrs_storage::AsyncWritableStorageTraits;

use crate::metadata;
use crate::nodes::{self, HUB_GROUP};

type ZArray = Array<HubStore>;

/// Bytes of units (chunks or shards) being encoded at once, at most.
const ENCODE_MEMORY: u64 = 64 << 20;

/// An opened array and what writes need to know about it.
struct ArrayEntry {
    array: Arc<ZArray>,
    info: ArrayInfo,
    /// The fill value's bytes, to recognise chunks that need not be stored.
    fill: Vec<u8>,
    /// Created in this transaction: absent chunks need no delete.
    new: bool,
}

/// A write transaction on one dataset.
pub(crate) struct IcechunkTransaction {
    store: Arc<HubStore>,
    /// Held until the transaction ends: the dataset's lock in this process
    /// and, on a local folder, across processes.
    _guard: (OwnedMutexGuard<()>, Option<crate::folder_lock::FolderLock>),
    arrays: Mutex<HashMap<String, Arc<ArrayEntry>>>,
    created: Mutex<HashSet<String>>,
    concurrency: usize,
}

/// The node path of a source key's marker.
fn marker_path(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("{HUB_GROUP}/sources/{}", &hex::encode(digest)[..32])
}

impl IcechunkTransaction {
    pub(crate) fn new(
        store: Arc<HubStore>,
        guard: (OwnedMutexGuard<()>, Option<crate::folder_lock::FolderLock>),
        concurrency: usize,
    ) -> Self {
        Self {
            store,
            _guard: guard,
            arrays: Mutex::new(HashMap::new()),
            created: Mutex::new(HashSet::new()),
            concurrency: concurrency.max(1),
        }
    }

    async fn set_json(&self, path: &str, value: &serde_json::Value) -> Result<(), RepoError> {
        let bytes = serde_json::to_vec(value).map_err(|e| RepoError::Invalid(format!("{path}: {e}")))?;
        self.store
            .set(&nodes::meta_key(path)?, Bytes::from(bytes))
            .await
            .map_err(|e| crate::error::storage(format!("writing {path}/zarr.json"), e))
    }

    async fn entry(&self, path: &str) -> Result<Arc<ArrayEntry>, RepoError> {
        if let Some(e) = self.arrays.lock().map_err(|_| poisoned())?.get(path) {
            return Ok(Arc::clone(e));
        }
        let meta =
            nodes::read_meta(&self.store, path).await?.ok_or_else(|| RepoError::NotFound(format!("array {path}")))?;
        let info = metadata::array_info(path, &meta)?;
        let array = ZArray::async_open(Arc::clone(&self.store), &format!("/{path}"))
            .await
            .map_err(|e| crate::error::open(path, e))?;
        let new = self.created.lock().map_err(|_| poisoned())?.contains(path);
        let fill = info.fill_value.to_le_bytes(info.dtype);
        let entry = Arc::new(ArrayEntry { array: Arc::new(array), info, fill, new });
        self.arrays.lock().map_err(|_| poisoned())?.insert(path.to_string(), Arc::clone(&entry));
        Ok(entry)
    }
}

fn poisoned() -> RepoError {
    RepoError::corrupt("transaction state lock poisoned")
}

/// Whether every element of `buf` equals `fill` (bitwise). Compares whole
/// words: an element-by-element slice comparison is a `memcmp` call each.
fn all_fill(buf: &[u8], fill: &[u8]) -> bool {
    fn words<const N: usize>(buf: &[u8], fill: &[u8]) -> bool {
        let Ok(f) = <[u8; N]>::try_from(fill) else { return false };
        buf.len().is_multiple_of(N) && buf.chunks_exact(N).all(|w| w == f)
    }
    match fill.len() {
        0 => false,
        1 => buf.iter().all(|&b| b == fill[0]),
        2 => words::<2>(buf, fill),
        4 => words::<4>(buf, fill),
        8 => words::<8>(buf, fill),
        n => buf.len().is_multiple_of(n) && buf.chunks_exact(n).all(|w| w == fill),
    }
}

thread_local! {
    /// Per encoding thread: the unit cut out of the slab, and its padded copy.
    static SCRATCH: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Cuts one write unit out of a block, pads it to the full unit at the array's
/// edges, and encodes it. `None` when it holds only the fill value.
fn encode_unit(
    entry: &ArrayEntry,
    data: &[u8],
    block: &Hyperslab,
    unit: &Hyperslab,
    indices: &[u64],
) -> Result<Option<(Bytes, u64)>, RepoError> {
    let info = &entry.info;
    let elem = info.dtype.size().unwrap_or(1);
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let (sub, padded) = &mut *scratch;
        copy_subregion_into(data, block, unit, elem, sub)
            .ok_or_else(|| RepoError::Invalid(format!("{}: unit {unit:?} outside block {block:?}", info.path)))?;
        if all_fill(sub, &entry.fill) {
            return Ok(None);
        }
        let full: Vec<u64> = info.shard.clone().unwrap_or_else(|| info.chunks.clone());
        let bytes: &[u8] = if unit.shape == full {
            sub
        } else {
            // An edge unit: place it in a full unit of fill values.
            let cells = usize::try_from(full.iter().product::<u64>())
                .map_err(|_| RepoError::Invalid("unit too large".into()))?;
            padded.clear();
            padded.extend(entry.fill.iter().copied().cycle().take(cells * elem));
            let outer = Hyperslab { start: unit.start.clone(), shape: full.clone() };
            paste_subregion(padded, &outer, sub, unit, elem)
                .ok_or_else(|| RepoError::Invalid(format!("{}: edge unit {unit:?} does not fit", info.path)))?;
            padded
        };
        let shape: Vec<NonZeroU64> = full.iter().map(|&x| NonZeroU64::new(x).unwrap_or(NonZeroU64::MIN)).collect();
        let options = CodecOptions::default().with_concurrent_target(1);
        let encoded = entry
            .array
            .codecs()
            .encode(ArrayBytes::from(bytes), &shape, entry.array.data_type(), entry.array.fill_value(), &options)
            .map_err(|e| RepoError::Invalid(format!("{}: encoding chunk {indices:?}: {e}", info.path)))?;
        Ok(Some((Bytes::from(encoded.into_owned()), unit.len() * elem as u64)))
    })
}

#[async_trait]
impl Transaction for IcechunkTransaction {
    async fn source_marker(&self, key: &str) -> Result<Option<SourceMarker>, RepoError> {
        let Some(meta) = nodes::read_meta(&self.store, &marker_path(key)).await? else {
            return Ok(None);
        };
        let marker = meta
            .pointer("/attributes/source")
            .cloned()
            .ok_or_else(|| RepoError::corrupt(format!("marker of {key} has no source")))?;
        serde_json::from_value(marker).map(Some).map_err(|e| RepoError::corrupt_because(format!("marker of {key}"), e))
    }

    async fn arrays(&self) -> Result<Vec<ArrayInfo>, RepoError> {
        nodes::arrays(&self.store).await
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>, RepoError> {
        nodes::groups(&self.store).await
    }

    async fn put_group(&self, path: &str, attrs: &Attributes) -> Result<(), RepoError> {
        self.set_json(path, &metadata::group_json(attrs)).await
    }

    async fn create_array(&self, spec: &ArraySpec) -> Result<(), RepoError> {
        if spec.layout.chunks.len() != spec.shape.len() || spec.dims.len() != spec.shape.len() {
            return Err(RepoError::Invalid(format!("{}: dims, shape and chunks disagree", spec.path)));
        }
        if spec.dtype.is_integer() && matches!(spec.fill_value, hub_core::cf::FillValue::Float(_)) {
            return Err(RepoError::Invalid(format!(
                "{}: the fill value {:?} (from its _FillValue or missing_value attribute) is not a {} value",
                spec.path, spec.fill_value, spec.dtype
            )));
        }
        self.set_json(&spec.path, &metadata::array_json(spec)).await?;
        self.created.lock().map_err(|_| poisoned())?.insert(spec.path.clone());
        self.arrays.lock().map_err(|_| poisoned())?.remove(&spec.path);
        Ok(())
    }

    async fn resize(&self, path: &str, shape: &[u64]) -> Result<(), RepoError> {
        let mut meta =
            nodes::read_meta(&self.store, path).await?.ok_or_else(|| RepoError::NotFound(format!("array {path}")))?;
        let old = metadata::array_info(path, &meta)?.shape;
        if old.len() != shape.len() || old.iter().zip(shape).any(|(o, n)| n < o) {
            return Err(RepoError::Invalid(format!("{path}: cannot resize {old:?} to {shape:?} (arrays only grow)")));
        }
        if old == shape {
            return Ok(());
        }
        if let Some(obj) = meta.as_object_mut() {
            obj.insert("shape".into(), serde_json::json!(shape));
        }
        self.set_json(path, &meta).await?;
        self.arrays.lock().map_err(|_| poisoned())?.remove(path);
        Ok(())
    }

    async fn read(&self, path: &str, region: &Hyperslab) -> Result<BlockData, RepoError> {
        let entry = self.entry(path).await?;
        if !region.fits(&entry.info.shape) {
            return Err(RepoError::Invalid(format!("{path}: region {region:?} outside shape {:?}", entry.info.shape)));
        }
        let subset = ArraySubset::new_with_start_shape(region.start.clone(), region.shape.clone())
            .map_err(|e| RepoError::Invalid(format!("{path}: {e}")))?;
        if entry.info.dtype == DataType::String {
            let values: Vec<String> =
                entry.array.async_retrieve_array_subset(&subset).await.map_err(|e| crate::error::array(path, e))?;
            return Ok(BlockData::Strings(values));
        }
        let bytes: ArrayBytes<'static> =
            entry.array.async_retrieve_array_subset(&subset).await.map_err(|e| crate::error::array(path, e))?;
        let raw = bytes.into_fixed().map_err(|e| RepoError::corrupt_because(path.to_string(), e))?.into_owned();
        Ok(BlockData::Numeric(raw))
    }

    async fn write_block(&self, path: &str, block: Arc<Block>) -> Result<WriteStats, RepoError> {
        let entry = self.entry(path).await?;
        let info = &entry.info;
        if !block.region.fits(&info.shape) {
            return Err(RepoError::Invalid(format!("{path}: block {:?} outside shape {:?}", block.region, info.shape)));
        }
        let data = match &block.data {
            BlockData::Strings(values) => {
                let values = values.clone();
                let subset = ArraySubset::new_with_start_shape(block.region.start.clone(), block.region.shape.clone())
                    .map_err(|e| RepoError::Invalid(format!("{path}: {e}")))?;
                let n = values.len() as u64;
                let bytes: u64 = values.iter().map(|s| s.len() as u64).sum();
                entry
                    .array
                    .async_store_array_subset(&subset, values)
                    .await
                    .map_err(|e| crate::error::array(path, e))?;
                return Ok(WriteStats {
                    chunks_written: n.min(1),
                    chunks_skipped: 0,
                    bytes_in: bytes,
                    bytes_stored: bytes,
                });
            }
            BlockData::Numeric(data) => data.len(),
        };
        let elem = info.dtype.size().unwrap_or(1) as u64;
        if data as u64 != block.region.len() * elem {
            return Err(RepoError::Invalid(format!(
                "{path}: block of {data} bytes for a region of {} elements",
                block.region.len()
            )));
        }
        let unit_shape: Vec<u64> = info.shard.clone().unwrap_or_else(|| info.chunks.clone());
        let units = units_in(&block.region, &unit_shape, &info.shape);
        // Each unit being encoded holds about two copies of itself: with large
        // shards, encode fewer at once so memory stays bounded.
        let unit_bytes = unit_shape.iter().product::<u64>().saturating_mul(elem).max(1);
        let concurrency = self.concurrency.min(usize::try_from(ENCODE_MEMORY / unit_bytes).unwrap_or(1).max(1));
        let results: Vec<WriteStats> = futures::stream::iter(units)
            .map(|unit| {
                let entry = Arc::clone(&entry);
                let block = Arc::clone(&block);
                let store = Arc::clone(&self.store);
                let unit_shape = unit_shape.clone();
                async move {
                    if unit.start.iter().zip(&unit_shape).any(|(s, u)| s % u != 0) {
                        return Err(RepoError::Invalid(format!(
                            "{}: block not aligned to write units {unit_shape:?}",
                            entry.info.path
                        )));
                    }
                    let indices: Vec<u64> = unit.start.iter().zip(&unit_shape).map(|(s, u)| s / u).collect();
                    let unit_bytes = unit.len() * entry.info.dtype.size().unwrap_or(1) as u64;
                    let key = entry.array.chunk_key(&indices);
                    let job_entry = Arc::clone(&entry);
                    let idx = indices.clone();
                    let encoded = tokio::task::spawn_blocking(move || match &block.data {
                        BlockData::Numeric(data) => encode_unit(&job_entry, data, &block.region, &unit, &idx),
                        BlockData::Strings(_) => Err(RepoError::Invalid("text block in the numeric path".into())),
                    })
                    .await
                    .map_err(|e| RepoError::Invalid(format!("encoder thread: {e}")))??;
                    match encoded {
                        Some((bytes, raw)) => {
                            let stored = bytes.len() as u64;
                            store
                                .set(&key, bytes)
                                .await
                                .map_err(|e| crate::error::storage(format!("storing chunk {key}"), e))?;
                            Ok(WriteStats { chunks_written: 1, chunks_skipped: 0, bytes_in: raw, bytes_stored: stored })
                        }
                        None => {
                            if !entry.new {
                                store
                                    .erase(&key)
                                    .await
                                    .map_err(|e| crate::error::storage(format!("erasing chunk {key}"), e))?;
                            }
                            Ok(WriteStats {
                                chunks_written: 0,
                                chunks_skipped: 1,
                                bytes_in: unit_bytes,
                                bytes_stored: 0,
                            })
                        }
                    }
                }
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        let mut total = WriteStats::default();
        for s in results {
            total += s;
        }
        Ok(total)
    }

    async fn relabel(&self, path: &str, dim: usize, first: u64, moves: &[Option<u64>]) -> Result<bool, RepoError> {
        use icechunk::format::ChunkIndices;
        let node = icechunk::format::Path::new(&format!("/{}", path.trim_matches('/')))
            .map_err(|e| RepoError::Invalid(format!("{path}: {e}")))?;
        let failed = |e| crate::error::storage(format!("moving the steps of {path}"), e);
        let to_new: HashMap<u64, u64> =
            moves.iter().enumerate().filter_map(|(i, o)| o.map(|o| (o, first + i as u64))).collect();
        let session = self.store.session();
        let mut session = session.write().await;
        // Every stored unit from `first` on: read where each goes, then write
        // all the new references, then empty what no unit moved into (as
        // Icechunk's own reindexing does, in a form that can be awaited
        // across threads).
        let stored: Vec<ChunkIndices> = session
            .chunk_coordinates(&node)
            .await
            .map_err(failed)?
            .try_filter(|c| futures::future::ready(c.0.get(dim).is_some_and(|&k| u64::from(k) >= first)))
            .try_collect()
            .await
            .map_err(failed)?;
        let mut placed = Vec::new();
        let mut destinations = HashSet::new();
        for c in &stored {
            let Some(&to) = to_new.get(&u64::from(c.0[dim])) else { continue };
            let mut dest = c.0.clone();
            dest[dim] = u32::try_from(to).map_err(|_| RepoError::Invalid(format!("{path}: unit {to} out of range")))?;
            let payload = session.get_chunk_ref(&node, c).await.map_err(failed)?;
            destinations.insert(dest.clone());
            placed.push((ChunkIndices(dest), payload));
        }
        for (dest, payload) in placed {
            session.set_chunk_ref(node.clone(), dest, payload).await.map_err(failed)?;
        }
        for c in stored {
            if !destinations.contains(&c.0) {
                session.set_chunk_ref(node.clone(), c, None).await.map_err(failed)?;
            }
        }
        Ok(true)
    }

    async fn commit(self: Box<Self>, request: CommitRequest) -> Result<String, RepoError> {
        let empty = Attributes::new();
        if nodes::read_meta(&self.store, HUB_GROUP).await?.is_none() {
            self.put_group(HUB_GROUP, &empty).await?;
            self.put_group(&format!("{HUB_GROUP}/sources"), &empty).await?;
        }
        let marker = serde_json::to_value(&request.marker).map_err(|e| RepoError::Invalid(e.to_string()))?;
        let group = serde_json::json!({"zarr_format": 3, "node_type": "group", "attributes": {"source": marker}});
        self.set_json(&marker_path(&request.marker.key), &group).await?;
        let session = self.store.session();
        let mut session = session.write().await;
        let snapshot = session
            .commit(request.message)
            .properties(request.properties.into_iter().collect())
            .execute()
            .await
            .map_err(crate::error::commit)?;
        Ok(snapshot.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_detection() {
        let fill = 1e20f32.to_le_bytes();
        let mut buf: Vec<u8> = std::iter::repeat_n(fill, 1000).flatten().collect();
        assert!(all_fill(&buf, &fill));
        buf[2001] ^= 1;
        assert!(!all_fill(&buf, &fill));
        assert!(all_fill(&[7, 7, 7], &[7]));
        assert!(!all_fill(&[1, 2, 3], &[]));
        assert!(all_fill(&[1, 2, 3, 1, 2, 3], &[1, 2, 3]));
    }
}
