//! The API against damage and hostile requests: corrupt stored data is the
//! hub's fault (500), a bad request the client's (400); answers are budgeted before any read; headers never
//! reach a link unchecked; a dataset folder that is a link is not served.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hub_e2e::TestHub;
use hub_http::{AppState, Budget, ServeConfig, router};
use hub_netcdf::fixtures::Fixture;
use hub_store::StoreUrl;
use hub_zarr::{HubSettings, IcechunkHub, ReadCounter};
use serde_json::Value;
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn get_with(router: &axum::Router, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap().to_vec();
    Answer { status, body }
}

async fn get(router: &axum::Router, uri: &str) -> Answer {
    get_with(router, uri, &[("host", "hub.test")]).await
}

fn serve(url: &StoreUrl, config: ServeConfig) -> (axum::Router, Arc<ReadCounter>) {
    let counter = Arc::new(ReadCounter::default());
    let settings = HubSettings { read_counter: Some(counter.clone()), ..HubSettings::default() };
    let hub = Arc::new(IcechunkHub::new(url.clone(), settings).unwrap());
    (router(Arc::new(AppState::new(hub, config))), counter)
}

/// A folder hub holding the NetCDF-4 fixture as `daily`.
async fn folder_hub() -> (tempfile::TempDir, StoreUrl) {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::from_path(dir.path()).unwrap();
    let t = TestHub::new(url.clone());
    let r = t.ingest("daily", &hub_testkit::fixture(Fixture::Netcdf4NoLeapFill), "incoming/daily/pr.nc").await;
    assert_eq!(r.status, hub_core::ingest::IngestStatus::Committed, "{:?}", r.error);
    (dir, url)
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_file() {
            out.push(e.path());
        }
    }
    out
}

const SERIES: &str = "/collections/daily/position?coords=POINT(10%2050)&parameter-name=pr";

#[tokio::test]
async fn damaged_stored_data_is_500() {
    let (dir, url) = folder_hub().await;
    let (api, _) = serve(&url, ServeConfig::default());
    assert_eq!(get(&api, SERIES).await.status, StatusCode::OK);

    // Every chunk overwritten with garbage: the bytes do not decode.
    let chunks = files_under(&dir.path().join("daily").join("chunks"));
    assert!(!chunks.is_empty());
    for c in &chunks {
        let n = std::fs::metadata(c).unwrap().len() as usize;
        std::fs::write(c, (0..n).map(|i| (i * 151 + 7) as u8).collect::<Vec<_>>()).unwrap();
    }
    let (api, _) = serve(&url, ServeConfig::default());
    let a = get(&api, SERIES).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", String::from_utf8_lossy(&a.body));
    let body = a.json();
    assert_eq!(body["code"], "InternalError");
    let text = body["description"].as_str().unwrap();
    assert!(!text.contains(&*dir.path().to_string_lossy()) && !text.contains("frame"), "{text}");

    // A chunk the manifest points at is gone: corrupt too, not "unavailable".
    for c in &chunks {
        std::fs::remove_file(c).unwrap();
    }
    let (api, _) = serve(&url, ServeConfig::default());
    let a = get(&api, SERIES).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", String::from_utf8_lossy(&a.body));

    // Storage that does not answer at all is 503: `hub serve` against a
    // closed port (functions/hub/tests/cli.rs).
    drop(dir);
}

#[tokio::test]
async fn answers_are_budgeted_before_anything_is_read() {
    let (_dir, url) = folder_hub().await;
    // 20,000 answer bytes: a month's series fits, a global cube does not.
    let budget = Budget { max_answer_bytes: 20_000, ..Budget::default() };
    let (api, counter) = serve(&url, ServeConfig { budget, ..ServeConfig::default() });
    let cube = "/collections/daily/cube?bbox=-180,-90,180,90&parameter-name=pr";
    // The dataset's view (coordinates) is read once; then the data would be.
    assert_eq!(get(&api, "/collections/daily").await.status, StatusCode::OK);
    counter.reset();
    let a = get(&api, cube).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", String::from_utf8_lossy(&a.body));
    let text = a.json()["description"].as_str().unwrap().to_string();
    assert!(text.contains("answer bytes") && text.contains("20000"), "{text}");
    assert_eq!(counter.chunks(), 0, "refused before reading");
    // A smaller answer of the same dataset is served.
    let a =
        get(&api, "/collections/daily/position?coords=POINT(10%2050)&parameter-name=pr&datetime=2046-07-01/2046-07-31")
            .await;
    assert_eq!(a.status, StatusCode::OK, "{}", String::from_utf8_lossy(&a.body));
    // The estimate depends on the format: NetCDF carries fewer bytes per value.
    let per_value = |f: hub_http::encode::Format| f.encoder().bytes_per_value;
    assert!(per_value(hub_http::encode::Format::NetCdf) < per_value(hub_http::encode::Format::CoverageJson));
}

#[tokio::test]
async fn headers_never_reach_links_unchecked() {
    let (_dir, url) = folder_hub().await;
    let (api, _) = serve(&url, ServeConfig::default());
    for (proto, host, want) in [
        ("javascript:alert(1)//", "hub.test", "http://hub.test/"),
        ("https", "hub.test:8443", "https://hub.test:8443/"),
        ("https", "evil\"><script>alert(1)</script>", "https://localhost/"),
        ("HTTPS", "[::1]:8080", "https://[::1]:8080/"),
    ] {
        let a = get_with(&api, "/?f=json", &[("host", host), ("x-forwarded-proto", proto)]).await;
        let doc = a.json();
        let hrefs: Vec<&str> = doc["links"].as_array().unwrap().iter().filter_map(|l| l["href"].as_str()).collect();
        assert!(hrefs.iter().all(|h| h.starts_with(want)), "{proto} {host}: {hrefs:?}");
        let html = get_with(&api, "/collections?f=html", &[("host", host), ("x-forwarded-proto", proto)]).await;
        let page = String::from_utf8_lossy(&html.body);
        assert!(!page.contains("javascript:") && !page.contains("<script"), "{page}");
    }
    // A configured public URL wins over whatever the headers say.
    let config = ServeConfig {
        public_url: hub_http::resources::public_base("https://data.example.org/hub/"),
        ..ServeConfig::default()
    };
    let (api, _) = serve(&url, config);
    let doc = get_with(&api, "/", &[("host", "attacker.test"), ("x-forwarded-proto", "http")]).await.json();
    assert_eq!(doc["links"][0]["href"], "https://data.example.org/hub/");
    assert_eq!(hub_http::resources::public_base("javascript:alert(1)"), None);
}

#[tokio::test]
async fn horizontal_axes_are_not_query_parameters() {
    let (_dir, url) = folder_hub().await;
    let (api, _) = serve(&url, ServeConfig::default());
    let a = get(&api, "/collections/daily/position?coords=POINT(10%2050)&lat=60&lon=25").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&a.body));
    let text = a.json()["description"].as_str().unwrap().to_string();
    assert!(text.contains("horizontal axis") && text.contains("coords"), "{text}");
    let a = get(&api, "/collections/daily/position?coords=POINT(10%2050)&colour=red").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_dataset_folder_that_is_a_link_is_not_served() {
    let (outside, _) = folder_hub().await;
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::from_path(dir.path()).unwrap();
    std::os::unix::fs::symlink(outside.path().join("daily"), dir.path().join("elsewhere")).unwrap();
    let (api, _) = serve(&url, ServeConfig::default());
    let list = get(&api, "/collections").await.json();
    assert_eq!(list["collections"].as_array().map(Vec::len), Some(0), "{list}");
    assert_eq!(get(&api, "/collections/elsewhere").await.status, StatusCode::NOT_FOUND);
}
