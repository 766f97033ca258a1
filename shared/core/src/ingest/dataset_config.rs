//! The datasets' configuration: one JSON document per hub
//! (`_config/datasets.json` under the hub root) that says, for uploaded
//! object keys, which dataset they feed and how.
//!
//! ```json
//! {
//!   "rules": [
//!     {
//!       "key": "^radar/fmi/.*_FINUTM\\.tif$",
//!       "dataset": "fmi-radar",
//!       "valid_time": { "key": "{YYYY}{MM}{DD}{hh}{mm}" },
//!       "variables": ["band1"],
//!       "chunks": { "band1": [1, 1024, 1024] },
//!       "publication_deadline_minutes": 10
//!     },
//!     { "key": "^nwp/(?P<dataset>[a-z0-9-]+)/", "valid_time": "metadata" }
//!   ]
//! }
//! ```
//!
//! Rules are tried in order; the first whose `key` regex matches the object
//! key applies. Its dataset is `dataset`, or else the regex's `dataset`
//! group. `valid_time` says where a file's time comes from: `"metadata"` (the
//! file's own time axis, or for a single raster its `TIFFTAG_DATETIME`), or a
//! pattern found in the key, with `{YYYY}`, `{MM}`, `{DD}`, `{hh}`, `{mm}`,
//! `{ss}` standing for the fields (UTC). `crs` is the CRS of rasters that carry
//! none (any definition GDAL reads: `EPSG:3067`, WKT, PROJ). The deadline is
//! kept for timeliness analytics.
//!
//! Without a matching rule the documented default applies: the dataset from
//! the key (`incoming/<dataset>/...`, else the file name, see
//! [`DatasetRule`]), the time from the file's metadata, and for a GeoTIFF
//! without any time in it, a `YYYYMMDDhhmm` stamp in its file name.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::{DatasetRule, RuleError};
use crate::model::DatasetId;

/// Where the hub keeps the configuration, relative to its root.
pub const CONFIG_KEY: &str = "_config/datasets.json";

/// Why the configuration cannot be used, or a key not resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The document is not valid JSON of the expected shape.
    #[error("invalid dataset configuration: {0}")]
    Parse(String),
    /// A rule is inconsistent.
    #[error("dataset configuration, rule {rule}: {reason}")]
    Rule {
        /// Index of the rule (0-based).
        rule: usize,
        /// Why.
        reason: String,
    },
    /// The key matched a rule but its time pattern is not in it.
    #[error("key {key:?} matched rule {rule} but does not contain its time pattern {pattern:?}")]
    NoTimeInKey {
        /// The key.
        key: String,
        /// The rule.
        rule: usize,
        /// The pattern.
        pattern: String,
    },
    /// No dataset can be derived from the key.
    #[error(transparent)]
    Dataset(#[from] RuleError),
}

/// Where a file's valid time comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidTimeSource {
    /// The file's own time axis or time metadata.
    #[default]
    Metadata,
    /// A pattern in the object key, e.g. `{YYYY}{MM}{DD}{hh}{mm}`.
    Key(String),
}

/// One rule of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetRuleConfig {
    /// Regex on the object key.
    pub key: String,
    /// The dataset id (else the regex's `dataset` group).
    #[serde(default)]
    pub dataset: Option<String>,
    /// Where the valid time comes from.
    #[serde(default)]
    pub valid_time: ValidTimeSource,
    /// Variables to keep (with their coordinates and grid mappings); all when absent.
    #[serde(default)]
    pub variables: Option<Vec<String>>,
    /// Chunk shapes by variable, overriding the chunk policy for new arrays.
    #[serde(default)]
    pub chunks: BTreeMap<String, Vec<u64>>,
    /// CRS of rasters that carry none.
    #[serde(default)]
    pub crs: Option<String>,
    /// Minutes after the nominal time by which the product should be published.
    #[serde(default)]
    pub publication_deadline_minutes: Option<u32>,
}

/// How one upload is to be ingested.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOptions {
    /// The valid time given by the key (rasters without a time axis get it).
    pub valid_time: Option<NaiveDateTime>,
    /// When no rule applied: look for a `YYYYMMDDhhmm` stamp in the key of a
    /// raster that has no time of its own.
    pub time_from_key_default: bool,
    /// Variables to keep; all when `None`.
    pub variables: Option<Vec<String>>,
    /// Chunk shapes by variable for new arrays.
    pub chunks: BTreeMap<String, Vec<u64>>,
    /// CRS for rasters that carry none.
    pub crs: Option<String>,
}

/// The dataset and options of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Target dataset.
    pub dataset: DatasetId,
    /// Options.
    pub options: IngestOptions,
    /// The rule that matched, if any.
    pub rule: Option<usize>,
}

/// The parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct DatasetConfig {
    rules: Vec<(DatasetRuleConfig, Regex, Option<TimePattern>)>,
}

impl DatasetConfig {
    /// Parses and checks a configuration document.
    pub fn parse(json: &str) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            #[serde(default)]
            rules: Vec<DatasetRuleConfig>,
        }
        let doc: Doc = serde_json::from_str(json).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let mut rules = Vec::with_capacity(doc.rules.len());
        for (i, rule) in doc.rules.into_iter().enumerate() {
            let bad = |reason: String| ConfigError::Rule { rule: i, reason };
            let re = Regex::new(&rule.key).map_err(|e| bad(format!("key regex: {e}")))?;
            match &rule.dataset {
                Some(id) => {
                    DatasetId::new(id.as_str()).map_err(|e| bad(e.to_string()))?;
                }
                None if !re.capture_names().flatten().any(|n| n == "dataset") => {
                    return Err(bad("give `dataset` or a (?P<dataset>...) group in `key`".into()));
                }
                None => {}
            }
            let time = match &rule.valid_time {
                ValidTimeSource::Metadata => None,
                ValidTimeSource::Key(p) => Some(TimePattern::new(p).map_err(|e| bad(e.0))?),
            };
            rules.push((rule, re, time));
        }
        Ok(Self { rules })
    }

    /// The rules, in order.
    pub fn rules(&self) -> impl Iterator<Item = &DatasetRuleConfig> {
        self.rules.iter().map(|(r, _, _)| r)
    }

    /// The dataset and options for an object key; `fallback` names the
    /// dataset when no rule matches.
    pub fn resolve(&self, key: &str, fallback: &DatasetRule) -> Result<Resolved, ConfigError> {
        for (i, (rule, re, time)) in self.rules.iter().enumerate() {
            let Some(caps) = re.captures(key) else { continue };
            let dataset = match (&rule.dataset, caps.name("dataset")) {
                (Some(id), _) => {
                    DatasetId::new(id.as_str()).map_err(|e| ConfigError::Rule { rule: i, reason: e.to_string() })?
                }
                (None, Some(m)) => DatasetId::new(m.as_str())
                    .map_err(|source| ConfigError::Dataset(RuleError::BadId { key: key.into(), source }))?,
                (None, None) => return Err(ConfigError::Rule { rule: i, reason: "no dataset".into() }),
            };
            let valid_time = match time {
                None => None,
                Some(p) => Some(p.find(key).ok_or_else(|| ConfigError::NoTimeInKey {
                    key: key.into(),
                    rule: i,
                    pattern: p.source.clone(),
                })?),
            };
            return Ok(Resolved {
                dataset,
                options: IngestOptions {
                    valid_time,
                    time_from_key_default: false,
                    variables: rule.variables.clone(),
                    chunks: rule.chunks.clone(),
                    crs: rule.crs.clone(),
                },
                rule: Some(i),
            });
        }
        Ok(Resolved {
            dataset: fallback.dataset_for(key)?,
            options: IngestOptions { time_from_key_default: true, ..IngestOptions::default() },
            rule: None,
        })
    }
}

/// A time pattern such as `{YYYY}{MM}{DD}{hh}{mm}`, compiled.
#[derive(Debug, Clone)]
pub struct TimePattern {
    source: String,
    re: Regex,
}

/// A key pattern that cannot be compiled, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(pub String);

impl TimePattern {
    /// The default stamp looked for in a raster's file name.
    pub const DEFAULT: &'static str = "{YYYY}{MM}{DD}{hh}{mm}";

    /// Compiles a pattern; the text around the fields is matched literally.
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        let mut re = String::new();
        let mut rest = pattern;
        let mut seen = Vec::new();
        while let Some(open) = rest.find('{') {
            re.push_str(&regex::escape(&rest[..open]));
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| PatternError(format!("unclosed {{ in time pattern {pattern:?}")))?
                + open;
            let field = &rest[open + 1..close];
            let (name, digits) = match field {
                "YYYY" => ("Y", 4),
                "MM" => ("M", 2),
                "DD" => ("D", 2),
                "hh" => ("h", 2),
                "mm" => ("m", 2),
                "ss" => ("s", 2),
                other => {
                    return Err(PatternError(format!(
                        "unknown field {{{other}}} in time pattern {pattern:?} (use YYYY, MM, DD, hh, mm, ss)"
                    )));
                }
            };
            if seen.contains(&name) {
                return Err(PatternError(format!("field {{{field}}} twice in time pattern {pattern:?}")));
            }
            seen.push(name);
            re.push_str(&format!("(?P<{name}>\\d{{{digits}}})"));
            rest = &rest[close + 1..];
        }
        re.push_str(&regex::escape(rest));
        for need in ["Y", "M", "D"] {
            if !seen.contains(&need) {
                return Err(PatternError(format!(
                    "time pattern {pattern:?} needs at least {{YYYY}}, {{MM}} and {{DD}}"
                )));
            }
        }
        let re = Regex::new(&re).map_err(|e| PatternError(e.to_string()))?;
        Ok(Self { source: pattern.to_string(), re })
    }

    /// The time in `text` (the last match wins: file names come last in keys).
    pub fn find(&self, text: &str) -> Option<NaiveDateTime> {
        self.re
            .captures_iter(text)
            .filter_map(|c| {
                let f = |n: &str| c.name(n).map_or(Some(0), |m| m.as_str().parse::<u32>().ok());
                let year = c.name("Y")?.as_str().parse::<i32>().ok()?;
                chrono::NaiveDate::from_ymd_opt(year, f("M")?, f("D")?)?.and_hms_opt(f("h")?, f("m")?, f("s")?)
            })
            .last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
      "rules": [
        {"key": "^radar/fmi/.*_FINUTM\\.tif$", "dataset": "fmi-radar",
         "valid_time": {"key": "{YYYY}{MM}{DD}{hh}{mm}"}, "variables": ["band1"],
         "chunks": {"band1": [1, 1024, 1024]}, "publication_deadline_minutes": 10, "crs": "EPSG:3067"},
        {"key": "^nwp/(?P<dataset>[a-z0-9-]+)/"}
      ]
    }"#;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap_or_default()
    }

    #[test]
    fn first_matching_rule_applies() {
        let c = DatasetConfig::parse(DOC).unwrap_or_else(|e| panic!("{e}"));
        let r =
            c.resolve("radar/fmi/201609281600_FINUTM.tif", &DatasetRule::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.dataset.as_str(), "fmi-radar");
        assert_eq!(r.options.valid_time, Some(t("2016-09-28 16:00:00")));
        assert_eq!(r.options.variables, Some(vec!["band1".to_string()]));
        assert_eq!(r.options.crs.as_deref(), Some("EPSG:3067"));
        assert_eq!(r.rule, Some(0));
        let r = c.resolve("nwp/gfs-2p5/gfs.t12z.grib2", &DatasetRule::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.dataset.as_str(), r.rule, r.options.valid_time), ("gfs-2p5", Some(1), None));
    }

    #[test]
    fn the_default_applies_without_a_rule() {
        let c = DatasetConfig::parse(DOC).unwrap_or_else(|e| panic!("{e}"));
        let r = c.resolve("incoming/other/x.nc", &DatasetRule::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.dataset.as_str(), r.rule), ("other", None));
        assert!(r.options.time_from_key_default);
        let empty = DatasetConfig::default();
        assert!(empty.resolve("incoming/a/b.tif", &DatasetRule::default()).is_ok());
    }

    #[test]
    fn bad_documents_and_keys_say_why() {
        let err = |doc: &str| DatasetConfig::parse(doc).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err("{").contains("invalid"));
        assert!(err(r#"{"rules": [{"key": "("}]}"#).contains("regex"));
        assert!(err(r#"{"rules": [{"key": "x"}]}"#).contains("dataset"));
        assert!(
            err(r#"{"rules": [{"key": "x", "dataset": "a", "valid_time": {"key": "{YY}"}}]}"#)
                .contains("unknown field")
        );
        assert!(err(r#"{"rules": [{"key": "x", "dataset": "a", "colour": 1}]}"#).contains("unknown field"));
        let c = DatasetConfig::parse(DOC).unwrap_or_else(|e| panic!("{e}"));
        let e = c.resolve("radar/fmi/latest_FINUTM.tif", &DatasetRule::default());
        assert!(matches!(e, Err(ConfigError::NoTimeInKey { .. })), "{e:?}");
    }

    #[test]
    fn time_patterns_read_fields_and_ignore_the_rest() {
        let p = TimePattern::new("T_{YYYY}-{MM}-{DD}_{hh}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.find("a/T_2024-02-29_06.tif"), Some(t("2024-02-29 06:00:00")));
        assert_eq!(p.find("a/T_2023-02-29_06.tif"), None, "no such day");
        let d = TimePattern::new(TimePattern::DEFAULT).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.find("2016/09/28/201609281605_FINUTM.tif"), Some(t("2016-09-28 16:05:00")));
        assert!(TimePattern::new("{hh}{mm}").is_err());
    }
}
