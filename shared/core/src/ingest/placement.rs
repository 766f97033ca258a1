//! Putting values where they belong in the stored arrays: slabs of a file
//! at their (possibly scattered) place along growing axes, partial write
//! units merged with what is stored, and stored steps moved up to make room
//! for late ones. The arithmetic is pure (`pieces`, `hull`, `move_windows`)
//! and unit-tested; the functions around it only read and write.

use std::collections::HashMap;
use std::sync::Arc;

use super::failure::{Failure, RejectionKind};
use super::write_plan::{ArrayJob, AxisMove, Target};
use super::{SlabPlan, StepMove, target_runs};
use crate::model::{Block, BlockData, DataType, Hyperslab, copy_subregion, paste_subregion};
use crate::ports::{ArrayInfo, RepoError, Transaction, WriteStats};

/// The pieces of a source hyperslab that land on consecutive target indices:
/// (hyperslab in the file, hyperslab in the dataset). `maps[d]`, when given,
/// says where each source index along `d` lands; runs of consecutive
/// targets become one piece each, and pieces multiply across dimensions.
pub(crate) fn pieces(slab: &Hyperslab, maps: &[Option<Arc<Vec<u64>>>]) -> Vec<(Hyperslab, Hyperslab)> {
    let mut out = vec![(slab.clone(), slab.clone())];
    for (d, map) in maps.iter().enumerate() {
        let Some(map) = map else { continue };
        let runs = target_runs(map, slab.start[d], slab.shape[d]);
        out = out
            .into_iter()
            .flat_map(|(src, dst)| {
                runs.iter().map(move |&(s, t, n)| {
                    let (mut a, mut b) = (src.clone(), dst.clone());
                    a.start[d] = s;
                    a.shape[d] = n;
                    b.start[d] = t;
                    b.shape[d] = n;
                    (a, b)
                })
            })
            .collect();
    }
    out
}

/// The smallest run of whole write units covering `slab`: along each
/// dimension from the unit boundary at or below its start to the boundary
/// at or above its end, clipped to the array's length (the last unit of an
/// array may be short). A slab equal to its hull is written as it is; any
/// other is merged into the stored hull first.
pub(crate) fn hull(slab: &Hyperslab, unit: &[u64], array_shape: &[u64]) -> Hyperslab {
    let mut start = Vec::with_capacity(slab.start.len());
    let mut shape = Vec::with_capacity(slab.start.len());
    for (((s, n), u), len) in slab.start.iter().zip(&slab.shape).zip(unit).zip(array_shape) {
        let u = (*u).max(1);
        let lo = s / u * u;
        start.push(lo);
        shape.push(((s + n).div_ceil(u) * u).min(*len) - lo);
    }
    Hyperslab { start, shape }
}

/// The windows `[start, end)` along the moving axis in which stored steps
/// are rewritten to make room for late ones: whole write units of `unit`
/// steps, from the new end of the axis *down* to the unit holding the first
/// moved step. Going backwards is what makes the move safe in place: a step
/// only ever moves up, so each window reads sources at or below itself that
/// no earlier (higher) window has overwritten yet.
pub(crate) fn move_windows(new_len: u64, first_moved: u64, unit: u64) -> Vec<(u64, u64)> {
    let u = unit.max(1);
    let floor = first_moved / u * u;
    let mut out = Vec::new();
    let mut end = new_len;
    while end > floor {
        let start = ((end - 1) / u * u).max(floor);
        out.push((start, end));
        end = start;
    }
    out
}

/// Grows every stored array that has the axis and moves its stored steps up
/// to make room for late ones, unit by unit from the end backwards.
pub(crate) async fn apply_move(
    tx: &dyn Transaction,
    axis: &AxisMove,
    existing: &[ArrayInfo],
    budget: u64,
) -> Result<(), Failure> {
    // Shapes as they are now: another axis may have grown an array already.
    let current: HashMap<String, Vec<u64>> = tx.arrays().await?.into_iter().map(|a| (a.path, a.shape)).collect();
    for info in existing {
        // The time-major copy holds whole blocks only: its derivation sizes
        // it (grown here, it would no longer match its blocks and be rebuilt).
        if crate::time_major::is_copy(&info.path) {
            continue;
        }
        let Some(dim) = info.dims.iter().position(|d| *d == axis.dim) else { continue };
        let mut shape = current.get(&info.path).cloned().unwrap_or_else(|| info.shape.clone());
        shape[dim] = axis.new_len;
        tx.resize(&info.path, &shape).await?;
        let Some(first) = axis.first_moved else { continue };
        if info.dtype == DataType::String {
            return Err(Failure::permanent(
                RejectionKind::Unsupported,
                format!("{}: text arrays cannot make room for a late step", info.path),
            ));
        }
        let elem = info.dtype.size().unwrap_or(1);
        let unit: Vec<u64> = info.shard.clone().unwrap_or_else(|| info.chunks.clone());
        let fill = info.fill_value.to_le_bytes(info.dtype);
        let mv = StepMove { dim, new_to_old: &axis.new_to_old, first_moved: first };
        // Whole units move by relabelling where the store can: no copy.
        if let Some((first_unit, moves)) = mv.unit_relabel(unit[dim], axis.new_len)
            && tx.relabel(&info.path, dim, first_unit, &moves).await?
        {
            continue;
        }
        for (w_start, w_end) in move_windows(axis.new_len, first, unit[dim]) {
            let mut window_shape = shape.clone();
            window_shape[dim] = w_end - w_start;
            let tiles = SlabPlan::new(&window_shape, &unit, None, elem as u64, budget);
            for tile in tiles.regions() {
                let mut dst = tile.clone();
                dst.start[dim] += w_start;
                let mut out: Vec<u8> =
                    fill.iter().copied().cycle().take(usize::try_from(dst.len()).unwrap_or(0) * elem).collect();
                if let Some(src) = mv.source(&dst) {
                    let BlockData::Numeric(buf) = tx.read(&info.path, &src).await? else {
                        return Err(Failure::permanent(
                            RejectionKind::Repository,
                            format!("{}: expected numbers", info.path),
                        ));
                    };
                    mv.compose(&mut out, &dst, &buf, &src, elem).ok_or_else(|| {
                        Failure::permanent(
                            RejectionKind::Internal,
                            format!("{}: moved steps do not fit {dst:?}", info.path),
                        )
                    })?;
                }
                tx.write_block(&info.path, Arc::new(Block { region: dst, data: BlockData::Numeric(out) })).await?;
            }
        }
    }
    Ok(())
}

/// Writes one slab of a source variable at its place in the dataset. Returns
/// the slab's buffer when it can be reused.
pub(crate) async fn place_block(
    tx: &dyn Transaction,
    job: &ArrayJob,
    mut block: Block,
) -> Result<(WriteStats, Option<Vec<u8>>), Failure> {
    if let (Some((from, to)), BlockData::Numeric(bytes)) = (&job.recode, &mut block.data) {
        let values = job.target.dtype.to_f64_vec(bytes);
        let values = to
            .convert(&job.path, from, &values)
            .map_err(|e| Failure::permanent(RejectionKind::Mismatch, e.to_string()))?;
        *bytes = job.target.dtype.encode_f64s(&values).ok_or_else(|| {
            Failure::permanent(
                RejectionKind::Mismatch,
                format!("{}: values do not fit {} after conversion", job.path, job.target.dtype),
            )
        })?;
    }
    let pieces = pieces(&block.region, &job.maps);
    let elem = job.target.dtype.size().unwrap_or(1);
    let mut stats = WriteStats::default();
    if let [(src, dst)] = pieces.as_slice()
        && *src == block.region
    {
        let block = Arc::new(Block { region: dst.clone(), data: block.data });
        stats += put_region(tx, &job.target, Arc::clone(&block)).await?;
        let spare = match Arc::try_unwrap(block) {
            Ok(Block { data: BlockData::Numeric(buffer), .. }) => Some(buffer),
            _ => None,
        };
        return Ok((stats, spare));
    }
    for (src, dst) in pieces {
        let data = match &block.data {
            BlockData::Numeric(bytes) => {
                BlockData::Numeric(copy_subregion(bytes, &block.region, &src, elem).ok_or_else(|| {
                    Failure::permanent(RejectionKind::Internal, format!("{}: piece outside slab", job.path))
                })?)
            }
            BlockData::Strings(values) => {
                let mut out = Vec::new();
                for (offset, len) in crate::model::runs(&block.region, &src).unwrap_or_default() {
                    out.extend(values.iter().skip(offset).take(len).cloned());
                }
                BlockData::Strings(out)
            }
        };
        stats += put_region(tx, &job.target, Arc::new(Block { region: dst, data })).await?;
    }
    Ok((stats, None))
}

/// Writes a block anywhere in an array: whole write units are written as
/// they are; a unit the block covers only in part is read, patched and
/// written whole (the transaction sees its own writes).
pub(crate) async fn put_region(
    tx: &dyn Transaction,
    target: &Target,
    block: impl Into<Arc<Block>>,
) -> Result<WriteStats, Failure> {
    patch_region(tx, &target.path, target.dtype, target.unit(), &target.shape, block.into())
        .await
        .map_err(Failure::from)
}

/// [`put_region`] for any array (`unit` its write unit, `shape` its shape):
/// the derived products write through it too.
pub(crate) async fn patch_region(
    tx: &dyn Transaction,
    path: &str,
    dtype: DataType,
    unit: &[u64],
    shape: &[u64],
    block: Arc<Block>,
) -> Result<WriteStats, RepoError> {
    let region = &block.region;
    let hull = hull(region, unit, shape);
    if hull == *region || matches!(block.data, BlockData::Strings(_)) {
        return tx.write_block(path, block).await;
    }
    let elem = dtype.size().unwrap_or(1);
    let BlockData::Numeric(mut whole) = tx.read(path, &hull).await? else {
        return Err(RepoError::corrupt(format!("{path}: expected numbers")));
    };
    let BlockData::Numeric(part) = &block.data else {
        return Err(RepoError::Invalid(format!("{path}: a text block in the numeric path")));
    };
    paste_subregion(&mut whole, &hull, part, region, elem)
        .ok_or_else(|| RepoError::Invalid(format!("{path}: block {region:?} outside {hull:?}")))?;
    tx.write_block(path, Arc::new(Block { region: hull, data: BlockData::Numeric(whole) })).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slab(start: &[u64], shape: &[u64]) -> Hyperslab {
        Hyperslab { start: start.to_vec(), shape: shape.to_vec() }
    }

    #[test]
    fn a_slab_on_unit_boundaries_is_its_own_hull() {
        let s = slab(&[80, 0, 0], &[80, 72, 80]);
        assert_eq!(hull(&s, &[80, 72, 80], &[3650, 360, 720]), s);
    }

    #[test]
    fn a_partial_slab_grows_to_whole_units_clipped_at_the_array_end() {
        // One time step inside the second unit, at the array's short last unit in x.
        let s = slab(&[85, 10, 700], &[1, 5, 20]);
        let h = hull(&s, &[80, 72, 80], &[100, 360, 720]);
        // Time: unit 80..160 clipped to the 100 steps; y: 0..72; x: 640..720.
        assert_eq!(h, slab(&[80, 0, 640], &[20, 72, 80]));
    }

    #[test]
    fn move_windows_run_backwards_over_whole_units_down_to_the_first_moved_step() {
        // 250 steps after the insert, units of 100, first moved step 130.
        assert_eq!(move_windows(250, 130, 100), vec![(200, 250), (100, 200)]);
        // The first moved step on a boundary: its unit is the last window.
        assert_eq!(move_windows(300, 200, 100), vec![(200, 300)]);
        // Unit 1: one window per step, top down.
        assert_eq!(move_windows(5, 3, 1), vec![(4, 5), (3, 4)]);
        // A zero unit is treated as 1 rather than looping forever.
        assert_eq!(move_windows(2, 1, 0), vec![(1, 2)]);
    }

    #[test]
    fn pieces_split_where_the_map_is_not_consecutive() {
        // Source steps 0..4 land at 0, 1, 5, 6 (a late pair after an insert gap).
        let map = Arc::new(vec![0u64, 1, 5, 6]);
        let p = pieces(&slab(&[0, 0], &[4, 3]), &[Some(map), None]);
        assert_eq!(
            p,
            vec![(slab(&[0, 0], &[2, 3]), slab(&[0, 0], &[2, 3])), (slab(&[2, 0], &[2, 3]), slab(&[5, 0], &[2, 3]))]
        );
        // No maps: the slab as it is.
        let s = slab(&[3, 4], &[2, 2]);
        assert_eq!(pieces(&s, &[None, None]), vec![(s.clone(), s)]);
    }

    #[test]
    fn pieces_multiply_across_mapped_dimensions() {
        let swap = Arc::new(vec![1u64, 0]);
        let p = pieces(&slab(&[0, 0], &[2, 2]), &[Some(Arc::clone(&swap)), Some(swap)]);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p.contains(&(slab(&[0, 0], &[1, 1]), slab(&[1, 1], &[1, 1]))));
        assert!(p.contains(&(slab(&[1, 1], &[1, 1]), slab(&[0, 0], &[1, 1]))));
    }
}
