//! The ingest function end to end against the S3-compatible test server:
//! the event JSON from `events/`, a real object in a real bucket, a dataset in
//! the repository bucket, and the failure paths.

use aws_lambda_events::event::s3::S3Event;
use hub_core::ingest::{ChunkPolicy, DatasetRule, IngestStatus};
use hub_core::model::DatasetId;
use hub_core::ports::{Repository, Version};
use hub_netcdf::fixtures::Fixture;
use hub_store::{ObjectStoreReports, StoreUrl};
use hub_testkit::{create_bucket, fixture, s3_endpoint, workspace_root};
use hub_zarr::{HubSettings, IcechunkHub};
use ingest_fn::{Config, Handler};
use object_store::{ObjectStoreExt, PutPayload, path::Path as ObjectPath};

/// The sample event from `events/`, pointed at `bucket`/`key` (the key as S3
/// encodes it in notifications).
fn event(file: &str, bucket: &str, encoded_key: &str, etag: Option<&str>, size: u64) -> S3Event {
    let text =
        std::fs::read_to_string(workspace_root().join("events").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let s3 = &mut json["Records"][0]["s3"];
    s3["bucket"]["name"] = bucket.into();
    s3["bucket"]["arn"] = format!("arn:aws:s3:::{bucket}").into();
    s3["object"]["key"] = encoded_key.into();
    s3["object"]["size"] = size.into();
    s3["object"]["eTag"] = etag.map_or(serde_json::Value::Null, Into::into);
    serde_json::from_value(json).unwrap_or_else(|e| panic!("{file}: {e}"))
}

struct Setup {
    uploads: String,
    repo: StoreUrl,
    handler: Handler,
    _staging: tempfile::TempDir,
}

async fn setup() -> Option<Setup> {
    let Some(endpoint) = s3_endpoint() else {
        hub_testkit::missing("S3 test server (HUB_TEST_S3_ENDPOINT); run scripts/test.sh");
        return None;
    };
    let uploads = create_bucket(&endpoint).await;
    let repo_bucket = create_bucket(&endpoint).await;
    let repo = StoreUrl::S3 { bucket: repo_bucket, prefix: "hub".into() };
    let staging = tempfile::tempdir().ok()?;
    let config = Config {
        repo: repo.clone(),
        rule: DatasetRule::default(),
        policy: ChunkPolicy::default(),
        staging: staging.path().to_path_buf(),
        // The deployed path: each file decoded in a child of the ingest binary.
        decoders: ingest_fn::isolated_decoders(Some(env!("CARGO_BIN_EXE_ingest").into()))
            .unwrap_or_else(|e| panic!("{e}")),
        limits: hub_core::ports::DecodeLimits::default(),
        max_run: std::time::Duration::from_secs(900),
        dead_letters: None,
    };
    let handler = Handler::new(config).unwrap_or_else(|e| panic!("{e}"));
    Some(Setup { uploads, repo, handler, _staging: staging })
}

async fn put(bucket: &str, key: &str, bytes: Vec<u8>) -> (String, u64) {
    let store = hub_store::object_store(&StoreUrl::S3 { bucket: bucket.into(), prefix: String::new() })
        .unwrap_or_else(|e| panic!("{e}"));
    let size = bytes.len() as u64;
    let r = store.put(&ObjectPath::from(key), PutPayload::from(bytes)).await.unwrap_or_else(|e| panic!("{e}"));
    (hub_store::unquote(&r.e_tag.unwrap_or_default()), size)
}

fn hub(repo: &StoreUrl) -> IcechunkHub {
    IcechunkHub::new(repo.clone(), HubSettings::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_becomes_a_dataset_once() {
    let Some(s) = setup().await else { return };
    let source = fixture(Fixture::Netcdf4NoLeapFill);
    let key = "incoming/noleap/pr day (run 00).nc";
    let (etag, size) = put(&s.uploads, key, std::fs::read(&source).unwrap_or_default()).await;
    let ev = event("s3-put-netcdf.json", &s.uploads, "incoming/noleap/pr+day+%28run+00%29.nc", Some(&etag), size);

    let response = s.handler.handle(ev.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.results.len(), 1);
    let out = &response.results[0];
    assert_eq!(
        (out.status, out.key.as_str(), out.dataset.as_deref()),
        (IngestStatus::Committed, key, Some("noleap")),
        "{out:?}"
    );
    let h = hub(&s.repo);
    hub_e2e::assert_same_as_source(&h, "noleap", &source).await;

    // S3 delivers at least once: the same event again changes nothing.
    let again = s.handler.handle(ev).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.results[0].status, IngestStatus::Duplicate);
    let id = DatasetId::new("noleap").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.history(&id, 10).await.map(|v| v.len()).unwrap_or(0), 2, "initial + one ingest");
    let reports = ObjectStoreReports::new(h.root_store());
    assert_eq!(reports.list("_reports/ok/noleap").await.map(|r| r.len()).unwrap_or(0), 1);
    assert_eq!(reports.list("_reports/duplicate/noleap").await.map(|r| r.len()).unwrap_or(0), 1);
    let ok = reports.list("_reports/ok/noleap").await.unwrap_or_default();
    assert_eq!(ok[0].source.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(ok[0].source.bucket.as_deref(), Some(s.uploads.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_are_reported_and_acknowledged() {
    let Some(s) = setup().await else { return };
    // A truncated upload.
    let bytes = std::fs::read(fixture(Fixture::ClassicPacked360Day)).unwrap_or_default();
    let half = bytes[..bytes.len() / 2].to_vec();
    let (etag, size) = put(&s.uploads, "incoming/broken/half.nc", half).await;
    let r =
        s.handler.handle(event("s3-put-netcdf.json", &s.uploads, "incoming/broken/half.nc", Some(&etag), size)).await;
    let r = r.unwrap_or_else(|e| panic!("a corrupt file must not be retried: {e}"));
    assert_eq!(r.results[0].status, IngestStatus::Rejected);
    assert!(r.results[0].error.as_deref().unwrap_or("").contains("truncated"), "{:?}", r.results[0]);

    // Not a NetCDF file at all.
    let (etag, size) = put(&s.uploads, "incoming/radar/readme.txt", b"not data, just a note".to_vec()).await;
    let r = s
        .handler
        .handle(event("s3-put-unsupported.json", &s.uploads, "incoming/radar/readme.txt", Some(&etag), size))
        .await;
    assert_eq!(r.map(|r| r.results[0].status).ok(), Some(IngestStatus::Rejected));

    // Gone before it was fetched, and replaced since the event.
    let r =
        s.handler.handle(event("s3-put-netcdf.json", &s.uploads, "incoming/broken/never.nc", Some("abc"), 10)).await;
    assert!(r.map(|r| r.results[0].error.clone().unwrap_or_default().contains("not found")).unwrap_or(false));
    let good = std::fs::read(fixture(Fixture::ClassicPacked360Day)).unwrap_or_default();
    let (_, size) = put(&s.uploads, "incoming/replaced/x.nc", good).await;
    let r = s
        .handler
        .handle(event("s3-put-netcdf.json", &s.uploads, "incoming/replaced/x.nc", Some("0000stale0000"), size))
        .await;
    assert!(r.map(|r| r.results[0].error.clone().unwrap_or_default().contains("changed since")).unwrap_or(false));

    let h = hub(&s.repo);
    assert_eq!(h.datasets().await.unwrap_or_default(), Vec::<DatasetId>::new(), "nothing was created");
    let failed = ObjectStoreReports::new(h.root_store()).list("_reports/failed").await.unwrap_or_default();
    assert_eq!(failed.len(), 4, "one failure report each");
    let kinds: Vec<&str> = failed.iter().filter_map(|r| r.error.as_ref().map(|e| e.kind.as_str())).collect();
    for k in ["corrupt", "unknown_format", "gone", "superseded"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_events_are_ignored_and_storage_trouble_is_retried() {
    let Some(s) = setup().await else { return };
    let r = s.handler.handle(event("s3-delete.json", &s.uploads, "incoming/x/old.nc", None, 0)).await;
    assert_eq!(r.map(|r| r.results.len()).ok(), Some(0));

    // The repository bucket does not exist: transient for the function (Lambda
    // retries, then the DLQ holds the event).
    let staging = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = Config {
        repo: StoreUrl::S3 { bucket: "no-such-bucket-for-the-hub".into(), prefix: "hub".into() },
        rule: DatasetRule::default(),
        policy: ChunkPolicy::default(),
        staging: staging.path().to_path_buf(),
        // The deployed path: each file decoded in a child of the ingest binary.
        decoders: ingest_fn::isolated_decoders(Some(env!("CARGO_BIN_EXE_ingest").into()))
            .unwrap_or_else(|e| panic!("{e}")),
        limits: hub_core::ports::DecodeLimits::default(),
        max_run: std::time::Duration::from_secs(900),
        dead_letters: None,
    };
    let broken = Handler::new(config).unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(fixture(Fixture::ClassicPacked360Day)).unwrap_or_default();
    let (etag, size) = put(&s.uploads, "incoming/t/x.nc", bytes).await;
    let r = broken.handle(event("s3-put-netcdf.json", &s.uploads, "incoming/t/x.nc", Some(&etag), size)).await;
    assert!(r.is_err(), "storage trouble must fail the invocation: {r:?}");
    let _ = Version::Latest;
}

/// Radar composites and a model run through S3 events: the datasets'
/// configuration in the repository names the dataset and the valid time
/// pattern; composites arriving newest first land in time order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composites_and_model_runs_from_events() {
    let Some(s) = setup().await else { return };
    let root = hub_store::object_store(&s.repo).unwrap_or_else(|e| panic!("{e}"));
    let config = r#"{"rules": [{"key": "^radar/fmi/", "dataset": "fmi-radar", "valid_time": {"key": "{YYYY}{MM}{DD}{hh}{mm}"}}]}"#;
    hub_store::store_dataset_config(&root, config).await.unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for step in [2u32, 1, 0] {
        let c = hub_gdal::fixtures::Composite { size: (40, 30), step, version: 0, with_crs: true, datetime: None };
        let path = dir.path().join("c.tif");
        hub_gdal::fixtures::write_composite(&path, &c).unwrap_or_else(|e| panic!("{e}"));
        let key = format!("radar/fmi/2016092816{:02}_FINUTM.tif", step * 5);
        let (etag, size) = put(&s.uploads, &key, std::fs::read(&path).unwrap_or_default()).await;
        let response = s
            .handler
            .handle(event("s3-put-geotiff.json", &s.uploads, &key, Some(&etag), size))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.results[0].status, IngestStatus::Committed, "{:?}", response.results[0].error);
        assert_eq!(response.results[0].dataset.as_deref(), Some("fmi-radar"));
    }
    let hub = hub(&s.repo);
    let reader = hub
        .open(&DatasetId::new("fmi-radar").unwrap_or_else(|e| panic!("{e}")), &Version::Latest)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let hub_core::model::BlockData::Numeric(t) =
        reader.read("time", &hub_core::model::Hyperslab::full(&[3])).await.unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("numeric time")
    };
    let t: Vec<i64> = t.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
    assert_eq!(t, vec![1_475_078_400, 1_475_078_700, 1_475_079_000]);

    // A model run (the hub's own GRIB2 writer) by the default rule.
    let path = dir.path().join("run.grib2");
    let f = hub_gdal::fixtures::Forecast { reference: 1_704_067_200, lead_hours: 6, version: 0.0 };
    hub_gdal::fixtures::write_forecast(&path, &f).unwrap_or_else(|e| panic!("{e}"));
    let key = "incoming/model/run.grib2";
    let (etag, size) = put(&s.uploads, key, std::fs::read(&path).unwrap_or_default()).await;
    let response = s
        .handler
        .handle(event("s3-put-grib2.json", &s.uploads, key, Some(&etag), size))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.results[0].status, IngestStatus::Committed, "{:?}", response.results[0].error);
    assert_eq!(response.results[0].dataset.as_deref(), Some("model"));
}

#[test]
fn the_function_does_not_start_on_an_unusable_setting() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, value) in
        [("HUB_INGEST_TIMEOUT_SECONDS", "15min"), ("HUB_LIMIT_RANK", "-1"), ("HUB_DECODE_ISOLATION", "of")]
    {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
            .env("HUB_REPO", dir.path())
            .env(name, value)
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .output()
            .unwrap_or_else(|e| panic!("ingest: {e}"));
        let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!o.status.success(), "{name}={value} was accepted: {out}");
        assert!(out.contains(name) && out.contains(value), "{name}={value}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_file_upload_registers_its_set_and_backfills_the_series() {
    let Some(s) = setup().await else { return };
    let h = hub(&s.repo);
    let config =
        r#"{"datasets": {"noleap": {"regions": ["basins"]}}, "region_sets": {"basins": {"id_field": "code"}}}"#;
    hub_store::store_dataset_config(&h.root_store(), config).await.unwrap_or_else(|e| panic!("{e}"));
    // Data first: the set is not registered yet, the data goes in all the same.
    let source = fixture(Fixture::Netcdf4NoLeapFill);
    let key = "incoming/noleap/pr.nc";
    let (etag, size) = put(&s.uploads, key, std::fs::read(&source).unwrap_or_default()).await;
    let ev = event("s3-put-netcdf.json", &s.uploads, key, Some(&etag), size);
    let r = s.handler.handle(ev).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.results[0].status, IngestStatus::Committed, "{:?}", r.results[0]);
    // The set's upload: routed by its key, read, stored, and the series backfilled.
    let set = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "west"}, "geometry": {"type": "Polygon",
         "coordinates": [[[-170, -80], [0, -80], [0, 80], [-170, 80], [-170, -80]]]}},
        {"type": "Feature", "properties": {"code": "east"}, "geometry": {"type": "Polygon",
         "coordinates": [[[0, -80], [170, -80], [170, 80], [0, 80], [0, -80]]]}}
    ]});
    let key = "regions/basins.geojson";
    let (etag, size) = put(&s.uploads, key, set.to_string().into_bytes()).await;
    let r = s.handler.handle(event("s3-put-netcdf.json", &s.uploads, key, Some(&etag), size)).await;
    let out = &r.unwrap_or_else(|e| panic!("{e}")).results[0];
    assert_eq!((out.status, out.dataset.as_deref()), (IngestStatus::Committed, Some("_regions/basins")), "{out:?}");
    assert!(out.snapshot_id.is_some(), "the attached dataset was backfilled");
    let id = DatasetId::new("noleap").unwrap_or_else(|e| panic!("{e}"));
    let arrays =
        h.open(&id, &Version::Latest).await.unwrap_or_else(|e| panic!("{e}")).arrays().await.unwrap_or_default();
    assert!(arrays.iter().any(|a| a.path.starts_with("regions/basins/") && a.path.ends_with("_mean")), "{arrays:?}");
    // A set that is not one: a reported rejection naming the feature.
    let broken = r#"{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}}"#;
    let key = "regions/broken.geojson";
    let (etag, size) = put(&s.uploads, key, broken.as_bytes().to_vec()).await;
    let r = s.handler.handle(event("s3-put-netcdf.json", &s.uploads, key, Some(&etag), size)).await;
    let out = &r.unwrap_or_else(|e| panic!("{e}")).results[0];
    assert_eq!(out.status, IngestStatus::Rejected);
    assert!(out.error.as_deref().unwrap_or("").contains("feature 1"), "{out:?}");
}
