//! Horizontal grids and how query positions map onto their cells.
//!
//! A grid is found from a variable's Y and X dimensions: 1-D longitude and
//! latitude coordinates make a [`HorizontalGrid::LonLat`] grid (0..360 or
//! -180..180, either direction); 1-D projection coordinates with a CF
//! `grid_mapping` make a [`HorizontalGrid::Projected`] grid, whose CRS an
//! adapter turns into a [`Projector`] (the core stays free of projection
//! libraries); 2-D latitude and longitude per cell make a
//! [`HorizontalGrid::Curvilinear`] grid (ocean models, swaths, grids whose
//! mapping is unknown), searched through a k-d tree over the cells' positions
//! on the unit sphere.
//!
//! Longer than the house's ~500 lines: the three grid kinds answer the same
//! five questions (nearest cell, centre, window, polygon, radius) side by
//! side, with their tests, so a fix to one kind is seen next to the others.

use std::sync::Arc;

use super::geometry::{LonLat, haversine_km, polygons_contain};

/// Longitude/latitude to a grid's native coordinates and back.
pub trait Projector: Send + Sync + std::fmt::Debug {
    /// Native (x, y) of a position; `None` where the projection is undefined.
    fn forward(&self, p: LonLat) -> Option<(f64, f64)>;
    /// Position of native (x, y).
    fn inverse(&self, x: f64, y: f64) -> Option<LonLat>;
}

/// A monotonic 1-D coordinate.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis1d {
    values: Vec<f64>,
    ascending: bool,
}

impl Axis1d {
    /// An axis from its values; `None` unless strictly monotonic and finite.
    pub fn new(values: Vec<f64>) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let ascending = values.len() < 2 || values[1] > values[0];
        let monotonic = values.windows(2).all(|w| if ascending { w[1] > w[0] } else { w[1] < w[0] });
        monotonic.then_some(Self { values, ascending })
    }

    /// The values.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Half the spacing at the ends (for the cells' outer edges).
    fn half_step(&self) -> (f64, f64) {
        let n = self.values.len();
        if n < 2 {
            return (0.5, 0.5);
        }
        ((self.values[1] - self.values[0]).abs() / 2.0, (self.values[n - 1] - self.values[n - 2]).abs() / 2.0)
    }

    /// Lowest and highest cell edge.
    pub fn bounds(&self) -> (f64, f64) {
        let (h0, h1) = self.half_step();
        let (first, last) = (self.values[0], self.values[self.values.len() - 1]);
        if self.ascending { (first - h0, last + h1) } else { (last - h1, first + h0) }
    }

    /// Index of the nearest value, `None` outside the cells' edges.
    pub fn nearest(&self, v: f64) -> Option<usize> {
        let (lo, hi) = self.bounds();
        if !(lo..=hi).contains(&v) {
            return None;
        }
        let cmp = |x: &f64| if self.ascending { x.total_cmp(&v) } else { v.total_cmp(x) };
        let i = self.values.partition_point(|x| cmp(x).is_lt());
        let candidates = [i.checked_sub(1), Some(i).filter(|i| *i < self.values.len())];
        candidates
            .into_iter()
            .flatten()
            .min_by(|a, b| (self.values[*a] - v).abs().total_cmp(&(self.values[*b] - v).abs()))
    }

    /// The two neighbours of `v` and the weight of the second, for linear
    /// interpolation; `None` outside the first..last values.
    pub fn bracket(&self, v: f64) -> Option<(usize, usize, f64)> {
        let n = self.values.len();
        if n == 1 {
            return (self.values[0] == v).then_some((0, 0, 0.0));
        }
        let i = (0..n - 1).find(|&i| {
            let (a, b) = (self.values[i], self.values[i + 1]);
            (a.min(b)..=a.max(b)).contains(&v)
        })?;
        let (a, b) = (self.values[i], self.values[i + 1]);
        Some((i, i + 1, (v - a) / (b - a)))
    }

    /// Indices whose values lie within `lo..=hi`, ascending.
    pub fn within(&self, lo: f64, hi: f64) -> Vec<usize> {
        (0..self.values.len()).filter(|&i| (lo..=hi).contains(&self.values[i])).collect()
    }
}

/// A cell of a horizontal grid: row `j` (Y), column `i` (X).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cell {
    /// Y index.
    pub j: usize,
    /// X index.
    pub i: usize,
}

/// The horizontal grid of a variable.
#[derive(Debug, Clone)]
pub enum HorizontalGrid {
    /// 1-D longitude (X) and latitude (Y) in degrees.
    LonLat {
        /// Longitudes.
        lon: Axis1d,
        /// Latitudes.
        lat: Axis1d,
        /// Whether the longitudes go round the globe (queries wrap).
        global: bool,
    },
    /// 1-D projection coordinates with a CRS.
    Projected {
        /// Native X values.
        x: Axis1d,
        /// Native Y values.
        y: Axis1d,
        /// Lon/lat ⇄ native.
        projector: Arc<dyn Projector>,
    },
    /// 2-D longitude and latitude per cell.
    Curvilinear(Arc<Curvilinear>),
}

/// Cells located by their own longitude and latitude, with a spatial index.
pub struct Curvilinear {
    ny: usize,
    nx: usize,
    lon: Vec<f64>,
    lat: Vec<f64>,
    tree: kiddo::ImmutableKdTree<f64, 3>,
    /// Tree item → flat cell index (cells without a position are left out).
    cells: Vec<usize>,
    /// A position farther than this from every cell centre is outside (chord length on the unit sphere).
    reach: f64,
}

impl std::fmt::Debug for Curvilinear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Curvilinear").field("ny", &self.ny).field("nx", &self.nx).finish_non_exhaustive()
    }
}

fn unit_vector(p: LonLat) -> [f64; 3] {
    let (lon, lat) = (p.lon.to_radians(), p.lat.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

fn chord(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

impl Curvilinear {
    /// The grid from row-major `lon`/`lat` of `ny` × `nx` cells; `None` when
    /// the shapes disagree or no cell has a position.
    pub fn new(ny: usize, nx: usize, lon: Vec<f64>, lat: Vec<f64>) -> Option<Self> {
        if lon.len() != ny * nx || lat.len() != ny * nx {
            return None;
        }
        let valid = |k: usize| lon[k].is_finite() && lat[k].is_finite() && lat[k].abs() <= 90.0;
        let cells: Vec<usize> = (0..ny * nx).filter(|&k| valid(k)).collect();
        if cells.is_empty() {
            return None;
        }
        let points: Vec<[f64; 3]> = cells.iter().map(|&k| unit_vector(LonLat { lon: lon[k], lat: lat[k] })).collect();
        // Typical spacing: the largest distance between neighbouring cells over
        // a sample of rows and columns; a query beyond twice that from every
        // centre lies outside the grid.
        let mut spacing: f64 = 0.0;
        let step_j = (ny / 64).max(1);
        let step_i = (nx / 64).max(1);
        for j in (0..ny).step_by(step_j) {
            for i in (0..nx).step_by(step_i) {
                let k = j * nx + i;
                if !valid(k) {
                    continue;
                }
                let here = unit_vector(LonLat { lon: lon[k], lat: lat[k] });
                for n in [(j + 1 < ny).then(|| k + nx), (i + 1 < nx).then(|| k + 1)].into_iter().flatten() {
                    if valid(n) {
                        spacing = spacing.max(chord(here, unit_vector(LonLat { lon: lon[n], lat: lat[n] })));
                    }
                }
            }
        }
        let reach = if spacing > 0.0 { 2.0 * spacing } else { f64::INFINITY };
        let tree = kiddo::ImmutableKdTree::new_from_slice(&points);
        Some(Self { ny, nx, lon, lat, tree, cells, reach })
    }

    fn position(&self, k: usize) -> Option<LonLat> {
        let (lon, lat) = (self.lon[k], self.lat[k]);
        (lon.is_finite() && lat.is_finite()).then_some(LonLat { lon: wrap180(lon), lat })
    }

    fn nearest(&self, p: LonLat) -> Option<Cell> {
        let q = unit_vector(p);
        let found = self.tree.nearest_one::<kiddo::SquaredEuclidean>(&q);
        let k = *self.cells.get(usize::try_from(found.item).ok()?)?;
        (found.distance.sqrt() <= self.reach).then_some(Cell { j: k / self.nx, i: k % self.nx })
    }
}

fn wrap180(lon: f64) -> f64 {
    let w = (lon + 180.0).rem_euclid(360.0) - 180.0;
    if w == -180.0 && lon > 0.0 { 180.0 } else { w }
}

/// A rectangular window of a grid: Y indices ascending, X indices in output
/// order (a window across a longitude seam runs 700..719 then 0..60), and
/// the X values as the query sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Y indices.
    pub js: Vec<usize>,
    /// X indices.
    pub is: Vec<usize>,
    /// Native Y values.
    pub y: Vec<f64>,
    /// X values (longitudes shifted into the query's range on lon/lat grids).
    pub x: Vec<f64>,
    /// How much of each cell the query covers (row-major over `js` × `is`);
    /// `None`: all of every cell.
    pub mask: Option<CellWeights>,
}

impl Window {
    /// Cells in the window that the query covers.
    pub fn cell_count(&self) -> usize {
        self.mask.as_ref().map_or(self.js.len() * self.is.len(), CellWeights::covered)
    }

    /// Whether the query covers cell `k` (row-major) at all.
    pub fn covers(&self, k: usize) -> bool {
        self.mask.as_ref().is_none_or(|m| m.covers(k))
    }
}

/// The share of each cell of a window that a query's place covers, in
/// [0, 1], row-major: 1 inside, 0 outside. Masks by cell centre (today's
/// area and radius queries) hold only 0 and 1; exact area-weighted region
/// statistics put the covered fraction of boundary cells here, and the
/// answers of raw values keep treating any weight above 0 as inside.
#[derive(Debug, Clone, PartialEq)]
pub struct CellWeights(Vec<f32>);

impl CellWeights {
    /// Weights 1 where `inside`, else 0.
    pub fn inside(flags: impl IntoIterator<Item = bool>) -> Self {
        Self(flags.into_iter().map(|b| if b { 1.0 } else { 0.0 }).collect())
    }

    /// Fractions of cells covered, each clamped into [0, 1] (NaN as 0).
    pub fn fractions(values: impl IntoIterator<Item = f32>) -> Self {
        Self(values.into_iter().map(|w| if w.is_nan() { 0.0 } else { w.clamp(0.0, 1.0) }).collect())
    }

    /// The weight of cell `k` (0 beyond the window).
    pub fn weight(&self, k: usize) -> f32 {
        self.0.get(k).copied().unwrap_or(0.0)
    }

    /// Whether cell `k` is covered at all.
    pub fn covers(&self, k: usize) -> bool {
        self.weight(k) > 0.0
    }

    /// Number of cells covered at all.
    pub fn covered(&self) -> usize {
        self.0.iter().filter(|w| **w > 0.0).count()
    }
}

/// Why a position or area does not meet the grid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct OutsideGrid(pub String);

impl HorizontalGrid {
    /// A lon/lat grid; longitudes are global when they cover 360° within one step.
    pub fn lon_lat(lon: Axis1d, lat: Axis1d) -> Self {
        let n = lon.values.len() as f64;
        let (lo, hi) = lon.bounds();
        let span = hi - lo;
        let global = n > 1.0 && (span - 360.0).abs() < 1e-6 * 360.0 + 1e-9;
        Self::LonLat { lon, lat, global }
    }

    /// Number of rows and columns.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Self::LonLat { lon, lat, .. } => (lat.values.len(), lon.values.len()),
            Self::Projected { x, y, .. } => (y.values.len(), x.values.len()),
            Self::Curvilinear(c) => (c.ny, c.nx),
        }
    }

    /// The lon/lat extent (west, south, east, north) of the cells.
    pub fn extent(&self) -> [f64; 4] {
        match self {
            Self::LonLat { lon, lat, .. } => {
                let (w, e) = lon.bounds();
                let (s, n) = lat.bounds();
                [w, s.max(-90.0), e, n.min(90.0)]
            }
            Self::Projected { x, y, projector } => {
                let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
                let (x0, x1) = x.bounds();
                let (y0, y1) = y.bounds();
                for k in 0..=16 {
                    let f = f64::from(k) / 16.0;
                    for (px, py) in [
                        (x0 + f * (x1 - x0), y0),
                        (x0 + f * (x1 - x0), y1),
                        (x0, y0 + f * (y1 - y0)),
                        (x1, y0 + f * (y1 - y0)),
                    ] {
                        if let Some(p) = projector.inverse(px, py) {
                            b = [b[0].min(p.lon), b[1].min(p.lat), b[2].max(p.lon), b[3].max(p.lat)];
                        }
                    }
                }
                b
            }
            Self::Curvilinear(c) => {
                let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
                for k in 0..c.ny * c.nx {
                    if let Some(p) = c.position(k) {
                        b = [b[0].min(p.lon), b[1].min(p.lat), b[2].max(p.lon), b[3].max(p.lat)];
                    }
                }
                b
            }
        }
    }

    /// The longitude of a lon/lat grid's column closest to `lon` in its own range.
    fn to_grid_lon(lon_axis: &Axis1d, global: bool, lon: f64) -> f64 {
        let (lo, hi) = lon_axis.bounds();
        if global {
            return lo + (lon - lo).rem_euclid(360.0);
        }
        [lon, lon - 360.0, lon + 360.0].into_iter().find(|l| (lo..=hi).contains(l)).unwrap_or(lon)
    }

    /// The cell nearest to a position.
    pub fn nearest(&self, p: LonLat) -> Result<Cell, OutsideGrid> {
        let outside = || OutsideGrid(format!("POINT({p}) is outside the grid (extent {})", fmt_extent(self.extent())));
        match self {
            Self::LonLat { lon, lat, global } => {
                let gl = Self::to_grid_lon(lon, *global, p.lon);
                let mut i = lon.nearest(gl).ok_or_else(outside)?;
                if *global {
                    // The far edge is the same meridian as the first cell's west edge.
                    let n = lon.values.len();
                    let d = |k: usize| {
                        let diff = (lon.values[k] - gl).rem_euclid(360.0);
                        diff.min(360.0 - diff)
                    };
                    if d(0) < d(i) {
                        i = 0;
                    } else if d(n - 1) < d(i) {
                        i = n - 1;
                    }
                }
                let j = lat.nearest(p.lat).ok_or_else(outside)?;
                Ok(Cell { j, i })
            }
            Self::Projected { x, y, projector } => {
                let (px, py) = projector.forward(p).ok_or_else(outside)?;
                Ok(Cell { j: y.nearest(py).ok_or_else(outside)?, i: x.nearest(px).ok_or_else(outside)? })
            }
            Self::Curvilinear(c) => c.nearest(p).ok_or_else(outside),
        }
    }

    /// The position of a cell's centre.
    pub fn center(&self, c: Cell) -> Option<LonLat> {
        match self {
            Self::LonLat { lon, lat, .. } => Some(LonLat { lon: *lon.values.get(c.i)?, lat: *lat.values.get(c.j)? }),
            Self::Projected { x, y, projector } => projector.inverse(*x.values.get(c.i)?, *y.values.get(c.j)?),
            Self::Curvilinear(g) => (c.j < g.ny && c.i < g.nx).then(|| g.position(c.j * g.nx + c.i)).flatten(),
        }
    }

    /// The cells whose centres lie in a lon/lat box (west may exceed east
    /// across the antimeridian: then east is taken as east + 360).
    pub fn window(&self, bbox: [f64; 4]) -> Result<Window, OutsideGrid> {
        let [w, s, e, n] = bbox;
        let e = if e < w { e + 360.0 } else { e };
        let none = || {
            OutsideGrid(format!(
                "bbox {w},{s},{e},{n} holds no cell centre of the grid (extent {})",
                fmt_extent(self.extent())
            ))
        };
        let win = match self {
            Self::LonLat { lon, lat, global } => {
                let js = lat.within(s, n);
                let mut cols: Vec<(f64, usize)> = lon
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &v)| {
                        let shifted = if *global || v > e || v < w { w + (v - w).rem_euclid(360.0) } else { v };
                        (shifted >= w && shifted <= e).then_some((shifted, i))
                    })
                    .collect();
                cols.sort_by(|a, b| a.0.total_cmp(&b.0));
                let y = js.iter().map(|&j| lat.values[j]).collect();
                Window {
                    js,
                    is: cols.iter().map(|c| c.1).collect(),
                    y,
                    x: cols.iter().map(|c| c.0).collect(),
                    mask: None,
                }
            }
            Self::Projected { x, y, projector } => {
                // The native box around the lon/lat box (edges sampled), then
                // each cell's own position decides.
                let mut nb = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
                for k in 0..=32 {
                    let f = f64::from(k) / 32.0;
                    for p in [
                        LonLat { lon: w + f * (e - w), lat: s },
                        LonLat { lon: w + f * (e - w), lat: n },
                        LonLat { lon: w, lat: s + f * (n - s) },
                        LonLat { lon: e, lat: s + f * (n - s) },
                    ] {
                        if let Some((px, py)) = projector.forward(p) {
                            nb = [nb[0].min(px), nb[1].min(py), nb[2].max(px), nb[3].max(py)];
                        }
                    }
                }
                let js = y.within(nb[1], nb[3]);
                let is = x.within(nb[0], nb[2]);
                let mask =
                    CellWeights::inside(js.iter().flat_map(|&j| is.iter().map(move |&i| (j, i))).map(|(j, i)| {
                        projector.inverse(x.values[i], y.values[j]).is_some_and(|p| {
                            let lon = w + (p.lon - w).rem_euclid(360.0);
                            p.lat >= s && p.lat <= n && lon <= e
                        })
                    }));
                Window {
                    y: js.iter().map(|&j| y.values[j]).collect(),
                    x: is.iter().map(|&i| x.values[i]).collect(),
                    js,
                    is,
                    mask: Some(mask),
                }
            }
            Self::Curvilinear(c) => {
                // Every cell decides by its own position; the window is the
                // index range of the cells inside.
                let inside = |k: usize| {
                    c.position(k).is_some_and(|p| {
                        let lon = w + (p.lon - w).rem_euclid(360.0);
                        p.lat >= s && p.lat <= n && lon <= e
                    })
                };
                let hits: Vec<usize> = (0..c.ny * c.nx).filter(|&k| inside(k)).collect();
                let (Some(j0), Some(j1)) = (hits.iter().map(|k| k / c.nx).min(), hits.iter().map(|k| k / c.nx).max())
                else {
                    return Err(none());
                };
                let (i0, i1) = (
                    hits.iter().map(|k| k % c.nx).min().unwrap_or(0),
                    hits.iter().map(|k| k % c.nx).max().unwrap_or(0),
                );
                let js: Vec<usize> = (j0..=j1).collect();
                let is: Vec<usize> = (i0..=i1).collect();
                let mask = CellWeights::inside(js.iter().flat_map(|&j| is.iter().map(move |&i| inside(j * c.nx + i))));
                Window {
                    y: js.iter().map(|&j| j as f64).collect(),
                    x: is.iter().map(|&i| i as f64).collect(),
                    js,
                    is,
                    mask: Some(mask),
                }
            }
        };
        if win.cell_count() == 0 {
            return Err(none());
        }
        Ok(win)
    }

    /// The window holding weighted cells `(row, column, fraction)`, its mask
    /// the fractions. On global lon/lat grids the columns run the short way
    /// round (a region across the seam reads 710..719 then 0..5, not the
    /// whole row). `None` when there are no cells.
    pub fn cells_window(&self, cells: &[(usize, usize, f32)]) -> Option<Window> {
        let (j0, j1) = (cells.iter().map(|c| c.0).min()?, cells.iter().map(|c| c.0).max()?);
        let (_, nx) = self.shape();
        let mut cols: Vec<usize> = cells.iter().map(|c| c.1).collect();
        cols.sort_unstable();
        cols.dedup();
        let is: Vec<usize> = match self {
            Self::LonLat { global: true, .. } if cols.len() > 1 => {
                // Start after the widest gap between used columns, going round.
                let n = cols.len();
                let gap = |k: usize| (cols[(k + 1) % n] + nx - cols[k]) % nx;
                let widest = (0..n).max_by_key(|&k| gap(k)).unwrap_or(n - 1);
                let first = cols[(widest + 1) % n];
                let last = cols[widest];
                let len = (last + nx - first) % nx + 1;
                (0..len).map(|k| (first + k) % nx).collect()
            }
            _ => (cols[0]..=cols[cols.len() - 1]).collect(),
        };
        let js: Vec<usize> = (j0..=j1).collect();
        let position: std::collections::HashMap<usize, usize> = is.iter().enumerate().map(|(k, i)| (*i, k)).collect();
        let mut mask = vec![0f32; js.len() * is.len()];
        for &(j, i, f) in cells {
            if let Some(b) = position.get(&i) {
                mask[(j - j0) * is.len() + b] = f.max(f32::MIN_POSITIVE);
            }
        }
        let (y, x) = match self {
            Self::LonLat { lon, lat, .. } => {
                (js.iter().map(|&j| lat.values[j]).collect(), is.iter().map(|&i| lon.values[i]).collect())
            }
            Self::Projected { x, y, .. } => {
                (js.iter().map(|&j| y.values[j]).collect(), is.iter().map(|&i| x.values[i]).collect())
            }
            Self::Curvilinear(_) => (js.iter().map(|&j| j as f64).collect(), is.iter().map(|&i| i as f64).collect()),
        };
        Some(Window { js, is, y, x, mask: Some(CellWeights::fractions(mask)) })
    }

    /// The cells inside polygons (outer rings with holes).
    pub fn polygon_window(&self, polygons: &[Vec<Vec<LonLat>>], bbox: [f64; 4]) -> Result<Window, OutsideGrid> {
        self.masked_window(bbox, |p| polygons_contain(polygons, p)).map_err(|_| {
            OutsideGrid(format!("the polygon holds no cell centre of the grid (extent {})", fmt_extent(self.extent())))
        })
    }

    /// The cells within `km` kilometres of a position.
    pub fn radius_window(&self, center: LonLat, km: f64) -> Result<Window, OutsideGrid> {
        let dlat = km / 111.0;
        let coslat = center.lat.to_radians().cos().max(1e-6);
        let dlon = (km / (111.0 * coslat)).min(180.0);
        let bbox =
            [center.lon - dlon, (center.lat - dlat).max(-90.0), center.lon + dlon, (center.lat + dlat).min(90.0)];
        self.masked_window(bbox, |p| haversine_km(center, p) <= km).map_err(|_| {
            OutsideGrid(format!(
                "no cell centre lies within {km} km of POINT({center}) (grid extent {})",
                fmt_extent(self.extent())
            ))
        })
    }

    fn masked_window(&self, bbox: [f64; 4], inside: impl Fn(LonLat) -> bool) -> Result<Window, OutsideGrid> {
        let mut win = self.window(bbox)?;
        let mut mask = Vec::with_capacity(win.js.len() * win.is.len());
        let prior = win.mask.take();
        for (a, &j) in win.js.iter().enumerate() {
            for (b, &i) in win.is.iter().enumerate() {
                let prior = prior.as_ref().is_none_or(|m| m.covers(a * win.is.len() + b));
                let p = match self {
                    Self::LonLat { .. } => Some(LonLat { lon: win.x[b], lat: win.y[a] }),
                    Self::Projected { .. } | Self::Curvilinear(_) => self.center(Cell { j, i }),
                };
                mask.push(prior && p.is_some_and(&inside));
            }
        }
        win.mask = Some(CellWeights::inside(mask));
        if win.cell_count() == 0 {
            return Err(OutsideGrid("no cell".into()));
        }
        Ok(win)
    }
}

fn fmt_extent(b: [f64; 4]) -> String {
    format!("lon {:.4}..{:.4}, lat {:.4}..{:.4}", b[0], b[2], b[1], b[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(start: f64, step: f64, n: usize) -> Axis1d {
        Axis1d::new((0..n).map(|k| start + step * k as f64).collect()).unwrap_or_else(|| panic!("axis"))
    }

    #[test]
    fn nearest_on_0_360_grids_with_descending_latitude() {
        let g = HorizontalGrid::lon_lat(axis(0.25, 0.5, 720), axis(89.75, -0.5, 360));
        assert_eq!(g.nearest(LonLat { lon: -0.3, lat: 89.8 }), Ok(Cell { j: 0, i: 719 }));
        assert_eq!(g.nearest(LonLat { lon: 10.1, lat: 0.1 }), Ok(Cell { j: 179, i: 20 }));
        assert_eq!(g.nearest(LonLat { lon: 359.99, lat: -89.9 }), Ok(Cell { j: 359, i: 719 }));
        assert_eq!(g.nearest(LonLat { lon: 180.0, lat: 0.0 }).map(|c| c.i), Ok(359));
    }

    #[test]
    fn regional_grid_refuses_outside_points() {
        let g = HorizontalGrid::lon_lat(axis(-10.0, 1.0, 41), axis(35.0, 1.0, 36));
        assert_eq!(g.nearest(LonLat { lon: 350.2, lat: 35.1 }), Ok(Cell { j: 0, i: 0 }), "350 is -10");
        let e = g.nearest(LonLat { lon: 100.0, lat: 50.0 }).err().map(|e| e.0).unwrap_or_default();
        assert!(e.contains("outside the grid") && e.contains("lon -10.5000..30.5000"), "{e}");
    }

    #[test]
    fn windows_cross_the_seam_in_query_order() {
        let g = HorizontalGrid::lon_lat(axis(0.0, 1.0, 360), axis(-90.0, 1.0, 181));
        let w = g.window([-2.0, 10.0, 2.0, 11.0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.is, vec![358, 359, 0, 1, 2]);
        assert_eq!(w.x, vec![-2.0, -1.0, 0.0, 1.0, 2.0]);
        assert_eq!(w.js, vec![100, 101]);
        assert!(g.window([10.2, 10.2, 10.4, 10.4]).is_err(), "no centre inside");
    }

    #[test]
    fn cell_weights_hold_fractions_and_cover_what_is_above_zero() {
        let w = CellWeights::fractions([0.0, 0.25, 1.5, f32::NAN, -1.0, 1.0]);
        assert_eq!((0..6).map(|k| w.weight(k)).collect::<Vec<_>>(), vec![0.0, 0.25, 1.0, 0.0, 0.0, 1.0]);
        assert_eq!(w.covered(), 3);
        assert!(w.covers(1) && !w.covers(3) && !w.covers(99));
        assert_eq!(CellWeights::inside([true, false]), CellWeights::fractions([1.0, 0.0]));
    }

    #[test]
    fn polygon_and_radius_masks() {
        let g = HorizontalGrid::lon_lat(axis(0.0, 1.0, 20), axis(0.0, 1.0, 20));
        let square = vec![vec![vec![
            LonLat { lon: 1.5, lat: 1.5 },
            LonLat { lon: 4.5, lat: 1.5 },
            LonLat { lon: 4.5, lat: 4.5 },
            LonLat { lon: 1.5, lat: 4.5 },
            LonLat { lon: 1.5, lat: 1.5 },
        ]]];
        let w = g.polygon_window(&square, [1.5, 1.5, 4.5, 4.5]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.cell_count(), 9);
        let r = g.radius_window(LonLat { lon: 10.0, lat: 10.0 }, 120.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.cell_count(), 5, "centre and its four neighbours at ~110 km");
    }

    #[test]
    fn curvilinear_grids_find_cells_by_their_own_positions() {
        // A skewed 30 x 40 grid of about 1 degree cells.
        let (ny, nx) = (30, 40);
        let lon: Vec<f64> = (0..ny).flat_map(|j| (0..nx).map(move |i| -20.0 + i as f64 + 0.3 * j as f64)).collect();
        let lat: Vec<f64> = (0..ny).flat_map(|j| (0..nx).map(move |i| 40.0 + j as f64 - 0.2 * i as f64)).collect();
        let g = HorizontalGrid::Curvilinear(Arc::new(
            Curvilinear::new(ny, nx, lon.clone(), lat.clone()).unwrap_or_else(|| panic!("grid")),
        ));
        for (j, i) in [(0, 0), (12, 17), (29, 39)] {
            let k = j * nx + i;
            let p = LonLat { lon: lon[k] + 0.2, lat: lat[k] - 0.2 };
            assert_eq!(g.nearest(p), Ok(Cell { j, i }));
        }
        assert!(g.nearest(LonLat { lon: 100.0, lat: 0.0 }).is_err(), "far away is outside");
        let w = g.window([-10.0, 45.0, -5.0, 50.0]).unwrap_or_else(|e| panic!("{e}"));
        let inside =
            (0..ny * nx).filter(|&k| (-10.0..=-5.0).contains(&lon[k]) && (45.0..=50.0).contains(&lat[k])).count();
        assert_eq!(w.cell_count(), inside);
    }

    #[test]
    fn brackets_for_interpolation() {
        let a = axis(10.0, -1.0, 5);
        assert_eq!(a.bracket(8.5), Some((1, 2, 0.5)));
        assert_eq!(a.bracket(20.0), None);
        assert_eq!(Axis1d::new(vec![0.0, 0.0]), None, "not monotonic");
    }
}
