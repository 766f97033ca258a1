//! Region sets: named collections of polygons (river basins, countries)
//! in longitude/latitude, checked once when they are registered.
//!
//! What is refused, with the feature named: a feature without polygons, an
//! id missing or given twice, a ring that is not closed or has fewer than
//! four positions, a position that is not a finite longitude/latitude.
//! What is repaired, and said in the set's warnings: every polygon is
//! rebuilt with the **even-odd rule** — a point is inside when a ray from it
//! crosses the polygon's rings an odd number of times, the rule GDAL's and
//! shapely's `make_valid` follow for rings — so a ring that crosses itself
//! or rings that overlap become valid polygons; the set warns about each
//! feature whose area this changed. The polygons of one region are then
//! merged (overlaps counted once), so every cell's share is at most its area.

use std::collections::HashMap;
use std::fmt;

use geo::algorithm::bool_ops::{BooleanOps, FillRule, OpType, unary_union};
use geo::orient::{Direction, Orient};
use geo::{Area, BoundingRect, Coord, LineString, MapCoordsInPlace, MultiPolygon, Polygon};
use serde::{Deserialize, Serialize};

use super::antimeridian::{normalized_bbox, unwrap_ring};
use super::sphere::multipolygon_area_m2;
use crate::model::InvalidId;
use crate::model::ids::id_problem;

/// The id of a region set (`basins`, `countries`): the same rule as dataset ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionSetId(String);

impl RegionSetId {
    /// Validates `value` as a region-set id.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        match id_problem(&value) {
            Some(reason) => Err(InvalidId { what: "region set", value, reason }),
            None => Ok(Self(value)),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegionSetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RegionSetId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for RegionSetId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<RegionSetId> for String {
    fn from(id: RegionSetId) -> Self {
        id.0
    }
}

/// A feature as read from a file, before checking: positions are
/// longitude/latitude in degrees (already transformed from the file's CRS).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureInput {
    /// 1-based position in the file.
    pub number: usize,
    /// The id, when the file gives one.
    pub id: Option<String>,
    /// The name, when the file gives one.
    pub name: Option<String>,
    /// Polygons, each an outer ring then holes, each ring closed.
    pub polygons: Vec<Vec<Vec<[f64; 2]>>>,
}

impl FeatureInput {
    fn label(&self) -> String {
        match (&self.id, &self.name) {
            (Some(id), Some(name)) if id != name => format!("feature {} (id {id:?}, {name:?})", self.number),
            (Some(id), _) => format!("feature {} (id {id:?})", self.number),
            (None, Some(name)) => format!("feature {} ({name:?})", self.number),
            (None, None) => format!("feature {}", self.number),
        }
    }
}

/// Why a region set was refused. Every variant names the feature.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegionSetError {
    /// The file holds no feature at all.
    #[error("the file holds no features")]
    Empty,
    /// A feature has no polygon (a point, a line, or an empty geometry).
    #[error("{feature} has no polygons ({what})")]
    NoPolygons {
        /// Which feature.
        feature: String,
        /// What it has instead.
        what: String,
    },
    /// A feature has no id (or an empty one).
    #[error("{feature} has no id{hint}")]
    MissingId {
        /// Which feature.
        feature: String,
        /// Where ids were looked for.
        hint: String,
    },
    /// Two features share an id.
    #[error("features {first} and {second} share the id {id:?}: choose a field whose values are unique")]
    DuplicateId {
        /// The id.
        id: String,
        /// The first feature's number.
        first: usize,
        /// The second's.
        second: usize,
    },
    /// A ring's last position is not its first.
    #[error("{feature}: ring {ring} of polygon {polygon} is not closed (its last position must repeat its first)")]
    RingNotClosed {
        /// Which feature.
        feature: String,
        /// 1-based polygon.
        polygon: usize,
        /// 1-based ring (1 is the outer ring).
        ring: usize,
    },
    /// A ring with fewer than four positions.
    #[error("{feature}: ring {ring} of polygon {polygon} has {count} positions, at least 4 are needed")]
    TooFewPositions {
        /// Which feature.
        feature: String,
        /// 1-based polygon.
        polygon: usize,
        /// 1-based ring.
        ring: usize,
        /// How many it has.
        count: usize,
    },
    /// A position that is not a longitude/latitude.
    #[error("{feature}: position ({lon}, {lat}) is not a longitude/latitude in degrees{hint}")]
    BadPosition {
        /// Which feature.
        feature: String,
        /// Longitude.
        lon: f64,
        /// Latitude.
        lat: f64,
        /// A hint on the CRS.
        hint: &'static str,
    },
    /// An id that cannot be used in a URL.
    #[error("{feature}: id {id:?} {why}")]
    UnusableId {
        /// Which feature.
        feature: String,
        /// The id.
        id: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// One region: a river basin, a country.
#[derive(Debug, Clone)]
pub struct Region {
    /// Unique within its set.
    pub id: String,
    /// For people.
    pub name: String,
    /// The area (polygons merged, holes taken out), longitudes unwrapped.
    pub shape: MultiPolygon<f64>,
    /// Area on the sphere, km².
    pub area_km2: f64,
    /// `[west, south, east, north]` of the unwrapped shape.
    pub extent: [f64; 4],
}

impl Region {
    /// The bbox as GeoJSON writes it (east < west across the antimeridian).
    pub fn bbox(&self) -> [f64; 4] {
        normalized_bbox(self.extent)
    }
}

/// A checked set of regions.
#[derive(Debug, Clone)]
pub struct RegionSet {
    /// Its id.
    pub id: RegionSetId,
    /// Regions in file order.
    pub regions: Vec<Region>,
    /// What was repaired.
    pub warnings: Vec<String>,
}

const LONGEST_REGION_ID: usize = 200;

impl RegionSet {
    /// Checks features and builds the set. Features without an id are
    /// numbered (their 1-based position) unless `ids_required`, when a
    /// missing id is an error (`hint` says where ids were looked for).
    pub fn build(
        id: RegionSetId,
        features: Vec<FeatureInput>,
        ids_required: Option<&str>,
    ) -> Result<Self, RegionSetError> {
        if features.is_empty() {
            return Err(RegionSetError::Empty);
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut regions = Vec::with_capacity(features.len());
        let mut warnings = Vec::new();
        for f in features {
            let label = f.label();
            let rid = match f.id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(rid) => rid.to_string(),
                None => match ids_required {
                    Some(hint) => return Err(RegionSetError::MissingId { feature: label, hint: hint.to_string() }),
                    None => f.number.to_string(),
                },
            };
            if rid.len() > LONGEST_REGION_ID || rid.chars().any(char::is_control) {
                return Err(RegionSetError::UnusableId {
                    feature: label,
                    id: rid,
                    why: "is longer than 200 characters or holds control characters",
                });
            }
            if let Some(first) = seen.insert(rid.clone(), f.number) {
                return Err(RegionSetError::DuplicateId { id: rid, first, second: f.number });
            }
            let (shape, repaired) = shape_of(&f, &label)?;
            if repaired {
                warnings.push(format!("{label}: not a valid polygon (self-intersecting or overlapping rings); repaired with the even-odd rule"));
            }
            let Some(rect) = shape.bounding_rect() else {
                return Err(RegionSetError::NoPolygons { feature: label, what: "only empty rings".into() });
            };
            let area_km2 = multipolygon_area_m2(&shape) / 1e6;
            regions.push(Region {
                name: f.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| rid.clone()),
                id: rid,
                shape,
                area_km2,
                extent: [rect.min().x, rect.min().y, rect.max().x, rect.max().y],
            });
        }
        Ok(Self { id, regions, warnings })
    }

    /// A region by id.
    pub fn region(&self, id: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.id == id)
    }
}

/// The checked, merged shape of a feature, and whether it had to be repaired.
fn shape_of(f: &FeatureInput, label: &str) -> Result<(MultiPolygon<f64>, bool), RegionSetError> {
    if f.polygons.is_empty() {
        return Err(RegionSetError::NoPolygons { feature: label.to_string(), what: "an empty geometry".into() });
    }
    let mut polygons = Vec::with_capacity(f.polygons.len());
    let mut repaired = false;
    for (pi, rings) in f.polygons.iter().enumerate() {
        let mut lines = Vec::with_capacity(rings.len());
        for (ri, ring) in rings.iter().enumerate() {
            let (polygon, ring_no) = (pi + 1, ri + 1);
            if ring.len() < 4 {
                return Err(RegionSetError::TooFewPositions {
                    feature: label.to_string(),
                    polygon,
                    ring: ring_no,
                    count: ring.len(),
                });
            }
            for &[lon, lat] in ring {
                if !(lon.is_finite() && lat.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 540.0) {
                    return Err(RegionSetError::BadPosition {
                        feature: label.to_string(),
                        lon,
                        lat,
                        hint: if lon.abs() > 540.0 || lat.abs() > 90.0 {
                            ": is the file in a projected CRS without saying so? Pass --crs"
                        } else {
                            ""
                        },
                    });
                }
            }
            if ring.first() != ring.last() {
                return Err(RegionSetError::RingNotClosed { feature: label.to_string(), polygon, ring: ring_no });
            }
            lines.push(unwrap_ring(ring));
        }
        let mut lines = lines.into_iter();
        let outer = lines.next().unwrap_or_else(|| LineString(vec![]));
        let polygon = Polygon::new(outer, lines.collect());
        // Every polygon goes through the even-odd rule (linear in its size,
        // where checking validity first is quadratic); a valid polygon comes
        // out as it went in, so a change of area says it was repaired.
        let before = polygon.unsigned_area();
        let fixed = MultiPolygon::new(vec![polygon]).boolean_op_with_fill_rule(
            &MultiPolygon::<f64>::new(vec![]),
            OpType::Union,
            FillRule::EvenOdd,
        );
        let after = fixed.unsigned_area();
        // The clipper rounds positions to ~1e-9 of the extent, which moves
        // the area of a detailed outline by far less than this.
        if (after - before).abs() > 1e-6 * before.max(f64::MIN_POSITIVE) {
            repaired = true;
        }
        polygons.extend(fixed.0.into_iter().map(|p| p.orient(Direction::Default)));
    }
    let mut merged = if polygons.len() == 1 { MultiPolygon::new(polygons) } else { unary_union(&polygons) };
    // Rounding may step a hair past a pole.
    merged.map_coords_in_place(|c| Coord { x: c.x, y: c.y.clamp(-90.0, 90.0) });
    Ok((merged, repaired))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(lon: f64, lat: f64, d: f64) -> Vec<[f64; 2]> {
        vec![[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    }

    fn feature(number: usize, id: Option<&str>, polygons: Vec<Vec<Vec<[f64; 2]>>>) -> FeatureInput {
        FeatureInput { number, id: id.map(str::to_string), name: None, polygons }
    }

    fn set_id() -> RegionSetId {
        RegionSetId::new("basins").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn refusals_name_the_feature() {
        let open = vec![vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]];
        let e = RegionSet::build(set_id(), vec![feature(3, Some("a"), open)], None).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("feature 3 (id \"a\"): ring 1 of polygon 1 is not closed (its last position must repeat its first)")
        );
        let dup = vec![
            feature(1, Some("x"), vec![vec![square(0.0, 0.0, 1.0)]]),
            feature(2, Some("x"), vec![vec![square(2.0, 0.0, 1.0)]]),
        ];
        assert!(matches!(
            RegionSet::build(set_id(), dup, None),
            Err(RegionSetError::DuplicateId { first: 1, second: 2, .. })
        ));
        let missing = vec![feature(1, None, vec![vec![square(0.0, 0.0, 1.0)]])];
        let e =
            RegionSet::build(set_id(), missing.clone(), Some(" in field \"HYBAS_ID\"")).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("feature 1 has no id in field \"HYBAS_ID\""));
        assert_eq!(
            RegionSet::build(set_id(), missing, None).map(|s| s.regions[0].id.clone()).ok().as_deref(),
            Some("1")
        );
        let none = vec![feature(1, Some("p"), vec![])];
        assert!(matches!(RegionSet::build(set_id(), none, None), Err(RegionSetError::NoPolygons { .. })));
        let projected = vec![feature(1, Some("gk"), vec![vec![square(4_500_000.0, 5_600_000.0, 100.0)]])];
        let e = RegionSet::build(set_id(), projected, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("--crs"), "{e}");
        assert!(RegionSet::build(set_id(), vec![], None).is_err());
    }

    #[test]
    fn a_bow_tie_is_repaired_by_the_even_odd_rule() {
        let bow = vec![vec![vec![[0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]]];
        let s = RegionSet::build(set_id(), vec![feature(1, Some("bow"), bow)], None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        let r = &s.regions[0];
        assert_eq!(r.shape.0.len(), 2, "two triangles");
        let want = crate::regions::sphere::box_area_m2(0.0, 2.0, 0.0, 2.0) / 2e6;
        assert!((r.area_km2 - want).abs() < 1e-3 * want, "{} {want}", r.area_km2);
    }

    #[test]
    fn overlapping_parts_count_once_and_holes_are_kept() {
        let parts = vec![vec![square(0.0, 0.0, 2.0)], vec![square(1.0, 0.0, 2.0)]];
        let s = RegionSet::build(set_id(), vec![feature(1, Some("u"), parts)], None).unwrap_or_else(|e| panic!("{e}"));
        let want = crate::regions::sphere::box_area_m2(0.0, 3.0, 0.0, 2.0) / 1e6;
        assert!((s.regions[0].area_km2 - want).abs() < 1e-6 * want);
        let holed = vec![vec![square(0.0, 0.0, 4.0), square(1.0, 1.0, 1.0)]];
        let s = RegionSet::build(set_id(), vec![feature(1, Some("h"), holed)], None).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.warnings.is_empty());
        assert_eq!(s.regions[0].shape.0[0].interiors().len(), 1);
    }

    #[test]
    fn an_island_across_the_antimeridian_keeps_its_size() {
        let fiji = vec![vec![vec![[179.0, -17.0], [-179.0, -17.0], [-179.0, -16.0], [179.0, -16.0], [179.0, -17.0]]]];
        let s = RegionSet::build(set_id(), vec![feature(1, Some("fj"), fiji)], None).unwrap_or_else(|e| panic!("{e}"));
        let r = &s.regions[0];
        let want = crate::regions::sphere::box_area_m2(179.0, 181.0, -17.0, -16.0) / 1e6;
        assert!((r.area_km2 - want).abs() < 1e-6 * want, "{} {want}", r.area_km2);
        assert_eq!(r.bbox(), [179.0, -17.0, -179.0, -16.0]);
    }
}
