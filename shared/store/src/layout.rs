//! The key layout of a hub root:
//!
//! ```text
//! <root>/<dataset-id>/...     one Icechunk repository per dataset
//! <root>/_reports/...         ingest reports (see `reports`)
//! <root>/_regions/<set>.json  registered region sets (see `regions`)
//! ```
//!
//! Dataset ids never start with `_`, so the hub's own prefixes cannot clash.

/// Prefix of the ingest reports.
pub const REPORTS_PREFIX: &str = "_reports";

/// Prefix of the region sets.
pub const REGIONS_PREFIX: &str = "_regions";

/// Whether a top-level prefix belongs to the hub itself rather than a dataset.
pub fn is_reserved(prefix: &str) -> bool {
    prefix.starts_with('_')
}
