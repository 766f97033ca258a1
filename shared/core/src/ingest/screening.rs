//! What a decoded schema must satisfy before a single value is read: the
//! deployment's limits (a header can declare terabytes in a few hundred bytes)
//! and names that can become Zarr nodes. Decoders check their own headers
//! before a C library opens the file; this is the same check on what any
//! decoder delivers, so no format can slip past it.

use crate::model::{DatasetSchema, VariableSchema};
use crate::ports::{DecodeError, DecodeLimits};

/// Refuses a schema that exceeds `limits` or holds a name the repository
/// cannot store. The message names the variable, the limit and its setting.
pub fn screen(schema: &DatasetSchema, limits: &DecodeLimits) -> Result<(), DecodeError> {
    let count = schema.variables.len() as u64;
    if count > limits.max_variables {
        return Err(DecodeError::TooLarge(format!(
            "the file holds {count} variables, over the limit of {} (HUB_LIMIT_VARIABLES); split it into smaller files",
            limits.max_variables
        )));
    }
    for group in &schema.groups {
        check_path("group", &group.path, true)?;
    }
    let mut total: u64 = 0;
    for var in &schema.variables {
        check_path("variable", &var.path, false)?;
        for dim in &var.dims {
            check_dim_name(&var.path, dim)?;
        }
        check_variable(var, limits)?;
        total = total.saturating_add(var.nbytes());
    }
    if total > limits.max_decoded_bytes {
        return Err(DecodeError::TooLarge(format!(
            "the file decodes to {} ({total} bytes), over the limit of {} per file (HUB_LIMIT_DECODED_GIB); split it along time",
            human_bytes(total),
            human_bytes(limits.max_decoded_bytes)
        )));
    }
    Ok(())
}

fn check_variable(var: &VariableSchema, limits: &DecodeLimits) -> Result<(), DecodeError> {
    let rank = var.shape.len() as u64;
    if rank > limits.max_rank {
        return Err(DecodeError::TooLarge(format!(
            "{}: {rank} dimensions, over the limit of {} (HUB_LIMIT_RANK)",
            var.path, limits.max_rank
        )));
    }
    if let [.., ny, nx] = var.shape.as_slice() {
        let cells = ny.saturating_mul(*nx);
        if cells > limits.max_grid_cells {
            return Err(DecodeError::TooLarge(format!(
                "{}: a grid of {ny} × {nx} = {cells} cells, over the limit of {} cells (HUB_LIMIT_GRID_CELLS)",
                var.path, limits.max_grid_cells
            )));
        }
    }
    Ok(())
}

/// A slash-separated path whose every segment is a valid node name (the root
/// group's path is empty).
fn check_path(what: &str, path: &str, may_be_root: bool) -> Result<(), DecodeError> {
    if path.is_empty() && may_be_root {
        return Ok(());
    }
    for segment in path.split('/') {
        if let Some(why) = bad_name(segment) {
            return Err(DecodeError::Unsupported(format!(
                "{what} {path:?}: {why}, which the hub cannot store as a Zarr node; rename it (e.g. with ncrename) and upload the file again"
            )));
        }
    }
    Ok(())
}

fn check_dim_name(var: &str, dim: &str) -> Result<(), DecodeError> {
    if dim.is_empty() || dim.chars().all(|c| c == '.') || dim.contains('\0') {
        return Err(DecodeError::Unsupported(format!(
            "{var}: dimension name {dim:?} is not a usable name; rename the dimension (e.g. with ncrename -d) and upload the file again"
        )));
    }
    Ok(())
}

/// Why a name cannot be a Zarr v3 node name (the specification's rules: not
/// empty, not only periods, no `/`, not starting with `__`), or `None`.
fn bad_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it has an empty name or path segment")
    } else if name.chars().all(|c| c == '.') {
        Some("a name or path segment made only of periods (`.` or `..`)")
    } else if name.starts_with("__") {
        Some("a name starting with `__` (reserved by Zarr)")
    } else if name.contains('\0') {
        Some("a name holding a NUL character")
    } else {
        None
    }
}

/// Bytes for people: `64 GiB`, `1.5 MiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attributes, DataType, GroupSchema};

    fn var(path: &str, shape: &[u64]) -> VariableSchema {
        VariableSchema {
            path: path.into(),
            dims: (0..shape.len()).map(|i| format!("d{i}")).collect(),
            shape: shape.to_vec(),
            dtype: DataType::Float64,
            attrs: Attributes::new(),
            source_chunks: None,
        }
    }

    fn schema(vars: Vec<VariableSchema>) -> DatasetSchema {
        DatasetSchema {
            groups: vec![GroupSchema { path: String::new(), attrs: Attributes::new() }],
            variables: vars,
            ..DatasetSchema::default()
        }
    }

    #[test]
    fn ordinary_schemas_pass() {
        let s = schema(vec![var("tas", &[3650, 360, 720]), var("image1/image_data", &[765, 700])]);
        assert!(screen(&s, &DecodeLimits::default()).is_ok());
    }

    #[test]
    fn declared_sizes_over_the_limits_are_refused_naming_the_limit() {
        let limits = DecodeLimits::default();
        for (s, needle) in [
            (schema(vec![var("huge", &[100_000, 100_000])]), "HUB_LIMIT_GRID_CELLS"),
            (schema(vec![var("deep", &[1; 40])]), "HUB_LIMIT_RANK"),
            (schema(vec![var("long", &[u64::MAX, 2, 2])]), "HUB_LIMIT_DECODED_GIB"),
            (schema((0..10_001).map(|i| var(&format!("v{i}"), &[1])).collect()), "HUB_LIMIT_VARIABLES"),
        ] {
            let e = screen(&s, &limits).map(|()| String::new()).unwrap_or_else(|e| e.to_string());
            assert!(e.contains(needle), "{e}");
            assert!(e.starts_with("too large"), "{e}");
        }
    }

    #[test]
    fn names_that_are_not_nodes_are_refused() {
        for bad in ["..", "a/../../b", ".", "a//b", "__zarr", "x\0y"] {
            let e = screen(&schema(vec![var(bad, &[2])]), &DecodeLimits::default());
            assert!(matches!(e, Err(DecodeError::Unsupported(ref m)) if m.contains("rename")), "{bad:?}: {e:?}");
        }
        let mut s = schema(vec![var("ok", &[2])]);
        s.variables[0].dims[0] = String::new();
        assert!(screen(&s, &DecodeLimits::default()).is_err());
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(64 << 30), "64 GiB");
        assert_eq!(human_bytes(1536 << 10), "1.5 MiB");
        assert_eq!(human_bytes(12), "12 bytes");
    }
}
