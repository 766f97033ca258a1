//! The cells of a horizontal grid as areas, for exact region weights.
//!
//! - **Lon/lat grids**: each cell is the box between its longitude and
//!   latitude bounds (the CF `bounds` variables, or midway between centres
//!   when there are none). Edges are straight in lon/lat, so the area of any
//!   piece of a cell is exact ([`super::sphere`]).
//! - **Projected and rotated-pole grids**: cells are boxes between the x/y
//!   bounds *in the grid's plane*. A region is densified in lon/lat and
//!   projected into the plane, clipped there, and each piece is densified in
//!   the plane and taken back to lon/lat for its area on the sphere.
//! - **Curvilinear grids**: each cell is the quadrilateral of its vertices
//!   (CF `bounds` of the 2-D coordinates, or CMIP `vertices_longitude`/
//!   `vertices_latitude`; midway between neighbouring centres when there are
//!   none), with edges straight in lon/lat. Cells round a pole, whose
//!   vertices span more than 180° of longitude, cannot be drawn in lon/lat
//!   and get no weight.

use std::sync::Arc;

use geo::{Coord, Densify, Euclidean, LineString, MultiPolygon, Polygon, Rect};

use super::antimeridian::unwrap_ring;
use super::sphere::{EARTH_RADIUS_M, box_area_m2, ring_area_unit};
use crate::query::{Axis1d, HorizontalGrid, LonLat, Projector};

/// Where a grid's cell boundaries come from.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum CellBounds {
    /// Midway between neighbouring centres.
    #[default]
    Midpoints,
    /// Bounds of 1-D coordinates: `[lower, upper]` per column (x) and row (y).
    Axes {
        /// Per column.
        x: Vec<[f64; 2]>,
        /// Per row.
        y: Vec<[f64; 2]>,
    },
    /// Four vertices per cell of a curvilinear grid, row-major.
    Vertices {
        /// Longitudes.
        lon: Vec<[f64; 4]>,
        /// Latitudes.
        lat: Vec<[f64; 4]>,
    },
}

/// The cells of a grid, ready to be met with regions.
#[derive(Debug, Clone)]
pub struct CellGrid {
    /// Rows.
    pub ny: usize,
    /// Columns.
    pub nx: usize,
    pub(super) kind: CellKind,
}

#[derive(Debug, Clone)]
pub(super) enum CellKind {
    LonLat(Boxes),
    Plane { boxes: Boxes, projector: Arc<dyn Projector>, step: f64 },
    Quads { corners: Vec<Option<[Coord<f64>; 4]>> },
}

/// Rectangular cells: per column and row `[low, high]`, and the columns and
/// rows in ascending order of their low edge.
#[derive(Debug, Clone)]
pub(super) struct Boxes {
    pub x: Vec<[f64; 2]>,
    pub y: Vec<[f64; 2]>,
    pub x_order: Vec<usize>,
    pub y_order: Vec<usize>,
}

/// Why a grid has no cells to weigh.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct CellsError(pub String);

fn ordered(bounds: &[[f64; 2]]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..bounds.len()).collect();
    order.sort_by(|a, b| bounds[*a][0].total_cmp(&bounds[*b][0]));
    order
}

fn sorted_pairs(pairs: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    pairs.into_iter().map(|[a, b]| if a <= b { [a, b] } else { [b, a] }).collect()
}

/// Edges midway between centres, the outer ones half a step out.
fn midpoint_bounds(axis: &Axis1d) -> Vec<[f64; 2]> {
    let v = axis.values();
    if v.len() < 2 {
        return v.iter().map(|c| [c - 0.5, c + 0.5]).collect();
    }
    let n = v.len();
    let mut edges = Vec::with_capacity(n + 1);
    edges.push(v[0] - (v[1] - v[0]) / 2.0);
    for k in 1..n {
        edges.push((v[k - 1] + v[k]) / 2.0);
    }
    edges.push(v[n - 1] + (v[n - 1] - v[n - 2]) / 2.0);
    sorted_pairs((0..n).map(|k| [edges[k], edges[k + 1]]).collect())
}

impl Boxes {
    fn new(x: Vec<[f64; 2]>, y: Vec<[f64; 2]>) -> Self {
        let (x, y) = (sorted_pairs(x), sorted_pairs(y));
        Self { x_order: ordered(&x), y_order: ordered(&y), x, y }
    }

    /// The box spanned by sorted rows `rows` and sorted columns `cols`.
    pub fn span(&self, rows: (usize, usize), cols: (usize, usize)) -> Rect<f64> {
        let ext = |b: &[[f64; 2]], order: &[usize], (lo, hi): (usize, usize)| {
            order[lo..hi].iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, z), &k| (a.min(b[k][0]), z.max(b[k][1])))
        };
        let (x0, x1) = ext(&self.x, &self.x_order, cols);
        let (y0, y1) = ext(&self.y, &self.y_order, rows);
        Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 })
    }

    /// The box all the cells span.
    fn extent(&self) -> Rect<f64> {
        self.span((0, self.y.len()), (0, self.x.len()))
    }
}

impl CellGrid {
    /// The cells of `grid`, bounded by `bounds`.
    pub fn new(grid: &HorizontalGrid, bounds: &CellBounds) -> Result<Self, CellsError> {
        let (ny, nx) = grid.shape();
        let axes = |x: &Axis1d, y: &Axis1d| match bounds {
            CellBounds::Axes { x: bx, y: by } if bx.len() == nx && by.len() == ny => Boxes::new(bx.clone(), by.clone()),
            _ => Boxes::new(midpoint_bounds(x), midpoint_bounds(y)),
        };
        let kind = match grid {
            HorizontalGrid::LonLat { lon, lat, .. } => {
                let mut b = axes(lon, lat);
                for r in &mut b.y {
                    *r = [r[0].clamp(-90.0, 90.0), r[1].clamp(-90.0, 90.0)];
                }
                CellKind::LonLat(b)
            }
            HorizontalGrid::Projected { x, y, projector } => {
                let b = axes(x, y);
                let step =
                    b.x.iter().chain(&b.y).map(|r| r[1] - r[0]).filter(|d| *d > 0.0).fold(f64::INFINITY, f64::min);
                if !step.is_finite() {
                    return Err(CellsError("the grid's cells have no size".into()));
                }
                CellKind::Plane { boxes: b, projector: projector.clone(), step }
            }
            HorizontalGrid::Curvilinear(_) => {
                let corners = match bounds {
                    CellBounds::Vertices { lon, lat } if lon.len() == ny * nx && lat.len() == ny * nx => {
                        checked_quads(grid, lon, lat)
                    }
                    _ => midpoint_quads(grid, ny, nx),
                };
                CellKind::Quads { corners }
            }
        };
        Ok(Self { ny, nx, kind })
    }

    /// The cell's area on the sphere in m² (0 for cells without a shape).
    pub fn cell_area_m2(&self, j: usize, i: usize) -> f64 {
        match &self.kind {
            CellKind::LonLat(b) => box_area_m2(b.x[i][0], b.x[i][1], b.y[j][0], b.y[j][1]),
            CellKind::Plane { boxes, projector, step } => {
                let r = Rect::new(
                    Coord { x: boxes.x[i][0], y: boxes.y[j][0] },
                    Coord { x: boxes.x[i][1], y: boxes.y[j][1] },
                );
                plane_area_m2(&MultiPolygon::new(vec![r.to_polygon()]), projector.as_ref(), *step)
            }
            CellKind::Quads { corners } => corners
                .get(j * self.nx + i)
                .copied()
                .flatten()
                .map_or(0.0, |c| lonlat_area_m2(&MultiPolygon::new(vec![quad_polygon(c)]))),
        }
    }

    /// The grid's extent in its plane (lon/lat for lon/lat and curvilinear grids).
    pub(super) fn plane_extent(&self) -> Option<Rect<f64>> {
        match &self.kind {
            CellKind::LonLat(b) | CellKind::Plane { boxes: b, .. } => Some(b.extent()),
            CellKind::Quads { .. } => None,
        }
    }
}

pub(super) fn quad_polygon(c: [Coord<f64>; 4]) -> Polygon<f64> {
    Polygon::new(LineString(vec![c[0], c[1], c[2], c[3], c[0]]), vec![])
}

/// How far a cell's vertices may lie from its centre, in units of the
/// distance from the centre to the corners midway between centres.
const VERTEX_REACH: f64 = 4.0;

/// The cells of a curvilinear grid from its vertices, checked: a cell whose
/// vertices lie much farther from its centre than its neighbours' centres
/// (CMOR writes a corner at 69°N for cells at 78°S in some ocean grids) has
/// broken vertices and takes the corners midway between centres instead, so
/// a cell is always where its centre is.
fn checked_quads(grid: &HorizontalGrid, lon: &[[f64; 4]], lat: &[[f64; 4]]) -> Vec<Option<[Coord<f64>; 4]>> {
    let (ny, nx) = grid.shape();
    let midway = midpoint_quads(grid, ny, nx);
    let angle = |a: [f64; 3], b: [f64; 3]| (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]).clamp(-1.0, 1.0).acos();
    let unit = |x: f64, y: f64| {
        let (l, f) = (x.to_radians(), y.to_radians());
        [f.cos() * l.cos(), f.cos() * l.sin(), f.sin()]
    };
    let mut broken = 0usize;
    let out = (0..ny * nx)
        .map(|k| {
            let given = quad(lon[k], lat[k]);
            let centre = grid.center(crate::query::Cell { j: k / nx.max(1), i: k % nx.max(1) });
            let (Some(q), Some(m), Some(c)) = (given, midway[k], centre) else { return given };
            let c = unit(c.lon, c.lat);
            let reach = m.iter().map(|p| angle(c, unit(p.x, p.y))).fold(0.0, f64::max);
            if q.iter().all(|p| angle(c, unit(p.x, p.y)) <= VERTEX_REACH * reach) {
                Some(q)
            } else {
                broken += 1;
                Some(m)
            }
        })
        .collect();
    if broken > 0 {
        tracing::warn!(cells = broken, "cells with vertices far from their centres: taken midway between centres");
    }
    out
}

/// A cell's four vertices with longitudes taken the short way round from
/// the first; `None` when one is missing or the cell goes round a pole.
fn quad(lon: [f64; 4], lat: [f64; 4]) -> Option<[Coord<f64>; 4]> {
    if lon.iter().chain(&lat).any(|v| !v.is_finite()) || lat.iter().any(|v| v.abs() > 90.0) {
        return None;
    }
    let mut c = [Coord { x: 0.0, y: 0.0 }; 4];
    for k in 0..4 {
        let mut x = lon[k];
        while x - lon[0] > 180.0 {
            x -= 360.0;
        }
        while x - lon[0] < -180.0 {
            x += 360.0;
        }
        c[k] = Coord { x, y: lat[k] };
    }
    let (lo, hi) = c.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, z), p| (a.min(p.x), z.max(p.x)));
    (hi - lo < 180.0).then_some(c)
}

/// Vertices midway between the centres of a curvilinear grid (on the unit
/// sphere, so that seams and poles average correctly), extrapolated at the edges.
fn midpoint_quads(grid: &HorizontalGrid, ny: usize, nx: usize) -> Vec<Option<[Coord<f64>; 4]>> {
    let centre = |j: isize, i: isize| -> Option<[f64; 3]> {
        // Beyond the edge: mirror the neighbour through the edge cell.
        let (jc, ic) = (j.clamp(0, ny as isize - 1), i.clamp(0, nx as isize - 1));
        let at = |j: isize, i: isize| {
            grid.center(crate::query::Cell { j: j as usize, i: i as usize }).map(|p| {
                let (l, f) = (p.lon.to_radians(), p.lat.to_radians());
                [f.cos() * l.cos(), f.cos() * l.sin(), f.sin()]
            })
        };
        let inner = at(jc, ic)?;
        if (jc, ic) == (j, i) {
            return Some(inner);
        }
        let (jn, in_) = ((2 * jc - j).clamp(0, ny as isize - 1), (2 * ic - i).clamp(0, nx as isize - 1));
        let next = at(jn, in_)?;
        Some([2.0 * inner[0] - next[0], 2.0 * inner[1] - next[1], 2.0 * inner[2] - next[2]])
    };
    let corner = |j: isize, i: isize| -> Option<(f64, f64)> {
        // The corner between rows j-1, j and columns i-1, i.
        let mut s = [0.0; 3];
        for (dj, di) in [(-1, -1), (-1, 0), (0, -1), (0, 0)] {
            let c = centre(j + dj, i + di)?;
            s = [s[0] + c[0], s[1] + c[1], s[2] + c[2]];
        }
        let r = (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt();
        (r > 0.0).then(|| (s[1].atan2(s[0]).to_degrees(), (s[2] / r).asin().to_degrees()))
    };
    let mut out = Vec::with_capacity(ny * nx);
    for j in 0..ny as isize {
        for i in 0..nx as isize {
            let c = [corner(j, i), corner(j, i + 1), corner(j + 1, i + 1), corner(j + 1, i)];
            out.push(match c {
                [Some(a), Some(b), Some(cc), Some(d)] => quad([a.0, b.0, cc.0, d.0], [a.1, b.1, cc.1, d.1]),
                _ => None,
            });
        }
    }
    out
}

/// Area on the sphere of polygons in lon/lat with straight edges, m².
pub(super) fn lonlat_area_m2(m: &MultiPolygon<f64>) -> f64 {
    super::sphere::multipolygon_area_m2(m)
}

/// Area on the sphere of polygons in a grid's plane: each ring densified in
/// the plane (a tenth of the smallest cell side), taken to lon/lat, its
/// longitudes unwrapped.
pub(super) fn plane_area_m2(m: &MultiPolygon<f64>, projector: &dyn Projector, step: f64) -> f64 {
    let dense = Euclidean.densify(m, step / 10.0);
    let ring_area = |r: &LineString<f64>| -> f64 {
        let pts: Option<Vec<[f64; 2]>> =
            r.0.iter().map(|c| projector.inverse(c.x, c.y).map(|p| [p.lon, p.lat])).collect();
        pts.map_or(0.0, |p| ring_area_unit(&unwrap_ring(&p)).abs())
    };
    let unit: f64 =
        dense.0.iter().map(|p| ring_area(p.exterior()) - p.interiors().iter().map(ring_area).sum::<f64>()).sum();
    (unit * EARTH_RADIUS_M * EARTH_RADIUS_M).max(0.0)
}

/// A region's shape (lon/lat) in a projected grid's plane: densified in
/// lon/lat (edges of at most `max_deg`) and projected vertex by vertex.
/// Rings with a vertex the projection cannot take are left out.
pub(super) fn to_plane(shape: &MultiPolygon<f64>, projector: &dyn Projector, max_deg: f64) -> MultiPolygon<f64> {
    let dense = Euclidean.densify(shape, max_deg);
    let ring = |r: &LineString<f64>| -> Option<LineString<f64>> {
        r.0.iter()
            .map(|c| projector.forward(LonLat { lon: c.x, lat: c.y }).map(|(x, y)| Coord { x, y }))
            .collect::<Option<Vec<_>>>()
            .map(LineString)
    };
    MultiPolygon::new(
        dense
            .0
            .iter()
            .filter_map(|p| Some(Polygon::new(ring(p.exterior())?, p.interiors().iter().filter_map(ring).collect())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_vertices_give_way_to_the_cell_where_its_centre_is() {
        // A 1° curvilinear grid at 78°S whose first cell has one corner at 69°N.
        let (ny, nx) = (3, 4);
        let (mut lon, mut lat, mut vlon, mut vlat) = (vec![], vec![], vec![], vec![]);
        for j in 0..ny {
            for i in 0..nx {
                let (x, y) = (20.5 + i as f64, -78.5 + j as f64);
                lon.push(x);
                lat.push(y);
                vlon.push([x - 0.5, x + 0.5, x + 0.5, x - 0.5]);
                vlat.push([y - 0.5, y - 0.5, y + 0.5, y + 0.5]);
            }
        }
        vlat[0][2] = 69.3;
        vlon[0][2] = 73.0;
        let curv = crate::query::grid::Curvilinear::new(ny, nx, lon, lat).unwrap_or_else(|| panic!("grid"));
        let g = HorizontalGrid::Curvilinear(Arc::new(curv));
        let cells = CellGrid::new(&g, &CellBounds::Vertices { lon: vlon, lat: vlat }).unwrap_or_else(|e| panic!("{e}"));
        let one_degree = box_area_m2(20.0, 21.0, -79.0, -78.0);
        let broken = cells.cell_area_m2(0, 0);
        // Corners midway between centres (extrapolated at the grid's edge).
        assert!((broken - one_degree).abs() < 0.05 * one_degree, "{broken} vs {one_degree}");
        // The others keep their own vertices.
        let (own, want) = (cells.cell_area_m2(0, 1), box_area_m2(21.0, 22.0, -79.0, -78.0));
        assert!((own - want).abs() < 1e-9 * want, "{own} vs {want}");
    }
}
