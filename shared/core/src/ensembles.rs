//! Multi-model ensembles: member datasets grouped by facets (`scenario`,
//! `model`, `impact_model`, `variant`), one EDR collection per ensemble.
//!
//! An ensemble is declared in the datasets' configuration
//! (`ensembles.<id>`, see [`EnsembleSettings`]). A dataset is a member when
//!
//! - the configuration lists it (`members`, what `hub ensembles add` writes);
//! - it was created by an upload whose key matched the ensemble's `key`
//!   pattern: the pattern's named groups are facet values, written into the
//!   dataset's global attributes (`hub_ensemble`, `hub_facet_<name>`) in the
//!   same commit as its first data, so a member joins when its data land;
//! - its id matches the ensemble's `datasets` pattern (named groups give
//!   facets).
//!
//! Facets a member's entry leaves open are read from its global attributes
//! as `attributes` maps them (CMIP/CORDEX `experiment_id`,
//! `driving_model_id`, `source_id`, `variant_label`). Members share one
//! grid; their calendars and time coverage may differ, and every use aligns
//! them on calendar dates or years, never on raw time offsets.

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::model::{Attributes, DatasetId, attr_text};

pub mod period_stats;

/// The global attribute naming the ensemble a dataset was uploaded into.
pub const ENSEMBLE_ATTR: &str = "hub_ensemble";
/// The prefix of the global attributes holding a member's facets.
pub const FACET_ATTR_PREFIX: &str = "hub_facet_";

/// An ensemble in the datasets' configuration.
///
/// ```json
/// { "ensembles": { "tg-mean": {
///     "facets": ["scenario", "model"],
///     "key": "^ensembles/tg_mean/(?P<model>[^_]+)_(?P<scenario>[^_]+)\\.nc$",
///     "attributes": { "model": "driving_model_id" },
///     "members": { "tg-mean-canesm5": { "model": "CanESM5", "scenario": "ssp245" } } } } }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSettings {
    /// The facets, in order: the collection's custom dimensions.
    pub facets: Vec<String>,
    /// Uploads whose key matches land in a member dataset; the regex's named
    /// groups give facet values.
    #[serde(default)]
    pub key: Option<String>,
    /// The member dataset of a matched upload, `{facet}` replaced by the
    /// values (default: the ensemble id and the values, `-`-joined).
    #[serde(default)]
    pub member: Option<String>,
    /// Datasets whose id matches are members (named groups give facets).
    #[serde(default)]
    pub datasets: Option<String>,
    /// Facets read from global attributes: facet → attribute.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Members given by hand: dataset → facet values.
    #[serde(default)]
    pub members: BTreeMap<DatasetId, BTreeMap<String, String>>,
    /// Period statistics each member keeps in step with its data.
    #[serde(default)]
    pub periods: Option<period_stats::PeriodSettings>,
}

/// Why an ensemble's settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ensembles.{ensemble}: {reason}")]
pub struct EnsembleConfigError {
    /// The ensemble.
    pub ensemble: String,
    /// Why.
    pub reason: String,
}

/// Where an upload matched by an ensemble's key lands: the member dataset,
/// and the global attributes that make it a member.
pub type MemberUpload = (DatasetId, BTreeMap<String, String>);

/// An ensemble's settings, checked and compiled.
#[derive(Debug, Clone)]
pub struct EnsembleSpec {
    /// Its id (a collection id, beside the datasets').
    pub id: DatasetId,
    /// As configured.
    pub settings: EnsembleSettings,
    key: Option<Regex>,
    datasets: Option<Regex>,
}

fn facet_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.as_bytes()[0].is_ascii_lowercase()
}

/// Query parameters an ensemble collection takes itself: no facet may be named so.
pub const RESERVED_FACETS: &[&str] = &[
    "coords",
    "bbox",
    "datetime",
    "z",
    "f",
    "crs",
    "method",
    "within",
    "statistic",
    "members",
    "plume",
    "baseline",
    "period",
    "season",
    "month",
];

impl EnsembleSpec {
    /// Checks `settings` for ensemble `id`.
    pub fn new(id: DatasetId, settings: EnsembleSettings) -> Result<Self, EnsembleConfigError> {
        let bad = |reason: String| EnsembleConfigError { ensemble: id.to_string(), reason };
        if settings.facets.is_empty() {
            return Err(bad("name its facets (e.g. \"facets\": [\"scenario\", \"model\"])".into()));
        }
        for f in &settings.facets {
            if !facet_ok(f) || RESERVED_FACETS.contains(&f.as_str()) || f == "parameter_name" {
                return Err(bad(format!(
                    "facet {f:?}: facets are lowercase names of letters, digits and '_' (not a query parameter's name)"
                )));
            }
        }
        let compile = |what: &str, text: &Option<String>| -> Result<Option<Regex>, EnsembleConfigError> {
            let Some(t) = text else { return Ok(None) };
            let re = Regex::new(t).map_err(|e| bad(format!("{what} regex: {e}")))?;
            for name in re.capture_names().flatten() {
                if name != "dataset" && !settings.facets.iter().any(|f| f == name) {
                    return Err(bad(format!("{what} regex group {name:?} is not one of the facets")));
                }
            }
            Ok(Some(re))
        };
        let key = compile("key", &settings.key)?;
        let datasets = compile("datasets", &settings.datasets)?;
        for f in settings.attributes.keys() {
            if !settings.facets.contains(f) {
                return Err(bad(format!("attributes: {f:?} is not one of the facets")));
            }
        }
        if let Some(p) = &settings.periods {
            p.spans().map_err(|e| bad(format!("periods: {e}")))?;
        }
        for (d, facets) in &settings.members {
            if let Some(f) = facets.keys().find(|f| !settings.facets.contains(f)) {
                return Err(bad(format!("members.{d}: {f:?} is not one of the facets {:?}", settings.facets)));
            }
        }
        Ok(Self { id, settings, key, datasets })
    }

    /// The period statistics its members keep (none when not configured).
    pub fn stored_spans(&self) -> Vec<period_stats::StoredSpan> {
        self.settings.periods.as_ref().and_then(|p| p.spans().ok()).unwrap_or_default()
    }

    /// The member dataset an upload of `key` lands in, with the global
    /// attributes that make it a member; `None` when the key is not this
    /// ensemble's.
    pub fn upload(&self, key: &str) -> Option<Result<MemberUpload, EnsembleConfigError>> {
        let caps = self.key.as_ref()?.captures(key)?;
        let values: Vec<(String, String)> = self
            .settings
            .facets
            .iter()
            .filter_map(|f| caps.name(f).map(|m| (f.clone(), m.as_str().to_string())))
            .collect();
        let bad = |reason: String| EnsembleConfigError { ensemble: self.id.to_string(), reason };
        let text = match (caps.name("dataset"), &self.settings.member) {
            (Some(m), _) => m.as_str().to_string(),
            (None, Some(template)) => {
                values.iter().fold(template.clone(), |t, (f, v)| t.replace(&format!("{{{f}}}"), v))
            }
            (None, None) => std::iter::once(self.id.to_string())
                .chain(values.iter().map(|(_, v)| v.clone()))
                .collect::<Vec<_>>()
                .join("-"),
        };
        let dataset = match DatasetId::sanitized(&text) {
            Some(d) => d,
            None => return Some(Err(bad(format!("key {key:?} gives no usable member dataset id ({text:?})")))),
        };
        let mut attrs = BTreeMap::from([(ENSEMBLE_ATTR.to_string(), self.id.to_string())]);
        attrs.extend(values.into_iter().map(|(f, v)| (format!("{FACET_ATTR_PREFIX}{f}"), v)));
        Some(Ok((dataset, attrs)))
    }

    /// Whether `dataset` (with its global attributes) is a member, and its
    /// facets; `Err` names a facet no source gives.
    pub fn member(&self, dataset: &DatasetId, attrs: &Attributes) -> Option<Result<Member, String>> {
        let mut facets: BTreeMap<String, String> = BTreeMap::new();
        let listed = self.settings.members.get(dataset);
        let uploaded = attr_text(attrs, ENSEMBLE_ATTR) == Some(self.id.as_str());
        let matched = self.datasets.as_ref().and_then(|re| re.captures(dataset.as_str()));
        if listed.is_none() && !uploaded && matched.is_none() {
            return None;
        }
        if let Some(caps) = &matched {
            for f in &self.settings.facets {
                if let Some(m) = caps.name(f) {
                    facets.insert(f.clone(), m.as_str().to_string());
                }
            }
        }
        if uploaded {
            for f in &self.settings.facets {
                if let Some(v) = attr_text(attrs, &format!("{FACET_ATTR_PREFIX}{f}")) {
                    facets.insert(f.clone(), v.to_string());
                }
            }
        }
        if let Some(given) = listed {
            facets.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for (f, attr) in &self.settings.attributes {
            if !facets.contains_key(f)
                && let Some(v) = attr_text(attrs, attr)
            {
                facets.insert(f.clone(), v.trim().to_string());
            }
        }
        if let Some(f) = self.settings.facets.iter().find(|f| !facets.contains_key(*f)) {
            return Some(Err(format!(
                "dataset {dataset} gives no value of facet {f:?}: give it with `hub ensembles add {} {dataset} --facet {f}=VALUE`{}",
                self.id,
                self.settings
                    .attributes
                    .get(f)
                    .map(|a| format!(" or set its global attribute {a:?}"))
                    .unwrap_or_default()
            )));
        }
        Some(Ok(Member { dataset: dataset.clone(), facets }))
    }

    /// The settings document with `dataset` listed as a member with `facets`.
    pub fn add_member(
        json: &str,
        ensemble: &DatasetId,
        dataset: &DatasetId,
        facets: &BTreeMap<String, String>,
    ) -> Result<String, crate::ingest::ConfigError> {
        use crate::ingest::ConfigError;
        let mut doc: serde_json::Value = if json.trim().is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_str(json).map_err(|e| ConfigError::Parse(e.to_string()))?
        };
        let root = doc.as_object_mut().ok_or_else(|| ConfigError::Parse("the document is not an object".into()))?;
        let all = root.entry("ensembles").or_insert_with(|| serde_json::json!({}));
        let entry = all
            .as_object_mut()
            .ok_or_else(|| ConfigError::Parse("`ensembles` is not an object".into()))?
            .get_mut(ensemble.as_str())
            .ok_or_else(|| {
                ConfigError::Parse(format!(
                    "no ensemble {ensemble} in the configuration: declare it under `ensembles` first (hub config)"
                ))
            })?;
        let members = entry
            .as_object_mut()
            .ok_or_else(|| ConfigError::Parse(format!("ensembles.{ensemble} is not an object")))?
            .entry("members")
            .or_insert_with(|| serde_json::json!({}));
        let members = members
            .as_object_mut()
            .ok_or_else(|| ConfigError::Parse(format!("ensembles.{ensemble}.members is not an object")))?;
        members
            .insert(dataset.to_string(), serde_json::to_value(facets).map_err(|e| ConfigError::Parse(e.to_string()))?);
        let text = serde_json::to_string_pretty(&doc).map_err(|e| ConfigError::Parse(e.to_string()))?;
        crate::ingest::DatasetConfig::parse(&text)?;
        Ok(text)
    }
}

/// A member dataset and its facet values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The dataset.
    pub dataset: DatasetId,
    /// Facet → value.
    pub facets: BTreeMap<String, String>,
}

/// A facet filter (`scenario=rcp45,rcp85`): facet → accepted values.
pub type FacetFilter = BTreeMap<String, Vec<String>>;

/// Whether `m` passes every filter (values compared case-insensitively).
pub fn selected(m: &BTreeMap<String, String>, filter: &FacetFilter) -> bool {
    filter.iter().all(|(f, values)| m.get(f).is_some_and(|v| values.iter().any(|w| w.eq_ignore_ascii_case(v))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AttrValue;

    fn id(s: &str) -> DatasetId {
        DatasetId::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn spec(json: &str) -> Result<EnsembleSpec, EnsembleConfigError> {
        let settings: EnsembleSettings = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        EnsembleSpec::new(id("tg"), settings)
    }

    #[test]
    fn uploads_by_key_become_members_with_their_facets() {
        let s = spec(
            r#"{"facets": ["model", "scenario"], "key": "^ens/(?P<model>[^_]+)_(?P<scenario>[a-z0-9]+)\\.nc$",
                "attributes": {"model": "driving_model_id"}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (d, attrs) = s.upload("ens/ACCESS1-0_rcp45.nc").and_then(Result::ok).unwrap_or_else(|| panic!("a member"));
        assert_eq!(d.as_str(), "tg-access1-0-rcp45");
        assert!(s.upload("other/x.nc").is_none());
        let attrs: Attributes = attrs.into_iter().map(|(k, v)| (k, AttrValue::Text(v))).collect();
        let m = s.member(&d, &attrs).and_then(Result::ok).unwrap_or_else(|| panic!("a member"));
        assert_eq!(m.facets.get("model").map(String::as_str), Some("ACCESS1-0"), "the key's case is kept");
        assert!(s.member(&id("other"), &Attributes::new()).is_none());
    }

    #[test]
    fn listed_members_take_missing_facets_from_attributes() {
        let s = spec(
            r#"{"facets": ["model", "scenario"], "attributes": {"model": "driving_model_id"},
                         "members": {"a": {"scenario": "rcp45"}, "b": {"scenario": "rcp85"}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let attrs: Attributes =
            [("driving_model_id".to_string(), AttrValue::Text("CCSM4".into()))].into_iter().collect();
        let m = s.member(&id("a"), &attrs).and_then(Result::ok).unwrap_or_else(|| panic!("a member"));
        assert_eq!(m.facets.get("model").map(String::as_str), Some("CCSM4"));
        let e = s.member(&id("b"), &Attributes::new()).and_then(Result::err).unwrap_or_default();
        assert!(e.contains("model") && e.contains("driving_model_id"), "{e}");
        let mut f = FacetFilter::new();
        f.insert("scenario".into(), vec!["RCP45".into()]);
        assert!(selected(&m.facets, &f));
    }

    #[test]
    fn bad_settings_say_why() {
        let e = |j: &str| spec(j).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e(r#"{"facets": []}"#).contains("facets"));
        assert!(e(r#"{"facets": ["Model"]}"#).contains("lowercase"));
        assert!(e(r#"{"facets": ["period"]}"#).contains("query parameter"));
        assert!(e(r#"{"facets": ["model"], "key": "(?P<run>x)"}"#).contains("run"));
        assert!(e(r#"{"facets": ["model"], "members": {"a": {"gcm": "x"}}}"#).contains("gcm"));
    }
}
