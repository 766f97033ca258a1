//! Files that extend a dataset: new steps at the end, late steps in the
//! middle or before the start, a re-delivery, a correction, a file on another
//! grid. After each, every stored step holds exactly the values of the file
//! that delivered it last, the time axis is sorted, and history keeps the
//! versions a correction replaced.

use std::path::{Path, PathBuf};

use hub_core::ingest::{IngestReport, IngestStatus};
use hub_core::model::{BlockData, DatasetId, Hyperslab};
use hub_core::ports::{Repository, Version};
use hub_e2e::TestHub;
use hub_netcdf::fixtures::{DailySteps, write_daily_steps};
use hub_testkit::Backend;

const GRID: (usize, usize) = (6, 8);

fn steps(dir: &Path, name: &str, days: &[i64], units: &str, version: f32) -> PathBuf {
    let path = dir.join(name);
    write_daily_steps(&path, &DailySteps { days, time_units: units, version, grid: GRID })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    path
}

/// Reads the dataset and checks every step against the day and version expected there.
async fn assert_steps(hub: &dyn Repository, dataset: &str, version: &Version, want: &[(i64, f32)]) {
    let id = DatasetId::new(dataset).unwrap_or_else(|e| panic!("{e}"));
    let reader = hub.open(&id, version).await.unwrap_or_else(|e| panic!("{e}"));
    let n = want.len() as u64;
    let (ny, nx) = GRID;
    let f64s = |data: BlockData| match data {
        BlockData::Numeric(b) => {
            b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()
        }
        BlockData::Strings(_) => Vec::<f64>::new(),
    };
    let time = f64s(reader.read("time", &Hyperslab::full(&[n])).await.unwrap_or_else(|e| panic!("time: {e}")));
    let expected: Vec<f64> = want.iter().map(|&(d, _)| d as f64 + 0.5).collect();
    assert_eq!(time, expected, "time axis in the dataset's units (days since 2025-01-01)");
    let bnds = f64s(reader.read("time_bnds", &Hyperslab::full(&[n, 2])).await.unwrap_or_else(|e| panic!("{e}")));
    let expected: Vec<f64> = want.iter().flat_map(|&(d, _)| [d as f64, d as f64 + 1.0]).collect();
    assert_eq!(bnds, expected, "time bounds follow their steps");
    let full = Hyperslab::full(&[n, ny as u64, nx as u64]);
    let BlockData::Numeric(tas) = reader.read("tas", &full).await.unwrap_or_else(|e| panic!("{e}")) else {
        panic!("tas is numeric")
    };
    let got: Vec<f32> = tas.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))).collect();
    for (i, &(day, v)) in want.iter().enumerate() {
        for y in 0..ny {
            for x in 0..nx {
                let at = (i * ny + y) * nx + x;
                assert_eq!(got[at], DailySteps::value(day, y, x, v), "step {i} (day {day}) cell {y},{x}");
            }
        }
    }
}

fn committed(r: &IngestReport) {
    assert_eq!(r.status, IngestStatus::Committed, "{}: {:?}", r.source.key, r.error);
}

async fn appends(backend: Backend) {
    let Some(root) = backend.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let ds = "daily";
    let days = "days since 2025-01-01";
    let hours = "hours since 2024-12-31 00:00";

    // The first file: days 10..15.
    let a = steps(dir.path(), "a.nc", &[10, 11, 12, 13, 14], days, 0.0);
    committed(&t.ingest(ds, &a, "incoming/daily/a.nc").await);
    // New steps at the end.
    let b = steps(dir.path(), "b.nc", &[15, 16, 17], days, 0.0);
    let r = t.ingest(ds, &b, "incoming/daily/b.nc").await;
    committed(&r);
    assert_eq!(r.axes.len(), 1);
    assert_eq!((r.axes[0].before, r.axes[0].inserted, r.axes[0].replaced, r.axes[0].moved), (5, 3, 0, 0));
    // Late steps before the start, written in other units: placed at their time.
    let c = steps(dir.path(), "c.nc", &[6, 5], hours, 0.0);
    let r = t.ingest(ds, &c, "incoming/daily/c.nc").await;
    committed(&r);
    assert_eq!((r.axes[0].inserted, r.axes[0].moved), (2, 8), "every stored step moved up");
    // A gap filled in the middle, one step at a time.
    for day in [8, 7, 9] {
        let f = steps(dir.path(), &format!("d{day}.nc"), &[day], days, 0.0);
        committed(&t.ingest(ds, &f, &format!("incoming/daily/d{day}.nc")).await);
    }
    let mut want: Vec<(i64, f32)> = (5..18).map(|d| (d, 0.0)).collect();
    assert_steps(t.hub.as_ref(), ds, &Version::Latest, &want).await;

    // The same object again: nothing changes, not even history.
    let id = DatasetId::new(ds).unwrap_or_else(|e| panic!("{e}"));
    let before = t.hub.history(&id, 100).await.unwrap_or_default();
    let again = t.ingest(ds, &b, "incoming/daily/b.nc").await;
    assert_eq!(again.status, IngestStatus::Duplicate);
    assert_eq!(t.hub.history(&id, 100).await.unwrap_or_default().len(), before.len());

    // A correction of days 12..13 plus a new day 18, under the first file's key.
    let fixed = steps(dir.path(), "a-fixed.nc", &[12, 13, 18], days, 0.25);
    let r = t.ingest(ds, &fixed, "incoming/daily/a.nc").await;
    committed(&r);
    assert_eq!((r.axes[0].inserted, r.axes[0].replaced), (1, 2));
    assert!(r.warnings.iter().any(|w| w.contains("replaces")), "{:?}", r.warnings);
    for w in want.iter_mut().filter(|(d, _)| (12..14).contains(d)) {
        w.1 = 0.25;
    }
    want.push((18, 0.25));
    assert_steps(t.hub.as_ref(), ds, &Version::Latest, &want).await;
    // History keeps the version before the correction.
    let old = Version::Snapshot(before[0].snapshot_id.clone());
    let was: Vec<(i64, f32)> = (5..18).map(|d| (d, 0.0)).collect();
    assert_steps(t.hub.as_ref(), ds, &old, &was).await;

    // Another grid is refused and changes nothing.
    let other = dir.path().join("other.nc");
    write_daily_steps(&other, &DailySteps { days: &[30], time_units: days, version: 0.0, grid: (3, 4) })
        .unwrap_or_else(|e| panic!("{e}"));
    let tip = t.hub.history(&id, 1).await.unwrap_or_default();
    let r = t.ingest(ds, &other, "incoming/daily/other.nc").await;
    assert_eq!(r.status, IngestStatus::Rejected);
    let err = r.error.map(|e| e.message).unwrap_or_default();
    assert!(err.contains("lat") || err.contains("grid"), "{err}");
    assert_eq!(t.hub.history(&id, 1).await.unwrap_or_default(), tip);
    assert_steps(t.hub.as_ref(), ds, &Version::Latest, &want).await;
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_memory() {
    appends(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_file() {
    appends(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_s3() {
    appends(Backend::S3).await;
}
