//! Period statistics of ensemble members, kept in step with their data: for
//! the periods configured on an ensemble (`ensembles.<id>.periods`), each
//! member stores, per variable and part of the year, the mean of its whole
//! years over every period and the detrended interannual σ of the baseline,
//! updated by the commit that writes the steps they derive from. A change
//! map over 96 members then reads three maps per member instead of 60
//! years of fields.
//!
//! ```text
//! periods/<var>_<within>_<first>_<last>_mean   (<dims without time>)  mean of the whole years
//! periods/<var>_<within>_<first>_<last>_sigma  (<dims without time>)  the baseline's detrended σ
//! ```
//!
//! A position where a year is not whole holds NaN, exactly where the
//! computation at query time leaves the member out. Both go through the
//! same arithmetic ([`Grouping::yearly`] sums in step order,
//! [`Grouping::span_mean_sigma`]), so the stored and computed answers are
//! the same numbers; the query reads the stored maps only when all three a
//! change needs are there.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::analytics::{Grouping, Within, Years};
use crate::cf::{DimRole, FillValue};
use crate::derived::{Changes, Derivation, DerivationError, Steps, TxReader};
use crate::model::{ArrayLayout, AttrValue, Attributes, Block, BlockData, Compression, DataType, DatasetId, Hyperslab};
use crate::ports::{ArrayInfo, ArraySpec, Transaction};
use crate::query::view::{AxisValues, DatasetView, Parameter, ProjectorFactory};

/// Where every period statistic lives in a member dataset.
pub const PERIODS_PREFIX: &str = "periods/";

/// The group holding them.
const PERIODS_GROUP: &str = "periods";

/// Values read per batch of steps, at most (decoded bytes).
const BATCH_BYTES: u64 = 64 << 20;

/// The periods an ensemble keeps statistics for.
///
/// ```json
/// { "baseline": "1981/2010", "periods": ["2041/2070", "2071/2100"], "within": ["year", "DJF", "JJA"] }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodSettings {
    /// The reference years.
    pub baseline: String,
    /// The future periods.
    #[serde(default)]
    pub periods: Vec<String>,
    /// Parts of the year: `year` (default), `DJF`, `MAM`, `JJA`, `SON`, or a month `1`..`12`.
    #[serde(default)]
    pub within: Vec<String>,
}

/// One stored statistic's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSpan {
    /// Its years.
    pub years: Years,
    /// The part of the year.
    pub within: Within,
    /// Whether its σ is kept (the baseline).
    pub baseline: bool,
}

/// `year`, `djf`, `m07`: a part of the year in a path.
pub fn within_name(w: Within) -> String {
    match w {
        Within::Year => "year".into(),
        Within::Month(m) => format!("m{m:02}"),
        s => s.describe().to_ascii_lowercase(),
    }
}

fn parse_within(text: &str) -> Result<Within, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("year") {
        return Ok(Within::Year);
    }
    if let Ok(m) = t.parse::<u8>() {
        return if (1..=12).contains(&m) { Ok(Within::Month(m)) } else { Err(format!("month {m}: use 1 to 12")) };
    }
    Within::season(t)
}

impl PeriodSettings {
    /// The spans to store: every part of the year of the baseline (with σ)
    /// and of each period.
    pub fn spans(&self) -> Result<Vec<StoredSpan>, String> {
        let baseline = Years::parse(&self.baseline)?;
        let periods = self.periods.iter().map(|p| Years::parse(p)).collect::<Result<Vec<_>, _>>()?;
        let within = if self.within.is_empty() {
            vec![Within::Year]
        } else {
            self.within.iter().map(|w| parse_within(w)).collect::<Result<Vec<_>, _>>()?
        };
        let mut out = Vec::new();
        for w in within {
            out.push(StoredSpan { years: baseline, within: w, baseline: true });
            out.extend(periods.iter().map(|p| StoredSpan { years: *p, within: w, baseline: false }));
        }
        Ok(out)
    }
}

/// The path of a stored statistic (`mean` or `sigma`).
pub fn period_path(variable: &str, within: Within, years: Years, stat: &str) -> String {
    format!(
        "{PERIODS_PREFIX}{}_{}_{}_{}_{stat}",
        variable.replace('/', "_"),
        within_name(within),
        years.first,
        years.last
    )
}

/// Whether an array is a stored period statistic (not a variable of its own).
pub fn is_period_array(path: &str) -> bool {
    path.starts_with(PERIODS_PREFIX)
}

/// The attribute naming the variable a statistic derives from.
pub const OF_ATTR: &str = "hub_period_of";

/// A stored statistic read as a parameter: `source`'s grid and non-time
/// dimensions, the stored array.
pub fn stored_parameter(source: &Parameter, array: &ArrayInfo) -> Option<Parameter> {
    let t = source.dim_with(DimRole::Time)?;
    let mut roles = source.roles.clone();
    roles.remove(t);
    if array.shape.len() != roles.len() || attr_of(array) != Some(source.name.as_str()) {
        return None;
    }
    let mut p = source.clone();
    p.name = array.path.clone();
    p.array = array.clone();
    p.roles = roles;
    p.decoding = crate::cf::ValueDecoding::from_attrs(&array.attrs, array.dtype);
    p.time_major = None;
    Some(p)
}

fn attr_of(a: &ArrayInfo) -> Option<&str> {
    crate::model::attr_text(&a.attrs, OF_ATTR)
}

/// The derivation for one ensemble's members.
pub struct PeriodStatsDerivation {
    /// The ensemble.
    pub ensemble: super::EnsembleSpec,
    /// What to store.
    pub spans: Vec<StoredSpan>,
    /// Projections for projected grids (the view needs them).
    pub projections: Arc<dyn ProjectorFactory>,
}

#[async_trait]
impl Derivation for PeriodStatsDerivation {
    fn name(&self) -> String {
        format!("periods/{}", self.ensemble.id)
    }

    async fn update(
        &self,
        dataset: &DatasetId,
        tx: &dyn Transaction,
        changes: &Changes,
    ) -> Result<String, DerivationError> {
        let groups = tx.groups().await?;
        let attrs = groups.iter().find(|g| g.path.is_empty()).map(|g| g.attrs.clone()).unwrap_or_default();
        if !matches!(self.ensemble.member(dataset, &attrs), Some(Ok(_))) {
            return Ok(format!("periods/{}: not a member", self.ensemble.id));
        }
        let reader = TxReader(tx);
        let view = DatasetView::load(dataset.clone(), &reader, self.projections.as_ref()).await?;
        let mut done = Vec::new();
        for p in &view.parameters {
            let Some(t) = p.dim_with(DimRole::Time) else { continue };
            if !changes.touches(&p.name) {
                continue;
            }
            let Some(AxisValues::Time { values, .. }) = view.dims.get(&p.array.dims[t]).map(|d| &d.values) else {
                continue;
            };
            for span in &self.spans {
                let Ok(grouping) = Grouping::over(values, &[span.years], span.within) else { continue };
                let mean_path = period_path(&p.name, span.within, span.years, "mean");
                let present = view.arrays.iter().any(|a| a.path == mean_path);
                let touched = match &changes.steps {
                    Steps::All => true,
                    Steps::Some(steps) => steps.iter().any(|s| grouping.year_of_step(*s as usize).is_some()),
                };
                if present && !touched {
                    continue;
                }
                store_span(tx, p, t, &grouping, span).await?;
                done.push(format!("{} {} {}", p.name, within_name(span.within), span.years));
            }
        }
        Ok(if done.is_empty() {
            format!("periods/{}: nothing to do", self.ensemble.id)
        } else {
            format!("periods/{}: {}", self.ensemble.id, done.join(", "))
        })
    }
}

/// Computes and writes one span's maps of one variable.
async fn store_span(
    tx: &dyn Transaction,
    p: &Parameter,
    t: usize,
    grouping: &Grouping,
    span: &StoredSpan,
) -> Result<(), DerivationError> {
    let shape = &p.array.shape;
    let positions: usize = shape.iter().enumerate().filter(|(d, _)| *d != t).map(|(_, n)| *n as usize).product();
    let years = grouping.expected().len();
    let mut sums = vec![(0.0f64, 0usize); years * positions];
    let mut broken = vec![false; positions];
    // The steps of the span, in order, read in batches of bounded size.
    let steps: Vec<usize> = (0..grouping.steps()).filter(|s| grouping.year_of_step(*s).is_some()).collect();
    let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else { return Ok(()) };
    let per_step = (positions as u64 * 8).max(1);
    let batch = (BATCH_BYTES / per_step).max(1) as usize;
    let inner: usize = shape[t + 1..].iter().map(|n| *n as usize).product();
    let mut s0 = first;
    while s0 <= last {
        let s1 = (s0 + batch).min(last + 1);
        let mut slab = Hyperslab::full(shape);
        slab.start[t] = s0 as u64;
        slab.shape[t] = (s1 - s0) as u64;
        let BlockData::Numeric(bytes) = tx.read(&p.array.path, &slab).await? else {
            return Err(DerivationError::Invalid(format!("{}: not numbers", p.name)));
        };
        let raw = p.array.dtype.to_f64_vec(&bytes);
        let n = s1 - s0;
        // Stored order: [outer][time][inner]; a position is (outer, inner).
        for (k, v) in raw.iter().enumerate() {
            let (o, rest) = (k / (n * inner), k % (n * inner));
            let (step, r) = (s0 + rest / inner, rest % inner);
            let Some(g) = grouping.year_of_step(step) else { continue };
            let pos = o * inner + r;
            match p.decoding.decode(*v).filter(|v| v.is_finite()) {
                Some(v) if !broken[pos] => {
                    let e = &mut sums[pos * years + g];
                    e.0 += v;
                    e.1 += 1;
                }
                _ => broken[pos] = true,
            }
        }
        s0 = s1;
    }
    let expected = grouping.expected();
    let mut means = Vec::with_capacity(positions);
    let mut sigmas = Vec::with_capacity(positions);
    for pos in 0..positions {
        let row = &sums[pos * years..(pos + 1) * years];
        if broken[pos] || row.iter().zip(expected).any(|((_, c), e)| c != e) {
            means.push(f64::NAN);
            sigmas.push(f64::NAN);
        } else {
            let (m, s) = grouping.span_mean_sigma(row);
            means.push(m);
            sigmas.push(s);
        }
    }
    let existing = tx.arrays().await?;
    if !tx.groups().await?.iter().any(|g| g.path == PERIODS_GROUP) {
        let mut attrs = Attributes::new();
        attrs.insert(
            "description".into(),
            AttrValue::text("period statistics of the variables, kept in step with them (see the hub's README)"),
        );
        tx.put_group(PERIODS_GROUP, &attrs).await?;
    }
    let mut out = vec![("mean", means)];
    if span.baseline {
        out.push(("sigma", sigmas));
    }
    for (stat, values) in out {
        let path = period_path(&p.name, span.within, span.years, stat);
        let spec = spec_of(p, t, &path, span, stat);
        let same = existing.iter().any(|a| a.path == path && a.shape == spec.shape && a.dims == spec.dims);
        if !same {
            tx.create_array(&spec).await?;
        }
        let data = DataType::Float64
            .encode_f64s(&values)
            .ok_or_else(|| DerivationError::Invalid(format!("{path}: cannot encode")))?;
        let block = Block { region: Hyperslab::full(&spec.shape), data: BlockData::Numeric(data) };
        tx.write_block(&path, Arc::new(block)).await?;
    }
    Ok(())
}

fn spec_of(p: &Parameter, t: usize, path: &str, span: &StoredSpan, stat: &str) -> ArraySpec {
    let dims: Vec<String> = p.array.dims.iter().enumerate().filter(|(d, _)| *d != t).map(|(_, n)| n.clone()).collect();
    let shape: Vec<u64> = p.array.shape.iter().enumerate().filter(|(d, _)| *d != t).map(|(_, n)| *n).collect();
    let chunks: Vec<u64> = p
        .roles
        .iter()
        .zip(&p.array.shape)
        .enumerate()
        .filter(|(d, _)| *d != t)
        .map(|(_, (r, n))| if matches!(r, DimRole::Y | DimRole::X) { *n } else { 1 })
        .collect();
    let mut attrs = Attributes::new();
    let what = if stat == "sigma" { "interannual standard deviation, linearly detrended," } else { "mean" };
    attrs.insert(
        "long_name".into(),
        AttrValue::text(format!("{what} of the whole {}s {} of {}", span.within.describe(), span.years, p.description)),
    );
    if let Some(u) = &p.units {
        attrs.insert("units".into(), AttrValue::text(u.clone()));
    }
    attrs.insert(OF_ATTR.into(), AttrValue::text(p.name.clone()));
    attrs.insert("hub_period".into(), AttrValue::text(span.years.to_string()));
    attrs.insert("hub_within".into(), AttrValue::text(within_name(span.within)));
    ArraySpec {
        path: path.to_string(),
        dims,
        shape,
        dtype: DataType::Float64,
        fill_value: FillValue::Float(f64::NAN),
        layout: ArrayLayout { chunks, shard: None, compression: Compression::Zstd { level: 3 } },
        attrs,
    }
}
