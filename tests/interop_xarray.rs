//! xarray and Python icechunk read what the hub wrote and see the same dataset
//! as xarray reading the source file: every fixture and every shared NetCDF file.

use hub_core::ingest::IngestStatus;
use hub_e2e::TestHub;
use hub_netcdf::fixtures::Fixture;
use hub_store::StoreUrl;
use hub_testkit::{fixture, python, shared_files};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xarray_reads_the_hub_like_the_source() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().join("hub");
    let t = TestHub::new(StoreUrl::File(root.clone()));
    let mut sources: Vec<std::path::PathBuf> = Fixture::ALL.iter().map(|f| fixture(*f)).collect();
    // Packed shorts with a NaN _FillValue: xarray drops the attribute and
    // masks nothing; so does the hub.
    let nan_fill = dir.path().join("nan_fill_short.nc");
    hub_netcdf::fixtures::write_nan_fill_short(&nan_fill).unwrap_or_else(|e| panic!("{e}"));
    sources.push(nan_fill);
    sources.extend(shared_files("netcdf"));
    let mut pairs = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let dataset = format!("interop{i}");
        let name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let r = t.ingest(&dataset, source, &name).await;
        assert_eq!(r.status, IngestStatus::Committed, "{name}: {:?}", r.error);
        pairs.push(serde_json::json!({"repo": root.join(&dataset), "source": source}));
    }
    let manifest = dir.path().join("pairs.json");
    std::fs::write(&manifest, serde_json::to_vec(&pairs).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let stdout = hub_e2e::run_interop(&python, "compare_xarray.py", &manifest);
    assert!(stdout.lines().filter(|l| l.starts_with("ok ")).count() >= sources.len(), "every source compared");
}
