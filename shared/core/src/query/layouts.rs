//! Which stored layout a read uses. A parameter with a time-major copy
//! ([`crate::time_major`]) can be read from its map layout alone, or from
//! the copy for the steps it holds and from the map layout for the steps
//! after them (the copy trails the data by less than a block). Both plans
//! are priced before anything is read and the cheaper one is taken: bytes
//! decoded, plus a fixed price per chunk fetched (a request's latency is
//! worth about a mebibyte of transfer from S3). The answers are the same
//! values either way.

use futures::future::try_join_all;

use super::plan::{Cost, ReadPlan};
use super::view::Parameter;
use crate::ports::{DatasetReader, RepoError};

/// What one chunk fetched costs beside its bytes, in bytes.
const REQUEST_BYTES: u64 = 1 << 20;

fn price(c: &Cost) -> u64 {
    c.bytes.saturating_add(c.chunks.saturating_mul(REQUEST_BYTES))
}

/// One parameter's read, from one layout or two.
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutRead {
    /// The reads, each with where its picks start along `dim` in the output.
    pub parts: Vec<(ReadPlan, usize)>,
    /// The dimension the parts split.
    dim: usize,
    /// Indices picked along each dimension, in output order (the whole read's).
    pub picks: Vec<Vec<usize>>,
}

impl LayoutRead {
    /// The map layout alone.
    pub fn map(p: &Parameter, picks: Vec<Vec<usize>>) -> Result<Self, RepoError> {
        Ok(Self { parts: vec![(ReadPlan::new(&p.array, picks.clone())?, 0)], dim: 0, picks })
    }

    /// The cheaper of the map layout alone and the time-major copy with the
    /// map layout after it.
    pub fn choose(p: &Parameter, picks: Vec<Vec<usize>>) -> Result<Self, RepoError> {
        let map = Self::map(p, picks)?;
        let Some(copy) = &p.time_major else { return Ok(map) };
        let g = copy.dim;
        let along = &map.picks[g];
        // The copy's steps must come first in the answer (ascending picks do).
        let head = along.iter().take_while(|i| (**i as u64) < copy.covered).count();
        if head == 0 || along[head..].iter().any(|i| (*i as u64) < copy.covered) {
            return Ok(map);
        }
        let mut parts = Vec::with_capacity(2);
        let mut first = map.picks.clone();
        first[g] = along[..head].to_vec();
        parts.push((ReadPlan::new(&copy.array, first)?, 0));
        if head < along.len() {
            let mut rest = map.picks.clone();
            rest[g] = along[head..].to_vec();
            parts.push((ReadPlan::new(&p.array, rest)?, head));
        }
        let mixed = Self { parts, dim: g, picks: map.picks.clone() };
        Ok(if price(&mixed.cost()) < price(&map.cost()) { mixed } else { map })
    }

    /// Whether the time-major copy is read.
    pub fn uses_copy(&self) -> bool {
        self.parts.len() > 1 || self.parts.first().is_some_and(|(p, _)| crate::time_major::is_copy(&p.path))
    }

    /// The dimension the parts split.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Output shape.
    pub fn shape(&self) -> Vec<usize> {
        self.picks.iter().map(Vec::len).collect()
    }

    /// What the read costs.
    pub fn cost(&self) -> Cost {
        let mut c = Cost::default();
        for (p, _) in &self.parts {
            c += p.cost();
        }
        c
    }

    /// Reads every part, `concurrency` regions at a time each, as numbers
    /// in C order over the output shape.
    pub async fn read(&self, reader: &dyn DatasetReader, concurrency: usize) -> Result<Vec<f64>, RepoError> {
        if let [(only, 0)] = self.parts.as_slice() {
            return only.read(reader, concurrency).await;
        }
        let shape = self.shape();
        let mut out = vec![0.0; shape.iter().product()];
        let values = try_join_all(self.parts.iter().map(|(p, _)| p.read(reader, concurrency))).await?;
        for ((p, at), v) in self.parts.iter().zip(values) {
            paste_along(&mut out, &shape, &v, &p.shape(), self.dim, *at);
        }
        Ok(out)
    }
}

/// Pastes `part` (C order over `part_shape`) into `out` (over `shape`) at
/// offset `at` along `dim`; the shapes agree on every other dimension.
fn paste_along(out: &mut [f64], shape: &[usize], part: &[f64], part_shape: &[usize], dim: usize, at: usize) {
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    let (full, n) = (shape[dim], part_shape[dim]);
    for o in 0..outer {
        let src = &part[o * n * inner..(o + 1) * n * inner];
        let dst = (o * full + at) * inner;
        out[dst..dst + n * inner].copy_from_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cf::DimRole;
    use crate::query::view::TimeMajorCopy;

    fn param(covered: u64) -> Parameter {
        let mut p = Parameter::for_tests("pr", &["time", "lat", "lon"], vec![DimRole::Time, DimRole::Y, DimRole::X]);
        p.array.shape = vec![3650, 360, 720];
        p.array.chunks = vec![80, 72, 80];
        let mut array = p.array.clone();
        array.path = "time_major/pr".into();
        array.shape = vec![covered, 360, 720];
        array.chunks = vec![365, 36, 38];
        p.time_major = Some(TimeMajorCopy { array, dim: 0, covered });
        p
    }

    #[test]
    fn a_point_series_reads_the_copy_and_the_steps_after_it() {
        let picks = vec![(0..3650).collect(), vec![100], vec![200]];
        let r = LayoutRead::choose(&param(3285), picks.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.uses_copy());
        assert_eq!(r.parts.len(), 2);
        assert_eq!((r.parts[0].0.cost().chunks, r.parts[1].0.cost().chunks), (9, 5), "9 blocks, then 365 steps");
        assert_eq!(r.parts[1].1, 3285);
        let map = LayoutRead::map(&param(3285), picks).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.cost().bytes < map.cost().bytes / 2);
    }

    #[test]
    fn a_map_reads_the_map_layout() {
        let picks = vec![vec![10], (0..360).collect(), (0..720).collect()];
        let r = LayoutRead::choose(&param(3285), picks).unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.uses_copy());
        // Steps after the copy, or a copy not yet holding any, read the map layout too.
        let r = LayoutRead::choose(&param(3285), vec![vec![3300, 3301], vec![1], vec![1]])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.uses_copy());
    }

    #[test]
    fn parts_land_at_their_offsets() {
        // Output 2 × 5 × 3, parts of 3 and 2 along the middle axis.
        let part_a: Vec<f64> = (0..18).map(f64::from).collect();
        let part_b: Vec<f64> = (100..112).map(f64::from).collect();
        let mut out = vec![0.0; 30];
        paste_along(&mut out, &[2, 5, 3], &part_a, &[2, 3, 3], 1, 0);
        paste_along(&mut out, &[2, 5, 3], &part_b, &[2, 2, 3], 1, 3);
        assert_eq!(&out[..15], &[0., 1., 2., 3., 4., 5., 6., 7., 8., 100., 101., 102., 103., 104., 105.]);
        assert_eq!(&out[15..], &[9., 10., 11., 12., 13., 14., 15., 16., 17., 106., 107., 108., 109., 110., 111.]);
    }
}
