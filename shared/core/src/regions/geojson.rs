//! GeoJSON in and out: features for registration and ad hoc queries (a
//! FeatureCollection, one Feature, or a bare geometry), the document a set
//! is stored as, and the FeatureCollection the API answers with.
//!
//! The stored document keeps each region's merged shape with unwrapped
//! longitudes (see [`super::antimeridian`]), its area and extent, so reading
//! a set back does not check or merge again. Answers follow RFC 7946:
//! shapes are cut at the antimeridian into pieces within −180..180.

use geo::algorithm::bool_ops::BooleanOps;
use geo::{Coord, LineString, MultiPolygon, Polygon, Rect, Simplify, Translate};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use super::set::{FeatureInput, Region, RegionSet, RegionSetId};

/// Why a GeoJSON text was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct GeoJsonError(pub String);

fn err(s: impl Into<String>) -> GeoJsonError {
    GeoJsonError(s.into())
}

/// Which properties hold the id and the name.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    /// The id's property; `None`: the feature's own `id`.
    pub id: Option<&'a str>,
    /// The name's property; `None`: `name` (any case) when there is one.
    pub name: Option<&'a str>,
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn property<'a>(props: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a Value> {
    props.and_then(|p| p.get(key).or_else(|| p.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)))
}

/// Features of a GeoJSON document: a FeatureCollection, one Feature, or a
/// bare geometry (then one feature without id or name).
pub fn features(doc: &Value, fields: Fields<'_>) -> Result<Vec<FeatureInput>, GeoJsonError> {
    let kind = doc.get("type").and_then(Value::as_str).unwrap_or("");
    let list: Vec<&Value> = match kind {
        "FeatureCollection" => doc
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| err("a FeatureCollection needs a \"features\" array"))?
            .iter()
            .collect(),
        "Feature" => vec![doc],
        "" => return Err(err("not GeoJSON: the document has no \"type\"")),
        _ => {
            return Ok(vec![FeatureInput {
                number: 1,
                id: None,
                name: None,
                polygons: polygons(doc, "the geometry")?,
            }]);
        }
    };
    list.iter()
        .enumerate()
        .map(|(k, f)| {
            let number = k + 1;
            let props = f.get("properties").and_then(Value::as_object);
            let id = match fields.id {
                Some(field) => property(props, field).and_then(text_of),
                None => f.get("id").and_then(text_of),
            };
            let name = match fields.name {
                Some(field) => property(props, field).and_then(text_of),
                None => property(props, "name").and_then(text_of),
            };
            let geometry = f.get("geometry").filter(|g| !g.is_null());
            let polygons = match geometry {
                Some(g) => polygons(g, &format!("feature {number}"))?,
                None => vec![],
            };
            Ok(FeatureInput { number, id, name, polygons })
        })
        .collect()
}

fn position(v: &Value, what: &str) -> Result<[f64; 2], GeoJsonError> {
    let a =
        v.as_array().filter(|a| a.len() >= 2).ok_or_else(|| err(format!("{what}: a position must be [lon, lat]")))?;
    match (a[0].as_f64(), a[1].as_f64()) {
        (Some(x), Some(y)) => Ok([x, y]),
        _ => Err(err(format!("{what}: a position must hold numbers"))),
    }
}

fn rings(v: &Value, what: &str) -> Result<Vec<Vec<[f64; 2]>>, GeoJsonError> {
    v.as_array()
        .ok_or_else(|| err(format!("{what}: a polygon's coordinates must be a list of rings")))?
        .iter()
        .map(|r| {
            r.as_array()
                .ok_or_else(|| err(format!("{what}: a ring must be a list of positions")))?
                .iter()
                .map(|p| position(p, what))
                .collect()
        })
        .collect()
}

/// The polygons of a geometry (Polygon, MultiPolygon, or a
/// GeometryCollection of them); points and lines have none.
pub fn polygons(g: &Value, what: &str) -> Result<Vec<Vec<Vec<[f64; 2]>>>, GeoJsonError> {
    let kind = g.get("type").and_then(Value::as_str).unwrap_or("");
    let coords = || g.get("coordinates").ok_or_else(|| err(format!("{what}: a {kind} needs \"coordinates\"")));
    match kind {
        "Polygon" => Ok(vec![rings(coords()?, what)?]),
        "MultiPolygon" => coords()?
            .as_array()
            .ok_or_else(|| err(format!("{what}: MultiPolygon coordinates must be a list of polygons")))?
            .iter()
            .map(|p| rings(p, what))
            .collect(),
        "GeometryCollection" => {
            let mut out = Vec::new();
            for m in g.get("geometries").and_then(Value::as_array).into_iter().flatten() {
                out.extend(polygons(m, what)?);
            }
            Ok(out)
        }
        "Point" | "MultiPoint" | "LineString" | "MultiLineString" => Ok(vec![]),
        other => Err(err(format!("{what}: {other:?} is not a GeoJSON geometry type"))),
    }
}

/// Nine decimals of a degree: 0.1 mm, well below the clipper's precision.
fn round(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

/// A shape's GeoJSON MultiPolygon, written as it is serialised: a set of
/// millions of vertices never becomes a tree of JSON values.
struct Geometry<'a>(&'a MultiPolygon<f64>);
struct PolygonCoords<'a>(&'a Polygon<f64>);
struct RingCoords<'a>(&'a LineString<f64>);

impl Serialize for RingCoords<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.0.iter().map(|c| [round(c.x), round(c.y)]))
    }
}

impl Serialize for PolygonCoords<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(std::iter::once(self.0.exterior()).chain(self.0.interiors()).map(RingCoords))
    }
}

impl Serialize for Geometry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("type", "MultiPolygon")?;
        m.serialize_entry("coordinates", &Coordinates(self.0))?;
        m.end()
    }
}

struct Coordinates<'a>(&'a MultiPolygon<f64>);

impl Serialize for Coordinates<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.0.iter().map(PolygonCoords))
    }
}

fn multipolygon_of(v: &Value, what: &str) -> Result<MultiPolygon<f64>, GeoJsonError> {
    let polys = polygons(v, what)?;
    Ok(MultiPolygon::new(
        polys
            .into_iter()
            .map(|rings| {
                let mut it =
                    rings.into_iter().map(|r| LineString(r.into_iter().map(|[x, y]| Coord { x, y }).collect()));
                let outer = it.next().unwrap_or_else(|| LineString(vec![]));
                Polygon::new(outer, it.collect())
            })
            .collect(),
    ))
}

/// The document a set is stored as (serialise it: `serde_json::to_vec`).
pub fn stored(set: &RegionSet) -> impl Serialize + '_ {
    StoredSet(set)
}

struct StoredSet<'a>(&'a RegionSet);
struct StoredFeature<'a>(&'a super::Region);

impl Serialize for StoredFeature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("type", "Feature")?;
        m.serialize_entry("id", &r.id)?;
        m.serialize_entry("bbox", &r.extent)?;
        m.serialize_entry("properties", &json!({ "name": r.name, "area_km2": r.area_km2 }))?;
        m.serialize_entry("geometry", &Geometry(&r.shape))?;
        m.end()
    }
}

impl Serialize for StoredSet<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let set = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("type", "FeatureCollection")?;
        m.serialize_entry(
            "hub_region_set",
            &json!({ "id": set.id, "warnings": set.warnings, "longitudes": "unwrapped" }),
        )?;
        m.serialize_entry("features", &Features(set))?;
        m.end()
    }
}

struct Features<'a>(&'a RegionSet);

impl Serialize for Features<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.regions.iter().map(StoredFeature))
    }
}

/// A set read back from [`stored`].
pub fn from_stored(doc: &Value) -> Result<RegionSet, GeoJsonError> {
    let meta = doc.get("hub_region_set").ok_or_else(|| err("not a stored region set"))?;
    let id: RegionSetId = meta
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| err("a stored region set needs its id"))?
        .parse()
        .map_err(|e: crate::model::InvalidId| err(e.to_string()))?;
    let warnings = meta
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| w.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let regions = doc
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| err("a stored region set needs features"))?
        .iter()
        .map(|f| {
            let id = f.get("id").and_then(text_of).ok_or_else(|| err("a stored region needs its id"))?;
            let props = f.get("properties");
            let geometry = f.get("geometry").ok_or_else(|| err(format!("region {id:?} has no geometry")))?;
            let extent = f
                .get("bbox")
                .and_then(Value::as_array)
                .and_then(|b| {
                    Some([b.first()?.as_f64()?, b.get(1)?.as_f64()?, b.get(2)?.as_f64()?, b.get(3)?.as_f64()?])
                })
                .ok_or_else(|| err(format!("region {id:?} has no bbox")))?;
            Ok(Region {
                name: props.and_then(|p| p.get("name")).and_then(text_of).unwrap_or_else(|| id.clone()),
                area_km2: props.and_then(|p| p.get("area_km2")).and_then(Value::as_f64).unwrap_or(0.0),
                shape: multipolygon_of(geometry, &format!("region {id:?}"))?,
                extent,
                id,
            })
        })
        .collect::<Result<Vec<_>, GeoJsonError>>()?;
    Ok(RegionSet { id, regions, warnings })
}

/// A shape cut at the antimeridian, each piece moved into −180..180.
pub fn within_180(shape: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    let mut out = Vec::new();
    for k in -1..=1 {
        let s = f64::from(k) * 360.0;
        let window = Rect::new(Coord { x: -180.0 + s, y: -90.0 }, Coord { x: 180.0 + s, y: 90.0 }).to_polygon();
        let part = shape.intersection(&MultiPolygon::new(vec![window]));
        out.extend(part.translate(-s, 0.0).0);
    }
    MultiPolygon::new(out)
}

/// A region as an RFC 7946 Feature: id, name, area in km², bbox; shapes
/// simplified by `simplify` degrees (Douglas-Peucker) when asked.
pub fn feature(set: &RegionSetId, r: &Region, simplify: Option<f64>) -> Value {
    let mut shape = within_180(&r.shape);
    if let Some(tol) = simplify.filter(|t| *t > 0.0) {
        shape = shape.simplify(tol);
        shape.0.retain(|p| p.exterior().0.len() >= 4);
    }
    json!({
        "type": "Feature",
        "id": format!("{set}:{}", r.id),
        "bbox": r.bbox(),
        "properties": { "set": set, "region": r.id, "name": r.name, "area_km2": r.area_km2 },
        "geometry": serde_json::to_value(Geometry(&shape)).unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Value {
        json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]})
    }

    #[test]
    fn collections_features_and_bare_geometries() {
        let fc = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": 7, "properties": {"NAME": "Seven", "code": "S"}, "geometry": square()},
            {"type": "Feature", "properties": {"code": "P"}, "geometry": {"type": "Point", "coordinates": [0, 0]}}
        ]});
        let f = features(&fc, Fields::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((f[0].id.as_deref(), f[0].name.as_deref()), (Some("7"), Some("Seven")));
        assert!(f[1].polygons.is_empty(), "a point has no polygons: the set refuses it by name");
        let by_code = features(&fc, Fields { id: Some("code"), name: None }).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(by_code[1].id.as_deref(), Some("P"));
        let one = features(&json!({"type": "Feature", "properties": {}, "geometry": square()}), Fields::default());
        assert_eq!(one.map(|f| f.len()), Ok(1));
        let bare = features(&square(), Fields::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((bare.len(), bare[0].polygons[0][0].len()), (1, 5));
        assert!(features(&json!({"type": "Polygon", "coordinates": [[[0, 0], "x"]]}), Fields::default()).is_err());
        assert!(features(&json!({"a": 1}), Fields::default()).is_err());
    }

    #[test]
    fn stored_sets_read_back_and_answers_are_cut_at_the_antimeridian() {
        let ring = vec![[179.0, 0.0], [-179.0, 0.0], [-179.0, 1.0], [179.0, 1.0], [179.0, 0.0]];
        let input =
            FeatureInput { number: 1, id: Some("fj".into()), name: Some("Fiji".into()), polygons: vec![vec![ring]] };
        let set = RegionSet::build(RegionSetId::new("islands").unwrap_or_else(|e| panic!("{e}")), vec![input], None)
            .unwrap_or_else(|e| panic!("{e}"));
        let doc = serde_json::to_value(stored(&set)).unwrap_or_else(|e| panic!("{e}"));
        let back = from_stored(&doc).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.regions[0].shape, set.regions[0].shape);
        assert_eq!(back.regions[0].extent, set.regions[0].extent);
        let f = feature(&set.id, &set.regions[0], None);
        let parts = f["geometry"]["coordinates"].as_array().map_or(0, Vec::len);
        assert_eq!(parts, 2, "one piece each side of 180°");
        assert!(f["geometry"].to_string().find("181").is_none());
        assert_eq!(f["bbox"], json!([179.0, 0.0, -179.0, 1.0]));
    }
}
