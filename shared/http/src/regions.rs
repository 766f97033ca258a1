//! Region sets and region statistics over HTTP:
//!
//! - `/regions`, `/regions/{set}` (a FeatureCollection; `simplify=` degrees),
//!   `/regions/{set}/{id}`;
//! - EDR locations: `/collections/{id}/locations` (the regions of the sets
//!   attached to the collection) and `/collections/{id}/locations/{set}:{region}`
//!   (area-weighted statistics over time, `statistic=`), with
//!   `/weights` beside it (every cell's index, centre, fraction and area);
//! - ad hoc: `area?coords=POLYGON(..)&statistic=..`, and `POST` of a GeoJSON
//!   geometry or Feature to `area` for polygons too long for a URL.
//!
//! Parsing and encoding only: the weights and statistics are the core's
//! ([`hub_core::query::RegionCatalog`], [`hub_core::query::region_statistics`]).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use hub_core::ports::StoredSet;
use hub_core::query::{
    DatasetView, Instance, Limits, Opened, Place, RegionCatalog, RegionRequest, SetWeights, adhoc_set, parameters,
    region_statistics,
};
use hub_core::regions::{EARTH_RADIUS_M, geojson};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::encode::Format;
use crate::error::ApiError;
use crate::params::{DataRequest, data_request_at};
use crate::queries::send;
use crate::series::RegionAnswer;

/// `simplify=`: a tolerance in degrees for drawing.
#[derive(Debug, Deserialize)]
pub struct DrawQuery {
    /// Douglas-Peucker tolerance, degrees.
    simplify: Option<f64>,
}

fn catalog(state: &AppState) -> Result<&RegionCatalog, ApiError> {
    state.regions.as_ref().ok_or_else(|| ApiError::NotFound("this deployment keeps no region sets".into()))
}

fn tolerance(q: &DrawQuery) -> Result<Option<f64>, ApiError> {
    match q.simplify {
        Some(t) if !(t.is_finite() && (0.0..=10.0).contains(&t)) => {
            Err(ApiError::bad("simplify", "a tolerance in degrees from 0 to 10"))
        }
        t => Ok(t),
    }
}

fn geo_json(doc: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/geo+json")], Json(doc)).into_response()
}

/// `/regions`
pub async fn sets(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let c = catalog(&state)?;
    let mut out = Vec::new();
    for id in c.list().await? {
        let s = c.set(id.as_str()).await?;
        out.push(json!({
            "id": id, "regions": s.set.regions.len(), "warnings": s.set.warnings,
            "links": [{"rel": "items", "href": format!("/regions/{id}"), "type": "application/geo+json"}],
        }));
    }
    Ok(Json(json!({ "regions": out, "radius_m": EARTH_RADIUS_M })).into_response())
}

/// `/regions/{set}`
pub async fn set(
    State(state): State<Arc<AppState>>,
    Path(set): Path<String>,
    Query(q): Query<DrawQuery>,
) -> Result<Response, ApiError> {
    let tol = tolerance(&q)?;
    let s = catalog(&state)?.set(&set).await?;
    let features: Vec<Value> = s.set.regions.iter().map(|r| geojson::feature(&s.set.id, r, tol)).collect();
    Ok(geo_json(json!({"type": "FeatureCollection", "id": s.set.id, "features": features})))
}

/// `/regions/{set}/{id}`
pub async fn region(
    State(state): State<Arc<AppState>>,
    Path((set, id)): Path<(String, String)>,
    Query(q): Query<DrawQuery>,
) -> Result<Response, ApiError> {
    let tol = tolerance(&q)?;
    let s = catalog(&state)?.set(&set).await?;
    let r = s.set.region(&id).ok_or_else(|| no_region(&set, &id))?;
    Ok(geo_json(geojson::feature(&s.set.id, r, tol)))
}

fn no_region(set: &str, id: &str) -> ApiError {
    ApiError::NotFound(format!("no region {id:?} in set {set:?}: its regions are listed at /regions/{set}"))
}

/// `/collections/{id}/locations`: the regions of the attached sets.
pub async fn locations(
    State(state): State<Arc<AppState>>,
    Path(cid): Path<String>,
    Query(q): Query<DrawQuery>,
) -> Result<Response, ApiError> {
    let tol = tolerance(&q)?;
    let c = catalog(&state)?;
    let cid = match crate::ensembles::find(&state, &cid).await? {
        Some(e) => e.members.first().map(|(m, _)| m.dataset.to_string()).unwrap_or(cid),
        None => cid,
    };
    let opened = state.catalog.open(&cid).await?;
    let mut features = Vec::new();
    for set in c.attached(&opened.view.id).await? {
        let s = c.set(set.as_str()).await?;
        features.extend(s.set.regions.iter().map(|r| geojson::feature(&s.set.id, r, tol)));
    }
    Ok(geo_json(json!({"type": "FeatureCollection", "features": features})))
}

/// A location id `set:region` and its set.
async fn find_location(c: &RegionCatalog, cid: &str, loc: &str) -> Result<(StoredSet, usize), ApiError> {
    let (set, id) = loc.split_once(':').ok_or_else(|| {
        ApiError::NotFound(format!(
            "no location {loc:?}: locations are named set:region, listed at /collections/{cid}/locations"
        ))
    })?;
    let s = c.set(set).await?;
    let k = s.set.regions.iter().position(|r| r.id == id).ok_or_else(|| no_region(set, id))?;
    Ok((s, k))
}

/// The weights of a set on the grid of the request's parameters.
async fn set_weights(
    c: &RegionCatalog,
    opened: &Opened,
    request: &DataRequest,
    set: &StoredSet,
) -> Result<SetWeights, ApiError> {
    let params = parameters(&opened.view, request.query.selections.parameters.as_deref())?;
    Ok(c.weights(&opened.view, opened.reader.as_ref(), params[0].grid, set).await?)
}

fn outside(view: &DatasetView, what: &str) -> ApiError {
    ApiError::bad(
        "coords",
        format!("{what} does not touch the grid of collection {:?}: no cell overlaps it", view.id.as_str()),
    )
}

/// `/collections/{id}/locations/{set}:{region}`: statistics over time.
pub async fn location(
    State(state): State<Arc<AppState>>,
    Path((cid, loc)): Path<(String, String)>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    if let Some(ensemble) = crate::ensembles::find(&state, &cid).await? {
        return crate::ensembles::location(&state, &ensemble, &loc, pairs, &headers).await;
    }
    location_in(&state, &cid, None, &loc, pairs, &headers).await
}

/// `/collections/{id}/instances/{run}/locations/{set}:{region}`: statistics
/// over the lead times of one forecast run (`datetime` selects valid times).
pub async fn instance_location(
    State(state): State<Arc<AppState>>,
    Path((cid, run, loc)): Path<(String, String, String)>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    location_in(&state, &cid, Some(&run), &loc, pairs, &headers).await
}

/// `/collections/{id}/instances/{run}/locations`: the same regions as the
/// collection's (a run has the collection's grid).
pub async fn instance_locations(
    state: State<Arc<AppState>>,
    Path((cid, run)): Path<(String, String)>,
    q: Query<DrawQuery>,
) -> Result<Response, ApiError> {
    let opened = state.catalog.open(&cid).await?;
    crate::instances::find_run(&opened.view.forecast_axes()?, &run)?;
    locations(state, Path(cid), q).await
}

async fn location_in(
    state: &AppState,
    cid: &str,
    run: Option<&str>,
    loc: &str,
    pairs: Vec<(String, String)>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let c = catalog(state)?;
    let opened = state.catalog.open(cid).await?;
    let instance = match run {
        None => None,
        Some("best") => {
            return Err(ApiError::bad(
                "instance",
                "the best estimate is offered for position queries: ask a run's locations (its id from /instances)",
            ));
        }
        Some(run) => Some(Instance::Run(crate::instances::find_run(&opened.view.forecast_axes()?, run)?)),
    };
    let (s, k) = find_location(c, cid, loc).await?;
    let request = data_request_at(&opened.view, "locations", pairs, headers, instance, None)?;
    let w = set_weights(c, &opened, &request, &s).await?;
    let r = &s.set.regions[k];
    let geometry = drawn(&request, &s.set.id, r);
    let region = RegionRequest {
        weights: w[k].clone(),
        statistics: request.statistics.clone().unwrap_or_default(),
        stored: Some((s.set.id.clone(), s.version.clone(), k)),
    };
    statistics(state, &opened, &request, region, format!("{}:{}", s.set.id, r.id), r.name.clone(), geometry).await
}

/// The region's geometry for the answer: CoverageJSON and GeoJSON carry it,
/// CSV does not (cutting a detailed outline at the antimeridian is not free).
fn drawn(request: &DataRequest, set: &hub_core::regions::RegionSetId, r: &hub_core::regions::Region) -> Value {
    if request.format == Format::Csv {
        return Value::Null;
    }
    geojson::feature(set, r, None)["geometry"].take()
}

/// Runs the statistics and encodes them.
async fn statistics(
    state: &AppState,
    opened: &Opened,
    request: &DataRequest,
    region: RegionRequest,
    location: String,
    name: String,
    geometry: Value,
) -> Result<Response, ApiError> {
    if region.weights.cells.is_empty() {
        return Err(outside(&opened.view, &format!("region {location:?}")));
    }
    let encoder = request.format.encoder();
    let series_of = encoder.series.ok_or_else(|| {
        ApiError::bad("f", format!("{} cannot hold region statistics: use CoverageJSON, CSV or GeoJSON", encoder.name))
    })?;
    let limits = Limits {
        budget: &state.config.budget,
        concurrency: state.config.concurrency,
        answer_bytes_per_value: encoder.bytes_per_value,
    };
    let series = region_statistics(&opened.view, opened.reader.as_ref(), &request.query, &region, &limits).await?;
    let body = series_of(&RegionAnswer { series: &series, location, name, geometry })?;
    let mut response = send(state, body, encoder, opened.view.id.as_ref()).await?;
    // Whether the stored region series answered (they and a computation give the same numbers).
    let source = if series.stored { "stored" } else { "computed" };
    response.headers_mut().insert("x-hub-region-series", header::HeaderValue::from_static(source));
    Ok(response)
}

/// Ad hoc statistics over polygons (`area` with `statistic`).
pub async fn adhoc(
    state: &AppState,
    opened: &Opened,
    request: &DataRequest,
    polygons: Vec<Vec<Vec<[f64; 2]>>>,
) -> Result<Response, ApiError> {
    let set = adhoc_set(polygons)?;
    let region = &set.regions[0];
    let params = parameters(&opened.view, request.query.selections.parameters.as_deref())?;
    let weights = match state.regions.as_ref() {
        Some(c) => c.adhoc_weights(&opened.view, opened.reader.as_ref(), params[0].grid, &region.shape).await?,
        None => {
            let info = &opened.view.grids[params[0].grid];
            let bounds = hub_core::regions::CellBounds::Midpoints;
            let cells =
                hub_core::regions::CellGrid::new(&info.grid, &bounds).map_err(|e| ApiError::bad("coords", e.0))?;
            let shape = region.shape.clone();
            Arc::new(
                tokio::task::spawn_blocking(move || hub_core::regions::weights(&cells, &shape))
                    .await
                    .map_err(|e| ApiError::internal("computing the polygon's weights", e))?,
            )
        }
    };
    let geometry = drawn(request, &set.id, region);
    let region = RegionRequest { weights, statistics: request.statistics.clone().unwrap_or_default(), stored: None };
    statistics(state, opened, request, region, "area".into(), "area".into(), geometry).await
}

/// `POST /collections/{id}/area`: a GeoJSON geometry or Feature (or a
/// FeatureCollection, its polygons together) in the body; the query string
/// as for `GET`. With `statistic`: the statistics; without: the cells.
pub async fn area_post(
    State(state): State<Arc<AppState>>,
    Path(cid): Path<String>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let doc: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad("body", format!("not JSON: {e}; post a GeoJSON Polygon, MultiPolygon or Feature"))
    })?;
    let features = geojson::features(&doc, geojson::Fields::default()).map_err(|e| ApiError::bad("body", e.0))?;
    let polygons: Vec<Vec<Vec<[f64; 2]>>> = features.into_iter().flat_map(|f| f.polygons).collect();
    if polygons.is_empty() {
        return Err(ApiError::bad("body", "the GeoJSON holds no Polygon or MultiPolygon"));
    }
    if pairs.iter().any(|(k, _)| k == "coords") {
        return Err(ApiError::bad("coords", "the polygon is in the body: leave coords out"));
    }
    let opened = state.catalog.open(&cid).await?;
    let lonlat: Vec<Vec<Vec<hub_core::query::LonLat>>> = polygons
        .iter()
        .map(|p| p.iter().map(|r| r.iter().map(|&[lon, lat]| hub_core::query::LonLat { lon, lat }).collect()).collect())
        .collect();
    let bbox = bbox_of(&polygons);
    let place = Place::Area { polygons: lonlat, bbox };
    let request = data_request_at(&opened.view, "area", pairs, &headers, None, Some(place))?;
    if request.statistics.is_some() {
        return adhoc(&state, &opened, &request, polygons).await;
    }
    crate::queries::answer(&state, &opened, &request).await
}

fn bbox_of(polygons: &[Vec<Vec<[f64; 2]>>]) -> [f64; 4] {
    let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for p in polygons.iter().flatten().flatten() {
        b = [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])];
    }
    b
}

/// `/collections/{id}/locations/{set}:{region}/weights`: every cell with its
/// index, centre, the fraction inside and the area inside (JSON or `f=csv`).
pub async fn location_weights(
    State(state): State<Arc<AppState>>,
    Path((cid, loc)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let c = catalog(&state)?;
    let opened = state.catalog.open(&cid).await?;
    let (s, k) = find_location(c, &cid, &loc).await?;
    let mut csv = false;
    let mut names: Option<Vec<String>> = None;
    for (key, v) in &pairs {
        match key.as_str() {
            "f" => match Format::named(v) {
                Some(Format::Csv) => csv = true,
                _ if v.eq_ignore_ascii_case("json") => csv = false,
                _ => return Err(ApiError::bad("f", format!("{v:?}: use json or csv"))),
            },
            "parameter-name" => names = Some(v.split(',').map(|p| p.trim().to_string()).collect()),
            other => {
                return Err(ApiError::bad(
                    "query",
                    format!("unknown parameter {other:?}: weights take f and parameter-name"),
                ));
            }
        }
    }
    let params = parameters(&opened.view, names.as_deref())?;
    let grid = params[0].grid;
    let w = c.weights(&opened.view, opened.reader.as_ref(), grid, &s).await?;
    let info = &opened.view.grids[grid];
    let weights = &w[k];
    let centre = |j: usize, i: usize| info.grid.center(hub_core::query::Cell { j, i });
    if csv {
        let mut out = format!("{},{},lon,lat,fraction,area_m2\n", info.y_dim, info.x_dim);
        for c in &weights.cells {
            let p = centre(c.j, c.i);
            out.push_str(&format!(
                "{},{},{},{},{},{}\n",
                c.j,
                c.i,
                p.map_or(String::new(), |p| p.lon.to_string()),
                p.map_or(String::new(), |p| p.lat.to_string()),
                c.fraction,
                c.area_m2
            ));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv")], out).into_response());
    }
    let cells: Vec<Value> = weights
        .cells
        .iter()
        .map(|c| {
            let p = centre(c.j, c.i);
            // `j`/`i` always: a grid whose dimensions are named `lat`/`lon`
            // would otherwise lose its indices to the centre's coordinates.
            let mut cell = json!({ info.y_dim.clone(): c.j, info.x_dim.clone(): c.i });
            cell["lon"] = json!(p.map(|p| p.lon));
            cell["lat"] = json!(p.map(|p| p.lat));
            cell["j"] = json!(c.j);
            cell["i"] = json!(c.i);
            cell["fraction"] = json!(c.fraction);
            cell["area_m2"] = json!(c.area_m2);
            cell
        })
        .collect();
    Ok(Json(json!({
        "location": loc,
        "collection": opened.view.id,
        "radius_m": EARTH_RADIUS_M,
        "area_m2": weights.total_area_m2(),
        "cells": cells,
    }))
    .into_response())
}
