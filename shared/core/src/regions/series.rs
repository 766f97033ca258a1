//! Region series: the area-weighted statistics of every region of a set,
//! stored in the dataset's repository beside the data and updated by the
//! same commit as each ingest (a [`Derivation`]).
//!
//! Layout, one group per attached set (xarray: `open_zarr(..., group="regions/basins")`):
//!
//! ```text
//! regions/<set>/region            (region)            the region ids (text)
//! regions/<set>/region_name       (region)            their names
//! regions/<set>/area_m2           (region)            Σ weights on the grid, m²
//! regions/<set>/<dim>             (<dim>)             copies of the non-horizontal coordinates (time…)
//! regions/<set>/<var>_<statistic> (<dims…>, region)   the variable's dimensions with (Y, X) → region
//! ```
//!
//! Each series array carries `units`, `long_name`, `cell_methods` (`area:
//! mean where <set>`) and the set's version; a reader trusts a stored series
//! only at the version of the set it weighs with. An ingest recomputes the
//! steps it wrote; when it moved steps (a late file) or the set changed, the
//! whole series. Values are reduced in the weights' cell order by the same
//! kernel the query side uses, so a stored series and a computed one are the
//! same numbers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;

use super::stored_weights::{self, grid_fingerprint};
use super::{CellGrid, RegionWeights, region_weights};
use crate::analytics::{Statistic, StoredBlock, reduce_block};
use crate::cf::{DimRole, FillValue};
use crate::derived::{Changes, Derivation, DerivationError, Derivations, Steps, TxReader};
use crate::ingest::placement::patch_region;
use crate::model::{ArrayLayout, AttrValue, Attributes, Block, BlockData, Compression, DataType, DatasetId, Hyperslab};
use crate::ports::{ArrayInfo, ArraySpec, RegionStore, StoredSet, Transaction};
use crate::query::regions::read_bounds;
use crate::query::view::{DatasetView, Parameter, ProjectorFactory};

/// The group of a set's series.
pub fn group_of(set: &str) -> String {
    format!("{SERIES_PREFIX}/{set}")
}

/// Where every set's series live in a dataset.
pub const SERIES_PREFIX: &str = "regions";

/// The array of a variable's statistic.
pub fn series_path(set: &str, variable: &str, statistic: Statistic) -> String {
    format!("{}/{}_{}", group_of(set), variable.replace('/', "_"), statistic.name().replace('-', "_"))
}

/// The attribute naming the set version a series was computed at.
pub const VERSION_ATTR: &str = "hub_region_set_version";

/// Values read per batch of steps, at most (bytes of decoded values).
const BATCH_BYTES: u64 = 64 << 20;

/// Steps per chunk of a series along its growing axis.
const SERIES_CHUNK: u64 = 1024;

/// Keeps one set's series in step with a dataset.
pub struct RegionSeriesDerivation {
    /// The set, at its version.
    pub set: StoredSet,
    /// The statistics kept.
    pub statistics: Vec<Statistic>,
    /// Projections for projected grids.
    pub projections: Arc<dyn ProjectorFactory>,
}

fn cell_method(s: Statistic) -> &'static str {
    match s {
        Statistic::Mean => "mean",
        Statistic::Min => "minimum",
        Statistic::Max => "maximum",
        Statistic::Std => "standard_deviation",
        Statistic::Sum => "sum",
        Statistic::Count => "point",
        Statistic::ValidFraction => "mean",
    }
}

fn is_series(path: &str) -> bool {
    path.starts_with(SERIES_PREFIX) && path[SERIES_PREFIX.len()..].starts_with('/')
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[async_trait]
impl Derivation for RegionSeriesDerivation {
    fn name(&self) -> String {
        group_of(self.set.set.id.as_str())
    }

    async fn update(
        &self,
        dataset: &DatasetId,
        tx: &dyn Transaction,
        changes: &Changes,
    ) -> Result<String, DerivationError> {
        let reader = TxReader(tx);
        let view = DatasetView::load(dataset.clone(), &reader, self.projections.as_ref()).await?;
        let existing: HashMap<String, ArrayInfo> =
            tx.arrays().await?.into_iter().map(|a| (a.path.clone(), a)).collect();
        let set = &self.set.set;
        let name = set.id.as_str();
        let group = group_of(name);
        let n_regions = set.regions.len() as u64;
        // Per grid: the weights, the grid's fingerprint, whether computed now.
        let mut weights_by_grid: BTreeMap<usize, (Arc<Vec<RegionWeights>>, String, bool)> = BTreeMap::new();
        let mut coords_written: Vec<String> = Vec::new();
        let mut steps_done = 0u64;
        let mut arrays = 0usize;
        tx.put_group(
            &group,
            &Attributes::from_iter([
                ("hub_region_set".to_string(), AttrValue::text(name)),
                (VERSION_ATTR.to_string(), AttrValue::text(&self.set.version)),
            ]),
        )
        .await?;
        for p in view.parameters.iter().filter(|p| !is_series(&p.name)) {
            let stale = self.statistics.iter().any(|s| {
                existing
                    .get(&series_path(name, &p.name, *s))
                    .is_none_or(|a| crate::model::attr_text(&a.attrs, VERSION_ATTR) != Some(self.set.version.as_str()))
            });
            if !stale && !changes.touches(&p.name) {
                continue;
            }
            let weights = match weights_by_grid.get(&p.grid) {
                Some((w, _, _)) => w.clone(),
                None => {
                    let info = &view.grids[p.grid];
                    let bounds = read_bounds(&reader, &view, &info.bounds)
                        .await
                        .map_err(|e| DerivationError::Invalid(e.to_string()))?;
                    let fingerprint = grid_fingerprint(&info.grid, &bounds);
                    let key = (self.set.version.as_str(), fingerprint.as_str());
                    let kept = stored_weights::read(&reader, &view.arrays, &group, key, set.regions.len()).await?;
                    let (w, fresh) = match kept {
                        Some(w) => (w, false),
                        None => {
                            let cells =
                                CellGrid::new(&info.grid, &bounds).map_err(|e| DerivationError::Invalid(e.0))?;
                            let regions = self.set.set.clone();
                            let w = tokio::task::spawn_blocking(move || region_weights(&cells, &regions.regions))
                                .await
                                .map_err(|e| DerivationError::Invalid(format!("computing weights: {e}")))?;
                            (w, true)
                        }
                    };
                    let w = Arc::new(w);
                    weights_by_grid.insert(p.grid, (w.clone(), fingerprint, fresh));
                    w
                }
            };
            // The series' dimensions: the variable's without Y and X, then region.
            let nh: Vec<usize> =
                (0..p.roles.len()).filter(|d| !matches!(p.roles[*d], DimRole::Y | DimRole::X)).collect();
            let mut dims: Vec<String> = nh.iter().map(|d| p.array.dims[*d].clone()).collect();
            dims.push("region".into());
            let mut shape: Vec<u64> = nh.iter().map(|d| p.array.shape[*d]).collect();
            shape.push(n_regions);
            let growing = changes.dim.as_ref().and_then(|g| nh.iter().position(|d| p.array.dims[*d] == *g));
            // Steps are computed in batches along the growing axis, or the time axis.
            let along = growing.or_else(|| nh.iter().position(|d| p.roles[*d] == DimRole::Time));
            let mut chunks: Vec<u64> = shape.iter().map(|n| (*n).max(1)).collect();
            if let Some(g) = along {
                chunks[g] = SERIES_CHUNK;
            }
            let mut full = stale || matches!(changes.steps, Steps::All) || growing.is_none();
            for s in &self.statistics {
                let path = series_path(name, &p.name, *s);
                match existing.get(&path) {
                    Some(a)
                        if a.shape.len() == shape.len()
                            && a.chunks.len() == shape.len()
                            && crate::model::attr_text(&a.attrs, VERSION_ATTR) == Some(self.set.version.as_str()) =>
                    {
                        chunks = a.chunks.clone();
                        if a.shape != shape {
                            tx.resize(&path, &shape).await?;
                            // Grown along the growing axis only: the new steps are in `changes`.
                            let others_same =
                                a.shape.iter().zip(&shape).enumerate().all(|(k, (x, y))| Some(k) == growing || x == y);
                            full |= !others_same;
                        }
                    }
                    _ => {
                        tx.create_array(&series_spec(&path, p, *s, name, &self.set.version, &dims, &shape, &chunks))
                            .await?;
                        full = true;
                    }
                }
            }
            for d in &nh {
                let dim = &p.array.dims[*d];
                if !coords_written.contains(dim) {
                    copy_coordinate(tx, &existing, &view, dim, &group).await?;
                    coords_written.push(dim.clone());
                }
            }
            // Which steps to compute.
            let runs: Vec<(u64, u64)> = match (&changes.steps, growing, along, full) {
                (Steps::Some(steps), Some(g), _, false) => contiguous(steps, shape[g]),
                (_, _, Some(g), _) => vec![(0, shape[g])],
                _ => vec![(0, 1)],
            };
            let step_values: u64 = nh
                .iter()
                .enumerate()
                .filter(|(k, _)| Some(*k) != along)
                .map(|(_, d)| p.array.shape[*d])
                .product::<u64>()
                * p.array.shape.iter().enumerate().filter(|(d, _)| !nh.contains(d)).map(|(_, n)| *n).product::<u64>();
            // Batches of whole chunks along the axis, so no chunk is decoded twice.
            let per_batch = (BATCH_BYTES / (step_values.max(1) * 8)).max(1);
            let chunk = along.and_then(|g| p.array.chunks.get(nh[g]).copied()).unwrap_or(1).max(1);
            let per_batch = if per_batch >= chunk { per_batch / chunk * chunk } else { per_batch };
            for (start, end) in runs {
                let mut t = start;
                while t < end {
                    let n = per_batch.min(end - t);
                    self.batch(tx, p, &weights, &nh, along, (t, n), &shape, &chunks).await?;
                    steps_done += n;
                    t += n;
                }
            }
            arrays += self.statistics.len();
        }
        // The regions' areas and the weights, of the first grid.
        let first = weights_by_grid.values().next();
        write_regions(tx, &existing, &group, set, first.map(|(w, _, _)| w.as_slice())).await?;
        if let Some((w, fingerprint, true)) = first {
            stored_weights::write(tx, &group, (self.set.version.as_str(), fingerprint.as_str()), w).await?;
        }
        Ok(format!(
            "{group}: {arrays} series ({}), {steps_done} steps",
            self.statistics.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
        ))
    }
}

/// The region series of the sets attached to each dataset (the datasets'
/// configuration, read through the region store at each ingest).
pub struct RegionDerivations {
    /// Where the sets and attachments are.
    pub store: Arc<dyn RegionStore>,
    /// Projections for projected grids (the same the query side uses, so
    /// stored and computed weights agree).
    pub projections: Arc<dyn ProjectorFactory>,
}

#[async_trait]
impl Derivations for RegionDerivations {
    async fn for_dataset(&self, dataset: &DatasetId) -> Result<Vec<Arc<dyn Derivation>>, DerivationError> {
        let settings = self.store.attached(dataset).await?;
        self.of_settings(dataset, &settings).await
    }
}

impl RegionDerivations {
    /// The series of the sets `settings` attach to `dataset`.
    pub async fn of_settings(
        &self,
        dataset: &DatasetId,
        settings: &crate::ingest::DatasetSettings,
    ) -> Result<Vec<Arc<dyn Derivation>>, DerivationError> {
        let mut out: Vec<Arc<dyn Derivation>> = Vec::new();
        for id in &settings.regions {
            match self.store.get(id).await? {
                Some(set) => out.push(Arc::new(RegionSeriesDerivation {
                    set,
                    statistics: settings.statistics(),
                    projections: self.projections.clone(),
                })),
                // An attachment to a set not (or no longer) registered keeps
                // no series; the data goes in all the same.
                None => tracing::warn!(dataset = %dataset, set = %id, "attached region set is not registered"),
            }
        }
        Ok(out)
    }
}

/// What a backfill did to one dataset.
#[derive(Debug, Clone)]
pub struct Backfilled {
    /// The dataset.
    pub dataset: DatasetId,
    /// Its new snapshot, `None` when it has no data yet (its series start
    /// with its first ingest).
    pub snapshot: Option<String>,
    /// What the derivation wrote.
    pub done: Vec<String>,
}

/// Writes the series of `set` in each of `datasets` (one commit each): what
/// registering or changing a set, or attaching it, does. `hub regions` and
/// the ingest function both come here.
pub async fn backfill_set(
    store: Arc<dyn RegionStore>,
    repo: &dyn crate::ports::Repository,
    projections: Arc<dyn ProjectorFactory>,
    set: &super::RegionSetId,
    datasets: &[DatasetId],
) -> Result<Vec<Backfilled>, DerivationError> {
    let derivations = RegionDerivations { store, projections };
    let known = repo.datasets().await?;
    let mut out = Vec::new();
    for d in datasets {
        if !known.contains(d) {
            out.push(Backfilled { dataset: d.clone(), snapshot: None, done: vec![] });
            continue;
        }
        let mine: Vec<Arc<dyn Derivation>> =
            derivations.for_dataset(d).await?.into_iter().filter(|x| x.name() == group_of(set.as_str())).collect();
        let (snapshot, done) = crate::derived::backfill(repo, d, &mine, &group_of(set.as_str())).await?;
        out.push(Backfilled { dataset: d.clone(), snapshot: Some(snapshot), done });
    }
    Ok(out)
}

impl RegionSeriesDerivation {
    /// Reads steps `t..t+n` of the growing axis (everything without one),
    /// reduces every region, writes every statistic.
    #[allow(clippy::too_many_arguments)]
    async fn batch(
        &self,
        tx: &dyn Transaction,
        p: &Parameter,
        weights: &[RegionWeights],
        nh: &[usize],
        growing: Option<usize>,
        (t, n): (u64, u64),
        series_shape: &[u64],
        chunks: &[u64],
    ) -> Result<(), DerivationError> {
        let mut slab = Hyperslab::full(&p.array.shape);
        if let Some(g) = growing {
            slab.start[nh[g]] = t;
            slab.shape[nh[g]] = n;
        }
        // Only the rows and columns the regions cover.
        let (yd, xd) = (p.dim_with(DimRole::Y).unwrap_or(0), p.dim_with(DimRole::X).unwrap_or(0));
        let all = weights.iter().flat_map(|w| w.cells.iter());
        let (j0, j1, i0, i1) = all.fold((usize::MAX, 0, usize::MAX, 0), |(a, b, c, d), cell| {
            (a.min(cell.j), b.max(cell.j), c.min(cell.i), d.max(cell.i))
        });
        if j0 > j1 {
            return Ok(());
        }
        slab.start[yd] = j0 as u64;
        slab.shape[yd] = (j1 - j0 + 1) as u64;
        slab.start[xd] = i0 as u64;
        slab.shape[xd] = (i1 - i0 + 1) as u64;
        let BlockData::Numeric(bytes) = tx.read(&p.array.path, &slab).await? else {
            return Err(DerivationError::Invalid(format!("{} holds text", p.name)));
        };
        let shape: Vec<usize> = slab.shape.iter().map(|v| usize::try_from(*v).unwrap_or(0)).collect();
        let (y, x) = (p.dim_with(DimRole::Y), p.dim_with(DimRole::X));
        let block = StoredBlock { bytes: &bytes, dtype: p.array.dtype, shape: &shape, y, x };
        let positions = block.positions().len();
        let n_regions = weights.len();
        let mut out: Vec<Vec<f64>> = vec![vec![f64::NAN; positions * n_regions]; self.statistics.len()];
        for (k, w) in weights.iter().enumerate() {
            if w.cells.is_empty() {
                continue;
            }
            let areas: Vec<f64> = w.cells.iter().map(|c| c.area_m2).collect();
            let cells: Vec<usize> = w.cells.iter().map(|c| block.cell_offset(c.j - j0, c.i - i0)).collect();
            let stats = reduce_block(&block, &cells, &areas, |v| p.decoding.decode(v), &self.statistics);
            for (si, values) in stats.into_iter().enumerate() {
                for (a, v) in values.into_iter().enumerate() {
                    out[si][a * n_regions + k] = v.unwrap_or(f64::NAN);
                }
            }
        }
        let mut region = Hyperslab::full(series_shape);
        if let Some(g) = growing {
            region.start[g] = t;
            region.shape[g] = n;
        }
        for (si, s) in self.statistics.iter().enumerate() {
            let path = series_path(self.set.set.id.as_str(), &p.name, *s);
            let block = Arc::new(Block { region: region.clone(), data: BlockData::Numeric(f64_bytes(&out[si])) });
            patch_region(tx, &path, DataType::Float64, chunks, series_shape, block).await?;
        }
        Ok(())
    }
}

/// Sorted steps as half-open runs, within `len`.
fn contiguous(steps: &[u64], len: u64) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &s in steps.iter().filter(|s| **s < len) {
        match runs.last_mut() {
            Some((_, end)) if *end == s => *end += 1,
            Some((_, end)) if *end > s => {}
            _ => runs.push((s, s + 1)),
        }
    }
    runs
}

#[allow(clippy::too_many_arguments)]
fn series_spec(
    path: &str,
    p: &Parameter,
    s: Statistic,
    set: &str,
    version: &str,
    dims: &[String],
    shape: &[u64],
    chunks: &[u64],
) -> ArraySpec {
    let mut attrs = Attributes::new();
    attrs.insert(
        "long_name".into(),
        AttrValue::text(format!(
            "{} of {} over each region of {set} (cells weighted by their area inside the region, on the sphere)",
            s.name(),
            p.description
        )),
    );
    if let Some(u) = s.units(p.units.as_deref()) {
        attrs.insert("units".into(), AttrValue::text(u));
    }
    if let (Some(sn), Statistic::Mean | Statistic::Min | Statistic::Max) = (&p.standard_name, s) {
        attrs.insert("standard_name".into(), AttrValue::text(sn.clone()));
    }
    attrs.insert("cell_methods".into(), AttrValue::text(format!("area: {} where {set}", cell_method(s))));
    attrs.insert("coordinates".into(), AttrValue::text("region_name"));
    attrs.insert("hub_parameter".into(), AttrValue::text(p.name.clone()));
    attrs.insert("hub_statistic".into(), AttrValue::text(s.name()));
    attrs.insert(VERSION_ATTR.into(), AttrValue::text(version));
    ArraySpec {
        path: path.to_string(),
        dims: dims.to_vec(),
        shape: shape.to_vec(),
        dtype: DataType::Float64,
        fill_value: FillValue::Float(f64::NAN),
        layout: ArrayLayout { chunks: chunks.to_vec(), shard: None, compression: Compression::Zstd { level: 3 } },
        attrs,
    }
}

/// Copies a root coordinate into the series group (the whole of it: the
/// group is opened on its own by xarray and needs its axes).
async fn copy_coordinate(
    tx: &dyn Transaction,
    existing: &HashMap<String, ArrayInfo>,
    view: &DatasetView,
    dim: &str,
    group: &str,
) -> Result<(), DerivationError> {
    let Some(src) = view.arrays.iter().find(|a| a.path == dim && a.dims.len() == 1) else { return Ok(()) };
    let path = format!("{group}/{dim}");
    match existing.get(&path) {
        Some(a) if a.shape == src.shape => {}
        Some(a) if a.shape.len() == 1 => tx.resize(&path, &src.shape).await?,
        _ => {
            tx.create_array(&ArraySpec {
                path: path.clone(),
                dims: src.dims.clone(),
                shape: src.shape.clone(),
                dtype: src.dtype,
                fill_value: src.fill_value.clone(),
                layout: ArrayLayout {
                    chunks: vec![src.shape[0].max(4096)],
                    shard: None,
                    compression: Compression::Zstd { level: 3 },
                },
                attrs: src.attrs.clone(),
            })
            .await?;
        }
    }
    let data = tx.read(&src.path, &Hyperslab::full(&src.shape)).await?;
    tx.write_block(&path, Arc::new(Block { region: Hyperslab::full(&src.shape), data })).await?;
    Ok(())
}

/// The region coordinate, names and areas.
async fn write_regions(
    tx: &dyn Transaction,
    existing: &HashMap<String, ArrayInfo>,
    group: &str,
    set: &super::RegionSet,
    weights: Option<&[RegionWeights]>,
) -> Result<(), DerivationError> {
    let n = set.regions.len() as u64;
    let columns: Vec<(String, DataType, BlockData, Attributes)> = vec![
        (
            format!("{group}/region"),
            DataType::String,
            BlockData::Strings(set.regions.iter().map(|r| r.id.clone()).collect()),
            Attributes::from_iter([("long_name".to_string(), AttrValue::text(format!("region of {}", set.id)))]),
        ),
        (
            format!("{group}/region_name"),
            DataType::String,
            BlockData::Strings(set.regions.iter().map(|r| r.name.clone()).collect()),
            Attributes::from_iter([("long_name".to_string(), AttrValue::text("region name"))]),
        ),
        (
            format!("{group}/area_m2"),
            DataType::Float64,
            BlockData::Numeric(f64_bytes(&weights.map_or_else(
                || vec![f64::NAN; set.regions.len()],
                |w| w.iter().map(RegionWeights::total_area_m2).collect(),
            ))),
            Attributes::from_iter([
                (
                    "long_name".to_string(),
                    AttrValue::text("area of the region on the grid (the sum of its cell weights)"),
                ),
                ("units".to_string(), AttrValue::text("m2")),
            ]),
        ),
    ];
    for (path, dtype, data, attrs) in columns {
        match existing.get(&path) {
            Some(a) if a.shape == [n] => {}
            Some(_) => tx.resize(&path, &[n]).await?,
            None => {
                let fill =
                    if dtype == DataType::String { FillValue::Text(String::new()) } else { FillValue::Float(f64::NAN) };
                tx.create_array(&ArraySpec {
                    path: path.clone(),
                    dims: vec!["region".into()],
                    shape: vec![n],
                    dtype,
                    fill_value: fill,
                    layout: ArrayLayout {
                        chunks: vec![n.max(1)],
                        shard: None,
                        compression: Compression::Zstd { level: 3 },
                    },
                    attrs,
                })
                .await?;
            }
        }
        tx.write_block(&path, Arc::new(Block { region: Hyperslab::full(&[n]), data })).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_become_runs() {
        assert_eq!(contiguous(&[3, 4, 5, 9, 10, 20], 12), vec![(3, 6), (9, 11)]);
        assert_eq!(contiguous(&[], 5), vec![]);
        assert_eq!(series_path("basins", "tas", Statistic::ValidFraction), "regions/basins/tas_valid_fraction");
    }
}
