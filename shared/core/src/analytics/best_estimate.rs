//! The best estimate of a forecast dataset: for each valid time, the value
//! of the newest run that has one there (the analysis-like series
//! forecasters splice from successive runs). The run and lead axes of the
//! answer become one `time` axis of valid times.

use crate::cf::{CfTime, DimRole, ForecastAxes, plus_seconds};
use crate::query::{AxisSelection, AxisValues, Extraction, OutAxis, QueryError};

/// Splices the runs of a point extraction (values `[point][axes…]`), keeping
/// the valid times `window` selects (all when `None`).
///
/// The values of one point are a C-order block over the answer's axes, so
/// the value at indices `(i_0, …, i_n)` sits at `Σ i_d × stride_d` with
/// `stride_d` the product of the lengths of the axes after `d`. For each
/// valid time and each combination of the *other* axes (levels, members:
/// `q` counts them in C order, decoded digit by digit from the last axis),
/// the kernel walks every (run, lead) pair whose sum is that valid time and
/// keeps the newest run's value that is not missing.
pub fn best_estimate(
    mut x: Extraction,
    axes: &ForecastAxes,
    window: Option<&AxisSelection<CfTime>>,
) -> Result<Extraction, QueryError> {
    let ri = x.axes.iter().position(|a| a.name == axes.reference);
    let li = x.axes.iter().position(|a| a.name == axes.lead);
    let (Some(ri), Some(li)) = (ri, li) else {
        return Err(QueryError::bad("parameter-name", "the parameters have no run and lead time axes"));
    };
    let (runs, calendar) = match &x.axes[ri].values {
        AxisValues::Time { values, calendar } => (values.clone(), *calendar),
        AxisValues::Numbers { .. } => {
            return Err(QueryError::Inconsistent(format!("run axis {} holds no times", axes.reference)));
        }
    };
    let leads: Vec<f64> = match &x.axes[li].values {
        AxisValues::Numbers { values } => values.iter().map(|l| l * axes.lead_unit_s).collect(),
        AxisValues::Time { .. } => {
            return Err(QueryError::Inconsistent(format!("lead axis {} holds times", axes.lead)));
        }
    };
    let lens: Vec<usize> = x.axes.iter().map(|a| a.picked.len()).collect();
    let mut valid: Vec<CfTime> =
        runs.iter().flat_map(|r| leads.iter().filter_map(move |&l| plus_seconds(*r, l))).collect();
    valid.sort();
    valid.dedup();
    if let Some(sel) = window {
        valid.retain(|t| match sel {
            AxisSelection::All => true,
            AxisSelection::Values(v) => v.contains(t),
            AxisSelection::Interval(a, b) => a.is_none_or(|a| *t >= a) && b.is_none_or(|b| *t <= b),
        });
    }
    let rest: Vec<usize> = (0..x.axes.len()).filter(|&d| d != ri && d != li).collect();
    let rest_len: usize = rest.iter().map(|&d| lens[d]).product();
    let per_point: usize = lens.iter().product();
    let points = if per_point == 0 { 0 } else { x.params.first().map_or(0, |p| p.values.len() / per_point) };
    let mut strides = vec![1usize; lens.len()];
    for d in (0..lens.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * lens[d + 1];
    }
    for p in &mut x.params {
        let mut out = Vec::with_capacity(points * valid.len() * rest_len);
        for pt in 0..points {
            for v in &valid {
                for q in 0..rest_len {
                    let mut rem = q;
                    let mut offset = pt * per_point;
                    for &d in rest.iter().rev() {
                        offset += (rem % lens[d]) * strides[d];
                        rem /= lens[d];
                    }
                    let mut pick = None;
                    for (r, run) in runs.iter().enumerate() {
                        for (l, &lead) in leads.iter().enumerate() {
                            if plus_seconds(*run, lead) != Some(*v) {
                                continue;
                            }
                            let at = offset + r * strides[ri] + l * strides[li];
                            if let Some(Some(value)) = p.values.get(at)
                                && pick.is_none_or(|(pr, _)| *run > pr)
                            {
                                pick = Some((*run, *value));
                            }
                        }
                    }
                    out.push(pick.map(|(_, value)| value));
                }
            }
        }
        p.values = out;
    }
    let time = OutAxis {
        name: "time".into(),
        role: DimRole::Time,
        picked: (0..valid.len()).collect(),
        values: AxisValues::Time { values: valid, calendar },
        units: None,
    };
    let mut new_axes = vec![time];
    new_axes.extend(rest.iter().map(|&d| x.axes[d].clone()));
    x.axes = new_axes;
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cf::{Calendar, CfDateTime};
    use crate::query::{Axis1d, Cell, Cost, GridInfo, Horizontal, HorizontalGrid, LonLat, Parameter, PointPick};

    const H: i64 = 3_600_000_000;

    fn t(hours: i64) -> CfTime {
        let t0 = CfTime::new(Calendar::Standard, &CfDateTime::date(2024, 1, 1)).unwrap_or_else(|e| panic!("{e}"));
        t0.add_micros(hours * H).unwrap_or_else(|| panic!("time"))
    }

    fn axis(name: &str, role: DimRole, values: AxisValues) -> OutAxis {
        OutAxis { name: name.into(), role, picked: (0..values.len()).collect(), values, units: None }
    }

    /// One point; axes (run, lead, member) with the given values.
    fn extraction(runs: &[i64], leads_h: &[f64], members: usize, values: Vec<Option<f64>>) -> Extraction {
        let lon = Axis1d::new(vec![0.0, 1.0]).unwrap_or_else(|| panic!("lon"));
        let lat = Axis1d::new(vec![0.0, 1.0]).unwrap_or_else(|| panic!("lat"));
        let param = Parameter::for_tests(
            "tmp",
            &["reference_time", "step", "member", "lat", "lon"],
            vec![DimRole::Time, DimRole::Other, DimRole::Member, DimRole::Y, DimRole::X],
        );
        Extraction {
            collection: "nwp".into(),
            grid: GridInfo {
                y_dim: "lat".into(),
                x_dim: "lon".into(),
                grid: HorizontalGrid::lon_lat(lon, lat),
                grid_mapping: None,
                bounds: Default::default(),
            },
            axes: vec![
                axis(
                    "reference_time",
                    DimRole::Time,
                    AxisValues::Time { values: runs.iter().map(|&r| t(r)).collect(), calendar: Calendar::Standard },
                ),
                axis("step", DimRole::Other, AxisValues::Numbers { values: leads_h.to_vec() }),
                axis(
                    "member",
                    DimRole::Member,
                    AxisValues::Numbers { values: (0..members).map(|m| m as f64).collect() },
                ),
            ],
            horizontal: Horizontal::Points(vec![PointPick {
                requested: LonLat { lon: 0.0, lat: 0.0 },
                at: LonLat { lon: 0.0, lat: 0.0 },
                cells: vec![(Cell { j: 0, i: 0 }, 1.0)],
                time: None,
            }]),
            params: vec![crate::query::ParamValues { param, values, categories: Vec::new() }],
            cost: Cost::default(),
            xy_units: (None, None),
            ensemble: None,
        }
    }

    fn forecast() -> ForecastAxes {
        ForecastAxes::new("reference_time".into(), vec![t(0), t(6)], "step".into(), &[0.0, 3.0, 6.0], Some("hours"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_newest_run_wins_and_an_older_run_fills_its_gaps() {
        // Runs at 0 h and 6 h, leads 0/3/6 h, two members; value = 100·run + 10·lead + member,
        // except the 6 h run is missing at lead 3 for member 1.
        let mut values = Vec::new();
        for r in [0, 6] {
            for l in [0, 3, 6] {
                for m in 0..2 {
                    let missing = r == 6 && l == 3 && m == 1;
                    values.push((!missing).then(|| f64::from(100 * r + 10 * l + m)));
                }
            }
        }
        let x = best_estimate(extraction(&[0, 6], &[0.0, 3.0, 6.0], 2, values), &forecast(), None)
            .unwrap_or_else(|e| panic!("{e}"));
        let AxisValues::Time { values: valid, .. } = &x.axes[0].values else { panic!("time axis") };
        assert_eq!(valid, &vec![t(0), t(3), t(6), t(9), t(12)]);
        assert_eq!(x.axes[1].name, "member");
        let got = &x.params[0].values;
        // [valid][member]: 0 h and 3 h from run 0; 6 h from run 6 (lead 0); 9 h from
        // run 6 except member 1, which only run 0 cannot give (its last lead is 6 h).
        assert_eq!(
            got,
            &vec![
                Some(0.0),
                Some(1.0),
                Some(30.0),
                Some(31.0),
                Some(600.0),
                Some(601.0),
                Some(630.0),
                None,
                Some(660.0),
                Some(661.0),
            ]
        );
    }

    #[test]
    fn the_window_keeps_valid_times_inside_it() {
        let values = (0..6).map(|v| Some(f64::from(v))).collect();
        let window = AxisSelection::Interval(Some(t(3)), Some(t(9)));
        let x = best_estimate(extraction(&[0, 6], &[0.0, 3.0, 6.0], 1, values), &forecast(), Some(&window))
            .unwrap_or_else(|e| panic!("{e}"));
        let AxisValues::Time { values: valid, .. } = &x.axes[0].values else { panic!("time axis") };
        assert_eq!(valid, &vec![t(3), t(6), t(9)]);
        // Run 0 gives 3 h (index 1); run 6 gives 6 h and 9 h (indices 3, 4).
        assert_eq!(x.params[0].values, vec![Some(1.0), Some(3.0), Some(4.0)]);
    }
}
