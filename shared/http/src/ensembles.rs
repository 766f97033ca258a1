//! Ensembles as EDR collections: `/collections/{ensemble}` (facets as
//! custom dimensions, members with their facets and time coverage) and its
//! queries (position, radius, area, cube, trajectory, `locations`), which
//! run on every selected member and answer statistics across them.
//!
//! Parameters an ensemble query takes beside the member queries' own:
//! `statistic=mean,std,min,max,median,p10,p25,p75,p90,count` (across
//! members), `members=` (dataset ids), a facet filter per facet
//! (`scenario=rcp45,rcp85`), `plume=true` (each member's values too), and
//! for a change signal `baseline=1981/2010&period=2071/2100` with
//! `season=DJF|MAM|JJA|SON` or `month=1..12`.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use hub_core::analytics::{
    ChangeRequest, DEFAULT_ENSEMBLE_STATISTICS, EnsembleStatistic, RegionSeries, SeriesColumn, Statistic, Within, Years,
};
use hub_core::ensembles::{EnsembleSpec, FacetFilter, Member, selected};
use hub_core::model::DatasetId;
use hub_core::query::{
    AxisValues, Combined, EnsembleAsk, EnsembleNote, Limits, MemberQuery, MemberValues, Opened, QueryError,
    RegionRequest, ensemble_extract, parameters, region_statistics, run_members,
};
use hub_core::regions::CellBounds;
use hub_core::regions::stored_weights::grid_fingerprint;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::params::data_request;
use crate::queries::send;

/// An ensemble with its members opened.
pub struct Resolved {
    /// The ensemble.
    pub spec: EnsembleSpec,
    /// Members, ordered by their facets.
    pub members: Vec<(Member, Opened)>,
    /// Datasets that declare themselves members but cannot be (another
    /// grid, a facet missing), and why.
    pub refused: Vec<(String, String)>,
}

/// The configured ensembles.
async fn specs(state: &AppState) -> Result<Vec<EnsembleSpec>, ApiError> {
    match &state.regions {
        Some(c) => Ok(c.ensembles().await?),
        None => Ok(Vec::new()),
    }
}

/// Every ensemble, resolved.
pub async fn all(state: &AppState) -> Result<Vec<Resolved>, ApiError> {
    let mut out = Vec::new();
    for spec in specs(state).await? {
        out.push(resolve(state, spec).await?);
    }
    Ok(out)
}

/// The ensemble `id`, resolved, if there is one.
pub async fn find(state: &AppState, id: &str) -> Result<Option<Resolved>, ApiError> {
    let Some(spec) = specs(state).await?.into_iter().find(|s| s.id.as_str() == id) else { return Ok(None) };
    Ok(Some(resolve(state, spec).await?))
}

fn fingerprint(opened: &Opened) -> Option<String> {
    opened.view.grids.first().map(|g| grid_fingerprint(&g.grid, &CellBounds::Midpoints))
}

async fn resolve(state: &AppState, spec: EnsembleSpec) -> Result<Resolved, ApiError> {
    let mut members = Vec::new();
    let mut refused = Vec::new();
    for id in state.catalog.datasets().await? {
        let opened = match state.catalog.open(id.as_str()).await {
            Ok(o) => o,
            Err(QueryError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        match spec.member(&id, &opened.view.attrs) {
            None => {}
            Some(Ok(m)) => members.push((m, opened)),
            Some(Err(why)) => refused.push((id.to_string(), why)),
        }
    }
    let order = |m: &Member| -> Vec<String> {
        spec.settings.facets.iter().map(|f| m.facets.get(f).cloned().unwrap_or_default()).collect()
    };
    members.sort_by(|a, b| order(&a.0).cmp(&order(&b.0)).then_with(|| a.0.dataset.cmp(&b.0.dataset)));
    let mut kept: Vec<(Member, Opened)> = Vec::with_capacity(members.len());
    let mut grid: Option<String> = None;
    for (m, o) in members {
        let f = fingerprint(&o);
        match (&grid, &f) {
            (None, _) => grid = f,
            (Some(g), Some(f)) if g == f => {}
            _ => {
                let first = kept.first().map_or_else(String::new, |(k, _)| k.dataset.to_string());
                refused.push((
                    m.dataset.to_string(),
                    format!(
                        "dataset {} is on another grid than {first}: members must share one grid (regridding is not offered)",
                        m.dataset
                    ),
                ));
                continue;
            }
        }
        kept.push((m, o));
    }
    Ok(Resolved { spec, members: kept, refused })
}

/// A member's time coverage: first and last step, and its calendar.
fn coverage(o: &Opened) -> Value {
    let time = o.view.dims.values().find(|d| d.role == hub_core::cf::DimRole::Time);
    match time.map(|d| &d.values) {
        Some(AxisValues::Time { values, calendar }) => json!({
            "interval": [values.first().map(ToString::to_string), values.last().map(ToString::to_string)],
            "steps": values.len(),
            "calendar": calendar.name(),
        }),
        _ => Value::Null,
    }
}

/// The EDR collection document of an ensemble.
pub fn collection_doc(base: &str, r: &Resolved) -> Value {
    let id = r.spec.id.as_str();
    let href = format!("{base}/collections/{id}");
    let first = r.members.first().map(|(_, o)| crate::resources::collection_doc(base, &o.view));
    let mut extent = first.as_ref().and_then(|d| d.get("extent").cloned()).unwrap_or_else(|| json!({}));
    let custom: Vec<Value> = r
        .spec
        .settings
        .facets
        .iter()
        .map(|f| {
            let mut values: Vec<String> = r.members.iter().filter_map(|(m, _)| m.facets.get(f).cloned()).collect();
            values.sort();
            values.dedup();
            json!({"id": f, "interval": [[values.first(), values.last()]], "values": values,
                   "reference": "ensemble facet: filter with ?{f}=value[,value]"})
        })
        .collect();
    if let Some(obj) = extent.as_object_mut() {
        let mut all: Vec<Value> = obj.get("custom").and_then(Value::as_array).cloned().unwrap_or_default();
        all.extend(custom);
        obj.insert("custom".into(), Value::Array(all));
    }
    let members: Vec<Value> = r
        .members
        .iter()
        .map(|(m, o)| json!({"dataset": m.dataset, "facets": m.facets, "time": coverage(o), "href": format!("{base}/collections/{}", m.dataset)}))
        .collect();
    let refused: Vec<Value> = r.refused.iter().map(|(d, why)| json!({"dataset": d, "reason": why})).collect();
    let queries = ["position", "radius", "area", "cube", "trajectory", "locations"];
    let data_queries: serde_json::Map<String, Value> = queries
        .iter()
        .map(|q| {
            (
                q.to_string(),
                json!({"link": {"href": format!("{href}/{q}"), "rel": "data", "variables": {"query_type": q}}}),
            )
        })
        .collect();
    json!({
        "id": id,
        "title": format!("ensemble {id}"),
        "description": format!("{} members by {}: statistics across members, change signals and model agreement", r.members.len(), r.spec.settings.facets.join(", ")),
        "links": [{"href": href, "rel": "self", "type": "application/json"}],
        "extent": extent,
        "data_queries": data_queries,
        "parameter_names": first.as_ref().and_then(|d| d.get("parameter_names").cloned()).unwrap_or_else(|| json!({})),
        "output_formats": ["CoverageJSON", "CSV", "GeoJSON", "NetCDF"],
        "hub:ensemble": {"facets": r.spec.settings.facets, "members": members, "refused": refused,
                          "statistics": "mean, std, min, max, median, p1..p99 (p10, p25, p75, p90), count: across members, xclim's definitions"},
    })
}

/// The ensemble parameters of a request, read; the rest is the members'.
struct EnsembleParams {
    ask: EnsembleAsk,
    rest: Vec<(String, String)>,
    selected: Vec<usize>,
}

/// A member as the request parameters see it: its label and facets.
struct Labelled<'a> {
    label: &'a str,
    facets: &'a BTreeMap<String, String>,
}

fn read_params(r: &Resolved, pairs: Vec<(String, String)>) -> Result<EnsembleParams, ApiError> {
    let members: Vec<Labelled<'_>> =
        r.members.iter().map(|(m, _)| Labelled { label: m.dataset.as_str(), facets: &m.facets }).collect();
    read_member_params(&r.spec.settings.facets, &members, pairs)
}

fn read_member_params(
    facets: &[String],
    all: &[Labelled<'_>],
    pairs: Vec<(String, String)>,
) -> Result<EnsembleParams, ApiError> {
    let mut stats = None;
    let mut members: Option<Vec<String>> = None;
    let mut filter = FacetFilter::new();
    let (mut plume, mut baseline, mut period, mut within) = (false, None, None, Within::Year);
    let mut rest = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "statistic" => stats = Some(EnsembleStatistic::parse_list(&v).map_err(|e| ApiError::bad("statistic", e))?),
            "members" => members = Some(v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
            "plume" => {
                plume = match v.as_str() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => return Err(ApiError::bad("plume", format!("{v:?}: use true or false"))),
                }
            }
            "baseline" => baseline = Some(Years::parse(&v).map_err(|e| ApiError::bad("baseline", e))?),
            "period" => period = Some(Years::parse(&v).map_err(|e| ApiError::bad("period", e))?),
            "season" => within = Within::season(&v).map_err(|e| ApiError::bad("season", e))?,
            "month" => {
                within = Within::Month(
                    v.trim()
                        .parse::<u8>()
                        .ok()
                        .filter(|m| (1..=12).contains(m))
                        .ok_or_else(|| ApiError::bad("month", format!("{v:?}: a month is 1 to 12")))?,
                )
            }
            f if facets.iter().any(|x| x == f) => {
                let values: Vec<String> =
                    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                for want in &values {
                    if !all.iter().any(|m| m.facets.get(f).is_some_and(|x| x.eq_ignore_ascii_case(want))) {
                        let mut known: Vec<&str> =
                            all.iter().filter_map(|m| m.facets.get(f).map(String::as_str)).collect();
                        known.sort_unstable();
                        known.dedup();
                        return Err(ApiError::bad(
                            "facet",
                            format!("no member has {f}={want} (values: {})", known.join(", ")),
                        ));
                    }
                }
                filter.insert(f.to_string(), values);
            }
            _ => rest.push((k, v)),
        }
    }
    let mut chosen: Vec<usize> = (0..all.len()).filter(|i| selected(all[*i].facets, &filter)).collect();
    if let Some(names) = &members {
        for n in names {
            if !all.iter().any(|m| m.label == n) {
                let known: Vec<&str> = all.iter().map(|m| m.label).collect();
                return Err(ApiError::bad("members", format!("{n:?} is not a member (members: {})", known.join(", "))));
            }
        }
        chosen.retain(|i| names.iter().any(|n| n == all[*i].label));
    }
    if chosen.is_empty() {
        return Err(ApiError::bad("members", "the filters select no member"));
    }
    let ask = match (baseline, period) {
        (Some(baseline), Some(period)) => {
            if plume {
                return Err(ApiError::bad(
                    "plume",
                    "a change signal has no plume: leave plume out or ask without baseline and period",
                ));
            }
            let stats = stats.unwrap_or_else(|| {
                vec![EnsembleStatistic::Percentile(10), EnsembleStatistic::Median, EnsembleStatistic::Percentile(90)]
            });
            EnsembleAsk::Change { change: ChangeRequest { baseline, period, within }, stats }
        }
        (None, None) if within == Within::Year => {
            EnsembleAsk::Statistics { stats: stats.unwrap_or_else(|| DEFAULT_ENSEMBLE_STATISTICS.to_vec()), plume }
        }
        (None, None) => {
            return Err(ApiError::bad(
                "season",
                "season and month choose the part of the year of a change signal: give baseline and period",
            ));
        }
        _ => {
            return Err(ApiError::bad(
                "baseline",
                "a change signal takes both baseline and period (e.g. baseline=1981/2010&period=2071/2100)",
            ));
        }
    };
    Ok(EnsembleParams { ask, rest, selected: chosen })
}

/// The members' own queries, each read against its view.
fn member_queries<'a>(
    r: &'a Resolved,
    p: &EnsembleParams,
    query: &str,
    headers: &HeaderMap,
) -> Result<(Vec<MemberQuery<'a>>, crate::encode::Format), ApiError> {
    let mut out = Vec::new();
    let mut format = crate::encode::Format::CoverageJson;
    for &i in &p.selected {
        let (m, o) = &r.members[i];
        let req = data_request(&o.view, query, p.rest.clone(), headers, None)?;
        format = req.format;
        out.push(MemberQuery {
            label: m.dataset.to_string(),
            view: &o.view,
            reader: o.reader.as_ref(),
            query: req.query,
        });
    }
    Ok((out, format))
}

fn left_out_header(note: &EnsembleNote) -> Option<HeaderValue> {
    if note.left_out.is_empty() {
        return None;
    }
    let text: Vec<String> = note.left_out.iter().map(|(m, _)| m.clone()).collect();
    HeaderValue::from_str(&text.join(",")).ok()
}

/// A data query on an ensemble collection.
pub async fn query(
    state: &AppState,
    r: &Resolved,
    query: &str,
    pairs: Vec<(String, String)>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let p = read_params(r, pairs)?;
    let (members, format) = member_queries(r, &p, query, headers)?;
    let encoder = format.encoder();
    let limits = Limits {
        budget: &state.config.budget,
        concurrency: state.config.concurrency,
        answer_bytes_per_value: encoder.bytes_per_value,
    };
    // The members' stored period statistics answer when the ensemble keeps
    // both spans of the change (and the members have them).
    let stored = match &p.ask {
        EnsembleAsk::Change { change, .. } => {
            let spans = r.spec.stored_spans();
            let kept = |years: Years, baseline: bool| {
                spans.iter().any(|s| s.years == years && s.within == change.within && (s.baseline || !baseline))
            };
            kept(change.baseline, true) && kept(change.period, false)
        }
        EnsembleAsk::Statistics { .. } => false,
    };
    let (x, note) = ensemble_extract(r.spec.id.as_str(), &members, &p.ask, &limits, stored).await?;
    let body = (encoder.encode)(&x)?;
    let mut response = send(state, body, encoder, r.spec.id.as_str()).await?;
    if let Some(v) = left_out_header(&note) {
        response.headers_mut().insert("x-hub-members-left-out", v);
    }
    if matches!(p.ask, EnsembleAsk::Change { .. })
        && let Ok(v) = HeaderValue::from_str(&format!("stored {} of {}", note.from_stored, note.used.len()))
    {
        // How many members' changes came from their stored period statistics.
        response.headers_mut().insert("x-hub-period-statistics", v);
    }
    Ok(response)
}

/// A registered region of an ensemble: each member's area-weighted mean
/// series first (the region's own climate, as each model sees it), then
/// the statistics across members. That order is the one a basin's
/// hydrology sees and it keeps every member's spatial pattern inside its
/// own mean; averaging members cell by cell first would mix models before
/// weighing them over the region, and the percentiles would differ.
pub async fn location(
    state: &AppState,
    r: &Resolved,
    loc: &str,
    pairs: Vec<(String, String)>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let c = state.regions.as_ref().ok_or_else(|| ApiError::NotFound("this deployment keeps no region sets".into()))?;
    let (set, id) = loc.split_once(':').ok_or_else(|| {
        ApiError::NotFound(format!("no location {loc:?}: locations are named set:region (see /regions)"))
    })?;
    let s = c.set(set).await?;
    let k = s.set.regions.iter().position(|x| x.id == id).ok_or_else(|| {
        ApiError::NotFound(format!("no region {id:?} in set {set:?}: its regions are listed at /regions/{set}"))
    })?;
    let p = read_params(r, pairs)?;
    let (members, format) = member_queries(r, &p, "locations", headers)?;
    let encoder = format.encoder();
    let series_of = encoder.series.ok_or_else(|| {
        ApiError::bad("f", format!("{} cannot hold region statistics: use CoverageJSON, CSV or GeoJSON", encoder.name))
    })?;
    let (_, first) = &r.members[p.selected[0]];
    let grid = parameters(&first.view, members[0].query.selections.parameters.as_deref())?[0].grid;
    let weights = c.weights(&first.view, first.reader.as_ref(), grid, &s).await?[k].clone();
    if weights.cells.is_empty() {
        return Err(ApiError::bad("coords", format!("region {loc:?} does not touch the ensemble's grid")));
    }
    let limits = Limits {
        budget: &state.config.budget,
        concurrency: state.config.concurrency,
        answer_bytes_per_value: encoder.bytes_per_value,
    };
    let region = RegionRequest {
        weights: weights.clone(),
        statistics: vec![Statistic::Mean],
        stored: Some((s.set.id.clone(), s.version.clone(), k)),
    };
    let concurrency = state.config.concurrency;
    let combined: Combined = run_members(&members, &p.ask, &limits, false, |m, q, budget| {
        let region = &region;
        async move {
            let l = Limits { budget: &budget, concurrency, answer_bytes_per_value: 8 };
            let series = region_statistics(m.view, m.reader, &q, region, &l).await?;
            Ok(series_values(&series))
        }
    })
    .await?;
    let series = RegionSeries {
        collection: r.spec.id.to_string(),
        axes: combined.axes,
        columns: combined
            .params
            .into_iter()
            .map(|pv| SeriesColumn {
                key: pv.param.name.clone(),
                units: pv.param.units.clone(),
                parameter: pv.param,
                statistic: Statistic::Mean,
                values: pv.values,
            })
            .collect(),
        cells: weights.cells.len(),
        area_m2: weights.total_area_m2(),
        stored: false,
    };
    let region_doc = &s.set.regions[k];
    let geometry = if format == crate::encode::Format::Csv {
        Value::Null
    } else {
        hub_core::regions::geojson::feature(&s.set.id, region_doc, None)["geometry"].take()
    };
    let answer = crate::series::RegionAnswer {
        series: &series,
        location: loc.to_string(),
        name: region_doc.name.clone(),
        geometry,
    };
    let body = series_of(&answer)?;
    let mut response = send(state, body, encoder, r.spec.id.as_str()).await?;
    if let Some(v) = left_out_header(&combined.note) {
        response.headers_mut().insert("x-hub-members-left-out", v);
    }
    Ok(response)
}

/// A member's region means in the shape the reduction walks (the column's
/// parameter keeps its name: the statistics are named after it).
fn series_values(s: &RegionSeries) -> MemberValues {
    MemberValues {
        axes: s.axes.clone(),
        lead: 1,
        params: s
            .columns
            .iter()
            .map(|c| hub_core::query::ParamValues {
                param: c.parameter.clone(),
                values: c.values.clone(),
                categories: Vec::new(),
            })
            .collect(),
        cost: hub_core::query::Cost::default(),
        frame: None,
    }
}

/// The members of `r` (for `hub ensembles` and documents): dataset → facets.
pub fn members_of(r: &Resolved) -> BTreeMap<DatasetId, BTreeMap<String, String>> {
    r.members.iter().map(|(m, _)| (m.dataset.clone(), m.facets.clone())).collect()
}

/// Parameters that ask across members.
const ACROSS: &[&str] = &["statistic", "plume", "baseline", "period"];

/// A data query across the member dimension of one dataset (an NWP
/// ensemble from GRIB2 templates 4.1/4.11, a seasonal hindcast file): the
/// same statistics as across member datasets, each index along the
/// dimension a member (labelled by its coordinate value, a facet named
/// after the dimension). `None` when the request does not ask across
/// members or the parameters have no member dimension.
pub async fn member_dimension_query(
    state: &AppState,
    opened: &Opened,
    query: &str,
    pairs: &[(String, String)],
    headers: &HeaderMap,
    instance: Option<hub_core::query::Instance>,
) -> Result<Option<Response>, ApiError> {
    if !pairs.iter().any(|(k, _)| ACROSS.contains(&k.as_str())) || matches!(query, "area" | "locations") {
        return Ok(None);
    }
    let names: Option<Vec<String>> = pairs
        .iter()
        .find(|(k, _)| k == "parameter-name")
        .map(|(_, v)| v.split(',').map(|s| s.trim().to_string()).collect());
    let params = parameters(&opened.view, names.as_deref())?;
    let Some(d) = params[0].dim_with(hub_core::cf::DimRole::Member) else { return Ok(None) };
    let dim = params[0].array.dims[d].clone();
    let values: Vec<String> = match opened.view.dims.get(&dim).map(|x| &x.values) {
        Some(AxisValues::Numbers { values }) => values.iter().map(ToString::to_string).collect(),
        _ => return Ok(None),
    };
    if pairs.iter().any(|(k, _)| *k == dim) {
        return Err(ApiError::bad(
            "dimension",
            format!(
                "{dim} is the member dimension the statistics go across: choose members with members= or {dim}= as a filter, not both"
            ),
        ));
    }
    let facets: Vec<BTreeMap<String, String>> =
        values.iter().map(|v| BTreeMap::from([(dim.clone(), v.clone())])).collect();
    let labelled: Vec<Labelled<'_>> =
        values.iter().zip(&facets).map(|(v, f)| Labelled { label: v.as_str(), facets: f }).collect();
    let p = read_member_params(std::slice::from_ref(&dim), &labelled, pairs.to_vec())?;
    let mut members = Vec::with_capacity(p.selected.len());
    let mut format = crate::encode::Format::CoverageJson;
    for &i in &p.selected {
        let mut mine = p.rest.clone();
        mine.push((dim.clone(), values[i].clone()));
        let req = data_request(&opened.view, query, mine, headers, instance)?;
        format = req.format;
        members.push(MemberQuery {
            label: values[i].clone(),
            view: &opened.view,
            reader: opened.reader.as_ref(),
            query: req.query,
        });
    }
    let encoder = format.encoder();
    let limits = Limits {
        budget: &state.config.budget,
        concurrency: state.config.concurrency,
        answer_bytes_per_value: encoder.bytes_per_value,
    };
    let (mut x, note) = ensemble_extract(opened.view.id.as_str(), &members, &p.ask, &limits, false).await?;
    // Every member answered with one step of the member axis: the answer has none.
    x.axes.retain(|a| a.name != dim);
    let body = (encoder.encode)(&x)?;
    let mut response = send(state, body, encoder, opened.view.id.as_str()).await?;
    if let Some(v) = left_out_header(&note) {
        response.headers_mut().insert("x-hub-members-left-out", v);
    }
    Ok(Some(response))
}
