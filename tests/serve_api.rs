//! The HTTP API through its router (`oneshot`), over datasets ingested from
//! the hub's own fixtures: every resource and query type, errors and their
//! statuses, budgets, and that a query reads only the chunks it needs.
//! Expected values come from the source NetCDF files through netCDF-C, and
//! nearest cells from the files' own coordinates.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hub_core::model::DatasetId;
use hub_core::ports::{Repository, Version};
use hub_e2e::TestHub;
use hub_http::{AppState, Budget, ServeConfig, router};
use hub_netcdf::fixtures::Fixture;
use hub_store::StoreUrl;
use hub_zarr::{HubSettings, IcechunkHub, ReadCounter};
use serde_json::Value;
use tokio::sync::OnceCell;
use tower::ServiceExt;

struct World {
    _dir: tempfile::TempDir,
    url: StoreUrl,
}

/// One hub for the whole file: the three fixtures ingested once.
async fn world() -> &'static World {
    static W: OnceCell<World> = OnceCell::const_new();
    W.get_or_init(|| async {
        let dir = tempfile::tempdir().unwrap();
        let url = StoreUrl::from_path(dir.path()).unwrap();
        let hub = TestHub::new(url.clone());
        for (ds, f) in [
            ("monthly-360", Fixture::ClassicPacked360Day),
            ("daily-noleap", Fixture::Netcdf4NoLeapFill),
            ("hourly-rotated", Fixture::Offset64RotatedPole),
        ] {
            let path = hub_testkit::fixture(f);
            hub.ingest(ds, &path, &format!("incoming/{ds}/{}", f.file_name())).await;
        }
        World { _dir: dir, url }
    })
    .await
}

struct Api {
    router: axum::Router,
    counter: Arc<ReadCounter>,
    hub: Arc<IcechunkHub>,
}

async fn api_with(config: ServeConfig) -> Api {
    api_with_settings(config, HubSettings::default()).await
}

async fn api_with_settings(config: ServeConfig, settings: HubSettings) -> Api {
    let w = world().await;
    let counter = settings.read_counter.clone().unwrap_or_default();
    let settings = HubSettings { read_counter: Some(counter.clone()), ..settings };
    let hub = Arc::new(IcechunkHub::new(w.url.clone(), settings).unwrap());
    let state = Arc::new(AppState::new(hub.clone(), config));
    Api { router: router(state), counter, hub }
}

async fn api() -> Api {
    api_with(ServeConfig::default()).await
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn get(router: &axum::Router, uri: &str) -> Answer {
    let req = Request::get(uri).header("host", "hub.test").body(Body::empty()).unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap().to_vec();
    Answer { status, content_type, body }
}

/// `%`-encodes what a URL query cannot hold as is.
fn q(s: &str) -> String {
    s.replace('%', "%25").replace(' ', "%20").replace('(', "%28").replace(')', "%29").replace(',', "%2C")
}

/// A source variable's values and its coordinates, read with netCDF-C.
struct Source {
    file: netcdf::File,
}

impl Source {
    fn open(f: Fixture) -> Self {
        Self { file: netcdf::open(hub_testkit::fixture(f)).unwrap() }
    }
    fn coord(&self, name: &str) -> Vec<f64> {
        self.file.variable(name).unwrap().get_values::<f64, _>(..).unwrap()
    }
    /// Unpacked values at one cell over time, missing as `None`.
    fn series(&self, var: &str, j: usize, i: usize) -> Vec<Option<f64>> {
        let v = self.file.variable(var).unwrap();
        let raw: Vec<f64> = v.get_values::<f64, _>((.., j, i)).unwrap();
        let num = |k: &str| {
            v.attribute(k).and_then(|a| match a.value().unwrap() {
                netcdf::AttributeValue::Float(x) => Some(f64::from(x)),
                netcdf::AttributeValue::Double(x) => Some(x),
                netcdf::AttributeValue::Short(x) => Some(f64::from(x)),
                _ => None,
            })
        };
        let fill = num("_FillValue");
        let (scale, offset) = (num("scale_factor").unwrap_or(1.0), num("add_offset").unwrap_or(0.0));
        raw.into_iter()
            .map(
                |x| {
                    if fill.is_some_and(|f| f == x || (f as f32) == (x as f32)) {
                        None
                    } else {
                        Some(x * scale + offset)
                    }
                },
            )
            .collect()
    }
}

fn nearest(values: &[f64], v: f64) -> usize {
    (0..values.len()).min_by(|a, b| (values[*a] - v).abs().total_cmp(&(values[*b] - v).abs())).unwrap()
}

fn assert_close(got: &[Value], want: &[Option<f64>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        match (g.as_f64(), w) {
            (None, None) => {}
            (Some(g), Some(w)) => {
                assert!((g - w).abs() <= 1e-6 * w.abs().max(1e-12), "{what}[{k}]: got {g}, want {w}")
            }
            _ => panic!("{what}[{k}]: got {g}, want {w:?}"),
        }
    }
}

#[tokio::test]
async fn landing_conformance_and_openapi_describe_what_is_served() {
    let api = api().await;
    let landing = get(&api.router, "/").await;
    assert_eq!(landing.status, StatusCode::OK);
    let links: Vec<String> =
        landing.json()["links"].as_array().unwrap().iter().map(|l| l["href"].as_str().unwrap().to_string()).collect();
    for want in ["/conformance", "/api", "/collections"] {
        assert!(links.iter().any(|h| h.ends_with(want)), "landing links {links:?} lack {want}");
    }
    let conf = get(&api.router, "/conformance").await.json();
    let classes: Vec<&str> = conf["conformsTo"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(classes.contains(&"http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/core"), "{classes:?}");

    let doc = get(&api.router, "/api").await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    for q in ["position", "radius", "area", "cube", "trajectory"] {
        assert!(paths.contains_key(&format!("/collections/{{collectionId}}/{q}")), "no {q} in {:?}", paths.keys());
    }
    // The collection ids are the document's enum, and every documented
    // path, filled in with the first id and the documented examples, answers.
    let ids: Vec<&str> = paths["/collections/{collectionId}"]["get"]["parameters"][0]["schema"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(ids, ["daily-noleap", "hourly-rotated", "monthly-360"]);
    for (path, item) in paths {
        let mut uri = path.replace("{collectionId}", ids[0]);
        let examples: Vec<String> = item["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query" && p["required"] == true)
            .map(|p| format!("{}={}", p["name"].as_str().unwrap(), q(p["example"].as_str().unwrap())))
            .collect();
        if !examples.is_empty() {
            uri = format!("{uri}?{}", examples.join("&"));
        }
        let a = get(&api.router, &uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
    }
    let html = get(&api.router, "/collections?f=html").await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.content_type.starts_with("text/html") && html.text().contains("daily-noleap"), "{}", html.text());
}

#[tokio::test]
async fn collections_carry_extents_parameters_and_queries() {
    let api = api().await;
    let all = get(&api.router, "/collections").await.json();
    let ids: Vec<&str> = all["collections"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, ["daily-noleap", "hourly-rotated", "monthly-360"]);

    let c = get(&api.router, "/collections/monthly-360").await.json();
    let temporal = &c["extent"]["temporal"];
    // The calendar is the temporal reference system's datum (EDR has no field of its own for it).
    assert!(temporal["trs"].as_str().unwrap().contains("TDATUM[\"360_day\"]"), "{temporal}");
    // 36 mid-month steps from 1859-12-16 in the 360_day calendar: the last is 1862-11-16;
    // a regular axis is an ISO 8601 repeating interval, count and step included.
    let times = Source::open(Fixture::ClassicPacked360Day).coord("time");
    assert_eq!(temporal["values"][0], format!("R{}/1859-12-16T00:00:00Z/P30D", times.len()), "{temporal}");
    assert_eq!(temporal["interval"][0][0], "1859-12-16T00:00:00Z", "{temporal}");
    assert_eq!(temporal["interval"][0][1], "1862-11-16T00:00:00Z", "{temporal}");
    let bbox = c["extent"]["spatial"]["bbox"][0].as_array().unwrap();
    let b: Vec<f64> = bbox.iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(b, [-180.0, -90.0, 180.0, 90.0]);
    let tas = &c["parameter_names"]["tas"];
    assert_eq!(tas["unit"]["symbol"]["value"], "K", "{tas}");
    assert_eq!(tas["observedProperty"]["label"], "air_temperature");
    for q in ["position", "radius", "area", "cube", "trajectory"] {
        assert!(c["data_queries"][q].is_object(), "data_queries lack {q}: {}", c["data_queries"]);
    }

    let rotated = get(&api.router, "/collections/hourly-rotated").await.json();
    assert!(rotated["parameter_names"]["t2m"].is_object(), "{rotated}");
    let missing = get(&api.router, "/collections/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["description"].as_str().unwrap().contains("nope"));
}

#[tokio::test]
async fn position_gives_the_nearest_cells_series_in_the_datasets_calendar() {
    let api = api().await;
    let src = Source::open(Fixture::Netcdf4NoLeapFill);
    let (lat, lon) = (src.coord("lat"), src.coord("lon"));
    let (qlon, qlat) = (23.9, 61.4);
    let (j, i) = (nearest(&lat, qlat), nearest(&lon, qlon));
    let a =
        get(&api.router, &format!("/collections/daily-noleap/position?coords={}", q(&format!("POINT({qlon} {qlat})"))))
            .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type, "application/prs.coverage+json");
    let cov = a.json();
    assert_eq!(cov["type"], "Coverage", "{cov}");
    assert_eq!(cov["domain"]["domainType"], "PointSeries");
    assert_eq!(cov["domain"]["axes"]["x"]["values"][0].as_f64(), Some(lon[i]));
    assert_eq!(cov["domain"]["axes"]["y"]["values"][0].as_f64(), Some(lat[j]));
    let t = cov["domain"]["axes"]["t"]["values"].as_array().unwrap();
    assert_eq!(t.len(), 730);
    assert_eq!(t[0], "2046-01-01T00:00:00Z");
    assert_eq!(t[58], "2046-02-28T00:00:00Z");
    assert_eq!(t[59], "2046-03-01T00:00:00Z", "noleap: no 29 February");
    assert_eq!(t[729], "2047-12-31T00:00:00Z");
    let values = cov["ranges"]["pr"]["values"].as_array().unwrap();
    assert_close(values, &src.series("pr", j, i), "pr");
    assert!(values[..190].iter().all(Value::is_null), "the outage is missing, not zero");

    // Datetime selection: an interval with an open start, and a list.
    let a = get(
        &api.router,
        &format!("/collections/daily-noleap/position?coords={}&datetime=../2046-01-03", q("POINT(23.9 61.4)")),
    )
    .await;
    assert_eq!(a.json()["domain"]["axes"]["t"]["values"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn position_in_360_day_calendar_and_packed_values() {
    let api = api().await;
    let src = Source::open(Fixture::ClassicPacked360Day);
    let (lat, lon) = (src.coord("lat"), src.coord("lon"));
    let (j, i) = (nearest(&lat, -33.0), nearest(&lon, 151.0));
    // 30 February exists in the 360_day calendar.
    let a = get(
        &api.router,
        &format!(
            "/collections/monthly-360/position?coords={}&datetime=1860-02-30T00:00:00Z/1860-12-30",
            q("POINT(151 -33)")
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let cov = a.json();
    let t: Vec<&str> =
        cov["domain"]["axes"]["t"]["values"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(t.first(), Some(&"1860-03-16T00:00:00Z"), "{t:?}");
    assert_eq!(t.len(), 10, "{t:?}");
    let all = src.series("tas", j, i);
    assert_close(cov["ranges"]["tas"]["values"].as_array().unwrap(), &all[3..13], "tas");
    assert_eq!(cov["domain"]["referencing"][1]["system"]["cf:calendar"], "360_day", "{}", cov["domain"]["referencing"]);

    // A date the calendar does not have is a 400 naming datetime.
    let a =
        get(&api.router, &format!("/collections/daily-noleap/position?coords={}&datetime=2046-02-29", q("POINT(0 0)")))
            .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["parameter"], "datetime", "{}", a.text());
}

#[tokio::test]
async fn position_linear_interpolates_between_the_four_neighbours() {
    let api = api().await;
    let src = Source::open(Fixture::ClassicPacked360Day);
    let (lat, lon) = (src.coord("lat"), src.coord("lon"));
    // Midway between four centres: the mean of the four.
    let (j, i) = (10, 20);
    let (plon, plat) = ((lon[i] + lon[i + 1]) / 2.0, (lat[j] + lat[j + 1]) / 2.0);
    let a = get(
        &api.router,
        &format!(
            "/collections/monthly-360/position?coords={}&method=linear&datetime=1859-12-16",
            q(&format!("POINT({plon} {plat})"))
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let got = a.json()["ranges"]["tas"]["values"][0].as_f64().unwrap();
    let corners = [(j, i), (j, i + 1), (j + 1, i), (j + 1, i + 1)];
    let want = corners.iter().map(|(y, x)| src.series("tas", *y, *x)[0].unwrap()).sum::<f64>() / 4.0;
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
}

#[tokio::test]
async fn multipoint_csv_and_geojson() {
    let api = api().await;
    let coords = q("MULTIPOINT((10 50),(-70 -20))");
    let a =
        get(&api.router, &format!("/collections/monthly-360/position?coords={coords}&datetime=1860-01-16&f=csv")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(a.content_type.starts_with("text/csv"));
    let text = a.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "header and one row per point: {text}");
    assert!(lines[0].contains("tas"), "{text}");

    let a =
        get(&api.router, &format!("/collections/monthly-360/position?coords={coords}&datetime=1860-01-16&f=geojson"))
            .await;
    let fc = a.json();
    assert_eq!(fc["type"], "FeatureCollection");
    assert_eq!(fc["features"].as_array().unwrap().len(), 2, "{fc}");

    let a = get(&api.router, &format!("/collections/monthly-360/position?coords={coords}")).await;
    let cov = a.json();
    assert_eq!(cov["type"], "CoverageCollection", "{cov}");
    assert_eq!(cov["coverages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn cube_area_and_radius_select_the_right_cells() {
    let api = api().await;
    let src = Source::open(Fixture::ClassicPacked360Day);
    let (lat, lon) = (src.coord("lat"), src.coord("lon"));
    // cube: every centre inside the box, in grid order.
    let (w, s, e, n) = (-20.0, 30.0, 40.0, 60.0);
    let a = get(&api.router, &format!("/collections/monthly-360/cube?bbox={w},{s},{e},{n}&datetime=1860-06-16")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let cov = a.json();
    assert_eq!(cov["domain"]["domainType"], "Grid", "{}", cov["domain"]);
    let xs: Vec<f64> =
        cov["domain"]["axes"]["x"]["values"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    let ys: Vec<f64> =
        cov["domain"]["axes"]["y"]["values"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    let want_x: Vec<f64> = lon.iter().copied().filter(|v| (w..=e).contains(v)).collect();
    let want_y: Vec<f64> = lat.iter().copied().filter(|v| (s..=n).contains(v)).collect();
    assert_eq!((xs.clone(), ys.clone()), (want_x, want_y));
    let range = &cov["ranges"]["tas"];
    assert_eq!(range["shape"], serde_json::json!([1, ys.len(), xs.len()]), "{range}");
    let j0 = nearest(&lat, ys[0]);
    let i0 = nearest(&lon, xs[0]);
    let month = 6; // 1860-06-16 is the 7th step from 1859-12-16
    let want = src.series("tas", j0, i0)[month];
    assert_close(&range["values"].as_array().unwrap()[..1], &[want], "tas corner");

    // area: a diamond; the cells inside are those with |dx| + |dy| < r.
    let (cx, cy, r) = (lon[18], lat[9], 25.0);
    let poly = format!("POLYGON(({} {cy},{cx} {},{} {cy},{cx} {},{} {cy}))", cx - r, cy + r, cx + r, cy - r, cx - r);
    let a = get(&api.router, &format!("/collections/monthly-360/area?coords={}&datetime=1860-06-16", q(&poly))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let values = a.json()["ranges"]["tas"]["values"].as_array().unwrap().clone();
    // Cells inside the diamond that hold a value at that step (the fixture has missing cells).
    let inside = (0..lat.len())
        .flat_map(|j| (0..lon.len()).map(move |i| (j, i)))
        .filter(|&(j, i)| (lon[i] - cx).abs() + (lat[j] - cy).abs() < r - 1e-9)
        .filter(|&(j, i)| src.series("tas", j, i)[month].is_some())
        .count();
    let non_null = values.iter().filter(|v| !v.is_null()).count();
    assert_eq!(non_null, inside, "cells inside the diamond");

    // radius: 600 km around a centre on a 10° grid holds only that cell.
    let a = get(
        &api.router,
        &format!(
            "/collections/monthly-360/radius?coords={}&within=600&within-units=km&datetime=1860-06-16",
            q(&format!("POINT({cx} {cy})"))
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let values = a.json()["ranges"]["tas"]["values"].as_array().unwrap().clone();
    assert_eq!(values.iter().filter(|v| !v.is_null()).count(), 1);
    let want = src.series("tas", 9, 18)[month];
    assert_close(&[values.into_iter().find(|v| !v.is_null()).unwrap()], &[want], "radius centre");
}

#[tokio::test]
async fn rotated_pole_grid_answers_in_lon_lat() {
    let api = api().await;
    let c = get(&api.router, "/collections/hourly-rotated").await.json();
    let b: Vec<f64> = c["extent"]["spatial"]["bbox"][0].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    let (lon, lat) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    let a =
        get(&api.router, &format!("/collections/hourly-rotated/position?coords={}", q(&format!("POINT({lon} {lat})"))))
            .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let cov = a.json();
    assert_eq!(cov["ranges"]["t2m"]["values"].as_array().unwrap().len(), 48);
    let far = get(&api.router, &format!("/collections/hourly-rotated/position?coords={}", q("POINT(-120 -40)"))).await;
    assert_eq!(far.status, StatusCode::BAD_REQUEST, "{}", far.text());
    assert!(far.json()["description"].as_str().unwrap().contains("outside the grid"), "{}", far.text());
}

#[tokio::test]
async fn user_errors_are_4xx_naming_the_parameter() {
    let api = api().await;
    let cases: &[(&str, u16, Option<&str>)] = &[
        ("/collections/nope/position?coords=POINT(0%200)", 404, None),
        ("/collections/daily-noleap/position?coords=POINT(0%200)&parameter-name=rain", 404, None),
        ("/collections/daily-noleap/position", 400, Some("coords")),
        ("/collections/daily-noleap/position?coords=POINT(0)", 400, Some("coords")),
        ("/collections/daily-noleap/position?coords=POINT(0%20100)", 400, Some("coords")),
        ("/collections/daily-noleap/position?coords=POLYGON((0%200,1%200,1%201,0%200))", 400, Some("coords")),
        ("/collections/daily-noleap/position?coords=POINT(0%200)&datetime=yesterday", 400, Some("datetime")),
        (
            "/collections/daily-noleap/position?coords=POINT(0%200)&datetime=2047-01-01/2046-01-01",
            400,
            Some("datetime"),
        ),
        ("/collections/daily-noleap/position?coords=POINT(0%200)&z=10", 400, Some("z")),
        ("/collections/daily-noleap/position?coords=POINT(0%200)&method=cubic", 400, Some("method")),
        ("/collections/daily-noleap/position?coords=POINT(0%200)&f=xml", 400, Some("f")),
        ("/collections/daily-noleap/position?coords=POINT(0%200)&colour=red", 400, Some("query")),
        ("/collections/daily-noleap/position?coords=POINT(0%200)&crs=EPSG:3857", 400, Some("crs")),
        ("/collections/daily-noleap/cube?bbox=1,2,3", 400, Some("bbox")),
        ("/collections/daily-noleap/cube?bbox=0,50,10,40", 400, Some("bbox")),
        ("/collections/daily-noleap/cube?bbox=0,0,10,10&f=csv", 400, Some("f")),
        ("/collections/daily-noleap/radius?coords=POINT(0%200)", 400, Some("within")),
        ("/collections/daily-noleap/radius?coords=POINT(0%200)&within=-3", 400, Some("within")),
        (
            "/collections/daily-noleap/radius?coords=POINT(0%200)&within=3&within-units=parsec",
            400,
            Some("within-units"),
        ),
        ("/collections/daily-noleap/area?coords=POINT(0%200)", 400, Some("coords")),
        ("/collections/daily-noleap/trajectory?coords=POINT(0%200)", 400, Some("coords")),
        ("/collections/daily-noleap/nothing", 404, None),
    ];
    for (uri, status, param) in cases {
        let a = get(&api.router, uri).await;
        assert_eq!(a.status.as_u16(), *status, "{uri}: {}", a.text());
        let body = a.json();
        assert!(!body["description"].as_str().unwrap_or_default().is_empty(), "{uri}: {body}");
        if let Some(p) = param {
            assert_eq!(body["parameter"], *p, "{uri}: {body}");
        }
    }
}

#[tokio::test]
async fn requests_over_the_budget_get_413_before_reading() {
    let config = ServeConfig { budget: Budget { max_cells: 10_000, ..Budget::default() }, ..ServeConfig::default() };
    let api = api_with(config).await;
    let _ = get(&api.router, "/collections/daily-noleap").await;
    api.counter.reset();
    let a = get(&api.router, "/collections/daily-noleap/cube?bbox=-180,-90,180,90").await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text());
    let msg = a.json()["description"].as_str().unwrap().to_string();
    assert!(msg.contains("narrow"), "{msg}");
    assert_eq!(api.counter.chunks(), 0, "nothing read for a refused request");
    let ok = get(&api.router, "/collections/daily-noleap/cube?bbox=0,0,40,40&datetime=2046-07-01").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
}

#[tokio::test]
async fn answers_over_the_inline_limit_without_a_store_get_413() {
    let cube = "/collections/daily-noleap/cube?bbox=0,0,40,40&datetime=2046-07-01";
    let full = get(&api().await.router, cube).await;
    assert_eq!(full.status, StatusCode::OK);
    let size = full.body.len() as u64;
    // Just above the answer's size counted as Lambda carries it (JSON-escaped): 413 naming the sizes.
    let config = ServeConfig { inline_limit: Some(size), ..ServeConfig::default() };
    let api = api_with(config).await;
    let a = get(&api.router, cube).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text());
    let msg = a.json()["description"].as_str().unwrap().to_string();
    assert!(msg.contains(&format!("over the {size} bytes")) && msg.contains("narrow"), "{msg}");
    // The NetCDF form is counted base64-encoded.
    let nc = get(&api_with(ServeConfig::default()).await.router, &format!("{cube}&f=netcdf")).await;
    let n = nc.body.len() as u64;
    let fits = ServeConfig { inline_limit: Some(n.div_ceil(3) * 4), ..ServeConfig::default() };
    assert_eq!(get(&api_with(fits).await.router, &format!("{cube}&f=netcdf")).await.status, StatusCode::OK);
    let over = ServeConfig { inline_limit: Some(n.div_ceil(3) * 4 - 1), ..ServeConfig::default() };
    let a = get(&api_with(over).await.router, &format!("{cube}&f=netcdf")).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text());
}

#[tokio::test]
async fn the_chunk_cache_answers_repeated_queries_without_fetching() {
    let cache = Arc::new(hub_zarr::ChunkCache::new(64 << 20));
    let settings = HubSettings { chunk_cache: Some(cache.clone()), ..HubSettings::default() };
    let api = api_with_settings(ServeConfig::default(), settings).await;
    let uncached = api_with(ServeConfig::default()).await;
    let _ = get(&api.router, "/collections/daily-noleap").await;
    let point = format!("/collections/daily-noleap/position?coords={}", q("POINT(23.9 61.4)"));
    api.counter.reset();
    let first = get(&api.router, &point).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert!(api.counter.chunks() > 0 && cache.weight() > 0);
    api.counter.reset();
    let again = get(&api.router, &point).await;
    assert_eq!(api.counter.chunks(), 0, "the repeated query fetched chunks");
    assert_eq!(again.body, first.body);
    // A neighbouring point in the same chunks is answered from them too, with its own values.
    let near = format!("/collections/daily-noleap/position?coords={}", q("POINT(25.1 60.2)"));
    api.counter.reset();
    let cached = get(&api.router, &near).await;
    assert_eq!(api.counter.chunks(), 0);
    assert_eq!(cached.body, get(&uncached.router, &near).await.body, "cached and uncached answers differ");
    assert_ne!(cached.body, first.body);
}

#[tokio::test]
async fn a_point_series_reads_only_its_chunks_concurrently() {
    // Each read waits 20 ms, as on an object store: reads that overlap show it.
    let counter = Arc::new(ReadCounter::with_latency(std::time::Duration::from_millis(20)));
    let settings = HubSettings { read_counter: Some(counter), ..HubSettings::default() };
    let api = api_with_settings(ServeConfig::default(), settings).await;
    let id = DatasetId::new("daily-noleap").unwrap();
    let reader = api.hub.open(&id, &Version::Latest).await.unwrap();
    let pr = reader.arrays().await.unwrap().into_iter().find(|a| a.path == "pr").unwrap();
    let chunks = pr.chunks.clone();
    // Warm the view (coordinates), then count the query's own reads.
    let _ = get(&api.router, "/collections/daily-noleap").await;
    api.counter.reset();
    let a = get(&api.router, &format!("/collections/daily-noleap/position?coords={}", q("POINT(23.9 61.4)"))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let along_time = pr.shape[0].div_ceil(chunks[0]);
    // One chunk per step of chunks along time (chunks wholly inside the outage,
    // the first 190 days, may never have been written: then nothing is fetched).
    let n = api.counter.chunks();
    let never_written = 190 / chunks[0];
    assert!(n == along_time || n == along_time - never_written, "{n} chunks read; chunk shape {chunks:?}");
    if along_time > 2 {
        assert!(api.counter.max_in_flight() > 1, "reads were not concurrent");
    }
    // The same query again reads the same chunks: nothing else (no metadata re-reads through the counter).
    let first = api.counter.chunks();
    api.counter.reset();
    let _ = get(&api.router, &format!("/collections/daily-noleap/position?coords={}", q("POINT(23.9 61.4)"))).await;
    assert_eq!(api.counter.chunks(), first);
}

#[tokio::test]
async fn trajectory_with_times_takes_each_vertexs_own_step() {
    let api = api().await;
    let src = Source::open(Fixture::Netcdf4NoLeapFill);
    let (lat, lon) = (src.coord("lat"), src.coord("lon"));
    // M is seconds since 1970-01-01 counted in the dataset's (noleap) calendar.
    let to_2046 = 76 * 365;
    let stops = [(23.9, 61.4, 200usize), (10.0, 50.0, 300), (-70.0, -20.0, 400)];
    let wkt = format!(
        "LINESTRINGM({})",
        stops.iter().map(|(x, y, d)| format!("{x} {y} {}", (to_2046 + d) * 86_400)).collect::<Vec<_>>().join(",")
    );
    let a = get(&api.router, &format!("/collections/daily-noleap/trajectory?coords={}", q(&wkt))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let cov = a.json();
    assert_eq!(cov["domain"]["domainType"], "Trajectory", "{}", cov["domain"]);
    let tuples = cov["domain"]["axes"]["composite"]["values"].as_array().unwrap();
    assert_eq!(tuples.len(), 3);
    assert_eq!(tuples[0][0], "2046-07-20T00:00:00Z", "day 200 of a noleap year");
    let want: Vec<Option<f64>> =
        stops.iter().map(|(x, y, d)| src.series("pr", nearest(&lat, *y), nearest(&lon, *x))[*d]).collect();
    assert_close(cov["ranges"]["pr"]["values"].as_array().unwrap(), &want, "pr along the path");

    let csv = get(&api.router, &format!("/collections/daily-noleap/trajectory?coords={}&f=csv", q(&wkt))).await;
    let text = csv.text();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.lines().nth(3).unwrap().contains("2047-02-05"), "{text}");

    // Without M: every vertex gets the selected series.
    let a = get(
        &api.router,
        &format!(
            "/collections/daily-noleap/trajectory?coords={}&datetime=2046-03-01/2046-03-10",
            q("LINESTRING(10 50,20 55)")
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let cov = a.json();
    assert_eq!(cov["coverages"].as_array().unwrap().len(), 2, "{cov}");
    assert_eq!(cov["coverages"][0]["ranges"]["pr"]["values"].as_array().unwrap().len(), 10);

    // A time outside the dataset is a 400 on coords.
    let late = get(
        &api.router,
        &format!("/collections/daily-noleap/trajectory?coords={}", q("LINESTRINGM(10 50 4000000000,20 55 4000086400)")),
    )
    .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST, "{}", late.text());
    assert_eq!(late.json()["parameter"], "coords");
}

/// Writes an answer to a file and opens it with netCDF-C.
fn open_answer(a: &Answer) -> (tempfile::TempDir, netcdf::File) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.content_type, "application/x-netcdf");
    assert_eq!(&a.body[..4], b"CDF\x02", "a NetCDF-3 64-bit offset file");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("answer.nc");
    std::fs::write(&path, &a.body).unwrap();
    let file = netcdf::open(&path).unwrap();
    (dir, file)
}

fn text_attr(v: &netcdf::Variable<'_>, name: &str) -> Option<String> {
    match v.attribute(name)?.value().ok()? {
        netcdf::AttributeValue::Str(s) => Some(s),
        _ => None,
    }
}

#[tokio::test]
async fn cube_and_area_answer_as_cf_netcdf_with_the_coveragejsons_values() {
    let api = api().await;
    let cube = "/collections/monthly-360/cube?bbox=-20,30,40,60&datetime=1860-03-16/1860-08-16";
    let cov = get(&api.router, cube).await.json();
    let a = get(&api.router, &format!("{cube}&f=netcdf")).await;
    let (_dir, file) = open_answer(&a);
    // Same cells, same values, same times in the same calendar.
    let tas = file.variable("tas").unwrap();
    let dims: Vec<String> = tas.dimensions().iter().map(|d| d.name()).collect();
    assert_eq!(dims, ["time", "lat", "lon"]);
    let fill = 9.969_21e36_f32;
    let got: Vec<Option<f64>> =
        tas.get_values::<f32, _>(..).unwrap().into_iter().map(|v| (v != fill).then_some(f64::from(v))).collect();
    let want = cov["ranges"]["tas"]["values"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        match (g, w.as_f64()) {
            (None, None) => {}
            (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "tas[{k}]: {g} vs {w}"),
            other => panic!("tas[{k}]: {other:?}"),
        }
    }
    assert_eq!(text_attr(&tas, "units").as_deref(), Some("K"));
    assert_eq!(text_attr(&tas, "standard_name").as_deref(), Some("air_temperature"));
    let lon: Vec<f64> = file.variable("lon").unwrap().get_values::<f64, _>(..).unwrap();
    let want_x: Vec<f64> =
        cov["domain"]["axes"]["x"]["values"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    assert_eq!(lon, want_x);
    let time = file.variable("time").unwrap();
    assert_eq!(text_attr(&time, "calendar").as_deref(), Some("360_day"));
    let enc = hub_core::cf::TimeEncoding::from_attrs(&text_attr(&time, "units").unwrap(), Some("360_day")).unwrap();
    let times: Vec<String> =
        time.get_values::<f64, _>(..).unwrap().into_iter().map(|v| enc.decode(v).unwrap().to_string()).collect();
    let want_t: Vec<String> = cov["domain"]["axes"]["t"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(times, want_t);

    // A projected grid carries its grid mapping; an area leaves cells outside unfilled.
    let poly = q("POLYGON((5 45,15 45,10 52,5 45))");
    let a = get(&api.router, &format!("/collections/hourly-rotated/area?coords={poly}&f=netcdf")).await;
    let (_dir, file) = open_answer(&a);
    let t2m = file.variable("t2m").unwrap();
    let mapping = text_attr(&t2m, "grid_mapping").unwrap();
    let crs = file.variable(&mapping).unwrap();
    assert_eq!(text_attr(&crs, "grid_mapping_name").as_deref(), Some("rotated_latitude_longitude"));
    let values = t2m.get_values::<f32, _>(..).unwrap();
    let filled = values.iter().filter(|v| **v == fill).count();
    assert!(filled > 0 && filled < values.len(), "{filled} of {} cells outside the triangle", values.len());

    // Point queries have no NetCDF form.
    let a = get(&api.router, &format!("/collections/monthly-360/position?coords={}&f=netcdf", q("POINT(0 0)"))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
    assert_eq!(a.json()["parameter"], "f");
}
