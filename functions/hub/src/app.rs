//! Wiring: the hub, its decoders and report sink, built once from the URL.

use std::sync::Arc;

use anyhow::Context;
use hub_core::ingest::{ChunkPolicy, IngestService, IngestSettings};
use hub_store::{ObjectStoreReports, StoreUrl};
use hub_zarr::{HubSettings, IcechunkHub};

/// Logs to stderr; `RUST_LOG` overrides the level.
pub fn init_tracing(verbose: u8) {
    // Icechunk warns on every open of a local folder that concurrent commits
    // are unsafe there; the hub serializes its commits, so that is noise here.
    let level = match verbose {
        0 => "warn,icechunk_arrow_object_store=error,icechunk_storage=error",
        1 => "info,icechunk_arrow_object_store=error,icechunk_storage=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// The hub at `repo`.
pub fn hub(repo: &str) -> anyhow::Result<Arc<IcechunkHub>> {
    hub_with(repo, HubSettings::default())
}

/// The hub at `repo` with settings.
pub fn hub_with(repo: &str, settings: HubSettings) -> anyhow::Result<Arc<IcechunkHub>> {
    let url: StoreUrl = repo.parse().with_context(|| format!("repository {repo}"))?;
    Ok(Arc::new(IcechunkHub::new(url, settings).with_context(|| format!("opening hub {repo}"))?))
}

/// The ingest service over a hub: every file decoded in a child process of
/// this binary, under the limits of the environment (as on Lambda).
pub fn ingest_service(hub: &Arc<IcechunkHub>, policy: ChunkPolicy) -> anyhow::Result<IngestService> {
    let reports = Arc::new(ObjectStoreReports::new(hub.root_store()));
    let decoders = hub_decoders::isolated_decoders(None).context("the decoder processes")?;
    let limits = hub_decoders::limits_from_env()?;
    Ok(IngestService::new(
        decoders,
        Arc::clone(hub) as _,
        reports,
        IngestSettings { policy, limits, ..IngestSettings::default() },
    )
    .with_derivations(derivations(hub)))
}

/// The derived products every ingest keeps in step: the region series of
/// the sets attached to its dataset, and its time-major copy.
pub fn derivations(hub: &Arc<IcechunkHub>) -> Arc<hub_core::derived::Configured> {
    Arc::new(hub_core::derived::Configured {
        store: Arc::new(hub_store::ObjectStoreRegions::new(hub.root_store())),
        projections: Arc::new(hub_http::projection::Proj4Projections),
    })
}
