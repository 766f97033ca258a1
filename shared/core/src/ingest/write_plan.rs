//! The write plan: everything an ingest writes, decided before the first
//! write. For each source variable an [`ArrayJob`] (the target array, created
//! when the dataset does not hold it yet, its slabs, where each source index
//! lands); for each growing axis that gains steps an [`AxisMove`] (stored
//! steps to move up for late ones) and the merged coordinate values.
//! [`WritePlan::new`] builds it for a dataset's first file and for an append
//! alike; both create arrays through [`ArrayJob::created`].

use std::collections::HashMap;
use std::sync::Arc;

use super::failure::{Failure, axis_failure, mismatch};
use super::service::IngestSettings;
use super::{AxisEncoding, AxisMerge, SlabPlan, growing_dims};
use crate::cf::{self, VariableKind};
use crate::model::AxisReport;
use crate::model::{BlockData, DataType, DatasetSchema, Hyperslab, VariableSchema};
use crate::ports::{ArrayInfo, ArraySpec, Transaction};

/// A growing coordinate's first chunk: room for this many steps, so a long
/// series' time axis stays a handful of objects.
const GROWING_COORD_CHUNK: u64 = 4096;

/// Where a variable's values go in the dataset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    pub(crate) path: String,
    pub(crate) dims: Vec<String>,
    pub(crate) shape: Vec<u64>,
    pub(crate) dtype: DataType,
    pub(crate) chunks: Vec<u64>,
    pub(crate) shard: Option<Vec<u64>>,
}

impl Target {
    /// The write unit: the shard when sharded, else the chunk.
    pub(crate) fn unit(&self) -> &[u64] {
        self.shard.as_deref().unwrap_or(&self.chunks)
    }

    fn of_info(info: &ArrayInfo) -> Self {
        Self {
            path: info.path.clone(),
            dims: info.dims.clone(),
            shape: info.shape.clone(),
            dtype: info.dtype,
            chunks: info.chunks.clone(),
            shard: info.shard.clone(),
        }
    }
}

/// One source variable to write.
pub(crate) struct ArrayJob {
    pub(crate) path: String,
    /// The array to create first, when the dataset does not hold it yet.
    pub(crate) create: Option<ArraySpec>,
    pub(crate) target: Target,
    pub(crate) compression: String,
    pub(crate) slabs: SlabPlan,
    pub(crate) source_bytes: u64,
    /// Per dimension: where each source index lands (growing axes of an append).
    pub(crate) maps: Vec<Option<Arc<Vec<u64>>>>,
    /// Time values written in another encoding than the dataset's: (file's, dataset's).
    pub(crate) recode: Option<(AxisEncoding, AxisEncoding)>,
}

/// Stored steps to move up along one axis, in every array that has it.
pub(crate) struct AxisMove {
    pub(crate) dim: String,
    pub(crate) new_len: u64,
    pub(crate) new_to_old: Vec<Option<u64>>,
    /// First stored index that moves; `None` when the axis only grows at its end.
    pub(crate) first_moved: Option<u64>,
}

/// The merged values of a growing axis, written over its coordinate.
pub(crate) struct MergedAxis {
    pub(crate) target: Target,
    pub(crate) bytes: Vec<u8>,
}

/// Everything an ingest writes, decided before the first write.
pub(crate) struct WritePlan {
    pub(crate) jobs: Vec<ArrayJob>,
    pub(crate) moves: Vec<AxisMove>,
    pub(crate) merged_axes: Vec<MergedAxis>,
    /// What happens along each growing axis (appends only).
    pub(crate) axes: Vec<AxisReport>,
    /// What was decided about the file (a sorted first file, re-read chunks).
    pub(crate) warnings: Vec<String>,
}

impl WritePlan {
    /// What the plan changes, for the derived products: on a first file or
    /// when stored steps move (a late file), everything; else the steps of
    /// the one growing axis its jobs land on.
    pub(crate) fn changes(&self, fresh: bool) -> crate::derived::Changes {
        use crate::derived::{Changes, Steps};
        let variables = Some(self.jobs.iter().map(|j| j.path.clone()).collect());
        let moved = self.moves.iter().any(|m| m.first_moved.is_some());
        let mut growing: Vec<(String, Vec<u64>)> = Vec::new();
        for job in &self.jobs {
            for (d, map) in job.maps.iter().enumerate() {
                let (Some(map), Some(dim)) = (map, job.target.dims.get(d)) else { continue };
                match growing.iter_mut().find(|(g, _)| g == dim) {
                    Some((_, steps)) => steps.extend(map.iter().copied()),
                    None => growing.push((dim.clone(), map.to_vec())),
                }
            }
        }
        match (fresh || moved, growing.len()) {
            (false, 1) => {
                let (dim, mut steps) = growing.remove(0);
                steps.sort_unstable();
                steps.dedup();
                Changes { dim: Some(dim), steps: Steps::Some(steps), variables }
            }
            _ => Changes { dim: growing.first().map(|g| g.0.clone()), steps: Steps::All, variables },
        }
    }
}

impl ArrayJob {
    /// A job that creates its array, with the layout the policy gives the
    /// variable and `shape` (the file's, or grown along merged axes).
    #[allow(clippy::too_many_arguments)]
    fn created(
        var: &VariableSchema,
        shape: Vec<u64>,
        kind: VariableKind,
        schema: &DatasetSchema,
        settings: &IngestSettings,
        growing_coord: bool,
        maps: Vec<Option<Arc<Vec<u64>>>>,
        warnings: &mut Vec<String>,
    ) -> Self {
        let roles = cf::dim_roles(schema, var);
        let mut layout = settings.policy.layout(var, kind, &roles);
        // A growing axis' coordinate gets room to grow in one chunk.
        if growing_coord {
            layout.chunks = vec![var.shape[0].max(GROWING_COORD_CHUNK)];
            layout.shard = None;
        }
        let target = Target {
            path: var.path.clone(),
            dims: var.dims.clone(),
            shape: shape.clone(),
            dtype: var.dtype,
            chunks: layout.chunks.clone(),
            shard: layout.shard.clone(),
        };
        let spec = ArraySpec {
            path: var.path.clone(),
            dims: var.dims.clone(),
            shape,
            dtype: var.dtype,
            fill_value: cf::storage_fill(var),
            layout: layout.clone(),
            attrs: var.attrs.clone(),
        };
        let job = Self::writing(var, target, Some(spec), layout.compression.to_string(), settings, maps, None);
        if job.slabs.source_reread > 1 {
            warnings.push(format!(
                "{}: the source's chunks are larger than the memory budget allows to read at once; each is decoded {} times",
                var.path, job.slabs.source_reread
            ));
        }
        job
    }

    /// A job writing `var` into `target`, slab by slab.
    fn writing(
        var: &VariableSchema,
        target: Target,
        create: Option<ArraySpec>,
        compression: String,
        settings: &IngestSettings,
        maps: Vec<Option<Arc<Vec<u64>>>>,
        recode: Option<(AxisEncoding, AxisEncoding)>,
    ) -> Self {
        let elem = var.dtype.size().unwrap_or(64) as u64;
        let slabs =
            SlabPlan::new(&var.shape, target.unit(), var.source_chunks.as_deref(), elem, settings.slab_budget_bytes);
        Self {
            path: var.path.clone(),
            create,
            target,
            compression,
            slabs,
            source_bytes: var.len() * elem,
            maps,
            recode,
        }
    }
}

impl WritePlan {
    /// The plan of a file for the dataset `tx` writes, which holds `existing`.
    pub(crate) async fn new(
        tx: &dyn Transaction,
        existing: &[ArrayInfo],
        schema: &DatasetSchema,
        coords: &HashMap<String, Vec<f64>>,
        settings: &IngestSettings,
    ) -> Result<Self, Failure> {
        if existing.is_empty() {
            Self::fresh(schema, coords, settings)
        } else {
            Self::append(tx, existing, schema, coords, settings).await
        }
    }

    /// A dataset's first file: every variable is created as the file has it,
    /// its growing axes checked as an append checks them (finite, no repeats)
    /// and, when the file lists them out of order, its steps placed sorted, so
    /// the dataset can take appends.
    fn fresh(
        schema: &DatasetSchema,
        coords: &HashMap<String, Vec<f64>>,
        settings: &IngestSettings,
    ) -> Result<Self, Failure> {
        let mut warnings = Vec::new();
        let growing = growing_dims(schema);
        let mut sorting: HashMap<&str, Arc<Vec<u64>>> = HashMap::new();
        for dim in &growing {
            let Some(values) = coords.get(dim) else { continue };
            let merge = AxisMerge::plan(dim, &[], values).map_err(axis_failure)?;
            let identity = merge.incoming_to_new.iter().enumerate().all(|(i, &j)| i as u64 == j);
            if !identity {
                warnings.push(format!("{dim}: the file lists its values out of order; its steps are stored sorted"));
                sorting.insert(dim.as_str(), Arc::new(merge.incoming_to_new));
            }
        }
        let kinds: HashMap<String, VariableKind> = cf::variable_kinds(schema).into_iter().collect();
        let jobs = schema
            .variables
            .iter()
            .map(|var| {
                let kind = kinds.get(&var.path).copied().unwrap_or(VariableKind::Data);
                let growing_coord = growing.contains(&var.path) && var.dims.len() == 1;
                let maps = var.dims.iter().map(|d| sorting.get(d.as_str()).cloned()).collect();
                ArrayJob::created(var, var.shape.clone(), kind, schema, settings, growing_coord, maps, &mut warnings)
            })
            .collect();
        Ok(Self { jobs, moves: Vec::new(), merged_axes: Vec::new(), axes: Vec::new(), warnings })
    }

    /// A file for a dataset that holds data: its steps are merged along the
    /// growing axes; everything else must match what is stored.
    async fn append(
        tx: &dyn Transaction,
        existing: &[ArrayInfo],
        schema: &DatasetSchema,
        coords: &HashMap<String, Vec<f64>>,
        settings: &IngestSettings,
    ) -> Result<Self, Failure> {
        let mut warnings = Vec::new();
        let stored: HashMap<&str, &ArrayInfo> = existing.iter().map(|a| (a.path.as_str(), a)).collect();
        let mut merges: HashMap<String, (AxisMerge, AxisEncoding, AxisEncoding)> = HashMap::new();
        let mut axes = Vec::new();
        let mut moves = Vec::new();
        let mut merged_axes = Vec::new();
        for dim in growing_dims(schema) {
            let Some(info) = stored.get(dim.as_str()).filter(|a| a.dims == [dim.clone()]) else {
                return Err(mismatch(format!(
                    "the file has a {dim} axis the dataset does not have: it belongs to another dataset"
                )));
            };
            let Some(var) = schema.variable(&dim) else { continue };
            let incoming = coords.get(&dim).cloned().unwrap_or_default();
            let to = AxisEncoding::from_attrs(&dim, &info.attrs).map_err(|e| mismatch(e.to_string()))?;
            let from = AxisEncoding::from_attrs(&dim, &var.attrs).map_err(|e| mismatch(e.to_string()))?;
            let incoming = to.convert(&dim, &from, &incoming).map_err(|e| mismatch(e.to_string()))?;
            let data = tx.read(&dim, &Hyperslab::full(&info.shape)).await?;
            let BlockData::Numeric(bytes) = data else {
                return Err(mismatch(format!("the stored {dim} axis is not numeric")));
            };
            let merge = AxisMerge::plan(&dim, &info.dtype.to_f64_vec(&bytes), &incoming).map_err(axis_failure)?;
            let encoded = info.dtype.encode_f64s(&merge.merged).ok_or_else(|| {
                mismatch(format!(
                    "{dim}: the file's values cannot be stored as {} in {to} (a step between whole units?)",
                    info.dtype
                ))
            })?;
            let first_moved = merge.first_moved();
            axes.push(AxisReport {
                dim: dim.clone(),
                before: merge.old_to_new.len() as u64,
                inserted: merge.inserted() as u64,
                replaced: merge.replaced as u64,
                moved: first_moved.map_or(0, |f| merge.old_to_new.len() as u64 - f),
            });
            if merge.inserted() > 0 {
                moves.push(AxisMove {
                    dim: dim.clone(),
                    new_len: merge.merged.len() as u64,
                    new_to_old: merge.new_to_old(),
                    first_moved,
                });
                let mut target = Target::of_info(info);
                target.shape = vec![merge.merged.len() as u64];
                merged_axes.push(MergedAxis { target, bytes: encoded });
            }
            merges.insert(dim.clone(), (merge, from, to));
        }
        // The stored shape of an array once the axes have grown.
        let grown = |dims: &[String], shape: &[u64]| -> Vec<u64> {
            dims.iter().zip(shape).map(|(d, &n)| merges.get(d).map_or(n, |(m, _, _)| m.merged.len() as u64)).collect()
        };
        let kinds: HashMap<String, VariableKind> = cf::variable_kinds(schema).into_iter().collect();
        let mut jobs = Vec::new();
        for var in &schema.variables {
            if merges.contains_key(&var.path) {
                continue; // written from the merged values
            }
            let grows = var.dims.iter().any(|d| merges.contains_key(d));
            let maps: Vec<Option<Arc<Vec<u64>>>> =
                var.dims.iter().map(|d| merges.get(d).map(|(m, _, _)| Arc::new(m.incoming_to_new.clone()))).collect();
            let Some(info) = stored.get(var.path.as_str()) else {
                let kind = kinds.get(&var.path).copied().unwrap_or(VariableKind::Data);
                let shape = grown(&var.dims, &var.shape);
                jobs.push(ArrayJob::created(var, shape, kind, schema, settings, false, maps, &mut warnings));
                continue;
            };
            check_fits(var, info, &merges)?;
            if !grows {
                // A static variable (grid, grid mapping, station names):
                // 1-D coordinates must be the same, the rest stays.
                if let (Some(mine), true) = (coords.get(&var.path), var.dims.len() == 1) {
                    let data = tx.read(&var.path, &Hyperslab::full(&info.shape)).await?;
                    if let BlockData::Numeric(bytes) = data {
                        let theirs = info.dtype.to_f64_vec(&bytes);
                        if !same_values(mine, &theirs) {
                            return Err(mismatch(format!(
                                "{}: the file's coordinate values differ from the dataset's (another grid or levels)",
                                var.path
                            )));
                        }
                    }
                }
                continue;
            }
            let mut target = Target::of_info(info);
            target.shape = grown(&info.dims, &info.shape);
            // Time-valued variables (bounds of the time axis) follow the axis' encoding.
            let recode = var.dims.iter().find_map(|d| merges.get(d)).and_then(|(_, from, to)| {
                let mine = AxisEncoding::from_attrs(&var.path, &var.attrs).ok()?;
                (matches!(mine, AxisEncoding::Time(_)) && from != to).then(|| (from.clone(), to.clone()))
            });
            jobs.push(ArrayJob::writing(var, target, None, info.codecs.clone(), settings, maps, recode));
        }
        if jobs.is_empty() && merged_axes.is_empty() {
            return Err(mismatch(
                "the file adds nothing to the dataset: it has no time axis to append along (give its valid time in the dataset configuration: a key pattern, or TIFFTAG_DATETIME in the file)".into(),
            ));
        }
        Ok(Self { jobs, moves, merged_axes, axes, warnings })
    }
}

fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| super::append::same(*x, *y) || (x.is_nan() && y.is_nan()))
}

/// Whether a file's variable can be written into the stored array.
fn check_fits(
    var: &VariableSchema,
    info: &ArrayInfo,
    merges: &HashMap<String, (AxisMerge, AxisEncoding, AxisEncoding)>,
) -> Result<(), Failure> {
    if var.dims != info.dims {
        return Err(mismatch(format!(
            "{}: the file has dimensions {:?}, the dataset {:?}",
            var.path, var.dims, info.dims
        )));
    }
    if var.dtype != info.dtype {
        return Err(mismatch(format!("{}: the file stores {}, the dataset {}", var.path, var.dtype, info.dtype)));
    }
    for ((d, &n), &m) in var.dims.iter().zip(&var.shape).zip(&info.shape) {
        if !merges.contains_key(d) && n != m {
            return Err(mismatch(format!(
                "{}: {d} has {n} values in the file and {m} in the dataset (another grid?)",
                var.path
            )));
        }
    }
    // Packed values only mean the same with the same packing.
    for name in ["scale_factor", "add_offset", "_FillValue", "missing_value"] {
        let (a, b) = (var.attrs.get(name).and_then(|v| v.as_f64s()), info.attrs.get(name).and_then(|v| v.as_f64s()));
        if a.is_some() && !matches!((&a, &b), (Some(x), Some(y)) if same_values(x, y)) {
            return Err(mismatch(format!(
                "{}: {name} is {:?} in the file and {:?} in the dataset: values would be misread",
                var.path, a, b
            )));
        }
    }
    Ok(())
}
