//! Many ingests into one dataset at the same moment, as separate `hub ingest`
//! processes: on a local folder (commits serialized by a lock that holds
//! across processes) and on the S3-compatible test server (commits are
//! conditional writes; a writer that loses redoes its ingest). Every step must
//! be present exactly once with its own values, re-deliveries mixed in must
//! change nothing, and nobody's commit may be lost.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use hub_core::model::{BlockData, DatasetId, Hyperslab};
use hub_core::ports::{Repository, Version};
use hub_netcdf::fixtures::{DailySteps, write_daily_steps};
use hub_testkit::Backend;
use hub_zarr::{HubSettings, IcechunkHub};

/// Tests of this file run one at a time: a `hub` child spawned by one test
/// while another writes a NetCDF file inherits that open file (HDF5 does not
/// mark its descriptors close-on-exec) with its HDF5 write lock, and readers
/// of that file then fail for the child's lifetime.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const FILES: i64 = 20;
const DUPLICATES: i64 = 5;
const GRID: (usize, usize) = (4, 5);

fn spawn(repo: &str, file: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(["ingest", "--json", "--dataset", "conc", "--repo", repo])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("hub: {e}"))
}

async fn many_writers(backend: Backend) {
    let Some(root) = backend.root().await else { return };
    let repo = root.url.to_string();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Days in a scrambled order, so steps arrive late and early.
    let days: Vec<i64> = (0..FILES).map(|i| (i * 7) % FILES).collect();
    let files: Vec<_> = days
        .iter()
        .map(|&d| {
            let path = dir.path().join(format!("day{d:02}.nc"));
            write_daily_steps(
                &path,
                &DailySteps { days: &[d], time_units: "days since 2025-01-01", version: 0.0, grid: GRID },
            )
            .unwrap_or_else(|e| panic!("{e}"));
            path
        })
        .collect();
    // All at once: every file, and some of them twice.
    let children: Vec<Child> =
        files.iter().chain(files.iter().take(DUPLICATES as usize)).map(|f| spawn(&repo, f)).collect();
    let mut statuses = Vec::new();
    let mut attempts = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        for line in stdout.lines().filter(|l| l.starts_with('{')) {
            let report: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            statuses.push(report["status"].as_str().unwrap_or("?").to_string());
            attempts.push(report["attempts"].as_u64().unwrap_or(1));
        }
    }
    eprintln!("{}: attempts per ingest {attempts:?}", backend.name());
    let count = |s: &str| statuses.iter().filter(|x| *x == s).count() as i64;
    assert_eq!((count("committed"), count("duplicate")), (FILES, DUPLICATES), "{statuses:?}");

    let hub = IcechunkHub::new(root.url.clone(), HubSettings::default()).unwrap_or_else(|e| panic!("{e}"));
    let id = DatasetId::new("conc").unwrap_or_else(|e| panic!("{e}"));
    let history = hub.history(&id, 1000).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.len() as i64, FILES + 1, "one commit per file, none lost (plus the repository's first)");
    let reader = hub.open(&id, &Version::Latest).await.unwrap_or_else(|e| panic!("{e}"));
    let n = FILES as u64;
    let BlockData::Numeric(time) = reader.read("time", &Hyperslab::full(&[n])).await.unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("numeric time")
    };
    let time: Vec<f64> = time.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
    let want: Vec<f64> = (0..FILES).map(|d| d as f64 + 0.5).collect();
    assert_eq!(time, want, "every day exactly once, in order");
    let (ny, nx) = GRID;
    let full = Hyperslab::full(&[n, ny as u64, nx as u64]);
    let BlockData::Numeric(tas) = reader.read("tas", &full).await.unwrap_or_else(|e| panic!("{e}")) else {
        panic!("numeric tas")
    };
    let tas: Vec<f32> = tas.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))).collect();
    for d in 0..FILES {
        for y in 0..ny {
            for x in 0..nx {
                let at = ((d as usize) * ny + y) * nx + x;
                assert_eq!(tas[at], DailySteps::value(d, y, x, 0.0), "day {d} cell {y},{x}");
            }
        }
    }
    drop(root);
}

/// One test for both backends, one after the other (see [`ONE_AT_A_TIME`]).
#[test]
fn many_processes_into_one_dataset() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        many_writers(Backend::File).await;
        many_writers(Backend::S3).await;
    });
}

/// A local backfill: a folder of files for two datasets, four at a time.
#[test]
fn a_folder_backfills_in_parallel() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (dataset, days) in [("north", [3i64, 1, 2, 0]), ("south", [1, 0, 3, 2])] {
        let folder = dir.path().join("incoming").join(dataset);
        std::fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{e}"));
        for d in days {
            let spec = DailySteps { days: &[d], time_units: "days since 2025-01-01", version: 0.0, grid: GRID };
            write_daily_steps(&folder.join(format!("d{d}.nc")), &spec).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(["ingest", "--jobs", "4", "--json", "--repo"])
        .arg(dir.path().join("hub"))
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let committed = stdout.lines().filter(|l| l.contains(r#""status":"committed""#)).count();
    assert_eq!(committed, 8, "{stdout}");
    let info = Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(["info", "--json", "--repo"])
        .arg(dir.path().join("hub"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap_or_else(|e| panic!("{e}"));
    for d in info["datasets"].as_array().cloned().unwrap_or_default() {
        assert_eq!(d["time"][0]["steps"], 4, "{}: every day once", d["id"]);
        assert_eq!(d["time"][0]["start"], "2025-01-01T12:00:00Z");
    }
}
