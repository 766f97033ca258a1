//! How arrays are chunked and compressed: a pure function of the variable's
//! shape, type and CF roles, configurable per dataset.
//!
//! # The default ("balanced")
//!
//! A chunk holds about `target_chunk_bytes` (2 MiB) uncompressed. Vertical
//! levels and ensemble members get one per chunk: maps are read level by level
//! and member by member. Time, the horizontal axes and any other dimension
//! share the rest evenly: each gets the same number of cells, the cube root
//! (square root without time) of the chunk's cell budget, except dimensions
//! shorter than that, which are taken whole and leave their share to the others.
//! Lengths are then evened out so the last chunk along an axis is not a sliver.
//!
//! For a daily 0.5° global field (3650 × 360 × 720 float32) that gives chunks of
//! 80 × 72 × 80 (1.8 MB): a full map reads 45 chunks (83 MB decoded), a
//! 10-year point series 46 chunks (85 MB decoded). Equal work for the two reads
//! the portal and the API serve most. A layout tuned for long series only is a separate,
//! derived layout (see the README).
//!
//! Coordinates, bounds and grid mappings, and any array smaller than the
//! target, are one chunk: readers fetch them whole anyway.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cf::{DimRole, VariableKind};
use crate::model::{ArrayLayout, Compression, VariableSchema};

/// The chunking rules of a dataset. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkPolicy {
    /// Uncompressed bytes per chunk to aim for.
    pub target_chunk_bytes: u64,
    /// Compression of every array.
    pub compression: Compression,
    /// When set, chunks are grouped into shards of about this many bytes
    /// (uncompressed): fewer objects, same read granularity.
    pub shard_target_bytes: Option<u64>,
    /// Chunk shapes chosen by hand, by variable path.
    pub overrides: BTreeMap<String, Vec<u64>>,
}

impl Default for ChunkPolicy {
    fn default() -> Self {
        Self {
            target_chunk_bytes: 2 * 1024 * 1024,
            compression: Compression::default(),
            shard_target_bytes: None,
            overrides: BTreeMap::new(),
        }
    }
}

impl ChunkPolicy {
    /// The layout of `var`, given its kind and the role of each of its dimensions.
    pub fn layout(&self, var: &VariableSchema, kind: VariableKind, roles: &[DimRole]) -> ArrayLayout {
        let chunks = self.chunk_shape(var, kind, roles);
        let shard = self.shard_target_bytes.and_then(|target| shard_shape(var, &chunks, target));
        ArrayLayout { chunks, shard, compression: self.compression }
    }

    fn chunk_shape(&self, var: &VariableSchema, kind: VariableKind, roles: &[DimRole]) -> Vec<u64> {
        let shape = &var.shape;
        if let Some(chunks) = self.overrides.get(&var.path).filter(|c| c.len() == shape.len()) {
            return chunks.iter().zip(shape).map(|(&c, &n)| c.clamp(1, n.max(1))).collect();
        }
        let whole: Vec<u64> = shape.iter().map(|&n| n.max(1)).collect();
        let elem = var.dtype.size().unwrap_or(8) as u64;
        let small = var.nbytes() <= self.target_chunk_bytes;
        if small || matches!(kind, VariableKind::Coordinate | VariableKind::Bounds | VariableKind::GridMapping) {
            return whole;
        }
        balanced_chunks(shape, roles, (self.target_chunk_bytes / elem).max(1))
    }
}

/// Spreads `budget` cells evenly over the dimensions that share it (see the
/// module documentation).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
fn balanced_chunks(shape: &[u64], roles: &[DimRole], budget: u64) -> Vec<u64> {
    let mut chunks: Vec<u64> = vec![1; shape.len()];
    let mut free: Vec<usize> = (0..shape.len())
        .filter(|&d| !matches!(roles.get(d), Some(DimRole::Vertical | DimRole::Member)) && shape[d] > 1)
        .collect();
    let mut budget = budget as f64;
    // Dimensions shorter than their share are taken whole; repeat until stable.
    loop {
        if free.is_empty() {
            break;
        }
        let side = budget.powf(1.0 / free.len() as f64);
        let (short, long): (Vec<usize>, Vec<usize>) = free.iter().partition(|&&d| (shape[d] as f64) <= side);
        if short.is_empty() {
            let side = side.floor().max(1.0) as u64;
            for d in long {
                // Even out: as many chunks as needed, then as equal as possible.
                let n = shape[d].div_ceil(side);
                chunks[d] = shape[d].div_ceil(n);
            }
            break;
        }
        for d in short {
            chunks[d] = shape[d];
            budget /= shape[d] as f64;
        }
        free = long;
    }
    for (c, &n) in chunks.iter_mut().zip(shape) {
        *c = (*c).clamp(1, n.max(1));
    }
    chunks
}

/// Groups chunks into shards of about `target` bytes, growing every dimension
/// that has more than one chunk evenly.
fn shard_shape(var: &VariableSchema, chunks: &[u64], target: u64) -> Option<Vec<u64>> {
    let elem = var.dtype.size()? as u64;
    let chunk_bytes = chunks.iter().product::<u64>() * elem;
    let grid: Vec<u64> = var.shape.iter().zip(chunks).map(|(&n, &c)| n.div_ceil(c.max(1))).collect();
    if chunk_bytes == 0 || grid.iter().all(|&g| g <= 1) || chunk_bytes * 2 > target {
        return None;
    }
    let mut factors = vec![1u64; chunks.len()];
    loop {
        let mut grew = false;
        for d in 0..chunks.len() {
            let bytes = chunk_bytes * factors.iter().product::<u64>();
            if factors[d] < grid[d] && bytes * 2 <= target {
                factors[d] = (factors[d] * 2).min(grid[d]);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    Some(chunks.iter().zip(&factors).map(|(c, f)| c * f).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attributes, DataType};

    fn var(shape: &[u64], dtype: DataType) -> VariableSchema {
        VariableSchema {
            path: "v".into(),
            dims: (0..shape.len()).map(|i| format!("d{i}")).collect(),
            shape: shape.to_vec(),
            dtype,
            attrs: Attributes::new(),
            source_chunks: None,
        }
    }

    const TYX: [DimRole; 3] = [DimRole::Time, DimRole::Y, DimRole::X];

    #[test]
    fn daily_global_field_gets_balanced_chunks() {
        let l = ChunkPolicy::default().layout(&var(&[3650, 360, 720], DataType::Float32), VariableKind::Data, &TYX);
        assert_eq!(l.chunks, vec![80, 72, 80]);
        let bytes = l.chunks.iter().product::<u64>() * 4;
        assert!((1 << 20..=4 << 20).contains(&bytes), "{bytes}");
        assert_eq!(l.shard, None);
        assert_eq!(l.compression, Compression::Zstd { level: 3 });
    }

    #[test]
    fn short_dimensions_are_taken_whole() {
        let l = ChunkPolicy::default().layout(&var(&[12, 291, 360], DataType::Float32), VariableKind::Data, &TYX);
        assert_eq!(l.chunks, vec![12, 146, 180]);
    }

    #[test]
    fn levels_and_members_are_one_per_chunk() {
        let roles = [DimRole::Member, DimRole::Time, DimRole::Vertical, DimRole::Y, DimRole::X];
        let l = ChunkPolicy::default().layout(
            &var(&[50, 81, 37, 721, 1440], DataType::Float32),
            VariableKind::Data,
            &roles,
        );
        assert_eq!(l.chunks[0], 1);
        assert_eq!(l.chunks[2], 1);
        assert!(l.chunks.iter().product::<u64>() * 4 <= 2 << 20);
    }

    #[test]
    fn small_arrays_and_coordinates_are_one_chunk() {
        let p = ChunkPolicy::default();
        assert_eq!(p.layout(&var(&[7300, 6, 5], DataType::Float32), VariableKind::Data, &TYX).chunks, vec![7300, 6, 5]);
        assert_eq!(
            p.layout(&var(&[10_000_000], DataType::Float64), VariableKind::Coordinate, &[DimRole::Time]).chunks,
            vec![10_000_000]
        );
        assert_eq!(
            p.layout(&var(&[], DataType::Float64), VariableKind::AuxiliaryCoordinate, &[]).chunks,
            Vec::<u64>::new()
        );
    }

    #[test]
    fn chunk_bytes_stay_near_target_for_many_shapes() {
        let p = ChunkPolicy::default();
        for shape in [[1u64, 4963, 7316], [121, 721, 1440], [100_000, 10, 10], [3, 100_000, 100]] {
            let v = var(&shape, DataType::Float32);
            let l = p.layout(&v, VariableKind::Data, &TYX);
            let bytes = l.chunks.iter().product::<u64>() * 4;
            assert!(bytes <= p.target_chunk_bytes, "{shape:?} -> {:?}", l.chunks);
            assert!(bytes >= p.target_chunk_bytes / 4, "{shape:?} -> {:?}", l.chunks);
            assert!(l.chunks.iter().zip(&shape).all(|(c, n)| *c >= 1 && c <= n));
        }
    }

    #[test]
    fn overrides_win_and_are_clamped() {
        let mut p = ChunkPolicy::default();
        p.overrides.insert("v".into(), vec![365, 1000, 0]);
        let l = p.layout(&var(&[3650, 360, 720], DataType::Float32), VariableKind::Data, &TYX);
        assert_eq!(l.chunks, vec![365, 360, 1]);
    }

    #[test]
    fn shards_group_whole_chunks() {
        let p = ChunkPolicy { shard_target_bytes: Some(64 << 20), ..ChunkPolicy::default() };
        let l = p.layout(&var(&[3650, 360, 720], DataType::Float32), VariableKind::Data, &TYX);
        let shard = l.shard.clone().unwrap_or_default();
        assert_eq!(shard.len(), 3);
        assert!(shard.iter().zip(&l.chunks).all(|(s, c)| s % c == 0));
        assert!(shard.iter().product::<u64>() * 4 <= 64 << 20);
        assert_eq!(l.write_unit(), shard.as_slice());
    }

    #[test]
    fn compression_parses() {
        assert_eq!("zstd:5".parse(), Ok(Compression::Zstd { level: 5 }));
        assert_eq!("blosc-zstd".parse(), Ok(Compression::BloscZstd { level: 5 }));
        assert_eq!("none".parse(), Ok(Compression::None));
        assert!("zstd:99".parse::<Compression>().is_err());
        assert!("lz4".parse::<Compression>().is_err());
    }
}
