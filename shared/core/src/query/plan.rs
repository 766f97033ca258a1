//! Read plans: which cells of an array a query needs, what that costs
//! (cells, bytes, chunks) and the budget it must fit; then the reads
//! themselves, through the repository port, concurrently.
//!
//! A plan picks indices per dimension (a point series picks one Y and one X
//! index and every time step). The picks become contiguous runs; each
//! combination of runs is one region read, so only the chunks the query
//! touches are fetched.

use futures::{StreamExt, TryStreamExt};

use super::select::index_runs;
use crate::model::{BlockData, DataType, Hyperslab, paste_subregion};
use crate::ports::{ArrayInfo, DatasetReader, RepoError};

/// Limits on what one request may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Values returned.
    pub max_cells: u64,
    /// Bytes decoded from storage (whole chunks count).
    pub max_bytes: u64,
    /// Chunks fetched.
    pub max_chunks: u64,
    /// Bytes of the answer as encoded (estimated from the values and the
    /// format before anything is read): what the answer and the memory to
    /// build it cost, which the reads alone do not tell.
    pub max_answer_bytes: u64,
}

impl Default for Budget {
    /// 50 M values, 1 GiB decoded, 4096 chunks: a 10-year daily series of
    /// 1000 points, or a 0.25° global map of 8 levels; answers up to 256 MiB
    /// (13 M values as CoverageJSON, 33 M as NetCDF), built in well under
    /// 1 GiB.
    fn default() -> Self {
        Self { max_cells: 50_000_000, max_bytes: 1 << 30, max_chunks: 4096, max_answer_bytes: 256 << 20 }
    }
}

/// What a plan costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cost {
    /// Values returned.
    pub cells: u64,
    /// Bytes of the chunks decoded.
    pub bytes: u64,
    /// Chunks fetched.
    pub chunks: u64,
    /// Hyperslab reads.
    pub reads: u64,
    /// Bytes of the encoded answer (an estimate, set by who encodes it).
    pub answer_bytes: u64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Self) {
        self.cells += o.cells;
        self.bytes += o.bytes;
        self.chunks += o.chunks;
        self.reads += o.reads;
        self.answer_bytes += o.answer_bytes;
    }
}

/// A plan over the budget, with what it would cost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request needs {what} ({needed}), over the limit of {limit}")]
pub struct OverBudget {
    /// Which limit.
    pub what: &'static str,
    /// What the plan needs.
    pub needed: u64,
    /// The limit.
    pub limit: u64,
}

impl Cost {
    /// Checks the cost against a budget.
    pub fn check(&self, budget: &Budget) -> Result<(), OverBudget> {
        for (what, needed, limit) in [
            ("values", self.cells, budget.max_cells),
            ("decoded bytes", self.bytes, budget.max_bytes),
            ("chunks", self.chunks, budget.max_chunks),
            ("answer bytes", self.answer_bytes, budget.max_answer_bytes),
        ] {
            if needed > limit {
                return Err(OverBudget { what, needed, limit });
            }
        }
        Ok(())
    }
}

/// The cells of one array a query needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPlan {
    /// Array path.
    pub path: String,
    /// Element type.
    pub dtype: DataType,
    /// Indices picked along each dimension, in output order.
    pub picks: Vec<Vec<usize>>,
    chunks: Vec<u64>,
}

impl ReadPlan {
    /// A plan for `array`; `picks[d]` are the indices along dimension `d`.
    pub fn new(array: &ArrayInfo, picks: Vec<Vec<usize>>) -> Result<Self, RepoError> {
        if picks.len() != array.shape.len() {
            return Err(RepoError::Invalid(format!(
                "{}: {} selections for {} dimensions",
                array.path,
                picks.len(),
                array.shape.len()
            )));
        }
        for (d, p) in picks.iter().enumerate() {
            if let Some(bad) = p.iter().find(|&&i| i as u64 >= array.shape[d]) {
                return Err(RepoError::Invalid(format!(
                    "{}: index {bad} outside dimension {}",
                    array.path, array.dims[d]
                )));
            }
        }
        Ok(Self { path: array.path.clone(), dtype: array.dtype, picks, chunks: array.chunks.clone() })
    }

    /// Output shape.
    pub fn shape(&self) -> Vec<usize> {
        self.picks.iter().map(Vec::len).collect()
    }

    /// The array's chunk shape.
    pub fn chunks(&self) -> &[u64] {
        &self.chunks
    }

    /// What the plan costs.
    pub fn cost(&self) -> Cost {
        let elem = self.dtype.size().unwrap_or(8) as u64;
        let mut cells = 1u64;
        let mut chunks = 1u64;
        let mut reads = 1u64;
        let mut chunk_elems = 1u64;
        for (d, p) in self.picks.iter().enumerate() {
            let c = self.chunks.get(d).copied().unwrap_or(1).max(1);
            let mut ids: Vec<u64> = p.iter().map(|&i| i as u64 / c).collect();
            ids.sort_unstable();
            ids.dedup();
            cells = cells.saturating_mul(p.len() as u64);
            chunks = chunks.saturating_mul(ids.len() as u64);
            reads = reads.saturating_mul(index_runs(&sorted(p)).len() as u64);
            chunk_elems = chunk_elems.saturating_mul(c);
        }
        Cost { cells, bytes: chunks.saturating_mul(chunk_elems).saturating_mul(elem), chunks, reads, answer_bytes: 0 }
    }

    /// The region reads: each combination of runs along the dimensions,
    /// with where its values go in the output.
    fn regions(&self) -> Vec<(Hyperslab, Hyperslab)> {
        // Runs in output order, each with its output offset.
        let runs: Vec<Vec<(u64, u64, u64)>> = self
            .picks
            .iter()
            .map(|p| {
                let mut out = Vec::new();
                let mut k = 0usize;
                while k < p.len() {
                    let start = p[k];
                    let mut n = 1;
                    while k + n < p.len() && p[k + n] == start + n {
                        n += 1;
                    }
                    out.push((start as u64, n as u64, k as u64));
                    k += n;
                }
                out
            })
            .collect();
        let mut combos: Vec<(Hyperslab, Hyperslab)> =
            vec![(Hyperslab { start: vec![], shape: vec![] }, Hyperslab { start: vec![], shape: vec![] })];
        for dim_runs in &runs {
            let mut next = Vec::with_capacity(combos.len() * dim_runs.len());
            for (src, dst) in &combos {
                for &(start, n, at) in dim_runs {
                    let (mut s, mut d) = (src.clone(), dst.clone());
                    s.start.push(start);
                    s.shape.push(n);
                    d.start.push(at);
                    d.shape.push(n);
                    next.push((s, d));
                }
            }
            combos = next;
        }
        combos
    }

    /// Reads the cells, `concurrency` regions at a time, as numbers in C
    /// order over the output shape.
    pub async fn read(&self, reader: &dyn DatasetReader, concurrency: usize) -> Result<Vec<f64>, RepoError> {
        Ok(self.dtype.to_f64_vec(&self.read_raw(reader, concurrency).await?))
    }

    /// [`Self::read`] as stored: little-endian elements of the plan's dtype
    /// (for kernels that read them in place, with no `f64` copy).
    pub async fn read_raw(&self, reader: &dyn DatasetReader, concurrency: usize) -> Result<Vec<u8>, RepoError> {
        let elem =
            self.dtype.size().ok_or_else(|| RepoError::Invalid(format!("{} holds text, not numbers", self.path)))?;
        let shape: Vec<u64> = self.picks.iter().map(|p| p.len() as u64).collect();
        let total: usize = shape.iter().product::<u64>() as usize;
        let out_region = Hyperslab { start: vec![0; shape.len()], shape };
        let regions = self.regions();
        let text = || RepoError::corrupt(format!("{}: text where numbers were expected", self.path));
        if regions.len() == 1 && regions[0].1 == out_region {
            let BlockData::Numeric(bytes) = reader.read(&self.path, &regions[0].0).await? else { return Err(text()) };
            return Ok(bytes);
        }
        let mut out = vec![0u8; total * elem];
        let mut blocks = futures::stream::iter(
            regions
                .into_iter()
                .map(|(src, dst)| async move { reader.read(&self.path, &src).await.map(|data| (data, dst)) }),
        )
        .buffer_unordered(concurrency.max(1));
        while let Some((data, dst)) = blocks.try_next().await? {
            let BlockData::Numeric(bytes) = data else { return Err(text()) };
            paste_subregion(&mut out, &out_region, &bytes, &dst, elem)
                .ok_or_else(|| RepoError::corrupt(format!("{}: a block does not fit its place", self.path)))?;
        }
        Ok(out)
    }
}

fn sorted(p: &[usize]) -> Vec<usize> {
    let mut v = p.to_vec();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cf::FillValue;

    fn info() -> ArrayInfo {
        ArrayInfo {
            path: "pr".into(),
            dims: vec!["time".into(), "lat".into(), "lon".into()],
            shape: vec![3650, 360, 720],
            dtype: DataType::Float32,
            chunks: vec![80, 72, 80],
            shard: None,
            codecs: String::new(),
            fill_value: FillValue::Float(f64::NAN),
            attrs: Default::default(),
        }
    }

    #[test]
    fn a_point_series_costs_one_chunk_per_time_chunk() {
        let p =
            ReadPlan::new(&info(), vec![(0..3650).collect(), vec![100], vec![200]]).unwrap_or_else(|e| panic!("{e}"));
        let c = p.cost();
        assert_eq!(c.cells, 3650);
        assert_eq!(c.chunks, 46, "3650 / 80 rounded up");
        assert_eq!(c.reads, 1);
        assert_eq!(c.bytes, 46 * 80 * 72 * 80 * 4);
        assert!(c.check(&Budget::default()).is_ok());
        let tight = Budget { max_chunks: 10, ..Budget::default() };
        assert_eq!(c.check(&tight).err().map(|e| e.what), Some("chunks"));
    }

    #[test]
    fn a_window_across_the_seam_reads_two_regions() {
        let p =
            ReadPlan::new(&info(), vec![vec![5], vec![10, 11], vec![718, 719, 0, 1]]).unwrap_or_else(|e| panic!("{e}"));
        let r = p.regions();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].0.start.clone(), r[0].1.start.clone()), (vec![5, 10, 718], vec![0, 0, 0]));
        assert_eq!((r[1].0.start.clone(), r[1].1.start.clone()), (vec![5, 10, 0], vec![0, 0, 2]));
        assert!(ReadPlan::new(&info(), vec![vec![5], vec![400], vec![0]]).is_err());
    }
}
