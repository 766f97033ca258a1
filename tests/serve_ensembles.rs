//! Multi-model ensembles end to end: the shared `ensemble_tg_mean_YS`
//! members (PCIC BCCAQv2 CMIP5 indices, `noleap` and
//! `proleptic_gregorian`) and generated members in four calendars (one
//! ending in 2050, one with a missing value, one on another grid) are
//! uploaded under keys the ensembles' patterns match, so they land in
//! their member datasets and join automatically; the router is served on
//! 127.0.0.1 and
//! - Python checks every statistic, change signal, robustness fraction and
//!   category per cell, at a point and over a registered region against
//!   xclim on the source files (`tests/interop/check_ensembles.py`);
//! - the API's contract is checked here: the collection's facets and
//!   members, the member on another grid refused by name, facet filters,
//!   the plume, and refusals as 4xx naming what to fix.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use hub_core::ingest::DatasetConfig;
use hub_core::ports::RegionStore;
use hub_core::regions::{RegionSet, RegionSetId};
use hub_e2e::{TestHub, python};
use hub_gdal::regions::{RegionFileOptions, read_region_file};
use hub_http::{AppState, ServeConfig, router};
use hub_store::{ObjectStoreRegions, StoreUrl};
use hub_zarr::{HubSettings, IcechunkHub};
use serde_json::{Value, json};

const CONFIG: &str = r#"{"ensembles": {
  "tg-mean": {"facets": ["scenario", "model"],
              "key": "^ens/pcic/BCCAQv2\\+ANUSPLIN300_(?P<model>[A-Za-z0-9-]+)_(?P<scenario>[a-z0-9+]+)_r1i1p1_",
              "attributes": {"model": "driving_model_id"}},
  "synth": {"facets": ["model", "calendar"], "key": "^ens/synth/tas_(?P<model>m[0-9]+)_(?P<calendar>[a-z0-9_]+)\\.nc$",
            "periods": {"baseline": "1981/2010", "periods": ["2071/2100"]}},
  "synth-computed": {"facets": ["model", "calendar"], "datasets": "^synth-(?P<model>m[0-8])-(?P<calendar>.+)$"}
}}"#;

struct Served {
    base: String,
    dir: tempfile::TempDir,
    generated: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

async fn serve() -> Option<Served> {
    let data = hub_testkit::shared_data()?;
    hub_testkit::python()?;
    let generated = tempfile::tempdir().unwrap();
    let script = hub_testkit::workspace_root().join("tests/interop/check_ensembles.py");
    let (ok, text) = python(vec![
        script.to_string_lossy().into_owned(),
        "generate".into(),
        generated.path().to_string_lossy().into_owned(),
    ])
    .await;
    assert!(ok, "generating members: {text}");
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::from_path(dir.path()).unwrap();
    let hub = TestHub::new(url.clone());
    let repo = Arc::new(IcechunkHub::new(url.clone(), HubSettings::default()).unwrap());
    // The configuration first: each member's ingest keeps its period statistics in the same commit.
    hub_store::store_dataset_config(&repo.root_store(), CONFIG).await.unwrap();
    let config = DatasetConfig::parse(CONFIG).unwrap();
    for file in hub_testkit::shared_files("netcdf/ensemble_tg_mean_YS") {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let report = hub.ingest_configured(&config, &file, &format!("ens/pcic/{name}")).await;
        assert_eq!(report.status, hub_core::ingest::IngestStatus::Committed, "{name}: {:?}", report.error);
    }
    let hindcast = generated.path().join("hindcast/tas_hindcast.nc");
    let report = hub.ingest("hindcast", &hindcast, "incoming/hindcast/tas_hindcast.nc").await;
    assert_eq!(report.status, hub_core::ingest::IngestStatus::Committed, "hindcast: {:?}", report.error);
    for entry in std::fs::read_dir(generated.path()).unwrap() {
        let file = entry.unwrap().path();
        if file.is_dir() {
            continue;
        }
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let report = hub.ingest_configured(&config, &file, &format!("ens/synth/{name}")).await;
        assert_eq!(report.status, hub_core::ingest::IngestStatus::Committed, "{name}: {:?}", report.error);
    }
    let regions = ObjectStoreRegions::new(repo.root_store());
    let countries = data.join("polygons/ne_110m_admin0_countries.geojson");
    let options = RegionFileOptions { id_field: Some("name".into()), ..RegionFileOptions::default() };
    let set = RegionSet::build(
        RegionSetId::new("countries").unwrap(),
        read_region_file(&countries, &options).unwrap(),
        Some("name"),
    )
    .unwrap();
    regions.put(&set).await.unwrap();
    let state = AppState::new(repo, ServeConfig::default()).with_regions(Arc::new(regions));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(Arc::new(state));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Some(Served { base, dir, generated, _server: server })
}

async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statistics_changes_and_robustness_agree_with_xclim() {
    let Some(s) = serve().await else { return };
    let data = hub_testkit::shared_data().unwrap();
    let (_, doc) = get(&format!("{}/collections/synth", s.base)).await;
    let datasets = |doc: &Value| -> Vec<String> {
        doc["hub:ensemble"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["dataset"].as_str().unwrap().to_string())
            .collect()
    };
    let synth_members = datasets(&doc);
    let files = |dir: &std::path::Path, members: &[String], pattern: &dyn Fn(&str) -> String| -> Vec<String> {
        members.iter().map(|m| dir.join(pattern(m)).to_string_lossy().into_owned()).collect()
    };
    let synth_files: Vec<String> = {
        let mut names: Vec<_> = std::fs::read_dir(s.generated.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.contains("m9") && n.ends_with(".nc"))
            .collect();
        names.sort();
        names.iter().map(|n| s.generated.path().join(n).to_string_lossy().into_owned()).collect()
    };
    let _ = files;
    let pcic: Vec<String> = hub_testkit::shared_files("netcdf/ensemble_tg_mean_YS")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let (_, pdoc) = get(&format!("{}/collections/tg-mean", s.base)).await;
    let cases = json!([
        {"ensemble": "tg-mean", "variable": "tg_mean", "files": pcic, "datasets": datasets(&pdoc),
         "years": [2000, 2010], "bbox": "-75,45,-72,47", "point": [-73.3, 45.6],
         "baseline": [1981, 2010], "period": [2071, 2100], "region": "countries:Canada"},
        {"ensemble": "synth", "variable": "tas", "files": synth_files, "datasets": synth_members,
         "years": [1985, 1995], "bbox": "-75,45,-72,47", "point": [-74.6, 45.3],
         "baseline": [1981, 2010], "period": [2071, 2100], "all_categories": true,
         "left_out": [synth_members.iter().find(|m| m.contains("m7")).unwrap()], "region": "countries:Canada"},
        {"ensemble": "hindcast", "variable": "tas", "files": [s.generated.path().join("hindcast/tas_hindcast.nc")],
         "years": [1985, 1995], "bbox": "-75,45,-72,47", "point": [-74.6, 45.3],
         "baseline": [1981, 2010], "period": [2071, 2100], "all_categories": true},
    ]);
    let cases_file = s.dir.path().join("cases.json");
    std::fs::write(&cases_file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let script = hub_testkit::workspace_root().join("tests/interop/check_ensembles.py");
    let (ok, text) = python(vec![
        script.to_string_lossy().into_owned(),
        "check".into(),
        s.base.clone(),
        cases_file.to_string_lossy().into_owned(),
    ])
    .await;
    println!("{text}");
    assert!(ok, "the hub's ensemble answers differ from xclim's:\n{text}");
    for line in [
        "ok   tg-mean cube tg_mean.p90",
        "ok   synth change tas.robustness",
        "ok   synth region countries:Canada change tas.agree",
        "ok   tg-mean position tg_mean.count",
        "ok   hindcast cube tas.p90",
        "ok   hindcast change tas.robustness",
    ] {
        assert!(text.contains(line), "{line} not checked:\n{text}");
    }
    let _ = data;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_collection_lists_facets_members_and_refusals() {
    let Some(s) = serve().await else { return };
    let (status, doc) = get(&format!("{}/collections/synth", s.base)).await;
    assert_eq!(status, 200, "{doc}");
    let members = doc["hub:ensemble"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 8, "{doc}");
    let calendars: Vec<&str> = members.iter().map(|m| m["time"]["calendar"].as_str().unwrap()).collect();
    for c in ["noleap", "360_day", "proleptic_gregorian", "standard"] {
        assert!(calendars.contains(&c), "{calendars:?}");
    }
    let refused = doc["hub:ensemble"]["refused"].as_array().unwrap();
    assert!(
        refused
            .iter()
            .any(|r| r["dataset"].as_str().unwrap().contains("m9")
                && r["reason"].as_str().unwrap().contains("another grid")),
        "the member on another grid is refused by name: {refused:?}"
    );
    let custom = doc["extent"]["custom"].as_array().unwrap();
    assert!(custom.iter().any(|c| c["id"] == "calendar" && c["values"].as_array().unwrap().len() == 4), "{custom:?}");
    let (_, list) = get(&format!("{}/collections", s.base)).await;
    assert!(list["collections"].as_array().unwrap().iter().any(|c| c["id"] == "tg-mean"), "{list}");

    // Facet filters choose members; the plume has one parameter per member.
    let q = format!(
        "{}/collections/synth/position?coords=POINT(-73.3%2045.6)&datetime=2000-01-01/2001-01-01&calendar=noleap,360_day&plume=true&statistic=count",
        s.base
    );
    let (status, doc) = get(&q).await;
    assert_eq!(status, 200, "{doc}");
    let ranges = doc["ranges"].as_object().unwrap();
    assert_eq!(ranges["tas.count"]["values"], json!([4.0]), "m0, m1, m4, m5: {doc}");
    assert_eq!(ranges.keys().filter(|k| k.starts_with("tas.member.")).count(), 4, "{:?}", ranges.keys());

    // The period statistics kept in step by each member's ingest answer the
    // change map, and give what the computation from the yearly values gives.
    let change = "cube?bbox=-75,45,-72,47&baseline=1981/2010&period=2071/2100&statistic=mean,p10,median,p90,count";
    let mut answers = Vec::new();
    for e in ["synth", "synth-computed"] {
        let r = reqwest::get(format!("{}/collections/{e}/{change}", s.base)).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let kept = r.headers()["x-hub-period-statistics"].to_str().unwrap().to_string();
        let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        answers.push((kept, doc));
    }
    assert_eq!(answers[0].0, "stored 7 of 7", "the member ending in 2050 is left out");
    assert_eq!(answers[1].0, "stored 0 of 7");
    assert_eq!(answers[0].1["ranges"], answers[1].1["ranges"], "stored and computed answers differ");
    assert_eq!(answers[0].1["hub:ensemble"]["left_out"], answers[1].1["hub:ensemble"]["left_out"]);

    // Refusals name what to fix.
    for (query, param, words) in [
        ("position?coords=POINT(-73%2046)&calendar=julian", "facet", "calendar=julian"),
        ("position?coords=POINT(10%2010)", "coords", "outside the grid"),
        ("position?coords=POINT(-73%2046)&statistic=p100", "statistic", "p1 to p99"),
        ("position?coords=POINT(-73%2046)&members=nope", "members", "not a member"),
        ("position?coords=POINT(-73%2046)&baseline=1981/2010", "baseline", "period"),
        ("position?coords=POINT(-73%2046)&baseline=1800/1830&period=2071/2100", "period", "no member"),
        (
            "position?coords=POINT(-73%2046)&season=DJF&baseline=1981/2010&period=2071/2100",
            "period",
            "one value per year",
        ),
    ] {
        let (status, doc) = get(&format!("{}/collections/synth/{query}", s.base)).await;
        assert_eq!(status, 400, "{query}: {doc}");
        assert_eq!(doc["parameter"], param, "{query}: {doc}");
        assert!(doc["description"].as_str().unwrap().contains(words), "{query}: {doc}");
    }
}
