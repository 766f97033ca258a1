//! Query geometries as EDR writes them (WKT `POINT`, `MULTIPOINT`,
//! `LINESTRING[M|Z|ZM]`, `POLYGON`, `MULTIPOLYGON`) and the few geometric
//! tests the queries need. Coordinates are longitude, latitude in degrees
//! (CRS84), as EDR's default `crs`.

use std::fmt;

/// A longitude/latitude position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LonLat {
    /// Longitude, degrees east.
    pub lon: f64,
    /// Latitude, degrees north.
    pub lat: f64,
}

/// A vertex of a trajectory: a position and, with `LINESTRINGM`, a time
/// (the M value, seconds since 1970-01-01 as EDR specifies) and, with `Z`, a level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vertex {
    /// Where.
    pub at: LonLat,
    /// Vertical coordinate (`Z`).
    pub z: Option<f64>,
    /// Time as seconds since the Unix epoch (`M`).
    pub m: Option<f64>,
}

/// A parsed WKT geometry.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// One position.
    Point(LonLat),
    /// Several positions.
    MultiPoint(Vec<LonLat>),
    /// A path.
    LineString(Vec<Vertex>),
    /// Polygons, each an outer ring followed by holes.
    Polygons(Vec<Vec<Vec<LonLat>>>),
}

/// Why a WKT text was refused, in words for the `coords` parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WktError(pub String);

impl fmt::Display for LonLat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.lon, self.lat)
    }
}

impl Geometry {
    /// Parses WKT. Longitudes must be within -180..360 and latitudes within -90..90.
    pub fn parse(text: &str) -> Result<Self, WktError> {
        let t = text.trim();
        let open = t.find('(').ok_or_else(|| WktError(format!("expected WKT such as POINT(lon lat), got {t:?}")))?;
        let (kind, body) = t.split_at(open);
        let kind = kind.trim().to_ascii_uppercase();
        let body = body.trim();
        if !body.ends_with(')') {
            return Err(WktError(format!("unbalanced parentheses in {t:?}")));
        }
        let kind = kind.split_whitespace().collect::<Vec<_>>().join(" ");
        let (base, dims) = match kind.as_str() {
            k if k.ends_with(" ZM") => (k.trim_end_matches(" ZM"), "ZM"),
            k if k.ends_with(" Z") => (k.trim_end_matches(" Z"), "Z"),
            k if k.ends_with(" M") => (k.trim_end_matches(" M"), "M"),
            "LINESTRINGM" => ("LINESTRING", "M"),
            "LINESTRINGZ" => ("LINESTRING", "Z"),
            "LINESTRINGZM" => ("LINESTRING", "ZM"),
            k => (k, ""),
        };
        let inner = &body[1..body.len() - 1];
        match base {
            "POINT" if dims.is_empty() => Ok(Self::Point(lonlat(inner)?)),
            "MULTIPOINT" if dims.is_empty() => {
                let pts = inner
                    .split(',')
                    .map(|p| lonlat(p.trim().trim_start_matches('(').trim_end_matches(')')))
                    .collect::<Result<Vec<_>, _>>()?;
                if pts.is_empty() {
                    return Err(WktError("MULTIPOINT needs at least one position".into()));
                }
                Ok(Self::MultiPoint(pts))
            }
            "LINESTRING" => {
                let vertices = inner.split(',').map(|v| vertex(v, dims)).collect::<Result<Vec<_>, _>>()?;
                if vertices.len() < 2 {
                    return Err(WktError("LINESTRING needs at least two positions".into()));
                }
                Ok(Self::LineString(vertices))
            }
            "POLYGON" if dims.is_empty() => Ok(Self::Polygons(vec![polygon(inner)?])),
            "MULTIPOLYGON" if dims.is_empty() => {
                let polys =
                    split_top(inner)?.into_iter().map(|p| polygon(strip_parens(p)?)).collect::<Result<Vec<_>, _>>()?;
                Ok(Self::Polygons(polys))
            }
            _ => Err(WktError(format!(
                "unsupported geometry {kind:?}: use POINT, MULTIPOINT, LINESTRING[M|Z|ZM], POLYGON or MULTIPOLYGON"
            ))),
        }
    }

    /// The positions of a point geometry.
    pub fn points(&self) -> Option<Vec<LonLat>> {
        match self {
            Self::Point(p) => Some(vec![*p]),
            Self::MultiPoint(ps) => Some(ps.clone()),
            _ => None,
        }
    }

    /// The bounding box (min lon, min lat, max lon, max lat).
    pub fn bbox(&self) -> [f64; 4] {
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        let mut add = |p: &LonLat| {
            b[0] = b[0].min(p.lon);
            b[1] = b[1].min(p.lat);
            b[2] = b[2].max(p.lon);
            b[3] = b[3].max(p.lat);
        };
        match self {
            Self::Point(p) => add(p),
            Self::MultiPoint(ps) => ps.iter().for_each(add),
            Self::LineString(vs) => vs.iter().for_each(|v| add(&v.at)),
            Self::Polygons(ps) => ps.iter().flatten().flatten().for_each(add),
        }
        b
    }
}

/// Whether `p` lies inside polygons given as rings (even-odd rule: holes
/// excluded). Points exactly on an edge count as inside on two of the four sides.
pub fn polygons_contain(polygons: &[Vec<Vec<LonLat>>], p: LonLat) -> bool {
    polygons.iter().any(|rings| {
        let mut inside = false;
        for ring in rings {
            let n = ring.len();
            let mut j = n.wrapping_sub(1);
            for i in 0..n {
                let (a, b) = (ring[i], ring[j]);
                if (a.lat > p.lat) != (b.lat > p.lat)
                    && p.lon < (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon
                {
                    inside = !inside;
                }
                j = i;
            }
        }
        inside
    })
}

/// Great-circle distance in kilometres (mean Earth radius 6371.0088 km).
pub fn haversine_km(a: LonLat, b: LonLat) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().min(1.0).asin()
}

fn numbers(text: &str) -> Result<Vec<f64>, WktError> {
    text.split_whitespace()
        .map(|n| n.parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| WktError(format!("not a list of numbers: {:?}", text.trim())))
}

fn check(p: LonLat) -> Result<LonLat, WktError> {
    if !(-180.0..=360.0).contains(&p.lon) || !(-90.0..=90.0).contains(&p.lat) {
        return Err(WktError(format!(
            "position ({p}) is not longitude latitude in degrees (lon -180..360, lat -90..90)"
        )));
    }
    Ok(p)
}

fn lonlat(text: &str) -> Result<LonLat, WktError> {
    match numbers(text)?.as_slice() {
        [lon, lat] => check(LonLat { lon: *lon, lat: *lat }),
        other => Err(WktError(format!("a position is two numbers (lon lat), got {}", other.len()))),
    }
}

fn vertex(text: &str, dims: &str) -> Result<Vertex, WktError> {
    let n = numbers(text)?;
    let want = 2 + dims.len();
    if n.len() != want {
        return Err(WktError(format!(
            "a {} vertex has {want} numbers, got {}",
            if dims.is_empty() { "2D" } else { dims },
            n.len()
        )));
    }
    let at = check(LonLat { lon: n[0], lat: n[1] })?;
    let (z, m) = match dims {
        "Z" => (Some(n[2]), None),
        "M" => (None, Some(n[2])),
        "ZM" => (Some(n[2]), Some(n[3])),
        _ => (None, None),
    };
    Ok(Vertex { at, z, m })
}

fn strip_parens(s: &str) -> Result<&str, WktError> {
    let s = s.trim();
    s.strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| WktError(format!("expected a parenthesised list, got {s:?}")))
}

/// Splits a list at the commas that are not inside parentheses.
fn split_top(s: &str) -> Result<Vec<&str>, WktError> {
    let mut depth = 0i32;
    let mut start = 0;
    let mut out = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(WktError("unbalanced parentheses".into()));
        }
    }
    if depth != 0 {
        return Err(WktError("unbalanced parentheses".into()));
    }
    out.push(&s[start..]);
    Ok(out)
}

fn polygon(inner: &str) -> Result<Vec<Vec<LonLat>>, WktError> {
    let rings = split_top(inner)?
        .into_iter()
        .map(|r| strip_parens(r)?.split(',').map(lonlat).collect::<Result<Vec<_>, _>>())
        .collect::<Result<Vec<_>, _>>()?;
    for ring in &rings {
        if ring.len() < 4 || ring.first() != ring.last() {
            return Err(WktError(
                "a polygon ring needs at least four positions and must be closed (first = last)".into(),
            ));
        }
    }
    if rings.is_empty() {
        return Err(WktError("a polygon needs a ring".into()));
    }
    Ok(rings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_geometries_edr_uses() {
        assert_eq!(Geometry::parse("POINT(10.5 -3)").ok(), Some(Geometry::Point(LonLat { lon: 10.5, lat: -3.0 })));
        assert_eq!(Geometry::parse(" point ( 1 2 ) ").ok().and_then(|g| g.points()).map(|p| p.len()), Some(1));
        let mp = Geometry::parse("MULTIPOINT((1 2),(3 4))").ok().and_then(|g| g.points());
        assert_eq!(mp.map(|p| p[1].lat), Some(4.0));
        assert_eq!(Geometry::parse("MULTIPOINT(1 2, 3 4)").ok().and_then(|g| g.points()).map(|p| p.len()), Some(2));
        match Geometry::parse("LINESTRINGM(0 0 0, 1 1 86400)") {
            Ok(Geometry::LineString(v)) => assert_eq!(v[1].m, Some(86400.0)),
            other => panic!("{other:?}"),
        }
        match Geometry::parse("POLYGON((0 0, 10 0, 10 10, 0 10, 0 0),(2 2, 3 2, 3 3, 2 2))") {
            Ok(Geometry::Polygons(p)) => assert_eq!(p[0].len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Geometry::parse("MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)),((5 5, 6 5, 6 6, 5 5)))"),
            Ok(Geometry::Polygons(p)) if p.len() == 2
        ));
    }

    #[test]
    fn refuses_bad_wkt_with_a_reason() {
        for bad in [
            "POINT(1)",
            "POINT(a b)",
            "POINT(1 95)",
            "CIRCLE(1 2)",
            "POINT 1 2",
            "POLYGON((0 0, 1 0, 1 1))",
            "LINESTRING(1 2)",
            "POINT(1 2",
        ] {
            let e = Geometry::parse(bad).err().map(|e| e.0).unwrap_or_default();
            assert!(!e.is_empty(), "{bad} accepted");
        }
    }

    #[test]
    fn polygon_membership_and_distance() {
        let Ok(Geometry::Polygons(p)) =
            Geometry::parse("POLYGON((0 0, 10 0, 10 10, 0 10, 0 0),(4 4, 6 4, 6 6, 4 6, 4 4))")
        else {
            panic!("parse")
        };
        assert!(polygons_contain(&p, LonLat { lon: 1.0, lat: 1.0 }));
        assert!(!polygons_contain(&p, LonLat { lon: 5.0, lat: 5.0 }), "hole");
        assert!(!polygons_contain(&p, LonLat { lon: 11.0, lat: 5.0 }));
        let d = haversine_km(LonLat { lon: 0.0, lat: 0.0 }, LonLat { lon: 1.0, lat: 0.0 });
        assert!((d - 111.195).abs() < 0.01, "{d}");
    }
}
