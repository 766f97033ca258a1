//! The time-major copy kept in step with the data: after the first file,
//! steps at the end, late steps that move stored ones, single late steps and
//! a correction, on memory, a folder and the S3 test server,
//! - the copy holds the whole blocks of the data and nothing else;
//! - every query type answers the same values from the map layout alone
//!   and from the copy with the map layout after it (the mix while the copy
//!   trails), and the point series equal the fixture's own values;
//! - the planner reads the copy for a point series: a counting store sees
//!   one chunk per block plus the trailing steps' chunks, not one per step;
//! - a build (`hub layout build`) of a dataset that had data before the
//!   copy was switched on gives the same answers, in rounds that resume;
//!   a copy switched off again is emptied;
//! - a copy written in strips smaller than a map chunk (the memory bound
//!   for full-map radar chunks) holds the same values;
//! - xarray opens the `time_major` group with the same values as the data.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hub_core::analytics::Statistic;
use hub_core::ingest::{DatasetConfig, IngestStatus};
use hub_core::model::DatasetId;
use hub_core::ports::{Repository, Version};
use hub_core::query::{
    Budget, DatasetView, EdrQuery, Interpolation, LayoutRead, Limits, LonLat, NoProjections, Place, RegionRequest,
    Selections, execute, region_statistics,
};
use hub_core::regions::{CellBounds, CellGrid, FeatureInput, RegionSet, RegionSetId, weights};
use hub_e2e::{TestHub, run_interop};
use hub_netcdf::fixtures::{DailySteps, write_daily_steps};
use hub_testkit::Backend;
use hub_zarr::{HubSettings, IcechunkHub, ReadCounter};

const BLOCK: u64 = 4;

/// One map per chunk in the map layout (as radar composites are stored), a
/// copy in blocks of four steps over 3 × 3 tiles.
const CONFIG: &str = r#"{
  "rules": [{"key": "^incoming/(?P<dataset>[a-z]+)/", "chunks": {"tas": [1, 6, 8]}}],
  "datasets": {"daily": {"time_major": {"block": 4, "tile": 3}},
               "late": {"time_major": {"enabled": false, "block": 4, "tile": 3}}}
}"#;

fn steps(dir: &Path, name: &str, days: &[i64], version: f32) -> PathBuf {
    let path = dir.join(name);
    let spec = DailySteps { days, time_units: "days since 2025-01-01", version, grid: (6, 8) };
    write_daily_steps(&path, &spec).unwrap_or_else(|e| panic!("{name}: {e}"));
    path
}

fn limits(budget: &Budget) -> Limits<'_> {
    Limits { budget, concurrency: 4, answer_bytes_per_value: 20 }
}

/// The view as it is, and the same view with the copy hidden.
async fn views(
    hub: &dyn Repository,
    dataset: &str,
) -> (Box<dyn hub_core::ports::DatasetReader>, DatasetView, DatasetView) {
    let id = DatasetId::new(dataset).unwrap();
    let reader = hub.open(&id, &Version::Latest).await.unwrap();
    let view = DatasetView::load(id, reader.as_ref(), &NoProjections).await.unwrap();
    let mut map_only = view.clone();
    for p in &mut map_only.parameters {
        p.time_major = None;
    }
    (reader, view, map_only)
}

fn bits(v: &[Option<f64>]) -> Vec<Option<u64>> {
    v.iter().map(|x| x.map(f64::to_bits)).collect()
}

/// Every query type gives the same values with and without the copy; the
/// point series are the fixture's values. Returns the copy's steps.
async fn same_answers(
    hub: &dyn Repository,
    dataset: &str,
    days: &[i64],
    version_of: &dyn Fn(i64) -> f32,
    on: bool,
) -> u64 {
    let (reader, view, map_only) = views(hub, dataset).await;
    let copy = view.parameter("tas").unwrap().time_major.clone();
    let n = days.len() as u64;
    let covered = copy.as_ref().map_or(0, |c| c.covered);
    let want = if on { n / BLOCK * BLOCK } else { 0 };
    assert_eq!(covered, want, "{dataset}: the copy holds the whole blocks of {n} steps");
    let budget = Budget::default();
    let point = LonLat { lon: -155.0, lat: -75.0 }; // cell (1, 2) of the 10° grid
    let region = RegionSet::build(
        RegionSetId::new("one").unwrap(),
        vec![FeatureInput {
            number: 1,
            id: Some("box".into()),
            name: None,
            polygons: vec![vec![vec![
                [-172.0, -82.0],
                [-131.0, -82.0],
                [-131.0, -51.0],
                [-172.0, -51.0],
                [-172.0, -82.0],
            ]]],
        }],
        None,
    )
    .unwrap();
    let cells = CellGrid::new(&view.grids[0].grid, &CellBounds::Midpoints).unwrap();
    let w = Arc::new(weights(&cells, &region.regions[0].shape));
    let places = [
        Place::Position { points: vec![point], method: Interpolation::Nearest },
        Place::Position { points: vec![point, LonLat { lon: -105.0, lat: -35.0 }], method: Interpolation::Linear },
        Place::Cube { bbox: [-170.0, -80.0, -120.0, -50.0] },
        Place::Radius { center: point, km: 1500.0 },
    ];
    for place in places {
        let q = EdrQuery { place: place.clone(), selections: Selections::default(), instance: None };
        let a = execute(&view, reader.as_ref(), &q, &limits(&budget)).await.unwrap();
        let b = execute(&map_only, reader.as_ref(), &q, &limits(&budget)).await.unwrap();
        assert_eq!(bits(&a.params[0].values), bits(&b.params[0].values), "{dataset} {place:?}");
        assert_eq!(a.params[0].values.len() % days.len(), 0);
    }
    // The point series is the fixture's: day × 100 + cell, plus the delivery's version.
    let q = EdrQuery {
        place: Place::Position { points: vec![point], method: Interpolation::Nearest },
        selections: Selections::default(),
        instance: None,
    };
    let x = execute(&view, reader.as_ref(), &q, &limits(&budget)).await.unwrap();
    let want: Vec<Option<f64>> =
        days.iter().map(|d| Some(f64::from(DailySteps::value(*d, 1, 2, version_of(*d))))).collect();
    assert_eq!(x.params[0].values, want, "{dataset}: the point series");
    // Region statistics computed from either layout.
    let stats = vec![Statistic::Mean, Statistic::Max, Statistic::Std];
    let ask = RegionRequest { weights: w.clone(), statistics: stats, stored: None };
    let q = EdrQuery { place: Place::Region { weights: w }, selections: Selections::default(), instance: None };
    let a = region_statistics(&view, reader.as_ref(), &q, &ask, &limits(&budget)).await.unwrap();
    let b = region_statistics(&map_only, reader.as_ref(), &q, &ask, &limits(&budget)).await.unwrap();
    for (x, y) in a.columns.iter().zip(&b.columns) {
        assert_eq!(bits(&x.values), bits(&y.values), "{dataset}: region {:?}", x.statistic);
    }
    // The planner reads the copy for a point series once it holds a block
    // (fewer chunks than one map per step).
    let p = view.parameter("tas").unwrap();
    let read = LayoutRead::choose(p, vec![(0..days.len()).collect(), vec![1], vec![2]]).unwrap();
    assert_eq!(read.uses_copy(), covered > 0, "{dataset}: {read:?}");
    covered
}

async fn copy_follows_every_ingest(backend: Backend) {
    let Some(root) = backend.root().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = TestHub::new(root.url.clone());
    hub_store::store_dataset_config(&t.hub.root_store(), CONFIG).await.unwrap();
    let config = DatasetConfig::parse(CONFIG).unwrap();
    let mut days: Vec<i64> = Vec::new();
    let fixed = |d: i64| if [12, 13, 18].contains(&d) { 0.5 } else { 0.0 };
    let mut corrected = false;
    for (name, new, version, key) in [
        ("a.nc", vec![10, 11, 12, 13, 14], 0.0, "a"),
        ("b.nc", vec![15, 16, 17], 0.0, "b"),
        ("c.nc", vec![6, 5], 0.0, "c"),
        ("d8.nc", vec![8], 0.0, "d8"),
        ("d7.nc", vec![7], 0.0, "d7"),
        ("fix.nc", vec![12, 13, 18], 0.5, "a"),
        ("g.nc", vec![19], 0.0, "g"),
    ] {
        let f = steps(dir.path(), name, &new, version);
        let r = t.ingest_configured(&config, &f, &format!("incoming/daily/{key}.nc")).await;
        assert_eq!(r.status, IngestStatus::Committed, "{name}: {:?}", r.error);
        assert!(r.derived.iter().any(|d| d.starts_with("time_major")), "{name}: {:?}", r.derived);
        if name == "g.nc" {
            // An append that completes no block leaves the copy as it is.
            assert!(r.derived.iter().any(|d| d == "time_major: nothing to do"), "{name}: {:?}", r.derived);
        }
        days.extend(&new);
        days.sort_unstable();
        days.dedup();
        corrected |= version > 0.0;
        let version_of = |d: i64| if corrected { fixed(d) } else { 0.0 };
        same_answers(t.hub.as_ref(), "daily", &days, &version_of, true).await;
    }
    assert_eq!(days.len(), 14, "days 5..19 but 9");

    // Every ingest committed once: the copy rode in the data's commits.
    let history = t.hub.history(&DatasetId::new("daily").unwrap(), 100).await.unwrap();
    assert!(history.iter().all(|c| !c.message.starts_with("derived")), "{history:?}");

    // A dataset whose copy was off: a backfill builds the same copy.
    let all: Vec<i64> = days.clone();
    let f = steps(dir.path(), "late.nc", &all, 0.0);
    assert_eq!(t.ingest_configured(&config, &f, "incoming/late/late.nc").await.status, IngestStatus::Committed);
    let late = DatasetId::new("late").unwrap();
    assert!(views(t.hub.as_ref(), "late").await.1.parameter("tas").unwrap().time_major.is_none());
    // The configuration's block and tile; the build switches the copy on for its run.
    let on = hub_core::time_major::TimeMajorSettings { enabled: Some(false), block: Some(BLOCK), tile: Some(3) };
    // Two blocks per commit: 12 steps in two commits, resumable between them.
    // Stopped after one commit (a Lambda invocation's share), then resumed.
    let first = hub_core::time_major::build(t.hub.as_ref(), &late, on.clone(), 2, Some(1)).await.unwrap();
    assert!(!first.finished && first.commits.len() == 1, "{first:?}");
    let rest = hub_core::time_major::build(t.hub.as_ref(), &late, on.clone(), 2, None).await.unwrap();
    assert!(rest.finished, "{rest:?}");
    let texts: Vec<&str> = first.commits.iter().chain(&rest.commits).map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains("8 of 14 steps") && texts[1].contains("12 of 14 steps"), "{texts:?}");
    same_answers(t.hub.as_ref(), "late", &all, &|_| 0.0, true).await;
    // Run again, it finds nothing to do and commits nothing.
    let again = hub_core::time_major::build(t.hub.as_ref(), &late, on, 2, None).await.unwrap();
    assert!(again.finished && again.commits.is_empty(), "{again:?}");
    // A copy that the configuration turns off is emptied by the next ingest
    // (it would no longer be kept in step): reads go back to the map layout.
    let f = steps(dir.path(), "late2.nc", &[30], 0.0);
    assert_eq!(t.ingest_configured(&config, &f, "incoming/late/late2.nc").await.status, IngestStatus::Committed);
    assert!(views(t.hub.as_ref(), "late").await.1.parameter("tas").unwrap().time_major.is_none());
    let mut with_late = all.clone();
    with_late.push(30);
    same_answers(t.hub.as_ref(), "late", &with_late, &|_| 0.0, false).await;

    // xarray opens the copy's group: the data's values for its steps.
    if let (Backend::File, Some(python)) = (backend, hub_testkit::python()) {
        let manifest = dir.path().join("manifest.json");
        let repos: Vec<String> = ["daily"]
            .iter()
            .map(|d| root.dir.as_ref().unwrap().path().join("hub").join(d).to_string_lossy().into_owned())
            .collect();
        std::fs::write(&manifest, serde_json::json!({ "repos": repos }).to_string()).unwrap();
        let out = run_interop(&python, "check_time_major.py", &manifest);
        assert!(out.contains("daily: tas 12 of 14 steps"), "{out}");
    }
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_follows_every_ingest_memory() {
    copy_follows_every_ingest(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_follows_every_ingest_file() {
    copy_follows_every_ingest(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_follows_every_ingest_s3() {
    copy_follows_every_ingest(Backend::S3).await;
}

/// A long point series from the copy reads one chunk per block and the
/// trailing steps' map chunks: 12 steps in 3 blocks and 1 step after them
/// are 4 chunks, not the 13 maps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_series_reads_a_handful_of_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let url = hub_store::StoreUrl::from_path(&dir.path().join("hub")).unwrap();
    let t = TestHub::new(url.clone());
    hub_store::store_dataset_config(&t.hub.root_store(), CONFIG).await.unwrap();
    let config = DatasetConfig::parse(CONFIG).unwrap();
    let days: Vec<i64> = (0..13).collect();
    let f = steps(dir.path(), "all.nc", &days, 0.0);
    assert_eq!(t.ingest_configured(&config, &f, "incoming/daily/all.nc").await.status, IngestStatus::Committed);
    let counter = Arc::new(ReadCounter::default());
    let hub =
        IcechunkHub::new(url, HubSettings { read_counter: Some(counter.clone()), ..HubSettings::default() }).unwrap();
    let (reader, view, map_only) = views(&hub, "daily").await;
    let q = EdrQuery {
        place: Place::Position { points: vec![LonLat { lon: -155.0, lat: -75.0 }], method: Interpolation::Nearest },
        selections: Selections::default(),
        instance: None,
    };
    let budget = Budget::default();
    counter.reset();
    let x = execute(&view, reader.as_ref(), &q, &limits(&budget)).await.unwrap();
    assert_eq!(x.params[0].values.len(), 13);
    assert_eq!(counter.chunks(), 4, "3 blocks of the copy and the last map");
    counter.reset();
    execute(&map_only, reader.as_ref(), &q, &limits(&budget)).await.unwrap();
    assert_eq!(counter.chunks(), 13, "one map per step");
}

/// The copy written under a strip budget smaller than one map chunk (each
/// block in tile-sized strips, every map chunk read once per strip, as a day
/// of full-map radar composites is written) answers as the map layout does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_written_in_small_strips_is_the_same() {
    use hub_core::derived::{Changes, Derivation, Steps};
    let dir = tempfile::tempdir().unwrap();
    let url = hub_store::StoreUrl::from_path(&dir.path().join("hub")).unwrap();
    let t = TestHub::new(url);
    hub_store::store_dataset_config(&t.hub.root_store(), CONFIG).await.unwrap();
    let config = DatasetConfig::parse(CONFIG).unwrap();
    let days: Vec<i64> = (0..9).collect();
    let f = steps(dir.path(), "all.nc", &days, 0.0);
    assert_eq!(t.ingest_configured(&config, &f, "incoming/late/all.nc").await.status, IngestStatus::Committed);
    let id = DatasetId::new("late").unwrap();
    let on = hub_core::time_major::TimeMajorSettings { enabled: Some(true), block: Some(BLOCK), tile: Some(3) };
    // One byte: every strip is one 3 × 3 tile of the 6 × 8 grid.
    let d = hub_core::time_major::TimeMajorDerivation { settings: on, max_blocks: None, strip_bytes: Some(1) };
    let tx = t.hub.begin(&id).await.unwrap();
    let changes = Changes { dim: None, steps: Steps::All, variables: None };
    let text = d.update(&id, tx.as_ref(), &changes).await.unwrap();
    assert!(text.contains("8 of 9 steps in blocks of 4 (2 written)"), "{text}");
    tx.commit(hub_core::derived::commit_request("time_major")).await.unwrap();
    same_answers(t.hub.as_ref(), "late", &days, &|_| 0.0, true).await;
}
