//! Forecast runs as OGC API - EDR instances (the run model itself is the
//! core's [`ForecastAxes`]):
//!
//! - `/collections/{id}/instances` lists them, newest first;
//! - `/collections/{id}/instances/{run}` describes one (`{run}` is the
//!   reference time, e.g. `2024-01-01T06:00:00Z`, or `latest`);
//! - `/collections/{id}/instances/{run}/{query}` runs any query on that run
//!   alone: `datetime` then selects valid times within the run;
//! - `/collections/{id}/instances/best/position` is the *best estimate*: for
//!   each valid time, the value of the newest run that covers it.
//!
//! The queries are [`crate::queries::instance_query`]: the run goes into the
//! typed query, nothing is rewritten.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use hub_core::cf::{CfTime, ForecastAxes, plus_seconds};
use hub_core::query::DatasetView;
use serde_json::{Value, json};

use crate::AppState;
use crate::encode::QUERIES;
use crate::error::ApiError;

/// The run an instance id names.
pub fn find_run(axes: &ForecastAxes, instance: &str) -> Result<CfTime, ApiError> {
    axes.find_run(instance).ok_or_else(|| {
        if instance == "latest" {
            return ApiError::NotFound("no forecast run yet".into());
        }
        ApiError::NotFound(format!(
            "no run {instance:?}: runs are {} (or latest, best)",
            axes.runs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ))
    })
}

fn instance_doc(base: &str, view: &DatasetView, axes: &ForecastAxes, run: CfTime, id: &str) -> Value {
    let href = format!("{base}/collections/{}/instances/{id}", view.id.as_str());
    let valid: Vec<CfTime> = axes.leads_s.iter().filter_map(|&l| plus_seconds(run, l)).collect();
    let mut doc = crate::resources::collection_doc(base, view);
    doc["id"] = json!(id);
    doc["title"] = json!(format!("{} run {run}", view.id.as_str()));
    crate::resources::set_run(&mut doc, &axes.reference, run);
    if let (Some(a), Some(b)) = (
        axes.leads_s.first().and_then(|&l| plus_seconds(run, l)),
        axes.leads_s.last().and_then(|&l| plus_seconds(run, l)),
    ) {
        let calendar = view.calendar().unwrap_or(hub_core::cf::Calendar::Standard);
        doc["extent"]["temporal"] = json!({
            "interval": [[a.to_string(), b.to_string()]],
            "values": valid.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "trs": crate::resources::temporal_trs(calendar),
        });
    }
    let queries: Vec<Value> = QUERIES
        .iter()
        .map(|(q, _)| json!({"href": format!("{href}/{q}"), "rel": "data", "title": format!("{q} query on this run")}))
        .collect();
    let mut links = vec![json!({"href": href, "rel": "self", "type": "application/json", "title": "this run"})];
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
    let axes = view.forecast_axes()?;
    let base = crate::resources::base_url(&state, &headers);
    let mut runs = axes.runs.clone();
    runs.sort();
    runs.reverse();
    let instances: Vec<Value> = runs.iter().map(|r| instance_doc(&base, view, &axes, *r, &r.to_string())).collect();
    let href = format!("{base}/collections/{id}/instances");
    Ok(axum::Json(json!({
        "links": [
            {"href": href, "rel": "self", "type": "application/json", "title": "the forecast runs"},
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
    let axes = opened.view.forecast_axes()?;
    let t = find_run(&axes, &run)?;
    let base = crate::resources::base_url(&state, &headers);
    Ok(axum::Json(instance_doc(&base, &opened.view, &axes, t, &run)))
}
