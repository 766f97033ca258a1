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
//! Environment: `HUB_REPO` (required, e.g. `s3://repository-bucket/hub`),
//! `HUB_DATASET` or `HUB_DATASET_PATTERN`, `HUB_COMPRESSION`, `HUB_CHUNK_MIB`,
//! `HUB_STAGING_DIR`, and the standard AWS variables.

pub use hub_store::events as event;
pub mod handler;

pub use handler::{Config, Handler, Outcome, Response, RetryableError};

use std::sync::Arc;

use hub_core::ports::DecoderRegistry;

/// The decoders of the ingest path, picked by content: NetCDF-3/4 and HDF5
/// (netCDF-C), GeoTIFF (GDAL).
pub fn decoders() -> DecoderRegistry {
    DecoderRegistry::new().with(Arc::new(hub_netcdf::NetcdfDecoder)).with(Arc::new(hub_gdal::GdalDecoder))
}
