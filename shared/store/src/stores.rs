//! `object_store` clients for a [`StoreUrl`], rooted at the URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;

use crate::{StoreError, StoreUrl};

/// In-process stores, by name, so every part of a process sees the same data.
fn memory_stores() -> &'static Mutex<HashMap<String, Arc<InMemory>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    STORES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The S3 settings read from the standard AWS environment variables
/// (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials...), for a bucket.
pub fn s3_builder(bucket: &str) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(endpoint) = s3_endpoint() {
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
        builder = builder.with_endpoint(endpoint);
    }
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        builder = builder.with_region("us-east-1");
    }
    // object_store retries for up to 3 minutes by default: longer than the
    // HTTP API may take (29 s), and an unreachable store would hold every
    // request that long before its 503. A few quick retries absorb S3's
    // throttling; what still fails is transient for the caller to retry.
    builder.with_retry(object_store::RetryConfig {
        max_retries: 4,
        retry_timeout: std::time::Duration::from_secs(15),
        ..object_store::RetryConfig::default()
    })
}

/// The S3 endpoint from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, when set
/// (an S3-compatible server; unset on AWS).
pub fn s3_endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// The AWS region from the environment (default `us-east-1`).
pub fn aws_region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "us-east-1".to_string())
}

/// An object store whose root is `url`.
pub fn object_store(url: &StoreUrl) -> Result<Arc<dyn ObjectStore>, StoreError> {
    match url {
        StoreUrl::File(path) => {
            std::fs::create_dir_all(path).map_err(|e| StoreError::InvalidUrl(format!("{}: {e}", path.display())))?;
            let fs = LocalFileSystem::new_with_prefix(path)
                .map_err(|e| StoreError::InvalidUrl(format!("{}: {e}", path.display())))?
                .with_automatic_cleanup(true);
            Ok(Arc::new(fs))
        }
        StoreUrl::Memory(name) => {
            let (root, sub) = name.split_once('/').unwrap_or((name.as_str(), ""));
            let mut stores =
                memory_stores().lock().map_err(|_| StoreError::InvalidUrl("memory store lock poisoned".into()))?;
            let store = stores.entry(root.to_string()).or_insert_with(|| Arc::new(InMemory::new())).clone();
            if sub.is_empty() { Ok(store) } else { Ok(Arc::new(PrefixStore::new(store, sub))) }
        }
        StoreUrl::S3 { bucket, prefix } => {
            let s3 = s3_builder(bucket).build().map_err(|e| StoreError::InvalidUrl(format!("s3://{bucket}: {e}")))?;
            if prefix.is_empty() { Ok(Arc::new(s3)) } else { Ok(Arc::new(PrefixStore::new(s3, prefix.as_str()))) }
        }
    }
}
