//! The serve benchmark's measuring side (run by `scripts/bench/serve.sh`,
//! which prepares the data and the peers): point series and one map through
//! the router in-process and over local HTTP, and cold process start to the
//! first answer for `hub serve` and for the serve Lambda binary on the
//! runtime API. Prints one line per measurement in the bench kit's format:
//! `name<TAB>median_s<TAB>min_s<TAB>runs=N<TAB>key=value;...`.
//!
//! Usage: `cargo bench -p hub-e2e --bench serve -- MODE REPO DATASET LAT,LON [RUNS]`
//! with MODE one of `inproc`, `http`, `cold` (the binaries `hub` and `serve`
//! are taken from `target/release`), or `first` (open, view and first query
//! timed apart: where a cold start spends its time).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, clippy::print_stdout)]

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use hub_e2e::emit;
use hub_http::{AppState, ServeConfig, router};
use hub_store::StoreUrl;
use hub_testkit::lambda::{Outcome, RuntimeApi};
use hub_zarr::{HubSettings, IcechunkHub};
use tower::ServiceExt;

/// The point queries: the kit's point, then points a chunk column apart that
/// hold data (so no answer comes from a chunk read just before).
fn queries(dataset: &str, lat: f64, lon: f64) -> (String, Vec<String>, String, String) {
    let point = |lat: f64, lon: f64| format!("/collections/{dataset}/position?coords=POINT({lon}%20{lat})");
    let others: Vec<String> = (0..12)
        .map(|k| {
            let k = f64::from(k);
            let lon = ((lon + 41.0 * k + 180.0).rem_euclid(360.0)) - 180.0;
            let lat = (lat + 37.0 * (k % 3.0 - 1.0)).clamp(-60.0, 70.0);
            point(lat, lon)
        })
        .collect();
    let map = format!("/collections/{dataset}/cube?bbox=-180,-90,180,90&datetime=2000-07-19T12:00:00Z");
    (point(lat, lon), others, map.clone(), format!("{map}&f=netcdf"))
}

async fn oneshot(app: &axum::Router, path: &str) -> (u16, usize) {
    let req = Request::get(path).header("host", "bench").body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, body.len())
}

async fn timed<F, Fut>(runs: usize, mut f: F) -> (Vec<f64>, usize)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, usize)>,
{
    let mut secs = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (status, n) = f().await;
        secs.push(t.elapsed().as_secs_f64());
        assert_eq!(status, 200, "a benchmark query failed");
        size = n;
    }
    (secs, size)
}

async fn inproc(repo: &str, dataset: &str, lat: f64, lon: f64, runs: usize) {
    let url: StoreUrl = repo.parse().unwrap();
    let t = Instant::now();
    // As the serve binaries run: the decoded-chunk cache per HUB_CHUNK_CACHE_BYTES (0: none).
    let settings = HubSettings::serving_from_env().unwrap_or_else(|e| panic!("{e}"));
    let tag = if settings.chunk_cache.is_some() { "inproc" } else { "inproc_nocache" };
    let hub = Arc::new(IcechunkHub::new(url, settings).unwrap());
    let app = router(Arc::new(AppState::new(hub, ServeConfig::default())));
    let (point, others, map, map_nc) = queries(dataset, lat, lon);
    let (status, size) = oneshot(&app, &point).await;
    assert_eq!(status, 200);
    emit(
        &format!("serve.point.hub.{tag}.open_plus_first_query"),
        &[t.elapsed().as_secs_f64()],
        &format!("bytes={size}"),
    );
    let (secs, size) = timed(runs, || oneshot(&app, &point)).await;
    emit(&format!("serve.point.hub.{tag}.warm_repeat"), &secs, &format!("bytes={size};same_point=1"));
    let mut k = 0;
    let (secs, size) = timed(others.len(), || {
        k += 1;
        let p = others[k - 1].clone();
        let app = app.clone();
        async move { oneshot(&app, &p).await }
    })
    .await;
    emit(&format!("serve.point.hub.{tag}.warm_new_point"), &secs, &format!("bytes={size};points={}", others.len()));
    let (secs, size) = timed(runs.min(5), || oneshot(&app, &map)).await;
    emit(&format!("serve.field.hub.{tag}.covjson"), &secs, &format!("bytes={size}"));
    let (secs, size) = timed(runs.min(5), || oneshot(&app, &map_nc)).await;
    emit(&format!("serve.field.hub.{tag}.netcdf"), &secs, &format!("bytes={size}"));
}

/// Opening the hub, building the collection's view, and the first point
/// query, timed apart (what a cold start spends its time on).
async fn first(repo: &str, dataset: &str, lat: f64, lon: f64) {
    let t = Instant::now();
    let url: StoreUrl = repo.parse().unwrap();
    let hub = Arc::new(IcechunkHub::new(url, HubSettings::serving_from_env().unwrap()).unwrap());
    let app = router(Arc::new(AppState::new(hub, ServeConfig::default())));
    let built = t.elapsed().as_secs_f64();
    let (status, _) = oneshot(&app, &format!("/collections/{dataset}")).await;
    assert_eq!(status, 200);
    let viewed = t.elapsed().as_secs_f64();
    let (point, ..) = queries(dataset, lat, lon);
    let (status, _) = oneshot(&app, &point).await;
    assert_eq!(status, 200);
    let answered = t.elapsed().as_secs_f64();
    emit("serve.first.build_router", &[built], "");
    emit("serve.first.open_collection_view", &[viewed - built], "");
    emit("serve.first.point_query", &[answered - viewed], "");
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn release_bin(name: &str) -> std::path::PathBuf {
    hub_testkit::workspace_root().join("target/release").join(name)
}

/// Starts `hub serve` on a free port; returns the child and its base URL,
/// once the banner is out.
fn hub_serve(repo: &str) -> (Child, String) {
    let mut child = Command::new(release_bin("hub"))
        .args(["serve", "--repo", repo, "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().trim_start_matches("listening on ").trim_end_matches('/').to_string();
    (Child(child), base)
}

async fn fetch(client: &reqwest::Client, url: &str) -> (u16, usize) {
    let res = client.get(url).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.bytes().await.unwrap().len())
}

async fn http(repo: &str, dataset: &str, lat: f64, lon: f64, runs: usize) {
    let (_child, base) = hub_serve(repo);
    let client = reqwest::Client::new();
    let (point, others, map, map_nc) = queries(dataset, lat, lon);
    let first = fetch(&client, &format!("{base}{point}")).await;
    assert_eq!(first.0, 200);
    let url = format!("{base}{point}");
    let (secs, size) = timed(runs, || fetch(&client, &url)).await;
    emit("serve.point.hub.http.warm_repeat", &secs, &format!("bytes={size};same_point=1"));
    let mut k = 0;
    let (secs, size) = timed(others.len(), || {
        k += 1;
        let u = format!("{base}{}", others[k - 1]);
        let c = client.clone();
        async move { fetch(&c, &u).await }
    })
    .await;
    emit("serve.point.hub.http.warm_new_point", &secs, &format!("bytes={size};points={}", others.len()));
    let url = format!("{base}{map}");
    let (secs, size) = timed(runs.min(5), || fetch(&client, &url)).await;
    emit("serve.field.hub.http.covjson", &secs, &format!("bytes={size}"));
    let url = format!("{base}{map_nc}");
    let (secs, size) = timed(runs.min(5), || fetch(&client, &url)).await;
    emit("serve.field.hub.http.netcdf", &secs, &format!("bytes={size}"));
}

/// Process start to the first answer of a point query: `hub serve` over
/// HTTP, and the serve Lambda binary through the runtime API.
async fn cold(repo: &str, dataset: &str, lat: f64, lon: f64, runs: usize) {
    let (point, ..) = queries(dataset, lat, lon);
    let client = reqwest::Client::new();
    let mut secs = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let (_child, base) = hub_serve(repo);
        let (status, _) = fetch(&client, &format!("{base}/collections/{dataset}")).await;
        secs.push(t.elapsed().as_secs_f64());
        assert_eq!(status, 200);
    }
    emit("serve.collection.hub.http.cold_process_to_first_answer", &secs, "binary=hub");
    let mut secs = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let (_child, base) = hub_serve(repo);
        let (status, _) = fetch(&client, &format!("{base}{point}")).await;
        secs.push(t.elapsed().as_secs_f64());
        assert_eq!(status, 200);
    }
    emit("serve.point.hub.http.cold_process_to_first_answer", &secs, "binary=hub");

    for (what, target) in [("collection", format!("/collections/{dataset}")), ("point", point.clone())] {
        lambda_cold(repo, &target, runs, what).await;
    }
}

async fn lambda_cold(repo: &str, target: &str, runs: usize, what: &str) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "bench.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https"},
        "requestContext": {"http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "domainName": "bench.execute-api.us-east-1.amazonaws.com", "requestId": "bench", "routeKey": "$default", "stage": "$default",
            "accountId": "123456789012", "apiId": "bench", "time": "24/Nov/2026:06:00:00 +0000", "timeEpoch": 1_795_500_000_000_u64},
        "isBase64Encoded": false,
    });
    let event = serde_json::to_vec(&event).unwrap();
    let mut secs = Vec::new();
    for _ in 0..runs {
        let api = RuntimeApi::start().await;
        let t = Instant::now();
        let _child = Child(
            Command::new(release_bin("serve"))
                .envs(api.env("serve"))
                .env("HUB_REPO", repo)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let outcome = api.invoke(&event, Duration::from_secs(60)).await.unwrap();
        secs.push(t.elapsed().as_secs_f64());
        let Outcome::Response(body) = outcome else { panic!("the serve function failed") };
        let r: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(r["statusCode"], 200, "{r}");
    }
    emit(&format!("serve.{what}.lambda.runtime_api.cold_process_to_first_answer"), &secs, "binary=serve");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [mode, repo, dataset, point, rest @ ..] = args.as_slice() else {
        eprintln!("usage: bench_serve MODE REPO DATASET LAT,LON [RUNS]");
        std::process::exit(2);
    };
    let (lat, lon) = point.split_once(',').unwrap();
    let (lat, lon): (f64, f64) = (lat.parse().unwrap(), lon.parse().unwrap());
    let runs: usize = rest.first().and_then(|r| r.parse().ok()).unwrap_or(20);
    match mode.as_str() {
        "inproc" => inproc(repo, dataset, lat, lon, runs).await,
        "first" => first(repo, dataset, lat, lon).await,
        "http" => http(repo, dataset, lat, lon, runs).await,
        "cold" => cold(repo, dataset, lat, lon, runs).await,
        other => panic!("unknown mode {other}"),
    }
}
