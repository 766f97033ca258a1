//! Composition root of the serve function: the hub's router on the Lambda
//! runtime. `HUB_REPO` names the hub root (e.g. `s3://bucket/hub`); budget and
//! cache settings come from `HUB_MAX_*` (see `hub_http::ServeConfig`), the
//! decoded-chunk cache kept between invocations from `HUB_CHUNK_CACHE_BYTES`
//! (default 256 MiB).
//!
//! Lambda returns at most 6 MB from a buffered invocation, so answers larger
//! than `HUB_INLINE_LIMIT_BYTES` (default 6,000,000, counted as Lambda
//! carries them) are stored under `HUB_ANSWERS` (`s3://bucket/prefix`) and
//! the client is redirected (303) to a presigned URL valid for
//! `HUB_ANSWER_URL_TTL_SECS` (default 3600); without `HUB_ANSWERS` they get
//! 413 with how to narrow the request.
//!
//! Links neither GDAL nor netCDF (CI checks it with `cargo tree`).

use std::sync::Arc;
use std::time::Duration;

use hub_http::{AppState, ServeConfig, router};
use hub_store::{PresignedAnswers, StoreUrl};
use hub_zarr::{HubSettings, IcechunkHub};

/// Lambda's buffered response limit is 6 MB including the response
/// envelope: answers up to this size are returned directly.
const LAMBDA_INLINE_LIMIT: u64 = 6_000_000;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hub_store::init_lambda_logging();
    // Settings first: a variable that is set but unusable stops the start,
    // naming it, before anything is built.
    let url = StoreUrl::repo_from_env()?;
    let mut config = ServeConfig::from_env()?;
    config.inline_limit = config.inline_limit.or(Some(LAMBDA_INLINE_LIMIT));
    let answers =
        hub_core::settings::checked("HUB_ANSWERS", "an s3://bucket/prefix URL", |a| a.parse::<StoreUrl>().ok())?;
    let ttl =
        hub_core::settings::parsed::<u64>("HUB_ANSWER_URL_TTL_SECS", "a whole number of seconds")?.unwrap_or(3600);
    let hub = IcechunkHub::new(url, HubSettings::serving_from_env()?)?;
    let regions = Arc::new(hub_store::ObjectStoreRegions::new(hub.root_store()));
    let mut state = AppState::new(Arc::new(hub), config).with_regions(regions);
    if let Some(url) = answers {
        let store = PresignedAnswers::new(&url, Duration::from_secs(ttl))?;
        state = state.with_large_answers(Arc::new(store));
    }
    let state = Arc::new(state);
    lambda_http::run(router(state)).await
}
