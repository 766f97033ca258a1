//! Climate change signals and model agreement, as the IPCC AR6 WGI Atlas
//! (approach C) and xclim (`robustness_fractions(test="ipcc-ar6-c")`,
//! `robustness_categories` with its defaults) define them.
//!
//! Per member, in the member's own calendar:
//! 1. the values are reduced to one mean per calendar year (or per season,
//!    DJF labelled by the year of its January, or per month), counting a
//!    year only when every step of it is present and finite: a year with a
//!    missing day is no year;
//! 2. a member is valid for a position only if it has every year of both
//!    the baseline and the period (a member whose time axis does not cover
//!    them is left out as a whole, with the reason);
//! 3. Δ = mean(period) − mean(baseline), relative Δ = 100·Δ / mean(baseline);
//! 4. σ = the population std of the baseline's yearly values after a
//!    least-squares linear trend against time (the year's start, in days of
//!    the member's calendar, as xarray's `polyfit` on the time coordinate)
//!    is removed; the member changes significantly when |Δ| > √(2/20)·1.645·σ.
//!
//! Across the valid members: the fractions `changed`, `positive`,
//! `negative` (strict signs) and `agree` (the largest of the positive,
//! negative and zero-change fractions), and the category: robust (changed
//! ≥ 0.66 and agree ≥ 0.8), no change or no signal (changed < 0.66),
//! conflicting (changed ≥ 0.66 and agree < 0.8), decided on member counts
//! in integers so no rounding can move a position between categories.

use crate::cf::{Calendar, CfTime};

/// Inclusive calendar years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Years {
    /// First year.
    pub first: i64,
    /// Last year (inclusive).
    pub last: i64,
}

impl Years {
    /// `1981/2010`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a span of years such as 1981/2010");
        let (a, b) = text.trim().split_once('/').ok_or_else(bad)?;
        let first = a.trim().parse::<i64>().map_err(|_| bad())?;
        let last = b.trim().parse::<i64>().map_err(|_| bad())?;
        if last < first || !(1..=9999).contains(&first) || last > 9999 {
            return Err(bad());
        }
        Ok(Self { first, last })
    }

    /// Number of years.
    pub fn len(&self) -> usize {
        usize::try_from(self.last - self.first + 1).unwrap_or(0)
    }

    /// Never: a span has a year at least.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Years {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.first, self.last)
    }
}

/// Which part of each year is averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// The calendar year.
    Year,
    /// A season: its first month (12 DJF, 3 MAM, 6 JJA, 9 SON).
    Season(u8),
    /// One month.
    Month(u8),
}

impl Within {
    /// `DJF`, `MAM`, `JJA`, `SON`.
    pub fn season(name: &str) -> Result<Self, String> {
        Ok(Self::Season(match name.trim().to_ascii_uppercase().as_str() {
            "DJF" => 12,
            "MAM" => 3,
            "JJA" => 6,
            "SON" => 9,
            _ => return Err(format!("{name:?}: use DJF, MAM, JJA or SON")),
        }))
    }

    /// The months averaged, and the year each belongs to relative to the
    /// label year (December of DJF belongs to the year before).
    fn months(self) -> Vec<(u8, i64)> {
        match self {
            Self::Year => (1..=12).map(|m| (m, 0)).collect(),
            Self::Season(12) => vec![(12, -1), (1, 0), (2, 0)],
            Self::Season(s) => (s..s + 3).map(|m| (m, 0)).collect(),
            Self::Month(m) => vec![(m, 0)],
        }
    }

    /// The label year of a date, when the date is in the part averaged.
    fn label(self, year: i64, month: u8) -> Option<i64> {
        self.months().iter().find(|(m, _)| *m == month).map(|(_, off)| year - off)
    }

    /// For messages: `the year`, `DJF`, `month 7`.
    pub fn describe(self) -> String {
        match self {
            Self::Year => "year".into(),
            Self::Season(12) => "DJF".into(),
            Self::Season(3) => "MAM".into(),
            Self::Season(6) => "JJA".into(),
            Self::Season(_) => "SON".into(),
            Self::Month(m) => format!("month {m}"),
        }
    }
}

/// A change-signal request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRequest {
    /// The reference years (1981/2010).
    pub baseline: Years,
    /// The future years (2071/2100).
    pub period: Years,
    /// The part of each year.
    pub within: Within,
}

/// A member's time axis sorted into the years of the baseline and the
/// period: which step feeds which year, and how many steps a full year has.
#[derive(Debug, Clone)]
pub struct Grouping {
    /// For every step, the year it feeds (baseline years first, then the
    /// period's), if any.
    of_step: Vec<Option<usize>>,
    /// Steps in a full year, per year.
    expected: Vec<usize>,
    /// The start of each baseline year, days in the member's calendar.
    x_days: Vec<f64>,
    baseline_years: usize,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The step of a time axis, in microseconds (the median spacing).
fn step_micros(times: &[CfTime]) -> Option<i64> {
    let mut d: Vec<i64> = times.windows(2).map(|w| w[1].micros() - w[0].micros()).filter(|d| *d > 0).collect();
    if d.is_empty() {
        return None;
    }
    d.sort_unstable();
    Some(d[d.len() / 2])
}

impl Grouping {
    /// Sorts `times` (one member's axis, in its calendar) into the years
    /// of `req`; the reason the member cannot give them otherwise.
    pub fn new(times: &[CfTime], req: &ChangeRequest) -> Result<Self, String> {
        Self::over(times, &[req.baseline, req.period], req.within)
    }

    /// Sorts `times` into the years of `spans` (in order; the first is the
    /// one whose detrended σ is taken); the reason they cannot be had.
    pub fn over(times: &[CfTime], spans: &[Years], within: Within) -> Result<Self, String> {
        let calendar = times.first().map_or(Calendar::Standard, CfTime::calendar);
        let step = step_micros(times);
        let annual = step.is_some_and(|s| s >= 360 * MICROS_PER_DAY) || (times.len() == 1);
        let monthly = step.is_some_and(|s| (28 * MICROS_PER_DAY..=31 * MICROS_PER_DAY).contains(&s));
        if annual && within != Within::Year {
            return Err(format!("it holds one value per year: a {} mean cannot be taken", within.describe()));
        }
        let years: Vec<i64> = spans.iter().flat_map(|s| s.first..=s.last).collect();
        let nb = spans.first().map_or(0, Years::len);
        let mut expected = Vec::with_capacity(years.len());
        for &y in &years {
            let n = if annual {
                1
            } else if monthly {
                within.months().len()
            } else {
                let days: i64 =
                    within.months().iter().map(|(m, off)| i64::from(calendar.days_in_month(y + off, *m))).sum();
                let s = step.unwrap_or(MICROS_PER_DAY);
                usize::try_from(days * MICROS_PER_DAY / s).unwrap_or(0)
            };
            expected.push(n);
        }
        // The first span holding a year takes it (spans may overlap).
        let index = |label: i64| -> Option<usize> {
            let mut offset = 0;
            for s in spans {
                if (s.first..=s.last).contains(&label) {
                    return usize::try_from(label - s.first).ok().map(|i| i + offset);
                }
                offset += s.len();
            }
            None
        };
        let mut counts = vec![0usize; years.len()];
        let of_step: Vec<Option<usize>> = times
            .iter()
            .map(|t| {
                let f = t.fields();
                let g = if annual { index(f.year) } else { within.label(f.year, f.month).and_then(index) };
                if let Some(g) = g {
                    counts[g] += 1;
                }
                g
            })
            .collect();
        let short: Vec<i64> =
            years.iter().zip(counts.iter().zip(&expected)).filter(|(_, (c, e))| c < e).map(|(y, _)| *y).collect();
        if !short.is_empty() {
            let span = match (times.first(), times.last()) {
                (Some(a), Some(b)) => format!("its time axis runs from {a} to {b}"),
                _ => "it has no time steps".into(),
            };
            let which = if short.len() <= 4 {
                short.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            } else {
                format!("{} years from {} to {}", short.len(), short[0], short[short.len() - 1])
            };
            let names: Vec<String> = spans.iter().map(ToString::to_string).collect();
            return Err(format!("{span}: it lacks whole {}s of {} ({which})", within.describe(), names.join(" and ")));
        }
        if counts.iter().zip(&expected).any(|(c, e)| c > e) {
            return Err("its time axis has more steps in a year than its spacing allows (irregular steps)".into());
        }
        #[allow(clippy::cast_precision_loss)]
        let x_days = years[..nb]
            .iter()
            .map(|y| {
                let (m, off) = within.months()[0];
                calendar.day_number(y + off, m, 1) as f64
            })
            .collect();
        Ok(Self { of_step, expected, x_days, baseline_years: nb })
    }

    /// The steps of the axis.
    pub fn steps(&self) -> usize {
        self.of_step.len()
    }

    /// The year (index over the spans' years) each step feeds, if any.
    pub fn year_of_step(&self, step: usize) -> Option<usize> {
        self.of_step.get(step).copied().flatten()
    }

    /// Steps in a whole year, per year.
    pub fn expected(&self) -> &[usize] {
        &self.expected
    }

    /// One position's yearly sums and counts (the spans' years in order),
    /// from `value(step)` in step order; `false` when a step of a year has
    /// no finite value or a year is not whole.
    pub fn yearly(&self, value: impl Fn(usize) -> Option<f64>, sums: &mut Vec<(f64, usize)>) -> bool {
        sums.clear();
        sums.resize(self.expected.len(), (0.0, 0));
        for (t, g) in self.of_step.iter().enumerate() {
            let Some(g) = *g else { continue };
            match value(t).filter(|v| v.is_finite()) {
                Some(v) => {
                    sums[g].0 += v;
                    sums[g].1 += 1;
                }
                None => return false,
            }
        }
        sums.iter().zip(&self.expected).all(|((_, c), e)| c == e)
    }

    /// A position's period summary from `value(step)`; `None` when the
    /// member is not valid there (a year not whole).
    pub fn summary(&self, value: impl Fn(usize) -> Option<f64>, sums: &mut Vec<(f64, usize)>) -> Option<PeriodSummary> {
        if !self.yearly(value, sums) {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let yearly: Vec<f64> = sums.iter().map(|(s, c)| s / *c as f64).collect();
        let (base, fut) = yearly.split_at(self.baseline_years);
        Some(PeriodSummary { baseline: mean(base), period: mean(fut), sigma: detrended_std(&self.x_days, base) })
    }

    /// The mean of the first span's whole years, and their detrended σ,
    /// from yearly sums (what the stored period statistics keep, the same
    /// arithmetic as [`Self::summary`]).
    pub fn span_mean_sigma(&self, sums: &[(f64, usize)]) -> (f64, f64) {
        #[allow(clippy::cast_precision_loss)]
        let yearly: Vec<f64> = sums.iter().map(|(s, c)| s / *c as f64).collect();
        (mean(&yearly), detrended_std(&self.x_days, &yearly))
    }
}

fn mean(v: &[f64]) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = v.len() as f64;
    v.iter().sum::<f64>() / n
}

/// The population std of `y` after its least-squares line in `x` is taken away.
pub fn detrended_std(x: &[f64], y: &[f64]) -> f64 {
    let (mx, my) = (mean(x), mean(y));
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let r: Vec<f64> = x.iter().zip(y).map(|(a, b)| b - (my + slope * (a - mx))).collect();
    let mr = mean(&r);
    #[allow(clippy::cast_precision_loss)]
    let n = r.len() as f64;
    (r.iter().map(|v| (v - mr) * (v - mr)).sum::<f64>() / n).sqrt()
}

/// What a member gives at one position: the means of both periods and
/// the baseline's detrended interannual σ (what the stored period
/// statistics keep).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodSummary {
    /// Mean of the baseline's yearly means.
    pub baseline: f64,
    /// Mean of the period's yearly means.
    pub period: f64,
    /// Detrended σ of the baseline's yearly means.
    pub sigma: f64,
}

/// √(2/20)·1.645: the AR6 approach C factor on the interannual σ.
pub fn ar6_threshold_factor() -> f64 {
    (2.0f64 / 20.0).sqrt() * 1.645
}

impl PeriodSummary {
    /// Δ.
    pub fn delta(&self) -> f64 {
        self.period - self.baseline
    }

    /// Δ in % of the baseline (none for a zero baseline).
    pub fn relative(&self) -> Option<f64> {
        (self.baseline != 0.0).then(|| 100.0 * self.delta() / self.baseline)
    }

    /// Whether the change exceeds the AR6 threshold.
    pub fn changed(&self) -> bool {
        self.delta().abs() > ar6_threshold_factor() * self.sigma
    }
}

/// Robustness categories, numbered as in the answers' category encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Robustness {
    /// Changed ≥ 0.66 and agree ≥ 0.8.
    Robust = 1,
    /// Changed < 0.66.
    NoChange = 2,
    /// Changed ≥ 0.66 and agree < 0.8.
    Conflicting = 3,
}

impl Robustness {
    /// Every category: (code, name, description).
    pub const ALL: [(Self, &'static str, &'static str); 3] = [
        (Self::Robust, "robust", "Robust signal: ≥ 66 % of members change significantly and ≥ 80 % agree on the sign"),
        (Self::NoChange, "no-change", "No change or no robust signal: < 66 % of members change significantly"),
        (
            Self::Conflicting,
            "conflicting",
            "Conflicting signal: ≥ 66 % change significantly but < 80 % agree on the sign",
        ),
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(c, _, _)| *c == self).map_or("", |(_, n, _)| n)
    }
}

/// Member counts at one position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Agreement {
    /// Valid members.
    pub valid: usize,
    /// Changing significantly.
    pub changed: usize,
    /// Δ > 0.
    pub positive: usize,
    /// Δ < 0.
    pub negative: usize,
}

impl Agreement {
    /// Counts one valid member.
    pub fn add(&mut self, s: &PeriodSummary) {
        self.count(s.delta(), s.changed());
    }

    /// Counts one valid member by its Δ and whether it changed significantly.
    pub fn count(&mut self, delta: f64, changed: bool) {
        self.valid += 1;
        self.changed += usize::from(changed);
        self.positive += usize::from(delta > 0.0);
        self.negative += usize::from(delta < 0.0);
    }

    #[allow(clippy::cast_precision_loss)]
    fn frac(&self, n: usize) -> Option<f64> {
        (self.valid > 0).then(|| n as f64 / self.valid as f64)
    }

    /// Members agreeing on the sign: the most of positive, negative, zero.
    pub fn agreeing(&self) -> usize {
        let zero = self.valid - self.positive - self.negative;
        self.positive.max(self.negative).max(zero)
    }

    /// The fraction changing significantly.
    pub fn changed_fraction(&self) -> Option<f64> {
        self.frac(self.changed)
    }

    /// The fraction with Δ > 0.
    pub fn positive_fraction(&self) -> Option<f64> {
        self.frac(self.positive)
    }

    /// The fraction with Δ < 0.
    pub fn negative_fraction(&self) -> Option<f64> {
        self.frac(self.negative)
    }

    /// The fraction agreeing on the sign.
    pub fn agree_fraction(&self) -> Option<f64> {
        self.frac(self.agreeing())
    }

    /// The category, in integers: 100·changed ≥ 66·valid, 10·agree ≥ 8·valid.
    pub fn category(&self) -> Option<Robustness> {
        if self.valid == 0 {
            return None;
        }
        let changed = 100 * self.changed >= 66 * self.valid;
        let agree = 10 * self.agreeing() >= 8 * self.valid;
        Some(match (changed, agree) {
            (false, _) => Robustness::NoChange,
            (true, true) => Robustness::Robust,
            (true, false) => Robustness::Conflicting,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annual(calendar: Calendar, first: i64, last: i64) -> Vec<CfTime> {
        (first..=last)
            .map(|y| CfTime::parse(&format!("{y:04}-01-01"), calendar).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn req(b: (i64, i64), p: (i64, i64), within: Within) -> ChangeRequest {
        ChangeRequest { baseline: Years { first: b.0, last: b.1 }, period: Years { first: p.0, last: p.1 }, within }
    }

    #[test]
    fn a_linear_trend_has_no_detrended_spread() {
        let x = [0.0, 365.0, 730.0, 1096.0];
        let y: Vec<f64> = x.iter().map(|v| 2.0 + 0.01 * v).collect();
        assert!(detrended_std(&x, &y) < 1e-12);
        let y = [1.0, -1.0, 1.0, -1.0];
        assert!(detrended_std(&[0.0, 1.0, 2.0, 3.0], &y) > 0.8);
    }

    #[test]
    fn annual_members_give_delta_sigma_and_validity() {
        let t = annual(Calendar::NoLeap, 1950, 2100);
        let g = Grouping::new(&t, &req((1981, 2010), (2071, 2100), Within::Year)).unwrap_or_else(|e| panic!("{e}"));
        let mut sums = Vec::new();
        let s = g.summary(|i| Some(if i >= 121 { 3.0 } else { 1.0 }), &mut sums).unwrap_or_else(|| panic!("valid"));
        assert_eq!((s.baseline, s.period, s.delta(), s.relative()), (1.0, 3.0, 2.0, Some(200.0)));
        assert!(s.changed(), "no variability: any change is significant");
        assert!(g.summary(|i| (i != 40).then_some(1.0), &mut sums).is_none(), "a missing year in the baseline");
        let short = annual(Calendar::Standard, 1950, 2050);
        let e = Grouping::new(&short, &req((1981, 2010), (2071, 2100), Within::Year)).err().unwrap_or_default();
        assert!(e.contains("2071") && e.contains("2100"), "{e}");
    }

    #[test]
    fn daily_years_count_only_when_whole_in_their_calendar() {
        let mut t = Vec::new();
        for cal in [Calendar::Day360, Calendar::NoLeap, Calendar::ProlepticGregorian] {
            t.clear();
            let start = CfTime::parse("2000-01-01T12:00:00", cal).unwrap_or_else(|e| panic!("{e}"));
            let days = match cal {
                Calendar::Day360 => 720,
                Calendar::NoLeap => 730,
                _ => 731,
            };
            for d in 0..days {
                t.push(start.add_micros(d * MICROS_PER_DAY).unwrap_or_else(|| panic!("a day")));
            }
            let r = req((2000, 2000), (2001, 2001), Within::Year);
            let g = Grouping::new(&t, &r).unwrap_or_else(|e| panic!("{cal:?}: {e}"));
            let mut sums = Vec::new();
            let first_year = usize::from(cal.days_in_month(2000, 2)) + if cal == Calendar::Day360 { 330 } else { 337 };
            let s = g.summary(|i| Some(if i < first_year { 0.0 } else { 1.0 }), &mut sums);
            assert_eq!(s.map(|s| s.delta()), Some(1.0), "{cal:?}");
            let season = |s: &str| req((2000, 2000), (2001, 2001), Within::season(s).unwrap_or(Within::Year));
            assert!(Grouping::new(&t, &season("jja")).is_ok(), "{cal:?}: JJA of both years");
            let e = Grouping::new(&t, &season("djf")).err().unwrap_or_default();
            assert!(e.contains("DJF") && e.contains("2000"), "{cal:?}: DJF 2000 needs December 1999: {e}");
            let t2 = &t[1..];
            assert!(Grouping::new(t2, &r).is_err(), "{cal:?}: a missing first day");
        }
    }

    #[test]
    fn categories_follow_the_ar6_thresholds_in_integers() {
        let member = |d: f64| PeriodSummary { baseline: 0.0, period: d, sigma: 0.0 };
        let of = |deltas: &[f64]| {
            let mut a = Agreement::default();
            deltas.iter().for_each(|d| a.add(&member(*d)));
            a
        };
        assert_eq!(of(&[1.0, 1.0, 1.0, 1.0, 1.0]).category(), Some(Robustness::Robust));
        assert_eq!(of(&[1.0, 1.0, 1.0, -1.0, -1.0]).category(), Some(Robustness::Conflicting));
        assert_eq!(of(&[0.0, 0.0, 1.0]).category(), Some(Robustness::NoChange));
        // 33 of 50 changed is exactly 0.66: robust when they agree.
        let mut d = vec![1.0; 33];
        d.extend(vec![0.0; 17]);
        let a = of(&d);
        assert_eq!((a.changed, a.valid), (33, 50));
        assert_eq!(a.category(), Some(Robustness::Conflicting), "33 positive, 17 zero: agree 0.66 < 0.8");
        // 4 of 5 agree is exactly 0.8.
        assert_eq!(of(&[1.0, 1.0, 1.0, 1.0, -1.0]).category(), Some(Robustness::Robust));
        assert_eq!(Agreement::default().category(), None);
    }
}
