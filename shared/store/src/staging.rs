//! Staging: copying an uploaded object to a local file the decoders can open
//! (C libraries need a file), streaming, so memory stays flat whatever its size.

use std::path::Path;

use futures::StreamExt;
use hub_core::ingest::{SourceInfo, StagedUpload};
use object_store::{GetOptions, ObjectStore, path::Path as ObjectPath};
use tokio::io::AsyncWriteExt;

/// Why an object could not be staged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The object is gone (deleted after the event was sent). Permanent.
    #[error("object {0} not found")]
    NotFound(String),
    /// The object was replaced since the event (its ETag changed); the newer
    /// version has an event of its own. Permanent for this event.
    #[error("object {key} changed since the event (expected ETag {expected})")]
    Superseded {
        /// The key.
        key: String,
        /// The ETag the event named.
        expected: String,
    },
    /// Storage failed; try again.
    #[error("fetching {key} failed: {source}")]
    Storage {
        /// The key.
        key: String,
        /// The cause.
        #[source]
        source: object_store::Error,
    },
    /// The local copy could not be written.
    #[error("writing the local copy failed: {0}")]
    Io(#[from] std::io::Error),
}

impl FetchError {
    /// Whether trying again later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Storage { .. } | Self::Io(_))
    }
}

/// A staged upload and the temporary file that holds it (deleted on drop).
#[derive(Debug)]
pub struct Staged {
    /// What the ingest service needs.
    pub upload: StagedUpload,
    _file: tempfile::TempPath,
}

/// Copies `key` from `store` into a temporary file under `dir`. With
/// `expected_etag`, the copy is of that version or fails with `Superseded`.
pub async fn stage_object(
    store: &dyn ObjectStore,
    bucket: Option<&str>,
    key: &str,
    expected_etag: Option<&str>,
    dir: &Path,
) -> Result<Staged, FetchError> {
    let started = std::time::Instant::now();
    let location = ObjectPath::from(key);
    let options = GetOptions { if_match: expected_etag.map(str::to_string), ..GetOptions::default() };
    let result = store.get_opts(&location, options).await.map_err(|source| match source {
        object_store::Error::NotFound { .. } => FetchError::NotFound(key.to_string()),
        object_store::Error::Precondition { .. } => {
            FetchError::Superseded { key: key.to_string(), expected: expected_etag.unwrap_or_default().to_string() }
        }
        source => FetchError::Storage { key: key.to_string(), source },
    })?;
    let etag = result.meta.e_tag.clone().or_else(|| expected_etag.map(str::to_string));
    let size = result.meta.size;
    let temp = tempfile::Builder::new().prefix("hub-upload-").tempfile_in(dir)?.into_temp_path();
    let mut file = tokio::fs::File::create(&temp).await?;
    let mut stream = result.into_stream();
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.map_err(|source| FetchError::Storage { key: key.to_string(), source })?;
        file.write_all(&bytes).await?;
    }
    file.flush().await?;
    file.sync_all().await?;
    drop(file);
    Ok(Staged {
        upload: StagedUpload {
            source: SourceInfo {
                bucket: bucket.map(str::to_string),
                key: key.to_string(),
                etag: etag.map(|e| unquote(&e)),
                size,
            },
            path: temp.to_path_buf(),
            fetch_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        },
        _file: temp,
    })
}

/// A local file as an upload, without copying: its key is `key`, its identity
/// the SHA-256 of its content (`sha256:<hex>`), so a correction is told from
/// a re-delivery whatever its size and times say (a same-size file copied
/// with `cp -p` keeps both). Hashing reads the file once, at about 1.5 GB/s
/// where the CPU has SHA instructions.
pub fn local_upload(path: &Path, key: &str) -> std::io::Result<StagedUpload> {
    use sha2::Digest;
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    Ok(StagedUpload {
        source: SourceInfo {
            bucket: None,
            key: key.to_string(),
            etag: Some(format!("sha256:{}", hex::encode(hasher.finalize()))),
            size,
        },
        path: path.to_path_buf(),
        fetch_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// ETags come quoted from S3 (`"abc"`) and unquoted from events: compare them bare.
pub fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}
