//! Forecast runs as CF describes them: a forecast reference time axis
//! (`standard_name = forecast_reference_time`: when each run started) and a
//! lead time axis (`forecast_period`: how far ahead), the valid time being
//! their sum. One dataset holds many runs; the API shows each as an EDR
//! instance, and splices them into a best estimate.

use super::time::{CfTime, TimeUnit};

/// The forecast axes of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastAxes {
    /// The reference time dimension's name.
    pub reference: String,
    /// The lead time dimension's name.
    pub lead: String,
    /// The runs' reference times, as stored.
    pub runs: Vec<CfTime>,
    /// Lead times in seconds, as stored.
    pub leads_s: Vec<f64>,
    /// Seconds per unit of the stored lead times.
    pub lead_unit_s: f64,
}

/// Lead time units the hub does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lead time units {0:?} are not a duration the hub knows (seconds, minutes, hours, days, weeks)")]
pub struct UnknownLeadUnits(pub String);

/// Seconds per unit of a duration coordinate's `units` (`hours`, `h`, `hrs`,
/// `min`, `s`…: the one CF unit table, [`TimeUnit`]). Months and years are
/// not durations. No units at all means seconds, as CF's default for
/// `forecast_period`.
pub fn duration_seconds(units: Option<&str>) -> Result<f64, UnknownLeadUnits> {
    let Some(text) = units.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(1.0);
    };
    match TimeUnit::parse(text) {
        Some(TimeUnit::Months | TimeUnit::Years) | None => Err(UnknownLeadUnits(text.to_string())),
        #[allow(clippy::cast_precision_loss)]
        Some(unit) => Ok(unit.micros() as f64 / 1e6),
    }
}

impl ForecastAxes {
    /// The axes from their coordinates; lead values in `lead_units`.
    pub fn new(
        reference: String,
        runs: Vec<CfTime>,
        lead: String,
        leads: &[f64],
        lead_units: Option<&str>,
    ) -> Result<Self, UnknownLeadUnits> {
        let lead_unit_s = duration_seconds(lead_units)?;
        let leads_s = leads.iter().map(|l| l * lead_unit_s).collect();
        Ok(Self { reference, lead, runs, leads_s, lead_unit_s })
    }

    /// The newest run.
    pub fn latest(&self) -> Option<CfTime> {
        self.runs.iter().copied().max()
    }

    /// The run an instance id names: `latest` or a reference time as the
    /// instance list writes it (the trailing `Z` optional).
    pub fn find_run(&self, id: &str) -> Option<CfTime> {
        if id == "latest" {
            return self.latest();
        }
        self.runs
            .iter()
            .copied()
            .find(|r| r.to_string() == id || r.to_string().trim_end_matches('Z') == id.trim_end_matches('Z'))
    }

    /// A stored lead value (in its units) of a valid time within `run`.
    #[allow(clippy::cast_precision_loss)]
    pub fn lead_of(&self, run: CfTime, valid: CfTime) -> f64 {
        (valid.micros() - run.micros()) as f64 / 1e6 / self.lead_unit_s
    }
}

/// `t + seconds`, to the microsecond.
#[allow(clippy::cast_possible_truncation)]
pub fn plus_seconds(t: CfTime, seconds: f64) -> Option<CfTime> {
    t.add_micros((seconds * 1e6).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_units_come_from_the_one_cf_table() {
        assert_eq!(duration_seconds(Some("hours")), Ok(3600.0));
        assert_eq!(duration_seconds(Some("hrs")), Ok(3600.0), "read as seconds before");
        assert_eq!(duration_seconds(Some("min")), Ok(60.0));
        assert_eq!(duration_seconds(None), Ok(1.0));
        assert!(duration_seconds(Some("months")).is_err());
        assert!(duration_seconds(Some("furlongs")).is_err());
    }
}
