//! The decoders the hub ingests with, assembled once for every binary that
//! decodes (the ingest Lambda function and the `hub` CLI): NetCDF-3/4 and
//! HDF5 through netCDF-C, GeoTIFF and GRIB2 through GDAL, picked by content,
//! and, by default, each file opened in a child process of the running
//! binary under hard limits ([`hub_sandbox`]), so a file that crashes a C
//! library ends in a failed report and the next upload goes on.
//!
//! A binary that decodes calls [`hub_sandbox::run_if_child`] with
//! [`decoders`] first thing in `main`: started as a decoder child, it then
//! decodes one file and exits.

use std::path::PathBuf;
use std::sync::Arc;

use hub_core::ports::{DecodeLimits, DecoderRegistry};
use hub_core::settings::{EnvError, parsed};
use hub_sandbox::{Sandbox, SandboxLimits};

/// The decoders in this process: what a decoder child runs.
pub fn decoders() -> DecoderRegistry {
    DecoderRegistry::new().with(Arc::new(hub_netcdf::NetcdfDecoder)).with(Arc::new(hub_gdal::GdalDecoder))
}

/// Why the decoders cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A setting of the environment.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The running binary cannot be found to start children of.
    #[error("the decoder child program")]
    Program(#[source] std::io::Error),
}

/// The decoders as the ingest path runs them: each file opened in a child
/// process of `program` (this binary when `None`) under the limits of the
/// environment (`HUB_DECODE_*`, see [`SandboxLimits::from_env`]).
/// `HUB_DECODE_ISOLATION=off` decodes in this process instead, for
/// debugging only: a file that crashes a library then ends the ingest.
pub fn isolated_decoders(program: Option<PathBuf>) -> Result<DecoderRegistry, SetupError> {
    match hub_core::settings::text("HUB_DECODE_ISOLATION").as_deref() {
        Some("off") => {
            tracing::warn!("HUB_DECODE_ISOLATION=off: files are decoded in this process");
            return Ok(decoders());
        }
        None | Some("on") => {}
        Some(other) => {
            return Err(EnvError::Invalid {
                name: "HUB_DECODE_ISOLATION",
                value: other.to_string(),
                expected: "on or off",
            }
            .into());
        }
    }
    let limits = SandboxLimits::from_env()?;
    let sandbox = match program {
        Some(p) => Sandbox::new(p, limits),
        None => Sandbox::current_exe(limits).map_err(SetupError::Program)?,
    };
    Ok(sandbox.wrap(&decoders()))
}

/// What one file may declare: the defaults ([`DecodeLimits::DEFAULT`]),
/// overridden by `HUB_LIMIT_DECODED_GIB`, `HUB_LIMIT_GRID_CELLS`,
/// `HUB_LIMIT_VARIABLES`, `HUB_LIMIT_BANDS` and `HUB_LIMIT_RANK`.
pub fn limits_from_env() -> Result<DecodeLimits, EnvError> {
    const WHOLE: &str = "a whole number";
    let mut limits = DecodeLimits::default();
    if let Some(gib) = parsed::<u64>("HUB_LIMIT_DECODED_GIB", WHOLE)? {
        limits.max_decoded_bytes = gib.saturating_mul(1 << 30);
    }
    if let Some(n) = parsed("HUB_LIMIT_GRID_CELLS", WHOLE)? {
        limits.max_grid_cells = n;
    }
    if let Some(n) = parsed("HUB_LIMIT_VARIABLES", WHOLE)? {
        limits.max_variables = n;
    }
    if let Some(n) = parsed("HUB_LIMIT_BANDS", WHOLE)? {
        limits.max_bands = n;
    }
    if let Some(n) = parsed("HUB_LIMIT_RANK", WHOLE)? {
        limits.max_rank = n;
    }
    Ok(limits)
}
