//! The contract every [`Repository`] adapter must meet, as async checks an
//! adapter's tests run on each of its backends (memory, local folder, S3).
//! A backend is done when every check passes.
//!
//! Each check panics with a message on failure (they are test code).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use crate::cf::FillValue;
use crate::ingest::{ArrayLayout, Compression};
use crate::model::{AttrValue, Attributes, Block, BlockData, DataType, DatasetId, Hyperslab};
use crate::ports::{ArraySpec, CommitRequest, RepoError, Repository, SourceMarker, Version};

fn id(name: &str) -> DatasetId {
    DatasetId::new(name).unwrap()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn spec(path: &str, shape: &[u64], chunks: &[u64], shard: Option<Vec<u64>>) -> ArraySpec {
    let mut attrs = Attributes::new();
    attrs.insert("units".into(), AttrValue::text("K"));
    attrs.insert("_FillValue".into(), AttrValue::Floats(DataType::Float32, vec![-9999.0]));
    attrs.insert("valid_range".into(), AttrValue::Floats(DataType::Float32, vec![0.0, 400.0]));
    ArraySpec {
        path: path.into(),
        dims: (0..shape.len()).map(|i| ["time", "y", "x"][i % 3].to_string()).collect(),
        shape: shape.to_vec(),
        dtype: DataType::Float32,
        fill_value: FillValue::Float(-9999.0),
        layout: ArrayLayout { chunks: chunks.to_vec(), shard, compression: Compression::Zstd { level: 3 } },
        attrs,
    }
}

fn marker(key: &str, etag: &str) -> SourceMarker {
    SourceMarker { key: key.into(), etag: Some(etag.into()), size: 42, ingested_at: "2026-01-01T00:00:00Z".into() }
}

fn commit(key: &str) -> CommitRequest {
    let mut properties = serde_json::Map::new();
    properties.insert("hub.source_key".into(), key.into());
    CommitRequest { message: format!("ingest {key}"), marker: marker(key, "e1"), properties }
}

/// A 7 x 5 x 6 field with a few fill values; chunks 4 x 3 x 6 leave edge chunks.
fn field() -> Vec<f32> {
    (0..7 * 5 * 6).map(|i| if i % 13 == 0 { -9999.0 } else { i as f32 * 0.5 }).collect()
}

async fn write_field(repo: &dyn Repository, ds: &DatasetId, key: &str) -> String {
    let tx = repo.begin(ds).await.unwrap();
    tx.put_group("", &Attributes::from_iter([("title".to_string(), AttrValue::text("contract"))])).await.unwrap();
    tx.create_array(&spec("t", &[7, 5, 6], &[4, 3, 6], None)).await.unwrap();
    let data = field();
    // Two blocks aligned to chunks along the first axis.
    let first = Hyperslab { start: vec![0, 0, 0], shape: vec![4, 5, 6] };
    let second = Hyperslab { start: vec![4, 0, 0], shape: vec![3, 5, 6] };
    tx.write_block("t", Arc::new(Block { region: first, data: BlockData::Numeric(f32_bytes(&data[..4 * 30])) }))
        .await
        .unwrap();
    tx.write_block("t", Arc::new(Block { region: second, data: BlockData::Numeric(f32_bytes(&data[4 * 30..])) }))
        .await
        .unwrap();
    tx.commit(commit(key)).await.unwrap()
}

fn as_f32(data: BlockData) -> Vec<f32> {
    match data {
        BlockData::Numeric(b) => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        BlockData::Strings(_) => panic!("expected numbers"),
    }
}

/// A fresh hub lists no dataset, and opening one is NotFound.
pub async fn empty_hub(repo: &dyn Repository) {
    assert!(repo.datasets().await.unwrap().is_empty());
    match repo.open(&id("nothing"), &Version::Latest).await {
        Err(RepoError::NotFound(_)) => {}
        Err(e) => panic!("expected NotFound, got {e}"),
        Ok(_) => panic!("expected NotFound, got a dataset"),
    }
}

/// Written blocks read back identically, whole and in parts, with metadata.
pub async fn write_commit_read(repo: &dyn Repository) {
    let ds = id("roundtrip");
    let snapshot = write_field(repo, &ds, "a.nc").await;
    assert_eq!(repo.datasets().await.unwrap(), vec![ds.clone()]);
    let reader = repo.open(&ds, &Version::Latest).await.unwrap();
    assert_eq!(reader.snapshot_id(), snapshot);
    let arrays = reader.arrays().await.unwrap();
    assert_eq!(arrays.len(), 1, "{arrays:?}");
    let a = &arrays[0];
    assert_eq!((a.path.as_str(), a.shape.as_slice(), a.chunks.as_slice()), ("t", &[7u64, 5, 6][..], &[4u64, 3, 6][..]));
    assert_eq!(a.dims, vec!["time", "y", "x"]);
    assert_eq!(a.dtype, DataType::Float32);
    assert_eq!(a.attrs.get("units").and_then(AttrValue::as_text), Some("K"));
    assert_eq!(a.attrs.get("_FillValue").and_then(AttrValue::as_f64), Some(-9999.0));
    assert_eq!(a.attrs.get("valid_range").and_then(AttrValue::as_f64s), Some(vec![0.0, 400.0]));
    let groups = reader.groups().await.unwrap();
    let root = groups.iter().find(|g| g.path.is_empty()).expect("root group");
    assert_eq!(root.attrs.get("title").and_then(AttrValue::as_text), Some("contract"));
    assert_eq!(as_f32(reader.read("t", &Hyperslab::full(&[7, 5, 6])).await.unwrap()), field());
    let part = Hyperslab { start: vec![3, 1, 2], shape: vec![3, 4, 3] };
    let got = as_f32(reader.read("t", &part).await.unwrap());
    let all = field();
    let want: Vec<f32> = (3..6)
        .flat_map(|t| (1..5).flat_map(move |y| (2..5).map(move |x| (t, y, x))))
        .map(|(t, y, x)| all[t * 30 + y * 6 + x])
        .collect();
    assert_eq!(got, want);
    assert!(reader.stored_bytes("t").await.unwrap() > 0);
}

/// A transaction dropped without commit leaves the dataset as it was.
pub async fn uncommitted_changes_are_invisible(repo: &dyn Repository) {
    let ds = id("abandoned");
    let before = write_field(repo, &ds, "a.nc").await;
    {
        let tx = repo.begin(&ds).await.unwrap();
        tx.create_array(&spec("other", &[2, 2, 2], &[2, 2, 2], None)).await.unwrap();
        let data = f32_bytes(&[1.0; 8]);
        tx.write_block(
            "other",
            Arc::new(Block { region: Hyperslab::full(&[2, 2, 2]), data: BlockData::Numeric(data) }),
        )
        .await
        .unwrap();
        // dropped here
    }
    let reader = repo.open(&ds, &Version::Latest).await.unwrap();
    assert_eq!(reader.snapshot_id(), before);
    assert_eq!(reader.arrays().await.unwrap().len(), 1);
}

/// The source marker is committed with the data and found by key.
pub async fn markers_identify_sources(repo: &dyn Repository) {
    let ds = id("markers");
    write_field(repo, &ds, "incoming/markers/a b.nc").await;
    let tx = repo.begin(&ds).await.unwrap();
    let m = tx.source_marker("incoming/markers/a b.nc").await.unwrap().expect("marker");
    assert_eq!(m.etag.as_deref(), Some("e1"));
    assert_eq!(m.size, 42);
    assert!(tx.source_marker("incoming/markers/other.nc").await.unwrap().is_none());
    // Markers are not arrays of the dataset.
    assert_eq!(tx.arrays().await.unwrap().len(), 1);
}

/// Chunks holding only the fill value are not stored and read as fill.
pub async fn fill_chunks_are_skipped(repo: &dyn Repository) {
    let ds = id("sparse");
    let tx = repo.begin(&ds).await.unwrap();
    tx.put_group("", &Attributes::new()).await.unwrap();
    tx.create_array(&spec("s", &[4, 4], &[2, 2], None)).await.unwrap();
    let mut values = vec![-9999.0f32; 16];
    values[0] = 1.0; // only the first chunk holds data
    let stats = tx
        .write_block(
            "s",
            Arc::new(Block { region: Hyperslab::full(&[4, 4]), data: BlockData::Numeric(f32_bytes(&values)) }),
        )
        .await
        .unwrap();
    assert_eq!((stats.chunks_written, stats.chunks_skipped), (1, 3));
    tx.commit(commit("s.nc")).await.unwrap();
    let reader = repo.open(&ds, &Version::Latest).await.unwrap();
    assert_eq!(as_f32(reader.read("s", &Hyperslab::full(&[4, 4])).await.unwrap()), values);
    // Parts of stored and of absent chunks.
    let part = Hyperslab { start: vec![1, 1], shape: vec![2, 3] };
    assert_eq!(as_f32(reader.read("s", &part).await.unwrap()), vec![-9999.0; 6]);
    let part = Hyperslab { start: vec![0, 0], shape: vec![1, 3] };
    assert_eq!(as_f32(reader.read("s", &part).await.unwrap()), vec![1.0, -9999.0, -9999.0]);
}

/// History lists commits newest first; old snapshots stay readable.
pub async fn history_and_time_travel(repo: &dyn Repository) {
    let ds = id("history");
    let first = write_field(repo, &ds, "a.nc").await;
    let tx = repo.begin(&ds).await.unwrap();
    tx.create_array(&spec("more", &[2, 2, 2], &[2, 2, 2], None)).await.unwrap();
    tx.write_block(
        "more",
        Arc::new(Block { region: Hyperslab::full(&[2, 2, 2]), data: BlockData::Numeric(f32_bytes(&[3.0; 8])) }),
    )
    .await
    .unwrap();
    let second = tx.commit(commit("b.nc")).await.unwrap();
    let history = repo.history(&ds, 10).await.unwrap();
    assert_eq!(history[0].snapshot_id, second);
    assert_eq!(history[1].snapshot_id, first);
    assert_eq!(history[0].message, "ingest b.nc");
    assert_eq!(history[0].properties.get("hub.source_key"), Some(&serde_json::json!("b.nc")));
    let old = repo.open(&ds, &Version::Snapshot(first)).await.unwrap();
    assert_eq!(old.arrays().await.unwrap().len(), 1);
    let new = repo.open(&ds, &Version::Latest).await.unwrap();
    assert_eq!(new.arrays().await.unwrap().len(), 2);
    assert!(matches!(repo.open(&ds, &Version::Snapshot("NOTASNAPSHOT".into())).await, Err(RepoError::NotFound(_))));
}

/// Text arrays and scalars round-trip.
pub async fn strings_and_scalars(repo: &dyn Repository) {
    let ds = id("text");
    let tx = repo.begin(&ds).await.unwrap();
    tx.put_group("", &Attributes::new()).await.unwrap();
    let mut names = spec("name", &[3], &[3], None);
    names.dtype = DataType::String;
    names.fill_value = FillValue::Text(String::new());
    names.attrs.clear();
    tx.create_array(&names).await.unwrap();
    let texts = vec!["Hà Nội".to_string(), String::new(), "Montréal".to_string()];
    tx.write_block("name", Arc::new(Block { region: Hyperslab::full(&[3]), data: BlockData::Strings(texts.clone()) }))
        .await
        .unwrap();
    let mut height = spec("height", &[], &[], None);
    height.dims.clear();
    tx.create_array(&height).await.unwrap();
    tx.write_block(
        "height",
        Arc::new(Block { region: Hyperslab::full(&[]), data: BlockData::Numeric(f32_bytes(&[2.0])) }),
    )
    .await
    .unwrap();
    tx.commit(commit("t.nc")).await.unwrap();
    let reader = repo.open(&ds, &Version::Latest).await.unwrap();
    assert_eq!(reader.read("name", &Hyperslab::full(&[3])).await.unwrap(), BlockData::Strings(texts));
    assert_eq!(as_f32(reader.read("height", &Hyperslab::full(&[])).await.unwrap()), vec![2.0]);
}

/// Sharded arrays: whole shards written, any region read back.
pub async fn sharded_arrays(repo: &dyn Repository) {
    let ds = id("sharded");
    let tx = repo.begin(&ds).await.unwrap();
    tx.put_group("", &Attributes::new()).await.unwrap();
    tx.create_array(&spec("t", &[7, 5, 6], &[2, 3, 3], Some(vec![4, 3, 6]))).await.unwrap();
    tx.write_block(
        "t",
        Arc::new(Block { region: Hyperslab::full(&[7, 5, 6]), data: BlockData::Numeric(f32_bytes(&field())) }),
    )
    .await
    .unwrap();
    tx.commit(commit("sh.nc")).await.unwrap();
    let reader = repo.open(&ds, &Version::Latest).await.unwrap();
    assert_eq!(reader.arrays().await.unwrap()[0].shard, Some(vec![4, 3, 6]));
    assert_eq!(as_f32(reader.read("t", &Hyperslab::full(&[7, 5, 6])).await.unwrap()), field());
    let part = Hyperslab { start: vec![3, 2, 1], shape: vec![2, 2, 4] };
    let all = field();
    let want: Vec<f32> = (3..5)
        .flat_map(|t| (2..4).flat_map(move |y| (1..5).map(move |x| (t, y, x))))
        .map(|(t, y, x)| all[t * 30 + y * 6 + x])
        .collect();
    assert_eq!(as_f32(reader.read("t", &part).await.unwrap()), want);
    // A shard holding only fill values is not stored, and reads as fill.
    let tx = repo.begin(&ds).await.unwrap();
    tx.create_array(&spec("sparse", &[8, 4], &[2, 2], Some(vec![4, 4]))).await.unwrap();
    let mut values = vec![-9999.0f32; 32];
    values[0] = 5.0;
    let stats = tx
        .write_block(
            "sparse",
            Arc::new(Block { region: Hyperslab::full(&[8, 4]), data: BlockData::Numeric(f32_bytes(&values)) }),
        )
        .await
        .unwrap();
    assert_eq!((stats.chunks_written, stats.chunks_skipped), (1, 1));
    tx.commit(commit("sparse.nc")).await.unwrap();
    let reader = repo.open(&ds, &Version::Latest).await.unwrap();
    let part = Hyperslab { start: vec![0, 1], shape: vec![6, 2] };
    let got = as_f32(reader.read("sparse", &part).await.unwrap());
    assert_eq!(got, vec![-9999.0; 12]);
    assert_eq!(as_f32(reader.read("sparse", &Hyperslab::full(&[8, 4])).await.unwrap()), values);
}

/// Blocks that do not fit the array are refused with `Invalid`.
pub async fn bad_blocks_are_refused(repo: &dyn Repository) {
    let ds = id("refusals");
    let tx = repo.begin(&ds).await.unwrap();
    tx.create_array(&spec("t", &[7, 5, 6], &[4, 3, 6], None)).await.unwrap();
    let misaligned = Hyperslab { start: vec![1, 0, 0], shape: vec![2, 5, 6] };
    let r = tx
        .write_block("t", Arc::new(Block { region: misaligned, data: BlockData::Numeric(f32_bytes(&[0.0; 60])) }))
        .await;
    assert!(matches!(r, Err(RepoError::Invalid(_))), "misaligned: {r:?}");
    let outside = Hyperslab { start: vec![4, 0, 0], shape: vec![4, 5, 6] };
    let r = tx
        .write_block("t", Arc::new(Block { region: outside, data: BlockData::Numeric(f32_bytes(&[0.0; 120])) }))
        .await;
    assert!(matches!(r, Err(RepoError::Invalid(_))), "outside: {r:?}");
    let short = Hyperslab { start: vec![0, 0, 0], shape: vec![4, 5, 6] };
    let r = tx.write_block("t", Arc::new(Block { region: short, data: BlockData::Numeric(vec![0; 7]) })).await;
    assert!(matches!(r, Err(RepoError::Invalid(_))), "short: {r:?}");
}

/// Transactions on one dataset are serialized: concurrent writers both land.
pub async fn concurrent_transactions_serialize(repo: &dyn Repository) {
    let ds = id("serialized");
    write_field(repo, &ds, "base.nc").await;
    let a = async {
        let tx = repo.begin(&ds).await.unwrap();
        tx.create_array(&spec("a", &[2, 2, 2], &[2, 2, 2], None)).await.unwrap();
        tx.write_block(
            "a",
            Arc::new(Block { region: Hyperslab::full(&[2, 2, 2]), data: BlockData::Numeric(f32_bytes(&[1.0; 8])) }),
        )
        .await
        .unwrap();
        tx.commit(commit("a.nc")).await.unwrap()
    };
    let b = async {
        let tx = repo.begin(&ds).await.unwrap();
        tx.create_array(&spec("b", &[2, 2, 2], &[2, 2, 2], None)).await.unwrap();
        tx.write_block(
            "b",
            Arc::new(Block { region: Hyperslab::full(&[2, 2, 2]), data: BlockData::Numeric(f32_bytes(&[2.0; 8])) }),
        )
        .await
        .unwrap();
        tx.commit(commit("b.nc")).await.unwrap()
    };
    let (sa, sb) = futures::join!(a, b);
    assert_ne!(sa, sb);
    let reader = repo.open(&ds, &Version::Latest).await.unwrap();
    let names: Vec<String> = reader.arrays().await.unwrap().into_iter().map(|a| a.path).collect();
    assert_eq!(names, vec!["a", "b", "t"]);
}

/// Every check, in order, each on its own dataset.
pub async fn run_all(repo: &dyn Repository) {
    empty_hub(repo).await;
    write_commit_read(repo).await;
    uncommitted_changes_are_invisible(repo).await;
    markers_identify_sources(repo).await;
    fill_chunks_are_skipped(repo).await;
    history_and_time_travel(repo).await;
    strings_and_scalars(repo).await;
    sharded_arrays(repo).await;
    bad_blocks_are_refused(repo).await;
    concurrent_transactions_serialize(repo).await;
}
