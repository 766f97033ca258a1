//! `hub serve`: the HTTP API on one machine. The router is the one the serve
//! Lambda function runs, so what answers here answers there.

use std::sync::Arc;

use anyhow::Context;
use hub_http::{AppState, ServeConfig};

use crate::app;
use crate::cli::ServeArgs;

/// Runs `hub serve` until interrupted.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let hub = app::hub_with(&args.repo.repo, hub_zarr::HubSettings::serving_from_env())?;
    let state = Arc::new(AppState::new(hub, ServeConfig::from_env()));
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
    axum::serve(listener, hub_http::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(())
}
