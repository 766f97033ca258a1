//! Where a file's steps land in a dataset that already holds data.
//!
//! A dataset grows along its *growing axes*: valid time for observations and
//! radar composites, forecast reference time and lead time for model runs,
//! ensemble members for ensembles delivered member by member.
//! Each growing axis is kept sorted and free of repeats, so a late file is
//! placed at its time, not at the end. For every growing axis the incoming
//! values are merged with the stored ones ([`AxisMerge`]):
//!
//! - a value not stored yet is *inserted*; when it lands before stored values,
//!   those move up by the number of values inserted before them (the arrays are
//!   rewritten from the first moved step on, from the end backwards, so a move
//!   never reads a step it already overwrote);
//! - a value already stored is *replaced* (a corrected file): the new values
//!   overwrite the step in a new commit, the old ones stay in history.
//!
//! Values from a file are first converted to the dataset's encoding (its
//! `units` and calendar) so files written with different epochs or units
//! compare correctly ([`AxisEncoding`]). Everything here is pure: the ingest
//! service reads and writes through the repository port.

use crate::cf::{self, Calendar, DimRole, TimeEncoding};
use crate::model::{Attributes, DataType, DatasetSchema, Hyperslab, attr_text};

/// Why a file cannot be merged into its dataset.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The file repeats a value of a growing axis.
    #[error("{dim}: value {value} appears twice in the file")]
    Repeated {
        /// The axis.
        dim: String,
        /// The repeated value (dataset encoding).
        value: f64,
    },
    /// A value of a growing axis is not a finite number.
    #[error("{dim}: value {value} is not a finite coordinate")]
    NotFinite {
        /// The axis.
        dim: String,
        /// The value.
        value: f64,
    },
    /// The stored axis is not strictly increasing (written by something else).
    #[error("{dim}: the stored axis is not strictly increasing; the dataset cannot take appends")]
    UnsortedStore {
        /// The axis.
        dim: String,
    },
    /// The file's axis cannot be expressed in the dataset's encoding.
    #[error("{dim}: {reason}")]
    Encoding {
        /// The axis.
        dim: String,
        /// Why.
        reason: String,
    },
    /// The file does not fit the dataset (another grid, type or packing).
    #[error("{0}")]
    Mismatch(String),
}

/// The merge of a file's values into a stored growing axis.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisMerge {
    /// The axis (dimension) name.
    pub dim: String,
    /// The axis after the merge, sorted.
    pub merged: Vec<f64>,
    /// New index of each stored value.
    pub old_to_new: Vec<u64>,
    /// New index of each incoming value, in file order.
    pub incoming_to_new: Vec<u64>,
    /// How many incoming values were already stored (replaced steps).
    pub replaced: usize,
}

/// Two axis values are the same step when they differ by less than this
/// fraction of their magnitude (unit conversions leave rounding noise).
const SAME_VALUE: f64 = 1e-9;

/// Whether two coordinate values are the same (see [`SAME_VALUE`]); shared
/// with the check that a file's grid is the dataset's.
pub(crate) fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= SAME_VALUE * a.abs().max(b.abs()).max(1.0)
}

impl AxisMerge {
    /// Merges `incoming` into the sorted `existing` values of axis `dim`.
    pub fn plan(dim: &str, existing: &[f64], incoming: &[f64]) -> Result<Self, AppendError> {
        if existing.windows(2).any(|w| w[0] >= w[1] || w[0].is_nan() || w[1].is_nan() || same(w[0], w[1])) {
            return Err(AppendError::UnsortedStore { dim: dim.into() });
        }
        if let Some(&value) = incoming.iter().chain(existing).find(|v| !v.is_finite()) {
            return Err(AppendError::NotFinite { dim: dim.into(), value });
        }
        let mut sorted: Vec<f64> = incoming.to_vec();
        sorted.sort_by(f64::total_cmp);
        if let Some(w) = sorted.windows(2).find(|w| same(w[0], w[1])) {
            return Err(AppendError::Repeated { dim: dim.into(), value: w[0] });
        }
        // Walk both sorted lists once.
        let mut merged = Vec::with_capacity(existing.len() + incoming.len());
        let mut old_to_new = Vec::with_capacity(existing.len());
        let (mut i, mut j) = (0, 0);
        let mut replaced = 0;
        while i < existing.len() || j < sorted.len() {
            let next = match (existing.get(i), sorted.get(j)) {
                (Some(&a), Some(&b)) if same(a, b) => {
                    replaced += 1;
                    j += 1;
                    i += 1;
                    old_to_new.push(merged.len() as u64);
                    a
                }
                (Some(&a), Some(&b)) if a < b => {
                    i += 1;
                    old_to_new.push(merged.len() as u64);
                    a
                }
                (Some(&a), None) => {
                    i += 1;
                    old_to_new.push(merged.len() as u64);
                    a
                }
                (_, Some(&b)) => {
                    j += 1;
                    b
                }
                (None, None) => break,
            };
            merged.push(next);
        }
        let incoming_to_new = incoming
            .iter()
            .map(|&v| {
                let k = merged.partition_point(|&m| m < v && !same(m, v));
                k as u64
            })
            .collect();
        Ok(Self { dim: dim.into(), merged, old_to_new, incoming_to_new, replaced })
    }

    /// Steps added by the merge.
    pub fn inserted(&self) -> usize {
        self.merged.len() - self.old_to_new.len()
    }

    /// The first stored index that moves (a late step lands before it).
    pub fn first_moved(&self) -> Option<u64> {
        self.old_to_new.iter().enumerate().find(|&(i, &n)| n != i as u64).map(|(i, _)| i as u64)
    }

    /// For each new index, the stored index it takes its values from (`None`
    /// for an inserted step).
    pub fn new_to_old(&self) -> Vec<Option<u64>> {
        let mut out = vec![None; self.merged.len()];
        for (old, &new) in self.old_to_new.iter().enumerate() {
            if let Some(slot) = usize::try_from(new).ok().and_then(|n| out.get_mut(n)) {
                *slot = Some(old as u64);
            }
        }
        out
    }
}

/// The dimensions a dataset grows along: root dimensions whose coordinate
/// variable (1-D, numeric, same name) is on the time axis (valid time,
/// forecast reference time, lead time) or numbers ensemble members (members
/// of one run often arrive in files of their own).
pub fn growing_dims(schema: &DatasetSchema) -> Vec<String> {
    schema
        .variables
        .iter()
        .filter(|v| {
            v.dims.len() == 1
                && v.path == v.dims[0]
                && v.dtype != DataType::String
                && matches!(cf::dim_roles(schema, v).first(), Some(DimRole::Time | DimRole::Member))
        })
        .map(|v| v.path.clone())
        .collect()
}

/// Splits `start..start + len` of a source axis into runs that land on
/// consecutive target indices: `(source start, target start, length)`.
pub fn target_runs(map: &[u64], start: u64, len: u64) -> Vec<(u64, u64, u64)> {
    let mut out: Vec<(u64, u64, u64)> = Vec::new();
    for s in start..start + len {
        let Some(&t) = usize::try_from(s).ok().and_then(|i| map.get(i)) else { break };
        match out.last_mut() {
            Some((s0, t0, n)) if *s0 + *n == s && *t0 + *n == t => *n += 1,
            _ => out.push((s, t, 1)),
        }
    }
    out
}

/// How values of a growing axis are encoded, so a file's values can be
/// brought into the dataset's encoding.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisEncoding {
    /// A CF time (`<unit> since <instant>`, calendar).
    Time(TimeEncoding),
    /// A duration such as a lead time (`hours`, `minutes`, `s`...), in seconds per unit.
    Duration(f64),
    /// Anything else: values compare as they are, units must be equal.
    Plain(String),
}

impl AxisEncoding {
    /// The encoding declared by a coordinate's attributes.
    pub fn from_attrs(dim: &str, attrs: &Attributes) -> Result<Self, AppendError> {
        let units = attr_text(attrs, "units").unwrap_or("").trim().to_string();
        if units.to_ascii_lowercase().contains(" since ") {
            let calendar = attr_text(attrs, "calendar");
            return TimeEncoding::from_attrs(&units, calendar)
                .map(Self::Time)
                .map_err(|e| AppendError::Encoding { dim: dim.into(), reason: e.to_string() });
        }
        // Durations by the one CF unit table (`hours`, `hrs`, `h`, `min`, `s`, `days`…).
        let seconds = if units.is_empty() { None } else { crate::cf::duration_seconds(Some(&units)).ok() };
        Ok(seconds.map_or(Self::Plain(units), Self::Duration))
    }

    /// Converts `values` written in `from` into this encoding.
    pub fn convert(&self, dim: &str, from: &Self, values: &[f64]) -> Result<Vec<f64>, AppendError> {
        let bad = |reason: String| AppendError::Encoding { dim: dim.into(), reason };
        match (self, from) {
            (Self::Time(to), Self::Time(src)) => {
                if !calendars_compatible(to.calendar(), src.calendar()) {
                    return Err(bad(format!(
                        "the file uses the {} calendar, the dataset the {} calendar",
                        src.calendar(),
                        to.calendar()
                    )));
                }
                if to == src {
                    return Ok(values.to_vec());
                }
                values
                    .iter()
                    .map(|&v| {
                        let t = src.decode(v).map_err(|e| bad(e.to_string()))?;
                        let t = crate::cf::CfTime::new(to.calendar(), &t.fields()).map_err(|e| bad(e.to_string()))?;
                        Ok(to.encode(&t))
                    })
                    .collect()
            }
            (Self::Duration(to), Self::Duration(src)) => Ok(values.iter().map(|v| v * src / to).collect()),
            (Self::Plain(a), Self::Plain(b)) if a == b => Ok(values.to_vec()),
            _ => Err(bad(format!("the file's units ({from}) do not convert to the dataset's ({self})"))),
        }
    }
}

impl std::fmt::Display for AxisEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Time(t) => write!(f, "{} ({})", t.units(), t.calendar()),
            Self::Duration(s) => write!(f, "{s} s"),
            Self::Plain(u) => write!(f, "{u:?}"),
        }
    }
}

/// Standard (gregorian) and proleptic gregorian agree on every date a forecast
/// hub meets (after 1582).
fn calendars_compatible(a: Calendar, b: Calendar) -> bool {
    use Calendar::{ProlepticGregorian, Standard};
    a == b || (matches!(a, Standard | ProlepticGregorian) && matches!(b, Standard | ProlepticGregorian))
}

/// Stored steps moving up along one dimension of an array, after a merge
/// inserted late steps before them.
#[derive(Debug, Clone, Copy)]
pub struct StepMove<'a> {
    /// The dimension's index in the array.
    pub dim: usize,
    /// For each new index, the stored index it takes its values from
    /// ([`AxisMerge::new_to_old`]).
    pub new_to_old: &'a [Option<u64>],
    /// The first stored index that moves ([`AxisMerge::first_moved`]).
    pub first_moved: u64,
}

impl StepMove<'_> {
    /// Where the values of new index `j` come from: steps below the first
    /// moved one stay, moved steps come from their old place, inserted steps
    /// from nowhere.
    fn old_of(&self, j: u64) -> Option<u64> {
        if j < self.first_moved {
            Some(j)
        } else {
            usize::try_from(j).ok().and_then(|j| self.new_to_old.get(j)).copied().flatten()
        }
    }

    /// The move as whole write units of `unit` steps along the dimension, when
    /// every unit moves whole (always so with one step per unit, as composite
    /// streams and model runs are chunked): for each new unit from the one
    /// holding the first moved step to the end (`new_len` steps), the old unit
    /// it takes, or `None` for a unit of inserted steps only. `None` when some
    /// unit would mix steps from different places: its data must be copied.
    ///
    /// A store can then move a late step's successors by relabelling chunks
    /// instead of copying them, so a late file costs manifest entries, not a
    /// rewrite of everything after it (and history keeps no copies).
    pub fn unit_relabel(&self, unit: u64, new_len: u64) -> Option<(u64, Vec<Option<u64>>)> {
        let u = unit.max(1);
        let first = self.first_moved / u;
        let mut out = Vec::new();
        for m in first..new_len.div_ceil(u) {
            let steps = m * u..((m + 1) * u).min(new_len);
            let olds: Vec<Option<u64>> = steps.clone().map(|j| self.old_of(j)).collect();
            if olds.iter().all(Option::is_none) {
                out.push(None);
                continue;
            }
            let o0 = olds.first().copied().flatten()?;
            let whole = o0 % u == 0 && olds.iter().enumerate().all(|(i, o)| *o == Some(o0 + i as u64));
            if !whole {
                return None;
            }
            out.push(Some(o0 / u));
        }
        Some((first, out))
    }

    /// The region of old steps to read to rebuild `dst` (a region of the grown
    /// array), or `None` when it holds only inserted steps.
    pub fn source(&self, dst: &Hyperslab) -> Option<Hyperslab> {
        let d = self.dim;
        let (mut lo, mut hi) = (u64::MAX, 0);
        for j in dst.start[d]..dst.start[d] + dst.shape[d] {
            if let Some(o) = self.old_of(j) {
                lo = lo.min(o);
                hi = hi.max(o + 1);
            }
        }
        (lo < hi).then(|| {
            let mut src = dst.clone();
            src.start[d] = lo;
            src.shape[d] = hi - lo;
            src
        })
    }

    /// Fills `out` (holding `dst`, prefilled with the fill value) from
    /// `src_buf` (holding `src`, as given by [`source`](Self::source)).
    pub fn compose(&self, out: &mut [u8], dst: &Hyperslab, src_buf: &[u8], src: &Hyperslab, elem: usize) -> Option<()> {
        let d = self.dim;
        let olds: Vec<Option<u64>> = (dst.start[d]..dst.start[d] + dst.shape[d]).map(|j| self.old_of(j)).collect();
        let mut k = 0;
        while k < olds.len() {
            let Some(o) = olds[k] else {
                k += 1;
                continue;
            };
            let mut n = 1;
            while k + n < olds.len() && olds[k + n] == Some(o + n as u64) {
                n += 1;
            }
            let mut from = src.clone();
            from.start[d] = o;
            from.shape[d] = n as u64;
            let mut to = dst.clone();
            to.start[d] = dst.start[d] + k as u64;
            to.shape[d] = n as u64;
            let part = crate::model::copy_subregion(src_buf, src, &from, elem)?;
            crate::model::paste_subregion(out, dst, &part, &to, elem)?;
            k += n;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_of_whole_units_are_relabellings() {
        // Stored steps 0..5; a late step lands at 2: steps 2.. move up by one.
        let m = AxisMerge::plan("time", &[0.0, 1.0, 3.0, 4.0, 5.0], &[2.0]).unwrap_or_else(|e| panic!("{e}"));
        let n2o = m.new_to_old();
        let first = m.first_moved().unwrap_or(0);
        let mv = StepMove { dim: 0, new_to_old: &n2o, first_moved: first };
        // One step per unit: new unit 2 is the late step, 3..6 take old 2..5.
        assert_eq!(mv.unit_relabel(1, 6), Some((2, vec![None, Some(2), Some(3), Some(4)])));
        // Two steps per unit: units would mix old and new steps.
        assert_eq!(mv.unit_relabel(2, 6), None);
        // Two late steps before a two-step unit boundary move whole units.
        let m = AxisMerge::plan("time", &[2.0, 3.0, 4.0, 5.0], &[0.0, 1.0]).unwrap_or_else(|e| panic!("{e}"));
        let n2o = m.new_to_old();
        let mv = StepMove { dim: 0, new_to_old: &n2o, first_moved: m.first_moved().unwrap_or(0) };
        assert_eq!(mv.unit_relabel(2, 6), Some((0, vec![None, Some(0), Some(1)])));
    }
    use crate::model::AttrValue;

    #[test]
    fn appends_at_the_end_move_nothing() {
        let m = AxisMerge::plan("time", &[0.0, 1.0, 2.0], &[3.0, 4.0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.merged, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.incoming_to_new, vec![3, 4]);
        assert_eq!(m.first_moved(), None);
        assert_eq!((m.inserted(), m.replaced), (2, 0));
    }

    #[test]
    fn late_steps_land_at_their_time_and_push_later_ones_up() {
        let m = AxisMerge::plan("time", &[0.0, 2.0, 4.0], &[3.0, 1.0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.merged, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.old_to_new, vec![0, 2, 4]);
        assert_eq!(m.incoming_to_new, vec![3, 1]);
        assert_eq!(m.first_moved(), Some(1));
        assert_eq!(m.new_to_old(), vec![Some(0), None, Some(1), None, Some(2)]);
    }

    #[test]
    fn stored_values_are_replaced_and_repeats_refused() {
        let m = AxisMerge::plan("t", &[10.0, 20.0], &[20.0, 30.0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((m.inserted(), m.replaced), (1, 1));
        assert_eq!(m.incoming_to_new, vec![1, 2]);
        assert!(matches!(AxisMerge::plan("t", &[], &[1.0, 1.0]), Err(AppendError::Repeated { .. })));
        assert!(matches!(AxisMerge::plan("t", &[2.0, 1.0], &[3.0]), Err(AppendError::UnsortedStore { .. })));
        assert!(matches!(AxisMerge::plan("t", &[], &[f64::NAN]), Err(AppendError::NotFinite { .. })));
    }

    #[test]
    fn runs_split_where_targets_jump() {
        assert_eq!(target_runs(&[3, 4, 6, 7, 1], 0, 5), vec![(0, 3, 2), (2, 6, 2), (4, 1, 1)]);
        assert_eq!(target_runs(&[3, 4, 6, 7, 1], 1, 2), vec![(1, 4, 1), (2, 6, 1)]);
    }

    #[test]
    fn encodings_convert_epochs_and_units() {
        let attrs = |u: &str| {
            let mut a = Attributes::new();
            a.insert("units".into(), AttrValue::text(u));
            a
        };
        let days = AxisEncoding::from_attrs("time", &attrs("days since 2000-01-01")).unwrap_or_else(|e| panic!("{e}"));
        let hours =
            AxisEncoding::from_attrs("time", &attrs("hours since 2000-01-02 00:00")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(days.convert("time", &hours, &[12.0]).ok(), Some(vec![1.5]));
        let lead_h = AxisEncoding::from_attrs("step", &attrs("hours")).unwrap_or_else(|e| panic!("{e}"));
        let lead_s = AxisEncoding::from_attrs("step", &attrs("s")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lead_h.convert("step", &lead_s, &[7200.0]).ok(), Some(vec![2.0]));
        assert!(days.convert("time", &lead_h, &[1.0]).is_err());
        let mut noleap = attrs("days since 2000-01-01");
        noleap.insert("calendar".into(), AttrValue::text("noleap"));
        let noleap = AxisEncoding::from_attrs("time", &noleap).unwrap_or_else(|e| panic!("{e}"));
        assert!(days.convert("time", &noleap, &[1.0]).is_err(), "calendars must agree");
    }

    #[test]
    fn moves_rebuild_units_from_old_places() {
        // Axis of 4 steps, each step 2 values; a step inserted at 1 (new len 5).
        let m = AxisMerge::plan("t", &[0.0, 2.0, 3.0, 4.0], &[1.0]).unwrap_or_else(|e| panic!("{e}"));
        let n2o = m.new_to_old();
        let mv = StepMove { dim: 0, new_to_old: &n2o, first_moved: m.first_moved().unwrap_or(0) };
        let old: Vec<u8> = vec![10, 11, 20, 21, 30, 31, 40, 41];
        // Write unit of 2 steps: rewrite [4,5) then [2,4) then [0,2).
        let mut new = vec![0u8; 10];
        for (s, n) in [(4u64, 1u64), (2, 2), (0, 2)] {
            let dst = Hyperslab { start: vec![s, 0], shape: vec![n, 2] };
            let mut out = vec![0u8; (n * 2) as usize];
            if let Some(src) = mv.source(&dst) {
                let off = (src.start[0] * 2) as usize;
                let buf = &old[off..off + (src.shape[0] * 2) as usize];
                mv.compose(&mut out, &dst, buf, &src, 1).unwrap_or_else(|| panic!("compose"));
            }
            new[(s * 2) as usize..((s + n) * 2) as usize].copy_from_slice(&out);
        }
        assert_eq!(new, vec![10, 11, 0, 0, 20, 21, 30, 31, 40, 41]);
    }
}
