//! Statistics across the members of an ensemble, defined as xclim's
//! `ensemble_mean_std_max_min` and `ensemble_percentiles` (its defaults):
//!
//! - a member is absent where it has no finite value: a fill value or a NaN
//!   never enters a statistic, and `count` says how many members did;
//! - `std` is the population standard deviation (ddof 0), two passes;
//! - percentiles interpolate linearly between order statistics (numpy's
//!   default, Hyndman–Fan type 7: position `p·(n−1)` in the sorted values),
//!   with numpy's two-sided lerp so the answers agree to the last bit where
//!   they can;
//! - arithmetic in `f64`; with no member present every statistic but
//!   `count` (0) is absent.

/// A statistic across members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnsembleStatistic {
    /// Mean of the members present.
    Mean,
    /// Population standard deviation.
    Std,
    /// Smallest.
    Min,
    /// Largest.
    Max,
    /// The 50th percentile.
    Median,
    /// A percentile, 1 to 99 (`p10`, `p90`).
    Percentile(u8),
    /// Members present.
    Count,
}

/// The statistics asked for when a request names none: the headline and
/// the band a plume is drawn with, and how many members gave them.
pub const DEFAULT_ENSEMBLE_STATISTICS: &[EnsembleStatistic] = &[
    EnsembleStatistic::Mean,
    EnsembleStatistic::Percentile(10),
    EnsembleStatistic::Median,
    EnsembleStatistic::Percentile(90),
    EnsembleStatistic::Count,
];

impl EnsembleStatistic {
    /// Its name in URLs and parameter names (`p90`).
    pub fn name(self) -> String {
        match self {
            Self::Mean => "mean".into(),
            Self::Std => "std".into(),
            Self::Min => "min".into(),
            Self::Max => "max".into(),
            Self::Median => "median".into(),
            Self::Percentile(p) => format!("p{p}"),
            Self::Count => "count".into(),
        }
    }

    /// One name.
    pub fn parse(name: &str) -> Result<Self, String> {
        let n = name.trim().to_ascii_lowercase();
        Ok(match n.as_str() {
            "mean" => Self::Mean,
            "std" => Self::Std,
            "min" => Self::Min,
            "max" => Self::Max,
            "median" | "p50" => Self::Median,
            "count" => Self::Count,
            p if p.starts_with('p') => match p[1..].parse::<u8>() {
                Ok(v) if (1..=99).contains(&v) => Self::Percentile(v),
                _ => return Err(format!("{name:?}: a percentile is p1 to p99")),
            },
            _ => {
                return Err(format!(
                    "unknown statistic {name:?} (across members: mean, std, min, max, median, p1..p99 such as p10 or p90, count)"
                ));
            }
        })
    }

    /// A comma-separated list, in order, without repeats.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        let mut out = Vec::new();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let s = Self::parse(name)?;
            if !out.contains(&s) {
                out.push(s);
            }
        }
        if out.is_empty() {
            return Err("name at least one statistic".into());
        }
        Ok(out)
    }

    /// Units of the statistic of values in `units`.
    pub fn units(self, units: Option<&str>) -> Option<String> {
        match self {
            Self::Count => Some("1".into()),
            _ => units.map(str::to_string),
        }
    }
}

/// numpy's `_lerp`: exact at both ends, monotone.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let d = b - a;
    if t >= 0.5 { b - d * (1.0 - t) } else { a + d * t }
}

/// Where a percentile lies in `n` sorted values: the two order statistics
/// and the weight of the second.
fn position(n: usize, q: f64) -> (usize, usize, f64) {
    #[allow(clippy::cast_precision_loss)]
    let h = q * (n - 1) as f64;
    let lo = h.floor();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = (lo as usize).min(n - 1);
    (i, (i + 1).min(n - 1), h - lo)
}

fn fraction(s: EnsembleStatistic) -> Option<f64> {
    match s {
        EnsembleStatistic::Percentile(p) => Some(f64::from(p) / 100.0),
        EnsembleStatistic::Median => Some(0.5),
        _ => None,
    }
}

/// Puts the order statistics the percentiles need in their sorted places
/// (each selection on the part after the previous one: O(n) per index, not
/// a sort), so reading them gives what a full sort would.
fn place_order_statistics(values: &mut [f64], stats: &[EnsembleStatistic]) {
    let n = values.len();
    let mut wanted: Vec<usize> = stats
        .iter()
        .filter_map(|s| fraction(*s))
        .flat_map(|q| {
            let (i, j, _) = position(n, q);
            [i, j]
        })
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut lo = 0;
    for i in wanted {
        if i >= lo {
            values[lo..].select_nth_unstable_by(i - lo, f64::total_cmp);
            lo = i + 1;
        }
    }
}

/// The statistics of one position's member values (`present` holds the
/// finite ones, in member order; it is reordered here).
pub fn across(present: &mut [f64], stats: &[EnsembleStatistic], out: &mut Vec<Option<f64>>) {
    let n = present.len();
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    // Sums first, in member order; the order statistics after.
    let mean = (n > 0).then(|| present.iter().sum::<f64>() / nf);
    let std = match (stats.contains(&EnsembleStatistic::Std), mean) {
        (true, Some(m)) => Some((present.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / nf).sqrt()),
        _ => None,
    };
    let (min, max) = (present.iter().copied().reduce(f64::min), present.iter().copied().reduce(f64::max));
    let mut placed = false;
    for s in stats {
        let v = match s {
            EnsembleStatistic::Count => Some(nf),
            _ if n == 0 => None,
            EnsembleStatistic::Mean => mean,
            EnsembleStatistic::Std => std,
            EnsembleStatistic::Min => min,
            EnsembleStatistic::Max => max,
            EnsembleStatistic::Median | EnsembleStatistic::Percentile(_) => {
                if !placed {
                    place_order_statistics(present, stats);
                    placed = true;
                }
                let (i, j, t) = position(n, fraction(*s).unwrap_or(0.5));
                Some(lerp(present[i], present[j], t))
            }
        };
        out.push(v);
    }
}

/// Positions per parallel task: large enough to amortise the task, small
/// enough to spread a map over the cores.
const POSITIONS_PER_TASK: usize = 8192;

/// Values in one block of a task (64 K values, 512 KiB: within a core's cache).
const BLOCK_VALUES: usize = 1 << 16;

/// The statistics across members at every position: `value(member, k)`
/// for `positions` positions and `members` members; one vector per
/// statistic, in order. Positions are reduced in parallel (each on its own,
/// so the answer does not depend on the split).
pub fn summarize(
    members: usize,
    positions: usize,
    value: impl Fn(usize, usize) -> Option<f64> + Sync,
    stats: &[EnsembleStatistic],
) -> Vec<Vec<Option<f64>>> {
    use rayon::prelude::*;
    let starts: Vec<usize> = (0..positions).step_by(POSITIONS_PER_TASK).collect();
    let parts: Vec<Vec<Vec<Option<f64>>>> = starts
        .par_iter()
        .map(|&k0| {
            let k1 = (k0 + POSITIONS_PER_TASK).min(positions);
            let mut out: Vec<Vec<Option<f64>>> = stats.iter().map(|_| Vec::with_capacity(k1 - k0)).collect();
            let mut row = Vec::with_capacity(stats.len());
            // Members' values read member by member (each member's run of
            // positions in order), into a block holding each position's
            // members side by side, sized to stay in cache.
            let block = (BLOCK_VALUES / members.max(1)).max(1);
            let mut buf = vec![f64::NAN; block * members];
            let mut b0 = k0;
            while b0 < k1 {
                let b1 = (b0 + block).min(k1);
                for m in 0..members {
                    for k in b0..b1 {
                        buf[(k - b0) * members + m] = value(m, k).unwrap_or(f64::NAN);
                    }
                }
                for k in b0..b1 {
                    let cell = &mut buf[(k - b0) * members..(k - b0 + 1) * members];
                    // The finite values first, in member order.
                    let mut n = 0;
                    for i in 0..members {
                        if cell[i].is_finite() {
                            cell[n] = cell[i];
                            n += 1;
                        }
                    }
                    row.clear();
                    across(&mut cell[..n], stats, &mut row);
                    for (o, v) in out.iter_mut().zip(&row) {
                        o.push(*v);
                    }
                }
                b0 = b1;
            }
            out
        })
        .collect();
    let mut out: Vec<Vec<Option<f64>>> = stats.iter().map(|_| Vec::with_capacity(positions)).collect();
    for part in parts {
        for (o, p) in out.iter_mut().zip(part) {
            o.extend(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_of(values: &[f64], stats: &[EnsembleStatistic]) -> Vec<Option<f64>> {
        let mut v = values.to_vec();
        let mut out = Vec::new();
        across(&mut v, stats, &mut out);
        out
    }

    #[test]
    fn percentiles_interpolate_linearly_as_numpy() {
        use EnsembleStatistic as S;
        // numpy.percentile([1, 2, 4, 8, 16], [10, 25, 50, 75, 90]) = 1.4, 2, 4, 8, 12.8
        let got = stats_of(
            &[8.0, 1.0, 16.0, 2.0, 4.0],
            &[S::Percentile(10), S::Percentile(25), S::Median, S::Percentile(75), S::Percentile(90)],
        );
        let want = [1.4, 2.0, 4.0, 8.0, 12.8];
        for (g, w) in got.iter().zip(want) {
            assert!((g.unwrap_or(f64::NAN) - w).abs() < 1e-12, "{got:?}");
        }
        assert_eq!(stats_of(&[3.0], &[S::Percentile(90)]), vec![Some(3.0)]);
    }

    #[test]
    fn mean_std_min_max_count_and_absent_members() {
        use EnsembleStatistic as S;
        let members = [[Some(1.0), None], [Some(3.0), Some(f64::NAN)], [Some(5.0), None]];
        let out = summarize(3, 2, |m, k| members[m][k], &[S::Mean, S::Std, S::Min, S::Max, S::Count]);
        assert_eq!(out[0], vec![Some(3.0), None]);
        let std = (8.0f64 / 3.0).sqrt();
        assert!((out[1][0].unwrap_or(0.0) - std).abs() < 1e-15, "population std");
        assert_eq!((out[2][0], out[3][0]), (Some(1.0), Some(5.0)));
        assert_eq!(out[4], vec![Some(3.0), Some(0.0)], "a NaN is no member");
    }

    #[test]
    fn selected_order_statistics_give_what_a_sort_gives() {
        use EnsembleStatistic as S;
        let stats = [S::Percentile(10), S::Percentile(25), S::Median, S::Percentile(75), S::Percentile(90), S::Min];
        let mut seed = 7u64;
        for n in 1..120 {
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    f64::from((seed >> 40) as u32 % 50) / 7.0
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let want: Vec<Option<f64>> = stats
                .iter()
                .map(|s| match fraction(*s) {
                    Some(q) => {
                        let (i, j, t) = position(n, q);
                        Some(lerp(sorted[i], sorted[j], t))
                    }
                    None => Some(sorted[0]),
                })
                .collect();
            assert_eq!(stats_of(&values, &stats), want, "n = {n}");
        }
    }

    #[test]
    fn names_parse_and_say_what_is_known() {
        use EnsembleStatistic as S;
        assert_eq!(
            S::parse_list("mean,p10, median,p90,count,p50"),
            Ok(vec![S::Mean, S::Percentile(10), S::Median, S::Percentile(90), S::Count])
        );
        assert!(S::parse("p100").is_err());
        assert!(S::parse("sum").err().unwrap_or_default().contains("p10"));
        assert_eq!(S::Percentile(90).name(), "p90");
    }
}
