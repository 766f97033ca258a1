//! Region statistics as a query service: region sets read through the
//! [`RegionStore`] port and cached, each grid's cells built once from its
//! bounds, and the weights of a whole set computed once per (grid, set
//! version) in parallel and kept; a statistics query reads the stored
//! series when they are there, and otherwise reads the region's window in
//! batches and reduces each with the kernel in [`crate::analytics`]
//! (`region_reads`).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::error::QueryError;
use super::execute::Limits;
use super::execute::{instance_selections, parameters, select_axes};
use super::request::EdrQuery;
use super::view::{BoundsVars, DatasetView};
use crate::analytics::{RegionSeries, SeriesColumn, Statistic};
use crate::cf::DimRole;
use crate::model::{BlockData, Hyperslab};
use crate::model::{DataType, attr_text};
use crate::ports::{DatasetReader, RegionStore, StoredSet};
use crate::regions::series::{VERSION_ATTR, group_of, series_path};
use crate::regions::stored_weights::{self, grid_fingerprint};
use crate::regions::{CellBounds, CellGrid, RegionSet, RegionSetId, RegionWeights, region_weights};

/// The weights of every region of a set on one grid, in the set's order.
pub type SetWeights = Arc<Vec<Arc<RegionWeights>>>;

/// A dataset's grid in one snapshot: (dataset, snapshot, grid index).
type GridKey = (String, String, usize);

/// A grid's cells content: its fingerprint
/// ([`crate::regions::stored_weights::grid_fingerprint`]).
type Fingerprint = Arc<str>;

/// A grid's cells, with their fingerprint.
type Cells = (Fingerprint, Arc<CellGrid>);

/// Region sets and their weights, cached across requests.
pub struct RegionCatalog {
    store: Arc<dyn RegionStore>,
    ttl: Duration,
    sets: Mutex<HashMap<RegionSetId, (StoredSet, Instant)>>,
    grids: Mutex<HashMap<GridKey, Cells>>,
    weights: Mutex<HashMap<(Fingerprint, RegionSetId, String), SetWeights>>,
    adhoc: Mutex<HashMap<(Fingerprint, u64), Arc<RegionWeights>>>,
}

/// Ad hoc polygons whose weights are kept (a portal asks the same ones again).
const ADHOC_KEPT: usize = 256;

impl RegionCatalog {
    /// A catalog over a store; sets are re-checked after `ttl`.
    pub fn new(store: Arc<dyn RegionStore>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            sets: Mutex::new(HashMap::new()),
            grids: Mutex::new(HashMap::new()),
            weights: Mutex::new(HashMap::new()),
            adhoc: Mutex::new(HashMap::new()),
        }
    }

    /// The weights of an ad hoc polygon on a view's grid, kept for the
    /// last few hundred polygons asked.
    pub async fn adhoc_weights(
        &self,
        view: &DatasetView,
        reader: &dyn DatasetReader,
        grid: usize,
        shape: &geo::MultiPolygon<f64>,
    ) -> Result<Arc<RegionWeights>, QueryError> {
        let (fingerprint, cells) = self.cells(view, reader, grid).await?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for c in geo::CoordsIter::coords_iter(shape) {
            c.x.to_bits().hash(&mut h);
            c.y.to_bits().hash(&mut h);
        }
        let key = (fingerprint, h.finish());
        if let Some(w) = self.adhoc.lock().await.get(&key) {
            return Ok(w.clone());
        }
        let shape = shape.clone();
        let w = tokio::task::spawn_blocking(move || crate::regions::weights(&cells, &shape))
            .await
            .map_err(|e| QueryError::Inconsistent(format!("computing weights: {e}")))?;
        let w = Arc::new(w);
        let mut kept = self.adhoc.lock().await;
        if kept.len() >= ADHOC_KEPT {
            kept.clear();
        }
        kept.insert(key, w.clone());
        Ok(w)
    }

    /// The ensembles the configuration declares.
    pub async fn ensembles(&self) -> Result<Vec<crate::ensembles::EnsembleSpec>, QueryError> {
        Ok(self.store.ensembles().await?)
    }

    /// The registered sets.
    pub async fn list(&self) -> Result<Vec<RegionSetId>, QueryError> {
        Ok(self.store.list().await?)
    }

    /// The sets attached to a dataset.
    pub async fn attached(&self, dataset: &crate::model::DatasetId) -> Result<Vec<RegionSetId>, QueryError> {
        Ok(self.store.attached(dataset).await?.regions)
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
    ) -> Result<Cells, QueryError> {
        let key = (view.id.to_string(), view.snapshot.clone(), grid);
        if let Some(hit) = self.grids.lock().await.get(&key) {
            return Ok(hit.clone());
        }
        let info =
            view.grids.get(grid).ok_or_else(|| QueryError::Inconsistent(format!("no grid {grid} in the view")))?;
        let bounds = read_bounds(reader, view, &info.bounds).await?;
        let fingerprint = grid_fingerprint(&info.grid, &bounds);
        let cells = CellGrid::new(&info.grid, &bounds).map_err(|e| QueryError::bad("coords", e.0))?;
        let hit = (Arc::from(fingerprint), Arc::new(cells));
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
        let key = (fingerprint.clone(), set.set.id.clone(), set.version.clone());
        if let Some(w) = self.weights.lock().await.get(&key) {
            return Ok(w.clone());
        }
        // Kept in the dataset beside its series (an attached set), or computed.
        let group = group_of(set.set.id.as_str());
        let at = (set.version.as_str(), &*fingerprint);
        let stored = stored_weights::read(reader, &view.arrays, &group, at, set.set.regions.len()).await?;
        let weights = match stored {
            Some(w) => w,
            None => {
                let regions = set.set.clone();
                tokio::task::spawn_blocking(move || region_weights(&cells, &regions.regions))
                    .await
                    .map_err(|e| QueryError::Inconsistent(format!("computing weights: {e}")))?
            }
        };
        let w: SetWeights = Arc::new(weights.into_iter().map(Arc::new).collect());
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
    /// A registered region: its set (at the version weighed with) and its
    /// index, where stored series may answer.
    pub stored: Option<(RegionSetId, String, usize)>,
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
    if let Some(key) = &region.stored
        && let Some(series) = stored_series(view, reader, query, region, key).await?
    {
        return Ok(series);
    }
    super::region_reads::computed_series(view, reader, query, &region.weights, &region.statistics, limits).await
}

/// The statistics read from the region series kept in the dataset, when
/// every parameter and statistic asked for is stored at the set's version
/// (`None` otherwise: the caller computes). One read per column: the
/// selected steps of one region.
async fn stored_series(
    view: &DatasetView,
    reader: &dyn DatasetReader,
    query: &EdrQuery,
    region: &RegionRequest,
    (set, version, k): &(RegionSetId, String, usize),
) -> Result<Option<RegionSeries>, QueryError> {
    // A run fixes the reference time: the stored series answer it too.
    let (selections, _) = instance_selections(view, query)?;
    let params = parameters(view, selections.parameters.as_deref())?;
    let axes = select_axes(view, params[0], &selections)?;
    let mut columns = Vec::new();
    for p in &params {
        for s in &region.statistics {
            let path = series_path(set.as_str(), &p.name, *s);
            let Some(a) = view.arrays.iter().find(|a| a.path == path) else { return Ok(None) };
            let nh: Vec<u64> = p
                .roles
                .iter()
                .zip(&p.array.shape)
                .filter(|(r, _)| !matches!(r, DimRole::Y | DimRole::X))
                .map(|(_, n)| *n)
                .collect();
            if attr_text(&a.attrs, VERSION_ATTR) != Some(version.as_str())
                || a.shape.len() != nh.len() + 1
                || a.shape[..nh.len()] != nh[..]
                || a.shape[nh.len()] <= *k as u64
            {
                return Ok(None);
            }
            // The hull of the picks along every axis, then the picks within it.
            let mut slab = Hyperslab { start: vec![0; a.shape.len()], shape: vec![1; a.shape.len()] };
            for (d, axis) in axes.iter().enumerate() {
                let (lo, hi) =
                    (axis.picked.iter().min().copied().unwrap_or(0), axis.picked.iter().max().copied().unwrap_or(0));
                slab.start[d] = lo as u64;
                slab.shape[d] = (hi - lo + 1) as u64;
            }
            slab.start[nh.len()] = *k as u64;
            let BlockData::Numeric(bytes) = reader.read(&path, &slab).await? else {
                return Err(QueryError::Inconsistent(format!("{path} holds text")));
            };
            let hull = DataType::Float64.to_f64_vec(&bytes);
            let n: usize = axes.iter().map(|a| a.picked.len()).product();
            let mut values = Vec::with_capacity(n);
            for flat in 0..n {
                let (mut rem, mut offset, mut stride) = (flat, 0usize, 1usize);
                for (d, axis) in axes.iter().enumerate().rev() {
                    let len = axis.picked.len().max(1);
                    offset += (axis.picked[rem % len] - slab.start[d] as usize) * stride;
                    stride *= slab.shape[d] as usize;
                    rem /= len;
                }
                values.push(hull.get(offset).copied().filter(|v| !v.is_nan()));
            }
            columns.push(SeriesColumn::new(p, *s, values));
        }
    }
    Ok(Some(RegionSeries {
        collection: view.id.to_string(),
        axes,
        columns,
        cells: region.weights.cells.len(),
        area_m2: region.weights.total_area_m2(),
        stored: true,
    }))
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

pub(crate) async fn read_bounds(
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
