//! Hyperslabs (index hyper-rectangles of an array, as HDF5 and netCDF call
//! them) and blocks of data covering them. Named so, not "region", because
//! geographic regions (river basins, countries) are a domain word of their own.

use serde::{Deserialize, Serialize};

/// A hyper-rectangle of an array: `start` and `shape` along every dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hyperslab {
    /// First index along every dimension.
    pub start: Vec<u64>,
    /// Length along every dimension.
    pub shape: Vec<u64>,
}

impl Hyperslab {
    /// The region covering a whole array of `shape`.
    pub fn full(shape: &[u64]) -> Self {
        Self { start: vec![0; shape.len()], shape: shape.to_vec() }
    }

    /// The cells both regions hold, when they share any.
    pub fn intersection(&self, other: &Hyperslab) -> Option<Hyperslab> {
        if self.start.len() != other.start.len() {
            return None;
        }
        let (mut start, mut shape) = (Vec::new(), Vec::new());
        for d in 0..self.start.len() {
            let lo = self.start[d].max(other.start[d]);
            let hi = (self.start[d] + self.shape[d]).min(other.start[d] + other.shape[d]);
            if hi <= lo {
                return None;
            }
            start.push(lo);
            shape.push(hi - lo);
        }
        Some(Hyperslab { start, shape })
    }

    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.shape.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One past the last index along every dimension.
    pub fn end(&self) -> Vec<u64> {
        self.start.iter().zip(&self.shape).map(|(s, n)| s + n).collect()
    }

    /// Whether `self` lies inside an array of `shape`.
    pub fn fits(&self, shape: &[u64]) -> bool {
        self.start.len() == shape.len()
            && self.shape.len() == shape.len()
            && self.end().iter().zip(shape).all(|(e, n)| e <= n)
    }
}

/// The values of a region, in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockData {
    /// Fixed-size elements, little-endian.
    Numeric(Vec<u8>),
    /// Text elements.
    Strings(Vec<String>),
}

impl BlockData {
    /// Bytes held (text counted by its UTF-8 length).
    pub fn nbytes(&self) -> usize {
        match self {
            Self::Numeric(b) => b.len(),
            Self::Strings(v) => v.iter().map(String::len).sum(),
        }
    }
}

/// A region of a variable with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Where the values go.
    pub region: Hyperslab,
    /// The values, C order.
    pub data: BlockData,
}

/// The contiguous runs of `sub` inside a C-order buffer holding `outer`: for
/// each run, its offset in `outer`'s buffer and its length, in elements, in
/// C order of `sub`. `None` when `sub` does not lie inside `outer`.
///
/// The one place that walks sub-regions: copying chunks out of slabs, pasting
/// chunks into answers, for numbers and text alike.
pub fn runs(outer: &Hyperslab, sub: &Hyperslab) -> Option<Vec<(usize, usize)>> {
    let n = outer.shape.len();
    if sub.shape.len() != n || sub.start.len() != n || outer.start.len() != n {
        return None;
    }
    for d in 0..n {
        if sub.start[d] < outer.start[d] || sub.start[d] + sub.shape[d] > outer.start[d] + outer.shape[d] {
            return None;
        }
    }
    if n == 0 {
        return Some(vec![(0, 1)]);
    }
    if sub.is_empty() {
        return Some(Vec::new());
    }
    let mut strides = vec![1usize; n];
    for d in (0..n - 1).rev() {
        strides[d] = strides[d + 1] * usize::try_from(outer.shape[d + 1]).ok()?;
    }
    // Merge the innermost dimensions that are taken whole into one run.
    let mut run_dims = 1;
    while run_dims < n
        && sub.shape[n - run_dims] == outer.shape[n - run_dims]
        && sub.start[n - run_dims] == outer.start[n - run_dims]
    {
        run_dims += 1;
    }
    let run_len = usize::try_from(sub.shape[n - run_dims..].iter().product::<u64>()).ok()?;
    let outer_dims = n - run_dims;
    let count = usize::try_from(sub.shape[..outer_dims].iter().product::<u64>()).ok()?;
    let mut out = Vec::with_capacity(count);
    let mut idx = vec![0u64; outer_dims];
    let d_run = n - run_dims;
    let base = usize::try_from(sub.start[d_run] - outer.start[d_run]).ok()? * strides[d_run];
    for _ in 0..count {
        let mut offset = base;
        for d in 0..outer_dims {
            offset += usize::try_from(sub.start[d] - outer.start[d] + idx[d]).ok()? * strides[d];
        }
        out.push((offset, run_len));
        for d in (0..outer_dims).rev() {
            idx[d] += 1;
            if idx[d] < sub.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(out)
}

/// Copies the sub-region `sub` out of a C-order buffer holding `outer` into a
/// new C-order buffer. `elem` is the element size. Used to cut chunks out of
/// slabs. `None` when `sub` does not fit in `outer` or the buffer is too short.
pub fn copy_subregion(buf: &[u8], outer: &Hyperslab, sub: &Hyperslab, elem: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    copy_subregion_into(buf, outer, sub, elem, &mut out)?;
    Some(out)
}

/// [`copy_subregion`] into `out` (cleared first), reusing its allocation.
pub fn copy_subregion_into(
    buf: &[u8],
    outer: &Hyperslab,
    sub: &Hyperslab,
    elem: usize,
    out: &mut Vec<u8>,
) -> Option<()> {
    let total = usize::try_from(outer.len()).ok()? * elem;
    if buf.len() < total {
        return None;
    }
    out.clear();
    out.reserve(usize::try_from(sub.len()).ok()? * elem);
    for (offset, len) in runs(outer, sub)? {
        out.extend_from_slice(buf.get(offset * elem..(offset + len) * elem)?);
    }
    Some(())
}

/// Writes `src` (C order, holding `sub`) into `dst` (C order, holding `outer`).
/// Used to assemble answers from chunks. `None` when it does not fit.
pub fn paste_subregion(dst: &mut [u8], outer: &Hyperslab, src: &[u8], sub: &Hyperslab, elem: usize) -> Option<()> {
    let mut at = 0usize;
    for (offset, len) in runs(outer, sub)? {
        let bytes = len * elem;
        dst.get_mut(offset * elem..offset * elem + bytes)?.copy_from_slice(src.get(at..at + bytes)?);
        at += bytes;
    }
    Some(())
}

/// The write units (chunks or shards) covered by `region`, as regions, C order.
/// `region` must start on unit boundaries.
pub fn units_in(region: &Hyperslab, unit: &[u64], array_shape: &[u64]) -> Vec<Hyperslab> {
    let n = region.shape.len();
    if n == 0 {
        return vec![region.clone()];
    }
    let counts: Vec<u64> = (0..n).map(|d| region.shape[d].div_ceil(unit[d].max(1))).collect();
    let total: u64 = counts.iter().product();
    (0..total)
        .map(|mut i| {
            let mut start = vec![0; n];
            let mut shape = vec![0; n];
            for d in (0..n).rev() {
                let k = i % counts[d];
                i /= counts[d];
                start[d] = region.start[d] + k * unit[d];
                let end = (start[d] + unit[d]).min(region.start[d] + region.shape[d]).min(array_shape[d]);
                shape[d] = end - start[d];
            }
            Hyperslab { start, shape }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iota(n: usize) -> Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }

    #[test]
    fn intersections() {
        let a = Hyperslab { start: vec![0, 10], shape: vec![80, 72] };
        let b = Hyperslab { start: vec![70, 0], shape: vec![100, 20] };
        assert_eq!(a.intersection(&b), Some(Hyperslab { start: vec![70, 10], shape: vec![10, 10] }));
        assert_eq!(b.intersection(&a), a.intersection(&b));
        let c = Hyperslab { start: vec![80, 0], shape: vec![1, 100] };
        assert_eq!(a.intersection(&c), None, "touching is not overlapping");
    }

    #[test]
    fn copies_inner_block() {
        // 3x4 array, take rows 1..3, cols 1..3
        let outer = Hyperslab::full(&[3, 4]);
        let sub = Hyperslab { start: vec![1, 1], shape: vec![2, 2] };
        assert_eq!(copy_subregion(&iota(12), &outer, &sub, 1), Some(vec![5, 6, 9, 10]));
    }

    #[test]
    fn copies_with_offset_outer_and_whole_rows() {
        let outer = Hyperslab { start: vec![10, 0], shape: vec![3, 4] };
        let sub = Hyperslab { start: vec![11, 0], shape: vec![2, 4] };
        assert_eq!(copy_subregion(&iota(12), &outer, &sub, 1), Some((4..12).collect()));
    }

    #[test]
    fn copies_multibyte_3d() {
        let outer = Hyperslab::full(&[2, 2, 3]);
        let data: Vec<u8> = (0u16..12).flat_map(u16::to_le_bytes).collect();
        let sub = Hyperslab { start: vec![0, 1, 1], shape: vec![2, 1, 2] };
        let got = copy_subregion(&data, &outer, &sub, 2).unwrap_or_default();
        let vals: Vec<u16> = got.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        assert_eq!(vals, vec![4, 5, 10, 11]);
    }

    #[test]
    fn refuses_out_of_bounds() {
        let outer = Hyperslab::full(&[2, 2]);
        let sub = Hyperslab { start: vec![1, 1], shape: vec![2, 1] };
        assert_eq!(copy_subregion(&iota(4), &outer, &sub, 1), None);
        assert_eq!(copy_subregion(&iota(3), &outer, &Hyperslab::full(&[2, 2]), 1), None);
    }

    #[test]
    fn paste_inverts_copy() {
        let outer = Hyperslab { start: vec![2, 10], shape: vec![4, 5] };
        let sub = Hyperslab { start: vec![3, 11], shape: vec![2, 3] };
        let src = iota(20);
        let piece = copy_subregion(&src, &outer, &sub, 1).unwrap_or_default();
        assert_eq!(piece, vec![6, 7, 8, 11, 12, 13]);
        let mut dst = vec![0u8; 20];
        assert_eq!(paste_subregion(&mut dst, &outer, &piece, &sub, 1), Some(()));
        let expect: Vec<u8> = (0..20u8).map(|i| if [6, 7, 8, 11, 12, 13].contains(&i) { i } else { 0 }).collect();
        assert_eq!(dst, expect);
        assert_eq!(paste_subregion(&mut dst, &outer, &piece[..5], &sub, 1), None);
    }

    #[test]
    fn scalar_region() {
        assert_eq!(copy_subregion(&[7, 8], &Hyperslab::full(&[]), &Hyperslab::full(&[]), 2), Some(vec![7, 8]));
    }
}
