//! The HTTP API over real HTTP, checked by independent software: files
//! written by other software (`$HUB_TEST_DATA/netcdf`: a regular lon/lat
//! grid, a rotated-pole grid and a curvilinear ocean grid) are ingested, the
//! router is served on 127.0.0.1, and Python checks position answers against
//! xarray's nearest-cell selection on the source file, cube answers against
//! the file's own cells (a slice on the regular grid; on 2-D lat/lon grids
//! the cell at each answered centre), and validates every position, cube,
//! area and trajectory answer as CoverageJSON (covjson-pydantic); then
//! schemathesis fuzzes the API from its own OpenAPI document and fails on
//! any 5xx.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use hub_e2e::TestHub;
use hub_e2e::python;
use hub_http::{AppState, ServeConfig, router};
use hub_store::StoreUrl;
use hub_zarr::{HubSettings, IcechunkHub};

struct Served {
    base: String,
    /// Query answers (…/position, /cube, …) by status code.
    statuses: Arc<std::sync::Mutex<std::collections::BTreeMap<u16, usize>>>,
    _dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

/// Ingests `files` (dataset id, file name under `netcdf/`) and serves the hub.
async fn serve(files: &[(&str, &str)]) -> Option<Served> {
    serve_with(files, false).await
}

/// Like [`serve`], with a GRIB2 forecast dataset of two runs (`nwp`) when `runs`.
async fn serve_with(files: &[(&str, &str)], runs: bool) -> Option<Served> {
    let data = hub_testkit::shared_data()?;
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::from_path(dir.path()).unwrap();
    let hub = TestHub::new(url.clone());
    for (id, name) in files {
        let path = data.join("netcdf").join(name);
        let report = hub.ingest(id, &path, &format!("incoming/{id}/{name}")).await;
        assert_eq!(report.status, hub_core::ingest::IngestStatus::Committed, "{name}: {:?}", report.error);
    }
    if runs {
        for (r, lead) in [(1_704_067_200i64, 0u32), (1_704_067_200, 6), (1_704_088_800, 0), (1_704_088_800, 6)] {
            let path = dir.path().join(format!("{r}_{lead}.grib2"));
            let f = hub_gdal::fixtures::Forecast { reference: r, lead_hours: lead, version: 0.0 };
            hub_gdal::fixtures::write_forecast(&path, &f).unwrap();
            let report = hub.ingest("nwp", &path, &format!("incoming/nwp/{r}_{lead}.grib2")).await;
            assert_eq!(report.status, hub_core::ingest::IngestStatus::Committed, "{:?}", report.error);
        }
    }
    let repo = Arc::new(IcechunkHub::new(url, HubSettings::default()).unwrap());
    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let counts = statuses.clone();
    let app = router(Arc::new(AppState::new(repo, ServeConfig::default()))).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let counts = counts.clone();
            async move {
                let is_query = req.uri().path().matches('/').count() == 3;
                let res = next.run(req).await;
                if is_query {
                    *counts.lock().unwrap().entry(res.status().as_u16()).or_insert(0) += 1;
                }
                res
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Some(Served { base, statuses, _dir: dir, _server: server })
}

const FILES: &[(&str, &str, &str)] = &[
    ("co2", "SMALL_total_column_co2.nc", "tcco2"),
    ("rotpole", "small_rotPole_precipitation.nc", "pr"),
    ("sic", "sic_SImon_CCCma-CanESM5_ssp245_r13i1p2f1_2020.nc", "siconc"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_equal_xarrays_nearest_cell_and_validate_as_coveragejson() {
    if hub_testkit::python().is_none() {
        return;
    }
    let ids: Vec<(&str, &str)> = FILES.iter().map(|(id, f, _)| (*id, *f)).collect();
    let Some(served) = serve(&ids).await else { return };
    let data = hub_testkit::shared_data().unwrap();
    let cases: Vec<serde_json::Value> = FILES
        .iter()
        .map(|(id, f, var)| {
            serde_json::json!({
                "collection": id,
                "file": data.join("netcdf").join(f),
                "variable": var,
                "points": [[24.94, 60.17], [-3.2, 55.95], [151.2, -33.87], [-70.6, -33.45], [0.0, 0.0], [179.9, 1.0]],
                "multipoint": *id == "co2",
            })
        })
        .collect();
    let cases_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cases_file.path(), serde_json::to_vec(&cases).unwrap()).unwrap();
    let script = hub_testkit::workspace_root().join("tests/interop/check_serve.py");
    let (ok, text) = python(vec![
        script.to_string_lossy().into_owned(),
        served.base.clone(),
        cases_file.path().to_string_lossy().into_owned(),
    ])
    .await;
    println!("{text}");
    assert!(ok, "the API's answers differ from xarray's:\n{text}");
    for (id, _, _) in FILES {
        assert!(text.contains(&format!("ok   {id} ")), "no value checked for {id}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edr_metadata_validates_with_knmis_edr_pydantic_models() {
    if hub_testkit::python().is_none() {
        return;
    }
    let ids: Vec<(&str, &str)> = FILES.iter().map(|(id, f, _)| (*id, *f)).collect();
    let Some(served) = serve_with(&ids, true).await else { return };
    let script = hub_testkit::workspace_root().join("tests/interop/check_edr.py");
    let (ok, text) = python(vec![script.to_string_lossy().into_owned(), served.base.clone()]).await;
    println!("{text}");
    assert!(ok, "EDR metadata the edr-pydantic models reject:\n{text}");
    for resource in
        ["/", "/collections", "/collections/co2", "/collections/nwp/instances", "/collections/nwp/instances/latest"]
    {
        assert!(text.lines().any(|l| l == format!("ok   {resource}")), "{resource} not validated:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schemathesis_finds_no_server_error() {
    if hub_testkit::python().is_none() {
        return;
    }
    let ids: Vec<(&str, &str)> = FILES.iter().map(|(id, f, _)| (*id, *f)).collect();
    let Some(served) = serve(&ids).await else { return };
    let (ok, text) = python(vec![
        "-m".into(),
        "schemathesis.cli".into(),
        "run".into(),
        format!("{}/api", served.base),
        "--checks".into(),
        "not_a_server_error".into(),
        "--max-examples".into(),
        "40".into(),
        "--workers".into(),
        "2".into(),
        "--request-timeout".into(),
        "60".into(),
        "--generation-database".into(),
        "none".into(),
        "--no-color".into(),
    ])
    .await;
    println!("{text}");
    assert!(ok, "schemathesis found failures:\n{text}");
    // The document's ids, patterns and examples let the fuzzer reach data:
    // some queries were answered, and none failed on the server.
    let statuses = served.statuses.lock().unwrap().clone();
    println!("query answers by status: {statuses:?}");
    assert!(statuses.get(&200).copied().unwrap_or(0) >= 20, "too few queries reached data: {statuses:?}");
    assert!(statuses.keys().all(|s| *s < 500), "{statuses:?}");
}
