//! The hub: one Icechunk repository per dataset under a root URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::HubStore;
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use hub_core::model::DatasetId;
use hub_core::ports::{CommitInfo, DatasetReader, RepoError, Repository, Transaction, Version};
use hub_core::upkeep::{GcPolicy, GcReport, Unfinished};
use hub_store::StoreUrl;
use icechunk::config::{
    ManifestConfig, ManifestSplitCondition, ManifestSplitDim, ManifestSplitDimCondition, ManifestSplittingConfig,
};
use icechunk::repository::VersionInfo;
use icechunk::{RepositoryConfig, format::SnapshotId};
use object_store::ObjectStore;

use crate::reader::IcechunkReader;
use crate::storage::{dataset_storage, memory_datasets};
use crate::transaction::IcechunkTransaction;

/// The branch the hub writes.
pub const BRANCH: &str = "main";

/// Dimension names split into separate manifests as they grow (a regex).
const TIME_DIMS: &str = "^(time|t|valid_time|reference_time|forecast_reference_time|time_counter)$";

/// Chunks per manifest piece along a time dimension: a commit that appends
/// rewrites one piece, not the whole history.
const TIME_CHUNKS_PER_MANIFEST: u32 = 512;

/// Tunables of the hub.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Chunks encoded and uploaded at once during a write.
    pub write_concurrency: usize,
    /// Counts the chunk reads of every reader the hub opens (tests, benchmarks).
    pub read_counter: Option<Arc<crate::store::ReadCounter>>,
    /// Decoded chunks shared by every reader the hub opens (serving); `None`:
    /// every read fetches and decodes.
    pub chunk_cache: Option<Arc<crate::ChunkCache>>,
    /// Chunks fetched and decoded at once per read; `None`: by storage
    /// (object stores hide latency with many requests in flight, a local
    /// folder is served best by about two per core).
    pub read_concurrency: Option<usize>,
}

impl Default for HubSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self { write_concurrency: (cores * 2).max(4), read_counter: None, chunk_cache: None, read_concurrency: None }
    }
}

impl HubSettings {
    /// Decoded chunks a serving process keeps by default.
    pub const SERVING_CACHE_BYTES: u64 = 256 << 20;

    /// Settings for serving: the defaults plus a decoded-chunk cache of
    /// `HUB_CHUNK_CACHE_BYTES` (default [`Self::SERVING_CACHE_BYTES`]; 0 turns it off).
    pub fn serving_from_env() -> Result<Self, hub_core::settings::EnvError> {
        let bytes = hub_core::settings::parsed::<u64>("HUB_CHUNK_CACHE_BYTES", "a whole number of bytes")?
            .unwrap_or(Self::SERVING_CACHE_BYTES);
        let chunk_cache = (bytes > 0).then(|| Arc::new(crate::ChunkCache::new(bytes)));
        Ok(Self { chunk_cache, ..Self::default() })
    }
}

/// The hub's repositories, one per dataset, under a root URL.
pub struct IcechunkHub {
    root: StoreUrl,
    root_store: Arc<dyn ObjectStore>,
    settings: HubSettings,
    locks: Mutex<HashMap<DatasetId, Arc<tokio::sync::Mutex<()>>>>,
    repos: tokio::sync::Mutex<HashMap<DatasetId, Arc<icechunk::Repository>>>,
}

impl std::fmt::Debug for IcechunkHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcechunkHub").field("root", &self.root.to_string()).finish_non_exhaustive()
    }
}

/// The repository configuration of new datasets.
pub fn repository_config() -> RepositoryConfig {
    let split = ManifestSplittingConfig {
        split_sizes: Some(vec![(
            ManifestSplitCondition::AnyArray,
            vec![ManifestSplitDim {
                condition: ManifestSplitDimCondition::DimensionName(TIME_DIMS.to_string()),
                num_chunks: TIME_CHUNKS_PER_MANIFEST,
            }],
        )]),
    };
    RepositoryConfig {
        manifest: Some(ManifestConfig { splitting: Some(split), ..ManifestConfig::default() }),
        ..RepositoryConfig::default()
    }
}

impl IcechunkHub {
    /// A hub rooted at `root`.
    pub fn new(root: StoreUrl, settings: HubSettings) -> Result<Self, RepoError> {
        let root_store = hub_store::object_store(&root).map_err(|e| RepoError::Invalid(e.to_string()))?;
        Ok(Self {
            root,
            root_store,
            settings,
            locks: Mutex::new(HashMap::new()),
            repos: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// A dataset's repository folder, on a local disk.
    fn folder_of(&self, dataset: &DatasetId) -> Option<std::path::PathBuf> {
        match &self.root {
            StoreUrl::File(dir) => Some(dir.join(dataset.as_str())),
            _ => None,
        }
    }

    /// Chunks a read fetches and decodes at once.
    fn read_concurrency(&self) -> usize {
        self.settings.read_concurrency.unwrap_or_else(|| match self.root {
            StoreUrl::S3 { .. } => 32,
            StoreUrl::File(_) | StoreUrl::Memory(_) => {
                2 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
            }
        })
    }

    /// The root URL.
    pub fn root(&self) -> &StoreUrl {
        &self.root
    }

    /// The object store at the root (reports, listing).
    pub fn root_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.root_store)
    }

    fn lock_for(&self, dataset: &DatasetId) -> Result<Arc<tokio::sync::Mutex<()>>, RepoError> {
        let mut locks = self.locks.lock().map_err(|_| RepoError::corrupt("lock table poisoned"))?;
        Ok(Arc::clone(locks.entry(dataset.clone()).or_default()))
    }

    /// The repository of a dataset, opened once per process (warm invocations
    /// reuse it). With `create`, a missing dataset is created.
    async fn repository(&self, dataset: &DatasetId, create: bool) -> Result<Arc<icechunk::Repository>, RepoError> {
        if let Some(repo) = self.repos.lock().await.get(dataset) {
            return Ok(Arc::clone(repo));
        }
        let storage = dataset_storage(&self.root, dataset).await?;
        // Another writer may be creating the repository at this moment: its
        // first objects exist before the last. Give it a moment, a few times.
        let mut attempt = 0;
        let repo = loop {
            match self.open_or_create(&storage, dataset, create).await {
                Ok(repo) => break repo,
                Err(RepoError::Unavailable { .. }) if attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let repo = Arc::new(repo);
        self.repos.lock().await.insert(dataset.clone(), Arc::clone(&repo));
        Ok(repo)
    }

    /// Whether a dataset exists: its repository exists and holds at least one
    /// commit beyond the one that created it (an upload rejected on its way
    /// in leaves a repository but no dataset).
    async fn open_or_create(
        &self,
        storage: &crate::storage::DynStorage,
        dataset: &DatasetId,
        create: bool,
    ) -> Result<icechunk::Repository, RepoError> {
        let exists = icechunk::Repository::exists(Arc::clone(storage), None)
            .await
            .map_err(|e| crate::error::storage(format!("checking dataset {dataset}"), e))?;
        if exists {
            return icechunk::Repository::open(Arc::clone(storage))
                .execute()
                .await
                .map_err(|e| crate::error::storage(format!("opening {dataset}"), e));
        }
        if !create {
            return Err(RepoError::NotFound(format!("dataset {dataset}")));
        }
        match icechunk::Repository::create(Arc::clone(storage)).config(repository_config()).execute().await {
            Ok(repo) => {
                repo.save_config().await.map_err(|e| crate::error::storage(format!("configuring {dataset}"), e))?;
                Ok(repo)
            }
            // Another process created it first.
            Err(_) => icechunk::Repository::open(Arc::clone(storage))
                .execute()
                .await
                .map_err(|e| crate::error::storage(format!("opening {dataset}"), e)),
        }
    }

    /// Ids under the root that could be datasets (folders or prefixes not
    /// reserved by the hub), whether or not they hold a commit.
    async fn candidates(&self) -> Result<Vec<DatasetId>, RepoError> {
        Ok(match &self.root {
            StoreUrl::Memory(name) => memory_datasets(name),
            _ => {
                let listing = self
                    .root_store
                    .list_with_delimiter(None)
                    .await
                    .map_err(|e| crate::error::storage("listing datasets", e))?;
                listing
                    .common_prefixes
                    .iter()
                    .map(|p| p.as_ref().trim_end_matches('/').to_string())
                    .filter(|name| !hub_store::layout::is_reserved(name))
                    .filter_map(|name| DatasetId::new(name).ok())
                    .collect()
            }
        })
    }

    /// What an unfinished repository holds: objects, bytes, newest write.
    async fn census(&self, id: &DatasetId) -> Result<Unfinished, RepoError> {
        let mut u = Unfinished { dataset: id.to_string(), ..Unfinished::default() };
        if matches!(self.root, StoreUrl::Memory(_)) {
            return Ok(u);
        }
        let prefix = object_store::path::Path::from(id.as_str());
        let mut newest: Option<chrono::DateTime<chrono::Utc>> = None;
        let mut listing = self.root_store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| crate::error::storage(format!("listing {id}"), e))?;
            u.objects += 1;
            u.bytes += meta.size;
            newest = newest.max(Some(meta.last_modified));
        }
        u.last_written = newest.map(|t| t.to_rfc3339());
        Ok(u)
    }

    /// Deletes a repository's every object; the caller holds its locks and
    /// has checked that it holds no commit.
    async fn erase(&self, id: &DatasetId) -> Result<(), RepoError> {
        self.repos.lock().await.remove(id);
        match &self.root {
            StoreUrl::Memory(name) => {
                crate::storage::forget_memory_dataset(name, id);
                Ok(())
            }
            StoreUrl::File(dir) => {
                let path = dir.join(id.as_str());
                match tokio::fs::remove_dir_all(&path).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(RepoError::unavailable(format!("removing the unfinished dataset {id}"), e)),
                }
            }
            StoreUrl::S3 { .. } => {
                let prefix = object_store::path::Path::from(id.as_str());
                let locations = self.root_store.list(Some(&prefix)).map_ok(|m| m.location).boxed();
                self.root_store
                    .delete_stream(locations)
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(|e| crate::error::storage(format!("removing the unfinished dataset {id}"), e))?;
                Ok(())
            }
        }
    }

    async fn is_dataset(&self, id: &DatasetId) -> Result<bool, RepoError> {
        match self.repository(id, false).await {
            Ok(repo) => has_commits(&repo).await,
            Err(RepoError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Whether the main branch has moved past the repository's first snapshot.
async fn has_commits(repo: &icechunk::Repository) -> Result<bool, RepoError> {
    let tip = repo.lookup_branch(BRANCH).await.map_err(|e| crate::error::storage("reading the branch", e))?;
    if tip == icechunk::format::snapshot::Snapshot::INITIAL_SNAPSHOT_ID {
        return Ok(false);
    }
    let info = repo.lookup_snapshot(&tip).await.map_err(|e| crate::error::storage("reading the snapshot", e))?;
    Ok(info.parent_id.is_some())
}

fn version_info(version: &Version) -> Result<VersionInfo, RepoError> {
    Ok(match version {
        Version::Latest => VersionInfo::BranchTipRef(BRANCH.to_string()),
        Version::Tag(t) => VersionInfo::TagRef(t.clone()),
        Version::Snapshot(s) => VersionInfo::SnapshotId(
            SnapshotId::try_from(s.as_str()).map_err(|e| RepoError::NotFound(format!("snapshot {s:?}: {e}")))?,
        ),
    })
}

#[async_trait]
impl Repository for IcechunkHub {
    async fn datasets(&self) -> Result<Vec<DatasetId>, RepoError> {
        let mut out = Vec::new();
        for id in self.candidates().await? {
            if self.is_dataset(&id).await? {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    async fn begin(&self, dataset: &DatasetId) -> Result<Box<dyn Transaction>, RepoError> {
        let guard = self.lock_for(dataset)?.lock_owned().await;
        let file_lock = match &self.root {
            StoreUrl::File(dir) => Some(crate::folder_lock::FolderLock::acquire(dir, dataset).await?),
            _ => None,
        };
        let repo = self.repository(dataset, true).await?;
        let session = repo
            .writable_session(BRANCH)
            .await
            .map_err(|e| crate::error::storage(format!("starting a session on {dataset}"), e))?;
        let store = Arc::new(HubStore::new(session).reading_files_in(self.folder_of(dataset)));
        Ok(Box::new(IcechunkTransaction::new(store, (guard, file_lock), self.settings.write_concurrency)))
    }

    async fn open(&self, dataset: &DatasetId, version: &Version) -> Result<Box<dyn DatasetReader>, RepoError> {
        let repo = self.repository(dataset, false).await?;
        if *version == Version::Latest && !has_commits(&repo).await? {
            return Err(RepoError::NotFound(format!("dataset {dataset}")));
        }
        let info = version_info(version)?;
        let session = repo.readonly_session(&info).await.map_err(|e| match e.kind() {
            icechunk::repository::RepositoryErrorKind::SnapshotNotFound { .. }
            | icechunk::repository::RepositoryErrorKind::FormatError(
                icechunk::format::IcechunkFormatErrorKind::SnapshotIdNotFound { .. },
            )
            | icechunk::repository::RepositoryErrorKind::Ref(_) => {
                RepoError::NotFound(format!("{dataset} at {version:?}: {e}"))
            }
            _ => crate::error::storage(format!("opening {dataset}"), e),
        })?;
        Ok(Box::new(IcechunkReader::new(
            session,
            self.settings.read_counter.clone(),
            self.settings.chunk_cache.clone(),
            self.read_concurrency(),
            self.folder_of(dataset),
        )))
    }

    async fn collect_garbage(&self, dataset: &DatasetId, policy: &GcPolicy) -> Result<GcReport, RepoError> {
        if !self.is_dataset(dataset).await? {
            return Err(RepoError::NotFound(format!("dataset {dataset}")));
        }
        // As a commit: expiry rewrites the repository's info object, which a
        // folder cannot update conditionally.
        let _guard = self.lock_for(dataset)?.lock_owned().await;
        let _file_lock = match &self.root {
            StoreUrl::File(dir) => Some(crate::folder_lock::FolderLock::acquire(dir, dataset).await?),
            _ => None,
        };
        let repo = self.repository(dataset, false).await?;
        let report = crate::upkeep::collect(&repo, dataset, policy).await;
        // Expiry rewrote snapshots this process may have cached.
        self.repos.lock().await.remove(dataset);
        report
    }

    async fn abandon(&self, dataset: &DatasetId, tx: Box<dyn Transaction>) -> Result<(), RepoError> {
        // Only where the transaction's lock keeps every other writer out.
        let locked = matches!(self.root, StoreUrl::File(_) | StoreUrl::Memory(_));
        let result = if locked && !self.is_dataset(dataset).await? {
            tracing::info!(dataset = %dataset, "removing the repository of a rejected first upload");
            self.erase(dataset).await
        } else {
            Ok(())
        };
        drop(tx);
        result
    }

    async fn unfinished(&self) -> Result<Vec<Unfinished>, RepoError> {
        let mut out = Vec::new();
        for id in self.candidates().await? {
            // Only repositories: a folder under the root that is none is
            // not the hub's to delete.
            let unfinished = match self.repository(&id, false).await {
                Ok(repo) => !has_commits(&repo).await?,
                Err(RepoError::NotFound(_)) => false,
                Err(e) => return Err(e),
            };
            if unfinished {
                out.push(self.census(&id).await?);
            }
        }
        out.sort_by(|a, b| a.dataset.cmp(&b.dataset));
        Ok(out)
    }

    async fn remove_unfinished(
        &self,
        dataset: &DatasetId,
        written_before: chrono::DateTime<chrono::Utc>,
        dry_run: bool,
    ) -> Result<Unfinished, RepoError> {
        // As a transaction would: no ingest of this dataset may start meanwhile.
        let _guard = self.lock_for(dataset)?.lock_owned().await;
        let _file_lock = match &self.root {
            StoreUrl::File(dir) => Some(crate::folder_lock::FolderLock::acquire(dir, dataset).await?),
            _ => None,
        };
        if self.is_dataset(dataset).await? {
            return Err(RepoError::Invalid(format!("{dataset} holds commits: it is a dataset, not unfinished")));
        }
        let mut found = self.census(dataset).await?;
        let old_enough = found
            .last_written
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_none_or(|t| t.with_timezone(&chrono::Utc) < written_before);
        if old_enough {
            if !dry_run {
                self.erase(dataset).await?;
            }
            found.removed = true;
        }
        Ok(found)
    }

    async fn history(&self, dataset: &DatasetId, limit: usize) -> Result<Vec<CommitInfo>, RepoError> {
        let repo = self.repository(dataset, false).await?;
        let stream = repo
            .ancestry(&VersionInfo::BranchTipRef(BRANCH.to_string()))
            .await
            .map_err(|e| crate::error::storage(format!("history of {dataset}"), e))?;
        stream
            .take(limit)
            .map_ok(|info| CommitInfo {
                snapshot_id: info.id.to_string(),
                committed_at: info.flushed_at.to_rfc3339(),
                message: info.message,
                properties: info.metadata.into_iter().collect(),
            })
            .map_err(|e| crate::error::storage(format!("history of {dataset}"), e))
            .try_collect()
            .await
    }
}
