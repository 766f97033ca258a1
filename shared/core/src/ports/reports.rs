//! The report port: where ingest reports go.

use async_trait::async_trait;

use crate::model::IngestReport;

/// Why a report could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("cannot store the ingest report: {message}")]
pub struct ReportError {
    /// What failed.
    pub message: String,
    /// The cause.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Stores ingest reports (successes, duplicates, failures) for users and tools.
#[async_trait]
pub trait ReportSink: Send + Sync {
    /// Stores a report and says where it went.
    async fn record(&self, report: &IngestReport) -> Result<String, ReportError>;
}
