//! Garbage collection on every backend: the chunks of an ingest that never
//! committed go (all of them, and only them), history stays until a retention expires it, the newest
//! version reads the same throughout, a dry run counts exactly what the real
//! run then deletes, and a second run finds nothing.

use std::time::Duration;

use hub_core::ingest::IngestStatus;
use hub_core::model::{BlockData, DatasetId, Hyperslab};
use hub_core::ports::{RepoError, Repository, Version};
use hub_core::upkeep::{GcPolicy, collect_garbage};
use hub_e2e::TestHub;
use hub_netcdf::fixtures::{DailySteps, write_daily_steps};
use hub_testkit::Backend;

/// Large enough that chunks are stored as objects, not inlined in manifests.
const GRID: (usize, usize) = (40, 50);
const UNITS: &str = "days since 2025-01-01";

async fn tas(hub: &dyn Repository, id: &DatasetId, version: &Version, steps: u64) -> Vec<u8> {
    let reader = hub.open(id, version).await.unwrap_or_else(|e| panic!("{e}"));
    let full = Hyperslab::full(&[steps, GRID.0 as u64, GRID.1 as u64]);
    match reader.read("tas", &full).await.unwrap_or_else(|e| panic!("{e}")) {
        BlockData::Numeric(b) => b,
        BlockData::Strings(_) => panic!("tas is numeric"),
    }
}

/// Objects written at `t` count as older than a cutoff taken a second later
/// (object stores date them to the second).
async fn after_a_second() -> GcPolicy {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    GcPolicy::from_now(0, None, false)
}

async fn upkeep(backend: Backend) {
    let Some(root) = backend.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let id = DatasetId::new("daily").unwrap_or_else(|e| panic!("{e}"));
    let file = |name: &str, days: &[i64], version: f32| {
        let path = dir.path().join(name);
        write_daily_steps(&path, &DailySteps { days, time_units: UNITS, version, grid: GRID })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        path
    };
    for (name, days, version) in [("a.nc", &[1, 2, 3][..], 0.0), ("b.nc", &[4, 5], 0.0), ("a.nc", &[1, 2, 3], 0.5)] {
        let r = t.ingest("daily", &file(name, days, version), &format!("incoming/daily/{name}")).await;
        assert_eq!(r.status, IngestStatus::Committed, "{name}: {:?}", r.error);
    }
    let history = t.hub.history(&id, 100).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.len(), 4, "three commits and the repository's first");
    let before_correction = Version::Snapshot(history[1].snapshot_id.clone());
    let latest = tas(t.hub.as_ref(), &id, &Version::Latest, 5).await;
    let older = tas(t.hub.as_ref(), &id, &before_correction, 5).await;
    assert_ne!(latest, older, "the correction changed days 1..3");

    // An ingest that wrote chunks and never committed (it lost a race, or died).
    let (written, noise_bytes) = hub_e2e::abandoned_write(t.hub.as_ref(), &id, "tas").await;

    // Grace not over yet: nothing goes.
    let fresh = GcPolicy::from_now(1, None, false);
    let run = collect_garbage(t.hub.as_ref(), None, &fresh).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.reports.len(), 1);
    assert_eq!(run.totals(), (0, 0), "{:?}", run.reports);

    // A dry run counts what the real run deletes: the uncommitted chunks, no history.
    let mut policy = after_a_second().await;
    policy.dry_run = true;
    let dry = collect_garbage(t.hub.as_ref(), Some(&id), &policy).await.unwrap_or_else(|e| panic!("{e}"));
    policy.dry_run = false;
    let real = collect_garbage(t.hub.as_ref(), Some(&id), &policy).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(real.failures.is_empty(), "{:?}", real.failures);
    let (d, r) = (&dry.reports[0], &real.reports[0]);
    assert_eq!(r.chunks_deleted, written, "the uncommitted chunks: {r:?}");
    assert!(r.bytes_deleted >= noise_bytes, "noise does not compress: {r:?}");
    assert_eq!((r.expired_commits, r.snapshots_deleted), (0, 0), "history is kept: {r:?}");
    assert_eq!((d.chunks_deleted, d.snapshots_deleted, d.bytes_deleted), (written, 0, r.bytes_deleted), "{d:?}");
    assert!(d.dry_run && !r.dry_run);
    assert_eq!(t.hub.history(&id, 100).await.unwrap_or_default().len(), 4);
    assert_eq!(tas(t.hub.as_ref(), &id, &Version::Latest, 5).await, latest);
    assert_eq!(tas(t.hub.as_ref(), &id, &before_correction, 5).await, older, "history still reads");

    // Nothing left to find.
    let again = collect_garbage(t.hub.as_ref(), Some(&id), &after_a_second().await).await;
    assert_eq!(again.unwrap_or_else(|e| panic!("{e}")).totals(), (0, 0));

    // A retention shorter than the history's age: the corrected values leave
    // with the commits that used them; the newest version is untouched.
    let mut expire = after_a_second().await;
    expire.expire_history_before = Some(expire.unreferenced_before);
    // A dry run names the commits that will leave, and changes nothing.
    let dry = GcPolicy { dry_run: true, ..expire.clone() };
    let run = collect_garbage(t.hub.as_ref(), None, &dry).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.reports[0].expired_commits, 2, "{:?}", run.reports);
    assert_eq!(t.hub.history(&id, 100).await.unwrap_or_default().len(), 4);
    let run = collect_garbage(t.hub.as_ref(), None, &expire).await.unwrap_or_else(|e| panic!("{e}"));
    let r = &run.reports[0];
    assert_eq!(r.expired_commits, 2, "both commits before the tip: {r:?}");
    assert_eq!(r.snapshots_deleted, 2, "{r:?}");
    assert!(r.chunks_deleted >= 1, "the values the correction replaced: {r:?}");
    let history = t.hub.history(&id, 100).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.len(), 2, "the tip and the repository's first snapshot: {history:?}");
    assert_eq!(tas(t.hub.as_ref(), &id, &Version::Latest, 5).await, latest);
    match t.hub.open(&id, &before_correction).await {
        Err(RepoError::NotFound(_)) => {}
        Err(e) => panic!("an expired version is not found, got {e:?}"),
        Ok(_) => panic!("an expired version is not found"),
    }

    // Appending still works on the collected dataset.
    let r = t.ingest("daily", &file("c.nc", &[6], 0.0), "incoming/daily/c.nc").await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    assert_eq!(tas(t.hub.as_ref(), &id, &Version::Latest, 6).await[..latest.len()], latest[..]);

    // A dataset that does not exist is an error, not an empty report.
    let ghost = DatasetId::new("ghost").unwrap_or_else(|e| panic!("{e}"));
    let run = collect_garbage(t.hub.as_ref(), Some(&ghost), &expire).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.failures.len(), 1, "{run:?}");
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upkeep_memory() {
    upkeep(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upkeep_file() {
    upkeep(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upkeep_s3() {
    upkeep(Backend::S3).await;
}
