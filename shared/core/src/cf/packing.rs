//! From stored numbers to physical values, as CF readers decode them: values
//! equal to `_FillValue` or `missing_value` are missing, the rest are
//! multiplied by `scale_factor` and shifted by `add_offset`.

use crate::model::{Attributes, DataType};

/// How a variable's stored numbers decode.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueDecoding {
    missing: Vec<f64>,
    scale: f64,
    offset: f64,
    float: bool,
}

impl ValueDecoding {
    /// The decoding a variable's attributes declare (`_FillValue` falls back
    /// to the netCDF default of the type only when declared, as xarray does).
    pub fn from_attrs(attrs: &Attributes, dtype: DataType) -> Self {
        let mut missing = Vec::new();
        for key in ["_FillValue", "missing_value"] {
            if let Some(vs) = attrs.get(key).and_then(|v| v.as_f64s()) {
                missing.extend(vs.into_iter().filter(|v| !v.is_nan()));
            }
        }
        let get = |k: &str| attrs.get(k).and_then(|v| v.as_f64());
        Self {
            missing,
            scale: get("scale_factor").unwrap_or(1.0),
            offset: get("add_offset").unwrap_or(0.0),
            float: dtype.is_float(),
        }
    }

    /// The physical value of a stored number, `None` when missing.
    pub fn decode(&self, raw: f64) -> Option<f64> {
        if raw.is_nan() || self.missing.iter().any(|m| *m == raw || (self.float && (m - raw).abs() <= m.abs() * 1e-7)) {
            return None;
        }
        Some(raw * self.scale + self.offset)
    }

    /// Whether decoding changes numbers (packed data).
    pub fn is_packed(&self) -> bool {
        self.scale != 1.0 || self.offset != 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AttrValue;

    #[test]
    fn masks_then_unpacks() {
        let mut a = Attributes::new();
        a.insert("_FillValue".into(), AttrValue::Ints(DataType::Int16, vec![-32767]));
        a.insert("missing_value".into(), AttrValue::Ints(DataType::Int16, vec![-9999]));
        a.insert("scale_factor".into(), AttrValue::f64(0.5));
        a.insert("add_offset".into(), AttrValue::f64(100.0));
        let d = ValueDecoding::from_attrs(&a, DataType::Int16);
        assert_eq!(d.decode(-32767.0), None);
        assert_eq!(d.decode(-9999.0), None);
        assert_eq!(d.decode(10.0), Some(105.0));
        assert!(d.is_packed());
        let plain = ValueDecoding::from_attrs(&Attributes::new(), DataType::Float32);
        assert_eq!(plain.decode(f64::NAN), None);
        assert_eq!(plain.decode(1.5), Some(1.5));
    }
}
