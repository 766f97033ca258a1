//! The maintenance binary on the Lambda runtime path: started as Lambda
//! starts it, fed the schedule's event from `events/` and manual requests,
//! over a hub on a local folder holding a dataset and the chunks of an ingest
//! that never committed.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use hub_core::model::DatasetId;
use hub_e2e::TestHub;
use hub_store::StoreUrl;
use hub_testkit::lambda::{Outcome, RuntimeApi};
use serde_json::Value;

/// Files of the dataset's chunks on disk.
fn chunk_files(repo: &std::path::Path) -> usize {
    std::fs::read_dir(repo.join("demo-daily/chunks")).map(|d| d.count()).unwrap_or(0)
}

async fn invoke(api: &RuntimeApi, event: &[u8]) -> Outcome {
    api.invoke(event, Duration::from_secs(60)).await.unwrap()
}

#[tokio::test]
async fn scheduled_and_manual_upkeep_through_the_runtime_api() {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("demo.nc");
    hub_netcdf::fixtures::write_demo(&sample, 3).unwrap();
    let repo = dir.path().join("hub");
    std::fs::create_dir_all(&repo).unwrap();
    let t = TestHub::new(StoreUrl::from_path(&repo).unwrap());
    t.ingest("demo-daily", &sample, "incoming/demo-daily/demo.nc").await;
    let committed = chunk_files(&repo);
    assert!(committed > 0);

    // An ingest that wrote every chunk of a variable again and died.
    let id = DatasetId::new("demo-daily").unwrap();
    let (written, _) = hub_e2e::abandoned_write(t.hub.as_ref(), &id, "tas").await;
    let garbage = chunk_files(&repo) - committed;
    assert_eq!(garbage as u64, written, "the dead ingest's chunks are on disk");
    // Object stores date objects to the second.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let api = RuntimeApi::start().await;
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_maintain"));
    let _function = api.run(binary, "maintain", &[("HUB_REPO", &repo.to_string_lossy()), ("HUB_GC_GRACE_HOURS", "0")]);

    // A dry run names what would go and deletes nothing.
    let Outcome::Response(body) = invoke(&api, br#"{"dataset": "demo-daily", "dry_run": true}"#).await else {
        panic!("the dry run failed")
    };
    let dry: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(dry["reports"][0]["chunks_deleted"], garbage as u64, "{dry}");
    assert_eq!(dry["reports"][0]["dry_run"], true);
    assert_eq!(chunk_files(&repo), committed + garbage);

    // The schedule's event: every dataset, for real.
    let schedule = std::fs::read(hub_testkit::workspace_root().join("events/scheduled-maintenance.json")).unwrap();
    let Outcome::Response(body) = invoke(&api, &schedule).await else { panic!("the scheduled run failed") };
    let run: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(run["reports"].as_array().map(Vec::len), Some(1), "{run}");
    assert_eq!(run["reports"][0]["dataset"], "demo-daily");
    assert_eq!(run["reports"][0]["chunks_deleted"], garbage as u64, "{run}");
    assert_eq!(chunk_files(&repo), committed, "only the dead ingest's chunks went");
    assert_eq!(run["reports"][0]["expired_commits"], 0, "no retention configured: {run}");
    hub_e2e::assert_same_as_source(t.hub.as_ref(), "demo-daily", &sample).await;

    // Bad requests fail the invocation with why; nothing is touched.
    for (request, why) in [
        (&br#"{"dataset": "no such"}"#[..], "invalid request"),
        (br#"{"dataset": "ghost"}"#, "could not be collected"),
        (br#"{"dry_run": "yes"}"#, "invalid type"),
    ] {
        match invoke(&api, request).await {
            Outcome::Error(e) => assert!(e.contains(why), "{e}"),
            Outcome::Response(r) => {
                panic!("{} answered {}", String::from_utf8_lossy(request), String::from_utf8_lossy(&r))
            }
        }
    }
    assert_eq!(chunk_files(&repo), committed);

    // The layout task builds the time-major copy of data stored before it
    // was switched on, a share per invocation, until it says finished.
    let config = r#"{"datasets": {"demo-daily": {"time_major": {"block": 1, "tile": 8}}}}"#;
    hub_store::store_dataset_config(&t.hub.root_store(), config).await.unwrap();
    let share = br#"{"task": "layout", "dataset": "demo-daily", "blocks_per_commit": 1, "max_commits": 2}"#;
    let mut commits = 0;
    for finished in [false, true] {
        let Outcome::Response(body) = invoke(&api, share).await else { panic!("the layout task failed") };
        let run: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(run["finished"], finished, "{run}");
        commits += run["commits"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(commits, 3, "three one-day blocks, one per commit");
    let reader =
        hub_core::ports::Repository::open(t.hub.as_ref(), &id, &hub_core::ports::Version::Latest).await.unwrap();
    let view =
        hub_core::query::DatasetView::load(id.clone(), reader.as_ref(), &hub_core::query::NoProjections).await.unwrap();
    assert_eq!(view.parameter("tas").and_then(|p| p.time_major.as_ref()).map(|c| c.covered), Some(3));
    match invoke(&api, br#"{"task": "layout"}"#).await {
        Outcome::Error(e) => assert!(e.contains("needs a dataset"), "{e}"),
        Outcome::Response(r) => panic!("a layout task without a dataset answered {}", String::from_utf8_lossy(&r)),
    }
}
