//! The handler: each upload of an event is fetched, ingested and reported.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use hub_core::ingest::{
    ChunkPolicy, DatasetConfig, DatasetRule, IngestService, IngestSettings, IngestStatus, NoProgress,
    RegionFileSettings, RejectionKind, SourceInfo,
};
use hub_core::ports::{DecodeLimits, DecoderRegistry, RegionStore};
use hub_core::regions::{RegionSet, RegionSetId};
use hub_gdal::regions::{RegionFileOptions, read_region_file};
use hub_store::{FetchError, ObjectStoreRegions, ObjectStoreReports, StoreUrl};
use hub_zarr::{HubSettings, IcechunkHub};
use object_store::ObjectStore;
use serde::Serialize;

use hub_store::events::{QueuedUpload, UploadRef, uploads};
use hub_store::queue::{IngestQueue, SqsQueue};

use crate::inflight::{Earlier, InFlight, Marker};

/// A failure that should make Lambda try the event again.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} uploads failed transiently; first: {first}")]
pub struct RetryableError {
    /// How many failed.
    pub failed: usize,
    /// How many there were.
    pub total: usize,
    /// The first failure.
    pub first: String,
}

/// What happened to one upload.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Dataset.
    pub dataset: Option<String>,
    /// `committed`, `duplicate` or `rejected`.
    pub status: IngestStatus,
    /// New snapshot, when committed.
    pub snapshot_id: Option<String>,
    /// Why, when rejected.
    pub error: Option<String>,
}

/// The response of an invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// One outcome per upload.
    pub results: Vec<Outcome>,
}

/// Configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Hub root (`HUB_REPO`, e.g. `s3://hub-repository/hub`).
    pub repo: StoreUrl,
    /// Dataset naming (`HUB_DATASET` or `HUB_DATASET_PATTERN`, else the default rule).
    pub rule: DatasetRule,
    /// Chunking and compression (`HUB_COMPRESSION`, `HUB_CHUNK_MIB`).
    pub policy: ChunkPolicy,
    /// Where uploads are staged (`HUB_STAGING_DIR`, default the temp dir, `/tmp` on Lambda).
    pub staging: PathBuf,
    /// The decoders: each file in a child process ([`crate::isolated_decoders`]).
    pub decoders: DecoderRegistry,
    /// What one file may declare ([`crate::limits_from_env`]).
    pub limits: DecodeLimits,
    /// The longest an ingest may run (`HUB_INGEST_TIMEOUT_SECONDS`, default
    /// 900: the function's time-out); a queued upload whose earlier attempt
    /// began longer ago than this and never finished died on it.
    pub max_run: Duration,
    /// The ingest queue's dead-letter queue (`HUB_INGEST_DLQ_URL`), where
    /// uploads an attempt died on are sent; `None`: reported only.
    pub dead_letters: Option<String>,
}

impl Config {
    /// Reads the environment. A variable that is set but unusable stops
    /// the function's start with its name and what it should be.
    pub fn from_env() -> Result<Self, ConfigError> {
        use hub_core::settings::{checked, parsed, text};
        let repo = StoreUrl::repo_from_env()?;
        let rule = DatasetRule::from_env()?;
        let mut policy = ChunkPolicy::default();
        if let Some(c) = checked("HUB_COMPRESSION", "a compression such as zstd:3 or none", |c| c.parse().ok())? {
            policy.compression = c;
        }
        if let Some(mib) = checked("HUB_CHUNK_MIB", "a positive number of MiB", |m| {
            m.parse::<f64>().ok().filter(|m| m.is_finite() && *m > 0.0)
        })? {
            policy.target_chunk_bytes = (mib * 1024.0 * 1024.0) as u64;
        }
        let staging = text("HUB_STAGING_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let decoders = crate::isolated_decoders(None)?;
        let limits = crate::limits_from_env()?;
        let max_run =
            Duration::from_secs(parsed("HUB_INGEST_TIMEOUT_SECONDS", "a whole number of seconds")?.unwrap_or(900));
        let dead_letters = text("HUB_INGEST_DLQ_URL");
        Ok(Self { repo, rule, policy, staging, decoders, limits, max_run, dead_letters })
    }
}

/// A setting the function cannot start with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable that is missing or unusable.
    #[error(transparent)]
    Env(#[from] hub_core::settings::EnvError),
    /// The decoders cannot be set up.
    #[error(transparent)]
    Decoders(#[from] hub_decoders::SetupError),
}

/// Built once per container and reused by warm invocations.
pub struct Handler {
    service: IngestService,
    /// The hub root, where the dataset configuration lives.
    root: Arc<dyn ObjectStore>,
    rule: DatasetRule,
    staging: PathBuf,
    buckets: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
    inflight: InFlight,
    dead_letters: Option<String>,
    dead_letter_queue: tokio::sync::OnceCell<SqsQueue>,
}

impl Handler {
    /// Builds the hub, its decoders and report sink.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let hub = Arc::new(IcechunkHub::new(config.repo, HubSettings::default())?);
        let reports = Arc::new(ObjectStoreReports::new(hub.root_store()));
        let root = hub.root_store();
        // The region series of the sets attached to each dataset are updated
        // by the ingest's own commit.
        let derivations = Arc::new(hub_core::derived::Configured {
            store: Arc::new(hub_store::ObjectStoreRegions::new(hub.root_store())),
            projections: Arc::new(hub_http::projection::Proj4Projections),
        });
        let service = IngestService::new(
            config.decoders,
            hub,
            reports,
            IngestSettings { policy: config.policy, limits: config.limits, ..IngestSettings::default() },
        )
        .with_derivations(derivations);
        std::fs::create_dir_all(&config.staging)?;
        let inflight = InFlight::new(Arc::clone(&root), config.max_run);
        Ok(Self {
            service,
            root,
            rule: config.rule,
            staging: config.staging,
            buckets: Mutex::new(HashMap::new()),
            inflight,
            dead_letters: config.dead_letters,
            dead_letter_queue: tokio::sync::OnceCell::new(),
        })
    }

    fn bucket(&self, name: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let mut buckets = self.buckets.lock().map_err(|_| anyhow::anyhow!("bucket cache poisoned"))?;
        if let Some(b) = buckets.get(name) {
            return Ok(Arc::clone(b));
        }
        let store = hub_store::object_store(&StoreUrl::S3 { bucket: name.to_string(), prefix: String::new() })?;
        buckets.insert(name.to_string(), Arc::clone(&store));
        Ok(store)
    }

    /// Handles one event. Permanent failures are reported and acknowledged;
    /// transient ones make the whole event fail, so Lambda retries it (uploads
    /// already committed are then recognised as duplicates).
    /// Read for every event, so a changed configuration applies at once.
    async fn datasets(&self) -> Result<DatasetConfig, hub_store::ConfigStoreError> {
        match hub_store::load_dataset_config(&self.root).await {
            Ok(c) => Ok(c),
            Err(hub_store::ConfigStoreError::Invalid(e)) => {
                tracing::error!(error = %e, "the dataset configuration is invalid: ingesting with the default rules");
                Ok(DatasetConfig::default())
            }
            Err(e) => Err(e),
        }
    }

    /// Ingests the uploads of a batch from the ingest queue (SQS FIFO, one
    /// message group per dataset, in order). A transient failure fails that
    /// message and every later one of the batch, so SQS redelivers them in
    /// the same order; permanent failures are reported and acknowledged. An
    /// upload an earlier attempt died on (see [`crate::inflight`]) is
    /// reported, sent to the dead-letter queue and acknowledged: it is tried
    /// once, and never holds its group up again.
    pub async fn handle_queue(&self, event: SqsEvent) -> SqsBatchResponse {
        let ids: Vec<String> = event.records.iter().map(|r| r.message_id.clone().unwrap_or_default()).collect();
        let fail_from = |i: usize| {
            let mut response = SqsBatchResponse::default();
            for id in &ids[i..] {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier.clone_from(id);
                response.batch_item_failures.push(failure);
            }
            response
        };
        let datasets = match self.datasets().await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "the dataset configuration cannot be read: the batch is retried");
                return fail_from(0);
            }
        };
        for (i, record) in event.records.iter().enumerate() {
            let body = record.body.as_deref().unwrap_or("");
            let item: QueuedUpload = match serde_json::from_str(body) {
                Ok(item) => item,
                Err(e) => {
                    tracing::error!(error = %e, body, "a message that is not a queued upload: dropped");
                    continue;
                }
            };
            let id = record.message_id.clone().unwrap_or_default();
            let receives: u32 =
                record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
            match self.inflight.earlier(&id, chrono::Utc::now()).await {
                Ok(Earlier::None) => {}
                Ok(Earlier::Died(marker)) => {
                    if let Err(e) = self.set_aside(&item, &marker, receives).await {
                        tracing::error!(key = %item.upload.key, error = %e, "an upload an attempt died on could not be set aside: retried");
                        return fail_from(i);
                    }
                    self.inflight.finish(&id).await;
                    continue;
                }
                Ok(Earlier::Running(marker)) => {
                    tracing::warn!(key = %item.upload.key, started = %marker.started_at, "an earlier attempt may still be running: left for later");
                    return fail_from(i);
                }
                Err(e) => {
                    tracing::error!(error = %e, "the in-flight markers cannot be read: retried");
                    return fail_from(i);
                }
            }
            if let Err(e) = self.inflight.start(&id, &item, receives).await {
                tracing::error!(error = %e, "the in-flight marker cannot be written: retried");
                return fail_from(i);
            }
            let result = self.one(&item.upload, &datasets).await;
            self.inflight.finish(&id).await;
            match result {
                Ok(outcome) => {
                    tracing::info!(key = %outcome.key, status = ?outcome.status, dataset = ?outcome.dataset, "ingested from the queue")
                }
                Err(e) => {
                    tracing::error!(key = %item.upload.key, error = %e, "transient failure: this and the later messages are retried");
                    return fail_from(i);
                }
            }
        }
        SqsBatchResponse::default()
    }

    /// An upload an earlier attempt died on: a failed report, the
    /// dead-letter queue when there is one, then acknowledged.
    async fn set_aside(&self, item: &QueuedUpload, marker: &Marker, receives: u32) -> anyhow::Result<()> {
        let source = SourceInfo {
            bucket: Some(item.upload.bucket.clone()),
            key: item.upload.key.clone(),
            etag: item.upload.etag.clone(),
            size: item.upload.size.unwrap_or(0),
        };
        let message = format!(
            "an earlier attempt at this upload (started {}, delivery {receives}) stopped before it finished: the function timed out or ran out of memory on it. It is not tried again{}; ingest it by hand (hub ingest) or give the ingest function more time or memory (IngestTimeout, IngestMemorySize)",
            marker.started_at.to_rfc3339(),
            if self.dead_letters.is_some() { " and went to the dead-letter queue" } else { "" }
        );
        self.service.record_rejection(&item.dataset, source, RejectionKind::IngestDied, message).await?;
        if let Some(url) = &self.dead_letters {
            let queue = self.dead_letter_queue.get_or_init(|| SqsQueue::from_env(url.clone())).await;
            queue.send(item).await?;
        }
        tracing::error!(key = %item.upload.key, dataset = %item.dataset, "an attempt died on this upload: set aside");
        Ok(())
    }

    /// Ingests the uploads of an S3 event.
    pub async fn handle(&self, event: S3Event) -> Result<Response, RetryableError> {
        let (uploads, bad) = uploads(&event);
        for e in &bad {
            tracing::warn!(error = %e, "unusable record skipped");
        }
        let total = uploads.len();
        let datasets = match self.datasets().await {
            Ok(d) => d,
            Err(e) => return Err(RetryableError { failed: total, total, first: e.to_string() }),
        };
        let mut results = Vec::with_capacity(total);
        let mut transient = Vec::new();
        for upload in uploads {
            match self.one(&upload, &datasets).await {
                Ok(outcome) => results.push(outcome),
                Err(e) => {
                    tracing::error!(bucket = %upload.bucket, key = %upload.key, error = %e, "transient failure, the event will be retried");
                    transient.push(format!("{}: {e:#}", upload.key));
                }
            }
        }
        if let Some(first) = transient.first() {
            return Err(RetryableError { failed: transient.len(), total, first: first.clone() });
        }
        Ok(Response { results })
    }

    async fn one(&self, upload: &UploadRef, datasets: &DatasetConfig) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            dataset: None,
            status: IngestStatus::Rejected,
            snapshot_id: None,
            error: None,
        };
        let source = SourceInfo {
            bucket: Some(upload.bucket.clone()),
            key: upload.key.clone(),
            etag: upload.etag.clone(),
            size: upload.size.unwrap_or(0),
        };
        if let Some((set, settings)) = datasets.region_upload(&upload.key) {
            return self.register(upload, source, set, settings, datasets, outcome).await;
        }
        let resolved = match datasets.resolve(&upload.key, &self.rule) {
            Ok(r) => r,
            Err(e) => {
                let report = self
                    .service
                    .record_rejection("_unassigned", source, RejectionKind::DatasetRule, e.to_string())
                    .await?;
                outcome.error = report.error.map(|e| e.message);
                return Ok(outcome);
            }
        };
        let dataset = resolved.dataset;
        outcome.dataset = Some(dataset.to_string());
        let Some(staged) = self.stage(upload, source, dataset.as_str(), &mut outcome).await? else {
            return Ok(outcome);
        };
        let report =
            self.service.ingest_with(&dataset, &staged.upload, &resolved.options, Arc::new(NoProgress)).await?;
        outcome.status = report.status;
        outcome.snapshot_id = report.snapshot_id.clone();
        outcome.error = report.error.map(|e| e.message);
        Ok(outcome)
    }
}

impl Handler {
    /// Fetches the upload to the staging folder; an object deleted or
    /// replaced since the event is a reported rejection (`None`, the outcome
    /// says why).
    async fn stage(
        &self,
        upload: &UploadRef,
        source: SourceInfo,
        report_as: &str,
        outcome: &mut Outcome,
    ) -> anyhow::Result<Option<hub_store::Staged>> {
        let store = self.bucket(&upload.bucket)?;
        match hub_store::stage_object(
            store.as_ref(),
            Some(&upload.bucket),
            &upload.key,
            upload.etag.as_deref(),
            &self.staging,
        )
        .await
        {
            Ok(s) => Ok(Some(s)),
            Err(e @ (FetchError::NotFound(_) | FetchError::Superseded { .. })) => {
                let kind =
                    if matches!(e, FetchError::NotFound(_)) { RejectionKind::Gone } else { RejectionKind::Superseded };
                let report = self.service.record_rejection(report_as, source, kind, e.to_string()).await?;
                outcome.error = report.error.map(|e| e.message);
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A region file: read (any CRS, through OGR and PROJ), checked, stored
    /// as the set, and the series of the datasets it is attached to
    /// backfilled, each in one commit. A file that is not a valid set is a
    /// reported rejection naming the feature.
    async fn register(
        &self,
        upload: &UploadRef,
        source: SourceInfo,
        set: RegionSetId,
        settings: RegionFileSettings,
        datasets: &DatasetConfig,
        mut outcome: Outcome,
    ) -> anyhow::Result<Outcome> {
        const GROUP: &str = "_regions";
        outcome.dataset = Some(format!("{GROUP}/{set}"));
        let Some(staged) = self.stage(upload, source.clone(), GROUP, &mut outcome).await? else {
            return Ok(outcome);
        };
        let hint = settings.id_field.as_ref().map(|f| format!(" in field {f:?}"));
        let options =
            RegionFileOptions { id_field: settings.id_field, name_field: settings.name_field, crs: settings.crs };
        let path = staged.upload.path.clone();
        let read = tokio::task::spawn_blocking(move || read_region_file(&path, &options)).await?;
        let built = read
            .map_err(|e| hub_core::error_chain(&e))
            .and_then(|features| RegionSet::build(set.clone(), features, hint.as_deref()).map_err(|e| e.to_string()));
        let region_set = match built {
            Ok(s) => s,
            Err(message) => {
                let report = self.service.record_rejection(GROUP, source, RejectionKind::Invalid, message).await?;
                outcome.error = report.error.map(|e| e.message);
                return Ok(outcome);
            }
        };
        let regions = Arc::new(ObjectStoreRegions::new(Arc::clone(&self.root)));
        regions.put(&region_set).await?;
        let attached = datasets.attached_to(&set);
        let done = hub_core::regions::series::backfill_set(
            regions,
            self.service.repository().as_ref(),
            Arc::new(hub_http::projection::Proj4Projections),
            &set,
            &attached,
        )
        .await?;
        for b in &done {
            tracing::info!(set = %set, dataset = %b.dataset, snapshot = ?b.snapshot, "region series backfilled");
        }
        outcome.status = IngestStatus::Committed;
        outcome.snapshot_id = done.iter().find_map(|b| b.snapshot.clone());
        Ok(outcome)
    }
}

impl From<RetryableError> for lambda_runtime::Diagnostic {
    fn from(e: RetryableError) -> Self {
        Self { error_type: "hub.TransientIngestFailure".into(), error_message: e.to_string() }
    }
}
