//! How an array is stored: chunk (and shard) shape and compression. The
//! ingest's chunk policy decides it; the repository port creates arrays with
//! it and reports it back.

use serde::{Deserialize, Serialize};

/// Compression of chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "codec", rename_all = "snake_case")]
pub enum Compression {
    /// Stored raw.
    None,
    /// Zstandard at a level (1-22); 3 is a good default for float fields.
    Zstd {
        /// Compression level.
        level: i32,
    },
    /// Blosc with zstd and byte shuffle: better on smooth float fields, but
    /// slower to write.
    BloscZstd {
        /// Compression level (0-9).
        level: u8,
    },
}

impl Default for Compression {
    fn default() -> Self {
        Self::Zstd { level: 3 }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Zstd { level } => write!(f, "zstd:{level}"),
            Self::BloscZstd { level } => write!(f, "blosc-zstd:{level}"),
        }
    }
}

/// A compression setting that names no codec the hub writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid compression {0:?}: expected none, zstd[:1-22] or blosc-zstd[:0-9]")]
pub struct InvalidCompression(pub String);

impl std::str::FromStr for Compression {
    type Err = InvalidCompression;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, level) = s.split_once(':').unwrap_or((s, ""));
        let bad = || InvalidCompression(s.to_string());
        match name {
            "none" => Ok(Self::None),
            "zstd" => {
                let level = if level.is_empty() { 3 } else { level.parse().map_err(|_| bad())? };
                if (1..=22).contains(&level) { Ok(Self::Zstd { level }) } else { Err(bad()) }
            }
            "blosc-zstd" => {
                let level = if level.is_empty() { 5 } else { level.parse().map_err(|_| bad())? };
                if level <= 9 { Ok(Self::BloscZstd { level }) } else { Err(bad()) }
            }
            _ => Err(bad()),
        }
    }
}

/// The chunking and compression of one array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrayLayout {
    /// Chunk shape (the inner chunk when sharded).
    pub chunks: Vec<u64>,
    /// Shard shape (a multiple of `chunks`), when sharding is on.
    pub shard: Option<Vec<u64>>,
    /// Compression of each chunk.
    pub compression: Compression,
}

impl ArrayLayout {
    /// The unit written at once: the shard when sharded, else the chunk.
    pub fn write_unit(&self) -> &[u64] {
        self.shard.as_deref().unwrap_or(&self.chunks)
    }
}
