//! CF attributes and array specs to and from `zarr.json`, the way xarray writes
//! and reads them: `dimension_names` set, `_FillValue` for floats encoded as the
//! base64 of a little-endian f64 (xarray refuses a bare number there in Zarr v3),
//! the array's `fill_value` equal to it so chunks left out read as missing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hub_core::cf::FillValue;
use hub_core::model::{ArrayLayout, Compression};
use hub_core::model::{AttrValue, Attributes, DataType, float_json};
use hub_core::ports::{ArrayInfo, ArraySpec, RepoError};
use serde_json::{Map, Value, json};

/// The `zarr.json` of a group.
pub fn group_json(attrs: &Attributes) -> Value {
    json!({ "zarr_format": 3, "node_type": "group", "attributes": attrs_json(attrs, None) })
}

/// Attributes as JSON; with the array's type, `_FillValue` is encoded as xarray does.
pub fn attrs_json(attrs: &Attributes, dtype: Option<DataType>) -> Map<String, Value> {
    attrs
        .iter()
        .map(|(k, v)| {
            let value = match (k.as_str(), dtype) {
                ("_FillValue", Some(t)) if t.is_float() => {
                    let x = v.as_f64().unwrap_or(f64::NAN);
                    Value::String(BASE64.encode(x.to_le_bytes()))
                }
                _ => v.to_json(),
            };
            (k.clone(), value)
        })
        .collect()
}

/// Attributes back from JSON (numbers become f64 or i64; `_FillValue` decoded).
pub fn attrs_from_json(map: &Map<String, Value>, dtype: DataType) -> Attributes {
    map.iter()
        .filter_map(|(k, v)| {
            if k == "_FillValue"
                && dtype.is_float()
                && let Some(x) = v.as_str().and_then(decode_f64_base64)
            {
                return Some((k.clone(), AttrValue::Floats(dtype, vec![x])));
            }
            attr_from_json(v).map(|a| (k.clone(), a))
        })
        .collect()
}

fn decode_f64_base64(s: &str) -> Option<f64> {
    let bytes = BASE64.decode(s).ok()?;
    Some(f64::from_le_bytes(bytes.try_into().ok()?))
}

fn attr_from_json(v: &Value) -> Option<AttrValue> {
    match v {
        Value::String(s) => Some(AttrValue::Text(s.clone())),
        Value::Number(n) => number_attr(std::slice::from_ref(n)),
        Value::Array(items) => {
            if items.iter().all(Value::is_string) {
                Some(AttrValue::Texts(items.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()))
            } else {
                let nums: Option<Vec<serde_json::Number>> = items
                    .iter()
                    .map(|x| match x {
                        Value::Number(n) => Some(n.clone()),
                        Value::String(s) => {
                            serde_json::Number::from_f64(special_float(s)?).or(Some(serde_json::Number::from(0)))
                        }
                        _ => None,
                    })
                    .collect();
                number_attr(&nums?)
            }
        }
        Value::Bool(b) => Some(AttrValue::Ints(DataType::Int8, vec![i64::from(*b)])),
        Value::Null | Value::Object(_) => Some(AttrValue::Text(v.to_string())),
    }
}

fn special_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

fn number_attr(nums: &[serde_json::Number]) -> Option<AttrValue> {
    if nums.iter().all(|n| n.is_i64()) {
        Some(AttrValue::Ints(DataType::Int64, nums.iter().filter_map(serde_json::Number::as_i64).collect()))
    } else {
        Some(AttrValue::Floats(DataType::Float64, nums.iter().filter_map(serde_json::Number::as_f64).collect()))
    }
}

/// The Zarr `fill_value` of a fill value.
pub fn fill_json(fill: &FillValue, dtype: DataType) -> Value {
    match (fill, dtype) {
        (_, DataType::String) => Value::String(match fill {
            FillValue::Text(s) => s.clone(),
            _ => String::new(),
        }),
        (FillValue::Int(v), t) if t.is_integer() => json!(v),
        (FillValue::UInt(v), t) if t.is_integer() => json!(v),
        (f, DataType::Float32) => float_json(f64::from(f.as_f64().unwrap_or(f64::NAN) as f32)),
        (f, _) => float_json(f.as_f64().unwrap_or(0.0)),
    }
}

fn fill_from_json(v: &Value, dtype: DataType) -> FillValue {
    match v {
        Value::String(s) if dtype == DataType::String => FillValue::Text(s.clone()),
        Value::String(s) => FillValue::Float(special_float(s).unwrap_or(f64::NAN)),
        Value::Number(n) if dtype.is_float() => FillValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        Value::Number(n) => {
            n.as_i64().map(FillValue::Int).or_else(|| n.as_u64().map(FillValue::UInt)).unwrap_or(FillValue::Int(0))
        }
        _ => hub_core::cf::netcdf_default_fill(dtype),
    }
}

fn bytes_to_bytes(compression: Compression, dtype: DataType) -> Vec<Value> {
    match compression {
        Compression::None => vec![],
        Compression::Zstd { level } => {
            vec![json!({"name": "zstd", "configuration": {"level": level, "checksum": false}})]
        }
        Compression::BloscZstd { level } => vec![json!({
            "name": "blosc",
            "configuration": {
                "cname": "zstd", "clevel": level, "shuffle": "shuffle",
                "typesize": dtype.size().unwrap_or(1), "blocksize": 0
            }
        })],
    }
}

fn array_to_bytes(dtype: DataType) -> Value {
    if dtype == DataType::String {
        json!({"name": "vlen-utf8"})
    } else {
        json!({"name": "bytes", "configuration": {"endian": "little"}})
    }
}

/// The `zarr.json` of an array.
pub fn array_json(spec: &ArraySpec) -> Value {
    let layout: &ArrayLayout = &spec.layout;
    let mut inner: Vec<Value> = vec![array_to_bytes(spec.dtype)];
    inner.extend(bytes_to_bytes(layout.compression, spec.dtype));
    let (grid, codecs) = match &layout.shard {
        Some(shard) => (
            shard.clone(),
            vec![json!({
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": layout.chunks,
                    "codecs": inner,
                    "index_codecs": [
                        {"name": "bytes", "configuration": {"endian": "little"}},
                        {"name": "crc32c"}
                    ],
                    "index_location": "end"
                }
            })],
        ),
        None => (layout.chunks.clone(), inner),
    };
    json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": spec.shape,
        "data_type": spec.dtype.zarr_name(),
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": grid}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill_json(&spec.fill_value, spec.dtype),
        "codecs": codecs,
        "attributes": attrs_json(&spec.attrs, Some(spec.dtype)),
        "dimension_names": spec.dims,
    })
}

fn u64s(v: Option<&Value>) -> Vec<u64> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default()
}

fn describe_codecs(codecs: &[Value]) -> String {
    codecs
        .iter()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
            let conf = c.get("configuration");
            match name {
                "zstd" => format!("zstd({})", conf.and_then(|c| c.get("level")).and_then(Value::as_i64).unwrap_or(0)),
                "blosc" => format!(
                    "blosc({}:{})",
                    conf.and_then(|c| c.get("cname")).and_then(Value::as_str).unwrap_or("?"),
                    conf.and_then(|c| c.get("clevel")).and_then(Value::as_i64).unwrap_or(0)
                ),
                "sharding_indexed" => {
                    let inner =
                        conf.and_then(|c| c.get("codecs")).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
                    format!("sharding[{}]", describe_codecs(inner))
                }
                other => other.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// An [`ArrayInfo`] from a `zarr.json`.
pub fn array_info(path: &str, meta: &Value) -> Result<ArrayInfo, RepoError> {
    let bad = |why: &str| RepoError::corrupt(format!("{path}/zarr.json: {why}"));
    let dtype_name = meta.get("data_type").and_then(Value::as_str).ok_or_else(|| bad("no data_type"))?;
    let dtype =
        DataType::from_zarr_name(dtype_name).ok_or_else(|| bad(&format!("data type {dtype_name} not supported")))?;
    let shape = u64s(meta.get("shape"));
    let grid = u64s(meta.pointer("/chunk_grid/configuration/chunk_shape"));
    let codecs = meta.get("codecs").and_then(Value::as_array).cloned().unwrap_or_default();
    let sharding = codecs.iter().find(|c| c.get("name").and_then(Value::as_str) == Some("sharding_indexed"));
    let (chunks, shard) = match sharding {
        Some(s) => (u64s(s.pointer("/configuration/chunk_shape")), Some(grid)),
        None => (grid, None),
    };
    let dims = meta
        .get("dimension_names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter().enumerate().map(|(i, d)| d.as_str().map_or_else(|| format!("dim_{i}"), str::to_string)).collect()
        })
        .unwrap_or_else(|| (0..shape.len()).map(|i| format!("dim_{i}")).collect());
    let attrs =
        meta.get("attributes").and_then(Value::as_object).map(|m| attrs_from_json(m, dtype)).unwrap_or_default();
    Ok(ArrayInfo {
        path: path.to_string(),
        dims,
        shape,
        dtype,
        chunks,
        shard,
        codecs: describe_codecs(&codecs),
        fill_value: fill_from_json(meta.get("fill_value").unwrap_or(&Value::Null), dtype),
        attrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dtype: DataType, fill: FillValue, attrs: Attributes) -> ArraySpec {
        ArraySpec {
            path: "pr".into(),
            dims: vec!["time".into(), "lat".into()],
            shape: vec![10, 4],
            dtype,
            fill_value: fill,
            layout: ArrayLayout { chunks: vec![5, 4], shard: None, compression: Compression::default() },
            attrs,
        }
    }

    #[test]
    fn float_fill_value_is_encoded_like_xarray() {
        let attrs: Attributes = [
            ("_FillValue".to_string(), AttrValue::Floats(DataType::Float32, vec![-9999.0])),
            ("missing_value".to_string(), AttrValue::Floats(DataType::Float32, vec![-9999.0])),
        ]
        .into_iter()
        .collect();
        let j = array_json(&spec(DataType::Float32, FillValue::Float(-9999.0), attrs));
        assert_eq!(j["attributes"]["_FillValue"], json!("AAAAAICHw8A="));
        assert_eq!(j["attributes"]["missing_value"], json!(-9999.0));
        assert_eq!(j["fill_value"], json!(-9999.0));
        assert_eq!(j["dimension_names"], json!(["time", "lat"]));
        let info = array_info("pr", &j).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.attrs["_FillValue"].as_f64(), Some(-9999.0));
        assert_eq!(info.chunks, vec![5, 4]);
        assert_eq!(info.codecs, "bytes + zstd(3)");
    }

    #[test]
    fn nan_and_integer_fills() {
        let j = array_json(&spec(DataType::Float64, FillValue::Float(f64::NAN), Attributes::new()));
        assert_eq!(j["fill_value"], json!("NaN"));
        let attrs: Attributes =
            [("_FillValue".to_string(), AttrValue::Ints(DataType::Int16, vec![-32767]))].into_iter().collect();
        let j = array_json(&spec(DataType::Int16, FillValue::Int(-32767), attrs));
        assert_eq!(j["attributes"]["_FillValue"], json!(-32767));
        assert_eq!(j["fill_value"], json!(-32767));
    }

    #[test]
    fn sharded_layout() {
        let mut s = spec(DataType::Float32, FillValue::Float(0.0), Attributes::new());
        s.layout.shard = Some(vec![10, 4]);
        let j = array_json(&s);
        assert_eq!(j["chunk_grid"]["configuration"]["chunk_shape"], json!([10, 4]));
        let info = array_info("pr", &j).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.shard, Some(vec![10, 4]));
        assert_eq!(info.chunks, vec![5, 4]);
        assert!(info.codecs.starts_with("sharding["));
    }
}
