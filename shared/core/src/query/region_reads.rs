//! Region statistics computed at query time (ad hoc polygons, sets without
//! stored series, forecast instances). The region's window is read in
//! batches along its longest axis, each batch whole chunks of that axis (no
//! chunk is decoded twice), several batches in flight, and each batch is
//! reduced as it arrives by the kernel the stored series use
//! ([`reduce_block`]): the region's cells are taken straight from the block
//! as stored, in the weights' order, so computed and stored series agree to
//! the bit. Nothing the size of the window × the series is ever held: memory
//! is bounded by the batches in flight.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::error::QueryError;
use super::execute::{Limits, grid_of, instance_selections, parameters, read_picks, select_axes};
use super::extraction::OutAxis;
use super::layouts::LayoutRead;
use super::plan::{Cost, ReadPlan};
use super::request::EdrQuery;
use super::view::{DatasetView, Parameter};
use crate::analytics::{RegionSeries, SeriesColumn, Statistic, StoredBlock, reduce_block};
use crate::cf::DimRole;
use crate::ports::DatasetReader;
use crate::regions::RegionWeights;

/// Values one batch holds at most, unless a single chunk of the split axis
/// is larger (8 MB as `f64`): big enough that a batch is many chunks
/// decoded in parallel, small enough that the batches in flight stay small.
const BATCH_VALUES: usize = 1 << 20;

/// The statistics of a region over a query's axes, computed from the data.
pub(crate) async fn computed_series(
    view: &DatasetView,
    reader: &dyn DatasetReader,
    query: &EdrQuery,
    weights: &RegionWeights,
    stats: &[Statistic],
    limits: &Limits<'_>,
) -> Result<RegionSeries, QueryError> {
    let (selections, _) = instance_selections(view, query)?;
    let params = parameters(view, selections.parameters.as_deref())?;
    let grid = grid_of(view, params[0])?;
    let cells: Vec<(usize, usize, f32)> = weights.cells.iter().map(|c| (c.j, c.i, c.fraction as f32)).collect();
    let window = grid
        .cells_window(&cells)
        .ok_or_else(|| QueryError::bad("coords", "the region does not touch the grid: no cell overlaps it"))?;
    let axes = select_axes(view, params[0], &selections)?;
    let positions: usize = axes.iter().map(|a| a.picked.len()).product();

    // The whole read is priced before anything is read; the answer is a few
    // values per position.
    let split = split_axis(params[0], &axes);
    // The time-major copy serves when the batches run along its growing axis.
    let plans: Vec<LayoutRead> = params
        .iter()
        .map(|p| {
            let picks = read_picks(p, &axes, window.js.clone(), window.is.clone());
            match (split, &p.time_major) {
                (Some((_, d)), Some(c)) if c.dim == d => LayoutRead::choose(p, picks),
                _ => LayoutRead::map(p, picks),
            }
        })
        .collect::<Result<_, _>>()?;
    let mut cost = Cost::default();
    for plan in &plans {
        cost += plan.cost();
    }
    cost.answer_bytes = (positions * stats.len() * params.len()) as u64 * limits.answer_bytes_per_value;
    cost.check(limits.budget)?;

    // A cell's place in the window's plane; the window's columns may wrap
    // round a global grid's seam.
    let col_of: std::collections::HashMap<usize, usize> = window.is.iter().enumerate().map(|(k, i)| (*i, k)).collect();
    let plane: Vec<(usize, usize)> = weights
        .cells
        .iter()
        .map(|c| Some((c.j.checked_sub(*window.js.first()?)?, *col_of.get(&c.i)?)))
        .collect::<Option<_>>()
        .ok_or_else(|| QueryError::Inconsistent("the window does not hold every weighted cell".into()))?;
    let areas: Arc<[f64]> = weights.cells.iter().map(|c| c.area_m2).collect();
    let plane: Arc<[(usize, usize)]> = plane.into();
    let stats: Arc<[Statistic]> = stats.into();

    let jobs: Vec<(usize, Batch)> = plans
        .iter()
        .enumerate()
        .flat_map(|(pi, read)| {
            read.parts.iter().flat_map(move |(plan, at)| batches(plan, split, *at).map(move |b| (pi, b)))
        })
        .collect();
    let chosen = &params;
    let reduced = futures::stream::iter(jobs.into_iter().map(|(pi, batch)| {
        let (plane, areas, stats) = (plane.clone(), areas.clone(), stats.clone());
        async move {
            let p = chosen[pi];
            let bytes = batch.plan.read_raw(reader, limits.concurrency).await?;
            let (shape, dtype) = (batch.plan.shape(), batch.plan.dtype);
            let (y, x, decoding) = (p.dim_with(DimRole::Y), p.dim_with(DimRole::X), p.decoding.clone());
            // The reduction is the query's CPU work: off the async task, so
            // the batches in flight are reduced on every core.
            let out = tokio::task::spawn_blocking(move || {
                let block = StoredBlock { bytes: &bytes, dtype, shape: &shape, y, x };
                let offsets: Vec<usize> = plane.iter().map(|(row, col)| block.cell_offset(*row, *col)).collect();
                reduce_block(&block, &offsets, &areas, |v| decoding.decode(v), &stats)
            })
            .await
            .map_err(|e| QueryError::Inconsistent(format!("reducing a region's batch: {e}")))?;
            Ok::<_, QueryError>((pi, batch.range, out))
        }
    }))
    .buffer_unordered(limits.concurrency.max(1))
    .try_collect::<Vec<_>>()
    .await?;

    let lens: Vec<usize> = axes.iter().map(|a| a.picked.len()).collect();
    let mut columns: Vec<Vec<Option<f64>>> = vec![vec![None; positions]; params.len() * stats.len()];
    for (pi, range, out) in reduced {
        let places = places(&lens, split.map(|(a, _)| a), range);
        for (si, values) in out.into_iter().enumerate() {
            let column = &mut columns[pi * stats.len() + si];
            for (at, v) in places.iter().zip(values) {
                column[*at] = v;
            }
        }
    }
    let columns = columns
        .into_iter()
        .enumerate()
        .map(|(k, values)| {
            let (p, s) = (params[k / stats.len()], stats[k % stats.len()]);
            SeriesColumn::new(p, s, values)
        })
        .collect();
    Ok(RegionSeries {
        collection: view.id.to_string(),
        axes,
        columns,
        cells: weights.cells.len(),
        area_m2: weights.total_area_m2(),
        stored: false,
    })
}

/// One read of a batch and the picks it covers along the split axis.
struct Batch {
    plan: ReadPlan,
    range: (usize, usize),
}

/// The axis to batch along (its index among `axes` and its stored
/// dimension): the one with the most picks, the growing one in practice.
fn split_axis(param: &Parameter, axes: &[OutAxis]) -> Option<(usize, usize)> {
    let dims: Vec<usize> =
        param.roles.iter().enumerate().filter(|(_, r)| !matches!(r, DimRole::Y | DimRole::X)).map(|(d, _)| d).collect();
    let (a, _) = axes.iter().enumerate().filter(|(_, a)| a.picked.len() > 1).max_by_key(|(_, a)| a.picked.len())?;
    Some((a, *dims.get(a)?))
}

/// The batches of one plan: runs of picks along the split axis that end at
/// chunk boundaries, each up to about [`BATCH_VALUES`] values; the plan's
/// picks start at `at` along that axis in the answer.
fn batches(plan: &ReadPlan, split: Option<(usize, usize)>, at: usize) -> impl Iterator<Item = Batch> {
    let Some((_, dim)) = split else { return vec![Batch { plan: plan.clone(), range: (0, 0) }].into_iter() };
    let picks = &plan.picks[dim];
    let chunk = usize::try_from(plan.chunks().get(dim).copied().unwrap_or(1)).unwrap_or(1).max(1);
    let per_pick: usize =
        plan.picks.iter().enumerate().filter(|(d, _)| *d != dim).map(|(_, p)| p.len()).product::<usize>().max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < picks.len() {
        let mut end = start + 1;
        // Whole chunks: stop where the chunk changes once the batch is full.
        while end < picks.len()
            && (picks[end] / chunk == picks[end - 1] / chunk || (end - start + 1) * per_pick <= BATCH_VALUES)
        {
            end += 1;
        }
        let mut p = plan.clone();
        p.picks[dim] = picks[start..end].to_vec();
        out.push(Batch { plan: p, range: (at + start, at + end) });
        start = end;
    }
    out.into_iter()
}

/// Where each position of a batch goes in the answer: the batch covers
/// picks `range` of axis `split`, every pick of the others, in C order.
fn places(lens: &[usize], split: Option<usize>, range: (usize, usize)) -> Vec<usize> {
    let shape: Vec<usize> =
        lens.iter().enumerate().map(|(d, n)| if Some(d) == split { range.1 - range.0 } else { *n }).collect();
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        let mut at = 0;
        for (d, i) in idx.iter().enumerate() {
            let i = if Some(d) == split { i + range.0 } else { *i };
            at = at * lens[d] + i;
        }
        out.push(at);
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_lands_on_its_own_positions() {
        // Axes of 2 × 5 × 3 positions, the middle one split: picks 1..3.
        let at = places(&[2, 5, 3], Some(1), (1, 3));
        assert_eq!(at, vec![3, 4, 5, 6, 7, 8, 18, 19, 20, 21, 22, 23]);
        assert_eq!(places(&[], None, (0, 0)), vec![0]);
    }
}
