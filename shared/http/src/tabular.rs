//! CSV and GeoJSON for point answers (position, radius, trajectory): one row (or
//! feature) per position and axis value, one column (property) per parameter.

use hub_core::cf::DimRole;
use hub_core::query::AxisValues;
use serde_json::{Map, Value, json};

use hub_core::query::{Extraction, Horizontal};

/// One record: position, axis values, parameter values.
struct Row {
    lon: f64,
    lat: f64,
    axes: Vec<String>,
    values: Vec<Option<f64>>,
}

fn rows(x: &Extraction) -> Vec<Row> {
    let axis_text: Vec<Vec<String>> = x
        .axes
        .iter()
        .map(|a| match &a.values {
            AxisValues::Time { values, .. } => values.iter().map(ToString::to_string).collect(),
            AxisValues::Numbers { values } => values.iter().map(ToString::to_string).collect(),
        })
        .collect();
    let n = x.axes_len();
    let combos = |k: usize| -> Vec<String> {
        let mut rem = k;
        let mut out = vec![String::new(); axis_text.len()];
        for d in (0..axis_text.len()).rev() {
            let len = axis_text[d].len().max(1);
            out[d] = axis_text[d].get(rem % len).cloned().unwrap_or_default();
            rem /= len;
        }
        out
    };
    let mut out = Vec::new();
    match &x.horizontal {
        Horizontal::Points(points) => {
            let time_axis = x.axes.iter().position(|a| a.role == DimRole::Time);
            for (p, pt) in points.iter().enumerate() {
                for k in 0..n {
                    let mut axes = combos(k);
                    // A timed trajectory's vertex carries its own time.
                    if let (Some(t), Some(d)) = (pt.time, time_axis) {
                        axes[d] = t.at.to_string();
                    }
                    out.push(Row {
                        lon: pt.at.lon,
                        lat: pt.at.lat,
                        axes,
                        values: x.params.iter().map(|v| v.values[p * n + k]).collect(),
                    });
                }
            }
        }
        Horizontal::Window(w) => {
            let cells = w.js.len() * w.is.len();
            for (a, lat) in w.y.iter().enumerate() {
                for (b, lon) in w.x.iter().enumerate() {
                    let c = a * w.is.len() + b;
                    if !w.covers(c) {
                        continue;
                    }
                    for k in 0..n {
                        out.push(Row {
                            lon: *lon,
                            lat: *lat,
                            axes: combos(k),
                            values: x.params.iter().map(|v| v.values[k * cells + c]).collect(),
                        });
                    }
                }
            }
        }
    }
    out
}

/// CSV: `x,y,<axes…>,<parameters…>`; missing values are empty.
pub fn csv(x: &Extraction) -> String {
    let mut s = String::from("x,y");
    for a in &x.axes {
        s.push(',');
        s.push_str(&crate::covjson::axis_key(a));
    }
    for p in &x.params {
        s.push(',');
        s.push_str(&p.param.name);
    }
    s.push('\n');
    for r in rows(x) {
        s.push_str(&format!("{},{}", r.lon, r.lat));
        for a in &r.axes {
            s.push(',');
            s.push_str(a);
        }
        for v in &r.values {
            s.push(',');
            if let Some(v) = v {
                s.push_str(&v.to_string());
            }
        }
        s.push('\n');
    }
    s
}

/// GeoJSON: a `FeatureCollection` of points with the axes and values as properties.
pub fn geojson(x: &Extraction) -> Value {
    let keys: Vec<String> = x.axes.iter().map(crate::covjson::axis_key).collect();
    let features: Vec<Value> = rows(x)
        .into_iter()
        .map(|r| {
            let mut props = Map::new();
            for (k, v) in keys.iter().zip(r.axes) {
                props.insert(if k == "t" { "datetime".into() } else { k.clone() }, json!(v));
            }
            for (p, v) in x.params.iter().zip(r.values) {
                props.insert(p.param.name.clone(), json!(v));
            }
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]}, "properties": props})
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}
