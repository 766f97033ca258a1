//! Rings that cross the antimeridian or go round a pole.
//!
//! A ring is stored with its longitudes *unwrapped*: every step between
//! consecutive vertices is taken the short way round (|Δλ| ≤ 180°), so a
//! ring from 179° to −179° continues to 181° instead of jumping across the
//! globe and becoming a world-spanning band. Longitudes may then leave
//! −180..180; whoever meets the region with a grid tries the shifts by
//! ±360° that overlap it (see `weights`).
//!
//! A ring whose unwrapped longitudes end a whole turn from where they began
//! goes round a pole (Natural Earth's Antarctica: its outline runs along
//! −90° … 180° then jumps to −180°). It is closed along the pole it encloses
//! — the one on the side of its mean latitude — so that in lon/lat it is
//! the band between the outline and the pole, which is what it is on the sphere.

use geo::{Coord, LineString};

/// The ring with unwrapped longitudes, closed along a pole when it goes round one.
pub fn unwrap_ring(ring: &[[f64; 2]]) -> LineString<f64> {
    let mut out: Vec<Coord<f64>> = Vec::with_capacity(ring.len() + 3);
    let mut offset = 0.0;
    let mut previous: Option<f64> = None;
    for &[lon, lat] in ring {
        if let Some(p) = previous {
            let step = lon + offset - p;
            if step > 180.0 {
                offset -= 360.0 * ((step - 180.0) / 360.0).ceil();
            } else if step < -180.0 {
                offset += 360.0 * ((-step - 180.0) / 360.0).ceil();
            }
        }
        let x = lon + offset;
        out.push(Coord { x, y: lat });
        previous = Some(x);
    }
    let (Some(first), Some(last)) = (out.first().copied(), out.last().copied()) else {
        return LineString(out);
    };
    let turns = ((last.x - first.x) / 360.0).round();
    if turns != 0.0 && (last.x - first.x - turns * 360.0).abs() < 1e-9 {
        let mean = out.iter().map(|c| c.y).sum::<f64>() / out.len() as f64;
        let pole = if mean < 0.0 { -90.0 } else { 90.0 };
        out.push(Coord { x: last.x, y: pole });
        out.push(Coord { x: first.x, y: pole });
        out.push(first);
    }
    LineString(out)
}

/// `[west, south, east, north]` of unwrapped longitudes as GeoJSON writes a
/// bbox: west in −180..180, east < west when the box crosses the antimeridian,
/// −180..180 when it goes all the way round.
pub fn normalized_bbox([w, s, e, n]: [f64; 4]) -> [f64; 4] {
    if e - w >= 360.0 - 1e-9 {
        return [-180.0, s, 180.0, n];
    }
    let wrap = |x: f64| {
        let v = (x + 180.0).rem_euclid(360.0) - 180.0;
        if v == -180.0 && x > w { 180.0 } else { v }
    };
    [wrap(w), s, wrap(e), n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_across_the_antimeridian_stays_small() {
        let r = unwrap_ring(&[[179.0, 0.0], [-179.0, 0.0], [-179.0, 1.0], [179.0, 1.0], [179.0, 0.0]]);
        let xs: Vec<f64> = r.0.iter().map(|c| c.x).collect();
        assert_eq!(xs, vec![179.0, 181.0, 181.0, 179.0, 179.0]);
        assert_eq!(normalized_bbox([179.0, 0.0, 181.0, 1.0]), [179.0, 0.0, -179.0, 1.0]);
    }

    #[test]
    fn a_ring_round_the_south_pole_is_closed_along_it() {
        // Antarctica-like: eastward along -70° from -180 to 180.
        let ring: Vec<[f64; 2]> = (0..=36).map(|k| [-180.0 + 10.0 * f64::from(k), -70.0]).collect();
        let mut ring = ring;
        ring.push([-180.0, -70.0]);
        let r = unwrap_ring(&ring);
        let n = r.0.len();
        assert_eq!((r.0[n - 3].y, r.0[n - 2].y), (-90.0, -90.0));
        assert_eq!(r.0[n - 1], r.0[0]);
        let span = r.0.iter().map(|c| c.x).fold(f64::NEG_INFINITY, f64::max)
            - r.0.iter().map(|c| c.x).fold(f64::INFINITY, f64::min);
        assert!((span - 360.0).abs() < 1e-9, "{span}");
        // The area is the cap south of -70°.
        let area = crate::regions::sphere::ring_area_unit(&r).abs();
        let cap = 2.0 * std::f64::consts::PI * (1.0 - 70f64.to_radians().sin());
        assert!((area - cap).abs() < 1e-12, "{area} {cap}");
    }

    #[test]
    fn ordinary_rings_are_left_alone() {
        let r = unwrap_ring(&[[10.0, 0.0], [20.0, 0.0], [20.0, 5.0], [10.0, 0.0]]);
        assert_eq!(r.0.len(), 4);
        assert_eq!(normalized_bbox([10.0, 0.0, 20.0, 5.0]), [10.0, 0.0, 20.0, 5.0]);
        assert_eq!(normalized_bbox([-180.0, -90.0, 180.0, -60.0]), [-180.0, -90.0, 180.0, -60.0]);
    }
}
