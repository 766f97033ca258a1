//! Validated identifiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} id {value:?}: {reason}")]
pub struct InvalidId {
    /// What kind of id (`dataset`, `region set`).
    pub what: &'static str,
    /// The refused text.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// What is wrong with `value` as an id that is also an object-store prefix,
/// a URL path segment and a file name (dataset and region-set ids).
pub(crate) fn id_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("it is empty")
    } else if value.len() > DatasetId::MAX_LEN {
        Some("it is longer than 64 characters")
    } else if !value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')) {
        Some("only lowercase letters, digits, '.', '_' and '-' are allowed")
    } else if !value.as_bytes()[0].is_ascii_alphanumeric() {
        Some("it must start with a letter or a digit")
    } else {
        None
    }
}

/// The id of a dataset: one Icechunk repository under the hub root, and one
/// collection in the API.
///
/// 1 to 64 characters from `[a-z0-9._-]`, starting with a letter or digit, so it is
/// safe as an object-store prefix, a URL path segment and a file name on every
/// platform. Names starting with `_` are reserved for the hub's own objects
/// (reports, configuration).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatasetId(String);

impl DatasetId {
    /// Longest accepted id.
    pub const MAX_LEN: usize = 64;

    /// Validates `value` as a dataset id.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        match id_problem(&value) {
            Some(reason) => Err(InvalidId { what: "dataset", value, reason }),
            None => Ok(Self(value)),
        }
    }

    /// Derives an id from free text such as a file name: lowercased, every run of
    /// other characters replaced by `-`, trimmed to the allowed length. Returns
    /// `None` when nothing usable is left.
    pub fn sanitized(text: &str) -> Option<Self> {
        let mut out = String::with_capacity(text.len());
        for ch in text.chars() {
            let c = ch.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                out.push(c);
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        let trimmed = out.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        let mut s: String = trimmed.chars().take(Self::MAX_LEN).collect();
        while s.ends_with(['-', '.', '_']) {
            s.pop();
        }
        Self::new(s).ok()
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DatasetId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for DatasetId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<DatasetId> for String {
    fn from(id: DatasetId) -> Self {
        id.0
    }
}

impl AsRef<str> for DatasetId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids() {
        for ok in ["era5", "gfs-0p25", "cmip6.tas_day", "a", "0abc"] {
            assert!(DatasetId::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_unsafe_ids() {
        for bad in ["", "_reports", "-x", "UPPER", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(DatasetId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sanitizes_file_names() {
        let id = DatasetId::sanitized("tas_Amon_HadGEM2-ES_rcp85 (v2)").map(String::from);
        assert_eq!(id.as_deref(), Some("tas_amon_hadgem2-es_rcp85-v2"));
        assert_eq!(DatasetId::sanitized("___"), None);
        assert_eq!(DatasetId::sanitized("Ünïcode").map(String::from).as_deref(), Some("n-code"));
    }
}
