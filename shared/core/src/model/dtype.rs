//! Element types of arrays.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The element type of a variable, as stored. Numbers are little-endian in memory
/// buffers handed between ports (`Block`), whatever the source's byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// Signed 8-bit integer (NetCDF `byte`).
    Int8,
    /// Signed 16-bit integer (`short`).
    Int16,
    /// Signed 32-bit integer (`int`).
    Int32,
    /// Signed 64-bit integer (`int64`).
    Int64,
    /// Unsigned 8-bit integer (`ubyte`).
    UInt8,
    /// Unsigned 16-bit integer (`ushort`).
    UInt16,
    /// Unsigned 32-bit integer (`uint`).
    UInt32,
    /// Unsigned 64-bit integer (`uint64`).
    UInt64,
    /// IEEE 754 single precision (`float`).
    Float32,
    /// IEEE 754 double precision (`double`).
    Float64,
    /// Variable-length UTF-8 text (NetCDF-4 `string`, and `char` arrays with their
    /// last dimension folded into the text).
    String,
}

impl DataType {
    /// Bytes per element for fixed-size types; `None` for strings.
    pub fn size(self) -> Option<usize> {
        Some(match self {
            Self::Int8 | Self::UInt8 => 1,
            Self::Int16 | Self::UInt16 => 2,
            Self::Int32 | Self::UInt32 | Self::Float32 => 4,
            Self::Int64 | Self::UInt64 | Self::Float64 => 8,
            Self::String => return None,
        })
    }

    /// Whether the type is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, Self::Float32 | Self::Float64)
    }

    /// Whether the type is an integer type.
    pub fn is_integer(self) -> bool {
        !self.is_float() && self != Self::String
    }

    /// The Zarr v3 data type name.
    pub fn zarr_name(self) -> &'static str {
        match self {
            Self::Int8 => "int8",
            Self::Int16 => "int16",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::UInt8 => "uint8",
            Self::UInt16 => "uint16",
            Self::UInt32 => "uint32",
            Self::UInt64 => "uint64",
            Self::Float32 => "float32",
            Self::Float64 => "float64",
            Self::String => "string",
        }
    }

    /// Parses a Zarr v3 data type name.
    pub fn from_zarr_name(name: &str) -> Option<Self> {
        Some(match name {
            "int8" => Self::Int8,
            "int16" => Self::Int16,
            "int32" => Self::Int32,
            "int64" => Self::Int64,
            "uint8" => Self::UInt8,
            "uint16" => Self::UInt16,
            "uint32" => Self::UInt32,
            "uint64" => Self::UInt64,
            "float32" => Self::Float32,
            "float64" => Self::Float64,
            "string" => Self::String,
            _ => return None,
        })
    }

    /// Runs `work` with this type's element width and its conversion to
    /// `f64` (lossy for 64-bit integers beyond 2^53): the one place a type
    /// is matched for reading, so each caller's loop is compiled per type
    /// with the conversion inlined. `None` for strings.
    pub fn with_elements<W: ElementWork>(self, work: W) -> Option<W::Out> {
        Some(match self {
            Self::Int8 => work.run::<1>(|b| f64::from(i8::from_le_bytes(b))),
            Self::UInt8 => work.run::<1>(|b| f64::from(b[0])),
            Self::Int16 => work.run::<2>(|b| f64::from(i16::from_le_bytes(b))),
            Self::UInt16 => work.run::<2>(|b| f64::from(u16::from_le_bytes(b))),
            Self::Int32 => work.run::<4>(|b| f64::from(i32::from_le_bytes(b))),
            Self::UInt32 => work.run::<4>(|b| f64::from(u32::from_le_bytes(b))),
            Self::Float32 => work.run::<4>(|b| f64::from(f32::from_le_bytes(b))),
            #[allow(clippy::cast_precision_loss)]
            Self::Int64 => work.run::<8>(|b| i64::from_le_bytes(b) as f64),
            #[allow(clippy::cast_precision_loss)]
            Self::UInt64 => work.run::<8>(|b| u64::from_le_bytes(b) as f64),
            Self::Float64 => work.run::<8>(f64::from_le_bytes),
            Self::String => return None,
        })
    }

    /// Reads element `index` of a little-endian buffer of this type as `f64`.
    /// `None` for strings or when the buffer is too short.
    pub fn read_f64(self, bytes: &[u8], index: usize) -> Option<f64> {
        struct One<'a>(&'a [u8], usize);
        impl ElementWork for One<'_> {
            type Out = Option<f64>;
            fn run<const N: usize>(self, f: impl Fn([u8; N]) -> f64) -> Self::Out {
                element::<N>(self.0, self.1).map(f)
            }
        }
        self.with_elements(One(bytes, index)).flatten()
    }

    /// Decodes a whole little-endian buffer as `f64` values: allocated once,
    /// one loop over exact-size elements (element by element it cost ~2 ns a
    /// value, most of a cached region mean's time). Empty for strings.
    pub fn to_f64_vec(self, bytes: &[u8]) -> Vec<f64> {
        struct All<'a>(&'a [u8]);
        impl ElementWork for All<'_> {
            type Out = Vec<f64>;
            fn run<const N: usize>(self, f: impl Fn([u8; N]) -> f64) -> Self::Out {
                self.0.chunks_exact(N).map(|c| f(c.try_into().unwrap_or([0; N]))).collect()
            }
        }
        self.with_elements(All(bytes)).unwrap_or_default()
    }

    /// Encodes `f64` values as little-endian elements of this type. `None` when
    /// a value does not fit: a fraction or out of range for an integer type,
    /// or a string type.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    pub fn encode_f64s(self, values: &[f64]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(values.len() * self.size()?);
        for &v in values {
            let int = |lo: f64, hi: f64| (v.fract() == 0.0 && v >= lo && v <= hi).then_some(v);
            match self {
                Self::Float32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
                Self::Float64 => out.extend_from_slice(&v.to_le_bytes()),
                Self::Int8 => out.extend_from_slice(&(int(-128.0, 127.0)? as i8).to_le_bytes()),
                Self::UInt8 => out.push(int(0.0, 255.0)? as u8),
                Self::Int16 => out.extend_from_slice(&(int(-32768.0, 32767.0)? as i16).to_le_bytes()),
                Self::UInt16 => out.extend_from_slice(&(int(0.0, 65535.0)? as u16).to_le_bytes()),
                Self::Int32 => out.extend_from_slice(&(int(-2_147_483_648.0, 2_147_483_647.0)? as i32).to_le_bytes()),
                Self::UInt32 => out.extend_from_slice(&(int(0.0, 4_294_967_295.0)? as u32).to_le_bytes()),
                Self::Int64 => out.extend_from_slice(&(int(-9.007e15, 9.007e15)? as i64).to_le_bytes()),
                Self::UInt64 => out.extend_from_slice(&(int(0.0, 9.007e15)? as u64).to_le_bytes()),
                Self::String => return None,
            }
        }
        Some(out)
    }
}

/// Work over a buffer's elements, given their width `N` and their
/// conversion to `f64` (see [`DataType::with_elements`]).
pub trait ElementWork {
    /// What the work gives.
    type Out;
    /// Does the work for elements of `N` bytes.
    fn run<const N: usize>(self, to_f64: impl Fn([u8; N]) -> f64) -> Self::Out;
}

/// Element `at` of a buffer of `N`-byte elements (`None` past its end).
#[inline]
pub fn element<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at * N..at * N + N).and_then(|e| e.try_into().ok())
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.zarr_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMBERS: [DataType; 10] = [
        DataType::Int8,
        DataType::Int16,
        DataType::Int32,
        DataType::Int64,
        DataType::UInt8,
        DataType::UInt16,
        DataType::UInt32,
        DataType::UInt64,
        DataType::Float32,
        DataType::Float64,
    ];

    #[test]
    fn zarr_names_round_trip() {
        for t in NUMBERS.into_iter().chain([DataType::String]) {
            assert_eq!(DataType::from_zarr_name(t.zarr_name()), Some(t));
        }
    }

    #[test]
    fn reads_little_endian_values() {
        let bytes: Vec<u8> = [-2i16, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(DataType::Int16.to_f64_vec(&bytes), vec![-2.0, 7.0]);
        let bytes = 1.5f32.to_le_bytes();
        assert_eq!(DataType::Float32.read_f64(&bytes, 0), Some(1.5));
        assert_eq!(DataType::Float32.read_f64(&bytes, 1), None);
    }

    #[test]
    fn whole_buffers_read_as_element_by_element() {
        let values = [0.0, 1.0, 100.0, 127.0];
        for t in NUMBERS {
            let mut bytes = t.encode_f64s(&values).unwrap_or_default();
            let one: Vec<f64> = (0..values.len()).filter_map(|i| t.read_f64(&bytes, i)).collect();
            assert_eq!(t.to_f64_vec(&bytes), one, "{t}");
            assert_eq!(one, values, "{t}");
            // A trailing partial element is not a value.
            bytes.push(1);
            assert_eq!(t.to_f64_vec(&bytes).len(), values.len() + usize::from(t.size() == Some(1)), "{t}");
        }
        assert!(DataType::String.to_f64_vec(&[1, 2]).is_empty());
    }

    #[test]
    fn encodes_values_that_fit() {
        let bytes = DataType::Int32.encode_f64s(&[-3.0, 40.0]).unwrap_or_default();
        assert_eq!(DataType::Int32.to_f64_vec(&bytes), vec![-3.0, 40.0]);
        assert_eq!(DataType::Int32.encode_f64s(&[0.5]), None, "a fraction does not fit an integer");
        assert_eq!(DataType::UInt8.encode_f64s(&[256.0]), None);
        assert_eq!(DataType::Float64.encode_f64s(&[0.25]).map(|b| b.len()), Some(8));
    }
}
