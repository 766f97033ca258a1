//! Composition root of the serve function: the hub's router on the Lambda
//! runtime. `HUB_REPO` names the hub root (e.g. `s3://bucket/hub`); budget and
//! cache settings come from `HUB_MAX_*` (see `hub_http::ServeConfig`).
//! Links neither GDAL nor netCDF (CI checks it with `cargo tree`).

use std::sync::Arc;

use hub_http::{AppState, ServeConfig, router};
use hub_store::StoreUrl;
use hub_zarr::{HubSettings, IcechunkHub};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .without_time()
        .init();
    let repo = std::env::var("HUB_REPO").map_err(|_| anyhow::anyhow!("HUB_REPO is not set (e.g. s3://bucket/hub)"))?;
    let url: StoreUrl = repo.parse().map_err(|e| anyhow::anyhow!("HUB_REPO: {e}"))?;
    let hub = IcechunkHub::new(url, HubSettings::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = Arc::new(AppState::new(Arc::new(hub), ServeConfig::from_env()));
    lambda_http::run(router(state)).await
}
