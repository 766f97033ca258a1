//! The ingest queue: a port (so the routing is tested against any queue) and
//! its SQS FIFO adapter. The route function sends uploads to it; the ingest
//! function sends the uploads an earlier attempt died on to its dead-letter
//! queue, through the same adapter.

pub use crate::events::QueuedUpload;
use async_trait::async_trait;

/// Why a message could not be queued. Always transient for the caller: the
/// event is retried by Lambda.
#[derive(Debug, thiserror::Error)]
#[error("queueing {key}: {message}")]
pub struct QueueError {
    /// The upload's key.
    pub key: String,
    /// What failed.
    pub message: String,
}

/// Where routed uploads go.
#[async_trait]
pub trait IngestQueue: Send + Sync {
    /// Queues one upload in its dataset's group.
    async fn send(&self, item: &QueuedUpload) -> Result<(), QueueError>;
}

/// An SQS FIFO queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`, with the standard AWS configuration (region,
    /// credentials, `AWS_ENDPOINT_URL` for an SQS-compatible test server).
    pub async fn from_env(url: String) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self { client: aws_sdk_sqs::Client::new(&config), url }
    }
}

#[async_trait]
impl IngestQueue for SqsQueue {
    async fn send(&self, item: &QueuedUpload) -> Result<(), QueueError> {
        let body = serde_json::to_string(item)
            .map_err(|e| QueueError { key: item.upload.key.clone(), message: e.to_string() })?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_group_id(&item.dataset)
            .message_deduplication_id(item.dedup_id())
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError {
                key: item.upload.key.clone(),
                message: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::UploadRef;

    fn item(etag: &str) -> QueuedUpload {
        QueuedUpload {
            dataset: "radar".into(),
            upload: UploadRef { bucket: "b".into(), key: "radar/x.tif".into(), size: Some(3), etag: Some(etag.into()) },
        }
    }

    #[test]
    fn the_same_object_version_has_the_same_dedup_id() {
        assert_eq!(item("a").dedup_id(), item("a").dedup_id());
        assert_ne!(item("a").dedup_id(), item("b").dedup_id());
        assert_eq!(item("a").dedup_id().len(), 64, "SQS takes at most 128 characters");
        let json = serde_json::to_string(&item("a")).unwrap_or_default();
        let back: QueuedUpload = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, item("a"));
    }
}
