//! Bad input never panics, never half-writes: truncated, corrupt, empty and
//! unknown files end in a failure report, and the dataset stays as it was.

use std::path::Path;

use hub_core::ingest::IngestStatus;
use hub_core::model::DatasetId;
use hub_core::ports::{RepoError, Repository, Version};
use hub_core::upkeep::{self, GcPolicy};
use hub_e2e::{TestHub, assert_same_as_source};
use hub_netcdf::fixtures::Fixture;
use hub_testkit::{Backend, fixture};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{e}"));
    p
}

fn id(s: &str) -> DatasetId {
    DatasetId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

/// Copies of good files damaged in the ways uploads get damaged.
fn damaged(dir: &Path) -> Vec<(std::path::PathBuf, &'static str)> {
    let classic = std::fs::read(fixture(Fixture::ClassicPacked360Day)).unwrap_or_default();
    let nc4 = std::fs::read(fixture(Fixture::Netcdf4NoLeapFill)).unwrap_or_default();
    let offset = std::fs::read(fixture(Fixture::Offset64RotatedPole)).unwrap_or_default();
    // Garbage over the middle of the compressed data of a NetCDF-4 file: the
    // header opens, reading the chunks fails.
    let mut scrambled = nc4.clone();
    let (a, b) = (scrambled.len() / 3, scrambled.len() * 2 / 3);
    for (i, byte) in scrambled[a..b].iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
    vec![
        (write(dir, "classic_half.nc", &classic[..classic.len() / 2]), "corrupt"),
        (write(dir, "classic_minus_one.nc", &classic[..classic.len() - 1]), "corrupt"),
        (write(dir, "offset64_header_only.nc", &offset[..400]), "corrupt"),
        (write(dir, "nc4_half.nc", &nc4[..nc4.len() / 2]), "corrupt"),
        (write(dir, "nc4_scrambled.nc", &scrambled), "corrupt"),
        (write(dir, "hdf5_magic_only.nc", b"\x89HDF\r\n\x1a\n\0\0\0\0\0\0\0\0"), "corrupt"),
        (write(dir, "empty.nc", b""), "corrupt"),
        (write(dir, "text.nc", b"this is not a NetCDF file, it is a note about one\n"), "unknown_format"),
    ]
}

async fn damaged_files_leave_a_dataset_unchanged(backend: Backend) {
    let on_s3 = matches!(backend, Backend::S3);
    let Some(root) = backend.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let good = fixture(Fixture::Netcdf4NoLeapFill);
    let first = t.ingest("target", &good, "incoming/target/good.nc").await;
    assert_eq!(first.status, IngestStatus::Committed);
    let cases = damaged(dir.path());
    for (i, (path, kind)) in cases.iter().enumerate() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Into the existing dataset: rejected (corrupt, or refused as a second
        // source before its data is read), nothing committed.
        let r = t.ingest("target", path, &format!("incoming/target/{name}")).await;
        assert_eq!(r.status, IngestStatus::Rejected, "{name}");
        let reader = t.hub.open(&id("target"), &Version::Latest).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Some(reader.snapshot_id().to_string()), first.snapshot_id, "{name}");
        // Into a new dataset: rejected for what is wrong with the file.
        let fresh = format!("fresh{i}");
        let r = t.ingest(&fresh, path, &format!("incoming/{fresh}/{name}")).await;
        assert_eq!(r.status, IngestStatus::Rejected, "{name}");
        let e = r.error.unwrap_or_else(|| panic!("{name}: no error"));
        assert_eq!(e.kind, *kind, "{name}: {}", e.message);
        assert!(e.message.len() > 10, "{name}: message too short: {}", e.message);
        let opened = t.hub.open(&id(&fresh), &Version::Latest).await.map(|r| r.snapshot_id().to_string());
        assert!(matches!(opened, Err(RepoError::NotFound(_))), "{name}: {opened:?}");
    }
    assert_same_as_source(t.hub.as_ref(), "target", &good).await;
    assert_eq!(t.hub.datasets().await.unwrap_or_default(), vec![id("target")], "rejected uploads create no dataset");
    // Nor leave a repository behind: removed at once where the ingest holds
    // the dataset's lock, by the upkeep after its grace period on S3.
    let left = t.hub.unfinished().await.unwrap_or_else(|e| panic!("{e}"));
    match on_s3 {
        true => {
            assert!(left.iter().any(|u| u.dataset.starts_with("fresh") && u.objects > 0), "{left:?}");
            let policy =
                GcPolicy::at(chrono::Utc::now() + chrono::Duration::seconds(5), chrono::Duration::zero(), None, false);
            let run = upkeep::collect_garbage(t.hub.as_ref(), None, &policy).await.unwrap_or_else(|e| panic!("{e}"));
            assert!(run.unfinished.iter().all(|u| u.removed), "{:?}", run.unfinished);
            assert!(t.hub.unfinished().await.unwrap_or_default().is_empty());
        }
        false => assert!(left.is_empty(), "{left:?}"),
    }
    if let hub_store::StoreUrl::File(dir) = &root.url {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["_locks", "_reports", "target"], "folders left in the hub");
    }
    let failed = t.reports.list("_reports/failed").await.unwrap_or_default();
    assert_eq!(failed.len(), 2 * cases.len(), "one failure report per damaged upload");
    assert!(failed.iter().all(|r| r.status == IngestStatus::Rejected && r.error.is_some()));
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_memory_backend() {
    damaged_files_leave_a_dataset_unchanged(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_file_backend() {
    damaged_files_leave_a_dataset_unchanged(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_s3_backend() {
    damaged_files_leave_a_dataset_unchanged(Backend::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_does_not_fit_its_dataset_is_refused_clearly() {
    let Some(root) = Backend::Memory.root().await else { return };
    let t = TestHub::new(root.url.clone());
    let a = t.ingest("one", &fixture(Fixture::Netcdf4NoLeapFill), "a.nc").await;
    assert_eq!(a.status, IngestStatus::Committed);
    let b = t.ingest("one", &fixture(Fixture::ClassicPacked360Day), "b.nc").await;
    assert_eq!(b.status, IngestStatus::Rejected);
    let e = b.error.unwrap_or_else(|| panic!("no error"));
    assert_eq!(e.kind, "mismatch", "{}", e.message);
    assert!(e.message.contains("calendar") && e.message.contains("--dataset"), "{}", e.message);
    let reader = t.hub.open(&id("one"), &Version::Latest).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Some(reader.snapshot_id().to_string()), a.snapshot_id);
}
