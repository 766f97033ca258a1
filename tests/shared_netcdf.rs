//! Every NetCDF/HDF5 file of the shared test data (written by other software):
//! ingested with values identical to the source, or rejected with a clear
//! report. Never a panic.

use hub_core::ingest::IngestStatus;
use hub_e2e::{TestHub, assert_same_as_source};
use hub_testkit::{Backend, shared_files};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shared_netcdf_file_lands_identically() {
    let files = shared_files("netcdf");
    if files.is_empty() {
        return;
    }
    let Some(root) = Backend::File.root().await else { return };
    let t = TestHub::new(root.url.clone());
    let mut committed = 0;
    for (i, path) in files.iter().enumerate() {
        let dataset = format!("shared{i}");
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let report = t.ingest(&dataset, path, &name).await;
        match report.status {
            IngestStatus::Committed => {
                assert_same_as_source(t.hub.as_ref(), &dataset, path).await;
                committed += 1;
            }
            IngestStatus::Rejected => {
                let e = report.error.clone().unwrap_or_else(|| panic!("{name}: rejected without a reason"));
                assert!(!e.message.is_empty() && !e.kind.is_empty(), "{name}: {e:?}");
                eprintln!("{name}: rejected ({}): {}", e.kind, e.message);
            }
            IngestStatus::Duplicate => panic!("{name}: unexpected duplicate"),
        }
        for w in &report.warnings {
            eprintln!("{name}: warning: {w}");
        }
    }
    // All of today's shared files are supported; a regression shows here.
    assert_eq!(committed, files.len(), "every shared NetCDF file is supported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_files_report_their_calendars() {
    let files = shared_files("netcdf");
    if files.is_empty() {
        return;
    }
    let Some(root) = Backend::Memory.root().await else { return };
    let t = TestHub::new(root.url.clone());
    let expect = [
        ("tas_Amon_HadGEM2-ES_rcp85_r1i1p1_200512-203011.nc", "360_day"),
        ("tas.sresb1.giss_model_e_r.run1.atm.da.nc", "noleap"),
        ("prsn_day_CanESM5_historical_r1i1p1f1_gn_19910101-20101231.nc", "noleap"),
        ("SMALL_total_column_co2.nc", "standard"),
        ("small_rotPole_precipitation.nc", "standard"),
    ];
    for (i, (name, calendar)) in expect.into_iter().enumerate() {
        let Some(path) = files.iter().find(|p| p.ends_with(name)) else {
            panic!("{name} missing from the shared data");
        };
        let r = t.ingest(&format!("cal{i}"), path, name).await;
        let time = r.time.unwrap_or_else(|| panic!("{name}: no time range"));
        assert_eq!(time.calendar, calendar, "{name}");
        eprintln!("{name}: {} .. {} ({})", time.start, time.end, time.calendar);
    }
}
