//! Attributes of datasets, groups and variables, with their NetCDF types kept.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::DataType;

/// One attribute value. Numeric attributes keep their element type because CF
/// decoding depends on it (the type of `scale_factor` chooses the unpacked type,
/// `_FillValue` has the variable's type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum AttrValue {
    /// A text attribute.
    Text(String),
    /// A NetCDF-4 array of strings.
    Texts(Vec<String>),
    /// Signed integers of the given type.
    Ints(DataType, Vec<i64>),
    /// Unsigned integers of the given type.
    UInts(DataType, Vec<u64>),
    /// Floating-point numbers of the given type.
    Floats(DataType, Vec<f64>),
}

impl AttrValue {
    /// A single text value.
    pub fn text(value: impl Into<String>) -> Self {
        Self::Text(value.into())
    }

    /// A single `f64` value.
    pub fn f64(value: f64) -> Self {
        Self::Floats(DataType::Float64, vec![value])
    }

    /// A single `i32` value.
    pub fn i32(value: i32) -> Self {
        Self::Ints(DataType::Int32, vec![i64::from(value)])
    }

    /// The text, when this is a text attribute.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            Self::Texts(v) if v.len() == 1 => Some(&v[0]),
            _ => None,
        }
    }

    /// The numbers as `f64` (lossy beyond 2^53), or `None` for text.
    #[allow(clippy::cast_precision_loss)]
    pub fn as_f64s(&self) -> Option<Vec<f64>> {
        match self {
            Self::Ints(_, v) => Some(v.iter().map(|&x| x as f64).collect()),
            Self::UInts(_, v) => Some(v.iter().map(|&x| x as f64).collect()),
            Self::Floats(_, v) => Some(v.clone()),
            Self::Text(_) | Self::Texts(_) => None,
        }
    }

    /// The first number as `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_f64s().and_then(|v| v.first().copied())
    }

    /// The element type of a numeric attribute.
    pub fn numeric_type(&self) -> Option<DataType> {
        match self {
            Self::Ints(t, _) | Self::UInts(t, _) | Self::Floats(t, _) => Some(*t),
            Self::Text(_) | Self::Texts(_) => None,
        }
    }

    /// Plain JSON for the attribute: scalars for one-element values, arrays
    /// otherwise. Non-finite floats become the strings `"NaN"`, `"Infinity"`,
    /// `"-Infinity"` (JSON has no literal for them; Zarr v3 spells them so).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        fn many<T>(v: &[T], f: impl Fn(&T) -> Value) -> Value {
            if v.len() == 1 { f(&v[0]) } else { Value::Array(v.iter().map(f).collect()) }
        }
        match self {
            Self::Text(s) => Value::String(s.clone()),
            Self::Texts(v) => many(v, |s| Value::String(s.clone())),
            Self::Ints(_, v) => many(v, |x| Value::from(*x)),
            Self::UInts(_, v) => many(v, |x| Value::from(*x)),
            Self::Floats(_, v) => many(v, |x| float_json(*x)),
        }
    }
}

/// JSON for one float, with Zarr's spelling of the non-finite values.
pub fn float_json(x: f64) -> serde_json::Value {
    if x.is_nan() {
        serde_json::Value::String("NaN".into())
    } else if x == f64::INFINITY {
        serde_json::Value::String("Infinity".into())
    } else if x == f64::NEG_INFINITY {
        serde_json::Value::String("-Infinity".into())
    } else {
        serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// Ordered attributes, in the order the source declared them.
pub type Attributes = IndexMap<String, AttrValue>;

/// Reads an attribute as text.
pub fn attr_text<'a>(attrs: &'a Attributes, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(AttrValue::as_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_of_scalars_and_arrays() {
        assert_eq!(AttrValue::f64(1.5).to_json(), serde_json::json!(1.5));
        assert_eq!(
            AttrValue::Floats(DataType::Float32, vec![1.0, f64::NAN]).to_json(),
            serde_json::json!([1.0, "NaN"])
        );
        assert_eq!(AttrValue::Ints(DataType::Int16, vec![-32767]).to_json(), serde_json::json!(-32767));
        assert_eq!(AttrValue::text("K").to_json(), serde_json::json!("K"));
    }

    #[test]
    fn numbers_read_back_as_f64() {
        assert_eq!(AttrValue::UInts(DataType::UInt16, vec![65535]).as_f64(), Some(65535.0));
        assert_eq!(AttrValue::text("x").as_f64(), None);
    }
}
