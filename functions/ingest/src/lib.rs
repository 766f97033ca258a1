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
//! [`limits_from_env`] and `hub_sandbox::SandboxLimits`), and the standard
//! AWS variables.

pub use hub_store::events as event;
pub mod handler;
pub mod inflight;

pub use handler::{Config, Handler, Outcome, Response, RetryableError};

use std::path::PathBuf;
use std::sync::Arc;

use hub_core::ports::{DecodeLimits, DecoderRegistry};
use hub_sandbox::{Sandbox, SandboxLimits};

/// The decoders, picked by content: NetCDF-3/4 and HDF5 (netCDF-C), GeoTIFF
/// and GRIB2 (GDAL), in this process. What a decoder child runs.
pub fn decoders() -> DecoderRegistry {
    DecoderRegistry::new().with(Arc::new(hub_netcdf::NetcdfDecoder)).with(Arc::new(hub_gdal::GdalDecoder))
}

/// The decoders as the ingest path runs them: each file opened in a child
/// process of `program` (this binary when `None`) under the limits of the
/// environment. `HUB_DECODE_ISOLATION=off` decodes in this process instead,
/// for debugging only: a file that crashes a library then ends the ingest.
pub fn isolated_decoders(program: Option<PathBuf>) -> std::io::Result<DecoderRegistry> {
    if std::env::var("HUB_DECODE_ISOLATION").is_ok_and(|v| v == "off") {
        tracing::warn!("HUB_DECODE_ISOLATION=off: files are decoded in this process");
        return Ok(decoders());
    }
    let limits = SandboxLimits::from_env()?;
    let sandbox = match program {
        Some(p) => Sandbox::new(p, limits),
        None => Sandbox::current_exe(limits)?,
    };
    Ok(sandbox.wrap(&decoders()))
}

/// What one file may declare: the defaults ([`DecodeLimits::DEFAULT`]),
/// overridden by `HUB_LIMIT_DECODED_GIB`, `HUB_LIMIT_GRID_CELLS`,
/// `HUB_LIMIT_VARIABLES`, `HUB_LIMIT_BANDS` and `HUB_LIMIT_RANK`.
pub fn limits_from_env() -> anyhow::Result<DecodeLimits> {
    let var = |name: &str| -> anyhow::Result<Option<u64>> {
        match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => {
                Ok(Some(v.trim().parse().map_err(|_| anyhow::anyhow!("{name}={v:?} is not a whole number"))?))
            }
            _ => Ok(None),
        }
    };
    let mut limits = DecodeLimits::default();
    if let Some(gib) = var("HUB_LIMIT_DECODED_GIB")? {
        limits.max_decoded_bytes = gib.saturating_mul(1 << 30);
    }
    if let Some(n) = var("HUB_LIMIT_GRID_CELLS")? {
        limits.max_grid_cells = n;
    }
    if let Some(n) = var("HUB_LIMIT_VARIABLES")? {
        limits.max_variables = n;
    }
    if let Some(n) = var("HUB_LIMIT_BANDS")? {
        limits.max_bands = n;
    }
    if let Some(n) = var("HUB_LIMIT_RANK")? {
        limits.max_rank = n;
    }
    Ok(limits)
}
