//! Region series kept in step with the data: a region set attached to a
//! dataset gets its series written by the same commit as every ingest —
//! the first file, steps at the end, late steps that move stored ones, a
//! correction that replaces steps — and after each the stored series equal
//! the statistics computed from the data (the same numbers, not nearly),
//! on memory, a folder and the S3 test server. A backfill (`attach`) writes
//! the series of a dataset that had data before the set was attached.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hub_core::analytics::Statistic;
use hub_core::derived::{Derivations, backfill};
use hub_core::ingest::{DatasetConfig, IngestStatus};
use hub_core::model::DatasetId;
use hub_core::ports::{RegionStore, Repository, Version};
use hub_core::query::{Budget, DatasetView};
use hub_core::query::{
    EdrQuery, Limits, NoProjections, Place, RegionCatalog, RegionRequest, Selections, region_statistics,
};
use hub_core::regions::series::{RegionDerivations, series_path};
use hub_core::regions::{FeatureInput, RegionSet, RegionSetId};
use hub_e2e::TestHub;
use hub_netcdf::fixtures::{DailySteps, write_daily_steps};
use hub_store::ObjectStoreRegions;
use hub_testkit::Backend;

const STATS: &[Statistic] = &[Statistic::Mean, Statistic::Max, Statistic::ValidFraction];

fn steps(dir: &Path, name: &str, days: &[i64], version: f32) -> PathBuf {
    let path = dir.join(name);
    let spec = DailySteps { days, time_units: "days since 2025-01-01", version, grid: (6, 8) };
    write_daily_steps(&path, &spec).unwrap_or_else(|e| panic!("{name}: {e}"));
    path
}

/// Three regions over the fixture's 10° grid (lon -180..-100, lat -90..-30):
/// a box over whole and partial cells, a triangle, and one inside one cell.
fn set() -> RegionSet {
    let ring = |pts: &[(f64, f64)]| pts.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>();
    let f = |n: usize, id: &str, pts: &[(f64, f64)]| FeatureInput {
        number: n,
        id: Some(id.into()),
        name: Some(format!("region {id}")),
        polygons: vec![vec![ring(pts)]],
    };
    RegionSet::build(
        RegionSetId::new("basins").unwrap(),
        vec![
            f(1, "box", &[(-172.0, -82.0), (-141.0, -82.0), (-141.0, -61.0), (-172.0, -61.0), (-172.0, -82.0)]),
            f(2, "tri", &[(-150.0, -50.0), (-105.0, -75.0), (-110.0, -40.0), (-150.0, -50.0)]),
            f(3, "dot", &[(-123.0, -57.0), (-122.0, -57.0), (-122.0, -56.0), (-123.0, -56.0), (-123.0, -57.0)]),
        ],
        None,
    )
    .unwrap()
}

/// For every region: the series as stored, and as computed from the data.
async fn stored_equals_computed(
    hub: &dyn Repository,
    store: Arc<dyn RegionStore>,
    dataset: &str,
    steps: usize,
    stats: &[Statistic],
) {
    let id = DatasetId::new(dataset).unwrap();
    let reader = hub.open(&id, &Version::Latest).await.unwrap();
    let view = DatasetView::load(id.clone(), reader.as_ref(), &NoProjections).await.unwrap();
    for s in stats {
        assert!(view.arrays.iter().any(|a| a.path == series_path("basins", "tas", *s)), "no stored {s:?}");
    }
    let catalog = RegionCatalog::new(store, std::time::Duration::from_secs(0));
    let stored = catalog.set("basins").await.unwrap();
    let weights = catalog.weights(&view, reader.as_ref(), 0, &stored).await.unwrap();
    let query = EdrQuery {
        place: Place::Region { weights: Default::default() },
        selections: Selections::default(),
        instance: None,
    };
    let budget = Budget::default();
    let limits = Limits { budget: &budget, concurrency: 4, answer_bytes_per_value: 20 };
    for (k, w) in weights.iter().enumerate() {
        let ask = |stored_key| RegionRequest { weights: w.clone(), statistics: stats.to_vec(), stored: stored_key };
        let key = Some((stored.set.id.clone(), stored.version.clone(), k));
        let from_store = region_statistics(&view, reader.as_ref(), &query, &ask(key), &limits).await.unwrap();
        let computed = region_statistics(&view, reader.as_ref(), &query, &ask(None), &limits).await.unwrap();
        assert!(from_store.stored && !computed.stored);
        assert_eq!(from_store.columns.len(), computed.columns.len());
        for (a, b) in from_store.columns.iter().zip(&computed.columns) {
            assert_eq!(a.values.len(), steps);
            let bits = |v: &[Option<f64>]| v.iter().map(|x| x.map(f64::to_bits)).collect::<Vec<_>>();
            assert_eq!(bits(&a.values), bits(&b.values), "region {k} {:?}: stored vs computed", a.statistic);
            assert!(a.values.iter().all(Option::is_some), "every step has a value");
        }
    }
}

async fn series_follow_every_ingest(backend: Backend) {
    let Some(root) = backend.root().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = TestHub::new(root.url.clone());
    let store: Arc<dyn RegionStore> = Arc::new(ObjectStoreRegions::new(t.hub.root_store()));
    store.put(&set()).await.unwrap();
    let config = r#"{"datasets": {"daily": {"regions": ["basins"], "statistics": ["mean", "max", "valid-fraction"]}}}"#;
    hub_store::store_dataset_config(&t.hub.root_store(), config).await.unwrap();
    let id = DatasetId::new("daily").unwrap();
    let mut n = 0;
    // The first file, steps at the end, late steps before the start (every
    // stored step moves), single late steps in the middle, a correction.
    for (name, days, version, key) in [
        ("a.nc", vec![10, 11, 12, 13, 14], 0.0, "a"),
        ("b.nc", vec![15, 16, 17], 0.0, "b"),
        ("c.nc", vec![6, 5], 0.0, "c"),
        ("d8.nc", vec![8], 0.0, "d8"),
        ("d7.nc", vec![7], 0.0, "d7"),
        ("fix.nc", vec![12, 13, 18], 0.5, "a"),
    ] {
        let f = steps(dir.path(), name, &days, version);
        let r = t.ingest("daily", &f, &format!("incoming/daily/{key}.nc")).await;
        assert_eq!(r.status, IngestStatus::Committed, "{name}: {:?}", r.error);
        assert!(r.derived.iter().any(|d| d.starts_with("regions/basins")), "{name}: {:?}", r.derived);
        n = t
            .hub
            .open(&id, &Version::Latest)
            .await
            .unwrap()
            .arrays()
            .await
            .unwrap()
            .iter()
            .find(|a| a.path == "time")
            .unwrap()
            .shape[0] as usize;
        stored_equals_computed(t.hub.as_ref(), store.clone(), "daily", n, STATS).await;
    }
    assert_eq!(n, 13, "days 5..18 but 9");
    // The series are in the same commit as the data: one commit per ingest.
    let history = t.hub.history(&id, 100).await.unwrap();
    assert!(history.iter().all(|c| !c.message.starts_with("derived")), "{history:?}");

    // A dataset that had data before the set was attached: backfilled in one commit.
    let f = steps(dir.path(), "other.nc", &[1, 2, 3], 0.0);
    assert_eq!(t.ingest("other", &f, "incoming/other/other.nc").await.status, IngestStatus::Committed);
    let other = DatasetId::new("other").unwrap();
    let attached =
        DatasetConfig::attach(config, &RegionSetId::new("basins").unwrap(), std::slice::from_ref(&other)).unwrap();
    hub_store::store_dataset_config(&t.hub.root_store(), &attached).await.unwrap();
    let derivations = RegionDerivations { store: store.clone(), projections: Arc::new(NoProjections) };
    let list = derivations.for_dataset(&other).await.unwrap();
    let (snapshot, done) = backfill(t.hub.as_ref(), &other, &list, "regions/basins").await.unwrap();
    assert!(!snapshot.is_empty() && done[0].contains("3 steps"), "{done:?}");
    // Attached without statistics: the mean is kept.
    stored_equals_computed(t.hub.as_ref(), store.clone(), "other", 3, &[Statistic::Mean]).await;
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_follow_every_ingest_memory() {
    series_follow_every_ingest(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_follow_every_ingest_file() {
    series_follow_every_ingest(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_follow_every_ingest_s3() {
    series_follow_every_ingest(Backend::S3).await;
}
