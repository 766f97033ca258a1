//! xarray (Python icechunk) opens what appends built: a NetCDF dataset grown
//! by late, out-of-order and corrected files equals xarray's concatenation of
//! the sources; radar composites and GRIB2 model runs decode to the expected
//! times (`datetime64`, `timedelta64`), values (unpacked) and grid mapping.

use hub_core::ingest::{DatasetConfig, IngestStatus};
use hub_e2e::TestHub;
use hub_gdal::fixtures::{Composite, Forecast, write_composite, write_forecast};
use hub_netcdf::fixtures::{DailySteps, write_daily_steps};
use hub_store::StoreUrl;
use hub_testkit::python;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xarray_reads_appended_datasets() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().join("hub");
    let t = TestHub::new(StoreUrl::File(root.clone()));
    let ok = |r: &hub_core::ingest::IngestReport| assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);

    // Daily NetCDF files: the first, a later one, a late one in other units, a correction.
    let files = [
        ("a.nc", vec![10, 11, 12], "days since 2025-01-01", 0.0),
        ("b.nc", vec![13, 14], "days since 2025-01-01", 0.0),
        ("c.nc", vec![7, 8], "hours since 2024-12-31 00:00", 0.0),
        ("d.nc", vec![11], "days since 2025-01-01", 0.5),
    ];
    let mut sources = Vec::new();
    for (name, days, units, version) in &files {
        let path = dir.path().join(name);
        write_daily_steps(&path, &DailySteps { days, time_units: units, version: *version, grid: (5, 7) })
            .unwrap_or_else(|e| panic!("{e}"));
        ok(&t.ingest("daily", &path, &format!("incoming/daily/{name}")).await);
        sources.push(path);
    }

    // Radar composites, newest first.
    let config = DatasetConfig::parse(
        r#"{"rules": [{"key": "^radar/", "dataset": "radar", "valid_time": {"key": "{YYYY}{MM}{DD}{hh}{mm}"}}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let c = |step: u32| Composite { size: (40, 30), step, version: 0, with_crs: true, datetime: None };
    for step in [2u32, 0, 1] {
        let path = dir.path().join(format!("c{step}.tif"));
        write_composite(&path, &c(step)).unwrap_or_else(|e| panic!("{e}"));
        ok(&t.ingest_configured(&config, &path, &format!("radar/2016092816{:02}_X.tif", step * 5)).await);
    }
    // Stored codes unpack as code * 0.5 - 32; nodata (255) is NaN.
    let radar_points: Vec<_> = [(0u32, 10usize, 20usize), (2, 29, 39), (1, 0, 0)]
        .iter()
        .map(|&(s, r, col)| {
            let code = c(s).code(r, col);
            let value = (code != 255).then(|| f64::from(code) * 0.5 - 32.0);
            json!({"var": "band1", "isel": {"time": s, "y": r, "x": col}, "value": value})
        })
        .collect();

    // Two model runs, steps out of order.
    let run0 = 1_704_067_200;
    for (r, lead) in [(run0, 6u32), (run0, 0), (run0 + 21_600, 0), (run0 + 21_600, 6)] {
        let path = dir.path().join(format!("{r}_{lead}.grib2"));
        write_forecast(&path, &Forecast { reference: r, lead_hours: lead, version: 0.0 })
            .unwrap_or_else(|e| panic!("{e}"));
        ok(&t.ingest("nwp", &path, &format!("incoming/nwp/{r}_{lead}.grib2")).await);
    }
    let f = |r: i64, lead: u32| Forecast { reference: r, lead_hours: lead, version: 0.0 };
    let nwp_points = vec![
        json!({"var": "tmp_height_above_ground", "isel": {"reference_time": 1, "lead_time": 1, "height_above_ground": 0, "lat": 3, "lon": 4},
               "value": f64::from(f(run0 + 21_600, 6).value(3, 3, 4))}),
        // Levels sorted: 250, 500, 850 hPa; 850 hPa is the writer's band 0.
        json!({"var": "tmp_isobaric", "isel": {"reference_time": 0, "lead_time": 0, "isobaric": 2, "lat": 10, "lon": 11},
               "value": f64::from(f(run0, 0).value(0, 10, 11))}),
    ];

    let cases = json!([
        {"kind": "concat", "repo": root.join("daily"), "sources": sources},
        {"kind": "points", "repo": root.join("radar"), "points": radar_points,
         "times": {"time": ["2016-09-28T16:00:00Z", "2016-09-28T16:05:00Z", "2016-09-28T16:10:00Z"]},
         "grid_mapping": {"band1": "spatial_ref"}},
        {"kind": "points", "repo": root.join("nwp"), "points": nwp_points,
         "times": {"reference_time": ["2024-01-01T00:00:00Z", "2024-01-01T06:00:00Z"],
                   "valid_time": ["2024-01-01T00:00:00Z", "2024-01-01T06:00:00Z", "2024-01-01T06:00:00Z", "2024-01-01T12:00:00Z"]},
         "timedeltas_s": {"lead_time": [0, 21600]}},
    ]);
    let manifest = dir.path().join("cases.json");
    std::fs::write(&manifest, serde_json::to_vec(&cases).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let stdout = hub_e2e::run_interop(&python, "check_streams.py", &manifest);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), 3);
}
