//! Forecast runs as OGC API - EDR instances.
//!
//! A dataset with a forecast reference time axis (`standard_name =
//! forecast_reference_time`) and a lead time axis (`forecast_period`) holds
//! one instance per model run:
//!
//! - `/collections/{id}/instances` lists them, newest first;
//! - `/collections/{id}/instances/{run}` describes one (`{run}` is the
//!   reference time, e.g. `2024-01-01T06:00:00Z`, or `latest`);
//! - `/collections/{id}/instances/{run}/{query}` runs any query on that run
//!   alone: `datetime` then selects valid times within the run;
//! - `/collections/{id}/instances/best/position` is the *best estimate*: for
//!   each valid time, the value of the newest run that covers it (the
//!   analysis-like series forecasters splice from successive runs).
//!
//! Instance queries are the collection's queries with the run fixed: the
//! request is rewritten (`reference_time=<run>`, `datetime` turned into lead
//! times) and answered by the same handlers.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use hub_core::cf::{CfTime, DimRole};
use hub_core::query::{AxisSelection, AxisValues, DatasetView, parse_datetime};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Extraction, OutAxis, ParamValues};

/// The forecast axes of a dataset: names, run times, lead times in seconds.
struct RunAxes {
    reference: String,
    lead: String,
    runs: Vec<CfTime>,
    leads_s: Vec<f64>,
    /// Seconds per unit of the stored lead times.
    lead_unit_s: f64,
}

fn attr<'a>(view: &'a DatasetView, path: &str, name: &str) -> Option<&'a str> {
    view.arrays.iter().find(|a| a.path == path).and_then(|a| hub_core::model::attr_text(&a.attrs, name))
}

fn run_axes(view: &DatasetView) -> Result<RunAxes, ApiError> {
    let not = || {
        ApiError::NotFound(format!(
            "collection {:?} has no forecast runs (no forecast_reference_time and forecast_period axes)",
            view.id.as_str()
        ))
    };
    let by_std = |std: &str| view.dims.values().find(|d| attr(view, &d.name, "standard_name") == Some(std)).cloned();
    let reference = by_std("forecast_reference_time").ok_or_else(not)?;
    let lead = by_std("forecast_period").ok_or_else(not)?;
    let AxisValues::Time { values: runs, .. } = reference.values else { return Err(not()) };
    let AxisValues::Numbers { values: leads } = lead.values else { return Err(not()) };
    let units = attr(view, &lead.name, "units").unwrap_or("s").trim().to_ascii_lowercase();
    let lead_unit_s = match units.as_str() {
        "h" | "hr" | "hour" | "hours" => 3600.0,
        "min" | "minute" | "minutes" => 60.0,
        "d" | "day" | "days" => 86400.0,
        _ => 1.0,
    };
    let leads_s = leads.iter().map(|l| l * lead_unit_s).collect();
    Ok(RunAxes { reference: reference.name, lead: lead.name, runs, leads_s, lead_unit_s })
}

/// `t + seconds`.
#[allow(clippy::cast_possible_truncation)]
fn plus(t: CfTime, seconds: f64) -> Option<CfTime> {
    t.add_micros((seconds * 1e6).round() as i64)
}

/// The run an instance id names.
fn find_run(axes: &RunAxes, instance: &str) -> Result<CfTime, ApiError> {
    if instance == "latest" {
        return axes.runs.iter().copied().max().ok_or_else(|| ApiError::NotFound("no forecast run yet".into()));
    }
    axes.runs
        .iter()
        .copied()
        .find(|r| r.to_string() == instance || r.to_string().trim_end_matches('Z') == instance.trim_end_matches('Z'))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no run {instance:?}: runs are {} (or latest, best)",
                axes.runs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ))
        })
}

fn instance_doc(base: &str, view: &DatasetView, axes: &RunAxes, run: CfTime, id: &str) -> Value {
    let href = format!("{base}/collections/{}/instances/{id}", view.id.as_str());
    let first = axes.leads_s.first().and_then(|&l| plus(run, l));
    let last = axes.leads_s.last().and_then(|&l| plus(run, l));
    let mut doc = crate::resources::collection_doc(base, view);
    doc["id"] = json!(id);
    doc["title"] = json!(format!("{} run {run}", view.id.as_str()));
    doc["reference_time"] = json!(run.to_string());
    if let (Some(a), Some(b)) = (first, last) {
        doc["extent"]["temporal"] = json!({
            "interval": [[a.to_string(), b.to_string()]],
            "values": axes.leads_s.iter().filter_map(|&l| plus(run, l)).map(|t| t.to_string()).collect::<Vec<_>>(),
        });
    }
    let queries: Vec<Value> = crate::queries::QUERIES
        .iter()
        .map(|(q, _)| json!({"href": format!("{href}/{q}"), "rel": "data", "title": format!("{q} query on this run")}))
        .collect();
    let mut links = vec![json!({"href": href, "rel": "self", "type": "application/json"})];
    links.extend(queries);
    doc["links"] = json!(links);
    for (_, q) in doc["data_queries"].as_object_mut().into_iter().flatten() {
        if let Some(h) = q["link"]["href"].as_str().map(str::to_string)
            && let Some(name) = h.rsplit('/').next()
        {
            q["link"]["href"] = json!(format!("{href}/{name}"));
        }
    }
    doc
}

/// `/collections/{id}/instances`
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let opened = state.catalog.open(&id).await?;
    let view = &opened.view;
    let axes = run_axes(view)?;
    let base = crate::resources::base_url(&state, &headers);
    let mut runs = axes.runs.clone();
    runs.sort();
    runs.reverse();
    let instances: Vec<Value> = runs.iter().map(|r| instance_doc(&base, view, &axes, *r, &r.to_string())).collect();
    let href = format!("{base}/collections/{id}/instances");
    Ok(axum::Json(json!({
        "links": [
            {"href": href, "rel": "self", "type": "application/json"},
            {"href": format!("{href}/latest"), "rel": "latest-version", "title": "the newest run"},
            {"href": format!("{href}/best/position"), "rel": "data", "title": "best estimate: the newest run covering each valid time (position queries)"},
        ],
        "instances": instances,
    })))
}

/// `/collections/{id}/instances/{run}`
pub async fn instance(
    State(state): State<Arc<AppState>>,
    Path((id, run)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let opened = state.catalog.open(&id).await?;
    let axes = run_axes(&opened.view)?;
    let t = find_run(&axes, &run)?;
    let base = crate::resources::base_url(&state, &headers);
    Ok(axum::Json(instance_doc(&base, &opened.view, &axes, t, &run)))
}

/// `/collections/{id}/instances/{run}/{query}`
pub async fn query(
    State(state): State<Arc<AppState>>,
    Path((id, run, query)): Path<(String, String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let opened = state.catalog.open(&id).await?;
    let axes = run_axes(&opened.view)?;
    if run == "best" {
        if query != "position" {
            return Err(ApiError::bad("query", "the best estimate is offered for position queries"));
        }
        if pairs.iter().any(|(k, _)| *k == axes.reference || *k == axes.lead) {
            return Err(ApiError::bad("query", "the best estimate chooses the runs and lead times itself"));
        }
        let window = match pairs.iter().find(|(k, _)| k == "datetime") {
            Some((_, text)) => {
                Some(parse_datetime(text, calendar(&opened.view)).map_err(|e| ApiError::bad("datetime", e.0))?)
            }
            None => None,
        };
        let pairs: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "datetime").collect();
        let best = move |x: Extraction| best_estimate(x, &axes, window.as_ref());
        return crate::queries::position_with(&state, &id, pairs, Some(Box::new(best))).await;
    }
    let t = find_run(&axes, &run)?;
    let mut out = Vec::with_capacity(pairs.len() + 1);
    for (k, v) in pairs {
        if k == axes.reference {
            return Err(ApiError::bad("query", format!("{k}: the instance fixes the run")));
        }
        if k == "datetime" {
            out.push((axes.lead.clone(), leads_for(&axes, t, &v, calendar(&opened.view))?));
        } else {
            out.push((k, v));
        }
    }
    out.push((axes.reference.clone(), t.to_string()));
    let (state, path, q) = (State(state), Path(id), Query(out));
    match query.as_str() {
        "position" => crate::queries::position(state, path, q).await,
        "radius" => crate::queries::radius(state, path, q).await,
        "area" => crate::queries::area(state, path, q).await,
        "cube" => crate::queries::cube(state, path, q).await,
        "trajectory" => crate::queries::trajectory(state, path, q).await,
        other => Err(ApiError::NotFound(format!("no query {other:?}: use position, radius, area, cube or trajectory"))),
    }
}

fn calendar(view: &DatasetView) -> hub_core::cf::Calendar {
    view.calendar().unwrap_or(hub_core::cf::Calendar::Standard)
}

/// A `datetime` selection within a run, as lead times in the stored units.
fn leads_for(axes: &RunAxes, run: CfTime, text: &str, calendar: hub_core::cf::Calendar) -> Result<String, ApiError> {
    let sel = parse_datetime(text, calendar).map_err(|e| ApiError::bad("datetime", e.0))?;
    #[allow(clippy::cast_precision_loss)]
    let lead = |t: &CfTime| ((t.micros() - run.micros()) as f64 / 1e6 / axes.lead_unit_s).to_string();
    Ok(match sel {
        AxisSelection::All => "..".into(),
        AxisSelection::Values(v) => v.iter().map(lead).collect::<Vec<_>>().join(","),
        AxisSelection::Interval(a, b) => {
            format!("{}/{}", a.as_ref().map_or("..".into(), lead), b.as_ref().map_or("..".into(), lead))
        }
    })
}

/// Splices runs: for each valid time, the value of the newest run that has
/// one there. The run and lead axes of the answer become one `time` axis.
fn best_estimate(
    mut x: Extraction,
    axes: &RunAxes,
    window: Option<&AxisSelection<CfTime>>,
) -> Result<Extraction, ApiError> {
    let ri = x.axes.iter().position(|a| a.name == axes.reference);
    let li = x.axes.iter().position(|a| a.name == axes.lead);
    let (Some(ri), Some(li)) = (ri, li) else {
        return Err(ApiError::bad("parameter-name", "the parameters have no run and lead time axes"));
    };
    let runs: Vec<CfTime> = match &x.axes[ri].values {
        AxisValues::Time { values, .. } => values.clone(),
        AxisValues::Numbers { .. } => return Err(ApiError::Internal("run axis without times".into())),
    };
    let calendar = match &x.axes[ri].values {
        AxisValues::Time { calendar, .. } => *calendar,
        AxisValues::Numbers { .. } => hub_core::cf::Calendar::Standard,
    };
    let leads: Vec<f64> = match &x.axes[li].values {
        AxisValues::Numbers { values } => values.iter().map(|l| l * axes.lead_unit_s).collect(),
        AxisValues::Time { .. } => return Err(ApiError::Internal("lead axis of times".into())),
    };
    let lens: Vec<usize> = x.axes.iter().map(|a| a.picked.len()).collect();
    let mut valid: Vec<CfTime> = runs.iter().flat_map(|r| leads.iter().filter_map(move |&l| plus(*r, l))).collect();
    valid.sort();
    valid.dedup();
    if let Some(sel) = window {
        valid.retain(|t| match sel {
            AxisSelection::All => true,
            AxisSelection::Values(v) => v.contains(t),
            AxisSelection::Interval(a, b) => a.is_none_or(|a| *t >= a) && b.is_none_or(|b| *t <= b),
        });
    }
    let rest: Vec<usize> = (0..x.axes.len()).filter(|&d| d != ri && d != li).collect();
    let rest_len: usize = rest.iter().map(|&d| lens[d]).product();
    let per_point: usize = lens.iter().product();
    let points = if per_point == 0 { 0 } else { x.params.first().map_or(0, |p| p.values.len() / per_point) };
    // Strides of the old layout [point][axes…].
    let mut strides = vec![1usize; lens.len()];
    for d in (0..lens.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * lens[d + 1];
    }
    for p in &mut x.params {
        let mut out = Vec::with_capacity(points * valid.len() * rest_len);
        for pt in 0..points {
            for v in &valid {
                for q in 0..rest_len {
                    // Index along each remaining axis.
                    let mut rem = q;
                    let mut offset = pt * per_point;
                    for &d in rest.iter().rev() {
                        offset += (rem % lens[d]) * strides[d];
                        rem /= lens[d];
                    }
                    let mut pick = None;
                    for (r, run) in runs.iter().enumerate() {
                        for (l, &lead) in leads.iter().enumerate() {
                            if plus(*run, lead) != Some(*v) {
                                continue;
                            }
                            let at = offset + r * strides[ri] + l * strides[li];
                            if let Some(Some(value)) = p.values.get(at)
                                && pick.is_none_or(|(pr, _)| *run > pr)
                            {
                                pick = Some((*run, *value));
                            }
                        }
                    }
                    out.push(pick.map(|(_, value)| value));
                }
            }
        }
        *p = ParamValues { param: p.param.clone(), values: out };
    }
    let time = OutAxis {
        name: "time".into(),
        role: DimRole::Time,
        picked: (0..valid.len()).collect(),
        values: AxisValues::Time { values: valid, calendar },
        units: None,
    };
    let mut new_axes = vec![time];
    new_axes.extend(rest.iter().map(|&d| x.axes[d].clone()));
    x.axes = new_axes;
    Ok(x)
}
