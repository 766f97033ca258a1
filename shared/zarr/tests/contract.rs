//! The repository contract suite on every backend: memory, a local folder, and
//! the S3-compatible test server.

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
