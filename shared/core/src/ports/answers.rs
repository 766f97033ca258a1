//! Where answers too large to return in one response are left for the
//! client: Lambda returns at most 6 MB from a buffered invocation, so a
//! larger answer is stored and the client is redirected to a time-limited
//! URL of it.

use async_trait::async_trait;

/// Why an answer could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("storing a large answer failed: {0}")]
pub struct AnswerStoreError(pub String);

/// A place for large answers.
#[async_trait]
pub trait LargeAnswers: Send + Sync {
    /// Stores `body` and returns a URL where it can be fetched without
    /// credentials for a limited time. `extension` names the format (`json`,
    /// `csv`, `nc`).
    async fn publish(&self, body: Vec<u8>, content_type: &str, extension: &str) -> Result<String, AnswerStoreError>;
}
