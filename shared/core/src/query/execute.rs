//! Query execution: from a typed [`EdrQuery`] over one snapshot to an
//! [`Extraction`]. The steps are the same for every query type: choose the
//! parameters, apply the selections to each non-horizontal axis, turn the
//! place into cells (picks for points, a window for areas), plan the reads,
//! check the plan against the budget *before* reading, read concurrently,
//! decode and reorder. Instance queries fix the forecast run first; the best
//! estimate runs the kernel in [`crate::analytics`] on the extraction.
//!
//! A parameter with a second, time-major layout is read from whichever is
//! cheaper for the query, or from both ([`super::layouts`]).

use futures::{StreamExt, TryStreamExt};

use super::error::QueryError;
use super::extraction::{Extraction, Horizontal, OutAxis, ParamValues, PointPick, TimePick, to_axes_yx};
use super::layouts::LayoutRead;
use super::picks::{linear_pick, nearest_pick, nearest_time};
use super::plan::{Budget, Cost};
use super::request::{DimSelection, EdrQuery, Instance, Interpolation, Place, Selections};
use super::select::{AxisSelection, same_number, select};
use super::view::{AxisValues, DatasetView, Parameter};
use crate::cf::{CfDateTime, CfTime, DimRole, ForecastAxes};
use crate::ports::DatasetReader;

/// What one extraction may cost, and how to price its answer.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    /// The budget.
    pub budget: &'a Budget,
    /// Hyperslab reads in flight.
    pub concurrency: usize,
    /// Bytes one value takes in the answer's format, about: the answer is
    /// budgeted before anything is read.
    pub answer_bytes_per_value: u64,
}

/// Runs a query on a snapshot.
pub async fn execute(
    view: &DatasetView,
    reader: &dyn DatasetReader,
    query: &EdrQuery,
    limits: &Limits<'_>,
) -> Result<Extraction, QueryError> {
    let (selections, best) = instance_selections(view, query)?;
    let params = parameters(view, selections.parameters.as_deref())?;
    let (axes, horizontal) = place(view, params[0], query, &selections)?;
    let x = extract(view, reader, &params, axes, horizontal, limits).await?;
    match best {
        Some((forecast, window)) => crate::analytics::best_estimate(x, &forecast, window.as_ref()),
        None => Ok(x),
    }
}

/// The axes (selections applied) and the horizontal picks or window of a
/// query on `param`'s grid: what a read needs, before anything is read.
pub fn place(
    view: &DatasetView,
    param: &Parameter,
    query: &EdrQuery,
    selections: &Selections,
) -> Result<(Vec<OutAxis>, Horizontal), QueryError> {
    let params = [param];
    let grid = grid_of(view, params[0])?;
    Ok(match &query.place {
        Place::Position { points, method } => {
            let picks = points
                .iter()
                .map(|p| match method {
                    Interpolation::Nearest => nearest_pick(grid, *p),
                    Interpolation::Linear => linear_pick(grid, *p),
                })
                .collect::<Result<Vec<_>, _>>()?;
            (select_axes(view, params[0], selections)?, Horizontal::Points(picks))
        }
        Place::Radius { center, km } => {
            let w = grid.radius_window(*center, *km).map_err(|e| QueryError::bad("coords", e.0))?;
            (select_axes(view, params[0], selections)?, Horizontal::Window(w))
        }
        Place::Area { polygons, bbox } => {
            let w = grid.polygon_window(polygons, *bbox).map_err(|e| QueryError::bad("coords", e.0))?;
            (select_axes(view, params[0], selections)?, Horizontal::Window(w))
        }
        Place::Cube { bbox } => {
            let w = grid.window(*bbox).map_err(|e| QueryError::bad("bbox", e.0))?;
            (select_axes(view, params[0], selections)?, Horizontal::Window(w))
        }
        Place::Region { weights } => {
            let cells: Vec<(usize, usize, f32)> = weights.cells.iter().map(|c| (c.j, c.i, c.fraction as f32)).collect();
            let w = grid
                .cells_window(&cells)
                .ok_or_else(|| QueryError::bad("coords", "the region does not touch the grid"))?;
            (select_axes(view, params[0], selections)?, Horizontal::Window(w))
        }
        Place::Trajectory { vertices } => {
            let mut axes = select_axes(view, params[0], selections)?;
            let mut picks = vertices.iter().map(|v| nearest_pick(grid, v.at)).collect::<Result<Vec<_>, _>>()?;
            if vertices.iter().any(|v| v.m.is_some()) {
                if selections.datetime.is_some() {
                    return Err(QueryError::bad(
                        "datetime",
                        "a LINESTRINGM trajectory carries its own times: leave datetime out",
                    ));
                }
                let ms: Vec<Option<f64>> = vertices.iter().map(|v| v.m).collect();
                timed_vertices(view, params[0], &mut axes, &mut picks, &ms)?;
            }
            (axes, Horizontal::Points(picks))
        }
    })
}

/// The horizontal grid a parameter lies on.
pub(crate) fn grid_of<'a>(
    view: &'a DatasetView,
    param: &Parameter,
) -> Result<&'a super::grid::HorizontalGrid, QueryError> {
    view.grids
        .get(param.grid)
        .map(|g| &g.grid)
        .ok_or_else(|| QueryError::Inconsistent(format!("{} has no grid", param.name)))
}

/// The best estimate's forecast axes and valid-time window, applied after splicing.
type BestEstimate = (ForecastAxes, Option<AxisSelection<CfTime>>);

/// A query's selections with its instance applied: a run fixes the
/// reference time; the best estimate (position queries only) takes the
/// valid-time window out, returned apart.
pub(crate) fn instance_selections(
    view: &DatasetView,
    query: &EdrQuery,
) -> Result<(Selections, Option<BestEstimate>), QueryError> {
    let mut selections = query.selections.clone();
    let mut best = None;
    if let Some(instance) = query.instance {
        let forecast = view.forecast_axes()?;
        match instance {
            Instance::Run(run) => fix_run(&forecast, run, &mut selections)?,
            Instance::Best => {
                if !matches!(query.place, Place::Position { .. }) {
                    return Err(QueryError::bad("query", "the best estimate is offered for position queries"));
                }
                if selections.dims.keys().any(|k| *k == forecast.reference || *k == forecast.lead) {
                    return Err(QueryError::bad("query", "the best estimate chooses the runs and lead times itself"));
                }
                // The window is over valid times, applied after splicing.
                best = Some((forecast, selections.datetime.take()));
            }
        }
    }
    Ok((selections, best))
}

/// An instance query reads one run: its reference time is fixed and
/// `datetime` (valid times) becomes a selection of lead times within it.
fn fix_run(forecast: &ForecastAxes, run: CfTime, selections: &mut Selections) -> Result<(), QueryError> {
    if selections.dims.contains_key(&forecast.reference) {
        return Err(QueryError::bad("query", format!("{}: the instance fixes the run", forecast.reference)));
    }
    if let Some(valid) = selections.datetime.take() {
        if selections.dims.contains_key(&forecast.lead) {
            return Err(QueryError::bad("query", format!("{} is given more than once", forecast.lead)));
        }
        let lead = |t: &CfTime| forecast.lead_of(run, *t);
        let leads = match valid {
            AxisSelection::All => AxisSelection::All,
            AxisSelection::Values(v) => AxisSelection::Values(v.iter().map(lead).collect()),
            AxisSelection::Interval(a, b) => AxisSelection::Interval(a.as_ref().map(lead), b.as_ref().map(lead)),
        };
        selections.dims.insert(forecast.lead.clone(), DimSelection::Numbers(leads));
    }
    selections.dims.insert(forecast.reference.clone(), DimSelection::Times(AxisSelection::Values(vec![run])));
    Ok(())
}

/// Each timed vertex takes the time step nearest to its M value (seconds
/// since 1970-01-01 in the dataset's calendar); the time axis of the answer
/// shrinks to the first vertex's step, the others' steps ride on their picks.
fn timed_vertices(
    view: &DatasetView,
    param: &Parameter,
    axes: &mut [OutAxis],
    picks: &mut [PointPick],
    ms: &[Option<f64>],
) -> Result<(), QueryError> {
    let t_axis = axes
        .iter_mut()
        .find(|a| a.role == DimRole::Time)
        .ok_or_else(|| QueryError::bad("coords", format!("{} has no time axis for the M values", param.name)))?;
    let dim = view
        .dims
        .get(&t_axis.name)
        .ok_or_else(|| QueryError::Inconsistent(format!("time axis {} without coordinates", t_axis.name)))?;
    let AxisValues::Time { values, calendar } = &dim.values else {
        return Err(QueryError::bad("coords", format!("{} has no decoded times for the M values", param.name)));
    };
    let epoch = CfTime::new(*calendar, &CfDateTime::date(1970, 1, 1))
        .map_err(|e| QueryError::Inconsistent(format!("1970-01-01 in the {calendar} calendar: {e}")))?;
    for (pick, m) in picks.iter_mut().zip(ms) {
        let m = m.ok_or_else(|| QueryError::bad("coords", "every vertex needs its M (time) value"))?;
        #[allow(clippy::cast_possible_truncation)]
        let at = epoch
            .add_micros((m * 1e6) as i64)
            .ok_or_else(|| QueryError::bad("coords", format!("M value {m} is out of range")))?;
        let index = nearest_time(values, at).ok_or_else(|| {
            QueryError::bad(
                "coords",
                format!("time {at} (M {m}) is outside the dataset's times {}..{}", values[0], values[values.len() - 1]),
            )
        })?;
        pick.time = Some(TimePick { index, at: values[index] });
    }
    let first = picks.first().and_then(|p| p.time).map_or(0, |t| t.index);
    t_axis.picked = vec![first];
    t_axis.values = AxisValues::Time { values: vec![values[first]], calendar: *calendar };
    Ok(())
}

/// The parameters a request names (all of the first parameter's shape when none).
pub fn parameters<'a>(view: &'a DatasetView, names: Option<&[String]>) -> Result<Vec<&'a Parameter>, QueryError> {
    let Some(first) = view.parameters.first() else {
        return Err(QueryError::NotFound(format!("collection {:?} has no queryable parameter", view.id.as_str())));
    };
    let chosen: Vec<&Parameter> = match names.filter(|n| !n.is_empty()) {
        None => view.parameters.iter().filter(|p| p.array.dims == first.array.dims).collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                view.parameter(n).ok_or_else(|| {
                    let known: Vec<&str> = view.parameters.iter().map(|p| p.name.as_str()).collect();
                    QueryError::NotFound(format!(
                        "no parameter {n:?} in {:?} (parameters: {})",
                        view.id.as_str(),
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if let Some(other) = chosen.iter().find(|p| p.array.dims != chosen[0].array.dims) {
        return Err(QueryError::bad(
            "parameter-name",
            format!(
                "{} has dimensions {:?} but {} has {:?}: query them separately",
                chosen[0].name, chosen[0].array.dims, other.name, other.array.dims
            ),
        ));
    }
    Ok(chosen)
}

fn pick_times(
    values: &[CfTime],
    sel: &AxisSelection<CfTime>,
    param: &'static str,
    prefix: &str,
) -> Result<Vec<usize>, QueryError> {
    select(values, sel, |a: CfTime, b: CfTime| a == b).map_err(|e| QueryError::bad(param, format!("{prefix}{}", e.0)))
}

fn pick_numbers(
    values: &[f64],
    sel: &AxisSelection<f64>,
    param: &'static str,
    prefix: &str,
) -> Result<Vec<usize>, QueryError> {
    select(values, sel, same_number).map_err(|e| QueryError::bad(param, format!("{prefix}{}", e.0)))
}

/// The non-horizontal axes of a parameter, with the selections applied:
/// `datetime` to the first time axis, `z` to the first vertical axis, the
/// others by name.
pub fn select_axes(view: &DatasetView, param: &Parameter, sel: &Selections) -> Result<Vec<OutAxis>, QueryError> {
    let mut axes = Vec::new();
    let mut datetime_used = false;
    let mut z_used = false;
    for (d, name) in param.array.dims.iter().enumerate() {
        let role = param.roles[d];
        if matches!(role, DimRole::Y | DimRole::X) {
            if sel.dims.contains_key(name) {
                return Err(QueryError::bad(
                    "dimension",
                    format!(
                        "{name} is a horizontal axis of the grid, not a query parameter: give the place in coords (POINT(lon lat)) or bbox"
                    ),
                ));
            }
            continue;
        }
        let dim = view
            .dims
            .get(name)
            .ok_or_else(|| QueryError::Inconsistent(format!("dimension {name} without coordinates")))?;
        let all = || (0..dim.values.len()).collect::<Vec<usize>>();
        let picked = match (&dim.values, role) {
            (AxisValues::Time { values, .. }, DimRole::Time) if !datetime_used && !sel.dims.contains_key(name) => {
                datetime_used = true;
                match &sel.datetime {
                    Some(s) => pick_times(values, s, "datetime", "")?,
                    None => all(),
                }
            }
            (AxisValues::Numbers { values }, DimRole::Vertical) if !z_used && !sel.dims.contains_key(name) => {
                z_used = true;
                match &sel.z {
                    Some(s) => pick_numbers(values, s, "z", "")?,
                    None => all(),
                }
            }
            (values, _) => match (sel.dims.get(name), values) {
                (None, _) => all(),
                (Some(DimSelection::Numbers(s)), AxisValues::Numbers { values }) => {
                    pick_numbers(values, s, "dimension", &format!("{name}: "))?
                }
                (Some(DimSelection::Times(s)), AxisValues::Time { values, .. }) => {
                    pick_times(values, s, "dimension", &format!("{name}: "))?
                }
                (Some(_), _) => {
                    return Err(QueryError::bad(
                        "dimension",
                        format!("{name}: the selection does not match the kind of the dimension's values"),
                    ));
                }
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
        return Err(QueryError::bad("datetime", format!("{} has no time axis", param.name)));
    }
    if sel.z.is_some() && !z_used {
        return Err(QueryError::bad("z", format!("{} has no vertical axis", param.name)));
    }
    for name in sel.dims.keys() {
        if !param.array.dims.contains(name) {
            return Err(QueryError::bad("dimension", format!("{name:?} is not a dimension of {}", param.name)));
        }
    }
    Ok(axes)
}

/// The picks of a read: the axes' indices, and `ys`/`xs` at the grid's dimensions.
pub(crate) fn read_picks(param: &Parameter, axes: &[OutAxis], ys: Vec<usize>, xs: Vec<usize>) -> Vec<Vec<usize>> {
    let mut axis = axes.iter();
    param
        .roles
        .iter()
        .map(|r| match r {
            DimRole::Y => ys.clone(),
            DimRole::X => xs.clone(),
            // As many non-horizontal axes as roles: `select_axes` made one per role.
            _ => axis.next().map(|a| a.picked.clone()).unwrap_or_default(),
        })
        .collect()
}

/// Plans, checks against the budget, and reads.
pub async fn extract(
    view: &DatasetView,
    reader: &dyn DatasetReader,
    params: &[&Parameter],
    axes: Vec<OutAxis>,
    horizontal: Horizontal,
    limits: &Limits<'_>,
) -> Result<Extraction, QueryError> {
    let Limits { budget, concurrency, answer_bytes_per_value } = *limits;
    let grid = view
        .grids
        .get(params.first().map_or(0, |p| p.grid))
        .cloned()
        .ok_or_else(|| QueryError::Inconsistent("the parameters' grid is not in the view".into()))?;
    // Plans: one per parameter for a window; one per parameter and point otherwise.
    let mut plans: Vec<(usize, usize, LayoutRead)> = Vec::new();
    for (pi, p) in params.iter().enumerate() {
        match &horizontal {
            Horizontal::Window(w) => {
                plans.push((pi, 0, LayoutRead::choose(p, read_picks(p, &axes, w.js.clone(), w.is.clone()))?))
            }
            Horizontal::Points(points) => {
                for (k, pt) in points.iter().enumerate() {
                    let mut ys: Vec<usize> = pt.cells.iter().map(|(c, _)| c.j).collect();
                    let mut xs: Vec<usize> = pt.cells.iter().map(|(c, _)| c.i).collect();
                    ys.sort_unstable();
                    ys.dedup();
                    xs.sort_unstable();
                    xs.dedup();
                    let mut pk = read_picks(p, &axes, ys, xs);
                    if let (Some(t), Some(td)) = (pt.time, p.dim_with(DimRole::Time)) {
                        pk[td] = vec![t.index];
                    }
                    plans.push((pi, k, LayoutRead::choose(p, pk)?));
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
        Ok::<_, QueryError>((pi, k, plan, values))
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect::<Vec<_>>()
    .await?;
    let mut out: Vec<ParamValues> = params
        .iter()
        .map(|p| ParamValues { param: (*p).clone(), values: Vec::new(), categories: Vec::new() })
        .collect();
    match &horizontal {
        Horizontal::Window(w) => {
            for (pi, _, plan, values) in reads {
                let p = params[pi];
                let ordered = to_axes_yx(p, &plan.shape(), &values);
                let cells = w.js.len() * w.is.len();
                out[pi].values = ordered
                    .iter()
                    .enumerate()
                    .map(|(k, v)| if w.covers(k % cells) { p.decoding.decode(*v) } else { None })
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
                            // The plan read exactly these rows and columns.
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
    Ok(Extraction {
        collection: view.id.to_string(),
        grid,
        axes,
        horizontal,
        params: out,
        cost,
        xy_units,
        ensemble: None,
    })
}
