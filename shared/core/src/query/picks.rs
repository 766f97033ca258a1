//! Which cells give a position its value: the nearest cell centre, or the
//! four surrounding centres with bilinear weights; and which time step a
//! timed trajectory vertex falls on.

use super::error::QueryError;
use super::extraction::PointPick;
use super::geometry::LonLat;
use super::grid::{Cell, HorizontalGrid};
use crate::cf::CfTime;

/// The cell whose centre is nearest to `p`.
pub fn nearest_pick(grid: &HorizontalGrid, p: LonLat) -> Result<PointPick, QueryError> {
    let cell = grid.nearest(p).map_err(|e| QueryError::bad("coords", e.0))?;
    let at = grid.center(cell).unwrap_or(p);
    Ok(PointPick { requested: p, at, cells: vec![(cell, 1.0)], time: None })
}

/// Bilinear weights from the four surrounding cells (lon/lat and projected
/// grids, in the grid's own coordinates); a missing neighbour makes the value
/// missing. Weights of exactly zero are left out, so a point on a cell
/// centre reads that cell alone.
pub fn linear_pick(grid: &HorizontalGrid, p: LonLat) -> Result<PointPick, QueryError> {
    let outside = || {
        QueryError::bad(
            "coords",
            format!("POINT({p}) is outside the grid's cell centres: linear interpolation needs four neighbours"),
        )
    };
    let (xa, ya, px, py) = match grid {
        HorizontalGrid::LonLat { lon, lat, .. } => {
            let v = lon.values();
            let (lo, hi) = (v[0].min(v[v.len() - 1]), v[0].max(v[v.len() - 1]));
            let plon = [p.lon, p.lon - 360.0, p.lon + 360.0]
                .into_iter()
                .find(|l| (lo..=hi).contains(l))
                .ok_or_else(outside)?;
            (lon, lat, plon, p.lat)
        }
        HorizontalGrid::Projected { x, y, projector } => {
            let (px, py) = projector.forward(p).ok_or_else(outside)?;
            (x, y, px, py)
        }
        HorizontalGrid::Curvilinear(_) => {
            return Err(QueryError::bad(
                "method",
                "linear interpolation is not offered on curvilinear grids: use nearest",
            ));
        }
    };
    let (i0, i1, wx) = xa.bracket(px).ok_or_else(outside)?;
    let (j0, j1, wy) = ya.bracket(py).ok_or_else(outside)?;
    let cells = vec![
        (Cell { j: j0, i: i0 }, (1.0 - wy) * (1.0 - wx)),
        (Cell { j: j0, i: i1 }, (1.0 - wy) * wx),
        (Cell { j: j1, i: i0 }, wy * (1.0 - wx)),
        (Cell { j: j1, i: i1 }, wy * wx),
    ]
    .into_iter()
    .filter(|(_, w)| *w > 0.0)
    .collect();
    Ok(PointPick { requested: p, at: p, cells, time: None })
}

/// The index of the time step nearest to `at`, if `at` lies within the axis
/// (half the mean step beyond either end at most).
pub fn nearest_time(values: &[CfTime], at: CfTime) -> Option<usize> {
    let k = (0..values.len()).min_by_key(|&k| (values[k].micros() - at.micros()).unsigned_abs())?;
    let step = if values.len() > 1 {
        (values[values.len() - 1].micros() - values[0].micros()).unsigned_abs() / (values.len() as u64 - 1)
    } else {
        0
    };
    ((values[k].micros() - at.micros()).unsigned_abs() <= step / 2).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cf::{Calendar, CfDateTime};
    use crate::query::Axis1d;

    fn grid() -> HorizontalGrid {
        // Centres at lon 0, 10, 20 and lat 40, 50.
        let lon = Axis1d::new(vec![0.0, 10.0, 20.0]).unwrap_or_else(|| panic!("lon"));
        let lat = Axis1d::new(vec![40.0, 50.0]).unwrap_or_else(|| panic!("lat"));
        HorizontalGrid::lon_lat(lon, lat)
    }

    #[test]
    fn nearest_takes_the_closest_centre() {
        let p = nearest_pick(&grid(), LonLat { lon: 13.0, lat: 48.0 }).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.cells, vec![(Cell { j: 1, i: 1 }, 1.0)]);
        assert_eq!(p.at, LonLat { lon: 10.0, lat: 50.0 });
    }

    #[test]
    fn linear_weights_sum_to_one_and_follow_the_distances() {
        let p = linear_pick(&grid(), LonLat { lon: 12.5, lat: 47.5 }).unwrap_or_else(|e| panic!("{e}"));
        let w = |j, i| p.cells.iter().find(|(c, _)| *c == Cell { j, i }).map_or(0.0, |(_, w)| *w);
        assert!((p.cells.iter().map(|(_, w)| w).sum::<f64>() - 1.0).abs() < 1e-12);
        // x: 0.25 of the way from 10 to 20; y: 0.75 of the way from 40 to 50.
        assert!((w(0, 1) - 0.75 * 0.25).abs() < 1e-12);
        assert!((w(0, 2) - 0.25 * 0.25).abs() < 1e-12);
        assert!((w(1, 1) - 0.75 * 0.75).abs() < 1e-12);
        assert!((w(1, 2) - 0.25 * 0.75).abs() < 1e-12);
        // On a centre: that cell alone.
        let on = linear_pick(&grid(), LonLat { lon: 10.0, lat: 50.0 }).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(on.cells, vec![(Cell { j: 1, i: 1 }, 1.0)]);
    }

    #[test]
    fn linear_outside_the_centres_is_a_bad_coords() {
        let e = linear_pick(&grid(), LonLat { lon: 25.0, lat: 45.0 }).err();
        assert!(matches!(e, Some(QueryError::BadParameter { param: "coords", .. })), "{e:?}");
    }

    #[test]
    fn nearest_time_stays_within_half_a_step_of_the_axis() {
        let day = |d| CfTime::new(Calendar::Standard, &CfDateTime::date(2000, 1, d)).unwrap_or_else(|e| panic!("{e}"));
        let axis = [day(1), day(2), day(3)];
        assert_eq!(nearest_time(&axis, day(2)), Some(1));
        let late = day(3).add_micros(11 * 3_600_000_000).unwrap_or_else(|| panic!("time"));
        assert_eq!(nearest_time(&axis, late), Some(2));
        let too_late = day(3).add_micros(13 * 3_600_000_000).unwrap_or_else(|| panic!("time"));
        assert_eq!(nearest_time(&axis, too_late), None);
    }
}
