//! Large answers on S3 behind presigned URLs: the serve function stores an
//! answer over Lambda's response limit under `answers/` and redirects the
//! client to a time-limited GET URL of it. Keys are the answer's SHA-256, so
//! the same answer asked twice is stored once; a lifecycle rule on the
//! prefix (see `template.yaml`) deletes them after a day.

use std::time::Duration;

use async_trait::async_trait;
use hub_core::ports::{AnswerStoreError, LargeAnswers};
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::signer::{Method, Signer};
use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

use crate::{StoreError, StoreUrl};

/// Answers in an S3 bucket, handed out as presigned GET URLs.
#[derive(Debug)]
pub struct PresignedAnswers {
    s3: AmazonS3,
    prefix: String,
    expires_in: Duration,
}

impl PresignedAnswers {
    /// Answers under `url` (an `s3://bucket/prefix` URL), each URL valid for `expires_in`.
    pub fn new(url: &StoreUrl, expires_in: Duration) -> Result<Self, StoreError> {
        let StoreUrl::S3 { bucket, prefix } = url else {
            return Err(StoreError::InvalidUrl(format!("{url}: large answers need an s3:// location")));
        };
        let s3 = crate::stores::s3_builder(bucket)
            .build()
            .map_err(|e| StoreError::InvalidUrl(format!("s3://{bucket}: {e}")))?;
        Ok(Self { s3, prefix: prefix.clone(), expires_in })
    }

    fn key(&self, body: &[u8], extension: &str) -> Path {
        let name = format!("{}.{extension}", hex::encode(Sha256::digest(body)));
        if self.prefix.is_empty() { Path::from(name) } else { Path::from(format!("{}/{name}", self.prefix)) }
    }
}

#[async_trait]
impl LargeAnswers for PresignedAnswers {
    async fn publish(&self, body: Vec<u8>, content_type: &str, extension: &str) -> Result<String, AnswerStoreError> {
        let key = self.key(&body, extension);
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.to_string().into());
        let opts = PutOptions { attributes, ..PutOptions::default() };
        self.s3
            .put_opts(&key, PutPayload::from(body), opts)
            .await
            .map_err(|e| AnswerStoreError(format!("{key}: {e}")))?;
        let url = self
            .s3
            .signed_url(Method::GET, &key, self.expires_in)
            .await
            .map_err(|e| AnswerStoreError(format!("signing {key}: {e}")))?;
        Ok(url.to_string())
    }
}
