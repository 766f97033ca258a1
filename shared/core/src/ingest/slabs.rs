//! Slabs: the pieces an ingest reads from the source at once. A slab is a union
//! of whole write units (chunks or shards), so every unit is encoded exactly
//! once and no partial chunk is ever stored; it covers whole source chunks where
//! memory allows, so a compressed source chunk is decoded once; and it stays
//! under a memory budget, so memory is bounded by the slab, not by the file.

use crate::model::Hyperslab;

/// How a variable will be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlabPlan {
    /// The extent of a slab along each dimension (the last ones along an axis
    /// may be shorter).
    pub slab_shape: Vec<u64>,
    /// How many times each source chunk will be decoded (1 when slabs align with
    /// the source's chunks).
    pub source_reread: u64,
    shape: Vec<u64>,
}

impl SlabPlan {
    /// Plans slabs for an array of `shape` with write unit `unit`, source chunks
    /// `source` (if the source is chunked), `elem` bytes per element and a
    /// budget of `budget` bytes per slab.
    pub fn new(shape: &[u64], unit: &[u64], source: Option<&[u64]>, elem: u64, budget: u64) -> Self {
        let n = shape.len();
        let unit: Vec<u64> = (0..n).map(|d| unit.get(d).copied().unwrap_or(1).clamp(1, shape[d].max(1))).collect();
        // Smallest extent that is a whole number of write units and of source chunks.
        let mut want: Vec<u64> = (0..n)
            .map(|d| {
                let s = source.and_then(|s| s.get(d)).copied().unwrap_or(1).max(1);
                lcm(unit[d], s).min(shape[d].max(1)).max(unit[d])
            })
            .collect();
        let bytes = |ext: &[u64]| ext.iter().product::<u64>() * elem;
        // Over budget: give up source alignment, innermost dimensions last.
        let mut reread = 1;
        for d in 0..n {
            if bytes(&want) <= budget {
                break;
            }
            if want[d] > unit[d] {
                reread *= want[d].div_ceil(unit[d]);
                want[d] = unit[d];
            }
        }
        // Under budget: take more along the outermost dimension that is not whole.
        if let Some(d) = (0..n).find(|&d| want[d] < shape[d]) {
            let one = bytes(&want).max(1);
            let factor = (budget / one).max(1);
            let step = want[d];
            want[d] = (step * factor).min(shape[d]).max(step);
            // Keep it a multiple of the aligned step.
            if want[d] < shape[d] {
                want[d] -= want[d] % step;
            }
        }
        Self { slab_shape: want, source_reread: reread, shape: shape.to_vec() }
    }

    /// Number of slabs.
    pub fn len(&self) -> u64 {
        self.shape.iter().zip(&self.slab_shape).map(|(n, s)| n.div_ceil((*s).max(1))).product()
    }

    /// Whether there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.shape.contains(&0)
    }

    /// The slabs, in C order.
    pub fn regions(&self) -> impl Iterator<Item = Hyperslab> + '_ {
        let counts: Vec<u64> = self.shape.iter().zip(&self.slab_shape).map(|(n, s)| n.div_ceil((*s).max(1))).collect();
        let total = if self.is_empty() { 0 } else { counts.iter().product::<u64>() };
        (0..total).map(move |mut i| {
            let mut start = vec![0; counts.len()];
            let mut shape = vec![0; counts.len()];
            for d in (0..counts.len()).rev() {
                let k = i % counts[d];
                i /= counts[d];
                start[d] = k * self.slab_shape[d];
                shape[d] = self.slab_shape[d].min(self.shape[d] - start[d]);
            }
            Hyperslab { start, shape }
        })
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: u64, b: u64) -> u64 {
    if a == 0 || b == 0 { a.max(b) } else { a / gcd(a, b) * b }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::units_in;

    #[test]
    fn map_chunked_source_reads_whole_maps_once() {
        // The benchmark file: source chunks are whole days, zarr chunks 80x72x80.
        let p = SlabPlan::new(&[3650, 360, 720], &[80, 72, 80], Some(&[1, 360, 720]), 4, 128 << 20);
        assert_eq!(p.slab_shape, vec![80, 360, 720]);
        assert_eq!(p.source_reread, 1);
        assert_eq!(p.len(), 46);
        let regions: Vec<Hyperslab> = p.regions().collect();
        assert_eq!(regions.last().map(|r| (r.start[0], r.shape[0])), Some((3600, 50)));
    }

    #[test]
    fn tight_budget_gives_up_alignment_and_says_so() {
        let p = SlabPlan::new(&[3650, 360, 720], &[80, 72, 80], Some(&[1, 360, 720]), 4, 16 << 20);
        assert_eq!(p.slab_shape, vec![80, 72, 720]);
        assert_eq!(p.source_reread, 5);
    }

    #[test]
    fn small_units_grow_along_the_outer_dimension_within_budget() {
        let p = SlabPlan::new(&[1000, 10, 10], &[10, 10, 10], None, 4, 40_000);
        assert_eq!(p.slab_shape, vec![100, 10, 10]);
        let covered: u64 = p.regions().map(|r| r.len()).sum();
        assert_eq!(covered, 100_000);
    }

    #[test]
    fn regions_tile_the_array_exactly() {
        let p = SlabPlan::new(&[7, 5, 3], &[2, 2, 3], None, 8, 8 * 12);
        let mut seen = [0u8; 7 * 5 * 3];
        for r in p.regions() {
            assert_eq!(r.start[0] % 2, 0);
            for i in r.start[0]..r.start[0] + r.shape[0] {
                for j in r.start[1]..r.start[1] + r.shape[1] {
                    for k in r.start[2]..r.start[2] + r.shape[2] {
                        seen[(i * 15 + j * 3 + k) as usize] += 1;
                    }
                }
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn scalars_are_one_slab() {
        let p = SlabPlan::new(&[], &[], None, 8, 1024);
        assert_eq!(p.regions().count(), 1);
        assert_eq!(units_in(&Hyperslab::full(&[]), &[], &[]).len(), 1);
    }

    #[test]
    fn units_cover_region() {
        let r = Hyperslab { start: vec![80, 0], shape: vec![50, 100] };
        let u = units_in(&r, &[80, 40], &[130, 100]);
        assert_eq!(u.len(), 3);
        assert_eq!(u[2], Hyperslab { start: vec![80, 80], shape: vec![50, 20] });
    }
}
