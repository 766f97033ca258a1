//! The resources around the data: landing page, conformance, the OpenAPI
//! document, and the collections (one per dataset) with their extents,
//! parameters and the queries they answer.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use hub_core::cf::{Calendar, CfTime, DimRole};
use hub_core::query::{AxisValues, DatasetView, QueryError};
use serde_json::{Value, json};

use crate::AppState;
use crate::covjson::calendar_name;
use crate::encode::QUERIES;
use crate::error::ApiError;

/// Conformance classes the API implements.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/core",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/json",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/covjson",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/oas30",
];

/// `f` on metadata resources.
#[derive(Debug, serde::Deserialize, Default)]
pub struct MetaQuery {
    f: Option<String>,
}

fn wants_html(q: &MetaQuery, headers: &HeaderMap) -> Result<bool, ApiError> {
    match q.f.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("json") => Ok(false),
        Some("html") => Ok(true),
        Some(other) => Err(ApiError::bad("f", format!("{other:?}: use json or html"))),
        None => {
            Ok(headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.starts_with("text/html")))
        }
    }
}

/// The absolute base URL of the API: the configured public URL when there
/// is one, else from the request (API Gateway and proxies set
/// `x-forwarded-proto`). Headers are the client's to write, so only `http`
/// and `https` are taken as the scheme and only a host name or address with
/// an optional port as the host; anything else falls back to
/// `http://localhost`, never into a link.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.config.public_url {
        return base.clone();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| valid_host(h)).unwrap_or("localhost");
    let proto = match headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).map(str::trim) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{proto}://{host}")
}

/// `host`, `host:port`, `1.2.3.4:port` or `[v6]:port`, as a `Host` header may
/// hold them.
fn valid_host(h: &str) -> bool {
    let (name, port) = match h.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(':') && (n.starts_with('[') || !n.contains(':')) => (n, Some(p)),
        _ => (h, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !name.is_empty()
            && name.len() <= 253
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !name.starts_with(['-', '.'])
    };
    port_ok && name_ok
}

/// A configured public base URL, checked: `http(s)://host[:port][/path]`
/// without a trailing slash.
pub fn public_base(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split('/').next()?;
    (valid_host(host) && !rest.contains(['"', '<', '>', ' ', '\\'])).then(|| url.to_string())
}

fn page(title: &str, doc: &Value) -> Response {
    let mut body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1>",
        t = escape(title)
    );
    if let Some(links) = doc.get("links").and_then(Value::as_array) {
        body.push_str("<ul>");
        for l in links {
            let href = l.get("href").and_then(Value::as_str).unwrap_or("");
            let text = l.get("title").or_else(|| l.get("rel")).and_then(Value::as_str).unwrap_or(href);
            body.push_str(&format!("<li><a href=\"{}\">{}</a></li>", escape(href), escape(text)));
        }
        body.push_str("</ul>");
    }
    body.push_str(&format!(
        "<pre>{}</pre></body></html>",
        // A `Value` always serializes (its map keys are strings).
        escape(&serde_json::to_string_pretty(doc).unwrap_or_default())
    ));
    Html(body).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn answer(html: bool, title: &str, doc: Value) -> Response {
    if html { page(title, &doc) } else { Json(doc).into_response() }
}

/// `/`
pub async fn landing(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<MetaQuery>,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers);
    let doc = json!({
        "title": "Forecast data hub",
        "description": "Forecast and climate datasets as OGC API - Environmental Data Retrieval collections.",
        "links": [
            {"href": format!("{base}/"), "rel": "self", "type": "application/json", "title": "this document"},
            {"href": format!("{base}/api"), "rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0", "title": "the API definition"},
            {"href": format!("{base}/conformance"), "rel": "conformance", "type": "application/json", "title": "conformance classes"},
            {"href": format!("{base}/collections"), "rel": "data", "type": "application/json", "title": "collections"},
        ],
    });
    Ok(answer(wants_html(&q, &headers)?, "Forecast data hub", doc))
}

/// `/conformance`
pub async fn conformance(headers: HeaderMap, Query(q): Query<MetaQuery>) -> Result<Response, ApiError> {
    Ok(answer(wants_html(&q, &headers)?, "Conformance", json!({"conformsTo": CONFORMANCE})))
}

/// `/api`: the document names the collections the hub holds now (a
/// storage failure leaves them out rather than failing the document).
pub async fn api(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut holdings = crate::openapi::Holdings { regions: state.regions.is_some(), ..Default::default() };
    if let Ok(ids) = state.catalog.datasets().await {
        for id in &ids {
            let Ok(opened) = state.catalog.open(id.as_str()).await else { continue };
            if holdings.extent.is_none()
                && let Some(g) = opened.view.grids.first()
            {
                let [_, south, _, north] = g.grid.extent();
                let (ny, _) = g.grid.shape();
                holdings.extent = Some(g.grid.extent());
                holdings.cell_km = Some((north - south).abs() / ny.max(1) as f64 * 111.2);
            }
            if opened.view.has_runs() {
                holdings.forecast_ids.push(id.as_str().to_string());
            }
        }
        holdings.ids = ids.iter().map(|id| id.as_str().to_string()).collect();
    }
    let doc = crate::openapi::document(&base_url(&state, &headers), &holdings);
    match serde_json::to_vec(&doc) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/vnd.oai.openapi+json;version=3.0")], body).into_response(),
        Err(e) => ApiError::internal("encoding the API document", e).into_response(),
    }
}

/// `/collections`
pub async fn collections(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<MetaQuery>,
) -> Result<Response, ApiError> {
    let html = wants_html(&q, &headers)?;
    let base = base_url(&state, &headers);
    let mut out = Vec::new();
    for id in state.catalog.datasets().await? {
        match state.catalog.open(id.as_str()).await {
            Ok(opened) => out.push(collection_doc(&base, &opened.view)),
            Err(QueryError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for ensemble in crate::ensembles::all(&state).await? {
        out.push(crate::ensembles::collection_doc(&base, &ensemble));
    }
    let doc = json!({
        "links": [{"href": format!("{base}/collections"), "rel": "self", "type": "application/json"}],
        "collections": out,
    });
    Ok(answer(html, "Collections", doc))
}

/// `/collections/{id}`
pub async fn collection(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<MetaQuery>,
) -> Result<Response, ApiError> {
    let html = wants_html(&q, &headers)?;
    if let Some(ensemble) = crate::ensembles::find(&state, &id).await? {
        return Ok(answer(html, &id, crate::ensembles::collection_doc(&base_url(&state, &headers), &ensemble)));
    }
    let opened = state.catalog.open(&id).await?;
    Ok(answer(html, &id, collection_doc(&base_url(&state, &headers), &opened.view)))
}

/// The EDR collection document of a dataset.
pub fn collection_doc(base: &str, view: &DatasetView) -> Value {
    let id = view.id.as_str();
    let href = format!("{base}/collections/{id}");
    let text = |k: &str| hub_core::model::attr_text(&view.attrs, k).map(str::to_string);
    let extent = extent(view);
    let parameter_names: serde_json::Map<String, Value> = view
        .parameters
        .iter()
        .map(|p| {
            let mut v = json!({
                "type": "Parameter",
                "description": p.description,
                "observedProperty": {"label": p.standard_name.clone().unwrap_or_else(|| p.name.clone())},
                "dimensions": p.array.dims,
            });
            if let Some(sn) = &p.standard_name {
                v["observedProperty"]["id"] = json!(format!("https://vocab.nerc.ac.uk/standard_name/{sn}/"));
            }
            if let Some(u) = p.units.as_ref().filter(|u| !u.trim().is_empty()) {
                v["unit"] = json!({"symbol": {"value": u, "type": "http://www.opengis.net/def/uom/UCUM/"}, "label": u});
            }
            (p.name.clone(), v)
        })
        .collect();
    let data_queries: serde_json::Map<String, Value> = QUERIES
        .iter()
        .map(|(q, formats)| {
            let formats: Vec<&str> = formats.iter().map(|f| f.name()).collect();
            let mut variables = json!({
                "query_type": q,
                "output_formats": formats,
                "default_output_format": "CoverageJSON",
                "crs_details": [{"crs": "CRS84", "wkt": "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433],AXIS[\"Lon\",EAST],AXIS[\"Lat\",NORTH]]"}],
            });
            if *q == "radius" {
                variables["within_units"] = json!(["km", "m", "mi", "nmi"]);
            }
            ((*q).to_string(), json!({"link": {"href": format!("{href}/{q}"), "rel": "data", "variables": variables}}))
        })
        .collect();
    let mut links = vec![json!({"href": href, "rel": "self", "type": "application/json"})];
    for (q, _) in QUERIES {
        links.push(json!({"href": format!("{href}/{q}"), "rel": "data", "title": format!("{q} query")}));
    }
    if view.has_runs() {
        links.push(json!({"href": format!("{href}/instances"), "rel": "instances", "title": "forecast runs"}));
    }
    // The snapshot the document describes: answers change when it does.
    links.push(json!({"href": href, "rel": "latest-version", "type": "application/json", "title": format!("snapshot {}", view.snapshot)}));
    json!({
        "id": id,
        "title": text("title").unwrap_or_else(|| id.to_string()),
        "description": text("summary")
            .or_else(|| text("comment"))
            .or_else(|| text("title"))
            .or_else(|| text("history"))
            .unwrap_or_else(|| format!("dataset {id}")),
        "links": links,
        "extent": extent,
        "data_queries": data_queries,
        "crs": ["CRS84"],
        "output_formats": ["CoverageJSON", "CSV", "GeoJSON", "NetCDF"],
        "parameter_names": parameter_names,
    })
}

/// The temporal reference system of a CF calendar, in WKT: the datum names
/// the calendar, so `noleap` and `360_day` datasets say what their dates mean.
pub fn temporal_trs(calendar: Calendar) -> String {
    format!(
        "TIMECRS[\"DateTime\",TDATUM[\"{}\"],CS[TemporalDateTime,1],AXIS[\"Time (T)\",future]]",
        calendar_name(calendar)
    )
}

/// An ISO 8601 duration of a whole number of microseconds (`P1D`, `PT6H`, `PT0.5S`).
fn iso_duration(micros: i64) -> String {
    const DAY: i64 = 86_400_000_000;
    if micros % DAY == 0 {
        return format!("P{}D", micros / DAY);
    }
    if micros % 3_600_000_000 == 0 {
        return format!("PT{}H", micros / 3_600_000_000);
    }
    if micros % 60_000_000 == 0 {
        return format!("PT{}M", micros / 60_000_000);
    }
    #[allow(clippy::cast_precision_loss)]
    let seconds = micros as f64 / 1e6;
    format!("PT{seconds}S")
}

/// EDR's `values` of a time axis: a regular axis as an ISO 8601 repeating
/// interval (`R<count>/<first>/<step>`: the count and step in the standard's
/// own words), any other as its `first/last` interval.
fn time_values(values: &[CfTime]) -> Vec<String> {
    let (Some(a), Some(b)) = (values.first(), values.last()) else { return Vec::new() };
    let step = values.get(1).map(|t| t.micros() - a.micros());
    let regular = step.filter(|s| *s > 0 && values.windows(2).all(|w| w[1].micros() - w[0].micros() == *s));
    match regular {
        Some(step) => vec![format!("R{}/{a}/{}", values.len(), iso_duration(step))],
        None if values.len() == 1 => vec![a.to_string()],
        None => vec![format!("{a}/{b}")],
    }
}

fn number_text(v: f64) -> String {
    hub_core::model::float_json(v).to_string()
}

/// A collection's extent: the grid's bbox, the first time axis (its trs
/// carries the calendar), the first vertical axis, and every other
/// dimension of the parameters (members, forecast runs, lead times) as a
/// `custom` extent.
fn extent(view: &DatasetView) -> Value {
    let mut extent = serde_json::Map::new();
    if let Some(g) = view.grids.first() {
        let b = g.grid.extent();
        extent.insert("spatial".into(), json!({"bbox": [b], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}));
    }
    let param_dims: std::collections::BTreeSet<&String> = view.parameters.iter().flat_map(|p| &p.array.dims).collect();
    let mut custom = Vec::new();
    // A forecast dataset's temporal extent is its valid times; its runs are a custom extent.
    let forecast = view.forecast_axes().ok();
    let is_runs = |name: &str| forecast.as_ref().is_some_and(|f| f.reference == name);
    for d in view.dims.values().filter(|d| param_dims.contains(&d.name)) {
        match (&d.values, d.role) {
            (_, DimRole::X | DimRole::Y) => {}
            (AxisValues::Time { values, calendar }, DimRole::Time)
                if !extent.contains_key("temporal") && !is_runs(&d.name) =>
            {
                if let (Some(a), Some(b)) = (values.first(), values.last()) {
                    extent.insert(
                        "temporal".into(),
                        json!({"interval": [[a.to_string(), b.to_string()]], "values": time_values(values), "trs": temporal_trs(*calendar)}),
                    );
                }
            }
            (AxisValues::Numbers { values }, DimRole::Vertical)
                if !extent.contains_key("vertical") && !values.is_empty() =>
            {
                let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let vrs = d.units.clone().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| d.name.clone());
                extent.insert(
                    "vertical".into(),
                    json!({"interval": [[number_text(lo), number_text(hi)]], "values": values.iter().map(|v| number_text(*v)).collect::<Vec<_>>(), "vrs": vrs}),
                );
            }
            (AxisValues::Time { values, calendar }, _) => {
                if let (Some(a), Some(b)) = (values.first(), values.last()) {
                    custom.push(json!({
                        "id": d.name,
                        "interval": [[a.to_string(), b.to_string()]],
                        "values": values.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "reference": temporal_trs(*calendar),
                    }));
                }
            }
            (AxisValues::Numbers { values }, _) if !values.is_empty() => {
                let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                custom.push(json!({
                    "id": d.name,
                    "interval": [[lo, hi]],
                    "values": values,
                    "reference": d.units.clone().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| "index".into()),
                }));
            }
            _ => {}
        }
    }
    if let Some(f) = &forecast
        && !extent.contains_key("temporal")
    {
        let valid: Vec<CfTime> = f
            .runs
            .iter()
            .flat_map(|r| f.leads_s.iter().filter_map(move |&l| hub_core::cf::plus_seconds(*r, l)))
            .collect();
        if let (Some(a), Some(b)) = (valid.iter().min(), valid.iter().max()) {
            let calendar = view.calendar().unwrap_or(Calendar::Standard);
            extent.insert(
                "temporal".into(),
                json!({"interval": [[a.to_string(), b.to_string()]], "values": [format!("{a}/{b}")], "trs": temporal_trs(calendar)}),
            );
        }
    }
    if !custom.is_empty() {
        extent.insert("custom".into(), Value::Array(custom));
    }
    Value::Object(extent)
}

/// Fixes an instance document's forecast run: the custom extent of its
/// reference time axis holds the one run.
pub fn set_run(doc: &mut Value, reference: &str, run: CfTime) {
    for c in doc["extent"]["custom"].as_array_mut().into_iter().flatten() {
        if c["id"] == reference {
            c["interval"] = json!([[run.to_string(), run.to_string()]]);
            c["values"] = json!([run.to_string()]);
        }
    }
}
