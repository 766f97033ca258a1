//! Ensemble queries: the same query run on every member, the answers
//! aligned on calendar dates and reduced across members.
//!
//! Each member answers with its own view (its calendar parses `datetime`,
//! its time axis is read), under an equal share of the request's budget.
//! Answers are then aligned on the calendar fields of their time steps
//! (`2071-01-01` in a `noleap` member and in a `proleptic_gregorian` one is
//! the same step), never on raw offsets; a member without a step is absent
//! there, and `count` says how many members gave each value. A change
//! signal reads each member's baseline and period spans only, reduces them
//! to yearly means in the member's calendar and compares
//! ([`crate::analytics::Grouping`]). Members that cannot answer (no such
//! parameter, a time axis that misses the period) are left out and listed
//! with the reason; if none can, the request is refused with their reasons.

use std::collections::BTreeMap;
use std::future::Future;

use futures::StreamExt;
use rayon::prelude::*;

use super::error::QueryError;
use super::execute::{Limits, execute};
use super::extraction::{Category, Extraction, OutAxis, ParamValues};
use super::plan::{Budget, Cost};
use super::request::EdrQuery;
use super::select::AxisSelection;
use super::view::{AxisValues, DatasetView, Parameter};
use crate::analytics::{
    Agreement, ChangeRequest, EnsembleStatistic, Grouping, PeriodSummary, Robustness, Within, summarize,
};
use crate::cf::{Calendar, CfDateTime, CfTime, DimRole};
use crate::ports::DatasetReader;

/// One member's query.
pub struct MemberQuery<'a> {
    /// How the member is named in answers (its dataset id, or its index
    /// along a member dimension).
    pub label: String,
    /// Its view.
    pub view: &'a DatasetView,
    /// Its snapshot.
    pub reader: &'a dyn DatasetReader,
    /// The query, read against its view.
    pub query: EdrQuery,
}

/// What an ensemble answer says about its members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnsembleNote {
    /// Members used.
    pub used: Vec<String>,
    /// Members left out, and why.
    pub left_out: Vec<(String, String)>,
    /// Anything else the reader must know (dates no calendar holds).
    pub notes: Vec<String>,
    /// Members whose change was read from their stored period statistics.
    pub from_stored: usize,
}

/// What is asked of the members.
#[derive(Debug, Clone, PartialEq)]
pub enum EnsembleAsk {
    /// Statistics across members at every step (and each member's own
    /// values, the plume, when asked).
    Statistics {
        /// Statistics.
        stats: Vec<EnsembleStatistic>,
        /// Add each member's values.
        plume: bool,
    },
    /// The change between two spans of years, and how far members agree.
    Change {
        /// Spans and the part of the year.
        change: ChangeRequest,
        /// Statistics of the members' changes.
        stats: Vec<EnsembleStatistic>,
    },
}

/// One member's answer in the shape the reduction walks: per parameter,
/// values laid out `[lead][axes…][inner]` (`lead`: points of a position
/// query, else 1; `inner`: a window's cells, else 1).
#[derive(Debug, Clone)]
pub struct MemberValues {
    /// The axes.
    pub axes: Vec<OutAxis>,
    /// Positions before the axes.
    pub lead: usize,
    /// Values per parameter.
    pub params: Vec<ParamValues>,
    /// What reading it cost.
    pub cost: Cost,
    /// The extraction it came from, without its values: the grid and
    /// places an ensemble answer keeps.
    pub frame: Option<Box<Extraction>>,
}

impl MemberValues {
    /// An extraction's values.
    pub fn of_extraction(x: Extraction) -> Self {
        let lead = match &x.horizontal {
            super::Horizontal::Points(p) => p.len(),
            super::Horizontal::Window(_) => 1,
        };
        let params = x.params;
        let frame = Extraction { params: Vec::new(), ..x };
        Self { axes: frame.axes.clone(), lead, params, cost: frame.cost, frame: Some(Box::new(frame)) }
    }

    fn time_axis(&self) -> Option<usize> {
        self.axes.iter().position(|a| a.role == DimRole::Time)
    }

    fn len(&self) -> usize {
        self.params.first().map_or(0, |p| p.values.len())
    }
}

/// The reduced answer: the axes (time aligned, or gone for a change) and
/// one parameter per statistic.
#[derive(Debug, Clone)]
pub struct Combined {
    /// The axes.
    pub axes: Vec<OutAxis>,
    /// `{parameter}.{statistic}` and the rest.
    pub params: Vec<ParamValues>,
    /// About the members.
    pub note: EnsembleNote,
    /// What reading cost, over every member.
    pub cost: Cost,
    /// The first member's extraction frame (grid, places), when members
    /// answered with extractions.
    pub frame: Option<Box<Extraction>>,
}

/// An equal share of `budget` for one of `n` members.
pub fn member_budget(budget: &Budget, n: usize) -> Budget {
    let n = n.max(1) as u64;
    Budget {
        max_cells: (budget.max_cells / n).max(1),
        max_bytes: (budget.max_bytes / n).max(1),
        max_chunks: (budget.max_chunks / n).max(1),
        max_answer_bytes: budget.max_answer_bytes,
    }
}

/// Whether an error is the member's (left out) rather than the request's
/// or the hub's (the whole request fails).
fn members_fault(e: &QueryError) -> bool {
    matches!(e, QueryError::BadParameter { .. } | QueryError::NotFound(_))
}

/// The instant of the start of `year`-`month`-01 in `calendar`.
fn start_of(calendar: Calendar, year: i64, month: u8) -> Option<CfTime> {
    CfTime::new(calendar, &CfDateTime::date(year, month, 1)).ok()
}

/// The `datetime` selection of whole years `first..=last` of `within`, in
/// `calendar` (December before for DJF; up to the start of the next year).
fn span(calendar: Calendar, first: i64, last: i64, within: Within) -> Option<AxisSelection<CfTime>> {
    let from = match within {
        Within::Season(12) => start_of(calendar, first - 1, 12)?,
        _ => start_of(calendar, first, 1)?,
    };
    let to = start_of(calendar, last + 1, 1)?.add_micros(-1)?;
    Some(AxisSelection::Interval(Some(from), Some(to)))
}

/// Runs an ensemble request: `fetch` answers one member's query (its
/// `datetime` replaced for a change signal) under a budget share.
/// With `stored`, a change signal reads each member's stored period
/// statistics where it keeps them for every parameter asked (gridded
/// answers; a region's change needs its yearly series, so it computes).
pub async fn run_members<'a, F, Fut>(
    members: &'a [MemberQuery<'a>],
    ask: &EnsembleAsk,
    limits: &Limits<'_>,
    stored: bool,
    fetch: F,
) -> Result<Combined, QueryError>
where
    F: Fn(&'a MemberQuery<'a>, EdrQuery, Budget) -> Fut,
    Fut: Future<Output = Result<MemberValues, QueryError>>,
{
    if members.is_empty() {
        return Err(QueryError::bad("members", "no member is selected: see the collection's members"));
    }
    // Reads (decoded bytes, chunks) share the budget equally. Values: every
    // member's are held together for statistics, so they share it too; a
    // change reduces each member as it arrives (a few at a time), so each
    // read may return up to the budget over the members in flight.
    let share = member_budget(limits.budget, members.len());
    let in_flight = limits.concurrency.clamp(1, 8);
    let change_share = Budget { max_cells: (limits.budget.max_cells / in_flight.min(4) as u64).max(1), ..share };
    match ask {
        EnsembleAsk::Statistics { stats, plume } => {
            // Indices, not references, go through the stream: its closures
            // then have no lifetime of their own (and the future stays `Send`).
            let answers: Vec<(String, Result<MemberValues, QueryError>)> = futures::stream::iter(0..members.len())
                .map(|i| {
                    let m = &members[i];
                    let f = fetch(m, m.query.clone(), share);
                    async move { (m.label.clone(), f.await) }
                })
                .buffered(in_flight)
                .collect()
                .await;
            let mut note = EnsembleNote::default();
            let mut got = Vec::new();
            let mut refusals = Vec::new();
            for (label, r) in answers {
                match r {
                    Ok(v) => got.push((label, v)),
                    Err(e) if members_fault(&e) => {
                        note.left_out.push((label, e.to_string()));
                        refusals.push(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if got.is_empty() {
                // Every member refused the same way: the request's own fault, said once.
                let same = refusals.windows(2).all(|w| w[0].to_string() == w[1].to_string());
                if same && let Some(e) = refusals.into_iter().next() {
                    return Err(e);
                }
            }
            refuse_if_none(&got, &note)?;
            combine_statistics(got, stats, *plume, note)
        }
        EnsembleAsk::Change { change, stats } => {
            let mut acc = ChangeAccumulator::new(*change);
            // A member whose time axis lacks a year of either span is left
            // out before anything is read, with the years it lacks.
            let mut able = Vec::with_capacity(members.len());
            for (i, m) in members.iter().enumerate() {
                let time = m.view.dims.values().find(|d| d.role == DimRole::Time).map(|d| &d.values);
                match time {
                    Some(AxisValues::Time { values, .. }) => match Grouping::new(values, change) {
                        Ok(_) => able.push(i),
                        Err(why) => acc.note.left_out.push((m.label.clone(), why)),
                    },
                    _ => acc.note.left_out.push((m.label.clone(), "it has no time axis".into())),
                }
            }
            let results =
                futures::stream::iter(able)
                    .map(|i| {
                        let m = &members[i];
                        let calendar = m.view.calendar().unwrap_or(Calendar::Standard);
                        let spans = span(calendar, change.baseline.first, change.baseline.last, change.within)
                            .zip(span(calendar, change.period.first, change.period.last, change.within));
                        let queries = spans.map(|(b, p)| {
                            let mut qb = m.query.clone();
                            qb.selections.datetime = Some(b);
                            let mut qp = m.query.clone();
                            qp.selections.datetime = Some(p);
                            (qb, qp)
                        });
                        let half = member_budget(&change_share, 2);
                        let fb = queries.clone().map(|(qb, _)| fetch(m, qb, half));
                        let fp = queries.map(|(_, qp)| fetch(m, qp, half));
                        let concurrency = limits.concurrency;
                        let bytes_per_value = limits.answer_bytes_per_value;
                        async move {
                            let l =
                                Limits { budget: &change_share, concurrency, answer_bytes_per_value: bytes_per_value };
                            let kept = if stored { stored_change(m, change, &l).await } else { Ok(None) };
                            let out = match (kept, fb, fp) {
                                (Ok(Some(s)), _, _) => Ok(Outcome::Stored(s.0, s.1)),
                                (Err(e), _, _) => Err(e),
                                (Ok(None), Some(fb), Some(fp)) => {
                                    futures::future::try_join(fb, fp).await.map(|(b, p)| Outcome::Computed(b, p))
                                }
                                _ => Err(QueryError::bad("period", "the years are outside the member's calendar")),
                            };
                            (m.label.clone(), out)
                        }
                    })
                    .buffered(in_flight.min(4));
            futures::pin_mut!(results);
            while let Some((label, r)) = results.next().await {
                match r {
                    Ok(Outcome::Computed(b, p)) => acc.add(label, &b, &p)?,
                    Ok(Outcome::Stored(template, summaries)) => {
                        acc.stored += 1;
                        acc.add_summaries(label, &template, summaries);
                    }
                    Err(e) if members_fault(&e) => acc.note.left_out.push((label, e.to_string())),
                    Err(e) => return Err(e),
                }
            }
            acc.finish(stats)
        }
    }
}

/// How a member's change was had.
enum Outcome {
    /// From its baseline and period values.
    Computed(MemberValues, MemberValues),
    /// From its stored period statistics: the answer's shape, and the
    /// summaries per parameter and position.
    Stored(MemberValues, Vec<Vec<Option<PeriodSummary>>>),
}

/// A member's change read from its stored period statistics, when it keeps
/// all three maps (baseline mean and σ, period mean) of every parameter
/// asked; `None` otherwise (the caller computes the same numbers).
async fn stored_change(
    m: &MemberQuery<'_>,
    change: &ChangeRequest,
    limits: &Limits<'_>,
) -> Result<Option<(MemberValues, Vec<Vec<Option<PeriodSummary>>>)>, QueryError> {
    use crate::ensembles::period_stats::{period_path, stored_parameter};
    let (mut selections, best) = super::execute::instance_selections(m.view, &m.query)?;
    if best.is_some() {
        return Ok(None);
    }
    selections.datetime = None;
    let params = super::execute::parameters(m.view, selections.parameters.as_deref())?;
    let mut stored = Vec::with_capacity(params.len() * 3);
    for p in &params {
        for (years, stat) in [(change.baseline, "mean"), (change.baseline, "sigma"), (change.period, "mean")] {
            let path = period_path(&p.name, change.within, years, stat);
            let Some(array) = m.view.arrays.iter().find(|a| a.path == path) else { return Ok(None) };
            let Some(sp) = stored_parameter(p, array) else { return Ok(None) };
            stored.push(sp);
        }
    }
    let (mut axes, horizontal) = super::execute::place(m.view, params[0], &m.query, &selections)?;
    axes.retain(|a| a.role != DimRole::Time);
    let refs: Vec<&Parameter> = stored.iter().collect();
    let x = super::execute::extract(m.view, m.reader, &refs, axes, horizontal, limits).await?;
    let mut template = MemberValues::of_extraction(x);
    let read = std::mem::replace(
        &mut template.params,
        params
            .iter()
            .map(|p| ParamValues { param: (*p).clone(), values: Vec::new(), categories: Vec::new() })
            .collect(),
    );
    let positions = read.first().map_or(0, |p| p.values.len());
    let summaries = (0..params.len())
        .map(|i| {
            let (b, s, f) = (&read[3 * i].values, &read[3 * i + 1].values, &read[3 * i + 2].values);
            (0..positions)
                .map(|k| match (b[k], s[k], f[k]) {
                    (Some(baseline), Some(sigma), Some(period))
                        if baseline.is_finite() && sigma.is_finite() && period.is_finite() =>
                    {
                        Some(PeriodSummary { baseline, period, sigma })
                    }
                    _ => None,
                })
                .collect()
        })
        .collect();
    Ok(Some((template, summaries)))
}

fn refuse_if_none<T>(got: &[T], note: &EnsembleNote) -> Result<(), QueryError> {
    if got.is_empty() {
        let why: Vec<String> = note.left_out.iter().map(|(m, r)| format!("{m}: {r}")).collect();
        return Err(QueryError::bad("members", format!("no member can answer: {}", why.join("; "))));
    }
    Ok(())
}

/// [`run_members`] with every member's extraction: position, radius, area,
/// cube, trajectory and instance queries. The answer keeps the first
/// answering member's grid, places and axes.
pub async fn ensemble_extract(
    id: &str,
    members: &[MemberQuery<'_>],
    ask: &EnsembleAsk,
    limits: &Limits<'_>,
    stored: bool,
) -> Result<(Extraction, EnsembleNote), QueryError> {
    let combined = run_members(members, ask, limits, stored, |m, q, budget| async move {
        let l = Limits {
            budget: &budget,
            concurrency: limits.concurrency,
            answer_bytes_per_value: limits.answer_bytes_per_value,
        };
        Ok(MemberValues::of_extraction(execute(m.view, m.reader, &q, &l).await?))
    })
    .await?;
    let mut x = *combined
        .frame
        .ok_or_else(|| QueryError::Inconsistent("an ensemble answer without a member's extraction".into()))?;
    x.collection = id.to_string();
    x.axes = combined.axes;
    x.params = combined.params;
    x.cost = combined.cost;
    x.ensemble = Some(combined.note.clone());
    Ok((x, combined.note))
}

/// The calendar fields of an instant, for alignment.
type DateKey = (i64, u8, u8, u8, u8, u8, u32);

fn key_of(t: &CfTime) -> DateKey {
    let f = t.fields();
    (f.year, f.month, f.day, f.hour, f.minute, f.second, f.micros)
}

/// The aligned time axis over every member's steps: their union by
/// calendar date, in the first calendar (of the members', then proleptic
/// Gregorian, then all-leap) that holds every date; dates none holds are
/// left out with a note.
fn union_axis(axes: &[&OutAxis], note: &mut EnsembleNote) -> (Vec<DateKey>, AxisValues) {
    let mut keys = std::collections::BTreeSet::new();
    let mut calendars = Vec::new();
    for a in axes {
        if let AxisValues::Time { values, calendar } = &a.values {
            keys.extend(values.iter().map(key_of));
            if !calendars.contains(calendar) {
                calendars.push(*calendar);
            }
        }
    }
    calendars.extend([Calendar::ProlepticGregorian, Calendar::AllLeap]);
    let fits = |c: &Calendar| keys.iter().all(|k| c.is_valid_date(k.0, k.1, k.2));
    let calendar = calendars.iter().copied().find(fits).unwrap_or(calendars[0]);
    let mut kept = Vec::with_capacity(keys.len());
    let mut values = Vec::with_capacity(keys.len());
    let mut dropped = 0usize;
    for k in keys {
        let dt = CfDateTime {
            year: k.0,
            month: k.1,
            day: k.2,
            hour: k.3,
            minute: k.4,
            second: k.5,
            micros: k.6,
            utc_offset_minutes: 0,
        };
        match CfTime::new(calendar, &dt) {
            Ok(t) => {
                kept.push(k);
                values.push(t);
            }
            Err(_) => dropped += 1,
        }
    }
    if dropped > 0 {
        note.notes.push(format!(
            "{dropped} dates of members in other calendars do not exist in the {} calendar of the answer and are left out",
            calendar.name()
        ));
    }
    (kept, AxisValues::Time { values, calendar })
}

/// Where member values sit: `[outer][time][inner]`.
struct Layout {
    outer: usize,
    steps: usize,
    inner: usize,
}

fn layout(v: &MemberValues, time: Option<usize>) -> Layout {
    let before: usize = time.map_or(1, |t| v.axes[..t].iter().map(|a| a.picked.len()).product());
    let steps = time.map_or(1, |t| v.axes[t].picked.len());
    let outer = v.lead * before;
    let inner = v.len() / (outer * steps).max(1);
    Layout { outer, steps, inner }
}

/// The other axes of two members agree (names and lengths).
fn same_axes(a: &MemberValues, b: &MemberValues) -> bool {
    let other = |v: &MemberValues| -> Vec<(String, usize)> {
        v.axes.iter().filter(|x| x.role != DimRole::Time).map(|x| (x.name.clone(), x.picked.len())).collect()
    };
    a.lead == b.lead
        && other(a) == other(b)
        && a.params.len() == b.params.len()
        && a.params.iter().zip(&b.params).all(|(x, y)| x.param.name == y.param.name)
}

/// A parameter named `{base}.{suffix}`, described and in `units`.
fn derived(base: &Parameter, suffix: &str, what: &str, units: Option<String>) -> Parameter {
    let mut p = base.clone();
    p.name = format!("{}.{suffix}", base.name);
    p.description = format!("{} — {what}", base.description);
    p.units = units;
    p
}

fn values_of(param: Parameter, values: Vec<Option<f64>>) -> ParamValues {
    ParamValues { param, values, categories: Vec::new() }
}

/// Statistics across members at every aligned position.
pub fn combine_statistics(
    members: Vec<(String, MemberValues)>,
    stats: &[EnsembleStatistic],
    plume: bool,
    mut note: EnsembleNote,
) -> Result<Combined, QueryError> {
    let first = members.first().map(|(_, v)| v.clone()).ok_or_else(|| QueryError::bad("members", "no member"))?;
    let mut kept: Vec<(String, MemberValues)> = Vec::with_capacity(members.len());
    for (label, v) in members {
        if same_axes(&first, &v) && first.time_axis() == v.time_axis() {
            kept.push((label, v));
        } else {
            note.left_out.push((label, "its answer has other parameters or axes than the first member's".into()));
        }
    }
    let time = first.time_axis();
    let mut axes = first.axes.clone();
    // Per member: out step → member step.
    let (out_steps, maps): (usize, Vec<Vec<Option<usize>>>) = match time {
        Some(t) => {
            let member_axes: Vec<&OutAxis> = kept.iter().map(|(_, v)| &v.axes[t]).collect();
            let (keys, values) = union_axis(&member_axes, &mut note);
            let index: BTreeMap<DateKey, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
            let maps = member_axes
                .iter()
                .map(|a| {
                    let mut m = vec![None; keys.len()];
                    if let AxisValues::Time { values, .. } = &a.values {
                        for (i, v) in values.iter().enumerate() {
                            if let Some(o) = index.get(&key_of(v)) {
                                m[*o] = Some(i);
                            }
                        }
                    }
                    m
                })
                .collect();
            axes[t].picked = (0..keys.len()).collect();
            axes[t].values = values;
            (keys.len(), maps)
        }
        None => (1, kept.iter().map(|_| vec![Some(0)]).collect()),
    };
    let layouts: Vec<Layout> = kept.iter().map(|(_, v)| layout(v, time)).collect();
    let (outer, inner) = (layouts[0].outer, layouts[0].inner);
    let positions = outer * out_steps * inner;
    let at = |m: usize, k: usize| -> Option<usize> {
        let (o, t, r) = (k / (out_steps * inner), (k / inner) % out_steps, k % inner);
        let mt = maps[m][t]?;
        Some((o * layouts[m].steps + mt) * inner + r)
    };
    let mut params = Vec::new();
    let mut cost = Cost::default();
    for (_, v) in &kept {
        cost += v.cost;
    }
    for (pi, base) in first.params.iter().enumerate() {
        let value = |m: usize, k: usize| at(m, k).and_then(|i| kept[m].1.params[pi].values.get(i).copied().flatten());
        let out = summarize(kept.len(), positions, value, stats);
        for (s, values) in stats.iter().zip(out) {
            let what = format!("{} across members", s.name());
            params
                .push(values_of(derived(&base.param, &s.name(), &what, s.units(base.param.units.as_deref())), values));
        }
        if plume {
            for (m, (label, _)) in kept.iter().enumerate() {
                let values = (0..positions).map(|k| value(m, k)).collect();
                let p = derived(
                    &base.param,
                    &format!("member.{label}"),
                    &format!("member {label}"),
                    base.param.units.clone(),
                );
                params.push(values_of(p, values));
            }
        }
    }
    note.used = kept.into_iter().map(|(l, _)| l).collect();
    Ok(Combined { axes, params, note, cost, frame: first.frame })
}

/// One of the agreement fractions.
type Fraction = fn(&Agreement) -> Option<f64>;

/// One member's changes at every position of one parameter: Δ and
/// relative Δ (NaN where the member is not valid) and whether significant.
struct MemberChanges {
    delta: Vec<f64>,
    relative: Vec<f64>,
    changed: Vec<bool>,
}

/// Change signals gathered member by member (each member's values are
/// dropped once reduced), then reduced across members.
pub struct ChangeAccumulator {
    change: ChangeRequest,
    /// About the members.
    pub note: EnsembleNote,
    template: Option<MemberValues>,
    positions: usize,
    /// Per member, per parameter.
    members: Vec<Vec<MemberChanges>>,
    cost: Cost,
    /// Members read from their stored period statistics.
    pub stored: usize,
}

impl ChangeAccumulator {
    /// An empty accumulator.
    pub fn new(change: ChangeRequest) -> Self {
        Self {
            change,
            note: EnsembleNote::default(),
            template: None,
            positions: 0,
            members: Vec::new(),
            cost: Cost::default(),
            stored: 0,
        }
    }

    /// Adds a member from its baseline and period answers; a member that
    /// cannot give the change is noted as left out.
    pub fn add(&mut self, label: String, base: &MemberValues, fut: &MemberValues) -> Result<(), QueryError> {
        self.cost += base.cost;
        self.cost += fut.cost;
        let (Some(tb), Some(tp)) = (base.time_axis(), fut.time_axis()) else {
            self.note.left_out.push((label, "it has no time axis".into()));
            return Ok(());
        };
        let times = |v: &MemberValues, t: usize| match &v.axes[t].values {
            AxisValues::Time { values, .. } => values.clone(),
            AxisValues::Numbers { .. } => Vec::new(),
        };
        let mut all = times(base, tb);
        all.extend(times(fut, tp));
        let grouping = match Grouping::new(&all, &self.change) {
            Ok(g) => g,
            Err(why) => {
                self.note.left_out.push((label, why));
                return Ok(());
            }
        };
        let (lb, lp) = (layout(base, Some(tb)), layout(fut, Some(tp)));
        if lb.outer != lp.outer || lb.inner != lp.inner || !same_axes(base, fut) {
            return Err(QueryError::Inconsistent("a member's baseline and period answers differ in shape".into()));
        }
        let positions = lb.outer * lb.inner;
        let mut sums = Vec::new();
        let summaries = base
            .params
            .iter()
            .zip(&fut.params)
            .map(|(pb, pp)| {
                (0..positions)
                    .map(|k| {
                        let (o, r) = (k / lb.inner, k % lb.inner);
                        let value = |step: usize| {
                            if step < lb.steps {
                                pb.values.get((o * lb.steps + step) * lb.inner + r).copied().flatten()
                            } else {
                                pp.values.get((o * lp.steps + step - lb.steps) * lp.inner + r).copied().flatten()
                            }
                        };
                        grouping.summary(value, &mut sums)
                    })
                    .collect()
            })
            .collect();
        self.add_summaries(label, base, summaries);
        Ok(())
    }

    /// Adds a member from its summaries per parameter and position
    /// (computed, or read from its stored period statistics); `template`
    /// gives the axes and parameters.
    pub fn add_summaries(
        &mut self,
        label: String,
        template: &MemberValues,
        summaries: Vec<Vec<Option<PeriodSummary>>>,
    ) {
        if let Some(t) = &self.template
            && !same_axes(t, template)
        {
            self.note.left_out.push((label, "its answer has other parameters or axes than the first member's".into()));
            return;
        }
        let positions = summaries.first().map_or(0, Vec::len);
        let per_param = summaries
            .into_iter()
            .map(|s| {
                let mut c = MemberChanges {
                    delta: Vec::with_capacity(positions),
                    relative: Vec::with_capacity(positions),
                    changed: Vec::with_capacity(positions),
                };
                for v in s {
                    c.delta.push(v.map_or(f64::NAN, |v| v.delta()));
                    c.relative.push(v.and_then(|v| v.relative()).unwrap_or(f64::NAN));
                    c.changed.push(v.is_some_and(|v| v.changed()));
                }
                c
            })
            .collect();
        if self.template.is_none() {
            let mut t = template.clone();
            t.params.iter_mut().for_each(|p| p.values.clear());
            if let Some(ti) = t.time_axis() {
                t.axes.remove(ti);
            }
            self.template = Some(t);
            self.positions = positions;
        }
        self.members.push(per_param);
        self.note.used.push(label);
    }

    /// The statistics of the changes, the agreement fractions and the
    /// robustness category per position.
    pub fn finish(mut self, stats: &[EnsembleStatistic]) -> Result<Combined, QueryError> {
        let Some(template) = self.template.take() else {
            let why: Vec<String> = self.note.left_out.iter().map(|(m, r)| format!("{m}: {r}")).collect();
            return Err(QueryError::bad(
                "period",
                format!(
                    "no member has every year of {} and {}: {}",
                    self.change.baseline,
                    self.change.period,
                    why.join("; ")
                ),
            ));
        };
        let axes = template.axes.clone();
        let n = self.members.len();
        let positions = self.positions;
        let mut params = Vec::new();
        let categories: Vec<Category> = Robustness::ALL
            .iter()
            .map(|(c, name, label)| Category { value: *c as i64, id: (*name).to_string(), label: (*label).to_string() })
            .collect();
        for (pi, base) in template.params.iter().enumerate() {
            let p = &base.param;
            let delta = |m: usize, k: usize| Some(self.members[m][pi].delta[k]).filter(|v| v.is_finite());
            let relative = |m: usize, k: usize| Some(self.members[m][pi].relative[k]).filter(|v| v.is_finite());
            let what = format!("change {} minus {}", self.change.period, self.change.baseline);
            for (s, values) in stats.iter().zip(summarize(n, positions, delta, stats)) {
                let units = s.units(p.units.as_deref());
                params.push(values_of(
                    derived(p, &format!("change.{}", s.name()), &format!("{what}, {} across members", s.name()), units),
                    values,
                ));
            }
            for (s, values) in stats.iter().zip(summarize(n, positions, relative, stats)) {
                let units = if *s == EnsembleStatistic::Count { Some("1".into()) } else { Some("%".into()) };
                params.push(values_of(
                    derived(
                        p,
                        &format!("change_relative.{}", s.name()),
                        &format!("relative {what}, {} across members", s.name()),
                        units,
                    ),
                    values,
                ));
            }
            // Counted member by member over blocks of positions (each
            // member's values read in order), the blocks in parallel.
            const BLOCK: usize = 8192;
            let members = &self.members;
            let blocks: Vec<Vec<Agreement>> = (0..positions.div_ceil(BLOCK))
                .into_par_iter()
                .map(|b| {
                    let (k0, k1) = (b * BLOCK, ((b + 1) * BLOCK).min(positions));
                    let mut counts = vec![Agreement::default(); k1 - k0];
                    for member in members {
                        let c = &member[pi];
                        for (a, k) in counts.iter_mut().zip(k0..k1) {
                            if c.delta[k].is_finite() {
                                a.count(c.delta[k], c.changed[k]);
                            }
                        }
                    }
                    counts
                })
                .collect();
            let agreement: Vec<Agreement> = blocks.into_iter().flatten().collect();
            let one = Some("1".to_string());
            let fractions: [(&str, &str, Fraction); 4] = [
                (
                    "changed",
                    "fraction of valid members changing significantly (IPCC AR6 approach C)",
                    Agreement::changed_fraction,
                ),
                ("positive", "fraction of valid members with a positive change", Agreement::positive_fraction),
                ("negative", "fraction of valid members with a negative change", Agreement::negative_fraction),
                ("agree", "fraction of valid members agreeing on the sign of change", Agreement::agree_fraction),
            ];
            for (name, what, f) in fractions {
                params.push(values_of(derived(p, name, what, one.clone()), agreement.iter().map(f).collect()));
            }
            #[allow(clippy::cast_precision_loss)]
            let count = agreement.iter().map(|a| Some(a.valid as f64)).collect();
            params.push(values_of(derived(p, "count", "valid members", one.clone()), count));
            let robustness = agreement.iter().map(|a| a.category().map(|c| f64::from(c as u8))).collect();
            let mut r =
                values_of(derived(p, "robustness", "robustness of the change (IPCC AR6 approach C)", None), robustness);
            r.categories = categories.clone();
            params.push(r);
        }
        self.note.from_stored = self.stored;
        Ok(Combined { axes, params, note: self.note, cost: self.cost, frame: template.frame })
    }
}
