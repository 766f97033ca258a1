//! Selections along one coordinate: the `datetime` and `z` parameters of EDR
//! queries, and selections of extra dimensions (ensemble member, lead time)
//! by value. Pure: they take the coordinate's values and return indices.

use crate::cf::{Calendar, CfTime};

/// A selection along one axis, as a query writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisSelection<T> {
    /// Everything.
    All,
    /// These values, each of which must exist.
    Values(Vec<T>),
    /// A closed interval; `None` is an open end (`..`).
    Interval(Option<T>, Option<T>),
}

/// Why a selection was refused; the text names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectionError(pub String);

/// Parses EDR's `datetime`: an instant, a comma-separated list of instants, or
/// an interval `start/end` with `..` for an open end, in the dataset's calendar
/// (so `2001-02-30` is a valid date in a `360_day` dataset).
pub fn parse_datetime(text: &str, calendar: Calendar) -> Result<AxisSelection<CfTime>, SelectionError> {
    let instant = |s: &str| {
        CfTime::parse(s.trim(), calendar)
            .map_err(|e| SelectionError(format!("{:?} in the {} calendar: {e}", s.trim(), calendar.name())))
    };
    let text = text.trim();
    if text.is_empty() || text == ".." || text == "../.." {
        return Ok(AxisSelection::All);
    }
    if let Some((a, b)) = text.split_once('/') {
        let end = |s: &str| if s.trim() == ".." || s.trim().is_empty() { Ok(None) } else { instant(s).map(Some) };
        let (a, b) = (end(a)?, end(b)?);
        if let (Some(a), Some(b)) = (a, b)
            && a > b
        {
            return Err(SelectionError(format!("the interval starts after it ends ({a} > {b})")));
        }
        return Ok(AxisSelection::Interval(a, b));
    }
    Ok(AxisSelection::Values(text.split(',').map(instant).collect::<Result<_, _>>()?))
}

/// Parses a numeric selection (`z`, or an extra dimension): `v`, `v1,v2,…` or `lo/hi`.
pub fn parse_numbers(text: &str) -> Result<AxisSelection<f64>, SelectionError> {
    let num = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| SelectionError(format!("{:?} is not a number", s.trim())))
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(AxisSelection::All);
    }
    if let Some((a, b)) = text.split_once('/') {
        let end = |s: &str| if s.trim() == ".." { Ok(None) } else { num(s).map(Some) };
        let (a, b) = (end(a)?, end(b)?);
        return Ok(match (a, b) {
            (Some(a), Some(b)) if a > b => AxisSelection::Interval(Some(b), Some(a)),
            (a, b) => AxisSelection::Interval(a, b),
        });
    }
    Ok(AxisSelection::Values(text.split(',').map(num).collect::<Result<_, _>>()?))
}

/// The indices of `coords` a selection picks, ascending. A listed value must
/// match a coordinate (numbers within a millionth of the spacing); an
/// interval may pick none, which is an error too: the caller gets a message
/// naming the available range.
pub fn select<T: PartialOrd + Copy + std::fmt::Display>(
    coords: &[T],
    selection: &AxisSelection<T>,
    same: impl Fn(T, T) -> bool,
) -> Result<Vec<usize>, SelectionError> {
    let range = || match (coords.first(), coords.last()) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "none".to_string(),
    };
    let picked: Vec<usize> = match selection {
        AxisSelection::All => (0..coords.len()).collect(),
        AxisSelection::Values(values) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                match coords.iter().position(|c| same(*c, *v)) {
                    Some(i) => out.push(i),
                    None => {
                        return Err(SelectionError(format!("{v} is not a value of the axis (available: {})", range())));
                    }
                }
            }
            out.sort_unstable();
            out.dedup();
            out
        }
        AxisSelection::Interval(lo, hi) => coords
            .iter()
            .enumerate()
            .filter(|(_, c)| lo.is_none_or(|lo| **c >= lo) && hi.is_none_or(|hi| **c <= hi))
            .map(|(i, _)| i)
            .collect(),
    };
    if picked.is_empty() {
        return Err(SelectionError(format!("the selection matches nothing (available: {})", range())));
    }
    Ok(picked)
}

/// Whether two coordinate numbers are the same value (tolerant of float
/// rounding in queries such as `z=850`).
pub fn same_number(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-9)
}

/// Splits ascending indices into contiguous runs `(start, len)`.
pub fn index_runs(indices: &[usize]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &i in indices {
        match runs.last_mut() {
            Some((s, n)) if *s + *n == i => *n += 1,
            _ => runs.push((i, 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, c: Calendar) -> CfTime {
        CfTime::parse(s, c).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn datetime_instants_lists_and_intervals() {
        let c = Calendar::Day360;
        assert_eq!(parse_datetime("2001-02-30T00:00:00Z", c), Ok(AxisSelection::Values(vec![t("2001-02-30", c)])));
        assert_eq!(parse_datetime("2001-01-01/..", c), Ok(AxisSelection::Interval(Some(t("2001-01-01", c)), None)));
        assert_eq!(parse_datetime("../2001-01-01", c), Ok(AxisSelection::Interval(None, Some(t("2001-01-01", c)))));
        assert!(parse_datetime("2001-02-30", Calendar::Standard).is_err(), "no 30 February in the standard calendar");
        assert!(parse_datetime("2001-03-01/2001-01-01", c).is_err());
        assert!(parse_datetime("yesterday", c).is_err());
    }

    #[test]
    fn selections_pick_indices_or_explain() {
        let z = [1000.0, 850.0, 500.0, 250.0];
        assert_eq!(select(&z, &AxisSelection::Values(vec![500.0, 1000.0]), same_number), Ok(vec![0, 2]));
        assert_eq!(select(&z, &AxisSelection::Interval(Some(300.0), Some(900.0)), same_number), Ok(vec![1, 2]));
        assert_eq!(select(&z, &AxisSelection::All, same_number), Ok(vec![0, 1, 2, 3]));
        let e = select(&z, &AxisSelection::Values(vec![700.0]), same_number).err().map(|e| e.0).unwrap_or_default();
        assert!(e.contains("700") && e.contains("1000 to 250"), "{e}");
        assert!(select(&z, &AxisSelection::Interval(Some(1.0), Some(2.0)), same_number).is_err());
        assert_eq!(parse_numbers("850,500"), Ok(AxisSelection::Values(vec![850.0, 500.0])));
        assert_eq!(parse_numbers("1000/250"), Ok(AxisSelection::Interval(Some(250.0), Some(1000.0))));
        assert!(parse_numbers("high").is_err());
    }

    #[test]
    fn runs_of_indices() {
        assert_eq!(index_runs(&[0, 1, 2, 5, 6, 9]), vec![(0, 3), (5, 2), (9, 1)]);
        assert!(index_runs(&[]).is_empty());
    }
}
