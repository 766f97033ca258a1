//! CF `rotated_latitude_longitude` grids: the rotation between geographic
//! longitude/latitude and the grid's rotated coordinates, exact on the sphere
//! (a few lines of trigonometry, no projection library), so every part of
//! the hub (queries, writers of fixtures) uses the same transform.

use crate::query::{LonLat, Projector};

/// CF `rotated_latitude_longitude`: grid coordinates are longitude and
/// latitude on a sphere whose north pole sits at (`pole_lon`, `pole_lat`).
#[derive(Debug, Clone, Copy)]
pub struct RotatedPole {
    /// `grid_north_pole_latitude`.
    pub pole_lat: f64,
    /// `grid_north_pole_longitude`.
    pub pole_lon: f64,
    /// `north_pole_grid_longitude`.
    pub north_pole_grid_lon: f64,
}

fn wrap180(x: f64) -> f64 {
    let w = (x + 180.0).rem_euclid(360.0) - 180.0;
    if w == -180.0 && x > 0.0 { 180.0 } else { w }
}

impl Projector for RotatedPole {
    fn forward(&self, p: LonLat) -> Option<(f64, f64)> {
        // Rotate about Z by the pole longitude + 180°, then about Y by 90° − pole latitude.
        let (lon, lat) = ((p.lon - self.pole_lon - 180.0).to_radians(), p.lat.to_radians());
        let (x, y, z) = (lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin());
        let t = (90.0 - self.pole_lat).to_radians();
        let (xr, zr) = (t.cos() * x + t.sin() * z, -t.sin() * x + t.cos() * z);
        let rlat = zr.clamp(-1.0, 1.0).asin().to_degrees();
        let rlon = y.atan2(xr).to_degrees() + self.north_pole_grid_lon;
        Some((wrap180(rlon), rlat))
    }

    fn inverse(&self, rlon: f64, rlat: f64) -> Option<LonLat> {
        let (lon, lat) = ((rlon - self.north_pole_grid_lon).to_radians(), rlat.to_radians());
        let (xr, y, zr) = (lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin());
        let t = (90.0 - self.pole_lat).to_radians();
        let (x, z) = (t.cos() * xr - t.sin() * zr, t.sin() * xr + t.cos() * zr);
        let glat = z.clamp(-1.0, 1.0).asin().to_degrees();
        let glon = y.atan2(x).to_degrees() + self.pole_lon + 180.0;
        Some(LonLat { lon: wrap180(glon), lat: glat })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_pole_round_trips_and_matches_known_points() {
        // EURO-CORDEX: pole at (-162, 39.25); grid origin (0, 0) is near (18.0, 50.75).
        let r = RotatedPole { pole_lat: 39.25, pole_lon: -162.0, north_pole_grid_lon: 0.0 };
        let c = r.inverse(0.0, 0.0).unwrap_or(LonLat { lon: f64::NAN, lat: f64::NAN });
        assert!((c.lon - 18.0).abs() < 1e-9 && (c.lat - 50.75).abs() < 1e-9, "{c:?}");
        for (lon, lat) in [(10.0, 60.0), (-20.0, 35.0), (30.0, 70.0)] {
            let (x, y) = r.forward(LonLat { lon, lat }).unwrap_or((f64::NAN, f64::NAN));
            let back = r.inverse(x, y).unwrap_or(LonLat { lon: f64::NAN, lat: f64::NAN });
            assert!(
                (back.lon - lon).abs() < 1e-9 && (back.lat - lat).abs() < 1e-9,
                "{lon},{lat} -> {x},{y} -> {back:?}"
            );
        }
    }
}
