//! CoverageJSON (OGC Community Standard 1.0) for extractions: a point series
//! is a `PointSeries` coverage, several positions a `CoverageCollection`, a
//! window a `Grid` coverage with cells outside the area as `null` (on a
//! curvilinear grid, where cells share no x/y axes, the covered cells as a
//! `composite` axis of their centres). Times are
//! written in the dataset's calendar, declared in the temporal reference
//! system (`Gregorian`, or the CF conventions' calendar URI with the CF
//! calendar name in `cf:calendar` for the others).

use std::borrow::Cow;
use std::hash::{BuildHasher, Hasher};

use hub_core::cf::{Calendar, DimRole};
use hub_core::query::{AxisValues, Cell, HorizontalGrid, LonLat, Window};
use serde_json::{Map, Value, json};

use hub_core::query::{Extraction, Horizontal, OutAxis, Parameter};

use crate::encode::EncodeError;

pub(crate) const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// The range values of a document, written straight into the output: the
/// document is built with a placeholder per range, and the numbers go into
/// the bytes as they are encoded, never into a `Value` each (which took ten
/// times the answer's size in memory). Placeholders carry a random nonce, so
/// no text from a file can pose as one.
struct Ranges<'a> {
    values: Vec<Cow<'a, [Option<f64>]>>,
    nonce: u64,
}

impl<'a> Ranges<'a> {
    fn new() -> Self {
        let nonce = std::collections::hash_map::RandomState::new().build_hasher().finish();
        Self { values: Vec::new(), nonce }
    }

    fn placeholder(&self, k: usize) -> String {
        format!("\u{1}values-{k}-{:016x}", self.nonce)
    }

    fn add(&mut self, values: Cow<'a, [Option<f64>]>) -> Value {
        self.values.push(values);
        Value::String(self.placeholder(self.values.len() - 1))
    }

    /// The document's bytes with every placeholder replaced by its values.
    fn write(&self, doc: &Value) -> Result<Vec<u8>, serde_json::Error> {
        let skeleton = serde_json::to_vec(doc)?;
        let total: usize = self.values.iter().map(|v| v.len()).sum();
        let mut out = Vec::with_capacity(skeleton.len() + total * 12);
        let mut rest = skeleton.as_slice();
        for (k, values) in self.values.iter().enumerate() {
            let needle = serde_json::to_vec(&self.placeholder(k))?;
            let Some(at) = rest.windows(needle.len()).position(|w| w == needle.as_slice()) else { continue };
            out.extend_from_slice(&rest[..at]);
            out.push(b'[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match v.filter(|v| v.is_finite()) {
                    Some(v) => {
                        serde_json::to_writer(&mut out, &v)?;
                    }
                    None => out.extend_from_slice(b"null"),
                }
            }
            out.push(b']');
            rest = &rest[at + needle.len()..];
        }
        out.extend_from_slice(rest);
        Ok(out)
    }
}

/// The CoverageJSON document of an extraction, encoded.
pub fn coverage_json(x: &Extraction) -> Result<Vec<u8>, EncodeError> {
    let mut ranges = Ranges::new();
    let mut doc = document(x, &mut ranges);
    if let Some(note) = &x.ensemble {
        doc["hub:ensemble"] = ensemble_note(note);
    }
    ranges.write(&doc).map_err(|e| EncodeError::failed("CoverageJSON", e))
}

/// The members an ensemble answer used and left out (with why).
pub fn ensemble_note(note: &hub_core::query::EnsembleNote) -> Value {
    json!({
        "members": note.used,
        "left_out": note.left_out.iter().map(|(m, why)| json!({"member": m, "reason": why})).collect::<Vec<_>>(),
        "notes": note.notes,
        "from_stored_period_statistics": note.from_stored,
    })
}

fn document<'a>(x: &'a Extraction, sink: &mut Ranges<'a>) -> Value {
    match &x.horizontal {
        Horizontal::Window(w) if matches!(x.grid.grid, HorizontalGrid::Curvilinear(_)) => {
            curvilinear_window(x, w, sink)
        }
        Horizontal::Window(w) => {
            let mut axes = axes_json(&x.axes);
            axes.insert("x".into(), json!({"values": w.x}));
            axes.insert("y".into(), json!({"values": w.y}));
            let mut names: Vec<String> = x.axes.iter().map(axis_key).collect();
            names.extend(["y".to_string(), "x".to_string()]);
            let mut shape: Vec<usize> = x.axes.iter().map(|a| a.picked.len()).collect();
            shape.extend([w.js.len(), w.is.len()]);
            let ranges: Map<String, Value> = x
                .params
                .iter()
                .map(|p| (p.param.name.clone(), ndarray(&names, &shape, Cow::Borrowed(&p.values), sink)))
                .collect();
            json!({
                "type": "Coverage",
                "domain": domain(grid_domain_type(&x.axes, "Grid"), axes, referencing(x)),
                "parameters": parameters_json(x),
                "ranges": ranges,
            })
        }
        Horizontal::Points(points) if !points.is_empty() && points.iter().all(|p| p.time.is_some()) => {
            // A timed trajectory: one (t, x, y) tuple per vertex.
            let others: Vec<OutAxis> = x.axes.iter().filter(|a| a.role != DimRole::Time).cloned().collect();
            let mut axes = axes_json(&others);
            let tuples: Vec<Value> =
                points.iter().map(|p| json!([p.time.map(|t| t.at.to_string()), p.at.lon, p.at.lat])).collect();
            axes.insert(
                "composite".into(),
                json!({"dataType": "tuple", "coordinates": ["t", "x", "y"], "values": tuples}),
            );
            let mut names = vec!["composite".to_string()];
            names.extend(others.iter().map(axis_key));
            let mut shape = vec![points.len()];
            shape.extend(others.iter().map(|a| a.picked.len()));
            let ranges: Map<String, Value> = x
                .params
                .iter()
                .map(|p| (p.param.name.clone(), ndarray(&names, &shape, Cow::Borrowed(&p.values), sink)))
                .collect();
            json!({
                "type": "Coverage",
                "domain": domain(Some("Trajectory".into()), axes, referencing(x)),
                "parameters": parameters_json(x),
                "ranges": ranges,
            })
        }
        Horizontal::Points(points) => {
            let n = x.axes_len();
            let mut coverages: Vec<Value> = Vec::with_capacity(points.len());
            for (k, pt) in points.iter().enumerate() {
                coverages.push({
                    let mut axes = axes_json(&x.axes);
                    axes.insert("x".into(), json!({"values": [pt.at.lon]}));
                    axes.insert("y".into(), json!({"values": [pt.at.lat]}));
                    let names: Vec<String> = x.axes.iter().map(axis_key).collect();
                    let shape: Vec<usize> = x.axes.iter().map(|a| a.picked.len()).collect();
                    let ranges: Map<String, Value> = x
                        .params
                        .iter()
                        .map(|p| {
                            let values = p.values.get(k * n..(k + 1) * n).unwrap_or(&[]);
                            (p.param.name.clone(), ndarray(&names, &shape, Cow::Borrowed(values), sink))
                        })
                        .collect();
                    json!({
                        "type": "Coverage",
                        "domain": domain(grid_domain_type(&x.axes, "PointSeries"), axes, referencing(x)),
                        "ranges": ranges,
                    })
                });
            }
            if let [one] = coverages.as_slice() {
                let mut c = one.clone();
                c["parameters"] = parameters_json(x);
                c
            } else {
                json!({
                    "type": "CoverageCollection",
                    "parameters": parameters_json(x),
                    "referencing": referencing(x),
                    "coverages": coverages,
                })
            }
        }
    }
}

/// A window of a curvilinear grid: the cells have no shared x/y axes, so
/// each covered cell is one `(x, y)` tuple of its centre's longitude and
/// latitude in a `composite` axis (the other axes keep their own).
fn curvilinear_window<'a>(x: &'a Extraction, w: &Window, sink: &mut Ranges<'a>) -> Value {
    let per_cell = w.js.len() * w.is.len();
    let kept: Vec<(usize, LonLat)> = (0..per_cell)
        .filter(|&k| w.covers(k))
        .filter_map(|k| {
            let cell = Cell { j: w.js[k / w.is.len()], i: w.is[k % w.is.len()] };
            x.grid.grid.center(cell).map(|at| (k, at))
        })
        .collect();
    let mut axes = axes_json(&x.axes);
    let tuples: Vec<Value> = kept.iter().map(|(_, at)| json!([at.lon, at.lat])).collect();
    axes.insert("composite".into(), json!({"dataType": "tuple", "coordinates": ["x", "y"], "values": tuples}));
    let mut names: Vec<String> = x.axes.iter().map(axis_key).collect();
    names.push("composite".into());
    let mut shape: Vec<usize> = x.axes.iter().map(|a| a.picked.len()).collect();
    shape.push(kept.len());
    let ranges: Map<String, Value> = x
        .params
        .iter()
        .map(|p| {
            let values: Vec<Option<f64>> = p
                .values
                .chunks(per_cell.max(1))
                .flat_map(|slab| kept.iter().map(move |(k, _)| slab.get(*k).copied().flatten()))
                .collect();
            (p.param.name.clone(), ndarray(&names, &shape, Cow::Owned(values), sink))
        })
        .collect();
    json!({
        "type": "Coverage",
        "domain": domain(None, axes, referencing(x)),
        "parameters": parameters_json(x),
        "ranges": ranges,
    })
}

/// The axis key CoverageJSON uses: `t` and `z` for time and vertical, the
/// dimension's own name otherwise.
pub fn axis_key(a: &OutAxis) -> String {
    match a.role {
        DimRole::Time if is_first_time(a) => "t".into(),
        DimRole::Vertical => "z".into(),
        _ => a.name.clone(),
    }
}

fn is_first_time(a: &OutAxis) -> bool {
    matches!(a.values, AxisValues::Time { .. })
}

/// `PointSeries`/`Grid` only when the axes are the standard ones (single
/// values on any other axis are fine).
fn grid_domain_type(axes: &[OutAxis], kind: &str) -> Option<String> {
    let standard = axes.iter().all(|a| matches!(axis_key(a).as_str(), "t" | "z") || a.picked.len() == 1);
    let z_single = axes.iter().filter(|a| axis_key(a) == "z").all(|a| kind == "Grid" || a.picked.len() == 1);
    (standard && z_single).then(|| kind.to_string())
}

pub(crate) fn axes_json(axes: &[OutAxis]) -> Map<String, Value> {
    axes.iter()
        .map(|a| {
            let values = match &a.values {
                AxisValues::Time { values, .. } => json!(values.iter().map(ToString::to_string).collect::<Vec<_>>()),
                AxisValues::Numbers { values } => json!(values),
            };
            (axis_key(a), json!({"values": values}))
        })
        .collect()
}

fn domain(domain_type: Option<String>, axes: Map<String, Value>, referencing: Value) -> Value {
    let mut d = json!({"type": "Domain", "axes": axes, "referencing": referencing});
    if let Some(t) = domain_type {
        d["domainType"] = json!(t);
    }
    d
}

/// The calendar's name for humans and WKT: `Gregorian`, or the CF calendar's.
pub fn calendar_name(c: Calendar) -> String {
    match c {
        Calendar::Standard | Calendar::ProlepticGregorian => "Gregorian".into(),
        other => other.name().to_string(),
    }
}

/// Where the CF conventions define their calendars; CoverageJSON wants a URI
/// for any calendar that is not Gregorian.
const CF_CALENDARS: &str = "https://cfconventions.org/cf-conventions/cf-conventions.html#calendar";

/// CoverageJSON's temporal reference system for a CF calendar: `Gregorian`
/// by name, the others by the CF conventions' URI with the CF name in the
/// `cf:calendar` member (so clients can tell `noleap` from `360_day`).
pub fn temporal_rs(c: Calendar) -> Value {
    match c {
        Calendar::Standard | Calendar::ProlepticGregorian => json!({"type": "TemporalRS", "calendar": "Gregorian"}),
        other => json!({
            "type": "TemporalRS",
            "calendar": CF_CALENDARS,
            "cf:calendar": other.name(),
            "description": {"en": format!("CF calendar {}", other.name())},
        }),
    }
}

fn referencing(x: &Extraction) -> Value {
    let horizontal = match (&x.grid.grid, &x.horizontal) {
        (HorizontalGrid::Projected { .. }, Horizontal::Window(_)) => {
            let wkt = x.grid.grid_mapping.as_ref().and_then(|m| {
                ["crs_wkt", "spatial_ref"].iter().find_map(|k| hub_core::model::attr_text(m, k).map(str::to_string))
            });
            let mut sys = json!({"type": "ProjectedCRS"});
            if let Some(wkt) = wkt {
                sys["wkt"] = json!(wkt);
            }
            sys
        }
        _ => json!({"type": "GeographicCRS", "id": CRS84}),
    };
    let mut refs = vec![json!({"coordinates": ["x", "y"], "system": horizontal})];
    refs.extend(axes_referencing(&x.axes));
    Value::Array(refs)
}

/// The reference systems of the non-horizontal axes.
pub(crate) fn axes_referencing(axes: &[OutAxis]) -> Vec<Value> {
    let mut refs = Vec::new();
    for a in axes {
        match &a.values {
            AxisValues::Time { calendar, .. } => refs.push(json!({
                "coordinates": [axis_key(a)],
                "system": temporal_rs(*calendar),
            })),
            AxisValues::Numbers { .. } if a.role == DimRole::Vertical => refs.push(json!({
                "coordinates": ["z"],
                "system": {"type": "VerticalCRS", "cs": {"csAxes": [{"name": {"en": a.name}, "direction": "up", "unit": {"symbol": a.units.clone().unwrap_or_default()}}]}},
            })),
            AxisValues::Numbers { .. } => refs.push(json!({
                "coordinates": [axis_key(a)],
                "system": {"type": "IdentifierRS", "label": {"en": a.name}},
            })),
        }
    }
    refs
}

fn parameters_json(x: &Extraction) -> Value {
    let params: Vec<&Parameter> = x.params.iter().map(|p| &p.param).collect();
    let mut docs = parameter_docs(&params, |p| p.name.clone(), |p| p.units.clone());
    for p in x.params.iter().filter(|p| !p.categories.is_empty()) {
        if let Some(doc) = docs.get_mut(&p.param.name) {
            doc["observedProperty"]["categories"] =
                p.categories.iter().map(|c| json!({"id": c.id, "label": {"en": c.label}})).collect::<Vec<_>>().into();
            doc["categoryEncoding"] =
                p.categories.iter().map(|c| (c.id.clone(), json!(c.value))).collect::<Map<String, Value>>().into();
            if let Some(o) = doc.as_object_mut() {
                o.remove("unit");
            }
        }
    }
    docs
}

/// CoverageJSON parameter objects, keyed and unit-labelled by the caller.
pub(crate) fn parameter_docs<T>(items: &[T], key: impl Fn(&T) -> String, units: impl Fn(&T) -> Option<String>) -> Value
where
    T: AsParameter,
{
    items
        .iter()
        .map(|item| {
            let p = item.parameter();
            let mut obs = json!({"label": {"en": p.standard_name.clone().unwrap_or_else(|| p.name.clone())}});
            if let Some(sn) = &p.standard_name {
                obs["id"] = json!(format!("https://vocab.nerc.ac.uk/standard_name/{sn}/"));
            }
            let mut v = json!({
                "type": "Parameter",
                "description": {"en": p.description},
                "observedProperty": obs,
            });
            if let Some(u) = units(item) {
                v["unit"] = json!({"symbol": u});
            }
            (key(item), v)
        })
        .collect::<Map<String, Value>>()
        .into()
}

/// What a CoverageJSON parameter is described from.
pub(crate) trait AsParameter {
    /// The parameter.
    fn parameter(&self) -> &Parameter;
}

impl AsParameter for &Parameter {
    fn parameter(&self) -> &Parameter {
        self
    }
}

impl AsParameter for &hub_core::analytics::SeriesColumn {
    fn parameter(&self) -> &Parameter {
        &self.parameter
    }
}

fn ndarray<'a>(names: &[String], shape: &[usize], values: Cow<'a, [Option<f64>]>, sink: &mut Ranges<'a>) -> Value {
    json!({
        "type": "NdArray",
        "dataType": "float",
        "axisNames": names,
        "shape": shape,
        "values": sink.add(values),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_values_are_spliced_in_as_numbers() {
        let values = [Some(1.5), None, Some(f64::NAN), Some(-2.0), Some(1e-7)];
        let mut ranges = Ranges::new();
        let doc = json!({"title": "text that looks like \u{1}values-0-0000000000000000", "ranges": {"a": ndarray(&["x".into()], &[5], Cow::Borrowed(&values[..]), &mut ranges)}});
        let bytes = ranges.write(&doc).unwrap_or_else(|e| panic!("{e}"));
        let back: Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
        assert_eq!(back["ranges"]["a"]["values"], json!([1.5, null, null, -2.0, 1e-7]));
        assert_eq!(back["title"], doc["title"]);
    }
}
