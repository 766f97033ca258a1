//! NetCDF attributes into the domain's attributes.

use hub_core::model::{AttrValue, DataType};
use netcdf::AttributeValue;

/// Attributes that describe how the source stored the data, not the data: they
/// would be wrong once the data is rechunked and recompressed.
const STORAGE_ONLY: &[&str] = &[
    "_ChunkSizes",
    "_Storage",
    "_DeflateLevel",
    "_Shuffle",
    "_Endianness",
    "_Fletcher32",
    "_NoFill",
    "_Filter",
    "_Codecs",
    "_NCProperties",
    "_Netcdf4Dimid",
    "_Netcdf4Coordinates",
    "_IsNetcdf4",
    "_SuperblockVersion",
    "_Format",
    "_Encoding",
    "DIMENSION_LIST",
    "REFERENCE_LIST",
    "CLASS",
    "NAME",
];

/// Whether an attribute is kept.
pub(crate) fn keep(name: &str) -> bool {
    !STORAGE_ONLY.contains(&name)
}

/// Converts one attribute value.
pub(crate) fn convert(value: AttributeValue) -> AttrValue {
    use AttributeValue as A;
    let ints = |t, v: Vec<i64>| AttrValue::Ints(t, v);
    let uints = |t, v: Vec<u64>| AttrValue::UInts(t, v);
    match value {
        A::Schar(x) => ints(DataType::Int8, vec![i64::from(x)]),
        A::Schars(v) => ints(DataType::Int8, v.into_iter().map(i64::from).collect()),
        A::Short(x) => ints(DataType::Int16, vec![i64::from(x)]),
        A::Shorts(v) => ints(DataType::Int16, v.into_iter().map(i64::from).collect()),
        A::Int(x) => ints(DataType::Int32, vec![i64::from(x)]),
        A::Ints(v) => ints(DataType::Int32, v.into_iter().map(i64::from).collect()),
        A::Longlong(x) => ints(DataType::Int64, vec![x]),
        A::Longlongs(v) => ints(DataType::Int64, v),
        A::Uchar(x) => uints(DataType::UInt8, vec![u64::from(x)]),
        A::Uchars(v) => uints(DataType::UInt8, v.into_iter().map(u64::from).collect()),
        A::Ushort(x) => uints(DataType::UInt16, vec![u64::from(x)]),
        A::Ushorts(v) => uints(DataType::UInt16, v.into_iter().map(u64::from).collect()),
        A::Uint(x) => uints(DataType::UInt32, vec![u64::from(x)]),
        A::Uints(v) => uints(DataType::UInt32, v.into_iter().map(u64::from).collect()),
        A::Ulonglong(x) => uints(DataType::UInt64, vec![x]),
        A::Ulonglongs(v) => uints(DataType::UInt64, v),
        A::Float(x) => AttrValue::Floats(DataType::Float32, vec![f64::from(x)]),
        A::Floats(v) => AttrValue::Floats(DataType::Float32, v.into_iter().map(f64::from).collect()),
        A::Double(x) => AttrValue::Floats(DataType::Float64, vec![x]),
        A::Doubles(v) => AttrValue::Floats(DataType::Float64, v),
        A::Str(s) => AttrValue::Text(s),
        A::Strs(v) => AttrValue::Texts(v),
    }
}
