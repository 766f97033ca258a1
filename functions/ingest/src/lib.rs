//! The ingest Lambda function: S3 `ObjectCreated` events in, datasets out.
//!
//! For every record: the key is URL-decoded, the object fetched (the version
//! the event names, by ETag) to local storage, decoded, written into its
//! dataset (see `DatasetRule` for the naming) and committed with a marker, so
//! a re-delivered event changes nothing. A permanent failure (corrupt,
//! truncated, unsupported, gone) is written as a failure report and
//! acknowledged; a transient one (storage, throttling, conflicts) fails the
//! invocation so Lambda retries it.
//!
//! Environment: `HUB_REPO` (required, e.g. `s3://repository-bucket/hub`),
//! `HUB_DATASET` or `HUB_DATASET_PATTERN`, `HUB_COMPRESSION`, `HUB_CHUNK_MIB`,
//! `HUB_STAGING_DIR`, and the standard AWS variables.

pub mod event;
pub mod handler;

pub use handler::{Config, Handler, Outcome, Response, RetryableError};
