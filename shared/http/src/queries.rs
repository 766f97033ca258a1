//! The EDR data queries on `/collections/{id}/…`: position, radius, area and
//! cube. Each parses its parameters, plans the reads against the budget,
//! reads, and formats.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use hub_core::cf::{CfDateTime, CfTime, DimRole};
use hub_core::query::{AxisValues, Cell, DatasetView, Geometry, HorizontalGrid, LonLat};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Extraction, Horizontal, PointPick, Selections, TimePick, extract, parameters, select_axes};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CoverageJSON (the default).
    CoverageJson,
    /// Comma-separated values.
    Csv,
    /// GeoJSON features.
    GeoJson,
    /// CF NetCDF-3 (64-bit offset), for gridded answers.
    NetCdf,
}

impl Format {
    /// Names accepted in `f`.
    pub fn name(self) -> &'static str {
        match self {
            Self::CoverageJson => "CoverageJSON",
            Self::Csv => "CSV",
            Self::GeoJson => "GeoJSON",
            Self::NetCdf => "NetCDF",
        }
    }

    /// The file extension of answers in the format.
    pub fn extension(self) -> &'static str {
        match self {
            Self::CoverageJson => "covjson",
            Self::Csv => "csv",
            Self::GeoJson => "geojson",
            Self::NetCdf => "nc",
        }
    }

    /// Bytes an encoded value takes at most, about (numbers with their
    /// separators; per-value rows and features for CSV and GeoJSON): the
    /// answer is budgeted before anything is read.
    pub fn bytes_per_value(self) -> u64 {
        match self {
            Self::CoverageJson => 20,
            Self::Csv => 64,
            Self::GeoJson => 160,
            Self::NetCdf => 8,
        }
    }

    /// The media type of answers in the format.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::CoverageJson => "application/prs.coverage+json",
            Self::Csv => "text/csv",
            Self::GeoJson => "application/geo+json",
            Self::NetCdf => crate::netcdf::MEDIA_TYPE,
        }
    }
}

/// The query types and the formats each answers in.
pub const QUERIES: &[(&str, &[Format])] = &[
    ("position", &[Format::CoverageJson, Format::Csv, Format::GeoJson]),
    ("radius", &[Format::CoverageJson, Format::Csv, Format::GeoJson]),
    ("area", &[Format::CoverageJson, Format::NetCdf]),
    ("cube", &[Format::CoverageJson, Format::NetCdf]),
    ("trajectory", &[Format::CoverageJson, Format::Csv, Format::GeoJson]),
];

/// A request's parameters, split into what every query shares and the rest.
struct Args {
    sel: Selections,
    f: Format,
    rest: Vec<(String, String)>,
}

const COMMON: &[&str] = &["parameter-name", "datetime", "z", "f", "crs"];

fn parse_args(view: &DatasetView, query: &str, pairs: Vec<(String, String)>, own: &[&str]) -> Result<Args, ApiError> {
    let formats = QUERIES.iter().find(|(q, _)| *q == query).map_or(&[][..], |(_, f)| *f);
    let mut sel = Selections::default();
    let mut f = Format::CoverageJson;
    let mut rest = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in pairs {
        if !seen.insert(k.clone()) {
            return Err(ApiError::bad("query", format!("{k} is given more than once")));
        }
        match k.as_str() {
            "parameter-name" => sel.parameter_names = Some(v),
            "datetime" => sel.datetime = Some(v),
            "z" => sel.z = Some(v),
            "crs" => {
                let ok = ["CRS84", "OGC:CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84", "EPSG:4326"];
                if !ok.contains(&v.trim()) {
                    return Err(ApiError::bad("crs", format!("{v:?} is not offered: coordinates are CRS84 (lon lat)")));
                }
            }
            "f" => {
                f = match v.to_ascii_lowercase().as_str() {
                    "coveragejson" | "covjson" | "json" | "application/prs.coverage+json" => Format::CoverageJson,
                    "csv" | "text/csv" => Format::Csv,
                    "geojson" | "application/geo+json" => Format::GeoJson,
                    "netcdf" | "nc" | "application/x-netcdf" | "application/netcdf" => Format::NetCdf,
                    other => {
                        return Err(ApiError::bad(
                            "f",
                            format!("{other:?} is not a format of {query}: use {}", names(formats)),
                        ));
                    }
                };
                if !formats.contains(&f) {
                    return Err(ApiError::bad(
                        "f",
                        format!("{} is not a format of {query}: use {}", f.name(), names(formats)),
                    ));
                }
            }
            key if own.contains(&key) => rest.push((k, v)),
            key if view.dims.contains_key(key) => {
                sel.dims.insert(k, v);
            }
            _ => {
                let dims: Vec<&str> = view.dims.keys().map(String::as_str).collect();
                return Err(ApiError::bad(
                    "query",
                    format!(
                        "unknown parameter {k:?}: {query} takes {}, {} and the dimensions {}",
                        own.join(", "),
                        COMMON.join(", "),
                        dims.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(Args { sel, f, rest })
}

fn names(formats: &[Format]) -> String {
    formats.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
}

fn take<'a>(args: &'a Args, key: &str) -> Option<&'a str> {
    args.rest.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn geometry(args: &Args) -> Result<Geometry, ApiError> {
    let coords =
        take(args, "coords").ok_or_else(|| ApiError::bad("coords", "required (WKT, e.g. POINT(24.9 60.2))"))?;
    Geometry::parse(coords).map_err(|e| ApiError::bad("coords", e.0))
}

/// `/collections/{id}/position`
pub async fn position(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    position_with(&state, &id, pairs, None).await
}

/// A change made to an extraction before it is encoded (the best estimate
/// splices runs this way).
pub type PostProcess = Box<dyn FnOnce(Extraction) -> Result<Extraction, ApiError> + Send>;

/// A position query, its extraction passed through `post` when given.
pub async fn position_with(
    state: &AppState,
    id: &str,
    pairs: Vec<(String, String)>,
    post: Option<PostProcess>,
) -> Result<Response, ApiError> {
    let opened = state.catalog.open(id).await?;
    let view = &opened.view;
    let args = parse_args(view, "position", pairs, &["coords", "method"])?;
    let points =
        geometry(&args)?.points().ok_or_else(|| ApiError::bad("coords", "position takes POINT or MULTIPOINT"))?;
    let linear = match take(&args, "method").unwrap_or("nearest") {
        "nearest" => false,
        "linear" => true,
        other => return Err(ApiError::bad("method", format!("{other:?}: use nearest or linear"))),
    };
    let params = parameters(view, args.sel.parameter_names.as_deref())?;
    let grid = &view.grids[params[0].grid].grid;
    let picks = points
        .iter()
        .map(|p| if linear { linear_pick(grid, *p) } else { nearest_pick(grid, *p) })
        .collect::<Result<Vec<_>, _>>()?;
    let axes = select_axes(view, params[0], &args.sel)?;
    answer(state, &opened, &params, axes, Horizontal::Points(picks), args.f, post).await
}

/// `/collections/{id}/radius`
pub async fn radius(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let opened = state.catalog.open(&id).await?;
    let view = &opened.view;
    let args = parse_args(view, "radius", pairs, &["coords", "within", "within-units"])?;
    let Geometry::Point(center) = geometry(&args)? else {
        return Err(ApiError::bad("coords", "radius takes one POINT"));
    };
    let within: f64 = take(&args, "within")
        .ok_or_else(|| ApiError::bad("within", "required: the radius, e.g. within=25&within-units=km"))?
        .trim()
        .parse()
        .ok()
        .filter(|w: &f64| w.is_finite() && *w > 0.0)
        .ok_or_else(|| ApiError::bad("within", "must be a positive number"))?;
    let km = match take(&args, "within-units").unwrap_or("km").to_ascii_lowercase().as_str() {
        "km" => within,
        "m" => within / 1000.0,
        "mi" => within * 1.609_344,
        "nm" | "nmi" => within * 1.852,
        other => return Err(ApiError::bad("within-units", format!("{other:?}: use km, m, mi or nmi"))),
    };
    if km > 5000.0 {
        return Err(ApiError::bad("within", "at most 5000 km"));
    }
    gridded(&state, &opened, &args, "coords", |grid| grid.radius_window(center, km)).await
}

/// `/collections/{id}/area`
pub async fn area(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let opened = state.catalog.open(&id).await?;
    let view = &opened.view;
    let args = parse_args(view, "area", pairs, &["coords"])?;
    let g = geometry(&args)?;
    let Geometry::Polygons(polys) = &g else {
        return Err(ApiError::bad("coords", "area takes POLYGON or MULTIPOLYGON"));
    };
    gridded(&state, &opened, &args, "coords", |grid| grid.polygon_window(polys, g.bbox())).await
}

/// `/collections/{id}/cube`
pub async fn cube(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let opened = state.catalog.open(&id).await?;
    let view = &opened.view;
    let args = parse_args(view, "cube", pairs, &["bbox"])?;
    let text = take(&args, "bbox").ok_or_else(|| ApiError::bad("bbox", "required: minlon,minlat,maxlon,maxlat"))?;
    let b: Vec<f64> = text
        .split(',')
        .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect::<Option<Vec<_>>>()
        .filter(|b| b.len() == 4)
        .ok_or_else(|| ApiError::bad("bbox", format!("{text:?} is not four numbers minlon,minlat,maxlon,maxlat")))?;
    if b[1] > b[3] || !(-90.0..=90.0).contains(&b[1]) || !(-90.0..=90.0).contains(&b[3]) {
        return Err(ApiError::bad("bbox", "latitudes must be within -90..90 with minlat <= maxlat"));
    }
    if !(-180.0..=360.0).contains(&b[0]) || !(-180.0..=360.0).contains(&b[2]) {
        return Err(ApiError::bad("bbox", "longitudes must be within -180..360"));
    }
    gridded(&state, &opened, &args, "bbox", |grid| grid.window([b[0], b[1], b[2], b[3]])).await
}

/// A gridded query (radius, area, cube): the requested parameters, the
/// window of their grid that `window` picks (an outside-the-grid error is a
/// 400 on `param`), the selected axes, then plan, read and answer. Area
/// aggregation will plug in here, on the same window and its mask.
async fn gridded(
    state: &AppState,
    opened: &crate::catalog::Opened,
    args: &Args,
    param: &'static str,
    window: impl FnOnce(&HorizontalGrid) -> Result<hub_core::query::Window, hub_core::query::OutsideGrid>,
) -> Result<Response, ApiError> {
    let view = &opened.view;
    let params = parameters(view, args.sel.parameter_names.as_deref())?;
    let grid = &view.grids[params[0].grid].grid;
    let window = window(grid).map_err(|e| ApiError::bad(param, e.0))?;
    let axes = select_axes(view, params[0], &args.sel)?;
    answer(state, opened, &params, axes, Horizontal::Window(window), args.f, None).await
}

/// `/collections/{id}/trajectory`: values at the path's vertices. With
/// `LINESTRINGM` (M: seconds since 1970-01-01 in the dataset's calendar) each
/// vertex takes the nearest time step and the answer is a CoverageJSON
/// `Trajectory`; without M, each vertex gets the selected time series.
pub async fn trajectory(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let opened = state.catalog.open(&id).await?;
    let view = &opened.view;
    let args = parse_args(view, "trajectory", pairs, &["coords"])?;
    let Geometry::LineString(vertices) = geometry(&args)? else {
        return Err(ApiError::bad("coords", "trajectory takes LINESTRING, LINESTRINGM, LINESTRINGZ or LINESTRINGZM"));
    };
    if vertices.iter().any(|v| v.z.is_some()) {
        return Err(ApiError::bad(
            "coords",
            "vertical positions (Z) along a trajectory are not offered: select levels with z",
        ));
    }
    let params = parameters(view, args.sel.parameter_names.as_deref())?;
    let grid = &view.grids[params[0].grid].grid;
    let mut axes = select_axes(view, params[0], &args.sel)?;
    let mut picks = vertices.iter().map(|v| nearest_pick(grid, v.at)).collect::<Result<Vec<_>, _>>()?;
    if vertices.iter().any(|v| v.m.is_some()) {
        if args.sel.datetime.is_some() {
            return Err(ApiError::bad(
                "datetime",
                "a LINESTRINGM trajectory carries its own times: leave datetime out",
            ));
        }
        let t_axis = axes
            .iter_mut()
            .find(|a| a.role == DimRole::Time)
            .ok_or_else(|| ApiError::bad("coords", format!("{} has no time axis for the M values", params[0].name)))?;
        let dim = view.dims.get(&t_axis.name).ok_or_else(|| ApiError::Internal("time axis".into()))?;
        let AxisValues::Time { values, calendar } = &dim.values else {
            return Err(ApiError::bad("coords", format!("{} has no decoded times for the M values", params[0].name)));
        };
        let epoch = CfTime::new(*calendar, &CfDateTime::date(1970, 1, 1))
            .map_err(|e| ApiError::Internal(format!("epoch: {e}")))?;
        for (pick, v) in picks.iter_mut().zip(&vertices) {
            let m = v.m.ok_or_else(|| ApiError::bad("coords", "every vertex needs its M (time) value"))?;
            let at = epoch
                .add_micros((m * 1e6) as i64)
                .ok_or_else(|| ApiError::bad("coords", format!("M value {m} is out of range")))?;
            let index = nearest_time(values, at).ok_or_else(|| {
                ApiError::bad(
                    "coords",
                    format!(
                        "time {at} (M {m}) is outside the dataset's times {}..{}",
                        values[0],
                        values[values.len() - 1]
                    ),
                )
            })?;
            pick.time = Some(TimePick { index, at: values[index] });
        }
        // One time per vertex: the time axis shrinks to the vertex's own step.
        let first = picks[0].time.map_or(0, |t| t.index);
        t_axis.picked = vec![first];
        t_axis.values = AxisValues::Time { values: vec![values[first]], calendar: *calendar };
    }
    answer(&state, &opened, &params, axes, Horizontal::Points(picks), args.f, None).await
}

/// The index of the time step nearest to `at`, if `at` lies within the axis
/// (half a step beyond either end at most).
fn nearest_time(values: &[CfTime], at: CfTime) -> Option<usize> {
    let k = (0..values.len()).min_by_key(|&k| (values[k].micros() - at.micros()).unsigned_abs())?;
    let step = if values.len() > 1 {
        (values[values.len() - 1].micros() - values[0].micros()).unsigned_abs() / (values.len() as u64 - 1)
    } else {
        0
    };
    ((values[k].micros() - at.micros()).unsigned_abs() <= step / 2).then_some(k)
}

fn nearest_pick(grid: &HorizontalGrid, p: LonLat) -> Result<PointPick, ApiError> {
    let cell = grid.nearest(p).map_err(|e| ApiError::bad("coords", e.0))?;
    let at = grid.center(cell).unwrap_or(p);
    Ok(PointPick { requested: p, at, cells: vec![(cell, 1.0)], time: None })
}

/// Bilinear weights from the four surrounding cells (lon/lat and projected
/// grids); a missing neighbour makes the value missing.
fn linear_pick(grid: &HorizontalGrid, p: LonLat) -> Result<PointPick, ApiError> {
    let outside = || {
        ApiError::bad(
            "coords",
            format!("POINT({p}) is outside the grid's cell centres: linear interpolation needs four neighbours"),
        )
    };
    let (xa, ya, px, py) = match grid {
        HorizontalGrid::LonLat { lon, lat, .. } => {
            let (lo, hi) = (
                lon.values()[0].min(lon.values()[lon.values().len() - 1]),
                lon.values()[0].max(lon.values()[lon.values().len() - 1]),
            );
            let plon = [p.lon, p.lon - 360.0, p.lon + 360.0]
                .into_iter()
                .find(|l| (lo..=hi).contains(l))
                .ok_or_else(outside)?;
            (lon, lat, plon, p.lat)
        }
        HorizontalGrid::Projected { x, y, projector } => {
            let (px, py) = projector.forward(p).ok_or_else(outside)?;
            (x, y, px, py)
        }
        HorizontalGrid::Curvilinear(_) => {
            return Err(ApiError::bad(
                "method",
                "linear interpolation is not offered on curvilinear grids: use nearest",
            ));
        }
    };
    let (i0, i1, wx) = xa.bracket(px).ok_or_else(outside)?;
    let (j0, j1, wy) = ya.bracket(py).ok_or_else(outside)?;
    let cells = vec![
        (Cell { j: j0, i: i0 }, (1.0 - wy) * (1.0 - wx)),
        (Cell { j: j0, i: i1 }, (1.0 - wy) * wx),
        (Cell { j: j1, i: i0 }, wy * (1.0 - wx)),
        (Cell { j: j1, i: i1 }, wy * wx),
    ]
    .into_iter()
    .filter(|(_, w)| *w > 0.0)
    .collect();
    Ok(PointPick { requested: p, at: p, cells, time: None })
}

/// Plans, reads within the state's budget, and formats: the end of every query.
async fn answer(
    state: &AppState,
    opened: &crate::catalog::Opened,
    params: &[&hub_core::query::Parameter],
    axes: Vec<crate::extract::OutAxis>,
    horizontal: Horizontal,
    f: Format,
    post: Option<PostProcess>,
) -> Result<Response, ApiError> {
    let x = extract(
        &opened.view,
        opened.reader.as_ref(),
        params,
        axes,
        horizontal,
        &crate::extract::Limits {
            budget: &state.config.budget,
            concurrency: state.config.concurrency,
            answer_bytes_per_value: f.bytes_per_value(),
        },
    )
    .await?;
    let x = match post {
        Some(post) => post(x)?,
        None => x,
    };
    let body = encode(&x, f)?;
    deliver(state, &x.collection, f, body).await
}

fn encode(x: &crate::extract::Extraction, f: Format) -> Result<Vec<u8>, ApiError> {
    Ok(match f {
        Format::CoverageJson => crate::covjson::coverage_json(x),
        Format::Csv => crate::tabular::csv(x).into_bytes(),
        Format::GeoJson => serde_json::to_vec(&crate::tabular::geojson(x)).unwrap_or_default(),
        Format::NetCdf => crate::netcdf::netcdf(x)?,
    })
}

/// The size of a body as Lambda carries it in a buffered response: binary
/// bodies base64-encoded, text bodies as a JSON string (quotes, backslashes
/// and control characters escaped).
fn carried_size(body: &[u8], f: Format) -> u64 {
    let n = body.len() as u64;
    if f == Format::NetCdf {
        return n.div_ceil(3) * 4;
    }
    n + body.iter().filter(|b| matches!(b, b'"' | b'\\' | b'\n' | b'\r' | b'\t')).count() as u64
}

/// The response: the body itself when it fits the inline limit; otherwise a
/// 303 redirect to a presigned URL of the stored body, or 413 when no store
/// is configured.
async fn deliver(state: &AppState, collection: &str, f: Format, body: Vec<u8>) -> Result<Response, ApiError> {
    let media = [(header::CONTENT_TYPE, f.media_type())];
    if let Some(limit) = state.config.inline_limit {
        let size = carried_size(&body, f);
        if size > limit {
            let Some(store) = &state.large_answers else {
                return Err(ApiError::AnswerTooLarge { size, limit });
            };
            let bytes = body.len();
            let url = store
                .publish(body, f.media_type(), f.extension())
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            let location = axum::http::HeaderValue::from_str(&url)
                .map_err(|_| ApiError::Internal("the large-answer URL is not a valid header".into()))?;
            let note = serde_json::json!({
                "description": "the answer is larger than a response may carry: fetch it from href (the link expires)",
                "href": url,
                "type": f.media_type(),
                "size": bytes,
            });
            return Ok(
                (axum::http::StatusCode::SEE_OTHER, [(header::LOCATION, location)], axum::Json(note)).into_response()
            );
        }
    }
    Ok(match f {
        Format::NetCdf => {
            let name = format!("attachment; filename=\"{collection}.nc\"");
            let disposition =
                axum::http::HeaderValue::from_str(&name).unwrap_or(axum::http::HeaderValue::from_static("attachment"));
            (media, [(header::CONTENT_DISPOSITION, disposition)], body).into_response()
        }
        _ => (media, body).into_response(),
    })
}
