//! An answer before it is encoded: the values of each parameter over the
//! query's axes and places, with the coordinates an encoder needs. Every
//! encoder (CoverageJSON, CSV, GeoJSON, NetCDF) and every analytics kernel
//! takes this shape.

use super::geometry::LonLat;
use super::grid::{Cell, Window};
use super::plan::Cost;
use super::view::{AxisValues, GridInfo, Parameter};
use crate::cf::{CfTime, DimRole};

/// A non-horizontal axis of the answer.
#[derive(Debug, Clone)]
pub struct OutAxis {
    /// Dimension name.
    pub name: String,
    /// Its role.
    pub role: DimRole,
    /// Indices picked.
    pub picked: Vec<usize>,
    /// The values picked.
    pub values: AxisValues,
    /// Units of the coordinate.
    pub units: Option<String>,
}

/// Where the values are, horizontally.
///
/// Station sets will be a third kind here (values per station, picked by id
/// or nearness), beside points and windows of a grid.
#[derive(Debug, Clone)]
pub enum Horizontal {
    /// Positions (position and trajectory queries), each from one or more
    /// weighted cells.
    Points(Vec<PointPick>),
    /// A window of the grid, possibly masked (cube, area, radius).
    Window(Window),
}

/// A requested position and the cells that give its value.
#[derive(Debug, Clone, PartialEq)]
pub struct PointPick {
    /// As requested.
    pub requested: LonLat,
    /// The position reported: the cell centre (nearest) or the request (linear).
    pub at: LonLat,
    /// Cells and weights.
    pub cells: Vec<(Cell, f64)>,
    /// For timed trajectories: the vertex's time step.
    pub time: Option<TimePick>,
}

/// The time step a trajectory vertex falls on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimePick {
    /// Index along the time dimension.
    pub index: usize,
    /// Its time.
    pub at: CfTime,
}

/// The values of one parameter: for points, `[point][axes…]`; for a window,
/// `[axes…][y][x]`, C order, missing as `None`.
#[derive(Debug, Clone)]
pub struct ParamValues {
    /// The parameter.
    pub param: Parameter,
    /// Values.
    pub values: Vec<Option<f64>>,
    /// For a categorical parameter (robustness), what each value stands for.
    pub categories: Vec<Category>,
}

/// One category of a categorical parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// The value that encodes it.
    pub value: i64,
    /// Its id (`robust`).
    pub id: String,
    /// For people.
    pub label: String,
}

/// An answer before formatting.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// Collection id.
    pub collection: String,
    /// The grid the parameters share.
    pub grid: GridInfo,
    /// Non-horizontal axes, in the parameters' dimension order.
    pub axes: Vec<OutAxis>,
    /// Where.
    pub horizontal: Horizontal,
    /// Values per parameter.
    pub params: Vec<ParamValues>,
    /// What it cost.
    pub cost: Cost,
    /// `units` of the grid's x and y coordinates, when they have them.
    pub xy_units: (Option<String>, Option<String>),
    /// For an ensemble's answer: the members used and left out.
    pub ensemble: Option<super::EnsembleNote>,
}

impl Extraction {
    /// Number of values per parameter per position.
    pub fn axes_len(&self) -> usize {
        self.axes.iter().map(|a| a.picked.len()).product()
    }
}

/// Reorders values read in the parameter's dimension order into
/// `[other axes…][y][x]`, the order every encoder walks.
///
/// `order` lists the source dimensions in output order (the non-horizontal
/// ones as stored, then Y, then X). The loop is an odometer over the output:
/// `idx[k]` is the index along output axis `k`; the source offset of that
/// cell is `Σ idx[k] × stride[order[k]]` with the source's C-order strides.
/// After each value the last digit turns; a digit that reaches its length
/// wraps to 0 and carries into the one before. Arrays already stored with
/// Y and X last are returned as they are.
pub fn to_axes_yx(param: &Parameter, shape: &[usize], values: &[f64]) -> Vec<f64> {
    let n = shape.len();
    let mut strides = vec![1usize; n];
    for d in (0..n.saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let yd = param.dim_with(DimRole::Y).unwrap_or(0);
    let xd = param.dim_with(DimRole::X).unwrap_or(0);
    let mut order: Vec<usize> = (0..n).filter(|d| *d != yd && *d != xd).collect();
    order.push(yd);
    order.push(xd);
    if order.iter().enumerate().all(|(k, d)| k == *d) {
        return values.to_vec();
    }
    let mut out = Vec::with_capacity(values.len());
    let mut idx = vec![0usize; n];
    for _ in 0..values.len() {
        out.push(values[order.iter().zip(&idx).map(|(d, i)| strides[*d] * i).sum::<usize>()]);
        for k in (0..n).rev() {
            idx[k] += 1;
            if idx[k] < shape[order[k]] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(dims: &[&str], roles: Vec<DimRole>) -> Parameter {
        Parameter::for_tests("v", dims, roles)
    }

    #[test]
    fn x_y_time_storage_is_reordered_to_time_y_x() {
        // Stored as (x=2, y=3, time=2): value = 100x + 10y + t.
        let p = param(&["x", "y", "time"], vec![DimRole::X, DimRole::Y, DimRole::Time]);
        let shape = [2, 3, 2];
        let mut stored = Vec::new();
        for x in 0..2 {
            for y in 0..3 {
                for t in 0..2 {
                    stored.push(f64::from(100 * x + 10 * y + t));
                }
            }
        }
        let out = to_axes_yx(&p, &shape, &stored);
        let mut want = Vec::new();
        for t in 0..2 {
            for y in 0..3 {
                for x in 0..2 {
                    want.push(f64::from(100 * x + 10 * y + t));
                }
            }
        }
        assert_eq!(out, want);
    }

    #[test]
    fn time_y_x_storage_is_left_as_it_is() {
        let p = param(&["time", "y", "x"], vec![DimRole::Time, DimRole::Y, DimRole::X]);
        let v: Vec<f64> = (0..12).map(f64::from).collect();
        assert_eq!(to_axes_yx(&p, &[2, 2, 3], &v), v);
    }
}
