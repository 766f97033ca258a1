//! The ingest Lambda function: S3 `ObjectCreated` events in, datasets out.
//!
//! For every record: the key is URL-decoded, the object fetched (the version
//! the event names, by ETag) to local storage, decoded, written into its
//! dataset (the hub's dataset configuration, `_config/datasets.json`, says
//! which dataset and how; without a matching rule `DatasetRule` names it) and
//! committed with a marker, so
//! a re-delivered event changes nothing. A permanent failure (corrupt,
//! truncated, unsupported, gone) is written as a failure report and
//! acknowledged; a transient one (storage, throttling, conflicts) fails the
//! invocation so Lambda retries it.
//!
//! Every file is decoded in a child process of this binary with hard limits
//! (`hub_sandbox`): a file that crashes a C library ends in a failed report
//! and the next upload goes on.
//!
//! Environment: `HUB_REPO` (required, e.g. `s3://repository-bucket/hub`),
//! `HUB_DATASET` or `HUB_DATASET_PATTERN`, `HUB_COMPRESSION`, `HUB_CHUNK_MIB`,
//! `HUB_STAGING_DIR`, the limits (`HUB_LIMIT_*`, `HUB_DECODE_*`: see
//! `hub_decoders`), and the standard
//! AWS variables.

pub use hub_store::events as event;
pub mod handler;
pub mod inflight;

pub use handler::{Config, ConfigError, Handler, Outcome, Response, RetryableError};

pub use hub_decoders::{decoders, isolated_decoders, limits_from_env};
