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
//! After the rules, the keys of the ensembles (`ensembles.<id>.key`, see
//! [`crate::ensembles`]) are tried: a match lands the upload in its member
//! dataset, the key's named groups becoming the member's facets.
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
use crate::analytics::Statistic;
use crate::ensembles::{EnsembleSettings, EnsembleSpec};
use crate::model::DatasetId;
use crate::regions::RegionSetId;

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
    /// Global attributes a new dataset gets beside the file's (an ensemble
    /// member's facets, see [`crate::ensembles`]).
    pub attributes: BTreeMap<String, String>,
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

/// What the configuration says about one dataset, beside the rules that
/// feed it: the region sets attached to it (listed as its EDR locations)
/// and the statistics kept for them.
///
/// ```json
/// { "datasets": { "cmip6-tas": { "regions": ["basins", "countries"], "statistics": ["mean", "max"] },
///                "fmi-radar": { "time_major": { "enabled": true, "block": 288, "tile": 64 } } } }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSettings {
    /// Region sets attached.
    #[serde(default)]
    pub regions: Vec<RegionSetId>,
    /// Statistics kept per region (names as in `statistic=`); `mean` when empty.
    #[serde(default)]
    pub statistics: Vec<String>,
    /// The time-major copy: on or off, block and tile (defaults in
    /// [`crate::time_major`]).
    #[serde(default)]
    pub time_major: crate::time_major::TimeMajorSettings,
}

impl DatasetSettings {
    /// The statistics to keep, `mean` when none are named.
    pub fn statistics(&self) -> Vec<Statistic> {
        Statistic::parse_list(&self.statistics.join(",")).unwrap_or_else(|_| vec![Statistic::Mean])
    }
}

/// How an uploaded region file is read (`region_sets.<set>`): the fields
/// holding ids and names, and the CRS when the file has none.
///
/// ```json
/// { "region_sets": { "basins": { "id_field": "HYBAS_ID" } } }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionFileSettings {
    /// The id field (default: `id`, else features are numbered).
    #[serde(default)]
    pub id_field: Option<String>,
    /// The name field (default: `name`).
    #[serde(default)]
    pub name_field: Option<String>,
    /// The CRS of the coordinates, overriding the file's.
    #[serde(default)]
    pub crs: Option<String>,
}

/// Where uploads register region sets: `<prefix><set>.<geojson|json|zip|gpkg>`.
pub const REGIONS_UPLOAD_PREFIX: &str = "regions/";

/// The parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct DatasetConfig {
    rules: Vec<(DatasetRuleConfig, Regex, Option<TimePattern>)>,
    datasets: BTreeMap<DatasetId, DatasetSettings>,
    region_sets: BTreeMap<RegionSetId, RegionFileSettings>,
    ensembles: BTreeMap<DatasetId, EnsembleSpec>,
}

impl DatasetConfig {
    /// Parses and checks a configuration document.
    pub fn parse(json: &str) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            #[serde(default)]
            rules: Vec<DatasetRuleConfig>,
            #[serde(default)]
            datasets: BTreeMap<DatasetId, DatasetSettings>,
            #[serde(default)]
            region_sets: BTreeMap<RegionSetId, RegionFileSettings>,
            #[serde(default)]
            ensembles: BTreeMap<DatasetId, EnsembleSettings>,
        }
        let doc: Doc = serde_json::from_str(json).map_err(|e| ConfigError::Parse(e.to_string()))?;
        for (id, settings) in &doc.datasets {
            settings.time_major.check().map_err(|e| ConfigError::Parse(format!("datasets.{id}: {e}")))?;
            if !settings.statistics.is_empty() {
                Statistic::parse_list(&settings.statistics.join(","))
                    .map_err(|e| ConfigError::Parse(format!("datasets.{id}.statistics: {e}")))?;
            }
        }
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
        let mut ensembles = BTreeMap::new();
        for (id, settings) in doc.ensembles {
            let spec = EnsembleSpec::new(id.clone(), settings).map_err(|e| ConfigError::Parse(e.to_string()))?;
            ensembles.insert(id, spec);
        }
        Ok(Self { rules, datasets: doc.datasets, region_sets: doc.region_sets, ensembles })
    }

    /// The region set an uploaded object registers, and how to read it:
    /// `regions/<set>.<geojson|json|zip|gpkg>` (a Shapefile comes zipped
    /// with its `.dbf` and `.prj`).
    pub fn region_upload(&self, key: &str) -> Option<(RegionSetId, RegionFileSettings)> {
        let name = key.strip_prefix(REGIONS_UPLOAD_PREFIX)?;
        let (stem, ext) = name.rsplit_once('.')?;
        if name.contains('/') || !["geojson", "json", "zip", "gpkg"].contains(&ext.to_ascii_lowercase().as_str()) {
            return None;
        }
        let id = RegionSetId::new(stem).ok()?;
        let settings = self.region_sets.get(&id).cloned().unwrap_or_default();
        Some((id, settings))
    }

    /// What the configuration says about a dataset.
    pub fn dataset(&self, id: &DatasetId) -> Option<&DatasetSettings> {
        self.datasets.get(id)
    }

    /// The ensembles, by id.
    pub fn ensembles(&self) -> &BTreeMap<DatasetId, EnsembleSpec> {
        &self.ensembles
    }

    /// The datasets a region set is attached to.
    pub fn attached_to(&self, set: &RegionSetId) -> Vec<DatasetId> {
        self.datasets.iter().filter(|(_, s)| s.regions.contains(set)).map(|(id, _)| id.clone()).collect()
    }

    /// The document `json` with `set` attached to `datasets` (kept once,
    /// everything else as it was), checked.
    pub fn attach(json: &str, set: &RegionSetId, datasets: &[DatasetId]) -> Result<String, ConfigError> {
        let mut doc: serde_json::Value = if json.trim().is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_str(json).map_err(|e| ConfigError::Parse(e.to_string()))?
        };
        let root = doc.as_object_mut().ok_or_else(|| ConfigError::Parse("the document is not an object".into()))?;
        let map = root.entry("datasets").or_insert_with(|| serde_json::json!({}));
        let map = map.as_object_mut().ok_or_else(|| ConfigError::Parse("`datasets` is not an object".into()))?;
        for d in datasets {
            let entry = map.entry(d.as_str()).or_insert_with(|| serde_json::json!({}));
            let entry =
                entry.as_object_mut().ok_or_else(|| ConfigError::Parse(format!("datasets.{d} is not an object")))?;
            let list = entry.entry("regions").or_insert_with(|| serde_json::json!([]));
            let list =
                list.as_array_mut().ok_or_else(|| ConfigError::Parse(format!("datasets.{d}.regions is not a list")))?;
            if !list.iter().any(|v| v.as_str() == Some(set.as_str())) {
                list.push(serde_json::Value::String(set.to_string()));
            }
        }
        let text = serde_json::to_string_pretty(&doc).map_err(|e| ConfigError::Parse(e.to_string()))?;
        Self::parse(&text)?;
        Ok(text)
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
                    attributes: BTreeMap::new(),
                },
                rule: Some(i),
            });
        }
        for spec in self.ensembles.values() {
            if let Some(found) = spec.upload(key) {
                let (dataset, attributes) = found.map_err(|e| ConfigError::Parse(e.to_string()))?;
                return Ok(Resolved {
                    dataset,
                    options: IngestOptions { attributes, ..IngestOptions::default() },
                    rule: None,
                });
            }
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

#[cfg(test)]
mod dataset_settings_tests {
    use super::*;

    #[test]
    fn datasets_name_their_region_sets_and_statistics_and_attach_keeps_the_rest() {
        let doc = r#"{"rules": [{"key": "^a/", "dataset": "a"}], "datasets": {"daily": {"regions": ["basins"], "statistics": ["mean", "max"]}}}"#;
        let c = DatasetConfig::parse(doc).unwrap_or_else(|e| panic!("{e}"));
        let daily = DatasetId::new("daily").unwrap_or_else(|e| panic!("{e}"));
        let s = c.dataset(&daily).cloned().unwrap_or_default();
        assert_eq!(s.statistics(), vec![Statistic::Mean, Statistic::Max]);
        let basins = RegionSetId::new("basins").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.attached_to(&basins), vec![daily.clone()]);
        let other = DatasetId::new("other").unwrap_or_else(|e| panic!("{e}"));
        let text =
            DatasetConfig::attach(doc, &basins, &[daily.clone(), other.clone()]).unwrap_or_else(|e| panic!("{e}"));
        let c = DatasetConfig::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.rules().count(), 1);
        assert_eq!(c.attached_to(&basins), vec![daily.clone(), other]);
        assert_eq!(c.dataset(&daily).map(|s| s.regions.len()), Some(1), "attached once");
        assert!(DatasetConfig::parse(r#"{"datasets": {"d": {"statistics": ["median"]}}}"#).is_err());
    }

    #[test]
    fn region_files_are_recognised_by_their_key() {
        let c = DatasetConfig::parse(r#"{"region_sets": {"basins": {"id_field": "HYBAS_ID"}}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let (set, how) = c.region_upload("regions/basins.geojson").unwrap_or_else(|| panic!("a region file"));
        assert_eq!((set.as_str(), how.id_field.as_deref()), ("basins", Some("HYBAS_ID")));
        assert_eq!(
            c.region_upload("regions/countries.zip").map(|(s, h)| (s.to_string(), h)),
            Some(("countries".into(), RegionFileSettings::default()))
        );
        for not in ["regions/a/b.geojson", "regions/basins.nc", "incoming/basins.geojson", "regions/Bad Name.json"] {
            assert!(c.region_upload(not).is_none(), "{not}");
        }
    }
}
