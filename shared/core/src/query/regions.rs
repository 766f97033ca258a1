//! Region statistics as a query service: region sets read through the
//! [`RegionStore`] port and cached, each grid's cells built once from its
//! bounds, and the weights of a whole set computed once per (grid, set
//! version) in parallel and kept; a statistics query is then an ordinary
//! window read ([`Place::Region`]) and the kernel in [`crate::analytics`].

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::error::QueryError;
use super::execute::{Limits, execute};
use super::extraction::Horizontal;
use super::grid::{Cell, HorizontalGrid};
use super::request::{EdrQuery, Place};
use super::view::{BoundsVars, DatasetView};
use crate::analytics::{RegionSeries, Statistic, region_series};
use crate::model::{BlockData, Hyperslab};
use crate::ports::{DatasetReader, RegionStore, StoredSet};
use crate::regions::{CellBounds, CellGrid, RegionSet, RegionSetId, RegionWeights, region_weights};

/// The weights of every region of a set on one grid, in the set's order.
pub type SetWeights = Arc<Vec<Arc<RegionWeights>>>;

/// A dataset's grid in one snapshot: (dataset, snapshot, grid index).
type GridKey = (String, String, usize);

/// Region sets and their weights, cached across requests.
pub struct RegionCatalog {
    store: Arc<dyn RegionStore>,
    ttl: Duration,
    sets: Mutex<HashMap<RegionSetId, (StoredSet, Instant)>>,
    grids: Mutex<HashMap<GridKey, (u64, Arc<CellGrid>)>>,
    weights: Mutex<HashMap<(u64, RegionSetId, String), SetWeights>>,
}

impl RegionCatalog {
    /// A catalog over a store; sets are re-checked after `ttl`.
    pub fn new(store: Arc<dyn RegionStore>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            sets: Mutex::new(HashMap::new()),
            grids: Mutex::new(HashMap::new()),
            weights: Mutex::new(HashMap::new()),
        }
    }

    /// The registered sets.
    pub async fn list(&self) -> Result<Vec<RegionSetId>, QueryError> {
        Ok(self.store.list().await?)
    }

    /// The sets attached to a dataset.
    pub async fn attached(&self, dataset: &crate::model::DatasetId) -> Result<Vec<RegionSetId>, QueryError> {
        Ok(self.store.attached(dataset).await?)
    }

    /// A set by id; 404 saying where the sets are listed.
    pub async fn set(&self, id: &str) -> Result<StoredSet, QueryError> {
        let not_found = || QueryError::NotFound(format!("no region set {id:?}: the sets are listed at /regions"));
        let id = RegionSetId::new(id).map_err(|_| not_found())?;
        let mut sets = self.sets.lock().await;
        if let Some((s, at)) = sets.get(&id) {
            if at.elapsed() < self.ttl {
                return Ok(s.clone());
            }
            if self.store.version(&id).await?.as_deref() == Some(s.version.as_str()) {
                let s = s.clone();
                sets.insert(id, (s.clone(), Instant::now()));
                return Ok(s);
            }
        }
        let stored = self.store.get(&id).await?.ok_or_else(not_found)?;
        sets.insert(id, (stored.clone(), Instant::now()));
        Ok(stored)
    }

    /// The cells of a view's grid, built once per grid content.
    pub async fn cells(
        &self,
        view: &DatasetView,
        reader: &dyn DatasetReader,
        grid: usize,
    ) -> Result<(u64, Arc<CellGrid>), QueryError> {
        let key = (view.id.to_string(), view.snapshot.clone(), grid);
        if let Some(hit) = self.grids.lock().await.get(&key) {
            return Ok(hit.clone());
        }
        let info =
            view.grids.get(grid).ok_or_else(|| QueryError::Inconsistent(format!("no grid {grid} in the view")))?;
        let bounds = read_bounds(reader, view, &info.bounds).await?;
        let fingerprint = fingerprint(&info.grid, &bounds);
        let cells = CellGrid::new(&info.grid, &bounds).map_err(|e| QueryError::bad("coords", e.0))?;
        let hit = (fingerprint, Arc::new(cells));
        self.grids.lock().await.insert(key, hit.clone());
        Ok(hit)
    }

    /// The weights of every region of `set` on a view's grid.
    pub async fn weights(
        &self,
        view: &DatasetView,
        reader: &dyn DatasetReader,
        grid: usize,
        set: &StoredSet,
    ) -> Result<SetWeights, QueryError> {
        let (fingerprint, cells) = self.cells(view, reader, grid).await?;
        let key = (fingerprint, set.set.id.clone(), set.version.clone());
        if let Some(w) = self.weights.lock().await.get(&key) {
            return Ok(w.clone());
        }
        let regions = set.set.clone();
        let computed = tokio::task::spawn_blocking(move || {
            region_weights(&cells, &regions.regions).into_iter().map(Arc::new).collect::<Vec<_>>()
        })
        .await
        .map_err(|e| QueryError::Inconsistent(format!("computing weights: {e}")))?;
        let w: SetWeights = Arc::new(computed);
        self.weights.lock().await.insert(key, w.clone());
        Ok(w)
    }
}

/// What a region statistics query needs besides the EDR query.
#[derive(Debug, Clone)]
pub struct RegionRequest {
    /// The cells and their weights.
    pub weights: Arc<RegionWeights>,
    /// The statistics, in order.
    pub statistics: Vec<Statistic>,
}

/// Runs `query` (its place replaced by the region's cells) and reduces
/// every step to the statistics.
pub async fn region_statistics(
    view: &DatasetView,
    reader: &dyn DatasetReader,
    query: &EdrQuery,
    region: &RegionRequest,
    limits: &Limits<'_>,
) -> Result<RegionSeries, QueryError> {
    if region.weights.cells.is_empty() {
        return Err(QueryError::bad("coords", "the region does not touch the grid: no cell overlaps it"));
    }
    let mut q = query.clone();
    q.place = Place::Region { weights: region.weights.clone() };
    let x = execute(view, reader, &q, limits).await?;
    let Horizontal::Window(w) = &x.horizontal else {
        return Err(QueryError::Inconsistent("a region query read no window".into()));
    };
    let at: HashMap<(usize, usize), f64> = region.weights.cells.iter().map(|c| ((c.j, c.i), c.area_m2)).collect();
    let areas: Vec<f64> =
        w.js.iter()
            .flat_map(|&j| w.is.iter().map(move |&i| (j, i)))
            .map(|k| at.get(&k).copied().unwrap_or(0.0))
            .collect();
    region_series(&x, &areas, &region.statistics)
}

/// What identifies a grid's cells: its shape, its centres (the first row and
/// column of rectangular grids, every cell of curvilinear ones) and its bounds.
fn fingerprint(grid: &HorizontalGrid, bounds: &CellBounds) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let (ny, nx) = grid.shape();
    (ny, nx).hash(&mut h);
    for j in 0..ny {
        for i in 0..nx {
            if let Some(p) = grid.center(Cell { j, i }) {
                p.lon.to_bits().hash(&mut h);
                p.lat.to_bits().hash(&mut h);
            }
            if j > 0 && i > 0 && !matches!(grid, HorizontalGrid::Curvilinear(_)) {
                break;
            }
        }
    }
    format!("{bounds:?}").hash(&mut h);
    h.finish()
}

async fn numbers(reader: &dyn DatasetReader, view: &DatasetView, name: &str) -> Result<Vec<f64>, QueryError> {
    let a = view
        .arrays
        .iter()
        .find(|a| a.path == name)
        .ok_or_else(|| QueryError::Inconsistent(format!("bounds variable {name} is not stored")))?;
    match reader.read(&a.path, &Hyperslab::full(&a.shape)).await? {
        BlockData::Numeric(bytes) => Ok(a.dtype.to_f64_vec(&bytes)),
        BlockData::Strings(_) => Err(QueryError::Inconsistent(format!("bounds variable {name} holds text"))),
    }
}

async fn read_bounds(
    reader: &dyn DatasetReader,
    view: &DatasetView,
    vars: &BoundsVars,
) -> Result<CellBounds, QueryError> {
    let pairs = |v: Vec<f64>| v.chunks_exact(2).map(|c| [c[0], c[1]]).collect::<Vec<_>>();
    let quads = |v: Vec<f64>| v.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect::<Vec<_>>();
    Ok(match vars {
        BoundsVars::None => CellBounds::Midpoints,
        BoundsVars::Axes { x, y } => {
            CellBounds::Axes { x: pairs(numbers(reader, view, x).await?), y: pairs(numbers(reader, view, y).await?) }
        }
        BoundsVars::Vertices { lon, lat } => CellBounds::Vertices {
            lon: quads(numbers(reader, view, lon).await?),
            lat: quads(numbers(reader, view, lat).await?),
        },
    })
}

/// A set built from an ad hoc polygon, for `area?statistic=`.
pub fn adhoc_set(polygons: Vec<Vec<Vec<[f64; 2]>>>) -> Result<RegionSet, QueryError> {
    let id = RegionSetId::new("area").map_err(|e| QueryError::Inconsistent(e.to_string()))?;
    let f = crate::regions::FeatureInput { number: 1, id: Some("area".into()), name: None, polygons };
    RegionSet::build(id, vec![f], None).map_err(|e| QueryError::bad("coords", e.to_string()))
}
