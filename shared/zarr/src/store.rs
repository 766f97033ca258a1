//! The zarrs store the hub uses: `zarrs_icechunk`'s store, with one fix.
//!
//! `AsyncIcechunkStore::get_partial_many` turns a chunk that was never stored
//! into an error, where `get` returns "absent" (so zarrs reads the fill value).
//! The hub leaves fill-only chunks out, and zarrs reads parts of chunks (shard
//! indexes, partial decoding), so those reads would fail. Here a missing chunk
//! is absent for partial reads too. Everything else is delegated.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::StreamExt;
use icechunk::format::ByteRange as IcByteRange;
use icechunk::store::StoreErrorKind;
use zarrs_icechunk::AsyncIcechunkStore;
use zarrs_storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs_storage::{
    AsyncListableStorageTraits, AsyncMaybeBytesIterator, AsyncReadableStorageTraits, AsyncWritableStorageTraits, Bytes,
    MaybeBytes, OffsetBytesIterator, StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix,
};

/// The hub's zarrs store over one Icechunk session.
pub struct HubStore {
    inner: AsyncIcechunkStore,
    counter: Option<Arc<ReadCounter>>,
    /// The repository's folder, when it is on a local disk.
    folder: Option<std::path::PathBuf>,
}

/// Counts the chunk reads of the stores it is given to: how many chunks, how
/// many bytes, and the most reads in flight at once (to see that a query reads
/// only what it needs, concurrently). With a latency, every counted read
/// also waits that long, as reads from an object store wait on the network,
/// so whether reads overlap does not depend on how fast the disk is.
#[derive(Debug, Default)]
pub struct ReadCounter {
    chunks: AtomicU64,
    bytes: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    from_files: AtomicU64,
    latency: Option<std::time::Duration>,
}

impl ReadCounter {
    /// A counter whose reads each take at least `latency`.
    pub fn with_latency(latency: std::time::Duration) -> Self {
        Self { latency: Some(latency), ..Self::default() }
    }

    async fn wait(&self) {
        if let Some(d) = self.latency {
            tokio::time::sleep(d).await;
        }
    }

    /// Chunks fetched so far (chunks that were never written are not counted).
    pub fn chunks(&self) -> u64 {
        self.chunks.load(Ordering::Relaxed)
    }

    /// Bytes of the chunks read so far (as stored).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Chunks read straight from their files (a local folder).
    pub fn from_files(&self) -> u64 {
        self.from_files.load(Ordering::Relaxed)
    }

    /// The most chunk reads that were in flight at once.
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::Relaxed)
    }

    /// Starts counting again.
    pub fn reset(&self) {
        for c in [&self.chunks, &self.bytes, &self.in_flight, &self.max_in_flight, &self.from_files] {
            c.store(0, Ordering::Relaxed);
        }
    }

    fn start(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
    }

    /// A read ended; `bytes` is `None` when the chunk does not exist (never
    /// written: nothing was fetched).
    fn finish(&self, bytes: Option<u64>) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(bytes) = bytes {
            self.chunks.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}

/// Whether a store key names a chunk (Zarr v3 default key encoding `…/c/…`).
fn is_chunk_key(key: &StoreKey) -> bool {
    let k = key.as_str();
    k.starts_with("c/") || k.contains("/c/") || k == "c"
}

impl HubStore {
    /// Wraps a session.
    pub fn new(session: icechunk::session::Session) -> Self {
        Self { inner: AsyncIcechunkStore::new(session), counter: None, folder: None }
    }

    /// Wraps a session, counting chunk reads.
    pub fn counted(session: icechunk::session::Session, counter: Option<Arc<ReadCounter>>) -> Self {
        Self { inner: AsyncIcechunkStore::new(session), counter, folder: None }
    }

    /// Reads whole chunks from the files of the repository in `folder` (see the module documentation).
    pub fn reading_files_in(mut self, folder: Option<std::path::PathBuf>) -> Self {
        self.folder = folder;
        self
    }

    /// A whole chunk read from its file: `None` when Icechunk should read it
    /// (not a plain chunk key, an inline or virtual chunk, any failure:
    /// Icechunk's own read then reports it), `Some(None)` when the chunk was
    /// never written.
    async fn read_chunk_file(&self, folder: &std::path::Path, key: &StoreKey) -> Option<MaybeBytes> {
        use icechunk::format::manifest::ChunkPayload;
        let (array, coords) =
            key.as_str().rsplit_once("/c/").or_else(|| key.as_str().strip_prefix("c/").map(|c| ("", c)))?;
        let indices: Vec<u32> = coords.split('/').map(|c| c.parse().ok()).collect::<Option<_>>()?;
        let path = icechunk::format::Path::new(&format!("/{array}")).ok()?;
        let payload = {
            let session = self.inner.session();
            let session = session.read().await;
            session.get_chunk_ref(&path, &icechunk::format::ChunkIndices(indices)).await.ok()?
        };
        let ChunkPayload::Ref(r) = payload? else {
            return None;
        };
        let file = folder.join(icechunk::format::CHUNKS_FILE_PATH).join(r.id.to_string());
        let (offset, length) = (r.offset, usize::try_from(r.length).ok()?);
        let read = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; length];
            std::fs::File::open(&file)?.read_exact_at(&mut buf, offset)?;
            Ok::<_, std::io::Error>(buf)
        });
        match read.await {
            Ok(Ok(buf)) => {
                if let Some(c) = &self.counter {
                    c.from_files.fetch_add(1, Ordering::Relaxed);
                }
                Some(Some(Bytes::from(buf)))
            }
            _ => None,
        }
    }

    /// The session.
    pub fn session(&self) -> Arc<tokio::sync::RwLock<icechunk::session::Session>> {
        self.inner.session()
    }
}

#[async_trait]
impl AsyncReadableStorageTraits for HubStore {
    async fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        let counter = self.counter.as_ref().filter(|_| is_chunk_key(key));
        if let Some(c) = counter {
            c.start();
            c.wait().await;
        }
        // Icechunk's store directly (not through zarrs_icechunk, which
        // flattens errors into text): damaged data and unreachable storage
        // stay apart (see `error::classify_store`).
        let local = match &self.folder {
            Some(folder) if is_chunk_key(key) => self.read_chunk_file(folder, key).await,
            _ => None,
        };
        let got = match local {
            Some(found) => Ok(found),
            None => {
                let store = icechunk::Store::from_session(self.inner.session()).await;
                match store.get(key.as_str(), &IcByteRange::ALL).await {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if matches!(e.kind(), StoreErrorKind::NotFound(_)) => Ok(None),
                    Err(e) => Err(crate::error::classify_store(&e)),
                }
            }
        };
        if let Some(c) = counter {
            c.finish(got.as_ref().ok().and_then(|b| b.as_ref()).map(|b| b.len() as u64));
        }
        got
    }

    async fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<AsyncMaybeBytesIterator<'a>, StorageError> {
        let ranges: Vec<(String, IcByteRange)> = byte_ranges
            .map(|r| {
                let range = match r {
                    ByteRange::FromStart(offset, None) => IcByteRange::from_offset(offset),
                    ByteRange::FromStart(offset, Some(len)) => IcByteRange::from_offset_with_length(offset, len),
                    ByteRange::Suffix(len) => IcByteRange::Last(len),
                };
                (key.to_string(), range)
            })
            .collect();
        let counter = self.counter.as_ref().filter(|_| is_chunk_key(key));
        if let Some(c) = counter {
            c.start();
            c.wait().await;
        }
        let store = icechunk::Store::from_session(self.inner.session()).await;
        let fetched = store.get_partial_values(ranges).await;
        if let Some(c) = counter {
            c.finish(fetched.as_ref().ok().map(|r| r.iter().flatten().map(|b| b.len() as u64).sum()));
        }
        let results = match fetched {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), StoreErrorKind::NotFound(_)) => return Ok(None),
            Err(e) => return Err(crate::error::classify_store(&e)),
        };
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(b) => out.push(Ok(b)),
                Err(e) if matches!(e.kind(), StoreErrorKind::NotFound(_)) => return Ok(None),
                Err(e) => out.push(Err(crate::error::classify_store(&e))),
            }
        }
        Ok(Some(futures::stream::iter(out).boxed()))
    }

    async fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.inner.size_key(key).await
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

#[async_trait]
impl AsyncWritableStorageTraits for HubStore {
    async fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        self.inner.set(key, value).await
    }

    async fn set_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator<'a>,
    ) -> Result<(), StorageError> {
        self.inner.set_partial_many(key, offset_values).await
    }

    async fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.inner.erase(key).await
    }

    async fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.inner.erase_prefix(prefix).await
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

#[async_trait]
impl AsyncListableStorageTraits for HubStore {
    async fn list(&self) -> Result<StoreKeys, StorageError> {
        self.inner.list().await
    }

    async fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        self.inner.list_prefix(prefix).await
    }

    async fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        self.inner.list_dir(prefix).await
    }

    async fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        self.inner.size_prefix(prefix).await
    }
}
