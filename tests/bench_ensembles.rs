//! The ensembles benchmark's measuring side (run by
//! `scripts/bench/ensembles.sh`, which prepares the data and runs the peers
//! on the same work), over the router as the serve function runs it:
//! - the bench kit's 5-model ensemble at a point: mean, p10, median and
//!   p90 of two years of daily values across the members, warm, and from a
//!   fresh state (the members' views opened, then the query);
//! - a change-signal map with robustness over the 96-member ensemble (0.5°
//!   global, annual, 150 years) from the members' stored period statistics,
//!   warm; the process's peak resident memory after it.
//!
//! Usage: `cargo bench -p hub-e2e --bench ensembles -- REPO ENS5 LON,LAT ENS96 BASELINE PERIOD [RUNS]`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use hub_e2e::emit;
use hub_http::{AppState, ServeConfig, router};
use hub_store::{ObjectStoreRegions, StoreUrl};
use hub_zarr::{HubSettings, IcechunkHub};
use tower::ServiceExt;

async fn get(app: &axum::Router, uri: &str) -> (u16, usize, String) {
    let res = app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let stored = res.headers().get("x-hub-period-statistics").map(|v| v.to_str().unwrap_or("").to_string());
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    if status != 200 {
        panic!("{uri}: {status} {}", String::from_utf8_lossy(&body));
    }
    (status, body.len(), stored.unwrap_or_default())
}

fn app(hub: &Arc<IcechunkHub>) -> axum::Router {
    let config = ServeConfig::from_env().unwrap();
    let state = AppState::new(hub.clone(), config).with_regions(Arc::new(ObjectStoreRegions::new(hub.root_store())));
    router(Arc::new(state))
}

/// Peak resident memory of this process so far, MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [repo, ens5, point, ens96, baseline, period, rest @ ..] = args.as_slice() else {
        panic!("usage: REPO ENS5 LON,LAT ENS96 BASELINE PERIOD [RUNS]");
    };
    let runs: usize = rest.first().map_or(9, |r| r.parse().unwrap());
    let url: StoreUrl = repo.parse().unwrap();
    let hub = Arc::new(IcechunkHub::new(url, HubSettings::serving_from_env().unwrap()).unwrap());
    let (lon, lat) = point.split_once(',').unwrap();

    if !ens5.is_empty() {
        let uri = format!(
            "/collections/{ens5}/position?coords=POINT({lon}%20{lat})&parameter-name=pr&statistic=mean,p10,median,p90"
        );
        let mut first = Vec::new();
        for _ in 0..runs {
            let a = app(&hub);
            let t = Instant::now();
            get(&a, &uri).await;
            first.push(t.elapsed().as_secs_f64());
        }
        emit("ensemble.point5.hub.open_plus_first_query", &first, "members=5;steps=730;stats=mean,p10,median,p90");
        let a = app(&hub);
        get(&a, &uri).await;
        let mut warm = Vec::new();
        let mut bytes = 0;
        for _ in 0..runs {
            let t = Instant::now();
            bytes = get(&a, &uri).await.1;
            warm.push(t.elapsed().as_secs_f64());
        }
        emit("ensemble.point5.hub.warm", &warm, &format!("members=5;steps=730;bytes={bytes}"));
    }

    if !ens96.is_empty() {
        let before = peak_rss_mb();
        for (format, name) in [("netcdf", "netcdf"), ("coveragejson", "covjson")] {
            let uri = format!(
                "/collections/{ens96}/cube?bbox=-180,-90,180,90&baseline={baseline}&period={period}&statistic=p10,median,p90&f={format}"
            );
            let a = app(&hub);
            let t = Instant::now();
            let (_, _, stored) = get(&a, &uri).await;
            let first = t.elapsed().as_secs_f64();
            let mut warm = Vec::new();
            let mut bytes = 0;
            for _ in 0..runs.min(5) {
                let t = Instant::now();
                bytes = get(&a, &uri).await.1;
                warm.push(t.elapsed().as_secs_f64());
            }
            emit(
                &format!("ensemble96.change_map.{name}.hub.warm"),
                &warm,
                &format!(
                    "first={first:.3};bytes={bytes};{stored};peak_rss_mb={:.0};rss_before_mb={before:.0}",
                    peak_rss_mb()
                ),
            );
        }
    }
}
