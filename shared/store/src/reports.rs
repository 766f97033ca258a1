//! Ingest reports as JSON objects beside the datasets:
//! `_reports/{ok|duplicate|failed}/<dataset>/<YYYY-MM-DD>/<time>-<id>.json`.
//! Failures have their own prefix so a lifecycle rule can expire them apart.

use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use hub_core::ingest::{IngestReport, IngestStatus};
use hub_core::ports::{ReportError, ReportSink};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path as ObjectPath};
use sha2::{Digest, Sha256};

use crate::layout::REPORTS_PREFIX;

/// Stores reports in an object store rooted at the hub.
#[derive(Debug, Clone)]
pub struct ObjectStoreReports {
    store: Arc<dyn ObjectStore>,
}

impl ObjectStoreReports {
    /// Reports under the hub root `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// The key a report is stored under.
    pub fn key_for(report: &IngestReport) -> String {
        let status = match report.status {
            IngestStatus::Committed => "ok",
            IngestStatus::Duplicate => "duplicate",
            IngestStatus::Rejected => "failed",
        };
        let day = report.started_at.get(..10).unwrap_or("unknown");
        let time: String = report.started_at.get(11..23).unwrap_or("").chars().filter(char::is_ascii_digit).collect();
        let mut h = Sha256::new();
        h.update(report.source.key.as_bytes());
        h.update(report.source.etag.as_deref().unwrap_or("").as_bytes());
        h.update(report.started_at.as_bytes());
        let id = hex::encode(&h.finalize()[..6]);
        format!("{REPORTS_PREFIX}/{status}/{}/{day}/{time}-{id}.json", report.dataset)
    }

    /// Reads back the reports under `prefix` (e.g. `_reports/failed`), newest key last.
    pub async fn list(&self, prefix: &str) -> Result<Vec<IngestReport>, ReportError> {
        let metas: Vec<_> = self
            .store
            .list(Some(&ObjectPath::from(prefix)))
            .try_collect()
            .await
            .map_err(|e| ReportError { message: format!("listing {prefix}"), source: Some(Box::new(e)) })?;
        let mut out = Vec::with_capacity(metas.len());
        let mut locations: Vec<_> = metas.into_iter().map(|m| m.location).collect();
        locations.sort();
        for location in locations {
            let bytes = self
                .store
                .get(&location)
                .await
                .map_err(|e| ReportError { message: format!("reading {location}"), source: Some(Box::new(e)) })?
                .bytes()
                .await
                .map_err(|e| ReportError { message: format!("reading {location}"), source: Some(Box::new(e)) })?;
            match serde_json::from_slice(&bytes) {
                Ok(report) => out.push(report),
                Err(e) => tracing::warn!(%location, error = %e, "unreadable report skipped"),
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ReportSink for ObjectStoreReports {
    async fn record(&self, report: &IngestReport) -> Result<String, ReportError> {
        let key = Self::key_for(report);
        let body = serde_json::to_vec_pretty(report)
            .map_err(|e| ReportError { message: "serialising the report".into(), source: Some(Box::new(e)) })?;
        self.store
            .put(&ObjectPath::from(key.as_str()), PutPayload::from(body))
            .await
            .map_err(|e| ReportError { message: format!("writing {key}"), source: Some(Box::new(e)) })?;
        Ok(key)
    }
}
