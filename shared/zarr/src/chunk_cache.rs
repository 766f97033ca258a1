//! Decoded chunks kept across requests, bounded in bytes. A snapshot never
//! changes, so a chunk decoded once for a snapshot stays right for as long as
//! it is kept: warm serve processes (a Lambda container between invocations,
//! `hub serve`) answer repeated and neighbouring queries without fetching or
//! decoding again. The cache favours recency: one query touches tens of
//! chunks that the next, neighbouring query needs again, so new chunks get
//! half the space (the library's default keeps 3 % for them, which would
//! evict a map's chunks before their second use).

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// Identifies a decoded chunk: snapshot, array path, chunk grid indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    snapshot: Arc<str>,
    path: Arc<str>,
    chunk: Vec<u64>,
}

#[derive(Debug, Clone)]
struct ByBytes;

impl Weighter<Key, Arc<Vec<u8>>> for ByBytes {
    fn weight(&self, key: &Key, value: &Arc<Vec<u8>>) -> u64 {
        (value.len() + key.path.len() + key.chunk.len() * 8 + 64) as u64
    }
}

/// Decoded chunk bytes by snapshot, array and chunk.
pub struct ChunkCache {
    cache: Cache<Key, Arc<Vec<u8>>, ByBytes>,
    capacity: u64,
}

impl std::fmt::Debug for ChunkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkCache").field("capacity", &self.capacity).field("weight", &self.cache.weight()).finish()
    }
}

impl ChunkCache {
    /// A cache holding up to `bytes` of decoded chunks.
    pub fn new(bytes: u64) -> Self {
        // Items are about a chunk (~2 MB by the default policy); the estimate only sizes tables.
        let items = usize::try_from(bytes / (1 << 20)).unwrap_or(usize::MAX).clamp(16, 1 << 20);
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(items)
            .weight_capacity(bytes)
            .hot_allocation(0.5)
            // Few shards: each holds its share of the bytes, and chunk lookups are rare next to decoding.
            .shards(2)
            .build();
        let cache = match options {
            Ok(o) => Cache::with_options(o, ByBytes, Default::default(), Default::default()),
            Err(_) => Cache::with_weighter(items, bytes, ByBytes),
        };
        Self { cache, capacity: bytes }
    }

    pub(crate) fn get(&self, snapshot: &Arc<str>, path: &Arc<str>, chunk: &[u64]) -> Option<Arc<Vec<u8>>> {
        self.cache.get(&Key { snapshot: snapshot.clone(), path: path.clone(), chunk: chunk.to_vec() })
    }

    pub(crate) fn insert(&self, snapshot: &Arc<str>, path: &Arc<str>, chunk: &[u64], bytes: Arc<Vec<u8>>) {
        self.cache.insert(Key { snapshot: snapshot.clone(), path: path.clone(), chunk: chunk.to_vec() }, bytes);
    }

    /// Bytes held now.
    pub fn weight(&self) -> u64 {
        self.cache.weight()
    }
}
