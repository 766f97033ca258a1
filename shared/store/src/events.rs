//! S3 event notifications into uploads: shared by the function that routes
//! uploads to their dataset's queue and the one that ingests them.

use aws_lambda_events::event::s3::S3Event;
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};

/// One uploaded object named by an event (also the body of a queued upload).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadRef {
    /// Bucket.
    pub bucket: String,
    /// Key, URL-decoded.
    pub key: String,
    /// Size in bytes, when the event gives it.
    pub size: Option<u64>,
    /// ETag, unquoted, when the event gives it.
    pub etag: Option<String>,
}

/// One upload on its way to its dataset.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueuedUpload {
    /// The dataset it was routed to (the message group).
    pub dataset: String,
    /// The upload.
    pub upload: UploadRef,
}

impl QueuedUpload {
    /// The deduplication id: the same object version, the same id.
    pub fn dedup_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.upload.bucket.as_bytes());
        h.update([0]);
        h.update(self.upload.key.as_bytes());
        h.update([0]);
        h.update(self.upload.etag.as_deref().unwrap_or("").as_bytes());
        hex::encode(h.finalize())
    }
}

/// Why a record cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// A field the hub needs is missing.
    #[error("record {index}: no {field}")]
    Missing {
        /// Record index.
        index: usize,
        /// Missing field.
        field: &'static str,
    },
    /// The key is not valid percent-encoded UTF-8.
    #[error("record {index}: key {key:?} is not valid URL-encoded UTF-8")]
    BadKey {
        /// Record index.
        index: usize,
        /// The raw key.
        key: String,
    },
}

/// Decodes a key as S3 event notifications encode it: form encoding, `+` for
/// spaces and `%XX` for other bytes.
pub fn decode_key(raw: &str) -> Option<String> {
    let plus = raw.replace('+', " ");
    percent_decode_str(&plus).decode_utf8().ok().map(|s| s.into_owned())
}

/// The uploads of an event: `ObjectCreated` records only (others are ignored,
/// with their index in the second list).
pub fn uploads(event: &S3Event) -> (Vec<UploadRef>, Vec<EventError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (index, record) in event.records.iter().enumerate() {
        if let Some(name) = &record.event_name
            && !name.starts_with("ObjectCreated:")
        {
            tracing::info!(index, event = %name, "record ignored: not an ObjectCreated event");
            continue;
        }
        let Some(bucket) = record.s3.bucket.name.clone() else {
            bad.push(EventError::Missing { index, field: "bucket name" });
            continue;
        };
        let Some(raw) = record.s3.object.key.as_deref() else {
            bad.push(EventError::Missing { index, field: "object key" });
            continue;
        };
        let Some(key) = decode_key(raw) else {
            bad.push(EventError::BadKey { index, key: raw.to_string() });
            continue;
        };
        ok.push(UploadRef {
            bucket,
            key,
            size: record.s3.object.size.and_then(|s| u64::try_from(s).ok()),
            etag: record.s3.object.e_tag.as_deref().map(crate::unquote).filter(|e| !e.is_empty()),
        });
    }
    (ok, bad)
}

/// The upload of an EventBridge `Object Created` event from S3 (buckets with
/// EventBridge notifications on: how the hub listens to a bucket it does not
/// own). Its keys are not URL-encoded. `None` for any other event.
pub fn from_eventbridge(event: &serde_json::Value) -> Option<UploadRef> {
    if event.get("source")?.as_str()? != "aws.s3" || event.get("detail-type")?.as_str()? != "Object Created" {
        return None;
    }
    let detail = event.get("detail")?;
    Some(UploadRef {
        bucket: detail.pointer("/bucket/name")?.as_str()?.to_string(),
        key: detail.pointer("/object/key")?.as_str()?.to_string(),
        size: detail.pointer("/object/size").and_then(serde_json::Value::as_u64),
        etag: detail
            .pointer("/object/etag")
            .and_then(serde_json::Value::as_str)
            .map(crate::unquote)
            .filter(|e| !e.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventbridge_object_created_events_name_their_upload() {
        let e = serde_json::json!({
            "version": "0", "detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "up"}, "object": {"key": "radar/a b:1.tif", "size": 7, "etag": "\"abc\""}}
        });
        let u = from_eventbridge(&e).unwrap_or_else(|| panic!("an upload"));
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str(), u.size, u.etag.as_deref()),
            ("up", "radar/a b:1.tif", Some(7), Some("abc"))
        );
        let mut other = e.clone();
        other["detail-type"] = "Object Deleted".into();
        assert_eq!(from_eventbridge(&other), None);
    }

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(decode_key("incoming/era5/my+file%282%29.nc").as_deref(), Some("incoming/era5/my file(2).nc"));
        assert_eq!(decode_key("a%C3%A9b").as_deref(), Some("aéb"));
        assert_eq!(decode_key("plain/key.nc").as_deref(), Some("plain/key.nc"));
        assert_eq!(decode_key("bad%FF"), None);
    }
}
