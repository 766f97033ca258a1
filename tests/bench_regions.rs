//! The regions benchmark's measuring side (run by `scripts/bench/regions.sh`,
//! which prepares the data and runs the peers on the same work): the weights
//! of the 177 Natural Earth countries on the dataset's grid, the 10-year
//! area-weighted mean of the Mississippi basin asked ad hoc (the full
//! polygon posted, and the simplified one the peer takes as WKT), the same
//! basin registered and kept as a region series (backfill once, then read
//! over local HTTP). Prints one line per measurement in the bench kit's
//! format: `name<TAB>median_s<TAB>min_s<TAB>runs=N<TAB>key=value;...`.
//!
//! Usage: `cargo bench -p hub-e2e --bench regions -- REPO DATASET COUNTRIES.geojson BASIN.geojson BASIN_WKT_FILE [RUNS]`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use hub_core::ports::{RegionStore, Repository, Version};
use hub_core::query::{DatasetView, RegionCatalog};
use hub_core::regions::{RegionSet, RegionSetId, region_weights};
use hub_e2e::emit;
use hub_gdal::regions::{RegionFileOptions, read_region_file};
use hub_http::{AppState, ServeConfig, router};
use hub_store::{ObjectStoreRegions, StoreUrl};
use hub_zarr::{HubSettings, IcechunkHub};
use tower::ServiceExt;

fn register(path: &str, set: &str, id_field: &str) -> RegionSet {
    let options = RegionFileOptions { id_field: Some(id_field.into()), ..RegionFileOptions::default() };
    let features = read_region_file(std::path::Path::new(path), &options).unwrap();
    RegionSet::build(RegionSetId::new(set).unwrap(), features, Some(id_field)).unwrap()
}

async fn request(app: &axum::Router, req: Request<Body>) -> (u16, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [repo, dataset, countries, basin, wkt_file, rest @ ..] = args.as_slice() else {
        panic!("usage: REPO DATASET COUNTRIES.geojson BASIN.geojson BASIN_WKT_FILE [RUNS]");
    };
    let runs: usize = rest.first().map_or(9, |r| r.parse().unwrap());
    let url: StoreUrl = repo.parse().unwrap();
    let hub = Arc::new(IcechunkHub::new(url, HubSettings::serving_from_env().unwrap()).unwrap());
    let store = Arc::new(ObjectStoreRegions::new(hub.root_store()));
    let countries = register(countries, "countries", "name");
    let basins = register(basin, "basins", "HYBAS_ID");
    store.put(&countries).await.unwrap();
    store.put(&basins).await.unwrap();
    let basin_id = basins.regions[0].id.clone();

    // Weights of all countries on the dataset's grid (the cells built once, as cached).
    let id = hub_core::model::DatasetId::new(dataset.as_str()).unwrap();
    let reader = hub.open(&id, &Version::Latest).await.unwrap();
    let view = DatasetView::load(id.clone(), reader.as_ref(), &hub_http::projection::Proj4Projections).await.unwrap();
    let catalog = RegionCatalog::new(store.clone(), std::time::Duration::from_secs(60));
    let (_, cells) = catalog.cells(&view, reader.as_ref(), 0).await.unwrap();
    let mut secs = Vec::new();
    let mut n_cells = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let w = region_weights(&cells, &countries.regions);
        secs.push(t.elapsed().as_secs_f64());
        n_cells = w.iter().map(|w| w.cells.len()).sum();
    }
    emit(
        "regions.weights.countries177.hub",
        &secs,
        &format!("regions=177;cells={n_cells};threads={}", rayon::current_num_threads()),
    );

    // Ad hoc: the basin's polygon posted (weights and 10 years read each time).
    let state = AppState::new(hub.clone(), ServeConfig::default()).with_regions(store.clone());
    let app = router(Arc::new(state));
    let feature = std::fs::read_to_string(basin).unwrap();
    let wkt = std::fs::read_to_string(wkt_file).unwrap();
    let collection = id.as_str().to_string();
    let adhoc = |body: Option<String>| {
        let app = app.clone();
        let wkt = wkt.clone();
        let collection = collection.clone();
        async move {
            let req = match body {
                Some(b) => Request::post(format!("/collections/{collection}/area?statistic=mean&f=csv"))
                    .header("host", "bench")
                    .body(Body::from(b))
                    .unwrap(),
                None => {
                    let coords: String = url_encode(wkt.trim());
                    Request::get(format!("/collections/{collection}/area?statistic=mean&f=csv&coords={coords}"))
                        .header("host", "bench")
                        .body(Body::empty())
                        .unwrap()
                }
            };
            request(&app, req).await
        }
    };
    for (name, body) in [("full", Some(feature.clone())), ("simplified", None)] {
        let mut secs = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let (status, text) = adhoc(body.clone()).await;
            secs.push(t.elapsed().as_secs_f64());
            assert_eq!(status, 200, "{text}");
            rows = text.lines().count() - 1;
        }
        emit(&format!("regions.adhoc.mississippi_{name}.hub.inproc"), &secs, &format!("steps={rows}"));
    }

    // Registered: attach, backfill once, then the stored series over local HTTP.
    let config = hub_core::ingest::DatasetConfig::attach("", &basins.id, std::slice::from_ref(&id)).unwrap();
    hub_store::store_dataset_config(&hub.root_store(), &config).await.unwrap();
    let derivations = hub_core::regions::series::RegionDerivations {
        store: store.clone(),
        projections: Arc::new(hub_http::projection::Proj4Projections),
    };
    let list = hub_core::derived::Derivations::for_dataset(&derivations, &id).await.unwrap();
    let t = Instant::now();
    let (_, done) = hub_core::derived::backfill(hub.as_ref(), &id, &list, "regions/basins").await.unwrap();
    emit("regions.backfill.mississippi.hub", &[t.elapsed().as_secs_f64()], &format!("done={}", done.join(" ")));
    let state = AppState::new(hub.clone(), ServeConfig::default()).with_regions(store.clone() as Arc<dyn RegionStore>);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(Arc::new(state))).await.unwrap() });
    let client = reqwest::Client::new();
    let path = format!("{base}/collections/{}/locations/basins:{basin_id}?f=csv", id.as_str());
    let first = client.get(&path).send().await.unwrap();
    assert_eq!(first.headers().get("x-hub-region-series").and_then(|v| v.to_str().ok()), Some("stored"));
    let _ = first.text().await.unwrap();
    let mut secs = Vec::new();
    let mut rows = 0;
    for _ in 0..runs.max(20) {
        let t = Instant::now();
        let r = client.get(&path).send().await.unwrap();
        let text = r.text().await.unwrap();
        secs.push(t.elapsed().as_secs_f64());
        rows = text.lines().count() - 1;
    }
    emit("regions.series.mississippi.hub.http.warm", &secs, &format!("steps={rows}"));
}

fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
