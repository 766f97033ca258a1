//! Areas on the sphere of polygons whose edges are straight in longitude and
//! latitude (GeoJSON's convention, and the edges of lon/lat grid cells).
//!
//! By Green's theorem the area of a region of the sphere is
//! `A = ∬ R² cos φ dφ dλ = −R² ∮ sin φ dλ` along its boundary, counter-
//! clockwise in the (λ, φ) plane. On an edge from (λ₁, φ₁) to (λ₂, φ₂) with
//! φ linear in λ the integral is exact in closed form:
//! `∫ sin φ dλ = Δλ · (cos φ₁ − cos φ₂) / Δφ = Δλ · sin φₘ · sinc(Δφ/2)`
//! (φₘ the mid-latitude), written in the second form so that nearly
//! parallel edges do not cancel. Meridian edges (Δλ = 0) contribute nothing,
//! parallels `Δλ · sin φ`: a cell of a lon/lat grid has the textbook area
//! `R² Δλ (sin φₙ − sin φₛ)`. No cos φ at the centre, no sampling.

use geo::{LineString, MultiPolygon, Polygon};

/// The radius used for every area: the authalic sphere of the WGS 84
/// ellipsoid (the sphere of the same surface area), 6,371,007.2 m.
pub const EARTH_RADIUS_M: f64 = 6_371_007.2;

/// `∫ sin φ dλ` along a straight lon/lat edge, in radians.
fn edge_integral(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (l1, p1, l2, p2) = (lon1.to_radians(), lat1.to_radians(), lon2.to_radians(), lat2.to_radians());
    let half = (p2 - p1) / 2.0;
    let sinc = if half.abs() < 1e-6 { 1.0 - half * half / 6.0 } else { half.sin() / half };
    (l2 - l1) * ((p1 + p2) / 2.0).sin() * sinc
}

/// Signed area of a ring on the unit sphere (counter-clockwise in lon/lat positive).
pub fn ring_area_unit(ring: &LineString<f64>) -> f64 {
    let c = &ring.0;
    if c.len() < 3 {
        return 0.0;
    }
    let mut sum = 0.0;
    for k in 0..c.len() {
        let (a, b) = (c[k], c[(k + 1) % c.len()]);
        sum += edge_integral(a.x, a.y, b.x, b.y);
    }
    -sum
}

/// Area of a polygon (outer ring minus holes) in m².
pub fn polygon_area_m2(p: &Polygon<f64>) -> f64 {
    let outer = ring_area_unit(p.exterior()).abs();
    let holes: f64 = p.interiors().iter().map(|r| ring_area_unit(r).abs()).sum();
    ((outer - holes) * EARTH_RADIUS_M * EARTH_RADIUS_M).max(0.0)
}

/// Area of polygons in m².
pub fn multipolygon_area_m2(m: &MultiPolygon<f64>) -> f64 {
    m.0.iter().map(polygon_area_m2).sum()
}

/// Area in m² of the lon/lat box `[lon0, lon1] × [lat0, lat1]` (degrees).
pub fn box_area_m2(lon0: f64, lon1: f64, lat0: f64, lat1: f64) -> f64 {
    let dl = (lon1 - lon0).abs().to_radians();
    let ds = (lat1.to_radians().sin() - lat0.to_radians().sin()).abs();
    EARTH_RADIUS_M * EARTH_RADIUS_M * dl * ds
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Rect, coord};
    use std::f64::consts::PI;

    fn rect(lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Polygon<f64> {
        Rect::new(coord! { x: lon0, y: lat0 }, coord! { x: lon1, y: lat1 }).to_polygon()
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn the_whole_sphere_and_a_polar_cap() {
        let r2 = EARTH_RADIUS_M * EARTH_RADIUS_M;
        let sphere = polygon_area_m2(&rect(-180.0, -90.0, 180.0, 90.0));
        assert!(close(sphere, 4.0 * PI * r2, 1e-14), "{sphere}");
        // A cap north of 60°: 2πR²(1 − sin 60°).
        let cap = polygon_area_m2(&rect(-180.0, 60.0, 180.0, 90.0));
        assert!(close(cap, 2.0 * PI * r2 * (1.0 - 60f64.to_radians().sin()), 1e-14), "{cap}");
    }

    #[test]
    fn one_degree_cells_at_several_latitudes() {
        for lat in [-89.0, -45.5, 0.0, 30.0, 60.0, 89.0] {
            let got = polygon_area_m2(&rect(10.0, lat, 11.0, lat + 1.0));
            let want = box_area_m2(10.0, 11.0, lat, lat + 1.0);
            let textbook = EARTH_RADIUS_M.powi(2)
                * 1f64.to_radians()
                * ((lat + 1.0f64).to_radians().sin() - lat.to_radians().sin());
            // Near the poles sin φₙ − sin φₛ loses a few digits in every form.
            assert!(close(got, want, 1e-11) && close(want, textbook, 1e-11), "{lat}: {got} {want}");
        }
        // At the equator a 1° cell is about 12,364 km².
        assert!((box_area_m2(0.0, 1.0, 0.0, 1.0) / 1e6 - 12_364.0).abs() < 5.0);
    }

    #[test]
    fn a_cell_split_in_two_along_its_diagonal_adds_up() {
        let (lon0, lat0, lon1, lat1) = (5.0, 40.0, 7.0, 42.0);
        let lower =
            Polygon::new(LineString::from(vec![(lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat0)]), vec![]);
        let upper =
            Polygon::new(LineString::from(vec![(lon0, lat0), (lon1, lat1), (lon0, lat1), (lon0, lat0)]), vec![]);
        let (a, b) = (polygon_area_m2(&lower), polygon_area_m2(&upper));
        assert!(close(a + b, box_area_m2(lon0, lon1, lat0, lat1), 1e-13));
        assert!(a > b, "the half touching the equatorward side is larger on the sphere");
    }

    #[test]
    fn holes_are_taken_out_and_orientation_does_not_matter() {
        let outer = rect(0.0, 0.0, 10.0, 10.0);
        let hole = rect(2.0, 2.0, 4.0, 4.0);
        let with_hole = Polygon::new(outer.exterior().clone(), vec![hole.exterior().clone()]);
        let want = box_area_m2(0.0, 10.0, 0.0, 10.0) - box_area_m2(2.0, 4.0, 2.0, 4.0);
        assert!(close(polygon_area_m2(&with_hole), want, 1e-13));
        let mut reversed = outer.exterior().clone();
        reversed.0.reverse();
        assert!(close(polygon_area_m2(&Polygon::new(reversed, vec![])), box_area_m2(0.0, 10.0, 0.0, 10.0), 1e-13));
    }
}
