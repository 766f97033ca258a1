//! Forecast runs through the API as EDR instances: the list, `latest`, a
//! query on one run (its `datetime` meaning valid time within the run), and
//! the best estimate spliced from the newest run covering each valid time.
//! The runs are GRIB2 files written by the hub's own GRIB writer, ingested
//! one step at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hub_e2e::TestHub;
use hub_gdal::fixtures::{Forecast, write_forecast};
use hub_http::{AppState, ServeConfig, router};
use hub_store::StoreUrl;
use hub_zarr::{HubSettings, IcechunkHub};
use serde_json::Value;
use tower::ServiceExt;

const RUN0: i64 = 1_704_067_200; // 2024-01-01T00:00Z
const RUN1: i64 = RUN0 + 6 * 3600;

fn urlencode(s: &str) -> String {
    s.replace(' ', "%20").replace('(', "%28").replace(')', "%29").replace(',', "%2C")
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let res = app.clone().oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 26).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Values of the one parameter of a point CoverageJSON answer, and its time axis.
fn series(doc: &Value, param: &str) -> (Vec<String>, Vec<f64>) {
    let values = doc["ranges"][param]["values"].as_array().cloned().unwrap_or_default();
    let axes = &doc["domain"]["axes"];
    let times = ["t", "time", "valid_time"]
        .iter()
        .find_map(|k| axes[*k]["values"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    (times, values.iter().filter_map(Value::as_f64).collect())
}

/// Two runs of three lead times each, ingested one step at a time, out of order.
async fn ingest_runs(dir: &std::path::Path) -> StoreUrl {
    let url = StoreUrl::from_path(&dir.join("hub")).unwrap();
    let t = TestHub::new(url.clone());
    for (r, lead) in [(RUN0, 0u32), (RUN0, 3), (RUN0, 6), (RUN1, 6), (RUN1, 0), (RUN1, 3)] {
        let path = dir.join(format!("{r}_{lead}.grib2"));
        write_forecast(&path, &Forecast { reference: r, lead_hours: lead, version: 0.0 }).unwrap();
        let rep = t.ingest("nwp", &path, &format!("incoming/nwp/{r}_{lead}.grib2")).await;
        assert!(rep.error.is_none(), "{:?}", rep.error);
    }
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_instances() {
    let dir = tempfile::tempdir().unwrap();
    let url = ingest_runs(dir.path()).await;
    let hub = Arc::new(IcechunkHub::new(url, HubSettings::default()).unwrap());
    let app = router(Arc::new(AppState::new(hub, ServeConfig::default())));

    let (_, coll) = get(&app, "/collections/nwp").await;
    assert!(coll["links"].as_array().unwrap().iter().any(|l| l["rel"] == "instances"), "{coll}");
    let (s, list) = get(&app, "/collections/nwp/instances").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list["instances"].as_array().unwrap().iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, vec!["2024-01-01T06:00:00Z", "2024-01-01T00:00:00Z"], "newest first");
    let (s, latest) = get(&app, "/collections/nwp/instances/latest").await;
    assert_eq!(s, StatusCode::OK);
    // The run is the instance's reference time axis, fixed to one value, in its custom extent.
    let custom = latest["extent"]["custom"].as_array().cloned().unwrap_or_default();
    assert!(custom.iter().any(|c| c["values"] == serde_json::json!(["2024-01-01T06:00:00Z"])), "{custom:?}");
    let all_runs = coll["extent"]["custom"].as_array().cloned().unwrap_or_default();
    assert!(
        all_runs.iter().any(|c| c["values"] == serde_json::json!(["2024-01-01T00:00:00Z", "2024-01-01T06:00:00Z"])),
        "{all_runs:?}"
    );

    // One run at a point: the 2 m temperature (band 3 of the writer) at its three lead times.
    let p = "coords=POINT(-179%2089)&parameter-name=tmp_height_above_ground";
    let (s, doc) = get(&app, &format!("/collections/nwp/instances/2024-01-01T00:00:00Z/position?{p}")).await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    let (_, values) = series(&doc, "tmp_height_above_ground");
    let want: Vec<f64> = [0, 3, 6]
        .iter()
        .map(|&l| f64::from(Forecast { reference: RUN0, lead_hours: l, version: 0.0 }.value(3, 0, 0)))
        .collect();
    assert_eq!(values, want);
    // `datetime` is a valid time within the run.
    let (s, doc) = get(
        &app,
        &format!("/collections/nwp/instances/2024-01-01T00:00:00Z/position?{p}&datetime=2024-01-01T03:00:00Z"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(series(&doc, "tmp_height_above_ground").1, vec![want[1]]);

    // The best estimate: 00, 03 from run 00Z; 06, 09, 12 from run 06Z.
    let (s, doc) = get(&app, &format!("/collections/nwp/instances/best/position?{p}")).await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    let (times, values) = series(&doc, "tmp_height_above_ground");
    assert_eq!(
        times,
        ["00", "03", "06", "09", "12"].iter().map(|h| format!("2024-01-01T{h}:00:00Z")).collect::<Vec<_>>()
    );
    let v = |r: i64, l: u32| f64::from(Forecast { reference: r, lead_hours: l, version: 0.0 }.value(3, 0, 0));
    assert_eq!(values, vec![v(RUN0, 0), v(RUN0, 3), v(RUN1, 0), v(RUN1, 3), v(RUN1, 6)]);
    let (s, doc) = get(
        &app,
        &format!("/collections/nwp/instances/best/position?{p}&datetime=2024-01-01T05:00:00Z/2024-01-01T10:00:00Z"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(series(&doc, "tmp_height_above_ground").1, vec![v(RUN1, 0), v(RUN1, 3)]);

    // The OpenAPI document lists the instance paths for this collection.
    let (s, api) = get(&app, "/api").await;
    assert_eq!(s, StatusCode::OK);
    let paths = api["paths"].as_object().unwrap();
    for path in ["/collections/{collectionId}/instances", "/collections/{collectionId}/instances/{instanceId}/position"]
    {
        assert!(paths.contains_key(path), "{path} missing");
    }
    // Every instance path answers with its example (latest) and the collection.
    for q in ["position", "cube", "area", "radius", "trajectory"] {
        let item = &paths[&format!("/collections/{{collectionId}}/instances/{{instanceId}}/{q}")]["get"]["parameters"];
        let mut query = Vec::new();
        for p in item.as_array().unwrap() {
            if p["in"] == "query" && p["required"] == true {
                query.push(format!("{}={}", p["name"].as_str().unwrap(), urlencode(p["example"].as_str().unwrap())));
            }
        }
        let (s, doc) = get(&app, &format!("/collections/nwp/instances/latest/{q}?{}", query.join("&"))).await;
        assert_eq!(s, StatusCode::OK, "{q}: {doc}");
    }

    // Clear errors.
    let (s, e) = get(&app, "/collections/nwp/instances/2023-01-01T00:00:00Z").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, _) = get(&app, "/collections/nwp/instances/best/cube?bbox=0,0,10,10").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) =
        get(&app, &format!("/collections/nwp/instances/latest/position?{p}&reference_time=2024-01-01T00:00:00Z")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// A mean, min and max per lead time of one column of a statistics answer.
fn stat(doc: &Value, name: &str) -> Vec<f64> {
    doc["ranges"][name]["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_statistics_per_run() {
    use hub_core::ports::RegionStore;
    use hub_core::regions::{RegionSet, RegionSetId, geojson};

    let dir = tempfile::tempdir().unwrap();
    let url = ingest_runs(dir.path()).await;
    let hub = Arc::new(IcechunkHub::new(url, HubSettings::default()).unwrap());
    let regions = hub_store::ObjectStoreRegions::new(hub.root_store());
    // A box over parts of 2° cells: fractions between 0 and 1 on every side.
    let doc = serde_json::json!({"type": "FeatureCollection", "features": [{"type": "Feature", "id": "adriatic",
        "properties": {}, "geometry": {"type": "Polygon",
        "coordinates": [[[10.5, 40.5], [17.3, 40.5], [17.3, 45.1], [10.5, 45.1], [10.5, 40.5]]]}}]});
    let features = geojson::features(&doc, geojson::Fields::default()).unwrap();
    let set = RegionSet::build(RegionSetId::new("boxes").unwrap(), features, None).unwrap();
    regions.put(&set).await.unwrap();
    let state = Arc::new(AppState::new(hub.clone(), ServeConfig::default()).with_regions(Arc::new(regions)));
    let app = router(state);

    let p = "parameter-name=tmp_height_above_ground&statistic=mean,min,max";
    let run = "/collections/nwp/instances/2024-01-01T00:00:00Z/locations";
    // Not attached yet: a run lists no locations but answers a registered region all the same.
    let (s, list) = get(&app, run).await;
    assert_eq!((s, list["features"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{list}");
    let (s, doc) = get(&app, &format!("{run}/boxes:adriatic?{p}")).await;
    assert_eq!(s, StatusCode::OK, "{doc}");

    // The same statistics from the cells and their weights, and the fixture's own values.
    let (s, w) =
        get(&app, "/collections/nwp/locations/boxes:adriatic/weights?parameter-name=tmp_height_above_ground").await;
    assert_eq!(s, StatusCode::OK, "{w}");
    let cells: Vec<(usize, usize, f64)> = w["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            // The fixture's grid: 2° cells from 180° W, 90° N.
            let (lon, lat) = (c["lon"].as_f64().unwrap(), c["lat"].as_f64().unwrap());
            let (j, i) = ((90.0 - lat) / 2.0 - 0.5, (lon + 180.0) / 2.0 - 0.5);
            (j.round() as usize, i.round() as usize, c["area_m2"].as_f64().unwrap())
        })
        .collect();
    assert!(cells.len() >= 12, "{w}");
    let (mut means, mut mins, mut maxs) = (vec![], vec![], vec![]);
    for lead in [0u32, 3, 6] {
        let f = Forecast { reference: RUN0, lead_hours: lead, version: 0.0 };
        let v: Vec<(f64, f64)> = cells.iter().map(|&(j, i, a)| (f64::from(f.value(3, j, i)), a)).collect();
        means.push(v.iter().map(|(x, a)| x * a).sum::<f64>() / v.iter().map(|(_, a)| a).sum::<f64>());
        mins.push(v.iter().map(|p| p.0).fold(f64::INFINITY, f64::min));
        maxs.push(v.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max));
    }
    let close =
        |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9 * y.abs());
    let name = "tmp_height_above_ground";
    assert!(close(&stat(&doc, &format!("{name}.mean")), &means), "{doc} vs {means:?}");
    assert_eq!(stat(&doc, &format!("{name}.min")), mins);
    assert_eq!(stat(&doc, &format!("{name}.max")), maxs);

    // `datetime` is a valid time within the run; the other run differs.
    let (s, one) = get(&app, &format!("{run}/boxes:adriatic?{p}&datetime=2024-01-01T06:00:00Z")).await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(stat(&one, &format!("{name}.max")), vec![maxs[2]]);
    let (s, later) =
        get(&app, &format!("/collections/nwp/instances/2024-01-01T06:00:00Z/locations/boxes:adriatic?{p}")).await;
    assert_eq!(s, StatusCode::OK, "{later}");
    assert_ne!(stat(&later, &format!("{name}.max")), maxs);

    // Attached and backfilled: the stored series answer the run, with the same numbers.
    let config = hub_core::ingest::DatasetConfig::attach(
        "",
        &RegionSetId::new("boxes").unwrap(),
        &[hub_core::model::DatasetId::new("nwp").unwrap()],
    )
    .unwrap();
    hub_store::store_dataset_config(&hub.root_store(), &config).await.unwrap();
    let derivations = hub_core::regions::series::RegionDerivations {
        store: Arc::new(hub_store::ObjectStoreRegions::new(hub.root_store())),
        projections: Arc::new(hub_http::projection::Proj4Projections),
    };
    let nwp = hub_core::model::DatasetId::new("nwp").unwrap();
    let list = hub_core::derived::Derivations::for_dataset(&derivations, &nwp).await.unwrap();
    let (_, done) = hub_core::derived::backfill(hub.as_ref(), &nwp, &list, "regions/boxes").await.unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    let app = router(Arc::new(
        AppState::new(hub.clone(), ServeConfig::default())
            .with_regions(Arc::new(hub_store::ObjectStoreRegions::new(hub.root_store()))),
    ));
    let (s, list) = get(&app, run).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["features"].as_array().map(Vec::len), Some(1), "{list}");
    // The series keep the mean (the configuration's default).
    let uri = format!("{run}/boxes:adriatic?parameter-name={name}&statistic=mean");
    let res = app.clone().oneshot(Request::builder().uri(&uri).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.headers()["x-hub-region-series"], "stored");
    let (s, stored) = get(&app, &uri).await;
    assert_eq!(s, StatusCode::OK, "{stored}");
    let key = format!("{name}.mean");
    assert_eq!(stored["ranges"][&key], doc["ranges"][&key], "stored and computed answers differ");

    // Clear refusals: the best estimate is for points; an unknown run is 404.
    let (s, e) = get(&app, &format!("/collections/nwp/instances/best/locations/boxes:adriatic?{p}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) =
        get(&app, &format!("/collections/nwp/instances/2023-01-01T00:00:00Z/locations/boxes:adriatic?{p}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, e) = get(&app, &format!("{run}/boxes:adriatic?{p}&reference_time=2024-01-01T06:00:00Z")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
}
