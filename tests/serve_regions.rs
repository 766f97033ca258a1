//! Region sets and region statistics end to end: real files written by
//! other software (`$HUB_TEST_DATA`: the Natural Earth countries, the
//! Mississippi basin, the Freiberger Mulde sub-catchments in EPSG:31468;
//! the ECMWF CO2 file on a global 1.125° grid) are registered and ingested
//! on a folder and on the S3 test server, the router is served on
//! 127.0.0.1, and
//! - Python checks every region's weights and area-weighted means against
//!   exactextract's coverage fractions × spherical cell areas on the source
//!   file read by xarray (`tests/interop/check_regions.py`);
//! - the API's contract is checked here: lists, GeoJSON, CSV columns, the
//!   ad hoc polygon by GET and POST giving the same answer, and every
//!   refusal a 4xx naming what to fix.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use hub_core::ports::RegionStore;
use hub_core::regions::{RegionSet, RegionSetId};
use hub_e2e::TestHub;
use hub_e2e::python;
use hub_gdal::regions::{RegionFileOptions, read_region_file};
use hub_http::{AppState, ServeConfig, router};
use hub_netcdf::fixtures::Fixture;
use hub_store::{ObjectStoreRegions, StoreUrl};
use hub_testkit::fixture;
use hub_zarr::{HubSettings, IcechunkHub};

struct Served {
    base: String,
    _dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

async fn register(store: &ObjectStoreRegions, file: &std::path::Path, set: &str, id_field: &str) {
    let options = RegionFileOptions { id_field: Some(id_field.into()), ..RegionFileOptions::default() };
    let features = read_region_file(file, &options).unwrap();
    let set = RegionSet::build(RegionSetId::new(set).unwrap(), features, Some(id_field)).unwrap();
    store.put(&set).await.unwrap();
}

async fn serve(url: StoreUrl, dir: tempfile::TempDir) -> Option<Served> {
    let data = hub_testkit::shared_data()?;
    let hub = TestHub::new(url.clone());
    let rotated = fixture(Fixture::Offset64RotatedPole);
    for (dataset, file) in [
        ("co2", data.join("netcdf/SMALL_total_column_co2.nc")),
        ("rotpole", data.join("netcdf/small_rotPole_precipitation.nc")),
        ("sic", data.join("netcdf/sic_SImon_CCCma-CanESM5_ssp245_r13i1p2f1_2020.nc")),
        ("rotated", rotated.clone()),
    ] {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let report = hub.ingest(dataset, &file, &format!("incoming/{dataset}/{name}")).await;
        assert_eq!(report.status, hub_core::ingest::IngestStatus::Committed, "{name}: {:?}", report.error);
    }
    let repo = Arc::new(IcechunkHub::new(url, HubSettings::default()).unwrap());
    let regions = ObjectStoreRegions::new(repo.root_store());
    let polygons = data.join("polygons");
    register(&regions, &polygons.join("ne_110m_admin0_countries.geojson"), "countries", "name").await;
    register(&regions, &polygons.join("hydrobasins_mississippi.geojson"), "basins", "HYBAS_ID").await;
    register(&regions, &polygons.join("freiberger_mulde/freiberger_mulde.shp"), "mulde", "GWKZ").await;
    let config = hub_core::ingest::DatasetConfig::attach(
        "",
        &RegionSetId::new("countries").unwrap(),
        &[hub_core::model::DatasetId::new("co2").unwrap()],
    )
    .unwrap();
    hub_store::store_dataset_config(&repo.root_store(), &config).await.unwrap();
    // The data came first: attaching backfills the series in one commit.
    let derivations = hub_core::regions::series::RegionDerivations {
        store: Arc::new(ObjectStoreRegions::new(repo.root_store())),
        projections: Arc::new(hub_http::projection::Proj4Projections),
    };
    let co2 = hub_core::model::DatasetId::new("co2").unwrap();
    let list = hub_core::derived::Derivations::for_dataset(&derivations, &co2).await.unwrap();
    hub_core::derived::backfill(repo.as_ref(), &co2, &list, "regions/countries").await.unwrap();
    let state = AppState::new(repo, ServeConfig::default()).with_regions(Arc::new(regions));
    let app = router(Arc::new(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Some(Served { base, _dir: dir, _server: server })
}

async fn on_folder() -> Option<Served> {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::from_path(dir.path()).unwrap();
    serve(url, dir).await
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn cases(data: &std::path::Path) -> serde_json::Value {
    let file = data.join("netcdf/SMALL_total_column_co2.nc");
    let rotated = fixture(Fixture::Offset64RotatedPole);
    let case = |set: &str, polygons: &str, field: &str, regions: &[&str], extra: serde_json::Value| {
        let mut c = serde_json::json!({
            "collection": "co2", "file": file, "variable": "tcco2", "y": "latitude", "x": "longitude",
            "set": set, "polygons": data.join("polygons").join(polygons), "id_field": field, "regions": regions,
            // exactextract's fractions are planar in lon/lat, the hub's spherical:
            // on 1.125° cells they differ by up to ~0.5 % of a cell (tan φ · Δφ / 4);
            // the means agree to ~1e-6.
            "tolerance": 1e-2, "mean_tolerance": 1e-5,
        });
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        c
    };
    serde_json::json!([
        case(
            "countries",
            "ne_110m_admin0_countries.geojson",
            "name",
            &["France", "Fiji", "Russia", "Chile", "Luxembourg", "United States of America", "Indonesia"],
            serde_json::json!({})
        ),
        case("basins", "hydrobasins_mississippi.geojson", "HYBAS_ID", &["7121166240"], serde_json::json!({})),
        // A rotated-pole grid (0.5° cells over central Europe, the hub's own
        // fixture): the hub clips in the rotated plane; the reference is
        // exactextract there, the region taken into it by PROJ.
        case(
            "countries",
            "ne_110m_admin0_countries.geojson",
            "name",
            &["Germany", "Poland", "Czechia", "Austria", "Switzerland", "Luxembourg", "Italy"],
            serde_json::json!({
                "collection": "rotated", "grid": "rotated", "y": "rlat", "x": "rlon",
                "file": rotated, "variable": "t2m",
            })
        ),
        // DMI-HIRHAM's 0.22° grid over Europe, whose grid mapping (pole 18°N
        // 140.75°W) disagrees with its own 2-D lon/lat by ~20°: the hub trusts
        // the coordinates (cells midway between them, as a curvilinear grid);
        // the reference is exactextract in the rotated frame that reproduces
        // them (ENSEMBLES' pole, 39.25°N 162°W; checked on every cell).
        case(
            "countries",
            "ne_110m_admin0_countries.geojson",
            "name",
            &["France", "Norway", "Italy", "Luxembourg", "Ukraine", "Iceland"],
            serde_json::json!({
                "collection": "rotpole", "grid": "rotated", "y": "rlat", "x": "rlon",
                "file": data.join("netcdf/small_rotPole_precipitation.nc"), "variable": "pr",
                "mapping": {"grid_north_pole_latitude": 39.25, "grid_north_pole_longitude": -162.0},
                // Cells straight in lon/lat (the hub) against straight in the
                // rotated frame (the reference) differ by ~1e-3 of a cell at
                // the edges; the precipitation means by up to ~3e-4.
                "mean_tolerance": 1e-3,
            })
        ),
        // A tripolar ocean grid with CMIP cell vertices; sea-ice percentages
        // with NaN over land. Its first row's vertices are broken (a corner
        // at 69°N for cells at 78°S): the hub moves those cells to their
        // centres, the reference leaves them out, so Antarctica (where they
        // are) is not compared.
        case(
            "countries",
            "ne_110m_admin0_countries.geojson",
            "name",
            &["Norway", "Japan", "New Zealand", "Fiji", "Chile", "Greenland", "Madagascar"],
            serde_json::json!({
                "collection": "sic", "grid": "curvilinear", "y": "j", "x": "i",
                "file": data.join("netcdf/sic_SImon_CCCma-CanESM5_ssp245_r13i1p2f1_2020.nc"), "variable": "siconc",
                // Means compared on the 0-100 % range: the planar fractions of
                // exactextract's side differ most on the coastal cells at
                // 70-80°N (Svalbard, Greenland), up to ~0.2 percentage points.
                "mean_scale": 100.0, "mean_tolerance": 3e-3,
            })
        ),
        case(
            "mulde",
            "freiberger_mulde/freiberger_mulde.shp",
            "GWKZ",
            &["542111", "5421151", "542112"],
            serde_json::json!({"crs": "EPSG:31468"})
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn weights_and_means_agree_with_exactextract_on_the_source_file() {
    if hub_testkit::python().is_none() {
        return;
    }
    let Some(served) = on_folder().await else { return };
    let data = hub_testkit::shared_data().unwrap();
    let mut cases = cases(&data);
    // The stored series of the attached set, read by xarray from the repository.
    cases[0]["series_repo"] = serde_json::json!(served._dir.path().join("co2"));
    let cases_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cases_file.path(), serde_json::to_vec(&cases).unwrap()).unwrap();
    let script = hub_testkit::workspace_root().join("tests/interop/check_regions.py");
    let (ok, text) = python(vec![
        script.to_string_lossy().into_owned(),
        served.base.clone(),
        cases_file.path().to_string_lossy().into_owned(),
    ])
    .await;
    println!("{text}");
    assert!(ok, "the hub's region weights differ from exactextract's:\n{text}");
    for (collection, set) in [
        ("co2", "countries"),
        ("co2", "basins"),
        ("co2", "mulde"),
        ("rotated", "countries"),
        ("rotpole", "countries"),
        ("sic", "countries"),
    ] {
        assert!(text.contains(&format!("ok   {collection} {set}:")), "{collection} {set} not checked:\n{text}");
    }
    assert!(text.contains("stored series and weights read by xarray"), "{text}");
}

async fn contract(base: &str) {
    // The OpenAPI document lists the region paths.
    let (_, api) = get(&format!("{base}/api")).await;
    for path in [
        "/regions/{setId}",
        "/collections/{collectionId}/locations/{locationId}",
        "/collections/{collectionId}/locations/{locationId}/weights",
    ] {
        assert!(api.contains(path), "{path} not documented");
    }
    assert!(api.contains("postArea"));
    // Lists and documents.
    let (s, body) = get(&format!("{base}/regions")).await;
    assert_eq!(s, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let sets: Vec<&str> = doc["regions"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(sets, ["basins", "countries", "mulde"]);
    let (s, body) = get(&format!("{base}/regions/countries?simplify=0.5")).await;
    assert_eq!(s, 200);
    let fc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(fc["features"].as_array().unwrap().len(), 177);
    let fiji = fc["features"].as_array().unwrap().iter().find(|f| f["properties"]["name"] == "Fiji").unwrap();
    let b = fiji["bbox"].as_array().unwrap();
    assert!(b.iter().all(|v| v.as_f64().unwrap().abs() <= 180.0), "RFC 7946 longitudes: {b:?}");
    let (s, body) = get(&format!("{base}/collections/co2/locations")).await;
    assert_eq!(s, 200);
    let locs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(locs["features"].as_array().unwrap().iter().any(|f| f["id"] == "countries:France"));
    // Attached and backfilled: countries answer from the stored series, the
    // basins (not attached) are computed.
    for (loc, source) in [("countries:France", "stored"), ("basins:7121166240", "computed")] {
        let r = reqwest::get(format!("{base}/collections/co2/locations/{loc}?f=csv")).await.unwrap();
        assert_eq!(r.headers().get("x-hub-region-series").and_then(|v| v.to_str().ok()), Some(source), "{loc}");
    }
    // CSV: a header, one row per time step, columns named parameter.statistic.
    let (s, csv) = get(&format!(
        "{base}/collections/co2/locations/countries:France?statistic=mean,max,count,valid-fraction&f=csv"
    ))
    .await;
    assert_eq!(s, 200, "{csv}");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("location,t,tcco2.mean,tcco2.max,tcco2.count,tcco2.valid-fraction"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 31);
    let first: Vec<&str> = rows[0].split(',').collect();
    assert_eq!(first[0], "countries:France");
    assert!(first[2].parse::<f64>().unwrap() <= first[3].parse::<f64>().unwrap(), "mean <= max");
    assert_eq!(first[5], "1", "every cell has a value");
    // The same statistics for the region's polygon posted ad hoc.
    let (_, feature) = get(&format!("{base}/regions/countries/Luxembourg")).await;
    let posted = reqwest::Client::new()
        .post(format!("{base}/collections/co2/area?statistic=mean&f=csv"))
        .body(feature.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 200);
    let posted = posted.text().await.unwrap();
    let (_, located) =
        get(&format!("{base}/collections/co2/locations/countries:Luxembourg?statistic=mean&f=csv")).await;
    let values =
        |t: &str| t.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().parse::<f64>().unwrap()).collect::<Vec<_>>();
    let (a, b) = (values(&posted), values(&located));
    assert_eq!(a.len(), 31);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-9 * y.abs(), "posted {x} vs location {y}");
    }
    // The same by GET with WKT.
    let wkt = "POLYGON((5 45,15 45,15 50,5 50,5 45))";
    let (s, by_get) = get(&format!("{base}/collections/co2/area?coords={wkt}&statistic=mean&f=csv")).await;
    assert_eq!(s, 200, "{by_get}");
    let geometry =
        serde_json::json!({"type": "Polygon", "coordinates": [[[5, 45], [15, 45], [15, 50], [5, 50], [5, 45]]]});
    let by_post = reqwest::Client::new()
        .post(format!("{base}/collections/co2/area?statistic=mean&f=csv"))
        .body(geometry.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(by_get.replace("area,", ""), by_post.replace("area,", ""));
    // Without statistic, area answers the cells as before.
    let (s, cells) = get(&format!("{base}/collections/co2/area?coords={wkt}")).await;
    assert_eq!(s, 200);
    assert!(cells.contains("\"Coverage\""), "{}", &cells[..200.min(cells.len())]);
    // Weights: fractions in (0, 1], areas that add up to the region's area on the grid.
    let (s, w) = get(&format!("{base}/collections/co2/locations/countries:France/weights")).await;
    assert_eq!(s, 200);
    let w: serde_json::Value = serde_json::from_str(&w).unwrap();
    let cells = w["cells"].as_array().unwrap();
    assert!(
        cells
            .iter()
            .all(|c| (0.0..=1.0).contains(&c["fraction"].as_f64().unwrap()) && c["fraction"].as_f64().unwrap() > 0.0)
    );
    let total: f64 = cells.iter().map(|c| c["area_m2"].as_f64().unwrap()).sum();
    assert!((total - w["area_m2"].as_f64().unwrap()).abs() < 1.0);
    // A region smaller than a cell still gets its cell's share.
    let (s, w) = get(&format!("{base}/collections/co2/locations/mulde:542111/weights?f=csv")).await;
    assert_eq!(s, 200);
    assert!(w.lines().count() >= 2, "{w}");
    // Refusals: 4xx naming what to fix.
    for (url, status, says) in [
        ("/collections/co2/locations/rivers:1", 404, "/regions"),
        ("/collections/co2/locations/countries:Atlantis", 404, "/regions/countries"),
        ("/collections/co2/locations/France", 404, "set:region"),
        ("/regions/nope", 404, "/regions"),
        ("/collections/co2/locations/countries:France?statistic=median", 400, "valid-fraction"),
        ("/collections/co2/locations/countries:France?f=netcdf", 400, "f"),
        ("/collections/co2/area?coords=POLYGON((0 0,1 0,1 1,0 0))&statistic=mean&f=netcdf", 400, "f"),
        ("/collections/co2/area?coords=POLYGON((0 0,1 0,1 1))&statistic=mean", 400, "coords"),
        ("/regions/countries?simplify=-1", 400, "simplify"),
    ] {
        let (s, body) = get(&format!("{base}{url}")).await;
        assert_eq!(s, status, "{url}: {body}");
        assert!(body.contains(says), "{url}: {body}");
    }
    let bad = reqwest::Client::new()
        .post(format!("{base}/collections/co2/area?statistic=mean"))
        .body("{\"type\": \"Point\", \"coordinates\": [0, 0]}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().await.unwrap().contains("Polygon"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_answers_lists_series_and_refusals_on_a_folder() {
    let Some(served) = on_folder().await else { return };
    contract(&served.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_answers_the_same_over_s3() {
    let Some(endpoint) = hub_testkit::s3_endpoint() else {
        hub_testkit::missing("the S3 test server (HUB_TEST_S3_ENDPOINT)");
        return;
    };
    let bucket = hub_testkit::create_bucket(&endpoint).await;
    let url: StoreUrl = format!("s3://{bucket}/hub").parse().unwrap();
    let Some(served) = serve(url, tempfile::tempdir().unwrap()).await else { return };
    contract(&served.base).await;
}
