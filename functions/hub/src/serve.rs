//! `hub serve`: the HTTP API on one machine. The router is the one the serve
//! Lambda function runs, so what answers here answers there.
//!
//! On Lambda, API Gateway stands between clients and the router; here the
//! server is the front door, so it defends itself: a client gets a few
//! seconds to send a request's headers (slowloris: connections that trickle
//! a header forever are closed), and at most a bounded number of connections
//! are served at once, below the process's file-descriptor limit, so the
//! process always has descriptors left for its own files and storage.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hub_http::{AppState, ServeConfig};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

use crate::app;
use crate::cli::ServeArgs;

/// The default connection limit: half the descriptors the process may open
/// (the rest for repository files and storage connections), at most 1024.
fn default_max_connections() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(1024);
    usize::try_from(soft / 2).unwrap_or(1024).clamp(16, 1024)
}

/// Runs `hub serve` until interrupted.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Settings first: an unusable HUB_* value stops the start, naming it.
    let config = ServeConfig::from_env()?;
    let hub = app::hub_with(&args.repo.repo, hub_zarr::HubSettings::serving_from_env()?)?;
    let regions = Arc::new(hub_store::ObjectStoreRegions::new(hub.root_store()));
    let state = Arc::new(AppState::new(hub, config).with_regions(regions));
    let listener =
        tokio::net::TcpListener::bind(&args.addr).await.with_context(|| format!("listening on {}", args.addr))?;
    let addr = listener.local_addr()?;
    // The first line is the address (tests and scripts read it when the port
    // is 0). Whoever reads it may close the pipe afterwards: serving goes on.
    let banner = format!(
        "listening on http://{addr}/\n  repository:  {}\n  collections: http://{addr}/collections\n  API (OpenAPI 3): http://{addr}/api\n",
        args.repo.repo
    );
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    let limit = args.max_connections.unwrap_or_else(default_max_connections).max(1);
    let header_timeout = Duration::from_secs(args.header_timeout_secs.max(1));
    tracing::info!(limit, header_timeout_secs = header_timeout.as_secs(), "serving");
    let permits = Arc::new(tokio::sync::Semaphore::new(limit));
    let router = hub_http::router(state);
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        // Accept only when a connection may be served: the others wait in
        // the kernel's backlog instead of holding a descriptor here.
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => p.context("connection limit")?,
            _ = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a transient network error: pause, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            http.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %e, "connection closed");
            }
            drop(permit);
        });
    }
    Ok(())
}
