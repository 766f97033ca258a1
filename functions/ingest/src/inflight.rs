//! Uploads being ingested from the queue, so that a later receive of the same
//! message can tell an attempt that died from one that failed and said so.
//!
//! SQS delivers a message again when its visibility runs out: after a
//! transient failure the handler reported (storage trouble: retrying is
//! right), or after the function itself stopped part way — a time-out, the
//! process running out of memory. The second kind must not be tried again
//! and again while the uploads behind it in its dataset's group wait: a
//! marker written before the ingest and deleted after it tells them apart.
//! Found on a later receive and older than the function may run, it means
//! the earlier attempt died on this very upload: it is reported as failed,
//! sent to the dead-letter queue and acknowledged, and its group goes on.
//! Younger than that, the earlier attempt may still be running (a visibility
//! that ran out under throttling): the message is left for later.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path};
use serde::{Deserialize, Serialize};

use hub_store::events::QueuedUpload;

/// Where the markers live, under the hub root.
const PREFIX: &str = "_reports/inflight";

/// What a marker says about the attempt that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
    /// The upload's dataset.
    pub dataset: String,
    /// The upload's key.
    pub key: String,
    /// How many times SQS had delivered the message then.
    pub receive_count: u32,
}

/// The markers of one hub.
pub struct InFlight {
    store: Arc<dyn ObjectStore>,
    /// The longest an attempt may run (the function's time-out).
    max_run: Duration,
}

/// What a message's marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Earlier {
    /// No earlier attempt was cut short.
    None,
    /// An earlier attempt may still be running.
    Running(Marker),
    /// An earlier attempt died on this upload.
    Died(Marker),
}

impl InFlight {
    /// Markers under the hub root `store`; attempts run at most `max_run`.
    pub fn new(store: Arc<dyn ObjectStore>, max_run: Duration) -> Self {
        Self { store, max_run }
    }

    fn path(message_id: &str) -> Path {
        // Message ids are UUIDs; anything else is made safe for a key.
        let safe: String =
            message_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        Path::from(format!("{PREFIX}/{safe}.json"))
    }

    /// What an earlier receive of `message_id` left, at `now`.
    pub async fn earlier(&self, message_id: &str, now: DateTime<Utc>) -> Result<Earlier, object_store::Error> {
        let bytes = match self.store.get(&Self::path(message_id)).await {
            Ok(got) => got.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(Earlier::None),
            Err(e) => return Err(e),
        };
        // A marker that does not parse is treated as a dead attempt of long ago.
        let marker = serde_json::from_slice::<Marker>(&bytes).unwrap_or(Marker {
            started_at: DateTime::<Utc>::MIN_UTC,
            dataset: String::new(),
            key: String::new(),
            receive_count: 0,
        });
        let age = now.signed_duration_since(marker.started_at).to_std().unwrap_or(Duration::ZERO);
        Ok(if age > self.max_run { Earlier::Died(marker) } else { Earlier::Running(marker) })
    }

    /// Records that an attempt at `item` starts now.
    pub async fn start(
        &self,
        message_id: &str,
        item: &QueuedUpload,
        receive_count: u32,
    ) -> Result<(), object_store::Error> {
        let marker = Marker {
            started_at: Utc::now(),
            dataset: item.dataset.clone(),
            key: item.upload.key.clone(),
            receive_count,
        };
        // A marker is a few plain fields: serializing it cannot fail, and if
        // it ever did, an unreadable marker is treated as no marker (`earlier`).
        let body = serde_json::to_vec(&marker).unwrap_or_default();
        self.store.put(&Self::path(message_id), PutPayload::from(body)).await.map(|_| ())
    }

    /// The attempt ended (whatever its outcome).
    pub async fn finish(&self, message_id: &str) {
        match self.store.delete(&Self::path(message_id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(message_id, error = %e, "the in-flight marker was not deleted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_store::events::UploadRef;

    #[tokio::test]
    async fn a_marker_left_longer_than_an_attempt_runs_means_it_died() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let f = InFlight::new(store, Duration::from_secs(900));
        let item = QueuedUpload {
            dataset: "radar".into(),
            upload: UploadRef { bucket: "b".into(), key: "radar/x.tif".into(), size: Some(1), etag: None },
        };
        let now = Utc::now();
        assert_eq!(f.earlier("m-1", now).await.ok(), Some(Earlier::None));
        f.start("m-1", &item, 1).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(f.earlier("m-1", now).await, Ok(Earlier::Running(_))));
        let later = now + chrono::Duration::seconds(901);
        let Ok(Earlier::Died(m)) = f.earlier("m-1", later).await else { panic!("not dead") };
        assert_eq!((m.dataset.as_str(), m.key.as_str(), m.receive_count), ("radar", "radar/x.tif", 1));
        f.finish("m-1").await;
        assert_eq!(f.earlier("m-1", later).await.ok(), Some(Earlier::None));
    }
}
