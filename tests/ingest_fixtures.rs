//! The hub's own fixtures through the whole ingest pipeline, on every backend:
//! values identical to the source, reports right, re-delivery a no-op.

use hub_core::ingest::IngestStatus;
use hub_core::model::DatasetId;
use hub_core::ports::{Repository, Version};
use hub_e2e::{TestHub, assert_same_as_source};
use hub_netcdf::fixtures::Fixture;
use hub_testkit::{Backend, fixture};

async fn fixtures_round_trip(backend: Backend) {
    let Some(root) = backend.root().await else { return };
    let t = TestHub::new(root.url.clone());
    for (i, f) in Fixture::ALL.iter().enumerate() {
        let dataset = format!("fx{i}");
        let path = fixture(*f);
        let key = format!("incoming/{dataset}/{}", f.file_name());
        let report = t.ingest(&dataset, &path, &key).await;
        assert_eq!(report.status, IngestStatus::Committed, "{}: {:?}", f.file_name(), report.error);
        assert!(report.snapshot_id.is_some());
        assert!(report.bytes_stored > 0 && report.bytes_stored < report.bytes_in, "{}: compression", f.file_name());
        assert_same_as_source(t.hub.as_ref(), &dataset, &path).await;

        // The same object again: nothing changes.
        let history = t.hub.history(&DatasetId::new(dataset.as_str()).unwrap_or_else(|e| panic!("{e}")), 10).await;
        let again = t.ingest(&dataset, &path, &key).await;
        assert_eq!(again.status, IngestStatus::Duplicate, "{}", f.file_name());
        assert_eq!(again.previous.as_ref().map(|p| p.key.as_str()), Some(key.as_str()));
        let id = DatasetId::new(dataset.as_str()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.hub.history(&id, 10).await.map(|h| h.len()).ok(), history.map(|h| h.len()).ok());
    }
    let ok = t.reports.list("_reports/ok").await.unwrap_or_default();
    assert_eq!(ok.len(), Fixture::ALL.len(), "one success report per file");
    let dup = t.reports.list("_reports/duplicate").await.unwrap_or_default();
    assert_eq!(dup.len(), Fixture::ALL.len(), "one duplicate report per re-delivery");
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_memory() {
    fixtures_round_trip(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_file() {
    fixtures_round_trip(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_s3() {
    fixtures_round_trip(Backend::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_describe_calendars_packing_and_fill() {
    let Some(root) = Backend::Memory.root().await else { return };
    let t = TestHub::new(root.url.clone());

    let r = t.ingest("packed", &fixture(Fixture::ClassicPacked360Day), "packed.nc").await;
    assert_eq!(r.format.as_deref(), Some("NetCDF-3 classic"));
    let time = r.time.clone().unwrap_or_else(|| panic!("no time range: {r:?}"));
    assert_eq!(
        (time.calendar.as_str(), time.start.as_str(), time.end.as_str(), time.steps),
        ("360_day", "1859-12-16T00:00:00Z", "1862-11-16T00:00:00Z", 36)
    );
    let tas = r.variables.iter().find(|v| v.path == "tas").unwrap_or_else(|| panic!("tas"));
    assert_eq!(tas.dtype, "int16", "packed values are kept packed");

    let r = t.ingest("noleap", &fixture(Fixture::Netcdf4NoLeapFill), "noleap.nc").await;
    assert_eq!(r.format.as_deref(), Some("NetCDF-4/HDF5"));
    let time = r.time.clone().unwrap_or_else(|| panic!("no time range"));
    assert_eq!(
        (time.calendar.as_str(), time.start.as_str(), time.end.as_str()),
        ("noleap", "2046-01-01T00:00:00Z", "2047-12-31T00:00:00Z")
    );
    let pr = r.variables.iter().find(|v| v.path == "pr").unwrap_or_else(|| panic!("pr"));
    assert!(pr.chunks_skipped > 0, "the all-missing band is not stored: {pr:?}");
    let names = r.variables.iter().find(|v| v.path == "station_name").unwrap_or_else(|| panic!("station_name"));
    assert_eq!(names.dtype, "string");

    let r = t.ingest("rotated", &fixture(Fixture::Offset64RotatedPole), "rotated.nc").await;
    assert_eq!(r.format.as_deref(), Some("NetCDF-3 64-bit offset"));
    let time = r.time.clone().unwrap_or_else(|| panic!("no time range"));
    assert_eq!((time.start.as_str(), time.end.as_str()), ("2024-07-01T00:00:00Z", "2024-07-02T23:00:00Z"));
    let reader = t
        .hub
        .open(&DatasetId::new("rotated").unwrap_or_else(|e| panic!("{e}")), &Version::Latest)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let arrays = reader.arrays().await.unwrap_or_default();
    let t2m = arrays.iter().find(|a| a.path == "t2m").unwrap_or_else(|| panic!("t2m"));
    assert_eq!(t2m.attrs.get("grid_mapping").and_then(|v| v.as_text()), Some("rotated_pole"));
    assert!(arrays.iter().any(|a| a.path == "rotated_pole" && a.shape.is_empty()));
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_slab_budget_gives_identical_data() {
    // Slabs far smaller than a source chunk: every chunk still written whole, once.
    let Some(root) = Backend::Memory.root().await else { return };
    let policy = hub_core::ingest::ChunkPolicy { target_chunk_bytes: 16 * 1024, ..Default::default() };
    let settings = hub_core::ingest::IngestSettings { policy, slab_budget_bytes: 32 * 1024, ..Default::default() };
    let t = TestHub::with_settings(root.url.clone(), settings);
    let path = fixture(Fixture::Netcdf4NoLeapFill);
    let r = t.ingest("tiny-slabs", &path, "x.nc").await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    assert!(r.warnings.iter().any(|w| w.contains("decoded")), "re-decoding is reported: {:?}", r.warnings);
    assert_same_as_source(t.hub.as_ref(), "tiny-slabs", &path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_record_dimension_is_stored_as_an_empty_array() {
    // A model file written before its first time step: time is unlimited with 0 records.
    let Some(root) = Backend::Memory.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("empty.nc");
    {
        let mut f = netcdf::create_with(&path, netcdf::Options::CLASSIC).unwrap_or_else(|e| panic!("{e}"));
        f.add_unlimited_dimension("time").unwrap_or_else(|e| panic!("{e}"));
        f.add_dimension("x", 4).unwrap_or_else(|e| panic!("{e}"));
        let mut t = f.add_variable::<f64>("time", &["time"]).unwrap_or_else(|e| panic!("{e}"));
        t.put_attribute("units", "hours since 2026-01-01").unwrap_or_else(|e| panic!("{e}"));
        f.add_variable::<f32>("v", &["time", "x"]).unwrap_or_else(|e| panic!("{e}"));
    }
    let t = TestHub::new(root.url.clone());
    let r = t.ingest("empty", &path, "empty.nc").await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    assert!(r.time.is_none(), "no time step, no time range");
    let v = r.variables.iter().find(|v| v.path == "v").unwrap_or_else(|| panic!("v"));
    assert_eq!(v.shape, vec![0, 4]);
    assert_same_as_source(t.hub.as_ref(), "empty", &path).await;
}
