//! Area-weighted statistics of a region, per time step (and per value of
//! every other axis), from the cells it covers and their weights wᵢ: the
//! area in m² of the part of cell i inside the region.
//!
//! Over the cells with a valid value vᵢ (fill and missing values excluded,
//! packed values unpacked by the query before this):
//! - `mean` = Σwᵢvᵢ / Σwᵢ;
//! - `std` = √(Σwᵢ(vᵢ − mean)² / Σwᵢ), the weighted *population* standard deviation;
//! - `min`, `max` over the cells with wᵢ > 0;
//! - `sum` = Σwᵢvᵢ, in the variable's units × m²;
//! - `count` = the cells with wᵢ > 0 and a value;
//! - `valid-fraction` = Σwᵢ(valid) / Σwᵢ(all covered cells).
//!
//! A step with no valid value has no mean, std, min, max or sum (null),
//! a count of 0 and a valid fraction of 0. The mean and variance take
//! two passes (sums, then deviations from the mean), stable for values far
//! from zero (temperatures in K), with one division per step.

use crate::model::{DataType, ElementWork, element};
use crate::query::{OutAxis, Parameter};

/// A statistic the hub computes over a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Statistic {
    /// Area-weighted mean.
    Mean,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Area-weighted population standard deviation.
    Std,
    /// Area-weighted sum (units × m²).
    Sum,
    /// Cells with a value.
    Count,
    /// Share of the region's area with a value.
    ValidFraction,
}

/// Every statistic by name: the one table parsing, documents and the
/// region series read.
pub const STATISTICS: &[(&str, Statistic)] = &[
    ("mean", Statistic::Mean),
    ("min", Statistic::Min),
    ("max", Statistic::Max),
    ("std", Statistic::Std),
    ("sum", Statistic::Sum),
    ("count", Statistic::Count),
    ("valid-fraction", Statistic::ValidFraction),
];

impl Statistic {
    /// Its name in URLs and column headers.
    pub fn name(self) -> &'static str {
        STATISTICS.iter().find(|(_, s)| *s == self).map_or("mean", |(n, _)| n)
    }

    /// A comma-separated list (`mean,max`), in order, without repeats.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        let mut out = Vec::new();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let s =
                STATISTICS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, s)| *s).ok_or_else(|| {
                    let known: Vec<&str> = STATISTICS.iter().map(|(n, _)| *n).collect();
                    format!("unknown statistic {name:?} (statistics: {})", known.join(", "))
                })?;
            if !out.contains(&s) {
                out.push(s);
            }
        }
        if out.is_empty() {
            return Err("name at least one statistic".into());
        }
        Ok(out)
    }

    /// The units of the statistic of a variable in `units`.
    pub fn units(self, units: Option<&str>) -> Option<String> {
        match self {
            Self::Mean | Self::Min | Self::Max | Self::Std => units.map(str::to_string),
            Self::Sum => Some(units.map_or_else(|| "m2".to_string(), |u| format!("{u} m2"))),
            Self::Count => Some("1".into()),
            Self::ValidFraction => Some("1".into()),
        }
    }
}

/// The sums of one step.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    covered: f64,
    weight: f64,
    /// Σwᵢvᵢ.
    sum: f64,
    /// Σwᵢ(vᵢ − mean)², from a second pass.
    m2: f64,
    min: f64,
    max: f64,
    count: usize,
}

impl Moments {
    fn new() -> Self {
        Self { min: f64::INFINITY, max: f64::NEG_INFINITY, ..Self::default() }
    }

    fn add(&mut self, w: f64, v: Option<f64>) {
        if w <= 0.0 {
            return;
        }
        self.covered += w;
        let Some(v) = v.filter(|v| v.is_finite()) else { return };
        self.count += 1;
        self.weight += w;
        self.sum += w * v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    fn mean(&self) -> f64 {
        self.sum / self.weight
    }

    /// The sums of two sets of cells.
    fn merge(self, o: Self) -> Self {
        Self {
            covered: self.covered + o.covered,
            weight: self.weight + o.weight,
            sum: self.sum + o.sum,
            m2: self.m2 + o.m2,
            min: self.min.min(o.min),
            max: self.max.max(o.max),
            count: self.count + o.count,
        }
    }

    /// The second pass, for the standard deviation: deviations from the
    /// first pass's mean (stable for values far from zero, K or hPa).
    fn add_deviation(&mut self, mean: f64, w: f64, v: Option<f64>) {
        if w <= 0.0 {
            return;
        }
        if let Some(v) = v.filter(|v| v.is_finite()) {
            self.m2 += w * (v - mean) * (v - mean);
        }
    }

    fn get(&self, s: Statistic) -> Option<f64> {
        let any = self.count > 0 && self.weight > 0.0;
        match s {
            Statistic::Mean => any.then(|| self.mean()),
            Statistic::Min => any.then_some(self.min),
            Statistic::Max => any.then_some(self.max),
            Statistic::Std => any.then(|| (self.m2 / self.weight).max(0.0).sqrt()),
            Statistic::Sum => any.then_some(self.sum),
            #[allow(clippy::cast_precision_loss)]
            Statistic::Count => Some(self.count as f64),
            Statistic::ValidFraction => Some(if self.covered > 0.0 { self.weight / self.covered } else { 0.0 }),
        }
    }
}

/// The statistics of one series of steps: `values` holds the window's cells
/// per step (`[step][cell]`), `weights` one area per cell.
pub fn reduce(values: &[Option<f64>], weights: &[f64], stats: &[Statistic]) -> Vec<Vec<Option<f64>>> {
    let cells = weights.len().max(1);
    let steps = values.len() / cells;
    reduce_with(steps, weights, |a, k| values[a * cells + k], stats)
}

/// The one reduction every region statistic goes through: for each of
/// `positions` steps, the cells in `areas`' order, `value(step, cell)`.
/// The stored series and the statistics computed at query time both come
/// here in the same cell order, so they agree to the bit.
fn reduce_with(
    positions: usize,
    areas: &[f64],
    value: impl Fn(usize, usize) -> Option<f64>,
    stats: &[Statistic],
) -> Vec<Vec<Option<f64>>> {
    let mut out = vec![Vec::with_capacity(positions); stats.len()];
    let spread = stats.contains(&Statistic::Std);
    for a in 0..positions {
        // Cell k goes to lane k % LANES, the lanes merged in a fixed order:
        // independent sums the processor adds side by side (one running sum
        // waits on each addition), the same answer on every run.
        let mut lanes = [Moments::new(); LANES];
        for (k, ws) in areas.chunks(LANES).enumerate() {
            for (l, (w, m)) in ws.iter().zip(&mut lanes).enumerate() {
                m.add(*w, value(a, k * LANES + l));
            }
        }
        let mean = lanes.iter().fold(Moments::new(), |t, m| t.merge(*m));
        if spread && mean.weight > 0.0 {
            let centre = mean.mean();
            for (k, ws) in areas.chunks(LANES).enumerate() {
                for (l, (w, m)) in ws.iter().zip(&mut lanes).enumerate() {
                    m.add_deviation(centre, *w, value(a, k * LANES + l));
                }
            }
        }
        let m = lanes.iter().fold(Moments::new(), |t, m| t.merge(*m));
        for (k, s) in stats.iter().enumerate() {
            out[k].push(m.get(*s));
        }
    }
    out
}

/// Partial sums per step (see [`reduce_with`]).
const LANES: usize = 4;

/// Raw values of a block as read from storage: C order over `shape`, the
/// dimensions in stored order, `y` and `x` the horizontal ones. The
/// reduction reads the region's cells straight out of it: no reordering,
/// no decoded copy of the cells the region does not cover.
#[derive(Debug, Clone, Copy)]
pub struct StoredBlock<'a> {
    /// The raw (still packed) values: little-endian elements of `dtype`.
    pub bytes: &'a [u8],
    /// Their type.
    pub dtype: DataType,
    /// The block's extent along every stored dimension.
    pub shape: &'a [usize],
    /// The dimension of rows.
    pub y: Option<usize>,
    /// The dimension of columns.
    pub x: Option<usize>,
}

impl StoredBlock<'_> {
    fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1usize; self.shape.len()];
        for d in (0..self.shape.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * self.shape[d + 1];
        }
        strides
    }

    /// Where (row, column) of the block's plane is, from any position's start.
    pub fn cell_offset(&self, row: usize, col: usize) -> usize {
        let strides = self.strides();
        self.y.map_or(0, |d| row * strides[d]) + self.x.map_or(0, |d| col * strides[d])
    }

    /// The start of every position (each value of the non-horizontal
    /// dimensions, in C order over them).
    pub fn positions(&self) -> Vec<usize> {
        let strides = self.strides();
        let others: Vec<usize> = (0..self.shape.len()).filter(|d| Some(*d) != self.y && Some(*d) != self.x).collect();
        let n: usize = others.iter().map(|d| self.shape[*d]).product();
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; others.len()];
        for _ in 0..n {
            out.push(others.iter().zip(&idx).map(|(d, i)| strides[*d] * i).sum());
            for k in (0..others.len()).rev() {
                idx[k] += 1;
                if idx[k] < self.shape[others[k]] {
                    break;
                }
                idx[k] = 0;
            }
        }
        out
    }
}

/// The statistics of one region at every position of `block`: `cells` the
/// offsets of the region's cells in the block's plane (in the weights'
/// order, see [`StoredBlock::cell_offset`]), `areas` their weights,
/// `decode` from a raw value to a value (`None`: fill or missing).
pub fn reduce_block(
    block: &StoredBlock<'_>,
    cells: &[usize],
    areas: &[f64],
    decode: impl Fn(f64) -> Option<f64>,
    stats: &[Statistic],
) -> Vec<Vec<Option<f64>>> {
    let starts = block.positions();
    // Read in place, one loop per stored type: no `f64` copy of the block.
    struct Reduce<'a, D> {
        block: &'a StoredBlock<'a>,
        starts: &'a [usize],
        cells: &'a [usize],
        areas: &'a [f64],
        decode: D,
        stats: &'a [Statistic],
    }
    impl<D: Fn(f64) -> Option<f64>> ElementWork for Reduce<'_, D> {
        type Out = Vec<Vec<Option<f64>>>;
        fn run<const N: usize>(self, to_f64: impl Fn([u8; N]) -> f64) -> Self::Out {
            let (b, starts, cells) = (self.block.bytes, self.starts, self.cells);
            let value = |a: usize, k: usize| element::<N>(b, starts[a] + cells[k]).map(&to_f64).and_then(&self.decode);
            reduce_with(starts.len(), self.areas, value, self.stats)
        }
    }
    let work = Reduce { block, starts: &starts, cells, areas, decode, stats };
    // Text holds no values: every statistic over no valid cell.
    block.dtype.with_elements(work).unwrap_or_else(|| reduce_with(starts.len(), areas, |_, _| None, stats))
}

/// One column of a region's series: a parameter's statistic over the axes.
#[derive(Debug, Clone)]
pub struct SeriesColumn {
    /// Its name in every format: `tas.mean` (`{parameter}.{statistic}`),
    /// `tas.p90` for an ensemble statistic of the region means.
    pub key: String,
    /// The parameter.
    pub parameter: Parameter,
    /// The statistic.
    pub statistic: Statistic,
    /// Units of the values.
    pub units: Option<String>,
    /// One value per position of the axes (C order).
    pub values: Vec<Option<f64>>,
}

impl SeriesColumn {
    /// The column of statistic `s` of `p`.
    pub fn new(p: &Parameter, s: Statistic, values: Vec<Option<f64>>) -> Self {
        Self {
            key: format!("{}.{}", p.name, s.name()),
            parameter: p.clone(),
            statistic: s,
            units: s.units(p.units.as_deref()),
            values,
        }
    }
}

/// Statistics of a region over the answer's axes.
#[derive(Debug, Clone)]
pub struct RegionSeries {
    /// Collection id.
    pub collection: String,
    /// The axes (time, levels, members…), as the extraction had them.
    pub axes: Vec<OutAxis>,
    /// One column per parameter and statistic, parameters first.
    pub columns: Vec<SeriesColumn>,
    /// Cells covered.
    pub cells: usize,
    /// The region's area on the grid, m² (Σwᵢ).
    pub area_m2: f64,
    /// Read from the region series stored in the dataset (else computed now).
    pub stored: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_on_a_small_case() {
        // Two steps over three cells of areas 1, 2, 1 (the third half inside).
        let weights = [1.0, 2.0, 0.5];
        let values = [Some(1.0), Some(4.0), None, None, None, None];
        let all = STATISTICS.iter().map(|(_, s)| *s).collect::<Vec<_>>();
        let out = reduce(&values, &weights, &all);
        let get = |s: Statistic, step: usize| out[all.iter().position(|x| *x == s).unwrap_or(0)][step];
        assert_eq!(get(Statistic::Mean, 0), Some(3.0));
        assert_eq!(get(Statistic::Min, 0), Some(1.0));
        assert_eq!(get(Statistic::Max, 0), Some(4.0));
        let std = ((1.0 * 4.0 + 2.0 * 1.0) / 3.0f64).sqrt();
        assert!(get(Statistic::Std, 0).is_some_and(|s| (s - std).abs() < 1e-12));
        assert_eq!(get(Statistic::Sum, 0), Some(9.0));
        assert_eq!(get(Statistic::Count, 0), Some(2.0));
        assert_eq!(get(Statistic::ValidFraction, 0), Some(3.0 / 3.5));
        assert_eq!(
            (get(Statistic::Mean, 1), get(Statistic::Count, 1), get(Statistic::ValidFraction, 1)),
            (None, Some(0.0), Some(0.0))
        );
    }

    #[test]
    fn a_stored_block_reduces_as_its_values_in_every_type() {
        // Two steps of a 2 × 3 plane; the region is cells (0,1), (1,2), (1,0).
        let raw: Vec<f64> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        let areas = [1.0, 2.0, 0.5];
        let all = STATISTICS.iter().map(|(_, s)| *s).collect::<Vec<_>>();
        // 10 is the fill value (the last cell of the second step).
        let decode = |v: f64| (v != 10.0).then_some(v * 10.0);
        let cells_of = |b: &StoredBlock<'_>| [b.cell_offset(0, 1), b.cell_offset(1, 2), b.cell_offset(1, 0)];
        let expected: Vec<Option<f64>> = [1, 5, 3, 7, 11, 9].iter().map(|i| decode(raw[*i])).collect();
        assert_eq!(expected.iter().filter(|v| v.is_none()).count(), 1);
        let want = reduce(&expected, &areas, &all);
        for t in
            [DataType::UInt8, DataType::Int16, DataType::Int32, DataType::Float32, DataType::Float64, DataType::UInt64]
        {
            let bytes = t.encode_f64s(&raw).unwrap_or_default();
            let block = StoredBlock { bytes: &bytes, dtype: t, shape: &[2, 2, 3], y: Some(1), x: Some(2) };
            assert_eq!(reduce_block(&block, &cells_of(&block), &areas, decode, &all), want, "{t}");
        }
    }

    #[test]
    fn the_mean_is_stable_far_from_zero() {
        let weights = vec![1.0; 1000];
        let values: Vec<Option<f64>> = (0..1000).map(|k| Some(1e9 + f64::from(k % 2))).collect();
        let out = reduce(&values, &weights, &[Statistic::Mean, Statistic::Std]);
        assert_eq!(out[0][0], Some(1e9 + 0.5));
        assert!(out[1][0].is_some_and(|s| (s - 0.5).abs() < 1e-9));
    }

    #[test]
    fn lists_parse_in_order_and_unknown_names_say_what_exists() {
        assert_eq!(Statistic::parse_list("max, mean,max"), Ok(vec![Statistic::Max, Statistic::Mean]));
        let e = Statistic::parse_list("median").err().unwrap_or_default();
        assert!(e.contains("valid-fraction"), "{e}");
        assert!(Statistic::parse_list(" , ").is_err());
    }
}
