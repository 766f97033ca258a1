//! The weight of every grid cell in a region: the area on the sphere of the
//! part of the cell inside the region, and the fraction of the cell that is.
//!
//! On rectangular grids (lon/lat, projected, rotated pole) the region is cut
//! down a quadtree over the grid's rows and columns: the region is clipped
//! (`geo`'s boolean operations) to the box of a block of cells; an empty
//! piece ends the branch, a piece that fills its box gives every cell of the
//! block its whole area, a single cell gets the area of its piece, and other
//! blocks are halved along their longer side. Each clip works on a piece
//! already cut to the block, so the cost follows the region's boundary, not
//! the number of cells, and coordinates stay well inside the clipper's
//! precision. Curvilinear cells are met one by one with the region clipped
//! to blocks of 16 × 16 cells first.
//!
//! Longitudes: a region's shape keeps unwrapped longitudes
//! ([`super::antimeridian`]); it is tried at every shift by 360° that
//! overlaps the grid, so a region across the antimeridian meets a 0..360
//! grid and a −180..180 grid alike.

use geo::algorithm::bool_ops::BooleanOps;
use geo::{Area, BoundingRect, Coord, Intersects, MultiPolygon, Rect, Translate};
use rayon::prelude::*;

use super::cells::{Boxes, CellGrid, CellKind, lonlat_area_m2, plane_area_m2, quad_polygon, to_plane};
use super::set::Region;

/// One cell's share of a region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellWeight {
    /// Row.
    pub j: usize,
    /// Column.
    pub i: usize,
    /// Area of the part of the cell inside the region, m².
    pub area_m2: f64,
    /// That area over the cell's area, in (0, 1].
    pub fraction: f64,
}

/// The cells a region covers, in row-major order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegionWeights {
    /// Cells with a weight above 0.
    pub cells: Vec<CellWeight>,
}

impl RegionWeights {
    /// Σ area, m².
    pub fn total_area_m2(&self) -> f64 {
        self.cells.iter().map(|c| c.area_m2).sum()
    }

    fn from_pieces(grid: &CellGrid, mut pieces: Vec<(usize, usize, f64)>) -> Self {
        pieces.sort_by_key(|p| (p.0, p.1));
        let mut cells: Vec<CellWeight> = Vec::with_capacity(pieces.len());
        for (j, i, area) in pieces {
            match cells.last_mut() {
                Some(last) if last.j == j && last.i == i => last.area_m2 += area,
                _ => cells.push(CellWeight { j, i, area_m2: area, fraction: 0.0 }),
            }
        }
        for c in &mut cells {
            // Cells inside a filled block come with an infinite area: they
            // take their whole area below.
            let whole = grid.cell_area_m2(c.j, c.i);
            if whole > 0.0 {
                // Clipping rounds coordinates at about 1e-9 of the block it
                // works in: a cell that is inside up to that is inside.
                let f = c.area_m2 / whole;
                if f > 1.0 - 1e-9 {
                    c.fraction = 1.0;
                    c.area_m2 = whole;
                } else {
                    c.fraction = f;
                }
            }
        }
        cells.retain(|c| c.area_m2 > 0.0 && c.fraction > 0.0);
        Self { cells }
    }
}

/// The weights of each region on a grid, regions in parallel.
pub fn region_weights(grid: &CellGrid, regions: &[Region]) -> Vec<RegionWeights> {
    regions.par_iter().map(|r| weights(grid, &r.shape)).collect()
}

/// The weights of one shape (lon/lat, longitudes possibly unwrapped).
pub fn weights(grid: &CellGrid, shape: &MultiPolygon<f64>) -> RegionWeights {
    let mut pieces = Vec::new();
    match &grid.kind {
        CellKind::LonLat(boxes) => {
            let Some(extent) = grid.plane_extent() else { return RegionWeights::default() };
            for copy in shifted_copies(shape, extent) {
                let area = |m: &MultiPolygon<f64>| lonlat_area_m2(m);
                start(boxes, &copy, &area, &mut pieces);
            }
        }
        CellKind::Plane { boxes, projector, step } => {
            let deg = degrees_per_cell(boxes, projector.as_ref(), *step);
            let plane = to_plane(shape, projector.as_ref(), (deg / 4.0).clamp(1e-4, 0.25));
            let area = |m: &MultiPolygon<f64>| plane_area_m2(m, projector.as_ref(), *step);
            start(boxes, &plane, &area, &mut pieces);
        }
        CellKind::Quads { corners } => quads(grid.ny, grid.nx, corners, shape, &mut pieces),
    }
    RegionWeights::from_pieces(grid, pieces)
}

/// Copies of `shape` shifted by multiples of 360° of longitude that overlap `extent`.
fn shifted_copies(shape: &MultiPolygon<f64>, extent: Rect<f64>) -> Vec<MultiPolygon<f64>> {
    let Some(b) = shape.bounding_rect() else { return vec![] };
    (-2..=2)
        .map(|k| f64::from(k) * 360.0)
        .filter(|s| b.min().x + s < extent.max().x && b.max().x + s > extent.min().x)
        .map(|s| shape.translate(s, 0.0))
        .collect()
}

/// Roughly how many degrees one cell of a projected grid spans, at its middle.
fn degrees_per_cell(boxes: &Boxes, projector: &dyn crate::query::Projector, step: f64) -> f64 {
    let (xm, ym) = (boxes.x[boxes.x_order[boxes.x.len() / 2]][0], boxes.y[boxes.y_order[boxes.y.len() / 2]][0]);
    match (projector.inverse(xm, ym), projector.inverse(xm + step, ym)) {
        (Some(a), Some(b)) => crate::query::geometry::haversine_km(a, b) / 111.2,
        _ => 0.1,
    }
}

/// The quadtree's root: the rows and columns the shape's bounding box
/// meets, so that the first clip (where the clipper's integer grid is
/// coarsest, about 1e-9 of the box) works at the size of the region, not
/// of the grid.
fn start(
    boxes: &Boxes,
    shape: &MultiPolygon<f64>,
    area: &dyn Fn(&MultiPolygon<f64>) -> f64,
    out: &mut Vec<(usize, usize, f64)>,
) {
    let Some(b) = shape.bounding_rect() else { return };
    let meets = |bounds: &[[f64; 2]], order: &[usize], lo: f64, hi: f64| {
        let hits: Vec<usize> =
            (0..order.len()).filter(|&p| bounds[order[p]][1] > lo && bounds[order[p]][0] < hi).collect();
        Some((*hits.first()?, *hits.last()? + 1))
    };
    let (Some(rows), Some(cols)) =
        (meets(&boxes.y, &boxes.y_order, b.min().y, b.max().y), meets(&boxes.x, &boxes.x_order, b.min().x, b.max().x))
    else {
        return;
    };
    descend(boxes, shape, boxes.span(rows, cols), rows, cols, area, out);
}

fn rect_polygon(r: Rect<f64>) -> MultiPolygon<f64> {
    MultiPolygon::new(vec![r.to_polygon()])
}

/// One step of the quadtree: `piece` lies within the span of `rows` × `cols`
/// (positions in the boxes' sorted orders).
fn descend(
    boxes: &Boxes,
    piece: &MultiPolygon<f64>,
    span: Rect<f64>,
    rows: (usize, usize),
    cols: (usize, usize),
    area: &dyn Fn(&MultiPolygon<f64>) -> f64,
    out: &mut Vec<(usize, usize, f64)>,
) {
    let clipped = piece.intersection(&rect_polygon(span));
    let planar = clipped.unsigned_area();
    if clipped.0.is_empty() || planar <= 0.0 {
        return;
    }
    let (nr, nc) = (rows.1 - rows.0, cols.1 - cols.0);
    if planar >= span.width() * span.height() * (1.0 - 1e-12) {
        // The piece fills the block: every cell is inside (areas are filled
        // in with whole cells' areas).
        for &j in &boxes.y_order[rows.0..rows.1] {
            for &i in &boxes.x_order[cols.0..cols.1] {
                out.push((j, i, f64::INFINITY));
            }
        }
        return;
    }
    if nr == 1 && nc == 1 {
        out.push((boxes.y_order[rows.0], boxes.x_order[cols.0], area(&clipped)));
        return;
    }
    let halves = if nc >= nr {
        let m = cols.0 + nc / 2;
        [(rows, (cols.0, m)), (rows, (m, cols.1))]
    } else {
        let m = rows.0 + nr / 2;
        [((rows.0, m), cols), ((m, rows.1), cols)]
    };
    for (r, c) in halves {
        let sub = boxes.span(r, c);
        if sub.width() > 0.0 && sub.height() > 0.0 {
            descend(boxes, &clipped, sub, r, c, area, out);
        }
    }
}

const BLOCK: usize = 16;

/// Curvilinear cells: blocks of cells, the region clipped to each block's
/// box, then to each cell's quadrilateral.
fn quads(
    ny: usize,
    nx: usize,
    corners: &[Option<[Coord<f64>; 4]>],
    shape: &MultiPolygon<f64>,
    out: &mut Vec<(usize, usize, f64)>,
) {
    let Some(sb) = shape.bounding_rect() else { return };
    for j0 in (0..ny).step_by(BLOCK) {
        for i0 in (0..nx).step_by(BLOCK) {
            let cells: Vec<(usize, usize, [Coord<f64>; 4])> = (j0..(j0 + BLOCK).min(ny))
                .flat_map(|j| (i0..(i0 + BLOCK).min(nx)).map(move |i| (j, i)))
                .filter_map(|(j, i)| corners.get(j * nx + i).copied().flatten().map(|c| (j, i, c)))
                .collect();
            for shift in (-2..=2).map(|k| f64::from(k) * 360.0) {
                let moved: Vec<(usize, usize, geo::Polygon<f64>)> = cells
                    .iter()
                    .map(|(j, i, c)| (*j, *i, quad_polygon(*c).translate(-shift, 0.0)))
                    .filter(|(_, _, q)| q.bounding_rect().is_some_and(|r| r.intersects(&sb)))
                    .collect();
                if moved.is_empty() {
                    continue;
                }
                let mut block: Option<Rect<f64>> = None;
                for (_, _, q) in &moved {
                    if let Some(r) = q.bounding_rect() {
                        block = Some(block.map_or(r, |b| {
                            Rect::new(
                                Coord { x: b.min().x.min(r.min().x), y: b.min().y.min(r.min().y) },
                                Coord { x: b.max().x.max(r.max().x), y: b.max().y.max(r.max().y) },
                            )
                        }));
                    }
                }
                let Some(block) = block else { continue };
                let piece = shape.intersection(&rect_polygon(block));
                if piece.0.is_empty() {
                    continue;
                }
                for (j, i, q) in moved {
                    let part = piece.intersection(&MultiPolygon::new(vec![q]));
                    let a = lonlat_area_m2(&part);
                    if a > 0.0 {
                        out.push((j, i, a));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::query::{Axis1d, HorizontalGrid, RotatedPole};
    use crate::regions::sphere::{box_area_m2, multipolygon_area_m2};
    use crate::regions::{CellBounds, FeatureInput, RegionSet, RegionSetId};

    fn axis(start: f64, step: f64, n: usize) -> Axis1d {
        Axis1d::new((0..n).map(|k| start + step * k as f64).collect()).unwrap_or_else(|| panic!("axis"))
    }

    fn region(polygons: Vec<Vec<Vec<[f64; 2]>>>) -> Region {
        let f = FeatureInput { number: 1, id: Some("r".into()), name: None, polygons };
        let set = RegionSet::build(RegionSetId::new("t").unwrap_or_else(|e| panic!("{e}")), vec![f], None);
        set.unwrap_or_else(|e| panic!("{e}")).regions.remove(0)
    }

    fn square(lon: f64, lat: f64, dlon: f64, dlat: f64) -> Vec<[f64; 2]> {
        vec![[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat], [lon, lat]]
    }

    fn one_degree() -> CellGrid {
        // Centres at .5: cell (j, i) spans [i, i+1] × [j-10, j-9].
        let g = HorizontalGrid::lon_lat(axis(0.5, 1.0, 40), axis(-9.5, 1.0, 40));
        CellGrid::new(&g, &CellBounds::Midpoints).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_polygon_equal_to_a_cell_is_that_cell() {
        let g = one_degree();
        let w = weights(&g, &region(vec![vec![square(3.0, 5.0, 1.0, 1.0)]]).shape);
        assert_eq!(w.cells.len(), 1);
        let c = w.cells[0];
        assert_eq!((c.j, c.i, c.fraction), (15, 3, 1.0));
        assert_eq!(c.area_m2, box_area_m2(3.0, 4.0, 5.0, 6.0));
    }

    #[test]
    fn vertices_on_cell_corners_and_a_hole_of_whole_cells() {
        let g = one_degree();
        let w = weights(&g, &region(vec![vec![square(1.0, 1.0, 2.0, 2.0)]]).shape);
        assert_eq!(w.cells.iter().map(|c| (c.j, c.i)).collect::<Vec<_>>(), vec![(11, 1), (11, 2), (12, 1), (12, 2)]);
        assert!(w.cells.iter().all(|c| c.fraction == 1.0));
        let holed = region(vec![vec![square(0.0, 0.0, 6.0, 6.0), square(2.0, 2.0, 2.0, 2.0)]]);
        let w = weights(&g, &holed.shape);
        assert_eq!(w.cells.len(), 36 - 4);
        assert!(!w.cells.iter().any(|c| (12..14).contains(&c.j) && (2..4).contains(&c.i)));
        let total = w.total_area_m2();
        assert!((total - holed.area_km2 * 1e6).abs() < 1e-9 * total, "{total}");
    }

    #[test]
    fn partial_cells_and_slivers_add_up_to_the_region() {
        let g = one_degree();
        let quarter = weights(&g, &region(vec![vec![square(1.5, 1.5, 1.0, 1.0)]]).shape);
        assert_eq!(quarter.cells.len(), 4);
        for c in &quarter.cells {
            // Exactly the spherical area of the quarter it holds.
            let (lon0, lat0) = (c.i as f64, c.j as f64 - 10.0);
            let (lo, hi) = if lon0 < 1.5 { (1.5, 2.0) } else { (2.0, 2.5) };
            let (s, n) = if lat0 < 1.5 { (1.5, 2.0) } else { (2.0, 2.5) };
            let want = box_area_m2(lo, hi, s, n);
            assert!((c.area_m2 - want).abs() < 1e-7 * want, "{c:?} {want}");
        }
        // The clipper rounds positions to about 2e-9 of the region's extent
        // (5e-8° over 30°): a sliver 0.003° high keeps its area to 1e-4.
        let sliver = region(vec![vec![vec![[0.2, 0.2], [30.7, 0.201], [0.2, 0.203], [0.2, 0.2]]]]);
        let w = weights(&g, &sliver.shape);
        assert!(w.cells.len() >= 31, "{}", w.cells.len());
        let want = multipolygon_area_m2(&sliver.shape);
        assert!((w.total_area_m2() - want).abs() < 1e-4 * want, "{} {want}", w.total_area_m2());
        // Smaller than one cell: that cell's fraction.
        let tiny = weights(&g, &region(vec![vec![square(7.2, 3.2, 0.01, 0.01)]]).shape);
        assert_eq!(tiny.cells.len(), 1);
        assert!(
            (tiny.cells[0].fraction - box_area_m2(7.2, 7.21, 3.2, 3.21) / box_area_m2(7.0, 8.0, 3.0, 4.0)).abs() < 1e-9
        );
    }

    #[test]
    fn across_the_antimeridian_on_both_longitude_conventions() {
        let island = region(vec![vec![vec![
            [179.25, -17.0],
            [-179.5, -17.0],
            [-179.5, -16.0],
            [179.25, -16.0],
            [179.25, -17.0],
        ]]]);
        let global = |start: f64| {
            let g = HorizontalGrid::lon_lat(axis(start + 0.25, 0.5, 720), axis(-89.75, 0.5, 360));
            CellGrid::new(&g, &CellBounds::Midpoints).unwrap_or_else(|e| panic!("{e}"))
        };
        let (east, west) = (weights(&global(0.0), &island.shape), weights(&global(-180.0), &island.shape));
        let want = island.area_km2 * 1e6;
        for w in [&east, &west] {
            assert_eq!(w.cells.len(), 2 * 3, "1.25° × 1° in 0.5° cells: 2 rows of 3");
            assert!((w.total_area_m2() - want).abs() < 1e-9 * want);
        }
        let lons = |w: &RegionWeights, start: f64| {
            let mut v: Vec<i64> =
                w.cells.iter().map(|c| ((start + 0.5 * c.i as f64 + 360.0) % 360.0 * 4.0) as i64).collect();
            v.sort_unstable();
            v
        };
        assert_eq!(lons(&east, 0.0), lons(&west, -180.0));
    }

    #[test]
    fn rotated_pole_and_curvilinear_cells_weigh_the_same_area() {
        let basin = region(vec![vec![square(10.3, 50.2, 1.1, 0.7)]]);
        let want = basin.area_km2 * 1e6;
        let pole = RotatedPole { pole_lat: 39.25, pole_lon: -162.0, north_pole_grid_lon: 0.0 };
        let rotated = HorizontalGrid::Projected {
            x: axis(-10.0, 0.11, 200),
            y: axis(-10.0, 0.11, 200),
            projector: Arc::new(pole),
        };
        let w =
            weights(&CellGrid::new(&rotated, &CellBounds::Midpoints).unwrap_or_else(|e| panic!("{e}")), &basin.shape);
        assert!((w.total_area_m2() - want).abs() < 1e-4 * want, "rotated: {} {want}", w.total_area_m2());
        // A curvilinear grid: the same rotated cells given as 2-D lon/lat.
        let (ny, nx) = (200, 200);
        let mut lon = Vec::new();
        let mut lat = Vec::new();
        for j in 0..ny {
            for i in 0..nx {
                let p = crate::query::Projector::inverse(&pole, -10.0 + 0.11 * i as f64, -10.0 + 0.11 * j as f64)
                    .unwrap_or_else(|| panic!("inverse"));
                lon.push(p.lon);
                lat.push(p.lat);
            }
        }
        let curv = crate::query::grid::Curvilinear::new(ny, nx, lon, lat).unwrap_or_else(|| panic!("grid"));
        let g = HorizontalGrid::Curvilinear(Arc::new(curv));
        let w = weights(&CellGrid::new(&g, &CellBounds::Midpoints).unwrap_or_else(|e| panic!("{e}")), &basin.shape);
        assert!((w.total_area_m2() - want).abs() < 1e-3 * want, "curvilinear: {} {want}", w.total_area_m2());
    }
}
