//! The repository contract suite on every backend: memory, a local folder, and
//! the S3-compatible test server; and the folder's direct chunk reads.

use hub_core::conformance;
use hub_testkit::Backend;
use hub_zarr::{HubSettings, IcechunkHub};

async fn run(backend: Backend) {
    let Some(root) = backend.root().await else {
        return;
    };
    let hub = IcechunkHub::new(root.url.clone(), HubSettings::default()).unwrap_or_else(|e| panic!("{e}"));
    conformance::run_all(&hub).await;
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_memory() {
    run(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_file() {
    run(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_s3() {
    run(Backend::S3).await;
}

// On a local folder, chunks are read straight from their files (one
// positional read each, not Icechunk's stream of 8 KiB hops), and give the
// values written; a chunk whose file is damaged is still refused.
mod files {
    use std::sync::Arc;

    use hub_core::cf::FillValue;
    use hub_core::model::{ArrayLayout, Block, BlockData, Compression, DataType, DatasetId, Hyperslab, SourceMarker};
    use hub_core::ports::{ArraySpec, CommitRequest, Repository, Version};
    use hub_store::StoreUrl;
    use hub_zarr::{HubSettings, IcechunkHub, ReadCounter};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chunks_are_read_from_their_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = StoreUrl::from_path(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let hub = IcechunkHub::new(url.clone(), HubSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        let id = DatasetId::new("noise").unwrap_or_else(|e| panic!("{e}"));
        // Values no compressor shrinks below Icechunk's inline size: chunks are objects.
        let mut x = 0x2545_f491_u32;
        let values: Vec<u8> = (0..4 * 64 * 64 * 4)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect();
        let tx = hub.begin(&id).await.unwrap_or_else(|e| panic!("{e}"));
        let spec = ArraySpec {
            path: "v".into(),
            dims: vec!["t".into(), "y".into(), "x".into()],
            shape: vec![4, 64, 64],
            dtype: DataType::Float32,
            fill_value: FillValue::Float(f64::NAN),
            layout: ArrayLayout { chunks: vec![1, 32, 32], shard: None, compression: Compression::default() },
            attrs: Default::default(),
        };
        tx.create_array(&spec).await.unwrap_or_else(|e| panic!("{e}"));
        let block = Block { region: Hyperslab::full(&[4, 64, 64]), data: BlockData::Numeric(values.clone()) };
        tx.write_block("v", Arc::new(block)).await.unwrap_or_else(|e| panic!("{e}"));
        let marker = SourceMarker { key: "k".into(), etag: None, size: 0, ingested_at: "2026-01-01T00:00:00Z".into() };
        let request = CommitRequest { message: "noise".into(), marker, properties: Default::default() };
        tx.commit(request).await.unwrap_or_else(|e| panic!("{e}"));

        let counter = Arc::new(ReadCounter::default());
        let counted =
            IcechunkHub::new(url, HubSettings { read_counter: Some(counter.clone()), ..HubSettings::default() })
                .unwrap_or_else(|e| panic!("{e}"));
        let reader = counted.open(&id, &Version::Latest).await.unwrap_or_else(|e| panic!("{e}"));
        let got = reader.read("v", &Hyperslab::full(&[4, 64, 64])).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, BlockData::Numeric(values), "the values written");
        assert_eq!((counter.chunks(), counter.from_files()), (16, 16), "every chunk from its file");

        // A damaged chunk file: refused as corrupt data, not returned.
        let chunks = dir.path().join("noise/chunks");
        let first = std::fs::read_dir(&chunks).unwrap_or_else(|e| panic!("{e}")).next();
        let file = first.and_then(Result::ok).map(|e| e.path()).unwrap_or_else(|| panic!("no chunk files"));
        let mut bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{e}"));
        bytes.iter_mut().take(16).for_each(|b| *b ^= 0xff);
        std::fs::write(&file, bytes).unwrap_or_else(|e| panic!("{e}"));
        let reader = counted.open(&id, &Version::Latest).await.unwrap_or_else(|e| panic!("{e}"));
        let err = reader.read("v", &Hyperslab::full(&[4, 64, 64])).await;
        assert!(err.is_err(), "a damaged chunk was read as data");
    }
}
