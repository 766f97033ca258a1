//! The time-major copy: a second layout of a dataset's gridded variables,
//! chunked for long series, kept in step with the data by the commit that
//! writes it (a [`Derivation`]).
//!
//! One chunking cannot serve maps and long series at once. The map layout
//! (balanced chunks, see `ChunkPolicy`) reads a 10-year
//! daily point series from 46 chunks of 80 steps; the copy keeps chunks of a
//! long **block** of the growing axis (a year of daily steps, a day of
//! 5-minute composites) over a small spatial **tile**, so the same series is
//! 10 chunks of a few hundred kB each. Layout, beside the data in the same
//! repository (xarray: `open_zarr(..., group="time_major")`):
//!
//! ```text
//! time_major/<var>    the variable, same dims, dtype, attributes and values;
//!                     chunks (block, all lead times, 1 level/member, tile, tile)
//! time_major/<dim>    its coordinates (the growing one cut to the copy's length)
//! ```
//!
//! # Kept in step, and its lag
//!
//! The copy holds **whole blocks only**: steps `0..covered` with `covered`
//! the largest multiple of the block not beyond the data. An append that
//! does not complete a block writes nothing to the copy (one metadata read);
//! the append that completes one writes that block, every tile (reading the
//! block's steps from the map layout in tile-aligned strips of at most
//! `STRIP_BYTES` decoded, so memory is bounded whatever the map chunks; a
//! map chunk taller than a strip is read once per strip it crosses); a
//! correction or late step inside the covered steps rewrites the blocks it
//! touches; a late file that moves steps rewrites the copy. Per appended
//! step that is one step's data read and written again, amortised, and the
//! copy trails the data by fewer than `block` steps. Readers never see the
//! two disagree: the copy's steps are rewritten in the commit that changes
//! them, and the steps after `covered` are read from the map layout (the
//! planner combines both, see [`crate::query::layouts`]).
//!
//! # Defaults (`datasets.<id>.time_major` in the configuration)
//!
//! - `block`: steps in a day for sub-hourly data (288 five-minute
//!   composites), in 30 days for sub-daily (720 hourly), in a year for
//!   daily to weekly (365), in ten years beyond; divided by the lead times
//!   for forecast runs (a block of runs holds all their lead times).
//! - `tile`: the side that makes a chunk about 2 MiB decoded (the map
//!   layout's target), evened out over the grid: 36 × 38 cells for a daily
//!   0.5° float32 field, 85 cells for byte radar composites.
//! - `enabled`: on when the map chunks hold fewer than a quarter of a block
//!   along the growing axis (otherwise the map layout already reads series
//!   well); a copy costs about as much storage as the data again.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::cf::{DimRole, TimeEncoding, VariableKind, dim_roles, variable_kinds};
use crate::derived::{Changes, Derivation, DerivationError, Steps};
use crate::model::{
    ArrayLayout, AttrValue, Attributes, Block, Compression, DatasetId, DatasetSchema, Hyperslab, VariableSchema,
    attr_text,
};
use crate::ports::{ArrayInfo, ArraySpec, Transaction};

/// The group holding the copy.
pub const PREFIX: &str = "time_major";

/// The attribute naming the variable a copy is of.
pub const OF_ATTR: &str = "hub_time_major_of";

/// The attribute holding the copy's block length (steps).
pub const BLOCK_ATTR: &str = "hub_time_major_block";

/// The attribute naming the growing dimension.
pub const DIM_ATTR: &str = "hub_time_major_dim";

/// Decoded bytes a chunk of the copy aims at.
const TARGET_CHUNK_BYTES: f64 = 2.0 * 1024.0 * 1024.0;

/// The copy's settings for one dataset; every field has a default (above).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeMajorSettings {
    /// On or off; the default rule when absent.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Steps of the growing axis per chunk.
    #[serde(default)]
    pub block: Option<u64>,
    /// Cells per side of a chunk's tile.
    #[serde(default)]
    pub tile: Option<u64>,
}

impl TimeMajorSettings {
    /// Checks the numbers.
    pub fn check(&self) -> Result<(), String> {
        match (self.block, self.tile) {
            (Some(0), _) => Err("time_major.block must be at least 1 step".into()),
            (_, Some(0)) => Err("time_major.tile must be at least 1 cell".into()),
            _ => Ok(()),
        }
    }
}

/// The copy of the variable at `path`.
pub fn copy_path(path: &str) -> String {
    format!("{PREFIX}/{path}")
}

/// Whether `path` is in the copy's group.
pub fn is_copy(path: &str) -> bool {
    path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with('/'))
}

/// The default block (see the module documentation) for steps `cadence_s`
/// seconds apart.
pub fn default_block(cadence_s: f64) -> u64 {
    const DAY: f64 = 86_400.0;
    if !(cadence_s.is_finite() && cadence_s > 0.0) {
        return 1;
    }
    let span = if cadence_s < 3600.0 {
        DAY
    } else if cadence_s < DAY {
        30.0 * DAY
    } else if cadence_s < 28.0 * DAY {
        365.0 * DAY
    } else {
        3650.0 * DAY
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let steps = (span / cadence_s).round().clamp(1.0, 4096.0) as u64;
    steps
}

/// How a dimension of the variable is chunked in the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Along {
    /// The growing axis: a block.
    Growing,
    /// Another time axis (lead times): whole.
    Whole,
    /// Levels, members, anything else: one per chunk.
    One,
    /// The grid's rows or columns: a tile.
    Tile,
}

fn along(roles: &[DimRole], g: usize) -> Vec<Along> {
    roles
        .iter()
        .enumerate()
        .map(|(d, r)| match r {
            _ if d == g => Along::Growing,
            DimRole::Time => Along::Whole,
            DimRole::Y | DimRole::X => Along::Tile,
            _ => Along::One,
        })
        .collect()
}

/// A side evened out over `n` cells so the last tile is not a sliver.
fn even(n: u64, side: u64) -> u64 {
    let side = side.clamp(1, n.max(1));
    let tiles = n.div_ceil(side).max(1);
    n.div_ceil(tiles)
}

/// The copy's chunk shape for a variable of `shape`.
fn copy_chunks(shape: &[u64], how: &[Along], block: u64, tile: Option<u64>, elem: u64) -> Vec<u64> {
    let whole: u64 = shape.iter().zip(how).filter(|(_, a)| **a == Along::Whole).map(|(n, _)| (*n).max(1)).product();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let side = tile.unwrap_or_else(|| {
        (TARGET_CHUNK_BYTES / (block.max(1) * whole * elem.max(1)) as f64).sqrt().round().clamp(8.0, 512.0) as u64
    });
    shape
        .iter()
        .zip(how)
        .map(|(n, a)| match a {
            Along::Growing => block.max(1),
            Along::Whole => (*n).max(1),
            Along::One => 1,
            Along::Tile => even(*n, side),
        })
        .collect()
}

/// Keeps a dataset's time-major copy in step (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct TimeMajorDerivation {
    /// The dataset's settings.
    pub settings: TimeMajorSettings,
    /// At most this many blocks per variable in one transaction (a build in
    /// rounds); `None` for ingests, which write what their steps touch.
    pub max_blocks: Option<u64>,
    /// Decoded bytes a strip of a block may hold; `None`: [`STRIP_BYTES`].
    pub strip_bytes: Option<u64>,
}

/// A gridded variable with a growing axis, as the copy sees it.
struct Source<'a> {
    array: &'a ArrayInfo,
    roles: Vec<DimRole>,
    growing: usize,
}

/// The variables a copy can be made of: data variables on a grid with a time axis.
fn sources<'a>(arrays: &'a [ArrayInfo], changes: &Changes) -> Vec<Source<'a>> {
    let own: Vec<&ArrayInfo> = arrays.iter().filter(|a| !is_copy(&a.path) && !is_derived(&a.path)).collect();
    let schema = DatasetSchema {
        groups: vec![],
        dims: vec![],
        variables: own
            .iter()
            .map(|a| VariableSchema {
                path: a.path.clone(),
                dims: a.dims.clone(),
                shape: a.shape.clone(),
                dtype: a.dtype,
                attrs: a.attrs.clone(),
                source_chunks: None,
            })
            .collect(),
        warnings: vec![],
    };
    let kinds: HashMap<String, VariableKind> = variable_kinds(&schema).into_iter().collect();
    let mut out = Vec::new();
    for (var, array) in schema.variables.iter().zip(own) {
        if kinds.get(&var.path) != Some(&VariableKind::Data) || array.dtype.size().is_none() {
            continue;
        }
        let roles = dim_roles(&schema, var);
        if !(roles.contains(&DimRole::Y) && roles.contains(&DimRole::X)) {
            continue;
        }
        let by_change = changes.dim.as_ref().and_then(|g| array.dims.iter().position(|d| d == g));
        let Some(growing) = by_change.or_else(|| roles.iter().position(|r| *r == DimRole::Time)) else { continue };
        if roles[growing] != DimRole::Time {
            continue;
        }
        out.push(Source { array, roles, growing });
    }
    out
}

/// Other derived products' arrays (region series) are not copied.
fn is_derived(path: &str) -> bool {
    path.starts_with(&format!("{}/", crate::regions::series::SERIES_PREFIX))
}

/// Seconds between the first two steps of coordinate `dim`, when it has them and time units.
async fn cadence(tx: &dyn Transaction, arrays: &[ArrayInfo], dim: &str) -> Result<Option<f64>, DerivationError> {
    let Some(coord) = arrays.iter().find(|a| a.path == dim && a.dims.len() == 1 && a.shape[0] >= 2) else {
        return Ok(None);
    };
    let Some(units) = attr_text(&coord.attrs, "units") else { return Ok(None) };
    let Ok(encoding) = TimeEncoding::from_attrs(units, attr_text(&coord.attrs, "calendar")) else { return Ok(None) };
    let crate::model::BlockData::Numeric(bytes) =
        tx.read(&coord.path, &Hyperslab { start: vec![0], shape: vec![2] }).await?
    else {
        return Ok(None);
    };
    let v = coord.dtype.to_f64_vec(&bytes);
    #[allow(clippy::cast_precision_loss)]
    let unit_s = encoding.unit.micros() as f64 / 1e6;
    Ok(v.get(1).zip(v.first()).map(|(b, a)| (b - a) * unit_s))
}

impl TimeMajorDerivation {
    /// Brings the copy up to date with `changes`: what it did, the blocks
    /// written, and whether anything changed.
    async fn bring_up_to_date(
        &self,
        tx: &dyn Transaction,
        changes: &Changes,
    ) -> Result<(String, u64, bool), DerivationError> {
        if let Err(why) = self.settings.check() {
            return Err(DerivationError::Invalid(why));
        }
        let arrays = tx.arrays().await?;
        let by_path: HashMap<&str, &ArrayInfo> = arrays.iter().map(|a| (a.path.as_str(), a)).collect();
        let mut done = Vec::new();
        let mut coords_done: BTreeSet<String> = BTreeSet::new();
        let mut written = 0u64;
        let mut group_done = false;
        let budget = self.strip_bytes.unwrap_or(STRIP_BYTES);
        for src in sources(&arrays, changes) {
            let a = src.array;
            let g = src.growing;
            let path = copy_path(&a.path);
            let copy = by_path.get(path.as_str()).copied();
            let how = along(&src.roles, g);
            let whole: u64 =
                a.shape.iter().zip(&how).filter(|(_, h)| **h == Along::Whole).map(|(n, _)| (*n).max(1)).product();
            let kept_block = copy.and_then(|c| c.attrs.get(BLOCK_ATTR)).and_then(AttrValue::as_f64);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let block = match (kept_block, self.settings.block) {
                (Some(b), _) if b >= 1.0 => b as u64,
                (_, Some(b)) => b,
                _ => match cadence(tx, &arrays, &a.dims[g]).await? {
                    Some(s) => (default_block(s) / whole).max(1),
                    None => continue,
                },
            };
            let on =
                self.settings.enabled.unwrap_or_else(|| a.chunks.get(g).is_some_and(|c| c.saturating_mul(4) <= block));
            let n = a.shape[g];
            let covered = if on { n / block * block } else { 0 };
            let elem = a.dtype.size().unwrap_or(8) as u64;
            let chunks = copy_chunks(&a.shape, &how, block, self.settings.tile, elem);
            let mut want_shape = a.shape.clone();
            want_shape[g] = covered;
            // A copy that no longer fits the variable (another grid, levels
            // added, other settings) is made again.
            let fits = copy.filter(|c| {
                c.dims == a.dims
                    && c.dtype == a.dtype
                    && c.chunks == chunks
                    && c.shape.iter().zip(&a.shape).enumerate().all(|(d, (x, y))| d == g || x == y)
                    && c.shape[g] <= n
            });
            let old = fits.map_or(0, |c| c.shape[g]);
            if copy.is_none() && covered == 0 {
                continue;
            }
            let mut blocks: BTreeSet<u64> = (old / block..covered / block).collect();
            if fits.is_none() || covered < old {
                blocks.extend(0..covered / block);
            } else if changes.touches(&a.path) {
                match &changes.steps {
                    Steps::All => blocks.extend(0..covered / block),
                    Steps::Some(steps) => blocks.extend(steps.iter().filter(|s| **s < covered).map(|s| s / block)),
                }
            }
            if fits.is_some() && old == covered && blocks.is_empty() {
                continue;
            }
            // A build in rounds writes the first blocks still missing (no
            // step changed: they are the blocks after the copy's end).
            let mut covered = covered;
            if let Some(cap) = self.max_blocks
                && blocks.len() as u64 > cap
            {
                blocks = blocks.into_iter().take(usize::try_from(cap).unwrap_or(usize::MAX)).collect();
                covered = blocks.last().map_or(0, |b| (b + 1) * block);
                want_shape[g] = covered;
            }
            if fits.is_none() || covered < old {
                if !group_done {
                    tx.put_group(PREFIX, &group_attrs()).await?;
                    group_done = true;
                }
                tx.create_array(&copy_spec(a, &path, &want_shape, &chunks, (g, block))).await?;
            } else if old != covered {
                tx.resize(&path, &want_shape).await?;
            }
            for (d, dim) in a.dims.iter().enumerate() {
                let key = format!("{dim}:{}", if d == g { covered } else { a.shape[d] });
                if coords_done.insert(key) {
                    copy_coordinate(tx, &by_path, dim, if d == g { Some(covered) } else { None }).await?;
                }
            }
            for b in &blocks {
                write_block_of(tx, a, &path, (&how, &chunks), g, (b * block, block), budget).await?;
            }
            written += blocks.len() as u64;
            done.push(format!("{}: {covered} of {n} steps in blocks of {block} ({} written)", a.path, blocks.len()));
        }
        let text =
            if done.is_empty() { format!("{PREFIX}: nothing to do") } else { format!("{PREFIX}: {}", done.join("; ")) };
        Ok((text, written, !done.is_empty()))
    }
}

#[async_trait]
impl Derivation for TimeMajorDerivation {
    fn name(&self) -> String {
        PREFIX.to_string()
    }

    async fn update(&self, _: &DatasetId, tx: &dyn Transaction, changes: &Changes) -> Result<String, DerivationError> {
        Ok(self.bring_up_to_date(tx, changes).await?.0)
    }
}

/// What a build did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BuildRun {
    /// The dataset.
    pub dataset: String,
    /// Each commit's snapshot and what it wrote.
    pub commits: Vec<(String, String)>,
    /// Whether the copy is complete (`false`: the commit limit stopped it;
    /// run again to go on).
    pub finished: bool,
}

/// Builds or extends the copy of a dataset that holds data already (`hub
/// layout build`, the maintain function's `layout` task), on (`enabled` is
/// taken as true): `blocks_per_commit` blocks per variable per commit, so
/// memory and each commit stay bounded and an interrupted build resumes
/// where its last commit ended; at most `max_commits` commits when given (a
/// Lambda invocation's share). A copy in step is left as it is (no commit).
pub async fn build(
    repo: &dyn crate::ports::Repository,
    dataset: &DatasetId,
    settings: TimeMajorSettings,
    blocks_per_commit: u64,
    max_commits: Option<usize>,
) -> Result<BuildRun, DerivationError> {
    if !repo.datasets().await?.contains(dataset) {
        return Err(DerivationError::Repository(crate::ports::RepoError::NotFound(format!("dataset {dataset}"))));
    }
    let settings = TimeMajorSettings { enabled: Some(true), ..settings };
    let d = TimeMajorDerivation { settings, max_blocks: Some(blocks_per_commit.max(1)), strip_bytes: None };
    // Nothing changed: only what is missing is written.
    let changes = Changes { dim: None, steps: Steps::Some(vec![]), variables: None };
    let mut run = BuildRun { dataset: dataset.to_string(), ..BuildRun::default() };
    loop {
        if max_commits.is_some_and(|m| run.commits.len() >= m) {
            return Ok(run);
        }
        let tx = repo.begin(dataset).await?;
        let (text, written, changed) = d.bring_up_to_date(tx.as_ref(), &changes).await?;
        if !changed {
            run.finished = true;
            return Ok(run);
        }
        let snapshot = tx.commit(crate::derived::commit_request(PREFIX)).await?;
        run.commits.push((snapshot, text));
        if written == 0 {
            run.finished = true;
            return Ok(run);
        }
    }
}

fn group_attrs() -> Attributes {
    Attributes::from_iter([(
        "description".to_string(),
        AttrValue::text(
            "time-major copy of the dataset's variables (chunks of a long block of steps over a small tile), \
             kept in step by the hub: each variable holds the dataset's values for its first steps",
        ),
    )])
}

fn copy_spec(a: &ArrayInfo, path: &str, shape: &[u64], chunks: &[u64], (g, block): (usize, u64)) -> ArraySpec {
    let mut attrs: Attributes = a.attrs.clone();
    attrs.insert(OF_ATTR.into(), AttrValue::text(a.path.clone()));
    attrs.insert(DIM_ATTR.into(), AttrValue::text(a.dims[g].clone()));
    #[allow(clippy::cast_precision_loss)]
    attrs.insert(BLOCK_ATTR.into(), AttrValue::f64(block as f64));
    ArraySpec {
        path: path.to_string(),
        dims: a.dims.clone(),
        shape: shape.to_vec(),
        dtype: a.dtype,
        fill_value: a.fill_value.clone(),
        layout: ArrayLayout { chunks: chunks.to_vec(), shard: None, compression: Compression::default() },
        attrs,
    }
}

/// Copies coordinate `dim` into the group, its first `len` values when given.
async fn copy_coordinate(
    tx: &dyn Transaction,
    arrays: &HashMap<&str, &ArrayInfo>,
    dim: &str,
    len: Option<u64>,
) -> Result<(), DerivationError> {
    let Some(src) = arrays.get(dim).filter(|a| a.dims.len() == 1) else { return Ok(()) };
    let n = len.unwrap_or(src.shape[0]).min(src.shape[0]);
    let path = format!("{PREFIX}/{dim}");
    match arrays.get(path.as_str()) {
        Some(c) if c.shape == [n] => {}
        Some(c) if c.shape[0] < n => tx.resize(&path, &[n]).await?,
        _ => {
            tx.create_array(&ArraySpec {
                path: path.clone(),
                dims: src.dims.clone(),
                shape: vec![n],
                dtype: src.dtype,
                fill_value: src.fill_value.clone(),
                layout: ArrayLayout {
                    chunks: vec![src.chunks.first().copied().unwrap_or(n).max(1)],
                    shard: None,
                    compression: Compression::default(),
                },
                attrs: src.attrs.clone(),
            })
            .await?;
        }
    }
    if n > 0 {
        let region = Hyperslab { start: vec![0], shape: vec![n] };
        let data = tx.read(&src.path, &region).await?;
        tx.write_block(&path, Arc::new(Block { region, data })).await?;
    }
    Ok(())
}

/// Decoded bytes one strip of a block may hold while the copy is written:
/// the same budget as an ingest's slab, so writing the copy needs no more
/// memory than the ingest it follows.
pub const STRIP_BYTES: u64 = 96 << 20;

/// A rectangle of the grid (rows `y0..y0+ny`, columns `x0..x0+nx`) a block
/// is read and written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Strip {
    y0: u64,
    ny: u64,
    x0: u64,
    nx: u64,
}

/// The strips one block of the copy is written in: aligned to the copy's
/// tiles (every copy chunk written whole, once), rows of whole map chunks
/// where they fit in `budget` (each map chunk read once), fewer tile rows
/// where they do not, and groups of tile columns where one tile row across
/// the grid is over the budget. `(ny, nx)` is the grid, `tile` the copy's
/// tile, `map_y` the map chunks' rows and `cell_bytes` the bytes a grid cell
/// holds over the block. Map chunks taller than a strip are read once per
/// strip they cross: a block of full-map radar chunks larger than the budget
/// is read `block bytes / budget` times over, the price of bounded memory.
fn strips((ny, nx): (u64, u64), (tile_y, tile_x): (u64, u64), map_y: u64, cell_bytes: u64, budget: u64) -> Vec<Strip> {
    let (tile_y, tile_x) = (tile_y.max(1), tile_x.max(1));
    let row_bytes = nx.max(1).saturating_mul(cell_bytes.max(1));
    let by_map = tile_y.saturating_mul(map_y.max(1).div_ceil(tile_y));
    let rows =
        if by_map.saturating_mul(row_bytes) <= budget { by_map } else { (budget / row_bytes / tile_y).max(1) * tile_y };
    let cols = if rows.saturating_mul(row_bytes) <= budget {
        nx.max(1)
    } else {
        (budget / rows.saturating_mul(cell_bytes.max(1)) / tile_x).max(1) * tile_x
    };
    let mut out = Vec::new();
    let mut y0 = 0;
    while y0 < ny {
        let mut x0 = 0;
        while x0 < nx {
            out.push(Strip { y0, ny: rows.min(ny - y0), x0, nx: cols.min(nx - x0) });
            x0 += cols;
        }
        y0 += rows;
    }
    out
}

/// Writes steps `t..t+n` of the copy: for each level or member, the block
/// in [`strips`] of at most `budget` bytes decoded.
async fn write_block_of(
    tx: &dyn Transaction,
    a: &ArrayInfo,
    path: &str,
    (how, chunks): (&[Along], &[u64]),
    g: usize,
    (t, n): (u64, u64),
    budget: u64,
) -> Result<(), DerivationError> {
    let tiles: Vec<usize> = (0..how.len()).filter(|d| how[*d] == Along::Tile).collect();
    let (Some(&y), Some(&x)) = (tiles.first(), tiles.last()) else { return Ok(()) };
    let ones: Vec<usize> = (0..how.len()).filter(|d| how[*d] == Along::One).collect();
    let combos: u64 = ones.iter().map(|d| a.shape[*d]).product();
    let whole: u64 = (0..how.len()).filter(|d| how[*d] == Along::Whole).map(|d| a.shape[d].max(1)).product();
    let cell_bytes = n.saturating_mul(whole).saturating_mul(a.dtype.size().unwrap_or(8) as u64);
    let map_y = a.chunks.get(y).copied().unwrap_or(1);
    let plan = strips((a.shape[y], a.shape[x]), (chunks[y], chunks[x]), map_y, cell_bytes, budget);
    for k in 0..combos {
        let mut slab = Hyperslab::full(&a.shape);
        slab.start[g] = t;
        slab.shape[g] = n;
        let mut rem = k;
        for d in ones.iter().rev() {
            slab.start[*d] = rem % a.shape[*d];
            slab.shape[*d] = 1;
            rem /= a.shape[*d];
        }
        for s in &plan {
            let mut strip = slab.clone();
            (strip.start[y], strip.shape[y]) = (s.y0, s.ny);
            if x != y {
                (strip.start[x], strip.shape[x]) = (s.x0, s.nx);
            }
            let data = tx.read(&a.path, &strip).await?;
            tx.write_block(path, Arc::new(Block { region: strip, data })).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_cadence() {
        assert_eq!(default_block(300.0), 288, "five-minute composites: a day");
        assert_eq!(default_block(3600.0), 720, "hourly: 30 days");
        assert_eq!(default_block(86_400.0), 365, "daily: a year");
        assert_eq!(default_block(30.0 * 86_400.0), 122, "monthly: ten years");
        assert_eq!(default_block(f64::NAN), 1);
    }

    #[test]
    fn chunks_are_about_two_mebibytes_and_even() {
        let how = [Along::Growing, Along::Tile, Along::Tile];
        let c = copy_chunks(&[3650, 360, 720], &how, 365, None, 4);
        assert_eq!(c, vec![365, 36, 38]);
        let bytes = c.iter().product::<u64>() * 4;
        assert!((1_500_000..2_500_000).contains(&bytes), "{bytes}");
        // Byte radar, a day of 5-minute steps.
        let c = copy_chunks(&[10_000, 760, 1226], &how, 288, None, 1);
        assert_eq!(c, vec![288, 85, 82]);
        // Forecast runs: all lead times, one level, a given tile.
        let how = [Along::Growing, Along::Whole, Along::One, Along::Tile, Along::Tile];
        assert_eq!(copy_chunks(&[40, 3, 4, 90, 180], &how, 2, Some(32), 4), vec![2, 3, 1, 30, 30]);
        assert_eq!(even(10, 64), 10);
    }

    #[test]
    fn copies_are_named_in_their_group() {
        assert_eq!(copy_path("pr"), "time_major/pr");
        assert!(is_copy("time_major/pr") && !is_copy("time_major_pr") && !is_copy("pr"));
    }

    #[test]
    fn strips_are_tile_aligned_and_bounded() {
        let covers = |plan: &[Strip], (ny, nx): (u64, u64)| {
            let cells: u64 = plan.iter().map(|s| s.ny * s.nx).sum();
            cells == ny * nx && plan.iter().all(|s| s.y0 + s.ny <= ny && s.x0 + s.nx <= nx)
        };
        // Daily 0.5°: rows of whole map chunks (72) fit, over the whole width.
        let plan = strips((360, 720), (36, 38), 72, 365 * 4, STRIP_BYTES);
        assert_eq!(plan.len(), 5);
        assert!(plan.iter().all(|s| s.ny == 72 && s.nx == 720 && s.y0 % 36 == 0));
        assert!(covers(&plan, (360, 720)));
        // Full-map byte radar chunks, a day of steps (268 MB): tile rows
        // under the budget, so the map chunks are read a few times over.
        let plan = strips((760, 1226), (85, 82), 760, 288, STRIP_BYTES);
        assert!(plan.iter().all(|s| s.y0 % 85 == 0 && s.nx == 1226 && s.ny * 1226 * 288 <= STRIP_BYTES));
        assert_eq!(plan.len(), 3);
        assert!(covers(&plan, (760, 1226)));
        // One tile row across the grid over the budget: columns split too.
        let plan = strips((10_000, 20_000), (64, 64), 10_000, 365 * 8, STRIP_BYTES);
        assert!(
            plan.iter().all(|s| s.ny <= 64 && s.y0 % 64 == 0 && s.x0 % 64 == 0 && s.ny * s.nx * 365 * 8 <= STRIP_BYTES)
        );
        assert!(covers(&plan, (10_000, 20_000)));
        // A tile over the budget on its own is still written whole.
        let plan = strips((100, 100), (50, 50), 100, 1 << 20, 1 << 20);
        assert!(plan.iter().all(|s| s.ny == 50 && s.nx == 50) && covers(&plan, (100, 100)));
    }
}
