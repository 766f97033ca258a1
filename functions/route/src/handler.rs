//! Routing one S3 event: each upload to its dataset's message group (a
//! region file under `regions/` to the region sets' group).

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use hub_core::ingest::{DatasetConfig, DatasetRule, IngestReport, RejectionKind, SourceInfo};
use hub_core::ports::ReportSink;
use hub_store::events::{UploadRef, uploads};
use hub_store::{ObjectStoreReports, StoreUrl};
use object_store::ObjectStore;
use serde::Serialize;

use crate::queue::{IngestQueue, QueueError, QueuedUpload};

/// The message group of region-set uploads (not a dataset id: those never start with `_`).
pub const REGIONS_GROUP: &str = "_regions";

/// Settings from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The hub root.
    pub repo: StoreUrl,
    /// The naming when no configuration rule matches.
    pub rule: DatasetRule,
    /// The FIFO queue's URL.
    pub queue_url: String,
}

impl Config {
    /// Reads `HUB_REPO`, `HUB_INGEST_QUEUE_URL`, `HUB_DATASET`, `HUB_DATASET_PATTERN`.
    pub fn from_env() -> Result<Self, hub_core::settings::EnvError> {
        let repo = StoreUrl::repo_from_env()?;
        let queue_url = hub_core::settings::required("HUB_INGEST_QUEUE_URL", "the ingest FIFO queue's URL")?;
        Ok(Self { repo, rule: DatasetRule::from_env()?, queue_url })
    }
}

/// What happened to one upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Routed {
    /// The key.
    pub key: String,
    /// Its dataset, when one could be named.
    pub dataset: Option<String>,
    /// Why it was not queued (a rejection report was written).
    pub error: Option<String>,
}

/// The function's state across invocations.
pub struct Handler {
    root: Arc<dyn ObjectStore>,
    reports: ObjectStoreReports,
    rule: DatasetRule,
    queue: Arc<dyn IngestQueue>,
}

impl Handler {
    /// A handler over the hub at `repo` and a queue.
    pub fn new(repo: &StoreUrl, rule: DatasetRule, queue: Arc<dyn IngestQueue>) -> anyhow::Result<Self> {
        let root = hub_store::object_store(repo)?;
        Ok(Self { reports: ObjectStoreReports::new(Arc::clone(&root)), root, rule, queue })
    }

    /// Routes every upload of the event. An error (the queue or the
    /// configuration's storage unreachable) fails the invocation so Lambda
    /// retries it; uploads already queued are dropped by SQS as duplicates.
    pub async fn handle(&self, event: S3Event) -> Result<Vec<Routed>, QueueError> {
        let (ups, bad) = uploads(&event);
        for e in &bad {
            tracing::warn!(error = %e, "unusable record skipped");
        }
        self.route(ups).await
    }

    /// Routes uploads (from an S3 notification or an EventBridge event).
    pub async fn route(&self, ups: Vec<UploadRef>) -> Result<Vec<Routed>, QueueError> {
        let config = match hub_store::load_dataset_config(&self.root).await {
            Ok(c) => c,
            Err(hub_store::ConfigStoreError::Invalid(e)) => {
                tracing::error!(error = %e, "the dataset configuration is invalid: routing with the default rules");
                DatasetConfig::default()
            }
            Err(e) => return Err(QueueError { key: "(configuration)".into(), message: e.to_string() }),
        };
        let mut out = Vec::with_capacity(ups.len());
        for upload in ups {
            // A region file registers a set: its own message group, in order.
            if config.region_upload(&upload.key).is_some() {
                let item = QueuedUpload { dataset: REGIONS_GROUP.to_string(), upload };
                self.queue.send(&item).await?;
                tracing::info!(key = %item.upload.key, "queued (region set)");
                out.push(Routed { key: item.upload.key, dataset: Some(item.dataset), error: None });
                continue;
            }
            match config.resolve(&upload.key, &self.rule) {
                Ok(resolved) => {
                    let item = QueuedUpload { dataset: resolved.dataset.to_string(), upload };
                    self.queue.send(&item).await?;
                    tracing::info!(key = %item.upload.key, dataset = %item.dataset, "queued");
                    out.push(Routed { key: item.upload.key, dataset: Some(item.dataset), error: None });
                }
                Err(e) => {
                    let source = SourceInfo {
                        bucket: Some(upload.bucket.clone()),
                        key: upload.key.clone(),
                        etag: upload.etag.clone(),
                        size: upload.size.unwrap_or(0),
                    };
                    let report = IngestReport::rejection(
                        "_unassigned",
                        source,
                        RejectionKind::DatasetRule.as_str(),
                        e.to_string(),
                    );
                    self.reports
                        .record(&report)
                        .await
                        .map_err(|r| QueueError { key: upload.key.clone(), message: r.to_string() })?;
                    out.push(Routed { key: upload.key, dataset: None, error: Some(e.to_string()) });
                }
            }
        }
        Ok(out)
    }
}
