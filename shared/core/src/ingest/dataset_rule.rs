//! Which dataset an uploaded object belongs to.
//!
//! The documented rule: an object key `incoming/<dataset>/<anything>` goes to
//! `<dataset>`; any other key goes to a dataset named after its file (the last
//! path segment without its extensions, lowercased, other characters turned
//! into `-`). The pattern can be replaced (a regex with a `dataset` group), or a
//! fixed dataset given (environment `HUB_DATASET`, CLI `--dataset`).

use regex::Regex;

use crate::model::{DatasetId, InvalidId};

/// Why no dataset could be derived from a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The pattern is not a regular expression with a `dataset` group.
    #[error("invalid dataset pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// The pattern matched but the captured text is not a valid id.
    #[error("key {key:?} names dataset {source}")]
    BadId {
        /// The key.
        key: String,
        /// The id error.
        source: InvalidId,
    },
    /// Nothing usable in the key.
    #[error("no dataset id can be derived from key {0:?}")]
    NoName(String),
}

/// Maps object keys to dataset ids.
#[derive(Debug, Clone)]
pub struct DatasetRule {
    pattern: Regex,
    fixed: Option<DatasetId>,
}

/// The default pattern: `incoming/<dataset>/<file>`.
pub const DEFAULT_PATTERN: &str = r"^incoming/(?P<dataset>[^/]+)/.+";

/// Extensions stripped from file names before they become dataset ids.
const EXTENSIONS: &[&str] = &[
    "nc", "nc3", "nc4", "netcdf", "cdf", "h5", "hdf5", "he5", "grib", "grib2", "grb", "grb2", "tif", "tiff", "gz",
    "bz2",
];

impl Default for DatasetRule {
    fn default() -> Self {
        // The default pattern is a valid constant.
        #[allow(clippy::expect_used)]
        Self { pattern: Regex::new(DEFAULT_PATTERN).expect("valid default pattern"), fixed: None }
    }
}

impl DatasetRule {
    /// A rule with a custom pattern (which must have a `dataset` group).
    pub fn with_pattern(pattern: &str) -> Result<Self, RuleError> {
        let re = Regex::new(pattern)
            .map_err(|e| RuleError::BadPattern { pattern: pattern.into(), reason: e.to_string() })?;
        if !re.capture_names().flatten().any(|n| n == "dataset") {
            return Err(RuleError::BadPattern {
                pattern: pattern.into(),
                reason: "it has no (?P<dataset>...) group".into(),
            });
        }
        Ok(Self { pattern: re, fixed: None })
    }

    /// A rule that sends everything to one dataset.
    /// The rule of the environment: `HUB_DATASET` (every upload into one
    /// dataset) or `HUB_DATASET_PATTERN`, else the default.
    pub fn from_env() -> Result<Self, crate::settings::EnvError> {
        use crate::settings::{EnvError, text};
        match (text("HUB_DATASET"), text("HUB_DATASET_PATTERN")) {
            (Some(id), _) => DatasetId::new(&id).map(Self::fixed).map_err(|_| EnvError::Invalid {
                name: "HUB_DATASET",
                value: id,
                expected: "a dataset id (letters, digits, '-', '_', '.')",
            }),
            (None, Some(p)) => Self::with_pattern(&p).map_err(|_| EnvError::Invalid {
                name: "HUB_DATASET_PATTERN",
                value: p,
                expected: "a regular expression with a named group `dataset`",
            }),
            (None, None) => Ok(Self::default()),
        }
    }

    /// One dataset for every upload.
    pub fn fixed(dataset: DatasetId) -> Self {
        Self { fixed: Some(dataset), ..Self::default() }
    }

    /// The dataset of an object key (already URL-decoded).
    pub fn dataset_for(&self, key: &str) -> Result<DatasetId, RuleError> {
        if let Some(id) = &self.fixed {
            return Ok(id.clone());
        }
        if let Some(m) = self.pattern.captures(key).and_then(|c| c.name("dataset")) {
            return DatasetId::new(m.as_str()).map_err(|source| RuleError::BadId { key: key.into(), source });
        }
        let file = key.rsplit('/').next().unwrap_or(key);
        let mut stem = file;
        while let Some((head, ext)) = stem.rsplit_once('.') {
            if EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) && !head.is_empty() {
                stem = head;
            } else {
                break;
            }
        }
        DatasetId::sanitized(stem).ok_or_else(|| RuleError::NoName(key.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(rule: &DatasetRule, key: &str) -> String {
        rule.dataset_for(key).map(String::from).unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn incoming_prefix_names_the_dataset() {
        let r = DatasetRule::default();
        assert_eq!(id(&r, "incoming/era5/2024/01/file.nc"), "era5");
        assert_eq!(id(&r, "incoming/gfs-0p25/gfs.t12z.grib2"), "gfs-0p25");
        assert!(r.dataset_for("incoming/Bad Name/x.nc").is_err());
    }

    #[test]
    fn other_keys_use_the_file_name() {
        let r = DatasetRule::default();
        assert_eq!(
            id(&r, "uploads/tas_Amon_HadGEM2-ES_rcp85_r1i1p1_200512-203011.nc"),
            "tas_amon_hadgem2-es_rcp85_r1i1p1_200512-203011"
        );
        assert_eq!(id(&r, "a/b/radar.composite.tif"), "radar.composite");
        assert_eq!(id(&r, "x.nc.gz"), "x");
        assert_eq!(id(&r, "incoming/only-two-parts"), "only-two-parts");
        assert!(r.dataset_for("incoming/___.nc").is_err());
    }

    #[test]
    fn custom_pattern_and_fixed_dataset() {
        let r = DatasetRule::with_pattern(r"^(?P<dataset>[a-z0-9]+)_").unwrap_or_default();
        assert_eq!(id(&r, "radar_201609281600.tif"), "radar");
        assert!(DatasetRule::with_pattern("no-group").is_err());
        assert!(DatasetRule::with_pattern("(").is_err());
        let fixed = DatasetRule::fixed(DatasetId::new("one").unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(id(&fixed, "incoming/other/x.nc"), "one");
    }
}
