//! Request parsing: a data query's parameters, read once into the core's
//! typed [`EdrQuery`] and the answer's [`Format`]. Every message names the
//! parameter and what would be right; nothing past this module sees a query
//! string.

use std::collections::{BTreeMap, HashSet};

use axum::http::{HeaderMap, header};
use hub_core::analytics::Statistic;
use hub_core::cf::Calendar;
use hub_core::query::{
    AxisValues, DatasetView, DimSelection, EdrQuery, Geometry, Instance, Interpolation, Place, Selections,
    parse_datetime, parse_numbers,
};

use crate::encode::{Format, formats_of};
use crate::error::ApiError;

/// Parameters every query type takes.
const COMMON: &[&str] = &["parameter-name", "datetime", "z", "f", "crs"];

/// Coordinates are lon/lat (CRS84); these names say so.
const CRS84: &[&str] = &["CRS84", "OGC:CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84", "EPSG:4326"];

/// A data request: the query and the format of its answer.
#[derive(Debug, Clone)]
pub struct DataRequest {
    /// What to answer.
    pub query: EdrQuery,
    /// How to encode it.
    pub format: Format,
    /// Region statistics asked for (`statistic=`; `locations` default to the mean):
    /// then the answer is a series per statistic, not the cells.
    pub statistics: Option<Vec<Statistic>>,
}

/// The parameters a query type takes besides the common ones.
fn own_parameters(query: &str) -> Option<&'static [&'static str]> {
    Some(match query {
        "position" => &["coords", "method"],
        "radius" => &["coords", "within", "within-units"],
        "area" => &["coords", "statistic"],
        "trajectory" => &["coords"],
        "locations" => &["statistic"],
        "cube" => &["bbox"],
        _ => return None,
    })
}

/// Whether `name` is a data query type.
pub fn is_query(name: &str) -> bool {
    own_parameters(name).is_some()
}

/// Reads the request of a data query of type `query` on `view`.
pub fn data_request(
    view: &DatasetView,
    query: &str,
    pairs: Vec<(String, String)>,
    headers: &HeaderMap,
    instance: Option<Instance>,
) -> Result<DataRequest, ApiError> {
    data_request_at(view, query, pairs, headers, instance, None)
}

/// [`data_request`] with the place already known (a region, or polygons
/// posted in the body): `coords` is then not read.
pub fn data_request_at(
    view: &DatasetView,
    query: &str,
    pairs: Vec<(String, String)>,
    headers: &HeaderMap,
    instance: Option<Instance>,
    given: Option<Place>,
) -> Result<DataRequest, ApiError> {
    let own = own_parameters(query).ok_or_else(|| {
        ApiError::NotFound(format!("no query {query:?}: use position, radius, area, cube or trajectory"))
    })?;
    let statistics = match pairs.iter().find(|(k, _)| k == "statistic") {
        Some((_, v)) => Some(Statistic::parse_list(v).map_err(|e| ApiError::bad("statistic", e))?),
        None if query == "locations" => Some(vec![Statistic::Mean]),
        None => None,
    };
    let formats = if statistics.is_some() { formats_of("locations") } else { formats_of(query) };
    let mut seen = HashSet::new();
    let mut common: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut rest: Vec<(String, String)> = Vec::new();
    let mut dims: Vec<(String, String)> = Vec::new();
    let mut format = None;
    for (k, v) in pairs {
        if !seen.insert(k.clone()) {
            return Err(ApiError::bad("query", format!("{k} is given more than once")));
        }
        match k.as_str() {
            "parameter-name" => drop(common.insert("parameter-name", v)),
            "datetime" => drop(common.insert("datetime", v)),
            "z" => drop(common.insert("z", v)),
            "crs" => {
                if !CRS84.contains(&v.trim()) {
                    return Err(ApiError::bad("crs", format!("{v:?} is not offered: coordinates are CRS84 (lon lat)")));
                }
            }
            "f" => format = Some(format_named(&v, query, formats)?),
            "statistic" => {}
            key if own.contains(&key) => rest.push((k, v)),
            key if view.dims.contains_key(key) => dims.push((k, v)),
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
    let format = match format {
        Some(f) => f,
        None => headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .and_then(|a| Format::accepted(a, formats))
            .unwrap_or(Format::CoverageJson),
    };
    let take = |key: &str| rest.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let place = match given {
        Some(p) => p,
        None => place(query, &take)?,
    };
    let calendar = view.calendar().unwrap_or(Calendar::Standard);
    let mut selections = Selections {
        parameters: common
            .get("parameter-name")
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .map(|n| n.split(',').map(|p| p.trim().to_string()).collect()),
        datetime: common
            .get("datetime")
            .map(|t| parse_datetime(t, calendar).map_err(|e| ApiError::bad("datetime", e.0)))
            .transpose()?,
        z: common.get("z").map(|t| parse_numbers(t).map_err(|e| ApiError::bad("z", e.0))).transpose()?,
        dims: BTreeMap::new(),
    };
    for (name, text) in dims {
        let bad = |e: hub_core::query::SelectionError| ApiError::bad("dimension", format!("{name}: {}", e.0));
        let sel = match view.dims.get(&name).map(|d| &d.values) {
            Some(AxisValues::Time { calendar, .. }) => {
                DimSelection::Times(parse_datetime(&text, *calendar).map_err(bad)?)
            }
            _ => DimSelection::Numbers(parse_numbers(&text).map_err(bad)?),
        };
        selections.dims.insert(name, sel);
    }
    Ok(DataRequest { query: EdrQuery { place, selections, instance }, format, statistics })
}

fn format_named(text: &str, query: &str, formats: &[Format]) -> Result<Format, ApiError> {
    let names = || formats.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ");
    let f = Format::named(text).ok_or_else(|| {
        ApiError::bad("f", format!("{:?} is not a format of {query}: use {}", text.to_ascii_lowercase(), names()))
    })?;
    if !formats.contains(&f) {
        return Err(ApiError::bad("f", format!("{} is not a format of {query}: use {}", f.name(), names())));
    }
    Ok(f)
}

fn geometry(coords: Option<&str>) -> Result<Geometry, ApiError> {
    let coords = coords.ok_or_else(|| ApiError::bad("coords", "required (WKT, e.g. POINT(24.9 60.2))"))?;
    Geometry::parse(coords).map_err(|e| ApiError::bad("coords", e.0))
}

/// The place of a query from its own parameters.
fn place<'a>(query: &str, take: &impl Fn(&str) -> Option<&'a str>) -> Result<Place, ApiError> {
    Ok(match query {
        "position" => {
            let points = geometry(take("coords"))?
                .points()
                .ok_or_else(|| ApiError::bad("coords", "position takes POINT or MULTIPOINT"))?;
            let method = match take("method").unwrap_or("nearest") {
                "nearest" => Interpolation::Nearest,
                "linear" => Interpolation::Linear,
                other => return Err(ApiError::bad("method", format!("{other:?}: use nearest or linear"))),
            };
            Place::Position { points, method }
        }
        "radius" => {
            let Geometry::Point(center) = geometry(take("coords"))? else {
                return Err(ApiError::bad("coords", "radius takes one POINT"));
            };
            let within: f64 = take("within")
                .ok_or_else(|| ApiError::bad("within", "required: the radius, e.g. within=25&within-units=km"))?
                .trim()
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite() && *w > 0.0)
                .ok_or_else(|| ApiError::bad("within", "must be a positive number"))?;
            let km = match take("within-units").unwrap_or("km").to_ascii_lowercase().as_str() {
                "km" => within,
                "m" => within / 1000.0,
                "mi" => within * 1.609_344,
                "nm" | "nmi" => within * 1.852,
                other => return Err(ApiError::bad("within-units", format!("{other:?}: use km, m, mi or nmi"))),
            };
            if km > 5000.0 {
                return Err(ApiError::bad("within", "at most 5000 km"));
            }
            Place::Radius { center, km }
        }
        "area" => {
            let g = geometry(take("coords"))?;
            let bbox = g.bbox();
            let Geometry::Polygons(polygons) = g else {
                return Err(ApiError::bad("coords", "area takes POLYGON or MULTIPOLYGON"));
            };
            Place::Area { polygons, bbox }
        }
        "locations" => Place::Region { weights: Default::default() },
        "cube" => {
            let text = take("bbox").ok_or_else(|| ApiError::bad("bbox", "required: minlon,minlat,maxlon,maxlat"))?;
            let b: Vec<f64> = text
                .split(',')
                .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
                .collect::<Option<Vec<_>>>()
                .filter(|b| b.len() == 4)
                .ok_or_else(|| {
                    ApiError::bad("bbox", format!("{text:?} is not four numbers minlon,minlat,maxlon,maxlat"))
                })?;
            if b[1] > b[3] || !(-90.0..=90.0).contains(&b[1]) || !(-90.0..=90.0).contains(&b[3]) {
                return Err(ApiError::bad("bbox", "latitudes must be within -90..90 with minlat <= maxlat"));
            }
            if !(-180.0..=360.0).contains(&b[0]) || !(-180.0..=360.0).contains(&b[2]) {
                return Err(ApiError::bad("bbox", "longitudes must be within -180..360"));
            }
            Place::Cube { bbox: [b[0], b[1], b[2], b[3]] }
        }
        _ => {
            let Geometry::LineString(vertices) = geometry(take("coords"))? else {
                return Err(ApiError::bad(
                    "coords",
                    "trajectory takes LINESTRING, LINESTRINGM, LINESTRINGZ or LINESTRINGZM",
                ));
            };
            if vertices.iter().any(|v| v.z.is_some()) {
                return Err(ApiError::bad(
                    "coords",
                    "vertical positions (Z) along a trajectory are not offered: select levels with z",
                ));
            }
            Place::Trajectory { vertices }
        }
    })
}
