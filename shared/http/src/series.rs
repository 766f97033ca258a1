//! Encoders of region statistics: a [`RegionSeries`] (one column per
//! parameter and statistic over the time and other axes) as CoverageJSON
//! (a `PolygonSeries` domain), CSV and GeoJSON.

use hub_core::analytics::{RegionSeries, SeriesColumn};
use hub_core::query::AxisValues;
use serde_json::{Map, Value, json};

use crate::covjson::{CRS84, axes_json, axes_referencing, axis_key, parameter_docs};
use crate::encode::EncodeError;

/// A region's statistics with what names and draws the region.
#[derive(Debug, Clone)]
pub struct RegionAnswer<'a> {
    /// The statistics.
    pub series: &'a RegionSeries,
    /// `set:id`, or `area` for an ad hoc polygon.
    pub location: String,
    /// For people.
    pub name: String,
    /// The region's GeoJSON geometry (lon/lat, cut at the antimeridian).
    pub geometry: Value,
}

/// `tas.mean`: the column's name in every format.
pub fn column_key(c: &SeriesColumn) -> String {
    c.key.clone()
}

fn axis_text(values: &AxisValues) -> Vec<String> {
    match values {
        AxisValues::Time { values, .. } => values.iter().map(ToString::to_string).collect(),
        AxisValues::Numbers { values } => values.iter().map(ToString::to_string).collect(),
    }
}

/// The axis values of row `k` (C order over the axes).
fn row_axes(axes: &[Vec<String>], k: usize) -> Vec<&str> {
    let mut rem = k;
    let mut out = vec![""; axes.len()];
    for d in (0..axes.len()).rev() {
        let len = axes[d].len().max(1);
        out[d] = axes[d].get(rem % len).map_or("", String::as_str);
        rem /= len;
    }
    out
}

fn rows(a: &RegionAnswer<'_>) -> usize {
    a.series.axes.iter().map(|x| x.picked.len()).product()
}

fn polygons_only(geometry: &Value) -> Value {
    geometry.get("coordinates").cloned().unwrap_or(Value::Array(vec![]))
}

/// CoverageJSON: the region as the one polygon of a `PolygonSeries` domain
/// (axes `t`, `z` and any other axis of the answer before `composite`).
pub fn coverage_json(a: &RegionAnswer<'_>) -> Result<Vec<u8>, EncodeError> {
    let s = a.series;
    let mut axes: Map<String, Value> = axes_json(&s.axes);
    axes.insert(
        "composite".into(),
        json!({"dataType": "polygon", "coordinates": ["x", "y"], "values": [polygons_only(&a.geometry)]}),
    );
    let standard = s.axes.iter().all(|x| matches!(axis_key(x).as_str(), "t" | "z") || x.picked.len() == 1);
    let mut referencing = vec![json!({"coordinates": ["x", "y"], "system": {"type": "GeographicCRS", "id": CRS84}})];
    referencing.extend(axes_referencing(&s.axes));
    let mut domain = json!({"type": "Domain", "axes": axes, "referencing": referencing});
    if standard {
        domain["domainType"] = json!("PolygonSeries");
    }
    let mut names: Vec<String> = s.axes.iter().map(axis_key).collect();
    names.push("composite".into());
    let mut shape: Vec<usize> = s.axes.iter().map(|x| x.picked.len()).collect();
    shape.push(1);
    let columns: Vec<&SeriesColumn> = s.columns.iter().collect();
    let ranges: Map<String, Value> = columns
        .iter()
        .map(|c| {
            (
                column_key(c),
                json!({"type": "NdArray", "dataType": "float", "axisNames": names, "shape": shape, "values": c.values}),
            )
        })
        .collect();
    let doc = json!({
        "type": "Coverage",
        "domain": domain,
        "parameters": parameter_docs(&columns, |c| column_key(c), |c| c.units.clone()),
        "ranges": ranges,
        "hub:region": {
            "location": a.location, "name": a.name, "cells": s.cells, "area_m2": s.area_m2,
            "statistics": "area-weighted over the exact share of each cell inside the region (see the API's README)",
        },
    });
    serde_json::to_vec(&doc).map_err(|e| EncodeError::failed("CoverageJSON", e))
}

/// CSV: a header row (`location`, the axes, then `parameter.statistic`
/// columns), one row per time step and value of any other axis.
pub fn csv(a: &RegionAnswer<'_>) -> Result<Vec<u8>, EncodeError> {
    let s = a.series;
    let mut out = String::from("location");
    for x in &s.axes {
        out.push(',');
        out.push_str(&axis_key(x));
    }
    for c in &s.columns {
        out.push(',');
        out.push_str(&column_key(c));
    }
    out.push('\n');
    let axes: Vec<Vec<String>> = s.axes.iter().map(|x| axis_text(&x.values)).collect();
    let location = if a.location.contains([',', '"']) {
        format!("\"{}\"", a.location.replace('"', "\"\""))
    } else {
        a.location.clone()
    };
    for k in 0..rows(a) {
        out.push_str(&location);
        for v in row_axes(&axes, k) {
            out.push(',');
            out.push_str(v);
        }
        for c in &s.columns {
            out.push(',');
            if let Some(v) = c.values.get(k).copied().flatten() {
                out.push_str(&v.to_string());
            }
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// GeoJSON: one Feature, the region's geometry, the series as properties
/// (`datetime` and the other axes as lists, one list per column).
pub fn geojson(a: &RegionAnswer<'_>) -> Result<Vec<u8>, EncodeError> {
    let s = a.series;
    let mut props = Map::new();
    props.insert("location".into(), json!(a.location));
    props.insert("name".into(), json!(a.name));
    props.insert("cells".into(), json!(s.cells));
    props.insert("area_m2".into(), json!(s.area_m2));
    let axes: Vec<Vec<String>> = s.axes.iter().map(|x| axis_text(&x.values)).collect();
    for (d, x) in s.axes.iter().enumerate() {
        let key = axis_key(x);
        let key = if key == "t" { "datetime".to_string() } else { key };
        let values: Vec<&str> = (0..rows(a)).map(|k| row_axes(&axes, k)[d]).collect();
        props.insert(key, json!(values));
    }
    for c in &s.columns {
        props.insert(column_key(c), json!(c.values));
        if let Some(u) = &c.units {
            props.insert(format!("{}.units", column_key(c)), json!(u));
        }
    }
    let doc = json!({"type": "Feature", "id": a.location, "geometry": a.geometry, "properties": props});
    serde_json::to_vec(&doc).map_err(|e| EncodeError::failed("GeoJSON", e))
}
