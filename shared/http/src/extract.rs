//! From a parsed query to values: which parameters, which indices along each
//! axis, which cells; then the read plans, their budget, and the reads.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use hub_core::cf::{CfTime, DimRole};
use hub_core::ports::DatasetReader;
use hub_core::query::{
    AxisValues, Budget, Cell, Cost, DatasetView, GridInfo, LonLat, Parameter, ReadPlan, Window, parse_datetime,
    parse_numbers, same_number, select,
};

use crate::error::ApiError;

/// The request's selections that apply to every query type.
#[derive(Debug, Default, Clone)]
pub struct Selections {
    /// `parameter-name`, comma-separated.
    pub parameter_names: Option<String>,
    /// `datetime`.
    pub datetime: Option<String>,
    /// `z`.
    pub z: Option<String>,
    /// Other dimensions by name (ensemble member, lead time…).
    pub dims: BTreeMap<String, String>,
}

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
#[derive(Debug, Clone)]
pub enum Horizontal {
    /// Positions (position and trajectory queries), each from one or more
    /// weighted cells.
    Points(Vec<PointPick>),
    /// A window of the grid, possibly masked (cube, area, radius).
    Window(Window),
}

/// A requested position and the cells that give its value.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone, Copy)]
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
}

impl Extraction {
    /// Number of values per parameter per position.
    pub fn axes_len(&self) -> usize {
        self.axes.iter().map(|a| a.picked.len()).product()
    }
}

/// The parameters a request names (all of the first parameter's shape when none).
pub fn parameters<'a>(view: &'a DatasetView, names: Option<&str>) -> Result<Vec<&'a Parameter>, ApiError> {
    let Some(first) = view.parameters.first() else {
        return Err(ApiError::NotFound(format!("collection {:?} has no queryable parameter", view.id.as_str())));
    };
    let chosen: Vec<&Parameter> = match names.map(str::trim).filter(|n| !n.is_empty()) {
        None => view.parameters.iter().filter(|p| p.array.dims == first.array.dims).collect(),
        Some(names) => names
            .split(',')
            .map(|n| {
                view.parameter(n.trim()).ok_or_else(|| {
                    let known: Vec<&str> = view.parameters.iter().map(|p| p.name.as_str()).collect();
                    ApiError::NotFound(format!(
                        "no parameter {:?} in {:?} (parameters: {})",
                        n.trim(),
                        view.id.as_str(),
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if let Some(other) = chosen.iter().find(|p| p.array.dims != chosen[0].array.dims) {
        return Err(ApiError::bad(
            "parameter-name",
            format!(
                "{} has dimensions {:?} but {} has {:?}: query them separately",
                chosen[0].name, chosen[0].array.dims, other.name, other.array.dims
            ),
        ));
    }
    Ok(chosen)
}

/// The non-horizontal axes of a parameter, with the request's selections applied.
pub fn select_axes(view: &DatasetView, param: &Parameter, sel: &Selections) -> Result<Vec<OutAxis>, ApiError> {
    let mut axes = Vec::new();
    let mut datetime_used = false;
    let mut z_used = false;
    for (d, name) in param.array.dims.iter().enumerate() {
        let role = param.roles[d];
        if matches!(role, DimRole::Y | DimRole::X) {
            if sel.dims.contains_key(name) {
                return Err(ApiError::bad(
                    "dimension",
                    format!(
                        "{name} is a horizontal axis of the grid, not a query parameter: give the place in coords (POINT(lon lat)) or bbox"
                    ),
                ));
            }
            continue;
        }
        let dim =
            view.dims.get(name).ok_or_else(|| ApiError::Internal(format!("dimension {name} without coordinates")))?;
        let picked = match (&dim.values, role) {
            (AxisValues::Time { values, calendar }, DimRole::Time)
                if !datetime_used && !sel.dims.contains_key(name) =>
            {
                datetime_used = true;
                match sel.datetime.as_deref() {
                    Some(text) => {
                        let s = parse_datetime(text, *calendar).map_err(|e| ApiError::bad("datetime", e.0))?;
                        select(values, &s, |a: CfTime, b: CfTime| a == b).map_err(|e| ApiError::bad("datetime", e.0))?
                    }
                    None => (0..values.len()).collect(),
                }
            }
            (AxisValues::Numbers { values }, DimRole::Vertical) if !z_used && !sel.dims.contains_key(name) => {
                z_used = true;
                match sel.z.as_deref() {
                    Some(text) => {
                        let s = parse_numbers(text).map_err(|e| ApiError::bad("z", e.0))?;
                        select(values, &s, same_number).map_err(|e| ApiError::bad("z", e.0))?
                    }
                    None => (0..values.len()).collect(),
                }
            }
            (values, _) => match sel.dims.get(name) {
                None => (0..values.len()).collect(),
                Some(text) => match values {
                    AxisValues::Numbers { values } => {
                        let s =
                            parse_numbers(text).map_err(|e| ApiError::bad("dimension", format!("{name}: {}", e.0)))?;
                        select(values, &s, same_number)
                            .map_err(|e| ApiError::bad("dimension", format!("{name}: {}", e.0)))?
                    }
                    AxisValues::Time { values, calendar } => {
                        let s = parse_datetime(text, *calendar)
                            .map_err(|e| ApiError::bad("dimension", format!("{name}: {}", e.0)))?;
                        select(values, &s, |a: CfTime, b: CfTime| a == b)
                            .map_err(|e| ApiError::bad("dimension", format!("{name}: {}", e.0)))?
                    }
                },
            },
        };
        let values = match &dim.values {
            AxisValues::Time { values, calendar } => {
                AxisValues::Time { values: picked.iter().map(|&i| values[i]).collect(), calendar: *calendar }
            }
            AxisValues::Numbers { values } => {
                AxisValues::Numbers { values: picked.iter().map(|&i| values[i]).collect() }
            }
        };
        axes.push(OutAxis { name: name.clone(), role, picked, values, units: dim.units.clone() });
    }
    if sel.datetime.is_some() && !datetime_used {
        return Err(ApiError::bad("datetime", format!("{} has no time axis", param.name)));
    }
    if sel.z.is_some() && !z_used {
        return Err(ApiError::bad("z", format!("{} has no vertical axis", param.name)));
    }
    for name in sel.dims.keys() {
        if !param.array.dims.contains(name) {
            return Err(ApiError::bad("dimension", format!("{name:?} is not a dimension of {}", param.name)));
        }
    }
    Ok(axes)
}

/// The picks of a read: the axes' indices, and `ys`/`xs` at the grid's dimensions.
fn picks(param: &Parameter, axes: &[OutAxis], ys: Vec<usize>, xs: Vec<usize>) -> Vec<Vec<usize>> {
    let mut axis = axes.iter();
    param
        .roles
        .iter()
        .map(|r| match r {
            DimRole::Y => ys.clone(),
            DimRole::X => xs.clone(),
            _ => axis.next().map(|a| a.picked.clone()).unwrap_or_default(),
        })
        .collect()
}

/// Reorders values read in the parameter's dimension order into
/// `[axes…][y][x]`.
fn to_axes_yx(param: &Parameter, shape: &[usize], values: &[f64]) -> Vec<f64> {
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

/// What one extraction may cost, and how to price its answer.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    /// The budget.
    pub budget: &'a Budget,
    /// Region reads in flight.
    pub concurrency: usize,
    /// Bytes one value takes in the answer's format (see `Format::bytes_per_value`).
    pub answer_bytes_per_value: u64,
}

/// Plans, checks against the budget, and reads.
pub async fn extract(
    view: &DatasetView,
    reader: &dyn DatasetReader,
    params: &[&Parameter],
    axes: Vec<OutAxis>,
    horizontal: Horizontal,
    limits: &Limits<'_>,
) -> Result<Extraction, ApiError> {
    let Limits { budget, concurrency, answer_bytes_per_value } = *limits;
    let grid = view
        .grids
        .get(params.first().map_or(0, |p| p.grid))
        .cloned()
        .ok_or_else(|| ApiError::Internal("grid".into()))?;
    // Plans: one per parameter for a window; one per parameter and point otherwise.
    let mut plans: Vec<(usize, usize, ReadPlan)> = Vec::new();
    for (pi, p) in params.iter().enumerate() {
        match &horizontal {
            Horizontal::Window(w) => {
                plans.push((pi, 0, ReadPlan::new(&p.array, picks(p, &axes, w.js.clone(), w.is.clone()))?))
            }
            Horizontal::Points(points) => {
                for (k, pt) in points.iter().enumerate() {
                    let mut ys: Vec<usize> = pt.cells.iter().map(|(c, _)| c.j).collect();
                    let mut xs: Vec<usize> = pt.cells.iter().map(|(c, _)| c.i).collect();
                    ys.sort_unstable();
                    ys.dedup();
                    xs.sort_unstable();
                    xs.dedup();
                    let mut pk = picks(p, &axes, ys, xs);
                    if let (Some(t), Some(td)) = (pt.time, p.dim_with(DimRole::Time)) {
                        pk[td] = vec![t.index];
                    }
                    plans.push((pi, k, ReadPlan::new(&p.array, pk)?));
                }
            }
        }
    }
    let mut cost = Cost::default();
    for (_, _, plan) in &plans {
        cost += plan.cost();
    }
    cost.answer_bytes = cost.cells.saturating_mul(answer_bytes_per_value);
    cost.check(budget)?;
    let reads = futures::stream::iter(plans.into_iter().map(|(pi, k, plan)| async move {
        let values = plan.read(reader, concurrency).await?;
        Ok::<_, ApiError>((pi, k, plan, values))
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect::<Vec<_>>()
    .await?;
    let mut out: Vec<ParamValues> =
        params.iter().map(|p| ParamValues { param: (*p).clone(), values: Vec::new() }).collect();
    match &horizontal {
        Horizontal::Window(w) => {
            for (pi, _, plan, values) in reads {
                let p = params[pi];
                let ordered = to_axes_yx(p, &plan.shape(), &values);
                let cells = w.js.len() * w.is.len();
                out[pi].values = ordered
                    .iter()
                    .enumerate()
                    .map(|(k, v)| {
                        let inside = w.mask.as_ref().is_none_or(|m| m[k % cells]);
                        if inside { p.decoding.decode(*v) } else { None }
                    })
                    .collect();
            }
        }
        Horizontal::Points(points) => {
            let mut per_point: Vec<Vec<Vec<Option<f64>>>> = vec![vec![Vec::new(); points.len()]; params.len()];
            for (pi, k, plan, values) in reads {
                let p = params[pi];
                let ordered = to_axes_yx(p, &plan.shape(), &values);
                let shape = plan.shape();
                let ny = p.dim_with(DimRole::Y).map_or(1, |d| shape[d]);
                let nx = p.dim_with(DimRole::X).map_or(1, |d| shape[d]);
                let ys = &plan.picks[p.dim_with(DimRole::Y).unwrap_or(0)];
                let xs = &plan.picks[p.dim_with(DimRole::X).unwrap_or(0)];
                let n = ordered.len() / (ny * nx).max(1);
                let pt = &points[k];
                per_point[pi][k] = (0..n)
                    .map(|a| {
                        let mut acc = 0.0;
                        for (cell, w) in &pt.cells {
                            let yj = ys.iter().position(|j| *j == cell.j).unwrap_or(0);
                            let xi = xs.iter().position(|i| *i == cell.i).unwrap_or(0);
                            let v = p.decoding.decode(ordered[a * ny * nx + yj * nx + xi])?;
                            acc += w * v;
                        }
                        Some(acc)
                    })
                    .collect();
            }
            for (pi, pts) in per_point.into_iter().enumerate() {
                out[pi].values = pts.into_iter().flatten().collect();
            }
        }
    }
    let units = |d: &str| view.dims.get(d).and_then(|d| d.units.clone());
    let xy_units = (units(&grid.x_dim), units(&grid.y_dim));
    Ok(Extraction { collection: view.id.to_string(), grid, axes, horizontal, params: out, cost, xy_units })
}
